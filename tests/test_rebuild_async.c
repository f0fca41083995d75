/* test_rebuild_async.c -- the rebuild from the Redis ledger read on the
 * caller's event base (ledger.h's rebuild_async, engine_rebuild.c,
 * docs/async.md), against a redis-server of the test's own: another
 * writer's workers and requests are adopted from the loop's callback, a
 * write asked meanwhile waits and completes after it, an engine freed
 * mid-rebuild tells its caller once, a server that does not answer ends
 * it with an error within the connection's timeout; and a real carematchd
 * standby taking the lease while Redis is frozen (SIGSTOP) mid-rebuild
 * keeps answering /healthz and GETs, then completes the rebuild and
 * dispatches after the thaw. */
#include <criterion/criterion.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "carematch/engine.h"
#include "carematch/ledger.h"
#include "carematch/redis.h"
#include "daemon_proc.h"
#include "fixtures.h"
#include "redis_pair.h"
#include "redis_server.h"

TestSuite(rebuild_async, .init = cm_test_own_redis_start,
          .fini = cm_test_own_redis_kill);

/* The engine and another writer on region ra (cm_test_pair), A's loop
 * connection with timeout_ms; B has followed the ledger. */
static void open_all(cm_test_pair *s, int timeout_ms) {
  cm_test_pair_open(s, cm_test_own_redis.port, "ra", NULL, timeout_ms);
  cm_error err;
  cr_assert_eq(cm_engine_sync(s->other_e, CM_FX_T0, &err), CM_OK, "%s",
               err.message);
}

/* The other writer: a worker and a request (offered to nobody yet). */
static void other_writes(cm_test_pair *s, const char *worker, const char *req) {
  cm_error err;
  cm_worker w = cm_fx_worker(worker, CM_FX_NURSE, 0.5, 0, 1, CM_FX_T0);
  cr_assert_eq(cm_engine_worker_upsert(s->other_e, &w, CM_FX_T0, &err), CM_OK,
               "%s", err.message);
  cm_request_spec sp = cm_fx_spec(req, CM_FX_NURSE, 1, CM_URGENCY_NORMAL, 0);
  cr_assert_eq(cm_engine_submit(s->other_e, &sp, CM_FX_T0, &err), CM_OK, "%s",
               err.message);
}

/* Another writer's workers and requests come in from the loop's callback,
 * in one step; a submit asked while the rebuild is in flight is held and
 * completes after it; the next follow starts from the rebuild's mark. */
