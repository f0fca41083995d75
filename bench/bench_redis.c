/* bench_redis.c -- Redis position store bench: the targets.
 *
 * A seeded city (cm_city_instance: clustered communities, six roles) gives
 * the workers; its requests give the query points and skills. Cases, each
 * run several times (median and p99, nearest rank):
 *   - load: every worker upserted one call at a time (informational);
 *   - nearest: batches of 2,000 queries (radius 5 km, K = 8 and 16, the
 *     request's skill as need_all) at 20,000 and at 50,000 workers;
 *   - positions: every worker moves once per run through
 *     cm_store_redis_positions, in one call (pipelined chunks inside) and
 *     in calls of 1,000; one run one call per worker for comparison;
 *   - rebuild: a memory store rebuilt from Redis (cm_store_memory_new, then
 *     each() into upsert), the daemon's start-up.
 * Before timing, a sample of queries is checked bit for bit against a
 * memory store holding the same workers. redis-server is the one at
 * 127.0.0.1:$CM_BENCH_REDIS_PORT, or one started here on a free loopback
 * port (no persistence) and stopped at the end; redis-benchmark (SET,
 * pipeline 16) runs on the same server for comparison. Writes a JSON
 * report (--out) and prints a table; see docs/redis.md. */
#include <errno.h>
#include <fcntl.h>
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

#include "bench_server.h"
#include "bench_util.h"
#include "carematch/redis.h"
#include "carematch/store.h"
#include "carematch/version.h"
#include "city.h"

#define BENCH_MAX_CASES 32
#define BENCH_MAX_RUNS 256
#define BENCH_CHECK 200 /* queries checked against the memory store */

typedef struct bench_opts {
  int runs;        /* runs per case (10; --quick 3) */
  int workers;     /* workers in the city (50000) */
  int small;       /* the smaller store of the nearest cases (20000) */
  int batch;       /* queries per nearest batch (2000) */
  uint64_t seed;   /* city seed (1) */
  int redis_bench; /* also run redis-benchmark (1) */
  const char *out; /* JSON report path, NULL: none */
} bench_opts;

typedef struct bench_case {
  char name[64];             /* "nearest K8 r5 @20000" */
  const char *kind;          /* "load", "nearest", "positions", "rebuild" */
  int workers;               /* workers in the store */
  int k;                     /* nearest: K */
  int per_call;              /* positions: workers per call */
  int ops;                   /* operations per run */
  int runs;                  /* runs timed */
  double ms[BENCH_MAX_RUNS]; /* run times */
  double hits_mean;          /* nearest: answers per query */
} bench_case;

/* Nearest-rank quantile q in [0, 1] of n values. */
/* ---- the redis-server: bench_server.h ---- */

/* redis-benchmark -q -t set -P 16 -n 200000 on the server. Returns SET
 * requests per second, or -1 when it cannot be run. */
static double bench_redis_benchmark(int port) {
  char cmd[128], line[256];
  double rps = -1;
  snprintf(cmd, sizeof cmd,
           "redis-benchmark -q -t set -P 16 -n 200000 -p %d 2>/dev/null", port);
  FILE *f = popen(cmd, "r");
  if (!f)
    return -1;
  while (fgets(line, sizeof line, f)) { /* "SET: 1234.56 requests per ..." */
    char *s = strrchr(line, '\r');      /* -q rewrites its line with \r */
    const char *at = strstr(s ? s : line, "SET: ");
    if (at)
      rps = strtod(at + 5, NULL);
  }
  pclose(f);
  return rps;
}

/* ---- cases ---- */

/* The query of request i: radius 5 km, need_all its skills (need_any for
 * team / any-skill requests), as in bench_store. */
