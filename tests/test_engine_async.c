/* test_engine_async.c -- the engine's asynchronous transitions
 * (cm_engine_*_async, docs/async.md) on the memory ledger: at once
 * without a ledger and on a ledger that completes at once; held back by
 * the fault wrapper (tests/support/ledger_fault.h) as an event loop
 * would: completions later and in order, changes queued behind the one in
 * flight on the same request, reads of the last applied state, a batch
 * leaving a request in flight alone, a lost connection, and an engine
 * freed with changes in flight; a batch's offers proposed
 * (cm_engine_batch_end_async): the requests held, the takes counted;
 * an operator's pin's offer proposed at the batch's begin. */
#include <criterion/criterion.h>
#include <string.h>

#include "carematch/engine.h"
#include "carematch/ledger.h"
#include "carematch/store.h"
#include "engine_fx.h"
#include "fixtures.h"
#include "ledger_fault.h"

#define CALLS_MAX 16

typedef struct told {
  int n;                /* completions so far */
  int order[CALLS_MAX]; /* call index of each, in completion order */
  cm_status st[CALLS_MAX];
  int times[CALLS_MAX]; /* completions per call */
} told;

typedef struct call {
  told *log;
  int id;
} call;

static told g_log;
static call g_call[CALLS_MAX];

static void on_done(void *ctx, cm_status st, const cm_error *err) {
  call *c = ctx;
  cr_assert_not_null(err);
  cr_assert_eq(err->code, st, "the error is the status");
  c->log->order[c->log->n++] = c->id;
  c->log->st[c->id] = st;
  c->log->times[c->id]++;
}

typedef struct rig {
  cm_ledger *mem;
  cm_fault_ledger fault;
  cm_store *store;
  cm_engine *eng;
} rig;

/* An engine over the fault wrapper over a memory ledger; deferred says
 * whether proposals wait for cm_fault_ledger_run. One worker, w1. */
static void rig_open(rig *g, int deferred) {
  memset(g, 0, sizeof *g);
  memset(&g_log, 0, sizeof g_log);
  for (int i = 0; i < CALLS_MAX; i++)
    g_call[i] = (call){&g_log, i};
  cm_error err;
  g->mem = cm_ledger_memory_new(&err);
  cr_assert_not_null(g->mem);
  cm_fault_ledger_init(&g->fault, g->mem);
  cm_fault_ledger_defer(&g->fault, deferred);
  g->store = cm_store_memory_new(0);
  cm_engine_config cfg;
  cm_engine_config_init(&cfg);
  cfg.ledger = &g->fault.base;
  cfg.reserve_workers = 0; /* one worker: no emergency reserve */
  g->eng = cm_engine_new(&cfg, g->store, &err);
  cr_assert_not_null(g->eng, "%s", err.message);
  cr_assert_eq(cm_engine_sync(g->eng, CM_FX_T0, &err), CM_OK, "%s",
               err.message);
  cm_worker w = cm_fx_worker("w1", CM_FX_NURSE, 0.5, 0, 2, CM_FX_T0);
  cr_assert_eq(cm_engine_worker_upsert(g->eng, &w, CM_FX_T0, &err), CM_OK, "%s",
               err.message);
}

static void rig_close(rig *g) {
  cm_engine_free(g->eng);
  cm_ledger_free(&g->fault.base);
  cm_ledger_free(g->mem);
  cm_store_free(g->store);
}

/* Run the held-back proposals until nothing is in flight. */
static void drain(rig *g) {
  for (int round = 0; round < 32 && cm_engine_in_flight(g->eng); round++)
    cm_fault_ledger_run(&g->fault);
  cr_assert_eq(cm_engine_in_flight(g->eng), 0);
}

static cm_request_state state_of(rig *g, const char *id) {
  cm_request_view v;
  cm_status st = cm_engine_request_get(g->eng, id, &v, NULL);
  return st == CM_OK ? v.state : CM_REQ_STATE_COUNT;
}

