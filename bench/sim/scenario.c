/* scenario.c -- generate a day in a city from a seed, and keep it as JSON.
 *
 * About 120 communities over a 30 km square (Zipf weights, so a few are
 * dense); elders live in them; staff of the six roles live there too and
 * work one of three shifts (06-14, 10-18, 14-22), so the morning peak,
 * when hospital escorts and daily care crowd in before the second shift,
 * is when staff are scarce. The catalog mixes daily-life care, morning
 * hospital-escort bookings, rehabilitation visits, cleaning, post-natal
 * care, two-person transfers and one-button emergency calls. */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/sim_trace.h"
#include "city.h"
#include "scenario.h"

#define KM_PER_DEG 111.32
#define PI 3.14159265358979323846

/* the default taxonomy's bits */
enum {
  CAREGIVER = 1,
  NURSE = 2,
  ESCORT = 4,
  REHAB = 8,
  CLEANER = 16,
  MAT = 32
};

void sim_spec_init(sim_spec *s) {
  memset(s, 0, sizeof *s);
  s->seed = 1;
  s->workers = 1200;
  s->requests = 6000;
  s->elders = 20000;
  s->communities = 120;
  s->area_km = 30;
  s->emergency_share = 0.03;
  s->request_tag = 2;
}

static double gauss(uint64_t *r) {
  double u = cm_city_uniform(r), v = cm_city_uniform(r);
  return sqrt(-2 * log(u > 1e-300 ? u : 1e-300)) * cos(2 * PI * v);
}

/* hours: a day profile with peaks at h1 (weight a) and h2 (weight b) */
static void profile(double *h, double h1, double a, double h2, double b) {
  for (int i = 0; i < 24; i++) {
    double x = i + 0.5;
    h[i] = (i >= 6 && i < 22 ? 0.2 : 0.02) + a * exp(-(x - h1) * (x - h1) / 2) +
           b * exp(-(x - h2) * (x - h2) / 2);
  }
}

static void catalog(sim_scenario *s, double emergency_share) {
  static const struct {
    const char *name;
    cm_skillset skills;
    cm_skill_mode mode;
    int staff;
    cm_urgency urgency;
    double duration, share, h1, a, h2, b, lead;
  } c[] = {
      {"fall_alarm", NURSE | CAREGIVER, CM_SKILLS_ANY, 1, CM_URGENCY_EMERGENCY,
       40, 0, 8, 1, 19, 1, 0},
      {"daily_care", CAREGIVER, CM_SKILLS_ALL, 1, CM_URGENCY_NORMAL, 60, 0.34,
       8.5, 2, 17, 1, 0},
      {"hospital_escort", ESCORT, CM_SKILLS_ALL, 1, CM_URGENCY_SCHEDULED, 120,
       0.12, 8, 4, 13, 1, 90},
      {"medication", NURSE, CM_SKILLS_ALL, 1, CM_URGENCY_URGENT, 30, 0.14, 9, 2,
       18, 1, 0},
      {"rehab_visit", REHAB, CM_SKILLS_ALL, 1, CM_URGENCY_SCHEDULED, 60, 0.08,
       10, 1, 15, 1, 120},
      {"cleaning", CLEANER, CM_SKILLS_ALL, 1, CM_URGENCY_NORMAL, 90, 0.14, 10,
       1, 15, 1, 0},
      {"postnatal", MAT, CM_SKILLS_ALL, 1, CM_URGENCY_NORMAL, 90, 0.05, 10, 1,
       16, 1, 0},
      {"bedridden_transfer", CAREGIVER, CM_SKILLS_ALL, 2, CM_URGENCY_URGENT, 45,
       0.05, 9, 1, 17, 1, 0},
  };
  s->n_services = (int)(sizeof c / sizeof *c);
  double rest = 1 - emergency_share;
  for (int i = 0; i < s->n_services; i++) {
    sim_service *v = &s->services[i];
    snprintf(v->name, sizeof v->name, "%s", c[i].name);
    v->skills = c[i].skills;
    v->mode = c[i].mode;
    v->staff = c[i].staff;
    v->urgency = c[i].urgency;
    v->duration_min = c[i].duration;
    v->share = i == 0 ? emergency_share : c[i].share * rest / 0.97;
    v->lead_min = c[i].lead;
    profile(v->hours, c[i].h1, c[i].a, c[i].h2, c[i].b);
  }
}

typedef struct layout {
  int n;
  double *x, *y, *sigma, *cum;
} layout;

