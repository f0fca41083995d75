/* test_interrupt.c -- interruption (engine_divert.c, interrupt_min): a
 * nurse already at a normal visit 1 km from an emergency is offered it over
 * a free nurse 4 km away; on her accept the visit is pending again (its
 * waited-since kept, no arrival, an "interrupted" event naming her) and she
 * holds the emergency alone; on her refusal nothing changed; a nurse at
 * urgent work, one whose visit is about to end (she is waited for, not
 * called away), one saving less than interrupt_min (unless every other
 * candidate would be late and she in time), or any with
 * interrupt_min 0 is never called away; a visit completed, or changed in
 * the ledger, before her answer makes the commit refuse both changes (the
 * memory ledger and a real Redis). The emergency-first stage
 * (engine_stage.c): an emergency and a normal job in one batch, where the
 * LP alone would give the emergency the farther of two nurses to save the
 * normal job's drive, gives it the nearer. */
#include <criterion/criterion.h>
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

static void start_with(cm_ledger *l, double divert_min, double interrupt_min) {
  cm_engine_config c;
  cm_engine_config_init(&c);
  c.batch_window_ms = 100;
  c.reserve_workers = 0; /* interruption alone */
  c.divert_min = divert_min;
  c.interrupt_min = interrupt_min;
  c.ledger = l;
  cm_fx_engine_open(&fx, &c);
  cm_error err;
  if (l)
    cr_assert_eq(cm_engine_sync(fx.eng, T0, &err), CM_OK, "%s", err.message);
}

static void stop(void) {
  cm_fx_engine_close(&fx);
}

/* near takes job j (1 km south) at t and arrives there at t + 1 s. */
static void near_at(const char *j, cm_urgency u, int64_t t) {
  cm_fx_nurse_request(fx.eng, j, u, -1.0, t);
  cm_fx_step(fx.eng, t + 200);
  cr_assert_eq(cm_fx_view(fx.eng, j).state, CM_REQ_OFFERED);
  cr_assert_str_eq(cm_fx_view(fx.eng, j).workers[0], "near");
  cr_assert_eq(cm_engine_accept(fx.eng, j, "near", t + 500, NULL), CM_OK);
  cr_assert_eq(cm_engine_arrived(fx.eng, j, "near", t + 1000, NULL), CM_OK);
}

/* near is at visit j (job urgency u), 1 km south of the centre; far is
 * free 4 km north (some 12 minutes); emergency e comes at the centre, some
 * 3 minutes from near's visit. At T0 + 60 s e has been through its
 * batch. */
static void city(cm_urgency job) {
  cm_fx_nurse(fx.eng, "near", 0.0, T0);
  cm_fx_nurse(fx.eng, "far", 4.0, T0);
  near_at("j", job, T0);
  cm_fx_nurse_request(fx.eng, "e", CM_URGENCY_EMERGENCY, 0.0, T0 + 60000);
  cm_fx_step(fx.eng, T0 + 60200);
}

/* The scenario on any ledger: offered, accepted, j pending again. */
static void interrupted_on_accept(void) {
  city(CM_URGENCY_NORMAL);
  cm_request_view e = cm_fx_view(fx.eng, "e");
  cr_assert_eq(e.state, CM_REQ_OFFERED, "offered to the nurse at her visit");
  cr_assert_str_eq(e.workers[0], "near");
  cr_assert_str_eq(e.divert_of, "j", "the offer names the visit it ends");
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "far"), 0, "not the far one");
  cr_assert_eq(cm_fx_view(fx.eng, "j").state, CM_REQ_ACCEPTED,
               "her visit, until she says");
  int64_t ready = cm_fx_view(fx.eng, "j").ready_ms;
  cm_error err;
  cr_assert_eq(cm_engine_accept(fx.eng, "e", "near", T0 + 65000, &err), CM_OK,
               "%s", err.message);
  cm_request_view j = cm_fx_view(fx.eng, "j");
  cr_assert_eq(j.state, CM_REQ_PENDING, "her visit is pending again");
  cr_assert_eq(j.n_workers, 0);
  cr_assert_eq(j.arrived_ms, 0, "no one is there now");
  cr_assert_eq(j.ready_ms, ready, "waited since its first wait");
  cr_assert_eq(cm_fx_view(fx.eng, "e").state, CM_REQ_ACCEPTED);
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "near"), 1, "the emergency alone");
  cm_event ev[64];
  int n = cm_engine_poll(fx.eng, ev, 64);
  cr_assert_eq(cm_fx_events_of(ev, n, "j", CM_EV_INTERRUPTED, "near"), 1);
  cr_assert_eq(cm_fx_events_of(ev, n, "j", CM_EV_DIVERTED, "near"), 0);
  cr_assert_eq(cm_fx_events_of(ev, n, "e", CM_EV_ACCEPTED, "near"), 1);
  cr_assert_str_eq(cm_event_type_name(CM_EV_INTERRUPTED), "interrupted");
  cm_fx_step(fx.eng, T0 + 65000); /* at once: the far nurse gets the visit */
  cr_assert_eq(cm_fx_view(fx.eng, "j").state, CM_REQ_OFFERED);
  cr_assert_str_eq(cm_fx_view(fx.eng, "j").workers[0], "far");
}

