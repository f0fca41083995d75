/* solve.h -- one batch: instance in, answer out.
 *
 * cm_solve finds the K nearest eligible workers of each request, prices every
 * edge, shrinks the model with exact reductions, splits it into connected
 * components and solves each exactly (one-person components: a network
 * algorithm whose spanning-tree basis GLPK's simplex confirms and prices;
 * components with team requests: GLPK branch and bound), under one deadline.
 *
 * Anytime: the greedy answer (most urgent first, cheapest free worker) is
 * built while the candidates are found, and every later phase only improves
 * on it, component by component: a component keeps the phases' answer only
 * when it costs no more than the greedy one and serves no fewer
 * emergencies. Every phase watches the clock and stops with time left to
 * finish, so the call returns within the budget (plus scheduling noise):
 * - a budget that covers the candidate search (what greedy itself needs)
 *   gives an answer never worse than greedy's, in objective and in
 *   emergencies served;
 * - a shorter one gives greedy's own decisions for the most urgent requests
 *   the search reached; the rest are unassigned with reason `deadline`
 *   (stats.unsearched counts them).
 * A component that cannot finish in time keeps what was solved (the
 * network's optimal prefix, GLPK's incumbent) completed greedily, and the
 * answer says so, with a certified lower bound and gap.
 * Deterministic without a deadline: the same instance gives the same answer.
 * GLPK state is per call and per thread: cm_solve may run on any thread, one
 * call per thread at a time. */
#ifndef CM_SOLVE_H_INCLUDED_
#define CM_SOLVE_H_INCLUDED_

#include <stdint.h>

#include "carematch/error.h"
#include "carematch/export.h"
#include "carematch/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Monotonic clock injected by the caller: nanoseconds from any origin. */
typedef int64_t (*cm_clock_fn)(void *ctx);

typedef enum cm_method {
  CM_METHOD_REDUCED = 0, /* fixed by an exact reduction */
  CM_METHOD_NETWORK,    /* network algorithm, basis confirmed by GLPK simplex */
  CM_METHOD_LP,         /* GLPK simplex (plain LP mode) */
  CM_METHOD_MIP,        /* GLPK branch and bound (team requests) */
  CM_METHOD_GREEDY,     /* deadline fallback */
  CM_METHOD_DECOMPOSED, /* teams too many for branch and bound: network
                           optimum, teams at network prices, bound + gap */
  CM_METHOD_COUNT
} cm_method;

typedef struct cm_solve_options {
  double deadline_ms; /* budget for the whole batch; < 0: none; 0: greedy */
  cm_clock_fn clock;  /* NULL: no deadline checks possible (budget ignored
                         unless it is 0) */
  void *clock_ctx;    /* passed to clock */
  int no_reductions;  /* testing: skip exact reductions */
  int no_components;  /* testing: one component for everything */
  int plain_lp;       /* testing: every component straight to GLPK, cold */
  int no_certify;     /* skip the GLPK confirmation of network components */
  int network;        /* testing: the network engine of one-person
                         components: 0 chosen per component, 1 successive
                         shortest paths, 2 network simplex (warm-started from
                         the greedy floor), 3 the same from an empty start */
  int validated;      /* 1: inst passed cm_instance_validate (or came from
                         cm_instance_from_json) and has not changed since:
                         cm_solve does not check it again inside the
                         budget. An invalid instance is undefined then. */
  int threads;        /* threads the call may use (created and joined inside
                         it; 0 or 1: only the caller's). Today the candidate
                         search of a batch of 512 requests or more runs on
                         them. The answer is the same for any number, but
                         for its timings. */
  const int *hint;    /* NULL (the default): none. A warm start from a
                         previous answer (cm_solve_hint_from): n_requests
                         entries, for request i the index in this instance
                         of the worker it had, -1 when it was left
                         unassigned, CM_SOLVE_HINT_UNKNOWN (or any other
                         negative) for a request not seen before. Only the
                         network simplex's first tree changes (the cheaper
                         of the greedy floor's and the hint's assignment,
                         repaired: a worker gone, full or no longer a
                         candidate gives the floor's choice or nothing);
                         the answer is the same optimum, and a cut answer
                         is never worse than the floor. Borrowed for the
                         call. */
} cm_solve_options;