static cm_store_query bench_query(const cm_instance *inst, int i, int k) {
  const cm_request *r = &inst->requests[i % inst->n_requests];
  cm_store_query q;
  memset(&q, 0, sizeof q);
  q.lat = r->lat;
  q.lon = r->lon;
  q.radius_km = 5.0;
  q.k = k;
  if (r->skill_mode == CM_SKILLS_ALL && r->staff == 1)
    q.need_all = r->skills;
  else
    q.need_any = r->skills;
  return q;
}

/* Upsert workers [from, to) into s (and m when not NULL). Returns 0, or
 * -1. */
static int bench_load(cm_store *s, cm_store *m, const cm_instance *inst,
                      int from, int to) {
  cm_error err;
  for (int i = from; i < to; i++) {
    if (cm_store_upsert(s, &inst->workers[i], &err) != CM_OK ||
        (m && cm_store_upsert(m, &inst->workers[i], &err) != CM_OK)) {
      fprintf(stderr, "bench_redis: upsert: %s\n", err.message);
      return -1;
    }
  }
  return 0;
}

/* Compare BENCH_CHECK queries with the memory store. Returns mismatches. */
static int bench_check(cm_store *s, cm_store *m, const cm_instance *inst) {
  cm_store_hit a[16], b[16];
  int bad = 0, na, nb;
  cm_error err;
  for (int i = 0; i < BENCH_CHECK; i++) {
    cm_store_query q = bench_query(inst, i, 16);
    if (cm_store_nearest(s, &q, 1, 16, 0, 0, a, &na, &err) != CM_OK ||
        cm_store_nearest(m, &q, 1, 16, 0, 0, b, &nb, &err) != CM_OK)
      return BENCH_CHECK;
    int same = na == nb;
    for (int j = 0; same && j < na; j++)
      same = !strcmp(a[j].id, b[j].id) && a[j].distance_km == b[j].distance_km;
    bad += !same;
  }
  return bad;
}

/* Time c->runs batches of nearest queries. Returns 0, or -1. */
static int bench_nearest(cm_store *s, const cm_instance *inst,
                         const bench_opts *o, bench_case *c) {
  cm_store_query *qs = malloc(sizeof *qs * (size_t)o->batch);
  cm_store_hit *hits = malloc(sizeof *hits * (size_t)o->batch * (size_t)c->k);
  int *counts = malloc(sizeof *counts * (size_t)o->batch);
  long answered = 0;
  cm_error err;
  int rc = qs && hits && counts ? 0 : -1;
  for (int r = 0; rc == 0 && r < c->runs; r++) {
    for (int i = 0; i < o->batch; i++)
      qs[i] = bench_query(inst, r * o->batch + i, c->k);
    double t0 = cm_bench_now_ms();
    if (cm_store_nearest(s, qs, o->batch, c->k, 0, 0, hits, counts, &err) !=
        CM_OK) {
      fprintf(stderr, "bench_redis: nearest: %s\n", err.message);
      rc = -1;
    }
    c->ms[r] = cm_bench_now_ms() - t0;
    for (int i = 0; rc == 0 && i < o->batch; i++)
      answered += counts[i];
  }
  c->hits_mean = (double)answered / ((double)o->batch * c->runs);
  free(qs);
  free(hits);
  free(counts);
  return rc;
}

/* Time c->runs rounds of one position update per worker, c->per_call
 * workers per call (0: one cm_store_position call each). Returns 0, or
 * -1. */
