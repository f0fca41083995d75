/* redis_lease.c -- the region's lease (lua/lease.lua; docs/ha.md): hold
 * (acquire or renew), release and read it with one script call each, and
 * hold without waiting on a connection of the caller's loop. The fence
 * the ledger's commits carry is in redis_ledger.c
 * (cm_ledger_redis_fence_set, cm__rd_commit_build). */
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_call.h"
#include "redis_conn.h"
#include "redis_scripts.h"

typedef struct lease_call {
  cm__rd_batch *b;
  cm_redis_lease *out;
} lease_call;

/* Copy a bulk or integer reply into buf (n bytes). Returns 0, -1 when it
 * is neither or does not fit. */
static int reply_text(const redisReply *e, char *buf, size_t n) {
  if (e->type == REDIS_REPLY_INTEGER)
    return snprintf(buf, n, "%lld", e->integer) < (int)n ? 0 : -1;
  if (e->type != REDIS_REPLY_STRING || e->len >= n)
    return -1;
  memcpy(buf, e->str, e->len);
  buf[e->len] = '\0';
  return 0;
}

/* The script's {code, holder, epoch, since_ms, submissions, wanted_by,
 * pttl_ms}. */
static void on_lease(void *ctx, size_t i, const redisReply *rep) {
  lease_call *c = ctx;
  char ep[32], since[32], subs[32];
  (void)i;
  if (rep && rep->type == REDIS_REPLY_ERROR &&
      strncmp(rep->str, "NOSCRIPT", 8) == 0) {
    c->b->noscript = 1;
    return;
  }
  if (!cm__rd_check(c->b, rep, REDIS_REPLY_ARRAY, "lease"))
    return;
  if (rep->elements != 7 || rep->element[0]->type != REDIS_REPLY_INTEGER ||
      rep->element[6]->type != REDIS_REPLY_INTEGER ||
      reply_text(rep->element[1], c->out->holder, sizeof c->out->holder) ||
      reply_text(rep->element[2], ep, sizeof ep) ||
      reply_text(rep->element[3], since, sizeof since) ||
      reply_text(rep->element[4], subs, sizeof subs) ||
      reply_text(rep->element[5], c->out->wanted_by,
                 sizeof c->out->wanted_by)) {
    cm__rd_fail(c->b, CM_E_IO, "redis: lease answered a malformed reply");
    return;
  }
  long long code = rep->element[0]->integer;
  c->out->mine = code >= 1;
  c->out->acquired = code == 2;
  c->out->epoch = strtoull(ep, NULL, 10);
  c->out->since_ms = strtoll(since, NULL, 10);
  c->out->submissions = strtoull(subs, NULL, 10);
  c->out->pttl_ms = rep->element[6]->integer;
}

typedef struct lease_args {
  cm_redis *r;
  const char *what, *holder;
  int64_t ttl_ms, now_ms;
  cm_redis_lease *out;
} lease_args;

/* The script's call for x into a (initialised). */
static void lease_argv(cm__rd_argv *a, const lease_args *x) {
  char key[CM__RD_KEY_MAX];
  cm__rd_argv_str(a, "EVALSHA");
  cm__rd_argv_add(a, x->r->sha[CM__RD_S_LEASE], 40);
  cm__rd_argv_str(a, "5");
  cm__rd_argv_add(a, key, cm__rd_key_lease(&x->r->keys, key));
  cm__rd_argv_add(a, key, cm__rd_key_lease_epoch(&x->r->keys, key));
  cm__rd_argv_add(a, x->r->keys.fixed[CM__RD_K_RSEQ],
                  x->r->keys.fixed_len[CM__RD_K_RSEQ]);
  cm__rd_argv_add(a, x->r->keys.fixed[CM__RD_K_EVENTS],
                  x->r->keys.fixed_len[CM__RD_K_EVENTS]);
  cm__rd_argv_add(a, key, cm__rd_key_lease_want(&x->r->keys, key));
  cm__rd_argv_str(a, x->what);
  cm__rd_argv_str(a, x->holder);
  cm__rd_argv_i64(a, x->ttl_ms);
  cm__rd_argv_i64(a, x->now_ms);
  cm__rd_argv_origin(a, x->r);
}

