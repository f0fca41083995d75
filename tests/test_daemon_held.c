/* test_daemon_held.c -- the real carematchd while Redis is held at one of
 * the last round trips it made synchronously (docs/async-log.md, step j):
 * the recovery's rebuild at start, its read of the stored weights and the
 * durability check after it (Redis frozen with SIGSTOP at exactly the
 * command, by a relay that watches for it: tcp_hold.h), a SIGHUP
 * reload's store of the file's weights (CLIENT PAUSE WRITE), a GET of a
 * request it does not hold (CLIENT PAUSE ALL), a pinned request's offer
 * (CLIENT PAUSE WRITE) and the read of a record a create found in Redis
 * (SIGSTOP at that HGET). The daemon
 * answers /healthz and GETs meanwhile, and the step completes after the
 * thaw. No Criterion .timeout. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon_proc.h"
#include "redis_server.h"
#include "tcp_hold.h"

#define HELD_MS 1500 /* how long Redis is held */

static cm_test_daemon D;

/* The time one call took (ms), asserting its status; the reply's text
 * into text (n bytes) when text is not NULL. */
static int64_t timed_code(const char *method, const char *path,
                          const char *token, long want, char *text, size_t n) {
  int64_t t0 = cm_test_mono_ms();
  cm_test_reply r = cm_test_http(D.port, method, path, token, NULL, NULL);
  int64_t dt = cm_test_mono_ms() - t0;
  cr_assert_eq(r.code, want, "%s %s: %ld %s", method, path, r.code, r.text);
  if (text)
    snprintf(text, n, "%s", r.text ? r.text : "");
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

/* The weights in force: their version and workload weight. */
static void weights_of(json_int_t *version, double *workload) {
  cm_test_reply r =
      cm_test_http(D.port, "GET", "/v1/weights", TOK_OPERATOR, NULL, NULL);
  cr_assert_eq(r.code, 200, "%s", r.text);
  cr_assert_eq(json_unpack(r.json, "{s:I,s:{s:F}}", "version", version,
                           "weights", "workload", workload),
               0, "%s", r.text);
  cm_test_reply_free(&r);
}

static void stop_process(void *pid) {
  kill(*(pid_t *)pid, SIGSTOP);
}

static void set_key(int port, const char *key, const char *value) {
  redisContext *c = cm_test_side_connect(port);
  cr_assert_not_null(c);
  redisReply *rep = redisCommand(c, "SET %s %s", key, value);
  cr_assert(rep && rep->type == REDIS_REPLY_STATUS);
  freeReplyObject(rep);
  redisFree(c);
}

/* D started on the test's own redis-server (region `region`, stored
 * weights of version 3, workload 7) through a relay that freezes Redis
 * (SIGSTOP) the moment the daemon sends bytes holding `pattern`: D still
 * listens within 2.5 s and, for the freeze, answers /healthz (200) and
 * /readyz (ready_code; its text holding `why` when not NULL) within 300
 * ms; after the thaw it is ready with the stored weights. */
static void frozen_at(const char *region, const char *pattern, long ready_code,
                      const char *why) {
  int port = cm_test_own_redis.port;
  char key[64], ini[200], text[1024];
  snprintf(key, sizeof key, "cm:{%s}:weights", region);
  set_key(port, key, "{\"version\":3,\"weights\":{\"workload\":7}}");
  cm_test_hold *h =
      cm_test_hold_start(port, pattern, stop_process, &cm_test_own_redis.pid);
  cr_assert_not_null(h);
  snprintf(ini, sizeof ini,
           "[store]\nredis = redis://127.0.0.1:%d\nregion = %s\n"
           "sweep_ms = 0\n",
           cm_test_hold_port(h), region);
  cm_test_daemon_config(&D, ini);
  int64_t t0 = cm_test_mono_ms();
  cm_test_daemon_start(&D, NULL);
  int64_t started = cm_test_mono_ms() - t0;
  for (int i = 0; i < 100 && !cm_test_hold_fired_ms(h); i++)
    cm_test_sleep_ms(20); /* ready before the pattern: it may come later */
  int64_t fired = cm_test_hold_fired_ms(h);
  cr_assert_gt(fired, 0, "%s reached Redis", pattern);
  cr_assert_lt(started, 2500, "listening after %lld ms", (long long)started);
  int64_t worst = 0;
  int n = 0;
  while (cm_test_mono_ms() - fired < HELD_MS - 200) {
    int64_t a = timed_code("GET", "/healthz", NULL, 200, NULL, 0);
    int64_t b =
        timed_code("GET", "/readyz", NULL, ready_code, text, sizeof text);
    worst = a > worst ? a : worst;
    worst = b > worst ? b : worst;
    n++;
    cr_assert(!why || strstr(text, why), "%s", text);
    cm_test_sleep_ms(20);
  }
  while (cm_test_mono_ms() - fired < HELD_MS)
    cm_test_sleep_ms(10);
  cr_assert_eq(kill(cm_test_own_redis.pid, SIGCONT), 0);
  cr_log_info("the longest call while Redis was frozen at %s: %lld ms (%d "
              "rounds)",
              pattern, (long long)worst, n);
  cr_assert_lt(worst, 300, "the loop was held %lld ms", (long long)worst);
  cr_assert(wait_ready(5000), "ready after the thaw");
  json_int_t version;
  double workload;
  weights_of(&version, &workload);
  cr_assert_eq(version, 3, "the stored weights are in force");
  cr_assert_float_eq(workload, 7.0, 1e-9);
  cr_assert_eq(cm_test_daemon_stop(&D, SIGTERM), 0);
  cm_test_hold_stop(h);
  cm_test_daemon_cleanup(&D);
}

/* The recovery reads the stored weights on the loop's connection, frozen
 * at that GET. With the synchronous read on the private connection the
 * start waited for the read: no port file within 5 s. */
Test(daemon_held, a_frozen_weights_read_holds_neither_start_nor_loop,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  frozen_at("held1", "cm:{held1}:weights", 503, "reading the weights");
}

/* The recovery's rebuild at start is the step's read on the loop's
 * connection, frozen at its first command (XINFO of the change stream).
 * With the synchronous rebuild on the private connection (before) the
 * start waited for it: no port file within 5 s. */
Test(daemon_held, a_frozen_rebuild_at_start_holds_neither_start_nor_loop,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  frozen_at("held4", "XINFO", 503, "recovering");
}

/* Once recovered, the durability check asks the server's settings on the
 * loop's connection, frozen at its CONFIG GET appendfsync: ready
 * meanwhile. With the synchronous check on the private connection
 * (before) the loop was held for the freeze. */
Test(daemon_held, a_frozen_durability_check_does_not_hold_the_loop,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  frozen_at("held5", "appendfsync", 200, NULL);
}

/* D started on the test's own redis-server with a region of its name (no
 * sweep), and ready; returns the server's port. */
static int start_on_own_redis(const char *region) {
  int port = cm_test_own_redis.port;
  char ini[200];
  snprintf(ini, sizeof ini,
           "[store]\nredis = redis://127.0.0.1:%d\nregion = %s\n"
           "sweep_ms = 0\n",
           port, region);
  cm_test_daemon_config(&D, ini);
  cm_test_daemon_start(&D, NULL);
  cr_assert(wait_ready(5000), "ready");
  return port;
}

/* A SIGHUP reload whose file changed the weights stores them on the
 * loop's connection: while Redis holds writes (CLIENT PAUSE WRITE) the
 * daemon answers /healthz and GET /v1/weights within 300 ms, with the
 * old weights in force (version 1); after the pause the file's weights
 * are in force as version 2, and in Redis. With the synchronous SET the
 * reload held the loop for the pause (and the new weights were in force
 * before Redis had them). */
Test(daemon_held, a_held_reload_store_does_not_hold_the_loop,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  int port = start_on_own_redis("held2");
  json_int_t version;
  double workload;
  weights_of(&version, &workload);
  cr_assert_eq(version, 1);
  FILE *f = fopen(D.config, "a");
  cr_assert_not_null(f);
  fprintf(f, "[weights]\nworkload = 7\n");
  fclose(f);
  redisContext *side = cm_test_side_connect(port);
  cr_assert_not_null(side);
  redisReply *rep = redisCommand(side, "CLIENT PAUSE %d WRITE", HELD_MS);
  cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "CLIENT PAUSE");
  freeReplyObject(rep);
  int64_t paused = cm_test_mono_ms();
  cr_assert_eq(kill(D.pid, SIGHUP), 0);
  int64_t worst = 0;
  int n = 0, early = 0;
  while (cm_test_mono_ms() - paused < HELD_MS - 300) {
    int64_t t = cm_test_mono_ms();
    timed_code("GET", "/healthz", NULL, 200, NULL, 0);
    weights_of(&version, &workload);
    worst = cm_test_mono_ms() - t > worst ? cm_test_mono_ms() - t : worst;
    n++;
    early += version != 1 || workload != 2.0;
    cm_test_sleep_ms(20);
  }
  cr_log_info("the longest /healthz + GET while the reload's SET was held: "
              "%lld ms (%d rounds)",
              (long long)worst, n);
  cr_assert_lt(worst, 300, "the loop was held %lld ms", (long long)worst);
  cr_assert_eq(early, 0, "the old weights until Redis took the new");
  for (int64_t end = cm_test_mono_ms() + 5000; cm_test_mono_ms() < end;
       cm_test_sleep_ms(20)) {
    weights_of(&version, &workload);
    if (version == 2)
      break;
  }
  cr_assert_eq(version, 2, "the file's weights stored after the pause");
  cr_assert_float_eq(workload, 7.0, 1e-9);
  rep = redisCommand(side, "GET cm:{held2}:weights");
  cr_assert(rep && rep->type == REDIS_REPLY_STRING);
  cr_assert(strstr(rep->str, "\"version\": 2"), "%s", rep->str);
  freeReplyObject(rep);
  redisFree(side);
  cr_assert_eq(cm_test_daemon_stop(&D, SIGTERM), 0);
  cm_test_daemon_cleanup(&D);
}

