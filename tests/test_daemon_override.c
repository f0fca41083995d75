/* test_daemon_override.c -- the operator's overrides over HTTP on the real
 * carematchd (test_daemon.c's style): pin, hold, release, reassign with
 * their replies, the reasons the console shows, every error class (404,
 * 409 naming the state, 400/422 naming the field, 403 for other roles)
 * changing nothing; on a real redis-server (test_daemon_redis.c's style)
 * the audit events in the region's stream with the operator's name, and
 * pin and hold kept across a restart. No Criterion .timeout. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon_proc.h"
#include "redis_server.h"

static cm_test_daemon D;
static cm_test_region g_rg; /* the redis suite's, maybe on a shared server */

static void setup(void) {
  cm_test_daemon_config(&D, NULL);
  cm_test_daemon_start(&D, NULL);
}

static void teardown(void) {
  cm_test_daemon_cleanup(&D);
}

static void setup_redis(void) {
  g_rg = cm_test_region_use("otest");
  char ini[128];
  snprintf(ini, sizeof ini,
           "[store]\nredis = redis://127.0.0.1:%d\n"
           "region = %s\n",
           g_rg.srv.port, g_rg.name);
  cm_test_daemon_config(&D, ini);
  cm_test_daemon_start(&D, NULL);
}

static void teardown_redis(void) {
  cm_test_daemon_cleanup(&D);
  cm_test_region_close(&g_rg);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void add_worker(const char *id, const char *skills, double dlat) {
  char path[64], body[256];
  snprintf(path, sizeof path, "/v1/workers/%s", id);
  snprintf(body, sizeof body,
           "{\"skills\":[%s],\"lat\":%.6f,\"lon\":121.47,\"capacity\":1}",
           skills, 31.23 + dlat);
  cm_test_ok(D.port, "PUT", path, TOK_PLATFORM, body);
}

/* A normal nursing request at the centre. */
static void submit(const char *id) {
  char body[192];
  snprintf(body, sizeof body,
           "{\"id\":\"%s\",\"lat\":31.23,\"lon\":121.47,\"skills\":"
           "[\"nurse\"],\"urgency\":\"normal\"}",
           id);
  cm_test_reply r =
      cm_test_expect(D.port, 201, "POST", "/v1/requests", TOK_PLATFORM, body);
  cm_test_reply_free(&r);
}

/* The request's view (free it). */
static json_t *get(const char *id) {
  char path[96];
  snprintf(path, sizeof path, "/v1/requests/%s", id);
  cm_test_reply r =
      cm_test_expect(D.port, 200, "GET", path, TOK_OPERATOR, NULL);
  json_t *v = json_incref(json_object_get(r.json, "request"));
  cm_test_reply_free(&r);
  return v;
}

static const char *text(json_t *v, const char *key) {
  const char *s = json_string_value(json_object_get(v, key));
  return s ? s : "";
}

/* Wait (at most 3 s) until request id's key is want; returns its view. */
static json_t *wait_for(const char *id, const char *key, const char *want) {
  for (int i = 0; i < 300; i++) {
    json_t *v = get(id);
    if (!strcmp(text(v, key), want))
      return v;
    json_decref(v);
    sleep_ms(10);
  }
  cr_assert_fail("%s: %s never became %s", id, key, want);
  return NULL;
}

static const char *first_worker(json_t *v) {
  const char *w = "";
  json_unpack(v, "{s:[{s:s}]}", "workers", "id", &w);
  return w;
}

static void post(long code, const char *id, const char *verb, const char *body,
                 const char *want_error, const char *want_field) {
  char path[128];
  snprintf(path, sizeof path, "/v1/requests/%s/%s", id, verb);
  cm_test_reply r =
      cm_test_expect(D.port, code, "POST", path, TOK_OPERATOR_ANN, body);
  if (want_error)
    cr_assert_str_eq(cm_test_error_code(&r), want_error, "%s", r.text);
  if (want_field)
    cr_assert_str_eq(cm_test_error_field(&r), want_field, "%s", r.text);
  cm_test_reply_free(&r);
}

TestSuite(daemon_override, .init = setup, .fini = teardown);

/* Pinned to the farther nurse (off shift at first: the reason says so),
 * the offer goes there once she is on shift, though the other is nearer;
 * reassigned to the nearer one, it moves; reassigned without a name, the
 * batch picks another. */
Test(daemon_override, pin_then_reassign) {
  cm_test_ok(
      D.port, "PUT", "/v1/workers/far", TOK_PLATFORM,
      "{\"skills\":[\"nurse\"],\"lat\":31.25,\"lon\":121.47,\"on_shift\":"
      "false}");
  submit("r1");
  cm_test_reply r = cm_test_expect(D.port, 200, "POST", "/v1/requests/r1/pin",
                                   TOK_OPERATOR_ANN, "{\"worker\":\"far\"}");
  json_t *v = json_object_get(r.json, "request");
  cr_assert_str_eq(text(v, "pinned_worker"), "far", "%s", r.text);
  cr_assert_str_eq(text(v, "state"), "pending");
  cm_test_reply_free(&r);
  v = wait_for("r1", "unassigned_reason", "pinned_worker_offline");
  json_decref(v);
  add_worker("near", "\"nurse\"", 0.002);
  cm_test_ok(D.port, "POST", "/v1/workers/far/status", TOK_PLATFORM,
             "{\"on_shift\":true}");
  v = wait_for("r1", "state", "offered");
  cr_assert_str_eq(first_worker(v), "far", "the pinned, not the nearest");
  json_decref(v);

  r = cm_test_expect(D.port, 200, "POST", "/v1/requests/r1/reassign",
                     TOK_OPERATOR_ANN, "{\"worker\":\"near\"}");
  v = json_object_get(r.json, "request");
  cr_assert_str_eq(text(v, "state"), "pending", "%s", r.text);
  cr_assert_str_eq(text(v, "pinned_worker"), "near");
  cm_test_reply_free(&r);
  v = wait_for("r1", "state", "offered");
  cr_assert_str_eq(first_worker(v), "near");
  json_decref(v);
  r = cm_test_expect(D.port, 200, "GET", "/v1/workers/far", TOK_OPERATOR, NULL);
  int jobs = -1;
  json_unpack(r.json, "{s:{s:i}}", "worker", "jobs", &jobs);
  cr_assert_eq(jobs, 0, "far's job given back: %s", r.text);
  cm_test_reply_free(&r);

  cm_test_ok(D.port, "POST", "/v1/requests/r1/accept", TOK_GATEWAY,
             "{\"worker\":\"near\"}");
  post(200, "r1", "reassign", NULL, NULL, NULL); /* no name: re-batched */
  v = wait_for("r1", "state", "offered");
  cr_assert_str_eq(first_worker(v), "far", "near is left out now");
  json_decref(v);
}

Test(daemon_override, hold_and_release) {
  submit("r2");
  cm_test_reply r = cm_test_expect(D.port, 200, "POST", "/v1/requests/r2/hold",
                                   TOK_OPERATOR_ANN, NULL);
  json_t *v = json_object_get(r.json, "request");
  cr_assert(json_is_true(json_object_get(v, "held_by_operator")), "%s", r.text);
  cr_assert_str_eq(text(v, "unassigned_reason"), "held_by_operator");
  cm_test_reply_free(&r);
  add_worker("n1", "\"nurse\"", 0.002);
  sleep_ms(800); /* batches run meanwhile */
  v = get("r2");
  cr_assert_str_eq(text(v, "state"), "pending", "held: not batched");
  json_decref(v);
  /* per region too */
  cm_test_ok(D.port, "POST", "/v1/regions/default/requests/r2/release",
             TOK_OPERATOR_ANN, "{}");
  v = wait_for("r2", "state", "offered");
  cr_assert(json_is_false(json_object_get(v, "held_by_operator")));
  json_decref(v);
}

/* The errors: each names what is wrong and changes nothing. */
Test(daemon_override, errors_name_the_problem_and_change_nothing) {
  add_worker("n1", "\"caregiver\"", 0.002);
  submit("r3");
  json_t *before = get("r3");
  post(404, "nope", "pin", "{\"worker\":\"n1\"}", "unknown_id", "$.request");
  post(404, "nope", "hold", NULL, "unknown_id", "$.request");
  post(404, "nope", "release", NULL, "unknown_id", "$.request");
  post(404, "nope", "reassign", NULL, "unknown_id", "$.request");
  post(404, "r3", "pin", "{\"worker\":\"nobody\"}", "unknown_id", "$.worker");
  post(400, "r3", "pin", NULL, "missing_field", "$.worker");
  post(400, "r3", "pin", "{\"worker\":5}", "wrong_type", "$.worker");
  post(422, "r3", "pin", "{\"worker\":\"\"}", "invalid_value", "$.worker");
  cm_test_reply r =
      cm_test_expect(D.port, 422, "POST", "/v1/requests/r3/pin",
                     TOK_OPERATOR_ANN, "{\"worker\":\"n1\",\"x\":1}");
  cr_assert_str_eq(cm_test_error_field(&r), "$.x", "%s", r.text);
  cm_test_reply_free(&r);
  r = cm_test_expect(D.port, 422, "POST", "/v1/requests/r3/hold",
                     TOK_OPERATOR_ANN, "{\"x\":1}");
  cm_test_reply_free(&r);
  r = cm_test_expect(D.port, 409, "POST", "/v1/requests/r3/reassign",
                     TOK_OPERATOR_ANN, NULL);
  cr_assert_str_eq(cm_test_error_code(&r), "conflict");
  cr_assert(strstr(r.text, "pending"), "names the state: %s", r.text);
  cm_test_reply_free(&r);
  r = cm_test_expect(D.port, 403, "POST", "/v1/requests/r3/hold", TOK_PLATFORM,
                     NULL);
  cm_test_reply_free(&r);
  r = cm_test_expect(D.port, 403, "POST", "/v1/requests/r3/pin", TOK_GATEWAY,
                     "{\"worker\":\"n1\"}");
  cm_test_reply_free(&r);
  r = cm_test_expect(D.port, 403, "POST", "/v1/requests/r3/pin", TOK_PLATFORM,
                     "{\"worker\":\"n1\"}");
  cm_test_reply_free(&r);
  r = cm_test_expect(D.port, 403, "POST", "/v1/requests/r3/reassign",
                     TOK_GATEWAY, NULL);
  cm_test_reply_free(&r);
  json_t *after = get("r3");
  cr_assert_eq(json_integer_value(json_object_get(before, "version")),
               json_integer_value(json_object_get(after, "version")),
               "nothing changed");
  cr_assert_null(json_object_get(after, "pinned_worker"));
  cr_assert(json_is_false(json_object_get(after, "held_by_operator")));
  json_decref(before);
  json_decref(after);
  /* an offered request: pin and hold say which state it is in */
  add_worker("n2", "\"nurse\"", 0.004);
  json_t *v = wait_for("r3", "state", "offered");
  json_decref(v);
  r = cm_test_expect(D.port, 409, "POST", "/v1/requests/r3/hold",
                     TOK_OPERATOR_ANN, NULL);
  cr_assert(strstr(r.text, "offered"), "%s", r.text);
  cm_test_reply_free(&r);
  r = cm_test_expect(D.port, 409, "POST", "/v1/requests/r3/pin",
                     TOK_OPERATOR_ANN, "{\"worker\":\"n2\"}");
  cr_assert(strstr(r.text, "offered"), "%s", r.text);
  cm_test_reply_free(&r);
}

/* ---- on Redis ---- */

/* Whether the region's event stream has an event of type for request
 * with this actor. */
static int audited(const char *type, const char *request, const char *actor) {
  redisContext *c = cm_test_side_connect(g_rg.srv.port);
  cr_assert_not_null(c);
  redisReply *r = redisCommand(c, "XRANGE cm:{%s}:events - +", g_rg.name);
  cr_assert(r && r->type == REDIS_REPLY_ARRAY);
  int found = 0;
  for (size_t i = 0; i < r->elements && !found; i++) {
    const redisReply *f = r->element[i]->element[1];
    int have = 0;
    for (size_t k = 0; k + 1 < f->elements; k += 2) {
      const char *key = f->element[k]->str, *val = f->element[k + 1]->str;
      have += (!strcmp(key, "type") && !strcmp(val, type)) ||
              (!strcmp(key, "request") && !strcmp(val, request)) ||
              (!strcmp(key, "actor") && !strcmp(val, actor));
    }
    found = have == 3;
  }
  freeReplyObject(r);
  redisFree(c);
  return found;
}

Test(daemon_override, the_audit_trail_and_a_restart_on_redis,
     .init = setup_redis, .fini = teardown_redis) {
  add_worker("cg", "\"caregiver\"", 0.002);
  add_worker("n1", "\"nurse\"", 0.004);
  submit("p1");
  submit("h1");
  post(200, "h1", "hold", NULL, NULL, NULL);
  post(200, "p1", "pin", "{\"worker\":\"cg\"}", NULL, NULL);
  json_t *v = wait_for("p1", "unassigned_reason", "pinned_worker_unqualified");
  json_decref(v);
  cr_assert(audited("held", "h1", "ann"), "held by ann in the stream");
  cr_assert(audited("pinned", "p1", "ann"));
  cr_assert(!audited("pinned", "p1", "operator"), "the operator's own name");
  /* a restart keeps pin and hold */
  cr_assert_eq(cm_test_daemon_stop(&D, SIGTERM), 0);
  cm_test_daemon_start(&D, NULL);
  v = get("h1");
  cr_assert(json_is_true(json_object_get(v, "held_by_operator")));
  cr_assert_str_eq(text(v, "state"), "pending");
  json_decref(v);
  v = get("p1");
  cr_assert_str_eq(text(v, "pinned_worker"), "cg");
  json_decref(v);
  /* and the release and the offer that follows are audited too */
  post(200, "p1", "release", NULL, NULL, NULL);
  v = wait_for("p1", "state", "offered");
  cr_assert_str_eq(first_worker(v), "n1");
  json_decref(v);
  cr_assert(audited("released", "p1", "ann"));
  cr_assert(audited("offered", "p1", ""), "an offer is no one's action");
  post(200, "p1", "reassign", NULL, NULL, NULL);
  cr_assert(audited("reassigned", "p1", "ann"));
  v = get("p1");
  cr_assert_str_eq(text(v, "state"), "pending");
  json_decref(v);
  /* n1 is excluded from p1 now; the operator's pin overrides that, and
     the pinned offer is committed through Redis like any other */
  post(200, "p1", "pin", "{\"worker\":\"n1\"}", NULL, NULL);
  v = wait_for("p1", "state", "offered");
  cr_assert_str_eq(first_worker(v), "n1");
  json_decref(v);
  cr_assert(audited("offered", "p1", ""));
}
