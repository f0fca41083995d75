/* city.c -- seeded city simulator: clustered workers and requests.
 *
 * Everything is drawn from one splitmix64 stream in a fixed order, so a spec
 * gives the same instance on every run. Positions are computed in km on a
 * local plane around the centre and converted to degrees at the end. */
#include "city.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/solve.h"

#define CITY_KM_PER_DEG 111.32
#define CITY_PI 3.14159265358979323846
#define CITY_MAX_JOBS 5 /* jobs_today uniform in 0..CITY_MAX_JOBS */
#define CITY_MIN_RATING 3.0
#define CITY_MIN_LEVEL 1.0
#define CITY_CONT_TRIES 16 /* draws to find a worker for continuity */
#define CITY_BG_ELDERS 3   /* background elders per worker, at most */
#define CITY_HOUSEHOLDS 100000

/* Supply mix of the default roles (share of primary skills). */
static const struct {
  const char *name;
  double share;
} city_mix[] = {
    {"caregiver", 0.40}, {"nurse", 0.22}, {"cleaner", 0.15},
    {"escort", 0.10},    {"rehab", 0.08}, {"maternity", 0.05},
};
#define CITY_NMIX ((int)(sizeof city_mix / sizeof city_mix[0]))

/* The communities: centres in km from the city centre, spread, and the
 * cumulative distribution of their (Zipf) weights. */
typedef struct city_layout {
  int n;         /* communities */
  double *x, *y; /* centre, km east / north of the city centre */
  double *sigma; /* cluster spread, km */
  double *cum;   /* cum[c]: P(community <= c), cum[n-1] = 1 */
} city_layout;

/* Workers grouped by community (CSR), for continuity and preferences. */
typedef struct city_groups {
  int *start; /* members of c: member[start[c] .. start[c+1]) */
  int *member;
} city_groups;

/* What the generator needs while it runs. */
typedef struct city_ctx {
  const cm_city_spec *spec;
  uint64_t rng;
  city_layout lay;
  city_groups grp;
  int *wcomm;                  /* community of each worker */
  int skill_of_mix[CITY_NMIX]; /* taxonomy index of each mix entry */
  double supply[CITY_NMIX];    /* workers holding each mix entry */
  int nurse, caregiver;        /* taxonomy indexes */
  cm_instance *inst;
} city_ctx;

