/* par_ordered.h -- an ordered parallel map inside one call: items 0..n-1
 * are computed on up to `threads` threads (the caller's and threads
 * created and joined inside the call: no pool, no global state), and
 * handed to the caller's thread in index order as soon as each is ready.
 * Internal to the candidate search (candidates.c). */
#ifndef CM_PAR_ORDERED_H_INCLUDED_
#define CM_PAR_ORDERED_H_INCLUDED_

/* Compute item k on thread t (0: the caller's, 1..threads-1: helpers):
 * must only write what belongs to item k or to thread t. Returns 0, or -1
 * (the item failed; take still receives it and decides). */
typedef int (*cm__par_compute)(void *ctx, int k, int t);
/* Take item k, on the caller's thread, in order 0, 1, 2, ...; failed is
 * what compute returned. Returns 0 to go on, nonzero to stop (no further
 * item is taken; items being computed are finished and dropped). */
typedef int (*cm__par_take)(void *ctx, int k, int failed);

/* Run compute over 0..n-1 in chunks of `chunk` items claimed in order, and
 * take each in order. threads <= 1, or a helper that cannot be created:
 * fewer threads (at worst, everything on the caller's thread), the same
 * results. Returns what the last take returned (0: all taken). */
int cm__par_ordered(int threads, int n, int chunk, cm__par_compute compute,
                    cm__par_take take, void *ctx);

#endif
