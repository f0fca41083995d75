/* engine.c -- the dispatch engine's requests: configuration, submission,
 * the lifecycle calls (cancel, accept, reject, complete) and queries.
 * Batching lives in engine_batch.c, workers in engine_workers.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

static const char *const state_names[CM_REQ_STATE_COUNT] = {
    "pending", "offered", "accepted", "done", "cancelled"};
static const char *const event_names[CM_EV_TYPE_COUNT] = {
    "submitted", "offered",   "accepted",  "rejected",
    "expired",   "withdrawn", "cancelled", "completed"};

const char *cm_request_state_name(cm_request_state s) {
  return (int)s >= 0 && s < CM_REQ_STATE_COUNT ? state_names[s] : "unknown";
}

const char *cm_event_type_name(cm_event_type t) {
  return (int)t >= 0 && t < CM_EV_TYPE_COUNT ? event_names[t] : "unknown";
}

void cm_engine_config_default(cm_engine_config *c) {
  memset(c, 0, sizeof *c);
  cm_taxonomy_default(&c->taxonomy);
  cm_weights_default(&c->weights);
  cm_params_default(&c->params);
  c->batch_window_ms = 300;
  c->batch_max = 2000;
  c->solve_budget_ms = 100;
  c->offer_ttl_ms = 30000;
  c->release_slack_ms = 600000;
  c->stale_ms = 120000;
  c->max_live = 1000000;
  c->history = 100000;
  c->event_queue = 8192;
}

static cm_status check_config(const cm_engine_config *c, cm_error *err) {
#define CFG_(cond, field, msg)                                                 \
  do {                                                                         \
    if (!(cond))                                                               \
      return cm_error_set(err, CM_E_RANGE, "$." field, "$." field ": " msg);   \
  } while (0)
  CFG_(c->batch_window_ms >= 0 && c->batch_window_ms <= 3600000,
       "batch_window_ms", "must be in [0, 3600000]");
  CFG_(c->batch_max >= 1 && c->batch_max <= 100000, "batch_max",
       "must be in [1, 100000]");
  CFG_(c->solve_budget_ms >= 0 && c->solve_budget_ms <= 60000,
       "solve_budget_ms", "must be in [0, 60000]");
  CFG_(c->offer_ttl_ms >= 1, "offer_ttl_ms", "must be >= 1");
  CFG_(c->release_slack_ms >= 0, "release_slack_ms", "must be >= 0");
  CFG_(c->stale_ms >= 0, "stale_ms", "must be >= 0");
  CFG_(c->max_live >= 1, "max_live", "must be >= 1");
  CFG_(c->history >= 1, "history", "must be >= 1");
  CFG_(c->event_queue >= 16, "event_queue", "must be >= 16");
#undef CFG_
  cm_instance probe;
  memset(&probe, 0, sizeof probe);
  probe.taxonomy = c->taxonomy;
  probe.weights = c->weights;
  probe.params = c->params;
  probe.params.now_ms = 0;
  probe.params.stale_ms = 0;
  return cm_instance_validate(&probe, err);
}

cm_engine *cm_engine_new(const cm_engine_config *cfg, cm_store *store,
                         cm_error *err) {
  if (!store) {
    cm_error_set(err, CM_E_INVALID, "$.store", "a store is required");
    return NULL;
  }
  if (check_config(cfg, err) != CM_OK)
    return NULL;
  cm_engine *e = calloc(1, sizeof *e);
  if (!e)
    goto oom;
  e->cfg = *cfg;
  e->store = store;
  e->next_batch_ms = INT64_MAX;
  e->done = calloc((size_t)cfg->history, sizeof *e->done);
  if (!e->done || cm__idmap_init(&e->req_map, 1024) != 0 ||
      cm__idmap_init(&e->wrk_map, 1024) != 0 ||
      cm__events_init(&e->ev, cfg->event_queue) != 0)
    goto oom;
  cm_histogram_init(&e->stats.batch_ms);
  cm_histogram_init(&e->stats.candidates_ms);
  cm_histogram_init(&e->stats.solve_ms);
  cm_histogram_init(&e->stats.batch_size);
  for (int u = 0; u < CM_URGENCY_COUNT; u++)
    cm_histogram_init(&e->stats.offer_latency[u]);
  return e;
oom:
  cm_engine_free(e);
  cm_error_set(err, CM_E_NOMEM, "", NULL);
  return NULL;
}

void cm_engine_free(cm_engine *e) {
  if (!e)
    return;
  for (int i = 0; i < e->n_live; i++)
    free(e->live[i]);
  for (int i = 0; i < e->n_done; i++)
    free(e->done[(e->done_head + i) % e->cfg.history]);
  for (int i = 0; i < e->n_workers; i++)
    free(e->workers[i]);
  free(e->live);
  free(e->done);
  free(e->workers);
  cm__idmap_free(&e->req_map);
  cm__idmap_free(&e->wrk_map);
  cm__events_free(&e->ev);
  free(e);
}

const cm_engine_config *cm_engine_config_get(const cm_engine *e) {
  return &e->cfg;
}

cm_status cm_engine_set_weights(cm_engine *e, const cm_weights *w,
                                cm_error *err) {
  cm_engine_config c = e->cfg;
  c.weights = *w;
  cm_status st = check_config(&c, err);
  if (st == CM_OK)
    e->cfg.weights = *w;
  return st;
}

/* ---- requests ---- */

