/* store_check.c -- argument checks and eligibility rules of the position
 * store, written once for every backend (declared in store.h, "for store
 * backends"). Nothing here changes state. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "carematch/store.h"

#define PATH_MAX_ 96

static int finite_in(double v, double lo, double hi) {
  return isfinite(v) && v >= lo && v <= hi;
}

static cm_status bad(cm_error *err, cm_status code, const char *path,
                     const char *what) {
  return cm_error_set(err, code, path, "%s: %s", path, what);
}

cm_status cm_store_check_id(const char *id, cm_error *err) {
  if (!id)
    return bad(err, CM_E_INVALID, "$.id", "no id given");
  return CM_OK;
}

static cm_status check_latlon(double lat, double lon, cm_error *err) {
  return cm_position_check(lat, lon, "$", err);
}

cm_status cm_store_position_error(cm_error *err, int i, const cm_error *one) {
  char field[CM_ERROR_FIELD_MAX];
  const char *sub = one->field[0] == '$' ? one->field + 1 : one->field;
  const char *what = strstr(one->message, ": ");
  snprintf(field, sizeof field, "$.positions[%d]%.32s", i, sub);
  return cm_error_set(err, one->code, field, "%s: %s", field,
                      what ? what + 2 : one->message);
}

cm_status cm_store_check_position(double lat, double lon, int64_t seen_ms,
                                  cm_error *err) {
  cm_status st = check_latlon(lat, lon, err);
  if (st != CM_OK)
    return st;
  if (seen_ms < 0)
    return bad(err, CM_E_RANGE, "$.seen_ms", "must be >= 0");
  return CM_OK;
}

cm_status cm_store_check_status(int st, cm_error *err) {
  if (st < 0 || st >= CM_WORKER_STATUS_COUNT)
    return bad(err, CM_E_RANGE, "$.status", "unknown status");
  return CM_OK;
}

cm_status cm_store_check_worker(const cm_worker *w, cm_error *err) {
  cm_status st;
  if (!w)
    return bad(err, CM_E_INVALID, "$", "no worker given");
  size_t n = strnlen(w->id, CM_ID_MAX);
  if (n == 0)
    return bad(err, CM_E_INVALID, "$.id", "id must not be empty");
  if (n >= CM_ID_MAX)
    return bad(err, CM_E_INVALID, "$.id", "id is too long");
  if (w->skills == 0)
    return bad(err, CM_E_INVALID, "$.skills", "at least one skill is required");
  if (w->has_position && (st = check_latlon(w->lat, w->lon, err)) != CM_OK)
    return st;
  if ((st = cm_store_check_status((int)w->status, err)) != CM_OK)
    return st;
  if (w->seen_ms < 0)
    return bad(err, CM_E_RANGE, "$.seen_ms", "must be >= 0");
  if (w->capacity < 0 || w->capacity > 64)
    return bad(err, CM_E_RANGE, "$.capacity", "must be an integer in [0, 64]");
  if (w->jobs_today < 0 || w->jobs_today > 1000)
    return bad(err, CM_E_RANGE, "$.jobs_today",
               "must be an integer in [0, 1000]");
  if (!finite_in(w->rating, 0.0, 5.0))
    return bad(err, CM_E_RANGE, "$.rating", "must be in [0, 5]");
  if (!finite_in(w->level, 1.0, 5.0))
    return bad(err, CM_E_RANGE, "$.level", "must be in [1, 5]");
  if (w->n_elders < 0 || w->n_elders > CM_MAX_ELDERS)
    return bad(err, CM_E_RANGE, "$.elders", "at most 8 elders");
  return CM_OK;
}

static cm_status check_query(const cm_store_query *q, int i, int k_max,
                             cm_error *err) {
  char path[PATH_MAX_];
#define QFAIL_(code, name, msg)                                                \
  do {                                                                         \
    snprintf(path, sizeof path, "$.queries[%d].%s", i, name);                  \
    return bad(err, code, path, msg);                                          \
  } while (0)
  if (!cm_lat_valid(q->lat) || !cm_lon_valid(q->lon)) {
    snprintf(path, sizeof path, "$.queries[%d]", i);
    return cm_position_check(q->lat, q->lon, path, err);
  }
  if (!isfinite(q->radius_km) || q->radius_km < 0)
    QFAIL_(CM_E_RANGE, "radius_km", "must be a finite number >= 0");
  if (q->k < 0 || q->k > k_max)
    QFAIL_(CM_E_RANGE, "k", "must be an integer in [0, k_max]");
  if (q->n_exclude < 0 || (q->n_exclude > 0 && !q->exclude))
    QFAIL_(CM_E_INVALID, "exclude", "n_exclude does not match the list");
  for (int j = 0; j < q->n_exclude; j++)
    if (!q->exclude[j]) {
      snprintf(path, sizeof path, "$.queries[%d].exclude[%d]", i, j);
      return bad(err, CM_E_INVALID, path, "no id given");
    }
#undef QFAIL_
  return CM_OK;
}

cm_status cm_store_check_nearest(const cm_store_query *queries, int nq,
                                 int k_max, int64_t now_ms, int64_t stale_ms,
                                 const cm_store_hit *hits, const int *counts,
                                 cm_error *err) {
  cm_status st;
  if (nq < 0)
    return bad(err, CM_E_RANGE, "$.queries", "negative query count");
  if (k_max < 0)
    return bad(err, CM_E_RANGE, "$.k_max", "must be >= 0");
  if ((st = cm_store_check_sweep(now_ms, stale_ms, err)) != CM_OK)
    return st;
  if (nq > 0 && (!queries || !counts || (k_max > 0 && !hits)))
    return bad(err, CM_E_INVALID, "$.queries", "missing buffers");
  for (int i = 0; i < nq; i++)
    if ((st = check_query(&queries[i], i, k_max, err)) != CM_OK)
      return st;
  return CM_OK;
}

cm_status cm_store_check_sweep(int64_t now_ms, int64_t stale_ms,
                               cm_error *err) {
  if (now_ms < 0)
    return bad(err, CM_E_RANGE, "$.now_ms", "must be >= 0");
  if (stale_ms < 0)
    return bad(err, CM_E_RANGE, "$.stale_ms", "must be >= 0");
  return CM_OK;
}

int cm_store_matchable(const cm_worker *w) {
  return w->status == CM_WORKER_AVAILABLE && w->has_position && w->capacity > 0;
}

int cm_store_fresh(int64_t seen_ms, int64_t now_ms, int64_t stale_ms) {
  return stale_ms == 0 || now_ms - seen_ms <= stale_ms;
}

int cm_store_skills_ok(const cm_store_query *q, cm_skillset skills) {
  return (skills & q->need_all) == q->need_all &&
         (q->need_any == 0 || (skills & q->need_any) != 0);
}

int cm_store_excluded(const cm_store_query *q, const char *id) {
  for (int j = 0; j < q->n_exclude; j++)
    if (strcmp(q->exclude[j], id) == 0)
      return 1;
  return 0;
}
