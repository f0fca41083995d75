/* bench_solve.c -- solver bench: cm_solve over seeded city instances.
 *
 * Two regimes: plenty of staff (10 workers per request) and scarce staff (one
 * worker per request), each at K = 8 and K = 16, several seeds and runs per
 * case. Every instance is also solved greedily (deadline 0) to show what the
 * optimisation buys. Latencies are the solver's own stage timings plus the
 * wall time measured here around the call (used for deadline overruns).
 * Three kinds of rows, each with a table of its own: the cases above;
 * "budget" rows (deadlines 1 to 50 ms: overruns, objective, requests and
 * emergencies served against greedy); "lemon" rows (cm_solve on an edge-mode
 * instance against LEMON's min-cost flow on the same edges, when built with
 * LEMON: lemon_anchor.h). Writes a JSON report; see bench/README.md. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "carematch/solve.h"
#include "carematch/version.h"
#include "city.h"
#include "city_edges.h"
#ifdef CM_HAVE_LEMON
#include "lemon_anchor.h"
#endif

#ifdef CM_HAVE_LEMON
#define BENCH_HAVE_LEMON 1
#else
#define BENCH_HAVE_LEMON 0
#endif
#define BENCH_MAX_CASES 96
#define BENCH_LEMON_TOL 1e-6 /* objective: cm_solve vs LEMON, relative */

typedef enum bench_kind {
  BENCH_KIND_CASE = 0, /* the regimes at every size */
  BENCH_KIND_BUDGET,   /* fixed deadlines: what a budget costs */
  BENCH_KIND_LEMON     /* edge mode, cm_solve against LEMON */
} bench_kind;

static const char *const bench_kind_names[] = {"case", "budget", "lemon"};

typedef struct bench_opts {
  int seeds;          /* instances per case (10; --quick 1) */
  int runs;           /* timed solves per instance (5; --quick 1) */
  double deadline_ms; /* for every case; < 0: none */
  int plain_lp;       /* add plain-GLPK anchor cases */
  int plain_lp_max;   /* ... for requests up to this */
  uint64_t seed0;     /* first seed */
  const char *out;    /* JSON report path, NULL: none */
  const char *only;   /* run cases whose name contains this (or one of
                         its comma-separated parts) */
  int lemon;          /* add the LEMON rows (when built with LEMON) */
  int lemon_cs;       /* ... and run CostScaling too */
  int threads;        /* cm_solve_options.threads (0: the caller's only) */
} bench_opts;

/* --threads, read by every cm_solve call of the run. */
static int bench_threads;

typedef struct bench_case {
  bench_kind kind;    /* which table the row goes to */
  char name[64];      /* "plenty 2000x20000 K16" */
  const char *regime; /* "plenty", "scarce" */
  int n_req, n_wrk, k;
  double deadline_ms; /* < 0: none */
  int plain_lp;       /* opts.plain_lp = 1 */
  int network;        /* opts.network: 0 chosen by the solver; engine rows:
                         1 shortest paths, 2 simplex from the greedy floor,
                         3 simplex from an empty start */
  int runs;           /* timed solves per seed (plain-LP anchors: 1) */
  double team_share;  /* "teams" regime: share of staff-2 requests */
} bench_case;

/* Samples of one case, seeds * runs entries (greedy: seeds entries). */
typedef struct bench_samples {
  int n, ng;
  double *total, *cand, *build, *solve, *wall; /* per run, ms */
  double *obj, *ratio, *gap, *lb;              /* per run */
  int *served, *exact, *fallbacks, *comps, *reduced, *edges;
  double *g_obj, *g_ms; /* per seed, greedy */
  int *g_served;
  double *ref_diff; /* plain-LP cases: |obj - default obj| / max(1,|obj|) */
  int *emerg;       /* per run: emergency requests served */
  int *n_emerg;     /* per seed: emergency requests in the batch */
  int *g_emerg;     /* per seed: emergencies greedy serves */
  /* LEMON rows: per run (cm_solve's figures are the ones above) */
  double *l_build, *l_solve, *l_total; /* LEMON graph build, solve, both */
  double *l_cs;                        /* CostScaling's solve (--lemon-cs) */
  double *l_ratio;        /* cm_solve total_ms / LEMON build + solve */
  double *l_diff;         /* |obj - LEMON obj| / max(1, |obj|) */
  double *l_cs_diff;      /* the same for CostScaling */
  int *l_served;          /* requests LEMON's flow serves */
  double *p_obj, *p_diff; /* per seed: cm_solve in positions mode, and how
                             far edge mode is from it (relative) */
  int *p_edges;           /* per seed: its stats.edges */
  int l_nodes, l_arcs;    /* LEMON's network, last seed */
  double l_scale;         /* LEMON's integer cost scale, last seed */
  int mismatches;         /* runs with l_diff or l_cs_diff above the
                             tolerance (or NaN) */
  int failures;
  int iters_max;  /* GLPK simplex iterations, max over runs (the network
                     answers' confirmation: expected 0) */
  int rounds_max; /* pricing rounds, max over runs */
  char error[CM_ERROR_MESSAGE_MAX + CM_ERROR_FIELD_MAX + 8];
} bench_samples;

static double bench_ms_since(int64_t t0) {
  return (double)(cm_bench_clock(NULL) - t0) / 1e6;
}

/* Nearest-rank quantile q in [0, 1] of n values (sorted copy). */
static double bench_mean(const double *v, int n) {
  double s = 0.0;
  for (int i = 0; i < n; i++)
    s += v[i];
  return n ? s / n : NAN;
}

static double bench_max(const double *v, int n) {
  double m = -INFINITY;
  for (int i = 0; i < n; i++)
    m = v[i] > m ? v[i] : m;
  return n ? m : NAN;
}

static double bench_imean(const int *v, int n) {
  double s = 0.0;
  for (int i = 0; i < n; i++)
    s += v[i];
  return n ? s / n : NAN;
}

static int bench_imax(const int *v, int n) {
  int m = 0;
  for (int i = 0; i < n; i++)
    m = v[i] > m ? v[i] : m;
  return m;
}

static int bench_isum(const int *v, int n) {
  int s = 0;
  for (int i = 0; i < n; i++)
    s += v[i];
  return s;
}

/* Quantile of int values. */
static double bench_quantile_i(const int *v, int n, double q) {
  double *d = malloc(sizeof *d * (size_t)(n > 0 ? n : 1)), r;
  if (!d)
    return NAN;
  for (int i = 0; i < n; i++)
    d[i] = v[i];
  r = cm_bench_quantile(d, n, q);
  free(d);
  return r;
}

