/* redis_lua.h -- the Lua every script of a region starts with: where the
 * fixed keys are in KEYS, the off-grid and matchable rules, the lag test,
 * putting a worker into / taking it out of the sets of its skills, the
 * status a worker's jobs call for, and the change stream mirrors follow.
 *
 * Every script's last ARGV is the writer's origin tag (cm_redis.origin),
 * so a mirror can skip the changes it made itself. */
#ifndef CM_REDIS_LUA_H_INCLUDED_
#define CM_REDIS_LUA_H_INCLUDED_

#include "redis_geo.h"
#include "redis_keys.h"
#include "redis_scripts.h"

_Static_assert(CM__RD_NFIXED == 40, "the Lua prelude hard-codes NF = 40");
_Static_assert(CM__RD_K_GEO0 == 4, "the Lua prelude hard-codes K_GEO0");
_Static_assert(CM__RD_K_LIVE == 36, "the Lua prelude hard-codes K_LIVE");

#define CM__RD_STR_(x) #x
#define CM__RD_STR(x) CM__RD_STR_(x)

/* Entries the change stream keeps (about: XADD MAXLEN ~). */
#define CM__RD_CHANGES_MAX 100000

/* clang-format off */
/* The compact field ix (redis_worker.h), which every script keeps:
 *   "<z> -"                      not eligible for the index (status not
 *                                AVAILABLE or capacity <= 0);
 *   "<z> <skills>"               eligible, without a position (z is "-");
 *   "<z> <skills> <glat> <glon>" matchable, indexed at (glat, glon);
 * z is the worker's score in the seen set, "-" without a position. */
