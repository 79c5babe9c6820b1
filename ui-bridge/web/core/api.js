// HTTP client for the bridge (docs/ui-bridge-http.md): the Backstage-style
// catalog REST API, the catalog extras (history, graph, search, refresh),
// identity and the plugin list. Every call takes an optional AbortSignal so
// a view can cancel what it started when it goes away.

import { parseRef } from './refs.js';

const CATALOG = '/api/catalog';

// A non-2xx answer. `name` and `message` come from the Backstage error body
// `{error:{name,message}}` when there is one.
export class ApiError extends Error {
  constructor(status, name, message) {
    super(message);
    this.status = status;
    this.name = name || 'ApiError';
  }
}

async function request(url, { method = 'GET', body, signal } = {}) {
  // X-Catalog-Request: the bridge refuses a state-changing request from a
  // signed-in browser without it (CSRF protection; other origins cannot send it).
  const headers = { Accept: 'application/json', 'X-Catalog-Request': '1' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    credentials: 'same-origin',
    cache: 'no-store',
  });
  const text = await res.text();
  if (!res.ok) {
    let name;
    let message = `${res.status} ${res.statusText}`.trim();
    try {
      const err = JSON.parse(text).error;
      name = err.name;
      message = `${res.status} ${err.name}: ${err.message}`;
    } catch {
      // Not a Backstage error body; keep the status line.
    }
    throw new ApiError(res.status, name, message);
  }
  return text ? JSON.parse(text) : undefined;
}

// Query string from {key: value | value[]}; undefined, null and '' are left
// out, arrays repeat the key (`filter`, `facet`, `type` are repeatable).
export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined && v !== null && v !== '') q.append(key, String(v));
    }
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

// Backstage filter parameters. A filter is a string in the REST syntax
// (`kind=component,spec.type=service`), an object `{key: value | value[] |
// true}` (conditions AND-ed, an array ORs values of one key, true means
// "key exists"), or an array of those (OR-ed, one `filter` parameter each).
export function filterParams(filter) {
  if (filter === undefined || filter === null || filter === '') return [];
  if (Array.isArray(filter)) return filter.flatMap(filterParams);
  if (typeof filter === 'string') return [filter];
  const conditions = [];
  for (const [key, value] of Object.entries(filter)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      conditions.push(v === true ? key : `${key}=${v}`);
    }
  }
  return conditions.length ? [conditions.join(',')] : [];
}

function byNamePath(ref) {
  const r = parseRef(ref);
  if (!r) throw new Error(`not an entity reference: ${JSON.stringify(ref)}`);
  const e = encodeURIComponent;
  return `${CATALOG}/entities/by-name/${e(r.kind)}/${e(r.namespace)}/${e(r.name)}`;
}

const joinFields = (fields) => (Array.isArray(fields) ? fields.join(',') : fields);

// The subset of Backstage's CatalogClient that plugins get (see the plugin
// context in docs/ui-bridge-http.md), plus the catalog extras for the shell.
export const catalog = {
  getEntities({ filter, fields, limit, offset, order } = {}, signal) {
    return request(`${CATALOG}/entities${query({ filter: filterParams(filter), fields: joinFields(fields), limit, offset, order })}`, { signal });
  },

  // With a cursor the server ignores filter, order and full-text terms:
  // the cursor carries them.
  queryEntities({ filter, fields, limit, orderField, fullTextFilterTerm, fullTextFilterFields, cursor } = {}, signal) {
    const params = cursor
      ? { cursor, limit, fields: joinFields(fields) }
      : {
          filter: filterParams(filter),
          fields: joinFields(fields),
          limit,
          orderField,
          fullTextFilterTerm,
          fullTextFilterFields: fullTextFilterTerm ? joinFields(fullTextFilterFields) : undefined,
        };
    return request(`${CATALOG}/entities/by-query${query(params)}`, { signal });
  },

  // The entity, or undefined when there is none.
  async getEntityByRef(ref, signal) {
    try {
      return await request(byNamePath(ref), { signal });
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined;
      throw err;
    }
  },

  async getEntitiesByRefs(refs, fields, signal) {
    const items = [];
    // Same chunk size as Backstage's client and server.
    for (let i = 0; i < refs.length; i += 200) {
      const body = { entityRefs: refs.slice(i, i + 200) };
      if (fields) body.fields = fields;
      const page = await request(`${CATALOG}/entities/by-refs`, { method: 'POST', body, signal });
      items.push(...page.items);
    }
    return items;
  },

  getEntityFacets({ facets, filter }, signal) {
    return request(`${CATALOG}/entity-facets${query({ facet: facets, filter: filterParams(filter) })}`, { signal });
  },

  getHistory(ref, { limit, cursor } = {}, signal) {
    return request(`${byNamePath(ref)}/history${query({ limit, cursor })}`, { signal });
  },

  getGraph(ref, { depth, types, maxNodes } = {}, signal) {
    return request(`${byNamePath(ref)}/graph${query({ type: types, depth, maxNodes })}`, { signal });
  },

  search(term, { limit, filter } = {}, signal) {
    return request(`${CATALOG}/search${query({ term, limit, filter: filterParams(filter) })}`, { signal });
  },

  refresh(entityRef) {
    return request(`${CATALOG}/refresh`, { method: 'POST', body: { entityRef } });
  },
};

export const identityApi = {
  get: () => request('/api/identity'),
  signIn: (userEntityRef) => request('/api/identity/sign-in', { method: 'POST', body: { userEntityRef } }),
  signOut: () => request('/api/identity/sign-out', { method: 'POST' }),
};

export const listPlugins = () => request('/api/plugins');

// The URL of the live change stream for entities matching `filter`.
export function eventsUrl(filter) {
  return `${CATALOG}/events${query({ filter: filterParams(filter) })}`;
}
