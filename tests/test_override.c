/* test_override.c -- operators' overrides in the engine (issue 15): a pin
 * offers to the pinned worker even when another is cheaper, or says why
 * not; a hold keeps a request out of batches until released; a reassign
 * takes an offered or accepted job back and moves it; every override's
 * event names the operator; the reserve reason of a request whose only
 * nearby worker is kept for emergencies; pin and hold survive the memory
 * ledger and a rebuild from the Redis ledger. */
#include <criterion/criterion.h>
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

#include <hiredis/hiredis.h>

#define T0 CM_FX_T0

static cm_fx fx;

/* Batches of 100 ms, reserve workers kept, on ledger l (NULL: none). */
static cm_engine_config config(cm_ledger *l, int reserve) {
  cm_engine_config c;
  cm_engine_config_init(&c);
  c.batch_window_ms = 100;
  c.reserve_workers = reserve;
  c.ledger = l;
  return c;
}

static void start_with(cm_ledger *l, int reserve) {
  cm_engine_config c = config(l, reserve);
  cm_fx_engine_open(&fx, &c);
}

static void start(void) {
  start_with(NULL, 0);
}

static void stop(void) {
  cm_fx_engine_close(&fx);
}

static void worker(const char *id, cm_skillset skills, double dlat_km) {
  cm_worker w = cm_fx_worker(id, skills, dlat_km, 0.0, 1, T0);
  cm_error err;
  cr_assert_eq(cm_engine_worker_upsert(fx.eng, &w, T0, &err), CM_OK, "%s",
               err.message);
}

static void submit(const char *id, cm_skillset skills, cm_urgency u) {
  cm_request_spec s = cm_fx_spec(id, skills, 1, u, 0.0);
  cm_error err;
  cr_assert_eq(cm_engine_submit(fx.eng, &s, T0, &err), CM_OK, "%s",
               err.message);
}

static void step(int64_t t) {
  cm_fx_step(fx.eng, t);
}

static cm_request_view view(const char *id) {
  return cm_fx_view(fx.eng, id);
}

/* The last queued event of type t (the queue drained up to it); 0 when
 * none. */
static int last_event(cm_event_type t, cm_event *out) {
  cm_event ev[64];
  int n, found = 0;
  while ((n = cm_engine_poll(fx.eng, ev, 64)) > 0)
    for (int i = 0; i < n; i++)
      if (ev[i].type == t) {
        *out = ev[i];
        found = 1;
      }
  return found;
}

/* Two nurses: near 0.2 km, far 3 km; one request at the centre. */
static void two_nurses(void) {
  worker("near", CM_FX_NURSE, 0.2);
  worker("far", CM_FX_NURSE, 3.0);
  submit("r1", CM_FX_NURSE, CM_URGENCY_NORMAL);
}

Test(override, pin_offers_to_the_pinned_worker_though_another_is_cheaper,
     .init = start, .fini = stop) {
  two_nurses();
  cm_error err;
  cr_assert_eq(cm_engine_pin(fx.eng, "r1", "far", "ann", T0 + 10, &err), CM_OK,
               "%s", err.message);
  cm_event ev;
  cr_assert(last_event(CM_EV_PINNED, &ev));
  cr_assert_str_eq(ev.actor, "ann");
  cr_assert_str_eq(ev.worker, "far");
  cr_assert_eq(ev.from, CM_REQ_PENDING);
  cr_assert_eq(ev.to, CM_REQ_PENDING);
  cr_assert_str_eq(view("r1").pinned, "far");
  step(T0 + 200);
  cm_request_view v = view("r1");
  cr_assert_eq(v.state, CM_REQ_OFFERED);
  cr_assert_str_eq(v.workers[0], "far", "the pinned one, not the nearest");
  cr_assert_gt(v.terms[0].travel_min, 0, "priced as a batch prices it");
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "far"), 1);
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "near"), 0);
}

Test(override, without_a_pin_the_nearest_gets_it, .init = start, .fini = stop) {
  two_nurses();
  step(T0 + 200);
  cr_assert_str_eq(view("r1").workers[0], "near");
}

