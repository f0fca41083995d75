/* instance_pipe.c -- the streamed arrays' elements decoded on a second
 * thread while yajl reads on: a sink (json_doc.h) in front of
 * instance_stream.c's that lets the tape keep a batch of elements, takes
 * the tape's arrays with them (cm__jsink.swap: the parser goes on in
 * arrays a consumed batch gave back, with the tape's first values copied
 * over, so nothing of an element is copied), and hands the batch to a
 * consumer thread, which calls the inner sink's element callback on its
 * elements in order.
 * The inner sink's stream and end callbacks (which read and set the
 * parts' state) run on the parsing thread once the consumer has caught
 * up, so the inner sink sees exactly the calls, in exactly the order, of
 * the one-thread decode: the same instance, the same errors. */
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

#define PIPE_SLOTS 16        /* batches in flight */
#define PIPE_BATCH_ELEMS 256 /* elements a batch holds at most */

typedef struct pipe_elem {
  uint32_t at; /* its value's index in the batch's vals */
  uint32_t i;  /* its index in the array */
  size_t pos;  /* where it ends in the text */
} pipe_elem;

typedef struct pipe_batch {
  cm__jdoc doc; /* the tape's arrays holding the elements (consumed: the
                   arrays the parser takes at the next swap) */
  pipe_elem *el;
  int n; /* elements */
} pipe_batch;

struct cm__jpipe {
  cm__jsink inner; /* instance_stream.c's */
  pthread_t tid;
  pthread_mutex_t mu;
  pthread_cond_t more; /* a batch was queued, or quit */
  pthread_cond_t less; /* a batch was consumed */
  pipe_batch slot[PIPE_SLOTS];
  int head;  /* next batch to consume */
  int count; /* batches queued or being consumed */
  int fill;  /* the batch being filled: slot[(head + count) % SLOTS] */
  int quit;
  const char *text; /* the text parsed (raw numbers point into it) */
  char point;       /* the locale's decimal point */
};

static void run_batch(cm__jpipe *q, const pipe_batch *b, const cm__jdoc *doc);

static void *consumer_main(void *arg) {
  cm__jpipe *q = arg;
  for (;;) {
    pthread_mutex_lock(&q->mu);
    while (q->count == 0 && !q->quit)
      pthread_cond_wait(&q->more, &q->mu);
    if (q->count == 0) { /* quit, nothing left */
      pthread_mutex_unlock(&q->mu);
      return NULL;
    }
    pipe_batch *b = &q->slot[q->head];
    pthread_mutex_unlock(&q->mu);
    run_batch(q, b, &b->doc);
    pthread_mutex_lock(&q->mu);
    b->n = 0;
    q->head = (q->head + 1) % PIPE_SLOTS;
    q->count--;
    pthread_cond_signal(&q->less);
    pthread_mutex_unlock(&q->mu);
  }
}

/* Queue the batch being filled (if it holds anything) and wait for a free
 * one to fill next. */
static void flush(cm__jpipe *q) {
  pthread_mutex_lock(&q->mu);
  if (q->slot[q->fill].n > 0) {
    q->count++;
    pthread_cond_signal(&q->more);
    while (q->count == PIPE_SLOTS)
      pthread_cond_wait(&q->less, &q->mu);
    q->fill = (q->head + q->count) % PIPE_SLOTS;
  }
  pthread_mutex_unlock(&q->mu);
}

/* Wait until the consumer has taken every queued batch. (The batch being
 * filled is not queued: its elements are still on the parser's tape.) */
static void drain(cm__jpipe *q) {
  pthread_mutex_lock(&q->mu);
  while (q->count > 0)
    pthread_cond_wait(&q->less, &q->mu);
  pthread_mutex_unlock(&q->mu);
}

/* Call the inner sink on the elements listed in b, on this thread, their
 * numbers converted first (the parser left the short ones raw). */
static void run_one(cm__jpipe *q, const cm__jdoc *doc, uint32_t at, uint32_t i,
                    size_t pos) {
  cm__jval *v = &doc->vals[at]; /* the tape's, to convert in place */
  for (cm__jval *x = v, *end = doc->vals + v->next; x < end; x++)
    if (x->type == CM__JRAWNUM)
      cm__jdoc_number(x, q->text, q->point);
  q->inner.element(q->inner.ctx, doc, v, i, pos);
}

static void run_batch(cm__jpipe *q, const pipe_batch *b, const cm__jdoc *doc) {
  for (int k = 0; k < b->n; k++)
    run_one(q, doc, b->el[k].at, b->el[k].i, b->el[k].pos);
}

