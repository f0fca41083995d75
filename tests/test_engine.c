/* test_engine.c -- the dispatch engine's lifecycle, batch policy and edge
 * cases, on the memory store and a test clock. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "carematch/engine.h"
#include "engine_fx.h"
#include "fixtures.h"

static cm_fx fx;

static void setup_with(int auto_accept) {
  cm_engine_config cfg;
  cm_engine_config_init(&cfg);
  cfg.auto_accept = auto_accept;
  cfg.batch_window_ms = 200;
  cfg.offer_ttl_ms = 10000;
  cm_fx_engine_open(&fx, &cfg);
}

static void setup(void) {
  setup_with(0);
}

static void teardown(void) {
  cm_fx_engine_close(&fx);
}

/* A worker dlat_km north of the centre (fixtures.h). */
static void add_worker(const char *id, cm_skillset skills, double dlat_km,
                       int capacity, int64_t now) {
  cm_worker w = cm_fx_worker(id, skills, dlat_km, 0.0, capacity, now);
  cm_error err;
  cr_assert_eq(cm_engine_worker_upsert(fx.eng, &w, now, &err), CM_OK, "%s",
               err.message);
}

static cm_request_spec spec(const char *id, cm_skillset skills,
                            cm_urgency urgency) {
  return cm_fx_spec(id, skills, 1, urgency, 0.0);
}

static void submit(const cm_request_spec *s, int64_t now) {
  cm_error err;
  cr_assert_eq(cm_engine_submit(fx.eng, s, now, &err), CM_OK, "%s",
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
  cm_error err;
  cr_assert_eq(cm_engine_request_get(fx.eng, id, &v, &err), CM_OK, "%s",
               err.message);
  return v;
}

static int count_events(cm_event_type t, const char *req) {
  cm_event ev[256];
  int n = cm_engine_poll(fx.eng, ev, 256), c = 0;
  for (int i = 0; i < n; i++)
    c += ev[i].type == t && (!req || strcmp(ev[i].request, req) == 0);
  return c;
}

static cm_worker_status store_status(const char *id) {
  cm_worker w;
  cr_assert_eq(cm_store_get(fx.store, id, &w, NULL), CM_OK);
  return w.status;
}

TestSuite(engine, .init = setup, .fini = teardown);

Test(engine, offer_accept_complete) {
  add_worker("w1", CM_FX_NURSE, 1.0, 1, 0);
  cm_request_spec s = spec("r1", CM_FX_NURSE, CM_URGENCY_NORMAL);
  submit(&s, 1000);
  cr_assert_eq(cm_engine_next_due(fx.eng), 1200, "normal waits one window");
  cr_assert_eq(step(1100), 0);
  cr_assert_eq(view("r1").state, CM_REQ_PENDING);
  cr_assert_eq(step(1200), 1);
  cm_request_view v = view("r1");
  cr_assert_eq(v.state, CM_REQ_OFFERED);
  cr_assert_str_eq(v.workers[0], "w1");
  cr_assert_gt(v.terms[0].travel_min, 0);
  cr_assert_eq(v.expires_ms, 1200 + 10000);
  cr_assert_eq(store_status("w1"), CM_WORKER_OFFERED);
  cr_assert_eq(cm_engine_accept(fx.eng, "r1", "w1", 1300, NULL), CM_OK);
  cr_assert_eq(view("r1").state, CM_REQ_ACCEPTED);
  cr_assert_eq(store_status("w1"), CM_WORKER_BUSY);
  cr_assert_eq(cm_engine_complete(fx.eng, "r1", 5000, NULL), CM_OK);
  cr_assert_eq(view("r1").state, CM_REQ_DONE);
  cr_assert_eq(store_status("w1"), CM_WORKER_AVAILABLE);
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "w1"), 0);
  cm_worker w;
  cm_store_get(fx.store, "w1", &w, NULL);
  cr_assert_eq(w.jobs_today, 1, "workload recorded on completion");
}

