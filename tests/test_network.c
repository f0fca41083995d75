/* test_network.c -- the network algorithm of one-person components
 * (core/solver/netflow.h): successive shortest paths (netflow.c) and the
 * primal network simplex (netsimplex.c, started cold and from the greedy
 * floor), against independent answers.
 *
 * Small random instances, staff scarce and plenty, are checked against two
 * enumerations (tests/support/problem_oracle.c over the candidate graph,
 * tests/support/check.c's brute force over the instance); larger ones
 * against a weak-duality bound the test computes itself from the engines'
 * worker prices (bound <= optimum <= cost, so equality proves the cost
 * optimal). Penalties below every edge, workers full elsewhere, and the
 * deadline cut (an injected stepping clock) complete the contract. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/solve.h"
#include "check.h"
#include "problem_oracle.h"
#include "solver/netflow.h"
#include "solver/stages.h"

enum engine { SSP, SIMPLEX_COLD, SIMPLEX_WARM, N_ENGINES };
static const char *const engine_name[] = {"shortest paths", "simplex (cold)",
                                          "simplex (floor)"};

/* One instance's candidate graph, laid out as cm_solve hands a component to
 * the network: every request with a candidate in priority order, every
 * worker with one. */
typedef struct net_case {
  cm_instance *inst;
  cm__problem p;
  cm__solution floor; /* greedy answer, the simplex's warm start */
  int *reqs, nr;      /* requests with candidates, priority order */
  int *wrks, nw;      /* workers with candidates */
  int *rloc, *wloc;   /* the network's scratch maps, -1 */
  int *outside;       /* p.nw: jobs taken outside this component */
  int *freecap;       /* p.nw: p.cap less outside */
} net_case;

static void case_open(net_case *c, cm_instance *inst) {
  memset(c, 0, sizeof *c);
  cr_assert_not_null(inst, "generator out of memory");
  c->inst = inst;
  cm_error err;
  cr_assert_eq(cm__problem_build(&c->p, inst, NULL, &c->floor, &err), CM_OK,
               "%s", err.message);
  int nr = c->p.nr, nw = c->p.nw;
  c->reqs = malloc(sizeof *c->reqs * (size_t)(nr + 1));
  c->rloc = malloc(sizeof *c->rloc * (size_t)(nr + 1));
  c->wrks = malloc(sizeof *c->wrks * (size_t)(nw + 1));
  c->wloc = malloc(sizeof *c->wloc * (size_t)(nw + 1));
  c->outside = calloc((size_t)nw + 1, sizeof *c->outside);
  c->freecap = malloc(sizeof *c->freecap * (size_t)(nw + 1));
  cr_assert(c->reqs && c->rloc && c->wrks && c->wloc && c->outside &&
            c->freecap);
  for (int i = 0; i < nr; i++) {
    c->rloc[i] = -1;
    if (c->p.r_start[i] < c->p.r_start[i + 1])
      c->reqs[c->nr++] = i;
  }
  for (int j = 0; j < nw; j++) {
    c->wloc[j] = -1;
    c->freecap[j] = c->p.cap[j];
    if (c->p.w_start[j] < c->p.w_start[j + 1])
      c->wrks[c->nw++] = j;
  }
  cm__sort_by_priority(&c->p, c->reqs, c->nr);
}

static void case_close(net_case *c) {
  cm__solution_free(&c->floor);
  cm__problem_free(&c->p);
  cm_instance_free(c->inst);
  free(c->reqs);
  free(c->rloc);
  free(c->wrks);
  free(c->wloc);
  free(c->outside);
  free(c->freecap);
}

/* Jobs taken elsewhere: the network sees the rest of each capacity. */
static void case_set_outside(net_case *c, int w, int jobs) {
  c->outside[w] = jobs;
  c->freecap[w] = c->p.cap[w] - jobs;
}

/* Run an engine on the case under clk (NULL: no deadline). Returns what the
 * engine returns; n stays initialised (cm__net_free). */
