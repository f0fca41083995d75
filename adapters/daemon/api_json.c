/* api_json.c -- carematchd's wire format (see api_json.h). Field readers
 * and paths come from the JSON codec of `carematch solve`
 * (adapters/json/include/json_util.h), so both speak of errors the same way. */
#include <string.h>

#include "api_json.h"
#include "json_util.h"

static const char *const mode_names[] = {"all", "any"};
cm_status cmd_decode_id(const json_t *o, const char *base, const char *key,
                        char *out, cm_error *err) {
  const char *s;
  char path[CM__JSON_PATH_MAX];
  int r = cm__json_string(o, base, key, 1, &s, err);
  if (r < 0)
    return err->code;
  cm__json_path_key(path, sizeof path, base, key);
  if (cm__json_check_id(s, path, err) != CM_OK)
    return err->code;
  memset(out, 0, CM_ID_MAX);
  memcpy(out, s, strlen(s));
  return CM_OK;
}

/* An optional list of ids at o[key] into ids (at most max). */
static cm_status id_list(const json_t *o, const char *base, const char *key,
                         char (*ids)[CM_ID_MAX], int max, int *n,
                         cm_error *err) {
  const json_t *a;
  char path[CM__JSON_PATH_MAX], item[CM__JSON_PATH_MAX];
  *n = 0;
  int r = cm__json_array(o, base, key, 0, &a, err);
  if (r <= 0)
    return r < 0 ? err->code : CM_OK;
  cm__json_path_key(path, sizeof path, base, key);
  if (json_array_size(a) > (size_t)max)
    return cm__json_fail(err, CM_E_LIMIT, path, NULL, "at most %d ids", max);
  for (size_t i = 0; i < json_array_size(a); i++) {
    const json_t *v = json_array_get(a, i);
    cm__json_path_index(item, sizeof item, path, i);
    if (!json_is_string(v))
      return cm__json_fail(err, CM_E_TYPE, item, NULL, "must be a string");
    if (cm__json_check_id(json_string_value(v), item, err) != CM_OK)
      return err->code;
    memset(ids[*n], 0, CM_ID_MAX);
    memcpy(ids[*n], json_string_value(v), json_string_length(v));
    (*n)++;
  }
  return CM_OK;
}

/* Role names at o[key] into a skill set. */
static cm_status skills(const cm_taxonomy *t, const json_t *o, const char *base,
                        const char *key, int required, cm_skillset *out,
                        cm_error *err) {
  const json_t *a;
  char path[CM__JSON_PATH_MAX], item[CM__JSON_PATH_MAX];
  int r = cm__json_array(o, base, key, required, &a, err);
  if (r <= 0)
    return r < 0 ? err->code : CM_OK;
  cm__json_path_key(path, sizeof path, base, key);
  *out = 0;
  for (size_t i = 0; i < json_array_size(a); i++) {
    const json_t *v = json_array_get(a, i);
    cm__json_path_index(item, sizeof item, path, i);
    if (!json_is_string(v))
      return cm__json_fail(err, CM_E_TYPE, item, NULL,
                           "a skill name must be a string");
    int s = cm_taxonomy_find(t, json_string_value(v));
    if (s < 0)
      return cm__json_fail(err, CM_E_UNKNOWN_SKILL, item, NULL,
                           "'%s' is not a skill of the taxonomy",
                           json_string_value(v));
    *out |= 1u << s;
  }
  if (!*out)
    return cm__json_fail(err, CM_E_INVALID, path, NULL,
                         "at least one skill is needed");
  return CM_OK;
}

/* A name among names (count n) at o[key]; *out untouched when absent. */
static cm_status enum_field(const json_t *o, const char *base, const char *key,
                            const char *const *names, int n, int *out,
                            cm_error *err) {
  const char *s;
  int r = cm__json_string(o, base, key, 0, &s, err);
  if (r <= 0)
    return r < 0 ? err->code : CM_OK;
  for (int i = 0; i < n; i++)
    if (!strcmp(s, names[i])) {
      *out = i;
      return CM_OK;
    }
  return cm__json_fail(err, CM_E_INVALID, base, key, "unknown value '%s'", s);
}

