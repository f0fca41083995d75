/* engine_lifecycle.c -- what happens to a request after submission: the
 * offered worker accepts or refuses, the offer lapses or is withdrawn, an
 * accepted worker arrives, the request is cancelled or completed.
 *
 * Each transition is an op (engine_ops.c): its plan works it out on a
 * copy of the record, it is committed to the ledger (when there is one)
 * and its apply runs only when the ledger took it, so a refused or failed
 * write changes nothing here. The _async calls propose it and apply it
 * from the ledger's completion (docs/async.md). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

static cm__req *find_live(cm_engine *e, const cm__op *op, cm_error *err) {
  cm__req *r = op->bad_id ? NULL : cm__req_find(e, op->id);
  if (!r)
    cm_error_set(err, CM_E_UNKNOWN_ID, "$.request",
                 "$.request: no request '%s'", op->id);
  return r;
}

static int offer_index(const cm__req *r, const char *worker) {
  for (int i = 0; i < r->n_workers; i++)
    if (strcmp(r->workers[i], worker) == 0)
      return i;
  return -1;
}

/* The change that gives back every job r's workers hold. */
static void give_back(cm_ledger_change *ch, const cm__req *r, int done,
                      uint64_t elder) {
  for (int i = 0; i < r->n_workers; i++)
    cm__change_worker(ch, r->workers[i],
                      (cm__worker_part){.give = 1,
                                        .accept_delta = r->accepted[i] ? -1 : 0,
                                        .done = done,
                                        .elder = elder});
}

static void clear_workers(cm__req *r) {
  r->n_workers = 0;
  memset(r->accepted, 0, sizeof r->accepted);
}

/* Copy a worker id into op (the caller's pointer may go). */
static void op_worker(cm__op *op, const char *worker) {
  memset(op->worker, 0, sizeof op->worker);
  op->bad_worker = !worker || strnlen(worker, CM_ID_MAX) >= CM_ID_MAX;
  if (!op->bad_worker)
    memcpy(op->worker, worker, strlen(worker));
}

/* A new op for an _async call; NULL (err set) out of memory. */
static cm__op *op_async(const char *id, int64_t now_ms, cm_engine_done_fn done,
                        void *ctx, cm_error *err) {
  cm__op *op = cm__op_new(id ? id : "", now_ms, done, ctx);
  if (!op)
    cm_error_set(err, CM_E_NOMEM, "", NULL);
  else if (!id)
    op->bad_id = 1;
  return op;
}

/* ---- back to pending ---- */

static cm_status requeue_apply(cm_engine *e, cm__op *op, cm_error *err) {
  (void)err;
  cm__req *r = cm__req_find(e, op->id);
  cm__req_release_workers(e, r);
  cm__req_replace(e, r, &op->after);
  cm__event_push(e, &op->ev);
  cm__schedule_pending(e, r, op->now_ms);
  return CM_OK;
}

/* The requeue of r (op->worker, "" none; op->why), committed. */
static cm_status requeue_build(cm_engine *e, cm__op *op, cm__req *r,
                               cm_error *err) {
  cm__req *after = &op->after;
  *after = *r;
  clear_workers(after);
  if (op->worker[0] && op->why != CM_EV_WITHDRAWN) {
    int n = after->n_rejected < CM_MAX_REJECTS ? after->n_rejected++
                                               : CM_MAX_REJECTS - 1;
    memset(after->rejected[n], 0, CM_ID_MAX);
    memcpy(after->rejected[n], op->worker, strlen(op->worker));
  }
  after->state = CM_REQ_PENDING;
  after->expires_ms = 0;
  after->has_reason = 0;
  cm__event_fill(e, &op->ev, op->why, after, op->worker[0] ? op->worker : NULL,
                 r->state, CM_REQ_PENDING, NULL);
  cm__change_init(&op->ch, r, &op->view, after, &op->ev, 1);
  give_back(&op->ch, r, 0, 0);
  op->apply = requeue_apply;
  return cm__op_commit(e, op, err);
}

