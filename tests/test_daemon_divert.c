/* test_daemon_divert.c -- diversion on the real carematchd (test_daemon.c's
 * style, the memory store): [batch] divert_min is read from the
 * configuration (out-of-range values refused at start, naming the key);
 * a nurse on her way to a normal job next to an emergency is offered it
 * with diverts_from on GET /v1/requests/{id}; her accept gives the job
 * back (a diverted event on GET /v1/events) and /metrics counts it
 * (carematch_diverted_total), on the memory store and on Redis (the
 * offer and her accept proposed). Interruption the same way: [batch]
 * interrupt_min read (bad values refused, naming the key); a nurse who
 * reported her arrival at a normal visit next to an emergency is offered
 * it with diverts_from; her accept gives the visit back (an interrupted
 * event, carematch_interrupted_total). [batch] divert_urgent read (bad
 * values refused, naming the key). No Criterion .timeout. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon_proc.h"
#include "redis_server.h"

static cm_test_daemon D;

static void stop(void) {
  cm_test_daemon_cleanup(&D);
}

static const char *str(const json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  return s ? s : "";
}

/* GET the request (its "request" object, a new reference). */
static json_t *get(const char *id) {
  char path[96];
  snprintf(path, sizeof path, "/v1/requests/%s", id);
  cm_test_reply r =
      cm_test_expect(D.port, 200, "GET", path, TOK_OPERATOR, NULL);
  json_t *v = json_incref(json_object_get(r.json, "request"));
  cm_test_reply_free(&r);
  return v;
}

/* The first worker's id of request v ("" none). */
static const char *worker0(const json_t *v) {
  return str(json_array_get(json_object_get(v, "workers"), 0), "id");
}

/* A nurse dlat_km north of the centre (about 111 km a degree). */
static void add_worker(const char *id, double dlat_km) {
  char path[64], body[192];
  snprintf(path, sizeof path, "/v1/workers/%s", id);
  snprintf(body, sizeof body,
           "{\"skills\":[\"nurse\"],\"lat\":%.6f,\"lon\":121.47,"
           "\"capacity\":1}",
           31.23 + dlat_km / 111.2);
  cm_test_ok(D.port, "PUT", path, TOK_PLATFORM, body);
}

static void submit(const char *id, const char *urgency, double dlat_km) {
  char body[256];
  snprintf(body, sizeof body,
           "{\"id\":\"%s\",\"lat\":%.6f,\"lon\":121.47,\"skills\":"
           "[\"nurse\"],\"urgency\":\"%s\"}",
           id, 31.23 + dlat_km / 111.2, urgency);
  cm_test_reply r =
      cm_test_expect(D.port, 201, "POST", "/v1/requests", TOK_PLATFORM, body);
  cm_test_reply_free(&r);
}

