/* redis_scripts.c -- the Lua scripts of the Redis store, their loading and
 * the NOSCRIPT retry (see redis_scripts.h).
 *
 * Invariants the scripts keep, for every worker of the region:
 * - the hash cm:{r}:worker:<id> holds every field (redis_worker.h);
 * - id is in cm:{r}:workers exactly while the hash exists;
 * - ix (format in redis_lua.h) agrees with the hash: "-" for the
 *   eligibility part exactly while status is not 0 or capacity <= 0, the
 *   skills otherwise; a position (glat, glon) exactly while matchable;
 *   z "-" exactly while has_position is 0;
 * - id is in cm:{r}:seen exactly while has_position is 1, with score z
 *   (ix), where z <= seen_ms < z + CM__RD_SEEN_SLACK_MS, and z = seen_ms
 *   when seen_ms >= 2^53 (redis_scripts.h: the score may trail seen_ms);
 * - when the worker is matchable (status 0 = AVAILABLE, has_position 1,
 *   capacity > 0) it is indexed at the position (glat, glon) of its ix:
 *   in geo:<s> for every skill s it holds, or, when GEO cannot index that
 *   position (off the grid, redis_geo.h), in offgrid instead; and (glat,
 *   glon) is within CM__RD_LAG_KM of (lat, lon). When it is not matchable
 *   it is in none of them.
 * - an on-shift worker whose hash counts jobs (the fields jobs and acc,
 *   kept by the ledger's commit script) has the status they call for
 *   (derive: AVAILABLE below capacity, else BUSY when every job is
 *   accepted, else OFFERED);
 * - every script that changes workers appends their ids to cm:{r}:changes,
 *   one entry per call tagged with the writer's origin (its last ARGV).
 * Each script reads what it needs first and returns early (changing
 * nothing) when a worker is unknown, so no script stops half-way: Redis
 * does not roll back a script that fails after a write. GEOADD is only
 * called with a position on the grid, so it cannot fail. The index moves
 * only when the worker has gone more than 0.9 * CM__RD_LAG_KM from its
 * indexed position, measured with an equirectangular estimate (below 80
 * degrees of latitude, where its error at these distances is far below
 * the 10% kept in hand; elsewhere the index always moves). */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "redis_call.h"
#include "redis_conn.h"
#include "redis_keys.h"
#include "redis_lua.h"
#include "redis_scripts.h"

/* upsert. KEYS[NF+1]: the hash. ARGV: id, skills, status, has_position,
 * lat, lon, seen_ms, capacity, jobs_today, rating, level, elders (all
 * validated by the caller; lat/lon "0" without a position). A new worker
 * gets the next sequence number in workers; a replaced one keeps its own.
 * The index is rebuilt at the exact position and the seen score is
 * seen_ms. ix, lat, lon and seen_ms go first: a new hash keeps its fields
 * in this order, and the positions script finds the first ones fastest.
 * Returns 1 when the worker is new, 0 when replaced. */
static const char upsert_src[] = CM__RD_PRELUDE
    "local key, id = KEYS[NF + 1], ARGV[1]\n"
    "local h = call('HMGET', key, 'skills', 'jobs', 'acc')\n"
    "local old = h[1]\n"
    "if old then\n"
    "  unplace(id, old)\n"
    "else\n"
    "  call('ZADD', KEYS[K_WORKERS], call('INCR', KEYS[K_SEQ]), id)\n"
    "end\n"
    "local st = derive(ARGV[3], h[2], h[3], ARGV[8])\n"
    "local z = '-'\n"
    "if ARGV[4] == '1' then z = ARGV[7] end\n"
    "call('HSET', key, 'ix',\n"
    "  ix_make(z, ARGV[2], st, ARGV[4], ARGV[8], ARGV[5], ARGV[6]),\n"
    "  'lat', ARGV[5], 'lon', ARGV[6], 'seen_ms', ARGV[7], 'id', id,\n"
    "  'skills', ARGV[2], 'status', st, 'has_position', ARGV[4],\n"
    "  'capacity', ARGV[8], 'jobs_today', ARGV[9], 'rating', ARGV[10],\n"
    "  'level', ARGV[11], 'elders', ARGV[12])\n"
    "if ARGV[4] == '1' then\n"
    "  call('ZADD', KEYS[K_SEEN], ARGV[7], id)\n"
    "else\n"
    "  call('ZREM', KEYS[K_SEEN], id)\n"
    "end\n"
    "if matchable(st, ARGV[4], ARGV[8]) then\n"
    "  place(id, ARGV[2], ARGV[5], ARGV[6])\n"
    "end\n"
    "changed({id}, 1)\n"
    "if old then return 0 end\n"
    "return 1\n";

