/* bench_ledger.c -- the production path: the engine on the Redis ledger
 * with its in-process mirror (docs/ledger.md), on a seeded city.
 *
 * For 20,000 and then 50,000 workers (loaded through the engine: the
 * ledger, then the mirror), each case several runs:
 *   - mirror nearest: 2,000 queries (radius 5 km, K = 8 and 16, the
 *     request's skill as need_all) on the mirror: the batch's candidate
 *     search;
 *   - submit: 2,000 requests, each acknowledged only once Redis has it;
 *     per-request latency quantiles;
 *   - batch: the step that offers them: candidates, solve and the commit
 *     of every offer to Redis (one pipelined script per offer), with the
 *     commit's share;
 * then at 50,000 workers:
 *   - rebuild: a second engine recovers everything from Redis (workers
 *     into its mirror, the live requests) -- a restart;
 *   - follow: another client moves every worker (bulk positions) and the
 *     engine's next sync brings the moves into its mirror.
 * redis-server: 127.0.0.1:$CM_BENCH_REDIS_PORT, or one started here.
 * Writes a JSON report (--out) and prints a table. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_server.h"
#include "bench_util.h"
#include "carematch/engine.h"
#include "carematch/redis.h"
#include "carematch/version.h"
#include "city.h"

#define MAX_CASES 24
#define MAX_RUNS 64
#define REGION "bench-ledger"

typedef struct opts {
  int runs, workers, small, batch;
  uint64_t seed;
  const char *out;
} opts;

typedef struct bcase {
  char name[64];
  int workers, ops, runs;
  double ms[MAX_RUNS];
  double *per_op; /* per-operation times (submit), or NULL */
  int n_per_op;
  double commit_ms[MAX_RUNS]; /* batch: the commit (engine stats) */
  int offers;                 /* batch: offers in the last run */
} bcase;

static bcase cases[MAX_CASES];
static int n_cases;

static bcase *new_case(const char *name, int workers, int ops) {
  bcase *c = &cases[n_cases++];
  memset(c, 0, sizeof *c);
  snprintf(c->name, sizeof c->name, "%s", name);
  c->workers = workers;
  c->ops = ops;
  return c;
}

typedef struct node {
  cm_redis *conn;
  cm_ledger *ledger;
  cm_store *mirror;
  cm_engine *eng;
} node;

static int node_open(node *n, int port, const opts *o, cm_error *err) {
  memset(n, 0, sizeof *n);
  n->conn = cm_redis_new("127.0.0.1", port, REGION, NULL, err);
  if (!n->conn || !(n->ledger = cm_ledger_redis_new(n->conn, NULL, err)))
    return -1;
  n->mirror = cm_store_memory_new(0);
  cm_engine_config cfg;
  cm_engine_config_init(&cfg);
  cfg.ledger = n->ledger;
  cfg.batch_max = o->batch;
  cfg.offer_ttl_ms = 3600000;
  cfg.stale_ms = 0;
  cfg.clock = cm_bench_clock;
  n->eng = n->mirror ? cm_engine_new(&cfg, n->mirror, err) : NULL;
  return n->eng ? 0 : -1;
}

static void node_close(node *n) {
  cm_engine_free(n->eng);
  cm_store_free(n->mirror);
  cm_ledger_free(n->ledger);
  cm_redis_free(n->conn);
}

static void queries_of(const cm_instance *inst, int k, cm_store_query *q) {
  for (int i = 0; i < inst->n_requests; i++) {
    const cm_request *r = &inst->requests[i];
    memset(&q[i], 0, sizeof q[i]);
    q[i].lat = r->lat;
    q[i].lon = r->lon;
    q[i].radius_km = 5;
    q[i].k = k;
    q[i].need_all = r->skills;
  }
}

static int bench_nearest(node *n, const cm_instance *inst, int k, int workers,
                         const opts *o) {
  char name[64];
  snprintf(name, sizeof name, "mirror nearest K%d r5 @%d", k, workers);
  bcase *c = new_case(name, workers, inst->n_requests);
  cm_store_query *q = malloc((size_t)inst->n_requests * sizeof *q);
  cm_store_hit *hits = malloc((size_t)inst->n_requests * k * sizeof *hits);
  int *counts = malloc((size_t)inst->n_requests * sizeof *counts);
  int rc = q && hits && counts ? 0 : -1;
  if (rc == 0)
    queries_of(inst, k, q);
  for (int r = 0; rc == 0 && r < o->runs; r++) {
    double t = cm_bench_now_ms();
    rc = cm_store_nearest(n->mirror, q, inst->n_requests, k,
                          inst->params.now_ms, 0, hits, counts, NULL) == CM_OK
             ? 0
             : -1;
    c->ms[c->runs++] = cm_bench_now_ms() - t;
  }
  free(q);
  free(hits);
  free(counts);
  return rc;
}

