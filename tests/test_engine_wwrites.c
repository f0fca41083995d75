/* test_engine_wwrites.c -- the engine's worker writes with a completion
 * (cm_engine_worker_*_async, core/engine/engine_wwrites.c, docs/async.md)
 * on the Redis ledger of a redis-server of the test's own, proposals on
 * the test's event base: nothing is applied before the ledger took it,
 * everything after; the checks that need no ledger answer at once with
 * the synchronous calls' codes and fields and never complete; an engine
 * freed with writes in flight tells each once. On the memory ledger the
 * same calls complete before they return. */
#include <criterion/criterion.h>
#include <event2/event.h>
#include <string.h>

#include "carematch/engine.h"
#include "carematch/ledger.h"
#include "carematch/redis.h"
#include "carematch/store.h"
#include "fixtures.h"
#include "redis_server.h"

typedef struct told {
  int calls;
  cm_status st;
} told;

static void on_done(void *ctx, cm_status st, const cm_error *err) {
  told *t = ctx;
  cr_assert_not_null(err);
  t->calls++;
  t->st = st;
}

typedef struct rig {
  struct event_base *base;
  cm_redis *r;
  cm_ledger *l;
  cm_store *store;
  cm_engine *eng;
} rig;

static void rig_open(rig *g) {
  cm_test_own_redis_start();
  g->base = event_base_new();
  cm_redis_options o;
  cm_redis_options_init(&o);
  o.base = g->base;
  cm_error err;
  g->r = cm_redis_new("127.0.0.1", cm_test_own_redis.port, "ew", &o, &err);
  cr_assert_not_null(g->r, "%s", err.message);
  cm_ledger_redis_options lo;
  cm_ledger_redis_options_init(&lo);
  g->l = cm_ledger_redis_new(g->r, &lo, &err);
  cr_assert_not_null(g->l, "%s", err.message);
  g->store = cm_store_memory_new(0);
  cm_engine_config cfg;
  cm_engine_config_init(&cfg);
  cfg.ledger = g->l;
  g->eng = cm_engine_new(&cfg, g->store, &err);
  cr_assert_not_null(g->eng, "%s", err.message);
}

static void rig_close(rig *g) {
  cm_engine_free(g->eng);
  cm_store_free(g->store);
  cm_ledger_free(g->l);
  cm_redis_free(g->r);
  event_base_free(g->base);
  cm_test_own_redis_kill();
}

/* Run the loop until t was told (at most a few seconds). */
static void run_until(rig *g, const told *t) {
  for (int i = 0; i < 200 && !t->calls; i++) {
    struct timeval tv = {0, 20000};
    event_base_loopexit(g->base, &tv);
    event_base_loop(g->base, EVLOOP_ONCE);
  }
}

Test(engine_wwrites, applied_when_the_ledger_took_them) {
  rig g;
  rig_open(&g);
  cm_error err;
  told up = {0, CM_OK};
  cm_worker w = cm_fx_worker("w1", CM_FX_NURSE, 0.5, 0, 2, CM_FX_T0);
  cr_assert_eq(
      cm_engine_worker_upsert_async(g.eng, &w, CM_FX_T0, on_done, &up, &err),
      CM_OK, "%s", err.message);
  cm_worker got;
  cr_assert_eq(up.calls, 0, "proposed, not answered yet");
  cr_assert_eq(cm_engine_in_flight(g.eng), 1);
  cr_assert_neq(cm_store_get(g.store, "w1", &got, NULL), CM_OK,
                "not in the mirror before the ledger took it");
  run_until(&g, &up);
  cr_assert_eq(up.calls, 1);
  cr_assert_eq(up.st, CM_OK);
  cr_assert_eq(cm_engine_in_flight(g.eng), 0);
  cr_assert_eq(cm_store_get(g.store, "w1", &got, NULL), CM_OK);
  cr_assert_eq(got.status, CM_WORKER_AVAILABLE);

  told pos = {0, CM_OK};
  cr_assert_eq(cm_engine_worker_position_async(g.eng, "w1", 31.3, 121.4,
                                               CM_FX_T0 + 10, on_done, &pos,
                                               &err),
               CM_OK, "%s", err.message);
  cr_assert_eq(cm_store_get(g.store, "w1", &got, NULL), CM_OK);
  cr_assert_neq(got.lat, 31.3, "the mirror moves with the completion");
  run_until(&g, &pos);
  cr_assert_eq(pos.calls, 1);
  cr_assert_eq(pos.st, CM_OK);
  cr_assert_eq(cm_store_get(g.store, "w1", &got, NULL), CM_OK);
  cr_assert_eq(got.lat, 31.3);
  cr_assert_eq(got.seen_ms, CM_FX_T0 + 10);

  told off = {0, CM_OK};
  cr_assert_eq(cm_engine_worker_shift_async(g.eng, "w1", 0, CM_FX_T0 + 20,
                                            on_done, &off, &err),
               CM_OK, "%s", err.message);
  cm_store_get(g.store, "w1", &got, NULL);
  cr_assert_eq(got.status, CM_WORKER_AVAILABLE, "still on shift meanwhile");
  run_until(&g, &off);
  cr_assert_eq(off.st, CM_OK);
  cm_store_get(g.store, "w1", &got, NULL);
  cr_assert_eq(got.status, CM_WORKER_OFFLINE);
  rig_close(&g);
}

