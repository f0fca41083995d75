/* test_console.c -- the operator console's side of carematchd on a real
 * daemon: its files (/console/: content types, the Content-Security-Policy,
 * ETag and 304, HEAD, [console] dir and dir = off, and no way out of the
 * directory: encoded dots and slashes, dot files, a symbolic link), and the
 * read routes it uses: GET /v1/workers, GET /v1/requests?state=live (pages,
 * bad parameters, roles, per region) and GET /v1/kpis (filled from the
 * events, no ids in it), on the memory store and on a real redis-server.
 * The page itself is tested in a browser
 * (tests/console/test_console.py). */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "daemon_proc.h"
#include "redis_server.h"

static cm_test_daemon D;
static char dir[64]; /* the console's files for the test */

static void put_file(const char *name, const char *text) {
  char p[128];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
}

/* A daemon whose [console] dir is a folder of ours (extra: more ini). */
static void start_with(const char *extra) {
  char ini[512];
  snprintf(dir, sizeof dir, "/tmp/cm_console_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  put_file("index.html", "<!doctype html><title>console</title>\n");
  put_file("app.js", "export const x = 1;\n");
  put_file("console.css", "body { color: #fff; }\n");
  put_file(".secret.js", "secret\n");
  char target[128], link[128];
  snprintf(target, sizeof target, "%s/../cm_console_outside_%ld.txt", dir,
           (long)getpid());
  FILE *f = fopen(target, "w");
  cr_assert_not_null(f);
  fputs("outside\n", f);
  fclose(f);
  snprintf(link, sizeof link, "%s/link.js", dir);
  cr_assert_eq(symlink(target, link), 0);
  snprintf(ini, sizeof ini, "[console]\ndir = %s\n%s", dir, extra ? extra : "");
  cm_test_daemon_config(&D, ini);
  cm_test_daemon_start(&D, NULL);
}

static void setup(void) {
  start_with(NULL);
}

static void teardown(void) {
  char cmd[256];
  cm_test_daemon_cleanup(&D);
  snprintf(cmd, sizeof cmd, "rm -rf %s /tmp/cm_console_outside_%ld.txt", dir,
           (long)getpid());
  cr_assert_eq(system(cmd), 0);
}

TestSuite(console, .init = setup, .fini = teardown);

typedef struct got {
  long code;
  char head[4096]; /* the reply's headers */
  char body[4096];
  size_t hn, bn;
} got;

static size_t on_data(char *p, size_t sz, size_t n, void *ctx) {
  got *g = ctx;
  size_t k = sz * n, room = sizeof g->body - 1 - g->bn;
  memcpy(g->body + g->bn, p, k < room ? k : room);
  g->bn += k < room ? k : room;
  g->body[g->bn] = '\0';
  return k;
}

static size_t on_head(char *p, size_t sz, size_t n, void *ctx) {
  got *g = ctx;
  size_t k = sz * n, room = sizeof g->head - 1 - g->hn;
  memcpy(g->head + g->hn, p, k < room ? k : room);
  g->hn += k < room ? k : room;
  g->head[g->hn] = '\0';
  return k;
}

/* GET (or HEAD) path as it is (no normalising), with one extra header. */
static got fetch(const char *method, const char *path, const char *header) {
  got g;
  char url[512];
  memset(&g, 0, sizeof g);
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", D.port, path);
  CURL *c = curl_easy_init();
  struct curl_slist *h = header ? curl_slist_append(NULL, header) : NULL;
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (!strcmp(method, "HEAD"))
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &g);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_head);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &g);
  cr_assert_eq(curl_easy_perform(c), CURLE_OK, "%s", path);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &g.code);
  curl_easy_cleanup(c);
  curl_slist_free_all(h);
  return g;
}