/* Pinned to a worker who cannot take it: it stays pending with the
 * reason, and the nearest is not offered it either; fixing the worker
 * offers it. */
Test(override, pin_to_an_ineligible_worker_says_why, .init = start,
     .fini = stop) {
  cm_error err;
  worker("near", CM_FX_NURSE, 0.2);
  worker("cg", CM_FX_CAREGIVER, 0.5);
  worker("off", CM_FX_NURSE, 0.5);
  worker("busy", CM_FX_NURSE, 0.5);
  cr_assert_eq(cm_engine_worker_shift(fx.eng, "off", 0, T0, &err), CM_OK);
  submit("r1", CM_FX_NURSE, CM_URGENCY_NORMAL);
  submit("b", CM_FX_NURSE, CM_URGENCY_NORMAL);
  cr_assert_eq(cm_engine_pin(fx.eng, "b", "busy", "ann", T0, &err), CM_OK);
  cr_assert_eq(cm_engine_pin(fx.eng, "r1", "cg", "ann", T0, &err), CM_OK);
  step(T0 + 100);
  cr_assert_str_eq(view("b").workers[0], "busy");

  static const struct {
    const char *worker;
    cm_unassigned_reason reason;
    const char *name;
  } cases[] = {
      {"cg", CM_REASON_PINNED_UNQUALIFIED, "pinned_worker_unqualified"},
      {"off", CM_REASON_PINNED_OFFLINE, "pinned_worker_offline"},
      {"busy", CM_REASON_PINNED_FULL, "pinned_worker_full"},
  };
  int64_t t = T0 + 1000;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++, t += 1000) {
    cr_assert_eq(cm_engine_pin(fx.eng, "r1", cases[i].worker, "ann", t, &err),
                 CM_OK, "%s", err.message);
    step(t + 500);
    cm_request_view v = view("r1");
    cr_assert_eq(v.state, CM_REQ_PENDING, "%s: not offered", cases[i].worker);
    cr_assert(v.has_reason);
    cr_assert_eq(v.reason, cases[i].reason, "%s: %s", cases[i].worker,
                 cm_reason_name(v.reason));
    cr_assert_str_eq(cm_reason_name(v.reason), cases[i].name);
    cr_assert_eq(cm_engine_worker_jobs(fx.eng, "near"), 0,
                 "nor to the nearest");
  }
  /* the busy worker comes free: the pin goes through */
  cr_assert_eq(cm_engine_cancel(fx.eng, "b", t, &err), CM_OK);
  step(t + 500);
  cr_assert_eq(view("r1").state, CM_REQ_OFFERED);
  cr_assert_str_eq(view("r1").workers[0], "busy");
}

Test(override, pin_to_an_excluded_or_refusing_worker_says_why, .init = start,
     .fini = stop) {
  cm_error err;
  worker("near", CM_FX_NURSE, 0.2);
  worker("x", CM_FX_NURSE, 0.4);
  cm_request_spec s = cm_fx_spec("r1", CM_FX_NURSE, 1, CM_URGENCY_NORMAL, 0);
  s.n_excluded = 1;
  snprintf(s.excluded[0], CM_ID_MAX, "x");
  cr_assert_eq(cm_engine_submit(fx.eng, &s, T0, &err), CM_OK);
  cr_assert_eq(cm_engine_pin(fx.eng, "r1", "x", "ann", T0, &err), CM_OK);
  step(T0 + 100);
  cr_assert_eq(view("r1").reason, CM_REASON_PINNED_EXCLUDED);
  cr_assert_eq(cm_engine_pin(fx.eng, "r1", "near", "ann", T0 + 200, &err),
               CM_OK);
  step(T0 + 300);
  cr_assert_str_eq(view("r1").workers[0], "near");
  cr_assert_eq(cm_engine_reject(fx.eng, "r1", "near", T0 + 400, &err), CM_OK);
  step(T0 + 600);
  cm_request_view v = view("r1");
  cr_assert_eq(v.state, CM_REQ_PENDING, "not offered again to who refused");
  cr_assert_eq(v.reason, CM_REASON_PINNED_REFUSED);
  /* pinning again is the operator's word: the refusal is forgotten */
  cr_assert_eq(cm_engine_pin(fx.eng, "r1", "near", "ann", T0 + 700, &err),
               CM_OK);
  step(T0 + 800);
  cr_assert_eq(view("r1").state, CM_REQ_OFFERED);
}

