/* test_durability_check.c -- the check of the server's settings for the
 * ledger's durability level (docs/redis.md "Durability") asked without
 * waiting (cm_ledger_redis_durability_check_async, what carematchd runs
 * after each recovery), against a redis-server of the test's own: the
 * same warning as the synchronous check for each setting, and a server
 * that does not answer ends the check once, CM_E_UNAVAILABLE, after the
 * connection's timeout, the call itself returning at once. */
#include <criterion/criterion.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "carematch/ledger.h"
#include "carematch/redis.h"
#include "redis_server.h"

typedef struct checked {
  int calls;
  cm_status st;
  char warn[400], message[400];
} checked;

static void on_checked(void *ctx, cm_status st, const char *warn,
                       const cm_error *err) {
  checked *c = ctx;
  c->calls++;
  c->st = st;
  snprintf(c->warn, sizeof c->warn, "%s", warn ? warn : "(null)");
  snprintf(c->message, sizeof c->message, "%s", err->message);
}

/* A ledger at level d on a connection on base (or, base NULL, on a
 * private one), connected. */
static cm_ledger *open_ledger(struct event_base *base, cm_redis **r,
                              cm_ledger_durability d, int timeout_ms) {
  cm_redis_options o;
  cm_redis_options_init(&o);
  o.base = base;
  o.timeout_ms = timeout_ms;
  cm_error err;
  *r = cm_redis_new("127.0.0.1", cm_test_own_redis.port, "dc", &o, &err);
  cr_assert_not_null(*r, "%s", err.message);
  cm_ledger_redis_options lo;
  cm_ledger_redis_options_init(&lo);
  lo.durability = d;
  lo.durability_timeout_ms = timeout_ms / 3;
  cm_ledger *l = cm_ledger_redis_new(*r, &lo, &err);
  cr_assert_not_null(l, "%s", err.message);
  if (base) {
    cm_redis_connect_async(*r, NULL);
    for (int i = 0; i < 200 && !cm_redis_connected(*r); i++) {
      struct timeval tv = {0, 20000};
      event_base_loopexit(base, &tv);
      event_base_loop(base, EVLOOP_ONCE);
    }
    cr_assert(cm_redis_connected(*r), "connected: %s", cm_redis_last_error(*r));
  }
  return l;
}

/* The asynchronous check's answer, the loop run until it came. */
static checked check_async(struct event_base *base, cm_ledger *l) {
  checked c;
  memset(&c, 0, sizeof c);
  cm_error err;
  cr_assert_eq(cm_ledger_redis_durability_check_async(l, on_checked, &c, &err),
               CM_OK, "%s", err.message);
  cr_assert_eq(c.calls, 0, "answered from the loop, not inside the call");
  for (int i = 0; i < 500 && !c.calls; i++) {
    struct timeval tv = {0, 20000};
    event_base_loopexit(base, &tv);
    event_base_loop(base, EVLOOP_ONCE);
  }
  cr_assert_eq(c.calls, 1);
  return c;
}

/* Both checks at level d: the same warning; returns it (into out). */
static void both(cm_ledger_durability d, char *out, size_t n) {
  struct event_base *base = event_base_new();
  cm_redis *ra, *rs;
  cm_ledger *la = open_ledger(base, &ra, d, 2000);
  cm_ledger *ls = open_ledger(NULL, &rs, d, 2000);
  checked c = check_async(base, la);
  cr_assert_eq(c.st, CM_OK, "%s", c.message);
  char warn[400];
  cm_error err;
  cr_assert_eq(cm_ledger_redis_durability_check(ls, warn, sizeof warn, &err),
               CM_OK, "%s", err.message);
  cr_assert_str_eq(c.warn, warn, "the same warning as the synchronous check");
  snprintf(out, n, "%s", c.warn);
  cm_ledger_free(la);
  cm_ledger_free(ls);
  cm_redis_free(ra);
  cm_redis_free(rs);
  event_base_free(base);
}

static void config_set(const char *name, const char *value) {
  redisContext *c = cm_test_side_connect(cm_test_own_redis.port);
  cr_assert_not_null(c);
  redisReply *rep = redisCommand(c, "CONFIG SET %s %s", name, value);
  cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "CONFIG SET %s", name);
  freeReplyObject(rep);
  redisFree(c);
}

Test(durability_check, each_setting_gets_the_synchronous_checks_warning,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  char warn[400];
  both(CM_LEDGER_DURABILITY_FSYNC, warn, sizeof warn);
  cr_assert(strstr(warn, "the server has appendonly no"), "%s", warn);
  config_set("appendonly", "yes");
  config_set("appendfsync", "always");
  both(CM_LEDGER_DURABILITY_FSYNC, warn, sizeof warn);
  cr_assert_str_eq(warn, "", "set up for fsync: no warning");
  both(CM_LEDGER_DURABILITY_REPLICA, warn, sizeof warn);
  cr_assert(strstr(warn, "needs 1 connected replica(s), the server has 0"),
            "%s", warn);
}

Test(durability_check, a_silent_server_ends_the_check_once_unavailable,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  struct event_base *base = event_base_new();
  cm_redis *r;
  cm_ledger *l = open_ledger(base, &r, CM_LEDGER_DURABILITY_FSYNC, 300);
  redisContext *side = cm_test_side_connect(cm_test_own_redis.port);
  cr_assert_not_null(side);
  redisReply *rep = redisCommand(side, "CLIENT PAUSE 1500 ALL");
  cr_assert(rep && rep->type == REDIS_REPLY_STATUS);
  freeReplyObject(rep);
  checked c = check_async(base, l);
  cr_assert_eq(c.st, CM_E_UNAVAILABLE, "%s", c.message);
  cr_assert_str_eq(c.warn, "(null)");
  cm_ledger_free(l);
  cm_redis_free(r);
  event_base_free(base);
  redisFree(side);
}
