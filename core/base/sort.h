/* sort.h -- a stable merge sort of int arrays with a context-carrying
 * comparator (qsort has no context, and core keeps no global state). */
#ifndef CM_SORT_H_INCLUDED_
#define CM_SORT_H_INCLUDED_

typedef int (*cm__int_cmp)(const void *ctx, int a, int b);

/* Sort a[0..n) stably. Falls back to insertion sort when the scratch
 * buffer cannot be allocated, so it never fails. */
void cm__sort_ints(int *a, int n, cm__int_cmp cmp, const void *ctx);

#endif
