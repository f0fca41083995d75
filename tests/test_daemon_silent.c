/* test_daemon_silent.c -- the real carematchd against a Redis that does
 * not answer (docs/async-log.md, step g): a listener that accepts connections
 * and never replies holds neither the start nor the loop (the loop's
 * connection shakes hands without waiting, the recovery waits for it), and
 * once a real redis-server takes the port the daemon connects, recovers
 * and serves writes. No Criterion .timeout. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon_proc.h"
#include "redis_server.h"

static cm_test_daemon D;

/* A socket listening on port that never accepts: the kernel completes
 * the TCP handshakes (the backlog), nobody ever reads or answers. */
static int silent_listener(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_eq(listen(fd, 64), 0);
  return fd;
}

/* The time one call took (ms), asserting its status. */
static int64_t timed_code(const char *method, const char *path,
                          const char *token, const char *body, long want) {
  int64_t t0 = cm_test_mono_ms();
  cm_test_reply r = cm_test_http(D.port, method, path, token, body, NULL);
  int64_t dt = cm_test_mono_ms() - t0;
  cr_assert_eq(r.code, want, "%s %s: %ld %s", method, path, r.code, r.text);
  cm_test_reply_free(&r);
  return dt;
}

static int wait_ready(int ms) {
  for (int i = 0; i < ms / 20; i++) {
    cm_test_reply r = cm_test_http(D.port, "GET", "/readyz", NULL, NULL, NULL);
    long code = r.code;
    cm_test_reply_free(&r);
    if (code == 200)
      return 1;
    cm_test_sleep_ms(20);
  }
  return 0;
}

/* The listener answers nothing: before, the start waited two connects'
 * timeouts (the recovery's and the loop connection's: 10 s) and a
 * reconnect attempt between two turns held the loop up to 5 s. Now the
 * daemon listens at once, answers /healthz and (503, not ready) every
 * other call within a bound far below the 5 s timeout, through two
 * handshakes that time out, and serves once a redis-server takes the
 * port. */
Test(daemon_silent, a_silent_redis_holds_neither_the_start_nor_the_loop,
     .fini = cm_test_own_redis_kill) {
  int port = cm_test_free_port();
  int lfd = silent_listener(port);
  char ini[160];
  snprintf(ini, sizeof ini,
           "[store]\nredis = redis://127.0.0.1:%d\nregion = "
           "silent\n",
           port);
  cm_test_daemon_config(&D, ini);
  int64_t t0 = cm_test_mono_ms();
  cm_test_daemon_start(&D, NULL); /* fails after 5 s without a port file */
  int64_t started = cm_test_mono_ms() - t0;
  cr_assert_lt(started, 2500, "listening after %lld ms", (long long)started);
  int64_t worst = 0;
  int n = 0;
  while (cm_test_mono_ms() - t0 < 6500) { /* a handshake times out at 5 s, and
                                     the next connect starts */
    int64_t a = timed_code("GET", "/healthz", NULL, NULL, 200);
    int64_t b = timed_code("GET", "/readyz", NULL, NULL, 503);
    int64_t c = timed_code("GET", "/v1/requests/x", TOK_PLATFORM, NULL, 503);
    worst = a > worst ? a : worst;
    worst = b > worst ? b : worst;
    worst = c > worst ? c : worst;
    n++;
    cm_test_sleep_ms(30);
  }
  cr_assert_lt(worst, 300,
               "the loop answered within %lld ms at worst (%d "
               "rounds)",
               (long long)worst, n);
  cm_test_reply r = cm_test_http(D.port, "GET", "/readyz", NULL, NULL, NULL);
  cr_assert(r.text && strstr(r.text, "redis is not connected"), "%s", r.text);
  cm_test_reply_free(&r);
  /* a real server takes the port: the daemon connects and recovers */
  close(lfd);
  cm_test_own_redis_start_on(port);
  cr_assert(wait_ready(10000), "not ready once Redis answers");
  timed_code("PUT", "/v1/workers/w0", TOK_PLATFORM,
             "{\"skills\":[\"nurse\"],\"lat\":31.23,\"lon\":121.47}", 200);
  timed_code("POST", "/v1/requests", TOK_PLATFORM,
             "{\"id\":\"r0\",\"lat\":31.23,\"lon\":121.47,\"skills\":"
             "[\"nurse\"],\"urgency\":\"emergency\"}",
             201);
  redisContext *side = cm_test_side_connect(port);
  cr_assert_not_null(side);
  redisReply *rep = redisCommand(side, "EXISTS cm:{silent}:req:r0");
  cr_assert(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1);
  freeReplyObject(rep);
  redisFree(side);
  cr_assert_eq(cm_test_daemon_stop(&D, SIGTERM), 0);
  cm_test_daemon_cleanup(&D);
}

