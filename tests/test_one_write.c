/* test_one_write.c -- an emergency's create and its offers as one durable
 * write (docs/async.md, "one durable write"), against a real redis-server:
 * a batch begun while the emergency's create is in flight takes it, and
 * its offer goes to Redis behind the create on the same connection,
 * without waiting for the create's answer; Redis runs the two in order,
 * and an offer behind a create it refused is refused too (the commit
 * script's expect_own), leaving no offer, no event, the worker free and
 * the engine as Redis has it. And the position writes held back
 * (cm_ledger_redis_hold_positions) while an emergency's create and offers
 * go: changes pass them, an upsert behind them keeps its place. */
#include <criterion/criterion.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/engine.h"
#include "carematch/ledger.h"
#include "carematch/redis.h"
#include "engine_fx.h"
#include "fixtures.h"
#include "redis_pair.h"
#include "redis_server.h"

static cm_test_redis g_srv;

static void setup(void) {
  g_srv = cm_test_redis_use();
  cr_assert_gt(g_srv.port, 0, "a redis-server");
}

static void teardown(void) {
  cm_test_redis_done(&g_srv, NULL); /* each test flushes its region */
}

TestSuite(one_write, .init = setup, .fini = teardown);

/* A and B on region (cm_test_pair: A's ledger's proposals on a base, the
 * daemon's way; B another daemon); one nurse on shift, 1 km north; A has
 * followed the ledger. */
static void open_all(cm_test_pair *s, const char *region) {
  cm_test_pair_open(s, g_srv.port, region, NULL, 5000);
  cm_fx_nurse(s->e, "w1", 1.0, CM_FX_T0);
  cm_error err;
  cr_assert_eq(cm_engine_sync(s->e, CM_FX_T0, &err), CM_OK, "%s", err.message);
}

/* A hash field of key cm:{region}:<what> as a number (-1: none). */
static long long field(cm_test_pair *s, const char *what, const char *name) {
  redisReply *rep =
      redisCommand(s->side, "HGET cm:{%s}:%s %s", s->region, what, name);
  cr_assert_not_null(rep);
  long long v = rep->type == REDIS_REPLY_STRING ? atoll(rep->str) : -1;
  freeReplyObject(rep);
  return v;
}

/* The groups A's ledger sent (cm_ledger_redis_group_watch). */
typedef struct groups {
  int sent;         /* groups with changes sent */
  int answered;     /* and answered */
  int changes[4];   /* the changes of each sent */
  int in_flight[4]; /* the groups in flight when each was sent */
} groups;

static void on_group(void *arg, const cm_ledger_redis_group *g) {
  groups *w = arg;
  if (g->changes == 0)
    return;
  if (g->answered) {
    w->answered++;
    return;
  }
  if (w->sent < 4) {
    w->changes[w->sent] = g->changes;
    w->in_flight[w->sent] = g->in_flight;
  }
  w->sent++;
}

/* Begin a batch on A without following (the daemon's emergency path),
 * solve it and propose its offers. Returns 1 when a batch began. */
static int batch_now(cm_test_pair *s, cm_test_told *offers, int64_t now_ms) {
  cm_engine_batch *b = NULL;
  cm_error err;
  cr_assert_eq(cm_engine_batch_begin_unfollowed(s->e, now_ms, &b, &err), CM_OK,
               "%s", err.message);
  if (!b)
    return 0;
  cm_engine_batch_solve(b, NULL);
  cr_assert_eq(
      cm_engine_batch_end_async(s->e, b, now_ms, cm_test_told_cb, offers, &err),
      CM_OK, "%s", err.message);
  return 1;
}

/* An emergency's create is proposed and sent; Redis holds it (CLIENT
 * PAUSE WRITE). A batch begun meanwhile takes the emergency, and its
 * offer is proposed and sent behind the create before the create's answer
 * is in (two EVALSHA calls, neither answered yet). After the pause Redis
 * runs both in order: the create's completion first (201), then the
 * offer's; the request is offered in Redis and in the engine, with its
 * events. With the batch limited to applied records, no batch began. */
