/* test_refresh_async.c -- the re-read of a request's record on the
 * caller's event base (ledger.h's get_async, engine_ops.c's read op,
 * docs/async-log.md step i), against a redis-server of the test's own: a
 * change refused for its version reads the record on the loop connection
 * and the request's next op is planned on it (it succeeds); a frozen
 * Redis (SIGSTOP) while the record is read holds no loop turn, and the
 * read completes after the thaw; a rebuild that began while the record
 * was read wins over the late answer. */
#include <criterion/criterion.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "carematch/engine.h"
#include "carematch/ledger.h"
#include "carematch/redis.h"
#include "fixtures.h"
#include "redis_pair.h"
#include "redis_server.h"

TestSuite(refresh_async, .init = cm_test_own_redis_start,
          .fini = cm_test_own_redis_kill);

/* A and B on region rr (cm_test_pair); A's private connection selects
 * database sync_db (0: the one everybody uses), its loop connection
 * database 0; A has rebuilt from the ledger on the loop, and holds request
 * q, which B submitted. */
static void open_all(cm_test_pair *s, int sync_db) {
  cm_redis_options so;
  cm_redis_options_init(&so);
  so.timeout_ms = 1500;
  so.db = sync_db;
  cm_test_pair_open(s, cm_test_own_redis.port, "rr", &so, 5000);
  cm_error err;
  cr_assert_eq(cm_engine_sync(s->other_e, CM_FX_T0, &err), CM_OK, "%s",
               err.message);
  cm_request_spec sp = cm_fx_spec("q", CM_FX_NURSE, 1, CM_URGENCY_NORMAL, 0);
  cr_assert_eq(cm_engine_submit(s->other_e, &sp, CM_FX_T0, &err), CM_OK, "%s",
               err.message);
  cm_test_told t = {0, CM_OK, 0};
  cm_engine_resync(s->e);
  cr_assert_eq(cm_engine_sync_async(s->e, CM_FX_T0, cm_test_told_cb, &t, &err),
               CM_OK, "%s", err.message);
  cm_test_run_until(s->base, &t, 4000);
  cr_assert_eq(t.st, CM_OK, "A rebuilt on the loop");
  cr_assert(cm_engine_holds(s->e, "q"));
}

/* B holds q (an operator's hold): q's version goes up, and A's is stale. */
static void other_holds(cm_test_pair *s) {
  cm_error err;
  cr_assert_eq(cm_engine_hold(s->other_e, "q", "op", CM_FX_T0, &err), CM_OK,
               "%s", err.message);
}

static uint64_t version_of(const cm_test_pair *s, int *held) {
  cm_request_view v;
  cm_error err;
  cr_assert_eq(cm_engine_request_get(s->e, "q", &v, &err), CM_OK, "%s",
               err.message);
  if (held)
    *held = v.held;
  return v.version;
}

/* A's hold of q, then its cancel, proposed in the same turn (each taken:
 * asserted). */
static void hold_then_cancel(cm_test_pair *s, cm_test_told *hold,
                             cm_test_told *cancel) {
  cm_error err;
  cr_assert_eq(cm_engine_hold_async(s->e, "q", "op", CM_FX_T0, cm_test_told_cb,
                                    hold, &err),
               CM_OK, "%s", err.message);
  cr_assert_eq(cm_engine_cancel_async(s->e, "q", CM_FX_T0, cm_test_told_cb,
                                      cancel, &err),
               CM_OK, "%s", err.message);
}

/* A side connection that MONITORs the server. */
static redisContext *monitor(void) {
  redisContext *c = cm_test_side_connect(cm_test_own_redis.port);
  cr_assert_not_null(c);
  redisReply *ok = redisCommand(c, "MONITOR");
  cr_assert(ok && ok->type == REDIS_REPLY_STATUS);
  freeReplyObject(ok);
  struct timeval tv = {5, 0};
  redisSetTimeout(c, tv);
  return c;
}

