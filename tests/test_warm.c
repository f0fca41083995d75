/* test_warm.c -- cm_solve_options.hint, the warm start from a previous
 * answer: the same optimum as without it (brute force on small instances,
 * the cold answer on larger ones) whatever the hint says (the optimum
 * itself, the answer of a moved batch, garbage), the anytime properties
 * under every budget, and cm_solve_hint_from's matching by ids. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/solve.h"
#include "check.h"

typedef struct stepping {
  int64_t now, step;
} stepping;

static int64_t stepping_clock(void *ctx) {
  stepping *c = ctx;
  c->now += c->step;
  return c->now;
}

static void solve_or_fail(const cm_instance *inst, const cm_solve_options *o,
                          uint64_t seed, cm_answer *ans) {
  cm_error err;
  if (cm_solve(inst, o, ans, &err) != CM_OK)
    cr_assert_fail("seed %llu: cm_solve: %s", (unsigned long long)seed,
                   err.message);
}

static void fail_with(const char *what, uint64_t seed, const cm_instance *inst,
                      const cm_answer *ans) {
  fprintf(stderr, "\n=== %s (seed %llu) ===\n", what, (unsigned long long)seed);
  cm_check_dump_instance(stderr, inst);
  cm_check_dump_answer(stderr, ans);
  cr_assert_fail("seed %llu: %s", (unsigned long long)seed, what);
}

/* The batch a moment later: workers moved a little, requests waited more,
 * ids unchanged. */
static cm_instance *moved(const cm_instance *inst, cm_check_rng *rng) {
  cm_instance *next = cm_check_copy(inst);
  cr_assert_not_null(next);
  for (int j = 0; j < next->n_workers; j++)
    if (next->workers[j].has_position) {
      next->workers[j].lat += cm_check_rng_real(rng, -0.003, 0.003);
      next->workers[j].lon += cm_check_rng_real(rng, -0.003, 0.003);
    }
  for (int i = 0; i < next->n_requests; i++)
    next->requests[i].waited_s += cm_check_rng_real(rng, 0, 120);
  for (int e = 0; e < next->n_edges; e++)
    next->edges[e].travel_min *= cm_check_rng_real(rng, 0.8, 1.25);
  return next;
}

/* The hints a test tries on inst, kind by kind: 0 the optimum of inst
 * itself, 1 the optimum of the batch before (prev), 2 garbage (workers out
 * of range, unknown, unassigned, any worker, workers hinted to many), 3
 * (edge mode) every request on the worker with the most edges. */
static void make_hint(int kind, const cm_instance *inst, const cm_answer *own,
                      const cm_instance *prev, const cm_answer *prev_ans,
                      cm_check_rng *rng, int *hint) {
  if (kind == 0)
    cr_assert_eq(cm_solve_hint_from(inst, own, inst, hint, NULL), CM_OK);
  else if (kind == 1)
    cr_assert_eq(cm_solve_hint_from(prev, prev_ans, inst, hint, NULL), CM_OK);
  else if (kind == 3) { /* every request on the worker of most edges */
    int *deg = calloc((size_t)inst->n_workers + 1, sizeof *deg), top = 0;
    cr_assert_not_null(deg);
    for (int e = 0; e < inst->n_edges; e++)
      deg[inst->edges[e].worker]++;
    for (int j = 0; j < inst->n_workers; j++)
      top = deg[j] > deg[top] ? j : top;
    for (int i = 0; i < inst->n_requests; i++)
      hint[i] = top;
    free(deg);
  } else { /* any index, or a worker the optimum gave another request:
              workers hinted to many requests, beyond their capacity */
    int *had = malloc((size_t)(inst->n_requests + 1) * sizeof *had);
    cr_assert_not_null(had);
    cr_assert_eq(cm_solve_hint_from(inst, own, inst, had, NULL), CM_OK);
    for (int i = 0; i < inst->n_requests; i++)
      hint[i] = cm_check_rng_unit(rng) < 0.3
                    ? cm_check_rng_int(rng, -3, inst->n_workers + 2)
                    : had[cm_check_rng_int(rng, 0, inst->n_requests - 1)];
    free(had);
  }
}

/* What the hints did, so a test that never used one fails. */
typedef struct tally {
  int hinted;  /* solves that started some request on its hinted worker */
  int solves;  /* solves with a hint */
  int fewer;   /* hinted solves with fewer pivots than the cold one */
  int simplex; /* cold solves that ran the simplex */
} tally;

/* inst with and without each kind of hint: the same objective (and
 * brute force's when brute), feasible. */
