/* engine_stage.c -- the emergency-first stage of a batch: the batch's
 * emergencies are assigned first, by an exact solve of them alone over
 * their edges (free workers, the look-ahead's, the diversion's and the
 * interruption's), and the rest of the batch is then solved with what is
 * left (docs/engine.md "Emergencies first").
 *
 * Why: in one batch the LP prices an emergency's travel minute at 4 and
 * its minutes past the target at 40, so chains of less urgent jobs could
 * buy an emergency a farther worker (over 4 normal days, 12 of the 152
 * emergencies' first batches gave them a farther worker than their nearest
 * free candidate, 5 of them then breached; docs/sim-log.md "Emergencies
 * first"). Solving them first makes their cost lexicographically above
 * every other job's: no exchange of the others' travel can move them.
 *
 * Both solves are cm_solve, exact on what each is given; the solver is not
 * changed. The second solve sees the emergency's edges cut to the workers
 * the first gave it, and every other request's edges to a worker the first
 * filled removed. An emergency the first left unassigned (every edge cost
 * more than leaving it) keeps its edges to the workers not filled. Not run
 * by the greedy fallback (a budget of 0): greedy takes the most urgent
 * first already. */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* The stage's scratch, per batch. */
typedef struct stage {
  int *sub_of;         /* batch worker -> sub-instance worker, -1 */
  int *rem;            /* batch worker: capacity left after the stage */
  int *batch_of;       /* sub-instance worker -> batch worker */
  int *req_of;         /* sub-instance request -> batch request */
  unsigned char *got;  /* per (batch request): the stage assigned it */
  unsigned char *pair; /* per edge: the stage chose it */
} stage;

static void stage_free(stage *s) {
  free(s->sub_of);
  free(s->rem);
  free(s->batch_of);
  free(s->req_of);
  free(s->got);
  free(s->pair);
}

static int first(const cm_request *r) {
  return r->urgency == CM_URGENCY_EMERGENCY;
}

/* The sub-instance of inst's emergencies and their edges. Returns CM_OK,
 * or CM_E_NOMEM (err set). */
static cm_status build_sub(const cm_instance *inst, stage *s, cm_instance *sub,
                           cm_error *err) {
  sub->taxonomy = inst->taxonomy;
  sub->weights = inst->weights;
  sub->params = inst->params;
  sub->has_edges = 1;
  int *sub_req = malloc(((size_t)inst->n_requests + 1) * sizeof *sub_req);
  if (!sub_req)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  for (int w = 0; w < inst->n_workers; w++)
    s->sub_of[w] = -1;
  for (int q = 0; q < inst->n_requests; q++)
    sub_req[q] = -1;
  cm_status st = CM_OK;
  for (int i = 0; i < inst->n_edges && st == CM_OK; i++) {
    const cm_edge_in *ed = &inst->edges[i];
    if (!first(&inst->requests[ed->request]))
      continue;
    if (s->sub_of[ed->worker] < 0 &&
        (st = cm_instance_worker_add(sub, &inst->workers[ed->worker],
                                     &s->sub_of[ed->worker], err)) == CM_OK)
      s->batch_of[s->sub_of[ed->worker]] = ed->worker;
  }
  for (int q = 0; q < inst->n_requests && st == CM_OK; q++) {
    if (!first(&inst->requests[q]))
      continue;
    cm_request r = inst->requests[q];
    r.n_preferred = r.n_excluded = 0; /* indexes of the sub-instance's */
    for (int i = 0; i < inst->requests[q].n_preferred; i++)
      if (s->sub_of[inst->requests[q].preferred[i]] >= 0)
        r.preferred[r.n_preferred++] =
            s->sub_of[inst->requests[q].preferred[i]];
    for (int i = 0; i < inst->requests[q].n_excluded; i++)
      if (s->sub_of[inst->requests[q].excluded[i]] >= 0)
        r.excluded[r.n_excluded++] = s->sub_of[inst->requests[q].excluded[i]];
    if ((st = cm_instance_request_add(sub, &r, &sub_req[q], err)) == CM_OK)
      s->req_of[sub_req[q]] = q;
  }
  for (int i = 0; i < inst->n_edges && st == CM_OK; i++) {
    const cm_edge_in *ed = &inst->edges[i];
    if (!first(&inst->requests[ed->request]))
      continue;
    cm_edge_in se = {sub_req[ed->request], s->sub_of[ed->worker],
                     ed->travel_min};
    st = cm_instance_edge_add(sub, &se, NULL, err);
  }
  free(sub_req);
  return st == CM_OK ? CM_OK : cm_error_set(err, CM_E_NOMEM, "", NULL);
}

/* Cut inst's edges to what the stage's answer leaves (the file's
 * comment). */
static void cut_edges(cm_instance *inst, const cm_answer *ans, stage *s) {
  for (int w = 0; w < inst->n_workers; w++)
    s->rem[w] = inst->workers[w].capacity;
  for (int a = 0; a < ans->n_assignments; a++) {
    int q = s->req_of[ans->assignments[a].request];
    int w = s->batch_of[ans->assignments[a].worker];
    s->got[q] = 1;
    for (int i = 0; i < inst->n_edges; i++) {
      const cm_edge_in *ed = &inst->edges[i];
      if (ed->request == q && ed->worker == w && !s->pair[i]) {
        s->pair[i] = 1;
        s->rem[ed->worker]--;
        break;
      }
    }
  }
  int m = 0;
  for (int i = 0; i < inst->n_edges; i++) {
    const cm_edge_in *ed = &inst->edges[i];
    int keep = s->got[ed->request] ? s->pair[i] : s->rem[ed->worker] > 0;
    if (keep)
      inst->edges[m++] = *ed;
  }
  inst->n_edges = m;
}

cm_status cm__stage_emergencies(cm_instance *inst, const cm_solve_options *opts,
                                cm_error *err) {
  int any = 0;
  if (opts && opts->deadline_ms == 0)
    return CM_OK; /* greedy: the most urgent first already */
  for (int q = 0; q < inst->n_requests && !any; q++)
    any = first(&inst->requests[q]);
  if (!any)
    return CM_OK;
  size_t nw = (size_t)inst->n_workers + 1, nr = (size_t)inst->n_requests + 1;
  stage s = {malloc(nw * sizeof(int)),
             malloc(nw * sizeof(int)),
             malloc(nw * sizeof(int)),
             malloc(nr * sizeof(int)),
             calloc(nr, 1),
             calloc((size_t)inst->n_edges + 1, 1)};
  cm_instance *sub = cm_instance_new();
  cm_answer ans;
  cm_status st = CM_E_NOMEM;
  memset(&ans, 0, sizeof ans);
  if (!s.sub_of || !s.rem || !s.batch_of || !s.req_of || !s.got || !s.pair ||
      !sub) {
    cm_error_set(err, CM_E_NOMEM, "", NULL);
    goto out;
  }
  if ((st = build_sub(inst, &s, sub, err)) != CM_OK)
    goto out;
  cm_solve_options so = {0};
  if (opts)
    so = *opts;
  so.hint = NULL; /* a hint is indexed by inst's requests, not sub's */
  if ((st = cm_solve(sub, opts ? &so : NULL, &ans, err)) != CM_OK)
    goto out;
  cut_edges(inst, &ans, &s);
  cm_answer_free(&ans);
out:
  cm_instance_free(sub);
  stage_free(&s);
  return st;
}
