// Tech Radar plugin (standalone): draws radar.json as a radar (four
// quadrants, rings adopt/trial/assess/hold) with a numbered legend. The
// picture is one role="img" with a summary; the legend is the text
// equivalent, listing every entry under its quadrant and ring.

const SVG_NS = 'http://www.w3.org/2000/svg';

function el(ns, tag, attrs, children) {
  const node = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  for (const c of [children].flat(Infinity)) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}
const h = (tag, attrs, ...children) => el(null, tag, attrs, children);
const s = (tag, attrs, ...children) => el(SVG_NS, tag, attrs, children);

const SIZE = 600;
const C = SIZE / 2;
const RADII = [0, 110, 175, 230, 280]; // ring boundaries, inside out
const COLOURS = ['#0969da', '#1a7f37', '#8250df', '#bf3989']; // white text on each is ≥ 4.5:1
// Quadrant i spans angles [90i, 90(i+1)) degrees, counter-clockwise from
// the positive x axis: top-right, top-left, bottom-left, bottom-right.
const QUADRANT_CORNER = [[SIZE - 8, 20, 'end'], [8, 20, 'start'], [8, SIZE - 10, 'start'], [SIZE - 8, SIZE - 10, 'end']];

const MOVED = { 1: 'moved in', '-1': 'moved out' };

// Numbers entries in legend order and places each in its segment: spread
// evenly over the quadrant's angle, alternating between two radii so
// neighbours do not touch.
export function place(radar) {
  const qIndex = new Map(radar.quadrants.map((q, i) => [q.id, i]));
  const rIndex = new Map(radar.rings.map((r, i) => [r.id, i]));
  const sorted = radar.entries
    .filter((e) => qIndex.has(e.quadrant) && rIndex.has(e.ring))
    .sort((a, b) => qIndex.get(a.quadrant) - qIndex.get(b.quadrant) || rIndex.get(a.ring) - rIndex.get(b.ring) || a.name.localeCompare(b.name));
  const segments = new Map();
  for (const e of sorted) {
    const key = `${e.quadrant}/${e.ring}`;
    if (!segments.has(key)) segments.set(key, []);
    segments.get(key).push(e);
  }
  return sorted.map((e, i) => {
    const q = qIndex.get(e.quadrant);
    const r = rIndex.get(e.ring);
    const segment = segments.get(`${e.quadrant}/${e.ring}`);
    const k = segment.indexOf(e);
    const angle = ((q * 90 + ((k + 1) / (segment.length + 1)) * 90) * Math.PI) / 180;
    const inner = RADII[r] + (r === 0 ? 20 : 0);
    const radius = inner + (RADII[r + 1] - inner) * (k % 2 ? 0.68 : 0.36);
    return { ...e, number: i + 1, q, r, x: C + radius * Math.cos(angle), y: C - radius * Math.sin(angle) };
  });
}

function radarSvg(radar, blips) {
  const rings = radar.rings.map((ring, i) => s('circle', { cx: C, cy: C, r: RADII[i + 1], class: 'ring' }));
  const ringLabels = radar.rings.map((ring, i) => s('text', { x: C, y: C - (RADII[i] + RADII[i + 1]) / 2 + 4, 'text-anchor': 'middle', class: 'ring-label' }, ring.name));
  const quadrantLabels = radar.quadrants.map((q, i) => {
    const [x, y, anchor] = QUADRANT_CORNER[i];
    return s('text', { x, y, 'text-anchor': anchor, class: 'quadrant-label', fill: COLOURS[i] }, q.name);
  });
  return s('svg', { viewBox: `0 0 ${SIZE} ${SIZE}`, class: 'radar', role: 'img', 'aria-labelledby': 'radar-title radar-desc' },
    s('title', { id: 'radar-title' }, radar.title),
    s('desc', { id: 'radar-desc' },
      `${blips.length} technologies in four quadrants (${radar.quadrants.map((q) => q.name).join(', ')}) `,
      `and four rings from the centre out (${radar.rings.map((r) => r.name).join(', ')}). Every entry is listed after the picture.`),
    rings,
    s('line', { x1: C, y1: C - RADII[4], x2: C, y2: C + RADII[4], class: 'axis' }),
    s('line', { x1: C - RADII[4], y1: C, x2: C + RADII[4], y2: C, class: 'axis' }),
    ringLabels,
    quadrantLabels,
    blips.map((b) => s('g', { class: 'blip', 'data-testid': 'radar-blip', transform: `translate(${b.x.toFixed(1)},${b.y.toFixed(1)})` },
      s('title', {}, `${b.number}. ${b.name}: ${radar.rings[b.r].name}, ${radar.quadrants[b.q].name}`),
      s('circle', { r: 10, fill: COLOURS[b.q] }),
      s('text', { 'text-anchor': 'middle', y: 4 }, String(b.number)))));
}

function legend(radar, blips) {
  return h('div', { class: 'radar-legend' }, radar.quadrants.map((q, qi) => h('section', { 'aria-labelledby': `radar-q-${q.id}` },
    h('h2', { id: `radar-q-${q.id}`, style: `border-color: ${COLOURS[qi]}` }, q.name),
    radar.rings.map((ring, ri) => {
      const items = blips.filter((b) => b.q === qi && b.r === ri);
      if (!items.length) return null;
      return [h('h3', { title: ring.description }, ring.name),
        h('ol', {}, items.map((b) => h('li', { value: b.number, 'data-testid': 'radar-entry' },
          h('strong', {}, b.name),
          MOVED[b.moved] ? h('span', { class: 'moved' }, ` (${MOVED[b.moved]})`) : null,
          b.description ? h('span', { class: 'desc' }, ` — ${b.description}`) : null)))];
    }))));
}

export default {
  mount(element) {
    const root = h('div', { class: 'tech-radar', 'data-testid': 'tech-radar' },
      h('link', { rel: 'stylesheet', href: new URL('./style.css', import.meta.url).href }),
      h('p', { role: 'status' }, 'Loading the radar…'));
    element.append(root);
    const controller = new AbortController();
    fetch(new URL('./radar.json', import.meta.url), { signal: controller.signal })
      .then((res) => {
        if (!res.ok) throw new Error(`radar.json: ${res.status} ${res.statusText}`);
        return res.json();
      })
      .then((radar) => {
        const blips = place(radar);
        root.replaceChildren(root.firstChild,
          h('p', { class: 'radar-intro' }, `${radar.title}, ${radar.date}. `,
            radar.rings.map((r, i) => [i ? ' ' : '', h('strong', {}, `${r.name}:`), ` ${r.description}`])),
          h('div', { class: 'radar-layout' }, h('div', { class: 'radar-picture' }, radarSvg(radar, blips)), legend(radar, blips)));
      })
      .catch((err) => {
        if (err.name !== 'AbortError') root.replaceChildren(root.firstChild, h('p', { role: 'alert', class: 'radar-error' }, `Could not load the radar: ${err.message}`));
      });
    return () => {
      controller.abort();
      root.remove();
    };
  },
};