Test(engine, emergency_flushes_at_once) {
  add_worker("w1", CM_FX_NURSE, 1.0, 1, 0);
  cm_request_spec s = spec("e1", CM_FX_NURSE, CM_URGENCY_EMERGENCY);
  submit(&s, 5000);
  cr_assert_eq(cm_engine_next_due(fx.eng), 5000);
  cr_assert_eq(step(5000), 1);
  cr_assert_eq(view("e1").state, CM_REQ_OFFERED);
  cm_engine_stats st;
  cm_engine_stats_get(fx.eng, &st);
  cr_assert_eq(st.offer_latency[CM_URGENCY_EMERGENCY].n, 1);
  cr_assert_eq(st.offer_latency[CM_URGENCY_EMERGENCY].max, 0.0);
}

/* cm_engine_next_due reads a packed copy of each live request's due time
 * (engine.c): it must follow every change, here an offer answered, a
 * request finished (the last live one moved into its slot) and one
 * cancelled. */
Test(engine, next_due_follows_offers_as_they_are_answered) {
  add_worker("w1", CM_FX_NURSE, 0.5, 1, 0);
  add_worker("w2", CM_FX_NURSE, 1.0, 1, 0);
  cm_request_spec s1 = spec("r1", CM_FX_NURSE, CM_URGENCY_NORMAL);
  submit(&s1, 0);
  cr_assert_eq(step(200), 1);
  cm_request_spec s2 = spec("r2", CM_FX_NURSE, CM_URGENCY_NORMAL);
  submit(&s2, 1000);
  cr_assert_eq(step(1200), 1);
  cr_assert_eq(view("r1").state, CM_REQ_OFFERED);
  cr_assert_eq(view("r2").state, CM_REQ_OFFERED);
  cr_assert_eq(cm_engine_next_due(fx.eng), 200 + 10000, "r1's expiry");
  cr_assert_eq(
      cm_engine_accept(fx.eng, "r1", view("r1").workers[0], 1300, NULL), CM_OK);
  cr_assert_eq(cm_engine_next_due(fx.eng), 1200 + 10000, "r2's expiry");
  cr_assert_eq(cm_engine_complete(fx.eng, "r1", 1400, NULL), CM_OK);
  cr_assert_eq(cm_engine_next_due(fx.eng), 1200 + 10000, "r2 moved slot");
  cr_assert_eq(cm_engine_cancel(fx.eng, "r2", 1500, NULL), CM_OK);
  cr_assert_eq(cm_engine_next_due(fx.eng), INT64_MAX, "nothing due");
}

/* The earliest due time is the top of a heap over the live requests
 * (live_due.c): kept through many inserts and removals (each removal
 * moves the last live request into the hole). 600 scheduled requests with
 * random window starts, nobody in reach (so each is released a fixed time
 * before its window), a third cancelled (at random, or the earliest),
 * checked after every call against the minimum kept here. */
Test(engine, next_due_is_the_earliest_over_many_inserts_and_removals) {
  enum { N = 600 };
  static int64_t start[N];
  static int alive[N];
  uint64_t rng = 12345;
  int64_t day = 86400000, lead = -1;
  for (int i = 0; i < N; i++) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    char id[16];
    snprintf(id, sizeof id, "s%d", i);
    cm_request_spec s = spec(id, CM_FX_NURSE, CM_URGENCY_SCHEDULED);
    start[i] = day + (int64_t)((rng >> 33) % (uint64_t)day);
    s.window_start_ms = start[i];
    s.window_end_ms = start[i] + 3600000;
    submit(&s, 0);
    alive[i] = 1;
    if (lead < 0) /* the release's lead over the window, from the first */
      lead = start[0] - cm_engine_next_due(fx.eng);
    if (i % 3 == 2) { /* cancel one of those alive: at random, or (every
                         other time) the earliest, the heap's top */
      int k = (int)((rng >> 17) % (uint64_t)(i + 1));
      while (!alive[k])
        k = (k + 1) % (i + 1);
      for (int j = 0; i % 2 && j <= i; j++)
        if (alive[j] && start[j] < start[k])
          k = j;
      snprintf(id, sizeof id, "s%d", k);
      cr_assert_eq(cm_engine_cancel(fx.eng, id, 0, NULL), CM_OK);
      alive[k] = 0;
    }
    int64_t min = INT64_MAX;
    for (int j = 0; j <= i; j++)
      if (alive[j] && start[j] - lead < min)
        min = start[j] - lead;
    cr_assert_eq(cm_engine_next_due(fx.eng), min, "after request %d", i);
  }
}

