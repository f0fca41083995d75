/* ledger_contract.c -- the ledger contract suite (ledger_contract.h). */
#include "ledger_contract.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "carematch/engine.h"
#include "fixtures.h"
#include "ledger_fault.h"

/* ---------------------------------------------------- the ledger alone */

static cm_ledger *open_fresh(const cm_ledger_contract *c) {
  cm_ledger *l = c->open(c->ctx, 1);
  cr_assert_not_null(l, "the ledger opens");
  return l;
}

/* A record of request id in state st at version ver. */
static cm_request_view record(const char *id, cm_request_state st,
                              uint64_t ver) {
  cm_request_view v;
  memset(&v, 0, sizeof v);
  v.spec = cm_fx_spec(id, CM_FX_NURSE, 1, CM_URGENCY_NORMAL, 0.0);
  v.state = st;
  v.created_ms = CM_FX_T0;
  v.version = ver;
  return v;
}

/* A change from version `from` to v (v->version must be from + 1, or 1). */
static cm_ledger_change change(const cm_request_view *v, uint64_t from) {
  cm_ledger_change ch;
  memset(&ch, 0, sizeof ch);
  ch.after = v;
  ch.expect_version = from;
  return ch;
}

static void add_take(cm_ledger_change *ch, const char *worker, int take,
                     int give, int accept_delta, int done, uint64_t elder) {
  cm_ledger_worker *w = &ch->workers[ch->n_workers++];
  memset(w, 0, sizeof *w);
  snprintf(w->id, sizeof w->id, "%s", worker);
  w->take = take;
  w->give = give;
  w->accept_delta = accept_delta;
  w->done = done;
  w->elder = elder;
}

/* Commit one change; returns its result (the call must succeed). */
static cm_ledger_result commit1(cm_ledger *l, const cm_ledger_change *ch) {
  cm_ledger_result res;
  cm_error err;
  cm_status st = l->type->commit(l, ch, 1, &res, &err);
  cr_assert_eq(st, CM_OK, "commit: %s", err.message);
  return res;
}

static uint64_t version_of(cm_ledger *l, const char *id) {
  cm_request_view v;
  cm_status st = l->type->get(l, id, &v, NULL);
  if (st == CM_E_UNKNOWN_ID)
    return 0;
  cr_assert_eq(st, CM_OK);
  cr_assert_str_eq(v.spec.id, id);
  return v.version;
}

static void put(cm_ledger *l, const char *id, int capacity) {
  cm_worker w = cm_fx_worker(id, CM_FX_NURSE, 0.5, 0.0, capacity, CM_FX_T0);
  cm_error err;
  cr_assert_eq(l->type->worker_upsert(l, &w, &err), CM_OK, "%s", err.message);
}

typedef struct found {
  const char *id;
  cm_worker w;
  int n;
} found;

static void find_worker(void *ctx, const cm_worker *w) {
  found *f = ctx;
  if (strcmp(w->id, f->id) == 0) {
    f->w = *w;
    f->n++;
  }
}

static cm_worker worker_of(cm_ledger *l, const char *id) {
  found f = {.id = id};
  cr_assert_eq(l->type->each_worker(l, find_worker, &f, NULL), CM_OK);
  cr_assert_eq(f.n, 1, "%s listed once", id);
  return f.w;
}

void cm_ledger_contract_records(const cm_ledger_contract *c) {
  cm_ledger *l = open_fresh(c);
  cm_request_view v1 = record("r1", CM_REQ_PENDING, 1);
  cm_ledger_change ch = change(&v1, 0);
  cr_assert_eq(commit1(l, &ch).refusal, CM_LEDGER_OK);
  cm_request_view got;
  cr_assert_eq(l->type->get(l, "r1", &got, NULL), CM_OK);
  cr_assert_eq(got.version, 1);
  cr_assert_eq(got.state, CM_REQ_PENDING);
  cr_assert_eq(got.created_ms, CM_FX_T0);
  /* submitted again: refused, the record untouched */
  cm_request_view again = record("r1", CM_REQ_CANCELLED, 1);
  ch = change(&again, 0);
  cr_assert_eq(commit1(l, &ch).refusal, CM_LEDGER_VERSION);
  cr_assert_eq(l->type->get(l, "r1", &got, NULL), CM_OK);
  cr_assert_eq(got.state, CM_REQ_PENDING);
  /* a stale version (and one from the future): refused */
  cm_request_view v2 = record("r1", CM_REQ_CANCELLED, 3);
  ch = change(&v2, 2);
  cr_assert_eq(commit1(l, &ch).refusal, CM_LEDGER_VERSION);
  cr_assert_eq(version_of(l, "r1"), 1);
  /* the right one: applied */
  v2.version = 2;
  ch = change(&v2, 1);
  cr_assert_eq(commit1(l, &ch).refusal, CM_LEDGER_OK);
  cr_assert_eq(l->type->get(l, "r1", &got, NULL), CM_OK);
  cr_assert_eq(got.version, 2);
  cr_assert_eq(got.state, CM_REQ_CANCELLED);
  /* a transition of a request the ledger never had */
  cm_request_view ghost = record("ghost", CM_REQ_CANCELLED, 2);
  ch = change(&ghost, 1);
  cr_assert_eq(commit1(l, &ch).refusal, CM_LEDGER_VERSION);
  cr_assert_eq(version_of(l, "ghost"), 0);
  cm_error err;
  cr_assert_eq(l->type->get(l, "nobody", &got, &err), CM_E_UNKNOWN_ID);
  cr_assert_eq(err.code, CM_E_UNKNOWN_ID);
  c->close(c->ctx, l);
}

