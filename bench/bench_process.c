/* bench_process.c -- the whole `carematch solve` process against LEMON's
 * build and solve, in one run (issue 12).
 *
 * For each case a seeded city instance is written to a file (0600, in a
 * private temporary folder), in positions mode or in edge mode (the same
 * candidate edges as bench_solve's LEMON rows). Each run spawns
 * `carematch solve --in FILE --out ANSWER` and times it from spawn to exit
 * (wall, and the child's CPU time from wait4), then runs LEMON's network
 * simplex in this process on the edge-mode instance (lemon_anchor.h: graph
 * build + solve), so both sides are measured in the same minutes of a
 * possibly shared machine. The ratio is the process p50 over LEMON's
 * build + solve p50. The answer's objective is checked against LEMON's.
 * Writes a JSON report; see bench/README.md, "The process bench". */
#define _GNU_SOURCE /* wait4 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "carematch/json.h"
#include "carematch/version.h"
#include "city.h"
#include "city_edges.h"
#ifdef CM_HAVE_LEMON
#include "lemon_anchor.h"
#endif

extern char **environ;

#define BENCH_MAX_RUNS 1000
#define BENCH_TOL 1e-6 /* objective: the answer vs LEMON, relative */

typedef struct bench_opts {
  int runs, warmup;
  uint64_t seed;
  const char *carematch; /* the program to spawn */
  const char *out;       /* JSON report, NULL: none */
  const char *only;      /* cases whose name contains this */
  const char *keep;      /* write the instance files here and keep them */
  const char *threads;   /* --threads for the command, NULL: its default */
} bench_opts;

typedef struct bench_case {
  const char *mode; /* "positions" or "edges" */
  int n_req, n_wrk, k;
  char name[64];
} bench_case;

typedef struct bench_row {
  double wall[BENCH_MAX_RUNS], cpu[BENCH_MAX_RUNS]; /* the process, ms */
  double solve[BENCH_MAX_RUNS]; /* the answer's timings.total_ms */
  double l_build[BENCH_MAX_RUNS], l_total[BENCH_MAX_RUNS]; /* LEMON, ms */
  double objective, l_objective, rel_diff;
  size_t bytes;
  int lemon; /* LEMON rows measured */
  char error[1024];
} bench_row;

static double tv_ms(struct timeval tv) {
  return (double)tv.tv_sec * 1e3 + (double)tv.tv_usec / 1e3;
}

/* Write inst as JSON to path (0600). Returns the size, or 0 on failure. */
static size_t write_instance(const cm_instance *inst, const char *path) {
  char *text = cm_instance_to_json(inst, 0);
  size_t n = text ? strlen(text) : 0, done = 0;
  int fd = text ? open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600) : -1;
  if (fd < 0) {
    free(text);
    return 0;
  }
  while (done < n) {
    ssize_t w = write(fd, text + done, n - done);
    if (w <= 0)
      break;
    done += (size_t)w;
  }
  free(text);
  return close(fd) == 0 && done == n ? n : 0;
}

/* Spawn carematch solve once; *wall and *cpu in ms. Returns 0, or -1 with
 * msg set (not started, killed, a nonzero exit). */
static int spawn_once(const bench_opts *o, const char *in, const char *ans,
                      double *wall, double *cpu, char *msg, size_t msg_len) {
  char *argv[] = {(char *)o->carematch,
                  "solve",
                  "--in",
                  (char *)in,
                  "--out",
                  (char *)ans,
                  o->threads ? "--threads" : NULL,
                  (char *)o->threads,
                  NULL};
  posix_spawn_file_actions_t fa;
  struct rusage ru;
  pid_t pid;
  int status;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY,
                                   0);
  double t0 = cm_bench_now_ms();
  int rc = posix_spawn(&pid, o->carematch, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    snprintf(msg, msg_len, "cannot start %.400s: %s", o->carematch,
             strerror(rc));
    return -1;
  }
  while (wait4(pid, &status, 0, &ru) < 0)
    if (errno != EINTR) {
      snprintf(msg, msg_len, "wait4: %s", strerror(errno));
      return -1;
    }
  *wall = cm_bench_now_ms() - t0;
  *cpu = tv_ms(ru.ru_utime) + tv_ms(ru.ru_stime);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    snprintf(msg, msg_len, "%.400s solve --in %.400s: status %d", o->carematch,
             in, status);
    return -1;
  }
  return 0;
}

