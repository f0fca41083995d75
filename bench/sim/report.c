/* report.c -- a run's KPIs for people and for programs: the table
 * carematch_sim prints (runs side by side) and the summary it writes with
 * --out, JSON built with jansson (docs/sim.md), so any policy name makes
 * valid JSON. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"
#include "stats.h"

static const char *const urg[CM_URGENCY_COUNT] = {"emergency", "urgent",
                                                  "normal", "scheduled"};

void sim_report_table(const sim_kpis *k, int n) {
  printf("\n%-34s", "KPI");
  for (int i = 0; i < n; i++)
    printf(" %14s", k[i].policy);
  printf("\n");
#define ROW(label, fmt, ...)                                                   \
  do {                                                                         \
    printf("%-34s", label);                                                    \
    for (int i = 0; i < n; i++)                                                \
      printf(" " fmt, __VA_ARGS__);                                            \
    printf("\n");                                                              \
  } while (0)
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    char l[64];
    snprintf(l, sizeof l, "%s: requests", urg[u]);
    ROW(l, "%14d", k[i].requests[u]);
    snprintf(l, sizeof l, "%s: to offer p50/p95 min", urg[u]);
    ROW(l, "%6.2f /%6.2f", k[i].offer_p50[u], k[i].offer_p95[u]);
    snprintf(l, sizeof l, "%s: to arrival p50/p95 min", urg[u]);
    ROW(l, "%6.1f /%6.1f", k[i].arrive_p50[u], k[i].arrive_p95[u]);
    snprintf(l, sizeof l, "%s: to arrival p99 min", urg[u]);
    ROW(l, "%14.1f", k[i].arrive_p99[u]);
  }
  ROW("jobs done", "%14d", k[i].done);
  ROW("unassigned at the day's end", "%14d", k[i].unassigned);
  ROW("in flight at the end", "%14d", k[i].in_flight);
  ROW("offers expired / rejected", "%7d /%5d", k[i].expired, k[i].rejected);
  ROW("travel km, all staff", "%14.0f", k[i].travel_km);
  ROW("travel km per job", "%14.2f", k[i].travel_per_job);
  if (k[0].floor_ms > 0) {
    ROW("hindsight floor km (jobs done)", "%14.0f", k[i].floor_km);
    ROW("travel / floor", "%14.3f",
        k[i].floor_km > 0 ? k[i].travel_km / k[i].floor_km : NAN);
    ROW("floor km, waits <= this run's", "%14.0f", k[i].floor_wait_km);
    ROW("travel / that floor", "%14.3f",
        k[i].floor_wait_km > 0 ? k[i].travel_km / k[i].floor_wait_km : NAN);
    ROW("floors solved in s", "%14.1f", k[i].floor_ms / 1000.0);
  }
  ROW("team requests staffed / half", "%7d /%5d", k[i].teams_staffed,
      k[i].teams_half);
  ROW("workload Gini (jobs per worker)", "%14.3f", k[i].gini);
  ROW("continuity (same worker, elder)", "%14.3f", k[i].continuity);
  ROW("batch p50 / p99 ms", "%6.2f /%6.2f", k[i].batch_p50_ms,
      k[i].batch_p99_ms);
  ROW("batches / fallbacks", "%7llu /%5llu", (unsigned long long)k[i].batches,
      (unsigned long long)k[i].fallbacks);
  ROW("standby suggestions", "%14llu", (unsigned long long)k[i].standby);
  ROW("diverted / reached / never", "%5d /%4d /%4d", k[i].diverted,
      k[i].divert_reached, k[i].divert_unserved);
  ROW("diverted jobs' extra delay, mean min", "%14.1f",
      k[i].divert_reached ? k[i].divert_delay_min / k[i].divert_reached : 0.0);
  ROW("interrupted / resumed / never done", "%5d /%4d /%4d", k[i].interrupted,
      k[i].interrupt_resumed, k[i].interrupt_unserved);
  ROW("interrupted visits' wait, mean min", "%14.1f",
      k[i].interrupt_resumed ? k[i].interrupt_delay_min / k[i].interrupt_resumed
                             : 0.0);
  ROW("emergencies beyond reach (floor)", "%14d", k[i].emergency_unreachable);
  ROW("wall time s", "%14.1f", k[i].wall_s);
  if (k[0].http_calls)
    ROW("HTTP calls / errors / late answers", "%7llu /%5llu /%4d",
        (unsigned long long)k[i].http_calls,
        (unsigned long long)k[i].http_errors, k[i].late_answers);
#undef ROW
}

/* x rounded to places decimals, as a JSON number; NaN (no such time:
 * nothing arrived) as -1, any other non-finite value as null. */
