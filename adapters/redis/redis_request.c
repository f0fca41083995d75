/* redis_request.c -- a request's record to JSON and back (see
 * redis_request.h), with jansson. Decoding is strict: every field must be
 * there with its type and range, so a damaged record is refused rather
 * than half-read. */
#include <jansson.h>
#include <string.h>

#include "json_util.h"
#include "redis_request.h"

#define FORMAT_VERSION 1

static json_t *id_array(const char (*ids)[CM_ID_MAX], int n) {
  json_t *a = json_array();
  for (int i = 0; a && i < n; i++)
    if (json_array_append_new(a, json_string(ids[i])) != 0) {
      json_decref(a);
      return NULL;
    }
  return a;
}

/* The numbers of a cost breakdown, in the order of the record:
 * distance_km, travel_min, the terms of CM_COST_TERMS, total. */
#define N_TERMS (3 + 0 CM_COST_TERMS(COUNT_TERM_))
#define COUNT_TERM_(field, key, doc) +1

static void terms_fields(cm_cost_terms *t, double *f[N_TERMS]) {
  int k = 0;
  f[k++] = &t->distance_km;
  f[k++] = &t->travel_min;
#define CM_X_TERM_(field, key, doc) f[k++] = &t->field;
  CM_COST_TERMS(CM_X_TERM_)
#undef CM_X_TERM_
  f[k++] = &t->total;
}

static json_t *terms_array(const cm_cost_terms *t) {
  cm_cost_terms c = *t;
  double *f[N_TERMS];
  json_t *a = json_array();
  terms_fields(&c, f);
  for (int k = 0; a && k < N_TERMS; k++)
    if (json_array_append_new(a, json_real(*f[k])) != 0) {
      json_decref(a);
      return NULL;
    }
  return a;
}

static json_t *workers_array(const cm_request_view *v) {
  json_t *a = json_array();
  for (int i = 0; a && i < v->n_workers; i++) {
    json_t *w = json_pack("{s:s, s:b, s:o}", "id", v->workers[i], "acc",
                          v->accepted[i], "terms", terms_array(&v->terms[i]));
    if (!w || json_array_append_new(a, w) != 0) {
      json_decref(a);
      return NULL;
    }
  }
  return a;
}

char *cm__rd_request_encode(const cm_request_view *v) {
  const cm_request_spec *s = &v->spec;
  json_t *o = json_pack(
      "{s:i, s:s, s:f, s:f, s:I, s:i, s:i, s:i, s:s, s:I, s:I, s:o, s:o}", "v",
      FORMAT_VERSION, "id", s->id, "lat", s->lat, "lon", s->lon, "skills",
      (json_int_t)s->skills, "mode", (int)s->skill_mode, "staff", s->staff,
      "urgency", (int)s->urgency, "elder", s->elder, "ws",
      (json_int_t)s->window_start_ms, "we", (json_int_t)s->window_end_ms,
      "pref", id_array(s->preferred, s->n_preferred), "excl",
      id_array(s->excluded, s->n_excluded));
  json_t *st = json_pack(
      "{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:i, s:i, s:I}", "state",
      (int)v->state, "created", (json_int_t)v->created_ms, "release",
      (json_int_t)v->release_ms, "ready", (json_int_t)v->ready_ms, "offered",
      (json_int_t)v->offered_ms, "expires", (json_int_t)v->expires_ms,
      "finished", (json_int_t)v->finished_ms, "workers", workers_array(v),
      "rejected", id_array(v->rejected, v->n_rejected), "reason",
      v->has_reason ? (int)v->reason : -1, "batches", v->batches, "version",
      (json_int_t)v->version);
  /* confirmation before dispatch: only when in use (older records
     read as none) */
  if (o && (s->confirm || v->hold_worker[0] || v->dismissed)) {
    json_t *cf =
        json_pack("{s:i, s:s, s:I, s:i}", "confirm", (int)s->confirm, "hold",
                  v->hold_worker, "hold_until", (json_int_t)v->hold_until_ms,
                  "dismissed", (int)v->dismissed);
    if (!cf || json_object_update(o, cf) != 0) {
      json_decref(o);
      o = NULL;
    }
    json_decref(cf);
  }
  /* operators' overrides, only when set (records without them read as
     none) */
  if (st && v->pinned[0] &&
      json_object_set_new(st, "pin", json_string(v->pinned)))
    json_decref(st), st = NULL;
  if (st && v->held && json_object_set_new(st, "held", json_true()))
    json_decref(st), st = NULL;
  /* the elder's address, only when set (older records: none) */
  if (o && s->address[0] &&
      json_object_set_new(o, "address", json_string(s->address)))
    json_decref(o), o = NULL;
  /* a diversion offer's job (docs/engine.md "Diversion"), only when set */
  if (st && v->divert_of[0] &&
      json_object_update_new(
          st, json_pack("{s:s,s:I,s:I}", "divert_of", v->divert_of,
                        "divert_version", (json_int_t)v->divert_version,
                        "divert_ms", (json_int_t)v->divert_ms)) != 0)
    json_decref(st), st = NULL;
  /* the first worker's arrival, only when set (older records: none) */
  if (st && v->arrived_ms &&
      json_object_set_new(st, "arrived", json_integer(v->arrived_ms)))
    json_decref(st), st = NULL;
  char *text = NULL;
  if (o && st && json_object_update(o, st) == 0)
    text = cm__json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
  json_decref(o);
  json_decref(st);
  return text;
}

