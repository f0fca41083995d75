/* bench_solve_warm.c -- warm starts across consecutive batches: each batch
 * of a sequence solved cold and with cm_solve_options.hint (the answer of
 * the batch before, cm_solve_hint_from) in the same run.
 *
 * A sequence starts from a seeded city (bench/city/city.h) and moves on
 * batch by batch in one of two ways:
 * - "daemon": what carematchd's batches see. The requests served leave
 *   with their workers (they got offers); the rest carry over, having
 *   waited one more interval; new requests and workers (drawn from a
 *   second city of the same spec) bring the batch back to its size; the
 *   workers still there move a little.
 * - "replan": the same batch re-solved a moment later. 5-20% of the
 *   requests (uniform per batch) are replaced by new ones, 5% of the
 *   workers by new ones, the rest carry over (the served ones too) and the
 *   workers move a little.
 * - "same": the batch unchanged, its own optimum as the hint: the ceiling
 *   of what any assignment hint can buy.
 * Per batch: one untimed warm-up, then runs of a cold and a warm solve
 * (which comes first alternates);
 * stats.total_ms and solve_ms, the simplex pivots, the requests the hint
 * placed, and the objectives (cold and warm must be equal to 1e-9
 * relative, else the row says MISMATCH and the exit status is 1). JSON
 * report with --out; see bench/README.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "carematch/solve.h"
#include "carematch/version.h"
#include "city.h"

#define WARM_TOL 1e-9
#define WARM_MAX_SAMPLES 4096

typedef struct warm_case {
  const char *mode; /* "daemon", "replan" */
  int n_req, n_wrk, k;
  char name[64];
} warm_case;

typedef struct warm_opts {
  int seeds;   /* sequences per case (5) */
  int batches; /* batches per sequence after the first (8) */
  int runs;    /* timed solves per batch and side (3) */
  uint64_t seed0;
  const char *only;
  const char *out;
} warm_opts;

/* Samples of one case: per timed run (cold and warm alike), per batch. */
typedef struct warm_samples {
  int n, nb;
  double cold_tot[WARM_MAX_SAMPLES], warm_tot[WARM_MAX_SAMPLES];
  double cold_solve[WARM_MAX_SAMPLES], warm_solve[WARM_MAX_SAMPLES];
  double cold_piv[WARM_MAX_SAMPLES], warm_piv[WARM_MAX_SAMPLES];
  double hinted[WARM_MAX_SAMPLES];  /* per batch: share of requests */
  double carried[WARM_MAX_SAMPLES]; /* per batch: share carried over */
  double diff_max;                  /* largest relative objective diff */
  int mismatches;
} warm_samples;

static double warm_unit(uint64_t *s) {
  return cm_city_uniform(s);
}

/* A worker moved up to `km` in each direction. */
static void warm_move(cm_worker *w, double km, uint64_t *rng) {
  w->lat += (warm_unit(rng) * 2 - 1) * km / 111.0;
  w->lon += (warm_unit(rng) * 2 - 1) * km / 95.0;
}

/* The next batch of a sequence from prev and its answer; fresh requests
 * and workers come from donor (a city of the same spec, its own seed),
 * renamed "b<t>r<i>" / "b<t>w<j>". *carried gets the share of requests
 * carried over. Returns NULL when out of memory. */
