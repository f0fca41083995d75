/* engine.c -- the dispatch engine: configuration, the request table (live
 * requests and the finished history: the only file that adds to it or
 * moves between its parts), the batch timer, and queries. It calls no
 * other engine file but the event queue; the direction of the rest is at
 * the top of engine_internal.h. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

static const char *const state_names[CM_REQ_STATE_COUNT] = {
    "pending",   "offered",
    "accepted",  "done",
    "cancelled", "awaiting_confirmation", /* confirmation (engine_confirm.c) */
    "dismissed"};
static const char *const event_names[CM_EV_TYPE_COUNT] = {
    "submitted",  "offered",     "accepted",  "rejected",   "expired",
    "withdrawn",  "cancelled",   "completed", "escalated",  "confirmed",
    "dismissed",  "hold_lapsed", /* engine_confirm.c */
    "pinned",     "held",        "released",  "reassigned", /* engine_override.c
                                                             */
    "arrived",      /* engine_lifecycle.c */
    "standby",      /* engine_standby.c */
    "diverted",     /* engine_divert.c */
    "interrupted"}; /* engine_divert.c */

const char *cm_request_state_name(cm_request_state s) {
  return (int)s >= 0 && s < CM_REQ_STATE_COUNT ? state_names[s] : "unknown";
}

const char *cm_event_type_name(cm_event_type t) {
  return (int)t >= 0 && t < CM_EV_TYPE_COUNT ? event_names[t] : "unknown";
}

void cm_engine_config_init(cm_engine_config *c) {
  memset(c, 0, sizeof *c);
  cm_taxonomy_init(&c->taxonomy);
  cm_weights_init(&c->weights);
  cm_params_init(&c->params);
  c->batch_window_ms = 300;
  c->batch_max = 2000;
  c->emergencies_alone = 1;
  c->solve_budget_ms = 100;
  c->offer_ttl_ms = 30000;
  c->retry_max_ms = 5000;
  c->release_slack_ms = 600000;
  c->stale_ms = 120000;
  c->max_live = 1000000;
  c->history = 100000;
  c->event_queue = 8192;
  c->reserve_workers = 1;
  c->reserve_km = 5.0;
  c->reserve_from = CM_URGENCY_URGENT;
  c->lookahead_min = 15;
  c->lookahead_upto = CM_URGENCY_URGENT;
  c->reserve_demand = 0;
  c->escalate_after_ms = 1800000;
  c->confirm_hold_ms = 120000;
  c->standby_every_ms = 0;
}

