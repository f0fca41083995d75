/* engine_override.c -- operators' overrides: pin a pending request to a
 * named worker, hold it out of batching, release it, reassign an offered
 * or accepted job (docs/engine.md "Operator overrides"); and, before each
 * batch, the offers of the pinned requests.
 *
 * Each override is an op (engine_ops.c) like the lifecycle's transitions:
 * committed to the ledger first, its event naming the operator (actor),
 * the pin and the hold kept in the record, so a restart keeps them. A
 * pinned request never enters the solver: cm__pins_offer checks its worker
 * and offers it there directly (the search radius and the emergency
 * reserve do not apply: the operator decided), or records the
 * pinned_worker_* reason that says why not. The offer is made before the
 * batch takes its requests, so the batch sees the worker's job: committed
 * at once without a proposing ledger; else proposed like a batch's offers
 * (docs/async.md), the worker's take counted as planned and the request
 * held until the completion, which records pinned_worker_full when the
 * ledger refused it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

int cm__req_batchable(const cm__req *r) {
  return !r->held && !r->pinned[0];
}

/* ---- the calls' checks and records ---- */

static cm__req *find_live(cm_engine *e, const cm__op *op, cm_error *err) {
  cm__req *r = op->bad_id ? NULL : cm__req_find(e, op->id);
  if (!r)
    cm_error_set(err, CM_E_UNKNOWN_ID, "$.request",
                 "$.request: no request '%s'", op->id);
  return r;
}

static cm_status bad_state(const cm__req *r, const char *wanted,
                           cm_error *err) {
  return cm_error_set(err, CM_E_CONFLICT, "$.request",
                      "$.request: '%s' is %s, not %s", r->spec.id,
                      cm_request_state_name(r->state), wanted);
}

/* The worker a pin or a reassign names: known, and the request needs one
 * person. */
static cm_status check_worker(cm_engine *e, const cm__op *op, const cm__req *r,
                              cm_error *err) {
  if (op->bad_worker || !cm__wrk_find(e, op->worker))
    return cm_error_set(err, CM_E_UNKNOWN_ID, "$.worker",
                        "$.worker: no worker '%s'", op->worker);
  if (r->spec.staff != 1)
    return cm_error_set(err, CM_E_INVALID, "$.worker",
                        "$.worker: '%s' needs %d people; a pin names one",
                        r->spec.id, r->spec.staff);
  return CM_OK;
}

static int listed(const char (*ids)[CM_ID_MAX], int n, const char *id) {
  for (int i = 0; i < n; i++)
    if (strcmp(ids[i], id) == 0)
      return 1;
  return 0;
}

/* Forget id's refusal of r (the operator's pin overrides it). */
static void unreject(cm__req *r, const char *id) {
  int m = 0;
  for (int i = 0; i < r->n_rejected; i++)
    if (strcmp(r->rejected[i], id) != 0)
      memcpy(r->rejected[m++], r->rejected[i], CM_ID_MAX);
  for (int i = m; i < r->n_rejected; i++)
    memset(r->rejected[i], 0, CM_ID_MAX);
  r->n_rejected = m;
}

/* Remember id as refused for r (the oldest slot reused when full). */
static void reject(cm__req *r, const char *id) {
  if (listed(r->rejected, r->n_rejected, id))
    return;
  int n = r->n_rejected < CM_MAX_REJECTS ? r->n_rejected++ : CM_MAX_REJECTS - 1;
  memset(r->rejected[n], 0, CM_ID_MAX);
  memcpy(r->rejected[n], id, strnlen(id, CM_ID_MAX - 1));
}

static void set_pin(cm__req *r, const char *worker) {
  memset(r->pinned, 0, sizeof r->pinned);
  if (worker)
    memcpy(r->pinned, worker, strnlen(worker, CM_ID_MAX - 1));
}

/* The event of op's transition from r to op->after, naming the actor. */
static void fill_event(cm_engine *e, cm__op *op, const cm__req *r,
                       cm_event_type t, const char *worker) {
  cm__event_fill(e, &op->ev, t, &op->after, worker, r->state, op->after.state,
                 NULL);
  memcpy(op->ev.actor, op->actor, sizeof op->ev.actor);
}

static void op_now(cm_engine *e, const cm__op *op) {
  if (op->now_ms > e->now_ms)
    e->now_ms = op->now_ms;
}

/* ---- pin, hold, release ---- */