cm_status cmd_decode_position(const json_t *o, const char *base, double *lat,
                              double *lon, cm_error *err) {
  if (cm__json_number(o, base, "lat", 1, lat, err) < 0 ||
      cm__json_number(o, base, "lon", 1, lon, err) < 0)
    return err->code;
  if (!cm_lat_valid(*lat))
    return cm__json_fail(err, CM_E_RANGE, base, "lat", "must be in [-90, 90]");
  if (!cm_lon_valid(*lon))
    return cm__json_fail(err, CM_E_RANGE, base, "lon",
                         "must be in [-180, 180]");
  return CM_OK;
}

/* The elder's address at o["address"], optional, into out (at least
 * CM_ADDRESS_MAX bytes): 1..200 bytes of UTF-8 (jansson checks it) with
 * no control character. Personal data: the error never quotes it. */
static cm_status address(const json_t *o, const char *base, char *out,
                         cm_error *err) {
  const json_t *x = json_object_get(o, "address");
  if (!x)
    return CM_OK;
  if (!json_is_string(x))
    return cm__json_fail(err, CM_E_INVALID, base, "address",
                         "must be a string");
  const unsigned char *s = (const unsigned char *)json_string_value(x);
  size_t n = json_string_length(x);
  if (n < 1 || n >= CM_ADDRESS_MAX)
    return cm__json_fail(err, CM_E_INVALID, base, "address",
                         "must be 1..%d bytes", CM_ADDRESS_MAX - 1);
  for (size_t i = 0; i < n; i++)
    /* C0, DEL, and C1 (U+0080..U+009F: 0xC2 0x80..0x9F in UTF-8) */
    if (s[i] < 0x20 || s[i] == 0x7f ||
        (s[i] == 0xc2 && i + 1 < n && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f))
      return cm__json_fail(err, CM_E_INVALID, base, "address",
                           "must not hold a control character");
  memcpy(out, s, n);
  out[n] = '\0';
  return CM_OK;
}

/* A request's skills: its service's (skills, mode and staff) or its own
 * "skills" (mode all, one person), never both. */
static cm_status decode_service(const cmd_config *c, const json_t *o,
                                const char *base, cm_request_spec *out,
                                cm_error *err) {
  const char *svc = NULL;
  if (cm__json_string(o, base, "service", 0, &svc, err) < 0)
    return err->code;
  out->skill_mode = CM_SKILLS_ALL;
  out->staff = 1;
  if (!svc)
    return skills(&c->engine.taxonomy, o, base, "skills", 1, &out->skills, err);
  const cmd_service *s = cmd_config_service(c, svc);
  if (!s)
    return cm__json_fail(err, CM_E_INVALID, base, "service",
                         "unknown service '%s'", svc);
  if (json_object_get(o, "skills"))
    return cm__json_fail(err, CM_E_INVALID, base, "skills",
                         "give skills or a service, not both");
  out->skills = s->skills;
  out->skill_mode = s->mode;
  out->staff = s->staff;
  return CM_OK;
}

