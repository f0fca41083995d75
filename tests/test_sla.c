/* test_sla.c -- the service levels in the objective, with the default
 * weights: a fresh request is never outranked by a less urgent one still
 * inside its own target, a request about to breach its target rises
 * steeply, and the edge's sla term prices only the lateness its travel
 * adds. Each case is one worker that two requests contend for (edge mode,
 * the travel given), solved by cm_solve. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "carematch/solve.h"

/* One worker, two one-person requests of urgency u[i], waited w_min[i],
 * travel t_min[i] to the worker. */
static cm_instance *contest(const cm_urgency u[2], const double w_min[2],
                            const double t_min[2]) {
  cm_instance *inst = cm_instance_new();
  cr_assert_not_null(inst);
  cm_error err;
  cm_worker w;
  cm_worker_init(&w);
  strcpy(w.id, "w0");
  w.skills = 1;
  cr_assert_eq(cm_instance_worker_add(inst, &w, NULL, &err), CM_OK);
  for (int i = 0; i < 2; i++) {
    cm_request r;
    cm_request_init(&r);
    r.id[0] = (char)('a' + i);
    r.skills = 1;
    r.urgency = u[i];
    r.waited_s = w_min[i] * 60.0;
    cr_assert_eq(cm_instance_request_add(inst, &r, NULL, &err), CM_OK);
    cm_edge_in e = {i, 0, t_min[i]};
    cr_assert_eq(cm_instance_edge_add(inst, &e, NULL, &err), CM_OK);
  }
  return inst;
}

/* The request the worker goes to, or -1. */
static int winner(const cm_instance *inst) {
  cm_answer ans;
  cm_error err;
  cr_assert_eq(cm_solve(inst, NULL, &ans, &err), CM_OK, "%s", err.message);
  int got = ans.n_assignments == 1 ? ans.assignments[0].request : -1;
  cm_answer_free(&ans);
  return got;
}

/* A fresh urgent request against a normal one that has waited anything up
 * to its target (120 min), at the same travel anywhere in the search
 * radius: the urgent one wins. Under the old aging (2 a minute from the
 * first minute) a normal request that had waited 90 min outranked it. */
Test(sla, fresh_urgent_beats_a_normal_inside_its_target) {
  const cm_urgency u[2] = {CM_URGENCY_URGENT, CM_URGENCY_NORMAL};
  for (double waited = 0; waited < 120; waited += 7.5)
    for (double t = 0; t <= 45; t += 5) {
      cm_instance *inst = contest(u, (double[]){0, waited}, (double[]){t, t});
      cr_assert_eq(winner(inst), 0, "normal waited %g min, travel %g", waited,
                   t);
      cm_instance_free(inst);
    }
}

/* The same for every pair of urgencies: a fresh request of the more urgent
 * one beats one of the less urgent still inside its target. */
Test(sla, fresh_beats_any_less_urgent_inside_its_target) {
  cm_weights k;
  cm_weights_init(&k);
  for (int a = 0; a < CM_URGENCY_COUNT; a++)
    for (int b = a + 1; b < CM_URGENCY_COUNT; b++) {
      double near = k.sla_target_min[b] - 0.5;
      const cm_urgency u[2] = {(cm_urgency)a, (cm_urgency)b};
      cm_instance *inst =
          contest(u, (double[]){0, near}, (double[]){10.0, 10.0});
      cr_assert_eq(winner(inst), 0, "%d fresh against %d at %g min", a, b,
                   near);
      cm_instance_free(inst);
    }
}

/* Two normal requests: the one about to breach its target wins the worker
 * although the fresh one is nearer; one that waited only half as long does
 * not. Its penalty rises steeply: the last quarter of the target adds more
 * than the first three. */
Test(sla, a_normal_about_to_breach_rises) {
  const cm_urgency u[2] = {CM_URGENCY_NORMAL, CM_URGENCY_NORMAL};
  cm_instance *inst = contest(u, (double[]){0, 115}, (double[]){5, 25});
  cr_assert_eq(winner(inst), 1);
  cm_instance_free(inst);
  inst = contest(u, (double[]){0, 57.5}, (double[]){5, 25});
  cr_assert_eq(winner(inst), 0);
  cm_instance_free(inst);

  cm_weights k;
  cm_weights_init(&k);
  cm_request r;
  cm_request_init(&r);
  r.urgency = CM_URGENCY_NORMAL;
  double p[5];
  for (int q = 0; q <= 4; q++) {
    r.waited_s = q * 30.0 * 60.0; /* 0, 30, 60, 90, 120 min */
    p[q] = cm_request_penalty(&k, &r);
  }
  cr_assert_gt(p[4] - p[3], p[3] - p[0], "%g %g %g", p[0], p[3], p[4]);
  cr_assert_float_eq(p[4] - p[0], k.sla_risk[CM_URGENCY_NORMAL], 1e-9);
  r.waited_s = 150 * 60.0; /* past it: aging a minute */
  cr_assert_float_eq(cm_request_penalty(&k, &r) - p[4], 30 * k.aging_per_min,
                     1e-9);
}

/* The edge's sla term: nothing while the arrival stays inside the target,
 * sla_late_per_min a minute past it, and for a request already late only
 * the lateness the travel adds. */
Test(sla, the_edge_term_prices_the_lateness_travel_adds) {
  const cm_urgency u[2] = {CM_URGENCY_EMERGENCY, CM_URGENCY_NORMAL};
  cm_instance *inst = contest(u, (double[]){5, 0}, (double[]){10, 0});
  double late = inst->weights.sla_late_per_min[CM_URGENCY_EMERGENCY];
  cm_cost_terms c;
  cm_edge_cost(inst, 0, 0, 0, 10, &c); /* arrives at 15: in time */
  cr_assert_float_eq(c.sla, 0, 1e-12);
  cm_edge_cost(inst, 0, 0, 0, 13, &c); /* 3 min late */
  cr_assert_float_eq(c.sla, 3 * late, 1e-9);
  inst->requests[0].waited_s = 20 * 60.0; /* already 5 min late */
  cm_edge_cost(inst, 0, 0, 0, 4, &c);
  cr_assert_float_eq(c.sla, 4 * late, 1e-9);
  cr_assert_float_eq(c.total,
                     c.travel + c.workload + c.continuity + c.rating + c.skill +
                         c.preferred + c.sla,
                     1e-9);
  cm_instance_free(inst);
}