/* position. KEYS[NF+1]: the hash. ARGV: id, lat, lon, seen_ms (valid).
 * Returns 0 when the worker is unknown (nothing changed), else 1. */
static const char position_src[] = CM__RD_PRELUDE
    "local key, id, lat, lon, seen = KEYS[NF + 1], ARGV[1], ARGV[2], "
    "ARGV[3], ARGV[4]\n"
    "local h = call('HMGET', key, 'skills', 'status', 'has_position',\n"
    "  'capacity', 'ix')\n"
    "if not h[1] then return 0 end\n"
    "local z, gl, go = ix_read(h[5])\n"
    "h[5], h[6] = gl, go\n"
    "local m = moves(h, lat, lon)\n"
    "if m == 'across' then unplace(id, h[1]) end\n"
    "if m then\n"
    "  place(id, h[1], lat, lon)\n"
    "  gl, go = lat, lon\n"
    "end\n"
    "if not seen_keeps(z, seen) then\n"
    "  call('ZADD', KEYS[K_SEEN], seen, id)\n"
    "  z = seen\n"
    "end\n"
    "call('HSET', key, 'lat', lat, 'lon', lon, 'seen_ms', seen,\n"
    "  'has_position', '1', 'ix', ix_make(z, h[1], h[2], '1', h[4], gl, go))\n"
    "changed({id}, 1)\n"
    "return 1\n";

/* status. KEYS[NF+1]: the hash. ARGV: id, status ("0".."3"), origin. An
 * on-shift status follows the jobs the ledger counts, when it counts any.
 * A worker that becomes matchable is indexed at its exact position.
 * Returns 0 when the worker is unknown, else 1. */
static const char status_src[] = CM__RD_PRELUDE
    "local key, id = KEYS[NF + 1], ARGV[1]\n"
    "local h = call('HMGET', key, 'skills', 'status', 'has_position',\n"
    "  'capacity', 'lat', 'lon', 'ix', 'jobs', 'acc')\n"
    "if not h[1] then return 0 end\n"
    "local st = derive(ARGV[2], h[8], h[9], h[4])\n"
    "if h[2] == st then return 1 end\n"
    "set_status(key, id, h[1], h[2], h[3], h[4], h[5], h[6], h[7], st)\n"
    "changed({id}, 1)\n"
    "return 1\n";

/* remove. KEYS[NF+1]: the hash. ARGV: id, origin. Returns 0 when unknown,
 * else 1. */
static const char remove_src[] =
    CM__RD_PRELUDE "local key, id = KEYS[NF + 1], ARGV[1]\n"
                   "local skills = call('HGET', key, 'skills')\n"
                   "if not skills then return 0 end\n"
                   "unplace(id, skills)\n"
                   "call('ZREM', KEYS[K_SEEN], id)\n"
                   "call('ZREM', KEYS[K_WORKERS], id)\n"
                   "call('DEL', key)\n"
                   "changed({id}, 1)\n"
                   "return 1\n";

/* sweep. KEYS[NF+i]: candidate hashes (from the seen set). ARGV[1]: the
 * limit L, a positive decimal; ARGV[1+i]: the candidates' ids. Marks
 * OFFLINE every candidate still AVAILABLE with a position seen before L
 * (seen_ms < L, compared exactly as decimal strings: Lua numbers are
 * doubles). Returns how many. */
static const char sweep_src[] = CM__RD_PRELUDE
    "local limit = ARGV[1]\n"
    "local function older(a, b)\n"
    "  if #a ~= #b then return #a < #b end\n"
    "  return a < b\n"
    "end\n"
    "local n, ids = 0, {}\n"
    "for i = 1, #KEYS - NF do\n"
    "  local key, id = KEYS[NF + i], ARGV[1 + i]\n"
    "  local h = call('HMGET', key, 'status', 'has_position', 'seen_ms',\n"
    "    'skills', 'ix')\n"
    "  if h[1] == '0' and h[2] == '1' and h[3] and older(h[3], limit) then\n"
    "    call('HSET', key, 'status', '3', 'ix', ix_read(h[5]) .. ' -')\n"
    "    unplace(id, h[4])\n"
    "    n = n + 1\n"
    "    ids[n] = id\n"
    "  end\n"
    "end\n"
    "changed(ids, n)\n"
    "return n\n";

