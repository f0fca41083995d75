/* test_ledger_redis.c -- the engine on the Redis ledger, against a real
 * redis-server: a request is durable before it is acknowledged; the
 * ledger's records, worker jobs and events always match the engine; the
 * commit script's preconditions refuse and change nothing; a new process
 * rebuilds identical state after the old one died; two engines racing for
 * the same workers in two processes never double-book one; a Redis killed
 * and restarted mid-run (append-only file, appendfsync always) loses
 * nothing acknowledged while dispatch pauses and resumes; positions,
 * shifts and the stale sweep written by another client reach the engine's
 * mirror through the change stream, and a trimmed stream is noticed.
 *
 * The server: 127.0.0.1:$CM_TEST_REDIS_PORT (scripts/test.sh starts one)
 * or one of the test's own; tests that kill a server always start their
 * own. Every node gets a fresh region. No Criterion .timeout (see
 * test_store_redis.c). The ledger contract suite
 * (tests/support/ledger_contract.h) runs here on the Redis ledger too. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "carematch/engine.h"
#include "carematch/redis.h"
#include "fixtures.h"
#include "ledger_contract.h"
#include "redis_server.h"
#include "rng.h"

#define T0 1700000000000LL
#define N_WORKERS 24

/* ---- the server ---- */

static int g_port;
static pid_t g_pid; /* 0: the shared server */
static int g_regions;

static void setup(void) {
  g_regions = 0;
  cm_test_redis s = cm_test_redis_use();
  g_port = s.port;
  g_pid = s.pid;
}

static void teardown(void) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "cm:{l%ld-*", (long)getpid());
  cm_test_redis_done(&(cm_test_redis){g_port, g_pid}, pattern);
}

static void next_region(char *buf, size_t n) {
  snprintf(buf, n, "l%ld-%d", (long)getpid(), g_regions++);
}

/* ---- a node: connection, ledger, mirror, engine ---- */

typedef struct node {
  cm_redis *conn;
  cm_ledger *ledger;
  cm_store *mirror;
  cm_engine *eng;
} node;

static void node_open(node *n, int port, const char *region, int auto_accept) {
  cm_error err;
  cm_redis_options o;
  cm_redis_options_init(&o);
  o.timeout_ms = 2000;
  o.backoff_min_ms = 20;
  o.backoff_max_ms = 200;
  memset(n, 0, sizeof *n);
  n->conn = cm_redis_new("127.0.0.1", port, region, &o, &err);
  cr_assert_not_null(n->conn, "%s", err.message);
  n->ledger = cm_ledger_redis_new(n->conn, NULL, &err);
  cr_assert_not_null(n->ledger, "%s", err.message);
  n->mirror = cm_store_memory_new(0);
  cr_assert_not_null(n->mirror);
  cm_engine_config cfg;
  cm_engine_config_init(&cfg);
  cfg.ledger = n->ledger;
  cfg.auto_accept = auto_accept;
  cfg.batch_window_ms = 100;
  cfg.offer_ttl_ms = 5000;
  cfg.stale_ms = 0;
  n->eng = cm_engine_new(&cfg, n->mirror, &err);
  cr_assert_not_null(n->eng, "%s", err.message);
  cr_assert_eq(cm_engine_sync(n->eng, T0, &err), CM_OK, "%s", err.message);
}

static void node_close(node *n) {
  cm_engine_free(n->eng);
  cm_store_free(n->mirror);
  cm_ledger_free(n->ledger);
  cm_redis_free(n->conn);
  memset(n, 0, sizeof *n);
}

/* ---- a random run ---- */

typedef struct run {
  cm_check_rng g; /* the run's random choices */
  int64_t t;
  int n_req;          /* requests submitted */
  char ids[512][16];  /* their ids */
  const char *prefix; /* of request ids */
} run;

static uint64_t rnd(run *u) {
  return cm_check_rng_next(&u->g);
}

static double unit(run *u) {
  return cm_check_rng_unit(&u->g);
}

/* Worker i of a 6-wide grid 0.4 km apart, caregivers (every third also a
 * nurse) of capacity 1 or 2. */
static cm_worker make_worker(int i, int64_t t) {
  char id[CM_ID_MAX];
  snprintf(id, sizeof id, "w%02d", i);
  cm_worker w = cm_fx_worker(
      id, i % 3 == 0 ? CM_FX_CAREGIVER | CM_FX_NURSE : CM_FX_CAREGIVER,
      (i % 6) * 0.4, (i / 6) * 0.4, 1 + i % 2, t);
  w.rating = 4.5;
  w.level = 3;
  return w;
}

