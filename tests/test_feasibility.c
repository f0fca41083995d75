/* test_feasibility.c -- every answer of cm_solve is feasible, at any budget.
 *
 * Larger random instances (50-300 requests, 100-1000 workers, team requests,
 * K binding, positions and explicit-edge modes, a scarce-staff regime),
 * solved without a deadline and under 0 ms and 1 ms budgets on a real
 * CLOCK_MONOTONIC clock. Every answer must pass the independent checker; the
 * unbounded solve must be exact, and no budgeted answer may beat it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "carematch/solve.h"
#include "check.h"

static void large_opts(cm_check_gen_opts *o, int edge_mode) {
  memset(o, 0, sizeof *o);
  o->min_requests = 50;
  o->max_requests = 300;
  o->min_workers = 100;
  o->max_workers = 1000;
  o->area_km = 10.0;
  o->team_prob = 0.1;
  o->max_staff = 4;
  o->n_skills = 4;
  o->edge_mode = edge_mode;
  o->edges_per_request = 12;
  o->k = 8;
  o->unavailable_prob = 0.15;
  o->stale_prob = 0.1;
  o->max_capacity = 2;
}

static void fail_with(const char *what, uint64_t seed, double deadline_ms,
                      const cm_instance *inst, const cm_answer *ans,
                      const char *msg) {
  fprintf(stderr, "\n=== %s (seed %llu, deadline %g ms) ===\n", what,
          (unsigned long long)seed, deadline_ms);
  cm_check_dump_instance(stderr, inst);
  if (ans)
    cm_check_dump_answer(stderr, ans);
  cr_assert_fail("seed %llu, deadline %g ms: %s: %s", (unsigned long long)seed,
                 deadline_ms, what, msg);
}

/* Solve with a budget (< 0: none) on the real clock; check feasibility. */
static void solve_checked(const cm_instance *inst, uint64_t seed,
                          double deadline_ms, cm_answer *ans) {
  cm_solve_options opts;
  cm_error err;
  char msg[CM_CHECK_MSG_MAX];
  memset(&opts, 0, sizeof opts);
  memset(ans, 0, sizeof *ans);
  cm_error_clear(&err);
  opts.deadline_ms = deadline_ms;
  opts.clock = cm_check_clock;
  cm_status st = cm_solve(inst, &opts, ans, &err);
  if (st != CM_OK) {
    snprintf(msg, sizeof msg, "%s at %s: %s", cm_status_name(st), err.field,
             err.message);
    fail_with("cm_solve failed", seed, deadline_ms, inst, NULL, msg);
  }
  if (!cm_check_feasible(inst, ans, msg))
    fail_with("infeasible answer", seed, deadline_ms, inst, ans, msg);
}

