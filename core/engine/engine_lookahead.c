/* engine_lookahead.c -- look-ahead: a worker busy with an accepted job
 * that will end soon is a candidate of the batch's emergency and urgent
 * requests, at the minutes until it is free plus the travel from that
 * job's place (docs/engine.md "Look-ahead").
 *
 * The engine is not told how long a service takes: it learns it. When a
 * job is completed, its service minutes (completion minus offer minus the
 * offer's estimated travel) go into a running mean for its kind (urgency,
 * skills, staff). A busy worker's job then ends, expected, at its offer
 * time plus its estimated travel plus that mean. Only workers holding one
 * accepted job at capacity 1, on shift, whose job kind has been seen, and
 * free within lookahead_min are candidates; a job overdue by more than
 * LATE_MIN is not guessed at.
 *
 * Such a worker is added to the batch instance like any other, with one
 * edge per request it qualifies for when it arrives MARGIN_MIN sooner
 * than every free candidate (an estimate is not waited on for less):
 * travel_min = wait + drive, so the
 * travel and sla terms price the wait exactly as they price a drive. The
 * solver is not changed. When it picks a busy worker, no offer is made:
 * the request waits (CM_REASON_WAITING_WORKER) and the batch after the
 * worker's completion offers afresh, with what is known then. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

enum { LATE_MIN = 5 };   /* overdue this long: the end is unknown */
enum { MARGIN_MIN = 5 }; /* sooner than every free candidate by this */
/* km per degree of latitude, a little below the 111.195 of
 * cm_geo_distance_km's radius: latitude bands from it never cut a request
 * within reach */
#define KM_PER_DEG_LAT_LB 111.0
/* km per degree of longitude at latitude 0, below the bound that holds
 * for longitude differences up to LON_CUT_MAX_DEG: the great-circle
 * distance between points at latitudes up to phi and longitudes dlon
 * apart is at least 2 R cos(phi) sin(dlon / 2) >= 0.998 R cos(phi) dlon
 * there (haversine: a >= cos^2(phi) sin^2(dlon / 2), asin(x) >= x) */
#define KM_PER_DEG_LON_LB 110.0
#define LON_CUT_MAX_DEG 10.0

static uint64_t kind_key(const cm_request_spec *s) {
  return ((uint64_t)s->skills << 16) ^ ((uint64_t)s->urgency << 8) ^
         (uint64_t)s->staff ^ ((uint64_t)s->skill_mode << 4);
}

/* The slot of the kind, the first free one when new, NULL when full. */
static cm__kind_stat *kind_slot(cm_engine *e, uint64_t key, int create) {
  unsigned h = (unsigned)(key * 0x9E3779B97F4A7C15ull >> 58); /* 0..63 */
  for (int i = 0; i < CM__KINDS; i++) {
    cm__kind_stat *k = &e->kinds[(h + (unsigned)i) % CM__KINDS];
    if (k->n > 0 && k->key == key)
      return k;
    if (k->n == 0)
      return create ? k : NULL;
  }
  return NULL;
}

void cm__lookahead_learn(cm_engine *e, const cm__req *r, int64_t now_ms) {
  if (r->state != CM_REQ_ACCEPTED || r->n_workers < 1 || r->offered_ms <= 0)
    return;
  double min =
      (double)(now_ms - r->offered_ms) / 60000.0 - r->terms[0].travel_min;
  if (min < 0)
    min = 0;
  cm__kind_stat *k = kind_slot(e, kind_key(&r->spec), 1);
  if (!k)
    return; /* 64 kinds seen: the others are not looked ahead for */
  k->key = kind_key(&r->spec);
  k->n++;
  k->mean_min += (min - k->mean_min) / k->n;
}

/* Minutes until accepted job r ends, expected; -1 when unknown (kind
 * never completed, or overdue by LATE_MIN). */
static double minutes_left(cm_engine *e, const cm__req *r, int64_t now_ms) {
  const cm__kind_stat *k = kind_slot(e, kind_key(&r->spec), 0);
  if (!k)
    return -1;
  double end =
      (double)r->offered_ms / 60000.0 + r->terms[0].travel_min + k->mean_min;
  double left = end - (double)now_ms / 60000.0;
  if (left < -LATE_MIN)
    return -1;
  return left < 0 ? 0 : left;
}

/* 1 when batch request r looks ahead: one worker, at least as urgent as
 * lookahead_upto (emergency and urgent by default). */
static int looks_ahead(const cm_engine *e, const cm__req *r) {
  return r && r->spec.staff == 1 && r->spec.urgency <= e->cfg.lookahead_upto;
}