static int layout_make(layout *l, int n, double area, uint64_t *r) {
  l->n = n;
  l->x = malloc((size_t)n * sizeof *l->x);
  l->y = malloc((size_t)n * sizeof *l->y);
  l->sigma = malloc((size_t)n * sizeof *l->sigma);
  l->cum = malloc((size_t)n * sizeof *l->cum);
  if (!l->x || !l->y || !l->sigma || !l->cum)
    return -1;
  double total = 0;
  for (int c = 0; c < n; c++) {
    l->x[c] = (cm_city_uniform(r) - 0.5) * area;
    l->y[c] = (cm_city_uniform(r) - 0.5) * area;
    l->sigma[c] = 0.3 + 0.7 * cm_city_uniform(r);
    total += 1.0 / pow(c + 1, 0.8);
    l->cum[c] = total;
  }
  for (int c = 0; c < n; c++)
    l->cum[c] /= total;
  return 0;
}

static void layout_free(layout *l) {
  free(l->x);
  free(l->y);
  free(l->sigma);
  free(l->cum);
}

/* A point in a community drawn by weight; degrees. */
static void point(const layout *l, const sim_scenario *s, double spread,
                  uint64_t *r, double *lat, double *lon) {
  double u = cm_city_uniform(r);
  int c = 0;
  while (c < l->n - 1 && l->cum[c] < u)
    c++;
  double x = l->x[c] + gauss(r) * l->sigma[c] * spread;
  double y = l->y[c] + gauss(r) * l->sigma[c] * spread;
  *lat = s->center_lat + y / KM_PER_DEG;
  *lon = s->center_lon + x / (KM_PER_DEG * cos(s->center_lat * PI / 180));
}

static int pick(const double *w, int n, double u) {
  double total = 0;
  for (int i = 0; i < n; i++)
    total += w[i];
  double acc = 0;
  for (int i = 0; i < n; i++) {
    acc += w[i] / total;
    if (u < acc)
      return i;
  }
  return n - 1;
}

static int by_time(const void *a, const void *b) {
  const sim_request *x = a, *y = b;
  return x->at_ms < y->at_ms ? -1 : x->at_ms > y->at_ms;
}

/* The staff: the role mix, three shifts; a fifth hold a second role.
 * Returns 0, or -1 out of memory. */
static int make_workers(sim_scenario *s, int n_workers, const layout *l,
                        uint64_t *r) {
  static const double mix[6] = {0.38, 0.22, 0.12, 0.08, 0.14, 0.06};
  static const int shifts[3][2] = {{360, 840}, {600, 1080}, {840, 1320}};
  static const double shift_share[3] = {0.35, 0.40, 0.25};
  s->n_workers = n_workers;
  s->workers = calloc((size_t)s->n_workers, sizeof *s->workers);
  if (!s->workers)
    return -1;
  for (int i = 0; i < s->n_workers; i++) {
    sim_worker *w = &s->workers[i];
    snprintf(w->id, sizeof w->id, "s%05d", i);
    int role = pick(mix, 6, cm_city_uniform(r));
    w->skills = 1u << role;
    if (cm_city_uniform(r) < 0.2)
      w->skills |= 1u << pick(mix, 6, cm_city_uniform(r));
    point(l, s, 1.5, r, &w->lat, &w->lon);
    int sh = pick(shift_share, 3, cm_city_uniform(r));
    w->shift_start_min = shifts[sh][0];
    w->shift_end_min = shifts[sh][1];
    w->speed_kmh = 20 + 10 * cm_city_uniform(r);
    w->rating = 3.5 + 1.5 * cm_city_uniform(r);
    w->level = 1 + 4 * cm_city_uniform(r);
  }
  return 0;
}

/* Request q of the day: a service by share, an hour by the service's
 * profile (ahead by its lead), an elder by a skewed pick (elders call
 * again) at elder[e]. */
static void make_request(sim_scenario *s, const double *share, int elders,
                         double (*elder)[2], uint64_t *r, sim_request *rq) {
  int v = pick(share, s->n_services, cm_city_uniform(r));
  const sim_service *sv = &s->services[v];
  int hour = pick(sv->hours, 24, cm_city_uniform(r));
  double minute = hour * 60 + 60 * cm_city_uniform(r) - sv->lead_min;
  if (minute < 0)
    minute += 24 * 60;
  rq->at_ms = (int64_t)(minute * 60000);
  rq->service = v;
  /* elders call again: a skewed pick gives repeat customers */
  int e = (int)(elders * pow(cm_city_uniform(r), 2.0));
  rq->lat = elder[e][0];
  rq->lon = elder[e][1];
  snprintf(rq->elder, sizeof rq->elder, "e%05d", e);
  rq->window_start_ms =
      sv->lead_min > 0 ? rq->at_ms + (int64_t)(sv->lead_min * 60000) : 0;
}

