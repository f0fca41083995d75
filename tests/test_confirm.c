/* test_confirm.c -- confirmation before dispatch in the engine: a request
 * submitted with confirm operator is never offered before confirmed; its
 * best worker is soft-held (no other new work) until the hold lapses;
 * confirm offers in the same call, to the held worker or, when it went
 * offline, to the next; with none it is pending and due at once; dismiss
 * closes it with a reason; other states are refused; the events carry the
 * actor; the memory and Redis ledgers keep the state across a rebuild.
 * Memory store, test clock; the Redis part on 127.0.0.1:$CM_TEST_REDIS_PORT
 * (or a server of its own). */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "carematch/engine.h"
#include "carematch/redis.h"
#include "engine_fx.h"
#include "fixtures.h"
#include "redis_server.h"

#define T0 CM_FX_T0
#define HOLD_MS 10000

static cm_fx fx;

/* Holds of HOLD_MS, batches of 100 ms, on ledger l (NULL: none). */
static cm_engine_config config(cm_ledger *l) {
  cm_engine_config cfg;
  cm_engine_config_init(&cfg);
  cfg.confirm_hold_ms = HOLD_MS;
  cfg.batch_window_ms = 100;
  cfg.reserve_workers = 0; /* the emergency reserve would hold them too */
  cfg.ledger = l;
  return cfg;
}

static void start(void) {
  cm_engine_config cfg = config(NULL);
  cm_fx_engine_open(&fx, &cfg);
}

static void stop(void) {
  cm_fx_engine_close(&fx);
}

static void submit(cm_engine *e, const char *id, cm_urgency u, int confirm,
                   int64_t t) {
  cm_request_spec s = cm_fx_spec(id, CM_FX_NURSE, 1, u, 0.0);
  s.confirm = confirm ? CM_CONFIRM_OPERATOR : CM_CONFIRM_NONE;
  cm_error err;
  cr_assert_eq(cm_engine_submit(e, &s, t, &err), CM_OK, "%s", err.message);
}

/* Poll every event into out (at most max); returns how many. */
static int events(cm_engine *e, cm_event *out, int max) {
  int n = 0, k;
  while (n < max && (k = cm_engine_poll(e, out + n, max - n)) > 0)
    n += k;
  return n;
}

/* How many events of type t about request id are among ev[0..n). */
static int count(const cm_event *ev, int n, cm_event_type t, const char *id) {
  int c = 0;
  for (int i = 0; i < n; i++)
    c += ev[i].type == t && strcmp(ev[i].request, id) == 0;
  return c;
}

/* A worker nearby; the request awaits, steps for a minute never offer
 * it; its state, hold and candidates are as the contract says. */
Test(confirm, never_offered_before_confirmation) {
  start();
  cm_fx_nurse(fx.eng, "w1", 0.5, T0);
  cm_fx_nurse(fx.eng, "w2", 1.5, T0);
  submit(fx.eng, "a", CM_URGENCY_EMERGENCY, 1, T0);
  cm_event ev[64];
  int n = events(fx.eng, ev, 64);
  cr_assert_eq(n, 1);
  cr_assert_eq(ev[0].type, CM_EV_SUBMITTED);
  cr_assert_eq(ev[0].to, CM_REQ_AWAITING);
  cr_assert_str_eq(cm_request_state_name(CM_REQ_AWAITING),
                   "awaiting_confirmation");
  for (int64_t t = T0 + 100; t < T0 + 60000; t += 500)
    cm_fx_step(fx.eng, t);
  n = events(fx.eng, ev, 64);
  cr_assert_eq(count(ev, n, CM_EV_OFFERED, "a"), 0);
  cm_request_view v = cm_fx_view(fx.eng, "a");
  cr_assert_eq(v.state, CM_REQ_AWAITING);
  cr_assert_eq(v.n_workers, 0);
  cr_assert_str_eq(v.hold_worker, "w1");
  cr_assert_eq(v.hold_until_ms, T0 + HOLD_MS);
  cm_candidate c[CM_CONFIRM_CANDIDATES];
  int nc = 0;
  cm_error err;
  cr_assert_eq(cm_engine_candidates(fx.eng, "a", c, CM_CONFIRM_CANDIDATES, &nc,
                                    T0 + 60000, &err),
               CM_OK);
  cr_assert_eq(nc, 2);
  cr_assert_str_eq(c[0].worker, "w1");
  cr_assert_str_eq(c[1].worker, "w2");
  cr_assert(c[0].travel_min > 0 && c[0].travel_min < c[1].travel_min);
  cr_assert(c[0].cost < c[1].cost);
  stop();
}

