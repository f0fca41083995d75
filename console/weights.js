// weights.js -- the weights panel: a slider per weight (per urgency for
// the tables by urgency) with its current value (GET /v1/weights); "What
// if" replays the daemon's recent trace under the proposed and the
// current weights (POST /v1/weights/whatif) and shows the KPIs side by
// side with the time-to-arrival curves; "Apply" writes them (PUT
// /v1/weights with the version read: a conflict says someone else changed
// them, and the panel reloads).

import * as api from './api.js';
import { el, svg, num } from './dom.js';
import { URGENCY_COLOR } from './map.js';
import { URGENCIES } from './views.js';

let current = null; // {version, weights}
let proposed = null; // flat key -> value
let flat0 = null;

function flatten(w) {
  const out = {};
  for (const [k, v] of Object.entries(w)) {
    if (typeof v === 'number') out[k] = v;
    else if (v && typeof v === 'object') for (const [u, x] of Object.entries(v)) out[`${k}.${u}`] = x;
  }
  return out;
}

function unflatten(f) {
  const out = {};
  for (const [k, v] of Object.entries(f)) {
    const [a, b] = k.split('.');
    if (b) { out[a] = out[a] || {}; out[a][b] = v; } else out[a] = v;
  }
  return out;
}

function msg(text, cls = '') {
  const m = document.getElementById('weights-msg');
  m.textContent = text;
  m.className = cls;
}

// The weights changed, whole: a table by urgency is sent with all four
// values when one of them changed.
function changed() {
  const tops = new Set();
  for (const [k, v] of Object.entries(proposed)) if (v !== flat0[k]) tops.add(k.split('.')[0]);
  const out = {};
  for (const [k, v] of Object.entries(proposed)) if (tops.has(k.split('.')[0])) out[k] = v;
  return out;
}

export async function loadWeights() {
  current = await api.get('/v1/weights');
  flat0 = flatten(current.weights);
  proposed = { ...flat0 };
  document.getElementById('weights-version').textContent = `version ${current.version}`;
  const box = document.getElementById('weights');
  box.replaceChildren(...Object.entries(flat0).flatMap(([k, v]) => {
    const max = v > 0 ? Math.max(1, Math.ceil(v * 4)) : 10;
    const id = `w-${k.replace('.', '-')}`;
    const out = el('output', { for: id, text: num(v, 2), dataset: { key: k } });
    const input = el('input', { type: 'range', id, min: 0, max, step: max / 200, value: v,
      dataset: { key: k }, 'aria-label': k,
      oninput: (e) => {
        proposed[k] = Number(e.target.value);
        out.textContent = num(proposed[k], 2);
        out.classList.toggle('changed', proposed[k] !== flat0[k]);
      } });
    return [el('label', { for: id, text: k.replace('.', ' · ') }), input, out];
  }));
}

// A run's KPIs by urgency and its totals: {"by_urgency": {...}, "km", ...}
// or {"emergency": {...}, ..., "totals": {"km", ...}} (both shapes read).
const byU = (k) => k.by_urgency || k;
const totals = (k) => k.totals || k;

function kpiTable(res) {
  const rows = [];
  const better = (a, b, lower) => (a === b || a === undefined || b === undefined ? '' : (lower ? (b < a) : (b > a)) ? 'better' : 'worse');
  for (const u of URGENCIES) {
    const c = byU(res.current)[u], p = byU(res.proposed)[u];
    if (!c || !p) continue;
    for (const [label, get, lower] of [
      ['served', (x) => x.served, false], ['unserved', (x) => x.unserved, true],
      ['SLA breaches', (x) => x.sla_breaches, true],
      ['arrival p50 min', (x) => x.arrival_min && x.arrival_min.p50, true],
      ['arrival p95 min', (x) => x.arrival_min && x.arrival_min.p95, true]]) {
      const a = get(c), b = get(p);
      rows.push(el('tr', {}, el('td', { class: `u-${u}`, text: u }), el('td', { text: label }),
        el('td', { text: num(a, 1) }), el('td', { class: better(a, b, lower), text: num(b, 1) })));
    }
  }
  for (const [label, key] of [['km', 'km'], ['km per job', 'km_per_job'], ['jobs', 'jobs'], ['overtime h', 'overtime_h'], ['unassigned', 'unassigned']])
    rows.push(el('tr', {}, el('td', { text: 'all' }), el('td', { text: label }),
      el('td', { text: num(totals(res.current)[key], 1) }), el('td', { text: num(totals(res.proposed)[key], 1) })));
  return el('table', { id: 'whatif-table' },
    el('thead', {}, el('tr', {}, ...['', 'KPI', 'current', 'proposed'].map((t) => el('th', { text: t })))),
    el('tbody', {}, rows));
}