static cm_status requeue_plan(cm_engine *e, cm__op *op, cm_error *err) {
  cm__req *r = find_live(e, op, err);
  if (r && op->async && r->state != CM_REQ_OFFERED)
    return CM_OK; /* answered meanwhile: nothing lapses */
  if (r && op->async && op->why == CM_EV_WITHDRAWN && op->worker[0] &&
      offer_index(r, op->worker) < 0)
    return CM_OK; /* offered to others since: not hers to withdraw */
  return r ? requeue_build(e, op, r, err) : CM_E_UNKNOWN_ID;
}

cm_status cm__req_requeue(cm_engine *e, cm__req *r, const char *worker,
                          cm_event_type why, int64_t now_ms, cm_error *err) {
  cm__op op;
  cm__op_init(&op, r->spec.id, now_ms);
  if (worker)
    op_worker(&op, worker);
  op.why = why;
  op.plan = requeue_plan;
  return cm__op_run(e, &op, err);
}

/* The engine's own requeues (a lapse, a withdrawal) need no caller told:
 * a refused or failed write is settled by the op's re-read. */
static void requeue_told(void *ctx, cm_status st, const cm_error *err) {
  (void)ctx;
  (void)st;
  (void)err;
}

/* Launch a requeue op of request id (worker NULL: none) for why; out of
 * memory nothing is launched (found again later: a batch, an expiry). */
static void requeue_launch(cm_engine *e, const char *id, const char *worker,
                           cm_event_type why, int64_t now_ms) {
  cm_error err;
  cm__op *op = op_async(id, now_ms, requeue_told, NULL, &err);
  if (!op)
    return;
  if (worker)
    op_worker(op, worker);
  op->why = why;
  op->plan = requeue_plan;
  (void)cm__op_launch(e, op, &err);
}

void cm__req_requeue_soon(cm_engine *e, cm__req *r, const char *worker,
                          cm_event_type why, int64_t now_ms) {
  cm_ledger *l = e->cfg.ledger;
  if (!l || !l->type->propose) {
    cm__req_requeue(e, r, worker, why, now_ms, NULL);
    return;
  }
  if (cm__op_find(e, r->spec.id))
    return; /* a change of it in flight decides first; a lapse is found
               again at the next batch */
  requeue_launch(e, r->spec.id, worker, why, now_ms);
}

void cm__req_withdraw_later(cm_engine *e, const char *id, const char *worker,
                            int64_t now_ms) {
  requeue_launch(e, id, worker, CM_EV_WITHDRAWN, now_ms); /* queued */
}

/* ---- cancel, complete ---- */

static cm_status finish_apply(cm_engine *e, cm__op *op, cm_error *err) {
  (void)err;
  cm__req *r = cm__req_find(e, op->id);
  if (op->finish_done) /* how long its kind of job takes */
    cm__lookahead_learn(e, r, op->now_ms);
  /* workload and continuity for the next batches (the ledger did the
     same to its own copy in the commit) */
  for (int i = 0; op->finish_done && i < r->n_workers; i++) {
    cm_worker w;
    if (cm_store_get(e->store, r->workers[i], &w, NULL) != CM_OK)
      continue;
    cm__worker_served(&w, op->finish_elder);
    cm_store_upsert(e->store, &w, NULL);
  }
  cm__req_release_workers(e, r);
  cm__req_replace(e, r, &op->after);
  cm__req_finish(e, r);
  cm__event_push(e, &op->ev);
  return CM_OK;
}

/* Cancel or complete r (its workers give their jobs back). */
static cm_status finish(cm_engine *e, cm__op *op, cm__req *r,
                        cm_request_state to, cm_event_type why, cm_error *err) {
  uint64_t elder = r->spec.elder[0] ? cm_id_hash(r->spec.elder) : 0;
  int done = to == CM_REQ_DONE;
  cm__req *after = &op->after;
  *after = *r;
  clear_workers(after);
  after->state = to;
  after->finished_ms = op->now_ms;
  cm__event_fill(e, &op->ev, why, after, NULL, r->state, to, NULL);
  cm__change_init(&op->ch, r, &op->view, after, &op->ev, 1);
  give_back(&op->ch, r, done, elder);
  op->finish_done = done;
  op->finish_elder = elder;
  op->apply = finish_apply;
  return cm__op_commit(e, op, err);
}