/* A GET of a request the daemon does not hold (here: unknown) is read
 * from Redis on the loop's connection, not with a synchronous HGET: with
 * every Redis client paused, /healthz still answers while that GET waits,
 * and the GET is answered 404 once Redis answers. */
Test(daemon_held, a_get_of_a_request_not_held_does_not_hold_the_loop,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  int port = start_on_own_redis("held4");
  redisContext *side = cm_test_side_connect(port);
  cr_assert_not_null(side);
  redisReply *rep = redisCommand(side, "CLIENT PAUSE %d ALL", HELD_MS);
  cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "CLIENT PAUSE");
  freeReplyObject(rep);
  int64_t paused = cm_test_mono_ms();
  int fd = cm_test_stream_open(D.port, "/v1/requests/nobody", TOK_PLATFORM);
  cm_test_sleep_ms(50);
  int64_t worst = 0;
  while (cm_test_mono_ms() - paused < HELD_MS - 300) {
    int64_t dt = timed_code("GET", "/healthz", NULL, 200, NULL, 0);
    worst = dt > worst ? dt : worst;
    cm_test_sleep_ms(20);
  }
  cr_log_info("the longest /healthz while a GET waited for Redis: %lld ms",
              (long long)worst);
  cr_assert_lt(worst, 300, "the loop was held %lld ms", (long long)worst);
  char buf[4096] = "";
  cr_assert(cm_test_stream_read_until(fd, "in the ledger", buf, sizeof buf),
            "the GET answered after the pause: %s", buf);
  cr_assert(strstr(buf, " 404 "), "%s", buf);
  close(fd);
  redisFree(side);
  cr_assert_eq(cm_test_daemon_stop(&D, SIGTERM), 0);
  cm_test_daemon_cleanup(&D);
}

