/* settings_decode.c -- the batch-wide parts of an instance: "taxonomy",
 * "weights", "params" and "now_ms". Every part is optional and partial: a
 * field left out keeps the default of cm_instance_new. */
#include <stdio.h>

#include "json_internal.h"

cm_status cm__json_decode_taxonomy(cm__jdec *d, const json_t *root) {
  const json_t *arr;
  int r = cm__json_array(root, "$", "taxonomy", 0, &arr, d->err);
  if (r <= 0)
    return r < 0 ? d->err->code : CM_OK;
  size_t n = json_array_size(arr);
  if (n == 0)
    return cm__json_fail(d->err, CM_E_INVALID, "$.taxonomy", NULL,
                         "must name at least one skill");
  if (n > CM_MAX_SKILLS)
    return cm__json_fail(d->err, CM_E_LIMIT, "$.taxonomy", NULL,
                         "%zu skills, at most %d are allowed", n,
                         CM_MAX_SKILLS);
  cm_taxonomy_clear(&d->inst->taxonomy);
  for (size_t i = 0; i < n; i++) {
    char path[CM__JSON_PATH_MAX];
    const json_t *v = json_array_get(arr, i);
    cm__json_path_index(path, sizeof path, "$.taxonomy", i);
    if (!json_is_string(v))
      return cm__json_fail(d->err, CM_E_TYPE, path, NULL,
                           "a skill name must be a string");
    cm_error e;
    cm_error_clear(&e);
    if (cm_taxonomy_add(&d->inst->taxonomy, json_string_value(v), NULL, &e) !=
        CM_OK)
      return cm__json_fail(d->err, e.code, path, NULL, "%s", e.message);
  }
  return CM_OK;
}

/* Read an object keyed by urgency name ("emergency": 3, ...) at obj[key]
 * into vals[CM_URGENCY_COUNT]; absent names keep their value. */
static cm_status urgency_table(cm_error *err, const json_t *obj,
                               const char *base, const char *key,
                               double *vals) {
  static const char *const names[] = {"emergency", "urgent", "normal",
                                      "scheduled", NULL};
  char path[CM__JSON_PATH_MAX];
  const json_t *tab;
  int r = cm__json_object(obj, base, key, 0, &tab, err);
  if (r <= 0)
    return r < 0 ? err->code : CM_OK;
  cm__json_path_key(path, sizeof path, base, key);
  cm_status st = cm__json_check_keys(tab, path, names, err);
  if (st != CM_OK)
    return st;
  for (int u = 0; u < CM_URGENCY_COUNT; u++)
    if (cm__json_number(tab, path, cm_urgency_name((cm_urgency)u), 0, &vals[u],
                        err) < 0)
      return err->code;
  return CM_OK;
}

cm_status cm__json_weights_read(const json_t *root, cm_weights *w,
                                cm_error *err) {
  static const char *const keys[] = {
#define CM_X_KEY_(field, key, shape, def, lo, hi, doc) key,
      CM_WEIGHTS_TABLE(CM_X_KEY_)
#undef CM_X_KEY_
          NULL};
  int n;
  const cm_weight_info *wi = cm_weights_info(&n);
  const json_t *obj;
  const char *base = "$.weights";
  int r = cm__json_object(root, "$", "weights", 0, &obj, err);
  if (r <= 0)
    return r < 0 ? err->code : CM_OK;
  cm_status st = cm__json_check_keys(obj, base, keys, err);
  if (st != CM_OK)
    return st;
  /* the numbers first, then the tables by urgency, in table order */
  for (int i = 0; i < n; i++)
    if (wi[i].count == 1 &&
        cm__json_number(obj, base, wi[i].key, 0, cm_weight_values(w, &wi[i]),
                        err) < 0)
      return err->code;
  for (int i = 0; i < n; i++)
    if (wi[i].count > 1 &&
        (st = urgency_table(err, obj, base, wi[i].key,
                            cm_weight_values(w, &wi[i]))) != CM_OK)
      return st;
  return CM_OK;
}

cm_status cm__json_decode_weights(cm__jdec *d, const json_t *root) {
  return cm__json_weights_read(root, &d->inst->weights, d->err);
}

cm_status cm__json_decode_params(cm__jdec *d, const json_t *root) {
  static const char *const keys[] = {"k",
                                     "radius_km",
                                     "radius_growth_km_per_min",
                                     "radius_max_km",
                                     "speed_kmh",
                                     "road_factor",
                                     "stale_ms",
                                     NULL};
  cm_params *p = &d->inst->params;
  const json_t *obj;
  const char *base = "$.params";
  if (cm__json_int64(root, "$", "now_ms", 0, &p->now_ms, d->err) < 0)
    return d->err->code;
  int r = cm__json_object(root, "$", "params", 0, &obj, d->err);
  if (r <= 0)
    return r < 0 ? d->err->code : CM_OK;
  cm_status st = cm__json_check_keys(obj, base, keys, d->err);
  if (st != CM_OK)
    return st;
  if (cm__json_int(obj, base, "k", 0, &p->k, d->err) < 0 ||
      cm__json_number(obj, base, "radius_growth_km_per_min", 0,
                      &p->radius_growth_km_per_min, d->err) < 0 ||
      cm__json_number(obj, base, "radius_max_km", 0, &p->radius_max_km,
                      d->err) < 0 ||
      cm__json_number(obj, base, "speed_kmh", 0, &p->speed_kmh, d->err) < 0 ||
      cm__json_number(obj, base, "road_factor", 0, &p->road_factor, d->err) <
          0 ||
      cm__json_int64(obj, base, "stale_ms", 0, &p->stale_ms, d->err) < 0)
    return d->err->code;
  return urgency_table(d->err, obj, base, "radius_km", p->radius_km);
}