static int run(net_case *c, enum engine e, const cm__clock *clk, cm__net *n) {
  cr_assert_eq(cm__net_init(n, &c->p, c->outside, c->reqs, c->nr, c->wrks,
                            c->nw, c->rloc, c->wloc),
               0);
  int r = e == SSP            ? cm__net_run(n, clk)
          : e == SIMPLEX_COLD ? cm__net_simplex(n, NULL, clk)
                              : cm__net_simplex(n, &c->floor, clk);
  cr_assert_geq(r, 0, "%s: out of memory", engine_name[e]);
  return r;
}

/* The network's answer is feasible: each routed request on one of its own
 * edges or out, no worker over its free capacity, load[] counted right,
 * unrouted requests (from routed on) untouched. */
static void assert_feasible(const net_case *c, const cm__net *n,
                            const char *what, uint64_t seed) {
  int *count = calloc((size_t)c->nw + 1, sizeof *count);
  cr_assert_not_null(count);
  for (int i = 0; i < c->nr; i++) {
    int e = n->asg[i];
    if (i >= n->routed) {
      cr_assert_eq(e, -2, "%s seed %llu: request %d not routed but set", what,
                   (unsigned long long)seed, i);
      continue;
    }
    if (e == -1)
      continue;
    cr_assert(e >= 0 && e < c->p.ne && c->p.e_req[e] == c->reqs[i],
              "%s seed %llu: request %d on edge %d of another request", what,
              (unsigned long long)seed, i, e);
    count[c->wloc[c->p.e_wrk[e]]]++;
  }
  for (int j = 0; j < c->nw; j++) {
    cr_assert_eq(n->load[j], count[j], "%s seed %llu: worker %d load", what,
                 (unsigned long long)seed, j);
    cr_assert_leq(count[j], c->freecap[c->wrks[j]],
                  "%s seed %llu: worker %d over its free capacity", what,
                  (unsigned long long)seed, j);
  }
  free(count);
}

/* Cost of the network's answer over the whole problem: its routed edges,
 * the penalties of the rest (unrouted and candidate-less included). */
static double net_cost(const net_case *c, const cm__net *n) {
  double cost = 0;
  for (int i = 0; i < c->p.nr; i++)
    if (c->rloc[i] < 0 || n->asg[c->rloc[i]] < 0)
      cost += c->p.penalty[i];
    else
      cost += c->p.e_cost[n->asg[c->rloc[i]]];
  return cost;
}

/* The optimum by enumeration over the candidate graph. */
static double oracle(const net_case *c) {
  double cost = cm_oracle_assign(&c->p, c->reqs, c->nr, c->freecap, NULL);
  for (int i = 0; i < c->p.nr; i++)
    if (c->p.r_start[i] == c->p.r_start[i + 1])
      cost += c->p.penalty[i];
  return cost;
}

/* Weak LP duality from worker prices y >= 0 (the test's own sum): each
 * request at its cheapest of penalty and edge plus price, each worker's free
 * capacity at its price taken off. At most any feasible answer's cost. */
static double dual_bound(const net_case *c, const double *y) {
  double b = 0;
  for (int i = 0; i < c->p.nr; i++) {
    double m = c->p.penalty[i];
    for (int e = c->p.r_start[i]; e < c->p.r_start[i + 1]; e++)
      if (c->p.e_cost[e] + y[c->p.e_wrk[e]] < m)
        m = c->p.e_cost[e] + y[c->p.e_wrk[e]];
    b += m;
  }
  for (int k = 0; k < c->nw; k++)
    b -= c->freecap[c->wrks[k]] * y[c->wrks[k]];
  return b;
}

typedef struct regime {
  const char *name;
  int min_r, max_r, min_w, max_w, max_cap;
} regime;

static const regime scarce = {"scarce", 4, 10, 1, 4, 2};
static const regime plenty = {"plenty", 2, 6, 5, 10, 2};