void cm_ledger_contract_workers(const cm_ledger_contract *c) {
  cm_ledger *l = open_fresh(c);
  put(l, "w1", 1);
  put(l, "w2", 2);
  put(l, "off", 1);
  cr_assert_eq(l->type->worker_shift(l, "off", 0, NULL), CM_OK);
  cr_assert_eq(worker_of(l, "off").status, CM_WORKER_OFFLINE);
  /* refusals: unknown, off shift; the index is the refused worker's and
     nothing of the change is written (w2 takes no job) */
  const char *bad[] = {"nobody", "off"};
  for (int b = 0; b < 2; b++) {
    cm_request_view v = record("rx", CM_REQ_OFFERED, 1);
    cm_ledger_change ch = change(&v, 0);
    add_take(&ch, "w2", 1, 0, 0, 0, 0);
    add_take(&ch, bad[b], 1, 0, 0, 0, 0);
    cm_ledger_result res = commit1(l, &ch);
    cr_assert_eq(res.refusal, CM_LEDGER_WORKER, "%s refused", bad[b]);
    cr_assert_eq(res.worker, 1);
    cr_assert_eq(version_of(l, "rx"), 0, "a refused change writes nothing");
  }
  /* w1 takes r1: capacity 1, so offered */
  cm_request_view v = record("r1", CM_REQ_OFFERED, 1);
  cm_ledger_change ch = change(&v, 0);
  add_take(&ch, "w1", 1, 0, 0, 0, 0);
  cr_assert_eq(commit1(l, &ch).refusal, CM_LEDGER_OK);
  cr_assert_eq(worker_of(l, "w1").status, CM_WORKER_OFFERED);
  cr_assert_eq(worker_of(l, "w2").status, CM_WORKER_AVAILABLE,
               "the refused changes took nothing of w2");
  /* full now: a second job refused */
  cm_request_view v2 = record("r2", CM_REQ_OFFERED, 1);
  ch = change(&v2, 0);
  add_take(&ch, "w1", 1, 0, 0, 0, 0);
  cm_ledger_result res = commit1(l, &ch);
  cr_assert_eq(res.refusal, CM_LEDGER_WORKER);
  cr_assert_eq(res.worker, 0);
  /* an upsert keeps the jobs the ledger counts */
  put(l, "w1", 1);
  cr_assert_eq(worker_of(l, "w1").status, CM_WORKER_OFFERED);
  /* accepted: busy */
  v.state = CM_REQ_ACCEPTED;
  v.version = 2;
  ch = change(&v, 1);
  add_take(&ch, "w1", 0, 0, 1, 0, 0);
  cr_assert_eq(commit1(l, &ch).refusal, CM_LEDGER_OK);
  cr_assert_eq(worker_of(l, "w1").status, CM_WORKER_BUSY);
  /* done for an elder: available again, jobs_today + 1, elder kept */
  int today = worker_of(l, "w1").jobs_today;
  v.state = CM_REQ_DONE;
  v.version = 3;
  ch = change(&v, 2);
  add_take(&ch, "w1", 0, 1, -1, 1, 0xe1de7ULL);
  cr_assert_eq(commit1(l, &ch).refusal, CM_LEDGER_OK);
  cm_worker w1 = worker_of(l, "w1");
  cr_assert_eq(w1.status, CM_WORKER_AVAILABLE);
  cr_assert_eq(w1.jobs_today, today + 1);
  cr_assert_eq(w1.n_elders, 1);
  cr_assert_eq(w1.elders[0], 0xe1de7ULL);
  /* a busy worker put off shift stays off; on shift it is busy again */
  cm_request_view v3 = record("r3", CM_REQ_ACCEPTED, 1);
  ch = change(&v3, 0);
  add_take(&ch, "w1", 1, 0, 1, 0, 0);
  cr_assert_eq(commit1(l, &ch).refusal, CM_LEDGER_OK);
  cr_assert_eq(worker_of(l, "w1").status, CM_WORKER_BUSY);
  cr_assert_eq(l->type->worker_shift(l, "w1", 0, NULL), CM_OK);
  cr_assert_eq(worker_of(l, "w1").status, CM_WORKER_OFFLINE);
  cr_assert_eq(l->type->worker_shift(l, "w1", 1, NULL), CM_OK);
  cr_assert_eq(worker_of(l, "w1").status, CM_WORKER_BUSY);
  c->close(c->ctx, l);
}

