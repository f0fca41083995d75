/* edges_decode.c -- the optional "edges" array, from the tape: candidate
 * (request, worker) pairs with the caller's travel times. When present,
 * the candidates are exactly these edges and positions become optional.
 * Ids are resolved here; travel_min ranges and duplicate pairs are checked
 * by cm_instance_validate. */
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

/* Resolve v (the value of key in the edge at base) through ix. Returns the
 * index, or -1 with err set. */
static int resolve(cm__jdec *d, const cm__jval *v, const char *base,
                   const char *key, const cm__jidx *ix, const char *kind,
                   cm__jlast *last) {
  if (cm__jval_is(v, CM__JSTRING, base, key, 1, d->err) < 0)
    return -1;
  const char *id = cm__jdoc_str(d->doc, v);
  if (last->len && last->len == v->u.str.len &&
      memcmp(last->id, id, last->len) == 0)
    return last->index;
  int i = cm__jidx_get(ix, id, v->u.str.len);
  if (i < 0) {
    cm__json_fail(d->err, CM_E_UNKNOWN_ID, base, key,
                  "no %s has the id \"%.64s\"", kind, id);
    return -1;
  }
  if (v->u.str.len < sizeof last->id) { /* a copy: the tape may be dropped */
    memcpy(last->id, id, v->u.str.len);
    last->len = v->u.str.len;
    last->index = i;
  }
  return i;
}

cm_status cm__json_decode_edges(cm__jdec *d, const cm__jval *arr) {
  cm_instance *inst = d->inst;
  int r = cm__jval_is(arr, CM__JARRAY, "$", "edges", 0, d->err);
  if (r <= 0)
    return r < 0 ? d->err->code : CM_OK;
  size_t n = arr->u.count;
  if (n > CM__JSON_MAX_EDGES)
    return cm__json_fail(d->err, CM_E_LIMIT, "$.edges", NULL,
                         "%zu edges, at most %d are allowed", n,
                         CM__JSON_MAX_EDGES);
  inst->has_edges = 1;
  if (n > 0 && cm_instance_reserve(inst, inst->n_workers, inst->n_requests,
                                   (int)n, d->err) != CM_OK)
    return d->err->code;
  cm__jlast last_request = {0}, last_worker = {0};
  const cm__jval *v = cm__jdoc_first(arr);
  for (size_t i = 0; i < n; i++, v = cm__jdoc_next(d->doc, v)) {
    cm_status st = cm__json_decode_edge(d, v, i, &last_request, &last_worker);
    if (st != CM_OK)
      return st;
  }
  return CM_OK;
}

cm_status cm__json_decode_edge(cm__jdec *d, const cm__jval *v, size_t i,
                               cm__jlast *last_request,
                               cm__jlast *last_worker) {
  static const char *const keys[] = {"request", "worker", "travel_min", NULL};
  char base[CM__JSON_PATH_MAX];
  const cm__jval *f[3];
  cm_edge_in e;
  cm__json_path_index(base, sizeof base, "$.edges", i);
  cm_status st = cm__jdoc_fields(d->doc, v, base, keys, f, d->err);
  if (st != CM_OK)
    return st;
  if ((e.request = resolve(d, f[0], base, "request", &d->requests, "request",
                           last_request)) < 0 ||
      (e.worker = resolve(d, f[1], base, "worker", &d->workers, "worker",
                          last_worker)) < 0 ||
      cm__jval_number(f[2], base, "travel_min", 1, &e.travel_min, d->err) < 0)
    return d->err->code;
  if (cm_instance_edge_add(d->inst, &e, NULL, d->err) != CM_OK)
    return d->err->code;
  return CM_OK;
}
