/* redis_positions.c -- bulk position updates (cm_store_redis_positions):
 * the throughput path of the worker gateway.
 *
 * Every argument is checked first; then one pipelined round of EXISTS on
 * the workers' hashes counts the known ones, so an unknown id fails the
 * call before anything is written (EXISTS answers one integer per chunk,
 * half the Redis time of ZMSCORE, which formats a score per id; ZMSCORE
 * runs only on a chunk that came up short, to name the first unknown id).
 * Then the workers go in chunks of at most CHUNK, one script per chunk
 * (CM__RD_S_POSITIONS), all chunks pipelined. A chunk ends early where an
 * id repeats, so a script never sees a worker twice and the later
 * position wins in order. A chunk is atomic; the call as a whole is not
 * (another client may read between two chunks), which is what a stream of
 * position updates needs. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/store.h"
#include "redis_call.h"
#include "redis_conn.h"
#include "redis_keys.h"
#include "redis_scripts.h"
#include "redis_store.h"

#define CHUNK 256    /* workers per script: ~1 ms of Redis time */
#define SLOTS 512    /* the chunk's id set: a power of 2 above CHUNK */
#define NO_SLOT (-1) /* an empty slot of the id set */

typedef struct pos_call {
  cm__rd_store *s;
  int n;
  const char *const *ids;
  const double *lat, *lon;
  const int64_t *seen_ms;
  cm__rd_batch *b;
  int unknown;       /* first unknown position index, -1: none */
  int *short_chunks; /* look-up: 1 for a chunk EXISTS found short */
} pos_call;

/* Reply to EXISTS of positions [i*CHUNK, ...): how many are known
 * (an id given twice counts twice). */
static void on_exists(void *ctx, size_t i, const redisReply *rep) {
  pos_call *c = ctx;
  if (!cm__rd_check(c->b, rep, REDIS_REPLY_INTEGER, "EXISTS"))
    return;
  long long want = c->n - (long long)i * CHUNK;
  if (rep->integer < (want < CHUNK ? want : CHUNK))
    c->short_chunks[i] = 1;
}

/* Reply to ZMSCORE of the short chunks, in order: nil for an unknown
 * id. i counts the short chunks sent, so the chunk is found again. */
static void on_scores(void *ctx, size_t i, const redisReply *rep) {
  pos_call *c = ctx;
  if (!cm__rd_check(c->b, rep, REDIS_REPLY_ARRAY, "ZMSCORE"))
    return;
  int chunk = 0; /* the short chunk number i */
  for (size_t seen = 0; !c->short_chunks[chunk] || seen++ < i;)
    chunk++;
  for (size_t j = 0; j < rep->elements; j++)
    if (rep->element[j]->type == REDIS_REPLY_NIL) {
      int at = chunk * CHUNK + (int)j;
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

/* Count the known workers of every chunk of CHUNK positions. Returns
 * CM_OK or the error. */
static cm_status count_known(pos_call *c, cm_error *err) {
  cm_redis *r = c->s->r;
  cm__rd_argv *a = &c->s->argv;
  cm__rd_batch b;
  c->b = &b;
  cm_status st = cm__rd_begin(&b, r, on_exists, c, err);
  if (st != CM_OK)
    return st;
  for (int from = 0; from < c->n; from += CHUNK) {
    int to = from + CHUNK < c->n ? from + CHUNK : c->n;
    char key[CM__RD_KEY_MAX];
    cm__rd_argv_str(a, "EXISTS");
    for (int i = from; i < to; i++)
      cm__rd_argv_add(a, key, cm__rd_key_worker(&r->keys, c->ids[i], key));
    cm__rd_send(&b, a);
  }
  return cm__rd_end(&b, err);
}

/* Find the first unknown id of the short chunks (c->unknown). Returns
 * CM_OK or the error. */
static cm_status name_unknown(pos_call *c, int n_chunks, cm_error *err) {
  cm_redis *r = c->s->r;
  cm__rd_argv *a = &c->s->argv;
  cm__rd_batch b;
  c->b = &b;
  cm_status st = cm__rd_begin(&b, r, on_scores, c, err);
  if (st != CM_OK)
    return st;
  for (int k = 0; k < n_chunks; k++) {
    if (!c->short_chunks[k])
      continue;
    int from = k * CHUNK, to = from + CHUNK < c->n ? from + CHUNK : c->n;
    cm__rd_argv_str(a, "ZMSCORE");
    cm__rd_argv_add(a, r->keys.fixed[CM__RD_K_WORKERS],
                    r->keys.fixed_len[CM__RD_K_WORKERS]);
    for (int i = from; i < to; i++)
      cm__rd_argv_str(a, c->ids[i]);
    cm__rd_send(&b, a);
  }
  return cm__rd_end(&b, err);
}

/* Look up every id. Returns CM_OK (c->unknown set) or the error. */
static cm_status look_up(pos_call *c, cm_error *err) {
  int n_chunks = (c->n + CHUNK - 1) / CHUNK, any = 0;
  c->unknown = -1;
  c->short_chunks = calloc((size_t)n_chunks, sizeof *c->short_chunks);
  if (!c->short_chunks)
    return cm_error_set(err, CM_E_NOMEM, "", "out of memory");
  cm_status st = count_known(c, err);
  for (int k = 0; st == CM_OK && k < n_chunks; k++)
    any |= c->short_chunks[k];
  if (st == CM_OK && any)
    st = name_unknown(c, n_chunks, err);
  free(c->short_chunks);
  c->short_chunks = NULL;
  return st;
}

/* FNV-1a of an id, for the chunk's id set. */
static unsigned id_hash(const char *id) {
  unsigned h = 2166136261u;
  for (; *id; id++)
    h = (h ^ (unsigned char)*id) * 16777619u;
  return h;
}

/* Add position i's id to the chunk's id set (positions from `from` on).
 * Returns 0, or -1 when the id is in it already. */
static int id_set_add(int *slot, const char *const *ids, int i) {
  unsigned k = id_hash(ids[i]) & (SLOTS - 1);
  for (; slot[k] != NO_SLOT; k = (k + 1) & (SLOTS - 1))
    if (!strcmp(ids[slot[k]], ids[i]))
      return -1;
  slot[k] = i;
  return 0;
}

/* End of the chunk starting at from: CHUNK positions, or fewer when an id
 * repeats. */
static int chunk_end(const pos_call *c, int from) {
  int slot[SLOTS];
  for (int k = 0; k < SLOTS; k++)
    slot[k] = NO_SLOT;
  int to = from;
  while (to < c->n && to - from < CHUNK && id_set_add(slot, c->ids, to) == 0)
    to++;
  return to;
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
  for (int from = 0, to; from < c->n && !b.lost; from = to) {
    to = chunk_end(c, from);
    char key[CM__RD_KEY_MAX];
    cm__rd_evalsha_begin(a, r, CM__RD_S_POSITIONS, to - from);
    for (int i = from; i < to; i++)
      cm__rd_argv_add(a, key, cm__rd_key_worker(&r->keys, c->ids[i], key));
    for (int i = from; i < to; i++) {
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
  if (cm_store_check_position(c->lat[i], c->lon[i], c->seen_ms[i], &one) !=
      CM_OK) {
    return cm_store_position_error(err, i, &one);
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
  pos_call c = {rs, n, ids, lat, lon, seen_ms, NULL, -1, NULL};
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
