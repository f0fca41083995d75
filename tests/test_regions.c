/* test_regions.c -- many regions per carematchd ([store] regions,
 * docs/daemon.md "Regions"), on real daemons over loopback: one daemon
 * with three regions (memory, then Redis) keeps each region's workers and
 * requests to itself and offers in each; /v1/regions/{region}/... and the
 * un-prefixed routes (the default region); /readyz?region=, the metrics'
 * region labels; each region's event stream; the configuration's list;
 * and two daemons with [lease] over four regions (first-come, or spread
 * by [lease] prefer): each region led by exactly one, kill -9 of one and
 * the other leads all four and offers in each. No Criterion .timeout
 * (docs/redis.md, "Testing"). */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "daemon_proc.h"
#include "redis_server.h"

#define TTL_MS 1500 /* the daemons' leases: renewed every 500 ms */
#define MAX_REGIONS 4

static int g_port;
static pid_t g_pid;                    /* 0: the shared server */
static char g_region[MAX_REGIONS][48]; /* this test's region names */

static void setup(void) {
  static int n;
  cm_test_redis s = cm_test_redis_use();
  g_port = s.port;
  g_pid = s.pid;
  for (int i = 0; i < MAX_REGIONS; i++)
    snprintf(g_region[i], sizeof g_region[i], "rg%ld-%d-%c", (long)getpid(), n,
             'a' + i);
  n++;
}

static void teardown(void) {
  if (g_pid > 0) {
    cm_test_server_kill(g_pid, SIGTERM);
    return;
  }
  for (int i = 0; i < MAX_REGIONS; i++) {
    char pattern[256];
    snprintf(pattern, sizeof pattern, "cm:{%s}:*", g_region[i]);
    cm_test_flush_keys(g_port, pattern);
  }
}

TestSuite(regions, .init = setup, .fini = teardown);

/* "regions = r0,r1,..." of the first n regions. */
static void regions_line(int n, char *out, size_t size) {
  snprintf(out, size, "regions = ");
  for (int i = 0; i < n; i++)
    snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? "," : "",
             g_region[i]);
}

/* Start d over the first n regions; redis: on the test's Redis; lease_id:
 * with [lease] under that name (NULL: none), preferring the regions of
 * the bits of prefer (0: all). */
static void start_preferring(cm_test_daemon *d, int n, int redis,
                             const char *lease_id, unsigned prefer) {
  char ini[1024], list[400];
  regions_line(n, list, sizeof list);
  snprintf(ini, sizeof ini, "[batch]\nwindow_ms = 10\n[store]\n%s\n", list);
  if (redis)
    snprintf(ini + strlen(ini), sizeof ini - strlen(ini),
             "redis = redis://127.0.0.1:%d\n", g_port);
  if (lease_id)
    snprintf(ini + strlen(ini), sizeof ini - strlen(ini),
             "[lease]\nenabled = on\nttl_ms = %d\nid = %s\n", TTL_MS, lease_id);
  if (lease_id && prefer) {
    snprintf(ini + strlen(ini), sizeof ini - strlen(ini), "prefer = ");
    for (int i = 0; i < n; i++)
      if (prefer >> i & 1u)
        snprintf(ini + strlen(ini), sizeof ini - strlen(ini), "%s,",
                 g_region[i]);
    snprintf(ini + strlen(ini), sizeof ini - strlen(ini), "\n");
  }
  cm_test_daemon_config(d, ini);
  cm_test_daemon_start(d, NULL);
}

static void start(cm_test_daemon *d, int n, int redis, const char *lease_id) {
  start_preferring(d, n, redis, lease_id, 0);
}

static cm_test_reply get(const cm_test_daemon *d, const char *path) {
  return cm_test_http(d->port, "GET", path, TOK_OPERATOR, NULL, NULL);
}

static long call(const cm_test_daemon *d, const char *method, const char *path,
                 const char *body) {
  cm_test_reply r =
      cm_test_http(d->port, method, path, TOK_PLATFORM, body, NULL);
  long code = r.code;
  cm_test_reply_free(&r);
  return code;
}

/* "/v1/regions/<region>/<rest>", or "/v1/<rest>" for region NULL. */
static const char *in(const char *region, const char *rest, char *buf,
                      size_t n) {
  if (region)
    snprintf(buf, n, "/v1/regions/%s/%s", region, rest);
  else
    snprintf(buf, n, "/v1/%s", rest);
  return buf;
}