static void bench_samples_free(bench_samples *s) {
  void *p[] = {s->total,   s->cand,      s->build,    s->solve,     s->wall,
               s->obj,     s->ratio,     s->gap,      s->lb,        s->served,
               s->exact,   s->fallbacks, s->comps,    s->reduced,   s->edges,
               s->g_obj,   s->g_ms,      s->g_served, s->ref_diff,  s->emerg,
               s->n_emerg, s->g_emerg,   s->l_build,  s->l_solve,   s->l_total,
               s->l_cs,    s->l_ratio,   s->l_diff,   s->l_cs_diff, s->l_served,
               s->p_obj,   s->p_diff,    s->p_edges};
  for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
    free(p[i]);
  memset(s, 0, sizeof *s);
}

/* Allocate room for runs (n) and seeds (ng). Returns 0, or -1. */
static int bench_samples_init(bench_samples *s, int n, int ng) {
  memset(s, 0, sizeof *s);
#define BENCH_ALLOC_(f, cnt)                                                   \
  if (!(s->f = calloc((size_t)(cnt), sizeof *s->f)))                           \
  goto fail
  BENCH_ALLOC_(total, n);
  BENCH_ALLOC_(cand, n);
  BENCH_ALLOC_(build, n);
  BENCH_ALLOC_(solve, n);
  BENCH_ALLOC_(wall, n);
  BENCH_ALLOC_(obj, n);
  BENCH_ALLOC_(ratio, n);
  BENCH_ALLOC_(gap, n);
  BENCH_ALLOC_(lb, n);
  BENCH_ALLOC_(served, n);
  BENCH_ALLOC_(exact, n);
  BENCH_ALLOC_(fallbacks, n);
  BENCH_ALLOC_(comps, n);
  BENCH_ALLOC_(reduced, n);
  BENCH_ALLOC_(edges, n);
  BENCH_ALLOC_(g_obj, ng);
  BENCH_ALLOC_(g_ms, ng);
  BENCH_ALLOC_(g_served, ng);
  BENCH_ALLOC_(ref_diff, ng);
  BENCH_ALLOC_(emerg, n);
  BENCH_ALLOC_(n_emerg, ng);
  BENCH_ALLOC_(g_emerg, ng);
  BENCH_ALLOC_(l_build, n);
  BENCH_ALLOC_(l_solve, n);
  BENCH_ALLOC_(l_total, n);
  BENCH_ALLOC_(l_cs, n);
  BENCH_ALLOC_(l_ratio, n);
  BENCH_ALLOC_(l_diff, n);
  BENCH_ALLOC_(l_cs_diff, n);
  BENCH_ALLOC_(l_served, n);
  BENCH_ALLOC_(p_obj, ng);
  BENCH_ALLOC_(p_diff, ng);
  BENCH_ALLOC_(p_edges, ng);
#undef BENCH_ALLOC_
  return 0;
fail:
  bench_samples_free(s);
  return -1;
}

/* One cm_solve call. Returns 0 with *ans filled and *wall_ms measured, or -1
 * with msg set. */
static int bench_solve_once(const cm_instance *inst, double deadline_ms,
                            int plain_lp, int network, cm_answer *ans,
                            double *wall_ms, char *msg, size_t msg_len) {
  cm_solve_options o;
  cm_error err;
  int64_t t0;
  memset(&o, 0, sizeof o);
  o.deadline_ms = deadline_ms;
  o.clock = cm_bench_clock;
  /* the anchor: cold GLPK simplex on the whole batch, as in DESIGN 4 */
  o.plain_lp = plain_lp;
  o.no_reductions = plain_lp;
  o.no_components = plain_lp;
  o.network = network;
  o.threads = bench_threads;
  /* the instance is valid by construction, as a platform's decoded batch
     or the engine's is: its validation is not the solver's time */
  o.validated = 1;
  memset(ans, 0, sizeof *ans);
  cm_error_clear(&err);
  t0 = cm_bench_clock(NULL);
  if (cm_solve(inst, &o, ans, &err) != CM_OK) {
    snprintf(msg, msg_len, "%s: %s (%s)", cm_status_name(err.code), err.message,
             err.field);
    return -1;
  }
  *wall_ms = bench_ms_since(t0);
  return 0;
}

static int bench_served(const cm_instance *inst, const cm_answer *a) {
  return inst->n_requests - a->n_unassigned;
}

/* Emergency requests of the batch. */
static int bench_emergencies(const cm_instance *inst) {
  int n = 0;
  for (int i = 0; i < inst->n_requests; i++)
    n += inst->requests[i].urgency == CM_URGENCY_EMERGENCY;
  return n;
}

/* Emergency requests the answer serves: all but those it leaves out. */
static int bench_emerg_served(const cm_instance *inst, const cm_answer *a) {
  int n = bench_emergencies(inst);
  for (int i = 0; i < a->n_unassigned; i++)
    n -= inst->requests[a->unassigned[i].request].urgency ==
         CM_URGENCY_EMERGENCY;
  return n;
}

/* |a - b| relative to b, at least 1 in the denominator. */
static double bench_rel_diff(double a, double b) {
  return fabs(a - b) / fmax(1.0, fabs(b));
}

/* Record run r of an answer. */
static void bench_record(bench_samples *s, int r, const cm_instance *inst,
                         const cm_answer *a, double wall, double greedy_obj) {
  s->total[r] = a->stats.total_ms;
  s->cand[r] = a->stats.candidates_ms;
  s->build[r] = a->stats.build_ms;
  s->solve[r] = a->stats.solve_ms;
  s->wall[r] = wall;
  s->obj[r] = a->objective;
  s->ratio[r] = greedy_obj != 0.0 ? a->objective / greedy_obj : 1.0;
  s->gap[r] = a->stats.gap;
  s->lb[r] = a->stats.lower_bound;
  s->served[r] = bench_served(inst, a);
  s->emerg[r] = bench_emerg_served(inst, a);
  s->exact[r] = a->stats.exact;
  s->fallbacks[r] = a->stats.fallbacks;
  s->comps[r] = a->stats.components;
  s->reduced[r] = a->stats.reduced;
  s->edges[r] = a->stats.edges;
  if (a->stats.glpk_iterations > s->iters_max)
    s->iters_max = a->stats.glpk_iterations;
  if (a->stats.pricing_rounds > s->rounds_max)
    s->rounds_max = a->stats.pricing_rounds;
}

