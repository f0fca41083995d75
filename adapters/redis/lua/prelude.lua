-- prelude.lua -- the Lua every script of a region starts with (the build
-- puts it in front of each script: redis_lua.h, cmake/embed_lua.cmake):
-- where the fixed keys are in KEYS, the off-grid and matchable rules, the
-- lag test, putting a worker into / taking it out of the sets of its
-- skills, the status a worker's jobs call for, and the change stream
-- mirrors follow.
--
-- KEYS[1 .. NF]: the region's fixed keys, in the order of redis_keys.h
--   (the numbers below; redis_lua.h asserts that C agrees), then the
--   hashes the script touches.
-- ARGV: the script's own; the last is always the writer's origin tag
--   (cm_redis.origin), so a mirror can skip the changes it made itself.
-- Set by the line the build puts in front (CM__RD_LUA_HEAD, from C):
--   LAG_KM (CM__RD_LAG_KM), SEEN_SLACK_MS (CM__RD_SEEN_SLACK_MS),
--   CHANGES_MAX (CM__RD_CHANGES_MAX, a string) and MAX_ELDERS
--   (CM_MAX_ELDERS).
--
-- The compact field ix (redis_worker.h), which every script keeps:
--   "<z> -"                      not eligible for the index (status not
--                                AVAILABLE or capacity <= 0);
--   "<z> <skills>"               eligible, without a position (z is "-");
--   "<z> <skills> <glat> <glon>" matchable, indexed at (glat, glon);
-- z is the worker's score in the seen set, "-" without a position.
local NF, K_SEEN, K_WORKERS, K_SEQ, K_OFFGRID, K_GEO0 = 40, 1, 2, 3, 4, 5
local K_LIVE, K_EVENTS, K_CHANGES, K_RSEQ = 37, 38, 39, 40
local ORIGIN = ARGV[#ARGV]
local call, tonumber, abs, cos = redis.call, tonumber, math.abs, math.cos
local match = string.match
local EDGE_LAT, EDGE_LON = 85.05112878 - 1e-6, 180 - 1e-6
local KM = math.pi / 180 * 6371.0088
local KEEP2 = (0.9 * LAG_KM) ^ 2
local SLACK, EXACT = SEEN_SLACK_MS, 2 ^ 53
local function offgrid(lat, lon)
  local a, o = tonumber(lat), tonumber(lon)
  return a ~= nil and (abs(a) > EDGE_LAT or abs(o) > EDGE_LON)
end
local function matchable(status, has_position, capacity)
  return status == '0' and has_position == '1' and
         tonumber(capacity) > 0
end
local function near(lat, lon, glat, glon)
  local a, c = tonumber(lat), tonumber(glat)
  if c == nil or abs(a) > 80 then return false end
  local dl = abs(tonumber(lon) - tonumber(glon))
  if dl > 180 then dl = 360 - dl end
  local x, y = dl * cos((a + c) * (math.pi / 360)) * KM, (a - c) * KM
  return x * x + y * y <= KEEP2
end
local function unplace(id, skills)
  call('SREM', KEYS[K_OFFGRID], id)
  local s, b = tonumber(skills) or 0, 0
  while s > 0 do
    if s % 2 == 1 then call('ZREM', KEYS[K_GEO0 + b], id) end
    s = (s - s % 2) / 2
    b = b + 1
  end
end
local function place(id, skills, lat, lon)
  if offgrid(lat, lon) then
    call('SADD', KEYS[K_OFFGRID], id)
    return
  end
  local s, b = tonumber(skills) or 0, 0
  while s > 0 do
    if s % 2 == 1 then call('GEOADD', KEYS[K_GEO0 + b], lon, lat, id) end
    s = (s - s % 2) / 2
    b = b + 1
  end
end
local function reindex(lat, lon, glat, glon)
  local was, now = offgrid(glat, glon), offgrid(lat, lon)
  if was ~= now then return 'across' end
  return not now and not near(lat, lon, glat, glon)
end
local function moves(h, lat, lon)
  if h[2] ~= '0' or tonumber(h[4]) <= 0 then return false end
  if h[3] ~= '1' then return true end
  return reindex(lat, lon, h[5], h[6])
end
local function ix_make(z, skills, status, has_position, capacity, glat,
                       glon)
  if status ~= '0' or tonumber(capacity) <= 0 then return z .. ' -' end
  if has_position ~= '1' then return z .. ' ' .. skills end
  return z .. ' ' .. skills .. ' ' .. glat .. ' ' .. glon
end
local function ix_read(ix)
  local z, _, a, o = match(ix, '^(%S+) (%S+) (%S+) (%S+)$')
  if z then return z, a, o end
  return match(ix, '^(%S+)')
end
local function seen_keeps(z, seen)
  local q, s = tonumber(seen), tonumber(z)
  return s ~= nil and s <= q and q < s + SLACK and q < EXACT
end
-- the status an on-shift worker's jobs call for (the ledger keeps jobs
-- and acc in the hash; without them a status stays as given)
local function derive(st, jobs, acc, capacity)
  if st == '3' or not jobs then return st end
  local j, a = tonumber(jobs), tonumber(acc) or 0
  if j < tonumber(capacity) then return '0' end
  if a >= j then return '2' end
  return '1'
end
-- a new status: the index and ix follow when matchability changes
local function set_status(key, id, skills, old, has_pos, cap, lat, lon,
                          ix, st)
  local was, now = matchable(old, has_pos, cap), matchable(st, has_pos, cap)
  local z, gl, go = ix_read(ix)
  if was and not now then
    unplace(id, skills)
  elseif now and not was then
    place(id, skills, lat, lon)
    gl, go = lat, lon
  end
  call('HSET', key, 'status', st,
    'ix', ix_make(z, skills, st, has_pos, cap, gl, go))
end
-- one entry of the change stream naming the workers in ids
local function changed(ids, n)
  if n == 0 then return end
  local a = {'XADD', KEYS[K_CHANGES], 'MAXLEN', '~', CHANGES_MAX, '*',
    'o', ORIGIN}
  for i = 1, n do
    a[#a + 1] = 'w'
    a[#a + 1] = ids[i]
  end
  call(unpack(a))
end
