/* test_take_urgent.c -- taking urgent work (engine_divert.c,
 * divert_urgent): with diversion and interruption on, a nurse at an urgent
 * visit (or on her way to one) 1 km from an emergency is offered it only
 * when every other candidate would reach it past its service level (a free
 * nurse 7 km away, some 22 minutes, past the 15-minute target), never
 * when one reaches it in time (4.5 km, some 14 minutes), never with
 * divert_urgent 0; a nurse at a normal visit as near is taken first (the
 * urgent visit costs twice the margin); her accept gives the urgent visit
 * back to pending like any interrupted one. */
#include <criterion/criterion.h>
#include <string.h>

#include "carematch/engine.h"
#include "engine_fx.h"
#include "fixtures.h"

#define T0 CM_FX_T0

static cm_fx fx;

static void start_with(int divert_urgent) {
  cm_engine_config c;
  cm_engine_config_init(&c);
  c.batch_window_ms = 100;
  c.reserve_workers = 0; /* taking alone */
  c.divert_min = 5;
  c.interrupt_min = 5;
  c.divert_urgent = divert_urgent;
  cm_fx_engine_open(&fx, &c);
}

static void stop(void) {
  cm_fx_engine_close(&fx);
}

/* Worker w (the only one free, 1 km south) takes job j of urgency u at t;
 * with there, she arrives at t + 1 s. */
static void takes(const char *w, const char *j, cm_urgency u, int there,
                  int64_t t) {
  cm_fx_nurse(fx.eng, w, -1.0, T0);
  cm_fx_nurse_request(fx.eng, j, u, -1.0, t);
  cm_fx_step(fx.eng, t + 200);
  cr_assert_eq(cm_fx_view(fx.eng, j).state, CM_REQ_OFFERED);
  cr_assert_str_eq(cm_fx_view(fx.eng, j).workers[0], w);
  cr_assert_eq(cm_engine_accept(fx.eng, j, w, t + 500, NULL), CM_OK);
  if (there)
    cr_assert_eq(cm_engine_arrived(fx.eng, j, w, t + 1000, NULL), CM_OK);
}

/* near at (or on her way to) urgent job u, 1 km south of the centre; far
 * free far_km north; emergency e at the centre after a minute. */
static void city(int there, double far_km) {
  takes("near", "u", CM_URGENCY_URGENT, there, T0);
  cm_fx_nurse(fx.eng, "far", far_km, T0);
  cm_fx_nurse_request(fx.eng, "e", CM_URGENCY_EMERGENCY, 0.0, T0 + 60000);
  cm_fx_step(fx.eng, T0 + 60200);
}

Test(take_urgent, called_from_her_urgent_visit_to_save_a_breach, .fini = stop) {
  start_with(1);
  city(1, 7.0);
  cm_request_view e = cm_fx_view(fx.eng, "e");
  cr_assert_eq(e.state, CM_REQ_OFFERED);
  cr_assert_str_eq(e.workers[0], "near", "far would be 22 minutes: late");
  cr_assert_str_eq(e.divert_of, "u");
  cm_error err;
  cr_assert_eq(cm_engine_accept(fx.eng, "e", "near", T0 + 65000, &err), CM_OK,
               "%s", err.message);
  cm_request_view u = cm_fx_view(fx.eng, "u");
  cr_assert_eq(u.state, CM_REQ_PENDING, "the urgent visit waits again");
  cr_assert_eq(u.arrived_ms, 0);
  cm_engine_stats st;
  cm_engine_stats_get(fx.eng, &st);
  cr_assert_eq(st.interrupted, 1);
}

Test(take_urgent, diverted_on_her_way_to_urgent_work, .fini = stop) {
  start_with(1);
  city(0, 7.0);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "near");
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").divert_of, "u");
  cr_assert_eq(cm_engine_accept(fx.eng, "e", "near", T0 + 65000, NULL), CM_OK);
  cr_assert_eq(cm_fx_view(fx.eng, "u").state, CM_REQ_PENDING);
  cm_engine_stats st;
  cm_engine_stats_get(fx.eng, &st);
  cr_assert_eq(st.diverted, 1);
}

/* far reaches e in some 14 minutes, within the target: near stays. */
Test(take_urgent, not_when_another_reaches_it_in_time, .fini = stop) {
  start_with(1);
  city(1, 4.5);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "far");
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").divert_of, "");
  cr_assert_eq(cm_fx_view(fx.eng, "u").state, CM_REQ_ACCEPTED);
}

Test(take_urgent, never_with_divert_urgent_0, .fini = stop) {
  start_with(0);
  city(1, 7.0);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "far");
  cr_assert_eq(cm_fx_view(fx.eng, "u").state, CM_REQ_ACCEPTED);
}

/* The same place, a normal visit beside the urgent one: hers is taken. */
Test(take_urgent, a_normal_visit_as_near_goes_first, .fini = stop) {
  start_with(1);
  takes("nu", "u", CM_URGENCY_URGENT, 1, T0);
  takes("nn", "n", CM_URGENCY_NORMAL, 1, T0 + 2000);
  cm_fx_nurse(fx.eng, "far", 7.0, T0);
  cm_fx_nurse_request(fx.eng, "e", CM_URGENCY_EMERGENCY, 0.0, T0 + 60000);
  cm_fx_step(fx.eng, T0 + 60200);
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").workers[0], "nn");
  cr_assert_str_eq(cm_fx_view(fx.eng, "e").divert_of, "n");
}

Test(take_urgent, the_config_is_checked, .fini = stop) {
  fx.store = cm_store_memory_new(0);
  cm_engine_config c;
  cm_engine_config_init(&c);
  c.divert_urgent = 2;
  cm_error err;
  fx.eng = cm_engine_new(&c, fx.store, &err);
  cr_assert_null(fx.eng);
  cr_assert(strstr(err.message, "divert_urgent"), "%s", err.message);
}
