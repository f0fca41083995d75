/* check.h -- test support: random instances, an answer checker and an exact
 * brute-force optimizer, written from the public headers only.
 *
 * Nothing here calls into the solver's code paths: eligibility, candidates,
 * capacities and team rules are re-implemented from the header comments;
 * only the pure pieces of solve.h (cm_edge_cost, cm_geo_distance_km,
 * cm_travel_minutes, cm_request_radius_km, cm_request_penalty) are used to
 * price edges, so that checker and solver agree on what a cost is but not on
 * which answer is right. Compiled into every test executable. */
#ifndef CM_CHECK_H_INCLUDED_
#define CM_CHECK_H_INCLUDED_

#include <stdint.h>
#include <stdio.h>

#include "carematch/model.h"
#include "carematch/solve.h"
#include "rng.h" /* the generator below draws from cm_check_rng */

#define CM_CHECK_MSG_MAX 1024 /* bytes of a checker message */
#define CM_CHECK_TOL 1e-6     /* relative tolerance of objective checks */

/* What the random generator makes. */
typedef struct cm_check_gen_opts {
  int min_requests, max_requests; /* batch size range */
  int min_workers, max_workers;   /* worker count range */
  double area_km;                 /* side of the square service area */
  double team_prob;               /* share of team requests (staff >= 2) */
  int max_staff;                  /* largest team, 2..CM_MAX_STAFF */
  int n_skills;                   /* skills drawn from the first n roles */
  int edge_mode;                  /* 1: explicit edges, 0: positions */
  double edge_prob;               /* edge mode: chance of each (r, w) pair */
  int edges_per_request;          /* edge mode: > 0 overrides edge_prob */
  int k;                          /* params.k; 0: n_workers (never binds) */
  double unavailable_prob;        /* share of busy / offline / offered */
  double stale_prob;              /* share of workers with stale positions */
  int max_capacity;               /* capacity drawn from 1..max (some 0) */
} cm_check_gen_opts;

/* Options of the small instances of the optimality test: up to 7 x 7 in a
 * 3 km square, few skills, K never binding. */
void cm_check_gen_small_opts(cm_check_gen_opts *o, int edge_mode, int teams);
/* A random instance; NULL when out of memory. It always passes
 * cm_instance_validate (the generator aborts the test otherwise). */
cm_instance *cm_check_gen(const cm_check_gen_opts *o, uint64_t seed);
/* A deep copy made through the public add functions; NULL on failure. */
cm_instance *cm_check_copy(const cm_instance *inst);

/* Independent eligibility of worker w for request r from the header text:
 * skills per mode and staff, status available, capacity > 0, fresh position
 * when stale_ms > 0, not excluded. Distance is not checked. */
int cm_check_eligible(const cm_instance *inst, int r, int w);
/* 1 when (r, w) is a candidate: eligible and within the radius and among
 * the params.k * staff nearest such workers (positions mode; K is per
 * person needed, so a team can always be formed from K), or on a given edge
 * (edge mode). Fills the distance and travel time the edge must be priced
 * with (either pointer may be NULL). */
int cm_check_candidate(const cm_instance *inst, int r, int w,
                       double *distance_km, double *travel_min);
/* Number of eligible workers within reach of request r, K ignored. */
int cm_check_count_candidates(const cm_instance *inst, int r);

/* Check an answer against the instance: every assignment a candidate, priced
 * right term by term, capacities, teams all-or-nothing with distinct members
 * and skill coverage, every request exactly once, unassigned penalties,
 * objective recomputed from scratch, statistics consistent (reasons are
 * checked apart, by cm_check_reasons). Returns
 * 1 when feasible; 0 with the first problem written to msg. */
int cm_check_feasible(const cm_instance *inst, const cm_answer *ans,
                      char msg[CM_CHECK_MSG_MAX]);

/* The budget an answer was solved under, for cm_check_reasons. */
typedef enum cm_check_budget {
  CM_CHECK_UNBOUNDED = 0, /* no deadline */
  CM_CHECK_ZERO_BUDGET,   /* deadline_ms = 0: the greedy answer */
  CM_CHECK_BUDGET         /* a positive budget on a clock */
} cm_check_budget;

/* Check the reasons of unassigned requests: no eligible worker within reach
 * means no_candidate (or deadline under a positive budget, if the search was
 * cut); a one-person request with a candidate is never no_candidate (a team
 * with too few may be); under a 0 ms budget outranked only where every
 * option costs more than the penalty (an exact decision); without a
 * deadline nothing says deadline. Returns 1, or 0 with the problem in msg. */
int cm_check_reasons(const cm_instance *inst, const cm_answer *ans,
                     cm_check_budget budget, char msg[CM_CHECK_MSG_MAX]);
/* Cost of the cheapest worker set that could staff request r, capacities
 * ignored (INFINITY when none). */
double cm_check_min_option(const cm_instance *inst, int r);

/* Exact optimum by enumeration: for each request, unassigned or every
 * feasible worker set, dynamic programming over remaining capacities. For
 * small instances only (aborts when the state space is too large). choice,
 * when not NULL, receives n_requests bitmasks of the chosen workers (0 =
 * unassigned). */
double cm_check_brute_force(const cm_instance *inst, uint32_t *choice);

/* 1 when a and b agree within CM_CHECK_TOL relative (absolute near 0). */
int cm_check_close(double a, double b);

/* Human-readable dumps for failure reports. */
void cm_check_dump_instance(FILE *f, const cm_instance *inst);
void cm_check_dump_answer(FILE *f, const cm_answer *ans);

/* CLOCK_MONOTONIC in nanoseconds, for cm_solve_options.clock. */
int64_t cm_check_clock(void *ctx);

#endif