Test(rebuild_async, other_writers_state_is_adopted_from_the_loop) {
  cm_test_pair s;
  open_all(&s, 5000);
  other_writes(&s, "w1", "q1");
  other_writes(&s, "w2", "q2");
  cm_error err;
  cm_engine_resync(s.e); /* as a lease taken anew */
  cm_test_told t = {0, CM_OK, 0}, sub = {0, CM_OK, 0};
  cr_assert_eq(cm_engine_sync_async(s.e, CM_FX_T0, cm_test_told_cb, &t, &err),
               CM_OK, "%s", err.message);
  cr_assert_eq(t.calls, 0, "read on the loop, not before the call returns");
  cm_engine_stats st;
  cm_engine_stats_get(s.e, &st);
  cr_assert_eq(st.resync_pending, 1, "in flight");
  cr_assert_eq(cm_engine_sync_async(s.e, CM_FX_T0, cm_test_told_cb, &t, &err),
               CM_E_CONFLICT, "no second rebuild");
  cm_engine_batch *b = NULL;
  cr_assert_eq(cm_engine_batch_begin(s.e, CM_FX_T0, &b, &err), CM_E_UNAVAILABLE,
               "no batch meanwhile");
  cm_request_spec sp = cm_fx_spec("q3", CM_FX_NURSE, 1, CM_URGENCY_NORMAL, 0);
  cr_assert_eq(
      cm_engine_submit_async(s.e, &sp, CM_FX_T0, cm_test_told_cb, &sub, &err),
      CM_OK, "a write is taken meanwhile: %s", err.message);
  cm_request_spec sp4 = cm_fx_spec("q4", CM_FX_NURSE, 1, CM_URGENCY_NORMAL, 0);
  cr_assert_eq(cm_engine_submit(s.e, &sp4, CM_FX_T0, &err), CM_E_UNAVAILABLE,
               "a synchronous one is refused");
  cm_test_run_until(s.base, &t, 4000);
  cr_assert_eq(t.calls, 1);
  cr_assert_eq(t.st, CM_OK);
  cm_test_run_until(s.base, &sub, 4000);
  cr_assert_eq(sub.calls, 1);
  cr_assert_eq(sub.st, CM_OK);
  cr_assert_lt(t.order, sub.order, "the held write completes after it");
  cm_request_view v;
  cr_assert(cm_engine_holds(s.e, "q1") && cm_engine_holds(s.e, "q2"),
            "the other writer's requests adopted");
  cr_assert_eq(cm_engine_request_get(s.e, "q3", &v, &err), CM_OK);
  cm_worker w;
  cr_assert_eq(cm_store_get(s.mirror, "w1", &w, &err), CM_OK,
               "the other writer's worker in the mirror");
  cr_assert_eq(cm_store_get(s.mirror, "w2", &w, &err), CM_OK);
  cm_engine_stats_get(s.e, &st);
  cr_assert_eq(st.resync_pending, 0);
  cr_assert_eq(st.rebuilds, 1);
  /* followed from the mark: a later change of the other writer comes in */
  cm_worker w9 = cm_fx_worker("w9", CM_FX_NURSE, 0.2, 0, 1, CM_FX_T0);
  cr_assert_eq(cm_engine_worker_upsert(s.other_e, &w9, CM_FX_T0, &err), CM_OK);
  cm_test_told f = {0, CM_OK, 0};
  cr_assert_eq(cm_engine_sync_async(s.e, CM_FX_T0, cm_test_told_cb, &f, &err),
               CM_OK);
  cm_test_run_until(s.base, &f, 4000);
  cr_assert_eq(f.st, CM_OK);
  cr_assert_eq(cm_store_get(s.mirror, "w9", &w, &err), CM_OK);
  cm_engine_stats_get(s.e, &st);
  cr_assert_eq(st.rebuilds, 1, "a follow, not another rebuild");
  /* asked to rebuild between the follow and the batch (a lease taken): the
     batch does not rebuild synchronously, the next sync reads it */
  cm_engine_resync(s.e);
  cr_assert_eq(cm_engine_batch_begin(s.e, CM_FX_T0, &b, &err),
               CM_E_UNAVAILABLE);
  cm_engine_stats_get(s.e, &st);
  cr_assert_eq(st.rebuilds, 1, "not rebuilt by the batch");
  cm_test_told g = {0, CM_OK, 0};
  cr_assert_eq(cm_engine_sync_async(s.e, CM_FX_T0, cm_test_told_cb, &g, &err),
               CM_OK);
  cr_assert_eq(g.calls, 0, "read on the loop");
  cm_test_run_until(s.base, &g, 4000);
  cr_assert_eq(g.st, CM_OK);
  cm_engine_stats_get(s.e, &st);
  cr_assert_eq(st.rebuilds, 2);
  cm_test_pair_close(&s);
}

/* A rebuild due while a write is in flight waits for it (an answer on its
 * way would land on the rebuilt state), and holds the writes asked
 * meanwhile, so that the next sync starts it with only those held; they
 * complete after it. */
