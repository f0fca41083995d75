/* requests_decode.c -- the "requests" array of an instance, from the tape:
 * one cm_request per element; preferred and excluded workers resolved from
 * their ids, so the workers must be decoded first. Paths are formatted only
 * for an error, except each element's base. */
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

/* Resolve the worker ids of arr (the value of key in the object at base,
 * NULL when absent) into list (deduplicated). Returns CM_OK or an error. */
static cm_status worker_list(cm__jdec *d, const cm__jval *arr, const char *base,
                             const char *key, int *list, int *count) {
  char path[CM__JSON_PATH_MAX], item[CM__JSON_PATH_MAX];
  int r = cm__jval_is(arr, CM__JARRAY, base, key, 0, d->err);
  if (r <= 0)
    return r < 0 ? d->err->code : CM_OK;
  size_t n = arr->u.count;
  if (n > CM_MAX_PREFS) {
    cm__json_path_key(path, sizeof path, base, key);
    return cm__json_fail(d->err, CM_E_LIMIT, path, NULL,
                         "%zu workers, at most %d are allowed", n,
                         CM_MAX_PREFS);
  }
  int used = 0;
  const cm__jval *v = cm__jdoc_first(arr);
  for (size_t i = 0; i < n; i++, v = cm__jdoc_next(d->doc, v)) {
    const char *id = v->type == CM__JSTRING ? cm__jdoc_str(d->doc, v) : NULL;
    int w = id ? cm__jidx_get(&d->workers, id, v->u.str.len) : -1;
    if (w < 0) {
      cm__json_path_key(path, sizeof path, base, key);
      cm__json_path_index(item, sizeof item, path, i);
      if (!id)
        return cm__json_fail(d->err, CM_E_TYPE, item, NULL,
                             "must be a worker id (a string)");
      return cm__json_fail(d->err, CM_E_UNKNOWN_ID, item, NULL,
                           "no worker has the id \"%.64s\"", id);
    }
    int k = 0;
    while (k < used && list[k] != w)
      k++;
    if (k == used)
      list[used++] = w;
  }
  *count = used;
  return CM_OK;
}

/* The elder of a request: "elder" (an id, hashed here) or "elder_hash"
 * (16 hex digits, as cm_instance_to_json writes it). */
static cm_status decode_elder(cm__jdec *d, const cm__jval *elder,
                              const cm__jval *hash, const char *base,
                              cm_request *r) {
  char path[CM__JSON_PATH_MAX];
  if (cm__jval_is(elder, CM__JSTRING, base, "elder", 0, d->err) < 0 ||
      cm__jval_is(hash, CM__JSTRING, base, "elder_hash", 0, d->err) < 0)
    return d->err->code;
  if (elder && hash)
    return cm__json_fail(d->err, CM_E_INVALID, base, "elder_hash",
                         "give either elder or elder_hash, not both");
  if (elder) {
    const char *id = cm__jdoc_str(d->doc, elder);
    if (!cm__json_id_ok(id, elder->u.str.len)) {
      cm__json_path_key(path, sizeof path, base, "elder");
      return cm__json_check_id(id, path, d->err);
    }
    r->elder = cm_id_hash(id);
  } else if (hash &&
             cm__json_parse_hash(cm__jdoc_str(d->doc, hash), &r->elder) != 0) {
    return cm__json_fail(d->err, CM_E_INVALID, base, "elder_hash",
                         "must be 16 hex digits, not all zero");
  }
  return CM_OK;
}

enum {
  R_ID,
  R_LAT,
  R_LON,
  R_SKILLS,
  R_MODE,
  R_STAFF,
  R_URGENCY,
  R_WAITED,
  R_ELDER,
  R_HASH,
  R_PREFERRED,
  R_EXCLUDED,
  R_KEYS
};

/* The request's "id" (idv) into r->id, entered into the id map as element
 * i (an id used before is a duplicate). Returns CM_OK or an error. */
static cm_status decode_request_id(cm__jdec *d, const cm__jval *idv,
                                   const char *base, size_t i, cm_request *r) {
  char path[CM__JSON_PATH_MAX];
  cm_error *err = d->err;
  if (cm__jval_is(idv, CM__JSTRING, base, "id", 1, err) < 0)
    return err->code;
  const char *id = cm__jdoc_str(d->doc, idv);
  size_t id_len = idv->u.str.len;
  if (!cm__json_id_ok(id, id_len)) {
    cm__json_path_key(path, sizeof path, base, "id");
    return cm__json_check_id(id, path, err);
  }
  int prev = -1,
      put = cm__jidx_put(&d->requests, &d->ids, id, id_len, (int)i, &prev);
  if (put <= 0) {
    cm__json_path_key(path, sizeof path, base, "id");
    if (put < 0)
      return cm_error_set(err, CM_E_NOMEM, path, NULL);
    return cm__json_fail(err, CM_E_DUPLICATE, path, NULL,
                         "request id \"%s\" is already used by "
                         "$.requests[%d]",
                         id, prev);
  }
  memcpy(r->id, id, id_len + 1);
  return CM_OK;
}

/* The request's "skills" (required) and "skill_mode" (all or any; absent:
 * the default). Returns CM_OK or an error. */