static cm_request_spec spec_of(const cm_request *r, const char *id) {
  cm_request_spec s;
  memset(&s, 0, sizeof s);
  snprintf(s.id, sizeof s.id, "%s", id);
  s.lat = r->lat;
  s.lon = r->lon;
  s.skills = r->skills;
  s.skill_mode = r->skill_mode;
  s.staff = r->staff;
  s.urgency =
      r->urgency == CM_URGENCY_SCHEDULED ? CM_URGENCY_NORMAL : r->urgency;
  return s;
}

/* Submit the batch, offer it in one step, cancel it (unless keep). */
static int bench_dispatch(node *n, const cm_instance *inst, int workers,
                          const opts *o, int64_t *now, int keep_last) {
  char name[64];
  snprintf(name, sizeof name, "submit (durable ack) @%d", workers);
  bcase *sub = new_case(name, workers, inst->n_requests);
  snprintf(name, sizeof name, "batch with commit @%d", workers);
  bcase *bat = new_case(name, workers, inst->n_requests);
  sub->per_op = malloc((size_t)o->runs * inst->n_requests * sizeof(double));
  if (!sub->per_op)
    return -1;
  cm_error err;
  for (int r = 0; r < o->runs; r++) {
    double t0 = cm_bench_now_ms();
    for (int i = 0; i < inst->n_requests; i++) {
      char id[32];
      snprintf(id, sizeof id, "r%d-%d-%d", workers, r, i);
      cm_request_spec s = spec_of(&inst->requests[i], id);
      double t = cm_bench_now_ms();
      if (cm_engine_submit(n->eng, &s, *now, &err) != CM_OK) {
        fprintf(stderr, "bench_ledger: submit: %s\n", err.message);
        return -1;
      }
      sub->per_op[sub->n_per_op++] = cm_bench_now_ms() - t;
    }
    sub->ms[sub->runs++] = cm_bench_now_ms() - t0;
    *now += 1000;
    cm_engine_stats a, b;
    cm_engine_stats_get(n->eng, &a);
    double t = cm_bench_now_ms();
    if (cm_engine_step(n->eng, *now, NULL, &err) != CM_OK) {
      fprintf(stderr, "bench_ledger: step: %s\n", err.message);
      return -1;
    }
    double wall = cm_bench_now_ms() - t;
    cm_engine_stats_get(n->eng, &b);
    bat->ms[bat->runs] = wall;
    bat->commit_ms[bat->runs++] = b.commit_ms.sum - a.commit_ms.sum;
    bat->offers = (int)(b.offers - a.offers);
    if (keep_last && r == o->runs - 1)
      break;
    for (int i = 0; i < inst->n_requests; i++) {
      char id[32];
      snprintf(id, sizeof id, "r%d-%d-%d", workers, r, i);
      cm_engine_cancel(n->eng, id, *now, NULL);
    }
    *now += 1000;
  }
  return 0;
}

static int load_workers(node *n, const cm_instance *inst, int from, int to,
                        int64_t now) {
  char name[64];
  snprintf(name, sizeof name, "load (upsert through the engine) to %d", to);
  bcase *c = new_case(name, to, to - from);
  cm_error err;
  double t = cm_bench_now_ms();
  for (int i = from; i < to; i++) {
    cm_worker w = inst->workers[i];
    w.seen_ms = now;
    if (cm_engine_worker_upsert(n->eng, &w, now, &err) != CM_OK) {
      fprintf(stderr, "bench_ledger: upsert: %s\n", err.message);
      return -1;
    }
  }
  c->ms[c->runs++] = cm_bench_now_ms() - t;
  return 0;
}