static void add_workers(node *n, int count, int64_t t) {
  cm_error err;
  for (int i = 0; i < count; i++) {
    cm_worker w = make_worker(i, t);
    cr_assert_eq(cm_engine_worker_upsert(n->eng, &w, t, &err), CM_OK, "%s",
                 err.message);
  }
}

/* A random spec within about 2 km north and east of the centre (the
 * draws one by one: argument order is unspecified). */
static cm_request_spec make_spec(run *u, const char *id) {
  double dlat_km = unit(u) * 0.02 * CM_FX_KM_LAT;
  double lon = CM_FX_LON0 + unit(u) * 0.02;
  cm_skillset skills = rnd(u) % 4 == 0 ? CM_FX_NURSE : CM_FX_CAREGIVER;
  int staff = rnd(u) % 6 == 0 ? 2 : 1;
  cm_urgency urgency = (cm_urgency)(rnd(u) % 3);
  cm_request_spec s = cm_fx_spec(id, skills, staff, urgency, dlat_km);
  s.lon = lon;
  if (rnd(u) % 3 == 0)
    snprintf(s.elder, sizeof s.elder, "elder%d", (int)(rnd(u) % 5));
  return s;
}

/* One random operation on n. Errors other than conflicts fail the test. */
static void random_op(node *n, run *u) {
  cm_error err;
  cm_status st = CM_OK;
  int op = (int)(rnd(u) % 10);
  u->t += (int64_t)(rnd(u) % 120);
  if (op <= 2 && u->n_req < 512) {
    snprintf(u->ids[u->n_req], sizeof u->ids[0], "%s%d", u->prefix, u->n_req);
    cm_request_spec s = make_spec(u, u->ids[u->n_req]);
    st = cm_engine_submit(n->eng, &s, u->t, &err);
    u->n_req++;
  } else if (op <= 4) {
    st = cm_engine_step(n->eng, u->t, NULL, &err);
  } else if (op <= 7 && u->n_req > 0) {
    cm_request_view v;
    const char *id = u->ids[rnd(u) % (uint64_t)u->n_req];
    if (cm_engine_request_get(n->eng, id, &v, NULL) != CM_OK)
      return;
    int k = v.n_workers ? (int)(rnd(u) % (uint64_t)v.n_workers) : 0;
    if (v.state == CM_REQ_OFFERED && !v.accepted[k])
      st = rnd(u) % 4 ? cm_engine_accept(n->eng, id, v.workers[k], u->t, &err)
                      : cm_engine_reject(n->eng, id, v.workers[k], u->t, &err);
    else if (v.state == CM_REQ_ACCEPTED)
      st = cm_engine_complete(n->eng, id, u->t, &err);
    else if (v.state == CM_REQ_PENDING && rnd(u) % 5 == 0)
      st = cm_engine_cancel(n->eng, id, u->t, &err);
  } else if (op == 8) {
    char id[8];
    snprintf(id, sizeof id, "w%02d", (int)(rnd(u) % N_WORKERS));
    double lat = CM_FX_LAT0 + unit(u) * 0.02, lon = CM_FX_LON0 + unit(u) * 0.02;
    st = cm_engine_worker_position(n->eng, id, lat, lon, u->t, &err);
  } else {
    char id[8];
    snprintf(id, sizeof id, "w%02d", (int)(rnd(u) % N_WORKERS));
    st = cm_engine_worker_shift(n->eng, id, rnd(u) % 4 != 0, u->t, &err);
  }
  cr_assert(st == CM_OK || st == CM_E_CONFLICT, "op %d: %s", op, err.message);
}

/* A node on a fresh region (named into region, 32 bytes) with the first
 * workers of the test's city. */
static void fresh_node(node *n, char *region, int workers) {
  next_region(region, 32);
  node_open(n, g_port, region, 0);
  add_workers(n, workers, T0);
}

/* ---- comparisons ---- */

/* Equal in every durable field (the batch counter and the last
 * unassigned reason are the engine's notes between transitions). */