/* The answer's objective and timings.total_ms. Returns 0 or -1. */
static int read_answer(const char *path, double *objective, double *total) {
  json_t *a = json_load_file(path, 0, NULL);
  json_t *obj = json_object_get(a, "objective");
  json_t *tot = json_object_get(json_object_get(a, "timings"), "total_ms");
  int ok = json_is_number(obj) && json_is_number(tot);
  if (ok) {
    *objective = json_number_value(obj);
    *total = json_number_value(tot);
  }
  json_decref(a);
  return ok ? 0 : -1;
}

/* Run case c: write its file into dir, then o->runs x (process, LEMON).
 * Returns 0 or -1 (r->error). */
static int bench_case_run(const bench_opts *o, const bench_case *c,
                          const char *dir, bench_row *r) {
  cm_city_spec spec;
  cm_error err;
  char in[1024], ans[1024];
  cm_city_spec_init(&spec);
  spec.seed = o->seed;
  spec.n_requests = c->n_req;
  spec.n_workers = c->n_wrk;
  spec.k = c->k;
  cm_instance *inst = cm_city_instance(&spec, &err);
  if (!inst) {
    snprintf(r->error, sizeof r->error, "city: %s", err.message);
    return -1;
  }
  snprintf(in, sizeof in, "%s/%s-%dx%d-k%d.json", dir, c->mode, c->n_req,
           c->n_wrk, c->k);
  snprintf(ans, sizeof ans, "%s/answer.json", dir);
  int rc = -1;
  /* positions mode: the file has positions; LEMON gets the edges of the
   * same candidate graph (bench_solve's LEMON rows: the same optimum) */
  if (!strcmp(c->mode, "positions") && !(r->bytes = write_instance(inst, in))) {
    snprintf(r->error, sizeof r->error, "cannot write %.400s", in);
    goto done;
  }
  if (cm_city_to_edges(inst, &err) != 0) {
    snprintf(r->error, sizeof r->error, "edges: %s", err.message);
    goto done;
  }
  if (!strcmp(c->mode, "edges")) {
    for (int i = 0; i < inst->n_workers; i++)
      inst->workers[i].has_position = 0;
    for (int q = 0; q < inst->n_requests; q++)
      inst->requests[q].has_position = 0;
    if (!(r->bytes = write_instance(inst, in))) {
      snprintf(r->error, sizeof r->error, "cannot write %.400s", in);
      goto done;
    }
  }
  for (int i = -o->warmup; i < o->runs; i++) {
    double wall, cpu, obj, total;
    if (spawn_once(o, in, ans, &wall, &cpu, r->error, sizeof r->error) != 0)
      goto done;
    if (read_answer(ans, &obj, &total) != 0) {
      snprintf(r->error, sizeof r->error, "cannot read the answer %.400s", ans);
      goto done;
    }
    if (i < 0)
      continue;
    r->wall[i] = wall;
    r->cpu[i] = cpu;
    r->solve[i] = total;
    r->objective = obj;
#ifdef CM_HAVE_LEMON
    cm_lemon_result lr;
    if (cm_lemon_solve(inst, 0, &lr, r->error, sizeof r->error) != 0)
      goto done;
    r->l_build[i] = lr.build_ms;
    r->l_total[i] = lr.build_ms + lr.solve_ms;
    r->l_objective = lr.objective;
    r->rel_diff = fabs(obj - lr.objective) / fmax(1.0, fabs(obj));
    r->lemon = 1;
#endif
  }
  rc = 0;
done:
  if (!o->keep)
    unlink(in);
  unlink(ans);
  cm_instance_free(inst);
  return rc;
}

static double q(const double *v, int n, double p) {
  return cm_bench_quantile(v, n, p);
}

static void print_row(const bench_opts *o, const bench_case *c,
                      const bench_row *r) {
  int n = o->runs;
  printf("%-28s %6.2f %8.2f %8.2f %8.2f %8.2f", c->name, (double)r->bytes / 1e6,
         q(r->wall, n, 0.5), q(r->wall, n, 0.99), q(r->cpu, n, 0.5),
         q(r->solve, n, 0.5));
  if (r->lemon)
    printf(" %8.2f %8.2f %6.2f %6.2f %8.1e\n", q(r->l_total, n, 0.5),
           q(r->l_total, n, 0.99), q(r->wall, n, 0.5) / q(r->l_total, n, 0.5),
           q(r->cpu, n, 0.5) / q(r->l_total, n, 0.5), r->rel_diff);
  else
    printf("        -        -      -      -        -\n");
}