Test(rebuild_async, a_rebuild_waiting_for_a_write_holds_the_next_ones) {
  cm_test_pair s;
  open_all(&s, 5000);
  cm_error err;
  cm_test_told sync0 = {0, CM_OK, 0};
  cr_assert_eq(
      cm_engine_sync_async(s.e, CM_FX_T0, cm_test_told_cb, &sync0, &err),
      CM_OK);
  cm_test_run_until(s.base, &sync0, 4000);
  cr_assert_eq(sync0.st, CM_OK, "the first rebuild");
  cm_test_told w1 = {0, CM_OK, 0}, w2 = {0, CM_OK, 0}, t = {0, CM_OK, 0};
  cm_request_spec a = cm_fx_spec("a", CM_FX_NURSE, 1, CM_URGENCY_NORMAL, 0);
  cm_request_spec b = cm_fx_spec("b", CM_FX_NURSE, 1, CM_URGENCY_NORMAL, 0);
  cr_assert_eq(
      cm_engine_submit_async(s.e, &a, CM_FX_T0, cm_test_told_cb, &w1, &err),
      CM_OK);
  cm_engine_resync(s.e);
  cr_assert_eq(cm_engine_sync_async(s.e, CM_FX_T0, cm_test_told_cb, &t, &err),
               CM_OK);
  cr_assert_eq(t.calls, 1);
  cr_assert_eq(t.st, CM_E_UNAVAILABLE, "waits for the write in flight");
  cr_assert_eq(
      cm_engine_submit_async(s.e, &b, CM_FX_T0, cm_test_told_cb, &w2, &err),
      CM_OK);
  cm_test_run_until(s.base, &w1, 4000);
  cr_assert_eq(w1.st, CM_OK);
  for (int i = 0; i < 10; i++) { /* b is held: nothing answers it */
    struct timeval tv = {0, 10000};
    event_base_loopexit(s.base, &tv);
    event_base_loop(s.base, EVLOOP_ONCE);
  }
  cr_assert_eq(w2.calls, 0, "held for the rebuild");
  cm_test_told t2 = {0, CM_OK, 0};
  cr_assert_eq(cm_engine_sync_async(s.e, CM_FX_T0, cm_test_told_cb, &t2, &err),
               CM_OK);
  cm_test_run_until(s.base, &t2, 4000);
  cr_assert_eq(t2.st, CM_OK, "started with only the held write");
  cm_test_run_until(s.base, &w2, 4000);
  cr_assert_eq(w2.st, CM_OK);
  cr_assert_lt(t2.order, w2.order);
  cr_assert(cm_engine_holds(s.e, "a") && cm_engine_holds(s.e, "b"));
  cm_test_pair_close(&s);
}

/* Freed while its read is in flight: the caller is told once, at the
 * free; the late answer finds nobody (ASan: nothing leaks). */
Test(rebuild_async, an_engine_freed_mid_rebuild_tells_once) {
  cm_test_pair s;
  open_all(&s, 5000);
  other_writes(&s, "w1", "q1");
  cm_error err;
  cm_engine_resync(s.e);
  cm_test_told t = {0, CM_OK, 0}, sub = {0, CM_OK, 0};
  cr_assert_eq(cm_engine_sync_async(s.e, CM_FX_T0, cm_test_told_cb, &t, &err),
               CM_OK);
  cm_request_spec sp = cm_fx_spec("q3", CM_FX_NURSE, 1, CM_URGENCY_NORMAL, 0);
  cr_assert_eq(
      cm_engine_submit_async(s.e, &sp, CM_FX_T0, cm_test_told_cb, &sub, &err),
      CM_OK);
  cm_engine_free(s.e);
  s.e = NULL;
  cr_assert_eq(t.calls, 1, "told at the free");
  cr_assert_eq(t.st, CM_E_UNAVAILABLE);
  cr_assert_eq(sub.calls, 1, "the held write too");
  cr_assert_eq(sub.st, CM_E_UNAVAILABLE);
  for (int i = 0; i < 20; i++) { /* the answers arrive: nobody there */
    struct timeval tv = {0, 20000};
    event_base_loopexit(s.base, &tv);
    event_base_loop(s.base, EVLOOP_ONCE);
  }
  cr_assert_eq(t.calls, 1);
  cr_assert_eq(sub.calls, 1);
  cm_test_pair_close(&s);
}

/* A ledger freed with the read in flight: the engine is told once (the
 * connection's free answers the command NULL). */