/* 1 when a line MONITOR printed within ms names a command a client (not a
 * script) sent whose text has both a and b. */
static int monitored(redisContext *mon, const char *a, const char *b, int ms) {
  struct pollfd p = {mon->fd, POLLIN, 0};
  int seen = 0;
  while (!seen &&
         (mon->reader->pos < mon->reader->len || poll(&p, 1, ms) > 0)) {
    redisReply *line = NULL;
    cr_assert_eq(redisGetReply(mon, (void **)&line), REDIS_OK);
    seen = line->type == REDIS_REPLY_STATUS && !strstr(line->str, " lua]") &&
           strstr(line->str, a) && strstr(line->str, b);
    freeReplyObject(line);
  }
  return seen;
}

/* Run A's loop without waiting, one turn at a time (EVLOOP_NONBLOCK alone
 * runs turns while any event is active), until Redis has run a
 * command of A's with a and b in it; its reply is then not read yet (it
 * is read in a later turn). */
static void run_until_sent(cm_test_pair *s, redisContext *mon, const char *a,
                           const char *b) {
  for (int turns = 0; turns < 50; turns++) {
    event_base_loop(s->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    if (monitored(mon, a, b, 100)) /* this turn's writes reach Redis
                                       before the next turn runs */
      return;
  }
  cr_assert_fail("%s %s never reached Redis", a, b);
}

/* A's hold is refused for q's version (B held it): the record is read on
 * the loop connection (A's private connection selects another database
 * here, where nothing is found, so only the loop connection's read can
 * bring the record) and adopted before A's cancel, queued behind the
 * hold, is planned: the cancel succeeds. With the record read on the
 * private connection, nothing was adopted and the cancel, planned on the
 * stale record, was refused 409 too. */
Test(refresh_async,
     a_refused_change_reads_the_record_and_the_next_op_succeeds) {
  cm_test_pair s;
  open_all(&s, 1);
  other_holds(&s);
  cm_error err;
  cm_test_told hold = {0, CM_OK, 0}, cancel = {0, CM_OK, 0};
  cr_assert_eq(version_of(&s, NULL), 1);
  hold_then_cancel(&s, &hold, &cancel);
  cr_assert_eq(cm_engine_in_flight(s.e), 2);
  cm_test_run_until(s.base, &cancel, 4000);
  cr_assert_eq(hold.calls, 1);
  cr_assert_eq(hold.st, CM_E_CONFLICT, "the hold: refused for its version");
  cr_assert_eq(cancel.calls, 1);
  cr_assert_eq(cancel.st, CM_OK, "the cancel, planned on the record read");
  cr_assert_lt(hold.order, cancel.order);
  cm_request_view v;
  cr_assert_eq(cm_engine_request_get(s.e, "q", &v, &err), CM_OK);
  cr_assert_eq(v.state, CM_REQ_CANCELLED);
  cr_assert_eq(v.version, 3, "B's hold, then A's cancel");
  cm_engine_stats st;
  cm_engine_stats_get(s.e, &st);
  cr_assert_eq(st.resync_pending, 0, "the read did not fail");
  cr_assert_eq(cm_engine_in_flight(s.e), 0);
  cm_test_pair_close(&s);
}

/* Redis stops (SIGSTOP) after it answered the refusal and before the
 * read: no turn of A's loop waits for it, and the read (then the cancel
 * behind it) completes after the thaw. The synchronous read held the turn
 * that applied the refusal until its connection's timeout. */
Test(refresh_async, a_frozen_redis_holds_no_turn_while_a_record_is_read) {
  cm_test_pair s;
  open_all(&s, 0);
  other_holds(&s);
  redisContext *c = monitor();
  cm_test_told hold = {0, CM_OK, 0}, cancel = {0, CM_OK, 0};
  hold_then_cancel(&s, &hold, &cancel);
  run_until_sent(&s, c, "\"EVALSHA\"", ""); /* the hold's commit, refused */
  cm_test_sleep_ms(50);                     /* its reply is on A's socket */
  cr_assert_eq(kill(cm_test_own_redis.pid, SIGSTOP), 0);
  int64_t worst = 0, t0 = cm_test_mono_ms();
  while (cm_test_mono_ms() - t0 < 1000) {
    int64_t t = cm_test_mono_ms();
    struct timeval tv = {0, 20000};
    event_base_loopexit(s.base, &tv);
    event_base_loop(s.base, EVLOOP_ONCE);
    if (cm_test_mono_ms() - t > worst)
      worst = cm_test_mono_ms() - t;
  }
  int in_flight = cm_engine_in_flight(s.e);
  int hold_calls = hold.calls;
  cr_assert_eq(kill(cm_test_own_redis.pid, SIGCONT), 0);
  cr_log_info("the longest turn of A's loop while Redis was frozen: %lld ms",
              (long long)worst);
  cr_assert_lt(worst, 300, "a turn waited %lld ms", (long long)worst);
  cr_assert_eq(hold_calls, 0, "the hold is told once the record is in");
  cr_assert_eq(in_flight, 2, "the read and the cancel behind it");
  cm_test_run_until(s.base, &cancel, 4000);
  cr_assert_eq(hold.st, CM_E_CONFLICT);
  cr_assert_eq(cancel.st, CM_OK, "completed after the thaw");
  cr_assert_lt(hold.order, cancel.order);
  cr_assert_eq(version_of(&s, NULL), 3);
  redisFree(c);
  cm_test_pair_close(&s);
}

/* The record is read (B's hold, version 2) and its answer waits on A's
 * socket; meanwhile B releases q (version 3) and A rebuilds synchronously
 * (version 3, not held). The late answer is dropped: A keeps version 3.
 * Adopted, it would put A back to B's hold, version 2. */
Test(refresh_async, a_rebuild_while_a_record_is_read_wins) {
  cm_test_pair s;
  open_all(&s, 0);
  other_holds(&s);
  redisContext *c = monitor();
  cm_error err;
  cm_test_told hold = {0, CM_OK, 0};
  cr_assert_eq(cm_engine_hold_async(s.e, "q", "op", CM_FX_T0, cm_test_told_cb,
                                    &hold, &err),
               CM_OK, "%s", err.message);
  run_until_sent(&s, c, "\"EVALSHA\"", "");     /* the hold's commit, refused */
  run_until_sent(&s, c, "\"HGET\"", "\"rec\""); /* then the read */
  cr_assert_eq(hold.calls, 0, "the read is in flight");
  cr_assert_eq(cm_engine_in_flight(s.e), 1);
  cr_assert_eq(cm_engine_release(s.other_e, "q", "op", CM_FX_T0, &err), CM_OK,
               "%s", err.message);
  cm_engine_resync(s.e);
  cr_assert_eq(cm_engine_sync(s.e, CM_FX_T0, &err), CM_OK,
               "a rebuild does not wait for a read: %s", err.message);
  int held = -1;
  cr_assert_eq(version_of(&s, &held), 3);
  cm_test_run_until(s.base, &hold, 4000);
  cr_assert_eq(hold.st, CM_E_CONFLICT);
  cr_assert_eq(version_of(&s, &held), 3, "the rebuild's record kept");
  cr_assert_eq(held, 0);
  cm_engine_stats st;
  cm_engine_stats_get(s.e, &st);
  cr_assert_eq(st.resync_pending, 0);
  redisFree(c);
  cm_test_pair_close(&s);
}

/* The same with the rebuild read on the loop: it starts while the record
 * is read (a read is not a write it must wait for), the answer comes
 * first and is dropped, and the cancel queued behind the read is held
 * until the rebuild is applied, then planned on it: it completes after
 * the rebuild. */
Test(refresh_async, an_op_behind_a_read_waits_for_a_rebuild_begun_meanwhile) {
  cm_test_pair s;
  open_all(&s, 0);
  other_holds(&s);
  redisContext *c = monitor();
  cm_error err;
  cm_test_told hold = {0, CM_OK, 0}, cancel = {0, CM_OK, 0}, rb = {0, CM_OK, 0};
  hold_then_cancel(&s, &hold, &cancel);
  run_until_sent(&s, c, "\"EVALSHA\"", "");
  run_until_sent(&s, c, "\"HGET\"", "\"rec\"");
  cr_assert_eq(hold.calls, 0, "the read is in flight");
  cm_engine_resync(s.e);
  cr_assert_eq(cm_engine_sync_async(s.e, CM_FX_T0, cm_test_told_cb, &rb, &err),
               CM_OK, "%s", err.message);
  cr_assert_eq(rb.calls, 0, "the rebuild started, not refused: %s",
               cm_status_name(rb.st));
  cm_test_run_until(s.base, &cancel, 4000);
  cr_assert_eq(rb.calls, 1);
  cr_assert_eq(rb.st, CM_OK);
  cr_assert_eq(hold.st, CM_E_CONFLICT);
  cr_assert_eq(cancel.st, CM_OK);
  cr_assert_lt(rb.order, cancel.order, "the cancel planned after the rebuild");
  cm_request_view v;
  cr_assert_eq(cm_engine_request_get(s.e, "q", &v, &err), CM_OK);
  cr_assert_eq(v.state, CM_REQ_CANCELLED);
  redisFree(c);
  cm_test_pair_close(&s);
}

/* Freed while a record is read: the op that asked for it and the one
 * queued behind are told once, at the free; the late answer finds nobody
 * (ASan: nothing leaks). */
Test(refresh_async, an_engine_freed_mid_read_tells_once) {
  cm_test_pair s;
  open_all(&s, 0);
  other_holds(&s);
  redisContext *c = monitor();
  cm_test_told hold = {0, CM_OK, 0}, cancel = {0, CM_OK, 0};
  hold_then_cancel(&s, &hold, &cancel);
  run_until_sent(&s, c, "\"EVALSHA\"", "");
  run_until_sent(&s, c, "\"HGET\"", "\"rec\"");
  cr_assert_eq(hold.calls, 0);
  cm_engine_free(s.e);
  s.e = NULL;
  cr_assert_eq(hold.calls, 1, "told at the free");
  cr_assert_eq(hold.st, CM_E_CONFLICT, "what the ledger answered");
  cr_assert_eq(cancel.calls, 1);
  cr_assert_eq(cancel.st, CM_E_UNAVAILABLE);
  for (int i = 0; i < 10; i++) { /* the answer arrives: nobody there */
    struct timeval tv = {0, 20000};
    event_base_loopexit(s.base, &tv);
    event_base_loop(s.base, EVLOOP_ONCE);
  }
  cr_assert_eq(hold.calls, 1);
  cr_assert_eq(cancel.calls, 1);
  redisFree(c);
  cm_test_pair_close(&s);
}

/* ---- the Redis ledger's get_async itself ---- */

typedef struct got {
  int calls;
  cm_status st;
  uint64_t version;
  int order;
} got;

static void on_record(void *ctx, cm_status st, const cm_request_view *v,
                      const cm_error *err) {
  got *g = ctx;
  cr_assert_not_null(err);
  cr_assert_eq(v != NULL, st == CM_OK, "a record exactly when CM_OK");
  g->calls++;
  g->st = st;
  g->version = v ? v->version : 0;
  g->order = cm_test_told_next();
}

static void run_until_got(struct event_base *base, const got *g, int ms) {
  for (int64_t end = cm_test_mono_ms() + ms;
       !g->calls && cm_test_mono_ms() < end;) {
    struct timeval tv = {0, 20000};
    event_base_loopexit(base, &tv);
    event_base_loop(base, EVLOOP_ONCE);
  }
}

/* A read asked in the same turn as a submit's proposal goes behind it on
 * the connection: it finds the record the proposal wrote (sent ahead, it
 * found none). An unknown id is CM_E_UNKNOWN_ID. */
Test(refresh_async, a_read_goes_behind_the_turns_proposals) {
  cm_test_pair s;
  open_all(&s, 0);
  cm_error err;
  cm_test_told sub = {0, CM_OK, 0};
  cm_request_spec sp = cm_fx_spec("q2", CM_FX_NURSE, 1, CM_URGENCY_NORMAL, 0);
  cr_assert_eq(
      cm_engine_submit_async(s.e, &sp, CM_FX_T0, cm_test_told_cb, &sub, &err),
      CM_OK, "%s", err.message);
  got g = {0, CM_OK, 0, 0}, none = {0, CM_OK, 0, 0};
  cr_assert_eq(s.l->type->get_async(s.l, "q2", on_record, &g, &err), CM_OK,
               "%s", err.message);
  cr_assert_eq(s.l->type->get_async(s.l, "nobody", on_record, &none, &err),
               CM_OK, "%s", err.message);
  cr_assert_eq(g.calls, 0, "read on the loop");
  run_until_got(s.base, &none, 4000);
  run_until_got(s.base, &g, 4000);
  cr_assert_eq(sub.calls, 1);
  cr_assert_eq(sub.st, CM_OK);
  cr_assert_eq(g.calls, 1);
  cr_assert_eq(g.st, CM_OK, "the record the proposal wrote: %s",
               cm_status_name(g.st));
  cr_assert_eq(g.version, 1);
  cr_assert_lt(sub.order, g.order, "answered after the proposal");
  cr_assert_eq(none.calls, 1);
  cr_assert_eq(none.st, CM_E_UNKNOWN_ID);
  cr_assert_lt(g.order, none.order, "in the order asked");
  cm_test_pair_close(&s);
}

/* A server that stops answering (SIGSTOP): the read ends
 * CM_E_UNAVAILABLE once, by the connection's timeout; a ledger freed with
 * a read in flight ends it once too. */
Test(refresh_async, a_read_ends_by_the_timeout_or_the_free) {
  cm_error err;
  struct event_base *base = event_base_new();
  cm_redis *sync =
      cm_redis_new("127.0.0.1", cm_test_own_redis.port, "rr", NULL, &err);
  cr_assert_not_null(sync, "%s", err.message);
  cm_redis_options o;
  cm_redis_options_init(&o);
  o.base = base;
  o.timeout_ms = 300;
  cm_redis *loop =
      cm_redis_new("127.0.0.1", cm_test_own_redis.port, "rr", &o, &err);
  cr_assert_not_null(loop, "%s", err.message);
  cm_ledger *l = cm_ledger_redis_new(sync, NULL, &err);
  cr_assert_not_null(l, "%s", err.message);
  cr_assert_eq(cm_ledger_redis_attach(l, loop, &err), CM_OK, "%s", err.message);
  cr_assert_eq(cm_redis_ping(loop, &err), CM_OK, "%s", err.message);
  got g = {0, CM_OK, 0, 0};
  cr_assert_eq(kill(cm_test_own_redis.pid, SIGSTOP), 0);
  int64_t t0 = cm_test_mono_ms();
  cr_assert_eq(l->type->get_async(l, "q", on_record, &g, &err), CM_OK, "%s",
               err.message);
  run_until_got(base, &g, 3000);
  int64_t ms = cm_test_mono_ms() - t0;
  cr_assert_eq(kill(cm_test_own_redis.pid, SIGCONT), 0);
  cr_assert_eq(g.calls, 1, "ended, not hung");
  cr_assert_eq(g.st, CM_E_UNAVAILABLE);
  cr_assert_geq(ms, 250, "not before the timeout (%lld ms)", (long long)ms);
  cr_assert_lt(ms, 2000, "ended by the timeout (%lld ms)", (long long)ms);
  cr_assert_eq(cm_redis_ping(loop, &err), CM_OK, "%s", err.message);
  got h = {0, CM_OK, 0, 0};
  cr_assert_eq(l->type->get_async(l, "q", on_record, &h, &err), CM_OK);
  cm_ledger_free(l);
  cr_assert_eq(h.calls, 0, "sent: its reply ends it");
  cm_redis_free(loop);
  cr_assert_eq(h.calls, 1, "told once");
  cr_assert_eq(h.st, CM_E_UNAVAILABLE);
  cm_redis_free(sync);
  event_base_free(base);
}

/* ---- a create refused because the ledger has the id already ---- */

typedef struct created {
  int calls;
  cm_status st;
  cm_error err;
} created;

static void on_created(void *ctx, cm_status st, const cm_error *err) {
  created *c = ctx;
  cr_assert_not_null(err);
  c->calls++;
  c->st = st;
  c->err = *err;
}

/* B creates id (lat dlat_km north); A, which has not followed, creates
 * it with mine_km: A's create is refused for the id. Returns what A's
 * caller was told, once A's loop has nothing in flight. */
static created create_twice(cm_test_pair *s, const char *id, double theirs_km,
                            double mine_km) {
  cm_error err;
  cm_request_spec sp =
      cm_fx_spec(id, CM_FX_NURSE, 1, CM_URGENCY_NORMAL, theirs_km);
  cr_assert_eq(cm_engine_submit(s->other_e, &sp, CM_FX_T0, &err), CM_OK, "%s",
               err.message);
  cr_assert(!cm_engine_holds(s->e, id), "A has not followed");
  created c = {0, CM_OK, {0}};
  sp = cm_fx_spec(id, CM_FX_NURSE, 1, CM_URGENCY_NORMAL, mine_km);
  cr_assert_eq(
      cm_engine_submit_async(s->e, &sp, CM_FX_T0 + 5, on_created, &c, &err),
      CM_OK, "%s", err.message);
  for (int64_t end = cm_test_mono_ms() + 4000;
       (!c.calls || cm_engine_in_flight(s->e)) && cm_test_mono_ms() < end;) {
    struct timeval tv = {0, 20000};
    event_base_loopexit(s->base, &tv);
    event_base_loop(s->base, EVLOOP_ONCE);
  }
  cr_assert_eq(c.calls, 1, "told once");
  cr_assert_eq(cm_engine_in_flight(s->e), 0);
  return c;
}

/* A create of an id another writer created is refused by Redis; the
 * record is read on the loop connection (A's private connection selects
 * database 1 here, where nothing is found, so only the loop's read can
 * bring it) and A's caller is told from that read: the same content is
 * adopted and answered as a create (A holds it, as Redis has it); other
 * content is a conflict at $.id. The synchronous read on the private
 * connection found nothing: both were told "unknown id". */
Test(refresh_async,
     a_create_refused_for_its_id_is_answered_from_the_loops_read) {
  cm_test_pair s;
  open_all(&s, 1);
  created same = create_twice(&s, "d1", 0.5, 0.5);
  cr_assert_eq(same.st, CM_OK, "adopted: %s", same.err.message);
  cr_assert(cm_engine_holds(s.e, "d1"));
  cm_request_view v;
  cm_error err;
  cr_assert_eq(cm_engine_request_get(s.e, "d1", &v, &err), CM_OK);
  cr_assert_eq(v.version, 1, "B's record");
  cr_assert_eq(v.state, CM_REQ_PENDING);
  created other = create_twice(&s, "d2", 0.5, 0.0);
  cr_assert_eq(other.st, CM_E_CONFLICT, "%s", other.err.message);
  cr_assert_str_eq(other.err.field, "$.id");
  cr_assert_str_eq(other.err.message,
                   "$.id: request 'd2' exists with different content");
  cr_assert(!cm_engine_holds(s.e, "d2"), "nothing adopted");
  cm_engine_stats st;
  cm_engine_stats_get(s.e, &st);
  cr_assert_eq(st.resync_pending, 0, "no read failed");
  cm_test_pair_close(&s);
}