static cm_status cancel_plan(cm_engine *e, cm__op *op, cm_error *err) {
  cm__req *r = find_live(e, op, err);
  if (!r)
    return CM_E_UNKNOWN_ID;
  if (r->state == CM_REQ_CANCELLED)
    return CM_OK;
  if (r->state == CM_REQ_DONE || r->state == CM_REQ_DISMISSED)
    return cm_error_set(err, CM_E_CONFLICT, "$.request",
                        "$.request: '%s' is already %s", op->id,
                        cm_request_state_name(r->state));
  if (op->now_ms > e->now_ms)
    e->now_ms = op->now_ms;
  return finish(e, op, r, CM_REQ_CANCELLED, CM_EV_CANCELLED, err);
}

static cm_status complete_plan(cm_engine *e, cm__op *op, cm_error *err) {
  cm__req *r = find_live(e, op, err);
  if (!r)
    return CM_E_UNKNOWN_ID;
  if (r->state != CM_REQ_ACCEPTED)
    return cm_error_set(err, CM_E_CONFLICT, "$.request",
                        "$.request: '%s' is %s, not accepted", op->id,
                        cm_request_state_name(r->state));
  if (op->now_ms > e->now_ms)
    e->now_ms = op->now_ms;
  return finish(e, op, r, CM_REQ_DONE, CM_EV_COMPLETED, err);
}

/* ---- the offered worker's answer ---- */

/* The open offer of op's request to op's worker: *r and *idx, or the
 * error (unknown request or worker; no open offer to that worker). Moves
 * the engine's clock to op's time on success. */
static cm_status open_offer(cm_engine *e, const cm__op *op, cm__req **r,
                            int *idx, cm_error *err) {
  if (!(*r = find_live(e, op, err)))
    return CM_E_UNKNOWN_ID;
  if (op->bad_worker || !cm__wrk_find(e, op->worker))
    return cm_error_set(err, CM_E_UNKNOWN_ID, "$.worker",
                        "$.worker: no worker '%s'", op->worker);
  *idx = (*r)->state == CM_REQ_OFFERED ? offer_index(*r, op->worker) : -1;
  if (*idx < 0 || (*r)->accepted[*idx])
    return cm_error_set(err, CM_E_CONFLICT, "$.worker",
                        "$.worker: request '%s' has no open offer to '%s'",
                        (*r)->spec.id, op->worker);
  if (op->now_ms > e->now_ms)
    e->now_ms = op->now_ms;
  return CM_OK;
}

static cm_status accept_apply(cm_engine *e, cm__op *op, cm_error *err) {
  (void)err;
  cm__req *r = cm__req_find(e, op->id);
  cm__wrk *w = cm__wrk_find(e, op->worker);
  if (w) {
    w->accepted++;
    cm__wrk_sync(e, w);
  }
  cm__req_replace(e, r, &op->after);
  cm__event_push(e, &op->ev);
  return CM_OK;
}

/* A diversion offer accepted (engine_divert.c). When her job changed
 * meanwhile (she arrived, it was cancelled, or changed in the ledger) the
 * accept is refused with CM_E_CONFLICT and the emergency goes back to
 * pending at once (withdrawn: not her refusal), to be offered again in the
 * next batch: committed here (a synchronous accept), or proposed by this
 * op (an _async one), whose caller is then told the refusal from the
 * completion (op->withdraws). */
static cm_status divert_accept(cm_engine *e, cm__op *op, cm__req *r, int idx,
                               cm_error *err) {
  cm_status st = cm__divert_accept(e, op, r, idx, err);
  if (st != CM_E_CONFLICT)
    return st;
  r = cm__req_find(e, op->id);
  if (!r || r->state != CM_REQ_OFFERED || r->n_workers != 1 ||
      strcmp(r->workers[0], op->worker))
    return st;
  cm_error mine;
  op->why = CM_EV_WITHDRAWN;
  if (!op->async) {
    requeue_build(e, op, r, &mine);
    return st;
  }
  op->withdraws = 1;
  op->tell_st = st;
  if (err)
    op->tell_err = *err;
  else
    cm_error_set(&op->tell_err, st, "$.worker", NULL);
  if (requeue_build(e, op, r, &mine) == CM_OK && op->proposed)
    return CM_OK;    /* told tell_st from the completion */
  op->withdraws = 0; /* not proposed: the caller is told now */
  return st;
}