static cm_instance *gen(const regime *rg, int edge_mode, uint64_t seed) {
  cm_check_gen_opts o;
  cm_check_gen_small_opts(&o, edge_mode, 0);
  o.min_requests = rg->min_r;
  o.max_requests = rg->max_r;
  o.min_workers = rg->min_w;
  o.max_workers = rg->max_w;
  o.max_capacity = rg->max_cap;
  return cm_check_gen(&o, seed);
}

/* Explicit edges, k per request, every worker available and skilled for
 * every request: a request has candidates unless its edges miss. */
static void open_dense(net_case *c, int min_r, int max_r, int min_w, int max_w,
                       int k, uint64_t seed) {
  cm_check_gen_opts o;
  cm_check_gen_small_opts(&o, 1, 0);
  o.min_requests = min_r;
  o.max_requests = max_r;
  o.min_workers = min_w;
  o.max_workers = max_w;
  o.edges_per_request = k;
  o.n_skills = 1;
  o.unavailable_prob = 0;
  o.stale_prob = 0;
  o.max_capacity = 3;
  case_open(c, cm_check_gen(&o, seed));
}

/* Every engine on 300 small instances of the regime: feasible, complete,
 * and at both enumerated optima. Returns how many left a request with
 * candidates out at the optimum (the generator must contest workers). */
static int against_brute_force(const regime *rg, uint64_t seed0) {
  int contested = 0;
  for (uint64_t seed = seed0; seed < seed0 + 300; seed++) {
    net_case c;
    case_open(&c, gen(rg, (int)(seed & 1), seed));
    double best = oracle(&c);
    double whole = cm_check_brute_force(c.inst, NULL);
    cr_assert(cm_check_close(best, whole),
              "%s seed %llu: graph optimum %.12g, instance optimum %.12g",
              rg->name, (unsigned long long)seed, best, whole);
    for (int e = 0; e < N_ENGINES; e++) {
      cm__net n;
      cr_assert_eq(run(&c, (enum engine)e, NULL, &n), 1);
      cr_assert_eq(n.routed, c.nr);
      assert_feasible(&c, &n, engine_name[e], seed);
      cr_assert(cm_check_close(net_cost(&c, &n), best),
                "%s, %s seed %llu: cost %.12g, optimum %.12g", engine_name[e],
                rg->name, (unsigned long long)seed, net_cost(&c, &n), best);
      if (e == SSP)
        for (int i = 0; i < c.nr; i++)
          contested += n.asg[i] == -1;
      cm__net_free(&n);
    }
    case_close(&c);
  }
  return contested;
}

Test(network, scarce_staff_at_the_brute_force_optimum) {
  cr_assert_gt(against_brute_force(&scarce, 1000), 100,
               "the generator should leave requests out");
}

Test(network, plenty_of_staff_at_the_brute_force_optimum) {
  against_brute_force(&plenty, 2000);
}

/* Penalties below a request's every edge keep it out; workers full
 * elsewhere take nothing; workers with one place left take one. */
