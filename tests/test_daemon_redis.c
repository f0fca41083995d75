/* test_daemon_redis.c -- the real carematchd on a real redis-server of the
 * test's own (append-only file, appendfsync always): requests and offers
 * through HTTP land in Redis; weights live in Redis; Redis killed mid-run
 * makes writes answer 503 and readiness fail, and once it is back nothing
 * acknowledged is lost and dispatch resumes; a second daemon on the same
 * region recovers what the first acknowledged; while Redis holds the
 * writes (CLIENT PAUSE WRITE), the daemon still answers its health, GETs
 * and memory reads, and the writes (a request's, a worker's, a bulk of
 * positions) complete after it (docs/async.md); the emergency path's stage
 * trace (CAREMATCHD_STAGE_TRACE) names every stage, in a 0600 file, with
 * no request id. No Criterion .timeout. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon_proc.h"
#include "redis_server.h"

static cm_test_daemon D;
static int g_port; /* cm_test_own_redis: persisting, killed and restarted */

static void setup(void) {
  cm_test_own_redis_start_aof();
  g_port = cm_test_own_redis.port;
  char url[64];
  snprintf(url, sizeof url, "redis://127.0.0.1:%d", g_port);
  char ini[128];
  snprintf(ini, sizeof ini, "[store]\nredis = %s\nregion = dtest\n", url);
  cm_test_daemon_config(&D, ini);
  cm_test_daemon_start(&D, NULL);
}

static void teardown(void) {
  cm_test_daemon_cleanup(&D);
  cm_test_own_redis_remove();
}

static cm_test_reply call(const char *method, const char *path,
                          const char *token, const char *body) {
  return cm_test_http(D.port, method, path, token, body, NULL);
}