static int bench_positions(cm_store *s, const cm_instance *inst, int n,
                           const bench_opts *o, bench_case *c) {
  double *lat = malloc(sizeof *lat * (size_t)n);
  double *lon = malloc(sizeof *lon * (size_t)n);
  int64_t *seen = malloc(sizeof *seen * (size_t)n);
  const char **ids = malloc(sizeof *ids * (size_t)n);
  uint64_t rng = o->seed * 7919 + 17 + (uint64_t)c->per_call;
  cm_error err;
  int rc = lat && lon && seen && ids ? 0 : -1;
  for (int i = 0; rc == 0 && i < n; i++) {
    lat[i] = inst->workers[i].lat;
    lon[i] = inst->workers[i].lon;
    ids[i] = inst->workers[i].id;
  }
  for (int r = 0; rc == 0 && r < c->runs; r++) {
    for (int i = 0; i < n; i++) { /* a step of up to ~85 m each way */
      lat[i] += (cm_city_uniform(&rng) - 0.5) * 0.0015;
      lon[i] += (cm_city_uniform(&rng) - 0.5) * 0.0018;
      seen[i] = inst->workers[i].seen_ms + r + 1;
    }
    double t0 = cm_bench_now_ms();
    if (c->per_call == 0) {
      for (int i = 0; rc == 0 && i < n; i++)
        if (cm_store_position(s, ids[i], lat[i], lon[i], seen[i], &err) !=
            CM_OK)
          rc = -1;
    } else {
      for (int i = 0; rc == 0 && i < n; i += c->per_call) {
        int m = n - i < c->per_call ? n - i : c->per_call;
        if (cm_store_redis_positions(s, m, ids + i, lat + i, lon + i, seen + i,
                                     &err) != CM_OK)
          rc = -1;
      }
    }
    c->ms[r] = cm_bench_now_ms() - t0;
    if (rc != 0)
      fprintf(stderr, "bench_redis: positions: %s\n", err.message);
  }
  free(lat);
  free(lon);
  free(seen);
  free(ids);
  return rc;
}

static void bench_rebuild_one(void *ctx, const cm_worker *w) {
  cm_store_upsert(ctx, w, NULL);
}

/* Time c->runs rebuilds of a memory store from Redis. Returns 0, or -1. */
static int bench_rebuild(cm_store *s, bench_case *c) {
  cm_error err;
  for (int r = 0; r < c->runs; r++) {
    double t0 = cm_bench_now_ms();
    cm_store *m = cm_store_memory_new(0);
    cm_status st =
        m ? cm_store_each(s, bench_rebuild_one, m, &err) : CM_E_NOMEM;
    c->ms[r] = cm_bench_now_ms() - t0;
    int n;
    cm_store_count(m, &n, NULL); /* 0 when it cannot be asked */
    cm_store_free(m);
    if (st != CM_OK || n != c->ops) {
      fprintf(stderr, "bench_redis: rebuild: %s (%d workers)\n",
              st != CM_OK ? err.message : "count differs", n);
      return -1;
    }
  }
  return 0;
}

static void bench_row(const bench_case *c) {
  double med = cm_bench_quantile(c->ms, c->runs, 0.5);
  double p99 = cm_bench_quantile(c->ms, c->runs, 0.99);
  printf("%-34s %7d %5d %9.2f %9.2f %12.0f", c->name, c->ops, c->runs, med, p99,
         c->ops / (med / 1e3));
  if (!strcmp(c->kind, "nearest"))
    printf(" %6.2f %8.1f", c->hits_mean, med * 1e3 / c->ops);
  putchar('\n');
  fflush(stdout);
}

static void bench_json_case(FILE *f, const bench_case *c, int first) {
  double med = cm_bench_quantile(c->ms, c->runs, 0.5);
  fprintf(f,
          "%s  {\"name\":\"%s\",\"kind\":\"%s\",\"workers\":%d,\"ops\":%d,"
          "\"runs\":%d,\"median_ms\":%.4f,\"p99_ms\":%.4f,\"min_ms\":%.4f,"
          "\"max_ms\":%.4f,\"ops_per_s\":%.0f",
          first ? "" : ",\n", c->name, c->kind, c->workers, c->ops, c->runs,
          med, cm_bench_quantile(c->ms, c->runs, 0.99),
          cm_bench_quantile(c->ms, c->runs, 0.0),
          cm_bench_quantile(c->ms, c->runs, 1.0), c->ops / (med / 1e3));
  if (!strcmp(c->kind, "nearest"))
    fprintf(f, ",\"k\":%d,\"radius_km\":5,\"hits_mean\":%.3f", c->k,
            c->hits_mean);
  if (!strcmp(c->kind, "positions"))
    fprintf(f, ",\"per_call\":%d", c->per_call);
  fputs(",\"run_ms\":[", f);
  for (int r = 0; r < c->runs; r++)
    fprintf(f, "%s%.4f", r ? "," : "", c->ms[r]);
  fputs("]}", f);
}

