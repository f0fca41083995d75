/* test_optimality.c -- cm_solve against an exact brute force.
 *
 * Hundreds of small random instances (up to 7 requests x 7 workers, positions
 * and explicit-edge modes, with and without team requests): the solver's
 * objective must equal the enumerated optimum, its answer must be feasible
 * and it must claim to be exact. Failures print the seed, the instance, the
 * answer and the brute-force choice. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/solve.h"
#include "check.h"

/* What a batch of instances exercised, so a degenerate generator fails. */
typedef struct tally {
  int instances;
  int teams_served;    /* optimum staffs a team request */
  int left_with_cands; /* optimum leaves a request with candidates */
  int double_duty;     /* optimum uses a worker twice (capacity 2) */
  int no_candidate;    /* some request has no candidate at all */
  int negative_edge;   /* some assigned edge has a negative cost */
} tally;

static void report(const char *what, uint64_t seed, const cm_instance *inst,
                   const cm_answer *ans, const uint32_t *choice, double best) {
  fprintf(stderr, "\n=== %s (seed %llu) ===\n", what, (unsigned long long)seed);
  cm_check_dump_instance(stderr, inst);
  if (ans)
    cm_check_dump_answer(stderr, ans);
  if (choice) {
    fprintf(stderr, "brute force: objective %.17g\n", best);
    for (int i = 0; i < inst->n_requests; i++) {
      fprintf(stderr, " r%d:", i);
      if (!choice[i])
        fprintf(stderr, " unassigned");
      for (int w = 0; w < inst->n_workers; w++)
        if (choice[i] & ((uint32_t)1 << w))
          fprintf(stderr, " w%d", w);
      fprintf(stderr, "\n");
    }
  }
}

static void count(tally *t, const cm_instance *inst, const uint32_t *choice,
                  const cm_answer *ans) {
  int uses[32] = {0};
  t->instances++;
  for (int i = 0; i < inst->n_requests; i++) {
    int cands = cm_check_count_candidates(inst, i);
    if (cands == 0)
      t->no_candidate++;
    if (!choice[i] && cands >= inst->requests[i].staff)
      t->left_with_cands++;
    if (choice[i] && inst->requests[i].staff >= 2)
      t->teams_served++;
    for (int w = 0; w < inst->n_workers; w++)
      if (choice[i] & ((uint32_t)1 << w))
        uses[w]++;
  }
  for (int w = 0; w < inst->n_workers; w++)
    if (uses[w] >= 2)
      t->double_duty++;
  for (int a = 0; a < ans->n_assignments; a++)
    if (ans->assignments[a].terms.total < 0)
      t->negative_edge++;
}

/* Solve n instances from seed0 on; every one must match the brute force. */
static tally run(int edge_mode, int teams, uint64_t seed0, int n,
                 const cm_solve_options *opts, int want_exact, int k_binds) {
  cm_check_gen_opts o;
  tally t;
  memset(&t, 0, sizeof t);
  cm_check_gen_small_opts(&o, edge_mode, teams);
  for (int k = 0; k < n; k++) {
    uint64_t seed = seed0 + (uint64_t)k;
    if (k_binds)
      o.k = 1 + k % 3;
    cm_instance *inst = cm_check_gen(&o, seed);
    cr_assert_not_null(inst, "generator out of memory");
    cm_answer ans;
    cm_error err;
    memset(&ans, 0, sizeof ans);
    cm_error_clear(&err);
    cm_status st = cm_solve(inst, opts, &ans, &err);
    if (st != CM_OK) {
      report("cm_solve failed", seed, inst, NULL, NULL, 0);
      cr_assert_fail("seed %llu: cm_solve returned %s (%s: %s)",
                     (unsigned long long)seed, cm_status_name(st), err.field,
                     err.message);
    }
    char msg[CM_CHECK_MSG_MAX];
    if (!cm_check_feasible(inst, &ans, msg)) {
      report("infeasible answer", seed, inst, &ans, NULL, 0);
      cr_assert_fail("seed %llu: %s", (unsigned long long)seed, msg);
    }
    uint32_t choice[32];
    double best = cm_check_brute_force(inst, choice);
    if (!cm_check_close(ans.objective, best)) {
      report("objective differs from brute force", seed, inst, &ans, choice,
             best);
      cr_assert_fail("seed %llu: cm_solve objective %.12g, optimum %.12g",
                     (unsigned long long)seed, ans.objective, best);
    }
    if ((want_exact && ans.stats.exact != 1) || ans.stats.fallbacks != 0) {
      report("not exact", seed, inst, &ans, choice, best);
      cr_assert_fail("seed %llu: stats.exact %d, fallbacks %d without a "
                     "deadline",
                     (unsigned long long)seed, ans.stats.exact,
                     ans.stats.fallbacks);
    }
    count(&t, inst, choice, &ans);
    cm_answer_free(&ans);
    cm_instance_free(inst);
  }
  return t;
}

