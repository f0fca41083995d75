/* test_mirror_follow.c -- the daemon's view follows Redis's when another
 * writer changes a request it holds: the real carematchd on a real
 * redis-server, and from this process the commit a killed daemon left in
 * Redis's socket (run by Redis after the new daemon's rebuild): the offer
 * lapses, the worker's job is given back. Once the daemon caught up, the
 * chaos runs' judge (bench/chaos_mirror.c) finds every worker and request
 * equal in both, and the worker has no job in either. No Criterion
 * .timeout. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "carematch/engine.h"
#include "carematch/ledger.h"
#include "carematch/redis.h"
#include "daemon_proc.h"
#include "redis_server.h"

static cm_test_daemon D;
static cm_test_region g_rg; /* nothing stops its server: may be shared */

static void setup_with(const char *extra) {
  g_rg = cm_test_region_use("mfollow");
  char ini[320];
  snprintf(ini, sizeof ini,
           "[store]\nredis = redis://127.0.0.1:%d\nregion = %s\n"
           "[batch]\noffer_ttl_ms = 600000\n%s",
           g_rg.srv.port, g_rg.name, extra);
  cm_test_daemon_config(&D, ini);
  cm_test_daemon_start(&D, NULL);
}

static void setup(void) {
  setup_with("");
}

/* A short stale time and sweep: the daemon's own sweep marks a worker
 * whose position is old offline in Redis. */
static void setup_sweep(void) {
  setup_with("stale_ms = 1000\n[store]\nsweep_ms = 200\n");
}

