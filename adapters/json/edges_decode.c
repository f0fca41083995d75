/* edges_decode.c -- the optional "edges" array: candidate (request, worker)
 * pairs with the caller's travel times. When present, the candidates are
 * exactly these edges and positions become optional. Ids are resolved here;
 * travel_min ranges and duplicate pairs are checked by cm_instance_validate. */
#include <stdlib.h>

#include "json_internal.h"

/* Resolve obj[key] (an id) through ix. Returns the index, or -1 with err
 * set. */
static int resolve(cm__jdec *d, const json_t *obj, const char *base,
                   const char *key, const cm__idmap *ix, const char *kind) {
  const char *id;
  if (cm__json_string(obj, base, key, 1, &id, d->err) < 0)
    return -1;
  int i = cm__idmap_get(ix, id);
  if (i < 0)
    cm__json_fail(d->err, CM_E_UNKNOWN_ID, base, key,
                  "no %s has the id \"%.64s\"", kind, id);
  return i;
}

cm_status cm__json_decode_edges(cm__jdec *d, const json_t *root) {
  static const char *const keys[] = {"request", "worker", "travel_min", NULL};
  const json_t *arr;
  cm_instance *inst = d->inst;
  int r = cm__json_array(root, "$", "edges", 0, &arr, d->err);
  if (r <= 0)
    return r < 0 ? d->err->code : CM_OK;
  size_t n = json_array_size(arr);
  if (n > CM__JSON_MAX_EDGES)
    return cm__json_fail(d->err, CM_E_LIMIT, "$.edges", NULL,
                         "%zu edges, at most %d are allowed", n,
                         CM__JSON_MAX_EDGES);
  inst->has_edges = 1;
  if (n > 0) {
    inst->edges = malloc(n * sizeof *inst->edges);
    if (!inst->edges)
      return cm_error_set(d->err, CM_E_NOMEM, "$.edges", NULL);
    inst->cap_edges = (int)n;
  }
  for (size_t i = 0; i < n; i++) {
    char base[CM__JSON_PATH_MAX];
    const json_t *v = json_array_get(arr, i);
    cm_edge_in e;
    cm__json_path_index(base, sizeof base, "$.edges", i);
    cm_status st = cm__json_check_keys(v, base, keys, d->err);
    if (st != CM_OK)
      return st;
    if ((e.request = resolve(d, v, base, "request", &d->requests, "request")) <
            0 ||
        (e.worker = resolve(d, v, base, "worker", &d->workers, "worker")) < 0 ||
        cm__json_number(v, base, "travel_min", 1, &e.travel_min, d->err) < 0)
      return d->err->code;
    if (cm_instance_add_edge(inst, &e, d->err) < 0)
      return d->err->code;
  }
  return CM_OK;
}
