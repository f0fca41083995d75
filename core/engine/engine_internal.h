/* engine_internal.h -- the engine's records, shared by its files.
 *
 * Who calls whom: each file calls only the files above it in this list,
 * never one below, so the engine reads from the top down.
 *
 *   engine_events.c     the event queue (a bounded ring)
 *   engine.c            the engine, its configuration and the request
 *                       table: it alone inserts requests, finishes them
 *                       into the history and replaces a record; the
 *                       batch timer; views of a record; queries
 *   engine_list.c       the live requests as a list (reads only)
 *   engine_roster.c     the worker table: the records of workers and the
 *                       jobs they hold, mirrored in the store's status
 *   engine_demand.c     where emergencies come from: their history by
 *                       area and hour, read by the reserve
 *   engine_lookahead.c  look-ahead: service minutes learnt per kind of
 *                       job; busy workers free soon as batch candidates
 *   engine_ledger.c     changes and commits to the ledger; adopting the
 *                       ledger's record of a request
 *   engine_ops.c        a transition as an op: committed at once, or
 *                       proposed and applied by its completion, queued
 *                       behind the op in flight on the same request; the
 *                       re-read of a record as an op of that queue
 *   engine_divert.c     diversion: a worker on the way to less urgent
 *                       work as an emergency's candidate, her offer, and
 *                       her accept with her job back to pending, in one
 *                       commit
 *   engine_lifecycle.c  the transitions after submission: requeue,
 *                       accept, reject, complete, cancel, withdraw offers
 *   engine_confirm.c    confirmation before dispatch: candidates, the
 *                       soft hold, confirm and dismiss
 *   engine_submit.c     a new request
 *   engine_workers.c    the worker calls (shift, capacity, positions)
 *   engine_wwrites.c    the same with a completion: proposed, applied
 *   engine_sync.c       following the ledger and rebuilding from it
 *   engine_rebuild.c    the rebuild read asynchronously, applied whole
 *   engine_offers.c     a batch's offers: planned, committed or proposed,
 *                       applied
 *   engine_reserve.c    the emergency reserve of a batch (store only)
 *   engine_override.c   operators' overrides: pin, hold, release,
 *                       reassign; a batch's pinned offers
 *   engine_batch.c      when batches run and what one does
 *
 * The public functions of each file are its own entry points; the cm__
 * functions below are grouped by the file that defines them. */
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
  uint64_t version; /* 1 at submission, + 1 per committed transition */
  int slot;         /* index in live[] or done[] */
  unsigned gen;     /* last rebuild that found it in the ledger */
  int in_batch;     /* a batch's offer of it is in flight */
  int escalated;    /* CM_EV_ESCALATED emitted (engine_batch.c) */
  /* confirmation before dispatch (engine_confirm.c) */
  char hold_worker[CM_ID_MAX]; /* AWAITING: the soft-held worker, "" none */
  int64_t hold_until_ms;       /* it lapses then */
  int hold_lapsed;             /* CM_EV_HOLD_LAPSED emitted */
  cm_dismiss_reason dismissed; /* DISMISSED: why */
  /* operators' overrides (engine_override.c) */
  char pinned[CM_ID_MAX]; /* offered to this worker only, "" none */
  int held;               /* kept out of batching */
  int64_t arrived_ms;     /* first accepted worker's arrival, 0 none */
  /* diversion (engine_divert.c): an open offer to a worker on her way to
     this job, which her accept gives back; "" none */
  char divert_of[CM_ID_MAX];
  uint64_t divert_version; /* that job's version when offered */
  int64_t divert_ms;       /* when offered (an offer made since is not) */
} cm__req;

typedef struct cm__wrk {
  char id[CM_ID_MAX];
  int on_shift;       /* the worker's own available / offline */
  int capacity;       /* jobs at once */
  int jobs;           /* open jobs held (offered or accepted) */
  int accepted;       /* of which accepted */
  int planned;        /* offers planned in the commit being built, or in
                         flight (engine_offers.c) */
  int slot;           /* index in workers[] */
  unsigned gen;       /* last rebuild that found it in the ledger */
  int64_t standby_ms; /* last standby suggestion (engine_standby.c), 0 none */
  double standby_lat, standby_lon; /* where it was suggested */
} cm__wrk;

typedef struct cm__events {
  cm_event *ring;
  int cap, head, count;
  uint64_t seq;
  uint64_t dropped;
} cm__events;

/* A transition of one request, worked out by its plan and applied by its
 * apply once the ledger took it (engine_ops.c, docs/async.md). */
