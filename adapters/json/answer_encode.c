/* answer_encode.c -- cm_answer_to_json: a solved batch as JSON, requests and
 * workers named by their ids, every assignment with its cost term by term.
 * Reals print with 10 significant digits so that the output is stable. */
#include <math.h>

#include "carematch/json.h"
#include "json_internal.h"

/* A JSON number, or null for a non-finite value (jansson cannot print
 * those). Returns a new reference or NULL when out of memory. */
static json_t *real(double x) {
  return isfinite(x) ? json_real(x) : json_null();
}

/* Each builder returns a new reference, or NULL when out of memory or when
 * the answer names an index outside inst. */

static json_t *cost(const cm_cost_terms *t) {
  json_t *o = json_object();
  if (!o || cm__json_set(o, "total", real(t->total)) ||
      cm__json_set(o, "travel", real(t->travel)) ||
      cm__json_set(o, "travel_min", real(t->travel_min)) ||
      cm__json_set(o, "distance_km", real(t->distance_km)) ||
      cm__json_set(o, "workload", real(t->workload)) ||
      cm__json_set(o, "continuity", real(t->continuity)) ||
      cm__json_set(o, "rating", real(t->rating)) ||
      cm__json_set(o, "skill", real(t->skill)) ||
      cm__json_set(o, "preferred", real(t->preferred))) {
    json_decref(o);
    return NULL;
  }
  return o;
}

static json_t *assignment(const cm_instance *inst, const cm_assignment *a) {
  if (a->request < 0 || a->request >= inst->n_requests || a->worker < 0 ||
      a->worker >= inst->n_workers)
    return NULL;
  json_t *o = json_object();
  if (!o ||
      cm__json_set(o, "request",
                   cm__json_text(inst->requests[a->request].id)) ||
      cm__json_set(o, "worker", cm__json_text(inst->workers[a->worker].id)) ||
      cm__json_set(o, "component",
                   a->component >= 0 ? json_integer(a->component)
                                     : json_null()) ||
      cm__json_set(o, "cost", cost(&a->terms))) {
    json_decref(o);
    return NULL;
  }
  return o;
}

static json_t *unassigned(const cm_instance *inst, const cm_unassigned *u) {
  if (u->request < 0 || u->request >= inst->n_requests)
    return NULL;
  json_t *o = json_object();
  if (!o ||
      cm__json_set(o, "request",
                   cm__json_text(inst->requests[u->request].id)) ||
      cm__json_set(o, "reason", json_string(cm_reason_name(u->reason))) ||
      cm__json_set(o, "penalty", real(u->penalty))) {
    json_decref(o);
    return NULL;
  }
  return o;
}

static json_t *component(const cm_component_info *c) {
  json_t *o = json_object();
  if (!o || cm__json_set(o, "requests", json_integer(c->requests)) ||
      cm__json_set(o, "workers", json_integer(c->workers)) ||
      cm__json_set(o, "edges", json_integer(c->edges)) ||
      cm__json_set(o, "teams", json_integer(c->teams)) ||
      cm__json_set(o, "method", json_string(cm_method_name(c->method))) ||
      cm__json_set(o, "fell_back", json_boolean(c->fell_back)) ||
      cm__json_set(o, "floor", json_boolean(c->floor)) ||
      cm__json_set(o, "ms", real(c->ms))) {
    json_decref(o);
    return NULL;
  }
  return o;
}

static json_t *timings(const cm_solve_stats *s) {
  json_t *o = json_object();
  if (!o || cm__json_set(o, "candidates_ms", real(s->candidates_ms)) ||
      cm__json_set(o, "build_ms", real(s->build_ms)) ||
      cm__json_set(o, "solve_ms", real(s->solve_ms)) ||
      cm__json_set(o, "total_ms", real(s->total_ms))) {
    json_decref(o);
    return NULL;
  }
  return o;
}

static json_t *stats(const cm_solve_stats *s) {
  json_t *o = json_object();
  if (!o || cm__json_set(o, "edges", json_integer(s->edges)) ||
      cm__json_set(o, "reduced", json_integer(s->reduced)) ||
      cm__json_set(o, "components", json_integer(s->components)) ||
      cm__json_set(o, "fallbacks", json_integer(s->fallbacks)) ||
      cm__json_set(o, "floor_components", json_integer(s->floor_components)) ||
      cm__json_set(o, "unsearched", json_integer(s->unsearched)) ||
      cm__json_set(o, "greedy_objective", real(s->greedy_objective)) ||
      cm__json_set(o, "pricing_rounds", json_integer(s->pricing_rounds)) ||
      cm__json_set(o, "glpk_iterations", json_integer(s->glpk_iterations))) {
    json_decref(o);
    return NULL;
  }
  return o;
}

/* Attach a new empty array at root[key]; returns it borrowed, or NULL. */
static json_t *attach_array(json_t *root, const char *key) {
  json_t *a = json_array();
  return cm__json_set(root, key, a) == 0 ? a : NULL;
}

char *cm_answer_to_json(const cm_instance *inst, const cm_answer *ans,
                        int pretty) {
  json_t *root = json_object(), *as = NULL, *us = NULL, *cs = NULL;
  if (!inst || !ans || !root)
    goto fail;
  const cm_solve_stats *s = &ans->stats;
  /* Containers are attached first and filled through borrowed pointers, so
   * one json_decref(root) frees everything on failure. */
  if (cm__json_set(root, "objective", real(ans->objective)) ||
      cm__json_set(root, "exact", json_boolean(s->exact)) ||
      cm__json_set(root, "lower_bound", real(s->lower_bound)) ||
      cm__json_set(root, "gap", real(s->gap)) ||
      !(as = attach_array(root, "assignments")) ||
      !(us = attach_array(root, "unassigned")) ||
      !(cs = attach_array(root, "components")) ||
      cm__json_set(root, "timings", timings(s)) ||
      cm__json_set(root, "stats", stats(s)))
    goto fail;
  for (int i = 0; i < ans->n_assignments; i++)
    if (cm__json_append(as, assignment(inst, &ans->assignments[i])))
      goto fail;
  for (int i = 0; i < ans->n_unassigned; i++)
    if (cm__json_append(us, unassigned(inst, &ans->unassigned[i])))
      goto fail;
  for (int i = 0; i < ans->n_components; i++)
    if (cm__json_append(cs, component(&ans->components[i])))
      goto fail;
  return cm__json_dump_free(root, CM__JSON_ANSWER_FLAGS, pretty);
fail:
  json_decref(root);
  return NULL;
}
