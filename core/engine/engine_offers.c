/* engine_offers.c -- a batch's offers: planned from the solver's answer
 * (an offer whose request changed or whose workers filled up meanwhile is
 * left out), committed together to the ledger and applied when it took
 * them. Synchronously (cm_engine_batch_end), or proposed with a
 * completion (cm_engine_batch_end_async, docs/async.md): then, until the
 * completion, each offered request is held (in_batch: no batch takes it,
 * a call on it waits behind, engine_ops.c) and each taking worker's job
 * is counted (planned), so no later offer overfills it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "engine_internal.h"

/* One offer of a batch, worked out before anything is committed. */
typedef struct offer_plan {
  char id[CM_ID_MAX]; /* the request */
  uint64_t version;   /* its version when planned */
  cm__req after;      /* its record once offered (accepted with auto_accept) */
  cm_event ev[2 * CM_MAX_STAFF];
  int n_ev;
  cm_request_view view; /* after, for the ledger */
} offer_plan;

/* A batch's offers in flight (proposed). */
struct cm__offers {
  struct cm__offers *next; /* the engine's others in flight */
  cm_engine *e;            /* NULL once the engine was freed */
  offer_plan *plans;
  cm_ledger_change *ch;
  int m;
  int64_t now_ms;
  cm_engine_done_fn done;
  void *ctx;
  int starting; /* inside cm_ledger_propose */
  int answered; /* its completion ran while starting */
  cm_status st; /* the ledger's answer */
  cm_ledger_result *res;
  cm_error err;
};

static void plan_offer(const cm_engine *e, offer_plan *p, cm__req *r,
                       const cm_instance *inst, const cm_assignment *a, int n,
                       int64_t now_ms, cm_ledger_change *ch) {
  int auto_accept = e->cfg.auto_accept != 0;
  cm__req *after = &p->after;
  memcpy(p->id, r->spec.id, sizeof p->id);
  p->version = r->version;
  *after = *r;
  after->n_workers = n;
  for (int i = 0; i < n; i++) {
    const cm_worker *w = &inst->workers[a[i].worker];
    memset(after->workers[i], 0, CM_ID_MAX);
    memcpy(after->workers[i], w->id, strnlen(w->id, CM_ID_MAX - 1));
    after->accepted[i] = auto_accept;
    after->terms[i] = a[i].terms;
  }
  after->state = auto_accept ? CM_REQ_ACCEPTED : CM_REQ_OFFERED;
  after->offered_ms = now_ms;
  after->expires_ms = now_ms + e->cfg.offer_ttl_ms;
  after->has_reason = 0;
  p->n_ev = 0;
  for (int i = 0; i < n; i++) /* one event per member; one transition */
    cm__event_fill(e, &p->ev[p->n_ev++], CM_EV_OFFERED, after,
                   after->workers[i], i == 0 ? CM_REQ_PENDING : CM_REQ_OFFERED,
                   CM_REQ_OFFERED, &after->terms[i]);
  for (int i = 0; auto_accept && i < n; i++)
    cm__event_fill(e, &p->ev[p->n_ev++], CM_EV_ACCEPTED, after,
                   after->workers[i], CM_REQ_OFFERED,
                   i == n - 1 ? CM_REQ_ACCEPTED : CM_REQ_OFFERED,
                   &after->terms[i]);
  cm__change_init(ch, r, &p->view, after, p->ev, p->n_ev);
  /* r's create in flight (not in the engine yet): the offer goes behind
     it and must find the record this writer created (engine_ops.c) */
  ch->expect_own = cm__req_find(e, r->spec.id) != r;
  for (int i = 0; i < n; i++)
    cm__change_worker(
        ch, after->workers[i],
        (cm__worker_part){.take = 1, .accept_delta = auto_accept});
}

static void apply_offer(cm_engine *e, offer_plan *p, cm__req *r,
                        int64_t now_ms) {
  const cm__req *after = &p->after;
  for (int i = 0; i < after->n_workers; i++) {
    cm__wrk *rec = cm__wrk_find(e, after->workers[i]);
    if (!rec)
      continue;
    rec->jobs++;
    rec->accepted += after->accepted[i];
    cm__wrk_sync(e, rec);
  }
  int first = !r->offered_once;
  cm__req_replace(e, r, after);
  e->stats.offers += (uint64_t)after->n_workers;
  if (first) {
    r->offered_once = 1;
    cm_histogram_add(&e->stats.offer_latency[r->spec.urgency],
                     (double)(now_ms - r->ready_ms));
  }
  for (int i = 0; i < p->n_ev; i++)
    cm__event_push(e, &p->ev[i]);
}

/* Whether every worker of an offer still has room (on shift, jobs plus
 * those planned, in this commit or in flight, below capacity); if so,
 * counts them as planned. Workers the engine does not know are the
 * store's affair. */
