/* requests_decode.c -- the "requests" array of an instance: one cm_request
 * per element; preferred and excluded workers resolved from their ids, so
 * the workers must be decoded first. */
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

/* Resolve the worker ids of obj[key] into list (deduplicated).
 * Returns CM_OK or an error. */
static cm_status worker_list(cm__jdec *d, const json_t *obj, const char *base,
                             const char *key, int *list, int *count) {
  char path[CM__JSON_PATH_MAX], item[CM__JSON_PATH_MAX];
  const json_t *arr;
  int r = cm__json_array(obj, base, key, 0, &arr, d->err);
  if (r <= 0)
    return r < 0 ? d->err->code : CM_OK;
  cm__json_path_key(path, sizeof path, base, key);
  size_t n = json_array_size(arr);
  if (n > CM_MAX_PREFS)
    return cm__json_fail(d->err, CM_E_LIMIT, path, NULL,
                         "%zu workers, at most %d are allowed", n,
                         CM_MAX_PREFS);
  int used = 0;
  for (size_t i = 0; i < n; i++) {
    const json_t *v = json_array_get(arr, i);
    cm__json_path_index(item, sizeof item, path, i);
    if (!json_is_string(v))
      return cm__json_fail(d->err, CM_E_TYPE, item, NULL,
                           "must be a worker id (a string)");
    int w = cm__idmap_get(&d->workers, json_string_value(v));
    if (w < 0)
      return cm__json_fail(d->err, CM_E_UNKNOWN_ID, item, NULL,
                           "no worker has the id \"%.64s\"",
                           json_string_value(v));
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
static cm_status decode_elder(cm__jdec *d, const json_t *obj, const char *base,
                              cm_request *r) {
  char path[CM__JSON_PATH_MAX];
  const char *id = NULL, *hash = NULL;
  cm_status st;
  if (cm__json_string(obj, base, "elder", 0, &id, d->err) < 0 ||
      cm__json_string(obj, base, "elder_hash", 0, &hash, d->err) < 0)
    return d->err->code;
  if (id && hash)
    return cm__json_fail(d->err, CM_E_INVALID, base, "elder_hash",
                         "give either elder or elder_hash, not both");
  if (id) {
    cm__json_path_key(path, sizeof path, base, "elder");
    if ((st = cm__json_check_id(id, path, d->err)) != CM_OK)
      return st;
    r->elder = cm_id_hash(id);
  } else if (hash && cm__json_parse_hash(hash, &r->elder) != 0) {
    return cm__json_fail(d->err, CM_E_INVALID, base, "elder_hash",
                         "must be 16 hex digits, not all zero");
  }
  return CM_OK;
}

/* Decode element i (v) into *r. Returns CM_OK or an error. */
static cm_status decode_request(cm__jdec *d, const json_t *v, size_t i,
                                cm_request *r) {
  static const char *const keys[] = {
      "id",        "lat",      "lon",      "skills", "skill_mode",
      "staff",     "urgency",  "waited_s", "elder",  "elder_hash",
      "preferred", "excluded", NULL};
  char base[CM__JSON_PATH_MAX], path[CM__JSON_PATH_MAX];
  const char *id, *mode = NULL, *urgency = NULL;
  const json_t *skills;
  cm_status st;
  cm__json_path_index(base, sizeof base, "$.requests", i);
  cm_request_init(r);
  if ((st = cm__json_check_keys(v, base, keys, d->err)) != CM_OK)
    return st;
  if (cm__json_string(v, base, "id", 1, &id, d->err) < 0)
    return d->err->code;
  cm__json_path_key(path, sizeof path, base, "id");
  if ((st = cm__json_check_id(id, path, d->err)) != CM_OK)
    return st;
  int prev = -1, put = cm__idmap_put(&d->requests, id, (int)i, &prev);
  if (put < 0)
    return cm_error_set(d->err, CM_E_NOMEM, path, NULL);
  if (put == 0)
    return cm__json_fail(d->err, CM_E_DUPLICATE, path, NULL,
                         "request id \"%s\" is already used by "
                         "$.requests[%d]",
                         id, prev);
  memcpy(r->id, id, strlen(id) + 1);
  int has = cm__json_position(v, base, !d->edge_mode, &r->lat, &r->lon, d->err);
  if (has < 0)
    return d->err->code;
  r->has_position = has;
  if (cm__json_array(v, base, "skills", 1, &skills, d->err) < 0)
    return d->err->code;
  cm__json_path_key(path, sizeof path, base, "skills");
  if ((st = cm__json_decode_skills(d, skills, path, &r->skills)) != CM_OK)
    return st;
  if (cm__json_string(v, base, "skill_mode", 0, &mode, d->err) < 0)
    return d->err->code;
  if (mode && strcmp(mode, "all") == 0)
    r->skill_mode = CM_SKILLS_ALL;
  else if (mode && strcmp(mode, "any") == 0)
    r->skill_mode = CM_SKILLS_ANY;
  else if (mode)
    return cm__json_fail(d->err, CM_E_INVALID, base, "skill_mode",
                         "unknown skill_mode \"%.40s\" (all, any)", mode);
  if (cm__json_int(v, base, "staff", 0, &r->staff, d->err) < 0 ||
      cm__json_string(v, base, "urgency", 0, &urgency, d->err) < 0)
    return d->err->code;
  if (urgency) {
    int u = cm_urgency_parse(urgency);
    if (u < 0)
      return cm__json_fail(d->err, CM_E_INVALID, base, "urgency",
                           "unknown urgency \"%.40s\" (emergency, urgent, "
                           "normal, scheduled)",
                           urgency);
    r->urgency = (cm_urgency)u;
  }
  if (cm__json_number(v, base, "waited_s", 0, &r->waited_s, d->err) < 0)
    return d->err->code;
  if ((st = decode_elder(d, v, base, r)) != CM_OK)
    return st;
  if ((st = worker_list(d, v, base, "preferred", r->preferred,
                        &r->n_preferred)) != CM_OK)
    return st;
  return worker_list(d, v, base, "excluded", r->excluded, &r->n_excluded);
}

cm_status cm__json_decode_requests(cm__jdec *d, const json_t *root) {
  const json_t *arr;
  cm_instance *inst = d->inst;
  if (cm__json_array(root, "$", "requests", 1, &arr, d->err) < 0)
    return d->err->code;
  size_t n = json_array_size(arr);
  if (n > CM__JSON_MAX_REQUESTS)
    return cm__json_fail(d->err, CM_E_LIMIT, "$.requests", NULL,
                         "%zu requests, at most %d are allowed", n,
                         CM__JSON_MAX_REQUESTS);
  if (cm__idmap_init(&d->requests, n) != 0)
    return cm_error_set(d->err, CM_E_NOMEM, "$.requests", NULL);
  if (n > 0) {
    inst->requests = malloc(n * sizeof *inst->requests);
    if (!inst->requests)
      return cm_error_set(d->err, CM_E_NOMEM, "$.requests", NULL);
    inst->cap_requests = (int)n;
  }
  for (size_t i = 0; i < n; i++) {
    cm_request r;
    cm_status st = decode_request(d, json_array_get(arr, i), i, &r);
    if (st != CM_OK)
      return st;
    if (cm_instance_add_request(inst, &r, d->err) < 0)
      return d->err->code;
  }
  return CM_OK;
}
