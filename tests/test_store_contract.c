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
static const cm_contract memory_small = {
    .make = make_memory, .ctx = &cell_small, .insertion_order = 1,
    .ops = 4000, .seed = 2};
static const cm_contract memory_large = {
    .make = make_memory, .ctx = &cell_large, .insertion_order = 1,
    .ops = 4000, .seed = 3};

#define CONTRACT_TEST_(suite, conf, name)                                      \
  Test(suite, name, .timeout = 300) { cm_contract_##name(&conf); }

CONTRACT_TEST_(store_contract, memory, roundtrip)
CONTRACT_TEST_(store_contract, memory, replace)
CONTRACT_TEST_(store_contract, memory, position)
CONTRACT_TEST_(store_contract, memory, status)
CONTRACT_TEST_(store_contract, memory, remove)
CONTRACT_TEST_(store_contract, memory, rules)
CONTRACT_TEST_(store_contract, memory, same_point)
CONTRACT_TEST_(store_contract, memory, nearest_brute)
CONTRACT_TEST_(store_contract, memory, geometry)
CONTRACT_TEST_(store_contract, memory, stale_sweep)
CONTRACT_TEST_(store_contract, memory, bad_input)
CONTRACT_TEST_(store_contract, memory, batch)
CONTRACT_TEST_(store_contract, memory, each)
CONTRACT_TEST_(store_contract, memory, random_ops)

/* The grid must not change answers: tiny and huge cells. */
CONTRACT_TEST_(store_memory_cell_small, memory_small, nearest_brute)
CONTRACT_TEST_(store_memory_cell_small, memory_small, geometry)
CONTRACT_TEST_(store_memory_cell_small, memory_small, random_ops)
CONTRACT_TEST_(store_memory_cell_large, memory_large, nearest_brute)
CONTRACT_TEST_(store_memory_cell_large, memory_large, geometry)
CONTRACT_TEST_(store_memory_cell_large, memory_large, random_ops)

/* A second seed of the strongest case. */
Test(store_memory, random_ops_other_seed, .timeout = 300) {
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
  cr_assert_eq(cm_store_upsert(s, &(cm_worker){.id = "d", .skills = 1,
                                               .capacity = 1, .rating = 5,
                                               .level = 3},
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
  cr_assert_eq(cm_store_count(NULL), 0);
  cr_assert_eq(cm_store_upsert(NULL, NULL, &err), CM_E_INVALID);
  cr_assert_eq(cm_store_position(NULL, "a", 0, 0, 0, &err), CM_E_INVALID);
  cr_assert_eq(cm_store_status(NULL, "a", CM_WORKER_BUSY, &err),
               CM_E_INVALID);
  cr_assert_eq(cm_store_get(NULL, "a", NULL, &err), CM_E_INVALID);
  cr_assert_eq(cm_store_remove(NULL, "a", NULL), CM_E_INVALID);
  cr_assert_eq(cm_store_nearest(NULL, &q, 1, 1, 0, 0, h, &n, &err),
               CM_E_INVALID);
  cr_assert_eq(cm_store_sweep(NULL, 0, 0, &err), -1);
  cr_assert_eq(cm_store_each(NULL, each_id, NULL, NULL), CM_E_INVALID);
  cm_store *s = cm_store_memory_new(1);
  cr_assert_str_eq(s->type->name, "memory");
  cm_store_free(s);
}
