/* test_sim_days.c -- the simulator's days and their honest KPIs (issue 16):
 * two seeds give independent days (no request of one is a request of the
 * other, no home in common) and one seed the same day twice, of every
 * kind; the kinds are what they say; the KPIs count an unserved request
 * as a breach and as never arrived; the bootstrap intervals are fixed by
 * their seed, hold the ratio, and tell a real difference from none. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "sim.h"
#include "stats.h"

static sim_scenario *day(uint64_t seed, const char *kind, int workers,
                         int requests) {
  sim_spec spec;
  sim_spec_init(&spec);
  spec.seed = seed;
  if (workers > 0)
    spec.workers = workers;
  if (requests > 0)
    spec.requests = requests;
  cr_assert_eq(sim_spec_kind(&spec, kind), 0);
  char msg[128];
  sim_scenario *s = sim_scenario_generate(&spec, msg, sizeof msg);
  cr_assert_not_null(s, "%s", msg);
  return s;
}

/* A request as the issue names it: call time, service, elder. */
typedef struct triple {
  int64_t at_ms;
  int service;
  int elder;
} triple;

static int cmp_triple(const void *a, const void *b) {
  const triple *x = a, *y = b;
  if (x->at_ms != y->at_ms)
    return x->at_ms < y->at_ms ? -1 : 1;
  if (x->service != y->service)
    return x->service - y->service;
  return x->elder - y->elder;
}

static triple *triples(const sim_scenario *s) {
  triple *t = malloc((size_t)s->n_requests * sizeof *t);
  cr_assert_not_null(t);
  for (int q = 0; q < s->n_requests; q++)
    t[q] = (triple){s->requests[q].at_ms, s->requests[q].service,
                    atoi(s->requests[q].elder + 1)};
  qsort(t, (size_t)s->n_requests, sizeof *t, cmp_triple);
  return t;
}

/* Requests of b that are also requests of a (same call time to the ms,
 * service and elder). */
static int shared_requests(const sim_scenario *a, const sim_scenario *b) {
  triple *ta = triples(a), *tb = triples(b);
  int shared = 0;
  for (int q = 0; q < b->n_requests; q++)
    shared += bsearch(&tb[q], ta, (size_t)a->n_requests, sizeof *ta,
                      cmp_triple) != NULL;
  free(ta);
  free(tb);
  return shared;
}

/* Workers of b with a home, skills and shift of a worker of a. */
static int shared_staff(const sim_scenario *a, const sim_scenario *b) {
  int shared = 0;
  for (int j = 0; j < b->n_workers; j++)
    for (int i = 0; i < a->n_workers; i++) {
      const sim_worker *x = &a->workers[i], *y = &b->workers[j];
      if (x->lat == y->lat && x->lon == y->lon) {
        shared++;
        break;
      }
    }
  return shared;
}

/* The seeds: 1, 2, 3, 7 and 11 gave the same 6,000 requests. */
Test(sim_days, two_seeds_share_no_request_and_no_home) {
  static const uint64_t seeds[] = {1, 2, 3, 7, 11};
  enum { N = sizeof seeds / sizeof *seeds };
  sim_scenario *s[N];
  for (int i = 0; i < N; i++)
    s[i] = day(seeds[i], "normal", 0, 0);
  for (int i = 0; i < N; i++)
    for (int j = i + 1; j < N; j++) {
      cr_expect_eq(shared_requests(s[i], s[j]), 0,
                   "seeds %llu and %llu share %d of %d requests",
                   (unsigned long long)seeds[i], (unsigned long long)seeds[j],
                   shared_requests(s[i], s[j]), s[j]->n_requests);
      cr_expect_eq(shared_staff(s[i], s[j]), 0,
                   "seeds %llu and %llu share homes",
                   (unsigned long long)seeds[i], (unsigned long long)seeds[j]);
    }
  for (int i = 0; i < N; i++)
    sim_scenario_free(s[i]);
}