static void same_view(const cm_request_view *a, const cm_request_view *b) {
  cm_request_view x = *a, y = *b;
  x.batches = y.batches = 0;
  x.has_reason = y.has_reason = 0;
  x.reason = y.reason = CM_REASON_NO_CANDIDATE;
  cr_assert(memcmp(&x, &y, sizeof x) == 0,
            "request %s differs: state %d/%d version %" PRIu64 "/%" PRIu64
            " workers %d/%d offered %" PRId64 "/%" PRId64,
            a->spec.id, a->state, b->state, a->version, b->version,
            a->n_workers, b->n_workers, a->offered_ms, b->offered_ms);
}

static long long hget_ll(redisContext *c, const char *region, const char *id,
                         const char *field) {
  redisReply *r =
      redisCommand(c, "HGET cm:{%s}:worker:%s %s", region, id, field);
  cr_assert_not_null(r);
  long long v = r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
  freeReplyObject(r);
  return v;
}

/* Every request of u and every worker's jobs: the engine and the ledger
 * agree. */
static void same_as_ledger(node *n, const run *u, const char *region) {
  cm_request_view mine, theirs;
  cm_error err;
  for (int i = 0; i < u->n_req; i++) {
    cm_status a = cm_engine_request_get(n->eng, u->ids[i], &mine, NULL);
    cm_status b = n->ledger->type->get(n->ledger, u->ids[i], &theirs, &err);
    cr_assert_eq(a, b, "request %s: engine %d, ledger %d (%s)", u->ids[i], a, b,
                 err.message);
    if (a == CM_OK)
      same_view(&mine, &theirs);
  }
  redisContext *c = cm_test_side_connect(g_port);
  cr_assert_not_null(c);
  for (int i = 0; i < N_WORKERS; i++) {
    char id[8];
    snprintf(id, sizeof id, "w%02d", i);
    cr_assert_eq(hget_ll(c, region, id, "jobs"),
                 cm_engine_worker_jobs(n->eng, id), "jobs of %s", id);
    cm_worker w;
    cr_assert_eq(cm_store_get(n->mirror, id, &w, NULL), CM_OK);
    cr_assert_eq(hget_ll(c, region, id, "status"), w.status, "status of %s",
                 id);
    cr_assert_eq(hget_ll(c, region, id, "jobs_today"), w.jobs_today,
                 "jobs_today of %s", id);
  }
  redisFree(c);
}

/* ---- tests ---- */

TestSuite(ledger, .init = setup, .fini = teardown);

Test(ledger, submit_is_durable_before_ack) {
  char region[32];
  next_region(region, sizeof region);
  node n;
  node_open(&n, g_port, region, 0);
  add_workers(&n, 4, T0);
  run u = {.t = T0, .prefix = "r"};
  cm_check_rng_seed(&u.g, 7);
  cm_request_spec s = make_spec(&u, "r1");
  cm_error err;
  cr_assert_eq(cm_engine_submit(n.eng, &s, T0, &err), CM_OK, "%s", err.message);
  redisContext *c = cm_test_side_connect(g_port);
  redisReply *r = redisCommand(c, "HMGET cm:{%s}:req:r1 ver state", region);
  cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
  cr_assert_str_eq(r->element[0]->str, "1");
  cr_assert_str_eq(r->element[1]->str, "0");
  freeReplyObject(r);
  r = redisCommand(c, "ZSCORE cm:{%s}:live r1", region);
  cr_assert(r && r->type == REDIS_REPLY_STRING, "r1 is live in Redis");
  freeReplyObject(r);
  r = redisCommand(c, "XRANGE cm:{%s}:events - +", region);
  cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
  cr_assert_str_eq(r->element[0]->element[1]->element[1]->str, "submitted");
  freeReplyObject(r);
  /* the same content again is a no-op; other content a conflict that
     changes nothing */
  cr_assert_eq(cm_engine_submit(n.eng, &s, T0 + 5, &err), CM_OK);
  s.staff = 3;
  cr_assert_eq(cm_engine_submit(n.eng, &s, T0 + 5, &err), CM_E_CONFLICT);
  cr_assert_str_eq(err.field, "$.id");
  r = redisCommand(c, "HGET cm:{%s}:req:r1 ver", region);
  cr_assert_str_eq(r->str, "1");
  freeReplyObject(r);
  redisFree(c);
  node_close(&n);
}