static cm_status submit(rig *g, const char *id, int c) {
  cm_request_spec s = cm_fx_spec(id, CM_FX_NURSE, 1, CM_URGENCY_NORMAL, 0);
  cm_error err;
  return cm_engine_submit_async(g->eng, &s, CM_FX_T0, on_done, &g_call[c],
                                &err);
}

Test(engine_async, completes_at_once_on_a_ledger_without_propose) {
  rig g;
  rig_open(&g, 0);
  cr_assert_eq(submit(&g, "r1", 0), CM_OK);
  cr_assert_eq(g_log.times[0], 1, "done ran before the call returned");
  cr_assert_eq(g_log.st[0], CM_OK);
  cr_assert_eq(state_of(&g, "r1"), CM_REQ_PENDING);
  cr_assert_eq(cm_engine_in_flight(g.eng), 0);
  cm_error err;
  cr_assert_eq(cm_engine_cancel_async(g.eng, "nobody", CM_FX_T0, on_done,
                                      &g_call[1], &err),
               CM_E_UNKNOWN_ID, "an error decided here is returned");
  cr_assert_eq(g_log.times[1], 0, "and done never runs");
  cr_assert_eq(
      cm_engine_cancel_async(g.eng, "r1", CM_FX_T0, on_done, &g_call[2], &err),
      CM_OK);
  cr_assert_eq(g_log.times[2], 1);
  cr_assert_eq(state_of(&g, "r1"), CM_REQ_CANCELLED);
  rig_close(&g);
}

Test(engine_async, no_ledger_completes_at_once) {
  cm_store *store = cm_store_memory_new(0);
  cm_engine_config cfg;
  cm_engine_config_init(&cfg);
  cm_error err;
  cm_engine *e = cm_engine_new(&cfg, store, &err);
  cr_assert_not_null(e);
  memset(&g_log, 0, sizeof g_log);
  g_call[0] = (call){&g_log, 0};
  cm_request_spec s = cm_fx_spec("r1", CM_FX_NURSE, 1, CM_URGENCY_NORMAL, 0);
  cr_assert_eq(
      cm_engine_submit_async(e, &s, CM_FX_T0, on_done, &g_call[0], &err),
      CM_OK);
  cr_assert_eq(g_log.times[0], 1);
  cr_assert_eq(cm_engine_submit_async(e, &s, CM_FX_T0, NULL, NULL, &err),
               CM_E_INVALID, "a completion is required");
  cm_engine_free(e);
  cm_store_free(store);
}

Test(engine_async, held_back_applies_on_completion_in_order) {
  rig g;
  rig_open(&g, 1);
  cr_assert_eq(submit(&g, "r1", 0), CM_OK);
  cr_assert_eq(submit(&g, "r2", 1), CM_OK);
  cr_assert_eq(g_log.n, 0, "nothing told before the ledger answered");
  cr_assert_eq(cm_engine_in_flight(g.eng), 2);
  cr_assert_eq(state_of(&g, "r1"), CM_REQ_STATE_COUNT,
               "reads see the last applied state");
  cm_error err;
  cr_assert_eq(cm_engine_cancel(g.eng, "r1", CM_FX_T0, &err), CM_E_UNAVAILABLE,
               "a synchronous call on a busy request");
  cr_assert_eq(cm_fault_ledger_run(&g.fault), 2);
  cr_assert_eq(g_log.n, 2);
  cr_assert_eq(g_log.order[0], 0);
  cr_assert_eq(g_log.order[1], 1);
  cr_assert_eq(g_log.st[0], CM_OK);
  cr_assert_eq(state_of(&g, "r1"), CM_REQ_PENDING);
  cr_assert_eq(state_of(&g, "r2"), CM_REQ_PENDING);
  cr_assert_eq(cm_engine_in_flight(g.eng), 0);
  rig_close(&g);
}