/* A hint entry for a request the previous answer did not see. */
#define CM_SOLVE_HINT_UNKNOWN (-2)

typedef enum cm_unassigned_reason {
  CM_REASON_NO_CANDIDATE = 0, /* no eligible worker within the radius */
  CM_REASON_OUTRANKED,        /* its candidates went to more urgent or
                                 cheaper uses, or all cost more than
                                 leaving it for the next batch */
  CM_REASON_DEADLINE,         /* left out by the deadline fallback */
  /* The engine's reasons (cm_engine, docs/engine.md "Operator
     overrides"); cm_solve gives only the three above. */
  CM_REASON_RESERVE,            /* its only candidates were held as the
                                   emergency reserve this batch */
  CM_REASON_HELD,               /* held out of batching by an operator */
  CM_REASON_PINNED_UNKNOWN,     /* pinned to a worker no longer known */
  CM_REASON_PINNED_OFFLINE,     /* pinned to a worker off shift */
  CM_REASON_PINNED_FULL,        /* pinned to a worker at capacity */
  CM_REASON_PINNED_UNQUALIFIED, /* pinned to a worker without the skills */
  CM_REASON_PINNED_EXCLUDED,    /* pinned to a worker the request excludes */
  CM_REASON_PINNED_UNLOCATED,   /* pinned to a worker with no fresh
                                   position */
  CM_REASON_PINNED_REFUSED,     /* the pinned worker refused the offer or
                                   let it lapse */
  CM_REASON_WAITING_WORKER,     /* waits for a worker who is finishing a
                                   job nearby (the look-ahead) */
  CM_REASON_PINNED_HELD,        /* pinned to a worker soft-held for another
                                   request awaiting confirmation */
  CM_REASON_COUNT
} cm_unassigned_reason;

/* The terms of an edge cost, one row each: X(field, "key", "doc"). field
 * is the member of cm_cost_terms, key its name in every encoding of the
 * breakdown (the answer's "cost", the daemon's, the Redis record), in
 * this order. A term is priced by the weight of the same name
 * (CM_WEIGHTS_TABLE); cm_edge_cost (core/solver/cost.c) computes it. */
#define CM_COST_TERMS(X)                                                       \
  X(travel, "travel", "weights.travel * travel_min * urgency factor")          \
  X(workload, "workload", "weights.workload * jobs_today")                     \
  X(continuity, "continuity", "-weights.continuity when the elder is known")   \
  X(rating, "rating", "weights.rating * (5 - rating)")                         \
  X(skill, "skill", "weights.skill * (5 - level)")                             \
  X(preferred, "preferred", "-weights.preferred when preferred")               \
  X(sla, "sla", "weights.sla_late_per_min * minutes late added by the travel")

/* An edge cost, term by term; total is their sum. */
typedef struct cm_cost_terms {
  double distance_km; /* great-circle distance (0 in edge mode w/o positions) */
  double travel_min;  /* estimated travel time */
#define CM_X_TERM_(field, key, doc) double field;
  CM_COST_TERMS(CM_X_TERM_) /* one double per row, in order */
#undef CM_X_TERM_
  double total; /* the edge cost */
} cm_cost_terms;

typedef struct cm_assignment {
  int request;         /* request index */
  int worker;          /* worker index */
  int component;       /* component index, -1 when fixed by reduction */
  cm_cost_terms terms; /* why this edge costs what it costs */
} cm_assignment;

typedef struct cm_unassigned {
  int request;                 /* request index */
  cm_unassigned_reason reason; /* why */
  double penalty;              /* the unassigned penalty paid */
} cm_unassigned;

typedef struct cm_component_info {
  int requests;     /* requests in the component */
  int workers;      /* workers in the component */
  int edges;        /* candidate edges */
  int teams;        /* team requests among them */
  cm_method method; /* how it was solved */
  int fell_back;    /* the deadline cut in: completed greedily */
  int floor;        /* the greedy answer was kept: what the phases found
                       cost more or served fewer emergencies */
  int proven;       /* the answer is proven optimal for this component */
  double ms;        /* time spent on it */
} cm_component_info;

