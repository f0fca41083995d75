/* redis_ledger.c -- the Redis ledger (ledger.h, docs/ledger.md): request
 * records in cm:{r}:req:<id>, the live set, transitions committed by the
 * commit script (lua/commit.lua), worker writes through the Redis
 * store on the same connection, and following the change stream that
 * every worker-changing script appends to. */
#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "carematch/engine.h"
#include "idmap.h"
#include "redis_call.h"
#include "redis_conn.h"
#include "redis_durability.h"
#include "redis_ledger.h"
#include "redis_request.h"
#include "redis_scripts.h"
#include "redis_store.h"
#include "redis_worker.h"

#define FETCH_CHUNK 4096 /* records or workers fetched per round */
#define FOLLOW_PAGE 1000 /* change entries read per XRANGE */

static rd_ledger *rl(cm_ledger *l) {
  return (rd_ledger *)l;
}

void cm_ledger_redis_options_init(cm_ledger_redis_options *o) {
  o->keep_ms = 7LL * 24 * 3600 * 1000;
  o->events_max = 100000;
  o->durability = CM_LEDGER_DURABILITY_FSYNC;
  o->replicas = 1;
  o->durability_timeout_ms = 1000;
}

/* ---- commit ---- */

typedef struct commit_call {
  rd_ledger *l;
  const cm_ledger_change *ch;
  int n;
  cm_ledger_result *res;
  char *todo;  /* 1: not yet answered (NOSCRIPT retries these) */
  int *order;  /* changes in the order sent */
  int *gstart; /* reply i answers order[gstart[i] .. + gcount[i]) */
  int *gcount;
  int groups;      /* script calls sent by the attempt */
  long long acked; /* the WAIT after them: replicas that confirmed
                      (-1: no WAIT answered) */
  int skipped;     /* ROLE was sent in place of the WAIT (the replica
                      gate, redis_durability.h) */
  int online;      /* replicas online when the WAIT was skipped (the
                      decision's count, reported) */
  cm__rd_batch *b;
} commit_call;

static int reply_int(const redisReply *r, long long *out) {
  if (r->type == REDIS_REPLY_INTEGER) {
    *out = r->integer;
    return 0;
  }
  if (r->type == REDIS_REPLY_STRING) {
    char *end;
    *out = strtoll(r->str, &end, 10);
    return end != r->str ? 0 : -1;
  }
  return -1;
}

int cm__rd_commit_result(rd_ledger *l, const redisReply *e,
                         const cm_ledger_change *ch, cm_ledger_result *res) {
  long long tag, idx;
  if (e->type == REDIS_REPLY_INTEGER && e->integer == 1) {
    res->refusal = CM_LEDGER_OK;
    if (ch->expect_version == 0)
      l->stats.submitted++;
    return 0;
  }
  if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 ||
      reply_int(e->element[0], &tag) != 0)
    return -1;
  if (tag == 0) {
    res->refusal = CM_LEDGER_VERSION;
    return 0;
  }
  if (tag == -2) { /* the fence: docs/ha.md */
    res->refusal = CM_LEDGER_FENCED;
    l->stats.stale_epoch++;
    return 0;
  }
  if (tag == -1 && e->elements >= 2 && reply_int(e->element[1], &idx) == 0 &&
      idx >= 1 && idx <= ch->n_workers) {
    res->refusal = CM_LEDGER_WORKER;
    res->worker = (int)idx - 1;
    return 0;
  }
  return -1;
}

static void on_commit(void *ctx, size_t i, const redisReply *rep) {
  commit_call *c = ctx;
  if (i == (size_t)c->groups && c->skipped) { /* ROLE, not WAIT */
    cm__rd_gate_role(c->l->r, rep);
    return;
  }
  if (i == (size_t)c->groups) { /* the WAIT that ends the commit */
    c->acked = cm__rd_wait_read(c->b, rep);
    cm__rd_gate_wait(c->l->r, c->acked, c->l->opt.replicas);
    return;
  }
  if (rep && rep->type == REDIS_REPLY_ERROR &&
      strncmp(rep->str, "NOSCRIPT", 8) == 0) {
    c->b->noscript = 1; /* retried once the scripts are loaded again */
    return;
  }
  if (!cm__rd_check(c->b, rep, REDIS_REPLY_ARRAY, "commit"))
    return;
  if (rep->elements != (size_t)c->gcount[i]) {
    cm__rd_fail(c->b, CM_E_IO, "redis: commit answered a malformed reply");
    return;
  }
  for (int j = 0; j < c->gcount[i]; j++) {
    int k = c->order[c->gstart[i] + j];
    if (cm__rd_commit_result(c->l, rep->element[j], &c->ch[k], &c->res[k]) !=
        0) {
      cm__rd_fail(c->b, CM_E_IO, "redis: commit answered a malformed reply");
      return;
    }
    c->todo[k] = 0;
  }
}

static int finished_state(cm_request_state s) {
  return s == CM_REQ_DONE || s == CM_REQ_CANCELLED || s == CM_REQ_DISMISSED;
}

/* The arguments of one change (after the keys). Returns 0, -1 out of
 * memory. */
static int change_args(const cm_ledger_change *ch, cm__rd_argv *a) {
  const cm_request_view *v = ch->after;
  char *rec = cm__rd_request_encode(v);
  if (!rec)
    return -1;
  cm__rd_argv_str(a, v->spec.id);
  /* "<v>@": the record must also be this writer's creation (commit.lua) */
  cm__rd_argv_fmt(a, ch->expect_own ? "%" PRIu64 "@" : "%" PRIu64,
                  ch->expect_version);
  cm__rd_argv_fmt(a, "%" PRIu64, v->version);
  cm__rd_argv_fmt(a, "%d", (int)v->state);
  cm__rd_argv_str(a, finished_state(v->state) ? "0"
                     : ch->with_next          ? "2" /* a pair: commit.lua */
                                              : "1");
  cm__rd_argv_str(a, rec);
  free(rec);
  cm__rd_argv_fmt(a, "%d", ch->n_workers);
  for (int i = 0; i < ch->n_workers; i++) {
    const cm_ledger_worker *w = &ch->workers[i];
    cm__rd_argv_str(a, w->id);
    cm__rd_argv_str(a, w->take == 2 ? "2" : w->take ? "1" : "0");
    cm__rd_argv_str(a, w->give ? "1" : "0");
    cm__rd_argv_fmt(a, "%d", w->accept_delta);
    cm__rd_argv_str(a, w->done ? "1" : "0");
    if (w->elder)
      cm__rd_argv_fmt(a, "%" PRIx64, w->elder);
    else
      cm__rd_argv_str(a, "");
  }
  cm__rd_argv_fmt(a, "%d", ch->n_events);
  for (int i = 0; i < ch->n_events; i++) {
    const cm_event *e = &ch->events[i];
    cm__rd_argv_str(a, cm_event_type_name(e->type));
    cm__rd_argv_str(a, e->worker);
    cm__rd_argv_str(a, cm_request_state_name(e->from));
    cm__rd_argv_str(a, cm_request_state_name(e->to));
    cm__rd_argv_i64(a, e->at_ms);
    cm__rd_argv_i64(a, e->expires_ms);
    cm__rd_argv_double(a, e->terms.total);
    cm__rd_argv_str(a, e->actor);
    cm__rd_argv_str(a,
                    e->type == CM_EV_DISMISSED
                        ? cm_dismiss_reason_name((cm_dismiss_reason)e->dismiss)
                        : "");
    cm__rd_argv_str(a, e->to_worker);
  }
  return 0;
}