/* Greedy answer of seed index g. Returns 0 or -1. */
static int bench_greedy(bench_samples *s, int g, const cm_instance *inst) {
  cm_answer a;
  double wall;
  if (bench_solve_once(inst, 0.0, 0, 0, &a, &wall, s->error, sizeof s->error))
    return -1;
  s->g_obj[g] = a.objective;
  s->g_ms[g] = wall;
  s->g_served[g] = bench_served(inst, &a);
  s->g_emerg[g] = bench_emerg_served(inst, &a);
  s->n_emerg[g] = bench_emergencies(inst);
  cm_answer_free(&a);
  return 0;
}

/* Plain-LP cases: how far the anchor's objective is from the default
 * solver's on the same instance. Returns 0 or -1. */
static int bench_reference(bench_samples *s, int g, const cm_instance *inst,
                           double plain_obj) {
  cm_answer a;
  double wall;
  if (bench_solve_once(inst, -1.0, 0, 0, &a, &wall, s->error, sizeof s->error))
    return -1;
  s->ref_diff[g] = bench_rel_diff(plain_obj, a.objective);
  cm_answer_free(&a);
  return 0;
}

/* LEMON rows: cm_solve once in positions mode on the city's instance (the
 * reference that edge mode should reproduce), untimed. Returns 0 or -1. */
static int bench_positions_reference(bench_samples *s, int g,
                                     const cm_instance *inst) {
  cm_answer a;
  double wall;
  if (bench_solve_once(inst, -1.0, 0, 0, &a, &wall, s->error, sizeof s->error))
    return -1;
  s->p_obj[g] = a.objective;
  s->p_edges[g] = a.stats.edges;
  cm_answer_free(&a);
  return 0;
}

/* The instance of seed index g; for LEMON rows in edge mode (after the
 * positions-mode reference). Returns NULL with s->error set. */
static cm_instance *bench_instance(const bench_opts *o, const bench_case *c,
                                   bench_samples *s, int g) {
  cm_city_spec spec;
  cm_error err;
  cm_instance *inst;
  cm_city_spec_init(&spec);
  spec.seed = o->seed0 + (uint64_t)g;
  spec.n_requests = c->n_req;
  spec.n_workers = c->n_wrk;
  spec.k = c->k;
  spec.team_share = c->team_share;
  inst = cm_city_instance(&spec, &err);
  if (!inst) {
    snprintf(s->error, sizeof s->error, "city: %s", err.message);
    return NULL;
  }
  if (c->kind != BENCH_KIND_LEMON)
    return inst;
  if (bench_positions_reference(s, g, inst) != 0)
    goto fail;
  if (cm_city_to_edges(inst, &err) != 0) {
    snprintf(s->error, sizeof s->error, "edge mode: %s", err.message);
    goto fail;
  }
  return inst;
fail:
  cm_instance_free(inst);
  return NULL;
}

#ifdef CM_HAVE_LEMON
/* LEMON on the instance of run `at`, right after cm_solve's answer a, in
 * the same process and run: its times, its objective against a's (a
 * mismatch is counted and reported on stderr). Returns 0, or -1. */
static int bench_lemon_run(const bench_opts *o, const bench_case *c,
                           bench_samples *s, int at, const cm_instance *inst,
                           const cm_answer *a) {
  cm_lemon_result lr;
  if (cm_lemon_solve(inst, o->lemon_cs, &lr, s->error, sizeof s->error) != 0)
    return -1;
  s->l_build[at] = lr.build_ms;
  s->l_solve[at] = lr.solve_ms;
  s->l_total[at] = lr.build_ms + lr.solve_ms;
  s->l_cs[at] = lr.cs_solve_ms;
  s->l_ratio[at] = a->stats.total_ms / s->l_total[at];
  s->l_diff[at] = bench_rel_diff(lr.objective, a->objective);
  s->l_cs_diff[at] =
      o->lemon_cs ? bench_rel_diff(lr.cs_objective, a->objective) : NAN;
  s->l_served[at] = lr.served;
  s->l_nodes = lr.nodes;
  s->l_arcs = lr.arcs;
  s->l_scale = lr.cost_scale;
  if (!(s->l_diff[at] <= BENCH_LEMON_TOL) ||
      (o->lemon_cs && !(s->l_cs_diff[at] <= BENCH_LEMON_TOL))) {
    s->mismatches++;
    fprintf(stderr,
            "bench_solve: OBJECTIVE MISMATCH in %s, sample %d: cm_solve "
            "%.10g, LEMON NetworkSimplex %.10g (rel %.2e), CostScaling "
            "%.10g\n",
            c->name, at, a->objective, lr.objective, s->l_diff[at],
            lr.cs_objective);
  }
  return 0;
}
#else
static int bench_lemon_run(const bench_opts *o, const bench_case *c,
                           bench_samples *s, int at, const cm_instance *inst,
                           const cm_answer *a) {
  (void)o, (void)c, (void)at, (void)inst, (void)a;
  snprintf(s->error, sizeof s->error, "bench_solve was built without LEMON");
  return -1;
}
#endif

/* Run r of seed index g on inst: cm_solve, and LEMON after it on LEMON
 * rows. Returns 0, or -1 (s->error says why). */
static int bench_run_once(const bench_opts *o, const bench_case *c,
                          bench_samples *s, int g, int r,
                          const cm_instance *inst) {
  cm_answer a;
  double wall;
  int at = g * c->runs + r, rc = 0;
  if (bench_solve_once(inst, c->deadline_ms, c->plain_lp, c->network, &a, &wall,
                       s->error, sizeof s->error))
    return -1;
  bench_record(s, at, inst, &a, wall, s->g_obj[g]);
  if (c->kind == BENCH_KIND_LEMON)
    rc = bench_lemon_run(o, c, s, at, inst, &a);
  cm_answer_free(&a);
  if (rc == 0)
    s->n = at + 1;
  return rc;
}

/* All seeds and runs of one case. Returns 0, or -1 (s->error says why). */
static int bench_run_case(const bench_opts *o, const bench_case *c,
                          bench_samples *s) {
  for (int g = 0; g < o->seeds; g++) {
    cm_instance *inst = bench_instance(o, c, s, g);
    if (!inst)
      return -1;
    if (bench_greedy(s, g, inst) != 0)
      goto fail;
    for (int r = 0; r < c->runs; r++)
      if (bench_run_once(o, c, s, g, r, inst) != 0)
        goto fail;
    s->ng = g + 1;
    if (c->plain_lp && bench_reference(s, g, inst, s->obj[g * c->runs]) != 0)
      goto fail;
    if (c->kind == BENCH_KIND_LEMON)
      s->p_diff[g] = bench_rel_diff(s->obj[g * c->runs], s->p_obj[g]);
    cm_instance_free(inst);
    continue;
  fail:
    cm_instance_free(inst);
    return -1;
  }
  return 0;
}

