/* bench_store.c -- position store bench: the memory store at city scale.
 *
 * A seeded city (cm_city_instance: clustered communities, six roles) gives
 * 50,000 workers; its requests give the query points and skills. Cases:
 * loading every worker (upsert), nearest-K batches of 2,000 queries (K = 8
 * and 16, radius 5 km, the request's skill as need_all; also K = 8 without a
 * skill rule), and position updates (every worker moves once per batch, a
 * random step of up to about 85 m). Each case runs several batches and reports
 * the median and p99 (nearest rank) batch time and the throughput at the
 * median. Before timing, a sample of queries is checked against a linear
 * scan, which also gives the brute-force cost per query for comparison.
 * Writes a JSON report (--out) and prints a table; see docs/store.md. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "carematch/solve.h"
#include "carematch/store.h"
#include "carematch/version.h"
#include "city.h"

#define BENCH_MAX_CASES 32
#define BENCH_MAX_CELLS 8
#define BENCH_CHECK 200 /* queries checked against a linear scan */

typedef struct bench_opts {
  int runs;                      /* batches per case (15; --quick 3) */
  int workers;                   /* workers in the city (50000) */
  int batch;                     /* queries per nearest batch (2000) */
  uint64_t seed;                 /* city seed (1) */
  int n_cells;                   /* cell sizes to run */
  double cells[BENCH_MAX_CELLS]; /* km (1) */
  const char *out;               /* JSON report path, NULL: none */
} bench_opts;

typedef struct bench_case {
  char name[64];    /* "nearest K8 r5 cell1" */
  const char *kind; /* "load", "nearest", "position" */
  int k;            /* nearest: K */
  int skills;       /* nearest: the request's skills as need_all */
  double cell_km;   /* the store's cell size */
  int ops;          /* operations per batch */
  int runs;         /* batches timed */
  double ms[256];   /* batch times */
  double hits_mean; /* nearest: answers per query */
} bench_case;

/* Nearest-rank quantile q in [0, 1] of n values. */
/* The query of request i: radius 5 km, need_all its skills (or none). */
static cm_store_query bench_query(const cm_instance *inst, int i, int k,
                                  int skills) {
  const cm_request *r = &inst->requests[i % inst->n_requests];
  cm_store_query q;
  memset(&q, 0, sizeof q);
  q.lat = r->lat;
  q.lon = r->lon;
  q.radius_km = 5.0;
  q.k = k;
  if (skills) {
    if (r->skill_mode == CM_SKILLS_ALL && r->staff == 1)
      q.need_all = r->skills;
    else
      q.need_any = r->skills;
  }
  return q;
}

/* A new store holding every worker of inst. Returns NULL on failure. */
static cm_store *bench_load(const cm_instance *inst, double cell_km,
                            double *ms) {
  cm_store *s = cm_store_memory_new(cell_km);
  cm_error err;
  if (!s)
    return NULL;
  double t0 = cm_bench_now_ms();
  for (int i = 0; i < inst->n_workers; i++)
    if (cm_store_upsert(s, &inst->workers[i], &err) != CM_OK) {
      fprintf(stderr, "bench_store: upsert: %s (%s)\n", err.message, err.field);
      cm_store_free(s);
      return NULL;
    }
  *ms = cm_bench_now_ms() - t0;
  return s;
}

/* Linear scan: the k nearest eligible workers of q. Returns the count. */
static int bench_brute(const cm_instance *inst, const cm_store_query *q,
                       cm_store_hit *out) {
  int n = 0;
  for (int i = 0; i < inst->n_workers; i++) {
    const cm_worker *w = &inst->workers[i];
    if (w->status != CM_WORKER_AVAILABLE || !w->has_position ||
        w->capacity <= 0 || (w->skills & q->need_all) != q->need_all ||
        (q->need_any && !(w->skills & q->need_any)))
      continue;
    double d = cm_geo_distance_km(q->lat, q->lon, w->lat, w->lon);
    if (d > q->radius_km)
      continue;
    int j = n < q->k ? n++ : q->k; /* insertion into a sorted top-k */
    while (j > 0 &&
           (out[j - 1].distance_km > d || (out[j - 1].distance_km == d &&
                                           strcmp(out[j - 1].id, w->id) > 0))) {
      if (j < q->k)
        out[j] = out[j - 1];
      j--;
    }
    if (j < q->k) {
      memcpy(out[j].id, w->id, CM_ID_MAX);
      out[j].distance_km = d;
    }
  }
  return n;
}