static cm_status check_config(const cm_engine_config *c, cm_error *err) {
#define CFG_(cond, field, msg)                                                 \
  do {                                                                         \
    if (!(cond))                                                               \
      return cm_error_set(err, CM_E_RANGE, "$." field, "$." field ": " msg);   \
  } while (0)
  CFG_(c->batch_window_ms >= 0 && c->batch_window_ms <= 3600000,
       "batch_window_ms", "must be in [0, 3600000]");
  CFG_(c->begin_part_ms >= 0 && c->begin_part_ms <= 10000, "begin_part_ms",
       "must be in [0, 10000]");
  CFG_(c->batch_max >= 1 && c->batch_max <= 100000, "batch_max",
       "must be in [1, 100000]");
  CFG_(c->emergencies_alone == 0 || c->emergencies_alone == 1,
       "emergencies_alone", "must be 0 or 1");
  CFG_(c->solve_budget_ms >= 0 && c->solve_budget_ms <= 60000,
       "solve_budget_ms", "must be in [0, 60000]");
  CFG_(c->offer_ttl_ms >= 1, "offer_ttl_ms", "must be >= 1");
  CFG_(c->retry_max_ms >= 0 && c->retry_max_ms <= 3600000, "retry_max_ms",
       "must be in [0, 3600000]");
  CFG_(c->release_slack_ms >= 0, "release_slack_ms", "must be >= 0");
  CFG_(c->stale_ms >= 0, "stale_ms", "must be >= 0");
  CFG_(c->max_live >= 1, "max_live", "must be >= 1");
  CFG_(c->history >= 1, "history", "must be >= 1");
  CFG_(c->event_queue >= 16, "event_queue", "must be >= 16");
  CFG_(c->escalate_after_ms >= 0 && c->escalate_after_ms <= 604800000,
       "escalate_after_ms", "must be in [0, 604800000] (a week)");
  CFG_(c->confirm_hold_ms >= 0 && c->confirm_hold_ms <= 86400000,
       "confirm_hold_ms", "must be in [0, 86400000] (a day)");
  CFG_(c->reserve_workers >= 0 && c->reserve_workers <= 64, "reserve_workers",
       "must be in [0, 64]");
  CFG_(c->reserve_km > 0 && c->reserve_km <= 1000, "reserve_km",
       "must be in (0, 1000] km");
  CFG_(c->reserve_from >= CM_URGENCY_URGENT &&
           c->reserve_from <= CM_URGENCY_SCHEDULED,
       "reserve_from", "must be urgent, normal or scheduled");
  CFG_(c->reserve_demand == 0 || c->reserve_demand == 1, "reserve_demand",
       "must be 0 or 1");
  CFG_(c->lookahead_min >= 0 && c->lookahead_min <= 240, "lookahead_min",
       "must be in [0, 240] minutes");
  CFG_(c->lookahead_upto >= CM_URGENCY_URGENT &&
           c->lookahead_upto <= CM_URGENCY_SCHEDULED,
       "lookahead_upto", "must be urgent, normal or scheduled");
  CFG_(c->divert_min >= 0 && c->divert_min <= 240, "divert_min",
       "must be in [0, 240] minutes");
  CFG_(c->interrupt_min >= 0 && c->interrupt_min <= 240, "interrupt_min",
       "must be in [0, 240] minutes");
  CFG_(c->divert_urgent == 0 || c->divert_urgent == 1, "divert_urgent",
       "must be 0 or 1");
  CFG_(c->standby_every_ms >= 0 && c->standby_every_ms <= 86400000,
       "standby_every_ms", "must be in [0, 86400000] (a day)");
#undef CFG_
  cm_error_clear(err);
  if (c->taxonomy.count < 1 || c->taxonomy.count > CM_MAX_SKILLS)
    return cm_error_set(err, CM_E_INVALID, "$.taxonomy",
                        "$.taxonomy: needs 1..32 skills");
  cm_status st = cm_weights_validate(&c->weights, err);
  if (st != CM_OK)
    return st;
  cm_params params = c->params; /* the clock and staleness are the engine's */
  params.now_ms = 0;
  params.stale_ms = 0;
  return cm_params_validate(&params, err);
}

cm_status cm_engine_config_validate(const cm_engine_config *cfg,
                                    cm_error *err) {
  return check_config(cfg, err);
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
  e->next_alone_ms = INT64_MAX;
  e->resync = cfg->ledger != NULL; /* recovery before the first step */
  e->done = calloc((size_t)cfg->history, sizeof *e->done);
  if (!e->done || cm__idmap_init(&e->req_map, 1024) != 0 ||
      cm__idmap_init(&e->wrk_map, 1024) != 0 ||
      cm__events_init(&e->ev, cfg->event_queue) != 0)
    goto oom;
  cm_histogram_init(&e->stats.batch_ms);
  cm_histogram_init(&e->stats.candidates_ms);
  cm_histogram_init(&e->stats.solve_ms);
  cm_histogram_init(&e->stats.commit_ms);
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
  /* what is in flight: its callers are told CM_E_UNAVAILABLE */
  cm_engine_batch_free(e->beginning); /* a begin paused: never solved */
  e->beginning = NULL;
  if (e->abandon_follow)
    e->abandon_follow(e);
  if (e->abandon_rebuild)
    e->abandon_rebuild(e);
  if (e->abandon_offers)
    e->abandon_offers(e);
  if (e->abandon_ops)
    e->abandon_ops(e);
  if (e->abandon_wops)
    e->abandon_wops(e);
  for (int i = 0; i < e->n_live; i++)
    free(e->live[i]);
  for (int i = 0; i < e->n_done; i++)
    free(e->done[(e->done_head + i) % e->cfg.history]);
  for (int i = 0; i < e->n_workers; i++)
    free(e->workers[i]);
  free(e->live);
  free(e->live_due);
  free(e->due_heap);
  free(e->due_pos);
  free(e->done);
  free(e->workers);
  cm__idmap_free(&e->req_map);
  cm__idmap_free(&e->wrk_map);
  cm__events_free(&e->ev);
  free(e);
}

