/* bench_decode.c -- JSON codec bench: cm_instance_from_json and
 * cm_answer_to_json on seeded city instances of about 1, 3 and 10 MB.
 *
 * Two modes: positions (workers and requests with positions, the solver
 * searches) and edges (no positions; each request's K = 8 nearest eligible
 * workers within 10 km as explicit edges with cm_travel_minutes, as a
 * routing engine would give them). Each instance is encoded once with
 * cm_instance_to_json (compact), checked to decode back to the same text,
 * then decoded several times; the answer of one solve is encoded as many
 * times. Throughput is MB (10^6 bytes) of JSON text per second at the median
 * and at the p99 (nearest rank) time; the thread's CPU time is reported
 * beside the wall time (the machine may be shared). --dump DIR writes the
 * instance texts for the CLI (`carematch solve --in`). Writes a JSON report
 * (--out) and prints a table; see bench/README.md. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "carematch/json.h"
#include "carematch/solve.h"
#include "carematch/store.h"
#include "carematch/version.h"
#include "city.h"

#define BENCH_MAX_RUNS 1000
#define BENCH_EDGE_K 8         /* edges per request (edge mode) */
#define BENCH_EDGE_RADIUS 10.0 /* km, the edges' search radius */

typedef struct bench_opts {
  int runs;         /* timed decodes / encodes per case (10; --quick 3) */
  uint64_t seed;    /* city seed (1) */
  int no_answer;    /* skip the solve and the answer encoding */
  const char *out;  /* JSON report path, NULL: none */
  const char *only; /* run cases whose name contains this */
  const char *dump; /* directory for the instance texts, NULL: none */
} bench_opts;

typedef struct bench_case {
  char name[32];    /* "edges 3MB" */
  const char *mode; /* "positions", "edges" */
  const char *size; /* "1MB", "3MB", "10MB" */
  int n_req, n_wrk; /* city size */
} bench_case;

/* The measurements of one case. */
typedef struct bench_result {
  size_t bytes;                      /* instance text */
  int n_req, n_wrk, n_edges;         /* instance */
  double decode_ms[BENCH_MAX_RUNS];  /* per run, wall */
  double decode_cpu[BENCH_MAX_RUNS]; /* per run, the thread's CPU time */
  int runs;                          /* runs done */
  size_t answer_bytes;               /* answer text; 0: not measured */
  int assigned;                      /* assignments in the answer */
  double answer_ms[BENCH_MAX_RUNS];  /* per run */
  double solve_ms;                   /* the one solve, wall */
  char error[CM_ERROR_MESSAGE_MAX + CM_ERROR_FIELD_MAX + 16];
} bench_result;

/* The calling thread's CPU time in ms: on a shared machine, the part of
 * the wall time this thread ran. */
static double bench_cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Replace the positions by explicit edges: each request's K nearest
 * eligible workers within BENCH_EDGE_RADIUS. Returns 0 or -1. */
static int bench_make_edges(cm_instance *inst, char *msg, size_t msg_len) {
  cm_store *s = cm_store_memory_new(1.0);
  cm_store_hit hits[BENCH_EDGE_K];
  cm_error err;
  int count, rc = -1;
  if (!s) {
    snprintf(msg, msg_len, "out of memory");
    return -1;
  }
  for (int i = 0; i < inst->n_workers; i++)
    if (cm_store_upsert(s, &inst->workers[i], &err) != CM_OK)
      goto fail;
  for (int r = 0; r < inst->n_requests; r++) {
    const cm_request *q = &inst->requests[r];
    cm_store_query sq;
    memset(&sq, 0, sizeof sq);
    sq.lat = q->lat;
    sq.lon = q->lon;
    sq.radius_km = BENCH_EDGE_RADIUS;
    sq.k = BENCH_EDGE_K;
    if (q->skill_mode == CM_SKILLS_ALL && q->staff == 1)
      sq.need_all = q->skills;
    else
      sq.need_any = q->skills;
    if (cm_store_nearest(s, &sq, 1, BENCH_EDGE_K, inst->params.now_ms, 0, hits,
                         &count, &err) != CM_OK)
      goto fail;
    for (int h = 0; h < count; h++) {
      /* city ids are "w%06d": the index */
      cm_edge_in e = {r, atoi(hits[h].id + 1),
                      cm_travel_minutes(&inst->params, hits[h].distance_km)};
      if (cm_instance_edge_add(inst, &e, NULL, &err) != CM_OK)
        goto fail;
    }
  }
  inst->has_edges = 1;
  for (int i = 0; i < inst->n_workers; i++)
    inst->workers[i].has_position = 0;
  for (int r = 0; r < inst->n_requests; r++)
    inst->requests[r].has_position = 0;
  rc = 0;
  goto done;
fail:
  snprintf(msg, msg_len, "edges: %s (%s)", err.message, err.field);
done:
  cm_store_free(s);
  return rc;
}