Test(sim_days, a_seed_is_the_same_day_of_every_kind) {
  static const char *const kinds[] = {"normal", "sparse", "surge"};
  for (int k = 0; k < 3; k++) {
    sim_scenario *a = day(5, kinds[k], 300, 1000);
    sim_scenario *b = day(5, kinds[k], 300, 1000);
    sim_scenario *c = day(6, kinds[k], 300, 1000);
    cr_assert_eq(a->n_requests, b->n_requests);
    cr_assert_eq(a->n_workers, b->n_workers);
    cr_expect(memcmp(a->requests, b->requests,
                     (size_t)a->n_requests * sizeof *a->requests) == 0,
              "%s", kinds[k]);
    cr_expect(memcmp(a->workers, b->workers,
                     (size_t)a->n_workers * sizeof *a->workers) == 0,
              "%s", kinds[k]);
    cr_expect_eq(shared_requests(a, c), 0, "%s", kinds[k]);
    sim_scenario_free(a);
    sim_scenario_free(b);
    sim_scenario_free(c);
  }
}

/* The spread of the staff's homes, km (the larger side of their box). */
static double staff_span_km(const sim_scenario *s) {
  double lo[2] = {1e9, 1e9}, hi[2] = {-1e9, -1e9};
  for (int i = 0; i < s->n_workers; i++) {
    double v[2] = {s->workers[i].lat, s->workers[i].lon};
    for (int k = 0; k < 2; k++) {
      lo[k] = fmin(lo[k], v[k]);
      hi[k] = fmax(hi[k], v[k]);
    }
  }
  return fmax(hi[0] - lo[0], hi[1] - lo[1]) * 111;
}

Test(sim_days, the_kinds_are_what_they_say) {
  sim_spec spec;
  sim_spec_init(&spec);
  cr_expect_eq(sim_spec_kind(&spec, "rural"), -1);
  sim_scenario *n = day(9, "normal", 0, 0), *sp = day(9, "sparse", 0, 0),
               *su = day(9, "surge", 0, 0);
  cr_expect_eq(su->n_requests, 2 * n->n_requests);
  cr_expect_eq(su->n_workers, n->n_workers);
  cr_expect_lt(sp->n_workers, n->n_workers / 2);
  cr_expect_gt(staff_span_km(sp), 1.5 * staff_span_km(n), "%.1f against %.1f",
               staff_span_km(sp), staff_span_km(n));
  sim_scenario_free(n);
  sim_scenario_free(sp);
  sim_scenario_free(su);
}

/* ---- the honest KPIs, on runs built by hand ---- */

/* A run of n requests of urgency u arriving at arrive[i] (INFINITY:
 * never), and one worker with km and jobs. */
static void fake_run(sim_kpis *k, const char *policy, int u,
                     const double *arrive, int n, double km, int jobs) {
  memset(k, 0, sizeof *k);
  snprintf(k->policy, sizeof k->policy, "%s", policy);
  k->outcomes = calloc((size_t)n, sizeof *k->outcomes);
  k->worker_days = calloc(1, sizeof *k->worker_days);
  cr_assert(k->outcomes && k->worker_days);
  k->n_outcomes = n;
  for (int i = 0; i < n; i++)
    k->outcomes[i] =
        (sim_outcome){u, i % SIM_AREAS, arrive[i], arrive[i], 0, 0};
  k->n_worker_days = 1;
  k->worker_days[0] = (sim_worker_day){1, jobs, km, 1, 0};
  k->done = jobs;
  k->travel_km = km;
}

