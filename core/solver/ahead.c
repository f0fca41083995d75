/* ahead.c -- cm_candidates (solve.h): the candidate search of positions
 * mode run ahead of cm_solve while an instance is still being built.
 * Each request added is copied and queued; a helper thread (C11 threads,
 * owned by the object: started by cm_candidates_new, joined by
 * cm_candidates_free) searches the queue in turn into a slot of the
 * request's own, and goes on after the decode, while the caller
 * validates and starts cm_solve. cm_solve takes the requests in priority
 * order (cm__candidates_take): a request the helper has searched is
 * copied, one it is searching is waited for, one it has not reached is
 * searched on the caller's thread. Both run the search of candidates.c
 * on the same grids, so every request gets exactly the candidates cm_solve
 * would find; the floor and the edges are decided in cm_solve. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ahead.h"
#include "alloc.h"

enum {
  AHEAD_NONE,   /* not added */
  AHEAD_QUEUED, /* waiting for the helper */
  AHEAD_BUSY,   /* being searched into its slot */
  AHEAD_DONE,   /* its candidates are in its slot, cheapest first */
  AHEAD_TAKEN   /* searched by cm_solve on its own thread */
};

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

/* Build the grids rq reads that are not built yet (one thread at a time;
 * a grid, once built, is only read). As in the search of candidates.c, a
 * grid is built only when the clock (may be NULL) leaves time for it
 * before need ns. Returns 0, 1 (out of time) or -1 (out of memory). */
static int ensure_grids(cm_candidates *c, const cm_request *rq,
                        const cm__clock *clk, int64_t need) {
  cm_skillset s = cm__request_grids(&c->g, rq);
  int rc = 0;
  mtx_lock(&c->grid_mu);
  for (cm_skillset b = s; b && rc == 0; b &= b - 1) {
    int k = __builtin_ctz(b);
    if (c->g.built[k])
      continue;
    if (clk && cm__clock_short(clk, need + 5 * (int64_t)c->g.n +
                                        40 * (int64_t)c->g.count[k]))
      rc = 1;
    else if (!cm__skill_grid(&c->g, k))
      rc = -1;
  }
  mtx_unlock(&c->grid_mu);
  return rc;
}

/* Search rq with p into out; see cm__find_position. */
static int search(cm_candidates *c, const cm__problem *p, const cm_request *rq,
                  const cm__clock *clk, int64_t need, cm__cand *out, int *n) {
  int rc = ensure_grids(c, rq, clk, need);
  return rc ? rc : cm__find_position(p, &c->g, rq, NULL, 0, out, n);
}

static int helper_main(void *arg) {
  cm_candidates *c = arg;
  mtx_lock(&c->mu);
  for (;;) {
    while (!c->stop && c->q_head == c->q_tail)
      cnd_wait(&c->cv, &c->mu);
    if (c->stop)
      break;
    int r = c->queue[c->q_head++];
    if (c->req[r].state != AHEAD_QUEUED)
      continue; /* taken by cm_solve meanwhile */
    c->req[r].state = AHEAD_BUSY;
    cm__ahead_req job = c->req[r];
    mtx_unlock(&c->mu);
    int n = 0, rc = search(c, &c->p, job.rq, NULL, 0, job.c, &n);
    if (rc == 0) /* cheapest first: cm_solve's sort then has no work */
      qsort(job.c, (size_t)n, sizeof *job.c, cm__cand_by_cost);
    mtx_lock(&c->mu);
    c->req[r].state = rc == 0 ? AHEAD_DONE : AHEAD_QUEUED;
    c->req[r].n = n;
    c->searched += rc == 0;
    cnd_broadcast(&c->cv);
  }
  mtx_unlock(&c->mu);
  return 0;
}

