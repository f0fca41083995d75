/* sim.h -- a simulated day of dispatch (libcarematch_core): a city's staff,
 * catalog and requests (a scenario), replayed on the engine library with
 * staff who answer offers, travel, serve and report their positions, and
 * the KPIs of what happened. The daemon's what-if (POST /v1/weights/whatif)
 * and the simulator (bench/sim, docs/sim.md) run it. Pure: no I/O, no
 * global state; a scenario is built by the caller (the JSON adapter reads
 * one from carematchd's trace: sim_trace.h; the simulator generates them).
 * The world behind the run is sim_world.h, the honest KPIs sim_stats.h. */
#ifndef CM_SIM_H_INCLUDED_
#define CM_SIM_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

#include "carematch/engine.h"
#include "carematch/export.h"
#include "carematch/model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CM_SIM_ID_MAX 24
#define CM_SIM_SERVICES_MAX 16
#define CM_SIM_AREAS 9
/* A scenario's day (ms); the simulation runs to CM_SIM_END_MS: the day and
 * four hours to finish the jobs under way. A job is served when done by
 * then. */
#define CM_SIM_DAY_MS (24LL * 3600 * 1000)
#define CM_SIM_END_MS ((24LL + 4) * 3600 * 1000)

typedef struct cm_sim_service {
  char name[32];       /* "hospital_escort" */
  cm_skillset skills;  /* roles it needs (default taxonomy) */
  cm_skill_mode mode;  /* all / any */
  int staff;           /* people */
  cm_urgency urgency;  /* how it is submitted */
  double duration_min; /* time on site */
  double share;        /* of the day's requests */
  double hours[24];    /* relative demand by hour of the day */
  double lead_min;     /* booked this long ahead (scheduled), else 0 */
} cm_sim_service;

typedef struct cm_sim_worker {
  char id[CM_SIM_ID_MAX];
  cm_skillset skills;
  double lat, lon;     /* home: where the shift starts */
  int shift_start_min; /* minutes after midnight */
  int shift_end_min;
  double speed_kmh; /* travel speed */
  double rating, level;
} cm_sim_worker;

typedef struct cm_sim_request {
  char id[CM_SIM_ID_MAX];
  int64_t at_ms; /* arrives (ms after midnight) */
  int service;   /* index in the catalog */
  double lat, lon;
  char elder[CM_SIM_ID_MAX];
  int64_t window_start_ms; /* scheduled: when it should start; else 0 */
} cm_sim_request;

typedef struct cm_sim_scenario {
  uint64_t seed;
  double center_lat, center_lon;
  double road_factor;    /* road / great-circle distance (1.3) */
  double accept_prob;    /* a worker accepts an offer (0.92) */
  double response_s_max; /* answers within this (30) */
  int report_s;          /* positions every this many seconds (5) */
  int n_services;
  cm_sim_service services[CM_SIM_SERVICES_MAX];
  int n_workers;
  cm_sim_worker *workers; /* malloc'ed: cm_sim_scenario_free */
  int n_requests;
  cm_sim_request *requests; /* by arrival time; malloc'ed */
} cm_sim_scenario;

/* Free s (calloc'ed), its workers and requests (malloc'ed). NULL is
 * accepted. */
CM_EXPORT void cm_sim_scenario_free(cm_sim_scenario *s);
/* The starting state of stream tag (0 map, 1 staff, 2 requests, 3 the
 * world's answers) of the day seed: seed and tag through splitmix64's
 * mixer, so the days of two seeds are independent. */
CM_EXPORT uint64_t cm_sim_stream_seed(uint64_t seed, uint64_t tag);

/* The minutes a diverted worker must save an emergency (divert_min) in a
 * "+divert" run. */
#define CM_SIM_DIVERT_MIN 5.0
/* The minutes a worker called away from a visit must save an emergency
 * (interrupt_min) in a "+interrupt" run. */
#define CM_SIM_INTERRUPT_MIN 5.0
/* An "+ahead" run: every one-worker request looks ahead (lookahead_upto
 * scheduled), for workers free and there within this many minutes
 * (lookahead_min; 30 measured better than 15 and no worse than 60 on the
 * county's travel, docs/sim-log.md "Looking ahead for all work"). */