Test(ledger, engine_and_ledger_agree_through_a_random_run) {
  char region[32];
  node n;
  fresh_node(&n, region, N_WORKERS);
  run u = {.t = T0, .prefix = "q"};
  cm_check_rng_seed(&u.g, 11);
  for (int i = 0; i < 1500; i++) {
    random_op(&n, &u);
    if (i % 100 == 99)
      same_as_ledger(&n, &u, region);
  }
  cm_engine_stats st;
  cm_engine_stats_get(n.eng, &st);
  cr_assert(st.offers > 50 && st.by_state[CM_REQ_DONE] > 10,
            "the run did things: %" PRIu64 " offers, %d done", st.offers,
            st.by_state[CM_REQ_DONE]);
  same_as_ledger(&n, &u, region);
  /* every transition is in the events stream, in order */
  redisContext *c = cm_test_side_connect(g_port);
  redisReply *r = redisCommand(c, "XLEN cm:{%s}:events", region);
  cr_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer > 100);
  freeReplyObject(r);
  redisFree(c);
  node_close(&n);
}

/* The commit script's preconditions: each refusal leaves Redis unchanged. */
Test(ledger, refused_commits_change_nothing) {
  char region[32];
  next_region(region, sizeof region);
  node n;
  node_open(&n, g_port, region, 0);
  add_workers(&n, 2, T0); /* w00 capacity 1, w01 capacity 2 */
  run u = {.t = T0, .prefix = "p"};
  cm_check_rng_seed(&u.g, 3);
  cm_request_spec s = make_spec(&u, "p1");
  cm_error err;
  cr_assert_eq(cm_engine_submit(n.eng, &s, T0, &err), CM_OK);
  cm_request_view v;
  cr_assert_eq(cm_engine_request_get(n.eng, "p1", &v, NULL), CM_OK);
  redisContext *c = cm_test_side_connect(g_port);
  redisReply *dump0 = redisCommand(c, "DUMP cm:{%s}:req:p1", region);
  redisReply *w0 = redisCommand(c, "DUMP cm:{%s}:worker:w00", region);
  cm_ledger *l = n.ledger;
  cm_ledger_change ch;
  cm_ledger_result res;
  cm_request_view after = v;
  after.version = 2;
  after.state = CM_REQ_OFFERED;
  memset(&ch, 0, sizeof ch);
  ch.after = &after;
  ch.expect_version = 5; /* wrong */
  cr_assert_eq(l->type->commit(l, &ch, 1, &res, &err), CM_OK, "%s",
               err.message);
  cr_assert_eq(res.refusal, CM_LEDGER_VERSION);
  ch.expect_version = 0; /* "must not exist" */
  cr_assert_eq(l->type->commit(l, &ch, 1, &res, &err), CM_OK);
  cr_assert_eq(res.refusal, CM_LEDGER_VERSION);
  /* workers: unknown, then off shift, then full */
  ch.expect_version = 1;
  ch.n_workers = 1;
  snprintf(ch.workers[0].id, sizeof ch.workers[0].id, "nobody");
  ch.workers[0].take = 1;
  cr_assert_eq(l->type->commit(l, &ch, 1, &res, &err), CM_OK);
  cr_assert_eq(res.refusal, CM_LEDGER_WORKER);
  cr_assert_eq(res.worker, 0);
  cr_assert_eq(cm_engine_worker_shift(n.eng, "w00", 0, T0, &err), CM_OK);
  redisReply *w0off = redisCommand(c, "DUMP cm:{%s}:worker:w00", region);
  snprintf(ch.workers[0].id, sizeof ch.workers[0].id, "w00");
  cr_assert_eq(l->type->commit(l, &ch, 1, &res, &err), CM_OK);
  cr_assert_eq(res.refusal, CM_LEDGER_WORKER);
  redisReply *r = redisCommand(c, "DUMP cm:{%s}:worker:w00", region);
  cr_assert(r->len == w0off->len && !memcmp(r->str, w0off->str, r->len));
  freeReplyObject(r);
  cr_assert_eq(cm_engine_worker_shift(n.eng, "w00", 1, T0, &err), CM_OK);
  r = redisCommand(c, "HSET cm:{%s}:worker:w00 jobs 1", region);
  freeReplyObject(r);
  cr_assert_eq(l->type->commit(l, &ch, 1, &res, &err), CM_OK);
  cr_assert_eq(res.refusal, CM_LEDGER_WORKER, "w00 is full");
  r = redisCommand(c, "DUMP cm:{%s}:req:p1", region);
  cr_assert(r->len == dump0->len && !memcmp(r->str, dump0->str, r->len),
            "the request's hash is unchanged");
  freeReplyObject(r);
  freeReplyObject(dump0);
  freeReplyObject(w0);
  freeReplyObject(w0off);
  redisFree(c);
  node_close(&n);
}

