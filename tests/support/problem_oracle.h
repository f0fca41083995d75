/* problem_oracle.h -- test support: the exact optimum of the one-person
 * part of a priced candidate graph (core/solver/problem.h) by enumeration,
 * and the cost of a working solution recomputed from the graph, for the
 * unit suites of the solver's stages (network, reductions). Written from
 * the header comments only; small instances only. */
#ifndef CM_PROBLEM_ORACLE_H_INCLUDED_
#define CM_PROBLEM_ORACLE_H_INCLUDED_

#include "solver/problem.h"

#define CM_ORACLE_MAX_REQUESTS 24 /* enumeration depth the oracle accepts */

/* The cheapest way to place requests reqs[0..n) of p (one-person each):
 * each takes one of its edges or stays out at p->penalty, and worker w
 * takes at most freecap[w] of them (indexed by global worker; p->cap less
 * what is taken elsewhere). Depth-first enumeration with a bound; aborts
 * when n > CM_ORACLE_MAX_REQUESTS. best, when not NULL, receives the chosen
 * edge of each (-1: out). */
double cm_oracle_assign(const cm__problem *p, const int *reqs, int n,
                        const int *freecap, int *best);

/* The cost of s over all of p's requests: the edges it takes and the
 * penalties of the requests it leaves out. */
double cm_oracle_cost(const cm__problem *p, const cm__solution *s);

/* Capacities and membership of s against p: every chosen edge's request
 * served, served requests of one person have exactly one edge, and no worker
 * over p->cap; load[] matches the edges. Returns 1, or 0 with the first
 * problem in msg (room for 256 bytes). */
int cm_oracle_solution_ok(const cm__problem *p, const cm__solution *s,
                          char *msg);

#endif