/* Write text to dir/decode-<mode>-<size>.json. Returns 0 or -1. */
static int bench_dump(const char *dir, const bench_case *c, const char *text,
                      size_t len) {
  char path[1024];
  snprintf(path, sizeof path, "%s/decode-%s-%s.json", dir, c->mode, c->size);
  FILE *f = fopen(path, "wb");
  if (!f)
    return -1;
  int bad = fwrite(text, 1, len, f) != len;
  bad |= fclose(f) != 0;
  return bad ? -1 : 0;
}

/* Solve inst once and time cm_answer_to_json. Returns 0 or -1. */
static int bench_answer(const bench_opts *o, const cm_instance *inst,
                        bench_result *res) {
  cm_answer ans;
  cm_error err;
  memset(&ans, 0, sizeof ans);
  double t0 = cm_bench_now_ms();
  if (cm_solve(inst, NULL, &ans, &err) != CM_OK) {
    snprintf(res->error, sizeof res->error, "solve: %s", err.message);
    return -1;
  }
  res->solve_ms = cm_bench_now_ms() - t0;
  res->assigned = ans.n_assignments;
  for (int r = 0; r < o->runs; r++) {
    t0 = cm_bench_now_ms();
    char *text = cm_answer_to_json(inst, &ans, 0);
    res->answer_ms[r] = cm_bench_now_ms() - t0;
    if (!text) {
      snprintf(res->error, sizeof res->error, "answer: out of memory");
      cm_answer_free(&ans);
      return -1;
    }
    res->answer_bytes = strlen(text);
    free(text);
  }
  cm_answer_free(&ans);
  return 0;
}

/* Generate, encode, check and time one case. Returns 0 or -1 (res->error
 * says why). */
static int bench_run_case(const bench_opts *o, const bench_case *c,
                          bench_result *res) {
  cm_city_spec spec;
  cm_error err;
  cm_instance *inst, *back = NULL;
  char *text = NULL, *again = NULL;
  int rc = -1;
  cm_city_spec_init(&spec);
  spec.seed = o->seed;
  spec.n_requests = c->n_req;
  spec.n_workers = c->n_wrk;
  if (!(inst = cm_city_instance(&spec, &err))) {
    snprintf(res->error, sizeof res->error, "city: %s", err.message);
    return -1;
  }
  if (strcmp(c->mode, "edges") == 0 &&
      bench_make_edges(inst, res->error, sizeof res->error) != 0)
    goto done;
  res->n_req = inst->n_requests;
  res->n_wrk = inst->n_workers;
  res->n_edges = inst->n_edges;
  if (!(text = cm_instance_to_json(inst, 0))) {
    snprintf(res->error, sizeof res->error, "encode: out of memory");
    goto done;
  }
  res->bytes = strlen(text);
  if (o->dump && bench_dump(o->dump, c, text, res->bytes) != 0) {
    snprintf(res->error, sizeof res->error, "cannot write into %s: %s", o->dump,
             strerror(errno));
    goto done;
  }
  for (int r = 0; r < o->runs; r++) {
    double t0 = cm_bench_now_ms(), c0 = bench_cpu_ms();
    cm_status st = cm_instance_from_json(text, res->bytes, &back, &err);
    res->decode_ms[r] = cm_bench_now_ms() - t0;
    res->decode_cpu[r] = bench_cpu_ms() - c0;
    if (st != CM_OK) {
      snprintf(res->error, sizeof res->error, "decode: %s", err.message);
      goto done;
    }
    if (r == 0) { /* the decoded instance encodes to the same text */
      again = cm_instance_to_json(back, 0);
      if (!again || strcmp(again, text) != 0) {
        snprintf(res->error, sizeof res->error, "no round trip");
        goto done;
      }
    }
    cm_instance_free(back);
    back = NULL;
    res->runs = r + 1;
  }
  if (!o->no_answer && bench_answer(o, inst, res) != 0)
    goto done;
  rc = 0;
done:
  free(text);
  free(again);
  cm_instance_free(back);
  cm_instance_free(inst);
  return rc;
}

/* MB/s of bytes in ms. */
static double bench_mb_s(size_t bytes, double ms) {
  return ms > 0 ? (double)bytes / 1e6 / (ms / 1e3) : NAN;
}

