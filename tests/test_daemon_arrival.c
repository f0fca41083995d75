/* test_daemon_arrival.c -- POST /v1/requests/{id}/arrived over HTTP on the
 * real carematchd (test_daemon.c's style): the accepted worker's arrival
 * answers the request with arrived_ms, GET shows it, again is a no-op;
 * 404 for unknown ids, 409 naming the state or the worker, 400/422 for a
 * bad body, 403 for the operator; per region too; GET /v1/kpis has the
 * time to arrival after one arrival (scheduled work: from its window). No
 * Criterion .timeout. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon_proc.h"

static cm_test_daemon D;

static void setup(void) {
  cm_test_daemon_config(&D, NULL);
  cm_test_daemon_start(&D, NULL);
}

static void teardown(void) {
  cm_test_daemon_cleanup(&D);
}

TestSuite(daemon_arrival, .init = setup, .fini = teardown);

/* The error reply's field and message contain field and word. */
static void refused(long code, const char *path, const char *body,
                    const char *field, const char *word) {
  cm_test_reply r =
      cm_test_expect(D.port, code, "POST", path, TOK_GATEWAY, body);
  const char *f = "", *m = "";
  json_unpack(r.json, "{s:{s?s,s?s}}", "error", "field", &f, "message", &m);
  cr_assert_str_eq(f, field, "%s: %s", path, r.text);
  cr_assert(strstr(m, word), "%s: '%s' lacks '%s'", path, m, word);
  cm_test_reply_free(&r);
}

/* The request's "request" member (free it). */
static json_t *get(const char *id) {
  char path[96];
  snprintf(path, sizeof path, "/v1/requests/%s", id);
  cm_test_reply r =
      cm_test_expect(D.port, 200, "GET", path, TOK_OPERATOR, NULL);
  json_t *v = json_incref(json_object_get(r.json, "request"));
  cm_test_reply_free(&r);
  return v;
}

static const char *state(json_t *v) {
  const char *s = json_string_value(json_object_get(v, "state"));
  return s ? s : "";
}

/* Worker w1 at the centre, request id submitted (urgency u; extra JSON
 * members appended) and offered. */