static json_t *num(double x, int places) {
  if (isnan(x))
    return json_real(-1);
  if (!isfinite(x))
    return json_null();
  double f = pow(10, places);
  return json_real(round(x * f) / f);
}

/* {"p50": ..., "p95": ..., "p99": ...} */
static json_t *pcts(double p50, double p95, double p99, int places) {
  return json_pack("{s:o,s:o,s:o}", "p50", num(p50, places), "p95",
                   num(p95, places), "p99", num(p99, places));
}

/* x rounded to places decimals; any non-finite value (never, undefined)
 * as null. */
static json_t *fin(double x, int places) {
  if (!isfinite(x))
    return json_null();
  double f = pow(10, places);
  return json_real(round(x * f) / f);
}

static json_t *pct3(sim_pcts p, const char *top, int places) {
  return json_pack("{s:o,s:o,s:o}", "p50", fin(p.p50, places), "p95",
                   fin(p.p95, places), top, fin(p.top, places));
}

/* The honest KPIs of urgency u in *m (stats.h): the service level, its
 * breaches, time to arrival and to an accepted offer counting every
 * request. */
static json_t *urgency_json(const sim_summary *m, const sim_sla *sla, int u) {
  return json_pack("{s:o,s:i,s:o,s:i,s:o}", "sla_target_min",
                   fin(sla->target_min[u], 3), "sla_breaches", m->breaches[u],
                   "arrival_min_all", pct3(m->arrival_all[u], "p99", 4),
                   "accepted", m->accepted[u], "accepted_offer_min",
                   pct3(m->accept_all[u], "p99", 4));
}

/* The staff's day and the areas' share of breaches in *m. */
static json_t *staff_json(const sim_summary *m) {
  json_t *areas = json_array();
  for (int g = 0; areas && g < SIM_AREAS; g++)
    json_array_append_new(areas,
                          json_pack("{s:i,s:i,s:i,s:o}", "area", g, "requests",
                                    m->area_requests[g], "sla_breaches",
                                    m->area_breaches[g], "arrival_min_all_p50",
                                    fin(m->area_arrival_p50[g], 3)));
  return json_pack("{s:{s:i,s:o,s:o,s:o,s:o,s:o,s:i},s:o,s:{s:o,s:o}}", "staff",
                   "on_shift", m->staff, "jobs", pct3(m->w_jobs, "max", 2),
                   "km", pct3(m->w_km, "max", 2), "busy_h",
                   pct3(m->w_busy_h, "max", 3), "overtime_min",
                   pct3(m->w_over, "max", 2), "overtime_h",
                   fin(m->overtime_h, 2), "with_overtime", m->overtime_staff,
                   "areas", areas ? areas : json_null(), "equity",
                   "breach_share_min", fin(m->area_breach_min, 4),
                   "breach_share_max", fin(m->area_breach_max, 4));
}

/* By service (names k's): requests, breaches against their urgency's
 * target, arrival p50 over every request, the hours on site asked and the
 * shift hours of the staff able to do it (shared between services). */
static json_t *services_json(const sim_summary *m, const sim_kpis *k) {
  json_t *o = json_object();
  for (int v = 0; o && v < m->n_services; v++)
    json_object_set_new(
        o, k->service_name[v],
        json_pack("{s:i,s:i,s:o,s:o,s:o}", "requests", m->service_requests[v],
                  "sla_breaches", m->service_breaches[v], "arrival_min_all_p50",
                  fin(m->service_arrival_p50[v], 3), "onsite_h",
                  fin(m->service_onsite_h[v], 2), "capable_shift_h",
                  fin(m->service_capable_h[v], 2)));
  return o;
}

/* Each worker on shift: id, jobs, km, hours busy, minutes past the
 * shift. */