/* No batch runs before the stored weights are in force: a request left
 * pending in Redis (no worker) and stored weights that do not decode;
 * the daemon follows Redis but is not ready (/readyz names the stored
 * form's fault) and begins no batch for a second; once the stored form is
 * put right it recovers at its next step and batches begin. (The step
 * used to begin its batch first and recover after: batches on the
 * configured weights.) */
Test(daemon_held, no_batch_runs_before_the_stored_weights_are_in_force) {
  cm_test_region rg = cm_test_region_use("held3_"); /* nothing held */
  int port = rg.srv.port;
  char weights[64], ini[200], text[1024];
  snprintf(weights, sizeof weights, "cm:{%s}:weights", rg.name);
  snprintf(ini, sizeof ini,
           "[store]\nredis = redis://127.0.0.1:%d\nregion = %s\n"
           "sweep_ms = 0\n",
           port, rg.name);
  cm_test_daemon_config(&D, ini);
  cm_test_daemon_start(&D, NULL);
  cr_assert(wait_ready(5000), "ready");
  cm_test_reply r = cm_test_http(
      D.port, "POST", "/v1/requests", TOK_PLATFORM,
      "{\"id\":\"p1\",\"lat\":31.23,\"lon\":121.47,\"skills\":[\"nurse\"]}",
      NULL);
  cr_assert_eq(r.code, 201, "%s", r.text);
  cm_test_reply_free(&r);
  cr_assert_eq(cm_test_daemon_stop(&D, SIGTERM), 0);
  set_key(port, weights, "not json");
  cm_test_daemon_start(&D, NULL);
  /* at least a second of steps; longer while the recovery is still
     reading the weights (a loaded machine), until /readyz names the
     stored form's fault (at most 10 s) */
  int64_t since = cm_test_mono_ms();
  do {
    cm_test_sleep_ms(50);
    timed_code("GET", "/readyz", NULL, 503, text, sizeof text);
  } while ((cm_test_mono_ms() - since < 1000 ||
            !strstr(text, "stored weights: malformed JSON")) &&
           cm_test_mono_ms() - since < 10000);
  cr_assert(strstr(text, "stored weights: malformed JSON"), "%s", text);
  cr_assert_eq(cm_test_metric(D.port, "carematch_batches_total"), 0,
               "no batch before the weights");
  set_key(port, weights, "{\"version\":4,\"weights\":{\"workload\":3}}");
  cr_assert(wait_ready(5000), "ready once the stored form is right");
  json_int_t version;
  double workload;
  weights_of(&version, &workload);
  cr_assert_eq(version, 4);
  for (int64_t end = cm_test_mono_ms() + 5000;
       cm_test_metric(D.port, "carematch_batches_total") < 1 &&
       cm_test_mono_ms() < end;)
    cm_test_sleep_ms(20);
  cr_assert_geq(cm_test_metric(D.port, "carematch_batches_total"), 1,
                "batches begin");
  cr_assert_eq(cm_test_daemon_stop(&D, SIGTERM), 0);
  cm_test_region_close(&rg);
  cm_test_daemon_cleanup(&D);
}