/* The value of header name in g (into out), or NULL. */
static const char *header(const got *g, const char *name, char *out, size_t n) {
  size_t k = strlen(name);
  for (const char *l = g->head; l && *l;
       l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
    if (!strncasecmp(l, name, k) && l[k] == ':') {
      const char *v = l + k + 1;
      while (*v == ' ')
        v++;
      size_t len = strcspn(v, "\r\n");
      snprintf(out, n, "%.*s", (int)len, v);
      return out;
    }
  return NULL;
}

Test(console, serves_its_files_with_their_type_and_a_strict_policy) {
  static const char *const files[][2] = {
      {"/console/", "text/html; charset=utf-8"},
      {"/console/index.html", "text/html; charset=utf-8"},
      {"/console/app.js", "text/javascript; charset=utf-8"},
      {"/console/console.css", "text/css; charset=utf-8"}};
  char v[256];
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    got g = fetch("GET", files[i][0], NULL);
    cr_assert_eq(g.code, 200, "%s: %ld", files[i][0], g.code);
    cr_assert_str_eq(header(&g, "Content-Type", v, sizeof v), files[i][1]);
    cr_assert_not_null(header(&g, "Content-Security-Policy", v, sizeof v));
    cr_assert(!strncmp(v, "default-src 'self'", 18), "%s", v);
    cr_assert_not_null(strstr(v, "frame-ancestors 'none'"), "%s", v);
    cr_assert_str_eq(header(&g, "X-Content-Type-Options", v, sizeof v),
                     "nosniff");
    cr_assert_str_eq(header(&g, "Cache-Control", v, sizeof v), "no-cache");
  }
  got g = fetch("GET", "/console/app.js", NULL);
  cr_assert_str_eq(g.body, "export const x = 1;\n");
  char etag[64], inm[96];
  cr_assert_not_null(header(&g, "ETag", etag, sizeof etag));
  snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
  got again = fetch("GET", "/console/app.js", inm);
  cr_assert_eq(again.code, 304);
  cr_assert_eq(again.bn, 0);
  got head = fetch("HEAD", "/console/app.js", NULL);
  cr_assert_eq(head.code, 200);
  cr_assert_str_eq(header(&head, "Content-Length", v, sizeof v), "20");
  got moved = fetch("GET", "/console", NULL);
  cr_assert_eq(moved.code, 301);
  cr_assert_str_eq(header(&moved, "Location", v, sizeof v), "/console/");
}

Test(console, never_serves_a_file_outside_its_folder) {
  char out1[96], out2[96];
  snprintf(out1, sizeof out1, "/console/..%%2fcm_console_outside_%ld.txt",
           (long)getpid());
  snprintf(out2, sizeof out2, "/console/%%2e%%2e%%2fcm_console_outside_%ld.txt",
           (long)getpid());
  const char *const bad[] = {
      out1,
      out2,
      "/console/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
      "/console/..%2F..%2F..%2Fetc%2Fpasswd",
      "/console/../../etc/passwd",
      "/console/%2fetc%2fpasswd",
      "/console/.secret.js",
      "/console/link.js", /* a symbolic link out of the folder */
      "/console/app.js%00.html",
      "/console/nothing.js",
      "/console/carematchd.ini",
      "/console/app.js/",
      "/console/sub/app.js",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    got g = fetch("GET", bad[i], NULL);
    cr_assert(g.code == 404 || g.code == 400 || g.code == 422, "%s: %ld %s",
              bad[i], g.code, g.body);
    cr_assert_null(strstr(g.body, "outside"), "%s: %s", bad[i], g.body);
    cr_assert_null(strstr(g.body, "secret"), "%s: %s", bad[i], g.body);
    cr_assert_null(strstr(g.body, "root:"), "%s: %s", bad[i], g.body);
  }
  /* what the name check admits (white-box: console.c) */
  cr_assert_not_null(cmd_console_type("app.js"));
  cr_assert_not_null(cmd_console_type("favicon.svg"));
  cr_assert_null(cmd_console_type("../app.js"));
  cr_assert_null(cmd_console_type("a/b.js"));
  cr_assert_null(cmd_console_type(".hidden.js"));
  cr_assert_null(cmd_console_type("a..js"));
  cr_assert_null(cmd_console_type("carematchd.ini"));
  cr_assert_null(cmd_console_type(""));
}

