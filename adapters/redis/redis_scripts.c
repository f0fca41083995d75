/* redis_scripts.c -- the Lua scripts of the Redis store (their sources are
 * adapters/redis/lua/<name>.lua, embedded by the build: redis_lua.h), their
 * loading and the NOSCRIPT retry (see redis_scripts.h).
 *
 * Invariants the scripts keep, for every worker of the region:
 * - the hash cm:{r}:worker:<id> holds every field (redis_worker.h);
 * - id is in cm:{r}:workers exactly while the hash exists;
 * - ix (format in lua/prelude.lua) agrees with the hash: "-" for the
 *   eligibility part exactly while status is not 0 or capacity <= 0, the
 *   skills otherwise; a position (glat, glon) exactly while matchable;
 *   z "-" exactly while has_position is 0;
 * - id is in cm:{r}:seen exactly while has_position is 1, with score z
 *   (ix), where z <= seen_ms < z + CM__RD_SEEN_SLACK_MS, and z = seen_ms
 *   when seen_ms >= 2^53 (redis_scripts.h: the score may trail seen_ms);
 * - when the worker is matchable (status 0 = AVAILABLE, has_position 1,
 *   capacity > 0) it is indexed at the position (glat, glon) of its ix:
 *   in geo:<s> for every skill s it holds, or, when GEO cannot index that
 *   position (off the grid, redis_geo.h), in offgrid instead; and (glat,
 *   glon) is within CM__RD_LAG_KM of (lat, lon). When it is not matchable
 *   it is in none of them.
 * - an on-shift worker whose hash counts jobs (the fields jobs and acc,
 *   kept by the ledger's commit script) has the status they call for
 *   (derive: AVAILABLE below capacity, else BUSY when every job is
 *   accepted, else OFFERED);
 * - every script that changes workers appends their ids to cm:{r}:changes,
 *   one entry per call tagged with the writer's origin (its last ARGV).
 * Each script reads what it needs first and returns early (changing
 * nothing) when a worker is unknown, so no script stops half-way: Redis
 * does not roll back a script that fails after a write. GEOADD is only
 * called with a position on the grid, so it cannot fail. The index moves
 * only when the worker has gone more than 0.9 * CM__RD_LAG_KM from its
 * indexed position, measured with an equirectangular estimate (below 80
 * degrees of latitude, where its error at these distances is far below
 * the 10% kept in hand; elsewhere the index always moves). */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "redis_call.h"
#include "redis_conn.h"
#include "redis_keys.h"
#include "redis_lua.h"
#include "redis_scripts.h"

static const struct {
  const char *name;
  const char *src;
} scripts[CM__RD_NSCRIPTS] = {
    [CM__RD_S_UPSERT] = {"upsert", cm__rd_lua_upsert},
    [CM__RD_S_POSITION] = {"position", cm__rd_lua_position},
    [CM__RD_S_STATUS] = {"status", cm__rd_lua_status},
    [CM__RD_S_REMOVE] = {"remove", cm__rd_lua_remove},
    [CM__RD_S_SWEEP] = {"sweep", cm__rd_lua_sweep},
    [CM__RD_S_POSITIONS] = {"positions", cm__rd_lua_positions},
    [CM__RD_S_COMMIT] = {"commit", cm__rd_lua_commit},
    [CM__RD_S_LEASE] = {"lease", cm__rd_lua_lease},
};

const char *cm__rd_script_name(int which) {
  return which >= 0 && which < CM__RD_NSCRIPTS ? scripts[which].name : "?";
}

const char *cm__rd_script_source(int which) {
  return which >= 0 && which < CM__RD_NSCRIPTS ? scripts[which].src : NULL;
}

typedef struct load_ctx {
  cm__rd_batch *b;
  cm_redis *r;
} load_ctx;

/* Reply to SCRIPT LOAD number i: the script's SHA1. */
static void on_loaded(void *vctx, size_t i, const redisReply *rep) {
  load_ctx *c = vctx;
  if (!cm__rd_check(c->b, rep, REDIS_REPLY_STRING, "SCRIPT LOAD"))
    return;
  if (i >= CM__RD_NSCRIPTS || rep->len != 40) {
    cm__rd_fail(c->b, CM_E_IO, "redis: SCRIPT LOAD answered no SHA1");
    return;
  }
  memcpy(c->r->sha[i], rep->str, 40);
  c->r->sha[i][40] = '\0';
}

cm_status cm__rd_scripts_load(cm_redis *r, cm_error *err) {
  cm__rd_batch b;
  cm__rd_argv a;
  load_ctx c = {&b, r};
  cm__rd_batch_init(&b, r, on_loaded, &c);
  cm__rd_argv_init(&a);
  for (int i = 0; i < CM__RD_NSCRIPTS; i++) {
    cm__rd_argv_str(&a, "SCRIPT");
    cm__rd_argv_str(&a, "LOAD");
    cm__rd_argv_str(&a, scripts[i].src);
    cm__rd_send(&b, &a);
  }
  cm__rd_argv_free(&a);
  return cm__rd_wait(&b, err);
}

void cm__rd_sha_adopt(cm_redis *dst, const cm_redis *src) {
  for (int i = 0; dst && src && dst != src && i < CM__RD_NSCRIPTS; i++)
    if (!dst->sha[i][0] && src->sha[i][0])
      memcpy(dst->sha[i], src->sha[i], sizeof dst->sha[i]);
}

void cm__rd_evalsha_begin(cm__rd_argv *a, const cm_redis *r, int which,
                          int n_hashes) {
  cm__rd_argv_str(a, "EVALSHA");
  cm__rd_argv_add(a, r->sha[which], 40);
  cm__rd_argv_fmt(a, "%d", CM__RD_NFIXED + n_hashes);
  for (int i = 0; i < CM__RD_NFIXED; i++)
    cm__rd_argv_add(a, r->keys.fixed[i], r->keys.fixed_len[i]);
}

cm_status cm__rd_scripted(cm_redis *r, cm__rd_attempt_fn fn, void *ctx,
                          cm_error *err) {
  int noscript = 0;
  cm_status st = fn(ctx, &noscript, err);
  /* the cache may be flushed again between the reload and the retry (a
     failover in progress, an operator's SCRIPT FLUSH): a few rounds */
  for (int round = 0; noscript && round < CM__RD_NOSCRIPT_ROUNDS; round++) {
    cm__rd_batch b; /* reload on the same connection, then once more */
    if ((st = cm__rd_begin(&b, r, NULL, NULL, err)) != CM_OK)
      return st;
    st = cm__rd_scripts_load(r, err);
    cm__rd_end(&b, NULL);
    if (st != CM_OK)
      return st;
    cm_error_clear(err);
    noscript = 0;
    st = fn(ctx, &noscript, err);
  }
  if (noscript)
    return cm_error_set(err, CM_E_IO, "",
                        "redis: the script cache was flushed %d times in a "
                        "row",
                        CM__RD_NOSCRIPT_ROUNDS + 1);
  return st;
}
