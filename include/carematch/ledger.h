/* ledger.h -- the engine's durable dispatch state: where requests and the
 * workers' jobs live when the engine's own memory is not enough (a
 * restart, or a second daemon on the same region, must lose nothing).
 *
 * A ledger is a struct of function pointers, like the position store. The
 * Redis ledger (cm_ledger_redis_new in redis.h) is the production one; the
 * memory ledger (cm_ledger_memory_new below) keeps the same rules in
 * process memory, for embedding and tests.
 * Without a ledger (cm_engine_config.ledger NULL, the embedded default)
 * the engine keeps everything in memory, as before.
 *
 * With a ledger the engine writes first and applies after: every request
 * transition is a cm_ledger_change, committed atomically with its
 * preconditions (the request still has the version the engine knows; every
 * worker taking a job is on shift with room), and applied in memory only
 * when the ledger accepted it. Worker writes go to the ledger first, then
 * to the engine's store, which is then a mirror of the ledger's workers
 * used for candidate search. Before each step the engine follows the
 * changes other writers made (cm_ledger_type.follow); when it lost track
 * (first use, reconnect, a failed write) it rebuilds its requests, workers
 * and mirror from the ledger. docs/ledger.md has the argument. */
#ifndef CM_LEDGER_H_INCLUDED_
#define CM_LEDGER_H_INCLUDED_

#include <stdint.h>

#include "carematch/error.h"
#include "carematch/export.h"
#include "carematch/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cm_ledger cm_ledger;
struct cm_request_view; /* engine.h */
struct cm_event;        /* engine.h */

/* What one transition does to one worker. */
typedef struct cm_ledger_worker {
  char id[CM_ID_MAX];
  int take;         /* 1: takes a job (must be on shift with room); 2: a
                       diversion offer (engine_divert.c): takes one even
                       when full, as her accept gives her other job back */
  int give;         /* 1: gives a job back */
  int accept_delta; /* +1 accepts, -1 gives back an accepted job */
  int done;         /* 1: a job done: jobs_today + 1, elder remembered */
  uint64_t elder;   /* cm_id_hash of the elder served (done), 0 none */
} cm_ledger_worker;

/* One request transition. */
typedef struct cm_ledger_change {
  const struct cm_request_view *after; /* the whole record after it */
  uint64_t expect_version;             /* the record's version before;
                                          0: it must not exist (submit) */
  int n_workers;
  cm_ledger_worker workers[CM_MAX_STAFF]; /* the request's workers */
  int n_events;
  const struct cm_event *events; /* appended to the event stream */
  int with_next;  /* 1: applied only together with the next change of the
                     same commit, both or neither, each's preconditions
                     checked before either is written (a diversion: her
                     job back to pending and the emergency accepted); a
                     refused pair answers the refusal on both */
  int expect_own; /* 1: the record must also have been created by this
                     writer (its origin): an offer proposed behind the
                     request's create, whose answer is not in yet, so an
                     offer behind a refused create is refused
                     (CM_LEDGER_VERSION), even when another writer's
                     record of that id has the expected version
                     (docs/async.md, "one durable write"). The memory
                     ledger, which has one writer, checks the version */
} cm_ledger_change;

/* Why a change was refused (results of commit). */
typedef enum cm_ledger_refusal {
  CM_LEDGER_OK = 0,
  CM_LEDGER_VERSION, /* the request changed meanwhile (or exists already) */
  CM_LEDGER_WORKER,  /* a taking worker is unknown, off shift or full */
  CM_LEDGER_FENCED,  /* an offer under a lease epoch that is not the
                        region's current one (docs/ha.md) */
} cm_ledger_refusal;

typedef struct cm_ledger_result {
  cm_ledger_refusal refusal;
  int worker; /* CM_LEDGER_WORKER: index in change.workers */
} cm_ledger_result;

/* Visitors: the record they are given is lent for the call only. */
typedef void (*cm_ledger_request_fn)(void *ctx,
                                     const struct cm_request_view *v);
typedef void (*cm_ledger_worker_fn)(void *ctx, const cm_worker *w);
/* A worker changed by another writer: w is its record, or NULL when it
 * was removed (id names it). */
typedef void (*cm_ledger_change_fn)(void *ctx, const char *id,
                                    const cm_worker *w);
/* The completion of a proposal (cm_ledger_propose): st and results[0..n)
 * as commit would have returned them (results lent for the call; NULL
 * when st is not CM_OK and no result is known), err the failure (lent;
 * code CM_OK on success). Runs exactly once per proposal taken. */
typedef void (*cm_ledger_done_fn)(void *ctx, cm_status st,
                                  const cm_ledger_result *results, int n,
                                  const cm_error *err);

/* A worker write proposed with cm_ledger_worker_propose (docs/async.md):
 * one of the three durable worker writes of cm_ledger_type, its arguments
 * borrowed for the call only. */
typedef enum cm_ledger_worker_op {
  CM_LEDGER_W_UPSERT = 1, /* worker */
  CM_LEDGER_W_SHIFT,      /* id, on_shift */
  CM_LEDGER_W_POSITIONS,  /* n, ids, lat, lon, seen_ms */
} cm_ledger_worker_op;

