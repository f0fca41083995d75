/* test_durability.c -- [store] durability = replica against a real primary
 * and replica (redis-server processes of the test's own, no persistence on
 * either, so only replication keeps anything): writes succeed while the
 * replica acknowledges; with the replica frozen (SIGSTOP) a write answers
 * 503 not_durable within the timeout, is counted in /metrics, and the same
 * call retried once the replica is back succeeds; and the failover: kill -9
 * of the primary, REPLICAOF NO ONE on the replica, a daemon started on it
 * finds every request that was acknowledged. No Criterion .timeout. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon_proc.h"
#include "redis_server.h"

#define WAIT_MS 300 /* durability_timeout_ms of the tests */

static cm_test_daemon D;
static int g_primary, g_replica; /* ports */
static pid_t g_primary_pid, g_replica_pid;

static void start_daemon(cm_test_daemon *d, int port, const char *level) {
  char ini[256];
  snprintf(ini, sizeof ini,
           "[store]\nredis = redis://127.0.0.1:%d\nregion = dur\n"
           "durability = %s\ndurability_timeout_ms = %d\n",
           port, level, WAIT_MS);
  cm_test_daemon_config(d, ini);
  cm_test_daemon_start(d, NULL);
}

static void setup(void) {
  g_primary = cm_test_free_port();
  g_primary_pid = cm_test_server_start(g_primary, NULL);
  g_replica = cm_test_free_port();
  g_replica_pid = cm_test_replica_start(g_replica, g_primary);
  start_daemon(&D, g_primary, "replica");
}

static void teardown(void) {
  cm_test_daemon_cleanup(&D);
  if (g_replica_pid > 0) {
    kill(g_replica_pid, SIGCONT);
    cm_test_server_kill(g_replica_pid, SIGKILL);
  }
  if (g_primary_pid > 0)
    cm_test_server_kill(g_primary_pid, SIGKILL);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void add_worker(const cm_test_daemon *d, int i) {
  char path[64], body[160];
  snprintf(path, sizeof path, "/v1/workers/w%d", i);
  snprintf(body, sizeof body,
           "{\"skills\":[\"nurse\"],\"lat\":%.5f,\"lon\":121.47}",
           31.23 + 0.002 * i);
  cm_test_reply r = cm_test_http(d->port, "PUT", path, TOK_PLATFORM, body, 0);
  cr_assert_eq(r.code, 200, "%s", r.text);
  cm_test_reply_free(&r);
}

/* POST /v1/requests for id; the reply's code (and *ms its time). */
static long submit(const cm_test_daemon *d, const char *id, double *ms,
                   char *code, size_t n) {
  char body[192];
  snprintf(body, sizeof body,
           "{\"id\":\"%s\",\"lat\":31.23,\"lon\":121.47,\"skills\":"
           "[\"nurse\"],\"urgency\":\"normal\"}",
           id);
  double t0 = now_ms();
  cm_test_reply r =
      cm_test_http(d->port, "POST", "/v1/requests", TOK_PLATFORM, body, NULL);
  if (ms)
    *ms = now_ms() - t0;
  if (code)
    snprintf(code, n, "%s", cm_test_error_code(&r));
  long c = r.code;
  cm_test_reply_free(&r);
  return c;
}

/* A counter of /metrics, or -1. */
static long long metric(const cm_test_daemon *d, const char *name) {
  cm_test_reply r =
      cm_test_http(d->port, "GET", "/metrics", TOK_METRICS, NULL, NULL);
  long long v = -1;
  char key[96];
  snprintf(key, sizeof key, "\n%s ", name);
  const char *p = r.text ? strstr(r.text, key) : NULL;
  if (p)
    v = atoll(p + strlen(key));
  cm_test_reply_free(&r);
  return v;
}

static int request_in(int port, const char *id) {
  redisContext *c = cm_test_side_connect(port);
  cr_assert(c);
  redisReply *rep = redisCommand(c, "EXISTS cm:{dur}:req:%s", id);
  int in = rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
  if (rep)
    freeReplyObject(rep);
  redisFree(c);
  return in;
}

TestSuite(durability, .init = setup, .fini = teardown);

Test(durability, writes_confirmed_by_the_replica) {
  add_worker(&D, 0);
  for (int i = 0; i < 20; i++) {
    char id[16];
    snprintf(id, sizeof id, "ok%d", i);
    cr_assert_eq(submit(&D, id, NULL, NULL, 0), 201);
    cr_assert(request_in(g_replica, id), "%s on the replica when acked", id);
  }
  cr_assert_geq(metric(&D, "carematch_ledger_replica_waits_total"), 20);
  cr_assert_eq(metric(&D, "carematch_ledger_not_durable_total"), 0);
}

Test(durability, not_durable_while_the_replica_is_frozen) {
  add_worker(&D, 0);
  cr_assert_eq(submit(&D, "before", NULL, NULL, 0), 201);
  kill(g_replica_pid, SIGSTOP);
  double ms;
  char code[32];
  cr_assert_eq(submit(&D, "frozen", &ms, code, sizeof code), 503);
  cr_assert_str_eq(code, "not_durable");
  cr_assert_geq(ms, WAIT_MS * 0.9, "answered after the WAIT: %.0f ms", ms);
  cr_assert_lt(ms, WAIT_MS + 2000, "answered within the timeout: %.0f ms", ms);
  /* at least this call (a batch offering "before" may add its own) */
  cr_assert_geq(metric(&D, "carematch_ledger_not_durable_total"), 1);
  cr_assert(request_in(g_primary, "frozen"), "the primary has it");
  kill(g_replica_pid, SIGCONT);
  /* the same call again: the request exists, the WAIT now confirms it */
  long c = 0;
  for (int i = 0; i < 100 && c != 200; i++) {
    c = submit(&D, "frozen", NULL, NULL, 0);
    if (c != 200)
      cm_test_sleep_ms(20);
  }
  cr_assert_eq(c, 200, "the retry is answered as an existing request");
  cr_assert(request_in(g_replica, "frozen"));
}

/* Send cmd to the server on port; assert a status reply. */
static void command(int port, const char *cmd) {
  redisContext *c = cm_test_side_connect(port);
  cr_assert(c);
  redisReply *rep = redisCommand(c, cmd);
  cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "%s", cmd);
  freeReplyObject(rep);
  redisFree(c);
}

