/* test_store_redis.c -- the Redis position store against a real
 * redis-server: every case of the contract suite (store_contract.h), then
 * what only the Redis store promises: hash-tagged keys, GEO sets that agree
 * with the hashes (checked key by key and against GEOSEARCH), bulk
 * positions equal to one-by-one moves, failures (a server killed,
 * restarted, frozen) answered with CM_E_UNAVAILABLE and recovered from,
 * bad input leaving Redis byte for byte unchanged, NOSCRIPT recovery, and
 * the regime in which GEOSEARCH is trusted.
 *
 * The server: 127.0.0.1:$CM_TEST_REDIS_PORT (scripts/test.sh starts one);
 * when unset, each test starts its own redis-server on a free loopback
 * port and kills it at the end. Tests that kill or freeze a server always
 * start their own. Every store gets a region of its own ("t<pid>-<n>"),
 * so tests may run in parallel on one server; a test's keys are deleted
 * when it ends. This file talks to Redis directly with hiredis's
 * synchronous API to look behind the store.
 *
 * No test here sets Criterion's .timeout: BoxFort (Criterion 2.4.1) leaks
 * a timeout request when two tests with timeouts overlap (--jobs 2), which
 * LeakSanitizer reports in the sanitizer build. CTest's TIMEOUT bounds the
 * executable, and every store call has its own timeout. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <criterion/parameterized.h>
#include <event2/event.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "carematch/redis.h"
#include "carematch/solve.h"
#include "carematch/store.h"
#include "check.h"
#include "redis_server.h"
#include "store_contract.h"

#define LAT0 31.23
#define LON0 121.47
#define T0 1700000000000LL
#define GEO_LIMIT 85.05112878
#define R_REDIS_KM 6372.797560856
#define LAG_KM 0.2          /* how far the GEO index may trail a worker */
#define SEEN_SLACK_MS 30000 /* how far a seen score may trail seen_ms */

/* ---- a redis-server of our own ---- */

typedef cm_test_redis server; /* pid 0: the shared server of scripts/test.sh */

static server g_srv;
static int g_made; /* stores made by this process */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Delete the keys of every region this process made (shared server). */
static void flush_mine(void) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "cm:{t%ld-*", (long)getpid());
  cm_test_flush_keys(g_srv.port, pattern);
}

static void setup(void) {
  g_made = 0;
  g_srv = cm_test_redis_use();
}

/* A redis-server of the test's own, whatever CM_TEST_REDIS_PORT says: for
 * a test that disturbs the whole server (SCRIPT FLUSH), so that the other
 * tests sharing scripts/test.sh's server are not hit by it. */
static void setup_own(void) {
  g_made = 0;
  g_srv.port = cm_test_free_port();
  g_srv.pid = cm_test_server_start(g_srv.port, NULL);
}

static void teardown(void) {
  if (g_srv.pid > 0)
    cm_test_server_kill(g_srv.pid, SIGTERM);
  else
    flush_mine();
}

/* A fresh region name of this process. */
static void next_region(char *buf, size_t size) {
  snprintf(buf, size, "t%ld-%d", (long)getpid(), g_made++);
}

/* The factory of the contract suite: a store on a fresh, empty region. */
static cm_store *make_redis(void *ctx) {
  (void)ctx;
  char region[32];
  cm_error err;
  next_region(region, sizeof region);
  cm_store *s = cm_store_redis_new("127.0.0.1", g_srv.port, region, &err);
  cr_assert_not_null(s, "redis store: %s", err.message);
  cr_assert_eq(cm_store_redis_flush(s, &err), CM_OK, "flush: %s", err.message);
  return s;
}

/* ---- the contract suite, every case of the table ---- */

static const cm_contract redis_contract = {
    .make = make_redis,
    .dist_tol_km = 0,     /* exact: distances come from the stored doubles */
    .insertion_order = 1, /* the workers sorted set keeps insertion order */
    .ops = 0};            /* the full 10000 random operations */

static int case_index[64];

ParameterizedTestParameters(redis_contract, every_case) {
  cr_assert(cm_contract_case_count <= 64);
  for (int i = 0; i < cm_contract_case_count; i++)
    case_index[i] = i;
  return cr_make_param_array(int, case_index, (size_t)cm_contract_case_count);
}

ParameterizedTest(int *i, redis_contract, every_case, .init = setup,
                  .fini = teardown) {
  cr_log_info("contract case %s", cm_contract_cases[*i].name);
  cm_contract_cases[*i].fn(&redis_contract);
}

/* A second seed of the strongest case. */
Test(redis_contract, random_ops_other_seed, .init = setup, .fini = teardown) {
  cm_contract c = redis_contract;
  c.seed = 77;
  cm_contract_random_ops(&c);
}

/* ---- helpers looking behind the store ---- */

static redisReply *cmd(redisContext *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(c, fmt, ap);
  va_end(ap);
  cr_assert_not_null(r, "redis: %s", c->errstr);
  cr_assert_neq(r->type, REDIS_REPLY_ERROR, "redis: %s", r->str);
  return r;
}

/* Every key whose name contains the region, sorted. */
typedef struct key_list {
  char **k;
  size_t *len;
  int n, cap;
} key_list;