Test(engine, skill_no_one_has_stays_pending) {
  add_worker("w1", CM_FX_NURSE, 1.0, 1, 0);
  cm_request_spec s = spec("r1", CM_FX_MATERNITY, CM_URGENCY_URGENT);
  submit(&s, 0);
  cm_engine_step(fx.eng, 200, NULL, NULL);
  cm_request_view v = view("r1");
  cr_assert_eq(v.state, CM_REQ_PENDING);
  cr_assert(v.has_reason);
  cr_assert_eq(v.reason, CM_REASON_NO_CANDIDATE);
  cr_assert_eq(cm_engine_next_due(fx.eng), 400, "retried after a window");
}

Test(engine, reject_excludes_worker) {
  add_worker("w1", CM_FX_NURSE, 0.5, 1, 0);
  add_worker("w2", CM_FX_NURSE, 2.0, 1, 0);
  cm_request_spec s = spec("r1", CM_FX_NURSE, CM_URGENCY_NORMAL);
  submit(&s, 0);
  cm_engine_step(fx.eng, 200, NULL, NULL);
  cr_assert_str_eq(view("r1").workers[0], "w1", "nearest first");
  cr_assert_eq(cm_engine_reject(fx.eng, "r1", "w1", 300, NULL), CM_OK);
  cm_request_view v = view("r1");
  cr_assert_eq(v.state, CM_REQ_PENDING);
  cr_assert_eq(v.n_rejected, 1);
  cr_assert_eq(store_status("w1"), CM_WORKER_AVAILABLE);
  cm_engine_step(fx.eng, 500, NULL, NULL);
  v = view("r1");
  cr_assert_eq(v.state, CM_REQ_OFFERED);
  cr_assert_str_eq(v.workers[0], "w2", "the refusing worker is excluded");
  cr_assert_eq(cm_engine_reject(fx.eng, "r1", "w2", 600, NULL), CM_OK);
  cm_engine_step(fx.eng, 800, NULL, NULL);
  v = view("r1");
  cr_assert_eq(v.state, CM_REQ_PENDING, "both refused: nobody left");
  cr_assert_eq(v.reason, CM_REASON_NO_CANDIDATE);
}

Test(engine, offer_expires) {
  add_worker("w1", CM_FX_NURSE, 0.5, 1, 0);
  add_worker("w2", CM_FX_NURSE, 2.0, 1, 0);
  cm_request_spec s = spec("r1", CM_FX_NURSE, CM_URGENCY_NORMAL);
  submit(&s, 0);
  cm_engine_step(fx.eng, 200, NULL, NULL);
  cr_assert_eq(cm_engine_next_due(fx.eng), 200 + 10000);
  count_events(CM_EV_OFFERED, NULL);
  cm_engine_step(fx.eng, 10200, NULL, NULL);
  cm_request_view v = view("r1");
  cr_assert_eq(v.n_rejected, 1);
  cr_assert_str_eq(v.rejected[0], "w1");
  cm_engine_step(fx.eng, 10400, NULL, NULL);
  cr_assert_str_eq(view("r1").workers[0], "w2");
}

