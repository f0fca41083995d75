/* engine.h -- the dispatch engine: requests and worker updates in, offers
 * and events out, on a clock its caller drives.
 *
 * The engine batches pending requests (a window and a size cap; an
 * emergency flushes at once), releases scheduled work when it is due, asks
 * the position store for the nearest eligible workers, solves the batch
 * with cm_solve under a budget, and commits offers. Every transition of a
 * request is an event. Times are milliseconds on the caller's clock; the
 * solver's budget is measured with the injected monotonic clock.
 *
 * The engine borrows the store (it must outlive the engine) and is not
 * thread-safe: call it from one thread (the daemon's loop, or a test). */
#ifndef CM_ENGINE_H_INCLUDED_
#define CM_ENGINE_H_INCLUDED_

#include <stdint.h>

#include "carematch/error.h"
#include "carematch/export.h"
#include "carematch/ledger.h"
#include "carematch/model.h"
#include "carematch/solve.h"
#include "carematch/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CM_MAX_REJECTS 16 /* workers remembered as having refused a request */

typedef struct cm_engine cm_engine;

typedef enum cm_request_state {
  CM_REQ_PENDING = 0, /* waiting for a batch (or for its release time) */
  CM_REQ_OFFERED,     /* offered to worker(s) until expires_ms */
  CM_REQ_ACCEPTED,    /* every offered worker accepted */
  CM_REQ_DONE,        /* completed */
  CM_REQ_CANCELLED,   /* cancelled by the platform */
  /* confirmation before dispatch (engine_confirm.c, docs/engine.md) */
  CM_REQ_AWAITING,  /* "awaiting_confirmation": submitted with
                       confirm operator; never offered before confirmed */
  CM_REQ_DISMISSED, /* dismissed by an operator (false alarm...): final */
  CM_REQ_STATE_COUNT
} cm_request_state;

typedef enum cm_event_type {
  CM_EV_SUBMITTED = 0, /* a new request */
  CM_EV_OFFERED,       /* offered to one worker (one event per member) */
  CM_EV_ACCEPTED,      /* a worker accepted (auto_accept: at once) */
  CM_EV_REJECTED,      /* a worker refused: back to pending */
  CM_EV_EXPIRED,       /* the offer ran out: back to pending */
  CM_EV_WITHDRAWN,     /* the worker went offline: back to pending */
  CM_EV_CANCELLED,     /* cancelled */
  CM_EV_COMPLETED,     /* done */
  CM_EV_ESCALATED,     /* still without an offer escalate_after_ms past its
                          service level: once, for the operator; the state
                          does not change (pending -> pending) */
  /* confirmation before dispatch (engine_confirm.c) */
  CM_EV_CONFIRMED,   /* an operator confirmed: awaiting -> pending (an
                        offered event follows at once when a candidate
                        has room) */
  CM_EV_DISMISSED,   /* an operator dismissed it: awaiting -> dismissed */
  CM_EV_HOLD_LAPSED, /* the soft hold on its best worker ran out: the
                        request keeps waiting (awaiting -> awaiting) */
  /* operators' overrides (docs/engine.md "Operator overrides"); the event
     names the operator in actor */
  CM_EV_PINNED,      /* pinned to worker ("" when unpinned by a pin call) */
  CM_EV_HELD,        /* held out of batching (pending -> pending) */
  CM_EV_RELEASED,    /* back into batching: unheld and unpinned */
  CM_EV_REASSIGNED,  /* taken from worker (offered or accepted -> pending),
                        for to_worker ("" when the next batch picks) */
  CM_EV_ARRIVED,     /* an accepted worker reported arrival at the elder's
                        (accepted -> accepted; the first report of the
                        request, see cm_engine_arrived) */
  CM_EV_STANDBY,     /* a suggestion to an idle worker: wait at (lat, lon),
                        nearer where emergencies come from (engine_standby.c);
                        no request (request "", from = to = PENDING) */
  CM_EV_DIVERTED,    /* its accepted worker, on the way, took an emergency
                        she was much nearer to (divert_min): accepted ->
                        pending, worker: who; waited-since kept
                        (engine_divert.c) */
  CM_EV_INTERRUPTED, /* its accepted worker, already at the visit, left it
                        for an emergency she was much nearer to than every
                        other candidate (interrupt_min): accepted ->
                        pending, worker: who; waited-since kept, arrival
                        cleared (engine_divert.c) */
  CM_EV_TYPE_COUNT
} cm_event_type;

/* Confirmation before dispatch (docs/engine.md). */
typedef enum cm_confirm_mode {
  CM_CONFIRM_NONE = 0, /* dispatched as it comes (the default) */
  CM_CONFIRM_OPERATOR, /* waits in awaiting_confirmation for an operator */
  CM_CONFIRM_COUNT
} cm_confirm_mode;

/* Why an operator dismissed a request. */
typedef enum cm_dismiss_reason {
  CM_DISMISS_NONE = 0, /* not dismissed */
  CM_DISMISS_FALSE_ALARM,
  CM_DISMISS_DUPLICATE,
  CM_DISMISS_OTHER,
  CM_DISMISS_COUNT
} cm_dismiss_reason;

