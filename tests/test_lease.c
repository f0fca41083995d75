/* test_lease.c -- the region's lease and its fence (docs/ha.md): the lease
 * script's epochs and expiry; the commit script refusing an offer made
 * under a stale epoch (an engine on a real redis-server); and real
 * carematchd processes over loopback: of two daemons on one region exactly
 * one leads; kill -9 of the holder, the other takes over and offers; a
 * holder frozen past the TTL (SIGSTOP) and thawed becomes a standby, and
 * one that ignores its loss (fault injection) has its offers refused by
 * Redis (stale_epoch) while the new holder makes them; a standby renewing
 * seldom takes the lease at its expiry, not at its next renewal. No Criterion
 * .timeout (docs/redis.md, "Testing"). */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "carematch/engine.h"
#include "carematch/ledger.h"
#include "carematch/redis.h"
#include "daemon_proc.h"
#include "fixtures.h"
#include "redis_server.h"

#define T0 1700000000000LL
#define TTL_MS 1500 /* the daemons' lease: renewed every 500 ms */

static int g_port;
static pid_t g_pid; /* 0: the shared server */
static char g_region[32];

static void setup(void) {
  static int n;
  cm_test_redis s = cm_test_redis_use();
  g_port = s.port;
  g_pid = s.pid;
  snprintf(g_region, sizeof g_region, "lease%ld-%d", (long)getpid(), n++);
}

static void teardown(void) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "cm:{%s}:*", g_region);
  cm_test_redis_done(&(cm_test_redis){g_port, g_pid}, pattern);
}

static cm_redis *conn(void) {
  cm_error err;
  cm_redis_options o;
  cm_redis_options_init(&o);
  o.timeout_ms = 2000;
  cm_redis *r = cm_redis_new("127.0.0.1", g_port, g_region, &o, &err);
  cr_assert_not_null(r, "%s", err.message);
  return r;
}

TestSuite(lease, .init = setup, .fini = teardown);

/* ---- the script ---- */

Test(lease, hold_renew_release_and_expiry) {
  cm_redis *r = conn();
  cm_redis_lease a, b;
  cm_error err;
  cr_assert_eq(cm_redis_lease_hold(r, "A", 10000, 5, 0, &a, &err), CM_OK, "%s",
               err.message);
  cr_assert(a.mine && a.acquired && a.epoch >= 1);
  cr_assert_str_eq(a.holder, "A");
  cr_assert_eq(a.since_ms, 5);
  uint64_t e1 = a.epoch;
  cr_assert_eq(cm_redis_lease_hold(r, "A", 10000, 9, 0, &a, &err), CM_OK);
  cr_assert(a.mine && !a.acquired && a.epoch == e1 && a.since_ms == 5,
            "a renewal keeps the epoch and since");
  cr_assert_eq(cm_redis_lease_hold(r, "B", 10000, 9, 0, &b, &err), CM_OK);
  cr_assert(!b.mine && !b.acquired && b.epoch == e1);
  cr_assert_str_eq(b.holder, "A");
  cr_assert(b.pttl_ms > 0 && b.pttl_ms <= 10000,
            "the time A's lease has left, for B to aim at: %lld",
            (long long)b.pttl_ms);
  cr_assert_eq(cm_redis_lease_release(r, "B", 0, &b, &err), CM_OK);
  cr_assert(!b.mine, "only the holder releases");
  cr_assert_eq(cm_redis_lease_release(r, "A", 0, &a, &err), CM_OK);
  cr_assert(a.mine);
  cr_assert_eq(cm_redis_lease_get(r, 0, &b, &err), CM_OK);
  cr_assert(!b.mine && b.holder[0] == '\0' && b.epoch == 0);
  cr_assert_eq(b.pttl_ms, -2, "nobody holds it");
  cr_assert_eq(cm_redis_lease_hold(r, "B", 200, 9, 0, &b, &err), CM_OK);
  cr_assert(b.mine && b.acquired && b.epoch == e1 + 1,
            "every acquisition takes a new epoch");
  cm_test_sleep_ms(350); /* B stops renewing: the lease expires */
  cr_assert_eq(cm_redis_lease_hold(r, "A", 10000, 9, 0, &a, &err), CM_OK);
  cr_assert(a.mine && a.acquired && a.epoch == e1 + 2);
  cr_assert_eq(cm_redis_lease_hold(r, "", 100, 9, 0, &a, &err), CM_E_INVALID);
  cm_redis_free(r);
}

