/* engine_divert.c -- diversion: a worker on her way to less urgent work
 * (accepted, not arrived; a normal or scheduled job) who is much nearer to
 * an emergency than every free candidate is offered it; if she accepts,
 * her job goes back to pending, keeping its waited-since time, in the same
 * ledger commit as her accept (docs/engine.md "Diversion").
 *
 * The solver is not changed. Such a worker is added to the batch instance
 * like the look-ahead's, at her last position, with one edge per
 * one-worker emergency she qualifies for and reaches at least divert_min
 * sooner than every candidate so far (free, or finishing soon); the edge's
 * travel is her drive plus divert_min, the displacement's price, so she is
 * chosen only when clearly better. When the answer picks her, the offer
 * is committed on its own (proposed, where the ledger proposes: the
 * batch's end does not wait for it): she takes the emergency's job over
 * her capacity (take 2), as her accept gives the other back. A refusal or a
 * lapse changes nothing for her job. Her accept is two changes committed
 * together (with_next): the ledger applies both or neither, checking that
 * her job still has the version it had when she was offered; an _async
 * accept proposes the two as one proposal (cm__op_commit_pair), her job
 * held until the answer.
 *
 * Interruption is the same for a worker who has arrived (interrupt_min,
 * docs/engine.md "Interruption"): at her visit's place, with an edge from
 * each one-worker emergency she reaches at least interrupt_min sooner than
 * every candidate so far (her own look-ahead edge, when her visit ends
 * soon, among them: a visit about to end is waited for, not broken off);
 * travel is her drive plus interrupt_min. Any visit started counts, however
 * long ago: the rule above already leaves one about to end alone, and one
 * just begun loses only the minutes served. Her accept puts the visit back
 * to pending with its waited-since time and no arrival (CM_EV_INTERRUPTED);
 * the engine keeps no service clock (the platform, or the simulator, says
 * how much of the visit is left when a worker comes back to it).
 *
 * The margin gives way to the service level: when every candidate so far
 * would reach the emergency past its target (sla_target_min) and she alone
 * would be in time, she is its candidate however little she saves, priced
 * at her drive plus half of what she saves (still the cheapest).
 *
 * Urgent work (divert_urgent, docs/engine.md "Taking urgent work"): with
 * it on, a worker on her way to, or at, a one-worker urgent job may be
 * taken too, but only for an emergency that every candidate so far would
 * reach past its service level (sla_target_min, counted from when it
 * became ready), and at twice the margin: a normal or scheduled visit as
 * near is taken first. Without it urgent work is never taken. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* 1 when r is a job a worker may be taken from: normal or scheduled
 * (urgent too with divert_urgent), one worker, accepted; not arrived
 * (diversion) or arrived (interruption, with interrupted). */
static int takeable(const cm_engine *e, const cm__req *r, int interrupted) {
  return r->state == CM_REQ_ACCEPTED && r->n_workers == 1 && r->accepted[0] &&
         (r->arrived_ms != 0) == interrupted &&
         (r->spec.urgency >= CM_URGENCY_NORMAL ||
          (e->cfg.divert_urgent && r->spec.urgency == CM_URGENCY_URGENT));
}

/* The minutes j's worker must save an emergency to be taken from it now
 * (divert_min on her way, interrupt_min at the visit; twice that from
 * urgent work); 0: she may not be. */
static double margin_of(const cm_engine *e, const cm__req *j) {
  double m = 0;
  if (takeable(e, j, 0))
    m = e->cfg.divert_min;
  else if (takeable(e, j, 1))
    m = e->cfg.interrupt_min;
  return j->spec.urgency == CM_URGENCY_URGENT ? 2 * m : m;
}

/* 1 when emergency r, ready since its ready_ms, would be reached past its
 * service level by a candidate soonest minutes away. */
static int would_breach(const cm_engine *e, const cm__req *r, double soonest,
                        int64_t now_ms) {
  double waited = (double)(now_ms - r->ready_ms) / 60000.0;
  return waited + soonest > e->cfg.weights.sla_target_min[CM_URGENCY_EMERGENCY];
}

/* 1 when j's worker may be taken from it: j takeable with its margin on,
 * and she is on shift at capacity 1 holding j alone (one job, accepted,
 * none planned). */
static int diverts_from(const cm_engine *e, const cm__req *j) {
  if (margin_of(e, j) <= 0)
    return 0;
  const cm__wrk *w = cm__wrk_find(e, j->workers[0]);
  return w && w->on_shift && w->jobs == 1 && w->accepted == 1 &&
         w->capacity == 1 && !w->planned;
}