cm_status cmd_decode_request(const cmd_config *c, const json_t *o,
                             cm_request_spec *out, cm_error *err) {
  static const char *const keys[] = {
      "id",         "lat",      "lon",     "skills",  "service",
      "skill_mode", "staff",    "urgency", "elder",   "window",
      "preferred",  "excluded", "confirm", "address", NULL};
  static const char *const window_keys[] = {"start_ms", "end_ms", NULL};
  const char *base = "$";
  memset(out, 0, sizeof *out);
  if (cm__json_check_keys(o, base, keys, err) != CM_OK ||
      cmd_decode_id(o, base, "id", out->id, err) != CM_OK ||
      cmd_decode_position(o, base, &out->lat, &out->lon, err) != CM_OK ||
      decode_service(c, o, base, out, err) != CM_OK)
    return err->code;
  int mode = (int)out->skill_mode, urgency = CM_URGENCY_NORMAL;
  const char *urg;
  if (enum_field(o, base, "skill_mode", mode_names, 2, &mode, err) != CM_OK ||
      cm__json_int(o, base, "staff", 0, &out->staff, err) < 0 ||
      cm__json_string(o, base, "urgency", 0, &urg, err) < 0)
    return err->code;
  if (json_object_get(o, "urgency") && (urgency = cm_urgency_parse(urg)) < 0)
    return cm__json_fail(err, CM_E_INVALID, base, "urgency",
                         "unknown urgency '%s' (emergency, urgent, normal, "
                         "scheduled)",
                         urg);
  out->skill_mode = (cm_skill_mode)mode;
  out->urgency = (cm_urgency)urgency;
  if (out->staff < 1 || out->staff > CM_MAX_STAFF)
    return cm__json_fail(err, CM_E_RANGE, base, "staff", "must be 1..4");
  if (json_object_get(o, "elder") &&
      cmd_decode_id(o, base, "elder", out->elder, err) != CM_OK)
    return err->code;
  const json_t *win;
  int r = cm__json_object(o, base, "window", 0, &win, err);
  if (r < 0)
    return err->code;
  if (r > 0) {
    const char *wb = "$.window";
    if (cm__json_check_keys(win, wb, window_keys, err) != CM_OK ||
        cm__json_int64(win, wb, "start_ms", 1, &out->window_start_ms, err) <
            0 ||
        cm__json_int64(win, wb, "end_ms", 0, &out->window_end_ms, err) < 0)
      return err->code;
  }
  if (id_list(o, base, "preferred", out->preferred, CM_MAX_PREFS,
              &out->n_preferred, err) != CM_OK ||
      id_list(o, base, "excluded", out->excluded, CM_MAX_PREFS,
              &out->n_excluded, err) != CM_OK)
    return err->code;
  /* confirmation before dispatch (routes_confirm.c) */
  const char *confirm = NULL;
  if (cm__json_string(o, base, "confirm", 0, &confirm, err) < 0)
    return err->code;
  int cmode = confirm ? cm_confirm_mode_parse(confirm) : CM_CONFIRM_NONE;
  if (cmode < 0)
    return cm__json_fail(err, CM_E_INVALID, base, "confirm",
                         "must be none or operator");
  out->confirm = (cm_confirm_mode)cmode;
  return address(o, base, out->address, err);
}

static json_t *ids_array(const char (*ids)[CM_ID_MAX], int n) {
  json_t *a = json_array();
  for (int i = 0; a && i < n; i++)
    if (cm__json_append(a, cm__json_text(ids[i])) != 0) {
      json_decref(a);
      return NULL;
    }
  return a;
}

/* distance_km, travel_min, the terms of CM_COST_TERMS, total. */
static json_t *terms(const cm_cost_terms *t) {
  json_t *o = json_object();
  if (!o || cm__json_set(o, "distance_km", json_real(t->distance_km)) ||
      cm__json_set(o, "travel_min", json_real(t->travel_min)))
    goto fail;
#define CM_X_TERM_(field, key, doc)                                            \
  if (cm__json_set(o, key, json_real(t->field)))                               \
    goto fail;
  CM_COST_TERMS(CM_X_TERM_)
#undef CM_X_TERM_
  if (cm__json_set(o, "total", json_real(t->total)))
    goto fail;
  return o;
fail:
  json_decref(o);
  return NULL;
}