/* ---- a pinned request's offer, a create of an id Redis has ---- */

/* The wall clock, ms (the daemon's clock). */
static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A POST of body to path on a raw connection, not waited for; returns the
 * socket (read the reply with cm_test_stream_read_until; close it). */
static int post_open(const char *path, const char *body) {
  int fd = cm_test_dial(D.port);
  char req[1024];
  int n = snprintf(req, sizeof req,
                   "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                   "%s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\n\r\n%s",
                   path, TOK_PLATFORM, strlen(body), body);
  cr_assert_eq(write(fd, req, (size_t)n), n);
  return fd;
}

/* A scheduled nursing request id at the centre, its window from start_ms;
 * returns its release time (ms). */
static int64_t scheduled(const char *id, int64_t start_ms) {
  char body[256];
  snprintf(body, sizeof body,
           "{\"id\":\"%s\",\"lat\":31.23,\"lon\":121.47,\"skills\":"
           "[\"nurse\"],\"urgency\":\"scheduled\",\"window\":{\"start_ms\":"
           "%lld}}",
           id, (long long)start_ms);
  cm_test_reply r =
      cm_test_expect(D.port, 201, "POST", "/v1/requests", TOK_PLATFORM, body);
  json_int_t release = 0;
  cr_assert_eq(
      json_unpack(r.json, "{s:{s:I}}", "request", "release_ms", &release), 0,
      "%s", r.text);
  cm_test_reply_free(&r);
  return (int64_t)release;
}