static cm_instance *warm_next(const warm_case *c, const cm_instance *prev,
                              const cm_answer *ans, const cm_instance *donor,
                              int t, uint64_t *rng, double *carried) {
  cm_instance *inst = cm_instance_new();
  if (!inst)
    return NULL;
  inst->taxonomy = prev->taxonomy;
  inst->weights = prev->weights;
  inst->params = prev->params;
  int daemon = strcmp(c->mode, "daemon") == 0;
  int same = strcmp(c->mode, "same") == 0;
  unsigned char *served = calloc((size_t)prev->n_requests, 1);
  unsigned char *busy = calloc((size_t)prev->n_workers, 1);
  if (!served || !busy)
    goto fail;
  for (int a = 0; a < ans->n_assignments; a++) {
    served[ans->assignments[a].request] = 1;
    busy[ans->assignments[a].worker] = 1;
  }
  double replace = same ? 0 : 0.05 + 0.15 * warm_unit(rng); /* 5-20% */
  int nr = 0, nw = 0, dr = 0, dw = 0;
  for (int i = 0; i < prev->n_requests; i++) {
    int leave = daemon ? served[i] : warm_unit(rng) < replace;
    if (leave)
      continue;
    cm_request r = prev->requests[i];
    r.waited_s += daemon ? 60 : same ? 0 : 10;
    r.n_preferred = r.n_excluded = 0;
    if (cm_instance_request_add(inst, &r, NULL, NULL) != CM_OK)
      goto fail;
    nr++;
  }
  *carried = (double)nr / c->n_req;
  for (; nr < c->n_req && dr < donor->n_requests; nr++, dr++) {
    cm_request r = donor->requests[dr];
    snprintf(r.id, sizeof r.id, "b%dr%d", t, dr);
    r.n_preferred = r.n_excluded = 0;
    if (cm_instance_request_add(inst, &r, NULL, NULL) != CM_OK)
      goto fail;
  }
  for (int j = 0; j < prev->n_workers; j++) {
    int leave = daemon ? busy[j] : !same && warm_unit(rng) < 0.05;
    if (leave)
      continue;
    cm_worker w = prev->workers[j];
    if (!same)
      warm_move(&w, 0.2, rng);
    if (cm_instance_worker_add(inst, &w, NULL, NULL) != CM_OK)
      goto fail;
    nw++;
  }
  for (; nw < c->n_wrk && dw < donor->n_workers; nw++, dw++) {
    cm_worker w = donor->workers[dw];
    snprintf(w.id, sizeof w.id, "b%dw%d", t, dw);
    if (cm_instance_worker_add(inst, &w, NULL, NULL) != CM_OK)
      goto fail;
  }
  free(served);
  free(busy);
  return inst;
fail:
  free(served);
  free(busy);
  cm_instance_free(inst);
  return NULL;
}

static cm_instance *warm_city(const warm_case *c, uint64_t seed) {
  cm_city_spec spec;
  cm_error err;
  cm_city_spec_init(&spec);
  spec.seed = seed;
  spec.n_requests = c->n_req;
  spec.n_workers = c->n_wrk;
  spec.k = c->k;
  cm_instance *inst = cm_city_instance(&spec, &err);
  if (!inst)
    fprintf(stderr, "city: %s\n", err.message);
  return inst;
}

/* One solve; hint may be NULL. Returns 0 or -1 (printed). */
static int warm_solve(const cm_instance *inst, const int *hint,
                      cm_answer *ans) {
  cm_solve_options o;
  cm_error err;
  memset(&o, 0, sizeof o);
  o.deadline_ms = -1;
  o.clock = cm_bench_clock;
  o.validated = 1; /* validated once per batch, outside the timings */
  o.hint = hint;
  if (cm_solve(inst, &o, ans, &err) != CM_OK) {
    fprintf(stderr, "cm_solve: %s\n", err.message);
    return -1;
  }
  return 0;
}

static void warm_record(warm_samples *s, int warm, const cm_answer *a) {
  if (s->n >= WARM_MAX_SAMPLES)
    return;
  (warm ? s->warm_tot : s->cold_tot)[s->n] = a->stats.total_ms;
  (warm ? s->warm_solve : s->cold_solve)[s->n] = a->stats.solve_ms;
  (warm ? s->warm_piv : s->cold_piv)[s->n] = (double)a->stats.simplex_pivots;
}

