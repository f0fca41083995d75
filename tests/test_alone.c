/* test_alone.c -- an emergency's own batch (docs/engine.md "An
 * emergency's own batch"): an emergency that comes before the window of
 * the waiting work is due is solved in a batch of the emergencies alone,
 * so its offer does not wait for the backlog's candidates and solve; the
 * others keep their batch at their window. With emergencies_alone off the
 * emergency takes the whole backlog along, as before; a window due at the
 * emergency's time makes one batch of everything. The real carematchd
 * reads [batch] emergencies_alone and behaves so over HTTP. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "carematch/store.h"
#include "daemon_proc.h"
#include "engine_fx.h"
#include "fixtures.h"

static cm_fx fx;

/* Two nurses, 0 and 2 km north; the window 300 ms; the reserve off (it
 * is not what is tested). */
static void open_engine(int alone) {
  cm_engine_config c;
  cm_engine_config_init(&c);
  c.batch_window_ms = 300;
  c.reserve_workers = 0;
  c.emergencies_alone = alone;
  cm_fx_engine_open(&fx, &c);
  cm_fx_nurse(fx.eng, "n0", 0.0, 0);
  cm_fx_nurse(fx.eng, "n2", 2.0, 0);
}

/* The same and a normal request r1 at 0 km at t = 1000. */
static void start(int alone) {
  open_engine(alone);
  cm_fx_nurse_request(fx.eng, "r1", CM_URGENCY_NORMAL, 0.0, 1000);
}

/* An emergency e1 0.5 km north at t for a maternity nurse: no one. */
static void unservable_emergency(int64_t t) {
  cm_request_spec s = cm_fx_spec("e1", 1u << 5, 1, CM_URGENCY_EMERGENCY, 0.5);
  cm_error err;
  cr_assert_eq(cm_engine_submit(fx.eng, &s, t, &err), CM_OK, "%s", err.message);
}

static void stop(void) {
  cm_fx_engine_close(&fx);
}

/* cm_engine_step at now: the batches it ran. */
static int step(int64_t now) {
  int n = -1;
  cm_error err;
  cr_assert_eq(cm_engine_step(fx.eng, now, &n, &err), CM_OK, "%s", err.message);
  return n;
}

Test(alone, an_emergency_before_the_window_is_solved_alone, .fini = stop) {
  start(1);
  cr_assert_eq(cm_engine_next_due(fx.eng), 1300, "r1 waits for its window");
  cm_fx_nurse_request(fx.eng, "e1", CM_URGENCY_EMERGENCY, 0.5, 1100);
  cr_assert_eq(cm_engine_next_due(fx.eng), 1100, "an emergency goes at once");
  cr_assert_eq(step(1100), 1);
  cm_request_view e1 = cm_fx_view(fx.eng, "e1");
  cr_assert_eq(e1.state, CM_REQ_OFFERED);
  cr_assert_str_eq(e1.workers[0], "n0", "the nearest");
  cm_request_view r1 = cm_fx_view(fx.eng, "r1");
  cr_assert_eq(r1.state, CM_REQ_PENDING, "not in the emergency's batch");
  cr_assert_eq(r1.batches, 0);
  cr_assert_eq(cm_engine_next_due(fx.eng), 1300, "its window is kept");
  cr_assert_eq(step(1299), 0, "and not run before it");
  cr_assert_eq(step(1300), 1);
  r1 = cm_fx_view(fx.eng, "r1");
  cr_assert_eq(r1.state, CM_REQ_OFFERED);
  cr_assert_str_eq(r1.workers[0], "n2", "the one left");
}

Test(alone, off_the_emergency_takes_the_backlog_along, .fini = stop) {
  start(0);
  cm_fx_nurse_request(fx.eng, "e1", CM_URGENCY_EMERGENCY, 0.5, 1100);
  cr_assert_eq(cm_engine_next_due(fx.eng), 1100);
  cr_assert_eq(step(1100), 1);
  cr_assert_eq(cm_fx_view(fx.eng, "e1").state, CM_REQ_OFFERED);
  cm_request_view r1 = cm_fx_view(fx.eng, "r1");
  cr_assert_eq(r1.state, CM_REQ_OFFERED, "in the emergency's batch");
  cr_assert_eq(r1.batches, 1);
}