Test(sim_days, the_unserved_are_breaches_and_never_arrive) {
  sim_sla sla;
  sim_sla_init(&sla);
  cr_expect_eq(sla.target_min[CM_URGENCY_EMERGENCY], 15);
  double arrive[20];
  for (int i = 0; i < 20; i++)
    arrive[i] = i < 17 ? 5 : INFINITY; /* 3 of 20 never served: 15% */
  sim_kpis k;
  fake_run(&k, "p", CM_URGENCY_EMERGENCY, arrive, 20, 10, 17);
  const sim_kpis *one = &k;
  sim_summary m;
  cr_assert_eq(sim_summarize(&one, 1, &sla, &m), 0);
  cr_expect_eq(m.requests[0], 20);
  cr_expect_eq(m.arrived[0], 17);
  cr_expect_eq(m.breaches[0], 3, "the unserved are breaches");
  cr_expect_eq(m.arrival_all[0].p50, 5);
  cr_expect(isinf(m.arrival_all[0].p95), "p95 beyond the served: never");
  arrive[0] = 16; /* one late */
  sim_kpis_free(&k);
  fake_run(&k, "p", CM_URGENCY_EMERGENCY, arrive, 20, 10, 17);
  cr_assert_eq(sim_summarize(&one, 1, &sla, &m), 0);
  cr_expect_eq(m.breaches[0], 4);
  char msg[128];
  cr_expect_eq(sim_sla_parse("emergency=20,normal=90", &sla, msg, sizeof msg),
               0);
  cr_expect_eq(sla.target_min[CM_URGENCY_EMERGENCY], 20);
  cr_expect_eq(sla.target_min[CM_URGENCY_NORMAL], 90);
  cr_expect_eq(sla.target_min[CM_URGENCY_URGENT], 60);
  cr_assert_eq(sim_summarize(&one, 1, &sla, &m), 0);
  cr_expect_eq(m.breaches[0], 3, "16 min is within 20");
  cr_expect_eq(sim_sla_parse("emergency=0", &sla, msg, sizeof msg), -1);
  cr_expect_eq(sim_sla_parse("rush=5", &sla, msg, sizeof msg), -1);
  cr_expect_neq(strstr(msg, "rush"), NULL, "%s", msg);
  sim_kpis_free(&k);
}

static const sim_ratio *find(const sim_ratio *r, int n, int a, int b,
                             int metric) {
  for (int i = 0; i < n; i++)
    if (r[i].a == a && r[i].b == b && r[i].metric == metric)
      return &r[i];
  cr_assert_fail("no ratio %d/%d of metric %d", a, b, metric);
  return NULL;
}

