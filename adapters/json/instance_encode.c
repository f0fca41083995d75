/* instance_encode.c -- cm_instance_to_json: an instance back to the input
 * format, every field written out, so that decoding the text gives the same
 * instance. Elders are kept only as hashes in the model, so they are written
 * as "elder_hashes" / "elder_hash"; doubles use 17 significant digits. */
#include <inttypes.h>
#include <stdio.h>

#include "carematch/json.h"
#include "json_internal.h"

/* Each builder returns a new reference, or NULL when out of memory. */

static json_t *hash_text(uint64_t h) {
  char buf[17];
  snprintf(buf, sizeof buf, "%016" PRIx64, h);
  return json_string(buf);
}

/* Attach a new empty array at root[key]; returns it borrowed, or NULL. */
static json_t *attach_array(json_t *root, const char *key) {
  json_t *a = json_array();
  return cm__json_set(root, key, a) == 0 ? a : NULL;
}

static json_t *urgency_table(const double *vals) {
  json_t *o = json_object();
  for (int u = 0; o && u < CM_URGENCY_COUNT; u++)
    if (cm__json_set(o, cm_urgency_name((cm_urgency)u), json_real(vals[u])) !=
        0) {
      json_decref(o);
      return NULL;
    }
  return o;
}

json_t *cm__json_skills_new(const cm_taxonomy *t, cm_skillset s) {
  json_t *a = json_array();
  for (int k = 0; a && k < t->count; k++)
    if ((s >> k & 1u) && cm__json_append(a, json_string(t->names[k])) != 0) {
      json_decref(a);
      return NULL;
    }
  return a;
}

json_t *cm__json_weights_new(const cm_weights *w) {
  int n;
  const cm_weight_info *wi = cm_weights_info(&n);
  json_t *o = json_object();
  for (int i = 0; o && i < n; i++) {
    const double *v = cm_weight_values_const(w, &wi[i]);
    if (cm__json_set(o, wi[i].key,
                     wi[i].count == 1 ? json_real(*v) : urgency_table(v))) {
      json_decref(o);
      return NULL;
    }
  }
  return o;
}

static json_t *params(const cm_params *p) {
  json_t *o = json_object();
  if (!o || cm__json_set(o, "k", json_integer(p->k)) ||
      cm__json_set(o, "radius_km", urgency_table(p->radius_km)) ||
      cm__json_set(o, "radius_growth_km_per_min",
                   json_real(p->radius_growth_km_per_min)) ||
      cm__json_set(o, "radius_max_km", json_real(p->radius_max_km)) ||
      cm__json_set(o, "speed_kmh", json_real(p->speed_kmh)) ||
      cm__json_set(o, "road_factor", json_real(p->road_factor)) ||
      cm__json_set(o, "stale_ms", json_integer(p->stale_ms))) {
    json_decref(o);
    return NULL;
  }
  return o;
}

static json_t *worker(const cm_instance *inst, const cm_worker *w) {
  json_t *o = json_object(), *elders = NULL;
  if (!o || cm__json_set(o, "id", cm__json_text(w->id)) ||
      cm__json_set(o, "skills",
                   cm__json_skills_new(&inst->taxonomy, w->skills)))
    goto fail;
  if (w->has_position && (cm__json_set(o, "lat", json_real(w->lat)) ||
                          cm__json_set(o, "lon", json_real(w->lon))))
    goto fail;
  if (cm__json_set(o, "status",
                   json_string(cm_worker_status_name(w->status))) ||
      cm__json_set(o, "seen_ms", json_integer(w->seen_ms)) ||
      cm__json_set(o, "capacity", json_integer(w->capacity)) ||
      cm__json_set(o, "jobs_today", json_integer(w->jobs_today)) ||
      cm__json_set(o, "rating", json_real(w->rating)) ||
      cm__json_set(o, "level", json_real(w->level)) ||
      !(elders = attach_array(o, "elder_hashes")))
    goto fail;
  for (int k = 0; k < w->n_elders && k < CM_MAX_ELDERS; k++)
    if (cm__json_append(elders, hash_text(w->elders[k])))
      goto fail;
  return o;
fail:
  json_decref(o);
  return NULL;
}