Test(alone, a_window_due_with_the_emergency_makes_one_batch, .fini = stop) {
  start(1);
  cm_fx_nurse_request(fx.eng, "e1", CM_URGENCY_EMERGENCY, 0.5, 1300);
  cr_assert_eq(step(1300), 1); /* a step runs one batch: r1 is in it */
  cr_assert_str_eq(cm_fx_view(fx.eng, "e1").workers[0], "n0");
  cr_assert_str_eq(cm_fx_view(fx.eng, "r1").workers[0], "n2");
}

/* An emergency no one can take is retried with everything at the next
 * window, not alone at every step. */
Test(alone, an_emergency_not_offered_is_retried_with_the_rest, .fini = stop) {
  start(1);
  unservable_emergency(1100);
  cr_assert_eq(step(1100), 1);
  cm_request_view e1 = cm_fx_view(fx.eng, "e1");
  cr_assert_eq(e1.state, CM_REQ_PENDING, "no maternity worker");
  cr_assert_eq(e1.batches, 1);
  cr_assert_eq(cm_engine_next_due(fx.eng), 1300, "r1's window, with e1");
  cr_assert_eq(step(1300), 1);
  cr_assert_eq(cm_fx_view(fx.eng, "e1").batches, 2);
  cr_assert_eq(cm_fx_view(fx.eng, "r1").state, CM_REQ_OFFERED);
}

/* Alone, the same: its retry is a window after its own batch. */
Test(alone, a_lone_emergency_not_offered_is_retried_a_window_later,
     .fini = stop) {
  open_engine(1);
  unservable_emergency(1100);
  cr_assert_eq(step(1100), 1);
  cr_assert_eq(cm_engine_next_due(fx.eng), 1400);
  cr_assert_eq(step(1400), 1);
  cr_assert_eq(cm_fx_view(fx.eng, "e1").batches, 2);
}

/* Requests that come while a regular batch is solved: the emergency gets
 * a batch of its own as soon as that one ends, the normal request waits
 * for its window (not an immediate batch of everything). */
Test(alone, what_comes_during_a_batch_keeps_its_own_batch, .fini = stop) {
  start(1);
  cm_engine_batch *b = NULL;
  cm_error err;
  cr_assert_eq(cm_engine_batch_begin(fx.eng, 1300, &b, &err), CM_OK, "%s",
               err.message);
  cr_assert_not_null(b, "r1's window: a regular batch");
  cr_assert_eq(cm_engine_batch_solve(b, &err), CM_OK, "%s", err.message);
  cm_fx_nurse_request(fx.eng, "r2", CM_URGENCY_NORMAL, 0.0, 1310);
  cm_fx_nurse_request(fx.eng, "e1", CM_URGENCY_EMERGENCY, 0.5, 1320);
  cr_assert_eq(cm_engine_batch_end(fx.eng, b, 1330, &err), CM_OK, "%s",
               err.message);
  cr_assert_eq(cm_fx_view(fx.eng, "r1").state, CM_REQ_OFFERED);
  cr_assert_eq(cm_engine_next_due(fx.eng), 1320, "the emergency's own");
  cr_assert_eq(step(1330), 1);
  cr_assert_eq(cm_fx_view(fx.eng, "e1").state, CM_REQ_OFFERED);
  cm_request_view r2 = cm_fx_view(fx.eng, "r2");
  cr_assert_eq(r2.batches, 0, "not in the emergency's batch");
  cr_assert_eq(cm_engine_next_due(fx.eng), 1610, "r2's window");
}