Test(one_write, an_emergencys_offer_goes_behind_its_create_in_flight) {
  cm_test_pair s;
  open_all(&s, "ow1");
  cm_error err;
  cm_test_told create = {0, CM_OK, 0}, offers = {0, CM_OK, 0};
  groups w;
  memset(&w, 0, sizeof w);
  cr_assert_eq(cm_ledger_redis_group_watch(s.l, on_group, &w, &err), CM_OK,
               "%s", err.message);
  redisReply *ok = redisCommand(s.side, "CLIENT PAUSE 600 WRITE");
  cr_assert(ok && ok->type == REDIS_REPLY_STATUS);
  freeReplyObject(ok);
  cm_request_spec sp =
      cm_fx_spec("e1", CM_FX_NURSE, 1, CM_URGENCY_EMERGENCY, 0.0);
  cr_assert_eq(cm_engine_submit_async(s.e, &sp, CM_FX_T0, cm_test_told_cb,
                                      &create, &err),
               CM_OK, "%s", err.message);
  event_base_loop(s.base, EVLOOP_ONCE | EVLOOP_NONBLOCK); /* sent */
  cr_assert_eq(create.calls, 0, "Redis holds the create");
  cr_assert_eq(w.sent, 1, "the create's group is out");
  cr_assert_not(cm_engine_holds(s.e, "e1"), "not applied yet");
  cr_assert(batch_now(&s, &offers, CM_FX_T0),
            "a batch takes the emergency whose create is in flight");
  cr_assert_eq(cm_engine_in_flight(s.e), 2, "the create and the offers");
  event_base_loop(s.base, EVLOOP_ONCE | EVLOOP_NONBLOCK); /* sent */
  cr_assert_eq(create.calls, 0, "the create is still held");
  cm_test_run_until(s.base, &offers, 4000);
  cr_assert_eq(create.calls, 1);
  cr_assert_eq(create.st, CM_OK);
  cr_assert_eq(offers.calls, 1);
  cr_assert_eq(offers.st, CM_OK);
  cr_assert_lt(create.order, offers.order, "Redis answered in order");
  cr_assert_eq(w.sent, 2, "two groups: the create, then the offer");
  cr_assert_eq(w.changes[0], 1);
  cr_assert_eq(w.changes[1], 1);
  cr_assert_eq(w.in_flight[1], 2,
               "the offer's group sent while the create's was in flight");
  cr_assert_eq(w.answered, 2);
  /* in Redis: created, then offered to w1 */
  cr_assert_eq(field(&s, "req:e1", "ver"), 2);
  cr_assert_eq(field(&s, "worker:w1", "jobs"), 1);
  /* in the engine: the same, with both events */
  cm_request_view v;
  cr_assert_eq(cm_engine_request_get(s.e, "e1", &v, &err), CM_OK);
  cr_assert_eq(v.state, CM_REQ_OFFERED);
  cr_assert_eq(v.version, 2);
  cr_assert_str_eq(v.workers[0], "w1");
  cr_assert_eq(cm_engine_worker_jobs(s.e, "w1"), 1);
  cm_event ev[8];
  int n = cm_engine_poll(s.e, ev, 8), offered = 0;
  for (int i = 0; i < n; i++)
    offered += ev[i].type == CM_EV_OFFERED;
  cr_assert_eq(offered, 1, "one offer event, from the offers' commit");
  cr_assert_eq(cm_engine_in_flight(s.e), 0);
  cm_test_pair_close(&s);
}

/* B (another writer) created e1 first, with other content. A's create of
 * e1 is refused (409), and the offer A's batch sent behind it, expecting
 * version 1, finds B's record at version 1: refused, because B created it
 * (without the creator's check the offer overwrote B's request and took
 * the nurse). Afterwards: no offer in Redis nor in A, no offer event, the
 * nurse free on both sides, and A holds e1 as Redis has it (B's). */
