/* engine_batch.c -- when batches run and what one does: expire offers,
 * pick the due requests (most urgent first), ask the store for their
 * nearest eligible workers, solve with cm_solve under the budget, commit
 * offers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "base/sort.h"
#include "engine_internal.h"

int64_t cm_engine_next_due(const cm_engine *e) {
  /* while a begin is paused no other regular batch begins: its window
     waits for the paused one's end (cm_engine_batch_continue) */
  int64_t batch = e->beginning ? INT64_MAX : e->next_batch_ms;
  int64_t due = batch < e->next_alone_ms ? batch : e->next_alone_ms;
  int64_t live = cm__live_due(e); /* offers, releases, holds (engine.c) */
  int64_t standby = cm__standby_next_due(e); /* engine_standby.c */
  if (live < due)
    due = live;
  return standby < due ? standby : due;
}

int64_t cm_engine_next_alone(const cm_engine *e) {
  return e->next_alone_ms;
}

static void expire_offers(cm_engine *e, int64_t now_ms) {
  for (int i = 0; i < e->n_live; i++) {
    cm__req *r = e->live[i];
    if (r->state != CM_REQ_OFFERED || r->expires_ms > now_ms)
      continue;
    const char *lapsed = NULL;
    for (int k = 0; k < r->n_workers && !lapsed; k++)
      if (!r->accepted[k])
        lapsed = r->workers[k];
    char who[CM_ID_MAX] = {0};
    if (lapsed)
      memcpy(who, lapsed, strnlen(lapsed, CM_ID_MAX - 1));
    /* a refused or failed write is settled by adoption / resynchronising */
    cm__req_requeue_soon(e, r, who[0] ? who : NULL, CM_EV_EXPIRED, now_ms);
  }
}

/* Newly released scheduled requests ask for a batch. */
static void release_due(cm_engine *e, int64_t now_ms) {
  for (int i = 0; i < e->n_live; i++) {
    cm__req *r = e->live[i];
    if (!r->released && r->release_ms <= now_ms) {
      r->released = 1;
      cm__req_due_update(e, r);
      if (r->state == CM_REQ_PENDING)
        cm__schedule_batch(e, r->release_ms);
    }
  }
}

/* The wait rule: a released request still pending (never offered, or back
 * from an offer) escalate_after_ms past its service level, counted from
 * when it became ready, is escalated once: an event for the operator, no
 * change of state. Runs with every batch, so at most a retry wait
 * (retry_max_ms) late while anything waits. */
static void escalate_waits(cm_engine *e, int64_t now_ms) {
  int64_t after = e->cfg.escalate_after_ms;
  if (after <= 0)
    return;
  for (int i = 0; i < e->n_live; i++) {
    cm__req *r = e->live[i];
    if (r->state != CM_REQ_PENDING || r->escalated || !r->released)
      continue;
    double sla_ms = e->cfg.weights.sla_target_min[r->spec.urgency] * 60000.0;
    if ((double)(now_ms - r->ready_ms) < sla_ms + (double)after)
      continue;
    cm_event ev;
    cm__event_fill(e, &ev, CM_EV_ESCALATED, r, NULL, CM_REQ_PENDING,
                   CM_REQ_PENDING, NULL);
    ev.at_ms = now_ms;
    cm__event_push(e, &ev);
    r->escalated = 1;
    e->stats.escalated++;
  }
}

typedef struct pick_ctx {
  cm__req **live;
} pick_ctx;

/* urgency, then waiting longest, then arrival */
static int by_priority(const void *vctx, int a, int b) {
  const pick_ctx *c = vctx;
  const cm__req *x = c->live[a], *y = c->live[b];
  if (x->spec.urgency != y->spec.urgency)
    return x->spec.urgency < y->spec.urgency ? -1 : 1;
  if (x->ready_ms != y->ready_ms)
    return x->ready_ms < y->ready_ms ? -1 : 1;
  if (x->created_ms != y->created_ms)
    return x->created_ms < y->created_ms ? -1 : 1;
  return strcmp(x->spec.id, y->spec.id);
}