/* Wait (3 s at most) until request id is offered; returns it. */
static json_t *offered(const char *id) {
  for (int i = 0; i < 300; i++) {
    json_t *v = get(id);
    if (!strcmp(str(v, "state"), "offered"))
      return v;
    json_decref(v);
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  cr_assert_fail("%s never offered", id);
  return NULL;
}

/* Counter name's value on /metrics (-1: absent); its TYPE line must be
 * there. */
static long counter_total(const char *name) {
  cm_test_reply r =
      cm_test_expect(D.port, 200, "GET", "/metrics", TOK_METRICS, NULL);
  char line[96], type[128];
  snprintf(line, sizeof line, "\n%s ", name);
  snprintf(type, sizeof type, "# TYPE %s counter", name);
  const char *at = strstr(r.text, line);
  long n = -1;
  if (at)
    n = strtol(at + strlen(line), NULL, 10);
  cr_assert(strstr(r.text, type), "%s", r.text);
  cm_test_reply_free(&r);
  return n;
}

static long diverted_total(void) {
  return counter_total("carematch_diverted_total");
}

/* near at the centre accepts normal job j 1 km south and is on her way;
 * far is free 4 km north; emergency e at the centre is offered to near,
 * naming j; her accept puts j back to pending with a diverted event, and
 * it is offered again (to far). extra: more of the configuration (a
 * store). */
static void diverted_on_accept(const char *extra) {
  char ini[512];
  snprintf(ini, sizeof ini,
           "[batch]\ndivert_min = 5\n[matching]\nreserve_workers "
           "= 0\nlookahead_min = 0\n%s",
           extra);
  cm_test_daemon_config(&D, ini);
  cm_test_daemon_start(&D, NULL);
  add_worker("near", 0.0);
  add_worker("far", 4.0);
  submit("j", "normal", -1.0);
  json_t *v = offered("j");
  cr_assert_str_eq(worker0(v), "near");
  cr_assert_null(json_object_get(v, "diverts_from"), "an ordinary offer");
  json_decref(v);
  cm_test_ok(D.port, "POST", "/v1/requests/j/accept", TOK_GATEWAY,
             "{\"worker\":\"near\"}");
  cr_assert_eq(diverted_total(), 0);
  int fd = cm_test_stream_open(D.port, "/v1/events", TOK_OPERATOR);
  char *buf = calloc(1, 65536);
  cr_assert(cm_test_stream_read_until(fd, "carematchd events", buf, 65536),
            "%s", buf);
  submit("e", "emergency", 0.0);
  v = offered("e");
  cr_assert_str_eq(worker0(v), "near", "the nurse on her way");
  cr_assert_str_eq(str(v, "diverts_from"), "j");
  json_decref(v);
  cm_test_ok(D.port, "POST", "/v1/requests/e/accept", TOK_GATEWAY,
             "{\"worker\":\"near\"}");
  cr_assert(cm_test_stream_read_until(fd, "event: diverted", buf, 65536), "%s",
            buf);
  char *dv = strstr(buf, "event: diverted");
  cr_assert(strstr(dv, "\"request\":\"j\""), "%s", dv);
  cr_assert(strstr(dv, "\"worker\":\"near\""), "%s", dv);
  close(fd);
  free(buf);
  v = get("e");
  cr_assert_str_eq(str(v, "state"), "accepted");
  cr_assert_null(json_object_get(v, "diverts_from"), "accepted: gone");
  json_decref(v);
  v = offered("j"); /* pending, then offered again at once */
  cr_assert_str_eq(worker0(v), "far");
  json_decref(v);
  cr_assert_eq(diverted_total(), 1);
}

Test(daemon_divert, offered_with_diverts_from_and_diverted_on_accept,
     .fini = stop) {
  diverted_on_accept("");
}

/* The same on Redis, where the offer is proposed at the batch's end and
 * her accept's two changes go to Redis as one proposal in the group
 * commit (docs/async.md), answered from its completion. */
Test(daemon_divert, diverted_on_accept_with_redis, .fini = stop) {
  cm_test_region rg = cm_test_region_use("ddv");
  char extra[200];
  snprintf(extra, sizeof extra,
           "[store]\nredis = redis://127.0.0.1:%d\nregion = %s\n"
           "sweep_ms = 0\n",
           rg.srv.port, rg.name);
  diverted_on_accept(extra);
  cr_assert_eq(cm_test_daemon_stop(&D, SIGTERM), 0);
  cm_test_region_close(&rg);
}

/* Start carematchd on a configuration with extra_ini (timeout: it must
 * refuse, not listen); its exit status and its stderr into out. */
static int start_refused(const char *extra_ini, char *out, size_t n) {
  cm_test_daemon_config(&D, extra_ini);
  char cmd[768];
  snprintf(cmd, sizeof cmd, "timeout 20 %s --config %s 2>&1", CM_DAEMON_PATH,
           D.config);
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p);
  size_t got = fread(out, 1, n - 1, p);
  out[got] = '\0';
  return pclose(p);
}

Test(daemon_divert, bad_divert_min_is_refused_at_start, .fini = stop) {
  static const char *const bad[] = {"[batch]\ndivert_min = -1\n",
                                    "[batch]\ndivert_min = 241\n",
                                    "[batch]\ndivert_min = five\n"};
  char out[1024];
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    int st = start_refused(bad[i], out, sizeof out);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 124,
              "%s: refused, not started (%d): %s", bad[i], st, out);
    cr_assert(strstr(out, "divert_min"), "%s: names the key: %s", bad[i], out);
    if (i + 1 < sizeof bad / sizeof *bad)
      cm_test_daemon_cleanup(&D); /* the last: stop() */
  }
}

