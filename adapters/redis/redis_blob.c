/* redis_blob.c -- small named values of a region (cm:{r}:<name>), such as
 * the operator's weights: one GET or SET each, the SET also without
 * waiting on a connection on the caller's loop. */
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

typedef struct set_call {
  cm_redis *r;
  cm_redis_done_fn fn;
  void *ctx;
} set_call;

static void on_set_async(redisAsyncContext *ac, void *reply, void *priv) {
  (void)ac;
  set_call *c = priv;
  const redisReply *rep = reply;
  cm_error err;
  cm_status st = CM_OK;
  cm_error_clear(&err);
  if (!rep) {
    st = cm__rd_unavailable(c->r, &err);
  } else if (rep->type == REDIS_REPLY_ERROR) {
    cm__rd_cluster_note(c->r, rep); /* a MOVED: the connection moves */
    st = cm_error_set(
        &err, cm__rd_cluster_busy_error(rep) ? CM_E_UNAVAILABLE : CM_E_IO, "",
        "redis: SET: %.200s", rep->str ? rep->str : "error");
  }
  c->fn(c->ctx, st, &err);
  free(c);
}

cm_status cm_redis_blob_set_async(cm_redis *r, const char *name,
                                  const char *value, cm_redis_done_fn fn,
                                  void *ctx, cm_error *err) {
  cm_error_clear(err);
  if (!r || !fn || r->own_base || !name_ok(name))
    return cm_error_set(err, CM_E_INVALID, "$.name",
                        "$.name: 1..32 of [a-z_], on a connection on the "
                        "caller's loop");
  if (!r->ac || !r->ready)
    return cm__rd_unavailable(r, err);
  set_call *c = malloc(sizeof *c);
  if (!c)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  *c = (set_call){r, fn, ctx};
  char key[CM__RD_KEY_MAX];
  snprintf(key, sizeof key, "%s%s", r->keys.prefix, name);
  const char *argv[3] = {"SET", key, value ? value : ""};
  size_t alen[3] = {3, strlen(key), strlen(argv[2])};
  if (redisAsyncCommandArgv(r->ac, on_set_async, c, 3, argv, alen) !=
      REDIS_OK) { /* not sent: on_set_async never runs */
    free(c);
    return cm_error_set(err, CM_E_UNAVAILABLE, "",
                        "redis: the SET could not be queued");
  }
  return CM_OK;
}
