/* test_sim_interrupt.c -- the simulator's interruption (+interrupt) and
 * its floor, on hand-made days: a nurse at an hour's visit 1 km from an
 * emergency is called away to it (a free nurse is 4 km off); the visit is
 * finished by the other nurse in the time it had left, not started again,
 * and counted (interrupted, resumed, the wait until she came); without
 * +interrupt nothing is broken off. An emergency with no capable worker
 * on shift within 15 minutes' drive is beyond reach; one whose only near
 * worker is at a visit is not, and her state at the call is kept. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define KM_LAT (1.0 / 111.195) /* degrees of latitude per km */
#define NURSE ((cm_skillset)1 << 1)
#define H8 (8 * 3600000LL)

/* A day at (31.23, 121.47): services 0 (a normal 60-minute visit) and 1
 * (a 20-minute emergency), every offer accepted in 2 s; workers and
 * requests added by the callers. */
static sim_scenario *day(int n_workers, int n_requests) {
  sim_scenario *s = calloc(1, sizeof *s);
  cr_assert_not_null(s);
  s->center_lat = 31.23;
  s->center_lon = 121.47;
  s->road_factor = 1.3;
  s->accept_prob = 1.0;
  s->response_s_max = 2.0;
  s->report_s = 5;
  s->n_services = 2;
  cm_sim_service sv[2] = {
      {"visit", NURSE, CM_SKILLS_ALL, 1, CM_URGENCY_NORMAL, 60.0, 1, {0}, 0},
      {"emergency",
       NURSE,
       CM_SKILLS_ALL,
       1,
       CM_URGENCY_EMERGENCY,
       20.0,
       1,
       {0},
       0}};
  memcpy(s->services, sv, sizeof sv);
  s->workers = calloc((size_t)n_workers, sizeof *s->workers);
  s->requests = calloc((size_t)n_requests, sizeof *s->requests);
  cr_assert(s->workers && s->requests);
  return s;
}

/* Worker i, a nurse on shift all day, at home dlat_km north. */
static void worker(sim_scenario *s, int i, double dlat_km) {
  cm_sim_worker *w = &s->workers[s->n_workers = i + 1, i];
  snprintf(w->id, sizeof w->id, "w%d", i);
  w->skills = NURSE;
  w->lat = 31.23 + dlat_km * KM_LAT;
  w->lon = 121.47;
  w->shift_start_min = 0;
  w->shift_end_min = 24 * 60;
  w->speed_kmh = 25;
  w->rating = 5;
  w->level = 5;
}

/* Request q of service sv at at_ms, dlat_km north. */
static void request(sim_scenario *s, int q, int sv, int64_t at_ms,
                    double dlat_km) {
  cm_sim_request *r = &s->requests[s->n_requests = q + 1, q];
  snprintf(r->id, sizeof r->id, "r%d", q);
  snprintf(r->elder, sizeof r->elder, "e%d", q);
  r->at_ms = at_ms;
  r->service = sv;
  r->lat = 31.23 + dlat_km * KM_LAT;
  r->lon = 121.47;
}

static void run(const sim_scenario *s, int interrupt, sim_kpis *k) {
  sim_policy p;
  sim_policy_init(&p, "optimal", 100);
  p.no_reserve = 1;
  p.interrupt = interrupt;
  char msg[128];
  cr_assert_eq(sim_run(s, &p, k, NULL, NULL, msg, sizeof msg), 0, "%s", msg);
}

/* w0 at the centre takes visit r0 (1 km south, 8:00); w1 is free 4 km
 * north; emergency r1 comes at the centre at 8:20. */
static sim_scenario *city(void) {
  sim_scenario *s = day(2, 2);
  worker(s, 0, 0.0);
  worker(s, 1, 4.0);
  request(s, 0, 0, H8, -1.0);
  request(s, 1, 1, H8 + 20 * 60000, 0.0);
  return s;
}

Test(sim_interrupt, the_visit_is_finished_in_the_time_it_had_left) {
  sim_scenario *s = city();
  sim_kpis k;
  run(s, 1, &k);
  cr_assert_eq(k.interrupted, 1, "w0 called away from r0");
  cr_assert_eq(k.interrupt_resumed, 1);
  cr_assert_eq(k.interrupt_unserved, 0);
  cr_assert_eq(k.done, 2, "both done");
  /* w1 sets off at about 8:20, drives 5 km (15.6 min) and finishes the
     40-odd minutes left: busy about an hour, not 76 minutes */
  double busy = k.worker_days[1].busy_h * 60;
  cr_assert(busy > 50 && busy < 66, "w1 busy %.1f min", busy);
  cr_assert(k.interrupt_delay_min > 10 && k.interrupt_delay_min < 25,
            "the visit waited %.1f min", k.interrupt_delay_min);
  cr_assert_lt(k.outcomes[1].arrive_min, 10, "the emergency, from 1 km");
  cr_assert_lt(k.outcomes[0].arrive_min, 10, "r0's first arrival kept");
  cr_assert_eq(k.emergency_unreachable, 0);
  sim_kpis_free(&k);
  cm_sim_scenario_free(s);
}

Test(sim_interrupt, nothing_is_broken_off_without_it) {
  sim_scenario *s = city();
  sim_kpis k;
  run(s, -1, &k);
  cr_assert_eq(k.interrupted, 0);
  cr_assert_eq(k.done, 2);
  double busy = k.worker_days[0].busy_h * 60;
  cr_assert(busy > 60, "w0 finished her visit: %.1f min", busy);
  sim_kpis_free(&k);
  cm_sim_scenario_free(s);
}

/* w0 is the only nurse: at visit r0 1 km south at 8:20, when emergency
 * r1 comes at the centre (reachable: she is at a visit 1 km away) and
 * emergency r2 40 km north (beyond anyone's reach); the km from her at
 * each call (nearest_at_call). */
Test(sim_interrupt, beyond_reach_counts_workers_in_any_state) {
  sim_scenario *s = day(1, 3);
  worker(s, 0, 0.0);
  request(s, 0, 0, H8, -1.0);
  request(s, 1, 1, H8 + 20 * 60000, 0.0);
  request(s, 2, 1, H8 + 21 * 60000, 40.0);
  sim_kpis k;
  run(s, -1, &k);
  cr_assert_eq(k.emergency_unreachable, 1, "r2 alone");
  /* the nearest capable staff at each call, wherever she is: 1 km to r0
     (from home), 1 to r1 (from her visit), 41 to r2; road km (x 1.3) */
  cr_assert_eq(k.nearest_n, 3);
  cr_assert(k.nearest_km > 55.0 && k.nearest_km < 57.0, "%.2f km",
            k.nearest_km);
  /* what she was doing at each call, when within reach (cm_sim_near) */
  cr_assert_eq(k.n_outcomes, 3);
  cr_assert_eq(k.outcomes[0].near, CM_SIM_NEAR_FREE, "r0: free at home");
  cr_assert_eq(k.outcomes[1].near, CM_SIM_NEAR_AT_OTHER, "r1: at r0's visit");
  cr_assert_eq(k.outcomes[2].near, CM_SIM_NEAR_NONE, "r2: beyond reach");
  sim_kpis_free(&k);
  cm_sim_scenario_free(s);
}