/* Request id's state and unassigned_reason ("" none), as the daemon has
 * it. */
static void state_of(const char *id, char *state, char *reason, size_t n) {
  char path[96];
  snprintf(path, sizeof path, "/v1/requests/%s", id);
  cm_test_reply r =
      cm_test_expect(D.port, 200, "GET", path, TOK_OPERATOR, NULL);
  const char *s = NULL, *why = NULL;
  json_unpack(r.json, "{s:{s:s,s?s}}", "request", "state", &s,
              "unassigned_reason", &why);
  snprintf(state, n, "%s", s ? s : "");
  snprintf(reason, n, "%s", why ? why : "");
  cm_test_reply_free(&r);
}

/* A pinned request's offer, made when its batch begins, goes to Redis on
 * the loop's connection: a scheduled request pinned to n1 is released
 * while Redis holds writes (CLIENT PAUSE WRITE; the step's follow reads
 * pass); /healthz answers within 300 ms meanwhile, and after the pause the
 * request is offered to n1, once (her one job in Redis). With the
 * synchronous commit on the private connection the batch's begin held
 * the loop until the pause ended. */
Test(daemon_held, a_pinned_requests_offer_does_not_hold_the_loop,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  int port = start_on_own_redis("held5");
  cm_test_ok_or_created(D.port, "PUT", "/v1/workers/n1", TOK_PLATFORM,
                        "{\"skills\":[\"nurse\"],\"lat\":31.231,\"lon\":"
                        "121.47,\"capacity\":2}");
  /* how long before its window a request here is released */
  int64_t w0 = wall_ms() + 3600000;
  int64_t lead = w0 - scheduled("probe", w0);
  cm_test_ok(D.port, "POST", "/v1/requests/probe/cancel", TOK_PLATFORM, NULL);
  int64_t release = scheduled("s1", wall_ms() + lead + 2500);
  cm_test_ok(D.port, "POST", "/v1/requests/s1/pin", TOK_OPERATOR,
             "{\"worker\":\"n1\"}");
  char state[64], reason[64];
  state_of("s1", state, reason, sizeof state);
  cr_assert_str_eq(state, "pending", "not released yet");
  while (wall_ms() < release - 700)
    cm_test_sleep_ms(10);
  redisContext *side = cm_test_side_connect(port);
  cr_assert_not_null(side);
  redisReply *rep = redisCommand(side, "CLIENT PAUSE %d WRITE", HELD_MS);
  cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "CLIENT PAUSE");
  freeReplyObject(rep);
  int64_t paused = cm_test_mono_ms();
  int64_t worst = 0;
  while (cm_test_mono_ms() - paused < HELD_MS - 200) {
    int64_t dt = timed_code("GET", "/healthz", NULL, 200, NULL, 0);
    worst = dt > worst ? dt : worst;
    cm_test_sleep_ms(20);
  }
  cr_log_info("the longest /healthz while the pinned offer waited for "
              "Redis: %lld ms",
              (long long)worst);
  cr_assert_lt(worst, 300, "the loop was held %lld ms", (long long)worst);
  for (int64_t end = cm_test_mono_ms() + 5000; cm_test_mono_ms() < end;
       cm_test_sleep_ms(20)) {
    state_of("s1", state, reason, sizeof state);
    if (strcmp(state, "pending") != 0)
      break;
  }
  cr_assert_str_eq(state, "offered", "offered after the pause (%s)", reason);
  rep = redisCommand(side, "HGET cm:{held5}:worker:n1 jobs");
  cr_assert(rep && rep->type == REDIS_REPLY_STRING);
  cr_assert_str_eq(rep->str, "1", "offered once");
  freeReplyObject(rep);
  redisFree(side);
  cr_assert_eq(cm_test_daemon_stop(&D, SIGTERM), 0);
  cm_test_daemon_cleanup(&D);
}

