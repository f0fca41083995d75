/* test_divert.c -- diversion (engine_divert.c): a nurse on her way to a
 * normal job next to an emergency is offered it over a free nurse 4 km
 * away; on her accept the normal job is pending again (its waited-since
 * kept, a "diverted" event naming her) and she holds the emergency alone;
 * on her refusal nothing changed; a nurse already there, or on her way to
 * urgent work, is never diverted, nor with divert_min 0; a job changed in
 * the ledger meanwhile makes the commit refuse both changes (the memory
 * ledger and a real Redis), and the emergency is offered again at once,
 * on a synchronous accept as on an _async one (proposed, deferred). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "carematch/engine.h"
#include "carematch/redis.h"
#include "engine_fx.h"
#include "fixtures.h"
#include "ledger_fault.h"
#include "redis_server.h"

#define T0 CM_FX_T0

static cm_fx fx;

static void start_with(cm_ledger *l, double divert_min) {
  cm_engine_config c;
  cm_engine_config_init(&c);
  c.batch_window_ms = 100;
  c.reserve_workers = 0; /* diversion alone */
  c.divert_min = divert_min;
  c.ledger = l;
  cm_fx_engine_open(&fx, &c);
  cm_error err;
  if (l)
    cr_assert_eq(cm_engine_sync(fx.eng, T0, &err), CM_OK, "%s", err.message);
}

static void stop(void) {
  cm_fx_engine_close(&fx);
}

/* A nurse never holds more accepted jobs than her capacity (1). */
static void accepted_within_capacity(void) {
  int n = 0;
  const char *ids[] = {"j", "e"};
  for (int i = 0; i < 2; i++) {
    cm_request_view v = cm_fx_view(fx.eng, ids[i]);
    for (int k = 0; k < v.n_workers; k++)
      n += v.accepted[k] && !strcmp(v.workers[k], "near");
  }
  cr_assert_leq(n, 1, "near holds %d accepted jobs", n);
}

/* near (at the centre) has accepted normal job j 1 km south and is on
 * her way; far is free 4 km north (some 12 minutes); emergency e comes at the
 * centre. At T0 + 60 s, e has been through its batch. */
static void city(cm_urgency job) {
  cm_fx_nurse(fx.eng, "near", 0.0, T0);
  cm_fx_nurse(fx.eng, "far", 4.0, T0);
  cm_fx_nurse_request(fx.eng, "j", job, -1.0, T0);
  cm_fx_step(fx.eng, T0 + 200);
  cr_assert_eq(cm_fx_view(fx.eng, "j").state, CM_REQ_OFFERED);
  cr_assert_str_eq(cm_fx_view(fx.eng, "j").workers[0], "near");
  cr_assert_eq(cm_engine_accept(fx.eng, "j", "near", T0 + 1000, NULL), CM_OK);
  cm_fx_nurse_request(fx.eng, "e", CM_URGENCY_EMERGENCY, 0.0, T0 + 60000);
  cm_fx_step(fx.eng, T0 + 60200);
}

/* The scenario on any ledger: offered, accepted, j pending again. */
static void diverted_on_accept(void) {
  city(CM_URGENCY_NORMAL);
  cm_request_view e = cm_fx_view(fx.eng, "e");
  cr_assert_eq(e.state, CM_REQ_OFFERED, "offered to the nurse on her way");
  cr_assert_str_eq(e.workers[0], "near");
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "far"), 0, "not the far one");
  cr_assert_eq(cm_fx_view(fx.eng, "j").state, CM_REQ_ACCEPTED,
               "her job, until she says");
  accepted_within_capacity();
  int64_t ready = cm_fx_view(fx.eng, "j").ready_ms;
  cm_error err;
  cr_assert_eq(cm_engine_accept(fx.eng, "e", "near", T0 + 65000, &err), CM_OK,
               "%s", err.message);
  cm_request_view j = cm_fx_view(fx.eng, "j");
  cr_assert_eq(j.state, CM_REQ_PENDING, "her job is pending again");
  cr_assert_eq(j.n_workers, 0);
  cr_assert_eq(j.ready_ms, ready, "waited since its first wait");
  cr_assert_eq(cm_fx_view(fx.eng, "e").state, CM_REQ_ACCEPTED);
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "near"), 1, "the emergency alone");
  accepted_within_capacity();
  cm_event ev[64];
  int n = cm_engine_poll(fx.eng, ev, 64);
  cr_assert_eq(cm_fx_events_of(ev, n, "j", CM_EV_DIVERTED, "near"), 1);
  cr_assert_eq(cm_fx_events_of(ev, n, "e", CM_EV_ACCEPTED, "near"), 1);
  cr_assert_str_eq(cm_event_type_name(CM_EV_DIVERTED), "diverted");
  cm_fx_step(fx.eng, T0 + 65000); /* at once: the far nurse gets her job */
  cr_assert_eq(cm_fx_view(fx.eng, "j").state, CM_REQ_OFFERED);
  cr_assert_str_eq(cm_fx_view(fx.eng, "j").workers[0], "far");
  accepted_within_capacity();
}