/* Maximum of wall - deadline over runs; NAN without a deadline. */
static double bench_overrun(const bench_case *c, const bench_samples *s) {
  if (c->deadline_ms <= 0.0)
    return NAN;
  return bench_max(s->wall, s->n) - c->deadline_ms;
}

static void bench_cases_head(void) {
  printf("%-30s %8s %8s %8s %7s %7s %7s %7s %9s %6s %11s %5s %3s %5s %5s "
         "%8s %7s\n",
         "case", "tot.med", "tot.p99", "wall", "cand", "build", "solve", "grdy",
         "objective", "/grdy", "served/grdy", "exact", "fb", "comp", "red",
         "gap", "overrun");
}

/* One line of the table: medians of the stage times, mean objective. */
static void bench_cases_row(const bench_case *c, const bench_samples *s) {
  char served[24], ovr[16] = "-", gap[16] = "-";
  double ov = bench_overrun(c, s), gmax = bench_max(s->gap, s->n);
  if (s->n == 0) {
    printf("%-30s FAILED: %s\n", c->name, s->error);
    return;
  }
  snprintf(served, sizeof served, "%.0f/%.0f", bench_imean(s->served, s->n),
           bench_imean(s->g_served, s->ng));
  if (!isnan(ov))
    snprintf(ovr, sizeof ovr, "%+.1f", ov);
  if (bench_isum(s->exact, s->n) < s->n)
    snprintf(gap, sizeof gap, "%.2e", gmax);
  printf("%-30s %8.2f %8.2f %8.2f %7.2f %7.2f %7.2f %7.2f ", c->name,
         cm_bench_quantile(s->total, s->n, 0.5),
         cm_bench_quantile(s->total, s->n, 0.99),
         cm_bench_quantile(s->wall, s->n, 0.5),
         cm_bench_quantile(s->cand, s->n, 0.5),
         cm_bench_quantile(s->build, s->n, 0.5),
         cm_bench_quantile(s->solve, s->n, 0.5),
         cm_bench_quantile(s->g_ms, s->ng, 0.5));
  printf("%9.0f %6.3f %11s %2d/%-2d %3d %5.0f %5.0f %8s %7s\n",
         bench_mean(s->obj, s->n), bench_mean(s->ratio, s->n), served,
         bench_isum(s->exact, s->n), s->n, bench_imax(s->fallbacks, s->n),
         bench_quantile_i(s->comps, s->n, 0.5),
         bench_quantile_i(s->reduced, s->n, 0.5), gap, ovr);
  if (c->plain_lp)
    printf("%-30s   objective vs default solver: max rel diff %.2e\n", "",
           bench_max(s->ref_diff, s->ng));
  if (s->failures)
    printf("%-30s   FAILED after %d runs: %s\n", "", s->n, s->error);
  fflush(stdout);
}

/* Runs that serve fewer requests, or fewer emergencies, than greedy does on
 * the same instance. */
static int bench_below_greedy(const bench_case *c, const bench_samples *s) {
  int n = 0;
  for (int i = 0; i < s->n; i++) {
    int g = i / c->runs;
    n += s->served[i] < s->g_served[g] || s->emerg[i] < s->g_emerg[g];
  }
  return n;
}

static void bench_budget_head(void) {
  printf("\nbudget rows: the deadline's overrun in ms, p50/p99/max over seeds "
         "x runs (stats.total_ms\nand the wall time around cm_solve); served "
         "and emergencies against greedy (deadline 0)\n");
  printf("%-34s %-23s %-23s %-13s %-20s %-19s %5s %-17s %s\n", "",
         "total_ms - deadline", "wall - deadline", "obj/greedy", "served",
         "emergencies", "", "gap", "fallbacks");
  printf("%-34s %7s %7s %7s %7s %7s %7s %6s %6s %6s %6s %6s %4s %4s %4s %4s "
         "%5s %8s %8s %3s %3s\n",
         "case", "p50", "p99", "max", "p50", "p99", "max", "p50", "max", "p50",
         "min", "grdy", "p50", "min", "grdy", "all", "<grdy", "p50", "max",
         "p50", "max");
}

/* One budget row: overruns, objective ratio, served, gap, fallbacks. */
static void bench_budget_row(const bench_case *c, const bench_samples *s) {
  double dl = c->deadline_ms;
  if (s->n == 0) {
    printf("%-34s FAILED: %s\n", c->name, s->error);
    return;
  }
  printf("%-34s %+7.2f %+7.2f %+7.2f %+7.2f %+7.2f %+7.2f %6.3f %6.3f ",
         c->name, cm_bench_quantile(s->total, s->n, 0.5) - dl,
         cm_bench_quantile(s->total, s->n, 0.99) - dl,
         bench_max(s->total, s->n) - dl,
         cm_bench_quantile(s->wall, s->n, 0.5) - dl,
         cm_bench_quantile(s->wall, s->n, 0.99) - dl,
         bench_max(s->wall, s->n) - dl, cm_bench_quantile(s->ratio, s->n, 0.5),
         bench_max(s->ratio, s->n));
  printf("%6.0f %6.0f %6.0f %4.0f %4.0f %4.0f %4.0f %5d %8.2e %8.2e %3.0f "
         "%3d\n",
         bench_quantile_i(s->served, s->n, 0.5),
         bench_quantile_i(s->served, s->n, 0.0),
         bench_quantile_i(s->g_served, s->ng, 0.5),
         bench_quantile_i(s->emerg, s->n, 0.5),
         bench_quantile_i(s->emerg, s->n, 0.0),
         bench_quantile_i(s->g_emerg, s->ng, 0.5),
         bench_quantile_i(s->n_emerg, s->ng, 0.5), bench_below_greedy(c, s),
         cm_bench_quantile(s->gap, s->n, 0.5), bench_max(s->gap, s->n),
         bench_quantile_i(s->fallbacks, s->n, 0.5),
         bench_imax(s->fallbacks, s->n));
  if (s->failures)
    printf("%-34s   FAILED after %d runs: %s\n", "", s->n, s->error);
  fflush(stdout);
}