Test(alone, config_is_checked) {
  cm_store *st = cm_store_memory_new(0);
  cm_engine_config c;
  cm_error err;
  cm_engine_config_init(&c);
  cr_assert_eq(c.emergencies_alone, 1, "on by default");
  c.emergencies_alone = 2;
  cr_assert_null(cm_engine_new(&c, st, &err));
  cr_assert_str_eq(err.field, "$.emergencies_alone");
  cm_store_free(st);
  char out[1024];
  cr_assert_eq(cm_test_check_config("[server]\nauth = off\n[batch]\n"
                                    "emergencies_alone = false\n",
                                    out, sizeof out),
               0, "%s", out);
  cr_assert_neq(
      cm_test_check_config("[batch]\nemergencies_alone = 2\n", out, sizeof out),
      0);
  cr_assert(strstr(out, "emergencies_alone"), "names the key: %s", out);
}

/* ---- the daemon ---- */

static cm_test_daemon D;

static void daemon_stop(void) {
  cm_test_daemon_cleanup(&D);
}

static const char *state_of(const char *id) {
  static char state[32];
  char path[96];
  snprintf(path, sizeof path, "/v1/requests/%s", id);
  cm_test_reply r =
      cm_test_expect(D.port, 200, "GET", path, TOK_PLATFORM, NULL);
  const char *s = "";
  json_unpack(r.json, "{s:{s:s}}", "request", "state", &s);
  snprintf(state, sizeof state, "%s", s);
  cm_test_reply_free(&r);
  return state;
}

/* A daemon with a 5 s window and emergencies_alone as given, two nurses,
 * a normal request r1, then an emergency e1: e1's state once it is
 * offered (within 2 s, well inside r1's window), r1's state then in
 * r1_then. */
static void emergency_after_a_request(const char *alone, char *r1_then,
                                      size_t n) {
  char ini[128];
  snprintf(ini, sizeof ini,
           "[batch]\nwindow_ms = 5000\nemergencies_alone = %s\n", alone);
  cm_test_daemon_config(&D, ini);
  cm_test_daemon_start(&D, NULL);
  cm_test_ok_or_created(D.port, "PUT", "/v1/workers/w1", TOK_PLATFORM,
                        "{\"skills\":[\"nurse\"],\"lat\":31.231,"
                        "\"lon\":121.47}");
  cm_test_ok_or_created(D.port, "PUT", "/v1/workers/w2", TOK_PLATFORM,
                        "{\"skills\":[\"nurse\"],\"lat\":31.24,"
                        "\"lon\":121.47}");
  cm_test_ok_or_created(D.port, "POST", "/v1/requests", TOK_PLATFORM,
                        "{\"id\":\"r1\",\"lat\":31.24,\"lon\":121.47,"
                        "\"skills\":[\"nurse\"],\"urgency\":\"normal\"}");
  cm_test_ok_or_created(D.port, "POST", "/v1/requests", TOK_PLATFORM,
                        "{\"id\":\"e1\",\"lat\":31.23,\"lon\":121.47,"
                        "\"skills\":[\"nurse\"],\"urgency\":\"emergency\"}");
  int offered = 0;
  for (int i = 0; i < 200 && !offered; i++) {
    offered = !strcmp(state_of("e1"), "offered");
    if (!offered) {
      struct timespec ts = {0, 10000000};
      nanosleep(&ts, NULL);
    }
  }
  cr_assert(offered, "the emergency is offered at once");
  snprintf(r1_then, n, "%s", state_of("r1"));
}

Test(alone, the_daemon_offers_an_emergency_without_its_backlog,
     .fini = daemon_stop) {
  char r1[32];
  emergency_after_a_request("true", r1, sizeof r1);
  cr_assert_str_eq(r1, "pending", "r1 waits for its window");
}

Test(alone, the_daemon_with_it_off_takes_the_backlog_along,
     .fini = daemon_stop) {
  char r1[32];
  emergency_after_a_request("false", r1, sizeof r1);
  cr_assert_str_eq(r1, "offered", "r1 went with the emergency");
}