Test(rebuild_async, a_ledger_freed_mid_rebuild_ends_it_once) {
  cm_test_pair s;
  open_all(&s, 5000);
  cm_error err;
  cm_engine_resync(s.e);
  cm_test_told t = {0, CM_OK, 0};
  cr_assert_eq(cm_engine_sync_async(s.e, CM_FX_T0, cm_test_told_cb, &t, &err),
               CM_OK);
  cm_ledger_free(s.l);
  s.l = NULL;
  cr_assert_eq(t.calls, 0);
  cm_redis_free(s.loop);
  s.loop = NULL;
  cr_assert_eq(t.calls, 1, "told once");
  cr_assert_eq(t.st, CM_E_UNAVAILABLE);
  cm_engine_stats st;
  cm_engine_stats_get(s.e, &st);
  cr_assert_eq(st.resync_pending, 1, "still to rebuild");
  cm_engine_free(s.e);
  s.e = NULL;
  cr_assert_eq(t.calls, 1);
  cm_test_pair_close(&s);
}

/* A server that stops answering (SIGSTOP): the call returns at once, and
 * the rebuild ends CM_E_UNAVAILABLE within the connection's timeout, the
 * engine still to rebuild; after the thaw a rebuild completes. */
Test(rebuild_async, a_silent_server_ends_it_with_an_error) {
  cm_test_pair s;
  open_all(&s, 300);
  other_writes(&s, "w1", "q1");
  cm_error err;
  cm_engine_resync(s.e);
  cm_test_told t = {0, CM_OK, 0};
  cr_assert_eq(kill(cm_test_own_redis.pid, SIGSTOP), 0);
  int64_t t0 = cm_test_mono_ms();
  cr_assert_eq(cm_engine_sync_async(s.e, CM_FX_T0, cm_test_told_cb, &t, &err),
               CM_OK, "%s", err.message);
  cr_assert_lt(cm_test_mono_ms() - t0, 100, "the call does not wait for Redis");
  cm_test_run_until(s.base, &t, 3000);
  int64_t ms = cm_test_mono_ms() - t0;
  cr_assert_eq(kill(cm_test_own_redis.pid, SIGCONT), 0);
  cr_assert_eq(t.calls, 1, "ended, not hung");
  cr_assert_eq(t.st, CM_E_UNAVAILABLE);
  cr_assert_geq(ms, 250, "not before the timeout (%lld ms)", (long long)ms);
  cr_assert_lt(ms, 2000, "ended by the timeout (%lld ms)", (long long)ms);
  cm_engine_stats st;
  cm_engine_stats_get(s.e, &st);
  cr_assert_eq(st.resync_pending, 1);
  cr_assert_eq(cm_redis_ping(s.loop, &err), CM_OK, "%s", err.message);
  cm_test_told t2 = {0, CM_OK, 0};
  cr_assert_eq(cm_engine_sync_async(s.e, CM_FX_T0, cm_test_told_cb, &t2, &err),
               CM_OK);
  cm_test_run_until(s.base, &t2, 3000);
  cr_assert_eq(t2.st, CM_OK);
  cr_assert(cm_engine_holds(s.e, "q1"));
  cm_test_pair_close(&s);
}

/* ---- carematchd: a standby takes the lease while Redis is frozen ---- */

static char g_region[32];

static long call(const cm_test_daemon *d, const char *method, const char *path,
                 const char *body) {
  cm_test_reply r =
      cm_test_http(d->port, method, path, TOK_PLATFORM, body, NULL);
  long code = r.code;
  cm_test_reply_free(&r);
  return code;
}

static int leads(const cm_test_daemon *d) {
  cm_test_reply r =
      cm_test_http(d->port, "GET", "/readyz?role=leader", NULL, NULL, NULL);
  int yes = r.code == 200;
  cm_test_reply_free(&r);
  return yes;
}

static void daemon_up(cm_test_daemon *d, const char *id) {
  char ini[320];
  snprintf(ini, sizeof ini,
           "[store]\nredis = redis://127.0.0.1:%d\nregion = %s\nsweep_ms = 0\n"
           "[lease]\nenabled = on\nttl_ms = 1500\nrenew_ms = 500\nid = %s\n",
           cm_test_own_redis.port, g_region, id);
  cm_test_daemon_config(d, ini);
  cm_test_daemon_start(d, NULL);
}