/* The stale sweep runs on the loop's connection (docs/async-log.md, step
 * g): a worker turns stale while Redis holds every write (CLIENT PAUSE
 * WRITE, so the sweep script waits in Redis, its read of candidates does
 * not); meanwhile the daemon answers /healthz and a worker's GET at once,
 * and once the pause is over the worker is offline in Redis and in the
 * daemon's mirror. With the synchronous sweep a call waited for the
 * pause's end. */
Test(daemon_silent, a_held_sweep_does_not_hold_the_loop,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  int port = cm_test_own_redis.port;
  char ini[200];
  snprintf(ini, sizeof ini,
           "[store]\nredis = redis://127.0.0.1:%d\nregion = sweep\n"
           "sweep_ms = 100\n[batch]\nstale_ms = 1000\n",
           port);
  cm_test_daemon_config(&D, ini);
  cm_test_daemon_start(&D, NULL);
  cr_assert(wait_ready(5000));
  cm_test_sleep_ms(1100); /* the sweep is put off stale_ms after connect */
  timed_code("PUT", "/v1/workers/w0", TOK_PLATFORM,
             "{\"skills\":[\"nurse\"],\"lat\":31.23,\"lon\":121.47}", 200);
  int64_t t0 = cm_test_mono_ms(); /* w0 is stale from t0 + 1000 */
  redisContext *side = cm_test_side_connect(port);
  cr_assert_not_null(side);
  redisReply *rep = redisCommand(side, "CLIENT PAUSE 2000 WRITE");
  cr_assert(rep && rep->type == REDIS_REPLY_STATUS);
  freeReplyObject(rep);
  cm_test_sleep_ms(1000);
  int64_t worst = 0;
  while (cm_test_mono_ms() - t0 < 1800) { /* sweeps of w0 are held in Redis */
    int64_t a = timed_code("GET", "/healthz", NULL, NULL, 200);
    int64_t b = timed_code("GET", "/v1/workers/w0", TOK_PLATFORM, NULL, 200);
    worst = a > worst ? a : worst;
    worst = b > worst ? b : worst;
    cm_test_sleep_ms(30);
  }
  cr_assert_lt(worst, 300, "the loop answered within %lld ms at worst",
               (long long)worst);
  int offline = 0, mirrored = 0;
  for (int i = 0; i < 200 && !(offline && mirrored); i++) {
    cm_test_sleep_ms(20);
    rep = redisCommand(side, "HGET cm:{sweep}:worker:w0 status");
    offline = rep && rep->type == REDIS_REPLY_STRING && !strcmp(rep->str, "3");
    freeReplyObject(rep);
    cm_test_reply r =
        cm_test_http(D.port, "GET", "/v1/workers/w0", TOK_PLATFORM, NULL, NULL);
    mirrored = r.text && strstr(r.text, "\"offline\"");
    cm_test_reply_free(&r);
  }
  cr_assert(offline, "swept in Redis after the pause");
  cr_assert(mirrored, "and offline in the daemon's view");
  redisFree(side);
  cr_assert_eq(cm_test_daemon_stop(&D, SIGTERM), 0);
  cm_test_daemon_cleanup(&D);
}
