/* test_whatif.c -- POST /v1/weights/whatif on the real carematchd over
 * loopback: a trace recorded from load sent over HTTP, replayed under
 * weights that must change the outcome (and in which direction), the
 * current weights' replay equal to one with them given explicitly, bad
 * bodies refused naming the field with nothing changed, no trace or an
 * empty window refused 409, a second what-if while one runs refused 503
 * with Retry-After, and the region's route. No Criterion .timeout (see
 * test_store_redis.c). */
#include <criterion/criterion.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "carematch/sim_trace.h"
#include "daemon_proc.h"

static cm_test_daemon D;

static void start(int trace, const char *extra_ini) {
  cm_test_daemon_config(&D, extra_ini);
  char path[256];
  snprintf(path, sizeof path, "%s/trace.jsonl", D.dir);
  const char *args[] = {"--trace", path, NULL};
  cm_test_daemon_start(&D, trace ? args : NULL);
}

static void teardown(void) {
  cm_test_daemon_cleanup(&D);
}

/* A small town: workers nurses on shift on a grid, then requests around
 * them (every fifth urgent, the rest normal), all over HTTP, so the trace
 * holds them. */
static void load(const char *v1, int workers, int requests) {
  char path[96], body[256];
  for (int i = 0; i < workers; i++) {
    snprintf(path, sizeof path, "%s/workers/w%d", v1, i);
    snprintf(body, sizeof body,
             "{\"skills\":[\"nurse\"],\"lat\":%.6f,\"lon\":%.6f}",
             31.20 + 0.01 * (i % 6), 121.44 + 0.01 * (i / 6));
    cm_test_ok_or_created(D.port, "PUT", path, TOK_PLATFORM, body);
  }
  for (int q = 0; q < requests; q++) {
    snprintf(path, sizeof path, "%s/requests", v1);
    snprintf(body, sizeof body,
             "{\"id\":\"q%d\",\"lat\":%.6f,\"lon\":%.6f,\"skills\":"
             "[\"nurse\"],\"urgency\":\"%s\"}",
             q, 31.20 + 0.007 * (q % 9), 121.44 + 0.006 * (q / 9 % 7),
             q % 5 == 0 ? "urgent" : "normal");
    cm_test_ok_or_created(D.port, "POST", path, TOK_PLATFORM, body);
  }
}

/* served, summed over the urgencies of K */
static int served(const json_t *k) {
  int n = 0;
  const char *u[] = {"emergency", "urgent", "normal", "scheduled"};
  for (int i = 0; i < 4; i++) {
    json_t *x = json_object_get(k, u[i]);
    cr_assert(json_is_object(x), "%s missing", u[i]);
    cr_assert_eq(json_array_size(json_object_get(x, "curve")), 30);
    n += (int)json_integer_value(json_object_get(x, "served"));
  }
  return n;
}

static double km(const json_t *k) {
  return json_number_value(json_object_get(json_object_get(k, "totals"), "km"));
}

static json_int_t weights_version(void) {
  cm_test_reply r =
      cm_test_expect(D.port, 200, "GET", "/v1/weights", TOK_OPERATOR, NULL);
  json_int_t v = json_integer_value(json_object_get(r.json, "version"));
  cm_test_reply_free(&r);
  return v;
}

TestSuite(whatif, .fini = teardown);

/* Travel priced a million a minute: leaving a request waiting is cheaper
 * than sending anyone, so the proposed day serves fewer and travels less;
 * the current weights given explicitly replay exactly the "current" day. */