/* near at the centre accepts normal visit j 1 km south and reports her
 * arrival there; far is free 4 km north; emergency e at the centre is
 * offered to near, naming j; her accept puts j back to pending with an
 * interrupted event, no arrival, and it is offered again (to far). */
Test(daemon_divert, interrupted_at_her_visit_on_accept, .fini = stop) {
  cm_test_daemon_config(&D, "[batch]\ninterrupt_min = 5\n[matching]\n"
                            "reserve_workers = 0\nlookahead_min = 0\n");
  cm_test_daemon_start(&D, NULL);
  cr_assert_eq(counter_total("carematch_interrupted_total"), 0);
  add_worker("near", 0.0);
  add_worker("far", 4.0);
  submit("j", "normal", -1.0);
  json_decref(offered("j"));
  cm_test_ok(D.port, "POST", "/v1/requests/j/accept", TOK_GATEWAY,
             "{\"worker\":\"near\"}");
  cm_test_ok(D.port, "POST", "/v1/requests/j/arrived", TOK_GATEWAY,
             "{\"worker\":\"near\"}");
  int fd = cm_test_stream_open(D.port, "/v1/events", TOK_OPERATOR);
  char *buf = calloc(1, 65536);
  cr_assert(cm_test_stream_read_until(fd, "carematchd events", buf, 65536),
            "%s", buf);
  submit("e", "emergency", 0.0);
  json_t *v = offered("e");
  cr_assert_str_eq(worker0(v), "near", "the nurse at her visit");
  cr_assert_str_eq(str(v, "diverts_from"), "j");
  json_decref(v);
  cm_test_ok(D.port, "POST", "/v1/requests/e/accept", TOK_GATEWAY,
             "{\"worker\":\"near\"}");
  cr_assert(cm_test_stream_read_until(fd, "event: interrupted", buf, 65536),
            "%s", buf);
  char *iv = strstr(buf, "event: interrupted");
  cr_assert(strstr(iv, "\"request\":\"j\""), "%s", iv);
  cr_assert(strstr(iv, "\"worker\":\"near\""), "%s", iv);
  close(fd);
  free(buf);
  v = offered("j"); /* pending, then offered again at once */
  cr_assert_str_eq(worker0(v), "far");
  cr_assert_null(json_object_get(v, "arrived_ms"), "no one there now");
  json_decref(v);
  cr_assert_eq(counter_total("carematch_interrupted_total"), 1);
  cr_assert_eq(diverted_total(), 0, "an interruption, not a diversion");
}

Test(daemon_divert, bad_interrupt_min_is_refused_at_start, .fini = stop) {
  static const char *const bad[] = {"[batch]\ninterrupt_min = -1\n",
                                    "[batch]\ninterrupt_min = 241\n"};
  char out[1024];
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    int st = start_refused(bad[i], out, sizeof out);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 124,
              "%s: refused, not started (%d): %s", bad[i], st, out);
    cr_assert(strstr(out, "interrupt_min"), "%s: names the key: %s", bad[i],
              out);
    if (i + 1 < sizeof bad / sizeof *bad)
      cm_test_daemon_cleanup(&D); /* the last: stop() */
  }
}

/* [batch] divert_urgent (docs/engine.md "Taking urgent work"): 1 is
 * read (the daemon starts; an unknown key would refuse it), 2 and "yes"
 * are refused naming the key. */
Test(daemon_divert, divert_urgent_is_read, .fini = stop) {
  cm_test_daemon_config(&D, "[batch]\ndivert_min = 5\ninterrupt_min = 5\n"
                            "divert_urgent = 1\n");
  cm_test_daemon_start(&D, NULL);
  cm_test_daemon_cleanup(&D);
  static const char *const bad[] = {"[batch]\ndivert_urgent = 2\n",
                                    "[batch]\ndivert_urgent = yes\n"};
  char out[1024];
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    int st = start_refused(bad[i], out, sizeof out);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 124,
              "%s: refused, not started (%d): %s", bad[i], st, out);
    cr_assert(strstr(out, "divert_urgent"), "%s: names the key: %s", bad[i],
              out);
    if (i + 1 < sizeof bad / sizeof *bad)
      cm_test_daemon_cleanup(&D); /* the last: stop() */
  }
}
