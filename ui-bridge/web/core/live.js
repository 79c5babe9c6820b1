// Live catalog changes over server-sent events (GET /api/catalog/events).
// The browser's EventSource reconnects by itself and sends Last-Event-ID,
// and the server resumes from that cursor with no gap and no duplicate, so
// this module only parses events and shows the connection state.

import { eventsUrl } from './api.js';
import { h } from './dom.js';

const LABELS = {
  connecting: 'Live updates: connecting…',
  live: 'Live updates on',
  reconnecting: 'Live updates: reconnecting…',
  closed: 'Live updates unavailable',
};

// Opens a stream of changes to entities matching `filter` and calls
// onChange({cursor, type: 'upserted'|'deleted', entityRef, entity}) for
// each. Returns the function that closes the stream.
export function watchChanges(filter, onChange, indicator) {
  const source = new EventSource(eventsUrl(filter));
  indicator?.set('connecting');
  source.addEventListener('open', () => indicator?.set('live'));
  source.addEventListener('error', () => {
    indicator?.set(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
  });
  source.addEventListener('change', (ev) => {
    let change;
    try {
      change = JSON.parse(ev.data);
    } catch {
      return; // Not the contract's shape; nothing sensible to do with it.
    }
    onChange(change);
  });
  return () => {
    source.close();
    indicator?.set('closed');
  };
}

// The `live-status` indicator. `data-state` mirrors the state for tests.
export function liveIndicator() {
  const el = h('span', { class: 'live-status', 'data-testid': 'live-status', 'data-state': 'connecting' }, LABELS.connecting);
  return {
    el,
    set(state) {
      el.dataset.state = state;
      el.textContent = LABELS[state];
    },
  };
}
