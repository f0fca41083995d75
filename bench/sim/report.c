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

/* One run's KPIs as JSON (docs/sim.md), or NULL (out of memory). */
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
  if (!o || !more || json_object_update(o, more) != 0) {
    json_decref(o);
    o = NULL;
  }
  json_decref(more);
  return o;
}

/* The summary: {"seed", "workers", "requests", "runs": [...]} to path,
 * created 0644 like any report. Returns 0, or -1 with msg. */
int sim_report_json(const char *path, const sim_scenario *s, const sim_kpis *k,
                    int nk, char *msg, size_t n) {
  json_t *runs = json_array();
  for (int i = 0; runs && i < nk; i++)
    if (json_array_append_new(runs, kpis_json(&k[i])) != 0) {
      json_decref(runs);
      runs = NULL;
    }
  json_t *root = runs ? json_pack("{s:I,s:i,s:i,s:o}", "seed",
                                  (json_int_t)s->seed, "workers", s->n_workers,
                                  "requests", s->n_requests, "runs", runs)
                      : NULL;
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
