/* ledger_memory.c -- the memory ledger (cm_ledger_memory_new in ledger.h):
 * the Redis ledger's rules in process memory, with no I/O. For embedding
 * and for tests of the engine's write-first protocol without a server.
 *
 * It keeps what the commit script keeps: each request's record and version,
 * the live requests in submission order, each worker's record with its open
 * jobs and accepted jobs, and the status they call for (derive, as in
 * adapters/redis/lua/prelude.lua). A change's preconditions are all checked
 * before anything of it is written, so a refused change writes nothing.
 * One engine writes through one memory ledger: follow never reports other
 * writers, and says lost until follow_start was called. Events go to the
 * engine's own poll only; finished records stay until the ledger is
 * freed. */
#include <stdlib.h>
#include <string.h>

#include "carematch/engine.h"
#include "carematch/ledger.h"
#include "carematch/store.h"
#include "idmap.h"

typedef struct mem_req {
  cm_request_view v; /* the record, its version included */
} mem_req;

typedef struct mem_wrk {
  cm_worker w; /* the record, status derived when counted */
  int counted; /* a commit touched it: jobs and acc are kept */
  int jobs;    /* open jobs (offered or accepted) */
  int acc;     /* of which accepted */
} mem_wrk;

typedef struct mem_ledger {
  cm_ledger base; /* first: a cm_ledger * casts */
  mem_req **reqs; /* every request, in submission order */
  int n_reqs, cap_reqs;
  cm__idmap req_ix; /* id -> index in reqs (keys: the records' ids) */
  mem_wrk **wrks;   /* every worker, in insertion order */
  int n_wrks, cap_wrks;
  cm__idmap wrk_ix; /* id -> index in wrks */
  int following;    /* follow_start was called */
} mem_ledger;

static mem_ledger *ml(cm_ledger *l) {
  return (mem_ledger *)l;
}

static int finished(cm_request_state s) {
  return s == CM_REQ_DONE || s == CM_REQ_CANCELLED || s == CM_REQ_DISMISSED;
}

/* The status an on-shift worker's jobs call for (derive in lua/prelude.lua). */
static cm_worker_status derive(cm_worker_status st, const mem_wrk *k) {
  if (st == CM_WORKER_OFFLINE || !k->counted)
    return st;
  if (k->jobs < k->w.capacity)
    return CM_WORKER_AVAILABLE;
  return k->acc >= k->jobs ? CM_WORKER_BUSY : CM_WORKER_OFFERED;
}

static mem_req *req_find(mem_ledger *l, const char *id) {
  int i = id ? cm__idmap_get(&l->req_ix, id) : -1;
  return i < 0 ? NULL : l->reqs[i];
}

static mem_wrk *wrk_find(mem_ledger *l, const char *id) {
  int i = id ? cm__idmap_get(&l->wrk_ix, id) : -1;
  return i < 0 ? NULL : l->wrks[i];
}

/* Room for one more pointer in *arr. Returns 0, -1 out of memory. */
static int reserve(void ***arr, int n, int *cap) {
  if (n < *cap)
    return 0;
  int c = *cap ? 2 * *cap : 16;
  void **p = realloc(*arr, (size_t)c * sizeof *p);
  if (!p)
    return -1;
  *arr = p;
  *cap = c;
  return 0;
}

/* ---- commit ---- */

/* The preconditions of ch (ledger.h): the expected version, and every
 * taking worker known, on shift and with room. */
static cm_ledger_result check(mem_ledger *l, const cm_ledger_change *ch) {
  cm_ledger_result res = {CM_LEDGER_OK, 0};
  const mem_req *r = req_find(l, ch->after->spec.id);
  if (ch->expect_version == 0 ? r != NULL
                              : !r || r->v.version != ch->expect_version) {
    res.refusal = CM_LEDGER_VERSION;
    return res;
  }
  for (int i = 0; i < ch->n_workers; i++) {
    const cm_ledger_worker *cw = &ch->workers[i];
    const mem_wrk *k = wrk_find(l, cw->id);
    if (cw->take && (!k || k->w.status == CM_WORKER_OFFLINE ||
                     (cw->take != 2 && k->jobs >= k->w.capacity))) {
      res.refusal = CM_LEDGER_WORKER;
      res.worker = i;
      return res;
    }
  }
  return res;
}

/* What one change does to one known worker. */
static void apply_worker(mem_wrk *k, const cm_ledger_worker *cw) {
  k->counted = 1;
  k->jobs += cw->take != 0;
  if (cw->give && k->jobs > 0)
    k->jobs--;
  k->acc += cw->accept_delta;
  if (k->acc > k->jobs)
    k->acc = k->jobs;
  if (k->acc < 0)
    k->acc = 0;
  if (cw->done) {
    k->w.jobs_today++;
    int known = 0;
    for (int i = 0; i < k->w.n_elders; i++)
      known |= k->w.elders[i] == cw->elder;
    if (cw->elder && !known) {
      if (k->w.n_elders >= CM_MAX_ELDERS) { /* the oldest goes */
        memmove(k->w.elders, k->w.elders + 1,
                (CM_MAX_ELDERS - 1) * sizeof k->w.elders[0]);
        k->w.n_elders--;
      }
      k->w.elders[k->w.n_elders++] = cw->elder;
    }
  }
  k->w.status = derive(k->w.status, k);
}