static long code_of(const char *method, const char *path, const char *token,
                    const char *body) {
  cm_test_reply r = call(method, path, token, body);
  long c = r.code;
  cm_test_reply_free(&r);
  return c;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static char *state(const char *id) {
  static char buf[32];
  char path[96];
  snprintf(path, sizeof path, "/v1/requests/%s", id);
  cm_test_reply r = call("GET", path, TOK_PLATFORM, NULL);
  const char *s = "";
  if (r.code == 200)
    json_unpack(r.json, "{s:{s:s}}", "request", "state", &s);
  snprintf(buf, sizeof buf, "%s", r.code == 200 ? s : "?");
  cm_test_reply_free(&r);
  return buf;
}

static int wait_state(const char *id, const char *want) {
  for (int i = 0; i < 300; i++) {
    if (!strcmp(state(id), want))
      return 1;
    sleep_ms(10);
  }
  return 0;
}

static void add_workers(int n) {
  for (int i = 0; i < n; i++) {
    char path[64], body[160];
    snprintf(path, sizeof path, "/v1/workers/w%d", i);
    snprintf(body, sizeof body,
             "{\"skills\":[\"nurse\"],\"lat\":%.5f,\"lon\":121.47}",
             31.23 + 0.002 * i);
    cr_assert_eq(code_of("PUT", path, TOK_PLATFORM, body), 200);
  }
}

static void submit(const char *id, const char *urgency, long want) {
  char body[192];
  snprintf(body, sizeof body,
           "{\"id\":\"%s\",\"lat\":31.23,\"lon\":121.47,\"skills\":"
           "[\"nurse\"],\"urgency\":\"%s\"}",
           id, urgency);
  cm_test_reply r = call("POST", "/v1/requests", TOK_PLATFORM, body);
  cr_assert_eq(r.code, want, "%s: %ld %s", id, r.code, r.text);
  cm_test_reply_free(&r);
}

TestSuite(daemon_redis, .init = setup, .fini = teardown);

Test(daemon_redis, requests_and_weights_live_in_redis) {
  add_workers(3);
  submit("a", "emergency", 201);
  cr_assert(wait_state("a", "offered"));
  redisContext *c = cm_test_side_connect(g_port);
  redisReply *rep = redisCommand(c, "HGET cm:{dtest}:req:a state");
  cr_assert(rep && rep->type == REDIS_REPLY_STRING && !strcmp(rep->str, "1"),
            "offered in Redis");
  freeReplyObject(rep);
  rep = redisCommand(c, "XLEN cm:{dtest}:events");
  cr_assert(rep && rep->integer >= 2, "submitted and offered events");
  freeReplyObject(rep);
  cr_assert_eq(code_of("PUT", "/v1/weights", TOK_OPERATOR,
                       "{\"weights\":{\"workload\":7}}"),
               200);
  rep = redisCommand(c, "GET cm:{dtest}:weights");
  cr_assert(rep && rep->type == REDIS_REPLY_STRING &&
                strstr(rep->str, "\"workload\": 7"),
            "%s", rep ? rep->str : "");
  freeReplyObject(rep);
  redisFree(c);
  cm_test_reply r = call("GET", "/readyz", NULL, NULL);
  cr_assert_eq(r.code, 200, "%s", r.text);
  cm_test_reply_free(&r);
}

Test(daemon_redis, redis_going_away_answers_503_and_loses_nothing) {
  add_workers(2);
  submit("k1", "normal", 201);
  submit("k2", "emergency", 201);
  cr_assert(wait_state("k2", "offered"));
  cm_test_own_redis_kill();
  /* writes: 503, nothing acknowledged; the body names no internal
     address (Redis's host and port go to the log) */
  char port[16];
  snprintf(port, sizeof port, "%d", g_port);
  cm_test_reply r = call("POST", "/v1/requests", TOK_PLATFORM,
                         "{\"id\":\"lost\",\"lat\":31.23,\"lon\":121.47,"
                         "\"skills\":[\"nurse\"]}");
  cr_assert_eq(r.code, 503, "%s", r.text);
  cr_assert_str_eq(cm_test_error_code(&r), "unavailable", "%s", r.text);
  cr_assert(!strstr(r.text, "127.0.0.1") && !strstr(r.text, port), "%s",
            r.text);
  cm_test_reply_free(&r);
  cr_assert_eq(code_of("POST", "/v1/requests/k2/accept", TOK_GATEWAY,
                       "{\"worker\":\"w0\"}"),
               503);
  int ready = 200;
  for (int i = 0; i < 100 && ready == 200; i++) {
    ready = (int)code_of("GET", "/readyz", NULL, NULL);
    sleep_ms(20);
  }
  cr_assert_eq(ready, 503, "not ready without Redis");
  r = call("GET", "/readyz", NULL, NULL);
  cr_assert(!strstr(r.text, "127.0.0.1") && !strstr(r.text, port), "%s",
            r.text);
  const char *status = "", *reason = ""; /* as docs/openapi.json NotReady */
  cr_assert_eq(
      json_unpack(r.json, "{s:s,s:s!}", "status", &status, "reason", &reason),
      0, "%s", r.text);
  cr_assert_str_eq(status, "not_ready");
  cm_test_reply_free(&r);
  FILE *f = fopen(D.log, "r");
  char log[16384] = "";
  size_t n = f ? fread(log, 1, sizeof log - 1, f) : 0;
  log[n] = '\0';
  if (f)
    fclose(f);
  cr_assert(strstr(log, port), "the log says where Redis was: %s", log);
  /* back from its append-only file */
  cm_test_own_redis.pid = cm_test_server_start(g_port, cm_test_own_redis_dir);
  for (int i = 0; i < 300 && ready != 200; i++) {
    ready = (int)code_of("GET", "/readyz", NULL, NULL);
    sleep_ms(20);
  }
  cr_assert_eq(ready, 200, "ready again");
  cr_assert_str_eq(state("k2"), "offered", "acknowledged, kept");
  cr_assert(strcmp(state("k1"), "?"), "acknowledged, kept");
  cr_assert_str_eq(state("lost"), "?", "never acknowledged");
  /* and dispatch carries on */
  cr_assert_eq(code_of("POST", "/v1/requests/k2/accept", TOK_GATEWAY,
                       "{\"worker\":\"w0\"}") /
                   100,
               2);
  submit("k3", "emergency", 201);
  cr_assert(wait_state("k3", "offered") || wait_state("k3", "pending"));
}

Test(daemon_redis, a_second_daemon_recovers_the_first_ones_state) {
  add_workers(2);
  submit("s1", "emergency", 201);
  cr_assert(wait_state("s1", "offered"));
  submit("s2", "normal", 201);
  /* the first dies hard; a new one on the same region takes over */
  kill(D.pid, SIGKILL);
  cm_test_daemon_stop(&D, SIGKILL);
  cm_test_daemon_start(&D, NULL);
  cr_assert_str_eq(state("s1"), "offered");
  cr_assert(strcmp(state("s2"), "?"));
  cr_assert_eq(code_of("POST", "/v1/requests/s1/accept", TOK_GATEWAY,
                       "{\"worker\":\"w0\"}"),
               200);
  cr_assert(wait_state("s1", "accepted"));
}

/* A bad position names the same field as on the memory store
 * (test_daemon.c): "$.positions[i].id" in a bulk call, even of one;
 * "$.id" and "$.lat" for one worker's position. */
Test(daemon_redis, bad_positions_name_the_same_fields_as_in_memory) {
  add_workers(1);
  static const struct {
    const char *path, *body, *field;
    long code;
  } cases[] = {
      {"/v1/positions",
       "{\"positions\":[{\"id\":\"nobody\",\"lat\":9,\"lon\":121.5}]}",
       "$.positions[0].id", 404},
      {"/v1/positions",
       "{\"positions\":[{\"id\":\"w0\",\"lat\":9,\"lon\":121.5},"
       "{\"id\":\"nobody\",\"lat\":9,\"lon\":121.5}]}",
       "$.positions[1].id", 404},
      {"/v1/positions",
       "{\"positions\":[{\"id\":\"w0\",\"lat\":91,\"lon\":121.5}]}",
       "$.positions[0].lat", 422},
      {"/v1/workers/nobody/position", "{\"lat\":9,\"lon\":121.5}", "$.id", 404},
      {"/v1/workers/w0/position", "{\"lat\":91,\"lon\":121.5}", "$.lat", 422},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    cm_test_reply r = call("POST", cases[i].path, TOK_GATEWAY, cases[i].body);
    cr_expect_eq(r.code, cases[i].code, "case %zu: %s", i, r.text);
    cr_expect_str_eq(cm_test_error_field(&r), cases[i].field, "case %zu: %s", i,
                     r.text);
    cm_test_reply_free(&r);
  }
}

typedef struct timed_write {
  const char *id;
  long code;  /* the reply's status */
  int64_t ms; /* how long it took */
} timed_write;

static void *submit_timed(void *arg) {
  timed_write *w = arg;
  char body[192];
  snprintf(body, sizeof body,
           "{\"id\":\"%s\",\"lat\":31.23,\"lon\":121.47,\"skills\":"
           "[\"nurse\"],\"urgency\":\"normal\"}",
           w->id);
  int64_t t0 = cm_test_mono_ms();
  cm_test_reply r = call("POST", "/v1/requests", TOK_PLATFORM, body);
  w->ms = cm_test_mono_ms() - t0;
  w->code = r.code;
  cm_test_reply_free(&r);
  return NULL;
}

/* The reply time of one call, which must answer `want`. */
static int64_t timed_code(const char *method, const char *path,
                          const char *token, long want) {
  int64_t t0 = cm_test_mono_ms();
  cr_assert_eq(code_of(method, path, token, NULL), want, "%s %s", method, path);
  return cm_test_mono_ms() - t0;
}

Test(daemon_redis, a_held_redis_does_not_hold_the_daemon) {
  add_workers(1);
  submit("h0", "emergency", 201);
  cr_assert(wait_state("h0", "offered"));
  redisContext *side = cm_test_side_connect(g_port);
  cr_assert_not_null(side);
  /* every write command (the commit script included) waits 800 ms;
     reads go on (the batches' follow of other writers reads on the loop
     connection since docs/async-log.md's step d) */
  redisReply *rep = redisCommand(side, "CLIENT PAUSE 800 WRITE");
  cr_assert(rep && rep->type == REDIS_REPLY_STATUS);
  freeReplyObject(rep);
  int64_t t0 = cm_test_mono_ms();
  pthread_t th;
  timed_write w = {.id = "h1"};
  cr_assert_eq(pthread_create(&th, NULL, submit_timed, &w), 0);
  sleep_ms(100); /* h1 is held by Redis now */
  cr_assert_lt(timed_code("GET", "/healthz", NULL, 200), 300,
               "the health answers while a write is held");
  cr_assert_lt(timed_code("GET", "/v1/requests/h0", TOK_PLATFORM, 200), 300,
               "a request's GET answers");
  cr_assert_lt(timed_code("GET", "/v1/workers/w0", TOK_PLATFORM, 200), 300,
               "a memory read answers");
  cr_assert_lt(cm_test_mono_ms() - t0, 700, "all of it inside the pause");
  pthread_join(th, NULL);
  cr_assert_eq(w.code, 201, "the write completes after the pause");
  cr_assert_geq(w.ms, 500, "and not before it (%lld ms)", (long long)w.ms);
  cr_assert_str_neq(state("h1"), "?");
  redisFree(side);
}

typedef struct timed_call {
  const char *method, *path, *body;
  long code;  /* the reply's status */
  int64_t ms; /* how long it took */
} timed_call;

static void *call_timed(void *arg) {
  timed_call *t = arg;
  int64_t t0 = cm_test_mono_ms();
  cm_test_reply r = call(t->method, t->path, TOK_GATEWAY, t->body);
  t->ms = cm_test_mono_ms() - t0;
  t->code = r.code;
  cm_test_reply_free(&r);
  return NULL;
}

#define HELD_BULK 1000 /* positions of the bulk call, over 20 workers */

/* The latitude of worker id as the daemon answers it. */
static double worker_lat(const char *id) {
  char path[64];
  snprintf(path, sizeof path, "/v1/workers/%s", id);
  cm_test_reply r = call("GET", path, TOK_PLATFORM, NULL);
  double lat = -1;
  cr_assert_eq(r.code, 200, "%s", r.text);
  cr_assert_eq(json_unpack(r.json, "{s:{s:F}}", "worker", "lat", &lat), 0, "%s",
               r.text);
  cm_test_reply_free(&r);
  return lat;
}

/* Redis holding writes (CLIENT PAUSE WRITE) holds no call: the reads are
 * answered meanwhile; the worker writes (a bulk, an upsert, a single
 * position: positions_ack = durable, the default) after the pause, and
 * they take effect only when Redis took them (w1's read shows her old
 * place during the pause; docs/redis.md). */
Test(daemon_redis, a_held_redis_does_not_hold_worker_writes) {
  add_workers(20);
  submit("h0", "normal", 201);
  /* the bulk: 50 rounds over the 20 workers, the last round's wins */
  size_t cap = (size_t)HELD_BULK * 64 + 32, len = 0;
  char *bulk = malloc(cap);
  cr_assert_not_null(bulk);
  len += (size_t)snprintf(bulk + len, cap - len, "{\"positions\":[");
  for (int i = 0; i < HELD_BULK; i++)
    len += (size_t)snprintf(bulk + len, cap - len,
                            "%s{\"id\":\"w%d\",\"lat\":%.6f,\"lon\":121.5}",
                            i ? "," : "", i % 20, 31.0 + i * 1e-5);
  snprintf(bulk + len, cap - len, "]}");
  redisContext *side = cm_test_side_connect(g_port);
  cr_assert_not_null(side);
  redisReply *rep = redisCommand(side, "CLIENT PAUSE 800 WRITE");
  cr_assert(rep && rep->type == REDIS_REPLY_STATUS);
  freeReplyObject(rep);
  int64_t t0 = cm_test_mono_ms();
  timed_call tc[3] = {{"POST", "/v1/positions", bulk, 0, 0},
                      {"PUT", "/v1/workers/wn",
                       "{\"skills\":[\"nurse\"],\"lat\":31.3,\"lon\":121.4}", 0,
                       0},
                      {"POST", "/v1/workers/w1/position",
                       "{\"lat\":31.4,\"lon\":121.4}", 0, 0}};
  pthread_t th[3];
  for (int i = 0; i < 3; i++)
    cr_assert_eq(pthread_create(&th[i], NULL, call_timed, &tc[i]), 0);
  sleep_ms(150); /* held by Redis now */
  cr_assert_lt(timed_code("GET", "/healthz", NULL, 200), 300,
               "the health answers while worker writes are held");
  cr_assert_lt(timed_code("GET", "/v1/requests/h0", TOK_PLATFORM, 200), 300,
               "a request's GET answers");
  cr_assert_lt(timed_code("GET", "/v1/workers/w0", TOK_PLATFORM, 200), 300,
               "a worker's GET answers");
  cr_assert_lt(timed_code("GET", "/v1/workers/wn", TOK_PLATFORM, 404), 300,
               "the new worker is not there before Redis took it");
  cr_assert_lt(worker_lat("w1"), 31.35, "w1 not moved before Redis took it");
  cr_assert_lt(cm_test_mono_ms() - t0, 700, "all of it inside the pause");
  for (int i = 0; i < 3; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(tc[i].code, 200, "%s %s completes after the pause (%ld)",
                 tc[i].method, tc[i].path, tc[i].code);
    cr_assert_geq(tc[i].ms, 500, "%s %s not before it (%lld ms)", tc[i].method,
                  tc[i].path, (long long)tc[i].ms);
  }
  free(bulk);
  cr_assert_eq(code_of("GET", "/v1/workers/wn", TOK_PLATFORM, NULL), 200);
  for (int k = 0; k < 20; k++) { /* the bulk's last round is in Redis */
    if (k == 1)
      continue; /* moved again by the single write after the bulk */
    rep = redisCommand(side, "HGET cm:{dtest}:worker:w%d lat", k);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING, "w%d in Redis", k);
    double want = 31.0 + (HELD_BULK - 20 + k) * 1e-5;
    cr_assert_float_eq(strtod(rep->str, NULL), want, 1e-9, "w%d", k);
    freeReplyObject(rep);
  }
  rep = redisCommand(side, "HGET cm:{dtest}:worker:wn lat");
  cr_assert(rep && rep->type == REDIS_REPLY_STRING, "the new worker in Redis");
  freeReplyObject(rep);
  rep = redisCommand(side, "HGET cm:{dtest}:worker:w1 lat");
  cr_assert(rep && rep->type == REDIS_REPLY_STRING);
  double w1 = strtod(rep->str, NULL);
  freeReplyObject(rep);
  cr_assert(w1 < 31.2 || w1 > 31.3, "w1 moved in Redis (%.6f)", w1);
  cr_assert_float_eq(worker_lat("w1"), w1, 1e-9, "the daemon has Redis's w1");
  redisFree(side);
}

