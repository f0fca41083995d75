/* alloc.h -- array allocation for core/ and the adapters (an internal
 * utility, the header-only carematch_alloc target): n elements of size bytes
 * each, with the product checked for overflow, and never a request for 0 bytes
 * (an empty array still gets one element, so NULL always means out of
 * memory and never "malloc(0) returned NULL").
 *
 *   int *a = cm__malloc_array(n, sizeof *a);   uninitialised
 *   int *b = cm__calloc_array(n, sizeof *b);   zeroed
 *
 * n is a count: an int passed in converts to size_t, so a negative one
 * becomes huge and fails the overflow check (NULL) instead of allocating
 * a wrong size. Free with free(). */
#ifndef CM_ALLOC_H_INCLUDED_
#define CM_ALLOC_H_INCLUDED_

#include <stdint.h>
#include <stdlib.h>

/* malloc of n elements of size bytes (at least one). NULL when out of
 * memory or when n * size overflows. */
static inline void *cm__malloc_array(size_t n, size_t size) {
  if (n == 0)
    n = 1;
  if (size == 0)
    size = 1;
  if (n > SIZE_MAX / size)
    return NULL;
  return malloc(n * size);
}

/* calloc of n zeroed elements of size bytes (at least one). NULL when out
 * of memory or when n * size overflows (calloc checks too). */
static inline void *cm__calloc_array(size_t n, size_t size) {
  if (n == 0)
    n = 1;
  if (size == 0)
    size = 1;
  if (n > SIZE_MAX / size)
    return NULL;
  return calloc(n, size);
}

#endif