/* Apply a change whose preconditions hold. Returns 0, -1 out of memory
 * (then nothing of it is written). */
static int apply(mem_ledger *l, const cm_ledger_change *ch) {
  mem_req *r = req_find(l, ch->after->spec.id);
  if (!r) { /* a submission: every allocation before any write */
    if (reserve((void ***)&l->reqs, l->n_reqs, &l->cap_reqs) != 0 ||
        !(r = malloc(sizeof *r)))
      return -1;
    r->v = *ch->after;
    if (cm__idmap_put(&l->req_ix, r->v.spec.id, l->n_reqs, NULL) < 0) {
      free(r);
      return -1;
    }
    l->reqs[l->n_reqs++] = r;
  } else {
    r->v = *ch->after; /* the id, the map's key, stays the same text */
  }
  for (int i = 0; i < ch->n_workers; i++) {
    mem_wrk *k = wrk_find(l, ch->workers[i].id);
    if (k) /* an unknown worker that takes no job is left alone */
      apply_worker(k, &ch->workers[i]);
  }
  return 0;
}

/* A pair (ch[i] with_next, ch[i + 1]): 1 when either's preconditions
 * fail, both results then that refusal; 0 when both hold (results[i]
 * already checked). */
static int pair_refused(mem_ledger *l, const cm_ledger_change *ch, int i,
                        cm_ledger_result *results) {
  results[i + 1] = check(l, &ch[i + 1]);
  if (results[i].refusal == CM_LEDGER_OK &&
      results[i + 1].refusal == CM_LEDGER_OK)
    return 0;
  if (results[i].refusal == CM_LEDGER_OK)
    results[i] = results[i + 1];
  else
    results[i + 1] = results[i];
  return 1;
}