Test(one_write, an_offer_behind_a_refused_create_is_refused) {
  cm_test_pair s;
  open_all(&s, "ow2");
  cm_error err;
  cm_request_spec theirs =
      cm_fx_spec("e1", CM_FX_NURSE, 1, CM_URGENCY_EMERGENCY, 0.5);
  cr_assert_eq(cm_engine_submit(s.other_e, &theirs, CM_FX_T0, &err), CM_OK,
               "%s", err.message);
  cm_test_told create = {0, CM_OK, 0}, offers = {0, CM_OK, 0};
  cm_request_spec mine =
      cm_fx_spec("e1", CM_FX_NURSE, 1, CM_URGENCY_EMERGENCY, 0.0);
  cr_assert_eq(cm_engine_submit_async(s.e, &mine, CM_FX_T0, cm_test_told_cb,
                                      &create, &err),
               CM_OK, "%s", err.message);
  cr_assert(batch_now(&s, &offers, CM_FX_T0),
            "the batch takes A's e1 in flight");
  cm_test_run_until(s.base, &offers, 4000);
  cm_test_run_until(s.base, &create, 1000);
  cr_assert_eq(create.calls, 1);
  cr_assert_eq(create.st, CM_E_CONFLICT, "exists with different content");
  cr_assert_eq(offers.calls, 1);
  for (int i = 0; i < 20 && cm_engine_in_flight(s.e) > 0; i++) {
    struct timeval tv = {0, 20000}; /* the re-read of e1 */
    event_base_loopexit(s.base, &tv);
    event_base_loop(s.base, EVLOOP_ONCE);
  }
  cr_assert_eq(cm_engine_in_flight(s.e), 0);
  /* Redis: B's record untouched, the nurse free */
  cr_assert_eq(field(&s, "req:e1", "ver"), 1, "the offer was refused");
  cr_assert_eq(field(&s, "req:e1", "state"), CM_REQ_PENDING);
  cr_assert_lt(field(&s, "worker:w1", "jobs"), 1);
  /* A: no offer, no offer event, the nurse free; e1 as Redis has it */
  cr_assert_eq(cm_engine_worker_jobs(s.e, "w1"), 0);
  cm_event ev[8];
  int n = cm_engine_poll(s.e, ev, 8);
  for (int i = 0; i < n; i++)
    cr_assert_neq(ev[i].type, CM_EV_OFFERED, "no offer event");
  cm_request_view v;
  cr_assert_eq(cm_engine_request_get(s.e, "e1", &v, &err), CM_OK, "%s",
               err.message);
  cr_assert_eq(v.state, CM_REQ_PENDING);
  cr_assert_eq(v.version, 1);
  cr_assert_float_eq(v.spec.lat, theirs.lat, 1e-9, "B's content");
  /* and the nurse is A's to offer again: the next batch offers B's e1 */
  cm_test_told again = {0, CM_OK, 0};
  cr_assert(batch_now(&s, &again, CM_FX_T0 + 60000));
  cm_test_run_until(s.base, &again, 4000);
  cr_assert_eq(again.st, CM_OK);
  cr_assert_eq(field(&s, "req:e1", "ver"), 2);
  cr_assert_eq(field(&s, "worker:w1", "jobs"), 1);
  cr_assert_eq(cm_engine_worker_jobs(s.e, "w1"), 1);
  cm_test_pair_close(&s);
}

/* cm_ledger_redis_send_now sends the proposals of the turn at once (the
 * daemon calls it before an emergency's batch begins): the create's group
 * is out, and Redis runs it, before any loop turn; the loop's zero-timeout
 * event then finds nothing to send. */
