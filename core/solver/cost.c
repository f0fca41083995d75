/* cost.c -- travel model, eligibility, edge cost terms, unassigned penalty.
 * Every number the solver minimises is computed here. */
#include <math.h>

#include "carematch/solve.h"
#include "cost.h"

#define EARTH_RADIUS_KM 6371.0088

double cm_geo_distance_km(double lat1, double lon1, double lat2, double lon2) {
  const double rad = 3.14159265358979323846 / 180.0;
  double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
  double a = sin(dlat / 2) * sin(dlat / 2) +
             cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
  if (a > 1.0)
    a = 1.0;
  return 2.0 * EARTH_RADIUS_KM * asin(sqrt(a));
}

double cm_travel_minutes(const cm_params *p, double distance_km) {
  return distance_km * p->road_factor / p->speed_kmh * 60.0;
}

double cm_request_radius_km(const cm_params *p, const cm_request *r) {
  double base = p->radius_km[r->urgency];
  double grown = base + p->radius_growth_km_per_min * (r->waited_s / 60.0);
  double cap = p->radius_max_km > base ? p->radius_max_km : base;
  return grown < cap ? grown : cap;
}

/* The service level: a request's penalty is its base, plus its risk of
 * breaching the target (rising with the cube of the share of the target
 * waited: a fresh request adds nothing, one at its target all of sla_risk),
 * plus aging for every minute past the target. Inside the target a request
 * never gains more than sla_risk over its base, so the defaults keep a fresh
 * request ahead of any less urgent one still inside its own target. */
double cm_request_penalty(const cm_weights *w, const cm_request *r) {
  int u = r->urgency;
  double waited = r->waited_s / 60.0, target = w->sla_target_min[u];
  double share = waited < target ? waited / target : 1.0;
  double late = waited > target ? waited - target : 0.0;
  return (w->penalty_base[u] + w->sla_risk[u] * share * share * share +
          w->aging_per_min * late) *
         r->staff;
}

double cm__sla_edge_cost(const cm_weights *k, const cm_request *r,
                         double travel_min) {
  int u = r->urgency;
  double waited = r->waited_s / 60.0, target = k->sla_target_min[u];
  double late_now = waited > target ? waited - target : 0.0;
  double late =
      waited + travel_min > target ? waited + travel_min - target : 0.0;
  return k->sla_late_per_min[u] * (late - late_now);
}

int cm__in_list(const int *list, int n, int x) {
  for (int i = 0; i < n; i++)
    if (list[i] == x)
      return 1;
  return 0;
}

int cm__served_elder(const cm_worker *w, uint64_t elder) {
  if (!elder)
    return 0;
  for (int i = 0; i < w->n_elders; i++)
    if (w->elders[i] == elder)
      return 1;
  return 0;
}

double cm__worker_fixed_cost(const cm_weights *k, const cm_worker *w) {
  return k->workload * w->jobs_today + k->rating * (5.0 - w->rating) +
         k->skill * (5.0 - w->level);
}

int cm_worker_eligible(const cm_instance *inst, int request, int worker) {
  const cm_request *r = &inst->requests[request];
  const cm_worker *w = &inst->workers[worker];
  if (w->status != CM_WORKER_AVAILABLE || w->capacity <= 0)
    return 0;
  if (r->skill_mode == CM_SKILLS_ALL && r->staff == 1) {
    if ((w->skills & r->skills) != r->skills)
      return 0;
  } else if ((w->skills & r->skills) == 0) {
    return 0;
  }
  if (inst->params.stale_ms > 0 &&
      inst->params.now_ms - w->seen_ms > inst->params.stale_ms)
    return 0;
  return !cm__in_list(r->excluded, r->n_excluded, worker);
}

void cm_edge_cost(const cm_instance *inst, int request, int worker,
                  double distance_km, double travel_min, cm_cost_terms *out) {
  const cm_request *r = &inst->requests[request];
  const cm_worker *w = &inst->workers[worker];
  const cm_weights *k = &inst->weights;
  out->distance_km = distance_km;
  out->travel_min = travel_min;
  out->travel = k->travel * travel_min * k->urgency_factor[r->urgency];
  out->workload = k->workload * w->jobs_today;
  out->continuity = cm__served_elder(w, r->elder) ? -k->continuity : 0.0;
  out->rating = k->rating * (5.0 - w->rating);
  out->skill = k->skill * (5.0 - w->level);
  out->preferred =
      cm__in_list(r->preferred, r->n_preferred, worker) ? -k->preferred : 0.0;
  out->sla = cm__sla_edge_cost(k, r, travel_min);
  out->total = 0.0;
#define CM_X_SUM_(field, key, doc) out->total += out->field;
  CM_COST_TERMS(CM_X_SUM_)
#undef CM_X_SUM_
}

const char *cm_method_name(cm_method m) {
  static const char *const names[CM_METHOD_COUNT] = {
      "reduced", "network", "lp", "mip", "greedy", "decomposed"};
  return (int)m >= 0 && m < CM_METHOD_COUNT ? names[m] : "unknown";
}

const char *cm_reason_name(cm_unassigned_reason r) {
  static const char *const names[CM_REASON_COUNT] = {
      "no_candidate",
      "outranked",
      "deadline",
      "reserve",
      "held_by_operator",
      "pinned_worker_unknown",
      "pinned_worker_offline",
      "pinned_worker_full",
      "pinned_worker_unqualified",
      "pinned_worker_excluded",
      "pinned_worker_unlocated",
      "pinned_worker_refused",
      "waiting_for_worker",
      "pinned_worker_held"};
  return (int)r >= 0 && r < CM_REASON_COUNT ? names[r] : "unknown";
}
