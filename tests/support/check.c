/* check.c -- test support: random instances, an answer checker and an exact
 * brute-force optimizer (see check.h). Independent of core/ internals and of
 * the bench city generator. */
#include "check.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ----------------------------------------------------------- generator */

#define CHECK_LAT0 31.23 /* centre of the generated city (degrees) */
#define CHECK_LON0 121.47
#define CHECK_NOW_MS 1700000000000LL
#define CHECK_ELDERS 6 /* size of the elder pool */
#define CHECK_PI 3.14159265358979323846

void cm_check_gen_small_opts(cm_check_gen_opts *o, int edge_mode, int teams) {
  memset(o, 0, sizeof *o);
  o->min_requests = 1;
  o->max_requests = 7;
  o->min_workers = 1;
  o->max_workers = 7;
  o->area_km = 3.0;
  o->team_prob = teams ? 0.35 : 0.0;
  o->max_staff = 3;
  o->n_skills = 3;
  o->edge_mode = edge_mode;
  o->edge_prob = 0.55;
  o->edges_per_request = 0;
  o->k = 0;
  o->unavailable_prob = 0.15;
  o->stale_prob = 0.15;
  o->max_capacity = 2;
}

static void place(cm_check_rng *g, double area_km, double *lat, double *lon) {
  double x = cm_check_rng_real(g, 0.0, area_km);
  double y = cm_check_rng_real(g, 0.0, area_km);
  *lat = CHECK_LAT0 + y / 111.19;
  *lon = CHECK_LON0 + x / (111.19 * cos(CHECK_LAT0 * CHECK_PI / 180.0));
}

static int popcount(cm_skillset s) {
  int n = 0;
  for (; s; s &= s - 1)
    n++;
  return n;
}

static cm_skillset random_skills(cm_check_rng *g, int n_skills, int count) {
  cm_skillset s = 0;
  if (count > n_skills)
    count = n_skills;
  while (popcount(s) < count)
    s |= (cm_skillset)1 << cm_check_rng_int(g, 0, n_skills - 1);
  return s;
}

static int contains(const int *a, int n, int x) {
  for (int i = 0; i < n; i++)
    if (a[i] == x)
      return 1;
  return 0;
}

static void gen_fail(const cm_instance *inst, const cm_error *err,
                     uint64_t seed) {
  fprintf(stderr,
          "check: generated instance (seed %llu) is invalid: %s at %s: %s\n",
          (unsigned long long)seed, cm_status_name(err->code), err->field,
          err->message);
  cm_check_dump_instance(stderr, inst);
  abort();
}

