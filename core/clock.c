/* clock.c -- the batch deadline, read through the caller's injected clock. */
#include <stdint.h>

#include "problem.h"

int64_t cm__clock_now(const cm__clock *c) {
  return c->fn ? c->fn(c->ctx) : 0;
}

int cm__clock_expired(const cm__clock *c) {
  if (c->deadline_ns == INT64_MAX || !c->fn)
    return 0;
  return cm__clock_now(c) >= c->deadline_ns;
}

double cm__clock_left_ms(const cm__clock *c) {
  if (c->deadline_ns == INT64_MAX || !c->fn)
    return 1e12;
  int64_t left = c->deadline_ns - cm__clock_now(c);
  return left > 0 ? (double)left / 1e6 : 0.0;
}

double cm__clock_since_ms(const cm__clock *c, int64_t from_ns) {
  return c->fn ? (double)(cm__clock_now(c) - from_ns) / 1e6 : 0.0;
}
