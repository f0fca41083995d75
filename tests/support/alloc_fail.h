/* alloc_fail.h -- test support: allocation-failure injection.
 *
 * Linked only into test_alloc_fail, whose link line wraps malloc, calloc,
 * realloc and free (-Wl,--wrap=...): every allocation made by code linked
 * statically into that executable (carematch_core, carematch_json, the
 * test itself) goes through the counting wrappers here, and jansson's
 * through cm_fail_json_malloc / cm_fail_json_free once
 * cm_fail_route_jansson() has been called. Shared libraries other than
 * jansson (GLPK, libc, Criterion) are not wrapped. No effect on core/: the
 * library keeps no allocator hook of its own. */
#ifndef CM_ALLOC_FAIL_H_INCLUDED_
#define CM_ALLOC_FAIL_H_INCLUDED_

#include <stddef.h>

/* Arm: the nth allocation attempt from now on (1 = the next one) returns
 * NULL; with persistent set every later one does too. n <= 0 disarms. */
void cm_fail_arm(long n, int persistent);
/* Disarm. Returns 1 when an injected failure happened since arming. */
int cm_fail_disarm(void);
/* Allocation attempts since the last cm_fail_arm (or reset). */
long cm_fail_attempts(void);
/* Blocks allocated through the wrappers and not yet freed. */
long cm_fail_live(void);
/* Route jansson's allocations through the same counter. */
void cm_fail_route_jansson(void);

#endif