int cm__rd_commit_build(rd_ledger *l, const cm_ledger_change *const *chs, int m,
                        cm__rd_argv *a) {
  cm_redis *r = l->r;
  char key[CM__RD_KEY_MAX];
  int keys = 0;
  for (int j = 0; j < m; j++)
    keys += 1 + chs[j]->n_workers;
  cm__rd_evalsha_begin(a, r, CM__RD_S_COMMIT, keys + (l->fence >= 0));
  for (int j = 0; j < m; j++) {
    const cm_ledger_change *ch = chs[j];
    cm__rd_argv_add(a, key,
                    cm__rd_key_request(&r->keys, ch->after->spec.id, key));
    for (int i = 0; i < ch->n_workers; i++)
      cm__rd_argv_add(a, key,
                      cm__rd_key_worker(&r->keys, ch->workers[i].id, key));
  }
  if (l->fence >= 0) /* the lease key, last (commit.lua) */
    cm__rd_argv_add(a, key, cm__rd_key_lease(&r->keys, key));
  cm__rd_argv_i64(a, l->opt.keep_ms);
  cm__rd_argv_fmt(a, "%d", l->opt.events_max);
  cm__rd_argv_fmt(a, "%d", m);
  for (int j = 0; j < m; j++)
    if (change_args(chs[j], a) != 0)
      return -1;
  if (l->fence >= 0)
    cm__rd_argv_fmt(a, "%lld %s", (long long)l->fence, l->fence_holder);
  else
    cm__rd_argv_str(a, "-");
  cm__rd_argv_origin(a, r);
  return 0;
}

/* Build the EVALSHA of changes order[from .. from + m) into a. Returns 0,
 * -1 out of memory. */
static int build_group(rd_ledger *l, const commit_call *c, int from, int m,
                       cm__rd_argv *a) {
  const cm_ledger_change *chs[CM__RD_COMMIT_GROUP];
  for (int j = 0; j < m; j++)
    chs[j] = &c->ch[c->order[from + j]];
  return cm__rd_commit_build(l, chs, m, a);
}

static cm_status commit_attempt(void *ctx, int *noscript, cm_error *err) {
  commit_call *c = ctx;
  cm__rd_batch b;
  c->b = &b;
  cm_status st = cm__rd_begin(&b, c->l->r, on_commit, c, err);
  if (st != CM_OK)
    return st;
  int m = 0, groups = 0;
  for (int k = 0; k < c->n; k++)
    if (c->todo[k])
      c->order[m++] = k;
  for (int from = 0; from < m && !b.lost; from += CM__RD_COMMIT_GROUP) {
    int cnt = m - from < CM__RD_COMMIT_GROUP ? m - from : CM__RD_COMMIT_GROUP;
    cm__rd_argv_reset(&c->l->argv);
    if (build_group(c->l, c, from, cnt, &c->l->argv) != 0) {
      cm__rd_fail(&b, CM_E_NOMEM, "out of memory");
      break;
    }
    c->gstart[groups] = from;
    c->gcount[groups++] = cnt;
    cm__rd_send(&b, &c->l->argv);
  }
  /* replica level: the WAIT is part of the commit, pipelined after its
     scripts (no extra round trip); it covers every write this connection
     made before it */
  c->groups = groups;
  c->acked = -1;
  const cm_ledger_redis_options *o = &c->l->opt;
  c->skipped = cm__rd_wait_skip(c->l->r, o->replicas);
  c->online = c->l->r->replicas_online;
  if (o->durability == CM_LEDGER_DURABILITY_REPLICA && !b.lost &&
      b.fail.code == CM_OK && c->skipped)
    cm__rd_role_send(&b, &c->l->argv); /* a WAIT could only time out */
  else if (o->durability == CM_LEDGER_DURABILITY_REPLICA && !b.lost &&
           b.fail.code == CM_OK)
    cm__rd_wait_send(&b, &c->l->argv, o->replicas, o->durability_timeout_ms);
  st = cm__rd_end(&b, err);
  *noscript = b.noscript && st == CM_OK;
  return st;
}

static cm_status check_change(const cm_ledger_change *ch, int k,
                              cm_error *err) {
  if (!ch->after || !ch->after->spec.id[0] || ch->n_workers < 0 ||
      ch->n_workers > CM_MAX_STAFF || ch->n_events < 0 ||
      (ch->n_events > 0 && !ch->events))
    return cm_error_set(err, CM_E_INVALID, "$.changes",
                        "$.changes[%d]: malformed change", k);
  return CM_OK;
}

static void st_free(commit_call *c) {
  free(c->todo);
  free(c->order);
  free(c->gstart);
  free(c->gcount);
}