Test(network, penalties_and_capacity_used_elsewhere) {
  int kept_out = 0, full = 0;
  for (uint64_t seed = 3000; seed < 3200; seed++) {
    net_case c;
    case_open(&c, gen(seed & 2 ? &scarce : &plenty, (int)(seed & 1), seed));
    unsigned char *cheap_out = calloc((size_t)c.p.nr + 1, 1);
    cr_assert_not_null(cheap_out);
    for (int a = 0; a < c.nr; a++)
      if (a % 3 == (int)(seed % 3)) { /* out is cheaper than any edge */
        int g = c.reqs[a];
        double m = INFINITY;
        for (int e = c.p.r_start[g]; e < c.p.r_start[g + 1]; e++)
          m = fmin(m, c.p.e_cost[e]);
        c.p.penalty[g] = m - 0.5;
        cheap_out[g] = 1;
      }
    for (int k = 0; k < c.nw; k++) {
      int w = c.wrks[k];
      int jobs = (k + (int)seed) % 3 == 0 ? c.p.cap[w] : c.p.cap[w] - 1;
      case_set_outside(&c, w, jobs);
      full += c.freecap[w] == 0;
    }
    double best = oracle(&c);
    for (int e = 0; e < N_ENGINES; e++) {
      cm__net n;
      cr_assert_eq(run(&c, (enum engine)e, NULL, &n), 1);
      assert_feasible(&c, &n, engine_name[e], seed);
      cr_assert(cm_check_close(net_cost(&c, &n), best),
                "%s seed %llu: cost %.12g, optimum %.12g", engine_name[e],
                (unsigned long long)seed, net_cost(&c, &n), best);
      for (int i = 0; i < c.nr; i++)
        if (cheap_out[c.reqs[i]]) {
          cr_assert_eq(n.asg[i], -1, "%s seed %llu: request %d placed",
                       engine_name[e], (unsigned long long)seed, i);
          kept_out++;
        }
      cm__net_free(&n);
    }
    free(cheap_out);
    case_close(&c);
  }
  cr_assert_gt(kept_out, 100);
  cr_assert_gt(full, 100);
}

Test(network, every_worker_full_elsewhere_leaves_everyone_out) {
  net_case c;
  open_dense(&c, 6, 10, 2, 4, 2, 77);
  cr_assert_gt(c.nr, 0);
  double pen = 0;
  for (int i = 0; i < c.p.nr; i++)
    pen += c.p.penalty[i];
  for (int k = 0; k < c.nw; k++)
    case_set_outside(&c, c.wrks[k], c.p.cap[c.wrks[k]]);
  for (int e = 0; e < N_ENGINES; e++) {
    cm__net n;
    cr_assert_eq(run(&c, (enum engine)e, NULL, &n), 1);
    for (int i = 0; i < c.nr; i++)
      cr_assert_eq(n.asg[i], -1, "%s: request %d placed", engine_name[e], i);
    cr_assert(cm_check_close(net_cost(&c, &n), pen));
    cm__net_free(&n);
  }
  case_close(&c);
}

/* Larger components, beyond enumeration: both engines agree, and the cost
 * meets the test's own dual bound from the engine's prices. */
static void against_dual_bound(int scarce_staff, uint64_t seed0) {
  for (uint64_t seed = seed0; seed < seed0 + 30; seed++) {
    cm_check_gen_opts o;
    cm_check_gen_small_opts(&o, 1, 0);
    o.min_requests = scarce_staff ? 60 : 30;
    o.max_requests = scarce_staff ? 120 : 50;
    o.min_workers = scarce_staff ? 15 : 80;
    o.max_workers = scarce_staff ? 40 : 120;
    o.edges_per_request = scarce_staff ? 6 : 4;
    o.max_capacity = 3;
    net_case c;
    case_open(&c, cm_check_gen(&o, seed));
    double *y = calloc((size_t)c.p.nw + 1, sizeof *y);
    cr_assert_not_null(y);
    double cost[N_ENGINES];
    for (int e = 0; e < N_ENGINES; e++) {
      cm__net n;
      cr_assert_eq(run(&c, (enum engine)e, NULL, &n), 1);
      assert_feasible(&c, &n, engine_name[e], seed);
      cost[e] = net_cost(&c, &n);
      cm__net_prices(&n, y);
      for (int k = 0; k < c.nw; k++)
        cr_assert_geq(y[c.wrks[k]], 0.0);
      double b = dual_bound(&c, y);
      cr_assert(cm_check_close(cost[e], b),
                "%s seed %llu: cost %.12g, dual bound %.12g", engine_name[e],
                (unsigned long long)seed, cost[e], b);
      cm__net_free(&n);
    }
    cr_assert(cm_check_close(cost[SSP], cost[SIMPLEX_COLD]) &&
              cm_check_close(cost[SSP], cost[SIMPLEX_WARM]));
    free(y);
    case_close(&c);
  }
}