typedef struct cm__op cm__op;
typedef cm_status (*cm__op_fn)(cm_engine *e, cm__op *op, cm_error *err);
/* Two changes an op proposes together (a diversion's accept: her job back
 * to pending, then the emergency accepted, with_next: the ledger applies
 * both or neither). The other request is held (in_batch) until the
 * answer, so no change of it is planned meanwhile (cm__op_commit_pair). */
typedef struct cm__op_pair {
  char other[CM_ID_MAX]; /* the other request (ch[0]'s) */
  cm_ledger_change ch[2];
  cm_ledger_result res[2];
  cm__req other_after;
  cm_request_view other_view;
  cm_event other_ev;
} cm__op_pair;
struct cm__op {
  cm__op *next;         /* queued behind it (same request), oldest first */
  cm__op *prev_head;    /* the engine's ops in flight (queue heads) */
  cm__op *next_head;    /* */
  cm_engine *e;         /* NULL once the engine was freed */
  int async;            /* proposed (1) or committed synchronously (0) */
  int proposed;         /* handed to the ledger: its completion will run */
  int starting;         /* inside cm_ledger_propose */
  int answered;         /* the ledger's completion ran while starting */
  int held;             /* waits for a batch's offer of its request */
  int refresh;          /* a read of the record (engine_ops.c), not a write:
                           the ops behind it are planned on what it read */
  int again;            /* refresh: asked again while in flight: read once
                           more when it is in */
  int creates;          /* submit proposed: an emergency whose record
                           (fresh) a batch may take before the answer
                           (cm__op_creating, docs/async.md "one durable
                           write") */
  int withdraws;        /* a diversion's _async accept refused: the op
                           withdraws the offer, its caller is told tell_st
                           (engine_lifecycle.c divert_accept) */
  unsigned gen;         /* refresh: e->gen when sent (a rebuild since: the
                           answer is dropped) */
  cm_request_view *rec; /* refresh: the record read (owned) */
  cm__op_pair *pair;    /* two changes proposed together (owned), or NULL */
  cm__op_fn check;      /* refresh: NULL adopts the record read; else says
                           what the caller is told, from rec (st, err: the
                           read's answer): cm__op_read_behind */
  /* the call: what the caller asked, and who is told */
  char id[CM_ID_MAX];     /* the request */
  char worker[CM_ID_MAX]; /* accept, reject: the worker ("" none) */
  int bad_id;             /* the id given was NULL or too long */
  int bad_worker;         /* the worker given was NULL or too long */
  char actor[CM_ID_MAX];  /* an operator's action: who (engine_override.c) */
  cm_request_spec spec;   /* submit */
  int64_t now_ms;
  cm__op_fn plan;    /* checks and works the change out, then
                        cm__op_commit; errors before it are the caller's */
  cm__op_fn apply;   /* applies it to the engine (set by plan) */
  cm__op_fn refused; /* a version refusal, when not the usual conflict
                        (submit: the ledger has the id already) */
  cm_engine_done_fn done;
  void *ctx;
  /* worked out by plan */
  cm__req *fresh; /* submit: the new record (owned until inserted) */
  cm__req before; /* the record before */
  cm__req after;  /* the record after */
  cm_request_view view;
  cm_event ev;
  cm_ledger_change ch;
  int finish_done; /* finish: a completion (not a cancel) */
  uint64_t finish_elder;
  int accept_idx;    /* accept: the worker's index */
  cm_event_type why; /* requeue: the event */
  cm_status tell_st; /* refresh: what its done is told (the status of the
                        op whose answer asked for the read); withdraws:
                        the accept's refusal */
  cm_error tell_err; /* */
  /* the ledger's answer */
  cm_status st;
  cm_ledger_result res;
  cm_error err;
};

/* The service minutes of one kind of job, learnt (engine_lookahead.c). */
enum { CM__KINDS = 64 };
typedef struct cm__kind_stat {
  uint64_t key;    /* urgency, skills, staff and skill mode */
  int n;           /* completions seen; 0: slot free */
  double mean_min; /* their mean service minutes */
} cm__kind_stat;

/* Emergencies seen in one area, by hour of the day (engine_demand.c). */
enum { CM__CELLS = 1024 };
typedef struct cm__area {
  int32_t cx, cy; /* the cell: reserve_km squares */
  int used;       /* slot taken */
  uint16_t n[24]; /* emergencies per hour of the day (saturating) */
} cm__area;

