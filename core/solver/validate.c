/* validate.c -- cm_instance_validate and cm_params_validate: every field
 * checked, first problem reported with its JSON path. Never changes the
 * instance. (The weights are checked against their table in weights.c.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/model.h"
#include "idmap.h"

#define PATH_MAX_ 128

static int finite_in(double v, double lo, double hi) {
  return isfinite(v) && v >= lo && v <= hi;
}

static cm_status bad(cm_error *err, cm_status code, const char *path,
                     const char *what) {
  return cm_error_set(err, code, path, "%s: %s", path, what);
}

/* Report a problem with field `field` of element i of array `kind`
 * ("workers", "requests"); the path is formatted only now, on failure. */
static cm_status bad_at(cm_error *err, cm_status code, const char *kind, int i,
                        const char *field, const char *what) {
  char path[PATH_MAX_];
  snprintf(path, sizeof path, "$.%s[%d].%s", kind, i, field);
  return bad(err, code, path, what);
}

static cm_status check_id(const char *id, const char *kind, int i,
                          cm_error *err) {
  size_t n = strnlen(id, CM_ID_MAX);
  if (n == 0)
    return bad_at(err, CM_E_INVALID, kind, i, "id", "id must not be empty");
  if (n >= CM_ID_MAX)
    return bad_at(err, CM_E_INVALID, kind, i, "id", "id is too long");
  return CM_OK;
}

static cm_status check_position(int has, double lat, double lon,
                                const char *kind, int i, cm_error *err) {
  char base[PATH_MAX_];
  if (!has || (cm_lat_valid(lat) && cm_lon_valid(lon)))
    return CM_OK;
  snprintf(base, sizeof base, "$.%s[%d]", kind, i);
  return cm_position_check(lat, lon, base, err);
}

static cm_status check_skills(const cm_instance *inst, cm_skillset s,
                              const char *kind, int i, cm_error *err) {
  cm_skillset known = inst->taxonomy.count >= 32
                          ? 0xffffffffu
                          : ((1u << inst->taxonomy.count) - 1u);
  if (s == 0)
    return bad_at(err, CM_E_INVALID, kind, i, "skills",
                  "at least one skill is required");
  if (s & ~known)
    return bad_at(err, CM_E_UNKNOWN_SKILL, kind, i, "skills",
                  "skill outside the taxonomy");
  return CM_OK;
}

static cm_status check_worker(const cm_instance *inst, int i, cm_error *err) {
  const cm_worker *w = &inst->workers[i];
  cm_status st;
  if ((st = check_id(w->id, "workers", i, err)) != CM_OK)
    return st;
  if ((st = check_skills(inst, w->skills, "workers", i, err)) != CM_OK)
    return st;
  if ((st = check_position(w->has_position, w->lat, w->lon, "workers", i, err)))
    return st;
#define WFIELD_(cond, name, msg)                                               \
  do {                                                                         \
    if (!(cond))                                                               \
      return bad_at(err, CM_E_RANGE, "workers", i, name, msg);                 \
  } while (0)
  WFIELD_((int)w->status >= 0 && w->status < CM_WORKER_STATUS_COUNT, "status",
          "unknown status");
  WFIELD_(w->seen_ms >= 0, "seen_ms", "must be >= 0");
  WFIELD_(w->capacity >= 0 && w->capacity <= 64, "capacity",
          "must be an integer in [0, 64]");
  WFIELD_(w->jobs_today >= 0 && w->jobs_today <= 1000, "jobs_today",
          "must be an integer in [0, 1000]");
  WFIELD_(finite_in(w->rating, 0.0, 5.0), "rating", "must be in [0, 5]");
  WFIELD_(finite_in(w->level, 1.0, 5.0), "level", "must be in [1, 5]");
  WFIELD_(w->n_elders >= 0 && w->n_elders <= CM_MAX_ELDERS, "elders",
          "at most 8 elders");
#undef WFIELD_
  return CM_OK;
}

static cm_status check_index_list(const cm_instance *inst, const int *list,
                                  int n, int i, const char *name,
                                  cm_error *err) {
  char path[PATH_MAX_];
  if (n < 0 || n > CM_MAX_PREFS)
    return bad_at(err, CM_E_LIMIT, "requests", i, name, "at most 8 workers");
  for (int k = 0; k < n; k++)
    if (list[k] < 0 || list[k] >= inst->n_workers) {
      snprintf(path, sizeof path, "$.requests[%d].%s[%d]", i, name, k);
      return bad(err, CM_E_UNKNOWN_ID, path, "names no worker");
    }
  return CM_OK;
}