/* Batch `inst` cold and warm (hint), o->runs times each, alternating. */
static int warm_batch(const warm_opts *o, warm_samples *s,
                      const cm_instance *inst, const int *hint) {
  cm_answer cold, warm;
  cm_error err;
  if (cm_instance_validate(inst, &err) != CM_OK) {
    fprintf(stderr, "instance: %s\n", err.message);
    return -1;
  }
  if (warm_solve(inst, NULL, &cold) != 0) /* warm-up, untimed */
    return -1;
  cm_answer_free(&cold);
  for (int r = 0; r < o->runs; r++) {
    /* the order alternates run by run, so neither side is always first */
    int first_warm = (s->n + r) % 2;
    if (warm_solve(inst, first_warm ? hint : NULL,
                   first_warm ? &warm : &cold) != 0)
      return -1;
    if (warm_solve(inst, first_warm ? NULL : hint,
                   first_warm ? &cold : &warm) != 0) {
      cm_answer_free(first_warm ? &warm : &cold);
      return -1;
    }
    double scale = fabs(cold.objective) > 1 ? fabs(cold.objective) : 1;
    double d = fabs(cold.objective - warm.objective) / scale;
    if (!(d <= WARM_TOL))
      s->mismatches++;
    if (d > s->diff_max || isnan(d))
      s->diff_max = d;
    if (r == 0 && s->nb < WARM_MAX_SAMPLES)
      s->hinted[s->nb++] = (double)warm.stats.hinted / inst->n_requests;
    warm_record(s, 0, &cold);
    warm_record(s, 1, &warm);
    if (s->n < WARM_MAX_SAMPLES)
      s->n++;
    cm_answer_free(&cold);
    cm_answer_free(&warm);
  }
  return 0;
}

/* One sequence: batch 0 solved once to get the first answer, then
 * o->batches batches measured. */
static int warm_sequence(const warm_opts *o, const warm_case *c,
                         warm_samples *s, uint64_t seed) {
  uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 1;
  cm_instance *inst = warm_city(c, seed);
  cm_answer ans;
  int rc = -1;
  if (!inst)
    return -1;
  if (warm_solve(inst, NULL, &ans) != 0) {
    cm_instance_free(inst);
    return -1;
  }
  for (int t = 1; t <= o->batches; t++) {
    double carried = 0;
    cm_instance *donor = warm_city(c, seed * 1000 + (uint64_t)t);
    cm_instance *next =
        donor ? warm_next(c, inst, &ans, donor, t, &rng, &carried) : NULL;
    cm_instance_free(donor);
    int *hint =
        next ? malloc((size_t)next->n_requests * sizeof *hint + 1) : NULL;
    if (!next || !hint ||
        cm_solve_hint_from(inst, &ans, next, hint, NULL) != CM_OK) {
      free(hint);
      cm_instance_free(next);
      goto done;
    }
    if (s->nb < WARM_MAX_SAMPLES)
      s->carried[s->nb] = carried;
    int brc = warm_batch(o, s, next, hint);
    cm_answer_free(&ans);
    cm_instance_free(inst);
    inst = next;
    if (brc != 0 || warm_solve(inst, hint, &ans) != 0) {
      free(hint);
      memset(&ans, 0, sizeof ans);
      goto done;
    }
    free(hint);
  }
  rc = 0;
done:
  cm_answer_free(&ans);
  cm_instance_free(inst);
  return rc;
}

static double warm_q(const double *v, int n, double q) {
  return cm_bench_quantile(v, n, q);
}

static double warm_mean(const double *v, int n) {
  double t = 0;
  for (int i = 0; i < n; i++)
    t += v[i];
  return n > 0 ? t / n : 0;
}

/* Median of warm / cold over the paired runs (the same batch, one right
 * after the other: less noise than the ratio of the medians). */
static double warm_paired(const double *warm, const double *cold, int n) {
  static double r[WARM_MAX_SAMPLES];
  int m = 0;
  for (int i = 0; i < n; i++)
    if (cold[i] > 0)
      r[m++] = warm[i] / cold[i];
  return m > 0 ? warm_q(r, m, 0.5) : 1.0;
}

