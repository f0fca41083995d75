/* sim_trace.c -- a day (or the last hours) recorded by carematchd
 * (--trace) made into a scenario, so the simulator and the daemon's
 * what-if can replay it under other weights (carematch/sim_trace.h).
 *
 * What the platforms sent is kept: the staff (skills, home: where they
 * were first seen, rating, level, the shift: first on, last off) and the
 * requests (when, where, the roles, people and urgency, the elder, the
 * window). What depended on the dispatch that happened is estimated and
 * then simulated: the time on site of each kind of request (the time from
 * the last accept to the completion, less the longest travel of the team
 * from where each member last reported, at the daemon's 25 km/h; the
 * median per kind),
 * and the share of offers accepted. Ids are renamed (s00000, r00000,
 * e0), as the world indexes by them. The trace's first day (UTC) is
 * replayed, or a window of it: then what came before the window says
 * where each worker was and whether on shift when it opened. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/sim_trace.h"
#include "carematch/solve.h"
#include "carematch/taxonomy.h"

#define DAY_MS (24LL * 3600 * 1000)
#define SPEED_KMH 25.0

/* The trace's ids, numbered in order of appearance (open addressing). */
typedef struct name_map {
  char (*names)[64];
  int n, cap;
  int *slot; /* index + 1, or 0; 2 * cap slots */
} name_map;

static uint64_t hash(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  while (*s)
    h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
  return h;
}

static int map_find(const name_map *m, const char *s) {
  if (!m->slot)
    return -1;
  size_t mask = (size_t)m->cap * 2 - 1;
  for (size_t i = hash(s) & mask;; i = (i + 1) & mask) {
    int v = m->slot[i];
    if (v == 0)
      return -1;
    if (!strcmp(m->names[v - 1], s))
      return v - 1;
  }
}

static void map_put(name_map *m, int idx) {
  size_t mask = (size_t)m->cap * 2 - 1;
  size_t i = hash(m->names[idx]) & mask;
  while (m->slot[i])
    i = (i + 1) & mask;
  m->slot[i] = idx + 1;
}

static int map_add(name_map *m, const char *s) {
  int i = map_find(m, s);
  if (i >= 0)
    return i;
  if (m->n == m->cap) {
    int cap = m->cap ? 2 * m->cap : 256;
    char(*p)[64] = realloc(m->names, (size_t)cap * sizeof *p);
    int *slot = calloc((size_t)cap * 2, sizeof *slot);
    if (!p || !slot) {
      if (p)
        m->names = p;
      free(slot);
      return -1;
    }
    m->names = p;
    m->cap = cap;
    free(m->slot);
    m->slot = slot;
    for (int k = 0; k < m->n; k++)
      map_put(m, k);
  }
  snprintf(m->names[m->n], 64, "%s", s);
  map_put(m, m->n);
  return m->n++;
}

static void map_free(name_map *m) {
  free(m->names);
  free(m->slot);
}

typedef struct tw { /* a worker as the trace shows it */
  int seen, on_min, off_min;
  int on_before;   /* on shift when the window opened */
  double lat, lon; /* last reported */
} tw;

typedef struct tq {  /* a request */
  int64_t accepted;  /* last accept, ms */
  int worker;        /* who accepted last */
  double travel_min; /* from the worker's last position then */
} tq;

typedef struct reader {
  cm_sim_scenario *s;
  name_map workers, requests, elders;
  tw *w;
  int cap_w;
  tq *q;
  int cap_q;
  int cap_r;   /* scenario workers */
  int cap_req; /* scenario requests */
  double *dur[CM_SIM_SERVICES_MAX];
  int n_dur[CM_SIM_SERVICES_MAX], cap_dur[CM_SIM_SERVICES_MAX];
  int64_t day0;
  int windowed;       /* a window given: day0 is its start */
  int64_t until;      /* its end (windowed) */
  const char *region; /* only its lines; NULL all */
  int accepts, rejects;
  cm_taxonomy tax;
  char *msg;
  size_t n;
  int line;
  cm_status code; /* of the failure */
} reader;

static int fail(reader *r, const char *what) {
  snprintf(r->msg, r->n, "trace line %d: %s", r->line, what);
  r->code = strcmp(what, "out of memory") ? CM_E_INVALID : CM_E_NOMEM;
  return -1;
}

/* Before the window: what only says where a worker was and whether on. */
static int before(const reader *r, int64_t at) {
  return r->windowed && at < r->day0;
}