/* The job worker id may be diverted from now, or NULL. */
static cm__req *job_of(const cm_engine *e, const char *id) {
  for (int i = 0; i < e->n_live; i++) {
    cm__req *r = e->live[i];
    if (r->n_workers >= 1 && !strcmp(r->workers[0], id))
      return diverts_from(e, r) ? r : NULL;
  }
  return NULL;
}

static int emergency(const cm__req *r) {
  return r && r->spec.staff == 1 && r->spec.urgency == CM_URGENCY_EMERGENCY;
}

/* Add the worker of job j (on her way to it, or at it) with her edges
 * from the batch's one-worker emergencies: em[0..n_em), their batch
 * indexes, ascending. Returns CM_OK or CM_E_NOMEM. */
static cm_status add_on_way(cm_engine *e, cm_instance *inst, cm__req **reqs,
                            const int *em, int n_em, const double *best,
                            const cm__req *j, int64_t now_ms, cm_error *err) {
  cm_worker w;
  int wi = -1;
  double margin = margin_of(e, j);
  if (cm_store_get(e->store, j->workers[0], &w, NULL) != CM_OK ||
      !w.has_position ||
      (e->cfg.stale_ms > 0 && now_ms - w.seen_ms > e->cfg.stale_ms))
    return CM_OK;
  if (j->arrived_ms) { /* at the visit: there */
    w.lat = j->spec.lat;
    w.lon = j->spec.lon;
  }
  w.capacity = 1;
  w.status = CM_WORKER_AVAILABLE;
  for (int x = 0; x < n_em; x++) {
    int q = em[x];
    const cm__req *r = reqs[q];
    if (!cm__req_may_offer(r, &w))
      continue;
    double km = cm_geo_distance_km(w.lat, w.lon, r->spec.lat, r->spec.lon);
    if (km > cm_request_radius_km(&inst->params, &inst->requests[q]))
      continue;
    double drive = cm_travel_minutes(&inst->params, km), t = drive + margin;
    int save = would_breach(e, r, best[q], now_ms); /* the others are late */
    if (t > best[q]) { /* not margin sooner than every candidate: */
      if (!save || would_breach(e, r, drive, now_ms))
        continue;
      t = drive + (best[q] - drive) / 2; /* unless she alone is in time */
    }
    if (j->spec.urgency == CM_URGENCY_URGENT && !save)
      continue; /* urgent work is taken only to save a breach */
    if (wi < 0 && cm_instance_worker_add(inst, &w, &wi, err) != CM_OK)
      return CM_E_NOMEM;
    cm_edge_in ed = {q, wi, t};
    if (cm_instance_edge_add(inst, &ed, NULL, err) != CM_OK)
      return CM_E_NOMEM;
  }
  return CM_OK;
}

