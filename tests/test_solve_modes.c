/* test_solve_modes.c -- cm_solve options, deadline fallback, determinism,
 * unassigned reasons, and the pure pieces of solve.h.
 *
 * Reductions, decomposition and the network path must never change the
 * optimum (compared with plain GLPK on the whole batch); a 0 ms budget gives
 * the greedy answer and says so; the same instance gives the same answer;
 * reasons name why a request was left out. The pure pieces (edge cost,
 * penalty, radius, travel, eligibility) are checked against the formulas of
 * the headers. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "carematch/solve.h"
#include "check.h"

static void medium_opts(cm_check_gen_opts *o, int edge_mode, int teams) {
  memset(o, 0, sizeof *o);
  o->min_requests = 30;
  o->max_requests = 150;
  o->min_workers = 20;
  o->max_workers = 150;
  o->area_km = 5.0;
  o->team_prob = teams ? 0.15 : 0.0;
  o->max_staff = 3;
  o->n_skills = 3;
  o->edge_mode = edge_mode;
  o->edges_per_request = 6;
  o->k = 6;
  o->unavailable_prob = 0.15;
  o->stale_prob = 0.1;
  o->max_capacity = 2;
}

static void dump_fail(const char *what, uint64_t seed, const cm_instance *inst,
                      const cm_answer *a, const cm_answer *b) {
  fprintf(stderr, "\n=== %s (seed %llu) ===\n", what, (unsigned long long)seed);
  cm_check_dump_instance(stderr, inst);
  if (a)
    cm_check_dump_answer(stderr, a);
  if (b)
    cm_check_dump_answer(stderr, b);
}

/* Solve and check; on any failure dump and fail. */
static void solve_ok(const cm_instance *inst, const cm_solve_options *opts,
                     uint64_t seed, const char *label, cm_answer *ans) {
  cm_error err;
  char msg[CM_CHECK_MSG_MAX];
  memset(ans, 0, sizeof *ans);
  cm_error_clear(&err);
  cm_status st = cm_solve(inst, opts, ans, &err);
  if (st != CM_OK) {
    dump_fail("cm_solve failed", seed, inst, NULL, NULL);
    cr_assert_fail("seed %llu [%s]: %s at %s: %s", (unsigned long long)seed,
                   label, cm_status_name(st), err.field, err.message);
  }
  if (!cm_check_feasible(inst, ans, msg)) {
    dump_fail("infeasible answer", seed, inst, ans, NULL);
    cr_assert_fail("seed %llu [%s]: %s", (unsigned long long)seed, label, msg);
  }
}

/* ------------------------------------------- (a) reductions never change */

static void compare_variants(int edge_mode, int teams, uint64_t seed0, int n) {
  static const struct {
    const char *name;
    int no_reductions, no_components, plain_lp;
  } variants[] = {
      {"plain (all off)", 1, 1, 1},
      {"no_reductions", 1, 0, 0},
      {"no_components", 0, 1, 0},
      {"plain_lp", 0, 0, 1},
  };
  static const struct {
    const char *name;
    int network;
  } engines[] = {{"shortest paths", 1}, {"network simplex", 2}};
  cm_check_gen_opts o;
  medium_opts(&o, edge_mode, teams);
  for (int k = 0; k < n; k++) {
    uint64_t seed = seed0 + (uint64_t)k;
    o.area_km = k % 2 ? 25.0 : 5.0; /* many components, or one */
    cm_instance *inst = cm_check_gen(&o, seed);
    cr_assert_not_null(inst);
    cm_answer base;
    solve_ok(inst, NULL, seed, "default", &base);
    cr_assert_eq(base.stats.exact, 1, "seed %llu: default solve not exact",
                 (unsigned long long)seed);
    for (size_t v = 0; v < sizeof engines / sizeof engines[0]; v++) {
      cm_solve_options opts;
      memset(&opts, 0, sizeof opts);
      opts.deadline_ms = -1;
      opts.network = engines[v].network;
      opts.no_reductions = 1; /* the engine sees the whole graph */
      opts.no_certify = 1;    /* and GLPK does not mend its answer */
      cm_answer ans;
      solve_ok(inst, &opts, seed, engines[v].name, &ans);
      if (!cm_check_close(ans.objective, base.objective)) {
        dump_fail("engine differs from default", seed, inst, &base, &ans);
        cr_assert_fail("seed %llu: default objective %.12g, %s %.12g",
                       (unsigned long long)seed, base.objective,
                       engines[v].name, ans.objective);
      }
      cm_answer_free(&ans);
    }
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
      cm_solve_options opts;
      memset(&opts, 0, sizeof opts);
      opts.deadline_ms = -1;
      opts.no_reductions = variants[v].no_reductions;
      opts.no_components = variants[v].no_components;
      opts.plain_lp = variants[v].plain_lp;
      cm_answer ans;
      solve_ok(inst, &opts, seed, variants[v].name, &ans);
      if (!cm_check_close(ans.objective, base.objective) ||
          ans.stats.exact != 1) {
        dump_fail("variant differs from default", seed, inst, &base, &ans);
        cr_assert_fail("seed %llu: default objective %.12g, %s %.12g "
                       "(exact %d)",
                       (unsigned long long)seed, base.objective,
                       variants[v].name, ans.objective, ans.stats.exact);
      }
      if (opts.no_components)
        cr_assert_leq(ans.stats.components, 1,
                      "seed %llu: no_components gave %d components",
                      (unsigned long long)seed, ans.stats.components);
      if (opts.no_reductions)
        cr_assert_eq(ans.stats.reduced, 0,
                     "seed %llu: no_reductions still reduced %d",
                     (unsigned long long)seed, ans.stats.reduced);
      cm_answer_free(&ans);
    }
    cm_answer_free(&base);
    cm_instance_free(inst);
  }
}