static cm_status accept_plan(cm_engine *e, cm__op *op, cm_error *err) {
  cm__req *r;
  int idx = 0;
  cm_status st = open_offer(e, op, &r, &idx, err);
  if (st != CM_OK)
    return st;
  if (r->divert_of[0] && r->divert_ms == r->offered_ms && r->n_workers == 1)
    return divert_accept(e, op, r, idx, err);
  cm__req *after = &op->after;
  *after = *r;
  after->accepted[idx] = 1;
  int all = 1;
  for (int i = 0; i < after->n_workers; i++)
    all &= after->accepted[i];
  if (all)
    after->state = CM_REQ_ACCEPTED;
  cm__event_fill(e, &op->ev, CM_EV_ACCEPTED, after, op->worker, CM_REQ_OFFERED,
                 after->state, &after->terms[idx]);
  cm__change_init(&op->ch, r, &op->view, after, &op->ev, 1);
  cm__change_worker(&op->ch, op->worker, (cm__worker_part){.accept_delta = 1});
  op->apply = accept_apply;
  return cm__op_commit(e, op, err);
}

static cm_status reject_plan(cm_engine *e, cm__op *op, cm_error *err) {
  cm__req *r;
  int idx = 0;
  cm_status st = open_offer(e, op, &r, &idx, err);
  if (st != CM_OK)
    return st;
  op->why = CM_EV_REJECTED;
  return requeue_build(e, op, r, err);
}

/* ---- arrival ---- */

static cm_status arrived_apply(cm_engine *e, cm__op *op, cm_error *err) {
  (void)err;
  cm__req *r = cm__req_find(e, op->id);
  cm__req_replace(e, r, &op->after);
  cm__event_push(e, &op->ev);
  return CM_OK;
}

/* The first arrival of an accepted worker; later ones are no-ops. */
static cm_status arrived_plan(cm_engine *e, cm__op *op, cm_error *err) {
  cm__req *r = find_live(e, op, err);
  if (!r)
    return CM_E_UNKNOWN_ID;
  if (op->bad_worker || !cm__wrk_find(e, op->worker))
    return cm_error_set(err, CM_E_UNKNOWN_ID, "$.worker",
                        "$.worker: no worker '%s'", op->worker);
  if (r->state != CM_REQ_ACCEPTED)
    return cm_error_set(err, CM_E_CONFLICT, "$.request",
                        "$.request: '%s' is %s, not accepted", op->id,
                        cm_request_state_name(r->state));
  int idx = offer_index(r, op->worker);
  if (idx < 0 || !r->accepted[idx])
    return cm_error_set(err, CM_E_CONFLICT, "$.worker",
                        "$.worker: '%s' is not an accepted worker of '%s'",
                        op->worker, op->id);
  if (r->arrived_ms) /* already arrived: nothing changes */
    return CM_OK;
  if (op->now_ms > e->now_ms)
    e->now_ms = op->now_ms;
  cm__req *after = &op->after;
  *after = *r;
  after->arrived_ms = op->now_ms > 0 ? op->now_ms : 1;
  cm__event_fill(e, &op->ev, CM_EV_ARRIVED, after, op->worker, r->state,
                 r->state, NULL);
  cm__change_init(&op->ch, r, &op->view, after, &op->ev, 1);
  op->apply = arrived_apply;
  return cm__op_commit(e, op, err);
}

/* ---- the calls ---- */

#define NO_WORKER NULL, 0 /* the worker arguments of a call without one */
#define WORKER(w) (w), 1

/* Run a plan on request id (and worker, when with_worker) synchronously,
 * or asynchronously when done is given. */
static cm_status run(cm_engine *e, cm__op_fn plan, const char *id,
                     const char *worker, int with_worker, int64_t now_ms,
                     cm_engine_done_fn done, void *ctx, cm_error *err) {
  cm_ledger *l = e->cfg.ledger;
  if (!done || !l || !l->type->propose) { /* at once */
    cm__op op;
    cm__op_init(&op, id, now_ms);
    if (with_worker)
      op_worker(&op, worker);
    op.plan = plan;
    cm_status st = cm__op_run(e, &op, err);
    if (st == CM_OK && done) {
      cm_error ok;
      cm_error_clear(&ok);
      done(ctx, CM_OK, &ok);
    }
    return st;
  }
  cm__op *op = op_async(id, now_ms, done, ctx, err);
  if (!op)
    return CM_E_NOMEM;
  if (with_worker)
    op_worker(op, worker);
  op->plan = plan;
  return cm__op_launch(e, op, err);
}