Test(engine_async, calls_on_one_request_queue_behind_in_call_order) {
  rig g;
  rig_open(&g, 1);
  cm_error err;
  cr_assert_eq(submit(&g, "r1", 0), CM_OK);
  cr_assert_eq(submit(&g, "r1", 1), CM_OK, "the same again: queued");
  cr_assert_eq(cm_engine_complete_async(g.eng, "r1", CM_FX_T0, on_done,
                                        &g_call[2], &err),
               CM_OK, "queued: checked when its turn comes");
  cr_assert_eq(
      cm_engine_cancel_async(g.eng, "r1", CM_FX_T0, on_done, &g_call[3], &err),
      CM_OK);
  cr_assert_eq(cm_engine_in_flight(g.eng), 4);
  drain(&g);
  cr_assert_eq(g_log.n, 4);
  for (int i = 0; i < 4; i++) {
    cr_assert_eq(g_log.order[i], i, "told in call order");
    cr_assert_eq(g_log.times[i], 1, "call %d told once", i);
  }
  cr_assert_eq(g_log.st[0], CM_OK);
  cr_assert_eq(g_log.st[1], CM_OK, "the same content: a no-op");
  cr_assert_eq(g_log.st[2], CM_E_CONFLICT, "pending, not accepted");
  cr_assert_eq(g_log.st[3], CM_OK);
  cr_assert_eq(state_of(&g, "r1"), CM_REQ_CANCELLED);
  cr_assert_eq(g.fault.proposals, 2, "submit and cancel went to the ledger");
  rig_close(&g);
}

Test(engine_async, accept_then_complete_back_to_back) {
  rig g;
  rig_open(&g, 1);
  cm_error err;
  cr_assert_eq(submit(&g, "r1", 0), CM_OK);
  drain(&g);
  int batches = 0;
  cr_assert_eq(cm_engine_step(g.eng, CM_FX_T0 + 1000, &batches, &err), CM_OK,
               "%s", err.message);
  cr_assert_eq(state_of(&g, "r1"), CM_REQ_OFFERED);
  cr_assert_eq(cm_engine_accept_async(g.eng, "r1", "w1", CM_FX_T0 + 1100,
                                      on_done, &g_call[1], &err),
               CM_OK, "%s", err.message);
  cr_assert_eq(cm_engine_complete_async(g.eng, "r1", CM_FX_T0 + 1200, on_done,
                                        &g_call[2], &err),
               CM_OK);
  cr_assert_eq(state_of(&g, "r1"), CM_REQ_OFFERED, "nothing applied yet");
  drain(&g);
  cr_assert_eq(g_log.st[1], CM_OK);
  cr_assert_eq(g_log.st[2], CM_OK);
  cr_assert_eq(state_of(&g, "r1"), CM_REQ_DONE);
  cr_assert_eq(cm_engine_worker_jobs(g.eng, "w1"), 0);
  cm_request_view v;
  cr_assert_eq(g.mem->type->get(g.mem, "r1", &v, NULL), CM_OK);
  cr_assert_eq(v.state, CM_REQ_DONE, "the ledger agrees");
  rig_close(&g);
}

/* An offer that lapses at a batch's begin is proposed like any call's
 * change, not committed there and then: the daemon's loop is not held for
 * a round trip per lapsed offer. */