/* ---- the fence, through an engine on the Redis ledger ---- */

Test(lease, commit_refuses_an_offer_under_a_stale_epoch) {
  cm_redis *r = conn(), *other = conn();
  cm_error err;
  cm_ledger *l = cm_ledger_redis_new(r, NULL, &err);
  cr_assert_not_null(l, "%s", err.message);
  cm_store *mirror = cm_store_memory_new(0);
  cm_engine_config cfg;
  cm_engine_config_init(&cfg);
  cfg.ledger = l;
  cfg.batch_window_ms = 100;
  cfg.stale_ms = 0;
  cm_engine *e = cm_engine_new(&cfg, mirror, &err);
  cr_assert_not_null(e, "%s", err.message);
  cr_assert_eq(cm_engine_sync(e, T0, &err), CM_OK, "%s", err.message);
  cm_worker w = cm_fx_worker("w1", CM_FX_NURSE, 0, 0, 1, T0);
  cr_assert_eq(cm_engine_worker_upsert(e, &w, T0, &err), CM_OK, "%s",
               err.message);
  /* we held the lease (epoch e1); another daemon holds it now (e2) */
  cm_redis_lease me, him;
  cr_assert_eq(cm_redis_lease_hold(r, "me", 60000, T0, 0, &me, &err), CM_OK);
  cr_assert(me.acquired);
  cr_assert_eq(cm_redis_lease_release(r, "me", 0, &me, &err), CM_OK);
  cr_assert_eq(cm_redis_lease_hold(other, "him", 60000, T0, 0, &him, &err),
               CM_OK);
  cr_assert(him.acquired && him.epoch == me.epoch + 1);
  cm_ledger_redis_fence_set(l, (int64_t)me.epoch, "me");
  /* a submission is not fenced: API writes go on on a standby */
  cm_request_spec s = cm_fx_spec("q1", CM_FX_NURSE, 1, CM_URGENCY_EMERGENCY, 0);
  cr_assert_eq(cm_engine_submit(e, &s, T0, &err), CM_OK, "%s", err.message);
  int batches = 0;
  cr_assert_eq(cm_engine_step(e, T0 + 1, &batches, &err), CM_OK, "%s",
               err.message);
  cr_assert_eq(batches, 1);
  cm_ledger_redis_stats rs;
  cm_ledger_redis_stats_get(l, &rs);
  cr_assert_eq(rs.stale_epoch, 1, "the offer under epoch %llu was refused",
               (unsigned long long)me.epoch);
  redisContext *c = cm_test_side_connect(g_port);
  cr_assert_not_null(c);
  redisReply *rep = redisCommand(c, "HGET cm:{%s}:worker:w1 jobs", g_region);
  cr_assert(rep && (rep->type == REDIS_REPLY_NIL ||
                    (rep->type == REDIS_REPLY_STRING && atoi(rep->str) == 0)),
            "no job taken in Redis");
  freeReplyObject(rep);
  cm_request_view v;
  cr_assert_eq(cm_engine_request_get(e, "q1", &v, &err), CM_OK);
  cr_assert_eq(v.state, CM_REQ_PENDING);
  /* the right epoch under another name is still refused */
  cm_ledger_redis_fence_set(l, (int64_t)him.epoch, "me");
  cr_assert_eq(cm_engine_step(e, T0 + 300, &batches, &err), CM_OK, "%s",
               err.message);
  cm_ledger_redis_stats_get(l, &rs);
  cr_assert_eq(rs.stale_epoch, 2, "an epoch is checked with its holder");
  /* with the current lease the same offer goes through */
  cm_ledger_redis_fence_set(l, (int64_t)him.epoch, "him");
  cr_assert_eq(cm_engine_step(e, T0 + 500, &batches, &err), CM_OK, "%s",
               err.message);
  cr_assert_eq(cm_engine_request_get(e, "q1", &v, &err), CM_OK);
  cr_assert_eq(v.state, CM_REQ_OFFERED);
  rep = redisCommand(c, "HGET cm:{%s}:worker:w1 jobs", g_region);
  cr_assert(rep && rep->type == REDIS_REPLY_STRING && atoi(rep->str) == 1);
  freeReplyObject(rep);
  cm_ledger_redis_stats_get(l, &rs);
  cr_assert_eq(rs.stale_epoch, 2);
  /* the event stream (the chaos judge reads it, bench/chaos_check.c): a
   * lease entry at each acquisition, and the offer under its epoch */
  rep = redisCommand(c, "XRANGE cm:{%s}:events - +", g_region);
  cr_assert(rep && rep->type == REDIS_REPLY_ARRAY);
  int leases = 0;
  char last_lease[32] = "", offer_epoch[32] = "";
  for (size_t i = 0; i < rep->elements; i++) {
    const redisReply *kv = rep->element[i]->element[1];
    const char *type = "", *epoch = "";
    for (size_t j = 0; j + 1 < kv->elements; j += 2) {
      if (!strcmp(kv->element[j]->str, "type"))
        type = kv->element[j + 1]->str;
      if (!strcmp(kv->element[j]->str, "epoch"))
        epoch = kv->element[j + 1]->str;
    }
    if (!strcmp(type, "lease")) {
      leases++;
      snprintf(last_lease, sizeof last_lease, "%s", epoch);
    } else if (!strcmp(type, "offered")) {
      snprintf(offer_epoch, sizeof offer_epoch, "%s", epoch);
    }
  }
  freeReplyObject(rep);
  char want[32];
  snprintf(want, sizeof want, "%llu", (unsigned long long)him.epoch);
  cr_assert_eq(leases, 2, "one lease entry per acquisition, none at renewal");
  cr_assert_str_eq(last_lease, want);
  cr_assert_str_eq(offer_epoch, want, "the offer carries its fence's epoch");
  redisFree(c);
  cm_engine_free(e);
  cm_store_free(mirror);
  cm_ledger_free(l);
  cm_redis_free(other);
  cm_redis_free(r);
}

