/* test_group_commit.c -- the Redis ledger's proposals on a caller's event
 * base (docs/async.md, adapters/redis/redis_group.c), against a
 * redis-server of the test's own (its command statistics are the test's
 * alone): 1,000 proposals of one loop turn go out in far fewer commit
 * script calls than proposals, each answered once with its own result and
 * present in Redis; at durability = replica one WAIT ends the group; a
 * server that stops answering (CLIENT PAUSE) completes every proposal once with
 * CM_E_UNAVAILABLE. */
#include <criterion/criterion.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/engine.h"
#include "carematch/ledger.h"
#include "carematch/redis.h"
#include "fixtures.h"
#include "redis_server.h"

#define N_PROPOSALS 1000

static int g_port;
static pid_t g_pid;

static void setup(void) {
  g_port = cm_test_free_port();
  g_pid = cm_test_server_start(g_port, NULL);
  cr_assert_gt(g_pid, 0, "redis-server starts");
}

static void teardown(void) {
  cm_test_server_kill(g_pid, SIGKILL);
}

typedef struct answer {
  int calls;                 /* completions */
  cm_status st;              /* the last one's status */
  cm_ledger_refusal refusal; /* its result */
} answer;

static answer g_ans[N_PROPOSALS + 2];
static int g_told;

static void on_done(void *ctx, cm_status st, const cm_ledger_result *res, int n,
                    const cm_error *err) {
  answer *a = ctx;
  cr_assert_eq(n, 1);
  cr_assert_not_null(err);
  a->calls++;
  a->st = st;
  a->refusal = st == CM_OK ? res[0].refusal : CM_LEDGER_OK;
  g_told++;
}

/* A connection on base for region gc, and its ledger. */
static cm_ledger *open_ledger(struct event_base *base, cm_redis **r,
                              int timeout_ms, int replica) {
  cm_redis_options o;
  cm_redis_options_init(&o);
  o.base = base;
  o.timeout_ms = timeout_ms;
  cm_error err;
  *r = cm_redis_new("127.0.0.1", g_port, "gc", &o, &err);
  cr_assert_not_null(*r, "%s", err.message);
  cm_ledger_redis_options lo;
  cm_ledger_redis_options_init(&lo);
  lo.durability_timeout_ms = 100;
  if (replica)
    lo.durability = CM_LEDGER_DURABILITY_REPLICA;
  cm_ledger *l = cm_ledger_redis_new(*r, &lo, &err);
  cr_assert_not_null(l, "%s", err.message);
  return l;
}

/* Propose the submission of request id (version 0 -> 1). */
static void propose_submit(cm_ledger *l, const char *id, answer *a) {
  cm_request_view v;
  memset(&v, 0, sizeof v);
  v.spec = cm_fx_spec(id, CM_FX_NURSE, 1, CM_URGENCY_NORMAL, 0);
  v.state = CM_REQ_PENDING;
  v.created_ms = CM_FX_T0;
  v.version = 1;
  cm_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = CM_EV_SUBMITTED;
  snprintf(ev.request, sizeof ev.request, "%s", id);
  cm_ledger_change ch;
  memset(&ch, 0, sizeof ch);
  ch.after = &v;
  ch.n_events = 1;
  ch.events = &ev;
  cm_error err;
  cr_assert_eq(cm_ledger_propose(l, &ch, 1, on_done, a, &err), CM_OK, "%s",
               err.message);
}

/* Run the loop until want completions came (at most a few seconds). */
static void run_until(struct event_base *base, int want) {
  for (int i = 0; i < 100000 && g_told < want; i++) {
    struct timeval tv = {0, 50000};
    event_base_loopexit(base, &tv);
    event_base_loop(base, EVLOOP_ONCE);
  }
}

/* calls of a command so far (INFO commandstats), e.g. "evalsha". */
static long long calls_of(const char *cmd) {
  redisContext *side = cm_test_side_connect(g_port);
  cr_assert_not_null(side);
  redisReply *rep = redisCommand(side, "INFO commandstats");
  cr_assert_not_null(rep);
  char key[64];
  snprintf(key, sizeof key, "cmdstat_%s:calls=", cmd);
  const char *at = strstr(rep->str, key);
  long long n = at ? atoll(at + strlen(key)) : 0;
  freeReplyObject(rep);
  redisFree(side);
  return n;
}

static void reset_stats(void) {
  redisContext *side = cm_test_side_connect(g_port);
  cr_assert_not_null(side);
  freeReplyObject(redisCommand(side, "CONFIG RESETSTAT"));
  redisFree(side);
}

static char *req_id(int i, char buf[CM_ID_MAX]) {
  snprintf(buf, CM_ID_MAX, "req-%04d", i);
  return buf;
}