static void add_worker(const cm_test_daemon *d, const char *region,
                       const char *id) {
  char rest[64], path[160];
  snprintf(rest, sizeof rest, "workers/%s", id);
  cr_assert_eq(call(d, "PUT", in(region, rest, path, sizeof path),
                    "{\"skills\":[\"nurse\"],\"lat\":31.23,\"lon\":121.47}"),
               200, "PUT %s", path);
}

static void submit(const cm_test_daemon *d, const char *region,
                   const char *id) {
  char body[160], path[160];
  snprintf(body, sizeof body,
           "{\"id\":\"%s\",\"lat\":31.231,\"lon\":121.47,\"skills\":"
           "[\"nurse\"],\"urgency\":\"emergency\"}",
           id);
  cr_assert_eq(call(d, "POST", in(region, "requests", path, sizeof path), body),
               201, "POST %s", path);
}

/* The state of request id in region ("" when not found), and the first
 * worker offered (into worker, "" none). */
static void request_state(const cm_test_daemon *d, const char *region,
                          const char *id, char *state, char *worker, size_t n) {
  char rest[64], path[160];
  snprintf(rest, sizeof rest, "requests/%s", id);
  cm_test_reply r = get(d, in(region, rest, path, sizeof path));
  const char *s = "", *w = "";
  if (r.code == 200) {
    json_unpack(r.json, "{s:{s:s}}", "request", "state", &s);
    json_t *ws = json_object_get(json_object_get(r.json, "request"), "workers");
    json_unpack(json_array_get(ws, 0), "{s:s}", "id", &w);
  }
  snprintf(state, n, "%s", s);
  snprintf(worker, n, "%s", w);
  cm_test_reply_free(&r);
}

static int wait_offered(const cm_test_daemon *d, const char *region,
                        const char *id, int ms, char *worker, size_t n) {
  char state[32];
  for (int64_t end = cm_test_mono_ms() + ms; cm_test_mono_ms() < end;
       cm_test_sleep_ms(10)) {
    request_state(d, region, id, state, worker, n);
    if (!strcmp(state, "offered"))
      return 1;
  }
  return 0;
}

/* Three regions on one daemon: the same worker id in two regions, a
 * worker of one never seen in another, an offer in each region made from
 * that region's workers only. */
static void three_regions(int redis) {
  cm_test_daemon d;
  char path[160], worker[64], state[32];
  start(&d, 3, redis, NULL);
  const char *a = g_region[0], *b = g_region[1], *c = g_region[2];
  cr_assert_eq(call(&d, "GET", "/readyz", NULL), 200);
  /* w1 in a only; wb in b; wc1 in c */
  add_worker(&d, a, "w1");
  add_worker(&d, b, "wb");
  add_worker(&d, c, "wc1");
  cr_assert_eq(call(&d, "GET", in(b, "workers/w1", path, sizeof path), NULL),
               404, "a's worker is not in b");
  cr_assert_eq(call(&d, "GET", in(c, "workers/w1", path, sizeof path), NULL),
               404, "a's worker is not in c");
  cr_assert_eq(call(&d, "GET", in(a, "workers/w1", path, sizeof path), NULL),
               200);
  /* un-prefixed: the default region, a */
  cr_assert_eq(call(&d, "GET", "/v1/workers/w1", NULL), 200);
  cr_assert_eq(call(&d, "GET", "/v1/workers/wb", NULL), 404);
  /* a region not served */
  cr_assert_eq(call(&d, "GET", "/v1/regions/nowhere/workers/w1", NULL), 404);
  /* the same request id in a and b: two requests, offered each from its
     own region's workers */
  submit(&d, a, "q1");
  submit(&d, b, "q1");
  cr_assert(wait_offered(&d, a, "q1", 5000, worker, sizeof worker),
            "no offer in a");
  cr_assert_str_eq(worker, "w1");
  cr_assert(wait_offered(&d, b, "q1", 5000, worker, sizeof worker),
            "no offer in b");
  cr_assert_str_eq(worker, "wb");
  request_state(&d, c, "q1", state, worker, sizeof worker);
  cr_assert_str_eq(state, "", "q1 is not in c");
  submit(&d, c, "qc");
  cr_assert(wait_offered(&d, c, "qc", 5000, worker, sizeof worker),
            "no offer in c");
  cr_assert_str_eq(worker, "wc1");
  request_state(&d, a, "qc", state, worker, sizeof worker);
  cr_assert_str_eq(state, "", "c's request is not in a");
  /* each region's own batches and offers, labelled */
  for (int i = 0; i < 3; i++) {
    char sample[256];
    snprintf(sample, sizeof sample, "carematch_offers_total{region=\"%s\"}",
             g_region[i]);
    cr_assert_eq(cm_test_metric(d.port, sample), 1, "%s", sample);
  }
  /* readiness by region; the list */
  snprintf(path, sizeof path, "/readyz?region=%s", b);
  cr_assert_eq(call(&d, "GET", path, NULL), 200);
  cr_assert_eq(call(&d, "GET", "/readyz?region=nowhere", NULL), 404);
  cm_test_reply r = get(&d, "/v1/regions");
  cr_assert_eq(r.code, 200);
  json_t *list = json_object_get(r.json, "regions");
  cr_assert_eq(json_array_size(list), 3, "%s", r.text);
  for (size_t i = 0; i < 3; i++) {
    const char *name = "";
    int ready = 0;
    cr_assert_eq(json_unpack(json_array_get(list, i), "{s:s,s:b}", "region",
                             &name, "ready", &ready),
                 0, "%s", r.text);
    cr_assert_str_eq(name, g_region[i]);
    cr_assert(ready);
  }
  cm_test_reply_free(&r);
  cm_test_daemon_cleanup(&d);
}

