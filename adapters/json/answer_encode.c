/* answer_encode.c -- cm_answer_to_json: a solved batch as JSON, requests and
 * workers named by their ids, every assignment with its cost term by term.
 * Reals print with 10 significant digits so that the output is stable. The
 * text is written straight (json_writer.c), in the layout jansson's dump
 * gave it, without building a tree. */
#include <math.h>

#include "carematch/json.h"
#include "json_internal.h"

/* A JSON number, or null for a non-finite value (jansson cannot print
 * those). */
static void real(cm__jw *w, const char *key, double x) {
  cm__jw_key(w, key);
  if (isfinite(x))
    cm__jw_real(w, x);
  else
    cm__jw_null(w);
}

static void integer(cm__jw *w, const char *key, long long v) {
  cm__jw_key(w, key);
  cm__jw_int(w, v);
}

static void text(cm__jw *w, const char *key, const char *s) {
  cm__jw_key(w, key);
  cm__jw_string(w, s);
}

static void cost(cm__jw *w, const cm_cost_terms *t) {
  cm__jw_key(w, "cost");
  cm__jw_open(w, '{');
  real(w, "total", t->total);
  /* the terms of CM_COST_TERMS; travel is followed by what it is made of */
#define CM_X_TERM_(field, key, doc)                                            \
  real(w, key, t->field);                                                      \
  if (&t->field == &t->travel) {                                               \
    real(w, "travel_min", t->travel_min);                                      \
    real(w, "distance_km", t->distance_km);                                    \
  }
  CM_COST_TERMS(CM_X_TERM_)
#undef CM_X_TERM_
  cm__jw_close(w, '}');
}

/* Each writer of an element returns 0, or -1 when the answer names an
 * index outside inst. */

static int assignment(cm__jw *w, const cm_instance *inst,
                      const cm_assignment *a) {
  if (a->request < 0 || a->request >= inst->n_requests || a->worker < 0 ||
      a->worker >= inst->n_workers)
    return -1;
  cm__jw_open(w, '{');
  text(w, "request", inst->requests[a->request].id);
  text(w, "worker", inst->workers[a->worker].id);
  cm__jw_key(w, "component");
  if (a->component >= 0)
    cm__jw_int(w, a->component);
  else
    cm__jw_null(w);
  cost(w, &a->terms);
  cm__jw_close(w, '}');
  return 0;
}

static int unassigned(cm__jw *w, const cm_instance *inst,
                      const cm_unassigned *u) {
  if (u->request < 0 || u->request >= inst->n_requests)
    return -1;
  cm__jw_open(w, '{');
  text(w, "request", inst->requests[u->request].id);
  text(w, "reason", cm_reason_name(u->reason));
  real(w, "penalty", u->penalty);
  cm__jw_close(w, '}');
  return 0;
}

static void component(cm__jw *w, const cm_component_info *c) {
  cm__jw_open(w, '{');
  integer(w, "requests", c->requests);
  integer(w, "workers", c->workers);
  integer(w, "edges", c->edges);
  integer(w, "teams", c->teams);
  text(w, "method", cm_method_name(c->method));
  cm__jw_key(w, "fell_back");
  cm__jw_bool(w, c->fell_back);
  cm__jw_key(w, "floor");
  cm__jw_bool(w, c->floor);
  real(w, "ms", c->ms);
  cm__jw_close(w, '}');
}

static void timings(cm__jw *w, const cm_solve_stats *s) {
  cm__jw_key(w, "timings");
  cm__jw_open(w, '{');
  real(w, "candidates_ms", s->candidates_ms);
  real(w, "build_ms", s->build_ms);
  real(w, "solve_ms", s->solve_ms);
  real(w, "total_ms", s->total_ms);
  cm__jw_close(w, '}');
}

static void stats(cm__jw *w, const cm_solve_stats *s) {
  cm__jw_key(w, "stats");
  cm__jw_open(w, '{');
  integer(w, "edges", s->edges);
  integer(w, "reduced", s->reduced);
  integer(w, "components", s->components);
  integer(w, "fallbacks", s->fallbacks);
  integer(w, "floor_components", s->floor_components);
  integer(w, "unsearched", s->unsearched);
  real(w, "greedy_objective", s->greedy_objective);
  integer(w, "pricing_rounds", s->pricing_rounds);
  integer(w, "glpk_iterations", s->glpk_iterations);
  cm__jw_close(w, '}');
}

char *cm_answer_to_json(const cm_instance *inst, const cm_answer *ans,
                        int pretty) {
  cm__jw w;
  if (!inst || !ans)
    return NULL;
  const cm_solve_stats *s = &ans->stats;
  cm__jw_init(&w, pretty, CM__JSON_ANSWER_PRECISION);
  cm__jw_open(&w, '{');
  real(&w, "objective", ans->objective);
  cm__jw_key(&w, "exact");
  cm__jw_bool(&w, s->exact);
  real(&w, "lower_bound", s->lower_bound);
  real(&w, "gap", s->gap);
  cm__jw_key(&w, "assignments");
  cm__jw_open(&w, '[');
  for (int i = 0; i < ans->n_assignments; i++)
    if (assignment(&w, inst, &ans->assignments[i]) != 0)
      w.failed = 1;
  cm__jw_close(&w, ']');
  cm__jw_key(&w, "unassigned");
  cm__jw_open(&w, '[');
  for (int i = 0; i < ans->n_unassigned; i++)
    if (unassigned(&w, inst, &ans->unassigned[i]) != 0)
      w.failed = 1;
  cm__jw_close(&w, ']');
  cm__jw_key(&w, "components");
  cm__jw_open(&w, '[');
  for (int i = 0; i < ans->n_components; i++)
    component(&w, &ans->components[i]);
  cm__jw_close(&w, ']');
  timings(&w, s);
  stats(&w, s);
  cm__jw_close(&w, '}');
  return cm__jw_finish(&w);
}