/* Compare BENCH_CHECK queries with the linear scan. Returns mismatches;
 * *brute_us gets the scan's cost per query. */
static int bench_check(cm_store *s, const cm_instance *inst, int k,
                       double *brute_us) {
  cm_store_hit a[16], b[16];
  int bad = 0, na, nb;
  double brute_ms = 0;
  cm_error err;
  for (int i = 0; i < BENCH_CHECK; i++) {
    cm_store_query q = bench_query(inst, i, k, i % 4 != 3);
    if (cm_store_nearest(s, &q, 1, k, 0, 0, a, &na, &err) != CM_OK)
      return BENCH_CHECK;
    double t0 = cm_bench_now_ms();
    nb = bench_brute(inst, &q, b);
    brute_ms += cm_bench_now_ms() - t0;
    int same = na == nb;
    for (int j = 0; same && j < na; j++)
      same = !strcmp(a[j].id, b[j].id) && a[j].distance_km == b[j].distance_km;
    bad += !same;
  }
  *brute_us = brute_ms * 1e3 / BENCH_CHECK;
  return bad;
}

/* Time opts->runs batches of nearest queries. Returns 0, or -1. */
static int bench_nearest(cm_store *s, const cm_instance *inst,
                         const bench_opts *o, bench_case *c) {
  cm_store_query *qs = malloc(sizeof *qs * (size_t)o->batch);
  cm_store_hit *hits = malloc(sizeof *hits * (size_t)o->batch * (size_t)c->k);
  int *counts = malloc(sizeof *counts * (size_t)o->batch);
  long answered = 0;
  cm_error err;
  int rc = 0;
  if (!qs || !hits || !counts)
    rc = -1;
  for (int r = 0; rc == 0 && r < c->runs; r++) {
    for (int i = 0; i < o->batch; i++)
      qs[i] = bench_query(inst, r * o->batch + i, c->k, c->skills);
    double t0 = cm_bench_now_ms();
    if (cm_store_nearest(s, qs, o->batch, c->k, 0, 0, hits, counts, &err) !=
        CM_OK) {
      fprintf(stderr, "bench_store: nearest: %s\n", err.message);
      rc = -1;
    }
    c->ms[r] = cm_bench_now_ms() - t0;
    for (int i = 0; i < o->batch; i++)
      answered += counts[i];
  }
  c->hits_mean = (double)answered / ((double)o->batch * c->runs);
  free(qs);
  free(hits);
  free(counts);
  return rc;
}

/* Time opts->runs batches of one position update per worker. Returns 0,
 * or -1. */
static int bench_positions(cm_store *s, const cm_instance *inst,
                           const bench_opts *o, bench_case *c) {
  int n = inst->n_workers;
  double *lat = malloc(sizeof *lat * (size_t)n);
  double *lon = malloc(sizeof *lon * (size_t)n);
  uint64_t rng = o->seed * 7919 + 17;
  cm_error err;
  int rc = lat && lon ? 0 : -1;
  for (int i = 0; rc == 0 && i < n; i++) {
    lat[i] = inst->workers[i].lat;
    lon[i] = inst->workers[i].lon;
  }
  for (int r = 0; rc == 0 && r < c->runs; r++) {
    for (int i = 0; i < n; i++) { /* a step of up to ~85 m each way */
      lat[i] += (cm_city_uniform(&rng) - 0.5) * 0.0015;
      lon[i] += (cm_city_uniform(&rng) - 0.5) * 0.0018;
    }
    double t0 = cm_bench_now_ms();
    for (int i = 0; rc == 0 && i < n; i++)
      if (cm_store_position(s, inst->workers[i].id, lat[i], lon[i], r + 1,
                            &err) != CM_OK) {
        fprintf(stderr, "bench_store: position: %s\n", err.message);
        rc = -1;
      }
    c->ms[r] = cm_bench_now_ms() - t0;
  }
  free(lat);
  free(lon);
  return rc;
}

static void bench_row(const bench_case *c) {
  double med = cm_bench_quantile(c->ms, c->runs, 0.5);
  double p99 = cm_bench_quantile(c->ms, c->runs, 0.99);
  printf("%-28s %7d %5d %9.3f %9.3f %12.0f", c->name, c->ops, c->runs, med, p99,
         c->ops / (med / 1e3));
  if (!strcmp(c->kind, "nearest"))
    printf(" %6.2f %8.2f", c->hits_mean, med * 1e3 / c->ops);
  putchar('\n');
  fflush(stdout);
}