/* The record changes; the batch is asked for when it may be offered. */
static cm_status flags_apply(cm_engine *e, cm__op *op, cm_error *err) {
  (void)err;
  cm__req *r = cm__req_find(e, op->id);
  cm__req_replace(e, r, &op->after);
  cm__event_push(e, &op->ev);
  if (r->state == CM_REQ_PENDING && !r->held)
    cm__schedule_for(e, r, op->now_ms);
  return CM_OK;
}

static cm_status flags_commit(cm_engine *e, cm__op *op, cm__req *r,
                              cm_event_type t, const char *worker,
                              cm_error *err) {
  fill_event(e, op, r, t, worker);
  cm__change_init(&op->ch, r, &op->view, &op->after, &op->ev, 1);
  op->apply = flags_apply;
  return cm__op_commit(e, op, err);
}

static cm_status pin_plan(cm_engine *e, cm__op *op, cm_error *err) {
  cm__req *r = find_live(e, op, err);
  if (!r)
    return CM_E_UNKNOWN_ID;
  if (r->state != CM_REQ_PENDING)
    return bad_state(r, "pending (reassign moves an offered job)", err);
  cm_status st = check_worker(e, op, r, err);
  if (st != CM_OK)
    return st;
  if (strcmp(r->pinned, op->worker) == 0 &&
      !listed(r->rejected, r->n_rejected, op->worker))
    return CM_OK; /* pinned there already */
  op_now(e, op);
  op->after = *r;
  set_pin(&op->after, op->worker);
  unreject(&op->after, op->worker);
  op->after.has_reason = op->after.held; /* held_by_operator stays */
  return flags_commit(e, op, r, CM_EV_PINNED, op->worker, err);
}

static cm_status hold_plan(cm_engine *e, cm__op *op, cm_error *err) {
  cm__req *r = find_live(e, op, err);
  if (!r)
    return CM_E_UNKNOWN_ID;
  if (r->state != CM_REQ_PENDING)
    return bad_state(r, "pending", err);
  if (r->held)
    return CM_OK;
  op_now(e, op);
  op->after = *r;
  op->after.held = 1;
  op->after.has_reason = 1;
  op->after.reason = CM_REASON_HELD;
  return flags_commit(e, op, r, CM_EV_HELD, NULL, err);
}

static cm_status release_plan(cm_engine *e, cm__op *op, cm_error *err) {
  cm__req *r = find_live(e, op, err);
  if (!r)
    return CM_E_UNKNOWN_ID;
  if (r->state == CM_REQ_DONE || r->state == CM_REQ_CANCELLED)
    return bad_state(r, "unfinished", err);
  if (!r->held && !r->pinned[0])
    return CM_OK;
  op_now(e, op);
  op->after = *r;
  op->after.held = 0;
  set_pin(&op->after, NULL);
  op->after.has_reason = 0;
  return flags_commit(e, op, r, CM_EV_RELEASED, NULL, err);
}

/* ---- reassign ---- */

static cm_status reassign_apply(cm_engine *e, cm__op *op, cm_error *err) {
  (void)err;
  cm__req *r = cm__req_find(e, op->id);
  cm__req_release_workers(e, r); /* their jobs back, in the store too */
  cm__req_replace(e, r, &op->after);
  cm__event_push(e, &op->ev);
  cm__schedule_for(e, r, op->now_ms);
  return CM_OK;
}

static cm_status reassign_plan(cm_engine *e, cm__op *op, cm_error *err) {
  cm__req *r = find_live(e, op, err);
  if (!r)
    return CM_E_UNKNOWN_ID;
  if (r->state != CM_REQ_OFFERED && r->state != CM_REQ_ACCEPTED)
    return bad_state(r, "offered or accepted", err);
  int named = op->worker[0] != '\0' || op->bad_worker;
  if (named) {
    cm_status st = check_worker(e, op, r, err);
    if (st != CM_OK)
      return st;
    if (listed(r->workers, r->n_workers, op->worker))
      return cm_error_set(err, CM_E_CONFLICT, "$.worker",
                          "$.worker: '%s' has request '%s' already", op->worker,
                          r->spec.id);
  }
  op_now(e, op);
  cm__req *after = &op->after;
  *after = *r;
  after->n_workers = 0;
  memset(after->accepted, 0, sizeof after->accepted);
  after->state = CM_REQ_PENDING;
  after->expires_ms = 0;
  after->has_reason = 0;
  after->held = 0;
  after->arrived_ms = 0; /* whoever takes it has not arrived */
  set_pin(after, named ? op->worker : NULL);
  if (named)
    unreject(after, op->worker);
  else /* the next batch picks anew, without them */
    for (int i = 0; i < r->n_workers; i++)
      reject(after, r->workers[i]);
  fill_event(e, op, r, CM_EV_REASSIGNED, r->workers[0]);
  memcpy(op->ev.to_worker, after->pinned, sizeof op->ev.to_worker);
  cm__change_init(&op->ch, r, &op->view, after, &op->ev, 1);
  for (int i = 0; i < r->n_workers; i++)
    cm__change_worker(
        &op->ch, r->workers[i],
        (cm__worker_part){.give = 1, .accept_delta = r->accepted[i] ? -1 : 0});
  op->apply = reassign_apply;
  return cm__op_commit(e, op, err);
}

