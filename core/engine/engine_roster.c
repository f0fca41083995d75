/* engine_roster.c -- the engine's worker records (the roster): who is on
 * shift, their capacity and the jobs they hold, kept consistent with the
 * status in the position store. Below the ledger and the transitions: it
 * calls only engine.c (the batch timer) and the store. */
#include <stdlib.h>
#include <string.h>

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

cm__wrk *cm__wrk_add(cm_engine *e, const char *id) {
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

/* Undo cm__wrk_add for w, the last record added. */
void cm__wrk_drop_last(cm_engine *e, cm__wrk *w) {
  cm__idmap_del(&e->wrk_map, w->id);
  e->n_workers--;
  free(w);
}

cm__wrk *cm__wrk_get(cm_engine *e, const char *id) {
  cm__wrk *w = cm__wrk_find(e, id);
  return w ? w : cm__wrk_add(e, id);
}