cm_status cm__rd_commit(cm_ledger *lg, const cm_ledger_change *ch, int n,
                        cm_ledger_result *res, cm_error *err) {
  rd_ledger *l = rl(lg);
  cm_error_clear(err);
  if (n < 0 || (n > 0 && (!ch || !res)))
    return cm_error_set(err, CM_E_INVALID, "$.changes",
                        "$.changes: bad arguments");
  for (int k = 0; k < n; k++) {
    cm_status st = check_change(&ch[k], k, err);
    if (st != CM_OK)
      return st;
  }
  if (n == 0)
    return CM_OK;
  commit_call c;
  memset(&c, 0, sizeof c);
  c.l = l;
  c.ch = ch;
  c.n = n;
  c.res = res;
  c.todo = calloc((size_t)n, 1);
  c.order = malloc((size_t)n * sizeof(int));
  c.gstart = malloc((size_t)n * sizeof(int));
  c.gcount = malloc((size_t)n * sizeof(int));
  if (!c.todo || !c.order || !c.gstart || !c.gcount) {
    st_free(&c);
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  memset(c.todo, 1, (size_t)n);
  memset(res, 0, (size_t)n * sizeof *res);
  cm_status st = cm__rd_scripted(l->r, commit_attempt, &c, err);
  for (int k = 0; st == CM_OK && k < n; k++)
    if (c.todo[k])
      st = cm_error_set(err, CM_E_IO, "", "redis: a commit got no answer");
  if (st == CM_OK && l->opt.durability == CM_LEDGER_DURABILITY_REPLICA &&
      c.skipped) { /* the results stand in the primary, unconfirmed */
    l->stats.skipped_waits++;
    l->stats.not_durable++;
    st = cm__rd_not_durable_now(err, c.online, l->opt.replicas);
  } else if (st == CM_OK && l->opt.durability == CM_LEDGER_DURABILITY_REPLICA) {
    l->stats.waits++;
    if (c.acked < l->opt.replicas) { /* the results stand in the primary */
      l->stats.not_durable++;
      l->stats.wait_timeouts += c.acked >= 0;
      st = cm__rd_not_durable(err, c.acked < 0 ? 0 : c.acked, l->opt.replicas,
                              l->opt.durability_timeout_ms);
    }
  }
  st_free(&c);
  return st;
}

/* ---- records ---- */

typedef struct rec_call {
  cm__rd_batch *b;
  cm_request_view *out; /* decoded records */
  int n;                /* how many */
  int missing;          /* nil replies (no such record) */
} rec_call;

static void on_record(void *ctx, size_t i, const redisReply *rep) {
  rec_call *c = ctx;
  (void)i;
  if (rep && rep->type == REDIS_REPLY_NIL) {
    c->missing++;
    return;
  }
  if (!cm__rd_check(c->b, rep, REDIS_REPLY_STRING, "HGET"))
    return;
  if (cm__rd_request_decode(rep->str, rep->len, &c->out[c->n]) != 0)
    cm__rd_fail(c->b, CM_E_IO, "redis: a request record is malformed");
  else
    c->n++;
}

static void send_hget_rec(rd_ledger *l, cm__rd_batch *b, const char *id) {
  char key[CM__RD_KEY_MAX];
  cm__rd_argv *a = &l->argv;
  cm__rd_argv_reset(a);
  cm__rd_argv_str(a, "HGET");
  cm__rd_argv_add(a, key, cm__rd_key_request(&l->r->keys, id, key));
  cm__rd_argv_str(a, "rec");
  cm__rd_send(b, a);
}

static cm_status rd_get(cm_ledger *lg, const char *id, cm_request_view *out,
                        cm_error *err) {
  rd_ledger *l = rl(lg);
  cm_error_clear(err);
  size_t len = id ? strnlen(id, CM_ID_MAX) : 0;
  if (len == 0 || len >= CM_ID_MAX || !out)
    return cm_error_set(err, CM_E_UNKNOWN_ID, "$.request",
                        "$.request: no request '%s'", id ? id : "");
  cm__rd_batch b;
  rec_call c = {&b, out, 0, 0};
  cm_status st = cm__rd_begin(&b, l->r, on_record, &c, err);
  if (st != CM_OK)
    return st;
  send_hget_rec(l, &b, id);
  if ((st = cm__rd_end(&b, err)) != CM_OK)
    return st;
  if (c.n == 0)
    return cm_error_set(err, CM_E_UNKNOWN_ID, "$.request",
                        "$.request: no request '%s' in the ledger", id);
  return CM_OK;
}

/* A list of ids read with one command. */
typedef struct id_list {
  cm__rd_batch *b;
  char (*id)[CM_ID_MAX];
  int n;
} id_list;

static void on_id_list(void *ctx, size_t i, const redisReply *rep) {
  id_list *c = ctx;
  (void)i;
  if (!cm__rd_check(c->b, rep, REDIS_REPLY_ARRAY, "ZRANGE"))
    return;
  c->id = cm__malloc_array(rep->elements, sizeof *c->id);
  if (!c->id) {
    cm__rd_fail(c->b, CM_E_NOMEM, "out of memory");
    return;
  }
  for (size_t k = 0; k < rep->elements; k++) {
    const redisReply *e = rep->element[k];
    if (e->type != REDIS_REPLY_STRING || e->len == 0 || e->len >= CM_ID_MAX) {
      cm__rd_fail(c->b, CM_E_IO, "redis: a live request id is malformed");
      return;
    }
    memcpy(c->id[c->n], e->str, e->len);
    c->id[c->n++][e->len] = '\0';
  }
}

static cm_status rd_each_live(cm_ledger *lg, cm_ledger_request_fn fn, void *ctx,
                              cm_error *err) {
  rd_ledger *l = rl(lg);
  cm_redis *r = l->r;
  cm_error_clear(err);
  if (!fn)
    return cm_error_set(err, CM_E_INVALID, "", "no callback given");
  cm__rd_batch b;
  id_list ids = {&b, NULL, 0};
  cm_status st = cm__rd_begin(&b, r, on_id_list, &ids, err);
  if (st != CM_OK)
    return st;
  cm__rd_argv_reset(&l->argv);
  cm__rd_argv_str(&l->argv, "ZRANGE");
  cm__rd_argv_add(&l->argv, r->keys.fixed[CM__RD_K_LIVE],
                  r->keys.fixed_len[CM__RD_K_LIVE]);
  cm__rd_argv_str(&l->argv, "0");
  cm__rd_argv_str(&l->argv, "-1");
  cm__rd_send(&b, &l->argv);
  cm_request_view *v = NULL;
  if ((st = cm__rd_end(&b, err)) != CM_OK)
    goto done;
  int chunk = ids.n < FETCH_CHUNK ? ids.n : FETCH_CHUNK;
  if (chunk && !(v = malloc((size_t)chunk * sizeof *v))) {
    st = cm_error_set(err, CM_E_NOMEM, "", NULL);
    goto done;
  }
  for (int from = 0; from < ids.n; from += chunk) {
    int to = from + chunk < ids.n ? from + chunk : ids.n;
    rec_call c = {&b, v, 0, 0};
    if ((st = cm__rd_begin(&b, r, on_record, &c, err)) != CM_OK)
      goto done;
    for (int i = from; i < to; i++)
      send_hget_rec(l, &b, ids.id[i]);
    if ((st = cm__rd_end(&b, err)) != CM_OK)
      goto done;
    for (int i = 0; i < c.n; i++) /* outside the call: fn may call us */
      fn(ctx, &v[i]);
  }
done:
  free(v);
  free(ids.id);
  return st;
}

/* ---- workers ---- */

static cm_status rd_worker_upsert(cm_ledger *lg, const cm_worker *w,
                                  cm_error *err) {
  return cm_store_upsert(rl(lg)->store, w, err);
}

static cm_status rd_worker_positions(cm_ledger *lg, int n,
                                     const char *const *ids, const double *lat,
                                     const double *lon, const int64_t *seen_ms,
                                     cm_error *err) {
  return cm_store_redis_positions(rl(lg)->store, n, ids, lat, lon, seen_ms,
                                  err);
}

static cm_status rd_worker_shift(cm_ledger *lg, const char *id, int on_shift,
                                 cm_error *err) {
  return cm_store_status(rl(lg)->store, id,
                         on_shift ? CM_WORKER_AVAILABLE : CM_WORKER_OFFLINE,
                         err);
}

static cm_status rd_each_worker(cm_ledger *lg, cm_ledger_worker_fn fn,
                                void *ctx, cm_error *err) {
  return cm_store_each(rl(lg)->store, fn, ctx, err);
}

/* ---- following the change stream ---- */

typedef struct info_call {
  cm__rd_batch *b;
  int exists;
  char last[48];
  long long added;
} info_call;

/* XINFO STREAM: a map (RESP2: flat array) of fields; we need
 * last-generated-id and entries-added (Redis >= 7.0). */
static void on_info(void *ctx, size_t i, const redisReply *rep) {
  info_call *c = ctx;
  (void)i;
  if (rep && rep->type == REDIS_REPLY_ERROR &&
      strstr(rep->str, "no such key")) {
    c->exists = 0;
    return;
  }
  if (!cm__rd_check(c->b, rep, REDIS_REPLY_ARRAY, "XINFO STREAM"))
    return;
  int got = 0;
  for (size_t k = 0; k + 1 < rep->elements; k += 2) {
    const redisReply *f = rep->element[k], *v = rep->element[k + 1];
    if (f->type != REDIS_REPLY_STRING)
      continue;
    if (!strcmp(f->str, "last-generated-id") && v->type == REDIS_REPLY_STRING &&
        v->len < sizeof c->last) {
      memcpy(c->last, v->str, v->len);
      c->last[v->len] = '\0';
      got |= 1;
    } else if (!strcmp(f->str, "entries-added") &&
               v->type == REDIS_REPLY_INTEGER) {
      c->added = v->integer;
      got |= 2;
    }
  }
  if (got != 3)
    cm__rd_fail(c->b, CM_E_IO,
                "redis: XINFO STREAM lacks entries-added (Redis >= 7.0 is "
                "needed)");
  c->exists = 1;
}

static cm_status stream_info(rd_ledger *l, info_call *c, cm_error *err) {
  cm__rd_batch b;
  memset(c, 0, sizeof *c);
  c->b = &b;
  strcpy(c->last, "0-0");
  cm_status st = cm__rd_begin(&b, l->r, on_info, c, err);
  if (st != CM_OK)
    return st;
  cm__rd_argv_reset(&l->argv);
  cm__rd_argv_str(&l->argv, "XINFO");
  cm__rd_argv_str(&l->argv, "STREAM");
  cm__rd_argv_add(&l->argv, l->r->keys.fixed[CM__RD_K_CHANGES],
                  l->r->keys.fixed_len[CM__RD_K_CHANGES]);
  cm__rd_send(&b, &l->argv);
  return cm__rd_end(&b, err);
}

int cm__rd_mark_parse(cm__rd_batch *b, const redisReply *rep, char *last,
                      size_t n, long long *added, int *exists) {
  info_call c;
  memset(&c, 0, sizeof c);
  c.b = b;
  strcpy(c.last, "0-0");
  on_info(&c, 0, rep);
  snprintf(last, n, "%s", c.last);
  *added = c.added;
  *exists = c.exists;
  return b->fail.code == CM_OK && !b->lost ? 0 : -1;
}

static cm_status rd_follow_start(cm_ledger *lg, cm_error *err) {
  rd_ledger *l = rl(lg);
  info_call c;
  cm_error_clear(err);
  l->following = 0;
  cm_status st = stream_info(l, &c, err);
  if (st != CM_OK)
    return st;
  snprintf(l->last_id, sizeof l->last_id, "%s", c.last);
  l->added_start = c.added;
  l->consumed = 0;
  l->epoch = l->r->epoch;
  l->following = 1;
  return CM_OK;
}

typedef struct page_call {
  cm__rd_batch *b;
  rd_ledger *l;
  char (**ids)[CM_ID_MAX]; /* ids changed by others (repeats included) */
  int *n, *cap;
  int entries;      /* entries in this page */
  const char *upto; /* NULL, or the last id to read: later entries (a
                       page asked up to "+") are left for the next follow */
} page_call;

/* Stream ids "ms-seq": <0, 0, >0 as a is before, equal to, after b. */
static int id_cmp(const char *a, const char *b) {
  char *end;
  unsigned long long ams = strtoull(a, &end, 10), aseq = 0;
  if (*end == '-')
    aseq = strtoull(end + 1, NULL, 10);
  unsigned long long bms = strtoull(b, &end, 10), bseq = 0;
  if (*end == '-')
    bseq = strtoull(end + 1, NULL, 10);
  if (ams != bms)
    return ams < bms ? -1 : 1;
  return aseq < bseq ? -1 : aseq > bseq;
}

static void add_changed(page_call *c, const char *id, size_t len) {
  if (len == 0 || len >= CM_ID_MAX)
    return;
  if (*c->n == *c->cap) {
    int cap = *c->cap ? 2 * *c->cap : 64;
    char(*p)[CM_ID_MAX] = realloc(*c->ids, (size_t)cap * sizeof *p);
    if (!p) {
      cm__rd_fail(c->b, CM_E_NOMEM, "out of memory");
      return;
    }
    *c->ids = p;
    *c->cap = cap;
  }
  memcpy((*c->ids)[*c->n], id, len);
  (*c->ids)[(*c->n)++][len] = '\0';
}

/* Keep the first of each id (the map borrows the ids, which no longer
 * move). Returns the count kept, or -1 out of memory. */
static int unique(char (*ids)[CM_ID_MAX], int n) {
  cm__idmap seen;
  if (cm__idmap_init(&seen, (size_t)n + 1) != 0)
    return -1;
  int kept = 0;
  for (int i = 0; i < n; i++) {
    int put = cm__idmap_put(&seen, ids[i], i, NULL);
    if (put < 0) {
      kept = -1;
      break;
    }
    if (put == 1 && kept != i) { /* keep it at ids[kept]: re-key the map */
      memcpy(ids[kept], ids[i], CM_ID_MAX);
      cm__idmap_set(&seen, ids[kept], kept);
    }
    kept += put == 1;
  }
  cm__idmap_free(&seen);
  return kept;
}

/* XRANGE reply: [[id, [field, value, ...]], ...] */
static void on_page(void *ctx, size_t i, const redisReply *rep) {
  page_call *c = ctx;
  (void)i;
  if (!cm__rd_check(c->b, rep, REDIS_REPLY_ARRAY, "XRANGE"))
    return;
  for (size_t k = 0; k < rep->elements; k++) {
    const redisReply *e = rep->element[k];
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[1]->type != REDIS_REPLY_ARRAY ||
        e->element[0]->len >= sizeof c->l->last_id) {
      cm__rd_fail(c->b, CM_E_IO, "redis: a change entry is malformed");
      return;
    }
    if (c->upto && id_cmp(e->element[0]->str, c->upto) > 0)
      break; /* past what XINFO saw: the next follow reads it */
    memcpy(c->l->last_id, e->element[0]->str, e->element[0]->len);
    c->l->last_id[e->element[0]->len] = '\0';
    c->entries++;
    const redisReply *f = e->element[1];
    if (f->elements < 2 || strcmp(f->element[1]->str ? f->element[1]->str : "",
                                  c->l->r->origin) == 0)
      continue; /* our own writes are in the mirror already */
    for (size_t j = 2; j + 1 < f->elements; j += 2)
      if (f->element[j + 1]->type == REDIS_REPLY_STRING)
        add_changed(c, f->element[j + 1]->str, f->element[j + 1]->len);
  }
}

