// Catalog web UI: the entity list at `/` and one page per entity at
// `/catalog/{namespace}/{kind}/{name}`, both read from the catalog REST API.
// Views poll every 2 s while the tab is visible and re-render only when the
// response changed. All data is rendered as text (createElement and
// textContent), never as HTML.

const API = '/api/catalog';
const REFRESH_MS = 2000;
const PAGE_SIZE = 1000;
const MAX_PAGES = 1000;
const MAX_ROWS = 2000;

const main = document.getElementById('main');

// ---------------------------------------------------------------- helpers

// h('a', {href: '/', class: 'x'}, 'text', child, [more]) builds an element.
// Strings become text nodes; null, undefined and false are skipped.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'on') for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
    else if (key in el && !key.includes('-')) el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const enc = encodeURIComponent;
const str = (v) => (typeof v === 'string' ? v : '');

function entityPath(kind, namespace, name) {
  return `/catalog/${enc(namespace || 'default')}/${enc(kind.toLowerCase())}/${enc(name)}`;
}

// Parses `[kind:][namespace/]name` the way the catalog does.
function parseRef(ref, defaultKind, defaultNamespace) {
  if (typeof ref !== 'string' || ref === '') return null;
  let kind = defaultKind;
  let namespace = defaultNamespace || 'default';
  let rest = ref;
  const colon = rest.indexOf(':');
  const slash = rest.indexOf('/');
  if (colon > 0 && (slash < 0 || colon < slash)) {
    kind = rest.slice(0, colon);
    rest = rest.slice(colon + 1);
  }
  const s = rest.indexOf('/');
  if (s > 0) {
    namespace = rest.slice(0, s);
    rest = rest.slice(s + 1);
  }
  if (!kind || !rest) return null;
  return { kind, namespace, name: rest };
}

// `component:default/foo` -> `component:foo`; other namespaces are kept.
function humanRef(r) {
  return r.namespace.toLowerCase() === 'default' ? `${r.kind}:${r.name}` : `${r.kind}:${r.namespace}/${r.name}`;
}

function refLink(ref, defaultKind, defaultNamespace) {
  const r = parseRef(ref, defaultKind, defaultNamespace);
  if (!r) return String(ref ?? '');
  return h('a', { href: entityPath(r.kind, r.namespace, r.name) }, ref);
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function get(url) {
  const res = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  const text = await res.text();
  if (!res.ok) {
    let message = res.statusText || 'request failed';
    try {
      message = JSON.parse(text).error.message || message;
    } catch {
      // not a JSON error body
    }
    throw new HttpError(res.status, `${res.status}: ${message}`);
  }
  return { res, text };
}

// The `rel="next"` target of a Link header, as a same-origin path, or null.
function nextLink(header) {
  const m = /<([^>]*)>\s*;\s*rel="?next"?/i.exec(header || '');
  if (!m) return null;
  let target = m[1];
  if (target.startsWith('/entities')) target = API + target;
  const url = new URL(target, location.href);
  return url.origin === location.origin ? url.pathname + url.search : null;
}

// Fetches every entity, following the pagination links. Returns the raw
// page texts (for change detection) and the parsed entities.
async function fetchAllEntities() {
  let url = `${API}/entities?limit=${PAGE_SIZE}`;
  const seen = new Set();
  const texts = [];
  const entities = [];
  while (url && !seen.has(url) && texts.length < MAX_PAGES) {
    seen.add(url);
    const { res, text } = await get(url);
    texts.push(text);
    const page = JSON.parse(text);
    if (!Array.isArray(page)) throw new Error('unexpected response from the catalog');
    entities.push(...page);
    url = nextLink(res.headers.get('Link'));
  }
  const byRef = new Map();
  for (const e of entities) byRef.set(refKey(e), e);
  return { text: texts.join('\n'), entities: [...byRef.values()] };
}

function refKey(e) {
  const m = e.metadata || {};
  return `${str(e.kind)}:${str(m.namespace) || 'default'}/${str(m.name)}`.toLowerCase();
}

// Replaces el's children, keeping keyboard focus on an equivalent link or
// control when the focused element is inside el.
function swap(el, ...nodes) {
  const active = document.activeElement;
  const href = el.contains(active) && active.getAttribute ? active.getAttribute('href') : null;
  el.replaceChildren(...nodes.flat().filter(Boolean));
  if (href) {
    const same = [...el.querySelectorAll('a[href]')].find((a) => a.getAttribute('href') === href);
    if (same) same.focus();
  }
}

// ---------------------------------------------------------------- polling

// Runs load() now and then every REFRESH_MS while the tab is visible. A new
// view (navigation) stops the previous one's loop.
let generation = 0;
let resume = null;

function poll(load) {
  const id = ++generation;
  let timer = 0;
  let busy = false;
  const alive = () => id === generation;
  const tick = async () => {
    clearTimeout(timer);
    if (!alive() || busy) return;
    busy = true;
    try {
      await load(alive);
    } finally {
      busy = false;
    }
    if (alive() && document.visibilityState === 'visible') timer = setTimeout(tick, REFRESH_MS);
  };
  resume = tick;
  tick();
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && resume) resume();
});

