import { dateTime, formatRelative } from '../core/format.js';

// <relative-time datetime="ISO">: text like "just now" that keeps itself
// current while it is in the document; the full time is in its title.
class RelativeTime extends HTMLElement {
  connectedCallback() {
    this.update();
    this.timer = setInterval(() => this.update(), 30_000);
  }

  disconnectedCallback() {
    clearInterval(this.timer);
  }

  update() {
    const d = new Date(this.getAttribute('datetime'));
    if (Number.isNaN(d.getTime())) return;
    this.textContent = formatRelative(d);
    this.title = dateTime.format(d);
  }
}

if (!customElements.get('relative-time')) customElements.define('relative-time', RelativeTime);