/* positions. KEYS[NF+i]: worker hashes, none twice (the caller starts a
 * new chunk where an id repeats, so the later position wins without any
 * bookkeeping here). ARGV[3i-2 .. 3i]: lat, lon, seen_ms of worker i
 * (valid); the id is the hash's name after the prefix, needed only when
 * a set changes. Moves every known worker (an unknown one is skipped).
 * The common case, a matchable worker on the grid that stays within the
 * lag and whose seen score may stay, costs one HGET of ix and one HSET of
 * three fields: the lag test is reindex() inlined and seen_keeps() too,
 * on numbers parsed once (Lua's tonumber parses a string twice), and ix
 * is matched for the three values they need (string.match costs ~0.2 us
 * per capture here). The seen set and the GEO sets
 * get one command each per chunk. Returns how many moved. */
static const char positions_src[] = CM__RD_PRELUDE
    "local ID0 = #KEYS[K_SEQ] - #'seq' + #'worker:' + 1\n"
    "local HALF_RAD, LAT_FAR = math.pi / 360, 80\n"
    "local zs, nz, per, moved, ids = {}, 0, {}, 0, {}\n"
    "local function queue(id, skills, lat, lon)\n"
    "  if offgrid(lat, lon) then\n"
    "    call('SADD', KEYS[K_OFFGRID], id)\n"
    "    return\n"
    "  end\n"
    "  local s, b = tonumber(skills), 0\n"
    "  while s > 0 do\n"
    "    if s % 2 == 1 then\n"
    "      local t = per[b]\n"
    "      if not t then\n"
    "        t = {n = 0}\n"
    "        per[b] = t\n"
    "      end\n"
    "      local k = t.n\n"
    "      t[k + 1], t[k + 2], t[k + 3], t.n = lon, lat, id, k + 3\n"
    "    end\n"
    "    s = (s - s % 2) / 2\n"
    "    b = b + 1\n"
    "  end\n"
    "end\n"
    "for i = 1, #KEYS - NF do\n"
    "  local key, j = KEYS[NF + i], 3 * i\n"
    "  local s = call('HGET', key, 'ix')\n"
    "  if s then\n"
    "    local lat, lon, seen = ARGV[j - 2], ARGV[j - 1], ARGV[j]\n"
    "    local m = false\n"
    "    local z, gl, go = match(s, '^(%S+) %S+ (%S+) (%S+)$')\n"
    "    local sk\n"
    "    if z then\n"
    "      local a, o, c, d = lat + 0, lon + 0, gl + 0, go + 0\n"
    "      if a < LAT_FAR and a > -LAT_FAR and o < EDGE_LON and\n"
    "         o > -EDGE_LON and c < EDGE_LAT and c > -EDGE_LAT and\n"
    "         d < EDGE_LON and d > -EDGE_LON then\n"
    "        local dl = o - d\n"
    "        if dl < 0 then dl = -dl end\n"
    "        if dl > 180 then dl = 360 - dl end\n"
    "        local x, y = dl * cos((a + c) * HALF_RAD) * KM, (a - c) * KM\n"
    "        m = x * x + y * y > KEEP2\n"
    "      else\n"
    "        m = reindex(lat, lon, gl, go)\n"
    "      end\n"
    "    else\n"
    "      z, sk = match(s, '^(%S+) (%S+)$')\n"
    "      m = sk ~= '-'\n"
    "    end\n"
    "    local q, zn = seen + 0, tonumber(z)\n"
    "    local keep = zn and zn <= q and q < zn + SLACK and q < EXACT\n"
    "    if m or not keep then\n"
    "      local id = string.sub(key, ID0)\n"
    "      sk = sk or match(s, '^%S+ (%S+)')\n"
    "      if m == 'across' then unplace(id, sk) end\n"
    "      if m then\n"
    "        queue(id, sk, lat, lon)\n"
    "        gl, go = lat, lon\n"
    "      end\n"
    "      if not keep then\n"
    "        zs[nz + 1], zs[nz + 2], nz = seen, id, nz + 2\n"
    "        z = seen\n"
    "      end\n"
    "      local ix = z .. ' -'\n"
    "      if gl then ix = z .. ' ' .. sk .. ' ' .. gl .. ' ' .. go end\n"
    "      call('HSET', key, 'lat', lat, 'lon', lon, 'seen_ms', seen,\n"
    "        'has_position', '1', 'ix', ix)\n"
    "    else\n"
    "      call('HSET', key, 'lat', lat, 'lon', lon, 'seen_ms', seen)\n"
    "    end\n"
    "    moved = moved + 1\n"
    "    ids[moved] = key\n"
    "  end\n"
    "end\n"
    "for i = 1, moved do ids[i] = string.sub(ids[i], ID0) end\n"
    "changed(ids, moved)\n"
    "if nz > 0 then call('ZADD', KEYS[K_SEEN], unpack(zs, 1, nz)) end\n"
    "for b, t in pairs(per) do\n"
    "  call('GEOADD', KEYS[K_GEO0 + b], unpack(t, 1, t.n))\n"
    "end\n"
    "return moved\n";