Test(engine_async, a_lapsed_offer_is_proposed_not_committed_at_once) {
  rig g;
  rig_open(&g, 1);
  cm_error err;
  cr_assert_eq(submit(&g, "r1", 0), CM_OK);
  drain(&g);
  cr_assert_eq(cm_engine_step(g.eng, CM_FX_T0 + 1000, NULL, &err), CM_OK, "%s",
               err.message);
  drain(&g);
  cm_request_view v;
  cr_assert_eq(cm_engine_request_get(g.eng, "r1", &v, NULL), CM_OK);
  cr_assert_eq(v.state, CM_REQ_OFFERED);
  cm_engine_batch *b = NULL;
  cr_assert_eq(cm_engine_batch_begin(g.eng, v.expires_ms, &b, &err), CM_OK,
               "%s", err.message);
  cr_assert_null(b, "nothing to batch while the lapse is in flight");
  cr_assert_eq(state_of(&g, "r1"), CM_REQ_OFFERED, "proposed, not applied");
  cr_assert_eq(cm_engine_in_flight(g.eng), 1);
  cr_assert_eq(cm_engine_batch_begin(g.eng, v.expires_ms + 1, &b, &err), CM_OK);
  cr_assert_null(b);
  cr_assert_eq(cm_engine_in_flight(g.eng), 1, "not proposed twice");
  drain(&g);
  cr_assert_eq(state_of(&g, "r1"), CM_REQ_PENDING);
  cr_assert_eq(cm_engine_request_get(g.eng, "r1", &v, NULL), CM_OK);
  cr_assert_eq(v.n_rejected, 1, "the worker who let it lapse, once");
  cr_assert_str_eq(v.rejected[0], "w1");
  cm_request_view lv;
  cr_assert_eq(g.mem->type->get(g.mem, "r1", &lv, NULL), CM_OK);
  cr_assert_eq(lv.state, CM_REQ_PENDING, "the ledger agrees");
  rig_close(&g);
}

Test(engine_async, a_batch_leaves_a_request_in_flight_alone) {
  rig g;
  rig_open(&g, 1);
  cm_error err;
  cr_assert_eq(submit(&g, "r1", 0), CM_OK);
  drain(&g);
  cr_assert_eq(cm_engine_cancel_async(g.eng, "r1", CM_FX_T0 + 10, on_done,
                                      &g_call[1], &err),
               CM_OK);
  int batches = 0;
  cr_assert_eq(cm_engine_step(g.eng, CM_FX_T0 + 1000, &batches, &err), CM_OK,
               "%s", err.message);
  cr_assert_eq(state_of(&g, "r1"), CM_REQ_PENDING, "not offered meanwhile");
  cr_assert_eq(cm_engine_worker_jobs(g.eng, "w1"), 0);
  drain(&g);
  cr_assert_eq(g_log.st[1], CM_OK);
  cr_assert_eq(state_of(&g, "r1"), CM_REQ_CANCELLED);
  rig_close(&g);
}

Test(engine_async, a_lost_connection_fails_the_queue_and_resyncs) {
  rig g;
  rig_open(&g, 1);
  cm_error err;
  cr_assert_eq(submit(&g, "r1", 0), CM_OK);
  cr_assert_eq(
      cm_engine_cancel_async(g.eng, "r1", CM_FX_T0, on_done, &g_call[1], &err),
      CM_OK);
  cr_assert_eq(submit(&g, "r2", 2), CM_OK);
  cr_assert_eq(cm_fault_ledger_drop(&g.fault), 2, "r1's submit and r2's");
  cr_assert_eq(g_log.n, 3);
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(g_log.st[i], CM_E_UNAVAILABLE, "call %d", i);
    cr_assert_eq(g_log.times[i], 1);
  }
  cr_assert_eq(cm_engine_in_flight(g.eng), 0);
  cm_engine_stats stats;
  cm_engine_stats_get(g.eng, &stats);
  cr_assert_eq(stats.resync_pending, 1, "results unknown: resynchronise");
  cr_assert_eq(cm_engine_sync(g.eng, CM_FX_T0 + 1, &err), CM_OK, "%s",
               err.message);
  cr_assert_eq(state_of(&g, "r1"), CM_REQ_STATE_COUNT, "never written");
  rig_close(&g);
}

