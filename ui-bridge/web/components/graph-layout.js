// Layout of an entity relations graph (GET …/graph): nodes in columns by
// their distance from the root, edges merged per pair of entities. Pure:
// no DOM, so it can be checked on its own.
//
// Input: {nodes: [{entityRef, kind, name, title?, depth, exists}],
//         edges: [{source, type, target}]}.
// Output: {width, height, nodes: [{...node, x, y}],
//          edges: [{from, to, label, path, labelX, labelY}]}; folded
// fan-outs appear as nodes of kind 'more' (see foldFanOut).

export const NODE_W = 200;
export const NODE_H = 44;
const GAP_X = 150;
const GAP_Y = 16;
const PAD = 16;
const ARC = 70; // how far an edge within one column bulges to the right

// Relations come in pairs (ownedBy/ownerOf, …), so most entity pairs are
// joined by two edges, one each way. Draw one line per pair, pointing away
// from the node nearer the root (the root's point of view), labelled with
// the relation types in that direction.
export function mergeEdges(nodes, edges) {
  const byRef = new Map(nodes.map((n) => [n.entityRef, n]));
  const pairs = new Map();
  for (const e of edges) {
    if (e.source === e.target || !byRef.has(e.source) || !byRef.has(e.target)) continue;
    const key = [e.source, e.target].sort().join('\u0000');
    if (!pairs.has(key)) pairs.set(key, []);
    pairs.get(key).push(e);
  }
  const merged = [];
  for (const list of pairs.values()) {
    const [a, b] = [list[0].source, list[0].target].sort((x, y) => byRef.get(x).depth - byRef.get(y).depth || (x < y ? -1 : 1));
    let forward = list.filter((e) => e.source === a);
    let [from, to] = [a, b];
    if (!forward.length) {
      forward = list;
      [from, to] = [b, a];
    }
    merged.push({ from, to, label: [...new Set(forward.map((e) => e.type))].sort().join(', ') });
  }
  return merged;
}

// How many neighbours one node may fan out to in the next column before
// the rest fold into a "+N more" node (the root gets more room).
const FAN_OUT = [20, 8];

// Folds wide fan-outs. Each node at depth d > 0 belongs to its first
// neighbour at depth d - 1 (its parent); a parent keeps its first FAN_OUT
// children (by kind, name) and the others, unless another parent keeps them,
// become one summary node {kind: 'more', count, parentRef}.
export function foldFanOut(nodes, edges) {
  const byRef = new Map(nodes.map((n) => [n.entityRef, n]));
  const hidden = new Set();
  const summaries = [];
  const maxDepth = Math.max(0, ...nodes.map((n) => n.depth));
  for (let d = 1; d <= maxDepth; d++) {
    const children = new Map(); // parent ref -> child nodes
    for (const e of edges) {
      for (const [a, b] of [[e.from, e.to], [e.to, e.from]]) {
        const parent = byRef.get(a);
        const child = byRef.get(b);
        if (parent.depth !== d - 1 || child.depth !== d || hidden.has(a)) continue;
        if (!children.has(a)) children.set(a, new Set());
        children.get(a).add(child);
      }
    }
    const kept = new Set();
    const dropped = new Map();
    const limit = FAN_OUT[Math.min(d - 1, FAN_OUT.length - 1)];
    for (const [parent, set] of children) {
      const sorted = [...set].sort((x, y) => x.kind.localeCompare(y.kind) || x.name.localeCompare(y.name));
      sorted.slice(0, limit).forEach((n) => kept.add(n.entityRef));
      dropped.set(parent, sorted.slice(limit));
    }
    for (const [parent, list] of dropped) {
      const gone = list.filter((n) => !kept.has(n.entityRef));
      gone.forEach((n) => hidden.add(n.entityRef));
      if (gone.length) {
        summaries.push({ entityRef: `more:${parent}`, kind: 'more', name: `+${gone.length} more`, depth: d, exists: true, count: gone.length, parentRef: parent });
      }
    }
  }
  const visible = nodes.filter((n) => !hidden.has(n.entityRef));
  return {
    nodes: [...visible, ...summaries],
    edges: [
      ...edges.filter((e) => !hidden.has(e.from) && !hidden.has(e.to)),
      ...summaries.map((m) => ({ from: m.parentRef, to: m.entityRef, label: '' })),
    ],
  };
}

export function layoutGraph(graph) {
  const { nodes, edges } = foldFanOut(graph.nodes.map((n) => ({ ...n })), mergeEdges(graph.nodes, graph.edges));
  const byRef = new Map(nodes.map((n) => [n.entityRef, n]));
  const neighbours = new Map(nodes.map((n) => [n.entityRef, []]));
  for (const e of edges) {
    neighbours.get(e.from).push(e.to);
    neighbours.get(e.to).push(e.from);
  }

  // Columns by depth; within a column, order by the mean row of the
  // neighbours in the previous column (fewer crossings), then kind, name.
  const columns = [];
  for (const n of nodes) (columns[n.depth] ||= []).push(n);
  const dense = columns.filter(Boolean);
  dense.forEach((column, c) => {
    for (const n of column) {
      const rows = neighbours.get(n.entityRef).map((r) => byRef.get(r)).filter((m) => c > 0 && m.column === c - 1).map((m) => m.row);
      n.order = rows.length ? rows.reduce((s, r) => s + r, 0) / rows.length : Infinity;
    }
    column.sort((x, y) => x.order - y.order || x.kind.localeCompare(y.kind) || x.name.localeCompare(y.name));
    column.forEach((n, row) => Object.assign(n, { column: c, row }));
  });

  const tallest = Math.max(1, ...dense.map((col) => col.length));
  const height = PAD * 2 + tallest * NODE_H + (tallest - 1) * GAP_Y;
  for (const column of dense) {
    const offset = ((tallest - column.length) * (NODE_H + GAP_Y)) / 2;
    for (const n of column) {
      n.x = PAD + n.column * (NODE_W + GAP_X);
      n.y = PAD + offset + n.row * (NODE_H + GAP_Y);
    }
  }
  const sameColumn = edges.some((e) => byRef.get(e.from).column === byRef.get(e.to).column);
  const width = PAD * 2 + dense.length * NODE_W + (dense.length - 1) * GAP_X + (sameColumn ? ARC : 0);

  for (const e of edges) Object.assign(e, route(byRef.get(e.from), byRef.get(e.to)));
  for (const n of nodes) {
    delete n.order;
    delete n.row;
    delete n.column;
  }
  return { width, height, nodes, edges };
}

// An SVG path from one node to the other, and where its label goes.
function route(a, b) {
  const ay = a.y + NODE_H / 2;
  const by = b.y + NODE_H / 2;
  if (a.x === b.x) {
    const x = a.x + NODE_W;
    return { path: `M${x},${ay} C${x + ARC},${ay} ${x + ARC},${by} ${x},${by}`, labelX: x + ARC * 0.75, labelY: (ay + by) / 2 };
  }
  const [l, r, ly, ry] = a.x < b.x ? [a, b, ay, by] : [b, a, by, ay];
  const x1 = l.x + NODE_W;
  const x2 = r.x;
  const dx = (x2 - x1) / 2;
  const path = a.x < b.x
    ? `M${x1},${ly} C${x1 + dx},${ly} ${x2 - dx},${ry} ${x2},${ry}`
    : `M${x2},${ry} C${x2 - dx},${ry} ${x1 + dx},${ly} ${x1},${ly}`;
  return { path, labelX: (x1 + x2) / 2, labelY: (ly + ry) / 2 };
}
