/* engine_lifecycle.c -- what happens to a request after submission: the
 * offered worker accepts or refuses, the offer lapses or is withdrawn, the
 * request is cancelled or completed.
 *
 * Each transition is worked out on a copy of the record, committed to the
 * ledger (when there is one: cm__commit_one) and applied to the engine
 * only when the ledger took it, so a refused or failed write changes
 * nothing here. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

static cm__req *find_live(cm_engine *e, const char *id, cm_error *err) {
  cm__req *r = id ? cm__req_find(e, id) : NULL;
  if (!r)
    cm_error_set(err, CM_E_UNKNOWN_ID, "$.request",
                 "$.request: no request '%s'", id ? id : "");
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

cm_status cm__req_requeue(cm_engine *e, cm__req *r, const char *worker,
                          cm_event_type why, int64_t now_ms, cm_error *err) {
  cm__req after = *r;
  clear_workers(&after);
  if (worker && why != CM_EV_WITHDRAWN) {
    int n = after.n_rejected < CM_MAX_REJECTS ? after.n_rejected++
                                              : CM_MAX_REJECTS - 1;
    memset(after.rejected[n], 0, CM_ID_MAX);
    memcpy(after.rejected[n], worker, strnlen(worker, CM_ID_MAX - 1));
  }
  after.state = CM_REQ_PENDING;
  after.expires_ms = 0;
  after.has_reason = 0;
  cm_event ev;
  cm__event_fill(e, &ev, why, &after, worker, r->state, CM_REQ_PENDING, NULL);
  cm_request_view v;
  cm_ledger_change ch;
  cm__change_init(&ch, r, &v, &after, &ev, 1);
  give_back(&ch, r, 0, 0);
  cm_status st = cm__commit_one(e, r, &ch, err);
  if (st != CM_OK)
    return st;
  cm__req_release_workers(e, r);
  cm__req_replace(e, r, &after);
  cm__event_push(e, &ev);
  cm__schedule_batch(e, r->spec.urgency == CM_URGENCY_EMERGENCY
                            ? now_ms
                            : now_ms + e->cfg.batch_window_ms);
  return CM_OK;
}

/* Cancel or complete r (its workers give their jobs back). */
static cm_status finish(cm_engine *e, cm__req *r, cm_request_state to,
                        cm_event_type why, int64_t now_ms, cm_error *err) {
  uint64_t elder = r->spec.elder[0] ? cm_id_hash(r->spec.elder) : 0;
  int done = to == CM_REQ_DONE;
  cm__req after = *r;
  clear_workers(&after);
  after.state = to;
  after.finished_ms = now_ms;
  cm_event ev;
  cm__event_fill(e, &ev, why, &after, NULL, r->state, to, NULL);
  cm_request_view v;
  cm_ledger_change ch;
  cm__change_init(&ch, r, &v, &after, &ev, 1);
  give_back(&ch, r, done, elder);
  cm_status st = cm__commit_one(e, r, &ch, err);
  if (st != CM_OK)
    return st;
  /* workload and continuity for the next batches (the ledger did the
     same to its own copy in the commit) */
  for (int i = 0; done && i < r->n_workers; i++) {
    cm_worker w;
    if (cm_store_get(e->store, r->workers[i], &w, NULL) != CM_OK)
      continue;
    cm__worker_served(&w, elder);
    cm_store_upsert(e->store, &w, NULL);
  }
  cm__req_release_workers(e, r);
  cm__req_replace(e, r, &after);
  cm__req_finish(e, r);
  cm__event_push(e, &ev);
  return CM_OK;
}

cm_status cm_engine_cancel(cm_engine *e, const char *request_id, int64_t now_ms,
                           cm_error *err) {
  cm__req *r = find_live(e, request_id, err);
  if (!r)
    return CM_E_UNKNOWN_ID;
  if (r->state == CM_REQ_CANCELLED)
    return CM_OK;
  if (r->state == CM_REQ_DONE)
    return cm_error_set(err, CM_E_CONFLICT, "$.request",
                        "$.request: '%s' is already done", request_id);
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  return finish(e, r, CM_REQ_CANCELLED, CM_EV_CANCELLED, now_ms, err);
}