/* ---- the calls ---- */

/* Copy the call's worker (NULL: none) and actor into op. */
static void op_args(cm__op *op, const char *worker, const char *actor) {
  memset(op->worker, 0, sizeof op->worker);
  op->bad_worker = worker && strnlen(worker, CM_ID_MAX) >= CM_ID_MAX;
  if (worker && !op->bad_worker)
    memcpy(op->worker, worker, strlen(worker));
  memset(op->actor, 0, sizeof op->actor);
  if (actor)
    memcpy(op->actor, actor, strnlen(actor, CM_ID_MAX - 1));
}

/* Run plan on request id synchronously, or asynchronously when done is
 * given (the lifecycle's rules, engine_lifecycle.c). */
static cm_status run(cm_engine *e, cm__op_fn plan, const char *id,
                     const char *worker, const char *actor, int64_t now_ms,
                     cm_engine_done_fn done, void *ctx, cm_error *err) {
  cm_ledger *l = e->cfg.ledger;
  if (!done || !l || !l->type->propose) { /* at once */
    cm__op op;
    cm__op_init(&op, id, now_ms);
    op_args(&op, worker, actor);
    op.plan = plan;
    cm_status st = cm__op_run(e, &op, err);
    if (st == CM_OK && done) {
      cm_error ok;
      cm_error_clear(&ok);
      done(ctx, CM_OK, &ok);
    }
    return st;
  }
  cm__op *op = cm__op_new(id ? id : "", now_ms, done, ctx);
  if (!op)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  op->bad_id = !id || op->bad_id;
  op_args(op, worker, actor);
  op->plan = plan;
  return cm__op_launch(e, op, err);
}

static cm_status need_done(cm_engine_done_fn done, cm_error *err) {
  return done ? CM_OK
              : cm_error_set(err, CM_E_INVALID, "", "no completion given");
}

cm_status cm_engine_pin(cm_engine *e, const char *request_id,
                        const char *worker_id, const char *actor,
                        int64_t now_ms, cm_error *err) {
  return run(e, worker_id ? pin_plan : release_plan, request_id, worker_id,
             actor, now_ms, NULL, NULL, err);
}

cm_status cm_engine_hold(cm_engine *e, const char *request_id,
                         const char *actor, int64_t now_ms, cm_error *err) {
  return run(e, hold_plan, request_id, NULL, actor, now_ms, NULL, NULL, err);
}

cm_status cm_engine_release(cm_engine *e, const char *request_id,
                            const char *actor, int64_t now_ms, cm_error *err) {
  return run(e, release_plan, request_id, NULL, actor, now_ms, NULL, NULL, err);
}

cm_status cm_engine_reassign(cm_engine *e, const char *request_id,
                             const char *worker_id, const char *actor,
                             int64_t now_ms, cm_error *err) {
  return run(e, reassign_plan, request_id, worker_id, actor, now_ms, NULL, NULL,
             err);
}

cm_status cm_engine_pin_async(cm_engine *e, const char *request_id,
                              const char *worker_id, const char *actor,
                              int64_t now_ms, cm_engine_done_fn done, void *ctx,
                              cm_error *err) {
  if (need_done(done, err) != CM_OK)
    return CM_E_INVALID;
  return run(e, worker_id ? pin_plan : release_plan, request_id, worker_id,
             actor, now_ms, done, ctx, err);
}

cm_status cm_engine_hold_async(cm_engine *e, const char *request_id,
                               const char *actor, int64_t now_ms,
                               cm_engine_done_fn done, void *ctx,
                               cm_error *err) {
  if (need_done(done, err) != CM_OK)
    return CM_E_INVALID;
  return run(e, hold_plan, request_id, NULL, actor, now_ms, done, ctx, err);
}

