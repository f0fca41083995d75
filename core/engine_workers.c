/* engine_workers.c -- the engine's view of workers: shift, capacity and
 * open jobs, kept consistent with the status in the position store. */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

cm__wrk *cm__wrk_find(const cm_engine *e, const char *id) {
  int v = cm__idmap_get(&e->wrk_map, id);
  return v >= 0 ? e->workers[v] : NULL;
}

static cm_worker_status effective(const cm__wrk *w) {
  if (!w->on_shift)
    return CM_WORKER_OFFLINE;
  if (w->jobs < w->capacity)
    return CM_WORKER_AVAILABLE;
  return w->accepted >= w->jobs ? CM_WORKER_BUSY : CM_WORKER_OFFERED;
}

void cm__wrk_sync(cm_engine *e, cm__wrk *w) {
  cm_store_status(e->store, w->id, effective(w), NULL);
}

void cm__wrk_hold(cm_engine *e, cm__wrk *w) {
  w->jobs++;
  cm__wrk_sync(e, w);
}

void cm__wrk_release(cm_engine *e, cm__wrk *w, int was_accepted) {
  if (w->jobs > 0)
    w->jobs--;
  if (was_accepted && w->accepted > 0)
    w->accepted--;
  cm__wrk_sync(e, w);
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

/* Requests offered to (not yet accepted by) worker id go back to pending. */
static void withdraw_offers(cm_engine *e, const char *id, int64_t now_ms) {
  for (int i = 0; i < e->n_live; i++) {
    cm__req *r = e->live[i];
    if (r->state != CM_REQ_OFFERED)
      continue;
    for (int k = 0; k < r->n_workers; k++)
      if (!r->accepted[k] && strcmp(r->workers[k], id) == 0) {
        cm__req_requeue(e, r, id, CM_EV_WITHDRAWN, now_ms);
        break;
      }
  }
}

cm_status cm_engine_worker_upsert(cm_engine *e, const cm_worker *w,
                                  int64_t now_ms, cm_error *err) {
  cm__wrk *rec = cm__wrk_find(e, w->id);
  cm_worker copy = *w;
  int on_shift = w->status != CM_WORKER_OFFLINE;
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  if (rec) {
    cm__wrk probe = *rec;
    probe.on_shift = on_shift;
    probe.capacity = w->capacity;
    copy.status = effective(&probe);
  } else {
    copy.status = on_shift ? CM_WORKER_AVAILABLE : CM_WORKER_OFFLINE;
  }
  cm_status st = cm_store_upsert(e->store, &copy, err);
  if (st != CM_OK)
    return st;
  if (!rec && !(rec = add_worker(e, copy.id))) {
    cm_store_remove(e->store, copy.id, NULL);
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  int was_on = rec->on_shift;
  rec->on_shift = on_shift;
  rec->capacity = w->capacity;
  if (was_on && !on_shift)
    withdraw_offers(e, rec->id, now_ms);
  return CM_OK;
}

cm_status cm_engine_worker_position(cm_engine *e, const char *worker_id,
                                    double lat, double lon, int64_t now_ms,
                                    cm_error *err) {
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  return cm_store_position(e->store, worker_id, lat, lon, now_ms, err);
}

cm_status cm_engine_worker_shift(cm_engine *e, const char *worker_id,
                                 int on_shift, int64_t now_ms, cm_error *err) {
  cm__wrk *rec = worker_id ? cm__wrk_find(e, worker_id) : NULL;
  if (!rec)
    return cm_error_set(err, CM_E_UNKNOWN_ID, "$.id", "$.id: no worker '%s'",
                        worker_id ? worker_id : "");
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  int was_on = rec->on_shift;
  rec->on_shift = on_shift != 0;
  cm__wrk_sync(e, rec);
  if (was_on && !rec->on_shift)
    withdraw_offers(e, rec->id, now_ms);
  return CM_OK;
}

int cm_engine_worker_jobs(const cm_engine *e, const char *worker_id) {
  const cm__wrk *w = cm__wrk_find(e, worker_id);
  return w ? w->jobs : -1;
}