static cm_status check_request(const cm_instance *inst, int i, cm_error *err) {
  const cm_request *r = &inst->requests[i];
  cm_status st;
  if ((st = check_id(r->id, "requests", i, err)) != CM_OK)
    return st;
  if ((st = check_skills(inst, r->skills, "requests", i, err)) != CM_OK)
    return st;
  if (!r->has_position && !inst->has_edges)
    return bad_at(err, CM_E_MISSING, "requests", i, "lat",
                  "a position is required unless edges are given");
  if ((st =
           check_position(r->has_position, r->lat, r->lon, "requests", i, err)))
    return st;
#define RFIELD_(cond, name, msg)                                               \
  do {                                                                         \
    if (!(cond))                                                               \
      return bad_at(err, CM_E_RANGE, "requests", i, name, msg);                \
  } while (0)
  RFIELD_(r->skill_mode == CM_SKILLS_ALL || r->skill_mode == CM_SKILLS_ANY,
          "skill_mode", "must be all or any");
  RFIELD_(r->staff >= 1 && r->staff <= CM_MAX_STAFF, "staff",
          "must be an integer in [1, 4]");
  RFIELD_((int)r->urgency >= 0 && r->urgency < CM_URGENCY_COUNT, "urgency",
          "unknown urgency");
  RFIELD_(finite_in(r->waited_s, 0.0, 1e7), "waited_s",
          "must be a finite number of seconds in [0, 1e7]");
#undef RFIELD_
  if ((st = check_index_list(inst, r->preferred, r->n_preferred, i, "preferred",
                             err)))
    return st;
  return check_index_list(inst, r->excluded, r->n_excluded, i, "excluded", err);
}

static cm_status check_unique(const cm_instance *inst, int workers,
                              cm_error *err) {
  int n = workers ? inst->n_workers : inst->n_requests;
  cm__idmap map;
  char path[PATH_MAX_];
  if (cm__idmap_init(&map, (size_t)n) != 0)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  cm_status st = CM_OK;
  for (int i = 0; i < n && st == CM_OK; i++) {
    const char *id = workers ? inst->workers[i].id : inst->requests[i].id;
    int prev = -1;
    int r = cm__idmap_put(&map, id, i, &prev);
    if (r < 0) {
      st = cm_error_set(err, CM_E_NOMEM, "", NULL);
    } else if (r == 0) {
      snprintf(path, sizeof path, "$.%s[%d].id",
               workers ? "workers" : "requests", i);
      st = cm_error_set(err, CM_E_DUPLICATE, path,
                        "%s: id '%s' is already used by %s[%d]", path, id,
                        workers ? "workers" : "requests", prev);
    }
  }
  cm__idmap_free(&map);
  return st;
}

/* The first duplicate (request, worker) pair in the order of a sort by
 * (request, worker, index): the smallest pair given twice, reported at its
 * second index. Edges are bucketed by request in index order (a counting
 * sort, linear), and workers stamped per request. Returns CM_OK,
 * CM_E_DUPLICATE or CM_E_NOMEM. */
static cm_status check_edge_pairs(const cm_instance *inst, cm_error *err) {
  char path[PATH_MAX_];
  int n = inst->n_edges, nr = inst->n_requests;
  int *start = calloc((size_t)nr + 1, sizeof *start);
  int *order = malloc((size_t)n * sizeof *order);
  int *stamp = calloc((size_t)inst->n_workers, sizeof *stamp);
  cm_status st = CM_OK;
  if (!start || !order || !stamp) {
    st = cm_error_set(err, CM_E_NOMEM, "", NULL);
    goto done;
  }
  for (int i = 0; i < n; i++)
    start[inst->edges[i].request + 1]++;
  for (int r = 0; r < nr; r++)
    start[r + 1] += start[r];
  for (int i = 0; i < n; i++) /* start[r] walks to the end of bucket r */
    order[start[inst->edges[i].request]++] = i;
  for (int r = 0, from = 0; r < nr; from = start[r++]) {
    /* stamp[w]: 2r + 1 once seen for request r, 2r + 2 when seen twice */
    int once = 2 * r + 1, twice = 2 * r + 2, worker = -1, at = -1;
    for (int k = from; k < start[r]; k++) {
      int i = order[k], w = inst->edges[i].worker;
      if (stamp[w] == once) {
        stamp[w] = twice;
        if (worker < 0 || w < worker)
          worker = w, at = i;
      } else if (stamp[w] != twice) {
        stamp[w] = once;
      }
    }
    if (at >= 0) {
      snprintf(path, sizeof path, "$.edges[%d]", at);
      st = bad(err, CM_E_DUPLICATE, path,
               "the same (request, worker) edge is given twice");
      break;
    }
  }
done:
  free(start);
  free(order);
  free(stamp);
  return st;
}