Test(divert, the_near_nurse_on_her_way_is_diverted, .fini = stop) {
  start_with(NULL, 5);
  diverted_on_accept();
  cm_engine_stats st;
  cm_engine_stats_get(fx.eng, &st);
  cr_assert_eq(st.diverted, 1);
}

Test(divert, with_the_memory_ledger, .fini = stop) {
  cm_error err;
  start_with(cm_ledger_memory_new(&err), 5);
  diverted_on_accept();
  cm_request_view v;
  cr_assert_eq(fx.ledger->type->get(fx.ledger, "j", &v, &err), CM_OK);
  cr_assert_eq(v.state, CM_REQ_OFFERED, "the ledger has it too");
}

Test(divert, declined_nothing_changes, .fini = stop) {
  start_with(NULL, 5);
  city(CM_URGENCY_NORMAL);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "near");
  cr_assert_eq(cm_engine_reject(fx.eng, "e", "near", T0 + 65000, NULL), CM_OK);
  cm_request_view j = cm_fx_view(fx.eng, "j");
  cr_assert_eq(j.state, CM_REQ_ACCEPTED, "still her job");
  cr_assert_str_eq(j.workers[0], "near");
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "near"), 1);
  cr_assert_eq(cm_fx_view(fx.eng, "e").state, CM_REQ_PENDING);
  cm_fx_step(fx.eng, T0 + 65100);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "far");
}

Test(divert, a_lapsed_offer_changes_nothing, .fini = stop) {
  start_with(NULL, 5);
  city(CM_URGENCY_NORMAL);
  cm_fx_step(fx.eng, T0 + 60200 + 31000); /* the offer (30 s) lapsed */
  cr_assert_eq(cm_fx_view(fx.eng, "j").state, CM_REQ_ACCEPTED);
  cr_assert_str_eq(cm_fx_view(fx.eng, "j").workers[0], "near");
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "near"), 1);
}

Test(divert, not_once_she_arrived, .fini = stop) {
  start_with(NULL, 5);
  cm_fx_nurse(fx.eng, "near", 0.0, T0);
  cm_fx_nurse(fx.eng, "far", 4.0, T0);
  cm_fx_nurse_request(fx.eng, "j", CM_URGENCY_NORMAL, -1.0, T0);
  cm_fx_step(fx.eng, T0 + 200);
  cr_assert_eq(cm_engine_accept(fx.eng, "j", "near", T0 + 1000, NULL), CM_OK);
  cr_assert_eq(cm_engine_arrived(fx.eng, "j", "near", T0 + 2000, NULL), CM_OK);
  cm_fx_nurse_request(fx.eng, "e", CM_URGENCY_EMERGENCY, 0.0, T0 + 60000);
  cm_fx_step(fx.eng, T0 + 60200);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "far");
}

Test(divert, not_from_urgent_work, .fini = stop) {
  start_with(NULL, 5);
  city(CM_URGENCY_URGENT);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "far");
  cr_assert_str_eq(cm_fx_view(fx.eng, "j").workers[0], "near");
}

Test(divert, not_from_an_emergency, .fini = stop) {
  start_with(NULL, 5);
  city(CM_URGENCY_EMERGENCY);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "far");
}

