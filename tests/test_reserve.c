/* test_reserve.c -- the engine's emergency reserve on hand-made
 * situations: which free emergency-capable worker is kept from normal
 * work, that an emergency then gets it at once, what is exempt, and the
 * configuration's validation. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "carematch/engine.h"
#include "daemon_proc.h"
#include "engine_fx.h"
#include "fixtures.h"

static cm_fx fx;

static void start(int reserve, cm_urgency from) {
  cm_engine_config c;
  cm_engine_config_init(&c);
  c.batch_window_ms = 200;
  c.reserve_workers = reserve;
  c.reserve_km = 5.0;
  c.reserve_from = from;
  cm_fx_engine_open(&fx, &c);
}

static void stop(void) {
  cm_fx_engine_close(&fx);
}

/* A worker dlat_km north of the point every request is at. */
static void worker(const char *id, cm_skillset skills, double dlat_km) {
  cm_worker w = cm_fx_worker(id, skills, dlat_km, 0.0, 1, 0);
  cm_error err;
  cr_assert_eq(cm_engine_worker_upsert(fx.eng, &w, 0, &err), CM_OK, "%s",
               err.message);
}

static void submit(const char *id, cm_skillset skills, cm_urgency u,
                   int64_t now) {
  cm_request_spec s = cm_fx_spec(id, skills, 1, u, 0.0);
  s.skill_mode = CM_SKILLS_ANY;
  cm_error err;
  cr_assert_eq(cm_engine_submit(fx.eng, &s, now, &err), CM_OK, "%s",
               err.message);
}

/* cm_engine_step at now, which must succeed: the batches it ran. */
static int step(int64_t now) {
  int n = -1;
  cm_error err;
  cr_assert_eq(cm_engine_step(fx.eng, now, &n, &err), CM_OK, "%s", err.message);
  return n;
}

static cm_request_view view(const char *id) {
  cm_request_view v;
  cr_assert_eq(cm_engine_request_get(fx.eng, id, &v, NULL), CM_OK);
  return v;
}

static void accept(const char *req, int64_t now) {
  cm_request_view v = view(req);
  cr_assert_eq(v.state, CM_REQ_OFFERED, "%s is offered", req);
  cr_assert_eq(cm_engine_accept(fx.eng, req, v.workers[0], now, NULL), CM_OK);
}

/* w0 takes a first emergency (so the engine knows which skills an
 * emergency needs); w1 and w2 stay free, 1 and 2 km away, each within
 * the reserve radius of the other. */
static void city(void) {
  worker("w0", CM_FX_NURSE, 0.0);
  worker("w1", CM_FX_CAREGIVER, 1.0);
  worker("w2", CM_FX_CAREGIVER | CM_FX_CLEANER, 2.0);
  submit("e0", CM_FX_NURSE | CM_FX_CAREGIVER, CM_URGENCY_EMERGENCY, 1000);
  cr_assert_eq(step(1000), 1);
  cr_assert_str_eq(view("e0").workers[0], "w0");
  accept("e0", 2000);
}

/* Two free capable workers, reserve 1, two normal requests: one is
 * served, the other waits however long; an emergency arriving then gets
 * the kept worker in its own batch. */
Test(reserve, keeps_one_for_the_next_emergency, .fini = stop) {
  start(1, CM_URGENCY_URGENT);
  city();
  submit("n1", CM_FX_CAREGIVER, CM_URGENCY_NORMAL, 3000);
  submit("n2", CM_FX_CAREGIVER, CM_URGENCY_NORMAL, 3000);
  cm_engine_step(fx.eng, 3200, NULL, NULL);
  cr_assert_eq(view("n1").state, CM_REQ_OFFERED, "the first is served");
  cr_assert_str_eq(view("n1").workers[0], "w1", "by the nearest");
  accept("n1", 4000);
  for (int64_t t = 4000; t <= 700000; t += 1000) {
    if (t % 60000 == 0) /* positions stay fresh */
      cm_engine_worker_position(fx.eng, "w2", 31.23 + 2.0 / 111.195, 121.47, t,
                                NULL);
    cm_engine_step(fx.eng, t, NULL, NULL);
  }
  cm_request_view n2 = view("n2");
  cr_assert_eq(n2.state, CM_REQ_PENDING, "the second waits: w2 is kept");
  cr_assert_eq(n2.reason, CM_REASON_RESERVE,
               "the reserve says so, not no_candidate");
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "w2"), 0);
  submit("e1", CM_FX_NURSE | CM_FX_CAREGIVER, CM_URGENCY_EMERGENCY, 700500);
  cr_assert_eq(cm_engine_next_due(fx.eng), 700500, "an emergency goes at once");
  cr_assert_eq(step(700500), 1);
  cm_request_view e1 = view("e1");
  cr_assert_eq(e1.state, CM_REQ_OFFERED);
  cr_assert_str_eq(e1.workers[0], "w2", "the kept worker");
  cr_assert_eq(view("n2").state, CM_REQ_PENDING);
}