static const char *state_of(const cm_test_daemon *d, const char *id, char *buf,
                            size_t n) {
  char path[64];
  snprintf(path, sizeof path, "/v1/requests/%s", id);
  cm_test_reply r =
      cm_test_http(d->port, "GET", path, TOK_PLATFORM, NULL, NULL);
  const char *s = "";
  buf[0] = '\0';
  if (r.code == 200 &&
      json_unpack(r.json, "{s:{s:s}}", "request", "state", &s) == 0)
    snprintf(buf, n, "%s", s);
  cm_test_reply_free(&r);
  return buf;
}

/* Workers enough that the rebuild's reads take several pages (the freeze
 * lands inside them), written by another writer straight into Redis. */
#define MANY_WORKERS 6000

static void many_workers(void) {
  cm_error err;
  cm_redis *r =
      cm_redis_new("127.0.0.1", cm_test_own_redis.port, g_region, NULL, &err);
  cr_assert_not_null(r, "%s", err.message);
  cm_store *st = cm_store_redis_open(r, &err);
  cr_assert_not_null(st, "%s", err.message);
  for (int i = 0; i < MANY_WORKERS; i++) {
    char id[32];
    snprintf(id, sizeof id, "m%05d", i);
    cm_worker w =
        cm_fx_worker(id, CM_FX_CAREGIVER, 30.0 + i % 50, 0, 1, CM_FX_T0);
    cr_assert_eq(cm_store_upsert(st, &w, &err), CM_OK, "%s", err.message);
  }
  cm_store_free(st);
  cm_redis_free(r);
}

/* The holder A stops (SIGSTOP); standby B takes the lease and rebuilds.
 * The test watches Redis (MONITOR) and freezes it (SIGSTOP) at the first
 * worker read of B's rebuild: for the freeze, B answers /healthz and a
 * GET at once (the synchronous rebuild held its loop for the whole
 * freeze); after the thaw B's rebuild completes and B dispatches with the
 * state A left. */