Test(optimality, positions_one_person) {
  tally t = run(0, 0, 1000000, 400, NULL, 1, 0);
  cr_expect_geq(t.left_with_cands, 10, "too few optimal leave-outs: %d",
                t.left_with_cands);
  cr_expect_geq(t.double_duty, 10, "too few capacity-2 uses: %d",
                t.double_duty);
  cr_expect_geq(t.no_candidate, 10, "too few no-candidate requests: %d",
                t.no_candidate);
  cr_expect_geq(t.negative_edge, 1, "no negative edge cost seen");
}

Test(optimality, positions_teams) {
  tally t = run(0, 1, 2000000, 400, NULL, 1, 0);
  cr_expect_geq(t.teams_served, 20, "too few staffed teams: %d",
                t.teams_served);
  cr_expect_geq(t.left_with_cands, 10, "too few optimal leave-outs: %d",
                t.left_with_cands);
}

Test(optimality, edges_one_person) {
  tally t = run(1, 0, 3000000, 400, NULL, 1, 0);
  cr_expect_geq(t.left_with_cands, 10, "too few optimal leave-outs: %d",
                t.left_with_cands);
  cr_expect_geq(t.double_duty, 10, "too few capacity-2 uses: %d",
                t.double_duty);
}

Test(optimality, edges_teams) {
  tally t = run(1, 1, 4000000, 400, NULL, 1, 0);
  cr_expect_geq(t.teams_served, 20, "too few staffed teams: %d",
                t.teams_served);
}

/* Somewhat larger instances (up to 8 requests x 9 workers) for longer
 * augmenting paths and bigger components. */
Test(optimality, larger_instances) {
  cm_check_gen_opts o;
  for (int k = 0; k < 300; k++) {
    uint64_t seed = 9000000 + (uint64_t)k;
    cm_check_gen_small_opts(&o, k % 2, k % 3 != 0);
    o.min_requests = 5;
    o.max_requests = 8;
    o.min_workers = 6;
    o.max_workers = 9;
    cm_instance *inst = cm_check_gen(&o, seed);
    cm_answer ans;
    cm_error err;
    char msg[CM_CHECK_MSG_MAX];
    memset(&ans, 0, sizeof ans);
    cr_assert_eq(cm_solve(inst, NULL, &ans, &err), CM_OK);
    if (!cm_check_feasible(inst, &ans, msg)) {
      report("infeasible answer", seed, inst, &ans, NULL, 0);
      cr_assert_fail("seed %llu: %s", (unsigned long long)seed, msg);
    }
    uint32_t choice[32];
    double best = cm_check_brute_force(inst, choice);
    if (!cm_check_close(ans.objective, best) || ans.stats.exact != 1) {
      report("objective differs from brute force", seed, inst, &ans, choice,
             best);
      cr_assert_fail("seed %llu: cm_solve objective %.12g (exact %d), "
                     "optimum %.12g",
                     (unsigned long long)seed, ans.objective, ans.stats.exact,
                     best);
    }
    cm_answer_free(&ans);
    cm_instance_free(inst);
  }
}

/* K nearest eligible workers only (positions mode; K per person of a
 * team): the brute force sees the same K-restricted candidates. In edge
 * mode every given edge stays a candidate. */
Test(optimality, k_binding) {
  tally t = run(0, 0, 1500000, 200, NULL, 1, 1);
  cr_expect_geq(t.left_with_cands, 5, "too few leave-outs: %d",
                t.left_with_cands);
  run(0, 1, 2500000, 200, NULL, 1, 1);
  /* edge mode: the given edges are the candidates, K or not */
  run(1, 1, 3500000, 200, NULL, 1, 1);
}

/* Plain GLPK on the whole batch must reach the same optimum. */
Test(optimality, plain_lp_matches_brute_force) {
  cm_solve_options opts;
  memset(&opts, 0, sizeof opts);
  opts.deadline_ms = -1;
  opts.no_reductions = 1;
  opts.no_components = 1;
  opts.plain_lp = 1;
  run(0, 1, 5000000, 150, &opts, 1, 0);
  run(1, 1, 5100000, 150, &opts, 1, 0);
}

/* Without the GLPK confirmation the optimum is the same (whether it is then
 * called proven is the solver's business). */
