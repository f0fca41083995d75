/* redis_store.c -- the Redis position store (cm_store_type "redis"):
 * upsert, position, status and remove as one script each (atomic: the
 * hash, the seen set and the GEO sets agree after every call), get as
 * HGETALL, count as ZCARD of the insertion order, each as ZRANGE of it and
 * pipelined HGETALLs, sweep as a read of the seen set and a script per
 * chunk of candidates that re-checks each one. Every call checks its
 * arguments with store.h's backend checks before anything is sent, so bad input
 * is refused with the memory store's codes and fields and changes nothing.
 * nearest is in redis_nearest.c. */
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "carematch/store.h"
#include "redis_call.h"
#include "redis_conn.h"
#include "redis_keys.h"
#include "redis_scripts.h"
#include "redis_store.h"
#include "redis_worker.h"

#define SWEEP_CHUNK 256 /* candidates per sweep script */
#define EACH_CHUNK 8192 /* workers fetched before each() calls back */

static cm__rd_store *rs(cm_store *s) {
  return (cm__rd_store *)s;
}

/* ---- one script on one worker ---- */

typedef struct one_call {
  cm__rd_store *s;
  int which;          /* CM__RD_S_* */
  const char *id;     /* the worker */
  const cm_worker *w; /* upsert */
  double lat, lon;    /* position */
  int64_t seen_ms;    /* position */
  int status;         /* status */
  cm__rd_batch *b;    /* while a call runs */
  long long result;   /* the script's integer */
} one_call;

static void on_int(void *ctx, size_t i, const redisReply *rep) {
  one_call *c = ctx;
  (void)i;
  if (cm__rd_check(c->b, rep, REDIS_REPLY_INTEGER,
                   cm__rd_script_name(c->which)))
    c->result = rep->integer;
}

static cm_status one_attempt(void *ctx, int *noscript, cm_error *err) {
  one_call *c = ctx;
  cm_redis *r = c->s->r;
  cm__rd_argv *a = &c->s->argv;
  cm__rd_batch b;
  char key[CM__RD_KEY_MAX];
  c->b = &b;
  c->result = -1;
  cm_status st = cm__rd_begin(&b, r, on_int, c, err);
  if (st != CM_OK)
    return st;
  cm__rd_argv_reset(a);
  cm__rd_evalsha_begin(a, r, c->which, 1);
  cm__rd_argv_add(a, key, cm__rd_key_worker(&r->keys, c->id, key));
  switch (c->which) {
  case CM__RD_S_UPSERT:
    cm__rd_worker_args(a, c->w);
    break;
  case CM__RD_S_POSITION:
    cm__rd_argv_str(a, c->id);
    cm__rd_argv_double(a, c->lat);
    cm__rd_argv_double(a, c->lon);
    cm__rd_argv_i64(a, c->seen_ms);
    break;
  case CM__RD_S_STATUS:
    cm__rd_argv_str(a, c->id);
    cm__rd_argv_fmt(a, "%d", c->status);
    break;
  default:
    cm__rd_argv_str(a, c->id);
    break;
  }
  cm__rd_argv_origin(a, r);
  cm__rd_send(&b, a);
  st = cm__rd_end(&b, err);
  *noscript = b.noscript;
  return st;
}

/* Run one script on worker c->id. Returns CM_OK, CM_E_UNKNOWN_ID ("$.id")
 * when the script found no such worker, or the call's error. */
static cm_status one_run(one_call *c, cm_error *err) {
  cm_status st = cm__rd_scripted(c->s->r, one_attempt, c, err);
  if (st == CM_OK && c->result == 0 && c->which != CM__RD_S_UPSERT)
    return cm_error_set(err, CM_E_UNKNOWN_ID, "$.id", "$.id: no worker '%.63s'",
                        c->id);
  return st;
}

/* An id that can be stored: non-empty and shorter than CM_ID_MAX. */
static int id_storable(const char *id) {
  size_t n = strnlen(id, CM_ID_MAX);
  return n > 0 && n < CM_ID_MAX;
}

