-- remove.lua -- forget one worker (cm_store_remove): out of every set,
-- its hash deleted.
-- KEYS[NF+1]: the worker's hash.
-- ARGV: id, origin.
-- Returns 0 when the worker is unknown, else 1.
local key, id = KEYS[NF + 1], ARGV[1]
local skills = call('HGET', key, 'skills')
if not skills then return 0 end
unplace(id, skills)
call('ZREM', KEYS[K_SEEN], id)
call('ZREM', KEYS[K_WORKERS], id)
call('DEL', key)
changed({id}, 1)
return 1
