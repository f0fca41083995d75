/* fuzz_solve.c -- libFuzzer target: the `carematch solve` instance format
 * (docs/solve-format.md), as the CLI reads it. Any input is decoded; one
 * that decodes must round-trip (encoding it and decoding that gives the
 * same text again), is solved under a small budget, must pass the
 * independent answer checker of the tests (tests/support/check.c), and its
 * answer is encoded. A refusal must name an error code. */
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
    char *text = cm_answer_to_json(inst, &ans, data[0] & 1);
    if (!text)
      die("cannot encode the answer", NULL);
    free(text);
  } else if (err.code != CM_E_NOMEM && err.code != CM_E_LIMIT) {
    die("cm_solve failed on a valid instance", err.message);
  }
  cm_answer_free(&ans);
  cm_instance_free(inst);
  cm_solve_thread_cleanup();
  return 0;
}