static int have_room(cm_engine *e, const cm_instance *inst,
                     const cm_assignment *a, int n) {
  for (int i = 0; i < n; i++) {
    const cm__wrk *w = cm__wrk_find(e, inst->workers[a[i].worker].id);
    if (w && (!w->on_shift || w->jobs + w->planned >= w->capacity))
      return 0;
  }
  for (int i = 0; i < n; i++) {
    cm__wrk *w = cm__wrk_find(e, inst->workers[a[i].worker].id);
    if (w)
      w->planned++;
  }
  return 1;
}

/* The takes of plans[0..m) are no longer planned. */
static void unplan(cm_engine *e, const offer_plan *plans, int m) {
  for (int k = 0; k < m; k++)
    for (int i = 0; i < plans[k].after.n_workers; i++) {
      cm__wrk *w = cm__wrk_find(e, plans[k].after.workers[i]);
      if (w && w->planned > 0)
        w->planned--;
    }
}

/* Apply the ledger's results for plans[0..m) (the commit worked); the
 * records refused or adopted meanwhile are read again (asynchronously
 * from a proposal's completion: async). */
static void apply_results(cm_engine *e, offer_plan *plans,
                          const cm_ledger_change *ch,
                          const cm_ledger_result *res, int m, int64_t now_ms,
                          int async) {
  void (*refresh)(cm_engine *, const char *) =
      async ? cm__op_refresh : cm__req_refresh;
  for (int k = 0; k < m; k++) {
    cm__req *r = cm__req_find(e, plans[k].id);
    if (res[k].refusal == CM_LEDGER_OK) {
      if (r && r->version == plans[k].version)
        apply_offer(e, &plans[k], r, now_ms);
      else /* adopted meanwhile: the ledger's record is the truth */
        refresh(e, plans[k].id);
    } else if (res[k].refusal == CM_LEDGER_VERSION ||
               res[k].refusal == CM_LEDGER_FENCED) { /* fenced: another
                  daemon holds the region's lease (docs/ha.md) */
      refresh(e, plans[k].id);
    } else { /* full or off shift elsewhere: out of the mirror until the
                ledger reports the worker again */
      e->stats.refused++;
      const char *who = ch[k].workers[res[k].worker].id;
      cm_store_status(e->store, who, CM_WORKER_OFFERED, NULL);
    }
  }
}

/* Plan the answer's offers into plans / ch. Returns how many. */
static int plan_all(cm_engine *e, const cm_instance *inst, const cm_answer *ans,
                    cm__req **reqs, int64_t now_ms, offer_plan *plans,
                    cm_ledger_change *ch) {
  /* assignments come grouped by request, in request order; an offer whose
     request changed or whose workers filled up while the batch was solved
     is left out (the request stays pending) */
  int planned = 0;
  for (int a = 0; a < ans->n_assignments;) {
    int q = ans->assignments[a].request, n = 1;
    while (a + n < ans->n_assignments && ans->assignments[a + n].request == q)
      n++;
    if (reqs[q] && have_room(e, inst, &ans->assignments[a], n)) {
      plan_offer(e, &plans[planned], reqs[q], inst, &ans->assignments[a], n,
                 now_ms, &ch[planned]);
      planned++;
    } else if (reqs[q]) {
      e->left_out++; /* its worker filled up: the next batch at once */
    }
    a += n;
  }
  return planned;
}

static void offers_free(struct cm__offers *o) {
  free(o->plans);
  free(o->ch);
  free(o->res);
  free(o);
}

static void offers_unlink(cm_engine *e, struct cm__offers *o) {
  for (struct cm__offers **p = &e->offers; *p; p = &(*p)->next)
    if (*p == o) {
      *p = o->next;
      return;
    }
}

/* The proposal's answer is in: apply it, release the requests (starting
 * the calls that waited on them), tell the caller. */
static void offers_settle(cm_engine *e, struct cm__offers *o) {
  offers_unlink(e, o);
  e->n_flight--;
  unplan(e, o->plans, o->m);
  for (int k = 0; k < o->m; k++) {
    cm__req *r = cm__op_record(e, o->plans[k].id);
    if (r)
      r->in_batch = 0;
  }
  if (o->st == CM_OK) {
    apply_results(e, o->plans, o->ch, o->res, o->m, o->now_ms, 1);
  } else {
    e->resync = 1; /* some may have gone through: ask the ledger */
  }
  /* a worker that went off shift while its offer was in flight: the
     offer goes back (as cm_engine_worker_shift would have done) */
  for (int k = 0; o->st == CM_OK && k < o->m; k++)
    for (int i = 0; i < o->plans[k].after.n_workers; i++) {
      const cm__wrk *w = cm__wrk_find(e, o->plans[k].after.workers[i]);
      if (w && !w->on_shift && o->res[k].refusal == CM_LEDGER_OK)
        cm__withdraw_offers(e, w->id, e->now_ms);
    }
  int again = o->st != CM_OK; /* an offer refused or lost: its request
                                 waits for a batch again */
  for (int k = 0; !again && k < o->m; k++)
    again = o->res[k].refusal != CM_LEDGER_OK;
  if (again)
    cm__schedule_batch(e, o->now_ms + e->cfg.batch_window_ms);
  for (int k = 0; k < o->m; k++)
    cm__op_release(e, o->plans[k].id);
  cm_error ok;
  cm_error_clear(&ok);
  if (o->done)
    o->done(o->ctx, o->st, o->st == CM_OK ? &ok : &o->err);
  offers_free(o);
}

