/* json_fields.c -- typed readers of object fields: presence, JSON type and
 * representability, each failure named by its JSON path. The rules are
 * written once, for a value of the tape (json_doc.h); a jansson value is
 * read through a tape view of it. Value ranges are left to
 * cm_instance_validate. */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "json_internal.h"

#define EXACT_INT_MAX 9007199254740992.0 /* 2^53 */

/* ---- the rules, on tape values ---------------------------------------- */

const char *cm__jval_type_name(cm__jtype t) {
  switch (t) {
  case CM__JOBJECT:
    return "an object";
  case CM__JARRAY:
    return "an array";
  case CM__JSTRING:
    return "a string";
  case CM__JINT:
  case CM__JREAL:
  case CM__JRAWNUM:
    return "a number";
  case CM__JTRUE:
  case CM__JFALSE:
    return "a boolean";
  case CM__JNULL:
    return "null";
  }
  return "unknown";
}

static int wrong_type(const cm__jval *v, const char *base, const char *key,
                      const char *want, cm_error *err) {
  cm__json_fail(err, CM_E_TYPE, base, key, "must be %s, not %s", want,
                cm__jval_type_name((cm__jtype)v->type));
  return -1;
}

/* An absent field: 0, or -1 (CM_E_MISSING) when it is required. */
static int absent(const char *base, const char *key, int required,
                  cm_error *err) {
  if (!required)
    return 0;
  cm__json_fail(err, CM_E_MISSING, base, key, "required field is missing");
  return -1;
}

int cm__jval_number(const cm__jval *v, const char *base, const char *key,
                    int required, double *out, cm_error *err) {
  if (!v)
    return absent(base, key, required, err);
  if (v->type == CM__JINT) {
    *out = (double)v->u.i;
    return 1;
  }
  if (v->type != CM__JREAL)
    return wrong_type(v, base, key, "a number", err);
  if (!isfinite(v->u.d)) { /* the parsers reject overflow; kept as a defence */
    cm__json_fail(err, CM_E_RANGE, base, key, "must be a finite number");
    return -1;
  }
  *out = v->u.d;
  return 1;
}

/* Read an integral number into *iout, or *dout when it was a real (then
 * *is_real is set). Returns 1, 0 or -1 as the public readers. */
static int integral(const cm__jval *v, const char *base, const char *key,
                    int required, int64_t *iout, double *dout, int *is_real,
                    cm_error *err) {
  if (!v)
    return absent(base, key, required, err);
  if (v->type == CM__JINT) {
    *iout = v->u.i;
    *is_real = 0;
    return 1;
  }
  if (v->type != CM__JREAL)
    return wrong_type(v, base, key, "an integer", err);
  double x = v->u.d;
  if (!isfinite(x) || x != floor(x))
    return wrong_type(v, base, key, "an integer", err);
  *dout = x;
  *is_real = 1;
  return 1;
}

int cm__jval_int(const cm__jval *v, const char *base, const char *key,
                 int required, int *out, cm_error *err) {
  int64_t i = 0;
  double d = 0;
  int is_real = 0;
  int r = integral(v, base, key, required, &i, &d, &is_real, err);
  if (r <= 0)
    return r;
  if (is_real)
    *out = d > INT_MAX ? INT_MAX : d < INT_MIN ? INT_MIN : (int)d;
  else
    *out = i > INT_MAX ? INT_MAX : i < INT_MIN ? INT_MIN : (int)i;
  return 1;
}

int cm__jval_int64(const cm__jval *v, const char *base, const char *key,
                   int required, int64_t *out, cm_error *err) {
  int64_t i = 0;
  double d = 0;
  int is_real = 0;
  int r = integral(v, base, key, required, &i, &d, &is_real, err);
  if (r <= 0)
    return r;
  if (is_real) {
    if (fabs(d) > EXACT_INT_MAX) {
      cm__json_fail(err, CM_E_RANGE, base, key,
                    "must be an integer within +-2^53");
      return -1;
    }
    *out = (int64_t)d;
  } else {
    *out = i;
  }
  return 1;
}

int cm__jval_is(const cm__jval *v, cm__jtype want, const char *base,
                const char *key, int required, cm_error *err) {
  if (!v)
    return absent(base, key, required, err);
  if (v->type != (uint32_t)want)
    return wrong_type(v, base, key, cm__jval_type_name(want), err);
  return 1;
}

int cm__jval_position(const cm__jval *lat, const cm__jval *lon,
                      const char *base, int required, double *la, double *lo,
                      cm_error *err) {
  int has_lat = cm__jval_number(lat, base, "lat", 0, la, err);
  if (has_lat < 0)
    return -1;
  int has_lon = cm__jval_number(lon, base, "lon", 0, lo, err);
  if (has_lon < 0)
    return -1;
  if (has_lat && has_lon)
    return 1;
  if (has_lat || has_lon || required) {
    cm__json_fail(err, CM_E_MISSING, base, has_lat ? "lon" : "lat",
                  required && !has_lat && !has_lon
                      ? "a position is required unless edges are given"
                      : "lat and lon must be given together");
    return -1;
  }
  return 0;
}

/* ---- the readers of jansson values ------------------------------------ */

/* v as a tape value (type and number only) in *x; returns x, or NULL when
 * v is NULL. */