Test(one_write, send_now_sends_the_turns_proposals_at_once) {
  cm_test_pair s;
  open_all(&s, "ow3");
  cm_error err;
  groups w;
  memset(&w, 0, sizeof w);
  cr_assert_eq(cm_ledger_redis_group_watch(s.l, on_group, &w, &err), CM_OK,
               "%s", err.message);
  cm_test_told create = {0, CM_OK, 0};
  cm_request_spec sp =
      cm_fx_spec("e1", CM_FX_NURSE, 1, CM_URGENCY_EMERGENCY, 0.0);
  cr_assert_eq(cm_engine_submit_async(s.e, &sp, CM_FX_T0, cm_test_told_cb,
                                      &create, &err),
               CM_OK, "%s", err.message);
  cr_assert_eq(w.sent, 0, "queued for the turn's end");
  cm_ledger_redis_send_now(s.l);
  cr_assert_eq(w.sent, 1, "sent now");
  for (int i = 0; i < 100 && field(&s, "req:e1", "ver") != 1; i++)
    cm_test_sleep_ms(10); /* Redis runs it with no turn of our loop */
  cr_assert_eq(field(&s, "req:e1", "ver"), 1);
  cm_test_run_until(s.base, &create, 4000);
  cr_assert_eq(create.st, CM_OK);
  cr_assert_eq(w.sent, 1, "nothing sent twice");
  cm_ledger_redis_send_now(s.l); /* nothing waits: nothing happens */
  cm_ledger_redis_send_now(NULL);
  cr_assert_eq(w.sent, 1);
  cm_test_pair_close(&s);
}

/* The engine freed while an emergency's create and the offer behind it
 * are both in flight (Redis holds them): each caller is told once,
 * CM_E_UNAVAILABLE, at the free; the late answers find nobody (the
 * record the batch took goes with the create's op: ASan). */
