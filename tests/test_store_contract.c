/* test_store_contract.c -- the position store contract suite
 * (tests/support/store_contract.h) on the memory store, at the default
 * cell size and at very small and very large cells, plus what only the
 * memory store promises: insertion order, the NULL-store wrappers and the
 * cell-size argument. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "carematch/store.h"
#include "store_contract.h"

static cm_store *make_memory(void *ctx) {
  return cm_store_memory_new(ctx ? *(const double *)ctx : 0.0);
}

static double cell_small = 0.05, cell_large = 40.0, cell_nan = NAN;

static const cm_contract memory = {
    .make = make_memory, .ctx = NULL, .insertion_order = 1};
static const cm_contract memory_small = {.make = make_memory,
                                         .ctx = &cell_small,
                                         .insertion_order = 1,
                                         .ops = 4000,
                                         .seed = 2};
static const cm_contract memory_large = {.make = make_memory,
                                         .ctx = &cell_large,
                                         .insertion_order = 1,
                                         .ops = 4000,
                                         .seed = 3};

#define CONTRACT_TEST_(suite, conf, name)                                      \
  Test(suite, name) {                                                          \
    cm_contract_##name(&conf);                                                 \
  }

CONTRACT_TEST_(store_contract, memory, roundtrip)
CONTRACT_TEST_(store_contract, memory, replace)
CONTRACT_TEST_(store_contract, memory, position)
CONTRACT_TEST_(store_contract, memory, status)
CONTRACT_TEST_(store_contract, memory, remove)
CONTRACT_TEST_(store_contract, memory, rules)
CONTRACT_TEST_(store_contract, memory, same_point)
CONTRACT_TEST_(store_contract, memory, nearest_brute)
CONTRACT_TEST_(store_contract, memory, lattice)
CONTRACT_TEST_(store_contract, memory, geometry)
CONTRACT_TEST_(store_contract, memory, stale_sweep)
CONTRACT_TEST_(store_contract, memory, bad_input)
CONTRACT_TEST_(store_contract, memory, batch)
CONTRACT_TEST_(store_contract, memory, each)
CONTRACT_TEST_(store_contract, memory, random_ops)

/* The grid must not change answers: tiny and huge cells. */
CONTRACT_TEST_(store_memory_cell_small, memory_small, nearest_brute)
CONTRACT_TEST_(store_memory_cell_small, memory_small, lattice)
CONTRACT_TEST_(store_memory_cell_small, memory_small, geometry)
CONTRACT_TEST_(store_memory_cell_small, memory_small, random_ops)
CONTRACT_TEST_(store_memory_cell_large, memory_large, nearest_brute)
CONTRACT_TEST_(store_memory_cell_large, memory_large, geometry)
CONTRACT_TEST_(store_memory_cell_large, memory_large, random_ops)

/* A second seed of the strongest case. */
Test(store_memory, random_ops_other_seed) {
  cm_contract c = memory;
  c.seed = 99;
  cm_contract_random_ops(&c);
}

/* A NaN cell size falls back to the default and still answers right. */
Test(store_memory, cell_nan) {
  cm_contract c = memory;
  c.ctx = &cell_nan;
  cm_contract_same_point(&c);
  cm_contract_rules(&c);
}

static void each_id(void *ctx, const cm_worker *w) {
  char *buf = ctx;
  strcat(buf, w->id);
  strcat(buf, " ");
}

/* Memory store: each() in insertion order; a replacement keeps its place,
 * a removed and re-inserted worker goes last. */
Test(store_memory, insertion_order) {
  cm_store *s = cm_store_memory_new(0);
  cm_error err;
  char buf[256] = "";
  const char *ids[] = {"d", "b", "e", "a", "c"};
  for (int i = 0; i < 5; i++) {
    cm_worker w;
    cm_worker_init(&w);
    strcpy(w.id, ids[i]);
    w.skills = 1;
    w.has_position = 1;
    w.lat = 31.2 + 0.01 * i;
    w.lon = 121.4;
    cr_assert_eq(cm_store_upsert(s, &w, &err), CM_OK);
  }
  cm_worker w;
  cr_assert_eq(cm_store_get(s, "b", &w, &err), CM_OK);
  w.jobs_today = 3;
  cr_assert_eq(cm_store_upsert(s, &w, &err), CM_OK);
  cr_assert_eq(cm_store_remove(s, "d", &err), CM_OK);
  cr_assert_eq(
      cm_store_upsert(
          s,
          &(cm_worker){
              .id = "d", .skills = 1, .capacity = 1, .rating = 5, .level = 3},
          &err),
      CM_OK);
  cr_assert_eq(cm_store_each(s, each_id, buf, &err), CM_OK);
  cr_assert_str_eq(buf, "b e a c d ");
  cm_store_free(s);
}

