/* engine_rebuild.c -- the rebuild from the ledger without waiting for it
 * (docs/async.md): on a ledger with rebuild_async, the ledger reads the
 * snapshot on its event loop (behind the proposals already made) and the
 * engine applies it whole in the completion, as engine_sync.c's rebuild
 * does with what it read synchronously. It starts only when no change is
 * in flight (an answer on its way would land on the rebuilt state); while
 * it is in flight no batch begins, no second rebuild starts, and the
 * engine's writes wait, as they waited behind the synchronous rebuild:
 * the _async calls are taken and held (their completions run after the
 * rebuild, planned against the rebuilt state), the synchronous ones are
 * refused CM_E_UNAVAILABLE, so nothing of ours changes under the
 * snapshot; reads see the last applied state. A rebuild that must wait
 * for changes in flight holds the new _async request writes already
 * (rebuild_due), so that the next step finds none in flight. A live
 * request of ours that the ledger has no record of (a crash between an
 * acknowledged write and its fsync) is written back pending, proposed,
 * and the rebuild ends when those answers are in. */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

typedef struct cm__rebuild {
  cm_engine *e;           /* NULL: the engine was freed (told already) */
  cm_engine_done_fn done; /* the caller's completion */
  void *ctx;              /* */
  int pending;            /* the ledger's read (1 until it answered) and
                             the write-backs in flight */
  cm_status st;           /* the outcome so far */
  cm_error err;           /* */
} cm__rebuild;

int cm__rebuild_async_able(const cm_engine *e) {
  return e->cfg.ledger && e->cfg.ledger->type->rebuild_async;
}

cm_status cm__rebuilding(const cm_engine *e, cm_error *err) {
  if (!e->rebuild)
    return CM_OK;
  return cm_error_set(err, CM_E_UNAVAILABLE, "",
                      "the engine is resynchronising with its ledger; "
                      "nothing was done, retry");
}

static void rebuild_abandon(cm_engine *e) {
  cm__rebuild *rb = e->rebuild;
  if (!rb)
    return;
  cm_error err;
  cm_error_set(&err, CM_E_UNAVAILABLE, "", "the engine was freed");
  rb->e = NULL; /* the answers still due free it */
  e->rebuild = NULL;
  rb->done(rb->ctx, CM_E_UNAVAILABLE, &err);
}

static void fail(cm__rebuild *rb, cm_status st, const cm_error *err) {
  if (rb->st != CM_OK)
    return; /* the first failure is told */
  rb->st = st;
  if (err && err->code != CM_OK)
    rb->err = *err;
  else
    cm_error_set(&rb->err, st, "", NULL);
}

/* Every answer in: tell the caller (or start again when the engine was
 * asked to resynchronise meanwhile). */
static void finish(cm__rebuild *rb) {
  cm_engine *e = rb->e;
  if (!e) {
    free(rb);
    return;
  }
  e->rebuild = NULL;
  cm_status st = rb->st;
  cm_error err = rb->err;
  cm_engine_done_fn done = rb->done;
  void *ctx = rb->ctx;
  free(rb);
  /* what waited for the rebuild goes out now, against the rebuilt state */
  cm__wops_send_waiting(e);
  cm__op_release_all(e);
  if (st != CM_OK) {
    e->resync = 1;
  } else {
    e->stats.rebuilds++;
    cm_error_clear(&err);
    /* asked again meanwhile (a lease taken anew): once more */
    if (e->resync && (st = cm__rebuild_start(e, done, ctx, &err)) == CM_OK)
      return;
  }
  e->synced = st == CM_OK;
  done(ctx, st, &err);
}

static void on_written_back(void *ctx, cm_status st,
                            const cm_ledger_result *res, int n,
                            const cm_error *err) {
  cm__rebuild *rb = ctx;
  (void)res; /* refused: written meanwhile by another writer (fine) */
  (void)n;
  if (st != CM_OK)
    fail(rb, st, err);
  if (--rb->pending == 0)
    finish(rb);
}

/* A live request the ledger has no record of, written back pending (as
 * engine_sync.c's settle_unlisted does, proposed). */
