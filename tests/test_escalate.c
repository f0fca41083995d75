/* test_escalate.c -- the engine's wait rule: a request left without an offer
 * escalate_after_ms past its service level emits one CM_EV_ESCALATED event
 * (pending -> pending, no worker), counted in the stats; a request that got
 * an offer in time does not; 0 turns the rule off. Memory store, test
 * clock. */
#include <criterion/criterion.h>
#include <string.h>

#include "carematch/engine.h"
#include "engine_fx.h"
#include "fixtures.h"

#define MIN_MS 60000

static cm_fx fx;

static void start(int64_t escalate_after_ms) {
  cm_engine_config cfg;
  cm_engine_config_init(&cfg);
  cfg.escalate_after_ms = escalate_after_ms;
  cm_fx_engine_open(&fx, &cfg);
}

static void stop(void) {
  cm_fx_engine_close(&fx);
}

/* Step at now; the escalations polled, their request ids into got. */
static int step_escalations(int64_t now, char got[][CM_ID_MAX], int max) {
  cm_error err;
  int n = 0, c = 0;
  cr_assert_eq(cm_engine_step(fx.eng, now, &n, &err), CM_OK, "%s", err.message);
  cm_event ev[256];
  while ((n = cm_engine_poll(fx.eng, ev, 256)) > 0)
    for (int i = 0; i < n; i++)
      if (ev[i].type == CM_EV_ESCALATED) {
        cr_assert_eq(ev[i].from, CM_REQ_PENDING);
        cr_assert_eq(ev[i].to, CM_REQ_PENDING);
        cr_assert_str_eq(ev[i].worker, "");
        cr_assert_eq(ev[i].at_ms, now);
        if (c < max)
          memcpy(got[c], ev[i].request, CM_ID_MAX);
        c++;
      }
  return c;
}

static void submit(const char *id, cm_skillset skills, cm_urgency u,
                   int64_t now) {
  cm_request_spec s = cm_fx_spec(id, skills, 1, u, 0.0);
  cm_error err;
  cr_assert_eq(cm_engine_submit(fx.eng, &s, now, &err), CM_OK, "%s",
               err.message);
}

/* An urgent request no one can serve (its skill held by no worker) is
 * escalated once its wait passes 60 + 30 minutes, and only once; a normal
 * one submitted with it waits for its own 120 + 30; the one a worker
 * takes in time is never escalated (one whose offer lapsed would be: it is
 * still waiting). */
Test(escalate, once_past_the_service_level_plus_the_bound) {
  start(30 * MIN_MS);
  int64_t t0 = 1700000000000LL;
  cm_worker w = cm_fx_worker("w1", 1, 0.5, 0.0, 1, t0);
  cm_error err;
  cr_assert_eq(cm_engine_worker_upsert(fx.eng, &w, t0, &err), CM_OK, "%s",
               err.message);
  submit("u-lost", 2, CM_URGENCY_URGENT, t0);
  submit("n-lost", 2, CM_URGENCY_NORMAL, t0);
  submit("u-served", 1, CM_URGENCY_URGENT, t0);
  char got[4][CM_ID_MAX];
  cr_assert_eq(step_escalations(t0 + 1000, got, 4), 0); /* the offer */
  cr_assert_eq(cm_engine_accept(fx.eng, "u-served", "w1", t0 + 2000, &err),
               CM_OK, "%s", err.message);
  int64_t t;
  for (t = t0 + MIN_MS; t < t0 + 90 * MIN_MS; t += MIN_MS)
    cr_assert_eq(step_escalations(t, got, 4), 0, "at %lld min",
                 (long long)((t - t0) / MIN_MS));
  cr_assert_eq(step_escalations(t0 + 90 * MIN_MS, got, 4), 1);
  cr_assert_str_eq(got[0], "u-lost");
  for (t = t0 + 91 * MIN_MS; t < t0 + 150 * MIN_MS; t += MIN_MS)
    cr_assert_eq(step_escalations(t, got, 4), 0);
  cr_assert_eq(step_escalations(t0 + 150 * MIN_MS, got, 4), 1);
  cr_assert_str_eq(got[0], "n-lost");
  for (t = t0 + 151 * MIN_MS; t < t0 + 400 * MIN_MS; t += 10 * MIN_MS)
    cr_assert_eq(step_escalations(t, got, 4), 0);
  cm_engine_stats st;
  cm_engine_stats_get(fx.eng, &st);
  cr_assert_eq(st.escalated, 2);
  stop();
}

/* escalate_after_ms = 0: no escalation however long the wait; a negative
 * bound is refused, naming the field. */
Test(escalate, off_and_range) {
  start(0);
  int64_t t0 = 1700000000000LL;
  submit("u-lost", 2, CM_URGENCY_URGENT, t0);
  char got[1][CM_ID_MAX];
  for (int64_t t = t0; t < t0 + 24 * 60 * MIN_MS; t += 30 * MIN_MS)
    cr_assert_eq(step_escalations(t, got, 1), 0);
  stop();
  cm_engine_config cfg;
  cm_engine_config_init(&cfg);
  cfg.escalate_after_ms = -1;
  cm_error err;
  cr_assert_eq(cm_engine_config_validate(&cfg, &err), CM_E_RANGE);
  cr_assert_str_eq(err.field, "$.escalate_after_ms");
}
