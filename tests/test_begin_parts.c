/* test_begin_parts.c -- a batch's begin in parts (cm_engine_config
 * begin_part_ms, docs/async.md "A begin in parts"): on a clock that moves
 * 1 ms at each look, a regular batch's begin stops after every chunk;
 * gone on with to the end it gives the offers the begin in one go gives;
 * while it is paused an emergency's own batch goes first, no other regular
 * batch begins and no worker is offered twice; an offer whose worker that
 * batch took is tried again at once; an emergency a paused batch took
 * along gets its own batch meanwhile; a request cancelled and forgotten
 * meanwhile is left out (ASan would see its record read after it was freed).
 * The real carematchd reads [batch] begin_part_ms and serves between the parts.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon_proc.h"
#include "engine_fx.h"
#include "fixtures.h"

#define N_NURSES 120
#define N_REQS 100
#define T CM_FX_T0

/* The engine's clock: step ns more at each look (0: still). */
typedef struct ticks {
  int64_t ns, step;
} ticks;

static int64_t tick(void *ctx) {
  ticks *t = ctx;
  t->ns += t->step;
  return t->ns;
}

typedef struct world {
  cm_fx fx;
  ticks clock;
} world;

static world A, B;

static void close_worlds(void) {
  if (A.fx.eng)
    cm_fx_engine_close(&A.fx);
  if (B.fx.eng)
    cm_fx_engine_close(&B.fx);
}

static void submit(cm_engine *e, const char *id, cm_urgency u, double dlat,
                   double dlon_deg, int64_t t) {
  cm_request_spec s = cm_fx_spec(id, CM_FX_NURSE, 1, u, dlat);
  s.lon += dlon_deg;
  cm_error err;
  cr_assert_eq(cm_engine_submit(e, &s, t, &err), CM_OK, "%s", err.message);
}

/* Nurses on a 12 x 10 grid 0.6 km apart, an emergency served first (the
 * engine learns the emergency skills: the reserve is on), then N_REQS
 * normal requests over the grid. part_ms: the begin's parts (0: one go);
 * history: finished requests remembered. */
static void open_world(world *w, double part_ms, int history) {
  cm_engine_config c;
  cm_engine_config_init(&c);
  c.batch_window_ms = 300;
  c.begin_part_ms = part_ms;
  c.solve_budget_ms = 60000;
  c.history = history;
  c.clock = tick;
  c.clock_ctx = &w->clock;
  w->clock.ns = 1000000000;
  w->clock.step = 0;
  cm_fx_engine_open(&w->fx, &c);
  cm_engine *e = w->fx.eng;
  char id[32];
  for (int i = 0; i < N_NURSES; i++) {
    snprintf(id, sizeof id, "n%03d", i);
    cm_worker wk =
        cm_fx_worker(id, CM_FX_NURSE, (i / 12) * 0.6, (i % 12) * 0.6, 1, T);
    cm_error err;
    cr_assert_eq(cm_engine_worker_upsert(e, &wk, T, &err), CM_OK, "%s",
                 err.message);
  }
  submit(e, "e0", CM_URGENCY_EMERGENCY, 3.0, 0.02, T);
  cm_fx_step(e, T);
  cr_assert_eq(cm_fx_view(e, "e0").state, CM_REQ_OFFERED);
  for (int i = 0; i < N_REQS; i++) {
    snprintf(id, sizeof id, "r%03d", i);
    submit(e, id, CM_URGENCY_NORMAL, (i % 10) * 0.55, (i / 10) * 0.0075,
           T + 10);
  }
}

/* Begin at t with the clock moving 1 ms a look: the batch (NULL when
 * paused). */
static cm_engine_batch *begin(world *w, int64_t t) {
  cm_engine_batch *b = NULL;
  cm_error err;
  w->clock.step = 1000000;
  cr_assert_eq(cm_engine_batch_begin(w->fx.eng, t, &b, &err), CM_OK, "%s",
               err.message);
  w->clock.step = 0;
  return b;
}

/* One more part at t: the batch once its begin is done. */
static cm_engine_batch *go_on(world *w, int64_t t) {
  cm_engine_batch *b = NULL;
  cm_error err;
  w->clock.step = 1000000;
  cr_assert_eq(cm_engine_batch_continue(w->fx.eng, t, &b, &err), CM_OK, "%s",
               err.message);
  w->clock.step = 0;
  return b;
}