struct cm_engine {
  cm_engine_config cfg;
  cm_store *store;   /* borrowed */
  cm__idmap req_map; /* id -> slot in live[] (>= 0) or ~slot in done[] */
  cm__req **live;    /* unfinished requests, in arrival order */
  int64_t *live_due; /* per slot of live[]: when it next needs a step
                        (cm__req_due), kept beside live[] by engine.c */
  int *due_heap;     /* the slots as a min-heap by live_due (live_due.c) */
  int *due_pos;      /* per slot: its place in due_heap */
  int n_live, cap_live;
  cm__req **done; /* finished, ring of cfg.history */
  int n_done, done_head;
  cm__idmap wrk_map; /* id -> slot in workers[] */
  cm__wrk **workers;
  int n_workers, cap_workers;
  int64_t next_batch_ms; /* INT64_MAX when no batch is waiting */
  int64_t next_alone_ms; /* an emergency's own batch (cfg.emergencies_alone)
                            is due then: INT64_MAX none */
  int64_t now_ms;        /* last time seen */
  cm__events ev;
  cm_engine_stats stats;
  int resync;    /* with a ledger: rebuild from it before the next step */
  int in_flight; /* a batch is being solved (cm_engine_batch_begin) */
  struct cm_engine_batch *beginning; /* a batch's begin paused between two
                                        parts (cfg.begin_part_ms) */
  int left_out;          /* the last commit's offers left out because a worker
                            filled up meanwhile (engine_offers.c) */
  int synced;            /* a sync (cm_engine_sync, _async) succeeded since the
                            last batch began: batch_begin need not follow again */
  int64_t retry_wait_ms; /* wait before retrying an unchanged batch */
  unsigned gen;          /* rebuilds so far */
  cm_skillset emergency_skills; /* skills emergencies asked for so far */
  cm__op *flight;               /* ops in flight (heads of their queues) */
  int n_flight;                 /* how many, queued ones included, and
                                   batches' offers in flight */
  struct cm__offers *offers;    /* batches' offers in flight */
  /* tell what is in flight at cm_engine_free (set by the files that put
     it in flight: engine.c calls nothing below it) */
  void (*abandon_ops)(cm_engine *e);
  void (*abandon_offers)(cm_engine *e);
  struct cm__wop *wops;               /* worker writes in flight
                                         (engine_wwrites.c) */
  int n_wflight;                      /* how many */
  void (*abandon_wops)(cm_engine *e); /* tells them at cm_engine_free */
  struct cm__follow *follow;          /* an asynchronous follow in flight */
  void (*abandon_follow)(cm_engine *e);
  struct cm__rebuild *rebuild;           /* an asynchronous rebuild in flight
                                            (engine_rebuild.c), or NULL */
  void (*abandon_rebuild)(cm_engine *e); /* tells it at cm_engine_free */
  int rebuild_due; /* an asynchronous rebuild waits for the changes in
                      flight: new _async request writes are held, so that
                      it can start at the next step */

  /* where emergencies come from (engine_demand.c) and how long jobs take
     (engine_lookahead.c), learnt as they come */
  cm__area areas[CM__CELLS];      /* emergencies by area and hour */
  uint64_t emergencies_seen;      /* all of them */
  cm__kind_stat kinds[CM__KINDS]; /* service minutes by kind of job */
  int64_t standby_next_ms;        /* the next standby pass (engine_standby.c) */
};

/* the event queue (engine_events.c) */
int cm__events_init(cm__events *q, int cap);
void cm__events_free(cm__events *q);
/* Describe a transition of r (as it is after it) at the engine's time. */
void cm__event_fill(const cm_engine *e, cm_event *ev, cm_event_type t,
                    const cm__req *r, const char *worker, cm_request_state from,
                    cm_request_state to, const cm_cost_terms *terms);
/* Queue ev (numbered here); the oldest is dropped when the queue is full. */
void cm__event_push(cm_engine *e, const cm_event *ev);

/* where emergencies come from (engine_demand.c) */
/* Count an emergency at (lat, lon) arriving at now_ms. */
void cm__demand_learn(cm_engine *e, double lat, double lon, int64_t now_ms);
/* Emergencies seen in the 3 x 3 areas around (lat, lon) in the hours
 * around now_ms's (hour - 1 .. hour + 1, any day); -1 while fewer than
 * DEMAND_MIN are known at all (too early to call an area cold). */
int cm__demand_at(cm_engine *e, double lat, double lon, int64_t now_ms);