static void bench_json_case(FILE *f, const bench_case *c, int first) {
  double med = cm_bench_quantile(c->ms, c->runs, 0.5);
  fprintf(f,
          "%s  {\"name\":\"%s\",\"kind\":\"%s\",\"cell_km\":%g,\"ops\":%d,"
          "\"runs\":%d,\"median_ms\":%.4f,\"p99_ms\":%.4f,\"min_ms\":%.4f,"
          "\"max_ms\":%.4f,\"ops_per_s\":%.0f",
          first ? "" : ",\n", c->name, c->kind, c->cell_km, c->ops, c->runs,
          med, cm_bench_quantile(c->ms, c->runs, 0.99),
          cm_bench_quantile(c->ms, c->runs, 0.0),
          cm_bench_quantile(c->ms, c->runs, 1.0), c->ops / (med / 1e3));
  if (!strcmp(c->kind, "nearest"))
    fprintf(f, ",\"k\":%d,\"radius_km\":5,\"need_skill\":%d,\"hits_mean\":%.3f",
            c->k, c->skills, c->hits_mean);
  fputs(",\"batch_ms\":[", f);
  for (int r = 0; r < c->runs; r++)
    fprintf(f, "%s%.4f", r ? "," : "", c->ms[r]);
  fputs("]}", f);
}

static void bench_usage(FILE *f) {
  fputs("usage: bench_store [--quick] [--runs N] [--workers N] [--batch N]\n"
        "                   [--seed N] [--cells KM,KM,...] [--out FILE.json]\n"
        "  --quick          3 batches per case (default 15)\n"
        "  --runs N         batches per case (at most 256)\n"
        "  --workers N      workers in the city (default 50000)\n"
        "  --batch N        queries per nearest batch (default 2000)\n"
        "  --seed N         city seed (default 1)\n"
        "  --cells LIST     cell sizes of the store, km (default 1)\n"
        "  --out FILE       write the JSON report\n",
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
    if (!v)
      return -1;
    i++;
    errno = 0;
    if (!strcmp(a, "--out")) {
      o->out = v;
    } else if (!strcmp(a, "--cells")) {
      o->n_cells = 0;
      for (const char *p = v; *p && o->n_cells < BENCH_MAX_CELLS;) {
        double km = strtod(p, &end);
        if (end == p || !(km > 0))
          return -1;
        o->cells[o->n_cells++] = km;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
          return -1;
      }
    } else {
      long n = strtol(v, &end, 10);
      if (errno || *end || end == v || n < 1)
        return -1;
      if (!strcmp(a, "--runs") && n <= 256)
        o->runs = (int)n;
      else if (!strcmp(a, "--workers"))
        o->workers = (int)n;
      else if (!strcmp(a, "--batch"))
        o->batch = (int)n;
      else if (!strcmp(a, "--seed"))
        o->seed = (uint64_t)n;
      else
        return -1;
    }
  }
  if (!o->runs)
    o->runs = 15;
  return 0;
}

/* The next row of cases (memset), named with the format. */
static bench_case *case_new(bench_case *cases, int *nc, const char *kind,
                            double cell) {
  bench_case *c = &cases[(*nc)++];
  memset(c, 0, sizeof *c);
  c->kind = kind;
  c->cell_km = cell;
  return c;
}

/* The load row at this cell size: a fresh store per run, every worker
 * upserted. Returns the store of the last run, or NULL when one failed. */
static cm_store *load_case(const bench_opts *o, const cm_instance *inst,
                           double cell, bench_case *cases, int *nc) {
  bench_case *load = case_new(cases, nc, "load", cell);
  snprintf(load->name, sizeof load->name, "load cell%g", cell);
  load->ops = o->workers;
  cm_store *s = NULL;
  for (int r = 0; r < o->runs; r++) { /* a fresh store per run */
    cm_store_free(s);
    if (!(s = bench_load(inst, cell, &load->ms[r])))
      return NULL;
    load->runs++;
  }
  bench_row(load);
  return s;
}

/* The store checked against a linear scan; the check's entry (the ci-th)
 * in the report's "checks". Returns the queries that differ. */
static int check_case(cm_store *s, const cm_instance *inst, double cell, int ci,
                      FILE *f) {
  double brute_us = 0;
  int bad = bench_check(s, inst, 16, &brute_us);
  printf("  check: %d of %d queries differ from a linear scan (%.1f us "
         "per scanned query)\n",
         bad, BENCH_CHECK, brute_us);
  if (f)
    fprintf(f,
            "%s{\"cell_km\":%g,\"queries\":%d,\"mismatches\":%d,"
            "\"linear_scan_us_per_query\":%.2f}",
            ci ? "," : "", cell, BENCH_CHECK, bad, brute_us);
  return bad;
}