#define CM_SIM_AHEAD_MIN 30.0
/* An emergency with no capable worker on shift, in any state (free, on
 * her way, at a visit), within this many minutes' drive at its call is
 * beyond any dispatcher's reach in time: the floor of its breaches
 * (emergency_unreachable). */
#define CM_SIM_FLOOR_MIN 15.0

typedef struct cm_sim_policy {
  const char *name;   /* "optimal", "greedy"; borrowed */
  double budget_ms;   /* the solver's budget; 0 is the greedy fallback */
  cm_weights weights; /* cost weights */
  int64_t window_ms;  /* batch window (300) */
  /* the part of the day: requests arriving in [from_ms, until_ms), then
     drain_ms for the jobs under way; all 0: the whole day */
  int64_t from_ms, until_ms, drain_ms;
  int no_reserve;     /* the engine's emergency reserve off */
  int no_lookahead;   /* the engine's look-ahead off (lookahead_min 0) */
  int divert;         /* diversion (divert_min): 1 on at CM_SIM_DIVERT_MIN,
                         -1 off, 0 the engine's default; with it on the
                         world's arrivals are reported to the engine */
  int interrupt;      /* interruption (interrupt_min): 1 on at
                         CM_SIM_INTERRUPT_MIN, -1 off, 0 the engine's
                         default; with it on the world's arrivals are reported
                         to the engine, and an interrupted visit keeps the
                         service time it has left */
  int reserve_normal; /* the reserve keeps kept workers from normal and
                       scheduled work only (reserve_from normal): urgent
                       work may take them */
  int lookahead_all;  /* every one-worker request looks ahead
                         (lookahead_upto scheduled, lookahead_min
                         CM_SIM_AHEAD_MIN), not only emergency and urgent
                         ones */
  int divert_urgent;  /* diversion and interruption may take a worker from
                         urgent work for an emergency that would otherwise
                         breach (the engine's divert_urgent) */
  int joint;          /* an emergency's batch takes the waiting work along
                         (the engine's emergencies_alone 0, as before
                         2026-12-06) */
  int standby;        /* standby suggestions on (standby_every_ms 30 min);
                         the world's idle staff follow them */
  const cm_sim_scenario *history; /* days past on the same map: their
                        emergencies are taught to the engine before the
                        run (cm_engine_demand_teach); NULL: none; borrowed */
  cm_clock_fn clock; /* monotonic ns: the solver's budget and wall_s;
                        NULL: no budget (greedy unless budget_ms is 0) */
  void *clock_ctx;
  int64_t deadline_ns; /* on clock: the run gives up past it (CM_E_LIMIT);
                          0: none */
} cm_sim_policy;

/* What became of one request submitted in a run: the raw material of the
 * honest KPIs (sim_stats.h), kept per request so days can be pooled and
 * resampled. */
/* At a request's call, the nearest worker on shift who could serve it, when
 * she is within CM_SIM_FLOOR_MIN minutes' drive (else NONE): free (idle,
 * or on her way to a standby place), on her way to a job, at a visit (of
 * an emergency, urgent or other work), or released from a job and waiting
 * for her next offer's answer (diverted or interrupted). */
typedef enum cm_sim_near {
  CM_SIM_NEAR_NONE,
  CM_SIM_NEAR_FREE,
  CM_SIM_NEAR_TO_EMERGENCY,
  CM_SIM_NEAR_TO_URGENT,
  CM_SIM_NEAR_TO_OTHER,
  CM_SIM_NEAR_AT_EMERGENCY,
  CM_SIM_NEAR_AT_URGENT,
  CM_SIM_NEAR_AT_OTHER,
  CM_SIM_NEAR_RELEASED,
  CM_SIM_NEAR_COUNT
} cm_sim_near;

typedef struct cm_sim_outcome {
  int urgency;       /* cm_urgency */
  int area;          /* 0..CM_SIM_AREAS-1: the cell of a 3 x 3 grid over
                        the day's requests, row (south to north) * 3 +
                        column */
  double arrive_min; /* to arrival, from the call or the window's start
                        (0 when early); INFINITY: never arrived */
  double accept_min; /* from the call to the offer accepted (by every
                        member); INFINITY: never accepted */
  int near;          /* cm_sim_near at the call */
  int service;       /* the scenario's service (index) */
} cm_sim_outcome;