/* The batch's looking-ahead requests by latitude, so that a busy worker
 * is checked against those within reach only: with every request looking
 * ahead (lookahead_upto scheduled), a batch of 2,000 against thousands of
 * busy workers would otherwise cost millions of distances. */
typedef struct ahead_req {
  double lat, lon;
  int q; /* its index in the batch */
} ahead_req;

typedef struct ahead_hit {
  int q;    /* a request in a busy worker's reach */
  double t; /* her arrival, minutes: the wait and the drive */
} ahead_hit;

typedef struct ahead_index {
  ahead_req *by_lat; /* the looking-ahead requests, by latitude */
  int n;
  double max_deg; /* the widest radius among them in degrees of latitude
                     (a great-circle distance is at least the latitude
                     difference times KM_PER_DEG_LAT_LB) */
  ahead_hit *hit; /* scratch: one worker's requests in reach, her arrival */
} ahead_index;

static int by_lat(const void *a, const void *b) {
  const ahead_req *x = a, *y = b;
  return x->lat < y->lat   ? -1
         : x->lat > y->lat ? 1
                           : (x->q > y->q) - (x->q < y->q);
}

/* ix over the batch's looking-ahead requests. Returns CM_OK or
 * CM_E_NOMEM. */
static cm_status index_build(const cm_engine *e, const cm_instance *inst,
                             cm__req **reqs, int n, ahead_index *ix) {
  memset(ix, 0, sizeof *ix);
  ix->by_lat = malloc((size_t)n * sizeof *ix->by_lat);
  ix->hit = malloc((size_t)n * sizeof *ix->hit);
  if (!ix->by_lat || !ix->hit)
    return CM_E_NOMEM;
  for (int q = 0; q < n; q++) {
    if (!looks_ahead(e, reqs[q]))
      continue;
    double deg = cm_request_radius_km(&inst->params, &inst->requests[q]) /
                 KM_PER_DEG_LAT_LB;
    if (deg > ix->max_deg)
      ix->max_deg = deg;
    ix->by_lat[ix->n++] = (ahead_req){reqs[q]->spec.lat, reqs[q]->spec.lon, q};
  }
  qsort(ix->by_lat, (size_t)ix->n, sizeof *ix->by_lat, by_lat);
  return CM_OK;
}

static void index_free(ahead_index *ix) {
  free(ix->by_lat);
  free(ix->hit);
}

double cm__lon_reach_deg(double lat, double reach_km) {
  double phi = fabs(lat) + reach_km / KM_PER_DEG_LAT_LB;
  if (phi >= 89.0)
    return 360.0;
  double d = reach_km /
             (KM_PER_DEG_LON_LB * cos(phi * 3.14159265358979323846 / 180.0));
  return d > LON_CUT_MAX_DEG ? 360.0 : d;
}

