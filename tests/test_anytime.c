/* test_anytime.c -- cm_solve under every budget: the answer is feasible,
 * never worse than the greedy answer (deadline 0) when the search finished,
 * never worse than its own floor, its bound below the optimum, unsearched
 * requests a priority tail marked `deadline`, and the call within budget.
 *
 * Budgets are cut deterministically with a stepping clock (each read
 * advances it a fixed step, so a budget of B ns stops the phases after
 * about B / step reads, at every point in turn), and checked in time with
 * the real clock and a generous slack (the 1 ms target is a benchmark
 * figure: bench_solve, not a timed test). */
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

static int emergencies_served(const cm_instance *inst, const cm_answer *a) {
  int n = 0;
  for (int i = 0; i < inst->n_requests; i++)
    n += inst->requests[i].urgency == CM_URGENCY_EMERGENCY;
  for (int u = 0; u < a->n_unassigned; u++)
    n -= inst->requests[a->unassigned[u].request].urgency ==
         CM_URGENCY_EMERGENCY;
  return n;
}

/* 1 when request i comes before request j in the search's priority order
 * (urgency, then longest waiting, then index). */
static int before(const cm_instance *inst, int i, int j) {
  const cm_request *x = &inst->requests[i], *y = &inst->requests[j];
  if (x->urgency != y->urgency)
    return x->urgency < y->urgency;
  if (x->waited_s != y->waited_s)
    return x->waited_s > y->waited_s;
  return i < j;
}

static void fail_with(const char *what, uint64_t seed, const cm_instance *inst,
                      const cm_answer *ans) {
  fprintf(stderr, "\n=== %s (seed %llu) ===\n", what, (unsigned long long)seed);
  cm_check_dump_instance(stderr, inst);
  cm_check_dump_answer(stderr, ans);
  cr_assert_fail("seed %llu: %s", (unsigned long long)seed, what);
}

/* The properties every answer has, whatever cut it. optimum: the exact
 * optimum when known, else NAN. */
static void check_anytime(const cm_instance *inst, const cm_answer *ans,
                          const cm_answer *greedy, double optimum,
                          uint64_t seed) {
  char msg[CM_CHECK_MSG_MAX];
  if (!cm_check_feasible(inst, ans, msg))
    fail_with(msg, seed, inst, ans);
  double tol = 1e-9 * (fabs(ans->objective) > 1 ? fabs(ans->objective) : 1);
  if (ans->objective > ans->stats.greedy_objective + tol)
    fail_with("worse than its own floor", seed, inst, ans);
  if (ans->stats.lower_bound > ans->objective + tol)
    fail_with("bound above the objective", seed, inst, ans);
  if (!isnan(optimum) && ans->stats.lower_bound > optimum + tol)
    fail_with("bound above the optimum", seed, inst, ans);
  if (ans->stats.unsearched == 0) {
    /* the search finished: the floor is greedy's answer, and no cut
       component serves fewer emergencies than greedy */
    if (!cm_check_close(ans->stats.greedy_objective, greedy->objective))
      fail_with("floor differs from the greedy answer", seed, inst, ans);
    if (ans->objective > greedy->objective + tol)
      fail_with("worse than greedy", seed, inst, ans);
    int proven = 0;
    for (int k = 0; k < ans->n_components; k++)
      proven += ans->components[k].proven;
    if (proven == 0 &&
        emergencies_served(inst, ans) < emergencies_served(inst, greedy))
      fail_with("fewer emergencies than greedy", seed, inst, ans);
  }
  /* every unsearched request is unassigned with reason `deadline` (which
     ones they are: search_stops_in_priority_order) */
  int deadline = 0;
  for (int u = 0; u < ans->n_unassigned; u++)
    deadline += ans->unassigned[u].reason == CM_REASON_DEADLINE;
  if (deadline < ans->stats.unsearched)
    fail_with("an unsearched request not marked deadline", seed, inst, ans);
}

/* What the budgets exercised, so a test that cuts nothing fails. */
typedef struct tally {
  int unsearched; /* the search was cut */
  int cut;        /* a component was cut after the search */
  int exact;      /* nothing was cut */
  int floor;      /* a component kept the floor's answer */
} tally;

static void count(tally *t, const cm_answer *a) {
  t->unsearched += a->stats.unsearched > 0;
  t->cut += a->stats.unsearched == 0 && a->stats.fallbacks > 0;
  t->exact += a->stats.exact;
  t->floor += a->stats.floor_components > 0;
}

static void tally_check(const tally *t, int want_floor) {
  cr_assert(t->unsearched > 0 && t->cut > 0 && t->exact > 0,
            "budgets exercised too little: %d searches cut, %d components "
            "cut, %d exact",
            t->unsearched, t->cut, t->exact);
  cr_assert(!want_floor || t->floor > 0, "the floor never won a component");
}

