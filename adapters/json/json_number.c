/* json_number.c -- cm__json_real_fast: a JSON real read without strtod
 * when the double it names can be had exactly with one or two roundings.
 *
 * Instances are mostly reals (positions, ratings, travel minutes), and
 * strtod was a fifth of the parse of a position instance: its general
 * algorithm (arbitrary precision, the locale) is needed only for long
 * mantissas, large exponents and the rare ties. A decimal m x 10^e:
 *   - with m <= 2^53 and |e| <= 22, m and 10^|e| are exact doubles and one
 *     multiplication or division rounds once, correctly (Clinger's fast
 *     path): strtod's double;
 *   - with m < 2^64 and |e| <= 27 and an x87 long double (64-bit
 *     mantissa), m and 10^|e| are exact long doubles: one operation rounds
 *     to 64 bits (q), and rounding q to a double gives strtod's double
 *     unless q lies on a midpoint between two doubles (no other long double
 *     can lie between q and the exact value, as |q - exact| is at most half
 *     a long-double unit); then, and for anything else, it falls back.
 * This covers the 17 significant digits every encoder of a double writes.
 * The second path checks first that long doubles have their precision
 * (not under valgrind, which computes them as doubles).
 * Round to nearest (C's default) is assumed, as strtod's result is. */
#include <float.h>
#include <stdint.h>
#include <string.h>

#include "json_internal.h"

#if LDBL_MANT_DIG == 64 && defined(__x86_64__)
#define WIDE_PATH 1
/* 10^0 .. 10^27: every one exact in an x87 long double (5^27 < 2^64). */
static const long double pow10_wide[] = {
    1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
    1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
    1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};

/* m x 10^exp (|exp| <= 27) rounded to a double through a long double.
 * Returns 1 with *out set, or 0 when the long double is a midpoint between
 * two doubles (or next to one: a margin). */
static int wide(uint64_t m, int exp, double *out) {
  /* The argument needs the x87 unit at its full 64-bit precision: under
   * a precision control of 53 bits, or an emulator that computes long
   * doubles as doubles (valgrind), 1 + 2^-60 is 1, and strtod reads it. */
  volatile long double one = 1.0L;
  if (one + 0x1p-60L == 1.0L)
    return 0;
  long double q = (long double)m;
  q = exp < 0 ? q / pow10_wide[-exp] : q * pow10_wide[exp];
  uint64_t mant; /* x86's long double: the 64-bit mantissa comes first */
  memcpy(&mant, &q, sizeof mant);
  unsigned low = (unsigned)(mant & 0x7ff); /* the 11 bits a double drops */
  if (low >= 0x3ff && low <= 0x401)
    return 0;
  *out = (double)q;
  return 1;
}
#else
#define WIDE_PATH 0
#endif

/* 10^0 .. 10^22: every one exact in a double. */
static const double pow10_exact[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

int cm__json_real_fast(const char *s, size_t n, double *out) {
#if FLT_EVAL_METHOD != 0
  (void)s, (void)n, (void)out;
  return 0; /* excess precision would round twice */
#else
  size_t i = 0;
  int neg = 0, digits = 0, exp = 0;
  uint64_t m = 0;
  if (i < n && s[i] == '-') {
    neg = 1;
    i++;
  }
  for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
    if (m == 0 && s[i] == '0')
      continue; /* leading zeros carry no digit */
    if (++digits > 19)
      return 0;
    m = m * 10 + (uint64_t)(s[i] - '0');
  }
  if (i < n && s[i] == '.')
    for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
      exp--;
      if (m == 0 && s[i] == '0')
        continue;
      if (++digits > 19)
        return 0;
      m = m * 10 + (uint64_t)(s[i] - '0');
    }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    int eneg = 0, e = 0;
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-'))
      eneg = s[i++] == '-';
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
      if (e > 9999)
        return 0; /* far out of the fast range anyway */
      e = e * 10 + (s[i] - '0');
    }
    exp += eneg ? -e : e;
  }
  if (i != n)
    return 0; /* defensive: not JSON's grammar */
  if (m == 0) {
    *out = neg ? -0.0 : 0.0;
    return 1;
  }
  double d;
  if (m <= (uint64_t)1 << 53 && exp >= -22 && exp <= 22) {
    d = (double)m;
    d = exp < 0 ? d / pow10_exact[-exp] : d * pow10_exact[exp];
  } else if (!WIDE_PATH || exp < -27 || exp > 27) {
    return 0;
  }
#if WIDE_PATH
  else if (!wide(m, exp, &d)) {
    return 0;
  }
#endif
  *out = neg ? -d : d;
  return 1;
#endif
}