Test(divert, off_with_divert_min_0, .fini = stop) {
  start_with(NULL, 0);
  city(CM_URGENCY_NORMAL);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "far");
}

/* Not when she saves less than divert_min: far is 4 km away, some 12
 * minutes; asking 60 saved, she is not diverted. */
Test(divert, not_when_she_saves_less_than_divert_min, .fini = stop) {
  start_with(NULL, 60);
  city(CM_URGENCY_NORMAL);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "far");
}

/* She arrives while the offer is open: her accept is refused and the
 * emergency is offered again at once (to far). */
Test(divert, arrived_before_her_answer, .fini = stop) {
  start_with(NULL, 5);
  city(CM_URGENCY_NORMAL);
  cr_assert_eq(cm_engine_arrived(fx.eng, "j", "near", T0 + 61000, NULL), CM_OK);
  cm_error err;
  cr_assert_eq(cm_engine_accept(fx.eng, "e", "near", T0 + 62000, &err),
               CM_E_CONFLICT);
  cr_assert_eq(cm_fx_view(fx.eng, "j").state, CM_REQ_ACCEPTED);
  cr_assert_eq(cm_fx_view(fx.eng, "e").state, CM_REQ_PENDING);
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "near"), 1);
  cm_fx_step(fx.eng, T0 + 62000);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "far");
}

/* What an _async call's completion was told. */
typedef struct told {
  int calls;
  cm_status st;
} told;

static void on_done(void *ctx, cm_status st, const cm_error *err) {
  told *t = ctx;
  (void)err;
  t->calls++;
  t->st = st;
}

static cm_fault_ledger fault; /* over a memory ledger: proposals deferred */

static void fault_stop(void) {
  cm_ledger *inner = fault.inner;
  cm_fx_engine_close(&fx);
  cm_ledger_free(&fault.base);
  cm_ledger_free(inner);
}

/* The engine on fault over a fresh memory ledger (proposals complete at
 * once until cm_fault_ledger_defer); deferred first when defer, then
 * city's offer made. Returns the inner ledger. */
static cm_ledger *fault_city(int defer) {
  cm_error err;
  cm_ledger *inner = cm_ledger_memory_new(&err);
  cr_assert_not_null(inner, "%s", err.message);
  cm_fault_ledger_init(&fault, inner);
  start_with(&fault.base, 5);
  fx.ledger = NULL; /* freed by fault_stop */
  cm_fault_ledger_defer(&fault, defer);
  city(CM_URGENCY_NORMAL);
  return inner;
}

/* The daemon's path: she arrives, then her accept comes _async. It is
 * refused (told from the completion) and the emergency is pending again
 * as soon as the withdrawal is in, not after its 30 s offer: the next
 * batch offers it to far. */
Test(divert, arrived_before_her_async_answer, .fini = fault_stop) {
  cm_error err;
  cm_ledger *inner = fault_city(0);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "near");
  cr_assert_eq(cm_engine_arrived(fx.eng, "j", "near", T0 + 61000, NULL), CM_OK);
  cm_fault_ledger_defer(&fault, 1);
  told t = {0, CM_OK};
  cm_status st = cm_engine_accept_async(fx.eng, "e", "near", T0 + 62000,
                                        on_done, &t, &err);
  cr_assert_eq(st, CM_OK, "proposed (the withdrawal): %s", err.message);
  cr_assert_eq(t.calls, 0, "told from the completion");
  cr_assert_eq(cm_fault_ledger_run(&fault), 1, "one proposal: the withdrawal");
  cr_assert_eq(t.calls, 1);
  cr_assert_eq(t.st, CM_E_CONFLICT, "her accept is refused");
  cm_fault_ledger_defer(&fault, 0);
  cr_assert_eq(cm_fx_view(fx.eng, "j").state, CM_REQ_ACCEPTED,
               "her job stays hers");
  cr_assert_eq(cm_fx_view(fx.eng, "e").state, CM_REQ_PENDING,
               "withdrawn at once");
  cr_assert_eq(cm_fx_view(fx.eng, "e").n_rejected, 0, "not her refusal");
  cm_request_view v;
  cr_assert_eq(inner->type->get(inner, "e", &v, &err), CM_OK);
  cr_assert_eq(v.state, CM_REQ_PENDING, "the ledger has it too");
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "near"), 1);
  cm_event ev[64];
  int n = cm_engine_poll(fx.eng, ev, 64);
  cr_assert_eq(cm_fx_events_of(ev, n, "e", CM_EV_WITHDRAWN, "near"), 1);
  cr_assert_eq(cm_fx_events_of(ev, n, "j", CM_EV_DIVERTED, "near"), 0);
  cm_fx_step(fx.eng, T0 + 62000); /* at once, not at T0 + 90200 */
  cr_assert_eq(cm_fx_view(fx.eng, "e").state, CM_REQ_OFFERED);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "far");
  accepted_within_capacity();
}

