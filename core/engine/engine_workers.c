/* engine_workers.c -- the engine's view of workers: shift, capacity and
 * open jobs, kept consistent with the status in the position store. With
 * a ledger, every worker write goes to the ledger first and to the store
 * (then the ledger's mirror) only when it succeeded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/store.h"
#include "engine_internal.h"

cm__wrk *cm__wrk_find(const cm_engine *e, const char *id) {
  int v = cm__idmap_get(&e->wrk_map, id);
  return v >= 0 ? e->workers[v] : NULL;
}

cm_worker_status cm__wrk_effective(const cm__wrk *w) {
  if (!w->on_shift)
    return CM_WORKER_OFFLINE;
  if (w->jobs < w->capacity)
    return CM_WORKER_AVAILABLE;
  return w->accepted >= w->jobs ? CM_WORKER_BUSY : CM_WORKER_OFFERED;
}

void cm__wrk_sync(cm_engine *e, cm__wrk *w) {
  cm_store_status(e->store, w->id, cm__wrk_effective(w), NULL);
}

void cm__wrk_release(cm_engine *e, cm__wrk *w, int was_accepted) {
  if (w->jobs > 0)
    w->jobs--;
  if (was_accepted && w->accepted > 0)
    w->accepted--;
  cm__wrk_sync(e, w);
  if (w->on_shift)
    cm__retry_soon(e); /* room again: pending requests may use it */
}

void cm__req_release_workers(cm_engine *e, cm__req *r) {
  for (int i = 0; i < r->n_workers; i++) {
    cm__wrk *w = cm__wrk_find(e, r->workers[i]);
    if (w)
      cm__wrk_release(e, w, r->accepted[i]);
  }
  r->n_workers = 0;
  memset(r->accepted, 0, sizeof r->accepted);
}

void cm__worker_served(cm_worker *w, uint64_t elder) {
  w->jobs_today++;
  int known = 0;
  for (int k = 0; k < w->n_elders; k++)
    known |= w->elders[k] == elder;
  if (elder && !known) {
    if (w->n_elders == CM_MAX_ELDERS) /* forget the oldest */
      memmove(w->elders, w->elders + 1,
              (CM_MAX_ELDERS - 1) * sizeof *w->elders);
    else
      w->n_elders++;
    w->elders[w->n_elders - 1] = elder;
  }
}

static cm__wrk *add_worker(cm_engine *e, const char *id) {
  if (e->n_workers == e->cap_workers) {
    int cap = e->cap_workers ? e->cap_workers * 2 : 256;
    cm__wrk **p = realloc(e->workers, (size_t)cap * sizeof *p);
    if (!p)
      return NULL;
    e->workers = p;
    e->cap_workers = cap;
  }
  cm__wrk *w = calloc(1, sizeof *w);
  if (!w)
    return NULL;
  memcpy(w->id, id, strnlen(id, CM_ID_MAX - 1));
  w->slot = e->n_workers;
  if (cm__idmap_put(&e->wrk_map, w->id, w->slot, NULL) != 1) {
    free(w);
    return NULL;
  }
  e->workers[e->n_workers++] = w;
  return w;
}

/* Undo add_worker for w, the last record added. */
static void drop_worker(cm_engine *e, cm__wrk *w) {
  cm__idmap_del(&e->wrk_map, w->id);
  e->n_workers--;
  free(w);
}

cm__wrk *cm__wrk_get(cm_engine *e, const char *id) {
  cm__wrk *w = cm__wrk_find(e, id);
  return w ? w : add_worker(e, id);
}

void cm__withdraw_offers(cm_engine *e, const char *id, int64_t now_ms) {
  for (int i = 0; i < e->n_live; i++) {
    cm__req *r = e->live[i];
    if (r->state != CM_REQ_OFFERED)
      continue;
    for (int k = 0; k < r->n_workers; k++)
      if (!r->accepted[k] && strcmp(r->workers[k], id) == 0) {
        /* a refused or failed write leaves it to the ledger's owner or
           to the resynchronisation */
        cm__req_requeue(e, r, id, CM_EV_WITHDRAWN, now_ms, NULL);
        break;
      }
  }
}

cm_status cm_engine_worker_upsert(cm_engine *e, const cm_worker *w,
                                  int64_t now_ms, cm_error *err) {
  cm__wrk *rec = cm__wrk_find(e, w->id);
  cm_worker copy = *w;
  int on_shift = w->status != CM_WORKER_OFFLINE;
  if (rec && w->capacity < rec->jobs) /* never below the jobs it holds */
    return cm_error_set(err, CM_E_CONFLICT, "$.capacity",
                        "$.capacity: the worker holds %d open jobs (offered "
                        "or accepted); capacity cannot go below that before "
                        "they end",
                        rec->jobs);
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  if (rec) {
    cm__wrk probe = *rec;
    probe.on_shift = on_shift;
    probe.capacity = w->capacity;
    copy.status = cm__wrk_effective(&probe);
  } else {
    copy.status = on_shift ? CM_WORKER_AVAILABLE : CM_WORKER_OFFLINE;
  }
  cm_ledger *l = e->cfg.ledger;
  cm_status st;
  /* the engine's record first: the last step that can run out of memory
     must not follow a write to the store or the ledger */
  cm__wrk *added = NULL;
  if (!rec && !(rec = added = add_worker(e, copy.id)))
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  if (l) { /* the store checks the worker first: nothing reaches the ledger
              that the mirror would refuse */
    cm_worker probe;
    int existed = cm_store_get(e->store, copy.id, &probe, NULL) == CM_OK;
    if ((st = cm_store_upsert(e->store, &copy, err)) == CM_OK &&
        (st = l->type->worker_upsert(l, &copy, err)) != CM_OK) {
      if (existed) /* put the mirror back */
        cm_store_upsert(e->store, &probe, NULL);
      else
        cm_store_remove(e->store, copy.id, NULL);
    }
  } else {
    st = cm_store_upsert(e->store, &copy, err);
  }
  if (st != CM_OK) {
    if (added)
      drop_worker(e, added);
    return st;
  }
  int was_on = rec->on_shift;
  rec->on_shift = on_shift;
  rec->capacity = w->capacity;
  if (was_on && !on_shift)
    cm__withdraw_offers(e, rec->id, now_ms);
  if (on_shift)
    cm__retry_soon(e);
  return CM_OK;
}

