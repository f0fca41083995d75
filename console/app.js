// app.js -- the operator console: sign-in (a form, or #token=... in the
// URL fragment for a kiosk; the fragment is removed from the address bar
// at once and never reaches the server), then the live view: the lists
// read from the API, kept fresh by the event stream (fetch-based, with
// the token in a header) and a slow poll, and the operator's actions.
// The token lives in memory, and in sessionStorage only when asked.

import * as api from './api.js';
import { openStream } from './stream.js';
import { drawMap, validAreas, STATUS_COLOR, URGENCY_COLOR } from './map.js';
import { renderQueue, renderDetail, renderConfirm, tick } from './views.js';
import { renderKpis } from './kpis.js';
import { loadWeights, whatIf, apply, reset } from './weights.js';
import { el } from './dom.js';

const $ = (id) => document.getElementById(id);
const KEY = 'carematch.console.token';

const state = {
  workers: [], requests: [], selected: null, kpis: null,
  areas: [], // the deployer's communities (areas.json next to the page)
  clock: null, // {daemonMs, at, rate}: the daemon's clock (it may be simulated)
  stream: null, timers: [], refreshing: false, pending: false,
};

// The daemon's time now, from its last /healthz (now_ms) and the rate
// its clock was seen to run at.
function now() {
  const c = state.clock;
  return c ? c.daemonMs + (performance.now() - c.at) * c.rate : Date.now();
}

function setConn(text, cls) {
  const c = $('conn');
  c.textContent = text;
  c.className = `badge ${cls}`;
  document.body.dataset.conn = cls;
}

function log(text) {
  const li = el('li', { text });
  const ol = $('log');
  ol.prepend(li);
  while (ol.children.length > 200) ol.lastChild.remove();
}

async function health() {
  try {
    const h = await api.get('/healthz');
    const t = performance.now();
    const c = state.clock;
    let rate = c ? c.rate : 1;
    if (c && t - c.at > 2000) rate = Math.max(0.1, (h.now_ms - c.daemonMs) / (t - c.at));
    state.clock = { daemonMs: h.now_ms, at: t, rate };
    $('clock').textContent = new Date(h.now_ms).toISOString().slice(11, 19) + ' UTC' +
      (rate > 1.5 ? ` (×${rate.toFixed(0)})` : '');
    const l = await api.get('/v1/leader');
    $('role').textContent = l.leader ? 'leader' : 'standby: not leading this region';
    $('role').className = `badge ${l.leader ? 'ok' : 'warn'}`;
    return true;
  } catch (e) {
    setConn('daemon unreachable', 'bad');
    return false;
  }
}

function draw() {
  const t = now();
  const drawn = drawMap($('map'), state.workers, state.requests, state.selected, state.areas);
  const by = {};
  for (const w of state.workers) by[w.status] = (by[w.status] || 0) + 1;
  $('map-summary').textContent = `${drawn.staff} staff drawn (` +
    Object.entries(by).map(([k, v]) => `${v} ${k}`).join(', ') + `), ${drawn.requests} requests`;
  renderQueue($('queue'), state.requests, t, state.selected, select);
  $('queue-count').textContent = `(${state.requests.length})`;
  renderDetail($('detail'), state.requests.find((r) => r.id === state.selected), t);
  renderConfirm($('confirm'), $('confirm-list'), $('confirm-count'), state.requests, t, { confirm, dismiss });
}

function select(id) {
  state.selected = id;
  draw();
}

// Read the live requests again, and with full the workers too (their
// positions move without events: every 5 s).
async function refresh(full = true) {
  if (state.refreshing) { state.pending = full ? true : (state.pending || 'requests'); return; }
  state.refreshing = true;
  try {
    const [workers, requests] = await Promise.all([
      full || !state.workers.length ? api.getAll('/v1/workers', 'workers') : state.workers,
      api.getAll('/v1/requests?state=live', 'requests'),
    ]);
    // a call awaiting confirmation: its own read carries the soft hold
    // and the nearest qualified staff (few at a time)
    await Promise.all(requests.filter((r) => r.state === 'awaiting_confirmation' && !r.candidates)
      .slice(0, 20).map(async (r) => {
        try { Object.assign(r, (await api.get(`/v1/requests/${encodeURIComponent(r.id)}`)).request); } catch (e) { /* listed as it is */ }
      }));
    state.workers = workers;
    state.requests = requests;
    if (state.stream) setConn('live', 'ok');
    draw();
  } catch (e) {
    if (e.status === 401 || e.status === 403) return signOut(e.status === 403 ? 'this token is not an operator\'s' : 'the token was refused');
    setConn(e.status === 503 ? `not ready: ${e.message}` : 'daemon unreachable', 'bad');
  } finally {
    state.refreshing = false;
    if (state.pending) {
      const full = state.pending === true;
      state.pending = false;
      setTimeout(() => refresh(full), 100);
    }
  }
}