/* The held worker is given no other new work while held; once the hold
 * lapses (an event says so) the waiting request gets it. */
Test(confirm, held_worker_gets_no_new_work_until_the_hold_lapses) {
  start();
  cm_fx_nurse(fx.eng, "w1", 0.5, T0);
  submit(fx.eng, "a", CM_URGENCY_EMERGENCY, 1, T0);
  submit(fx.eng, "b", CM_URGENCY_URGENT, 0, T0 + 10);
  cm_event ev[64];
  int n = 0;
  for (int64_t t = T0 + 200; t < T0 + HOLD_MS; t += 500)
    cm_fx_step(fx.eng, t);
  n = events(fx.eng, ev, 64);
  cr_assert_eq(count(ev, n, CM_EV_OFFERED, "b"), 0, "offered while held");
  cr_assert_eq(cm_fx_view(fx.eng, "b").state, CM_REQ_PENDING);
  cr_assert_eq(cm_engine_next_due(fx.eng) <= T0 + HOLD_MS, 1);
  cm_fx_step(fx.eng, T0 + HOLD_MS);
  n = events(fx.eng, ev, 64);
  cr_assert_eq(count(ev, n, CM_EV_HOLD_LAPSED, "a"), 1);
  for (int i = 0; i < n; i++)
    if (ev[i].type == CM_EV_HOLD_LAPSED) {
      cr_assert_str_eq(ev[i].worker, "w1");
      cr_assert_eq(ev[i].from, CM_REQ_AWAITING);
      cr_assert_eq(ev[i].to, CM_REQ_AWAITING);
    }
  for (int64_t t = T0 + HOLD_MS + 100; t < T0 + HOLD_MS + 6000; t += 100)
    cm_fx_step(fx.eng, t);
  n = events(fx.eng, ev, 64);
  cr_assert_eq(count(ev, n, CM_EV_OFFERED, "b"), 1, "not offered after");
  cr_assert_eq(count(ev, n, CM_EV_HOLD_LAPSED, "a"), 0, "lapsed once");
  cr_assert_eq(cm_fx_view(fx.eng, "a").state, CM_REQ_AWAITING);
  stop();
}

/* Confirm offers in the same call (no step) to the held worker; the
 * events are confirmed then offered, both naming the operator. */
Test(confirm, confirm_offers_at_once_to_the_held_worker) {
  start();
  cm_fx_nurse(fx.eng, "w1", 0.5, T0);
  cm_fx_nurse(fx.eng, "w2", 1.0, T0);
  submit(fx.eng, "a", CM_URGENCY_EMERGENCY, 1, T0);
  cm_event ev[64];
  events(fx.eng, ev, 64);
  cm_error err;
  cr_assert_eq(cm_engine_confirm(fx.eng, "a", "ann", T0 + 5000, &err), CM_OK,
               "%s", err.message);
  cm_request_view v = cm_fx_view(fx.eng, "a");
  cr_assert_eq(v.state, CM_REQ_OFFERED);
  cr_assert_eq(v.n_workers, 1);
  cr_assert_str_eq(v.workers[0], "w1");
  cr_assert_eq(v.offered_ms, T0 + 5000);
  cr_assert_str_eq(v.hold_worker, "");
  cr_assert(v.terms[0].total != 0 && v.terms[0].travel_min > 0);
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "w1"), 1);
  int n = events(fx.eng, ev, 64);
  cr_assert_eq(n, 2);
  cr_assert_eq(ev[0].type, CM_EV_CONFIRMED);
  cr_assert_eq(ev[0].from, CM_REQ_AWAITING);
  cr_assert_eq(ev[0].to, CM_REQ_PENDING);
  cr_assert_str_eq(ev[0].actor, "ann");
  cr_assert_eq(ev[1].type, CM_EV_OFFERED);
  cr_assert_str_eq(ev[1].worker, "w1");
  cr_assert_str_eq(ev[1].actor, "ann");
  cr_assert_eq(ev[1].expires_ms, T0 + 5000 + 30000);
  /* and the worker answers it as any offer */
  cr_assert_eq(cm_engine_accept(fx.eng, "a", "w1", T0 + 6000, &err), CM_OK,
               "%s", err.message);
  cr_assert_eq(cm_fx_view(fx.eng, "a").state, CM_REQ_ACCEPTED);
  stop();
}

