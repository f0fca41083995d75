/* test_group_commit.c -- the Redis ledger's proposals on a caller's event
 * base (docs/async.md, adapters/redis/redis_group.c), against a
 * redis-server of the test's own (its command statistics are the test's
 * alone): 1,000 proposals of one loop turn go out in far fewer commit
 * script calls than proposals, each answered once with its own result and
 * present in Redis; at durability = replica one WAIT ends the group; a
 * server that stops answering (CLIENT PAUSE) completes every proposal once with
 * CM_E_UNAVAILABLE. Worker writes (cm_ledger_worker_propose) go in the same
 * pipeline: a turn's position writes share positions script calls, each
 * answered once and present; a shift keeps its place among the takes; a
 * flushed script cache is loaded again for them too. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "carematch/engine.h"
#include "carematch/ledger.h"
#include "carematch/redis.h"
#include "fixtures.h"
#include "redis_server.h"

#define N_PROPOSALS 1000

typedef struct answer {
  int calls;                 /* completions */
  cm_status st;              /* the last one's status */
  cm_ledger_refusal refusal; /* its result */
  char message[512];         /* its error's message */
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
  snprintf(a->message, sizeof a->message, "%s", err->message);
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
  *r = cm_redis_new("127.0.0.1", cm_test_own_redis.port, "gc", &o, &err);
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

/* open_ledger's ledger, connection and base freed. */
static void close_ledger(struct event_base *base, cm_ledger *l, cm_redis *r) {
  cm_ledger_free(l);
  cm_redis_free(r);
  event_base_free(base);
}

