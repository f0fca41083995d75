/* engine_person.c -- one person, one instance worker. The look-ahead adds
 * a busy worker (free soon, at her job's place: engine_lookahead.c), and
 * the diversion or the interruption may add the same worker again (taken
 * from that job now: engine_divert.c). Two instance workers of capacity 1
 * would let one batch give her two requests: one waited for, the other
 * offered at once (an emergency by interruption, and an urgent request
 * left waiting for a worker who is no longer coming).
 *
 * Merged here into the look-ahead's entry: each request keeps one edge to
 * her, the sooner (a diversion or interruption edge is only added when it
 * is sooner than every candidate so far, her own look-ahead edge
 * included), and the batch keeps the (request, worker) pairs whose edge
 * takes her from her job now; the answer's assignment on such a pair is
 * offered at once, on any other look-ahead pair waited for. The merged
 * entries are removed, so the instance holds every worker id once, as
 * cm_solve's `validated` promises. */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "engine_internal.h"

/* The look-ahead entry (index in [n_free, n_look)) of worker d's id, or
 * -1. */
static int look_entry(const cm_instance *inst, int n_free, int n_look, int d) {
  for (int l = n_free; l < n_look; l++)
    if (!strcmp(inst->workers[l].id, inst->workers[d].id))
      return l;
  return -1;
}

/* The index of the edge of (request, worker), or -1. */
static int edge_of(const cm_instance *inst, int request, int worker) {
  for (int i = 0; i < inst->n_edges; i++)
    if (inst->edges[i].request == request && inst->edges[i].worker == worker)
      return i;
  return -1;
}

/* Move edge i of a merged entry onto look-ahead entry l: a pair kept in
 * now[] when it takes her now. Returns 1 when edge i is to be dropped. */
static int move_edge(cm_instance *inst, int i, int l, cm__pair *now,
                     int *n_now) {
  cm_edge_in *ed = &inst->edges[i];
  int k = edge_of(inst, ed->request, l);
  if (k < 0) {
    ed->worker = l;
    now[(*n_now)++] = (cm__pair){ed->request, l};
    return 0;
  }
  if (ed->travel_min < inst->edges[k].travel_min) {
    inst->edges[k].travel_min = ed->travel_min;
    now[(*n_now)++] = (cm__pair){ed->request, l};
  }
  return 1;
}

/* Renumber the workers at n_look and above without the merged ones
 * (to[d] >= 0: merged into to[d]; newi: room for their new indices) and
 * drop the marked edges. */
static void compact(cm_instance *inst, int n_look, const int *to, int *newi,
                    const unsigned char *drop) {
  int n = n_look;
  for (int d = n_look; d < inst->n_workers; d++) {
    if (to[d - n_look] >= 0)
      continue;
    newi[d - n_look] = n;
    inst->workers[n++] = inst->workers[d];
  }
  int m = 0;
  for (int i = 0; i < inst->n_edges; i++) {
    if (drop[i])
      continue;
    cm_edge_in ed = inst->edges[i];
    if (ed.worker >= n_look)
      ed.worker = newi[ed.worker - n_look];
    inst->edges[m++] = ed;
  }
  inst->n_workers = n;
  inst->n_edges = m;
}

cm_status cm__person_merge(cm_instance *inst, int n_free, int n_look,
                           cm__pair **now, int *n_now, cm_error *err) {
  int n_more = inst->n_workers - n_look, any = 0;
  *now = NULL;
  *n_now = 0;
  if (n_more <= 0 || n_look <= n_free)
    return CM_OK;
  int *to = cm__malloc_array(n_more, sizeof *to);
  unsigned char *drop = calloc((size_t)inst->n_edges + 1, 1);
  int *newi = cm__malloc_array(n_more, sizeof *newi);
  int n_moved = 0;
  for (int d = n_look; to && d < inst->n_workers; d++)
    any |= (to[d - n_look] = look_entry(inst, n_free, n_look, d)) >= 0;
  for (int i = 0; any && to && i < inst->n_edges; i++)
    n_moved += inst->edges[i].worker >= n_look &&
               to[inst->edges[i].worker - n_look] >= 0;
  cm__pair *pairs = any ? cm__malloc_array(n_moved + 1, sizeof *pairs) : NULL;
  if (!to || !drop || !newi || (any && !pairs)) {
    free(to);
    free(drop);
    free(newi);
    free(pairs);
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  for (int i = 0; any && i < inst->n_edges; i++) {
    int w = inst->edges[i].worker;
    if (w >= n_look && to[w - n_look] >= 0)
      drop[i] = (unsigned char)move_edge(inst, i, to[w - n_look], pairs, n_now);
  }
  if (any)
    compact(inst, n_look, to, newi, drop);
  free(newi);
  free(to);
  free(drop);
  *now = pairs;
  return CM_OK;
}

int cm__person_taken_now(const cm__pair *now, int n_now, int request,
                         int worker) {
  for (int i = 0; i < n_now; i++)
    if (now[i].request == request && now[i].worker == worker)
      return 1;
  return 0;
}