static json_t *per_worker_json(const sim_scenario *s, const sim_kpis *k) {
  json_t *a = json_array();
  for (int i = 0; a && i < k->n_worker_days && i < s->n_workers; i++) {
    const sim_worker_day *w = &k->worker_days[i];
    if (w->on_shift)
      json_array_append_new(a, json_pack("{s:s,s:i,s:o,s:o,s:o}", "id",
                                         s->workers[i].id, "jobs", w->jobs,
                                         "km", fin(w->km, 2), "busy_h",
                                         fin(w->busy_h, 3), "overtime_min",
                                         fin(w->overtime_min, 1)));
  }
  return a;
}

/* The honest KPIs of run k merged into its JSON o; 0 or -1. */
static int honest_json(json_t *o, const sim_scenario *s, const sim_kpis *k,
                       const sim_sla *sla) {
  sim_summary m;
  const sim_kpis *one = k;
  if (sim_summarize(&one, 1, sla, &m) != 0)
    return -1;
  json_t *by = json_object_get(o, "by_urgency");
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    json_t *x = urgency_json(&m, sla, u);
    if (!x || json_object_update(json_object_get(by, urg[u]), x) != 0) {
      json_decref(x);
      return -1;
    }
    json_decref(x);
  }
  json_t *st = staff_json(&m);
  int rc =
      st && json_object_update(o, st) == 0 &&
              json_object_set_new(o, "per_worker", per_worker_json(s, k)) ==
                  0 &&
              json_object_set_new(o, "by_service", services_json(&m, k)) == 0
          ? 0
          : -1;
  json_decref(st);
  return rc;
}

/* Every ratio of np policies over nd days (runs[d * np + p]) with its
 * interval: [{"a", "b", "metric", "ratio", "lo95", "hi95"}], or NULL. */
static json_t *compare_json(const sim_kpis *const *runs, int nd, int np,
                            const sim_sla *sla) {
  int cap = np * (np - 1) / 2 * SIM_METRICS;
  sim_ratio *r = malloc(((size_t)cap + 1) * sizeof *r);
  int n =
      r ? sim_compare(runs, nd, np, SIM_BOOT_RESAMPLES, SIM_BOOT_SEED, sla, r)
        : -1;
  json_t *a = n >= 0 ? json_array() : NULL;
  for (int i = 0; a && i < n; i++) {
    char name[64];
    sim_metric_name(r[i].metric, name, sizeof name);
    json_array_append_new(
        a, json_pack("{s:s,s:s,s:s,s:o,s:o,s:o}", "a", runs[r[i].a]->policy,
                     "b", runs[r[i].b]->policy, "metric", name, "ratio",
                     fin(r[i].ratio, 4), "lo95", fin(r[i].lo, 4), "hi95",
                     fin(r[i].hi, 4)));
  }
  free(r);
  return a;
}

/* The bootstrap and the targets behind the figures. */
static json_t *method_json(const sim_sla *sla) {
  json_t *t = json_object();
  for (int u = 0; t && u < CM_URGENCY_COUNT; u++)
    json_object_set_new(t, urg[u], fin(sla->target_min[u], 3));
  return json_pack(
      "{s:o,s:{s:i,s:I,s:s}}", "sla_target_min", t ? t : json_null(),
      "bootstrap", "resamples", SIM_BOOT_RESAMPLES, "seed",
      (json_int_t)SIM_BOOT_SEED, "unit",
      "requests (workers for travel per job), with replacement, within "
      "each day, the same draw for every policy; 95%: the 2.5th and 97.5th "
      "percentiles of the resampled ratios");
}

/* x as "%w.1f", or "never" when not finite, into buf. */
static const char *mins(double x, char *buf, size_t n) {
  if (isfinite(x))
    snprintf(buf, n, "%.1f", x);
  else
    snprintf(buf, n, "%s", isnan(x) ? "-" : "never");
  return buf;
}

/* By service, a row each: breaches / requests and arrival p50 (every
 * request) per policy; the label carries the hours on site asked over the
 * capable staff's shift hours (a property of the days, not the policy). */