Test(engine, cancel_during_offer_releases_worker) {
  add_worker("w1", CM_FX_NURSE, 0.5, 1, 0);
  cm_request_spec s = spec("r1", CM_FX_NURSE, CM_URGENCY_NORMAL);
  submit(&s, 0);
  cm_engine_step(fx.eng, 200, NULL, NULL);
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "w1"), 1);
  cr_assert_eq(cm_engine_cancel(fx.eng, "r1", 300, NULL), CM_OK);
  cr_assert_eq(view("r1").state, CM_REQ_CANCELLED);
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "w1"), 0);
  cr_assert_eq(store_status("w1"), CM_WORKER_AVAILABLE);
  cr_assert_eq(cm_engine_cancel(fx.eng, "r1", 400, NULL), CM_OK,
               "cancelling twice is a no-op");
  cm_error err;
  cr_assert_eq(cm_engine_accept(fx.eng, "r1", "w1", 500, &err), CM_E_CONFLICT);
}

Test(engine, worker_offline_while_offered) {
  add_worker("w1", CM_FX_NURSE, 0.5, 1, 0);
  cm_request_spec s = spec("r1", CM_FX_NURSE, CM_URGENCY_NORMAL);
  submit(&s, 0);
  cm_engine_step(fx.eng, 200, NULL, NULL);
  count_events(CM_EV_OFFERED, NULL);
  cr_assert_eq(cm_engine_worker_shift(fx.eng, "w1", 0, 300, NULL), CM_OK);
  cr_assert_eq(count_events(CM_EV_WITHDRAWN, "r1"), 1);
  cr_assert_eq(view("r1").state, CM_REQ_PENDING);
  cr_assert_eq(store_status("w1"), CM_WORKER_OFFLINE);
  cm_engine_step(fx.eng, 500, NULL, NULL);
  cr_assert_eq(view("r1").state, CM_REQ_PENDING, "offline: not offered");
  cm_engine_worker_shift(fx.eng, "w1", 1, 600, NULL);
  cm_engine_step(fx.eng, 700, NULL, NULL);
  cr_assert_eq(view("r1").state, CM_REQ_OFFERED, "back on shift");
}

Test(engine, idempotent_submit) {
  cm_request_spec s = spec("r1", CM_FX_NURSE, CM_URGENCY_NORMAL);
  submit(&s, 0);
  cr_assert_eq(count_events(CM_EV_SUBMITTED, "r1"), 1);
  submit(&s, 50);
  cr_assert_eq(count_events(CM_EV_SUBMITTED, "r1"), 0, "no second event");
  cm_request_spec t = s;
  t.staff = 2;
  cm_error err;
  cr_assert_eq(cm_engine_submit(fx.eng, &t, 60, &err), CM_E_CONFLICT);
  cr_assert_str_eq(err.field, "$.id");
  cr_assert_eq(view("r1").spec.staff, 1, "nothing changed");
}

Test(engine, bad_specs_change_nothing) {
  cm_error err;
  cm_request_spec s = spec("r1", CM_FX_NURSE, CM_URGENCY_NORMAL);
  s.lat = 91;
  cr_assert_eq(cm_engine_submit(fx.eng, &s, 0, &err), CM_E_RANGE);
  cr_assert_str_eq(err.field, "$.lat");
  s = spec("r1", 1u << 20, CM_URGENCY_NORMAL);
  cr_assert_eq(cm_engine_submit(fx.eng, &s, 0, &err), CM_E_UNKNOWN_SKILL);
  s = spec("r1", CM_FX_NURSE, CM_URGENCY_NORMAL);
  s.staff = 5;
  cr_assert_eq(cm_engine_submit(fx.eng, &s, 0, &err), CM_E_RANGE);
  cr_assert_str_eq(err.field, "$.staff");
  s = spec("", CM_FX_NURSE, CM_URGENCY_NORMAL);
  cr_assert_eq(cm_engine_submit(fx.eng, &s, 0, &err), CM_E_INVALID);
  cr_assert_eq(cm_engine_request_get(fx.eng, "r1", &(cm_request_view){0}, &err),
               CM_E_UNKNOWN_ID);
  cr_assert_eq(count_events(CM_EV_SUBMITTED, NULL), 0);
  cr_assert_eq(cm_engine_accept(fx.eng, "nope", "w1", 0, &err),
               CM_E_UNKNOWN_ID);
  cr_assert_str_eq(err.field, "$.request");
}

