/* test_daemon_positions.c -- when the real carematchd answers a position
 * write in Redis mode (docs/redis.md, "Positions: answered once queued"):
 * at once with positions_ack = queued while Redis holds writes (CLIENT
 * PAUSE WRITE), after Redis took it with positions_ack = durable or past
 * positions_pending_max, and what happens to positions answered and then
 * lost with Redis (killed while it held them): counted, logged without an
 * id, and the daemon recovers Redis's view when Redis is back. Each test
 * has its own redis-server. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_proc.h"
#include "redis_server.h"

#define HELD_MS 1200 /* how long Redis holds writes */

static cm_test_daemon D;

/* D on the test's own redis-server, region rg, with extra [store] keys;
 * ready, and worker w1 registered at latitude 31.23. */
static void start(const char *rg, const char *extra) {
  char ini[400];
  snprintf(ini, sizeof ini,
           "[store]\nredis = redis://127.0.0.1:%d\nregion = %s\n"
           "sweep_ms = 0\n%s",
           cm_test_own_redis.port, rg, extra);
  cm_test_daemon_config(&D, ini);
  cm_test_daemon_start(&D, NULL);
  int ready = 0;
  for (int i = 0; i < 250 && !ready; i++) {
    cm_test_reply r = cm_test_http(D.port, "GET", "/readyz", NULL, NULL, NULL);
    ready = r.code == 200;
    cm_test_reply_free(&r);
    if (!ready)
      cm_test_sleep_ms(20);
  }
  cr_assert(ready, "ready");
  cm_test_ok_or_created(
      D.port, "PUT", "/v1/workers/w1", TOK_PLATFORM,
      "{\"skills\":[\"nurse\"],\"lat\":31.23,\"lon\":121.47}");
}

static void stop(void) {
  cr_assert_eq(cm_test_daemon_stop(&D, SIGTERM), 0);
  cm_test_daemon_cleanup(&D);
}

/* Redis holds writes for HELD_MS from now. */
static void hold_writes(void) {
  redisContext *side = cm_test_side_connect(cm_test_own_redis.port);
  cr_assert_not_null(side);
  redisReply *rep = redisCommand(side, "CLIENT PAUSE %d WRITE", HELD_MS);
  cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "CLIENT PAUSE");
  freeReplyObject(rep);
  redisFree(side);
}

/* A position write of w1 to lat: how long its answer took (ms); it must
 * be 200 {"accepted": 1}. */
static int64_t move_w1(double lat) {
  char body[64];
  snprintf(body, sizeof body, "{\"lat\":%.4f,\"lon\":121.47}", lat);
  int64_t t0 = cm_test_mono_ms();
  cm_test_reply r = cm_test_http(D.port, "POST", "/v1/workers/w1/position",
                                 TOK_GATEWAY, body, NULL);
  int64_t dt = cm_test_mono_ms() - t0;
  cr_assert_eq(r.code, 200, "%s", r.text);
  json_int_t n = 0;
  cr_assert_eq(json_unpack(r.json, "{s:I}", "accepted", &n), 0, "%s", r.text);
  cr_assert_eq(n, 1);
  cm_test_reply_free(&r);
  return dt;
}

/* w1's latitude as the daemon answers it. */
static double w1_lat(void) {
  cm_test_reply r =
      cm_test_http(D.port, "GET", "/v1/workers/w1", TOK_PLATFORM, NULL, NULL);
  double lat = -1;
  cr_assert_eq(r.code, 200, "%s", r.text);
  cr_assert_eq(json_unpack(r.json, "{s:{s:F}}", "worker", "lat", &lat), 0);
  cm_test_reply_free(&r);
  return lat;
}

/* w1's latitude in Redis (-1: none). */
static double w1_redis_lat(const char *rg) {
  redisContext *side = cm_test_side_connect(cm_test_own_redis.port);
  cr_assert_not_null(side);
  redisReply *rep = redisCommand(side, "HGET cm:{%s}:worker:w1 lat", rg);
  double lat = rep && rep->type == REDIS_REPLY_STRING ? atof(rep->str) : -1;
  freeReplyObject(rep);
  redisFree(side);
  return lat;
}

/* Waits (at most 5 s) until the daemon answers w1 at lat. */
static int w1_at(double lat) {
  for (int i = 0; i < 250; i++) {
    if (w1_lat() > lat - 1e-6 && w1_lat() < lat + 1e-6)
      return 1;
    cm_test_sleep_ms(20);
  }
  return 0;
}

/* positions_ack = queued: answered at once while Redis holds writes,
 * pending until Redis takes it, not visible before (the daemon's view
 * never runs ahead of Redis's), in Redis and the daemon after. */