static void service_rows(const sim_summary *m, int np, const sim_kpis *k) {
  if (m[0].n_services == 0)
    return;
  printf("%-40s\n", "by service [on-site h asked / capable staff's shift h]:"
                    " breaches / requests, arrival p50 (all)");
  for (int v = 0; v < m[0].n_services; v++) {
    char l[80], a[24], cell[64];
    double cap = m[0].service_capable_h[v];
    if (cap > 0)
      snprintf(l, sizeof l, "  %.24s [%.0f%%]", k->service_name[v],
               100 * m[0].service_onsite_h[v] / cap);
    else
      snprintf(l, sizeof l, "  %.24s [no staff]", k->service_name[v]);
    printf("%-40s", l);
    for (int p = 0; p < np; p++) {
      snprintf(cell, sizeof cell, "%d / %d, %s", m[p].service_breaches[v],
               m[p].service_requests[v],
               mins(m[p].service_arrival_p50[v], a, sizeof a));
      printf(" %18s", cell);
    }
    printf("\n");
  }
}

void sim_report_pooled(const sim_kpis *const *runs, int nd, int np,
                       const sim_sla *sla) {
  sim_summary m[8];
  np = np < 8 ? np : 8;
  for (int p = 0; p < np; p++) {
    const sim_kpis *mine[1024];
    int n = nd < 1024 ? nd : 1024;
    for (int d = 0; d < n; d++)
      mine[d] = runs[d * np + p];
    if (sim_summarize(mine, n, sla, &m[p]) != 0) {
      printf("(the honest KPIs: out of memory)\n");
      return;
    }
  }
  printf("\n%-40s", "honest KPIs (unserved: never arrived)");
  for (int p = 0; p < np; p++)
    printf(" %18s", runs[p]->policy);
  printf("\n");
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    char l[80], a[24], b[24], cell[64];
    snprintf(l, sizeof l, "%s: SLA breaches (%g min) / requests", urg[u],
             sla->target_min[u]);
    printf("%-40s", l);
    for (int p = 0; p < np; p++) {
      snprintf(cell, sizeof cell, "%d / %d", m[p].breaches[u],
               m[p].requests[u]);
      printf(" %18s", cell);
    }
    snprintf(l, sizeof l, "%s: to arrival, all, p50 / p95", urg[u]);
    printf("\n%-40s", l);
    for (int p = 0; p < np; p++) {
      snprintf(cell, sizeof cell, "%s / %s",
               mins(m[p].arrival_all[u].p50, a, sizeof a),
               mins(m[p].arrival_all[u].p95, b, sizeof b));
      printf(" %18s", cell);
    }
    snprintf(l, sizeof l, "%s: to an accepted offer p50 / p95", urg[u]);
    printf("\n%-40s", l);
    for (int p = 0; p < np; p++) {
      snprintf(cell, sizeof cell, "%s / %s",
               mins(m[p].accept_all[u].p50, a, sizeof a),
               mins(m[p].accept_all[u].p95, b, sizeof b));
      printf(" %18s", cell);
    }
    printf("\n");
  }
#define PROW(label, fmt, ...)                                                  \
  do {                                                                         \
    printf("%-40s", label);                                                    \
    for (int p = 0; p < np; p++)                                               \
      printf(" " fmt, __VA_ARGS__);                                            \
    printf("\n");                                                              \
  } while (0)
  PROW("jobs done / travel km per job", "%10d /%6.2f", m[p].jobs,
       m[p].km_per_job);
  PROW("per worker: jobs p50 / max", "%11.0f /%5.0f", m[p].w_jobs.p50,
       m[p].w_jobs.top);
  PROW("per worker: km p50 / p95", "%11.1f /%5.1f", m[p].w_km.p50,
       m[p].w_km.p95);
  PROW("per worker: busy h p50 / p95", "%11.2f /%5.2f", m[p].w_busy_h.p50,
       m[p].w_busy_h.p95);
  PROW("overtime h, all / staff with any", "%11.1f /%5d", m[p].overtime_h,
       m[p].overtime_staff);
  PROW("breached share by area, best / worst", "%11.3f /%5.3f",
       m[p].area_breach_min, m[p].area_breach_max);
#undef PROW
  service_rows(m, np, runs[0]);
}