Test(rebuild_async, a_takeover_under_a_frozen_redis_holds_nothing) {
  snprintf(g_region, sizeof g_region, "rb%ld", (long)getpid());
  many_workers();
  cm_test_daemon a, b;
  daemon_up(&a, "A");
  for (int64_t end = cm_test_mono_ms() + 5000;
       !leads(&a) && cm_test_mono_ms() < end;)
    cm_test_sleep_ms(20);
  cr_assert(leads(&a), "A leads");
  cr_assert_eq(call(&a, "PUT", "/v1/workers/w1",
                    "{\"skills\":[\"nurse\"],\"lat\":31.23,\"lon\":121.47}"),
               200);
  cr_assert_eq(call(&a, "POST", "/v1/requests",
                    "{\"id\":\"q1\",\"lat\":31.231,\"lon\":121.47,\"skills\":"
                    "[\"nurse\"],\"urgency\":\"emergency\"}"),
               201);
  char buf[32];
  for (int64_t end = cm_test_mono_ms() + 5000;
       strcmp(state_of(&a, "q1", buf, sizeof buf), "offered") &&
       cm_test_mono_ms() < end;)
    cm_test_sleep_ms(10);
  cr_assert_str_eq(buf, "offered", "A offered q1 to w1");
  daemon_up(&b, "B");
  cr_assert_eq(leads(&b), 0, "B is a standby");
  cm_test_sleep_ms(300); /* B recovered and follows */
  redisContext *mon = cm_test_side_connect(cm_test_own_redis.port);
  cr_assert_not_null(mon);
  redisReply *ok = redisCommand(mon, "MONITOR");
  cr_assert(ok && ok->type == REDIS_REPLY_STATUS);
  freeReplyObject(ok);
  struct timeval tv = {5, 0};
  redisSetTimeout(mon, tv);
  cr_assert_eq(kill(a.pid, SIGSTOP), 0); /* the holder stops renewing */
  int frozen = 0;
  for (int64_t end = cm_test_mono_ms() + 6000;
       !frozen && cm_test_mono_ms() < end;) {
    redisReply *line = NULL;
    if (redisGetReply(mon, (void **)&line) != REDIS_OK || !line)
      break;
    if (line->type == REDIS_REPLY_STATUS && strstr(line->str, "\"HGETALL\"") &&
        strstr(line->str, g_region))
      frozen = kill(cm_test_own_redis.pid, SIGSTOP) ==
               0; /* B's rebuild reads workers */
    freeReplyObject(line);
  }
  cr_assert(frozen, "B's rebuild was seen");
  int64_t worst = 0, t_freeze = cm_test_mono_ms();
  while (cm_test_mono_ms() - t_freeze < 1500) {
    int64_t t = cm_test_mono_ms();
    cm_test_reply r = cm_test_http(b.port, "GET", "/healthz", NULL, NULL, NULL);
    long hc = r.code;
    cm_test_reply_free(&r);
    state_of(&b, "q1", buf, sizeof buf);
    if (cm_test_mono_ms() - t > worst)
      worst = cm_test_mono_ms() - t;
    cr_assert_eq(hc, 200);
    cr_assert_str_eq(buf, "offered", "B's GET answers from its mirror");
    cm_test_sleep_ms(10);
  }
  double pending = cm_test_metric(b.port, "carematch_ledger_resync_pending");
  cr_assert_eq(kill(cm_test_own_redis.pid, SIGCONT), 0);
  redisFree(mon);
  cr_log_info("the longest /healthz + GET of B while Redis was frozen in its "
              "rebuild: %lld ms",
              (long long)worst);
  cr_assert_lt(worst, 250, "B's loop was held %lld ms", (long long)worst);
  cr_assert_eq(pending, 1, "the freeze fell inside B's rebuild");
  double rebuilt = 0;
  for (int64_t end = cm_test_mono_ms() + 8000; cm_test_mono_ms() < end;
       cm_test_sleep_ms(20))
    if (leads(&b) && (rebuilt = cm_test_metric(
                          b.port, "carematch_ledger_resync_pending")) == 0)
      break;
  cr_assert_eq(rebuilt, 0, "B's rebuild completed after the thaw");
  cr_assert(leads(&b), "B leads");
  cr_assert_str_eq(state_of(&b, "q1", buf, sizeof buf), "offered",
                   "A's offer kept");
  cr_assert_eq(call(&b, "PUT", "/v1/workers/w2",
                    "{\"skills\":[\"nurse\"],\"lat\":31.23,\"lon\":121.47}"),
               200);
  cr_assert_eq(call(&b, "POST", "/v1/requests",
                    "{\"id\":\"q2\",\"lat\":31.231,\"lon\":121.47,\"skills\":"
                    "[\"nurse\"],\"urgency\":\"emergency\"}"),
               201);
  for (int64_t end = cm_test_mono_ms() + 5000;
       strcmp(state_of(&b, "q2", buf, sizeof buf), "offered") &&
       cm_test_mono_ms() < end;)
    cm_test_sleep_ms(10);
  cr_assert_str_eq(buf, "offered", "B dispatches after its rebuild");
  cm_test_reply r =
      cm_test_http(b.port, "GET", "/v1/requests/q2", TOK_PLATFORM, NULL, NULL);
  const char *to = "";
  json_unpack(r.json, "{s:{s:[{s:s}]}}", "request", "workers", "id", &to);
  cr_assert_str_eq(to, "w2", "w1 holds q1 (rebuilt), so q2 goes to w2");
  cm_test_reply_free(&r);
  kill(a.pid, SIGCONT);
  cm_test_daemon_stop(&a, SIGKILL);
  cm_test_daemon_stop(&b, SIGTERM);
  cm_test_daemon_cleanup(&a);
  cm_test_daemon_cleanup(&b);
}