Test(reductions, one_person_positions) {
  compare_variants(0, 0, 21000000, 20);
}

Test(reductions, one_person_edges) {
  compare_variants(1, 0, 22000000, 12);
}

Test(reductions, teams_positions) {
  compare_variants(0, 1, 23000000, 20);
}

Test(reductions, teams_edges) {
  compare_variants(1, 1, 24000000, 12);
}

/* The default solve really reduces and decomposes on sparse instances, so
 * the comparisons above compare different code paths. */
Test(reductions, default_reduces_and_decomposes) {
  cm_check_gen_opts o;
  medium_opts(&o, 0, 0);
  o.min_requests = o.max_requests = 120;
  o.min_workers = o.max_workers = 150;
  o.area_km = 30.0; /* sparse: districts that do not touch */
  int reduced = 0, split = 0;
  for (int k = 0; k < 4; k++) {
    cm_instance *inst = cm_check_gen(&o, 25000000 + (uint64_t)k);
    cm_answer ans;
    solve_ok(inst, NULL, 25000000 + (uint64_t)k, "default", &ans);
    reduced += ans.stats.reduced;
    split += ans.stats.components > 1;
    cm_answer_free(&ans);
    cm_instance_free(inst);
  }
  cr_expect_gt(reduced, 0, "no request fixed by reductions");
  cr_expect_gt(split, 0, "no instance split into components");
}

/* ------------------------------------------------- (b) deadline 0: greedy */

static void check_greedy(const cm_instance *inst, const cm_answer *ans,
                         uint64_t seed) {
  const cm_solve_stats *st = &ans->stats;
  for (int c = 0; c < ans->n_components; c++) {
    const cm_component_info *ci = &ans->components[c];
    if (ci->method != CM_METHOD_GREEDY || !ci->fell_back) {
      dump_fail("component not greedy", seed, inst, ans, NULL);
      cr_assert_fail("seed %llu: component %d method %s fell_back %d",
                     (unsigned long long)seed, c, cm_method_name(ci->method),
                     ci->fell_back);
    }
  }
  cr_assert_eq(st->fallbacks, st->components,
               "seed %llu: fallbacks %d of %d components",
               (unsigned long long)seed, st->fallbacks, st->components);
  if (st->fallbacks > 0)
    cr_assert_eq(st->exact, 0, "seed %llu: greedy answer claims exact",
                 (unsigned long long)seed);
}

static int same_answer(const cm_answer *a, const cm_answer *b, char *msg,
                       size_t n) {
  if (a->objective != b->objective) {
    snprintf(msg, n, "objective %.17g vs %.17g", a->objective, b->objective);
    return 0;
  }
  if (a->n_assignments != b->n_assignments ||
      a->n_unassigned != b->n_unassigned ||
      a->n_components != b->n_components) {
    snprintf(msg, n, "counts %d/%d/%d vs %d/%d/%d", a->n_assignments,
             a->n_unassigned, a->n_components, b->n_assignments,
             b->n_unassigned, b->n_components);
    return 0;
  }
  for (int i = 0; i < a->n_assignments; i++) {
    const cm_assignment *x = &a->assignments[i], *y = &b->assignments[i];
    if (x->request != y->request || x->worker != y->worker ||
        x->component != y->component || x->terms.total != y->terms.total ||
        x->terms.travel_min != y->terms.travel_min ||
        x->terms.distance_km != y->terms.distance_km) {
      snprintf(msg, n, "assignment %d: r%d w%d c%d %.17g vs r%d w%d c%d %.17g",
               i, x->request, x->worker, x->component, x->terms.total,
               y->request, y->worker, y->component, y->terms.total);
      return 0;
    }
  }
  for (int i = 0; i < a->n_unassigned; i++) {
    const cm_unassigned *x = &a->unassigned[i], *y = &b->unassigned[i];
    if (x->request != y->request || x->reason != y->reason ||
        x->penalty != y->penalty) {
      snprintf(msg, n, "unassigned %d: r%d %s vs r%d %s", i, x->request,
               cm_reason_name(x->reason), y->request,
               cm_reason_name(y->reason));
      return 0;
    }
  }
  for (int i = 0; i < a->n_components; i++) {
    const cm_component_info *x = &a->components[i], *y = &b->components[i];
    if (x->requests != y->requests || x->workers != y->workers ||
        x->edges != y->edges || x->teams != y->teams ||
        x->method != y->method || x->fell_back != y->fell_back) {
      snprintf(msg, n, "component %d differs", i);
      return 0;
    }
  }
  return 1;
}