static int bench_rebuild(int port, const opts *o, int workers, int64_t now) {
  char name[64];
  snprintf(name, sizeof name, "rebuild (restart) @%d", workers);
  bcase *c = new_case(name, workers, workers);
  for (int r = 0; r < o->runs; r++) {
    node m;
    cm_error err;
    if (node_open(&m, port, o, &err) != 0) {
      fprintf(stderr, "bench_ledger: %s\n", err.message);
      return -1;
    }
    double t = cm_bench_now_ms();
    cm_status st = cm_engine_sync(m.eng, now, &err);
    c->ms[c->runs++] = cm_bench_now_ms() - t;
    int live = 0;
    cm_engine_stats s;
    cm_engine_stats_get(m.eng, &s);
    live = s.by_state[CM_REQ_OFFERED] + s.by_state[CM_REQ_PENDING];
    int count;
    cm_store_count(m.mirror, &count, NULL); /* 0 when it cannot be asked */
    node_close(&m);
    if (st != CM_OK || count != workers) {
      fprintf(stderr, "bench_ledger: rebuild: %s (%d workers)\n", err.message,
              count);
      return -1;
    }
    c->offers = live;
  }
  return 0;
}

static int bench_follow(node *n, int port, const cm_instance *inst,
                        const opts *o, int64_t *now) {
  char name[64];
  snprintf(name, sizeof name, "follow %d moves by another client",
           inst->n_workers);
  bcase *c = new_case(name, inst->n_workers, inst->n_workers);
  cm_error err;
  cm_store *gw = cm_store_redis_new("127.0.0.1", port, REGION, &err);
  int nw = inst->n_workers, rc = gw ? 0 : -1;
  const char **ids = malloc((size_t)nw * sizeof *ids);
  double *lat = malloc((size_t)nw * sizeof *lat);
  double *lon = malloc((size_t)nw * sizeof *lon);
  int64_t *seen = malloc((size_t)nw * sizeof *seen);
  if (!ids || !lat || !lon || !seen)
    rc = -1;
  for (int r = 0; rc == 0 && r < o->runs; r++) {
    *now += 1000;
    for (int i = 0; i < nw; i++) {
      ids[i] = inst->workers[i].id;
      lat[i] = inst->workers[i].lat + 1e-4 * (r + 1);
      lon[i] = inst->workers[i].lon;
      seen[i] = *now;
    }
    if (cm_store_redis_positions(gw, nw, ids, lat, lon, seen, &err) != CM_OK) {
      rc = -1;
      break;
    }
    double t = cm_bench_now_ms();
    rc = cm_engine_sync(n->eng, *now, &err) == CM_OK ? 0 : -1;
    c->ms[c->runs++] = cm_bench_now_ms() - t;
    cm_worker w;
    if (rc == 0 &&
        (cm_store_get(n->mirror, ids[0], &w, NULL) != CM_OK || w.lat != lat[0]))
      rc = -1; /* the move did not reach the mirror */
  }
  if (rc != 0)
    fprintf(stderr, "bench_ledger: follow: %s\n", err.message);
  cm_store_free(gw);
  free(ids);
  free(lat);
  free(lon);
  free(seen);
  return rc;
}

static void print_and_write(const opts *o, FILE *f) {
  printf("%-44s %8s %4s %10s %10s %12s\n", "case", "ops", "runs", "median",
         "p99", "ops/s");
  if (f)
    fprintf(f,
            "{\"bench\":\"ledger\",\"version\":\"%s\",\"workers\":%d,"
            "\"batch\":%d,\"runs\":%d,\"seed\":%" PRIu64 ",\"cases\":[",
            CM_VERSION, o->workers, o->batch, o->runs, o->seed);
  for (int i = 0; i < n_cases; i++) {
    const bcase *c = &cases[i];
    double med = cm_bench_quantile(c->ms, c->runs, 0.5);
    double p99 = cm_bench_quantile(c->ms, c->runs, 0.99);
    double rate = med > 0 ? c->ops / (med / 1e3) : 0;
    printf("%-44s %8d %4d %10.2f %10.2f %12.0f\n", c->name, c->ops, c->runs,
           med, p99, rate);
    if (f) {
      fprintf(f,
              "%s{\"name\":\"%s\",\"workers\":%d,\"ops\":%d,\"runs\":%d,"
              "\"median_ms\":%.4f,\"p99_ms\":%.4f,\"ops_per_s\":%.1f",
              i ? "," : "", c->name, c->workers, c->ops, c->runs, med, p99,
              rate);
      if (c->per_op)
        fprintf(f, ",\"per_op_p50_ms\":%.4f,\"per_op_p99_ms\":%.4f",
                cm_bench_quantile(c->per_op, c->n_per_op, 0.5),
                cm_bench_quantile(c->per_op, c->n_per_op, 0.99));
      if (strstr(c->name, "batch"))
        fprintf(f, ",\"commit_median_ms\":%.4f,\"offers\":%d",
                cm_bench_quantile(c->commit_ms, c->runs, 0.5), c->offers);
      if (strstr(c->name, "rebuild"))
        fprintf(f, ",\"live_requests\":%d", c->offers);
      fprintf(f, ",\"ms\":[");
      for (int r = 0; r < c->runs; r++)
        fprintf(f, "%s%.4f", r ? "," : "", c->ms[r]);
      fprintf(f, "]}");
    }
    if (c->per_op)
      printf("  per request: p50 %.3f ms, p99 %.3f ms\n",
             cm_bench_quantile(c->per_op, c->n_per_op, 0.5),
             cm_bench_quantile(c->per_op, c->n_per_op, 0.99));
    if (strstr(c->name, "batch"))
      printf("  commit: median %.2f ms for %d offers\n",
             cm_bench_quantile(c->commit_ms, c->runs, 0.5), c->offers);
  }
  if (f)
    fprintf(f, "]}\n");
}

