/* test_json_number.c -- the codec's own number conversions, against the
 * C library's: cm__json_real_fast (json_number.c) reads every real as
 * strtod does, bit for bit, and leaves to strtod what it cannot give
 * exactly; cm__json_format_g (json_format.c) writes what "%.*g" writes, and
 * leaves ties and exponents to snprintf. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

/* xorshift64*: a reproducible stream of numbers. */
static uint64_t next_rand(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}

/* A random real of JSON's grammar in buf: sign, 1-20 integer digits (one
 * 0 or no leading zero), maybe a fraction of 1-20 digits, maybe an
 * exponent of -40..40. */
static void random_real(uint64_t *s, char *buf) {
  char *p = buf;
  if (next_rand(s) % 2)
    *p++ = '-';
  int ni = 1 + (int)(next_rand(s) % 20);
  if (next_rand(s) % 4 == 0)
    ni = 1, *p++ = '0';
  else
    for (int i = 0; i < ni; i++)
      *p++ = (char)('0' + (i == 0 ? 1 + next_rand(s) % 9 : next_rand(s) % 10));
  if (next_rand(s) % 4 != 0) {
    int nf = 1 + (int)(next_rand(s) % 20);
    *p++ = '.';
    for (int i = 0; i < nf; i++)
      *p++ = (char)('0' + next_rand(s) % 10);
  }
  if (next_rand(s) % 3 == 0)
    p += sprintf(p, "%s%d", next_rand(s) % 2 ? "e" : "E",
                 (int)(next_rand(s) % 81) - 40);
  *p = '\0';
}

/* 1 when a and b are the same double, bit for bit (-0 is not 0). */
static int same_bits(double a, double b) {
  return memcmp(&a, &b, sizeof a) == 0;
}

Test(json_number, random_reals_as_strtod) {
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  char buf[128];
  int fast = 0;
  for (int k = 0; k < 300000; k++) {
    random_real(&seed, buf);
    double d = 12345.0;
    if (!cm__json_real_fast(buf, strlen(buf), &d))
      continue;
    fast++;
    double want = strtod(buf, NULL);
    cr_assert(same_bits(d, want), "%s: %.17g, strtod %.17g", buf, d, want);
  }
  /* most random reals are short enough for the fast path */
  cr_expect_gt(fast, 50000, "only %d of 300000 read without strtod", fast);
}

/* What encoders write: 17 significant digits of a double. */
Test(json_number, round_trip_digits_as_strtod) {
  uint64_t seed = 0x2545f4914f6cdd1dull;
  char buf[64];
  int fast = 0, n = 200000;
  for (int k = 0; k < n; k++) {
    double x = (double)(next_rand(&seed) >> 11) / 9007199254740992.0;
    x = (x - 0.5) * pow(10.0, (double)(int)(next_rand(&seed) % 13) - 6);
    snprintf(buf, sizeof buf, "%.17g", x);
    if (!strpbrk(buf, ".eE"))
      continue; /* an integer: no real */
    double d = 12345.0;
    if (!cm__json_real_fast(buf, strlen(buf), &d))
      continue;
    fast++;
    cr_assert(same_bits(d, strtod(buf, NULL)), "%s: %.17g", buf, d);
    cr_assert(same_bits(d, x), "%s: %.17g, was %.17g", buf, d, x);
  }
#if defined(__x86_64__)
  cr_expect_gt(fast, n * 99 / 100, "only %d of %d read without strtod", fast,
               n);
#endif
}

Test(json_number, positions_and_prices_are_fast) {
  static const char *const cases[] = {
    "31.2345678",
    "-121.4737021",
    "0.5",
    "4.75",
    "1e-5",
    "-0.0",
    "0e0",
    "12.00000000000000",
    "9007199254740992e0",
    "1E22",
    "7e-22",
#if defined(__x86_64__)
    "31.191623559394774",
    "0.31713694530514142",
    "1e-23",
#endif
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    double d;
    cr_assert(cm__json_real_fast(cases[i], strlen(cases[i]), &d), "%s",
              cases[i]);
    cr_expect(same_bits(d, strtod(cases[i], NULL)), "%s: %.17g", cases[i], d);
  }
}

Test(json_number, leaves_the_inexact_to_strtod) {
  static const char *const cases[] = {
      "9007199254740993.0",     /* 2^53 + 1: a tie between two doubles */
      "1e23",                   /* next to a tie: 10^23 is the classic */
      "1e28",                   /* 10^28 is not exact in a long double */
      "1e-28",                  /* nor is 10^-28 */
      "12345678901234567890.5", /* 21 digits */
      "0.1e99999",              /* an exponent beyond any double */
      "1e999",                  /* overflow: strtod says ERANGE */
      "1.5x"};                  /* not JSON's grammar */
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    double d = 42.0;
    cr_expect_not(cm__json_real_fast(cases[i], strlen(cases[i]), &d), "%s",
                  cases[i]);
    cr_expect_eq(d, 42.0, "%s: *out changed", cases[i]);
  }
}

/* cm__json_format_g(x, p) is snprintf's "%.*g" whenever it writes. */
static void expect_as_printf(double x, int p, int *fast) {
  char got[40], want[40];
  size_t n = cm__json_format_g(x, p, got);
  if (!n)
    return;
  (*fast)++;
  snprintf(want, sizeof want, "%.*g", p, x);
  cr_assert_str_eq(got, want, "%%.%dg of %.17g", p, x);
  cr_assert_eq(n, strlen(want));
}

Test(json_format, random_doubles_as_printf) {
  uint64_t seed = 0x853c49e6748fea9bull;
  int fast = 0, n = 0;
  for (int k = 0; k < 400000; k++) {
    double m = (double)(next_rand(&seed) >> 11) / 9007199254740992.0;
    double x = m * pow(10.0, (double)(int)(next_rand(&seed) % 24) - 8);
    if (next_rand(&seed) % 2)
      x = -x;
    int p = 1 + (int)(next_rand(&seed) % CM__JSON_FORMAT_G_MAX);
    expect_as_printf(x, p, &fast);
    /* decimals of few digits (prices, minutes) and their neighbours, where
     * the ties are */
    double dec = (double)(int64_t)(next_rand(&seed) % 2000000) / 1000.0;
    expect_as_printf(dec, p, &fast);
    expect_as_printf(nextafter(dec, 0.0), p, &fast);
    expect_as_printf(nextafter(dec, 1e300), p, &fast);
    n += 4;
  }
  cr_expect_gt(fast, n / 2, "only %d of %d written without printf", fast, n);
}

Test(json_format, answer_figures_are_fast) {
  static const double cases[] = {
      7188.711045123,  0.31713694530514142, -12.5, 0.000123456789,
      99999.999999999, 9999999999.4,        1e-4,  123456.7};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int fast = 0;
    expect_as_printf(cases[i], 10, &fast);
    cr_expect_eq(fast, 1, "%.17g left to printf", cases[i]);
  }
}

Test(json_format, exponents_ties_and_the_rest_to_printf) {
  static const double cases[] = {1e10,         /* %g writes 1e+10 */
                                 9999999999.7, /* rounds to 1e+10 */
                                 1.5e-5,       /* %g writes 1.5e-05 */
                                 0.0,          -0.0, INFINITY,
                                 NAN,          0.125}; /* %.2g: a tie, 0.12 */
  char buf[40] = "unchanged";
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    cr_expect_eq(cm__json_format_g(cases[i], i + 1 < 8 ? 10 : 2, buf), 0,
                 "case %zu: %s", i, buf);
  cr_expect_str_eq(buf, "unchanged");
}
