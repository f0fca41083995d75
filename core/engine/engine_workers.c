/* engine_workers.c -- the worker calls (cm_engine_worker_*): shift,
 * capacity and positions, on the records of engine_roster.c. With a
 * ledger, every worker write goes to the ledger first and to the store
 * (then the ledger's mirror) only when it succeeded. A worker going off
 * shift has its offers withdrawn (engine_lifecycle.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "carematch/store.h"
#include "engine_internal.h"

cm_status cm_engine_worker_upsert(cm_engine *e, const cm_worker *w,
                                  int64_t now_ms, cm_error *err) {
  if (e->rebuild) /* engine_rebuild.c */
    return cm__rebuilding(e, err);
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
  if (!rec && !(rec = added = cm__wrk_add(e, copy.id)))
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
      cm__wrk_drop_last(e, added);
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
  if (e->rebuild) /* engine_rebuild.c */
    return cm__rebuilding(e, err);
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
  if (!l && !(old = cm__malloc_array(n, sizeof *old)))
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
    int64_t *seen = cm__calloc_array(n, sizeof *seen);
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
  if (e->rebuild) /* engine_rebuild.c */
    return cm__rebuilding(e, err);
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