static int skills_of(reader *r, const json_t *a, cm_skillset *out) {
  size_t i;
  const json_t *v;
  *out = 0;
  if (!json_is_array(a) || json_array_size(a) == 0)
    return fail(r, "$.body.skills: must be a non-empty array of roles");
  json_array_foreach(a, i, v) {
    int k = json_is_string(v) ? cm_taxonomy_find(&r->tax, json_string_value(v))
                              : -1;
    if (k < 0)
      return fail(r, "$.body.skills: a role outside the default taxonomy");
    *out |= (cm_skillset)1u << k;
  }
  return 0;
}

static int grow(void **v, int *cap, int need, size_t size) {
  if (need < *cap)
    return 0;
  int c = *cap ? *cap : 256;
  while (c <= need)
    c *= 2;
  void *p = realloc(*v, (size_t)c * size);
  if (!p)
    return -1;
  memset((char *)p + (size_t)*cap * size, 0, (size_t)(c - *cap) * size);
  *v = p;
  *cap = c;
  return 0;
}

static int worker_at(reader *r, const char *id) {
  int i = map_add(&r->workers, id);
  if (i < 0 || grow((void **)&r->w, &r->cap_w, i, sizeof *r->w))
    return -1;
  return i;
}

static int minute_of(const reader *r, int64_t at) {
  int64_t m = (at - r->day0) / 60000;
  return m < 0 ? 0 : m > 1440 ? 1440 : (int)m;
}

static int on_worker(reader *r, const char *id, const json_t *b, int64_t at) {
  if (r->windowed && at >= r->until)
    return 0;
  int i = worker_at(r, id);
  if (i < 0)
    return fail(r, "out of memory");
  tw *w = &r->w[i];
  cm_sim_worker *sw;
  if (i >= r->s->n_workers) {
    if (grow((void **)&r->s->workers, &r->cap_r, i, sizeof *r->s->workers))
      return fail(r, "out of memory");
    r->s->n_workers = i + 1;
  }
  sw = &r->s->workers[i];
  if (skills_of(r, json_object_get(b, "skills"), &sw->skills))
    return -1;
  double lat, lon;
  if (!json_unpack((json_t *)b, "{s:F,s:F}", "lat", &lat, "lon", &lon)) {
    w->lat = lat;
    w->lon = lon;
    if (!w->seen || before(r, at)) {
      sw->lat = lat;
      sw->lon = lon;
    }
  }
  double rating = 4, level = 1;
  json_unpack((json_t *)b, "{s?F,s?F}", "rating", &rating, "level", &level);
  sw->rating = rating;
  sw->level = level;
  sw->speed_kmh = SPEED_KMH;
  if (!w->seen) {
    w->on_min = -1;
    w->off_min = -1;
  }
  const json_t *on = json_object_get(b, "on_shift");
  if (before(r, at))
    w->on_before = !on || json_is_true(on);
  else if (!on || json_is_true(on)) {
    if (w->on_min < 0)
      w->on_min = minute_of(r, at);
  } else {
    w->off_min = minute_of(r, at);
  }
  w->seen = 1;
  return 0;
}

static int on_position(reader *r, const char *id, double lat, double lon,
                       int64_t at) {
  int i = map_find(&r->workers, id);
  if (i < 0)
    return 0; /* a worker the trace never registered: not this day's */
  if (!r->w[i].seen || (r->windowed && at >= r->until))
    return 0;
  if (before(r, at) ||
      (r->s->workers[i].lat == 0 && r->s->workers[i].lon == 0)) {
    r->s->workers[i].lat = lat;
    r->s->workers[i].lon = lon;
  }
  r->w[i].lat = lat;
  r->w[i].lon = lon;
  return 0;
}

static int service_of(reader *r, cm_skillset skills, cm_skill_mode mode,
                      int staff, cm_urgency urg) {
  cm_sim_scenario *s = r->s;
  for (int k = 0; k < s->n_services; k++) {
    const cm_sim_service *v = &s->services[k];
    if (v->skills == skills && v->mode == mode && v->staff == staff &&
        v->urgency == urg)
      return k;
  }
  if (s->n_services == CM_SIM_SERVICES_MAX)
    return -1;
  cm_sim_service *v = &s->services[s->n_services];
  memset(v, 0, sizeof *v);
  snprintf(v->name, sizeof v->name, "kind%d_%s", s->n_services,
           cm_urgency_name(urg));
  v->skills = skills;
  v->mode = mode;
  v->staff = staff;
  v->urgency = urg;
  v->duration_min = 60; /* until the trace says otherwise */
  return s->n_services++;
}