Test(regions, three_regions_in_memory_keep_to_themselves) {
  three_regions(0);
}

Test(regions, three_regions_on_redis_keep_to_themselves) {
  three_regions(1);
  /* and in Redis each region's keys hold its own */
  redisContext *c = cm_test_side_connect(g_port);
  cr_assert_not_null(c);
  for (int i = 0; i < 3; i++) {
    redisReply *rep = redisCommand(c, "EXISTS cm:{%s}:worker:w1", g_region[i]);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER);
    cr_assert_eq(rep->integer, i == 0, "w1 in region %d", i);
    freeReplyObject(rep);
  }
  redisFree(c);
}

static int read_until(int fd, const char *want, char *buf, size_t n, int ms) {
  size_t len = strlen(buf);
  for (int64_t end = cm_test_mono_ms() + ms; cm_test_mono_ms() < end;) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 10) == 1) {
      ssize_t got = read(fd, buf + len, n - len - 1);
      if (got <= 0)
        return 0;
      len += (size_t)got;
      buf[len] = '\0';
    }
    if (strstr(buf, want))
      return 1;
  }
  return 0;
}

/* /v1/regions/{region}/events carries that region's events only; the
 * un-prefixed stream the default region's. */
Test(regions, each_region_streams_its_own_events) {
  cm_test_daemon d;
  char path[160], worker[64];
  static char ba[65536], bb[65536], b0[65536];
  start(&d, 2, 0, NULL);
  const char *a = g_region[0], *b = g_region[1];
  int fa = cm_test_stream_open(d.port, in(a, "events", path, sizeof path),
                               TOK_PLATFORM);
  int fb = cm_test_stream_open(d.port, in(b, "events", path, sizeof path),
                               TOK_PLATFORM);
  int f0 = cm_test_stream_open(d.port, "/v1/events", TOK_PLATFORM);
  cr_assert(read_until(fa, "carematchd events", ba, sizeof ba, 3000));
  cr_assert(read_until(fb, "carematchd events", bb, sizeof bb, 3000));
  cr_assert(read_until(f0, "carematchd events", b0, sizeof b0, 3000));
  add_worker(&d, a, "wa");
  add_worker(&d, b, "wb");
  submit(&d, a, "qa");
  submit(&d, b, "qb");
  cr_assert(wait_offered(&d, a, "qa", 5000, worker, sizeof worker));
  cr_assert(wait_offered(&d, b, "qb", 5000, worker, sizeof worker));
  cr_assert(read_until(fa, "\"worker\":\"wa\"", ba, sizeof ba, 3000), "%s", ba);
  cr_assert(read_until(fb, "\"worker\":\"wb\"", bb, sizeof bb, 3000), "%s", bb);
  cr_assert(read_until(f0, "\"worker\":\"wa\"", b0, sizeof b0, 3000), "%s", b0);
  read_until(fa, "never", ba, sizeof ba, 200); /* anything else queued */
  read_until(f0, "never", b0, sizeof b0, 1);
  cr_assert_null(strstr(ba, "\"qb\""), "b's request in a's stream: %s", ba);
  cr_assert_null(strstr(b0, "\"qb\""), "b's request in the default: %s", b0);
  cr_assert_null(strstr(bb, "\"qa\""), "a's request in b's stream: %s", bb);
  close(fa);
  close(fb);
  close(f0);
  cm_test_daemon_cleanup(&d);
}