/* Propose the submission of request id (version 0 -> 1). */
static void propose_submit(cm_ledger *l, const char *id, answer *a) {
  cm_error err;
  cr_assert_eq(cm_fx_propose_submit(l, id, on_done, a, &err), CM_OK, "%s",
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
  redisContext *side = cm_test_side_connect(cm_test_own_redis.port);
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
  redisContext *side = cm_test_side_connect(cm_test_own_redis.port);
  cr_assert_not_null(side);
  freeReplyObject(redisCommand(side, "CONFIG RESETSTAT"));
  redisFree(side);
}

static char *req_id(int i, char buf[CM_ID_MAX]) {
  snprintf(buf, CM_ID_MAX, "req-%04d", i);
  return buf;
}

Test(group_commit, a_thousand_proposals_few_round_trips,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
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
  close_ledger(base, l, r);
}

typedef struct pair_answer {
  int calls, n;
  cm_status st;
  cm_ledger_result res[2];
} pair_answer;

static void on_pair(void *ctx, cm_status st, const cm_ledger_result *res, int n,
                    const cm_error *err) {
  pair_answer *a = ctx;
  (void)err;
  a->calls++;
  a->st = st;
  a->n = n;
  for (int i = 0; st == CM_OK && i < n && i < 2; i++)
    a->res[i] = res[i];
  g_told++;
}

/* Two changes proposed together (with_next: both or neither, a
 * diversion's accept) behind 63 others: the 64th and 65th changes of the
 * group, across the boundary of a commit script call (64 changes). The
 * pair goes whole into the second call, so the second change's refusal
 * (a version Redis does not have) keeps the first from being written.
 * Split across the calls, the first was written alone. */
Test(group_commit, a_pair_is_never_split_across_script_calls,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  struct event_base *base = event_base_new();
  cm_redis *r;
  cm_ledger *l = open_ledger(base, &r, 5000, 0);
  memset(g_ans, 0, sizeof g_ans);
  g_told = 0;
  reset_stats();
  char id[CM_ID_MAX];
  for (int i = 0; i < 63; i++)
    propose_submit(l, req_id(i, id), &g_ans[i]);
  cm_request_view va = cm_fx_submitted("pa"), vb = cm_fx_submitted("pb");
  vb.version = 6;
  cm_ledger_change ch[2];
  memset(ch, 0, sizeof ch);
  ch[0].after = &va;
  ch[0].with_next = 1;
  ch[1].after = &vb;
  ch[1].expect_version = 5; /* Redis has no pb: refused */
  pair_answer pa = {0};
  cm_error err;
  cr_assert_eq(cm_ledger_propose(l, ch, 2, on_pair, &pa, &err), CM_OK, "%s",
               err.message);
  run_until(base, 64);
  cr_assert_eq(pa.calls, 1, "the pair answered once");
  cr_assert_eq(pa.st, CM_OK);
  cr_assert_eq(pa.n, 2);
  cr_assert_eq(pa.res[1].refusal, CM_LEDGER_VERSION);
  cr_assert_neq(pa.res[0].refusal, CM_LEDGER_OK, "refused with its pair");
  cm_request_view v;
  cr_assert_eq(l->type->get(l, "pa", &v, &err), CM_E_UNKNOWN_ID,
               "pa was not written alone");
  for (int i = 0; i < 63; i++)
    cr_assert_eq(g_ans[i].refusal, CM_LEDGER_OK, "proposal %d", i);
  cr_assert_eq(calls_of("evalsha"), 2, "63 + the pair's 2 in two calls");
  close_ledger(base, l, r);
}

Test(group_commit, one_wait_ends_a_group_at_replica_level,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
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
  close_ledger(base, l, r);
}

Test(group_commit, a_silent_server_fails_every_proposal_once,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  struct event_base *base = event_base_new();
  cm_redis *r;
  cm_ledger *l = open_ledger(base, &r, 300, 0);
  memset(g_ans, 0, sizeof g_ans);
  g_told = 0;
  char id[CM_ID_MAX];
  for (int i = 0; i < 20; i++)
    propose_submit(l, req_id(i, id), &g_ans[i]);
  redisContext *side = cm_test_side_connect(cm_test_own_redis.port);
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

Test(group_commit, proposals_on_an_attached_loop_connection,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  struct event_base *base = event_base_new();
  cm_error err;
  cm_redis *sync_conn =
      cm_redis_new("127.0.0.1", cm_test_own_redis.port, "gc", NULL, &err);
  cr_assert_not_null(sync_conn, "%s", err.message);
  cm_ledger *l = cm_ledger_redis_new(sync_conn, NULL, &err);
  cr_assert_not_null(l, "%s", err.message);
  cr_assert_eq(cm_ledger_redis_attach(l, sync_conn, &err), CM_E_INVALID,
               "a private loop cannot carry proposals");
  cm_redis_options o;
  cm_redis_options_init(&o);
  o.base = base;
  cm_redis *other =
      cm_redis_new("127.0.0.1", cm_test_own_redis.port, "elsewhere", &o, &err);
  cr_assert_not_null(other, "%s", err.message);
  cr_assert_eq(cm_ledger_redis_attach(l, other, &err), CM_E_INVALID);
  cr_assert_str_eq(err.field, "$.region");
  cm_redis *loop =
      cm_redis_new("127.0.0.1", cm_test_own_redis.port, "gc", &o, &err);
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
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  struct event_base *base = event_base_new();
  cm_redis *r;
  cm_ledger *l = open_ledger(base, &r, 5000, 0);
  memset(g_ans, 0, sizeof g_ans);
  g_told = 0;
  char id[CM_ID_MAX];
  for (int i = 0; i < 150; i++)
    propose_submit(l, req_id(i, id), &g_ans[i]);
  redisContext *side = cm_test_side_connect(cm_test_own_redis.port);
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
  close_ledger(base, l, r);
}

/* ---- worker writes in the group (cm_ledger_worker_propose) ---- */

static int g_wcalls[2000]; /* completions per worker proposal */
static cm_status g_wst[2000];

static void on_wdone(void *ctx, cm_status st, const cm_ledger_result *res,
                     int n, const cm_error *err) {
  int *k = ctx;
  cr_assert_null(res);
  cr_assert_eq(n, 0);
  cr_assert_not_null(err);
  g_wcalls[*k]++;
  g_wst[*k] = st;
  g_told++;
}

static int g_slot[2000]; /* ctx of proposal k: &g_slot[k] == k */

static void propose_worker(cm_ledger *l, const cm_ledger_worker_write *w,
                           int k) {
  g_slot[k] = k;
  cm_error err;
  cr_assert_eq(cm_ledger_worker_propose(l, w, on_wdone, &g_slot[k], &err),
               CM_OK, "%s", err.message);
}

static char *wrk_id(int i, char buf[CM_ID_MAX]) {
  snprintf(buf, CM_ID_MAX, "w%03d", i);
  return buf;
}

/* Upsert workers 0 .. n-1 (capacity cap, on shift) in one turn. */
static void upsert_workers(struct event_base *base, cm_ledger *l, int n,
                           int cap) {
  memset(g_wcalls, 0, sizeof g_wcalls);
  g_told = 0;
  char id[CM_ID_MAX];
  for (int i = 0; i < n; i++) {
    cm_worker w = cm_fx_worker(wrk_id(i, id), CM_FX_NURSE, 0, 0, cap, CM_FX_T0);
    cm_ledger_worker_write ww = {.op = CM_LEDGER_W_UPSERT, .worker = &w};
    propose_worker(l, &ww, i);
  }
  run_until(base, n);
  cr_assert_eq(g_told, n);
  for (int i = 0; i < n; i++)
    cr_assert_eq(g_wst[i], CM_OK, "upsert %d", i);
}

/* The worker's latitude in Redis, as stored (%.17g). */
static double lat_of(redisContext *side, const char *id) {
  redisReply *rep = redisCommand(side, "HGET cm:{gc}:worker:%s lat", id);
  cr_assert(rep && rep->type == REDIS_REPLY_STRING, "%s has a position", id);
  double v = strtod(rep->str, NULL);
  freeReplyObject(rep);
  return v;
}

#define N_WORKERS 300
#define N_SINGLE 1000
#define N_BULK 700

Test(group_commit, a_turns_positions_share_script_calls,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  struct event_base *base = event_base_new();
  cm_redis *r;
  cm_ledger *l = open_ledger(base, &r, 5000, 0);
  upsert_workers(base, l, N_WORKERS, 2);
  memset(g_wcalls, 0, sizeof g_wcalls);
  g_told = 0;
  reset_stats();
  static double want[N_WORKERS]; /* the last latitude proposed */
  char id[CM_ID_MAX];
  for (int i = 0; i < N_SINGLE; i++) { /* single writes, workers repeat */
    const char *ids[1] = {wrk_id(i % N_WORKERS, id)};
    double lat = 31.0 + i * 1e-5, lon = 121.5;
    int64_t seen = CM_FX_T0 + i;
    cm_ledger_worker_write w = {.op = CM_LEDGER_W_POSITIONS,
                                .n = 1,
                                .ids = ids,
                                .lat = &lat,
                                .lon = &lon,
                                .seen_ms = &seen};
    propose_worker(l, &w, i);
    want[i % N_WORKERS] = lat;
  }
  static char bid[N_BULK][CM_ID_MAX];
  static const char *bids[N_BULK];
  static double blat[N_BULK], blon[N_BULK];
  static int64_t bseen[N_BULK];
  for (int j = 0; j < N_BULK; j++) { /* one bulk, a worker twice in a row */
    int k = j == N_BULK - 1 ? (j - 1) % N_WORKERS : j % N_WORKERS;
    bids[j] = wrk_id(k, bid[j]);
    blat[j] = 32.0 + j * 1e-5;
    blon[j] = 121.5;
    bseen[j] = CM_FX_T0 + N_SINGLE + j;
    want[k] = blat[j];
  }
  cm_ledger_worker_write bulk = {.op = CM_LEDGER_W_POSITIONS,
                                 .n = N_BULK,
                                 .ids = bids,
                                 .lat = blat,
                                 .lon = blon,
                                 .seen_ms = bseen};
  propose_worker(l, &bulk, N_SINGLE);
  cr_assert_eq(g_told, 0, "nothing is answered before the loop runs");
  run_until(base, N_SINGLE + 1);
  cr_assert_eq(g_told, N_SINGLE + 1);
  for (int i = 0; i <= N_SINGLE; i++) {
    cr_assert_eq(g_wcalls[i], 1, "proposal %d answered once", i);
    cr_assert_eq(g_wst[i], CM_OK, "proposal %d", i);
  }
  long long scripts = calls_of("evalsha");
  cr_assert_leq(scripts, 12, "%lld script calls for %d position writes",
                scripts, N_SINGLE + 1);
  redisContext *side = cm_test_side_connect(cm_test_own_redis.port);
  cr_assert_not_null(side);
  for (int k = 0; k < N_WORKERS; k++) /* the last one proposed wins */
    cr_assert_eq(lat_of(side, wrk_id(k, id)), want[k], "%s", id);
  redisFree(side);
  close_ledger(base, l, r);
}

/* Propose a change that makes worker take a job (request id, new). */
static void propose_take(cm_ledger *l, const char *id, const char *worker,
                         answer *a) {
  cm_request_view v = cm_fx_submitted(id);
  v.state = CM_REQ_OFFERED;
  cm_ledger_change ch;
  memset(&ch, 0, sizeof ch);
  ch.after = &v;
  ch.n_workers = 1;
  snprintf(ch.workers[0].id, sizeof ch.workers[0].id, "%s", worker);
  ch.workers[0].take = 1;
  cm_error err;
  cr_assert_eq(cm_ledger_propose(l, &ch, 1, on_done, a, &err), CM_OK, "%s",
               err.message);
}

Test(group_commit, a_shift_keeps_its_place_among_the_takes,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  struct event_base *base = event_base_new();
  cm_redis *r;
  cm_ledger *l = open_ledger(base, &r, 5000, 0);
  upsert_workers(base, l, 1, 2);
  memset(g_ans, 0, sizeof g_ans);
  memset(g_wcalls, 0, sizeof g_wcalls);
  g_told = 0;
  /* one turn: off, a take, on, a take, a shift of nobody */
  cm_ledger_worker_write off = {.op = CM_LEDGER_W_SHIFT, .id = "w000"};
  cm_ledger_worker_write on = {
      .op = CM_LEDGER_W_SHIFT, .id = "w000", .on_shift = 1};
  cm_ledger_worker_write nobody = {
      .op = CM_LEDGER_W_SHIFT, .id = "nobody", .on_shift = 1};
  propose_worker(l, &off, 0);
  propose_take(l, "take-a", "w000", &g_ans[0]);
  propose_worker(l, &on, 1);
  propose_take(l, "take-b", "w000", &g_ans[1]);
  propose_worker(l, &nobody, 2);
  run_until(base, 5);
  cr_assert_eq(g_told, 5);
  cr_assert_eq(g_wst[0], CM_OK);
  cr_assert_eq(g_wst[1], CM_OK);
  cr_assert_eq(g_wst[2], CM_E_UNKNOWN_ID, "the synchronous shift's answer");
  cr_assert_eq(g_ans[0].st, CM_OK);
  cr_assert_eq(g_ans[0].refusal, CM_LEDGER_WORKER,
               "proposed after the shift off: refused");
  cr_assert_eq(g_ans[1].refusal, CM_LEDGER_OK,
               "proposed after the shift on: taken");
  close_ledger(base, l, r);
}

Test(group_commit, worker_writes_after_a_flushed_script_cache,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  struct event_base *base = event_base_new();
  cm_redis *r;
  cm_ledger *l = open_ledger(base, &r, 5000, 0);
  upsert_workers(base, l, 50, 1);
  memset(g_wcalls, 0, sizeof g_wcalls);
  g_told = 0;
  char id[CM_ID_MAX];
  for (int i = 0; i < 50; i++) {
    const char *ids[1] = {wrk_id(i, id)};
    double lat = 30.5 + i * 1e-4, lon = 121.5;
    int64_t seen = CM_FX_T0 + 5;
    cm_ledger_worker_write w = {.op = CM_LEDGER_W_POSITIONS,
                                .n = 1,
                                .ids = ids,
                                .lat = &lat,
                                .lon = &lon,
                                .seen_ms = &seen};
    propose_worker(l, &w, i);
  }
  cm_ledger_worker_write off = {.op = CM_LEDGER_W_SHIFT, .id = "w007"};
  propose_worker(l, &off, 50);
  redisContext *side = cm_test_side_connect(cm_test_own_redis.port);
  cr_assert_not_null(side);
  freeReplyObject(redisCommand(side, "SCRIPT FLUSH"));
  reset_stats();
  run_until(base, 51);
  cr_assert_eq(g_told, 51);
  for (int i = 0; i <= 50; i++) {
    cr_assert_eq(g_wcalls[i], 1, "proposal %d answered once", i);
    cr_assert_eq(g_wst[i], CM_OK, "proposal %d", i);
  }
  cr_assert_eq(calls_of("script|load"), 2, "positions and status, once each");
  for (int i = 0; i < 50; i++)
    cr_assert_eq(lat_of(side, wrk_id(i, id)), 30.5 + i * 1e-4, "%s", id);
  redisReply *rep = redisCommand(side, "HGET cm:{gc}:worker:w007 status");
  cr_assert(rep && rep->type == REDIS_REPLY_STRING);
  cr_assert_str_eq(rep->str, "3", "off shift (OFFLINE)");
  freeReplyObject(rep);
  redisFree(side);
  close_ledger(base, l, r);
}

/* A socket on a free port that listens and never accepts: connects
 * succeed (the kernel's backlog), nothing is ever answered. */
static int silent_listener(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)(*port = cm_test_free_port()));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_eq(listen(fd, 16), 0);
  return fd;
}