function errorBanner(message) {
  return h('p', { class: 'banner error', role: 'alert' }, message);
}

// ---------------------------------------------------------------- list page

function catalogPage() {
  const params = new URLSearchParams(location.search);
  const state = {
    kind: (params.get('kind') || '').toLowerCase(),
    query: params.get('q') || '',
    entities: null,
  };
  document.title = 'Catalog';

  const kindSelect = h('select', { id: 'kind-filter', name: 'kind' });
  const search = h('input', {
    id: 'name-filter', name: 'q', type: 'search', value: state.query,
    placeholder: 'Filter by name', autocomplete: 'off',
  });
  const count = h('p', { class: 'count', 'aria-live': 'polite' });
  const banner = h('div', { class: 'banner-slot' });
  const tbody = h('tbody');
  const table = h('table', { class: 'entities', 'data-testid': 'entity-table' },
    h('caption', { class: 'visually-hidden' }, 'Entities in the catalog'),
    h('thead', {}, h('tr', {}, ['Name', 'Kind', 'Type', 'Owner', 'Description'].map((c) => h('th', { scope: 'col' }, c)))),
    tbody);
  const wrap = h('div', { class: 'table-wrap', role: 'region', 'aria-label': 'Entities', tabindex: 0 }, table);
  const empty = h('p', { class: 'empty', hidden: true });

  const syncUrl = () => {
    const p = new URLSearchParams();
    if (state.kind) p.set('kind', state.kind);
    if (state.query) p.set('q', state.query);
    const qs = p.toString();
    history.replaceState(null, '', qs ? `/?${qs}` : '/');
  };
  kindSelect.addEventListener('change', () => {
    state.kind = kindSelect.value;
    syncUrl();
    render();
  });
  search.addEventListener('input', () => {
    state.query = search.value;
    syncUrl();
    render();
  });

  swap(main,
    h('h1', { tabindex: -1 }, 'Entities'),
    h('form', { class: 'filters', role: 'search', on: { submit: (e) => e.preventDefault() } },
      h('div', { class: 'field' }, h('label', { for: 'kind-filter' }, 'Kind'), kindSelect),
      h('div', { class: 'field' }, h('label', { for: 'name-filter' }, 'Name'), search)),
    banner, count, wrap, empty);
  main.setAttribute('aria-busy', 'true');
  count.textContent = 'Loading…';

  function renderKinds() {
    const kinds = new Map();
    for (const e of state.entities) kinds.set(str(e.kind).toLowerCase(), str(e.kind));
    if (state.kind && !kinds.has(state.kind)) kinds.set(state.kind, state.kind);
    const options = [h('option', { value: '' }, 'All kinds')];
    for (const [value, label] of [...kinds].sort((a, b) => a[0].localeCompare(b[0]))) {
      options.push(h('option', { value }, label));
    }
    const signature = options.map((o) => o.value).join('\n');
    if (kindSelect.dataset.signature !== signature) {
      kindSelect.replaceChildren(...options);
      kindSelect.dataset.signature = signature;
    }
    kindSelect.value = state.kind;
  }

  function row(e) {
    const m = e.metadata || {};
    const spec = e.spec || {};
    const ns = str(m.namespace) || 'default';
    return h('tr', { 'data-testid': 'entity-row' },
      h('th', { scope: 'row' },
        h('a', { href: entityPath(str(e.kind), ns, str(m.name)) }, str(m.name)),
        ns !== 'default' && h('span', { class: 'muted' }, ` (${ns})`)),
      h('td', {}, str(e.kind)),
      h('td', {}, str(spec.type)),
      h('td', {}, spec.owner ? refLink(spec.owner, 'group', ns) : ''),
      h('td', { class: 'description' }, str(m.description)));
  }

  function render() {
    if (!state.entities) return;
    renderKinds();
    const q = state.query.trim().toLowerCase();
    const rows = state.entities.filter((e) => {
      const m = e.metadata || {};
      if (state.kind && str(e.kind).toLowerCase() !== state.kind) return false;
      return !q || str(m.name).toLowerCase().includes(q) || str(m.title).toLowerCase().includes(q);
    });
    const total = state.entities.length;
    const shown = rows.slice(0, MAX_ROWS);
    swap(tbody, shown.map(row));
    count.textContent = rows.length > shown.length
      ? `Showing the first ${shown.length} of ${rows.length} matching entities (${total} in total). Narrow the filter to see more.`
      : `${rows.length} of ${total} ${total === 1 ? 'entity' : 'entities'}`;
    wrap.hidden = rows.length === 0;
    empty.hidden = rows.length > 0;
    empty.textContent = total === 0
      ? 'The catalog is empty. Entities appear here as soon as descriptor files are ingested.'
      : 'No entities match the filter.';
  }

  let lastText = null;
  poll(async (alive) => {
    try {
      const { text, entities } = await fetchAllEntities();
      if (!alive()) return;
      swap(banner);
      main.removeAttribute('aria-busy');
      if (text === lastText) return;
      lastText = text;
      entities.sort((a, b) => refKey(a).localeCompare(refKey(b)));
      state.entities = entities;
      render();
    } catch (err) {
      if (!alive()) return;
      main.removeAttribute('aria-busy');
      if (!state.entities) count.textContent = '';
      swap(banner, errorBanner(`Could not load the catalog (${err.message}). Retrying…`));
    }
  });
}

