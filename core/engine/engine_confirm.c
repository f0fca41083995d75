/* engine_confirm.c -- confirmation before dispatch: a request submitted
 * with confirm "operator" waits in awaiting_confirmation (never offered),
 * its best candidates are priced as a batch would price them, the best
 * one is soft-held (no batch gives it other new work) for at most
 * confirm_hold_ms, and an operator confirms (the offer goes out in the
 * same call) or dismisses it (docs/engine.md).
 *
 * The hold is part of the record (the ledger keeps it: a rebuild finds
 * it); its lapse is not a write, only an event (CM_EV_HOLD_LAPSED, like
 * the escalation: emitted again after a rebuild if it had not been
 * polled). Confirm and dismiss are ops (engine_ops.c): committed to the
 * ledger, applied when it took them. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* ---- names ---- */

static const char *const dismiss_names[CM_DISMISS_COUNT] = {
    "none", "false_alarm", "duplicate", "other"};
static const char *const confirm_names[CM_CONFIRM_COUNT] = {"none", "operator"};

const char *cm_dismiss_reason_name(cm_dismiss_reason r) {
  return (int)r >= 0 && r < CM_DISMISS_COUNT ? dismiss_names[r] : "unknown";
}

int cm_dismiss_reason_parse(const char *s) {
  for (int i = 1; s && i < CM_DISMISS_COUNT; i++)
    if (strcmp(s, dismiss_names[i]) == 0)
      return i;
  return -1;
}

const char *cm_confirm_mode_name(cm_confirm_mode m) {
  return (int)m >= 0 && m < CM_CONFIRM_COUNT ? confirm_names[m] : "unknown";
}

int cm_confirm_mode_parse(const char *s) {
  for (int i = 0; s && i < CM_CONFIRM_COUNT; i++)
    if (strcmp(s, confirm_names[i]) == 0)
      return i;
  return -1;
}

/* ---- the hold ---- */

static int holding(const cm__req *r, int64_t now_ms) {
  return r->state == CM_REQ_AWAITING && r->hold_worker[0] &&
         r->hold_until_ms > now_ms;
}

int cm__confirm_held(const cm_engine *e, const char *id, const cm__req *except,
                     int64_t now_ms) {
  for (int i = 0; i < e->n_live; i++) {
    const cm__req *r = e->live[i];
    if (r != except && holding(r, now_ms) && strcmp(r->hold_worker, id) == 0)
      return 1;
  }
  return 0;
}

void cm__confirm_lapse(cm_engine *e, int64_t now_ms) {
  for (int i = 0; i < e->n_live; i++) {
    cm__req *r = e->live[i];
    if (r->state != CM_REQ_AWAITING || !r->hold_worker[0] || r->hold_lapsed ||
        r->hold_until_ms > now_ms)
      continue;
    cm_event ev;
    cm__event_fill(e, &ev, CM_EV_HOLD_LAPSED, r, r->hold_worker,
                   CM_REQ_AWAITING, CM_REQ_AWAITING, NULL);
    ev.at_ms = now_ms;
    cm__event_push(e, &ev);
    r->hold_lapsed = 1;
    cm__req_due_update(e, r);
    cm__retry_soon(e); /* the worker may serve the waiting ones now */
  }
}

void cm__confirm_hold(const cm_engine *e, cm_instance *inst, int64_t now_ms) {
  int any = 0;
  for (int i = 0; i < e->n_live && !any; i++)
    any = holding(e->live[i], now_ms);
  if (!any)
    return;
  unsigned char *held = calloc((size_t)inst->n_workers + 1, 1);
  for (int w = 0; held && w < inst->n_workers; w++)
    held[w] =
        (unsigned char)cm__confirm_held(e, inst->workers[w].id, NULL, now_ms);
  int m = 0;
  for (int i = 0; i < inst->n_edges; i++) {
    int wi = inst->edges[i].worker;
    int out = held ? held[wi] /* out of memory: edge by edge, slower */
                   : cm__confirm_held(e, inst->workers[wi].id, NULL, now_ms);
    if (!out)
      inst->edges[m++] = inst->edges[i];
  }
  inst->n_edges = m;
  free(held);
}

/* ---- candidates ---- */

typedef struct cand {
  cm_candidate c;
  cm_cost_terms terms;
} cand;

