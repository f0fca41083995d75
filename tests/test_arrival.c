/* test_arrival.c -- an accepted worker's arrival in the engine
 * (cm_engine_arrived): it records arrived_ms and the arrived event
 * (accepted -> accepted, the worker named, version + 1); again, or by a
 * team's other member, it is a no-op; other states are refused with the
 * state named; unknown ids name the field; the async call completes once;
 * the memory and Redis ledgers keep arrived_ms across a rebuild. Memory
 * store, test clock; the Redis part on 127.0.0.1:$CM_TEST_REDIS_PORT (or a
 * server of its own). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "carematch/engine.h"
#include "carematch/redis.h"
#include "engine_fx.h"
#include "fixtures.h"
#include "redis_server.h"

#define T0 CM_FX_T0

static cm_fx fx;

/* Batches of 100 ms, on ledger l (NULL: none). */
static cm_engine_config config(cm_ledger *l) {
  cm_engine_config cfg;
  cm_engine_config_init(&cfg);
  cfg.batch_window_ms = 100;
  cfg.reserve_workers = 0; /* the emergency reserve would hold one back */
  cfg.ledger = l;
  return cfg;
}

static void worker(cm_engine *e, const char *id, double dlat_km) {
  cm_fx_nurse(e, id, dlat_km, T0);
}

static void submit(cm_engine *e, const char *id, int staff) {
  cm_request_spec s = cm_fx_spec(id, CM_FX_NURSE, staff, CM_URGENCY_URGENT, 0);
  cm_error err;
  cr_assert_eq(cm_engine_submit(e, &s, T0, &err), CM_OK, "%s", err.message);
}

/* Submit id (staff workers), run a batch and accept every offer. */
static void accepted(cm_engine *e, const char *id, int staff) {
  cm_error err;
  submit(e, id, staff);
  cr_assert_eq(cm_engine_step(e, T0 + 500, NULL, &err), CM_OK, "%s",
               err.message);
  cm_request_view v = cm_fx_view(e, id);
  cr_assert_eq(v.state, CM_REQ_OFFERED);
  for (int i = 0; i < v.n_workers; i++)
    cr_assert_eq(cm_engine_accept(e, id, v.workers[i], T0 + 1000, &err), CM_OK,
                 "%s", err.message);
  cr_assert_eq(cm_fx_view(e, id).state, CM_REQ_ACCEPTED);
}

/* The events of type t among those pending; the last one in *last. */
static int drain(cm_engine *e, cm_event_type t, cm_event *last) {
  cm_event ev[64];
  int n, c = 0;
  while ((n = cm_engine_poll(e, ev, 64)) > 0)
    for (int i = 0; i < n; i++)
      if (ev[i].type == t) {
        c++;
        if (last)
          *last = ev[i];
      }
  return c;
}

static void start(void) {
  cm_engine_config cfg = config(NULL);
  cm_fx_engine_open(&fx, &cfg);
  worker(fx.eng, "w1", 0.5);
  worker(fx.eng, "w2", 1.0);
  worker(fx.eng, "w3", 1.5);
}

static void stop(void) {
  cm_fx_engine_close(&fx);
}

TestSuite(arrival, .init = start, .fini = stop);

Test(arrival, records_the_time_and_the_event) {
  accepted(fx.eng, "r1", 1);
  drain(fx.eng, CM_EV_ARRIVED, NULL);
  cm_request_view before = cm_fx_view(fx.eng, "r1");
  cr_assert_eq(before.arrived_ms, 0);
  const char *w = before.workers[0];
  cm_error err;
  cr_assert_eq(cm_engine_arrived(fx.eng, "r1", w, T0 + 60000, &err), CM_OK,
               "%s", err.message);
  cm_request_view v = cm_fx_view(fx.eng, "r1");
  cr_assert_eq(v.arrived_ms, T0 + 60000);
  cr_assert_eq(v.state, CM_REQ_ACCEPTED);
  cr_assert_eq(v.version, before.version + 1);
  cm_event ev;
  cr_assert_eq(drain(fx.eng, CM_EV_ARRIVED, &ev), 1);
  cr_assert_str_eq(ev.request, "r1");
  cr_assert_str_eq(ev.worker, w);
  cr_assert_eq(ev.from, CM_REQ_ACCEPTED);
  cr_assert_eq(ev.to, CM_REQ_ACCEPTED);
  cr_assert_eq(ev.at_ms, T0 + 60000);
  cr_assert_str_eq(cm_event_type_name(CM_EV_ARRIVED), "arrived");
  /* it still completes, and keeps its arrival */
  cr_assert_eq(cm_engine_complete(fx.eng, "r1", T0 + 90000, &err), CM_OK);
  cr_assert_eq(cm_fx_view(fx.eng, "r1").arrived_ms, T0 + 60000);
}

