/* redis_rebuild.c -- the Redis ledger's rebuild read on a caller's event
 * base (ledger.h's rebuild_async, docs/async.md).
 *
 * What the synchronous rebuild reads (follow_start's XINFO STREAM,
 * each_worker's ZRANGE and HGETALLs, each_live's ZRANGE and HGETs, get's
 * HGET for the requests the engine holds that are no longer live), sent on
 * the proposals' connection behind the proposals already made, so that
 * Redis answers it after our own writes. Round one pipelines the mark and
 * both lists; then pages of REBUILD_PAGE commands, each sent from the last
 * reply of the one before, so the caller's loop runs between them. The
 * snapshot is kept here and handed over whole at the end, with the mark
 * then becoming the follow's start. A reply that does not come within the
 * connection's timeout drops the connection (as the follow does), which
 * answers the command in flight NULL and so ends the read
 * CM_E_UNAVAILABLE. On a connection with a private base (the CLI, the
 * bench) the same reads are made synchronously before the call returns. */
#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "carematch/engine.h"
#include "idmap.h"
#include "redis_call.h"
#include "redis_conn.h"
#include "redis_ledger.h"
#include "redis_request.h"
#include "redis_worker.h"

#define REBUILD_PAGE 4096 /* HGETALLs or HGETs per round trip */

typedef struct rd_ids {
  char (*id)[CM_ID_MAX];
  int n, cap;
} rd_ids;

struct rd_rebuild_op {
  rd_ledger *l;               /* NULL: the ledger was freed meanwhile */
  cm_redis *r;                /* the connection it runs on */
  cm_ledger_snapshot_fn done; /* the caller's */
  void *ctx;                  /* */
  cm__rd_batch b;             /* the error record (never begun) */
  cm__rd_argv argv;           /* the command being sent */
  struct event *timer;        /* no reply for timeout_ms: drop */
  int deferred;               /* waiting for the turn's proposals */
  char last[48];              /* the mark: the stream's last id */
  long long added;            /* and its entries-added */
  int exists;                 /* the stream exists */
  uint64_t epoch;             /* the private connection's, as follow_start */
  rd_ids asked;               /* the ids the caller holds */
  rd_ids wid;                 /* workers listed */
  rd_ids rid;                 /* live requests listed, then the asked ids
                                 that are not live */
  int n_live;                 /* rid[0..n_live) are live */
  int phase;                  /* 0: round one, 1: workers, 2: records */
  int from, to, got;          /* the page in flight, its replies in */
  cm_worker *w;               /* workers read */
  int n_w;                    /* */
  cm_request_view *v;         /* records read: live ones first */
  int n_v, n_v_live;          /* */
};

static int ids_add(rd_ids *s, const char *id, size_t len) {
  if (len == 0 || len >= CM_ID_MAX)
    return -1;
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 64;
    char(*p)[CM_ID_MAX] = realloc(s->id, (size_t)cap * sizeof *p);
    if (!p)
      return -1;
    s->id = p;
    s->cap = cap;
  }
  memcpy(s->id[s->n], id, len);
  s->id[s->n++][len] = '\0';
  return 0;
}

/* A ZRANGE reply into s; records a failure in b. */
static void ids_of(cm__rd_batch *b, const redisReply *rep, rd_ids *s,
                   const char *what) {
  if (!cm__rd_check(b, rep, REDIS_REPLY_ARRAY, what))
    return;
  for (size_t k = 0; k < rep->elements; k++) {
    const redisReply *e = rep->element[k];
    if (e->type != REDIS_REPLY_STRING || ids_add(s, e->str, e->len) != 0) {
      cm__rd_fail(b, e->type == REDIS_REPLY_STRING ? CM_E_NOMEM : CM_E_IO,
                  "redis: %s: a member is malformed", what);
      return;
    }
  }
}

static void op_free(rd_rebuild_op *o) {
  if (o->timer)
    event_free(o->timer);
  cm__rd_argv_free(&o->argv);
  free(o->asked.id);
  free(o->wid.id);
  free(o->rid.id);
  free(o->w);
  free(o->v);
  free(o);
}

