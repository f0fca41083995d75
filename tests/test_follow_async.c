/* test_follow_async.c -- the Redis ledger's follow of other writers on a
 * caller's event base (ledger.h's follow_async, docs/async.md), against a
 * redis-server of the test's own: the changes another writer made are
 * reported from the loop's callbacks (the ledger's own are not), the call
 * returns before Redis answers (a paused Redis holds nothing), a server
 * that does not answer within the connection's timeout ends it
 * CM_E_UNAVAILABLE, a ledger freed while its follow is in flight ends
 * it exactly once, and a follow costs one round trip when no other writer
 * changed anything. */
#include <criterion/criterion.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "carematch/engine.h"
#include "carematch/ledger.h"
#include "carematch/redis.h"
#include "fixtures.h"
#include "redis_pair.h"
#include "redis_server.h"

TestSuite(follow_async, .init = cm_test_own_redis_start,
          .fini = cm_test_own_redis_kill);

typedef struct seen {
  char ids[16][CM_ID_MAX]; /* reported, in order */
  int n;
  int done;     /* completions */
  cm_status st; /* the last one's */
  int lost;     /* */
} seen;

static void on_change(void *ctx, const char *id, const cm_worker *w) {
  seen *s = ctx;
  cr_assert_not_null(w, "%s is still there", id);
  if (s->n < 16)
    snprintf(s->ids[s->n++], CM_ID_MAX, "%s", id);
}

static void on_followed(void *ctx, cm_status st, int lost,
                        const cm_error *err) {
  seen *s = ctx;
  cr_assert_not_null(err);
  s->done++;
  s->st = st;
  s->lost = lost;
}

/* A's and B's ledgers on region fa (cm_test_pair, no engines), A's loop
 * connection with timeout_ms; A follows from the stream's end. */
static void open_all_timeout(cm_test_pair *s, int timeout_ms) {
  cm_test_pair_ledgers_open(s, cm_test_own_redis.port, "fa", NULL, timeout_ms);
  cm_error err;
  cr_assert_eq(s->l->type->follow_start(s->l, &err), CM_OK, "%s", err.message);
}

static void open_all(cm_test_pair *s) {
  open_all_timeout(s, 5000);
}

static void upsert(cm_ledger *l, const char *id) {
  cm_worker w = cm_fx_worker(id, CM_FX_NURSE, 31.2, 121.4, 1, CM_FX_T0);
  cm_error err;
  cr_assert_eq(l->type->worker_upsert(l, &w, &err), CM_OK, "%s", err.message);
}

static void run_until_done(struct event_base *base, const seen *s) {
  for (int i = 0; i < 200 && !s->done; i++) {
    struct timeval tv = {0, 20000};
    event_base_loopexit(base, &tv);
    event_base_loop(base, EVLOOP_ONCE);
  }
}

Test(follow_async, another_writers_changes_come_from_the_loop) {
  cm_test_pair s;
  open_all(&s);
  upsert(s.l, "mine"); /* our own write: in the mirror already */
  upsert(s.other, "w1");
  upsert(s.other, "w2");
  upsert(s.other, "w1"); /* reported once */
  seen got;
  memset(&got, 0, sizeof got);
  cm_error err;
  cr_assert_eq(s.l->type->follow_async(s.l, on_change, &got, on_followed, &err),
               CM_OK, "%s", err.message);
  cr_assert_eq(got.done, 0, "answered from the loop, not at once");
  cr_assert_eq(s.l->type->follow_async(s.l, on_change, &got, on_followed, &err),
               CM_E_CONFLICT, "one at a time");
  run_until_done(s.base, &got);
  cr_assert_eq(got.done, 1);
  cr_assert_eq(got.st, CM_OK);
  cr_assert_eq(got.lost, 0);
  cr_assert_eq(got.n, 2, "w1 and w2, not our own write (%d)", got.n);
  cr_assert_str_eq(got.ids[0], "w1");
  cr_assert_str_eq(got.ids[1], "w2");
  /* caught up: the next follow reports nothing */
  memset(&got, 0, sizeof got);
  cr_assert_eq(s.l->type->follow_async(s.l, on_change, &got, on_followed, &err),
               CM_OK);
  run_until_done(s.base, &got);
  cr_assert_eq(got.done, 1);
  cr_assert_eq(got.n, 0);
  cm_test_pair_close(&s);
}