/* ---- restart recovery ---- */

typedef struct snapshot {
  int n_req;
  cm_request_view views[512];
  int jobs[N_WORKERS];
  cm_worker workers[N_WORKERS];
} snapshot;

static void take_snapshot(node *n, const run *u, snapshot *s) {
  memset(s, 0, sizeof *s);
  s->n_req = u->n_req;
  for (int i = 0; i < u->n_req; i++)
    cm_engine_request_get(n->eng, u->ids[i], &s->views[i], NULL);
  for (int i = 0; i < N_WORKERS; i++) {
    char id[8];
    snprintf(id, sizeof id, "w%02d", i);
    s->jobs[i] = cm_engine_worker_jobs(n->eng, id);
    cm_store_get(n->mirror, id, &s->workers[i], NULL);
  }
}

Test(ledger, a_new_process_rebuilds_identical_state) {
  char region[32], path[64];
  next_region(region, sizeof region);
  snprintf(path, sizeof path, "/tmp/cm_ledger_snap_%ld", (long)getpid());
  run u = {.t = T0, .prefix = "s"};
  cm_check_rng_seed(&u.g, 99);
  pid_t child = fork();
  cr_assert(child >= 0);
  if (child == 0) { /* the first daemon: works, writes what it knows, dies */
    node n;
    node_open(&n, g_port, region, 0);
    add_workers(&n, N_WORKERS, T0);
    for (int i = 0; i < 800; i++)
      random_op(&n, &u);
    cm_engine_step(n.eng, u.t, NULL, NULL);
    snapshot *s = malloc(sizeof *s);
    take_snapshot(&n, &u, s);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(&u, sizeof u, 1, f) == 1 &&
             fwrite(s, sizeof *s, 1, f) == 1 && fclose(f) == 0;
    _exit(ok ? 0 : 3); /* no cleanup: as if killed */
  }
  int status;
  cr_assert_eq(waitpid(child, &status, 0), child);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %d", status);
  snapshot *old = malloc(sizeof *old), *now = malloc(sizeof *now);
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  cr_assert_eq(fread(&u, sizeof u, 1, f), 1);
  cr_assert_eq(fread(old, sizeof *old, 1, f), 1);
  fclose(f);
  unlink(path);
  node n; /* the second daemon: state from Redis alone */
  node_open(&n, g_port, region, 0);
  take_snapshot(&n, &u, now);
  cr_assert(old->n_req > 100);
  int live = 0;
  for (int i = 0; i < old->n_req; i++) {
    same_view(&old->views[i], &now->views[i]);
    live += old->views[i].state < CM_REQ_DONE;
  }
  cr_assert(live > 5, "some requests were live (%d)", live);
  for (int i = 0; i < N_WORKERS; i++) {
    cr_assert_eq(old->jobs[i], now->jobs[i], "jobs of w%02d", i);
    cr_assert(memcmp(&old->workers[i], &now->workers[i], sizeof(cm_worker)) ==
                  0,
              "mirror of w%02d", i);
  }
  /* and it carries on from there */
  for (int i = 0; i < 300; i++)
    random_op(&n, &u);
  same_as_ledger(&n, &u, region);
  free(old);
  free(now);
  node_close(&n);
}

/* ---- contention ---- */

/* One engine in its own process: steps for a while over the shared
 * workers, never accepting, so every hold stays. Exits with the number of
 * offers the ledger refused (capped), or 255 on failure. */
static void race(const char *region, const char *prefix, uint64_t seed) {
  node n;
  node_open(&n, g_port, region, 0);
  run u = {.t = T0, .prefix = prefix};
  cm_check_rng_seed(&u.g, seed);
  cm_error err;
  for (int round = 0; round < 60; round++) {
    for (int k = 0; k < 2; k++) {
      snprintf(u.ids[u.n_req], sizeof u.ids[0], "%s%d", prefix, u.n_req);
      cm_request_spec s = make_spec(&u, u.ids[u.n_req]);
      s.staff = 1;
      if (cm_engine_submit(n.eng, &s, u.t, &err) != CM_OK)
        _exit(255);
      u.n_req++;
    }
    u.t += 150;
    if (cm_engine_step(n.eng, u.t, NULL, &err) != CM_OK)
      _exit(255);
  }
  cm_engine_stats st;
  cm_engine_stats_get(n.eng, &st);
  _exit(st.refused > 250 ? 250 : (int)st.refused);
}