static void warm_row(const warm_case *c, const warm_samples *s) {
  double pt = warm_paired(s->warm_tot, s->cold_tot, s->n);
  double ps = warm_paired(s->warm_solve, s->cold_solve, s->n);
  printf("%-28s %7.2f %7.2f %7.2f %7.2f %6.2f %6.2f %8.0f %8.0f %5.2f %5.2f "
         "%+7.1f%% %+7.1f%% %8.1e%s\n",
         c->name, warm_q(s->cold_tot, s->n, 0.5),
         warm_q(s->cold_tot, s->n, 0.99), warm_q(s->warm_tot, s->n, 0.5),
         warm_q(s->warm_tot, s->n, 0.99), warm_q(s->cold_solve, s->n, 0.5),
         warm_q(s->warm_solve, s->n, 0.5), warm_q(s->cold_piv, s->n, 0.5),
         warm_q(s->warm_piv, s->n, 0.5), warm_mean(s->carried, s->nb),
         warm_mean(s->hinted, s->nb), 100.0 * (pt - 1), 100.0 * (ps - 1),
         s->diff_max, s->mismatches ? "  MISMATCH" : "");
}

static void warm_json_dist(FILE *f, const char *key, const double *v, int n) {
  fprintf(f, "\"%s\": {\"p50\": %.4f, \"p99\": %.4f, \"max\": %.4f}", key,
          warm_q(v, n, 0.5), warm_q(v, n, 0.99), warm_q(v, n, 1.0));
}

static void warm_json_case(FILE *f, const warm_case *c, const warm_samples *s,
                           int last) {
  fprintf(
      f,
      "    {\"name\": \"%s\", \"mode\": \"%s\", \"requests\": %d, "
      "\"workers\": %d, \"k\": %d, \"samples\": %d, \"batches\": %d,\n     ",
      c->name, c->mode, c->n_req, c->n_wrk, c->k, s->n, s->nb);
  warm_json_dist(f, "cold_total_ms", s->cold_tot, s->n);
  fputs(", ", f);
  warm_json_dist(f, "warm_total_ms", s->warm_tot, s->n);
  fputs(",\n     ", f);
  warm_json_dist(f, "cold_solve_ms", s->cold_solve, s->n);
  fputs(", ", f);
  warm_json_dist(f, "warm_solve_ms", s->warm_solve, s->n);
  fputs(",\n     ", f);
  warm_json_dist(f, "cold_pivots", s->cold_piv, s->n);
  fputs(", ", f);
  warm_json_dist(f, "warm_pivots", s->warm_piv, s->n);
  fprintf(f,
          ",\n     \"paired_total_ratio_p50\": %.4f, "
          "\"paired_solve_ratio_p50\": %.4f,\n     \"carried_share\": %.4f, "
          "\"hinted_share\": %.4f, \"objective_diff_max\": %.3e, "
          "\"mismatches\": %d}%s\n",
          warm_paired(s->warm_tot, s->cold_tot, s->n),
          warm_paired(s->warm_solve, s->cold_solve, s->n),
          warm_mean(s->carried, s->nb), warm_mean(s->hinted, s->nb),
          s->diff_max, s->mismatches, last ? "" : ",");
}

static int warm_only(const char *only, const char *name) {
  if (!only)
    return 1;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", only);
  for (char *p = strtok(buf, ","); p; p = strtok(NULL, ","))
    if (strstr(name, p))
      return 1;
  return 0;
}

static void warm_usage(FILE *f) {
  fputs("usage: bench_solve_warm [--quick] [--seeds N] [--batches N] "
        "[--runs N] [--seed S]\n"
        "                        [--only S[,S..]] [--out FILE.json]\n"
        "  --quick      1 seed, 3 batches, 1 run\n"
        "  --seeds N    sequences per case (default 5)\n"
        "  --batches N  measured batches per sequence (default 8)\n"
        "  --runs N     timed solves per batch, cold and warm each (3)\n",
        f);
}