/* standby suggestions (engine_standby.c) */
/* Suggest standby positions to idle workers when a pass is due (every
 * minute with cfg.standby_every_ms set): CM_EV_STANDBY events. Out of
 * memory the pass is skipped. */
void cm__standby_pass(cm_engine *e, int64_t now_ms);
/* When the next pass is due; INT64_MAX when standby is off. */
int64_t cm__standby_next_due(const cm_engine *e);

/* look-ahead (engine_lookahead.c) */
/* Learn the service minutes of accepted request r, completed at now_ms. */
void cm__lookahead_learn(cm_engine *e, const cm__req *r, int64_t now_ms);
/* best[q]: the soonest arrival of batch request q's candidates (inst's
 * edges so far), HUGE_VAL when it has none; q < n. */
void cm__soonest_arrivals(const cm_instance *inst, int n, double *best);
/* The widest longitude difference, in degrees, at which a point with a
 * latitude within reach_km / 111 degrees of lat may still be within
 * reach_km (great circle, cm_geo_distance_km) of a point at latitude lat;
 * 360 (no cut) near the poles or past 10 degrees. The look-ahead's band of
 * requests around a busy worker is cut by it (engine_lookahead.c). */
double cm__lon_reach_deg(double lat, double reach_km);
/* Add to the batch instance (request q is reqs[q], n of them) the workers
 * busy with one accepted job expected to end within cfg.lookahead_min,
 * placed at that job, with edges from the emergency and urgent one-worker
 * requests they qualify for: travel_min is the wait plus the drive.
 * Returns CM_OK or CM_E_NOMEM (err set; the instance is then freed by the
 * caller). */
cm_status cm__lookahead_add(cm_engine *e, cm_instance *inst, cm__req **reqs,
                            int n, int64_t now_ms, cm_error *err);

/* diversion (engine_divert.c) */
/* The emergency-first stage (engine_stage.c): solve inst's emergencies
 * alone with opts, then cut inst's edges so that the batch's solve keeps
 * what that gave them: each assigned emergency only its workers' edges,
 * every other request no edge to a worker it filled. Nothing with a budget
 * of 0 (greedy) or no emergency. Returns CM_OK, or the solve's error or
 * CM_E_NOMEM (err set; inst unchanged). */
cm_status cm__stage_emergencies(cm_instance *inst, const cm_solve_options *opts,
                                cm_error *err);
/* Add to the batch instance (request q is reqs[q], n of them) the workers
 * on their way to one accepted normal or scheduled job (not arrived, no
 * room left), at their position, and those at such a visit (arrived;
 * cfg.interrupt_min), at the visit, with edges from the one-worker
 * emergencies they qualify for and reach at least cfg.divert_min
 * (cfg.interrupt_min) sooner than every candidate so far: travel_min is the
 * drive plus that margin. Returns CM_OK or CM_E_NOMEM (err set). Off when
 * both are 0. */
cm_status cm__divert_add(cm_engine *e, cm_instance *inst, cm__req **reqs, int n,
                         int64_t now_ms, cm_error *err);
/* Offer pending request r to worker id, who is on her way to (or at) another
 * job (the one cm__divert_add saw), with terms: committed at once, her take
 * allowed over capacity (take 2). Nothing happens when that job is no
 * longer hers, on the way, or when the ledger refuses. */
void cm__divert_offer(cm_engine *e, cm__req *r, const char *id,
                      const cm_cost_terms *terms, int64_t now_ms);
/* op accepts a diversion offer (r->divert_of set, index idx): her job back
 * to pending (CM_EV_DIVERTED, or CM_EV_INTERRUPTED when she was there: no
 * arrival then; waited-since kept) and r accepted, in one
 * commit (with_next). CM_E_CONFLICT when that job changed (here or in the
 * ledger): nothing is changed (the caller withdraws the offer);
 * CM_E_UNAVAILABLE while a change of it is in flight. */
cm_status cm__divert_accept(cm_engine *e, cm__op *op, cm__req *r, int idx,
                            cm_error *err);

/* one person, one instance worker (engine_person.c) */
/* A (request, worker) pair of the batch instance. */
typedef struct cm__pair {
  int request, worker;
} cm__pair;
/* Merge the workers inst holds at n_look and above (the diversion's and the
 * interruption's) that the look-ahead holds too (in [n_free, n_look)) into
 * the look-ahead's entry: each request keeps the sooner of its two edges to
 * her; the merged entries are removed and the later ones renumbered. *now
 * (n_now; free it) gets the pairs whose edge takes her from her job at
 * once. Returns CM_OK, or CM_E_NOMEM (err set; inst unchanged). */
