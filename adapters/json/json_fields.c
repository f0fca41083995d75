/* json_fields.c -- typed readers of object fields: presence, JSON type and
 * representability, each failure named by its JSON path. Value ranges are
 * left to cm_instance_validate. */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "json_internal.h"

#define EXACT_INT_MAX 9007199254740992.0 /* 2^53 */

/* Look up key. Returns 1 with *v set when present, 0 when absent, -1 when
 * absent but required (err set). */
static int lookup(const json_t *obj, const char *base, const char *key,
                  int required, json_t **v, cm_error *err) {
  *v = json_object_get(obj, key);
  if (*v)
    return 1;
  if (required) {
    cm__json_fail(err, CM_E_MISSING, base, key, "required field is missing");
    return -1;
  }
  return 0;
}

static const char *type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
  case JSON_REAL:
    return "a number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  case JSON_NULL:
    return "null";
  }
  return "unknown";
}

static int wrong_type(const json_t *v, const char *base, const char *key,
                      const char *want, cm_error *err) {
  cm__json_fail(err, CM_E_TYPE, base, key, "must be %s, not %s", want,
                type_name(v));
  return -1;
}

int cm__json_number(const json_t *obj, const char *base, const char *key,
                    int required, double *out, cm_error *err) {
  json_t *v;
  int r = lookup(obj, base, key, required, &v, err);
  if (r <= 0)
    return r;
  if (!json_is_number(v))
    return wrong_type(v, base, key, "a number", err);
  double x = json_number_value(v);
  if (!isfinite(x)) { /* jansson rejects overflow; kept as a defence */
    cm__json_fail(err, CM_E_RANGE, base, key, "must be a finite number");
    return -1;
  }
  *out = x;
  return 1;
}

/* Read an integral number into *out (as a double when it was a real).
 * Returns 1, 0 or -1 as the public readers. */
static int integral(const json_t *obj, const char *base, const char *key,
                    int required, json_int_t *iout, double *dout, int *is_real,
                    cm_error *err) {
  json_t *v;
  int r = lookup(obj, base, key, required, &v, err);
  if (r <= 0)
    return r;
  if (json_is_integer(v)) {
    *iout = json_integer_value(v);
    *is_real = 0;
    return 1;
  }
  if (!json_is_real(v))
    return wrong_type(v, base, key, "an integer", err);
  double x = json_real_value(v);
  if (!isfinite(x) || x != floor(x))
    return wrong_type(v, base, key, "an integer", err);
  *dout = x;
  *is_real = 1;
  return 1;
}

int cm__json_int(const json_t *obj, const char *base, const char *key,
                 int required, int *out, cm_error *err) {
  json_int_t i = 0;
  double d = 0;
  int is_real = 0;
  int r = integral(obj, base, key, required, &i, &d, &is_real, err);
  if (r <= 0)
    return r;
  if (is_real)
    *out = d > INT_MAX ? INT_MAX : d < INT_MIN ? INT_MIN : (int)d;
  else
    *out = i > INT_MAX ? INT_MAX : i < INT_MIN ? INT_MIN : (int)i;
  return 1;
}

int cm__json_int64(const json_t *obj, const char *base, const char *key,
                   int required, int64_t *out, cm_error *err) {
  json_int_t i = 0;
  double d = 0;
  int is_real = 0;
  int r = integral(obj, base, key, required, &i, &d, &is_real, err);
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
    *out = (int64_t)i;
  }
  return 1;
}

int cm__json_string(const json_t *obj, const char *base, const char *key,
                    int required, const char **out, cm_error *err) {
  json_t *v;
  int r = lookup(obj, base, key, required, &v, err);
  if (r <= 0)
    return r;
  if (!json_is_string(v))
    return wrong_type(v, base, key, "a string", err);
  *out = json_string_value(v);
  return 1;
}

int cm__json_array(const json_t *obj, const char *base, const char *key,
                   int required, const json_t **out, cm_error *err) {
  json_t *v;
  int r = lookup(obj, base, key, required, &v, err);
  if (r <= 0)
    return r;
  if (!json_is_array(v))
    return wrong_type(v, base, key, "an array", err);
  *out = v;
  return 1;
}

int cm__json_object(const json_t *obj, const char *base, const char *key,
                    int required, const json_t **out, cm_error *err) {
  json_t *v;
  int r = lookup(obj, base, key, required, &v, err);
  if (r <= 0)
    return r;
  if (!json_is_object(v))
    return wrong_type(v, base, key, "an object", err);
  *out = v;
  return 1;
}

cm_status cm__json_check_keys(const json_t *obj, const char *base,
                              const char *const *allowed, cm_error *err) {
  const char *key;
  json_t *v;
  if (!json_is_object(obj))
    return cm__json_fail(err, CM_E_TYPE, base, NULL,
                         "must be an object, not %s", type_name(obj));
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

cm_status cm__json_check_id(const char *id, const char *path, cm_error *err) {
  size_t n = strlen(id);
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

int cm__json_parse_hash(const char *s, uint64_t *out) {
  uint64_t h = 0;
  if (strlen(s) != 16)
    return -1;
  for (int i = 0; i < 16; i++) {
    char c = s[i];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0)
      return -1;
    h = h << 4 | (uint64_t)d;
  }
  if (h == 0)
    return -1;
  *out = h;
  return 0;
}

int cm__json_position(const json_t *obj, const char *base, int required,
                      double *lat, double *lon, cm_error *err) {
  int has_lat = cm__json_number(obj, base, "lat", 0, lat, err);
  if (has_lat < 0)
    return -1;
  int has_lon = cm__json_number(obj, base, "lon", 0, lon, err);
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
