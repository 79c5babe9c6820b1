// The catalog table's URL state and the requests it stands for.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { entitiesRequest, facetRequests, filterString, readState, withChange, writeState } from '../pages/catalog-state.js';

const full = 'kind=component&lifecycle=production&lifecycle=experimental&tag=java&q=%20pay%20&sort=owner,desc&limit=50&cursor=abc&page=3';

test('the URL round-trips through the state', () => {
  const state = readState(new URLSearchParams(full));
  assert.deepEqual(state.filters.kind, ['component']);
  assert.deepEqual(state.filters.lifecycle, ['production', 'experimental']);
  assert.equal(state.q, 'pay');
  assert.deepEqual(state.sort, { column: 'owner', dir: 'desc' });
  assert.equal(state.limit, 50);
  assert.equal(state.page, 3);
  assert.deepEqual(readState(new URLSearchParams(writeState(state).slice(1))), state);
});

test('defaults and bad values fall back and stay out of the URL', () => {
  const state = readState(new URLSearchParams('sort=bogus&limit=7&page=2&kind=a&kind=b'));
  assert.deepEqual(state.sort, { column: 'name', dir: 'asc' });
  assert.equal(state.limit, 20);
  assert.equal(state.page, 1, 'a page number means nothing without a cursor');
  assert.deepEqual(state.filters.kind, ['a'], 'single-choice facets keep one value');
  assert.equal(writeState({ ...state, filters: { ...state.filters, kind: [] } }), '');
});

test('facet values OR within a facet, facets AND', () => {
  const state = readState(new URLSearchParams(full));
  assert.equal(filterString(state), 'kind=component,spec.lifecycle=production,spec.lifecycle=experimental,metadata.tags=java');
  assert.equal(filterString(state, 'lifecycle'), 'kind=component,metadata.tags=java');
});

test('each constrained facet is counted without its own condition, the rest share a request', () => {
  const requests = facetRequests(readState(new URLSearchParams(full)));
  assert.equal(requests.length, 4);
  assert.deepEqual(requests.find((r) => r.facets.includes('spec.type')).facets, ['spec.type', 'spec.owner', 'metadata.namespace']);
  assert.equal(requests.find((r) => r.facets.includes('kind')).filter, 'spec.lifecycle=production,spec.lifecycle=experimental,metadata.tags=java');
  assert.equal(facetRequests(readState(new URLSearchParams(''))).length, 1);
});

test('entity requests carry the order and the cursor; a change drops the cursor', () => {
  const state = readState(new URLSearchParams(full));
  const request = entitiesRequest(state);
  assert.equal(request.orderField, 'spec.owner,desc');
  assert.equal(request.cursor, 'abc');
  assert.equal(request.fullTextFilterTerm, 'pay');
  const changed = withChange(state, { q: 'x' });
  assert.equal(changed.cursor, '');
  assert.equal(changed.page, 1);
});