void cm_ledger_contract_group(const cm_ledger_contract *c) {
  cm_ledger *l = open_fresh(c);
  put(l, "w1", 2);
  cm_request_view v[4];
  cm_ledger_change ch[4];
  for (int i = 0; i < 4; i++) {
    char id[8];
    snprintf(id, sizeof id, "g%d", i);
    v[i] = record(id, CM_REQ_OFFERED, 1);
    ch[i] = change(&v[i], 0);
    add_take(&ch[i], "w1", 1, 0, 0, 0, 0);
  }
  ch[2].expect_version = 5; /* refused on its own: no such version */
  cm_ledger_result res[4];
  cm_error err;
  cr_assert_eq(l->type->commit(l, ch, 4, res, &err), CM_OK, "%s", err.message);
  cr_assert_eq(res[0].refusal, CM_LEDGER_OK);
  cr_assert_eq(res[1].refusal, CM_LEDGER_OK);
  cr_assert_eq(res[2].refusal, CM_LEDGER_VERSION);
  cr_assert_eq(res[3].refusal, CM_LEDGER_WORKER, "w1 is full after two");
  cr_assert_eq(version_of(l, "g0"), 1);
  cr_assert_eq(version_of(l, "g1"), 1);
  cr_assert_eq(version_of(l, "g2"), 0);
  cr_assert_eq(version_of(l, "g3"), 0);
  cr_assert_eq(worker_of(l, "w1").status, CM_WORKER_OFFERED);
  cr_assert_eq(l->type->commit(l, ch, 0, res, &err), CM_OK, "none is fine");
  c->close(c->ctx, l);
}

typedef struct listing {
  char ids[16][CM_ID_MAX];
  int n;
} listing;

static void list_live(void *ctx, const cm_request_view *v) {
  listing *s = ctx;
  cr_assert_lt(s->n, 16);
  snprintf(s->ids[s->n++], CM_ID_MAX, "%s", v->spec.id);
}

static void expect_live(cm_ledger *l, const char *const *ids, int n) {
  listing s = {.n = 0};
  cr_assert_eq(l->type->each_live(l, list_live, &s, NULL), CM_OK);
  cr_assert_eq(s.n, n, "%d live, %d expected", s.n, n);
  for (int i = 0; i < n; i++)
    cr_assert_str_eq(s.ids[i], ids[i], "live[%d]", i);
}

void cm_ledger_contract_live(const cm_ledger_contract *c) {
  cm_ledger *l = open_fresh(c);
  const char *names[] = {"m", "b", "z", "a", "k"};
  cm_request_view v[5];
  for (int i = 0; i < 5; i++) {
    v[i] = record(names[i], CM_REQ_PENDING, 1);
    cm_ledger_change ch = change(&v[i], 0);
    cr_assert_eq(commit1(l, &ch).refusal, CM_LEDGER_OK);
  }
  expect_live(l, names, 5);
  /* z done, b cancelled, m offered: m stays, in its place */
  cm_request_state to[] = {CM_REQ_OFFERED, CM_REQ_CANCELLED, CM_REQ_DONE};
  for (int i = 0; i < 3; i++) {
    v[i].state = to[i];
    v[i].version = 2;
    cm_ledger_change ch = change(&v[i], 1);
    cr_assert_eq(commit1(l, &ch).refusal, CM_LEDGER_OK);
  }
  const char *left[] = {"m", "a", "k"};
  expect_live(l, left, 3);
  cm_ledger *again = c->open(c->ctx, 0);
  cr_assert_not_null(again);
  expect_live(again, left, 3);
  cr_assert_eq(version_of(again, "z"), 2, "finished records are kept");
  c->close(c->ctx, again);
  cr_assert_eq(l->type->each_live(l, NULL, NULL, NULL), CM_E_INVALID);
  c->close(c->ctx, l);
}