cm_status cm_engine_release_async(cm_engine *e, const char *request_id,
                                  const char *actor, int64_t now_ms,
                                  cm_engine_done_fn done, void *ctx,
                                  cm_error *err) {
  if (need_done(done, err) != CM_OK)
    return CM_E_INVALID;
  return run(e, release_plan, request_id, NULL, actor, now_ms, done, ctx, err);
}

cm_status cm_engine_reassign_async(cm_engine *e, const char *request_id,
                                   const char *worker_id, const char *actor,
                                   int64_t now_ms, cm_engine_done_fn done,
                                   void *ctx, cm_error *err) {
  if (need_done(done, err) != CM_OK)
    return CM_E_INVALID;
  return run(e, reassign_plan, request_id, worker_id, actor, now_ms, done, ctx,
             err);
}

/* ---- a batch's pinned offers ---- */

/* Why worker w (record rec) cannot take r now, or -1 when it can. */
static int pin_refusal(const cm_engine *e, const cm__req *r, const cm__wrk *rec,
                       const cm_worker *w, int64_t now_ms) {
  cm_skillset need = r->spec.skills;
  if (!rec->on_shift)
    return CM_REASON_PINNED_OFFLINE;
  if (rec->jobs + rec->planned >= rec->capacity)
    return CM_REASON_PINNED_FULL;
  if (r->spec.skill_mode == CM_SKILLS_ALL ? (w->skills & need) != need
                                          : need && !(w->skills & need))
    return CM_REASON_PINNED_UNQUALIFIED;
  if (listed(r->spec.excluded, r->spec.n_excluded, w->id))
    return CM_REASON_PINNED_EXCLUDED;
  if (listed(r->rejected, r->n_rejected, w->id))
    return CM_REASON_PINNED_REFUSED;
  if (!w->has_position || !cm_store_fresh(w->seen_ms, now_ms, e->cfg.stale_ms))
    return CM_REASON_PINNED_UNLOCATED;
  if (cm__confirm_held(e, w->id, r, now_ms)) /* no other work while held */
    return CM_REASON_PINNED_HELD;
  return -1;
}

/* The one-edge instance of r and its pinned worker w (room: what rec has
 * left), priced as a batch prices it. NULL out of memory. */
static cm_instance *pin_instance(const cm_engine *e, const cm__req *r,
                                 const cm__wrk *rec, cm_worker w,
                                 int64_t now_ms, cm_cost_terms *terms) {
  cm_instance *inst = cm_instance_new();
  if (!inst)
    return NULL;
  inst->taxonomy = e->cfg.taxonomy;
  inst->weights = e->cfg.weights;
  inst->params = e->cfg.params;
  inst->params.now_ms = now_ms;
  inst->params.stale_ms = 0;
  inst->has_edges = 1;
  cm_request rq;
  cm_request_init(&rq);
  memcpy(rq.id, r->spec.id, sizeof rq.id);
  rq.lat = r->spec.lat;
  rq.lon = r->spec.lon;
  rq.has_position = 1;
  rq.skills = r->spec.skills;
  rq.skill_mode = r->spec.skill_mode;
  rq.staff = 1;
  rq.urgency = r->spec.urgency;
  rq.waited_s =
      now_ms > r->ready_ms ? (double)(now_ms - r->ready_ms) / 1e3 : 0.0;
  rq.elder = r->spec.elder[0] ? cm_id_hash(r->spec.elder) : 0;
  if (listed(r->spec.preferred, r->spec.n_preferred, w.id))
    rq.preferred[rq.n_preferred++] = 0;
  w.status = CM_WORKER_AVAILABLE;
  w.capacity = rec->capacity - rec->jobs;
  int ri, wi;
  double km = cm_geo_distance_km(r->spec.lat, r->spec.lon, w.lat, w.lon);
  cm_edge_in ed = {0, 0, cm_travel_minutes(&inst->params, km)};
  if (cm_instance_request_add(inst, &rq, &ri, NULL) != CM_OK ||
      cm_instance_worker_add(inst, &w, &wi, NULL) != CM_OK ||
      cm_instance_edge_add(inst, &ed, NULL, NULL) != CM_OK) {
    cm_instance_free(inst);
    return NULL;
  }
  cm_edge_cost(inst, 0, 0, km, ed.travel_min, terms);
  return inst;
}