static const cm__jval *view(const json_t *v, cm__jval *x) {
  if (!v)
    return NULL;
  memset(x, 0, sizeof *x);
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    x->type = CM__JOBJECT;
    break;
  case JSON_ARRAY:
    x->type = CM__JARRAY;
    break;
  case JSON_STRING:
    x->type = CM__JSTRING;
    break;
  case JSON_INTEGER:
    x->type = CM__JINT;
    x->u.i = json_integer_value(v);
    break;
  case JSON_REAL:
    x->type = CM__JREAL;
    x->u.d = json_real_value(v);
    break;
  case JSON_TRUE:
    x->type = CM__JTRUE;
    break;
  case JSON_FALSE:
    x->type = CM__JFALSE;
    break;
  case JSON_NULL:
    x->type = CM__JNULL;
    break;
  }
  return x;
}

/* The value of key in obj as a tape value in *x, or NULL when absent. */
static const cm__jval *field(const json_t *obj, const char *key, cm__jval *x) {
  return view(json_object_get(obj, key), x);
}

int cm__json_number(const json_t *obj, const char *base, const char *key,
                    int required, double *out, cm_error *err) {
  cm__jval x;
  return cm__jval_number(field(obj, key, &x), base, key, required, out, err);
}

int cm__json_int(const json_t *obj, const char *base, const char *key,
                 int required, int *out, cm_error *err) {
  cm__jval x;
  return cm__jval_int(field(obj, key, &x), base, key, required, out, err);
}

int cm__json_int64(const json_t *obj, const char *base, const char *key,
                   int required, int64_t *out, cm_error *err) {
  cm__jval x;
  return cm__jval_int64(field(obj, key, &x), base, key, required, out, err);
}

int cm__json_string(const json_t *obj, const char *base, const char *key,
                    int required, const char **out, cm_error *err) {
  cm__jval x;
  int r =
      cm__jval_is(field(obj, key, &x), CM__JSTRING, base, key, required, err);
  if (r > 0)
    *out = json_string_value(json_object_get(obj, key));
  return r;
}

int cm__json_array(const json_t *obj, const char *base, const char *key,
                   int required, const json_t **out, cm_error *err) {
  cm__jval x;
  int r =
      cm__jval_is(field(obj, key, &x), CM__JARRAY, base, key, required, err);
  if (r > 0)
    *out = json_object_get(obj, key);
  return r;
}

int cm__json_object(const json_t *obj, const char *base, const char *key,
                    int required, const json_t **out, cm_error *err) {
  cm__jval x;
  int r =
      cm__jval_is(field(obj, key, &x), CM__JOBJECT, base, key, required, err);
  if (r > 0)
    *out = json_object_get(obj, key);
  return r;
}

cm_status cm__json_check_keys(const json_t *obj, const char *base,
                              const char *const *allowed, cm_error *err) {
  const char *key;
  json_t *v;
  cm__jval x;
  if (!json_is_object(obj))
    return cm__json_fail(err, CM_E_TYPE, base, NULL,
                         "must be an object, not %s",
                         cm__jval_type_name((cm__jtype)view(obj, &x)->type));
  json_object_foreach((json_t *)obj, key, v) {
    const char *const *a = allowed;
    while (*a && strcmp(*a, key) != 0)
      a++;
    if (!*a)
      return cm__json_fail(err, CM_E_INVALID, base, key,
                           "unknown key \"%.40s\"", key);
  }
  return CM_OK;
}

int cm__json_id_ok(const char *id, size_t n) {
  unsigned char high = 0;
  if (n == 0 || n >= CM_ID_MAX)
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)id[i];
    if (c < 0x20 || c == 0x7f)
      return 0;
    high |= c;
  }
  return high < 0x80 || cm__json_utf8_valid(id);
}

cm_status cm__json_check_id(const char *id, const char *path, cm_error *err) {
  size_t n = strlen(id);
  if (cm__json_id_ok(id, n))
    return CM_OK;
  if (n == 0)
    return cm__json_fail(err, CM_E_INVALID, path, NULL, "id must not be empty");
  if (n >= CM_ID_MAX)
    return cm__json_fail(err, CM_E_INVALID, path, NULL,
                         "id is %zu bytes, at most %d are allowed", n,
                         CM_ID_MAX - 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)id[i];
    if (c < 0x20 || c == 0x7f)
      return cm__json_fail(err, CM_E_INVALID, path, NULL,
                           "id must not hold control characters");
  }
  if (!cm__json_utf8_valid(id)) /* ids from a URL path may not be */
    return cm__json_fail(err, CM_E_INVALID, path, NULL, "id must be UTF-8");
  return CM_OK;
}

/* The value of each byte as a hex digit; 16: no hex digit. A table, not
 * comparisons: the digits of a hash are random, and branches on them are
 * mispredicted about once per digit (40,000 hashes in a 5 MB instance). */
static const unsigned char hex_value[256] = {
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 0,  1,  2,  3,  4,  5,  6,  7,  8,
    9,  16, 16, 16, 16, 16, 16, 16, 10, 11, 12, 13, 14, 15, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 10, 11, 12, 13, 14, 15, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16,
};

int cm__json_parse_hash(const char *s, uint64_t *out) {
  uint64_t h = 0;
  for (int i = 0; i < 16; i++) { /* a NUL before 16 digits is no digit */
    unsigned d = hex_value[(unsigned char)s[i]];
    if (d > 15)
      return -1; /* (never taken for a hash: predicted well) */
    h = h << 4 | d;
  }
  if (s[16] != '\0' || h == 0)
    return -1;
  *out = h;
  return 0;
}

int cm__json_position(const json_t *obj, const char *base, int required,
                      double *lat, double *lon, cm_error *err) {
  cm__jval a, b;
  return cm__jval_position(field(obj, "lat", &a), field(obj, "lon", &b), base,
                           required, lat, lon, err);
}