/* cm__jsink.element: note where the element is; the tape keeps it. */
static void on_element(void *ctx, const cm__jdoc *doc, const cm__jval *v,
                       uint32_t i, size_t pos) {
  cm__jpipe *q = ctx;
  pipe_batch *b = &q->slot[q->fill];
  if (!b->el && !(b->el = malloc(PIPE_BATCH_ELEMS * sizeof *b->el))) {
    drain(q); /* out of memory: this one on this thread, in order */
    run_one(q, doc, (uint32_t)(v - doc->vals), i, pos);
    return;
  }
  b->el[b->n++] = (pipe_elem){(uint32_t)(v - doc->vals), i, pos};
}

/* A malloc'ed array of at least need items of size, reusing *p (cap
 * *cap). Returns 0, or -1 when out of memory (*p unchanged). */
static int at_least(void **p, size_t *cap, size_t need, size_t size) {
  if (*p && *cap >= need)
    return 0;
  size_t n = need > *cap ? need : *cap;
  void *np = realloc(*p, n * size);
  if (!np)
    return -1;
  *p = np;
  *cap = n;
  return 0;
}

/* cm__jsink.swap: the batch takes the tape's arrays; the parser goes on in
 * the arrays the slot held (a batch consumed earlier), with the tape's
 * first mark values and mark_str bytes copied over. */
static void on_swap(void *ctx, cm__jdoc *doc, uint32_t mark, size_t mark_str) {
  cm__jpipe *q = ctx;
  pipe_batch *b = &q->slot[q->fill];
  if (b->n == 0)
    return; /* every element was decoded here already */
  if (at_least((void **)&b->doc.vals, &b->doc.cap,
               doc->cap > (size_t)mark + 1 ? doc->cap : (size_t)mark + 1,
               sizeof *doc->vals) != 0 ||
      at_least((void **)&b->doc.strings, &b->doc.str_cap,
               doc->str_cap > mark_str + 1 ? doc->str_cap : mark_str + 1,
               1) != 0) {
    drain(q); /* out of memory: decoded here, in order */
    run_batch(q, b, doc);
    b->n = 0;
    return;
  }
  memcpy(b->doc.vals, doc->vals, (size_t)mark * sizeof *doc->vals);
  memcpy(b->doc.strings, doc->strings, mark_str);
  cm__jdoc t = b->doc;
  b->doc = *doc;
  *doc = t;
  doc->n_vals = mark;
  doc->n_str = mark_str;
  flush(q);
}

static int on_stream(void *ctx, const cm__jdoc *doc, uint32_t key, size_t pos) {
  cm__jpipe *q = ctx;
  drain(q);
  return q->inner.stream(q->inner.ctx, doc, key, pos);
}

static void on_end(void *ctx, const cm__jdoc *doc) {
  cm__jpipe *q = ctx;
  drain(q);
  if (q->inner.end)
    q->inner.end(q->inner.ctx, doc);
}

cm__jpipe *cm__jpipe_start(const cm__jsink *inner, const char *text,
                           cm__jsink *sink) {
  cm__jpipe *q = calloc(1, sizeof *q);
  if (!q)
    return NULL;
  q->inner = *inner;
  q->text = text;
  q->point = *localeconv()->decimal_point;
  if (pthread_mutex_init(&q->mu, NULL) != 0)
    goto no_mutex;
  if (pthread_cond_init(&q->more, NULL) != 0)
    goto no_more;
  if (pthread_cond_init(&q->less, NULL) != 0)
    goto no_less;
  if (pthread_create(&q->tid, NULL, consumer_main, q) != 0)
    goto no_thread;
  sink->stream = on_stream;
  sink->element = on_element;
  sink->end = on_end;
  sink->ctx = q;
  sink->swap = on_swap;
  sink->batch = PIPE_BATCH_ELEMS;
  sink->raw_numbers = 1;
  return q;
no_thread:
  pthread_cond_destroy(&q->less);
no_less:
  pthread_cond_destroy(&q->more);
no_more:
  pthread_mutex_destroy(&q->mu);
no_mutex:
  free(q);
  return NULL;
}

void cm__jpipe_finish(cm__jpipe *q) {
  if (!q)
    return;
  drain(q);
  pthread_mutex_lock(&q->mu);
  q->quit = 1;
  pthread_cond_signal(&q->more);
  pthread_mutex_unlock(&q->mu);
  pthread_join(q->tid, NULL);
  for (int k = 0; k < PIPE_SLOTS; k++) {
    free(q->slot[k].doc.vals);
    free(q->slot[k].doc.strings);
    free(q->slot[k].el);
  }
  pthread_cond_destroy(&q->less);
  pthread_cond_destroy(&q->more);
  pthread_mutex_destroy(&q->mu);
  free(q);
}
