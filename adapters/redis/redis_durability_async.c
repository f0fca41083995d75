/* redis_durability_async.c -- the start-up check of the server's settings
 * for the ledger's durability level (redis_durability.c) without waiting:
 * its three commands sent on a connection on the caller's loop and the
 * warning handed to a callback from the last answer, so that a daemon's
 * recovery never holds its loop on the check (docs/async.md). */
#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_conn.h"
#include "redis_durability.h"

typedef struct dcheck_async {
  cm_redis *r;
  struct event *timer; /* no answer within timeout_ms: drop */
  cm__rd_dcheck c;
  cm_ledger_durability level;
  int replicas;
  size_t sent, answered;
  cm_status st; /* the first failure, CM_OK none */
  cm_error err;
  cm_redis_blob_fn fn;
  void *ctx;
} dcheck_async;

static void fail(dcheck_async *a, cm_status st, const char *what,
                 const redisReply *rep) {
  if (a->st != CM_OK)
    return;
  a->st = st;
  if (!rep)
    cm__rd_unavailable(a->r, &a->err);
  else
    cm_error_set(&a->err, st, "", "redis: %s: %.200s", what,
                 rep->type == REDIS_REPLY_ERROR && rep->str
                     ? rep->str
                     : "unexpected reply type");
}

static void on_answer(redisAsyncContext *ac, void *reply, void *priv) {
  (void)ac;
  dcheck_async *a = priv;
  const redisReply *rep = reply;
  size_t i = a->answered++;
  int want = i < 2 ? REDIS_REPLY_ARRAY : REDIS_REPLY_STRING;
  if (!rep)
    fail(a, CM_E_UNAVAILABLE, "", NULL);
  else if (!cm__rd_dcheck_refusal(&a->c, i, rep)) {
    if (rep->type != want)
      fail(a, CM_E_IO, i < 2 ? "CONFIG GET" : "INFO", rep);
    else
      cm__rd_dcheck_take(&a->c, i, rep);
  }
  if (a->answered < a->sent)
    return;
  if (a->timer)
    event_free(a->timer);
  char warn[320];
  warn[0] = '\0';
  if (a->st == CM_OK)
    cm__rd_dcheck_warn(&a->c, a->level, a->replicas, warn, sizeof warn);
  a->fn(a->ctx, a->st, a->st == CM_OK ? warn : NULL, &a->err);
  free(a);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg) {
  dcheck_async *a = arg;
  char why[64];
  (void)fd;
  (void)what;
  snprintf(why, sizeof why, "no reply within %d ms", a->r->timeout_ms);
  cm__rd_drop(a->r, why); /* answers every command NULL */
}

cm_status cm__rd_durability_check_async(cm_redis *r, cm_ledger_durability d,
                                        int replicas, cm_redis_blob_fn fn,
                                        void *ctx, cm_error *err) {
  cm_error_clear(err);
  if (!r || !fn || r->own_base)
    return cm_error_set(err, CM_E_INVALID, "",
                        "the durability check without waiting needs a "
                        "connection on the caller's loop");
  if (!r->ac || !r->ready)
    return cm__rd_unavailable(r, err);
  dcheck_async *a = calloc(1, sizeof *a);
  if (!a)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  a->r = r;
  a->level = d;
  a->replicas = replicas;
  a->fn = fn;
  a->ctx = ctx;
  cm__rd_dcheck_init(&a->c);
  cm_error_clear(&a->err);
  if (!(a->timer = evtimer_new(r->base, on_timeout, a))) {
    free(a);
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  for (size_t i = 0; i < CM__RD_DCHECK_N; i++) {
    const char *const *w = cm__rd_dcheck_words(i);
    int argc = w[2] ? 3 : 2;
    size_t len[3] = {strlen(w[0]), strlen(w[1]), w[2] ? strlen(w[2]) : 0};
    if (redisAsyncCommandArgv(r->ac, on_answer, a, argc, (const char **)w,
                              len) != REDIS_OK)
      break; /* the connection is going: what was sent is answered NULL */
    a->sent++;
  }
  if (a->sent == 0) {
    event_free(a->timer);
    free(a);
    return cm_error_set(err, CM_E_UNAVAILABLE, "",
                        "redis: the durability check could not be queued");
  }
  if (a->sent < CM__RD_DCHECK_N)
    fail(a, CM_E_UNAVAILABLE, "", NULL);
  struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
  evtimer_add(a->timer, &tv);
  return CM_OK;
}
