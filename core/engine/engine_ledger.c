/* engine_ledger.c -- the engine's side of its ledger (ledger.h).
 *
 * Changes go out: every transition is committed before it is applied
 * (cm__commit_one / cm__commit_many). Records come in: a record the ledger
 * holds replaces ours when they differ (another writer changed it, or a
 * write whose answer was lost went through): cm__req_adopt. The engine
 * follows the workers other writers change (cm_engine_sync) and rebuilds
 * everything from the ledger when it lost track: at the first sync
 * (recovery at start), after a failed write, after a reconnect. */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

void cm__view_of(const cm__req *r, cm_request_view *out) {
  memset(out, 0, sizeof *out);
  out->spec = r->spec;
  out->state = r->state;
  out->created_ms = r->created_ms;
  out->release_ms = r->release_ms;
  out->offered_ms = r->offered_ms;
  out->expires_ms = r->expires_ms;
  out->finished_ms = r->finished_ms;
  /* only the entries in use: what is left beyond them is not state */
  out->n_workers = r->n_workers;
  memcpy(out->workers, r->workers, (size_t)r->n_workers * CM_ID_MAX);
  memcpy(out->accepted, r->accepted, (size_t)r->n_workers * sizeof(int));
  memcpy(out->terms, r->terms, (size_t)r->n_workers * sizeof(cm_cost_terms));
  out->n_rejected = r->n_rejected;
  memcpy(out->rejected, r->rejected, (size_t)r->n_rejected * CM_ID_MAX);
  out->has_reason = r->has_reason;
  out->reason = r->reason;
  out->batches = r->batches;
  out->ready_ms = r->ready_ms;
  out->version = r->version;
}

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