Test(interrupt, the_near_nurse_at_her_visit_is_called_away, .fini = stop) {
  start_with(NULL, 0, 5);
  interrupted_on_accept();
  cm_engine_stats st;
  cm_engine_stats_get(fx.eng, &st);
  cr_assert_eq(st.interrupted, 1);
  cr_assert_eq(st.diverted, 0);
}

Test(interrupt, with_the_memory_ledger, .fini = stop) {
  cm_error err;
  start_with(cm_ledger_memory_new(&err), 0, 5);
  interrupted_on_accept();
  cm_request_view v;
  cr_assert_eq(fx.ledger->type->get(fx.ledger, "j", &v, &err), CM_OK);
  cr_assert_eq(v.state, CM_REQ_OFFERED, "the ledger has it too");
  cr_assert_eq(v.arrived_ms, 0);
}

Test(interrupt, declined_nothing_changes, .fini = stop) {
  start_with(NULL, 0, 5);
  city(CM_URGENCY_NORMAL);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "near");
  cr_assert_eq(cm_engine_reject(fx.eng, "e", "near", T0 + 65000, NULL), CM_OK);
  cm_request_view j = cm_fx_view(fx.eng, "j");
  cr_assert_eq(j.state, CM_REQ_ACCEPTED, "still her visit");
  cr_assert_neq(j.arrived_ms, 0, "and she is still there");
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "near"), 1);
  cm_fx_step(fx.eng, T0 + 65100);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "far");
}

Test(interrupt, not_from_urgent_work, .fini = stop) {
  start_with(NULL, 0, 5);
  city(CM_URGENCY_URGENT);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "far");
  cr_assert_str_eq(cm_fx_view(fx.eng, "j").workers[0], "near");
}

/* Diversion on, interruption off: she is there, so neither applies. */
Test(interrupt, off_with_interrupt_min_0, .fini = stop) {
  start_with(NULL, 5, 0);
  city(CM_URGENCY_NORMAL);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "far");
}

/* far is some 12 minutes away, near some 3 plus 60: not called away. */
Test(interrupt, not_when_she_saves_less_than_interrupt_min, .fini = stop) {
  start_with(NULL, 0, 60);
  city(CM_URGENCY_NORMAL);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "far");
}

/* far is some 22 minutes away, past the emergency's 15-minute target;
 * near, some 3 minutes away at her visit, saves less than interrupt_min 60
 * but alone is in time: the margin gives way, she is called away. */
Test(interrupt, the_margin_gives_way_to_save_a_breach, .fini = stop) {
  start_with(NULL, 0, 60);
  cm_fx_nurse(fx.eng, "near", 0.0, T0);
  cm_fx_nurse(fx.eng, "far", 7.0, T0);
  near_at("j", CM_URGENCY_NORMAL, T0);
  cm_fx_nurse_request(fx.eng, "e", CM_URGENCY_EMERGENCY, 0.0, T0 + 60000);
  cm_fx_step(fx.eng, T0 + 60200);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "near");
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").divert_of, "j");
}

/* Her visit is about to end (a visit of its kind took no time before):
 * her look-ahead edge (free in about 2 minutes, then 3 minutes' drive) is
 * sooner than the interruption's, so the emergency waits for her to finish
 * instead of calling her away. */