Test(ledger, two_engines_never_double_book_a_worker) {
  char region[32];
  node n;
  fresh_node(&n, region, N_WORKERS);
  node_close(&n);
  pid_t a = fork();
  if (a == 0)
    race(region, "a", 5);
  pid_t b = fork();
  if (b == 0)
    race(region, "b", 6);
  int sa, sb;
  waitpid(a, &sa, 0);
  waitpid(b, &sb, 0);
  cr_assert(WIFEXITED(sa) && WEXITSTATUS(sa) != 255, "engine a failed");
  cr_assert(WIFEXITED(sb) && WEXITSTATUS(sb) != 255, "engine b failed");
  cr_log_info("offers refused by the ledger: a %d, b %d", WEXITSTATUS(sa),
              WEXITSTATUS(sb));
  /* Redis: every worker's holds, counted from the live records of both
     engines, within its capacity and equal to its jobs */
  node_open(&n, g_port, region, 0);
  int holds[N_WORKERS] = {0}, offered = 0;
  redisContext *c = cm_test_side_connect(g_port);
  for (int e = 0; e < 2; e++)
    for (int i = 0; i < 120; i++) {
      char id[16];
      cm_request_view v;
      snprintf(id, sizeof id, "%s%d", e ? "b" : "a", i);
      cr_assert_eq(n.ledger->type->get(n.ledger, id, &v, NULL), CM_OK);
      for (int k = 0; k < v.n_workers; k++) {
        holds[atoi(v.workers[k] + 1)]++;
        offered++;
      }
    }
  cr_assert(offered >= 20, "offers were made (%d)", offered);
  for (int i = 0; i < N_WORKERS; i++) {
    cm_worker w = make_worker(i, T0);
    char id[8];
    snprintf(id, sizeof id, "w%02d", i);
    cr_assert_leq(holds[i], w.capacity, "%s double-booked: %d holds", id,
                  holds[i]);
    cr_assert_eq(hget_ll(c, region, id, "jobs"), holds[i], "jobs of %s", id);
    cr_assert_eq(cm_engine_worker_jobs(n.eng, id), holds[i]);
  }
  redisFree(c);
  node_close(&n);
}

/* ---- Redis killed and restarted mid-run ---- */