/* A nearer worker came on shift meanwhile: confirm still offers to the
 * held one (the operator saw it), while it qualifies. */
Test(confirm, confirm_prefers_the_held_worker_to_a_newcomer) {
  start();
  cm_fx_nurse(fx.eng, "w1", 1.0, T0);
  submit(fx.eng, "a", CM_URGENCY_EMERGENCY, 1, T0);
  cm_fx_nurse(fx.eng, "w0", 0.2, T0 + 500);
  cm_candidate c[CM_CONFIRM_CANDIDATES];
  int nc = 0;
  cm_error err;
  cr_assert_eq(cm_engine_candidates(fx.eng, "a", c, 5, &nc, T0 + 600, &err),
               CM_OK);
  cr_assert_eq(nc, 2);
  cr_assert_str_eq(c[0].worker, "w0", "the newcomer is the best now");
  cr_assert_eq(cm_engine_confirm(fx.eng, "a", "ann", T0 + 1000, &err), CM_OK,
               "%s", err.message);
  cr_assert_str_eq(cm_fx_view(fx.eng, "a").workers[0], "w1");
  stop();
}

/* The held worker went offline: confirm offers to the next candidate. */
Test(confirm, confirm_offers_to_the_next_when_the_held_one_left) {
  start();
  cm_fx_nurse(fx.eng, "w1", 0.5, T0);
  cm_fx_nurse(fx.eng, "w2", 1.0, T0);
  submit(fx.eng, "a", CM_URGENCY_EMERGENCY, 1, T0);
  cr_assert_str_eq(cm_fx_view(fx.eng, "a").hold_worker, "w1");
  cm_error err;
  cr_assert_eq(cm_engine_worker_shift(fx.eng, "w1", 0, T0 + 1000, &err), CM_OK);
  cr_assert_eq(cm_engine_confirm(fx.eng, "a", "ann", T0 + 2000, &err), CM_OK,
               "%s", err.message);
  cm_request_view v = cm_fx_view(fx.eng, "a");
  cr_assert_eq(v.state, CM_REQ_OFFERED);
  cr_assert_str_eq(v.workers[0], "w2");
  stop();
}

/* No candidate at all: confirmed, pending, a batch due at once; the
 * worker who comes on shift gets it from that batch. */
Test(confirm, confirm_without_candidates_batches_at_once) {
  start();
  submit(fx.eng, "a", CM_URGENCY_EMERGENCY, 1, T0);
  cr_assert_str_eq(cm_fx_view(fx.eng, "a").hold_worker, "");
  cm_error err;
  cr_assert_eq(cm_engine_confirm(fx.eng, "a", "ann", T0 + 1000, &err), CM_OK,
               "%s", err.message);
  cr_assert_eq(cm_fx_view(fx.eng, "a").state, CM_REQ_PENDING);
  cr_assert(cm_engine_next_due(fx.eng) <= T0 + 1000);
  cm_fx_nurse(fx.eng, "w1", 0.5, T0 + 1100);
  cm_fx_step(fx.eng, T0 + 1200);
  cr_assert_eq(cm_fx_view(fx.eng, "a").state, CM_REQ_OFFERED);
  stop();
}

