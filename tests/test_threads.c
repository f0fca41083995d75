/* test_threads.c -- threads change nothing but the timings:
 * cm_solve_options.threads (the candidate search on several threads,
 * core/solver/par_ordered.c) gives the same answer as one thread, the
 * instance decoder with its second thread (adapters/json/instance_pipe.c)
 * the same instance or the same error as without, on the files of
 * tests/data/instances and on mutated city instances, and the candidate
 * search run ahead on the decoder's second thread (cm_candidates,
 * core/solver/ahead.c) the same answer as the search inside cm_solve, or
 * none when the members come in another order. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* Wait (up to 20 s) until the search ahead has searched n requests. */
static void wait_searched(cm_candidates *ahead, int n, const char *what) {
  for (int k = 0; k < 20000 && cm_candidates_count(ahead) < n; k++) {
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  cr_assert_eq(cm_candidates_count(ahead), n, "%s", what);
}

/* Solve a as given and b with its candidates searched ahead: the same
 * answer; *ahead_used gets how many requests took theirs from ahead. */
static void same_answer_ahead(const cm_instance *a, const cm_instance *b,
                              cm_candidates *ahead, double deadline_ms,
                              const char *what, int *ahead_used) {
  cm_solve_options o = {.deadline_ms = deadline_ms, .validated = 1};
  cm_answer x, y;
  cm_error err;
  cr_assert_eq(cm_solve(a, &o, &x, &err), CM_OK, "%s: %s", what, err.message);
  o.candidates = ahead;
  cr_assert_eq(cm_solve(b, &o, &y, &err), CM_OK, "%s: %s", what, err.message);
  same_answer(&x, &y, what);
  cr_assert_eq(x.stats.searched_ahead, 0, "%s", what);
  *ahead_used = y.stats.searched_ahead;
  cm_answer_free(&x);
  cm_answer_free(&y);
}

/* Decode text with one thread and with the pipe (whatever its size) and
 * the search ahead: the same status, error and instance, and the same
 * answer from the search ahead as from the search in cm_solve. Returns
 * the requests searched ahead (-1: none ran). */
static int same_decode(const char *text, size_t len, const char *what) {
  cm_instance *a = NULL, *b = NULL;
  cm_candidates *ahead = NULL;
  cm_error ea, eb;
  cm_status sa = cm__instance_decode(text, len, 1, SIZE_MAX, &a, NULL, &ea);
  cm_status sb = cm__instance_decode(text, len, 2, 0, &b, &ahead, &eb);
  cr_assert_eq(sa, sb, "%s: %s / %s", what, ea.message, eb.message);
  if (sa != CM_OK) {
    cr_assert_null(ahead, "%s", what);
    cr_assert_str_eq(ea.field, eb.field, "%s", what);
    cr_assert_str_eq(ea.message, eb.message, "%s", what);
    return -1;
  }
  char *ta = cm_instance_to_json(a, 0), *tb = cm_instance_to_json(b, 0);
  cr_assert(ta && tb);
  cr_assert_str_eq(ta, tb, "%s", what);
  free(ta);
  free(tb);
  int used = -1;
  if (ahead) {
    cr_assert_eq(b->has_edges, 0, "%s", what);
    wait_searched(ahead, b->n_requests, what);
    same_answer_ahead(a, b, ahead, -1, what, &used);
    cr_assert_eq(used, b->n_requests, "%s", what);
  }
  cm_candidates_free(ahead);
  cm_instance_free(a);
  cm_instance_free(b);
  return used;
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
    (void)same_decode(text, len, path);
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
    cr_assert_eq(same_decode(text, len, "as written"),
                 edges ? -1 : inst->n_requests);
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
      (void)same_decode(m, n, what);
    }
    free(m);
    free(text);
    cm_instance_free(inst);
  }
}

/* ---- the candidate search run ahead (cm_instance_from_json_search) ---- */

/* The city's text with the root's members in the order given (names
 * separated by spaces; members not named are dropped). */
static char *reordered(const cm_instance *inst, const char *order) {
  char *text = cm_instance_to_json(inst, 0);
  json_error_t je;
  json_t *in = json_loads(text, 0, &je), *out = json_object();
  cr_assert(in && out, "%s", je.text);
  char names[128];
  snprintf(names, sizeof names, "%s", order);
  for (char *save = NULL, *k = strtok_r(names, " ", &save); k;
       k = strtok_r(NULL, " ", &save))
    if (json_object_get(in, k))
      cr_assert_eq(json_object_set(out, k, json_object_get(in, k)), 0);
  char *r = json_dumps(out, JSON_COMPACT);
  cr_assert_not_null(r);
  json_decref(in);
  json_decref(out);
  free(text);
  return r;
}

/* Decode text (pipe from 0 bytes) with the search ahead and solve it with
 * and without: the same answer. wait: until the search ahead has searched
 * every request (else the call races it). Returns the requests that took
 * their candidates from the search ahead (-1: no search came back). */
