/* engine_sync.c -- following the ledger (cm_engine_sync): the workers
 * other writers change, and the rebuild of everything from the ledger
 * when the engine lost track (at the first sync, after a failed write,
 * after a reconnect). Above the transitions: a worker gone off shift has
 * its offers withdrawn (cm__withdraw_offers). */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* ---- following other writers ---- */

/* A growing list of ids. */
typedef struct id_list {
  char (*id)[CM_ID_MAX];
  int n, cap;
} id_list;

static int id_list_add(id_list *l, const char *id) {
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    char(*p)[CM_ID_MAX] = realloc(l->id, (size_t)cap * sizeof *p);
    if (!p)
      return -1;
    l->id = p;
    l->cap = cap;
  }
  memset(l->id[l->n], 0, CM_ID_MAX);
  memcpy(l->id[l->n++], id, strnlen(id, CM_ID_MAX - 1));
  return 0;
}

typedef struct follow_ctx {
  cm_engine *e;
  id_list off;    /* workers that went off shift */
  id_list differ; /* workers whose status in the ledger is not what our
                     jobs for them call for */
  int oom;
} follow_ctx;

static void went_off(follow_ctx *c, const char *id) {
  if (id_list_add(&c->off, id) != 0)
    c->oom = 1;
}

/* A worker as the ledger has it, into the mirror and our record. The
 * mirror gets the stricter of the ledger's status (which counts every
 * engine's jobs) and ours. */
static void take_worker(follow_ctx *c, const cm_worker *w, int track_off) {
  cm_engine *e = c->e;
  cm__wrk *rec = cm__wrk_get(e, w->id);
  if (!rec) {
    c->oom = 1;
    return;
  }
  int was_on = rec->on_shift;
  rec->on_shift = w->status != CM_WORKER_OFFLINE;
  rec->capacity = w->capacity;
  rec->gen = e->gen;
  cm_worker copy = *w;
  cm_worker_status mine = cm__wrk_effective(rec);
  /* another writer changed the worker's jobs: it can only have done so
     by changing a request we hold, which the change stream does not name */
  if (track_off && rec->on_shift && mine != w->status &&
      id_list_add(&c->differ, w->id) != 0)
    c->oom = 1;
  if (mine > copy.status)
    copy.status = mine;
  if (cm_store_upsert(e->store, &copy, NULL) != CM_OK)
    c->oom = 1;
  if (track_off && was_on && !rec->on_shift)
    went_off(c, w->id);
}

static void on_change(void *ctx, const char *id, const cm_worker *w) {
  follow_ctx *c = ctx;
  if (!c->e) /* an asynchronous follow outlived its engine */
    return;
  if (w) {
    take_worker(c, w, 1);
    return;
  }
  cm__wrk *rec = cm__wrk_find(c->e, id);
  cm_store_remove(c->e->store, id, NULL);
  if (rec && rec->on_shift) {
    rec->on_shift = 0;
    went_off(c, id);
  }
}

static void on_worker(void *ctx, const cm_worker *w) {
  take_worker(ctx, w, 0);
}

int cm__take_worker(cm_engine *e, const cm_worker *w) {
  follow_ctx c = {e, {NULL, 0, 0}, {NULL, 0, 0}, 0};
  take_worker(&c, w, 0); /* nothing tracked: no list grows */
  return c.oom ? -1 : 0;
}

static void on_live(void *ctx, const cm_request_view *v) {
  follow_ctx *c = ctx;
  if (cm__req_adopt(c->e, v) != 0)
    c->oom = 1;
}

/* Our live requests the ledger did not list: finished elsewhere (adopt
 * the record), or lost by the ledger (a crash between an acknowledged
 * write and its fsync): written back, pending. Returns CM_OK or the
 * ledger's error. */
static cm_status settle_unlisted(cm_engine *e, cm_error *err) {
  cm_ledger *l = e->cfg.ledger;
  cm_request_view *v = malloc(sizeof *v);
  if (!v)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  cm_status st = CM_OK;
  for (int i = 0; i < e->n_live && st == CM_OK; i++) {
    cm__req *r = e->live[i];
    if (r->gen == e->gen)
      continue;
    st = l->type->get(l, r->spec.id, v, err);
    if (st == CM_OK) {
      r->gen = e->gen;
      if (cm__req_adopt(e, v) != 0)
        st = cm_error_set(err, CM_E_NOMEM, "", NULL);
      i--; /* adopting may have moved it out of live[] */
      continue;
    }
    if (st != CM_E_UNKNOWN_ID)
      break;
    cm_error_clear(err);
    cm__req_release_workers(e, r);
    cm__req after = *r;
    after.state = CM_REQ_PENDING;
    after.expires_ms = 0;
    cm__req_replace(e, r, &after);
    cm__view_of(r, v);
    cm_ledger_change ch;
    memset(&ch, 0, sizeof ch);
    ch.after = v;
    cm_ledger_result res;
    st = l->type->commit(l, &ch, 1, &res, err);
    r->gen = e->gen;
  }
  free(v);
  return st;
}

