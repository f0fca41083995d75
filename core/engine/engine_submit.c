/* engine_submit.c -- a new request: checked field by field, made
 * durable in the ledger (when there is one) before it is acknowledged,
 * then queued for a batch (or for its release time when scheduled). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

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
  SPEC_(cm_lat_valid(s->lat), CM_E_RANGE, "$.lat",
        "must be a finite number in [-90, 90]");
  SPEC_(cm_lon_valid(s->lon), CM_E_RANGE, "$.lon",
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
  SPEC_(strnlen(s->address, CM_ADDRESS_MAX) < CM_ADDRESS_MAX, CM_E_INVALID,
        "$.address", "must be at most 200 bytes");
  SPEC_(s->window_start_ms >= 0 && s->window_end_ms >= 0, CM_E_RANGE,
        "$.window_start_ms", "must be >= 0");
  SPEC_(!s->window_end_ms || s->window_end_ms >= s->window_start_ms, CM_E_RANGE,
        "$.window_end_ms", "must not be before window_start_ms");
  SPEC_(s->n_preferred >= 0 && s->n_preferred <= CM_MAX_PREFS, CM_E_LIMIT,
        "$.preferred", "at most 8 workers");
  SPEC_((int)s->confirm >= 0 && s->confirm < CM_CONFIRM_COUNT, CM_E_RANGE,
        "$.confirm", "must be none or operator");
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
      a->n_preferred != b->n_preferred || a->n_excluded != b->n_excluded ||
      a->confirm != b->confirm || strcmp(a->address, b->address))
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
  memset(dst->address, 0, sizeof dst->address);
  memcpy(dst->address, src->address, strnlen(src->address, CM_ADDRESS_MAX - 1));
}

/* Release time of a scheduled request into *at: window start minus the
 * travel of the nearest eligible worker now (or of the base radius when
 * there is none or the store cannot say) minus slack. Returns CM_OK, or
 * CM_E_NOMEM (err set) when the store's query ran out of memory: the
 * request would otherwise be released at another time than it should. */
static cm_status release_time(cm_engine *e, const cm_request_spec *s,
                              int64_t now_ms, int64_t *at, cm_error *err) {
  *at = now_ms;
  if (s->urgency != CM_URGENCY_SCHEDULED || s->window_start_ms <= 0)
    return CM_OK;
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
  cm_status st = cm_store_nearest(e->store, &q, 1, 1, now_ms, e->cfg.stale_ms,
                                  &hit, &count, NULL);
  if (st == CM_E_NOMEM)
    return cm_error_set(err, st, "", NULL);
  if (st == CM_OK && count == 1)
    km = hit.distance_km;
  int64_t travel = (int64_t)(cm_travel_minutes(p, km) * 60000.0);
  int64_t release = s->window_start_ms - travel - e->cfg.release_slack_ms;
  if (release > now_ms)
    *at = release;
  return CM_OK;
}

/* What a create refused because the ledger has the id already (submitted
 * to another engine, or before a restart) answers, from the ledger's
 * record v, read with status st (err set by the read when not CM_OK): the
 * same content is adopted (unless adopt is 0), different content is a
 * conflict. */
static cm_status elsewhere_answer(cm_engine *e, const cm_request_spec *norm,
                                  cm_status st, const cm_request_view *v,
                                  int adopt, cm_error *err) {
  if (st == CM_OK && !spec_equal(&v->spec, norm))
    st = cm_error_set(err, CM_E_CONFLICT, "$.id",
                      "$.id: request '%s' exists with different content",
                      norm->id);
  else if (st == CM_OK && adopt && cm__req_adopt(e, v) != 0)
    st = cm_error_set(err, CM_E_NOMEM, "", NULL);
  return st;
}

/* The record read synchronously. */
static cm_status submitted_elsewhere(cm_engine *e, const cm_request_spec *norm,
                                     cm_error *err) {
  cm_ledger *l = e->cfg.ledger;
  cm_request_view *v = malloc(sizeof *v);
  if (!v)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  cm_status st = l->type->get(l, norm->id, v, err);
  st = elsewhere_answer(e, norm, st, v, 1, err);
  free(v);
  return st;
}

/* The record read asynchronously (cm__op_read_behind): rd->rec as the
 * ledger has it. A rebuild begun since the read was sent brings the
 * record itself (it read a state at least as new); a record older than
 * the engine's (adopted meanwhile by a follow) is not adopted. */
static cm_status elsewhere_read(cm_engine *e, cm__op *rd, cm_error *err) {
  if (rd->st != CM_OK) {
    *err = rd->err;
    return rd->st;
  }
  const cm__req *r = cm__req_find(e, rd->id);
  int adopt = !e->rebuild && e->gen == rd->gen &&
              (!r || rd->rec->version >= r->version);
  return elsewhere_answer(e, &rd->spec, rd->st, rd->rec, adopt, err);
}