/* A create of an id Redis has already (here: created and cancelled, then
 * out of the daemon's history of one behind dup0) is refused by the commit
 * script, and the record is read on the loop's connection: Redis frozen
 * (SIGSTOP) the moment that read reaches it, /healthz still answers within 300
 * ms; after the thaw the create, with other content, is answered 409 at $.id.
 * With the synchronous read on the private connection the loop waited for the
 * thaw. */
Test(daemon_held, a_create_of_an_id_redis_has_does_not_hold_the_loop,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  int port = cm_test_own_redis.port;
  cm_test_hold *h = cm_test_hold_start(port, "req:dup1\r\n$3\r\nrec",
                                       stop_process, &cm_test_own_redis.pid);
  cr_assert_not_null(h);
  char ini[200];
  snprintf(ini, sizeof ini,
           "[store]\nredis = redis://127.0.0.1:%d\nregion = held6\n"
           "sweep_ms = 0\n[batch]\nhistory = 1\n",
           cm_test_hold_port(h));
  cm_test_daemon_config(&D, ini);
  cm_test_daemon_start(&D, NULL);
  cr_assert(wait_ready(5000), "ready");
  const char *mine = "{\"id\":\"dup1\",\"lat\":31.23,\"lon\":121.47,"
                     "\"skills\":[\"nurse\"],\"urgency\":\"normal\"}";
  cm_test_reply r =
      cm_test_expect(D.port, 201, "POST", "/v1/requests", TOK_PLATFORM, mine);
  cm_test_reply_free(&r);
  cm_test_ok(D.port, "POST", "/v1/requests/dup1/cancel", TOK_PLATFORM, NULL);
  r = cm_test_expect(D.port, 201, "POST", "/v1/requests", TOK_PLATFORM,
                     "{\"id\":\"dup0\",\"lat\":31.23,\"lon\":121.47,"
                     "\"skills\":[\"nurse\"],\"urgency\":\"normal\"}");
  cm_test_reply_free(&r);
  cm_test_ok(D.port, "POST", "/v1/requests/dup0/cancel", TOK_PLATFORM, NULL);
  cr_assert_eq(cm_test_hold_fired_ms(h), 0, "nothing read dup1 yet");
  int fd = post_open("/v1/requests",
                     "{\"id\":\"dup1\",\"lat\":31.24,\"lon\":121.47,"
                     "\"skills\":[\"nurse\"],\"urgency\":\"normal\"}");
  int64_t fired = 0;
  for (int i = 0; i < 300 && !(fired = cm_test_hold_fired_ms(h)); i++)
    cm_test_sleep_ms(10);
  cr_assert_gt(fired, 0, "dup1's record read");
  int64_t worst = 0;
  while (cm_test_mono_ms() - fired < HELD_MS - 200) {
    int64_t dt = timed_code("GET", "/healthz", NULL, 200, NULL, 0);
    worst = dt > worst ? dt : worst;
    cm_test_sleep_ms(20);
  }
  while (cm_test_mono_ms() - fired < HELD_MS)
    cm_test_sleep_ms(10);
  cr_assert_eq(kill(cm_test_own_redis.pid, SIGCONT), 0);
  cr_log_info("the longest /healthz while dup1's record was read: %lld ms",
              (long long)worst);
  cr_assert_lt(worst, 300, "the loop was held %lld ms", (long long)worst);
  char buf[4096] = "";
  cr_assert(cm_test_stream_read_until(fd, "different content", buf, sizeof buf),
            "the create answered after the thaw: %s", buf);
  cr_assert(strstr(buf, " 409 "), "%s", buf);
  cr_assert(strstr(buf, "$.id"), "%s", buf);
  close(fd);
  cr_assert_eq(cm_test_daemon_stop(&D, SIGTERM), 0);
  cm_test_hold_stop(h);
  cm_test_daemon_cleanup(&D);
}