Test(override, pin_errors_change_nothing, .init = start, .fini = stop) {
  cm_error err;
  two_nurses();
  cm_request_spec team = cm_fx_spec("t", CM_FX_REHAB, 2, CM_URGENCY_NORMAL, 0);
  cr_assert_eq(cm_engine_submit(fx.eng, &team, T0, &err), CM_OK);
  cm_request_view before = view("r1");
  cr_assert_eq(cm_engine_pin(fx.eng, "nope", "near", "ann", T0, &err),
               CM_E_UNKNOWN_ID);
  cr_assert_str_eq(err.field, "$.request");
  cr_assert_eq(cm_engine_pin(fx.eng, "r1", "nobody", "ann", T0, &err),
               CM_E_UNKNOWN_ID);
  cr_assert_str_eq(err.field, "$.worker");
  cr_assert_eq(cm_engine_pin(fx.eng, "t", "near", "ann", T0, &err),
               CM_E_INVALID);
  cr_assert_str_eq(err.field, "$.worker");
  cr_assert_eq(view("r1").version, before.version);
  step(T0 + 200);
  cr_assert_eq(cm_engine_pin(fx.eng, "r1", "far", "ann", T0 + 300, &err),
               CM_E_CONFLICT, "offered: reassign, not pin");
  cr_assert(strstr(err.message, "offered"), "names the state: %s", err.message);
  cr_assert_eq(cm_engine_hold(fx.eng, "r1", "ann", T0 + 300, &err),
               CM_E_CONFLICT);
  cr_assert(strstr(err.message, "offered"), "%s", err.message);
  cr_assert_str_eq(view("r1").pinned, "");
  cr_assert_eq(view("r1").held, 0);
}

Test(override, hold_keeps_it_out_of_batches_release_brings_it_back,
     .init = start, .fini = stop) {
  cm_error err;
  two_nurses();
  cr_assert_eq(cm_engine_hold(fx.eng, "r1", "ann", T0 + 10, &err), CM_OK, "%s",
               err.message);
  cm_event ev;
  cr_assert(last_event(CM_EV_HELD, &ev));
  cr_assert_str_eq(ev.actor, "ann");
  for (int64_t t = T0 + 100; t < T0 + 20000; t += 100)
    step(t);
  cm_request_view v = view("r1");
  cr_assert_eq(v.state, CM_REQ_PENDING, "never offered while held");
  cr_assert(v.held);
  cr_assert(v.has_reason);
  cr_assert_str_eq(cm_reason_name(v.reason), "held_by_operator");
  cr_assert_eq(cm_engine_hold(fx.eng, "r1", "ann", T0 + 20000, &err), CM_OK,
               "again: a no-op");
  cr_assert_eq(view("r1").version, v.version);
  cr_assert_eq(cm_engine_release(fx.eng, "r1", "bob", T0 + 20000, &err), CM_OK);
  cr_assert(last_event(CM_EV_RELEASED, &ev));
  cr_assert_str_eq(ev.actor, "bob");
  cr_assert_eq(view("r1").held, 0);
  step(T0 + 20000);
  cr_assert_eq(view("r1").state, CM_REQ_OFFERED, "batched again at once");
}

/* A pin with no worker (the API's {"worker": null}) unpins: the batch
 * picks again. */
