/* sim.h -- a day of dispatch in process: the engine library on a
 * simulated clock, staff who answer offers, travel at their speed, serve
 * and report their positions, and the KPIs of the day. */
#ifndef CM_SIM_SIM_H_INCLUDED_
#define CM_SIM_SIM_H_INCLUDED_

#include "carematch/engine.h"
#include "scenario.h"

typedef struct sim_policy {
  const char *name;   /* "optimal", "greedy" */
  double budget_ms;   /* the solver's budget; 0 is the greedy fallback */
  cm_weights weights; /* cost weights */
  int64_t window_ms;  /* batch window (300) */
  int no_reserve;     /* the engine's emergency reserve off */
} sim_policy;

/* KPIs of one run (docs/sim.md). Times in minutes. */
typedef struct sim_kpis {
  char policy[32];
  int requests[CM_URGENCY_COUNT];
  double offer_p50[CM_URGENCY_COUNT], offer_p95[CM_URGENCY_COUNT],
      offer_p99[CM_URGENCY_COUNT];
  double arrive_p50[CM_URGENCY_COUNT], arrive_p95[CM_URGENCY_COUNT],
      arrive_p99[CM_URGENCY_COUNT];
  int arrived[CM_URGENCY_COUNT];
  int done;                             /* jobs completed */
  int unassigned;                       /* never served by the day's end */
  int expired, rejected;                /* offers that lapsed / were refused */
  double travel_km;                     /* all staff, the whole day */
  double travel_per_job;                /* km */
  int teams, teams_staffed, teams_half; /* two-person requests */
  double gini;                          /* of jobs per worker on shift */
  double continuity; /* share of jobs for an elder the worker served */
  double batch_p50_ms, batch_p99_ms, batch_max_ms;
  uint64_t batches, fallbacks;
  double floor_km; /* the hindsight floor of the jobs done (floor.c) */
  double wall_s;   /* real time the run took */
  /* the day hour by hour (plots): requests arriving, their mean wait for
     an offer (min), staff on shift and busy (sampled on the hour) */
  int hour_requests[24];
  double hour_offer_wait[24];
  int hour_on_shift[24], hour_busy[24];
  /* every arrival time by urgency (min), sorted, owned: sim_kpis_free */
  double *arrivals[CM_URGENCY_COUNT];
} sim_kpis;

/* Free what a run's KPIs own. */
void sim_kpis_free(sim_kpis *k);

void sim_policy_default(sim_policy *p, const char *name, double budget_ms);

/* Run the day. progress (may be NULL) is called now and then with the
 * share of the day done. Returns 0, or -1 with msg. */
int sim_run(const sim_scenario *s, const sim_policy *p, sim_kpis *out,
            void (*progress)(double done, void *ctx), void *ctx, char *msg,
            size_t n);

/* The hindsight floor of a day's travel, km: the jobs (all, or those with
 * served[q] set) reached each from a worker's home or another job's place,
 * at least cost, as one batch. -1 with msg on failure. */
double sim_floor_km(const sim_scenario *s, const unsigned char *served,
                    char *msg, size_t n);

#endif