static void bench_usage(FILE *f) {
  fputs("usage: bench_redis [--quick] [--runs N] [--workers N] [--small N]\n"
        "                   [--batch N] [--seed N] [--no-redis-benchmark]\n"
        "                   [--out FILE.json]\n"
        "  --quick               3 runs per case (default 10)\n"
        "  --runs N              runs per case (at most 256)\n"
        "  --workers N           workers in the city (default 50000)\n"
        "  --small N             the smaller nearest store (default 20000)\n"
        "  --batch N             queries per nearest batch (default 2000)\n"
        "  --seed N              city seed (default 1)\n"
        "  --no-redis-benchmark  skip the redis-benchmark comparison\n"
        "  --out FILE            write the JSON report\n"
        "redis-server: 127.0.0.1:$CM_BENCH_REDIS_PORT, else one of its own\n",
        f);
}

/* Returns 0, 1 (help shown) or -1 (bad usage). */
static int bench_parse(int argc, char **argv, bench_opts *o) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    char *end;
    if (!strcmp(a, "--help") || !strcmp(a, "-h"))
      return 1;
    if (!strcmp(a, "--quick")) {
      o->runs = o->runs ? o->runs : 3;
      continue;
    }
    if (!strcmp(a, "--no-redis-benchmark")) {
      o->redis_bench = 0;
      continue;
    }
    if (!v)
      return -1;
    i++;
    if (!strcmp(a, "--out")) {
      o->out = v;
      continue;
    }
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || end == v || n < 1)
      return -1;
    if (!strcmp(a, "--runs") && n <= BENCH_MAX_RUNS)
      o->runs = (int)n;
    else if (!strcmp(a, "--workers"))
      o->workers = (int)n;
    else if (!strcmp(a, "--small"))
      o->small = (int)n;
    else if (!strcmp(a, "--batch"))
      o->batch = (int)n;
    else if (!strcmp(a, "--seed"))
      o->seed = (uint64_t)n;
    else
      return -1;
  }
  if (!o->runs)
    o->runs = 10;
  if (o->small > o->workers)
    o->small = o->workers;
  return 0;
}

static bench_case *bench_new_case(bench_case *cases, int *nc, const char *kind,
                                  int workers, int ops, int runs) {
  bench_case *c = &cases[(*nc)++];
  memset(c, 0, sizeof *c);
  c->kind = kind;
  c->workers = workers;
  c->ops = ops;
  c->runs = runs;
  return c;
}

/* The nearest cases at the store's current size. Returns 0 or -1. */
static int bench_nearest_cases(cm_store *s, const cm_instance *inst,
                               const bench_opts *o, int workers,
                               bench_case *cases, int *nc) {
  static const int ks[] = {8, 16};
  int failed = 0;
  for (int j = 0; j < 2; j++) {
    bench_case *c =
        bench_new_case(cases, nc, "nearest", workers, o->batch, o->runs);
    snprintf(c->name, sizeof c->name, "nearest K%d r5 @%d", ks[j], workers);
    c->k = ks[j];
    failed |= bench_nearest(s, inst, o, c) != 0;
    bench_row(c);
  }
  return failed ? -1 : 0;
}

/* One run of the bench: the server, the stores and the cases. */
typedef struct bench_run {
  bench_opts o;                      /* the command line */
  int port;                          /* redis-server's loopback port */
  pid_t server;                      /* started here, else 0 */
  cm_instance *inst;                 /* the city */
  cm_store *s;                       /* the Redis store under test */
  cm_store *m;                       /* the memory store it is checked on */
  FILE *f;                           /* the JSON report, NULL: none */
  bench_case cases[BENCH_MAX_CASES]; /* the rows, in order */
  int nc;                            /* rows in cases */
  int bad_small, bad_full;           /* check mismatches at each size */
} bench_run;

