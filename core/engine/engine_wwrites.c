/* engine_wwrites.c -- the worker writes with a completion
 * (cm_engine_worker_*_async, docs/async.md): checked here as the
 * synchronous calls check them, proposed to the ledger
 * (cm_ledger_worker_propose, ordered there with the takes), and applied to
 * the engine's records and the store's mirror when the ledger took them.
 * A ledger without worker_propose (the memory ledger) or no ledger: the
 * synchronous call (engine_workers.c), then the completion, at once.
 *
 * A worker write in flight is counted by cm_engine_in_flight (the daemon
 * drains it) but does not hold a rebuild back: its completion applies
 * exactly what the ledger took, in proposal order, which is right on the
 * rebuilt records too (and a lost answer asks for another rebuild). One
 * launched while an asynchronous rebuild is in flight waits, unproposed,
 * until the rebuild is applied (engine_rebuild.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "carematch/store.h"
#include "engine_internal.h"

typedef struct cm__wop {       /* one worker write in flight */
  struct cm__wop *next, *prev; /* the engine's, in flight */
  cm_engine *e;                /* NULL: the engine was freed */
  cm_ledger_worker_op op;
  cm_worker w;            /* UPSERT: as written */
  char id[CM_ID_MAX];     /* SHIFT */
  int on_shift;           /* SHIFT, UPSERT */
  int n;                  /* POSITIONS */
  char (*ids)[CM_ID_MAX]; /* POSITIONS */
  double *lat, *lon;      /* POSITIONS */
  int64_t now_ms;         /* the call's time */
  int one;                /* POSITIONS of one (the single call) */
  int waiting;            /* launched during a rebuild: not yet proposed
                             (cm__wops_send_waiting) */
  cm_engine_done_fn done; /* the caller's */
  void *ctx;              /* */
} cm__wop;

static void wop_free(cm__wop *o) {
  if (!o)
    return;
  free(o->ids);
  free(o->lat);
  free(o->lon);
  free(o);
}

static void wop_unlink(cm_engine *e, cm__wop *o) {
  if (o->prev)
    o->prev->next = o->next;
  else
    e->wops = o->next;
  if (o->next)
    o->next->prev = o->prev;
  o->next = o->prev = NULL;
  e->n_wflight--;
}

/* The engine is freed: tell every write in flight; each is freed by its
 * completion, which the ledger still owes. */
static void wops_abandon(cm_engine *e) {
  cm_error err;
  cm_error_set(&err, CM_E_UNAVAILABLE, "", "the engine was shut down");
  while (e->wops) {
    cm__wop *o = e->wops;
    wop_unlink(e, o);
    if (o->done)
      o->done(o->ctx, CM_E_UNAVAILABLE, &err);
    o->done = NULL;
    o->e = NULL;
    if (o->waiting) /* never proposed: nothing else frees it */
      wop_free(o);
  }
}

/* Apply o, taken by the ledger. Returns CM_OK or the error (the mirror
 * could not follow: the engine rebuilds). */