Test(whatif, proposed_weights_change_the_replay_and_current_is_reproduced) {
  start(1, NULL);
  load("/v1", 12, 40);
  json_int_t version = weights_version();
  cm_test_reply r =
      cm_test_expect(D.port, 200, "POST", "/v1/weights/whatif", TOK_OPERATOR,
                     "{\"weights\":{\"travel\":1e6,\"aging_per_min\":0,"
                     "\"sla_risk\":{\"normal\":0,\"urgent\":0},"
                     "\"sla_late_per_min\":{\"normal\":0,\"urgent\":0}},"
                     "\"hours\":1}");
  json_t *cur = json_object_get(r.json, "current"),
         *pro = json_object_get(r.json, "proposed");
  cr_assert_eq(json_integer_value(json_object_get(r.json, "requests")), 40,
               "%s", r.text);
  cr_assert_eq(json_real_value(json_object_get(r.json, "hours")), 1.0);
  cr_assert_lt(json_integer_value(json_object_get(r.json, "from_ms")),
               json_integer_value(json_object_get(r.json, "until_ms")));
  int s_cur = served(cur), s_pro = served(pro);
  cr_assert_gt(s_cur, 0, "the current weights serve: %s", r.text);
  cr_assert_lt(s_pro, s_cur, "travel at 1e6 serves fewer: %s", r.text);
  cr_assert_lt(km(pro), km(cur), "and travels less: %s", r.text);
  /* the curve's last point is the share served (unserved never arrive) */
  json_t *normal = json_object_get(cur, "normal");
  json_t *last = json_array_get(json_object_get(normal, "curve"), 29);
  double share =
      (double)json_integer_value(json_object_get(normal, "served")) /
      (double)json_integer_value(json_object_get(normal, "requests"));
  cr_assert_float_eq(json_real_value(json_array_get(last, 1)), share, 1e-9,
                     "%s", r.text);

  /* the weights applied did not change */
  cm_test_reply g =
      cm_test_expect(D.port, 200, "GET", "/v1/weights", TOK_OPERATOR, NULL);
  cr_assert_eq(json_integer_value(json_object_get(g.json, "version")), version);
  json_t *body = json_pack("{s:O,s:f}", "weights",
                           json_object_get(g.json, "weights"), "hours", 1.0);
  char *text = json_dumps(body, JSON_COMPACT);
  cm_test_reply r2 = cm_test_expect(D.port, 200, "POST", "/v1/weights/whatif",
                                    TOK_OPERATOR, text);
  cr_assert(json_equal(json_object_get(r2.json, "proposed"), cur),
            "the current weights given explicitly: %s\nvs %s", r2.text, r.text);
  cr_assert(json_equal(json_object_get(r2.json, "current"), cur));
  free(text);
  json_decref(body);
  cm_test_reply_free(&g);
  cm_test_reply_free(&r2);
  cm_test_reply_free(&r);
}