static void hints_on(const cm_instance *inst, const cm_instance *prev,
                     const cm_answer *prev_ans, int network, int brute,
                     uint64_t seed, cm_check_rng *rng, tally *t) {
  char msg[CM_CHECK_MSG_MAX];
  cm_solve_options o;
  memset(&o, 0, sizeof o);
  o.deadline_ms = -1;
  o.network = network;
  cm_answer cold;
  solve_or_fail(inst, &o, seed, &cold);
  t->simplex += cold.stats.simplex_pivots > 0;
  double best = brute ? cm_check_brute_force(inst, NULL) : cold.objective;
  if (!cm_check_close(cold.objective, best))
    fail_with("cold answer differs from brute force", seed, inst, &cold);
  int *hint = malloc((size_t)(inst->n_requests + 1) * sizeof *hint);
  cr_assert_not_null(hint);
  for (int kind = 0; kind < (inst->has_edges ? 4 : 3); kind++) {
    make_hint(kind, inst, &cold, prev, prev_ans, rng, hint);
    o.hint = hint;
    /* without GLPK's confirmation too: the network's answer as it is (a
       deadline skips the confirmation) */
    o.no_certify = (int)(seed + (uint64_t)kind) % 2;
    cm_answer warm;
    solve_or_fail(inst, &o, seed, &warm);
    if (!cm_check_feasible(inst, &warm, msg))
      fail_with(msg, seed, inst, &warm);
    if (!cm_check_close(warm.objective, best))
      fail_with("a hint changed the optimum", seed, inst, &warm);
    if (!warm.stats.exact)
      fail_with("a hinted answer without a deadline is not exact", seed, inst,
                &warm);
    t->solves++;
    t->hinted += warm.stats.hinted > 0;
    t->fewer +=
        kind == 0 && warm.stats.simplex_pivots < cold.stats.simplex_pivots;
    cm_answer_free(&warm);
  }
  free(hint);
  cm_answer_free(&cold);
}

/* Pairs of batches (inst, the same moved) from o: the second solved with
 * the first's answer as its hint. */
static void pairs_on(const cm_check_gen_opts *o, uint64_t seed0, int n,
                     int brute, tally *t) {
  for (int k = 0; k < n; k++) {
    uint64_t seed = seed0 + (uint64_t)k;
    cm_check_rng rng;
    cm_check_rng_seed(&rng, seed);
    cm_instance *prev = cm_check_gen(o, seed);
    cr_assert_not_null(prev);
    cm_instance *inst = moved(prev, &rng);
    cm_solve_options opts;
    memset(&opts, 0, sizeof opts);
    opts.deadline_ms = -1;
    cm_answer prev_ans;
    solve_or_fail(prev, &opts, seed, &prev_ans);
    for (int network = 0; network <= 2; network += 2)
      hints_on(inst, prev, &prev_ans, network, brute, seed, &rng, t);
    cm_answer_free(&prev_ans);
    cm_instance_free(inst);
    cm_instance_free(prev);
  }
}

Test(warm, small_instances_against_brute_force) {
  cm_check_gen_opts o;
  tally t = {0};
  for (int mode = 0; mode < 4; mode++) {
    cm_check_gen_small_opts(&o, mode & 1, mode >> 1);
    pairs_on(&o, 61000000 + 1000 * (uint64_t)mode, 60, 1, &t);
  }
  /* on instances this small the floor is often as cheap a start */
  cr_assert(t.hinted > 0, "hints used in %d of %d solves", t.hinted, t.solves);
}

/* Scarce staff (fewer than 1.5 workers a request), where the solver picks
 * the network simplex by itself. */
static void scarce(cm_check_gen_opts *o, int edge_mode) {
  memset(o, 0, sizeof *o);
  o->min_requests = 60;
  o->max_requests = 200;
  o->min_workers = 40;
  o->max_workers = 160;
  o->area_km = 5.0;
  o->max_staff = 2;
  o->n_skills = 2;
  o->edge_mode = edge_mode;
  o->edges_per_request = 6;
  o->k = 6;
  o->unavailable_prob = 0.05;
  o->max_capacity = 2;
}

Test(warm, scarce_instances_against_the_cold_answer) {
  cm_check_gen_opts o;
  tally t = {0};
  for (int mode = 0; mode < 2; mode++) {
    scarce(&o, mode);
    pairs_on(&o, 62000000 + 1000 * (uint64_t)mode, 10, 0, &t);
  }
  cr_assert(t.simplex > 0, "the simplex never ran: the test checks nothing");
  cr_assert(t.hinted > t.solves / 2, "hints used in %d of %d solves", t.hinted,
            t.solves);
  /* the optimum as its own hint saves pivots (not a timing: a count) */
  cr_assert(t.fewer > 0, "the optimal hint never saved a pivot");
}

/* Under every budget a hint keeps the anytime promise: feasible, never
 * above the floor, never above greedy once the search finished. */
