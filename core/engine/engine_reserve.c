/* engine_reserve.c -- the emergency reserve: in each batch, some free
 * emergency-capable workers are kept out of less urgent work, so that an
 * emergency arriving next finds one nearby instead of waiting for a worker
 * to come free far away (docs/engine.md).
 *
 * A worker is emergency-capable when it holds a skill some emergency
 * request has asked for (the engine learns them as emergencies arrive).
 * Exposed are the capable workers the batch could give to a request of
 * urgency reserve_from or less urgent. Around every exposed worker the
 * engine keeps reserve_workers other capable workers free within
 * reserve_km: those the batch cannot take for such work (not exposed)
 * count as kept; the exposed are considered one by one, and one with too
 * few kept around it is held itself. With reserve_demand, only where
 * emergencies come from (engine_demand.c): an exposed worker in an area
 * cold at this hour needs none kept around it. A held worker loses its edges to
 * those requests for this batch only; more urgent ones still see it. The
 * solver is not involved: it optimises over the edges that are left, and
 * nothing is written (a ledger needs nothing more). */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

enum { EXPOSED = 1, HELD, TAKEN }; /* a batch worker's mark */

/* 1 when requests of this urgency may take the reserve */
static int exempt(const cm_engine *e, cm_urgency u) {
  return (int)u < (int)e->cfg.reserve_from;
}

/* One batch's reserve: the marks and the nearest capable workers of
 * every exposed one; with the stage it has reached, so that a batch's
 * begin in parts (cm_engine_config.begin_part_ms) can stop and go on. */
enum { FIND, CHOOSE }; /* the stage: the neighbours asked, the held chosen */
typedef struct cm__reserve {
  unsigned char *mark; /* per worker: 0, EXPOSED, HELD or TAKEN */
  int *order;          /* the exposed, in edge order */
  int n_exp;           /* how many */
  int k;               /* neighbours asked for around each at first */
  int k_full;          /* looked at around one at most (R + 8) */
  cm_store_query *qs;  /* per exposed: capable workers around it */
  cm_store_hit *hits;  /* k per exposed */
  cm_store_hit *more;  /* k_full: one exposed worker's whole list */
  int *counts;         /* hits found per exposed */
  const char **self;   /* per exposed: its own id, excluded */
  cm__idmap ids;       /* id -> batch index of the marked workers */
  int have_ids;        /* ids is initialised */
  int stage;           /* FIND or CHOOSE */
  int x;               /* the next exposed worker of the stage */
  int held;            /* how many were held so far */
} reserve;

/* Exposed workers looked at between two looks at the clock. */
#define RESERVE_CHUNK 32

void cm__reserve_free(reserve *rv) {
  if (!rv)
    return;
  if (rv->have_ids)
    cm__idmap_free(&rv->ids);
  free(rv->mark);
  free(rv->order);
  free(rv->qs);
  free(rv->hits);
  free(rv->more);
  free(rv->counts);
  free(rv->self);
  free(rv);
}

/* Exposed: capable workers with an edge from a non-exempt request; a
 * candidate of an emergency of this batch is neither held (the emergency
 * chooses freely, and the reserve must not push it to a worse worker) nor
 * counted as kept (it may be taken). Marks them and lists them in order. */
static void mark_exposed(const cm_engine *e, const cm_instance *inst,
                         reserve *rv) {
  cm_skillset need = e->emergency_skills;
  for (int i = 0; i < inst->n_edges; i++)
    if (inst->requests[inst->edges[i].request].urgency == CM_URGENCY_EMERGENCY)
      rv->mark[inst->edges[i].worker] = TAKEN;
  for (int i = 0; i < inst->n_edges; i++) {
    const cm_edge_in *ed = &inst->edges[i];
    const cm_worker *w = &inst->workers[ed->worker];
    if (!exempt(e, inst->requests[ed->request].urgency) && (w->skills & need) &&
        w->has_position && !rv->mark[ed->worker]) {
      rv->mark[ed->worker] = EXPOSED;
      rv->order[rv->n_exp++] = ed->worker;
    }
  }
}

/* The queries for the k nearest capable workers around every exposed
 * one (itself excluded), and the id map of the marked. Returns CM_OK or
 * CM_E_NOMEM. */