static int parse(int argc, char **argv, opts *o) {
  *o = (opts){5, 50000, 20000, 2000, 1, NULL};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--quick")) {
      o->runs = 2;
    } else if (!strcmp(a, "--runs") && v) {
      o->runs = atoi(argv[++i]);
    } else if (!strcmp(a, "--workers") && v) {
      o->workers = atoi(argv[++i]);
    } else if (!strcmp(a, "--small") && v) {
      o->small = atoi(argv[++i]);
    } else if (!strcmp(a, "--batch") && v) {
      o->batch = atoi(argv[++i]);
    } else if (!strcmp(a, "--seed") && v) {
      o->seed = strtoull(argv[++i], NULL, 10);
    } else if (!strcmp(a, "--out") && v) {
      o->out = argv[++i];
    } else {
      fprintf(stderr, "usage: bench_ledger [--quick] [--runs N] [--workers N] "
                      "[--small N] [--batch N] [--seed N] [--out FILE.json]\n");
      return -1;
    }
  }
  if (o->runs < 1 || o->runs > MAX_RUNS || o->small < 1 ||
      o->workers < o->small || o->batch < 1) {
    fprintf(stderr, "bench_ledger: bad options\n");
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  opts o;
  if (parse(argc, argv, &o) != 0)
    return 2;
  const char *env = getenv("CM_BENCH_REDIS_PORT");
  int port = env && *env ? atoi(env) : cm_bench_free_port();
  pid_t server = env && *env ? 0 : cm_bench_server_start(port);
  if (server < 0) {
    fprintf(stderr, "bench_ledger: cannot start redis-server\n");
    return 1;
  }
  cm_city_spec spec;
  cm_city_spec_init(&spec);
  spec.seed = o.seed;
  spec.n_workers = o.workers;
  spec.n_requests = o.batch;
  cm_error err;
  cm_instance *inst = cm_city_instance(&spec, &err);
  node n;
  memset(&n, 0, sizeof n);
  int rc = inst && node_open(&n, port, &o, &err) == 0 ? 0 : -1;
  if (rc == 0)
    rc = cm_redis_region_flush(n.conn, &err) == CM_OK ? 0 : -1;
  if (rc == 0)
    rc = cm_engine_sync(n.eng, spec.now_ms, &err) == CM_OK ? 0 : -1;
  int64_t now = spec.now_ms;
  int sizes[2] = {o.small, o.workers}, loaded = 0;
  for (int s = 0; rc == 0 && s < 2; s++) {
    if (s == 1 && o.small == o.workers)
      break;
    rc = load_workers(&n, inst, loaded, sizes[s], now);
    loaded = sizes[s];
    for (int k = 8; rc == 0 && k <= 16; k += 8)
      rc = bench_nearest(&n, inst, k, sizes[s], &o);
    if (rc == 0)
      rc = bench_dispatch(&n, inst, sizes[s], &o, &now, s == 1);
  }
  if (rc == 0)
    rc = bench_rebuild(port, &o, o.workers, now);
  if (rc == 0)
    rc = bench_follow(&n, port, inst, &o, &now);
  if (rc != 0)
    fprintf(stderr, "bench_ledger: failed: %s\n", err.message);
  FILE *f = o.out ? fopen(o.out, "w") : NULL;
  print_and_write(&o, f);
  if (f)
    fclose(f);
  if (inst)
    cm_redis_region_flush(n.conn, NULL);
  node_close(&n);
  cm_instance_free(inst);
  for (int i = 0; i < n_cases; i++)
    free(cases[i].per_op);
  if (server > 0)
    cm_bench_server_stop(server);
  return rc == 0 ? 0 : 1;
}