/* Dismiss closes it with the reason; the held worker is free again. */
Test(confirm, dismiss_closes_and_frees_the_hold) {
  start();
  cm_fx_nurse(fx.eng, "w1", 0.5, T0);
  submit(fx.eng, "a", CM_URGENCY_EMERGENCY, 1, T0);
  submit(fx.eng, "b", CM_URGENCY_URGENT, 0, T0);
  cm_fx_step(fx.eng, T0 + 500);
  cr_assert_eq(cm_fx_view(fx.eng, "b").state, CM_REQ_PENDING);
  cm_event ev[64];
  events(fx.eng, ev, 64);
  cm_error err;
  cr_assert_eq(cm_engine_dismiss(fx.eng, "a", CM_DISMISS_FALSE_ALARM, "ann",
                                 T0 + 1000, &err),
               CM_OK, "%s", err.message);
  cm_request_view v = cm_fx_view(fx.eng, "a");
  cr_assert_eq(v.state, CM_REQ_DISMISSED);
  cr_assert_eq(v.dismissed, CM_DISMISS_FALSE_ALARM);
  cr_assert_eq(v.finished_ms, T0 + 1000);
  int n = events(fx.eng, ev, 64);
  cr_assert_eq(n, 1);
  cr_assert_eq(ev[0].type, CM_EV_DISMISSED);
  cr_assert_eq(ev[0].to, CM_REQ_DISMISSED);
  cr_assert_eq(ev[0].dismiss, CM_DISMISS_FALSE_ALARM);
  cr_assert_str_eq(ev[0].actor, "ann");
  cm_engine_stats st;
  cm_engine_stats_get(fx.eng, &st);
  cr_assert_eq(st.by_state[CM_REQ_DISMISSED], 1);
  cr_assert_eq(st.by_state[CM_REQ_AWAITING], 0);
  /* final: a cancel is refused, naming the state */
  cr_assert_eq(cm_engine_cancel(fx.eng, "a", T0 + 1050, &err), CM_E_CONFLICT);
  cr_assert(strstr(err.message, "dismissed"), "%s", err.message);
  cr_assert_eq(cm_fx_view(fx.eng, "a").state, CM_REQ_DISMISSED);
  for (int64_t t = T0 + 1100; t < T0 + 3000; t += 100)
    cm_fx_step(fx.eng, t);
  cr_assert_eq(cm_fx_view(fx.eng, "b").state, CM_REQ_OFFERED, "w1 was freed");
  stop();
}

/* Confirm and dismiss only on an awaiting request: 409 naming the state,
 * 404 unknown, a bad reason; nothing changes. */
Test(confirm, other_states_are_refused) {
  start();
  cm_fx_nurse(fx.eng, "w1", 0.5, T0);
  submit(fx.eng, "plain", CM_URGENCY_NORMAL, 0, T0);
  submit(fx.eng, "a", CM_URGENCY_EMERGENCY, 1, T0);
  cm_error err;
  cr_assert_eq(cm_engine_confirm(fx.eng, "plain", "ann", T0 + 10, &err),
               CM_E_CONFLICT);
  cr_assert_str_eq(err.field, "$.request");
  cr_assert(strstr(err.message, "pending"), "%s", err.message);
  cr_assert_eq(
      cm_engine_dismiss(fx.eng, "nope", CM_DISMISS_OTHER, "ann", T0 + 10, &err),
      CM_E_UNKNOWN_ID);
  cr_assert_eq(cm_engine_confirm(fx.eng, "nope", "ann", T0 + 10, &err),
               CM_E_UNKNOWN_ID);
  cr_assert_eq(
      cm_engine_dismiss(fx.eng, "a", CM_DISMISS_NONE, "ann", T0 + 10, &err),
      CM_E_INVALID);
  cr_assert_str_eq(err.field, "$.reason");
  cr_assert_eq(cm_engine_dismiss(fx.eng, "a", (cm_dismiss_reason)9, "ann",
                                 T0 + 10, &err),
               CM_E_INVALID);
  cr_assert_eq(cm_fx_view(fx.eng, "a").state, CM_REQ_AWAITING);
  cr_assert_eq(cm_fx_view(fx.eng, "a").version, 1);
  cr_assert_eq(cm_engine_confirm(fx.eng, "a", "ann", T0 + 20, &err), CM_OK);
  cr_assert_eq(cm_engine_confirm(fx.eng, "a", "ann", T0 + 30, &err),
               CM_E_CONFLICT);
  cr_assert(strstr(err.message, "offered"), "%s", err.message);
  cr_assert_eq(cm_engine_dismiss(fx.eng, "a", CM_DISMISS_DUPLICATE, "ann",
                                 T0 + 30, &err),
               CM_E_CONFLICT);
  cr_assert_eq(cm_fx_view(fx.eng, "a").state, CM_REQ_OFFERED);
  /* the same submission again is a no-op; another confirm mode is not */
  cm_request_spec s = cm_fx_spec("a", CM_FX_NURSE, 1, CM_URGENCY_EMERGENCY, 0);
  s.confirm = CM_CONFIRM_OPERATOR;
  cr_assert_eq(cm_engine_submit(fx.eng, &s, T0 + 40, &err), CM_OK);
  s.confirm = CM_CONFIRM_NONE;
  cr_assert_eq(cm_engine_submit(fx.eng, &s, T0 + 40, &err), CM_E_CONFLICT);
  stop();
}