static void solve_end(world *w, cm_engine_batch *b, int64_t t) {
  cm_error err;
  cr_assert_eq(cm_engine_batch_solve(b, &err), CM_OK, "%s", err.message);
  cr_assert_eq(cm_engine_batch_end(w->fx.eng, b, t, &err), CM_OK, "%s",
               err.message);
}

/* The rest of a paused begin, then its solve and end: how many parts. */
static int finish(world *w, int64_t t) {
  int parts = 0;
  cm_engine_batch *b = NULL;
  while (!b) {
    cr_assert(cm_engine_beginning(w->fx.eng), "a begin is paused");
    b = go_on(w, t);
    parts++;
  }
  cr_assert(!cm_engine_beginning(w->fx.eng));
  solve_end(w, b, t);
  return parts;
}

/* No worker is in two live offers. */
static void assert_no_worker_twice(cm_engine *e, const char *const *ids,
                                   int n) {
  char seen[N_REQS + 2][CM_ID_MAX];
  int m = 0;
  for (int i = 0; i < n; i++) {
    cm_request_view v = cm_fx_view(e, ids[i]);
    if (v.state != CM_REQ_OFFERED)
      continue;
    for (int j = 0; j < m; j++)
      cr_assert_str_neq(seen[j], v.workers[0], "%s offered twice",
                        v.workers[0]);
    strcpy(seen[m++], v.workers[0]);
  }
}

Test(begin_parts, in_parts_gives_the_offers_of_one_go, .fini = close_worlds) {
  open_world(&A, 0, 1000);
  open_world(&B, 0.5, 1000);
  cm_engine_batch *a = begin(&A, T + 400);
  cr_assert_not_null(a, "without parts the begin is whole");
  solve_end(&A, a, T + 400);
  cr_assert_null(begin(&B, T + 400), "paused after its first part");
  int parts = finish(&B, T + 400);
  cr_assert_gt(parts, 5, "the begin went in many parts (%d)", parts);
  int offered = 0;
  char id[32];
  for (int i = 0; i < N_REQS; i++) {
    snprintf(id, sizeof id, "r%03d", i);
    cm_request_view va = cm_fx_view(A.fx.eng, id),
                    vb = cm_fx_view(B.fx.eng, id);
    cr_assert_eq(va.state, vb.state, "%s", id);
    if (va.state == CM_REQ_OFFERED) {
      offered++;
      cr_assert_str_eq(va.workers[0], vb.workers[0], "%s", id);
    }
  }
  cr_assert_gt(offered, N_REQS / 2, "most were offered (%d)", offered);
}

Test(begin_parts, an_emergency_goes_while_a_begin_is_paused,
     .fini = close_worlds) {
  open_world(&B, 0.5, 1000);
  cr_assert_null(begin(&B, T + 400));
  cr_assert(cm_engine_beginning(B.fx.eng));
  submit(B.fx.eng, "r100", CM_URGENCY_NORMAL, 0.3, 0.0, T + 401);
  cr_assert_gt(cm_engine_next_due(B.fx.eng), T + 800,
               "its window waits for the paused one");
  cr_assert_null(begin(&B, T + 800), "no second regular batch meanwhile");
  cr_assert(cm_engine_beginning(B.fx.eng));
  submit(B.fx.eng, "e1", CM_URGENCY_EMERGENCY, 1.2, 0.0, T + 802);
  cm_engine_batch *em = begin(&B, T + 802);
  cr_assert_not_null(em, "the emergency's own batch, the other paused");
  cr_assert(cm_engine_beginning(B.fx.eng));
  cr_assert_null(go_on(&B, T + 802), "the paused one waits for it");
  solve_end(&B, em, T + 803);
  cm_request_view e1 = cm_fx_view(B.fx.eng, "e1");
  cr_assert_eq(e1.state, CM_REQ_OFFERED);
  finish(&B, T + 804);
  const char *ids[N_REQS + 2];
  char names[N_REQS][8];
  for (int i = 0; i < N_REQS; i++) {
    snprintf(names[i], sizeof names[i], "r%03d", i);
    ids[i] = names[i];
  }
  ids[N_REQS] = "e0";
  ids[N_REQS + 1] = "e1";
  assert_no_worker_twice(B.fx.eng, ids, N_REQS + 2);
  cr_assert_eq(cm_fx_view(B.fx.eng, "e1").state, CM_REQ_OFFERED,
               "still the emergency's");
}