cm_status cm__person_merge(cm_instance *inst, int n_free, int n_look,
                           cm__pair **now, int *n_now, cm_error *err);
/* 1 when (request, worker) is one of now's pairs. */
int cm__person_taken_now(const cm__pair *now, int n_now, int request,
                         int worker);

/* ledger (engine_ledger.c) */
/* A change for the transition from r to after (its version is set here),
 * with the given events; the workers' parts are added by the caller. */
void cm__change_init(cm_ledger_change *ch, const cm__req *r,
                     cm_request_view *after_view, cm__req *after,
                     const cm_event *events, int n_events);
/* What a change does to one worker's jobs (cm_ledger_worker without the
 * id), given by name: (cm__worker_part){.take = 1}. Fields left out are 0. */
typedef struct cm__worker_part {
  int take;         /* 1: takes a job */
  int give;         /* 1: gives a job back */
  int accept_delta; /* +1 accepts, -1 gives back an accepted job */
  int done;         /* 1: a job done: jobs_today + 1, elder remembered */
  uint64_t elder;   /* cm_id_hash of the elder served (done), 0 none */
} cm__worker_part;
/* Add worker id's part to ch (ignored when ch already has CM_MAX_STAFF). */
void cm__change_worker(cm_ledger_change *ch, const char *id,
                       cm__worker_part part);
/* Commit n changes together (results per change); without a ledger all
 * are taken. A failed write sets e->resync. */
cm_status cm__commit_many(cm_engine *e, const cm_ledger_change *ch, int n,
                          cm_ledger_result *res, cm_error *err);
/* Replace (or create) a request's local record with the ledger's view,
 * moving worker holds and the counts along. Returns 0, -1 out of memory. */
int cm__req_adopt(cm_engine *e, const cm_request_view *v);
/* Fetch r's record from the ledger and adopt it, synchronously (the
 * synchronous paths, and a ledger without get_async; cm__op_refresh reads
 * it asynchronously). A failed read sets e->resync. */
void cm__req_refresh(cm_engine *e, const char *id);

/* following and rebuilding (engine_sync.c) */
/* A worker as the ledger has it into the mirror and our record (a
 * rebuild's). Returns 0, -1 out of memory. */
int cm__take_worker(cm_engine *e, const cm_worker *w);
/* Every worker's jobs counted again from the live requests. */
void cm__recount_jobs(cm_engine *e);

/* the asynchronous rebuild (engine_rebuild.c) */
/* 1 when the engine's ledger reads a rebuild asynchronously. */
int cm__rebuild_async_able(const cm_engine *e);
/* Start a rebuild read by the ledger (rebuild_async) and applied whole
 * from its completion; done then runs once, as cm_engine_sync_async's.
 * Returns CM_OK when taken; else the error (CM_E_UNAVAILABLE while
 * changes are in flight or a batch is solved, CM_E_CONFLICT when a
 * rebuild is in flight), e->resync left set, and done never runs. */
cm_status cm__rebuild_start(cm_engine *e, cm_engine_done_fn done, void *ctx,
                            cm_error *err);
/* The rebuild no longer waits (it failed to start for another reason
 * than changes in flight, or a synchronous one ran): the writes held for
 * it are started. */
void cm__rebuild_undue(cm_engine *e);
/* CM_OK, or CM_E_UNAVAILABLE (err set) while a rebuild is in flight (the
 * synchronous writes and batch_begin are refused then; the _async writes
 * are held until it is applied). */
cm_status cm__rebuilding(const cm_engine *e, cm_error *err);

/* ops (engine_ops.c) */
/* The op in flight on request id (the head of its queue), or NULL. */
cm__op *cm__op_find(const cm_engine *e, const char *id);
/* The commit step of a plan: synchronous (op->async 0): committed, the
 * answer settled (a refusal for the request's version adopts the ledger's
 * record and is CM_E_CONFLICT at "$.request"; a refused worker is
 * CM_E_CONFLICT at "$.worker"), then op->apply; its status. Asynchronous:
 * proposed to the ledger, and applied by the completion; CM_OK, or the ledger's
 * refusal to take it. */
cm_status cm__op_commit(cm_engine *e, cm__op *op, cm_error *err);
/* The commit step of a plan whose two changes are op->pair's (an
 * asynchronous op only): the other request held, both proposed in one
 * proposal and applied by op->apply from the completion. A refusal of
 * either: both records read again, the caller told CM_E_CONFLICT at
 * "$.worker" once op's is in, then op->refused (when set). Returns CM_OK,
 * or the ledger's refusal to take it (nothing held then). */