cm_status cm_engine_worker_position(cm_engine *e, const char *worker_id,
                                    double lat, double lon, int64_t now_ms,
                                    cm_error *err) {
  static const char pre[] = "$.positions[0]";
  cm_error many;
  cm_status st =
      cm_engine_worker_positions(e, 1, &worker_id, &lat, &lon, now_ms, &many);
  if (st == CM_OK)
    return CM_OK;
  if (strncmp(many.field, pre, sizeof pre - 1) != 0) { /* not one position's */
    if (err)
      *err = many;
    return st;
  }
  /* one position of one: "$.positions[0].lat" is "$.lat" */
  char field[CM_ERROR_FIELD_MAX];
  const char *what = strstr(many.message, ": ");
  snprintf(field, sizeof field, "$%.64s", many.field + sizeof pre - 1);
  return cm_error_set(err, st, field, "%s: %s", field,
                      what ? what + 2 : many.message);
}

cm_status cm_engine_worker_positions(cm_engine *e, int n,
                                     const char *const *ids, const double *lat,
                                     const double *lon, int64_t now_ms,
                                     cm_error *err) {
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  cm_ledger *l = e->cfg.ledger;
  if (n < 0 || (n > 0 && (!ids || !lat || !lon)))
    return cm_error_set(err, CM_E_INVALID, "$.positions",
                        "$.positions: bad arguments");
  cm_error one;
  if (n == 1 && !l)
    return cm_store_position(e->store, ids[0], lat[0], lon[0], now_ms, &one)
               ? cm_store_position_error(err, 0, &one)
               : CM_OK;
  cm_worker *old = NULL; /* without a ledger: the records before, to put
                            back the moves made when a later one fails */
  if (!l && !(old = malloc((size_t)(n ? n : 1) * sizeof *old)))
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  for (int i = 0; i < n && !l; i++) { /* all or nothing */
    cm_status st = cm_store_check_position(lat[i], lon[i], now_ms, &one);
    if (st == CM_OK &&
        (!ids[i] || cm_store_get(e->store, ids[i], &old[i], NULL) != CM_OK))
      st = cm_error_set(&one, CM_E_UNKNOWN_ID, "$.id", "$.id: no such worker");
    if (st != CM_OK) {
      free(old);
      return cm_store_position_error(err, i, &one);
    }
  }
  if (l) {
    int64_t *seen = calloc((size_t)(n ? n : 1), sizeof *seen);
    if (!seen)
      return cm_error_set(err, CM_E_NOMEM, "", NULL);
    for (int i = 0; i < n; i++)
      seen[i] = now_ms;
    cm_status st = l->type->worker_positions(l, n, ids, lat, lon, seen, err);
    free(seen);
    if (st != CM_OK)
      return st;
  }
  for (int i = 0; i < n; i++) {
    cm_status st =
        cm_store_position(e->store, ids[i], lat[i], lon[i], now_ms, &one);
    if (st != CM_OK) {
      e->resync = l != NULL; /* the ledger took it: rebuild the mirror */
      for (int k = i - 1; old && k >= 0; k--) /* latest first */
        cm_store_upsert(e->store, &old[k], NULL);
      free(old);
      return cm_store_position_error(err, i, &one);
    }
  }
  free(old);
  return CM_OK;
}

cm_status cm_engine_worker_shift(cm_engine *e, const char *worker_id,
                                 int on_shift, int64_t now_ms, cm_error *err) {
  cm__wrk *rec = worker_id ? cm__wrk_find(e, worker_id) : NULL;
  if (!rec)
    return cm_error_set(err, CM_E_UNKNOWN_ID, "$.id", "$.id: no worker '%s'",
                        worker_id ? worker_id : "");
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  cm_ledger *l = e->cfg.ledger;
  if (l) {
    cm_status st = l->type->worker_shift(l, rec->id, on_shift != 0, err);
    if (st != CM_OK)
      return st;
  }
  int was_on = rec->on_shift;
  rec->on_shift = on_shift != 0;
  cm__wrk_sync(e, rec);
  if (was_on && !rec->on_shift)
    cm__withdraw_offers(e, rec->id, now_ms);
  if (!was_on && rec->on_shift)
    cm__retry_soon(e);
  return CM_OK;
}

int cm_engine_worker_jobs(const cm_engine *e, const char *worker_id) {
  const cm__wrk *w = cm__wrk_find(e, worker_id);
  return w ? w->jobs : -1;
}