Test(arrival, again_is_a_no_op) {
  accepted(fx.eng, "r1", 1);
  cm_request_view v = cm_fx_view(fx.eng, "r1");
  cm_error err;
  cr_assert_eq(cm_engine_arrived(fx.eng, "r1", v.workers[0], T0 + 5000, &err),
               CM_OK);
  drain(fx.eng, CM_EV_ARRIVED, NULL);
  uint64_t version = cm_fx_view(fx.eng, "r1").version;
  cr_assert_eq(cm_engine_arrived(fx.eng, "r1", v.workers[0], T0 + 9000, &err),
               CM_OK, "%s", err.message);
  cr_assert_eq(cm_fx_view(fx.eng, "r1").arrived_ms, T0 + 5000,
               "the first arrival");
  cr_assert_eq(cm_fx_view(fx.eng, "r1").version, version, "nothing written");
  cr_assert_eq(drain(fx.eng, CM_EV_ARRIVED, NULL), 0, "no second event");
}

/* A team has one arrival: its first member's. */
Test(arrival, a_team_keeps_its_first_arrival) {
  accepted(fx.eng, "t", 2);
  cm_request_view v = cm_fx_view(fx.eng, "t");
  cr_assert_eq(v.n_workers, 2);
  cm_error err;
  cr_assert_eq(cm_engine_arrived(fx.eng, "t", v.workers[1], T0 + 7000, &err),
               CM_OK);
  cr_assert_eq(cm_engine_arrived(fx.eng, "t", v.workers[0], T0 + 8000, &err),
               CM_OK, "%s", err.message);
  cr_assert_eq(cm_fx_view(fx.eng, "t").arrived_ms, T0 + 7000);
  cm_event ev;
  cr_assert_eq(drain(fx.eng, CM_EV_ARRIVED, &ev), 1);
  cr_assert_str_eq(ev.worker, v.workers[1]);
}

Test(arrival, other_states_are_refused_with_the_state_named) {
  cm_error err;
  submit(fx.eng, "p", 1); /* pending: no batch yet */
  cr_assert_eq(cm_engine_arrived(fx.eng, "p", "w1", T0 + 100, &err),
               CM_E_CONFLICT);
  cr_assert_str_eq(err.field, "$.request");
  cr_assert(strstr(err.message, "pending"), "%s", err.message);
  cr_assert_eq(cm_engine_step(fx.eng, T0 + 500, NULL, &err), CM_OK);
  cm_request_view v = cm_fx_view(fx.eng, "p");
  cr_assert_eq(v.state, CM_REQ_OFFERED);
  cr_assert_eq(cm_engine_arrived(fx.eng, "p", v.workers[0], T0 + 600, &err),
               CM_E_CONFLICT);
  cr_assert(strstr(err.message, "offered"), "%s", err.message);
  cr_assert_eq(cm_engine_accept(fx.eng, "p", v.workers[0], T0 + 700, &err),
               CM_OK);
  cr_assert_eq(cm_engine_complete(fx.eng, "p", T0 + 800, &err), CM_OK);
  cr_assert_eq(cm_engine_arrived(fx.eng, "p", v.workers[0], T0 + 900, &err),
               CM_E_CONFLICT);
  cr_assert(strstr(err.message, "done"), "%s", err.message);
  cr_assert_eq(cm_fx_view(fx.eng, "p").arrived_ms, 0);
  cr_assert_eq(drain(fx.eng, CM_EV_ARRIVED, NULL), 0);
}

Test(arrival, only_an_accepted_worker_of_it) {
  accepted(fx.eng, "r1", 1);
  const char *other =
      strcmp(cm_fx_view(fx.eng, "r1").workers[0], "w3") ? "w3" : "w2";
  cm_error err;
  cr_assert_eq(cm_engine_arrived(fx.eng, "r1", other, T0 + 2000, &err),
               CM_E_CONFLICT);
  cr_assert_str_eq(err.field, "$.worker");
  cr_assert_eq(cm_fx_view(fx.eng, "r1").arrived_ms, 0);
}

Test(arrival, unknown_ids_name_the_field) {
  accepted(fx.eng, "r1", 1);
  cm_error err;
  cr_assert_eq(cm_engine_arrived(fx.eng, "r1", "nobody", T0 + 2000, &err),
               CM_E_UNKNOWN_ID);
  cr_assert_str_eq(err.field, "$.worker");
  cr_assert_eq(cm_engine_arrived(fx.eng, "nothing", "w1", T0 + 2000, &err),
               CM_E_UNKNOWN_ID);
  cr_assert_str_eq(err.field, "$.request");
  cr_assert_eq(cm_engine_arrived(fx.eng, NULL, "w1", T0 + 2000, &err),
               CM_E_UNKNOWN_ID);
  cr_assert_eq(cm_fx_view(fx.eng, "r1").arrived_ms, 0);
}

