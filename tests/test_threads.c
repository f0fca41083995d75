/* test_threads.c -- threads change nothing but the timings:
 * cm_solve_options.threads (the candidate search on several threads,
 * core/solver/par_ordered.c) gives the same answer as one thread, and the
 * instance decoder with its second thread (adapters/json/instance_pipe.c)
 * the same instance or the same error as without, on the files of
 * tests/data/instances and on mutated city instances. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/city/city.h"
#include "../bench/city/city_edges.h"
#include "carematch/json.h"
#include "carematch/solve.h"
#include "json_internal.h"

#define DATA CM_TEST_DATA "/instances"

/* ---- the solver ---- */

static void same_answer(const cm_answer *a, const cm_answer *b,
                        const char *what) {
  cr_assert_eq(a->n_assignments, b->n_assignments, "%s: assignments", what);
  cr_assert_eq(a->n_unassigned, b->n_unassigned, "%s: unassigned", what);
  cr_assert_eq(a->n_components, b->n_components, "%s: components", what);
  cr_assert_eq(a->objective, b->objective, "%s: objective %.17g %.17g", what,
               a->objective, b->objective);
  cr_assert_eq(a->stats.lower_bound, b->stats.lower_bound, "%s: bound", what);
  cr_assert_eq(a->stats.exact, b->stats.exact, "%s: exact", what);
  cr_assert_eq(a->stats.edges, b->stats.edges, "%s: edges", what);
  cr_assert_eq(a->stats.unsearched, b->stats.unsearched, "%s", what);
  cr_assert_eq(a->stats.greedy_objective, b->stats.greedy_objective, "%s",
               what);
  for (int k = 0; k < a->n_assignments; k++) {
    const cm_assignment *x = &a->assignments[k], *y = &b->assignments[k];
    cr_assert(x->request == y->request && x->worker == y->worker &&
                  x->component == y->component &&
                  x->terms.total == y->terms.total,
              "%s: assignment %d", what, k);
  }
  for (int k = 0; k < a->n_unassigned; k++) {
    const cm_unassigned *x = &a->unassigned[k], *y = &b->unassigned[k];
    cr_assert(x->request == y->request && x->reason == y->reason &&
                  x->penalty == y->penalty,
              "%s: unassigned %d", what, k);
  }
  for (int k = 0; k < a->n_components; k++) {
    const cm_component_info *x = &a->components[k], *y = &b->components[k];
    cr_assert(x->requests == y->requests && x->workers == y->workers &&
                  x->edges == y->edges && x->method == y->method &&
                  x->proven == y->proven && x->fell_back == y->fell_back &&
                  x->floor == y->floor,
              "%s: component %d", what, k);
  }
}

static cm_instance *city(uint64_t seed, int nr, int nw, double teams,
                         int edges) {
  cm_city_spec spec;
  cm_error err;
  cm_city_spec_init(&spec);
  spec.seed = seed;
  spec.n_requests = nr;
  spec.n_workers = nw;
  spec.team_share = teams;
  spec.capacity_max = 2;
  spec.k = 16;
  spec.pref_share = 0.1;
  spec.excl_share = 0.1;
  cm_instance *inst = cm_city_instance(&spec, &err);
  cr_assert_not_null(inst, "%s", err.message);
  if (edges)
    cr_assert_eq(cm_city_to_edges(inst, &err), 0, "%s", err.message);
  return inst;
}

static void solve(const cm_instance *inst, double deadline_ms, int threads,
                  cm_answer *out) {
  cm_solve_options o = {.deadline_ms = deadline_ms, .threads = threads};
  cm_error err;
  cr_assert_eq(cm_solve(inst, &o, out, &err), CM_OK, "%s", err.message);
}

Test(solve_threads, the_same_answer_for_any_number_of_threads) {
  static const struct {
    int nr, nw;
    double teams;
  } cases[] = {{40, 400, 0}, /* one thread anyway */
               {600, 6000, 0},
               {600, 6000, 0.05},
               {1200, 1000, 0}}; /* scarce */
  static const double deadlines[] = {-1, 0};
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
    for (int edges = 0; edges < 2; edges++)
      for (uint64_t seed = 1; seed <= 2; seed++) {
        cm_instance *inst =
            city(seed, cases[c].nr, cases[c].nw, cases[c].teams, edges);
        for (size_t d = 0; d < 2; d++) {
          cm_answer one;
          solve(inst, deadlines[d], 1, &one);
          for (int t = 2; t <= 4; t++) {
            cm_answer more;
            char what[128];
            snprintf(what, sizeof what,
                     "%dx%d teams %.2f %s seed %d dl %g t %d", cases[c].nr,
                     cases[c].nw, cases[c].teams, edges ? "edges" : "positions",
                     (int)seed, deadlines[d], t);
            solve(inst, deadlines[d], t, &more);
            same_answer(&one, &more, what);
            cm_answer_free(&more);
          }
          cm_answer_free(&one);
        }
        cm_instance_free(inst);
      }
}

