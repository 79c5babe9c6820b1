// Field changes of one entity version (history `changes`:
// [{path, kind: added|removed|changed, oldValue?, newValue?}], path a JSON
// Pointer) as a list. Colour is never the only cue: each change names its
// kind, removed values are <del> with "−", added ones <ins> with "+", and
// hidden text tells screen readers which value is which.

import { h } from '../core/dom.js';

const LONG = 160;

const KIND_LABEL = { added: 'Added', removed: 'Removed', changed: 'Changed' };

export function diffList(changes) {
  return h('ul', { class: 'diff' }, changes.map((c) => h('li', { class: `change change-${c.kind}` },
    h('span', { class: 'change-kind' }, KIND_LABEL[c.kind] || c.kind),
    ' ',
    h('code', { class: 'change-path' }, c.path || '/'),
    ' ',
    c.kind !== 'added' && h('del', {}, h('span', { class: 'visually-hidden' }, 'old value: '), h('span', { class: 'sign', 'aria-hidden': 'true' }, '−'), value(c.oldValue)),
    c.kind === 'changed' && h('span', { class: 'arrow', 'aria-hidden': 'true' }, ' → '),
    c.kind !== 'removed' && h('ins', {}, h('span', { class: 'visually-hidden' }, 'new value: '), h('span', { class: 'sign', 'aria-hidden': 'true' }, '+'), value(c.newValue)))));
}

// Values as JSON (so "" and "1" differ from nothing and 1); long ones fold.
function value(v) {
  const text = v === undefined ? '(none)' : JSON.stringify(v, null, typeof v === 'object' && v !== null ? 2 : 0);
  if (text.length <= LONG) return h('code', {}, text);
  return h('details', { class: 'long-value' },
    h('summary', {}, h('code', {}, `${text.slice(0, 60)}…`), ` (${text.length} characters)`),
    h('pre', {}, text));
}