/* The first of ix's requests at or above latitude lat. */
static int band_start(const ahead_index *ix, double lat) {
  int lo = 0, hi = ix->n;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    if (ix->by_lat[mid].lat < lat)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static int hit_order(const void *a, const void *b) {
  int x = ((const ahead_hit *)a)->q, y = ((const ahead_hit *)b)->q;
  return (x > y) - (x < y);
}

/* The n hits by index: the order the edges were always added in. Mostly
 * a few: an insertion sort; qsort past 16. */
static void by_index(ahead_hit *h, int n) {
  if (n > 16) {
    qsort(h, (size_t)n, sizeof *h, hit_order);
    return;
  }
  for (int i = 1; i < n; i++) {
    ahead_hit x = h[i];
    int k = i;
    for (; k > 0 && h[k - 1].q > x.q; k--)
      h[k] = h[k - 1];
    h[k] = x;
  }
}

/* The looking-ahead requests that a worker free at j's place in left
 * minutes reaches within their radius, inside lookahead_min and MARGIN_MIN
 * sooner than their free candidates (best[q]), with her arrival minutes,
 * into ix->hit (by latitude); their count. Only the band within her reach
 * in latitude, and in longitude (cm__lon_reach_deg: it drops only requests
 * farther than that reach), is looked at. */
static int in_reach(const cm_engine *e, const cm_instance *inst, cm__req **reqs,
                    ahead_index *ix, const double *best, const cm__req *j,
                    double left) {
  /* within her reach: a radius, and a drive that ends inside
     lookahead_min (t = left + travel_minutes(km), linear in km) */
  double km_time = (e->cfg.lookahead_min - left) * inst->params.speed_kmh /
                   (60.0 * inst->params.road_factor);
  double deg = km_time / KM_PER_DEG_LAT_LB;
  if (deg > ix->max_deg)
    deg = ix->max_deg;
  double lat = j->spec.lat, lon = j->spec.lon;
  double wide = cm__lon_reach_deg(lat, deg * KM_PER_DEG_LAT_LB);
  int n = 0;
  for (int k = band_start(ix, lat - deg);
       k < ix->n && ix->by_lat[k].lat <= lat + deg; k++) {
    double dl = fabs(ix->by_lat[k].lon - lon);
    if ((dl > 180.0 ? 360.0 - dl : dl) > wide)
      continue;
    int q = ix->by_lat[k].q;
    const cm__req *r = reqs[q];
    double km = cm_geo_distance_km(lat, lon, r->spec.lat, r->spec.lon);
    if (km > cm_request_radius_km(&inst->params, &inst->requests[q]))
      continue;
    double t = left + cm_travel_minutes(&inst->params, km);
    if (t > e->cfg.lookahead_min || t + MARGIN_MIN > best[q])
      continue;
    ix->hit[n++] = (ahead_hit){q, t};
  }
  return n;
}

/* Add the busy worker of job j to the instance with her edges from the
 * n looking-ahead requests in reach (in_reach: ix->hit) she may be
 * offered, in index order. Returns CM_OK or CM_E_NOMEM. */
static cm_status add_busy(cm_engine *e, cm_instance *inst, cm__req **reqs,
                          ahead_index *ix, int n, const cm__req *j,
                          cm_error *err) {
  cm_worker w;
  int wi = -1;
  if (cm_store_get(e->store, j->workers[0], &w, NULL) != CM_OK)
    return CM_OK;
  by_index(ix->hit, n);
  w.lat = j->spec.lat; /* where it will be free */
  w.lon = j->spec.lon;
  w.has_position = 1;
  w.capacity = 1;
  w.status = CM_WORKER_AVAILABLE;
  for (int k = 0; k < n; k++) {
    if (!cm__req_may_offer(reqs[ix->hit[k].q], &w))
      continue;
    if (wi < 0 && cm_instance_worker_add(inst, &w, &wi, err) != CM_OK)
      return CM_E_NOMEM;
    cm_edge_in ed = {ix->hit[k].q, wi, ix->hit[k].t};
    if (cm_instance_edge_add(inst, &ed, NULL, err) != CM_OK)
      return CM_E_NOMEM;
  }
  return CM_OK;
}

void cm__soonest_arrivals(const cm_instance *inst, int n, double *best) {
  for (int q = 0; q < n; q++)
    best[q] = HUGE_VAL;
  for (int i = 0; i < inst->n_edges; i++) {
    const cm_edge_in *ed = &inst->edges[i];
    if (ed->request < n && ed->travel_min < best[ed->request])
      best[ed->request] = ed->travel_min;
  }
}

cm_status cm__lookahead_add(cm_engine *e, cm_instance *inst, cm__req **reqs,
                            int n, int64_t now_ms, cm_error *err) {
  int any = 0;
  cm_status st = CM_OK;
  if (e->cfg.lookahead_min <= 0)
    return CM_OK;
  for (int q = 0; q < n && !any; q++)
    any = looks_ahead(e, reqs[q]);
  if (!any)
    return CM_OK;
  ahead_index ix = {NULL, 0, 0.0, NULL};
  double *best = malloc((size_t)n * sizeof *best);
  if (!best || index_build(e, inst, reqs, n, &ix) != CM_OK) {
    free(best);
    index_free(&ix);
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  cm__soonest_arrivals(inst, n, best);
  for (int i = 0; i < e->n_live && st == CM_OK; i++) {
    const cm__req *j = e->live[i];
    if (j->state != CM_REQ_ACCEPTED || j->n_workers != 1 || !j->accepted[0])
      continue;
    double left = minutes_left(e, j, now_ms);
    if (left < 0 || left > e->cfg.lookahead_min)
      continue;
    /* the requests in reach first: with few looking ahead (an emergency's
       batch) most jobs have none, and her record is not looked up */
    int m = in_reach(e, inst, reqs, &ix, best, j, left);
    if (m == 0)
      continue;
    const cm__wrk *rec = cm__wrk_find(e, j->workers[0]);
    if (!rec || !rec->on_shift || rec->capacity != 1 || rec->jobs != 1)
      continue;
    if (add_busy(e, inst, reqs, &ix, m, j, err) != CM_OK)
      st = cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  free(best);
  index_free(&ix);
  return st;
}