Test(engine_async, the_rebuild_waits_for_changes_in_flight) {
  rig g;
  rig_open(&g, 1);
  cm_error err;
  cr_assert_eq(submit(&g, "r1", 0), CM_OK);
  cr_assert_eq(submit(&g, "r2", 1), CM_OK);
  cm_fault_ledger_arm(&g.fault, 1, CM_FAULT_AFTER); /* r1: answer lost */
  cr_assert_eq(cm_fault_ledger_run(&g.fault), 2);
  cr_assert_eq(g_log.st[0], CM_E_UNAVAILABLE);
  cr_assert_eq(g_log.st[1], CM_OK);
  cr_assert_eq(submit(&g, "r3", 2), CM_OK);
  cr_assert_eq(cm_engine_sync(g.eng, CM_FX_T0 + 1, &err), CM_E_UNAVAILABLE,
               "r3 is in flight: no rebuild under it");
  drain(&g);
  cr_assert_eq(cm_engine_sync(g.eng, CM_FX_T0 + 2, &err), CM_OK, "%s",
               err.message);
  cr_assert_eq(state_of(&g, "r1"), CM_REQ_PENDING,
               "written with its answer lost: the rebuild has it");
  cr_assert_eq(state_of(&g, "r3"), CM_REQ_PENDING);
  rig_close(&g);
}

Test(engine_async, freeing_the_engine_tells_every_change_in_flight) {
  rig g;
  rig_open(&g, 1);
  cm_error err;
  cr_assert_eq(submit(&g, "r1", 0), CM_OK);
  cr_assert_eq(
      cm_engine_cancel_async(g.eng, "r1", CM_FX_T0, on_done, &g_call[1], &err),
      CM_OK);
  cm_engine_free(g.eng);
  g.eng = NULL;
  cr_assert_eq(g_log.times[0], 1);
  cr_assert_eq(g_log.times[1], 1);
  cr_assert_eq(g_log.st[0], CM_E_UNAVAILABLE);
  cm_ledger_free(&g.fault.base); /* its completion frees the op */
  cr_assert_eq(g_log.times[0], 1, "told once only");
  cm_ledger_free(g.mem);
  cm_store_free(g.store);
}

/* One batch, its offers proposed (done: call c). */
static void batch_async(rig *g, int64_t at, int c) {
  cm_engine_batch *b = NULL;
  cm_error err;
  cr_assert_eq(cm_engine_batch_begin(g->eng, at, &b, &err), CM_OK, "%s",
               err.message);
  cr_assert_not_null(b, "a batch is due");
  cm_engine_batch_solve(b, &err);
  cr_assert_eq(
      cm_engine_batch_end_async(g->eng, b, at, on_done, &g_call[c], &err),
      CM_OK, "%s", err.message);
}

