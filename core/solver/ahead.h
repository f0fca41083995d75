/* ahead.h -- the candidate search run ahead of cm_solve (cm_candidates,
 * solve.h): its layout, and the parts of the search in candidates.c it
 * shares, so that a request searched ahead gets exactly the candidates
 * the search inside cm_solve would give it. Internal. */
#ifndef CM_AHEAD_H_INCLUDED_
#define CM_AHEAD_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>
#include <threads.h>

#include "problem.h"
#include "skill_grids.h"

/* A candidate of one request: a worker, its distance and travel, priced. */
typedef struct cm__cand {
  int w;
  double dist, travel, cost;
  double lat, lon; /* the worker's position (positions mode) */
} cm__cand;

/* Order by (cost, worker): the order a request's edges are kept in. */
int cm__cand_by_cost(const void *a, const void *b);

/* The skills whose grids the search of rq reads. */
cm_skillset cm__request_grids(const cm__skill_grids *g, const cm_request *rq);

/* Search and price the candidates of request rq into heap (room for k x
 * staff); *n: how many, in no particular order. Reads p->inst's workers,
 * weights and params, rq and the grids, building a grid not built yet when
 * the clock (clk, may be NULL) leaves time for it before need
 * nanoseconds. Returns 0, 1 when out of time (nothing searched) or -1
 * when out of memory. */
int cm__find_position(const cm__problem *p, cm__skill_grids *g,
                      const cm_request *rq, const cm__clock *clk, int64_t need,
                      cm__cand *heap, int *n);

#define CM__AHEAD_BLOCK 8192 /* candidates a block holds (384 KiB) */
#define CM__AHEAD_REQS 256   /* request copies a block holds */

/* One request given to the search ahead. */
typedef struct cm__ahead_req {
  int state;            /* AHEAD_* (ahead.c) */
  int n;                /* candidates found (state done) */
  const cm_request *rq; /* a copy of the request, never moved */
  cm__cand *c;          /* room for k x staff candidates, never moved */
} cm__ahead_req;

struct cm_candidates {
  const cm_instance *inst; /* borrowed: the instance being built */
  cm_instance shadow;      /* inst's workers with the weights and params of
                              the search (its requests are not read) */
  cm__problem p;           /* p.inst = &shadow: what the search reads */
  cm__skill_grids g;       /* the matchable workers' grids, each built
                              under grid_mu as the requests need it, then
                              only read */
  int *cap;                /* nw: the workers' capacities */
  int nw;                  /* workers when it was made */
  int threads;             /* > 1: search on a helper thread */
  int prepared;            /* 1: ready (at the first request); -1: a worker
                              out of range or out of memory: unusable */
  mtx_t mu;                /* guards what follows, to the blocks */
  cnd_t cv;                /* a request queued or searched, or stop */
  mtx_t grid_mu;           /* guards building the grids */
  thrd_t helper;           /* searches the queued requests in turn */
  int has_helper;          /* 0: add() searches on the caller's thread */
  int stop;                /* the helper is to return */
  cm__ahead_req *req;      /* n_req: by request index */
  int n_req, req_cap;
  int *queue; /* requests queued, in the order added */
  int q_head, q_tail, q_cap;
  cm_request **rblock; /* blocks of CM__AHEAD_REQS request copies */
  int n_rblocks, rblocks_cap, r_used;
  cm__cand **block; /* blocks of CM__AHEAD_BLOCK candidates */
  int n_blocks, blocks_cap;
  size_t used;  /* candidates handed out of the last block */
  int searched; /* requests searched ahead */
};

/* 1 when c was made for inst as it is now: positions mode, the same
 * workers, weights and params (compared byte for byte: a difference of
 * representation only means the search is not used). */
int cm__candidates_match(const cm_candidates *c, const cm_instance *inst);

/* Request r's candidates into heap (room for k x CM_MAX_STAFF) and *n
 * their number, on the caller's thread: those searched ahead (waiting for
 * the helper when it is searching r), or searched now with p (the
 * solver's problem; clk and need as for cm__find_position) when nobody
 * has. Returns 1 (searched ahead), 0 (searched now), 2 (out of time:
 * nothing searched) or -1 (out of memory). */
int cm__candidates_take(cm_candidates *c, const cm__problem *p, int r,
                        const cm__clock *clk, int64_t need, cm__cand *heap,
                        int *n);

/* Tell the helper to return once its current request is searched (what
 * is still queued is searched by cm__candidates_take if needed). */
void cm__candidates_stop(cm_candidates *c);

#endif
