/* model.c -- defaults, construction and names of the dispatch domain. */
#include <stdlib.h>
#include <string.h>

#include "carematch/model.h"

static const char *const urgency_names[CM_URGENCY_COUNT] = {
    "emergency", "urgent", "normal", "scheduled"};
static const char *const status_names[CM_WORKER_STATUS_COUNT] = {
    "available", "offered", "busy", "offline"};

void cm_weights_init(cm_weights *w) {
  int n;
  const cm_weight_info *wi = cm_weights_info(&n);
  memset(w, 0, sizeof *w);
  for (int i = 0; i < n; i++) /* CM_WEIGHTS_TABLE's defaults */
    memcpy(cm_weight_values(w, &wi[i]), wi[i].def,
           (size_t)wi[i].count * sizeof *wi[i].def);
}

void cm_params_init(cm_params *p) {
  static const double radius[CM_URGENCY_COUNT] = {8.0, 6.0, 5.0, 5.0};
  memset(p, 0, sizeof *p);
  p->k = 16;
  memcpy(p->radius_km, radius, sizeof radius);
  p->radius_growth_km_per_min = 0.5;
  p->radius_max_km = 15.0;
  p->speed_kmh = 25.0;
  p->road_factor = 1.3;
  p->now_ms = 0;
  p->stale_ms = 0;
}

void cm_worker_init(cm_worker *w) {
  memset(w, 0, sizeof *w);
  w->status = CM_WORKER_AVAILABLE;
  w->capacity = 1;
  w->rating = 5.0;
  w->level = 3.0;
}

void cm_request_init(cm_request *r) {
  memset(r, 0, sizeof *r);
  r->skill_mode = CM_SKILLS_ALL;
  r->staff = 1;
  r->urgency = CM_URGENCY_NORMAL;
}

/* The capacities of the instance's arrays: kept out of the public struct
 * and allocated with it, so an instance is still one block. */
struct cm_instance_internal {
  int cap_workers;  /* room in workers[] */
  int cap_requests; /* room in requests[] */
  int cap_edges;    /* room in edges[] */
};

typedef struct instance_block {
  cm_instance pub;
  struct cm_instance_internal internal;
} instance_block;

cm_instance *cm_instance_new(void) {
  instance_block *b = calloc(1, sizeof *b);
  if (!b)
    return NULL;
  cm_instance *inst = &b->pub;
  inst->internal = &b->internal;
  cm_taxonomy_init(&inst->taxonomy);
  cm_weights_init(&inst->weights);
  cm_params_init(&inst->params);
  return inst;
}

void cm_instance_free(cm_instance *inst) {
  if (!inst)
    return;
  free(inst->workers);
  free(inst->requests);
  free(inst->edges);
  free(inst); /* the whole block: pub comes first */
}

/* Make room for want elements of size sz in *arr. Returns 0 or -1. */
static int reserve(void **arr, int *cap, int want, size_t sz) {
  if (want <= *cap)
    return 0;
  void *p = realloc(*arr, (size_t)want * sz);
  if (!p)
    return -1;
  *arr = p;
  *cap = want;
  return 0;
}

/* Make room for one more after n: doubling, 64 at first. */
static int reserve_one(void **arr, int *cap, int n, size_t sz) {
  if (n < *cap)
    return 0;
  return reserve(arr, cap, *cap ? *cap * 2 : 64, sz);
}

static cm_status not_ours(cm_error *err) {
  return cm_error_set(err, CM_E_INVALID, "",
                      "the instance was not made by cm_instance_new");
}

cm_status cm_instance_reserve(cm_instance *inst, int workers, int requests,
                              int edges, cm_error *err) {
  if (!inst->internal)
    return not_ours(err);
  struct cm_instance_internal *in = inst->internal;
  if (reserve((void **)&inst->workers, &in->cap_workers, workers,
              sizeof *inst->workers) != 0)
    return cm_error_set(err, CM_E_NOMEM, "$.workers", NULL);
  if (reserve((void **)&inst->requests, &in->cap_requests, requests,
              sizeof *inst->requests) != 0)
    return cm_error_set(err, CM_E_NOMEM, "$.requests", NULL);
  if (reserve((void **)&inst->edges, &in->cap_edges, edges,
              sizeof *inst->edges) != 0)
    return cm_error_set(err, CM_E_NOMEM, "$.edges", NULL);
  return CM_OK;
}

cm_status cm_instance_worker_add(cm_instance *inst, const cm_worker *w,
                                 int *index, cm_error *err) {
  if (!inst->internal)
    return not_ours(err);
  if (reserve_one((void **)&inst->workers, &inst->internal->cap_workers,
                  inst->n_workers, sizeof *w) != 0)
    return cm_error_set(err, CM_E_NOMEM, "$.workers", NULL);
  inst->workers[inst->n_workers] = *w;
  if (index)
    *index = inst->n_workers;
  inst->n_workers++;
  return CM_OK;
}

cm_status cm_instance_request_add(cm_instance *inst, const cm_request *r,
                                  int *index, cm_error *err) {
  if (!inst->internal)
    return not_ours(err);
  if (reserve_one((void **)&inst->requests, &inst->internal->cap_requests,
                  inst->n_requests, sizeof *r) != 0)
    return cm_error_set(err, CM_E_NOMEM, "$.requests", NULL);
  inst->requests[inst->n_requests] = *r;
  if (index)
    *index = inst->n_requests;
  inst->n_requests++;
  return CM_OK;
}

cm_status cm_instance_edge_add(cm_instance *inst, const cm_edge_in *e,
                               int *index, cm_error *err) {
  if (!inst->internal)
    return not_ours(err);
  if (reserve_one((void **)&inst->edges, &inst->internal->cap_edges,
                  inst->n_edges, sizeof *e) != 0)
    return cm_error_set(err, CM_E_NOMEM, "$.edges", NULL);
  inst->edges[inst->n_edges] = *e;
  inst->has_edges = 1;
  if (index)
    *index = inst->n_edges;
  inst->n_edges++;
  return CM_OK;
}

uint64_t cm_id_hash(const char *s) {
  uint64_t h = 14695981039346656037ULL; /* FNV-1a 64 offset basis */
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ULL;
  }
  return h ? h : 1;
}

const char *cm_urgency_name(cm_urgency u) {
  return (int)u >= 0 && u < CM_URGENCY_COUNT ? urgency_names[u] : "unknown";
}

int cm_urgency_parse(const char *s) {
  for (int i = 0; i < CM_URGENCY_COUNT; i++)
    if (strcmp(s, urgency_names[i]) == 0)
      return i;
  return -1;
}

const char *cm_worker_status_name(cm_worker_status s) {
  return (int)s >= 0 && s < CM_WORKER_STATUS_COUNT ? status_names[s]
                                                   : "unknown";
}

int cm_worker_status_parse(const char *s) {
  for (int i = 0; i < CM_WORKER_STATUS_COUNT; i++)
    if (strcmp(s, status_names[i]) == 0)
      return i;
  return -1;
}