Test(group_commit, a_thousand_proposals_few_round_trips, .init = setup,
     .fini = teardown) {
  struct event_base *base = event_base_new();
  cm_redis *r;
  cm_ledger *l = open_ledger(base, &r, 5000, 0);
  memset(g_ans, 0, sizeof g_ans);
  g_told = 0;
  reset_stats();
  char id[CM_ID_MAX];
  for (int i = 0; i < N_PROPOSALS; i++) /* one loop turn's worth */
    propose_submit(l, req_id(i, id), &g_ans[i]);
  propose_submit(l, req_id(7, id), &g_ans[N_PROPOSALS]); /* twice */
  cr_assert_eq(g_told, 0, "nothing is answered before the loop runs");
  run_until(base, N_PROPOSALS + 1);
  cr_assert_eq(g_told, N_PROPOSALS + 1);
  for (int i = 0; i < N_PROPOSALS; i++) {
    cr_assert_eq(g_ans[i].calls, 1, "proposal %d answered once", i);
    cr_assert_eq(g_ans[i].st, CM_OK, "proposal %d", i);
    cr_assert_eq(g_ans[i].refusal, CM_LEDGER_OK, "proposal %d", i);
  }
  cr_assert_eq(g_ans[N_PROPOSALS].refusal, CM_LEDGER_VERSION,
               "the second submission sees the first (proposal order)");
  long long scripts = calls_of("evalsha");
  cr_assert_leq(scripts, (N_PROPOSALS + 1 + 63) / 64,
                "%lld script calls for %d proposals", scripts, N_PROPOSALS + 1);
  cr_assert_eq(calls_of("wait"), 0, "no WAIT at the fsync level");
  for (int i = 0; i < N_PROPOSALS; i++) { /* every one is in Redis */
    cm_request_view v;
    cm_error err;
    cr_assert_eq(l->type->get(l, req_id(i, id), &v, &err), CM_OK, "%s: %s", id,
                 err.message);
    cr_assert_eq(v.version, 1);
  }
  /* a second turn: a group of its own */
  g_told = 0;
  propose_submit(l, "late", &g_ans[N_PROPOSALS + 1]);
  run_until(base, 1);
  cr_assert_eq(g_ans[N_PROPOSALS + 1].calls, 1);
  cr_assert_eq(g_ans[N_PROPOSALS + 1].refusal, CM_LEDGER_OK);
  cm_ledger_free(l);
  cm_redis_free(r);
  event_base_free(base);
}

Test(group_commit, one_wait_ends_a_group_at_replica_level, .init = setup,
     .fini = teardown) {
  struct event_base *base = event_base_new();
  cm_redis *r;
  cm_ledger *l = open_ledger(base, &r, 5000, 1);
  memset(g_ans, 0, sizeof g_ans);
  g_told = 0;
  reset_stats();
  char id[CM_ID_MAX];
  for (int i = 0; i < 100; i++)
    propose_submit(l, req_id(i, id), &g_ans[i]);
  run_until(base, 100);
  cr_assert_eq(g_told, 100);
  cr_assert_eq(calls_of("wait"), 1, "one WAIT for the whole group");
  for (int i = 0; i < 100; i++) { /* no replica: written, not durable */
    cr_assert_eq(g_ans[i].calls, 1);
    cr_assert_eq(g_ans[i].st, CM_E_NOT_DURABLE, "proposal %d", i);
  }
  cm_ledger_redis_stats stats;
  cm_ledger_redis_stats_get(l, &stats);
  cr_assert_eq(stats.waits, 100, "counted per proposal, as per commit call");
  cr_assert_eq(stats.not_durable, 100);
  cm_request_view v;
  cr_assert_eq(l->type->get(l, "req-0042", &v, NULL), CM_OK,
               "the write stands in the primary");
  cm_ledger_free(l);
  cm_redis_free(r);
  event_base_free(base);
}

