/* fuzz_solve.c -- libFuzzer target: the `carematch solve` instance format
 * (docs/solve-format.md), as the CLI reads it. Any input is decoded; one
 * that decodes must round-trip (encoding it and decoding that gives the
 * same text again), is solved under a small budget, must pass the
 * independent answer and reasons checkers of the tests
 * (tests/support/check.c), and its answer is encoded; a tiny one is also
 * solved without a deadline and an answer claimed exact must match the
 * tests' brute force. A refusal must name an error code. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "carematch/json.h"
#include "carematch/solve.h"
#include "check.h"

#define BUDGET_MS 5.0

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int64_t mono_ns(void *ctx) {
  struct timespec ts;
  (void)ctx;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, const char *detail) {
  fprintf(stderr, "fuzz_solve: %s%s%s\n", what, detail ? ": " : "",
          detail ? detail : "");
  abort();
}

/* encode(decode(encode(inst))) == encode(inst) */
static void round_trip(const cm_instance *inst) {
  char *a = cm_instance_to_json(inst, 0), *b = NULL;
  cm_instance *again = NULL;
  cm_error err;
  if (!a)
    die("cannot encode a decoded instance", NULL);
  if (cm_instance_from_json(a, strlen(a), &again, &err) != CM_OK)
    die("an encoded instance does not decode", err.message);
  if (!(b = cm_instance_to_json(again, 0)))
    die("cannot encode a decoded instance", NULL);
  if (strcmp(a, b) != 0) {
    fprintf(stderr, "first:  %s\nsecond: %s\n", a, b);
    die("an instance does not round-trip", NULL);
  }
  free(a);
  free(b);
  cm_instance_free(again);
}

/* Small enough for the brute force of the tests: few requests, few
 * workers with small capacities. */
static int tiny(const cm_instance *inst) {
  if (inst->n_requests > 8 || inst->n_workers > 6)
    return 0;
  for (int w = 0; w < inst->n_workers; w++)
    if (inst->workers[w].capacity > 3)
      return 0;
  return 1;
}

/* Without a deadline, a tiny instance's answer claimed exact must have the
 * brute force's objective. */
static void against_brute_force(const cm_instance *inst) {
  cm_answer ans;
  cm_error err;
  char msg[CM_CHECK_MSG_MAX];
  memset(&ans, 0, sizeof ans);
  if (cm_solve(inst, NULL, &ans, &err) != CM_OK)
    die("cm_solve failed without a deadline", err.message);
  if (!cm_check_feasible(inst, &ans, msg))
    die("the answer without a deadline does not check", msg);
  if (!cm_check_reasons(inst, &ans, CM_CHECK_UNBOUNDED, msg))
    die("the reasons without a deadline do not check", msg);
  double best = cm_check_brute_force(inst, NULL);
  if (ans.stats.exact && !cm_check_close(ans.objective, best)) {
    snprintf(msg, sizeof msg, "objective %.17g, brute force %.17g",
             ans.objective, best);
    die("an exact answer is not optimal", msg);
  }
  cm_answer_free(&ans);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cm_instance *inst = NULL;
  cm_error err;
  cm_answer ans;
  memset(&ans, 0, sizeof ans);
  if (cm_instance_from_json((const char *)data, size, &inst, &err) != CM_OK) {
    if (err.code == CM_OK || inst)
      die("a refusal without an error", NULL);
    char *text = cm_error_to_json(&err);
    free(text);
    return 0;
  }
  round_trip(inst);
  cm_solve_options opts = {0};
  opts.deadline_ms = BUDGET_MS;
  opts.clock = mono_ns;
  if (cm_solve(inst, &opts, &ans, &err) == CM_OK) {
    char msg[CM_CHECK_MSG_MAX];
    if (!cm_check_feasible(inst, &ans, msg))
      die("the answer does not check", msg);
    if (!cm_check_reasons(inst, &ans, CM_CHECK_BUDGET, msg))
      die("the reasons do not check", msg);
    char *text = cm_answer_to_json(inst, &ans, data[0] & 1);
    if (!text)
      die("cannot encode the answer", NULL);
    free(text);
  } else if (err.code != CM_E_NOMEM && err.code != CM_E_LIMIT) {
    die("cm_solve failed on a valid instance", err.message);
  }
  cm_answer_free(&ans);
  if (tiny(inst))
    against_brute_force(inst);
  cm_instance_free(inst);
  cm_solve_thread_cleanup();
  return 0;
}