Test(engine, accept_wrong_worker_conflicts) {
  add_worker("w1", CM_FX_NURSE, 0.5, 1, 0);
  add_worker("w2", CM_FX_NURSE, 3.0, 1, 0);
  cm_request_spec s = spec("r1", CM_FX_NURSE, CM_URGENCY_NORMAL);
  submit(&s, 0);
  cm_engine_step(fx.eng, 200, NULL, NULL);
  cm_error err;
  cr_assert_eq(cm_engine_accept(fx.eng, "r1", "w2", 300, &err), CM_E_CONFLICT);
  cr_assert_eq(cm_engine_accept(fx.eng, "r1", "ghost", 300, &err),
               CM_E_UNKNOWN_ID);
  cr_assert_eq(cm_engine_complete(fx.eng, "r1", 300, &err), CM_E_CONFLICT);
  cr_assert_eq(view("r1").state, CM_REQ_OFFERED);
}

Test(engine, capacity_across_batches) {
  add_worker("w1", CM_FX_NURSE, 0.5, 2, 0);
  cm_request_spec a = spec("r1", CM_FX_NURSE, CM_URGENCY_NORMAL);
  cm_request_spec b = spec("r2", CM_FX_NURSE, CM_URGENCY_NORMAL);
  cm_request_spec c = spec("r3", CM_FX_NURSE, CM_URGENCY_NORMAL);
  submit(&a, 0);
  cm_engine_step(fx.eng, 200, NULL, NULL);
  cr_assert_eq(store_status("w1"), CM_WORKER_AVAILABLE, "one slot left");
  submit(&b, 300);
  cm_engine_step(fx.eng, 500, NULL, NULL);
  cr_assert_eq(view("r2").state, CM_REQ_OFFERED);
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "w1"), 2);
  cr_assert_eq(store_status("w1"), CM_WORKER_OFFERED);
  submit(&c, 600);
  cm_engine_step(fx.eng, 800, NULL, NULL);
  cr_assert_eq(view("r3").state, CM_REQ_PENDING, "at capacity");
}

Test(engine, radius_widens_while_waiting) {
  add_worker("far", CM_FX_NURSE, 7.0, 1, 0); /* normal radius is 5 km */
  cm_request_spec s = spec("r1", CM_FX_NURSE, CM_URGENCY_NORMAL);
  submit(&s, 0);
  cm_engine_step(fx.eng, 200, NULL, NULL);
  cr_assert_eq(view("r1").state, CM_REQ_PENDING);
  /* 0.5 km a minute: 7 km is in reach after 4 minutes (positions must stay
     fresh) */
  int64_t t = 200;
  while (view("r1").state == CM_REQ_PENDING && t < 600000) {
    t += 10000;
    cm_engine_worker_position(fx.eng, "far", 31.23 + 7.0 / 111.195, 121.47, t,
                              NULL);
    cm_engine_step(fx.eng, t, NULL, NULL);
  }
  cr_assert_eq(view("r1").state, CM_REQ_OFFERED);
  cr_assert_geq(t, 240000);
  cr_assert_leq(t, 270000);
}

Test(engine, scheduled_release) {
  add_worker("w1", CM_FX_NURSE, 2.0, 1, 0);
  cm_request_spec s = spec("s1", CM_FX_NURSE, CM_URGENCY_SCHEDULED);
  s.window_start_ms = 3600000; /* an hour from now */
  s.window_end_ms = 7200000;
  submit(&s, 0);
  cm_request_view v = view("s1");
  /* 2 km at 25 km/h with road factor 1.3: 6.24 minutes, slack 10 minutes */
  int64_t travel = (int64_t)(2.0 * 1.3 / 25.0 * 60.0 * 60000.0);
  cr_assert_lt(llabs(v.release_ms - (3600000 - 600000 - travel)), 2000);
  cm_engine_step(fx.eng, 1000000, NULL, NULL);
  cr_assert_eq(view("s1").state, CM_REQ_PENDING, "not before its release");
  cr_assert_eq(view("s1").batches, 0);
  cr_assert_eq(cm_engine_next_due(fx.eng), v.release_ms);
  cm_engine_worker_position(fx.eng, "w1", 31.23 + 2.0 / 111.195, 121.47,
                            v.release_ms, NULL);
  cm_engine_step(fx.eng, v.release_ms, NULL, NULL);
  cr_assert_eq(view("s1").state, CM_REQ_OFFERED);
}

