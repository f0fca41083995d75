/* clock.c -- the batch deadline, read through the caller's injected clock,
 * less the reserve that finishing the batch needs. */
#include <stdint.h>

#include "problem.h"

int64_t cm__clock_now(const cm__clock *c) {
  return c->fn ? c->fn(c->ctx) : 0;
}

int cm__clock_short(const cm__clock *c, int64_t need_ns) {
  if (c->deadline_ns == INT64_MAX || !c->fn)
    return 0;
  return cm__clock_now(c) >= c->deadline_ns - need_ns;
}

int cm__clock_expired(const cm__clock *c) {
  return cm__clock_short(c, c->reserve_ns);
}

int64_t cm__finish_ns(int nr, int searched, int ne) {
  return 50000 + 150 * (int64_t)searched + 20 * (int64_t)nr + 10 * (int64_t)ne;
}

int64_t cm__prepare_ns(int nr, int nw, int ne) {
  return 20 * ((int64_t)nr + nw) + 5 * (int64_t)ne;
}

double cm__clock_left_ms(const cm__clock *c) {
  if (c->deadline_ns == INT64_MAX || !c->fn)
    return 1e12;
  int64_t left = c->deadline_ns - c->reserve_ns - cm__clock_now(c);
  return left > 0 ? (double)left / 1e6 : 0.0;
}

double cm__clock_since_ms(const cm__clock *c, int64_t from_ns) {
  return c->fn ? (double)(cm__clock_now(c) - from_ns) / 1e6 : 0.0;
}
