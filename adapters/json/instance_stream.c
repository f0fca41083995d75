/* instance_stream.c -- the root's "workers", "requests" and "edges" arrays
 * decoded element by element while yajl reads them (json_doc.h,
 * cm__jsink), so that the tape never holds more than one element of them.
 *
 * The decode must say what the whole-tape decode says (instance_decode.c):
 * a syntax error anywhere wins over a field error, the root's unknown keys
 * over the parts, the parts in their order (taxonomy, weights, params,
 * workers, requests, edges), and within a part its size limit over its
 * elements. So nothing found here is reported at once: each part keeps its
 * first failure until the parse has ended, and instance_decode.c asks for
 * the parts' results in the old order. A part is streamed only when what
 * it needs is known when its array begins (the taxonomy for the workers,
 * all the workers for the requests, both for the edges, as
 * cm_instance_to_json orders them); otherwise it stays on the tape and is
 * decoded from there afterwards, as before. Whether "edges" exists is not
 * known while the requests are read: positions are taken as optional and
 * the first request without one is remembered (an error unless edges
 * come). */
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

/* ---- the parts ------------------------------------------------------------
 */

static const char *const part_key[CM__JS_PARTS] = {"workers", "requests",
                                                   "edges"};
static const size_t part_max[CM__JS_PARTS] = {
    CM__JSON_MAX_WORKERS, CM__JSON_MAX_REQUESTS, CM__JSON_MAX_EDGES};

/* The part being streamed: the one begun and not ended, -1 when none. */
static int current(const cm__jstream *s) {
  for (int p = 0; p < CM__JS_PARTS; p++)
    if (s->part[p].streamed && !s->part[p].ended)
      return p;
  return -1;
}

/* 1 when part p failed or was not read: what follows it is not needed. */
static int failed(const cm__jstream *s, int p) {
  const cm__jpart *q = &s->part[p];
  return q->skip || q->st != CM_OK || q->count > part_max[p];
}

/* Keep the first failure of part (element at), from s->scratch. */
static void hold(cm__jstream *s, cm__jpart *part, cm_status st, size_t at) {
  if (part->st != CM_OK)
    return;
  part->st = st;
  part->at = at;
  part->err = s->scratch;
}

/* The value of the root's member named key among those before index end
 * (they are complete), or NULL. */
static const cm__jval *member_before(const cm__jdoc *doc, uint32_t end,
                                     const char *key) {
  for (uint32_t k = 1; k < end; k = doc->vals[k + 1].next)
    if (strcmp(cm__jdoc_str(doc, &doc->vals[k]), key) == 0)
      return &doc->vals[k + 1];
  return NULL;
}

/* Decode the taxonomy now if it came before the workers (their skills
 * name it). Returns 1 when it did (its result held), 0 when it is not
 * known yet. */
static int taxonomy_first(cm__jstream *s, const cm__jdoc *doc, uint32_t key) {
  const cm__jval *v = member_before(doc, key, "taxonomy");
  if (!v)
    return 0;
  json_t *root = json_object();
  if (!root || json_object_set_new_nocheck(root, "taxonomy",
                                           cm__jdoc_to_jansson(doc, v))) {
    json_decref(root);
    return 0; /* out of memory: the tape's decode will say so */
  }
  s->tax_st = cm__json_decode_taxonomy(s->d, root);
  s->tax_err = s->scratch;
  s->taxonomy = 1;
  json_decref(root);
  return 1;
}

/* cm__jsink.stream: the root member at doc->vals[key] begins an array. */
static int on_stream(void *ctx, const cm__jdoc *doc, uint32_t key, size_t pos) {
  cm__jstream *s = ctx;
  cm__jdec *d = s->d;
  const char *name = cm__jdoc_str(doc, &doc->vals[key]);
  int p = 0;
  while (p < CM__JS_PARTS && strcmp(part_key[p], name) != 0)
    p++;
  if (p == CM__JS_PARTS || current(s) >= 0)
    return 0;
  cm__jpart *part = &s->part[p];
  d->doc = doc;
  switch (p) {
  case CM__JS_WORKERS:
    if (!taxonomy_first(s, doc, key))
      return 0;
    part->skip = s->tax_st != CM_OK;
    break;
  case CM__JS_REQUESTS:
    if (!s->part[CM__JS_WORKERS].ended)
      return 0;
    part->skip = failed(s, CM__JS_WORKERS);
    d->edge_mode = member_before(doc, key, "edges") != NULL;
    d->edges_unknown = !d->edge_mode;
    break;
  default: /* edges */
    if (!s->part[CM__JS_REQUESTS].ended)
      return 0;
    part->skip = failed(s, CM__JS_REQUESTS);
    d->edge_mode = 1;
    d->edges_unknown = 0;
    d->inst->has_edges = 1;
    break;
  }
  part->streamed = 1;
  part->start = pos;
  cm__jidx *map = p == CM__JS_WORKERS    ? &d->workers
                  : p == CM__JS_REQUESTS ? &d->requests
                                         : NULL;
  if (!part->skip && map && cm__jidx_init(map, 64) != 0)
    hold(s, part,
         cm_error_set(&s->scratch, CM_E_NOMEM,
                      p == CM__JS_WORKERS ? "$.workers" : "$.requests", NULL),
         0);
  return 1;
}

