/* redis_worker.c -- a worker as a Redis hash, and back (redis_worker.h).
 * Decoding is strict: a field that does not parse makes the whole hash
 * malformed, so damage in Redis shows as CM_E_IO instead of a wrong
 * answer. */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "redis_worker.h"

void cm__rd_worker_args(cm__rd_argv *a, const cm_worker *w) {
  int pos = w->has_position ? 1 : 0;
  cm__rd_argv_add(a, w->id, strnlen(w->id, CM_ID_MAX));
  cm__rd_argv_fmt(a, "%" PRIu32, (uint32_t)w->skills);
  cm__rd_argv_fmt(a, "%d", (int)w->status);
  cm__rd_argv_fmt(a, "%d", pos);
  cm__rd_argv_double(a, pos ? w->lat : 0.0);
  cm__rd_argv_double(a, pos ? w->lon : 0.0);
  cm__rd_argv_i64(a, w->seen_ms);
  cm__rd_argv_fmt(a, "%d", w->capacity);
  cm__rd_argv_fmt(a, "%d", w->jobs_today);
  cm__rd_argv_double(a, w->rating);
  cm__rd_argv_double(a, w->level);
  char elders[CM_MAX_ELDERS * 17 + 1];
  size_t n = 0;
  for (int i = 0; i < w->n_elders; i++)
    n += (size_t)snprintf(elders + n, sizeof elders - n, "%s%" PRIx64,
                          i ? "," : "", w->elders[i]);
  cm__rd_argv_add(a, elders, n);
}

/* Copy a reply's bytes into a NUL-terminated buffer. Returns 0, or -1 when
 * too long. */
static int copy_text(const char *s, size_t n, char *buf, size_t size) {
  if (n >= size)
    return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  return 0;
}

int cm__rd_parse_i64(const char *s, size_t n, int64_t *out) {
  char buf[32], *end;
  if (n == 0 || copy_text(s, n, buf, sizeof buf) != 0)
    return -1;
  errno = 0;
  long long v = strtoll(buf, &end, 10);
  if (errno || *end)
    return -1;
  *out = (int64_t)v;
  return 0;
}

int cm__rd_parse_double(const char *s, size_t n, double *out) {
  char buf[64], *end;
  if (n == 0 || copy_text(s, n, buf, sizeof buf) != 0)
    return -1;
  double v = strtod(buf, &end);
  if (*end || !isfinite(v))
    return -1;
  *out = v;
  return 0;
}

/* An integer field within [lo, hi]. Returns 0 or -1. */
static int parse_int(const char *s, size_t n, int64_t lo, int64_t hi,
                     int64_t *out) {
  return cm__rd_parse_i64(s, n, out) == 0 && *out >= lo && *out <= hi ? 0 : -1;
}

static int parse_elders(const char *s, size_t n, cm_worker *w) {
  char buf[CM_MAX_ELDERS * 17 + 1], *p = buf, *end;
  if (copy_text(s, n, buf, sizeof buf) != 0)
    return -1;
  w->n_elders = 0;
  while (*p) {
    if (w->n_elders == CM_MAX_ELDERS)
      return -1;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 16);
    if (errno || end == p || (*end && *end != ','))
      return -1;
    w->elders[w->n_elders++] = (uint64_t)v;
    p = *end ? end + 1 : end;
  }
  return 0;
}

enum {
  F_ID,
  F_SKILLS,
  F_STATUS,
  F_HAS_POSITION,
  F_LAT,
  F_LON,
  F_SEEN,
  F_CAPACITY,
  F_JOBS,
  F_RATING,
  F_LEVEL,
  F_ELDERS,
  F_COUNT
};

static const char *const field_names[F_COUNT] = {
    "id",      "skills",   "status",     "has_position", "lat",   "lon",
    "seen_ms", "capacity", "jobs_today", "rating",       "level", "elders"};

