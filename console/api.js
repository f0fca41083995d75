// api.js -- the console's calls to carematchd: the operator token in an
// Authorization header (kept in memory, in sessionStorage at most), JSON in
// and out, errors as exceptions that say what the operator can do.

let token = null;
let region = ''; // '' the default region, else /v1/regions/<name>/...

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status; // HTTP status, 0 when the daemon was unreachable
    this.code = code;     // the error body's code ("conflict", ...)
  }
}

export function setToken(t) { token = t; }
export function hasToken() { return !!token; }
export function setRegion(r) { region = r || ''; }
export function regionName() { return region || 'default'; }

// A /v1 path in the region addressed: /v1/x -> /v1/regions/<r>/x.
export function path(p) {
  return region && p.startsWith('/v1/') ? `/v1/regions/${encodeURIComponent(region)}/${p.slice(4)}` : p;
}

export function headers(extra = {}) {
  const h = { ...extra };
  if (token) h.Authorization = `Bearer ${token}`;
  return h;
}

// One call; resolves to the JSON body (null when empty), or throws ApiError.
export async function call(method, p, body) {
  const init = { method, headers: headers(), cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path(p), init);
  } catch (e) {
    throw new ApiError(0, 'unreachable', 'the daemon cannot be reached');
  }
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
  if (!res.ok) {
    const err = json && json.error ? json.error : {};
    throw new ApiError(res.status, err.code || String(res.status),
                       err.message || `${method} ${p}: HTTP ${res.status}`);
  }
  return json;
}

export const get = (p) => call('GET', p);
export const post = (p, body) => call('POST', p, body === undefined ? {} : body);
export const put = (p, body) => call('PUT', p, body);

// Every page of a list route (GET /v1/workers, /v1/requests?state=live).
export async function getAll(p, key, limit = 1000) {
  const out = [];
  let offset = 0;
  for (let i = 0; i < 100; i++) {
    const sep = p.includes('?') ? '&' : '?';
    const page = await get(`${p}${sep}limit=${limit}&offset=${offset}`);
    out.push(...(page[key] || []));
    if (page.next_offset === undefined) break;
    offset = page.next_offset;
  }
  return out;
}