Test(group_commit, a_silent_server_fails_every_proposal_once, .init = setup,
     .fini = teardown) {
  struct event_base *base = event_base_new();
  cm_redis *r;
  cm_ledger *l = open_ledger(base, &r, 300, 0);
  memset(g_ans, 0, sizeof g_ans);
  g_told = 0;
  char id[CM_ID_MAX];
  for (int i = 0; i < 20; i++)
    propose_submit(l, req_id(i, id), &g_ans[i]);
  redisContext *side = cm_test_side_connect(g_port);
  cr_assert_not_null(side);
  redisReply *rep = redisCommand(side, "CLIENT PAUSE 1000 ALL");
  cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "the server pauses");
  freeReplyObject(rep);
  run_until(base, 20);
  cr_assert_eq(g_told, 20);
  for (int i = 0; i < 20; i++) {
    cr_assert_eq(g_ans[i].calls, 1, "proposal %d answered once", i);
    cr_assert_eq(g_ans[i].st, CM_E_UNAVAILABLE, "proposal %d", i);
  }
  cr_assert_eq(cm_redis_connected(r), 0, "the connection was dropped");
  freeReplyObject(redisCommand(side, "CLIENT UNPAUSE"));
  redisFree(side);
  /* freeing the ledger with proposals waiting tells them */
  g_told = 0;
  propose_submit(l, "never", &g_ans[0]);
  cm_ledger_free(l);
  cr_assert_eq(g_told, 1);
  cr_assert_eq(g_ans[0].st, CM_E_UNAVAILABLE);
  cm_redis_free(r);
  event_base_free(base);
}

Test(group_commit, proposals_on_an_attached_loop_connection, .init = setup,
     .fini = teardown) {
  struct event_base *base = event_base_new();
  cm_error err;
  cm_redis *sync_conn = cm_redis_new("127.0.0.1", g_port, "gc", NULL, &err);
  cr_assert_not_null(sync_conn, "%s", err.message);
  cm_ledger *l = cm_ledger_redis_new(sync_conn, NULL, &err);
  cr_assert_not_null(l, "%s", err.message);
  cr_assert_eq(cm_ledger_redis_attach(l, sync_conn, &err), CM_E_INVALID,
               "a private loop cannot carry proposals");
  cm_redis_options o;
  cm_redis_options_init(&o);
  o.base = base;
  cm_redis *other = cm_redis_new("127.0.0.1", g_port, "elsewhere", &o, &err);
  cr_assert_not_null(other, "%s", err.message);
  cr_assert_eq(cm_ledger_redis_attach(l, other, &err), CM_E_INVALID);
  cr_assert_str_eq(err.field, "$.region");
  cm_redis *loop = cm_redis_new("127.0.0.1", g_port, "gc", &o, &err);
  cr_assert_not_null(loop, "%s", err.message);
  cr_assert_eq(cm_ledger_redis_attach(l, loop, &err), CM_OK, "%s", err.message);
  memset(g_ans, 0, sizeof g_ans);
  g_told = 0;
  reset_stats();
  char id[CM_ID_MAX];
  for (int i = 0; i < 200; i++)
    propose_submit(l, req_id(i, id), &g_ans[i]);
  cr_assert_eq(g_told, 0, "held for the loop, not committed at once");
  run_until(base, 200);
  cr_assert_eq(g_told, 200);
  for (int i = 0; i < 200; i++)
    cr_assert_eq(g_ans[i].refusal, CM_LEDGER_OK, "proposal %d", i);
  cr_assert_leq(calls_of("evalsha"), 4);
  cm_request_view v;
  cr_assert_eq(l->type->get(l, "req-0199", &v, &err), CM_OK,
               "read on the ledger's own connection: %s", err.message);
  cm_ledger_free(l);
  cm_redis_free(loop);
  cm_redis_free(other);
  cm_redis_free(sync_conn);
  event_base_free(base);
}

Test(group_commit, a_flushed_script_cache_is_reloaded_and_sent_again,
     .init = setup, .fini = teardown) {
  struct event_base *base = event_base_new();
  cm_redis *r;
  cm_ledger *l = open_ledger(base, &r, 5000, 0);
  memset(g_ans, 0, sizeof g_ans);
  g_told = 0;
  char id[CM_ID_MAX];
  for (int i = 0; i < 150; i++)
    propose_submit(l, req_id(i, id), &g_ans[i]);
  redisContext *side = cm_test_side_connect(g_port);
  cr_assert_not_null(side);
  freeReplyObject(redisCommand(side, "SCRIPT FLUSH"));
  reset_stats();
  run_until(base, 150);
  cr_assert_eq(g_told, 150);
  for (int i = 0; i < 150; i++) {
    cr_assert_eq(g_ans[i].calls, 1, "proposal %d answered once", i);
    cr_assert_eq(g_ans[i].st, CM_OK, "proposal %d", i);
    cr_assert_eq(g_ans[i].refusal, CM_LEDGER_OK, "proposal %d: written once",
                 i);
  }
  cr_assert_eq(calls_of("script|load"), 1, "the script loaded again, once");
  for (int i = 0; i < 150; i++) {
    cm_request_view v;
    cr_assert_eq(l->type->get(l, req_id(i, id), &v, NULL), CM_OK);
  }
  redisFree(side);
  cm_ledger_free(l);
  cm_redis_free(r);
  event_base_free(base);
}