/* With a ledger that proposes (the daemon's), the diversion offer is
 * proposed at the batch's end, not committed there: e stays pending and
 * out of the next batches while the proposal is in flight, is offered to
 * near once the ledger answered (the ledger agreeing), and her accept
 * then diverts her as before. Committed synchronously (before), e was
 * offered at the batch's end, nothing in flight. */
Test(divert, the_offer_is_proposed_not_committed_at_the_batch_end,
     .fini = fault_stop) {
  cm_error err;
  cm_ledger *inner = fault_city(1); /* e's batch ends, its offer proposed */
  cr_assert_eq(cm_fx_view(fx.eng, "e").state, CM_REQ_PENDING,
               "proposed, not applied");
  cr_assert_eq(cm_engine_in_flight(fx.eng), 1, "the offer, in flight");
  cm_fx_step(fx.eng, T0 + 60400);
  cr_assert_eq(cm_engine_in_flight(fx.eng), 1, "not offered twice");
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "far"), 0, "nor to far");
  cr_assert_eq(cm_fault_ledger_run(&fault), 1, "one proposal: the offer");
  cm_fault_ledger_defer(&fault, 0);
  cm_request_view e = cm_fx_view(fx.eng, "e");
  cr_assert_eq(e.state, CM_REQ_OFFERED);
  cr_assert_str_eq(e.workers[0], "near");
  cm_request_view v;
  cr_assert_eq(inner->type->get(inner, "e", &v, &err), CM_OK);
  cr_assert_eq(v.state, CM_REQ_OFFERED, "the ledger agrees");
  accepted_within_capacity();
  cr_assert_eq(cm_engine_accept(fx.eng, "e", "near", T0 + 65000, &err), CM_OK,
               "%s", err.message);
  cr_assert_eq(cm_fx_view(fx.eng, "j").state, CM_REQ_PENDING, "diverted");
  accepted_within_capacity();
}

/* Her _async accept on a ledger that proposes: the two changes go as one
 * proposal (her job back, the emergency accepted), answered in the
 * completion, not committed inside the call; a change of her job asked
 * meanwhile (a cancel) waits for the pair and is planned on its result.
 * Committed synchronously (before), the accept was applied inside the
 * call, nothing in flight. */