/* ---- decoding ---- */

static int get_i64(const json_t *o, const char *k, json_int_t lo, json_int_t hi,
                   json_int_t *out) {
  const json_t *x = json_object_get(o, k);
  if (!json_is_integer(x))
    return -1;
  *out = json_integer_value(x);
  return *out >= lo && *out <= hi ? 0 : -1;
}

static int get_int(const json_t *o, const char *k, int lo, int hi, int *out) {
  json_int_t v;
  if (get_i64(o, k, lo, hi, &v) != 0)
    return -1;
  *out = (int)v;
  return 0;
}

static int get_time(const json_t *o, const char *k, int64_t *out) {
  json_int_t v;
  if (get_i64(o, k, 0, INT64_MAX, &v) != 0)
    return -1;
  *out = (int64_t)v;
  return 0;
}

static int get_real(const json_t *x, double *out) {
  if (!json_is_number(x))
    return -1;
  *out = json_number_value(x);
  return 0;
}

static int get_text(const json_t *x, char *out, int allow_empty) {
  if (!json_is_string(x))
    return -1;
  size_t n = json_string_length(x);
  if (n >= CM_ID_MAX || (!allow_empty && n == 0) ||
      memchr(json_string_value(x), 0, n))
    return -1;
  memcpy(out, json_string_value(x), n);
  out[n] = '\0';
  return 0;
}

/* A diversion offer's job, when the record has one (older: none). */
static int get_divert(const json_t *o, cm_request_view *v) {
  const json_t *d = json_object_get(o, "divert_of");
  json_int_t ver = 0;
  if (!d)
    return 0;
  if (get_text(d, v->divert_of, 0) != 0 ||
      get_time(o, "divert_ms", &v->divert_ms) != 0 ||
      get_i64(o, "divert_version", 1, INT64_MAX, &ver) != 0)
    return -1;
  v->divert_version = (uint64_t)ver;
  return 0;
}

/* An address (1..CM_ADDRESS_MAX - 1 bytes, no NUL) into out. */
static int get_address(const json_t *x, char *out) {
  if (!json_is_string(x))
    return -1;
  size_t n = json_string_length(x);
  if (n == 0 || n >= CM_ADDRESS_MAX || memchr(json_string_value(x), 0, n))
    return -1;
  memcpy(out, json_string_value(x), n);
  out[n] = '\0';
  return 0;
}

static int get_ids(const json_t *o, const char *k, char (*ids)[CM_ID_MAX],
                   int max, int *n) {
  const json_t *a = json_object_get(o, k);
  if (!json_is_array(a) || json_array_size(a) > (size_t)max)
    return -1;
  *n = (int)json_array_size(a);
  for (int i = 0; i < *n; i++)
    if (get_text(json_array_get(a, (size_t)i), ids[i], 0) != 0)
      return -1;
  return 0;
}

static int get_workers(const json_t *o, cm_request_view *v) {
  const json_t *a = json_object_get(o, "workers");
  if (!json_is_array(a) || json_array_size(a) > CM_MAX_STAFF)
    return -1;
  v->n_workers = (int)json_array_size(a);
  for (int i = 0; i < v->n_workers; i++) {
    const json_t *w = json_array_get(a, (size_t)i);
    const json_t *acc = json_object_get(w, "acc");
    const json_t *t = json_object_get(w, "terms");
    if (get_text(json_object_get(w, "id"), v->workers[i], 0) != 0 ||
        !json_is_boolean(acc) || !json_is_array(t) ||
        json_array_size(t) != N_TERMS)
      return -1;
    v->accepted[i] = json_is_true(acc);
    double *f[N_TERMS];
    terms_fields(&v->terms[i], f);
    for (size_t k = 0; k < N_TERMS; k++)
      if (get_real(json_array_get(t, k), f[k]) != 0)
        return -1;
  }
  return 0;
}