static cm_status lease_attempt(void *ctx, int *noscript, cm_error *err) {
  lease_args *x = ctx;
  cm__rd_batch b;
  cm__rd_argv a;
  lease_call c = {&b, x->out};
  cm_status st = cm__rd_begin(&b, x->r, on_lease, &c, err);
  if (st != CM_OK)
    return st;
  cm__rd_argv_init(&a);
  lease_argv(&a, x);
  cm__rd_send(&b, &a);
  cm__rd_argv_free(&a);
  st = cm__rd_end(&b, err);
  *noscript = b.noscript;
  return st;
}

/* The arguments' checks of every call. Returns CM_OK or the error. */
static cm_status lease_check(const char *what, const char *holder,
                             int64_t ttl_ms, cm_error *err) {
  size_t n = strlen(holder);
  if (n >= CM_REDIS_LEASE_HOLDER_MAX || (n == 0 && strcmp(what, "get") != 0))
    return cm_error_set(err, CM_E_INVALID, "$.holder",
                        "$.holder: must be 1..%d bytes",
                        CM_REDIS_LEASE_HOLDER_MAX - 1);
  if (ttl_ms < 1)
    return cm_error_set(err, CM_E_RANGE, "$.ttl_ms", "$.ttl_ms: must be >= 1");
  return CM_OK;
}

/* One call of the script; timeout_ms > 0 shortens the connection's
 * inactivity timeout for this call (a renewal must give up well inside
 * the TTL). */
static cm_status lease_run(cm_redis *r, const char *what, const char *holder,
                           int64_t ttl_ms, int64_t now_ms, int timeout_ms,
                           cm_redis_lease *out, cm_error *err) {
  cm_error_clear(err);
  if (out)
    memset(out, 0, sizeof *out);
  if (!r || !out || !holder)
    return cm_error_set(err, CM_E_INVALID, "", "no connection or output");
  cm_status st0 = lease_check(what, holder, ttl_ms, err);
  if (st0 != CM_OK)
    return st0;
  lease_args x = {r, what, holder, ttl_ms, now_ms, out};
  int saved = r->timeout_ms;
  if (timeout_ms > 0 && timeout_ms < saved)
    r->timeout_ms = timeout_ms;
  cm_status st = cm__rd_scripted(r, lease_attempt, &x, err);
  r->timeout_ms = saved;
  if (st != CM_OK)
    memset(out, 0, sizeof *out);
  return st;
}

cm_status cm_redis_lease_hold(cm_redis *r, const char *holder, int64_t ttl_ms,
                              int64_t now_ms, int timeout_ms,
                              cm_redis_lease *out, cm_error *err) {
  return lease_run(r, "hold", holder, ttl_ms, now_ms, timeout_ms, out, err);
}

cm_status cm_redis_lease_want(cm_redis *r, const char *holder, int64_t ttl_ms,
                              int64_t now_ms, int timeout_ms,
                              cm_redis_lease *out, cm_error *err) {
  return lease_run(r, "want", holder, ttl_ms, now_ms, timeout_ms, out, err);
}

cm_status cm_redis_lease_release(cm_redis *r, const char *holder,
                                 int timeout_ms, cm_redis_lease *out,
                                 cm_error *err) {
  return lease_run(r, "release", holder, 1, 0, timeout_ms, out, err);
}

cm_status cm_redis_lease_get(cm_redis *r, int timeout_ms, cm_redis_lease *out,
                             cm_error *err) {
  return lease_run(r, "get", "", 1, 0, timeout_ms, out, err);
}

/* ---- hold without waiting (cm_redis_lease_hold_async) ---- */

typedef struct hold_call {
  cm_redis *r;
  cm_redis_lease_fn fn;
  void *ctx;
} hold_call;