json_t *cmd_encode_view(const cm_taxonomy *t, const cm_request_view *v) {
  const cm_request_spec *s = &v->spec;
  json_t *o = json_object(), *workers = json_array();
  if (!o || !workers)
    goto fail;
  for (int i = 0; i < v->n_workers; i++)
    if (cm__json_append(workers, json_pack("{s:o,s:b,s:o}", "id",
                                           cm__json_text(v->workers[i]),
                                           "accepted", v->accepted[i], "cost",
                                           terms(&v->terms[i]))) != 0)
      goto fail;
  if (cm__json_set(o, "id", cm__json_text(s->id)) ||
      cm__json_set(o, "state", json_string(cm_request_state_name(v->state))) ||
      cm__json_set(o, "lat", json_real(s->lat)) ||
      cm__json_set(o, "lon", json_real(s->lon)) ||
      cm__json_set(o, "skills", cm__json_skills_new(t, s->skills)) ||
      cm__json_set(o, "skill_mode", json_string(mode_names[s->skill_mode])) ||
      cm__json_set(o, "staff", json_integer(s->staff)) ||
      cm__json_set(o, "urgency", json_string(cm_urgency_name(s->urgency))) ||
      cm__json_set(o, "created_ms", json_integer(v->created_ms)) ||
      cm__json_set(o, "release_ms", json_integer(v->release_ms)) ||
      cm__json_set(o, "version", json_integer((json_int_t)v->version)) ||
      cm__json_set(o, "batches", json_integer(v->batches)) ||
      cm__json_set(o, "workers", workers))
    goto fail_o;
  workers = NULL;
  if ((s->elder[0] && cm__json_set(o, "elder", cm__json_text(s->elder))) ||
      (s->address[0] &&
       cm__json_set(o, "address", cm__json_text(s->address))) ||
      (s->window_start_ms &&
       cm__json_set(o, "window",
                    json_pack("{s:I,s:I}", "start_ms",
                              (json_int_t)s->window_start_ms, "end_ms",
                              (json_int_t)s->window_end_ms))) ||
      (s->n_preferred &&
       cm__json_set(o, "preferred", ids_array(s->preferred, s->n_preferred))) ||
      (s->n_excluded &&
       cm__json_set(o, "excluded", ids_array(s->excluded, s->n_excluded))) ||
      (v->offered_ms &&
       cm__json_set(o, "offered_ms", json_integer(v->offered_ms))) ||
      (v->state == CM_REQ_OFFERED &&
       cm__json_set(o, "expires_ms", json_integer(v->expires_ms))) ||
      (v->finished_ms &&
       cm__json_set(o, "finished_ms", json_integer(v->finished_ms))) ||
      (v->arrived_ms &&
       cm__json_set(o, "arrived_ms", json_integer(v->arrived_ms))) ||
      (v->n_rejected &&
       cm__json_set(o, "rejected", ids_array(v->rejected, v->n_rejected))) ||
      (v->has_reason && v->state == CM_REQ_PENDING &&
       cm__json_set(o, "unassigned_reason",
                    json_string(cm_reason_name(v->reason)))))
    goto fail_o;
  /* operators' overrides */
  if ((v->pinned[0] &&
       cm__json_set(o, "pinned_worker", cm__json_text(v->pinned))) ||
      cm__json_set(o, "held_by_operator", json_boolean(v->held)))
    goto fail_o;
  /* a diversion offer: the job her accept gives back (docs/engine.md) */
  if (v->state == CM_REQ_OFFERED && v->divert_of[0] &&
      v->divert_ms == v->offered_ms &&
      cm__json_set(o, "diverts_from", cm__json_text(v->divert_of)))
    goto fail_o;
  return o;
fail:
  json_decref(workers);
fail_o:
  json_decref(o);
  return NULL;
}

cm_status cmd_decode_worker(const cmd_config *c, const char *id,
                            const json_t *o, cm_worker *out, cm_error *err) {
  static const char *const keys[] = {"skills", "on_shift",   "lat",
                                     "lon",    "capacity",   "rating",
                                     "level",  "jobs_today", NULL};
  const char *base = "$";
  cm_worker_init(out);
  memcpy(out->id, id, strnlen(id, CM_ID_MAX - 1));
  int on_shift = 1;
  if (cm__json_check_keys(o, base, keys, err) != CM_OK ||
      skills(&c->engine.taxonomy, o, base, "skills", 1, &out->skills, err) !=
          CM_OK)
    return err->code;
  const json_t *b = json_object_get(o, "on_shift");
  if (b && !json_is_boolean(b))
    return cm__json_fail(err, CM_E_TYPE, base, "on_shift",
                         "must be true or false");
  if (b)
    on_shift = json_is_true(b);
  if (json_object_get(o, "lat") || json_object_get(o, "lon")) {
    if (cmd_decode_position(o, base, &out->lat, &out->lon, err) != CM_OK)
      return err->code;
    out->has_position = 1;
  }
  if (cm__json_int(o, base, "capacity", 0, &out->capacity, err) < 0 ||
      cm__json_number(o, base, "rating", 0, &out->rating, err) < 0 ||
      cm__json_number(o, base, "level", 0, &out->level, err) < 0 ||
      cm__json_int(o, base, "jobs_today", 0, &out->jobs_today, err) < 0)
    return err->code;
  if (out->capacity < 1 || out->capacity > 64)
    return cm__json_fail(err, CM_E_RANGE, base, "capacity", "must be 1..64");
  if (!(out->rating >= 0 && out->rating <= 5))
    return cm__json_fail(err, CM_E_RANGE, base, "rating", "must be 0..5");
  if (!(out->level >= 1 && out->level <= 5))
    return cm__json_fail(err, CM_E_RANGE, base, "level", "must be 1..5");
  if (out->jobs_today < 0)
    return cm__json_fail(err, CM_E_RANGE, base, "jobs_today", "must be >= 0");
  out->status = on_shift ? CM_WORKER_AVAILABLE : CM_WORKER_OFFLINE;
  return CM_OK;
}