void cm__recount_jobs(cm_engine *e) {
  for (int i = 0; i < e->n_workers; i++)
    e->workers[i]->jobs = e->workers[i]->accepted = 0;
  for (int i = 0; i < e->n_live; i++) {
    const cm__req *r = e->live[i];
    for (int k = 0; k < r->n_workers; k++) {
      cm__wrk *w = cm__wrk_find(e, r->workers[k]);
      if (w) {
        w->jobs++;
        w->accepted += r->accepted[k];
      }
    }
  }
  for (int i = 0; i < e->n_workers; i++)
    cm__wrk_sync(e, e->workers[i]);
}

/* Recovery: requests, workers and the mirror from the ledger. */
static cm_status rebuild(cm_engine *e, cm_error *err) {
  cm_ledger *l = e->cfg.ledger;
  follow_ctx c = {e, {NULL, 0, 0}, {NULL, 0, 0}, 0};
  /* mark first: what changes while we read is followed next time */
  cm_status st = l->type->follow_start(l, err);
  if (st != CM_OK)
    return st;
  cm_engine_begin_drop(e); /* its records are about to be replaced */
  e->gen++;
  if ((st = l->type->each_worker(l, on_worker, &c, err)) != CM_OK)
    goto out;
  for (int i = 0; i < e->n_workers; i++) {
    cm__wrk *w = e->workers[i];
    if (w->gen != e->gen) { /* gone from the ledger */
      cm_store_remove(e->store, w->id, NULL);
      w->on_shift = 0;
      w->capacity = 0;
    }
  }
  if ((st = l->type->each_live(l, on_live, &c, err)) != CM_OK)
    goto out;
  if (c.oom) {
    st = cm_error_set(err, CM_E_NOMEM, "", NULL);
    goto out;
  }
  if ((st = settle_unlisted(e, err)) != CM_OK)
    goto out;
  cm__recount_jobs(e);
  e->resync = 0;
  e->stats.rebuilds++;
out:
  free(c.off.id);
  free(c.differ.id);
  return st;
}

/* The live requests that hold any of workers, read again from the ledger
 * (adopted when another writer changed them: a dead daemon's last commit
 * that Redis ran after our rebuild, another engine's refusal or lapse),
 * asynchronously after an asynchronous follow (async). Returns 0, or -1
 * out of memory. */
static int refresh_held(cm_engine *e, const id_list *workers, int async) {
  id_list reqs = {NULL, 0, 0};
  int rc = 0;
  for (int i = 0; i < e->n_live && rc == 0; i++) {
    const cm__req *r = e->live[i];
    int holds = 0;
    for (int k = 0; k < r->n_workers && !holds; k++)
      for (int j = 0; j < workers->n && !holds; j++)
        holds = strcmp(r->workers[k], workers->id[j]) == 0;
    if (holds)
      rc = id_list_add(&reqs, r->spec.id);
  }
  for (int i = 0; i < reqs.n && rc == 0; i++) /* by id: adopting moves */
    (async ? cm__op_refresh : cm__req_refresh)(e, reqs.id[i]);
  free(reqs.id);
  return rc;
}

/* After the ledger reported the changes into c (st, lost as follow
 * returned them; async: from an asynchronous follow's completion): the
 * requests holding a worker whose jobs differ read again, the offers of
 * workers gone off shift withdrawn; a failure or a loss rebuilds. Frees
 * c's lists. Returns CM_OK or the error. */
static cm_status follow_finish(follow_ctx *c, cm_status st, int lost, int async,
                               cm_error *err) {
  cm_engine *e = c->e;
  if (st == CM_OK && c->oom)
    st = cm_error_set(err, CM_E_NOMEM, "", NULL);
  if (st == CM_OK && !lost && refresh_held(e, &c->differ, async) != 0)
    st = cm_error_set(err, CM_E_NOMEM, "", NULL);
  if (st == CM_OK && !lost)
    for (int i = 0; i < c->off.n; i++)
      cm__withdraw_offers(e, c->off.id[i], e->now_ms);
  free(c->off.id);
  free(c->differ.id);
  c->off.id = c->differ.id = NULL;
  if (st != CM_OK || lost) {
    e->resync = 1;
    if (st != CM_OK)
      return st;
    return rebuild(e, err);
  }
  return CM_OK;
}