cm__req *cm__req_find(const cm_engine *e, const char *id) {
  int v = cm__idmap_get(&e->req_map, id);
  if (v >= 0)
    return e->live[v];
  if (v <= -2)
    return e->done[-2 - v];
  return NULL;
}

static int id_ok(const char *id) {
  size_t n = strnlen(id, CM_ID_MAX);
  return n > 0 && n < CM_ID_MAX;
}

static cm_status check_spec(const cm_engine *e, const cm_request_spec *s,
                            cm_error *err) {
  cm_skillset known = e->cfg.taxonomy.count >= 32
                          ? 0xffffffffu
                          : ((1u << e->cfg.taxonomy.count) - 1u);
#define SPEC_(cond, code, field, msg)                                          \
  do {                                                                         \
    if (!(cond))                                                               \
      return cm_error_set(err, code, field, field ": " msg);                   \
  } while (0)
  SPEC_(id_ok(s->id), CM_E_INVALID, "$.id", "must be 1..63 characters");
  SPEC_(s->lat >= -90 && s->lat <= 90, CM_E_RANGE, "$.lat",
        "must be a finite number in [-90, 90]");
  SPEC_(s->lon >= -180 && s->lon <= 180, CM_E_RANGE, "$.lon",
        "must be a finite number in [-180, 180]");
  SPEC_(s->skills != 0, CM_E_INVALID, "$.skills", "at least one skill");
  SPEC_(!(s->skills & ~known), CM_E_UNKNOWN_SKILL, "$.skills",
        "skill outside the taxonomy");
  SPEC_(s->skill_mode == CM_SKILLS_ALL || s->skill_mode == CM_SKILLS_ANY,
        CM_E_RANGE, "$.skill_mode", "must be all or any");
  SPEC_(s->staff >= 1 && s->staff <= CM_MAX_STAFF, CM_E_RANGE, "$.staff",
        "must be an integer in [1, 4]");
  SPEC_((int)s->urgency >= 0 && s->urgency < CM_URGENCY_COUNT, CM_E_RANGE,
        "$.urgency", "unknown urgency");
  SPEC_(strnlen(s->elder, CM_ID_MAX) < CM_ID_MAX, CM_E_INVALID, "$.elder",
        "must be at most 63 characters");
  SPEC_(s->window_start_ms >= 0 && s->window_end_ms >= 0, CM_E_RANGE,
        "$.window_start_ms", "must be >= 0");
  SPEC_(!s->window_end_ms || s->window_end_ms >= s->window_start_ms, CM_E_RANGE,
        "$.window_end_ms", "must not be before window_start_ms");
  SPEC_(s->n_preferred >= 0 && s->n_preferred <= CM_MAX_PREFS, CM_E_LIMIT,
        "$.preferred", "at most 8 workers");
  SPEC_(s->n_excluded >= 0 && s->n_excluded <= CM_MAX_PREFS, CM_E_LIMIT,
        "$.excluded", "at most 8 workers");
  for (int i = 0; i < s->n_preferred; i++)
    SPEC_(id_ok(s->preferred[i]), CM_E_INVALID, "$.preferred",
          "worker ids must be 1..63 characters");
  for (int i = 0; i < s->n_excluded; i++)
    SPEC_(id_ok(s->excluded[i]), CM_E_INVALID, "$.excluded",
          "worker ids must be 1..63 characters");
#undef SPEC_
  return CM_OK;
}

