/* ahead.h -- the candidate search run ahead of cm_solve (cm_candidates,
 * solve.h): its layout, and the parts of the search in candidates.c it
 * shares, so that a request searched ahead gets exactly the candidates
 * the search inside cm_solve would give it. Internal. */
#ifndef CM_AHEAD_H_INCLUDED_
#define CM_AHEAD_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

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

/* Search and price request r's candidates into heap (room for k x staff);
 * *n: how many, in no particular order. Reads p->inst (its requests,
 * workers, weights and params) and the grids, building a grid not built
 * yet when the clock (clk, may be NULL) leaves time for it before need
 * nanoseconds. Returns 0, 1 when out of time (nothing searched) or -1
 * when out of memory. */
int cm__find_position(const cm__problem *p, cm__skill_grids *g, int r,
                      const cm__clock *clk, int64_t need, cm__cand *heap,
                      int *n);

#define CM__AHEAD_BLOCK 8192 /* candidates a block holds (384 KiB) */

struct cm_candidates {
  const cm_instance *inst; /* borrowed: the instance being built */
  cm_instance shadow;      /* inst's arrays (refreshed at each add) with the
                              weights and params of the search */
  cm__problem p;           /* p.inst = &shadow: what the search reads */
  cm__skill_grids g;       /* the matchable workers' grids, built as the
                              requests need them */
  int *cap;                /* nw: the workers' capacities */
  int nw;                  /* workers when it was made */
  int *got;                /* n_req: candidates of request r, -1 none */
  cm__cand **at;           /* n_req: request r's candidates, cheapest first */
  int n_req, req_cap;      /* entries of got and at; their room */
  cm__cand **block;        /* n_blocks blocks of CM__AHEAD_BLOCK candidates:
                              never moved, so no memory is touched twice */
  int n_blocks, blocks_cap;
  size_t used;  /* candidates in the last block */
  int searched; /* requests searched */
};

/* 1 when c was made for inst as it is now: positions mode, the same
 * workers, weights and params (compared byte for byte: a difference of
 * representation only means the search is not used). */
int cm__candidates_match(const cm_candidates *c, const cm_instance *inst);

/* Request r's candidates searched ahead (cheapest first) and *n their
 * number, or NULL when r was not searched. */
cm__cand *cm__candidates_of(cm_candidates *c, int r, int *n);

#endif