Test(network, scarce_staff_meets_its_dual_bound) {
  against_dual_bound(1, 4000);
}

Test(network, plenty_of_staff_meets_its_dual_bound) {
  against_dual_bound(0, 5000);
}

/* An injected clock: each read advances one nanosecond. */
static int64_t stepping(void *ctx) {
  return ++*(int64_t *)ctx;
}

static cm__clock clock_at(int64_t *now, int64_t deadline_ns) {
  *now = 0;
  cm__clock clk = {stepping, now, 0, deadline_ns, 0};
  return clk;
}

/* Shortest paths read the clock before every eighth request: a deadline at
 * the second read stops it after eight, which are placed as well as the
 * first eight alone can be; the rest are left unrouted. */
Test(network, deadline_cut_leaves_the_routed_part_optimal) {
  int cut = 0;
  for (uint64_t seed = 6000; seed < 6060; seed++) {
    net_case c;
    open_dense(&c, 12, 20, 2, 6, 3, seed);
    if (c.nr <= 8) {
      case_close(&c);
      continue;
    }
    int64_t now;
    cm__clock clk = clock_at(&now, 2);
    cm__net n;
    cr_assert_eq(run(&c, SSP, &clk, &n), 0, "seed %llu: not cut",
                 (unsigned long long)seed);
    cr_assert_eq(n.routed, 8);
    assert_feasible(&c, &n, "cut", seed);
    double part = 0;
    for (int i = 0; i < 8; i++)
      part += n.asg[i] >= 0 ? c.p.e_cost[n.asg[i]] : c.p.penalty[c.reqs[i]];
    double best = cm_oracle_assign(&c.p, c.reqs, 8, c.freecap, NULL);
    cr_assert(cm_check_close(part, best),
              "seed %llu: first eight cost %.12g, their optimum %.12g",
              (unsigned long long)seed, part, best);
    cm__net_free(&n);
    /* a deadline already passed: nothing routed */
    clk = clock_at(&now, 1);
    cr_assert_eq(run(&c, SSP, &clk, &n), 0);
    cr_assert_eq(n.routed, 0);
    assert_feasible(&c, &n, "cut at once", seed);
    cm__net_free(&n);
    case_close(&c);
    cut++;
  }
  cr_assert_gt(cut, 40);
}

/* The simplex reads the clock every 64 pivots: cut at the first read, its
 * flow is complete and feasible, no better than the optimum, and from the
 * floor no worse than the floor. */
Test(network, deadline_cut_simplex_stays_feasible) {
  for (uint64_t seed = 7000; seed < 7010; seed++) {
    net_case c;
    open_dense(&c, 150, 200, 40, 60, 6, seed);
    cm__net n;
    cr_assert_eq(run(&c, SSP, NULL, &n), 1);
    double best = net_cost(&c, &n);
    cm__net_free(&n);
    double floor_cost = cm_oracle_cost(&c.p, &c.floor);
    for (int e = SIMPLEX_COLD; e <= SIMPLEX_WARM; e++) {
      int64_t now;
      cm__clock clk = clock_at(&now, 1);
      cr_assert_eq(run(&c, (enum engine)e, &clk, &n), 0,
                   "%s seed %llu: not cut", engine_name[e],
                   (unsigned long long)seed);
      cr_assert_gt(now, 0, "the clock was never read");
      cr_assert_eq(n.routed, c.nr);
      assert_feasible(&c, &n, engine_name[e], seed);
      double cost = net_cost(&c, &n);
      cr_assert_geq(cost, best - 1e-9 * fabs(best));
      if (e == SIMPLEX_WARM)
        cr_assert_leq(cost, floor_cost + 1e-9 * fabs(floor_cost),
                      "seed %llu: cut at %.12g, floor %.12g",
                      (unsigned long long)seed, cost, floor_cost);
      cm__net_free(&n);
    }
    case_close(&c);
  }
}