typedef struct cm_event {
  uint64_t seq; /* 1, 2, 3 ... per engine */
  cm_event_type type;
  int64_t at_ms;             /* engine time of the transition */
  char request[CM_ID_MAX];   /* request id */
  char worker[CM_ID_MAX];    /* worker id, "" when none */
  char actor[CM_ID_MAX];     /* an operator's action: who (the name the
                                caller gives, the audit trail); "" none */
  char to_worker[CM_ID_MAX]; /* REASSIGNED: the worker named to take it,
                                "" none */
  cm_request_state from;     /* state before */
  cm_request_state to;       /* state after */
  int64_t expires_ms;        /* OFFERED: when the offer lapses */
  cm_cost_terms terms;       /* OFFERED: why this worker, term by term */
  int dismiss;               /* DISMISSED: the reason (cm_dismiss_reason) */
  double lat, lon;           /* STANDBY: the suggested position (personal
                                data of the worker: never logged) */
} cm_event;

/* The longest address, in bytes with its terminator. */
#define CM_ADDRESS_MAX 201

/* What a platform submits. */
typedef struct cm_request_spec {
  char id[CM_ID_MAX]; /* client id: submitting it again with the
                         same content is a no-op */
  double lat, lon;    /* where, degrees */
  cm_skillset skills; /* required skills (see cm_skill_mode) */
  cm_skill_mode skill_mode;
  int staff; /* 1..CM_MAX_STAFF, all or none */
  cm_urgency urgency;
  char elder[CM_ID_MAX];   /* elder id for continuity, "" none */
  int64_t window_start_ms; /* scheduled: service window (0 when none) */
  int64_t window_end_ms;
  int n_preferred;
  char preferred[CM_MAX_PREFS][CM_ID_MAX]; /* worker ids */
  int n_excluded;
  char excluded[CM_MAX_PREFS][CM_ID_MAX]; /* worker ids never offered */
  cm_confirm_mode confirm;      /* OPERATOR: awaits an operator's confirm */
  char address[CM_ADDRESS_MAX]; /* the elder's address for the operator,
                                   "" none (personal data: never logged
                                   nor traced) */
} cm_request_spec;

/* A request as the engine sees it now. */
typedef struct cm_request_view {
  cm_request_spec spec;
  cm_request_state state;
  int64_t created_ms;  /* submitted */
  int64_t release_ms;  /* eligible for batches from (scheduled) */
  int64_t offered_ms;  /* last offer, 0 none */
  int64_t expires_ms;  /* OFFERED: offer lapses */
  int64_t finished_ms; /* DONE / CANCELLED */
  int64_t arrived_ms;  /* the first accepted worker's arrival, 0 none
                          (cm_engine_arrived) */
  int n_workers;       /* offered or accepted workers */
  char workers[CM_MAX_STAFF][CM_ID_MAX];
  int accepted[CM_MAX_STAFF];        /* per worker: accepted */
  cm_cost_terms terms[CM_MAX_STAFF]; /* per worker: cost explanation */
  int n_rejected;                    /* workers who refused or let it lapse */
  char rejected[CM_MAX_REJECTS][CM_ID_MAX];
  int has_reason; /* PENDING after a batch: why not assigned */
  cm_unassigned_reason reason;
  int batches;      /* batches it took part in */
  int64_t ready_ms; /* became eligible for a batch (latency base) */
  uint64_t version; /* 1 at submission, + 1 per transition */
  /* confirmation before dispatch (AWAITING) */
  char hold_worker[CM_ID_MAX]; /* the best worker, soft-held ("" none) */
  int64_t hold_until_ms;       /* the hold lapses then (0 none) */
  cm_dismiss_reason dismissed; /* DISMISSED: why */
  /* operators' overrides (cm_engine_pin, cm_engine_hold) */
  char pinned[CM_ID_MAX]; /* the next batch offers it to this worker only
                             (when eligible); "" none */
  int held;               /* 1: kept out of batching by an operator */
  /* diversion (docs/engine.md "Diversion"): OFFERED to a worker on her way
     to job divert_of (at version divert_version), offered at divert_ms;
     her accept gives that job back. "" none; offered_ms != divert_ms: an
     earlier offer's, void */
  char divert_of[CM_ID_MAX];
  uint64_t divert_version;
  int64_t divert_ms;
} cm_request_view;