/* Each bad body names its field, and nothing changes. */
Test(whatif, bad_bodies_are_refused_naming_the_field) {
  start(1, NULL);
  load("/v1", 2, 2);
  json_int_t version = weights_version();
  struct {
    const char *body;
    long code;
    const char *field;
  } cases[] = {
      {"{\"hours\":3}", 400, "$.weights"},
      {"{\"weights\":{\"travel\":-1}}", 422, "$.weights.travel"},
      {"{\"weights\":{\"nope\":1}}", 422, "$.weights.nope"},
      {"{\"weights\":{},\"hours\":0.1}", 422, "$.hours"},
      {"{\"weights\":{},\"hours\":25}", 422, "$.hours"},
      {"{\"weights\":{},\"hours\":\"3\"}", 400, "$.hours"},
      {"{\"weights\":[],\"hours\":3}", 400, "$.weights"},
      {"{\"weights\":{},\"minutes\":3}", 422, "$.minutes"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    cm_test_reply r = cm_test_http(D.port, "POST", "/v1/weights/whatif",
                                   TOK_OPERATOR, cases[i].body, NULL);
    cr_expect_eq(r.code, cases[i].code, "%s: %ld %s", cases[i].body, r.code,
                 r.text);
    cr_expect_str_eq(cm_test_error_field(&r), cases[i].field, "%s: %s",
                     cases[i].body, r.text);
    cm_test_reply_free(&r);
  }
  cm_test_reply r = cm_test_http(D.port, "POST", "/v1/weights/whatif",
                                 TOK_PLATFORM, "{\"weights\":{}}", NULL);
  cr_expect_eq(r.code, 403, "operators only: %s", r.text);
  cm_test_reply_free(&r);
  cr_expect_eq(weights_version(), version, "nothing changed");
}

/* No trace: nothing to replay. A trace whose window holds no request:
 * neither. */
Test(whatif, no_trace_or_an_empty_window_is_a_conflict) {
  start(0, NULL);
  cm_test_reply r = cm_test_expect(D.port, 409, "POST", "/v1/weights/whatif",
                                   TOK_OPERATOR, "{\"weights\":{}}");
  cr_expect(strstr(r.text, "trace"), "%s", r.text);
  cm_test_reply_free(&r);
  cr_assert_eq(cm_test_daemon_stop(&D, SIGTERM), 0);
  cm_test_daemon_cleanup(&D);
  start(1, NULL);
  cm_test_ok_or_created(D.port, "PUT", "/v1/workers/w0", TOK_PLATFORM,
                        "{\"skills\":[\"nurse\"],\"lat\":31.2,\"lon\":121.4}");
  r = cm_test_expect(D.port, 409, "POST", "/v1/weights/whatif", TOK_OPERATOR,
                     "{\"weights\":{}}");
  cr_expect_str_eq(cm_test_error_field(&r), "$.hours", "%s", r.text);
  cm_test_reply_free(&r);
}

/* A gauge or counter of /metrics (-1 when absent). */
static long long metric(const char *name) {
  cm_test_reply r =
      cm_test_http(D.port, "GET", "/metrics", TOK_METRICS, NULL, NULL);
  cr_assert_eq(r.code, 200, "%s", r.text);
  long long v = -1;
  char want[128];
  snprintf(want, sizeof want, "\n%s ", name);
  const char *p = strstr(r.text, want);
  if (p)
    v = strtoll(p + strlen(want), NULL, 10);
  cm_test_reply_free(&r);
  return v;
}

/* POST body to path over a raw connection: the whole reply into buf. */
static void raw_post(const char *path, const char *body, char *buf, size_t n) {
  char req[1024];
  int len = snprintf(req, sizeof req,
                     "POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "Authorization: Bearer %s\r\nContent-Type: "
                     "application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     path, TOK_OPERATOR, strlen(body), body);
  int fd = cm_test_dial(D.port);
  cr_assert_eq(write(fd, req, (size_t)len), (ssize_t)len);
  size_t got = 0;
  for (int i = 0; i < 500 && got < n - 1; i++) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 10) != 1)
      continue;
    ssize_t k = read(fd, buf + got, n - got - 1);
    if (k <= 0)
      break;
    got += (size_t)k;
  }
  buf[got] = '\0';
  close(fd);
}

typedef struct {
  cm_test_reply r;
} first_call;

static void *call_whatif(void *arg) {
  first_call *f = arg;
  f->r = cm_test_http(D.port, "POST", "/v1/weights/whatif", TOK_OPERATOR,
                      "{\"weights\":{\"travel\":3}}", NULL);
  return NULL;
}

/* One what-if at a time: a second one while the first runs is refused 503
 * with Retry-After, the loop keeps answering meanwhile, and the first one
 * then answers 200. */