/* ---- real daemons ---- */

static void daemon_start(cm_test_daemon *d, const char *id) {
  char ini[320];
  snprintf(ini, sizeof ini,
           "[store]\nredis = redis://127.0.0.1:%d\nregion = %s\n"
           "[lease]\nenabled = on\nttl_ms = %d\nid = %s\n",
           g_port, g_region, TTL_MS, id);
  cm_test_daemon_config(d, ini);
  cm_test_daemon_start(d, NULL);
}

/* 1 when d answers /readyz?role=leader with 200. */
static int leads(const cm_test_daemon *d) {
  cm_test_reply r =
      cm_test_http(d->port, "GET", "/readyz?role=leader", NULL, NULL, NULL);
  int yes = r.code == 200;
  cm_test_reply_free(&r);
  return yes;
}

/* Wait up to ms for d to lead (want 1) or not (0). Returns 1 when it did. */
static int wait_leads(const cm_test_daemon *d, int want, int ms) {
  for (int64_t end = cm_test_mono_ms() + ms; cm_test_mono_ms() < end;
       cm_test_sleep_ms(20))
    if (leads(d) == want)
      return 1;
  return 0;
}

static long call(const cm_test_daemon *d, const char *method, const char *path,
                 const char *body) {
  cm_test_reply r =
      cm_test_http(d->port, method, path, TOK_PLATFORM, body, NULL);
  long code = r.code;
  cm_test_reply_free(&r);
  return code;
}

static void add_worker(const cm_test_daemon *d, const char *id) {
  char path[64];
  snprintf(path, sizeof path, "/v1/workers/%s", id);
  cr_assert_eq(call(d, "PUT", path,
                    "{\"skills\":[\"nurse\"],\"lat\":31.23,\"lon\":121.47}"),
               200);
}

static void submit(const cm_test_daemon *d, const char *id) {
  char body[160];
  snprintf(body, sizeof body,
           "{\"id\":\"%s\",\"lat\":31.231,\"lon\":121.47,\"skills\":"
           "[\"nurse\"],\"urgency\":\"emergency\"}",
           id);
  cr_assert_eq(call(d, "POST", "/v1/requests", body), 201);
}

/* The origin tags of the offered events of request id in Redis's event
 * stream, comma separated, into out. */
