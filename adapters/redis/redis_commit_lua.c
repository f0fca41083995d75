/* redis_commit_lua.c -- the ledger's commit script: request transitions,
 * each atomically with its preconditions (docs/ledger.md). One call
 * carries a group of changes, applied in order (a later change sees what
 * an earlier one did to a shared worker), so a batch's offers cost a few
 * calls rather than one each.
 *
 * KEYS: the region's fixed keys, then for each change its request's hash
 * followed by the hash of each worker it touches.
 * ARGV: 1 keep_ms (a finished record expires after this; "0": never),
 *   2 events kept in the stream (XADD MAXLEN ~), 3 m, the changes; then
 *   for each change:
 *     request id, expected version ("0": must not exist), new version,
 *     new state (0..4, cm_request_state), live ("1" unfinished, "0"
 *     finished), the record (JSON, redis_request.h),
 *     n, the workers, then 6 values each: id, take (0/1), give (0/1),
 *       accept delta (-1/0/1), done (0/1), elder (hex, "" none),
 *     e, the events, then 7 values each: type, worker, from, to, at_ms,
 *       expires_ms, cost;
 *   last: the writer's origin.
 * Preconditions of a change, all read before it writes anything (a script
 * that fails after a write is not rolled back):
 *   - the request's version is the expected one (or it does not exist);
 *   - every worker that takes a job exists, is on shift (status not 3) and
 *     has jobs < capacity.
 * Returns one result per change: 1 when applied; {0, version} when the
 * request's version is not the expected one ("0": none); {-1, i, why}
 * when worker i (1-based) cannot take the job (why: "unknown", "offline",
 * "full"). */
#include "redis_lua.h"
#include "redis_scripts.h"

/* clang-format off */
const char cm__rd_commit_lua[] = CM__RD_PRELUDE
  "local keep, evmax = ARGV[1], ARGV[2]\n"
  "local touched, nt = {}, 0\n"
  /* one change: request key kk, its arguments from ARGV[p] */
  "local function apply(kk, p)\n"
  "  local req, rid = KEYS[kk], ARGV[p]\n"
  "  local cur = call('HGET', req, 'ver')\n"
  "  if ARGV[p + 1] == '0' then\n"
  "    if cur then return {0, cur} end\n"
  "  elseif cur ~= ARGV[p + 1] then\n"
  "    return {0, cur or '0'}\n"
  "  end\n"
  "  local nw, q, w = tonumber(ARGV[p + 6]), p + 7, {}\n"
  "  for i = 1, nw do\n"
  "    local t = {key = KEYS[kk + i], id = ARGV[q], take = ARGV[q + 1],\n"
  "      give = ARGV[q + 2], acc = tonumber(ARGV[q + 3]),\n"
  "      done = ARGV[q + 4], elder = ARGV[q + 5]}\n"
  "    q = q + 6\n"
  "    t.h = call('HMGET', t.key, 'skills', 'status', 'has_position',\n"
  "      'capacity', 'lat', 'lon', 'jobs', 'acc', 'elders', 'ix')\n"
  "    local h = t.h\n"
  "    if t.take == '1' then\n"
  "      if not h[1] then return {-1, i, 'unknown'} end\n"
  "      if h[2] == '3' then return {-1, i, 'offline'} end\n"
  "      if (tonumber(h[7]) or 0) >= tonumber(h[4]) then\n"
  "        return {-1, i, 'full'}\n"
  "      end\n"
  "    end\n"
  "    w[i] = t\n"
  "  end\n"
  /* the request */
  "  call('HSET', req, 'ver', ARGV[p + 2], 'state', ARGV[p + 3],\n"
  "    'rec', ARGV[p + 5])\n"
  "  if ARGV[p + 4] == '1' then\n"
  "    if not cur then\n"
  "      call('ZADD', KEYS[K_LIVE], call('INCR', KEYS[K_RSEQ]), rid)\n"
  "    end\n"
  "  else\n"
  "    call('ZREM', KEYS[K_LIVE], rid)\n"
  "    if keep ~= '0' then call('PEXPIRE', req, keep) end\n"
  "  end\n"
  /* the workers: jobs, acceptances, the status they call for */
  "  for i = 1, nw do\n"
  "    local t = w[i]\n"
  "    local h = t.h\n"
  "    if h[1] then\n"
  "      local jobs, acc = tonumber(h[7]) or 0, tonumber(h[8]) or 0\n"
  "      if t.take == '1' then jobs = jobs + 1 end\n"
  "      if t.give == '1' and jobs > 0 then jobs = jobs - 1 end\n"
  "      acc = acc + t.acc\n"
  "      if acc > jobs then acc = jobs end\n"
  "      if acc < 0 then acc = 0 end\n"
  "      call('HSET', t.key, 'jobs', jobs, 'acc', acc)\n"
  "      if t.done == '1' then\n"
  "        call('HINCRBY', t.key, 'jobs_today', 1)\n"
  "        if t.elder ~= '' then\n"
  "          local list, known = {}, false\n"
  "          for x in string.gmatch(h[9] or '', '[^,]+') do\n"
  "            list[#list + 1] = x\n"
  "            if x == t.elder then known = true end\n"
  "          end\n"
  "          if not known then\n"
  "            if #list >= " CM__RD_STR(CM_MAX_ELDERS) " then\n"
  "              table.remove(list, 1)\n"
  "            end\n"
  "            list[#list + 1] = t.elder\n"
  "            call('HSET', t.key, 'elders', table.concat(list, ','))\n"
  "          end\n"
  "        end\n"
  "      end\n"
  "      local st = derive(h[2], jobs, acc, h[4])\n"
  "      if st ~= h[2] then\n"
  "        set_status(t.key, t.id, h[1], h[2], h[3], h[4], h[5], h[6],\n"
  "          h[10], st)\n"
  "      end\n"
  "      nt = nt + 1\n"
  "      touched[nt] = t.id\n"
  "    end\n"
  "  end\n"
  /* the events */
  "  local ne = tonumber(ARGV[q])\n"
  "  q = q + 1\n"
  "  for i = 1, ne do\n"
  "    call('XADD', KEYS[K_EVENTS], 'MAXLEN', '~', evmax, '*',\n"
  "      'type', ARGV[q], 'request', rid, 'worker', ARGV[q + 1],\n"
  "      'from', ARGV[q + 2], 'to', ARGV[q + 3], 'at_ms', ARGV[q + 4],\n"
  "      'expires_ms', ARGV[q + 5], 'cost', ARGV[q + 6], 'origin', ORIGIN)\n"
  "    q = q + 7\n"
  "  end\n"
  "  return 1\n"
  "end\n"
  "local out, p, kk = {}, 4, NF + 1\n"
  "for c = 1, tonumber(ARGV[3]) do\n"
  "  local nw = tonumber(ARGV[p + 6])\n"
  "  local ne = tonumber(ARGV[p + 7 + 6 * nw])\n"
  "  out[c] = apply(kk, p)\n"
  "  p = p + 8 + 6 * nw + 7 * ne\n"
  "  kk = kk + 1 + nw\n"
  "end\n"
  "changed(touched, nt)\n"
  "return out\n";
/* clang-format on */