Test(whatif, a_second_one_while_one_runs_is_refused) {
  start(1, NULL);
  load("/v1", 30, 150);
  cr_assert_eq(metric("carematch_whatif_running"), 0);
  first_call f;
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, call_whatif, &f), 0);
  int seen = 0;
  for (int i = 0; i < 20000 && !seen; i++) {
    seen = metric("carematch_whatif_running") == 1;
    cr_assert(seen || metric("carematch_whatif_total") == 0,
              "the first what-if ended before it was seen running");
  }
  cr_assert(seen);
  cm_test_reply h = cm_test_http(D.port, "GET", "/healthz", NULL, NULL, NULL);
  cr_expect_eq(h.code, 200, "the loop answers meanwhile");
  cm_test_reply_free(&h);
  char buf[4096];
  raw_post("/v1/weights/whatif", "{\"weights\":{}}", buf, sizeof buf);
  cr_expect(strncmp(buf, "HTTP/1.1 503", 12) == 0, "%s", buf);
  cr_expect(strstr(buf, "Retry-After: "), "%s", buf);
  cr_expect(strstr(buf, "one at a time"), "%s", buf);
  pthread_join(t, NULL);
  cr_assert_eq(f.r.code, 200, "%s", f.r.text);
  cm_test_reply_free(&f.r);
  cr_expect_eq(metric("carematch_whatif_running"), 0);
  cr_expect_eq(metric("carematch_whatif_total"), 1);
  cr_expect_eq(metric("carematch_whatif_refused_total"), 1);
}

/* SIGTERM while a replay runs: the replay gives up, the call is answered
 * (503, stopping; 200 if it had just ended) before the daemon exits
 * cleanly. */
Test(whatif, a_stop_while_one_runs_ends_cleanly) {
  start(1, NULL);
  load("/v1", 30, 150);
  first_call f;
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, call_whatif, &f), 0);
  int seen = 0;
  for (int i = 0; i < 20000 && !seen; i++)
    seen = metric("carematch_whatif_running") == 1;
  cr_assert(seen, "the what-if was never seen running");
  cr_expect_eq(cm_test_daemon_stop(&D, SIGTERM), 0, "a clean exit");
  pthread_join(t, NULL);
  cr_expect(f.r.code == 503 || f.r.code == 200, "%ld %s", f.r.code, f.r.text);
  if (f.r.code == 503)
    cr_expect(strstr(f.r.text, "stopping"), "%s", f.r.text);
  cm_test_reply_free(&f.r);
}

/* Per region: the region's own lines only. */
Test(whatif, per_region_replays_the_regions_lines) {
  start(1, "[store]\nregions = north,south\n");
  load("/v1/regions/north", 6, 10);
  load("/v1/regions/south", 6, 4);
  cm_test_reply r =
      cm_test_expect(D.port, 200, "POST", "/v1/regions/south/weights/whatif",
                     TOK_OPERATOR, "{\"weights\":{}}");
  cr_assert_eq(json_integer_value(json_object_get(r.json, "requests")), 4, "%s",
               r.text);
  cm_test_reply_free(&r);
  r = cm_test_expect(D.port, 200, "POST", "/v1/regions/north/weights/whatif",
                     TOK_OPERATOR, "{\"weights\":{}}");
  cr_assert_eq(json_integer_value(json_object_get(r.json, "requests")), 10,
               "%s", r.text);
  cm_test_reply_free(&r);
}

/* ---- the trace reader (cm_sim_trace_read) with a window --------------- */

#define T0 1796400000000LL /* a midnight, UTC */
#define HOUR 3600000LL

/* A two-region trace by hand: what came before the window says where
 * staff were and whether on shift; a torn line; a request of the other
 * region; one after the window. */
