/* redis_get_async.c -- a request's record read on the caller's event base
 * (ledger.h's get_async, docs/async-log.md step i).
 *
 * The engine reads a record again when the ledger refused one of its
 * changes for the record's version, or took a change of a record it had
 * adopted meanwhile, or when another writer changed a worker its requests
 * hold. That read is one HGET, sent on the proposals' connection (the
 * caller's base) so the loop runs meanwhile. It goes behind the proposals
 * of the loop turn (cm__rd_group_after: the reads of one turn wait
 * together, sent in the order asked), and Redis runs one connection's
 * commands in order, so the read sees at least every change committed
 * before it on that connection. A reply missing for the connection's
 * timeout_ms drops the connection (as the follow and the rebuild do),
 * which answers every command in flight NULL: the read ends
 * CM_E_UNAVAILABLE. A ledger freed meanwhile ends each read once (a read
 * not yet sent at the free, a sent one by its reply). On a connection
 * with a private base the synchronous get answers before the call
 * returns. */
#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/engine.h"
#include "redis_conn.h"
#include "redis_keys.h"
#include "redis_ledger.h"
#include "redis_request.h"

struct rd_get_op {
  rd_get_op *next, *prev;   /* the ledger's reads (l->gets) */
  rd_ledger *l;             /* NULL: the ledger was freed meanwhile */
  cm_redis *r;              /* the connection it runs on */
  char id[CM_ID_MAX];       /* the request */
  cm_ledger_record_fn done; /* the caller's */
  void *ctx;                /* */
  struct event *timer;      /* no reply for timeout_ms: drop */
  int deferred;             /* waits for the turn's proposals */
  cm_request_view v;        /* the record read */
};

static void op_unlink(rd_get_op *o) {
  rd_ledger *l = o->l;
  if (!l)
    return;
  if (o->prev)
    o->prev->next = o->next;
  else
    l->gets = o->next;
  if (o->next)
    o->next->prev = o->prev;
  o->next = o->prev = NULL;
}

/* Tell the caller (st, the record when CM_OK) and free o. */
static void op_end(rd_get_op *o, cm_status st, const char *why) {
  cm_error err;
  cm_error_clear(&err);
  op_unlink(o);
  if (st == CM_E_UNKNOWN_ID)
    cm_error_set(&err, st, "$.request",
                 "$.request: no request '%s' in the ledger", o->id);
  else if (st != CM_OK)
    cm_error_set(&err, st, "", "redis: %s", why);
  if (o->timer)
    event_free(o->timer);
  o->done(o->ctx, st, st == CM_OK ? &o->v : NULL, &err);
  free(o);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv) {
  rd_get_op *o = priv;
  const redisReply *rep = reply;
  (void)ac;
  if (!rep || !o->l)
    op_end(o, CM_E_UNAVAILABLE,
           o->l ? "the connection was lost" : "the ledger was freed");
  else if (rep->type == REDIS_REPLY_NIL)
    op_end(o, CM_E_UNKNOWN_ID, "");
  else if (rep->type != REDIS_REPLY_STRING)
    op_end(o, CM_E_IO, rep->type == REDIS_REPLY_ERROR ? rep->str : "HGET");
  else if (cm__rd_request_decode(rep->str, rep->len, &o->v) != 0)
    op_end(o, CM_E_IO, "a request record is malformed");
  else
    op_end(o, CM_OK, "");
}

/* No reply for the connection's timeout_ms (a hung server): drop the
 * connection, which answers the HGET NULL and so ends the read. */
static void on_timer(evutil_socket_t fd, short what, void *arg) {
  rd_get_op *o = arg;
  char why[64];
  (void)fd;
  (void)what;
  snprintf(why, sizeof why, "no reply within %d ms", o->r->timeout_ms);
  cm__rd_drop(o->r, why);
}

/* HGET of o's record. Returns 0 (its reply ends it), or -1 (nothing
 * sent: not connected, out of memory). */
static int op_send(rd_get_op *o) {
  char key[CM__RD_KEY_MAX];
  size_t klen = cm__rd_key_request(&o->r->keys, o->id, key);
  const char *argv[3] = {"HGET", key, "rec"};
  size_t alen[3] = {4, klen, 3};
  redisAsyncContext *ac = o->r->ac;
  if (!ac || redisAsyncCommandArgv(ac, on_reply, o, 3, argv, alen) != REDIS_OK)
    return -1;
  struct timeval tv = {o->r->timeout_ms / 1000,
                       (o->r->timeout_ms % 1000) * 1000};
  evtimer_add(o->timer, &tv);
  return 0;
}

/* The turn's proposals are sent (or were told they cannot be): now the
 * reads that waited for them, in the order asked. */
static void send_deferred(void *arg) {
  rd_ledger *l = arg;
  l->gets_deferred = 0;
  rd_get_op *o = l->gets;
  while (o && o->next) /* the oldest is the last */
    o = o->next;
  for (rd_get_op *prev; o; o = prev) {
    prev = o->prev;
    if (!o->deferred)
      continue;
    o->deferred = 0;
    if (op_send(o) != 0)
      op_end(o, CM_E_UNAVAILABLE, "not connected");
  }
}

cm_status cm__rd_get_async(cm_ledger *lg, const char *id,
                           cm_ledger_record_fn done, void *ctx, cm_error *err) {
  rd_ledger *l = (rd_ledger *)lg;
  cm_redis *r = cm__rd_group_conn(l);
  cm_error_clear(err);
  size_t len = id ? strnlen(id, CM_ID_MAX) : 0;
  if (!done)
    return cm_error_set(err, CM_E_INVALID, "", "no callback given");
  if (len == 0 || len >= CM_ID_MAX)
    return cm_error_set(err, CM_E_UNKNOWN_ID, "$.request",
                        "$.request: no request '%s'", id ? id : "");
  if (r->own_base) { /* nobody runs a private loop: synchronously */
    cm_request_view *v = malloc(sizeof *v);
    if (!v)
      return cm_error_set(err, CM_E_NOMEM, "", NULL);
    cm_error mine;
    cm_status st = lg->type->get(lg, id, v, &mine);
    done(ctx, st, st == CM_OK ? v : NULL, &mine);
    free(v);
    return CM_OK;
  }
  if (!r->ac)
    return cm__rd_unavailable(r, err);
  rd_get_op *o = calloc(1, sizeof *o);
  if (!o || !(o->timer = evtimer_new(r->base, on_timer, o))) {
    free(o);
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  o->l = l;
  o->r = r;
  memcpy(o->id, id, len);
  o->done = done;
  o->ctx = ctx;
  o->next = l->gets; /* the newest first */
  if (l->gets)
    l->gets->prev = o;
  l->gets = o;
  if (l->gets_deferred || cm__rd_group_after(l, send_deferred, l)) {
    l->gets_deferred = 1;
    o->deferred = 1; /* sent behind the proposals of this turn */
    return CM_OK;
  }
  if (op_send(o) != 0) {
    op_unlink(o);
    event_free(o->timer);
    free(o);
    return cm_error_set(err, CM_E_UNAVAILABLE, "",
                        "redis: a command could not be queued");
  }
  return CM_OK;
}

void cm__rd_get_free(rd_ledger *l) {
  while (l->gets) {
    rd_get_op *o = l->gets;
    op_unlink(o);
    o->l = NULL;     /* a sent one: its reply, NULL when the connection
                        goes, ends it */
    if (o->deferred) /* never sent: nothing will answer it */
      op_end(o, CM_E_UNAVAILABLE, "the ledger was freed");
  }
  l->gets_deferred = 0;
}