static int on_request(reader *r, const json_t *b, const json_t *res,
                      int64_t at) {
  const char *id = NULL, *urg = "normal", *mode = "all", *elder = NULL;
  double lat, lon;
  int staff = 1;
  if (json_unpack((json_t *)b, "{s:s,s:F,s:F,s?s,s?s,s?i,s?s}", "id", &id,
                  "lat", &lat, "lon", &lon, "urgency", &urg, "skill_mode",
                  &mode, "staff", &staff, "elder", &elder))
    return fail(r, "$.body: a request needs id, lat and lon");
  const json_t *roles = json_object_get(b, "skills");
  if (json_is_object(res)) { /* a service: what the daemon resolved */
    roles = json_object_get(res, "skills");
    json_unpack((json_t *)res, "{s?s,s?i}", "skill_mode", &mode, "staff",
                &staff);
  }
  cm_skillset skills;
  if (skills_of(r, roles, &skills))
    return -1;
  int u = cm_urgency_parse(urg);
  if (u < 0 || staff < 1 || staff > CM_MAX_STAFF)
    return fail(r, "$.body: an urgency or staff out of range");
  if (r->windowed ? at < r->day0 || at >= r->until : at - r->day0 >= DAY_MS)
    return 0; /* outside the window, or the next day */
  int q = map_add(&r->requests, id);
  cm_sim_scenario *s = r->s;
  if (q < 0 || q < s->n_requests)
    return q < 0 ? fail(r, "out of memory") : 0; /* a repeat: taken once */
  if (grow((void **)&s->requests, &r->cap_req, q, sizeof *s->requests) ||
      grow((void **)&r->q, &r->cap_q, q, sizeof *r->q))
    return fail(r, "out of memory");
  s->n_requests = q + 1;
  cm_sim_request *rq = &s->requests[q];
  memset(rq, 0, sizeof *rq);
  snprintf(rq->id, sizeof rq->id, "r%05d", q);
  rq->at_ms = at - r->day0;
  rq->lat = lat;
  rq->lon = lon;
  rq->service = service_of(
      r, skills, *mode == 'a' && mode[1] == 'n' ? CM_SKILLS_ANY : CM_SKILLS_ALL,
      staff, (cm_urgency)u);
  if (rq->service < 0)
    return fail(r, "more kinds of request than the simulator's catalog");
  int e = map_add(&r->elders, elder ? elder : id);
  if (e < 0)
    return fail(r, "out of memory");
  snprintf(rq->elder, sizeof rq->elder, "e%d", e);
  json_int_t ws = 0;
  if (!json_unpack((json_t *)b, "{s:{s:I}}", "window", "start_ms", &ws))
    rq->window_start_ms = ws - r->day0 > 0 ? ws - r->day0 : 1;
  r->q[q].worker = -1;
  return 0;
}

/* A team sets off once all its members accepted: its travel is the
 * longest of theirs since the last refusal. */
static int on_answer(reader *r, const char *rid, const json_t *b, int64_t at,
                     int accept) {
  const char *wid = NULL;
  json_unpack((json_t *)b, "{s:s}", "worker", &wid);
  int q = map_find(&r->requests, rid),
      i = wid ? map_find(&r->workers, wid) : -1;
  if (accept)
    r->accepts++;
  else
    r->rejects++;
  if (q < 0 || q >= r->s->n_requests)
    return 0;
  tq *t = &r->q[q];
  if (!accept || i < 0) {
    t->worker = -1;
    t->travel_min = 0;
    return 0;
  }
  const cm_sim_request *rq = &r->s->requests[q];
  double km = cm_geo_distance_km(r->w[i].lat, r->w[i].lon, rq->lat, rq->lon) *
              r->s->road_factor;
  double travel = km / SPEED_KMH * 60;
  if (t->worker < 0 || travel > t->travel_min)
    t->travel_min = travel;
  t->accepted = at;
  t->worker = i;
  return 0;
}

static int on_complete(reader *r, const char *rid, int64_t at) {
  int q = map_find(&r->requests, rid);
  if (q < 0 || q >= r->s->n_requests || r->q[q].worker < 0)
    return 0;
  int k = r->s->requests[q].service;
  /* on site from the team's arrival, or from the window's start when
     they came early and waited for it (not from the window's start when
     they set off before it but arrived after) */
  double start = (double)r->q[q].accepted + r->q[q].travel_min * 60000;
  int64_t ws = r->s->requests[q].window_start_ms;
  if (ws > 0 && (double)(r->day0 + ws) > start) /* waited for the window */
    start = (double)(r->day0 + ws);
  double min = ((double)at - start) / 60000;
  if (grow((void **)&r->dur[k], &r->cap_dur[k], r->n_dur[k], sizeof(double)))
    return fail(r, "out of memory");
  r->dur[k][r->n_dur[k]++] = min < 5 ? 5 : min;
  return 0;
}

