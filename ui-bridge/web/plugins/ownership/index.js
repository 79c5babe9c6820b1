// Ownership plugin (service: reads the catalog through context.catalog).
// For one group: the components, APIs, systems and other entities it owns
// (relations.ownedBy = the group) and its members (users whose memberOf
// relation names the group, plus the group's own hasMember relations).
//
// Which group: the sub-path (/plugins/ownership/group:default/team-a), else
// ?group=, else the signed-in user's first group, else the first group.
// Choosing another group navigates, so every view has its own URL.

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'on') for (const [type, fn] of Object.entries(v)) node.addEventListener(type, fn);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

const SECTIONS = [
  { kind: 'component', title: 'Components' },
  { kind: 'api', title: 'APIs' },
  { kind: 'system', title: 'Systems' },
];
const ROW_FIELDS = ['kind', 'metadata.name', 'metadata.namespace', 'metadata.title', 'metadata.description', 'spec.type', 'spec.lifecycle'];

// `kind:namespace/name` -> its parts (kind defaults to group), or null.
function parseRef(ref) {
  const m = /^(?:([^:/]+):)?(?:([^:/]+)\/)?([^:/]+)$/.exec(ref || '');
  return m ? { kind: m[1] || 'group', namespace: m[2] || 'default', name: m[3] } : null;
}
const refOf = (e) => `${e.kind}:${e.metadata.namespace || 'default'}/${e.metadata.name}`.toLowerCase();
const pathOf = (r) => `/catalog/${encodeURIComponent(r.namespace)}/${encodeURIComponent(r.kind.toLowerCase())}/${encodeURIComponent(r.name)}`;
const linkTo = (e) => h('a', { href: pathOf({ kind: e.kind, namespace: e.metadata.namespace || 'default', name: e.metadata.name }), 'data-entity-ref': refOf(e) }, e.metadata.title || e.metadata.name);

function ownedItem(e, showKind) {
  const meta = [showKind ? e.kind : null, e.spec?.type, e.spec?.lifecycle].filter(Boolean).join(' · ');
  return h('li', { 'data-testid': 'owned-entity', 'data-entity-ref': refOf(e) },
    linkTo(e),
    meta && h('span', { class: 'meta' }, ` ${meta}`),
    e.metadata.description && h('div', { class: 'meta' }, e.metadata.description));
}

function requestedGroup(context) {
  const fromPath = context.plugin.subPath.replace(/^\/+|\/+$/g, '');
  let raw;
  try {
    raw = fromPath ? decodeURIComponent(fromPath) : new URLSearchParams(location.search).get('group');
  } catch {
    return null; // malformed percent-encoding
  }
  const r = parseRef(raw);
  return r && r.kind.toLowerCase() === 'group' ? `group:${r.namespace}/${r.name}`.toLowerCase() : null;
}

async function usersGroup(context) {
  if (!context.identity.signedIn) return null;
  const user = await context.catalog.getEntityByRef(context.identity.userEntityRef).catch(() => undefined);
  const rel = (user?.relations || []).find((r) => r.type === 'memberOf' && r.targetRef.startsWith('group:'));
  return rel ? rel.targetRef : null;
}

