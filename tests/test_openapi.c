/* test_openapi.c -- docs/openapi.json against the live carematchd: every
 * operation's replies, successes and errors, a server-sent event's data,
 * hold to the schema the document gives for their status (or its default):
 * the required keys are there, every key has the documented type and enum,
 * no key an object closes (additionalProperties false) is added; a
 * standby suggestion, encoded as the event stream sends it, too. The
 * routes and roles are checked in test_daemon.c; the document's own
 * validity by scripts/openapi-lint.sh. */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api_json.h"
#include "daemon_proc.h"

static cm_test_daemon D;
static json_t *doc;

static void setup(void) {
  json_error_t je;
  doc = json_load_file(CM_OPENAPI_PATH, 0, &je);
  cr_assert_not_null(doc, "docs/openapi.json: %s", je.text);
  cm_test_daemon_config(&D, "[batch]\nwindow_ms = 10\n");
  cm_test_daemon_start(&D, NULL);
}

static void teardown(void) {
  cm_test_daemon_cleanup(&D);
  json_decref(doc);
}

TestSuite(openapi, .init = setup, .fini = teardown);

/* "#/components/..." in the document. */
static const json_t *deref(const json_t *o) {
  const char *r = json_string_value(json_object_get(o, "$ref"));
  if (!r)
    return o;
  cr_assert(!strncmp(r, "#/", 2), "%s", r);
  char buf[128];
  snprintf(buf, sizeof buf, "%s", r + 2);
  const json_t *at = doc;
  for (char *s = strtok(buf, "/"); s; s = strtok(NULL, "/"))
    at = json_object_get(at, s);
  cr_assert_not_null(at, "%s resolves to nothing", r);
  return deref(at);
}

static int is_type(const json_t *v, const char *t) {
  if (!strcmp(t, "string"))
    return json_is_string(v);
  if (!strcmp(t, "integer"))
    return json_is_integer(v);
  if (!strcmp(t, "number"))
    return json_is_number(v);
  if (!strcmp(t, "boolean"))
    return json_is_boolean(v);
  if (!strcmp(t, "array"))
    return json_is_array(v);
  if (!strcmp(t, "object"))
    return json_is_object(v);
  return 0;
}

/* v holds to schema s; where says which reply and key. */
static void conform(const json_t *s, const json_t *v, const char *where) {
  s = deref(s);
  const char *type = json_string_value(json_object_get(s, "type"));
  cr_assert(!type || is_type(v, type), "%s: not %s", where, type);
  const json_t *en = json_object_get(s, "enum");
  if (en) {
    int found = 0;
    for (size_t i = 0; i < json_array_size(en); i++)
      found |= json_equal(json_array_get(en, i), v);
    cr_assert(found, "%s: a value the enum does not have", where);
  }
  if (json_is_object(v)) {
    const json_t *props = json_object_get(s, "properties");
    const json_t *req = json_object_get(s, "required");
    for (size_t i = 0; i < json_array_size(req); i++) {
      const char *k = json_string_value(json_array_get(req, i));
      cr_assert_not_null(json_object_get(v, k), "%s: no required '%s'", where,
                         k);
    }
    const char *k;
    json_t *sub;
    json_object_foreach((json_t *)v, k, sub) {
      char w[256];
      snprintf(w, sizeof w, "%s.%s", where, k);
      const json_t *ps = json_object_get(props, k);
      if (ps)
        conform(ps, sub, w);
      else
        cr_assert(!json_is_false(json_object_get(s, "additionalProperties")),
                  "%s: not in the document", w);
    }
  }
  if (json_is_array(v) && json_object_get(s, "items"))
    for (size_t i = 0; i < json_array_size(v); i++) {
      char w[256];
      snprintf(w, sizeof w, "%s[%zu]", where, i);
      conform(json_object_get(s, "items"), json_array_get(v, i), w);
    }
}

/* The schema documented for method template's reply with status code. */
static const json_t *documented(const char *method, const char *template,
                                long code, const char *type) {
  char m[8], c[8];
  snprintf(m, sizeof m, "%s", method);
  for (char *p = m; *p; p++)
    *p = (char)(*p - 'A' + 'a');
  snprintf(c, sizeof c, "%ld", code);
  const json_t *op = json_object_get(
      json_object_get(json_object_get(doc, "paths"), template), m);
  cr_assert_not_null(op, "%s %s is not documented", method, template);
  const json_t *rs = json_object_get(op, "responses");
  const json_t *r = json_object_get(rs, c);
  if (!r)
    r = json_object_get(rs, "default");
  cr_assert_not_null(r, "%s %s: %ld is not documented", method, template, code);
  const json_t *schema = json_object_get(
      json_object_get(json_object_get(deref(r), "content"), type), "schema");
  cr_assert_not_null(schema, "%s %s: %ld has no %s schema", method, template,
                     code, type);
  return schema;
}