Test(engine_wwrites, checks_answer_at_once_and_never_complete) {
  rig g;
  rig_open(&g);
  cm_error err;
  told t = {0, CM_OK};
  cm_worker w = cm_fx_worker("w1", CM_FX_NURSE, 0.5, 0, 2, CM_FX_T0);
  cr_assert_eq(
      cm_engine_worker_upsert_async(g.eng, &w, CM_FX_T0, on_done, &t, &err),
      CM_OK);
  run_until(&g, &t);
  cr_assert_eq(t.st, CM_OK);
  told never = {0, CM_OK};
  const char *ids[2] = {"w1", "nobody"};
  double lat[2] = {31.2, 31.2}, lon[2] = {121.4, 121.4};
  cr_assert_eq(cm_engine_worker_positions_async(
                   g.eng, 2, ids, lat, lon, CM_FX_T0, on_done, &never, &err),
               CM_E_UNKNOWN_ID);
  cr_assert_str_eq(err.field, "$.positions[1].id");
  cr_assert_eq(cm_engine_worker_position_async(g.eng, "w1", 91.0, 121.4,
                                               CM_FX_T0, on_done, &never, &err),
               CM_E_RANGE);
  cr_assert_str_eq(err.field, "$.lat", "one position's field");
  cr_assert_eq(cm_engine_worker_shift_async(g.eng, "nobody", 1, CM_FX_T0,
                                            on_done, &never, &err),
               CM_E_UNKNOWN_ID);
  w.capacity = -1;
  cr_assert_neq(
      cm_engine_worker_upsert_async(g.eng, &w, CM_FX_T0, on_done, &never, &err),
      CM_OK, "the store's rules, before the ledger");
  cr_assert_eq(cm_engine_in_flight(g.eng), 0);
  run_until(&g, &never);
  cr_assert_eq(never.calls, 0, "a refused call never completes");
  rig_close(&g);
}

Test(engine_wwrites, an_engine_freed_with_writes_in_flight_tells_each_once) {
  rig g;
  rig_open(&g);
  cm_error err;
  told t[3] = {{0, CM_OK}, {0, CM_OK}, {0, CM_OK}};
  cm_worker w = cm_fx_worker("w1", CM_FX_NURSE, 0.5, 0, 2, CM_FX_T0);
  cr_assert_eq(
      cm_engine_worker_upsert_async(g.eng, &w, CM_FX_T0, on_done, &t[0], &err),
      CM_OK);
  run_until(&g, &t[0]);
  cr_assert_eq(cm_engine_worker_position_async(g.eng, "w1", 31.3, 121.4,
                                               CM_FX_T0, on_done, &t[1], &err),
               CM_OK);
  cr_assert_eq(cm_engine_worker_shift_async(g.eng, "w1", 0, CM_FX_T0, on_done,
                                            &t[2], &err),
               CM_OK);
  cr_assert_eq(cm_engine_in_flight(g.eng), 2);
  cm_engine_free(g.eng);
  g.eng = NULL;
  for (int i = 1; i < 3; i++) {
    cr_assert_eq(t[i].calls, 1, "write %d told", i);
    cr_assert_eq(t[i].st, CM_E_UNAVAILABLE);
  }
  struct timeval tv = {0, 50000}; /* the ledger's answers still come */
  event_base_loopexit(g.base, &tv);
  event_base_dispatch(g.base);
  for (int i = 1; i < 3; i++)
    cr_assert_eq(t[i].calls, 1, "write %d told once", i);
  rig_close(&g);
}

Test(engine_wwrites, on_the_memory_ledger_they_complete_before_returning) {
  cm_error err;
  cm_ledger *mem = cm_ledger_memory_new(&err);
  cm_store *store = cm_store_memory_new(0);
  cm_engine_config cfg;
  cm_engine_config_init(&cfg);
  cfg.ledger = mem;
  cm_engine *eng = cm_engine_new(&cfg, store, &err);
  cr_assert_not_null(eng);
  told t[3] = {{0, CM_OK}, {0, CM_OK}, {0, CM_OK}};
  cm_worker w = cm_fx_worker("w1", CM_FX_NURSE, 0.5, 0, 2, CM_FX_T0);
  cr_assert_eq(
      cm_engine_worker_upsert_async(eng, &w, CM_FX_T0, on_done, &t[0], &err),
      CM_OK);
  const char *ids[1] = {"w1"};
  double lat = 31.3, lon = 121.4;
  cr_assert_eq(cm_engine_worker_positions_async(eng, 1, ids, &lat, &lon,
                                                CM_FX_T0, on_done, &t[1], &err),
               CM_OK);
  cr_assert_eq(cm_engine_worker_shift_async(eng, "w1", 0, CM_FX_T0, on_done,
                                            &t[2], &err),
               CM_OK);
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(t[i].calls, 1, "write %d told before returning", i);
    cr_assert_eq(t[i].st, CM_OK);
  }
  cr_assert_eq(cm_engine_in_flight(eng), 0);
  cm_worker got;
  cr_assert_eq(cm_store_get(store, "w1", &got, NULL), CM_OK);
  cr_assert_eq(got.lat, 31.3);
  cr_assert_eq(got.status, CM_WORKER_OFFLINE);
  cm_engine_free(eng);
  cm_store_free(store);
  cm_ledger_free(mem);
}