/* [store] regions in the configuration file: the list, its first as the
 * default region, and what is refused. */
Test(regions, the_configuration_lists_regions) {
  static cmd_config c;
  char msg[640];
  cr_assert_eq(cmd_config_parse("[store]\nregions = a, b.2,c_3\n", "t.ini", &c,
                                msg, sizeof msg),
               0, "%s", msg);
  cr_assert_eq(c.n_regions, 3);
  cr_assert(c.regions_listed);
  cr_assert_str_eq(c.regions[1], "b.2");
  cr_assert_str_eq(c.region, "a");
  cr_assert_eq(cmd_config_parse("[store]\nregion = solo\n", "t.ini", &c, msg,
                                sizeof msg),
               0, "%s", msg);
  cr_assert_eq(c.n_regions, 1);
  cr_assert(!c.regions_listed);
  cr_assert_str_eq(c.regions[0], "solo");
  static const char *const bad[] = {
      "[store]\nregions = a,b,a\n", "[store]\nregions = a,b c/d\n",
      "[store]\nregions = ,\n",     "[store]\nregions = a\nregion = b\n",
      "[lease]\nprefer = a/b\n",    NULL};
  for (int i = 0; bad[i]; i++)
    cr_assert_eq(cmd_config_parse(bad[i], "t.ini", &c, msg, sizeof msg), -1,
                 "%s was taken", bad[i]);
}

/* 1 when d leads region (readyz?region=&role=leader answers 200). */
static int leads(const cm_test_daemon *d, const char *region) {
  char path[160];
  snprintf(path, sizeof path, "/readyz?region=%s&role=leader", region);
  cm_test_reply r = cm_test_http(d->port, "GET", path, NULL, NULL, NULL);
  int yes = r.code == 200;
  cm_test_reply_free(&r);
  return yes;
}

/* Two daemons over four regions (spread: A prefers the first two, B the
 * others), kill -9 of A: B leads all four and offers in each. */
static void two_daemons(int spread) {
  cm_test_daemon a, b;
  start_preferring(&a, 4, 1, "A", spread ? 0x3u : 0);
  start_preferring(&b, 4, 1, "B", spread ? 0xcu : 0);
  /* every region led by exactly one of them */
  int led_a = 0, settled = 0;
  for (int64_t end = cm_test_mono_ms() + 3 * TTL_MS + 3000;
       !settled && cm_test_mono_ms() < end; cm_test_sleep_ms(50)) {
    settled = 1;
    led_a = 0;
    for (int i = 0; i < 4; i++) {
      int la = leads(&a, g_region[i]), lb = leads(&b, g_region[i]);
      settled &= la + lb == 1;
      led_a += la;
    }
  }
  cr_assert(settled, "some region has no leader, or two");
  if (spread) { /* several renewals later, still each its preferred two */
    cm_test_sleep_ms(2 * TTL_MS);
    for (int i = 0; i < 4; i++) {
      cr_assert_eq(leads(&a, g_region[i]), i < 2, "A and region %d", i);
      cr_assert_eq(leads(&b, g_region[i]), i >= 2, "B and region %d", i);
    }
  }
  cr_log_info("before the kill: A leads %d of 4 regions, B %d", led_a,
              4 - led_a);
  /* a worker in each region, written through B */
  for (int i = 0; i < 4; i++)
    add_worker(&b, g_region[i], "w1");
  cm_test_sleep_ms(300);
  int64_t killed = cm_test_mono_ms();
  cm_test_daemon_stop(&a, SIGKILL);
  a.pid = 0;
  for (int i = 0; i < 4; i++)
    submit(&b, g_region[i], "q1");
  char worker[64];
  for (int i = 0; i < 4; i++)
    cr_assert(wait_offered(&b, g_region[i], "q1", TTL_MS + 5000, worker,
                           sizeof worker),
              "no offer in region %s %d ms after A died", g_region[i],
              TTL_MS + 5000);
  cr_log_info("kill -9 of A to B's offers in all 4 regions: %lld ms (ttl %d)",
              (long long)(cm_test_mono_ms() - killed), TTL_MS);
  for (int i = 0; i < 4; i++)
    cr_assert(leads(&b, g_region[i]), "B leads %s", g_region[i]);
  cr_assert_eq(call(&b, "GET", "/readyz?role=leader", NULL), 200);
  char sample[256];
  snprintf(sample, sizeof sample, "carematch_lease_leader{region=\"%s\"}",
           g_region[3]);
  cr_assert_eq(cm_test_metric(b.port, sample), 1);
  cm_test_daemon_cleanup(&a);
  cm_test_daemon_cleanup(&b);
}