/* Fetched workers: w[i] for ids[i], or gone[i]. */
typedef struct fetch_call {
  cm__rd_batch *b;
  cm_worker *w;
  char *gone;
} fetch_call;

static void on_fetch(void *ctx, size_t i, const redisReply *rep) {
  fetch_call *c = ctx;
  if (!cm__rd_check(c->b, rep, REDIS_REPLY_ARRAY, "HGETALL"))
    return;
  int got = cm__rd_worker_decode(rep, &c->w[i]);
  if (got < 0)
    cm__rd_fail(c->b, CM_E_IO, "redis: a worker hash is malformed");
  c->gone[i] = got == 0;
}

/* Report the current state of ids[0..n). */
static cm_status report(rd_ledger *l, char (*ids)[CM_ID_MAX], int n,
                        cm_ledger_change_fn fn, void *ctx, cm_error *err) {
  cm_status st = CM_OK;
  int chunk = n < FETCH_CHUNK ? n : FETCH_CHUNK;
  cm_worker *w = cm__malloc_array((size_t)chunk, sizeof *w);
  char *gone = cm__malloc_array((size_t)chunk, 1);
  if (!w || !gone) {
    st = cm_error_set(err, CM_E_NOMEM, "", NULL);
    goto done;
  }
  for (int from = 0; from < n; from += chunk) {
    int to = from + chunk < n ? from + chunk : n;
    cm__rd_batch b;
    fetch_call c = {&b, w, gone};
    if ((st = cm__rd_begin(&b, l->r, on_fetch, &c, err)) != CM_OK)
      goto done;
    for (int i = from; i < to; i++) {
      char key[CM__RD_KEY_MAX];
      cm__rd_argv_reset(&l->argv);
      cm__rd_argv_str(&l->argv, "HGETALL");
      cm__rd_argv_add(&l->argv, key,
                      cm__rd_key_worker(&l->r->keys, ids[i], key));
      cm__rd_send(&b, &l->argv);
    }
    l->follow_rounds++;
    if ((st = cm__rd_end(&b, err)) != CM_OK)
      goto done;
    for (int i = from; i < to; i++)
      fn(ctx, ids[i], gone[i - from] ? NULL : &w[i - from]);
  }
done:
  free(w);
  free(gone);
  return st;
}

