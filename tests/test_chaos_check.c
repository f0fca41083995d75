/* test_chaos_check.c -- the chaos run's judge (bench/chaos_check.c) can
 * fail: on a region written by hand in a real redis-server it passes a
 * clean history, and reports a double booking, a worker whose jobs in
 * Redis disagree with its events, and an acknowledged id that is not
 * there. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "redis_server.h"

static int g_port;
static pid_t g_own;
static char g_region[32];

static void setup(void) {
  const char *env = getenv("CM_TEST_REDIS_PORT");
  if (env && *env && cm_test_server_ready(atoi(env))) {
    g_port = atoi(env);
  } else {
    g_port = cm_test_free_port();
    g_own = cm_test_server_start(g_port, NULL);
  }
  snprintf(g_region, sizeof g_region, "cc%ld", (long)getpid());
}

static void teardown(void) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "cm:{%s}:*", g_region);
  cm_test_flush_keys(g_port, pattern);
  if (g_own > 0)
    cm_test_server_kill(g_own, SIGTERM);
}

static void cmd(redisContext *c, const char *fmt, const char *a,
                const char *b) {
  redisReply *r = redisCommand(c, fmt, g_region, a, b);
  cr_assert_not_null(r);
  cr_assert_neq(r->type, REDIS_REPLY_ERROR, "%s", r->str);
  freeReplyObject(r);
}

static void ev(redisContext *c, const char *type, const char *req,
               const char *worker, const char *to) {
  redisReply *r = redisCommand(
      c, "XADD cm:{%s}:events * type %s request %s worker %s from x to %s",
      g_region, type, req, worker, to);
  cr_assert_not_null(r);
  freeReplyObject(r);
}

/* Run the checker; its exit status, its JSON in out. */
static int judge(const char *acked_ids, char *out, size_t n) {
  char acked[64], command[512];
  snprintf(acked, sizeof acked, "/tmp/cm_cc_%ld.acked", (long)getpid());
  FILE *f = fopen(acked, "w");
  cr_assert_not_null(f);
  fputs(acked_ids, f);
  fclose(f);
  snprintf(command, sizeof command,
           "%s --port %d --region %s --acked %s 2>/dev/null", CM_CHAOS_PATH,
           g_port, g_region, acked);
  FILE *p = popen(command, "r");
  cr_assert_not_null(p);
  size_t len = fread(out, 1, n - 1, p);
  out[len] = '\0';
  int st = pclose(p);
  unlink(acked);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Two workers of capacity 1; q1 offered to w1, refused, offered to w2,
 * done; q2 offered to w1 and still held (w1's jobs: 1). */
static redisContext *clean_history(void) {
  redisContext *c = cm_test_side_connect(g_port);
  cr_assert_not_null(c);
  cmd(c, "HSET cm:{%s}:worker:%s capacity %s", "w1", "1");
  cmd(c, "HSET cm:{%s}:worker:%s capacity %s", "w2", "1");
  cmd(c, "HSET cm:{%s}:worker:%s jobs %s", "w1", "1");
  cmd(c, "HSET cm:{%s}:req:%s state %s", "q1", "3");
  cmd(c, "HSET cm:{%s}:req:%s state %s", "q2", "1");
  ev(c, "submitted", "q1", "-", "pending");
  ev(c, "offered", "q1", "w1", "offered");
  ev(c, "rejected", "q1", "w1", "pending");
  ev(c, "offered", "q1", "w2", "offered");
  ev(c, "accepted", "q1", "w2", "accepted");
  ev(c, "completed", "q1", "w2", "done");
  ev(c, "submitted", "q2", "-", "pending");
  ev(c, "offered", "q2", "w1", "offered");
  return c;
}

TestSuite(chaos_check, .init = setup, .fini = teardown);

Test(chaos_check, a_clean_history_passes) {
  redisContext *c = clean_history();
  char out[1024];
  cr_assert_eq(judge("q1\nq2\n", out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "\"double_bookings\":0"), "%s", out);
  cr_assert(strstr(out, "\"offers\":3"), "%s", out);
  redisFree(c);
}

Test(chaos_check, a_double_booking_fails) {
  redisContext *c = clean_history();
  ev(c, "submitted", "q3", "-", "pending");
  ev(c, "offered", "q3", "w1", "offered"); /* w1 still holds q2 */
  char out[1024];
  cr_assert_eq(judge("q1\n", out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "\"double_bookings\":1"), "%s", out);
  cr_assert(strstr(out, "\"jobs_mismatches\":1"), "%s", out);
  redisFree(c);
}

Test(chaos_check, a_lost_request_fails) {
  redisContext *c = clean_history();
  char out[1024];
  cr_assert_eq(judge("q1\nq9\n", out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "\"missing\":1"), "%s", out);
  redisFree(c);
}