struct cm_engine_batch {
  cm__req **reqs; /* the batch, in priority order (NULL at the end when the
                     request changed while the batch was solved) */
  char (*ids)[CM_ID_MAX]; /* their ids and versions when taken */
  uint64_t *versions;
  int n;
  cm_store_query *queries;
  const char **excl; /* n * (CM_MAX_PREFS + CM_MAX_REJECTS) */
  cm_store_hit *hits;
  int *counts;
  int k_max;
  cm_instance *inst;
  int *req_of; /* instance request -> batch index */
  cm_answer ans;
  int have_answer;
  cm_solve_options opts;   /* the budget and the clock */
  double t0, t1;           /* begun, candidates done (solver clock, ms) */
  cm_status solved;        /* cm_engine_batch_solve's result */
  unsigned char *reserved; /* per request: the reserve took all its edges */
  int n_free;              /* instance workers below this are free; the
                              rest are busy (the look-ahead's) */
  int n_look;              /* below this, above n_free: the look-ahead's;
                              the rest are on their way (engine_divert.c) */
  cm__pair *now;           /* look-ahead pairs that take her from her job
                              at once (engine_person.c) */
  int n_now;
  int alone;        /* the emergencies alone (cfg.emergencies_alone) */
  int64_t begun_ms; /* the engine's time when it was taken */
  /* the begin under way (take_more; in parts: cfg.begin_part_ms) */
  int phase;       /* how far it got: B_NEAREST .. B_DONE */
  int cursor;      /* the phase's next request */
  cm__idmap seen;  /* building: worker id -> instance index */
  int have_seen;   /* seen is initialised */
  cm__reserve *rv; /* the reserve under way */
  cm__req *copies; /* paused: the records as taken, for one that goes
                      meanwhile (refind) */
};
typedef struct cm_engine_batch batch_state;

static void batch_state_free(batch_state *b) {
  free(b->reqs);
  free(b->ids);
  free(b->versions);
  free(b->queries);
  free(b->excl);
  free(b->hits);
  free(b->counts);
  free(b->req_of);
  free(b->reserved);
  free(b->now);
  free(b->copies);
  if (b->have_seen)
    cm__idmap_free(&b->seen);
  cm__reserve_free(b->rv);
  cm_instance_free(b->inst);
  if (b->have_answer)
    cm_answer_free(&b->ans);
}

static double clock_ms(const cm_engine *e) {
  return e->cfg.clock ? (double)e->cfg.clock(e->cfg.clock_ctx) / 1e6 : 0.0;
}

static void make_query(const cm_engine *e, const cm__req *r, int64_t now_ms,
                       cm_store_query *q, const char **excl) {
  cm_request tmp;
  cm_request_init(&tmp);
  tmp.urgency = r->spec.urgency;
  tmp.waited_s = (double)(now_ms - r->ready_ms) / 1000.0;
  if (tmp.waited_s < 0)
    tmp.waited_s = 0;
  int n = 0;
  for (int i = 0; i < r->spec.n_excluded; i++)
    excl[n++] = r->spec.excluded[i];
  for (int i = 0; i < r->n_rejected; i++)
    excl[n++] = r->rejected[i];
  memset(q, 0, sizeof *q);
  q->lat = r->spec.lat;
  q->lon = r->spec.lon;
  q->radius_km = cm_request_radius_km(&e->cfg.params, &tmp);
  q->k = e->cfg.params.k * r->spec.staff;
  q->need_all = r->spec.skill_mode == CM_SKILLS_ALL && r->spec.staff == 1
                    ? r->spec.skills
                    : 0;
  q->need_any = r->spec.skills;
  q->exclude = excl;
  q->n_exclude = n;
}

/* The edges of batch request q (instance request ri) to the store's hits;
 * a worker is added to the instance at its first hit (seen maps its id to
 * its index), with the capacity it has left; one the store no longer has,
 * or with no room, is skipped. Returns CM_OK or CM_E_NOMEM. */
static cm_status add_hit_edges(cm_engine *e, batch_state *b, int q, int ri,
                               cm__idmap *seen, cm_error *err) {
  cm_instance *inst = b->inst;
  for (int h = 0; h < b->counts[q]; h++) {
    const cm_store_hit *hit = &b->hits[(size_t)q * b->k_max + h];
    int wi = cm__idmap_get(seen, hit->id);
    if (wi < 0) {
      cm_worker w;
      const cm__wrk *rec = cm__wrk_find(e, hit->id);
      if (cm_store_get(e->store, hit->id, &w, NULL) != CM_OK)
        continue;
      /* less the offers planned in a commit in flight (engine_offers.c) */
      w.capacity = rec ? rec->capacity - rec->jobs - rec->planned : w.capacity;
      w.status = CM_WORKER_AVAILABLE;
      if (w.capacity <= 0)
        continue;
      if (cm_instance_worker_add(inst, &w, &wi, err) != CM_OK ||
          cm__idmap_put(seen, hit->id, wi, NULL) < 0)
        return CM_E_NOMEM;
    }
    cm_edge_in ed = {ri, wi,
                     cm_travel_minutes(&inst->params, hit->distance_km)};
    if (cm_instance_edge_add(inst, &ed, NULL, err) != CM_OK)
      return CM_E_NOMEM;
  }
  return CM_OK;
}

/* Each request's preferred workers that are in this batch's instance. */
static void add_preferred(batch_state *b, const cm__idmap *seen) {
  for (int q = 0; q < b->n; q++) {
    cm_request *rq = &b->inst->requests[q];
    for (int i = 0; i < b->reqs[q]->spec.n_preferred; i++) {
      int wi = cm__idmap_get(seen, b->reqs[q]->spec.preferred[i]);
      if (wi >= 0)
        rq->preferred[rq->n_preferred++] = wi;
    }
  }
}

