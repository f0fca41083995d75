/* test_cellmap.c -- the cell map (core/store/cellmap.h) on its own: points
 * that move, appear and vanish; after each round, the k nearest found by a
 * ring search with the map's lower bounds equal a brute force over every
 * point (great-circle distance, ties by index), at several cell sizes and
 * around the antimeridian and a pole. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "carematch/solve.h"
#include "check.h"
#include "store/cellmap.h"

#define N_PTS 400
#define K 7

typedef struct pt {
  int live;
  double lat, lon;
  int cx, cy, slot; /* where it is in the map */
} pt;

typedef struct world {
  cm__cellmap g;
  pt p[N_PTS];
} world;

static void add(world *w, int i, double lat, double lon) {
  pt *p = &w->p[i];
  cr_assert_eq(cm__cellmap_reserve(&w->g, lat, lon, &p->cx, &p->cy), 0);
  cm__cell_item it;
  cm__cell_item_set(&it, lat, lon, 0, 1u, i);
  p->slot = cm__cellmap_add(&w->g, p->cx, p->cy, &it);
  p->lat = lat;
  p->lon = lon;
  p->live = 1;
}

static void del(world *w, int i) {
  pt *p = &w->p[i];
  int moved = cm__cellmap_remove(&w->g, p->cx, p->cy, p->slot);
  if (moved >= 0) /* the cell's last item took the slot */
    w->p[moved].slot = p->slot;
  p->live = 0;
}

/* A k-nearest search: the best K so far, stopping once the K-th is within
 * the bound of everything not yet visited. */
typedef struct knn {
  double lat, lon;
  int n;
  int idx[K];
  double d[K];
} knn;

static int better(double d, int i, double e, int j) {
  return d < e || (d == e && i < j);
}

static void offer(knn *s, int i, double d) {
  if (s->n == K && !better(d, i, s->d[K - 1], s->idx[K - 1]))
    return;
  int at = s->n < K ? s->n++ : K - 1;
  while (at > 0 && better(d, i, s->d[at - 1], s->idx[at - 1])) {
    s->d[at] = s->d[at - 1];
    s->idx[at] = s->idx[at - 1];
    at--;
  }
  s->d[at] = d;
  s->idx[at] = i;
}

static void on_cell(void *ctx, const cm__cell_item *items, int n,
                    double bound_km) {
  knn *s = ctx;
  if (s->n == K && bound_km > s->d[K - 1])
    return; /* nothing in it can enter */
  for (int k = 0; k < n; k++)
    offer(s, items[k].worker,
          cm_geo_distance_km(s->lat, s->lon, items[k].lat, items[k].lon));
}

static int on_ring(void *ctx, double bound_km) {
  const knn *s = ctx;
  return s->n == K && s->d[K - 1] < bound_km;
}

static void check_query(world *w, double lat, double lon, int round) {
  knn got = {.lat = lat, .lon = lon};
  if (cm__cellmap_visit(&w->g, lat, lon, 1L << 30, on_cell, on_ring, &got))
    cr_assert_fail("the budget is unbounded");
  knn want = {.lat = lat, .lon = lon};
  for (int i = 0; i < N_PTS; i++)
    if (w->p[i].live)
      offer(&want, i, cm_geo_distance_km(lat, lon, w->p[i].lat, w->p[i].lon));
  cr_assert_eq(got.n, want.n, "round %d: %d found, %d exist", round, got.n,
               want.n);
  for (int k = 0; k < want.n; k++)
    cr_assert_eq(got.idx[k], want.idx[k],
                 "round %d query (%.4f, %.4f): #%d is %d at %.6f km, brute "
                 "force says %d at %.6f km",
                 round, lat, lon, k, got.idx[k], got.d[k], want.idx[k],
                 want.d[k]);
}

/* Points in a box of span_deg around (lat0, lon0), longitudes wrapped. */
static void draw(cm_check_rng *g, double lat0, double lon0, double span_deg,
                 double *lat, double *lon) {
  *lat = lat0 + cm_check_rng_real(g, -span_deg, span_deg);
  if (*lat > 89.9)
    *lat = 89.9;
  if (*lat < -89.9)
    *lat = -89.9;
  *lon = lon0 + cm_check_rng_real(g, -span_deg, span_deg);
  if (*lon > 180)
    *lon -= 360;
  if (*lon <= -180)
    *lon += 360;
}

static void moving_points(double cell_km, double lat0, double lon0,
                          double span_deg, uint64_t seed) {
  static world w;
  memset(&w, 0, sizeof w);
  cm__cellmap_init(&w.g, cell_km);
  cm_check_rng g;
  cm_check_rng_seed(&g, seed);
  double lat, lon;
  for (int i = 0; i < N_PTS; i++) {
    draw(&g, lat0, lon0, span_deg, &lat, &lon);
    add(&w, i, lat, lon);
  }
  for (int round = 0; round < 60; round++) {
    for (int m = 0; m < N_PTS / 4; m++) { /* moves, vanishings, arrivals */
      int i = cm_check_rng_int(&g, 0, N_PTS - 1);
      if (w.p[i].live)
        del(&w, i);
      if (cm_check_rng_chance(&g, 0.9)) {
        double step = cm_check_rng_chance(&g, 0.7) ? span_deg / 50 : span_deg;
        draw(&g, w.p[i].lat, w.p[i].lon, step, &lat, &lon);
        add(&w, i, lat, lon);
      }
    }
    cm__cellmap_tidy(&w.g);
    cr_assert_leq(w.g.items, N_PTS);
    for (int q = 0; q < 10; q++) {
      draw(&g, lat0, lon0, span_deg * 1.5, &lat, &lon);
      check_query(&w, lat, lon, round);
    }
  }
  for (int i = 0; i < N_PTS; i++)
    if (w.p[i].live)
      del(&w, i);
  cm__cellmap_tidy(&w.g);
  cr_assert_eq(w.g.items, 0);
  cr_assert_eq(w.g.has_origin, 0, "an empty map forgets its origin");
  cm__cellmap_free(&w.g);
}

Test(cellmap, nearest_in_a_city) {
  moving_points(1.0, 31.23, 121.47, 0.1, 1);
}

Test(cellmap, nearest_with_tiny_cells) {
  moving_points(0.05, 31.23, 121.47, 0.05, 2);
}

Test(cellmap, nearest_with_huge_cells) {
  moving_points(500.0, 31.23, 121.47, 2.0, 3);
}

Test(cellmap, nearest_across_the_antimeridian) {
  moving_points(2.0, -16.0, 179.9, 0.5, 4);
}

Test(cellmap, nearest_near_a_pole) {
  moving_points(5.0, 88.5, 0.0, 1.5, 5);
}
