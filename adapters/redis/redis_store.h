/* redis_store.h -- layout of the Redis position store, shared by its
 * files: redis_store.c (the single-worker calls, count, each, sweep),
 * redis_nearest.c (nearest) and redis_positions.c (bulk positions). */
#ifndef CM_REDIS_STORE_H_INCLUDED_
#define CM_REDIS_STORE_H_INCLUDED_

#include "carematch/redis.h"
#include "carematch/store.h"
#include "redis_argv.h"

typedef struct cm__rd_store {
  cm_store base;    /* type pointer; first, so a cm_store * casts */
  cm_redis *r;      /* the connection */
  int own_conn;     /* free r with the store */
  cm__rd_argv argv; /* command builder, reused by every call */
} cm__rd_store;

/* The Redis store behind s, or NULL when s is another backend. */
cm__rd_store *cm__rd_store_of(cm_store *s);

/* The nearest entry of the type (redis_nearest.c); contract in store.h. */
cm_status cm__rd_nearest(cm_store *s, const cm_store_query *queries, int nq,
                         int k_max, int64_t now_ms, int64_t stale_ms,
                         cm_store_hit *hits, int *counts, cm_error *err);

#endif