cm_instance *cm_check_gen(const cm_check_gen_opts *o, uint64_t seed) {
  cm_check_rng g;
  cm_error err;
  cm_check_rng_seed(&g, seed);
  cm_error_clear(&err);
  cm_instance *inst = cm_instance_new();
  if (!inst)
    return NULL;
  int n_req = cm_check_rng_int(&g, o->min_requests, o->max_requests);
  int n_w = cm_check_rng_int(&g, o->min_workers, o->max_workers);
  int n_skills = o->n_skills > 0 ? o->n_skills : 3;
  if (n_skills > inst->taxonomy.count)
    n_skills = inst->taxonomy.count;
  int max_staff = o->max_staff < 2 ? 2 : o->max_staff;
  if (max_staff > CM_MAX_STAFF)
    max_staff = CM_MAX_STAFF;
  int max_cap = o->max_capacity < 1 ? 1 : o->max_capacity;

  cm_weights *wt = &inst->weights;
  wt->travel = cm_check_rng_real(&g, 0.5, 2.0);
  wt->urgency_factor[CM_URGENCY_EMERGENCY] = cm_check_rng_real(&g, 2.0, 4.0);
  wt->urgency_factor[CM_URGENCY_URGENT] = cm_check_rng_real(&g, 1.3, 2.5);
  wt->urgency_factor[CM_URGENCY_NORMAL] = cm_check_rng_real(&g, 0.8, 1.2);
  wt->urgency_factor[CM_URGENCY_SCHEDULED] = cm_check_rng_real(&g, 0.3, 0.9);
  wt->workload = cm_check_rng_real(&g, 0.0, 2.0);
  wt->continuity = cm_check_rng_real(&g, 0.0, 10.0);
  wt->rating = cm_check_rng_real(&g, 0.0, 3.0);
  wt->skill = cm_check_rng_real(&g, 0.0, 2.0);
  wt->preferred = cm_check_rng_real(&g, 0.0, 8.0);
  wt->penalty_base[CM_URGENCY_EMERGENCY] = cm_check_rng_real(&g, 30.0, 150.0);
  wt->penalty_base[CM_URGENCY_URGENT] = cm_check_rng_real(&g, 15.0, 100.0);
  wt->penalty_base[CM_URGENCY_NORMAL] = cm_check_rng_real(&g, 5.0, 60.0);
  wt->penalty_base[CM_URGENCY_SCHEDULED] = cm_check_rng_real(&g, 2.0, 40.0);
  wt->aging_per_min = cm_check_rng_real(&g, 0.0, 1.0);
  for (int u = 0; u < CM_URGENCY_COUNT; u++) { /* waits reach 15 min */
    wt->sla_target_min[u] = cm_check_rng_real(&g, 2.0, 20.0);
    wt->sla_risk[u] = cm_check_rng_real(&g, 0.0, 30.0);
    wt->sla_late_per_min[u] = cm_check_rng_real(&g, 0.0, 3.0);
  }

  cm_params *pm = &inst->params;
  pm->k = o->k > 0 ? o->k : (n_w > 0 ? n_w : 1);
  for (int u = 0; u < CM_URGENCY_COUNT; u++)
    pm->radius_km[u] = cm_check_rng_real(&g, 1.0, 3.5);
  pm->radius_growth_km_per_min = cm_check_rng_real(&g, 0.0, 0.2);
  pm->radius_max_km = 5.0;
  pm->speed_kmh = cm_check_rng_real(&g, 15.0, 40.0);
  pm->road_factor = cm_check_rng_real(&g, 1.1, 1.6);
  pm->now_ms = CHECK_NOW_MS;
  /* Edge mode keeps the stale check off: whether a worker without a
   * position is "fresh" is not pinned down by the headers. */
  pm->stale_ms = (!o->edge_mode && cm_check_rng_chance(&g, 0.7)) ? 120000 : 0;

  uint64_t elders[CHECK_ELDERS];
  for (int e = 0; e < CHECK_ELDERS; e++) {
    char name[32];
    snprintf(name, sizeof name, "elder-%d", e);
    elders[e] = cm_id_hash(name);
  }

  for (int j = 0; j < n_w; j++) {
    cm_worker w;
    cm_worker_init(&w);
    snprintf(w.id, sizeof w.id, "w%d", j);
    for (int s = 0; s < n_skills; s++)
      if (cm_check_rng_chance(&g, 0.45))
        w.skills |= (cm_skillset)1 << s;
    if (!w.skills)
      w.skills = random_skills(&g, n_skills, 1);
    w.status = CM_WORKER_AVAILABLE;
    if (cm_check_rng_chance(&g, o->unavailable_prob))
      w.status = (cm_worker_status)cm_check_rng_int(&g, CM_WORKER_OFFERED,
                                                    CM_WORKER_OFFLINE);
    w.has_position = o->edge_mode ? cm_check_rng_chance(&g, 0.5) : 1;
    place(&g, o->area_km, &w.lat, &w.lon);
    if (!w.has_position)
      w.lat = w.lon = 0.0;
    w.seen_ms = CHECK_NOW_MS - cm_check_rng_int(&g, 0, 60000);
    if (cm_check_rng_chance(&g, o->stale_prob))
      w.seen_ms = CHECK_NOW_MS - cm_check_rng_int(&g, 200000, 900000);
    w.capacity =
        cm_check_rng_chance(&g, 0.05) ? 0 : cm_check_rng_int(&g, 1, max_cap);
    w.jobs_today = cm_check_rng_int(&g, 0, 8);
    w.rating = cm_check_rng_real(&g, 2.5, 5.0);
    w.level = cm_check_rng_real(&g, 1.0, 5.0);
    w.n_elders = cm_check_rng_int(&g, 0, 3);
    for (int e = 0; e < w.n_elders; e++)
      w.elders[e] = elders[(e * 2 + cm_check_rng_int(&g, 0, 1)) % CHECK_ELDERS];
    if (cm_instance_worker_add(inst, &w, NULL, &err) != CM_OK)
      goto oom;
  }

  for (int i = 0; i < n_req; i++) {
    cm_request r;
    cm_request_init(&r);
    snprintf(r.id, sizeof r.id, "r%d", i);
    r.has_position = o->edge_mode ? cm_check_rng_chance(&g, 0.5) : 1;
    place(&g, o->area_km, &r.lat, &r.lon);
    if (!r.has_position)
      r.lat = r.lon = 0.0;
    r.staff = cm_check_rng_chance(&g, o->team_prob)
                  ? cm_check_rng_int(&g, 2, max_staff)
                  : 1;
    if (r.staff >= 2)
      r.skill_mode =
          cm_check_rng_chance(&g, 0.5) ? CM_SKILLS_ALL : CM_SKILLS_ANY;
    else
      r.skill_mode =
          cm_check_rng_chance(&g, 0.8) ? CM_SKILLS_ALL : CM_SKILLS_ANY;
    int n_sk = cm_check_rng_chance(&g, 0.25) ? 2 : 1;
    if (r.skill_mode == CM_SKILLS_ANY && cm_check_rng_chance(&g, 0.1))
      n_sk = 3;
    if (r.skill_mode == CM_SKILLS_ALL && r.staff >= 2 && n_sk > r.staff)
      n_sk = r.staff;
    r.skills = random_skills(&g, n_skills, n_sk);
    r.urgency = (cm_urgency)cm_check_rng_int(&g, 0, CM_URGENCY_COUNT - 1);
    r.waited_s = cm_check_rng_real(&g, 0.0, 900.0);
    r.elder = cm_check_rng_chance(&g, 0.5)
                  ? elders[cm_check_rng_int(&g, 0, CHECK_ELDERS - 1)]
                  : 0;
    if (n_w > 0 && cm_check_rng_chance(&g, 0.3)) {
      int want = cm_check_rng_int(&g, 1, 2);
      for (int t = 0; t < 4 && r.n_preferred < want; t++) {
        int w = cm_check_rng_int(&g, 0, n_w - 1);
        if (!contains(r.preferred, r.n_preferred, w))
          r.preferred[r.n_preferred++] = w;
      }
    }
    if (n_w > 0 && cm_check_rng_chance(&g, 0.2)) {
      int w = cm_check_rng_int(&g, 0, n_w - 1);
      if (!contains(r.preferred, r.n_preferred, w))
        r.excluded[r.n_excluded++] = w;
    }
    if (cm_instance_request_add(inst, &r, NULL, &err) != CM_OK)
      goto oom;
  }

  if (o->edge_mode) {
    inst->has_edges = 1;
    int *perm = malloc(sizeof *perm * (size_t)(n_w > 0 ? n_w : 1));
    if (!perm)
      goto oom;
    for (int i = 0; i < n_req; i++) {
      for (int j = 0; j < n_w; j++)
        perm[j] = j;
      int take = 0;
      if (o->edges_per_request > 0) {
        take = o->edges_per_request < n_w ? o->edges_per_request : n_w;
        for (int t = 0; t < take; t++) {
          int x = cm_check_rng_int(&g, t, n_w - 1);
          int tmp = perm[t];
          perm[t] = perm[x];
          perm[x] = tmp;
        }
      } else {
        for (int j = 0; j < n_w; j++)
          if (cm_check_rng_chance(&g, o->edge_prob))
            perm[take++] = j;
      }
      for (int t = 0; t < take; t++) {
        cm_edge_in e = {i, perm[t], cm_check_rng_real(&g, 0.0, 30.0)};
        if (cm_check_rng_chance(&g, 0.05))
          e.travel_min = 0.0;
        if (cm_instance_edge_add(inst, &e, NULL, &err) != CM_OK) {
          free(perm);
          goto oom;
        }
      }
    }
    free(perm);
  }

  if (cm_instance_validate(inst, &err) != CM_OK)
    gen_fail(inst, &err, seed);
  return inst;

oom:
  cm_instance_free(inst);
  return NULL;
}