/* The elders, then the day's requests, in time order and numbered so.
 * Returns 0, or -1 out of memory. */
static int make_requests(sim_scenario *s, const sim_spec *spec, const layout *l,
                         uint64_t *r) {
  double(*elder)[2] = malloc((size_t)spec->elders * sizeof *elder);
  s->n_requests = spec->requests;
  s->requests = calloc((size_t)s->n_requests, sizeof *s->requests);
  if (!elder || !s->requests) {
    free(elder);
    return -1;
  }
  for (int e = 0; e < spec->elders; e++)
    point(l, s, 1.0, r, &elder[e][0], &elder[e][1]);
  double share[SIM_SERVICES_MAX];
  for (int v = 0; v < s->n_services; v++)
    share[v] = s->services[v].share;
  for (int q = 0; q < s->n_requests; q++)
    make_request(s, share, spec->elders, elder, r, &s->requests[q]);
  qsort(s->requests, (size_t)s->n_requests, sizeof *s->requests, by_time);
  for (int q = 0; q < s->n_requests; q++)
    snprintf(s->requests[q].id, sizeof s->requests[q].id, "r%05d", q);
  free(elder);
  return 0;
}

int sim_spec_kind(sim_spec *s, const char *kind) {
  if (!strcmp(kind, "normal"))
    return 0;
  if (!strcmp(kind, "surge")) { /* the same city, twice the demand */
    s->requests *= 2;
    return 0;
  }
  if (!strcmp(kind, "sparse")) { /* a county: few staff over a wide area */
    s->area_km *= 2;
    s->communities = s->communities / 3 > 0 ? s->communities / 3 : 1;
    s->workers = s->workers * 2 / 5 > 0 ? s->workers * 2 / 5 : 1;
    s->requests = s->requests / 4 > 0 ? s->requests / 4 : 1;
    s->elders = s->elders / 4 > 0 ? s->elders / 4 : 1;
    return 0;
  }
  return -1;
}

sim_scenario *sim_scenario_generate(const sim_spec *spec, char *msg, size_t n) {
  if (spec->workers < 1 || spec->requests < 1 || spec->elders < 1 ||
      spec->communities < 1 || !(spec->area_km > 0) ||
      !(spec->emergency_share >= 0 && spec->emergency_share < 1)) {
    snprintf(msg, n, "spec out of range");
    return NULL;
  }
  sim_scenario *s = calloc(1, sizeof *s);
  uint64_t r_map = sim_stream_seed(spec->seed, 0);
  uint64_t r_staff = sim_stream_seed(spec->seed, 1);
  uint64_t r_req = sim_stream_seed(spec->seed, spec->request_tag);
  layout l = {0};
  if (!s)
    goto oom;
  s->seed = spec->seed;
  s->center_lat = 31.23;
  s->center_lon = 121.47;
  s->road_factor = 1.3;
  s->accept_prob = 0.92;
  s->response_s_max = 30;
  s->report_s = 5;
  catalog(s, spec->emergency_share);
  if (layout_make(&l, spec->communities, spec->area_km, &r_map) != 0 ||
      make_workers(s, spec->workers, &l, &r_staff) != 0 ||
      make_requests(s, spec, &l, &r_req) != 0)
    goto oom;
  layout_free(&l);
  return s;
oom:
  snprintf(msg, n, "out of memory");
  layout_free(&l);
  sim_scenario_free(s);
  return NULL;
}

/* ---- JSON ---- */

static json_t *hours_json(const double *h) {
  json_t *a = json_array();
  for (int i = 0; a && i < 24; i++)
    json_array_append_new(a, json_real(h[i]));
  return a;
}

