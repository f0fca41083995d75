/* json_format.c -- cm__json_format_g: a double as printf's "%.*g" writes
 * it, without printf for the common case.
 *
 * An answer is mostly reals (costs, terms, minutes) at 10 significant
 * digits, and snprintf was most of the answer's encoding: its exact
 * algorithm is needed only near a rounding tie. Here the value is scaled
 * by an exact power of ten into [10^(P-1), 10^P) in one multiplication or
 * division (one rounding: at most half a unit in the last place of the
 * scaled value) and rounded to an integer; when the scaled value is close
 * enough to a half that this first rounding could have moved it across,
 * or when %g would use an exponent, it falls back to snprintf. The
 * digits are then laid out as %g lays them out in fixed notation:
 * trailing zeros and a bare point removed. */
#include <math.h> /* isfinite, fabs: no libm */
#include <stdint.h>

#include "json_internal.h"

/* 10^0 .. 10^22: every one exact in a double. */
static const double pow10_exact[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* a x 10^k (|k| <= 22), one rounding. */
static double scale(double a, int k) {
  return k >= 0 ? a * pow10_exact[k] : a / pow10_exact[-k];
}

size_t cm__json_format_g(double x, int precision, char *buf) {
  const int p = precision;
  if (p < 1 || p > CM__JSON_FORMAT_G_MAX || !isfinite(x) || x == 0)
    return 0;
  double a = fabs(x);
  if (a < 1e-5 || a >= pow10_exact[p])
    return 0; /* %g writes an exponent (or nearly: decided below) */
  /* e: the decimal exponent of a, guessed from the powers of ten (the
   * rounding below sets it right: one digit too many or too few moves it) */
  int e = 0;
  if (a >= 1.0)
    while (e + 1 < p && a >= pow10_exact[e + 1])
      e++;
  else
    while (e > -5 && a * pow10_exact[-e] < 1.0)
      e--;
  uint64_t d = 0;
  for (int tries = 0;; tries++) {
    if (tries == 3 || p - 1 - e > 22 || p - 1 - e < -22)
      return 0; /* defensive */
    double s = scale(a, p - 1 - e);
    double fl = (double)(uint64_t)s, frac = s - fl; /* s < 10^15: exact */
    if (fabs(frac - 0.5) <= s * 0x1p-50)
      return 0; /* too near a tie to trust one rounding */
    d = (uint64_t)fl + (frac > 0.5);
    if (d >= (uint64_t)pow10_exact[p])
      e++; /* rounded up to the next power: one digit more */
    else if (d < (uint64_t)pow10_exact[p - 1])
      e--;
    else
      break;
  }
  if (e < -4 || e >= p)
    return 0; /* %g's exponent form */
  char dig[24];
  for (int i = p - 1; i >= 0; i--, d /= 10)
    dig[i] = (char)('0' + d % 10);
  int last = p - 1; /* the last digit kept: trailing zeros go */
  while (last > 0 && dig[last] == '0')
    last--;
  char *o = buf;
  if (x < 0)
    *o++ = '-';
  if (e >= 0) {
    for (int i = 0; i <= e; i++)
      *o++ = dig[i];
    if (last > e) {
      *o++ = '.';
      for (int i = e + 1; i <= last; i++)
        *o++ = dig[i];
    }
  } else {
    *o++ = '0';
    *o++ = '.';
    for (int i = -1; i > e; i--)
      *o++ = '0';
    for (int i = 0; i <= last; i++)
      *o++ = dig[i];
  }
  *o = '\0';
  return (size_t)(o - buf);
}
