/* rng.h -- test support: the one random generator of the tests, seeded and
 * independent of libc and of the bench code: splitmix64 (a 64-bit counter
 * hashed; also seeds the others) and xoshiro256** seeded by it, with
 * uniform helpers. Header-only, so any test or support file can use it. */
#ifndef CM_RNG_H_INCLUDED_
#define CM_RNG_H_INCLUDED_

#include <stdint.h>

/* splitmix64: advances *x and returns the next value. */
static inline uint64_t cm_rng_splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* xoshiro256**, its state seeded by splitmix64. */
typedef struct cm_check_rng {
  uint64_t s[4]; /* state */
} cm_check_rng;

static inline void cm_check_rng_seed(cm_check_rng *g, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++)
    g->s[i] = cm_rng_splitmix64(&x);
}

static inline uint64_t cm_rng_rotl_(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

static inline uint64_t cm_check_rng_next(cm_check_rng *g) {
  uint64_t *s = g->s;
  uint64_t result = cm_rng_rotl_(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = cm_rng_rotl_(s[3], 45);
  return result;
}

/* Uniform integer in [lo, hi] (lo when hi <= lo). */
static inline int cm_check_rng_int(cm_check_rng *g, int lo, int hi) {
  if (hi <= lo)
    return lo;
  uint64_t span = (uint64_t)((int64_t)hi - lo + 1);
  return lo + (int)(cm_check_rng_next(g) % span);
}

/* Uniform double in [0, 1): the top 53 bits. */
static inline double cm_check_rng_unit(cm_check_rng *g) {
  return (double)(cm_check_rng_next(g) >> 11) * 0x1.0p-53;
}

/* Uniform double in [lo, hi). */
static inline double cm_check_rng_real(cm_check_rng *g, double lo, double hi) {
  return lo + (hi - lo) * cm_check_rng_unit(g);
}

/* 1 with probability p. */
static inline int cm_check_rng_chance(cm_check_rng *g, double p) {
  return cm_check_rng_unit(g) < p;
}

#endif