/* The end: the mark becomes the follow's start (CM_OK), the caller told,
 * the op freed. */
static void op_end(rd_rebuild_op *o, cm_status st, const char *why) {
  cm_error err;
  cm_error_clear(&err);
  rd_ledger *l = o->l;
  if (l) {
    l->rebuild_op = NULL;
    l->following = 0;
  }
  if (st != CM_OK) {
    if (o->b.fail.code != CM_OK && !o->b.lost)
      err = o->b.fail;
    else
      cm_error_set(&err, CM_E_UNAVAILABLE, "", "redis: %s", why);
    if (o->timer)
      event_free(o->timer);
    o->timer = NULL;
    o->done(o->ctx, err.code, NULL, &err);
    op_free(o);
    return;
  }
  snprintf(l->last_id, sizeof l->last_id, "%s", o->last);
  l->added_start = o->exists ? o->added : 0;
  l->consumed = 0;
  l->epoch = o->epoch;
  l->following = 1;
  cm_ledger_snapshot s = {o->w,
                          o->n_w,
                          o->v,
                          o->n_v_live,
                          o->v + o->n_v_live,
                          o->n_v - o->n_v_live};
  if (o->timer)
    event_free(o->timer);
  o->timer = NULL;
  o->done(o->ctx, CM_OK, &s, &err);
  op_free(o);
}

/* The next command built in o->argv, sent with callback cb. Returns 0, or
 * -1 (not connected, out of memory: nothing sent, argv reset). */
static int op_send(rd_rebuild_op *o, redisCallbackFn *cb) {
  redisAsyncContext *ac = o->r->ac;
  int rc = ac && cm__rd_argv_finish(&o->argv) == 0 &&
                   redisAsyncCommandArgv(ac, cb, o, o->argv.argc, o->argv.ptrs,
                                         o->argv.alen) == REDIS_OK
               ? 0
               : -1;
  cm__rd_argv_reset(&o->argv);
  if (rc == 0) {
    struct timeval tv = {o->r->timeout_ms / 1000,
                         (o->r->timeout_ms % 1000) * 1000};
    evtimer_add(o->timer, &tv);
  }
  return rc;
}

/* No reply for the connection's timeout_ms (a hung server): drop the
 * connection, which answers the command in flight NULL and ends the op. */
static void on_timer(evutil_socket_t fd, short what, void *arg) {
  rd_rebuild_op *o = arg;
  char why[64];
  (void)fd;
  (void)what;
  snprintf(why, sizeof why, "no reply within %d ms", o->r->timeout_ms);
  cm__rd_drop(o->r, why);
}

static void page_send(rd_rebuild_op *o);

/* One reply of the page in flight (or of round one): recorded, and when
 * it is the page's last, the next page or the end. */
static void on_reply(redisAsyncContext *ac, void *reply, void *priv) {
  rd_rebuild_op *o = priv;
  const redisReply *rep = reply;
  (void)ac;
  int i = o->got++;
  if (!rep || !o->l)
    o->b.lost = 1;
  else if (o->b.fail.code == CM_OK && !o->b.lost) {
    if (o->phase == 0 && i == 0) { /* XINFO STREAM: the mark */
      if (cm__rd_mark_parse(&o->b, rep, o->last, sizeof o->last, &o->added,
                            &o->exists) == 0 &&
          !o->exists)
        snprintf(o->last, sizeof o->last, "0-0");
    } else if (o->phase == 0) {
      ids_of(&o->b, rep, i == 1 ? &o->wid : &o->rid,
             i == 1 ? "ZRANGE workers" : "ZRANGE live");
    } else if (o->phase == 1 &&
               cm__rd_check(&o->b, rep, REDIS_REPLY_ARRAY, "HGETALL")) {
      int got = cm__rd_worker_decode(rep, &o->w[o->n_w]);
      if (got < 0)
        cm__rd_fail(&o->b, CM_E_IO, "redis: a worker hash is malformed");
      o->n_w += got > 0; /* 0: removed since the listing */
    } else if (o->phase == 2 && rep->type != REDIS_REPLY_NIL &&
               cm__rd_check(&o->b, rep, REDIS_REPLY_STRING, "HGET")) {
      if (cm__rd_request_decode(rep->str, rep->len, &o->v[o->n_v]) != 0)
        cm__rd_fail(&o->b, CM_E_IO, "redis: a request record is malformed");
      else if (o->from + i < o->n_live)
        o->n_v_live = ++o->n_v;
      else
        o->n_v++;
    }
  }
  if (o->got < o->to - o->from)
    return;
  if (o->b.lost || o->b.fail.code != CM_OK) {
    op_end(o, CM_E_UNAVAILABLE,
           o->l ? "the connection was lost" : "the ledger was freed");
    return;
  }
  evtimer_del(o->timer);
  page_send(o);
}

