// The entity page at /catalog/{namespace}/{kind}/{name}: a header with the
// Refresh action and live state, and tabs (Overview, Relations, API for API
// entities, History, then a tab per entity-scoped plugin whose manifest's
// entityTab.kinds lists this kind). The selected tab is `?tab=` in the URL.
//
// Live: a change stream filtered to this entity re-renders it in place; a
// deletion leaves the last state on screen under a banner.

import { catalog } from '../core/api.js';
import { banner, h, swap } from '../core/dom.js';
import { liveIndicator, watchChanges } from '../core/live.js';
import { mountPlugin } from '../core/plugins.js';
import { stringifyRef } from '../core/refs.js';
import { createTabs } from '../components/tabs.js';
import '../components/relative-time.js';
import { renderApiDefinition } from './entity/api-definition.js';
import { renderHistory } from './entity/history.js';
import { renderOverview } from './entity/overview.js';
import { renderRelations } from './entity/relations.js';

export function mount(outlet, { params, url, app }) {
  const ref = stringifyRef(params);
  const controller = new AbortController();
  let entity = null;
  let tabs = null;
  let closeLive = null;
  const panels = new Map(); // tab id -> {label, render(el, entity) -> cleanup?, cleanup, stale}
  let wantedTab = url.searchParams.get('tab') || 'overview';

  document.title = `${params.name} · Software Catalog`;
  const title = h('h1', { tabindex: -1, 'data-testid': 'entity-title' }, params.name);
  const subtitle = h('p', { class: 'subtitle' });
  const notices = h('div', { class: 'notices' });
  const updated = h('p', { class: 'updated-note', 'data-testid': 'entity-updated', hidden: true });
  const refreshStatus = h('span', { class: 'refresh-status', role: 'status', 'data-testid': 'refresh-status' });
  const refreshButton = h('button', { type: 'button', class: 'button', 'data-testid': 'refresh-button', disabled: true, on: { click: refresh } }, 'Refresh');
  const live = liveIndicator();
  const body = h('div', { class: 'entity-body' }, h('p', { class: 'muted' }, 'Loading…'));

  outlet.append(
    h('nav', { 'aria-label': 'Breadcrumb', class: 'breadcrumb' },
      h('ol', {},
        h('li', {}, h('a', { href: '/catalog' }, 'Catalog')),
        h('li', {}, h('a', { href: `/catalog?kind=${encodeURIComponent(params.kind)}` }, params.kind)),
        h('li', { 'aria-current': 'page' }, params.name))),
    h('div', { class: 'entity-header' },
      h('div', {}, title, subtitle),
      h('div', { class: 'entity-actions' }, refreshButton, refreshStatus, live.el, updated)),
    notices,
    body,
  );

  async function refresh() {
    refreshButton.disabled = true;
    refreshStatus.textContent = 'Requesting a refresh…';
    try {
      await catalog.refresh(ref);
      refreshStatus.textContent = 'Refresh requested. The page updates by itself when the catalog has re-read the entity.';
    } catch (err) {
      refreshStatus.textContent = `Refresh failed: ${err.message}`;
    } finally {
      refreshButton.disabled = false;
    }
  }

  function renderHeader() {
    const m = entity.metadata || {};
    title.textContent = m.title || m.name;
    document.title = `${m.title || m.name} · Software Catalog`;
    subtitle.textContent = [entity.kind, entity.spec?.type, `namespace ${m.namespace || 'default'}`].filter(Boolean).join(' · ');
  }

  function definePanels(plugins) {
    panels.set('overview', { label: 'Overview', render: renderOverview });
    panels.set('relations', { label: 'Relations', render: renderRelations });
    const kind = params.kind.toLowerCase();
    if (kind === 'api') panels.set('api', { label: 'API', render: renderApiDefinition });
    panels.set('history', { label: 'History', render: renderHistory });
    for (const plugin of plugins) {
      const tab = plugin.entityTab;
      if (!tab || !Array.isArray(tab.kinds) || !tab.kinds.some((k) => String(k).toLowerCase() === kind)) continue;
      panels.set(`plugin-${plugin.id}`, {
        label: tab.title || plugin.title,
        render: (el, e) => {
          const root = el.querySelector('[data-testid="plugin-root"]') || el.appendChild(h('div', { class: 'plugin-root', 'data-testid': 'plugin-root', 'data-plugin-id': plugin.id }));
          return mountPlugin(root, plugin, { entity: e, identity: app.identity.current, navigate: app.navigate });
        },
      });
    }
    for (const panel of panels.values()) panel.stale = true;
  }

  // Renders a tab's panel now if it is selected, else on its next selection.
  function renderPanel(id) {
    const panel = panels.get(id);
    panel.cleanup?.();
    panel.cleanup = panel.render(tabs.panels.get(id), entity) || null;
    panel.stale = false;
  }

  function onSelect(id) {
    if (panels.get(id).stale) renderPanel(id);
    const next = new URL(location.href);
    if (id === 'overview') next.searchParams.delete('tab');
    else next.searchParams.set('tab', id);
    history.replaceState(history.state, '', next.pathname + next.search + next.hash);
  }

  function onChange(change) {
    if (String(change.entityRef).toLowerCase() !== ref) return;
    if (change.type === 'deleted') {
      swap(notices, h('div', { class: 'banner error', role: 'alert', 'data-testid': 'entity-deleted' },
        'This entity was deleted from the catalog just now. What you see is its last known state.'));
      return;
    }
    const apply = (next) => {
      if (!next) return;
      entity = next;
      swap(notices);
      renderHeader();
      for (const [id, panel] of panels) {
        panel.stale = true;
        if (!tabs.panels.get(id).hidden) renderPanel(id);
      }
      // The note is not a live region (its relative time keeps changing);
      // the change itself is announced once.
      swap(updated, 'Updated ', h('relative-time', { datetime: new Date().toISOString() }));
      updated.hidden = false;
      app.announce(`${title.textContent} was updated in the catalog.`);
    };
    if (change.entity) apply(change.entity);
    else catalog.getEntityByRef(ref, controller.signal).then(apply, () => {});
  }

  async function load() {
    try {
      const [found, plugins] = await Promise.all([catalog.getEntityByRef(ref, controller.signal), app.ready.then(() => app.plugins)]);
      if (!found) {
        title.textContent = 'Entity not found';
        document.title = 'Entity not found · Software Catalog';
        swap(body, h('p', { 'data-testid': 'entity-not-found' },
          `There is no ${params.kind} named “${params.name}” in namespace “${params.namespace}”. `,
          h('a', { href: '/catalog' }, 'Back to the catalog'), '.'));
        return;
      }
      entity = found;
      renderHeader();
      definePanels(plugins);
      tabs = createTabs({ label: 'Entity sections', testid: 'entity-tabs', tabs: [...panels].map(([id, p]) => ({ id, label: p.label })), onSelect });
      swap(body, tabs.list, [...tabs.panels.values()]);
      tabs.select(tabs.has(wantedTab) ? wantedTab : 'overview');
      refreshButton.disabled = false;
      closeLive = watchChanges({ kind: params.kind, 'metadata.namespace': params.namespace, 'metadata.name': params.name }, onChange, live);
    } catch (err) {
      if (err.name === 'AbortError') return;
      swap(body, banner('error', `Could not load ${ref}: ${err.message}. `,
        h('button', { type: 'button', class: 'button', on: { click: load } }, 'Retry')));
    }
  }

  load();
  return {
    update({ url: next }) {
      wantedTab = next.searchParams.get('tab') || 'overview';
      if (tabs?.has(wantedTab)) tabs.select(wantedTab);
    },
    unmount() {
      controller.abort();
      closeLive?.();
      for (const panel of panels.values()) panel.cleanup?.();
    },
  };
}
