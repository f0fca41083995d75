/* test_teams.c -- components with team requests too large for branch and
 * bound: the decomposed answer (network optimum, teams at network prices)
 * must be feasible, no better than the exact MIP optimum (plain GLPK on the
 * same instance), its certified bound no higher than that optimum, and
 * within a few percent of it. */
#include <criterion/criterion.h>
#include <string.h>
#include <time.h>

#include "carematch/solve.h"
#include "check.h"

static void big_team_opts(cm_check_gen_opts *o) {
  memset(o, 0, sizeof *o);
  o->min_requests = 230; /* one component above the branch-and-bound cap */
  o->max_requests = 300;
  o->min_workers = 300;
  o->max_workers = 450;
  o->area_km = 3.0;
  o->team_prob = 0.05;
  o->max_staff = 2;
  o->n_skills = 3;
  o->k = 8;
  o->unavailable_prob = 0.05;
  o->max_capacity = 1;
}

Test(teams, decomposed_is_feasible_and_bounded) {
  cm_check_gen_opts o;
  big_team_opts(&o);
  int decomposed = 0;
  for (uint64_t seed = 1; seed <= 6; seed++) {
    cm_instance *inst = cm_check_gen(&o, 7000 + seed);
    cr_assert_not_null(inst);
    cm_answer a, m;
    cm_error err;
    cm_solve_options mip = {.deadline_ms = -1, .plain_lp = 1};
    cr_assert_eq(cm_solve(inst, NULL, &a, &err), CM_OK, "%s", err.message);
    cr_assert_eq(cm_solve(inst, &mip, &m, &err), CM_OK, "%s", err.message);
    char msg[CM_CHECK_MSG_MAX] = "";
    cr_assert(cm_check_feasible(inst, &a, msg), "seed %llu: %s",
              (unsigned long long)seed, msg);
    cr_assert(m.stats.exact);
    cr_assert(cm_check_reasons(inst, &a, CM_CHECK_UNBOUNDED, msg), "%s", msg);
    for (int k = 0; k < a.n_components; k++)
      decomposed += a.components[k].method == CM_METHOD_DECOMPOSED;
    cr_assert_geq(a.objective, m.objective - 1e-6 * (1 + m.objective),
                  "no heuristic beats the optimum");
    cr_assert_leq(a.stats.lower_bound, m.objective + 1e-6 * (1 + m.objective),
                  "the bound is certified");
    cr_assert_leq(a.objective, m.objective * 1.05, "within 5%% (seed %llu)",
                  (unsigned long long)seed);
    if (a.stats.exact)
      cr_assert(cm_check_close(a.objective, m.objective));
    cm_answer_free(&a);
    cm_answer_free(&m);
    cm_instance_free(inst);
  }
  cr_assert_gt(decomposed, 0, "the decomposed path ran");
}
