/* test_candidates.c -- candidate search where the planar shortcuts of a
 * city do not hold: near the poles, across the antimeridian, between
 * continents, with radii up to 1000 km. Every answer must be feasible (each
 * edge a true candidate, K nearest by great-circle distance) and optimal
 * against the brute force. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "carematch/solve.h"
#include "check.h"

static const double anchors[][2] = {
    {89.9, 0.0},     {89.5, 179.0},  {-89.95, -90.0}, {0.0, 179.995},
    {0.0, -179.995}, {65.0, -179.9}, {65.2, 179.8},   {31.23, 121.47},
    {-33.9, 151.2},  {51.5, -0.12}};

static cm_instance *global_instance(uint64_t seed, int nr, int nw, int k) {
  cm_check_rng g;
  cm_check_rng_seed(&g, seed);
  cm_instance *inst = cm_instance_new();
  int na = (int)(sizeof anchors / sizeof anchors[0]);
  inst->params.k = k;
  for (int u = 0; u < CM_URGENCY_COUNT; u++)
    inst->params.radius_km[u] = cm_check_rng_real(&g, 50, 1000);
  inst->params.radius_max_km = 1000;
  inst->params.speed_kmh = 800; /* a plane: keeps edges under the penalty */
  for (int w = 0; w < nw; w++) {
    cm_worker wk;
    cm_worker_init(&wk);
    snprintf(wk.id, sizeof wk.id, "w%d", w);
    wk.skills = 1u << cm_check_rng_int(&g, 0, 1);
    const double *a = anchors[cm_check_rng_int(&g, 0, na - 1)];
    wk.lat = a[0] + cm_check_rng_real(&g, -0.05, 0.05);
    wk.lon = a[1] + cm_check_rng_real(&g, -0.3, 0.3);
    if (wk.lat > 90)
      wk.lat = 90;
    if (wk.lat < -90)
      wk.lat = -90;
    if (wk.lon > 180)
      wk.lon -= 360;
    if (wk.lon < -180)
      wk.lon += 360;
    wk.has_position = 1;
    wk.capacity = cm_check_rng_int(&g, 1, 2);
    cr_assert_eq(cm_instance_worker_add(inst, &wk, NULL, NULL), CM_OK);
  }
  for (int r = 0; r < nr; r++) {
    cm_request rq;
    cm_request_init(&rq);
    snprintf(rq.id, sizeof rq.id, "r%d", r);
    rq.skills = 1u << cm_check_rng_int(&g, 0, 1);
    rq.urgency = (cm_urgency)cm_check_rng_int(&g, 0, 3);
    const double *a = anchors[cm_check_rng_int(&g, 0, na - 1)];
    rq.lat = a[0] + cm_check_rng_real(&g, -0.05, 0.05);
    rq.lon = a[1] + cm_check_rng_real(&g, -0.3, 0.3);
    if (rq.lat > 90)
      rq.lat = 90;
    if (rq.lat < -90)
      rq.lat = -90;
    if (rq.lon > 180)
      rq.lon -= 360;
    if (rq.lon < -180)
      rq.lon += 360;
    rq.has_position = 1;
    cr_assert_eq(cm_instance_request_add(inst, &rq, NULL, NULL), CM_OK);
  }
  cr_assert_eq(cm_instance_validate(inst, NULL), CM_OK);
  return inst;
}

static void check_many(int k_binding) {
  for (uint64_t seed = 1; seed <= 300; seed++) {
    int nr = 1 + (int)(seed % 6), nw = 2 + (int)(seed % 7);
    cm_instance *inst = global_instance(seed, nr, nw, k_binding ? 2 : nw);
    cm_answer a;
    cm_error err;
    cr_assert_eq(cm_solve(inst, NULL, &a, &err), CM_OK, "%s", err.message);
    char msg[CM_CHECK_MSG_MAX] = "";
    cr_assert(cm_check_feasible(inst, &a, msg), "seed %llu: %s",
              (unsigned long long)seed, msg);
    double best = cm_check_brute_force(inst, NULL);
    cr_assert(cm_check_close(a.objective, best),
              "seed %llu: objective %.9g, brute force %.9g",
              (unsigned long long)seed, a.objective, best);
    cm_answer_free(&a);
    cm_instance_free(inst);
  }
}

Test(candidates, poles_antimeridian_continents) {
  check_many(0);
}

Test(candidates, k_binding_far_apart) {
  check_many(1);
}
