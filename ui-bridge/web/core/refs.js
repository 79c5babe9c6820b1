// Entity references, Backstage semantics: `[kind:][namespace/]name`, the
// canonical form `kind:namespace/name` lower-cased, and the entity page URL
// `/catalog/{namespace}/{kind}/{name}`.

import { h } from './dom.js';

// Parses a ref the way Backstage's newest parser does: the kind ends at the
// first `:` unless a `/` comes before it. Missing parts take the defaults.
// Returns {kind, namespace, name}, or null when a part is missing.
export function parseRef(ref, { defaultKind, defaultNamespace = 'default' } = {}) {
  if (typeof ref !== 'string' || ref === '') return null;
  let kind = defaultKind;
  let rest = ref;
  const colon = ref.indexOf(':');
  const slash = ref.indexOf('/');
  if (colon >= 0 && (slash < 0 || colon < slash)) {
    kind = ref.slice(0, colon);
    rest = ref.slice(colon + 1);
  }
  let namespace = defaultNamespace;
  const s = rest.indexOf('/');
  if (s >= 0) {
    namespace = rest.slice(0, s);
    rest = rest.slice(s + 1);
  }
  if (!kind || !namespace || !rest) return null;
  return { kind, namespace, name: rest };
}

export function stringifyRef({ kind, namespace, name }) {
  return `${kind}:${namespace || 'default'}/${name}`.toLowerCase();
}

export function entityRefOf(entity) {
  const m = entity.metadata || {};
  return stringifyRef({ kind: entity.kind, namespace: m.namespace, name: m.name });
}

// The entity page path. Kind is lower-cased as in Backstage's URLs; the
// name keeps its case (lookups are case-insensitive).
export function entityPath({ kind, namespace, name }) {
  const e = encodeURIComponent;
  return `/catalog/${e(namespace || 'default')}/${e(kind.toLowerCase())}/${e(name)}`;
}

// The short form Backstage shows: `component:default/foo` -> `component:foo`;
// the kind is left out too when it is the context's default kind.
export function displayRef({ kind, namespace, name }, defaultKind) {
  const ns = (namespace || 'default').toLowerCase() === 'default' ? '' : `${namespace}/`;
  const k = defaultKind && kind.toLowerCase() === defaultKind.toLowerCase() ? '' : `${kind}:`;
  return `${k}${ns}${name}`;
}

// A link to the entity `ref` names, labelled with its short form, or the
// ref as text when it does not parse.
export function refLink(ref, defaults = {}) {
  const r = parseRef(ref, defaults);
  if (!r) return String(ref ?? '');
  return h('a', { href: entityPath(r), 'data-entity-ref': stringifyRef(r) }, displayRef(r, defaults.defaultKind));
}