/* The wrappers answer a NULL store instead of crashing. */
Test(store_memory, null_store) {
  cm_error err;
  cm_store_query q = {.lat = 0, .lon = 0, .radius_km = 1, .k = 1};
  cm_store_hit h[1];
  int n;
  cm_store_free(NULL);
  cr_assert_eq(cm_store_count(NULL, &n, &err), CM_E_INVALID);
  cr_assert_eq(n, 0, "no count from a NULL store");
  cr_assert_eq(cm_store_upsert(NULL, NULL, &err), CM_E_INVALID);
  cr_assert_eq(cm_store_position(NULL, "a", 0, 0, 0, &err), CM_E_INVALID);
  cr_assert_eq(cm_store_status(NULL, "a", CM_WORKER_BUSY, &err), CM_E_INVALID);
  cr_assert_eq(cm_store_get(NULL, "a", NULL, &err), CM_E_INVALID);
  cr_assert_eq(cm_store_remove(NULL, "a", NULL), CM_E_INVALID);
  cr_assert_eq(cm_store_nearest(NULL, &q, 1, 1, 0, 0, h, &n, &err),
               CM_E_INVALID);
  n = 5;
  cr_assert_eq(cm_store_sweep(NULL, 0, 0, &n, &err), CM_E_INVALID);
  cr_assert_eq(n, 0, "nobody swept in a NULL store");
  cr_assert_eq(cm_store_each(NULL, each_id, NULL, NULL), CM_E_INVALID);
  cm_store *s = cm_store_memory_new(1);
  cr_assert_str_eq(s->type->name, "memory");
  cm_store_free(s);
}

/* ---- the memory store's grid (core/store/cellmap.h), white box ---- */

#include "carematch/solve.h"
#include "check.h"
#include "store/cellmap.h"

typedef struct bound_probe {
  const cm__cell_item *all; /* every item */
  int n;
  char *seen;        /* seen[worker]: visited */
  double lat, lon;   /* query */
  int rings;         /* done() calls */
  double last_bound; /* bounds never decrease */
} bound_probe;

static void probe_cell(void *ctx, const cm__cell_item *items, int n,
                       double bound_km) {
  bound_probe *p = ctx;
  for (int i = 0; i < n; i++) {
    double d = cm_geo_distance_km(p->lat, p->lon, items[i].lat, items[i].lon);
    cr_assert(d >= bound_km,
              "item at (%.6f, %.6f) is %.9f km from (%.6f, %.6f) but its "
              "cell bound says >= %.9f",
              items[i].lat, items[i].lon, d, p->lat, p->lon, bound_km);
    cr_assert(!p->seen[items[i].worker], "an item was visited twice");
    p->seen[items[i].worker] = 1;
  }
}

/* The claim of cellmap.h: after each ring, every item not yet visited is at
 * least bound_km away. */
static int probe_done(void *ctx, double bound_km) {
  bound_probe *p = ctx;
  p->rings++;
  cr_assert(bound_km >= p->last_bound - 1e-9, "bounds must not decrease");
  p->last_bound = bound_km;
  for (int i = 0; i < p->n; i++) {
    if (p->seen[i])
      continue;
    double d = cm_geo_distance_km(p->lat, p->lon, p->all[i].lat, p->all[i].lon);
    cr_assert(d >= bound_km,
              "item %d at (%.6f, %.6f) is %.9f km from (%.6f, %.6f) but the "
              "ring bound says >= %.9f",
              i, p->all[i].lat, p->all[i].lon, d, p->lat, p->lon, bound_km);
  }
  return 0;
}

/* Random items near the poles, across the antimeridian, in a city and
 * anywhere; the origin (first item) varies. Every ring bound and every cell
 * bound must hold, and a search that is never told to stop visits every
 * item exactly once. */