/* Random budgets, from nothing to generous, on a stepping clock. */
static void budgets_on(const cm_check_gen_opts *o, uint64_t seed0, int n,
                       int brute, tally *t) {
  for (int k = 0; k < n; k++) {
    uint64_t seed = seed0 + (uint64_t)k;
    cm_instance *inst = cm_check_gen(o, seed);
    cr_assert_not_null(inst);
    double optimum = brute ? cm_check_brute_force(inst, NULL) : NAN;
    cm_solve_options g;
    memset(&g, 0, sizeof g);
    cm_answer greedy;
    solve_or_fail(inst, &g, seed, &greedy); /* deadline 0: greedy */
    cm_check_rng rng;
    cm_check_rng_seed(&rng, seed);
    for (int b = 0; b < 12; b++) {
      stepping clk = {0, cm_check_rng_int(&rng, 1, 4) * 250};
      cm_solve_options opts;
      memset(&opts, 0, sizeof opts);
      opts.clock = stepping_clock;
      opts.clock_ctx = &clk;
      opts.validated = b % 2;
      opts.network = b % 3; /* either engine may be cut */
      /* 0 to 2 ms of stepping time: from no search at all to the end */
      opts.deadline_ms = cm_check_rng_real(&rng, 0.0005, 2.0);
      cm_answer ans;
      solve_or_fail(inst, &opts, seed, &ans);
      check_anytime(inst, &ans, &greedy, optimum, seed);
      count(t, &ans);
      cm_answer_free(&ans);
    }
    cm_answer_free(&greedy);
    cm_instance_free(inst);
  }
}

Test(anytime, small_instances_against_brute_force) {
  cm_check_gen_opts o;
  tally t = {0};
  for (int mode = 0; mode < 4; mode++) {
    cm_check_gen_small_opts(&o, mode & 1, mode >> 1);
    budgets_on(&o, 51000000 + 1000 * (uint64_t)mode, 40, 1, &t);
  }
  tally_check(&t, 0);
}

static void medium(cm_check_gen_opts *o, int edge_mode, int teams) {
  memset(o, 0, sizeof *o);
  o->min_requests = 40;
  o->max_requests = 240;
  o->min_workers = 30;
  o->max_workers = 200;
  o->area_km = 6.0;
  o->team_prob = teams ? 0.1 : 0.0;
  o->max_staff = 3;
  o->n_skills = 3;
  o->edge_mode = edge_mode;
  o->edges_per_request = 6;
  o->k = 6;
  o->unavailable_prob = 0.1;
  o->max_capacity = 2;
}

Test(anytime, medium_instances) {
  cm_check_gen_opts o;
  tally t = {0};
  for (int mode = 0; mode < 4; mode++) {
    medium(&o, mode & 1, mode >> 1);
    budgets_on(&o, 52000000 + 1000 * (uint64_t)mode, 8, 0, &t);
  }
  tally_check(&t, 1);
}

/* The search stops in priority order: what was searched is a prefix. */
Test(anytime, search_stops_in_priority_order) {
  cm_check_gen_opts o;
  medium(&o, 0, 0);
  int cut = 0;
  for (int k = 0; k < 20; k++) {
    uint64_t seed = 53000000 + (uint64_t)k;
    cm_instance *inst = cm_check_gen(&o, seed);
    stepping clk = {0, 1000};
    cm_solve_options opts;
    memset(&opts, 0, sizeof opts);
    opts.clock = stepping_clock;
    opts.clock_ctx = &clk;
    opts.deadline_ms = 0.05 + 0.01 * k;
    cm_answer ans;
    solve_or_fail(inst, &opts, seed, &ans);
    if (ans.stats.unsearched > 0) {
      cut++;
      /* every served request comes before every unsearched one: the
         unsearched are the last ones in priority order */
      int *order = malloc((size_t)inst->n_requests * sizeof *order);
      for (int i = 0; i < inst->n_requests; i++)
        order[i] = i;
      for (int i = 1; i < inst->n_requests; i++) /* insertion sort */
        for (int j = i; j > 0 && before(inst, order[j], order[j - 1]); j--) {
          int t = order[j];
          order[j] = order[j - 1];
          order[j - 1] = t;
        }
      unsigned char *left = calloc((size_t)inst->n_requests, 1);
      for (int u = 0; u < ans.n_unassigned; u++)
        left[ans.unassigned[u].request] = 1;
      int tail = inst->n_requests - ans.stats.unsearched;
      for (int a = tail; a < inst->n_requests; a++)
        if (!left[order[a]])
          fail_with("a request past the search was served", seed, inst, &ans);
      free(left);
      free(order);
    }
    cm_answer_free(&ans);
    cm_instance_free(inst);
  }
  cr_assert(cut > 0, "no budget cut the search: the test checks nothing");
}

/* On the real clock the call keeps its budget, within a generous slack
 * (sanitizers, a loaded machine). */
Test(anytime, real_clock_keeps_the_budget) {
  cm_check_gen_opts o;
  medium(&o, 0, 1);
  o.min_requests = o.max_requests = 400;
  o.min_workers = o.max_workers = 400;
  for (int k = 0; k < 6; k++) {
    uint64_t seed = 54000000 + (uint64_t)k;
    cm_instance *inst = cm_check_gen(&o, seed);
    cm_solve_options opts;
    memset(&opts, 0, sizeof opts);
    opts.clock = cm_check_clock;
    opts.deadline_ms = 1 + 2 * k;
    cm_answer ans, greedy;
    cm_solve_options g;
    memset(&g, 0, sizeof g);
    solve_or_fail(inst, &g, seed, &greedy);
    int64_t t0 = cm_check_clock(NULL);
    solve_or_fail(inst, &opts, seed, &ans);
    double wall = (double)(cm_check_clock(NULL) - t0) / 1e6;
    cr_assert_leq(wall, opts.deadline_ms + 100.0,
                  "seed %llu: %.2f ms for a %.0f ms budget",
                  (unsigned long long)seed, wall, opts.deadline_ms);
    cr_assert_leq(ans.stats.total_ms, wall + 0.01);
    check_anytime(inst, &ans, &greedy, NAN, seed);
    cm_answer_free(&ans);
    cm_answer_free(&greedy);
    cm_instance_free(inst);
  }
}