cm_instance *cm_check_copy(const cm_instance *inst) {
  cm_error err;
  cm_instance *c = cm_instance_new();
  if (!c)
    return NULL;
  c->taxonomy = inst->taxonomy;
  c->weights = inst->weights;
  c->params = inst->params;
  c->has_edges = inst->has_edges;
  for (int j = 0; j < inst->n_workers; j++)
    if (cm_instance_worker_add(c, &inst->workers[j], NULL, &err) != CM_OK)
      goto fail;
  for (int i = 0; i < inst->n_requests; i++)
    if (cm_instance_request_add(c, &inst->requests[i], NULL, &err) != CM_OK)
      goto fail;
  for (int e = 0; e < inst->n_edges; e++)
    if (cm_instance_edge_add(c, &inst->edges[e], NULL, &err) != CM_OK)
      goto fail;
  return c;
fail:
  cm_instance_free(c);
  return NULL;
}

/* --------------------------------------------------- eligibility, edges */

int cm_check_eligible(const cm_instance *inst, int r, int w) {
  const cm_request *rq = &inst->requests[r];
  const cm_worker *wk = &inst->workers[w];
  cm_skillset have = wk->skills & rq->skills;
  if (rq->skill_mode == CM_SKILLS_ALL && rq->staff <= 1) {
    if (have != rq->skills)
      return 0;
  } else if (!have) {
    return 0;
  }
  if (wk->status != CM_WORKER_AVAILABLE)
    return 0;
  if (wk->capacity <= 0)
    return 0;
  if (inst->params.stale_ms > 0 &&
      inst->params.now_ms - wk->seen_ms > inst->params.stale_ms)
    return 0;
  if (contains(rq->excluded, rq->n_excluded, w))
    return 0;
  return 1;
}

static int find_edge(const cm_instance *inst, int r, int w) {
  for (int e = 0; e < inst->n_edges; e++)
    if (inst->edges[e].request == r && inst->edges[e].worker == w)
      return e;
  return -1;
}

/* Eligible and within reach, ignoring K. */
static int candidate_raw(const cm_instance *inst, int r, int w,
                         double *distance_km, double *travel_min) {
  const cm_request *rq = &inst->requests[r];
  const cm_worker *wk = &inst->workers[w];
  double dist = 0.0, travel = 0.0;
  if (!cm_check_eligible(inst, r, w))
    return 0;
  if (inst->has_edges) {
    int e = find_edge(inst, r, w);
    if (e < 0)
      return 0;
    travel = inst->edges[e].travel_min;
    if (rq->has_position && wk->has_position)
      dist = cm_geo_distance_km(rq->lat, rq->lon, wk->lat, wk->lon);
  } else {
    if (!rq->has_position || !wk->has_position)
      return 0;
    dist = cm_geo_distance_km(rq->lat, rq->lon, wk->lat, wk->lon);
    if (dist > cm_request_radius_km(&inst->params, rq))
      return 0;
    travel = cm_travel_minutes(&inst->params, dist);
  }
  if (distance_km)
    *distance_km = dist;
  if (travel_min)
    *travel_min = travel;
  return 1;
}

