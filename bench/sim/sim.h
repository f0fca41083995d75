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
  /* the part of the day: requests arriving in [from_ms, until_ms), then
     drain_ms for the jobs under way; all 0: the whole day */
  int64_t from_ms, until_ms, drain_ms;
  int floors;     /* compute the hindsight floors (minutes on a big day) */
  int no_reserve; /* the engine's emergency reserve off */
} sim_policy;

/* What became of one request submitted in a run: the raw material of the
 * honest KPIs (stats.c), kept per request so days can be pooled and
 * resampled. */
typedef struct sim_outcome {
  int urgency;       /* cm_urgency */
  int area;          /* 0..SIM_AREAS-1: the cell of a 3 x 3 grid over the
                        day's requests, row (south to north) * 3 + column */
  double arrive_min; /* to arrival, from the call or the window's start
                        (0 when early); INFINITY: never arrived */
  double accept_min; /* from the call to the offer accepted (by every
                        member); INFINITY: never accepted */
} sim_outcome;

#define SIM_AREAS 9

/* One worker's day in a run. */
typedef struct sim_worker_day {
  int on_shift;        /* came on shift in the run */
  int jobs;            /* jobs done */
  double km;           /* travelled */
  double busy_h;       /* travelling to or at a job, hours */
  double overtime_min; /* at work past the shift's end */
} sim_worker_day;

/* KPIs of one run (docs/sim.md). Times in minutes. */
typedef struct sim_kpis {
  char policy[32];
  int requests[CM_URGENCY_COUNT];
  double offer_p50[CM_URGENCY_COUNT], offer_p95[CM_URGENCY_COUNT],
      offer_p99[CM_URGENCY_COUNT];
  double arrive_p50[CM_URGENCY_COUNT], arrive_p95[CM_URGENCY_COUNT],
      arrive_p99[CM_URGENCY_COUNT];
  int arrived[CM_URGENCY_COUNT];
  int done;              /* jobs completed */
  int unassigned;        /* never served by the day's end */
  int in_flight;         /* staff on the way or on site when the run ended */
  int expired, rejected; /* offers that lapsed / were refused */
  double travel_km;      /* all staff, the whole day */
  double travel_per_job; /* km */
  int teams, teams_staffed, teams_half; /* two-person requests */
  double gini;                          /* of jobs per worker on shift */
  double continuity; /* share of jobs for an elder the worker served */
  double batch_p50_ms, batch_p99_ms, batch_max_ms;
  uint64_t batches, fallbacks;
  double floor_km;      /* the hindsight floor of the jobs done (floor.c):
                           the larger of the two bounds */
  double floor_wait_km; /* the same, no job waiting longer than this run's
                           longest wait in its urgency */
  double floor_ms;      /* time to build and solve both floors */
  double max_wait[CM_URGENCY_COUNT]; /* longest wait to a job's start, min */
  double wall_s;                     /* real time the run took */
  /* live mode: calls to the daemon, and those that failed */
  uint64_t http_calls, http_errors;
  int late_answers; /* answers to offers gone meanwhile (409) */
  /* the day hour by hour (plots): requests arriving, their mean wait for
     an offer (min), staff on shift and busy (sampled on the hour) */
  int hour_requests[24];
  double hour_offer_wait[24];
  int hour_on_shift[24], hour_busy[24];
  /* every arrival time by urgency (min), sorted, owned: sim_kpis_free */
  double *arrivals[CM_URGENCY_COUNT];
  /* every request submitted, in the scenario's order, and every worker,
     in the scenario's order; owned: sim_kpis_free (NULL out of memory) */
  sim_outcome *outcomes;
  int n_outcomes;
  sim_worker_day *worker_days;
  int n_worker_days;
} sim_kpis;

/* Free what a run's KPIs own. */
void sim_kpis_free(sim_kpis *k);

void sim_policy_init(sim_policy *p, const char *name, double budget_ms);

/* Run the day. progress (may be NULL) is called now and then with the
 * share of the day done. Returns 0, or -1 with msg. */
int sim_run(const sim_scenario *s, const sim_policy *p, sim_kpis *out,
            void (*progress)(double done, void *ctx), void *ctx, char *msg,
            size_t n);

