-- upsert.lua -- insert or replace one worker (cm_store_upsert).
-- KEYS[NF+1]: the worker's hash.
-- ARGV: id, skills, status, has_position, lat, lon, seen_ms, capacity,
--   jobs_today, rating, level, elders (all validated by the caller; lat/lon
--   "0" without a position), origin.
-- A new worker gets the next sequence number in workers; a replaced one
-- keeps its own. The index is rebuilt at the exact position and the seen
-- score is seen_ms. ix, lat, lon and seen_ms go first: a new hash keeps its
-- fields in this order, and the positions script finds the first ones
-- fastest. An on-shift status follows the jobs the ledger counts, when it
-- counts any.
-- Returns 1 when the worker is new, 0 when replaced.
local key, id = KEYS[NF + 1], ARGV[1]
local h = call('HMGET', key, 'skills', 'jobs', 'acc')
local old = h[1]
if old then
  unplace(id, old)
else
  call('ZADD', KEYS[K_WORKERS], call('INCR', KEYS[K_SEQ]), id)
end
local st = derive(ARGV[3], h[2], h[3], ARGV[8])
local z = '-'
if ARGV[4] == '1' then z = ARGV[7] end
call('HSET', key, 'ix',
  ix_make(z, ARGV[2], st, ARGV[4], ARGV[8], ARGV[5], ARGV[6]),
  'lat', ARGV[5], 'lon', ARGV[6], 'seen_ms', ARGV[7], 'id', id,
  'skills', ARGV[2], 'status', st, 'has_position', ARGV[4],
  'capacity', ARGV[8], 'jobs_today', ARGV[9], 'rating', ARGV[10],
  'level', ARGV[11], 'elders', ARGV[12])
if ARGV[4] == '1' then
  call('ZADD', KEYS[K_SEEN], ARGV[7], id)
else
  call('ZREM', KEYS[K_SEEN], id)
end
if matchable(st, ARGV[4], ARGV[8]) then
  place(id, ARGV[2], ARGV[5], ARGV[6])
end
changed({id}, 1)
if old then return 0 end
return 1