#define CM__RD_PRELUDE \
  "local NF, K_SEEN, K_WORKERS, K_SEQ, K_OFFGRID, K_GEO0 = 40, 1, 2, 3, 4, 5\n" \
  "local K_LIVE, K_EVENTS, K_CHANGES, K_RSEQ = 37, 38, 39, 40\n"             \
  "local ORIGIN = ARGV[#ARGV]\n"                                                \
  "local call, tonumber, abs, cos = redis.call, tonumber, math.abs, math.cos\n" \
  "local match = string.match\n"                                                \
  "local EDGE_LAT, EDGE_LON = 85.05112878 - 1e-6, 180 - 1e-6\n"                 \
  "local KM = math.pi / 180 * 6371.0088\n"                                      \
  "local KEEP2 = (0.9 * " CM__RD_STR(CM__RD_LAG_KM) ") ^ 2\n"                          \
  "local SLACK, EXACT = " CM__RD_STR(CM__RD_SEEN_SLACK_MS) ", 2 ^ 53\n"                \
  "local function offgrid(lat, lon)\n"                                          \
  "  local a, o = tonumber(lat), tonumber(lon)\n"                               \
  "  return a ~= nil and (abs(a) > EDGE_LAT or abs(o) > EDGE_LON)\n"            \
  "end\n"                                                                       \
  "local function matchable(status, has_position, capacity)\n"                  \
  "  return status == '0' and has_position == '1' and\n"                        \
  "         tonumber(capacity) > 0\n"                                           \
  "end\n"                                                                       \
  "local function near(lat, lon, glat, glon)\n"                                 \
  "  local a, c = tonumber(lat), tonumber(glat)\n"                              \
  "  if c == nil or abs(a) > 80 then return false end\n"                        \
  "  local dl = abs(tonumber(lon) - tonumber(glon))\n"                          \
  "  if dl > 180 then dl = 360 - dl end\n"                                      \
  "  local x, y = dl * cos((a + c) * (math.pi / 360)) * KM, (a - c) * KM\n"     \
  "  return x * x + y * y <= KEEP2\n"                                           \
  "end\n"                                                                       \
  "local function unplace(id, skills)\n"                                        \
  "  call('SREM', KEYS[K_OFFGRID], id)\n"                                       \
  "  local s, b = tonumber(skills) or 0, 0\n"                                   \
  "  while s > 0 do\n"                                                          \
  "    if s % 2 == 1 then call('ZREM', KEYS[K_GEO0 + b], id) end\n"             \
  "    s = (s - s % 2) / 2\n"                                                   \
  "    b = b + 1\n"                                                             \
  "  end\n"                                                                     \
  "end\n"                                                                       \
  "local function place(id, skills, lat, lon)\n"                                \
  "  if offgrid(lat, lon) then\n"                                               \
  "    call('SADD', KEYS[K_OFFGRID], id)\n"                                     \
  "    return\n"                                                                \
  "  end\n"                                                                     \
  "  local s, b = tonumber(skills) or 0, 0\n"                                   \
  "  while s > 0 do\n"                                                          \
  "    if s % 2 == 1 then call('GEOADD', KEYS[K_GEO0 + b], lon, lat, id) end\n" \
  "    s = (s - s % 2) / 2\n"                                                   \
  "    b = b + 1\n"                                                             \
  "  end\n"                                                                     \
  "end\n"                                                                       \
  "local function reindex(lat, lon, glat, glon)\n"                              \
  "  local was, now = offgrid(glat, glon), offgrid(lat, lon)\n"                 \
  "  if was ~= now then return 'across' end\n"                                  \
  "  return not now and not near(lat, lon, glat, glon)\n"                       \
  "end\n"                                                                       \
  "local function moves(h, lat, lon)\n"                                         \
  "  if h[2] ~= '0' or tonumber(h[4]) <= 0 then return false end\n"             \
  "  if h[3] ~= '1' then return true end\n"                                     \
  "  return reindex(lat, lon, h[5], h[6])\n"                                    \
  "end\n"                                                                       \
  "local function ix_make(z, skills, status, has_position, capacity, glat,\n"   \
  "                       glon)\n"                                              \
  "  if status ~= '0' or tonumber(capacity) <= 0 then return z .. ' -' end\n"   \
  "  if has_position ~= '1' then return z .. ' ' .. skills end\n"               \
  "  return z .. ' ' .. skills .. ' ' .. glat .. ' ' .. glon\n"                 \
  "end\n"                                                                       \
  "local function ix_read(ix)\n"                                                \
  "  local z, _, a, o = match(ix, '^(%S+) (%S+) (%S+) (%S+)$')\n"               \
  "  if z then return z, a, o end\n"                                            \
  "  return match(ix, '^(%S+)')\n"                                              \
  "end\n"                                                                       \
  "local function seen_keeps(z, seen)\n"                                        \
  "  local q, s = tonumber(seen), tonumber(z)\n"                                \
  "  return s ~= nil and s <= q and q < s + SLACK and q < EXACT\n"              \
  "end\n" \
  /* the status an on-shift worker's jobs call for (the ledger keeps       \
     jobs and acc in the hash; without them a status stays as given) */    \
  "local function derive(st, jobs, acc, capacity)\n"                           \
  "  if st == '3' or not jobs then return st end\n"                            \
  "  local j, a = tonumber(jobs), tonumber(acc) or 0\n"                        \
  "  if j < tonumber(capacity) then return '0' end\n"                          \
  "  if a >= j then return '2' end\n"                                          \
  "  return '1'\n"                                                             \
  "end\n"                                                                      \
  /* a new status: the index and ix follow when matchability changes */   \
  "local function set_status(key, id, skills, old, has_pos, cap, lat, lon,\n"  \
  "                          ix, st)\n"                                        \
  "  local was, now = matchable(old, has_pos, cap), matchable(st, has_pos, cap)\n"\
  "  local z, gl, go = ix_read(ix)\n"                                          \
  "  if was and not now then\n"                                                \
  "    unplace(id, skills)\n"                                                  \
  "  elseif now and not was then\n"                                            \
  "    place(id, skills, lat, lon)\n"                                          \
  "    gl, go = lat, lon\n"                                                    \
  "  end\n"                                                                    \
  "  call('HSET', key, 'status', st,\n"                                        \
  "    'ix', ix_make(z, skills, st, has_pos, cap, gl, go))\n"                  \
  "end\n"                                                                      \
  /* one entry of the change stream naming the workers in ids */           \
  "local function changed(ids, n)\n"                                           \
  "  if n == 0 then return end\n"                                              \
  "  local a = {'XADD', KEYS[K_CHANGES], 'MAXLEN', '~', '"                     \
  CM__RD_STR(CM__RD_CHANGES_MAX) "', '*', 'o', ORIGIN}\n"                      \
  "  for i = 1, n do\n"                                                        \
  "    a[#a + 1] = 'w'\n"                                                      \
  "    a[#a + 1] = ids[i]\n"                                                   \
  "  end\n"                                                                    \
  "  call(unpack(a))\n"                                                        \
  "end\n"
/* clang-format on */

#endif
