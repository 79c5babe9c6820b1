// Pure helpers of the shipped plugins.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { describeFailure, formatDuration, projectSlug } from '../plugins/ci-builds/index.js';
import { place } from '../plugins/tech-radar/index.js';

test('ci-builds: slug from the annotation, else the name; failures in words', () => {
  assert.equal(projectSlug({ metadata: { name: 'svc', annotations: { 'ci.example.com/project-slug': 'acme-svc' } } }), 'acme-svc');
  assert.equal(projectSlug({ metadata: { name: 'svc' } }), 'svc');
  assert.equal(describeFailure(502, 'x'), 'CI server unavailable (502).');
  assert.equal(describeFailure(404, 'x'), 'The CI server has no project “x” (404).');
  assert.equal(formatDuration(75), '1m 15s');
  assert.equal(formatDuration(undefined), '');
});

test('tech-radar: every entry lands in its own segment without overlapping another', () => {
  const radar = JSON.parse(fs.readFileSync(new URL('../plugins/tech-radar/radar.json', import.meta.url)));
  const blips = place(radar);
  assert.equal(blips.length, radar.entries.length);
  assert.deepEqual(blips.map((b) => b.number), blips.map((_, i) => i + 1));
  for (const b of blips) {
    const angle = (Math.atan2(300 - b.y, b.x - 300) * 180) / Math.PI;
    const quadrant = Math.floor(((angle + 360) % 360) / 90);
    assert.equal(quadrant, b.q, `${b.name} is in its quadrant`);
  }
  for (let i = 0; i < blips.length; i++) {
    for (let j = i + 1; j < blips.length; j++) {
      assert.ok(Math.hypot(blips[i].x - blips[j].x, blips[i].y - blips[j].y) > 20, `${blips[i].name} / ${blips[j].name}`);
    }
  }
});

test('every plugin manifest has the fields the bridge reads', () => {
  for (const id of ['tech-radar', 'ownership', 'ci-builds']) {
    const m = JSON.parse(fs.readFileSync(new URL(`../plugins/${id}/manifest.json`, import.meta.url)));
    assert.equal(m.id, id);
    assert.ok(['standalone', 'service', 'third-party'].includes(m.kind));
    assert.ok(m.title && m.description && m.entry && Array.isArray(m.proxyEndpoints));
    assert.ok(fs.existsSync(new URL(`../plugins/${id}/${m.entry}`, import.meta.url)));
  }
});
