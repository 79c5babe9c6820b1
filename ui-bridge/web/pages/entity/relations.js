// The Relations tab: the entity's relations as a list grouped by type, and
// the neighbourhood as a graph picture from GET …/graph?depth=2.

import { catalog } from '../../core/api.js';
import { banner, h, swap } from '../../core/dom.js';
import { displayRef, entityPath, entityRefOf, parseRef } from '../../core/refs.js';
import { renderGraph } from '../../components/graph.js';

const DEPTH = 2;
const MAX_NODES = 200;

// Returns the cleanup function (cancels the graph request).
export function renderRelations(el, entity) {
  const controller = new AbortController();
  const ref = entityRefOf(entity);
  const figure = h('figure', { class: 'graph-figure', 'data-testid': 'relations-graph' },
    h('p', { class: 'muted' }, 'Loading graph…'));
  swap(el,
    h('section', { 'aria-labelledby': 'relations-heading' },
      h('h2', { id: 'relations-heading' }, 'Relations'),
      relationList(entity)),
    h('section', { 'aria-labelledby': 'graph-heading' },
      h('h2', { id: 'graph-heading' }, 'Graph'),
      figure));

  catalog.getGraph(ref, { depth: DEPTH, maxNodes: MAX_NODES }, controller.signal).then(
    (graph) => {
      const nodes = graph.nodes || [];
      if (nodes.length <= 1) {
        swap(figure, h('p', { class: 'muted' }, 'No related entities to draw.'));
        return;
      }
      swap(figure,
        h('div', { class: 'graph-scroll' }, renderGraph({ nodes, edges: graph.edges || [] }, ref)),
        h('figcaption', {}, `Entities up to ${DEPTH} relations away. Arrows point from the entity nearer ${displayRef(parseRef(ref))}.`,
          graph.truncated ? ` Only the first ${MAX_NODES} entities are shown.` : ''));
    },
    (err) => {
      if (err.name !== 'AbortError') swap(figure, banner('error', `Could not load the relations graph of ${ref}: ${err.message}`));
    },
  );
  return () => controller.abort();
}

function relationList(entity) {
  const groups = new Map();
  for (const rel of Array.isArray(entity.relations) ? entity.relations : []) {
    if (!rel || typeof rel.type !== 'string' || typeof rel.targetRef !== 'string') continue;
    if (!groups.has(rel.type)) groups.set(rel.type, new Set());
    groups.get(rel.type).add(rel.targetRef);
  }
  if (!groups.size) return h('p', { class: 'muted', 'data-testid': 'relations-list' }, 'This entity has no relations.');
  return h('div', { class: 'relation-groups', 'data-testid': 'relations-list' },
    [...groups].sort(([a], [b]) => a.localeCompare(b)).map(([type, refs]) => h('section', { class: 'relation-group', 'data-relation-type': type },
      h('h3', {}, `${type} (${refs.size})`),
      h('ul', {}, [...refs].sort().map((targetRef) => {
        const r = parseRef(targetRef);
        return h('li', {}, r ? h('a', { href: entityPath(r), 'data-entity-ref': targetRef }, displayRef(r)) : targetRef);
      })))));
}
