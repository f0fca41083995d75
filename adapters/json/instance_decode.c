/* instance_decode.c -- cm_instance_from_json: JSON text to a validated
 * cm_instance. The text is parsed into a tape (json_doc.h: yajl, with
 * jansson's rules), the root's members are sorted by key, and the parts
 * are decoded in dependency order (taxonomy before skills, workers before
 * the ids that name them): the small settings through jansson copies, the
 * arrays from the tape. It ends with cm_instance_validate for the value
 * ranges. */
#include "carematch/json.h"
#include "json_internal.h"

enum {
  K_TAXONOMY,
  K_NOW,
  K_WEIGHTS,
  K_PARAMS,
  K_WORKERS,
  K_REQUESTS,
  K_EDGES,
  K_KEYS
};

/* A jansson object holding the settings members of the root (f, by key),
 * for the decoders the daemon shares. Returns NULL when out of memory. */
static json_t *settings(const cm__jdoc *doc, const cm__jval *const *f,
                        const char *const *keys) {
  json_t *root = json_object();
  for (int k = K_TAXONOMY; root && k <= K_PARAMS; k++)
    if (f[k] && json_object_set_new_nocheck(root, keys[k],
                                            cm__jdoc_to_jansson(doc, f[k]))) {
      json_decref(root);
      return NULL;
    }
  return root;
}

cm_status cm_instance_from_json(const char *text, size_t len, cm_instance **out,
                                cm_error *err) {
  static const char *const keys[K_KEYS + 1] = {
      "taxonomy", "now_ms",   "weights", "params",
      "workers",  "requests", "edges",   NULL};
  cm_error local;
  cm__jdoc doc = {0};
  cm__jdec d = {0};
  const cm__jval *f[K_KEYS];
  json_t *set = NULL;
  cm_status st;
  if (!err)
    err = &local;
  cm_error_clear(err);
  d.err = err;
  d.doc = &doc;
  if (!out)
    return cm_error_set(err, CM_E_INVALID, "", "no place for the instance");
  *out = NULL;
  if (!text && len > 0)
    return cm_error_set(err, CM_E_INVALID, "", "no input text");
  if ((st = cm__jdoc_parse(&doc, text ? text : "", len, err)) != CM_OK ||
      (st = cm__jdoc_fields(&doc, doc.vals, "$", keys, f, err)) != CM_OK)
    goto done;
  if (!(d.inst = cm_instance_new()) || !(set = settings(&doc, f, keys))) {
    st = cm_error_set(err, CM_E_NOMEM, "", NULL);
    goto done;
  }
  d.edge_mode = f[K_EDGES] != NULL;
  if ((st = cm__json_decode_taxonomy(&d, set)) != CM_OK ||
      (st = cm__json_decode_weights(&d, set)) != CM_OK ||
      (st = cm__json_decode_params(&d, set)) != CM_OK ||
      (st = cm__json_decode_workers(&d, f[K_WORKERS])) != CM_OK ||
      (st = cm__json_decode_requests(&d, f[K_REQUESTS])) != CM_OK ||
      (st = cm__json_decode_edges(&d, f[K_EDGES])) != CM_OK)
    goto done;
  st = cm_instance_validate(d.inst, err);
done:
  cm__idmap_free(&d.workers);
  cm__idmap_free(&d.requests);
  json_decref(set);
  cm__jdoc_free(&doc);
  if (st != CM_OK) {
    cm_instance_free(d.inst);
    return st;
  }
  *out = d.inst;
  return CM_OK;
}
