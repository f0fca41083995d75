/* redis_sweep.c -- the stale sweep without waiting (cm_redis_sweep_async),
 * on a connection on the caller's loop: the seen set's candidates read
 * (ZRANGEBYSCORE), then the sweep script on them in chunks, sent from the
 * read's reply callback; the completion runs once, from the loop, with
 * how many workers went offline. The same commands, the same tag
 * ("<origin>:sweep", so the follow reads the sweep back into the mirror)
 * and the same checks as the store's synchronous sweep (redis_store.c).
 * A flushed script cache (NOSCRIPT) loads the script and sends the chunks
 * again (the script skips a worker it marked already). */
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/store.h"
#include "redis_argv.h"
#include "redis_cluster.h"
#include "redis_conn.h"
#include "redis_keys.h"

#define CHUNK 256 /* candidates per script call, as redis_store.c's */

typedef struct sweep_op {
  cm_redis *r;
  int64_t limit; /* stale iff seen_ms < limit */
  cm_redis_swept_fn fn;
  void *ctx;
  char **ids; /* the candidates */
  int n;
  int pending;     /* replies due */
  int rounds;      /* NOSCRIPT reloads so far */
  int noscript;    /* a chunk of this round was answered NOSCRIPT */
  long long swept; /* summed over the chunks */
  cm_status st;    /* the first failure (CM_OK none) */
  char msg[200];
} sweep_op;

static void op_fail(sweep_op *o, cm_status st, const char *what,
                    const redisReply *rep) {
  if (o->st != CM_OK)
    return;
  o->st = st;
  if (!rep)
    snprintf(o->msg, sizeof o->msg, "redis at %.60s:%d is unavailable: %.100s",
             o->r->host, o->r->port, o->r->why[0] ? o->r->why : "lost");
  else
    snprintf(o->msg, sizeof o->msg, "redis: %s: %.150s", what,
             rep->str ? rep->str : "unexpected reply");
}

static void op_end(sweep_op *o) {
  cm_error err;
  cm_error_clear(&err);
  if (o->st != CM_OK)
    cm_error_set(&err, o->st, "", "%s", o->msg);
  o->fn(o->ctx, o->st, o->st == CM_OK ? (int)o->swept : 0, &err);
  for (int i = 0; i < o->n; i++)
    free(o->ids[i]);
  free(o->ids);
  free(o);
}

static void on_chunk(redisAsyncContext *ac, void *reply, void *priv);

/* Queue a command; its reply goes to cb. Returns 0, or -1 (not sent). */
static int op_send(sweep_op *o, cm__rd_argv *a, redisCallbackFn *cb) {
  int rc =
      o->r->ac && cm__rd_argv_finish(a) == 0
          ? redisAsyncCommandArgv(o->r->ac, cb, o, a->argc, a->ptrs, a->alen)
          : REDIS_ERR;
  cm__rd_argv_reset(a);
  if (rc != REDIS_OK) {
    op_fail(o, CM_E_UNAVAILABLE, "", NULL);
    return -1;
  }
  o->pending++;
  return 0;
}

static void on_loaded(redisAsyncContext *ac, void *reply, void *priv) {
  (void)ac;
  sweep_op *o = priv;
  const redisReply *rep = reply;
  o->pending--;
  if (!rep)
    op_fail(o, CM_E_UNAVAILABLE, "", NULL);
  else if (rep->type != REDIS_REPLY_STRING || rep->len != 40)
    op_fail(o, CM_E_IO, "SCRIPT LOAD", rep);
  else
    memcpy(o->r->sha[CM__RD_S_SWEEP], rep->str, 40);
  if (o->pending == 0) /* the chunks after it failed to go */
    op_end(o);
}

/* Send the chunks (after a SCRIPT LOAD when reload). */
static void send_chunks(sweep_op *o, int reload) {
  cm_redis *r = o->r;
  cm__rd_argv a;
  cm__rd_argv_init(&a);
  if (reload) {
    cm__rd_argv_str(&a, "SCRIPT");
    cm__rd_argv_str(&a, "LOAD");
    cm__rd_argv_str(&a, cm__rd_script_source(CM__RD_S_SWEEP));
    op_send(o, &a, on_loaded);
  }
  for (int from = 0; from < o->n && o->st == CM_OK; from += CHUNK) {
    int to = from + CHUNK < o->n ? from + CHUNK : o->n;
    char key[CM__RD_KEY_MAX];
    cm__rd_evalsha_begin(&a, r, CM__RD_S_SWEEP, to - from);
    for (int i = from; i < to; i++)
      cm__rd_argv_add(&a, key, cm__rd_key_worker(&r->keys, o->ids[i], key));
    cm__rd_argv_i64(&a, o->limit);
    for (int i = from; i < to; i++)
      cm__rd_argv_str(&a, o->ids[i]);
    char tag[sizeof r->origin + 8];
    int tn = snprintf(tag, sizeof tag, "%s:sweep", r->origin);
    cm__rd_argv_add(&a, tag, (size_t)tn);
    op_send(o, &a, on_chunk);
  }
  cm__rd_argv_free(&a);
  if (o->pending == 0)
    op_end(o);
}