cm_status cm_engine_config_set(cm_engine *e, const cm_engine_config *cfg,
                               cm_error *err) {
  cm_engine_config c = *cfg;
  if (memcmp(&c.taxonomy, &e->cfg.taxonomy, sizeof c.taxonomy) != 0)
    return cm_error_set(err, CM_E_INVALID, "$.taxonomy",
                        "$.taxonomy: cannot change while running");
  if (c.history != e->cfg.history || c.event_queue != e->cfg.event_queue)
    return cm_error_set(
        err, CM_E_INVALID,
        c.history != e->cfg.history ? "$.history" : "$.event_queue",
        "%s: cannot change while running",
        c.history != e->cfg.history ? "$.history" : "$.event_queue");
  /* what the engine was built with stays */
  c.ledger = e->cfg.ledger;
  c.clock = e->cfg.clock;
  c.clock_ctx = e->cfg.clock_ctx;
  cm_status st = check_config(&c, err);
  if (st == CM_OK)
    e->cfg = c;
  return st;
}

const cm_engine_config *cm_engine_config_get(const cm_engine *e) {
  return &e->cfg;
}

cm_status cm_engine_weights_set(cm_engine *e, const cm_weights *w,
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

static int push_live(cm_engine *e, cm__req *r) {
  if (e->n_live == e->cap_live) {
    int cap = e->cap_live ? e->cap_live * 2 : 256;
    if (cm__due_reserve(e, cap) != 0) /* live_due and its heap */
      return -1;
    cm__req **p = realloc(e->live, (size_t)cap * sizeof *p);
    if (!p)
      return -1;
    e->live = p;
    e->cap_live = cap;
  }
  r->slot = e->n_live;
  e->live_due[e->n_live] = cm__req_due(r);
  e->live[e->n_live++] = r;
  cm__due_added(e);
  return 0;
}

int64_t cm__req_due(const cm__req *r) {
  switch (r->state) {
  case CM_REQ_OFFERED:
    return r->expires_ms;
  case CM_REQ_PENDING:
    return r->released ? INT64_MAX : r->release_ms;
  case CM_REQ_AWAITING:
    return r->hold_worker[0] && !r->hold_lapsed ? r->hold_until_ms : INT64_MAX;
  default:
    return INT64_MAX;
  }
}

void cm__req_due_update(cm_engine *e, const cm__req *r) {
  if (r->slot >= 0 && r->slot < e->n_live && e->live[r->slot] == r) {
    int64_t due = cm__req_due(r);
    if (e->live_due[r->slot] != due) {
      e->live_due[r->slot] = due;
      cm__due_changed(e, r->slot);
    }
  }
}

/* Into the history ring, forgetting the oldest when full. */
static void push_history(cm_engine *e, cm__req *r) {
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

int cm__req_insert(cm_engine *e, cm__req *r) {
  if (r->state == CM_REQ_DONE || r->state == CM_REQ_CANCELLED ||
      r->state == CM_REQ_DISMISSED) {
    if (cm__idmap_put(&e->req_map, r->spec.id, -1, NULL) != 1)
      return -1;
    push_history(e, r);
  } else {
    if (push_live(e, r) != 0)
      return -1;
    if (cm__idmap_put(&e->req_map, r->spec.id, r->slot, NULL) != 1) {
      e->n_live--;
      cm__due_removed(e, e->n_live);
      return -1;
    }
  }
  e->stats.by_state[r->state]++;
  if (r->spec.urgency == CM_URGENCY_EMERGENCY)
    e->emergency_skills |= r->spec.skills;
  return 0;
}

void cm__req_finish(cm_engine *e, cm__req *r) {
  int slot = r->slot;
  /* out of live[]: swap the last one into the hole */
  cm__req *last = e->live[--e->n_live];
  if (last != r) {
    e->live[slot] = last;
    e->live_due[slot] = e->live_due[e->n_live];
    last->slot = slot;
    cm__idmap_set(&e->req_map, last->spec.id, slot);
  }
  cm__due_removed(e, slot);
  push_history(e, r);
}

cm_status cm_engine_request_get(const cm_engine *e, const char *request_id,
                                cm_request_view *out, cm_error *err) {
  const cm__req *r = request_id ? cm__req_find(e, request_id) : NULL;
  cm_ledger *l = e->cfg.ledger;
  if (!r && l && request_id) /* finished before a restart, or elsewhere */
    return l->type->get(l, request_id, out, err);
  if (!r)
    return cm_error_set(err, CM_E_UNKNOWN_ID, "$.request",
                        "$.request: no request '%s'",
                        request_id ? request_id : "");
  cm__view_of(r, out);
  return CM_OK;
}

int cm_engine_holds(const cm_engine *e, const char *request_id) {
  return request_id && cm__req_find(e, request_id) != NULL;
}

void cm_engine_stats_get(const cm_engine *e, cm_engine_stats *out) {
  *out = e->stats;
  out->resync_pending = e->resync || e->rebuild; /* or rebuilding */
}

/* ---- the batch timer ---- */

void cm__schedule_batch(cm_engine *e, int64_t at_ms) {
  if (at_ms < e->next_batch_ms)
    e->next_batch_ms = at_ms;
}

void cm__schedule_emergency(cm_engine *e, int64_t at_ms) {
  if (!e->cfg.emergencies_alone)
    cm__schedule_batch(e, at_ms);
  else if (at_ms < e->next_alone_ms)
    e->next_alone_ms = at_ms;
}

void cm__schedule_for(cm_engine *e, const cm__req *r, int64_t at_ms) {
  if (r->spec.urgency == CM_URGENCY_EMERGENCY)
    cm__schedule_emergency(e, at_ms);
  else
    cm__schedule_batch(e, at_ms);
}

void cm__schedule_pending(cm_engine *e, const cm__req *r, int64_t now_ms) {
  cm__schedule_for(e, r,
                   r->spec.urgency == CM_URGENCY_EMERGENCY
                       ? now_ms
                       : now_ms + e->cfg.batch_window_ms);
}

void cm__retry_soon(cm_engine *e) {
  e->retry_wait_ms = 0;
  for (int i = 0; i < e->n_live; i++)
    if (e->live[i]->state == CM_REQ_PENDING && e->live[i]->released) {
      cm__schedule_batch(e, e->now_ms + e->cfg.batch_window_ms);
      return;
    }
}

/* ---- records ---- */

int cm__req_may_offer(const cm__req *r, const cm_worker *w) {
  cm_skillset need = r->spec.skills;
  if (r->spec.skill_mode == CM_SKILLS_ALL ? (w->skills & need) != need
                                          : need && !(w->skills & need))
    return 0;
  for (int i = 0; i < r->spec.n_excluded; i++)
    if (!strcmp(r->spec.excluded[i], w->id))
      return 0;
  for (int i = 0; i < r->n_rejected; i++)
    if (!strcmp(r->rejected[i], w->id))
      return 0;
  return 1;
}

void cm__req_as_request(const cm__req *r, int64_t since_ms, int64_t now_ms,
                        cm_request *rq) {
  cm_request_init(rq);
  memcpy(rq->id, r->spec.id, sizeof rq->id);
  rq->lat = r->spec.lat;
  rq->lon = r->spec.lon;
  rq->has_position = 1;
  rq->skills = r->spec.skills;
  rq->skill_mode = r->spec.skill_mode;
  rq->staff = r->spec.staff;
  rq->urgency = r->spec.urgency;
  rq->waited_s = now_ms > since_ms ? (double)(now_ms - since_ms) / 1e3 : 0.0;
  rq->elder = r->spec.elder[0] ? cm_id_hash(r->spec.elder) : 0;
}

void cm__view_of(const cm__req *r, cm_request_view *out) {
  memset(out, 0, sizeof *out);
  out->spec = r->spec;
  out->state = r->state;
  out->created_ms = r->created_ms;
  out->release_ms = r->release_ms;
  out->offered_ms = r->offered_ms;
  out->expires_ms = r->expires_ms;
  out->finished_ms = r->finished_ms;
  out->arrived_ms = r->arrived_ms;
  /* only the entries in use: what is left beyond them is not state */
  out->n_workers = r->n_workers;
  memcpy(out->workers, r->workers, (size_t)r->n_workers * CM_ID_MAX);
  memcpy(out->accepted, r->accepted, (size_t)r->n_workers * sizeof(int));
  memcpy(out->terms, r->terms, (size_t)r->n_workers * sizeof(cm_cost_terms));
  out->n_rejected = r->n_rejected;
  memcpy(out->rejected, r->rejected, (size_t)r->n_rejected * CM_ID_MAX);
  out->has_reason = r->has_reason;
  out->reason = r->reason;
  out->batches = r->batches;
  memcpy(out->hold_worker, r->hold_worker, sizeof out->hold_worker);
  out->hold_until_ms = r->hold_until_ms;
  out->dismissed = r->dismissed;
  out->ready_ms = r->ready_ms;
  out->version = r->version;
  memcpy(out->pinned, r->pinned, sizeof out->pinned);
  memcpy(out->divert_of, r->divert_of, sizeof out->divert_of);
  out->divert_version = r->divert_version;
  out->divert_ms = r->divert_ms;
  out->held = r->held;
}

void cm__req_replace(cm_engine *e, cm__req *r, const cm__req *after) {
  int slot = r->slot;
  e->stats.by_state[r->state]--;
  e->stats.by_state[after->state]++;
  *r = *after;
  r->slot = slot;
  cm__req_due_update(e, r);
}