/* Check an id naming a worker: CM_E_INVALID for NULL, CM_E_UNKNOWN_ID for
 * one that no worker can have. Returns CM_OK or the error. */
static cm_status check_lookup(const char *id, cm_error *err) {
  cm_status st = cm_store_check_id(id, err);
  if (st != CM_OK)
    return st;
  if (!id_storable(id))
    return cm_error_set(err, CM_E_UNKNOWN_ID, "$.id", "$.id: no worker '%.63s'",
                        id);
  return CM_OK;
}

static cm_status rd_upsert(cm_store *s, const cm_worker *w, cm_error *err) {
  cm_error_clear(err);
  cm_status st = cm_store_check_worker(w, err);
  if (st != CM_OK)
    return st;
  one_call c = {.s = rs(s), .which = CM__RD_S_UPSERT, .id = w->id, .w = w};
  char id[CM_ID_MAX] = {0};
  memcpy(id, w->id, strnlen(w->id, CM_ID_MAX - 1));
  c.id = id;
  return one_run(&c, err);
}

static cm_status rd_position(cm_store *s, const char *id, double lat,
                             double lon, int64_t seen_ms, cm_error *err) {
  cm_error_clear(err);
  cm_status st = cm_store_check_position(lat, lon, seen_ms, err);
  if (st != CM_OK || (st = check_lookup(id, err)) != CM_OK)
    return st;
  one_call c = {.s = rs(s),
                .which = CM__RD_S_POSITION,
                .id = id,
                .lat = lat,
                .lon = lon,
                .seen_ms = seen_ms};
  return one_run(&c, err);
}

static cm_status rd_status(cm_store *s, const char *id, cm_worker_status st,
                           cm_error *err) {
  cm_error_clear(err);
  cm_status rc = cm_store_check_status((int)st, err);
  if (rc != CM_OK || (rc = check_lookup(id, err)) != CM_OK)
    return rc;
  one_call c = {
      .s = rs(s), .which = CM__RD_S_STATUS, .id = id, .status = (int)st};
  return one_run(&c, err);
}

static cm_status rd_remove(cm_store *s, const char *id, cm_error *err) {
  cm_error_clear(err);
  cm_status st = check_lookup(id, err);
  if (st != CM_OK)
    return st;
  one_call c = {.s = rs(s), .which = CM__RD_S_REMOVE, .id = id};
  return one_run(&c, err);
}

/* ---- get ---- */

typedef struct get_call {
  cm__rd_batch *b;
  cm_worker *out; /* decoded worker */
  int found;      /* 1, 0 (no such worker) */
} get_call;

static void on_hash(void *ctx, size_t i, const redisReply *rep) {
  get_call *c = ctx;
  (void)i;
  if (!cm__rd_check(c->b, rep, REDIS_REPLY_ARRAY, "HGETALL"))
    return;
  c->found = cm__rd_worker_decode(rep, c->out);
  if (c->found < 0)
    cm__rd_fail(c->b, CM_E_IO, "redis: a worker hash is malformed");
}

static cm_status rd_get(cm_store *s, const char *id, cm_worker *out,
                        cm_error *err) {
  cm__rd_store *st_ = rs(s);
  cm_redis *r = st_->r;
  cm__rd_batch b;
  cm_worker w;
  get_call c = {&b, &w, 0};
  char key[CM__RD_KEY_MAX];
  cm_error_clear(err);
  cm_status st = check_lookup(id, err);
  if (st != CM_OK || (st = cm__rd_begin(&b, r, on_hash, &c, err)) != CM_OK)
    return st;
  cm__rd_argv_reset(&st_->argv);
  cm__rd_argv_str(&st_->argv, "HGETALL");
  cm__rd_argv_add(&st_->argv, key, cm__rd_key_worker(&r->keys, id, key));
  cm__rd_send(&b, &st_->argv);
  if ((st = cm__rd_end(&b, err)) != CM_OK)
    return st;
  if (!c.found)
    return cm_error_set(err, CM_E_UNKNOWN_ID, "$.id", "$.id: no worker '%.63s'",
                        id);
  if (out)
    *out = w;
  return CM_OK;
}