// ---------------------------------------------------------------- entity page

function section(title, ...content) {
  const id = `section-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), ...content);
}

function definitionList(pairs) {
  const items = pairs.filter(([, v]) => v !== null && v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0));
  if (items.length === 0) return null;
  return h('dl', { class: 'about' }, items.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))));
}

function linkItem(link) {
  const url = str(link && link.url);
  const label = str(link && link.title) || url;
  let safe = false;
  try {
    const u = new URL(url);
    safe = u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    // not a URL
  }
  return h('li', {}, safe ? h('a', { href: url, rel: 'noopener', target: '_blank' }, label) : `${label}${label !== url ? ` (${url})` : ''}`);
}

function entityView(e) {
  const m = e.metadata || {};
  const spec = e.spec || {};
  const ns = str(m.namespace) || 'default';
  const kind = str(e.kind);
  const profile = spec.profile && typeof spec.profile === 'object' ? spec.profile : {};
  const tags = Array.isArray(m.tags) ? m.tags : [];
  const links = Array.isArray(m.links) ? m.links : [];
  const list = (xs, defKind) => (Array.isArray(xs) && xs.length
    ? h('ul', { class: 'inline' }, xs.map((x) => h('li', {}, refLink(x, defKind, ns))))
    : null);

  const about = definitionList([
    ['Owner', spec.owner ? refLink(spec.owner, 'group', ns) : null],
    ['System', spec.system ? refLink(spec.system, 'system', ns) : null],
    ['Domain', spec.domain ? refLink(spec.domain, 'domain', ns) : null],
    ['Parent', spec.parent ? refLink(spec.parent, 'group', ns) : null],
    ['Type', str(spec.type)],
    ['Lifecycle', str(spec.lifecycle)],
    ['Display name', str(profile.displayName)],
    ['Email', str(profile.email)],
    ['Member of', list(spec.memberOf, 'group')],
    ['Tags', tags.length ? h('ul', { class: 'tags' }, tags.map((t) => h('li', {}, String(t)))) : null],
    ['Links', links.length ? h('ul', { class: 'links' }, links.map(linkItem)) : null],
  ]);

  const groups = new Map();
  for (const rel of Array.isArray(e.relations) ? e.relations : []) {
    if (!rel || typeof rel.type !== 'string') continue;
    if (!groups.has(rel.type)) groups.set(rel.type, []);
    groups.get(rel.type).push(str(rel.targetRef));
  }
  const relations = [...groups].sort((a, b) => a[0].localeCompare(b[0])).map(([type, refs]) =>
    h('div', { class: 'relation-group' },
      h('h3', {}, type),
      h('ul', {}, [...new Set(refs)].sort().map((ref) => {
        const r = parseRef(ref, null, 'default');
        return h('li', {}, r ? h('a', { href: entityPath(r.kind, r.namespace, r.name) }, humanRef(r)) : ref);
      }))));

  const kv = (obj) => {
    const entries = obj && typeof obj === 'object' ? Object.entries(obj).sort((a, b) => a[0].localeCompare(b[0])) : [];
    return entries.length
      ? h('dl', { class: 'kv' }, entries.map(([k, v]) => h('div', {}, h('dt', {}, h('code', {}, k)), h('dd', {}, h('code', {}, String(v))))))
      : null;
  };
  const labels = kv(m.labels);
  const annotations = kv(m.annotations);

  return [
    h('nav', { 'aria-label': 'Breadcrumb', class: 'breadcrumb' },
      h('ol', {},
        h('li', {}, h('a', { href: '/' }, 'Entities')),
        h('li', {}, h('a', { href: `/?kind=${enc(kind.toLowerCase())}` }, kind)),
        h('li', { 'aria-current': 'page' }, str(m.name)))),
    h('h1', { tabindex: -1, 'data-testid': 'entity-title' }, str(m.title) || str(m.name)),
    h('p', { class: 'subtitle' }, `${kind} · namespace ${ns}`, m.title ? ` · ${str(m.name)}` : ''),
    m.description ? h('p', { class: 'description' }, str(m.description)) : null,
    section('About', about || h('p', { class: 'muted' }, 'Nothing more is known about this entity.')),
    section('Relations', relations.length ? relations : h('p', { class: 'muted' }, 'No relations.')),
    labels && section('Labels', labels),
    annotations && section('Annotations', annotations),
    typeof spec.definition === 'string' && h('details', { class: 'raw', 'data-key': 'definition' },
      h('summary', {}, 'API definition'), h('pre', {}, h('code', {}, spec.definition))),
    h('details', { class: 'raw', 'data-key': 'raw' },
      h('summary', {}, 'Raw entity (JSON)'), h('pre', {}, h('code', {}, JSON.stringify(e, null, 2)))),
  ];
}

function notFoundView(message) {
  return [
    h('h1', { tabindex: -1, 'data-testid': 'entity-title' }, 'Entity not found'),
    message && h('p', {}, message),
    h('p', {}, h('a', { href: '/' }, 'Back to the catalog')),
  ];
}

function entityPage(namespace, kind, name) {
  const url = `${API}/entities/by-name/${enc(kind)}/${enc(namespace)}/${enc(name)}`;
  const banner = h('div', { class: 'banner-slot' });
  const body = h('div', { class: 'entity' });
  swap(main, banner, body);
  main.setAttribute('aria-busy', 'true');
  document.title = `${name} · Catalog`;

  let lastText = null;
  let first = true;
  const show = (text, nodes, title) => {
    main.removeAttribute('aria-busy');
    swap(banner);
    if (text === lastText) return;
    lastText = text;
    const open = new Set([...body.querySelectorAll('details[open]')].map((d) => d.dataset.key));
    swap(body, nodes);
    for (const d of body.querySelectorAll('details')) d.open = open.has(d.dataset.key);
    document.title = `${title} · Catalog`;
    if (first) focusHeading();
    first = false;
  };

  poll(async (alive) => {
    try {
      const { text } = await get(url);
      if (!alive()) return;
      const entity = JSON.parse(text);
      show(text, entityView(entity), str(entity.metadata && entity.metadata.title) || str(entity.metadata && entity.metadata.name));
    } catch (err) {
      if (!alive()) return;
      if (err instanceof HttpError && err.status === 404) {
        show('404', notFoundView(`There is no ${kind} named “${name}” in namespace “${namespace}”.`), 'Entity not found');
      } else {
        main.removeAttribute('aria-busy');
        swap(banner, errorBanner(`Could not load the entity (${err.message}). Retrying…`));
      }
    }
  });
}

// ---------------------------------------------------------------- routing

let navigated = false;

function focusHeading() {
  if (!navigated) return;
  const h1 = main.querySelector('h1');
  (h1 || main).focus({ preventScroll: true });
}

function route() {
  const m = /^\/catalog\/([^/]+)\/([^/]+)\/([^/]+)\/?$/.exec(location.pathname);
  if (m) {
    let parts;
    try {
      parts = m.slice(1).map(decodeURIComponent);
    } catch {
      parts = null;
    }
    if (parts) return entityPage(...parts);
  } else if (location.pathname === '/' || location.pathname === '/index.html') {
    catalogPage();
    focusHeading();
    return;
  }
  generation++;
  document.title = 'Not found · Catalog';
  main.removeAttribute('aria-busy');
  swap(main, notFoundView('This page does not exist.'));
  focusHeading();
}

// Same-origin page links navigate without reloading.
document.addEventListener('click', (ev) => {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const a = ev.target instanceof Element ? ev.target.closest('a[href]') : null;
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/') || url.pathname.startsWith('/static/')) return;
  ev.preventDefault();
  if (url.pathname + url.search !== location.pathname + location.search) history.pushState(null, '', url.pathname + url.search);
  navigated = true;
  window.scrollTo(0, 0);
  route();
});

window.addEventListener('popstate', () => {
  navigated = true;
  route();
});

route();