Test(console, is_off_when_the_configuration_says_so) {
  cm_test_daemon_stop(&D, SIGTERM);
  cm_test_daemon_cleanup(&D);
  cm_test_daemon_config(&D, "[console]\ndir = off\n");
  cm_test_daemon_start(&D, NULL);
  got g = fetch("GET", "/console/", NULL);
  cr_assert_eq(g.code, 404);
  cr_assert_not_null(strstr(g.body, "off"), "%s", g.body);
  cmd_config c;
  cmd_config_init(&c);
  cr_assert_null(cmd_console_config_key(&c, "dir", "off"));
  char out[512];
  cr_assert_eq(cmd_console_dir(&c, out, sizeof out), -1);
  cr_assert_not_null(cmd_console_config_key(&c, "path", "/x"));
}

static json_t *get(const char *path, const char *token, long code) {
  cm_test_reply r = cm_test_http(D.port, "GET", path, token, NULL, NULL);
  cr_assert_eq(r.code, code, "GET %s: %ld %s", path, r.code, r.text);
  json_t *j = json_incref(r.json);
  cm_test_reply_free(&r);
  return j;
}

static void add_worker(const char *id, double dlat) {
  char path[64], body[160];
  snprintf(path, sizeof path, "/v1/workers/%s", id);
  snprintf(body, sizeof body,
           "{\"skills\":[\"nurse\"],\"lat\":%.5f,\"lon\":121.47,"
           "\"capacity\":1}",
           31.23 + dlat);
  cm_test_ok_or_created(D.port, "PUT", path, TOK_PLATFORM, body);
}

static void add_request(const char *id, const char *skill) {
  char body[200];
  snprintf(body, sizeof body,
           "{\"id\":\"%s\",\"skills\":[\"%s\"],\"lat\":31.231,\"lon\":121.471,"
           "\"elder\":\"elder-%s\"}",
           id, skill, id);
  cm_test_ok_or_created(D.port, "POST", "/v1/requests", TOK_PLATFORM, body);
}

static const char *state_of(const char *id, char *out, size_t n) {
  char path[96];
  snprintf(path, sizeof path, "/v1/requests/%s", id);
  json_t *j = get(path, TOK_OPERATOR, 200);
  const char *s = "";
  json_unpack(j, "{s:{s:s}}", "request", "state", &s);
  snprintf(out, n, "%s", s);
  json_decref(j);
  return out;
}