static void offered_as(const char *id, const char *u, const char *extra) {
  char body[256];
  cm_test_ok(
      D.port, "PUT", "/v1/workers/w1", TOK_PLATFORM,
      "{\"skills\":[\"nurse\"],\"lat\":31.231,\"lon\":121.47,\"capacity\":2}");
  snprintf(body, sizeof body,
           "{\"id\":\"%s\",\"lat\":31.23,\"lon\":121.47,\"skills\":"
           "[\"nurse\"],\"urgency\":\"%s\"%s}",
           id, u, extra);
  cm_test_reply r =
      cm_test_expect(D.port, 201, "POST", "/v1/requests", TOK_PLATFORM, body);
  cm_test_reply_free(&r);
  for (int i = 0; i < 300; i++) {
    json_t *v = get(id);
    int done = !strcmp(state(v), "offered");
    json_decref(v);
    if (done)
      return;
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  cr_assert_fail("%s never offered", id);
}

static void offered(const char *id) {
  offered_as(id, "normal", "");
}

static json_int_t arrived_ms(json_t *v) {
  return json_integer_value(json_object_get(v, "arrived_ms"));
}

Test(daemon_arrival, arrival_is_recorded_shown_and_idempotent) {
  offered("r1");
  const char *path = "/v1/requests/r1/arrived", *w1 = "{\"worker\":\"w1\"}";
  refused(409, path, w1, "$.request", "offered");
  cm_test_ok(D.port, "POST", "/v1/requests/r1/accept", TOK_GATEWAY, w1);
  json_t *v = get("r1");
  cr_assert_null(json_object_get(v, "arrived_ms"), "not before arrival");
  json_decref(v);
  cm_test_reply r = cm_test_expect(D.port, 200, "POST", path, TOK_GATEWAY, w1);
  json_t *got = json_object_get(r.json, "request");
  cr_assert_str_eq(state(got), "accepted");
  json_int_t at = arrived_ms(got);
  cr_assert_gt(at, 0, "the reply shows arrived_ms: %s", r.text);
  cm_test_reply_free(&r);
  v = get("r1");
  cr_assert_eq(arrived_ms(v), at, "GET shows it");
  json_int_t version = json_integer_value(json_object_get(v, "version"));
  json_decref(v);
  /* again, by a platform this time: 200, nothing changes */
  r = cm_test_expect(D.port, 200, "POST", path, TOK_PLATFORM, w1);
  cr_assert_eq(arrived_ms(json_object_get(r.json, "request")), at);
  cr_assert_eq(json_integer_value(json_object_get(
                   json_object_get(r.json, "request"), "version")),
               version);
  cm_test_reply_free(&r);
  /* then it completes and keeps it */
  cm_test_ok(D.port, "POST", "/v1/requests/r1/complete", TOK_PLATFORM, NULL);
  v = get("r1");
  cr_assert_str_eq(state(v), "done");
  cr_assert_eq(arrived_ms(v), at);
  json_decref(v);
  refused(409, path, w1, "$.request", "done");
}

Test(daemon_arrival, errors_name_the_field) {
  offered("r1");
  cm_test_ok(
      D.port, "PUT", "/v1/workers/w2", TOK_PLATFORM,
      "{\"skills\":[\"nurse\"],\"lat\":31.3,\"lon\":121.47,\"capacity\":1}");
  cm_test_ok(D.port, "POST", "/v1/requests/r1/accept", TOK_GATEWAY,
             "{\"worker\":\"w1\"}");
  const char *path = "/v1/requests/r1/arrived";
  refused(404, "/v1/requests/nothing/arrived", "{\"worker\":\"w1\"}",
          "$.request", "nothing");
  refused(404, path, "{\"worker\":\"nobody\"}", "$.worker", "nobody");
  refused(409, path, "{\"worker\":\"w2\"}", "$.worker", "w2");
  refused(400, path, "{\"worker\":7}", "$.worker", "string");
  refused(422, path, "{\"worker\":\"\"}", "$.worker", "");
  refused(422, path, "{\"worker\":\"w1\",\"at\":1}", "$.at", "");
  cm_test_reply r = cm_test_expect(D.port, 403, "POST", path, TOK_OPERATOR,
                                   "{\"worker\":\"w1\"}");
  cm_test_reply_free(&r);
  json_t *v = get("r1");
  cr_assert_null(json_object_get(v, "arrived_ms"), "nothing changed");
  json_decref(v);
}

Test(daemon_arrival, per_region_too) {
  offered("r1");
  cm_test_ok(D.port, "POST", "/v1/requests/r1/accept", TOK_GATEWAY,
             "{\"worker\":\"w1\"}");
  cm_test_ok(D.port, "POST", "/v1/regions/default/requests/r1/arrived",
             TOK_GATEWAY, "{\"worker\":\"w1\"}");
  json_t *v = get("r1");
  cr_assert_gt(arrived_ms(v), 0);
  json_decref(v);
}

/* Urgency u's time to arrival in /v1/kpis: its p50 and count. */
static void kpi_arrival_of(const char *urgency, int *count, json_t **p50) {
  cm_test_reply r =
      cm_test_expect(D.port, 200, "GET", "/v1/kpis", TOK_OPERATOR, NULL);
  json_t *u = json_object_get(json_object_get(r.json, "by_urgency"), urgency);
  cr_assert_not_null(u, "%s", r.text);
  json_t *n = json_object_get(u, "arrivals"),
         *q = json_object_get(u, "time_to_arrival_ms");
  cr_assert(json_is_integer(n) && json_is_object(q), "%s", r.text);
  *count = (int)json_integer_value(n);
  *p50 = json_incref(json_object_get(q, "p50"));
  json_t *series =
      json_object_get(json_object_get(u, "series"), "time_to_arrival_p50_ms");
  cr_assert(json_is_array(series) && json_array_size(series) == 12, "%s",
            r.text);
  cm_test_reply_free(&r);
}

static void kpi_arrival(int *count, json_t **p50) {
  kpi_arrival_of("normal", count, p50);
}

Test(daemon_arrival, kpis_have_the_time_to_arrival) {
  int n;
  json_t *p50;
  offered("r1");
  cm_test_ok(D.port, "POST", "/v1/requests/r1/accept", TOK_GATEWAY,
             "{\"worker\":\"w1\"}");
  kpi_arrival(&n, &p50);
  cr_assert_eq(n, 0);
  cr_assert(json_is_null(p50), "no arrival yet");
  json_decref(p50);
  cm_test_ok(D.port, "POST", "/v1/requests/r1/arrived", TOK_GATEWAY,
             "{\"worker\":\"w1\"}");
  cm_test_ok(D.port, "POST", "/v1/requests/r1/arrived", TOK_GATEWAY,
             "{\"worker\":\"w1\"}");
  json_t *v = get("r1");
  json_int_t since =
      arrived_ms(v) - json_integer_value(json_object_get(v, "created_ms"));
  json_decref(v);
  kpi_arrival(&n, &p50);
  cr_assert_eq(n, 1, "one arrival, counted once");
  cr_assert(json_is_number(p50));
  cr_assert_float_eq(json_number_value(p50), (double)since, 1.0,
                     "from submission to arrival");
  json_decref(p50);
}

/* Scheduled work counts from its window's start: a worker there before
 * it is a time to arrival of 0 (released now: the window starts within
 * release_slack_ms). */
Test(daemon_arrival, scheduled_work_early_is_zero) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  long long start = (long long)now.tv_sec * 1000 + 300000; /* in 5 min */
  char extra[96];
  snprintf(extra, sizeof extra, ",\"window\":{\"start_ms\":%lld}", start);
  offered_as("s1", "scheduled", extra);
  cm_test_ok(D.port, "POST", "/v1/requests/s1/accept", TOK_GATEWAY,
             "{\"worker\":\"w1\"}");
  cm_test_ok(D.port, "POST", "/v1/requests/s1/arrived", TOK_GATEWAY,
             "{\"worker\":\"w1\"}");
  int n;
  json_t *p50;
  kpi_arrival_of("scheduled", &n, &p50);
  cr_assert_eq(n, 1);
  cr_assert(json_is_number(p50));
  cr_assert_float_eq(json_number_value(p50), 0.0, 1e-9, "early: 0");
  json_decref(p50);
}
