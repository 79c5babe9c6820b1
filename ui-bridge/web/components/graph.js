// The relations graph as an SVG picture (layout in graph-layout.js).
//
// Accessibility: the drawing (boxes, lines, labels) is one role="img"
// group named by a <title> and summarised by a <desc>. Node links are a
// separate layer of transparent anchors on top of the boxes, so they are
// focusable and named without being nested inside an image (whose children
// assistive technology does not expose). The relations list above the
// graph gives the direct relations as text.

import { svg, uid } from '../core/dom.js';
import { displayRef, entityPath, parseRef } from '../core/refs.js';
import { NODE_H, NODE_W, layoutGraph } from './graph-layout.js';

const MAX_LABEL = 24;

const clip = (s) => (s.length > MAX_LABEL ? `${s.slice(0, MAX_LABEL - 1)}…` : s);

export function renderGraph(graph, rootRef) {
  const { width, height, nodes, edges } = layoutGraph(graph);
  const titleId = uid('graph-title');
  const descId = uid('graph-desc');
  const markerId = uid('graph-arrow');
  const rootName = displayRef(parseRef(rootRef));
  const missing = nodes.filter((n) => !n.exists).length;
  const folded = nodes.filter((n) => n.kind === 'more');
  const foldedCount = folded.reduce((sum, n) => sum + n.count, 0);
  const entities = nodes.length - folded.length + foldedCount;
  const kindLine = (n) => {
    if (n.kind === 'more') return `related to ${displayRef(parseRef(n.parentRef))}`;
    return n.exists ? n.kind : `${n.kind} (not in catalog)`;
  };

  const picture = svg('g', { role: 'img', 'aria-labelledby': `${titleId} ${descId}` },
    svg('title', { id: titleId }, `Relations graph of ${rootName}`),
    svg('desc', { id: descId },
      `${entities} entities within ${Math.max(0, ...nodes.map((n) => n.depth))} steps`,
      missing ? `; ${missing} referenced but not in the catalog` : '',
      foldedCount ? `; ${foldedCount} of them are summarised in "more" boxes` : '',
      '. The entity\'s direct relations are also listed as text above the graph.'),
    svg('g', { class: 'graph-edges' },
      edges.map((e) => svg('path', { d: e.path, 'marker-end': `url(#${markerId})` }))),
    svg('g', { class: 'graph-edge-labels' },
      edges.filter((e) => e.label).map((e) => svg('text', { x: e.labelX, y: e.labelY - 4, 'text-anchor': 'middle' }, e.label))),
    svg('g', { class: 'graph-nodes' }, nodes.map((n) => svg('g', {
      class: `graph-node${n.entityRef === rootRef ? ' root' : ''}${n.exists && n.kind !== 'more' ? '' : ' missing'}`,
      transform: `translate(${n.x},${n.y})`,
    },
    svg('rect', { width: NODE_W, height: NODE_H, rx: 6 }),
    svg('text', { x: 10, y: 16, class: 'graph-kind' }, clip(kindLine(n))),
    svg('text', { x: 10, y: 34, class: 'graph-name' }, clip(n.title || n.name))))));

  // A "more" box links to its parent's relations, where the rest are shown.
  const link = (n) => {
    if (n.kind === 'more') {
      if (n.parentRef === rootRef) return null;
      const parent = parseRef(n.parentRef);
      return { href: `${entityPath(parent)}?tab=relations`, label: `${n.count} more entities related to ${displayRef(parent)}`, ref: n.parentRef };
    }
    if (!n.exists || n.entityRef === rootRef) return null;
    const ref = parseRef(n.entityRef);
    return { href: entityPath(ref), label: `${displayRef(ref)}${n.title ? ` (${n.title})` : ''}`, ref: n.entityRef, testid: 'graph-node' };
  };
  const links = svg('g', { class: 'graph-links' }, nodes.map((n) => {
    const l = link(n);
    return l && svg('a', { href: l.href, 'data-testid': l.testid || 'graph-more', 'data-entity-ref': l.ref, 'aria-label': l.label },
      svg('title', {}, l.label),
      svg('rect', { x: n.x, y: n.y, width: NODE_W, height: NODE_H, rx: 6 }));
  }));

  return svg('svg', {
    class: 'graph', width, height, viewBox: `0 0 ${width} ${height}`, role: 'group', 'aria-label': `Relations graph of ${rootName}`,
  },
  svg('defs', {}, svg('marker', { id: markerId, viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
    svg('path', { d: 'M0,0 L10,5 L0,10 z' }))),
  picture, links);
}