/* An emergency in the same batch as normal work chooses first: the
 * reserve never sends it to a farther worker than it would have had.
 * (Stepped when the window is due: a step before it would solve the
 * emergency alone, docs/engine.md "An emergency's own batch".) */
Test(reserve, an_emergency_in_the_batch_is_not_pushed_away, .fini = stop) {
  start(1, CM_URGENCY_URGENT);
  city();
  submit("n1", CM_FX_CAREGIVER, CM_URGENCY_NORMAL, 3000);
  submit("e1", CM_FX_NURSE | CM_FX_CAREGIVER, CM_URGENCY_EMERGENCY, 3000);
  cr_assert_eq(step(3200), 1);
  cr_assert_str_eq(view("e1").workers[0], "w1", "the nearest");
  cr_assert_eq(view("n1").state, CM_REQ_OFFERED);
  cr_assert_str_eq(view("n1").workers[0], "w2");
}

/* Urgent work keeps off the reserve too by default; with reserve_from
 * normal it takes it. */
Test(reserve, urgent_waits_unless_exempt, .fini = stop) {
  start(1, CM_URGENCY_URGENT);
  city();
  submit("u1", CM_FX_CAREGIVER, CM_URGENCY_URGENT, 3000);
  submit("u2", CM_FX_CAREGIVER, CM_URGENCY_URGENT, 3000);
  cm_engine_step(fx.eng, 3200, NULL, NULL);
  cr_assert_eq(view("u1").state, CM_REQ_OFFERED);
  cr_assert_eq(view("u2").state, CM_REQ_PENDING);
  stop();
  start(1, CM_URGENCY_NORMAL);
  city();
  submit("u1", CM_FX_CAREGIVER, CM_URGENCY_URGENT, 3000);
  submit("u2", CM_FX_CAREGIVER, CM_URGENCY_URGENT, 3000);
  submit("n1", CM_FX_CAREGIVER, CM_URGENCY_NORMAL, 3000);
  cm_engine_step(fx.eng, 3200, NULL, NULL);
  cr_assert_eq(view("u1").state, CM_REQ_OFFERED);
  cr_assert_eq(view("u2").state, CM_REQ_OFFERED, "urgent is exempt");
  cr_assert_eq(view("n1").state, CM_REQ_PENDING);
}

/* Work a capable worker is not needed for goes elsewhere: one of w1 and
 * w2 is kept, so the cleaning goes to w3 (a cleaner only, farther). */
Test(reserve, other_work_uses_the_others, .fini = stop) {
  start(1, CM_URGENCY_URGENT);
  city();
  worker("w3", CM_FX_CLEANER, 4.0);
  submit("n1", CM_FX_CAREGIVER, CM_URGENCY_NORMAL, 3000);
  submit("c1", CM_FX_CLEANER, CM_URGENCY_NORMAL, 3000);
  cm_engine_step(fx.eng, 3200, NULL, NULL);
  cr_assert_eq(view("n1").state, CM_REQ_OFFERED);
  cr_assert_eq(view("c1").state, CM_REQ_OFFERED);
  cr_assert_str_eq(view("c1").workers[0], "w3", "w2 is nearer");
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "w1") +
                   cm_engine_worker_jobs(fx.eng, "w2"),
               1, "one of them is kept");
}

/* Off (reserve 0), or before any emergency was seen, nothing is kept. */
Test(reserve, off_or_no_emergency_yet, .fini = stop) {
  start(0, CM_URGENCY_URGENT);
  city();
  submit("n1", CM_FX_CAREGIVER, CM_URGENCY_NORMAL, 3000);
  submit("n2", CM_FX_CAREGIVER, CM_URGENCY_NORMAL, 3000);
  cm_engine_step(fx.eng, 3200, NULL, NULL);
  cr_assert_eq(view("n1").state, CM_REQ_OFFERED);
  cr_assert_eq(view("n2").state, CM_REQ_OFFERED);
  stop();
  start(1, CM_URGENCY_URGENT);
  worker("w1", CM_FX_CAREGIVER, 1.0);
  worker("w2", CM_FX_CAREGIVER, 2.0);
  submit("n1", CM_FX_CAREGIVER, CM_URGENCY_NORMAL, 3000);
  submit("n2", CM_FX_CAREGIVER, CM_URGENCY_NORMAL, 3000);
  cm_engine_step(fx.eng, 3200, NULL, NULL);
  cr_assert_eq(view("n1").state, CM_REQ_OFFERED);
  cr_assert_eq(view("n2").state, CM_REQ_OFFERED);
}