void cm_ledger_contract_worker_errors(const cm_ledger_contract *c) {
  cm_ledger *l = open_fresh(c);
  put(l, "w1", 1);
  cm_error err;
  cm_worker w = cm_fx_worker("", CM_FX_NURSE, 0, 0, 1, CM_FX_T0);
  cr_assert_eq(l->type->worker_upsert(l, &w, &err), CM_E_INVALID);
  cr_assert_str_eq(err.field, "$.id");
  w = cm_fx_worker("w2", CM_FX_NURSE, 0, 0, 1, CM_FX_T0);
  w.lat = 91;
  cr_assert_eq(l->type->worker_upsert(l, &w, &err), CM_E_RANGE);
  cr_assert_str_eq(err.field, "$.lat");
  found f = {.id = "w2"};
  cr_assert_eq(l->type->each_worker(l, find_worker, &f, NULL), CM_OK);
  cr_assert_eq(f.n, 0, "a refused upsert writes nothing");
  /* positions: all or nothing */
  const char *ids[] = {"w1", "nobody"};
  double lat[] = {CM_FX_LAT0 + 0.01, CM_FX_LAT0}, lon[] = {CM_FX_LON0, 200};
  int64_t seen[] = {CM_FX_T0 + 5, CM_FX_T0 + 5};
  cm_worker before = worker_of(l, "w1");
  cr_assert_eq(l->type->worker_positions(l, 2, ids, lat, lon, seen, &err),
               CM_E_RANGE);
  cr_assert_str_eq(err.field, "$.positions[1].lon");
  lon[1] = CM_FX_LON0;
  cr_assert_eq(l->type->worker_positions(l, 2, ids, lat, lon, seen, &err),
               CM_E_UNKNOWN_ID);
  cr_assert_str_eq(err.field, "$.positions[1].id");
  cr_assert_eq(worker_of(l, "w1").lat, before.lat, "nothing moved");
  cr_assert_eq(l->type->worker_positions(l, 1, ids, lat, lon, seen, &err),
               CM_OK, "%s", err.message);
  cm_worker moved = worker_of(l, "w1");
  cr_assert_float_eq(moved.lat, lat[0], 1e-9);
  cr_assert_eq(moved.seen_ms, seen[0]);
  cr_assert_eq(l->type->worker_shift(l, "nobody", 0, &err), CM_E_UNKNOWN_ID);
  c->close(c->ctx, l);
}

/* ------------------------------------------------ proposals (async.md) */

#define PROPOSALS_MAX 8

typedef struct completions {
  int calls[PROPOSALS_MAX];               /* completions per proposal */
  int order[PROPOSALS_MAX], n_order;      /* proposals in completion order */
  cm_status st[PROPOSALS_MAX];            /* their status */
  cm_ledger_result res[PROPOSALS_MAX][4]; /* their results */
} completions;

typedef struct tag {
  completions *log;
  int id; /* the proposal's index */
} tag;

static void on_done(void *ctx, cm_status st, const cm_ledger_result *res, int n,
                    const cm_error *err) {
  tag *t = ctx;
  completions *c = t->log;
  cr_assert_lt(t->id, PROPOSALS_MAX);
  cr_assert_not_null(err, "a completion always has its error struct");
  cr_assert_eq(err->code, st, "the error is the status");
  c->calls[t->id]++;
  c->order[c->n_order++] = t->id;
  c->st[t->id] = st;
  cr_assert(st != CM_OK || res, "results with CM_OK");
  for (int i = 0; st == CM_OK && i < n && i < 4; i++)
    c->res[t->id][i] = res[i];
}

static void run_loop(const cm_ledger_contract *c, cm_ledger *l) {
  if (c->run)
    c->run(c->ctx, l);
}

/* Propose one submission of request id (version 0 -> 1) as proposal t. */
static cm_status propose_submit(cm_ledger *l, const char *id, tag *t) {
  cm_request_view v = record(id, CM_REQ_PENDING, 1);
  cm_ledger_change ch = change(&v, 0);
  cm_error err;
  cm_status st = cm_ledger_propose(l, &ch, 1, on_done, t, &err);
  memset(&v, 0x5a, sizeof v); /* the ledger kept its own copy */
  return st;
}