Test(optimality, no_certify_matches_brute_force) {
  cm_solve_options opts;
  memset(&opts, 0, sizeof opts);
  opts.deadline_ms = -1;
  opts.no_certify = 1;
  run(0, 0, 6000000, 100, &opts, 0, 0);
  run(1, 1, 6100000, 100, &opts, 0, 0);
}

/* Each network engine alone (successive shortest paths; the network
 * simplex, started from the greedy floor) reaches the optimum, with and
 * without the GLPK confirmation, without reductions (so the engines see the
 * whole one-person graph). */
static void engine_matches_brute_force(int network, uint64_t seed0) {
  cm_solve_options opts;
  memset(&opts, 0, sizeof opts);
  opts.deadline_ms = -1;
  opts.network = network;
  run(0, 0, seed0, 150, &opts, 1, 0);
  run(1, 0, seed0 + 100000, 150, &opts, 1, 0);
  opts.no_reductions = 1;
  opts.no_certify = 1;
  run(0, 0, seed0 + 200000, 150, &opts, 0, 0);
  run(1, 0, seed0 + 300000, 150, &opts, 0, 0);
  run(0, 1, seed0 + 400000, 100, &opts, 0, 0); /* teams: decomposed parts */
}

Test(optimality, network_simplex_matches_brute_force) {
  engine_matches_brute_force(2, 9000000);
}

Test(optimality, shortest_paths_match_brute_force) {
  engine_matches_brute_force(1, 9500000);
}

/* A generous budget on a real clock is not a fallback. */
Test(optimality, generous_deadline_is_exact) {
  cm_solve_options opts;
  memset(&opts, 0, sizeof opts);
  opts.deadline_ms = 60000;
  opts.clock = cm_check_clock;
  run(0, 1, 7000000, 100, &opts, 1, 0);
  run(1, 0, 7100000, 100, &opts, 1, 0);
}

/* Unassigned reasons agree with the candidates of each request. */
Test(optimality, unassigned_reasons) {
  cm_check_gen_opts o;
  int checked = 0;
  for (int k = 0; k < 400; k++) {
    uint64_t seed = 8000000 + (uint64_t)k;
    cm_check_gen_small_opts(&o, k % 2, k % 3 != 0);
    cm_instance *inst = cm_check_gen(&o, seed);
    cm_answer ans;
    cm_error err;
    char msg[CM_CHECK_MSG_MAX];
    memset(&ans, 0, sizeof ans);
    cr_assert_eq(cm_solve(inst, NULL, &ans, &err), CM_OK);
    if (!cm_check_reasons(inst, &ans, CM_CHECK_UNBOUNDED, msg)) {
      report("wrong reason", seed, inst, &ans, NULL, 0);
      cr_assert_fail("seed %llu: %s", (unsigned long long)seed, msg);
    }
    checked += ans.n_unassigned;
    cm_answer_free(&ans);
    cm_instance_free(inst);
  }
  cr_assert_gt(checked, 50);
}

/* ------------------------------------------------ the checker checked */

/* Two nurses near three requests: r0 and r1 one person (scheduled), r2 a
 * team of two (emergency). */
static cm_instance *tiny_instance(void) {
  cm_instance *inst = cm_instance_new();
  cm_error err;
  cr_assert_not_null(inst);
  inst->weights.travel = 1.0;
  for (int u = 0; u < CM_URGENCY_COUNT; u++)
    inst->weights.urgency_factor[u] = 1.0;
  inst->weights.workload = inst->weights.continuity = 0.0;
  inst->weights.rating = inst->weights.skill = inst->weights.preferred = 0.0;
  inst->weights.penalty_base[CM_URGENCY_EMERGENCY] = 100.0;
  inst->weights.penalty_base[CM_URGENCY_SCHEDULED] = 10.0;
  inst->weights.aging_per_min = 0.0;
  inst->params.k = 8;
  for (int u = 0; u < CM_URGENCY_COUNT; u++)
    inst->params.radius_km[u] = 3.0;
  inst->params.radius_growth_km_per_min = 0.0;
  inst->params.radius_max_km = 3.0;
  inst->params.speed_kmh = 30.0;
  inst->params.road_factor = 1.0;
  inst->params.stale_ms = 0;
  for (int j = 0; j < 2; j++) {
    cm_worker w;
    cm_worker_init(&w);
    snprintf(w.id, sizeof w.id, "w%d", j);
    w.skills = 1u << 1; /* nurse */
    w.has_position = 1;
    w.lat = 31.230 + 0.002 * j;
    w.lon = 121.470;
    int index = -1;
    cr_assert_eq(cm_instance_worker_add(inst, &w, &index, &err), CM_OK);
    cr_assert_eq(index, j);
  }
  for (int i = 0; i < 3; i++) {
    cm_request r;
    cm_request_init(&r);
    snprintf(r.id, sizeof r.id, "r%d", i);
    r.skills = 1u << 1;
    r.has_position = 1;
    r.lat = 31.231;
    r.lon = 121.471 + 0.001 * i;
    r.urgency = i == 2 ? CM_URGENCY_EMERGENCY : CM_URGENCY_SCHEDULED;
    r.staff = i == 2 ? 2 : 1;
    int index = -1;
    cr_assert_eq(cm_instance_request_add(inst, &r, &index, &err), CM_OK);
    cr_assert_eq(index, i);
  }
  return inst;
}