typedef struct cm_engine_config {
  cm_taxonomy taxonomy;     /* skills (default: the six roles) */
  cm_weights weights;       /* cost weights */
  cm_params params;         /* k, radii, speed model (now_ms and stale_ms
                               are set by the engine) */
  int64_t batch_window_ms;  /* gather requests this long (default 300) */
  int batch_max;            /* at most this many requests a batch (2000) */
  int emergencies_alone;    /* 1 (the default): a batch begun for an
                               emergency before the window is due takes
                               the emergencies alone, so an emergency's
                               offer does not wait for the backlog's
                               candidates and solve; the others wait for
                               their window (docs/engine.md "An
                               emergency's own batch"). 0: it takes
                               every pending request, as before */
  double solve_budget_ms;   /* deadline of one batch solve (100) */
  double begin_part_ms;     /* a regular batch's begin (candidates, the
                               reserve, the instance) in parts of about
                               this long on the clock, the caller free to
                               serve others between them
                               (cm_engine_batch_continue); 0 (the
                               default): in one go */
  int64_t offer_ttl_ms;     /* an offer lapses after this (30000) */
  int64_t retry_max_ms;     /* batches that offer nothing back off, doubling
                               from the window up to this (5000) */
  int auto_accept;          /* offers are accepted at once */
  int64_t release_slack_ms; /* scheduled: released this long before
                               window start minus expected travel (600000) */
  int64_t stale_ms;         /* positions older are ignored (120000) */
  int max_live;             /* live (unfinished) requests at most (1000000) */
  int history;              /* finished requests kept for get (100000;
                               about 3 KB of memory each) */
  int event_queue;          /* events buffered until polled (8192) */
  int reserve_workers;      /* emergency reserve (docs/engine.md): free
                               emergency-capable workers kept within
                               reserve_km of each one a batch could give
                               less urgent work to (1; 0: off) */
  double reserve_km;        /* radius of the reserve, km (5) */
  cm_urgency reserve_from;  /* requests this urgent or less keep off the
                               reserve: URGENT (default), NORMAL or
                               SCHEDULED */
  int reserve_demand;       /* 1: the reserve keeps workers only where
                               emergencies came from at this time of day
                               (the engine's own history, docs/engine.md);
                               0: around every exposed worker (0: it
                               kept fewer and emergencies waited more) */
  double lookahead_min;     /* look-ahead (docs/engine.md): workers busy
                               with a job expected to end and reach an
                               emergency or urgent request within this
                               many minutes are its candidates; the
                               request then waits for them (15; 0: off) */
  /* Requests this urgent or more look ahead: URGENT (the default:
     emergency and urgent), NORMAL or SCHEDULED (every one-worker request:
     a near worker soon free is waited for rather than a far free one
     sent). */
  cm_urgency lookahead_upto;
  int64_t standby_every_ms; /* standby suggestions (docs/engine.md
                               "Standby"): an idle emergency-capable worker
                               away from where emergencies come from may be
                               suggested a position there (CM_EV_STANDBY),
                               at most once per this many ms (0: off, the
                               default) */
  double divert_min;        /* diversion (docs/engine.md "Diversion"): a
                               worker on the way to normal or scheduled
                               work (accepted, not arrived) is offered an
                               emergency when she arrives at least this many
                               minutes sooner than every free candidate; on
                               accept her job goes back to pending in the
                               same commit (0: off, the default) */
  double interrupt_min;     /* interruption (docs/engine.md "Interruption"):
                               a worker already at a normal or scheduled
                               visit is offered an emergency when she
                               reaches it at least this many minutes sooner
                               than every other candidate; on accept the
                               visit goes back to pending in the same commit
                               (0: off, the default) */
  int divert_urgent;        /* taking urgent work (docs/engine.md "Taking
                               urgent work"): 1: diversion and interruption
                               may take a worker from one-worker urgent work
                               too, at twice their margin, but only for an
                               emergency every other candidate would reach
                               past its sla_target_min (0: never, the
                               default) */
  cm_clock_fn clock;        /* monotonic clock for the solve budget; NULL:
                               no budget enforcement */
  void *clock_ctx;
  cm_ledger *ledger;         /* durable state (ledger.h), borrowed; NULL: the
                                engine's memory only */
  int64_t escalate_after_ms; /* a request pending this long past its service
                                level (weights.sla_target_min) without an
                                offer emits CM_EV_ESCALATED, once (1800000;
                                0: off) */
  int64_t confirm_hold_ms;   /* a request awaiting confirmation soft-holds
                                its best worker this long at most (120000;
                                0: no hold) */
} cm_engine_config;

/* Latency histogram with fixed buckets (milliseconds), Prometheus style. */
#define CM_HIST_BUCKETS 14
typedef struct cm_histogram {
  double bounds[CM_HIST_BUCKETS];   /* upper bounds; the last is +inf */
  uint64_t counts[CM_HIST_BUCKETS]; /* observations <= bound (not cumulative) */
  uint64_t n;                       /* observations */
  double sum;                       /* their sum */
  double max;                       /* the largest */
} cm_histogram;

CM_EXPORT void cm_histogram_init(cm_histogram *h);
CM_EXPORT void cm_histogram_add(cm_histogram *h, double v);
/* Estimated quantile q in [0,1] (linear in the bucket); 0 when empty. */
CM_EXPORT double cm_histogram_quantile(const cm_histogram *h, double q);

typedef struct cm_engine_stats {
  int by_state[CM_REQ_STATE_COUNT]; /* requests known, by state */
  uint64_t batches;                 /* batches solved */
  uint64_t offers;                  /* offers made (per worker) */
  uint64_t fallbacks;               /* components that fell back */
  uint64_t refused;        /* offers the ledger refused: a worker full or off
                              shift by another engine's doing */
  uint64_t adopted;        /* records replaced by the ledger's (changed
                              elsewhere, or a write whose answer was lost) */
  uint64_t rebuilds;       /* full rebuilds from the ledger (recovery) */
  int resync_pending;      /* 1 while the engine may not match its ledger
                              (a write's answer was lost, a reconnect):
                              the next step rebuilds; also while an
                              asynchronous rebuild is in flight */
  uint64_t events_dropped; /* events lost to a full queue */
  cm_histogram offer_latency[CM_URGENCY_COUNT]; /* submit (or release) to
                                                   first offer, ms */
  cm_histogram batch_ms;      /* whole batch, ms (solver clock) */
  cm_histogram candidates_ms; /* store queries + instance, ms */
  cm_histogram solve_ms;      /* cm_solve, ms */
  cm_histogram commit_ms;     /* offers written to the ledger (when there
                                 is one) and applied, ms */
  cm_histogram batch_size;    /* requests per batch */
  uint64_t escalated;    /* CM_EV_ESCALATED emitted: requests left without an
                            offer escalate_after_ms past their service level */
  uint64_t standby;      /* CM_EV_STANDBY emitted (standby_every_ms) */
  uint64_t diverted;     /* CM_EV_DIVERTED: jobs given back for an emergency */
  uint64_t interrupted;  /* CM_EV_INTERRUPTED: visits left for an
                            emergency */
  uint64_t begin_pauses; /* batches' begins paused after a part
                            (begin_part_ms): how often others went first */
} cm_engine_stats;