/* A second engine on the same memory ledger rebuilds the awaiting request
 * with its hold, and confirms it to the held worker. */
Test(confirm, memory_ledger_rebuild_keeps_the_state) {
  cm_error err;
  cm_engine_config cfg = config(cm_ledger_memory_new(&err));
  cr_assert_not_null(cfg.ledger);
  cm_fx_engine_open(&fx, &cfg);
  cm_engine *e1 = fx.eng;
  cm_fx_step(e1, T0);
  cm_fx_nurse(e1, "w1", 0.5, T0);
  cm_fx_nurse(e1, "w2", 1.0, T0);
  submit(e1, "a", CM_URGENCY_EMERGENCY, 1, T0);
  submit(e1, "d", CM_URGENCY_EMERGENCY, 1, T0);
  cr_assert_eq(
      cm_engine_dismiss(e1, "d", CM_DISMISS_DUPLICATE, "ann", T0 + 1, &err),
      CM_OK);
  cm_fx_engine_restart(&fx, &cfg); /* a second engine on the same ledger */
  cm_engine *e2 = fx.eng;
  cm_fx_step(e2, T0 + 1000);
  cm_request_view v = cm_fx_view(e2, "a");
  cr_assert_eq(v.state, CM_REQ_AWAITING);
  cr_assert_eq(v.spec.confirm, CM_CONFIRM_OPERATOR);
  cr_assert_str_eq(v.hold_worker, "w1");
  cr_assert_eq(v.hold_until_ms, T0 + HOLD_MS);
  v = cm_fx_view(e2, "d");
  cr_assert_eq(v.state, CM_REQ_DISMISSED);
  cr_assert_eq(v.dismissed, CM_DISMISS_DUPLICATE);
  cr_assert_eq(cm_engine_confirm(e2, "a", "ann", T0 + 2000, &err), CM_OK, "%s",
               err.message);
  cr_assert_str_eq(cm_fx_view(e2, "a").workers[0], "w1");
  cm_fx_engine_close(&fx);
}

/* ---- the Redis ledger ---- */

static int g_port;
static pid_t g_pid;

static void redis_setup(void) {
  cm_test_redis s = cm_test_redis_use();
  g_port = s.port;
  g_pid = s.pid;
}

static void redis_teardown(void) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "cm:{cf%ld}*", (long)getpid());
  cm_test_redis_done(&(cm_test_redis){g_port, g_pid}, pattern);
}

typedef struct node {
  cm_redis *conn;
  cm_fx fx; /* its ledger on conn */
} node;

static void node_open(node *n, const char *region) {
  cm_error err;
  cm_redis_options o;
  cm_redis_options_init(&o);
  o.timeout_ms = 2000;
  n->conn = cm_redis_new("127.0.0.1", g_port, region, &o, &err);
  cr_assert_not_null(n->conn, "%s", err.message);
  cm_engine_config cfg = config(cm_ledger_redis_new(n->conn, NULL, &err));
  cr_assert_not_null(cfg.ledger, "%s", err.message);
  cm_fx_engine_open(&n->fx, &cfg);
  cr_assert_eq(cm_engine_sync(n->fx.eng, T0, &err), CM_OK, "%s", err.message);
}