/* After round one: the asked ids that are not live go after the live
 * ones in rid. Returns 0, -1 out of memory. */
static int add_unlisted(rd_rebuild_op *o) {
  o->n_live = o->rid.n;
  if (o->asked.n == 0)
    return 0;
  /* rid grows below (its ids move): the map borrows a copy */
  char(*copy)[CM_ID_MAX] = cm__malloc_array((size_t)o->n_live + 1, CM_ID_MAX);
  cm__idmap live;
  if (!copy || cm__idmap_init(&live, (size_t)o->n_live + 1) != 0) {
    free(copy);
    return -1;
  }
  if (o->n_live)
    memcpy(copy, o->rid.id, (size_t)o->n_live * CM_ID_MAX);
  int rc = 0;
  for (int i = 0; i < o->n_live && rc == 0; i++)
    rc = cm__idmap_put(&live, copy[i], i, NULL) < 0 ? -1 : 0;
  for (int i = 0; i < o->asked.n && rc == 0; i++)
    if (cm__idmap_get(&live, o->asked.id[i]) < 0)
      rc = ids_add(&o->rid, o->asked.id[i], strlen(o->asked.id[i]));
  cm__idmap_free(&live);
  free(copy);
  return rc;
}

/* The next page: the workers' HGETALLs, then the records' HGETs, then the
 * end. */
static void page_send(rd_rebuild_op *o) {
  if (o->phase == 0) {
    if (add_unlisted(o) != 0) {
      cm__rd_fail(&o->b, CM_E_NOMEM, "out of memory");
      op_end(o, CM_E_NOMEM, "");
      return;
    }
    o->phase = 1;
    o->from = o->to = 0;
    if (o->wid.n &&
        !(o->w = cm__malloc_array((size_t)o->wid.n, sizeof *o->w))) {
      cm__rd_fail(&o->b, CM_E_NOMEM, "out of memory");
      op_end(o, CM_E_NOMEM, "");
      return;
    }
  }
  rd_ids *ids = o->phase == 1 ? &o->wid : &o->rid;
  o->from = o->to;
  if (o->from >= ids->n) {
    if (o->phase == 2) {
      op_end(o, CM_OK, "");
      return;
    }
    o->phase = 2;
    o->from = o->to = 0;
    if (o->rid.n &&
        !(o->v = cm__malloc_array((size_t)o->rid.n, sizeof *o->v))) {
      cm__rd_fail(&o->b, CM_E_NOMEM, "out of memory");
      op_end(o, CM_E_NOMEM, "");
      return;
    }
    page_send(o);
    return;
  }
  int end = o->from + REBUILD_PAGE < ids->n ? o->from + REBUILD_PAGE : ids->n;
  o->got = 0;
  for (int i = o->from; i < end; i++) {
    char key[CM__RD_KEY_MAX];
    if (o->phase == 1) {
      cm__rd_argv_str(&o->argv, "HGETALL");
      cm__rd_argv_add(&o->argv, key,
                      cm__rd_key_worker(&o->r->keys, ids->id[i], key));
    } else {
      cm__rd_argv_str(&o->argv, "HGET");
      cm__rd_argv_add(&o->argv, key,
                      cm__rd_key_request(&o->r->keys, ids->id[i], key));
      cm__rd_argv_str(&o->argv, "rec");
    }
    if (op_send(o, on_reply) != 0) {
      o->b.lost = 1; /* the ones sent are answered, then it ends */
      break;
    }
    o->to++;
  }
  if (o->to == o->from) /* nothing sent: nothing will answer */
    op_end(o, CM_E_UNAVAILABLE, "not connected");
}