CM_EXPORT void cm_engine_config_init(cm_engine_config *c);

/* New engine over a store (borrowed: it must outlive the engine; so must
 * cfg->ledger). cfg is copied. Returns the engine, which the caller frees
 * with cm_engine_free, or NULL with err set when the config is invalid
 * (field named) or memory runs out. */
CM_EXPORT cm_engine *cm_engine_new(const cm_engine_config *cfg, cm_store *store,
                                   cm_error *err);
CM_EXPORT void cm_engine_free(cm_engine *e);

/* Replace the weights from the next batch on (validated; nothing changes
 * on error). */
CM_EXPORT cm_status cm_engine_weights_set(cm_engine *e, const cm_weights *w,
                                          cm_error *err);
/* The configuration in force: a pointer into the engine (borrowed), valid
 * while e lives; cm_engine_config_set and cm_engine_weights_set change
 * what it shows. */
CM_EXPORT const cm_engine_config *cm_engine_config_get(const cm_engine *e);
/* Check cfg as cm_engine_new and cm_engine_config_set do (ranges, the
 * weights and parameters). Returns CM_OK, or the first problem in err
 * ("$.params.road_factor: must be in [1, 10]"). Nothing is kept. */
CM_EXPORT cm_status cm_engine_config_validate(const cm_engine_config *cfg,
                                              cm_error *err);
/* Replace the configuration from the next batch on (a reload): batch
 * policy, offer lifetime, radii and speeds, weights, limits. The taxonomy,
 * history and event queue cannot change while running (CM_E_INVALID
 * naming the field); the ledger and the clock stay as they were built.
 * Validated; nothing changes on error. */
CM_EXPORT cm_status cm_engine_config_set(cm_engine *e,
                                         const cm_engine_config *cfg,
                                         cm_error *err);

/* Submit a request at now_ms. Idempotent on the id: the same content
 * again returns CM_OK and changes nothing; different content under a known
 * id is CM_E_CONFLICT. Invalid specs return the field and change nothing. */
CM_EXPORT cm_status cm_engine_submit(cm_engine *e, const cm_request_spec *spec,
                                     int64_t now_ms, cm_error *err);
/* Cancel: allowed until done (cancelling a cancelled request is a no-op).
 * Releases the workers. */
CM_EXPORT cm_status cm_engine_cancel(cm_engine *e, const char *request_id,
                                     int64_t now_ms, cm_error *err);
/* The offered worker accepts / refuses. CM_E_UNKNOWN_ID for unknown ids,
 * CM_E_CONFLICT when the request is not offered to that worker. */
CM_EXPORT cm_status cm_engine_accept(cm_engine *e, const char *request_id,
                                     const char *worker_id, int64_t now_ms,
                                     cm_error *err);
CM_EXPORT cm_status cm_engine_reject(cm_engine *e, const char *request_id,
                                     const char *worker_id, int64_t now_ms,
                                     cm_error *err);
/* The accepted request is done: workers released, workload and continuity
 * recorded. */
/* Teach the engine an emergency of the past (a trace, the days before):
 * one emergency asking for skills at (lat, lon) at at_ms's hour of the
 * day, counted where emergencies come from (the reserve's and the
 * standby's history, docs/engine.md "Standby") as if it had been
 * submitted; nothing else changes. Returns CM_OK, or CM_E_RANGE for a
 * position out of range (field "$.lat" / "$.lon"). */
CM_EXPORT cm_status cm_engine_demand_teach(cm_engine *e, double lat, double lon,
                                           cm_skillset skills, int64_t at_ms,
                                           cm_error *err);
CM_EXPORT cm_status cm_engine_complete(cm_engine *e, const char *request_id,
                                       int64_t now_ms, cm_error *err);
/* An accepted worker of the accepted request reports arrival at the
 * elder's: the request's arrived_ms becomes now_ms and CM_EV_ARRIVED
 * (accepted -> accepted, the worker named) is emitted. A request has one
 * arrival, its first: a team's later members, or the same worker again,
 * change nothing and return CM_OK. CM_E_UNKNOWN_ID ("$.request" or
 * "$.worker") for unknown ids; CM_E_CONFLICT when the request is not
 * accepted ("$.request", its state named) or the worker is not one of its
 * accepted workers ("$.worker"). */
CM_EXPORT cm_status cm_engine_arrived(cm_engine *e, const char *request_id,
                                      const char *worker_id, int64_t now_ms,
                                      cm_error *err);