async function refreshKpis() {
  try {
    state.kpis = await api.get('/v1/kpis');
    renderKpis($('kpis'), state.kpis);
  } catch (e) { /* shown by refresh */ }
}

let soon = null;
function refreshSoon() {
  if (!soon) soon = setTimeout(() => { soon = null; refresh(false); }, 250);
}

async function confirm(id) {
  try {
    await api.post(`/v1/requests/${encodeURIComponent(id)}/confirm`, {});
    log(`confirmed ${id}`);
  } catch (e) {
    log(`confirm ${id} failed: ${e.message}`);
  }
  refresh();
}

async function dismiss(id) {
  if (!window.confirm(`Dismiss call ${id} as a false alarm?`)) return;
  try {
    await api.post(`/v1/requests/${encodeURIComponent(id)}/dismiss`, { reason: 'false_alarm' });
    log(`dismissed ${id}`);
  } catch (e) {
    log(`dismiss ${id} failed: ${e.message}`);
  }
  refresh();
}

function onEvent(type, ev) {
  log(`${type} ${ev.request || ''}${ev.worker ? ` → ${ev.worker}` : ''}${ev.actor ? ` by ${ev.actor}` : ''}`);
  refreshSoon();
}

// The communities the deployer placed in areas.json beside the page
// (docs/console.md): names and circles, no personal data, no token
// needed. None (a 404) is normal and silent; a broken file is said in the
// page's log.
async function loadAreas() {
  try {
    const res = await fetch('areas.json', { cache: 'no-cache', credentials: 'omit' });
    if (!res.ok) return;
    state.areas = validAreas(await res.json());
    draw();
  } catch (e) {
    log('areas.json: not a list of areas');
  }
}

async function start() {
  $('signin').hidden = true;
  $('main').hidden = false;
  $('signout').hidden = false;
  setConn('connecting…', 'warn');
  $('region-name').textContent = `region ${api.regionName()}`;
  try {
    await api.get('/v1/kpis'); // the token is checked once, as an operator's
  } catch (e) {
    if (e.status === 401 || e.status === 403) return signOut(e.status === 403 ? 'this token is not an operator\'s' : 'the token was refused');
  }
  await health();
  loadAreas();
  await refresh();
  refreshKpis();
  loadWeights().catch((e) => { $('weights-msg').textContent = `weights: ${e.message}`; });
  state.stream = openStream({
    onEvent,
    onState: (s) => {
      if (s === 'open') { setConn('live', 'ok'); refresh(); } else setConn('event stream lost: reconnecting…', 'bad');
    },
  });
  state.timers.push(setInterval(async () => { if (await health()) refresh(); }, 5000));
  state.timers.push(setInterval(refreshKpis, 10000));
  state.timers.push(setInterval(() => tick(now()), 1000)); // waiting times
}

function signOut(why) {
  if (state.stream) state.stream.close();
  state.stream = null;
  state.timers.forEach(clearInterval);
  state.timers = [];
  api.setToken(null);
  sessionStorage.removeItem(KEY);
  $('main').hidden = true;
  $('signin').hidden = false;
  $('signout').hidden = true;
  $('signin-error').textContent = why || '';
  setConn('not signed in', 'bad');
  $('token').focus();
}

function init() {
  // the legend
  $('map-legend').replaceChildren(
    ...Object.entries(URGENCY_COLOR).map(([k, c]) => { const d = el('span', {}, el('span', { class: 'dot' }), k); d.firstChild.style.background = c; return d; }),
    ...Object.entries(STATUS_COLOR).map(([k, c]) => { const d = el('span', {}, el('span', { class: 'dot' }), k); d.firstChild.style.background = c; d.firstChild.style.borderRadius = '0'; return d; }));
  $('map').addEventListener('click', (e) => {
    const c = $('map');
    const r = c.getBoundingClientRect();
    const id = c._hit && c._hit((e.clientX - r.left) * c.width / r.width, (e.clientY - r.top) * c.height / r.height);
    if (id) select(id);
  });
  $('signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const t = $('token').value.trim();
    $('token').value = '';
    api.setToken(t);
    if ($('remember').checked) sessionStorage.setItem(KEY, t);
    start();
  });
  $('signout').addEventListener('click', () => signOut(''));
  $('whatif').addEventListener('click', whatIf);
  $('apply').addEventListener('click', apply);
  $('reset').addEventListener('click', reset);

  // #token=...&region=...: taken, then wiped from the address bar
  const frag = new URLSearchParams(location.hash.slice(1));
  if (frag.get('region')) api.setRegion(frag.get('region'));
  const t = frag.get('token') || sessionStorage.getItem(KEY);
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  if (t) { api.setToken(t); start(); } else { $('token').focus(); }
}

init();