typedef struct cm_ledger_worker_write {
  cm_ledger_worker_op op;
  const cm_worker *worker; /* UPSERT: checked by the caller (store rules) */
  const char *id;          /* SHIFT */
  int on_shift;            /* SHIFT */
  int n;                   /* POSITIONS: how many */
  const char *const *ids;  /* POSITIONS: workers the caller knows */
  const double *lat, *lon; /* POSITIONS: checked by the caller */
  const int64_t *seen_ms;  /* POSITIONS */
} cm_ledger_worker_write;
/* The end of an asynchronous follow (cm_ledger_type.follow_async): st
 * and *lost as follow would have returned them (err lent; code CM_OK on
 * success). Runs exactly once per follow taken. */
typedef void (*cm_ledger_followed_fn)(void *ctx, cm_status st, int lost,
                                      const cm_error *err);

/* What a rebuild reads (cm_ledger_type.rebuild_async), lent to its
 * completion for the call only. */
typedef struct cm_ledger_snapshot {
  const cm_worker *workers; /* every worker, as each_worker has them */
  int n_workers;
  const struct cm_request_view *live; /* every unfinished request, in
                                         submission order (each_live) */
  int n_live;
  const struct cm_request_view *known; /* the records of the ids asked
                                          for that are not live (an id
                                          with no record is absent) */
  int n_known;
} cm_ledger_snapshot;
/* The end of an asynchronous rebuild read: st, the snapshot (NULL unless
 * st is CM_OK) and err (lent; code CM_OK on success). Runs exactly once
 * per rebuild taken. */
typedef void (*cm_ledger_snapshot_fn)(void *ctx, cm_status st,
                                      const cm_ledger_snapshot *s,
                                      const cm_error *err);

/* The end of an asynchronous read of a request's record
 * (cm_ledger_type.get_async): st as get would have returned it (CM_OK
 * with v, CM_E_UNKNOWN_ID when the ledger has none, CM_E_UNAVAILABLE when
 * the connection dropped, no reply came within its timeout or the ledger
 * was freed), v the record (lent for the call; NULL unless st is CM_OK),
 * err lent (code CM_OK on success). Runs exactly once per read taken. */
typedef void (*cm_ledger_record_fn)(void *ctx, cm_status st,
                                    const struct cm_request_view *v,
                                    const cm_error *err);

typedef struct cm_ledger_type {
  const char *name; /* "redis" */
  void (*free)(cm_ledger *l);
  /* Commit n changes, each atomically and independently: results[i] says
   * whether change i was applied. Returns CM_OK when every result is
   * known; CM_E_UNAVAILABLE (or another error) when some may not be: the
   * caller must then resynchronise before trusting its state. */
  cm_status (*commit)(cm_ledger *l, const cm_ledger_change *ch, int n,
                      cm_ledger_result *results, cm_error *err);
  /* A request's record; CM_E_UNKNOWN_ID when the ledger has none. */
  cm_status (*get)(cm_ledger *l, const char *id, struct cm_request_view *out,
                   cm_error *err);
  /* Every unfinished request, in submission order. */
  cm_status (*each_live)(cm_ledger *l, cm_ledger_request_fn fn, void *ctx,
                         cm_error *err);
  /* Durable worker writes (the store's rules and errors). shift: 0 puts
   * the worker off shift; 1 on shift, its status then follows its jobs. */
  cm_status (*worker_upsert)(cm_ledger *l, const cm_worker *w, cm_error *err);
  cm_status (*worker_positions)(cm_ledger *l, int n, const char *const *ids,
                                const double *lat, const double *lon,
                                const int64_t *seen_ms, cm_error *err);
  cm_status (*worker_shift)(cm_ledger *l, const char *id, int on_shift,
                            cm_error *err);
  /* Every worker as the ledger has it (status derived from its jobs). */
  cm_status (*each_worker)(cm_ledger *l, cm_ledger_worker_fn fn, void *ctx,
                           cm_error *err);
  /* Start following: later calls to follow report changes made after
   * this one. */
  cm_status (*follow_start)(cm_ledger *l, cm_error *err);
  /* Report the workers other writers changed since the last call. Sets
   * *lost when changes may have been missed (never started, reconnected,
   * history trimmed): the caller must rebuild. */
  cm_status (*follow)(cm_ledger *l, cm_ledger_change_fn fn, void *ctx,
                      int *lost, cm_error *err);
  /* Optional (NULL: cm_ledger_propose commits synchronously). Propose n
   * changes (cm_ledger_propose's contract): the ledger copies what it
   * needs before returning and calls done once, maybe later from the
   * event loop it runs on. docs/async.md. */
  cm_status (*propose)(cm_ledger *l, const cm_ledger_change *ch, int n,
                       cm_ledger_done_fn done, void *ctx, cm_error *err);
  /* Optional (NULL: cm_ledger_worker_propose calls the synchronous worker
   * write). Propose one worker write (cm_ledger_worker_propose's
   * contract), ordered with propose's changes in proposal order. */
  cm_status (*worker_propose)(cm_ledger *l, const cm_ledger_worker_write *w,
                              cm_ledger_done_fn done, void *ctx, cm_error *err);
  /* Optional (NULL: cm_engine_sync_async follows synchronously). follow,
   * asynchronously on the event loop the ledger's proposals run on: fn
   * reports each change from that loop's callbacks, then done runs once
   * (also when the connection drops: CM_E_UNAVAILABLE). Returns CM_OK when
   * taken, or an error and neither runs. One at a time. */
  cm_status (*follow_async)(cm_ledger *l, cm_ledger_change_fn fn, void *ctx,
                            cm_ledger_followed_fn done, cm_error *err);
  /* Optional (NULL: the engine rebuilds synchronously with follow_start,
   * each_worker, each_live and get). Everything a rebuild reads, on the
   * event loop the proposals run on and behind the proposals already
   * made, in pages each sent from the previous reply's callback: first
   * follow_start's mark (once done reports CM_OK, follow reports what
   * changed after it), then every worker, every live request and the
   * record of each of ids[0..n) that is not live. done runs once, from
   * that loop (or before this returns on a ledger without one), also when
   * the connection drops, no reply comes within its timeout or the ledger
   * is freed (CM_E_UNAVAILABLE). Returns CM_OK when taken, or an error
   * and done never runs (CM_E_CONFLICT: a follow or a rebuild is in
   * flight). ids are copied. */
  cm_status (*rebuild_async)(cm_ledger *l, const char *const *ids, int n,
                             cm_ledger_snapshot_fn done, void *ctx,
                             cm_error *err);
  /* Optional (NULL: the engine reads a record again with get). get, on
   * the event loop the proposals run on and behind the proposals already
   * made, so that it reads a state at least as new as what was committed
   * before it: done runs once, from that loop (or before this returns on a
   * ledger without one), also when the connection drops, no reply comes
   * within its timeout or the ledger is freed (CM_E_UNAVAILABLE). Returns
   * CM_OK when taken, or an error and done never runs. id is copied.
   * docs/async-log.md, step i. */
  cm_status (*get_async)(cm_ledger *l, const char *id, cm_ledger_record_fn done,
                         void *ctx, cm_error *err);
} cm_ledger_type;

