// The catalog table's state and its two encodings: the page URL's query
// string (shareable; survives reload and back) and the catalog REST
// requests it stands for. Pure functions, no DOM.
//
// URL: ?kind=component&type=service&owner=team-a&lifecycle=production
//      &lifecycle=experimental&tag=java&namespace=default&q=text
//      &sort=owner,desc&limit=50&cursor=…&page=2
// Repeated parameters of one facet are OR-ed (Backstage: the same key
// repeated inside one filter matches any of its values); different facets
// are AND-ed. `page` is only for display: the cursor is the position.

export const FACETS = [
  { param: 'kind', field: 'kind', label: 'Kind', multiple: false, testid: 'filter-kind' },
  { param: 'type', field: 'spec.type', label: 'Type', multiple: false, testid: 'filter-type' },
  { param: 'owner', field: 'spec.owner', label: 'Owner', multiple: false, testid: 'filter-owner' },
  { param: 'lifecycle', field: 'spec.lifecycle', label: 'Lifecycle', multiple: true, testid: 'filter-lifecycle' },
  { param: 'tag', field: 'metadata.tags', label: 'Tags', multiple: true, testid: 'filter-tags' },
  { param: 'namespace', field: 'metadata.namespace', label: 'Namespace', multiple: false, testid: 'filter-namespace' },
];

// Column -> the field the server orders by.
export const SORT_FIELDS = {
  name: 'metadata.name',
  kind: 'kind',
  type: 'spec.type',
  owner: 'spec.owner',
  lifecycle: 'spec.lifecycle',
};

export const PAGE_SIZES = [20, 50, 100];
const DEFAULT_SORT = { column: 'name', dir: 'asc' };

// Fields the full-text term is matched against, and the fields a table row
// needs (a projection keeps pages small).
const FULL_TEXT_FIELDS = ['metadata.name', 'metadata.title', 'metadata.description', 'spec.profile.displayName'];
const ROW_FIELDS = [
  'kind', 'metadata.name', 'metadata.namespace', 'metadata.title', 'metadata.description',
  'metadata.tags', 'spec.type', 'spec.owner', 'spec.lifecycle',
];

export function readState(params) {
  const filters = {};
  for (const f of FACETS) {
    filters[f.param] = [...new Set(params.getAll(f.param).filter(Boolean))];
    if (!f.multiple) filters[f.param] = filters[f.param].slice(0, 1);
  }
  const [column, dir] = (params.get('sort') || '').split(',');
  const sort = SORT_FIELDS[column] ? { column, dir: dir === 'desc' ? 'desc' : 'asc' } : DEFAULT_SORT;
  const limit = Number(params.get('limit'));
  const page = Number(params.get('page'));
  return {
    filters,
    q: (params.get('q') || '').trim(),
    sort,
    limit: PAGE_SIZES.includes(limit) ? limit : PAGE_SIZES[0],
    cursor: params.get('cursor') || '',
    page: params.get('cursor') && Number.isInteger(page) && page > 1 ? page : 1,
  };
}

// The canonical query string ('' or '?…'); defaults are left out.
export function writeState(state) {
  const p = new URLSearchParams();
  for (const f of FACETS) for (const v of state.filters[f.param] || []) p.append(f.param, v);
  if (state.q) p.set('q', state.q);
  if (state.sort.column !== DEFAULT_SORT.column || state.sort.dir !== DEFAULT_SORT.dir) {
    p.set('sort', `${state.sort.column},${state.sort.dir}`);
  }
  if (state.limit !== PAGE_SIZES[0]) p.set('limit', String(state.limit));
  if (state.cursor) {
    p.set('cursor', state.cursor);
    if (state.page > 1) p.set('page', String(state.page));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

// A changed state starts again at the first page.
export function withChange(state, change) {
  return { ...state, ...change, cursor: '', page: 1 };
}

export function isFiltered(state) {
  return Boolean(state.q) || FACETS.some((f) => state.filters[f.param].length > 0);
}

// The Backstage filter for the facet conditions, leaving out the facet
// `except` names; '' when there is no condition.
export function filterString(state, except) {
  const conditions = [];
  for (const f of FACETS) {
    if (f.param === except) continue;
    for (const v of state.filters[f.param]) conditions.push(`${f.field}=${v}`);
  }
  return conditions.join(',');
}

// Arguments for catalog.queryEntities.
export function entitiesRequest(state) {
  return {
    filter: filterString(state),
    fields: ROW_FIELDS,
    limit: state.limit,
    orderField: `${SORT_FIELDS[state.sort.column]},${state.sort.dir}`,
    fullTextFilterTerm: state.q || undefined,
    fullTextFilterFields: FULL_TEXT_FIELDS,
    cursor: state.cursor || undefined,
  };
}

// Facet requests for the filter controls. Each facet's options are counted
// under the other facets' conditions, not its own, so a chosen kind does not
// hide the other kinds. Facets with the same filter share one request: one
// for the unconstrained facets, plus one per constrained facet.
export function facetRequests(state) {
  const byFilter = new Map();
  for (const f of FACETS) {
    const filter = filterString(state, state.filters[f.param].length ? f.param : undefined);
    if (!byFilter.has(filter)) byFilter.set(filter, []);
    byFilter.get(filter).push(f.field);
  }
  return [...byFilter].map(([filter, facets]) => ({ facets, filter }));
}
