/* ahead.c -- cm_candidates (solve.h): the candidate search of positions
 * mode run request by request while an instance is still being built
 * (the JSON decoder's second thread), kept per request for cm_solve to
 * take in priority order. Every request is searched by the search of
 * candidates.c on the same grids, so its candidates are exactly those
 * cm_solve would find; the floor and the edges are decided in cm_solve. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ahead.h"
#include "alloc.h"

/* The fields of a worker the search reads, in the ranges
 * cm_instance_validate allows (an instance that fails it is never
 * solved, but the search must not fault on it first). */
static int worker_ok(const cm_worker *w) {
  return (!w->has_position || (cm_lat_valid(w->lat) && cm_lon_valid(w->lon))) &&
         (int)w->status >= 0 && w->status < CM_WORKER_STATUS_COUNT &&
         w->capacity >= 0 && w->capacity <= 64 && w->n_elders >= 0 &&
         w->n_elders <= CM_MAX_ELDERS;
}

static int list_ok(const int *list, int n, int nw) {
  if (n < 0 || n > CM_MAX_PREFS)
    return 0;
  for (int k = 0; k < n; k++)
    if (list[k] < 0 || list[k] >= nw)
      return 0;
  return 1;
}

/* The same for a request, with a position (positions mode). */
static int request_ok(const cm_request *r, int nw) {
  return r->has_position && cm_lat_valid(r->lat) && cm_lon_valid(r->lon) &&
         r->skills != 0 &&
         (r->skill_mode == CM_SKILLS_ALL || r->skill_mode == CM_SKILLS_ANY) &&
         r->staff >= 1 && r->staff <= CM_MAX_STAFF && (int)r->urgency >= 0 &&
         r->urgency < CM_URGENCY_COUNT && isfinite(r->waited_s) &&
         r->waited_s >= 0 && r->waited_s <= 1e7 &&
         list_ok(r->preferred, r->n_preferred, nw) &&
         list_ok(r->excluded, r->n_excluded, nw);
}

cm_status cm_candidates_new(const cm_instance *inst, const cm_weights *weights,
                            const cm_params *params, cm_candidates **out,
                            cm_error *err) {
  cm_error local;
  if (!err)
    err = &local;
  cm_error_clear(err);
  if (!out)
    return cm_error_set(err, CM_E_INVALID, "", "no place for the search");
  *out = NULL;
  if (!inst || !weights || !params || inst->n_workers < 0)
    return cm_error_set(err, CM_E_INVALID, "", "no instance");
  cm_status st;
  if ((st = cm_weights_validate(weights, err)) != CM_OK ||
      (st = cm_params_validate(params, err)) != CM_OK)
    return st;
  for (int j = 0; j < inst->n_workers; j++)
    if (!worker_ok(&inst->workers[j]))
      return cm_error_set(err, CM_E_RANGE, "$.workers",
                          "a worker out of range");
  cm_candidates *c = calloc(1, sizeof *c);
  if (!c)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  c->inst = inst;
  c->shadow = *inst;
  c->shadow.weights = *weights;
  c->shadow.params = *params;
  c->shadow.has_edges = 0;
  c->p.inst = &c->shadow;
  c->nw = inst->n_workers;
  c->cap = cm__malloc_array(c->nw + 1, sizeof *c->cap);
  if (!c->cap || cm__skill_grids_init(&c->g, &c->shadow, c->cap) != 0) {
    free(c->cap);
    free(c);
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  *out = c;
  return CM_OK;
}

/* Room for request r's entries and `more` (at most CM__AHEAD_BLOCK)
 * candidates in one piece, at c->block[n_blocks-1] + c->used. Returns 0
 * or -1. */
static int room(cm_candidates *c, int r, size_t more) {
  if (r >= c->req_cap) {
    int n = c->req_cap ? c->req_cap : 256;
    while (n <= r)
      n *= 2;
    int *got = realloc(c->got, (size_t)n * sizeof *got);
    if (!got)
      return -1;
    c->got = got;
    cm__cand **at = realloc(c->at, (size_t)n * sizeof *at);
    if (!at)
      return -1;
    c->at = at;
    c->req_cap = n;
  }
  for (; c->n_req <= r; c->n_req++)
    c->got[c->n_req] = -1;
  if (c->n_blocks > 0 && c->used + more <= CM__AHEAD_BLOCK)
    return 0;
  if (c->n_blocks == c->blocks_cap) {
    int n = c->blocks_cap ? c->blocks_cap * 2 : 16;
    cm__cand **b = realloc(c->block, (size_t)n * sizeof *b);
    if (!b)
      return -1;
    c->block = b;
    c->blocks_cap = n;
  }
  if (!(c->block[c->n_blocks] =
            cm__malloc_array(CM__AHEAD_BLOCK, sizeof **c->block)))
    return -1;
  c->n_blocks++;
  c->used = 0;
  return 0;
}

int cm_candidates_add(cm_candidates *c, int r) {
  if (!c || r < 0 || r >= c->inst->n_requests || c->inst->n_workers != c->nw)
    return 0;
  /* the arrays move as the instance grows */
  c->shadow.requests = c->inst->requests;
  c->shadow.n_requests = c->inst->n_requests;
  c->shadow.workers = c->inst->workers;
  const cm_request *rq = &c->shadow.requests[r];
  if (!request_ok(rq, c->nw))
    return 0;
  size_t k = (size_t)c->shadow.params.k * (size_t)rq->staff;
  int n = 0;
  if (k > CM__AHEAD_BLOCK || room(c, r, k) != 0)
    return 0;
  cm__cand *to = c->block[c->n_blocks - 1] + c->used;
  if (cm__find_position(&c->p, &c->g, r, NULL, 0, to, &n) != 0)
    return 0;
  /* cheapest first, as the request's edges are kept (cm_solve sorts them
   * again, in no time then) */
  qsort(to, (size_t)n, sizeof *to, cm__cand_by_cost);
  c->searched += c->got[r] < 0;
  c->at[r] = to;
  c->got[r] = n;
  c->used += (size_t)n;
  return 1;
}

int cm_candidates_count(const cm_candidates *c) {
  return c ? c->searched : 0;
}

void cm_candidates_free(cm_candidates *c) {
  if (!c)
    return;
  cm__skill_grids_free(&c->g);
  free(c->cap);
  free(c->got);
  free(c->at);
  for (int b = 0; b < c->n_blocks; b++)
    free(c->block[b]);
  free(c->block);
  free(c);
}

int cm__candidates_match(const cm_candidates *c, const cm_instance *inst) {
  return c && c->inst == inst && !inst->has_edges && inst->n_workers == c->nw &&
         memcmp(&c->shadow.weights, &inst->weights, sizeof inst->weights) ==
             0 &&
         memcmp(&c->shadow.params, &inst->params, sizeof inst->params) == 0;
}

cm__cand *cm__candidates_of(cm_candidates *c, int r, int *n) {
  if (r < 0 || r >= c->n_req || c->got[r] < 0)
    return NULL;
  *n = c->got[r];
  return c->at[r];
}