/* Call, expect code, check the reply against the document; returns it. */
static cm_test_reply check(const char *method, const char *path,
                           const char *template, const char *token,
                           const char *body, long code) {
  cm_test_reply r = cm_test_http(D.port, method, path, token, body, NULL);
  cr_assert_eq(r.code, code, "%s %s: %ld %s", method, path, r.code, r.text);
  cr_assert_not_null(r.json, "%s %s: not JSON: %s", method, path, r.text);
  char where[128];
  snprintf(where, sizeof where, "%s %s %ld: $", method, path, code);
  conform(documented(method, template, code, "application/json"), r.json,
          where);
  return r;
}

static void check_free(const char *method, const char *path,
                       const char *template, const char *token,
                       const char *body, long code) {
  cm_test_reply r = check(method, path, template, token, body, code);
  cm_test_reply_free(&r);
}

static const char *state(const char *id) {
  static char s[32];
  char path[64];
  snprintf(path, sizeof path, "/v1/requests/%s", id);
  cm_test_reply r =
      check("GET", path, "/v1/requests/{id}", TOK_PLATFORM, NULL, 200);
  const char *v = "";
  json_unpack(r.json, "{s:{s:s}}", "request", "state", &v);
  snprintf(s, sizeof s, "%s", v);
  cm_test_reply_free(&r);
  return s;
}