cm_status cm_candidates_new(const cm_instance *inst, const cm_weights *weights,
                            const cm_params *params, int threads,
                            cm_candidates **out, cm_error *err) {
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
  cm_candidates *c = calloc(1, sizeof *c);
  if (!c)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  c->inst = inst;
  c->shadow = *inst;
  c->shadow.weights = *weights;
  c->shadow.params = *params;
  c->shadow.requests = NULL; /* the search reads the copies */
  c->shadow.n_requests = 0;
  c->shadow.has_edges = 0;
  c->p.inst = &c->shadow;
  c->nw = inst->n_workers;
  c->threads = threads;
  if (mtx_init(&c->mu, mtx_plain) != thrd_success)
    goto no_mu;
  if (mtx_init(&c->grid_mu, mtx_plain) != thrd_success)
    goto no_grid_mu;
  if (cnd_init(&c->cv) != thrd_success)
    goto no_cv;
  *out = c;
  return CM_OK;
no_cv:
  mtx_destroy(&c->grid_mu);
no_grid_mu:
  mtx_destroy(&c->mu);
no_mu:
  free(c);
  return cm_error_set(err, CM_E_NOMEM, "", NULL);
}

/* At the first request (so that an instance without any to search pays
 * nothing): the workers checked, their grids' items and capacities
 * collected, the helper started (none: each request is searched in
 * cm_candidates_add). Returns 1 when ready, 0 when unusable. */
static int prepare(cm_candidates *c) {
  if (c->prepared)
    return c->prepared > 0;
  c->prepared = -1;
  for (int j = 0; j < c->nw; j++)
    if (!worker_ok(&c->inst->workers[j]))
      return 0;
  c->shadow.workers = c->inst->workers; /* they no longer move */
  c->cap = cm__malloc_array(c->nw + 1, sizeof *c->cap);
  if (!c->cap || cm__skill_grids_init(&c->g, &c->shadow, c->cap) != 0)
    return 0;
  c->has_helper =
      c->threads > 1 && thrd_create(&c->helper, helper_main, c) == thrd_success;
  c->prepared = 1;
  return 1;
}

/* A larger copy of *arr (n items of size, room for *cap), at least need.
 * Returns 0 or -1 (unchanged). */
static int grow(void **arr, int *cap, int need, size_t size) {
  if (need <= *cap)
    return 0;
  int n = *cap ? *cap : 64;
  while (n < need)
    n *= 2;
  void *p = realloc(*arr, (size_t)n * size);
  if (!p)
    return -1;
  *arr = p;
  *cap = n;
  return 0;
}

/* Under mu: an entry for request r, a queue place, a request copy and a
 * slot of k candidates, none of which moves once handed out. Returns 0
 * or -1. */
static int room(cm_candidates *c, int r, size_t k) {
  int had = c->req_cap;
  if (grow((void **)&c->req, &c->req_cap, r + 1, sizeof *c->req) != 0 ||
      grow((void **)&c->queue, &c->q_cap, c->q_tail + 1, sizeof *c->queue))
    return -1;
  if (c->req_cap > had)
    memset(c->req + had, 0, (size_t)(c->req_cap - had) * sizeof *c->req);
  if (c->n_rblocks == 0 || c->r_used == CM__AHEAD_REQS) {
    if (grow((void **)&c->rblock, &c->rblocks_cap, c->n_rblocks + 1,
             sizeof *c->rblock) != 0 ||
        !(c->rblock[c->n_rblocks] =
              cm__malloc_array(CM__AHEAD_REQS, sizeof **c->rblock)))
      return -1;
    c->n_rblocks++;
    c->r_used = 0;
  }
  if (c->n_blocks == 0 || c->used + k > CM__AHEAD_BLOCK) {
    if (grow((void **)&c->block, &c->blocks_cap, c->n_blocks + 1,
             sizeof *c->block) != 0 ||
        !(c->block[c->n_blocks] =
              cm__malloc_array(CM__AHEAD_BLOCK, sizeof **c->block)))
      return -1;
    c->n_blocks++;
    c->used = 0;
  }
  return 0;
}

