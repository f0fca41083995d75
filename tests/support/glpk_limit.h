/* glpk_limit.h -- test support: make GLPK run out of memory inside a solve.
 *
 * GLPK is a shared library: its allocations bypass the counter of
 * alloc_fail.h. It has a memory limit of its own (glp_mem_limit, whole
 * megabytes); this fills the calling thread's GLPK environment up to
 * room_bytes below a limit, so that GLPK fails once a solve asks it for
 * more, through its error hook (core/solver/lp_glpk.c: a longjmp back, the
 * environment freed, CM_E_SOLVER). */
#ifndef CM_GLPK_LIMIT_H_INCLUDED_
#define CM_GLPK_LIMIT_H_INCLUDED_

#include <stddef.h>

/* Leave room_bytes (< 1 MB) of GLPK memory before its limit. */
void cm_test_glpk_squeeze(size_t room_bytes);
/* Free the thread's GLPK environment (the filler and the limit with it).
 * Harmless when a failed solve already did. */
void cm_test_glpk_release(void);

#endif