static const struct {
  const char *name;
  const char *src;
} scripts[CM__RD_NSCRIPTS] = {
    {"upsert", upsert_src},        {"position", position_src},
    {"status", status_src},        {"remove", remove_src},
    {"sweep", sweep_src},          {"positions", positions_src},
    {"commit", cm__rd_commit_lua},
};

const char *cm__rd_script_name(int which) {
  return which >= 0 && which < CM__RD_NSCRIPTS ? scripts[which].name : "?";
}

typedef struct load_ctx {
  cm__rd_batch *b;
  cm_redis *r;
} load_ctx;

/* Reply to SCRIPT LOAD number i: the script's SHA1. */
static void on_loaded(void *vctx, size_t i, const redisReply *rep) {
  load_ctx *c = vctx;
  if (!cm__rd_check(c->b, rep, REDIS_REPLY_STRING, "SCRIPT LOAD"))
    return;
  if (i >= CM__RD_NSCRIPTS || rep->len != 40) {
    cm__rd_fail(c->b, CM_E_IO, "redis: SCRIPT LOAD answered no SHA1");
    return;
  }
  memcpy(c->r->sha[i], rep->str, 40);
  c->r->sha[i][40] = '\0';
}

cm_status cm__rd_scripts_load(cm_redis *r, cm_error *err) {
  cm__rd_batch b;
  cm__rd_argv a;
  load_ctx c = {&b, r};
  cm__rd_batch_init(&b, r, on_loaded, &c);
  cm__rd_argv_init(&a);
  for (int i = 0; i < CM__RD_NSCRIPTS; i++) {
    cm__rd_argv_str(&a, "SCRIPT");
    cm__rd_argv_str(&a, "LOAD");
    cm__rd_argv_str(&a, scripts[i].src);
    cm__rd_send(&b, &a);
  }
  cm__rd_argv_free(&a);
  return cm__rd_wait(&b, err);
}

void cm__rd_evalsha_begin(cm__rd_argv *a, const cm_redis *r, int which,
                          int n_hashes) {
  cm__rd_argv_str(a, "EVALSHA");
  cm__rd_argv_add(a, r->sha[which], 40);
  cm__rd_argv_fmt(a, "%d", CM__RD_NFIXED + n_hashes);
  for (int i = 0; i < CM__RD_NFIXED; i++)
    cm__rd_argv_add(a, r->keys.fixed[i], r->keys.fixed_len[i]);
}

cm_status cm__rd_scripted(cm_redis *r, cm__rd_attempt_fn fn, void *ctx,
                          cm_error *err) {
  int noscript = 0;
  cm_status st = fn(ctx, &noscript, err);
  /* the cache may be flushed again between the reload and the retry (a
     failover in progress, an operator's SCRIPT FLUSH): a few rounds */
  for (int round = 0; noscript && round < CM__RD_NOSCRIPT_ROUNDS; round++) {
    cm__rd_batch b; /* reload on the same connection, then once more */
    if ((st = cm__rd_begin(&b, r, NULL, NULL, err)) != CM_OK)
      return st;
    st = cm__rd_scripts_load(r, err);
    cm__rd_end(&b, NULL);
    if (st != CM_OK)
      return st;
    cm_error_clear(err);
    noscript = 0;
    st = fn(ctx, &noscript, err);
  }
  if (noscript)
    return cm_error_set(err, CM_E_IO, "",
                        "redis: the script cache was flushed %d times in a "
                        "row",
                        CM__RD_NOSCRIPT_ROUNDS + 1);
  return st;
}