Test(override, unpin_lets_the_batch_choose, .init = start, .fini = stop) {
  cm_error err;
  worker("near", CM_FX_NURSE, 0.2);
  worker("cg", CM_FX_CAREGIVER, 0.5);
  submit("r1", CM_FX_NURSE, CM_URGENCY_NORMAL);
  cr_assert_eq(cm_engine_pin(fx.eng, "r1", "cg", "ann", T0, &err), CM_OK);
  step(T0 + 100);
  cr_assert_eq(view("r1").state, CM_REQ_PENDING);
  cr_assert_eq(cm_engine_pin(fx.eng, "r1", NULL, "ann", T0 + 200, &err), CM_OK);
  cm_event ev;
  cr_assert(last_event(CM_EV_RELEASED, &ev));
  cr_assert_str_eq(view("r1").pinned, "");
  step(T0 + 300);
  cr_assert_str_eq(view("r1").workers[0], "near");
}

Test(override, reassign_moves_an_offered_job_to_the_named_worker, .init = start,
     .fini = stop) {
  cm_error err;
  two_nurses();
  step(T0 + 200);
  cr_assert_str_eq(view("r1").workers[0], "near");
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "near"), 1);
  cr_assert_eq(cm_engine_reassign(fx.eng, "r1", "far", "ann", T0 + 300, &err),
               CM_OK, "%s", err.message);
  cm_event ev;
  cr_assert(last_event(CM_EV_REASSIGNED, &ev));
  cr_assert_str_eq(ev.actor, "ann");
  cr_assert_str_eq(ev.worker, "near", "from");
  cr_assert_str_eq(ev.to_worker, "far", "to");
  cr_assert_eq(ev.from, CM_REQ_OFFERED);
  cr_assert_eq(ev.to, CM_REQ_PENDING);
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "near"), 0, "the job given back");
  step(T0 + 300);
  cm_request_view v = view("r1");
  cr_assert_eq(v.state, CM_REQ_OFFERED);
  cr_assert_str_eq(v.workers[0], "far");
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "far"), 1);
}

Test(override, reassign_an_accepted_job_without_a_name_rebatches, .init = start,
     .fini = stop) {
  cm_error err;
  two_nurses();
  step(T0 + 200);
  cr_assert_eq(cm_engine_accept(fx.eng, "r1", "near", T0 + 250, &err), CM_OK);
  cr_assert_eq(cm_engine_reassign(fx.eng, "r1", "near", "ann", T0 + 300, &err),
               CM_E_CONFLICT, "to the worker who has it");
  cr_assert_eq(cm_engine_reassign(fx.eng, "r1", NULL, "ann", T0 + 300, &err),
               CM_OK, "%s", err.message);
  cm_event ev;
  cr_assert(last_event(CM_EV_REASSIGNED, &ev));
  cr_assert_eq(ev.from, CM_REQ_ACCEPTED);
  cr_assert_str_eq(ev.to_worker, "");
  cr_assert_eq(cm_engine_worker_jobs(fx.eng, "near"), 0, "the job given back");
  step(T0 + 400);
  cm_request_view v = view("r1");
  cr_assert_eq(v.state, CM_REQ_OFFERED);
  cr_assert_str_eq(v.workers[0], "far", "the former worker is left out");
  /* pending or finished: nothing to reassign */
  cr_assert_eq(cm_engine_cancel(fx.eng, "r1", T0 + 500, &err), CM_OK);
  cr_assert_eq(cm_engine_reassign(fx.eng, "r1", NULL, "ann", T0 + 600, &err),
               CM_E_CONFLICT);
  cr_assert(strstr(err.message, "cancelled"), "%s", err.message);
  cr_assert_eq(cm_engine_release(fx.eng, "r1", "ann", T0 + 600, &err),
               CM_E_CONFLICT);
}

/* The case: the only qualified worker near a normal request is
 * 150 m away but kept as the emergency reserve; the request says reserve,
 * not no_candidate. With no worker at all it still says no_candidate. */