static void write_back(cm__rebuild *rb, cm__req *r) {
  cm_engine *e = rb->e;
  cm_request_view *v = malloc(sizeof *v);
  if (!v) {
    fail(rb, CM_E_NOMEM, NULL);
    return;
  }
  cm__req_release_workers(e, r);
  cm__req after = *r;
  after.state = CM_REQ_PENDING;
  after.expires_ms = 0;
  cm__req_replace(e, r, &after);
  cm__view_of(r, v);
  r->gen = e->gen;
  cm_ledger_change ch;
  memset(&ch, 0, sizeof ch);
  ch.after = v;
  cm_error err;
  rb->pending++;
  if (cm_ledger_propose(e->cfg.ledger, &ch, 1, on_written_back, rb, &err) !=
      CM_OK) {
    rb->pending--;
    fail(rb, err.code, &err);
  }
  free(v);
}

/* The snapshot into the engine, in one step. */
static void apply(cm__rebuild *rb, const cm_ledger_snapshot *s) {
  cm_engine *e = rb->e;
  int oom = 0;
  e->gen++;
  for (int i = 0; i < s->n_workers; i++)
    oom |= cm__take_worker(e, &s->workers[i]) != 0;
  for (int i = 0; i < e->n_workers; i++) {
    cm__wrk *w = e->workers[i];
    if (w->gen != e->gen) { /* gone from the ledger */
      cm_store_remove(e->store, w->id, NULL);
      w->on_shift = 0;
      w->capacity = 0;
    }
  }
  for (int i = 0; i < s->n_live; i++)
    oom |= cm__req_adopt(e, &s->live[i]) != 0;
  for (int i = 0; i < s->n_known; i++) /* finished elsewhere */
    oom |= cm__req_adopt(e, &s->known[i]) != 0;
  if (oom) {
    fail(rb, CM_E_NOMEM, NULL);
    return;
  }
  for (int i = 0; i < e->n_live && rb->st == CM_OK; i++)
    if (e->live[i]->gen != e->gen)
      write_back(rb, e->live[i]);
  cm__recount_jobs(e);
}

static void on_snapshot(void *ctx, cm_status st, const cm_ledger_snapshot *s,
                        const cm_error *err) {
  cm__rebuild *rb = ctx;
  if (rb->e && st != CM_OK)
    fail(rb, st, err);
  else if (rb->e)
    apply(rb, s);
  if (--rb->pending == 0)
    finish(rb);
}

cm_status cm__rebuild_start(cm_engine *e, cm_engine_done_fn done, void *ctx,
                            cm_error *err) {
  cm_ledger *l = e->cfg.ledger;
  if (e->rebuild)
    return cm_error_set(err, CM_E_CONFLICT, "", "a rebuild is in flight");
  cm_engine_begin_drop(e);        /* no decision on the records it replaces */
  int held = cm__op_unwritten(e); /* ops held for this rebuild, reads of
                                    a record (its answer is dropped) */
  if (e->n_flight > held) {       /* an answer on its way would land on the
                                     rebuilt state; new writes wait meanwhile */
    e->rebuild_due = 1;
    return cm_error_set(err, CM_E_UNAVAILABLE, "",
                        "waiting for %d changes in flight before "
                        "resynchronising with the ledger",
                        e->n_flight - held);
  }
  if (e->in_flight) {
    cm__rebuild_undue(e);
    return cm_error_set(err, CM_E_UNAVAILABLE, "",
                        "a batch is being solved: resynchronising after it");
  }
  const char **ids = malloc(((size_t)e->n_live + 1) * sizeof *ids);
  cm__rebuild *rb = calloc(1, sizeof *rb);
  if (!ids || !rb) {
    free(ids);
    free(rb);
    cm__rebuild_undue(e);
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  for (int i = 0; i < e->n_live; i++) /* finished elsewhere, or lost */
    ids[i] = e->live[i]->spec.id;
  rb->e = e;
  rb->done = done;
  rb->ctx = ctx;
  rb->pending = 1;
  e->rebuild_due = 0; /* what it held now waits for e->rebuild */
  e->rebuild = rb;
  e->abandon_rebuild = rebuild_abandon;
  e->resync = 0; /* asked again meanwhile: another rebuild follows */
  cm_status st = l->type->rebuild_async(l, (const char *const *)ids, e->n_live,
                                        on_snapshot, rb, err);
  free(ids);
  if (st != CM_OK) { /* on_snapshot never runs */
    e->rebuild = NULL;
    e->resync = 1;
    free(rb);
    cm__op_release_all(e); /* told the ledger's refusal by their own */
  }
  return st;
}

void cm__rebuild_undue(cm_engine *e) {
  if (!e->rebuild_due)
    return;
  e->rebuild_due = 0;
  if (!e->rebuild)
    cm__op_release_all(e);
}
