/* workers_decode.c -- the "workers" array of an instance, from the tape:
 * one cm_worker per element, ids indexed for the requests and edges that
 * name them; also the skill lists of workers and requests. Paths are
 * formatted only for an error, except each element's base. */
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

cm_status cm__json_decode_skills(cm__jdec *d, const cm__jval *arr,
                                 const char *base, const char *key,
                                 cm_skillset *out) {
  char path[CM__JSON_PATH_MAX], item[CM__JSON_PATH_MAX];
  cm_skillset set = 0;
  const cm__jval *v = cm__jdoc_first(arr);
  for (uint32_t i = 0; i < arr->u.count; i++, v = cm__jdoc_next(d->doc, v)) {
    int s = v->type == CM__JSTRING
                ? cm_taxonomy_find(&d->inst->taxonomy, cm__jdoc_str(d->doc, v))
                : -1;
    if (s >= 0) {
      set |= (cm_skillset)1 << s;
      continue;
    }
    cm__json_path_key(path, sizeof path, base, key);
    cm__json_path_index(item, sizeof item, path, i);
    if (v->type != CM__JSTRING)
      return cm__json_fail(d->err, CM_E_TYPE, item, NULL,
                           "a skill name must be a string");
    return cm__json_fail(d->err, CM_E_UNKNOWN_SKILL, item, NULL,
                         "\"%.40s\" is not a skill of the taxonomy",
                         cm__jdoc_str(d->doc, v));
  }
  *out = set;
  return CM_OK;
}

/* Elders served recently: "elders" (ids, hashed here) or "elder_hashes"
 * (16 hex digits each, as cm_instance_to_json writes them). */
static cm_status decode_elders(cm__jdec *d, const cm__jval *ids,
                               const cm__jval *hashes, const char *base,
                               cm_worker *w) {
  char path[CM__JSON_PATH_MAX], item[CM__JSON_PATH_MAX];
  if (cm__jval_is(ids, CM__JARRAY, base, "elders", 0, d->err) < 0 ||
      cm__jval_is(hashes, CM__JARRAY, base, "elder_hashes", 0, d->err) < 0)
    return d->err->code;
  if (ids && hashes)
    return cm__json_fail(d->err, CM_E_INVALID, base, "elder_hashes",
                         "give either elders or elder_hashes, not both");
  const cm__jval *arr = ids ? ids : hashes;
  if (!arr)
    return CM_OK;
  const char *key = ids ? "elders" : "elder_hashes";
  size_t n = arr->u.count;
  if (n > CM_MAX_ELDERS) {
    cm__json_path_key(path, sizeof path, base, key);
    return cm__json_fail(d->err, CM_E_LIMIT, path, NULL,
                         "%zu elders, at most %d are kept", n, CM_MAX_ELDERS);
  }
  const cm__jval *v = cm__jdoc_first(arr);
  for (size_t i = 0; i < n; i++, v = cm__jdoc_next(d->doc, v)) {
    const char *s = v->type == CM__JSTRING ? cm__jdoc_str(d->doc, v) : NULL;
    if (s && ids && cm__json_id_ok(s, v->u.str.len)) {
      w->elders[i] = cm_id_hash(s);
      continue;
    }
    if (s && !ids && cm__json_parse_hash(s, &w->elders[i]) == 0)
      continue;
    cm__json_path_key(path, sizeof path, base, key);
    cm__json_path_index(item, sizeof item, path, i);
    if (!s)
      return cm__json_fail(d->err, CM_E_TYPE, item, NULL, "must be a string");
    if (ids)
      return cm__json_check_id(s, item, d->err);
    return cm__json_fail(d->err, CM_E_INVALID, item, NULL,
                         "must be 16 hex digits, not all zero");
  }
  w->n_elders = (int)n;
  return CM_OK;
}

enum {
  W_ID,
  W_SKILLS,
  W_LAT,
  W_LON,
  W_STATUS,
  W_SEEN,
  W_CAPACITY,
  W_JOBS,
  W_RATING,
  W_LEVEL,
  W_ELDERS,
  W_HASHES,
  W_KEYS
};