static int spec_equal(const cm_request_spec *a, const cm_request_spec *b) {
  if (strcmp(a->id, b->id) || a->lat != b->lat || a->lon != b->lon ||
      a->skills != b->skills || a->skill_mode != b->skill_mode ||
      a->staff != b->staff || a->urgency != b->urgency ||
      strcmp(a->elder, b->elder) || a->window_start_ms != b->window_start_ms ||
      a->window_end_ms != b->window_end_ms ||
      a->n_preferred != b->n_preferred || a->n_excluded != b->n_excluded)
    return 0;
  for (int i = 0; i < a->n_preferred; i++)
    if (strcmp(a->preferred[i], b->preferred[i]))
      return 0;
  for (int i = 0; i < a->n_excluded; i++)
    if (strcmp(a->excluded[i], b->excluded[i]))
      return 0;
  return 1;
}

/* Copy a spec with every string cut at its terminator (no stray bytes). */
static void spec_copy(cm_request_spec *dst, const cm_request_spec *src) {
  memset(dst, 0, sizeof *dst);
  *dst = *src;
  memset(dst->id, 0, sizeof dst->id);
  memcpy(dst->id, src->id, strnlen(src->id, CM_ID_MAX - 1));
  memset(dst->elder, 0, sizeof dst->elder);
  memcpy(dst->elder, src->elder, strnlen(src->elder, CM_ID_MAX - 1));
}

/* Release time of a scheduled request: window start minus the travel of
 * the nearest eligible worker now (or of the base radius) minus slack. */
static int64_t release_time(cm_engine *e, const cm_request_spec *s,
                            int64_t now_ms) {
  if (s->urgency != CM_URGENCY_SCHEDULED || s->window_start_ms <= 0)
    return now_ms;
  const cm_params *p = &e->cfg.params;
  double km = p->radius_km[s->urgency];
  cm_store_query q = {
      .lat = s->lat,
      .lon = s->lon,
      .radius_km = p->radius_max_km > km ? p->radius_max_km : km,
      .k = 1,
      .need_all =
          s->skill_mode == CM_SKILLS_ALL && s->staff == 1 ? s->skills : 0,
      .need_any = s->skills};
  cm_store_hit hit;
  int count = 0;
  if (cm_store_nearest(e->store, &q, 1, 1, now_ms, e->cfg.stale_ms, &hit,
                       &count, NULL) == CM_OK &&
      count == 1)
    km = hit.distance_km;
  int64_t travel = (int64_t)(cm_travel_minutes(p, km) * 60000.0);
  int64_t at = s->window_start_ms - travel - e->cfg.release_slack_ms;
  return at > now_ms ? at : now_ms;
}

static int push_live(cm_engine *e, cm__req *r) {
  if (e->n_live == e->cap_live) {
    int cap = e->cap_live ? e->cap_live * 2 : 256;
    cm__req **p = realloc(e->live, (size_t)cap * sizeof *p);
    if (!p)
      return -1;
    e->live = p;
    e->cap_live = cap;
  }
  r->slot = e->n_live;
  e->live[e->n_live++] = r;
  return 0;
}