int sim_scenario_save(const sim_scenario *s, const char *path) {
  json_t *root =
      json_pack("{s:s,s:I,s:f,s:f,s:f,s:f,s:f,s:i}", "format",
                "carematch-scenario-1", "seed", (json_int_t)s->seed,
                "center_lat", s->center_lat, "center_lon", s->center_lon,
                "road_factor", s->road_factor, "accept_prob", s->accept_prob,
                "response_s_max", s->response_s_max, "report_s", s->report_s);
  json_t *sv = json_array(), *ws = json_array(), *rs = json_array();
  for (int i = 0; i < s->n_services; i++) {
    const sim_service *v = &s->services[i];
    json_array_append_new(
        sv, json_pack("{s:s,s:I,s:s,s:i,s:s,s:f,s:f,s:o,s:f}", "name", v->name,
                      "skills", (json_int_t)v->skills, "mode",
                      v->mode == CM_SKILLS_ANY ? "any" : "all", "staff",
                      v->staff, "urgency", cm_urgency_name(v->urgency),
                      "duration_min", v->duration_min, "share", v->share,
                      "hours", hours_json(v->hours), "lead_min", v->lead_min));
  }
  for (int i = 0; i < s->n_workers; i++) {
    const sim_worker *w = &s->workers[i];
    json_array_append_new(
        ws, json_pack("{s:s,s:I,s:f,s:f,s:i,s:i,s:f,s:f,s:f}", "id", w->id,
                      "skills", (json_int_t)w->skills, "lat", w->lat, "lon",
                      w->lon, "shift_start_min", w->shift_start_min,
                      "shift_end_min", w->shift_end_min, "speed_kmh",
                      w->speed_kmh, "rating", w->rating, "level", w->level));
  }
  for (int i = 0; i < s->n_requests; i++) {
    const sim_request *q = &s->requests[i];
    json_array_append_new(
        rs, json_pack("{s:s,s:I,s:i,s:f,s:f,s:s,s:I}", "id", q->id, "at_ms",
                      (json_int_t)q->at_ms, "service", q->service, "lat",
                      q->lat, "lon", q->lon, "elder", q->elder,
                      "window_start_ms", (json_int_t)q->window_start_ms));
  }
  json_object_set_new(root, "services", sv);
  json_object_set_new(root, "workers", ws);
  json_object_set_new(root, "requests", rs);
  int rc = json_dump_file(root, path, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
  json_decref(root);
  return rc == 0 ? 0 : -1;
}

#define NEED(cond, what)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      snprintf(msg, n, "%s: %s", path, what);                                  \
      goto fail;                                                               \
    }                                                                          \
  } while (0)

/* $.services (sv) into s. Returns 0, or -1 with msg said. */
static int load_services(sim_scenario *s, json_t *sv, const char *path,
                         char *msg, size_t n) {
  NEED(json_is_array(sv) && json_array_size(sv) >= 1 &&
           json_array_size(sv) <= SIM_SERVICES_MAX,
       "$.services: 1..16 services");
  s->n_services = (int)json_array_size(sv);
  for (int i = 0; i < s->n_services; i++) {
    sim_service *v = &s->services[i];
    const char *name, *mode, *urg;
    json_int_t sk;
    json_t *h;
    NEED(json_unpack(json_array_get(sv, (size_t)i),
                     "{s:s,s:I,s:s,s:i,s:s,s:F,s:F,s:o,s:F}", "name", &name,
                     "skills", &sk, "mode", &mode, "staff", &v->staff,
                     "urgency", &urg, "duration_min", &v->duration_min, "share",
                     &v->share, "hours", &h, "lead_min", &v->lead_min) == 0 &&
             json_array_size(h) == 24 && sk > 0 && sk < (1LL << 32) &&
             v->staff >= 1 && v->staff <= CM_MAX_STAFF &&
             cm_urgency_parse(urg) >= 0,
         "$.services[]: a malformed service");
    NEED(strlen(name) >= 1 && strlen(name) < sizeof v->name,
         "$.services[].name: 1 to 31 bytes");
    for (int j = 0; j < i; j++)
      NEED(strcmp(s->services[j].name, name) != 0,
           "$.services[].name: a name given twice");
    snprintf(v->name, sizeof v->name, "%s", name);
    v->skills = (cm_skillset)sk;
    v->mode = strcmp(mode, "any") ? CM_SKILLS_ALL : CM_SKILLS_ANY;
    v->urgency = (cm_urgency)cm_urgency_parse(urg);
    for (int k = 0; k < 24; k++)
      v->hours[k] = json_number_value(json_array_get(h, (size_t)k));
  }
  return 0;
fail:
  return -1;
}

/* $.workers (ws) into s->workers (allocated). Returns 0, or -1 with msg
 * said. */