/* The same transitions with a completion (docs/async.md), for a caller on
 * an event loop whose ledger commits asynchronously (cm_ledger_propose):
 * the change is proposed to the ledger and applied when it took it, and
 * done(ctx, status, err) then runs with what the synchronous call would
 * have returned (err lent for the call). Returns CM_OK when done will run
 * exactly once (maybe before this returns: without a ledger, or on one
 * that completes at once, such as the memory ledger, it is the synchronous
 * call followed by done); or an error decided without the ledger (a bad
 * spec, an unknown id, a state that does not allow it) with err set, and
 * done never runs. A request with a change in flight is not changed again
 * until it completes: later calls on it queue behind it, in call order,
 * and are checked against the record as it then is. Reads see the last
 * applied state. A lost ledger answers CM_E_UNAVAILABLE to the change in
 * flight and to those queued behind it, and the engine resynchronises
 * once nothing is in flight. */
typedef void (*cm_engine_done_fn)(void *ctx, cm_status st, const cm_error *err);
CM_EXPORT cm_status cm_engine_submit_async(cm_engine *e,
                                           const cm_request_spec *spec,
                                           int64_t now_ms,
                                           cm_engine_done_fn done, void *ctx,
                                           cm_error *err);
CM_EXPORT cm_status cm_engine_cancel_async(cm_engine *e, const char *request_id,
                                           int64_t now_ms,
                                           cm_engine_done_fn done, void *ctx,
                                           cm_error *err);
CM_EXPORT cm_status cm_engine_accept_async(cm_engine *e, const char *request_id,
                                           const char *worker_id,
                                           int64_t now_ms,
                                           cm_engine_done_fn done, void *ctx,
                                           cm_error *err);
CM_EXPORT cm_status cm_engine_reject_async(cm_engine *e, const char *request_id,
                                           const char *worker_id,
                                           int64_t now_ms,
                                           cm_engine_done_fn done, void *ctx,
                                           cm_error *err);
CM_EXPORT cm_status cm_engine_complete_async(cm_engine *e,
                                             const char *request_id,
                                             int64_t now_ms,
                                             cm_engine_done_fn done, void *ctx,
                                             cm_error *err);
CM_EXPORT cm_status cm_engine_arrived_async(
    cm_engine *e, const char *request_id, const char *worker_id, int64_t now_ms,
    cm_engine_done_fn done, void *ctx, cm_error *err);
/* Changes in flight (proposed or queued behind one, worker writes too);
 * 0 when none. */
CM_EXPORT int cm_engine_in_flight(const cm_engine *e);

/* ---- confirmation before dispatch (engine_confirm.c, docs/engine.md) ----
 *
 * A request submitted with spec.confirm CM_CONFIRM_OPERATOR waits in
 * CM_REQ_AWAITING and is never offered before an operator confirms it.
 * At submission its best candidate (a batch's view: qualified, free, the
 * lowest edge cost) is soft-held until hold_until_ms (confirm_hold_ms):
 * no batch gives that worker other new work meanwhile. */

/* One candidate of a request awaiting confirmation. */
#define CM_CONFIRM_CANDIDATES 5
typedef struct cm_candidate {
  char worker[CM_ID_MAX];
  double distance_km; /* great-circle */
  double travel_min;  /* estimated travel */
  double cost;        /* the edge cost a batch would price */
} cm_candidate;

/* An operator (actor: the name for the audit trail, "" none) confirms an
 * awaiting request: the offer goes out in the same call, to the held
 * worker if it still has room and qualifies, else to the next candidate
 * (staff 1); with none (or staff > 1) the request becomes pending and a
 * batch is due at once. Events: CM_EV_CONFIRMED then CM_EV_OFFERED, both
 * with the actor. CM_E_UNKNOWN_ID; CM_E_CONFLICT at "$.request" naming
 * the state when it is not awaiting; nothing changed on error. */
CM_EXPORT cm_status cm_engine_confirm(cm_engine *e, const char *request_id,
                                      const char *actor, int64_t now_ms,
                                      cm_error *err);
/* Dismiss an awaiting request (final state CM_REQ_DISMISSED, the reason
 * recorded; event CM_EV_DISMISSED with actor and reason). Errors as
 * confirm; a reason out of range is CM_E_INVALID at "$.reason". */
CM_EXPORT cm_status cm_engine_dismiss(cm_engine *e, const char *request_id,
                                      cm_dismiss_reason reason,
                                      const char *actor, int64_t now_ms,
                                      cm_error *err);
/* The same with a completion (the contract of cm_engine_cancel_async). */
CM_EXPORT cm_status cm_engine_confirm_async(cm_engine *e,
                                            const char *request_id,
                                            const char *actor, int64_t now_ms,
                                            cm_engine_done_fn done, void *ctx,
                                            cm_error *err);
CM_EXPORT cm_status cm_engine_dismiss_async(cm_engine *e,
                                            const char *request_id,
                                            cm_dismiss_reason reason,
                                            const char *actor, int64_t now_ms,
                                            cm_engine_done_fn done, void *ctx,
                                            cm_error *err);
/* The best candidates of an awaiting request now, best first, at most max
 * (<= CM_CONFIRM_CANDIDATES) into out, *n how many (0 for a request in
 * another state). Returns CM_OK, CM_E_UNKNOWN_ID, or the store's error. */
