/* store_nearest.c -- nearest-k queries of the memory store.
 *
 * Each query walks the grid ring by ring (cellmap.h) and keeps the k best
 * eligible workers in a max-heap ordered by (distance, id). Distances are
 * cm_geo_distance_km, exactly what a brute-force scan would compute, so
 * answers are deterministic and equal to it. To avoid trigonometry on every
 * item, an item is first tested on the chord between unit vectors: the
 * great-circle distance is at least R * chord, so an item whose chord bound
 * exceeds the current limit (the radius, or the heap's worst once it is
 * full) is skipped without computing its distance. The search stops when
 * the ring bound passes the radius or the heap's worst distance; when the
 * grid is sparse and wide (far-flung workers), a query that would look up
 * more cells than a full scan costs falls back to scanning every cell. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "carematch/solve.h"
#include "carematch/store.h"
#include "store_memory.h"

#define LIMIT_REL 1e-9 /* rounding margins of the chord filter */
#define LIMIT_ABS 1e-9 /* km */

typedef struct near_hit {
  double d; /* cm_geo_distance_km from the query */
  int w;    /* record index */
} near_hit;

typedef struct near_ctx {
  const cm__memstore *m;
  const cm_store_query *q;
  double qx, qy, qz; /* unit vector of the query */
  int check_seen;    /* a stale limit applies */
  int64_t min_seen;  /* fresh iff seen_ms >= min_seen */
  int k, n;          /* heap capacity and size */
  near_hit *heap;    /* max-heap: heap[0] is the worst kept */
  double c2max;      /* squared chord beyond which an item cannot enter */
} near_ctx;

/* 1 when a ranks after b: farther, or as far with a larger id. */
static int worse(const cm__memstore *m, const near_hit *a, const near_hit *b) {
  if (a->d != b->d)
    return a->d > b->d;
  return strcmp(m->workers[a->w].id, m->workers[b->w].id) > 0;
}

static void sift_down(const cm__memstore *m, near_hit *h, int n, int i) {
  for (;;) {
    int l = 2 * i + 1, top = i;
    if (l < n && worse(m, &h[l], &h[top]))
      top = l;
    if (l + 1 < n && worse(m, &h[l + 1], &h[top]))
      top = l + 1;
    if (top == i)
      return;
    near_hit t = h[i];
    h[i] = h[top];
    h[top] = t;
    i = top;
  }
}

static void sift_up(const cm__memstore *m, near_hit *h, int i) {
  while (i > 0 && worse(m, &h[i], &h[(i - 1) / 2])) {
    near_hit t = h[i];
    h[i] = h[(i - 1) / 2];
    h[(i - 1) / 2] = t;
    i = (i - 1) / 2;
  }
}

/* Recompute the chord filter from the current limit. */
static void set_limit(near_ctx *c) {
  double lim = c->n == c->k ? c->heap[0].d : c->q->radius_km;
  double chord = (lim * (1 + LIMIT_REL) + LIMIT_ABS) / CM__EARTH_R_LB_KM;
  c->c2max = chord >= 2.0 ? INFINITY : chord * chord;
}

/* Rank an item that passed the filters: exact distance, radius, heap
 * order, exclusions (checked last: they compare strings). */
static void take(near_ctx *c, const cm__cell_item *it) {
  const cm_store_query *q = c->q;
  double d = cm_geo_distance_km(q->lat, q->lon, it->lat, it->lon);
  if (d > q->radius_km)
    return;
  near_hit h = {d, it->worker};
  if (c->n == c->k && !worse(c->m, &c->heap[0], &h))
    return;
  if (q->n_exclude > 0 && cm_store_excluded(q, c->m->workers[h.w].id))
    return;
  if (c->n < c->k) {
    c->heap[c->n] = h;
    sift_up(c->m, c->heap, c->n++);
  } else {
    c->heap[0] = h;
    sift_down(c->m, c->heap, c->n, 0);
  }
  if (c->n == c->k)
    set_limit(c);
}

/* Offer every item of a cell to the heap (cm__cell_fn); skips the cell when
 * its bound says nothing in it can enter. */
static void visit(void *vctx, const cm__cell_item *items, int n,
                  double bound_km) {
  near_ctx *c = vctx;
  const cm_skillset all = c->q->need_all, any = c->q->need_any;
  if (bound_km > (c->n == c->k ? c->heap[0].d : c->q->radius_km))
    return; /* nothing in this cell can enter */
  for (int i = 0; i < n; i++) {
    const cm__cell_item *it = &items[i];
    if ((it->skills & all) != all || (any && !(it->skills & any)))
      continue;
    if (c->check_seen && it->seen_ms < c->min_seen)
      continue;
    double dx = it->x - c->qx, dy = it->y - c->qy, dz = it->z - c->qz;
    if (dx * dx + dy * dy + dz * dz > c->c2max)
      continue;
    take(c, it);
  }
}

/* 1 when no unvisited item can enter (cm__cell_done_fn): the bound passes
 * the radius, or the heap is full and the bound passes its worst (strictly,
 * so a tie with a smaller id is still looked for). */
static int done(void *vctx, double bound_km) {
  const near_ctx *c = vctx;
  return bound_km > c->q->radius_km ||
         (c->n == c->k && bound_km > c->heap[0].d);
}

/* Answer one query into c->heap, best first; returns the count. */
static int answer(near_ctx *c) {
  const cm__cellmap *g = &c->m->grid;
  cm__cell_item probe;
  cm__cell_item_set(&probe, c->q->lat, c->q->lon, 0, 0, -1);
  c->qx = probe.x;
  c->qy = probe.y;
  c->qz = probe.z;
  c->n = 0;
  set_limit(c);
  /* a full scan costs about one look-up per cell plus the items */
  long budget = (long)g->count + g->items / 4 + 64;
  if (cm__cellmap_visit(g, c->q->lat, c->q->lon, budget, visit, done, c)) {
    c->n = 0;
    set_limit(c);
    cm__cellmap_scan(g, visit, c);
  }
  for (int e = c->n - 1; e > 0; e--) { /* heap sort: best first */
    near_hit t = c->heap[0];
    c->heap[0] = c->heap[e];
    c->heap[e] = t;
    sift_down(c->m, c->heap, e, 0);
  }
  return c->n;
}

cm_status cm__memstore_nearest(cm_store *s, const cm_store_query *queries,
                               int nq, int k_max, int64_t now_ms,
                               int64_t stale_ms, cm_store_hit *hits,
                               int *counts, cm_error *err) {
  const cm__memstore *m = (const cm__memstore *)s;
  cm_error_clear(err);
  cm_status st = cm_store_check_nearest(queries, nq, k_max, now_ms, stale_ms,
                                        hits, counts, err);
  if (st != CM_OK)
    return st;
  long room = k_max < m->grid.items ? k_max : m->grid.items;
  near_ctx c = {
      .m = m, .check_seen = stale_ms > 0, .min_seen = now_ms - stale_ms};
  c.heap = cm__malloc_array(room > 0 ? (size_t)room : 1, sizeof *c.heap);
  if (!c.heap)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  for (int i = 0; i < nq; i++) {
    c.q = &queries[i];
    c.k = (int)(queries[i].k < room ? queries[i].k : room);
    counts[i] = c.k > 0 ? answer(&c) : 0;
    for (int j = 0; j < counts[i]; j++) {
      cm_store_hit *h = &hits[(size_t)i * (size_t)k_max + (size_t)j];
      memcpy(h->id, m->workers[c.heap[j].w].id, CM_ID_MAX);
      h->distance_km = c.heap[j].d;
    }
  }
  free(c.heap);
  return CM_OK;
}