void cm_ledger_contract_propose(const cm_ledger_contract *c) {
  cm_ledger *l = open_fresh(c);
  put(l, "w1", 2);
  completions log;
  memset(&log, 0, sizeof log);
  tag t[PROPOSALS_MAX];
  for (int i = 0; i < PROPOSALS_MAX; i++)
    t[i] = (tag){&log, i};
  /* a group of three: two taken, the third refused (w1 is full) */
  cm_request_view v[3];
  cm_ledger_change ch[3];
  for (int i = 0; i < 3; i++) {
    char id[8];
    snprintf(id, sizeof id, "p%d", i);
    v[i] = record(id, CM_REQ_OFFERED, 1);
    ch[i] = change(&v[i], 0);
    add_take(&ch[i], "w1", 1, 0, 0, 0, 0);
  }
  cm_error err;
  cr_assert_eq(cm_ledger_propose(l, ch, 3, on_done, &t[0], &err), CM_OK, "%s",
               err.message);
  run_loop(c, l);
  cr_assert_eq(log.calls[0], 1, "completed exactly once");
  cr_assert_eq(log.st[0], CM_OK);
  cr_assert_eq(log.res[0][0].refusal, CM_LEDGER_OK);
  cr_assert_eq(log.res[0][1].refusal, CM_LEDGER_OK);
  cr_assert_eq(log.res[0][2].refusal, CM_LEDGER_WORKER);
  cr_assert_eq(version_of(l, "p1"), 1);
  cr_assert_eq(version_of(l, "p2"), 0);
  /* bad arguments: refused here, no completion */
  cr_assert_eq(cm_ledger_propose(l, ch, 1, NULL, &t[1], &err), CM_E_INVALID);
  cr_assert_eq(cm_ledger_propose(l, NULL, 1, on_done, &t[1], &err),
               CM_E_INVALID);
  cr_assert_eq(cm_ledger_propose(NULL, ch, 1, on_done, &t[1], &err),
               CM_E_INVALID);
  run_loop(c, l);
  cr_assert_eq(log.calls[1], 0, "no completion for a refused proposal");

  /* held back by the fault wrapper: completions come later, in order */
  cm_fault_ledger f;
  cm_fault_ledger_init(&f, l);
  cm_fault_ledger_defer(&f, 1);
  memset(&log, 0, sizeof log);
  cr_assert_eq(propose_submit(&f.base, "a1", &t[0]), CM_OK);
  cr_assert_eq(propose_submit(&f.base, "a2", &t[1]), CM_OK);
  cr_assert_eq(propose_submit(&f.base, "a1", &t[2]), CM_OK);
  cr_assert_eq(log.n_order, 0, "nothing completes before the loop runs");
  cr_assert_eq(version_of(l, "a1"), 0, "nothing written before the loop");
  cr_assert_eq(cm_fault_ledger_run(&f), 3);
  cr_assert_eq(log.n_order, 3);
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(log.order[i], i, "completions in proposal order");
    cr_assert_eq(log.calls[i], 1);
    cr_assert_eq(log.st[i], CM_OK);
  }
  cr_assert_eq(log.res[2][0].refusal, CM_LEDGER_VERSION,
               "the second submission of a1 sees the first");
  cr_assert_eq(version_of(l, "a2"), 1);
  /* lost before it was written, written with its answer lost, dropped in
     flight: each completes once with CM_E_UNAVAILABLE */
  memset(&log, 0, sizeof log);
  cm_fault_ledger_arm(&f, 1, CM_FAULT_BEFORE);
  cr_assert_eq(propose_submit(&f.base, "b1", &t[0]), CM_OK);
  cm_fault_ledger_run(&f);
  cm_fault_ledger_arm(&f, 1, CM_FAULT_AFTER);
  cr_assert_eq(propose_submit(&f.base, "b2", &t[1]), CM_OK);
  cm_fault_ledger_run(&f);
  cm_fault_ledger_arm(&f, 0, CM_FAULT_BEFORE);
  cr_assert_eq(propose_submit(&f.base, "b3", &t[2]), CM_OK);
  cr_assert_eq(propose_submit(&f.base, "b4", &t[3]), CM_OK);
  cr_assert_eq(cm_fault_ledger_drop(&f), 2);
  for (int i = 0; i < 4; i++) {
    cr_assert_eq(log.calls[i], 1, "proposal %d completed once", i);
    cr_assert_eq(log.st[i], CM_E_UNAVAILABLE, "proposal %d", i);
  }
  cr_assert_eq(version_of(l, "b1"), 0, "lost before: not written");
  cr_assert_eq(version_of(l, "b2"), 1, "answer lost: written");
  cr_assert_eq(version_of(l, "b3"), 0, "dropped: not written");
  cr_assert_eq(version_of(l, "b4"), 0, "dropped: not written");
  cr_assert_eq(f.proposals, 7);
  cr_assert_eq(f.completions, 7);
  /* freeing the wrapper drops what still waits (no leak, completed once) */
  memset(&log, 0, sizeof log);
  cr_assert_eq(propose_submit(&f.base, "c1", &t[0]), CM_OK);
  cm_ledger_free(&f.base);
  cr_assert_eq(log.calls[0], 1);
  cr_assert_eq(log.st[0], CM_E_UNAVAILABLE);
  c->close(c->ctx, l);
}

/* ---- worker writes proposed (cm_ledger_worker_propose) ---- */

typedef struct wtold {
  int calls;
  cm_status st;
  int order; /* when it completed, from 1 */
} wtold;

static int g_wseq;

static void on_wdone(void *ctx, cm_status st, const cm_ledger_result *res,
                     int n, const cm_error *err) {
  wtold *t = ctx;
  cr_assert_null(res, "a worker write has no results");
  cr_assert_eq(n, 0);
  cr_assert_not_null(err, "a completion always has its error struct");
  cr_assert_eq(err->code, st, "the error is the status");
  t->calls++;
  t->st = st;
  t->order = ++g_wseq;
}