void sim_report_compare(const sim_kpis *const *runs, int nd, int np,
                        const sim_sla *sla) {
  static const int shown[] = {SIM_M_BREACHES + 0,    SIM_M_BREACHES + 1,
                              SIM_M_BREACHES + 2,    SIM_M_BREACHES + 3,
                              SIM_M_ARRIVAL_P95 + 0, SIM_M_ARRIVAL_P50 + 1,
                              SIM_M_TRAVEL_PER_JOB};
  int cap = np * (np - 1) / 2 * SIM_METRICS;
  sim_ratio *r = malloc(((size_t)cap + 1) * sizeof *r);
  int n =
      r ? sim_compare(runs, nd, np, SIM_BOOT_RESAMPLES, SIM_BOOT_SEED, sla, r)
        : -1;
  if (n > 0)
    printf("\nratios, a / b, with 95%% bootstrap intervals (%d resamples of "
           "the requests, seed %llu):\n",
           SIM_BOOT_RESAMPLES, (unsigned long long)SIM_BOOT_SEED);
  for (int i = 0; i < n; i++) {
    int show = 0;
    for (size_t j = 0; j < sizeof shown / sizeof *shown; j++)
      show |= r[i].metric == shown[j];
    if (!show)
      continue;
    char name[64], a[136];
    sim_metric_name(r[i].metric, name, sizeof name);
    snprintf(a, sizeof a, "%s / %s", runs[r[i].a]->policy,
             runs[r[i].b]->policy);
    if (!isfinite(r[i].ratio)) /* b is 0 (nothing to compare with) */
      printf("  %-34s %-30s %7s  (undefined: b is 0)\n", a, name, "-");
    else
      printf("  %-34s %-30s %7.3f  [%.3f, %.3f]\n", a, name, r[i].ratio,
             r[i].lo, r[i].hi);
  }
  free(r);
}

/* One run's KPIs as JSON (docs/sim.md), or NULL (out of memory). */
/* Diversion (docs/sim.md): jobs given back on the way for an emergency,
 * those reached again, their mean extra delay (min, past the diverted
 * worker's arrival), those never reached. */
static json_t *diverted_json(const sim_kpis *k) {
  return json_pack("{s:i,s:i,s:o,s:i}", "jobs", k->diverted, "reached",
                   k->divert_reached, "extra_delay_min_mean",
                   k->divert_reached
                       ? num(k->divert_delay_min / k->divert_reached, 2)
                       : json_null(),
                   "never", k->divert_unserved);
}

/* The km from the nearest capable staff at each call: {"km", "requests"}
 * (their sum and how many; cm_sim_kpis.nearest_km). */
static json_t *nearest_json(const sim_kpis *k) {
  return json_pack("{s:o,s:i}", "km", num(k->nearest_km, 1), "requests",
                   k->nearest_n);
}

/* Interruption (docs/sim.md): visits left for an emergency, those resumed
 * by a worker, the mean minutes from the interruption to that worker's
 * arrival, those never completed that day. */
static json_t *interrupted_json(const sim_kpis *k) {
  return json_pack("{s:i,s:i,s:o,s:i}", "visits", k->interrupted, "resumed",
                   k->interrupt_resumed, "extra_delay_min_mean",
                   k->interrupt_resumed
                       ? num(k->interrupt_delay_min / k->interrupt_resumed, 2)
                       : json_null(),
                   "never", k->interrupt_unserved);
}