Test(sim_days, bootstrap_intervals_tell_a_difference_from_none) {
  enum { N = 400 };
  double fast[N], slow[N];
  for (int i = 0; i < N; i++) {
    fast[i] = 1 + (i * 7919 % 100) / 5.0; /* 1..21 min, 30% over 15 */
    slow[i] = 2 * fast[i];                /* twice as long */
  }
  sim_kpis k[3];
  fake_run(&k[0], "fast", CM_URGENCY_EMERGENCY, fast, N, 50, 10);
  fake_run(&k[1], "same", CM_URGENCY_EMERGENCY, fast, N, 50, 10);
  fake_run(&k[2], "slow", CM_URGENCY_EMERGENCY, slow, N, 100, 10);
  const sim_kpis *runs[3] = {&k[0], &k[1], &k[2]};
  sim_sla sla;
  sim_sla_init(&sla);
  sim_ratio r[3 * SIM_METRICS], again[3 * SIM_METRICS];
  int n = sim_compare(runs, 1, 3, 200, SIM_BOOT_SEED, &sla, r);
  cr_assert_eq(n, 3 * SIM_METRICS);
  /* fast against the same: 1, and the interval is [1, 1] (paired) */
  const sim_ratio *x = find(r, n, 0, 1, SIM_M_ARRIVAL_P95);
  cr_expect_float_eq(x->ratio, 1, 1e-12);
  cr_expect_float_eq(x->lo, 1, 1e-12);
  cr_expect_float_eq(x->hi, 1, 1e-12);
  /* fast against slow: 0.5 at p50 and p95, for travel per job too */
  x = find(r, n, 0, 2, SIM_M_ARRIVAL_P50);
  cr_expect_float_eq(x->ratio, 0.5, 1e-12);
  cr_expect(x->lo <= 0.5 && x->hi >= 0.5, "[%g, %g]", x->lo, x->hi);
  x = find(r, n, 0, 2, SIM_M_TRAVEL_PER_JOB);
  cr_expect_float_eq(x->ratio, 0.5, 1e-12);
  /* breaches: fast breaches a fifth of slow's, far from 1 */
  x = find(r, n, 0, 2, SIM_M_BREACHES + CM_URGENCY_EMERGENCY);
  cr_expect_lt(x->ratio, 0.5, "%g", x->ratio);
  cr_expect(x->lo <= x->ratio && x->ratio <= x->hi && x->hi < 1, "%g [%g, %g]",
            x->ratio, x->lo, x->hi);
  /* no urgent work at all: undefined, not 1 */
  x = find(r, n, 0, 2, SIM_M_ARRIVAL_P50 + CM_URGENCY_URGENT);
  cr_expect(isnan(x->ratio) && isnan(x->lo));
  /* the same seed, the same intervals; another seed, others */
  cr_assert_eq(sim_compare(runs, 1, 3, 200, SIM_BOOT_SEED, &sla, again), n);
  cr_expect(memcmp(r, again, sizeof r) == 0, "a fixed seed repeats");
  /* two days pooled: the same figures, twice the requests */
  const sim_kpis *two[6] = {&k[0], &k[1], &k[2], &k[0], &k[1], &k[2]};
  cr_assert_eq(sim_compare(two, 2, 3, 200, SIM_BOOT_SEED, &sla, again), n);
  const sim_ratio *one = find(r, n, 0, 2, SIM_M_BREACHES);
  const sim_ratio *y = find(again, n, 0, 2, SIM_M_BREACHES);
  cr_expect_float_eq(y->ratio, one->ratio, 1e-12);
  cr_expect_lt(y->hi - y->lo, one->hi - one->lo,
               "two days narrow the interval: [%g, %g] against [%g, %g]", y->lo,
               y->hi, one->lo, one->hi);
  for (int i = 0; i < 3; i++)
    sim_kpis_free(&k[i]);
}

/* A small day in process: one outcome per request, the unserved among the
 * breaches, each worker's jobs adding up to the staff places served. */
Test(sim_days, a_run_keeps_every_request_and_worker) {
  sim_scenario *s = day(4, "normal", 60, 240);
  sim_policy p;
  sim_policy_init(&p, "greedy", 0);
  sim_kpis k;
  char msg[128];
  cr_assert_eq(sim_run(s, &p, &k, NULL, NULL, msg, sizeof msg), 0, "%s", msg);
  cr_assert_eq(k.n_outcomes, s->n_requests);
  cr_assert_eq(k.n_worker_days, s->n_workers);
  sim_sla sla;
  sim_sla_init(&sla);
  sim_summary m;
  const sim_kpis *one = &k;
  cr_assert_eq(sim_summarize(&one, 1, &sla, &m), 0);
  int breaches = 0, arrived = 0, jobs = 0;
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    breaches += m.breaches[u];
    arrived += m.arrived[u];
    cr_expect_eq(m.arrived[u], k.arrived[u]);
    cr_expect_eq(m.requests[u], k.requests[u]);
  }
  cr_expect_geq(breaches, s->n_requests - arrived);
  cr_expect_gt(s->n_requests - arrived, 0, "an overloaded day leaves some");
  for (int q = 0; q < s->n_requests; q++)
    if (isfinite(k.outcomes[q].arrive_min))
      cr_expect(isfinite(k.outcomes[q].accept_min));
  for (int i = 0; i < k.n_worker_days; i++) {
    jobs += k.worker_days[i].jobs;
    cr_expect_geq(k.worker_days[i].busy_h * 60 + 1e-9,
                  k.worker_days[i].overtime_min);
  }
  cr_expect_geq(jobs, k.done); /* a team's job counts for each member */
  cr_expect_leq(jobs, 2 * k.done);
  sim_kpis_free(&k);
  sim_scenario_free(s);
}