// Time-to-arrival curves: share of requests arrived by minute, per
// urgency; current dashed, proposed solid.
function curves(res) {
  const w = 480, h = 160, pad = 24;
  let maxX = 1;
  for (const k of [res.current, res.proposed])
    for (const u of URGENCIES) for (const [m] of (byU(k)[u] && byU(k)[u].curve) || []) maxX = Math.max(maxX, m);
  const X = (m) => pad + (m / maxX) * (w - 2 * pad), Y = (s) => h - pad - s * (h - 2 * pad);
  const lines = [];
  for (const [k, dash] of [[res.current, '4 3'], [res.proposed, '']])
    for (const u of URGENCIES) {
      const c = (byU(k)[u] && byU(k)[u].curve) || [];
      if (c.length < 2) continue;
      const attrs = { points: c.map(([m, s]) => `${X(m)},${Y(s)}`).join(' '), fill: 'none', stroke: URGENCY_COLOR[u], 'stroke-width': 2 };
      if (dash) attrs['stroke-dasharray'] = dash;
      lines.push(svg('polyline', attrs));
    }
  return svg('svg', { viewBox: `0 0 ${w} ${h}`, role: 'img', 'aria-label': 'time to arrival: share arrived by minute, current dashed, proposed solid' },
    svg('line', { x1: pad, y1: h - pad, x2: w - pad, y2: h - pad, stroke: '#30363d' }),
    svg('line', { x1: pad, y1: pad, x2: pad, y2: h - pad, stroke: '#30363d' }),
    svg('text', { x: pad, y: 14, fill: '#8b949e', 'font-size': 11, text: 'share arrived (dashed: current, solid: proposed)' }),
    svg('text', { x: w - pad, y: h - 6, fill: '#8b949e', 'font-size': 11, 'text-anchor': 'end', text: `${num(maxX, 0)} min` }),
    ...lines);
}

export async function whatIf() {
  const hours = Number(document.getElementById('whatif-hours').value) || 3;
  const box = document.getElementById('whatif-result');
  msg('replaying…');
  try {
    const res = await api.post('/v1/weights/whatif', { weights: unflatten(proposed), hours });
    box.replaceChildren(
      el('p', { class: 'muted', text: `${res.requests} requests of the last ${res.hours} h replayed` }),
      kpiTable(res), curves(res));
    box.dataset.done = '1';
    msg('what-if done: compare, then Apply or Reset', 'ok');
  } catch (e) {
    box.dataset.done = '';
    if (e.status === 409) msg(`nothing to replay: ${e.message}`, 'error');
    else if (e.status === 503) msg(`the replay is busy or unavailable: ${e.message}; try again`, 'error');
    else if (e.status === 404 || e.status === 405) msg('this daemon has no what-if replay', 'error');
    else msg(`what-if failed: ${e.message}`, 'error');
  }
}

export async function apply() {
  const diff = changed();
  if (!Object.keys(diff).length) { msg('nothing changed'); return; }
  try {
    const res = await api.put('/v1/weights', { weights: unflatten(diff), version: current.version });
    msg(`applied: version ${res.version}`, 'ok');
    await loadWeights();
  } catch (e) {
    if (e.status === 409) {
      msg('conflict: the weights were changed meanwhile; reloaded, check and apply again', 'error');
      await loadWeights();
    } else msg(`not applied: ${e.message}`, 'error');
  }
}

export function reset() {
  loadWeights().then(() => msg('reset to the weights in force'));
}