static void on_chunk(redisAsyncContext *ac, void *reply, void *priv) {
  (void)ac;
  sweep_op *o = priv;
  const redisReply *rep = reply;
  o->pending--;
  if (!rep) {
    op_fail(o, CM_E_UNAVAILABLE, "", NULL);
  } else if (rep->type == REDIS_REPLY_ERROR) {
    if (rep->str && strncmp(rep->str, "NOSCRIPT", 8) == 0)
      o->noscript = 1;
    else {
      cm__rd_cluster_note(o->r, rep); /* a MOVED: the connection moves */
      op_fail(o, cm__rd_cluster_busy_error(rep) ? CM_E_UNAVAILABLE : CM_E_IO,
              "sweep", rep);
    }
  } else if (rep->type == REDIS_REPLY_INTEGER) {
    o->swept += rep->integer;
  } else {
    op_fail(o, CM_E_IO, "sweep", rep);
  }
  if (o->pending > 0)
    return;
  if (o->noscript && o->st == CM_OK && o->rounds < CM__RD_NOSCRIPT_ROUNDS) {
    o->noscript = 0; /* the chunks swept already are skipped by the
                        script: it marks only workers still available */
    o->rounds++;
    send_chunks(o, 1);
    return;
  }
  if (o->noscript && o->st == CM_OK)
    op_fail(o, CM_E_IO, "sweep: the script cache was flushed again", NULL);
  op_end(o);
}

static void on_ids(redisAsyncContext *ac, void *reply, void *priv) {
  (void)ac;
  sweep_op *o = priv;
  const redisReply *rep = reply;
  o->pending--;
  if (!rep || rep->type != REDIS_REPLY_ARRAY) {
    if (rep)
      cm__rd_cluster_note(o->r, rep);
    op_fail(o,
            !rep || cm__rd_cluster_busy_error(rep) ? CM_E_UNAVAILABLE : CM_E_IO,
            "ZRANGEBYSCORE", rep);
    op_end(o);
    return;
  }
  if (rep->elements > 0 && !(o->ids = calloc(rep->elements, sizeof *o->ids))) {
    op_fail(o, CM_E_NOMEM, "out of memory", NULL);
    op_end(o);
    return;
  }
  for (size_t i = 0; i < rep->elements; i++) {
    const redisReply *e = rep->element[i];
    if (e->type != REDIS_REPLY_STRING || e->len == 0 || e->len >= CM_ID_MAX)
      continue; /* not a worker's id: the script would refuse it */
    if (!(o->ids[o->n] = malloc(e->len + 1))) {
      op_fail(o, CM_E_NOMEM, "out of memory", NULL);
      op_end(o);
      return;
    }
    memcpy(o->ids[o->n], e->str, e->len);
    o->ids[o->n++][e->len] = '\0';
  }
  send_chunks(o, 0);
}

cm_status cm_redis_sweep_async(cm_redis *r, int64_t now_ms, int64_t stale_ms,
                               cm_redis_swept_fn fn, void *ctx, cm_error *err) {
  cm_error_clear(err);
  if (!r || !fn || r->own_base)
    return cm_error_set(err, CM_E_INVALID, "",
                        "a connection on the caller's loop and a function "
                        "are required");
  cm_status st = cm_store_check_sweep(now_ms, stale_ms, err);
  if (st != CM_OK)
    return st;
  if (!r->ac || !r->ready)
    return cm__rd_unavailable(r, err);
  sweep_op *o = calloc(1, sizeof *o);
  if (!o)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  o->r = r;
  o->fn = fn;
  o->ctx = ctx;
  o->limit = now_ms - stale_ms;
  if (stale_ms == 0 || o->limit <= 0) { /* nothing can be stale */
    op_end(o);
    return CM_OK;
  }
  cm__rd_argv a;
  cm__rd_argv_init(&a);
  cm__rd_argv_str(&a, "ZRANGEBYSCORE");
  cm__rd_argv_add(&a, r->keys.fixed[CM__RD_K_SEEN],
                  r->keys.fixed_len[CM__RD_K_SEEN]);
  cm__rd_argv_str(&a, "-inf");
  cm__rd_argv_i64(&a, o->limit); /* a superset: the scores are doubles */
  int rc = op_send(o, &a, on_ids);
  cm__rd_argv_free(&a);
  if (rc != 0) { /* not sent: the completion will not run */
    free(o);
    return cm__rd_unavailable(r, err);
  }
  return CM_OK;
}