Test(divert, an_async_accept_proposes_the_pair, .fini = fault_stop) {
  cm_ledger *inner = fault_city(0);
  cm_error err;
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "near");
  cm_fault_ledger_defer(&fault, 1);
  told t = {0, CM_OK}, c = {0, CM_OK};
  cr_assert_eq(cm_engine_accept_async(fx.eng, "e", "near", T0 + 62000, on_done,
                                      &t, &err),
               CM_OK, "%s", err.message);
  cr_assert_eq(t.calls, 0, "told from the completion");
  cr_assert_eq(cm_fx_view(fx.eng, "e").state, CM_REQ_OFFERED, "not applied");
  cr_assert_eq(cm_fx_view(fx.eng, "j").state, CM_REQ_ACCEPTED);
  cr_assert_eq(
      cm_engine_cancel_async(fx.eng, "j", T0 + 62500, on_done, &c, &err), CM_OK,
      "%s", err.message);
  cr_assert_eq(cm_engine_in_flight(fx.eng), 2, "the pair, and j's cancel");
  cr_assert_eq(cm_fault_ledger_run(&fault), 1, "one proposal: the pair");
  cr_assert_eq(t.calls, 1);
  cr_assert_eq(t.st, CM_OK);
  cr_assert_eq(cm_fx_view(fx.eng, "e").state, CM_REQ_ACCEPTED);
  cr_assert_eq(cm_fx_view(fx.eng, "j").state, CM_REQ_PENDING, "diverted");
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "near"), 1, "the emergency alone");
  cm_request_view v;
  cr_assert_eq(inner->type->get(inner, "j", &v, &err), CM_OK);
  cr_assert_eq(v.state, CM_REQ_PENDING, "the ledger has both");
  cr_assert_eq(inner->type->get(inner, "e", &v, &err), CM_OK);
  cr_assert_eq(v.state, CM_REQ_ACCEPTED);
  cr_assert_eq(c.calls, 0, "the cancel, proposed after the pair");
  cr_assert_eq(cm_fault_ledger_run(&fault), 1, "then j's cancel");
  cr_assert_eq(c.calls, 1);
  cr_assert_eq(c.st, CM_OK);
  cr_assert_eq(cm_fx_view(fx.eng, "j").state, CM_REQ_CANCELLED);
  cm_event ev[64];
  int n = cm_engine_poll(fx.eng, ev, 64);
  cr_assert_eq(cm_fx_events_of(ev, n, "j", CM_EV_DIVERTED, "near"), 1);
  accepted_within_capacity();
}

/* The pair refused by the ledger (another writer changed her job after
 * the offer): her _async accept is told CM_E_CONFLICT, nothing of the
 * pair is written, her job is the ledger's, and the offer is withdrawn
 * (not her refusal) so the next batch offers the emergency again. */
Test(divert, an_async_accept_refused_by_the_ledger_withdraws_the_offer,
     .fini = fault_stop) {
  cm_ledger *inner = fault_city(0);
  cm_error err;
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "near");
  cm_request_view v, w;
  cr_assert_eq(inner->type->get(inner, "j", &v, &err), CM_OK);
  w = v;
  w.version = v.version + 1; /* another writer's change of j */
  cm_ledger_change ch;
  memset(&ch, 0, sizeof ch);
  ch.after = &w;
  ch.expect_version = v.version;
  cm_ledger_result res;
  cr_assert_eq(inner->type->commit(inner, &ch, 1, &res, &err), CM_OK);
  cm_fault_ledger_defer(&fault, 1);
  told t = {0, CM_OK};
  cr_assert_eq(cm_engine_accept_async(fx.eng, "e", "near", T0 + 62000, on_done,
                                      &t, &err),
               CM_OK, "proposed: the engine does not know j changed");
  for (int i = 0; i < 4 && cm_engine_in_flight(fx.eng); i++)
    cm_fault_ledger_run(&fault);
  cr_assert_eq(cm_engine_in_flight(fx.eng), 0);
  cr_assert_eq(t.calls, 1);
  cr_assert_eq(t.st, CM_E_CONFLICT);
  cr_assert_eq(inner->type->get(inner, "j", &v, &err), CM_OK);
  cr_assert_eq(v.version, w.version, "j as the other writer left it");
  cr_assert_eq(v.state, CM_REQ_ACCEPTED);
  cr_assert_eq(cm_fx_view(fx.eng, "j").version, w.version, "read again");
  cr_assert_eq(inner->type->get(inner, "e", &v, &err), CM_OK);
  cr_assert_eq(v.state, CM_REQ_PENDING, "withdrawn in the ledger");
  cr_assert_eq(v.n_rejected, 0, "not her refusal");
  cr_assert_eq(cm_fx_view(fx.eng, "e").state, CM_REQ_PENDING);
  cm_event ev[64];
  int n = cm_engine_poll(fx.eng, ev, 64);
  cr_assert_eq(cm_fx_events_of(ev, n, "e", CM_EV_WITHDRAWN, "near"), 1);
  cr_assert_eq(cm_fx_events_of(ev, n, "j", CM_EV_DIVERTED, "near"), 0);
  accepted_within_capacity();
}