Test(engine_async, a_batchs_offers_hold_requests_and_count_takes) {
  rig g;
  rig_open(&g, 1); /* w1: capacity 2 */
  cm_error err;
  cm_worker w = cm_fx_worker("w1", CM_FX_NURSE, 0.5, 0, 1, CM_FX_T0);
  cr_assert_eq(cm_engine_worker_upsert(g.eng, &w, CM_FX_T0, &err), CM_OK);
  cm_request_spec s = cm_fx_spec("r1", CM_FX_NURSE, 1, CM_URGENCY_EMERGENCY, 0);
  cr_assert_eq(
      cm_engine_submit_async(g.eng, &s, CM_FX_T0, on_done, &g_call[0], &err),
      CM_OK);
  drain(&g);
  batch_async(&g, CM_FX_T0 + 10, 1);
  cr_assert_eq(g_log.times[1], 0, "the offers wait for the ledger");
  cr_assert_eq(state_of(&g, "r1"), CM_REQ_PENDING, "nothing applied yet");
  cr_assert_eq(cm_engine_accept_async(g.eng, "r1", "w1", CM_FX_T0 + 20, on_done,
                                      &g_call[2], &err),
               CM_OK, "a call on a held request waits");
  cr_assert_eq(cm_engine_cancel(g.eng, "r1", CM_FX_T0 + 20, &err),
               CM_E_UNAVAILABLE, "a synchronous one is refused");
  /* a second request and batch meanwhile: w1's take is in flight, so
     w1 (capacity 1) is full for it */
  s = cm_fx_spec("r2", CM_FX_NURSE, 1, CM_URGENCY_EMERGENCY, 0);
  cr_assert_eq(cm_engine_submit_async(g.eng, &s, CM_FX_T0 + 30, on_done,
                                      &g_call[3], &err),
               CM_OK);
  cm_fault_ledger_run(&g.fault); /* r2's submission, and r1's offer */
  drain(&g);
  cr_assert_eq(g_log.st[1], CM_OK, "the batch's completion");
  cr_assert_eq(g_log.st[2], CM_OK, "the accept, after the offer");
  cr_assert_eq(state_of(&g, "r1"), CM_REQ_ACCEPTED);
  int batches = 0;
  cr_assert_eq(cm_engine_step(g.eng, CM_FX_T0 + 2000, &batches, &err), CM_OK,
               "%s", err.message);
  cr_assert_eq(state_of(&g, "r2"), CM_REQ_PENDING, "w1 is full");
  cr_assert_eq(cm_engine_worker_jobs(g.eng, "w1"), 1);
  cm_engine_stats st;
  cm_engine_stats_get(g.eng, &st);
  cr_assert_eq(st.refused, 0, "no offer the ledger had to refuse");
  rig_close(&g);
}

Test(engine_async, a_take_in_flight_counts_for_the_next_batch) {
  rig g;
  rig_open(&g, 1);
  cm_error err;
  cm_worker w = cm_fx_worker("w1", CM_FX_NURSE, 0.5, 0, 1, CM_FX_T0);
  cr_assert_eq(cm_engine_worker_upsert(g.eng, &w, CM_FX_T0, &err), CM_OK);
  cr_assert_eq(submit(&g, "r1", 0), CM_OK);
  drain(&g);
  batch_async(&g, CM_FX_T0 + 1000, 1); /* r1 -> w1, in flight */
  /* meanwhile, with the ledger answering at once: r2 and a batch */
  cm_fault_ledger_defer(&g.fault, 0);
  cr_assert_eq(submit(&g, "r2", 2), CM_OK);
  cr_assert_eq(g_log.st[2], CM_OK);
  int batches = 0;
  cr_assert_eq(cm_engine_step(g.eng, CM_FX_T0 + 2000, &batches, &err), CM_OK,
               "%s", err.message);
  cr_assert_eq(state_of(&g, "r2"), CM_REQ_PENDING,
               "w1's take in flight fills it (capacity 1)");
  cm_fault_ledger_defer(&g.fault, 1);
  cm_fault_ledger_run(&g.fault); /* r1's offer lands */
  cr_assert_eq(g_log.st[1], CM_OK);
  cr_assert_eq(state_of(&g, "r1"), CM_REQ_OFFERED, "taken by the ledger");
  cm_engine_stats st;
  cm_engine_stats_get(g.eng, &st);
  cr_assert_eq(st.refused, 0, "no offer the ledger had to refuse");
  cr_assert_eq(cm_engine_worker_jobs(g.eng, "w1"), 1);
  rig_close(&g);
}

Test(engine_async, freeing_the_engine_tells_a_batch_in_flight) {
  rig g;
  rig_open(&g, 1);
  cr_assert_eq(submit(&g, "r1", 0), CM_OK);
  drain(&g);
  batch_async(&g, CM_FX_T0 + 1000, 1);
  cm_error err;
  cr_assert_eq(cm_engine_cancel_async(g.eng, "r1", CM_FX_T0 + 1001, on_done,
                                      &g_call[2], &err),
               CM_OK, "held behind the batch's offer");
  cm_engine_free(g.eng);
  g.eng = NULL;
  cr_assert_eq(g_log.times[1], 1);
  cr_assert_eq(g_log.st[1], CM_E_UNAVAILABLE);
  cr_assert_eq(g_log.times[2], 1, "the held call is told too");
  cr_assert_eq(g_log.st[2], CM_E_UNAVAILABLE);
  cm_ledger_free(&g.fault.base); /* its completion frees the offers */
  cr_assert_eq(g_log.times[1], 1, "told once only");
  cm_ledger_free(g.mem);
  cm_store_free(g.store);
}