Test(store_memory_grid, ring_bounds_are_lower_bounds) {
  cm_check_rng g;
  cm_check_rng_seed(&g, 77);
  for (int round = 0; round < 40; round++) {
    int mode = round % 5; /* 0..2: the globe, 3..4: a city */
    double cell =
        mode < 3 ? (round % 2 ? 150.0 : 900.0) : (round % 2 ? 0.3 : 1.0);
    cm__cellmap grid;
    cm__cellmap_init(&grid, cell);
    enum { N = 120 };
    cm__cell_item all[N];
    for (int i = 0; i < N; i++) {
      double lat, lon;
      if (mode == 0 || (i % 7 == 0 && mode < 3)) { /* anywhere */
        lat = cm_check_rng_real(&g, -90, 90);
        lon = cm_check_rng_real(&g, -180, 180);
      } else if (mode == 1) { /* near a pole */
        lat = cm_check_rng_real(&g, 85, 90) * (round % 2 ? 1 : -1);
        lon = cm_check_rng_real(&g, -180, 180);
      } else if (mode == 2) { /* across the antimeridian */
        lat = cm_check_rng_real(&g, -20, 20);
        lon = cm_check_rng_real(&g, 179, 180);
        lon = cm_check_rng_chance(&g, 0.5) ? lon : -lon;
      } else { /* a city */
        lat = 31.23 + cm_check_rng_real(&g, -0.2, 0.2);
        lon = 121.47 + cm_check_rng_real(&g, -0.2, 0.2);
      }
      int cx, cy;
      cm__cell_item_set(&all[i], lat, lon, 0, 1, i);
      cr_assert_eq(cm__cellmap_reserve(&grid, lat, lon, &cx, &cy), 0);
      cm__cellmap_add(&grid, cx, cy, &all[i]);
    }
    for (int t = 0; t < 25; t++) {
      char seen[N] = {0};
      bound_probe p = {all, N, seen, 0, 0, 0, 0};
      if (cm_check_rng_chance(&g, 0.5)) { /* near an item */
        const cm__cell_item *it = &all[cm_check_rng_int(&g, 0, N - 1)];
        p.lat = fmax(-90, fmin(90, it->lat + cm_check_rng_real(&g, -1, 1)));
        p.lon = fmax(-180, fmin(180, it->lon + cm_check_rng_real(&g, -1, 1)));
      } else {
        p.lat = cm_check_rng_real(&g, -90, 90);
        p.lon = cm_check_rng_real(&g, -180, 180);
      }
      int out = cm__cellmap_visit(&grid, p.lat, p.lon, 1L << 26, probe_cell,
                                  probe_done, &p);
      cr_assert_eq(out, 0, "an unlimited budget never runs out");
      for (int i = 0; i < N; i++)
        cr_assert(seen[i], "round %d: item %d never visited", round, i);
    }
    cm__cellmap_free(&grid);
  }
}

/* Find the longitude where cells switch from column 0 to column 1 on the
 * parallel lat, for a grid whose origin is (LAT0, LON0). */
static double edge_lon(double cell_km, double lat) {
  cm__cellmap grid;
  int cx, cy;
  double lo = 121.47, hi = 121.47 + 2.0 * cell_km / 90.0;
  cm__cellmap_init(&grid, cell_km);
  cr_assert_eq(cm__cellmap_reserve(&grid, 31.23, 121.47, &cx, &cy), 0);
  for (int i = 0; i < 100; i++) {
    double mid = (lo + hi) / 2;
    cr_assert_eq(cm__cellmap_reserve(&grid, lat, mid, &cx, &cy), 0);
    if (cx >= 1)
      hi = mid;
    else
      lo = mid;
  }
  cm__cellmap_free(&grid);
  return hi;
}

/* A search must not stop while the next ring may still hold something
 * nearer than the k-th kept: the query sits 0.2 km west of a cell edge, one
 * worker (A) is 0.2 km * (1 + 2e-5) west inside the cell, another (B)
 * 0.2 km * (1 + 1e-5) east, across the edge. The answer for k = 1 is B. */
Test(store_memory_grid, search_crosses_the_cell_edge) {
  const double km_per_deg = 6371.0088 * 3.14159265358979323846 / 180.0;
  const double lat = 31.23 + 0.5 / km_per_deg; /* mid-cell, north-south */
  const double per_km = 1.0 / (km_per_deg * cos(lat * 3.14159265358979 / 180));
  double e = edge_lon(1.0, lat);
  double q_lon = e - 0.2 * per_km;
  cm_store *s = cm_store_memory_new(1.0);
  cm_error err;
  cm_worker o, a, b;
  cm_worker_init(&o);
  strcpy(o.id, "origin");
  o.skills = 2; /* not asked for below: only fixes the projection */
  o.has_position = 1;
  o.lat = 31.23;
  o.lon = 121.47;
  a = b = o;
  a.skills = b.skills = 1;
  strcpy(a.id, "a-inside");
  strcpy(b.id, "b-beyond");
  a.lat = b.lat = lat;
  a.lon = q_lon - 0.2 * (1 + 2e-5) * per_km;
  b.lon = q_lon + 0.2 * (1 + 1e-5) * per_km;
  cr_assert(b.lon > e, "B must lie across the edge");
  double da = cm_geo_distance_km(lat, q_lon, a.lat, a.lon);
  double db = cm_geo_distance_km(lat, q_lon, b.lat, b.lon);
  cr_assert(db < da, "the set-up needs B nearer (%.12f vs %.12f)", db, da);
  cr_assert_eq(cm_store_upsert(s, &o, &err), CM_OK);
  cr_assert_eq(cm_store_upsert(s, &a, &err), CM_OK);
  cr_assert_eq(cm_store_upsert(s, &b, &err), CM_OK);
  cm_store_query q = {
      .lat = lat, .lon = q_lon, .radius_km = 5, .k = 1, .need_all = 1};
  cm_store_hit h[1];
  int n = 0;
  cr_assert_eq(cm_store_nearest(s, &q, 1, 1, 0, 0, h, &n, &err), CM_OK);
  cr_assert_eq(n, 1);
  cr_assert_str_eq(h[0].id, "b-beyond",
                   "the search stopped before the ring holding the nearest");
  cm_store_free(s);
}