Test(begin_parts, an_offer_whose_nurse_went_is_tried_again_at_once,
     .fini = close_worlds) {
  open_world(&B, 0.5, 1000);
  cr_assert_null(begin(&B, T + 400));
  for (int i = 0; i < 10; i++) /* a chunk a part: the candidates (4
                                   chunks) and the instance (4) are done */
    cr_assert_null(go_on(&B, T + 400));
  /* an emergency where r000 is: her nurse n000 is r000's nearest too */
  submit(B.fx.eng, "e1", CM_URGENCY_EMERGENCY, 0.0, 0.0, T + 401);
  cm_engine_batch *em = begin(&B, T + 401);
  cr_assert_not_null(em);
  solve_end(&B, em, T + 401);
  cr_assert_str_eq(cm_fx_view(B.fx.eng, "e1").workers[0], "n000");
  finish(&B, T + 402);
  cr_assert_eq(cm_fx_view(B.fx.eng, "r000").state, CM_REQ_PENDING,
               "n000 was planned for it, and full at the commit");
  cr_assert_leq(cm_engine_next_due(B.fx.eng), T + 402,
                "tried again at once, not a window later");
  cm_fx_step(B.fx.eng, T + 402);
  cm_request_view r0 = cm_fx_view(B.fx.eng, "r000");
  cr_assert_eq(r0.state, CM_REQ_OFFERED);
  cr_assert_str_neq(r0.workers[0], "n000");
}

Test(begin_parts, an_emergency_taken_along_gets_its_own_batch_meanwhile,
     .fini = close_worlds) {
  open_world(&B, 0.5, 1000);
  /* an emergency as the window falls due: the window's batch takes it
     along, first, and pauses */
  submit(B.fx.eng, "e9", CM_URGENCY_EMERGENCY, 2.4, 0.0, T + 400);
  cr_assert_null(begin(&B, T + 400));
  cr_assert(cm_engine_beginning(B.fx.eng));
  cr_assert_leq(cm_engine_next_due(B.fx.eng), T + 400,
                "its own batch is due at once");
  cm_engine_batch *em = begin(&B, T + 400);
  cr_assert_not_null(em, "the emergency's own batch, the other paused");
  solve_end(&B, em, T + 400);
  cm_request_view e9 = cm_fx_view(B.fx.eng, "e9");
  cr_assert_eq(e9.state, CM_REQ_OFFERED);
  finish(&B, T + 401);
  cm_request_view again = cm_fx_view(B.fx.eng, "e9");
  cr_assert_eq(again.version, e9.version, "offered once");
  cr_assert_eq(cm_fx_view(B.fx.eng, "r000").state, CM_REQ_OFFERED);
}

Test(begin_parts, a_request_gone_meanwhile_is_left_out, .fini = close_worlds) {
  open_world(&B, 0.5, 1);
  cr_assert_null(begin(&B, T + 400));
  cm_error err;
  /* r000 .. r002 cancelled: with one finished request remembered, the
     records of r000 and r001 are freed */
  for (int i = 0; i < 3; i++) {
    char id[8];
    snprintf(id, sizeof id, "r%03d", i);
    cr_assert_eq(cm_engine_cancel(B.fx.eng, id, T + 401, &err), CM_OK, "%s",
                 err.message);
  }
  finish(&B, T + 402);
  cr_assert_eq(cm_fx_view(B.fx.eng, "r002").state, CM_REQ_CANCELLED);
  cm_request_view v;
  cr_assert_neq(cm_engine_request_get(B.fx.eng, "r000", &v, &err), CM_OK,
                "forgotten");
  int offered = 0;
  for (int i = 3; i < N_REQS; i++) {
    char id[8];
    snprintf(id, sizeof id, "r%03d", i);
    offered += cm_fx_view(B.fx.eng, id).state == CM_REQ_OFFERED;
  }
  cr_assert_gt(offered, N_REQS / 2, "the others were offered (%d)", offered);
}

/* ---- the daemon ---- */

static cm_test_daemon D;

static void daemon_stop(void) {
  cm_test_daemon_cleanup(&D);
}