/* The hindsight floors of the jobs served into out (floor_km,
 * floor_wait_km under out->max_wait, floor_ms). */
void sim_floors(const sim_scenario *s, const unsigned char *served,
                sim_kpis *out);

/* The simulation runs to this time (ms after midnight): the day and four
 * hours to finish the jobs under way. A job is served when done by then. */
#define SIM_END_MS ((24LL + 4) * 3600 * 1000)

typedef struct sim_floor_opts {
  /* longest wait allowed per urgency (minutes, from the call or the
     window's start to the job's start); NULL or < 0: none, the day's end */
  const double *max_wait_min;
  int keep;     /* cheapest feasible origins kept exactly per job (24) */
  int timeless; /* the relaxation without time: any home, any other job */
  /* the route floor (sim_floor_routes_km) */
  double slot_min;  /* time slot, minutes (10) */
  int near;         /* nearest jobs offered as the next, each way (8) */
  int iterations;   /* subgradient steps at most (100) */
  double target_km; /* a travel known to be feasible (the step's aim), or 0 */
} sim_floor_opts;

typedef struct sim_floor_stats {
  int jobs;         /* jobs in the batch */
  int infeasible;   /* jobs with no feasible origin (left out) */
  long arcs;        /* feasible origins scanned */
  int kept, pooled; /* edges given to the solver: exact, pooled */
  int exact;        /* the solver proved its objective optimal */
  double objective; /* the solver's objective, km (>= the bound) */
  double solve_ms;  /* building and solving */
  int iterations;   /* route floor: subgradient steps taken */
} sim_floor_stats;

void sim_floor_opts_init(sim_floor_opts *o);

/* The hindsight floor of a day's travel, km (floor.c): the least travel of
 * any day that serves these jobs (all, or those with served[q] set),
 * respecting shifts, calls, windows, speeds and durations, relaxed into
 * one assignment of an origin to every staff place. opts may be NULL
 * (defaults), st may be NULL. -1 with msg on failure; msg may also be set
 * with a warning when some jobs no day could serve were left out. */
double sim_floor_km(const sim_scenario *s, const unsigned char *served,
                    const sim_floor_opts *opts, sim_floor_stats *st, char *msg,
                    size_t n);

/* The route floor, km (floor.c): the same days, each worker's route
 * followed through time slots, so jobs at the same time cannot follow one
 * another and a shift bounds a route; a Lagrangian lower bound. Arguments
 * and failures as sim_floor_km. */
double sim_floor_routes_km(const sim_scenario *s, const unsigned char *served,
                           const sim_floor_opts *opts, sim_floor_stats *st,
                           char *msg, size_t n);

struct sim_sla;

/* report.c: the KPIs of n runs side by side as a table on stdout. */
void sim_report_table(const sim_kpis *k, int n);
/* The summary {"seed", "kind", "workers", "requests", "runs": [KPIs...],
 * "compare": [ratios with intervals], "sla_target_min", "bootstrap"} of
 * the n runs of s (of that kind) written to path (created 0644, a
 * report). Returns 0, or -1 with msg naming the path and the reason. */
int sim_report_json(const char *path, const sim_scenario *s, const sim_kpis *k,
                    int n, const struct sim_sla *sla, const char *kind,
                    char *msg, size_t len);
/* The honest KPIs (stats.h) of np policies over nd days (runs[d * np +
 * p]), each policy's days pooled, side by side on stdout. */
void sim_report_pooled(const sim_kpis *const *runs, int nd, int np,
                       const struct sim_sla *sla);
/* The key ratios of np policies over nd days (runs[d * np + p]) with
 * their 95% bootstrap intervals, on stdout. */
void sim_report_compare(const sim_kpis *const *runs, int nd, int np,
                        const struct sim_sla *sla);
/* The days pooled: {"kind", "seed_first", "seed_last", "days", "workers",
 * "requests", "pooled": [each policy over all days], "per_day": [...],
 * "compare": [...], "sla_target_min", "bootstrap"} to path. Returns 0, or
 * -1 with msg. */
int sim_report_days_json(const char *path, const char *kind,
                         const uint64_t *seeds, int workers, int requests,
                         const sim_kpis *const *runs, int nd, int np,
                         const struct sim_sla *sla, char *msg, size_t len);

#endif