/* ---- count ---- */

typedef struct int_call {
  cm__rd_batch *b;
  long long v;
} int_call;

static void on_count(void *ctx, size_t i, const redisReply *rep) {
  int_call *c = ctx;
  (void)i;
  if (cm__rd_check(c->b, rep, REDIS_REPLY_INTEGER, "ZCARD"))
    c->v = rep->integer;
}

/* CM_E_UNAVAILABLE (or CM_E_IO) when Redis cannot be asked. */
static cm_status rd_count(cm_store *s, int *count, cm_error *err) {
  cm__rd_store *st_ = rs(s);
  cm_redis *r = st_->r;
  cm__rd_batch b;
  int_call c = {&b, -1};
  cm_status st;
  *count = 0;
  if ((st = cm__rd_begin(&b, r, on_count, &c, err)) != CM_OK)
    return st;
  cm__rd_argv_reset(&st_->argv);
  cm__rd_argv_str(&st_->argv, "ZCARD");
  cm__rd_argv_add(&st_->argv, r->keys.fixed[CM__RD_K_WORKERS],
                  r->keys.fixed_len[CM__RD_K_WORKERS]);
  cm__rd_send(&b, &st_->argv);
  if ((st = cm__rd_end(&b, err)) != CM_OK)
    return st;
  if (c.v < 0 || c.v > 0x7fffffff)
    return cm_error_set(err, CM_E_IO, "", "ZCARD answered %lld", c.v);
  *count = (int)c.v;
  return CM_OK;
}

/* ---- lists of ids (each, sweep) ---- */

typedef struct id_list {
  char (*id)[CM_ID_MAX]; /* ids, in the reply's order */
  int n;
} id_list;

typedef struct list_call {
  cm__rd_batch *b;
  id_list *out;
} list_call;

/* An array reply of member names into c->out. */
static void on_ids(void *ctx, size_t i, const redisReply *rep) {
  list_call *c = ctx;
  (void)i;
  if (!cm__rd_check(c->b, rep, REDIS_REPLY_ARRAY, "a list of workers"))
    return;
  c->out->id = cm__malloc_array(rep->elements, CM_ID_MAX);
  if (!c->out->id) {
    cm__rd_fail(c->b, CM_E_NOMEM, "out of memory");
    return;
  }
  for (size_t j = 0; j < rep->elements; j++) {
    const redisReply *e = rep->element[j];
    if (e->type != REDIS_REPLY_STRING || e->len == 0 || e->len >= CM_ID_MAX) {
      cm__rd_fail(c->b, CM_E_IO, "redis: a worker set holds a bad member");
      return;
    }
    memcpy(c->out->id[c->out->n], e->str, e->len);
    c->out->id[c->out->n][e->len] = '\0';
    c->out->n++;
  }
}

/* Send the command in s->argv and read its array of ids into *out (free
 * out->id). Returns CM_OK or the error. */
static cm_status read_ids(cm__rd_store *s, id_list *out, cm_error *err) {
  cm__rd_batch b;
  list_call c = {&b, out};
  out->id = NULL;
  out->n = 0;
  cm_status st = cm__rd_begin(&b, s->r, on_ids, &c, err);
  if (st != CM_OK)
    return st;
  cm__rd_send(&b, &s->argv);
  return cm__rd_end(&b, err);
}

/* ---- each ---- */

typedef struct each_call {
  cm__rd_batch *b;
  cm_worker *w; /* decoded workers of the chunk */
  int n;        /* decoded so far (gone workers are skipped) */
} each_call;

static void on_each(void *ctx, size_t i, const redisReply *rep) {
  each_call *c = ctx;
  (void)i;
  if (!cm__rd_check(c->b, rep, REDIS_REPLY_ARRAY, "HGETALL"))
    return;
  int got = cm__rd_worker_decode(rep, &c->w[c->n]);
  if (got < 0)
    cm__rd_fail(c->b, CM_E_IO, "redis: a worker hash is malformed");
  else
    c->n += got; /* 0: removed since the listing */
}