Test(engine_async, a_lost_batch_resyncs_and_releases_its_requests) {
  rig g;
  rig_open(&g, 1);
  cm_error err;
  cr_assert_eq(submit(&g, "r1", 0), CM_OK);
  drain(&g);
  batch_async(&g, CM_FX_T0 + 1000, 1);
  cr_assert_eq(cm_engine_cancel_async(g.eng, "r1", CM_FX_T0 + 1001, on_done,
                                      &g_call[2], &err),
               CM_OK);
  cr_assert_eq(cm_fault_ledger_drop(&g.fault), 1);
  cr_assert_eq(g_log.st[1], CM_E_UNAVAILABLE, "the batch: results unknown");
  drain(&g); /* the cancel, released after it, went on */
  cr_assert_eq(g_log.st[2], CM_OK);
  cr_assert_eq(state_of(&g, "r1"), CM_REQ_CANCELLED);
  cm_engine_stats st;
  cm_engine_stats_get(g.eng, &st);
  cr_assert_eq(st.resync_pending, 1);
  cr_assert_eq(cm_engine_sync(g.eng, CM_FX_T0 + 2000, &err), CM_OK, "%s",
               err.message);
  cr_assert_eq(state_of(&g, "r1"), CM_REQ_CANCELLED);
  rig_close(&g);
}

/* ---- an operator's pin: its offer proposed at the batch's begin ---- */

/* r1 submitted and pinned to w1 (capacity 2), both answered. */
static void pinned_r1(rig *g) {
  cm_error err;
  cr_assert_eq(submit(g, "r1", 0), CM_OK);
  drain(g);
  cr_assert_eq(cm_engine_pin_async(g->eng, "r1", "w1", "op", CM_FX_T0 + 10,
                                   on_done, &g_call[1], &err),
               CM_OK, "%s", err.message);
  drain(g);
  cr_assert_eq(g_log.st[1], CM_OK);
}

/* A pinned request's offer, made at the batch's begin, is proposed (the
 * daemon's loop is not held for a commit): in flight after the begin,
 * nothing applied in the engine nor the ledger, the request held (a
 * synchronous call refused, the next begin does not offer it again);
 * applied once the ledger answers, with one offer event. With the
 * synchronous commit it was offered before the begin returned. */