static cm_status prepare_neighbours(const cm_engine *e, const cm_instance *inst,
                                    reserve *rv, cm_error *err) {
  int n_exp = rv->n_exp, k = rv->k;
  rv->qs = malloc((size_t)n_exp * sizeof *rv->qs);
  rv->hits = malloc((size_t)n_exp * k * sizeof *rv->hits);
  rv->more = malloc((size_t)rv->k_full * sizeof *rv->more);
  rv->counts = malloc((size_t)n_exp * sizeof *rv->counts);
  rv->self = malloc((size_t)n_exp * sizeof *rv->self);
  if (!rv->qs || !rv->hits || !rv->more || !rv->counts || !rv->self ||
      cm__idmap_init(&rv->ids, 256) != 0)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  rv->have_ids = 1;
  for (int i = 0; i < inst->n_workers; i++)
    if (rv->mark[i] &&
        cm__idmap_put(&rv->ids, inst->workers[i].id, i, NULL) < 0)
      return cm_error_set(err, CM_E_NOMEM, "", NULL);
  for (int x = 0; x < n_exp; x++) {
    const cm_worker *w = &inst->workers[rv->order[x]];
    rv->self[x] = w->id;
    memset(&rv->qs[x], 0, sizeof rv->qs[x]);
    rv->qs[x].lat = w->lat;
    rv->qs[x].lon = w->lon;
    rv->qs[x].radius_km = e->cfg.reserve_km;
    rv->qs[x].k = k;
    rv->qs[x].need_any = e->emergency_skills;
    rv->qs[x].exclude = &rv->self[x];
    rv->qs[x].n_exclude = 1;
  }
  return CM_OK;
}

/* Ask the store for the neighbours of the exposed workers from rv->x on
 * (in parts RESERVE_CHUNK at a time) until all were asked (then the stage
 * is CHOOSE) or the part is over (one chunk at least). Returns CM_OK or
 * the store's error. */
static cm_status find_neighbours(cm_engine *e, int64_t now_ms, reserve *rv,
                                 const cm__part *part, cm_error *err) {
  while (rv->x < rv->n_exp) {
    int m = rv->n_exp - rv->x; /* in one call when not in parts */
    if (part && m > RESERVE_CHUNK)
      m = RESERVE_CHUNK;
    cm_status st = cm_store_nearest(
        e->store, rv->qs + rv->x, m, rv->k, now_ms, e->cfg.stale_ms,
        rv->hits + (size_t)rv->x * rv->k, rv->counts + rv->x, err);
    if (st != CM_OK)
      return st;
    rv->x += m;
    if (rv->x < rv->n_exp && cm__part_over(part))
      return CM_OK; /* each part asks one chunk at least */
  }
  rv->stage = CHOOSE;
  rv->x = rv->n_exp - 1;
  return CM_OK;
}

/* How many of hits[0..n) count as kept (not in this batch, or held
 * already), up to R. */
static int kept_among(const reserve *rv, const cm_store_hit *hits, int n,
                      int R) {
  int kept = 0;
  for (int h = 0; h < n && kept < R; h++) {
    int wi = cm__idmap_get(&rv->ids, hits[h].id);
    kept += wi < 0 || rv->mark[wi] == HELD;
  }
  return kept;
}

/* Hold every exposed worker with fewer than R kept around it among its
 * R + 8 nearest capable workers; the last candidates first: those of the
 * least pressing requests. Each was first asked for its R + 1 nearest
 * only: in the store's (distance, id) order they are the first R + 1 of
 * the R + 8, so when R of them are kept, or fewer than R + 1 are there,
 * the decision is the one the whole list gives; otherwise the whole list
 * is asked for (a large batch's begin spent about half its time in these
 * queries at R + 8). A worker in a cold area (no emergency came from the
 * areas around it at this time of day, engine_demand.c) keeps none: the
 * reserve stands where emergencies come from. Goes on from rv->x down
 * to the first, or until the part is over (rv->x >= 0 then); counts the
 * held in rv->held. Returns 0, or -1 with err set (the store's error). */