static cm_status rd_each(cm_store *s, void (*fn)(void *ctx, const cm_worker *w),
                         void *ctx, cm_error *err) {
  cm__rd_store *st_ = rs(s);
  cm_redis *r = st_->r;
  id_list ids = {NULL, 0};
  cm_worker *w = NULL;
  cm_error_clear(err);
  if (!fn)
    return cm_error_set(err, CM_E_INVALID, "", "no callback given");
  cm__rd_argv_reset(&st_->argv);
  cm__rd_argv_str(&st_->argv, "ZRANGE");
  cm__rd_argv_add(&st_->argv, r->keys.fixed[CM__RD_K_WORKERS],
                  r->keys.fixed_len[CM__RD_K_WORKERS]);
  cm__rd_argv_str(&st_->argv, "0");
  cm__rd_argv_str(&st_->argv, "-1");
  cm_status st = read_ids(st_, &ids, err);
  if (st != CM_OK)
    goto done;
  int chunk = ids.n < EACH_CHUNK ? ids.n : EACH_CHUNK;
  if (chunk && !(w = malloc((size_t)chunk * sizeof *w))) {
    st = cm_error_set(err, CM_E_NOMEM, "", NULL);
    goto done;
  }
  for (int from = 0; from < ids.n; from += chunk) {
    int to = from + chunk < ids.n ? from + chunk : ids.n;
    cm__rd_batch b;
    each_call c = {&b, w, 0};
    if ((st = cm__rd_begin(&b, r, on_each, &c, err)) != CM_OK)
      goto done;
    for (int i = from; i < to; i++) {
      char key[CM__RD_KEY_MAX];
      cm__rd_argv_str(&st_->argv, "HGETALL");
      cm__rd_argv_add(&st_->argv, key,
                      cm__rd_key_worker(&r->keys, ids.id[i], key));
      cm__rd_send(&b, &st_->argv);
    }
    if ((st = cm__rd_end(&b, err)) != CM_OK)
      goto done;
    for (int i = 0; i < c.n; i++)
      fn(ctx, &w[i]);
  }
done:
  free(w);
  free(ids.id);
  return st;
}

/* ---- sweep ---- */

typedef struct sweep_call {
  cm__rd_store *s;
  int64_t now_ms, stale_ms;
  cm__rd_batch *b;
  long long swept; /* summed over the chunks */
} sweep_call;

static void on_swept(void *ctx, size_t i, const redisReply *rep) {
  sweep_call *c = ctx;
  (void)i;
  if (cm__rd_check(c->b, rep, REDIS_REPLY_INTEGER, "sweep"))
    c->swept += rep->integer;
}

static cm_status sweep_attempt(void *ctx, int *noscript, cm_error *err) {
  sweep_call *c = ctx;
  cm__rd_store *s = c->s;
  cm_redis *r = s->r;
  cm__rd_argv *a = &s->argv;
  int64_t limit = c->now_ms - c->stale_ms; /* stale iff seen_ms < limit */
  id_list ids = {NULL, 0};
  c->swept = 0;
  cm__rd_argv_reset(a);
  cm__rd_argv_str(a, "ZRANGEBYSCORE");
  cm__rd_argv_add(a, r->keys.fixed[CM__RD_K_SEEN],
                  r->keys.fixed_len[CM__RD_K_SEEN]);
  cm__rd_argv_str(a, "-inf");
  cm__rd_argv_i64(a, limit); /* a superset: scores are doubles, <= seen_ms */
  cm_status st = read_ids(s, &ids, err);
  if (st != CM_OK || ids.n == 0)
    goto done;
  cm__rd_batch b;
  c->b = &b;
  if ((st = cm__rd_begin(&b, r, on_swept, c, err)) != CM_OK)
    goto done;
  for (int from = 0; from < ids.n; from += SWEEP_CHUNK) {
    int to = from + SWEEP_CHUNK < ids.n ? from + SWEEP_CHUNK : ids.n;
    char key[CM__RD_KEY_MAX];
    cm__rd_evalsha_begin(a, r, CM__RD_S_SWEEP, to - from);
    for (int i = from; i < to; i++)
      cm__rd_argv_add(a, key, cm__rd_key_worker(&r->keys, ids.id[i], key));
    cm__rd_argv_i64(a, limit);
    for (int i = from; i < to; i++)
      cm__rd_argv_str(a, ids.id[i]);
    /* tagged apart from this writer's own changes: its engine did not
       make them, so the follow of the ledger on this connection must read
       them back (a daemon's mirror learns its own sweep from the stream) */
    char tag[sizeof r->origin + 8];
    int tn = snprintf(tag, sizeof tag, "%s:sweep", r->origin);
    cm__rd_argv_add(a, tag, (size_t)tn);
    cm__rd_send(&b, a);
  }
  st = cm__rd_end(&b, err);
  *noscript = b.noscript;
done:
  free(ids.id);
  return st;
}