/* The stages of a batch's begin after its requests are taken (take_more),
 * and how many requests or queries go between two looks at the clock when
 * it goes in parts. */
enum { B_NEAREST, B_BUILD, B_RESERVE, B_DONE };
#define BEGIN_CHUNK 32
/* A batch of more requests begins in one go: a pause copies every record
 * (pause_begin, ~3.4 KB each, 14 MB at this many). */
#define BEGIN_COPY_MAX 4096

/* The store's candidates of the batch's requests from b->cursor on (in
 * parts BEGIN_CHUNK at a time, one chunk at least) until all were asked
 * (the phase is then B_BUILD) or the part is over. Returns CM_OK or the
 * store's error. */
static cm_status nearest_part(cm_engine *e, batch_state *b,
                              const cm__part *part, cm_error *err) {
  while (b->cursor < b->n) {
    int c = b->cursor, m = b->n - c; /* in one call when not in parts */
    if (part && m > BEGIN_CHUNK)
      m = BEGIN_CHUNK;
    cm_status st = cm_store_nearest(
        e->store, b->queries + c, m, b->k_max, b->begun_ms, e->cfg.stale_ms,
        b->hits + (size_t)c * b->k_max, b->counts + c, err);
    if (st != CM_OK)
      return st;
    b->cursor += m;
    if (b->cursor < b->n && cm__part_over(part))
      return CM_OK;
  }
  b->phase = B_BUILD;
  b->cursor = 0;
  return CM_OK;
}

/* The batch instance in edge mode from the store's answers, request by
 * request from b->cursor on, until all are in (the phase is then
 * B_RESERVE) or the part is over (after a chunk). Returns CM_OK or
 * CM_E_NOMEM (err set). */
static cm_status build_part(cm_engine *e, batch_state *b, const cm__part *part,
                            cm_error *err) {
  cm_instance *inst = b->inst;
  if (!inst) {
    inst = b->inst = cm_instance_new();
    if (!inst || cm__idmap_init(&b->seen, 1024) != 0)
      return cm_error_set(err, CM_E_NOMEM, "", NULL);
    b->have_seen = 1;
    inst->taxonomy = e->cfg.taxonomy;
    inst->weights = e->cfg.weights;
    inst->params = e->cfg.params;
    inst->params.now_ms = b->begun_ms;
    inst->params.stale_ms = 0; /* the store filtered stale positions */
    inst->has_edges = 1;
  }
  while (b->cursor < b->n) {
    int q = b->cursor++, ri;
    cm_request rq;
    cm__req_as_request(b->reqs[q], b->reqs[q]->ready_ms, b->begun_ms, &rq);
    if (cm_instance_request_add(inst, &rq, &ri, err) != CM_OK ||
        add_hit_edges(e, b, q, ri, &b->seen, err) != CM_OK)
      return cm_error_set(err, CM_E_NOMEM, "", NULL);
    if (b->cursor % BEGIN_CHUNK == 0 && b->cursor < b->n && cm__part_over(part))
      return CM_OK;
  }
  add_preferred(b, &b->seen);
  cm__idmap_free(&b->seen);
  b->have_seen = 0;
  b->phase = B_RESERVE;
  return CM_OK;
}

/* The requests the answer gave a busy worker (the look-ahead's) are left
 * out of the commit: they wait for that worker (reqs[q] NULL, the record
 * in wait[q]; NULL for the others). Those it gave a worker on her way or
 * at her visit (engine_divert.c; on a look-ahead entry, a pair that takes
 * her now: engine_person.c) are left out too, their assignment in
 * divert[q] (-1 for the others). */
static void defer_busy(batch_state *b, cm__req **wait, int *divert) {
  for (int q = 0; q < b->n; q++) {
    wait[q] = NULL;
    divert[q] = -1;
  }
  for (int a = 0; a < b->ans.n_assignments; a++) {
    int q = b->ans.assignments[a].request;
    if (b->ans.assignments[a].worker >= b->n_free && b->reqs[q]) {
      wait[q] = b->reqs[q];
      b->reqs[q] = NULL;
      int w = b->ans.assignments[a].worker;
      if (w >= b->n_look || cm__person_taken_now(b->now, b->n_now, q, w))
        divert[q] = a;
    }
  }
}

/* The diversion offers of the answer (divert[q]: its assignment), each
 * committed on its own (engine_divert.c). */
static void offer_diverted(cm_engine *e, batch_state *b, cm__req **wait,
                           const int *divert, int64_t now_ms) {
  for (int q = 0; q < b->n; q++) {
    if (divert[q] < 0 || cm__req_find(e, wait[q]->spec.id) != wait[q])
      continue; /* not for a request whose create is in flight */
    const cm_assignment *a = &b->ans.assignments[divert[q]];
    cm__divert_offer(e, wait[q], b->inst->workers[a->worker].id, &a->terms,
                     now_ms);
    wait[q] = NULL; /* offered, or pending with no reason */
  }
}

