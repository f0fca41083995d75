/* city_edges.c -- a positions-mode instance written out in edge mode.
 *
 * Workers are sorted by latitude once; each request sweeps them outwards
 * from its own latitude until the latitude difference alone puts them out
 * of its radius or behind the K nearest found. A planar distance with a 2%
 * margin skips the workers that are surely too far (or surely beaten); the
 * great-circle distance (cm_geo_distance_km) decides the rest. The margin
 * holds for city-sized radii; beyond 100 km or near the poles every worker
 * the sweep reaches is measured exactly. */
#include "city_edges.h"

#include <math.h>
#include <stdlib.h>

#include "carematch/solve.h"

#define EDGES_KM_PER_DEG 111.19508  /* great circle, as cm_geo_distance_km */
#define EDGES_LB_KM_PER_DEG 111.195 /* a little less: a sure lower bound */
#define EDGES_SLACK 0.02            /* planar vs great-circle, in a city */
#define EDGES_PI 3.14159265358979323846

typedef struct edges_wrk {
  double lat, lon;    /* position, degrees */
  cm_skillset skills; /* for a quick necessary test before eligibility */
  int w;              /* worker index */
} edges_wrk;

typedef struct edges_cand {
  double dist; /* great-circle km */
  int w;       /* worker index */
} edges_cand;

static int edges_wrk_by_lat(const void *a, const void *b) {
  const edges_wrk *x = a, *y = b;
  if (x->lat != y->lat)
    return x->lat < y->lat ? -1 : 1;
  return (x->w > y->w) - (x->w < y->w);
}

/* 1 when a ranks after b: farther, or as far with a higher index. */
static int edges_worse(const edges_cand *a, const edges_cand *b) {
  return a->dist > b->dist || (a->dist == b->dist && a->w > b->w);
}

static int edges_by_rank(const void *a, const void *b) {
  return edges_worse(a, b) ? 1 : edges_worse(b, a) ? -1 : 0;
}

/* Offer c to the max-heap h of n <= k entries (the K nearest so far). */
static void edges_heap_offer(edges_cand *h, int *n, int k, edges_cand c) {
  int i;
  if (*n == k) {
    if (!edges_worse(&h[0], &c))
      return;
    h[0] = c; /* replace the worst, sift down */
    for (i = 0;;) {
      int l = 2 * i + 1, m = i;
      if (l < k && edges_worse(&h[l], &h[m]))
        m = l;
      if (l + 1 < k && edges_worse(&h[l + 1], &h[m]))
        m = l + 1;
      if (m == i)
        return;
      c = h[i];
      h[i] = h[m];
      h[m] = c;
      i = m;
    }
  }
  for (i = (*n)++; i > 0 && edges_worse(&c, &h[(i - 1) / 2]); i = (i - 1) / 2)
    h[i] = h[(i - 1) / 2]; /* sift up */
  h[i] = c;
}

/* First index of ws[0..n) whose latitude is >= lat. */
static int edges_lower(const edges_wrk *ws, int n, double lat) {
  int lo = 0, hi = n;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    if (ws[mid].lat < lat)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* The K nearest eligible workers of request r into h; returns their count,
 * sorted nearest first. Workers are visited outwards from the request's
 * latitude; the latitude difference bounds the distance from below, which
 * ends the sweep. */
static int edges_nearest(const cm_instance *inst, int r, const edges_wrk *ws,
                         int nw, edges_cand *h) {
  const cm_request *rq = &inst->requests[r];
  double radius = cm_request_radius_km(&inst->params, rq);
  double coslat = cos(rq->lat * EDGES_PI / 180.0);
  int approx_ok = radius <= 100.0 && fabs(rq->lat) <= 80.0;
  int k = inst->params.k * rq->staff, n = 0;
  int up = edges_lower(ws, nw, rq->lat), down = up - 1;
  while (k > 0 && (up < nw || down >= 0)) {
    double du = up < nw ? ws[up].lat - rq->lat : INFINITY;
    double dd = down >= 0 ? rq->lat - ws[down].lat : INFINITY;
    const edges_wrk *wk = du <= dd ? &ws[up++] : &ws[down--];
    double bound = fmin(du, dd) * EDGES_LB_KM_PER_DEG; /* <= distance */
    if (bound > radius || (n == k && bound > h[0].dist))
      break;
    if (!(wk->skills & rq->skills)) /* needed by every skill mode */
      continue;
    if (approx_ok) {
      double dlon = wk->lon - rq->lon;
      dlon += dlon > 180.0 ? -360.0 : dlon < -180.0 ? 360.0 : 0.0;
      double dy = wk->lat - rq->lat, dx = dlon * coslat;
      double approx = EDGES_KM_PER_DEG * sqrt(dx * dx + dy * dy);
      if (approx > radius * (1 + EDGES_SLACK) ||
          (n == k && approx * (1 - EDGES_SLACK) > h[0].dist))
        continue;
    }
    if (!cm_worker_eligible(inst, r, wk->w))
      continue;
    edges_cand c = {cm_geo_distance_km(rq->lat, rq->lon, wk->lat, wk->lon),
                    wk->w};
    if (c.dist <= radius)
      edges_heap_offer(h, &n, k, c);
  }
  qsort(h, (size_t)n, sizeof *h, edges_by_rank);
  return n;
}

/* The workers with their positions, sorted by latitude; NULL when out of
 * memory or when a worker has no position (err says which). */
static edges_wrk *edges_sorted_workers(const cm_instance *inst, cm_error *err) {
  int nw = inst->n_workers;
  edges_wrk *ws = malloc(sizeof *ws * (size_t)(nw > 0 ? nw : 1));
  if (!ws) {
    cm_error_set(err, CM_E_NOMEM, "$.workers", NULL);
    return NULL;
  }
  for (int i = 0; i < nw; i++) {
    const cm_worker *w = &inst->workers[i];
    if (!w->has_position) {
      cm_error_set(err, CM_E_MISSING, "$.workers[].lat",
                   "worker %d has no position", i);
      free(ws);
      return NULL;
    }
    ws[i] = (edges_wrk){w->lat, w->lon, w->skills, i};
  }
  qsort(ws, (size_t)nw, sizeof *ws, edges_wrk_by_lat);
  return ws;
}

int cm_city_to_edges(cm_instance *inst, cm_error *err) {
  edges_wrk *ws;
  edges_cand *h;
  int rc = -1;
  if (inst->has_edges) {
    cm_error_set(err, CM_E_CONFLICT, "$.edges", "already in edge mode");
    return -1;
  }
  for (int r = 0; r < inst->n_requests; r++)
    if (!inst->requests[r].has_position) {
      cm_error_set(err, CM_E_MISSING, "$.requests[].lat",
                   "request %d has no position", r);
      return -1;
    }
  if (!(ws = edges_sorted_workers(inst, err)))
    return -1;
  h = malloc(sizeof *h * (size_t)(inst->params.k * CM_MAX_STAFF));
  if (!h) {
    cm_error_set(err, CM_E_NOMEM, "$.edges", NULL);
    goto done;
  }
  inst->has_edges = 1; /* even with no edge at all */
  for (int r = 0; r < inst->n_requests; r++) {
    int n = edges_nearest(inst, r, ws, inst->n_workers, h);
    for (int i = 0; i < n; i++) {
      cm_edge_in e = {r, h[i].w, cm_travel_minutes(&inst->params, h[i].dist)};
      if (cm_instance_edge_add(inst, &e, NULL, err) != CM_OK)
        goto done;
    }
  }
  rc = 0;
done:
  free(h);
  free(ws);
  return rc;
}