Test(engine, team_all_or_nothing_and_reject_breaks_team) {
  add_worker("n1", CM_FX_NURSE, 0.5, 1, 0);
  add_worker("c1", CM_FX_CAREGIVER, 0.7, 1, 0);
  add_worker("n2", CM_FX_NURSE, 1.5, 1, 0);
  cm_request_spec s =
      spec("t1", CM_FX_NURSE | CM_FX_CAREGIVER, CM_URGENCY_URGENT);
  s.staff = 2;
  submit(&s, 0);
  cm_engine_step(fx.eng, 200, NULL, NULL);
  cm_request_view v = view("t1");
  cr_assert_eq(v.state, CM_REQ_OFFERED);
  cr_assert_eq(v.n_workers, 2);
  int has_c1 = !strcmp(v.workers[0], "c1") || !strcmp(v.workers[1], "c1");
  cr_assert(has_c1, "the only caregiver is in the team");
  cr_assert_eq(cm_engine_accept(fx.eng, "t1", "c1", 300, NULL), CM_OK);
  cr_assert_eq(view("t1").state, CM_REQ_OFFERED, "half accepted");
  const char *nurse = strcmp(v.workers[0], "c1") ? v.workers[0] : v.workers[1];
  char nid[CM_ID_MAX];
  snprintf(nid, sizeof nid, "%s", nurse);
  cr_assert_eq(cm_engine_reject(fx.eng, "t1", nid, 400, NULL), CM_OK);
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "c1"), 0, "team released");
  cr_assert_eq(view("t1").state, CM_REQ_PENDING);
  cm_engine_step(fx.eng, 600, NULL, NULL);
  v = view("t1");
  cr_assert_eq(v.state, CM_REQ_OFFERED);
  for (int i = 0; i < v.n_workers; i++)
    cr_assert_str_neq(v.workers[i], nid, "the refusing nurse is excluded");
}

Test(engine, auto_accept) {
  teardown(); /* the suite's engine asks workers; this one does not */
  setup_with(1);
  add_worker("w1", CM_FX_ESCORT, 0.5, 1, 0);
  cm_request_spec s = spec("r1", CM_FX_ESCORT, CM_URGENCY_NORMAL);
  submit(&s, 0);
  cm_engine_step(fx.eng, 200, NULL, NULL);
  cr_assert_eq(view("r1").state, CM_REQ_ACCEPTED);
  cr_assert_eq(store_status("w1"), CM_WORKER_BUSY);
}

Test(engine, history_forgets_oldest) {
  teardown();
  cm_engine_config cfg;
  cm_engine_config_init(&cfg);
  cfg.history = 2;
  cm_fx_engine_open(&fx, &cfg);
  for (int i = 0; i < 3; i++) {
    char id[8];
    snprintf(id, sizeof id, "r%d", i);
    cm_request_spec s = spec(id, CM_FX_NURSE, CM_URGENCY_NORMAL);
    submit(&s, i);
    cr_assert_eq(cm_engine_cancel(fx.eng, id, i, NULL), CM_OK);
  }
  cm_error err;
  cm_request_view v;
  cr_assert_eq(cm_engine_request_get(fx.eng, "r0", &v, &err), CM_E_UNKNOWN_ID);
  cr_assert_eq(view("r1").state, CM_REQ_CANCELLED);
  cr_assert_eq(view("r2").state, CM_REQ_CANCELLED);
}