static void *put_weights_timed(void *arg) {
  timed_call *t = arg;
  int64_t t0 = cm_test_mono_ms();
  cm_test_reply r = call("PUT", "/v1/weights", TOK_OPERATOR, t->body);
  t->ms = cm_test_mono_ms() - t0;
  t->code = r.code;
  cm_test_reply_free(&r);
  return NULL;
}

/* A weights PUT is stored on the loop's connection and answered from the
 * SET's reply (docs/async-log.md, step g): while Redis holds it (CLIENT PAUSE
 * WRITE) the daemon answers /healthz and GETs, the weights in force stay
 * the old ones, and the PUT completes 200 after the pause, the new
 * version in Redis and in force. With the synchronous SET the loop
 * waited for the pause's end. */
Test(daemon_redis, a_held_weights_put_does_not_hold_the_loop) {
  add_workers(1);
  submit("g0", "normal", 201);
  redisContext *side = cm_test_side_connect(g_port);
  cr_assert_not_null(side);
  redisReply *rep = redisCommand(side, "CLIENT PAUSE 800 WRITE");
  cr_assert(rep && rep->type == REDIS_REPLY_STATUS);
  freeReplyObject(rep);
  int64_t t0 = cm_test_mono_ms();
  timed_call tc = {"PUT", "/v1/weights", "{\"weights\":{\"workload\":9}}", 0,
                   0};
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, put_weights_timed, &tc), 0);
  sleep_ms(150); /* held by Redis now */
  cr_assert_lt(timed_code("GET", "/healthz", NULL, 200), 300,
               "the health answers while the weights are held");
  cr_assert_lt(timed_code("GET", "/v1/requests/g0", TOK_PLATFORM, 200), 300,
               "a request's GET answers");
  cm_test_reply r = call("GET", "/v1/weights", TOK_OPERATOR, NULL);
  cr_assert_eq(r.code, 200);
  json_int_t v = 0;
  json_unpack(r.json, "{s:I}", "version", &v);
  cm_test_reply_free(&r);
  cr_assert_eq(v, 1, "the old weights are in force until Redis took them");
  cr_assert_lt(cm_test_mono_ms() - t0, 700, "all of it inside the pause");
  pthread_join(th, NULL);
  cr_assert_eq(tc.code, 200, "the PUT completes after the pause (%ld)",
               tc.code);
  cr_assert_geq(tc.ms, 500, "not before it (%lld ms)", (long long)tc.ms);
  r = call("GET", "/v1/weights", TOK_OPERATOR, NULL);
  json_unpack(r.json, "{s:I}", "version", &v);
  cm_test_reply_free(&r);
  cr_assert_eq(v, 2, "in force after");
  rep = redisCommand(side, "GET cm:{dtest}:weights");
  cr_assert(rep && rep->type == REDIS_REPLY_STRING &&
                strstr(rep->str, "\"workload\": 9"),
            "%s", rep ? rep->str : "");
  freeReplyObject(rep);
  redisFree(side);
}

