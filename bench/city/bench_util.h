/* bench_util.h -- what every bench needs: a monotonic clock and quantiles. */
#ifndef CM_BENCH_UTIL_H_INCLUDED_
#define CM_BENCH_UTIL_H_INCLUDED_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CLOCK_MONOTONIC in nanoseconds; a cm_clock_fn (ctx unused). */
int64_t cm_bench_clock(void *ctx);
/* CLOCK_MONOTONIC in milliseconds. */
double cm_bench_now_ms(void);
/* Nearest-rank quantile q in [0, 1] of v[0..n) (v is not changed); NAN
 * when n <= 0 or out of memory. */
double cm_bench_quantile(const double *v, int n, double q);

#ifdef __cplusplus
}
#endif

#endif