Test(override, the_reserve_is_the_reason_not_no_candidate, .fini = stop) {
  start_with(NULL, 1);
  cm_error err;
  worker("w0", CM_FX_NURSE, 5.0); /* takes the first emergency */
  cm_request_spec e =
      cm_fx_spec("e0", CM_FX_NURSE, 1, CM_URGENCY_EMERGENCY, 5.0);
  cr_assert_eq(cm_engine_submit(fx.eng, &e, T0, &err), CM_OK);
  step(T0);
  cr_assert_str_eq(view("e0").workers[0], "w0");
  worker("nurse", CM_FX_NURSE, 0.15);
  submit("n1", CM_FX_NURSE, CM_URGENCY_NORMAL);
  submit("lonely", CM_FX_MATERNITY, CM_URGENCY_NORMAL);
  step(T0 + 1000);
  cm_request_view v = view("n1");
  cr_assert_eq(v.state, CM_REQ_PENDING, "the nurse is kept");
  cr_assert(v.has_reason);
  cr_assert_eq(v.reason, CM_REASON_RESERVE, "%s", cm_reason_name(v.reason));
  cr_assert_str_eq(cm_reason_name(v.reason), "reserve");
  v = view("lonely");
  cr_assert(v.has_reason);
  cr_assert_eq(v.reason, CM_REASON_NO_CANDIDATE, "%s",
               cm_reason_name(v.reason));
  /* the operator can act on it: a pin ignores the reserve */
  cr_assert_eq(cm_engine_pin(fx.eng, "n1", "nurse", "ann", T0 + 2000, &err),
               CM_OK);
  step(T0 + 2100);
  cr_assert_eq(view("n1").state, CM_REQ_OFFERED);
  cr_assert_str_eq(view("n1").workers[0], "nurse");
}

/* The memory ledger keeps pin and hold: a second engine on it rebuilds
 * them. */
Test(override, the_memory_ledger_keeps_pin_and_hold, .fini = stop) {
  cm_error err;
  start_with(cm_ledger_memory_new(&err), 0);
  cr_assert_eq(cm_engine_sync(fx.eng, T0, &err), CM_OK, "%s", err.message);
  worker("near", CM_FX_CAREGIVER, 0.2);
  worker("cg", CM_FX_CAREGIVER, 0.4);
  submit("p", CM_FX_NURSE, CM_URGENCY_NORMAL);
  submit("h", CM_FX_CAREGIVER, CM_URGENCY_NORMAL);
  cr_assert_eq(cm_engine_pin(fx.eng, "p", "cg", "ann", T0, &err), CM_OK, "%s",
               err.message);
  cr_assert_eq(cm_engine_hold(fx.eng, "h", "ann", T0, &err), CM_OK);
  cm_engine_free(fx.eng); /* a second engine on the same store and ledger */
  cm_engine_config c = config(fx.ledger, 0);
  fx.eng = cm_engine_new(&c, fx.store, &err);
  cr_assert_not_null(fx.eng, "%s", err.message);
  cr_assert_eq(cm_engine_sync(fx.eng, T0 + 10, &err), CM_OK, "%s", err.message);
  cr_assert_str_eq(view("p").pinned, "cg");
  cr_assert(view("h").held);
  step(T0 + 100);
  cr_assert_eq(view("h").state, CM_REQ_PENDING, "still held");
  cr_assert_eq(view("p").reason, CM_REASON_PINNED_UNQUALIFIED);
}

/* ---- the Redis ledger ---- */

static int g_port;
static pid_t g_pid;

static void redis_up(void) {
  cm_test_redis s = cm_test_redis_use();
  g_port = s.port;
  g_pid = s.pid;
}

static void redis_down(void) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "cm:{ov%ld}*", (long)getpid());
  cm_test_redis_done(&(cm_test_redis){g_port, g_pid}, pattern);
}

static cm_redis *conn;

/* Whether an event of this type in the region's stream has key = val. */
static int stream_field(const char *region, const char *type, const char *key,
                        const char *val) {
  const char *const pairs[] = {"type", type, key, val, NULL};
  return cm_test_stream_count(g_port, region, pairs) > 0;
}

/* The region's event stream has an event of this type for request, with
 * this actor and worker. */
