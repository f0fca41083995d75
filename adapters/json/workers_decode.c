/* workers_decode.c -- the "workers" array of an instance: one cm_worker per
 * element, ids indexed for the requests and edges that name them. */
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

/* Elders served recently: "elders" (ids, hashed here) or "elder_hashes"
 * (16 hex digits each, as cm_instance_to_json writes them). */
static cm_status decode_elders(cm__jdec *d, const json_t *obj, const char *base,
                               cm_worker *w) {
  const json_t *ids = NULL, *hashes = NULL;
  char path[CM__JSON_PATH_MAX], item[CM__JSON_PATH_MAX];
  if (cm__json_array(obj, base, "elders", 0, &ids, d->err) < 0 ||
      cm__json_array(obj, base, "elder_hashes", 0, &hashes, d->err) < 0)
    return d->err->code;
  if (ids && hashes)
    return cm__json_fail(d->err, CM_E_INVALID, base, "elder_hashes",
                         "give either elders or elder_hashes, not both");
  const json_t *arr = ids ? ids : hashes;
  if (!arr)
    return CM_OK;
  cm__json_path_key(path, sizeof path, base, ids ? "elders" : "elder_hashes");
  size_t n = json_array_size(arr);
  if (n > CM_MAX_ELDERS)
    return cm__json_fail(d->err, CM_E_LIMIT, path, NULL,
                         "%zu elders, at most %d are kept", n, CM_MAX_ELDERS);
  for (size_t i = 0; i < n; i++) {
    const json_t *v = json_array_get(arr, i);
    cm__json_path_index(item, sizeof item, path, i);
    if (!json_is_string(v))
      return cm__json_fail(d->err, CM_E_TYPE, item, NULL, "must be a string");
    const char *s = json_string_value(v);
    if (ids) {
      cm_status st = cm__json_check_id(s, item, d->err);
      if (st != CM_OK)
        return st;
      w->elders[i] = cm_id_hash(s);
    } else if (cm__json_parse_hash(s, &w->elders[i]) != 0) {
      return cm__json_fail(d->err, CM_E_INVALID, item, NULL,
                           "must be 16 hex digits, not all zero");
    }
  }
  w->n_elders = (int)n;
  return CM_OK;
}

/* Decode element i (v) into *w. Returns CM_OK or an error. */
static cm_status decode_worker(cm__jdec *d, const json_t *v, size_t i,
                               cm_worker *w) {
  static const char *const keys[] = {
      "id",      "skills",       "lat",        "lon",    "status",
      "seen_ms", "capacity",     "jobs_today", "rating", "level",
      "elders",  "elder_hashes", NULL};
  char base[CM__JSON_PATH_MAX], path[CM__JSON_PATH_MAX];
  const char *id, *status = NULL;
  const json_t *skills;
  cm_status st;
  cm__json_path_index(base, sizeof base, "$.workers", i);
  cm_worker_init(w);
  if ((st = cm__json_check_keys(v, base, keys, d->err)) != CM_OK)
    return st;
  if (cm__json_string(v, base, "id", 1, &id, d->err) < 0)
    return d->err->code;
  cm__json_path_key(path, sizeof path, base, "id");
  if ((st = cm__json_check_id(id, path, d->err)) != CM_OK)
    return st;
  int prev = -1, put = cm__idmap_put(&d->workers, id, (int)i, &prev);
  if (put < 0)
    return cm_error_set(d->err, CM_E_NOMEM, path, NULL);
  if (put == 0)
    return cm__json_fail(d->err, CM_E_DUPLICATE, path, NULL,
                         "worker id \"%s\" is already used by $.workers[%d]",
                         id, prev);
  memcpy(w->id, id, strlen(id) + 1);
  if (cm__json_array(v, base, "skills", 1, &skills, d->err) < 0)
    return d->err->code;
  cm__json_path_key(path, sizeof path, base, "skills");
  if ((st = cm__json_decode_skills(d, skills, path, &w->skills)) != CM_OK)
    return st;
  /* Optional: a worker without a position is never a candidate of the
   * position search (only of explicit edges). */
  int has = cm__json_position(v, base, 0, &w->lat, &w->lon, d->err);
  if (has < 0)
    return d->err->code;
  w->has_position = has;
  if (cm__json_string(v, base, "status", 0, &status, d->err) < 0)
    return d->err->code;
  if (status) {
    int s = cm_worker_status_parse(status);
    if (s < 0)
      return cm__json_fail(d->err, CM_E_INVALID, base, "status",
                           "unknown status \"%.40s\" (available, offered, "
                           "busy, offline)",
                           status);
    w->status = (cm_worker_status)s;
  }
  if (cm__json_int64(v, base, "seen_ms", 0, &w->seen_ms, d->err) < 0 ||
      cm__json_int(v, base, "capacity", 0, &w->capacity, d->err) < 0 ||
      cm__json_int(v, base, "jobs_today", 0, &w->jobs_today, d->err) < 0 ||
      cm__json_number(v, base, "rating", 0, &w->rating, d->err) < 0 ||
      cm__json_number(v, base, "level", 0, &w->level, d->err) < 0)
    return d->err->code;
  return decode_elders(d, v, base, w);
}

cm_status cm__json_decode_workers(cm__jdec *d, const json_t *root) {
  const json_t *arr;
  cm_instance *inst = d->inst;
  if (cm__json_array(root, "$", "workers", 1, &arr, d->err) < 0)
    return d->err->code;
  size_t n = json_array_size(arr);
  if (n > CM__JSON_MAX_WORKERS)
    return cm__json_fail(d->err, CM_E_LIMIT, "$.workers", NULL,
                         "%zu workers, at most %d are allowed", n,
                         CM__JSON_MAX_WORKERS);
  if (cm__idmap_init(&d->workers, n) != 0)
    return cm_error_set(d->err, CM_E_NOMEM, "$.workers", NULL);
  if (n > 0) {
    /* Sized once: cm_instance_add_worker then never reallocates. */
    inst->workers = malloc(n * sizeof *inst->workers);
    if (!inst->workers)
      return cm_error_set(d->err, CM_E_NOMEM, "$.workers", NULL);
    inst->cap_workers = (int)n;
  }
  for (size_t i = 0; i < n; i++) {
    cm_worker w;
    cm_status st = decode_worker(d, json_array_get(arr, i), i, &w);
    if (st != CM_OK)
      return st;
    if (cm_instance_add_worker(inst, &w, d->err) < 0)
      return d->err->code;
  }
  return CM_OK;
}
