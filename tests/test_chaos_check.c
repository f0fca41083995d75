/* test_chaos_check.c -- the chaos run's judge (bench/chaos_check.c) can
 * fail: on a region written by hand in a real redis-server it passes a
 * clean history, and reports a double booking, a worker whose jobs in
 * Redis disagree with its events, and an acknowledged id that is not
 * there; with lease entries (--lease), an offer under an epoch other than
 * the latest acquisition's. */
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
  cm_test_redis s = cm_test_redis_use();
  g_port = s.port;
  g_own = s.pid;
  snprintf(g_region, sizeof g_region, "cc%ld", (long)getpid());
}

static void teardown(void) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "cm:{%s}:*", g_region);
  cm_test_redis_done(&(cm_test_redis){g_port, g_own}, pattern);
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

/* A lease entry (lease.lua's, at an acquisition). */
static void lease_ev(redisContext *c, const char *epoch) {
  redisReply *r =
      redisCommand(c, "XADD cm:{%s}:events * type lease epoch %s holder d1",
                   g_region, epoch);
  cr_assert_not_null(r);
  freeReplyObject(r);
}

/* An offer made under a fence's epoch (commit.lua's). */
static void offer_ev(redisContext *c, const char *req, const char *worker,
                     const char *epoch) {
  redisReply *r = redisCommand(c,
                               "XADD cm:{%s}:events * type offered request %s "
                               "worker %s from pending to offered epoch %s",
                               g_region, req, worker, epoch);
  cr_assert_not_null(r);
  freeReplyObject(r);
}

/* Run the checker with extra arguments; its exit status, its JSON in out. */
static int judge_with(const char *extra, const char *acked_ids, char *out,
                      size_t n) {
  char acked[64], command[512];
  snprintf(acked, sizeof acked, "/tmp/cm_cc_%ld.acked", (long)getpid());
  FILE *f = fopen(acked, "w");
  cr_assert_not_null(f);
  fputs(acked_ids, f);
  fclose(f);
  snprintf(command, sizeof command,
           "%s --port %d --region %s --acked %s %s 2>/dev/null", CM_CHAOS_PATH,
           g_port, g_region, acked, extra);
  FILE *p = popen(command, "r");
  cr_assert_not_null(p);
  size_t len = fread(out, 1, n - 1, p);
  out[len] = '\0';
  int st = pclose(p);
  unlink(acked);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int judge(const char *acked_ids, char *out, size_t n) {
  return judge_with("", acked_ids, out, n);
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

/* Leases: epoch 1 held, q2 offered under it; epoch 2 acquired, q3
 * offered under it (w2 has room: q1 is done). */
static redisContext *leased_history(void) {
  redisContext *c = cm_test_side_connect(g_port);
  cr_assert_not_null(c);
  cmd(c, "HSET cm:{%s}:worker:%s capacity %s", "w1", "1");
  cmd(c, "HSET cm:{%s}:worker:%s capacity %s", "w2", "1");
  cmd(c, "HSET cm:{%s}:worker:%s jobs %s", "w1", "1");
  cmd(c, "HSET cm:{%s}:worker:%s jobs %s", "w2", "1");
  cmd(c, "HSET cm:{%s}:req:%s state %s", "q2", "1");
  cmd(c, "HSET cm:{%s}:req:%s state %s", "q3", "1");
  lease_ev(c, "1");
  ev(c, "submitted", "q2", "-", "pending");
  offer_ev(c, "q2", "w1", "1");
  lease_ev(c, "2");
  ev(c, "submitted", "q3", "-", "pending");
  offer_ev(c, "q3", "w2", "2");
  return c;
}

Test(chaos_check, offers_under_the_current_epoch_pass) {
  redisContext *c = leased_history();
  char out[1024];
  cr_assert_eq(judge_with("--lease", "q2\nq3\n", out, sizeof out), 0, "%s",
               out);
  cr_assert(strstr(out, "\"lease_entries\":2"), "%s", out);
  cr_assert(strstr(out, "\"stale_epoch_offers\":0"), "%s", out);
  redisFree(c);
}

Test(chaos_check, an_offer_under_a_stale_epoch_fails) {
  redisContext *c = leased_history();
  /* the former holder (epoch 1) offers after epoch 2 was acquired */
  cmd(c, "HSET cm:{%s}:worker:%s capacity %s", "w3", "1");
  cmd(c, "HSET cm:{%s}:worker:%s jobs %s", "w3", "1");
  cmd(c, "HSET cm:{%s}:req:%s state %s", "q4", "1");
  ev(c, "submitted", "q4", "-", "pending");
  offer_ev(c, "q4", "w3", "1");
  char out[1024];
  cr_assert_eq(judge_with("--lease", "q2\nq3\nq4\n", out, sizeof out), 1, "%s",
               out);
  cr_assert(strstr(out, "\"stale_epoch_offers\":1"), "%s", out);
  cr_assert(strstr(out, "\"double_bookings\":0"), "%s", out);
  redisFree(c);
}

Test(chaos_check, lease_required_but_absent_fails) {
  redisContext *c = clean_history();
  char out[1024];
  cr_assert_eq(judge("q1\nq2\n", out, sizeof out), 0, "%s", out);
  cr_assert_eq(judge_with("--lease", "q1\nq2\n", out, sizeof out), 1, "%s",
               out);
  cr_assert(strstr(out, "\"unfenced_offers\":3"), "%s", out);
  redisFree(c);
}

Test(chaos_check, faults_are_measured) {
  redisContext *c = leased_history();
  char faults[64], extra[128], out[2048];
  snprintf(faults, sizeof faults, "/tmp/cm_cc_%ld.faults", (long)getpid());
  FILE *f = fopen(faults, "w");
  cr_assert_not_null(f);
  fputs("kill9_holder 1 q3\nstop_holder 1\n", f); /* before every event */
  fclose(f);
  snprintf(extra, sizeof extra, "--lease --faults %s", faults);
  cr_assert_eq(judge_with(extra, "q2\nq3\n", out, sizeof out), 0, "%s", out);
  unlink(faults);
  cr_assert(strstr(out, "{\"kind\":\"kill9_holder\""), "%s", out);
  cr_assert(strstr(out, "{\"kind\":\"stop_holder\""), "%s", out);
  cr_assert_null(strstr(out, "\"to_lease_ms\":-1"), "%s", out);
  cr_assert_null(strstr(out, "\"to_new_holder_offer_ms\":-1"), "%s", out);
  /* q3, the probe of the first, was submitted and offered */
  const char *p = strstr(out, "\"probe_wait_ms\":");
  cr_assert(p && p[16] != '-', "%s", out);
  cr_assert(strstr(out, "\"probe_wait_ms\":-1}"), "the second has none: %s",
            out);
  redisFree(c);
}