static cm_status decode_skills(cm__jdec *d, const cm__jval *skills,
                               const cm__jval *mode, const char *base,
                               cm_request *r) {
  cm_error *err = d->err;
  cm_status st;
  if (cm__jval_is(skills, CM__JARRAY, base, "skills", 1, err) < 0)
    return err->code;
  if ((st = cm__json_decode_skills(d, skills, base, "skills", &r->skills)) !=
      CM_OK)
    return st;
  if (cm__jval_is(mode, CM__JSTRING, base, "skill_mode", 0, err) < 0)
    return err->code;
  if (mode) {
    const char *m = cm__jdoc_str(d->doc, mode);
    if (strcmp(m, "all") == 0)
      r->skill_mode = CM_SKILLS_ALL;
    else if (strcmp(m, "any") == 0)
      r->skill_mode = CM_SKILLS_ANY;
    else
      return cm__json_fail(err, CM_E_INVALID, base, "skill_mode",
                           "unknown skill_mode \"%.40s\" (all, any)", m);
  }
  return CM_OK;
}

/* The request's "staff" and "urgency" (absent: the defaults). Returns CM_OK
 * or an error. */
static cm_status decode_staff_urgency(cm__jdec *d, const cm__jval *staff,
                                      const cm__jval *urgency, const char *base,
                                      cm_request *r) {
  cm_error *err = d->err;
  if (cm__jval_int(staff, base, "staff", 0, &r->staff, err) < 0 ||
      cm__jval_is(urgency, CM__JSTRING, base, "urgency", 0, err) < 0)
    return err->code;
  if (urgency) {
    const char *name = cm__jdoc_str(d->doc, urgency);
    int u = cm_urgency_parse(name);
    if (u < 0)
      return cm__json_fail(err, CM_E_INVALID, base, "urgency",
                           "unknown urgency \"%.40s\" (emergency, urgent, "
                           "normal, scheduled)",
                           name);
    r->urgency = (cm_urgency)u;
  }
  return CM_OK;
}

/* Decode element i (v) into *r. Returns CM_OK or an error. */
static cm_status decode_request(cm__jdec *d, const cm__jval *v, size_t i,
                                cm_request *r) {
  static const char *const keys[R_KEYS + 1] = {
      "id",        "lat",      "lon",      "skills", "skill_mode",
      "staff",     "urgency",  "waited_s", "elder",  "elder_hash",
      "preferred", "excluded", NULL};
  const cm__jval *f[R_KEYS];
  char base[CM__JSON_PATH_MAX];
  cm_error *err = d->err;
  cm_status st;
  cm__json_path_index(base, sizeof base, "$.requests", i);
  cm_request_init(r);
  if ((st = cm__jdoc_fields(d->doc, v, base, keys, f, err)) != CM_OK ||
      (st = decode_request_id(d, f[R_ID], base, i, r)) != CM_OK)
    return st;
  int has = cm__jval_position(f[R_LAT], f[R_LON], base,
                              !d->edge_mode && !d->edges_unknown, &r->lat,
                              &r->lon, err);
  if (has < 0)
    return err->code;
  r->has_position = has;
  if (!has && d->edges_unknown && d->no_position == SIZE_MAX)
    d->no_position = i; /* an error unless edges come (instance_stream.c) */
  if ((st = decode_skills(d, f[R_SKILLS], f[R_MODE], base, r)) != CM_OK ||
      (st = decode_staff_urgency(d, f[R_STAFF], f[R_URGENCY], base, r)) !=
          CM_OK)
    return st;
  if (cm__jval_number(f[R_WAITED], base, "waited_s", 0, &r->waited_s, err) < 0)
    return err->code;
  if ((st = decode_elder(d, f[R_ELDER], f[R_HASH], base, r)) != CM_OK)
    return st;
  if ((st = worker_list(d, f[R_PREFERRED], base, "preferred", r->preferred,
                        &r->n_preferred)) != CM_OK)
    return st;
  return worker_list(d, f[R_EXCLUDED], base, "excluded", r->excluded,
                     &r->n_excluded);
}

cm_status cm__json_decode_requests(cm__jdec *d, const cm__jval *arr) {
  cm_instance *inst = d->inst;
  if (cm__jval_is(arr, CM__JARRAY, "$", "requests", 1, d->err) < 0)
    return d->err->code;
  size_t n = arr->u.count;
  if (n > CM__JSON_MAX_REQUESTS)
    return cm__json_fail(d->err, CM_E_LIMIT, "$.requests", NULL,
                         "%zu requests, at most %d are allowed", n,
                         CM__JSON_MAX_REQUESTS);
  if (cm__jidx_init(&d->requests, n) != 0)
    return cm_error_set(d->err, CM_E_NOMEM, "$.requests", NULL);
  if (n > 0 && cm_instance_reserve(inst, inst->n_workers, (int)n, inst->n_edges,
                                   d->err) != CM_OK)
    return d->err->code;
  const cm__jval *v = cm__jdoc_first(arr);
  for (size_t i = 0; i < n; i++, v = cm__jdoc_next(d->doc, v)) {
    cm_status st = cm__json_decode_request(d, v, i);
    if (st != CM_OK)
      return st;
  }
  return CM_OK;
}

cm_status cm__json_decode_request(cm__jdec *d, const cm__jval *v, size_t i) {
  cm_request r;
  cm_status st = decode_request(d, v, i, &r);
  if (st != CM_OK)
    return st;
  if (cm_instance_request_add(d->inst, &r, NULL, d->err) != CM_OK)
    return d->err->code;
  return CM_OK;
}