/* Store one field's value into w. Returns 0, or -1 when malformed. */
static int decode_field(int f, const char *s, size_t n, cm_worker *w) {
  int64_t v = 0;
  switch (f) {
  case F_ID:
    return n > 0 && n < CM_ID_MAX ? copy_text(s, n, w->id, CM_ID_MAX) : -1;
  case F_SKILLS:
    if (parse_int(s, n, 0, UINT32_MAX, &v) != 0)
      return -1;
    w->skills = (cm_skillset)v;
    return 0;
  case F_STATUS:
    if (parse_int(s, n, 0, CM_WORKER_STATUS_COUNT - 1, &v) != 0)
      return -1;
    w->status = (cm_worker_status)v;
    return 0;
  case F_HAS_POSITION:
    if (parse_int(s, n, 0, 1, &v) != 0)
      return -1;
    w->has_position = (int)v;
    return 0;
  case F_LAT:
    return cm__rd_parse_double(s, n, &w->lat);
  case F_LON:
    return cm__rd_parse_double(s, n, &w->lon);
  case F_SEEN:
    return parse_int(s, n, 0, INT64_MAX, &w->seen_ms);
  case F_CAPACITY:
    if (parse_int(s, n, INT32_MIN, INT32_MAX, &v) != 0)
      return -1;
    w->capacity = (int)v;
    return 0;
  case F_JOBS:
    if (parse_int(s, n, INT32_MIN, INT32_MAX, &v) != 0)
      return -1;
    w->jobs_today = (int)v;
    return 0;
  case F_RATING:
    return cm__rd_parse_double(s, n, &w->rating);
  case F_LEVEL:
    return cm__rd_parse_double(s, n, &w->level);
  default:
    return parse_elders(s, n, w);
  }
}

int cm__rd_worker_decode(const redisReply *rep, cm_worker *out) {
  unsigned seen = 0;
  memset(out, 0, sizeof *out);
  if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements % 2)
    return -1;
  if (rep->elements == 0)
    return 0;
  for (size_t i = 0; i + 1 < rep->elements; i += 2) {
    const redisReply *k = rep->element[i], *v = rep->element[i + 1];
    if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
      goto bad;
    for (int f = 0; f < F_COUNT; f++)
      if (strlen(field_names[f]) == k->len &&
          memcmp(field_names[f], k->str, k->len) == 0) {
        if (decode_field(f, v->str, v->len, out) != 0)
          goto bad;
        seen |= 1u << f;
        break;
      }
  }
  if (seen != (1u << F_COUNT) - 1)
    goto bad;
  if (!out->has_position)
    out->lat = out->lon = 0.0;
  return 1;
bad:
  memset(out, 0, sizeof *out);
  return -1;
}

static const char *const match_names[] = {
    "status", "has_position", "capacity", "skills", "seen_ms", "lat", "lon"};
#define MATCH_N ((int)(sizeof match_names / sizeof *match_names))

void cm__rd_match_fields(cm__rd_argv *a) {
  for (int i = 0; i < MATCH_N; i++)
    cm__rd_argv_str(a, match_names[i]);
}

int cm__rd_match_decode(const redisReply *rep, cm__rd_match *m) {
  int64_t v[5];
  if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != MATCH_N)
    return -1;
  int nil = 0;
  for (int i = 0; i < MATCH_N; i++)
    nil += rep->element[i]->type == REDIS_REPLY_NIL;
  if (nil == MATCH_N)
    return 0;
  if (nil)
    return -1;
  for (int i = 0; i < MATCH_N; i++)
    if (rep->element[i]->type != REDIS_REPLY_STRING)
      return -1;
  for (int i = 0; i < 5; i++)
    if (cm__rd_parse_i64(rep->element[i]->str, rep->element[i]->len, &v[i]) !=
        0)
      return -1;
  if (v[3] < 0 || v[3] > UINT32_MAX || v[2] < INT32_MIN || v[2] > INT32_MAX)
    return -1;
  m->status = (int)(v[0] >= 0 && v[0] < CM_WORKER_STATUS_COUNT ? v[0] : -1);
  m->has_position = v[1] == 1;
  m->capacity = (int)v[2];
  m->skills = (cm_skillset)v[3];
  m->seen_ms = v[4];
  if (cm__rd_parse_double(rep->element[5]->str, rep->element[5]->len,
                          &m->lat) != 0 ||
      cm__rd_parse_double(rep->element[6]->str, rep->element[6]->len,
                          &m->lon) != 0)
    return -1;
  return 1;
}