void cm_ledger_contract_worker_propose(const cm_ledger_contract *c) {
  cm_ledger *l = open_fresh(c);
  put(l, "w1", 2);
  wtold t[6];
  memset(t, 0, sizeof t);
  g_wseq = 0;
  cm_error err;
  cm_worker w2 = cm_fx_worker("w2", CM_FX_NURSE, 1.0, 0.0, 1, CM_FX_T0);
  cm_ledger_worker_write up = {.op = CM_LEDGER_W_UPSERT, .worker = &w2};
  cr_assert_eq(cm_ledger_worker_propose(l, &up, on_wdone, &t[0], &err), CM_OK,
               "%s", err.message);
  memset(&w2, 0x5a, sizeof w2); /* the ledger kept its own copy */
  const char *ids[2] = {"w1", "w2"};
  double lat[2] = {31.25, 31.26}, lon[2] = {121.45, 121.46};
  int64_t seen[2] = {CM_FX_T0 + 5, CM_FX_T0 + 6};
  cm_ledger_worker_write pos = {.op = CM_LEDGER_W_POSITIONS,
                                .n = 2,
                                .ids = ids,
                                .lat = lat,
                                .lon = lon,
                                .seen_ms = seen};
  cr_assert_eq(cm_ledger_worker_propose(l, &pos, on_wdone, &t[1], &err), CM_OK,
               "%s", err.message);
  cm_ledger_worker_write off = {.op = CM_LEDGER_W_SHIFT, .id = "w1"};
  cr_assert_eq(cm_ledger_worker_propose(l, &off, on_wdone, &t[2], &err), CM_OK,
               "%s", err.message);
  cm_ledger_worker_write nobody = {
      .op = CM_LEDGER_W_SHIFT, .id = "nobody", .on_shift = 1};
  cr_assert_eq(cm_ledger_worker_propose(l, &nobody, on_wdone, &t[3], &err),
               CM_OK, "%s", err.message);
  /* refused here, no completion */
  cr_assert_eq(cm_ledger_worker_propose(l, &off, NULL, &t[4], &err),
               CM_E_INVALID);
  cr_assert_eq(cm_ledger_worker_propose(NULL, &off, on_wdone, &t[4], &err),
               CM_E_INVALID);
  cm_ledger_worker_write bad = {.op = (cm_ledger_worker_op)99};
  cr_assert_eq(cm_ledger_worker_propose(l, &bad, on_wdone, &t[4], &err),
               CM_E_INVALID);
  run_loop(c, l);
  for (int i = 0; i < 4; i++) {
    cr_assert_eq(t[i].calls, 1, "write %d completed exactly once", i);
    cr_assert_eq(t[i].order, i + 1, "in proposal order");
  }
  cr_assert_eq(t[4].calls, 0, "no completion for a refused write");
  cr_assert_eq(t[0].st, CM_OK);
  cr_assert_eq(t[1].st, CM_OK);
  cr_assert_eq(t[2].st, CM_OK);
  cr_assert_eq(t[3].st, CM_E_UNKNOWN_ID, "the synchronous shift's answer");
  cm_worker got = worker_of(l, "w2");
  cr_assert_eq(got.capacity, 1);
  cr_assert_eq(got.lat, 31.26);
  cr_assert_eq(got.seen_ms, CM_FX_T0 + 6);
  got = worker_of(l, "w1");
  cr_assert_eq(got.lon, 121.45);
  cr_assert_eq(got.status, CM_WORKER_OFFLINE);
  c->close(c->ctx, l);
}

/* ------------------------------------------------ the engine on a ledger */

#define N_FX_WORKERS 4
#define N_FX_REQUESTS 5

typedef struct node {
  cm_ledger *handle;     /* from open */
  cm_fault_ledger fault; /* over handle: the engine's ledger */
  cm_store *mirror;
  cm_engine *eng;
} node;

static void node_open(const cm_ledger_contract *c, node *n, int fresh) {
  memset(n, 0, sizeof *n);
  n->handle = c->open(c->ctx, fresh);
  cr_assert_not_null(n->handle);
  cm_fault_ledger_init(&n->fault, n->handle);
  n->mirror = cm_store_memory_new(0);
  cr_assert_not_null(n->mirror);
  cm_engine_config cfg;
  cm_engine_config_init(&cfg);
  cfg.ledger = &n->fault.base;
  cfg.batch_window_ms = 100;
  cfg.offer_ttl_ms = 60000;
  cm_error err;
  n->eng = cm_engine_new(&cfg, n->mirror, &err);
  cr_assert_not_null(n->eng, "%s", err.message);
  cr_assert_eq(cm_engine_sync(n->eng, CM_FX_T0, &err), CM_OK, "%s",
               err.message);
}

static void node_close(const cm_ledger_contract *c, node *n) {
  cm_engine_free(n->eng);
  cm_store_free(n->mirror);
  c->close(c->ctx, n->handle);
  memset(n, 0, sizeof *n);
}

static const char *req_id(int i) {
  static const char *ids[N_FX_REQUESTS] = {"r0", "r1", "r2", "r3", "r4"};
  return ids[i];
}

static const char *wrk_id(int i) {
  static const char *ids[N_FX_WORKERS] = {"w0", "w1", "w2", "w3"};
  return ids[i];
}

/* What a request is: absent (version 0), or its state and workers. */
typedef struct req_snap {
  uint64_t version;
  cm_request_state state;
  int n_workers;
  char workers[CM_MAX_STAFF][CM_ID_MAX];
  int accepted[CM_MAX_STAFF];
} req_snap;