static long long rounds(const cm_ledger *l) {
  cm_ledger_redis_follow fw;
  cm_ledger_redis_follow_get(l, &fw);
  return fw.rounds;
}

static void follow_once(cm_test_pair *s, seen *got) {
  cm_error err;
  memset(got, 0, sizeof *got);
  cr_assert_eq(
      s->l->type->follow_async(s->l, on_change, got, on_followed, &err), CM_OK,
      "%s", err.message);
  run_until_done(s->base, got);
  cr_assert_eq(got->done, 1);
  cr_assert_eq(got->st, CM_OK);
  cr_assert_eq(got->lost, 0);
}

/* The round trips a follow waits for (docs/async.md): XINFO and the first
 * XRANGE page go together, so a follow that finds only our own writes, or
 * nothing, costs one; another writer's change adds the HGETALL round; a
 * stream longer than a page adds a round a further page. */
Test(follow_async, a_follow_costs_one_round_without_others_changes) {
  cm_test_pair s;
  open_all(&s);
  seen got;
  long long r0 = rounds(s.l);
  follow_once(&s, &got); /* nothing new */
  cr_assert_eq(rounds(s.l) - r0, 1, "caught up: %lld rounds", rounds(s.l) - r0);
  upsert(s.l, "mine");
  upsert(s.l, "mine2");
  r0 = rounds(s.l);
  follow_once(&s, &got); /* our own writes only */
  cr_assert_eq(got.n, 0);
  cr_assert_eq(rounds(s.l) - r0, 1, "own writes only: %lld rounds",
               rounds(s.l) - r0);
  upsert(s.l, "mine");
  upsert(s.other, "w1");
  r0 = rounds(s.l);
  follow_once(&s, &got); /* another writer's: + HGETALL */
  cr_assert_eq(got.n, 1);
  cr_assert_str_eq(got.ids[0], "w1");
  cr_assert_eq(rounds(s.l) - r0, 2, "with another writer's: %lld rounds",
               rounds(s.l) - r0);
  for (int i = 0; i < 1500; i++) /* past one page (1,000 entries) */
    upsert(s.other, i % 2 ? "w2" : "w3");
  upsert(s.l, "mine");
  r0 = rounds(s.l);
  follow_once(&s, &got);
  cr_assert_eq(got.n, 2, "w2 and w3 once each (%d)", got.n);
  cr_assert_eq(rounds(s.l) - r0, 3, "two pages and HGETALL: %lld rounds",
               rounds(s.l) - r0);
  r0 = rounds(s.l);
  follow_once(&s, &got); /* all read: nothing left */
  cr_assert_eq(got.n, 0);
  cr_assert_eq(rounds(s.l) - r0, 1);
  cm_test_pair_close(&s);
}

/* Completions in order: the proposal's and the follow's. */
typedef struct order {
  seen got;     /* the follow's */
  int seq;      /* completions so far */
  int proposed; /* the proposal's place (1-based; 0: not yet) */
  int followed; /* the follow's */
  cm_status proposed_st;
} order;

static void on_proposed(void *ctx, cm_status st, const cm_ledger_result *res,
                        int n, const cm_error *err) {
  order *o = ctx;
  (void)res;
  (void)n;
  cr_assert_not_null(err);
  o->proposed_st = st;
  o->proposed = ++o->seq;
}

static void on_followed_ordered(void *ctx, cm_status st, int lost,
                                const cm_error *err) {
  order *o = ctx;
  on_followed(&o->got, st, lost, err);
  o->followed = ++o->seq;
}

static void propose_upsert(cm_test_pair *s, order *o, const char *id) {
  cm_worker w = cm_fx_worker(id, CM_FX_NURSE, 31.2, 121.4, 1, CM_FX_T0);
  cm_ledger_worker_write ww = {.op = CM_LEDGER_W_UPSERT, .worker = &w};
  cm_error err;
  cr_assert_eq(cm_ledger_worker_propose(s->l, &ww, on_proposed, o, &err), CM_OK,
               "%s", err.message);
}