/* The follow of other writers (each step, at least every second) runs on
 * the loop's connection (docs/async.md): with every command held (CLIENT
 * PAUSE ALL, so the follow's reads too) for 1.5 s, at least one step's
 * follow is pending in Redis, and the daemon still answers /healthz and
 * a request's GET at once, then dispatches after the pause. */
Test(daemon_redis, a_held_follow_does_not_hold_the_loop) {
  add_workers(1);
  submit("f0", "emergency", 201);
  cr_assert(wait_state("f0", "offered"));
  redisContext *side = cm_test_side_connect(g_port);
  cr_assert_not_null(side);
  redisReply *rep = redisCommand(side, "CLIENT PAUSE 1500 ALL");
  cr_assert(rep && rep->type == REDIS_REPLY_STATUS);
  freeReplyObject(rep);
  int64_t t0 = cm_test_mono_ms(), worst = 0;
  while (cm_test_mono_ms() - t0 <
         1300) { /* a step (and its follow) falls in here */
    int64_t a = timed_code("GET", "/healthz", NULL, 200);
    int64_t b = timed_code("GET", "/v1/requests/f0", TOK_PLATFORM, 200);
    worst = a > worst ? a : worst;
    worst = b > worst ? b : worst;
    sleep_ms(50);
  }
  cr_assert_lt(worst, 300, "the loop answered within %lld ms at worst",
               (long long)worst);
  sleep_ms(400); /* the pause is over */
  submit("f1", "emergency", 201);
  cr_assert(wait_state("f1", "pending") || wait_state("f1", "offered"));
  redisFree(side);
}