static void bench_lemon_head(void) {
  printf("\nlemon rows: edge mode (the same candidate edges on both sides), "
         "cm_solve without deadline\nagainst LEMON's min-cost flow in the "
         "same run; ms, p50 unless p99; ratio = cm total p50 /\nLEMON "
         "build+solve p50; diff = |objective - LEMON's| / max(1, |objective|)"
         ", max; pos = edge vs\npositions mode objective, max\n");
  printf("%-30s %6s %8s %8s %8s %7s %7s %8s %8s %7s %6s %8s %8s %8s %11s\n",
         "case", "edges", "cm.tot", "cm.p99", "cm.wall", "L.build", "L.solve",
         "L.tot", "L.p99", "L.cs", "ratio", "diff", "cs.diff", "pos",
         "served/L");
}

/* One LEMON row: both sides' times, the ratio, the objective check. */
static void bench_lemon_row(const bench_opts *o, const bench_case *c,
                            const bench_samples *s) {
  char served[24], cs[16] = "-", csd[16] = "-";
  double cm50 = cm_bench_quantile(s->total, s->n, 0.5);
  double l50 = cm_bench_quantile(s->l_total, s->n, 0.5);
  if (s->n == 0) {
    printf("%-30s FAILED: %s\n", c->name, s->error);
    return;
  }
  snprintf(served, sizeof served, "%.0f/%.0f", bench_imean(s->served, s->n),
           bench_imean(s->l_served, s->n));
  if (o->lemon_cs) {
    snprintf(cs, sizeof cs, "%.2f", cm_bench_quantile(s->l_cs, s->n, 0.5));
    snprintf(csd, sizeof csd, "%.1e", bench_max(s->l_cs_diff, s->n));
  }
  printf("%-30s %6.0f %8.2f %8.2f %8.2f %7.2f %7.2f %8.2f %8.2f %7s %6.2f "
         "%8.1e %8s %8.1e %11s\n",
         c->name, bench_quantile_i(s->edges, s->n, 0.5), cm50,
         cm_bench_quantile(s->total, s->n, 0.99),
         cm_bench_quantile(s->wall, s->n, 0.5),
         cm_bench_quantile(s->l_build, s->n, 0.5),
         cm_bench_quantile(s->l_solve, s->n, 0.5), l50,
         cm_bench_quantile(s->l_total, s->n, 0.99), cs, cm50 / l50,
         bench_max(s->l_diff, s->n), csd, bench_max(s->p_diff, s->ng), served);
  if (s->mismatches)
    printf("%-30s   OBJECTIVE MISMATCH in %d of %d runs (tolerance %g)\n", "",
           s->mismatches, s->n, BENCH_LEMON_TOL);
  if (s->failures)
    printf("%-30s   FAILED after %d runs: %s\n", "", s->n, s->error);
  fflush(stdout);
}

/* The header of a kind's table. */
static void bench_table_head(bench_kind kind) {
  if (kind == BENCH_KIND_BUDGET)
    bench_budget_head();
  else if (kind == BENCH_KIND_LEMON)
    bench_lemon_head();
  else
    bench_cases_head();
}

/* A row of the table of the case's kind. */
static void bench_table_row(const bench_opts *o, const bench_case *c,
                            const bench_samples *s) {
  if (c->kind == BENCH_KIND_BUDGET)
    bench_budget_row(c, s);
  else if (c->kind == BENCH_KIND_LEMON)
    bench_lemon_row(o, c, s);
  else
    bench_cases_row(c, s);
}

/* A JSON number, or null for NaN and infinities. */
static void bench_json_num(FILE *f, double v) {
  if (isfinite(v))
    fprintf(f, "%.6g", v);
  else
    fputs("null", f);
}

/* {"median":..,"p99":..,"min":..,"max":..} of n values minus shift. */
static void bench_json_dist_minus(FILE *f, const char *key, const double *v,
                                  int n, double shift) {
  fprintf(f, "\"%s\":{\"median\":", key);
  bench_json_num(f, cm_bench_quantile(v, n, 0.5) - shift);
  fputs(",\"p99\":", f);
  bench_json_num(f, cm_bench_quantile(v, n, 0.99) - shift);
  fputs(",\"min\":", f);
  bench_json_num(f, cm_bench_quantile(v, n, 0.0) - shift);
  fputs(",\"max\":", f);
  bench_json_num(f, bench_max(v, n) - shift);
  fputs("},\n     ", f);
}

/* {"median":..,"p99":..,"min":..,"max":..} of n values. */
static void bench_json_dist(FILE *f, const char *key, const double *v, int n) {
  bench_json_dist_minus(f, key, v, n, 0.0);
}

/* The same of n ints (nulls when out of memory). */
static void bench_json_idist(FILE *f, const char *key, const int *v, int n) {
  double *d = malloc(sizeof *d * (size_t)(n > 0 ? n : 1));
  for (int i = 0; d && i < n; i++)
    d[i] = v[i];
  bench_json_dist(f, key, d, d ? n : 0);
  free(d);
}

/* A JSON string with quotes, backslashes and control bytes escaped. */
static void bench_json_str(FILE *f, const char *v) {
  fputc('"', f);
  for (; *v; v++) {
    unsigned char ch = (unsigned char)*v;
    if (ch == '"' || ch == '\\')
      fprintf(f, "\\%c", ch);
    else if (ch < 0x20)
      fprintf(f, "\\u%04x", ch);
    else
      fputc(ch, f);
  }
  fputc('"', f);
}

static void bench_json_key(FILE *f, const char *key, double v) {
  fprintf(f, "\"%s\":", key);
  bench_json_num(f, v);
  fputs(",", f);
}

/* The first run of each seed, with its greedy answer. */
static void bench_json_seeds(FILE *f, const bench_opts *o, const bench_case *c,
                             const bench_samples *s) {
  fputs("\"per_seed\":[", f);
  for (int g = 0; g < s->ng; g++) {
    int r = g * c->runs;
    fprintf(f, "%s\n       {\"seed\":%llu,", g ? "," : "",
            (unsigned long long)(o->seed0 + (uint64_t)g));
    bench_json_key(f, "objective", s->obj[r]);
    bench_json_key(f, "greedy_objective", s->g_obj[g]);
    fprintf(f, "\"served\":%d,\"greedy_served\":%d,\"exact\":%d,", s->served[r],
            s->g_served[g], s->exact[r]);
    fprintf(f, "\"components\":%d,\"reduced\":%d,\"edges\":%d,", s->comps[r],
            s->reduced[r], s->edges[r]);
    fprintf(f,
            "\"emergencies\":%d,\"emergencies_served\":%d,"
            "\"greedy_emergencies_served\":%d,",
            s->n_emerg[g], s->emerg[r], s->g_emerg[g]);
    if (c->kind == BENCH_KIND_LEMON) {
      bench_json_key(f, "positions_objective", s->p_obj[g]);
      fprintf(f, "\"positions_edges\":%d,", s->p_edges[g]);
      bench_json_key(f, "lemon_rel_diff", s->l_diff[r]);
    }
    bench_json_key(f, "lower_bound", s->lb[r]);
    fputs("\"gap\":", f);
    bench_json_num(f, s->gap[r]);
    fputs("}", f);
  }
  fputs("]", f);
}