int cm_check_candidate(const cm_instance *inst, int r, int w,
                       double *distance_km, double *travel_min) {
  double d;
  if (!candidate_raw(inst, r, w, &d, travel_min))
    return 0;
  if (distance_km)
    *distance_km = d;
  /* positions mode: only the K nearest candidates per person needed (a
   * team of s looks at K * s), ties favour w */
  int64_t k = (int64_t)inst->params.k * inst->requests[r].staff;
  if (inst->has_edges || k >= inst->n_workers)
    return 1;
  int nearer = 0;
  for (int x = 0; x < inst->n_workers && nearer < k; x++) {
    double dx;
    if (x != w && candidate_raw(inst, r, x, &dx, NULL) && dx < d)
      nearer++;
  }
  return nearer < k;
}

int cm_check_count_candidates(const cm_instance *inst, int r) {
  int n = 0;
  if (inst->has_edges) {
    for (int e = 0; e < inst->n_edges; e++) {
      const cm_edge_in *ed = &inst->edges[e];
      /* count each worker once even if an edge were repeated */
      if (ed->request == r && find_edge(inst, r, ed->worker) == e &&
          cm_check_eligible(inst, r, ed->worker))
        n++;
    }
    return n;
  }
  for (int w = 0; w < inst->n_workers; w++)
    if (candidate_raw(inst, r, w, NULL, NULL))
      n++;
  return n;
}

/* -------------------------------------------------------------- checker */

int cm_check_close(double a, double b) {
  double scale = fmax(1.0, fmax(fabs(a), fabs(b)));
  return fabs(a - b) <= CM_CHECK_TOL * scale;
}

#define FAIL(...)                                                              \
  do {                                                                         \
    snprintf(msg, CM_CHECK_MSG_MAX, __VA_ARGS__);                              \
    goto out;                                                                  \
  } while (0)

static const char *term_mismatch(const cm_cost_terms *got,
                                 const cm_cost_terms *want) {
  if (!cm_check_close(got->distance_km, want->distance_km))
    return "distance_km";
  if (!cm_check_close(got->travel_min, want->travel_min))
    return "travel_min";
  if (!cm_check_close(got->travel, want->travel))
    return "travel";
  if (!cm_check_close(got->workload, want->workload))
    return "workload";
  if (!cm_check_close(got->continuity, want->continuity))
    return "continuity";
  if (!cm_check_close(got->rating, want->rating))
    return "rating";
  if (!cm_check_close(got->skill, want->skill))
    return "skill";
  if (!cm_check_close(got->preferred, want->preferred))
    return "preferred";
  if (!cm_check_close(got->sla, want->sla))
    return "sla";
  if (!cm_check_close(got->total, want->total))
    return "total";
  return NULL;
}

