-- status.lua -- change one worker's status (cm_store_status).
-- KEYS[NF+1]: the worker's hash.
-- ARGV: id, status ("0".."3"), origin.
-- An on-shift status follows the jobs the ledger counts, when it counts
-- any. A worker that becomes matchable is indexed at its exact position.
-- Returns 0 when the worker is unknown, else 1.
local key, id = KEYS[NF + 1], ARGV[1]
local h = call('HMGET', key, 'skills', 'status', 'has_position',
  'capacity', 'lat', 'lon', 'ix', 'jobs', 'acc')
if not h[1] then return 0 end
local st = derive(ARGV[2], h[8], h[9], h[4])
if h[2] == st then return 1 end
set_status(key, id, h[1], h[2], h[3], h[4], h[5], h[6], h[7], st)
changed({id}, 1)
return 1