/* "budget":{...}, of a case with a deadline: overruns of stats.total_ms
 * and of the wall time, requests and emergencies served against greedy. */
static void bench_json_budget(FILE *f, const bench_case *c,
                              const bench_samples *s) {
  fputs("\"budget\":{", f);
  bench_json_dist_minus(f, "overrun_ms", s->total, s->n, c->deadline_ms);
  bench_json_dist_minus(f, "wall_overrun_ms", s->wall, s->n, c->deadline_ms);
  bench_json_idist(f, "served", s->served, s->n);
  bench_json_idist(f, "greedy_served", s->g_served, s->ng);
  bench_json_idist(f, "emergencies", s->n_emerg, s->ng);
  bench_json_idist(f, "emergencies_served", s->emerg, s->n);
  bench_json_idist(f, "greedy_emergencies_served", s->g_emerg, s->ng);
  bench_json_dist(f, "gap", s->gap, s->n);
  bench_json_idist(f, "fallbacks", s->fallbacks, s->n);
  fprintf(f, "\"runs_below_greedy\":%d},\n     ", bench_below_greedy(c, s));
}

/* "lemon":{...}, of a LEMON row: LEMON's times, the ratio, the check. */
static void bench_json_lemon(FILE *f, const bench_opts *o,
                             const bench_samples *s) {
  fprintf(f, "\"lemon\":{\"cost_scaling\":%d,\"nodes\":%d,\"arcs\":%d,",
          o->lemon_cs, s->l_nodes, s->l_arcs);
  bench_json_key(f, "cost_scale", s->l_scale);
  fputs("\n     ", f);
  bench_json_dist(f, "build_ms", s->l_build, s->n);
  bench_json_dist(f, "solve_ms", s->l_solve, s->n);
  bench_json_dist(f, "total_ms", s->l_total, s->n);
  if (o->lemon_cs)
    bench_json_dist(f, "cs_solve_ms", s->l_cs, s->n);
  bench_json_dist(f, "ratio_per_run", s->l_ratio, s->n);
  bench_json_idist(f, "served", s->l_served, s->n);
  bench_json_key(f, "ratio_p50",
                 cm_bench_quantile(s->total, s->n, 0.5) /
                     cm_bench_quantile(s->l_total, s->n, 0.5));
  bench_json_key(f, "rel_diff_max", bench_max(s->l_diff, s->n));
  if (o->lemon_cs)
    bench_json_key(f, "cs_rel_diff_max", bench_max(s->l_cs_diff, s->n));
  bench_json_key(f, "positions_rel_diff_max", bench_max(s->p_diff, s->ng));
  fprintf(f, "\"tolerance\":%g,\"objective_mismatches\":%d},\n     ",
          BENCH_LEMON_TOL, s->mismatches);
}

static void bench_json_case(FILE *f, const bench_opts *o, const bench_case *c,
                            const bench_samples *s) {
  double d[2];
  fprintf(f,
          "    {\"name\":\"%s\",\"kind\":\"%s\",\"regime\":\"%s\","
          "\"requests\":%d,\"workers\":%d,\"k\":%d,\"plain_lp\":%d,"
          "\"seeds\":%d,\"runs\":%d,\"samples\":%d,\n     ",
          c->name, bench_kind_names[c->kind], c->regime, c->n_req, c->n_wrk,
          c->k, c->plain_lp, s->ng, c->runs, s->n);
  bench_json_key(f, "deadline_ms", c->deadline_ms >= 0 ? c->deadline_ms : NAN);
  fputs("\n     ", f);
  bench_json_dist(f, "total_ms", s->total, s->n);
  bench_json_dist(f, "candidates_ms", s->cand, s->n);
  bench_json_dist(f, "build_ms", s->build, s->n);
  bench_json_dist(f, "solve_ms", s->solve, s->n);
  bench_json_dist(f, "wall_ms", s->wall, s->n);
  bench_json_dist(f, "greedy_ms", s->g_ms, s->ng);
  bench_json_dist(f, "ratio_vs_greedy", s->ratio, s->n);
  bench_json_key(f, "objective_mean", bench_mean(s->obj, s->n));
  bench_json_key(f, "greedy_objective_mean", bench_mean(s->g_obj, s->ng));
  bench_json_key(f, "served_mean", bench_imean(s->served, s->n));
  bench_json_key(f, "greedy_served_mean", bench_imean(s->g_served, s->ng));
  fprintf(f,
          "\n     \"exact_runs\":%d,\"fallbacks_max\":%d,"
          "\"fallbacks_total\":%d,\"glpk_iterations_max\":%d,"
          "\"pricing_rounds_max\":%d,",
          bench_isum(s->exact, s->n), bench_imax(s->fallbacks, s->n),
          bench_isum(s->fallbacks, s->n), s->iters_max, s->rounds_max);
  d[0] = bench_quantile_i(s->comps, s->n, 0.5);
  d[1] = bench_quantile_i(s->reduced, s->n, 0.5);
  bench_json_key(f, "components_median", d[0]);
  bench_json_key(f, "reduced_median", d[1]);
  bench_json_key(f, "edges_median", bench_quantile_i(s->edges, s->n, 0.5));
  bench_json_key(f, "gap_max", bench_max(s->gap, s->n));
  bench_json_key(f, "overrun_ms_max", bench_overrun(c, s));
  if (c->plain_lp)
    bench_json_key(f, "rel_diff_vs_default_max", bench_max(s->ref_diff, s->ng));
  bench_json_key(f, "emergencies_served_mean", bench_imean(s->emerg, s->n));
  bench_json_key(f, "greedy_emergencies_served_mean",
                 bench_imean(s->g_emerg, s->ng));
  fputs("\n     ", f);
  if (c->deadline_ms > 0)
    bench_json_budget(f, c, s);
  if (c->kind == BENCH_KIND_LEMON)
    bench_json_lemon(f, o, s);
  fputs("\"error\":", f);
  if (s->failures)
    bench_json_str(f, s->error);
  else
    fputs("null", f);
  fputs(",", f);
  fputs("\n     ", f);
  bench_json_seeds(f, o, c, s);
  fputs("}", f);
}