static int choose_held(cm_engine *e, reserve *rv, int R, int64_t now_ms,
                       const cm__part *part, cm_error *err) {
  for (int looked = 0; rv->x >= 0; rv->x--, looked++) {
    int x = rv->x;
    if (looked % RESERVE_CHUNK == RESERVE_CHUNK - 1 && cm__part_over(part))
      return 0; /* x is looked at in the next part */
    if (e->cfg.reserve_demand &&
        cm__demand_at(e, rv->qs[x].lat, rv->qs[x].lon, now_ms) == 0)
      continue; /* cold */
    int kept = kept_among(rv, rv->hits + (size_t)x * rv->k, rv->counts[x], R);
    if (kept < R && rv->counts[x] == rv->k) { /* more may be there */
      cm_store_query q = rv->qs[x];
      int n = 0;
      q.k = rv->k_full;
      if (cm_store_nearest(e->store, &q, 1, rv->k_full, now_ms, e->cfg.stale_ms,
                           rv->more, &n, err) != CM_OK)
        return -1;
      kept = kept_among(rv, rv->more, n, R);
    }
    if (kept < R) {
      rv->mark[rv->order[x]] = HELD;
      rv->held++;
    }
  }
  return 0;
}

/* Held workers lose their non-exempt edges; lost (when given) marks the
 * requests that had edges and have none left: the reserve is why they
 * wait (CM_REASON_RESERVE), not a lack of candidates. */
static void drop_held_edges(const cm_engine *e, cm_instance *inst,
                            const reserve *rv, unsigned char *lost) {
  int m = 0;
  if (lost)
    memset(lost, 0, (size_t)inst->n_requests);
  for (int i = 0; i < inst->n_edges; i++) {
    const cm_edge_in *ed = &inst->edges[i];
    if (rv->mark[ed->worker] == HELD &&
        !exempt(e, inst->requests[ed->request].urgency)) {
      if (lost)
        lost[ed->request] = 1; /* had one: cleared below if one is left */
      continue;
    }
    inst->edges[m++] = *ed;
  }
  inst->n_edges = m;
  for (int i = 0; lost && i < m; i++)
    lost[inst->edges[i].request] = 0;
}

/* The reserve's start: the marks and the queries; *out NULL when there
 * is nothing to hold (no reserve, nobody exposed). */
static cm_status reserve_start(cm_engine *e, const cm_instance *inst,
                               reserve **out, cm_error *err) {
  int R = e->cfg.reserve_workers, n = inst->n_workers;
  *out = NULL;
  if (R <= 0 || e->emergency_skills == 0 || n == 0)
    return CM_OK;
  reserve *rv = calloc(1, sizeof *rv);
  if (!rv)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  rv->k = R + 1;
  rv->k_full = R + 8; /* R + 8: enough to see R kept among a few exposed */
  rv->mark = calloc((size_t)n, 1);
  rv->order = malloc((size_t)n * sizeof *rv->order);
  cm_status st = CM_OK;
  if (!rv->mark || !rv->order)
    st = cm_error_set(err, CM_E_NOMEM, "", NULL);
  else
    mark_exposed(e, inst, rv);
  if (st == CM_OK && rv->n_exp > 0 &&
      (st = prepare_neighbours(e, inst, rv, err)) == CM_OK) {
    *out = rv;
    return CM_OK;
  }
  cm__reserve_free(rv);
  return st;
}

cm_status cm__reserve_run(cm_engine *e, cm__reserve **rvp, cm_instance *inst,
                          int64_t now_ms, const cm__part *part, int *held_out,
                          unsigned char *lost, int *done, cm_error *err) {
  cm_status st = CM_OK;
  *done = 0;
  if (!*rvp) {
    *held_out = 0;
    if (lost)
      memset(lost, 0, (size_t)inst->n_requests);
    if ((st = reserve_start(e, inst, rvp, err)) != CM_OK || !*rvp) {
      *done = st == CM_OK;
      return st;
    }
  }
  reserve *rv = *rvp;
  if (rv->stage == FIND &&
      (st = find_neighbours(e, now_ms, rv, part, err)) != CM_OK)
    goto out;
  if (rv->stage == FIND)
    return CM_OK; /* the part is over */
  if (choose_held(e, rv, e->cfg.reserve_workers, now_ms, part, err) < 0) {
    st = err->code;
    goto out;
  }
  if (rv->x >= 0)
    return CM_OK; /* the part is over */
  *held_out = rv->held;
  drop_held_edges(e, inst, rv, lost);
  *done = 1;
out:
  cm__reserve_free(rv);
  *rvp = NULL;
  return st;
}
