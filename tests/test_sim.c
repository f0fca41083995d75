/* test_sim.c -- the city simulator: a generated day is reproducible from
 * its seed and survives a JSON round trip; a day run in process keeps its
 * books (every request served or counted unassigned, no team half-staffed,
 * offers only after submission) and gives the same KPIs twice. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "scenario.h"
#include "sim.h"

static sim_scenario *small_day(uint64_t seed) {
  sim_spec spec;
  sim_spec_default(&spec);
  spec.seed = seed;
  spec.workers = 90;
  spec.requests = 300;
  spec.elders = 400;
  char msg[128];
  sim_scenario *s = sim_scenario_generate(&spec, msg, sizeof msg);
  cr_assert_not_null(s, "%s", msg);
  return s;
}

static void run(const sim_scenario *s, double budget, sim_kpis *k) {
  sim_policy p;
  char msg[128];
  sim_policy_default(&p, budget > 0 ? "optimal" : "greedy", budget);
  cr_assert_eq(sim_run(s, &p, k, NULL, NULL, msg, sizeof msg), 0, "%s", msg);
}

/* Everything but the timings. */
static void same_kpis(const sim_kpis *a, const sim_kpis *b) {
  cr_assert_eq(a->done, b->done);
  cr_assert_eq(a->unassigned, b->unassigned);
  cr_assert_eq(a->rejected, b->rejected);
  cr_assert_float_eq(a->travel_km, b->travel_km, 1e-9);
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    cr_assert_eq(a->requests[u], b->requests[u]);
    cr_assert(a->arrive_p95[u] == b->arrive_p95[u] ||
              (isnan(a->arrive_p95[u]) && isnan(b->arrive_p95[u])));
  }
}

Test(sim, a_seed_gives_the_same_day) {
  sim_scenario *a = small_day(3), *b = small_day(3), *c = small_day(4);
  cr_assert_eq(a->n_requests, b->n_requests);
  cr_assert(memcmp(a->requests, b->requests,
                   (size_t)a->n_requests * sizeof *a->requests) == 0);
  cr_assert(memcmp(a->workers, b->workers,
                   (size_t)a->n_workers * sizeof *a->workers) == 0);
  cr_assert(memcmp(a->requests, c->requests,
                   (size_t)a->n_requests * sizeof *a->requests) != 0,
            "another seed, another day");
  for (int i = 1; i < a->n_requests; i++)
    cr_assert_leq(a->requests[i - 1].at_ms, a->requests[i].at_ms);
  sim_scenario_free(a);
  sim_scenario_free(b);
  sim_scenario_free(c);
}

Test(sim, a_day_keeps_its_books_and_repeats) {
  sim_scenario *s = small_day(7);
  sim_kpis a, b, g;
  run(s, 100, &a);
  run(s, 100, &b);
  run(s, 0, &g);
  same_kpis(&a, &b);
  int total = 0;
  for (int u = 0; u < CM_URGENCY_COUNT; u++)
    total += a.requests[u];
  cr_assert_eq(total, s->n_requests);
  cr_assert_eq(a.done + a.unassigned, s->n_requests, "%d + %d", a.done,
               a.unassigned);
  cr_assert_gt(a.done, s->n_requests / 2, "most of the day is served");
  cr_assert_eq(a.teams_half, 0, "no team request half-staffed");
  cr_assert_eq(g.teams_half, 0);
  cr_assert_gt(a.teams, 0, "the day has team requests");
  cr_assert(a.gini >= 0 && a.gini < 1);
  cr_assert_gt(g.fallbacks, 0, "greedy is the fallback");
  cr_assert_gt(a.floor_km, 0);
  cr_assert_leq(a.floor_km, a.travel_km,
                "the hindsight floor is below the "
                "day's travel: %f > %f",
                a.floor_km, a.travel_km);
  cr_assert_leq(g.floor_km, g.travel_km);
  cr_assert_eq(a.fallbacks, 0);
  int by_hour = 0;
  for (int h = 0; h < 24; h++)
    by_hour += a.hour_requests[h];
  cr_assert_eq(by_hour, s->n_requests, "the hours count every request");
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    if (a.arrived[u] > 0)
      cr_assert_geq(a.arrive_p50[u], 0);
    for (int i = 1; i < a.arrived[u]; i++)
      cr_assert_leq(a.arrivals[u][i - 1], a.arrivals[u][i]);
  }
  sim_kpis_free(&a);
  sim_kpis_free(&b);
  sim_kpis_free(&g);
  sim_scenario_free(s);
}

Test(sim, scenario_files_round_trip_and_errors_name_the_field) {
  sim_scenario *s = small_day(9);
  char path[64], msg[256];
  snprintf(path, sizeof path, "/tmp/cm_scenario_%ld.json", (long)getpid());
  cr_assert_eq(sim_scenario_save(s, path), 0);
  sim_scenario *t = sim_scenario_load(path, msg, sizeof msg);
  cr_assert_not_null(t, "%s", msg);
  cr_assert_eq(t->n_requests, s->n_requests);
  sim_kpis a, b;
  run(s, 100, &a);
  run(t, 100, &b);
  same_kpis(&a, &b);
  sim_kpis_free(&a);
  sim_kpis_free(&b);
  FILE *f = fopen(path, "w");
  fputs("{\"format\":\"carematch-scenario-1\",\"seed\":1}", f);
  fclose(f);
  cr_assert_null(sim_scenario_load(path, msg, sizeof msg));
  cr_assert(strstr(msg, "services"), "%s", msg);
  unlink(path);
  sim_scenario_free(s);
  sim_scenario_free(t);
}