static void wait_state(const char *id, const char *want) {
  char s[32];
  for (int i = 0; i < 300 && strcmp(state_of(id, s, sizeof s), want); i++) {
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  cr_assert_str_eq(state_of(id, s, sizeof s), want, "%s", id);
}

Test(console, lists_every_worker_a_page_at_a_time) {
  add_worker("w1", 0);
  add_worker("w2", 0.01);
  add_worker("w3", 0.02);
  json_t *all = get("/v1/workers", TOK_OPERATOR, 200);
  cr_assert_eq(json_integer_value(json_object_get(all, "total")), 3);
  cr_assert_eq(json_array_size(json_object_get(all, "workers")), 3);
  cr_assert_null(json_object_get(all, "next_offset"));
  json_decref(all);
  /* pages of two: w1 w2, then w3 */
  json_t *p1 = get("/v1/workers?limit=2", TOK_OPERATOR, 200);
  cr_assert_eq(json_array_size(json_object_get(p1, "workers")), 2);
  cr_assert_eq(json_integer_value(json_object_get(p1, "next_offset")), 2);
  json_t *p2 = get("/v1/workers?limit=2&offset=2", TOK_OPERATOR, 200);
  json_t *w = json_array_get(json_object_get(p2, "workers"), 0);
  cr_assert_str_eq(json_string_value(json_object_get(w, "id")), "w3");
  cr_assert_eq(json_integer_value(json_object_get(w, "jobs")), 0);
  cr_assert_not_null(json_object_get(w, "lat"));
  cr_assert_not_null(json_object_get(w, "status"));
  cr_assert_null(json_object_get(p2, "next_offset"));
  json_decref(p1);
  json_decref(p2);
  json_t *past = get("/v1/workers?offset=10", TOK_OPERATOR, 200);
  cr_assert_eq(json_array_size(json_object_get(past, "workers")), 0);
  json_decref(past);
  /* per region, and who may read it */
  json_t *reg = get("/v1/regions/default/workers", TOK_PLATFORM, 200);
  cr_assert_eq(json_integer_value(json_object_get(reg, "total")), 3);
  json_decref(reg);
  json_decref(get("/v1/workers", TOK_GATEWAY, 403));
  json_decref(get("/v1/workers", NULL, 401));
  json_decref(get("/v1/workers?limit=0", TOK_OPERATOR, 422));
  json_decref(get("/v1/workers?limit=1001", TOK_OPERATOR, 422));
  json_decref(get("/v1/workers?limit=x", TOK_OPERATOR, 422));
  json_decref(get("/v1/workers?offset=-1", TOK_OPERATOR, 422));
  json_decref(get("/v1/workers?color=red", TOK_OPERATOR, 422));
}

Test(console, lists_the_live_requests_and_not_the_finished) {
  add_worker("n1", 0);
  add_request("r1", "nurse");     /* offered to n1, then done */
  add_request("r2", "caregiver"); /* nobody: pending */
  add_request("r3", "cleaner");   /* nobody: pending, then cancelled */
  wait_state("r1", "offered");
  cm_test_ok_or_created(D.port, "POST", "/v1/requests/r1/accept", TOK_GATEWAY,
                        "{\"worker\":\"n1\"}");
  cm_test_ok_or_created(D.port, "POST", "/v1/requests/r1/complete",
                        TOK_PLATFORM, "{}");
  cm_test_ok_or_created(D.port, "POST", "/v1/requests/r3/cancel", TOK_PLATFORM,
                        "{}");
  json_t *l = get("/v1/requests?state=live", TOK_OPERATOR, 200);
  cr_assert_eq(json_integer_value(json_object_get(l, "total")), 1, "%s",
               json_dumps(l, 0));
  json_t *r = json_array_get(json_object_get(l, "requests"), 0);
  cr_assert_str_eq(json_string_value(json_object_get(r, "id")), "r2");
  cr_assert_str_eq(json_string_value(json_object_get(r, "state")), "pending");
  cr_assert_str_eq(json_string_value(json_object_get(r, "urgency")), "normal");
  cr_assert_not_null(json_object_get(r, "created_ms"));
  cr_assert_not_null(json_object_get(r, "lat"));
  json_decref(l);
  /* an offered one carries its offer, term by term */
  add_worker("n2", 0.01);
  add_request("r4", "nurse");
  wait_state("r4", "offered");
  json_t *l2 = get("/v1/requests", TOK_PLATFORM, 200);
  cr_assert_eq(json_integer_value(json_object_get(l2, "total")), 2);
  json_t *p = get("/v1/requests?limit=1", TOK_OPERATOR, 200);
  cr_assert_eq(json_integer_value(json_object_get(p, "next_offset")), 1);
  json_t *p2 =
      get("/v1/regions/default/requests?limit=1&offset=1", TOK_OPERATOR, 200);
  json_t *a = json_array_get(json_object_get(p, "requests"), 0);
  json_t *b = json_array_get(json_object_get(p2, "requests"), 0);
  cr_assert_str_neq(json_string_value(json_object_get(a, "id")),
                    json_string_value(json_object_get(b, "id")));
  json_t *off =
      !strcmp(json_string_value(json_object_get(a, "id")), "r4") ? a : b;
  json_t *cost = json_object_get(
      json_array_get(json_object_get(off, "workers"), 0), "cost");
  cr_assert_not_null(json_object_get(cost, "travel"));
  cr_assert_not_null(json_object_get(cost, "total"));
  json_decref(l2);
  json_decref(p);
  json_decref(p2);
  json_decref(get("/v1/requests?state=done", TOK_OPERATOR, 422));
  json_decref(get("/v1/requests?state=live", TOK_GATEWAY, 403));
}

Test(console, kpis_of_the_last_hour_from_the_events_without_ids) {
  add_worker("k1", 0);
  add_request("q1", "nurse");
  add_request("q2", "rehab"); /* nobody: unassigned */
  wait_state("q1", "offered");
  cm_test_ok_or_created(D.port, "POST", "/v1/requests/q1/accept", TOK_GATEWAY,
                        "{\"worker\":\"k1\"}");
  cm_test_ok_or_created(D.port, "POST", "/v1/requests/q1/complete",
                        TOK_PLATFORM, "{}");
  cm_test_reply r =
      cm_test_http(D.port, "GET", "/v1/kpis", TOK_OPERATOR, NULL, NULL);
  cr_assert_eq(r.code, 200, "%s", r.text);
  json_t *n = json_object_get(json_object_get(r.json, "by_urgency"), "normal");
  cr_assert_not_null(n, "%s", r.text);
  cr_assert_eq(json_integer_value(json_object_get(n, "offers")), 1, "%s",
               r.text);
  cr_assert_eq(json_integer_value(json_object_get(n, "done")), 1, "%s", r.text);
  cr_assert_eq(json_integer_value(json_object_get(n, "unassigned")), 1, "%s",
               r.text);
  cr_assert(json_is_number(
                json_object_get(json_object_get(n, "time_to_offer_ms"), "p50")),
            "%s", r.text);
  cr_assert(json_is_number(json_object_get(
                json_object_get(n, "time_to_accept_ms"), "p50")),
            "%s", r.text);
  json_t *series = json_object_get(json_object_get(n, "series"), "done");
  cr_assert_eq(json_array_size(series), 12);
  cr_assert_eq(json_integer_value(json_array_get(series, 11)), 1, "%s", r.text);
  json_t *e =
      json_object_get(json_object_get(r.json, "by_urgency"), "emergency");
  cr_assert_eq(json_integer_value(json_object_get(e, "offers")), 0);
  cr_assert(json_is_null(
      json_object_get(json_object_get(e, "time_to_offer_ms"), "p50")));
  json_t *b = json_object_get(r.json, "batches");
  cr_assert_geq(json_integer_value(json_object_get(b, "count")), 1, "%s",
                r.text);
  /* no id of a request, worker or elder */
  cr_assert_null(strstr(r.text, "q1"));
  cr_assert_null(strstr(r.text, "k1"));
  cr_assert_null(strstr(r.text, "elder"));
  cm_test_reply_free(&r);
  json_decref(get("/v1/kpis", TOK_PLATFORM, 403));
  json_decref(get("/v1/regions/default/kpis", TOK_OPERATOR, 200));
}

/* The same reads with Redis as the store: the lists come from the
 * region's mirror and engine, the KPIs from the events, as in memory. */
Test(console, lists_and_kpis_on_redis) {
  char rdir[96], cmd[256], ini[256];
  cm_test_daemon_stop(&D, SIGTERM);
  cm_test_daemon_cleanup(&D);
  snprintf(rdir, sizeof rdir, "/tmp/cm_console_redis_%ld", (long)getpid());
  snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", rdir, rdir);
  cr_assert_eq(system(cmd), 0);
  int port = cm_test_free_port();
  pid_t redis = cm_test_server_start(port, rdir);
  snprintf(ini, sizeof ini,
           "[store]\nredis = redis://127.0.0.1:%d\nregion = ctest\n", port);
  cm_test_daemon_config(&D, ini);
  cm_test_daemon_start(&D, NULL);
  add_worker("rw1", 0);
  add_request("rq1", "nurse");
  add_request("rq2", "rehab");
  wait_state("rq1", "offered");
  json_t *w = get("/v1/workers", TOK_OPERATOR, 200);
  cr_assert_eq(json_integer_value(json_object_get(w, "total")), 1);
  json_t *l = get("/v1/requests?state=live", TOK_OPERATOR, 200);
  cr_assert_eq(json_integer_value(json_object_get(l, "total")), 2);
  json_t *k = get("/v1/regions/ctest/kpis", TOK_OPERATOR, 200);
  json_t *n = json_object_get(json_object_get(k, "by_urgency"), "normal");
  cr_assert_eq(json_integer_value(json_object_get(n, "offers")), 1);
  cr_assert_eq(json_integer_value(json_object_get(n, "unassigned")), 1);
  json_decref(w);
  json_decref(l);
  json_decref(k);
  cm_test_daemon_stop(&D, SIGTERM);
  cm_test_server_kill(redis, SIGTERM);
  snprintf(cmd, sizeof cmd, "rm -rf %s", rdir);
  cr_assert_eq(system(cmd), 0);
}