export default {
  mount(element, context) {
    let gone = false;
    // Enabled from the start: the shell refocuses it after a group change
    // remounts the plugin, which a disabled control would refuse.
    const select = h('select', { id: 'ownership-group', 'data-testid': 'ownership-group' }, h('option', { value: '' }, 'Loading…'));
    const status = h('p', { role: 'status', class: 'ownership-status' }, 'Loading groups…');
    const body = h('div', { class: 'ownership-body' });
    const root = h('div', { class: 'ownership', 'data-testid': 'ownership' },
      h('link', { rel: 'stylesheet', href: new URL('./style.css', import.meta.url).href }),
      h('div', { class: 'ownership-picker' }, h('label', { for: 'ownership-group' }, 'Group'), select),
      status, body);
    element.append(root);

    select.addEventListener('change', () => {
      if (select.value) context.navigate(`${context.plugin.basePath}/${select.value}`);
    });

    const fail = (what, err) => {
      if (!gone) status.textContent = `Could not load ${what}: ${err.message}`;
    };

    (async () => {
      let groups;
      try {
        groups = await context.catalog.getEntities({ filter: { kind: 'group' }, fields: ['kind', 'metadata.name', 'metadata.namespace', 'metadata.title', 'spec.profile.displayName'] });
      } catch (err) {
        fail('the groups', err);
        return;
      }
      if (gone) return;
      const label = (g) => g.spec?.profile?.displayName || g.metadata.title || g.metadata.name;
      groups.sort((a, b) => label(a).localeCompare(label(b)));
      const chosen = requestedGroup(context) || (await usersGroup(context)) || (groups[0] && refOf(groups[0]));
      if (gone) return;
      if (!chosen) {
        status.textContent = 'The catalog has no groups.';
        return;
      }
      const options = groups.map((g) => h('option', { value: refOf(g) }, `${label(g)} (${refOf(g)})`));
      if (!groups.some((g) => refOf(g) === chosen)) options.unshift(h('option', { value: chosen }, chosen));
      select.replaceChildren(...options);
      select.value = chosen;
      await show(chosen);
    })();

    async function show(groupRef) {
      status.textContent = `Loading what ${groupRef} owns…`;
      let group;
      let owned;
      let users;
      try {
        [group, owned, users] = await Promise.all([
          context.catalog.getEntityByRef(groupRef),
          context.catalog.getEntities({ filter: { 'relations.ownedBy': groupRef }, fields: ROW_FIELDS }),
          context.catalog.getEntities({ filter: { kind: 'user', 'relations.memberOf': groupRef }, fields: ['kind', 'metadata.name', 'metadata.namespace', 'metadata.title', 'spec.profile'] }),
        ]);
      } catch (err) {
        fail(`${groupRef}`, err);
        return;
      }
      if (gone) return;
      if (!group) {
        status.textContent = `There is no group ${groupRef} in the catalog.`;
        return;
      }
      status.textContent = `${group.spec?.profile?.displayName || group.metadata.title || group.metadata.name}: ${owned.length} owned ${owned.length === 1 ? 'entity' : 'entities'}, ${users.length} ${users.length === 1 ? 'member' : 'members'}.`;

      const known = new Set(SECTIONS.map((s) => s.kind));
      const sections = [...SECTIONS, { kind: null, title: 'Other owned entities' }].map(({ kind, title }) => {
        const items = owned.filter((e) => (kind ? e.kind.toLowerCase() === kind : !known.has(e.kind.toLowerCase())));
        if (!kind && !items.length) return null;
        return h('section', { class: 'owned', 'data-testid': `owned-${kind || 'other'}`, 'aria-labelledby': `owned-${kind || 'other'}-h` },
          h('h2', { id: `owned-${kind || 'other'}-h` }, `${title} (${items.length})`),
          items.length
            ? h('ul', {}, items.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)).map((e) => ownedItem(e, !kind)))
            : h('p', { class: 'meta' }, 'None.'));
      });

      // Members: users naming the group, plus hasMember targets not among them.
      const memberRefs = new Set(users.map(refOf));
      const extra = (group.relations || []).filter((r) => r.type === 'hasMember' && !memberRefs.has(r.targetRef)).map((r) => r.targetRef);
      const members = [
        ...users.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)).map((u) => h('li', { 'data-testid': 'member', 'data-entity-ref': refOf(u) },
          linkTo(u), u.spec?.profile?.email ? h('span', { class: 'meta' }, ` ${u.spec.profile.email}`) : null)),
        ...extra.map((ref) => {
          const r = parseRef(ref);
          return h('li', { 'data-testid': 'member', 'data-entity-ref': ref }, r ? h('a', { href: pathOf(r) }, ref) : ref);
        }),
      ];
      body.replaceChildren(...sections.filter(Boolean),
        h('section', { class: 'owned', 'data-testid': 'members', 'aria-labelledby': 'members-h' },
          h('h2', { id: 'members-h' }, `Members (${members.length})`),
          members.length ? h('ul', {}, members) : h('p', { class: 'meta' }, 'None.')));
    }

    return () => {
      gone = true;
      root.remove();
    };
  },
};