static void bench_table_head(void) {
  printf("%-16s %7s %7s %8s %8s %8s %8s %8s %8s %8s | %8s %8s %8s %8s\n",
         "case", "req", "wrk", "edges", "MB", "dec.med", "dec.p99", "cpu.med",
         "MB/s", "MB/s99", "ans.MB", "ans.med", "MB/s", "MB/s99");
}

static void bench_table_row(const bench_case *c, const bench_result *r) {
  if (r->runs == 0) {
    printf("%-16s FAILED: %s\n", c->name, r->error);
    return;
  }
  double med = cm_bench_quantile(r->decode_ms, r->runs, 0.5);
  double p99 = cm_bench_quantile(r->decode_ms, r->runs, 0.99);
  printf("%-16s %7d %7d %8d %8.2f %8.2f %8.2f %8.2f %8.1f %8.1f |", c->name,
         r->n_req, r->n_wrk, r->n_edges, (double)r->bytes / 1e6, med, p99,
         cm_bench_quantile(r->decode_cpu, r->runs, 0.5),
         bench_mb_s(r->bytes, med), bench_mb_s(r->bytes, p99));
  if (r->answer_bytes) {
    double amed = cm_bench_quantile(r->answer_ms, r->runs, 0.5);
    double ap99 = cm_bench_quantile(r->answer_ms, r->runs, 0.99);
    printf(" %8.2f %8.2f %8.1f %8.1f\n", (double)r->answer_bytes / 1e6, amed,
           bench_mb_s(r->answer_bytes, amed),
           bench_mb_s(r->answer_bytes, ap99));
  } else {
    printf(" %8s\n", "-");
  }
  if (r->error[0])
    printf("%-16s   FAILED: %s\n", "", r->error);
  fflush(stdout);
}

/* A JSON number, or null for NaN and infinities. */
static void bench_json_num(FILE *f, double v) {
  if (isfinite(v))
    fprintf(f, "%.6g", v);
  else
    fputs("null", f);
}

/* "key":{"median":..,"p99":..,"min":..,"max":..,"mb_s_median":..,
 * "mb_s_p99":..} of n times in ms over bytes. */
static void bench_json_times(FILE *f, const char *key, const double *ms, int n,
                             size_t bytes) {
  double med = cm_bench_quantile(ms, n, 0.5),
         p99 = cm_bench_quantile(ms, n, 0.99);
  fprintf(f, "\"%s\":{\"median\":", key);
  bench_json_num(f, med);
  fputs(",\"p99\":", f);
  bench_json_num(f, p99);
  fputs(",\"min\":", f);
  bench_json_num(f, cm_bench_quantile(ms, n, 0.0));
  fputs(",\"max\":", f);
  bench_json_num(f, cm_bench_quantile(ms, n, 1.0));
  fputs(",\"mb_s_median\":", f);
  bench_json_num(f, bench_mb_s(bytes, med));
  fputs(",\"mb_s_p99\":", f);
  bench_json_num(f, bench_mb_s(bytes, p99));
  fputs("}", f);
}

static void bench_json_case(FILE *f, const bench_case *c,
                            const bench_result *r) {
  fprintf(f,
          "  {\"name\":\"%s\",\"mode\":\"%s\",\"requests\":%d,\"workers\":%d,"
          "\"edges\":%d,\"bytes\":%zu,\"runs\":%d,\n   ",
          c->name, c->mode, r->n_req, r->n_wrk, r->n_edges, r->bytes, r->runs);
  bench_json_times(f, "decode_ms", r->decode_ms, r->runs, r->bytes);
  fputs(",\n   ", f);
  bench_json_times(f, "decode_cpu_ms", r->decode_cpu, r->runs, r->bytes);
  fputs(",\n   \"answer\":", f);
  if (r->answer_bytes) {
    fprintf(f,
            "{\"bytes\":%zu,\"assignments\":%d,\"solve_ms\":", r->answer_bytes,
            r->assigned);
    bench_json_num(f, r->solve_ms);
    fputs(",", f);
    bench_json_times(f, "encode_ms", r->answer_ms, r->runs, r->answer_bytes);
    fputs("}", f);
  } else {
    fputs("null", f);
  }
  fputs(",\"error\":", f);
  if (r->error[0]) /* messages hold no quote or backslash worth escaping */
    fprintf(f, "\"%s\"", r->error);
  else
    fputs("null", f);
  fputs("}", f);
}

static void bench_json_head(FILE *f, const bench_opts *o) {
  char date[32] = "";
  time_t now = time(NULL);
  struct tm tmv;
  if (gmtime_r(&now, &tmv))
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tmv);
  fprintf(f, "{\"bench\":\"decode\",\"version\":\"%s\",\"date\":\"%s\",\n",
          CM_VERSION, date);
  fprintf(f,
          " \"options\":{\"runs\":%d,\"seed\":%llu,\"edge_k\":%d,"
          "\"edge_radius_km\":%g},\n \"cases\":[\n",
          o->runs, (unsigned long long)o->seed, BENCH_EDGE_K,
          BENCH_EDGE_RADIUS);
}

