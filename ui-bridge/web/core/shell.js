// The core UI shell: header (product name, navigation with one link per
// plugin, search box, sign-in state), the client-side router and the main
// area the pages render into. Loaded by index.html as the only entry module;
// pages load on demand.
//
// Test hooks: stable `data-testid` attributes for browser (WebDriver)
// tests. Keep this list in step with the code.
//
// Shell
//   nav-catalog           the Catalog link in the primary navigation
//   nav-plugin            one link per plugin (data-plugin-id)
//   search-input          header search box (combobox)
//   search-results        its listbox; search-result: one option
//                         (data-entity-ref); matches are <mark> elements
//   user-name             signed-in user's name, or "Not signed in"
//                         (data-signed-in="true|false")
//   signin-button, signout-button
//   signin-dialog, signin-user (the ref input), signin-submit
//   announcer             polite live region for global outcomes
// Catalog page (/, /catalog)
//   catalog-filters       the filter form
//   filter-kind, filter-type, filter-owner, filter-namespace   <select>s
//   filter-lifecycle, filter-tags   fieldsets of checkboxes (data-value)
//   filter-text           full-text filter input; filter-clear; page-size
//   catalog-table         the table; catalog-row: one row (data-entity-ref)
//   sort-name, sort-kind, sort-type, sort-owner, sort-lifecycle
//                         sort buttons in the headers (the th has aria-sort)
//   catalog-total         "N entities" (data-total); catalog-status: notes
//   page-prev, page-next  cursor paging links (a span when disabled)
//   live-status           live-update state (data-state=connecting|live|
//                         reconnecting|closed); also on the entity page
// Entity page (/catalog/{namespace}/{kind}/{name})
//   entity-title, entity-not-found
//   entity-tabs           the tablist; tab-overview, tab-relations, tab-api,
//                         tab-history, tab-plugin-{id}
//   about-card, relations-list (links carry data-entity-ref)
//   relations-graph       figure with the <svg>; graph-node: a node link
//                         (data-entity-ref); graph-more: a "+N more" link
//   api-definition, api-operations
//   history-list, history-entry (data-change, data-sequence), history-more
//   refresh-button, refresh-status
//   entity-updated        "Updated just now" note after a live change
//   entity-deleted        banner when a live change deleted the entity
// Plugins (/plugins/{id}/..., and entity tabs)
//   plugin-root           the element a plugin is mounted into
//                         (data-plugin-id); plugin-error: its load failure
//   tech-radar            radar-blip, radar-entry
//   ownership             ownership-group (select), owned-component,
//                         owned-api, owned-system, owned-other, owned-entity,
//                         members, member (all with data-entity-ref)
//   ci-builds             ci-component (select, page only), ci-reload,
//                         ci-builds-table, ci-build (data-status), ci-error

import { listPlugins } from './api.js';
import { h } from './dom.js';
import { Identity } from './identity.js';
import { Router } from './router.js';
import { userMenu } from '../components/user-menu.js';
import '../components/search-box.js';

const decode = decodeURIComponent;

const routes = [
  {
    name: 'catalog',
    pattern: /^\/(?:catalog\/?)?$/,
    load: () => import('../pages/catalog.js'),
  },
  {
    name: 'entity',
    pattern: /^\/catalog\/([^/]+)\/([^/]+)\/([^/]+)\/?$/,
    params: (m) => ({ namespace: decode(m[1]), kind: decode(m[2]), name: decode(m[3]) }),
    key: (p) => `${p.kind}:${p.namespace}/${p.name}`.toLowerCase(),
    load: () => import('../pages/entity.js'),
  },
  {
    name: 'plugin',
    pattern: /^\/plugins\/([^/]+)(\/.*)?$/,
    // subPath stays percent-encoded, as it is in the address bar.
    params: (m) => ({ id: decode(m[1]), subPath: m[2] || '' }),
    key: (p) => p.id,
    load: () => import('../pages/plugin.js'),
  },
];

const announcer = document.getElementById('announcer');
const identity = new Identity();

// What pages get as `app`.
const app = {
  identity,
  // Resolves to the plugin list; [] when it cannot be loaded (the shell
  // works without plugins, and says so in the navigation).
  plugins: listPlugins().catch((err) => {
    document.getElementById('nav-error').textContent = `Plugins unavailable (${err.message})`;
    return [];
  }),
  // Resolves once the identity is known, so plugins mount with it.
  ready: null,
  navigate: (path, options) => router.navigate(path, options),
  announce(message) {
    // Clear first so repeating the same message is announced again.
    announcer.textContent = '';
    setTimeout(() => {
      announcer.textContent = message;
    }, 50);
  },
};
app.ready = Promise.all([identity.load(), app.plugins]);

const router = new Router(document.getElementById('main'), routes, app, { onRender: markCurrent });

// aria-current on the navigation link of the current section.
function markCurrent() {
  const path = location.pathname;
  for (const a of document.querySelectorAll('#primary-nav a')) {
    const href = a.getAttribute('href');
    const current = href === '/catalog' ? path === '/' || path.startsWith('/catalog') : path === href || path.startsWith(`${href}/`);
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function buildNav() {
  const list = document.querySelector('#primary-nav ul');
  for (const plugin of await app.plugins) {
    list.append(h('li', {}, h('a', { href: plugin.route || `/plugins/${plugin.id}`, title: plugin.description, 'data-testid': 'nav-plugin', 'data-plugin-id': plugin.id }, plugin.title)));
  }
  markCurrent();
}

document.addEventListener('app-navigate', (ev) => router.navigate(ev.detail.path));

userMenu(document.getElementById('user-slot'), identity, app.announce);
document.getElementById('search-slot').append(h('catalog-search'));
buildNav();
router.start();

// A sign-in or sign-out after start-up remounts the page: plugins receive
// the identity at mount time.
app.ready.then(() => identity.addEventListener('change', () => router.reload()));