static void bench_json_head(FILE *f, const bench_opts *o) {
  char date[32] = "";
  time_t now = time(NULL);
  struct tm tmv;
  if (gmtime_r(&now, &tmv))
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tmv);
  fprintf(f, "{\"bench\":\"solve\",\"version\":\"%s\",\"date\":\"%s\",\n",
          CM_VERSION, date);
  fprintf(f,
          " \"options\":{\"seeds\":%d,\"runs\":%d,\"seed0\":%llu,"
          "\"plain_lp\":%d,\"plain_lp_max\":%d,\"lemon\":%d,"
          "\"lemon_cs\":%d,\"threads\":%d,\"deadline_ms\":",
          o->seeds, o->runs, (unsigned long long)o->seed0, o->plain_lp,
          o->plain_lp_max, o->lemon, o->lemon_cs, o->threads);
  bench_json_num(f, o->deadline_ms >= 0 ? o->deadline_ms : NAN);
  fputs("},\n \"cases\":[\n", f);
}

/* 1 when name contains one of the comma-separated parts of only (or only
 * is NULL). */
static int bench_only(const char *only, const char *name) {
  char part[64];
  if (!only)
    return 1;
  for (const char *p = only; *p;) {
    size_t len = strcspn(p, ",");
    if (len > 0 && len < sizeof part) {
      memcpy(part, p, len);
      part[len] = '\0';
      if (strstr(name, part))
        return 1;
    }
    p += len + (p[len] == ',');
  }
  return 0;
}

/* Append a case unless --only filters it out. */
static void bench_add_case(const bench_opts *o, bench_case *cs, int *n,
                           bench_kind kind, const char *regime, int req,
                           int wrk, int k, double deadline_ms, int plain) {
  bench_case *c = &cs[*n];
  size_t len;
  c->kind = kind;
  c->regime = regime;
  c->n_req = req;
  c->n_wrk = wrk;
  c->k = k;
  c->plain_lp = plain;
  c->network = 0;
  c->deadline_ms = deadline_ms;
  c->runs = plain ? 1 : o->runs;
  c->team_share = strcmp(regime, "teams") == 0 ? 0.03 : 0.0;
  snprintf(c->name, sizeof c->name, "%s%s%s %dx%d K%d%s",
           kind == BENCH_KIND_CASE ? "" : bench_kind_names[kind],
           kind == BENCH_KIND_CASE ? "" : " ", regime, req, wrk, k,
           plain ? " plain-lp" : "");
  len = strlen(c->name);
  if (deadline_ms >= 0)
    snprintf(c->name + len, sizeof c->name - len, " dl%g", deadline_ms);
  if (bench_only(o->only, c->name))
    (*n)++;
}

/* The cases: every size at K = 8 and 16 with the deadline of the options;
 * a few sizes also with fixed deadlines (the fallback at work); the
 * plain-LP anchors after their case. */
static void bench_cases_regimes(const bench_opts *o, bench_case *cs, int *n) {
  static const struct {
    const char *regime;
    int req, wrk;
  } sizes[] = {
      {"plenty", 100, 1000},   {"plenty", 500, 5000}, {"plenty", 2000, 20000},
      {"plenty", 5000, 50000}, {"scarce", 200, 200},  {"scarce", 500, 500},
      {"scarce", 2000, 2000},  {"teams", 500, 5000},  {"teams", 2000, 20000},
  };
  static const struct {
    int req, wrk;
    double deadline_ms;
  } extra[] = {{5000, 50000, 50.0}, {2000, 2000, 100.0}, {2000, 2000, 20.0}};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    for (int k = 8; k <= 16; k *= 2) {
      const char *rg = sizes[i].regime;
      int req = sizes[i].req, wrk = sizes[i].wrk;
      bench_add_case(o, cs, n, BENCH_KIND_CASE, rg, req, wrk, k, o->deadline_ms,
                     0);
      for (size_t d = 0; d < sizeof extra / sizeof extra[0]; d++)
        if (extra[d].req == req && extra[d].wrk == wrk &&
            extra[d].deadline_ms != o->deadline_ms)
          bench_add_case(o, cs, n, BENCH_KIND_CASE, rg, req, wrk, k,
                         extra[d].deadline_ms, 0);
      if (o->plain_lp && req <= o->plain_lp_max)
        bench_add_case(o, cs, n, BENCH_KIND_CASE, rg, req, wrk, k, -1.0, 1);
    }
}

/* The budget rows: deadlines 1, 5, 20 and 50 ms on scarce 2000x2000 K16
 * and plenty 5000x50000 K8 (issue 12, item 5). */
static void bench_cases_budget(const bench_opts *o, bench_case *cs, int *n) {
  static const struct {
    const char *regime;
    int req, wrk, k;
  } sizes[] = {{"scarce", 2000, 2000, 16}, {"plenty", 5000, 50000, 8}};
  static const double budgets[] = {1.0, 5.0, 20.0, 50.0};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    for (size_t d = 0; d < sizeof budgets / sizeof budgets[0]; d++)
      bench_add_case(o, cs, n, BENCH_KIND_BUDGET, sizes[i].regime, sizes[i].req,
                     sizes[i].wrk, sizes[i].k, budgets[d], 0);
}

/* The LEMON rows: one-person instances only (min-cost flow), no deadline. */
static void bench_cases_lemon(const bench_opts *o, bench_case *cs, int *n) {
  static const struct {
    const char *regime;
    int req, wrk, k;
  } sizes[] = {
      {"plenty", 100, 1000, 16},  {"scarce", 500, 500, 16},
      {"scarce", 2000, 2000, 16}, {"plenty", 2000, 20000, 16},
      {"plenty", 5000, 50000, 8}, {"plenty", 5000, 50000, 16},
  };
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    bench_add_case(o, cs, n, BENCH_KIND_LEMON, sizes[i].regime, sizes[i].req,
                   sizes[i].wrk, sizes[i].k, -1.0, 0);
}

/* The engine rows: the scarce peaks solved by each network engine alone
 * (successive shortest paths, the simplex from the greedy floor and from an
 * empty start), no deadline: what the choice and the warm start buy. */
static void bench_cases_engine(const bench_opts *o, bench_case *cs, int *n) {
  static const char *const engines[] = {"ssp", "simplex", "simplex-cold"};
  static const int sizes[] = {500, 2000};
  bench_opts all = *o; /* filtered below, on the name with the engine */
  all.only = NULL;
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    for (int e = 0; e < 3; e++) {
      int before = *n;
      bench_add_case(&all, cs, n, BENCH_KIND_CASE, "scarce", sizes[i], sizes[i],
                     16, -1.0, 0);
      bench_case *c = &cs[before];
      size_t len = strlen(c->name);
      c->network = e + 1;
      snprintf(c->name + len, sizeof c->name - len, " %s", engines[e]);
      if (!bench_only(o->only, c->name))
        (*n)--;
    }
}