static int key_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static key_list region_keys(redisContext *c, const char *region) {
  key_list kl = {0};
  char cursor[32] = "0", pattern[96];
  snprintf(pattern, sizeof pattern, "*%s*", region);
  do {
    redisReply *r = cmd(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
    snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
    for (size_t i = 0; i < r->element[1]->elements; i++) {
      if (kl.n == kl.cap) {
        kl.cap = kl.cap ? 2 * kl.cap : 64;
        kl.k = realloc(kl.k, (size_t)kl.cap * sizeof *kl.k);
        kl.len = realloc(kl.len, (size_t)kl.cap * sizeof *kl.len);
        cr_assert(kl.k && kl.len);
      }
      kl.k[kl.n] = strdup(r->element[1]->element[i]->str);
      kl.len[kl.n] = r->element[1]->element[i]->len;
      kl.n++;
    }
    freeReplyObject(r);
  } while (strcmp(cursor, "0") != 0);
  qsort(kl.k, (size_t)kl.n, sizeof *kl.k, key_cmp);
  for (int i = 0; i < kl.n; i++)
    kl.len[i] = strlen(kl.k[i]);
  return kl;
}

static void key_list_free(key_list *kl) {
  for (int i = 0; i < kl->n; i++)
    free(kl->k[i]);
  free(kl->k);
  free(kl->len);
  memset(kl, 0, sizeof *kl);
}

/* The raw bytes of every key of a region (DUMP), to compare later. */
typedef struct snapshot {
  key_list keys;
  char **dump;
  size_t *dump_len;
} snapshot;

static snapshot take_snapshot(redisContext *c, const char *region) {
  snapshot s;
  s.keys = region_keys(c, region);
  s.dump = calloc((size_t)s.keys.n + 1, sizeof *s.dump);
  s.dump_len = calloc((size_t)s.keys.n + 1, sizeof *s.dump_len);
  for (int i = 0; i < s.keys.n; i++) {
    redisReply *r = cmd(c, "DUMP %s", s.keys.k[i]);
    cr_assert_eq(r->type, REDIS_REPLY_STRING);
    s.dump[i] = malloc(r->len);
    memcpy(s.dump[i], r->str, r->len);
    s.dump_len[i] = r->len;
    freeReplyObject(r);
  }
  return s;
}

static void snapshot_free(snapshot *s) {
  for (int i = 0; i < s->keys.n; i++)
    free(s->dump[i]);
  free(s->dump);
  free(s->dump_len);
  key_list_free(&s->keys);
}

static void same_snapshot(const snapshot *a, const snapshot *b,
                          const char *what) {
  cr_assert_eq(a->keys.n, b->keys.n, "%s: %d keys, then %d", what, a->keys.n,
               b->keys.n);
  for (int i = 0; i < a->keys.n; i++) {
    cr_assert_str_eq(a->keys.k[i], b->keys.k[i], "%s: keys differ", what);
    cr_assert(a->dump_len[i] == b->dump_len[i] &&
                  !memcmp(a->dump[i], b->dump[i], a->dump_len[i]),
              "%s: key %s changed", what, a->keys.k[i]);
  }
}

/* ---- a random workload on a Redis store and a memory store alike ---- */

#define POOL 300

typedef struct run {
  cm_store *rs;   /* Redis */
  cm_store *ms;   /* memory: the reference */
  cm_check_rng g; /* */
  int64_t now;    /* the clock */
  char ids[POOL][CM_ID_MAX];
} run;

static void rand_pos(cm_check_rng *g, double *lat, double *lon) {
  int dice = cm_check_rng_int(g, 0, 99);
  if (dice < 4) { /* beyond GEO's latitude limit */
    *lat = cm_check_rng_real(g, GEO_LIMIT + 1e-7, 90.0);
    *lat = cm_check_rng_chance(g, 0.5) ? *lat : -*lat;
    *lon = cm_check_rng_real(g, -180, 180);
  } else if (dice < 6) { /* anywhere */
    *lat = cm_check_rng_real(g, -GEO_LIMIT, GEO_LIMIT);
    *lon = cm_check_rng_real(g, -180, 180);
  } else if (dice < 8) { /* exactly at the limit */
    *lat = cm_check_rng_chance(g, 0.5) ? GEO_LIMIT : -GEO_LIMIT;
    *lon = cm_check_rng_real(g, -180, 180);
  } else if (dice < 12) { /* on the antimeridian, or just off it */
    *lat = cm_check_rng_real(g, -17.2, -17.1);
    static const double edge[] = {180,          -180,    179.9999999,
                                  -179.9999999, 179.999, -179.999};
    *lon = edge[cm_check_rng_int(g, 0, 5)];
  } else {
    *lat = LAT0 + cm_check_rng_real(g, -0.08, 0.08);
    *lon = LON0 + cm_check_rng_real(g, -0.1, 0.1);
  }
}

static cm_worker rand_worker(run *u, const char *id) {
  cm_check_rng *g = &u->g;
  cm_worker w;
  cm_worker_init(&w);
  snprintf(w.id, sizeof w.id, "%s", id);
  w.skills = 0;
  int n = cm_check_rng_int(g, 1, 3);
  for (int i = 0; i < n; i++)
    w.skills |= (cm_skillset)1 << cm_check_rng_int(g, 0, 5);
  if (cm_check_rng_chance(g, 0.03))
    w.skills |= (cm_skillset)1 << 31;
  w.status = cm_check_rng_chance(g, 0.7)
                 ? CM_WORKER_AVAILABLE
                 : (cm_worker_status)cm_check_rng_int(g, 1, 3);
  w.has_position = cm_check_rng_chance(g, 0.9);
  if (w.has_position)
    rand_pos(g, &w.lat, &w.lon);
  w.seen_ms = u->now - cm_check_rng_int(g, 0, 9000);
  w.capacity = cm_check_rng_chance(g, 0.06) ? 0 : cm_check_rng_int(g, 1, 3);
  w.jobs_today = cm_check_rng_int(g, 0, 9);
  w.rating = cm_check_rng_real(g, 0, 5);
  w.level = cm_check_rng_real(g, 1, 5);
  w.n_elders = cm_check_rng_int(g, 0, CM_MAX_ELDERS);
  for (int i = 0; i < w.n_elders; i++)
    w.elders[i] = cm_check_rng_next(g);
  return w;
}

static int known(run *u, const char *id) {
  return cm_store_get(u->ms, id, NULL, NULL) == CM_OK;
}

/* A known id, or NULL when there is none after a few tries. */
static const char *some_known(run *u) {
  for (int t = 0; t < 50; t++) {
    const char *id = u->ids[cm_check_rng_int(&u->g, 0, POOL - 1)];
    if (known(u, id))
      return id;
  }
  return NULL;
}

static void expect_ok(cm_status st, const cm_error *err, const char *what) {
  cr_assert_eq(st, CM_OK, "%s: %s (%s) %s", what, cm_status_name(st),
               err->field, err->message);
}

/* Both stores give the same answers to nq random queries. */
static void same_nearest(run *u, int nq, int64_t stale) {
  enum { KM = 24 };
  cm_store_query qs[16];
  cm_store_hit a[16 * KM], b[16 * KM];
  int ca[16], cb[16];
  cm_error err;
  cr_assert(nq <= 16);
  for (int i = 0; i < nq; i++) {
    memset(&qs[i], 0, sizeof qs[i]);
    rand_pos(&u->g, &qs[i].lat, &qs[i].lon);
    static const double radii[] = {0.5, 2, 5, 20, 1500, 20100};
    qs[i].radius_km = radii[cm_check_rng_int(&u->g, 0, 5)];
    qs[i].k = cm_check_rng_int(&u->g, 1, KM);
    if (cm_check_rng_chance(&u->g, 0.4))
      qs[i].need_all = (cm_skillset)1 << cm_check_rng_int(&u->g, 0, 5);
    if (cm_check_rng_chance(&u->g, 0.3))
      qs[i].need_any = (cm_skillset)cm_check_rng_int(&u->g, 1, 63);
  }
  expect_ok(cm_store_nearest(u->rs, qs, nq, KM, u->now, stale, a, ca, &err),
            &err, "redis nearest");
  expect_ok(cm_store_nearest(u->ms, qs, nq, KM, u->now, stale, b, cb, &err),
            &err, "memory nearest");
  for (int i = 0; i < nq; i++) {
    cr_assert_eq(ca[i], cb[i], "query %d: redis %d hits, memory %d", i, ca[i],
                 cb[i]);
    for (int j = 0; j < ca[i]; j++)
      cr_assert(!strcmp(a[i * KM + j].id, b[i * KM + j].id) &&
                    a[i * KM + j].distance_km == b[i * KM + j].distance_km,
                "query %d hit %d: redis %s %.17g, memory %s %.17g", i, j,
                a[i * KM + j].id, a[i * KM + j].distance_km, b[i * KM + j].id,
                b[i * KM + j].distance_km);
  }
}

typedef struct collected {
  cm_worker *w;
  int n, cap;
} collected;

static void collect(void *ctx, const cm_worker *w) {
  collected *c = ctx;
  if (c->n == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 64;
    c->w = realloc(c->w, (size_t)c->cap * sizeof *c->w);
    cr_assert_not_null(c->w);
  }
  c->w[c->n++] = *w;
}

/* Both stores hold the same workers, in the same order, byte for byte. */
static void same_workers(run *u) {
  collected a = {0}, b = {0};
  cm_error err;
  expect_ok(cm_store_each(u->rs, collect, &a, &err), &err, "redis each");
  expect_ok(cm_store_each(u->ms, collect, &b, &err), &err, "memory each");
  cr_assert_eq(a.n, b.n);
  cr_assert_eq(cm_contract_count(u->rs), a.n);
  for (int i = 0; i < a.n; i++)
    cr_assert(!memcmp(&a.w[i], &b.w[i], sizeof a.w[i]),
              "worker #%d (%s / %s) differs", i, a.w[i].id, b.w[i].id);
  free(a.w);
  free(b.w);
}

/* Bulk positions on Redis, one by one on memory. */
static void bulk_move(run *u) {
  enum { MAXN = 700 };
  static const char *ids[MAXN];
  static double lat[MAXN], lon[MAXN];
  static int64_t seen[MAXN];
  int n = cm_check_rng_int(&u->g, 1, MAXN);
  int m = 0;
  cm_error err;
  for (int i = 0; i < n; i++) {
    const char *id = some_known(u);
    if (!id)
      break;
    ids[m] = id;
    if (cm_check_rng_chance(&u->g, 0.7)) {
      cm_worker w;
      cm_store_get(u->ms, id, &w, NULL);
      lat[m] = w.has_position ? w.lat : LAT0;
      lon[m] = w.has_position ? w.lon : LON0;
      lat[m] =
          fmax(-90, fmin(90, lat[m] + cm_check_rng_real(&u->g, -1e-3, 1e-3)));
      lon[m] =
          fmax(-180, fmin(180, lon[m] + cm_check_rng_real(&u->g, -1e-3, 1e-3)));
    } else {
      rand_pos(&u->g, &lat[m], &lon[m]);
    }
    seen[m] = u->now - cm_check_rng_int(&u->g, 0, 3000);
    m++;
  }
  expect_ok(cm_store_redis_positions(u->rs, m, ids, lat, lon, seen, &err), &err,
            "bulk positions");
  for (int i = 0; i < m; i++)
    expect_ok(cm_store_position(u->ms, ids[i], lat[i], lon[i], seen[i], &err),
              &err, "memory position");
}

/* ops random calls on both stores. */
static void random_run(run *u, int ops) {
  cm_error err;
  for (int op = 0; op < ops; op++) {
    u->now += cm_check_rng_int(&u->g, 0, 800);
    int dice = cm_check_rng_int(&u->g, 0, 99);
    const char *id = u->ids[cm_check_rng_int(&u->g, 0, POOL - 1)];
    if (dice < 30) {
      cm_worker w = rand_worker(u, id);
      expect_ok(cm_store_upsert(u->rs, &w, &err), &err, "upsert");
      expect_ok(cm_store_upsert(u->ms, &w, &err), &err, "memory upsert");
    } else if (dice < 50) {
      if (!(id = some_known(u)))
        continue;
      double lat, lon;
      rand_pos(&u->g, &lat, &lon);
      int64_t seen = u->now - cm_check_rng_int(&u->g, 0, 3000);
      expect_ok(cm_store_position(u->rs, id, lat, lon, seen, &err), &err,
                "position");
      expect_ok(cm_store_position(u->ms, id, lat, lon, seen, &err), &err,
                "memory position");
    } else if (dice < 56) {
      bulk_move(u);
    } else if (dice < 74) {
      if (!(id = some_known(u)))
        continue;
      cm_worker_status st = (cm_worker_status)cm_check_rng_int(&u->g, 0, 3);
      expect_ok(cm_store_status(u->rs, id, st, &err), &err, "status");
      expect_ok(cm_store_status(u->ms, id, st, &err), &err, "memory status");
    } else if (dice < 82) {
      if (!(id = some_known(u)))
        continue;
      expect_ok(cm_store_remove(u->rs, id, &err), &err, "remove");
      expect_ok(cm_store_remove(u->ms, id, &err), &err, "memory remove");
    } else if (dice < 86) {
      int64_t stale = cm_check_rng_int(&u->g, 0, 8000);
      int a = cm_contract_swept(u->rs, u->now, stale, &err);
      int b = cm_contract_swept(u->ms, u->now, stale, &err);
      cr_assert_eq(a, b, "sweep: redis %d, memory %d", a, b);
    } else {
      same_nearest(u, cm_check_rng_int(&u->g, 1, 8),
                   cm_check_rng_chance(&u->g, 0.5) ? 0 : 4000);
    }
  }
}

static void run_init(run *u, uint64_t seed) {
  memset(u, 0, sizeof *u);
  u->rs = make_redis(NULL);
  u->ms = cm_store_memory_new(0);
  cr_assert_not_null(u->ms);
  cm_check_rng_seed(&u->g, seed);
  u->now = T0;
  for (int i = 0; i < POOL; i++)
    snprintf(u->ids[i], CM_ID_MAX, "w%03d", i);
}

static void run_free(run *u) {
  cm_store_free(u->rs);
  cm_store_free(u->ms);
}

/* ---- invariants of the key layout, checked key by key ---- */

typedef struct hash_view {
  int status, has_position, capacity;
  unsigned long long skills;
  long long seen_ms;
  double lat, lon;   /* exact position */
  char z[32];        /* ix: the seen score, "-" without a position */
  char index[32];    /* ix: "-", or the skills of an eligible worker */
  int indexed;       /* ix names an indexed position: */
  double glat, glon; /* the indexed position */
} hash_view;

/* Split ix ("<z> -", "<z> <skills>" or "<z> <skills> <glat> <glon>"). */
static void read_ix(const char *ix, hash_view *h) {
  char a[40] = "", o[40] = "";
  int n = sscanf(ix, "%31s %31s %39s %39s", h->z, h->index, a, o);
  cr_assert(n == 2 || n == 4, "ix \"%s\" malformed", ix);
  h->indexed = n == 4;
  h->glat = h->indexed ? strtod(a, NULL) : NAN;
  h->glon = h->indexed ? strtod(o, NULL) : NAN;
}

static hash_view read_hash(redisContext *c, const char *prefix,
                           const char *id) {
  redisReply *r = cmd(c,
                      "HMGET %sworker:%s status has_position capacity "
                      "skills seen_ms lat lon ix",
                      prefix, id);
  cr_assert_eq(r->elements, 8);
  for (int i = 0; i < 8; i++)
    cr_assert_eq(r->element[i]->type, REDIS_REPLY_STRING,
                 "worker %s lacks a field", id);
  hash_view h;
  h.status = atoi(r->element[0]->str);
  h.has_position = atoi(r->element[1]->str);
  h.capacity = atoi(r->element[2]->str);
  h.skills = strtoull(r->element[3]->str, NULL, 10);
  h.seen_ms = strtoll(r->element[4]->str, NULL, 10);
  h.lat = strtod(r->element[5]->str, NULL);
  h.lon = strtod(r->element[6]->str, NULL);
  read_ix(r->element[7]->str, &h);
  freeReplyObject(r);
  return h;
}

/* ix and the seen set agree with the hash: the eligibility part, and the
 * seen score z, at most SEEN_SLACK_MS behind seen_ms (exact beyond
 * 2^53). */
static void check_ix(const char *id, const hash_view *h, int seen,
                     double score) {
  int eligible = h->status == 0 && h->capacity > 0;
  cr_assert_eq(!strcmp(h->index, "-"), !eligible, "%s: ix eligibility", id);
  if (eligible)
    cr_assert_eq(strtoull(h->index, NULL, 10), h->skills, "%s: ix skills", id);
  cr_assert_eq(h->indexed, eligible && h->has_position, "%s: ix indexed", id);
  cr_assert_eq(!strcmp(h->z, "-"), !h->has_position, "%s: ix z", id);
  if (!seen)
    return;
  long long z = strtoll(h->z, NULL, 10);
  cr_assert(score == (double)z, "%s: seen score %.17g vs ix %s", id, score,
            h->z);
  if (h->seen_ms >= (1LL << 53))
    cr_assert_eq(z, h->seen_ms, "%s: seen score beyond 2^53", id);
  else
    cr_assert(z <= h->seen_ms && h->seen_ms - z < SEEN_SLACK_MS,
              "%s: seen score %lld for seen_ms %lld", id, z, h->seen_ms);
}

static int in_zset(redisContext *c, const char *key, const char *id,
                   double *score) {
  redisReply *r = cmd(c, "ZSCORE %s %s", key, id);
  int in = r->type == REDIS_REPLY_STRING;
  if (in && score)
    *score = strtod(r->str, NULL);
  freeReplyObject(r);
  return in;
}

static long long integer(redisContext *c, const char *fmt, const char *a) {
  redisReply *r = cmd(c, fmt, a);
  cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
  long long v = r->integer;
  freeReplyObject(r);
  return v;
}

static int offgrid(double lat, double lon) {
  return fabs(lat) > GEO_LIMIT - 1e-6 || fabs(lon) > 180 - 1e-6;
}

/* Every invariant of redis_scripts.c, for every worker of the region. */
static void check_layout(redisContext *c, const char *region) {
  char prefix[96], key[160];
  snprintf(prefix, sizeof prefix, "cm:{%s}:", region);
  snprintf(key, sizeof key, "%sworkers", prefix);
  redisReply *ws = cmd(c, "ZRANGE %s 0 -1", key);
  long long n_off = 0, n_seen = 0, n_skill[32] = {0};
  for (size_t i = 0; i < ws->elements; i++) {
    const char *id = ws->element[i]->str;
    hash_view h = read_hash(c, prefix, id);
    int match = h.status == 0 && h.has_position && h.capacity > 0;
    int off = match && offgrid(h.glat, h.glon);
    double score = 0;
    snprintf(key, sizeof key, "%sseen", prefix);
    int seen = in_zset(c, key, id, &score);
    cr_assert_eq(seen, h.has_position, "%s: seen set vs has_position", id);
    check_ix(id, &h, seen, score);
    n_seen += seen;
    if (match) { /* on the grid the index trails by at most LAG_KM; off
                    it, nearest reads exact positions */
      double lag = off ? 0 : cm_geo_distance_km(h.lat, h.lon, h.glat, h.glon);
      cr_assert(lag <= LAG_KM,
                "%s: indexed %.3f km away (%.9f, %.9f) vs (%.9f, %.9f)", id,
                lag, h.lat, h.lon, h.glat, h.glon);
      cr_assert_eq(off, offgrid(h.lat, h.lon), "%s: off the grid or not", id);
    }
    snprintf(key, sizeof key, "%soffgrid", prefix);
    redisReply *pr = cmd(c, "SISMEMBER %s %s", key, id);
    long long in_off = pr->integer;
    freeReplyObject(pr);
    cr_assert_eq(in_off, match && off, "%s: offgrid set", id);
    n_off += in_off;
    for (int s = 0; s < 32; s++) {
      snprintf(key, sizeof key, "%sgeo:%d", prefix, s);
      int in = in_zset(c, key, id, NULL);
      cr_assert_eq(in, match && !off && (h.skills >> s & 1),
                   "%s: geo:%d (skills %#llx, status %d, pos %d, cap %d, "
                   "indexed at %.9f, %.9f)",
                   id, s, h.skills, h.status, h.has_position, h.capacity,
                   h.glat, h.glon);
      n_skill[s] += in;
      if (!in)
        continue;
      /* the GEO position is the indexed one, quantised */
      redisReply *p = cmd(c, "GEOPOS %s %s", key, id);
      cr_assert_eq(p->element[0]->type, REDIS_REPLY_ARRAY);
      double lon = strtod(p->element[0]->element[0]->str, NULL);
      double lat = strtod(p->element[0]->element[1]->str, NULL);
      freeReplyObject(p);
      double d = cm_geo_distance_km(h.glat, h.glon, lat, lon);
      cr_assert(d < 0.001, "%s: GEO position %.3f m from glat/glon", id,
                d * 1000);
    }
  }
  /* no member without a worker */
  snprintf(key, sizeof key, "%soffgrid", prefix);
  cr_assert_eq(integer(c, "SCARD %s", key), n_off);
  snprintf(key, sizeof key, "%sseen", prefix);
  cr_assert_eq(integer(c, "ZCARD %s", key), n_seen);
  for (int s = 0; s < 32; s++) {
    snprintf(key, sizeof key, "%sgeo:%d", prefix, s);
    cr_assert_eq(integer(c, "ZCARD %s", key), n_skill[s], "geo:%d", s);
  }
  key_list kl = region_keys(c, region);
  int hashes = 0;
  for (int i = 0; i < kl.n; i++)
    hashes += strncmp(kl.k[i] + strlen(prefix), "worker:", 7) == 0;
  cr_assert_eq(hashes, (int)ws->elements, "worker hashes vs workers set");
  key_list_free(&kl);
  freeReplyObject(ws);
}

/* ---- Redis-specific tests ---- */

/* Every key of a region carries the hash tag {region} and is one of the
 * documented families; all of them map to one Cluster slot. */
Test(redis_store, keys_are_hash_tagged, .init = setup, .fini = teardown) {
  run u;
  run_init(&u, 5);
  random_run(&u, 800);
  const char *region = cm_redis_region(cm_store_redis_conn(u.rs));
  redisContext *c = cm_test_side_connect(g_srv.port);
  cr_assert_not_null(c);
  key_list kl = region_keys(c, region);
  char prefix[96];
  int plen = snprintf(prefix, sizeof prefix, "cm:{%s}:", region);
  cr_assert(kl.n > 10, "the run left keys");
  long long slot = -1;
  for (int i = 0; i < kl.n; i++) {
    const char *k = kl.k[i];
    cr_assert(!strncmp(k, prefix, (size_t)plen), "key %s lacks %s", k, prefix);
    const char *open = strchr(k, '{'), *close = open ? strchr(open, '}') : NULL;
    cr_assert(close && (size_t)(close - open - 1) == strlen(region) &&
                  !strncmp(open + 1, region, strlen(region)),
              "key %s: the hash tag is not {%s}", k, region);
    const char *rest = k + plen;
    cr_assert(!strcmp(rest, "seen") || !strcmp(rest, "workers") ||
                  !strcmp(rest, "seq") || !strcmp(rest, "offgrid") ||
                  !strcmp(rest, "changes") || !strcmp(rest, "live") ||
                  !strcmp(rest, "events") || !strcmp(rest, "rseq") ||
                  !strncmp(rest, "req:", 4) || !strncmp(rest, "geo:", 4) ||
                  !strncmp(rest, "worker:", 7),
              "unexpected key %s", k);
    redisReply *r = redisCommand(c, "CLUSTER KEYSLOT %s", k);
    cr_assert_not_null(r);
    if (r->type == REDIS_REPLY_INTEGER) { /* not on every server */
      if (slot < 0)
        slot = r->integer;
      cr_assert_eq(r->integer, slot, "key %s is in another slot", k);
    }
    freeReplyObject(r);
  }
  key_list_free(&kl);
  redisFree(c);
  run_free(&u);
}

/* After a random run (upserts, moves one by one and in bulk, statuses,
 * removals, sweeps; positions beyond GEO's limits, at them, on the
 * antimeridian, anywhere), the GEO sets, the offgrid set and the seen set
 * agree with the hashes; the
 * store answers like the memory store fed the same calls; and GEOSEARCH
 * itself finds what the store answers. */
Test(redis_store, geo_sets_agree_with_hashes, .init = setup, .fini = teardown) {
  run u;
  run_init(&u, 11);
  random_run(&u, 2500);
  same_workers(&u);
  same_nearest(&u, 16, 0);
  redisContext *c = cm_test_side_connect(g_srv.port);
  cr_assert_not_null(c);
  const char *region = cm_redis_region(cm_store_redis_conn(u.rs));
  check_layout(c, region);
  /* GEOSEARCH on every skill's set against the store's nearest (k never
   * binding, no skill rule): with the index lag and a margin, GEOSEARCH
   * finds everybody the store answers */
  enum { K = 400 };
  static cm_store_hit hits[K];
  static char found_ids[4096][CM_ID_MAX];
  for (int t = 0; t < 100; t++) {
    cm_store_query q;
    memset(&q, 0, sizeof q);
    q.lat = LAT0 + cm_check_rng_real(&u.g, -0.08, 0.08);
    q.lon = LON0 + cm_check_rng_real(&u.g, -0.1, 0.1);
    q.radius_km = cm_check_rng_real(&u.g, 0.2, 6);
    q.k = K;
    int n, m = 0;
    cm_error err;
    expect_ok(cm_store_nearest(u.rs, &q, 1, K, u.now, 0, hits, &n, &err), &err,
              "nearest");
    cr_assert(n < K);
    for (int s = 0; s < 32; s++) {
      redisReply *r =
          cmd(c,
              "GEOSEARCH cm:{%s}:geo:%d FROMLONLAT %.17g %.17g "
              "BYRADIUS %.17g km",
              region, s, q.lon, q.lat, (q.radius_km + LAG_KM) * 1.001 + 0.01);
      for (size_t j = 0; j < r->elements; j++) {
        int dup = 0;
        for (int e = 0; e < m && !dup; e++)
          dup = !strcmp(found_ids[e], r->element[j]->str);
        if (!dup && m < 4096)
          snprintf(found_ids[m++], CM_ID_MAX, "%s", r->element[j]->str);
      }
      freeReplyObject(r);
    }
    int inside = 0;
    for (int j = 0; j < m; j++) {
      const char *id = found_ids[j];
      cm_worker w;
      cr_assert_eq(cm_store_get(u.rs, id, &w, &err), CM_OK);
      int found = 0;
      for (int h = 0; h < n; h++)
        found |= !strcmp(hits[h].id, id);
      double d = cm_geo_distance_km(q.lat, q.lon, w.lat, w.lon);
      cr_assert_eq(found, d <= q.radius_km,
                   "GEOSEARCH member %s at %.9f km (radius %.9f): store %s", id,
                   d, q.radius_km, found ? "answers it" : "does not");
      inside += found;
    }
    cr_assert_eq(inside, n, "the store answered workers GEOSEARCH missed");
  }
  redisFree(c);
  run_free(&u);
}

/* Bulk positions: duplicates in a chunk (the later wins), moving off GEO's
 * grid and back, workers without a position getting one,
 * unavailable workers; then unknown ids and bad values fail before
 * anything is written. */
Test(redis_store, bulk_positions, .init = setup, .fini = teardown) {
  run u;
  run_init(&u, 23);
  cm_error err;
  for (int i = 0; i < POOL; i++) {
    cm_worker w = rand_worker(&u, u.ids[i]);
    expect_ok(cm_store_upsert(u.rs, &w, &err), &err, "upsert");
    expect_ok(cm_store_upsert(u.ms, &w, &err), &err, "upsert");
  }
  for (int round = 0; round < 30; round++) {
    bulk_move(&u);
    same_nearest(&u, 8, round % 2 ? 2000 : 0);
  }
  const char *ids[] = {"w001", "w002", "w001", "w003", "w001"};
  double lat[] = {89.5, LAT0, 10, -89.9, LAT0 + 0.001};
  double lon[] = {10, LON0, 180, 30, LON0};
  int64_t seen[] = {T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4};
  expect_ok(cm_store_redis_positions(u.rs, 5, ids, lat, lon, seen, &err), &err,
            "bulk with repeats");
  for (int i = 0; i < 5; i++)
    expect_ok(cm_store_position(u.ms, ids[i], lat[i], lon[i], seen[i], &err),
              &err, "memory");
  same_workers(&u);
  same_nearest(&u, 16, 0);
  redisContext *c = cm_test_side_connect(g_srv.port);
  const char *region = cm_redis_region(cm_store_redis_conn(u.rs));
  check_layout(c, region);

  /* failures change nothing */
  snapshot before = take_snapshot(c, region);
  const char *bad_ids[] = {"w004", "w005", "nobody", "w006"};
  cm_status st =
      cm_store_redis_positions(u.rs, 4, bad_ids, lat, lon, seen, &err);
  cr_assert_eq(st, CM_E_UNKNOWN_ID);
  cr_assert_str_eq(err.field, "$.positions[2].id");
  /* unknown ids in later look-up chunks, among repeats (EXISTS counts a
     repeat twice): the first one is named */
  enum { LONG = 600 };
  static const char *long_ids[LONG];
  static double long_lat[LONG], long_lon[LONG];
  static int64_t long_seen[LONG];
  for (int i = 0; i < LONG; i++) {
    long_ids[i] = u.ids[i % 7];
    long_lat[i] = LAT0;
    long_lon[i] = LON0;
    long_seen[i] = T0 + i;
  }
  long_ids[540] = "nobody";
  long_ids[300] = "nobody either";
  st = cm_store_redis_positions(u.rs, LONG, long_ids, long_lat, long_lon,
                                long_seen, &err);
  cr_assert_eq(st, CM_E_UNKNOWN_ID);
  cr_assert_str_eq(err.field, "$.positions[300].id");
  long_ids[300] = u.ids[0];
  st = cm_store_redis_positions(u.rs, LONG, long_ids, long_lat, long_lon,
                                long_seen, &err);
  cr_assert_eq(st, CM_E_UNKNOWN_ID);
  cr_assert_str_eq(err.field, "$.positions[540].id");
  double bad_lat[] = {LAT0, NAN, LAT0, LAT0};
  st = cm_store_redis_positions(u.rs, 4, ids, bad_lat, lon, seen, &err);
  cr_assert_eq(st, CM_E_RANGE);
  cr_assert_str_eq(err.field, "$.positions[1].lat");
  double bad_lon[] = {LON0, LON0, LON0, 181};
  st = cm_store_redis_positions(u.rs, 4, ids, lat, bad_lon, seen, NULL);
  cr_assert_eq(st, CM_E_RANGE);
  int64_t bad_seen[] = {T0, T0, -1, T0};
  st = cm_store_redis_positions(u.rs, 4, ids, lat, lon, bad_seen, &err);
  cr_assert_str_eq(err.field, "$.positions[2].seen_ms");
  const char *null_id[] = {"w001", NULL};
  st = cm_store_redis_positions(u.rs, 2, null_id, lat, lon, seen, &err);
  cr_assert_eq(st, CM_E_INVALID);
  cr_assert_str_eq(err.field, "$.positions[1].id");
  const char *empty_id[] = {""};
  st = cm_store_redis_positions(u.rs, 1, empty_id, lat, lon, seen, &err);
  cr_assert_eq(st, CM_E_UNKNOWN_ID);
  cr_assert_eq(cm_store_redis_positions(u.rs, -1, ids, lat, lon, seen, &err),
               CM_E_RANGE);
  cr_assert_eq(cm_store_redis_positions(u.rs, 2, NULL, lat, lon, seen, &err),
               CM_E_INVALID);
  cr_assert_eq(cm_store_redis_positions(u.ms, 1, ids, lat, lon, seen, &err),
               CM_E_INVALID, "a memory store is not a Redis store");
  expect_ok(cm_store_redis_positions(u.rs, 0, NULL, NULL, NULL, NULL, &err),
            &err, "nothing to move");
  snapshot after = take_snapshot(c, region);
  same_snapshot(&before, &after, "failed bulk positions");
  snapshot_free(&before);
  snapshot_free(&after);
  redisFree(c);
  run_free(&u);
}

/* Bad input to every call is refused before anything is sent: Redis is
 * byte for byte unchanged. */
Test(redis_store, bad_input_changes_nothing_in_redis, .init = setup,
     .fini = teardown) {
  run u;
  run_init(&u, 31);
  random_run(&u, 400);
  redisContext *c = cm_test_side_connect(g_srv.port);
  const char *region = cm_redis_region(cm_store_redis_conn(u.rs));
  snapshot before = take_snapshot(c, region);
  cm_error err;
  const char *id = some_known(&u);
  cr_assert_not_null(id);
  cm_worker w;
  cr_assert_eq(cm_store_get(u.rs, id, &w, &err), CM_OK);
  cm_worker bad = w;
  bad.lat = NAN;
  bad.has_position = 1;
  cr_assert_eq(cm_store_upsert(u.rs, &bad, &err), CM_E_RANGE);
  bad = w;
  bad.skills = 0;
  cr_assert_eq(cm_store_upsert(u.rs, &bad, &err), CM_E_INVALID);
  bad = w;
  bad.rating = 7;
  cr_assert_eq(cm_store_upsert(u.rs, &bad, &err), CM_E_RANGE);
  bad = w;
  memset(bad.id, 'q', CM_ID_MAX);
  cr_assert_eq(cm_store_upsert(u.rs, &bad, &err), CM_E_INVALID);
  cr_assert_eq(cm_store_upsert(u.rs, NULL, &err), CM_E_INVALID);
  cr_assert_eq(cm_store_position(u.rs, id, 91, 0, T0, &err), CM_E_RANGE);
  cr_assert_eq(cm_store_position(u.rs, id, 0, NAN, T0, &err), CM_E_RANGE);
  cr_assert_eq(cm_store_position(u.rs, id, 0, 0, -5, &err), CM_E_RANGE);
  cr_assert_eq(cm_store_position(u.rs, "nobody", 0, 0, 5, &err),
               CM_E_UNKNOWN_ID);
  cr_assert_eq(cm_store_position(u.rs, NULL, 0, 0, 5, &err), CM_E_INVALID);
  cr_assert_eq(cm_store_status(u.rs, id, (cm_worker_status)9, &err),
               CM_E_RANGE);
  cr_assert_eq(cm_store_status(u.rs, "nobody", CM_WORKER_BUSY, &err),
               CM_E_UNKNOWN_ID);
  cr_assert_eq(cm_store_remove(u.rs, "nobody", &err), CM_E_UNKNOWN_ID);
  cr_assert_eq(cm_store_remove(u.rs, "", &err), CM_E_UNKNOWN_ID);
  cr_assert_eq(cm_store_get(u.rs, NULL, NULL, &err), CM_E_INVALID);
  cr_assert_eq(cm_contract_swept(u.rs, T0, -1, &err), -1);
  cr_assert_eq(cm_contract_swept(u.rs, -1, 5, &err), -1);
  cr_assert_eq(cm_store_each(u.rs, NULL, NULL, &err), CM_E_INVALID);
  cm_store_query q = {.lat = LAT0, .lon = LON0, .radius_km = -1, .k = 1};
  cm_store_hit h[1];
  int n;
  cr_assert_eq(cm_store_nearest(u.rs, &q, 1, 1, T0, 0, h, &n, &err),
               CM_E_RANGE);
  cr_assert_str_eq(err.field, "$.queries[0].radius_km");
  snapshot after = take_snapshot(c, region);
  same_snapshot(&before, &after, "bad input");
  snapshot_free(&before);
  snapshot_free(&after);
  redisFree(c);
  run_free(&u);
}

/* The server lost its script cache (SCRIPT FLUSH, a failover): every
 * scripted call loads the scripts again and succeeds. */
Test(redis_store, noscript_is_recovered, .init = setup_own, .fini = teardown) {
  run u;
  run_init(&u, 41);
  redisContext *c = cm_test_side_connect(g_srv.port);
  cm_error err;
  const char *calls[] = {"upsert", "position", "status",
                         "sweep",  "bulk",     "remove"};
  cm_worker w = rand_worker(&u, "w000");
  w.status = CM_WORKER_AVAILABLE;
  w.has_position = 1;
  w.lat = LAT0;
  w.lon = LON0;
  w.capacity = 1;
  for (int i = 0; i < 6; i++) {
    freeReplyObject(cmd(c, "SCRIPT FLUSH"));
    const char *ids[] = {"w000"};
    double lat[] = {LAT0 + 0.01}, lon[] = {LON0};
    int64_t seen[] = {T0};
    cm_status st = CM_OK;
    switch (i) {
    case 0:
      st = cm_store_upsert(u.rs, &w, &err);
      break;
    case 1:
      st = cm_store_position(u.rs, "w000", LAT0, LON0 + 0.01, T0, &err);
      break;
    case 2:
      st = cm_store_status(u.rs, "w000", CM_WORKER_BUSY, &err);
      break;
    case 3:
      st = cm_contract_swept(u.rs, T0 + 100000, 10, &err) >= 0 ? CM_OK
                                                               : err.code;
      break;
    case 4:
      st = cm_store_redis_positions(u.rs, 1, ids, lat, lon, seen, &err);
      break;
    default:
      st = cm_store_remove(u.rs, "w000", &err);
      break;
    }
    cr_assert_eq(st, CM_OK, "%s after SCRIPT FLUSH: %s", calls[i], err.message);
  }
  cr_assert_eq(cm_contract_count(u.rs), 0);
  redisFree(c);
  run_free(&u);
}

/* Argument checks of the constructors; an unreachable server. */
Test(redis_store, constructor_errors, .init = setup, .fini = teardown) {
  cm_error err;
  cr_assert_null(cm_store_redis_new("127.0.0.1", g_srv.port, "", &err));
  cr_assert_eq(err.code, CM_E_INVALID);
  cr_assert_str_eq(err.field, "$.region");
  cr_assert_null(cm_store_redis_new("127.0.0.1", g_srv.port, "a{b}", &err));
  cr_assert_str_eq(err.field, "$.region");
  cr_assert_null(cm_store_redis_new("127.0.0.1", g_srv.port, "a*", &err));
  char long_region[CM_REDIS_REGION_MAX + 2];
  memset(long_region, 'r', sizeof long_region - 1);
  long_region[sizeof long_region - 1] = '\0';
  cr_assert_null(
      cm_store_redis_new("127.0.0.1", g_srv.port, long_region, &err));
  cr_assert_str_eq(err.field, "$.region");
  long_region[CM_REDIS_REGION_MAX] = '\0'; /* the longest allowed */
  cm_store *s = cm_store_redis_new("127.0.0.1", g_srv.port, long_region, &err);
  cr_assert_not_null(s, "%s", err.message);
  cm_store_free(s);
  cr_assert_null(cm_store_redis_new(NULL, g_srv.port, "r", &err));
  cr_assert_str_eq(err.field, "$.host");
  cr_assert_null(cm_store_redis_new("127.0.0.1", 0, "r", &err));
  cr_assert_str_eq(err.field, "$.port");
  int dead = cm_test_free_port();
  double t0 = now_ms();
  cr_assert_null(cm_store_redis_new("127.0.0.1", dead, "r", &err));
  cr_assert_eq(err.code, CM_E_UNAVAILABLE);
  char where[64];
  snprintf(where, sizeof where, "127.0.0.1:%d", dead);
  cr_assert(strstr(err.message, where), "message names the server: %s",
            err.message);
  cr_assert(now_ms() - t0 < 3000, "a refused connect fails at once");
  cr_assert_null(cm_store_redis_open(NULL, &err));
  cr_assert_null(cm_store_redis_conn(NULL));
  cm_store *m = cm_store_memory_new(0);
  cr_assert_null(cm_store_redis_conn(m));
  cr_assert_eq(cm_store_redis_flush(m, &err), CM_E_INVALID);
  cm_store_free(m);
  cm_redis_free(NULL);
  cr_assert_str_eq(cm_redis_region(NULL), "");
  cr_assert_eq(cm_redis_connected(NULL), 0);
}

/* Every call on a store whose server is gone: CM_E_UNAVAILABLE (count -1,
 * sweep -1), nothing written to the caller's buffers, no crash. */
static void all_calls_unavailable(cm_store *s, const char *what) {
  cm_error err;
  cm_worker w;
  cm_worker_init(&w);
  strcpy(w.id, "w000");
  w.skills = 1;
  cr_assert_eq(cm_store_upsert(s, &w, &err), CM_E_UNAVAILABLE, "%s: upsert",
               what);
  cr_assert_neq(err.message[0], '\0');
  cr_assert_eq(cm_store_position(s, "w000", 1, 1, 1, &err), CM_E_UNAVAILABLE);
  cr_assert_eq(cm_store_status(s, "w000", CM_WORKER_BUSY, &err),
               CM_E_UNAVAILABLE);
  cr_assert_eq(cm_store_get(s, "w000", &w, &err), CM_E_UNAVAILABLE);
  cr_assert_eq(cm_store_remove(s, "w000", &err), CM_E_UNAVAILABLE);
  cm_store_query q = {.lat = LAT0, .lon = LON0, .radius_km = 5, .k = 2};
  cm_store_hit h[2];
  int n = -7;
  cr_assert_eq(cm_store_nearest(s, &q, 1, 2, T0, 0, h, &n, &err),
               CM_E_UNAVAILABLE);
  cr_assert_eq(n, -7, "a failed nearest writes no count");
  cr_assert_eq(cm_contract_swept(s, T0, 10, &err), -1);
  cr_assert_eq(err.code, CM_E_UNAVAILABLE);
  cr_assert_eq(cm_contract_count(s), -1);
  collected col = {0};
  cr_assert_eq(cm_store_each(s, collect, &col, &err), CM_E_UNAVAILABLE);
  cr_assert_eq(col.n, 0);
  const char *ids[] = {"w000"};
  double lat[] = {1}, lon[] = {1};
  int64_t seen[] = {1};
  cr_assert_eq(cm_store_redis_positions(s, 1, ids, lat, lon, seen, &err),
               CM_E_UNAVAILABLE);
  cr_assert_eq(cm_redis_ping(cm_store_redis_conn(s), &err), CM_E_UNAVAILABLE);
}

/* redis-server killed mid-run: calls fail cleanly, quickly once the
 * backoff holds them back; started again on the same port, the next call
 * after the backoff reconnects and works. */
Test(redis_store, server_restart, .init = setup, .fini = teardown) {
  int port = cm_test_free_port();
  pid_t pid = cm_test_server_start(port, NULL);
  cm_redis_options o;
  cm_redis_options_init(&o);
  o.timeout_ms = 2000;
  o.backoff_min_ms = 20;
  o.backoff_max_ms = 80;
  cm_error err;
  char region[32];
  next_region(region, sizeof region);
  cm_redis *r = cm_redis_new("127.0.0.1", port, region, &o, &err);
  cr_assert_not_null(r, "%s", err.message);
  cm_store *s = cm_store_redis_open(r, &err);
  cr_assert_not_null(s);
  cm_worker w;
  cm_worker_init(&w);
  strcpy(w.id, "before");
  w.skills = 1;
  w.has_position = 1;
  w.lat = LAT0;
  w.lon = LON0;
  cr_assert_eq(cm_store_upsert(s, &w, &err), CM_OK);
  cr_assert(cm_redis_connected(r));

  cm_test_server_kill(pid, SIGKILL);
  cr_assert_eq(cm_store_upsert(s, &w, &err), CM_E_UNAVAILABLE);
  char where[64];
  snprintf(where, sizeof where, "127.0.0.1:%d", port);
  cr_assert(strstr(err.message, where), "%s", err.message);
  cr_assert(!cm_redis_connected(r));
  double t0 = now_ms();
  for (int i = 0; i < 3; i++)
    all_calls_unavailable(s, "server down");
  cr_assert(now_ms() - t0 < 3000, "calls against a dead server fail fast");

  pid = cm_test_server_start(port, NULL); /* empty: it kept nothing */
  cm_test_sleep_ms(100);                  /* past the longest backoff */
  strcpy(w.id, "after");
  cr_assert_eq(cm_store_upsert(s, &w, &err), CM_OK, "after restart: %s",
               err.message);
  cr_assert(cm_redis_connected(r));
  cr_assert_eq(cm_contract_count(s), 1);
  cm_store_query q = {.lat = LAT0, .lon = LON0, .radius_km = 1, .k = 4};
  cm_store_hit h[4];
  int n;
  cr_assert_eq(cm_store_nearest(s, &q, 1, 4, T0, 0, h, &n, &err), CM_OK);
  cr_assert_eq(n, 1);
  cr_assert_str_eq(h[0].id, "after");

  /* killed in the middle of a long pipelined call */
  enum { N = 20000 };
  static char idbuf[N][16];
  static const char *ids[N];
  static double lat[N], lon[N];
  static int64_t seen[N];
  for (int i = 0; i < N; i++) {
    snprintf(idbuf[i], sizeof idbuf[i], "b%05d", i);
    ids[i] = idbuf[i];
    lat[i] = LAT0 + i * 1e-6;
    lon[i] = LON0;
    seen[i] = T0;
    strcpy(w.id, idbuf[i]);
    if (i < 2000)
      cr_assert_eq(cm_store_upsert(s, &w, &err), CM_OK);
  }
  cr_assert_eq(cm_store_redis_positions(s, 2000, ids, lat, lon, seen, &err),
               CM_OK);
  cm_test_server_kill(pid, SIGKILL);
  cr_assert_eq(cm_store_redis_positions(s, 2000, ids, lat, lon, seen, &err),
               CM_E_UNAVAILABLE);
  cm_store_free(s);
  cm_redis_free(r);
}

/* A server that stops answering (SIGSTOP): the call gives up after the
 * timeout with CM_E_UNAVAILABLE; once it answers again, the next call
 * reconnects. */
Test(redis_store, frozen_server_times_out, .init = setup, .fini = teardown) {
  int port = cm_test_free_port();
  pid_t pid = cm_test_server_start(port, NULL);
  cm_redis_options o;
  cm_redis_options_init(&o);
  o.timeout_ms = 300;
  o.backoff_min_ms = 10;
  o.backoff_max_ms = 20;
  cm_error err;
  cm_redis *r = cm_redis_new("127.0.0.1", port, "frozen", &o, &err);
  cr_assert_not_null(r, "%s", err.message);
  cm_store *s = cm_store_redis_open(r, &err);
  cr_assert_eq(cm_redis_ping(r, &err), CM_OK);
  kill(pid, SIGSTOP);
  double t0 = now_ms();
  cr_assert_eq(cm_contract_count(s), -1);
  double waited = now_ms() - t0;
  cr_assert(waited >= 250 && waited < 2000, "gave up after %.0f ms", waited);
  cr_assert_eq(cm_redis_ping(r, &err), CM_E_UNAVAILABLE);
  kill(pid, SIGCONT);
  cm_test_sleep_ms(50);
  cr_assert_eq(cm_redis_ping(r, &err), CM_OK, "%s", err.message);
  cr_assert_eq(cm_contract_count(s), 0);
  cm_store_free(s);
  cm_redis_free(r);
  cm_test_server_kill(pid, SIGTERM);
}

typedef struct nested {
  cm_redis *r;
  cm_status got;
} nested;

static void call_from_loop(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  nested *n = arg;
  cm_error err;
  n->got = cm_redis_ping(n->r, &err);
}

static int g_reentrant_warned;

/* libevent's log, while the nested call is tried: the refusal is expected
 * to be logged as a reentrant invocation. */
static void capture_log(int severity, const char *msg) {
  (void)severity;
  g_reentrant_warned |= strstr(msg, "reentrant") != NULL;
}

/* On the caller's event_base: calls work from plain code, and are refused
 * (CM_E_CONFLICT) from a callback of that base. */
Test(redis_store, callers_event_base, .init = setup, .fini = teardown) {
  struct event_base *base = event_base_new();
  cr_assert_not_null(base);
  cm_redis_options o;
  cm_redis_options_init(&o);
  o.base = base;
  cm_error err;
  char region[32];
  next_region(region, sizeof region);
  cm_redis *r = cm_redis_new("127.0.0.1", g_srv.port, region, &o, &err);
  cr_assert_not_null(r, "%s", err.message);
  cm_store *s = cm_store_redis_open(r, &err);
  cr_assert_eq(cm_contract_count(s), 0);
  nested n = {r, CM_OK};
  struct event *ev = evtimer_new(base, call_from_loop, &n);
  struct timeval now = {0, 0};
  evtimer_add(ev, &now);
  event_set_log_callback(capture_log);
  event_base_loop(base, EVLOOP_ONCE);
  event_set_log_callback(NULL);
  cr_assert_eq(n.got, CM_E_CONFLICT);
  cr_assert(g_reentrant_warned, "libevent saw the nested loop");
  cr_assert_eq(cm_redis_ping(r, &err), CM_OK, "the connection is intact");
  event_free(ev);
  cm_store_free(s);
  cm_redis_free(r);
  event_base_free(base);
}

/* Sweep compares seen_ms exactly, even where doubles cannot (> 2^53). */
Test(redis_store, sweep_is_exact_beyond_2_53, .init = setup, .fini = teardown) {
  cm_store *s = make_redis(NULL);
  cm_error err;
  const int64_t big = 9007199254740993LL; /* 2^53 + 1 */
  const char *ids[] = {"older", "edge"};
  for (int i = 0; i < 2; i++) {
    cm_worker w;
    cm_worker_init(&w);
    strcpy(w.id, ids[i]);
    w.skills = 1;
    w.has_position = 1;
    w.lat = LAT0;
    w.lon = LON0;
    w.seen_ms = big + i; /* 2^53 + 1 and 2^53 + 2: one double */
    cr_assert_eq(cm_store_upsert(s, &w, &err), CM_OK);
  }
  /* limit 2^53 + 2: "older" is stale, "edge" exactly at the limit */
  cr_assert_eq(cm_contract_swept(s, big + 1 + 1000, 1000, &err), 1);
  cm_worker w;
  cr_assert_eq(cm_store_get(s, "older", &w, &err), CM_OK);
  cr_assert_eq(w.status, CM_WORKER_OFFLINE);
  cr_assert_eq(cm_store_get(s, "edge", &w, &err), CM_OK);
  cr_assert_eq(w.status, CM_WORKER_AVAILABLE);
  cr_assert_eq(w.seen_ms, big + 1);
  cm_store_free(s);
}

/* ---- the regime in which GEOSEARCH is trusted (redis_geo.h) ---- */

static double redis_distance_km(double lat1, double lon1, double lat2,
                                double lon2) {
  const double rad = 3.14159265358979323846 / 180;
  double u = sin((lat2 - lat1) * rad / 2), v = sin((lon2 - lon1) * rad / 2);
  double a = u * u + cos(lat1 * rad) * cos(lat2 * rad) * v * v;
  return 2 * R_REDIS_KM * asin(sqrt(a > 1 ? 1 : a));
}

/* A point d_km from (lat, lon) at bearing b (radians). */
static void destination(double lat, double lon, double d_km, double b,
                        double *out_lat, double *out_lon) {
  const double rad = 3.14159265358979323846 / 180;
  double p1 = lat * rad, l1 = lon * rad, dr = d_km / R_REDIS_KM;
  double p2 = asin(sin(p1) * cos(dr) + cos(p1) * sin(dr) * cos(b));
  double l2 =
      l1 + atan2(sin(b) * sin(dr) * cos(p1), cos(dr) - sin(p1) * sin(p2));
  *out_lat = p2 / rad;
  *out_lon = remainder(l2 / rad, 360.0);
}

/* In the safe regime (circle within 70 degrees of the equator, radius up
 * to 2500 km) GEOSEARCH returns every member whose (Redis) distance is
 * within the radius: members are put just inside the circle in every
 * direction, across the antimeridian too, around centres up to the
 * regime's edge. Outside the regime misses are counted, not required. */
Test(redis_store, geosearch_safe_regime, .init = setup, .fini = teardown) {
  redisContext *c = cm_test_side_connect(g_srv.port);
  cr_assert_not_null(c);
  char key[64];
  snprintf(key, sizeof key, "cm:{t%ld-geo}:fuzz", (long)getpid());
  cm_check_rng g;
  cm_check_rng_seed(&g, 2024);
  long missed_outside = 0, asked = 0;
  for (int t = 0; t < 400; t++) {
    static const double radii[] = {0.01, 0.3, 2, 5, 30, 150, 600, 2500};
    double r = radii[cm_check_rng_int(&g, 0, 7)];
    double dlat = r / R_REDIS_KM * 180 / 3.14159265358979323846;
    int inside_regime = t % 4 != 3;
    double lat;
    if (inside_regime) { /* up to the edge of the regime */
      double room = 70 - dlat;
      lat = cm_check_rng_chance(&g, 0.5) ? room
                                         : cm_check_rng_real(&g, -room, room);
      lat = cm_check_rng_chance(&g, 0.5) ? lat : -lat;
    } else {
      lat = cm_check_rng_real(&g, 70 - dlat, GEO_LIMIT);
    }
    double lon = cm_check_rng_chance(&g, 0.3)
                     ? (cm_check_rng_chance(&g, 0.5) ? 179.99 : -179.99)
                     : cm_check_rng_real(&g, -180, 180);
    freeReplyObject(cmd(c, "DEL %s", key));
    enum { M = 64 };
    double mlat[M], mlon[M];
    int present[M] = {0}, found[M] = {0};
    for (int j = 0; j < M; j++) {
      double b =
          2 * 3.14159265358979323846 * j / M + cm_check_rng_real(&g, 0, 0.05);
      double plat, plon;
      destination(lat, lon, r * cm_check_rng_real(&g, 0.97, 0.995), b, &plat,
                  &plon);
      if (fabs(plat) > GEO_LIMIT)
        continue;
      freeReplyObject(cmd(c, "GEOADD %s %.17g %.17g m%d", key, plon, plat, j));
      redisReply *p = cmd(c, "GEOPOS %s m%d", key, j);
      mlon[j] = strtod(p->element[0]->element[0]->str, NULL);
      mlat[j] = strtod(p->element[0]->element[1]->str, NULL);
      freeReplyObject(p);
      present[j] = 1;
    }
    redisReply *res = cmd(c,
                          "GEOSEARCH %s FROMLONLAT %.17g %.17g BYRADIUS "
                          "%.17g km",
                          key, lon, lat, r);
    for (size_t e = 0; e < res->elements; e++) {
      int j = atoi(res->element[e]->str + 1);
      cr_assert(j >= 0 && j < M);
      found[j] = 1;
    }
    freeReplyObject(res);
    for (int j = 0; j < M; j++) {
      if (!present[j] ||
          redis_distance_km(lat, lon, mlat[j], mlon[j]) > r * (1 - 1e-9))
        continue;
      asked++;
      if (inside_regime)
        cr_assert(found[j],
                  "GEOSEARCH missed a member %.6f km from (%.6f, %.6f), "
                  "radius %.6f km",
                  redis_distance_km(lat, lon, mlat[j], mlon[j]), lat, lon, r);
      else
        missed_outside += !found[j];
    }
  }
  cr_log_info("GEOSEARCH outside the safe regime missed %ld of %ld members",
              missed_outside, asked);
  freeReplyObject(cmd(c, "DEL %s", key));
  redisFree(c);
}