/* The redis-server at 127.0.0.1:$CM_BENCH_REDIS_PORT, or one started on a
 * free port. Returns 0, or -1 with a message on stderr. */
static int server_open(bench_run *b) {
  const char *env = getenv("CM_BENCH_REDIS_PORT");
  b->port = env && *env ? atoi(env) : cm_bench_free_port();
  if (!(env && *env) &&
      (b->port <= 0 || (b->server = cm_bench_server_start(b->port)) < 0)) {
    fprintf(stderr, "bench_redis: cannot start redis-server\n");
    return -1;
  }
  return 0;
}

/* The city, the Redis store (flushed) beside a memory store, and --out.
 * Returns 0, or -1 with a message on stderr. */
static int bench_setup(bench_run *b) {
  cm_city_spec spec;
  cm_error err;
  cm_city_spec_init(&spec);
  spec.seed = b->o.seed;
  spec.n_workers = b->o.workers;
  spec.n_requests = b->o.batch * b->o.runs;
  b->inst = cm_city_instance(&spec, &err);
  b->s =
      b->inst ? cm_store_redis_new("127.0.0.1", b->port, "bench", &err) : NULL;
  b->m = cm_store_memory_new(0);
  if (!b->inst || !b->s || !b->m || cm_store_redis_flush(b->s, &err) != CM_OK) {
    fprintf(stderr, "bench_redis: set-up: %s\n", err.message);
    return -1;
  }
  if (b->o.out && !(b->f = fopen(b->o.out, "w"))) {
    fprintf(stderr, "bench_redis: cannot write %s: %s\n", b->o.out,
            strerror(errno));
    return -1;
  }
  return 0;
}

static void print_header(const bench_run *b) {
  printf("carematch %s Redis store bench: %d workers (city seed %llu), "
         "redis-server 127.0.0.1:%d%s, %d runs; times in ms per run\n",
         CM_VERSION, b->o.workers, (unsigned long long)b->o.seed, b->port,
         b->server ? " (started here)" : "", b->o.runs);
  printf("%-34s %7s %5s %9s %9s %12s %6s %8s\n", "case", "ops", "runs",
         "median", "p99", "ops/s", "hits", "us/query");
}

/* The store grown to workers [from, to): the load row, the check against
 * the memory store (mismatches in *bad) and the nearest rows at that size.
 * Returns 0, 1 (a check or a case failed) or -1 (the load failed). */
static int size_cases(bench_run *b, int from, int to, int *bad) {
  bench_case *load = bench_new_case(b->cases, &b->nc, "load", to, to - from, 1);
  snprintf(load->name, sizeof load->name, "load (upsert) @%d", to);
  double t0 = cm_bench_now_ms();
  if (bench_load(b->s, b->m, b->inst, from, to) != 0)
    return -1;
  load->ms[0] = cm_bench_now_ms() - t0;
  bench_row(load);
  *bad = bench_check(b->s, b->m, b->inst);
  printf("  check: %d of %d queries differ from the memory store\n", *bad,
         BENCH_CHECK);
  int failed = *bad != 0;
  failed |=
      bench_nearest_cases(b->s, b->inst, &b->o, to, b->cases, &b->nc) != 0;
  return failed;
}

/* The positions rows: every worker moves in one call, in calls of 1000,
 * and one call each. Returns 0 or 1 (a case failed). */
