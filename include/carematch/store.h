/* store.h -- the position store: where live workers are, and who is near.
 *
 * A store is a struct of function pointers (like Redis's ConnectionType):
 * the memory store (the embedded default, cm_store_memory_new) and the
 * Redis store fill it in, and one contract suite runs against both. All
 * calls are synchronous from the caller's point of view. Ids are copied;
 * the store owns its data. Free with cm_store_free. */
#ifndef CM_STORE_H_INCLUDED_
#define CM_STORE_H_INCLUDED_

#include <stdint.h>

#include "carematch/error.h"
#include "carematch/export.h"
#include "carematch/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cm_store cm_store;

/* One nearest-workers question. */
typedef struct cm_store_query {
  double lat, lon;            /* where */
  double radius_km;           /* search radius */
  int k;                      /* at most k answers, nearest first */
  cm_skillset need_all;       /* the worker holds all of these (0: no rule) */
  cm_skillset need_any;       /* the worker holds one of these (0: no rule) */
  const char *const *exclude; /* worker ids never to return */
  int n_exclude;
} cm_store_query;

/* One answer: a worker and its great-circle distance. */
typedef struct cm_store_hit {
  char id[CM_ID_MAX];
  double distance_km;
} cm_store_hit;

typedef struct cm_store_type {
  const char *name; /* "memory", "redis" */
  void (*free)(cm_store *s);
  /* Insert or replace a worker (every field, position included). */
  cm_status (*upsert)(cm_store *s, const cm_worker *w, cm_error *err);
  /* Move a known worker; CM_E_UNKNOWN_ID when unknown. */
  cm_status (*position)(cm_store *s, const char *id, double lat, double lon,
                        int64_t seen_ms, cm_error *err);
  /* Change a known worker's status. */
  cm_status (*status)(cm_store *s, const char *id, cm_worker_status st,
                      cm_error *err);
  /* Copy a worker out; CM_E_UNKNOWN_ID when unknown. */
  cm_status (*get)(cm_store *s, const char *id, cm_worker *out, cm_error *err);
  /* Forget a worker; CM_E_UNKNOWN_ID when unknown. */
  cm_status (*remove)(cm_store *s, const char *id, cm_error *err);
  /* Answer nq questions: hits[q*k_max ..] gets up to queries[q].k answers
   * (k <= k_max), counts[q] how many. Only AVAILABLE workers with a
   * position no older than stale_ms before now_ms (stale_ms 0: any) are
   * returned. */
  cm_status (*nearest)(cm_store *s, const cm_store_query *queries, int nq,
                       int k_max, int64_t now_ms, int64_t stale_ms,
                       cm_store_hit *hits, int *counts, cm_error *err);
  /* Mark AVAILABLE workers whose position is older than now - stale_ms
   * OFFLINE; *swept says how many. */
  cm_status (*sweep)(cm_store *s, int64_t now_ms, int64_t stale_ms, int *swept,
                     cm_error *err);
  /* *count is the number of workers known. */
  cm_status (*count)(cm_store *s, int *count, cm_error *err);
  /* Visit every worker, in an order that depends only on the calls made
   * (the memory store: insertion order) -- for snapshots and recovery. w
   * is lent to fn for the call only. */
  cm_status (*each)(cm_store *s, void (*fn)(void *ctx, const cm_worker *w),
                    void *ctx, cm_error *err);
} cm_store_type;

struct cm_store {
  const cm_store_type *type; /* the implementation */
};

/* The in-memory store: a hash of workers and a uniform grid of cells
 * (cell_km on a side, <= 0 for 1 km) holding the available ones, so a
 * nearest-k query touches only the cells around the point. Returns the
 * store (the caller frees it with cm_store_free), or NULL when out of
 * memory. */
CM_EXPORT cm_store *cm_store_memory_new(double cell_km);

/* Convenience wrappers: call through the type. cm_store_free accepts NULL. */
CM_EXPORT void cm_store_free(cm_store *s);
CM_EXPORT cm_status cm_store_upsert(cm_store *s, const cm_worker *w,
                                    cm_error *err);
CM_EXPORT cm_status cm_store_position(cm_store *s, const char *id, double lat,
                                      double lon, int64_t seen_ms,
                                      cm_error *err);
CM_EXPORT cm_status cm_store_status(cm_store *s, const char *id,
                                    cm_worker_status st, cm_error *err);
CM_EXPORT cm_status cm_store_get(cm_store *s, const char *id, cm_worker *out,
                                 cm_error *err);