static int solve_ahead(const char *text, double deadline_ms, int threads,
                       int wait, const char *what) {
  cm_instance *a = NULL, *b = NULL;
  cm_candidates *ahead = NULL;
  cm_error err;
  size_t len = strlen(text);
  cr_assert_eq(cm__instance_decode(text, len, 1, SIZE_MAX, &a, NULL, &err),
               CM_OK, "%s: %s", what, err.message);
  cr_assert_eq(cm__instance_decode(text, len, threads, 0, &b, &ahead, &err),
               CM_OK, "%s: %s", what, err.message);
  int used = -1;
  if (ahead && wait)
    wait_searched(ahead, b->n_requests, what);
  if (ahead)
    same_answer_ahead(a, b, ahead, deadline_ms, what, &used);
  cm_candidates_free(ahead);
  cm_instance_free(a);
  cm_instance_free(b);
  return used;
}

Test(search_ahead, the_same_answer_as_the_search_in_the_call) {
  static const struct {
    int nr, nw;
    double teams;
  } cases[] = {{40, 400, 0},
               {600, 6000, 0},
               {600, 6000, 0.05},
               {1200, 1000, 0}}; /* scarce */
  static const double deadlines[] = {-1, 0};
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
    for (uint64_t seed = 1; seed <= 2; seed++) {
      cm_instance *inst =
          city(seed, cases[c].nr, cases[c].nw, cases[c].teams, 0);
      char *text = cm_instance_to_json(inst, 0);
      cr_assert_not_null(text);
      for (size_t d = 0; d < 2; d++) {
        char what[128];
        snprintf(what, sizeof what, "%dx%d teams %.2f seed %d dl %g",
                 cases[c].nr, cases[c].nw, cases[c].teams, (int)seed,
                 deadlines[d]);
        cr_assert_eq(solve_ahead(text, deadlines[d], 2, 1, what),
                     inst->n_requests, "%s", what);
        /* the call racing the search ahead: whatever it found */
        int used = solve_ahead(text, deadlines[d], 2, 0, what);
        cr_assert(used >= 0 && used <= inst->n_requests, "%s: %d", what, used);
        /* one thread: no second thread to run it on, none runs */
        cr_assert_eq(solve_ahead(text, deadlines[d], 1, 1, what), -1, "%s",
                     what);
      }
      free(text);
      cm_instance_free(inst);
    }
}

/* Settings after the requests: the search ahead ran on the defaults and
 * cm_solve must not use it; the workers after the requests, or edges
 * before them: none runs; edges after them: none comes back. */
Test(search_ahead, another_order_or_edges_change_nothing) {
  static const struct {
    const char *order;
    int used; /* requests that must take theirs from the search ahead */
  } cases[] = {
      {"taxonomy now_ms weights params workers requests", 600},
      {"taxonomy now_ms params workers requests weights", 0},
      {"taxonomy weights params workers requests now_ms", 0},
      {"taxonomy now_ms weights workers requests params", 0},
      {"taxonomy now_ms weights params requests workers", -1},
      {"requests taxonomy now_ms weights params workers", -1},
  };
  cm_instance *inst = city(5, 600, 6000, 0.05, 0);
  inst->weights.travel *= 1.5; /* not the defaults */
  inst->weights.workload += 1;
  inst->params.k = 12;
  inst->params.now_ms += 60000;
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    char *text = reordered(inst, cases[c].order);
    int used = solve_ahead(text, -1, 2, 1, cases[c].order);
    if (cases[c].used > 0)
      cr_assert_eq(used, cases[c].used, "%s: %d", cases[c].order, used);
    else
      cr_assert_leq(used, 0, "%s: %d", cases[c].order, used);
    if (cases[c].used < 0)
      cr_assert_eq(used, -1, "%s: %d", cases[c].order, used);
    free(text);
  }
  cm_instance *e = city(5, 600, 6000, 0, 1);
  char *text = cm_instance_to_json(e, 0);
  cr_assert_eq(solve_ahead(text, -1, 2, 1, "edges"), -1);
  free(text);
  cm_instance_free(e);
  cm_instance_free(inst);
}

/* Changed after the decode (weights, params, a worker more): not used. */
Test(search_ahead, an_instance_changed_since_is_searched_in_the_call) {
  cm_instance *src = city(6, 600, 6000, 0, 0);
  char *text = cm_instance_to_json(src, 0);
  for (int change = 0; change < 3; change++) {
    cm_instance *a = NULL, *b = NULL;
    cm_candidates *ahead = NULL;
    cm_error err;
    cr_assert_eq(
        cm__instance_decode(text, strlen(text), 2, 0, &b, &ahead, &err), CM_OK);
    cr_assert_eq(
        cm__instance_decode(text, strlen(text), 1, SIZE_MAX, &a, NULL, &err),
        CM_OK);
    cr_assert_not_null(ahead);
    wait_searched(ahead, b->n_requests, "changed");
    for (cm_instance *x = a; x; x = x == a ? b : NULL)
      if (change == 0)
        x->weights.travel *= 2;
      else if (change == 1)
        x->params.radius_max_km /= 2;
      else
        cr_assert_eq(cm_instance_worker_add(x, &src->workers[0], NULL, &err),
                     CM_OK, "%s", err.message);
    int used = 0;
    same_answer_ahead(a, b, ahead, -1, "changed", &used);
    cr_assert_eq(used, 0, "change %d", change);
    cm_candidates_free(ahead);
    cm_instance_free(a);
    cm_instance_free(b);
  }
  free(text);
  cm_instance_free(src);
}

