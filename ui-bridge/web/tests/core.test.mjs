// Unit tests for the pure parts of the core UI: `node --test ui-bridge/web/tests`
// (Node >= 20.19, which loads the .js ES modules without a package.json).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { filterParams, query } from '../core/api.js';
import { formatRelative } from '../core/format.js';
import { isProxyPath } from '../core/plugins.js';
import { displayRef, entityPath, parseRef, stringifyRef } from '../core/refs.js';

test('parseRef follows Backstage: kind before the first colon unless a slash comes first', () => {
  assert.deepEqual(parseRef('component:default/foo'), { kind: 'component', namespace: 'default', name: 'foo' });
  assert.deepEqual(parseRef('group:team-a'), { kind: 'group', namespace: 'default', name: 'team-a' });
  assert.deepEqual(parseRef('team-a', { defaultKind: 'group', defaultNamespace: 'ns1' }), { kind: 'group', namespace: 'ns1', name: 'team-a' });
  assert.deepEqual(parseRef('ns/a:b', { defaultKind: 'component' }), { kind: 'component', namespace: 'ns', name: 'a:b' });
  assert.equal(parseRef('foo'), null, 'no kind and no default kind');
  assert.equal(parseRef(':x/y'), null);
  assert.equal(parseRef(''), null);
});

test('refs stringify lower-cased and link to /catalog/{namespace}/{kind}/{name}', () => {
  assert.equal(stringifyRef({ kind: 'Component', namespace: 'Default', name: 'Foo' }), 'component:default/foo');
  assert.equal(entityPath({ kind: 'API', namespace: 'default', name: 'a b' }), '/catalog/default/api/a%20b');
  assert.equal(displayRef({ kind: 'group', namespace: 'default', name: 't' }), 'group:t');
  assert.equal(displayRef({ kind: 'group', namespace: 'x', name: 't' }), 'group:x/t');
  assert.equal(displayRef({ kind: 'Group', namespace: 'default', name: 't' }, 'group'), 't');
});

test('filters: objects AND their keys, arrays OR values of a key, array of filters OR', () => {
  assert.deepEqual(filterParams({ kind: 'user', 'relations.memberOf': 'group:default/t' }), ['kind=user,relations.memberOf=group:default/t']);
  assert.deepEqual(filterParams([{ kind: ['a', 'b'] }, 'x=y', { 'spec.x': true }]), ['kind=a,kind=b', 'x=y', 'spec.x']);
  assert.deepEqual(filterParams(''), []);
  assert.equal(query({ filter: ['a=b', 'c=d'], limit: 5, skipped: undefined, empty: '' }), '?filter=a%3Db&filter=c%3Dd&limit=5');
});

test('proxy paths with dot segments are refused', () => {
  for (const bad of ['/../x', '/a/./b', '/a/%2e%2E/b', '/a/..', '/a/..?x', '/.', 'relative']) assert.ok(!isProxyPath(bad), bad);
  for (const ok of ['/api/projects/x/builds', '/a/..b', '/a/.hidden', '/a?x=../']) assert.ok(isProxyPath(ok), ok);
});

test('relative times', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  assert.equal(formatRelative(new Date(now - 5_000), now), 'just now');
  assert.match(formatRelative(new Date(now - 300_000), now), /5/);
});