cm_status cm__commit_one(cm_engine *e, cm__req *r, const cm_ledger_change *ch,
                         cm_error *err) {
  cm_ledger_result res;
  cm_status st = cm__commit_many(e, ch, 1, &res, err);
  if (st != CM_OK)
    return st;
  if (res.refusal == CM_LEDGER_VERSION) {
    char id[CM_ID_MAX];
    memcpy(id, r->spec.id, sizeof id);
    if (ch->expect_version != 0)
      cm__req_refresh(e, id);
    return cm_error_set(err, CM_E_CONFLICT, "$.request",
                        "$.request: '%s' was changed by another writer; "
                        "the engine now has the ledger's state",
                        id);
  }
  if (res.refusal == CM_LEDGER_WORKER)
    return cm_error_set(err, CM_E_CONFLICT, "$.worker",
                        "$.worker: '%s' is unknown, off shift or full in "
                        "the ledger",
                        ch->workers[res.worker].id);
  return CM_OK;
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
  return s == CM_REQ_DONE || s == CM_REQ_CANCELLED;
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

/* ---- following other writers ---- */

typedef struct follow_ctx {
  cm_engine *e;
  char (*off)[CM_ID_MAX]; /* workers that went off shift */
  int n_off, cap_off;
  int oom;
} follow_ctx;

static void went_off(follow_ctx *c, const char *id) {
  if (c->n_off == c->cap_off) {
    int cap = c->cap_off ? 2 * c->cap_off : 16;
    char(*p)[CM_ID_MAX] = realloc(c->off, (size_t)cap * sizeof *p);
    if (!p) {
      c->oom = 1;
      return;
    }
    c->off = p;
    c->cap_off = cap;
  }
  memset(c->off[c->n_off], 0, CM_ID_MAX);
  memcpy(c->off[c->n_off++], id, strnlen(id, CM_ID_MAX - 1));
}

/* A worker as the ledger has it, into the mirror and our record. The
 * mirror gets the stricter of the ledger's status (which counts every
 * engine's jobs) and ours. */
static void take_worker(follow_ctx *c, const cm_worker *w, int track_off) {
  cm_engine *e = c->e;
  cm__wrk *rec = cm__wrk_get(e, w->id);
  if (!rec) {
    c->oom = 1;
    return;
  }
  int was_on = rec->on_shift;
  rec->on_shift = w->status != CM_WORKER_OFFLINE;
  rec->capacity = w->capacity;
  rec->gen = e->gen;
  cm_worker copy = *w;
  cm_worker_status mine = cm__wrk_effective(rec);
  if (mine > copy.status)
    copy.status = mine;
  if (cm_store_upsert(e->store, &copy, NULL) != CM_OK)
    c->oom = 1;
  if (track_off && was_on && !rec->on_shift)
    went_off(c, w->id);
}

static void on_change(void *ctx, const char *id, const cm_worker *w) {
  follow_ctx *c = ctx;
  if (w) {
    take_worker(c, w, 1);
    return;
  }
  cm__wrk *rec = cm__wrk_find(c->e, id);
  cm_store_remove(c->e->store, id, NULL);
  if (rec && rec->on_shift) {
    rec->on_shift = 0;
    went_off(c, id);
  }
}

static void on_worker(void *ctx, const cm_worker *w) {
  take_worker(ctx, w, 0);
}

static void on_live(void *ctx, const cm_request_view *v) {
  follow_ctx *c = ctx;
  if (cm__req_adopt(c->e, v) != 0)
    c->oom = 1;
}

/* Our live requests the ledger did not list: finished elsewhere (adopt
 * the record), or lost by the ledger (a crash between an acknowledged
 * write and its fsync): written back, pending. Returns CM_OK or the
 * ledger's error. */
static cm_status settle_unlisted(cm_engine *e, cm_error *err) {
  cm_ledger *l = e->cfg.ledger;
  cm_request_view *v = malloc(sizeof *v);
  if (!v)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  cm_status st = CM_OK;
  for (int i = 0; i < e->n_live && st == CM_OK; i++) {
    cm__req *r = e->live[i];
    if (r->gen == e->gen)
      continue;
    st = l->type->get(l, r->spec.id, v, err);
    if (st == CM_OK) {
      r->gen = e->gen;
      if (cm__req_adopt(e, v) != 0)
        st = cm_error_set(err, CM_E_NOMEM, "", NULL);
      i--; /* adopting may have moved it out of live[] */
      continue;
    }
    if (st != CM_E_UNKNOWN_ID)
      break;
    cm_error_clear(err);
    cm__req_release_workers(e, r);
    cm__req after = *r;
    after.state = CM_REQ_PENDING;
    after.expires_ms = 0;
    cm__req_replace(e, r, &after);
    cm__view_of(r, v);
    cm_ledger_change ch;
    memset(&ch, 0, sizeof ch);
    ch.after = v;
    cm_ledger_result res;
    st = l->type->commit(l, &ch, 1, &res, err);
    r->gen = e->gen;
  }
  free(v);
  return st;
}

/* Every worker's jobs counted again from the live requests. */
static void recount_jobs(cm_engine *e) {
  for (int i = 0; i < e->n_workers; i++)
    e->workers[i]->jobs = e->workers[i]->accepted = 0;
  for (int i = 0; i < e->n_live; i++) {
    const cm__req *r = e->live[i];
    for (int k = 0; k < r->n_workers; k++) {
      cm__wrk *w = cm__wrk_find(e, r->workers[k]);
      if (w) {
        w->jobs++;
        w->accepted += r->accepted[k];
      }
    }
  }
  for (int i = 0; i < e->n_workers; i++)
    cm__wrk_sync(e, e->workers[i]);
}

/* Recovery: requests, workers and the mirror from the ledger. */
static cm_status rebuild(cm_engine *e, cm_error *err) {
  cm_ledger *l = e->cfg.ledger;
  follow_ctx c = {e, NULL, 0, 0, 0};
  /* mark first: what changes while we read is followed next time */
  cm_status st = l->type->follow_start(l, err);
  if (st != CM_OK)
    return st;
  e->gen++;
  if ((st = l->type->each_worker(l, on_worker, &c, err)) != CM_OK)
    goto out;
  for (int i = 0; i < e->n_workers; i++) {
    cm__wrk *w = e->workers[i];
    if (w->gen != e->gen) { /* gone from the ledger */
      cm_store_remove(e->store, w->id, NULL);
      w->on_shift = 0;
      w->capacity = 0;
    }
  }
  if ((st = l->type->each_live(l, on_live, &c, err)) != CM_OK)
    goto out;
  if (c.oom) {
    st = cm_error_set(err, CM_E_NOMEM, "", NULL);
    goto out;
  }
  if ((st = settle_unlisted(e, err)) != CM_OK)
    goto out;
  recount_jobs(e);
  e->resync = 0;
  e->stats.rebuilds++;
out:
  free(c.off);
  return st;
}

cm_status cm_engine_sync(cm_engine *e, int64_t now_ms, cm_error *err) {
  cm_ledger *l = e->cfg.ledger;
  if (!l)
    return CM_OK;
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  if (e->resync)
    return rebuild(e, err);
  follow_ctx c = {e, NULL, 0, 0, 0};
  int lost = 0;
  cm_status st = l->type->follow(l, on_change, &c, &lost, err);
  if (st == CM_OK && c.oom)
    st = cm_error_set(err, CM_E_NOMEM, "", NULL);
  if (st == CM_OK && !lost)
    for (int i = 0; i < c.n_off; i++)
      cm__withdraw_offers(e, c.off[i], e->now_ms);
  free(c.off);
  if (st != CM_OK || lost) {
    e->resync = 1;
    if (st != CM_OK)
      return st;
    return rebuild(e, err);
  }
  return CM_OK;
}
