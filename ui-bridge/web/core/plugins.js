// Plugin loading and mounting. A plugin is an ES module, listed by
// GET /api/plugins, whose default export is {mount(element, context)};
// mount may return a function that unmounts. The context is the one in
// docs/ui-bridge-http.md ("Plugins"), plus `entity` when the plugin is
// mounted as an entity page tab.
//
// Plugins run in the page's own origin, so the proxy restriction below is a
// guard against mistakes, not a security boundary.

import { catalog } from './api.js';
import { h, swap } from './dom.js';

// The catalog client plugins get: Backstage's CatalogClient names.
const pluginCatalog = Object.freeze({
  getEntities: (request) => catalog.getEntities(request),
  queryEntities: (request) => catalog.queryEntities(request),
  getEntityByRef: (ref) => catalog.getEntityByRef(ref),
  getEntitiesByRefs: (refs) => catalog.getEntitiesByRefs(refs),
  getEntityFacets: (request) => catalog.getEntityFacets(request),
});

// A proxy path must start with "/" and have no dot segments, plain or
// percent-encoded: the URL parser would resolve them out of the endpoint's
// prefix (/api/proxy/ci/../catalog -> /api/proxy/catalog).
export function isProxyPath(path) {
  return path.startsWith('/') && !/(^|\/)(\.|%2e){1,2}(\/|$|\?|#)/i.test(path);
}

// fetch() through /api/proxy/{endpoint}{path}, for the endpoints the
// plugin's manifest lists; rejects others and unsafe paths.
function pluginProxy(plugin) {
  const allowed = new Set(plugin.proxyEndpoints || []);
  return Object.freeze({
    fetch(endpoint, path = '/', init = {}) {
      if (!allowed.has(endpoint)) {
        return Promise.reject(new Error(`plugin ${plugin.id} may not use proxy endpoint "${endpoint}" (its manifest lists: ${[...allowed].join(', ') || 'none'})`));
      }
      const p = String(path);
      if (!isProxyPath(p)) {
        return Promise.reject(new Error(`plugin ${plugin.id}: proxy path must start with "/" and have no dot segments: ${p}`));
      }
      // The bridge asks state-changing requests for X-Catalog-Request (CSRF).
      const headers = new Headers(init.headers);
      headers.set('X-Catalog-Request', '1');
      return fetch(`/api/proxy/${encodeURIComponent(endpoint)}${p}`, { credentials: 'same-origin', ...init, headers });
    },
  });
}

const modules = new Map();

function loadModule(plugin) {
  if (!modules.has(plugin.id)) {
    modules.set(plugin.id, import(plugin.entry).then((m) => {
      if (!m.default || typeof m.default.mount !== 'function') {
        throw new Error('its module has no default export with a mount(element, context) function');
      }
      return m.default;
    }));
    // A failed load can be retried on the next mount.
    modules.get(plugin.id).catch(() => modules.delete(plugin.id));
  }
  return modules.get(plugin.id);
}

// Mounts `plugin` into `root` (the `plugin-root` element). Returns the
// unmount function right away; the module loads asynchronously. A plugin
// that fails to load or to mount shows the error in its own area only.
// `focusId`: the id of the element focused before a remount, refocused if
// the plugin renders one with the same id.
export function mountPlugin(root, plugin, { subPath = '', entity, identity, navigate, focusId }) {
  let unmount = null;
  let gone = false;
  const context = Object.freeze({
    plugin: Object.freeze({ id: plugin.id, title: plugin.title, basePath: `/plugins/${plugin.id}`, subPath }),
    catalog: pluginCatalog,
    proxy: pluginProxy(plugin),
    identity,
    navigate,
    ...(entity ? { entity } : {}),
  });
  swap(root, h('p', { class: 'muted' }, `Loading ${plugin.title}…`));
  root.setAttribute('aria-busy', 'true');

  const fail = (what, err) => {
    swap(root, h('div', { class: 'banner error', role: 'alert', 'data-testid': 'plugin-error' },
      `The plugin “${plugin.title}” ${what}: ${err && err.message ? err.message : err}`));
  };

  loadModule(plugin).then(
    (mod) => {
      if (gone) return;
      root.replaceChildren();
      try {
        const result = mod.mount(root, context);
        if (typeof result === 'function') unmount = result;
      } catch (err) {
        fail('failed to start', err);
      }
      if (focusId) root.querySelector(`#${CSS.escape(focusId)}`)?.focus();
    },
    (err) => {
      if (!gone) fail('could not be loaded', err);
    },
  ).finally(() => root.removeAttribute('aria-busy'));

  return () => {
    gone = true;
    try {
      unmount?.();
    } catch (err) {
      console.error(`plugin ${plugin.id}: unmount failed`, err);
    }
  };
}