/* Another writer changes j in the ledger after the offer: the pair is
 * refused whole -- j is still near's there, e not accepted. */
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
  cr_assert_eq(v.version, w.version);
  cr_assert_str_eq(v.workers[0], "near");
  cr_assert_eq(fx.ledger->type->get(fx.ledger, "e", &v, &err), CM_OK);
  cr_assert_neq(v.state, CM_REQ_ACCEPTED, "e not accepted");
  cr_assert_eq(cm_fx_view(fx.eng, "j").state, CM_REQ_ACCEPTED);
  cr_assert_neq(cm_fx_view(fx.eng, "e").state, CM_REQ_ACCEPTED);
  accepted_within_capacity();
}

Test(divert, refused_whole_when_her_job_changed_memory, .fini = stop) {
  cm_error err;
  start_with(cm_ledger_memory_new(&err), 5);
  refused_when_j_changed();
}

/* ---- the Redis ledger: the same, the atomic check in commit.lua ---- */

static cm_test_region g_rg;

static void redis_up(void) {
  g_rg = cm_test_region_open("dv");
}

static void redis_stop(void) {
  stop();
  cm_test_region_close(&g_rg);
}

static cm_ledger *redis_ledger(void) {
  return cm_test_region_ledger(&g_rg);
}

/* The "diverted" events of j naming near in the region's stream. */
static int stream_diverted(void) {
  const char *const pairs[] = {"type",   "diverted", "request", "j",
                               "worker", "near",     NULL};
  return cm_test_stream_count(g_rg.srv.port, g_rg.name, pairs);
}

/* near's jobs and acceptances as the Redis ledger counts them. */
static void redis_jobs(int *jobs, int *acc) {
  cr_assert_eq(cm_test_worker_jobs(g_rg.srv.port, g_rg.name, "near", jobs, acc),
               0);
}

Test(divert, with_redis, .init = redis_up, .fini = redis_stop) {
  start_with(redis_ledger(), 5);
  diverted_on_accept();
  cr_assert_eq(stream_diverted(), 1, "the diverted event in the stream");
  int jobs, acc;
  redis_jobs(&jobs, &acc);
  cr_assert_eq(acc, 1);
  cr_assert_eq(jobs, 1, "the emergency alone (j offered to far)");
}

Test(divert, refused_whole_when_her_job_changed_redis, .init = redis_up,
     .fini = redis_stop) {
  start_with(redis_ledger(), 5);
  refused_when_j_changed();
  cr_assert_eq(stream_diverted(), 0, "no diverted event");
  int jobs, acc;
  redis_jobs(&jobs, &acc);
  cr_assert_eq(acc, 1, "j still accepted by her");
}

/* A restart between the offer and her answer: the engine rebuilt from
 * Redis knows the offer is a diversion (the record keeps divert_of), so
 * her accept still gives her job back. */
Test(divert, a_redis_rebuild_keeps_the_diversion, .init = redis_up,
     .fini = redis_stop) {
  start_with(redis_ledger(), 5);
  city(CM_URGENCY_NORMAL);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "near");
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").divert_of, "j");
  cm_engine_config c; /* a restart: the engine's memory is gone */
  cm_engine_config_init(&c);
  c.reserve_workers = 0;
  c.divert_min = 5;
  cm_fx_engine_restart(&fx, &c);
  cm_error err;
  cr_assert_eq(cm_engine_sync(fx.eng, T0 + 62000, &err), CM_OK, "%s",
               err.message);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").divert_of, "j");
  cr_assert_eq(cm_engine_accept(fx.eng, "e", "near", T0 + 65000, &err), CM_OK,
               "%s", err.message);
  cr_assert_eq(cm_fx_view(fx.eng, "j").state, CM_REQ_PENDING);
  cr_assert_eq(cm_fx_view(fx.eng, "e").state, CM_REQ_ACCEPTED);
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "near"), 1);
  int jobs, acc;
  redis_jobs(&jobs, &acc);
  cr_assert_eq(jobs, 1);
  cr_assert_eq(acc, 1);
}
