/* ledger_fault.c -- a ledger that fails its Nth commit (ledger_fault.h). */
#include "ledger_fault.h"

#include "carematch/engine.h"

static cm_fault_ledger *fl(cm_ledger *l) {
  return (cm_fault_ledger *)l;
}

static void f_free(cm_ledger *l) {
  (void)l; /* the caller's struct */
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
  f->base.type = &fault_type;
  f->inner = inner;
  cm_fault_ledger_arm(f, 0, CM_FAULT_BEFORE);
}

void cm_fault_ledger_arm(cm_fault_ledger *f, int nth, cm_fault_when when) {
  f->fail_at = nth;
  f->when = when;
  f->commits = 0;
  f->failed = 0;
}
