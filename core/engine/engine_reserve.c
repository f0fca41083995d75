/* engine_reserve.c -- the emergency reserve: in each batch, some free
 * emergency-capable workers are kept out of less urgent work, so that an
 * emergency arriving next finds one nearby instead of waiting for a worker
 * to come free far away (docs/engine.md).
 *
 * A worker is emergency-capable when it holds a skill some emergency
 * request has asked for (the engine learns them as emergencies arrive).
 * Exposed are the capable workers the batch could give to a request of
 * urgency reserve_from or less urgent. Around every exposed worker the
 * engine keeps reserve_workers other capable workers free within
 * reserve_km: those the batch cannot take for such work (not exposed)
 * count as kept; the exposed are considered one by one, and one with too
 * few kept around it is held itself. A held worker loses its edges to
 * those requests for this batch only; more urgent ones still see it. The
 * solver is not involved: it optimises over the edges that are left, and
 * nothing is written (a ledger needs nothing more). */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

enum { EXPOSED = 1, HELD, TAKEN }; /* a batch worker's mark */

/* 1 when requests of this urgency may take the reserve */
static int exempt(const cm_engine *e, cm_urgency u) {
  return (int)u < (int)e->cfg.reserve_from;
}

cm_status cm__reserve_hold(cm_engine *e, cm_instance *inst, int64_t now_ms,
                           int *held_out, cm_error *err) {
  int R = e->cfg.reserve_workers, n = inst->n_workers;
  cm_skillset need = e->emergency_skills;
  *held_out = 0;
  if (R <= 0 || need == 0 || n == 0)
    return CM_OK;
  /* exposed: capable workers with an edge from a non-exempt request; a
     candidate of an emergency of this batch is neither held (the
     emergency chooses freely, and the reserve must not push it to a
     worse worker) nor counted as kept (it may be taken) */
  unsigned char *mark = calloc((size_t)n, 1); /* EXPOSED, HELD, TAKEN */
  int *order = malloc((size_t)n * sizeof *order), n_exp = 0;
  cm_store_query *qs = NULL;
  cm_store_hit *hits = NULL;
  int *counts = NULL;
  const char **self = NULL;
  cm__idmap ids;
  int have_ids = 0;
  cm_status st = CM_OK;
  if (!mark || !order)
    goto oom;
  for (int i = 0; i < inst->n_edges; i++)
    if (inst->requests[inst->edges[i].request].urgency == CM_URGENCY_EMERGENCY)
      mark[inst->edges[i].worker] = TAKEN;
  for (int i = 0; i < inst->n_edges; i++) {
    const cm_edge_in *ed = &inst->edges[i];
    const cm_worker *w = &inst->workers[ed->worker];
    if (!exempt(e, inst->requests[ed->request].urgency) && (w->skills & need) &&
        w->has_position && !mark[ed->worker]) {
      mark[ed->worker] = EXPOSED;
      order[n_exp++] = ed->worker;
    }
  }
  if (n_exp == 0)
    goto out;
  int k = R + 8; /* enough to see R kept ones among a few exposed */
  qs = malloc((size_t)n_exp * sizeof *qs);
  hits = malloc((size_t)n_exp * k * sizeof *hits);
  counts = malloc((size_t)n_exp * sizeof *counts);
  self = malloc((size_t)n_exp * sizeof *self);
  if (!qs || !hits || !counts || !self || cm__idmap_init(&ids, 256) != 0)
    goto oom;
  have_ids = 1;
  for (int i = 0; i < n; i++)
    if (mark[i] && cm__idmap_put(&ids, inst->workers[i].id, i, NULL) < 0)
      goto oom;
  for (int x = 0; x < n_exp; x++) {
    const cm_worker *w = &inst->workers[order[x]];
    self[x] = w->id;
    memset(&qs[x], 0, sizeof qs[x]);
    qs[x].lat = w->lat;
    qs[x].lon = w->lon;
    qs[x].radius_km = e->cfg.reserve_km;
    qs[x].k = k;
    qs[x].need_any = need;
    qs[x].exclude = &self[x];
    qs[x].n_exclude = 1;
  }
  if ((st = cm_store_nearest(e->store, qs, n_exp, k, now_ms, e->cfg.stale_ms,
                             hits, counts, err)) != CM_OK)
    goto out;
  /* the last candidates first: those of the least pressing requests */
  for (int x = n_exp - 1; x >= 0; x--) {
    int kept = 0;
    for (int h = 0; h < counts[x] && kept < R; h++) {
      int wi = cm__idmap_get(&ids, hits[(size_t)x * k + h].id);
      kept += wi < 0 || mark[wi] == HELD;
    }
    if (kept < R) {
      mark[order[x]] = HELD;
      (*held_out)++;
    }
  }
  /* held workers lose their non-exempt edges */
  int m = 0;
  for (int i = 0; i < inst->n_edges; i++) {
    const cm_edge_in *ed = &inst->edges[i];
    if (mark[ed->worker] == HELD &&
        !exempt(e, inst->requests[ed->request].urgency))
      continue;
    inst->edges[m++] = *ed;
  }
  inst->n_edges = m;
  goto out;
oom:
  st = cm_error_set(err, CM_E_NOMEM, "", NULL);
out:
  if (have_ids)
    cm__idmap_free(&ids);
  free(mark);
  free(order);
  free(qs);
  free(hits);
  free(counts);
  free(self);
  return st;
}
