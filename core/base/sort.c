/* sort.c -- stable merge sort of int arrays with a context comparator. */
#include <stdlib.h>
#include <string.h>

#include "sort.h"

static void insertion(int *a, int n, cm__int_cmp cmp, const void *ctx) {
  for (int i = 1; i < n; i++) {
    int v = a[i], j = i;
    while (j > 0 && cmp(ctx, a[j - 1], v) > 0) {
      a[j] = a[j - 1];
      j--;
    }
    a[j] = v;
  }
}

static void merge_sort(int *a, int *tmp, int n, cm__int_cmp cmp,
                       const void *ctx) {
  if (n <= 24) {
    insertion(a, n, cmp, ctx);
    return;
  }
  int h = n / 2;
  merge_sort(a, tmp, h, cmp, ctx);
  merge_sort(a + h, tmp, n - h, cmp, ctx);
  if (cmp(ctx, a[h - 1], a[h]) <= 0)
    return;
  memcpy(tmp, a, (size_t)h * sizeof *a);
  int i = 0, j = h, k = 0;
  while (i < h && j < n)
    a[k++] = cmp(ctx, a[j], tmp[i]) < 0 ? a[j++] : tmp[i++];
  while (i < h)
    a[k++] = tmp[i++];
}

void cm__sort_ints(int *a, int n, cm__int_cmp cmp, const void *ctx) {
  if (n < 2)
    return;
  int *tmp = n > 24 ? malloc((size_t)n * sizeof *tmp) : NULL;
  if (!tmp) {
    insertion(a, n, cmp, ctx);
    return;
  }
  merge_sort(a, tmp, n, cmp, ctx);
  free(tmp);
}