static json_t *kpis_json(const sim_kpis *k) {
  json_t *by = json_object(), *hours = json_array(), *arr = json_object();
  for (int u = 0; by && u < CM_URGENCY_COUNT; u++)
    json_object_set_new(
        by, urg[u],
        json_pack(
            "{s:i,s:i,s:o,s:o}", "requests", k->requests[u], "arrived",
            k->arrived[u], "offer_min",
            pcts(k->offer_p50[u], k->offer_p95[u], k->offer_p99[u], 4),
            "arrival_min",
            pcts(k->arrive_p50[u], k->arrive_p95[u], k->arrive_p99[u], 4)));
  /* the day hour by hour, and every arrival time, for plots */
  for (int h = 0; hours && h < 24; h++)
    json_array_append_new(
        hours, json_pack("{s:i,s:i,s:o,s:i,s:i}", "hour", h, "requests",
                         k->hour_requests[h], "offer_wait_min",
                         num(k->hour_offer_wait[h], 3), "on_shift",
                         k->hour_on_shift[h], "busy", k->hour_busy[h]));
  for (int u = 0; arr && u < CM_URGENCY_COUNT; u++) {
    json_t *a = json_array();
    for (int i = 0; a && k->arrivals[u] && i < k->arrived[u]; i++)
      json_array_append_new(a, num(k->arrivals[u][i], 3));
    json_object_set_new(arr, urg[u], a ? a : json_null());
  }
  json_t *o = json_pack(
      "{s:s,s:o,s:i,s:i,s:i,s:i,s:i,s:o,s:o,s:o,s:o,s:o,s:i,s:i,s:i,s:o,s:o}",
      "policy", k->policy, "by_urgency", by ? by : json_null(), "done", k->done,
      "unassigned", k->unassigned, "in_flight", k->in_flight, "expired",
      k->expired, "rejected", k->rejected, "travel_km", num(k->travel_km, 3),
      "travel_km_per_job", num(k->travel_per_job, 4), "floor_km",
      num(k->floor_km, 3), "floor_wait_km", num(k->floor_wait_km, 3), "floor_s",
      num(k->floor_ms / 1000.0, 2), "teams", k->teams, "teams_staffed",
      k->teams_staffed, "teams_half", k->teams_half, "gini", num(k->gini, 4),
      "continuity", num(k->continuity, 4));
  json_t *more = json_pack(
      "{s:{s:o,s:o,s:o},s:I,s:I,s:o,s:I,s:I,s:i,s:o,s:o}", "batch_ms", "p50",
      num(k->batch_p50_ms, 3), "p99", num(k->batch_p99_ms, 3), "max",
      num(k->batch_max_ms, 3), "batches", (json_int_t)k->batches, "fallbacks",
      (json_int_t)k->fallbacks, "wall_s", num(k->wall_s, 2), "http_calls",
      (json_int_t)k->http_calls, "http_errors", (json_int_t)k->http_errors,
      "late_answers", k->late_answers, "hours", hours ? hours : json_null(),
      "arrival_min", arr ? arr : json_null());
  if (more && json_object_set_new(more, "standby",
                                  json_integer((json_int_t)k->standby)))
    json_decref(more), more = NULL;
  if (more && json_object_set_new(more, "diverted", diverted_json(k)))
    json_decref(more), more = NULL;
  if (more && json_object_set_new(more, "interrupted", interrupted_json(k)))
    json_decref(more), more = NULL;
  if (more && json_object_set_new(more, "emergency_unreachable",
                                  json_integer(k->emergency_unreachable)))
    json_decref(more), more = NULL;
  if (more && json_object_set_new(more, "nearest_at_call", nearest_json(k)))
    json_decref(more), more = NULL;
  if (!o || !more || json_object_update(o, more) != 0) {
    json_decref(o);
    o = NULL;
  }
  json_decref(more);
  return o;
}

static int write_json(json_t *root, const char *path, const sim_sla *sla,
                      char *msg, size_t n);

/* The summary: {"seed", "kind", "workers", "requests", "runs": [...],
 * "compare": [...], "sla_target_min", "bootstrap"} to path. Returns 0, or
 * -1 with msg. */
int sim_report_json(const char *path, const sim_scenario *s, const sim_kpis *k,
                    int nk, const sim_sla *sla, const char *kind, char *msg,
                    size_t n) {
  json_t *runs = json_array();
  const sim_kpis *ptr[8];
  for (int i = 0; runs && i < nk; i++) {
    json_t *o = kpis_json(&k[i]);
    ptr[i < 8 ? i : 7] = &k[i];
    if (!o || honest_json(o, s, &k[i], sla) != 0 ||
        json_array_append_new(runs, o) != 0) {
      json_decref(runs);
      runs = NULL;
    }
  }
  json_t *cmp = runs && nk <= 8 ? compare_json(ptr, 1, nk, sla) : NULL;
  json_t *root = NULL;
  if (runs && cmp) /* "o" steals, even on error */
    root = json_pack("{s:I,s:s,s:i,s:i,s:o,s:o}", "seed", (json_int_t)s->seed,
                     "kind", kind, "workers", s->n_workers, "requests",
                     s->n_requests, "runs", runs, "compare", cmp);
  else {
    json_decref(runs);
    json_decref(cmp);
  }
  return write_json(root, path, sla, msg, n);
}

