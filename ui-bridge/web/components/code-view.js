// Source text with line numbers. Numbers come from a CSS counter on each
// line (see .code in style.css), so copying the text copies no numbers.

import { h } from '../core/dom.js';

export function codeView(text, label) {
  const lines = text.replace(/\r\n?/g, '\n').replace(/\n$/, '').split('\n');
  return h('pre', { class: 'code', tabindex: 0, role: 'region', 'aria-label': label },
    h('code', {}, lines.map((line) => [h('span', { class: 'line' }, line), '\n'])));
}
