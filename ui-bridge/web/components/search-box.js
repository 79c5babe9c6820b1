// <catalog-search>: the header's search box. Queries
// GET /api/catalog/search?term= as the user types and shows the results in
// a listbox (WAI-ARIA combobox pattern: focus stays in the input, the active
// option is aria-activedescendant). Matched text is wrapped in <mark>.
// Enter opens the active result, or the catalog table filtered by the term.
// Navigation is requested with a bubbling `app-navigate` event
// ({detail: {path}}) that the shell handles.

import { catalog } from '../core/api.js';
import { h, uid } from '../core/dom.js';
import { displayRef, entityPath, entityRefOf } from '../core/refs.js';

const DEBOUNCE_MS = 200;
const LIMIT = 8;
const NAME_FIELDS = new Set(['metadata.name', 'metadata.title']);

// Text segments [{text, match}] as text nodes and <mark> elements.
function highlighted(segments) {
  return segments.map((s) => (s.match ? h('mark', {}, s.text) : s.text));
}

class CatalogSearch extends HTMLElement {
  connectedCallback() {
    if (this.input) return;
    const listId = uid('search-results');
    const inputId = uid('search-input');
    this.input = h('input', {
      id: inputId,
      type: 'search',
      role: 'combobox',
      autocomplete: 'off',
      spellcheck: 'false',
      placeholder: 'Search the catalog',
      'aria-autocomplete': 'list',
      'aria-expanded': 'false',
      'aria-controls': listId,
      'data-testid': 'search-input',
      on: {
        input: () => this.schedule(),
        keydown: (ev) => this.onKeyDown(ev),
        blur: () => this.close(),
      },
    });
    this.list = h('ul', { id: listId, role: 'listbox', 'aria-label': 'Search results', class: 'search-results', 'data-testid': 'search-results', hidden: true });
    this.status = h('span', { class: 'visually-hidden', role: 'status' });
    this.items = [];
    this.active = -1;
    this.append(
      h('form', { role: 'search', class: 'search-form', on: { submit: (ev) => ev.preventDefault() } },
        h('label', { for: inputId, class: 'visually-hidden' }, 'Search the catalog'),
        this.input, this.list, this.status),
    );
  }

  disconnectedCallback() {
    clearTimeout(this.timer);
    this.controller?.abort();
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.search(this.input.value.trim()), DEBOUNCE_MS);
  }

  async search(term) {
    this.controller?.abort();
    if (!term) {
      this.close();
      return;
    }
    this.controller = new AbortController();
    try {
      const { items } = await catalog.search(term, { limit: LIMIT }, this.controller.signal);
      this.show(term, items);
    } catch (err) {
      if (err.name === 'AbortError') return;
      this.show(term, [], `Search failed: ${err.message}`);
    }
  }

  show(term, items, error) {
    if (document.activeElement !== this.input) return; // The user moved on.
    this.items = items;
    this.active = -1;
    this.input.removeAttribute('aria-activedescendant');
    this.list.replaceChildren(...items.map((item, i) => this.option(item, i)));
    if (!items.length) {
      this.list.append(h('li', { role: 'option', 'aria-disabled': 'true', class: 'search-empty' }, error || `No entities match “${term}”`));
    }
    this.status.textContent = error || `${items.length} ${items.length === 1 ? 'result' : 'results'}`;
    this.list.hidden = false;
    this.input.setAttribute('aria-expanded', 'true');
  }

  option(item, index) {
    const { entity, highlights = [] } = item;
    const m = entity.metadata || {};
    const nameHit = highlights.find((hl) => NAME_FIELDS.has(hl.field));
    const other = highlights.find((hl) => !NAME_FIELDS.has(hl.field));
    const ref = entityRefOf(entity);
    return h('li', {
      id: `${this.list.id}-${index}`,
      role: 'option',
      'aria-selected': 'false',
      class: 'search-option',
      'data-testid': 'search-result',
      'data-entity-ref': ref,
      on: {
        // Keep focus in the input so the click does not close the list first.
        mousedown: (ev) => ev.preventDefault(),
        click: () => this.open(index),
      },
    },
    h('span', { class: 'search-name' }, nameHit ? highlighted(nameHit.segments) : m.title || m.name),
    h('span', { class: 'search-kind' }, displayRef({ kind: entity.kind, namespace: m.namespace, name: m.name })),
    other && h('span', { class: 'search-snippet' }, `${other.field.replace(/^(metadata|spec)\./, '')}: `, highlighted(other.segments)));
  }

  onKeyDown(ev) {
    const open = !this.list.hidden && this.items.length > 0;
    switch (ev.key) {
      case 'ArrowDown':
        if (open) this.setActive((this.active + 1) % this.items.length);
        else this.schedule();
        ev.preventDefault();
        break;
      case 'ArrowUp':
        if (open) this.setActive(this.active <= 0 ? this.items.length - 1 : this.active - 1);
        ev.preventDefault();
        break;
      case 'Enter':
        ev.preventDefault();
        if (open && this.active >= 0) this.open(this.active);
        else if (this.input.value.trim()) this.go(`/catalog?q=${encodeURIComponent(this.input.value.trim())}`);
        break;
      case 'Escape':
        if (!this.list.hidden) {
          ev.preventDefault();
          this.close();
        }
        break;
      default:
    }
  }

  setActive(index) {
    const options = this.list.querySelectorAll('[data-testid="search-result"]');
    options[this.active]?.setAttribute('aria-selected', 'false');
    this.active = index;
    const option = options[index];
    option.setAttribute('aria-selected', 'true');
    option.scrollIntoView({ block: 'nearest' });
    this.input.setAttribute('aria-activedescendant', option.id);
  }

  open(index) {
    const { entity } = this.items[index];
    const m = entity.metadata || {};
    this.go(entityPath({ kind: entity.kind, namespace: m.namespace, name: m.name }));
  }

  go(path) {
    this.close();
    this.dispatchEvent(new CustomEvent('app-navigate', { bubbles: true, detail: { path } }));
  }

  close() {
    clearTimeout(this.timer);
    this.controller?.abort();
    this.list.hidden = true;
    this.active = -1;
    this.input.setAttribute('aria-expanded', 'false');
    this.input.removeAttribute('aria-activedescendant');
  }
}

if (!customElements.get('catalog-search')) customElements.define('catalog-search', CatalogSearch);