static void offered_by(const char *id, char *out, size_t n) {
  redisContext *c = cm_test_side_connect(g_port);
  cr_assert_not_null(c);
  redisReply *r = redisCommand(c, "XRANGE cm:{%s}:events - +", g_region);
  cr_assert(r && r->type == REDIS_REPLY_ARRAY);
  out[0] = '\0';
  for (size_t i = 0; i < r->elements; i++) {
    const redisReply *f = r->element[i]->element[1];
    const char *type = "", *req = "", *origin = "";
    for (size_t k = 0; k + 1 < f->elements; k += 2) {
      const char *key = f->element[k]->str, *val = f->element[k + 1]->str;
      if (!strcmp(key, "type"))
        type = val;
      else if (!strcmp(key, "request"))
        req = val;
      else if (!strcmp(key, "origin"))
        origin = val;
    }
    if (!strcmp(type, "offered") && !strcmp(req, id))
      snprintf(out + strlen(out), n - strlen(out), "%s%s", out[0] ? "," : "",
               origin);
  }
  freeReplyObject(r);
  redisFree(c);
}

/* d's writer tag (the follow metric's origin label). */
static void origin_of(const cm_test_daemon *d, char *out, size_t n) {
  cm_test_reply r =
      cm_test_http(d->port, "GET", "/metrics", TOK_METRICS, NULL, NULL);
  const char *p = r.text ? strstr(r.text, "origin=\"") : NULL;
  cr_assert_not_null(p, "no origin label in /metrics");
  p += 8;
  size_t len = strcspn(p, "\"");
  snprintf(out, n, "%.*s", (int)len, p);
  cm_test_reply_free(&r);
}

static int wait_offered(const cm_test_daemon *d, const char *id, int ms) {
  char path[64];
  snprintf(path, sizeof path, "/v1/requests/%s", id);
  for (int64_t end = cm_test_mono_ms() + ms; cm_test_mono_ms() < end;
       cm_test_sleep_ms(10)) {
    cm_test_reply r =
        cm_test_http(d->port, "GET", path, TOK_PLATFORM, NULL, NULL);
    const char *s = "";
    int ok = r.code == 200 &&
             json_unpack(r.json, "{s:{s:s}}", "request", "state", &s) == 0 &&
             !strcmp(s, "offered");
    cm_test_reply_free(&r);
    if (ok)
      return 1;
  }
  return 0;
}

Test(lease, of_two_daemons_exactly_one_leads) {
  cm_test_daemon a, b;
  daemon_start(&a, "A");
  daemon_start(&b, "B");
  cr_assert(wait_leads(&a, 1, 3000) || wait_leads(&b, 1, 3000));
  cm_test_sleep_ms(2 * TTL_MS); /* several renewals: no flapping */
  cr_assert_eq(leads(&a) + leads(&b), 1, "exactly one leads");
  cm_test_reply ra =
                    cm_test_http(a.port, "GET", "/v1/leader", NULL, NULL, NULL),
                rb =
                    cm_test_http(b.port, "GET", "/v1/leader", NULL, NULL, NULL);
  const char *ha = "", *hb = "";
  json_int_t ea = 0, eb = 0;
  cr_assert_eq(
      json_unpack(ra.json, "{s:{s:s,s:I}}", "holder", "id", &ha, "epoch", &ea),
      0, "%s", ra.text);
  cr_assert_eq(
      json_unpack(rb.json, "{s:{s:s,s:I}}", "holder", "id", &hb, "epoch", &eb),
      0, "%s", rb.text);
  cr_assert_str_eq(ha, hb);
  cr_assert_eq(ea, eb);
  cr_assert_str_eq(ha, leads(&a) ? "A" : "B");
  /* both take API writes */
  cr_assert_eq(call(&a, "GET", "/readyz", NULL), 200);
  cr_assert_eq(call(&b, "GET", "/readyz", NULL), 200);
  cm_test_reply_free(&ra);
  cm_test_reply_free(&rb);
  cm_test_daemon_cleanup(&a);
  cm_test_daemon_cleanup(&b);
}

