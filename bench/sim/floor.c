/* floor.c -- the hindsight floor of a day's travel: every request known in
 * advance, solved as one batch (cm_solve), with the day's timing relaxed.
 *
 * Every job is reached from somewhere: the home of a worker who holds the
 * skills (each home starts at most one chain), or the place of another job
 * of the day (each job is followed by at most one). Choosing one such
 * origin per staff member of each job, at least cost, is an assignment;
 * any real day's routes choose origins among these, so the assignment's
 * travel is a lower bound of the day's (K nearest origins per job are
 * offered to the solver, which keeps it a close, not a strict, bound).
 * Travel home at the end is not counted, as the simulation does not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

double sim_floor_km(const sim_scenario *s, const unsigned char *served,
                    char *msg, size_t n) {
  cm_instance *inst = cm_instance_new();
  cm_error err;
  double km = -1;
  if (!inst) {
    snprintf(msg, n, "out of memory");
    return -1;
  }
  cm_weights_default(&inst->weights);
  inst->weights.workload = inst->weights.continuity = 0;
  inst->weights.rating = inst->weights.skill = inst->weights.preferred = 0;
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    inst->weights.urgency_factor[u] = 1;
    inst->weights.penalty_base[u] = 1e5; /* everything is served */
  }
  inst->weights.aging_per_min = 0;
  inst->params.k = 16;
  for (int u = 0; u < CM_URGENCY_COUNT; u++)
    inst->params.radius_km[u] = 60;
  inst->params.radius_max_km = 60;
  inst->params.road_factor = s->road_factor;
  cm_skillset all = 0;
  for (int v = 0; v < s->n_services; v++)
    all |= s->services[v].skills;
  for (int i = 0; i < s->n_workers; i++) { /* homes: one chain each */
    cm_worker w;
    cm_worker_init(&w);
    snprintf(w.id, sizeof w.id, "%s", s->workers[i].id);
    w.skills = s->workers[i].skills;
    w.lat = s->workers[i].lat;
    w.lon = s->workers[i].lon;
    w.has_position = 1;
    if (cm_instance_add_worker(inst, &w, &err) < 0)
      goto fail;
  }
  int first_job = inst->n_workers;
  for (int q = 0; q < s->n_requests; q++) { /* each job: one successor */
    cm_worker w;
    cm_worker_init(&w);
    snprintf(w.id, sizeof w.id, "after-%s", s->requests[q].id);
    w.skills = all;
    w.lat = s->requests[q].lat;
    w.lon = s->requests[q].lon;
    w.has_position = 1;
    if (cm_instance_add_worker(inst, &w, &err) < 0)
      goto fail;
  }
  for (int q = 0; q < s->n_requests; q++) {
    if (served && !served[q])
      continue;
    const sim_request *rq = &s->requests[q];
    const sim_service *sv = &s->services[rq->service];
    cm_request r;
    cm_request_init(&r);
    snprintf(r.id, sizeof r.id, "%s", rq->id);
    r.lat = rq->lat;
    r.lon = rq->lon;
    r.has_position = 1;
    r.skills = sv->skills;
    r.skill_mode = sv->mode;
    r.staff = sv->staff;
    r.urgency = sv->urgency;
    r.excluded[r.n_excluded++] = first_job + q; /* not from itself */
    if (cm_instance_add_request(inst, &r, &err) < 0)
      goto fail;
  }
  cm_answer ans;
  if (cm_solve(inst, NULL, &ans, &err) != CM_OK)
    goto fail;
  /* the certified lower bound of the assignment, in km: the cost is
     travel minutes (weight 1, urgency factors 1) = km / speed * 60 */
  km = ans.stats.lower_bound * inst->params.speed_kmh / 60.0;
  if (ans.n_unassigned > 0)
    snprintf(msg, n, "%d jobs had no origin within 60 km", ans.n_unassigned);
  cm_answer_free(&ans);
  cm_instance_free(inst);
  return km;
fail:
  snprintf(msg, n, "%s", err.message);
  cm_instance_free(inst);
  return -1;
}