static int stream_has(const char *region, const char *type, const char *request,
                      const char *actor, const char *worker) {
  redisContext *c = cm_test_side_connect(g_port);
  cr_assert_not_null(c);
  redisReply *r = redisCommand(c, "XRANGE cm:{%s}:events - +", region);
  cr_assert(r && r->type == REDIS_REPLY_ARRAY);
  int found = 0;
  for (size_t i = 0; i < r->elements && !found; i++) {
    const redisReply *f = r->element[i]->element[1];
    int match = 1;
    for (size_t k = 0; k + 1 < f->elements; k += 2) {
      const char *key = f->element[k]->str, *val = f->element[k + 1]->str;
      if ((!strcmp(key, "type") && strcmp(val, type)) ||
          (!strcmp(key, "request") && strcmp(val, request)) ||
          (!strcmp(key, "actor") && strcmp(val, actor)) ||
          (!strcmp(key, "worker") && strcmp(val, worker)))
        match = 0;
    }
    found = match;
  }
  freeReplyObject(r);
  redisFree(c);
  return found;
}

static void redis_stop(void) {
  stop();
  cm_redis_free(conn);
  conn = NULL;
  redis_down();
}

/* A rebuild from Redis (a restart) keeps pin and hold; the override's
 * events are in the region's event stream with their actor. */
Test(override, a_redis_rebuild_keeps_pin_and_hold, .init = redis_up,
     .fini = redis_stop) {
  char region[32];
  snprintf(region, sizeof region, "ov%ld", (long)getpid());
  cm_error err;
  cm_redis_options o;
  cm_redis_options_init(&o);
  conn = cm_redis_new("127.0.0.1", g_port, region, &o, &err);
  cr_assert_not_null(conn, "%s", err.message);
  start_with(cm_ledger_redis_new(conn, NULL, &err), 0);
  cr_assert_not_null(fx.ledger, "%s", err.message);
  cr_assert_eq(cm_engine_sync(fx.eng, T0, &err), CM_OK, "%s", err.message);
  worker("near", CM_FX_CAREGIVER, 0.2);
  worker("cg", CM_FX_CAREGIVER, 0.4);
  submit("p", CM_FX_NURSE, CM_URGENCY_NORMAL);
  submit("h", CM_FX_CAREGIVER, CM_URGENCY_NORMAL);
  cr_assert_eq(cm_engine_pin(fx.eng, "p", "cg", "ann", T0, &err), CM_OK, "%s",
               err.message);
  cr_assert_eq(cm_engine_hold(fx.eng, "h", "bob", T0, &err), CM_OK, "%s",
               err.message);
  /* a restart: the engine's memory is gone, the ledger kept */
  cm_engine_config c = config(fx.ledger, 0);
  cm_fx_engine_restart(&fx, &c);
  cr_assert_eq(cm_engine_sync(fx.eng, T0 + 10, &err), CM_OK, "%s", err.message);
  cr_assert_str_eq(view("p").pinned, "cg");
  cr_assert(view("h").held);
  cr_assert_eq(view("h").reason, CM_REASON_HELD);
  step(T0 + 100);
  cr_assert_eq(view("h").state, CM_REQ_PENDING, "still held");
  cr_assert_eq(view("p").state, CM_REQ_PENDING, "pinned to a caregiver");
  /* the audit trail */
  cr_assert(stream_has(region, "pinned", "p", "ann", "cg"));
  cr_assert(stream_has(region, "held", "h", "bob", ""));
  cr_assert(!stream_has(region, "held", "h", "ann", ""), "the right name");
  /* a reassignment names both workers there */
  cr_assert_eq(cm_engine_release(fx.eng, "h", "bob", T0 + 200, &err), CM_OK);
  step(T0 + 300);
  cr_assert_str_eq(view("h").workers[0], "near");
  cr_assert_eq(cm_engine_reassign(fx.eng, "h", "cg", "ann", T0 + 400, &err),
               CM_OK, "%s", err.message);
  cr_assert(stream_has(region, "reassigned", "h", "ann", "near"));
  cr_assert(stream_field(region, "reassigned", "to_worker", "cg"));
}