/* Round one: the mark and both lists, in one round trip. Returns 0 (in
 * flight), -1 (nothing sent). */
static int op_go(rd_rebuild_op *o) {
  cm_redis *r = o->r;
  o->epoch = o->l->r->epoch;
  o->phase = 0;
  o->from = o->got = 0;
  o->to = 0;
  cm__rd_argv_str(&o->argv, "XINFO");
  cm__rd_argv_str(&o->argv, "STREAM");
  cm__rd_argv_add(&o->argv, r->keys.fixed[CM__RD_K_CHANGES],
                  r->keys.fixed_len[CM__RD_K_CHANGES]);
  if (op_send(o, on_reply) != 0)
    return -1;
  o->to++;
  const int keys[2] = {CM__RD_K_WORKERS, CM__RD_K_LIVE};
  for (int k = 0; k < 2; k++) {
    cm__rd_argv_str(&o->argv, "ZRANGE");
    cm__rd_argv_add(&o->argv, r->keys.fixed[keys[k]],
                    r->keys.fixed_len[keys[k]]);
    cm__rd_argv_str(&o->argv, "0");
    cm__rd_argv_str(&o->argv, "-1");
    if (op_send(o, on_reply) != 0) {
      o->b.lost = 1; /* the ones sent are answered, then it ends */
      break;
    }
    o->to++;
  }
  return 0;
}

static void op_deferred(void *arg) {
  rd_rebuild_op *o = arg;
  o->deferred = 0;
  if (op_go(o) != 0)
    op_end(o, CM_E_UNAVAILABLE, "not connected");
}

/* ---- on a private base: the synchronous reads ---- */

typedef struct sync_snap {
  cm_worker *w;
  int n_w, cap_w;
  cm_request_view *v;
  int n_v, cap_v;
  int oom;
} sync_snap;

static void snap_worker(void *ctx, const cm_worker *w) {
  sync_snap *s = ctx;
  if (s->n_w == s->cap_w) {
    int cap = s->cap_w ? 2 * s->cap_w : 64;
    cm_worker *p = realloc(s->w, (size_t)cap * sizeof *p);
    if (!p) {
      s->oom = 1;
      return;
    }
    s->w = p;
    s->cap_w = cap;
  }
  s->w[s->n_w++] = *w;
}

static int snap_view(sync_snap *s, const cm_request_view *v) {
  if (s->n_v == s->cap_v) {
    int cap = s->cap_v ? 2 * s->cap_v : 64;
    cm_request_view *p = realloc(s->v, (size_t)cap * sizeof *p);
    if (!p)
      return -1;
    s->v = p;
    s->cap_v = cap;
  }
  s->v[s->n_v++] = *v;
  return 0;
}

static void snap_live(void *ctx, const cm_request_view *v) {
  sync_snap *s = ctx;
  if (snap_view(s, v) != 0)
    s->oom = 1;
}