/* Requests acknowledged with the replica following, then more while it
 * follows a primary that does not exist (so it misses them: a frozen
 * replica would still find them in its socket buffer), then the primary
 * killed: every acknowledged request is on the promoted replica, as a
 * daemon started there reports. With durability = fsync the second half
 * would be acknowledged and lost. */
Test(durability, failover_keeps_every_acknowledged_request) {
  enum { N = 60 };
  int acked[N] = {0}, n_acked = 0, refused = 0;
  add_worker(&D, 0);
  for (int i = 0; i < N; i++) {
    char id[16];
    snprintf(id, sizeof id, "r%d", i);
    if (i == N / 2) { /* the second half goes unreplicated */
      char cmd[64];
      snprintf(cmd, sizeof cmd, "REPLICAOF 127.0.0.1 %d", cm_test_free_port());
      command(g_replica, cmd);
    }
    long c = submit(&D, id, NULL, NULL, 0);
    cr_assert(c == 201 || c == 503, "%s: %ld", id, c);
    acked[i] = c == 201;
    n_acked += acked[i];
    refused += c == 503;
  }
  cr_assert_geq(n_acked, N / 2);
  cr_assert_gt(refused, 0, "writes went unconfirmed while detached");
  cm_test_server_kill(g_primary_pid, SIGKILL);
  g_primary_pid = 0;
  cm_test_daemon_stop(&D, SIGKILL);
  command(g_replica, "REPLICAOF NO ONE");
  cm_test_daemon E;
  start_daemon(&E, g_replica, "fsync");
  for (int i = 0; i < N; i++) {
    if (!acked[i])
      continue;
    char path[64];
    snprintf(path, sizeof path, "/v1/requests/r%d", i);
    cm_test_reply r = cm_test_http(E.port, "GET", path, TOK_PLATFORM, NULL, 0);
    cr_expect_eq(r.code, 200, "acknowledged r%d lost: %ld", i, r.code);
    cm_test_reply_free(&r);
  }
  cm_test_daemon_stop(&E, SIGTERM);
  cm_test_daemon_cleanup(&E);
}
