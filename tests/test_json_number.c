/* test_json_number.c -- cm__json_real_fast (adapters/json/json_number.c):
 * every real it reads is the double strtod reads, bit for bit, and it
 * leaves to strtod what one IEEE operation cannot give exactly. */
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
