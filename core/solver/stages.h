/* stages.h -- the stages of a batch solve, in the order cm_solve runs them:
 * exact reductions, components, then per component the network algorithm,
 * GLPK (confirmation, LP or MIP) or the greedy fallback. Internal. */
#ifndef CM_STAGES_H_INCLUDED_
#define CM_STAGES_H_INCLUDED_

#include "problem.h"

/* Requests that still need solving after reductions: active[i] != 0.
 * Fixes requests whose cheapest edge reaches an uncontested worker (one
 * whose free capacity covers every request that can reach it), repeatedly.
 * Stops early when clk (may be NULL) expires: every fixing is exact.
 * Returns the number fixed, or -1 when out of memory (nothing fixed). */
int cm__reduce(const cm__problem *p, cm__solution *s, unsigned char *active,
               const cm__clock *clk);

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

/* The greedy choice for request i among candidate edges from..to-1, which
 * are sorted cheapest first (wrk[e]: the edge's worker; load: jobs taken
 * per worker): the cheapest worker with free capacity, or for a team the
 * cheapest workers that cover its skills. Writes the chosen edge indices to
 * chosen[] (room for CM_MAX_STAFF) and returns how many (the staff), or 0
 * when nothing fits. Changes nothing. */
int cm__greedy_pick(const cm__problem *p, const int *load, const int *wrk,
                    int from, int to, int i, int *chosen);

/* Greedy: in priority order, each request takes its cheapest feasible
 * edge(s) (a team all or nothing). reqs is sorted in place. Returns the
 * number served. */
int cm__greedy(const cm__problem *p, cm__solution *s, int *reqs, int n);

/* What an answer gives a set of requests (reqs NULL: requests 0..nr-1):
 * its cost (edges taken, penalties of the rest) and the emergencies it
 * serves. */
typedef struct cm__part {
  double cost;
  int emergencies;
} cm__part;

cm__part cm__part_of(const cm__problem *p, const cm__solution *s,
                     const int *reqs, int nr);
/* 1 when the phases' part may stand against the floor's: it costs no more
 * (to rounding) and, unless proven optimal, serves no fewer emergencies. */
int cm__part_no_worse(cm__part mine, cm__part floor, int proven);
/* Put the floor's answer back for the given requests (all of one
 * component, or all outside any). */
void cm__part_restore(const cm__problem *p, cm__solution *s,
                      const cm__solution *floor, const int *reqs, int nr);

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