Test(interrupt, not_when_her_visit_is_about_to_end, .fini = stop) {
  start_with(NULL, 0, 5);
  cm_fx_nurse(fx.eng, "near", 0.0, T0);
  cm_fx_nurse(fx.eng, "far", 4.0, T0);
  near_at("k", CM_URGENCY_NORMAL, T0);
  cr_assert_eq(cm_engine_complete(fx.eng, "k", T0 + 1500, NULL), CM_OK);
  near_at("j", CM_URGENCY_NORMAL, T0 + 2000);
  cm_fx_nurse_request(fx.eng, "e", CM_URGENCY_EMERGENCY, 0.0, T0 + 60000);
  cm_fx_step(fx.eng, T0 + 60200);
  cm_request_view e = cm_fx_view(fx.eng, "e");
  cr_assert_eq(e.state, CM_REQ_PENDING, "waits for her");
  cr_assert(e.has_reason && e.reason == CM_REASON_WAITING_WORKER);
  cr_assert_str_eq(e.divert_of, "");
  cr_assert_eq(cm_fx_view(fx.eng, "j").state, CM_REQ_ACCEPTED);
}

/* She completes the visit before she answers: her accept is refused (the
 * visit changed), and the emergency is offered again at once -- to her,
 * free and nearest now, as a plain offer. */
Test(interrupt, completed_before_her_answer, .fini = stop) {
  start_with(NULL, 0, 5);
  city(CM_URGENCY_NORMAL);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").divert_of, "j");
  cr_assert_eq(cm_engine_complete(fx.eng, "j", T0 + 61000, NULL), CM_OK);
  cm_error err;
  cr_assert_eq(cm_engine_accept(fx.eng, "e", "near", T0 + 62000, &err),
               CM_E_CONFLICT);
  cr_assert_eq(cm_fx_view(fx.eng, "j").state, CM_REQ_DONE);
  cr_assert_eq(cm_fx_view(fx.eng, "e").state, CM_REQ_PENDING);
  cm_fx_step(fx.eng, T0 + 62000);
  cr_assert_eq(cm_fx_view(fx.eng, "e").state, CM_REQ_OFFERED);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "near");
  cm_error err2;
  cr_assert_eq(cm_engine_accept(fx.eng, "e", "near", T0 + 63000, &err2), CM_OK,
               "a plain offer: %s", err2.message);
  cr_assert_eq(cm_fx_view(fx.eng, "e").state, CM_REQ_ACCEPTED);
  cr_assert_eq(cm_fx_view(fx.eng, "j").state, CM_REQ_DONE,
               "the visit stays done");
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "near"), 1);
}

/* Another writer changes j in the ledger after the offer: the pair is
 * refused whole -- j is still near's, arrived, e not accepted. */
static void refused_when_j_changed(void) {
  city(CM_URGENCY_NORMAL);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "near");
  cm_error err;
  cm_request_view v, w;
  cr_assert_eq(fx.ledger->type->get(fx.ledger, "j", &v, &err), CM_OK);
  w = v;
  w.version = v.version + 1; /* an operator's note, say */
  cm_ledger_change ch;
  memset(&ch, 0, sizeof ch);
  ch.after = &w;
  ch.expect_version = v.version;
  cm_ledger_result res;
  cr_assert_eq(fx.ledger->type->commit(fx.ledger, &ch, 1, &res, &err), CM_OK);
  cr_assert_eq(res.refusal, CM_LEDGER_OK);
  cr_assert_eq(cm_engine_accept(fx.eng, "e", "near", T0 + 65000, &err),
               CM_E_CONFLICT);
  cr_assert_eq(fx.ledger->type->get(fx.ledger, "j", &v, &err), CM_OK);
  cr_assert_eq(v.state, CM_REQ_ACCEPTED, "j untouched in the ledger");
  cr_assert_neq(v.arrived_ms, 0, "and she is still there");
  cr_assert_str_eq(v.workers[0], "near");
  cr_assert_eq(fx.ledger->type->get(fx.ledger, "e", &v, &err), CM_OK);
  cr_assert_neq(v.state, CM_REQ_ACCEPTED, "e not accepted");
  cr_assert_eq(cm_fx_view(fx.eng, "j").state, CM_REQ_ACCEPTED);
  cr_assert_neq(cm_fx_view(fx.eng, "e").state, CM_REQ_ACCEPTED);
}

Test(interrupt, refused_whole_when_her_visit_changed_memory, .fini = stop) {
  cm_error err;
  start_with(cm_ledger_memory_new(&err), 0, 5);
  refused_when_j_changed();
}

/* ---- the Redis ledger: the same, the pair checked in commit.lua ---- */