cm_status cm__divert_add(cm_engine *e, cm_instance *inst, cm__req **reqs, int n,
                         int64_t now_ms, cm_error *err) {
  int n_em = 0;
  cm_status st = CM_OK;
  if (e->cfg.divert_min <= 0 && e->cfg.interrupt_min <= 0)
    return CM_OK;
  for (int q = 0; q < n; q++)
    n_em += emergency(reqs[q]);
  if (n_em == 0)
    return CM_OK;
  /* the emergencies listed once: a batch of hundreds has a few, and
     every takeable job is checked against them alone */
  int *em = malloc((size_t)n_em * sizeof *em);
  double *best = malloc((size_t)n * sizeof *best);
  if (!em || !best) {
    free(em);
    free(best);
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  n_em = 0;
  for (int q = 0; q < n; q++)
    if (emergency(reqs[q]))
      em[n_em++] = q;
  cm__soonest_arrivals(inst, n, best);
  for (int i = 0; i < e->n_live && st == CM_OK; i++) {
    const cm__req *j = e->live[i];
    if (!diverts_from(e, j))
      continue;
    if (add_on_way(e, inst, reqs, em, n_em, best, j, now_ms, err) != CM_OK)
      st = cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  free(em);
  free(best);
  return st;
}

/* ---- the offer ---- */

static cm_status offer_apply(cm_engine *e, cm__op *op, cm_error *err) {
  (void)err;
  cm__req *r = cm__req_find(e, op->id);
  cm__wrk *w = cm__wrk_find(e, op->worker);
  if (w) {
    w->jobs++; /* over capacity until she answers */
    cm__wrk_sync(e, w);
  }
  int first = !r->offered_once;
  cm__req_replace(e, r, &op->after);
  e->stats.offers++;
  if (first) {
    r->offered_once = 1;
    cm_histogram_add(&e->stats.offer_latency[r->spec.urgency],
                     (double)(op->now_ms - r->ready_ms));
  }
  cm__event_push(e, &op->ev);
  return CM_OK;
}

static cm_status offer_plan(cm_engine *e, cm__op *op, cm_error *err) {
  cm__req *r = cm__req_find(e, op->id);
  const cm__req *j = job_of(e, op->worker);
  if (!r || r->state != CM_REQ_PENDING || !j)
    return CM_OK; /* gone meanwhile: nothing to offer */
  cm__req *after = &op->after;
  *after = *r;
  after->n_workers = 1;
  memset(after->workers[0], 0, CM_ID_MAX);
  memcpy(after->workers[0], op->worker, strlen(op->worker));
  after->accepted[0] = 0;
  after->state = CM_REQ_OFFERED;
  after->offered_ms = op->now_ms;
  after->expires_ms = op->now_ms + e->cfg.offer_ttl_ms;
  after->has_reason = 0;
  memcpy(after->divert_of, j->spec.id, CM_ID_MAX);
  after->divert_version = j->version;
  after->divert_ms = op->now_ms;
  cm__event_fill(e, &op->ev, CM_EV_OFFERED, after, op->worker, CM_REQ_PENDING,
                 CM_REQ_OFFERED, &after->terms[0]);
  cm__change_init(&op->ch, r, &op->view, after, &op->ev, 1);
  cm__change_worker(&op->ch, op->worker, (cm__worker_part){.take = 2});
  op->apply = offer_apply;
  return cm__op_commit(e, op, err);
}

/* The answer to a proposed diversion offer: nobody waits for it (a
 * refusal leaves the request pending for the next batch; a failed write
 * resynchronises the engine). */
static void offer_told(void *ctx, cm_status st, const cm_error *err) {
  (void)ctx;
  (void)st;
  (void)err;
}

void cm__divert_offer(cm_engine *e, cm__req *r, const char *id,
                      const cm_cost_terms *terms, int64_t now_ms) {
  const cm_ledger *l = e->cfg.ledger;
  r->terms[0] = *terms; /* the offer's, copied into after by the plan */
  if (l && l->type->propose) {
    /* proposed like a call's change (docs/async.md): the batch's end does
       not wait for the ledger; the request is left out of batches until
       the answer (it has an op in flight) */
    cm__op *op = cm__op_new(r->spec.id, now_ms, offer_told, NULL);
    if (!op)
      return; /* out of memory: pending, the next batch tries again */
    memcpy(op->worker, id, strnlen(id, CM_ID_MAX - 1));
    op->plan = offer_plan;
    cm_error err;
    (void)cm__op_launch(e, op, &err); /* its plan's refusal: pending */
    return;
  }
  cm__op op;
  cm__op_init(&op, r->spec.id, now_ms);
  memcpy(op.worker, id, strnlen(id, CM_ID_MAX - 1));
  op.plan = offer_plan;
  cm__op_run(e, &op, NULL); /* a refusal leaves it pending: next batch */
}

/* ---- her accept ---- */

/* The displaced job after the diversion (or the interruption): pending,
 * no worker, not arrived, its waited-since (ready_ms) kept. */
static void release_job(const cm_engine *e, const cm__req *j, cm__req *after,
                        cm_event *ev, const char *worker) {
  *after = *j;
  after->n_workers = 0;
  memset(after->accepted, 0, sizeof after->accepted);
  after->state = CM_REQ_PENDING;
  after->expires_ms = 0;
  after->arrived_ms = 0;
  after->has_reason = 0;
  cm__event_fill(e, ev, j->arrived_ms ? CM_EV_INTERRUPTED : CM_EV_DIVERTED,
                 after, worker, CM_REQ_ACCEPTED, CM_REQ_PENDING, NULL);
}

/* Both changes taken: apply them (her job back, the emergency accepted). */
static void apply_both(cm_engine *e, cm__req *j, const cm__req *jafter,
                       const cm_event *jev, cm__op *op) {
  cm__req_release_workers(e, j); /* her job and acceptance back */
  cm__req_replace(e, j, jafter);
  cm__event_push(e, jev);
  if (jev->type == CM_EV_INTERRUPTED)
    e->stats.interrupted++;
  else
    e->stats.diverted++;
  cm__wrk *w = cm__wrk_find(e, op->worker);
  if (w) { /* jobs: the emergency's alone now */
    w->accepted++;
    cm__wrk_sync(e, w);
  }
  cm__req *r = cm__req_find(e, op->id);
  cm__req_replace(e, r, &op->after);
  cm__event_push(e, &op->ev);
  cm__schedule_batch(e, op->now_ms); /* her job at once */
}

/* A proposed pair taken by the ledger: both applied. */
static cm_status pair_apply(cm_engine *e, cm__op *op, cm_error *err) {
  (void)err;
  cm__req *j = cm__req_find(e, op->pair->other);
  if (j) /* found: pair_settle checked both versions */
    apply_both(e, j, &op->pair->other_after, &op->pair->other_ev, op);
  return CM_OK;
}

/* A proposed pair refused by the ledger (her job or the offer changed
 * there): the offer is withdrawn behind the records' re-read, as the
 * synchronous accept withdraws it (engine_lifecycle.c). */
static cm_status pair_refused(cm_engine *e, cm__op *op, cm_error *err) {
  (void)err;
  cm__req_withdraw_later(e, op->id, op->worker, op->now_ms);
  return CM_OK;
}

/* Her accept's two changes into p: her job j back to pending (with_next),
 * then r accepted by her (op's after, view and event). */
static void pair_build(cm_engine *e, cm__op *op, cm__req *r, int idx,
                       const cm__req *j, cm__op_pair *p) {
  memcpy(p->other, j->spec.id, CM_ID_MAX);
  release_job(e, j, &p->other_after, &p->other_ev, op->worker);
  cm__change_init(&p->ch[0], j, &p->other_view, &p->other_after, &p->other_ev,
                  1);
  cm__change_worker(&p->ch[0], op->worker,
                    (cm__worker_part){.give = 1, .accept_delta = -1});
  p->ch[0].with_next = 1;
  cm__req *after = &op->after;
  *after = *r;
  after->accepted[idx] = 1;
  after->state = CM_REQ_ACCEPTED;
  after->divert_of[0] = '\0';
  cm__event_fill(e, &op->ev, CM_EV_ACCEPTED, after, op->worker, CM_REQ_OFFERED,
                 CM_REQ_ACCEPTED, &after->terms[idx]);
  cm__change_init(&p->ch[1], r, &op->view, after, &op->ev, 1);
  cm__change_worker(&p->ch[1], op->worker,
                    (cm__worker_part){.accept_delta = 1});
}

/* The pair p proposed (an _async accept on a ledger that proposes; p the
 * op's from here): the answer comes in the completion. */
static cm_status propose_pair(cm_engine *e, cm__op *op, cm__op_pair *p,
                              cm_error *err) {
  op->pair = p;
  op->apply = pair_apply;
  op->refused = pair_refused;
  cm_status st = cm__op_commit_pair(e, op, err);
  if (st != CM_OK) { /* not proposed: the op is not a pair any more */
    free(op->pair);
    op->pair = NULL;
  }
  return st;
}

/* The pair p committed synchronously. */
static cm_status commit_pair(cm_engine *e, cm__op *op, cm__req *j,
                             cm__op_pair *p, cm_error *err) {
  cm_status st = cm__commit_many(e, p->ch, 2, p->res, err);
  if (st != CM_OK)
    return st; /* resync set: the ledger is asked again */
  if (p->res[0].refusal != CM_LEDGER_OK || p->res[1].refusal != CM_LEDGER_OK) {
    cm__req_refresh(e, p->other);
    cm__req_refresh(e, op->id);
    return cm_error_set(err, CM_E_CONFLICT, "$.worker",
                        "$.worker: the job '%s' is on her way to, or the "
                        "offer, changed in the ledger; nothing was changed",
                        op->worker);
  }
  apply_both(e, j, &p->other_after, &p->other_ev, op);
  return CM_OK;
}

cm_status cm__divert_accept(cm_engine *e, cm__op *op, cm__req *r, int idx,
                            cm_error *err) {
  cm__req *j = cm__req_find(e, r->divert_of);
  if (j && (j->in_batch || cm__op_find(e, j->spec.id)))
    return cm_error_set(err, CM_E_UNAVAILABLE, "$.request",
                        "$.request: a change of the diverted job is in "
                        "flight; retry");
  if (!j || j->version != r->divert_version ||
      (!takeable(e, j, 0) && !takeable(e, j, 1)) ||
      strcmp(j->workers[0], op->worker))
    return cm_error_set(err, CM_E_CONFLICT, "$.worker",
                        "$.worker: '%s' no longer holds the job she was "
                        "diverted (or called away) from as it was",
                        op->worker);
  cm__op_pair *p = calloc(1, sizeof *p);
  if (!p)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  pair_build(e, op, r, idx, j, p);
  if (op->async && e->cfg.ledger->type->propose)
    return propose_pair(e, op, p, err);
  cm_status st = commit_pair(e, op, j, p, err);
  free(p);
  return st;
}