/* The confirmation fields (all or none: a record without them is one
 * that never awaited confirmation). */
static int get_confirm(const json_t *o, cm_request_view *v) {
  int confirm, dismissed;
  if (!json_object_get(o, "confirm"))
    return 0;
  if (get_int(o, "confirm", 0, CM_CONFIRM_COUNT - 1, &confirm) != 0 ||
      get_text(json_object_get(o, "hold"), v->hold_worker, 1) != 0 ||
      get_time(o, "hold_until", &v->hold_until_ms) != 0 ||
      get_int(o, "dismissed", 0, CM_DISMISS_COUNT - 1, &dismissed) != 0)
    return -1;
  v->spec.confirm = (cm_confirm_mode)confirm;
  v->dismissed = (cm_dismiss_reason)dismissed;
  return 0;
}

static int decode(const json_t *o, cm_request_view *v) {
  cm_request_spec *s = &v->spec;
  json_int_t skills, version;
  int fmt, mode, urgency, state, reason;
  if (!json_is_object(o) || get_int(o, "v", 0, 1000, &fmt) != 0 ||
      fmt != FORMAT_VERSION)
    return -1;
  if (get_text(json_object_get(o, "id"), s->id, 0) != 0 ||
      get_real(json_object_get(o, "lat"), &s->lat) != 0 ||
      get_real(json_object_get(o, "lon"), &s->lon) != 0 ||
      get_i64(o, "skills", 0, UINT32_MAX, &skills) != 0 ||
      get_int(o, "mode", 0, 1, &mode) != 0 ||
      get_int(o, "staff", 1, CM_MAX_STAFF, &s->staff) != 0 ||
      get_int(o, "urgency", 0, CM_URGENCY_COUNT - 1, &urgency) != 0 ||
      get_text(json_object_get(o, "elder"), s->elder, 1) != 0 ||
      get_time(o, "ws", &s->window_start_ms) != 0 ||
      get_time(o, "we", &s->window_end_ms) != 0 ||
      get_ids(o, "pref", s->preferred, CM_MAX_PREFS, &s->n_preferred) != 0 ||
      get_ids(o, "excl", s->excluded, CM_MAX_PREFS, &s->n_excluded) != 0)
    return -1;
  s->skills = (cm_skillset)skills;
  s->skill_mode = (cm_skill_mode)mode;
  s->urgency = (cm_urgency)urgency;
  if (get_int(o, "state", 0, CM_REQ_STATE_COUNT - 1, &state) != 0 ||
      get_time(o, "created", &v->created_ms) != 0 ||
      get_time(o, "release", &v->release_ms) != 0 ||
      get_time(o, "ready", &v->ready_ms) != 0 ||
      get_time(o, "offered", &v->offered_ms) != 0 ||
      get_time(o, "expires", &v->expires_ms) != 0 ||
      get_time(o, "finished", &v->finished_ms) != 0 || get_workers(o, v) != 0 ||
      get_ids(o, "rejected", v->rejected, CM_MAX_REJECTS, &v->n_rejected) !=
          0 ||
      get_int(o, "reason", -1, CM_REASON_COUNT - 1, &reason) != 0 ||
      get_int(o, "batches", 0, INT32_MAX, &v->batches) != 0 ||
      get_i64(o, "version", 1, INT64_MAX, &version) != 0 ||
      get_confirm(o, v) != 0)
    return -1;
  const json_t *pin = json_object_get(o, "pin"),
               *held = json_object_get(o, "held");
  if ((pin && get_text(pin, v->pinned, 0) != 0) ||
      (held && !json_is_boolean(held)))
    return -1;
  v->held = held && json_is_true(held);
  const json_t *addr = json_object_get(o, "address");
  if (addr && get_address(addr, s->address) != 0)
    return -1;
  if (json_object_get(o, "arrived") &&
      get_time(o, "arrived", &v->arrived_ms) != 0)
    return -1;
  if (get_divert(o, v) != 0)
    return -1;
  v->state = (cm_request_state)state;
  v->has_reason = reason >= 0;
  v->reason =
      reason >= 0 ? (cm_unassigned_reason)reason : CM_REASON_NO_CANDIDATE;
  v->version = (uint64_t)version;
  return 0;
}

int cm__rd_request_decode(const char *text, size_t n, cm_request_view *out) {
  memset(out, 0, sizeof *out);
  json_t *o = json_loadb(text, n, JSON_REJECT_DUPLICATES, NULL);
  int rc = o ? decode(o, out) : -1;
  json_decref(o);
  if (rc != 0)
    memset(out, 0, sizeof *out);
  return rc;
}
