/* weights_codec.c -- cost weights from JSON, merged onto a set: the
 * daemon's PUT /v1/weights body and its stored weights, and the
 * simulator's what-if files ({"weights": {...}}, docs/daemon.md). */
#include "carematch/json.h"
#include "json_internal.h"

cm_status cm__json_weights_merge(const json_t *obj, cm_weights *w,
                                 cm_error *err) {
  cm_weights out = *w;
  json_t *root = json_pack("{s:O}", "weights", (json_t *)obj);
  cm_status st = root ? cm__json_weights_read(root, &out, err)
                      : cm_error_set(err, CM_E_NOMEM, "", NULL);
  if (st == CM_OK)
    st = cm_weights_validate(&out, err);
  if (st == CM_OK)
    *w = out;
  json_decref(root);
  return st;
}

cm_status cm_weights_from_json(const char *text, size_t len, cm_weights *w,
                               cm_error *err) {
  static const char *const keys[] = {"weights", "version", NULL};
  cm_error local;
  json_error_t je;
  if (!err)
    err = &local;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  if (!root)
    return cm__json_parse_error(text, len, &je, err);
  const json_t *obj;
  cm_status st = cm__json_check_keys(root, "$", keys, err);
  if (st == CM_OK && cm__json_object(root, "$", "weights", 1, &obj, err) < 0)
    st = err->code;
  cm_weights out = *w;
  if (st == CM_OK)
    st = cm__json_weights_merge(obj, &out, err);
  if (st == CM_OK)
    *w = out;
  json_decref(root);
  return st;
}
