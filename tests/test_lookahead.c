/* test_lookahead.c -- the engine's look-ahead on hand-made situations: a
 * nurse finishing a job next door in 3 minutes beats a free one 6 km away
 * for an emergency (the request waits for her, then gets her); normal work
 * does not wait, nor past lookahead_min, unless lookahead_upto says so;
 * with lookahead_min 0 the far nurse is offered at once. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/engine.h"
#include "carematch/model.h"
#include "daemon_proc.h"
#include "engine/engine_internal.h"
#include "engine_fx.h"
#include "fixtures.h"

static cm_fx fx;

static void start_upto(double lookahead_min, cm_urgency upto) {
  cm_engine_config c;
  cm_engine_config_init(&c);
  c.batch_window_ms = 200;
  c.reserve_workers = 0; /* the look-ahead alone */
  c.lookahead_min = lookahead_min;
  c.lookahead_upto = upto;
  cm_fx_engine_open(&fx, &c);
}

static void start(double lookahead_min) {
  start_upto(lookahead_min, CM_URGENCY_URGENT);
}

static void stop(void) {
  cm_fx_engine_close(&fx);
}

static void worker(const char *id, double dlat_km) {
  cm_worker w = cm_fx_worker(id, CM_FX_NURSE, dlat_km, 0.0, 1, 0);
  cm_error err;
  cr_assert_eq(cm_engine_worker_upsert(fx.eng, &w, 0, &err), CM_OK, "%s",
               err.message);
}

/* Fresh positions: near at the centre, far 6 km north. */
static void positions(int64_t now) {
  cm_engine_worker_position(fx.eng, "near", 31.23, 121.47, now, NULL);
  cm_engine_worker_position(fx.eng, "far", 31.23 + 6.0 / 111.195, 121.47, now,
                            NULL);
}

static void submit_at(const char *id, cm_urgency u, double dlat_km,
                      int64_t now) {
  cm_request_spec s = cm_fx_spec(id, CM_FX_NURSE, 1, u, dlat_km);
  cm_error err;
  cr_assert_eq(cm_engine_submit(fx.eng, &s, now, &err), CM_OK, "%s",
               err.message);
}

/* An emergency dlat_km north and dlon_km east of the centre (south, west
 * when negative). */
static void submit_off(const char *id, double dlat_km, double dlon_km,
                       int64_t now) {
  cm_request_spec s =
      cm_fx_spec(id, CM_FX_NURSE, 1, CM_URGENCY_EMERGENCY, dlat_km);
  s.lon += dlon_km / (111.195 * cos(s.lat * 3.14159265358979323846 / 180.0));
  cm_error err;
  cr_assert_eq(cm_engine_submit(fx.eng, &s, now, &err), CM_OK, "%s",
               err.message);
}

static void submit(const char *id, cm_urgency u, int64_t now) {
  submit_at(id, u, 0.0, now);
}

static void step(int64_t now) {
  positions(now);
  cm_error err;
  cr_assert_eq(cm_engine_step(fx.eng, now, NULL, &err), CM_OK, "%s",
               err.message);
}

static cm_request_view view(const char *id) {
  cm_request_view v;
  cr_assert_eq(cm_engine_request_get(fx.eng, id, &v, NULL), CM_OK);
  return v;
}

/* The nearest nurse takes normal job id at now and accepts it. */
static void near_takes(const char *id, int64_t now) {
  submit(id, CM_URGENCY_NORMAL, now);
  step(now + 300); /* after the batch window */
  cm_request_view v = view(id);
  cr_assert_eq(v.state, CM_REQ_OFFERED);
  cr_assert_str_eq(v.workers[0], "near");
  cr_assert_eq(cm_engine_accept(fx.eng, id, "near", now + 1000, NULL), CM_OK);
}

/* Both nurses; near did a 10-minute job next door (the engine learns how
 * long such a job takes) and has started another at 20 min: free at 30. */
static void city(void) {
  worker("near", 0.0);
  worker("far", 6.0);
  near_takes("j0", 1000);
  cr_assert_eq(cm_engine_complete(fx.eng, "j0", 1000 + 600000, NULL), CM_OK);
  near_takes("j1", 1200000);
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "near"), 1);
}

