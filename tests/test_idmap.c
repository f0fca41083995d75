/* test_idmap.c -- the id map (core/base/idmap.h): insert, find, dedupe,
 * re-key, delete and growth, against a reference array under thousands of
 * seeded random operations, with ids chosen to collide. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "idmap.h"

#define N_IDS 600 /* distinct ids the random run draws from */

static char ids[N_IDS][CM_ID_MAX];

static void make_ids(void) {
  for (int i = 0; i < N_IDS; i++)
    snprintf(ids[i], sizeof ids[i], "w%d", i);
}

Test(idmap, put_get_dedupe) {
  cm__idmap m;
  cr_assert_eq(cm__idmap_init(&m, 0), 0);
  cr_assert_eq(cm__idmap_get(&m, "a"), -1);
  cr_assert_eq(cm__idmap_put(&m, "a", 7, NULL), 1);
  int old = -1;
  cr_assert_eq(cm__idmap_put(&m, "a", 9, &old), 0, "a duplicate");
  cr_assert_eq(old, 7, "the existing value is reported");
  cr_assert_eq(cm__idmap_get(&m, "a"), 7, "and kept");
  char copy[] = "a";
  cr_assert_eq(cm__idmap_set(&m, copy, 3), 1);
  cr_assert_eq(cm__idmap_get(&m, "a"), 3);
  cr_assert_eq(cm__idmap_set(&m, "b", 1), 0, "set needs the key");
  cr_assert_eq(cm__idmap_del(&m, "b"), 0);
  cr_assert_eq(cm__idmap_del(&m, "a"), 1);
  cr_assert_eq(cm__idmap_get(&m, "a"), -1);
  cr_assert_eq(m.count, 0);
  cm__idmap_free(&m);
  cm__idmap_free(&m); /* twice is fine */
}

Test(idmap, grows_and_keeps_everything) {
  make_ids();
  cm__idmap m;
  cr_assert_eq(cm__idmap_init(&m, 1), 0);
  size_t cap0 = m.cap;
  for (int i = 0; i < N_IDS; i++) {
    cr_assert_eq(cm__idmap_put(&m, ids[i], i, NULL), 1);
    cr_assert_lt(m.count * 2, m.cap + 1, "load stays at most one half");
  }
  cr_assert_gt(m.cap, cap0, "it grew");
  cr_assert_eq(m.count, N_IDS);
  for (int i = 0; i < N_IDS; i++)
    cr_assert_eq(cm__idmap_get(&m, ids[i]), i, "%s", ids[i]);
  cm__idmap_free(&m);
}

/* Random puts, deletes and re-keys against an array: after each, every id
 * answers as the array says (backward-shift deletion keeps the chains). */
Test(idmap, random_against_reference) {
  make_ids();
  int ref[N_IDS];
  for (int i = 0; i < N_IDS; i++)
    ref[i] = -1;
  cm__idmap m;
  cr_assert_eq(cm__idmap_init(&m, 8), 0);
  cm_check_rng g;
  cm_check_rng_seed(&g, 18);
  size_t count = 0;
  for (int op = 0; op < 20000; op++) {
    int i = cm_check_rng_int(&g, 0, N_IDS - 1);
    int kind = cm_check_rng_int(&g, 0, 9);
    if (kind < 5) {
      int old = -2, put = cm__idmap_put(&m, ids[i], op, &old);
      cr_assert_eq(put, ref[i] < 0 ? 1 : 0, "op %d put %s", op, ids[i]);
      if (ref[i] < 0) {
        ref[i] = op;
        count++;
      } else {
        cr_assert_eq(old, ref[i]);
      }
    } else if (kind < 8) {
      cr_assert_eq(cm__idmap_del(&m, ids[i]), ref[i] >= 0, "op %d del", op);
      count -= ref[i] >= 0;
      ref[i] = -1;
    } else {
      cr_assert_eq(cm__idmap_set(&m, ids[i], op), ref[i] >= 0, "op %d set", op);
      if (ref[i] >= 0)
        ref[i] = op;
    }
    cr_assert_eq(m.count, count, "op %d count", op);
    if (op % 97 == 0)
      for (int k = 0; k < N_IDS; k++)
        cr_assert_eq(cm__idmap_get(&m, ids[k]), ref[k], "op %d: %s", op,
                     ids[k]);
  }
  cm__idmap_free(&m);
}
