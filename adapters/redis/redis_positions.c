/* redis_positions.c -- bulk position updates (cm_store_redis_positions):
 * the throughput path of the worker gateway.
 *
 * Every argument is checked first; then one pipelined round of ZMSCORE on
 * the insertion order looks up every id, so an unknown id fails the call
 * before anything is written; then the workers go in chunks of CHUNK, one
 * script per chunk (CM__RD_S_POSITIONS), all chunks pipelined. A chunk is
 * atomic; the call as a whole is not (another client may read between two
 * chunks), which is what a stream of position updates needs. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "redis_call.h"
#include "redis_conn.h"
#include "redis_keys.h"
#include "redis_scripts.h"
#include "redis_store.h"
#include "store_check.h"

#define CHUNK 256 /* workers per script: ~0.5 ms of Redis time */

typedef struct pos_call {
  cm__rd_store *s;
  int n;
  const char *const *ids;
  const double *lat, *lon;
  const int64_t *seen_ms;
  cm__rd_batch *b;
  int unknown; /* first unknown position index, -1: none */
} pos_call;

/* Reply to ZMSCORE of positions [i*CHUNK, ...): nil for an unknown id. */
static void on_scores(void *ctx, size_t i, const redisReply *rep) {
  pos_call *c = ctx;
  if (!cm__rd_check(c->b, rep, REDIS_REPLY_ARRAY, "ZMSCORE"))
    return;
  for (size_t j = 0; j < rep->elements; j++)
    if (rep->element[j]->type == REDIS_REPLY_NIL) {
      int at = (int)(i * CHUNK + j);
      if (c->unknown < 0 || at < c->unknown)
        c->unknown = at;
      return;
    }
}

static void on_moved(void *ctx, size_t i, const redisReply *rep) {
  pos_call *c = ctx;
  (void)i;
  cm__rd_check(c->b, rep, REDIS_REPLY_INTEGER, "positions");
}

/* Look up every id. Returns CM_OK (c->unknown set) or the error. */
static cm_status look_up(pos_call *c, cm_error *err) {
  cm_redis *r = c->s->r;
  cm__rd_argv *a = &c->s->argv;
  cm__rd_batch b;
  c->b = &b;
  c->unknown = -1;
  cm_status st = cm__rd_begin(&b, r, on_scores, c, err);
  if (st != CM_OK)
    return st;
  for (int from = 0; from < c->n; from += CHUNK) {
    int to = from + CHUNK < c->n ? from + CHUNK : c->n;
    cm__rd_argv_str(a, "ZMSCORE");
    cm__rd_argv_add(a, r->keys.fixed[CM__RD_K_WORKERS],
                    r->keys.fixed_len[CM__RD_K_WORKERS]);
    for (int i = from; i < to; i++)
      cm__rd_argv_str(a, c->ids[i]);
    cm__rd_send(&b, a);
  }
  return cm__rd_end(&b, err);
}

static cm_status move_attempt(void *ctx, int *noscript, cm_error *err) {
  pos_call *c = ctx;
  cm_redis *r = c->s->r;
  cm__rd_argv *a = &c->s->argv;
  cm__rd_batch b;
  c->b = &b;
  cm_status st = cm__rd_begin(&b, r, on_moved, c, err);
  if (st != CM_OK)
    return st;
  for (int from = 0; from < c->n && !b.lost; from += CHUNK) {
    int to = from + CHUNK < c->n ? from + CHUNK : c->n;
    char key[CM__RD_KEY_MAX];
    cm__rd_evalsha_begin(a, r, CM__RD_S_POSITIONS, to - from);
    for (int i = from; i < to; i++)
      cm__rd_argv_add(a, key, cm__rd_key_worker(&r->keys, c->ids[i], key));
    for (int i = from; i < to; i++) {
      cm__rd_argv_str(a, c->ids[i]);
      cm__rd_argv_double(a, c->lat[i]);
      cm__rd_argv_double(a, c->lon[i]);
      cm__rd_argv_i64(a, c->seen_ms[i]);
    }
    cm__rd_argv_origin(a, r);
    cm__rd_send(&b, a);
  }
  st = cm__rd_end(&b, err);
  *noscript = b.noscript;
  return st;
}

/* Fill err for position i: field "$.positions[i]<sub>" and a message
 * naming it. Returns code. */
static cm_status fail_at(cm_error *err, cm_status code, int i, const char *sub,
                         const char *what) {
  char field[CM_ERROR_FIELD_MAX];
  snprintf(field, sizeof field, "$.positions[%d]%.32s", i, sub);
  return cm_error_set(err, code, field, "%s: %s", field, what);
}

/* Check the arguments of position i (ranges as cm_store_position; an id
 * no worker can have is unknown). Returns CM_OK or the error. */
static cm_status check_one(const pos_call *c, int i, cm_error *err) {
  cm_error one;
  if (!c->ids[i])
    return fail_at(err, CM_E_INVALID, i, ".id", "no id given");
  if (cm__store_check_position(c->lat[i], c->lon[i], c->seen_ms[i], &one) !=
      CM_OK) {
    /* one.field is "$.lat" etc., one.message "$.lat: what" */
    const char *what = strstr(one.message, ": ");
    return fail_at(err, one.code, i, one.field + 1,
                   what ? what + 2 : one.message);
  }
  size_t len = strnlen(c->ids[i], CM_ID_MAX);
  if (len == 0 || len >= CM_ID_MAX)
    return fail_at(err, CM_E_UNKNOWN_ID, i, ".id", "no such worker");
  return CM_OK;
}

cm_status cm_store_redis_positions(cm_store *s, int n, const char *const *ids,
                                   const double *lat, const double *lon,
                                   const int64_t *seen_ms, cm_error *err) {
  cm_error_clear(err);
  cm__rd_store *rs = cm__rd_store_of(s);
  if (!rs)
    return cm_error_set(err, CM_E_INVALID, "", "not a Redis store");
  if (n < 0)
    return cm_error_set(err, CM_E_RANGE, "$.positions",
                        "$.positions: negative count");
  if (n > 0 && (!ids || !lat || !lon || !seen_ms))
    return cm_error_set(err, CM_E_INVALID, "$.positions",
                        "$.positions: missing arrays");
  pos_call c = {rs, n, ids, lat, lon, seen_ms, NULL, -1};
  for (int i = 0; i < n; i++) {
    cm_status st = check_one(&c, i, err);
    if (st != CM_OK)
      return st;
  }
  if (n == 0)
    return CM_OK;
  cm__rd_argv_reset(&rs->argv);
  cm_status st = look_up(&c, err);
  if (st != CM_OK)
    return st;
  if (c.unknown >= 0)
    return fail_at(err, CM_E_UNKNOWN_ID, c.unknown, ".id", "no such worker");
  return cm__rd_scripted(rs->r, move_attempt, &c, err);
}