static cm_status sync_now(cm_engine *e, int64_t now_ms, cm_error *err) {
  cm_ledger *l = e->cfg.ledger;
  if (!l)
    return CM_OK;
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  if (e->rebuild)
    return cm_error_set(err, CM_E_UNAVAILABLE, "",
                        "a rebuild from the ledger is in flight");
  if (e->resync && e->n_flight > cm__op_unwritten(e)) { /* an answer on
                                     its way would land on the rebuilt
                                     state (a read's is dropped) */
    cm__rebuild_undue(e); /* writes held for an asynchronous one go out */
    return cm_error_set(err, CM_E_UNAVAILABLE, "",
                        "waiting for %d changes in flight before "
                        "resynchronising with the ledger",
                        e->n_flight);
  }
  if (e->resync) {
    cm_status st = rebuild(e, err);
    cm__rebuild_undue(e); /* the writes held for an asynchronous one */
    return st;
  }
  follow_ctx c = {e, {NULL, 0, 0}, {NULL, 0, 0}, 0};
  int lost = 0;
  cm_status st = l->type->follow(l, on_change, &c, &lost, err);
  return follow_finish(&c, st, lost, 0, err);
}

cm_status cm_engine_sync(cm_engine *e, int64_t now_ms, cm_error *err) {
  return sync_now(e, now_ms, err);
}

/* ---- following asynchronously ---- */

typedef struct cm__follow {
  follow_ctx c;           /* c.e NULL: the engine was freed meanwhile */
  cm_engine_done_fn done; /* the caller's completion */
  void *ctx;              /* */
} cm__follow;

static void follow_abandon(cm_engine *e) {
  cm__follow *f = e->follow;
  if (!f)
    return;
  cm_error err;
  cm_error_set(&err, CM_E_UNAVAILABLE, "", "the engine was freed");
  f->c.e = NULL; /* the ledger's answer frees it */
  e->follow = NULL;
  f->done(f->ctx, CM_E_UNAVAILABLE, &err);
}

static void on_followed(void *ctx, cm_status st, int lost,
                        const cm_error *lerr) {
  cm__follow *f = ctx;
  cm_engine *e = f->c.e;
  cm_error err;
  if (!e) { /* told already */
    free(f->c.off.id);
    free(f->c.differ.id);
    free(f);
    return;
  }
  e->follow = NULL;
  if (st != CM_OK && lerr)
    err = *lerr;
  else
    cm_error_clear(&err);
  if (st != CM_OK && err.code == CM_OK)
    cm_error_set(&err, st, "", NULL);
  /* a rebuild waits for the changes in flight (sync_now says why) */
  int writes = e->n_flight - cm__op_unwritten(e); /* reads' are dropped */
  if (st == CM_OK && lost && !writes && cm__rebuild_async_able(e)) {
    /* lost track: the rebuild is read on the loop too (engine_rebuild.c) */
    cm_engine_done_fn done = f->done;
    void *dctx = f->ctx;
    free(f->c.off.id);
    free(f->c.differ.id);
    free(f);
    e->resync = 1;
    if ((st = cm__rebuild_start(e, done, dctx, &err)) != CM_OK) {
      e->synced = 0;
      done(dctx, st, &err);
    }
    return;
  }
  if (st == CM_OK && lost && writes) {
    e->resync = 1;
    st = cm_error_set(&err, CM_E_UNAVAILABLE, "",
                      "waiting for %d changes in flight before "
                      "resynchronising with the ledger",
                      writes);
    free(f->c.off.id);
    free(f->c.differ.id);
  } else {
    st = follow_finish(&f->c, st, lost, 1, &err);
  }
  e->synced = st == CM_OK;
  cm_engine_done_fn done = f->done;
  void *dctx = f->ctx;
  free(f);
  done(dctx, st, &err);
}

cm_status cm_engine_sync_async(cm_engine *e, int64_t now_ms,
                               cm_engine_done_fn done, void *ctx,
                               cm_error *err) {
  if (!done)
    return cm_error_set(err, CM_E_INVALID, "", "no completion given");
  if (e->follow || e->rebuild)
    return cm_error_set(err, CM_E_CONFLICT, "", "a follow is in flight");
  cm_ledger *l = e->cfg.ledger;
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  if (l && e->resync && cm__rebuild_async_able(e)) { /* engine_rebuild.c */
    cm_error mine;
    cm_status st = cm__rebuild_start(e, done, ctx, &mine);
    if (st != CM_OK) {
      e->synced = 0;
      done(ctx, st, &mine);
    }
    return CM_OK;
  }
  if (!l || e->resync || !l->type->follow_async) { /* synchronously */
    cm_error mine;
    cm_status st = sync_now(e, now_ms, &mine);
    e->synced = st == CM_OK;
    if (st == CM_OK)
      cm_error_clear(&mine);
    done(ctx, st, &mine);
    return CM_OK;
  }
  cm__follow *f = calloc(1, sizeof *f);
  if (!f)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  f->c.e = e;
  f->done = done;
  f->ctx = ctx;
  e->follow = f;
  e->abandon_follow = follow_abandon;
  cm_status st = l->type->follow_async(l, on_change, &f->c, on_followed, err);
  if (st != CM_OK) {
    e->follow = NULL;
    free(f);
  }
  return st;
}