/* A capable worker outside the batch's reach (farther than any normal
 * request looks) counts as kept: both near ones may work. */
Test(reserve, a_free_worker_out_of_reach_is_the_reserve, .fini = stop) {
  start(1, CM_URGENCY_URGENT);
  city();
  worker("w4", CM_FX_CAREGIVER, 5.5); /* within 5 km of w1 and w2, beyond the
                                   5 km a normal request looks */
  submit("n1", CM_FX_CAREGIVER, CM_URGENCY_NORMAL, 3000);
  submit("n2", CM_FX_CAREGIVER, CM_URGENCY_NORMAL, 3000);
  cm_engine_step(fx.eng, 3200, NULL, NULL);
  cr_assert_eq(view("n1").state, CM_REQ_OFFERED);
  cr_assert_eq(view("n2").state, CM_REQ_OFFERED);
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "w4"), 0);
}

/* A worker is kept back only when fewer than reserve_workers are kept
 * among its R + 8 nearest capable workers, not among the first few the
 * engine asks the store for (R + 1, engine_reserve.c): here each of four
 * workers in the batch's reach has the other three nearer than the one
 * kept worker beyond that reach, so none is held and all four requests
 * are served. Deciding on the first R + 1 alone would hold some. */
Test(reserve, the_kept_worker_may_be_beyond_the_first_neighbours,
     .fini = stop) {
  start(1, CM_URGENCY_URGENT);
  city();
  worker("w3", CM_FX_CAREGIVER, 3.0);
  worker("w4", CM_FX_CAREGIVER, 4.0);
  worker("wk", CM_FX_CAREGIVER, 5.5); /* beyond the 5 km a normal request
                                         looks, within 5 km of w1 .. w4 */
  const char *req[4] = {"n1", "n2", "n3", "n4"};
  for (int i = 0; i < 4; i++)
    submit(req[i], CM_FX_CAREGIVER, CM_URGENCY_NORMAL, 3000);
  cm_engine_step(fx.eng, 3200, NULL, NULL);
  for (int i = 0; i < 4; i++)
    cr_assert_eq(view(req[i]).state, CM_REQ_OFFERED, "%s served", req[i]);
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "wk"), 0, "wk is the reserve");
}

Test(reserve, config_is_validated) {
  cm_store *st = cm_store_memory_new(0);
  cm_engine_config c;
  cm_error err;
  cm_engine_config_init(&c);
  cr_assert_eq(c.reserve_workers, 1, "on by default");
  c.reserve_workers = -1;
  cr_assert_null(cm_engine_new(&c, st, &err));
  cr_assert_str_eq(err.field, "$.reserve_workers");
  cm_engine_config_init(&c);
  c.reserve_workers = 65;
  cr_assert_null(cm_engine_new(&c, st, &err));
  cr_assert_str_eq(err.field, "$.reserve_workers");
  cm_engine_config_init(&c);
  c.reserve_km = NAN;
  cr_assert_null(cm_engine_new(&c, st, &err));
  cr_assert_str_eq(err.field, "$.reserve_km");
  c.reserve_km = 0; /* would hold every capable worker */
  cr_assert_null(cm_engine_new(&c, st, &err));
  cr_assert_str_eq(err.field, "$.reserve_km");
  cm_engine_config_init(&c);
  c.reserve_from = CM_URGENCY_EMERGENCY;
  cr_assert_null(cm_engine_new(&c, st, &err));
  cr_assert_str_eq(err.field, "$.reserve_from");
  cr_assert(strstr(err.message, "urgent, normal or scheduled"));
  cm_store_free(st);
}

Test(reserve, daemon_config_keys) {
  char out[1024];
  cr_assert_eq(
      cm_test_check_config(
          "[server]\nauth = off\n[matching]\nreserve_workers = 2\nreserve_km = "
          "3.5\nreserve_from = normal\n",
          out, sizeof out),
      0, "%s", out);
  cr_assert_neq(cm_test_check_config("[matching]\nreserve_from = emergency\n",
                                     out, sizeof out),
                0);
  cr_assert(strstr(out, "reserve_from: must be urgent, normal or scheduled"),
            "%s", out);
  cr_assert_neq(cm_test_check_config("[matching]\nreserve_workers = 65\n", out,
                                     sizeof out),
                0);
  cr_assert(strstr(out, "reserve_workers"), "%s", out);
  cr_assert_neq(
      cm_test_check_config("[matching]\nreserve_km = -1\n", out, sizeof out),
      0);
  cr_assert(strstr(out, "reserve_km"), "%s", out);
}