static cm_status submit_apply(cm_engine *e, cm__op *op, cm_error *err) {
  cm__req *r = op->fresh;
  if (cm__req_insert(e, r) != 0) {
    e->resync = e->cfg.ledger != NULL; /* the ledger has it, we do not */
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  op->fresh = NULL; /* the engine's now */
  /* where emergencies come from, for the reserve */
  if (r->spec.urgency == CM_URGENCY_EMERGENCY)
    cm__demand_learn(e, r->spec.lat, r->spec.lon, op->now_ms);
  cm__event_push(e, &op->ev);
  if (r->released && r->state == CM_REQ_PENDING && !r->in_batch) {
    /* (in_batch: a batch took it while its create was in flight, and its
       offer is in flight now: the offer's answer decides) */
    cm__schedule_pending(e, r, op->now_ms);
  }
  return CM_OK;
}

/* The ledger has the id already: submitted elsewhere (or by a write whose
 * answer was lost). */
static cm_status submit_refused(cm_engine *e, cm__op *op, cm_error *err) {
  cm_error_clear(err);
  if (op->async && cm__op_read_behind(e, op, elsewhere_read) == 0)
    return CM_OK; /* its caller is told once the record is in */
  return submitted_elsewhere(e, &op->spec, err);
}

static cm_status submit_plan(cm_engine *e, cm__op *op, cm_error *err) {
  const cm_request_spec *spec = &op->spec;
  int64_t now_ms = op->now_ms;
  cm_status st = check_spec(e, spec, err);
  if (st != CM_OK)
    return st;
  cm_request_spec norm;
  spec_copy(&norm, spec);
  cm__req *old = cm__req_find(e, spec->id);
  if (old) {
    if (spec_equal(&old->spec, &norm))
      return CM_OK;
    return cm_error_set(err, CM_E_CONFLICT, "$.id",
                        "$.id: request '%s' exists with different content",
                        spec->id);
  }
  if (e->n_live >= e->cfg.max_live)
    return cm_error_set(err, CM_E_LIMIT, "", "too many live requests (%d)",
                        e->cfg.max_live);
  int64_t release;
  if ((st = release_time(e, &norm, now_ms, &release, err)) != CM_OK)
    return st;
  cm__req *r = calloc(1, sizeof *r);
  if (!r)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  r->spec = norm;
  r->state = CM_REQ_PENDING;
  r->created_ms = now_ms;
  if (now_ms > e->now_ms)
    e->now_ms = now_ms;
  r->release_ms = release;
  r->ready_ms = r->release_ms;
  r->released = r->release_ms <= now_ms;
  if (norm.confirm == CM_CONFIRM_OPERATOR &&
      (st = cm__confirm_submit(e, r, now_ms, err)) != CM_OK) {
    free(r);
    return st;
  }
  op->spec = norm;
  free(op->fresh);
  op->fresh = r;
  /* durable before acknowledged: the ledger first (version 0 -> 1) */
  cm__event_fill(e, &op->ev, CM_EV_SUBMITTED, r, NULL, r->state, r->state,
                 NULL);
  op->before = *r;
  cm__change_init(&op->ch, &op->before, &op->view, r, &op->ev, 1);
  op->apply = submit_apply;
  op->refused = e->cfg.ledger ? submit_refused : NULL;
  st = cm__op_commit(e, op, err);
  if (op->async && op->proposed && !op->answered && r->released &&
      r->state == CM_REQ_PENDING && norm.urgency == CM_URGENCY_EMERGENCY) {
    /* its create in flight: a batch may take it now (docs/async.md, "one
       durable write"), its offer sent behind the create */
    op->creates = 1;
    cm__schedule_emergency(e, now_ms);
  }
  return st;
}

/* An op for spec (its id checked by the plan). */
static void submit_op(cm__op *op, const cm_request_spec *spec) {
  op->spec = *spec;
  op->plan = submit_plan;
  if (strnlen(spec->id, CM_ID_MAX) >= CM_ID_MAX) /* refused by the plan */
    op->bad_id = 1;
}

cm_status cm_engine_submit(cm_engine *e, const cm_request_spec *spec,
                           int64_t now_ms, cm_error *err) {
  cm__op op;
  cm__op_init(&op, "", now_ms);
  memcpy(op.id, spec->id, strnlen(spec->id, CM_ID_MAX - 1));
  submit_op(&op, spec);
  cm_status st = cm__op_run(e, &op, err);
  free(op.fresh); /* not inserted: refused or failed */
  return st;
}

cm_status cm_engine_submit_async(cm_engine *e, const cm_request_spec *spec,
                                 int64_t now_ms, cm_engine_done_fn done,
                                 void *ctx, cm_error *err) {
  cm_ledger *l = e->cfg.ledger;
  if (!done || !spec)
    return cm_error_set(err, CM_E_INVALID, "", "bad arguments");
  if (!l || !l->type->propose) { /* completes at once */
    cm_status st = cm_engine_submit(e, spec, now_ms, err);
    if (st == CM_OK) {
      cm_error ok;
      cm_error_clear(&ok);
      done(ctx, CM_OK, &ok);
    }
    return st;
  }
  cm__op *op = cm__op_new("", now_ms, done, ctx);
  if (!op)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  memcpy(op->id, spec->id, strnlen(spec->id, CM_ID_MAX - 1));
  submit_op(op, spec);
  return cm__op_launch(e, op, err);
}
