// Graph layout and OpenAPI extraction.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { foldFanOut, layoutGraph, mergeEdges } from '../components/graph-layout.js';
import { openApiOperations } from '../components/openapi.js';

const node = (entityRef, depth) => ({ entityRef, kind: entityRef.split(':')[0], name: entityRef.split('/')[1], depth, exists: true });

test('a relation and its inverse become one edge, seen from the node nearer the root', () => {
  const nodes = [node('component:default/a', 0), node('group:default/t', 1), node('api:default/x', 1)];
  const edges = mergeEdges(nodes, [
    { source: 'component:default/a', type: 'ownedBy', target: 'group:default/t' },
    { source: 'group:default/t', type: 'ownerOf', target: 'component:default/a' },
    { source: 'api:default/x', type: 'apiProvidedBy', target: 'component:default/a' },
    { source: 'component:default/a', type: 'x', target: 'component:default/a' },
    { source: 'component:default/a', type: 'x', target: 'component:default/missing' },
  ]);
  assert.deepEqual(edges, [
    { from: 'component:default/a', to: 'group:default/t', label: 'ownedBy' },
    { from: 'api:default/x', to: 'component:default/a', label: 'apiProvidedBy' },
  ]);
});

test('wide fan-outs fold into a "+N more" node unless another parent keeps the child', () => {
  const nodes = [node('c:default/r', 0), node('group:default/g', 1), node('group:default/h', 1)];
  const edges = [{ from: 'c:default/r', to: 'group:default/g', label: 'ownedBy' }, { from: 'c:default/r', to: 'group:default/h', label: 'x' }];
  for (let i = 0; i < 12; i++) {
    nodes.push(node(`c:default/c${String(i).padStart(2, '0')}`, 2));
    edges.push({ from: 'group:default/g', to: `c:default/c${String(i).padStart(2, '0')}`, label: 'ownerOf' });
  }
  edges.push({ from: 'group:default/h', to: 'c:default/c11', label: 'y' });
  const folded = foldFanOut(nodes, edges);
  const refs = folded.nodes.map((n) => n.entityRef);
  assert.ok(refs.includes('c:default/c07') && !refs.includes('c:default/c08'));
  assert.ok(refs.includes('c:default/c11'), 'kept through its other parent');
  const more = folded.nodes.find((n) => n.kind === 'more');
  assert.equal(more.count, 3);
  assert.ok(folded.edges.some((e) => e.from === 'group:default/g' && e.to === more.entityRef));
  assert.ok(!folded.edges.some((e) => e.to === 'c:default/c08'));
});

test('layout puts depths in columns and routes every edge', () => {
  const graph = {
    nodes: [node('component:default/a', 0), node('group:default/t', 1), node('api:default/x', 1), { ...node('user:default/u', 2), exists: false }],
    edges: [
      { source: 'component:default/a', type: 'ownedBy', target: 'group:default/t' },
      { source: 'component:default/a', type: 'providesApi', target: 'api:default/x' },
      { source: 'group:default/t', type: 'hasMember', target: 'user:default/u' },
      { source: 'api:default/x', type: 'ownedBy', target: 'group:default/t' },
    ],
  };
  const layout = layoutGraph(graph);
  const x = Object.fromEntries(layout.nodes.map((n) => [n.entityRef, n.x]));
  assert.ok(x['component:default/a'] < x['group:default/t'] && x['group:default/t'] < x['user:default/u']);
  assert.equal(x['group:default/t'], x['api:default/x']);
  assert.equal(layout.edges.length, 4);
  assert.ok(layout.edges.every((e) => e.path.startsWith('M') && Number.isFinite(e.labelX)));
  assert.ok(layout.width > 0 && layout.height > 0);
});

test('OpenAPI YAML: operations by indentation, ignoring block scalars', () => {
  const yaml = `openapi: "3.0.0"
info:
  title: Petstore API
  version: 1.0.2
  description: |
    paths: not this
paths:
  /pets:
    description: |
      get: nope
    get:
      description: |
        summary: fake
      summary: List all pets
    post:
      operationId: createPets
  "/pets/{petId}":
    get:
      summary: 'Info for a pet'  # comment
components:
  schemas:
    Pet:
      get: x
`;
  assert.deepEqual(openApiOperations(yaml), {
    title: 'Petstore API',
    version: '1.0.2',
    operations: [
      { method: 'get', path: '/pets', summary: 'List all pets' },
      { method: 'post', path: '/pets', summary: 'createPets' },
      { method: 'get', path: '/pets/{petId}', summary: 'Info for a pet' },
    ],
  });
});

test('OpenAPI JSON, and other definitions give null', () => {
  const json = JSON.stringify({ openapi: '3.1.0', info: { title: 'T', version: 2 }, paths: { '/a': { get: { summary: 's' }, parameters: [] } } });
  assert.deepEqual(openApiOperations(json), { title: 'T', version: '2', operations: [{ method: 'get', path: '/a', summary: 's' }] });
  assert.equal(openApiOperations('type Query { a: Int }'), null);
  assert.equal(openApiOperations('asyncapi: 2.0.0\nchannels:\n  a:\n'), null);
});