CM_EXPORT cm_status cm_engine_candidates(const cm_engine *e,
                                         const char *request_id,
                                         cm_candidate *out, int max, int *n,
                                         int64_t now_ms, cm_error *err);
/* Wire names ("false_alarm", "duplicate", "other"; "none"), and back (-1
 * unknown); confirm modes ("none", "operator"), and back. */
CM_EXPORT const char *cm_dismiss_reason_name(cm_dismiss_reason r);
CM_EXPORT int cm_dismiss_reason_parse(const char *s);
CM_EXPORT const char *cm_confirm_mode_name(cm_confirm_mode m);
CM_EXPORT int cm_confirm_mode_parse(const char *s);

/* With a ledger: bring the engine up to date with it. The first call (and
 * the first after a failed ledger write or a reconnect) rebuilds every
 * request, worker and the store's mirror from the ledger (recovery at
 * start); later calls apply the worker changes other writers made. step
 * calls it first. Without a ledger it does nothing. Returns CM_OK, or the
 * ledger's error (dispatch then pauses: step runs no batch). */
CM_EXPORT cm_status cm_engine_sync(cm_engine *e, int64_t now_ms, cm_error *err);
/* With a ledger: make the next sync rebuild everything from the ledger, as
 * at start (a daemon that has just taken a region's lease adopts what the
 * former holder and the other writers did: docs/ha.md). Nothing without
 * a ledger; e NULL is fine. */
CM_EXPORT void cm_engine_resync(cm_engine *e);
/* cm_engine_sync with a completion (docs/async.md): on a ledger that
 * follows asynchronously (follow_async) the other writers' changes are
 * read on the ledger's event loop and applied in its callback; on one
 * that reads rebuilds asynchronously (rebuild_async) a rebuild (resync,
 * or a follow that lost track) is read there too and applied whole in
 * its completion: meanwhile batch_begin and the synchronous writes answer
 * CM_E_UNAVAILABLE and the _async writes are held, planned and proposed
 * once it is applied. The whole is synchronous on a ledger without
 * follow_async. Returns CM_OK when taken: done then runs exactly once
 * (maybe before this returns; CM_E_UNAVAILABLE when the engine is freed
 * first); an error (CM_E_CONFLICT: a follow is in flight already) and
 * done never runs otherwise. The next cm_engine_batch_begin after a
 * successful completion does not follow again. */
CM_EXPORT cm_status cm_engine_sync_async(cm_engine *e, int64_t now_ms,
                                         cm_engine_done_fn done, void *ctx,
                                         cm_error *err);

/* Worker updates, written to the ledger first (when there is one), then
 * passed to the store. w->status AVAILABLE or OFFLINE is
 * the worker's shift; the engine itself keeps OFFERED / BUSY while the
 * worker holds jobs up to its capacity. Going OFFLINE withdraws open
 * offers (their requests return to pending). A capacity below the jobs
 * the worker holds (offered or accepted) is CM_E_CONFLICT at "$.capacity",
 * nothing changed. One position's errors name "$.id", "$.lat", "$.lon". */
CM_EXPORT cm_status cm_engine_worker_upsert(cm_engine *e, const cm_worker *w,
                                            int64_t now_ms, cm_error *err);
CM_EXPORT cm_status cm_engine_worker_position(cm_engine *e,
                                              const char *worker_id, double lat,
                                              double lon, int64_t now_ms,
                                              cm_error *err);
/* Move n known workers at once (the ledger's bulk path); an unknown id
 * fails the call at "$.positions[i].id" before anything is written. */
CM_EXPORT cm_status cm_engine_worker_positions(cm_engine *e, int n,
                                               const char *const *ids,
                                               const double *lat,
                                               const double *lon,
                                               int64_t now_ms, cm_error *err);
CM_EXPORT cm_status cm_engine_worker_shift(cm_engine *e, const char *worker_id,
                                           int on_shift, int64_t now_ms,
                                           cm_error *err);

/* The worker writes with a completion (docs/async.md), the request
 * transitions' contract: CM_OK means done(ctx, st, err) runs exactly once
 * (maybe before this returns), with what the synchronous call would have
 * returned; an error returned (decided without the ledger: a bad worker,
 * a capacity below its jobs, an unknown id, a position out of range, the
 * same codes and fields as the synchronous calls) means it never runs.
 * On a ledger with worker_propose (Redis on a caller's loop) the write is
 * proposed, ordered there with the takes in proposal order, and applied to
 * the engine and its store's mirror by the completion; reads see the
 * worker as it was until then. Otherwise (no ledger, the memory ledger)
 * it is the synchronous call followed by done. A worker removed by
 * another writer meanwhile is skipped by a positions write, not an
 * error. Counted by cm_engine_in_flight until done. */
CM_EXPORT cm_status cm_engine_worker_upsert_async(cm_engine *e,
                                                  const cm_worker *w,
                                                  int64_t now_ms,
                                                  cm_engine_done_fn done,
                                                  void *ctx, cm_error *err);
CM_EXPORT cm_status cm_engine_worker_shift_async(cm_engine *e,
                                                 const char *worker_id,
                                                 int on_shift, int64_t now_ms,
                                                 cm_engine_done_fn done,
                                                 void *ctx, cm_error *err);
