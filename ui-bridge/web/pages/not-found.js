// Any path the router does not know.

import { h } from '../core/dom.js';

export function mount(outlet) {
  document.title = 'Not found · Catalog';
  outlet.append(
    h('h1', { tabindex: -1 }, 'Page not found'),
    h('p', {}, 'There is nothing at this address. ', h('a', { href: '/catalog' }, 'Back to the catalog'), '.'),
  );
}