static int by_cost(const void *a, const void *b) {
  const cand *x = a, *y = b;
  if (x->c.cost != y->c.cost)
    return x->c.cost < y->c.cost ? -1 : 1;
  return strcmp(x->c.worker, y->c.worker);
}

/* Price the store's hits for r into cs (those with room, not held by
 * another request); *n how many. Returns CM_OK or CM_E_NOMEM. */
static cm_status price_hits(const cm_engine *e, const cm__req *r,
                            int64_t now_ms, const cm_store_hit *hits, int nh,
                            cand *cs, int *n, cm_error *err) {
  cm_instance *inst = cm_instance_new();
  cm_request rq;
  int ri;
  *n = 0;
  cm__req_as_request(r, r->created_ms, now_ms, &rq);
  if (!inst || cm_instance_request_add(inst, &rq, &ri, err) != CM_OK) {
    cm_instance_free(inst);
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  inst->weights = e->cfg.weights;
  inst->params = e->cfg.params;
  inst->params.now_ms = now_ms;
  inst->params.stale_ms = 0; /* the store filtered stale positions */
  for (int h = 0; h < nh; h++) {
    const cm__wrk *rec = cm__wrk_find(e, hits[h].id);
    cm_worker w;
    int wi;
    if (cm__confirm_held(e, hits[h].id, r, now_ms) ||
        (rec && (!rec->on_shift || rec->jobs + rec->planned >= rec->capacity)))
      continue;
    if (cm_store_get(e->store, hits[h].id, &w, NULL) != CM_OK)
      continue;
    w.capacity = rec ? rec->capacity - rec->jobs : w.capacity;
    w.status = CM_WORKER_AVAILABLE;
    if (w.capacity <= 0)
      continue;
    if (cm_instance_worker_add(inst, &w, &wi, err) != CM_OK) {
      cm_instance_free(inst);
      return CM_E_NOMEM;
    }
    cand *c = &cs[(*n)++];
    memset(c, 0, sizeof *c);
    memcpy(c->c.worker, hits[h].id, strnlen(hits[h].id, CM_ID_MAX - 1));
    double travel = cm_travel_minutes(&inst->params, hits[h].distance_km);
    cm_edge_cost(inst, ri, wi, hits[h].distance_km, travel, &c->terms);
    c->c.distance_km = hits[h].distance_km;
    c->c.travel_min = travel;
    c->c.cost = c->terms.total;
  }
  cm_instance_free(inst);
  qsort(cs, (size_t)*n, sizeof *cs, by_cost);
  return CM_OK;
}

/* The candidates of r (best first) into cs[0..*n), at most max. */
static cm_status candidates(const cm_engine *e, const cm__req *r,
                            int64_t now_ms, cand *cs, int max, int *n,
                            cm_error *err) {
  const char *excl[CM_MAX_PREFS + CM_MAX_REJECTS];
  int nx = 0, k = e->cfg.params.k + CM_CONFIRM_CANDIDATES;
  for (int i = 0; i < r->spec.n_excluded; i++)
    excl[nx++] = r->spec.excluded[i];
  for (int i = 0; i < r->n_rejected; i++)
    excl[nx++] = r->rejected[i];
  cm_request tmp;
  cm__req_as_request(r, r->created_ms, now_ms, &tmp);
  cm_store_query q = {.lat = r->spec.lat,
                      .lon = r->spec.lon,
                      .radius_km = cm_request_radius_km(&e->cfg.params, &tmp),
                      .k = k,
                      .need_all = r->spec.skill_mode == CM_SKILLS_ALL &&
                                          r->spec.staff == 1
                                      ? r->spec.skills
                                      : 0,
                      .need_any = r->spec.skills,
                      .exclude = excl,
                      .n_exclude = nx};
  cm_store_hit *hits = calloc((size_t)k, sizeof *hits);
  cand *all = calloc((size_t)k, sizeof *all);
  int nh = 0, np = 0;
  cm_status st = CM_OK;
  *n = 0;
  if (!hits || !all)
    st = cm_error_set(err, CM_E_NOMEM, "", NULL);
  else
    st = cm_store_nearest(e->store, &q, 1, k, now_ms, e->cfg.stale_ms, hits,
                          &nh, err);
  if (st == CM_OK)
    st = price_hits(e, r, now_ms, hits, nh, all, &np, err);
  if (st == CM_OK) {
    *n = np < max ? np : max;
    memcpy(cs, all, (size_t)*n * sizeof *cs);
  }
  free(hits);
  free(all);
  return st;
}

cm_status cm__confirm_candidates(const cm_engine *e, const cm__req *r,
                                 int64_t now_ms, cm_candidate *out, int max,
                                 int *n, cm_error *err) {
  cand cs[CM_CONFIRM_CANDIDATES];
  if (max > CM_CONFIRM_CANDIDATES)
    max = CM_CONFIRM_CANDIDATES;
  cm_status st = candidates(e, r, now_ms, cs, max, n, err);
  for (int i = 0; st == CM_OK && i < *n; i++)
    out[i] = cs[i].c;
  return st;
}

cm_status cm_engine_candidates(const cm_engine *e, const char *request_id,
                               cm_candidate *out, int max, int *n,
                               int64_t now_ms, cm_error *err) {
  *n = 0;
  const cm__req *r = request_id ? cm__req_find(e, request_id) : NULL;
  if (!r)
    return cm_error_set(err, CM_E_UNKNOWN_ID, "$.request",
                        "$.request: no request '%s'",
                        request_id ? request_id : "");
  if (r->state != CM_REQ_AWAITING || max <= 0)
    return CM_OK;
  return cm__confirm_candidates(e, r, now_ms, out, max, n, err);
}

/* ---- confirm, dismiss ---- */

/* An op with what confirm and dismiss need besides (the op first: the
 * engine frees it as a cm__op). */
typedef struct confirm_op {
  cm__op op;
  char actor[CM_ID_MAX];
  cm_dismiss_reason reason; /* dismiss */
  cm_event evs[3];          /* confirmed, offered, accepted (auto) */
  int n_ev;
  int picked;   /* confirm: an offer goes out */
  int had_hold; /* the record held a worker */
} confirm_op;

static confirm_op *of(cm__op *op) {
  return (confirm_op *)(void *)((char *)op - offsetof(confirm_op, op));
}

/* The awaiting request of op into *r, the engine's clock moved to op's
 * time; or CM_E_UNKNOWN_ID, CM_E_CONFLICT naming its state (err set). */
static cm_status awaiting(cm_engine *e, const cm__op *op, cm__req **r,
                          cm_error *err) {
  *r = op->bad_id ? NULL : cm__req_find(e, op->id);
  if (!*r)
    return cm_error_set(err, CM_E_UNKNOWN_ID, "$.request",
                        "$.request: no request '%s'", op->id);
  if ((*r)->state != CM_REQ_AWAITING)
    return cm_error_set(err, CM_E_CONFLICT, "$.request",
                        "$.request: '%s' is %s, not awaiting_confirmation",
                        op->id, cm_request_state_name((*r)->state));
  if (op->now_ms > e->now_ms)
    e->now_ms = op->now_ms;
  return CM_OK;
}

static void stamp(confirm_op *co) {
  for (int i = 0; i < co->n_ev; i++)
    memcpy(co->evs[i].actor, co->actor, sizeof co->actor);
}

static void clear_hold(cm__req *r) {
  memset(r->hold_worker, 0, sizeof r->hold_worker);
  r->hold_until_ms = 0;
}

static cm_status confirm_apply(cm_engine *e, cm__op *op, cm_error *err) {
  (void)err;
  confirm_op *co = of(op);
  cm__req *r = cm__req_find(e, op->id);
  const cm__req *after = &op->after;
  for (int i = 0; co->picked && i < after->n_workers; i++) {
    cm__wrk *w = cm__wrk_find(e, after->workers[i]);
    if (!w)
      continue;
    w->jobs++;
    w->accepted += after->accepted[i];
    cm__wrk_sync(e, w);
  }
  cm__req_replace(e, r, after);
  if (co->picked) {
    e->stats.offers += (uint64_t)after->n_workers;
    r->offered_once = 1;
    cm_histogram_add(&e->stats.offer_latency[r->spec.urgency],
                     (double)(op->now_ms - r->ready_ms));
  } else if (r->released) {
    cm__schedule_for(e, r, op->now_ms); /* at once, as an emergency */
  }
  for (int i = 0; i < co->n_ev; i++)
    cm__event_push(e, &co->evs[i]);
  if (co->had_hold)
    cm__retry_soon(e); /* the held worker is free for others again */
  return CM_OK;
}

/* The worker the offer goes to: the held one when it is still a
 * candidate, else the best. Returns 1 with *pick, or 0 when none. */
static int choose(const cm__req *r, const cand *cs, int n, cand *pick) {
  for (int i = 0; i < n; i++)
    if (r->hold_worker[0] && strcmp(cs[i].c.worker, r->hold_worker) == 0) {
      *pick = cs[i];
      return 1;
    }
  if (n > 0)
    *pick = cs[0];
  return n > 0;
}

static cm_status confirm_plan(cm_engine *e, cm__op *op, cm_error *err) {
  confirm_op *co = of(op);
  cm__req *r;
  cm_status st = awaiting(e, op, &r, err);
  if (st != CM_OK)
    return st;
  int64_t now = e->now_ms;
  cand cs[CM_CONFIRM_CANDIDATES], pick;
  int n = 0;
  if (r->spec.staff == 1) { /* a team is the solver's: a batch at once */
    st = candidates(e, r, now, cs, CM_CONFIRM_CANDIDATES, &n, err);
    if (st != CM_OK)
      return st;
  }
  int auto_accept = e->cfg.auto_accept != 0;
  cm__req *after = &op->after;
  *after = *r;
  co->had_hold = r->hold_worker[0] != 0;
  clear_hold(after);
  after->state = CM_REQ_PENDING;
  after->ready_ms = r->release_ms > now ? r->release_ms : now;
  after->has_reason = 0;
  co->n_ev = 0;
  cm__event_fill(e, &co->evs[co->n_ev++], CM_EV_CONFIRMED, after, NULL,
                 CM_REQ_AWAITING, CM_REQ_PENDING, NULL);
  co->picked = after->released && choose(r, cs, n, &pick);
  if (co->picked) {
    after->n_workers = 1;
    memset(after->workers[0], 0, CM_ID_MAX);
    memcpy(after->workers[0], pick.c.worker, sizeof pick.c.worker);
    after->accepted[0] = auto_accept;
    after->terms[0] = pick.terms;
    after->state = auto_accept ? CM_REQ_ACCEPTED : CM_REQ_OFFERED;
    after->offered_ms = now;
    after->expires_ms = now + e->cfg.offer_ttl_ms;
    cm__event_fill(e, &co->evs[co->n_ev++], CM_EV_OFFERED, after,
                   after->workers[0], CM_REQ_PENDING, CM_REQ_OFFERED,
                   &after->terms[0]);
    if (auto_accept)
      cm__event_fill(e, &co->evs[co->n_ev++], CM_EV_ACCEPTED, after,
                     after->workers[0], CM_REQ_OFFERED, CM_REQ_ACCEPTED,
                     &after->terms[0]);
  }
  stamp(co);
  cm__change_init(&op->ch, r, &op->view, after, co->evs, co->n_ev);
  if (co->picked)
    cm__change_worker(
        &op->ch, after->workers[0],
        (cm__worker_part){.take = 1, .accept_delta = auto_accept});
  op->apply = confirm_apply;
  return cm__op_commit(e, op, err);
}

static cm_status dismiss_apply(cm_engine *e, cm__op *op, cm_error *err) {
  (void)err;
  confirm_op *co = of(op);
  cm__req *r = cm__req_find(e, op->id);
  cm__req_replace(e, r, &op->after);
  cm__req_finish(e, r);
  cm__event_push(e, &co->evs[0]);
  if (co->had_hold)
    cm__retry_soon(e);
  return CM_OK;
}

static cm_status dismiss_plan(cm_engine *e, cm__op *op, cm_error *err) {
  confirm_op *co = of(op);
  cm__req *r;
  cm_status st = awaiting(e, op, &r, err);
  if (st != CM_OK)
    return st;
  cm__req *after = &op->after;
  *after = *r;
  co->had_hold = r->hold_worker[0] != 0;
  clear_hold(after);
  after->state = CM_REQ_DISMISSED;
  after->finished_ms = e->now_ms;
  after->dismissed = co->reason;
  co->n_ev = 1;
  cm__event_fill(e, &co->evs[0], CM_EV_DISMISSED, after, NULL, CM_REQ_AWAITING,
                 CM_REQ_DISMISSED, NULL);
  co->evs[0].dismiss = (int)co->reason;
  stamp(co);
  cm__change_init(&op->ch, r, &op->view, after, co->evs, 1);
  op->apply = dismiss_apply;
  return cm__op_commit(e, op, err);
}

/* Set up co for request id by actor. */
static void co_init(confirm_op *co, const char *id, const char *actor,
                    int64_t now_ms, cm__op_fn plan) {
  cm__op_init(&co->op, id, now_ms);
  co->op.plan = plan;
  memset(co->actor, 0, sizeof co->actor);
  if (actor)
    memcpy(co->actor, actor, strnlen(actor, CM_ID_MAX - 1));
  co->n_ev = co->picked = co->had_hold = 0;
}

/* Run co's plan at once, or launched with a completion when done is given
 * and the ledger proposes (engine_lifecycle.c's run, for a confirm_op). */
static cm_status run(cm_engine *e, const char *id, const char *actor,
                     cm_dismiss_reason reason, cm__op_fn plan, int64_t now_ms,
                     cm_engine_done_fn done, void *ctx, cm_error *err) {
  cm_ledger *l = e->cfg.ledger;
  if (!done || !l || !l->type->propose) {
    confirm_op *co = malloc(sizeof *co); /* large: not on the stack */
    if (!co)
      return cm_error_set(err, CM_E_NOMEM, "", NULL);
    co_init(co, id, actor, now_ms, plan);
    co->reason = reason;
    cm_status st = cm__op_run(e, &co->op, err);
    free(co);
    if (st == CM_OK && done) {
      cm_error ok;
      cm_error_clear(&ok);
      done(ctx, CM_OK, &ok);
    }
    return st;
  }
  confirm_op *co = malloc(sizeof *co);
  if (!co)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  co_init(co, id, actor, now_ms, plan);
  co->reason = reason;
  co->op.done = done;
  co->op.ctx = ctx;
  return cm__op_launch(e, &co->op, err); /* co is the engine's now */
}

cm_status cm_engine_confirm(cm_engine *e, const char *request_id,
                            const char *actor, int64_t now_ms, cm_error *err) {
  return run(e, request_id, actor, CM_DISMISS_NONE, confirm_plan, now_ms, NULL,
             NULL, err);
}

cm_status cm_engine_confirm_async(cm_engine *e, const char *request_id,
                                  const char *actor, int64_t now_ms,
                                  cm_engine_done_fn done, void *ctx,
                                  cm_error *err) {
  if (!done)
    return cm_error_set(err, CM_E_INVALID, "", "no completion given");
  return run(e, request_id, actor, CM_DISMISS_NONE, confirm_plan, now_ms, done,
             ctx, err);
}

static cm_status check_reason(cm_dismiss_reason reason, cm_error *err) {
  if ((int)reason <= CM_DISMISS_NONE || reason >= CM_DISMISS_COUNT)
    return cm_error_set(err, CM_E_INVALID, "$.reason",
                        "$.reason: must be false_alarm, duplicate or other");
  return CM_OK;
}

cm_status cm_engine_dismiss(cm_engine *e, const char *request_id,
                            cm_dismiss_reason reason, const char *actor,
                            int64_t now_ms, cm_error *err) {
  if (check_reason(reason, err) != CM_OK)
    return CM_E_INVALID;
  return run(e, request_id, actor, reason, dismiss_plan, now_ms, NULL, NULL,
             err);
}

cm_status cm_engine_dismiss_async(cm_engine *e, const char *request_id,
                                  cm_dismiss_reason reason, const char *actor,
                                  int64_t now_ms, cm_engine_done_fn done,
                                  void *ctx, cm_error *err) {
  if (!done)
    return cm_error_set(err, CM_E_INVALID, "", "no completion given");
  if (check_reason(reason, err) != CM_OK)
    return CM_E_INVALID;
  return run(e, request_id, actor, reason, dismiss_plan, now_ms, done, ctx,
             err);
}

/* ---- at submission ---- */

cm_status cm__confirm_submit(cm_engine *e, cm__req *r, int64_t now_ms,
                             cm_error *err) {
  r->state = CM_REQ_AWAITING;
  if (e->cfg.confirm_hold_ms <= 0)
    return CM_OK;
  cand best;
  int n = 0;
  cm_status st = candidates(e, r, now_ms, &best, 1, &n, err);
  if (st != CM_OK || n == 0)
    return st;
  memcpy(r->hold_worker, best.c.worker, sizeof r->hold_worker);
  r->hold_until_ms = now_ms + e->cfg.confirm_hold_ms;
  return CM_OK;
}