json_t *cmd_encode_worker(const cm_taxonomy *t, const cm_worker *w, int jobs) {
  json_t *o = json_pack("{s:o,s:o,s:s,s:b,s:i,s:i,s:i,s:f,s:f}", "id",
                        cm__json_text(w->id), "skills",
                        cm__json_skills_new(t, w->skills), "status",
                        cm_worker_status_name(w->status), "on_shift",
                        w->status != CM_WORKER_OFFLINE, "capacity", w->capacity,
                        "jobs", jobs < 0 ? 0 : jobs, "jobs_today",
                        w->jobs_today, "rating", w->rating, "level", w->level);
  if (o && w->has_position &&
      (cm__json_set(o, "lat", json_real(w->lat)) ||
       cm__json_set(o, "lon", json_real(w->lon)) ||
       cm__json_set(o, "seen_ms", json_integer(w->seen_ms)))) {
    json_decref(o);
    return NULL;
  }
  return o;
}

/* A standby suggestion: the worker and the place, no request
 * (docs/engine.md "Standby"). */
static json_t *standby_event(const cm_event *ev) {
  return json_pack("{s:I,s:s,s:I,s:o,s:{s:f,s:f}}", "seq", (json_int_t)ev->seq,
                   "type", cm_event_type_name(ev->type), "at_ms",
                   (json_int_t)ev->at_ms, "worker", cm__json_text(ev->worker),
                   "standby", "lat", ev->lat, "lon", ev->lon);
}

json_t *cmd_encode_event(const cm_event *ev) {
  if (ev->type == CM_EV_STANDBY)
    return standby_event(ev);
  json_t *o = json_pack(
      "{s:I,s:s,s:I,s:o,s:s,s:s}", "seq", (json_int_t)ev->seq, "type",
      cm_event_type_name(ev->type), "at_ms", (json_int_t)ev->at_ms, "request",
      cm__json_text(ev->request), "from", cm_request_state_name(ev->from), "to",
      cm_request_state_name(ev->to));
  if (o && ev->worker[0] &&
      cm__json_set(o, "worker", cm__json_text(ev->worker)))
    goto fail;
  if (o && ev->actor[0] && cm__json_set(o, "actor", cm__json_text(ev->actor)))
    goto fail;
  if (o && ev->type == CM_EV_DISMISSED &&
      cm__json_set(
          o, "reason",
          json_string(cm_dismiss_reason_name((cm_dismiss_reason)ev->dismiss))))
    goto fail;
  if (o && ev->to_worker[0] &&
      cm__json_set(o, "to_worker", cm__json_text(ev->to_worker)))
    goto fail;
  if (o && ev->type == CM_EV_OFFERED &&
      (cm__json_set(o, "expires_ms", json_integer(ev->expires_ms)) ||
       cm__json_set(o, "cost", terms(&ev->terms))))
    goto fail;
  return o;
fail:
  json_decref(o);
  return NULL;
}

json_t *cmd_encode_weights(const cm_weights *w) {
  return cm__json_weights_new(w);
}
