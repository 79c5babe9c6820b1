// CI builds plugin (third-party): a component's recent builds from an
// external CI server, read through the bridge's proxy endpoint `ci`:
//   GET /api/proxy/ci/api/projects/{slug}/builds
//   -> {project, builds: [{id, number, status: passed|failed|running,
//       branch, commit, startedAt, durationSeconds, url}]}
// The project slug is the annotation ci.example.com/project-slug, else the
// entity's name.
//
// As an entity tab (component pages) it shows context.entity's builds. As a
// page, /plugins/ci-builds/{kind}/{namespace}/{name} shows that entity's,
// and a select of components navigates between them.

const SLUG_ANNOTATION = 'ci.example.com/project-slug';
const STATUS = {
  passed: { label: 'Passed', icon: '✓' },
  failed: { label: 'Failed', icon: '✗' },
  running: { label: 'Running', icon: '●' },
};

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'on') for (const [type, fn] of Object.entries(v)) node.addEventListener(type, fn);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

const refOf = (e) => `${e.kind}:${e.metadata.namespace || 'default'}/${e.metadata.name}`.toLowerCase();

export function projectSlug(entity) {
  return entity.metadata?.annotations?.[SLUG_ANNOTATION] || entity.metadata.name;
}

// What went wrong, in words a user can act on.
export function describeFailure(status, slug) {
  if (status === 404) return `The CI server has no project “${slug}” (404).`;
  if (status >= 500) return `CI server unavailable (${status}).`;
  return `The CI server refused the request (${status}).`;
}

