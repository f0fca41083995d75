/* alloc_fail.c -- test support: the counting allocator behind
 * alloc_fail.h, reached through the linker's --wrap of malloc, calloc,
 * realloc and free (test_alloc_fail only). One process-wide counter: each
 * Criterion test runs in a process of its own. */
#include <jansson.h>
#include <stdlib.h>

#include "alloc_fail.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

static long fail_at;    /* attempt that fails, 0 when disarmed */
static int fail_sticky; /* every attempt after it fails too */
static long attempts;   /* allocation attempts since arming */
static int failed;      /* an injected failure happened */
static long live;       /* blocks out */

/* 1 when this attempt is to fail. */
static int inject(void) {
  attempts++;
  if (fail_at > 0 &&
      (attempts == fail_at || (fail_sticky && attempts > fail_at))) {
    failed = 1;
    return 1;
  }
  return 0;
}

void cm_fail_arm(long n, int persistent) {
  fail_at = n > 0 ? n : 0;
  fail_sticky = persistent;
  attempts = 0;
  failed = 0;
}

int cm_fail_disarm(void) {
  fail_at = 0;
  return failed;
}

long cm_fail_attempts(void) {
  return attempts;
}

long cm_fail_live(void) {
  return live;
}

void *__wrap_malloc(size_t n) {
  if (inject())
    return NULL;
  void *p = __real_malloc(n);
  live += p != NULL;
  return p;
}

void *__wrap_calloc(size_t n, size_t size) {
  if (inject())
    return NULL;
  void *p = __real_calloc(n, size);
  live += p != NULL;
  return p;
}

void *__wrap_realloc(void *p, size_t n) {
  if (inject())
    return NULL; /* the old block stays, as with a real failure */
  void *q = __real_realloc(p, n);
  if (!p && q)
    live++;
  else if (p && !q && n == 0)
    live--;
  return q;
}

void __wrap_free(void *p) {
  live -= p != NULL;
  __real_free(p);
}

static void *json_alloc(size_t n) {
  return __wrap_malloc(n);
}

static void json_release(void *p) {
  __wrap_free(p);
}

void cm_fail_route_jansson(void) {
  json_set_alloc_funcs(json_alloc, json_release);
}