static cm_status rd_follow(cm_ledger *lg, cm_ledger_change_fn fn, void *ctx,
                           int *lost, cm_error *err) {
  rd_ledger *l = rl(lg);
  cm_error_clear(err);
  *lost = 0;
  if (!fn)
    return cm_error_set(err, CM_E_INVALID, "", "no callback given");
  if (!l->following) {
    *lost = 1;
    return CM_OK;
  }
  info_call info;
  cm_status st = stream_info(l, &info, err);
  l->follow_rounds++;
  if (st != CM_OK)
    return st;
  if (l->r->epoch != l->epoch || (!info.exists && l->added_start > 0) ||
      info.added < l->added_start) {
    *lost = 1; /* reconnected (Redis may have restarted) or the stream went */
    return CM_OK;
  }
  if (!strcmp(info.last, l->last_id))
    return CM_OK;
  char(*ids)[CM_ID_MAX] = NULL;
  int n = 0, cap = 0;
  for (;;) { /* pages of entries after last_id, up to info.last */
    cm__rd_batch b;
    page_call c = {&b, l, &ids, &n, &cap, 0, NULL};
    if ((st = cm__rd_begin(&b, l->r, on_page, &c, err)) != CM_OK)
      break;
    char from[52];
    snprintf(from, sizeof from, "(%s", l->last_id);
    cm__rd_argv_reset(&l->argv);
    cm__rd_argv_str(&l->argv, "XRANGE");
    cm__rd_argv_add(&l->argv, l->r->keys.fixed[CM__RD_K_CHANGES],
                    l->r->keys.fixed_len[CM__RD_K_CHANGES]);
    cm__rd_argv_str(&l->argv, from);
    cm__rd_argv_str(&l->argv, info.last);
    cm__rd_argv_str(&l->argv, "COUNT");
    cm__rd_argv_fmt(&l->argv, "%d", FOLLOW_PAGE);
    cm__rd_send(&b, &l->argv);
    l->follow_rounds++;
    if ((st = cm__rd_end(&b, err)) != CM_OK)
      break;
    l->consumed += c.entries;
    if (c.entries < FOLLOW_PAGE)
      break;
  }
  /* every entry added since the start must have been read: fewer means
     the stream was trimmed past us */
  if (st == CM_OK && l->consumed != info.added - l->added_start)
    *lost = 1;
  else if (st == CM_OK && (n = unique(ids, n)) < 0)
    st = cm_error_set(err, CM_E_NOMEM, "", NULL);
  else if (st == CM_OK)
    st = report(l, ids, n, fn, ctx, err);
  if (st != CM_OK)
    l->following = 0;
  free(ids);
  return st;
}

/* ---- following asynchronously (ledger.h's follow_async) ----
 *
 * The same reads as rd_follow (XINFO STREAM, XRANGE pages, HGETALL of the
 * workers others changed), sent on the proposals' connection (the
 * caller's base), each round from the previous one's callback, so the
 * caller's loop runs meanwhile (docs/async.md). XINFO and the first page
 * go in one round trip (the page asked up to "+", cut at XINFO's last id):
 * a follow with no other writer's change costs one round. The replies are
 * parsed by rd_follow's own handlers, with a batch that is never begun as their
 * error record. A dropped connection answers the command in flight with NULL:
 * the follow ends CM_E_UNAVAILABLE and starts again from follow_start, as
 * rd_follow does on an error. */

typedef struct rd_follow_op {
  rd_ledger *l;               /* NULL: the ledger was freed meanwhile */
  cm_redis *r;                /* the connection it runs on */
  cm_ledger_change_fn fn;     /* the caller's */
  void *ctx;                  /* */
  cm_ledger_followed_fn done; /* */
  cm__rd_batch b;             /* the handlers' error record (not begun) */
  cm__rd_argv argv;           /* the command being sent */
  info_call info;             /* the stream as XINFO saw it */
  char (*ids)[CM_ID_MAX];     /* workers changed by others */
  int n, cap;                 /* */
  int from, to;               /* the chunk being fetched: ids[from..to) */
  int got;                    /* its replies in */
  cm_worker *w;               /* its workers */
  char *gone;                 /* */
  struct event *timer;        /* no reply for timeout_ms: drop */
  int solo;                   /* XINFO sent without its page (out of
                                 memory): its reply ends the follow */
  int deferred;               /* waiting for the turn's proposals to go
                                 first (cm__rd_group_after) */
} rd_follow_op;