/* The stage trace of the emergency path (stage.c): off unless asked; with
 * CAREMATCHD_STAGE_TRACE, a 0600 file with the emergency's stages, its
 * batch's and the groups sent to Redis, and never the request's id. */
Test(daemon_redis, the_stage_trace_names_stages_not_requests) {
  char path[160];
  snprintf(path, sizeof path, "%s/stages.txt", D.dir);
  cr_assert_eq(WEXITSTATUS(cm_test_daemon_stop(&D, SIGTERM)), 0);
  setenv("CAREMATCHD_STAGE_TRACE", path, 1);
  cm_test_daemon_start(&D, NULL);
  unsetenv("CAREMATCHD_STAGE_TRACE");
  add_workers(2);
  submit("elder-secret-7", "emergency", 201);
  cr_assert(wait_state("elder-secret-7", "offered"));
  cr_assert_eq(WEXITSTATUS(cm_test_daemon_stop(&D, SIGTERM)), 0,
               "the file is written out at exit");
  struct stat st;
  cr_assert_eq(stat(path, &st), 0, "the trace file exists");
  cr_assert_eq(st.st_mode & 0777, 0600);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f);
  char line[256];
  int recv = 0, applied = 0, begin = 0, odone = 0, gsent = 0, gdone = 0;
  while (fgets(line, sizeof line, f)) {
    cr_assert_null(strstr(line, "elder"), "no request id: %s", line);
    char stage[32];
    unsigned long long a;
    long long t;
    cr_assert_eq(sscanf(line, "%lld %31s %llu", &t, stage, &a), 3, "%s", line);
    recv += !strcmp(stage, "recv") && a == 1;
    applied += !strcmp(stage, "applied") && a == 1;
    begin += !strcmp(stage, "begin") || !strcmp(stage, "ubegin");
    odone += !strcmp(stage, "odone");
    gsent += !strcmp(stage, "gsent");
    gdone += !strcmp(stage, "gdone");
  }
  fclose(f);
  cr_assert(recv == 1 && applied == 1, "the emergency's POST and its commit");
  cr_assert(begin >= 1 && odone >= 1, "its batch and its offers' commit");
  cr_assert(gsent >= 2 && gsent == gdone, "groups sent %d, answered %d", gsent,
            gdone);
}