Test(warm, budgets_never_worse_than_the_floor) {
  cm_check_gen_opts o;
  scarce(&o, 0);
  o.min_requests = o.max_requests = 400; /* pivots enough to be cut */
  o.min_workers = o.max_workers = 320;
  o.area_km = 8.0;
  int cut = 0, hinted = 0;
  for (int k = 0; k < 10; k++) {
    uint64_t seed = 63000000 + (uint64_t)k;
    cm_check_rng rng;
    cm_check_rng_seed(&rng, seed);
    cm_instance *prev = cm_check_gen(&o, seed);
    cm_instance *inst = moved(prev, &rng);
    cm_solve_options g;
    memset(&g, 0, sizeof g);
    cm_answer greedy, prev_ans, own;
    solve_or_fail(inst, &g, seed, &greedy); /* deadline 0: greedy */
    g.deadline_ms = -1;
    solve_or_fail(prev, &g, seed, &prev_ans);
    solve_or_fail(inst, &g, seed, &own);
    int *hint = malloc((size_t)inst->n_requests * sizeof *hint);
    for (int b = 0; b < 12; b++) {
      make_hint(b % 3, inst, &own, prev, &prev_ans, &rng, hint);
      /* 2-8 us a read: the simplex's few reads take long enough for
         some budgets to cut it (15 of these 120 are cut there) */
      stepping clk = {0, cm_check_rng_int(&rng, 2, 8) * 1000};
      cm_solve_options opts;
      memset(&opts, 0, sizeof opts);
      opts.clock = stepping_clock;
      opts.clock_ctx = &clk;
      opts.network = 2;
      opts.hint = hint;
      opts.deadline_ms = cm_check_rng_real(&rng, 0.3, 1.0);
      cm_answer ans;
      char msg[CM_CHECK_MSG_MAX];
      solve_or_fail(inst, &opts, seed, &ans);
      if (!cm_check_feasible(inst, &ans, msg))
        fail_with(msg, seed, inst, &ans);
      double tol = 1e-9 * (fabs(ans.objective) > 1 ? fabs(ans.objective) : 1);
      if (ans.objective > ans.stats.greedy_objective + tol)
        fail_with("worse than its own floor", seed, inst, &ans);
      if (ans.stats.unsearched == 0 && ans.objective > greedy.objective + tol)
        fail_with("worse than greedy", seed, inst, &ans);
      if (ans.stats.lower_bound > own.objective + tol)
        fail_with("bound above the optimum", seed, inst, &ans);
      cut += ans.stats.unsearched == 0 && ans.stats.fallbacks > 0;
      hinted += ans.stats.hinted > 0;
      cm_answer_free(&ans);
    }
    free(hint);
    cm_answer_free(&own);
    cm_answer_free(&prev_ans);
    cm_answer_free(&greedy);
    cm_instance_free(inst);
    cm_instance_free(prev);
  }
  cr_assert(cut > 0 && hinted > 0, "%d cut components, %d hinted solves", cut,
            hinted);
}

static void add_worker(cm_instance *inst, const char *id) {
  cm_worker w;
  cm_worker_init(&w);
  snprintf(w.id, sizeof w.id, "%s", id);
  w.lat = 31.2;
  w.lon = 121.4;
  w.has_position = 1;
  cr_assert_eq(cm_instance_worker_add(inst, &w, NULL, NULL), CM_OK);
}

static void add_request(cm_instance *inst, const char *id) {
  cm_request r;
  cm_request_init(&r);
  snprintf(r.id, sizeof r.id, "%s", id);
  r.lat = 31.2;
  r.lon = 121.4;
  r.has_position = 1;
  cr_assert_eq(cm_instance_request_add(inst, &r, NULL, NULL), CM_OK);
}

/* Matched by ids, whatever the order: a worker gone or a request new gives
 * CM_SOLVE_HINT_UNKNOWN, a request left unassigned -1. */
Test(warm, hint_from_matches_ids) {
  cm_instance *prev = cm_instance_new(), *next = cm_instance_new();
  add_worker(prev, "w0");
  add_worker(prev, "w1");
  add_worker(prev, "w2");
  add_request(prev, "r0");
  add_request(prev, "r1");
  add_request(prev, "r2");
  add_request(prev, "r3");
  cm_assignment as[3];
  memset(as, 0, sizeof as);
  as[0].request = 0, as[0].worker = 2; /* r0 -> w2 */
  as[1].request = 1, as[1].worker = 1; /* r1 -> w1 (w1 gone next) */
  as[2].request = 3, as[2].worker = 0; /* r3 -> w0 */
  cm_answer ans;
  memset(&ans, 0, sizeof ans);
  ans.assignments = as;
  ans.n_assignments = 3; /* r2 unassigned */
  add_worker(next, "w2");
  add_worker(next, "w9");
  add_worker(next, "w0");
  add_request(next, "r9");
  add_request(next, "r3");
  add_request(next, "r2");
  add_request(next, "r1");
  add_request(next, "r0");
  int hint[5];
  cr_assert_eq(cm_solve_hint_from(prev, &ans, next, hint, NULL), CM_OK);
  cr_expect_eq(hint[0], CM_SOLVE_HINT_UNKNOWN); /* r9: new */
  cr_expect_eq(hint[1], 2);                     /* r3 -> w0, now index 2 */
  cr_expect_eq(hint[2], -1);                    /* r2: unassigned */
  cr_expect_eq(hint[3], CM_SOLVE_HINT_UNKNOWN); /* r1: its worker gone */
  cr_expect_eq(hint[4], 0);                     /* r0 -> w2, now index 0 */
  cm_instance_free(prev);
  cm_instance_free(next);
}