/* cm_redis_connect_async returns at once; the handshake (the scripts
 * loaded, the ACL probe) is carried by the loop, and proposals made
 * meanwhile wait for it instead of failing, then go through. */
Test(group_commit, proposals_wait_for_an_asynchronous_handshake,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  struct event_base *base = event_base_new();
  cm_redis_options o;
  cm_redis_options_init(&o);
  o.base = base;
  o.connect_later = 1;
  cm_error err;
  cm_redis *r =
      cm_redis_new("127.0.0.1", cm_test_own_redis.port, "gc", &o, &err);
  cr_assert_not_null(r, "%s", err.message);
  cm_ledger_redis_options lo;
  cm_ledger_redis_options_init(&lo);
  cm_ledger *l = cm_ledger_redis_new(r, &lo, &err);
  cr_assert_not_null(l, "%s", err.message);
  cr_assert_eq(cm_redis_connect_async(r, &err), CM_OK, "%s", err.message);
  cr_assert(cm_redis_connecting(r) && !cm_redis_connected(r));
  g_told = 0;
  memset(g_ans, 0, sizeof g_ans);
  char id[CM_ID_MAX];
  for (int i = 0; i < 10; i++)
    propose_submit(l, req_id(i, id), &g_ans[i]);
  run_until(base, 10);
  cr_assert_eq(g_told, 10);
  for (int i = 0; i < 10; i++)
    cr_assert(g_ans[i].calls == 1 && g_ans[i].st == CM_OK &&
                  g_ans[i].refusal == CM_LEDGER_OK,
              "proposal %d: %d calls, status %d", i, g_ans[i].calls,
              g_ans[i].st);
  cr_assert(cm_redis_connected(r) && !cm_redis_connecting(r));
  redisContext *side = cm_test_side_connect(cm_test_own_redis.port);
  redisReply *rep = redisCommand(side, "EXISTS cm:{gc}:req:req-0009");
  cr_assert(rep && rep->integer == 1);
  freeReplyObject(rep);
  redisFree(side);
  close_ledger(base, l, r);
}

