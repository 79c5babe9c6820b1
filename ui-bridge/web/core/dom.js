// DOM construction. Catalog data reaches the page only as text nodes and
// attribute values, never as HTML, so an entity cannot inject markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

// h('a', {href: '/', class: 'x', on: {click}}, 'text', child, [more]).
// Attributes whose value is null, undefined or false are left out; true
// gives an empty attribute. Children: strings become text nodes, arrays
// are flattened, null/undefined/false are skipped.
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// The same for SVG elements.
export function svg(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'on') {
      for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    } else if (key === 'style') {
      // Through the CSSOM: the Content-Security-Policy refuses style attributes.
      el.style.cssText = String(value);
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// Replaces el's children. When keyboard focus was inside el, it moves to
// the equivalent element of the new content (same id, href or test id), so
// live re-renders do not throw a keyboard user back to the top.
export function swap(el, ...children) {
  const key = el.contains(document.activeElement) ? focusKey(document.activeElement) : null;
  el.replaceChildren();
  append(el, children);
  if (key) {
    const same = [...el.querySelectorAll('[id], [href], [data-testid]')].find((n) => focusKey(n) === key);
    if (same) same.focus({ preventScroll: true });
  }
}

function focusKey(el) {
  if (el.id) return `id:${el.id}`;
  const href = el.getAttribute('href');
  if (href) return `href:${href}`;
  const testid = el.getAttribute('data-testid');
  return testid ? `testid:${testid}:${el.getAttribute('data-entity-ref') || ''}` : null;
}

// A status banner; `role="alert"` for errors so they are announced.
export function banner(kind, ...children) {
  return h('div', { class: `banner ${kind}`, role: kind === 'error' ? 'alert' : null }, ...children);
}

// Unique ids for label/aria wiring within one document.
let counter = 0;
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}