Test(lease, kill_9_of_the_holder_the_other_takes_over_and_offers) {
  cm_test_daemon a, b;
  daemon_start(&a, "A");
  cr_assert(wait_leads(&a, 1, 3000));
  daemon_start(&b, "B");
  add_worker(&b, "w1");
  cm_test_sleep_ms(300);
  cr_assert(!leads(&b));
  int64_t killed = cm_test_mono_ms();
  cm_test_daemon_stop(&a, SIGKILL);
  a.pid = 0;
  submit(&b, "q1"); /* taken by the standby, offered once it leads */
  cr_assert(wait_offered(&b, "q1", TTL_MS + 4000),
            "no offer %d ms after the holder died", TTL_MS + 4000);
  int64_t took = cm_test_mono_ms() - killed;
  cr_log_info("kill -9 to the first offer by the new holder: %lld ms "
              "(ttl %d ms)",
              (long long)took, TTL_MS);
  cr_assert(leads(&b));
  cr_assert_geq(cm_test_metric(b.port, "carematch_lease_takeovers_total"), 1);
  cm_test_daemon_cleanup(&a);
  cm_test_daemon_cleanup(&b);
}

/* d's /v1/leader names holder (as d last read the lease). */
static int sees_holder(const cm_test_daemon *d, const char *holder) {
  cm_test_reply r =
      cm_test_http(d->port, "GET", "/v1/leader", NULL, NULL, NULL);
  const char *h = "";
  int yes = json_unpack(r.json, "{s:{s:s}}", "holder", "id", &h) == 0 &&
            !strcmp(h, holder);
  cm_test_reply_free(&r);
  return yes;
}

/* A standby tries to take the lease when it expires (the PTTL each answer
 * of Redis gives, docs/ha.md "Standbys and takeover"), not at its next
 * renewal period, which came up to renew_ms after the expiry: B renews
 * only every 10 s, A holds the lease with a TTL of 1.5 s and is killed.
 * B must lead well before its first renewal tick (10 s after its start)
 * could have fired: the tick-based standby took the lease at that tick
 * at the earliest (its first try at start finds the lease's connection
 * not yet up: it tries again as soon as it is, not a period later, and so
 * sees A before the kill). Generous: 6 s or more after A's lease expired. */
Test(lease, a_standby_aims_at_the_expiry_not_its_next_renewal) {
  cm_test_daemon a, b;
  daemon_start(&a, "A");
  cr_assert(wait_leads(&a, 1, 3000));
  char ini[320];
  snprintf(ini, sizeof ini,
           "[store]\nredis = redis://127.0.0.1:%d\nregion = %s\n"
           "[lease]\nenabled = on\nttl_ms = 20000\nrenew_ms = 10000\n"
           "id = B\n",
           g_port, g_region);
  int64_t started = cm_test_mono_ms(); /* B's renewal ticks: from 10 s after */
  cm_test_daemon_config(&b, ini);
  cm_test_daemon_start(&b, NULL);
  int seen = 0;
  for (int64_t end = cm_test_mono_ms() + 3000; !seen && cm_test_mono_ms() < end;
       cm_test_sleep_ms(20))
    seen = sees_holder(&b, "A");
  cr_assert(seen, "B never read the lease A holds");
  cr_assert(!leads(&b));
  cm_test_daemon_stop(&a, SIGKILL);
  a.pid = 0;
  int64_t killed = cm_test_mono_ms(), bound = started + 9000;
  cr_assert_lt(killed + TTL_MS, bound - 5000, "the machine is too slow");
  cr_assert(wait_leads(&b, 1, (int)(bound - cm_test_mono_ms())),
            "B did not take the lease before its renewal tick");
  cr_log_info("kill -9 of the holder (ttl %d ms) to a standby renewing every "
              "10 s leading: %lld ms",
              TTL_MS, (long long)(cm_test_mono_ms() - killed));
  cr_assert(sees_holder(&b, "B"));
  cr_assert_eq(cm_test_metric(b.port, "carematch_lease_takeovers_total"), 1);
  cm_test_daemon_cleanup(&a);
  cm_test_daemon_cleanup(&b);
}

