/* ledger_fault.c -- a ledger that fails its Nth commit and can hold its
 * proposals back (ledger_fault.h). */
#include "ledger_fault.h"

#include <stdlib.h>
#include <string.h>

#include "carematch/engine.h"

static cm_fault_ledger *fl(cm_ledger *l) {
  return (cm_fault_ledger *)l;
}

int cm_fault_ledger_drop(cm_fault_ledger *f);

static void f_free(cm_ledger *l) {
  cm_fault_ledger_drop(fl(l)); /* the struct is the caller's */
}

static cm_status f_commit(cm_ledger *l, const cm_ledger_change *ch, int n,
                          cm_ledger_result *results, cm_error *err) {
  cm_fault_ledger *f = fl(l);
  cm_ledger *in = f->inner;
  int fail = ++f->commits == f->fail_at;
  if (fail && f->when == CM_FAULT_BEFORE) {
    f->failed = 1;
    return cm_error_set(err, CM_E_UNAVAILABLE, "", "injected: commit %d lost",
                        f->commits);
  }
  cm_status st = in->type->commit(in, ch, n, results, err);
  if (fail && st == CM_OK) {
    f->failed = 1;
    return cm_error_set(err, CM_E_UNAVAILABLE, "",
                        "injected: commit %d written, answer lost", f->commits);
  }
  return st;
}

static cm_status f_get(cm_ledger *l, const char *id, cm_request_view *out,
                       cm_error *err) {
  cm_ledger *in = fl(l)->inner;
  return in->type->get(in, id, out, err);
}

static cm_status f_each_live(cm_ledger *l, cm_ledger_request_fn fn, void *ctx,
                             cm_error *err) {
  cm_ledger *in = fl(l)->inner;
  return in->type->each_live(in, fn, ctx, err);
}

static cm_status f_worker_upsert(cm_ledger *l, const cm_worker *w,
                                 cm_error *err) {
  cm_ledger *in = fl(l)->inner;
  return in->type->worker_upsert(in, w, err);
}

static cm_status f_worker_positions(cm_ledger *l, int n, const char *const *ids,
                                    const double *lat, const double *lon,
                                    const int64_t *seen_ms, cm_error *err) {
  cm_ledger *in = fl(l)->inner;
  return in->type->worker_positions(in, n, ids, lat, lon, seen_ms, err);
}

static cm_status f_worker_shift(cm_ledger *l, const char *id, int on_shift,
                                cm_error *err) {
  cm_ledger *in = fl(l)->inner;
  return in->type->worker_shift(in, id, on_shift, err);
}

static cm_status f_each_worker(cm_ledger *l, cm_ledger_worker_fn fn, void *ctx,
                               cm_error *err) {
  cm_ledger *in = fl(l)->inner;
  return in->type->each_worker(in, fn, ctx, err);
}

static cm_status f_follow_start(cm_ledger *l, cm_error *err) {
  cm_ledger *in = fl(l)->inner;
  return in->type->follow_start(in, err);
}

static cm_status f_follow(cm_ledger *l, cm_ledger_change_fn fn, void *ctx,
                          int *lost, cm_error *err) {
  cm_ledger *in = fl(l)->inner;
  return in->type->follow(in, fn, ctx, lost, err);
}

/* A deferred proposal: its changes, with the records and events they
   point to copied. */
struct cm_fault_proposal {
  struct cm_fault_proposal *next;
  int n;
  cm_ledger_change *ch;
  cm_request_view *views;
  cm_event **events;
  cm_ledger_done_fn done;
  void *ctx;
};

static void proposal_free(struct cm_fault_proposal *p) {
  for (int i = 0; p && i < p->n; i++)
    free(p->events[i]);
  if (p) {
    free(p->events);
    free(p->views);
    free(p->ch);
  }
  free(p);
}