static void wait_state(const char *id, const char *want) {
  for (int i = 0; i < 300 && strcmp(state(id), want); i++) {
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  cr_assert_str_eq(state(id), want, "%s", id);
}

#define WK "/v1/workers/{id}"
#define RQ "/v1/requests/{id}"

Test(openapi, every_reply_holds_to_its_documented_schema) {
  /* an event stream, to check an event's data too */
  int fd = cm_test_stream_open(D.port, "/v1/events", TOK_PLATFORM);

  check_free("PUT", "/v1/workers/w1", WK, TOK_PLATFORM,
             "{\"skills\":[\"nurse\"],\"lat\":31.2304,\"lon\":121.4737,"
             "\"capacity\":2}",
             200);
  check_free("PUT", "/v1/workers/w2", WK, TOK_PLATFORM,
             "{\"skills\":[\"nurse\"],\"lat\":31.2404,\"lon\":121.4737}", 200);
  check_free("PUT", "/v1/workers/w3", WK, TOK_PLATFORM,
             "{\"skills\":[\"caregiver\"]}", 200); /* no position */
  check_free("GET", "/v1/workers/w3", WK, TOK_OPERATOR, NULL, 200);
  check_free("POST", "/v1/workers/w1/position", WK "/position", TOK_GATEWAY,
             "{\"lat\":31.2311,\"lon\":121.4741}", 200);
  check_free("POST", "/v1/positions", "/v1/positions", TOK_GATEWAY,
             "{\"positions\":[{\"id\":\"w2\",\"lat\":31.24,\"lon\":121.48}]}",
             200);
  check_free("POST", "/v1/requests", "/v1/requests", TOK_PLATFORM,
             "{\"id\":\"r1\",\"lat\":31.231,\"lon\":121.474,\"service\":"
             "\"fall_alarm\",\"urgency\":\"emergency\",\"elder\":\"e17\","
             "\"preferred\":[\"w1\"],\"excluded\":[\"w9\"]}",
             201);
  wait_state("r1", "offered"); /* workers, cost, expires_ms */
  check_free("POST", "/v1/requests/r1/reject", RQ "/reject", TOK_GATEWAY,
             "{\"worker\":\"w1\"}", 200); /* rejected */
  wait_state("r1", "offered");
  check_free("POST", "/v1/requests/r1/accept", RQ "/accept", TOK_GATEWAY,
             "{\"worker\":\"w2\"}", 200);
  check_free("POST", "/v1/requests/r1/complete", RQ "/complete", TOK_PLATFORM,
             NULL, 200); /* finished_ms */
  check_free("POST", "/v1/requests", "/v1/requests", TOK_PLATFORM,
             "{\"id\":\"r2\",\"lat\":31.231,\"lon\":121.474,\"skills\":"
             "[\"rehab\"],\"urgency\":\"scheduled\",\"window\":{\"start_ms\":"
             "4102444800000,\"end_ms\":4102448400000}}",
             201); /* a window */
  check_free("GET", "/v1/requests/r2", RQ, TOK_OPERATOR, NULL, 200);
  check_free("POST", "/v1/requests/r2/cancel", RQ "/cancel", TOK_PLATFORM, "{}",
             200);
  check_free("POST", "/v1/workers/w3/status", WK "/status", TOK_GATEWAY,
             "{\"on_shift\":false}", 200);
  check_free("GET", "/v1/weights", "/v1/weights", TOK_OPERATOR, NULL, 200);
  check_free("PUT", "/v1/weights", "/v1/weights", TOK_OPERATOR,
             "{\"version\":1,\"weights\":{\"travel\":2}}", 200);
  check_free("GET", "/healthz", "/healthz", NULL, NULL, 200);
  check_free("GET", "/readyz", "/readyz", NULL, NULL, 200);
  /* errors */
  check_free("POST", "/v1/requests", "/v1/requests", TOK_PLATFORM,
             "{\"id\":", 400);
  check_free("GET", "/v1/weights", "/v1/weights", NULL, NULL, 401);
  check_free("GET", "/v1/weights", "/v1/weights", TOK_PLATFORM, NULL, 403);
  check_free("GET", "/v1/requests/r9", RQ, TOK_PLATFORM, NULL, 404);
  check_free("POST", "/v1/requests/r2/complete", RQ "/complete", TOK_PLATFORM,
             NULL, 409);
  check_free("PUT", "/v1/weights", "/v1/weights", TOK_OPERATOR,
             "{\"weights\":{\"travel\":-1}}", 422);
  check_free("GET",
             "/v1/workers/"
             "x123456789012345678901234567890123456789012345678901234567890123",
             WK, TOK_PLATFORM, NULL, 422);
  /* a method the route does not take: the route's default (EdgeError) */
  cm_test_reply r =
      cm_test_http(D.port, "DELETE", "/v1/weights", TOK_OPERATOR, NULL, NULL);
  cr_assert_eq(r.code, 405, "%s", r.text);
  conform(documented("GET", "/v1/weights", 405, "application/json"), r.json,
          "DELETE /v1/weights 405: $");
  cm_test_reply_free(&r);

  /* an event's data */
  char buf[8192];
  size_t n = 0;
  for (int i = 0; i < 300 && !strstr(buf, "\n\n{") && n < sizeof buf - 1; i++) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 10) == 1) {
      ssize_t k = read(fd, buf + n, sizeof buf - 1 - n);
      if (k <= 0)
        break;
      n += (size_t)k;
    }
    buf[n] = '\0';
    if (strstr(buf, "event: completed"))
      break;
  }
  close(fd);
  int events = 0;
  for (char *d = strstr(buf, "data: "); d; d = strstr(d + 1, "data: ")) {
    char *end = strchr(d, '\n');
    cr_assert_not_null(end);
    json_t *ev = json_loadb(d + 6, (size_t)(end - d - 6), 0, NULL);
    cr_assert_not_null(ev, "an event's data is JSON: %.100s", d);
    conform(documented("GET", "/v1/events", 200, "text/event-stream"), ev,
            "GET /v1/events: data");
    json_decref(ev);
    events++;
  }
  cr_assert_geq(events, 3, "%s", buf);
}

/* A standby suggestion (docs/engine.md "Standby") has no request: the
 * worker and the place, as the stream's data. */
Test(openapi, a_standby_event_holds_to_the_schema) {
  cm_event ev;
  memset(&ev, 0, sizeof ev);
  ev.seq = 7;
  ev.type = CM_EV_STANDBY;
  ev.at_ms = 1000;
  snprintf(ev.worker, sizeof ev.worker, "w1");
  ev.lat = 31.25;
  ev.lon = 121.5;
  json_t *o = cmd_encode_event(&ev);
  cr_assert_not_null(o);
  conform(documented("GET", "/v1/events", 200, "text/event-stream"), o,
          "GET /v1/events: a standby's data");
  cr_assert_str_eq(json_string_value(json_object_get(o, "type")), "standby");
  cr_assert_str_eq(json_string_value(json_object_get(o, "worker")), "w1");
  cr_assert_null(json_object_get(o, "request"), "no request");
  const json_t *at = json_object_get(o, "standby");
  cr_assert_float_eq(json_real_value(json_object_get(at, "lat")), 31.25, 1e-9);
  cr_assert_float_eq(json_real_value(json_object_get(at, "lon")), 121.5, 1e-9);
  json_decref(o);
}