/* A hand-made answer: pairs[k] = {request, worker}; every request not
 * named is unassigned (no_candidate when it has none, else outranked). */
static void make_answer(const cm_instance *inst, const int (*pairs)[2],
                        int n_pairs, cm_answer *ans) {
  memset(ans, 0, sizeof *ans);
  ans->assignments = calloc((size_t)n_pairs + 1, sizeof *ans->assignments);
  ans->unassigned =
      calloc((size_t)inst->n_requests + 1, sizeof *ans->unassigned);
  cr_assert(ans->assignments && ans->unassigned);
  for (int k = 0; k < n_pairs; k++) {
    cm_assignment *a = &ans->assignments[ans->n_assignments++];
    const cm_request *r = &inst->requests[pairs[k][0]];
    const cm_worker *w = &inst->workers[pairs[k][1]];
    double d = cm_geo_distance_km(r->lat, r->lon, w->lat, w->lon);
    a->request = pairs[k][0];
    a->worker = pairs[k][1];
    a->component = -1;
    cm_edge_cost(inst, a->request, a->worker, d,
                 cm_travel_minutes(&inst->params, d), &a->terms);
    ans->objective += a->terms.total;
  }
  for (int i = 0; i < inst->n_requests; i++) {
    int named = 0;
    for (int k = 0; k < n_pairs; k++)
      named |= pairs[k][0] == i;
    if (named)
      continue;
    cm_unassigned *u = &ans->unassigned[ans->n_unassigned++];
    u->request = i;
    u->penalty = cm_request_penalty(&inst->weights, &inst->requests[i]);
    u->reason = cm_check_count_candidates(inst, i) ? CM_REASON_OUTRANKED
                                                   : CM_REASON_NO_CANDIDATE;
    ans->objective += u->penalty;
  }
  ans->stats.lower_bound = -1e300;
}

static void expect_rejected(const cm_instance *inst, cm_answer *ans,
                            const char *what) {
  char msg[CM_CHECK_MSG_MAX];
  cr_assert_eq(cm_check_feasible(inst, ans, msg), 0, "%s: accepted", what);
  cr_assert_gt(strlen(msg), 0, "%s: no message", what);
  cm_answer_free(ans);
}

Test(checker, accepts_a_valid_answer) {
  cm_instance *inst = tiny_instance();
  static const int ok[][2] = {{0, 0}, {1, 1}};
  static const int team[][2] = {{2, 1}, {2, 0}};
  cm_answer ans;
  char msg[CM_CHECK_MSG_MAX];
  make_answer(inst, ok, 2, &ans);
  cr_assert(cm_check_feasible(inst, &ans, msg), "%s", msg);
  cr_assert(cm_check_reasons(inst, &ans, CM_CHECK_UNBOUNDED, msg), "%s", msg);
  cm_answer_free(&ans);
  make_answer(inst, team, 2, &ans);
  cr_assert(cm_check_feasible(inst, &ans, msg), "%s", msg);
  cm_answer_free(&ans);
  make_answer(inst, NULL, 0, &ans);
  cr_assert(cm_check_feasible(inst, &ans, msg), "%s", msg);
  cm_answer_free(&ans);
  cm_instance_free(inst);
}

