/* test_standby.c -- standby suggestions (engine_standby.c): an idle
 * capable worker away from where emergencies come from is suggested a
 * place there (CM_EV_STANDBY, the worker and the place, no request); the
 * nearest one within reach is chosen, a worker already there needs none,
 * the same worker is not suggested again within standby_every_ms, and the
 * default is off. A history taught (cm_engine_demand_teach) counts as
 * emergencies seen. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "carematch/engine.h"
#include "engine_fx.h"
#include "fixtures.h"

#define MIN 60000LL
#define EVERY (30 * MIN)
#define X_KM 10.0 /* where the emergencies come from, north of the centre */

static cm_fx fx;

static void start(int64_t every_ms) {
  cm_engine_config c;
  cm_engine_config_init(&c);
  c.batch_window_ms = 200;
  c.standby_every_ms = every_ms;
  cm_fx_engine_open(&fx, &c);
}

static void stop(void) {
  cm_fx_engine_close(&fx);
}

static void worker(const char *id, double dlat_km, int64_t t) {
  cm_worker w = cm_fx_worker(id, CM_FX_NURSE, dlat_km, 0.0, 1, t);
  cr_assert_eq(cm_engine_worker_upsert(fx.eng, &w, t, NULL), CM_OK);
}

/* Twelve emergencies came from X (called off: their history stays). */
static void history(int64_t t) {
  for (int i = 0; i < 12; i++) {
    char id[16];
    snprintf(id, sizeof id, "e%d", i);
    cm_request_spec s =
        cm_fx_spec(id, CM_FX_NURSE, 1, CM_URGENCY_EMERGENCY, X_KM);
    cr_assert_eq(cm_engine_submit(fx.eng, &s, t, NULL), CM_OK);
    cr_assert_eq(cm_engine_cancel(fx.eng, id, t, NULL), CM_OK);
  }
}

/* Steps from t0 to t1 (every 10 s, positions fresh: the workers stay
 * where they were put, as staff who ignore the suggestion); the standby
 * events, the last in *last. */
static int run(int64_t t0, int64_t t1, const double *dlat, const char **ids,
               int n, cm_event *last) {
  int c = 0;
  for (int64_t t = t0; t <= t1; t += 10000) {
    for (int i = 0; i < n; i++)
      cm_engine_worker_position(fx.eng, ids[i], CM_FX_LAT0 + dlat[i] / 111.195,
                                CM_FX_LON0, t, NULL);
    cm_engine_step(fx.eng, t, NULL, NULL);
    cm_event ev[64];
    int k;
    while ((k = cm_engine_poll(fx.eng, ev, 64)) > 0)
      for (int j = 0; j < k; j++)
        if (ev[j].type == CM_EV_STANDBY) {
          c++;
          if (last)
            *last = ev[j];
        }
  }
  return c;
}

static const char *ids[] = {"a1", "b1", "c1"};
/* a1 at the centre (10 km from X), b1 18 km north (8 km from X), c1 60
 * km north (out of reach) */
static const double at[] = {0.0, 18.0, 60.0};

static void city(int64_t t) {
  for (int i = 0; i < 3; i++)
    worker(ids[i], at[i], t);
  history(t);
}

Test(standby, the_nearest_idle_worker_is_suggested_the_hot_area, .fini = stop) {
  start(EVERY);
  city(1000);
  cm_event ev;
  cr_assert_eq(run(2000, 2000 + 2 * MIN, at, ids, 3, &ev), 1,
               "one suggestion covers the one hot area");
  cr_assert_str_eq(ev.worker, "b1", "the nearest within reach");
  cr_assert_str_eq(ev.request, "", "no request");
  cr_assert_str_eq(cm_event_type_name(ev.type), "standby");
  double km = cm_geo_distance_km(ev.lat, ev.lon, CM_FX_LAT0 + X_KM / 111.195,
                                 CM_FX_LON0);
  cr_assert_lt(km, 4.0, "the place is X's area (%.2f km from X)", km);
  cm_engine_stats st;
  cm_engine_stats_get(fx.eng, &st);
  cr_assert_eq(st.standby, 1);
}

Test(standby, not_moved_back_and_forth, .fini = stop) {
  start(EVERY);
  city(1000);
  cr_assert_eq(run(2000, 2000 + 2 * MIN, at, ids, 3, NULL), 1);
  /* b1 did not go: until standby_every_ms it counts as on its way, and
     no one else is sent */
  cr_assert_eq(run(2000 + 3 * MIN, 2000 + 29 * MIN, at, ids, 3, NULL), 0);
  cm_event ev;
  cr_assert_eq(run(2000 + 31 * MIN, 2000 + 33 * MIN, at, ids, 3, &ev), 1,
               "suggested again once standby_every_ms is over");
  cr_assert_str_eq(ev.worker, "b1");
}

Test(standby, none_when_a_worker_is_there, .fini = stop) {
  static const double there[] = {0.0, X_KM + 0.5, 60.0};
  start(EVERY);
  city(1000);
  cr_assert_eq(run(2000, 2000 + 5 * MIN, there, ids, 3, NULL), 0,
               "X is covered by b1 standing there");
}

Test(standby, none_out_of_reach, .fini = stop) {
  static const double far[] = {-30.0, 40.0, 60.0};
  start(EVERY);
  city(1000);
  cr_assert_eq(run(2000, 2000 + 5 * MIN, far, ids, 3, NULL), 0,
               "everyone is more than 15 km from X");
}

Test(standby, off_by_default, .fini = stop) {
  cm_engine_config c;
  cm_engine_config_init(&c);
  cr_assert_eq(c.standby_every_ms, 0);
  start(0);
  city(1000);
  cr_assert_eq(run(2000, 2000 + 5 * MIN, at, ids, 3, NULL), 0);
}

Test(standby, a_taught_history_is_read, .fini = stop) {
  start(EVERY);
  for (int i = 0; i < 3; i++)
    worker(ids[i], at[i], 1000);
  cm_event ev;
  cr_assert_eq(run(2000, 2000 + 2 * MIN, at, ids, 3, NULL), 0,
               "nothing known: nothing suggested");
  for (int i = 0; i < 12; i++)
    cr_assert_eq(cm_engine_demand_teach(fx.eng, CM_FX_LAT0 + X_KM / 111.195,
                                        CM_FX_LON0, CM_FX_NURSE, 1000, NULL),
                 CM_OK);
  cr_assert_eq(run(2000 + 3 * MIN, 2000 + 5 * MIN, at, ids, 3, &ev), 1);
  cr_assert_str_eq(ev.worker, "b1");
  cm_error err;
  cr_assert_eq(cm_engine_demand_teach(fx.eng, 91, 0, CM_FX_NURSE, 0, &err),
               CM_E_RANGE);
  cr_assert_str_eq(err.field, "$.lat");
  cr_assert_eq(cm_engine_demand_teach(fx.eng, 0, 181, CM_FX_NURSE, 0, &err),
               CM_E_RANGE);
  cr_assert_str_eq(err.field, "$.lon");
}

Test(standby, refused_out_of_range) {
  cm_engine_config c;
  cm_engine_config_init(&c);
  c.standby_every_ms = -1;
  cm_error err;
  cr_assert_eq(cm_engine_config_validate(&c, &err), CM_E_RANGE);
  cr_assert_str_eq(err.field, "$.standby_every_ms");
}