Test(one_write, an_engine_freed_with_a_create_and_its_offer_in_flight) {
  cm_test_pair s;
  open_all(&s, "ow4");
  cm_error err;
  cm_test_told create = {0, CM_OK, 0}, offers = {0, CM_OK, 0};
  redisReply *ok = redisCommand(s.side, "CLIENT PAUSE 400 WRITE");
  cr_assert(ok && ok->type == REDIS_REPLY_STATUS);
  freeReplyObject(ok);
  cm_request_spec sp =
      cm_fx_spec("e1", CM_FX_NURSE, 1, CM_URGENCY_EMERGENCY, 0.0);
  cr_assert_eq(cm_engine_submit_async(s.e, &sp, CM_FX_T0, cm_test_told_cb,
                                      &create, &err),
               CM_OK, "%s", err.message);
  event_base_loop(s.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
  cr_assert(batch_now(&s, &offers, CM_FX_T0));
  event_base_loop(s.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
  cr_assert_eq(cm_engine_in_flight(s.e), 2);
  cm_engine_free(s.e);
  s.e = NULL;
  cr_assert_eq(create.calls, 1);
  cr_assert_eq(create.st, CM_E_UNAVAILABLE);
  cr_assert_eq(offers.calls, 1);
  cr_assert_eq(offers.st, CM_E_UNAVAILABLE);
  for (int i = 0; i < 40; i++) { /* the answers come, and find nobody */
    struct timeval tv = {0, 20000};
    event_base_loopexit(s.base, &tv);
    event_base_loop(s.base, EVLOOP_ONCE);
  }
  cr_assert_eq(create.calls, 1);
  cr_assert_eq(offers.calls, 1);
  cm_test_pair_close(&s);
}

/* The position the tests' position writes move w1 to: 2 km north. */
#define POS_LAT (CM_FX_LAT0 + 2.0 / CM_FX_KM_LAT)

/* Every group A's ledger sent, in order (cm_ledger_redis_group_watch). */
typedef struct sent_groups {
  int n;
  int changes[8], positions[8], worker_writes[8];
} sent_groups;

static void on_any_group(void *arg, const cm_ledger_redis_group *g) {
  sent_groups *w = arg;
  if (g->answered || w->n >= 8)
    return;
  w->changes[w->n] = g->changes;
  w->positions[w->n] = g->positions;
  w->worker_writes[w->n] = g->worker_writes;
  w->n++;
}

/* A worker's hash field in Redis as a string ("" none). */
static void field_str(cm_test_pair *s, const char *what, const char *name,
                      char *out, size_t cap) {
  redisReply *rep =
      redisCommand(s->side, "HGET cm:{%s}:%s %s", s->region, what, name);
  cr_assert_not_null(rep);
  snprintf(out, cap, "%s", rep->type == REDIS_REPLY_STRING ? rep->str : "");
  freeReplyObject(rep);
}

/* A position write proposed before an emergency's create, in the same
 * turn, with the position writes held (carematchd holds them from the
 * create to the offers): the create goes alone, then the batch's offer
 * alone, and the position write only once the hold ends; Redis runs them
 * in that order and each is told in that order; the position is in Redis
 * and the offer too. Without the hold the create's group carried the
 * position write ahead of the create (its script first in Redis). */
Test(one_write, held_positions_let_an_emergencys_changes_go_first) {
  cm_test_pair s;
  open_all(&s, "ow5");
  cm_error err;
  sent_groups w;
  memset(&w, 0, sizeof w);
  cr_assert_eq(cm_ledger_redis_group_watch(s.l, on_any_group, &w, &err), CM_OK,
               "%s", err.message);
  cm_test_told pos = {0, CM_OK, 0}, create = {0, CM_OK, 0},
               offers = {0, CM_OK, 0};
  cr_assert_eq(cm_engine_worker_position_async(s.e, "w1", POS_LAT, CM_FX_LON0,
                                               CM_FX_T0, cm_test_told_cb, &pos,
                                               &err),
               CM_OK, "%s", err.message);
  cm_ledger_redis_hold_positions(s.l, 10000);
  cm_request_spec sp =
      cm_fx_spec("e1", CM_FX_NURSE, 1, CM_URGENCY_EMERGENCY, 0.0);
  cr_assert_eq(cm_engine_submit_async(s.e, &sp, CM_FX_T0, cm_test_told_cb,
                                      &create, &err),
               CM_OK, "%s", err.message);
  cm_ledger_redis_send_now(s.l);
  cr_assert_eq(w.n, 1, "the create sent now");
  cr_assert_eq(w.changes[0], 1);
  cr_assert_eq(w.positions[0], 0, "the position write held back");
  cr_assert_eq(batch_now(&s, &offers, CM_FX_T0), 1, "the emergency taken");
  cm_ledger_redis_send_now(s.l);
  cr_assert_eq(w.n, 2, "the offer sent now");
  cr_assert_eq(w.changes[1], 1);
  cr_assert_eq(w.positions[1], 0, "the position write still held");
  cm_ledger_redis_hold_positions(s.l, 0);
  cm_test_run_until(s.base, &pos, 4000);
  cm_test_run_until(s.base, &offers, 4000);
  cr_assert_eq(w.n, 3, "the position write sent at the hold's end");
  cr_assert_eq(w.positions[2], 1);
  cr_assert_eq(w.changes[2], 0);
  cr_assert_eq(create.calls, 1);
  cr_assert_eq(offers.calls, 1);
  cr_assert_eq(pos.calls, 1);
  cr_assert_eq(create.st, CM_OK);
  cr_assert_eq(offers.st, CM_OK);
  cr_assert_eq(pos.st, CM_OK);
  cr_assert_lt(create.order, offers.order, "told in Redis's order");
  cr_assert_lt(offers.order, pos.order);
  char lat[32];
  field_str(&s, "worker:w1", "lat", lat, sizeof lat);
  cr_assert_float_eq(strtod(lat, NULL), POS_LAT, 1e-9,
                     "the position in Redis: %s", lat);
  cr_assert_eq(field(&s, "req:e1", "ver"), 2, "offered");
  cr_assert_eq(field(&s, "worker:w1", "jobs"), 1);
  cr_assert_eq(cm_engine_worker_jobs(s.e, "w1"), 1);
  cm_test_pair_close(&s);
}

/* With the position writes held, an upsert proposed behind a held
 * position write of the same worker, and a create behind it, wait with
 * it: nothing passes the upsert, so the later write of the worker still
 * wins in Redis (the upsert's position) and the three are told in the
 * order proposed. Letting the upsert (or the create behind it) pass the
 * held position write would leave the older position in Redis. */
Test(one_write, an_upsert_behind_held_positions_keeps_its_place) {
  cm_test_pair s;
  open_all(&s, "ow6");
  cm_error err;
  sent_groups w;
  memset(&w, 0, sizeof w);
  cr_assert_eq(cm_ledger_redis_group_watch(s.l, on_any_group, &w, &err), CM_OK,
               "%s", err.message);
  cm_test_told pos = {0, CM_OK, 0}, up = {0, CM_OK, 0}, create = {0, CM_OK, 0};
  cm_ledger_redis_hold_positions(s.l, 10000);
  cr_assert_eq(cm_engine_worker_position_async(s.e, "w1", POS_LAT, CM_FX_LON0,
                                               CM_FX_T0, cm_test_told_cb, &pos,
                                               &err),
               CM_OK, "%s", err.message);
  cm_worker wk = cm_fx_worker("w1", CM_FX_NURSE, 3.0, 0.0, 2, CM_FX_T0 + 1);
  cr_assert_eq(cm_engine_worker_upsert_async(s.e, &wk, CM_FX_T0,
                                             cm_test_told_cb, &up, &err),
               CM_OK, "%s", err.message);
  cm_request_spec sp = cm_fx_spec("e1", CM_FX_NURSE, 1, CM_URGENCY_NORMAL, 0.0);
  cr_assert_eq(cm_engine_submit_async(s.e, &sp, CM_FX_T0, cm_test_told_cb,
                                      &create, &err),
               CM_OK, "%s", err.message);
  cm_ledger_redis_send_now(s.l);
  cr_assert_eq(w.n, 0, "nothing passes the upsert behind the held write");
  cm_ledger_redis_hold_positions(s.l, 0);
  cm_test_run_until(s.base, &create, 4000);
  cr_assert_eq(w.n, 1, "one group at the hold's end");
  cr_assert_eq(w.positions[0], 1);
  cr_assert_eq(w.worker_writes[0], 1);
  cr_assert_eq(w.changes[0], 1);
  cr_assert_eq(pos.st, CM_OK);
  cr_assert_eq(up.st, CM_OK);
  cr_assert_eq(create.st, CM_OK);
  cr_assert_lt(pos.order, up.order, "told in the order proposed");
  cr_assert_lt(up.order, create.order);
  char lat[32];
  field_str(&s, "worker:w1", "lat", lat, sizeof lat);
  cr_assert_float_eq(strtod(lat, NULL), wk.lat, 1e-9,
                     "the upsert's position wins: %s", lat);
  cr_assert_eq(field(&s, "worker:w1", "capacity"), 2);
  cm_test_pair_close(&s);
}

/* A hold nobody ends: the held position write goes at its deadline. */
Test(one_write, held_positions_go_at_the_holds_deadline) {
  cm_test_pair s;
  open_all(&s, "ow7");
  cm_error err;
  sent_groups w;
  memset(&w, 0, sizeof w);
  cr_assert_eq(cm_ledger_redis_group_watch(s.l, on_any_group, &w, &err), CM_OK,
               "%s", err.message);
  cm_test_told pos = {0, CM_OK, 0};
  cm_ledger_redis_hold_positions(s.l, 300);
  cr_assert_eq(cm_engine_worker_position_async(s.e, "w1", POS_LAT, CM_FX_LON0,
                                               CM_FX_T0, cm_test_told_cb, &pos,
                                               &err),
               CM_OK, "%s", err.message);
  event_base_loop(s.base, EVLOOP_NONBLOCK);
  cm_ledger_redis_send_now(s.l);
  cr_assert_eq(w.n, 0, "held");
  cm_test_run_until(s.base, &pos, 4000);
  cr_assert_eq(pos.calls, 1, "sent at the deadline");
  cr_assert_eq(pos.st, CM_OK);
  cr_assert_eq(w.n, 1);
  cr_assert_eq(w.positions[0], 1);
  cm_test_pair_close(&s);
}