Test(checker, rejects_broken_answers) {
  cm_instance *inst = tiny_instance();
  cm_answer ans;
  static const int cap[][2] = {{0, 0}, {1, 0}};
  make_answer(inst, cap, 2, &ans);
  expect_rejected(inst, &ans, "capacity exceeded");
  static const int half[][2] = {{2, 0}};
  make_answer(inst, half, 1, &ans);
  expect_rejected(inst, &ans, "half a team");
  static const int twice[][2] = {{2, 0}, {2, 0}};
  make_answer(inst, twice, 2, &ans);
  expect_rejected(inst, &ans, "one worker twice in a team");
  static const int ok[][2] = {{0, 0}, {1, 1}};
  make_answer(inst, ok, 2, &ans);
  ans.objective += 0.01;
  expect_rejected(inst, &ans, "objective off");
  make_answer(inst, ok, 2, &ans);
  ans.n_unassigned = 0; /* r2 vanishes */
  ans.objective -= cm_request_penalty(&inst->weights, &inst->requests[2]);
  expect_rejected(inst, &ans, "request missing");
  make_answer(inst, ok, 2, &ans);
  ans.unassigned[1] = ans.unassigned[0]; /* r2 listed twice */
  ans.n_unassigned = 2;
  ans.objective += ans.unassigned[0].penalty;
  expect_rejected(inst, &ans, "request listed twice");
  make_answer(inst, ok, 2, &ans);
  ans.assignments[0].terms.total += 1.0;
  ans.objective += 1.0;
  expect_rejected(inst, &ans, "total not the sum of its terms");
  make_answer(inst, ok, 2, &ans);
  ans.assignments[0].terms.travel += 1.0;
  ans.assignments[0].terms.total += 1.0;
  ans.objective += 1.0;
  expect_rejected(inst, &ans, "travel term mispriced");
  make_answer(inst, ok, 2, &ans);
  ans.unassigned[0].penalty += 1.0;
  ans.objective += 1.0;
  expect_rejected(inst, &ans, "penalty mispriced");
  make_answer(inst, ok, 2, &ans);
  ans.stats.lower_bound = ans.objective + 1.0;
  expect_rejected(inst, &ans, "lower bound above objective");
  make_answer(inst, ok, 2, &ans);
  ans.assignments[1].component = 3;
  expect_rejected(inst, &ans, "component out of range");
  inst->workers[1].status = CM_WORKER_BUSY;
  make_answer(inst, ok, 2, &ans);
  expect_rejected(inst, &ans, "busy worker");
  inst->workers[1].status = CM_WORKER_AVAILABLE;
  inst->workers[1].lat = 31.3; /* ~7.6 km away, radius 3 */
  make_answer(inst, ok, 2, &ans);
  expect_rejected(inst, &ans, "outside the radius");
  /* the reason checker: w1 is gone, w0 remains for r0 */
  static const int one[][2] = {{1, 0}};
  make_answer(inst, one, 1, &ans);
  char msg[CM_CHECK_MSG_MAX];
  cr_assert(cm_check_feasible(inst, &ans, msg), "%s", msg);
  ans.unassigned[0].reason = CM_REASON_NO_CANDIDATE; /* r0 has w0 */
  cr_assert_eq(cm_check_reasons(inst, &ans, CM_CHECK_UNBOUNDED, msg), 0);
  ans.unassigned[0].reason = CM_REASON_DEADLINE;
  cr_assert_eq(cm_check_reasons(inst, &ans, CM_CHECK_UNBOUNDED, msg), 0);
  cm_answer_free(&ans);
  cm_instance_free(inst);
}

/* The brute force on a case worked by hand: the emergency team beats the
 * two scheduled visits (penalty 2 x 100 against 10 + 10). */
Test(checker, brute_force_by_hand) {
  cm_instance *inst = tiny_instance();
  uint32_t choice[3];
  double best = cm_check_brute_force(inst, choice);
  cm_cost_terms a, b;
  for (int j = 0; j < 2; j++) {
    const cm_request *r = &inst->requests[2];
    const cm_worker *w = &inst->workers[j];
    double d = cm_geo_distance_km(r->lat, r->lon, w->lat, w->lon);
    cm_edge_cost(inst, 2, j, d, cm_travel_minutes(&inst->params, d),
                 j ? &b : &a);
  }
  double want = a.total + b.total +
                cm_request_penalty(&inst->weights, &inst->requests[0]) +
                cm_request_penalty(&inst->weights, &inst->requests[1]);
  cr_assert_float_eq(best, want, 1e-9);
  cr_assert_eq(choice[0], 0);
  cr_assert_eq(choice[1], 0);
  cr_assert_eq(choice[2], 3u);
  /* make the team cheap to skip: the two visits win */
  inst->weights.penalty_base[CM_URGENCY_EMERGENCY] = 0.5;
  best = cm_check_brute_force(inst, choice);
  cr_assert_eq(choice[2], 0);
  cr_assert(choice[0] && choice[1] && choice[0] != choice[1]);
  cm_answer ans;
  cm_error err;
  cr_assert_eq(cm_solve(inst, NULL, &ans, &err), CM_OK);
  cr_assert_float_eq(ans.objective, best, 1e-9);
  cm_answer_free(&ans);
  cm_instance_free(inst);
}