static void count_done(void *ctx, cm_status st, const cm_error *err) {
  (void)err;
  cr_assert_eq(st, CM_OK);
  (*(int *)ctx)++;
}

Test(arrival, async_completes_once) {
  accepted(fx.eng, "r1", 1);
  cm_error err;
  int done = 0;
  cr_assert_eq(cm_engine_arrived_async(fx.eng, "r1",
                                       cm_fx_view(fx.eng, "r1").workers[0],
                                       T0 + 3000, NULL, NULL, &err),
               CM_E_INVALID, "a completion is required");
  cr_assert_eq(cm_engine_arrived_async(fx.eng, "r1",
                                       cm_fx_view(fx.eng, "r1").workers[0],
                                       T0 + 3000, count_done, &done, &err),
               CM_OK, "%s", err.message);
  cr_assert_eq(done, 1);
  cr_assert_eq(cm_fx_view(fx.eng, "r1").arrived_ms, T0 + 3000);
}

/* An operator's reassignment of an accepted request clears its arrival:
 * whoever takes it has not arrived. */
Test(arrival, reassignment_clears_it) {
  accepted(fx.eng, "r1", 1);
  cm_error err;
  cr_assert_eq(cm_engine_arrived(fx.eng, "r1",
                                 cm_fx_view(fx.eng, "r1").workers[0], T0 + 3000,
                                 &err),
               CM_OK);
  cr_assert_eq(cm_engine_reassign(fx.eng, "r1", NULL, "ann", T0 + 4000, &err),
               CM_OK, "%s", err.message);
  cr_assert_eq(cm_fx_view(fx.eng, "r1").state, CM_REQ_PENDING);
  cr_assert_eq(cm_fx_view(fx.eng, "r1").arrived_ms, 0);
}

/* ---- rebuilt from a ledger ---- */

/* A second engine on the ledger l (rebuilt from it) sees r1's arrival;
 * l is freed. */
static void arrival_survives(cm_ledger *l) {
  cm_engine_config cfg = config(l);
  cm_fx_engine_open(&fx, &cfg);
  cm_engine *e1 = fx.eng;
  cm_error err;
  cr_assert_eq(cm_engine_sync(e1, T0, &err), CM_OK, "%s", err.message);
  worker(e1, "w1", 0.5);
  accepted(e1, "r1", 1);
  cr_assert_eq(cm_engine_arrived(e1, "r1", "w1", T0 + 4000, &err), CM_OK, "%s",
               err.message);
  submit(e1, "r2", 1); /* pending: no arrival, none read back */
  uint64_t version = cm_fx_view(e1, "r1").version;
  cm_fx_engine_restart(&fx, &cfg); /* e1 freed */
  cm_engine *e2 = fx.eng;
  cr_assert_eq(cm_engine_sync(e2, T0 + 5000, &err), CM_OK, "%s", err.message);
  cm_request_view v = cm_fx_view(e2, "r1");
  cr_assert_eq(v.state, CM_REQ_ACCEPTED);
  cr_assert_eq(v.arrived_ms, T0 + 4000);
  cr_assert_eq(v.version, version);
  cr_assert_eq(cm_fx_view(e2, "r2").arrived_ms, 0);
  /* the rebuilt engine knows it arrived: again is a no-op */
  cr_assert_eq(cm_engine_arrived(e2, "r1", "w1", T0 + 6000, &err), CM_OK);
  cr_assert_eq(cm_fx_view(e2, "r1").version, version);
  cm_fx_engine_close(&fx);
}

Test(arrival_ledger, memory_ledger_rebuild_keeps_it) {
  cm_error err;
  cm_ledger *l = cm_ledger_memory_new(&err);
  cr_assert_not_null(l);
  arrival_survives(l);
}

static int g_port;
static pid_t g_pid;

static void redis_setup(void) {
  cm_test_redis s = cm_test_redis_use();
  g_port = s.port;
  g_pid = s.pid;
}

static void redis_teardown(void) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "cm:{ar%ld}*", (long)getpid());
  cm_test_redis_done(&(cm_test_redis){g_port, g_pid}, pattern);
}

Test(arrival_ledger, redis_ledger_rebuild_keeps_it, .init = redis_setup,
     .fini = redis_teardown) {
  char region[32];
  snprintf(region, sizeof region, "ar%ld", (long)getpid());
  cm_error err;
  cm_redis_options o;
  cm_redis_options_init(&o);
  o.timeout_ms = 2000;
  cm_redis *c1 = cm_redis_new("127.0.0.1", g_port, region, &o, &err);
  cr_assert_not_null(c1, "%s", err.message);
  cm_ledger *l = cm_ledger_redis_new(c1, NULL, &err);
  cr_assert_not_null(l, "%s", err.message);
  arrival_survives(l);
  cm_redis_free(c1);
}