int cm_check_feasible(const cm_instance *inst, const cm_answer *ans,
                      char msg[CM_CHECK_MSG_MAX]) {
  int ok = 0;
  int n_req = inst->n_requests, n_w = inst->n_workers;
  int *served = calloc((size_t)n_req + 1, sizeof *served);
  int *unassigned = calloc((size_t)n_req + 1, sizeof *unassigned);
  int *load = calloc((size_t)n_w + 1, sizeof *load);
  cm_skillset *cover = calloc((size_t)n_req + 1, sizeof *cover);
  msg[0] = '\0';
  if (!served || !unassigned || !load || !cover)
    FAIL("checker out of memory");
  if (ans->n_assignments < 0 || ans->n_unassigned < 0 || ans->n_components < 0)
    FAIL("negative counts: %d assignments, %d unassigned, %d components",
         ans->n_assignments, ans->n_unassigned, ans->n_components);
  if ((ans->n_assignments > 0 && !ans->assignments) ||
      (ans->n_unassigned > 0 && !ans->unassigned) ||
      (ans->n_components > 0 && !ans->components))
    FAIL("NULL array with a positive count");

  double objective = 0.0;
  for (int a = 0; a < ans->n_assignments; a++) {
    const cm_assignment *as = &ans->assignments[a];
    int r = as->request, w = as->worker;
    if (r < 0 || r >= n_req || w < 0 || w >= n_w)
      FAIL("assignment %d: index out of range (request %d, worker %d)", a, r,
           w);
    if (as->component < -1 || as->component >= ans->n_components)
      FAIL("assignment %d (r%d w%d): component %d outside [-1, %d)", a, r, w,
           as->component, ans->n_components);
    if (!cm_check_eligible(inst, r, w))
      FAIL("assignment %d: worker %d (%s) is not eligible for request %d "
           "(%s)",
           a, w, inst->workers[w].id, r, inst->requests[r].id);
    double dist = 0.0, travel = 0.0;
    if (!cm_check_candidate(inst, r, w, &dist, &travel)) {
      if (inst->has_edges)
        FAIL("assignment %d: (request %d, worker %d) is not a given edge", a, r,
             w);
      if (candidate_raw(inst, r, w, NULL, NULL))
        FAIL("assignment %d: worker %d is not among the %d x %d nearest "
             "eligible workers of request %d",
             a, w, inst->params.k, inst->requests[r].staff, r);
      FAIL("assignment %d: worker %d is outside the radius of request %d "
           "(%.6f km > %.6f km)",
           a, w, r,
           cm_geo_distance_km(inst->requests[r].lat, inst->requests[r].lon,
                              inst->workers[w].lat, inst->workers[w].lon),
           cm_request_radius_km(&inst->params, &inst->requests[r]));
    }
    for (int b = 0; b < a; b++)
      if (ans->assignments[b].request == r && ans->assignments[b].worker == w)
        FAIL("worker %d appears twice in request %d (assignments %d, %d)", w, r,
             b, a);
    cm_cost_terms want;
    memset(&want, 0, sizeof want);
    cm_edge_cost(inst, r, w, dist, travel, &want);
    const char *bad = term_mismatch(&as->terms, &want);
    if (bad)
      FAIL("assignment %d (r%d w%d): cost term %s differs: answer "
           "{dist %.9g travel_min %.9g travel %.9g workload %.9g cont %.9g "
           "rating %.9g skill %.9g pref %.9g total %.9g} recomputed "
           "{dist %.9g travel_min %.9g travel %.9g workload %.9g cont %.9g "
           "rating %.9g skill %.9g pref %.9g total %.9g}",
           a, r, w, bad, as->terms.distance_km, as->terms.travel_min,
           as->terms.travel, as->terms.workload, as->terms.continuity,
           as->terms.rating, as->terms.skill, as->terms.preferred,
           as->terms.total, want.distance_km, want.travel_min, want.travel,
           want.workload, want.continuity, want.rating, want.skill,
           want.preferred, want.total);
    double sum = as->terms.travel + as->terms.workload + as->terms.continuity +
                 as->terms.rating + as->terms.skill + as->terms.preferred +
                 as->terms.sla;
    if (!cm_check_close(sum, as->terms.total))
      FAIL("assignment %d (r%d w%d): terms sum to %.9g, total says %.9g", a, r,
           w, sum, as->terms.total);
    served[r]++;
    load[w]++;
    cover[r] |= inst->workers[w].skills & inst->requests[r].skills;
    objective += want.total;
  }

  for (int w = 0; w < n_w; w++)
    if (load[w] > inst->workers[w].capacity)
      FAIL("worker %d (%s) serves %d requests, capacity %d", w,
           inst->workers[w].id, load[w], inst->workers[w].capacity);

  for (int u = 0; u < ans->n_unassigned; u++) {
    const cm_unassigned *un = &ans->unassigned[u];
    int r = un->request;
    if (r < 0 || r >= n_req)
      FAIL("unassigned %d: request index %d out of range", u, r);
    if ((int)un->reason < 0 || un->reason >= CM_REASON_COUNT)
      FAIL("unassigned %d (request %d): reason %d out of range", u, r,
           (int)un->reason);
    double pen = cm_request_penalty(&inst->weights, &inst->requests[r]);
    if (!cm_check_close(un->penalty, pen))
      FAIL("unassigned %d (request %d): penalty %.9g, expected %.9g", u, r,
           un->penalty, pen);
    unassigned[r]++;
    objective += pen;
  }

  for (int r = 0; r < n_req; r++) {
    const cm_request *rq = &inst->requests[r];
    if (unassigned[r] > 1)
      FAIL("request %d (%s) is listed unassigned %d times", r, rq->id,
           unassigned[r]);
    if (unassigned[r] && served[r])
      FAIL("request %d (%s) is both unassigned and served by %d workers", r,
           rq->id, served[r]);
    if (!unassigned[r] && served[r] == 0)
      FAIL("request %d (%s) appears neither assigned nor unassigned", r,
           rq->id);
    if (served[r] && served[r] != rq->staff)
      FAIL("request %d (%s) needs %d staff, got %d (all or none)", r, rq->id,
           rq->staff, served[r]);
    if (served[r] && rq->skill_mode == CM_SKILLS_ALL && cover[r] != rq->skills)
      FAIL("request %d (%s): team covers skills 0x%x of 0x%x (ALL mode)", r,
           rq->id, (unsigned)cover[r], (unsigned)rq->skills);
  }

  if (!cm_check_close(objective, ans->objective))
    FAIL("objective %.12g, recomputed %.12g", ans->objective, objective);

  const cm_solve_stats *st = &ans->stats;
  if (st->components != ans->n_components)
    FAIL("stats.components %d but %d component records", st->components,
         ans->n_components);
  int fell = 0;
  for (int c = 0; c < ans->n_components; c++) {
    const cm_component_info *ci = &ans->components[c];
    if ((int)ci->method < 0 || ci->method >= CM_METHOD_COUNT)
      FAIL("component %d: method %d out of range", c, (int)ci->method);
    if (ci->fell_back)
      fell++;
  }
  if (st->fallbacks != fell)
    FAIL("stats.fallbacks %d but %d components fell back", st->fallbacks, fell);
  if (st->exact != 0 && st->exact != 1)
    FAIL("stats.exact is %d", st->exact);
  if (isnan(st->lower_bound))
    FAIL("stats.lower_bound is NaN");
  if (st->lower_bound >
      ans->objective + CM_CHECK_TOL * fmax(1.0, fabs(ans->objective)))
    FAIL("lower_bound %.12g above objective %.12g", st->lower_bound,
         ans->objective);
  ok = 1;
out:
  free(served);
  free(unassigned);
  free(load);
  free(cover);
  return ok;
}

/* Cheapest feasible worker set of request r (staff distinct candidates,
 * ALL-mode coverage), capacities ignored; INFINITY when there is none. */
