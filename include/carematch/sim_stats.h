/* sim_stats.h -- the honest KPIs of runs (docs/sim.md, "Honest KPIs"):
 * service-level breaches and percentiles that count an unserved request
 * as never arrived, time to an accepted offer, each worker's day, equity
 * by area; pooled over days; and every policy-vs-policy ratio with a 95%
 * bootstrap interval. Pure functions of the runs' outcomes (sim.h). */
#ifndef CM_SIM_STATS_H_INCLUDED_
#define CM_SIM_STATS_H_INCLUDED_

#include <stddef.h>

#include "carematch/error.h"
#include "carematch/export.h"
#include "carematch/sim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Service-level targets: time to arrival, minutes, by urgency, from the
 * call (scheduled: from the window's start, so 15 is "within 15 minutes of
 * the slot"; a worker early waits for the slot, so early is on time). */
typedef struct cm_sim_sla {
  double target_min[CM_URGENCY_COUNT];
} cm_sim_sla;

/* The defaults: emergency 15, urgent 60, normal 120, scheduled 15. */
CM_EXPORT void cm_sim_sla_init(cm_sim_sla *s);

/* p50, p95 and the largest value (or p99) */
typedef struct cm_sim_pcts {
  double p50, p95, top;
} cm_sim_pcts;

/* One policy over one day or several pooled. Percentiles pool every
 * request (or worker) of every day; INFINITY is "never". */
typedef struct cm_sim_summary {
  int days;
  int requests[CM_URGENCY_COUNT];
  int arrived[CM_URGENCY_COUNT];
  int breaches[CM_URGENCY_COUNT]; /* arrived after the target, or never */
  int accepted[CM_URGENCY_COUNT]; /* an offer accepted */
  cm_sim_pcts arrival_all[CM_URGENCY_COUNT]; /* top is p99 */
  cm_sim_pcts accept_all[CM_URGENCY_COUNT];  /* top is p99 */
  int jobs;                                  /* done */
  double km, km_per_job;
  int staff; /* came on shift */
  cm_sim_pcts w_jobs, w_km, w_busy_h,
      w_over;         /* over staff on shift; top: max */
  double overtime_h;  /* all staff */
  int overtime_staff; /* staff with any overtime */
  int area_requests[CM_SIM_AREAS], area_breaches[CM_SIM_AREAS];
  double area_arrival_p50[CM_SIM_AREAS]; /* INFINITY: half never arrived */
  /* the share breached in the best and the worst area (of those with at
     least 1% of the requests) */
  double area_breach_min, area_breach_max;
  /* by service (the first run's services; days of one generator share
     them): requests, breaches against their urgency's target, arrival p50
     over every request, and the hours on site asked over the capable
     staff's shift hours (cm_sim_kpis), summed over the days */
  int n_services;
  int service_requests[CM_SIM_SERVICES_MAX];
  int service_breaches[CM_SIM_SERVICES_MAX];
  double service_arrival_p50[CM_SIM_SERVICES_MAX]; /* INFINITY: never */
  double service_onsite_h[CM_SIM_SERVICES_MAX];
  double service_capable_h[CM_SIM_SERVICES_MAX];
} cm_sim_summary;

/* The summary of runs[0..n-1], one policy's days, into *out. Returns
 * CM_OK, or CM_E_NOMEM (out of memory, or a run whose outcomes its own
 * lack of memory left out). */
CM_EXPORT cm_status cm_sim_summarize(const cm_sim_kpis *const *runs, int n,
                                     const cm_sim_sla *sla,
                                     cm_sim_summary *out);

/* The ratios compared, a policy's figure over another's. */
enum {
  CM_SIM_M_BREACHES = 0,    /* + urgency: sla_breaches */
  CM_SIM_M_ARRIVAL_P50 = 4, /* + urgency: arrival_min_all.p50 */
  CM_SIM_M_ARRIVAL_P95 = 8, /* + urgency: arrival_min_all.p95 */
  CM_SIM_M_TRAVEL_PER_JOB = 12,
  CM_SIM_METRICS = 13
};
/* "emergency.sla_breaches", ..., "travel_km_per_job" */
CM_EXPORT void cm_sim_metric_name(int metric, char *buf, size_t n);

/* The bootstrap: resamples, and the seed of its generator (fixed, so a
 * run's intervals repeat). */
#define CM_SIM_BOOT_RESAMPLES 1000
#define CM_SIM_BOOT_SEED 20261205ULL

typedef struct cm_sim_ratio {
  int a, b;      /* policies: a's figure over b's */
  int metric;    /* CM_SIM_M_* */
  double ratio;  /* NAN: 0 over 0 or never over never; INFINITY: over 0 */
  double lo, hi; /* the 95% interval (2.5th and 97.5th percentiles of the
                    resampled ratios); NAN when under half are defined,
                    INFINITY when the top is unbounded */
} cm_sim_ratio;

/* Every pair a < b of np policies over nd days, runs[d * np + p], each
 * metric: the pooled ratio and its interval. The bootstrap resamples each
 * day's requests (and, for travel per job, its workers) with replacement,
 * the same draw for every policy (paired), days apart (stratified).
 * out holds np * (np - 1) / 2 * CM_SIM_METRICS. Returns the count, or -1
 * (out of memory, or the policies of a day saw different requests). */
CM_EXPORT int cm_sim_compare(const cm_sim_kpis *const *runs, int nd, int np,
                             int resamples, uint64_t seed,
                             const cm_sim_sla *sla, cm_sim_ratio *out);

#ifdef __cplusplus
}
#endif

#endif