/* Request id's state and first worker ("" none). */
static void state_of(const char *id, char *state, char *worker) {
  char path[96];
  snprintf(path, sizeof path, "/v1/requests/%.32s", id);
  cm_test_reply r =
      cm_test_expect(D.port, 200, "GET", path, TOK_PLATFORM, NULL);
  const char *s = "";
  json_t *ws = NULL;
  json_unpack(r.json, "{s:{s:s, s?o}}", "request", "state", &s, "workers", &ws);
  snprintf(state, 32, "%s", s);
  const char *w = NULL;
  json_t *w0 = json_array_get(ws, 0);
  if (json_is_string(w0))
    w = json_string_value(w0);
  else
    json_unpack(w0, "{s:s}", "id", &w);
  snprintf(worker, CM_ID_MAX, "%s", w ? w : "");
  cm_test_reply_free(&r);
}

static void post_request(const char *id, const char *urgency, double dlat,
                         double dlon) {
  char body[256];
  snprintf(body, sizeof body,
           "{\"id\":\"%.32s\",\"lat\":%.5f,\"lon\":%.5f,\"skills\":[\"nurse\"],"
           "\"urgency\":\"%s\"}",
           id, 31.23 + dlat, 121.47 + dlon, urgency);
  cm_test_ok_or_created(D.port, "POST", "/v1/requests", TOK_PLATFORM, body);
}

/* The real carematchd with the smallest parts: a begin pauses after every
 * chunk of its large batch, an emergency posted behind the batch is
 * offered, every request is offered once the parts are done, and no
 * nurse twice. */
Test(begin_parts, the_daemon_serves_between_the_parts, .fini = daemon_stop) {
  cm_test_daemon_config(&D, "[batch]\nwindow_ms = 300\n"
                            "begin_part_ms = 0.001\n");
  cm_test_daemon_start(&D, NULL);
  char path[64], body[160];
  for (int i = 0; i < N_NURSES; i++) {
    snprintf(path, sizeof path, "/v1/workers/n%03d", i);
    snprintf(body, sizeof body,
             "{\"skills\":[\"nurse\"],\"lat\":%.5f,\"lon\":%.5f}",
             31.23 + (i / 12) * 0.005, 121.47 + (i % 12) * 0.006);
    cm_test_ok_or_created(D.port, "PUT", path, TOK_PLATFORM, body);
  }
  post_request("e0", "emergency", 0.02, 0.02); /* the reserve learns */
  char ids[N_REQS + 1][8];
  for (int i = 0; i < N_REQS; i++) {
    snprintf(ids[i], sizeof ids[i], "r%03d", i);
    post_request(ids[i], "normal", (i % 10) * 0.005, (i / 10) * 0.0075);
  }
  snprintf(ids[N_REQS], sizeof ids[N_REQS], "e1");
  post_request("e1", "emergency", 0.03, 0.03);
  char seen[N_REQS + 1][CM_ID_MAX], state[32];
  int offered = 0;
  for (int round = 0; round < 500 && offered < N_REQS + 1; round++) {
    offered = 0;
    for (int i = 0; i < N_REQS + 1; i++) {
      state_of(ids[i], state, seen[i]);
      offered += !strcmp(state, "offered");
    }
    if (offered < N_REQS + 1) {
      struct timespec ts = {0, 20000000};
      nanosleep(&ts, NULL);
    }
  }
  cr_assert_eq(offered, N_REQS + 1, "all offered (%d)", offered);
  for (int i = 0; i < N_REQS + 1; i++)
    for (int j = 0; j < i; j++)
      cr_assert_str_neq(seen[i], seen[j], "%s offered to %s and %s", seen[i],
                        ids[i], ids[j]);
  cr_assert_gt(cm_test_metric(D.port, "carematch_batch_begin_pauses_total"), 0,
               "the begins went in parts");
}

Test(begin_parts, a_bad_part_is_refused_by_name) {
  char out[1024];
  cr_assert_eq(cm_test_check_config("[server]\nauth = off\n[batch]\n"
                                    "begin_part_ms = 2.5\n",
                                    out, sizeof out),
               0, "%s", out);
  cr_assert_neq(
      cm_test_check_config("[batch]\nbegin_part_ms = -1\n", out, sizeof out),
      0);
  cr_assert(strstr(out, "begin_part_ms"), "names the key: %s", out);
}