/* A follow asked in the loop turn a proposal was made in goes out behind
 * it, so it is answered after the proposal is (the daemon steps at once
 * on an emergency's submit: its batch's follow rides behind the commit,
 * docs/async.md), still one round trip. */
Test(follow_async, a_follow_asked_behind_a_proposal_is_answered_after_it) {
  cm_test_pair s;
  open_all(&s);
  order o;
  memset(&o, 0, sizeof o);
  cm_error err;
  upsert(s.l, "mine"); /* the stream exists */
  propose_upsert(&s, &o, "mine2");
  long long r0 = rounds(s.l);
  /* o.got first: on_change reports into it */
  cr_assert_eq(
      s.l->type->follow_async(s.l, on_change, &o, on_followed_ordered, &err),
      CM_OK, "%s", err.message);
  for (int i = 0; i < 200 && !o.followed; i++) {
    struct timeval tv = {0, 20000};
    event_base_loopexit(s.base, &tv);
    event_base_loop(s.base, EVLOOP_ONCE);
  }
  cr_assert_eq(o.got.done, 1);
  cr_assert_eq(o.got.st, CM_OK);
  cr_assert_eq(o.got.lost, 0);
  cr_assert_eq(o.got.n, 0, "our own writes only");
  cr_assert_eq(o.proposed_st, CM_OK);
  cr_assert_eq(o.proposed, 1, "the proposal is answered first");
  cr_assert_eq(o.followed, 2, "then the follow");
  cr_assert_eq(rounds(s.l) - r0, 1, "%lld rounds", rounds(s.l) - r0);
  /* freed with the follow waiting behind a proposal: told once */
  memset(&o, 0, sizeof o);
  propose_upsert(&s, &o, "mine3");
  cr_assert_eq(
      s.l->type->follow_async(s.l, on_change, &o, on_followed_ordered, &err),
      CM_OK, "%s", err.message);
  cm_ledger_free(s.l);
  s.l = NULL;
  cr_assert_eq(o.got.done, 1, "told once, at the free");
  cr_assert_eq(o.got.st, CM_E_UNAVAILABLE);
  cr_assert_eq(o.proposed, 1, "the proposal told first");
  cm_test_pair_close(&s);
}

Test(follow_async, a_paused_redis_holds_nothing) {
  cm_test_pair s;
  open_all(&s);
  upsert(s.other, "w1");
  redisContext *c = cm_test_side_connect(cm_test_own_redis.port);
  cr_assert_not_null(c);
  freeReplyObject(redisCommand(c, "CLIENT PAUSE 600 ALL"));
  seen got;
  memset(&got, 0, sizeof got);
  cm_error err;
  int64_t t0 = cm_test_mono_ms();
  cr_assert_eq(s.l->type->follow_async(s.l, on_change, &got, on_followed, &err),
               CM_OK, "%s", err.message);
  cr_assert_lt(cm_test_mono_ms() - t0, 100, "the call does not wait for Redis");
  run_until_done(s.base, &got);
  cr_assert_eq(got.done, 1);
  cr_assert_geq(cm_test_mono_ms() - t0, 400, "the answer came after the pause");
  cr_assert_eq(got.st, CM_OK);
  cr_assert_eq(got.n, 1);
  redisFree(c);
  cm_test_pair_close(&s);
}

Test(follow_async, a_ledger_freed_mid_follow_ends_it_once) {
  cm_test_pair s;
  open_all(&s);
  upsert(s.other, "w1");
  seen got;
  memset(&got, 0, sizeof got);
  cm_error err;
  cr_assert_eq(s.l->type->follow_async(s.l, on_change, &got, on_followed, &err),
               CM_OK, "%s", err.message);
  cm_ledger_free(s.l);
  s.l = NULL;
  cr_assert_eq(got.done, 0);
  cm_redis_free(s.loop); /* hiredis answers the command in flight NULL */
  s.loop = NULL;
  cr_assert_eq(got.done, 1, "told once");
  cr_assert_eq(got.st, CM_E_UNAVAILABLE);
  cr_assert_eq(got.n, 0);
  cm_test_pair_close(&s);
}

