// map.js -- the region drawn from coordinates on a canvas (no tile
// server): a light grid, a scale bar in km, staff by status (small
// squares), requests by urgency (circles; one awaiting confirmation has a
// ring), the selected request outlined, over the deployer's communities
// (areas.json: faint labelled circles). What it drew goes into
// data-staff, data-requests and data-areas on the canvas, for the tests.

export const URGENCY_COLOR = {
  emergency: '#ff4d4f', urgent: '#ff9f43', normal: '#4dabf7', scheduled: '#b197fc',
};
export const STATUS_COLOR = {
  available: '#3fb950', offered: '#d29922', busy: '#8b949e', offline: '#484f58',
};

const KM_PER_DEG = 111.32;

// The projection of the points' bounding box into the canvas (w x h).
function projection(points, w, h, pad) {
  let minLat = Infinity, maxLat = -Infinity, minLon = Infinity, maxLon = -Infinity;
  for (const p of points) {
    minLat = Math.min(minLat, p.lat); maxLat = Math.max(maxLat, p.lat);
    minLon = Math.min(minLon, p.lon); maxLon = Math.max(maxLon, p.lon);
  }
  if (!isFinite(minLat)) { minLat = 31.2; maxLat = 31.3; minLon = 121.4; maxLon = 121.5; }
  const midLat = (minLat + maxLat) / 2;
  const kx = KM_PER_DEG * Math.cos(midLat * Math.PI / 180); // km per degree of lon
  const ky = KM_PER_DEG;
  const wKm = Math.max((maxLon - minLon) * kx, 0.5);
  const hKm = Math.max((maxLat - minLat) * ky, 0.5);
  const pxPerKm = Math.min((w - 2 * pad) / wKm, (h - 2 * pad) / hKm);
  const cx = (minLon + maxLon) / 2, cy = midLat;
  return {
    pxPerKm,
    x: (lon) => w / 2 + (lon - cx) * kx * pxPerKm,
    y: (lat) => h / 2 - (lat - cy) * ky * pxPerKm,
  };
}

// A round step (1, 2, 5 x 10^n km) near target km.
function niceKm(target) {
  const p = Math.pow(10, Math.floor(Math.log10(target)));
  for (const m of [1, 2, 5, 10]) if (m * p >= target) return m * p;
  return 10 * p;
}

// The areas worth drawing: a name, a position and a positive radius.
export function validAreas(list) {
  if (!Array.isArray(list)) return [];
  return list.filter((a) => a && typeof a.name === 'string' &&
    typeof a.lat === 'number' && isFinite(a.lat) && typeof a.lon === 'number' && isFinite(a.lon) &&
    typeof a.radius_km === 'number' && a.radius_km > 0 && isFinite(a.radius_km));
}

// Communities: faint circles with their names, under everything else.
function drawAreas(ctx, pr, areas) {
  ctx.font = '12px system-ui, sans-serif';
  ctx.textAlign = 'center';
  for (const a of areas) {
    const x = pr.x(a.lon), y = pr.y(a.lat), r = Math.max(a.radius_km * pr.pxPerKm, 3);
    ctx.fillStyle = 'rgba(88, 166, 255, 0.06)';
    ctx.strokeStyle = 'rgba(88, 166, 255, 0.25)';
    ctx.beginPath();
    ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.fill();
    ctx.stroke();
    ctx.fillStyle = 'rgba(139, 148, 158, 0.8)';
    ctx.fillText(a.name, x, y - r - 4);
  }
  ctx.textAlign = 'start';
}

export function drawMap(canvas, workers, requests, selected, areas = []) {
  const ctx = canvas.getContext('2d');
  const w = canvas.width, h = canvas.height;
  const placed = workers.filter((x) => typeof x.lat === 'number' && typeof x.lon === 'number');
  const pr = projection([...placed, ...requests], w, h, 30);
  ctx.fillStyle = '#0b0f14';
  ctx.fillRect(0, 0, w, h);

  // grid: a line every round number of km
  const step = niceKm(120 / pr.pxPerKm);
  const stepPx = step * pr.pxPerKm;
  ctx.strokeStyle = '#1c2430';
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let x = (w / 2) % stepPx; x < w; x += stepPx) { ctx.moveTo(x, 0); ctx.lineTo(x, h); }
  for (let y = (h / 2) % stepPx; y < h; y += stepPx) { ctx.moveTo(0, y); ctx.lineTo(w, y); }
  ctx.stroke();

  drawAreas(ctx, pr, areas);

  // staff by status
  let staff = 0;
  for (const x of placed) {
    ctx.fillStyle = STATUS_COLOR[x.status] || '#8b949e';
    ctx.fillRect(pr.x(x.lon) - 2.5, pr.y(x.lat) - 2.5, 5, 5);
    staff++;
  }
  // offers: a line from the request to each offered worker
  const byId = new Map(placed.map((x) => [x.id, x]));
  ctx.strokeStyle = '#d29922';
  for (const r of requests) {
    for (const o of r.workers || []) {
      const x = byId.get(o.id);
      if (!x) continue;
      ctx.beginPath();
      ctx.moveTo(pr.x(r.lon), pr.y(r.lat));
      ctx.lineTo(pr.x(x.lon), pr.y(x.lat));
      ctx.stroke();
    }
  }
  // requests by urgency, the most urgent drawn last (on top)
  const order = ['scheduled', 'normal', 'urgent', 'emergency'];
  const sorted = [...requests].sort((a, b) => order.indexOf(a.urgency) - order.indexOf(b.urgency));
  let drawn = 0;
  for (const r of sorted) {
    const x = pr.x(r.lon), y = pr.y(r.lat);
    ctx.fillStyle = URGENCY_COLOR[r.urgency] || '#ffffff';
    ctx.beginPath();
    ctx.arc(x, y, r.urgency === 'emergency' ? 7 : 5, 0, 2 * Math.PI);
    ctx.fill();
    if (r.state === 'awaiting_confirmation') {
      ctx.strokeStyle = '#ffffff';
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(x, y, 12, 0, 2 * Math.PI);
      ctx.stroke();
      ctx.lineWidth = 1;
    }
    if (selected && r.id === selected) {
      ctx.strokeStyle = '#58a6ff';
      ctx.lineWidth = 3;
      ctx.beginPath();
      ctx.arc(x, y, 15, 0, 2 * Math.PI);
      ctx.stroke();
      ctx.lineWidth = 1;
    }
    drawn++;
  }

  // scale bar, bottom left
  const bar = niceKm(150 / pr.pxPerKm);
  const barPx = bar * pr.pxPerKm;
  ctx.fillStyle = '#e6edf3';
  ctx.fillRect(20, h - 24, barPx, 4);
  ctx.fillRect(20, h - 30, 2, 10);
  ctx.fillRect(20 + barPx - 2, h - 30, 2, 10);
  ctx.font = '13px system-ui, sans-serif';
  ctx.fillText(`${bar} km`, 26 + barPx, h - 18);
  ctx.fillStyle = '#8b949e';
  ctx.fillText(`grid ${step} km`, 20, 20);

  canvas.dataset.staff = String(staff);
  canvas.dataset.requests = String(drawn);
  canvas.dataset.areas = String(areas.length);
  canvas._hit = (px, py) => {
    let best = null, bd = 15 * 15;
    for (const r of requests) {
      const dx = pr.x(r.lon) - px, dy = pr.y(r.lat) - py;
      if (dx * dx + dy * dy < bd) { bd = dx * dx + dy * dy; best = r.id; }
    }
    return best;
  };
  return { staff, requests: drawn };
}