/* No reply for the connection's timeout_ms (a hung server): the
 * connection is dropped, as a group's timer does (redis_group.c), which
 * answers the command in flight NULL and so ends the follow. */
static void on_follow_timer(evutil_socket_t fd, short what, void *arg) {
  rd_follow_op *f = arg;
  char why[64];
  (void)fd;
  (void)what;
  snprintf(why, sizeof why, "no reply within %d ms", f->r->timeout_ms);
  cm__rd_drop(f->r, why);
}

/* (Re)start the wait for the next reply. */
static void follow_op_arm(rd_follow_op *f) {
  struct timeval tv = {f->r->timeout_ms / 1000,
                       (f->r->timeout_ms % 1000) * 1000};
  if (f->timer)
    evtimer_add(f->timer, &tv);
}

static void follow_op_end(rd_follow_op *f, cm_status st, int lost,
                          const char *why) {
  cm_error err;
  cm_error_clear(&err);
  if (f->l) {
    f->l->follow_op = NULL;
    if (st != CM_OK)
      f->l->following = 0; /* as rd_follow: start again */
  }
  if (st != CM_OK) {
    if (f->b.fail.code != CM_OK && !f->b.lost)
      err = f->b.fail;
    else
      cm_error_set(&err, CM_E_UNAVAILABLE, "", "redis: %s", why);
    st = err.code;
  }
  if (f->timer)
    event_free(f->timer);
  f->done(f->ctx, st, lost, &err);
  cm__rd_argv_free(&f->argv);
  free(f->ids);
  free(f->w);
  free(f->gone);
  free(f);
}

/* The next command built in f->argv, sent with callback cb. Returns 0,
 * or -1 (not connected, out of memory: nothing sent, argv reset). */
static int follow_op_send(rd_follow_op *f, redisCallbackFn *cb) {
  redisAsyncContext *ac = f->r->ac;
  int rc = ac && cm__rd_argv_finish(&f->argv) == 0 &&
                   redisAsyncCommandArgv(ac, cb, f, f->argv.argc, f->argv.ptrs,
                                         f->argv.alen) == REDIS_OK
               ? 0
               : -1;
  cm__rd_argv_reset(&f->argv);
  if (rc == 0)
    follow_op_arm(f);
  return rc;
}

/* A reply that cannot be used (NULL: the connection dropped or the
 * ledger was freed; an error recorded by a handler) ends the follow.
 * Returns 1 when it did. */
static int follow_op_failed(rd_follow_op *f, const void *reply) {
  if (reply && f->l && !f->b.lost && f->b.fail.code == CM_OK)
    return 0;
  if (!reply || !f->l)
    f->b.lost = 1;
  follow_op_end(f, CM_E_UNAVAILABLE, 0,
                f->l ? "the connection was lost" : "the ledger was freed");
  return 1;
}

static void follow_op_fetch(rd_follow_op *f);

/* One HGETALL of the chunk ids[from..to): every one is answered once
 * (NULL when the connection drops), so the chunk ends at its last. */
static void on_async_fetch(redisAsyncContext *ac, void *reply, void *priv) {
  rd_follow_op *f = priv;
  (void)ac;
  size_t i = (size_t)f->got++;
  if (!reply || !f->l)
    f->b.lost = 1;
  else if (f->b.fail.code == CM_OK && !f->b.lost) {
    fetch_call c = {&f->b, f->w, f->gone};
    on_fetch(&c, i, reply);
  }
  if (f->from + f->got < f->to)
    return;
  if (f->b.lost || f->b.fail.code != CM_OK) {
    follow_op_end(f, CM_E_UNAVAILABLE, 0,
                  f->l ? "the connection was lost" : "the ledger was freed");
    return;
  }
  for (int k = f->from; k < f->to; k++)
    f->fn(f->ctx, f->ids[k], f->gone[k - f->from] ? NULL : &f->w[k - f->from]);
  f->from = f->to;
  follow_op_fetch(f);
}

/* HGETALL of the next chunk of ids, or the end. */
static void follow_op_fetch(rd_follow_op *f) {
  if (f->from >= f->n) {
    follow_op_end(f, CM_OK, 0, "");
    return;
  }
  int to = f->from + FETCH_CHUNK < f->n ? f->from + FETCH_CHUNK : f->n;
  f->got = 0;
  f->to = f->from;
  for (int i = f->from; i < to; i++) {
    char key[CM__RD_KEY_MAX];
    cm__rd_argv_str(&f->argv, "HGETALL");
    cm__rd_argv_add(&f->argv, key,
                    cm__rd_key_worker(&f->l->r->keys, f->ids[i], key));
    if (follow_op_send(f, on_async_fetch) != 0) {
      f->b.lost = 1; /* the ones sent are answered, then it ends */
      break;
    }
    f->to++;
  }
  if (f->to == f->from) /* nothing sent: nothing will answer */
    follow_op_end(f, CM_E_UNAVAILABLE, 0, "not connected");
  else
    f->l->follow_rounds++;
}

static void follow_op_page(rd_follow_op *f);

/* A page's entries in (c: its parse): the next page, or, once the
 * entries up to what XINFO saw are read, the workers others changed. */
static void follow_op_paged(rd_follow_op *f, const page_call *c) {
  rd_ledger *l = f->l;
  l->consumed += c->entries;
  if (c->entries == FOLLOW_PAGE) {
    follow_op_page(f);
    return;
  }
  if (l->consumed != f->info.added - l->added_start) {
    follow_op_end(f, CM_OK, 1, ""); /* trimmed past us */
    return;
  }
  if ((f->n = unique(f->ids, f->n)) < 0) {
    cm__rd_fail(&f->b, CM_E_NOMEM, "out of memory");
    follow_op_end(f, CM_E_NOMEM, 0, "");
    return;
  }
  int chunk = f->n < FETCH_CHUNK ? f->n : FETCH_CHUNK;
  if (chunk > 0 && (!(f->w = cm__malloc_array((size_t)chunk, sizeof *f->w)) ||
                    !(f->gone = cm__malloc_array((size_t)chunk, 1)))) {
    cm__rd_fail(&f->b, CM_E_NOMEM, "out of memory");
    follow_op_end(f, CM_E_NOMEM, 0, "");
    return;
  }
  f->from = 0;
  follow_op_fetch(f); /* none changed by others: ends at once */
}

static void on_async_page(redisAsyncContext *ac, void *reply, void *priv) {
  rd_follow_op *f = priv;
  (void)ac;
  if (follow_op_failed(f, reply))
    return;
  page_call c = {&f->b, f->l, &f->ids, &f->n, &f->cap, 0, NULL};
  on_page(&c, 0, reply);
  if (follow_op_failed(f, reply))
    return;
  follow_op_paged(f, &c);
}