cm_status cm__op_commit_pair(cm_engine *e, cm__op *op, cm_error *err);
/* Withdraw the offer of request id to worker (back to pending, not her
 * refusal) by an op queued behind the changes of it in flight: nothing
 * when, by its turn, it is no longer offered to her (engine_lifecycle.c;
 * a diversion's accept refused by the ledger). */
void cm__req_withdraw_later(cm_engine *e, const char *id, const char *worker,
                            int64_t now_ms);
/* Run op synchronously (op on the caller's stack): refused with
 * CM_E_UNAVAILABLE when a change of its request is in flight. */
cm_status cm__op_run(cm_engine *e, cm__op *op, cm_error *err);
/* Run op (malloc'ed, owned by the engine from here) asynchronously:
 * queued behind the op in flight on its request, or planned and proposed
 * now. Returns CM_OK (op->done then runs exactly once, maybe already), or
 * the plan's error (op freed, done never runs). */
cm_status cm__op_launch(cm_engine *e, cm__op *op, cm_error *err);
/* Clear op's links and flags for request id (id may be NULL: ""). */
void cm__op_init(cm__op *op, const char *id, int64_t now_ms);
/* A new op of the engine for request id (malloc'ed; NULL out of memory). */
cm__op *cm__op_new(const char *id, int64_t now_ms, cm_engine_done_fn done,
                   void *ctx);
/* A batch's offer of request id completed: start the op that waited for
 * it, if any. */
void cm__op_release(cm_engine *e, const char *id);
/* The record of request id whose create is in flight and which a batch
 * may take (docs/async.md "one durable write"): an emergency, pending and
 * released, its create proposed and not answered, nothing queued behind
 * it. NULL otherwise. The record is the op's until the create is applied
 * (then it is the one inserted) or refused (then freed). */
cm__req *cm__op_creating(const cm_engine *e, const char *id);
/* Those records, at most max of them, into out (not in_batch).
 * Returns how many. */
int cm__op_creating_all(const cm_engine *e, cm__req **out, int max);
/* Request id's record: the engine's, or the one of its create in flight
 * (cm__op_creating without the conditions on its state); NULL none. */
cm__req *cm__op_record(const cm_engine *e, const char *id);
/* Start every held op (cm__op_launch held them during a rebuild). */
void cm__op_release_all(cm_engine *e);
/* Read request id's record again and adopt it, from a completion (the
 * _async paths; docs/async-log.md step i). With a ledger that has get_async:
 * a read op takes the request's place in its queue (behind a write of it
 * in flight, ahead of the ops waiting), so the next op is planned on the
 * record read; one read per request at a time (asked again while one is
 * in flight: read once more after it); an answer that comes after a
 * rebuild began, or older than the record held, is dropped; a failed
 * read sets e->resync. Otherwise (no get_async, out of memory)
 * cm__req_refresh, at once. */
void cm__op_refresh(cm_engine *e, const char *id);
/* op (proposed, its answer in, from its settle) wants its request's
 * record to answer its caller: a read op goes right behind it (ahead of
 * the ops waiting) through get_async and takes op's completion, which is
 * told what check(e, read, err) returns once the record is in (read->rec,
 * read->st and read->err: the read's answer; read->spec: op's). Returns
 * 0, or -1 and nothing changed (a synchronous op, a ledger without
 * get_async, out of memory: the caller reads synchronously). */
int cm__op_read_behind(cm_engine *e, cm__op *op, cm__op_fn check);
/* How many of e->n_flight are not writes the ledger may hold: the reads
 * in flight and the ops queued behind them, and, with a rebuild due, the
 * ops held for it with those queued behind. */
int cm__op_unwritten(const cm_engine *e);
/* Propose the worker writes that waited for a rebuild, in call order
 * (engine_wwrites.c). */
void cm__wops_send_waiting(cm_engine *e);
/* Complete every op in flight with CM_E_UNAVAILABLE (the engine is being
 * freed): queued ones are freed, proposed ones are freed by their
 * completion. */
void cm__op_abandon_all(cm_engine *e);

/* the request table and the timer (engine.c) */
cm__req *cm__req_find(const cm_engine *e, const char *id);
/* Put a new record into live[] (or, finished, into the history) and the
 * id map. Returns 0, or -1 out of memory (r not inserted). */