static void *submit_emergency(void *arg) {
  timed_write *w = arg;
  char body[192];
  snprintf(body, sizeof body,
           "{\"id\":\"%s\",\"lat\":31.23,\"lon\":121.47,\"skills\":"
           "[\"nurse\"],\"urgency\":\"emergency\"}",
           w->id);
  cm_test_reply r = call("POST", "/v1/requests", TOK_PLATFORM, body);
  w->code = r.code;
  cm_test_reply_free(&r);
  return NULL;
}

/* One durable write (docs/async.md): Redis holds writes (CLIENT PAUSE
 * WRITE) while an emergency is created; its batch does not wait for the
 * create's answer: it begins, is solved and proposes its offer during the
 * pause (carematch_batches_total one up; before, the batch's follow went
 * out behind the create and no batch ran until the pause ended). After
 * the pause Redis runs the create, then the offer sent behind it: 201,
 * offered, version 2 in Redis. */
Test(daemon_redis, an_emergencys_batch_does_not_wait_for_its_create) {
  add_workers(1);
  sleep_ms(1200); /* a step has followed Redis (at least once a second) */
  double batches = cm_test_metric(D.port, "carematch_batches_total");
  cr_assert_geq(batches, 0);
  redisContext *side = cm_test_side_connect(g_port);
  cr_assert_not_null(side);
  redisReply *rep = redisCommand(side, "CLIENT PAUSE 1200 WRITE");
  cr_assert(rep && rep->type == REDIS_REPLY_STATUS);
  freeReplyObject(rep);
  int64_t t0 = cm_test_mono_ms();
  pthread_t th;
  timed_write w = {.id = "u1"};
  cr_assert_eq(pthread_create(&th, NULL, submit_emergency, &w), 0);
  double during = batches;
  while (during < batches + 1 && cm_test_mono_ms() - t0 < 900) {
    sleep_ms(20);
    during = cm_test_metric(D.port, "carematch_batches_total");
  }
  int64_t seen = cm_test_mono_ms() - t0;
  cr_assert_eq(during, batches + 1,
               "the emergency's batch ran while its create was held");
  cr_assert_lt(seen, 1000, "inside the pause");
  pthread_join(th, NULL);
  cr_assert_eq(w.code, 201, "the create, answered after the pause");
  cr_assert(wait_state("u1", "offered"));
  rep = redisCommand(side, "HGET cm:{dtest}:req:u1 ver");
  cr_assert(rep && rep->type == REDIS_REPLY_STRING);
  cr_assert_str_eq(rep->str, "2", "created, then offered, in Redis");
  freeReplyObject(rep);
  rep = redisCommand(side, "HGET cm:{dtest}:worker:w0 jobs");
  cr_assert(rep && rep->type == REDIS_REPLY_STRING);
  cr_assert_str_eq(rep->str, "1");
  freeReplyObject(rep);
  redisFree(side);
}