Test(ledger, redis_restarted_mid_run_loses_nothing_acknowledged) {
  char region[32], dir[64];
  next_region(region, sizeof region);
  snprintf(dir, sizeof dir, "/tmp/cm_ledger_aof_%ld", (long)getpid());
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
  cr_assert_eq(system(cmd), 0);
  int port = cm_test_free_port();
  pid_t srv = cm_test_server_start(port, dir);
  int saved_port = g_port;
  g_port = port;
  node n;
  node_open(&n, port, region, 0);
  add_workers(&n, N_WORKERS, T0);
  run u = {.t = T0, .prefix = "k"};
  cm_check_rng_seed(&u.g, 21);
  for (int i = 0; i < 400; i++)
    random_op(&n, &u);
  snapshot *before = malloc(sizeof *before), *after = malloc(sizeof *after);
  take_snapshot(&n, &u, before);
  cm_test_server_kill(srv, SIGKILL);
  /* down: nothing is acknowledged, dispatch pauses, nothing changes */
  cm_error err;
  cm_request_spec s = make_spec(&u, "lost");
  cr_assert_eq(cm_engine_submit(n.eng, &s, u.t, &err), CM_E_UNAVAILABLE);
  cm_request_view none;
  cr_assert_eq(cm_engine_request_get(n.eng, "lost", &none, NULL),
               CM_E_UNAVAILABLE);
  cr_assert_eq(cm_engine_step(n.eng, u.t + 1000, NULL, &err), CM_E_UNAVAILABLE,
               "%s", err.message);
  cr_assert_eq(err.code, CM_E_UNAVAILABLE, "%s", err.message);
  for (int i = 0; i < u.n_req; i++) {
    cm_request_view v;
    if (before->views[i].state == CM_REQ_OFFERED &&
        !before->views[i].accepted[0]) {
      cr_assert_eq(cm_engine_accept(n.eng, u.ids[i],
                                    before->views[i].workers[0], u.t, &err),
                   CM_E_UNAVAILABLE);
      cr_assert_eq(cm_engine_request_get(n.eng, u.ids[i], &v, NULL), CM_OK);
      same_view(&v, &before->views[i]);
    }
  }
  take_snapshot(&n, &u, after);
  for (int i = 0; i < u.n_req; i++)
    same_view(&before->views[i], &after->views[i]);
  /* back, from its append-only file */
  srv = cm_test_server_start(port, dir);
  cm_status rc = CM_E_UNAVAILABLE;
  for (int i = 0; i < 100 && rc != CM_OK; i++) {
    rc = cm_engine_step(n.eng, u.t + 1000, NULL, &err);
    if (rc != CM_OK)
      cm_test_sleep_ms(50);
  }
  cr_assert(rc == CM_OK, "dispatch resumed: %s", err.message);
  cm_engine_stats st;
  cm_engine_stats_get(n.eng, &st);
  cr_assert_geq(st.rebuilds, 2, "rebuilt after the reconnect");
  cr_assert_eq(cm_engine_request_get(n.eng, "lost", &none, NULL),
               CM_E_UNKNOWN_ID, "never acknowledged, never written");
  same_as_ledger(&n, &u, region);
  for (int i = 0; i < 200; i++)
    random_op(&n, &u);
  same_as_ledger(&n, &u, region);
  free(before);
  free(after);
  node_close(&n);
  cm_test_server_kill(srv, SIGTERM);
  g_port = saved_port;
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

/* ---- other writers: the change stream ---- */

Test(ledger, another_writer_reaches_the_mirror) {
  char region[32];
  node n;
  fresh_node(&n, region, N_WORKERS);
  cm_error err;
  cm_store *gw = cm_store_redis_new("127.0.0.1", g_port, region, &err);
  cr_assert_not_null(gw, "%s", err.message);
  /* a worker gateway moves everybody at once */
  const char *ids[N_WORKERS];
  char names[N_WORKERS][8];
  double lat[N_WORKERS], lon[N_WORKERS];
  int64_t seen[N_WORKERS];
  for (int i = 0; i < N_WORKERS; i++) {
    snprintf(names[i], sizeof names[i], "w%02d", i);
    ids[i] = names[i];
    lat[i] = CM_FX_LAT0 + 0.01 + i * 1e-4;
    lon[i] = CM_FX_LON0 - 0.01;
    seen[i] = T0 + 500;
  }
  cr_assert_eq(
      cm_store_redis_positions(gw, N_WORKERS, ids, lat, lon, seen, &err), CM_OK,
      "%s", err.message);
  /* an offer to w00, then the gateway takes w00 off shift */
  run u = {.t = T0 + 600, .prefix = "g"};
  cm_check_rng_seed(&u.g, 5);
  cm_request_spec s = make_spec(&u, "g1");
  s.lat = lat[0];
  s.lon = lon[0];
  s.skills = 1;
  s.staff = 1;
  s.urgency = CM_URGENCY_EMERGENCY;
  cr_assert_eq(cm_engine_submit(n.eng, &s, u.t, &err), CM_OK);
  int batches;
  cr_assert_eq(cm_engine_step(n.eng, u.t, &batches, &err), CM_OK, "%s",
               err.message);
  cr_assert_eq(batches, 1);
  cm_request_view v;
  cr_assert_eq(cm_engine_request_get(n.eng, "g1", &v, NULL), CM_OK);
  cr_assert_eq(v.state, CM_REQ_OFFERED);
  cr_assert_str_eq(v.workers[0], "w00", "the mirror had the new positions");
  for (int i = 0; i < N_WORKERS; i++) {
    cm_worker w;
    cr_assert_eq(cm_store_get(n.mirror, names[i], &w, NULL), CM_OK);
    cr_assert(w.lat == lat[i] && w.lon == lon[i] && w.seen_ms == seen[i]);
  }
  cr_assert_eq(cm_store_status(gw, "w00", CM_WORKER_OFFLINE, &err), CM_OK);
  cr_assert_eq(cm_engine_step(n.eng, u.t + 10, NULL, &err), CM_OK, "%s",
               err.message);
  cr_assert_eq(cm_engine_request_get(n.eng, "g1", &v, NULL), CM_OK);
  cr_assert(v.state == CM_REQ_PENDING ||
                (v.state == CM_REQ_OFFERED && strcmp(v.workers[0], "w00")),
            "the offer to w00 was withdrawn");
  /* the stale sweep, run by another client: stale workers go offline */
  int swept;
  cr_assert_eq(cm_store_sweep(gw, T0 + 600000, 60000, &swept, &err), CM_OK,
               "%s", err.message);
  cr_assert_geq(swept, N_WORKERS - 2);
  cr_assert_eq(cm_engine_step(n.eng, u.t + 20, NULL, &err), CM_OK, "%s",
               err.message);
  int offline = 0;
  for (int i = 0; i < N_WORKERS; i++) {
    cm_worker w;
    cm_store_get(n.mirror, names[i], &w, NULL);
    offline += w.status == CM_WORKER_OFFLINE;
  }
  cr_assert_geq(offline, N_WORKERS - 1, "the sweep reached the mirror");
  cm_store_free(gw);
  node_close(&n);
}

Test(ledger, a_trimmed_change_stream_forces_a_rebuild) {
  char region[32];
  node n;
  fresh_node(&n, region, N_WORKERS);
  cm_error err;
  cm_store *gw = cm_store_redis_new("127.0.0.1", g_port, region, &err);
  cr_assert_not_null(gw);
  cr_assert_eq(
      cm_store_position(gw, "w03", CM_FX_LAT0 + 0.05, CM_FX_LON0, T0 + 1, &err),
      CM_OK);
  redisContext *c = cm_test_side_connect(g_port);
  redisReply *r = redisCommand(c, "XTRIM cm:{%s}:changes MAXLEN 0", region);
  freeReplyObject(r);
  redisFree(c);
  cm_engine_stats st0, st1;
  cm_engine_stats_get(n.eng, &st0);
  cr_assert_eq(cm_engine_step(n.eng, T0 + 10, NULL, &err), CM_OK, "%s",
               err.message);
  cm_engine_stats_get(n.eng, &st1);
  cr_assert_eq(st1.rebuilds, st0.rebuilds + 1, "lost track: rebuilt");
  cm_worker w;
  cr_assert_eq(cm_store_get(n.mirror, "w03", &w, NULL), CM_OK);
  cr_assert(w.lat == CM_FX_LAT0 + 0.05, "the move arrived by the rebuild");
  cm_store_free(gw);
  node_close(&n);
}

/* ---- the ledger contract suite on the Redis ledger ---- */

/* Handles: a connection and its ledger each; fresh ones get a new region,
 * the others the last fresh one's. */
#define CONTRACT_HANDLES 8

typedef struct rd_handles {
  char region[64];
  cm_redis *conn[CONTRACT_HANDLES];
  cm_ledger *ledger[CONTRACT_HANDLES];
} rd_handles;

static rd_handles g_rd;

static cm_ledger *rd_open(void *ctx, int fresh) {
  rd_handles *h = ctx;
  if (fresh)
    next_region(h->region, sizeof h->region);
  int i = 0;
  while (i < CONTRACT_HANDLES && h->conn[i])
    i++;
  cr_assert_lt(i, CONTRACT_HANDLES, "too many open handles");
  cm_error err;
  cm_redis_options o;
  cm_redis_options_init(&o);
  o.timeout_ms = 2000;
  h->conn[i] = cm_redis_new("127.0.0.1", g_port, h->region, &o, &err);
  cr_assert_not_null(h->conn[i], "%s", err.message);
  h->ledger[i] = cm_ledger_redis_new(h->conn[i], NULL, &err);
  cr_assert_not_null(h->ledger[i], "%s", err.message);
  return h->ledger[i];
}

static void rd_close(void *ctx, cm_ledger *l) {
  rd_handles *h = ctx;
  for (int i = 0; i < CONTRACT_HANDLES; i++)
    if (h->ledger[i] == l) {
      cm_ledger_free(l);
      cm_redis_free(h->conn[i]);
      h->ledger[i] = NULL;
      h->conn[i] = NULL;
      return;
    }
  cr_assert_fail("closing a handle never opened");
}

static const cm_ledger_contract redis_contract = {
    .open = rd_open, .close = rd_close, .ctx = &g_rd};

#define LEDGER_CONTRACT_(name)                                                 \
  Test(ledger_contract_redis, name, .init = setup, .fini = teardown) {         \
    cm_ledger_contract_##name(&redis_contract);                                \
  }

LEDGER_CONTRACT_(records)
LEDGER_CONTRACT_(workers)
LEDGER_CONTRACT_(group)
LEDGER_CONTRACT_(live)
LEDGER_CONTRACT_(worker_errors)
LEDGER_CONTRACT_(propose)
LEDGER_CONTRACT_(worker_propose)
LEDGER_CONTRACT_(engine_recovery)
LEDGER_CONTRACT_(fault_before)
LEDGER_CONTRACT_(fault_after)