/* A budget cuts the search where the clock says, as without: what was
 * searched is the most urgent part, the answer feasible and no worse than
 * greedy's when everything was searched. */
Test(search_ahead, a_budget_cuts_the_search_as_without) {
  cm_instance *src = city(3, 600, 6000, 0, 0);
  char *text = cm_instance_to_json(src, 0);
  cm_instance *inst = NULL;
  cm_candidates *ahead = NULL;
  cm_error err;
  cr_assert_eq(
      cm__instance_decode(text, strlen(text), 2, 0, &inst, &ahead, &err),
      CM_OK);
  cr_assert_not_null(ahead);
  wait_searched(ahead, inst->n_requests, "budget");
  int cut = 0;
  for (double budget = 0.5; budget <= 64; budget *= 2) {
    int64_t t = 0;
    cm_solve_options o = {.deadline_ms = budget,
                          .clock = stepping,
                          .clock_ctx = &t,
                          .validated = 1,
                          .candidates = ahead};
    cm_answer a;
    cr_assert_eq(cm_solve(inst, &o, &a, &err), CM_OK, "%s", err.message);
    cr_assert_eq(a.stats.searched_ahead, inst->n_requests - a.stats.unsearched);
    cut += a.stats.unsearched > 0 && a.stats.unsearched < inst->n_requests;
    if (a.stats.unsearched == 0)
      cr_assert_leq(a.objective, a.stats.greedy_objective + 1e-9, "budget %g",
                    budget);
    cr_assert_leq(a.stats.lower_bound, a.objective + 1e-9);
    int served[6000] = {0};
    for (int k = 0; k < a.n_assignments; k++)
      cr_assert_leq(++served[a.assignments[k].worker],
                    inst->workers[a.assignments[k].worker].capacity);
    for (int k = 0; k < a.n_unassigned; k++)
      if (a.unassigned[k].reason == CM_REASON_DEADLINE)
        cr_assert_gt(a.stats.unsearched, 0);
    cm_answer_free(&a);
  }
  cr_assert_gt(cut, 0, "no budget cut the search in its middle");
  cm_candidates_free(ahead);
  cm_instance_free(inst);
  free(text);
  cm_instance_free(src);
}

/* The API by hand: with and without a helper thread, a worker out of
 * range (the search unused), settings out of range (refused). */
Test(search_ahead, by_hand) {
  cm_instance *inst = city(7, 600, 6000, 0.05, 0);
  cm_error err;
  for (int threads = 1; threads <= 2; threads++) {
    cm_candidates *c = NULL;
    cr_assert_eq(cm_candidates_new(inst, &inst->weights, &inst->params, threads,
                                   &c, &err),
                 CM_OK, "%s", err.message);
    for (int r = 0; r < inst->n_requests; r++)
      cr_assert_eq(cm_candidates_add(c, r), 1);
    cr_assert_eq(cm_candidates_add(c, 0), 0, "added twice");
    if (threads == 1)
      cr_assert_eq(cm_candidates_count(c), inst->n_requests);
    wait_searched(c, inst->n_requests, "by hand");
    int used = 0;
    same_answer_ahead(inst, inst, c, -1, "by hand", &used);
    cr_assert_eq(used, inst->n_requests);
    same_answer_ahead(inst, inst, c, 0, "again, greedy", &used);
    cr_assert_eq(used, inst->n_requests);
    cm_candidates_free(c);
  }
  cm_candidates *c = NULL;
  int cap = inst->workers[5].capacity;
  inst->workers[5].capacity = 65;
  cr_assert_eq(
      cm_candidates_new(inst, &inst->weights, &inst->params, 2, &c, &err),
      CM_OK);
  cr_assert_eq(cm_candidates_add(c, 0), 0);
  inst->workers[5].capacity = cap;
  cr_assert_eq(cm_candidates_add(c, 1), 0, "unusable for good");
  int used = -1;
  same_answer_ahead(inst, inst, c, -1, "bad worker", &used);
  cr_assert_eq(used, 0);
  cm_candidates_free(c);
  cm_params p = inst->params;
  p.k = 0;
  c = (cm_candidates *)&p; /* must be cleared */
  cr_assert_eq(cm_candidates_new(inst, &inst->weights, &p, 2, &c, &err),
               CM_E_RANGE);
  cr_assert_null(c);
  cm_candidates_free(NULL);
  cm_instance_free(inst);
}