export function formatDuration(seconds) {
  if (typeof seconds !== 'number' || !(seconds >= 0)) return '';
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function safeHref(url) {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

function buildRow(b) {
  const status = STATUS[b.status] || { label: String(b.status), icon: '?' };
  const href = safeHref(b.url);
  const started = new Date(b.startedAt);
  return h('tr', { 'data-testid': 'ci-build', 'data-status': b.status },
    h('th', { scope: 'row' }, href ? h('a', { href, target: '_blank', rel: 'noopener noreferrer' }, `#${b.number}`) : `#${b.number}`),
    h('td', {}, h('span', { class: `ci-status ci-${b.status}` }, h('span', { 'aria-hidden': 'true' }, `${status.icon} `), status.label)),
    h('td', {}, b.branch || ''),
    h('td', {}, b.commit ? h('code', { title: b.commit }, String(b.commit).slice(0, 7)) : ''),
    h('td', {}, Number.isNaN(started.getTime()) ? '' : h('time', { datetime: started.toISOString() }, dateTime.format(started))),
    h('td', {}, b.status === 'running' ? 'running' : formatDuration(b.durationSeconds)));
}

// Shows the builds of `entity` in `area`; returns a function that cancels.
function showBuilds(area, entity, context) {
  const controller = new AbortController();
  const slug = projectSlug(entity);
  const status = h('p', { role: 'status', class: 'ci-note' });
  const table = h('div', {});
  const reload = h('button', { type: 'button', class: 'button', 'data-testid': 'ci-reload' }, 'Reload');
  const source = entity.metadata?.annotations?.[SLUG_ANNOTATION]
    ? `annotation ${SLUG_ANNOTATION}`
    : `the entity name; set the annotation ${SLUG_ANNOTATION} to use another project`;
  area.replaceChildren(
    h('div', { class: 'ci-head' },
      h('h2', {}, `Builds of ${entity.metadata.title || entity.metadata.name}`), reload),
    h('p', { class: 'ci-note' }, 'CI project ', h('code', {}, slug), ` (from ${source}).`),
    status, table);

  const load = async () => {
    reload.disabled = true;
    status.textContent = 'Loading builds…';
    try {
      const res = await context.proxy.fetch('ci', `/api/projects/${encodeURIComponent(slug)}/builds`, { headers: { Accept: 'application/json' }, signal: controller.signal });
      if (!res.ok) throw new Error(describeFailure(res.status, slug));
      let data;
      try {
        data = await res.json();
      } catch {
        throw new Error('The CI server sent a response that is not JSON.');
      }
      const builds = Array.isArray(data.builds) ? data.builds : [];
      status.textContent = builds.length ? `${builds.length} recent ${builds.length === 1 ? 'build' : 'builds'} of ${data.project || slug}.` : `No builds of ${data.project || slug} yet.`;
      table.replaceChildren(builds.length ? h('div', { class: 'ci-table-wrap', role: 'region', 'aria-label': 'Builds', tabindex: 0 },
        h('table', { class: 'ci-table', 'data-testid': 'ci-builds-table' },
          h('thead', {}, h('tr', {}, ['Build', 'Status', 'Branch', 'Commit', 'Started', 'Duration'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, builds.map(buildRow)))) : '');
    } catch (err) {
      if (err.name === 'AbortError') return;
      status.textContent = '';
      // fetch() rejects with a TypeError when the network fails.
      const message = err instanceof TypeError ? `CI server unreachable: ${err.message}` : err.message;
      table.replaceChildren(h('p', { class: 'ci-error', role: 'alert', 'data-testid': 'ci-error' }, message));
    } finally {
      reload.disabled = false;
    }
  };
  reload.addEventListener('click', load);
  load();
  return () => controller.abort();
}

// The page's entity from the sub-path /{kind}/{namespace}/{name}.
function requestedRef(subPath) {
  try {
    const parts = subPath.split('/').filter(Boolean).map(decodeURIComponent);
    return parts.length === 3 ? `${parts[0]}:${parts[1]}/${parts[2]}`.toLowerCase() : null;
  } catch {
    return null; // malformed percent-encoding
  }
}

async function mountPage(root, context, state) {
  // Enabled from the start: the shell refocuses it after a choice remounts
  // the plugin, which a disabled control would refuse.
  const select = h('select', { id: 'ci-component', 'data-testid': 'ci-component' }, h('option', { value: '' }, 'Loading components…'));
  const area = h('div', {});
  root.append(h('div', { class: 'ci-picker' }, h('label', { for: 'ci-component' }, 'Component'), select), area);
  const wanted = requestedRef(context.plugin.subPath);

  select.addEventListener('change', () => {
    if (!select.value) return;
    const [kind, rest] = select.value.split(':');
    const [namespace, name] = rest.split('/');
    context.navigate(`${context.plugin.basePath}/${kind}/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
  });

  const [components, entity] = await Promise.all([
    context.catalog.getEntities({ filter: { kind: 'component' }, fields: ['kind', 'metadata.name', 'metadata.namespace', 'metadata.title'] }).catch(() => []),
    wanted ? context.catalog.getEntityByRef(wanted).catch((err) => err) : undefined,
  ]);
  if (state.gone) return;
  components.sort((a, b) => refOf(a).localeCompare(refOf(b)));
  select.replaceChildren(h('option', { value: '' }, 'Choose a component'),
    ...components.map((c) => h('option', { value: refOf(c) }, c.metadata.title ? `${c.metadata.title} (${refOf(c)})` : refOf(c))));
  if (!wanted) {
    area.replaceChildren(h('p', { class: 'ci-note' }, 'Choose a component to see its builds.'));
  } else if (entity instanceof Error) {
    area.replaceChildren(h('p', { class: 'ci-error', role: 'alert' }, `Could not load ${wanted}: ${entity.message}`));
  } else if (!entity) {
    area.replaceChildren(h('p', { class: 'ci-error', role: 'alert' }, `There is no entity ${wanted} in the catalog.`));
  } else {
    select.value = refOf(entity);
    state.cancel = showBuilds(area, entity, context);
  }
}

export default {
  mount(element, context) {
    const state = { gone: false, cancel: null };
    const root = h('div', { class: 'ci-builds', 'data-testid': 'ci-builds' },
      h('link', { rel: 'stylesheet', href: new URL('./style.css', import.meta.url).href }));
    element.append(root);
    if (context.entity) {
      const area = h('div', {});
      root.append(area);
      state.cancel = showBuilds(area, context.entity, context);
    } else {
      mountPage(root, context, state);
    }
    return () => {
      state.gone = true;
      state.cancel?.();
      root.remove();
    };
  },
};