typedef struct snap {
  req_snap r[N_FX_REQUESTS];
  int jobs[N_FX_WORKERS]; /* engine: open jobs; ledger: -1 */
} snap;

static void snap_view(req_snap *s, const cm_request_view *v) {
  memset(s, 0, sizeof *s);
  s->version = v->version;
  s->state = v->state;
  s->n_workers = v->n_workers;
  memcpy(s->workers, v->workers, (size_t)v->n_workers * CM_ID_MAX);
  memcpy(s->accepted, v->accepted, (size_t)v->n_workers * sizeof(int));
}

static snap engine_snap(const node *n) {
  snap s;
  memset(&s, 0, sizeof s);
  for (int i = 0; i < N_FX_REQUESTS; i++) {
    cm_request_view v;
    if (cm_engine_holds(n->eng, req_id(i)) &&
        cm_engine_request_get(n->eng, req_id(i), &v, NULL) == CM_OK)
      snap_view(&s.r[i], &v);
  }
  for (int i = 0; i < N_FX_WORKERS; i++)
    s.jobs[i] = cm_engine_worker_jobs(n->eng, wrk_id(i));
  return s;
}

static snap ledger_snap(cm_ledger *l) {
  snap s;
  memset(&s, 0, sizeof s);
  for (int i = 0; i < N_FX_REQUESTS; i++) {
    cm_request_view v;
    cm_status st = l->type->get(l, req_id(i), &v, NULL);
    cr_assert(st == CM_OK || st == CM_E_UNKNOWN_ID, "get %s", req_id(i));
    if (st == CM_OK)
      snap_view(&s.r[i], &v);
  }
  for (int i = 0; i < N_FX_WORKERS; i++)
    s.jobs[i] = -1;
  return s;
}

/* a and b agree on every request (and on jobs unless either is -1). */
static void same(const snap *a, const snap *b, const char *what, int op,
                 int nth) {
  for (int i = 0; i < N_FX_REQUESTS; i++) {
    const req_snap *x = &a->r[i], *y = &b->r[i];
    cr_assert_eq(x->version, y->version,
                 "%s after op %d (commit %d failing): %s version %llu vs %llu",
                 what, op, nth, req_id(i), (unsigned long long)x->version,
                 (unsigned long long)y->version);
    cr_assert_eq(x->state, y->state, "%s after op %d (commit %d): %s state",
                 what, op, nth, req_id(i));
    cr_assert_eq(x->n_workers, y->n_workers, "%s after op %d: %s workers", what,
                 op, req_id(i));
    for (int k = 0; k < x->n_workers; k++) {
      cr_assert_str_eq(x->workers[k], y->workers[k], "%s op %d: %s worker %d",
                       what, op, req_id(i), k);
      cr_assert_eq(x->accepted[k], y->accepted[k], "%s op %d: %s accepted",
                   what, op, req_id(i));
    }
  }
  for (int i = 0; i < N_FX_WORKERS; i++)
    if (a->jobs[i] >= 0 && b->jobs[i] >= 0)
      cr_assert_eq(a->jobs[i], b->jobs[i],
                   "%s after op %d (commit %d): %s jobs", what, op, nth,
                   wrk_id(i));
}

/* The offered worker of request i, or NULL. */
static const char *offered_to(node *n, int i, char buf[CM_ID_MAX]) {
  cm_request_view v;
  if (cm_engine_request_get(n->eng, req_id(i), &v, NULL) != CM_OK ||
      v.state != CM_REQ_OFFERED || v.n_workers < 1)
    return NULL;
  snprintf(buf, CM_ID_MAX, "%s", v.workers[0]);
  return buf;
}

#define N_OPS 13
#define OP_SHIFT 11 /* a worker goes off shift */

/* Operation op of the run. Returns 1 when it succeeded (or had nothing to
 * do), 0 when it reported an error. */
