/* hint.c -- cm_solve_hint_from: a warm start for the next batch from the
 * answer of the last one, matched by request and worker ids. */
#include <stdlib.h>

#include "alloc.h"
#include "carematch/solve.h"
#include "idmap.h"

cm_status cm_solve_hint_from(const cm_instance *prev_inst,
                             const cm_answer *prev, const cm_instance *inst,
                             int *hint, cm_error *err) {
  int nr = prev_inst->n_requests;
  cm__idmap reqs, wrks;
  /* what prev gave each of its requests: a worker index of prev_inst, -1 */
  int *had = cm__malloc_array(nr > 0 ? nr : 1, sizeof *had);
  if (!had)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  if (cm__idmap_init(&reqs, (size_t)nr) != 0) {
    free(had);
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  if (cm__idmap_init(&wrks, (size_t)inst->n_workers) != 0) {
    cm__idmap_free(&reqs);
    free(had);
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  cm_status st = CM_OK;
  for (int i = 0; i < nr; i++)
    had[i] = -1;
  for (int a = 0; a < prev->n_assignments; a++) {
    const cm_assignment *as = &prev->assignments[a];
    if (as->request >= 0 && as->request < nr)
      had[as->request] = as->worker;
  }
  for (int i = 0; i < nr && st == CM_OK; i++)
    if (cm__idmap_put(&reqs, prev_inst->requests[i].id, i, NULL) < 0)
      st = cm_error_set(err, CM_E_NOMEM, "", NULL);
  for (int j = 0; j < inst->n_workers && st == CM_OK; j++)
    if (cm__idmap_put(&wrks, inst->workers[j].id, j, NULL) < 0)
      st = cm_error_set(err, CM_E_NOMEM, "", NULL);
  for (int i = 0; i < inst->n_requests && st == CM_OK; i++) {
    int q = cm__idmap_get(&reqs, inst->requests[i].id), w;
    if (q < 0)
      hint[i] = CM_SOLVE_HINT_UNKNOWN;
    else if ((w = had[q]) < 0)
      hint[i] = -1;
    else if (w >= prev_inst->n_workers)
      hint[i] = CM_SOLVE_HINT_UNKNOWN;
    else {
      int j = cm__idmap_get(&wrks, prev_inst->workers[w].id);
      hint[i] = j >= 0 ? j : CM_SOLVE_HINT_UNKNOWN;
    }
  }
  cm__idmap_free(&reqs);
  cm__idmap_free(&wrks);
  free(had);
  return st;
}