int cm__req_insert(cm_engine *e, cm__req *r);
/* Move a live request, already in its final state, to the history. */
void cm__req_finish(cm_engine *e, cm__req *r);
/* Overwrite r with after (r keeps its slot; the counts by state follow). */
void cm__req_replace(cm_engine *e, cm__req *r, const cm__req *after);
/* When r next needs a step on its own: its offer's expiry (offered), its
 * release (pending, not yet released), its soft hold's end (awaiting,
 * holding); INT64_MAX none. */
int64_t cm__req_due(const cm__req *r);
/* r's entry of live_due again, after a field cm__req_due reads was set on
 * the live record in place (not through cm__req_replace). */
void cm__req_due_update(cm_engine *e, const cm__req *r);
/* The earliest cm__req_due of the live requests (INT64_MAX none), the top
 * of a min-heap over live_due (live_due.c): the daemon asks after every
 * call that may kick a batch. */
int64_t cm__live_due(const cm_engine *e);
/* The heap kept by engine.c: room for cap slots (with live_due; -1 out of
 * memory); the last slot was added (its live_due set); slot's live_due
 * changed; slot left live[] (n_live already one less; the last slot's
 * request, if another, moved into slot with its live_due). */
int cm__due_reserve(cm_engine *e, int cap);
void cm__due_added(cm_engine *e);
void cm__due_changed(cm_engine *e, int slot);
void cm__due_removed(cm_engine *e, int slot);
/* The view of a record (what the ledger and cm_engine_request_get hold). */
void cm__view_of(const cm__req *r, cm_request_view *out);
/* The solver's request for r at now_ms: its spec, positioned, waited since
 * since_ms (a batch: when it became ready; a confirmation: its creation). */
void cm__req_as_request(const cm__req *r, int64_t since_ms, int64_t now_ms,
                        cm_request *rq);
/* 1 when r may be offered w: w has the skills r needs (all of them or
 * any, as r says) and is neither excluded by r nor has refused it. */
int cm__req_may_offer(const cm__req *r, const cm_worker *w);
/* A batch at at_ms at the latest. */
void cm__schedule_batch(cm_engine *e, int64_t at_ms);
/* An emergency waits: a batch of the emergencies alone at at_ms (a batch of
 * everything when cfg.emergencies_alone is 0 or the window is due too). */
void cm__schedule_emergency(cm_engine *e, int64_t at_ms);
/* A batch for r at at_ms: its own if r is an emergency, else any. */
void cm__schedule_for(cm_engine *e, const cm__req *r, int64_t at_ms);
/* r became pending at now_ms: an emergency's own batch at once, any other
 * request's one window later. */
void cm__schedule_pending(cm_engine *e, const cm__req *r, int64_t now_ms);
/* Something that may help pending requests happened (a worker on shift or
 * freed): retry them after one window again. */
void cm__retry_soon(cm_engine *e);

/* transitions (engine_lifecycle.c) */
/* Back to pending after a refusal, lapse or withdrawal; remembers who.
 * Committed to the ledger first (cm__op_commit's errors). */
cm_status cm__req_requeue(cm_engine *e, cm__req *r, const char *worker,
                          cm_event_type why, int64_t now_ms, cm_error *err);
/* The same for the engine's own lapses and withdrawals, which no caller
 * waits for: proposed and applied by its completion when the ledger
 * proposes (the daemon's loop is not held for a round trip), at once
 * otherwise. A request with a change in flight is left to it. */
void cm__req_requeue_soon(cm_engine *e, cm__req *r, const char *worker,
                          cm_event_type why, int64_t now_ms);

/* Requests offered to (not yet accepted by) worker id go back to pending. */
void cm__withdraw_offers(cm_engine *e, const char *id, int64_t now_ms);

/* the worker table (engine_roster.c) */
cm__wrk *cm__wrk_find(const cm_engine *e, const char *id);
/* The record of worker id, created (off shift, no capacity) when new;
 * NULL out of memory. */
cm__wrk *cm__wrk_get(cm_engine *e, const char *id);
/* A new record for worker id (not known yet); NULL out of memory. */
cm__wrk *cm__wrk_add(cm_engine *e, const char *id);
/* Undo cm__wrk_add for w, the last record added. */
void cm__wrk_drop_last(cm_engine *e, cm__wrk *w);
/* The status w's own state calls for: OFFLINE off shift, OFFERED or BUSY
 * at capacity, AVAILABLE otherwise. */