Test(engine_async, a_pins_offer_is_proposed_at_the_batchs_begin) {
  rig g;
  rig_open(&g, 1);
  pinned_r1(&g);
  cm_event ev[16];
  cm_engine_poll(g.eng, ev, 16); /* the events so far */
  cm_error err;
  int proposals = g.fault.proposals;
  cr_assert_eq(cm_engine_step(g.eng, CM_FX_T0 + 1000, NULL, &err), CM_OK, "%s",
               err.message);
  cr_assert_eq(g.fault.proposals, proposals + 1, "the pin's offer proposed");
  cr_assert_eq(cm_engine_in_flight(g.eng), 1);
  cr_assert_eq(state_of(&g, "r1"), CM_REQ_PENDING, "proposed, not applied");
  cr_assert_eq(cm_engine_worker_jobs(g.eng, "w1"), 0);
  cm_request_view lv;
  cr_assert_eq(g.mem->type->get(g.mem, "r1", &lv, NULL), CM_OK);
  cr_assert_eq(lv.state, CM_REQ_PENDING, "nor in the ledger");
  cr_assert_eq(cm_engine_cancel(g.eng, "r1", CM_FX_T0 + 1001, &err),
               CM_E_UNAVAILABLE, "the request is held");
  /* a batch due meanwhile (r2: a skill nobody has) begins without it */
  cm_request_spec s =
      cm_fx_spec("r2", (cm_skillset)1 << 0, 1, CM_URGENCY_NORMAL, 0);
  cr_assert_eq(cm_engine_submit(g.eng, &s, CM_FX_T0 + 1002, &err), CM_OK, "%s",
               err.message);
  cr_assert_eq(cm_engine_step(g.eng, CM_FX_T0 + 60000, NULL, &err), CM_OK, "%s",
               err.message);
  cr_assert_eq(g.fault.proposals, proposals + 1, "not offered twice");
  cr_assert_eq(state_of(&g, "r1"), CM_REQ_PENDING);
  drain(&g);
  cr_assert_eq(state_of(&g, "r1"), CM_REQ_OFFERED, "applied on completion");
  cr_assert_eq(cm_engine_worker_jobs(g.eng, "w1"), 1);
  cr_assert_eq(g.mem->type->get(g.mem, "r1", &lv, NULL), CM_OK);
  cr_assert_eq(lv.state, CM_REQ_OFFERED, "the ledger agrees");
  cr_assert_eq(lv.n_workers, 1);
  cr_assert_str_eq(lv.workers[0], "w1");
  int n = cm_engine_poll(g.eng, ev, 16);
  cr_assert_eq(cm_fx_events_of(ev, n, "r1", CM_EV_OFFERED, "w1"), 1,
               "one offer event");
  rig_close(&g);
}

/* A pin's offer the ledger refuses (w1 put off shift by another writer,
 * not followed yet) leaves the request pending with the reason the
 * synchronous commit gave, pinned_worker_full, and a batch comes back to
 * it: the next begin proposes it again. */
Test(engine_async, a_pins_offer_refused_by_the_ledger_waits_as_full) {
  rig g;
  rig_open(&g, 1);
  pinned_r1(&g);
  cm_error err;
  cr_assert_eq(g.mem->type->worker_shift(g.mem, "w1", 0, &err), CM_OK, "%s",
               err.message);
  cm_engine_batch *b = NULL;
  cr_assert_eq(
      cm_engine_batch_begin_unfollowed(g.eng, CM_FX_T0 + 1000, &b, &err), CM_OK,
      "%s", err.message);
  cr_assert_null(b);
  cr_assert_eq(cm_engine_in_flight(g.eng), 1, "the pin's offer proposed");
  cr_assert_eq(cm_fault_ledger_run(&g.fault), 1);
  cr_assert_eq(cm_engine_in_flight(g.eng), 0);
  cm_request_view v;
  cr_assert_eq(cm_engine_request_get(g.eng, "r1", &v, NULL), CM_OK);
  cr_assert_eq(v.state, CM_REQ_PENDING);
  cr_assert(v.has_reason);
  cr_assert_eq(v.reason, CM_REASON_PINNED_FULL);
  cm_engine_stats st;
  cm_engine_stats_get(g.eng, &st);
  cr_assert_eq(st.refused, 1, "refused by the ledger");
  cm_engine_config cfg;
  cm_engine_config_init(&cfg);
  int64_t due = cm_engine_next_due(g.eng);
  cr_assert_leq(due, CM_FX_T0 + 1000 + cfg.retry_max_ms, "retried");
  cr_assert_eq(cm_engine_batch_begin_unfollowed(g.eng, due, &b, &err), CM_OK,
               "%s", err.message);
  cr_assert_null(b);
  cr_assert_eq(cm_engine_in_flight(g.eng), 1, "proposed again");
  drain(&g);
  cr_assert_eq(cm_engine_request_get(g.eng, "r1", &v, NULL), CM_OK);
  cr_assert_eq(v.reason, CM_REASON_PINNED_FULL);
  rig_close(&g);
}
