// The Overview tab: the about card, then labels, annotations and the raw
// entity, folded.

import { h, swap } from '../../core/dom.js';
import { refLink } from '../../core/refs.js';

const LOCATION_ANNOTATION = 'backstage.io/managed-by-location';

export function renderOverview(el, entity) {
  const m = entity.metadata || {};
  const spec = entity.spec || {};
  const ns = m.namespace || 'default';
  // Spec refs resolve with the field's default kind and this entity's
  // namespace, as Backstage resolves them into relations.
  const ref = (value, defaultKind) => (value ? refLink(value, { defaultKind, defaultNamespace: ns }) : null);
  const refs = (list, defaultKind) => (Array.isArray(list) && list.length
    ? h('ul', { class: 'inline' }, list.map((r) => h('li', {}, refLink(r, { defaultKind, defaultNamespace: ns }))))
    : null);
  const tags = Array.isArray(m.tags) ? m.tags : [];
  const links = Array.isArray(m.links) ? m.links : [];
  const profile = spec.profile && typeof spec.profile === 'object' ? spec.profile : {};

  const about = h('section', { class: 'card about', 'data-testid': 'about-card', 'aria-labelledby': 'about-heading' },
    h('h2', { id: 'about-heading' }, 'About'),
    h('p', { class: 'description' }, m.description || h('span', { class: 'muted' }, 'No description.')),
    definitionList([
      ['Name', m.title && m.title !== m.name ? `${m.title} (${m.name})` : m.name],
      ['Kind', entity.kind],
      ['Namespace', ns],
      ['Type', spec.type],
      ['Lifecycle', spec.lifecycle],
      ['Owner', ref(spec.owner, 'group')],
      ['System', ref(spec.system, 'system')],
      ['Domain', ref(spec.domain, 'domain')],
      ['Parent', ref(spec.parent, 'group')],
      ['Member of', refs(spec.memberOf, 'group')],
      ['Display name', profile.displayName],
      ['Email', profile.email ? h('a', { href: `mailto:${profile.email}` }, profile.email) : null],
      ['Tags', tags.length ? h('ul', { class: 'tags' }, tags.map((t) => h('li', {}, h('a', { href: `/catalog?tag=${encodeURIComponent(t)}` }, t)))) : null],
      ['Links', links.length ? h('ul', { class: 'links' }, links.map(linkItem)) : null],
      ['Source location', sourceLocation(m.annotations?.[LOCATION_ANNOTATION])],
    ]));

  const open = new Set([...el.querySelectorAll('details[open]')].map((d) => d.dataset.key));
  swap(el,
    about,
    keyValues('labels', 'Labels', m.labels),
    keyValues('annotations', 'Annotations', m.annotations),
    h('details', { class: 'card folded', 'data-key': 'raw' },
      h('summary', {}, 'Raw entity (JSON)'), h('pre', {}, JSON.stringify(entity, null, 2))));
  for (const d of el.querySelectorAll('details')) d.open = open.has(d.dataset.key);
}

function definitionList(pairs) {
  const present = pairs.filter(([, v]) => v !== null && v !== undefined && v !== '');
  return h('dl', { class: 'about-list' }, present.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))));
}

// http(s) URLs become links; anything else (javascript:, data:) stays text.
function safeUrl(url) {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

function linkItem(link) {
  const url = String(link?.url ?? '');
  const label = link?.title || url;
  const href = safeUrl(url);
  return h('li', {}, href ? h('a', { href, rel: 'noopener noreferrer', target: '_blank' }, label) : `${label} (${url})`);
}

// `url:https://…/catalog-info.yaml` or `file:/…`: a location ref, split at
// the first colon (Backstage's location ref format).
function sourceLocation(value) {
  if (!value) return null;
  const i = value.indexOf(':');
  const type = i > 0 ? value.slice(0, i) : '';
  const target = i > 0 ? value.slice(i + 1) : value;
  const href = type === 'url' ? safeUrl(target) : null;
  return [h('span', { class: 'muted' }, type ? `${type}: ` : ''),
    href ? h('a', { href, rel: 'noopener noreferrer', target: '_blank' }, target) : h('code', {}, target)];
}

function keyValues(key, title, obj) {
  const entries = obj && typeof obj === 'object' ? Object.entries(obj).sort(([a], [b]) => a.localeCompare(b)) : [];
  if (!entries.length) return null;
  return h('details', { class: 'card folded', 'data-key': key },
    h('summary', {}, `${title} (${entries.length})`),
    h('dl', { class: 'kv' }, entries.map(([k, v]) => h('div', {}, h('dt', {}, h('code', {}, k)), h('dd', {}, h('code', {}, String(v)))))));
}