/* A policy's days pooled (stats.h) as JSON, or NULL. */
static json_t *pooled_json(const sim_kpis *const *runs, int nd, int np, int p,
                           const sim_sla *sla) {
  const sim_kpis *mine[1024];
  int n = nd < 1024 ? nd : 1024;
  json_int_t cuts = 0; /* components the budget cut, over the days */
  for (int d = 0; d < n; d++) {
    mine[d] = runs[d * np + p];
    cuts += (json_int_t)mine[d]->fallbacks;
  }
  sim_summary m;
  if (sim_summarize(mine, n, sla, &m) != 0)
    return NULL;
  json_t *by = json_object();
  for (int u = 0; by && u < CM_URGENCY_COUNT; u++) {
    json_t *x = urgency_json(&m, sla, u);
    if (x)
      json_object_set_new(x, "requests", json_integer(m.requests[u]));
    if (x)
      json_object_set_new(x, "arrived", json_integer(m.arrived[u]));
    json_object_set_new(by, urg[u], x ? x : json_null());
  }
  json_t *o = json_pack("{s:s,s:i,s:o,s:i,s:o,s:o}", "policy", runs[p]->policy,
                        "days", n, "by_urgency", by ? by : json_null(), "done",
                        m.jobs, "travel_km", fin(m.km, 2), "travel_km_per_job",
                        fin(m.km_per_job, 4));
  json_t *st = staff_json(&m);
  if (!o || !st || json_object_update(o, st) != 0) {
    json_decref(o);
    o = NULL;
  }
  json_decref(st);
  if (o)
    json_object_set_new(o, "fallbacks", json_integer(cuts));
  if (o)
    json_object_set_new(o, "by_service", services_json(&m, runs[p]));
  return o;
}

/* Day d's runs in short: each policy's breaches, urgent p50, emergency
 * p95, travel per job. */
/* Why a day's emergencies breached: never reached; the offer accepted
 * only after the target (no one free and near enough in time); accepted
 * in time but arrived after it (too far). And, of the breached ones that
 * some capable worker could have reached in time from where she was at
 * the call, what that nearest worker was doing (cm_sim_near). */
static json_t *emergency_causes(const sim_kpis *k, const sim_sla *sla) {
  static const char *const near_name[CM_SIM_NEAR_COUNT] = {
      "none",         "free",      "to_emergency", "to_urgent", "to_other",
      "at_emergency", "at_urgent", "at_other",     "released"};
  int never = 0, late = 0, far = 0, by[CM_SIM_NEAR_COUNT] = {0};
  double t = sla->target_min[CM_URGENCY_EMERGENCY];
  for (int i = 0; k->outcomes && i < k->n_outcomes; i++) {
    const sim_outcome *o = &k->outcomes[i];
    if (o->urgency != CM_URGENCY_EMERGENCY || o->arrive_min <= t)
      continue;
    if (!isfinite(o->arrive_min))
      never++;
    else if (!(o->accept_min <= t))
      late++;
    else
      far++;
    if (o->near > CM_SIM_NEAR_NONE && o->near < CM_SIM_NEAR_COUNT)
      by[o->near]++;
  }
  json_t *reachable = json_object();
  for (int s = CM_SIM_NEAR_FREE; reachable && s < CM_SIM_NEAR_COUNT; s++)
    json_object_set_new(reachable, near_name[s], json_integer(by[s]));
  return json_pack("{s:i,s:i,s:i,s:o}", "never", never, "accepted_late", late,
                   "far", far, "reachable_nearest_was",
                   reachable ? reachable : json_null());
}