/* XRANGE of the entries after last_id, up to what XINFO saw. */
static void follow_op_page(rd_follow_op *f) {
  rd_ledger *l = f->l;
  char from[52];
  snprintf(from, sizeof from, "(%s", l->last_id);
  cm__rd_argv_str(&f->argv, "XRANGE");
  cm__rd_argv_add(&f->argv, l->r->keys.fixed[CM__RD_K_CHANGES],
                  l->r->keys.fixed_len[CM__RD_K_CHANGES]);
  cm__rd_argv_str(&f->argv, from);
  cm__rd_argv_str(&f->argv, f->info.last);
  cm__rd_argv_str(&f->argv, "COUNT");
  cm__rd_argv_fmt(&f->argv, "%d", FOLLOW_PAGE);
  if (follow_op_send(f, on_async_page) != 0)
    follow_op_end(f, CM_E_UNAVAILABLE, 0, "not connected");
  else
    l->follow_rounds++;
}

/* XINFO's reply, the first of the pipeline: parsed and kept; the first
 * page's reply, which always follows it, decides. A NULL reply (the
 * connection dropped) is recorded: the page's, NULL too, ends it. */
static void on_async_info(redisAsyncContext *ac, void *reply, void *priv) {
  rd_follow_op *f = priv;
  (void)ac;
  if (!reply || !f->l)
    f->b.lost = 1;
  if (f->solo) { /* the page could not be queued (out of memory) */
    follow_op_end(f, CM_E_UNAVAILABLE, 0, "a command could not be queued");
    return;
  }
  if (f->b.lost)
    return;
  strcpy(f->info.last, "0-0");
  f->info.b = &f->b;
  on_info(&f->info, 0, reply); /* an error is recorded in f->b */
}

/* The first page, asked up to "+" in the same round trip as XINFO: used
 * when XINFO says it can be (same connection, the stream not recreated),
 * its entries past XINFO's last id left for the next follow. */
static void on_async_first(redisAsyncContext *ac, void *reply, void *priv) {
  rd_follow_op *f = priv;
  (void)ac;
  if (follow_op_failed(f, reply))
    return;
  rd_ledger *l = f->l;
  if (l->r->epoch != l->epoch || (!f->info.exists && l->added_start > 0) ||
      f->info.added < l->added_start) {
    follow_op_end(f, CM_OK, 1, ""); /* as rd_follow: lost track */
    return;
  }
  if (!strcmp(f->info.last, l->last_id)) {
    follow_op_end(f, CM_OK, 0, ""); /* nothing new */
    return;
  }
  page_call c = {&f->b, l, &f->ids, &f->n, &f->cap, 0, f->info.last};
  on_page(&c, 0, reply);
  if (follow_op_failed(f, reply))
    return;
  follow_op_paged(f, &c);
}

/* Send the follow's first round trip: XINFO STREAM, then XRANGE (last_id
 * + COUNT page, both written together so Redis answers them together.
 * Returns 0 (in flight), or -1 (nothing sent: not connected). */
static int follow_op_go(rd_follow_op *f) {
  rd_ledger *l = f->l;
  cm__rd_argv_str(&f->argv, "XINFO");
  cm__rd_argv_str(&f->argv, "STREAM");
  cm__rd_argv_add(&f->argv, l->r->keys.fixed[CM__RD_K_CHANGES],
                  l->r->keys.fixed_len[CM__RD_K_CHANGES]);
  if (follow_op_send(f, on_async_info) != 0)
    return -1;
  l->follow_rounds++;
  char from[52];
  snprintf(from, sizeof from, "(%s", l->last_id);
  cm__rd_argv_str(&f->argv, "XRANGE");
  cm__rd_argv_add(&f->argv, l->r->keys.fixed[CM__RD_K_CHANGES],
                  l->r->keys.fixed_len[CM__RD_K_CHANGES]);
  cm__rd_argv_str(&f->argv, from);
  cm__rd_argv_str(&f->argv, "+");
  cm__rd_argv_str(&f->argv, "COUNT");
  cm__rd_argv_fmt(&f->argv, "%d", FOLLOW_PAGE);
  if (follow_op_send(f, on_async_first) != 0)
    f->solo = 1; /* XINFO is queued and will answer: it ends the follow */
  return 0;
}

/* The proposals of the turn the follow was asked in are sent (or told
 * they cannot be): now the follow, behind them on the connection, so it
 * is answered after their commits are applied (redis_group.c). */
static void follow_op_deferred(void *arg) {
  rd_follow_op *f = arg;
  f->deferred = 0;
  if (follow_op_go(f) != 0)
    follow_op_end(f, CM_E_UNAVAILABLE, 0, "not connected");
}