int cm_candidates_add(cm_candidates *c, int r) {
  if (!c || r < 0 || r >= c->inst->n_requests || c->inst->n_workers != c->nw)
    return 0;
  const cm_request *src = &c->inst->requests[r];
  size_t k = (size_t)c->shadow.params.k * (size_t)src->staff;
  if (!request_ok(src, c->nw) || k > CM__AHEAD_BLOCK || !prepare(c))
    return 0;
  mtx_lock(&c->mu);
  if ((r < c->n_req && c->req[r].state != AHEAD_NONE) || room(c, r, k) != 0) {
    mtx_unlock(&c->mu);
    return 0; /* added before, or out of memory: cm_solve searches it */
  }
  cm_request *copy = &c->rblock[c->n_rblocks - 1][c->r_used++];
  *copy = *src;
  cm__ahead_req *e = &c->req[r];
  *e = (cm__ahead_req){AHEAD_QUEUED, 0, copy,
                       c->block[c->n_blocks - 1] + c->used};
  c->used += k;
  if (r >= c->n_req)
    c->n_req = r + 1;
  if (c->has_helper) {
    c->queue[c->q_tail++] = r;
    cnd_signal(&c->cv);
    mtx_unlock(&c->mu);
    return 1;
  }
  cm__ahead_req job = *e;
  mtx_unlock(&c->mu);
  int n = 0;
  if (search(c, &c->p, job.rq, NULL, 0, job.c, &n) != 0)
    return 1; /* still queued: cm_solve searches it */
  qsort(job.c, (size_t)n, sizeof *job.c, cm__cand_by_cost);
  mtx_lock(&c->mu);
  c->req[r].state = AHEAD_DONE;
  c->req[r].n = n;
  c->searched++;
  mtx_unlock(&c->mu);
  return 1;
}

int cm_candidates_count(cm_candidates *c) {
  if (!c)
    return 0;
  mtx_lock(&c->mu);
  int n = c->searched;
  mtx_unlock(&c->mu);
  return n;
}

void cm__candidates_stop(cm_candidates *c) {
  mtx_lock(&c->mu);
  c->stop = 1;
  cnd_broadcast(&c->cv);
  mtx_unlock(&c->mu);
}

void cm_candidates_free(cm_candidates *c) {
  if (!c)
    return;
  if (c->has_helper) {
    cm__candidates_stop(c);
    thrd_join(c->helper, NULL);
  }
  cnd_destroy(&c->cv);
  mtx_destroy(&c->grid_mu);
  mtx_destroy(&c->mu);
  cm__skill_grids_free(&c->g);
  free(c->cap);
  free(c->req);
  free(c->queue);
  for (int b = 0; b < c->n_rblocks; b++)
    free(c->rblock[b]);
  free(c->rblock);
  for (int b = 0; b < c->n_blocks; b++)
    free(c->block[b]);
  free(c->block);
  free(c);
}

int cm__candidates_match(const cm_candidates *c, const cm_instance *inst) {
  return c && c->prepared > 0 && c->inst == inst && !inst->has_edges &&
         inst->n_workers == c->nw &&
         memcmp(&c->shadow.weights, &inst->weights, sizeof inst->weights) ==
             0 &&
         memcmp(&c->shadow.params, &inst->params, sizeof inst->params) == 0;
}

int cm__candidates_take(cm_candidates *c, const cm__problem *p, int r,
                        const cm__clock *clk, int64_t need, cm__cand *heap,
                        int *n) {
  mtx_lock(&c->mu);
  while (r < c->n_req && c->req[r].state == AHEAD_BUSY)
    cnd_wait(&c->cv, &c->mu); /* the helper is searching it */
  if (r < c->n_req && c->req[r].state == AHEAD_DONE) {
    *n = c->req[r].n;
    memcpy(heap, c->req[r].c, (size_t)*n * sizeof *heap);
    mtx_unlock(&c->mu);
    return 1;
  }
  if (r < c->n_req && c->req[r].state == AHEAD_QUEUED)
    c->req[r].state = AHEAD_TAKEN; /* the helper passes it by */
  mtx_unlock(&c->mu);
  int rc = search(c, p, &p->inst->requests[r], clk, need, heap, n);
  return rc > 0 ? 2 : rc;
}