/* The cases: both modes at about 1, 3 and 10 MB of compact JSON. Returns
 * the count (after --only). */
static int bench_cases(const bench_opts *o, bench_case *cs) {
  static const struct {
    const char *mode, *size;
    int req, wrk;
  } sizes[] = {
      {"positions", "1MB", 700, 3400},    {"positions", "3MB", 2000, 10000},
      {"positions", "10MB", 6800, 34000}, {"edges", "1MB", 800, 2000},
      {"edges", "3MB", 2400, 6000},       {"edges", "10MB", 8000, 20000},
  };
  int n = 0;
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    bench_case *c = &cs[n];
    c->mode = sizes[i].mode;
    c->size = sizes[i].size;
    c->n_req = sizes[i].req;
    c->n_wrk = sizes[i].wrk;
    snprintf(c->name, sizeof c->name, "%s %s", c->mode, c->size);
    if (!o->only || strstr(c->name, o->only))
      n++;
  }
  return n;
}

static void bench_usage(FILE *f) {
  fputs("usage: bench_decode [--quick] [--runs N] [--seed N] [--no-answer]\n"
        "                    [--only SUBSTRING] [--dump DIR] [--out FILE]\n"
        "  --quick         3 runs per case unless --runs given (default 10)\n"
        "  --no-answer     skip the solve and cm_answer_to_json\n"
        "  --only S        run only cases whose name contains S\n"
        "  --dump DIR      write DIR/decode-<mode>-<size>.json\n"
        "  --out FILE      write the JSON report (default none)\n",
        f);
}

/* Returns 0, 1 (help shown) or -1 (bad usage). */
static int bench_parse(int argc, char **argv, bench_opts *o) {
  int quick = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h"))
      return 1;
    if (!strcmp(a, "--quick")) {
      quick = 1;
      continue;
    }
    if (!strcmp(a, "--no-answer")) {
      o->no_answer = 1;
      continue;
    }
    if (!v)
      return -1;
    i++;
    if (!strcmp(a, "--out")) {
      o->out = v;
    } else if (!strcmp(a, "--only")) {
      o->only = v;
    } else if (!strcmp(a, "--dump")) {
      o->dump = v;
    } else {
      char *end;
      errno = 0;
      long n = strtol(v, &end, 10);
      if (errno || *end || end == v || n < 0)
        return -1;
      if (!strcmp(a, "--runs") && n > 0 && n <= BENCH_MAX_RUNS)
        o->runs = (int)n;
      else if (!strcmp(a, "--seed"))
        o->seed = (uint64_t)n;
      else
        return -1;
    }
  }
  if (!o->runs)
    o->runs = quick ? 3 : 10;
  return 0;
}

int main(int argc, char **argv) {
  bench_opts o = {0, 1, 0, NULL, NULL, NULL};
  bench_case cases[8];
  FILE *f = NULL;
  int n, rc, failed = 0;
  rc = bench_parse(argc, argv, &o);
  if (rc != 0) {
    bench_usage(rc > 0 ? stdout : stderr);
    return rc > 0 ? 0 : 2;
  }
  n = bench_cases(&o, cases);
  if (n == 0) {
    fprintf(stderr, "bench_decode: no case matches '%s'\n", o.only);
    return 2;
  }
  if (o.out && !(f = fopen(o.out, "w"))) {
    fprintf(stderr, "bench_decode: cannot write %s: %s\n", o.out,
            strerror(errno));
    return 1;
  }
  if (f)
    bench_json_head(f, &o);
  printf("carematch %s decode bench: %d cases, %d runs; times in ms, MB = "
         "10^6 bytes, MB/s at the median and the p99 time\n",
         CM_VERSION, n, o.runs);
  bench_table_head();
  for (int i = 0; i < n; i++) {
    bench_result *r = calloc(1, sizeof *r);
    if (!r) {
      fputs("bench_decode: out of memory\n", stderr);
      return 1;
    }
    failed += bench_run_case(&o, &cases[i], r) != 0;
    bench_table_row(&cases[i], r);
    if (f) {
      bench_json_case(f, &cases[i], r);
      fputs(i + 1 < n ? ",\n" : "\n", f);
      fflush(f);
    }
    free(r);
  }
  if (f) {
    fputs(" ]}\n", f);
    fclose(f);
  }
  return failed ? 1 : 0;
}