static cm_status rd_follow_async(cm_ledger *lg, cm_ledger_change_fn fn,
                                 void *ctx, cm_ledger_followed_fn done,
                                 cm_error *err) {
  rd_ledger *l = rl(lg);
  cm_redis *r = cm__rd_group_conn(l);
  cm_error_clear(err);
  if (!fn || !done)
    return cm_error_set(err, CM_E_INVALID, "", "no callback given");
  if (l->follow_op || l->rebuild_op)
    return cm_error_set(err, CM_E_CONFLICT, "", "a follow is in flight");
  if (r->own_base) { /* nobody runs a private loop: synchronously */
    int lost = 0;
    cm_status st = rd_follow(lg, fn, ctx, &lost, err);
    done(ctx, st, lost, err);
    return CM_OK;
  }
  if (!l->following) {
    done(ctx, CM_OK, 1, err);
    return CM_OK;
  }
  if (!r->ac)
    return cm__rd_unavailable(r, err);
  rd_follow_op *f = calloc(1, sizeof *f);
  if (!f)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  f->l = l;
  f->r = r;
  f->fn = fn;
  f->ctx = ctx;
  f->done = done;
  cm__rd_batch_init(&f->b, r, NULL, NULL);
  cm__rd_argv_init(&f->argv);
  f->timer = evtimer_new(r->base, on_follow_timer, f);
  if (!f->timer) {
    cm__rd_argv_free(&f->argv);
    free(f);
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  l->follow_op = f;
  if (cm__rd_group_after(l, follow_op_deferred, f)) {
    f->deferred = 1; /* sent behind the proposals of this turn */
    return CM_OK;
  }
  if (follow_op_go(f) != 0) {
    l->follow_op = NULL;
    event_free(f->timer);
    cm__rd_argv_free(&f->argv);
    free(f);
    return cm_error_set(err, CM_E_UNAVAILABLE, "",
                        "redis: a command could not be queued");
  }
  return CM_OK;
}

void cm_ledger_redis_follow_get(const cm_ledger *lg,
                                cm_ledger_redis_follow *out) {
  const rd_ledger *l = (const rd_ledger *)lg;
  memset(out, 0, sizeof *out);
  if (!l)
    return;
  out->following = l->following;
  if (l->following)
    snprintf(out->last_id, sizeof out->last_id, "%s", l->last_id);
  snprintf(out->origin, sizeof out->origin, "%s", l->r->origin);
  out->rounds = l->follow_rounds;
}

/* ---- life ---- */

static void rd_free(cm_ledger *lg) {
  rd_ledger *l = rl(lg);
  cm__rd_group_free(l); /* proposals in flight are told first */
  rd_follow_op *f = l->follow_op;
  if (f) /* its reply, NULL when the connection goes, ends it */
    f->l = NULL;
  if (f && f->deferred) /* never sent: nothing will answer it */
    follow_op_end(f, CM_E_UNAVAILABLE, 0, "the ledger was freed");
  cm__rd_rebuild_free(l);
  cm__rd_get_free(l);
  cm_store_free(l->store);
  cm__rd_argv_free(&l->argv);
  free(l);
}

static const cm_ledger_type redis_ledger_type;

void cm_ledger_redis_stats_get(const cm_ledger *l, cm_ledger_redis_stats *out) {
  if (l && l->type == &redis_ledger_type)
    *out = ((const rd_ledger *)l)->stats;
  else
    memset(out, 0, sizeof *out);
}

void cm_ledger_redis_fence_set(cm_ledger *lg, int64_t epoch,
                               const char *holder) {
  if (!lg || lg->type != &redis_ledger_type)
    return;
  rd_ledger *l = rl(lg);
  l->fence = epoch < 0 ? -1 : epoch;
  snprintf(l->fence_holder, sizeof l->fence_holder, "%s", holder ? holder : "");
}

cm_status cm_ledger_redis_durability_check(cm_ledger *lg, char *warn, size_t n,
                                           cm_error *err) {
  cm_error_clear(err);
  if (!lg || lg->type != &redis_ledger_type)
    return cm_error_set(err, CM_E_INVALID, "", "not a Redis ledger");
  rd_ledger *l = rl(lg);
  return cm__rd_durability_check(l->r, l->opt.durability, l->opt.replicas, warn,
                                 n, err);
}

cm_status cm_ledger_redis_durability_check_async(cm_ledger *lg,
                                                 cm_redis_blob_fn fn, void *ctx,
                                                 cm_error *err) {
  cm_error_clear(err);
  if (!lg || lg->type != &redis_ledger_type)
    return cm_error_set(err, CM_E_INVALID, "", "not a Redis ledger");
  rd_ledger *l = rl(lg);
  return cm__rd_durability_check_async(l->loop ? l->loop : l->r,
                                       l->opt.durability, l->opt.replicas, fn,
                                       ctx, err);
}

cm_status cm_ledger_redis_attach(cm_ledger *lg, cm_redis *loop, cm_error *err) {
  cm_error_clear(err);
  if (!lg || lg->type != &redis_ledger_type || !loop)
    return cm_error_set(err, CM_E_INVALID, "", "not a Redis ledger");
  rd_ledger *l = rl(lg);
  if (loop->own_base)
    return cm_error_set(err, CM_E_INVALID, "$.base",
                        "$.base: the connection runs a private loop");
  if (strcmp(cm_redis_region(loop), cm_redis_region(l->r)) != 0)
    return cm_error_set(err, CM_E_INVALID, "$.region",
                        "$.region: the connections serve other regions");
  if (cm__rd_group_busy(l))
    return cm_error_set(err, CM_E_CONFLICT, "",
                        "proposals are in flight on the old connection");
  cm__rd_group_free(l);
  memcpy(loop->origin, l->r->origin, sizeof loop->origin);
  loop->role_probe |= l->opt.durability == CM_LEDGER_DURABILITY_REPLICA;
  l->loop = loop;
  return CM_OK;
}

static const cm_ledger_type redis_ledger_type = {
    .name = "redis",
    .free = rd_free,
    .commit = cm__rd_commit,
    .get = rd_get,
    .each_live = rd_each_live,
    .worker_upsert = rd_worker_upsert,
    .worker_positions = rd_worker_positions,
    .worker_shift = rd_worker_shift,
    .each_worker = rd_each_worker,
    .follow_start = rd_follow_start,
    .follow = rd_follow,
    .propose = cm__rd_propose,
    .worker_propose = cm__rd_worker_propose,
    .follow_async = rd_follow_async,
    .rebuild_async = cm__rd_rebuild_async,
    .get_async = cm__rd_get_async,
};

cm_ledger *cm_ledger_redis_new(cm_redis *r, const cm_ledger_redis_options *opt,
                               cm_error *err) {
  cm_error_clear(err);
  if (!r) {
    cm_error_set(err, CM_E_INVALID, "", "no connection given");
    return NULL;
  }
  cm_ledger_redis_options o;
  if (opt)
    o = *opt;
  else
    cm_ledger_redis_options_init(&o);
  if (o.keep_ms < 0) {
    cm_error_set(err, CM_E_RANGE, "$.keep_ms", "$.keep_ms: must be >= 0");
    return NULL;
  }
  if (o.events_max < 1) {
    cm_error_set(err, CM_E_RANGE, "$.events_max", "$.events_max: must be >= 1");
    return NULL;
  }
  if ((int)o.durability < 0 || o.durability >= CM_LEDGER_DURABILITY_COUNT) {
    cm_error_set(err, CM_E_RANGE, "$.durability",
                 "$.durability: must be fsync or replica");
    return NULL;
  }
  if (o.replicas < 1 || o.replicas > 64) {
    cm_error_set(err, CM_E_RANGE, "$.replicas", "$.replicas: must be 1..64");
    return NULL;
  }
  /* WAIT 0 would wait for ever; a WAIT as long as the connection's
     inactivity timeout would drop the connection instead of answering */
  if (o.durability_timeout_ms < 1 || o.durability_timeout_ms >= r->timeout_ms) {
    cm_error_set(err, CM_E_RANGE, "$.durability_timeout_ms",
                 "$.durability_timeout_ms: must be 1..%d (below the "
                 "connection's timeout_ms)",
                 r->timeout_ms - 1);
    return NULL;
  }
  rd_ledger *l = calloc(1, sizeof *l);
  if (!l || !(l->store = cm_store_redis_open(r, err))) {
    free(l);
    if (err && !err->code)
      cm_error_set(err, CM_E_NOMEM, "", NULL);
    return NULL;
  }
  l->base.type = &redis_ledger_type;
  l->r = r;
  l->opt = o;
  /* the replica gate counts the server's replicas at each connect */
  r->role_probe |= o.durability == CM_LEDGER_DURABILITY_REPLICA;
  l->fence = -1; /* no lease: offers unchecked */
  cm__rd_argv_init(&l->argv);
  return &l->base;
}