static double cheapest_team(const cm_instance *inst, int r, const int *cand,
                            const double *cost, int n, int start, int left,
                            double sum, cm_skillset cover) {
  const cm_request *rq = &inst->requests[r];
  if (left == 0)
    return rq->skill_mode == CM_SKILLS_ALL && (cover & rq->skills) != rq->skills
               ? INFINITY
               : sum;
  double best = INFINITY;
  for (int c = start; c <= n - left; c++) {
    double v =
        cheapest_team(inst, r, cand, cost, n, c + 1, left - 1, sum + cost[c],
                      cover | inst->workers[cand[c]].skills);
    if (v < best)
      best = v;
  }
  return best;
}

double cm_check_min_option(const cm_instance *inst, int r) {
  int n_w = inst->n_workers, n = 0;
  int *cand = malloc(sizeof *cand * (size_t)(n_w + 1));
  double *cost = malloc(sizeof *cost * (size_t)(n_w + 1));
  if (!cand || !cost)
    abort();
  for (int w = 0; w < n_w; w++) {
    double d, t;
    if (!cm_check_candidate(inst, r, w, &d, &t))
      continue;
    cm_cost_terms c;
    memset(&c, 0, sizeof c);
    cm_edge_cost(inst, r, w, d, t, &c);
    cand[n] = w;
    cost[n++] = c.total;
  }
  double best =
      cheapest_team(inst, r, cand, cost, n, 0, inst->requests[r].staff, 0.0, 0);
  free(cand);
  free(cost);
  return best;
}

int cm_check_reasons(const cm_instance *inst, const cm_answer *ans,
                     cm_check_budget budget, char msg[CM_CHECK_MSG_MAX]) {
  int ok = 0;
  msg[0] = '\0';
  for (int u = 0; u < ans->n_unassigned; u++) {
    const cm_unassigned *un = &ans->unassigned[u];
    int r = un->request;
    const cm_request *rq = &inst->requests[r];
    int cands = cm_check_count_candidates(inst, r);
    if (cands == 0 && un->reason != CM_REASON_NO_CANDIDATE &&
        !(budget == CM_CHECK_BUDGET && un->reason == CM_REASON_DEADLINE))
      FAIL("request %d (%s) has no candidate but reason %s", r, rq->id,
           cm_reason_name(un->reason));
    /* A team may have candidates yet too few to be staffed: either reason
     * then. One-person requests with a candidate are never no_candidate. */
    if (cands > 0 && rq->staff == 1 && un->reason == CM_REASON_NO_CANDIDATE)
      FAIL("request %d (%s) has %d eligible candidates within reach but "
           "reason no_candidate (penalty %.9g)",
           r, rq->id, cands, un->penalty);
    /* Under a 0 ms budget only an exact decision (every option costs more
     * than the penalty) may say outranked; the rest is the fallback's. */
    if (budget == CM_CHECK_ZERO_BUDGET && un->reason == CM_REASON_OUTRANKED) {
      double best = cm_check_min_option(inst, r);
      if (best <= un->penalty)
        FAIL("request %d (%s): reason outranked under a 0 ms budget, but its "
             "cheapest option %.9g is below its penalty %.9g",
             r, rq->id, best, un->penalty);
    }
    if (budget == CM_CHECK_UNBOUNDED && un->reason == CM_REASON_DEADLINE)
      FAIL("request %d (%s): reason deadline without a deadline", r, rq->id);
  }
  ok = 1;
out:
  return ok;
}

/* ---------------------------------------------------------- brute force */

typedef struct bf_option {
  uint32_t mask; /* workers of the option */
  double cost;   /* sum of their edge costs */
} bf_option;

typedef struct bf_state {
  const cm_instance *inst;
  bf_option **opts; /* per request */
  int *n_opts;      /* per request */
  double *penalty;  /* per request */
  int64_t *stride;  /* per worker: mixed-radix place value */
  int64_t n_states; /* product of (capacity + 1) */
  double *memo;     /* (n_requests + 1) x n_states; NAN = unknown */
  int *best;        /* n_requests x n_states; option index, -1 unassigned */
} bf_state;

static int bf_add_option(bf_option **opts, int *n, int *cap, uint32_t mask,
                         double cost) {
  if (*n == *cap) {
    int nc = *cap ? *cap * 2 : 16;
    bf_option *p = realloc(*opts, sizeof *p * (size_t)nc);
    if (!p)
      return -1;
    *opts = p;
    *cap = nc;
  }
  (*opts)[*n].mask = mask;
  (*opts)[*n].cost = cost;
  (*n)++;
  return 0;
}

/* Every staff-sized subset of the candidates, with team skill coverage. */
static int bf_subsets(const cm_instance *inst, int r, const int *cand,
                      const double *cost, int n_cand, int start, int left,
                      uint32_t mask, double sum, cm_skillset cover,
                      bf_option **opts, int *n, int *cap) {
  const cm_request *rq = &inst->requests[r];
  if (left == 0) {
    if (rq->skill_mode == CM_SKILLS_ALL && (cover & rq->skills) != rq->skills)
      return 0;
    return bf_add_option(opts, n, cap, mask, sum);
  }
  for (int c = start; c <= n_cand - left; c++) {
    int w = cand[c];
    if (bf_subsets(inst, r, cand, cost, n_cand, c + 1, left - 1,
                   mask | ((uint32_t)1 << w), sum + cost[c],
                   cover | inst->workers[w].skills, opts, n, cap) < 0)
      return -1;
  }
  return 0;
}