/* One worker's day in a run. */
typedef struct cm_sim_worker_day {
  int on_shift;        /* came on shift in the run */
  int jobs;            /* jobs done */
  double km;           /* travelled */
  double busy_h;       /* travelling to or at a job, hours */
  double overtime_min; /* at work past the shift's end */
} cm_sim_worker_day;

/* KPIs of one run (docs/sim.md). Times in minutes. */
typedef struct cm_sim_kpis {
  char policy[64];
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
  uint64_t standby; /* standby suggestions the engine made */
  /* diversion: jobs given back by a worker on her way, for an emergency
     (CM_EV_DIVERTED); of them reached again, their delay past the first
     worker's expected arrival (min, summed), and never reached */
  int diverted, divert_reached, divert_unserved;
  double divert_delay_min;
  /* interruption: visits left for an emergency (CM_EV_INTERRUPTED); of
     them resumed, the minutes from the interruption to the next worker's
     arrival (summed), and never completed that day */
  int interrupted, interrupt_resumed, interrupt_unserved;
  int emergency_unreachable; /* emergencies with no capable worker on shift
                                within CM_SIM_FLOOR_MIN minutes' drive at
                                their call, wherever she was */
  double interrupt_delay_min;
  /* every request at its call: the road km from the nearest workers on
     shift who could serve it (as many as it needs), in any state, summed
     over nearest_n requests (those with enough such workers on shift);
     not a bound on travel (staff move), a measure of how thin they are */
  double nearest_km;
  int nearest_n;
  /* the simulator's hindsight floors (bench/sim/floor.c); 0 here */
  double floor_km, floor_wait_km, floor_ms;
  double max_wait[CM_URGENCY_COUNT]; /* longest wait to a job's start, min */
  double wall_s;                     /* real time the run took (0: no clock) */
  /* the simulator's live mode (bench/sim/live.c): calls to the daemon, and
     those that failed; answers to offers gone meanwhile (409) */
  uint64_t http_calls, http_errors;
  int late_answers;
  /* the day hour by hour (plots): requests arriving, their mean wait for
     an offer (min), staff on shift and busy (sampled on the hour) */
  int hour_requests[24];
  double hour_offer_wait[24];
  int hour_on_shift[24], hour_busy[24];
  /* every arrival time by urgency (min), sorted, owned: cm_sim_kpis_free */
  double *arrivals[CM_URGENCY_COUNT];
  /* every request submitted, in the scenario's order, and every worker,
     in the scenario's order; owned: cm_sim_kpis_free (NULL out of
     memory) */
  cm_sim_outcome *outcomes;
  int n_outcomes;
  /* the day's services, by the scenario's index: the name, the hours on
     site its requests submitted ask (duration x staff), and the shift
     hours of the staff able to do it (each worker's counted for every
     service she can do, so shared between them) */
  int n_services;
  char service_name[CM_SIM_SERVICES_MAX][32];
  double service_onsite_h[CM_SIM_SERVICES_MAX];
  double service_capable_h[CM_SIM_SERVICES_MAX];
  cm_sim_worker_day *worker_days;
  int n_worker_days;
  /* which requests were served (1), by the scenario's index (its
     n_requests bytes); owned: cm_sim_kpis_free (NULL out of memory) */
  unsigned char *served;
} cm_sim_kpis;

/* Free what a run's KPIs own (not k). */
CM_EXPORT void cm_sim_kpis_free(cm_sim_kpis *k);

/* The defaults: name (borrowed), budget_ms, the default weights, a 300 ms
 * window, the whole day, no clock. */
CM_EXPORT void cm_sim_policy_init(cm_sim_policy *p, const char *name,
                                  double budget_ms);

/* Run the day of s under p on an engine of its own (a memory store), on
 * the simulated clock, into *out (the caller frees what it owns with
 * cm_sim_kpis_free, also after a failure). progress (may be NULL) is
 * called now and then with the share of the day done. s and p are
 * borrowed for the call. Returns CM_OK, or the error (out of memory, an
 * engine configuration refused) with err set and *out zeroed, or
 * CM_E_LIMIT when the clock passed p->deadline_ns (*out then holds the
 * part run, to free). */
CM_EXPORT cm_status cm_sim_run(const cm_sim_scenario *s, const cm_sim_policy *p,
                               cm_sim_kpis *out,
                               void (*progress)(double done, void *ctx),
                               void *ctx, cm_error *err);

#ifdef __cplusplus
}
#endif

#endif