static void teardown(void) {
  cm_test_daemon_cleanup(&D);
  cm_test_region_close(&g_rg);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static long put(const char *method, const char *path, const char *body) {
  cm_test_reply r =
      cm_test_http(D.port, method, path, TOK_PLATFORM, body, NULL);
  long c = r.code;
  cm_test_reply_free(&r);
  return c;
}

/* The daemon's jobs for worker id (-1 unknown). */
static int api_jobs(const char *id) {
  char path[64];
  snprintf(path, sizeof path, "/v1/workers/%s", id);
  cm_test_reply r = cm_test_http(D.port, "GET", path, TOK_OPERATOR, NULL, NULL);
  int jobs = -1;
  if (r.code == 200)
    json_unpack(r.json, "{s:{s:i}}", "worker", "jobs", &jobs);
  cm_test_reply_free(&r);
  return jobs;
}

static int redis_jobs(const char *id) {
  redisContext *c = cm_test_side_connect(g_rg.srv.port);
  cr_assert_not_null(c);
  redisReply *r = redisCommand(c, "HGET cm:{%s}:worker:%s jobs", g_rg.name, id);
  int jobs = r && r->type == REDIS_REPLY_STRING ? atoi(r->str) : 0;
  freeReplyObject(r);
  redisFree(c);
  return jobs;
}

static int wait_offered(const char *id) {
  char path[64];
  snprintf(path, sizeof path, "/v1/requests/%s", id);
  for (int i = 0; i < 300; i++) {
    cm_test_reply r =
        cm_test_http(D.port, "GET", path, TOK_PLATFORM, NULL, NULL);
    const char *s = "";
    int ok = r.code == 200 &&
             json_unpack(r.json, "{s:{s:s}}", "request", "state", &s) == 0 &&
             !strcmp(s, "offered");
    cm_test_reply_free(&r);
    if (ok)
      return 1;
    sleep_ms(10);
  }
  return 0;
}

/* Another writer (its own connection, its own origin) lets the offer of
 * request id lapse, as the daemon's own step would: the record back to
 * pending with the worker refused, the job given back, an event. */
static void lapse_elsewhere(const char *id) {
  cm_error err;
  cm_redis *r = cm_redis_new("127.0.0.1", g_rg.srv.port, g_rg.name, NULL, &err);
  cr_assert_not_null(r, "%s", err.message);
  cm_ledger *l = cm_ledger_redis_new(r, NULL, &err);
  cr_assert_not_null(l, "%s", err.message);
  cm_request_view before, after;
  cr_assert_eq(l->type->get(l, id, &before, &err), CM_OK, "%s", err.message);
  cr_assert_eq(before.state, CM_REQ_OFFERED);
  cr_assert_eq(before.n_workers, 1);
  after = before;
  after.version = before.version + 1;
  after.state = CM_REQ_PENDING;
  after.expires_ms = 0;
  after.n_workers = 0;
  memset(after.accepted, 0, sizeof after.accepted);
  memcpy(after.rejected[after.n_rejected++], before.workers[0], CM_ID_MAX);
  cm_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = CM_EV_EXPIRED;
  memcpy(ev.request, id, strlen(id));
  memcpy(ev.worker, before.workers[0], CM_ID_MAX);
  ev.from = CM_REQ_OFFERED;
  ev.to = CM_REQ_PENDING;
  cm_ledger_change ch;
  memset(&ch, 0, sizeof ch);
  ch.after = &after;
  ch.expect_version = before.version;
  ch.events = &ev;
  ch.n_events = 1;
  ch.n_workers = 1;
  memcpy(ch.workers[0].id, before.workers[0], CM_ID_MAX);
  ch.workers[0].give = 1;
  cm_ledger_result res;
  cr_assert_eq(l->type->commit(l, &ch, 1, &res, &err), CM_OK, "%s",
               err.message);
  cr_assert_eq(res.refusal, CM_LEDGER_OK);
  cm_ledger_free(l);
  cm_redis_free(r);
}

/* chaos_mirror on the daemon and Redis: its exit status, its JSON. */
static int judge(const char *acked_ids, char *out, size_t n) {
  char acked[160], command[640];
  snprintf(acked, sizeof acked, "%s/acked", D.dir);
  FILE *f = fopen(acked, "w");
  cr_assert_not_null(f);
  fputs(acked_ids, f);
  fclose(f);
  snprintf(command, sizeof command,
           "%s --redis-port %d --region %s --daemon-port %d --token %s "
           "--acked %s --quiesce-ms 10000",
           CM_MIRROR_PATH, g_rg.srv.port, g_rg.name, D.port, TOK_OPERATOR,
           acked);
  FILE *p = popen(command, "r");
  cr_assert_not_null(p);
  size_t len = fread(out, 1, n - 1, p);
  out[len] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TestSuite(mirror_follow, .init = setup, .fini = teardown);

Test(mirror_follow, a_lapse_committed_elsewhere_reaches_the_daemon) {
  cr_assert_eq(put("PUT", "/v1/workers/w1",
                   "{\"skills\":[\"nurse\"],\"lat\":31.23,\"lon\":121.47}"),
               200);
  cr_assert_eq(put("POST", "/v1/requests",
                   "{\"id\":\"q1\",\"lat\":31.231,\"lon\":121.47,\"skills\":"
                   "[\"nurse\"],\"urgency\":\"emergency\"}"),
               201);
  cr_assert(wait_offered("q1"));
  cr_assert_eq(api_jobs("w1"), 1);
  cr_assert_eq(redis_jobs("w1"), 1);
  lapse_elsewhere("q1");
  cr_assert_eq(redis_jobs("w1"), 0);
  char out[1024];
  int rc = judge("q1\n", out, sizeof out);
  cr_assert_eq(rc, 0, "%s", out);
  cr_assert(strstr(out, "\"missed_workers\":0"), "%s", out);
  cr_assert(strstr(out, "\"quiesced\":true"), "%s", out);
  cr_assert_eq(api_jobs("w1"), redis_jobs("w1"));
}

/* The worker's status as the daemon shows it ("" unknown). */
static void api_status(const char *id, char *out, size_t n) {
  char path[64];
  snprintf(path, sizeof path, "/v1/workers/%s", id);
  cm_test_reply r = cm_test_http(D.port, "GET", path, TOK_OPERATOR, NULL, NULL);
  const char *s = "";
  if (r.code != 200 ||
      json_unpack(r.json, "{s:{s:s}}", "worker", "status", &s) != 0)
    s = "";
  snprintf(out, n, "%s", s);
  cm_test_reply_free(&r);
}

/* The daemon's own stale sweep writes Redis on the daemon's connection:
 * its view must follow it (the sweep's changes are not skipped as the
 * daemon's own), or batches keep offering to a worker Redis has offline. */
Test(mirror_follow, the_daemons_own_sweep_reaches_its_view, .init = setup_sweep,
     .fini = teardown) {
  cr_assert_eq(put("PUT", "/v1/workers/ws",
                   "{\"skills\":[\"nurse\"],\"lat\":31.2,\"lon\":121.4}"),
               200);
  char st[32] = "";
  api_status("ws", st, sizeof st);
  cr_assert_str_eq(st, "available");
  redisContext *c = cm_test_side_connect(g_rg.srv.port);
  cr_assert_not_null(c);
  int swept = 0;
  for (int i = 0; i < 100 && !swept; i++) { /* stale after 1 s */
    redisReply *r = redisCommand(c, "HGET cm:{%s}:worker:ws status", g_rg.name);
    swept = r && r->type == REDIS_REPLY_STRING && !strcmp(r->str, "3");
    freeReplyObject(r);
    if (!swept)
      sleep_ms(50);
  }
  redisFree(c);
  cr_assert(swept, "the sweep marked the worker offline in Redis");
  for (int i = 0; i < 100; i++) { /* a step follows at least every second */
    api_status("ws", st, sizeof st);
    if (!strcmp(st, "offline"))
      break;
    sleep_ms(50);
  }
  cr_assert_str_eq(st, "offline", "the daemon's view follows its own sweep");
}