static int load_workers(sim_scenario *s, json_t *ws, const char *path,
                        char *msg, size_t n) {
  for (int i = 0; i < s->n_workers; i++) {
    sim_worker *w = &s->workers[i];
    const char *id;
    json_int_t sk;
    NEED(json_unpack(json_array_get(ws, (size_t)i),
                     "{s:s,s:I,s:F,s:F,s:i,s:i,s:F,s:F,s:F}", "id", &id,
                     "skills", &sk, "lat", &w->lat, "lon", &w->lon,
                     "shift_start_min", &w->shift_start_min, "shift_end_min",
                     &w->shift_end_min, "speed_kmh", &w->speed_kmh, "rating",
                     &w->rating, "level", &w->level) == 0 &&
             strlen(id) < SIM_ID_MAX && sk > 0 && w->speed_kmh > 0,
         "$.workers[]: a malformed worker");
    snprintf(w->id, sizeof w->id, "%s", id);
    w->skills = (cm_skillset)sk;
  }
  return 0;
fail:
  return -1;
}

/* $.requests (rs) into s->requests (allocated), in time order. Returns 0,
 * or -1 with msg said. */
static int load_requests(sim_scenario *s, json_t *rs, const char *path,
                         char *msg, size_t n) {
  for (int i = 0; i < s->n_requests; i++) {
    sim_request *q = &s->requests[i];
    const char *id, *elder;
    json_int_t at, ws_ms;
    NEED(json_unpack(json_array_get(rs, (size_t)i),
                     "{s:s,s:I,s:i,s:F,s:F,s:s,s:I}", "id", &id, "at_ms", &at,
                     "service", &q->service, "lat", &q->lat, "lon", &q->lon,
                     "elder", &elder, "window_start_ms", &ws_ms) == 0 &&
             strlen(id) < SIM_ID_MAX && strlen(elder) < SIM_ID_MAX &&
             q->service >= 0 && q->service < s->n_services && at >= 0 &&
             (i == 0 || at >= s->requests[i - 1].at_ms),
         "$.requests[]: a malformed request (or not in time order)");
    snprintf(q->id, sizeof q->id, "%s", id);
    snprintf(q->elder, sizeof q->elder, "%s", elder);
    q->at_ms = at;
    q->window_start_ms = ws_ms;
  }
  return 0;
fail:
  return -1;
}

sim_scenario *sim_scenario_load(const char *path, char *msg, size_t n) {
  json_error_t je;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  sim_scenario *s = calloc(1, sizeof *s);
  if (!root || !s) {
    snprintf(msg, n, "%s: %s", path, root ? "out of memory" : je.text);
    json_decref(root);
    free(s);
    return NULL;
  }
  json_int_t seed;
  const char *format;
  json_t *sv, *ws, *rs;
  NEED(json_unpack(
           root, "{s:s,s:I,s:F,s:F,s:F,s:F,s:F,s:i,s:o,s:o,s:o}", "format",
           &format, "seed", &seed, "center_lat", &s->center_lat, "center_lon",
           &s->center_lon, "road_factor", &s->road_factor, "accept_prob",
           &s->accept_prob, "response_s_max", &s->response_s_max, "report_s",
           &s->report_s, "services", &sv, "workers", &ws, "requests", &rs) == 0,
       "$: a scenario needs format, seed, center_lat, center_lon, "
       "road_factor, accept_prob, response_s_max, report_s, services, "
       "workers, requests");
  NEED(!strcmp(format, "carematch-scenario-1"), "$.format: unknown format");
  s->seed = (uint64_t)seed;
  if (load_services(s, sv, path, msg, n) != 0)
    goto fail;
  s->n_workers = (int)json_array_size(ws);
  s->n_requests = (int)json_array_size(rs);
  NEED(s->n_workers > 0 && s->n_requests > 0, "$: workers and requests");
  s->workers = calloc((size_t)s->n_workers, sizeof *s->workers);
  s->requests = calloc((size_t)s->n_requests, sizeof *s->requests);
  NEED(s->workers && s->requests, "out of memory");
  if (load_workers(s, ws, path, msg, n) != 0 ||
      load_requests(s, rs, path, msg, n) != 0)
    goto fail;
  json_decref(root);
  return s;
fail:
  json_decref(root);
  sim_scenario_free(s);
  return NULL;
}

sim_scenario *sim_scenario_from_trace(const char *path, char *msg, size_t n) {
  cm_error err;
  sim_scenario *s = cm_sim_trace_read(path, NULL, NULL, &err);
  if (!s)
    snprintf(msg, n, "%s%s%s", err.code == CM_E_IO ? path : "",
             err.code == CM_E_IO ? ": " : "",
             err.code == CM_E_IO ? "cannot read it" : err.message);
  return s;
}