static int run_op(node *n, int op) {
  cm_error err;
  char who[CM_ID_MAX];
  int64_t t = CM_FX_T0 + 1000 * (op + 1);
  cm_request_spec s;
  switch (op) {
  case 0: /* four workers, one of them a caregiver too */
    for (int i = 0; i < N_FX_WORKERS; i++) {
      cm_worker w = cm_fx_worker(wrk_id(i), CM_FX_NURSE | CM_FX_CAREGIVER,
                                 0.3 * (i + 1), 0.0, 1, t);
      if (cm_engine_worker_upsert(n->eng, &w, t, &err) != CM_OK)
        return 0;
    }
    return 1;
  case 1:
  case 2:
  case 3:
    s = cm_fx_spec(req_id(op - 1), CM_FX_NURSE, 1, CM_URGENCY_NORMAL, 0.1 * op);
    return cm_engine_submit(n->eng, &s, t, &err) == CM_OK;
  case 4: /* a batch: three offers */
  case 10:
    return cm_engine_step(n->eng, t, NULL, &err) == CM_OK;
  case 5:
    return !offered_to(n, 0, who) ||
           cm_engine_accept(n->eng, req_id(0), who, t, &err) == CM_OK;
  case 6:
    return !offered_to(n, 1, who) ||
           cm_engine_reject(n->eng, req_id(1), who, t, &err) == CM_OK;
  case 7:
    return cm_engine_complete(n->eng, req_id(0), t, &err) == CM_OK;
  case 8:
    return cm_engine_cancel(n->eng, req_id(2), t, &err) == CM_OK;
  case 9:
    s = cm_fx_spec(req_id(3), CM_FX_NURSE, 1, CM_URGENCY_NORMAL, 0.2);
    return cm_engine_submit(n->eng, &s, t, &err) == CM_OK;
  case OP_SHIFT: /* the worker offered r1 goes off shift: the offer is withdrawn
                  */
    return !offered_to(n, 1, who) ||
           cm_engine_worker_shift(n->eng, who, 0, t, &err) == CM_OK;
  default: /* 12: the withdrawn request offered again */
    return cm_engine_step(n->eng, t, NULL, &err) == CM_OK;
  }
}

/* A second engine recovering from the ledger has a's state: its live
 * requests (finished ones are the ledger's history, not held) and jobs. */
static void recovered_same(const cm_ledger_contract *c, const snap *a,
                           const char *what, int op, int nth) {
  snap live = *a;
  for (int i = 0; i < N_FX_REQUESTS; i++)
    if (live.r[i].state == CM_REQ_DONE || live.r[i].state == CM_REQ_CANCELLED)
      memset(&live.r[i], 0, sizeof live.r[i]);
  node r;
  node_open(c, &r, 0);
  snap b = engine_snap(&r);
  same(&live, &b, what, op, nth);
  node_close(c, &r);
}

void cm_ledger_contract_engine_recovery(const cm_ledger_contract *c) {
  node n;
  node_open(c, &n, 1);
  int offered = 0;
  for (int op = 0; op < N_OPS; op++) {
    cr_assert(run_op(&n, op), "op %d succeeds", op);
    snap e = engine_snap(&n), l = ledger_snap(n.handle);
    same(&e, &l, "engine vs ledger", op, 0);
    recovered_same(c, &e, "recovered", op, 0);
    for (int i = 0; i < N_FX_REQUESTS; i++)
      offered += e.r[i].state == CM_REQ_OFFERED;
  }
  cr_assert_gt(offered, 0, "the run offers something");
  cr_assert_gt(n.fault.commits, 10, "the run commits");
  node_close(c, &n);
}

/* The run with commit nth failing as `when` says. Returns 1 when that
 * commit happened. */
static int fault_run(const cm_ledger_contract *c, int nth, cm_fault_when when) {
  node n;
  node_open(c, &n, 1);
  cm_fault_ledger_arm(&n.fault, nth, when);
  int hit = 0;
  for (int op = 0; op < N_OPS && !hit; op++) {
    snap before = engine_snap(&n), ledger_before = ledger_snap(n.handle);
    int ok = run_op(&n, op);
    if (!n.fault.failed) {
      cr_assert(ok, "op %d succeeds (commit %d fails later)", op, nth);
      continue;
    }
    hit = 1;
    /* the shift is written; the withdrawal of its offer that failed is
       left to the resynchronisation (engine_workers.c) */
    if (op != OP_SHIFT)
      cr_assert_not(ok, "op %d reports the failed commit %d", op, nth);
    snap after = engine_snap(&n);
    same(&before, &after, "the engine changed nothing", op, nth);
    snap ledger = ledger_snap(n.handle);
    if (when == CM_FAULT_BEFORE) {
      same(&ledger_before, &ledger, "the ledger changed nothing", op, nth);
      recovered_same(c, &before, "recovery sees the state before", op, nth);
    } else {
      recovered_same(c, &ledger, "recovery sees what was committed", op, nth);
    }
    /* the engine itself resynchronises to the ledger */
    cm_error err;
    cr_assert_eq(cm_engine_sync(n.eng, CM_FX_T0 + 100000, &err), CM_OK, "%s",
                 err.message);
    snap synced = engine_snap(&n);
    same(&synced, &ledger, "resynchronised", op, nth);
  }
  node_close(c, &n);
  return hit;
}

static void every_fault(const cm_ledger_contract *c, cm_fault_when when) {
  int nth = 1;
  while (fault_run(c, nth, when))
    nth++;
  cr_assert_gt(nth, 10, "%d commits failed in turn", nth - 1);
}

void cm_ledger_contract_fault_before(const cm_ledger_contract *c) {
  every_fault(c, CM_FAULT_BEFORE);
}

void cm_ledger_contract_fault_after(const cm_ledger_contract *c) {
  every_fault(c, CM_FAULT_AFTER);
}