static int bf_digit(const bf_state *s, int64_t state, int w) {
  int cap = (int)(s->stride[w + 1] / s->stride[w]);
  return (int)((state / s->stride[w]) % cap);
}

static double bf_solve(bf_state *s, int i, int64_t state) {
  int n_req = s->inst->n_requests;
  if (i == n_req)
    return 0.0;
  double *m = &s->memo[(int64_t)i * s->n_states + state];
  if (!isnan(*m))
    return *m;
  double best = s->penalty[i] + bf_solve(s, i + 1, state);
  int choice = -1;
  for (int o = 0; o < s->n_opts[i]; o++) {
    const bf_option *op = &s->opts[i][o];
    int64_t next = state;
    int fits = 1;
    for (int w = 0; w < s->inst->n_workers && fits; w++) {
      if (!(op->mask & ((uint32_t)1 << w)))
        continue;
      if (bf_digit(s, state, w) == 0)
        fits = 0;
      else
        next -= s->stride[w];
    }
    if (!fits)
      continue;
    double v = op->cost + bf_solve(s, i + 1, next);
    if (v < best) {
      best = v;
      choice = o;
    }
  }
  s->best[(int64_t)i * s->n_states + state] = choice;
  *m = best;
  return best;
}

double cm_check_brute_force(const cm_instance *inst, uint32_t *choice) {
  int n_req = inst->n_requests, n_w = inst->n_workers;
  if (n_w > 31) {
    fprintf(stderr, "check: brute force supports at most 31 workers\n");
    abort();
  }
  bf_state s;
  memset(&s, 0, sizeof s);
  s.inst = inst;
  s.opts = calloc((size_t)n_req + 1, sizeof *s.opts);
  s.n_opts = calloc((size_t)n_req + 1, sizeof *s.n_opts);
  s.penalty = calloc((size_t)n_req + 1, sizeof *s.penalty);
  s.stride = calloc((size_t)n_w + 1, sizeof *s.stride);
  int *cand = calloc((size_t)n_w + 1, sizeof *cand);
  double *cost = calloc((size_t)n_w + 1, sizeof *cost);
  int *used = calloc((size_t)n_w + 1, sizeof *used);
  if (!s.opts || !s.n_opts || !s.penalty || !s.stride || !cand || !cost ||
      !used)
    abort();

  for (int r = 0; r < n_req; r++) {
    const cm_request *rq = &inst->requests[r];
    int n_cand = 0, cap = 0;
    s.penalty[r] = cm_request_penalty(&inst->weights, rq);
    for (int w = 0; w < n_w; w++) {
      double dist, travel;
      if (!cm_check_candidate(inst, r, w, &dist, &travel))
        continue;
      cm_cost_terms t;
      memset(&t, 0, sizeof t);
      cm_edge_cost(inst, r, w, dist, travel, &t);
      cand[n_cand] = w;
      cost[n_cand] = t.total;
      n_cand++;
    }
    if (rq->staff <= n_cand &&
        bf_subsets(inst, r, cand, cost, n_cand, 0, rq->staff, 0, 0.0, 0,
                   &s.opts[r], &s.n_opts[r], &cap) < 0)
      abort();
    for (int o = 0; o < s.n_opts[r]; o++)
      for (int w = 0; w < n_w; w++)
        if (s.opts[r][o].mask & ((uint32_t)1 << w))
          used[w] = 1;
  }

  /* Capacity digits: a worker no option uses has one state. */
  int64_t total = 1;
  for (int w = 0; w < n_w; w++) {
    int c = used[w] ? inst->workers[w].capacity : 0;
    if (c > n_req)
      c = n_req;
    if (c < 0)
      c = 0;
    s.stride[w] = total;
    total *= c + 1;
    if (total > 4000000) {
      fprintf(stderr, "check: brute force state space too large\n");
      abort();
    }
  }
  s.stride[n_w] = total;
  s.n_states = total;
  int64_t start = total - 1; /* every digit at its maximum */
  s.memo = malloc(sizeof *s.memo * (size_t)((n_req + 1) * total));
  s.best = malloc(sizeof *s.best * (size_t)((n_req > 0 ? n_req : 1) * total));
  if (!s.memo || !s.best)
    abort();
  for (int64_t x = 0; x < (n_req + 1) * total; x++)
    s.memo[x] = NAN;

  double best = bf_solve(&s, 0, start);
  if (choice) {
    int64_t state = start;
    for (int i = 0; i < n_req; i++) {
      int o = s.best[(int64_t)i * s.n_states + state];
      choice[i] = o < 0 ? 0 : s.opts[i][o].mask;
      for (int w = 0; w < n_w; w++)
        if (choice[i] & ((uint32_t)1 << w))
          state -= s.stride[w];
    }
  }

  for (int r = 0; r < n_req; r++)
    free(s.opts[r]);
  free(s.opts);
  free(s.n_opts);
  free(s.penalty);
  free(s.stride);
  free(s.memo);
  free(s.best);
  free(cand);
  free(cost);
  free(used);
  return best;
}

/* ---------------------------------------------------------------- dumps */

static const char *mode_name(cm_skill_mode m) {
  return m == CM_SKILLS_ANY ? "any" : "all";
}