/* The open offer of request_id to worker: *r and *idx, or the error
 * (unknown request or worker; no open offer to that worker). Moves the
 * engine's clock to now_ms on success. */
static cm_status open_offer(cm_engine *e, const char *request_id,
                            const char *worker, int64_t now_ms, cm__req **r,
                            int *idx, cm_error *err) {
  if (!(*r = find_live(e, request_id, err)))
    return CM_E_UNKNOWN_ID;
  if (!worker || !cm__wrk_find(e, worker))
    return cm_error_set(err, CM_E_UNKNOWN_ID, "$.worker",
                        "$.worker: no worker '%s'", worker ? worker : "");
  *idx = (*r)->state == CM_REQ_OFFERED ? offer_index(*r, worker) : -1;
  if (*idx < 0 || (*r)->accepted[*idx])
    return cm_error_set(err, CM_E_CONFLICT, "$.worker",
                        "$.worker: request '%s' has no open offer to '%s'",
                        (*r)->spec.id, worker);
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  return CM_OK;
}

cm_status cm_engine_accept(cm_engine *e, const char *request_id,
                           const char *worker_id, int64_t now_ms,
                           cm_error *err) {
  cm__req *r;
  int idx = 0;
  cm_status st = open_offer(e, request_id, worker_id, now_ms, &r, &idx, err);
  if (st != CM_OK)
    return st;
  cm__req after = *r;
  after.accepted[idx] = 1;
  int all = 1;
  for (int i = 0; i < after.n_workers; i++)
    all &= after.accepted[i];
  if (all)
    after.state = CM_REQ_ACCEPTED;
  cm_event ev;
  cm__event_fill(e, &ev, CM_EV_ACCEPTED, &after, worker_id, CM_REQ_OFFERED,
                 after.state, &after.terms[idx]);
  cm_request_view v;
  cm_ledger_change ch;
  cm__change_init(&ch, r, &v, &after, &ev, 1);
  cm__change_worker(&ch, worker_id, (cm__worker_part){.accept_delta = 1});
  if ((st = cm__commit_one(e, r, &ch, err)) != CM_OK)
    return st;
  cm__wrk *w = cm__wrk_find(e, worker_id);
  w->accepted++;
  cm__wrk_sync(e, w);
  cm__req_replace(e, r, &after);
  cm__event_push(e, &ev);
  return CM_OK;
}

cm_status cm_engine_reject(cm_engine *e, const char *request_id,
                           const char *worker_id, int64_t now_ms,
                           cm_error *err) {
  cm__req *r;
  int idx = 0;
  cm_status st = open_offer(e, request_id, worker_id, now_ms, &r, &idx, err);
  if (st != CM_OK)
    return st;
  return cm__req_requeue(e, r, worker_id, CM_EV_REJECTED, now_ms, err);
}

cm_status cm_engine_complete(cm_engine *e, const char *request_id,
                             int64_t now_ms, cm_error *err) {
  cm__req *r = find_live(e, request_id, err);
  if (!r)
    return CM_E_UNKNOWN_ID;
  if (r->state != CM_REQ_ACCEPTED)
    return cm_error_set(err, CM_E_CONFLICT, "$.request",
                        "$.request: '%s' is %s, not accepted", request_id,
                        cm_request_state_name(r->state));
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  return finish(e, r, CM_REQ_DONE, CM_EV_COMPLETED, now_ms, err);
}

void cm__withdraw_offers(cm_engine *e, const char *id, int64_t now_ms) {
  for (int i = 0; i < e->n_live; i++) {
    cm__req *r = e->live[i];
    if (r->state != CM_REQ_OFFERED)
      continue;
    for (int k = 0; k < r->n_workers; k++)
      if (!r->accepted[k] && strcmp(r->workers[k], id) == 0) {
        /* a refused or failed write leaves it to the ledger's owner or
           to the resynchronisation */
        cm__req_requeue(e, r, id, CM_EV_WITHDRAWN, now_ms, NULL);
        break;
      }
  }
}
