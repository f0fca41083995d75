/* test_engine_list.c -- the engine's live requests as a list
 * (cm_engine_live_count, cm_engine_live_get: engine_list.c), on the
 * memory store: what is listed, in what order, a page at a time, and that
 * finished requests leave it. */
#include <criterion/criterion.h>
#include <string.h>

#include "carematch/engine.h"
#include "engine_fx.h"
#include "fixtures.h"

static cm_fx fx;

static void setup(void) {
  cm_engine_config cfg;
  cm_engine_config_init(&cfg);
  cm_fx_engine_open(&fx, &cfg);
}

static void teardown(void) {
  cm_fx_engine_close(&fx);
}

TestSuite(engine_list, .init = setup, .fini = teardown);

static void submit(const char *id, cm_urgency u, int64_t now) {
  cm_request_spec s = cm_fx_spec(id, 1u << 0, 1, u, 0.0);
  cm_error err;
  cr_assert_eq(cm_engine_submit(fx.eng, &s, now, &err), CM_OK, "%s",
               err.message);
}

Test(engine_list, lists_the_live_requests_a_page_at_a_time) {
  cm_request_view v[4];
  cr_assert_eq(cm_engine_live_count(fx.eng), 0);
  cr_assert_eq(cm_engine_live_get(fx.eng, 0, 4, v), 0);
  submit("a", CM_URGENCY_NORMAL, 1000);
  submit("b", CM_URGENCY_EMERGENCY, 1001);
  submit("c", CM_URGENCY_SCHEDULED, 1002);
  cr_assert_eq(cm_engine_live_count(fx.eng), 3);
  cr_assert_eq(cm_engine_live_get(fx.eng, 0, 4, v), 3);
  cr_assert_str_eq(v[0].spec.id, "a"); /* arrival order */
  cr_assert_str_eq(v[1].spec.id, "b");
  cr_assert_str_eq(v[2].spec.id, "c");
  cr_assert_eq(v[1].spec.urgency, CM_URGENCY_EMERGENCY);
  cr_assert_eq(v[0].state, CM_REQ_PENDING);
  cr_assert_eq(v[0].created_ms, 1000);
  /* pages: two, then one; past the end nothing */
  cr_assert_eq(cm_engine_live_get(fx.eng, 0, 2, v), 2);
  cr_assert_eq(cm_engine_live_get(fx.eng, 2, 2, v), 1);
  cr_assert_str_eq(v[0].spec.id, "c");
  cr_assert_eq(cm_engine_live_get(fx.eng, 3, 2, v), 0);
  cr_assert_eq(cm_engine_live_get(fx.eng, -1, 2, v), 0);
  cr_assert_eq(cm_engine_live_get(fx.eng, 0, 0, v), 0);
  cr_assert_eq(cm_engine_live_get(fx.eng, 0, 2, NULL), 0);
  cr_assert_eq(cm_engine_live_get(NULL, 0, 2, v), 0);
  cr_assert_eq(cm_engine_live_count(NULL), 0);
}

Test(engine_list, a_finished_request_leaves_the_list) {
  cm_request_view v[4];
  cm_error err;
  submit("a", CM_URGENCY_NORMAL, 1000);
  submit("b", CM_URGENCY_NORMAL, 1001);
  submit("c", CM_URGENCY_NORMAL, 1002);
  cr_assert_eq(cm_engine_cancel(fx.eng, "a", 1003, &err), CM_OK, "%s",
               err.message);
  cr_assert_eq(cm_engine_live_count(fx.eng), 2);
  cr_assert_eq(cm_engine_live_get(fx.eng, 0, 4, v), 2);
  /* the last one took the finished one's place */
  cr_assert_str_eq(v[0].spec.id, "c");
  cr_assert_str_eq(v[1].spec.id, "b");
  /* still readable one by one, finished */
  cm_request_view one;
  cr_assert_eq(cm_engine_request_get(fx.eng, "a", &one, &err), CM_OK);
  cr_assert_eq(one.state, CM_REQ_CANCELLED);
}