CM_EXPORT cm_status cm_engine_worker_position_async(
    cm_engine *e, const char *worker_id, double lat, double lon, int64_t now_ms,
    cm_engine_done_fn done, void *ctx, cm_error *err);
CM_EXPORT cm_status cm_engine_worker_positions_async(
    cm_engine *e, int n, const char *const *ids, const double *lat,
    const double *lon, int64_t now_ms, cm_engine_done_fn done, void *ctx,
    cm_error *err);

/* Run what is due at now_ms: expire offers, release scheduled requests,
 * solve the batch that is due. Returns CM_OK with *batches (when not NULL)
 * the number of batches run (0 or 1), or the error with err set (nothing
 * committed for the failed batch; *batches 0). */
CM_EXPORT cm_status cm_engine_step(cm_engine *e, int64_t now_ms, int *batches,
                                   cm_error *err);
/* step in three parts, for callers that solve off their own thread (the
 * daemon's event loop hands the solve to a solver thread):
 * cm_engine_batch_begin does what step does before the solve (sync with
 * the ledger, expire offers, release scheduled requests) and, when a batch
 * is due, takes its requests, asks the store for their candidates and
 * builds the instance. It returns CM_OK with *out the batch, or *out NULL
 * when there is none to run (nothing due, or a batch already in flight);
 * or the error with err set and *out NULL. Only one batch is in flight at
 * a time; the engine takes every other call meanwhile. The batch is the
 * caller's until it passes it to cm_engine_batch_end (or
 * cm_engine_batch_free); it borrows the engine, which must outlive it.
 * cm_engine_batch_solve touches nothing but the batch: call it on any one
 * thread. cm_engine_batch_end, back on the engine's thread, commits the
 * offers whose request is still pending and unchanged and whose workers
 * still have room (the others stay pending), frees the batch (always) and
 * returns CM_OK, or the error with err set (nothing committed; a batch
 * that was not solved is the solve's error, CM_E_SOLVER when none). */
typedef struct cm_engine_batch cm_engine_batch;
CM_EXPORT cm_status cm_engine_batch_begin(cm_engine *e, int64_t now_ms,
                                          cm_engine_batch **out, cm_error *err);
/* cm_engine_batch_begin on the engine's state as it stands, without
 * following the ledger first (an emergency's batch: a follow asked now
 * would be answered only after the emergency's create, docs/async.md "one
 * durable write"; the offers' commit still checks every precondition).
 * CM_E_UNAVAILABLE (err set, *out NULL, nothing done) when the engine
 * must rebuild from its ledger first, or is rebuilding. */
CM_EXPORT cm_status cm_engine_batch_begin_unfollowed(cm_engine *e,
                                                     int64_t now_ms,
                                                     cm_engine_batch **out,
                                                     cm_error *err);
CM_EXPORT cm_status cm_engine_batch_solve(cm_engine_batch *b, cm_error *err);
CM_EXPORT cm_status cm_engine_batch_end(cm_engine *e, cm_engine_batch *b,
                                        int64_t now_ms, cm_error *err);
/* cm_engine_batch_end with a completion (docs/async.md): on a ledger with
 * propose, the offers are proposed and this returns CM_OK at once (the
 * batch is freed, another may begin); until done(ctx, st, err) runs, the
 * offered requests are held (calls on them wait, no batch takes them)
 * and the taking workers' jobs counted, then the offers the ledger took
 * are applied and their events queued. Without a ledger, or on one that
 * completes at once, it is cm_engine_batch_end followed by done. done runs
 * exactly once when this returns CM_OK (maybe before it returns); an
 * error returned (the solve's, the commit's, CM_E_INVALID without done)
 * means it never runs. */
CM_EXPORT cm_status cm_engine_batch_end_async(cm_engine *e, cm_engine_batch *b,
                                              int64_t now_ms,
                                              cm_engine_done_fn done, void *ctx,
                                              cm_error *err);
/* With begin_part_ms and a clock, cm_engine_batch_begin may stop a
 * regular batch's begin after its part: *out NULL and
 * cm_engine_beginning 1. The caller serves other calls and then goes on
 * with cm_engine_batch_continue, which returns the batch (*out) once its
 * begin is done, NULL while parts remain; or the error (err set, the
 * batch dropped, its requests wait for the next window). Meanwhile
 * cm_engine_batch_begin begins only an emergency's own batch, and while
 * that one is in flight continue waits (CM_OK, *out NULL) until it ended.
 * The batch's requests changed meanwhile are left out at the end, as are
 * those changed while it was solved; its workers are taken only where
 * they still have room. */
CM_EXPORT cm_status cm_engine_batch_continue(cm_engine *e, int64_t now_ms,
                                             cm_engine_batch **out,
                                             cm_error *err);
CM_EXPORT int cm_engine_beginning(const cm_engine *e);
/* Drop a paused begin (the daemon's lease lost): its requests are due for
 * the next step. Nothing when none is paused. */
CM_EXPORT void cm_engine_begin_drop(cm_engine *e);
/* Free a batch without ending it (the engine then has none in flight only
 * after cm_engine_batch_end; use this at shutdown). Accepts NULL. */
CM_EXPORT void cm_engine_batch_free(cm_engine_batch *b);