/* The worker's status in Redis ('0' available, '3' offline; 0 none). */
static char worker_status(const char *id) {
  redisContext *c = cm_test_side_connect(g_port);
  cr_assert_not_null(c);
  redisReply *r =
      redisCommand(c, "HGET cm:{%s}:worker:%s status", g_region, id);
  char st = r && r->type == REDIS_REPLY_STRING && r->len ? r->str[0] : 0;
  freeReplyObject(r);
  redisFree(c);
  return st;
}

/* A stale worker is one that could report its position and did not. While
 * nobody holds the lease nobody can write a position (a load balancer
 * sends the writes to the holder), and the standbys swept every worker
 * offline (stale_ms after its last report; in the chaos runs' clock, 60
 * times real time, a failover's 3 s are 3 minutes): after the takeover
 * nobody could be offered until the workers were upserted again. Now only
 * the holder sweeps, and not before stale_ms after it took the lease. */
Test(lease, a_takeover_does_not_sweep_the_workers_offline) {
  cm_test_daemon a, b;
  char ini[400];
  const char *ids[] = {"A", "B"};
  cm_test_daemon *ds[] = {&a, &b};
  for (int i = 0; i < 2; i++) { /* stale after 1 s, swept every 100 ms */
    snprintf(ini, sizeof ini,
             "[store]\nredis = redis://127.0.0.1:%d\nregion = %s\n"
             "sweep_ms = 100\n[batch]\nstale_ms = 1000\n"
             "[lease]\nenabled = on\nttl_ms = 3000\nid = %s\n",
             g_port, g_region, ids[i]);
    cm_test_daemon_config(ds[i], ini);
    cm_test_daemon_start(ds[i], NULL);
    if (i == 0)
      cr_assert(wait_leads(&a, 1, 4000));
  }
  add_worker(&a, "w1"); /* its position: now */
  cm_test_sleep_ms(200);
  cr_assert_eq(worker_status("w1"), '0');
  cm_test_daemon_stop(&a, SIGKILL);
  a.pid = 0;
  cr_assert(wait_leads(&b, 1, 6000), "b takes the lease");
  /* the lease lapsed 2-3 s after w1's report: a standby sweeping had
     taken it offline after 1 s */
  cr_assert_eq(worker_status("w1"), '0',
               "w1 was swept offline while nobody could report");
  int swept = 0; /* it does not report: the holder sweeps it in time */
  for (int64_t end = cm_test_mono_ms() + 4000;
       !swept && cm_test_mono_ms() < end; cm_test_sleep_ms(50))
    swept = worker_status("w1") == '3';
  cr_assert(swept, "the holder sweeps a worker that does not report");
  cm_test_daemon_cleanup(&a);
  cm_test_daemon_cleanup(&b);
}

/* The renewal never holds the daemon's loop: it goes on a connection of
 * its own and its answer comes from the loop (cm_redis_lease_hold_async).
 * A Redis that stops answering for 700 ms (SIGSTOP of a server of this
 * test's own) held the loop for up to the renewal's timeout (renew_ms,
 * 500 ms) at each renewal; the daemon's /healthz, which needs no Redis,
 * waited as long. The lease is a tight one (ttl 1.5 s, a renewal every
 * 500 ms): one that lapses on a loaded machine is taken again with a
 * rebuild of the engine, which is read on the loop too (engine_rebuild.c)
 * and so holds nothing either. */
/* Redis frozen three times (SIGSTOP, 700 ms: a renewal falls in each),
 * while /healthz is asked every 10 ms of the holder, or (standby) of a
 * second daemon that does not prefer the region and reads the lease at
 * every tick to see whether it is free: neither waits on Redis. */