/* A clock that advances 50 us at each read: the search is cut somewhere
 * in the middle; with threads as without, what was searched is the most
 * urgent part and the answer is feasible and no worse than greedy's. */
static int64_t stepping(void *ctx) {
  int64_t *t = ctx;
  return *t += 50000;
}

Test(solve_threads, a_budget_cuts_the_search_as_with_one_thread) {
  cm_instance *inst = city(3, 600, 6000, 0, 0);
  for (double budget = 0.5; budget <= 64; budget *= 2) {
    int64_t t = 0;
    cm_solve_options o = {.deadline_ms = budget,
                          .clock = stepping,
                          .clock_ctx = &t,
                          .threads = 2};
    cm_answer a;
    cm_error err;
    cr_assert_eq(cm_solve(inst, &o, &a, &err), CM_OK, "%s", err.message);
    cr_assert_leq(a.stats.unsearched, inst->n_requests);
    if (a.stats.unsearched == 0)
      cr_assert_leq(a.objective, a.stats.greedy_objective + 1e-9, "budget %g",
                    budget);
    cr_assert_leq(a.stats.lower_bound, a.objective + 1e-9);
    int served[6000] = {0};
    for (int k = 0; k < a.n_assignments; k++)
      cr_assert_leq(++served[a.assignments[k].worker],
                    inst->workers[a.assignments[k].worker].capacity);
    cm_answer_free(&a);
  }
  cm_instance_free(inst);
}

/* ---- the decoder ---- */

/* Decode text with one thread and with the pipe (whatever its size): the
 * same status, error and instance. */
static void same_decode(const char *text, size_t len, const char *what) {
  cm_instance *a = NULL, *b = NULL;
  cm_error ea, eb;
  cm_status sa = cm__instance_decode(text, len, 1, SIZE_MAX, &a, &ea);
  cm_status sb = cm__instance_decode(text, len, 2, 0, &b, &eb);
  cr_assert_eq(sa, sb, "%s: %s / %s", what, ea.message, eb.message);
  if (sa != CM_OK) {
    cr_assert_str_eq(ea.field, eb.field, "%s", what);
    cr_assert_str_eq(ea.message, eb.message, "%s", what);
    return;
  }
  char *ta = cm_instance_to_json(a, 0), *tb = cm_instance_to_json(b, 0);
  cr_assert(ta && tb);
  cr_assert_str_eq(ta, tb, "%s", what);
  free(ta);
  free(tb);
  cm_instance_free(a);
  cm_instance_free(b);
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s", path);
  char *buf = NULL;
  size_t n = 0, cap = 0, got;
  do {
    if (cap - n < 4096) {
      cap = cap ? cap * 2 : 8192;
      buf = realloc(buf, cap);
      cr_assert_not_null(buf);
    }
    got = fread(buf + n, 1, cap - n - 1, f);
    n += got;
  } while (got > 0);
  fclose(f);
  buf[n] = '\0';
  *len = n;
  return buf;
}

static void each_file(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *de;
  int files = 0;
  cr_assert_not_null(d, "%s", dir);
  while ((de = readdir(d))) {
    size_t n = strlen(de->d_name), len;
    if (n < 5 || strcmp(de->d_name + n - 5, ".json") != 0)
      continue;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    char *text = slurp(path, &len);
    same_decode(text, len, path);
    free(text);
    files++;
  }
  closedir(d);
  cr_assert_gt(files, 0, "%s", dir);
}

Test(decode_threads, the_files_decode_or_fail_the_same) {
  each_file(DATA "/good");
  each_file(DATA "/bad");
}

/* City instances, and mutations of them: a byte replaced, removed or
 * added, a field's value changed, anywhere in the text. */
Test(decode_threads, mutated_instances_decode_or_fail_the_same) {
  static const char bytes[] = "\"x,1}]{[:-.e \\0";
  uint64_t rng = 12345;
  for (int edges = 0; edges < 2; edges++) {
    cm_instance *inst = city(4, 120, 900, 0.05, edges);
    char *text = cm_instance_to_json(inst, 0);
    cr_assert_not_null(text);
    size_t len = strlen(text);
    same_decode(text, len, "as written");
    char *m = malloc(len + 2);
    cr_assert_not_null(m);
    for (int k = 0; k < 300; k++) {
      size_t at = (size_t)(cm_city_rand(&rng) % len);
      char b = bytes[cm_city_rand(&rng) % (sizeof bytes - 1)];
      size_t n = len;
      memcpy(m, text, len + 1);
      switch (cm_city_rand(&rng) % 3) {
      case 0:
        m[at] = b;
        break;
      case 1:
        memmove(m + at, m + at + 1, len - at);
        n--;
        break;
      default:
        memmove(m + at + 1, m + at, len - at + 1);
        m[at] = b;
        n++;
      }
      char what[64];
      snprintf(what, sizeof what, "mutation %d at %zu", k, at);
      same_decode(m, n, what);
    }
    free(m);
    free(text);
    cm_instance_free(inst);
  }
}