cm_status cm_engine_cancel(cm_engine *e, const char *request_id, int64_t now_ms,
                           cm_error *err) {
  return run(e, cancel_plan, request_id, NO_WORKER, now_ms, NULL, NULL, err);
}

cm_status cm_engine_cancel_async(cm_engine *e, const char *request_id,
                                 int64_t now_ms, cm_engine_done_fn done,
                                 void *ctx, cm_error *err) {
  if (!done)
    return cm_error_set(err, CM_E_INVALID, "", "no completion given");
  return run(e, cancel_plan, request_id, NO_WORKER, now_ms, done, ctx, err);
}

cm_status cm_engine_complete(cm_engine *e, const char *request_id,
                             int64_t now_ms, cm_error *err) {
  return run(e, complete_plan, request_id, NO_WORKER, now_ms, NULL, NULL, err);
}

cm_status cm_engine_complete_async(cm_engine *e, const char *request_id,
                                   int64_t now_ms, cm_engine_done_fn done,
                                   void *ctx, cm_error *err) {
  if (!done)
    return cm_error_set(err, CM_E_INVALID, "", "no completion given");
  return run(e, complete_plan, request_id, NO_WORKER, now_ms, done, ctx, err);
}

cm_status cm_engine_arrived(cm_engine *e, const char *request_id,
                            const char *worker_id, int64_t now_ms,
                            cm_error *err) {
  return run(e, arrived_plan, request_id, WORKER(worker_id), now_ms, NULL, NULL,
             err);
}

cm_status cm_engine_arrived_async(cm_engine *e, const char *request_id,
                                  const char *worker_id, int64_t now_ms,
                                  cm_engine_done_fn done, void *ctx,
                                  cm_error *err) {
  if (!done)
    return cm_error_set(err, CM_E_INVALID, "", "no completion given");
  return run(e, arrived_plan, request_id, WORKER(worker_id), now_ms, done, ctx,
             err);
}

cm_status cm_engine_accept(cm_engine *e, const char *request_id,
                           const char *worker_id, int64_t now_ms,
                           cm_error *err) {
  return run(e, accept_plan, request_id, WORKER(worker_id), now_ms, NULL, NULL,
             err);
}

cm_status cm_engine_accept_async(cm_engine *e, const char *request_id,
                                 const char *worker_id, int64_t now_ms,
                                 cm_engine_done_fn done, void *ctx,
                                 cm_error *err) {
  if (!done)
    return cm_error_set(err, CM_E_INVALID, "", "no completion given");
  return run(e, accept_plan, request_id, WORKER(worker_id), now_ms, done, ctx,
             err);
}

cm_status cm_engine_reject(cm_engine *e, const char *request_id,
                           const char *worker_id, int64_t now_ms,
                           cm_error *err) {
  return run(e, reject_plan, request_id, WORKER(worker_id), now_ms, NULL, NULL,
             err);
}

cm_status cm_engine_reject_async(cm_engine *e, const char *request_id,
                                 const char *worker_id, int64_t now_ms,
                                 cm_engine_done_fn done, void *ctx,
                                 cm_error *err) {
  if (!done)
    return cm_error_set(err, CM_E_INVALID, "", "no completion given");
  return run(e, reject_plan, request_id, WORKER(worker_id), now_ms, done, ctx,
             err);
}

void cm__withdraw_offers(cm_engine *e, const char *id, int64_t now_ms) {
  for (int i = 0; i < e->n_live; i++) {
    cm__req *r = e->live[i];
    if (r->state != CM_REQ_OFFERED)
      continue;
    for (int k = 0; k < r->n_workers; k++)
      if (!r->accepted[k] && strcmp(r->workers[k], id) == 0) {
        /* a refused or failed write (or a change of the request in
           flight) leaves it to the ledger's owner or to the
           resynchronisation */
        cm__req_requeue_soon(e, r, id, CM_EV_WITHDRAWN, now_ms);
        break;
      }
  }
}
