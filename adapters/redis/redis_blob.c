/* redis_blob.c -- small named values of a region (cm:{r}:<name>), such as
 * the operator's weights: one GET or SET each, both also without waiting
 * on a connection on the caller's loop (bounded by its timeout_ms). */
#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_call.h"
#include "redis_cluster.h"
#include "redis_conn.h"

typedef struct blob_call {
  cm__rd_batch *b;
  char *out; /* GET: a copy of the value, NULL when absent */
} blob_call;

static void on_get(void *ctx, size_t i, const redisReply *rep) {
  blob_call *c = ctx;
  (void)i;
  if (rep && rep->type == REDIS_REPLY_NIL)
    return;
  if (!cm__rd_check(c->b, rep, REDIS_REPLY_STRING, "GET"))
    return;
  if (!(c->out = malloc(rep->len + 1))) {
    cm__rd_fail(c->b, CM_E_NOMEM, "out of memory");
    return;
  }
  memcpy(c->out, rep->str, rep->len);
  c->out[rep->len] = '\0';
}

static void on_set(void *ctx, size_t i, const redisReply *rep) {
  (void)i;
  cm__rd_check(((blob_call *)ctx)->b, rep, 0, "SET");
}

static int name_ok(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > 32)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!(name[i] >= 'a' && name[i] <= 'z') && name[i] != '_')
      return 0;
  return 1;
}

static cm_status run(cm_redis *r, const char *name, const char *value,
                     char **out, cm_error *err) {
  cm_error_clear(err);
  if (!r || !name_ok(name))
    return cm_error_set(err, CM_E_INVALID, "$.name", "$.name: 1..32 of [a-z_]");
  cm__rd_batch b;
  blob_call c = {&b, NULL};
  cm_status st = cm__rd_begin(&b, r, value ? on_set : on_get, &c, err);
  if (st != CM_OK)
    return st;
  cm__rd_argv a;
  cm__rd_argv_init(&a);
  cm__rd_argv_str(&a, value ? "SET" : "GET");
  cm__rd_argv_fmt(&a, "%s%s", r->keys.prefix, name);
  if (value)
    cm__rd_argv_str(&a, value);
  cm__rd_send(&b, &a);
  cm__rd_argv_free(&a);
  st = cm__rd_end(&b, err);
  if (st == CM_OK && out)
    *out = c.out;
  else
    free(c.out);
  return st;
}

cm_status cm_redis_blob_get(cm_redis *r, const char *name, char **out,
                            cm_error *err) {
  *out = NULL;
  return run(r, name, NULL, out, err);
}

cm_status cm_redis_blob_set(cm_redis *r, const char *name, const char *value,
                            cm_error *err) {
  return run(r, name, value ? value : "", NULL, err);
}

/* A GET or SET on a connection on the caller's loop, between its sending
 * and its reply (exactly one of get_fn, set_fn). */
typedef struct blob_async {
  cm_redis *r;
  struct event *timer;     /* no reply for timeout_ms: drop */
  cm_redis_done_fn set_fn; /* SET: the answer */
  cm_redis_blob_fn get_fn; /* GET: the answer, with the value */
  void *ctx;
} blob_async;