static void greedy_batch(int edge_mode, int teams, uint64_t seed0, int n) {
  cm_check_gen_opts o;
  medium_opts(&o, edge_mode, teams);
  for (int k = 0; k < n; k++) {
    uint64_t seed = seed0 + (uint64_t)k;
    cm_instance *inst = cm_check_gen(&o, seed);
    cm_solve_options opts;
    memset(&opts, 0, sizeof opts);
    opts.deadline_ms = 0;
    cm_answer no_clock, real_clock, exact;
    solve_ok(inst, &opts, seed, "deadline 0, no clock", &no_clock);
    check_greedy(inst, &no_clock, seed);
    opts.clock = cm_check_clock;
    solve_ok(inst, &opts, seed, "deadline 0, real clock", &real_clock);
    check_greedy(inst, &real_clock, seed);
    char msg[CM_CHECK_MSG_MAX];
    if (!same_answer(&no_clock, &real_clock, msg, sizeof msg)) {
      dump_fail("greedy depends on the clock", seed, inst, &no_clock,
                &real_clock);
      cr_assert_fail("seed %llu: %s", (unsigned long long)seed, msg);
    }
    solve_ok(inst, NULL, seed, "no deadline", &exact);
    cr_assert_geq(no_clock.objective,
                  exact.objective - CM_CHECK_TOL * (1 + fabs(exact.objective)),
                  "seed %llu: greedy %.12g beats the optimum %.12g",
                  (unsigned long long)seed, no_clock.objective,
                  exact.objective);
    cm_answer_free(&no_clock);
    cm_answer_free(&real_clock);
    cm_answer_free(&exact);
    cm_instance_free(inst);
  }
}

Test(deadline, zero_is_greedy_one_person) {
  greedy_batch(0, 0, 31000000, 12);
  greedy_batch(1, 0, 31100000, 8);
}

Test(deadline, zero_is_greedy_teams) {
  greedy_batch(0, 1, 32000000, 12);
  greedy_batch(1, 1, 32100000, 8);
}

/* Greedy on tiny instances too: feasible and never better than optimal. */
Test(deadline, zero_on_small_instances) {
  cm_check_gen_opts o;
  for (int k = 0; k < 150; k++) {
    uint64_t seed = 33000000 + (uint64_t)k;
    cm_check_gen_small_opts(&o, k % 2, k % 3 != 0);
    cm_instance *inst = cm_check_gen(&o, seed);
    cm_solve_options opts;
    memset(&opts, 0, sizeof opts);
    opts.deadline_ms = 0;
    cm_answer ans;
    solve_ok(inst, &opts, seed, "deadline 0", &ans);
    check_greedy(inst, &ans, seed);
    double best = cm_check_brute_force(inst, NULL);
    cr_assert_geq(ans.objective, best - CM_CHECK_TOL * (1 + fabs(best)),
                  "seed %llu: greedy %.12g beats the optimum %.12g",
                  (unsigned long long)seed, ans.objective, best);
    cm_answer_free(&ans);
    cm_instance_free(inst);
  }
}

/* Under a 0 ms budget a request left out with candidates says deadline;
 * one without says no_candidate. */
Test(deadline, zero_reasons) {
  cm_check_gen_opts o;
  for (int k = 0; k < 160; k++) {
    uint64_t seed = 36000000 + (uint64_t)k;
    if (k < 10)
      medium_opts(&o, k % 2, k % 3 != 0);
    else
      cm_check_gen_small_opts(&o, k % 2, k % 3 != 0);
    cm_instance *inst = cm_check_gen(&o, seed);
    cm_solve_options opts;
    memset(&opts, 0, sizeof opts);
    opts.deadline_ms = 0;
    cm_answer ans;
    char msg[CM_CHECK_MSG_MAX];
    solve_ok(inst, &opts, seed, "deadline 0", &ans);
    if (!cm_check_reasons(inst, &ans, CM_CHECK_ZERO_BUDGET, msg)) {
      dump_fail("wrong reason under deadline 0", seed, inst, &ans, NULL);
      cr_assert_fail("seed %llu: %s", (unsigned long long)seed, msg);
    }
    cm_answer_free(&ans);
    cm_instance_free(inst);
  }
}

/* Without a clock a positive budget cannot be checked: it is ignored. */
Test(deadline, no_clock_ignores_positive_budget) {
  cm_check_gen_opts o;
  medium_opts(&o, 0, 1);
  for (int k = 0; k < 3; k++) {
    uint64_t seed = 34000000 + (uint64_t)k;
    cm_instance *inst = cm_check_gen(&o, seed);
    cm_solve_options opts;
    memset(&opts, 0, sizeof opts);
    opts.deadline_ms = 0.001;
    cm_answer ans, ref;
    solve_ok(inst, &opts, seed, "tiny budget, no clock", &ans);
    solve_ok(inst, NULL, seed, "no deadline", &ref);
    cr_assert_eq(ans.stats.fallbacks, 0, "seed %llu: %d fallbacks",
                 (unsigned long long)seed, ans.stats.fallbacks);
    cr_assert_eq(ans.stats.exact, 1);
    cr_assert(cm_check_close(ans.objective, ref.objective));
    cm_answer_free(&ans);
    cm_answer_free(&ref);
    cm_instance_free(inst);
  }
}

