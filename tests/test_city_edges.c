/* test_city_edges.c -- cm_city_to_edges (bench/city/city_edges.h), the
 * edge-mode writer of bench_solve's LEMON rows: the edges it writes are the
 * graph cm_solve searches for itself, so an instance reaches the same
 * objective over the same number of edges in both modes. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>

#include "carematch/solve.h"
#include "city.h"
#include "city_edges.h"

/* Solve inst in positions mode, turn it into edge mode, solve again. */
static void same_in_both_modes(cm_instance *inst, const char *what) {
  cm_answer p, e;
  cm_error err;
  cr_assert_eq(cm_solve(inst, NULL, &p, &err), CM_OK, "%s", err.message);
  cr_assert_eq(cm_city_to_edges(inst, &err), 0, "%s: %s", what, err.message);
  cr_assert(inst->has_edges);
  cr_assert_eq(cm_instance_validate(inst, &err), CM_OK, "%s", err.message);
  cr_assert_eq(cm_solve(inst, NULL, &e, &err), CM_OK, "%s", err.message);
  cr_assert_eq(e.stats.edges, p.stats.edges, "%s: edges %d, positions %d", what,
               e.stats.edges, p.stats.edges);
  cr_assert(
      fabs(e.objective - p.objective) <= 1e-9 * fmax(1.0, fabs(p.objective)),
      "%s: objective %.10g, positions %.10g", what, e.objective, p.objective);
  cm_answer_free(&p);
  cm_answer_free(&e);
}

Test(city_edges, plenty_and_scarce_cities) {
  static const int sizes[][2] = {{100, 1000}, {300, 300}, {200, 2000}};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    for (int k = 4; k <= 16; k *= 2)
      for (uint64_t seed = 1; seed <= 4; seed++) {
        cm_city_spec spec;
        cm_error err;
        char what[64];
        cm_city_spec_init(&spec);
        spec.seed = seed;
        spec.n_requests = sizes[i][0];
        spec.n_workers = sizes[i][1];
        spec.k = k;
        cm_instance *inst = cm_city_instance(&spec, &err);
        cr_assert_not_null(inst, "%s", err.message);
        snprintf(what, sizeof what, "%dx%d K%d seed %llu", sizes[i][0],
                 sizes[i][1], k, (unsigned long long)seed);
        same_in_both_modes(inst, what);
        cm_instance_free(inst);
      }
}

/* Dense, capacities 1..2, preferred and excluded workers, teams. */
Test(city_edges, small_dense_with_teams) {
  for (uint64_t seed = 1; seed <= 30; seed++) {
    cm_error err;
    char what[32];
    cm_instance *inst = cm_city_small(seed, 30, 40, 0.1, &err);
    cr_assert_not_null(inst, "%s", err.message);
    snprintf(what, sizeof what, "small seed %llu", (unsigned long long)seed);
    same_in_both_modes(inst, what);
    cm_instance_free(inst);
  }
}

Test(city_edges, refuses_an_edge_mode_instance) {
  cm_error err;
  cm_instance *inst = cm_city_small(1, 5, 5, 0.0, &err);
  cr_assert_not_null(inst);
  cr_assert_eq(cm_city_to_edges(inst, &err), 0);
  cr_assert_eq(cm_city_to_edges(inst, &err), -1);
  cr_assert_eq(err.code, CM_E_CONFLICT);
  cm_instance_free(inst);
}
