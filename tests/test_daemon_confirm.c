/* test_daemon_confirm.c -- confirmation before dispatch over HTTP, on the
 * real carematchd (libcurl): a request submitted with confirm operator
 * waits with its hold and candidates; an operator's confirm answers with
 * the offer already made, the events naming the operator; dismiss closes
 * it with a reason; the other states are 409 naming the state, an unknown
 * id 404, a bad body 400/422 naming the field, and none of them changes
 * anything; the per-region paths; [batch] confirm_hold_ms lapses the
 * hold; on Redis a restarted daemon finds the awaiting request and its
 * hold and the elder's address (which GET and the list return and the
 * trace and the log never hold). No Criterion .timeout (see
 * test_store_redis.c). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon_proc.h"
#include "proc.h"
#include "redis_server.h"

static cm_test_daemon D;
static cm_test_region g_rg; /* the redis suite's, maybe on a shared server */

static void start(const char *extra_ini) {
  cm_test_daemon_config(&D, extra_ini);
  cm_test_daemon_start(&D, NULL);
}

static void stop(void) {
  cm_test_daemon_cleanup(&D);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void add_worker(const char *id, double dlat) {
  char path[64], body[192];
  snprintf(path, sizeof path, "/v1/workers/%s", id);
  snprintf(body, sizeof body,
           "{\"skills\":[\"nurse\"],\"lat\":%.6f,\"lon\":121.47,"
           "\"capacity\":1}",
           31.23 + dlat);
  cm_test_reply r =
      cm_test_expect(D.port, 200, "PUT", path, TOK_PLATFORM, body);
  cm_test_reply_free(&r);
}

static void submit(const char *id, const char *confirm) {
  char body[256];
  snprintf(body, sizeof body,
           "{\"id\":\"%s\",\"lat\":31.23,\"lon\":121.47,\"skills\":"
           "[\"nurse\"],\"urgency\":\"emergency\"%s%s%s}",
           id, confirm ? ",\"confirm\":\"" : "", confirm ? confirm : "",
           confirm ? "\"" : "");
  cm_test_reply r =
      cm_test_expect(D.port, 201, "POST", "/v1/requests", TOK_PLATFORM, body);
  cm_test_reply_free(&r);
}

/* GET the request (its "request" object, a new reference). */
static json_t *get(const char *id) {
  char path[96];
  snprintf(path, sizeof path, "/v1/requests/%s", id);
  cm_test_reply r =
      cm_test_expect(D.port, 200, "GET", path, TOK_OPERATOR, NULL);
  json_t *o = json_incref(json_object_get(r.json, "request"));
  cm_test_reply_free(&r);
  return o;
}

static const char *str(const json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  return s ? s : "";
}

/* Submitted with confirm operator: awaiting, with its hold and its
 * candidates, never offered; the named operator's confirm answers with
 * the offer to the held worker; the events name her. */
Test(daemon_confirm, confirm_answers_with_the_offer_made, .fini = stop) {
  start(NULL);
  add_worker("w1", 0.001);
  add_worker("w2", 0.01);
  int fd = cm_test_stream_open(D.port, "/v1/events", TOK_OPERATOR);
  char *buf = calloc(1, 65536);
  cr_assert(cm_test_stream_read_until(fd, "carematchd events", buf, 65536),
            "%s", buf);
  submit("c1", "operator");
  sleep_ms(400); /* batches would have offered an emergency by now */
  json_t *v = get("c1");
  cr_assert_str_eq(str(v, "state"), "awaiting_confirmation");
  cr_assert_str_eq(str(v, "confirm"), "operator");
  cr_assert_eq(json_array_size(json_object_get(v, "workers")), 0);
  json_t *hold = json_object_get(v, "hold");
  cr_assert_str_eq(str(hold, "worker"), "w1");
  cr_assert_gt(json_integer_value(json_object_get(hold, "until_ms")), 0);
  json_t *cands = json_object_get(v, "candidates");
  cr_assert_eq(json_array_size(cands), 2);
  cr_assert_str_eq(str(json_array_get(cands, 0), "worker"), "w1");
  cr_assert_str_eq(str(json_array_get(cands, 1), "worker"), "w2");
  cr_assert_gt(
      json_real_value(json_object_get(json_array_get(cands, 0), "travel_min")),
      0);
  json_decref(v);
  cm_test_reply r = cm_test_expect(
      D.port, 200, "POST", "/v1/requests/c1/confirm", TOK_OPERATOR_ANN, NULL);
  const char *state = "", *worker = "";
  json_unpack(r.json, "{s:{s:s,s:[{s:s}]}}", "request", "state", &state,
              "workers", "id", &worker);
  cr_assert_str_eq(state, "offered", "%s", r.text);
  cr_assert_str_eq(worker, "w1");
  cr_assert_null(json_object_get(json_object_get(r.json, "request"), "hold"));
  cm_test_reply_free(&r);
  cr_assert(cm_test_stream_read_until(fd, "event: offered", buf, 65536), "%s",
            buf);
  char *conf = strstr(buf, "event: confirmed");
  cr_assert_not_null(conf, "%s", buf);
  cr_assert(strstr(conf, "\"actor\":\"ann\""), "%s", buf);
  cr_assert(strstr(buf, "\"to\":\"awaiting_confirmation\""), "%s", buf);
  close(fd);
  free(buf);
  /* an operator's override answers with the same request (it was once a
     one-button call) */
  r = cm_test_expect(D.port, 200, "POST", "/v1/requests/c1/reassign",
                     TOK_OPERATOR_ANN, "{\"worker\":\"w2\"}");
  json_t *req = json_object_get(r.json, "request");
  cr_assert_str_eq(str(req, "pinned_worker"), "w2", "%s", r.text);
  cr_assert_str_eq(str(req, "confirm"), "operator", "%s", r.text);
  cm_test_reply_free(&r);
}

/* The errors: role, unknown id, another state, bad bodies; none changes
 * the request. Then dismiss closes it, and again is 409. */
Test(daemon_confirm, dismiss_and_the_errors, .fini = stop) {
  char trace[96], ini[160];
  snprintf(trace, sizeof trace, "/tmp/cm_dconfirm_trace_%ld", (long)getpid());
  snprintf(ini, sizeof ini, "[trace]\nfile = %s\n", trace);
  unlink(trace);
  start(ini);
  add_worker("w1", 0.001);
  submit("c2", "operator");
  submit("plain", NULL);
  cm_test_reply r = cm_test_expect(
      D.port, 403, "POST", "/v1/requests/c2/confirm", TOK_PLATFORM, NULL);
  cm_test_reply_free(&r);
  r = cm_test_expect(D.port, 404, "POST", "/v1/requests/nope/confirm",
                     TOK_OPERATOR, NULL);
  cm_test_reply_free(&r);
  r = cm_test_expect(D.port, 404, "POST", "/v1/requests/nope/dismiss",
                     TOK_OPERATOR, "{\"reason\":\"other\"}");
  cm_test_reply_free(&r);
  r = cm_test_expect(D.port, 409, "POST", "/v1/requests/plain/confirm",
                     TOK_OPERATOR, "{}");
  cr_assert_str_eq(cm_test_error_code(&r), "conflict");
  cr_assert(strstr(r.text, "pending") || strstr(r.text, "offered"), "%s",
            r.text);
  cm_test_reply_free(&r);
  r = cm_test_expect(D.port, 422, "POST", "/v1/requests/c2/confirm",
                     TOK_OPERATOR, "{\"worker\":\"w1\"}");
  cr_assert_str_eq(cm_test_error_field(&r), "$.worker");
  cm_test_reply_free(&r);
  r = cm_test_expect(D.port, 400, "POST", "/v1/requests/c2/dismiss",
                     TOK_OPERATOR, NULL);
  cr_assert_str_eq(cm_test_error_field(&r), "$.reason");
  cm_test_reply_free(&r);
  r = cm_test_expect(D.port, 400, "POST", "/v1/requests/c2/dismiss",
                     TOK_OPERATOR, "{}");
  cr_assert_str_eq(cm_test_error_field(&r), "$.reason");
  cm_test_reply_free(&r);
  r = cm_test_expect(D.port, 422, "POST", "/v1/requests/c2/dismiss",
                     TOK_OPERATOR, "{\"reason\":\"bored\"}");
  cr_assert_str_eq(cm_test_error_field(&r), "$.reason");
  cm_test_reply_free(&r);
  char big[400];
  snprintf(big, sizeof big, "{\"reason\":\"other\",\"note\":\"%0*d\"}", 201, 0);
  r = cm_test_expect(D.port, 422, "POST", "/v1/requests/c2/dismiss",
                     TOK_OPERATOR, big);
  cr_assert_str_eq(cm_test_error_field(&r), "$.note");
  cm_test_reply_free(&r);
  r = cm_test_expect(D.port, 422, "POST", "/v1/requests", TOK_PLATFORM,
                     "{\"id\":\"c3\",\"lat\":31.23,\"lon\":121.47,\"skills\":"
                     "[\"nurse\"],\"confirm\":\"maybe\"}");
  cr_assert_str_eq(cm_test_error_field(&r), "$.confirm");
  cm_test_reply_free(&r);
  json_t *v = get("c2");
  cr_assert_str_eq(str(v, "state"), "awaiting_confirmation");
  cr_assert_eq(json_integer_value(json_object_get(v, "version")), 1);
  json_decref(v);
  r = cm_test_expect(D.port, 200, "POST", "/v1/requests/c2/dismiss",
                     TOK_OPERATOR_ANN,
                     "{\"reason\":\"false_alarm\",\"note\":\"the cat\"}");
  const char *state = "", *why = "";
  json_unpack(r.json, "{s:{s:s,s:s}}", "request", "state", &state,
              "dismiss_reason", &why);
  cr_assert_str_eq(state, "dismissed", "%s", r.text);
  cr_assert_str_eq(why, "false_alarm");
  cm_test_reply_free(&r);
  r = cm_test_expect(D.port, 409, "POST", "/v1/requests/c2/dismiss",
                     TOK_OPERATOR, "{\"reason\":\"duplicate\"}");
  cr_assert(strstr(r.text, "dismissed"), "%s", r.text);
  cm_test_reply_free(&r);
  r = cm_test_expect(D.port, 409, "POST", "/v1/requests/c2/confirm",
                     TOK_OPERATOR, NULL);
  cm_test_reply_free(&r);
  /* the note is not kept, nor logged, nor traced; the dismissal is */
  char line[4096];
  const char *files[] = {D.log, trace};
  int dismissals = 0;
  for (int i = 0; i < 2; i++) {
    FILE *f = fopen(files[i], "r");
    cr_assert(f || i == 0, "%s", files[i]);
    while (f && fgets(line, sizeof line, f)) {
      cr_assert_null(strstr(line, "the cat"), "%s", line);
      dismissals += i == 1 && strstr(line, "/dismiss") != NULL;
    }
    if (f)
      fclose(f);
  }
  cr_assert_eq(dismissals, 1);
  unlink(trace);
}

/* The elder's address (optional, 1..200 bytes of UTF-8 without control
 * characters, else 422 naming $.address) is kept, returned by GET and the
 * list, part of the same-content check, and never in the trace nor the
 * log. */
#define ADDR "12 Rose Lane, Flat 3"
Test(daemon_confirm, the_address_is_kept_and_never_traced, .fini = stop) {
  char trace[96], ini[160];
  snprintf(trace, sizeof trace, "/tmp/cm_daddr_trace_%ld", (long)getpid());
  snprintf(ini, sizeof ini, "[trace]\nfile = %s\n", trace);
  unlink(trace);
  start(ini);
  add_worker("w1", 0.001);
  static const char *const bad[] = {"\"\"", "7", "\"Rose\\nLane\"",
                                    "\"Rose\\u0085Lane\"", NULL};
  char body[512];
  for (int i = 0; bad[i]; i++) {
    snprintf(body, sizeof body,
             "{\"id\":\"a1\",\"lat\":31.23,\"lon\":121.47,\"skills\":"
             "[\"nurse\"],\"confirm\":\"operator\",\"address\":%s}",
             bad[i]);
    cm_test_reply r =
        cm_test_expect(D.port, 422, "POST", "/v1/requests", TOK_PLATFORM, body);
    cr_assert_str_eq(cm_test_error_field(&r), "$.address", "%s", bad[i]);
    cm_test_reply_free(&r);
  }
  char lng[240];
  memset(lng, 'x', 201);
  lng[201] = '\0';
  snprintf(body, sizeof body,
           "{\"id\":\"a1\",\"lat\":31.23,\"lon\":121.47,\"skills\":"
           "[\"nurse\"],\"address\":\"%s\"}",
           lng);
  cm_test_reply r =
      cm_test_expect(D.port, 422, "POST", "/v1/requests", TOK_PLATFORM, body);
  cr_assert_str_eq(cm_test_error_field(&r), "$.address");
  cm_test_reply_free(&r);
  const char *ok_body =
      "{\"id\":\"a1\",\"lat\":31.23,\"lon\":121.47,\"skills\":"
      "[\"nurse\"],\"urgency\":\"emergency\",\"confirm\":\"operator\","
      "\"address\":\"" ADDR "\"}";
  r = cm_test_expect(D.port, 201, "POST", "/v1/requests", TOK_PLATFORM,
                     ok_body);
  cm_test_reply_free(&r);
  r = cm_test_http(D.port, "POST", "/v1/requests", TOK_PLATFORM, ok_body, NULL);
  cr_assert(r.code == 200 || r.code == 201, "the same content: %ld", r.code);
  cm_test_reply_free(&r);
  r = cm_test_expect(D.port, 409, "POST", "/v1/requests", TOK_PLATFORM,
                     "{\"id\":\"a1\",\"lat\":31.23,\"lon\":121.47,\"skills\":"
                     "[\"nurse\"],\"urgency\":\"emergency\",\"confirm\":"
                     "\"operator\",\"address\":\"13 Rose Lane\"}");
  cm_test_reply_free(&r);
  json_t *v = get("a1");
  cr_assert_str_eq(str(v, "address"), ADDR);
  json_decref(v);
  r = cm_test_expect(D.port, 200, "GET", "/v1/requests", TOK_OPERATOR, NULL);
  cr_assert(strstr(r.text, "\"address\":\"" ADDR "\""), "%s", r.text);
  cm_test_reply_free(&r);
  cm_test_daemon_stop(&D, SIGTERM);
  char *text = cm_test_slurp(trace), *log = cm_test_slurp(D.log);
  cr_assert(text && log);
  cr_expect_not_null(strstr(text, "\"route\":\"POST /v1/requests\""), "%s",
                     text);
  cr_expect_null(strstr(text, "Rose"), "the address is in the trace: %s", text);
  cr_expect_null(strstr(log, "Rose"), "the address is in the log: %s", log);
  free(text);
  free(log);
  unlink(trace);
}

/* Per region: the same routes under /v1/regions/{region}/. */
Test(daemon_confirm, per_region_paths, .fini = stop) {
  start(NULL);
  add_worker("w1", 0.001);
  submit("c4", "operator");
  cm_test_reply r =
      cm_test_expect(D.port, 200, "GET", "/v1/regions", NULL, NULL);
  const char *region = "";
  json_unpack(r.json, "{s:[{s:s}]}", "regions", "region", &region);
  char path[160];
  snprintf(path, sizeof path, "/v1/regions/%s/requests/c4/confirm", region);
  cm_test_reply c =
      cm_test_expect(D.port, 200, "POST", path, TOK_OPERATOR, NULL);
  const char *state = "";
  json_unpack(c.json, "{s:{s:s}}", "request", "state", &state);
  cr_assert_str_eq(state, "offered", "%s", c.text);
  cm_test_reply_free(&c);
  snprintf(path, sizeof path, "/v1/regions/%s/requests/c4/dismiss", region);
  c = cm_test_expect(D.port, 409, "POST", path, TOK_OPERATOR,
                     "{\"reason\":\"other\"}");
  cm_test_reply_free(&c);
  cm_test_reply_free(&r);
}

/* [batch] confirm_hold_ms: the hold lapses (an event says so), the
 * request keeps waiting, and the worker takes other work. */
Test(daemon_confirm, the_hold_lapses_after_confirm_hold_ms, .fini = stop) {
  start("[batch]\nconfirm_hold_ms = 300\nwindow_ms = 50\n"
        "[matching]\nreserve_workers = 0\n");
  add_worker("w1", 0.001);
  int fd = cm_test_stream_open(D.port, "/v1/events", TOK_OPERATOR);
  char *buf = calloc(1, 65536);
  cr_assert(cm_test_stream_read_until(fd, "carematchd events", buf, 65536),
            "%s", buf);
  submit("c5", "operator");
  cm_test_reply r = cm_test_expect(
      D.port, 201, "POST", "/v1/requests", TOK_PLATFORM,
      "{\"id\":\"n1\",\"lat\":31.23,\"lon\":121.47,\"skills\":[\"nurse\"],"
      "\"urgency\":\"urgent\"}");
  cm_test_reply_free(&r);
  sleep_ms(150);
  json_t *v = get("n1");
  cr_assert_str_eq(str(v, "state"), "pending", "w1 is held");
  json_decref(v);
  cr_assert(cm_test_stream_read_until(fd, "event: hold_lapsed", buf, 65536),
            "%s", buf);
  for (int i = 0; i < 100; i++) {
    v = get("n1");
    int offered = !strcmp(str(v, "state"), "offered");
    json_decref(v);
    if (offered)
      break;
    sleep_ms(20);
  }
  v = get("n1");
  cr_assert_str_eq(str(v, "state"), "offered");
  json_decref(v);
  v = get("c5");
  cr_assert_str_eq(str(v, "state"), "awaiting_confirmation");
  cr_assert_null(json_object_get(v, "hold"));
  json_decref(v);
  close(fd);
  free(buf);
}

/* ---- on Redis ---- */

/* Only the daemon restarts, never Redis: any server will do, the shared
 * one too, with a region of the test's own. */
static void redis_start(void) {
  g_rg = cm_test_region_use("dconfirm");
  char ini[128];
  snprintf(ini, sizeof ini,
           "[store]\nredis = redis://127.0.0.1:%d\nregion = %s\n",
           g_rg.srv.port, g_rg.name);
  start(ini);
}

static void redis_stop(void) {
  stop();
  cm_test_region_close(&g_rg);
}

/* The awaiting request, its hold and a dismissal live in Redis: a daemon
 * killed and started again finds them, and confirms to the held worker. */
Test(daemon_confirm_redis, a_restart_keeps_the_awaiting_request,
     .init = redis_start, .fini = redis_stop) {
  add_worker("w1", 0.001);
  add_worker("w2", 0.01);
  cm_test_reply a = cm_test_expect(
      D.port, 201, "POST", "/v1/requests", TOK_PLATFORM,
      "{\"id\":\"k1\",\"lat\":31.23,\"lon\":121.47,\"skills\":"
      "[\"nurse\"],\"urgency\":\"emergency\",\"confirm\":\"operator\","
      "\"address\":\"12 Rose Lane\"}");
  cm_test_reply_free(&a);
  submit("k2", "operator");
  cm_test_reply r =
      cm_test_expect(D.port, 200, "POST", "/v1/requests/k2/dismiss",
                     TOK_OPERATOR_ANN, "{\"reason\":\"duplicate\"}");
  cm_test_reply_free(&r);
  r = cm_test_expect(D.port, 409, "POST", "/v1/requests/k2/confirm",
                     TOK_OPERATOR, NULL);
  cm_test_reply_free(&r);
  cm_test_daemon_stop(&D, SIGKILL);
  cm_test_daemon_start(&D, NULL);
  json_t *v = get("k1");
  cr_assert_str_eq(str(v, "state"), "awaiting_confirmation");
  cr_assert_str_eq(str(json_object_get(v, "hold"), "worker"), "w1");
  cr_assert_str_eq(str(v, "address"), "12 Rose Lane");
  json_decref(v);
  v = get("k2");
  cr_assert_str_eq(str(v, "state"), "dismissed");
  cr_assert_str_eq(str(v, "dismiss_reason"), "duplicate");
  json_decref(v);
  r = cm_test_expect(D.port, 200, "POST", "/v1/requests/k1/confirm",
                     TOK_OPERATOR_ANN, "{}");
  const char *state = "", *worker = "";
  json_unpack(r.json, "{s:{s:s,s:[{s:s}]}}", "request", "state", &state,
              "workers", "id", &worker);
  cr_assert_str_eq(state, "offered", "%s", r.text);
  cr_assert_str_eq(worker, "w1");
  cm_test_reply_free(&r);
  r = cm_test_expect(D.port, 409, "POST", "/v1/requests/k1/confirm",
                     TOK_OPERATOR, NULL);
  cr_assert(strstr(r.text, "offered"), "%s", r.text);
  cm_test_reply_free(&r);
}