Test(lookahead, a_near_nurse_finishing_in_3_min_beats_a_far_free_one,
     .fini = stop) {
  start(15);
  city();
  int64_t t = 1200000 + 7 * 60000; /* near is free in 3 minutes */
  submit("e1", CM_URGENCY_EMERGENCY, t);
  step(t);
  cm_request_view e1 = view("e1");
  cr_assert_eq(e1.state, CM_REQ_PENDING, "not given to the far nurse");
  cr_assert_eq(e1.has_reason, 1);
  cr_assert_eq(e1.reason, CM_REASON_WAITING_WORKER);
  cr_assert_str_eq(cm_reason_name(e1.reason), "waiting_for_worker");
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "far"), 0);
  for (t += 1000; t < 1200000 + 10 * 60000; t += 1000)
    step(t); /* batches meanwhile keep waiting for her */
  cr_assert_eq(view("e1").state, CM_REQ_PENDING);
  cr_assert_eq(cm_engine_complete(fx.eng, "j1", t, NULL), CM_OK);
  step(t + 1000);
  e1 = view("e1");
  cr_assert_eq(e1.state, CM_REQ_OFFERED, "offered once she is free");
  cr_assert_str_eq(e1.workers[0], "near");
}

/* Off, the emergency goes to the far nurse at once: the test above fails
 * without the look-ahead. */
Test(lookahead, off_the_far_nurse_is_offered_at_once, .fini = stop) {
  start(0);
  city();
  int64_t t = 1200000 + 7 * 60000;
  submit("e1", CM_URGENCY_EMERGENCY, t);
  step(t);
  cm_request_view e1 = view("e1");
  cr_assert_eq(e1.state, CM_REQ_OFFERED);
  cr_assert_str_eq(e1.workers[0], "far");
}

/* Normal work does not look ahead: it goes to the far nurse. */
Test(lookahead, normal_work_does_not_wait, .fini = stop) {
  start(15);
  city();
  int64_t t = 1200000 + 7 * 60000;
  submit("n1", CM_URGENCY_NORMAL, t);
  step(t + 300);
  step(t + 150000); /* its radius grew to 6.25 km: the far nurse */
  cr_assert_eq(view("n1").state, CM_REQ_OFFERED);
  cr_assert_str_eq(view("n1").workers[0], "far");
}

/* A nurse busy for longer than lookahead_min is not waited for. */
Test(lookahead, not_past_its_horizon, .fini = stop) {
  start(8);
  city();
  int64_t t = 1200000 + 60000; /* near is free in 9 minutes */
  submit("e1", CM_URGENCY_EMERGENCY, t);
  step(t);
  cr_assert_eq(view("e1").state, CM_REQ_OFFERED);
  cr_assert_str_eq(view("e1").workers[0], "far");
}

Test(lookahead, config_is_checked) {
  cm_engine_config c;
  cm_engine_config_init(&c);
  cr_assert_eq(c.lookahead_min, 15);
  c.lookahead_min = -1;
  cm_error err;
  cr_assert_eq(cm_engine_config_validate(&c, &err), CM_E_RANGE);
  cr_assert_str_eq(err.field, "$.lookahead_min");
}

/* With lookahead_upto normal, normal work waits for the near nurse free in
 * 3 minutes instead of sending the far one (normal_work_does_not_wait
 * above is the default), and gets her once she is free. */
Test(lookahead, normal_work_waits_when_it_looks_ahead_too, .fini = stop) {
  start_upto(15, CM_URGENCY_NORMAL);
  city();
  int64_t t = 1200000 + 7 * 60000;
  submit("n1", CM_URGENCY_NORMAL, t);
  step(t + 300);
  step(t + 150000); /* the far nurse is within its radius now */
  cm_request_view n1 = view("n1");
  cr_assert_eq(n1.state, CM_REQ_PENDING, "not given to the far nurse");
  cr_assert_eq(n1.reason, CM_REASON_WAITING_WORKER);
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "far"), 0);
  t += 3 * 60000;
  cr_assert_eq(cm_engine_complete(fx.eng, "j1", t, NULL), CM_OK);
  step(t + 1000);
  n1 = view("n1");
  cr_assert_eq(n1.state, CM_REQ_OFFERED, "offered once she is free");
  cr_assert_str_eq(n1.workers[0], "near");
}

/* Scheduled work stays out with lookahead_upto normal: it is less urgent. */
Test(lookahead, scheduled_work_not_below_lookahead_upto, .fini = stop) {
  start_upto(15, CM_URGENCY_NORMAL);
  city();
  int64_t t = 1200000 + 7 * 60000;
  submit("s1", CM_URGENCY_SCHEDULED, t);
  step(t + 300);
  step(t + 150000);
  cr_assert_eq(view("s1").state, CM_REQ_OFFERED);
  cr_assert_str_eq(view("s1").workers[0], "far");
}

Test(lookahead, lookahead_upto_is_checked) {
  cm_engine_config c;
  cm_engine_config_init(&c);
  cr_assert_eq(c.lookahead_upto, CM_URGENCY_URGENT);
  c.lookahead_upto = CM_URGENCY_SCHEDULED;
  cm_error err;
  cr_assert_eq(cm_engine_config_validate(&c, &err), CM_OK);
  c.lookahead_upto = CM_URGENCY_EMERGENCY;
  cr_assert_eq(cm_engine_config_validate(&c, &err), CM_E_RANGE);
  cr_assert_str_eq(err.field, "$.lookahead_upto");
}