/* hiredis: the script's answer, or NULL (the connection dropped or was
 * freed). Runs once; tells the caller once. */
static void on_hold(redisAsyncContext *ac, void *reply, void *privdata) {
  hold_call *h = privdata;
  cm__rd_batch b; /* only to read the reply as the synchronous call does */
  cm_redis_lease out;
  cm_error err;
  (void)ac;
  memset(&out, 0, sizeof out);
  cm_error_clear(&err);
  cm__rd_batch_init(&b, h->r, NULL, NULL);
  lease_call c = {&b, &out};
  on_lease(&c, 0, reply); /* a MOVED marks the connection to move */
  cm_status st = CM_OK;
  if (b.noscript) { /* the cache was flushed: loaded again on the next
                       cm_redis_ping (cm_redis_connected says 0 until) */
    h->r->ready = 0;
    st = cm_error_set(&err, CM_E_UNAVAILABLE, "",
                      "redis: the lease script is not loaded (NOSCRIPT)");
  } else if (b.lost) {
    st = cm__rd_unavailable(h->r, &err);
  } else if (b.fail.code != CM_OK) {
    st = cm_error_set(&err, b.fail.code, "", "%s", b.fail.message);
  }
  if (st != CM_OK)
    memset(&out, 0, sizeof out);
  h->fn(h->ctx, st, &out, &err);
  free(h);
}

/* hold, want, release or get (what) without waiting. */
static cm_status lease_async(cm_redis *r, const char *what, const char *holder,
                             int64_t ttl_ms, int64_t now_ms,
                             cm_redis_lease_fn fn, void *ctx, cm_error *err) {
  cm_error_clear(err);
  if (!r || !holder || !fn || r->own_base)
    return cm_error_set(err, CM_E_INVALID, "",
                        "a connection on the caller's loop and a function "
                        "are required");
  cm_status st = lease_check(what, holder, ttl_ms, err);
  if (st != CM_OK)
    return st;
  if (!r->ac || !r->ready)
    return cm__rd_unavailable(r, err);
  hold_call *h = calloc(1, sizeof *h);
  if (!h)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  *h = (hold_call){r, fn, ctx};
  lease_args x = {r, what, holder, ttl_ms, now_ms, NULL};
  cm__rd_argv a;
  cm__rd_argv_init(&a);
  lease_argv(&a, &x);
  int rc =
      cm__rd_argv_finish(&a) == 0
          ? redisAsyncCommandArgv(r->ac, on_hold, h, a.argc, a.ptrs, a.alen)
          : REDIS_ERR;
  cm__rd_argv_free(&a);
  if (rc != REDIS_OK) { /* not sent: on_hold never runs */
    free(h);
    return cm_error_set(err, CM_E_UNAVAILABLE, "",
                        "redis: the lease's renewal could not be queued");
  }
  return CM_OK;
}

cm_status cm_redis_lease_hold_async(cm_redis *r, const char *holder,
                                    int64_t ttl_ms, int64_t now_ms,
                                    cm_redis_lease_fn fn, void *ctx,
                                    cm_error *err) {
  return lease_async(r, "hold", holder, ttl_ms, now_ms, fn, ctx, err);
}

cm_status cm_redis_lease_want_async(cm_redis *r, const char *holder,
                                    int64_t ttl_ms, int64_t now_ms,
                                    cm_redis_lease_fn fn, void *ctx,
                                    cm_error *err) {
  return lease_async(r, "want", holder, ttl_ms, now_ms, fn, ctx, err);
}

cm_status cm_redis_lease_release_async(cm_redis *r, const char *holder,
                                       cm_redis_lease_fn fn, void *ctx,
                                       cm_error *err) {
  return lease_async(r, "release", holder, 1, 0, fn, ctx, err);
}

cm_status cm_redis_lease_get_async(cm_redis *r, cm_redis_lease_fn fn, void *ctx,
                                   cm_error *err) {
  return lease_async(r, "get", "", 1, 0, fn, ctx, err);
}