CM_EXPORT cm_status cm_store_remove(cm_store *s, const char *id, cm_error *err);
CM_EXPORT cm_status cm_store_nearest(cm_store *s, const cm_store_query *queries,
                                     int nq, int k_max, int64_t now_ms,
                                     int64_t stale_ms, cm_store_hit *hits,
                                     int *counts, cm_error *err);
/* swept and count may be NULL; on failure they are 0. */
CM_EXPORT cm_status cm_store_sweep(cm_store *s, int64_t now_ms,
                                   int64_t stale_ms, int *swept, cm_error *err);
CM_EXPORT cm_status cm_store_count(cm_store *s, int *count, cm_error *err);
CM_EXPORT cm_status cm_store_each(cm_store *s,
                                  void (*fn)(void *ctx, const cm_worker *w),
                                  void *ctx, cm_error *err);

/* ---- for store backends ---------------------------------------------
 * The argument checks and eligibility rules every backend shares (written
 * once, core/store/store_check.c), so the memory store and the Redis store
 * reject the same inputs with the same code and field and admit the same
 * workers. A new backend checks its arguments with these before it changes
 * anything. None of them changes state. */

/* A worker for upsert: id non-empty and shorter than CM_ID_MAX, skills
 * non-zero, position (when has_position) finite and in range, status,
 * seen_ms, capacity, jobs_today, rating, level, n_elders in the ranges of
 * cm_instance_validate. Returns CM_OK, or the first problem (CM_E_INVALID or
 * CM_E_RANGE) with err->field a path such as "$.lat". */
CM_EXPORT cm_status cm_store_check_worker(const cm_worker *w, cm_error *err);

/* An id naming a worker to look up: NULL is CM_E_INVALID at "$.id". (Empty
 * or over-long ids name nobody; the lookup answers CM_E_UNKNOWN_ID.) */
CM_EXPORT cm_status cm_store_check_id(const char *id, cm_error *err);

/* A position update: "$.lat", "$.lon" (CM_E_RANGE when not finite or out of
 * range), "$.seen_ms" (CM_E_RANGE when negative). */
CM_EXPORT cm_status cm_store_check_position(double lat, double lon,
                                            int64_t seen_ms, cm_error *err);

/* Restate the error of one position of a bulk call (one: an error at
 * "$.lat", "$.id", ... with the message "$.lat: what") as an error of
 * position i: field "$.positions[i].lat", same code. Returns the code. */
CM_EXPORT cm_status cm_store_position_error(cm_error *err, int i,
                                            const cm_error *one);

/* A status: CM_E_RANGE at "$.status" unless a cm_worker_status. */
CM_EXPORT cm_status cm_store_check_status(int st, cm_error *err);

/* Every argument of a nearest call: nq >= 0, k_max >= 0, now_ms >= 0,
 * stale_ms >= 0, buffers present, and for each query a finite position in
 * range, a finite radius >= 0, 0 <= k <= k_max, a sane exclude list. Fields
 * look like "$.queries[3].radius_km". Returns CM_OK or the first problem. */
CM_EXPORT cm_status cm_store_check_nearest(const cm_store_query *queries,
                                           int nq, int k_max, int64_t now_ms,
                                           int64_t stale_ms,
                                           const cm_store_hit *hits,
                                           const int *counts, cm_error *err);

/* Arguments of a sweep: now_ms >= 0 and stale_ms >= 0 ("$.now_ms",
 * "$.stale_ms"). */
CM_EXPORT cm_status cm_store_check_sweep(int64_t now_ms, int64_t stale_ms,
                                         cm_error *err);

/* 1 when the worker belongs in the spatial index: AVAILABLE, with a
 * position and capacity > 0. Only such workers are ever answered. */
CM_EXPORT int cm_store_matchable(const cm_worker *w);

/* 1 when a position seen at seen_ms is fresh at now_ms: stale_ms == 0, or
 * now_ms - seen_ms <= stale_ms (the solver's rule). */
CM_EXPORT int cm_store_fresh(int64_t seen_ms, int64_t now_ms, int64_t stale_ms);

/* 1 when skills satisfy the query's need_all and need_any rules. */
CM_EXPORT int cm_store_skills_ok(const cm_store_query *q, cm_skillset skills);

/* 1 when id is in the query's exclude list. */
CM_EXPORT int cm_store_excluded(const cm_store_query *q, const char *id);

#ifdef __cplusplus
}
#endif
#endif