uint64_t cm_city_rand(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double cm_city_uniform(uint64_t *state) {
  return (double)(cm_city_rand(state) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [lo, hi]. */
static int city_int(uint64_t *s, int lo, int hi) {
  return lo + (int)(cm_city_rand(s) % (uint64_t)(hi - lo + 1));
}

/* Standard normal deviate (Box-Muller, one of the pair). */
static double city_gauss(uint64_t *s) {
  double u = 1.0 - cm_city_uniform(s); /* (0, 1] */
  double v = cm_city_uniform(s);
  return sqrt(-2.0 * log(u)) * cos(2.0 * CITY_PI * v);
}

static double city_clamp(double v, double lo, double hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

void cm_city_spec_init(cm_city_spec *spec) {
  static const double radius[CM_URGENCY_COUNT] = {8.0, 6.0, 5.0, 5.0};
  memset(spec, 0, sizeof *spec);
  spec->seed = 1;
  spec->n_requests = 100;
  spec->n_workers = 1000;
  spec->communities = 120;
  spec->area_km = 30.0;
  spec->center_lat = 31.23;
  spec->center_lon = 121.47;
  spec->sigma_min_km = 0.3;
  spec->sigma_max_km = 1.0;
  spec->worker_spread = 1.5;
  spec->zipf_s = 0.8;
  spec->dual_skill_share = 0.2;
  spec->emergency_share = 0.03;
  spec->urgent_share = 0.10;
  spec->scheduled_share = 0.20;
  spec->team_share = 0.0;
  spec->continuity_share = 0.3;
  spec->max_waited_s = 600.0;
  spec->capacity_max = 1;
  spec->k = 8;
  memcpy(spec->radius_km, radius, sizeof radius);
  spec->now_ms = INT64_C(1700000000000);
}

void cm_city_spec_small(cm_city_spec *spec, uint64_t seed, int n_requests,
                        int n_workers, double team_share) {
  cm_city_spec_init(spec);
  spec->seed = seed;
  spec->n_requests = n_requests;
  spec->n_workers = n_workers;
  spec->communities = 3;
  spec->area_km = 3.0;
  spec->sigma_min_km = 0.3;
  spec->sigma_max_km = 0.6;
  spec->dual_skill_share = 0.3;
  spec->emergency_share = 0.10;
  spec->urgent_share = 0.15;
  spec->scheduled_share = 0.30;
  spec->team_share = team_share;
  spec->pref_share = 0.10;
  spec->excl_share = 0.05;
  spec->capacity_max = 2;
  for (int u = 0; u < CM_URGENCY_COUNT; u++)
    spec->radius_km[u] = 3.0;
  spec->max_waited_s = 120.0;
  spec->penalty_scale[CM_URGENCY_SCHEDULED] = 0.2;
}

/* CM_OK when v lies in [lo, hi]; otherwise err names the member. */
static cm_status city_check(double v, double lo, double hi, const char *field,
                            cm_error *err) {
  if (isfinite(v) && v >= lo && v <= hi)
    return CM_OK;
  return cm_error_set(err, CM_E_RANGE, field, "%s must lie in [%g, %g]", field,
                      lo, hi);
}

static cm_status city_check_spec(const cm_city_spec *s, cm_error *err) {
  cm_status st = CM_OK;
#define CITY_CHECK_(m, lo, hi)                                                 \
  if (st == CM_OK)                                                             \
  st = city_check((double)s->m, (lo), (hi), #m, err)
  CITY_CHECK_(n_requests, 0, 1e7);
  CITY_CHECK_(n_workers, 0, 1e7);
  CITY_CHECK_(communities, 1, 1e5);
  CITY_CHECK_(area_km, 0.01, 2000);
  CITY_CHECK_(center_lat, -80, 80);
  CITY_CHECK_(center_lon, -180, 180);
  CITY_CHECK_(sigma_min_km, 0.001, 100);
  CITY_CHECK_(sigma_max_km, s->sigma_min_km, 100);
  CITY_CHECK_(worker_spread, 0.01, 100);
  CITY_CHECK_(zipf_s, 0, 10);
  CITY_CHECK_(dual_skill_share, 0, 1);
  CITY_CHECK_(emergency_share, 0, 1);
  CITY_CHECK_(urgent_share, 0, 1);
  CITY_CHECK_(scheduled_share, 0,
              1 - s->emergency_share - s->urgent_share + 1e-12);
  CITY_CHECK_(team_share, 0, 1);
  CITY_CHECK_(continuity_share, 0, 1);
  CITY_CHECK_(pref_share, 0, 1);
  CITY_CHECK_(excl_share, 0, 1);
  CITY_CHECK_(max_waited_s, 0, 1e7);
  CITY_CHECK_(capacity_max, 1, 1000);
  CITY_CHECK_(k, 1, 10000);
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    CITY_CHECK_(radius_km[u], 0.001, 1000);
    CITY_CHECK_(penalty_scale[u], 0, 1e6);
  }
#undef CITY_CHECK_
  return st;
}

static void city_layout_free(city_layout *l) {
  free(l->x);
  free(l->y);
  free(l->sigma);
  free(l->cum);
}

/* Community centres: a dense core (Gaussian, sigma a fifth of the side)
 * clipped to the square; Zipf weights in the drawn order. */
static cm_status city_layout_build(city_ctx *c, cm_error *err) {
  const cm_city_spec *s = c->spec;
  city_layout *l = &c->lay;
  double half = s->area_km / 2.0, total = 0.0;
  l->n = s->communities;
  l->x = malloc(sizeof *l->x * (size_t)l->n);
  l->y = malloc(sizeof *l->y * (size_t)l->n);
  l->sigma = malloc(sizeof *l->sigma * (size_t)l->n);
  l->cum = malloc(sizeof *l->cum * (size_t)l->n);
  if (!l->x || !l->y || !l->sigma || !l->cum)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  for (int i = 0; i < l->n; i++) {
    l->x[i] = city_clamp(city_gauss(&c->rng) * s->area_km / 5.0, -half, half);
    l->y[i] = city_clamp(city_gauss(&c->rng) * s->area_km / 5.0, -half, half);
    l->sigma[i] = s->sigma_min_km + (s->sigma_max_km - s->sigma_min_km) *
                                        cm_city_uniform(&c->rng);
    total += pow(i + 1.0, -s->zipf_s);
    l->cum[i] = total;
  }
  for (int i = 0; i < l->n; i++)
    l->cum[i] /= total;
  l->cum[l->n - 1] = 1.0;
  return CM_OK;
}

/* A community drawn by weight. */
static int city_pick_community(city_ctx *c) {
  double u = cm_city_uniform(&c->rng);
  int lo = 0, hi = c->lay.n - 1;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    if (c->lay.cum[mid] > u)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

/* A point of community k, spread times its sigma, as lat/lon degrees. */
static void city_place(city_ctx *c, int k, double spread, double *lat,
                       double *lon) {
  const cm_city_spec *s = c->spec;
  double half = s->area_km / 2.0, sg = c->lay.sigma[k] * spread;
  double x = city_clamp(c->lay.x[k] + sg * city_gauss(&c->rng), -half, half);
  double y = city_clamp(c->lay.y[k] + sg * city_gauss(&c->rng), -half, half);
  *lat = s->center_lat + y / CITY_KM_PER_DEG;
  *lon = s->center_lon +
         x / (CITY_KM_PER_DEG * cos(s->center_lat * CITY_PI / 180.0));
}

/* Index into city_mix of a primary skill drawn by supply share. */
static int city_pick_mix(city_ctx *c, int except) {
  double total = 0.0, u;
  for (int m = 0; m < CITY_NMIX; m++)
    total += m == except ? 0.0 : city_mix[m].share;
  u = cm_city_uniform(&c->rng) * total;
  for (int m = 0; m < CITY_NMIX; m++) {
    if (m == except)
      continue;
    if (u < city_mix[m].share)
      return m;
    u -= city_mix[m].share;
  }
  return except == CITY_NMIX - 1 ? CITY_NMIX - 2 : CITY_NMIX - 1;
}

static cm_status city_find_skills(city_ctx *c, cm_error *err) {
  const cm_taxonomy *t = &c->inst->taxonomy;
  for (int m = 0; m < CITY_NMIX; m++) {
    c->skill_of_mix[m] = cm_taxonomy_find(t, city_mix[m].name);
    if (c->skill_of_mix[m] < 0)
      return cm_error_set(err, CM_E_UNKNOWN_SKILL, "taxonomy",
                          "default taxonomy lacks '%s'", city_mix[m].name);
  }
  c->nurse = cm_taxonomy_find(t, "nurse");
  c->caregiver = cm_taxonomy_find(t, "caregiver");
  return CM_OK;
}

/* One worker: position, roles, and the usual attributes. */
static void city_draw_worker(city_ctx *c, int i, cm_worker *w) {
  const cm_city_spec *s = c->spec;
  int k = city_pick_community(c), m1 = city_pick_mix(c, -1);
  cm_worker_init(w);
  snprintf(w->id, sizeof w->id, "w%06d", i);
  city_place(c, k, s->worker_spread, &w->lat, &w->lon);
  w->has_position = 1;
  w->seen_ms = s->now_ms;
  w->status = CM_WORKER_AVAILABLE;
  w->skills = 1u << c->skill_of_mix[m1];
  c->supply[m1] += 1.0;
  if (cm_city_uniform(&c->rng) < s->dual_skill_share) {
    int m2 = city_pick_mix(c, m1);
    w->skills |= 1u << c->skill_of_mix[m2];
    c->supply[m2] += 1.0;
  }
  w->capacity = city_int(&c->rng, 1, s->capacity_max);
  w->jobs_today = city_int(&c->rng, 0, CITY_MAX_JOBS);
  w->rating = 5.0 - city_clamp(fabs(city_gauss(&c->rng)) * 0.6, 0.0,
                               5.0 - CITY_MIN_RATING);
  w->level = (double)city_int(&c->rng, (int)CITY_MIN_LEVEL, 5);
  w->n_elders = city_int(&c->rng, 0, CITY_BG_ELDERS);
  for (int e = 0; e < w->n_elders; e++) {
    char eid[32];
    snprintf(eid, sizeof eid, "h%06d",
             city_int(&c->rng, 0, CITY_HOUSEHOLDS - 1));
    w->elders[e] = cm_id_hash(eid);
  }
  c->wcomm[i] = k;
}

/* Workers grouped by community. */
static cm_status city_groups_build(city_ctx *c, cm_error *err) {
  int n = c->spec->n_workers, nc = c->lay.n;
  int *fill = calloc((size_t)nc + 1, sizeof *fill);
  c->grp.start = calloc((size_t)nc + 1, sizeof *c->grp.start);
  c->grp.member = malloc(sizeof *c->grp.member * ((size_t)n + 1));
  if (!fill || !c->grp.start || !c->grp.member) {
    free(fill);
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  for (int i = 0; i < n; i++)
    c->grp.start[c->wcomm[i] + 1]++;
  for (int k = 0; k < nc; k++)
    c->grp.start[k + 1] += c->grp.start[k];
  for (int i = 0; i < n; i++) {
    int k = c->wcomm[i];
    c->grp.member[c->grp.start[k] + fill[k]++] = i;
  }
  free(fill);
  return CM_OK;
}

static cm_status city_add_workers(city_ctx *c, cm_error *err) {
  int n = c->spec->n_workers;
  c->wcomm = malloc(sizeof *c->wcomm * ((size_t)n + 1));
  if (!c->wcomm)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  for (int i = 0; i < n; i++) {
    cm_worker w;
    city_draw_worker(c, i, &w);
    cm_status st = cm_instance_worker_add(c->inst, &w, NULL, err);
    if (st != CM_OK)
      return st;
  }
  return city_groups_build(c, err);
}

/* Urgency by the spec's mix. */
static cm_urgency city_pick_urgency(city_ctx *c) {
  const cm_city_spec *s = c->spec;
  double u = cm_city_uniform(&c->rng);
  if (u < s->emergency_share)
    return CM_URGENCY_EMERGENCY;
  u -= s->emergency_share;
  if (u < s->urgent_share)
    return CM_URGENCY_URGENT;
  u -= s->urgent_share;
  if (u < s->scheduled_share)
    return CM_URGENCY_SCHEDULED;
  return CM_URGENCY_NORMAL;
}

/* Required skills: a team (nurse and caregiver together), an emergency
 * (nurse, or a fall alarm: nurse or caregiver), or one role drawn by how
 * many workers hold it, so demand follows supply. */
static void city_request_skills(city_ctx *c, cm_request *r) {
  double total = 0.0, u;
  if (cm_city_uniform(&c->rng) < c->spec->team_share) {
    r->staff = 2;
    r->skill_mode = CM_SKILLS_ALL;
    r->skills = (1u << c->nurse) | (1u << c->caregiver);
    return;
  }
  if (r->urgency == CM_URGENCY_EMERGENCY) {
    r->skills = 1u << c->nurse;
    if (cm_city_uniform(&c->rng) < 0.5) {
      r->skills |= 1u << c->caregiver;
      r->skill_mode = CM_SKILLS_ANY;
    }
    return;
  }
  for (int m = 0; m < CITY_NMIX; m++)
    total += c->supply[m] + 1.0;
  u = cm_city_uniform(&c->rng) * total;
  for (int m = 0; m < CITY_NMIX; m++) {
    if (u < c->supply[m] + 1.0 || m == CITY_NMIX - 1) {
      r->skills = 1u << c->skill_of_mix[m];
      return;
    }
    u -= c->supply[m] + 1.0;
  }
}

/* A random worker of community k holding one of the skills, or -1. */
static int city_worker_near(city_ctx *c, int k, cm_skillset skills) {
  int lo = c->grp.start[k], n = c->grp.start[k + 1] - lo;
  if (n == 0)
    return -1;
  for (int t = 0; t < CITY_CONT_TRIES; t++) {
    int j = c->grp.member[lo + city_int(&c->rng, 0, n - 1)];
    if (!skills || (c->inst->workers[j].skills & skills))
      return j;
  }
  return -1;
}

/* Continuity: a nearby worker served this elder before. */
static void city_continuity(city_ctx *c, int k, const cm_request *r) {
  int j = city_worker_near(c, k, r->skills);
  cm_worker *w;
  if (j < 0)
    return;
  w = &c->inst->workers[j];
  if (w->n_elders < CM_MAX_ELDERS)
    w->elders[w->n_elders++] = r->elder;
  else
    w->elders[city_int(&c->rng, 0, CM_MAX_ELDERS - 1)] = r->elder;
}

/* Preferred and excluded workers from the request's community. */
static void city_prefs(city_ctx *c, int k, cm_request *r) {
  if (cm_city_uniform(&c->rng) < c->spec->pref_share) {
    int j = city_worker_near(c, k, r->skills);
    if (j >= 0)
      r->preferred[r->n_preferred++] = j;
  }
  if (cm_city_uniform(&c->rng) < c->spec->excl_share) {
    int j = city_worker_near(c, k, r->skills);
    if (j >= 0 && !(r->n_preferred && r->preferred[0] == j))
      r->excluded[r->n_excluded++] = j;
  }
}

static void city_draw_request(city_ctx *c, int i, cm_request *r) {
  const cm_city_spec *s = c->spec;
  int k = city_pick_community(c);
  char eid[32];
  cm_request_init(r);
  snprintf(r->id, sizeof r->id, "r%06d", i);
  city_place(c, k, 1.0, &r->lat, &r->lon);
  r->has_position = 1;
  r->staff = 1;
  r->skill_mode = CM_SKILLS_ALL;
  r->urgency = city_pick_urgency(c);
  city_request_skills(c, r);
  r->waited_s = s->max_waited_s * cm_city_uniform(&c->rng);
  snprintf(eid, sizeof eid, "e%07d", i);
  r->elder = cm_id_hash(eid);
  if (s->n_workers > 0 && cm_city_uniform(&c->rng) < s->continuity_share)
    city_continuity(c, k, r);
  if (s->n_workers > 0)
    city_prefs(c, k, r);
}

static cm_status city_add_requests(city_ctx *c, cm_error *err) {
  for (int i = 0; i < c->spec->n_requests; i++) {
    cm_request r;
    city_draw_request(c, i, &r);
    cm_status st = cm_instance_request_add(c->inst, &r, NULL, err);
    if (st != CM_OK)
      return st;
  }
  return CM_OK;
}

/* Parameters: the spec's K and radii. Weights: the library defaults; where
 * the spec gives a penalty scale, that urgency's penalty becomes the scale
 * times the dearest edge a request can get inside its base radius. */
static void city_tune(city_ctx *c) {
  const cm_city_spec *s = c->spec;
  cm_params *p = &c->inst->params;
  cm_weights *w = &c->inst->weights;
  double fixed = w->workload * CITY_MAX_JOBS +
                 w->rating * (5.0 - CITY_MIN_RATING) +
                 w->skill * (5.0 - CITY_MIN_LEVEL);
  p->k = s->k;
  p->now_ms = s->now_ms;
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    p->radius_km[u] = s->radius_km[u];
    if (p->radius_max_km < s->radius_km[u])
      p->radius_max_km = s->radius_km[u];
  }
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    double dear = w->travel * w->urgency_factor[u] *
                      cm_travel_minutes(p, s->radius_km[u]) +
                  fixed;
    if (s->penalty_scale[u] > 0.0)
      w->penalty_base[u] = s->penalty_scale[u] * dear;
  }
}

static void city_ctx_free(city_ctx *c) {
  city_layout_free(&c->lay);
  free(c->grp.start);
  free(c->grp.member);
  free(c->wcomm);
}

cm_instance *cm_city_instance(const cm_city_spec *spec, cm_error *err) {
  city_ctx c;
  cm_status st;
  memset(&c, 0, sizeof c);
  c.spec = spec;
  c.rng = spec ? spec->seed : 0;
  cm_error_clear(err);
  if (!spec) {
    cm_error_set(err, CM_E_INVALID, "spec", "no city spec");
    return NULL;
  }
  if (city_check_spec(spec, err) != CM_OK)
    return NULL;
  c.inst = cm_instance_new();
  if (!c.inst) {
    cm_error_set(err, CM_E_NOMEM, "", NULL);
    return NULL;
  }
  st = city_find_skills(&c, err);
  if (st == CM_OK)
    st = city_layout_build(&c, err);
  if (st == CM_OK)
    st = city_add_workers(&c, err);
  if (st == CM_OK)
    st = city_add_requests(&c, err);
  if (st == CM_OK)
    city_tune(&c);
  city_ctx_free(&c);
  if (st != CM_OK) {
    cm_instance_free(c.inst);
    return NULL;
  }
  return c.inst;
}

cm_instance *cm_city_small(uint64_t seed, int n_requests, int n_workers,
                           double team_share, cm_error *err) {
  cm_city_spec spec;
  cm_city_spec_small(&spec, seed, n_requests, n_workers, team_share);
  return cm_city_instance(&spec, err);
}
