/* redis_pair.c -- two writers of one region on a Redis server, and the
 * completions A's calls tell (redis_pair.h). */
#include "redis_pair.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "redis_server.h"

static cm_engine *engine_on(cm_ledger *l, cm_store *mirror) {
  cm_engine_config cfg;
  cm_engine_config_init(&cfg);
  cfg.ledger = l;
  cm_error err;
  cm_engine *e = cm_engine_new(&cfg, mirror, &err);
  cr_assert_not_null(e, "%s", err.message);
  return e;
}

static void flush_region(int port, const char *region) {
  char pattern[48];
  snprintf(pattern, sizeof pattern, "cm:{%s}:*", region);
  cm_test_flush_keys(port, pattern);
}

void cm_test_pair_ledgers_open(cm_test_pair *p, int port, const char *region,
                               const cm_redis_options *sync_opt,
                               int timeout_ms) {
  cm_error err;
  memset(p, 0, sizeof *p);
  p->port = port;
  snprintf(p->region, sizeof p->region, "%s", region);
  flush_region(port, region);
  p->base = event_base_new();
  cr_assert_not_null(p->base);
  p->sync = cm_redis_new("127.0.0.1", port, region, sync_opt, &err);
  cr_assert_not_null(p->sync, "%s", err.message);
  cm_redis_options o;
  cm_redis_options_init(&o);
  o.base = p->base;
  o.timeout_ms = timeout_ms;
  p->loop = cm_redis_new("127.0.0.1", port, region, &o, &err);
  cr_assert_not_null(p->loop, "%s", err.message);
  p->l = cm_ledger_redis_new(p->sync, NULL, &err);
  cr_assert_not_null(p->l, "%s", err.message);
  cr_assert_eq(cm_ledger_redis_attach(p->l, p->loop, &err), CM_OK, "%s",
               err.message);
  cr_assert_eq(cm_redis_ping(p->loop, &err), CM_OK, "%s", err.message);
  p->other_r = cm_redis_new("127.0.0.1", port, region, NULL, &err);
  cr_assert_not_null(p->other_r, "%s", err.message);
  p->other = cm_ledger_redis_new(p->other_r, NULL, &err);
  cr_assert_not_null(p->other, "%s", err.message);
  p->side = cm_test_side_connect(port);
  cr_assert_not_null(p->side);
}

void cm_test_pair_open(cm_test_pair *p, int port, const char *region,
                       const cm_redis_options *sync_opt, int timeout_ms) {
  cm_test_pair_ledgers_open(p, port, region, sync_opt, timeout_ms);
  p->mirror = cm_store_memory_new(0);
  p->e = engine_on(p->l, p->mirror);
  p->other_mirror = cm_store_memory_new(0);
  p->other_e = engine_on(p->other, p->other_mirror);
}

void cm_test_pair_close(cm_test_pair *p) {
  flush_region(p->port, p->region);
  cm_engine_free(p->e);
  cm_engine_free(p->other_e);
  cm_ledger_free(p->l);
  cm_ledger_free(p->other);
  cm_store_free(p->mirror);
  cm_store_free(p->other_mirror);
  cm_redis_free(p->loop);
  cm_redis_free(p->sync);
  cm_redis_free(p->other_r);
  redisFree(p->side);
  event_base_free(p->base);
}

static int g_seq; /* completions told in this process */

int cm_test_told_next(void) {
  return ++g_seq;
}

void cm_test_told_cb(void *ctx, cm_status st, const cm_error *err) {
  cm_test_told *t = ctx;
  cr_assert_not_null(err);
  t->calls++;
  t->st = st;
  t->order = cm_test_told_next();
}

void cm_test_run_until(struct event_base *base, const cm_test_told *t, int ms) {
  for (int64_t end = cm_test_mono_ms() + ms;
       !t->calls && cm_test_mono_ms() < end;) {
    struct timeval tv = {0, 20000};
    event_base_loopexit(base, &tv);
    event_base_loop(base, EVLOOP_ONCE);
  }
}