/* A clock that jumps a second per call: every budget is blown at once. */
static int64_t jumping_clock(void *ctx) {
  int64_t *t = ctx;
  *t += 1000000000LL;
  return *t;
}

Test(deadline, expired_budget_falls_back) {
  cm_check_gen_opts o;
  medium_opts(&o, 0, 1);
  for (int k = 0; k < 3; k++) {
    uint64_t seed = 35000000 + (uint64_t)k;
    cm_instance *inst = cm_check_gen(&o, seed);
    int64_t now = 0;
    cm_solve_options opts;
    memset(&opts, 0, sizeof opts);
    opts.deadline_ms = 50;
    opts.clock = jumping_clock;
    opts.clock_ctx = &now;
    cm_answer ans;
    solve_ok(inst, &opts, seed, "jumping clock", &ans);
    cr_assert_eq(ans.stats.fallbacks, ans.stats.components,
                 "seed %llu: %d of %d components fell back",
                 (unsigned long long)seed, ans.stats.fallbacks,
                 ans.stats.components);
    cr_assert(now > 0, "the injected clock was never read");
    cm_answer_free(&ans);
    cm_instance_free(inst);
  }
}

/* ---------------------------------------------------- (c) determinism */

static void determinism_batch(int edge_mode, int teams, uint64_t seed0, int n,
                              double deadline_ms) {
  cm_check_gen_opts o;
  medium_opts(&o, edge_mode, teams);
  for (int k = 0; k < n; k++) {
    uint64_t seed = seed0 + (uint64_t)k;
    cm_instance *inst = cm_check_gen(&o, seed);
    cm_instance *copy = cm_check_copy(inst);
    cm_instance *again = cm_check_gen(&o, seed);
    cr_assert_not_null(copy);
    cm_solve_options opts;
    memset(&opts, 0, sizeof opts);
    opts.deadline_ms = deadline_ms;
    cm_answer a, b, c, d;
    solve_ok(inst, &opts, seed, "first", &a);
    solve_ok(inst, &opts, seed, "second", &b);
    solve_ok(copy, &opts, seed, "copy", &c);
    solve_ok(again, &opts, seed, "regenerated", &d);
    const cm_answer *others[] = {&b, &c, &d};
    for (int x = 0; x < 3; x++) {
      char msg[CM_CHECK_MSG_MAX];
      if (!same_answer(&a, others[x], msg, sizeof msg)) {
        dump_fail("not deterministic", seed, inst, &a, others[x]);
        cr_assert_fail("seed %llu, run %d: %s", (unsigned long long)seed, x + 1,
                       msg);
      }
    }
    cm_answer_free(&a);
    cm_answer_free(&b);
    cm_answer_free(&c);
    cm_answer_free(&d);
    cm_instance_free(inst);
    cm_instance_free(copy);
    cm_instance_free(again);
  }
}

Test(determinism, exact_solves) {
  determinism_batch(0, 0, 41000000, 3, -1);
  determinism_batch(0, 1, 41100000, 3, -1);
  determinism_batch(1, 1, 41200000, 2, -1);
}

Test(determinism, greedy_solves) {
  determinism_batch(0, 1, 42000000, 3, 0);
  determinism_batch(1, 0, 42100000, 2, 0);
}

/* ------------------------------------------------------ (d) reasons */

/* Explicit weights: travel only, penalties by urgency, no aging. */
static cm_instance *reasons_instance(void) {
  cm_instance *inst = cm_instance_new();
  cr_assert_not_null(inst);
  cm_weights *w = &inst->weights;
  w->travel = 1.0;
  for (int u = 0; u < CM_URGENCY_COUNT; u++)
    w->urgency_factor[u] = 1.0;
  w->workload = w->continuity = w->rating = w->skill = w->preferred = 0.0;
  w->penalty_base[CM_URGENCY_EMERGENCY] = 100.0;
  w->penalty_base[CM_URGENCY_URGENT] = 60.0;
  w->penalty_base[CM_URGENCY_NORMAL] = 30.0;
  w->penalty_base[CM_URGENCY_SCHEDULED] = 10.0;
  w->aging_per_min = 0.0;
  inst->params.k = 4;
  for (int u = 0; u < CM_URGENCY_COUNT; u++)
    inst->params.radius_km[u] = 3.0;
  inst->params.radius_growth_km_per_min = 0.0;
  inst->params.radius_max_km = 3.0;
  inst->params.speed_kmh = 30.0;
  inst->params.road_factor = 1.0;
  inst->params.now_ms = 1700000000000LL;
  inst->params.stale_ms = 0;
  return inst;
}