/* Worker ids of list[0..n) as a JSON array; NULL also for a bad index. */
static json_t *worker_ids(const cm_instance *inst, const int *list, int n) {
  json_t *a = json_array();
  for (int k = 0; a && k < n && k < CM_MAX_PREFS; k++) {
    int w = list[k];
    if (w < 0 || w >= inst->n_workers ||
        cm__json_append(a, cm__json_text(inst->workers[w].id))) {
      json_decref(a);
      return NULL;
    }
  }
  return a;
}

static json_t *request(const cm_instance *inst, const cm_request *r) {
  json_t *o = json_object();
  if (!o || cm__json_set(o, "id", cm__json_text(r->id)))
    goto fail;
  if (r->has_position && (cm__json_set(o, "lat", json_real(r->lat)) ||
                          cm__json_set(o, "lon", json_real(r->lon))))
    goto fail;
  if (cm__json_set(o, "skills",
                   cm__json_skills_new(&inst->taxonomy, r->skills)) ||
      cm__json_set(
          o, "skill_mode",
          json_string(r->skill_mode == CM_SKILLS_ANY ? "any" : "all")) ||
      cm__json_set(o, "staff", json_integer(r->staff)) ||
      cm__json_set(o, "urgency", json_string(cm_urgency_name(r->urgency))) ||
      cm__json_set(o, "waited_s", json_real(r->waited_s)))
    goto fail;
  if (r->elder && cm__json_set(o, "elder_hash", hash_text(r->elder)))
    goto fail;
  if (cm__json_set(o, "preferred",
                   worker_ids(inst, r->preferred, r->n_preferred)) ||
      cm__json_set(o, "excluded", worker_ids(inst, r->excluded, r->n_excluded)))
    goto fail;
  return o;
fail:
  json_decref(o);
  return NULL;
}

static json_t *edge(const cm_instance *inst, const cm_edge_in *e) {
  json_t *o = json_object();
  int ok = e->request >= 0 && e->request < inst->n_requests && e->worker >= 0 &&
           e->worker < inst->n_workers;
  if (!o || !ok ||
      cm__json_set(o, "request",
                   cm__json_text(inst->requests[e->request].id)) ||
      cm__json_set(o, "worker", cm__json_text(inst->workers[e->worker].id)) ||
      cm__json_set(o, "travel_min", json_real(e->travel_min))) {
    json_decref(o);
    return NULL;
  }
  return o;
}

char *cm_instance_to_json(const cm_instance *inst, int pretty) {
  json_t *root = json_object(), *tax = NULL, *ws = NULL, *rs = NULL;
  json_t *es = NULL;
  if (!inst || !root)
    goto fail;
  /* Containers are attached first and filled through borrowed pointers, so
   * one json_decref(root) frees everything on failure. */
  if (!(tax = attach_array(root, "taxonomy")) ||
      cm__json_set(root, "now_ms", json_integer(inst->params.now_ms)) ||
      cm__json_set(root, "weights", cm__json_weights_new(&inst->weights)) ||
      cm__json_set(root, "params", params(&inst->params)) ||
      !(ws = attach_array(root, "workers")) ||
      !(rs = attach_array(root, "requests")) ||
      (inst->has_edges && !(es = attach_array(root, "edges"))))
    goto fail;
  for (int k = 0; k < inst->taxonomy.count; k++)
    if (cm__json_append(tax, json_string(inst->taxonomy.names[k])))
      goto fail;
  for (int i = 0; i < inst->n_workers; i++)
    if (cm__json_append(ws, worker(inst, &inst->workers[i])))
      goto fail;
  for (int i = 0; i < inst->n_requests; i++)
    if (cm__json_append(rs, request(inst, &inst->requests[i])))
      goto fail;
  for (int i = 0; es && i < inst->n_edges; i++)
    if (cm__json_append(es, edge(inst, &inst->edges[i])))
      goto fail;
  return cm__json_dump_free(root, CM__JSON_INSTANCE_FLAGS, pretty);
fail:
  json_decref(root);
  return NULL;
}
