-- lease.lua -- a region's lease (docs/ha.md): which daemon runs the
-- region's batches. The lease is one string key, "<epoch> <since_ms>
-- <holder>", set with PX ttl: it vanishes when its holder stops renewing.
-- Every new acquisition takes the next value of the epoch counter, the
-- fencing token the commit script checks before an offer (commit.lua), so
-- an epoch names exactly one holding period of one daemon.
--
-- KEYS: 1 the lease (cm:{r}:lease), 2 the epoch counter
--   (cm:{r}:lease_epoch), 3 the ledger's counter of submissions
--   (cm:{r}:rseq, read only), 4 the event stream (cm:{r}:events), 5 the
--   wish of a daemon that prefers the region (cm:{r}:lease_want, with a
--   TTL); all in the region's hash slot.
-- ARGV: 1 what: "hold" (acquire when free, renew when ours), "want" (hold,
--   and when another holds it, ask for it: the wish, for ttl), "release"
--   (delete when ours), "get" (read only); 2 the holder's name; 3 ttl in
--   ms; 4 the holder's clock in ms (kept as since_ms, shown only); last:
--   the writer's origin.
-- Returns {code, holder, epoch, since_ms, submissions, wanted_by,
-- pttl_ms}: code 2
-- acquired now (a new epoch), 1 held by the caller (renewed or released),
-- 0 not the caller's (holder "" when nobody holds it; epoch "0" then);
-- submissions, the region's requests submitted so far (a holder that
-- sees more than its own rebuilds to adopt the others': docs/ha.md);
-- wanted_by, a daemon other than the holder that prefers the region and
-- asked for it within the last ttl ("" none): a holder that does not
-- prefer the region hands it back (docs/ha.md, "Hand-back"); pttl_ms,
-- the ms the lease had left when the script read it (-2 nobody held it):
-- a standby aims its next attempt at the expiry instead of waiting for
-- its next renewal period (docs/ha.md, "Standbys and takeover").
-- An acquisition also appends a "lease" entry (epoch, holder) to the event
-- stream, in the same step, so the stream orders every offer after the
-- acquisition of the epoch it carries (commit.lua): the chaos judge checks
-- that each offer's epoch is the latest acquisition's.
local lk, ek, wk = KEYS[1], KEYS[2], KEYS[5]
local what, me, ttl, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local cur = call('GET', lk)
local subs = call('GET', KEYS[3]) or '0'
local ep, since, who = '0', '0', ''
if cur then
  ep, since, who = match(cur, '^(%d+) (%d+) (.*)$')
  if not ep then ep, since, who = '0', '0', '' end
end
local pttl = cur and call('PTTL', lk) or -2
local wanted = call('GET', wk) or ''
if wanted == who then wanted = '' end
if what == 'get' then return {0, who, ep, since, subs, wanted, pttl} end
if what == 'release' then
  if cur and who == me then
    call('DEL', lk)
    return {1, me, ep, since, subs, wanted, pttl}
  end
  return {0, who, ep, since, subs, wanted, pttl}
end
if cur and who == me then
  call('SET', lk, cur, 'PX', ttl)
  return {1, me, ep, since, subs, wanted, pttl}
end
if cur then
  if what == 'want' then
    call('SET', wk, me, 'PX', ttl)
    wanted = me
  end
  return {0, who, ep, since, subs, wanted, pttl}
end
ep = tostring(call('INCR', ek))
call('SET', lk, ep .. ' ' .. now .. ' ' .. me, 'PX', ttl)
if wanted == me then
  call('DEL', wk)
  wanted = ''
end
call('XADD', KEYS[4], '*', 'type', 'lease', 'epoch', ep, 'holder', me,
  'at_ms', now, 'origin', ORIGIN)
return {2, me, ep, now, subs, wanted, pttl}
