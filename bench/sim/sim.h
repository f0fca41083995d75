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
  int floors;         /* compute the hindsight floors (minutes on a big day) */
  int no_reserve;     /* the engine's emergency reserve off */
  int no_lookahead;   /* the engine's look-ahead off */
  int standby;        /* standby suggestions on, followed by idle staff */
  int divert;         /* diversion: 1 on, -1 off, 0 the engine's default */
  int interrupt;      /* interruption: 1 on, -1 off, 0 the engine's default */
  int reserve_normal; /* urgent work may take the reserve (reserve_from
                         normal) */
  int lookahead_all;  /* every one-worker request looks ahead (+ahead) */
  int joint;          /* an emergency's batch takes the backlog (+joint) */
  int divert_urgent;  /* diversion and interruption may take urgent work to
                         save an emergency's breach (divert_urgent) */
  int history;        /* days past taught to the engine first (0 none) */
  const sim_scenario *history_day; /* those days, generated; borrowed */
} sim_policy;

/* A run's outcomes and KPIs are the product's (carematch/sim.h, core/sim):
 * the simulator's short names for them. */
#define SIM_AREAS CM_SIM_AREAS
typedef cm_sim_outcome sim_outcome;
typedef cm_sim_worker_day sim_worker_day;
typedef cm_sim_kpis sim_kpis;

/* Free what a run's KPIs own. */
static inline void sim_kpis_free(sim_kpis *k) {
  cm_sim_kpis_free(k);
}

void sim_policy_init(sim_policy *p, const char *name, double budget_ms);

/* Run the day: cm_sim_run on the monotonic clock, then the floors when
 * p->floors. progress (may be NULL) is called now and then with the share
 * of the day done. Returns 0, or -1 with msg. */
int sim_run(const sim_scenario *s, const sim_policy *p, sim_kpis *out,
            void (*progress)(double done, void *ctx), void *ctx, char *msg,
            size_t n);

/* The hindsight floors of the jobs served into out (floor_km,
 * floor_wait_km under out->max_wait, floor_ms). */
void sim_floors(const sim_scenario *s, const unsigned char *served,
                sim_kpis *out);

/* The simulation runs to this time (ms after midnight): the day and four
 * hours to finish the jobs under way (CM_SIM_END_MS). */
#define SIM_END_MS CM_SIM_END_MS

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

struct cm_sim_sla;

/* report.c: the KPIs of n runs side by side as a table on stdout. */
void sim_report_table(const sim_kpis *k, int n);
/* The summary {"seed", "kind", "workers", "requests", "runs": [KPIs...],
 * "compare": [ratios with intervals], "sla_target_min", "bootstrap"} of
 * the n runs of s (of that kind) written to path (created 0644, a
 * report). Returns 0, or -1 with msg naming the path and the reason. */
int sim_report_json(const char *path, const sim_scenario *s, const sim_kpis *k,
                    int n, const struct cm_sim_sla *sla, const char *kind,
                    char *msg, size_t len);
/* The honest KPIs (stats.h) of np policies over nd days (runs[d * np +
 * p]), each policy's days pooled, side by side on stdout. */
void sim_report_pooled(const sim_kpis *const *runs, int nd, int np,
                       const struct cm_sim_sla *sla);
/* The key ratios of np policies over nd days (runs[d * np + p]) with
 * their 95% bootstrap intervals, on stdout. */
void sim_report_compare(const sim_kpis *const *runs, int nd, int np,
                        const struct cm_sim_sla *sla);
/* The days pooled: {"kind", "seed_first", "seed_last", "days", "workers",
 * "requests", "pooled": [each policy over all days], "per_day": [...],
 * "compare": [...], "sla_target_min", "bootstrap"} to path. Returns 0, or
 * -1 with msg. */
int sim_report_days_json(const char *path, const char *kind,
                         const uint64_t *seeds, int workers, int requests,
                         const sim_kpis *const *runs, int nd, int np,
                         const struct cm_sim_sla *sla, char *msg, size_t len);

#endif
