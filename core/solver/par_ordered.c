/* par_ordered.c -- the ordered parallel map of par_ordered.h: chunks are
 * claimed from one atomic counter, so they are handed out in index order;
 * a chunk's items are published together (release on its done flag); the
 * caller's thread takes chunk after chunk, computing chunks itself while
 * the next one it needs is still being computed elsewhere. */
#include "par_ordered.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <threads.h>

#define MAX_THREADS 64

typedef struct par {
  int n, chunk, nchunks;
  cm__par_compute compute;
  void *ctx;
  atomic_int next;     /* the next chunk to claim */
  atomic_int stop;     /* set by the caller's thread: take said stop */
  atomic_uchar *done;  /* nchunks: its items computed (or skipped) */
  unsigned char *fail; /* n: compute returned nonzero */
} par;

typedef struct helper {
  par *q;
  int t;
} helper;

/* Claim the next chunk and compute it on thread t. Returns 0 when no
 * chunk was left. */
static int run_chunk(par *q, int t) {
  int c = atomic_fetch_add_explicit(&q->next, 1, memory_order_relaxed);
  if (c >= q->nchunks)
    return 0;
  int from = c * q->chunk;
  int to = from + q->chunk < q->n ? from + q->chunk : q->n;
  for (int k = from; k < to; k++) {
    if (atomic_load_explicit(&q->stop, memory_order_relaxed))
      break; /* nobody will take them */
    q->fail[k] = q->compute(q->ctx, k, t) != 0;
  }
  atomic_store_explicit(&q->done[c], 1, memory_order_release);
  return 1;
}

static int helper_main(void *arg) {
  helper *h = arg;
  while (!atomic_load_explicit(&h->q->stop, memory_order_relaxed) &&
         run_chunk(h->q, h->t))
    ;
  return 0;
}

static int serial(int n, cm__par_compute compute, cm__par_take take,
                  void *ctx) {
  int rc = 0;
  for (int k = 0; k < n && rc == 0; k++)
    rc = take(ctx, k, compute(ctx, k, 0) != 0);
  return rc;
}

int cm__par_ordered(int threads, int n, int chunk, cm__par_compute compute,
                    cm__par_take take, void *ctx) {
  if (chunk < 1)
    chunk = 1;
  if (threads > MAX_THREADS)
    threads = MAX_THREADS;
  int nchunks = n > 0 ? (n - 1) / chunk + 1 : 0;
  if (threads <= 1 || nchunks < 2)
    return serial(n, compute, take, ctx);
  par q = {.n = n,
           .chunk = chunk,
           .nchunks = nchunks,
           .compute = compute,
           .ctx = ctx,
           .done = calloc((size_t)nchunks, sizeof *q.done),
           .fail = calloc((size_t)n, 1)};
  helper h[MAX_THREADS];
  thrd_t tid[MAX_THREADS];
  int started = 0;
  if (!q.done || !q.fail) {
    free(q.done);
    free(q.fail);
    return serial(n, compute, take, ctx);
  }
  atomic_init(&q.next, 0);
  atomic_init(&q.stop, 0);
  for (int c = 0; c < nchunks; c++)
    atomic_init(&q.done[c], 0);
  for (int t = 1; t < threads; t++) {
    h[started] = (helper){&q, t};
    if (thrd_create(&tid[started], helper_main, &h[started]) != thrd_success)
      break; /* fewer threads: the same results */
    started++;
  }
  int rc = 0;
  for (int c = 0; c < nchunks && rc == 0; c++) {
    while (!atomic_load_explicit(&q.done[c], memory_order_acquire))
      if (!run_chunk(&q, 0))
        thrd_yield(); /* a helper is finishing chunk c */
    int to = (c + 1) * chunk < n ? (c + 1) * chunk : n;
    for (int k = c * chunk; k < to && rc == 0; k++)
      rc = take(ctx, k, q.fail[k]);
  }
  atomic_store_explicit(&q.stop, 1, memory_order_relaxed);
  for (int i = 0; i < started; i++)
    thrd_join(tid[i], NULL);
  free(q.done);
  free(q.fail);
  return rc;
}