/* When step should run next (ms), or INT64_MAX when nothing is waiting. */
CM_EXPORT int64_t cm_engine_next_due(const cm_engine *e);
/* When an emergency's own batch is due (ms; cfg.emergencies_alone), or
 * INT64_MAX when none is. */
CM_EXPORT int64_t cm_engine_next_alone(const cm_engine *e);

/* Move up to max queued events (oldest first) into out; returns how many. */
CM_EXPORT int cm_engine_poll(cm_engine *e, cm_event *out, int max);

/* Copy a request's view; CM_E_UNKNOWN_ID when unknown (or forgotten).
 * With a ledger, a request the engine does not hold (finished before a
 * restart, or by another engine) is read from the ledger, whose errors
 * (CM_E_UNAVAILABLE) are returned as they are. */
CM_EXPORT cm_status cm_engine_request_get(const cm_engine *e,
                                          const char *request_id,
                                          cm_request_view *out, cm_error *err);
/* 1 when the engine holds request_id in memory (live, or in its history
 * of finished ones), without asking the ledger; else 0. */
CM_EXPORT int cm_engine_holds(const cm_engine *e, const char *request_id);
/* Worker's open jobs (offered or accepted); -1 when unknown. */
CM_EXPORT int cm_engine_worker_jobs(const cm_engine *e, const char *worker_id);
CM_EXPORT void cm_engine_stats_get(const cm_engine *e, cm_engine_stats *out);

/* Operators' overrides (docs/engine.md "Operator overrides"). Each is a
 * transition committed like the others (its event names actor, the
 * operator, "" none; the record keeps the pin and the hold, so a restart
 * or a rebuild keeps them). Errors: CM_E_UNKNOWN_ID for an unknown request
 * ("$.request") or worker ("$.worker"); CM_E_CONFLICT naming the state when
 * the request's state does not allow it; CM_E_INVALID at "$.worker" for a
 * worker named for a team request. Nothing changes on error.
 *
 * pin: a pending request is offered by the next batch to worker_id alone
 * when that worker is eligible (on shift with room, the skills, a fresh
 * position, not excluded; the search radius and the emergency reserve do
 * not apply), else it stays pending with a pinned_worker_* reason.
 * worker_id NULL unpins (cm_engine_release). Pinning again to the same
 * worker is a no-op; pinning forgets that worker's earlier refusal.
 * hold: a pending request is kept out of batching (held_by_operator);
 * again is a no-op. release: unheld and unpinned, back into batching (any
 * unfinished state; a no-op when neither). reassign: an offered or
 * accepted request's workers give their jobs back and it is pending again:
 * pinned to worker_id when given (the next batch offers it there), else
 * its former workers are excluded from it and the next batch picks. */
CM_EXPORT cm_status cm_engine_pin(cm_engine *e, const char *request_id,
                                  const char *worker_id, const char *actor,
                                  int64_t now_ms, cm_error *err);
CM_EXPORT cm_status cm_engine_hold(cm_engine *e, const char *request_id,
                                   const char *actor, int64_t now_ms,
                                   cm_error *err);
CM_EXPORT cm_status cm_engine_release(cm_engine *e, const char *request_id,
                                      const char *actor, int64_t now_ms,
                                      cm_error *err);
CM_EXPORT cm_status cm_engine_reassign(cm_engine *e, const char *request_id,
                                       const char *worker_id, const char *actor,
                                       int64_t now_ms, cm_error *err);
/* The same with a completion (the _async contract above). */
CM_EXPORT cm_status cm_engine_pin_async(cm_engine *e, const char *request_id,
                                        const char *worker_id,
                                        const char *actor, int64_t now_ms,
                                        cm_engine_done_fn done, void *ctx,
                                        cm_error *err);
CM_EXPORT cm_status cm_engine_hold_async(cm_engine *e, const char *request_id,
                                         const char *actor, int64_t now_ms,
                                         cm_engine_done_fn done, void *ctx,
                                         cm_error *err);
CM_EXPORT cm_status cm_engine_release_async(cm_engine *e,
                                            const char *request_id,
                                            const char *actor, int64_t now_ms,
                                            cm_engine_done_fn done, void *ctx,
                                            cm_error *err);
CM_EXPORT cm_status cm_engine_reassign_async(cm_engine *e,
                                             const char *request_id,
                                             const char *worker_id,
                                             const char *actor, int64_t now_ms,
                                             cm_engine_done_fn done, void *ctx,
                                             cm_error *err);
/* The live (unfinished) requests, for operators' lists: how many the
 * engine holds, and copies of the views of up to max of them from offset
 * (arrival order, except that a request finishing moves the last one into
 * its place: a page may miss or repeat one when requests finish between
 * two calls). Returns how many were copied into out (0 when offset is past
 * the end; e or out NULL: 0). Neither can fail nor changes anything. */
CM_EXPORT int cm_engine_live_count(const cm_engine *e);
CM_EXPORT int cm_engine_live_get(const cm_engine *e, int offset, int max,
                                 cm_request_view *out);

/* Wire names ("pending", "offered", ...): static strings; "unknown" for a
 * value out of range. */
CM_EXPORT const char *cm_request_state_name(cm_request_state s);
CM_EXPORT const char *cm_event_type_name(cm_event_type t);

#ifdef __cplusplus
}
#endif
#endif