/* The nearest rows (K 8 and 16 with skills, K 8 without) and the position
 * row on the loaded store. Returns 0 or 1 (a case failed). */
static int query_cases(cm_store *s, const bench_opts *o,
                       const cm_instance *inst, double cell, bench_case *cases,
                       int *nc) {
  const int ks[] = {8, 16, 8}, sk[] = {1, 1, 0};
  int failed = 0;
  for (int j = 0; j < 3 && *nc < BENCH_MAX_CASES; j++) {
    bench_case *c = case_new(cases, nc, "nearest", cell);
    snprintf(c->name, sizeof c->name, "nearest K%d r5%s cell%g", ks[j],
             sk[j] ? "" : " any", cell);
    c->k = ks[j];
    c->skills = sk[j];
    c->ops = o->batch;
    c->runs = o->runs;
    failed |= bench_nearest(s, inst, o, c) != 0;
    bench_row(c);
  }
  bench_case *c = case_new(cases, nc, "position", cell);
  snprintf(c->name, sizeof c->name, "position cell%g", cell);
  c->ops = o->workers;
  c->runs = o->runs;
  failed |= bench_positions(s, inst, o, c) != 0;
  bench_row(c);
  return failed;
}

/* Every case at the ci-th cell size. Returns 0, 1 (a check or a case
 * failed) or -1 (the load failed: stop). */
static int cell_cases(const bench_opts *o, const cm_instance *inst, int ci,
                      bench_case *cases, int *nc, FILE *f) {
  double cell = o->cells[ci];
  cm_store *s = load_case(o, inst, cell, cases, nc);
  if (!s)
    return -1;
  int failed = check_case(s, inst, cell, ci, f) != 0;
  failed |= query_cases(s, o, inst, cell, cases, nc);
  cm_store_free(s);
  return failed;
}

static void print_header(const bench_opts *o) {
  printf("carematch %s store bench: %d workers (city seed %llu), %d runs; "
         "times in ms per batch\n",
         CM_VERSION, o->workers, (unsigned long long)o->seed, o->runs);
  printf("%-28s %7s %5s %9s %9s %12s %6s %8s\n", "case", "ops", "runs",
         "median", "p99", "ops/s", "hits", "us/query");
}

/* The cases at every cell size, the report (f, or NULL) around them.
 * Returns 0 or 1 (something failed or differed). */
static int bench_all(const bench_opts *o, const cm_instance *inst, FILE *f) {
  static bench_case cases[BENCH_MAX_CASES];
  int nc = 0, failed = 0;
  if (f)
    fprintf(f,
            "{\"bench\":\"store\",\"version\":\"%s\",\"workers\":%d,"
            "\"batch\":%d,\"runs\":%d,\"seed\":%llu,\n \"checks\":[",
            CM_VERSION, o->workers, o->batch, o->runs,
            (unsigned long long)o->seed);
  for (int ci = 0; ci < o->n_cells; ci++) {
    int r = cell_cases(o, inst, ci, cases, &nc, f);
    failed |= r != 0;
    if (r < 0)
      break;
  }
  if (f) {
    fputs("],\n \"cases\":[\n", f);
    for (int i = 0; i < nc; i++)
      bench_json_case(f, &cases[i], i == 0);
    fputs("\n]}\n", f);
  }
  return failed;
}

int main(int argc, char **argv) {
  bench_opts o = {0, 50000, 2000, 1, 1, {1.0}, NULL};
  int rc = bench_parse(argc, argv, &o);
  if (rc != 0) {
    bench_usage(rc > 0 ? stdout : stderr);
    return rc > 0 ? 0 : 2;
  }
  cm_city_spec spec;
  cm_error err;
  cm_city_spec_init(&spec);
  spec.seed = o.seed;
  spec.n_workers = o.workers;
  spec.n_requests = o.batch * o.runs;
  cm_instance *inst = cm_city_instance(&spec, &err);
  if (!inst) {
    fprintf(stderr, "bench_store: city: %s (%s)\n", err.message, err.field);
    return 1;
  }
  FILE *f = NULL;
  if (o.out && !(f = fopen(o.out, "w"))) {
    fprintf(stderr, "bench_store: cannot write %s: %s\n", o.out,
            strerror(errno));
    cm_instance_free(inst);
    return 1;
  }
  print_header(&o);
  int failed = bench_all(&o, inst, f);
  if (f)
    fclose(f);
  cm_instance_free(inst);
  return failed ? 1 : 0;
}
