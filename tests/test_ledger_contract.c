/* test_ledger_contract.c -- the ledger contract suite
 * (tests/support/ledger_contract.h) on the memory ledger: the write-first
 * protocol without a server, faults included, plus what only the memory
 * ledger promises (its follow, NULL-safe free). The Redis ledger runs the
 * same cases in tests/test_ledger_redis.c. */
#include <criterion/criterion.h>
#include <string.h>

#include "carematch/ledger.h"
#include "ledger_contract.h"

/* One memory ledger shared by the handles opened on it. */
typedef struct mem_ctx {
  cm_ledger *ledger;
  int handles;
} mem_ctx;

static mem_ctx g_mem;

static cm_ledger *mem_open(void *ctx, int fresh) {
  mem_ctx *m = ctx;
  if (fresh) {
    cr_assert_eq(m->handles, 0, "the case closed its handles");
    cm_error err;
    m->ledger = cm_ledger_memory_new(&err);
    cr_assert_not_null(m->ledger, "%s", err.message);
  }
  cr_assert_not_null(m->ledger, "opened fresh first");
  m->handles++;
  return m->ledger;
}

static void mem_close(void *ctx, cm_ledger *l) {
  mem_ctx *m = ctx;
  cr_assert_eq(l, m->ledger);
  if (--m->handles == 0) {
    cm_ledger_free(m->ledger);
    m->ledger = NULL;
  }
}

static const cm_ledger_contract memory = {
    .open = mem_open, .close = mem_close, .ctx = &g_mem};

#define LEDGER_TEST_(name)                                                     \
  Test(ledger_contract, name) {                                                \
    cm_ledger_contract_##name(&memory);                                        \
    cr_assert_eq(g_mem.handles, 0, "every handle closed");                     \
  }

LEDGER_TEST_(records)
LEDGER_TEST_(workers)
LEDGER_TEST_(group)
LEDGER_TEST_(live)
LEDGER_TEST_(worker_errors)
LEDGER_TEST_(propose)
LEDGER_TEST_(worker_propose)
LEDGER_TEST_(engine_recovery)
LEDGER_TEST_(fault_before)
LEDGER_TEST_(fault_after)

static void on_change(void *ctx, const char *id, const cm_worker *w) {
  (void)id;
  (void)w;
  ++*(int *)ctx;
}

Test(ledger_memory, follow_is_lost_until_started) {
  cm_ledger *l = cm_ledger_memory_new(NULL);
  cr_assert_not_null(l);
  cr_assert_str_eq(l->type->name, "memory");
  int lost = 0, calls = 0;
  cr_assert_eq(l->type->follow(l, on_change, &calls, &lost, NULL), CM_OK);
  cr_assert_eq(lost, 1, "never started: the caller must rebuild");
  cr_assert_eq(l->type->follow_start(l, NULL), CM_OK);
  cr_assert_eq(l->type->follow(l, on_change, &calls, &lost, NULL), CM_OK);
  cr_assert_eq(lost, 0);
  cr_assert_eq(calls, 0, "one writer: nothing to follow");
  cm_ledger_free(l);
  cm_ledger_free(NULL);
}