/* Build the case list, grouped by kind (one table each). Returns the
 * count. */
static int bench_cases(const bench_opts *o, bench_case *cs) {
  int n = 0;
  bench_cases_regimes(o, cs, &n);
  bench_cases_engine(o, cs, &n);
  bench_cases_budget(o, cs, &n);
  if (o->lemon)
    bench_cases_lemon(o, cs, &n);
  return n;
}

static void bench_usage(FILE *f) {
  fputs(
      "usage: bench_solve [--quick] [--seeds N] [--runs N] [--seed0 N]\n"
      "                   [--deadline MS] [--plain-lp] [--plain-lp-max N]\n"
      "                   [--no-lemon] [--lemon-cs] [--threads N]\n"
      "                   [--only SUBSTRING] [--out FILE.json]\n"
      "  --quick         1 seed x 1 run unless --seeds/--runs given\n"
      "                  (default 10 seeds x 5 runs)\n"
      "  --deadline MS   budget of every case (default none); scarce\n"
      "                  2000x2000 also runs with 100 and 20 ms\n"
      "  --plain-lp      add anchors: plain GLPK simplex on the whole batch,\n"
      "                  no reductions or components (requests <= 500,\n"
      "                  or --plain-lp-max N)\n"
      "  --no-lemon      skip the LEMON rows (only built with liblemon-dev)\n"
      "  --lemon-cs      LEMON rows also run CostScaling\n"
      "  --threads N     cm_solve_options.threads of every solve (default 0:\n"
      "                  one thread)\n"
      "  --only S[,S..]  run only cases whose name contains one S\n"
      "                  (--only budget: the budget rows; --only lemon)\n"
      "  --out FILE      write the JSON report (default none)\n",
      f);
}

/* Parse an integer option value >= lo. Returns 0 or -1. */
static int bench_int_arg(const char *s, long lo, long *out) {
  char *end;
  errno = 0;
  *out = strtol(s, &end, 10);
  return errno || *end || end == s || *out < lo ? -1 : 0;
}

/* An option without a value; returns 1 when a was one. */
static int bench_flag(const char *a, bench_opts *o, int *quick) {
  if (!strcmp(a, "--quick"))
    *quick = 1;
  else if (!strcmp(a, "--plain-lp"))
    o->plain_lp = 1;
  else if (!strcmp(a, "--no-lemon"))
    o->lemon = 0;
  else if (!strcmp(a, "--lemon-cs"))
    o->lemon_cs = 1;
  else
    return 0;
  return 1;
}

/* Returns 0, 1 (help shown) or -1 (bad usage). */
static int bench_parse(int argc, char **argv, bench_opts *o) {
  int quick = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    long n;
    if (!strcmp(a, "--help") || !strcmp(a, "-h"))
      return 1;
    if (bench_flag(a, o, &quick))
      continue;
    if (!v)
      return -1;
    i++;
    if (!strcmp(a, "--out"))
      o->out = v;
    else if (!strcmp(a, "--only"))
      o->only = v;
    else if (!strcmp(a, "--deadline")) {
      char *end;
      o->deadline_ms = strtod(v, &end);
      if (*end || end == v || !isfinite(o->deadline_ms))
        return -1;
    } else if (bench_int_arg(v, 0, &n) != 0)
      return -1;
    else if (!strcmp(a, "--seeds") && n > 0)
      o->seeds = (int)n;
    else if (!strcmp(a, "--runs") && n > 0)
      o->runs = (int)n;
    else if (!strcmp(a, "--seed0"))
      o->seed0 = (uint64_t)n;
    else if (!strcmp(a, "--plain-lp-max"))
      o->plain_lp_max = (int)n;
    else if (!strcmp(a, "--threads") && n <= 64)
      bench_threads = o->threads = (int)n;
    else
      return -1;
  }
  if (!o->seeds)
    o->seeds = quick ? 1 : 10;
  if (!o->runs)
    o->runs = quick ? 1 : 5;
  return 0;
}

/* Run every case: a table per kind, a row per case, appended to the report
 * f (when not NULL) as it finishes. Returns the number of cases that failed
 * or whose objective disagreed with LEMON's, or -1 when out of memory. */
static int bench_run_all(const bench_opts *o, const bench_case *cases, int n,
                         FILE *f) {
  int failed = 0;
  for (int i = 0; i < n; i++) {
    bench_samples s;
    if (i == 0 || cases[i].kind != cases[i - 1].kind)
      bench_table_head(cases[i].kind);
    if (bench_samples_init(&s, o->seeds * cases[i].runs, o->seeds) != 0)
      return -1;
    s.failures = bench_run_case(o, &cases[i], &s) != 0;
    failed += s.failures || s.mismatches;
    bench_table_row(o, &cases[i], &s);
    if (f) {
      bench_json_case(f, o, &cases[i], &s);
      fputs(i + 1 < n ? ",\n" : "\n", f);
      fflush(f);
    }
    bench_samples_free(&s);
  }
  return failed;
}

int main(int argc, char **argv) {
  bench_opts o = {0, 0, -1.0, 0, 500, 1, NULL, NULL, BENCH_HAVE_LEMON, 0, 0};
  bench_case cases[BENCH_MAX_CASES];
  FILE *f = NULL;
  int n, rc, failed;
  rc = bench_parse(argc, argv, &o);
  if (rc != 0) {
    bench_usage(rc > 0 ? stdout : stderr);
    return rc > 0 ? 0 : 2;
  }
  n = bench_cases(&o, cases);
  if (n == 0) {
    fprintf(stderr, "bench_solve: no case matches '%s'%s\n", o.only,
            BENCH_HAVE_LEMON ? "" : " (built without LEMON: no lemon rows)");
    return 2;
  }
  if (o.out && !(f = fopen(o.out, "w"))) {
    fprintf(stderr, "bench_solve: cannot write %s: %s\n", o.out,
            strerror(errno));
    return 1;
  }
  if (f)
    bench_json_head(f, &o);
  printf("carematch %s solve bench: %d cases, %d seeds x %d runs; times in "
         "ms (median unless p99)\n",
         CM_VERSION, n, o.seeds, o.runs);
  failed = bench_run_all(&o, cases, n, f);
  if (failed < 0)
    fputs("bench_solve: out of memory\n", stderr);
  if (f) {
    fputs(" ]}\n", f);
    fclose(f);
  }
  return failed ? 1 : 0;
}