static cm_status check_edges(const cm_instance *inst, cm_error *err) {
  char path[PATH_MAX_];
  for (int i = 0; i < inst->n_edges; i++) {
    const cm_edge_in *e = &inst->edges[i];
    if (e->request < 0 || e->request >= inst->n_requests) {
      snprintf(path, sizeof path, "$.edges[%d].request", i);
      return bad(err, CM_E_UNKNOWN_ID, path, "names no request");
    }
    if (e->worker < 0 || e->worker >= inst->n_workers) {
      snprintf(path, sizeof path, "$.edges[%d].worker", i);
      return bad(err, CM_E_UNKNOWN_ID, path, "names no worker");
    }
    if (!finite_in(e->travel_min, 0.0, 1e6)) {
      snprintf(path, sizeof path, "$.edges[%d].travel_min", i);
      return bad(err, CM_E_RANGE, path,
                 "must be a finite number of minutes in [0, 1e6]");
    }
  }
  return inst->n_edges < 2 ? CM_OK : check_edge_pairs(inst, err);
}

cm_status cm_params_validate(const cm_params *p, cm_error *err) {
  char path[PATH_MAX_];
  cm_error_clear(err);
  if (!p)
    return cm_error_set(err, CM_E_INVALID, "$.params", "no parameters");
  if (p->k < 1 || p->k > 1024)
    return bad(err, CM_E_RANGE, "$.params.k",
               "must be an integer in [1, 1024]");
  for (int u = 0; u < CM_URGENCY_COUNT; u++)
    if (!finite_in(p->radius_km[u], 0.0, 1000.0)) {
      snprintf(path, sizeof path, "$.params.radius_km.%s", cm_urgency_name(u));
      return bad(err, CM_E_RANGE, path, "must be in [0, 1000] km");
    }
  if (!finite_in(p->radius_growth_km_per_min, 0.0, 100.0))
    return bad(err, CM_E_RANGE, "$.params.radius_growth_km_per_min",
               "must be in [0, 100]");
  if (!finite_in(p->radius_max_km, 0.0, 1000.0))
    return bad(err, CM_E_RANGE, "$.params.radius_max_km",
               "must be in [0, 1000] km");
  if (!finite_in(p->speed_kmh, 0.1, 1000.0))
    return bad(err, CM_E_RANGE, "$.params.speed_kmh", "must be in [0.1, 1000]");
  if (!finite_in(p->road_factor, 1.0, 10.0))
    return bad(err, CM_E_RANGE, "$.params.road_factor", "must be in [1, 10]");
  if (p->now_ms < 0)
    return bad(err, CM_E_RANGE, "$.now_ms", "must be >= 0");
  if (p->stale_ms < 0)
    return bad(err, CM_E_RANGE, "$.params.stale_ms", "must be >= 0");
  return CM_OK;
}

cm_status cm_instance_validate(const cm_instance *inst, cm_error *err) {
  cm_status st;
  cm_error_clear(err);
  if (!inst)
    return cm_error_set(err, CM_E_INVALID, "$", "no instance");
  if (inst->taxonomy.count < 1 || inst->taxonomy.count > CM_MAX_SKILLS)
    return bad(err, CM_E_INVALID, "$.taxonomy", "needs 1..32 skills");
  if (inst->n_workers < 0 || inst->n_requests < 0 || inst->n_edges < 0)
    return bad(err, CM_E_INVALID, "$", "negative counts");
  if ((st = cm_weights_validate(&inst->weights, err)) != CM_OK)
    return st;
  if ((st = cm_params_validate(&inst->params, err)) != CM_OK)
    return st;
  for (int i = 0; i < inst->n_workers; i++)
    if ((st = check_worker(inst, i, err)) != CM_OK)
      return st;
  for (int i = 0; i < inst->n_requests; i++)
    if ((st = check_request(inst, i, err)) != CM_OK)
      return st;
  if ((st = check_unique(inst, 1, err)) != CM_OK)
    return st;
  if ((st = check_unique(inst, 0, err)) != CM_OK)
    return st;
  return check_edges(inst, err);
}
