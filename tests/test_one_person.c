/* test_one_person.c -- one person, one batch assignment (engine_person.c):
 * a nurse at a visit that ends in about 3 minutes is both a look-ahead
 * candidate (wait for her) and an interruption candidate (call her away);
 * an emergency and an urgent request near her in one batch. Before the
 * merge she was two instance workers: the emergency was offered to her by
 * interruption while the urgent request was left waiting for her, a nurse
 * no longer coming. Now the urgent request goes to the free nurse; and
 * with the urgent request alone, she is still waited for. The same for a
 * nurse on her way (diversion). And the merge itself on a small instance:
 * edges moved or kept, the later workers renumbered. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/engine.h"
#include "engine/engine_internal.h"
#include "engine_fx.h"
#include "fixtures.h"

#define T0 CM_FX_T0

static cm_fx fx;

static void start_with(double divert_min, double interrupt_min) {
  cm_engine_config c;
  cm_engine_config_init(&c);
  c.batch_window_ms = 100;
  c.reserve_workers = 0;
  c.divert_min = divert_min;
  c.interrupt_min = interrupt_min;
  cm_fx_engine_open(&fx, &c);
}

static void stop(void) {
  cm_fx_engine_close(&fx);
}

/* near takes job j (1 km south) at t, offered at t + 200 ms; accepted;
 * there at t + 1 s when arrive. */
static void near_takes(const char *j, int64_t t, int arrive) {
  cm_fx_nurse_request(fx.eng, j, CM_URGENCY_NORMAL, -1.0, t);
  cm_fx_step(fx.eng, t + 200);
  cr_assert_eq(cm_fx_view(fx.eng, j).state, CM_REQ_OFFERED);
  cr_assert_str_eq(cm_fx_view(fx.eng, j).workers[0], "near");
  cr_assert_eq(cm_engine_accept(fx.eng, j, "near", t + 500, NULL), CM_OK);
  if (arrive)
    cr_assert_eq(cm_engine_arrived(fx.eng, j, "near", t + 1000, NULL), CM_OK);
}

/* near (at the centre) and far (5 km north, some 15 minutes) on shift;
 * near did a visit of its kind that took 1 minute past her drive, then
 * took job j (there when arrive): at the returned time her visit ends in
 * about 3 minutes, 1 km from the centre. */
static int64_t day(int arrive) {
  cm_fx_nurse(fx.eng, "near", 0.0, T0);
  cm_fx_nurse(fx.eng, "far", 5.0, T0);
  near_takes("k", T0, 1);
  int64_t done =
      T0 + 200 +
      (int64_t)((cm_fx_view(fx.eng, "k").terms[0].travel_min + 1.0) * 60000.0);
  cr_assert_eq(cm_engine_complete(fx.eng, "k", done, NULL), CM_OK);
  cm_fx_nurse(fx.eng, "near", 0.0, done); /* fresh positions */
  cm_fx_nurse(fx.eng, "far", 5.0, done);
  near_takes("j", done + 1000, arrive);
  return done + 61000;
}

/* The batch at t: e (an emergency) and u (urgent) at the centre. */
static void both_at(int64_t t) {
  cm_fx_nurse_request(fx.eng, "e", CM_URGENCY_EMERGENCY, 0.0, t);
  cm_fx_nurse_request(fx.eng, "u", CM_URGENCY_URGENT, 0.0, t);
  cm_fx_step(fx.eng, t + 200);
}

/* e is offered to near, called away from j; u is not left waiting for
 * her: it is offered to far. */
static void one_assignment(void) {
  cm_request_view e = cm_fx_view(fx.eng, "e"), u = cm_fx_view(fx.eng, "u");
  cr_assert_eq(e.state, CM_REQ_OFFERED);
  cr_assert_str_eq(e.workers[0], "near");
  cr_assert_str_eq(e.divert_of, "j", "taken from her job");
  cr_assert_not(u.state == CM_REQ_PENDING && u.has_reason &&
                    u.reason == CM_REASON_WAITING_WORKER,
                "u waits for near, who is called to e in the same batch");
  cr_assert_eq(u.state, CM_REQ_OFFERED);
  cr_assert_str_eq(u.workers[0], "far");
}

Test(one_person, interrupted_for_one_not_waited_for_by_another, .fini = stop) {
  start_with(0, 2);
  both_at(day(1));
  one_assignment();
}

