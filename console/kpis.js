// kpis.js -- the last hour's KPIs (GET /v1/kpis) as small SVG charts: per
// urgency the time to first offer and to arrival (p50 per 5 minutes),
// p50/p90 to offer, to acceptance and to arrival (from the call; scheduled
// work from its window), done, cancelled and unassigned now; the batch
// latency.

import { el, svg, dur, num } from './dom.js';
import { URGENCY_COLOR } from './map.js';
import { URGENCIES } from './views.js';

// A sparkline of values (null: no point) scaled to their maximum.
export function spark(values, color, label) {
  const w = 240, h = 36;
  const vals = values.map((v) => (typeof v === 'number' ? v : null));
  const max = Math.max(1e-9, ...vals.filter((v) => v !== null));
  const n = Math.max(vals.length - 1, 1);
  const pts = [];
  vals.forEach((v, i) => { if (v !== null) pts.push(`${(i / n) * (w - 4) + 2},${h - 3 - (v / max) * (h - 8)}`); });
  return svg('svg', { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': label },
    svg('line', { x1: 0, y1: h - 2, x2: w, y2: h - 2, stroke: '#30363d' }),
    pts.length > 1 ? svg('polyline', { points: pts.join(' '), fill: 'none', stroke: color, 'stroke-width': 2 }) : null,
    ...pts.map((p) => { const [x, y] = p.split(','); return svg('circle', { cx: x, cy: y, r: 2, fill: color }); }));
}

export function renderKpis(box, k) {
  if (!k) return;
  const rows = URGENCIES.map((u) => {
    const s = k.by_urgency[u];
    return el('div', { class: 'kpi', dataset: { urgency: u } },
      el('span', { class: `u-${u}`, text: u }),
      spark(s.series.time_to_offer_p50_ms, URGENCY_COLOR[u], `${u}: time to offer, p50 per 5 minutes`),
      el('span', {}),
      el('span', { class: 'muted', text:
        `offer p50 ${dur(s.time_to_offer_ms.p50)} p90 ${dur(s.time_to_offer_ms.p90)} · ` +
        `accept p50 ${dur(s.time_to_accept_ms.p50)} · done ${s.done} · cancelled ${s.cancelled} · ` +
        `unassigned ${s.unassigned}` }),
      el('span', { class: 'muted', text: 'arrival' }),
      spark(s.series.time_to_arrival_p50_ms, URGENCY_COLOR[u], `${u}: time to arrival, p50 per 5 minutes`),
      el('span', {}),
      el('span', { class: 'muted arrival', dataset: { p50: s.time_to_arrival_ms.p50 ?? '' }, text:
        `arrival p50 ${dur(s.time_to_arrival_ms.p50)} p90 ${dur(s.time_to_arrival_ms.p90)} · ` +
        `${s.arrivals} arrived` }));
  });
  const b = k.batches;
  rows.push(el('div', { class: 'kpi' },
    el('span', { text: 'batches' }),
    spark(b.latency_p99_ms_series, '#e6edf3', 'batch latency, p99 per 5 minutes'),
    el('span', {}),
    el('span', { class: 'muted', text: `${b.count} · latency p50 ${num(b.latency_ms.p50, 1)} ms p99 ${num(b.latency_ms.p99, 1)} ms` })));
  if (k.since_ms > k.from_ms) rows.push(el('p', { class: 'muted', text: `samples since ${dur(k.now_ms - k.since_ms)} ago only (ring full)` }));
  box.replaceChildren(...rows);
}