static struct cm_fault_proposal *proposal_copy(const cm_ledger_change *ch,
                                               int n) {
  struct cm_fault_proposal *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->n = n;
  p->ch = calloc((size_t)n + 1, sizeof *p->ch);
  p->views = calloc((size_t)n + 1, sizeof *p->views);
  p->events = calloc((size_t)n + 1, sizeof *p->events);
  if (!p->ch || !p->views || !p->events) {
    proposal_free(p);
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    p->ch[i] = ch[i];
    p->views[i] = *ch[i].after;
    p->ch[i].after = &p->views[i];
    if (ch[i].n_events > 0) {
      size_t sz = (size_t)ch[i].n_events * sizeof(cm_event);
      if (!(p->events[i] = malloc(sz))) {
        proposal_free(p);
        return NULL;
      }
      memcpy(p->events[i], ch[i].events, sz);
      p->ch[i].events = p->events[i];
    }
  }
  return p;
}

static cm_status f_propose(cm_ledger *l, const cm_ledger_change *ch, int n,
                           cm_ledger_done_fn done, void *ctx, cm_error *err) {
  cm_fault_ledger *f = fl(l);
  struct cm_fault_proposal *p = proposal_copy(ch, n);
  if (!p)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  p->done = done;
  p->ctx = ctx;
  if (f->tail)
    f->tail->next = p;
  else
    f->queue = p;
  f->tail = p;
  f->proposals++;
  return CM_OK;
}

/* Take the waiting queue (completions may add to a new one). */
static struct cm_fault_proposal *take_queue(cm_fault_ledger *f) {
  struct cm_fault_proposal *q = f->queue;
  f->queue = f->tail = NULL;
  return q;
}

int cm_fault_ledger_run(cm_fault_ledger *f) {
  int ran = 0;
  for (struct cm_fault_proposal *p = take_queue(f), *next; p; p = next) {
    next = p->next;
    cm_ledger_result *res = calloc((size_t)p->n + 1, sizeof *res);
    cm_error err;
    cm_error_clear(&err);
    cm_status st = res ? f_commit(&f->base, p->ch, p->n, res, &err)
                       : cm_error_set(&err, CM_E_NOMEM, "", NULL);
    f->completions++;
    p->done(p->ctx, st, st == CM_OK ? res : NULL, p->n, &err);
    free(res);
    proposal_free(p);
    ran++;
  }
  return ran;
}

int cm_fault_ledger_drop(cm_fault_ledger *f) {
  int ran = 0;
  for (struct cm_fault_proposal *p = take_queue(f), *next; p; p = next) {
    next = p->next;
    cm_error err;
    cm_error_set(&err, CM_E_UNAVAILABLE, "", "injected: connection lost");
    f->completions++;
    p->done(p->ctx, CM_E_UNAVAILABLE, NULL, p->n, &err);
    proposal_free(p);
    ran++;
  }
  return ran;
}

/* Without propose: a proposal commits and completes at once (ledger.c);
 * cm_fault_ledger_defer sets f_propose in the wrapper's own copy. */
static const cm_ledger_type fault_type = {
    .name = "fault",
    .free = f_free,
    .commit = f_commit,
    .get = f_get,
    .each_live = f_each_live,
    .worker_upsert = f_worker_upsert,
    .worker_positions = f_worker_positions,
    .worker_shift = f_worker_shift,
    .each_worker = f_each_worker,
    .follow_start = f_follow_start,
    .follow = f_follow,
};

void cm_fault_ledger_init(cm_fault_ledger *f, cm_ledger *inner) {
  memset(f, 0, sizeof *f);
  f->type = fault_type;
  f->base.type = &f->type;
  f->inner = inner;
  cm_fault_ledger_arm(f, 0, CM_FAULT_BEFORE);
}

void cm_fault_ledger_arm(cm_fault_ledger *f, int nth, cm_fault_when when) {
  f->fail_at = nth;
  f->when = when;
  f->commits = 0;
  f->failed = 0;
}

void cm_fault_ledger_defer(cm_fault_ledger *f, int deferred) {
  f->deferred = deferred != 0;
  f->type.propose = f->deferred ? f_propose : NULL;
}
