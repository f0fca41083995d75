/* lp_glpk.h -- everything that talks to GLPK. Internal; lp_glpk.c is the
 * only file that includes <glpk.h>. GLPK errors are caught with an error
 * hook (GLPK would otherwise abort the process) and its terminal output is
 * off. All GLPK objects are created, used and freed inside one call, on
 * the calling thread. */
#ifndef CM_LP_GLPK_H_INCLUDED_
#define CM_LP_GLPK_H_INCLUDED_

#include "netflow.h"
#include "problem.h"

typedef struct cm__glpk_stats {
  int iterations; /* simplex iterations */
  int rounds;     /* pricing rounds */
  int added;      /* columns added by pricing */
} cm__glpk_stats;

/* Confirm complete network solutions with GLPK's primal simplex: one LP
 * over the components' requests and workers, restricted to the cheapest
 * edges, the chosen edges and the tree edges; started from the network's
 * spanning-tree basis; the other edges priced on GLPK's duals and added
 * until none has a negative reduced cost. When GLPK's optimum differs, the
 * nets' assignments are replaced by GLPK's (*changed counts requests).
 * *certified is 1 when GLPK proved optimality within the deadline.
 * Returns CM_OK, or an error (nets untouched). */
cm_status cm__glpk_certify(const cm__problem *p, cm__net *const *nets,
                           int nnets, const cm__clock *clk, int *certified,
                           int *changed, cm__glpk_stats *st, cm_error *err);

/* Solve one component with GLPK from a cold start over all its edges:
 * glp_simplex when every request needs one person (the LP is totally
 * unimodular), glp_intopt when a team needs several, the clock watched at
 * every node. s->load holds the jobs taken outside the component. On optimality
 * the chosen edges are taken into s and 1 is returned; when the deadline cut
 * branch and bound with an incumbent, that is taken and 2 is returned; 0 when
 * the deadline cut in with nothing (s untouched); -1 on error (err set, s
 * untouched). */
int cm__glpk_component(const cm__problem *p, cm__solution *s, const int *reqs,
                       int nr, const int *wrks, int nw, const cm__clock *clk,
                       cm__glpk_stats *st, cm_error *err);

#endif
