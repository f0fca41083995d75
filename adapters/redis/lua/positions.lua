-- positions.lua -- move a chunk of workers (cm_store_redis_positions).
-- KEYS[NF+i]: worker hashes, none twice (the caller starts a new chunk
--   where an id repeats, so the later position wins without any
--   bookkeeping here).
-- ARGV[3i-2 .. 3i]: lat, lon, seen_ms of worker i (valid); last: origin.
--   The id is the hash's name after the prefix, needed only when a set
--   changes.
-- Moves every known worker (an unknown one is skipped). The common case, a
-- matchable worker on the grid that stays within the lag and whose seen
-- score may stay, costs one HGET of ix and one HSET of three fields: the
-- lag test is reindex() inlined and seen_keeps() too, on numbers parsed
-- once (Lua's tonumber parses a string twice), and ix is matched for the
-- three values they need (string.match costs ~0.2 us per capture here).
-- The seen set and the GEO sets get one command each per chunk.
-- Returns how many moved.
local ID0 = #KEYS[K_SEQ] - #'seq' + #'worker:' + 1
local HALF_RAD, LAT_FAR = math.pi / 360, 80
local zs, nz, per, moved, ids = {}, 0, {}, 0, {}
local function queue(id, skills, lat, lon)
  if offgrid(lat, lon) then
    call('SADD', KEYS[K_OFFGRID], id)
    return
  end
  local s, b = tonumber(skills), 0
  while s > 0 do
    if s % 2 == 1 then
      local t = per[b]
      if not t then
        t = {n = 0}
        per[b] = t
      end
      local k = t.n
      t[k + 1], t[k + 2], t[k + 3], t.n = lon, lat, id, k + 3
    end
    s = (s - s % 2) / 2
    b = b + 1
  end
end
for i = 1, #KEYS - NF do
  local key, j = KEYS[NF + i], 3 * i
  local s = call('HGET', key, 'ix')
  if s then
    local lat, lon, seen = ARGV[j - 2], ARGV[j - 1], ARGV[j]
    local m = false
    local z, gl, go = match(s, '^(%S+) %S+ (%S+) (%S+)$')
    local sk
    if z then
      local a, o, c, d = lat + 0, lon + 0, gl + 0, go + 0
      if a < LAT_FAR and a > -LAT_FAR and o < EDGE_LON and
         o > -EDGE_LON and c < EDGE_LAT and c > -EDGE_LAT and
         d < EDGE_LON and d > -EDGE_LON then
        local dl = o - d
        if dl < 0 then dl = -dl end
        if dl > 180 then dl = 360 - dl end
        local x, y = dl * cos((a + c) * HALF_RAD) * KM, (a - c) * KM
        m = x * x + y * y > KEEP2
      else
        m = reindex(lat, lon, gl, go)
      end
    else
      z, sk = match(s, '^(%S+) (%S+)$')
      m = sk ~= '-'
    end
    local q, zn = seen + 0, tonumber(z)
    local keep = zn and zn <= q and q < zn + SLACK and q < EXACT
    if m or not keep then
      local id = string.sub(key, ID0)
      sk = sk or match(s, '^%S+ (%S+)')
      if m == 'across' then unplace(id, sk) end
      if m then
        queue(id, sk, lat, lon)
        gl, go = lat, lon
      end
      if not keep then
        zs[nz + 1], zs[nz + 2], nz = seen, id, nz + 2
        z = seen
      end
      local ix = z .. ' -'
      if gl then ix = z .. ' ' .. sk .. ' ' .. gl .. ' ' .. go end
      call('HSET', key, 'lat', lat, 'lon', lon, 'seen_ms', seen,
        'has_position', '1', 'ix', ix)
    else
      call('HSET', key, 'lat', lat, 'lon', lon, 'seen_ms', seen)
    end
    moved = moved + 1
    ids[moved] = key
  end
end
for i = 1, moved do ids[i] = string.sub(ids[i], ID0) end
changed(ids, moved)
if nz > 0 then call('ZADD', KEYS[K_SEEN], unpack(zs, 1, nz)) end
for b, t in pairs(per) do
  call('GEOADD', KEYS[K_GEO0 + b], unpack(t, 1, t.n))
end
return moved
