/* store.c -- the cm_store_* wrappers: each calls through s->type, so code
 * written against them runs on any backend (memory, Redis). A NULL store is
 * answered with CM_E_INVALID rather than a crash. */
#include <stddef.h>

#include "carematch/store.h"

static cm_status no_store(cm_error *err) {
  return cm_error_set(err, CM_E_INVALID, "", "no store given");
}

void cm_store_free(cm_store *s) {
  if (s)
    s->type->free(s);
}

cm_status cm_store_upsert(cm_store *s, const cm_worker *w, cm_error *err) {
  return s ? s->type->upsert(s, w, err) : no_store(err);
}

cm_status cm_store_position(cm_store *s, const char *id, double lat, double lon,
                            int64_t seen_ms, cm_error *err) {
  return s ? s->type->position(s, id, lat, lon, seen_ms, err) : no_store(err);
}

cm_status cm_store_status(cm_store *s, const char *id, cm_worker_status st,
                          cm_error *err) {
  return s ? s->type->status(s, id, st, err) : no_store(err);
}

cm_status cm_store_get(cm_store *s, const char *id, cm_worker *out,
                       cm_error *err) {
  return s ? s->type->get(s, id, out, err) : no_store(err);
}

cm_status cm_store_remove(cm_store *s, const char *id, cm_error *err) {
  return s ? s->type->remove(s, id, err) : no_store(err);
}

cm_status cm_store_nearest(cm_store *s, const cm_store_query *queries, int nq,
                           int k_max, int64_t now_ms, int64_t stale_ms,
                           cm_store_hit *hits, int *counts, cm_error *err) {
  return s ? s->type->nearest(s, queries, nq, k_max, now_ms, stale_ms, hits,
                              counts, err)
           : no_store(err);
}

cm_status cm_store_sweep(cm_store *s, int64_t now_ms, int64_t stale_ms,
                         int *swept, cm_error *err) {
  int n = 0;
  cm_status st =
      s ? s->type->sweep(s, now_ms, stale_ms, &n, err) : no_store(err);
  if (swept)
    *swept = st == CM_OK ? n : 0;
  return st;
}

cm_status cm_store_count(cm_store *s, int *count, cm_error *err) {
  int n = 0;
  cm_status st = s ? s->type->count(s, &n, err) : no_store(err);
  if (count)
    *count = st == CM_OK ? n : 0;
  return st;
}

cm_status cm_store_each(cm_store *s, void (*fn)(void *ctx, const cm_worker *w),
                        void *ctx, cm_error *err) {
  return s ? s->type->each(s, fn, ctx, err) : no_store(err);
}
