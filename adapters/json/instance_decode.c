/* instance_decode.c -- cm_instance_from_json: JSON text to a validated
 * cm_instance. Parses with jansson (duplicate keys rejected), maps jansson's
 * errors onto cm_error with a JSON path, decodes the parts in dependency
 * order (taxonomy before skills, workers before the ids that name them) and
 * ends with cm_instance_validate for the value ranges. */
#include <stdio.h>

#include "carematch/json.h"
#include "json_internal.h"

cm_status cm__json_parse_error(const char *text, size_t len,
                               const json_error_t *je, cm_error *err) {
  char path[CM__JSON_PATH_MAX];
  size_t pos = je->position > 0 ? (size_t)je->position : 0;
  /* jansson fails without a message only when an allocation fails before
   * parsing starts. */
  if (je->text[0] == '\0')
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  switch (json_error_code(je)) {
  case json_error_out_of_memory:
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  case json_error_duplicate_key:
    cm__json_locate(text, len, pos, path, sizeof path);
    return cm_error_set(err, CM_E_DUPLICATE, path,
                        "%s: the key is given twice in one object (line %d, "
                        "column %d)",
                        path, je->line, je->column);
  case json_error_numeric_overflow:
    cm__json_locate(text, len, pos, path, sizeof path);
    return cm_error_set(err, CM_E_RANGE, path,
                        "%s: number out of range (line %d, column %d): %s",
                        path, je->line, je->column, je->text);
  case json_error_stack_overflow:
    cm__json_locate(text, len, pos, path, sizeof path);
    return cm_error_set(err, CM_E_LIMIT, path,
                        "%s: nesting too deep (line %d, column %d)", path,
                        je->line, je->column);
  default:
    return cm_error_set(err, CM_E_PARSE, "",
                        "malformed JSON at line %d, column %d: %s", je->line,
                        je->column, je->text);
  }
}

cm_status cm_instance_from_json(const char *text, size_t len, cm_instance **out,
                                cm_error *err) {
  static const char *const keys[] = {"taxonomy", "now_ms",  "weights",
                                     "params",   "workers", "requests",
                                     "edges",    NULL};
  cm_error local;
  cm__jdec d = {0};
  json_error_t je;
  json_t *root = NULL;
  cm_status st;
  if (!err)
    err = &local;
  cm_error_clear(err);
  d.err = err;
  if (!out)
    return cm_error_set(err, CM_E_INVALID, "", "no place for the instance");
  *out = NULL;
  if (!text && len > 0)
    return cm_error_set(err, CM_E_INVALID, "", "no input text");
  root = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &je);
  if (!root)
    return cm__json_parse_error(text, len, &je, err);
  if ((st = cm__json_check_keys(root, "$", keys, err)) != CM_OK)
    goto done;
  if (!(d.inst = cm_instance_new())) {
    st = cm_error_set(err, CM_E_NOMEM, "", NULL);
    goto done;
  }
  d.edge_mode = json_object_get(root, "edges") != NULL;
  if ((st = cm__json_decode_taxonomy(&d, root)) != CM_OK ||
      (st = cm__json_decode_weights(&d, root)) != CM_OK ||
      (st = cm__json_decode_params(&d, root)) != CM_OK ||
      (st = cm__json_decode_workers(&d, root)) != CM_OK ||
      (st = cm__json_decode_requests(&d, root)) != CM_OK ||
      (st = cm__json_decode_edges(&d, root)) != CM_OK)
    goto done;
  st = cm_instance_validate(d.inst, err);
done:
  cm__idmap_free(&d.workers);
  cm__idmap_free(&d.requests);
  json_decref(root);
  if (st != CM_OK) {
    cm_instance_free(d.inst);
    return st;
  }
  *out = d.inst;
  return CM_OK;
}