static cm_status rd_sweep(cm_store *s, int64_t now_ms, int64_t stale_ms,
                          int *swept, cm_error *err) {
  cm_status st;
  *swept = 0;
  cm_error_clear(err);
  if ((st = cm_store_check_sweep(now_ms, stale_ms, err)) != CM_OK)
    return st;
  if (stale_ms == 0 || now_ms - stale_ms <= 0)
    return CM_OK; /* nothing can be stale */
  sweep_call c = {.s = rs(s), .now_ms = now_ms, .stale_ms = stale_ms};
  if ((st = cm__rd_scripted(rs(s)->r, sweep_attempt, &c, err)) != CM_OK)
    return st;
  *swept = (int)c.swept;
  return CM_OK;
}

/* ---- the type ---- */

static void rd_free(cm_store *s) {
  cm__rd_store *st_ = rs(s);
  if (st_->own_conn)
    cm_redis_free(st_->r);
  cm__rd_argv_free(&st_->argv);
  free(st_);
}

static const cm_store_type redis_type = {
    .name = "redis",
    .free = rd_free,
    .upsert = rd_upsert,
    .position = rd_position,
    .status = rd_status,
    .get = rd_get,
    .remove = rd_remove,
    .nearest = cm__rd_nearest,
    .sweep = rd_sweep,
    .count = rd_count,
    .each = rd_each,
};

cm__rd_store *cm__rd_store_of(cm_store *s) {
  return s && s->type == &redis_type ? rs(s) : NULL;
}

cm_store *cm_store_redis_open(cm_redis *r, cm_error *err) {
  cm_error_clear(err);
  if (!r) {
    cm_error_set(err, CM_E_INVALID, "", "no connection given");
    return NULL;
  }
  cm__rd_store *s = calloc(1, sizeof *s);
  if (!s) {
    cm_error_set(err, CM_E_NOMEM, "", NULL);
    return NULL;
  }
  s->base.type = &redis_type;
  s->r = r;
  cm__rd_argv_init(&s->argv);
  return &s->base;
}

cm_store *cm_store_redis_new(const char *host, int port, const char *region,
                             cm_error *err) {
  cm_redis *r = cm_redis_new(host, port, region, NULL, err);
  if (!r)
    return NULL;
  cm_store *s = cm_store_redis_open(r, err);
  if (!s) {
    cm_redis_free(r);
    return NULL;
  }
  rs(s)->own_conn = 1;
  return s;
}

cm_redis *cm_store_redis_conn(cm_store *s) {
  cm__rd_store *st_ = cm__rd_store_of(s);
  return st_ ? st_->r : NULL;
}

cm_status cm_store_redis_flush(cm_store *s, cm_error *err) {
  cm__rd_store *st_ = cm__rd_store_of(s);
  if (!st_)
    return cm_error_set(err, CM_E_INVALID, "", "not a Redis store");
  return cm_redis_region_flush(st_->r, err);
}