Test(daemon_positions, a_position_is_answered_once_queued,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  start("pq1", "positions_ack = queued\n");
  hold_writes();
  int64_t dt = move_w1(31.3);
  cr_log_info("position answered in %lld ms while Redis held writes",
              (long long)dt);
  cr_assert_lt(dt, 300, "answered once queued (%lld ms)", (long long)dt);
  cr_assert_eq(cm_test_metric(D.port, "carematch_positions_pending"), 1);
  cr_assert_float_eq(w1_lat(), 31.23, 1e-9, "not taken by Redis yet");
  cr_assert(w1_at(31.3), "moved once Redis took it");
  cr_assert_float_eq(w1_redis_lat("pq1"), 31.3, 1e-9);
  cr_assert_eq(cm_test_metric(D.port, "carematch_positions_pending"), 0);
  cr_assert_eq(cm_test_metric(D.port, "carematch_positions_lost_total"), 0);
  cr_assert_eq(cm_test_metric(D.port, "carematch_positions_total"), 1);
  stop();
}

/* positions_ack = durable (the default, given here all the same): the
 * answer waits for Redis. */
Test(daemon_positions, durable_positions_are_answered_when_redis_took_them,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  start("pq2", "positions_ack = durable\n");
  hold_writes();
  int64_t dt = move_w1(31.3);
  cr_assert_geq(dt, HELD_MS - 400, "answered after the hold (%lld ms)",
                (long long)dt);
  cr_assert_float_eq(w1_lat(), 31.3, 1e-9, "moved when answered");
  cr_assert_float_eq(w1_redis_lat("pq2"), 31.3, 1e-9);
  stop();
}

/* Past positions_pending_max answered and not yet taken, a position
 * waits for Redis like a durable one: with a bound of 1, the first is
 * answered at once, the second after the hold. */
Test(daemon_positions, past_the_bound_a_position_waits_for_redis,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  start("pq3", "positions_ack = queued\npositions_pending_max = 1\n");
  hold_writes();
  int64_t first = move_w1(31.3);
  int64_t second = move_w1(31.4);
  cr_assert_lt(first, 300, "the first once queued (%lld ms)", (long long)first);
  cr_assert_geq(second, HELD_MS - 500, "the second after the hold (%lld ms)",
                (long long)second);
  cr_assert_float_eq(w1_lat(), 31.4, 1e-9, "the later one wins");
  cr_assert_float_eq(w1_redis_lat("pq3"), 31.4, 1e-9);
  stop();
}

/* The daemon's log so far into buf (n bytes). */
static void read_log(char *buf, size_t n) {
  FILE *f = fopen(D.log, "r");
  size_t k = f ? fread(buf, 1, n - 1, f) : 0;
  buf[k] = '\0';
  if (f)
    fclose(f);
}

/* Positions answered and then lost with Redis (killed while it held
 * writes): counted lost, logged as counts without a worker id (the first
 * at once, the rest of that second by a timer), nothing pending; while
 * Redis is down a position is not answered 200 but 503 (it cannot be
 * queued); Redis back (empty: no persistence), the daemon is ready
 * again. */
Test(daemon_positions, positions_lost_with_redis_are_counted,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  start("pq4", "positions_ack = queued\n");
  int port = cm_test_own_redis.port;
  hold_writes();
  for (int i = 0; i < 3; i++)
    cr_assert_lt(move_w1(31.3 + 0.01 * i), 300);
  cr_assert_eq(cm_test_metric(D.port, "carematch_positions_pending"), 3);
  cm_test_own_redis_kill();
  for (int i = 0;
       i < 250 && cm_test_metric(D.port, "carematch_positions_lost_total") < 3;
       i++)
    cm_test_sleep_ms(20);
  cr_assert_eq(cm_test_metric(D.port, "carematch_positions_lost_total"), 3);
  cr_assert_eq(cm_test_metric(D.port, "carematch_positions_pending"), 0);
  cr_assert_float_eq(w1_lat(), 31.23, 1e-9, "never taken: not moved");
  cm_test_reply r =
      cm_test_http(D.port, "POST", "/v1/workers/w1/position", TOK_GATEWAY,
                   "{\"lat\":31.5,\"lon\":121.47}", NULL);
  cr_assert_eq(r.code, 503, "Redis down: not answered 200: %s", r.text);
  cm_test_reply_free(&r);
  cr_assert_eq(cm_test_metric(D.port, "carematch_positions_lost_total"), 3,
               "nothing lost");
  char log[1 << 16] = "";
  for (int i = 0; i < 150 && !strstr(log, "2 position(s)"); i++) {
    cm_test_sleep_ms(20);
    read_log(log, sizeof log);
  }
  cr_assert(strstr(log, "1 position(s) answered but maybe not written"), "%s",
            log);
  cr_assert(strstr(log, "2 position(s) answered but maybe not written"),
            "the rest of the second logged by the timer: %s", log);
  cr_assert_null(strstr(log, "w1"), "no worker id in the log: %s", log);
  cm_test_own_redis_start_on(port);
  int back = 0;
  for (int i = 0; i < 500 && !back; i++) {
    r = cm_test_http(D.port, "GET", "/readyz", NULL, NULL, NULL);
    back = r.code == 200;
    cm_test_reply_free(&r);
    cm_test_sleep_ms(20);
  }
  cr_assert(back, "ready again with Redis back");
  stop();
}