/* carematchd reads [matching] lookahead_upto (an unknown key would refuse
 * the file) and refuses an urgency out of its range, naming the key. */
Test(lookahead, daemon_reads_lookahead_upto) {
  char out[1024];
  cr_assert_eq(cm_test_check_config("[server]\nauth = off\n[matching]\n"
                                    "lookahead_upto = scheduled\n",
                                    out, sizeof out),
               0, "%s", out);
  cr_assert_neq(cm_test_check_config("[matching]\nlookahead_upto = emergency\n",
                                     out, sizeof out),
                0);
  cr_assert(strstr(out, "lookahead_upto: must be urgent, normal or scheduled"),
            "%s", out);
}

/* An emergency dlat_km north and dlon_km east of her job (free in 3
 * min) waits for her when waits, else goes to the far nurse at once. */
static void off_her_job(double dlat_km, double dlon_km, int waits) {
  start(15);
  city();
  int64_t t = 1200000 + 7 * 60000;
  submit_off("e1", dlat_km, dlon_km, t);
  step(t);
  cm_request_view e1 = view("e1");
  if (waits) {
    cr_assert_eq(e1.state, CM_REQ_PENDING, "not given to the far nurse");
    cr_assert_eq(e1.reason, CM_REASON_WAITING_WORKER);
    cr_assert_eq(cm_engine_worker_jobs(fx.eng, "far"), 0);
  } else {
    cr_assert_eq(e1.state, CM_REQ_OFFERED, "beyond her: the far nurse");
    cr_assert_str_eq(e1.workers[0], "far");
  }
}

/* 1 km north of her job too (free in 3 min, then 1.3 road km; the far
 * nurse is 5 km away): the batch looks for busy workers by latitude, and
 * its band must reach past her own. */
Test(lookahead, waited_for_from_a_km_north_of_her_job, .fini = stop) {
  off_her_job(1.0, 0.0, 1);
}

/* The band is cut by longitude too (cm__lon_reach_deg): 1 km east or
 * west still waits for her; 5 km east is beyond her drive in the minutes
 * left (12 minutes: 3.8 km) and goes to the far nurse (7.8 km). */
Test(lookahead, waited_for_from_a_km_east_of_her_job, .fini = stop) {
  off_her_job(0.0, 1.0, 1);
}

Test(lookahead, waited_for_from_a_km_west_of_her_job, .fini = stop) {
  off_her_job(0.0, -1.0, 1);
}

Test(lookahead, not_waited_for_from_5_km_east, .fini = stop) {
  off_her_job(0.0, 5.0, 0);
}

/* The longitude cut never drops a point within reach: random pairs at
 * every latitude (the poles' neighbourhood and the date line included),
 * distances up to 30 km, checked against cm_geo_distance_km. */
Test(lookahead, the_longitude_cut_keeps_every_point_within_reach) {
  srand(7);
  int within = 0, cut = 0;
  for (int i = 0; i < 200000; i++) {
    double lat = -89.5 + 179.0 * rand() / (double)RAND_MAX;
    double lon = -180.0 + 360.0 * rand() / (double)RAND_MAX;
    double reach = 0.05 + 30.0 * rand() / (double)RAND_MAX;
    double dlat = (2.0 * rand() / (double)RAND_MAX - 1.0) * reach / 111.0;
    double wide = cm__lon_reach_deg(lat, reach);
    double span = wide < 360.0 ? 3.0 * wide : 0.5;
    double dlon = (2.0 * rand() / (double)RAND_MAX - 1.0) * span;
    double lat2 = lat + dlat, lon2 = lon + dlon;
    if (lat2 > 90.0 || lat2 < -90.0)
      continue;
    if (lon2 > 180.0)
      lon2 -= 360.0;
    if (lon2 < -180.0)
      lon2 += 360.0;
    double dl = fabs(lon2 - lon);
    if (dl > 180.0)
      dl = 360.0 - dl;
    if (cm_geo_distance_km(lat, lon, lat2, lon2) > reach)
      continue;
    within++;
    cr_assert_leq(dl, wide, "lat %.6f lon %.6f -> %.6f %.6f: %.4f km of %.4f",
                  lat, lon, lat2, lon2,
                  cm_geo_distance_km(lat, lon, lat2, lon2), reach);
    cut += wide < 360.0;
  }
  cr_assert_gt(within, 10000, "enough pairs within reach");
  cr_assert_gt(cut, within / 2, "the cut applies to most of them");
}