/* After n elements ending at pos, size the instance's array for the rest
 * of the text at the same bytes per element (an estimate, at most the
 * limit: a failure leaves the arrays to grow as they go). */
static void reserve_rest(cm__jstream *s, int p, size_t n, size_t pos) {
  const cm__jpart *part = &s->part[p];
  cm_instance *inst = s->d->inst;
  if (pos <= part->start)
    return;
  double est =
      (double)n * (double)(s->len - part->start) / (double)(pos - part->start);
  size_t want = est < (double)part_max[p] ? (size_t)est + 1 : part_max[p];
  cm_error e;
  (void)cm_instance_reserve(inst,
                            p == CM__JS_WORKERS ? (int)want : inst->n_workers,
                            p == CM__JS_REQUESTS ? (int)want : inst->n_requests,
                            p == CM__JS_EDGES ? (int)want : inst->n_edges, &e);
}

/* cm__jsink.element: element i of the part being streamed. */
static void on_element(void *ctx, const cm__jdoc *doc, const cm__jval *v,
                       uint32_t i, size_t pos) {
  cm__jstream *s = ctx;
  cm__jdec *d = s->d;
  int p = current(s);
  if (p < 0)
    return; /* defensive */
  cm__jpart *part = &s->part[p];
  part->count = i + 1;
  if (part->skip || part->st != CM_OK)
    return;
  if (part->count > part_max[p]) { /* the limit is the part's error */
    part->skip = 1;
    return;
  }
  if (i == 63)
    reserve_rest(s, p, (size_t)i + 1, pos);
  d->doc = doc;
  cm_status st =
      p == CM__JS_WORKERS ? cm__json_decode_worker(d, v, i)
      : p == CM__JS_REQUESTS
          ? cm__json_decode_request(d, v, i)
          : cm__json_decode_edge(d, v, i, &s->last_request, &s->last_worker);
  if (st != CM_OK)
    hold(s, part, st, i);
}

/* cm__jsink.end: the streamed array closed. */
static void on_end(void *ctx, const cm__jdoc *doc) {
  cm__jstream *s = ctx;
  int p = current(s);
  (void)doc;
  if (p >= 0)
    s->part[p].ended = 1;
}

void cm__jstream_init(cm__jstream *s, cm__jdec *d, size_t len,
                      cm__jsink *sink) {
  memset(s, 0, sizeof *s);
  s->d = d;
  s->len = len;
  d->err = &s->scratch;
  d->no_position = SIZE_MAX;
  sink->stream = on_stream;
  sink->element = on_element;
  sink->end = on_end;
  sink->ctx = s;
  sink->swap = NULL; /* each element dropped once decoded */
  sink->batch = 0;
  sink->raw_numbers = 0;
}

void cm__jstream_done(cm__jstream *s, cm_error *err) {
  s->d->err = err;
  s->d->edges_unknown = 0;
}

cm_status cm__jstream_taxonomy(cm__jstream *s) {
  *s->d->err = s->tax_err;
  return s->tax_st;
}

cm_status cm__jstream_result(cm__jstream *s, int p) {
  static const char *const path[CM__JS_PARTS] = {"$.workers", "$.requests",
                                                 "$.edges"};
  cm__jdec *d = s->d;
  const cm__jpart *part = &s->part[p];
  if (part->count > part_max[p])
    return cm__json_fail(d->err, CM_E_LIMIT, path[p], NULL,
                         "%zu %s, at most %d are allowed", (size_t)part->count,
                         part_key[p], (int)part_max[p]);
  /* Read with positions optional: without edges, the first request
   * without one is the part's error unless an earlier one failed. */
  if (p == CM__JS_REQUESTS && d->no_position != SIZE_MAX && !d->edge_mode &&
      (part->st == CM_OK || d->no_position <= part->at)) {
    char base[CM__JSON_PATH_MAX];
    double lat, lon;
    cm__json_path_index(base, sizeof base, "$.requests", d->no_position);
    cm__jval_position(NULL, NULL, base, 1, &lat, &lon, d->err);
    return d->err->code;
  }
  if (part->st != CM_OK)
    *d->err = part->err;
  return part->st;
}
