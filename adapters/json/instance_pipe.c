/* instance_pipe.c -- the streamed arrays' elements decoded on a second
 * thread while yajl reads on: a sink (json_doc.h) in front of
 * instance_stream.c's that copies each complete element (its values and
 * strings, rebased) into a batch, and hands full batches to a consumer
 * thread, which calls the inner sink's element callback on them in order.
 * The inner sink's stream and end callbacks (which read and set the
 * parts' state) run on the parsing thread once the consumer has caught
 * up, so the inner sink sees exactly the calls, in exactly the order, of
 * the one-thread decode: the same instance, the same errors. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

#define PIPE_SLOTS 4         /* batches in flight */
#define PIPE_BATCH_ELEMS 256 /* elements a batch holds at most */

typedef struct pipe_elem {
  uint32_t at; /* its value's index in the batch's vals */
  uint32_t i;  /* its index in the array */
  size_t pos;  /* where it ends in the text */
} pipe_elem;

typedef struct pipe_batch {
  cm__jdoc doc; /* vals and strings of the elements, rebased */
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
};

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
    for (int k = 0; k < b->n; k++)
      q->inner.element(q->inner.ctx, &b->doc, &b->doc.vals[b->el[k].at],
                       b->el[k].i, b->el[k].pos);
    pthread_mutex_lock(&q->mu);
    b->n = 0;
    b->doc.n_vals = 0;
    b->doc.n_str = 0;
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

/* Queue what is filled and wait until the consumer has taken it all. */
static void drain(cm__jpipe *q) {
  flush(q);
  pthread_mutex_lock(&q->mu);
  while (q->count > 0)
    pthread_cond_wait(&q->less, &q->mu);
  pthread_mutex_unlock(&q->mu);
}

static int grow(void **p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap)
    return 0;
  size_t n = *cap ? *cap : 256;
  while (n < need)
    n *= 2;
  void *np = realloc(*p, n * size);
  if (!np)
    return -1;
  *p = np;
  *cap = n;
  return 0;
}

/* Copy the element at v (its values up to v->next, the strings from
 * str_from on) into the batch being filled. Returns 0, or -1 when out of
 * memory (nothing added). */
static int copy_element(pipe_batch *b, const cm__jdoc *doc, const cm__jval *v,
                        uint32_t i, size_t pos, size_t str_from) {
  uint32_t from = (uint32_t)(v - doc->vals), nv = v->next - from;
  size_t ns = doc->n_str - str_from;
  size_t el_cap = PIPE_BATCH_ELEMS;
  if (!b->el && !(b->el = malloc(el_cap * sizeof *b->el)))
    return -1;
  if (grow((void **)&b->doc.vals, &b->doc.cap, b->doc.n_vals + nv,
           sizeof *b->doc.vals) != 0 ||
      grow((void **)&b->doc.strings, &b->doc.str_cap, b->doc.n_str + ns + 1,
           1) != 0)
    return -1;
  uint32_t vbase = (uint32_t)b->doc.n_vals;
  uint32_t sbase = (uint32_t)b->doc.n_str;
  cm__jval *dst = b->doc.vals + vbase;
  memcpy(dst, v, (size_t)nv * sizeof *dst);
  for (uint32_t k = 0; k < nv; k++) {
    dst[k].next = dst[k].next - from + vbase;
    if (dst[k].type == CM__JSTRING)
      dst[k].u.str.off = dst[k].u.str.off - (uint32_t)str_from + sbase;
  }
  if (ns)
    memcpy(b->doc.strings + sbase, doc->strings + str_from, ns);
  b->doc.n_vals += nv;
  b->doc.n_str += ns;
  b->el[b->n++] = (pipe_elem){vbase, i, pos};
  return 0;
}

/* The strings of an element are the tape's last ones: they start where
 * its first string value points (none: nothing to copy). */
static size_t strings_from(const cm__jdoc *doc, const cm__jval *v) {
  uint32_t end = v->next;
  for (uint32_t k = (uint32_t)(v - doc->vals); k < end; k++)
    if (doc->vals[k].type == CM__JSTRING)
      return doc->vals[k].u.str.off;
  return doc->n_str;
}

static void on_element(void *ctx, const cm__jdoc *doc, const cm__jval *v,
                       uint32_t i, size_t pos) {
  cm__jpipe *q = ctx;
  pipe_batch *b = &q->slot[q->fill];
  if (copy_element(b, doc, v, i, pos, strings_from(doc, v)) != 0) {
    drain(q); /* out of memory: this one on this thread, in order */
    q->inner.element(q->inner.ctx, doc, v, i, pos);
    return;
  }
  if (b->n == PIPE_BATCH_ELEMS)
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

cm__jpipe *cm__jpipe_start(const cm__jsink *inner, cm__jsink *sink) {
  cm__jpipe *q = calloc(1, sizeof *q);
  if (!q)
    return NULL;
  q->inner = *inner;
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