/* Calls that kick the step timer (a worker's PUT, every 100 ms here) do
 * not put the step off: with nothing due, the daemon still follows Redis
 * at least once a second (the stage trace's `followed`). Each kick used to
 * re-arm the one-second timer from now, so a steady stream of them
 * starved the follow (seen in bench_http: no follow during the staff's
 * registration, so the first emergency had no recent follow). */
Test(daemon_redis, kicks_do_not_starve_the_follow) {
  char path[160];
  snprintf(path, sizeof path, "%s/kicks.txt", D.dir);
  cr_assert_eq(WEXITSTATUS(cm_test_daemon_stop(&D, SIGTERM)), 0);
  setenv("CAREMATCHD_STAGE_TRACE", path, 1);
  cm_test_daemon_start(&D, NULL);
  unsetenv("CAREMATCHD_STAGE_TRACE");
  sleep_ms(1200); /* the start's steps */
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  long long t0 = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
  for (int i = 0; i < 35; i++) { /* 3.5 s of PUTs, 100 ms apart */
    char wpath[64], body[160];
    snprintf(wpath, sizeof wpath, "/v1/workers/k%d", i);
    snprintf(body, sizeof body,
             "{\"skills\":[\"nurse\"],\"lat\":31.23,\"lon\":121.47}");
    cr_assert_eq(code_of("PUT", wpath, TOK_PLATFORM, body), 200);
    sleep_ms(100);
  }
  clock_gettime(CLOCK_MONOTONIC, &ts);
  long long t1 = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
  cr_assert_eq(WEXITSTATUS(cm_test_daemon_stop(&D, SIGTERM)), 0);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f);
  char line[256];
  int followed = 0, kicks = 0;
  while (fgets(line, sizeof line, f)) {
    long long t;
    char stage[32];
    if (sscanf(line, "%lld %31s", &t, stage) != 2 || t < t0 || t > t1)
      continue;
    followed += !strcmp(stage, "followed");
    kicks += !strcmp(stage, "kick");
  }
  fclose(f);
  cr_assert_geq(kicks, 30, "the PUTs kicked (%d)", kicks);
  cr_assert_geq(followed, 2, "followed %d times in 3.5 s of kicks", followed);
}