/* Parse the arguments into o. Returns -1 to go on, else the exit status. */
static int warm_args(int argc, char **argv, warm_opts *o) {
  for (int a = 1; a < argc; a++) {
    const char *v = a + 1 < argc ? argv[a + 1] : NULL;
    if (strcmp(argv[a], "--quick") == 0) {
      o->seeds = 1;
      o->batches = 3;
      o->runs = 1;
    } else if (strcmp(argv[a], "--seeds") == 0 && v && atoi(v) > 0) {
      o->seeds = atoi(v);
      a++;
    } else if (strcmp(argv[a], "--batches") == 0 && v && atoi(v) > 0) {
      o->batches = atoi(v);
      a++;
    } else if (strcmp(argv[a], "--runs") == 0 && v && atoi(v) > 0) {
      o->runs = atoi(v);
      a++;
    } else if (strcmp(argv[a], "--seed") == 0 && v) {
      o->seed0 = strtoull(v, NULL, 10);
      a++;
    } else if (strcmp(argv[a], "--only") == 0 && v) {
      o->only = v;
      a++;
    } else if (strcmp(argv[a], "--out") == 0 && v) {
      o->out = v;
      a++;
    } else {
      warm_usage(strcmp(argv[a], "--help") == 0 ? stdout : stderr);
      return strcmp(argv[a], "--help") == 0 ? 0 : 2;
    }
  }
  return -1;
}

/* The JSON report. Returns 0, or -1 when the file cannot be written. */
static int warm_json(const warm_opts *o, const warm_case *cs,
                     const warm_samples *ss, int nc) {
  FILE *f = fopen(o->out, "w");
  if (!f) {
    perror(o->out);
    return -1;
  }
  fprintf(f,
          "{\n  \"bench\": \"bench_solve_warm\", \"version\": \"%s\", "
          "\"seeds\": %d, \"batches\": %d, \"runs\": %d,\n  \"cases\": [\n",
          CM_VERSION, o->seeds, o->batches, o->runs);
  for (int i = 0; i < nc; i++)
    warm_json_case(f, &cs[i], &ss[i], i == nc - 1);
  fputs("  ]\n}\n", f);
  return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
  warm_opts o = {.seeds = 5, .batches = 8, .runs = 3, .seed0 = 1};
  int rc = warm_args(argc, argv, &o);
  if (rc >= 0)
    return rc;
  static const warm_case all[] = {
      {"daemon", 500, 500, 16, ""},    {"daemon", 2000, 2000, 16, ""},
      {"replan", 500, 500, 16, ""},    {"replan", 2000, 2000, 16, ""},
      {"replan", 2000, 20000, 16, ""}, {"same", 500, 500, 16, ""},
      {"same", 2000, 2000, 16, ""},
  };
  enum { NCASES = sizeof all / sizeof all[0] };
  warm_case cs[NCASES];
  int nc = 0, failed = 0, mismatched = 0;
  for (int i = 0; i < NCASES; i++) {
    cs[nc] = all[i];
    snprintf(cs[nc].name, sizeof cs[nc].name, "warm %s %dx%d K%d", all[i].mode,
             all[i].n_req, all[i].n_wrk, all[i].k);
    if (warm_only(o.only, cs[nc].name))
      nc++;
  }
  warm_samples *ss = calloc((size_t)(nc > 0 ? nc : 1), sizeof *ss);
  if (!ss)
    return 1;
  printf("carematch %s, bench_solve_warm: %d seeds x %d batches x %d runs, "
         "no deadline\n",
         CM_VERSION, o.seeds, o.batches, o.runs);
  printf("%-28s %7s %7s %7s %7s %6s %6s %8s %8s %5s %5s %8s %8s %8s\n", "case",
         "cold", "c.p99", "warm", "w.p99", "c.slv", "w.slv", "c.pivot",
         "w.pivot", "carry", "hint", "w/c.tot", "w/c.slv", "obj.diff");
  for (int i = 0; i < nc; i++) {
    for (int g = 0; g < o.seeds; g++)
      if (warm_sequence(&o, &cs[i], &ss[i], o.seed0 + (uint64_t)g) != 0) {
        fprintf(stderr, "%s: seed %d failed\n", cs[i].name, g);
        failed = 1;
      }
    mismatched |= ss[i].mismatches > 0;
    warm_row(&cs[i], &ss[i]);
    fflush(stdout);
  }
  if (o.out && warm_json(&o, cs, ss, nc) != 0)
    failed = 1;
  free(ss);
  return failed || mismatched;
}
