-- position.lua -- move one worker (cm_store_position).
-- KEYS[NF+1]: the worker's hash.
-- ARGV: id, lat, lon, seen_ms (valid), origin.
-- The index moves only when the worker has gone past the lag (prelude's
-- reindex); the seen score only when seen_keeps says it may not stay.
-- Returns 0 when the worker is unknown (nothing changed), else 1.
local key, id, lat, lon, seen = KEYS[NF + 1], ARGV[1], ARGV[2], ARGV[3],
  ARGV[4]
local h = call('HMGET', key, 'skills', 'status', 'has_position',
  'capacity', 'ix')
if not h[1] then return 0 end
local z, gl, go = ix_read(h[5])
h[5], h[6] = gl, go
local m = moves(h, lat, lon)
if m == 'across' then unplace(id, h[1]) end
if m then
  place(id, h[1], lat, lon)
  gl, go = lat, lon
end
if not seen_keeps(z, seen) then
  call('ZADD', KEYS[K_SEEN], seen, id)
  z = seen
end
call('HSET', key, 'lat', lat, 'lon', lon, 'seen_ms', seen,
  'has_position', '1', 'ix', ix_make(z, h[1], h[2], '1', h[4], gl, go))
changed({id}, 1)
return 1
