/* engine_internal.h -- the engine's records, shared by its files. */
#ifndef CM_ENGINE_INTERNAL_H_INCLUDED_
#define CM_ENGINE_INTERNAL_H_INCLUDED_

#include "carematch/engine.h"
#include "idmap.h"

typedef struct cm__req {
  cm_request_spec spec;
  cm_request_state state;
  int64_t created_ms, release_ms, offered_ms, expires_ms, finished_ms;
  int64_t ready_ms; /* became eligible for a batch (latency base) */
  int offered_once; /* latency recorded */
  int released;     /* past its release time, batch asked for */
  int n_workers;
  char workers[CM_MAX_STAFF][CM_ID_MAX];
  int accepted[CM_MAX_STAFF];
  cm_cost_terms terms[CM_MAX_STAFF];
  int n_rejected;
  char rejected[CM_MAX_REJECTS][CM_ID_MAX];
  int has_reason;
  cm_unassigned_reason reason;
  int batches;
  int slot; /* index in live[] or done[] */
} cm__req;

typedef struct cm__wrk {
  char id[CM_ID_MAX];
  int on_shift; /* the worker's own available / offline */
  int capacity; /* jobs at once */
  int jobs;     /* open jobs held (offered or accepted) */
  int accepted; /* of which accepted */
  int slot;     /* index in workers[] */
} cm__wrk;

typedef struct cm__events {
  cm_event *ring;
  int cap, head, count;
  uint64_t seq;
  uint64_t dropped;
} cm__events;

struct cm_engine {
  cm_engine_config cfg;
  cm_store *store;   /* borrowed */
  cm__idmap req_map; /* id -> slot in live[] (>= 0) or ~slot in done[] */
  cm__req **live;    /* unfinished requests, in arrival order */
  int n_live, cap_live;
  cm__req **done; /* finished, ring of cfg.history */
  int n_done, done_head;
  cm__idmap wrk_map; /* id -> slot in workers[] */
  cm__wrk **workers;
  int n_workers, cap_workers;
  int64_t next_batch_ms; /* INT64_MAX when no batch is waiting */
  int64_t now_ms;        /* last time seen */
  cm__events ev;
  cm_engine_stats stats;
};

/* events */
int cm__events_init(cm__events *q, int cap);
void cm__events_free(cm__events *q);
void cm__emit(cm_engine *e, cm_event_type t, const cm__req *r,
              const char *worker, cm_request_state from, cm_request_state to,
              const cm_cost_terms *terms);

/* requests */
cm__req *cm__req_find(const cm_engine *e, const char *id);
/* Move a live request to the finished history. */
void cm__req_finish(cm_engine *e, cm__req *r, cm_request_state to,
                    int64_t now_ms);
/* Back to pending after a refusal, lapse or withdrawal; remembers who. */
void cm__req_requeue(cm_engine *e, cm__req *r, const char *worker,
                     cm_event_type why, int64_t now_ms);

/* workers */
cm__wrk *cm__wrk_find(const cm_engine *e, const char *id);
/* Put the worker's effective status in the store: OFFLINE off shift,
 * OFFERED or BUSY at capacity, AVAILABLE otherwise. */
void cm__wrk_sync(cm_engine *e, cm__wrk *w);
/* Take / give back one job of worker w; keeps the store's status right. */
void cm__wrk_hold(cm_engine *e, cm__wrk *w);
void cm__wrk_release(cm_engine *e, cm__wrk *w, int was_accepted);
/* Release every worker of r (offered or accepted). */
void cm__req_release_workers(cm_engine *e, cm__req *r);

/* batches */
void cm__schedule_batch(cm_engine *e, int64_t at_ms);
int cm__run_batch(cm_engine *e, int64_t now_ms, cm_error *err);

#endif