cm_worker_status cm__wrk_effective(const cm__wrk *w);
/* Put the worker's effective status in the store: OFFLINE off shift,
 * OFFERED or BUSY at capacity, AVAILABLE otherwise. */
void cm__wrk_sync(cm_engine *e, cm__wrk *w);
/* Give back one job of worker w; keeps the store's status right. */
void cm__wrk_release(cm_engine *e, cm__wrk *w, int was_accepted);
/* Release every worker of r (offered or accepted). */
void cm__req_release_workers(cm_engine *e, cm__req *r);
/* Count a job done by w for an elder (0: none): jobs_today + 1, the elder
 * remembered (the oldest forgotten when the list is full). */
void cm__worker_served(cm_worker *w, uint64_t elder);

/* a batch's offers (engine_offers.c) */
/* Commit the offers of a batch's answer (inst, ans; reqs[q] the record of
 * request q, or NULL: left out) and apply those the ledger took.
 * Synchronously when done is NULL or the ledger has no propose: CM_OK
 * (done, if given, then ran) or the commit's error, nothing applied.
 * Otherwise proposed: CM_OK, the requests held and the takes counted
 * until the completion applies them and runs done(ctx, st, err) once; or
 * an error, nothing proposed, done never runs. */
cm_status cm__offers_commit(cm_engine *e, const cm_instance *inst,
                            const cm_answer *ans, cm__req **reqs,
                            int64_t now_ms, cm_engine_done_fn done, void *ctx,
                            cm_error *err);

/* confirmation before dispatch (engine_confirm.c) */
/* The best candidates of r at now_ms (at most max, best first) into out,
 * *n how many; workers soft-held by other awaiting requests are left out.
 * Returns CM_OK or the store's error (err set). */
cm_status cm__confirm_candidates(const cm_engine *e, const cm__req *r,
                                 int64_t now_ms, cm_candidate *out, int max,
                                 int *n, cm_error *err);
/* 1 when worker id is soft-held at now_ms by an awaiting request other
 * than except (NULL: any). */
int cm__confirm_held(const cm_engine *e, const char *id, const cm__req *except,
                     int64_t now_ms);
/* Before a batch: holds that ran out emit CM_EV_HOLD_LAPSED (once each)
 * and free their worker for the waiting requests. */
void cm__confirm_lapse(cm_engine *e, int64_t now_ms);
/* A new request r submitted with confirm operator: awaiting, its best
 * candidate soft-held (confirm_hold_ms). CM_OK or the store's error. */
cm_status cm__confirm_submit(cm_engine *e, cm__req *r, int64_t now_ms,
                             cm_error *err);
/* Drop the batch instance's edges to soft-held workers. */
void cm__confirm_hold(const cm_engine *e, cm_instance *inst, int64_t now_ms);

/* A part of a batch's begin (cm_engine_config.begin_part_ms,
 * engine_batch.c): over once the engine's clock reaches until_ns; a NULL
 * part (the begin in one go) is never over. */
typedef struct cm__part {
  const cm_engine *e;
  int64_t until_ns;
} cm__part;
int cm__part_over(const cm__part *p);

/* the emergency reserve (engine_reserve.c): drop the edges from requests
 * of urgency cfg.reserve_from or less urgent to the emergency-capable
 * workers held this batch; *held is how many. lost (NULL: not wanted; else
 * inst->n_requests entries) gets 1 for each request left without an edge
 * by it. In parts (a batch's begin in parts): *rv NULL at the first call;
 * returns CM_OK with *done 0 when the part ended first (*rv keeps where it
 * got to: call again with the same instance), *done 1 when finished
 * (*held and lost set, *rv freed and NULL); part NULL: in one call. An
 * error (the store's, CM_E_NOMEM) frees *rv too, the instance unchanged. */
typedef struct cm__reserve cm__reserve;
cm_status cm__reserve_run(cm_engine *e, cm__reserve **rv, cm_instance *inst,
                          int64_t now_ms, const cm__part *part, int *held,
                          unsigned char *lost, int *done, cm_error *err);
void cm__reserve_free(cm__reserve *rv); /* accepts NULL */

/* operators' overrides (engine_override.c) */
/* 1 when a batch takes r: not held, not pinned (pins go by
 * cm__pins_offer). */
int cm__req_batchable(const cm__req *r);
/* Offer each due pending pinned request to its worker when eligible
 * (committed at once), else give it its pinned_worker_* reason. */
void cm__pins_offer(cm_engine *e, int64_t now_ms);

#endif