static int add_worker(cm_instance *inst, const char *id, const char *skill,
                      double lat, double lon) {
  cm_worker w;
  cm_error err;
  cm_worker_init(&w);
  snprintf(w.id, sizeof w.id, "%s", id);
  w.skills = (cm_skillset)1 << cm_taxonomy_find(&inst->taxonomy, skill);
  w.lat = lat;
  w.lon = lon;
  w.has_position = 1;
  w.seen_ms = inst->params.now_ms;
  int j = -1;
  cr_assert_eq(cm_instance_worker_add(inst, &w, &j, &err), CM_OK);
  return j;
}

static int add_request(cm_instance *inst, const char *id, const char *skill,
                       cm_urgency u, int staff, double lat, double lon) {
  cm_request r;
  cm_error err;
  cm_request_init(&r);
  snprintf(r.id, sizeof r.id, "%s", id);
  r.skills = (cm_skillset)1 << cm_taxonomy_find(&inst->taxonomy, skill);
  r.urgency = u;
  r.staff = staff;
  r.lat = lat;
  r.lon = lon;
  r.has_position = 1;
  int i = -1;
  cr_assert_eq(cm_instance_request_add(inst, &r, &i, &err), CM_OK);
  return i;
}

static const cm_unassigned *find_unassigned(const cm_answer *ans, int r) {
  for (int u = 0; u < ans->n_unassigned; u++)
    if (ans->unassigned[u].request == r)
      return &ans->unassigned[u];
  return NULL;
}

Test(reasons, no_candidate_and_outranked) {
  cm_instance *inst = reasons_instance();
  int w0 = add_worker(inst, "w0", "caregiver", 31.2300, 121.4700);
  add_worker(inst, "w1", "nurse", 31.2400, 121.4800);
  int normal = add_request(inst, "normal", "caregiver", CM_URGENCY_NORMAL, 1,
                           31.2310, 121.4710);
  int emerg = add_request(inst, "emerg", "caregiver", CM_URGENCY_EMERGENCY, 1,
                          31.2310, 121.4710);
  int orphan = add_request(inst, "orphan", "maternity", CM_URGENCY_URGENT, 1,
                           31.2300, 121.4700);
  int far = add_request(inst, "far", "nurse", CM_URGENCY_EMERGENCY, 1, 31.5000,
                        121.9000); /* ~50 km away */
  cm_answer ans;
  solve_ok(inst, NULL, 0, "reasons", &ans);
  cr_assert_eq(ans.n_assignments, 1);
  cr_assert_eq(ans.assignments[0].request, emerg);
  cr_assert_eq(ans.assignments[0].worker, w0);
  const cm_unassigned *u = find_unassigned(&ans, normal);
  cr_assert_not_null(u);
  cr_assert_eq(u->reason, CM_REASON_OUTRANKED, "normal: %s",
               cm_reason_name(u->reason));
  cr_assert_float_eq(u->penalty, 30.0, 1e-9);
  u = find_unassigned(&ans, orphan);
  cr_assert_not_null(u);
  cr_assert_eq(u->reason, CM_REASON_NO_CANDIDATE, "orphan: %s",
               cm_reason_name(u->reason));
  u = find_unassigned(&ans, far);
  cr_assert_not_null(u);
  cr_assert_eq(u->reason, CM_REASON_NO_CANDIDATE, "far: %s",
               cm_reason_name(u->reason));
  cr_assert_float_eq(ans.objective,
                     ans.assignments[0].terms.total + 30.0 + 60.0 + 100.0,
                     1e-9);
  cm_answer_free(&ans);
  cm_instance_free(inst);
}

/* Reasons on random instances solved exactly. */
Test(reasons, random_instances) {
  cm_check_gen_opts o;
  for (int k = 0; k < 200; k++) {
    uint64_t seed = 37000000 + (uint64_t)k;
    if (k < 12)
      medium_opts(&o, k % 2, k % 3 != 0);
    else
      cm_check_gen_small_opts(&o, k % 2, k % 3 != 0);
    cm_instance *inst = cm_check_gen(&o, seed);
    cm_answer ans;
    char msg[CM_CHECK_MSG_MAX];
    solve_ok(inst, NULL, seed, "exact", &ans);
    if (!cm_check_reasons(inst, &ans, CM_CHECK_UNBOUNDED, msg)) {
      dump_fail("wrong reason", seed, inst, &ans, NULL);
      cr_assert_fail("seed %llu: %s", (unsigned long long)seed, msg);
    }
    cm_answer_free(&ans);
    cm_instance_free(inst);
  }
}

/* A team of two with one possible member is not staffed; with a second
 * qualified worker it is, all or nothing. */
Test(reasons, team_all_or_nothing) {
  cm_instance *inst = reasons_instance();
  add_worker(inst, "w0", "nurse", 31.2300, 121.4700);
  add_worker(inst, "w1", "caregiver", 31.2305, 121.4705);
  int team = add_request(inst, "lift", "nurse", CM_URGENCY_EMERGENCY, 2,
                         31.2310, 121.4710);
  cm_answer ans;
  solve_ok(inst, NULL, 0, "team short", &ans);
  cr_assert_eq(ans.n_assignments, 0);
  cr_assert_eq(ans.n_unassigned, 1);
  cr_assert_eq(ans.unassigned[0].request, team);
  cr_assert_float_eq(ans.objective,
                     cm_request_penalty(&inst->weights, &inst->requests[team]),
                     1e-9);
  cm_answer_free(&ans);

  int w2 = add_worker(inst, "w2", "nurse", 31.2315, 121.4715);
  solve_ok(inst, NULL, 0, "team staffed", &ans);
  cr_assert_eq(ans.n_assignments, 2);
  cr_assert_eq(ans.n_unassigned, 0);
  int mask = 0;
  for (int a = 0; a < 2; a++)
    mask |= 1 << ans.assignments[a].worker;
  cr_assert_eq(mask, 1 | (1 << w2), "team members mask %x", mask);
  cm_answer_free(&ans);
  cm_instance_free(inst);
}