static void node_close(node *n) {
  cm_fx_engine_close(&n->fx);
  cm_redis_free(n->conn);
}

/* The stream's field f of its entries of type t ("" when none). */
static void stream_field(const char *region, const char *t, const char *f,
                         char *out, size_t n) {
  redisContext *c = cm_test_side_connect(g_port);
  cr_assert_not_null(c);
  redisReply *r =
      redisCommand(c, "XRANGE cm:{%s}:events - + COUNT 1000", region);
  cr_assert(r && r->type == REDIS_REPLY_ARRAY);
  out[0] = '\0';
  for (size_t i = 0; i < r->elements; i++) {
    redisReply *kv = r->element[i]->element[1];
    const char *type = NULL, *val = NULL;
    for (size_t k = 0; k + 1 < kv->elements; k += 2) {
      if (strcmp(kv->element[k]->str, "type") == 0)
        type = kv->element[k + 1]->str;
      if (strcmp(kv->element[k]->str, f) == 0)
        val = kv->element[k + 1]->str;
    }
    if (type && val && strcmp(type, t) == 0)
      snprintf(out, n, "%s", val);
  }
  freeReplyObject(r);
  redisFree(c);
}

/* On Redis: the awaiting request, its hold and a dismissal survive a
 * restart (a second engine rebuilds them), the confirm there offers to the
 * held worker, and the stream names the operator and the reason. */
Test(confirm, redis_ledger_rebuild_keeps_the_state, .init = redis_setup,
     .fini = redis_teardown) {
  char region[32];
  snprintf(region, sizeof region, "cf%ld", (long)getpid());
  node a, b;
  node_open(&a, region);
  cm_fx_nurse(a.fx.eng, "w1", 0.5, T0);
  cm_fx_nurse(a.fx.eng, "w2", 1.0, T0);
  submit(a.fx.eng, "r1", CM_URGENCY_EMERGENCY, 1, T0);
  submit(a.fx.eng, "r2", CM_URGENCY_EMERGENCY, 1, T0);
  cm_error err;
  cr_assert_eq(cm_engine_dismiss(a.fx.eng, "r2", CM_DISMISS_FALSE_ALARM, "ann",
                                 T0 + 1, &err),
               CM_OK, "%s", err.message);
  node_close(&a);
  node_open(&b, region);
  cm_request_view v = cm_fx_view(b.fx.eng, "r1");
  cr_assert_eq(v.state, CM_REQ_AWAITING);
  cr_assert_eq(v.spec.confirm, CM_CONFIRM_OPERATOR);
  cr_assert_str_eq(v.hold_worker, "w1");
  cr_assert_eq(v.hold_until_ms, T0 + HOLD_MS);
  v = cm_fx_view(b.fx.eng, "r2");
  cr_assert_eq(v.state, CM_REQ_DISMISSED);
  cr_assert_eq(v.dismissed, CM_DISMISS_FALSE_ALARM);
  /* the hold holds on the rebuilt engine too */
  submit(b.fx.eng, "plain", CM_URGENCY_URGENT, 0, T0 + 100);
  cm_fx_step(b.fx.eng, T0 + 500);
  cr_assert_eq(cm_fx_view(b.fx.eng, "plain").state, CM_REQ_OFFERED);
  cr_assert_str_eq(cm_fx_view(b.fx.eng, "plain").workers[0], "w2");
  cr_assert_eq(cm_engine_confirm(b.fx.eng, "r1", "ann", T0 + 1000, &err), CM_OK,
               "%s", err.message);
  v = cm_fx_view(b.fx.eng, "r1");
  cr_assert_eq(v.state, CM_REQ_OFFERED);
  cr_assert_str_eq(v.workers[0], "w1");
  char got[64];
  stream_field(region, "confirmed", "actor", got, sizeof got);
  cr_assert_str_eq(got, "ann");
  stream_field(region, "dismissed", "reason", got, sizeof got);
  cr_assert_str_eq(got, "false_alarm");
  stream_field(region, "dismissed", "to", got, sizeof got);
  cr_assert_str_eq(got, "dismissed");
  node_close(&b);
}
