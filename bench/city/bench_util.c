/* bench_util.c -- the benches' clock and quantiles. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"

int64_t cm_bench_clock(void *ctx) {
  struct timespec ts;
  (void)ctx;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double cm_bench_now_ms(void) {
  return (double)cm_bench_clock(NULL) / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double cm_bench_quantile(const double *v, int n, double q) {
  if (n <= 0)
    return NAN;
  double *s = malloc(sizeof *s * (size_t)n);
  if (!s)
    return NAN;
  memcpy(s, v, sizeof *s * (size_t)n);
  qsort(s, (size_t)n, sizeof *s, cmp_double);
  int i = (int)ceil(q * n) - 1;
  double r = s[i < 0 ? 0 : i >= n ? n - 1 : i];
  free(s);
  return r;
}