static cm_test_region g_rg;

static void redis_up(void) {
  g_rg = cm_test_region_open("ir");
}

static void redis_stop(void) {
  stop();
  cm_test_region_close(&g_rg);
}

static cm_ledger *redis_ledger(void) {
  return cm_test_region_ledger(&g_rg);
}

/* The "interrupted" events of j naming near in the region's stream. */
static int stream_interrupted(void) {
  const char *const pairs[] = {"type",   "interrupted", "request", "j",
                               "worker", "near",        NULL};
  return cm_test_stream_count(g_rg.srv.port, g_rg.name, pairs);
}

/* near's jobs and acceptances as the Redis ledger counts them. */
static void redis_jobs(int *jobs, int *acc) {
  cr_assert_eq(cm_test_worker_jobs(g_rg.srv.port, g_rg.name, "near", jobs, acc),
               0);
}

Test(interrupt, with_redis, .init = redis_up, .fini = redis_stop) {
  start_with(redis_ledger(), 0, 5);
  interrupted_on_accept();
  cr_assert_eq(stream_interrupted(), 1, "the event in the stream");
  int jobs, acc;
  redis_jobs(&jobs, &acc);
  cr_assert_eq(acc, 1);
  cr_assert_eq(jobs, 1, "the emergency alone (j offered to far)");
  cm_request_view v;
  cm_error err;
  cr_assert_eq(fx.ledger->type->get(fx.ledger, "j", &v, &err), CM_OK);
  cr_assert_eq(v.arrived_ms, 0, "no arrival in the Redis record");
}

Test(interrupt, refused_whole_when_her_visit_changed_redis, .init = redis_up,
     .fini = redis_stop) {
  start_with(redis_ledger(), 0, 5);
  refused_when_j_changed();
  cr_assert_eq(stream_interrupted(), 0, "no interrupted event");
  int jobs, acc;
  redis_jobs(&jobs, &acc);
  cr_assert_eq(acc, 1, "j still accepted by her");
}

/* ---- the emergency-first stage (engine_stage.c) ---- */

/* Along a line (km north of the centre): emergency e at -0.2, nurse a at
 * +0.5 (0.7 km from e), nurse b at -1.0 (0.8 km from e), normal job n at
 * +3.0 (2.5 km from a, 4.0 from b), both in one batch. The LP alone pays
 * 4 x 0.1 km more for e to save 1.5 km on n, and gives e nurse b; solved
 * first, e gets the nearer a, and n the other. */
Test(stage, an_emergency_gets_the_nearest_nurse_first, .fini = stop) {
  start_with(NULL, 0, 0);
  cm_fx_nurse(fx.eng, "a", 0.5, T0);
  cm_fx_nurse(fx.eng, "b", -1.0, T0);
  cm_fx_nurse_request(fx.eng, "n", CM_URGENCY_NORMAL, 3.0, T0);
  cm_fx_nurse_request(fx.eng, "e", CM_URGENCY_EMERGENCY, -0.2, T0);
  cm_fx_step(fx.eng, T0 + 200);
  cr_assert_eq(cm_fx_view(fx.eng, "e").state, CM_REQ_OFFERED);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "a", "the nearer nurse");
  cr_assert_eq(cm_fx_view(fx.eng, "n").state, CM_REQ_OFFERED,
               "the rest still solved");
  cr_assert_str_eq(cm_fx_view(fx.eng, "n").workers[0], "b");
}

/* The same batch solved greedily (a budget of 0): no stage, the same
 * answer (greedy takes the most urgent first). */
Test(stage, greedy_gives_the_same, .fini = stop) {
  cm_engine_config c;
  cm_engine_config_init(&c);
  c.batch_window_ms = 100;
  c.reserve_workers = 0;
  c.solve_budget_ms = 0;
  cm_fx_engine_open(&fx, &c);
  cm_fx_nurse(fx.eng, "a", 0.5, T0);
  cm_fx_nurse(fx.eng, "b", -1.0, T0);
  cm_fx_nurse_request(fx.eng, "n", CM_URGENCY_NORMAL, 3.0, T0);
  cm_fx_nurse_request(fx.eng, "e", CM_URGENCY_EMERGENCY, -0.2, T0);
  cm_fx_step(fx.eng, T0 + 200);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "a");
  cr_assert_str_eq(cm_fx_view(fx.eng, "n").workers[0], "b");
}