void cm_check_dump_instance(FILE *f, const cm_instance *inst) {
  const cm_weights *w = &inst->weights;
  const cm_params *p = &inst->params;
  fprintf(f, "instance: %d requests, %d workers, %d edges, has_edges %d\n",
          inst->n_requests, inst->n_workers, inst->n_edges, inst->has_edges);
  fprintf(f,
          " weights: travel %.17g factor {%.17g %.17g %.17g %.17g} workload "
          "%.17g continuity %.17g rating %.17g skill %.17g preferred %.17g "
          "penalty {%.17g %.17g %.17g %.17g} aging %.17g\n",
          w->travel, w->urgency_factor[0], w->urgency_factor[1],
          w->urgency_factor[2], w->urgency_factor[3], w->workload,
          w->continuity, w->rating, w->skill, w->preferred, w->penalty_base[0],
          w->penalty_base[1], w->penalty_base[2], w->penalty_base[3],
          w->aging_per_min);
  for (int u = 0; u < CM_URGENCY_COUNT; u++)
    fprintf(f, " sla[%d]: target %.17g risk %.17g late %.17g\n", u,
            w->sla_target_min[u], w->sla_risk[u], w->sla_late_per_min[u]);
  fprintf(f,
          " params: k %d radius {%.17g %.17g %.17g %.17g} growth %.17g max "
          "%.17g speed %.17g road %.17g now %lld stale %lld\n",
          p->k, p->radius_km[0], p->radius_km[1], p->radius_km[2],
          p->radius_km[3], p->radius_growth_km_per_min, p->radius_max_km,
          p->speed_kmh, p->road_factor, (long long)p->now_ms,
          (long long)p->stale_ms);
  for (int j = 0; j < inst->n_workers; j++) {
    const cm_worker *x = &inst->workers[j];
    fprintf(f,
            " worker %d %s: skills 0x%x %s pos %d (%.17g, %.17g) seen %lld "
            "cap %d jobs %d rating %.17g level %.17g elders",
            j, x->id, (unsigned)x->skills, cm_worker_status_name(x->status),
            x->has_position, x->lat, x->lon, (long long)x->seen_ms, x->capacity,
            x->jobs_today, x->rating, x->level);
    for (int e = 0; e < x->n_elders; e++)
      fprintf(f, " %016llx", (unsigned long long)x->elders[e]);
    fprintf(f, "\n");
  }
  for (int i = 0; i < inst->n_requests; i++) {
    const cm_request *x = &inst->requests[i];
    fprintf(f,
            " request %d %s: skills 0x%x %s staff %d %s pos %d (%.17g, %.17g) "
            "waited %.17g elder %016llx radius %.17g penalty %.17g pref",
            i, x->id, (unsigned)x->skills, mode_name(x->skill_mode), x->staff,
            cm_urgency_name(x->urgency), x->has_position, x->lat, x->lon,
            x->waited_s, (unsigned long long)x->elder,
            cm_request_radius_km(&inst->params, x),
            cm_request_penalty(&inst->weights, x));
    for (int t = 0; t < x->n_preferred; t++)
      fprintf(f, " %d", x->preferred[t]);
    fprintf(f, " excl");
    for (int t = 0; t < x->n_excluded; t++)
      fprintf(f, " %d", x->excluded[t]);
    fprintf(f, " cands");
    for (int j = 0; j < inst->n_workers; j++) {
      double d, t;
      if (cm_check_candidate(inst, i, j, &d, &t)) {
        cm_cost_terms c;
        memset(&c, 0, sizeof c);
        cm_edge_cost(inst, i, j, d, t, &c);
        fprintf(f, " w%d:%.6g", j, c.total);
      }
    }
    fprintf(f, "\n");
  }
  for (int e = 0; e < inst->n_edges; e++)
    fprintf(f, " edge %d: r%d w%d travel %.17g\n", e, inst->edges[e].request,
            inst->edges[e].worker, inst->edges[e].travel_min);
}

void cm_check_dump_answer(FILE *f, const cm_answer *ans) {
  fprintf(f, "answer: objective %.17g, %d assignments, %d unassigned\n",
          ans->objective, ans->n_assignments, ans->n_unassigned);
  for (int a = 0; a < ans->n_assignments; a++) {
    const cm_assignment *x = &ans->assignments[a];
    fprintf(f, " assign r%d w%d comp %d total %.17g (travel_min %.9g)\n",
            x->request, x->worker, x->component, x->terms.total,
            x->terms.travel_min);
  }
  for (int u = 0; u < ans->n_unassigned; u++)
    fprintf(f, " unassigned r%d %s penalty %.17g\n", ans->unassigned[u].request,
            cm_reason_name(ans->unassigned[u].reason),
            ans->unassigned[u].penalty);
  for (int c = 0; c < ans->n_components; c++) {
    const cm_component_info *x = &ans->components[c];
    fprintf(f, " component %d: %d req %d workers %d edges %d teams %s%s\n", c,
            x->requests, x->workers, x->edges, x->teams,
            cm_method_name(x->method), x->fell_back ? " fell_back" : "");
  }
  const cm_solve_stats *s = &ans->stats;
  fprintf(f,
          " stats: edges %d reduced %d components %d fallbacks %d exact %d "
          "lower_bound %.17g gap %.9g\n",
          s->edges, s->reduced, s->components, s->fallbacks, s->exact,
          s->lower_bound, s->gap);
}

int64_t cm_check_clock(void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