/* A candidate that costs more than leaving the request is not used. */
Test(reasons, penalty_cheaper_than_travel) {
  cm_instance *inst = reasons_instance();
  add_worker(inst, "w0", "nurse", 31.2300, 121.4700);
  int r = add_request(inst, "r", "nurse", CM_URGENCY_SCHEDULED, 1, 31.2480,
                      121.4700); /* 2 km: 4 min of travel, penalty 10 */
  inst->weights.travel = 5.0;    /* 20 > 10 */
  cm_answer ans;
  solve_ok(inst, NULL, 0, "penalty", &ans);
  cr_assert_eq(ans.n_assignments, 0);
  cr_assert_eq(ans.n_unassigned, 1);
  cr_assert_eq(ans.unassigned[0].request, r);
  cr_assert_neq(ans.unassigned[0].reason, CM_REASON_NO_CANDIDATE);
  cr_assert_float_eq(ans.objective, 10.0, 1e-9);
  cm_answer_free(&ans);
  inst->weights.travel = 1.0; /* 4 < 10 */
  solve_ok(inst, NULL, 0, "cheap", &ans);
  cr_assert_eq(ans.n_assignments, 1);
  cr_assert_eq(ans.n_unassigned, 0);
  cm_answer_free(&ans);
  cm_instance_free(inst);
}

/* ------------------------------------------------------ API edges */

Test(api, empty_instance) {
  cm_instance *inst = cm_instance_new();
  cm_answer ans;
  solve_ok(inst, NULL, 0, "empty", &ans);
  cr_assert_eq(ans.n_assignments, 0);
  cr_assert_eq(ans.n_unassigned, 0);
  cr_assert_float_eq(ans.objective, 0.0, 1e-12);
  cm_answer_free(&ans);
  add_worker(inst, "w0", "nurse", 31.23, 121.47);
  solve_ok(inst, NULL, 0, "workers only", &ans);
  cr_assert_eq(ans.n_assignments, 0);
  cm_answer_free(&ans);
  cm_instance_free(inst);
}

Test(api, invalid_instance_is_refused) {
  cm_instance *inst = cm_instance_new();
  add_worker(inst, "w0", "nurse", 31.23, 121.47);
  add_request(inst, "r0", "nurse", CM_URGENCY_NORMAL, 1, 31.23, 121.47);
  inst->requests[0].lat = 123.0;
  cm_answer ans;
  cm_error err;
  memset(&ans, 0, sizeof ans);
  cm_error_clear(&err);
  cm_status st = cm_solve(inst, NULL, &ans, &err);
  cr_assert_eq(st, CM_E_RANGE, "got %s", cm_status_name(st));
  cr_assert_eq(err.code, st);
  cr_assert_str_eq(err.field, "$.requests[0].lat");
  cr_assert_eq(ans.n_assignments, 0);
  cr_assert_null(ans.assignments);
  cr_assert_null(ans.unassigned);
  cm_answer_free(&ans); /* freeing an empty answer is harmless */
  cm_instance_free(inst);
}

Test(api, null_options_mean_no_deadline) {
  cm_check_gen_opts o;
  medium_opts(&o, 0, 1);
  cm_instance *inst = cm_check_gen(&o, 43000000);
  cm_solve_options opts;
  memset(&opts, 0, sizeof opts);
  opts.deadline_ms = -1;
  cm_answer a, b;
  solve_ok(inst, NULL, 43000000, "NULL opts", &a);
  solve_ok(inst, &opts, 43000000, "deadline -1", &b);
  char msg[CM_CHECK_MSG_MAX];
  cr_assert(same_answer(&a, &b, msg, sizeof msg), "%s", msg);
  cm_answer_free(&a);
  cm_answer_free(&b);
  cm_instance_free(inst);
}

Test(api, names) {
  cr_assert_str_eq(cm_reason_name(CM_REASON_NO_CANDIDATE), "no_candidate");
  cr_assert_str_eq(cm_reason_name(CM_REASON_OUTRANKED), "outranked");
  cr_assert_str_eq(cm_reason_name(CM_REASON_DEADLINE), "deadline");
  cr_assert_str_eq(cm_method_name(CM_METHOD_GREEDY), "greedy");
  for (int m = 0; m < CM_METHOD_COUNT; m++) {
    cr_assert_not_null(cm_method_name((cm_method)m));
    cr_assert_gt(strlen(cm_method_name((cm_method)m)), 0);
    for (int n = 0; n < m; n++)
      cr_assert_str_neq(cm_method_name((cm_method)m),
                        cm_method_name((cm_method)n));
  }
  cr_assert_not_null(cm_method_name(CM_METHOD_COUNT));
  cr_assert_not_null(cm_reason_name(CM_REASON_COUNT));
}

