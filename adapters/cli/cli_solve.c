/* cli_solve.c -- `carematch solve`: read an instance, solve it under an
 * optional deadline on the monotonic clock, write the answer. Nothing is
 * written to the output unless the whole answer is ready. */
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#include <sys/mman.h>
#endif

#include "carematch/json.h"
#include "carematch/solve.h"
#include "cli.h"

/* After a solved batch the process exits: the instance, the answer and
 * its text (about 20 MB in some 40,000 blocks at 2,000 x 20,000) are left
 * to the kernel, which takes the pages back anyway, instead of being freed
 * block by block (0.3-1 ms). Under AddressSanitizer (LeakSanitizer checks
 * every run) they are freed, as on any failure. */
#if defined(__SANITIZE_ADDRESS__)
#define FREE_AT_EXIT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FREE_AT_EXIT 1
#endif
#endif
#ifndef FREE_AT_EXIT
#define FREE_AT_EXIT 0
#endif

/* cm_clock_fn on CLOCK_MONOTONIC: nanoseconds. */
static int64_t monotonic_ns(void *ctx) {
  struct timespec ts;
  (void)ctx;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int cm_cli_report(const cm_error *err, int exit_code) {
  char *json = cm_error_to_json(err);
  if (json)
    fprintf(stderr, "%s\n", json);
  free(json);
  fprintf(stderr, "carematch: %s (%s)\n",
          err->message[0] ? err->message : cm_status_message(err->code),
          cm_status_name(err->code));
  return exit_code;
}

/* The exit code of an input or decoding failure. */
static int input_exit(cm_status code) {
  switch (code) {
  case CM_E_IO:
    return CM_EXIT_NOINPUT;
  case CM_E_NOMEM:
  case CM_E_SOLVER:
    return CM_EXIT_SOLVER;
  default:
    return CM_EXIT_INSTANCE;
  }
}

/* One process, one batch: memory freed along the way (the text, the
 * decoder's tape) is better kept for the solver than given back to the
 * kernel and asked for again, each new page costing a fault and zeroing.
 * glibc maps blocks above 128 KiB to their own pages and unmaps them when
 * they are freed; raising the thresholds (to 32 MiB, glibc's most) keeps
 * them in the heap for reuse: about 30% fewer page faults on a 5 MB
 * instance. Other C libraries: nothing to do. */
static void keep_freed_memory(void) {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  /* one heap for every thread (--threads): the decoder's second thread
   * then allocates in the memory marked for huge pages too */
  mallopt(M_ARENA_MAX, 1);
#endif
}

/* Ask for transparent huge pages (2 MiB) in the part of the heap the
 * batch will use: decoding and solving a 5 MB instance touch about 26 MB
 * of new memory, 6,600 page faults of 4 KiB, a fifth of the process's
 * CPU time; with huge pages, about 300 (bench/README.md, "The process
 * bench"). The kernel's default mode ("madvise") gives them only to
 * memory marked with madvise(MADV_HUGEPAGE): a block of about six times
 * the input's size is taken from the heap, its 2 MiB-aligned interior
 * marked, and the block given back; keep_freed_memory keeps it in the
 * heap, where the decoder and the solver then allocate. Up to 30 MiB
 * (glibc's heap serves blocks below 32 MiB); small inputs (below 1 MiB)
 * are left alone. A hint: where THP is off, nothing changes. */
static void prefer_huge_pages(const char *path) {
#if defined(__GLIBC__) && defined(MADV_HUGEPAGE)
  const size_t huge = (size_t)2 << 20;
  struct stat sb;
  if (!path || strcmp(path, "-") == 0 || stat(path, &sb) != 0 ||
      !S_ISREG(sb.st_mode) || sb.st_size < (1 << 20))
    return;
  size_t want = (size_t)sb.st_size * 6 + huge;
  if (want > (size_t)30 << 20)
    want = (size_t)30 << 20;
  char *p = malloc(want);
  if (!p)
    return;
  uintptr_t a = ((uintptr_t)p + huge - 1) & ~(uintptr_t)(huge - 1);
  uintptr_t e = ((uintptr_t)p + want) & ~(uintptr_t)(huge - 1);
  if (e > a)
    (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
  free(p);
#else
  (void)path;
#endif
}

/* --threads, or the online CPUs (at most CM_CLI_DEFAULT_THREADS). */
static int solve_threads(const cm_cli_args *args) {
  if (args->threads > 0)
    return args->threads;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1)
    return 1;
  return n < CM_CLI_DEFAULT_THREADS ? (int)n : CM_CLI_DEFAULT_THREADS;
}

int cm_cli_solve(const cm_cli_args *args) {
  cm_error err;
  cm_instance *inst = NULL;
  cm_answer ans;
  char *text = NULL, *out = NULL;
  size_t len = 0;
  int code = CM_EXIT_OK;
  cm_solve_options opts = {0};
  memset(&ans, 0, sizeof ans);
  cm_error_clear(&err);
  keep_freed_memory();
  prefer_huge_pages(args->in);

  if (cm_cli_read_all(args->in, CM_CLI_MAX_INPUT, &text, &len, &err) != CM_OK) {
    code = cm_cli_report(&err, input_exit(err.code));
    goto done;
  }
  int threads = solve_threads(args);
  if (cm_instance_from_json_threads(text, len, threads, &inst, &err) != CM_OK) {
    code = cm_cli_report(&err, input_exit(err.code));
    goto done;
  }
  free(text);
  text = NULL;

  opts.deadline_ms = args->deadline_ms;
  opts.clock = monotonic_ns;
  opts.validated = 1; /* cm_instance_from_json validated it */
  opts.threads = threads;
  if (cm_solve(inst, &opts, &ans, &err) != CM_OK) {
    code = cm_cli_report(&err, CM_EXIT_SOLVER);
    goto done;
  }
  if (!(out = cm_answer_to_json(inst, &ans, args->pretty))) {
    cm_error_set(&err, CM_E_NOMEM, "", "cannot render the answer");
    code = cm_cli_report(&err, CM_EXIT_SOLVER);
    goto done;
  }
  /* One trailing newline, as text tools expect. */
  size_t n = strlen(out);
  char *line = realloc(out, n + 2);
  if (!line) {
    cm_error_set(&err, CM_E_NOMEM, "", NULL);
    code = cm_cli_report(&err, CM_EXIT_SOLVER);
    goto done;
  }
  out = line;
  memcpy(out + n, "\n", 2);
  if (cm_cli_write_all(args->out, out, n + 1, &err) != CM_OK)
    code = cm_cli_report(&err, CM_EXIT_IO);
done:
  if (FREE_AT_EXIT || code != CM_EXIT_OK) {
    free(out);
    free(text);
    cm_answer_free(&ans);
    cm_instance_free(inst);
  }
  return code;
}
