// Tabs per the WAI-ARIA Authoring Practices tabs pattern, with automatic
// activation: Left/Right arrows move between tabs and select them, Home and
// End jump to the ends; only the selected tab is in the Tab order.

import { h } from '../core/dom.js';

// tabs: [{id, label}]. onSelect(id) runs whenever a tab gets selected.
// Returns {list, panels: Map(id -> panel element), select(id, {focus})}.
export function createTabs({ label, testid, tabs, onSelect }) {
  const buttons = new Map();
  const panels = new Map();
  let current = null;

  const list = h('div', { role: 'tablist', 'aria-label': label, class: 'tabs', 'data-testid': testid });
  for (const tab of tabs) {
    const button = h('button', {
      type: 'button', role: 'tab', id: `tab-${tab.id}`, 'aria-controls': `panel-${tab.id}`,
      'aria-selected': 'false', tabindex: -1, 'data-testid': `tab-${tab.id}`,
      on: { click: () => select(tab.id) },
    }, tab.label);
    buttons.set(tab.id, button);
    list.append(button);
    panels.set(tab.id, h('div', { role: 'tabpanel', id: `panel-${tab.id}`, 'aria-labelledby': `tab-${tab.id}`, tabindex: 0, class: 'tab-panel', hidden: true }));
  }

  list.addEventListener('keydown', (ev) => {
    const ids = [...buttons.keys()];
    const i = ids.indexOf(current);
    const target = {
      ArrowRight: ids[(i + 1) % ids.length],
      ArrowLeft: ids[(i - 1 + ids.length) % ids.length],
      Home: ids[0],
      End: ids[ids.length - 1],
    }[ev.key];
    if (!target) return;
    ev.preventDefault();
    select(target, { focus: true });
  });

  function select(id, { focus = false } = {}) {
    if (!buttons.has(id)) return;
    if (id !== current) {
      for (const [tid, button] of buttons) {
        const on = tid === id;
        button.setAttribute('aria-selected', String(on));
        button.tabIndex = on ? 0 : -1;
        panels.get(tid).hidden = !on;
      }
      current = id;
      onSelect(id);
    }
    if (focus) buttons.get(id).focus();
  }

  return { list, panels, select, has: (id) => buttons.has(id) };
}