/* A pin's offer proposed (the ledger proposes): its request, for the
 * completion. */
typedef struct pin_wait {
  cm_engine *e;
  char id[CM_ID_MAX];
  int64_t now_ms;
} pin_wait;

/* Why a pin's offer that the ledger answered left its request pending:
 * the ledger found the worker full or off shift (another writer's doing);
 * a batch comes back to it. */
static void pin_refused(cm_engine *e, const char *id, int64_t now_ms) {
  cm__req *r = cm__req_find(e, id);
  if (!r || r->state != CM_REQ_PENDING)
    return;
  r->has_reason = 1;
  r->reason = CM_REASON_PINNED_FULL;
  cm__schedule_batch(e, now_ms + e->cfg.retry_max_ms);
}

/* The completion of a pin's offer (engine_offers.c applied the ledger's
 * answer). Not CM_OK: a failed write (the engine resynchronises) or the
 * engine freed; nothing to do. */
static void pin_answered(void *ctx, cm_status st, const cm_error *err) {
  pin_wait *w = ctx;
  (void)err;
  if (st == CM_OK)
    pin_refused(w->e, w->id, w->now_ms);
  free(w);
}

/* Offer r to its pinned worker when it can take it: -1 offered, proposed
 * (the reason, if refused, set by its completion: the request is held
 * until then, engine_offers.c) or left to the ledger's resynchronisation;
 * else the reason it waits. */
static int pin_offer(cm_engine *e, cm__req *r, int64_t now_ms) {
  cm__wrk *rec = cm__wrk_find(e, r->pinned);
  cm_worker w;
  if (!rec || cm_store_get(e->store, r->pinned, &w, NULL) != CM_OK)
    return CM_REASON_PINNED_UNKNOWN;
  int why = pin_refusal(e, r, rec, &w, now_ms);
  if (why >= 0)
    return why;
  cm_assignment a = {.request = 0, .worker = 0, .component = -1};
  cm_instance *inst = pin_instance(e, r, rec, w, now_ms, &a.terms);
  cm_ledger *l = e->cfg.ledger;
  pin_wait *pw = l && l->type->propose ? malloc(sizeof *pw) : NULL;
  if (!inst || (l && l->type->propose && !pw)) {
    cm_instance_free(inst);
    free(pw);
    return -1; /* out of memory: the next batch tries again */
  }
  cm_answer ans;
  memset(&ans, 0, sizeof ans);
  ans.assignments = &a;
  ans.n_assignments = 1;
  cm__req *reqs[1] = {r};
  char id[CM_ID_MAX];
  memcpy(id, r->spec.id, sizeof id);
  if (pw) {
    pw->e = e;
    memcpy(pw->id, id, sizeof pw->id);
    pw->now_ms = now_ms;
  }
  cm_error err; /* a failed write: the engine resynchronises (e->resync) */
  cm_status st = cm__offers_commit(e, inst, &ans, reqs, now_ms,
                                   pw ? pin_answered : NULL, pw, &err);
  cm_instance_free(inst);
  if (pw) { /* CM_OK: pin_answered runs (or ran), and frees pw */
    if (st != CM_OK)
      free(pw);
    return -1;
  }
  const cm__req *now = cm__req_find(e, id);
  /* taken, or a failed write (resynchronising); else the ledger found the
     worker full or off shift (another writer's doing) */
  return st != CM_OK || !now || now->state != CM_REQ_PENDING
             ? -1
             : CM_REASON_PINNED_FULL;
}

void cm__pins_offer(cm_engine *e, int64_t now_ms) {
  int waiting = 0;
  for (int i = 0; i < e->n_live; i++) {
    cm__req *r = e->live[i];
    if (r->state != CM_REQ_PENDING || !r->pinned[0] || r->held || r->in_batch ||
        r->release_ms > now_ms || (e->n_flight && cm__op_find(e, r->spec.id)))
      continue;
    r->batches++; /* tried: not "untried" for the batch timer */
    int why = pin_offer(e, r, now_ms);
    if (why >= 0 && i < e->n_live && e->live[i] == r) {
      r->has_reason = 1;
      r->reason = (cm_unassigned_reason)why;
      waiting = 1;
    }
  }
  if (waiting) /* the worker may come free by ways that do not retry */
    cm__schedule_batch(e, now_ms + e->cfg.retry_max_ms);
}
