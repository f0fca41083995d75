/* weights.c -- the weights' table (CM_WEIGHTS_TABLE, model.h) as rows that
 * code can walk, and the check of a set of weights against it. */
#include <math.h>
#include <stdio.h>

#include "carematch/model.h"

#define CM_W_UNPAREN_(...) __VA_ARGS__
#define CM_W_COUNT_ONE_ 1
#define CM_W_COUNT_URGENCY_ CM_URGENCY_COUNT

/* A default of another length than its member fails to compile. */
#define CM_X_SIZE_(field, key, shape, def, lo, hi, doc)                        \
  _Static_assert(sizeof((double[]){CM_W_UNPAREN_ def}) ==                      \
                     sizeof(((cm_weights *)0)->field),                         \
                 "the default of " #field " has the wrong length");
CM_WEIGHTS_TABLE(CM_X_SIZE_)
#undef CM_X_SIZE_

static const cm_weight_info rows[] = {
#define CM_X_ROW_(field, key, shape, def, lo, hi, doc)                         \
  {key,                                                                        \
   offsetof(cm_weights, field),                                                \
   CM_W_COUNT_##shape##_,                                                      \
   (const double[]){CM_W_UNPAREN_ def},                                        \
   lo,                                                                         \
   hi,                                                                         \
   #lo,                                                                        \
   #hi,                                                                        \
   doc},
    CM_WEIGHTS_TABLE(CM_X_ROW_)
#undef CM_X_ROW_
};

const cm_weight_info *cm_weights_info(int *n) {
  if (n)
    *n = (int)(sizeof rows / sizeof *rows);
  return rows;
}

double *cm_weight_values(cm_weights *w, const cm_weight_info *wi) {
  return (double *)(void *)((char *)w + wi->offset);
}

const double *cm_weight_values_const(const cm_weights *w,
                                     const cm_weight_info *wi) {
  return (const double *)(const void *)((const char *)w + wi->offset);
}

static cm_status out_of_range(const cm_weight_info *wi, int u, cm_error *err) {
  char path[CM_ERROR_FIELD_MAX];
  if (wi->count == 1)
    snprintf(path, sizeof path, "$.weights.%s", wi->key);
  else
    snprintf(path, sizeof path, "$.weights.%s.%s", wi->key,
             cm_urgency_name((cm_urgency)u));
  return cm_error_set(err, CM_E_RANGE, path,
                      "%s: must be a finite number in [%s, %s]", path,
                      wi->lo_text, wi->hi_text);
}

static int in_range(const cm_weight_info *wi, double v) {
  return isfinite(v) && v >= wi->lo && v <= wi->hi;
}

cm_status cm_weights_validate(const cm_weights *w, cm_error *err) {
  int n;
  const cm_weight_info *wi = cm_weights_info(&n);
  cm_error_clear(err);
  if (!w)
    return cm_error_set(err, CM_E_INVALID, "$.weights", "no weights");
  for (int i = 0; i < n; i++)
    if (wi[i].count == 1 &&
        !in_range(&wi[i], *cm_weight_values_const(w, &wi[i])))
      return out_of_range(&wi[i], 0, err);
  for (int u = 0; u < CM_URGENCY_COUNT; u++)
    for (int i = 0; i < n; i++)
      if (wi[i].count > 1 &&
          !in_range(&wi[i], cm_weight_values_const(w, &wi[i])[u]))
        return out_of_range(&wi[i], u, err);
  return CM_OK;
}