static void on_answer(void *ctx, cm_status st, const cm_ledger_result *res,
                      int n, const cm_error *err) {
  struct cm__offers *o = ctx;
  o->st = st;
  if (st == CM_OK && res)
    memcpy(o->res, res, (size_t)n * sizeof *res);
  if (err)
    o->err = *err;
  else
    cm_error_set(&o->err, st, "", NULL);
  if (!o->e) { /* the engine was freed meanwhile: already told */
    offers_free(o);
    return;
  }
  if (o->starting) {
    o->answered = 1;
    return;
  }
  offers_settle(o->e, o);
}

/* Tell every batch's offers in flight that the engine is gone; their
 * memory goes with their completion. */
static void offers_abandon(cm_engine *e) {
  cm_error err;
  cm_error_set(&err, CM_E_UNAVAILABLE, "", "the engine was shut down");
  while (e->offers) {
    struct cm__offers *o = e->offers;
    e->offers = o->next;
    if (o->done)
      o->done(o->ctx, CM_E_UNAVAILABLE, &err);
    o->done = NULL;
    o->e = NULL;
  }
}

/* Propose plans[0..m) (owned by o from here). */
static cm_status propose(cm_engine *e, struct cm__offers *o, cm_error *err) {
  for (int k = 0; k < o->m; k++) {
    cm__req *r = cm__op_record(e, o->plans[k].id);
    if (r)
      r->in_batch = 1;
  }
  o->e = e;
  o->next = e->offers;
  e->offers = o;
  e->n_flight++;
  e->abandon_offers = offers_abandon;
  o->starting = 1;
  cm_status st =
      cm_ledger_propose(e->cfg.ledger, o->ch, o->m, on_answer, o, err);
  o->starting = 0;
  if (st != CM_OK) { /* not taken: as if nothing was planned */
    offers_unlink(e, o);
    e->n_flight--;
    unplan(e, o->plans, o->m);
    for (int k = 0; k < o->m; k++) {
      cm__req *r = cm__op_record(e, o->plans[k].id);
      if (r)
        r->in_batch = 0;
    }
    for (int k = 0; k < o->m; k++)
      cm__op_release(e, o->plans[k].id);
    offers_free(o);
    return st;
  }
  if (o->answered)
    offers_settle(e, o);
  return CM_OK;
}

cm_status cm__offers_commit(cm_engine *e, const cm_instance *inst,
                            const cm_answer *ans, cm__req **reqs,
                            int64_t now_ms, cm_engine_done_fn done, void *ctx,
                            cm_error *err) {
  int m = 0;
  for (int a = 0; a < ans->n_assignments; a++)
    m += a == 0 ||
         ans->assignments[a].request != ans->assignments[a - 1].request;
  cm_ledger *l = e->cfg.ledger;
  int async = done && l && l->type->propose && m > 0;
  struct cm__offers *o = async ? calloc(1, sizeof *o) : NULL;
  offer_plan *plans = cm__malloc_array(m, sizeof *plans);
  cm_ledger_change *ch = cm__malloc_array(m, sizeof *ch);
  cm_ledger_result *res = cm__calloc_array(m, sizeof *res);
  cm_status st = CM_OK;
  if (!plans || !ch || !res || (async && !o)) {
    free(o);
    st = cm_error_set(err, CM_E_NOMEM, "", NULL);
    goto out;
  }
  m = plan_all(e, inst, ans, reqs, now_ms, plans, ch);
  if (async && m > 0) {
    *o = (struct cm__offers){.plans = plans,
                             .ch = ch,
                             .res = res,
                             .m = m,
                             .now_ms = now_ms,
                             .done = done,
                             .ctx = ctx};
    return propose(e, o, err);
  }
  free(o);
  unplan(e, plans, m);
  if ((st = cm__commit_many(e, ch, m, res, err)) != CM_OK)
    goto out;
  apply_results(e, plans, ch, res, m, now_ms, 0);
  if (done) { /* nothing in flight: told at once */
    cm_error ok;
    cm_error_clear(&ok);
    done(ctx, CM_OK, &ok);
  }
out:
  free(plans);
  free(ch);
  free(res);
  return st;
}
