/* engine_ledger.c -- the engine's side of its ledger (ledger.h).
 *
 * Changes go out: every transition is committed before it is applied
 * (cm__commit_many; what an answer means for one change is the op's
 * settle, engine_ops.c). Records come in: a record the ledger
 * holds replaces ours when they differ (another writer changed it, or a
 * write whose answer was lost went through): cm__req_adopt. Following the
 * other writers and rebuilding from the ledger is engine_sync.c's. */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* r's fields from a view (r keeps its slot). */
static void req_from_view(cm__req *r, const cm_request_view *v,
                          int64_t now_ms) {
  int slot = r->slot;
  unsigned gen = r->gen;
  memset(r, 0, sizeof *r);
  r->spec = v->spec;
  r->state = v->state;
  r->created_ms = v->created_ms;
  r->release_ms = v->release_ms;
  r->offered_ms = v->offered_ms;
  r->expires_ms = v->expires_ms;
  r->finished_ms = v->finished_ms;
  r->arrived_ms = v->arrived_ms;
  r->ready_ms = v->ready_ms;
  r->offered_once = v->offered_ms != 0;
  r->released = v->release_ms <= now_ms;
  r->n_workers = v->n_workers;
  memcpy(r->workers, v->workers, sizeof r->workers);
  memcpy(r->accepted, v->accepted, sizeof r->accepted);
  memcpy(r->terms, v->terms, sizeof r->terms);
  r->n_rejected = v->n_rejected;
  memcpy(r->rejected, v->rejected, sizeof r->rejected);
  r->has_reason = v->has_reason;
  r->reason = v->reason;
  r->batches = v->batches;
  r->version = v->version;
  memcpy(r->hold_worker, v->hold_worker, sizeof r->hold_worker);
  r->hold_worker[CM_ID_MAX - 1] = '\0';
  r->hold_until_ms = v->hold_until_ms;
  r->dismissed = v->dismissed;
  memcpy(r->pinned, v->pinned, sizeof r->pinned);
  memcpy(r->divert_of, v->divert_of, sizeof r->divert_of); /* diversion */
  r->divert_of[CM_ID_MAX - 1] = '\0';
  r->divert_version = v->divert_version;
  r->divert_ms = v->divert_ms;
  r->held = v->held;
  r->slot = slot;
  r->gen = gen;
}

void cm__change_init(cm_ledger_change *ch, const cm__req *r,
                     cm_request_view *after_view, cm__req *after,
                     const cm_event *events, int n_events) {
  after->version = r->version + 1;
  memset(ch, 0, sizeof *ch);
  cm__view_of(after, after_view);
  ch->after = after_view;
  ch->expect_version = r->version;
  ch->events = events;
  ch->n_events = n_events;
}

void cm__change_worker(cm_ledger_change *ch, const char *id,
                       cm__worker_part part) {
  if (ch->n_workers >= CM_MAX_STAFF)
    return;
  cm_ledger_worker *w = &ch->workers[ch->n_workers++];
  memset(w, 0, sizeof *w);
  memcpy(w->id, id, strnlen(id, CM_ID_MAX - 1));
  w->take = part.take;
  w->give = part.give;
  w->accept_delta = part.accept_delta;
  w->done = part.done;
  w->elder = part.elder;
}

cm_status cm__commit_many(cm_engine *e, const cm_ledger_change *ch, int n,
                          cm_ledger_result *res, cm_error *err) {
  cm_ledger *l = e->cfg.ledger;
  memset(res, 0, (size_t)n * sizeof *res);
  if (!l || n == 0)
    return CM_OK;
  cm_status st = l->type->commit(l, ch, n, res, err);
  if (st != CM_OK)
    e->resync = 1; /* some may have gone through: ask the ledger */
  return st;
}

/* Hold the jobs r's workers have (local counts and the mirror). */
static void hold_workers(cm_engine *e, const cm__req *r) {
  for (int i = 0; i < r->n_workers; i++) {
    cm__wrk *w = cm__wrk_find(e, r->workers[i]);
    if (!w)
      continue;
    w->jobs++;
    w->accepted += r->accepted[i];
    cm__wrk_sync(e, w);
  }
}

static int finished(cm_request_state s) {
  return s == CM_REQ_DONE || s == CM_REQ_CANCELLED || s == CM_REQ_DISMISSED;
}

int cm__req_adopt(cm_engine *e, const cm_request_view *v) {
  cm__req *r = cm__req_find(e, v->spec.id);
  if (!r) {
    if (!(r = calloc(1, sizeof *r)))
      return -1;
    req_from_view(r, v, e->now_ms);
    r->gen = e->gen;
    if (cm__req_insert(e, r) != 0) {
      free(r);
      return -1;
    }
    if (!finished(r->state))
      hold_workers(e, r);
    if (r->state == CM_REQ_PENDING && r->released)
      cm__schedule_batch(e, e->now_ms);
    return 0;
  }
  r->gen = e->gen;
  if (r->version == v->version && r->state == v->state)
    return 0;
  e->stats.adopted++;
  cm__req tmp;
  tmp.slot = r->slot;
  tmp.gen = r->gen;
  req_from_view(&tmp, v, e->now_ms);
  if (finished(r->state)) { /* history: the ledger's account wins */
    if (finished(v->state))
      cm__req_replace(e, r, &tmp);
    return 0;
  }
  cm__req_release_workers(e, r);
  cm__req_replace(e, r, &tmp);
  if (finished(r->state)) {
    cm__req_finish(e, r);
    return 0;
  }
  hold_workers(e, r);
  if (r->state == CM_REQ_PENDING && r->released)
    cm__schedule_batch(e, e->now_ms);
  return 0;
}

void cm__req_refresh(cm_engine *e, const char *id) {
  cm_ledger *l = e->cfg.ledger;
  cm_request_view *v = malloc(sizeof *v);
  if (!l || !v) {
    free(v);
    return;
  }
  cm_status st = l->type->get(l, id, v, NULL);
  if (st == CM_OK) {
    if (cm__req_adopt(e, v) != 0)
      e->resync = 1;
  } else if (st != CM_E_UNKNOWN_ID) {
    e->resync = 1;
  }
  free(v);
}

void cm_engine_resync(cm_engine *e) {
  if (e && e->cfg.ledger)
    e->resync = 1;
}
