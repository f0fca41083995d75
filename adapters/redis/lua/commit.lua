-- commit.lua -- the ledger's commit script: request transitions, each
-- atomically with its preconditions (docs/ledger.md). One call carries a
-- group of changes, applied in order (a later change sees what an earlier
-- one did to a shared worker), so a batch's offers cost a few calls rather
-- than one each.
--
-- KEYS: the region's fixed keys, then for each change its request's hash
--   followed by the hash of each worker it touches.
-- ARGV: 1 keep_ms (a finished record expires after this; "0": never),
--   2 events kept in the stream (XADD MAXLEN ~), 3 m, the changes; then
--   for each change:
--     request id, expected version ("0": must not exist; "<v>@": v, and
--       the record created by this writer, its field org the origin: an
--       offer sent behind its request's create before the create's
--       answer came, refused when the create was), new version,
--     new state (0..6, cm_request_state: 5 awaiting_confirmation, 6
--     dismissed), live ("1" unfinished, "0" finished: done,
--     cancelled, dismissed; "2" unfinished and paired: applied only
--     together with the next change, a diversion, see below), the
--     record (JSON, redis_request.h),
--     n, the workers, then 6 values each: id, take (0/1; 2: takes even
--       when full, a diversion offer), give (0/1),
--       accept delta (-1/0/1), done (0/1), elder (hex, "" none),
--     e, the events, then 10 values each: type, worker, from, to, at_ms,
--       expires_ms, cost, actor ("" none: only operators' actions name
--       one, the audit trail), reason (a dismissal's: "false_alarm",
--       "duplicate", "other"; "" otherwise), to_worker (a
--       reassignment's named worker, "" none);
--   then the fence: "-" none, or "<epoch> <holder>", the region's lease
--   (lease.lua) as the writer holds it (epoch "0": it holds none); with
--   a fence the lease key (cm:{r}:lease) is the last of KEYS;
--   last: the writer's origin.
-- Every event carries the fence's epoch ("0": no fence, or none held),
-- so an offer names the lease period it was made in (the chaos judge,
-- bench/chaos_check.c, checks it against the stream's lease entries).
-- Preconditions of a change, all read before it writes anything (a script
-- that fails after a write is not rolled back):
--   - the request's version is the expected one (or it does not exist);
--     with "<v>@", its org is the writer's origin too;
--   - with a fence, a change in which a worker takes a job (an offer)
--     is made only while the lease key holds that epoch and holder: a
--     former holder (paused, cut off) can never offer after another took
--     the lease;
--   - every worker that takes a job exists, is on shift (status not 3) and
--     has jobs < capacity (take 2: any jobs);
--   - a pair (live "2" and the change after it): both changes' own
--     preconditions, all read before either writes; when one fails
--     neither is written and both answer its refusal (the diverted
--     job's expected version is how the engine checks that the worker
--     still holds it).
-- Returns one result per change: 1 when applied; {0, version} when the
-- request's version is not the expected one ("0": none); {-1, i, why}
-- when worker i (1-based) cannot take the job (why: "unknown", "offline",
-- "full"); {-2, "stale_epoch"} when the fence refused an offer.
local keep, evmax = ARGV[1], ARGV[2]
local FENCE, fenced, FEPOCH = ARGV[#ARGV - 1], false, '0'
if FENCE ~= '-' then
  local lease = call('GET', KEYS[#KEYS])
  local fe, fw = match(FENCE, '^(%d+) (.*)$')
  FEPOCH = fe or '0'
  local le, lw
  if lease then le, lw = match(lease, '^(%d+) %d+ (.*)$') end
  fenced = not le or le ~= fe or lw ~= fw
end
local touched, nt = {}, 0
-- one change's preconditions: request key kk, its arguments from ARGV[p];
-- nil, the current version and the workers read, or the refusal
local function pre(kk, p)
  local cur, want = call('HGET', KEYS[kk], 'ver'), ARGV[p + 1]
  local own = string.byte(want, -1) == 64 -- "<v>@"
  if own then want = string.sub(want, 1, -2) end
  if want == '0' then
    if cur then return {0, cur} end
  elseif cur ~= want then
    return {0, cur or '0'}
  elseif own and call('HGET', KEYS[kk], 'org') ~= ORIGIN then
    return {0, cur}
  end
  local nw, q, w = tonumber(ARGV[p + 6]), p + 7, {}
  for i = 1, nw do
    local t = {key = KEYS[kk + i], id = ARGV[q], take = ARGV[q + 1],
      give = ARGV[q + 2], acc = tonumber(ARGV[q + 3]),
      done = ARGV[q + 4], elder = ARGV[q + 5]}
    q = q + 6
    t.h = call('HMGET', t.key, 'skills', 'status', 'has_position',
      'capacity', 'lat', 'lon', 'jobs', 'acc', 'elders', 'ix')
    local h = t.h
    if t.take ~= '0' then
      if fenced then return {-2, 'stale_epoch'} end
      if not h[1] then return {-1, i, 'unknown'} end
      if h[2] == '3' then return {-1, i, 'offline'} end
      if t.take == '1' and (tonumber(h[7]) or 0) >= tonumber(h[4]) then
        return {-1, i, 'full'}
      end
    end
    w[i] = t
  end
  return nil, cur, w
end
-- one change whose preconditions hold (pre's cur and w): its writes
local function write(kk, p, cur, w)
  local req, rid = KEYS[kk], ARGV[p]
  local nw, q = tonumber(ARGV[p + 6]), p + 7 + 6 * tonumber(ARGV[p + 6])
  -- the request
  call('HSET', req, 'ver', ARGV[p + 2], 'state', ARGV[p + 3],
    'rec', ARGV[p + 5])
  if not cur then call('HSET', req, 'org', ORIGIN) end -- who created it
  if ARGV[p + 4] ~= '0' then
    if not cur then
      call('ZADD', KEYS[K_LIVE], call('INCR', KEYS[K_RSEQ]), rid)
    end
  else
    call('ZREM', KEYS[K_LIVE], rid)
    if keep ~= '0' then call('PEXPIRE', req, keep) end
  end
  -- the workers: jobs, acceptances, the status they call for
  for i = 1, nw do
    local t = w[i]
    local h = t.h
    if h[1] then
      local jobs, acc = tonumber(h[7]) or 0, tonumber(h[8]) or 0
      if t.take ~= '0' then jobs = jobs + 1 end
      if t.give == '1' and jobs > 0 then jobs = jobs - 1 end
      acc = acc + t.acc
      if acc > jobs then acc = jobs end
      if acc < 0 then acc = 0 end
      call('HSET', t.key, 'jobs', jobs, 'acc', acc)
      if t.done == '1' then
        call('HINCRBY', t.key, 'jobs_today', 1)
        if t.elder ~= '' then
          local list, known = {}, false
          for x in string.gmatch(h[9] or '', '[^,]+') do
            list[#list + 1] = x
            if x == t.elder then known = true end
          end
          if not known then
            if #list >= MAX_ELDERS then
              table.remove(list, 1)
            end
            list[#list + 1] = t.elder
            call('HSET', t.key, 'elders', table.concat(list, ','))
          end
        end
      end
      local st = derive(h[2], jobs, acc, h[4])
      if st ~= h[2] then
        set_status(t.key, t.id, h[1], h[2], h[3], h[4], h[5], h[6],
          h[10], st)
      end
      nt = nt + 1
      touched[nt] = t.id
    end
  end
  -- the events
  local ne = tonumber(ARGV[q])
  q = q + 1
  for i = 1, ne do
    call('XADD', KEYS[K_EVENTS], 'MAXLEN', '~', evmax, '*',
      'type', ARGV[q], 'request', rid, 'worker', ARGV[q + 1],
      'from', ARGV[q + 2], 'to', ARGV[q + 3], 'at_ms', ARGV[q + 4],
      'expires_ms', ARGV[q + 5], 'cost', ARGV[q + 6], 'origin', ORIGIN,
      'epoch', FEPOCH, 'actor', ARGV[q + 7], 'reason', ARGV[q + 8],
      'to_worker', ARGV[q + 9])
    q = q + 10
  end
  return 1
end
local function apply(kk, p)
  local no, cur, w = pre(kk, p)
  if no then return no end
  return write(kk, p, cur, w)
end
local out, ps, ks, p, kk, m = {}, {}, {}, 4, NF + 1, tonumber(ARGV[3])
for c = 1, m do
  local nw = tonumber(ARGV[p + 6])
  local ne = tonumber(ARGV[p + 7 + 6 * nw])
  ps[c], ks[c] = p, kk
  p = p + 8 + 6 * nw + 10 * ne
  kk = kk + 1 + nw
end
local c = 1
while c <= m do
  if ARGV[ps[c] + 4] == '2' and c < m then -- a pair: both or neither
    local no1, cur1, w1 = pre(ks[c], ps[c])
    local no2 = pre(ks[c + 1], ps[c + 1])
    if no1 or no2 then
      out[c], out[c + 1] = no1 or no2, no2 or no1
    else
      out[c] = write(ks[c], ps[c], cur1, w1)
      -- read again after the first's writes (it only gives: this holds)
      out[c + 1] = apply(ks[c + 1], ps[c + 1])
    end
    c = c + 2
  else
    out[c] = apply(ks[c], ps[c])
    c = c + 1
  end
end
changed(touched, nt)
return out