static int line_of(reader *r, const json_t *o) {
  json_int_t at;
  const char *route, *id = "";
  const json_t *body = json_object_get(o, "body");
  const char *region = NULL;
  if (json_unpack((json_t *)o, "{s:I,s:s,s?s,s?s}", "at_ms", &at, "route",
                  &route, "id", &id, "region", &region))
    return fail(r, "needs at_ms and route");
  if (r->region && region && strcmp(region, r->region) != 0)
    return 0; /* another region's */
  if (r->day0 < 0)
    r->day0 = at - at % DAY_MS;
  if (!strcmp(route, "POST /v1/requests"))
    return on_request(r, body, json_object_get(o, "resolved"), at);
  if (!strcmp(route, "PUT /v1/workers/{id}"))
    return on_worker(r, id, body, at);
  if (!strcmp(route, "POST /v1/workers/{id}/status")) {
    int i = map_find(&r->workers, id);
    const json_t *on = json_object_get(body, "on_shift");
    if (i >= 0 && on && r->w[i].seen && before(r, at))
      r->w[i].on_before = json_is_true(on);
    else if (i >= 0 && on && r->w[i].seen && !(r->windowed && at >= r->until)) {
      if (json_is_true(on) && r->w[i].on_min < 0)
        r->w[i].on_min = minute_of(r, at);
      else if (!json_is_true(on))
        r->w[i].off_min = minute_of(r, at);
    }
    return 0;
  }
  if (!strcmp(route, "POST /v1/workers/{id}/position")) {
    double lat, lon;
    if (!json_unpack((json_t *)body, "{s:F,s:F}", "lat", &lat, "lon", &lon))
      on_position(r, id, lat, lon, at);
    return 0;
  }
  if (!strcmp(route, "POST /v1/positions")) {
    size_t i;
    const json_t *p;
    json_array_foreach(json_object_get(body, "positions"), i, p) {
      const char *wid;
      double lat, lon;
      if (!json_unpack((json_t *)p, "{s:s,s:F,s:F}", "id", &wid, "lat", &lat,
                       "lon", &lon))
        on_position(r, wid, lat, lon, at);
    }
    return 0;
  }
  if (!strcmp(route, "POST /v1/requests/{id}/accept"))
    return on_answer(r, id, body, at, 1);
  if (!strcmp(route, "POST /v1/requests/{id}/reject"))
    return on_answer(r, id, body, at, 0);
  if (!strcmp(route, "POST /v1/requests/{id}/complete"))
    return on_complete(r, id, at);
  return 0; /* cancel, weights: not part of the day's demand */
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int cmp_request(const void *a, const void *b) {
  const cm_sim_request *x = a, *y = b;
  return x->at_ms < y->at_ms ? -1 : x->at_ms > y->at_ms;
}

/* The renamed, sorted, estimated scenario. */
static void finish(reader *r) {
  cm_sim_scenario *s = r->s;
  for (int i = 0; i < s->n_workers; i++) {
    cm_sim_worker *w = &s->workers[i];
    snprintf(w->id, sizeof w->id, "s%05d", i);
    if (r->windowed && !r->w[i].on_before && r->w[i].on_min < 0) {
      w->shift_start_min = w->shift_end_min = 0; /* never on in it */
      continue;
    }
    if (r->windowed && r->w[i].on_before)
      r->w[i].on_min = 0;
    w->shift_start_min = r->w[i].on_min < 0 ? 0 : r->w[i].on_min;
    w->shift_end_min = r->w[i].off_min > w->shift_start_min
                           ? r->w[i].off_min
                           : 1440; /* on until the day's end */
  }
  for (int k = 0; k < s->n_services; k++)
    if (r->n_dur[k] > 0) {
      qsort(r->dur[k], (size_t)r->n_dur[k], sizeof(double), cmp_double);
      s->services[k].duration_min = r->dur[k][r->n_dur[k] / 2];
    }
  if (r->accepts + r->rejects > 0)
    s->accept_prob = (double)r->accepts / (r->accepts + r->rejects);
  qsort(s->requests, (size_t)s->n_requests, sizeof *s->requests, cmp_request);
  for (int q = 0; q < s->n_requests; q++)
    snprintf(s->requests[q].id, sizeof s->requests[q].id, "r%05d", q);
}

/* Keep the latest max requests of the window (sorted, not yet renamed). */
static void cap_requests(reader *r, int max, cm_sim_trace_info *info) {
  cm_sim_scenario *s = r->s;
  if (max <= 0 || s->n_requests <= max)
    return;
  int drop = s->n_requests - max;
  memmove(s->requests, s->requests + drop, (size_t)max * sizeof *s->requests);
  s->n_requests = max;
  info->requests_dropped = drop;
}

void cm_sim_trace_window_init(cm_sim_trace_window *w) {
  memset(w, 0, sizeof *w);
}

/* Every line of f through line_of (a line cut short by a failed write
 * skipped in a window). Returns 0, -1 (r's message says why). */
static int read_lines(reader *r, FILE *f, cm_sim_trace_info *info) {
  int rc = 0;
  size_t cap = 1 << 16;
  char *buf = malloc(cap);
  while (rc == 0 && buf) {
    size_t len = 0;
    int c;
    while ((c = fgetc(f)) != EOF && c != '\n') {
      if (len + 1 == cap) {
        char *p = realloc(buf, cap * 2);
        if (!p)
          break;
        buf = p;
        cap *= 2;
      }
      buf[len++] = (char)c;
    }
    if (len == 0 && c == EOF)
      break;
    r->line++;
    json_error_t je;
    json_t *o = json_loadb(buf, len, 0, &je);
    if (!o && r->windowed) /* a line cut short by a failed write */
      info->lines_skipped++;
    else
      rc = o ? line_of(r, o) : fail(r, "not JSON");
    json_decref(o);
  }
  if (!buf)
    rc = -1;
  free(buf);
  return rc;
}

/* The scenario read: requests and workers present, ids renumbered, the
 * window's first and last request into info. Returns 0, -1. */
static int scenario_done(reader *r, const cm_sim_trace_window *win,
                         cm_sim_trace_info *info) {
  if (r->s->n_requests == 0 || r->s->n_workers == 0) {
    fail(r, r->s->n_requests == 0
                ? "no request in the trace"
                : "no worker registered (PUT /v1/workers/{id})");
    r->code = CM_E_CONFLICT; /* after fail, which sets its own */
    return -1;
  }
  finish(r);
  cap_requests(r, win->max_requests, info);
  for (int q = 0; q < r->s->n_requests; q++)
    snprintf(r->s->requests[q].id, sizeof r->s->requests[q].id, "r%05d", q);
  info->first_ms = r->day0 + r->s->requests[0].at_ms;
  info->last_ms = r->day0 + r->s->requests[r->s->n_requests - 1].at_ms;
  return 0;
}

cm_sim_scenario *cm_sim_trace_read(const char *path,
                                   const cm_sim_trace_window *win,
                                   cm_sim_trace_info *info, cm_error *err) {
  cm_sim_trace_window dw;
  cm_sim_trace_info di;
  char msg[CM_ERROR_MESSAGE_MAX];
  if (!win) {
    cm_sim_trace_window_init(&dw);
    win = &dw;
  }
  if (!info)
    info = &di;
  memset(info, 0, sizeof *info);
  FILE *f = fopen(path, "r");
  if (!f) {
    cm_error_set(err, CM_E_IO, "", "the trace cannot be read");
    return NULL;
  }
  reader r;
  memset(&r, 0, sizeof r);
  msg[0] = '\0';
  r.msg = msg;
  r.n = sizeof msg;
  r.day0 = -1;
  r.code = CM_E_NOMEM;
  r.region = win->region;
  if (win->until_ms > win->from_ms) {
    r.windowed = 1;
    r.day0 = win->from_ms;
    r.until = win->until_ms;
  }
  cm_taxonomy_init(&r.tax);
  r.s = calloc(1, sizeof *r.s);
  int rc = r.s ? 0 : -1;
  if (r.s) {
    r.s->road_factor = 1.3;
    r.s->accept_prob = 0.92;
    r.s->response_s_max = 30;
    r.s->report_s = 5;
  }
  if (rc == 0)
    rc = read_lines(&r, f, info);
  fclose(f);
  info->lines = r.line;
  if (rc == 0)
    rc = scenario_done(&r, win, info);
  for (int k = 0; k < CM_SIM_SERVICES_MAX; k++)
    free(r.dur[k]);
  map_free(&r.workers);
  map_free(&r.requests);
  map_free(&r.elders);
  free(r.w);
  free(r.q);
  if (rc != 0) {
    if (!msg[0])
      snprintf(msg, sizeof msg, "out of memory");
    cm_error_set(err, r.code, "", "%s", msg);
    cm_sim_scenario_free(r.s);
    return NULL;
  }
  return r.s;
}
