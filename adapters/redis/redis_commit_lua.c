/* redis_commit_lua.c -- the ledger's commit script: one request
 * transition, atomically, with its preconditions (docs/ledger.md).
 *
 * KEYS: the region's fixed keys, then the request's hash, then the hash of
 * each worker the transition touches.
 * ARGV:
 *   1 request id          2 expected version ("0": must not exist)
 *   3 new version         4 new state (0..4, cm_request_state)
 *   5 live ("1": unfinished, "0": finished)
 *   6 the record (JSON, redis_request.h)
 *   7 keep_ms: a finished record expires after this ("0": never)
 *   8 events kept in the stream (XADD MAXLEN ~)
 *   9 n, the workers; then 6 values each: id, take (0/1), give (0/1),
 *     accept delta (-1/0/1), done (0/1), elder (hex, "" none)
 *   then m, the events; then 7 values each: type, worker, from, to, at_ms,
 *     expires_ms, cost
 *   last: the writer's origin.
 * Preconditions, all read before anything is written (a script that fails
 * after a write is not rolled back):
 *   - the request's version is the expected one (or it does not exist);
 *   - every worker that takes a job exists, is on shift (status not 3) and
 *     has jobs < capacity.
 * Returns {1} when applied; {0, version} when the request's version is
 * not the expected one ("0": none); {-1, i, why} when worker i (1-based)
 * cannot take the job (why: "unknown", "offline", "full"). */
#include "redis_lua.h"
#include "redis_scripts.h"

/* clang-format off */
const char cm__rd_commit_lua[] = CM__RD_PRELUDE
  "local req, rid = KEYS[NF + 1], ARGV[1]\n"
  "local cur = call('HGET', req, 'ver')\n"
  "if ARGV[2] == '0' then\n"
  "  if cur then return {0, cur} end\n"
  "elseif cur ~= ARGV[2] then\n"
  "  return {0, cur or '0'}\n"
  "end\n"
  "local nw, p, w = tonumber(ARGV[9]), 10, {}\n"
  "for i = 1, nw do\n"
  "  local t = {key = KEYS[NF + 1 + i], id = ARGV[p], take = ARGV[p + 1],\n"
  "    give = ARGV[p + 2], acc = tonumber(ARGV[p + 3]), done = ARGV[p + 4],\n"
  "    elder = ARGV[p + 5]}\n"
  "  p = p + 6\n"
  "  t.h = call('HMGET', t.key, 'skills', 'status', 'has_position',\n"
  "    'capacity', 'lat', 'lon', 'jobs', 'acc', 'elders')\n"
  "  local h = t.h\n"
  "  if t.take == '1' then\n"
  "    if not h[1] then return {-1, i, 'unknown'} end\n"
  "    if h[2] == '3' then return {-1, i, 'offline'} end\n"
  "    if (tonumber(h[7]) or 0) >= tonumber(h[4]) then\n"
  "      return {-1, i, 'full'}\n"
  "    end\n"
  "  end\n"
  "  w[i] = t\n"
  "end\n"
  /* the request */
  "call('HSET', req, 'ver', ARGV[3], 'state', ARGV[4], 'rec', ARGV[6])\n"
  "if ARGV[5] == '1' then\n"
  "  if not cur then\n"
  "    call('ZADD', KEYS[K_LIVE], call('INCR', KEYS[K_RSEQ]), rid)\n"
  "  end\n"
  "else\n"
  "  call('ZREM', KEYS[K_LIVE], rid)\n"
  "  if ARGV[7] ~= '0' then call('PEXPIRE', req, ARGV[7]) end\n"
  "end\n"
  /* the workers: jobs, acceptances, the status they call for */
  "local touched, nt = {}, 0\n"
  "for i = 1, nw do\n"
  "  local t = w[i]\n"
  "  local h = t.h\n"
  "  if h[1] then\n"
  "    local jobs, acc = tonumber(h[7]) or 0, tonumber(h[8]) or 0\n"
  "    if t.take == '1' then jobs = jobs + 1 end\n"
  "    if t.give == '1' and jobs > 0 then jobs = jobs - 1 end\n"
  "    acc = acc + t.acc\n"
  "    if acc > jobs then acc = jobs end\n"
  "    if acc < 0 then acc = 0 end\n"
  "    call('HSET', t.key, 'jobs', jobs, 'acc', acc)\n"
  "    if t.done == '1' then\n"
  "      call('HINCRBY', t.key, 'jobs_today', 1)\n"
  "      if t.elder ~= '' then\n"
  "        local list, known = {}, false\n"
  "        for x in string.gmatch(h[9] or '', '[^,]+') do\n"
  "          list[#list + 1] = x\n"
  "          if x == t.elder then known = true end\n"
  "        end\n"
  "        if not known then\n"
  "          if #list >= " CM__RD_STR(CM_MAX_ELDERS) " then\n"
  "            table.remove(list, 1)\n"
  "          end\n"
  "          list[#list + 1] = t.elder\n"
  "          call('HSET', t.key, 'elders', table.concat(list, ','))\n"
  "        end\n"
  "      end\n"
  "    end\n"
  "    local st = derive(h[2], jobs, acc, h[4])\n"
  "    if st ~= h[2] then\n"
  "      set_status(t.key, t.id, h[1], h[2], h[3], h[4], h[5], h[6], st)\n"
  "    end\n"
  "    nt = nt + 1\n"
  "    touched[nt] = t.id\n"
  "  end\n"
  "end\n"
  "changed(touched, nt)\n"
  /* the events */
  "local ne = tonumber(ARGV[p])\n"
  "p = p + 1\n"
  "for i = 1, ne do\n"
  "  call('XADD', KEYS[K_EVENTS], 'MAXLEN', '~', ARGV[8], '*',\n"
  "    'type', ARGV[p], 'request', rid, 'worker', ARGV[p + 1],\n"
  "    'from', ARGV[p + 2], 'to', ARGV[p + 3], 'at_ms', ARGV[p + 4],\n"
  "    'expires_ms', ARGV[p + 5], 'cost', ARGV[p + 6], 'origin', ORIGIN)\n"
  "  p = p + 7\n"
  "end\n"
  "return {1}\n";
/* clang-format on */