cm_status cm_engine_submit(cm_engine *e, const cm_request_spec *spec,
                           int64_t now_ms, cm_error *err) {
  cm_status st = check_spec(e, spec, err);
  if (st != CM_OK)
    return st;
  cm__req *old = cm__req_find(e, spec->id);
  if (old) {
    cm_request_spec norm;
    spec_copy(&norm, spec);
    if (spec_equal(&old->spec, &norm))
      return CM_OK;
    return cm_error_set(err, CM_E_CONFLICT, "$.id",
                        "$.id: request '%s' exists with different content",
                        spec->id);
  }
  if (e->n_live >= e->cfg.max_live)
    return cm_error_set(err, CM_E_LIMIT, "", "too many live requests (%d)",
                        e->cfg.max_live);
  cm__req *r = calloc(1, sizeof *r);
  if (!r)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  spec_copy(&r->spec, spec);
  r->state = CM_REQ_PENDING;
  r->created_ms = now_ms;
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  r->release_ms = release_time(e, &r->spec, now_ms);
  r->ready_ms = r->release_ms;
  if (push_live(e, r) != 0) {
    free(r);
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  if (cm__idmap_put(&e->req_map, r->spec.id, r->slot, NULL) != 1) {
    e->n_live--;
    free(r);
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  e->stats.by_state[CM_REQ_PENDING]++;
  cm__emit(e, CM_EV_SUBMITTED, r, NULL, CM_REQ_PENDING, CM_REQ_PENDING, NULL);
  r->released = r->release_ms <= now_ms;
  if (r->released)
    cm__schedule_batch(e, spec->urgency == CM_URGENCY_EMERGENCY
                              ? now_ms
                              : now_ms + e->cfg.batch_window_ms);
  return CM_OK;
}

void cm__req_finish(cm_engine *e, cm__req *r, cm_request_state to,
                    int64_t now_ms) {
  int slot = r->slot;
  e->stats.by_state[r->state]--;
  e->stats.by_state[to]++;
  r->state = to;
  r->finished_ms = now_ms;
  /* out of live[]: swap the last one into the hole */
  cm__req *last = e->live[--e->n_live];
  if (last != r) {
    e->live[slot] = last;
    last->slot = slot;
    cm__idmap_set(&e->req_map, last->spec.id, slot);
  }
  /* into the history ring, forgetting the oldest when full */
  int cap = e->cfg.history, pos;
  if (e->n_done == cap) {
    cm__req *old = e->done[e->done_head];
    cm__idmap_del(&e->req_map, old->spec.id);
    e->stats.by_state[old->state]--;
    free(old);
    pos = e->done_head;
    e->done_head = (e->done_head + 1) % cap;
  } else {
    pos = (e->done_head + e->n_done++) % cap;
  }
  e->done[pos] = r;
  r->slot = pos;
  cm__idmap_set(&e->req_map, r->spec.id, -2 - pos);
}

static cm__req *find_live(cm_engine *e, const char *id, cm_error *err) {
  cm__req *r = id ? cm__req_find(e, id) : NULL;
  if (!r)
    cm_error_set(err, CM_E_UNKNOWN_ID, "$.request",
                 "$.request: no request '%s'", id ? id : "");
  return r;
}

static int offer_index(const cm__req *r, const char *worker) {
  for (int i = 0; i < r->n_workers; i++)
    if (strcmp(r->workers[i], worker) == 0)
      return i;
  return -1;
}

static void set_state(cm_engine *e, cm__req *r, cm_request_state to) {
  e->stats.by_state[r->state]--;
  e->stats.by_state[to]++;
  r->state = to;
}

void cm__req_requeue(cm_engine *e, cm__req *r, const char *worker,
                     cm_event_type why, int64_t now_ms) {
  cm_request_state from = r->state;
  cm__req_release_workers(e, r);
  if (worker && why != CM_EV_WITHDRAWN) {
    int n =
        r->n_rejected < CM_MAX_REJECTS ? r->n_rejected++ : CM_MAX_REJECTS - 1;
    memset(r->rejected[n], 0, CM_ID_MAX);
    memcpy(r->rejected[n], worker, strnlen(worker, CM_ID_MAX - 1));
  }
  set_state(e, r, CM_REQ_PENDING);
  r->expires_ms = 0;
  r->has_reason = 0;
  cm__emit(e, why, r, worker, from, CM_REQ_PENDING, NULL);
  cm__schedule_batch(e, r->spec.urgency == CM_URGENCY_EMERGENCY
                            ? now_ms
                            : now_ms + e->cfg.batch_window_ms);
}

cm_status cm_engine_cancel(cm_engine *e, const char *request_id, int64_t now_ms,
                           cm_error *err) {
  cm__req *r = find_live(e, request_id, err);
  if (!r)
    return CM_E_UNKNOWN_ID;
  if (r->state == CM_REQ_CANCELLED)
    return CM_OK;
  if (r->state == CM_REQ_DONE)
    return cm_error_set(err, CM_E_CONFLICT, "$.request",
                        "$.request: '%s' is already done", request_id);
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  cm_request_state from = r->state;
  cm__req_release_workers(e, r);
  cm__req_finish(e, r, CM_REQ_CANCELLED, now_ms);
  cm__emit(e, CM_EV_CANCELLED, r, NULL, from, CM_REQ_CANCELLED, NULL);
  return CM_OK;
}

static cm_status offered_to(cm_engine *e, cm__req *r, const char *worker,
                            int *idx, cm_error *err) {
  if (!worker || !cm__wrk_find(e, worker))
    return cm_error_set(err, CM_E_UNKNOWN_ID, "$.worker",
                        "$.worker: no worker '%s'", worker ? worker : "");
  *idx = r->state == CM_REQ_OFFERED ? offer_index(r, worker) : -1;
  if (*idx < 0 || r->accepted[*idx])
    return cm_error_set(err, CM_E_CONFLICT, "$.worker",
                        "$.worker: request '%s' has no open offer to '%s'",
                        r->spec.id, worker);
  return CM_OK;
}

cm_status cm_engine_accept(cm_engine *e, const char *request_id,
                           const char *worker_id, int64_t now_ms,
                           cm_error *err) {
  cm__req *r = find_live(e, request_id, err);
  int idx;
  if (!r)
    return CM_E_UNKNOWN_ID;
  cm_status st = offered_to(e, r, worker_id, &idx, err);
  if (st != CM_OK)
    return st;
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  r->accepted[idx] = 1;
  cm__wrk *w = cm__wrk_find(e, worker_id);
  w->accepted++;
  cm__wrk_sync(e, w);
  int all = 1;
  for (int i = 0; i < r->n_workers; i++)
    all &= r->accepted[i];
  if (all)
    set_state(e, r, CM_REQ_ACCEPTED);
  cm__emit(e, CM_EV_ACCEPTED, r, worker_id, CM_REQ_OFFERED, r->state,
           &r->terms[idx]);
  return CM_OK;
}

cm_status cm_engine_reject(cm_engine *e, const char *request_id,
                           const char *worker_id, int64_t now_ms,
                           cm_error *err) {
  cm__req *r = find_live(e, request_id, err);
  int idx;
  if (!r)
    return CM_E_UNKNOWN_ID;
  cm_status st = offered_to(e, r, worker_id, &idx, err);
  if (st != CM_OK)
    return st;
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  cm__req_requeue(e, r, worker_id, CM_EV_REJECTED, now_ms);
  return CM_OK;
}

cm_status cm_engine_complete(cm_engine *e, const char *request_id,
                             int64_t now_ms, cm_error *err) {
  cm__req *r = find_live(e, request_id, err);
  if (!r)
    return CM_E_UNKNOWN_ID;
  if (r->state != CM_REQ_ACCEPTED)
    return cm_error_set(err, CM_E_CONFLICT, "$.request",
                        "$.request: '%s' is %s, not accepted", request_id,
                        cm_request_state_name(r->state));
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  /* workload and continuity for the next batches */
  uint64_t elder = r->spec.elder[0] ? cm_id_hash(r->spec.elder) : 0;
  for (int i = 0; i < r->n_workers; i++) {
    cm_worker w;
    if (cm_store_get(e->store, r->workers[i], &w, NULL) != CM_OK)
      continue;
    w.jobs_today++;
    int known = 0;
    for (int k = 0; k < w.n_elders; k++)
      known |= w.elders[k] == elder;
    if (elder && !known) {
      if (w.n_elders == CM_MAX_ELDERS) /* forget the oldest */
        memmove(w.elders, w.elders + 1, (CM_MAX_ELDERS - 1) * sizeof *w.elders);
      else
        w.n_elders++;
      w.elders[w.n_elders - 1] = elder;
    }
    cm_store_upsert(e->store, &w, NULL);
  }
  cm__req_release_workers(e, r);
  cm__req_finish(e, r, CM_REQ_DONE, now_ms);
  cm__emit(e, CM_EV_COMPLETED, r, NULL, CM_REQ_ACCEPTED, CM_REQ_DONE, NULL);
  return CM_OK;
}

cm_status cm_engine_get(const cm_engine *e, const char *request_id,
                        cm_request_view *out, cm_error *err) {
  const cm__req *r = request_id ? cm__req_find(e, request_id) : NULL;
  if (!r)
    return cm_error_set(err, CM_E_UNKNOWN_ID, "$.request",
                        "$.request: no request '%s'",
                        request_id ? request_id : "");
  memset(out, 0, sizeof *out);
  out->spec = r->spec;
  out->state = r->state;
  out->created_ms = r->created_ms;
  out->release_ms = r->release_ms;
  out->offered_ms = r->offered_ms;
  out->expires_ms = r->expires_ms;
  out->finished_ms = r->finished_ms;
  out->n_workers = r->n_workers;
  memcpy(out->workers, r->workers, sizeof out->workers);
  memcpy(out->accepted, r->accepted, sizeof out->accepted);
  memcpy(out->terms, r->terms, sizeof out->terms);
  out->n_rejected = r->n_rejected;
  memcpy(out->rejected, r->rejected, sizeof out->rejected);
  out->has_reason = r->has_reason;
  out->reason = r->reason;
  out->batches = r->batches;
  return CM_OK;
}

void cm_engine_stats_get(const cm_engine *e, cm_engine_stats *out) {
  *out = e->stats;
}