static json_t *day_json(const sim_kpis *const *runs, int d, int np,
                        uint64_t seed, const sim_sla *sla) {
  json_t *a = json_array();
  for (int p = 0; a && p < np; p++) {
    const sim_kpis *k = runs[d * np + p];
    sim_summary m;
    if (sim_summarize(&k, 1, sla, &m) != 0)
      continue;
    json_t *b = json_object();
    for (int u = 0; b && u < CM_URGENCY_COUNT; u++)
      json_object_set_new(b, urg[u], json_integer(m.breaches[u]));
    json_array_append_new(
        a, json_pack("{s:s,s:o,s:o,s:o,s:o,s:i,s:I,s:o}", "policy", k->policy,
                     "sla_breaches", b ? b : json_null(),
                     "emergency_arrival_min_all_p95",
                     fin(m.arrival_all[0].p95, 3), "urgent_arrival_min_all_p50",
                     fin(m.arrival_all[1].p50, 3), "travel_km_per_job",
                     fin(m.km_per_job, 4), "done", m.jobs, "standby",
                     (json_int_t)k->standby, "wall_s", fin(k->wall_s, 1)));
    json_t *last = json_array_get(a, json_array_size(a) - 1);
    if (last)
      json_object_set_new(last, "emergency_breach_causes",
                          emergency_causes(k, sla));
    if (last)
      json_object_set_new(last, "diverted", diverted_json(k));
    if (last)
      json_object_set_new(last, "interrupted", interrupted_json(k));
    if (last)
      json_object_set_new(last, "emergency_unreachable",
                          json_integer(k->emergency_unreachable));
    if (last)
      json_object_set_new(last, "nearest_at_call", nearest_json(k));
    if (last) /* the batch components the solver's budget cut (budget 0,
                 greedy: every one); 0 for an optimal policy: no solve was
                 cut by its wall-clock budget, so the day reproduces at any
                 load */
      json_object_set_new(last, "fallbacks",
                          json_integer((json_int_t)k->fallbacks));
  }
  return json_pack("{s:I,s:o}", "seed", (json_int_t)seed, "runs",
                   a ? a : json_null());
}

int sim_report_days_json(const char *path, const char *kind,
                         const uint64_t *seeds, int workers, int requests,
                         const sim_kpis *const *runs, int nd, int np,
                         const sim_sla *sla, char *msg, size_t n) {
  json_t *pooled = json_array(), *days = json_array();
  for (int p = 0; pooled && p < np; p++)
    json_array_append_new(pooled, pooled_json(runs, nd, np, p, sla));
  for (int d = 0; days && d < nd; d++)
    json_array_append_new(days, day_json(runs, d, np, seeds[d], sla));
  json_t *cmp = compare_json(runs, nd, np, sla), *root = NULL;
  if (pooled && days && cmp) /* "o" steals, even on error */
    root = json_pack("{s:s,s:I,s:I,s:i,s:i,s:i,s:o,s:o,s:o}", "kind", kind,
                     "seed_first", (json_int_t)seeds[0], "seed_last",
                     (json_int_t)seeds[nd - 1], "days", nd, "workers", workers,
                     "requests", requests, "pooled", pooled, "per_day", days,
                     "compare", cmp);
  else {
    json_decref(pooled);
    json_decref(days);
    json_decref(cmp);
  }
  return write_json(root, path, sla, msg, n);
}

/* root (stolen; NULL: out of memory) with the method added, to path,
 * created 0644 like any report. Returns 0, or -1 with msg. */
static int write_json(json_t *root, const char *path, const sim_sla *sla,
                      char *msg, size_t n) {
  json_t *method = root ? method_json(sla) : NULL;
  if (root && (!method || json_object_update(root, method) != 0)) {
    json_decref(root);
    root = NULL;
  }
  json_decref(method);
  FILE *f = NULL;
  int err = 0;
  if (!root) {
    err = ENOMEM;
  } else if (!(f = fopen(path, "w"))) {
    err = errno;
  } else {
    errno = 0;
    if (json_dumpf(root, f, JSON_COMPACT | JSON_REAL_PRECISION(12)) != 0 ||
        fputc('\n', f) == EOF)
      err = errno ? errno : EIO;
    if (fclose(f) != 0 && !err)
      err = errno;
  }
  int ok = !err;
  if (err)
    snprintf(msg, n, "--out: cannot write %s: %s", path, strerror(err));
  json_decref(root);
  return ok ? 0 : -1;
}