static int positions_cases(bench_run *b) {
  static const int per_call[] = {0, 1000, 0};
  int failed = 0, workers = b->o.workers;
  for (int j = 0; j < 3; j++) { /* all at once, by 1000, one by one */
    int whole = j == 0, single = j == 2;
    bench_case *c = bench_new_case(b->cases, &b->nc, "positions", workers,
                                   workers, single ? 1 : b->o.runs);
    c->per_call = whole ? workers : per_call[j];
    snprintf(c->name, sizeof c->name, "positions %s @%d",
             whole    ? "bulk, one call"
             : single ? "one call each"
                      : "bulk, calls of 1000",
             workers);
    failed |= bench_positions(b->s, b->inst, workers, &b->o, c) != 0;
    bench_row(c);
  }
  return failed;
}

/* The rebuild row. Returns 0 or 1 (it failed). */
static int rebuild_case(bench_run *b) {
  bench_case *c = bench_new_case(b->cases, &b->nc, "rebuild", b->o.workers,
                                 b->o.workers, b->o.runs);
  snprintf(c->name, sizeof c->name, "rebuild memory store @%d", b->o.workers);
  int failed = bench_rebuild(b->s, c) != 0;
  bench_row(c);
  return failed;
}

/* The JSON report: options, checks, redis-benchmark's figure (rps, -1:
 * not run) and the cases. */
static void report_json(const bench_run *b, double rps) {
  const bench_opts *o = &b->o;
  fprintf(b->f,
          "{\"bench\":\"redis\",\"version\":\"%s\",\"workers\":%d,"
          "\"small\":%d,\"batch\":%d,\"runs\":%d,\"seed\":%llu,\n"
          " \"checks\":[{\"workers\":%d,\"queries\":%d,\"mismatches\":%d},"
          "{\"workers\":%d,\"queries\":%d,\"mismatches\":%d}],\n"
          " \"redis_benchmark_set_p16_rps\":%.0f,\n \"cases\":[\n",
          CM_VERSION, o->workers, o->small, o->batch, o->runs,
          (unsigned long long)o->seed, o->small, BENCH_CHECK, b->bad_small,
          o->workers, BENCH_CHECK, b->bad_full, rps);
  for (int i = 0; i < b->nc; i++)
    bench_json_case(b->f, &b->cases[i], i == 0);
  fputs("\n]}\n", b->f);
}

/* Every row in order: the smaller store (load, check, nearest), the full
 * one, positions, rebuild, then redis-benchmark and the report. Returns 0
 * or 1 (something failed or differed). */
static int bench_all(bench_run *b) {
  int failed = size_cases(b, 0, b->o.small, &b->bad_small);
  if (failed < 0)
    return 1;
  int full = size_cases(b, b->o.small, b->o.workers, &b->bad_full);
  if (full < 0)
    return 1;
  failed |= full;
  failed |= positions_cases(b);
  failed |= rebuild_case(b);
  double rps = b->o.redis_bench ? bench_redis_benchmark(b->port) : -1;
  if (rps > 0)
    printf("redis-benchmark -q -t set -P 16 -n 200000: %.0f SET/s\n", rps);
  if (b->f)
    report_json(b, rps);
  return failed;
}

/* The report closed, Redis flushed after a good run, the server stopped. */
static void bench_teardown(bench_run *b, int failed) {
  if (b->f)
    fclose(b->f);
  if (b->s && !failed)
    cm_store_redis_flush(b->s, NULL);
  cm_store_free(b->s);
  cm_store_free(b->m);
  cm_instance_free(b->inst);
  if (b->server > 0)
    cm_bench_server_stop(b->server);
}

int main(int argc, char **argv) {
  static bench_run b = {.o = {0, 50000, 20000, 2000, 1, 1, NULL}};
  int rc = bench_parse(argc, argv, &b.o);
  if (rc != 0) {
    bench_usage(rc > 0 ? stdout : stderr);
    return rc > 0 ? 0 : 2;
  }
  if (server_open(&b) != 0)
    return 1;
  int failed = 1;
  if (bench_setup(&b) == 0) {
    print_header(&b);
    failed = bench_all(&b);
  }
  bench_teardown(&b, failed);
  return failed ? 1 : 0;
}