/* {"p50":..,"p99":..,"mean":..,"min":..,"max":..} of v. */
static void json_stats(FILE *f, const char *key, const double *v, int n) {
  double s = 0, mn = INFINITY, mx = -INFINITY;
  for (int i = 0; i < n; i++) {
    s += v[i];
    mn = fmin(mn, v[i]);
    mx = fmax(mx, v[i]);
  }
  fprintf(f,
          "\"%s\":{\"p50\":%.3f,\"p99\":%.3f,\"mean\":%.3f,\"min\":%.3f,"
          "\"max\":%.3f}",
          key, q(v, n, 0.5), q(v, n, 0.99), n ? s / n : NAN, mn, mx);
}

static void json_row(FILE *f, const bench_opts *o, const bench_case *c,
                     const bench_row *r, int first) {
  int n = o->runs;
  fprintf(f,
          "%s  {\"name\":\"%s\",\"mode\":\"%s\",\"requests\":%d,"
          "\"workers\":%d,\"k\":%d,\"bytes\":%zu,\"runs\":%d,",
          first ? "" : ",\n", c->name, c->mode, c->n_req, c->n_wrk, c->k,
          r->bytes, n);
  json_stats(f, "process_ms", r->wall, n);
  fputc(',', f);
  json_stats(f, "process_cpu_ms", r->cpu, n);
  fputc(',', f);
  json_stats(f, "answer_total_ms", r->solve, n);
  fprintf(f, ",\"objective\":%.10g", r->objective);
  if (r->lemon) {
    fputc(',', f);
    json_stats(f, "lemon_build_ms", r->l_build, n);
    fputc(',', f);
    json_stats(f, "lemon_total_ms", r->l_total, n);
    fprintf(f,
            ",\"lemon_objective\":%.10g,\"rel_diff\":%.3g,"
            "\"ratio_p50\":%.3f,\"ratio_cpu_p50\":%.3f",
            r->l_objective, r->rel_diff,
            q(r->wall, n, 0.5) / q(r->l_total, n, 0.5),
            q(r->cpu, n, 0.5) / q(r->l_total, n, 0.5));
  }
  fputc('}', f);
}

static int usage(FILE *f, int rc) {
  fputs("usage: bench_process [--runs N] [--warmup N] [--seed S] [--quick]\n"
        "                     [--carematch PATH] [--only SUBSTRING] [--out "
        "FILE]\n"
        "                     [--keep DIR] [--threads N]\n"
        "  --carematch PATH  the program to time (default: carematch beside\n"
        "                    this bench)\n"
        "  --keep DIR        write the instance files into DIR (an existing\n"
        "                    folder) and keep them, for profiling\n"
        "  --threads N       run carematch solve --threads N (default: not\n"
        "                    given, the command's own default)\n",
        f);
  return rc;
}

/* The cases, in the order of the table (names filled in by measure). */
static const bench_case cases0[] = {
    {"positions", 100, 1000, 16, ""},
    {"edges", 100, 1000, 16, ""},
    {"positions", 2000, 20000, 16, ""},
    {"edges", 2000, 20000, 16, ""},
};
enum { N_CASES = sizeof cases0 / sizeof cases0[0] };

/* The command line into o (self: room for the default --carematch). Returns
 * -1 to go on, or the exit code with the usage printed. */
static int parse_args(int argc, char **argv, bench_opts *o, char *self,
                      size_t self_len) {
  *o = (bench_opts){20, 3, 1, NULL, NULL, NULL, NULL, NULL};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--quick"))
      o->runs = 5, o->warmup = 1;
    else if (!strcmp(a, "--help") || !strcmp(a, "-h"))
      return usage(stdout, 0);
    else if (!v)
      return usage(stderr, 2);
    else if (!strcmp(a, "--runs") && (o->runs = atoi(v)) > 0 &&
             o->runs <= BENCH_MAX_RUNS)
      i++;
    else if (!strcmp(a, "--warmup") && (o->warmup = atoi(v)) >= 0)
      i++;
    else if (!strcmp(a, "--seed"))
      o->seed = strtoull(v, NULL, 10), i++;
    else if (!strcmp(a, "--carematch"))
      o->carematch = v, i++;
    else if (!strcmp(a, "--only"))
      o->only = v, i++;
    else if (!strcmp(a, "--out"))
      o->out = v, i++;
    else if (!strcmp(a, "--keep"))
      o->keep = v, i++;
    else if (!strcmp(a, "--threads") && atoi(v) > 0)
      o->threads = v, i++;
    else
      return usage(stderr, 2);
  }
  if (!o->carematch) { /* beside this bench */
    const char *slash = strrchr(argv[0], '/');
    snprintf(self, self_len, "%.*scarematch",
             slash ? (int)(slash - argv[0] + 1) : 0, argv[0]);
    o->carematch = self;
  }
  return -1;
}

