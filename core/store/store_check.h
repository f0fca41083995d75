/* store_check.h -- argument checks and eligibility rules shared by every
 * position store backend, so the memory store and the Redis store reject
 * the same inputs with the same code and field and admit the same workers. */
#ifndef CM_STORE_CHECK_H_INCLUDED_
#define CM_STORE_CHECK_H_INCLUDED_

#include <stdint.h>

#include "carematch/store.h"

/* A worker for upsert: id non-empty and shorter than CM_ID_MAX, skills
 * non-zero, position (when has_position) finite and in range, status,
 * seen_ms, capacity, jobs_today, rating, level, n_elders in the ranges of
 * cm_instance_validate. Returns CM_OK, or the first problem (CM_E_INVALID or
 * CM_E_RANGE) with err->field a path such as "$.lat". */
cm_status cm__store_check_worker(const cm_worker *w, cm_error *err);

/* An id naming a worker to look up: NULL is CM_E_INVALID at "$.id". (Empty
 * or over-long ids name nobody; the lookup answers CM_E_UNKNOWN_ID.) */
cm_status cm__store_check_id(const char *id, cm_error *err);

/* A position update: "$.lat", "$.lon" (CM_E_RANGE when not finite or out of
 * range), "$.seen_ms" (CM_E_RANGE when negative). */
cm_status cm__store_check_position(double lat, double lon, int64_t seen_ms,
                                   cm_error *err);

/* Restate the error of one position of a bulk call (one: an error at
 * "$.lat", "$.id", ... with the message "$.lat: what") as an error of
 * position i: field "$.positions[i].lat", same code. Returns the code. */
cm_status cm__store_position_error(cm_error *err, int i, const cm_error *one);

/* A status: CM_E_RANGE at "$.status" unless a cm_worker_status. */
cm_status cm__store_check_status(int st, cm_error *err);

/* Every argument of a nearest call: nq >= 0, k_max >= 0, now_ms >= 0,
 * stale_ms >= 0, buffers present, and for each query a finite position in
 * range, a finite radius >= 0, 0 <= k <= k_max, a sane exclude list. Fields
 * look like "$.queries[3].radius_km". Returns CM_OK or the first problem. */
cm_status cm__store_check_nearest(const cm_store_query *queries, int nq,
                                  int k_max, int64_t now_ms, int64_t stale_ms,
                                  const cm_store_hit *hits, const int *counts,
                                  cm_error *err);

/* Arguments of a sweep: now_ms >= 0 and stale_ms >= 0 ("$.now_ms",
 * "$.stale_ms"). */
cm_status cm__store_check_sweep(int64_t now_ms, int64_t stale_ms,
                                cm_error *err);

/* 1 when the worker belongs in the spatial index: AVAILABLE, with a
 * position and capacity > 0. Only such workers are ever answered. */
int cm__store_matchable(const cm_worker *w);

/* 1 when a position seen at seen_ms is fresh at now_ms: stale_ms == 0, or
 * now_ms - seen_ms <= stale_ms (the solver's rule). */
int cm__store_fresh(int64_t seen_ms, int64_t now_ms, int64_t stale_ms);

/* 1 when skills satisfy the query's need_all and need_any rules. */
int cm__store_skills_ok(const cm_store_query *q, cm_skillset skills);

/* 1 when id is in the query's exclude list. */
int cm__store_excluded(const cm_store_query *q, const char *id);

#endif