Test(one_person, diverted_for_one_not_waited_for_by_another, .fini = stop) {
  start_with(2, 0);
  both_at(day(0));
  one_assignment();
}

/* The look-ahead alone is kept: with no emergency the urgent request
 * waits for her (3 minutes' wait and 3 minutes' drive against far's 15),
 * and her visit is not broken off for it. */
Test(one_person, still_waited_for_without_an_emergency, .fini = stop) {
  start_with(0, 2);
  int64_t t = day(1);
  cm_fx_nurse_request(fx.eng, "u", CM_URGENCY_URGENT, 0.0, t);
  cm_fx_step(fx.eng, t + 200);
  cm_request_view u = cm_fx_view(fx.eng, "u");
  cr_assert_eq(u.state, CM_REQ_PENDING);
  cr_assert(u.has_reason && u.reason == CM_REASON_WAITING_WORKER);
  cr_assert_eq(cm_fx_view(fx.eng, "j").state, CM_REQ_ACCEPTED);
}

static void add_worker(cm_instance *inst, const char *id) {
  cm_worker w;
  cm_worker_init(&w);
  strcpy(w.id, id);
  cr_assert_eq(cm_instance_worker_add(inst, &w, NULL, NULL), CM_OK);
}

static void add_edge(cm_instance *inst, int r, int w, double t) {
  cm_edge_in ed = {r, w, t};
  cr_assert_eq(cm_instance_edge_add(inst, &ed, NULL, NULL), CM_OK);
}

static double travel(const cm_instance *inst, int r, int w) {
  for (int i = 0; i < inst->n_edges; i++)
    if (inst->edges[i].request == r && inst->edges[i].worker == w)
      return inst->edges[i].travel_min;
  return -1;
}

/* f free; a, b the look-ahead's; c, a again, d the interruption's. a's
 * second entry goes into her first: r0's edge to her becomes the sooner
 * (5), r1 keeps her look-ahead edge (7 < 9), r2's moves over; c keeps
 * index 3, d becomes 4. */
Test(one_person, merge_moves_edges_and_renumbers) {
  cm_instance *inst = cm_instance_new();
  cm_request rq;
  cm_request_init(&rq);
  for (int r = 0; r < 3; r++) {
    snprintf(rq.id, sizeof rq.id, "r%d", r);
    cr_assert_eq(cm_instance_request_add(inst, &rq, NULL, NULL), CM_OK);
  }
  const char *ids[] = {"f", "a", "b", "c", "a", "d"};
  for (int i = 0; i < 6; i++)
    add_worker(inst, ids[i]);
  add_edge(inst, 0, 0, 10);
  add_edge(inst, 0, 1, 6);
  add_edge(inst, 1, 1, 7);
  add_edge(inst, 1, 2, 8);
  add_edge(inst, 0, 3, 8);
  add_edge(inst, 0, 4, 5);
  add_edge(inst, 1, 4, 9);
  add_edge(inst, 2, 4, 3);
  add_edge(inst, 2, 5, 4);
  cm__pair *now = NULL;
  int n_now = -1;
  cr_assert_eq(cm__person_merge(inst, 1, 3, &now, &n_now, NULL), CM_OK);
  cr_assert_eq(inst->n_workers, 5);
  const char *want[] = {"f", "a", "b", "c", "d"};
  for (int i = 0; i < 5; i++)
    cr_assert_str_eq(inst->workers[i].id, want[i]);
  cr_assert_eq(inst->n_edges, 7);
  cr_assert_float_eq(travel(inst, 0, 1), 5, 1e-9);
  cr_assert_float_eq(travel(inst, 1, 1), 7, 1e-9);
  cr_assert_float_eq(travel(inst, 2, 1), 3, 1e-9);
  cr_assert_float_eq(travel(inst, 0, 3), 8, 1e-9);
  cr_assert_float_eq(travel(inst, 2, 4), 4, 1e-9);
  cr_assert_float_eq(travel(inst, 0, 0), 10, 1e-9);
  cr_assert_float_eq(travel(inst, 1, 2), 8, 1e-9);
  cr_assert_eq(n_now, 2);
  cr_assert(cm__person_taken_now(now, n_now, 0, 1));
  cr_assert(cm__person_taken_now(now, n_now, 2, 1));
  cr_assert_not(cm__person_taken_now(now, n_now, 1, 1), "her wait is kept");
  cr_assert_not(cm__person_taken_now(now, n_now, 0, 3));
  free(now);
  cm_instance_free(inst);
}
