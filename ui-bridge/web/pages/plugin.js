// A plugin's own page at /plugins/{id}/...: the shell's heading, then the
// plugin mounted into `plugin-root` with the rest of the path as subPath.
// Navigating within the plugin (another subPath or query) remounts it,
// refocusing the element that had focus when the plugin renders it again.

import { h } from '../core/dom.js';
import { mountPlugin } from '../core/plugins.js';

export function mount(outlet, { params, app }) {
  const title = h('h1', { tabindex: -1 }, params.id);
  const description = h('p', { class: 'subtitle' });
  const root = h('div', { class: 'plugin-root', 'data-testid': 'plugin-root', 'data-plugin-id': params.id });
  outlet.append(title, description, root);
  document.title = `${params.id} · Software Catalog`;

  let plugin = null;
  let unmount = null;
  let shown = null; // subPath + query currently mounted
  let gone = false;

  const show = (subPath) => {
    const where = subPath + location.search;
    if (!plugin || where === shown) return;
    const focused = root.contains(document.activeElement) ? document.activeElement.id : '';
    unmount?.();
    shown = where;
    unmount = mountPlugin(root, plugin, { subPath, identity: app.identity.current, navigate: app.navigate, focusId: focused });
  };

  app.ready.then(async () => {
    const plugins = await app.plugins;
    if (gone) return;
    plugin = plugins.find((p) => p.id === params.id);
    if (!plugin) {
      title.textContent = 'Plugin not found';
      root.replaceChildren(h('p', {}, `No plugin with id “${params.id}” is installed. `, h('a', { href: '/catalog' }, 'Back to the catalog'), '.'));
      return;
    }
    title.textContent = plugin.title;
    description.textContent = plugin.description || '';
    document.title = `${plugin.title} · Software Catalog`;
    show(params.subPath);
  });

  return {
    update({ params: next }) {
      show(next.subPath);
    },
    unmount() {
      gone = true;
      unmount?.();
    },
  };
}