Test(follow_async, no_answer_within_the_timeout_ends_it) {
  cm_test_pair s;
  open_all_timeout(&s, 300);
  upsert(s.other, "w1");
  redisContext *c = cm_test_side_connect(cm_test_own_redis.port);
  cr_assert_not_null(c);
  freeReplyObject(redisCommand(c, "CLIENT PAUSE 2000 ALL"));
  seen got;
  memset(&got, 0, sizeof got);
  cm_error err;
  int64_t t0 = cm_test_mono_ms();
  cr_assert_eq(s.l->type->follow_async(s.l, on_change, &got, on_followed, &err),
               CM_OK, "%s", err.message);
  run_until_done(s.base, &got);
  int64_t ms = cm_test_mono_ms() - t0;
  cr_assert_eq(got.done, 1);
  cr_assert_eq(got.st, CM_E_UNAVAILABLE);
  cr_assert_geq(ms, 250, "not before the timeout (%lld ms)", (long long)ms);
  cr_assert_lt(ms, 1500, "nor after the pause (%lld ms)", (long long)ms);
  cr_assert_eq(cm_redis_connected(s.loop), 0, "the connection was dropped");
  freeReplyObject(redisCommand(c, "CLIENT UNPAUSE"));
  redisFree(c);
  cm_test_pair_close(&s);
}

typedef struct told {
  int calls;
  cm_status st;
} told;

static void on_synced(void *ctx, cm_status st, const cm_error *err) {
  told *t = ctx;
  cr_assert_not_null(err);
  t->calls++;
  t->st = st;
}

/* The engine's side: cm_engine_sync_async follows on the loop and applies
 * another writer's worker in the callback; an engine freed while its
 * follow is in flight tells its caller once, and the late answer finds
 * nobody. */
Test(follow_async, the_engine_applies_it_from_the_loop) {
  cm_test_pair s;
  open_all(&s);
  cm_store *mirror = cm_store_memory_new(0);
  cr_assert_not_null(mirror);
  cm_engine_config cfg;
  cm_engine_config_init(&cfg);
  cfg.ledger = s.l;
  cm_error err;
  cm_engine *e = cm_engine_new(&cfg, mirror, &err);
  cr_assert_not_null(e, "%s", err.message);
  cr_assert_eq(cm_engine_sync(e, CM_FX_T0, &err), CM_OK, "the rebuild: %s",
               err.message);
  upsert(s.other, "w7");
  told t = {0, CM_OK};
  cr_assert_eq(cm_engine_sync_async(e, CM_FX_T0, on_synced, &t, &err), CM_OK,
               "%s", err.message);
  cr_assert_eq(t.calls, 0, "from the loop");
  cr_assert_eq(cm_engine_sync_async(e, CM_FX_T0, on_synced, &t, &err),
               CM_E_CONFLICT);
  for (int i = 0; i < 200 && !t.calls; i++) {
    struct timeval tv = {0, 20000};
    event_base_loopexit(s.base, &tv);
    event_base_loop(s.base, EVLOOP_ONCE);
  }
  cr_assert_eq(t.calls, 1);
  cr_assert_eq(t.st, CM_OK);
  cm_worker w;
  cr_assert_eq(cm_store_get(mirror, "w7", &w, &err), CM_OK,
               "another writer's worker reached the mirror: %s", err.message);
  /* freed in flight */
  upsert(s.other, "w8");
  told t2 = {0, CM_OK};
  cr_assert_eq(cm_engine_sync_async(e, CM_FX_T0, on_synced, &t2, &err), CM_OK);
  cm_engine_free(e);
  cr_assert_eq(t2.calls, 1, "told at the free");
  cr_assert_eq(t2.st, CM_E_UNAVAILABLE);
  for (int i = 0; i < 20; i++) { /* the late answer arrives: nobody there */
    struct timeval tv = {0, 20000};
    event_base_loopexit(s.base, &tv);
    event_base_loop(s.base, EVLOOP_ONCE);
  }
  cr_assert_eq(t2.calls, 1);
  cm_store_free(mirror);
  cm_test_pair_close(&s);
}