/* A server that accepts and never answers: the handshake is dropped by
 * its own timer, a proposal made meanwhile is told CM_E_UNAVAILABLE once,
 * and the next attempt waits the backoff (nothing blocks the caller). */
Test(group_commit, a_silent_server_ends_the_handshake_by_its_timeout,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  int port;
  int lfd = silent_listener(&port);
  struct event_base *base = event_base_new();
  cm_redis_options o;
  cm_redis_options_init(&o);
  o.base = base;
  o.connect_later = 1;
  o.timeout_ms = 300;
  cm_error err;
  cm_redis *r = cm_redis_new("127.0.0.1", port, "gc", &o, &err);
  cr_assert_not_null(r, "%s", err.message);
  cm_ledger_redis_options lo;
  cm_ledger_redis_options_init(&lo);
  lo.durability_timeout_ms = 100; /* below the connection's timeout */
  cm_ledger *l = cm_ledger_redis_new(r, &lo, &err);
  cr_assert_not_null(l, "%s", err.message);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  cr_assert_eq(cm_redis_connect_async(r, &err), CM_OK, "%s", err.message);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  long call_ms =
      (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
  cr_assert_lt(call_ms, 100, "the connect call took %ld ms", call_ms);
  cr_assert(cm_redis_connecting(r));
  g_told = 0;
  memset(g_ans, 0, sizeof g_ans);
  char id[CM_ID_MAX];
  propose_submit(l, req_id(0, id), &g_ans[0]);
  run_until(base, 1);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  long ms =
      (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
  cr_assert(g_ans[0].calls == 1 && g_ans[0].st == CM_E_UNAVAILABLE,
            "%d calls, status %d", g_ans[0].calls, g_ans[0].st);
  cr_assert_geq(ms, 250, "told after %ld ms, before the timeout", ms);
  cr_assert(!cm_redis_connecting(r) && !cm_redis_connected(r));
  cr_assert(strstr(cm_redis_last_error(r), "no reply within 300 ms"), "%s",
            cm_redis_last_error(r));
  cr_assert_eq(cm_redis_connect_async(r, &err), CM_E_UNAVAILABLE,
               "the next attempt waits the backoff");
  close_ledger(base, l, r);
  close(lfd);
}

/* What the watch saw (cm_ledger_redis_group_watch). */
typedef struct watched {
  int sent, answered;     /* groups */
  int changes, positions; /* of the groups answered */
  uint64_t last_id;       /* the last group's number */
} watched;

static void on_group(void *arg, const cm_ledger_redis_group *g) {
  watched *w = arg;
  if (!g->answered) {
    w->sent++;
    cr_assert_gt(g->id, w->last_id, "groups are numbered in order");
    w->last_id = g->id;
    cr_assert_geq(g->in_flight, 1, "a group sent is in flight");
    return;
  }
  w->answered++;
  w->changes += g->changes;
  w->positions += g->positions;
  cr_assert_gt(g->commands, 0);
}

/* A flushed group is written in the loop turn that flushed it, not at the
 * next turn's write event (docs/async-log.md, "Measured: the emergency
 * path"): one non-blocking turn later, Redis has the writes, before any
 * reply was read. The watch sees each group sent once and answered once. */
Test(group_commit, a_group_is_written_in_the_turn_it_is_flushed,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  struct event_base *base = event_base_new();
  cm_redis *r;
  cm_ledger *l = open_ledger(base, &r, 5000, 0);
  cm_error err;
  watched w;
  memset(&w, 0, sizeof w);
  cr_assert_eq(cm_ledger_redis_group_watch(l, on_group, &w, &err), CM_OK, "%s",
               err.message);
  memset(g_ans, 0, sizeof g_ans);
  g_told = 0;
  char id[CM_ID_MAX];
  propose_submit(l, "warm", &g_ans[0]); /* the handshake first */
  run_until(base, 1);
  cr_assert_eq(g_ans[0].st, CM_OK);
  g_told = 0;
  for (int i = 1; i <= 10; i++)
    propose_submit(l, req_id(i, id), &g_ans[i]);
  event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK); /* one turn */
  cr_assert_eq(g_told, 0, "no reply read yet");
  redisContext *side = cm_test_side_connect(cm_test_own_redis.port);
  cr_assert_not_null(side);
  long long have = 0;
  for (int i = 0; i < 100 && have == 0; i++) { /* Redis runs it meanwhile */
    redisReply *rep = redisCommand(side, "EXISTS cm:{gc}:req:req-0010");
    cr_assert_not_null(rep);
    have = rep->integer;
    freeReplyObject(rep);
    struct timespec ts = {0, 10000000};
    if (!have)
      nanosleep(&ts, NULL);
  }
  redisFree(side);
  cr_assert_eq(have, 1, "the group was written in its own turn");
  run_until(base, 10);
  for (int i = 1; i <= 10; i++)
    cr_assert(g_ans[i].calls == 1 && g_ans[i].st == CM_OK, "proposal %d", i);
  cr_assert_eq(w.sent, 2, "the warm-up's group and this one");
  cr_assert_eq(w.answered, 2);
  cr_assert_eq(w.changes, 11);
  cr_assert_eq(w.positions, 0);
  /* a ledger proposing on a private base has no groups to watch */
  cm_redis *own =
      cm_redis_new("127.0.0.1", cm_test_own_redis.port, "gc", NULL, &err);
  cr_assert_not_null(own, "%s", err.message);
  cm_ledger *sync_l = cm_ledger_redis_new(own, NULL, &err);
  cr_assert_not_null(sync_l, "%s", err.message);
  cr_assert_eq(cm_ledger_redis_group_watch(sync_l, on_group, &w, &err),
               CM_E_INVALID);
  cm_ledger_free(sync_l);
  cm_redis_free(own);
  close_ledger(base, l, r);
}

/* At durability = replica, worker writes are acknowledged at the primary
 * (docs/redis.md "Not waited for"): a turn of worker writes alone sends
 * no WAIT, and in a group with a change the WAIT's verdict (here: no
 * replica, not durable) is the change's only. */
Test(group_commit, worker_writes_are_not_waited_for_at_replica_level,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  struct event_base *base = event_base_new();
  cm_redis *r;
  cm_ledger *l = open_ledger(base, &r, 5000, 1);
  reset_stats();
  upsert_workers(base, l, 3, 1); /* asserts each answered CM_OK */
  const char *ids[1] = {"w001"};
  double lat = 31.5, lon = 121.5;
  int64_t seen = CM_FX_T0 + 1;
  cm_ledger_worker_write pos = {.op = CM_LEDGER_W_POSITIONS,
                                .n = 1,
                                .ids = ids,
                                .lat = &lat,
                                .lon = &lon,
                                .seen_ms = &seen};
  memset(g_wcalls, 0, sizeof g_wcalls);
  g_told = 0;
  propose_worker(l, &pos, 0);
  run_until(base, 1);
  cr_assert_eq(g_wst[0], CM_OK, "a position alone: acknowledged");
  cr_assert_eq(calls_of("wait"), 0, "no WAIT for worker writes alone");
  /* a change and a position in one turn: one WAIT, the change not durable
     (no replica), the position acknowledged */
  memset(g_ans, 0, sizeof g_ans);
  memset(g_wcalls, 0, sizeof g_wcalls);
  g_told = 0;
  propose_submit(l, "req-mixed", &g_ans[0]);
  propose_worker(l, &pos, 1);
  run_until(base, 2);
  cr_assert_eq(g_told, 2);
  cr_assert_eq(calls_of("wait"), 1, "one WAIT, for the change");
  cr_assert_eq(g_ans[0].st, CM_E_NOT_DURABLE);
  cr_assert_eq(g_wcalls[1], 1);
  cr_assert_eq(g_wst[1], CM_OK, "the position beside it: acknowledged");
  cm_ledger_redis_stats stats;
  cm_ledger_redis_stats_get(l, &stats);
  cr_assert_eq(stats.not_durable, 1, "the change alone");
  close_ledger(base, l, r);
}

/* A WAIT skipped because no replica was online (the gate): the message
 * gives the count the decision used, even when the ROLE sent in its place
 * finds a replica that linked meanwhile (it said "1 of 1 replica(s)
 * online" for a write it called not durable). */
Test(group_commit, a_skipped_wait_reports_the_count_it_was_decided_on,
     .init = cm_test_own_redis_start, .fini = cm_test_own_redis_kill) {
  struct event_base *base = event_base_new();
  cm_redis *r;
  cm_ledger *l = open_ledger(base, &r, 5000, 1);
  memset(g_ans, 0, sizeof g_ans);
  g_told = 0;
  propose_submit(l, "req-alone", &g_ans[0]);
  run_until(base, 1);
  cr_assert_eq(g_ans[0].st, CM_E_NOT_DURABLE, "no replica: WAIT short");
  pid_t replica =
      cm_test_replica_start(cm_test_free_port(), cm_test_own_redis.port);
  g_told = 0;
  propose_submit(l, "req-linked", &g_ans[1]);
  run_until(base, 1);
  cm_ledger_redis_stats stats;
  cm_ledger_redis_stats_get(l, &stats);
  cr_assert_eq(stats.skipped_waits, 1, "the gate skipped the second WAIT");
  cr_assert_eq(g_ans[1].st, CM_E_NOT_DURABLE);
  cr_assert(strstr(g_ans[1].message, "has 0 of 1 replica(s) online"),
            "the decision's count: %s", g_ans[1].message);
  g_told = 0;
  propose_submit(l, "req-after", &g_ans[2]);
  run_until(base, 1);
  cr_assert_eq(g_ans[2].st, CM_OK, "the ROLE's count is used next");
  cm_test_server_kill(replica, SIGKILL);
  close_ledger(base, l, r);
}