/* The report's heading and the table's column names, on stdout. */
static void print_header(const bench_opts *o) {
  printf("carematch %s process bench: %d runs (+%d warmup) per case, seed "
         "%llu; ms, p50 unless p99\n"
         "process = spawn to exit of `carematch solve --in FILE --out "
         "FILE`; cpu = its user+sys;\n"
         "answer = its timings.total_ms; LEMON = build+solve in this "
         "process, same runs;\n"
         "ratio = process p50 / LEMON p50 (cpu: process cpu p50 / LEMON "
         "p50)\n%s",
         CM_VERSION, o->runs, o->warmup, (unsigned long long)o->seed,
#ifdef CM_HAVE_LEMON
         ""
#else
         "(built without LEMON: liblemon-dev; no LEMON columns)\n"
#endif
  );
  printf("%-28s %6s %8s %8s %8s %8s %8s %8s %6s %6s %8s\n", "case", "MB",
         "proc", "proc.p99", "cpu", "answer", "L.tot", "L.p99", "ratio",
         "r.cpu", "diff");
}

/* Name and run each case (those --only picks) with its files in dir, printing
 * a row for each; done[c] set for those measured. Returns 1 if any failed or
 * its objective differs from LEMON's, else 0. */
static int measure(const bench_opts *o, const char *dir, bench_case *cases,
                   bench_row *rows, int *done) {
  int bad = 0;
  for (int c = 0; c < N_CASES; c++) {
    cases[c] = cases0[c];
    snprintf(cases[c].name, sizeof cases[c].name, "%s %dx%d K%d", cases[c].mode,
             cases[c].n_req, cases[c].n_wrk, cases[c].k);
    if (o->only && !strstr(cases[c].name, o->only))
      continue;
    if (bench_case_run(o, &cases[c], dir, &rows[c]) != 0) {
      fprintf(stderr, "bench_process: %s: %s\n", cases[c].name, rows[c].error);
      bad = 1;
      continue;
    }
    if (rows[c].lemon && !(rows[c].rel_diff <= BENCH_TOL)) {
      fprintf(stderr,
              "bench_process: OBJECTIVE MISMATCH in %s: %.10g, "
              "LEMON %.10g\n",
              cases[c].name, rows[c].objective, rows[c].l_objective);
      bad = 1;
    }
    done[c] = 1;
    print_row(o, &cases[c], &rows[c]);
    fflush(stdout);
  }
  return bad;
}

/* The JSON report of the cases done into o->out. Returns 0, or 1 if it cannot
 * be written. */
static int write_json(const bench_opts *o, const bench_case *cases,
                      const bench_row *rows, const int *done) {
  FILE *f = fopen(o->out, "w");
  double load[3] = {NAN, NAN, NAN};
  if (!f) {
    fprintf(stderr, "bench_process: cannot write %s\n", o->out);
    return 1;
  }
  getloadavg(load, 3);
  fprintf(f,
          "{\"bench\":\"process\",\"version\":\"%s\",\"options\":{\"runs\":"
          "%d,\"warmup\":%d,\"seed\":%llu,\"threads\":%d,\"lemon\":%s},"
          "\"cpus\":%ld,\"loadavg_end\":[%.2f,%.2f,%.2f],\n \"cases\":[\n",
          CM_VERSION, o->runs, o->warmup, (unsigned long long)o->seed,
          o->threads ? atoi(o->threads) : 0,
#ifdef CM_HAVE_LEMON
          "true",
#else
          "false",
#endif
          sysconf(_SC_NPROCESSORS_ONLN), load[0], load[1], load[2]);
  for (int c = 0, first = 1; c < N_CASES; c++)
    if (done[c]) {
      json_row(f, o, &cases[c], &rows[c], first);
      first = 0;
    }
  fputs("\n]}\n", f);
  return fclose(f) != 0 ? 1 : 0;
}

int main(int argc, char **argv) {
  bench_opts o;
  bench_case cases[N_CASES];
  static bench_row rows[N_CASES];
  char self[1024], dir[] = "/tmp/cm_bench_process.XXXXXX";
  int done[N_CASES] = {0}, rc = parse_args(argc, argv, &o, self, sizeof self);
  if (rc >= 0)
    return rc;
  if (!mkdtemp(dir)) {
    fprintf(stderr, "bench_process: mkdtemp: %s\n", strerror(errno));
    return 1;
  }
  print_header(&o);
  int bad = measure(&o, o.keep ? o.keep : dir, cases, rows, done);
  rmdir(dir);
  return o.out && write_json(&o, cases, rows, done) != 0 ? 1 : bad;
}
