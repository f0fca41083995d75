/* test_reserve_demand.c -- where the emergency reserve stands: the engine
 * learns where emergencies come from and keeps a capable worker free
 * there, not in an area no emergency has come from (reserve_demand); off,
 * it keeps one around every exposed worker as before. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "carematch/engine.h"
#include "engine_fx.h"
#include "fixtures.h"

static cm_fx fx;

static void start(int demand) {
  cm_engine_config c;
  cm_engine_config_init(&c);
  c.batch_window_ms = 200;
  c.reserve_workers = 1;
  c.reserve_demand = demand;
  cm_fx_engine_open(&fx, &c);
}

static void stop(void) {
  cm_fx_engine_close(&fx);
}

static void worker(const char *id, double dlat_km) {
  cm_worker w = cm_fx_worker(id, CM_FX_NURSE, dlat_km, 0.0, 1, 1000);
  cr_assert_eq(cm_engine_worker_upsert(fx.eng, &w, 1000, NULL), CM_OK);
}

static void submit(const char *id, cm_urgency u, double dlat_km, int64_t t) {
  cm_request_spec s = cm_fx_spec(id, CM_FX_NURSE, 1, u, dlat_km);
  cm_error err;
  cr_assert_eq(cm_engine_submit(fx.eng, &s, t, &err), CM_OK, "%s", err.message);
}

static cm_request_view view(const char *id) {
  cm_request_view v;
  cr_assert_eq(cm_engine_request_get(fx.eng, id, &v, NULL), CM_OK);
  return v;
}

/* Two nurses in the town (A, the centre) and two in a village 50 km north
 * (B); twenty emergencies came from the town (called off: only their
 * history stays); then two normal visits in each place. */
static void day(void) {
  worker("a1", 0.0);
  worker("a2", 1.0);
  worker("b1", 50.0);
  worker("b2", 51.0);
  for (int i = 0; i < 20; i++) {
    char id[16];
    snprintf(id, sizeof id, "e%d", i);
    submit(id, CM_URGENCY_EMERGENCY, 0.2, 2000);
    cr_assert_eq(cm_engine_cancel(fx.eng, id, 2000, NULL), CM_OK);
  }
  submit("na1", CM_URGENCY_NORMAL, 0.0, 3000);
  submit("na2", CM_URGENCY_NORMAL, 0.0, 3000);
  submit("nb1", CM_URGENCY_NORMAL, 50.0, 3000);
  submit("nb2", CM_URGENCY_NORMAL, 50.0, 3000);
  for (int64_t t = 3200; t <= 20000; t += 200)
    cm_engine_step(fx.eng, t, NULL, NULL);
}

static int offered(const char *id) {
  return view(id).state == CM_REQ_OFFERED;
}

Test(reserve_demand, kept_where_emergencies_come_from, .fini = stop) {
  start(1);
  day();
  cr_assert_eq(offered("na1") + offered("na2"), 1, "the town keeps one");
  cr_assert_eq(view(offered("na1") ? "na2" : "na1").reason, CM_REASON_RESERVE);
  cr_assert(offered("nb1") && offered("nb2"),
            "no emergency came from the village: both visits go");
}

Test(reserve_demand, off_kept_everywhere, .fini = stop) {
  start(0);
  day();
  cr_assert_eq(offered("na1") + offered("na2"), 1);
  cr_assert_eq(offered("nb1") + offered("nb2"), 1, "the village keeps one");
}

/* Before enough emergencies are known, no area is called cold. */
Test(reserve_demand, too_early_to_call_an_area_cold, .fini = stop) {
  start(1);
  worker("b1", 50.0);
  worker("b2", 51.0);
  submit("e0", CM_URGENCY_EMERGENCY, 0.0, 2000);
  cr_assert_eq(cm_engine_cancel(fx.eng, "e0", 2000, NULL), CM_OK);
  submit("nb1", CM_URGENCY_NORMAL, 50.0, 3000);
  submit("nb2", CM_URGENCY_NORMAL, 50.0, 3000);
  for (int64_t t = 3200; t <= 20000; t += 200)
    cm_engine_step(fx.eng, t, NULL, NULL);
  cr_assert_eq(offered("nb1") + offered("nb2"), 1);
}
