-- sweep.lua -- mark stale available workers offline (cm_store_sweep).
-- KEYS[NF+i]: candidate hashes (from the seen set).
-- ARGV[1]: the limit L, a positive decimal; ARGV[1+i]: the candidates'
--   ids; last: origin.
-- Marks OFFLINE every candidate still AVAILABLE with a position seen
-- before L (seen_ms < L, compared exactly as decimal strings: Lua numbers
-- are doubles).
-- Returns how many.
local limit = ARGV[1]
local function older(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
local n, ids = 0, {}
for i = 1, #KEYS - NF do
  local key, id = KEYS[NF + i], ARGV[1 + i]
  local h = call('HMGET', key, 'status', 'has_position', 'seen_ms',
    'skills', 'ix')
  if h[1] == '0' and h[2] == '1' and h[3] and older(h[3], limit) then
    call('HSET', key, 'status', '3', 'ix', ix_read(h[5]) .. ' -')
    unplace(id, h[4])
    n = n + 1
    ids[n] = id
  end
end
changed(ids, n)
return n