Test(regions, two_daemons_four_regions_kill_9_the_other_leads_all) {
  two_daemons(0);
}

Test(regions, two_daemons_spread_by_prefer_kill_9_the_other_leads_all) {
  two_daemons(1);
}

/* Hand-back: B, alone, leads all four regions; A, preferring the first
 * two, starts: B hands those two back (its renewals report A's wish) and
 * keeps the others; an emergency written through B in a region A now
 * leads is offered. Without the hand-back B keeps all four for good. */
Test(regions, a_preferring_daemon_that_comes_back_gets_its_regions_back) {
  cm_test_daemon a, b;
  start_preferring(&b, 4, 1, "B", 0xcu);
  int all = 0;
  for (int64_t end = cm_test_mono_ms() + 3 * TTL_MS + 3000;
       !all && cm_test_mono_ms() < end; cm_test_sleep_ms(50)) {
    all = 1;
    for (int i = 0; i < 4; i++)
      all &= leads(&b, g_region[i]);
  }
  cr_assert(all, "B alone does not lead all four regions");
  for (int i = 0; i < 4; i++)
    add_worker(&b, g_region[i], "w1");
  int64_t started = cm_test_mono_ms();
  start_preferring(&a, 4, 1, "A", 0x3u);
  int settled = 0;
  for (int64_t end = cm_test_mono_ms() + 4 * TTL_MS + 3000;
       !settled && cm_test_mono_ms() < end; cm_test_sleep_ms(50)) {
    settled = 1;
    for (int i = 0; i < 4; i++)
      settled &= leads(&a, g_region[i]) == (i < 2) &&
                 leads(&b, g_region[i]) == (i >= 2);
  }
  cr_assert(settled, "A did not get its two regions back from B, or B lost "
                     "its own");
  cr_log_info("A started to A leading its two regions: %lld ms (ttl %d)",
              (long long)(cm_test_mono_ms() - started), TTL_MS);
  char sample[256], worker[64];
  snprintf(sample, sizeof sample,
           "carematch_lease_handbacks_total{region=\"%s\"}", g_region[0]);
  cr_assert_eq(cm_test_metric(b.port, sample), 1);
  snprintf(sample, sizeof sample,
           "carematch_lease_handbacks_total{region=\"%s\"}", g_region[2]);
  cr_assert_eq(cm_test_metric(b.port, sample), 0);
  /* no flapping: several renewals later, the same */
  cm_test_sleep_ms(2 * TTL_MS);
  for (int i = 0; i < 4; i++) {
    cr_assert_eq(leads(&a, g_region[i]), i < 2, "A and region %d", i);
    cr_assert_eq(leads(&b, g_region[i]), i >= 2, "B and region %d", i);
  }
  submit(&b, g_region[0], "q1");
  cr_assert(wait_offered(&a, g_region[0], "q1", 5000, worker, sizeof worker),
            "no offer in the region handed back");
  cr_assert_str_eq(worker, "w1");
  cm_test_daemon_cleanup(&a);
  cm_test_daemon_cleanup(&b);
}