static void run(const cm_check_gen_opts *o, uint64_t seed0, int n) {
  static const double budgets[] = {0.0, 1.0};
  for (int k = 0; k < n; k++) {
    uint64_t seed = seed0 + (uint64_t)k;
    cm_instance *inst = cm_check_gen(o, seed);
    cr_assert_not_null(inst);
    cm_answer best;
    solve_checked(inst, seed, -1.0, &best);
    /* without a deadline every component is proven optimal, except a team
       component too large for branch and bound (decomposed, with a bound) */
    int unproven_ok = 1;
    for (int c = 0; c < best.n_components; c++)
      if (!best.components[c].proven &&
          best.components[c].method != CM_METHOD_DECOMPOSED)
        unproven_ok = 0;
    if (best.stats.fallbacks != 0 || !unproven_ok)
      fail_with("unbounded solve not exact", seed, -1.0, inst, &best,
                "no fallback and every component but decomposed ones proven "
                "without a deadline");
    if (!best.stats.exact) { /* the reference is the exact MIP */
      cm_answer mip;
      cm_error err;
      cm_solve_options plain = {.deadline_ms = -1, .plain_lp = 1};
      cr_assert_eq(cm_solve(inst, &plain, &mip, &err), CM_OK, "%s",
                   err.message);
      cr_assert(mip.stats.exact, "plain branch and bound is exact");
      double tol = CM_CHECK_TOL *
                   (1.0 + (mip.objective < 0 ? -mip.objective : mip.objective));
      if (best.objective < mip.objective - tol ||
          best.stats.lower_bound > mip.objective + tol)
        fail_with("decomposed answer inconsistent with the optimum", seed, -1.0,
                  inst, &best, "objective below or bound above the MIP");
      cm_answer_free(&best);
      best = mip;
    }
    for (size_t b = 0; b < sizeof budgets / sizeof budgets[0]; b++) {
      cm_answer ans;
      solve_checked(inst, seed, budgets[b], &ans);
      double tol = CM_CHECK_TOL * (1.0 + (best.objective < 0 ? -best.objective
                                                             : best.objective));
      if (ans.objective < best.objective - tol) {
        char msg[CM_CHECK_MSG_MAX];
        snprintf(msg, sizeof msg,
                 "budgeted objective %.12g below the exact optimum %.12g",
                 ans.objective, best.objective);
        fail_with("better than optimal", seed, budgets[b], inst, &ans, msg);
      }
      if (best.stats.lower_bound > ans.objective + tol) {
        char msg[CM_CHECK_MSG_MAX];
        snprintf(msg, sizeof msg, "lower bound %.12g above objective %.12g",
                 best.stats.lower_bound, ans.objective);
        fail_with("bound violated", seed, budgets[b], inst, &ans, msg);
      }
      cm_answer_free(&ans);
    }
    cm_answer_free(&best);
    cm_instance_free(inst);
  }
}

/* Reasons of unassigned requests on large instances, at every budget. */
Test(feasibility, unassigned_reasons) {
  static const double budgets[] = {-1.0, 0.0, 1.0};
  for (int k = 0; k < 10; k++) {
    cm_check_gen_opts o;
    uint64_t seed = 15000000 + (uint64_t)k;
    large_opts(&o, k % 2);
    cm_instance *inst = cm_check_gen(&o, seed);
    cr_assert_not_null(inst);
    for (size_t b = 0; b < sizeof budgets / sizeof budgets[0]; b++) {
      cm_answer ans;
      char msg[CM_CHECK_MSG_MAX];
      solve_checked(inst, seed, budgets[b], &ans);
      if (!cm_check_reasons(inst, &ans,
                            budgets[b] < 0    ? CM_CHECK_UNBOUNDED
                            : budgets[b] == 0 ? CM_CHECK_ZERO_BUDGET
                                              : CM_CHECK_BUDGET,
                            msg))
        fail_with("wrong reason", seed, budgets[b], inst, &ans, msg);
      cm_answer_free(&ans);
    }
    cm_instance_free(inst);
  }
}

Test(feasibility, positions_with_teams) {
  cm_check_gen_opts o;
  large_opts(&o, 0);
  run(&o, 11000000, 20);
}

Test(feasibility, edges_with_teams) {
  cm_check_gen_opts o;
  large_opts(&o, 1);
  run(&o, 12000000, 15);
}

/* Scarce staff: more requests than workers, one giant component. */
Test(feasibility, scarce_staff) {
  cm_check_gen_opts o;
  large_opts(&o, 0);
  o.min_requests = 200;
  o.max_requests = 300;
  o.min_workers = 100;
  o.max_workers = 150;
  o.area_km = 4.0;
  o.team_prob = 0.05;
  run(&o, 13000000, 10);
}

/* One-person requests only: the network path under budgets. */
Test(feasibility, one_person_dense) {
  cm_check_gen_opts o;
  large_opts(&o, 0);
  o.team_prob = 0.0;
  o.k = 16;
  run(&o, 14000000, 12);
}

/* Many teams (ALL and ANY, up to four people): branch and bound under
 * budgets. */
Test(feasibility, team_heavy) {
  cm_check_gen_opts o;
  large_opts(&o, 0);
  o.max_requests = 200;
  o.team_prob = 0.35;
  run(&o, 16000000, 8);
  large_opts(&o, 1);
  o.max_requests = 200;
  o.team_prob = 0.35;
  run(&o, 16100000, 6);
}