Test(engine, config_is_validated, .init = NULL, .fini = NULL) {
  cm_store *st = cm_store_memory_new(0);
  cm_engine_config c;
  cm_engine_config_init(&c);
  c.batch_max = 0;
  cm_error err;
  cr_assert_null(cm_engine_new(&c, st, &err));
  cr_assert_str_eq(err.field, "$.batch_max");
  cm_engine_config_init(&c);
  c.weights.travel = -1;
  cr_assert_null(cm_engine_new(&c, st, &err));
  cr_assert_str_eq(err.field, "$.weights.travel");
  cm_store_free(st);
}

/* The daemon's path: the batch is solved while the engine takes other
 * calls. What changed meanwhile is not offered; nothing is lost. */
Test(engine, batch_in_flight_skips_what_changed) {
  add_worker("w1", CM_FX_NURSE, 1.0, 1, 0);
  add_worker("w2", CM_FX_NURSE, 2.0, 1, 0);
  add_worker("w3", CM_FX_NURSE, 3.0, 1, 0);
  cm_request_spec a = spec("a", CM_FX_NURSE, CM_URGENCY_EMERGENCY);
  cm_request_spec b = spec("b", CM_FX_NURSE, CM_URGENCY_EMERGENCY);
  cm_request_spec c = spec("c", CM_FX_NURSE, CM_URGENCY_EMERGENCY);
  submit(&a, 100);
  submit(&b, 100);
  submit(&c, 100);
  cm_error err;
  cm_engine_batch *bt, *b2;
  cr_assert_eq(cm_engine_batch_begin(fx.eng, 100, &bt, &err), CM_OK);
  cr_assert_not_null(bt);
  cr_assert_eq(cm_engine_batch_begin(fx.eng, 100, &b2, &err), CM_OK);
  cr_assert_null(b2, "one batch in flight at a time");
  cr_assert_eq(step(100), 0, "step waits for it");
  cr_assert_eq(cm_engine_batch_solve(bt, &err), CM_OK);
  /* meanwhile: a is cancelled, w2 goes off shift, d arrives */
  cr_assert_eq(cm_engine_cancel(fx.eng, "a", 110, &err), CM_OK);
  cr_assert_eq(cm_engine_worker_shift(fx.eng, "w2", 0, 110, &err), CM_OK);
  cm_request_spec d = spec("d", CM_FX_NURSE, CM_URGENCY_EMERGENCY);
  submit(&d, 110);
  cr_assert_eq(cm_engine_batch_end(fx.eng, bt, 120, &err), CM_OK, "%s",
               err.message);
  cr_assert_eq(view("a").state, CM_REQ_CANCELLED, "not offered");
  int offered = 0;
  const char *reqs[2] = {"b", "c"};
  for (int i = 0; i < 2; i++) {
    cm_request_view v = view(reqs[i]);
    if (v.state == CM_REQ_OFFERED) {
      offered++;
      cr_assert_str_neq(v.workers[0], "w2", "w2 went off shift");
    }
  }
  cr_assert_geq(offered, 1);
  cr_assert_eq(view("d").state, CM_REQ_PENDING, "d waits for the next batch");
  cr_assert_leq(cm_engine_next_due(fx.eng), 120, "and that batch is due");
  cr_assert_geq(step(120), 1);
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "w2"), 0);
  for (int w = 1; w <= 3; w++) {
    char id[4];
    snprintf(id, sizeof id, "w%d", w);
    cr_assert_leq(cm_engine_worker_jobs(fx.eng, id), 1, "capacity kept");
  }
}

Test(engine, batch_freed_at_shutdown_leaks_nothing) {
  add_worker("w1", CM_FX_NURSE, 1.0, 1, 0);
  cm_request_spec a = spec("a", CM_FX_NURSE, CM_URGENCY_EMERGENCY);
  submit(&a, 100);
  cm_engine_batch *bt;
  cr_assert_eq(cm_engine_batch_begin(fx.eng, 100, &bt, NULL), CM_OK);
  cr_assert_not_null(bt);
  cm_engine_batch_free(bt); /* the engine is freed in teardown */
}