static void write_trace(const char *path) {
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fprintf(f,
          "{\"at_ms\":%lld,\"route\":\"PUT /v1/workers/{id}\",\"id\":\"a\","
          "\"region\":\"north\",\"body\":{\"skills\":[\"nurse\"],\"lat\":31.0,"
          "\"lon\":121.0}}\n",
          T0);
  fprintf(f,
          "{\"at_ms\":%lld,\"route\":\"PUT /v1/workers/{id}\",\"id\":\"b\","
          "\"region\":\"north\",\"body\":{\"skills\":[\"nurse\"],\"lat\":31.1,"
          "\"lon\":121.1,\"on_shift\":false}}\n",
          T0 + 100);
  fprintf(f,
          "{\"at_ms\":%lld,\"route\":\"POST /v1/workers/{id}/position\","
          "\"id\":\"a\",\"region\":\"north\",\"body\":{\"lat\":31.5,"
          "\"lon\":121.5}}\n",
          T0 + 200);
  fprintf(f, "{\"at_ms\":%lld,\"route\":\"POST /v1/requ\n", T0 + 300);
  const struct {
    long long at;
    const char *id, *region;
  } q[] = {{T0 + HOUR + 60000, "x1", "north"},
           {T0 + HOUR + 120000, "x2", "south"},
           {T0 + HOUR + 180000, "x3", "north"},
           {T0 + 2 * HOUR + 1, "x4", "north"}};
  for (int i = 0; i < 4; i++)
    fprintf(f,
            "{\"at_ms\":%lld,\"route\":\"POST /v1/requests\",\"id\":\"\","
            "\"region\":\"%s\",\"body\":{\"id\":\"%s\",\"lat\":31.2,\"lon\":"
            "121.2,\"skills\":[\"nurse\"],\"urgency\":\"urgent\"}}\n",
            q[i].at, q[i].region, q[i].id);
  fclose(f);
}

Test(sim_trace, a_window_of_one_region_from_what_came_before) {
  char path[] = "/tmp/cm_whatif_trace_XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  close(fd);
  write_trace(path);
  cm_sim_trace_window w;
  cm_sim_trace_info info;
  cm_error err;
  cm_sim_trace_window_init(&w);
  w.from_ms = T0 + HOUR;
  w.until_ms = T0 + 2 * HOUR;
  w.region = "north";
  cm_sim_scenario *s = cm_sim_trace_read(path, &w, &info, &err);
  cr_assert_not_null(s, "%s", err.message);
  cr_expect_eq(info.lines_skipped, 1, "the torn line is left out");
  cr_assert_eq(s->n_requests, 2, "x1 and x3: not the south's, not after");
  cr_expect_eq(s->requests[0].at_ms, 60000, "time 0 is the window's start");
  cr_expect_eq(s->requests[1].at_ms, 180000);
  cr_assert_eq(s->n_workers, 2);
  cr_expect_float_eq(s->workers[0].lat, 31.5, 1e-9,
                     "home: where a was last seen before the window");
  cr_expect_eq(s->workers[0].shift_start_min, 0, "on when it opened");
  cr_expect_gt(s->workers[0].shift_end_min, 60);
  cr_expect_eq(s->workers[1].shift_end_min, 0, "b was off: never on in it");
  cr_expect_eq(info.first_ms, T0 + HOUR + 60000);
  cm_sim_scenario_free(s);

  w.max_requests = 1; /* the latest one */
  s = cm_sim_trace_read(path, &w, &info, &err);
  cr_assert_not_null(s, "%s", err.message);
  cr_expect_eq(s->n_requests, 1);
  cr_expect_eq(info.requests_dropped, 1);
  cr_expect_eq(info.first_ms, T0 + HOUR + 180000);
  cm_sim_scenario_free(s);

  w.from_ms = T0 + 5 * HOUR; /* nothing sent then */
  w.until_ms = T0 + 6 * HOUR;
  cr_expect_null(cm_sim_trace_read(path, &w, NULL, &err));
  cr_expect_eq(err.code, CM_E_CONFLICT, "%s", err.message);

  /* the whole first day: the torn line is an error naming it */
  cr_expect_null(cm_sim_trace_read(path, NULL, NULL, &err));
  cr_expect_eq(err.code, CM_E_INVALID, "%s", err.message);
  cr_expect(strstr(err.message, "trace line 4"), "%s", err.message);
  unlink(path);
  cr_expect_null(cm_sim_trace_read(path, NULL, NULL, &err));
  cr_expect_eq(err.code, CM_E_IO);
}