typedef struct cm_solve_stats {
  double candidates_ms;    /* candidate search and pricing of edges */
  double build_ms;         /* reductions, components, model construction */
  double solve_ms;         /* solving components */
  double total_ms;         /* whole call */
  int edges;               /* candidate edges kept */
  int reduced;             /* requests fixed by exact reductions */
  int components;          /* components solved */
  int fallbacks;           /* components the deadline cut */
  int floor_components;    /* components that kept the greedy answer */
  int unsearched;          /* requests the deadline left unsearched */
  double greedy_objective; /* the floor: the greedy answer's objective
                              (over the requests searched) */
  int pricing_rounds;      /* GLPK pricing rounds, summed */
  int glpk_iterations;     /* simplex iterations, summed */
  int exact;               /* 1: the objective is proven optimal */
  double lower_bound;      /* LP dual bound on the objective */
  double gap;              /* (objective - lower_bound) / max(1, |objective|) */
  long simplex_pivots;     /* network simplex pivots, summed */
  int hinted;              /* requests the simplex started on the worker
                              cm_solve_options.hint gave them */
} cm_solve_stats;

typedef struct cm_answer {
  cm_assignment *assignments; /* owned; one per (request, worker) */
  int n_assignments;
  cm_unassigned *unassigned; /* owned */
  int n_unassigned;
  cm_component_info *components; /* owned */
  int n_components;
  double objective; /* sum of assigned edge costs + unassigned penalties */
  cm_solve_stats stats;
} cm_answer;

/* Solve one batch. inst must pass cm_instance_validate (it is validated
 * again, inside the budget, unless opts->validated; an invalid instance
 * returns its error). On success fills *out (free with cm_answer_free) and
 * returns CM_OK; on failure *out is left empty and err says why. opts may
 * be NULL (no deadline). */
CM_EXPORT cm_status cm_solve(const cm_instance *inst,
                             const cm_solve_options *opts, cm_answer *out,
                             cm_error *err);
CM_EXPORT void cm_answer_free(cm_answer *ans);

/* A warm-start hint for inst (cm_solve_options.hint) from the answer prev
 * gave the batch before, matched by ids: for each request of inst the index
 * in inst of the worker prev assigned it (its id in prev_inst), -1 when prev
 * left it unassigned, CM_SOLVE_HINT_UNKNOWN when prev_inst had no request
 * of that id or its worker is not in inst. hint has inst->n_requests
 * entries. Returns CM_OK, or CM_E_NOMEM (hint unchanged). */
CM_EXPORT cm_status cm_solve_hint_from(const cm_instance *prev_inst,
                                       const cm_answer *prev,
                                       const cm_instance *inst, int *hint,
                                       cm_error *err);

/* Free what cm_solve keeps per thread (GLPK's environment, created on a
 * thread's first solve). Call it on a thread that solved, before the
 * thread exits; the main thread's is freed at exit. Harmless when there is
 * nothing to free. */
CM_EXPORT void cm_solve_thread_cleanup(void);

/* Pure pieces, public for tools and tests. */
/* Great-circle distance in km. */
CM_EXPORT double cm_geo_distance_km(double lat1, double lon1, double lat2,
                                    double lon2);
/* Travel minutes for a distance under the parameters' speed model. */
CM_EXPORT double cm_travel_minutes(const cm_params *p, double distance_km);
/* Search radius of a request after waiting. */
CM_EXPORT double cm_request_radius_km(const cm_params *p, const cm_request *r);
/* Unassigned penalty of a request. */
CM_EXPORT double cm_request_penalty(const cm_weights *w, const cm_request *r);
/* 1 when worker w may serve request r at time now (skills, status, fresh
 * position, capacity, not excluded); distance is not checked. */
CM_EXPORT int cm_worker_eligible(const cm_instance *inst, int request,
                                 int worker);
/* Fill the cost terms of edge (request, worker) with a given travel time. */
CM_EXPORT void cm_edge_cost(const cm_instance *inst, int request, int worker,
                            double distance_km, double travel_min,
                            cm_cost_terms *out);

/* Wire names ("network", "no_candidate", ...): static strings. */
CM_EXPORT const char *cm_method_name(cm_method m);
CM_EXPORT const char *cm_reason_name(cm_unassigned_reason r);

#ifdef __cplusplus
}
#endif
#endif