/* --------------------------------------------------- pure pieces */

Test(pieces, geo_and_travel) {
  cr_assert_float_eq(cm_geo_distance_km(31.23, 121.47, 31.23, 121.47), 0.0,
                     1e-9);
  double d = cm_geo_distance_km(30.0, 120.0, 31.0, 120.0);
  cr_assert(fabs(d - 111.19) < 0.2, "one degree of latitude: %.6f km", d);
  double e = cm_geo_distance_km(0.0, 0.0, 0.0, 1.0);
  cr_assert(fabs(e - 111.19) < 0.2, "one degree at the equator: %.6f km", e);
  cr_assert_float_eq(cm_geo_distance_km(31.0, 121.0, 31.5, 121.7),
                     cm_geo_distance_km(31.5, 121.7, 31.0, 121.0), 1e-9);
  cm_params p;
  cm_params_init(&p);
  p.speed_kmh = 30.0;
  p.road_factor = 1.5;
  cr_assert_float_eq(cm_travel_minutes(&p, 10.0), 30.0, 1e-9);
  cr_assert_float_eq(cm_travel_minutes(&p, 0.0), 0.0, 1e-12);
}

Test(pieces, penalty_and_radius) {
  cm_weights w;
  cm_params p;
  cm_request r;
  cm_weights_init(&w);
  cm_params_init(&p);
  cm_request_init(&r);
  w.penalty_base[CM_URGENCY_URGENT] = 40.0;
  w.aging_per_min = 0.5;
  w.sla_target_min[CM_URGENCY_URGENT] = 20.0;
  w.sla_risk[CM_URGENCY_URGENT] = 80.0;
  r.urgency = CM_URGENCY_URGENT;
  r.waited_s = 600.0; /* half the target: 80 * 0.5^3 */
  cr_assert_float_eq(cm_request_penalty(&w, &r), 50.0, 1e-9);
  r.waited_s = 1200.0; /* at the target: all of the risk */
  cr_assert_float_eq(cm_request_penalty(&w, &r), 120.0, 1e-9);
  r.waited_s = 1800.0; /* 10 min past it: aging 0.5 a minute */
  cr_assert_float_eq(cm_request_penalty(&w, &r), 125.0, 1e-9);
  r.staff = 2; /* per person */
  cr_assert_float_eq(cm_request_penalty(&w, &r), 250.0, 1e-9);
  r.staff = 1;
  r.waited_s = 0.0;
  cr_assert_float_eq(cm_request_penalty(&w, &r), 40.0, 1e-9);
  p.radius_km[CM_URGENCY_URGENT] = 2.0;
  p.radius_growth_km_per_min = 0.1;
  p.radius_max_km = 4.0;
  cr_assert_float_eq(cm_request_radius_km(&p, &r), 2.0, 1e-9);
  r.waited_s = 300.0; /* 5 min: +0.5 km */
  cr_assert_float_eq(cm_request_radius_km(&p, &r), 2.5, 1e-9);
  r.waited_s = 3600.0; /* capped */
  cr_assert_float_eq(cm_request_radius_km(&p, &r), 4.0, 1e-9);
}

/* cm_edge_cost term by term, from the formula in model.h. */
Test(pieces, edge_cost_formula) {
  cm_check_gen_opts o;
  cm_check_rng g;
  cm_check_rng_seed(&g, 44);
  int continuity = 0, preferred = 0, late = 0;
  for (int k = 0; k < 60; k++) {
    cm_check_gen_small_opts(&o, k % 2, 1);
    cm_instance *inst = cm_check_gen(&o, 44000000 + (uint64_t)k);
    const cm_weights *wt = &inst->weights;
    for (int i = 0; i < inst->n_requests; i++)
      for (int j = 0; j < inst->n_workers; j++) {
        const cm_request *r = &inst->requests[i];
        const cm_worker *w = &inst->workers[j];
        double dist = cm_check_rng_real(&g, 0, 5),
               t = cm_check_rng_real(&g, 0, 20);
        cm_cost_terms c;
        memset(&c, 0, sizeof c);
        cm_edge_cost(inst, i, j, dist, t, &c);
        int knows = 0, pref = 0;
        for (int e = 0; e < w->n_elders; e++)
          knows |= r->elder != 0 && w->elders[e] == r->elder;
        for (int p = 0; p < r->n_preferred; p++)
          pref |= r->preferred[p] == j;
        continuity += knows;
        preferred += pref;
        double travel = wt->travel * t * wt->urgency_factor[r->urgency];
        double workload = wt->workload * w->jobs_today;
        double cont = knows ? -wt->continuity : 0.0;
        double rating = wt->rating * (5.0 - w->rating);
        double skill = wt->skill * (5.0 - w->level);
        double pr = pref ? -wt->preferred : 0.0;
        double wm = r->waited_s / 60.0, tg = wt->sla_target_min[r->urgency];
        double sla = wt->sla_late_per_min[r->urgency] *
                     (fmax(0.0, wm + t - tg) - fmax(0.0, wm - tg));
        late += sla > 0;
        cr_assert_float_eq(c.distance_km, dist, 1e-9);
        cr_assert_float_eq(c.travel_min, t, 1e-9);
        cr_assert_float_eq(c.travel, travel, 1e-9);
        cr_assert_float_eq(c.workload, workload, 1e-9);
        cr_assert_float_eq(c.continuity, cont, 1e-9, "r%d w%d", i, j);
        cr_assert_float_eq(c.rating, rating, 1e-9);
        cr_assert_float_eq(c.skill, skill, 1e-9);
        cr_assert_float_eq(c.preferred, pr, 1e-9, "r%d w%d", i, j);
        cr_assert_float_eq(c.sla, sla, 1e-9, "r%d w%d", i, j);
        cr_assert_float_eq(c.total,
                           travel + workload + cont + rating + skill + pr + sla,
                           1e-9);
      }
    cm_instance_free(inst);
  }
  cr_assert_gt(continuity, 0);
  cr_assert_gt(preferred, 0);
  cr_assert_gt(late, 0);
}

