// The catalog table at / and /catalog: filters from entity facets, a
// full-text term, sortable columns and cursor paging over
// GET /api/catalog/entities/by-query. The URL holds the whole state (see
// catalog-state.js); controls change the URL and the page re-reads it, so
// back/forward and reload show the same view. Live changes matching the
// filters re-fetch the current page.

import { catalog } from '../core/api.js';
import { banner, h, swap } from '../core/dom.js';
import { liveIndicator, watchChanges } from '../core/live.js';
import { entityPath, entityRefOf, refLink } from '../core/refs.js';
import {
  FACETS, PAGE_SIZES, SORT_FIELDS, entitiesRequest, facetRequests, filterString, isFiltered, readState, withChange, writeState,
} from './catalog-state.js';

const TEXT_DEBOUNCE_MS = 300;
const LIVE_DEBOUNCE_MS = 400;

const COLUMNS = [
  { id: 'name', label: 'Name' },
  { id: 'kind', label: 'Kind' },
  { id: 'type', label: 'Type' },
  { id: 'owner', label: 'Owner' },
  { id: 'lifecycle', label: 'Lifecycle' },
  { id: 'tags', label: 'Tags' },
  { id: 'description', label: 'Description' },
];

export function mount(outlet, { url, app }) {
  document.title = 'Catalog · Software Catalog';
  let state = readState(url.searchParams);
  let controller = null;
  let closeLive = null;
  let liveFilter = null;
  let liveTimer = 0;
  let textTimer = 0;
  let notice = null; // shown once the next load succeeds

  const go = (next, replace = false) => app.navigate(`/catalog${writeState(next)}`, { replace });

  // ---- controls
  const text = h('input', {
    id: 'filter-text', type: 'search', value: state.q, autocomplete: 'off', 'data-testid': 'filter-text',
    on: {
      input: () => {
        clearTimeout(textTimer);
        textTimer = setTimeout(() => go(withChange(state, { q: text.value.trim() }), true), TEXT_DEBOUNCE_MS);
      },
    },
  });
  const controls = new Map(); // param -> {el, render(values, counts)}
  for (const f of FACETS) controls.set(f.param, f.multiple ? checkboxGroup(f) : facetSelect(f));
  const clear = h('button', { type: 'button', class: 'button', 'data-testid': 'filter-clear', on: { click: () => go(withChange(state, { q: '', filters: Object.fromEntries(FACETS.map((f) => [f.param, []])) })) } }, 'Clear filters');

  function facetSelect(f) {
    const id = `filter-${f.param}`;
    const select = h('select', { id, 'data-testid': f.testid, on: { change: () => go(withChange(state, { filters: { ...state.filters, [f.param]: select.value ? [select.value] : [] } })) } });
    return {
      el: h('div', { class: 'field' }, h('label', { for: id }, f.label), select),
      render(values) {
        const chosen = state.filters[f.param][0] || '';
        const options = [h('option', { value: '' }, `All ${f.label.toLowerCase()}s`)];
        for (const { value, count } of withChosen(values, state.filters[f.param])) {
          options.push(h('option', { value, selected: sameValue(value, chosen) }, `${value} (${count})`));
        }
        select.replaceChildren(...options);
        select.value = options.find((o) => o.hasAttribute('selected'))?.value ?? '';
      },
    };
  }

  function checkboxGroup(f) {
    const box = h('div', { class: 'checkboxes' });
    const toggle = (value, on) => {
      const rest = state.filters[f.param].filter((v) => !sameValue(v, value));
      go(withChange(state, { filters: { ...state.filters, [f.param]: on ? [...rest, value] : rest } }));
    };
    return {
      el: h('fieldset', { class: 'field', 'data-testid': f.testid }, h('legend', {}, `${f.label} (any of)`), box),
      render(values) {
        const items = withChosen(values, state.filters[f.param]).map(({ value, count }) => {
          const id = `filter-${f.param}-${value.replace(/\s/g, '_')}`;
          const checked = state.filters[f.param].some((v) => sameValue(v, value));
          return h('div', { class: 'checkbox' },
            h('input', { type: 'checkbox', id, checked, 'data-value': value, on: { change: (ev) => toggle(value, ev.target.checked) } }),
            h('label', { for: id }, value, h('span', { class: 'count' }, ` (${count})`)));
        });
        swap(box, items.length ? items : h('p', { class: 'muted' }, 'None'));
      },
    };
  }

  const pageSize = h('select', { id: 'page-size', 'data-testid': 'page-size', on: { change: () => go(withChange(state, { limit: Number(pageSize.value) })) } },
    PAGE_SIZES.map((n) => h('option', { value: n, selected: n === state.limit }, String(n))));

  // ---- results
  const total = h('p', { class: 'total', 'data-testid': 'catalog-total', role: 'status' });
  const live = liveIndicator();
  const status = h('div', { 'data-testid': 'catalog-status' });
  const headRow = h('tr');
  const tbody = h('tbody');
  const table = h('table', { class: 'data-table', 'data-testid': 'catalog-table' },
    h('caption', { class: 'visually-hidden' }, 'Entities in the catalog; column headers with buttons sort the table'),
    h('thead', {}, headRow), tbody);
  const tableWrap = h('div', { class: 'table-wrap', role: 'region', 'aria-label': 'Entities', tabindex: 0 }, table);
  const empty = h('div', { class: 'empty', hidden: true });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });

  outlet.append(
    h('h1', { tabindex: -1 }, 'Catalog'),
    h('div', { class: 'catalog-layout' },
      h('form', { class: 'filters', 'data-testid': 'catalog-filters', 'aria-label': 'Filters', on: { submit: (ev) => ev.preventDefault() } },
        h('div', { class: 'field' }, h('label', { for: 'filter-text' }, 'Search names, titles and descriptions'), text),
        [...controls.values()].map((c) => c.el),
        clear),
      h('section', { class: 'results', 'aria-label': 'Results' },
        h('div', { class: 'toolbar' }, total, live.el,
          h('div', { class: 'field inline' }, h('label', { for: 'page-size' }, 'Rows per page'), pageSize)),
        status, tableWrap, empty, pager)),
  );

  function renderHead() {
    swap(headRow, COLUMNS.map((c) => {
      if (!SORT_FIELDS[c.id]) return h('th', { scope: 'col' }, c.label);
      const sorted = state.sort.column === c.id;
      const dir = sorted ? state.sort.dir : null;
      const next = sorted && dir === 'asc' ? 'desc' : 'asc';
      return h('th', { scope: 'col', 'aria-sort': sorted ? (dir === 'asc' ? 'ascending' : 'descending') : null },
        h('button', { type: 'button', class: 'sort', id: `sort-${c.id}`, 'data-testid': `sort-${c.id}`, on: { click: () => go(withChange(state, { sort: { column: c.id, dir: next } })) } },
          c.label, h('span', { class: 'sort-icon', 'aria-hidden': 'true' }, sorted ? (dir === 'asc' ? ' ▲' : ' ▼') : ' ↕')));
    }));
  }

  function row(e) {
    const m = e.metadata || {};
    const spec = e.spec || {};
    const ns = m.namespace || 'default';
    const tags = Array.isArray(m.tags) ? m.tags : [];
    return h('tr', { 'data-testid': 'catalog-row', 'data-entity-ref': entityRefOf(e) },
      h('th', { scope: 'row' },
        h('a', { href: entityPath({ kind: e.kind, namespace: ns, name: m.name }) }, m.name),
        ns !== 'default' && h('span', { class: 'muted' }, ` (${ns})`),
        m.title && m.title !== m.name && h('div', { class: 'muted small' }, m.title)),
      h('td', {}, e.kind),
      h('td', {}, spec.type || ''),
      h('td', {}, spec.owner ? refLink(spec.owner, { defaultKind: 'group', defaultNamespace: ns }) : ''),
      h('td', {}, spec.lifecycle || ''),
      h('td', {}, tags.length ? h('ul', { class: 'tags' }, tags.map((t) => h('li', {}, h('a', { href: `/catalog?tag=${encodeURIComponent(t)}` }, t)))) : ''),
      h('td', { class: 'description' }, m.description || ''));
  }

  function renderPager(pageInfo, count, totalItems) {
    const link = (cursor, page, label, testid, rel) => (cursor
      ? h('a', { class: 'button', rel, href: `/catalog${writeState({ ...state, cursor, page })}`, 'data-testid': testid }, label)
      : h('span', { class: 'button disabled', 'aria-disabled': 'true', 'data-testid': testid }, label));
    const from = (state.page - 1) * state.limit + 1;
    swap(pager,
      link(pageInfo.prevCursor, state.page - 1, '← Previous', 'page-prev', 'prev'),
      h('span', { class: 'muted' }, count ? `${from}–${from + count - 1} of ${totalItems}` : ''),
      link(pageInfo.nextCursor, state.page + 1, 'Next →', 'page-next', 'next'));
  }

  async function load({ quiet = false } = {}) {
    controller?.abort();
    controller = new AbortController();
    const { signal } = controller;
    if (!quiet) table.setAttribute('aria-busy', 'true');
    try {
      const [page, facetAnswers] = await Promise.all([
        catalog.queryEntities(entitiesRequest(state), signal),
        Promise.all(facetRequests(state).map((r) => catalog.getEntityFacets(r, signal))),
      ]);
      const facets = Object.assign({}, ...facetAnswers.map((a) => a.facets));
      for (const f of FACETS) controls.get(f.param).render(facets[f.field] || []);
      const items = page.items || [];
      const totalItems = page.totalItems ?? items.length;
      swap(tbody, items.map(row));
      total.dataset.total = String(totalItems);
      total.textContent = `${totalItems} ${totalItems === 1 ? 'entity' : 'entities'}`;
      tableWrap.hidden = items.length === 0;
      empty.hidden = items.length > 0;
      swap(empty, isFiltered(state)
        ? ['No entities match these filters. ', h('a', { href: '/catalog' }, 'Show all entities'), '.']
        : 'The catalog is empty. Entities appear here as soon as descriptor files are ingested.');
      renderPager(page.pageInfo || {}, items.length, totalItems);
      if (!quiet) swap(status, notice && banner('info', notice));
      notice = null;
    } catch (err) {
      if (err.name === 'AbortError') return;
      if (state.cursor && err.status === 400) {
        // A page link from an older session: cursors are signed and expire.
        notice = 'That page link has expired; showing the first page.';
        go(withChange(state, {}), true);
        return;
      }
      swap(status, banner('error', `Could not load the catalog: ${err.message}. `,
        h('button', { type: 'button', class: 'button', on: { click: () => load() } }, 'Retry')));
    } finally {
      if (!signal.aborted) table.removeAttribute('aria-busy');
    }
  }

  // One stream per facet filter; the full-text term is not a filter the
  // event stream knows, so text-filtered views re-fetch on any match.
  function watch() {
    const filter = filterString(state);
    if (filter === liveFilter && closeLive) return;
    closeLive?.();
    liveFilter = filter;
    closeLive = watchChanges(filter, () => {
      clearTimeout(liveTimer);
      liveTimer = setTimeout(() => load({ quiet: true }), LIVE_DEBOUNCE_MS);
    }, live);
  }

  function show() {
    if (document.activeElement !== text) text.value = state.q;
    pageSize.value = String(state.limit);
    clear.hidden = !isFiltered(state);
    renderHead();
    watch();
    load();
  }

  show();
  return {
    update({ url: next }) {
      state = readState(next.searchParams);
      show();
    },
    unmount() {
      clearTimeout(textTimer);
      clearTimeout(liveTimer);
      controller?.abort();
      closeLive?.();
    },
  };
}

// Filter values match case-insensitively (Backstage semantics).
function sameValue(a, b) {
  return a.toLowerCase() === b.toLowerCase();
}

// Facet values sorted by name, plus chosen values that have no matches
// (count 0) so the control still shows what is selected.
function withChosen(values, chosen) {
  const list = [...values];
  for (const c of chosen) if (!list.some((v) => sameValue(v.value, c))) list.push({ value: c, count: 0 });
  return list.sort((a, b) => a.value.localeCompare(b.value, undefined, { sensitivity: 'base' }));
}