/* Decode element i (v) into *w. Returns CM_OK or an error. */
static cm_status decode_worker(cm__jdec *d, const cm__jval *v, size_t i,
                               cm_worker *w) {
  static const char *const keys[W_KEYS + 1] = {
      "id",      "skills",       "lat",        "lon",    "status",
      "seen_ms", "capacity",     "jobs_today", "rating", "level",
      "elders",  "elder_hashes", NULL};
  const cm__jval *f[W_KEYS];
  char base[CM__JSON_PATH_MAX], path[CM__JSON_PATH_MAX];
  cm_error *err = d->err;
  cm_status st;
  cm__json_path_index(base, sizeof base, "$.workers", i);
  cm_worker_init(w);
  if ((st = cm__jdoc_fields(d->doc, v, base, keys, f, err)) != CM_OK)
    return st;
  if (cm__jval_is(f[W_ID], CM__JSTRING, base, "id", 1, err) < 0)
    return err->code;
  const char *id = cm__jdoc_str(d->doc, f[W_ID]);
  size_t id_len = f[W_ID]->u.str.len;
  if (!cm__json_id_ok(id, id_len)) {
    cm__json_path_key(path, sizeof path, base, "id");
    return cm__json_check_id(id, path, err);
  }
  int prev = -1,
      put = cm__jidx_put(&d->workers, &d->ids, id, id_len, (int)i, &prev);
  if (put <= 0) {
    cm__json_path_key(path, sizeof path, base, "id");
    if (put < 0)
      return cm_error_set(err, CM_E_NOMEM, path, NULL);
    return cm__json_fail(err, CM_E_DUPLICATE, path, NULL,
                         "worker id \"%s\" is already used by $.workers[%d]",
                         id, prev);
  }
  memcpy(w->id, id, id_len + 1);
  if (cm__jval_is(f[W_SKILLS], CM__JARRAY, base, "skills", 1, err) < 0)
    return err->code;
  if ((st = cm__json_decode_skills(d, f[W_SKILLS], base, "skills",
                                   &w->skills)) != CM_OK)
    return st;
  /* Optional: a worker without a position is never a candidate of the
   * position search (only of explicit edges). */
  int has =
      cm__jval_position(f[W_LAT], f[W_LON], base, 0, &w->lat, &w->lon, err);
  if (has < 0)
    return err->code;
  w->has_position = has;
  if (cm__jval_is(f[W_STATUS], CM__JSTRING, base, "status", 0, err) < 0)
    return err->code;
  if (f[W_STATUS]) {
    const char *status = cm__jdoc_str(d->doc, f[W_STATUS]);
    int s = cm_worker_status_parse(status);
    if (s < 0)
      return cm__json_fail(err, CM_E_INVALID, base, "status",
                           "unknown status \"%.40s\" (available, offered, "
                           "busy, offline)",
                           status);
    w->status = (cm_worker_status)s;
  }
  if (cm__jval_int64(f[W_SEEN], base, "seen_ms", 0, &w->seen_ms, err) < 0 ||
      cm__jval_int(f[W_CAPACITY], base, "capacity", 0, &w->capacity, err) < 0 ||
      cm__jval_int(f[W_JOBS], base, "jobs_today", 0, &w->jobs_today, err) < 0 ||
      cm__jval_number(f[W_RATING], base, "rating", 0, &w->rating, err) < 0 ||
      cm__jval_number(f[W_LEVEL], base, "level", 0, &w->level, err) < 0)
    return err->code;
  return decode_elders(d, f[W_ELDERS], f[W_HASHES], base, w);
}

cm_status cm__json_decode_workers(cm__jdec *d, const cm__jval *arr) {
  cm_instance *inst = d->inst;
  if (cm__jval_is(arr, CM__JARRAY, "$", "workers", 1, d->err) < 0)
    return d->err->code;
  size_t n = arr->u.count;
  if (n > CM__JSON_MAX_WORKERS)
    return cm__json_fail(d->err, CM_E_LIMIT, "$.workers", NULL,
                         "%zu workers, at most %d are allowed", n,
                         CM__JSON_MAX_WORKERS);
  if (cm__jidx_init(&d->workers, n) != 0)
    return cm_error_set(d->err, CM_E_NOMEM, "$.workers", NULL);
  /* Sized once: cm_instance_worker_add then never reallocates. */
  if (n > 0 && cm_instance_reserve(inst, (int)n, inst->n_requests,
                                   inst->n_edges, d->err) != CM_OK)
    return d->err->code;
  const cm__jval *v = cm__jdoc_first(arr);
  for (size_t i = 0; i < n; i++, v = cm__jdoc_next(d->doc, v)) {
    cm_status st = cm__json_decode_worker(d, v, i);
    if (st != CM_OK)
      return st;
  }
  return CM_OK;
}

cm_status cm__json_decode_worker(cm__jdec *d, const cm__jval *v, size_t i) {
  cm_worker w;
  cm_status st = decode_worker(d, v, i, &w);
  if (st != CM_OK)
    return st;
  if (cm_instance_worker_add(d->inst, &w, NULL, d->err) != CM_OK)
    return d->err->code;
  return CM_OK;
}