static cm_status apply(cm_engine *e, cm__wop *o, cm_error *err) {
  if (o->op == CM_LEDGER_W_POSITIONS) {
    for (int i = 0; i < o->n; i++) {
      cm_error one;
      if (cm_store_position(e->store, o->ids[i], o->lat[i], o->lon[i],
                            o->now_ms, &one) != CM_OK)
        e->resync = 1; /* removed meanwhile: the ledger skipped it too */
    }
    return CM_OK;
  }
  const char *id = o->op == CM_LEDGER_W_UPSERT ? o->w.id : o->id;
  cm__wrk *rec = cm__wrk_find(e, id);
  if (!rec && o->op == CM_LEDGER_W_UPSERT && !(rec = cm__wrk_add(e, id))) {
    e->resync = 1;
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  if (!rec) { /* gone in a rebuild meanwhile: the ledger's state wins */
    e->resync = 1;
    return CM_OK;
  }
  int was_on = rec->on_shift;
  rec->on_shift = o->on_shift;
  if (o->op == CM_LEDGER_W_UPSERT) {
    cm_worker copy = o->w;
    rec->capacity = copy.capacity;
    copy.status = cm__wrk_effective(rec);
    if (cm_store_upsert(e->store, &copy, NULL) != CM_OK)
      e->resync = 1;
  } else {
    cm__wrk_sync(e, rec);
  }
  if (was_on && !rec->on_shift)
    cm__withdraw_offers(e, rec->id, o->now_ms);
  if (!was_on && rec->on_shift)
    cm__retry_soon(e);
  else if (o->op == CM_LEDGER_W_UPSERT && rec->on_shift)
    cm__retry_soon(e);
  return CM_OK;
}

/* One position's error as the single call names it ("$.lat", not
 * "$.positions[0].lat"). */
static void one_field(cm_error *err) {
  static const char pre[] = "$.positions[0]";
  if (!err || strncmp(err->field, pre, sizeof pre - 1) != 0)
    return;
  char field[CM_ERROR_FIELD_MAX];
  const char *what = strstr(err->message, ": ");
  snprintf(field, sizeof field, "$%.64s", err->field + sizeof pre - 1);
  cm_error many = *err;
  cm_error_set(err, many.code, field, "%s: %s", field,
               what ? what + 2 : many.message);
}

/* The ledger's completion of o. */
static void on_answer(void *ctx, cm_status st, const cm_ledger_result *res,
                      int n, const cm_error *err) {
  (void)res;
  (void)n;
  cm__wop *o = ctx;
  cm_engine *e = o->e;
  if (!e) { /* the engine was freed meanwhile: already told */
    wop_free(o);
    return;
  }
  wop_unlink(e, o);
  cm_error mine;
  cm_error_clear(&mine);
  if (st == CM_OK)
    st = apply(e, o, &mine);
  else {
    if (st == CM_E_UNAVAILABLE || st == CM_E_IO || st == CM_E_NOT_DURABLE)
      e->resync = 1; /* some may have gone through: ask the ledger */
    if (err)
      mine = *err;
    else
      cm_error_set(&mine, st, "", NULL);
    if (o->one)
      one_field(&mine);
  }
  if (o->done)
    o->done(o->ctx, st, &mine);
  wop_free(o);
}

/* Propose o (taken by the engine from here: freed on error). */
static cm_status launch(cm_engine *e, cm__wop *o,
                        const cm_ledger_worker_write *w, cm_error *err) {
  o->e = e;
  o->prev = NULL;
  o->next = e->wops;
  if (e->wops)
    e->wops->prev = o;
  e->wops = o;
  e->n_wflight++;
  e->abandon_wops = wops_abandon;
  if (e->rebuild) { /* proposed once it is applied: nothing of ours changes
                       under the rebuild's read (engine_rebuild.c) */
    o->waiting = 1;
    return CM_OK;
  }
  cm_status st = cm_ledger_worker_propose(e->cfg.ledger, w, on_answer, o, err);
  if (st != CM_OK) { /* done never runs */
    wop_unlink(e, o);
    wop_free(o);
  }
  return st; /* o may be gone already (completed inside) */
}

/* 1 when the ledger takes worker writes asynchronously. */
static int proposes(const cm_engine *e) {
  return e->cfg.ledger && e->cfg.ledger->type->worker_propose;
}

/* The synchronous call's status st (err) told through done. */
static cm_status told(cm_status st, const cm_error *err, cm_engine_done_fn done,
                      void *ctx, cm_error *out) {
  if (st != CM_OK) {
    if (out && out != err)
      *out = *err;
    return st;
  }
  cm_error none;
  cm_error_clear(&none);
  done(ctx, CM_OK, &none);
  return CM_OK;
}

cm_status cm_engine_worker_upsert_async(cm_engine *e, const cm_worker *w,
                                        int64_t now_ms, cm_engine_done_fn done,
                                        void *ctx, cm_error *err) {
  cm_error_clear(err);
  if (!e || !w || !done)
    return cm_error_set(err, CM_E_INVALID, "", "bad arguments");
  if (!proposes(e)) {
    cm_error mine;
    cm_status st = cm_engine_worker_upsert(e, w, now_ms, &mine);
    return told(st, &mine, done, ctx, err);
  }
  cm__wrk *rec = cm__wrk_find(e, w->id);
  if (rec && w->capacity < rec->jobs) /* never below the jobs it holds */
    return cm_error_set(err, CM_E_CONFLICT, "$.capacity",
                        "$.capacity: the worker holds %d open jobs (offered "
                        "or accepted); capacity cannot go below that before "
                        "they end",
                        rec->jobs);
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  cm_worker copy = *w;
  int on_shift = w->status != CM_WORKER_OFFLINE;
  if (rec) {
    cm__wrk probe = *rec;
    probe.on_shift = on_shift;
    probe.capacity = w->capacity;
    copy.status = cm__wrk_effective(&probe);
  } else {
    copy.status = on_shift ? CM_WORKER_AVAILABLE : CM_WORKER_OFFLINE;
  }
  cm_status st = cm_store_check_worker(&copy, err); /* the mirror's rules */
  if (st != CM_OK)
    return st;
  cm__wop *o = calloc(1, sizeof *o);
  if (!o)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  o->op = CM_LEDGER_W_UPSERT;
  o->w = copy;
  o->on_shift = on_shift;
  o->now_ms = now_ms;
  o->done = done;
  o->ctx = ctx;
  cm_ledger_worker_write lw = {.op = CM_LEDGER_W_UPSERT, .worker = &copy};
  return launch(e, o, &lw, err);
}

cm_status cm_engine_worker_shift_async(cm_engine *e, const char *worker_id,
                                       int on_shift, int64_t now_ms,
                                       cm_engine_done_fn done, void *ctx,
                                       cm_error *err) {
  cm_error_clear(err);
  if (!e || !done)
    return cm_error_set(err, CM_E_INVALID, "", "bad arguments");
  if (!proposes(e)) {
    cm_error mine;
    cm_status st =
        cm_engine_worker_shift(e, worker_id, on_shift, now_ms, &mine);
    return told(st, &mine, done, ctx, err);
  }
  cm__wrk *rec = worker_id ? cm__wrk_find(e, worker_id) : NULL;
  if (!rec)
    return cm_error_set(err, CM_E_UNKNOWN_ID, "$.id", "$.id: no worker '%s'",
                        worker_id ? worker_id : "");
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  cm__wop *o = calloc(1, sizeof *o);
  if (!o)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  o->op = CM_LEDGER_W_SHIFT;
  memcpy(o->id, rec->id, sizeof o->id);
  o->on_shift = on_shift != 0;
  o->now_ms = now_ms;
  o->done = done;
  o->ctx = ctx;
  cm_ledger_worker_write lw = {
      .op = CM_LEDGER_W_SHIFT, .id = o->id, .on_shift = o->on_shift};
  return launch(e, o, &lw, err);
}

/* Check positions [0, n) as the synchronous call does (ranges, known
 * workers). Returns CM_OK or the first problem. */
static cm_status check_positions(cm_engine *e, int n, const char *const *ids,
                                 const double *lat, const double *lon,
                                 int64_t now_ms, cm_error *err) {
  if (n < 0 || (n > 0 && (!ids || !lat || !lon)))
    return cm_error_set(err, CM_E_INVALID, "$.positions",
                        "$.positions: bad arguments");
  for (int i = 0; i < n; i++) {
    cm_error one;
    cm_status st = cm_store_check_position(lat[i], lon[i], now_ms, &one);
    if (st == CM_OK && (!ids[i] || !cm__wrk_find(e, ids[i])))
      st = cm_error_set(&one, CM_E_UNKNOWN_ID, "$.id", "$.id: no such worker");
    if (st != CM_OK)
      return cm_store_position_error(err, i, &one);
  }
  return CM_OK;
}

static cm_status positions_async(cm_engine *e, int n, const char *const *ids,
                                 const double *lat, const double *lon,
                                 int64_t now_ms, int one,
                                 cm_engine_done_fn done, void *ctx,
                                 cm_error *err) {
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  cm_status st = check_positions(e, n, ids, lat, lon, now_ms, err);
  if (st != CM_OK)
    return st;
  if (n == 0)
    return told(CM_OK, err, done, ctx, err);
  cm__wop *o = calloc(1, sizeof *o);
  int64_t *seen = cm__malloc_array(n, sizeof *seen);
  const char **idp = cm__malloc_array(n, sizeof *idp);
  if (o) {
    o->ids = cm__malloc_array(n, sizeof *o->ids);
    o->lat = cm__malloc_array(n, sizeof *o->lat);
    o->lon = cm__malloc_array(n, sizeof *o->lon);
  }
  if (!o || !o->ids || !o->lat || !o->lon || !seen || !idp) {
    wop_free(o);
    free(seen);
    free(idp);
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  for (int i = 0; i < n; i++) {
    size_t len = strlen(ids[i]); /* < CM_ID_MAX: a known worker's */
    memcpy(o->ids[i], ids[i], len + 1);
    idp[i] = o->ids[i];
    seen[i] = now_ms;
  }
  memcpy(o->lat, lat, (size_t)n * sizeof *lat);
  memcpy(o->lon, lon, (size_t)n * sizeof *lon);
  o->op = CM_LEDGER_W_POSITIONS;
  o->n = n;
  o->one = one;
  o->now_ms = now_ms;
  o->done = done;
  o->ctx = ctx;
  cm_ledger_worker_write lw = {.op = CM_LEDGER_W_POSITIONS,
                               .n = n,
                               .ids = idp,
                               .lat = o->lat,
                               .lon = o->lon,
                               .seen_ms = seen};
  st = launch(e, o, &lw, err);
  free(seen);
  free(idp);
  return st;
}

cm_status cm_engine_worker_positions_async(cm_engine *e, int n,
                                           const char *const *ids,
                                           const double *lat, const double *lon,
                                           int64_t now_ms,
                                           cm_engine_done_fn done, void *ctx,
                                           cm_error *err) {
  cm_error_clear(err);
  if (!e || !done)
    return cm_error_set(err, CM_E_INVALID, "", "bad arguments");
  if (!proposes(e)) {
    cm_error mine;
    cm_status st =
        cm_engine_worker_positions(e, n, ids, lat, lon, now_ms, &mine);
    return told(st, &mine, done, ctx, err);
  }
  return positions_async(e, n, ids, lat, lon, now_ms, 0, done, ctx, err);
}

cm_status cm_engine_worker_position_async(cm_engine *e, const char *worker_id,
                                          double lat, double lon,
                                          int64_t now_ms,
                                          cm_engine_done_fn done, void *ctx,
                                          cm_error *err) {
  cm_error_clear(err);
  if (!e || !done)
    return cm_error_set(err, CM_E_INVALID, "", "bad arguments");
  if (!proposes(e)) {
    cm_error mine;
    cm_status st =
        cm_engine_worker_position(e, worker_id, lat, lon, now_ms, &mine);
    return told(st, &mine, done, ctx, err);
  }
  cm_status st =
      positions_async(e, 1, &worker_id, &lat, &lon, now_ms, 1, done, ctx, err);
  if (st != CM_OK)
    one_field(err);
  return st;
}

void cm__wops_send_waiting(cm_engine *e) {
  cm__wop *o = e->wops;
  while (o && o->next) /* the oldest is last */
    o = o->next;
  for (cm__wop *prev; o; o = prev) {
    prev = o->prev; /* o may be freed by a completion at once */
    if (!o->waiting)
      continue;
    o->waiting = 0;
    cm_ledger_worker_write lw = {.op = o->op};
    const char **idp = NULL;
    int64_t *seen = NULL;
    cm_error err;
    cm_status st = CM_OK;
    if (o->op == CM_LEDGER_W_UPSERT) {
      lw.worker = &o->w;
    } else if (o->op == CM_LEDGER_W_SHIFT) {
      lw.id = o->id;
      lw.on_shift = o->on_shift;
    } else {
      idp = cm__malloc_array(o->n, sizeof *idp);
      seen = cm__malloc_array(o->n, sizeof *seen);
      if (!idp || !seen)
        st = cm_error_set(&err, CM_E_NOMEM, "", NULL);
      for (int i = 0; st == CM_OK && i < o->n; i++) {
        idp[i] = o->ids[i];
        seen[i] = o->now_ms;
      }
      lw.n = o->n;
      lw.ids = idp;
      lw.lat = o->lat;
      lw.lon = o->lon;
      lw.seen_ms = seen;
    }
    if (st == CM_OK)
      st = cm_ledger_worker_propose(e->cfg.ledger, &lw, on_answer, o, &err);
    free(idp);
    free(seen);
    if (st != CM_OK) { /* done never ran: told now */
      wop_unlink(e, o);
      if (o->one)
        one_field(&err);
      if (o->done)
        o->done(o->ctx, st, &err);
      wop_free(o);
    }
  }
}