static cm_status rebuild_sync(cm_ledger *lg, const char *const *ids, int n,
                              cm_ledger_snapshot_fn done, void *ctx) {
  const cm_ledger_type *t = lg->type;
  sync_snap s;
  cm_error err;
  memset(&s, 0, sizeof s);
  cm_request_view *one = malloc(sizeof *one);
  rd_ids lid = {NULL, 0, 0}; /* the live ids (the map borrows them) */
  cm__idmap live;
  int mapped = 0;
  cm_status st = one ? t->follow_start(lg, &err)
                     : cm_error_set(&err, CM_E_NOMEM, "", NULL);
  if (st == CM_OK)
    st = t->each_worker(lg, snap_worker, &s, &err);
  if (st == CM_OK)
    st = t->each_live(lg, snap_live, &s, &err);
  int n_live = s.n_v;
  for (int i = 0; i < n_live && st == CM_OK && !s.oom; i++)
    s.oom = ids_add(&lid, s.v[i].spec.id, strlen(s.v[i].spec.id)) != 0;
  if (st == CM_OK && !s.oom)
    s.oom = !(mapped = cm__idmap_init(&live, (size_t)n_live + 1) == 0);
  for (int i = 0; i < n_live && st == CM_OK && !s.oom; i++)
    s.oom = cm__idmap_put(&live, lid.id[i], i, NULL) < 0;
  if (st == CM_OK && s.oom)
    st = cm_error_set(&err, CM_E_NOMEM, "", NULL);
  for (int i = 0; i < n && st == CM_OK; i++) {
    if (cm__idmap_get(&live, ids[i]) >= 0)
      continue;
    st = t->get(lg, ids[i], one, &err);
    if (st == CM_E_UNKNOWN_ID) {
      st = CM_OK;
      cm_error_clear(&err);
    } else if (st == CM_OK && snap_view(&s, one) != 0) {
      st = cm_error_set(&err, CM_E_NOMEM, "", NULL);
    }
  }
  if (mapped)
    cm__idmap_free(&live);
  if (st == CM_OK) {
    cm_error_clear(&err);
    cm_ledger_snapshot snap = {s.w,    s.n_w,        s.v,
                               n_live, s.v + n_live, s.n_v - n_live};
    done(ctx, CM_OK, &snap, &err);
  } else {
    done(ctx, st, NULL, &err);
  }
  free(lid.id);
  free(one);
  free(s.w);
  free(s.v);
  return CM_OK;
}

cm_status cm__rd_rebuild_async(cm_ledger *lg, const char *const *ids, int n,
                               cm_ledger_snapshot_fn done, void *ctx,
                               cm_error *err) {
  rd_ledger *l = (rd_ledger *)lg;
  cm_redis *r = cm__rd_group_conn(l);
  cm_error_clear(err);
  if (!done || n < 0 || (n > 0 && !ids))
    return cm_error_set(err, CM_E_INVALID, "", "no callback given");
  if (l->follow_op || l->rebuild_op)
    return cm_error_set(err, CM_E_CONFLICT, "",
                        "a follow or a rebuild is in flight");
  if (r->own_base) /* nobody runs a private loop: synchronously */
    return rebuild_sync(lg, ids, n, done, ctx);
  if (!r->ac)
    return cm__rd_unavailable(r, err);
  rd_rebuild_op *o = calloc(1, sizeof *o);
  if (!o)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  o->l = l;
  o->r = r;
  o->done = done;
  o->ctx = ctx;
  cm__rd_batch_init(&o->b, r, NULL, NULL);
  cm__rd_argv_init(&o->argv);
  int bad = 0;
  for (int i = 0; i < n && !bad; i++)
    bad = !ids[i] || ids_add(&o->asked, ids[i], strnlen(ids[i], CM_ID_MAX));
  o->timer = bad ? NULL : evtimer_new(r->base, on_timer, o);
  if (!o->timer) {
    op_free(o);
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  l->rebuild_op = o;
  if (cm__rd_group_after(l, op_deferred, o)) {
    o->deferred = 1; /* sent behind the proposals of this turn */
    return CM_OK;
  }
  if (op_go(o) != 0) {
    l->rebuild_op = NULL;
    op_free(o);
    return cm_error_set(err, CM_E_UNAVAILABLE, "",
                        "redis: a command could not be queued");
  }
  return CM_OK;
}

void cm__rd_rebuild_free(rd_ledger *l) {
  rd_rebuild_op *o = l->rebuild_op;
  if (!o)
    return;
  o->l = NULL; /* its reply, NULL when the connection goes, ends it */
  l->rebuild_op = NULL;
  if (o->deferred) /* never sent: nothing will answer it */
    op_end(o, CM_E_UNAVAILABLE, "the ledger was freed");
}