/* cm_worker_eligible agrees with the header's rules on random instances. */
Test(pieces, eligibility_rules) {
  cm_check_gen_opts o;
  int yes = 0, no = 0;
  for (int k = 0; k < 120; k++) {
    cm_check_gen_small_opts(&o, k % 3 == 0, k % 2);
    o.unavailable_prob = 0.3;
    o.stale_prob = 0.3;
    cm_instance *inst = cm_check_gen(&o, 45000000 + (uint64_t)k);
    for (int i = 0; i < inst->n_requests; i++)
      for (int j = 0; j < inst->n_workers; j++) {
        int want = cm_check_eligible(inst, i, j);
        int got = cm_worker_eligible(inst, i, j) != 0;
        if (want != got) {
          dump_fail("eligibility differs", 45000000 + (uint64_t)k, inst, NULL,
                    NULL);
          cr_assert_fail("request %d worker %d: cm_worker_eligible %d, "
                         "header rules %d",
                         i, j, got, want);
        }
        yes += want;
        no += !want;
      }
    cm_instance_free(inst);
  }
  cr_assert_gt(yes, 100);
  cr_assert_gt(no, 100);
}

/* Each rule alone makes a worker ineligible. */
Test(pieces, eligibility_each_rule) {
  cm_instance *inst = reasons_instance();
  int w = add_worker(inst, "w0", "nurse", 31.23, 121.47);
  int r = add_request(inst, "r0", "nurse", CM_URGENCY_NORMAL, 1, 31.23, 121.47);
  cm_skillset nurse = inst->workers[w].skills;
  cm_skillset escort = (cm_skillset)1
                       << cm_taxonomy_find(&inst->taxonomy, "escort");
  cr_assert(cm_worker_eligible(inst, r, w));
  inst->workers[w].status = CM_WORKER_BUSY;
  cr_assert(!cm_worker_eligible(inst, r, w), "busy");
  inst->workers[w].status = CM_WORKER_OFFERED;
  cr_assert(!cm_worker_eligible(inst, r, w), "offered");
  inst->workers[w].status = CM_WORKER_AVAILABLE;
  inst->workers[w].capacity = 0;
  cr_assert(!cm_worker_eligible(inst, r, w), "capacity 0");
  inst->workers[w].capacity = 1;
  inst->params.stale_ms = 60000;
  inst->workers[w].seen_ms = inst->params.now_ms - 120000;
  cr_assert(!cm_worker_eligible(inst, r, w), "stale");
  inst->workers[w].seen_ms = inst->params.now_ms - 30000;
  cr_assert(cm_worker_eligible(inst, r, w), "fresh");
  inst->requests[r].excluded[inst->requests[r].n_excluded++] = w;
  cr_assert(!cm_worker_eligible(inst, r, w), "excluded");
  inst->requests[r].n_excluded = 0;
  /* ALL mode, one person: must hold every listed skill. */
  inst->requests[r].skills = nurse | escort;
  cr_assert(!cm_worker_eligible(inst, r, w), "ALL, staff 1, half the skills");
  inst->workers[w].skills = nurse | escort;
  cr_assert(cm_worker_eligible(inst, r, w), "ALL, staff 1, both skills");
  inst->workers[w].skills = nurse;
  /* ANY mode: one listed skill is enough. */
  inst->requests[r].skill_mode = CM_SKILLS_ANY;
  cr_assert(cm_worker_eligible(inst, r, w), "ANY, one of two");
  /* ALL mode team: each member needs one of the skills. */
  inst->requests[r].skill_mode = CM_SKILLS_ALL;
  inst->requests[r].staff = 2;
  cr_assert(cm_worker_eligible(inst, r, w), "ALL team member, one skill");
  inst->workers[w].skills = (cm_skillset)1
                            << cm_taxonomy_find(&inst->taxonomy, "cleaner");
  cr_assert(!cm_worker_eligible(inst, r, w), "ALL team member, no skill");
  cm_instance_free(inst);
}
