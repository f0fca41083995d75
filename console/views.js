// views.js -- the queue (by urgency, with waiting times), a request's
// details (its offer's cost term by term, its reason), and the
// confirmation panel of one-button calls.

import { el, dur, num } from './dom.js';

export const URGENCIES = ['emergency', 'urgent', 'normal', 'scheduled'];

function reasonOf(r) {
  return r.reason || r.unassigned_reason || '';
}

const REASON_TEXT = {
  no_candidate: 'no qualified staff within reach',
  outranked: 'nearby staff went to more urgent calls',
  deadline: 'no staff can arrive within its window',
  reserve: 'the only nearby qualified staff is kept as the emergency reserve',
};

export function renderQueue(box, requests, now, selected, onSelect) {
  const sorted = [...requests].sort((a, b) =>
    URGENCIES.indexOf(a.urgency) - URGENCIES.indexOf(b.urgency) || a.created_ms - b.created_ms);
  const rows = sorted.map((r) => el('tr', {
    class: `req${r.id === selected ? ' selected' : ''}`, tabindex: 0,
    dataset: { id: r.id, state: r.state },
    onclick: () => onSelect(r.id),
    onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); onSelect(r.id); } },
  },
  el('td', { class: `u-${r.urgency}`, text: r.urgency }),
  el('td', { text: r.id }),
  el('td', { text: r.state }),
  el('td', { text: dur(now - r.created_ms), dataset: { since: r.created_ms } }),
  el('td', { text: (r.workers || []).map((w) => w.id + (w.accepted ? ' ✓' : '')).join(', ') || '–' }),
  el('td', { text: reasonOf(r) })));
  const focused = box.contains(document.activeElement) ? document.activeElement.dataset.id : null;
  box.replaceChildren(el('table', {},
    el('thead', {}, el('tr', {}, ...['urgency', 'request', 'state', 'waiting', 'offer', 'reason'].map((t) => el('th', { text: t })))),
    el('tbody', {}, rows)));
  if (focused) {
    const row = box.querySelector(`tr[data-id="${CSS.escape(focused)}"]`);
    if (row) row.focus();
  }
}

// Every element showing a time since (data-since, ms on the daemon's
// clock) says it again at now: the waiting times tick without redrawing
// (which would move the keyboard's focus).
export function tick(now) {
  for (const e of document.querySelectorAll('[data-since]')) e.textContent = dur(now - Number(e.dataset.since));
}

function termsOf(cost) {
  if (!cost) return null;
  return el('dl', { class: 'terms' }, Object.entries(cost).flatMap(([k, v]) =>
    [el('dt', { text: k.replace(/_/g, ' ') }), el('dd', { text: num(v, k === 'total' ? 3 : 2) })]));
}

export function renderDetail(box, r, now) {
  if (!r) {
    box.replaceChildren(el('p', { class: 'muted', text: 'Click a request in the queue or on the map.' }));
    return;
  }
  const reason = reasonOf(r);
  box.replaceChildren(...[
    el('p', {}, el('strong', { class: `u-${r.urgency}`, text: r.urgency }), ` ${r.id} · ${r.state}`),
    el('p', { class: 'muted' }, 'waiting ', el('span', { text: dur(now - r.created_ms), dataset: { since: r.created_ms } }), ` · skills ${(r.skills || []).join(', ')} · staff ${r.staff || 1} · ${num(r.lat, 4)}, ${num(r.lon, 4)}`),
    r.address || r.elder ? el('p', { class: 'address' }, r.elder ? `elder ${r.elder}` : '',
      r.elder && r.address ? ' · ' : '', r.address || '') : null,
    reason ? el('p', {}, 'Reason: ', el('strong', { text: reason }), ` — ${REASON_TEXT[reason] || ''}`) : null,
    ...(r.workers || []).map((w) => el('div', {},
      el('p', {}, 'Offered to ', el('strong', { text: w.id }), w.accepted ? ' (accepted)' : ''),
      termsOf(w.cost))),
    r.rejected ? el('p', { class: 'muted', text: `refused or let lapse by ${r.rejected.join(', ')}` }) : null,
  ].filter(Boolean));
}

// The calls awaiting an operator's confirmation, oldest first: elder,
// address, position, the nearest qualified staff with travel times, Confirm and
// Dismiss as large buttons (Enter/Space; the first Confirm gets the focus
// when a call arrives).
export function renderConfirm(panel, list, countEl, requests, now, actions) {
  const waiting = requests.filter((r) => r.state === 'awaiting_confirmation')
    .sort((a, b) => a.created_ms - b.created_ms);
  panel.hidden = waiting.length === 0;
  countEl.textContent = waiting.length ? `(${waiting.length})` : '';
  const hadFocus = list.contains(document.activeElement);
  const was = hadFocus ? document.activeElement.dataset : {};
  const before = new Set([...list.querySelectorAll('[data-id]')].map((e) => e.dataset.id));
  list.replaceChildren(...waiting.map((r) => el('div', { class: 'call', dataset: { id: r.id } },
    el('div', {},
      el('p', {}, el('strong', { class: `u-${r.urgency}`, text: r.urgency.toUpperCase() }),
        ` call ${r.id}`, r.elder ? ` · elder ${r.elder}` : '',
        ' · waiting ', el('span', { text: dur(now - r.created_ms), dataset: { since: r.created_ms } })),
      r.address ? el('p', { class: 'address', text: r.address }) : null,
      el('p', { class: 'muted', text: `at ${num(r.lat, 5)}, ${num(r.lon, 5)} · needs ${(r.skills || []).join(', ')}` +
        (r.hold ? ` · ${r.hold.worker} held for it` : '') }),
      el('ol', { class: 'candidates' }, (r.candidates || []).map((c) =>
        el('li', { text: `${c.worker} — ${num(c.travel_min, 1)} min away (cost ${num(c.cost, 2)})` }))),
      (r.candidates || []).length ? null : el('p', { class: 'muted', text: 'nearest staff: computing…' })),
    el('div', { class: 'actions' },
      el('button', { type: 'button', class: 'confirm', dataset: { action: 'confirm', id: r.id },
        'aria-label': `Confirm call ${r.id} and dispatch`, onclick: () => actions.confirm(r.id) }, 'Confirm & dispatch'),
      el('button', { type: 'button', class: 'dismiss', dataset: { action: 'dismiss', id: r.id },
        'aria-label': `Dismiss call ${r.id} as a false alarm`, onclick: () => actions.dismiss(r.id) }, 'Dismiss')))));
  const fresh = waiting.find((r) => !before.has(r.id));
  const idle = !document.activeElement || document.activeElement === document.body;
  if (fresh && !hadFocus && idle) {
    const b = list.querySelector(`button.confirm[data-id="${CSS.escape(fresh.id)}"]`);
    if (b) b.focus();
  } else if (hadFocus) { // the same button again, else the first Confirm
    const b = list.querySelector(`button[data-action="${was.action}"][data-id="${CSS.escape(was.id || '')}"]`) ||
      list.querySelector('button.confirm');
    if (b) b.focus();
  }
}