/* Commit the answer's offers (engine_offers.c) and, when that worked,
 * remember why the others were not assigned. Synchronous unless done is
 * given (cm_engine_batch_end_async). */
static cm_status commit(cm_engine *e, batch_state *b, int64_t now_ms,
                        cm_engine_done_fn done, void *ctx, cm_error *err) {
  const cm_answer *ans = &b->ans;
  cm__req **wait = cm__malloc_array(b->n, sizeof *wait);
  int *divert = cm__malloc_array(b->n, sizeof *divert);
  if (!wait || !divert) {
    free(wait);
    free(divert);
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  defer_busy(b, wait, divert);
  cm_status st =
      cm__offers_commit(e, b->inst, ans, b->reqs, now_ms, done, ctx, err);
  if (st == CM_OK)
    offer_diverted(e, b, wait, divert, now_ms);
  free(divert);
  for (int q = 0; q < b->n; q++) {
    if (!wait[q])
      continue;
    b->reqs[q] = wait[q]; /* back, for the caller's counts */
    if (st == CM_OK) {
      wait[q]->has_reason = 1;
      wait[q]->reason = CM_REASON_WAITING_WORKER;
    }
  }
  free(wait);
  if (st != CM_OK)
    return st;
  for (int u = 0; u < ans->n_unassigned; u++) {
    cm__req *r = b->reqs[ans->unassigned[u].request];
    if (!r)
      continue;
    r->has_reason = 1;
    r->reason = ans->unassigned[u].reason;
    if (r->reason == CM_REASON_NO_CANDIDATE && b->reserved &&
        b->reserved[ans->unassigned[u].request])
      r->reason = CM_REASON_RESERVE; /* the nurse is near, kept back */
  }
  return CM_OK;
}

void cm_engine_batch_free(cm_engine_batch *b) {
  if (!b)
    return;
  batch_state_free(b);
  free(b);
}

/* The indices (into e->live) of the requests due at now_ms (alone: the
 * emergencies only), most urgent first, at most batch_max of them.
 * Returns how many. */
static int due_requests(const cm_engine *e, int64_t now_ms, int alone,
                        int *idx) {
  int n = 0;
  for (int i = 0; i < e->n_live; i++)
    if (e->live[i]->state == CM_REQ_PENDING &&
        (!alone || e->live[i]->spec.urgency == CM_URGENCY_EMERGENCY) &&
        e->live[i]->release_ms <= now_ms && !e->live[i]->in_batch &&
        cm__req_batchable(e->live[i]) &&
        !(e->n_flight && cm__op_find(e, e->live[i]->spec.id)))
      idx[n++] = i; /* one with a change in flight waits for the next */
  pick_ctx pc = {e->live};
  cm__sort_ints(idx, n, by_priority, &pc);
  return n > e->cfg.batch_max ? e->cfg.batch_max : n;
}

/* The batch's arrays for n requests with up to k_max hits each. Returns 0,
 * or -1 when an allocation failed (batch_state_free frees what was got). */
static int batch_alloc(batch_state *b, int n, int k_max) {
  int per = CM_MAX_PREFS + CM_MAX_REJECTS;
  b->n = n;
  b->k_max = k_max;
  b->reqs = malloc((size_t)n * sizeof *b->reqs);
  b->ids = malloc((size_t)n * sizeof *b->ids);
  b->versions = malloc((size_t)n * sizeof *b->versions);
  b->queries = malloc((size_t)n * sizeof *b->queries);
  b->excl = malloc((size_t)n * per * sizeof *b->excl);
  b->hits = malloc((size_t)n * b->k_max * sizeof *b->hits);
  b->counts = malloc((size_t)n * sizeof *b->counts);
  return b->reqs && b->ids && b->versions && b->queries && b->excl && b->hits &&
                 b->counts
             ? 0
             : -1;
}

/* The batch's requests (pick[q]), their ids and versions as taken, and
 * their store queries. */
static void batch_fill(const cm_engine *e, batch_state *b, cm__req **pick,
                       int64_t now_ms) {
  int per = CM_MAX_PREFS + CM_MAX_REJECTS;
  for (int q = 0; q < b->n; q++) {
    cm__req *r = b->reqs[q] = pick[q];
    memcpy(b->ids[q], r->spec.id, CM_ID_MAX);
    b->versions[q] = r->version;
    make_query(e, r, now_ms, &b->queries[q], b->excl + (size_t)q * per);
  }
}

/* The solver's options: the budget (none without a clock, 0 solves
 * greedily) and the clock. */
static void batch_options(const cm_engine *e, batch_state *b) {
  b->opts.deadline_ms = e->cfg.clock ? e->cfg.solve_budget_ms : -1;
  if (e->cfg.solve_budget_ms == 0)
    b->opts.deadline_ms = 0;
  b->opts.clock = e->cfg.clock;
  b->opts.clock_ctx = e->cfg.clock_ctx;
  /* built from records each validated as it came in: not again inside the
     budget */
  b->opts.validated = 1;
  b->solved = CM_E_SOLVER;
}

/* The store's answers are in the instance now: free them. */
static void drop_store_answers(batch_state *b) {
  free(b->queries);
  free(b->excl);
  free(b->hits);
  b->queries = NULL;
  b->excl = NULL;
  b->hits = NULL;
}

/* The emergency reserve, then the rest of the begin (the confirmations'
 * holds, the look-ahead, diversion): done, the batch is ready to solve. */
static cm_status rest_part(cm_engine *e, batch_state *b, const cm__part *part,
                           cm_error *err) {
  int held, done;
  int64_t now_ms = b->begun_ms;
  cm_status st = cm__reserve_run(e, &b->rv, b->inst, now_ms, part, &held,
                                 b->reserved, &done, err);
  if (st != CM_OK || !done)
    return st;
  cm__confirm_hold(e, b->inst, now_ms); /* engine_confirm.c */
  b->n_free = b->inst->n_workers;
  if ((st = cm__lookahead_add(e, b->inst, b->reqs, b->n, now_ms, err)) != CM_OK)
    return st;
  b->n_look = b->inst->n_workers;
  if ((st = cm__divert_add(e, b->inst, b->reqs, b->n, now_ms, err)) != CM_OK ||
      (st = cm__person_merge(b->inst, b->n_free, b->n_look, &b->now, &b->n_now,
                             err)) != CM_OK)
    return st;
  b->t1 = clock_ms(e);
  batch_options(e, b);
  drop_store_answers(b);
  b->phase = B_DONE;
  return CM_OK;
}

/* Go on with b's begin until it is done (phase B_DONE) or the part is over
 * (part NULL: never), one step at least. Returns CM_OK, or the error (err
 * set; the caller frees the batch). */
static cm_status take_more(cm_engine *e, batch_state *b, const cm__part *part,
                           cm_error *err) {
  cm_status st = CM_OK;
  while (st == CM_OK && b->phase != B_DONE) {
    int was = b->phase;
    st = was == B_NEAREST ? nearest_part(e, b, part, err)
         : was == B_BUILD ? build_part(e, b, part, err)
                          : rest_part(e, b, part, err);
    if (st == CM_OK && b->phase != B_DONE && cm__part_over(part))
      break;
  }
  return st;
}

/* Take the due requests and their store queries: *out the batch, its
 * begin to go on with take_more; NULL when nothing is due (CM_OK). Or the
 * error (err set, *out NULL). */
static cm_status take_start(cm_engine *e, int64_t now_ms, int alone,
                            batch_state **out, cm_error *err) {
  batch_state *b = calloc(1, sizeof *b);
  int *idx = cm__malloc_array(e->n_live, sizeof *idx);
  cm__req **pick = cm__malloc_array(e->n_live + e->n_flight, sizeof *pick);
  int n;
  cm_status st = CM_OK;
  *out = NULL;
  if (!b || !idx || !pick)
    goto oom;
  b->t0 = clock_ms(e);
  b->alone = alone;
  b->begun_ms = now_ms;
  /* first the emergencies whose create is in flight: their offers go
     behind the create (engine_ops.c, docs/async.md "one durable write") */
  n = 0;
  for (int i = 0, nc = cm__op_creating_all(e, pick, e->cfg.batch_max); i < nc;
       i++)
    if (cm__req_batchable(pick[i]))
      pick[n++] = pick[i];
  for (int i = 0, nl = due_requests(e, now_ms, alone, idx);
       i < nl && n < e->cfg.batch_max; i++)
    pick[n++] = e->live[idx[i]];
  if (n == 0)
    goto fail; /* nothing due: CM_OK, no batch */
  if (batch_alloc(b, n, e->cfg.params.k * CM_MAX_STAFF) != 0 ||
      !(b->reserved = malloc((size_t)n)))
    goto oom;
  batch_fill(e, b, pick, now_ms);
  free(idx);
  free(pick);
  b->phase = B_NEAREST;
  *out = b;
  return CM_OK;
oom:
  st = cm_error_set(err, CM_E_NOMEM, "", NULL);
fail:
  free(idx);
  free(pick);
  cm_engine_batch_free(b);
  return st;
}

/* The part a regular batch's begin may take now (cfg.begin_part_ms, on
 * the engine's clock), set in *p: p, or NULL (the whole begin) without a
 * clock or for an emergency's own batch. */
static const cm__part *part_now(const cm_engine *e, int alone, cm__part *p) {
  if (alone || e->cfg.begin_part_ms <= 0 || !e->cfg.clock)
    return NULL;
  p->e = e;
  p->until_ns =
      e->cfg.clock(e->cfg.clock_ctx) + (int64_t)(e->cfg.begin_part_ms * 1e6);
  return p;
}

int cm__part_over(const cm__part *p) {
  return p && p->e->cfg.clock(p->e->cfg.clock_ctx) >= p->until_ns;
}

/* A begin stops for a part: the records as taken are copied, so that one
 * gone meanwhile (finished and out of the history, refused, rebuilt) can
 * stand in for itself until the end leaves it out. */
static cm_status pause_begin(cm_engine *e, batch_state *b, cm_error *err) {
  if (!b->copies) {
    if (!(b->copies = cm__malloc_array(b->n, sizeof *b->copies)))
      return cm_error_set(err, CM_E_NOMEM, "", NULL);
    for (int q = 0; q < b->n; q++)
      b->copies[q] = *b->reqs[q];
  }
  e->beginning = b;
  e->stats.begin_pauses++;
  /* an emergency taken along (most urgent first: one that waited, or came
     as the window fell due) gets its own batch meanwhile */
  if (b->reqs[0]->spec.urgency == CM_URGENCY_EMERGENCY)
    cm__schedule_emergency(e, e->now_ms);
  return CM_OK;
}

/* After a pause: each of the batch's requests found again by its id (its
 * record may have been replaced: a create in flight applied), or its copy
 * standing in when it is gone; a request whose store query is still to
 * be asked gets it again from the record found. */
static void refind(cm_engine *e, batch_state *b) {
  int per = CM_MAX_PREFS + CM_MAX_REJECTS;
  for (int q = 0; q < b->n; q++) {
    cm__req *r = cm__op_record(e, b->ids[q]);
    if (!r)
      r = &b->copies[q];
    if (r == b->reqs[q])
      continue;
    b->reqs[q] = r;
    if (b->phase == B_NEAREST && q >= b->cursor) {
      make_query(e, r, b->begun_ms, &b->queries[q], b->excl + (size_t)q * per);
      if (b->queries[q].k > b->k_max) /* k raised by a reload meanwhile */
        b->queries[q].k = b->k_max;
    }
  }
}

/* Take the due requests, ask the store for their candidates, build the
 * instance: *out the batch, NULL when nothing is due or when the begin
 * paused after its part (e->beginning then; cm_engine_batch_continue goes
 * on). Or the error (err set, *out NULL). */
static cm_status take_batch(cm_engine *e, int64_t now_ms, int alone,
                            batch_state **out, cm_error *err) {
  cm__part p;
  const cm__part *part = part_now(e, alone, &p);
  cm_status st = take_start(e, now_ms, alone, out, err);
  if (st != CM_OK || !*out)
    return st;
  batch_state *b = *out;
  if (b->n > BEGIN_COPY_MAX)
    part = NULL; /* in one go: the copies of a pause stay small */
  if ((st = take_more(e, b, part, err)) == CM_OK && b->phase != B_DONE) {
    *out = NULL;
    st = pause_begin(e, b, err);
    if (st == CM_OK)
      return CM_OK;
    e->beginning = NULL;
  }
  if (st != CM_OK) {
    cm_engine_batch_free(b);
    *out = NULL;
  }
  return st;
}

cm_status cm_engine_batch_begin(cm_engine *e, int64_t now_ms,
                                cm_engine_batch **out, cm_error *err) {
  *out = NULL;
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  now_ms = e->now_ms;
  if (e->in_flight) {
    e->synced = 0; /* followed for a batch that does not begin */
    return CM_OK;
  }
  if (e->rebuild) /* no decision before the rebuild is applied */
    return cm__rebuilding(e, err);
  if (e->synced && e->resync && cm__rebuild_async_able(e)) {
    /* followed asynchronously, then asked to rebuild meanwhile (a lease
       taken): the next cm_engine_sync_async reads it, not a synchronous
       rebuild here (engine_rebuild.c) */
    e->synced = 0;
    return cm_error_set(err, CM_E_UNAVAILABLE, "",
                        "resynchronising with the ledger: the next step "
                        "rebuilds");
  }
  /* with a ledger: no decision on state it may have changed (the caller
     may just have followed it: cm_engine_sync_async) */
  cm_status st =
      e->synced && !e->resync ? CM_OK : cm_engine_sync(e, now_ms, err);
  e->synced = 0;
  if (st != CM_OK)
    return st;
  expire_offers(e, now_ms);
  release_due(e, now_ms);
  escalate_waits(e, now_ms);
  cm__confirm_lapse(e, now_ms); /* engine_confirm.c */
  cm__standby_pass(e, now_ms);  /* engine_standby.c */
  /* an emergency's own batch while the window is not due: the others
     keep their batch (docs/engine.md "An emergency's own batch") */
  int alone = e->beginning || e->next_batch_ms > now_ms; /* while a begin
      is paused, an emergency's own batch only (docs/async.md) */
  if (alone && e->next_alone_ms > now_ms)
    return CM_OK;
  e->next_alone_ms = INT64_MAX;
  if (!alone)
    e->next_batch_ms = INT64_MAX;
  cm__pins_offer(e, now_ms); /* operators' pins first (engine_override.c) */
  batch_state *b;
  st = take_batch(e, now_ms, alone, &b, err);
  if (st != CM_OK)
    cm__schedule_batch(e, now_ms + e->cfg.batch_window_ms);
  e->in_flight = b != NULL;
  *out = b;
  return st;
}

cm_status cm_engine_batch_continue(cm_engine *e, int64_t now_ms,
                                   cm_engine_batch **out, cm_error *err) {
  batch_state *b = e->beginning;
  *out = NULL;
  if (!b || e->in_flight)
    return CM_OK; /* nothing paused, or an emergency's batch first */
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  if (e->resync || e->rebuild || e->rebuild_due) {
    cm_engine_begin_drop(e); /* no decision before the rebuild */
    return CM_OK;
  }
  e->beginning = NULL;
  refind(e, b);
  cm__part p;
  cm_status st = take_more(e, b, part_now(e, 0, &p), err);
  if (st == CM_OK && b->phase != B_DONE) {
    e->beginning = b;
    e->stats.begin_pauses++;
    return CM_OK;
  }
  if (st != CM_OK) {
    cm_engine_batch_free(b);
    cm__schedule_batch(e, e->now_ms + e->cfg.batch_window_ms);
    return st;
  }
  e->in_flight = 1;
  *out = b;
  return CM_OK;
}

int cm_engine_beginning(const cm_engine *e) {
  return e->beginning != NULL;
}

void cm_engine_begin_drop(cm_engine *e) {
  if (!e->beginning)
    return;
  cm_engine_batch_free(e->beginning);
  e->beginning = NULL;
  cm__schedule_batch(e, e->now_ms); /* its requests: the next step */
}

cm_status cm_engine_batch_begin_unfollowed(cm_engine *e, int64_t now_ms,
                                           cm_engine_batch **out,
                                           cm_error *err) {
  *out = NULL;
  if (e->resync || e->rebuild || e->rebuild_due)
    return cm_error_set(err, CM_E_UNAVAILABLE, "",
                        "resynchronising with the ledger: the next step "
                        "rebuilds");
  e->synced = 1; /* begin does not follow */
  return cm_engine_batch_begin(e, now_ms, out, err);
}

/* The emergencies' stage first, then the whole batch in what is left of
 * the same budget (the stage's time is taken from the second solve's; none
 * left: the greedy floor, a budget of 0). */
cm_status cm_engine_batch_solve(cm_engine_batch *b, cm_error *err) {
  cm_solve_options o = b->opts;
  int timed = o.clock && o.deadline_ms > 0;
  int64_t t0 = timed ? o.clock(o.clock_ctx) : 0;
  b->solved = cm__stage_emergencies(b->inst, &o, err);
  if (b->solved == CM_OK && timed) {
    double left = o.deadline_ms - (double)(o.clock(o.clock_ctx) - t0) / 1e6;
    o.deadline_ms = left > 0 ? left : 0;
  }
  if (b->solved == CM_OK)
    b->solved = cm_solve(b->inst, &o, &b->ans, err);
  b->have_answer = b->solved == CM_OK;
  return b->solved;
}

/* Whatever is still pending and released is retried after a window. A
 * request that was due when the batch was taken and was not tried (more
 * than batch_max were due) goes at once: an emergency in a batch of its
 * own. One that came while the batch was solved has its batch asked for by
 * its arrival, and one whose offer is in flight is left to its completion.
 * A batch that offered nothing doubles the wait (up to retry_max_ms):
 * nothing changed that could help, and a city at night would otherwise
 * search for the same absent staff every window. Anything that can help
 * (a request, a worker coming on shift or freed, a refusal) resets it
 * (cm__retry_soon). After an emergency's own batch only the emergencies
 * are looked at: the others keep the batch they were waiting for, and the
 * wait does not double for them; an emergency it could not offer is
 * retried with everything one window later. A request whose offer was
 * left out because its worker filled up meanwhile (another batch took
 * her while this one was begun in parts or solved) is tried again at
 * once. */
static void reschedule(cm_engine *e, const batch_state *b, int64_t now_ms,
                       int offered) {
  int waiting = 0, untried = 0, untried_em = 0;
  for (int i = 0; i < e->n_live; i++) {
    const cm__req *r = e->live[i];
    int em = r->spec.urgency == CM_URGENCY_EMERGENCY;
    if ((b->alone && !em) || r->state != CM_REQ_PENDING ||
        r->release_ms > now_ms || r->held || r->in_batch)
      continue;
    waiting++;
    if (r->batches == 0 && r->ready_ms <= b->begun_ms) {
      untried_em |= em;
      untried |= !em;
    }
  }
  int64_t wait = e->cfg.batch_window_ms;
  if (untried_em || (b->alone && e->left_out))
    cm__schedule_emergency(e, now_ms);
  if (b->alone) {
    if (waiting && !untried_em && !e->left_out)
      cm__schedule_batch(e, now_ms + wait);
    return;
  }
  if (offered || untried || untried_em) {
    e->retry_wait_ms = 0;
  } else {
    e->retry_wait_ms = e->retry_wait_ms ? 2 * e->retry_wait_ms : wait;
    if (e->retry_wait_ms > e->cfg.retry_max_ms)
      e->retry_wait_ms = e->cfg.retry_max_ms;
    if (e->retry_wait_ms > wait)
      wait = e->retry_wait_ms;
  }
  if (waiting) /* an offer left out because its worker filled up while
                  the batch was begun or solved (an emergency's own batch
                  took her): its request is tried again at once */
    cm__schedule_batch(e, untried || e->left_out ? now_ms : now_ms + wait);
}

/* cm_engine_batch_end, or its _async form when done is given. */
static cm_status batch_end(cm_engine *e, cm_engine_batch *b, int64_t now_ms,
                           cm_engine_done_fn done, void *ctx, cm_error *err) {
  cm_status rc = CM_E_SOLVER;
  int offered = 0;
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  now_ms = e->now_ms;
  e->in_flight = 0;
  if (!b->have_answer) {
    rc = b->solved != CM_OK ? b->solved : CM_E_SOLVER;
    cm_error_set(err, rc, "", "the batch was not solved");
    goto out;
  }
  /* requests changed while the batch was solved are left out; the others
     take part in it (counted here: a batch that fails counts for none) */
  for (int q = 0; q < b->n; q++) {
    cm__req *r = cm__req_find(e, b->ids[q]);
    cm__req *c = r ? NULL : cm__op_creating(e, b->ids[q]); /* its create
                                                   still in flight */
    b->reqs[q] = c && c->version == b->versions[q] && !c->in_batch ? c
                 : r && r->version == b->versions[q] &&
                         r->state == CM_REQ_PENDING && !r->in_batch &&
                         !(e->n_flight && cm__op_find(e, r->spec.id))
                     ? r
                     : NULL;
    if (b->reqs[q])
      b->reqs[q]->batches++;
  }
  double tc = clock_ms(e);
  uint64_t offers_before = e->stats.offers;
  e->left_out = 0;
  if ((rc = commit(e, b, now_ms, done, ctx, err)) !=
      CM_OK) { /* nothing was applied */
    for (int q = 0; q < b->n; q++)
      if (b->reqs[q])
        b->reqs[q]->batches--;
    goto out;
  }
  double t2 = clock_ms(e);
  cm_histogram_add(&e->stats.commit_ms, t2 - tc);
  /* proposed offers count as offered (the wait does not double) */
  offered = e->stats.offers != offers_before || (done && e->offers);
  e->stats.batches++;
  e->stats.fallbacks += (uint64_t)b->ans.stats.fallbacks;
  cm_histogram_add(&e->stats.batch_size, b->n);
  cm_histogram_add(&e->stats.candidates_ms, b->t1 - b->t0);
  cm_histogram_add(&e->stats.solve_ms, b->ans.stats.total_ms);
  cm_histogram_add(&e->stats.batch_ms, t2 - b->t0);
  rc = CM_OK;
out:
  if (rc != CM_OK)
    cm__schedule_batch(e, now_ms + e->cfg.batch_window_ms);
  else
    reschedule(e, b, now_ms, offered);
  cm_engine_batch_free(b);
  return rc;
}

cm_status cm_engine_batch_end(cm_engine *e, cm_engine_batch *b, int64_t now_ms,
                              cm_error *err) {
  return batch_end(e, b, now_ms, NULL, NULL, err);
}

cm_status cm_engine_batch_end_async(cm_engine *e, cm_engine_batch *b,
                                    int64_t now_ms, cm_engine_done_fn done,
                                    void *ctx, cm_error *err) {
  if (!done) {
    cm_engine_batch_free(b);
    return cm_error_set(err, CM_E_INVALID, "", "no completion given");
  }
  return batch_end(e, b, now_ms, done, ctx, err);
}

cm_status cm_engine_step(cm_engine *e, int64_t now_ms, int *batches,
                         cm_error *err) {
  cm_engine_batch *b;
  if (batches)
    *batches = 0;
  cm_status st = cm_engine_batch_begin(e, now_ms, &b, err);
  while (st == CM_OK && !b && e->beginning && !e->in_flight) /* in parts:
                                                               all now */
    st = cm_engine_batch_continue(e, now_ms, &b, err);
  if (st != CM_OK || !b)
    return st;
  cm_engine_batch_solve(b, err); /* end reports a failed solve */
  st = cm_engine_batch_end(e, b, now_ms, err);
  if (st == CM_OK && batches)
    *batches = 1;
  return st;
}