static void on_blob_async(redisAsyncContext *ac, void *reply, void *priv) {
  (void)ac;
  blob_async *c = priv;
  const redisReply *rep = reply;
  const char *what = c->get_fn ? "GET" : "SET";
  char *value = NULL;
  cm_error err;
  cm_status st = CM_OK;
  cm_error_clear(&err);
  if (c->timer)
    event_free(c->timer);
  if (!rep) {
    st = cm__rd_unavailable(c->r, &err);
  } else if (rep->type == REDIS_REPLY_ERROR) {
    cm__rd_cluster_note(c->r, rep); /* a MOVED: the connection moves */
    st = cm_error_set(
        &err, cm__rd_cluster_busy_error(rep) ? CM_E_UNAVAILABLE : CM_E_IO, "",
        "redis: %s: %.200s", what, rep->str ? rep->str : "error");
  } else if (c->get_fn && rep->type == REDIS_REPLY_STRING) {
    if (!(value = malloc(rep->len + 1))) {
      st = cm_error_set(&err, CM_E_NOMEM, "", NULL);
    } else {
      memcpy(value, rep->str, rep->len);
      value[rep->len] = '\0';
    }
  } else if (c->get_fn && rep->type != REDIS_REPLY_NIL) {
    st = cm_error_set(&err, CM_E_IO, "", "redis: GET: unexpected reply type %d",
                      rep->type);
  }
  if (c->get_fn)
    c->get_fn(c->ctx, st, st == CM_OK ? value : NULL, &err);
  else
    c->set_fn(c->ctx, st, &err);
  free(value);
  free(c);
}

/* No reply for the connection's timeout_ms (a hung server): drop it, which
 * answers the command NULL (CM_E_UNAVAILABLE). */
static void on_blob_timer(evutil_socket_t fd, short what, void *arg) {
  blob_async *c = arg;
  char why[64];
  (void)fd;
  (void)what;
  snprintf(why, sizeof why, "no reply within %d ms", c->r->timeout_ms);
  cm__rd_drop(c->r, why);
}

/* Send GET (value NULL) or SET name value on r, answered in c's callback.
 * Returns CM_OK (it will run) or the error (it will not; c freed). */
static cm_status send_async(blob_async *c, const char *name, const char *value,
                            cm_error *err) {
  cm_redis *r = c->r;
  char key[CM__RD_KEY_MAX];
  snprintf(key, sizeof key, "%s%s", r->keys.prefix, name);
  const char *argv[3] = {value ? "SET" : "GET", key, value};
  size_t alen[3] = {3, strlen(key), value ? strlen(value) : 0};
  struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
  c->timer = evtimer_new(r->base, on_blob_timer, c);
  if (!c->timer) {
    free(c);
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  if (redisAsyncCommandArgv(r->ac, on_blob_async, c, value ? 3 : 2, argv,
                            alen) != REDIS_OK) { /* not sent: never runs */
    event_free(c->timer);
    free(c);
    return cm_error_set(err, CM_E_UNAVAILABLE, "",
                        "redis: the %s could not be queued", argv[0]);
  }
  evtimer_add(c->timer, &tv);
  return CM_OK;
}

/* The checks of both asynchronous calls: *out a new blob_async for r.
 * Returns CM_OK, or the error with err set (*out NULL). */
static cm_status async_new(cm_redis *r, const char *name, int has_fn, void *ctx,
                           blob_async **out, cm_error *err) {
  *out = NULL;
  cm_error_clear(err);
  if (!r || !has_fn || r->own_base || !name_ok(name))
    return cm_error_set(err, CM_E_INVALID, "$.name",
                        "$.name: 1..32 of [a-z_], on a connection on the "
                        "caller's loop");
  if (!r->ac || !r->ready)
    return cm__rd_unavailable(r, err);
  if (!(*out = calloc(1, sizeof **out)))
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  (*out)->r = r;
  (*out)->ctx = ctx;
  return CM_OK;
}

cm_status cm_redis_blob_set_async(cm_redis *r, const char *name,
                                  const char *value, cm_redis_done_fn fn,
                                  void *ctx, cm_error *err) {
  blob_async *c;
  cm_status st = async_new(r, name, fn != NULL, ctx, &c, err);
  if (st != CM_OK)
    return st;
  c->set_fn = fn;
  return send_async(c, name, value ? value : "", err);
}

cm_status cm_redis_blob_get_async(cm_redis *r, const char *name,
                                  cm_redis_blob_fn fn, void *ctx,
                                  cm_error *err) {
  blob_async *c;
  cm_status st = async_new(r, name, fn != NULL, ctx, &c, err);
  if (st != CM_OK)
    return st;
  c->get_fn = fn;
  return send_async(c, name, NULL, err);
}
