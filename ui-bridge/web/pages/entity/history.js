// The History tab: the entity's versions from GET …/history, newest first,
// each with its time, producer, change kind and field-by-field diff. Pages
// of older versions load on demand.

import { catalog } from '../../core/api.js';
import { banner, h } from '../../core/dom.js';
import { formatDateTime } from '../../core/format.js';
import { entityRefOf } from '../../core/refs.js';
import { diffList } from '../../components/diff.js';

const PAGE = 20;
// Creation diffs list every field; fold them past this many changes.
const FOLD_OVER = 12;

const CHANGE_LABEL = { created: 'Created', updated: 'Updated', deleted: 'Deleted' };

// Returns the cleanup function (cancels requests in flight).
export function renderHistory(el, entity) {
  const controller = new AbortController();
  const ref = entityRefOf(entity);
  const list = h('ol', { class: 'history', 'data-testid': 'history-list' });
  const status = h('div', { role: 'status' });
  const more = h('button', { type: 'button', class: 'button', 'data-testid': 'history-more', hidden: true }, 'Load older versions');
  let cursor;

  const load = async () => {
    more.disabled = true;
    status.replaceChildren(h('p', { class: 'muted' }, 'Loading history…'));
    try {
      const page = await catalog.getHistory(ref, { limit: PAGE, cursor }, controller.signal);
      const items = page.items || [];
      list.append(...items.map(entry));
      cursor = page.nextCursor;
      more.hidden = !cursor;
      status.replaceChildren(list.children.length ? '' : h('p', { class: 'muted' }, 'No recorded versions.'));
    } catch (err) {
      if (err.name === 'AbortError') return;
      status.replaceChildren(banner('error', `Could not load the history of ${ref}: ${err.message}`));
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener('click', load);

  el.replaceChildren(h('h2', {}, 'History'), list, status, more);
  load();
  return () => controller.abort();
}

function entry(version) {
  const changes = Array.isArray(version.changes) ? version.changes : [];
  const diff = changes.length ? diffList(changes) : h('p', { class: 'muted' }, 'No field changes recorded.');
  return h('li', { class: `history-entry change-${version.change}`, 'data-testid': 'history-entry', 'data-change': version.change, 'data-sequence': version.sequence },
    h('h3', {},
      h('span', { class: `badge badge-${version.change}` }, CHANGE_LABEL[version.change] || version.change),
      ' ',
      h('time', { datetime: version.time }, formatDateTime(version.time))),
    h('p', { class: 'history-meta' },
      version.producer && ['by ', h('strong', {}, version.producer)],
      version.location && [' from ', h('code', {}, version.location)],
      ` · event #${version.sequence}`),
    changes.length > FOLD_OVER
      ? h('details', {}, h('summary', {}, `${changes.length} field changes`), diff)
      : diff);
}