struct cm_ledger {
  const cm_ledger_type *type;
};

/* Calls through the type; cm_ledger_free accepts NULL. */
CM_EXPORT void cm_ledger_free(cm_ledger *l);

/* Commit n changes asynchronously (docs/async.md). Returns CM_OK when the
 * changes were taken: done then runs exactly once, with the status and
 * results commit would have given, either before this call returns (a
 * ledger without propose, such as the memory ledger: commit, then done)
 * or later, from the event loop the ledger runs on. Returns an error (bad
 * arguments, CM_E_NOMEM) with err set, and done never runs, otherwise.
 * ch and what it points to are the caller's again when this returns. */
CM_EXPORT cm_status cm_ledger_propose(cm_ledger *l, const cm_ledger_change *ch,
                                      int n, cm_ledger_done_fn done, void *ctx,
                                      cm_error *err);

/* Write one worker change asynchronously, cm_ledger_propose's contract:
 * CM_OK when taken, then done(ctx, st, NULL, 0, err) runs exactly once,
 * st what the synchronous write (worker_upsert, worker_shift,
 * worker_positions) would have returned, maybe before this returns (a
 * ledger without worker_propose: the synchronous write, then done); an
 * error returned (bad arguments, CM_E_NOMEM) and done never runs. The
 * ledger runs proposals of both kinds in proposal order, so a worker's
 * write proposed before a change that takes it is checked by that change.
 * POSITIONS: a ledger that writes later, from its event loop (Redis on a
 * caller's base), moves the known workers and skips an unknown one (the
 * caller checked the ids against its own records; one removed meanwhile
 * by another writer is not an error); one that writes at once fails the
 * call on it, as worker_positions does.
 * w and what it points to are the caller's again when this returns. */
CM_EXPORT cm_status cm_ledger_worker_propose(cm_ledger *l,
                                             const cm_ledger_worker_write *w,
                                             cm_ledger_done_fn done, void *ctx,
                                             cm_error *err);

/* A new, empty memory ledger: the Redis ledger's rules (records and
 * versions, live requests in submission order, each worker's open and
 * accepted jobs and the status they call for, the same preconditions,
 * argument checks and errors) in process memory, with no I/O. For one
 * engine: follow reports no other writer (and lost until follow_start).
 * Events are not kept (cm_engine_poll has them); finished records are
 * kept until the ledger is freed. Nothing is durable: it survives an
 * engine, not the process. The caller owns it (cm_ledger_free) and frees it
 * after the engine using it. Returns NULL with err set (CM_E_NOMEM) when
 * out of memory. */
CM_EXPORT cm_ledger *cm_ledger_memory_new(cm_error *err);

#ifdef __cplusplus
}
#endif
#endif