static void frozen_redis_holds_no_loop(int standby) {
  int port = cm_test_free_port();
  pid_t srv = cm_test_server_start(port, NULL);
  char ini[320];
  snprintf(ini, sizeof ini,
           "[store]\nredis = redis://127.0.0.1:%d\nregion = %s\n"
           "sweep_ms = 0\n[lease]\nenabled = on\nttl_ms = 1500\n"
           "renew_ms = 500\nid = A\n",
           port, g_region);
  cm_test_daemon a, b;
  cm_test_daemon_config(&a, ini);
  cm_test_daemon_start(&a, NULL);
  cr_assert(wait_leads(&a, 1, 4000));
  if (standby) {
    snprintf(ini, sizeof ini,
             "[store]\nredis = redis://127.0.0.1:%d\nregion = %s\n"
             "sweep_ms = 0\n[lease]\nenabled = on\nttl_ms = 1500\n"
             "renew_ms = 500\nid = B\nprefer = elsewhere\n",
             port, g_region);
    cm_test_daemon_config(&b, ini);
    cm_test_daemon_start(&b, NULL);
    cr_assert(!leads(&b));
  }
  const cm_test_daemon *asked = standby ? &b : &a;
  cm_test_sleep_ms(1000); /* idle: only the renewals go to Redis */
  int64_t worst = 0;
  for (int round = 0; round < 3; round++) { /* a renewal falls in each */
    cr_assert_eq(kill(srv, SIGSTOP), 0);
    for (int64_t end = cm_test_mono_ms() + 700; cm_test_mono_ms() < end;) {
      int64_t t = cm_test_mono_ms();
      cm_test_reply r =
          cm_test_http(asked->port, "GET", "/healthz", NULL, NULL, NULL);
      cr_assert_eq(r.code, 200);
      cm_test_reply_free(&r);
      if (cm_test_mono_ms() - t > worst)
        worst = cm_test_mono_ms() - t;
      cm_test_sleep_ms(10);
    }
    cr_assert_eq(kill(srv, SIGCONT), 0);
    cm_test_sleep_ms(600);
  }
  cr_log_info("the longest /healthz of the %s while Redis was frozen: %lld ms",
              standby ? "standby" : "holder", (long long)worst);
  cr_assert_lt(worst, 250, "/healthz waited %lld ms: the loop was held",
               (long long)worst);
  if (standby) {
    cm_test_daemon_stop(&b, SIGTERM);
    cm_test_daemon_cleanup(&b);
  }
  cm_test_daemon_stop(&a, SIGTERM);
  cm_test_daemon_cleanup(&a);
  cm_test_server_kill(srv, SIGTERM);
}

Test(lease, a_renewal_never_holds_the_loop) {
  frozen_redis_holds_no_loop(0);
}

Test(lease, a_standby_reading_the_lease_never_holds_the_loop) {
  frozen_redis_holds_no_loop(1);
}

static void frozen_holder(int ignore) {
  cm_test_daemon a, b;
  if (ignore)
    setenv("CAREMATCH_TEST_LEASE_IGNORE_LOSS", "1", 1);
  daemon_start(&a, "A");
  unsetenv("CAREMATCH_TEST_LEASE_IGNORE_LOSS");
  cr_assert(wait_leads(&a, 1, 3000));
  daemon_start(&b, "B");
  add_worker(&b, "w1");
  cm_test_sleep_ms(300);
  char origin_a[32], origin_b[32];
  origin_of(&a, origin_a, sizeof origin_a);
  origin_of(&b, origin_b, sizeof origin_b);
  cr_assert_str_neq(origin_a, origin_b);
  cr_assert_eq(kill(a.pid, SIGSTOP), 0);
  cr_assert(wait_leads(&b, 1, TTL_MS + 3000), "B did not take over");
  cr_assert_eq(kill(a.pid, SIGCONT), 0);
  submit(&a, "q1"); /* to the former holder, which may still think it leads */
  cr_assert(wait_offered(&b, "q1", 5000), "the new holder did not offer");
  cm_test_sleep_ms(500);
  char by[256];
  offered_by("q1", by, sizeof by);
  cr_assert_str_eq(by, origin_b, "q1 offered by %s; A is %s, B is %s", by,
                   origin_a, origin_b);
  if (ignore) {
    cr_assert_geq(cm_test_metric(a.port, "carematch_ledger_stale_epoch_total"),
                  1, "A's offer under its old epoch was refused by Redis");
  } else {
    cr_assert(wait_leads(&a, 0, 2000), "A still claims the lead");
    cr_assert_geq(cm_test_metric(a.port, "carematch_lease_losses_total"), 1);
  }
  cr_assert(leads(&b));
  cm_test_daemon_cleanup(&a);
  cm_test_daemon_cleanup(&b);
}

Test(lease, a_frozen_holder_thawed_becomes_a_standby) {
  frozen_holder(0);
}

Test(lease, a_former_holder_ignoring_its_loss_is_fenced_by_redis) {
  frozen_holder(1);
}
