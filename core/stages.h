/* stages.h -- the stages of a batch solve, in the order cm_solve runs them:
 * exact reductions, components, then per component the network algorithm,
 * GLPK (confirmation, LP or MIP) or the greedy fallback. Internal. */
#ifndef CM_STAGES_H_INCLUDED_
#define CM_STAGES_H_INCLUDED_

#include "problem.h"

/* Requests that still need solving after reductions: active[i] != 0.
 * Fixes requests whose cheapest edge reaches an uncontested worker (one
 * whose free capacity covers every request that can reach it), repeatedly.
 * Returns the number fixed, or -1 when out of memory (nothing fixed). */
int cm__reduce(const cm__problem *p, cm__solution *s, unsigned char *active);

/* Connected components of the active part of the candidate graph. */
typedef struct cm__components {
  int n;        /* components */
  int *r_start; /* n+1 offsets into reqs */
  int *reqs;    /* request ids, ascending within a component */
  int *w_start; /* n+1 offsets into wrks */
  int *wrks;    /* worker ids, ascending within a component */
  int *order;   /* n: solve order (most urgent, then largest first) */
} cm__components;

/* single: everything active in one component (testing). Returns 0 or -1. */
int cm__components_build(const cm__problem *p, const unsigned char *active,
                         int single, cm__components *c);
void cm__components_free(cm__components *c);

/* Sort request ids by priority: urgency, then longest waiting, then id. */
void cm__sort_by_priority(const cm__problem *p, int *reqs, int n);

/* Greedy: in priority order, each request takes its cheapest feasible
 * edge(s) (a team all or nothing). reqs is sorted in place. Returns the
 * number served. */
int cm__greedy(const cm__problem *p, cm__solution *s, int *reqs, int n);

/* Lower bound on the optimum of the given requests with worker prices
 * price[] (indexed by worker; NULL for zero): weak LP duality, valid for
 * any nonnegative prices. Team requests use a capacity-free relaxation. */
double cm__dual_bound(const cm__problem *p, const cm__solution *s,
                      const int *reqs, int nreq, const int *wrks, int nwrk,
                      const double *price);

/* A component with team requests too large for branch and bound (see
 * teams.c): network optimum for the one-person requests, teams at cost plus
 * the network's worker prices, network again around the teams. *lb gets a
 * certified lower bound for the component; *cut is 1 when the deadline cut
 * the last stage (the rest took the greedy answer). Returns 1 when applied
 * to s, 0 when the deadline passed before anything was applied, -1 when
 * out of memory. */
int cm__teams_decompose(const cm__problem *p, cm__solution *s, int *reqs,
                        int nr, const int *wrks, int nw, int *rloc, int *wloc,
                        const cm__clock *clk, double *lb, int *cut);

#endif