static cm_status mem_commit(cm_ledger *lg, const cm_ledger_change *ch, int n,
                            cm_ledger_result *results, cm_error *err) {
  mem_ledger *l = ml(lg);
  cm_error_clear(err);
  if (n < 0 || (n > 0 && (!ch || !results)))
    return cm_error_set(err, CM_E_INVALID, "", "bad arguments");
  for (int i = 0; i < n; i++) {
    const char *id = ch[i].after ? ch[i].after->spec.id : NULL;
    size_t len = id ? strnlen(id, CM_ID_MAX) : 0;
    if (len == 0 || len >= CM_ID_MAX || ch[i].n_workers < 0 ||
        ch[i].n_workers > CM_MAX_STAFF)
      return cm_error_set(err, CM_E_INVALID, "$.request",
                          "$.request: change %d is malformed", i);
  }
  for (int i = 0; i < n; i++) { /* in order: a later one sees an earlier */
    results[i] = check(l, &ch[i]);
    if (ch[i].with_next && i + 1 < n && pair_refused(l, ch, i, results)) {
      i++; /* both refused, neither written */
      continue;
    }
    if (results[i].refusal == CM_LEDGER_OK && apply(l, &ch[i]) != 0)
      return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  return CM_OK;
}

/* ---- records ---- */

static cm_status mem_get(cm_ledger *lg, const char *id, cm_request_view *out,
                         cm_error *err) {
  cm_error_clear(err);
  const mem_req *r = out ? req_find(ml(lg), id) : NULL;
  if (!r)
    return cm_error_set(err, CM_E_UNKNOWN_ID, "$.request",
                        "$.request: no request '%s' in the ledger",
                        id ? id : "");
  *out = r->v;
  return CM_OK;
}

static cm_status mem_each_live(cm_ledger *lg, cm_ledger_request_fn fn,
                               void *ctx, cm_error *err) {
  mem_ledger *l = ml(lg);
  cm_error_clear(err);
  if (!fn)
    return cm_error_set(err, CM_E_INVALID, "", "no callback given");
  cm_request_view *v = malloc(sizeof *v);
  if (!v)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  int n = l->n_reqs; /* those submitted by fn's calls wait for next time */
  for (int i = 0; i < n; i++) {
    if (finished(l->reqs[i]->v.state))
      continue;
    *v = l->reqs[i]->v; /* a copy: fn may call us */
    fn(ctx, v);
  }
  free(v);
  return CM_OK;
}

/* ---- workers ---- */

static cm_status mem_worker_upsert(cm_ledger *lg, const cm_worker *w,
                                   cm_error *err) {
  mem_ledger *l = ml(lg);
  cm_error_clear(err);
  if (!w)
    return cm_error_set(err, CM_E_INVALID, "", "no worker given");
  cm_status st = cm_store_check_worker(w, err);
  if (st != CM_OK)
    return st;
  mem_wrk *k = wrk_find(l, w->id);
  if (!k) {
    if (reserve((void ***)&l->wrks, l->n_wrks, &l->cap_wrks) != 0 ||
        !(k = calloc(1, sizeof *k)))
      return cm_error_set(err, CM_E_NOMEM, "", NULL);
    k->w = *w;
    if (cm__idmap_put(&l->wrk_ix, k->w.id, l->n_wrks, NULL) < 0) {
      free(k);
      return cm_error_set(err, CM_E_NOMEM, "", NULL);
    }
    l->wrks[l->n_wrks++] = k;
  } else {
    k->w = *w; /* jobs and acc are the ledger's, not the caller's */
  }
  k->w.status = derive(w->status, k);
  return CM_OK;
}

static cm_status mem_worker_positions(cm_ledger *lg, int n,
                                      const char *const *ids, const double *lat,
                                      const double *lon, const int64_t *seen_ms,
                                      cm_error *err) {
  mem_ledger *l = ml(lg);
  cm_error one;
  cm_error_clear(err);
  if (n < 0 || (n > 0 && (!ids || !lat || !lon || !seen_ms)))
    return cm_error_set(err, CM_E_INVALID, "$.positions",
                        "$.positions: bad arguments");
  for (int i = 0; i < n; i++) { /* every check first: all or nothing */
    cm_status st = cm_store_check_position(lat[i], lon[i], seen_ms[i], &one);
    if (st == CM_OK && !wrk_find(l, ids[i]))
      st = cm_error_set(&one, CM_E_UNKNOWN_ID, "$.id", "$.id: no such worker");
    if (st != CM_OK)
      return cm_store_position_error(err, i, &one);
  }
  for (int i = 0; i < n; i++) { /* a repeated id: the later one wins */
    mem_wrk *k = wrk_find(l, ids[i]);
    k->w.lat = lat[i];
    k->w.lon = lon[i];
    k->w.seen_ms = seen_ms[i];
    k->w.has_position = 1;
  }
  return CM_OK;
}

static cm_status mem_worker_shift(cm_ledger *lg, const char *id, int on_shift,
                                  cm_error *err) {
  cm_error_clear(err);
  cm_status st = cm_store_check_id(id, err);
  if (st != CM_OK)
    return st;
  mem_wrk *k = wrk_find(ml(lg), id);
  if (!k)
    return cm_error_set(err, CM_E_UNKNOWN_ID, "$.id", "$.id: no worker '%s'",
                        id);
  k->w.status = derive(on_shift ? CM_WORKER_AVAILABLE : CM_WORKER_OFFLINE, k);
  return CM_OK;
}

static cm_status mem_each_worker(cm_ledger *lg, cm_ledger_worker_fn fn,
                                 void *ctx, cm_error *err) {
  mem_ledger *l = ml(lg);
  cm_error_clear(err);
  if (!fn)
    return cm_error_set(err, CM_E_INVALID, "", "no callback given");
  int n = l->n_wrks;
  for (int i = 0; i < n; i++) {
    cm_worker w = l->wrks[i]->w; /* a copy: fn may call us */
    fn(ctx, &w);
  }
  return CM_OK;
}

/* ---- following: one writer, nothing to follow ---- */

static cm_status mem_follow_start(cm_ledger *lg, cm_error *err) {
  cm_error_clear(err);
  ml(lg)->following = 1;
  return CM_OK;
}

static cm_status mem_follow(cm_ledger *lg, cm_ledger_change_fn fn, void *ctx,
                            int *lost, cm_error *err) {
  (void)ctx;
  cm_error_clear(err);
  if (!fn || !lost)
    return cm_error_set(err, CM_E_INVALID, "", "no callback given");
  *lost = !ml(lg)->following;
  return CM_OK;
}

/* ---- life ---- */

static void mem_free(cm_ledger *lg) {
  mem_ledger *l = ml(lg);
  for (int i = 0; i < l->n_reqs; i++)
    free(l->reqs[i]);
  for (int i = 0; i < l->n_wrks; i++)
    free(l->wrks[i]);
  free(l->reqs);
  free(l->wrks);
  cm__idmap_free(&l->req_ix);
  cm__idmap_free(&l->wrk_ix);
  free(l);
}

static const cm_ledger_type memory_ledger_type = {
    .name = "memory",
    .free = mem_free,
    .commit = mem_commit,
    .get = mem_get,
    .each_live = mem_each_live,
    .worker_upsert = mem_worker_upsert,
    .worker_positions = mem_worker_positions,
    .worker_shift = mem_worker_shift,
    .each_worker = mem_each_worker,
    .follow_start = mem_follow_start,
    .follow = mem_follow,
};

cm_ledger *cm_ledger_memory_new(cm_error *err) {
  cm_error_clear(err);
  mem_ledger *l = calloc(1, sizeof *l);
  if (!l || cm__idmap_init(&l->req_ix, 64) != 0) {
    free(l);
    cm_error_set(err, CM_E_NOMEM, "", NULL);
    return NULL;
  }
  if (cm__idmap_init(&l->wrk_ix, 64) != 0) {
    cm__idmap_free(&l->req_ix);
    free(l);
    cm_error_set(err, CM_E_NOMEM, "", NULL);
    return NULL;
  }
  l->base.type = &memory_ledger_type;
  return &l->base;
}
