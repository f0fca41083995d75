/* instance_decode.c -- cm_instance_from_json: JSON text to a validated
 * cm_instance. The text is parsed into a tape (json_doc.h: yajl, with
 * jansson's rules), the root's members are sorted by key, and the parts
 * are decoded in dependency order (taxonomy before skills, workers before
 * the ids that name them): the small settings through jansson copies, the
 * arrays element by element while they are read when their order allows
 * (instance_stream.c), else from the tape. It ends with
 * cm_instance_validate for the value ranges. */
#include "carematch/json.h"
#include "json_internal.h"

enum {
  K_TAXONOMY,
  K_NOW,
  K_WEIGHTS,
  K_PARAMS,
  K_WORKERS,
  K_REQUESTS,
  K_EDGES,
  K_KEYS
};

/* A jansson object holding the settings members of the root (f, by key),
 * for the decoders the daemon shares. Returns NULL when out of memory. */
static json_t *settings(const cm__jdoc *doc, const cm__jval *const *f,
                        const char *const *keys) {
  json_t *root = json_object();
  for (int k = K_TAXONOMY; root && k <= K_PARAMS; k++)
    if (f[k] && json_object_set_new_nocheck(root, keys[k],
                                            cm__jdoc_to_jansson(doc, f[k]))) {
      json_decref(root);
      return NULL;
    }
  return root;
}

/* Part p of the instance (arr, the root's value of its key): the result
 * held from its streamed decode, or decoded from the tape now. */
static cm_status part(cm__jstream *s, int p, const cm__jval *arr) {
  if (s->part[p].streamed)
    return cm__jstream_result(s, p);
  cm__jdec *d = s->d;
  return p == CM__JS_WORKERS    ? cm__json_decode_workers(d, arr)
         : p == CM__JS_REQUESTS ? cm__json_decode_requests(d, arr)
                                : cm__json_decode_edges(d, arr);
}

/* Texts from this size on are decoded on two threads when allowed: below
 * it, starting a thread costs more than it saves (measured: a 0.3 MB
 * instance took about 1 ms longer on two). */
#define PIPE_MIN_TEXT ((size_t)1 << 20)

cm_status cm_instance_from_json(const char *text, size_t len, cm_instance **out,
                                cm_error *err) {
  return cm__instance_decode(text, len, 1, PIPE_MIN_TEXT, out, err);
}

cm_status cm_instance_from_json_threads(const char *text, size_t len,
                                        int threads, cm_instance **out,
                                        cm_error *err) {
  return cm__instance_decode(text, len, threads, PIPE_MIN_TEXT, out, err);
}

cm_status cm__instance_decode(const char *text, size_t len, int threads,
                              size_t pipe_min, cm_instance **out,
                              cm_error *err) {
  static const char *const keys[K_KEYS + 1] = {
      "taxonomy", "now_ms",   "weights", "params",
      "workers",  "requests", "edges",   NULL};
  cm_error local;
  cm__jdoc doc = {0};
  cm__jdec d = {0};
  cm__jstream s;
  cm__jsink sink, piped;
  cm__jpipe *pipe = NULL;
  const cm__jval *f[K_KEYS];
  json_t *set = NULL;
  cm_status st;
  if (!err)
    err = &local;
  cm_error_clear(err);
  d.err = err;
  d.doc = &doc;
  if (!out)
    return cm_error_set(err, CM_E_INVALID, "", "no place for the instance");
  *out = NULL;
  if (!text && len > 0)
    return cm_error_set(err, CM_E_INVALID, "", "no input text");
  /* The large arrays are decoded as they are read (instance_stream.c);
   * their results wait for the parse and come in the order below. */
  d.inst = cm_instance_new();
  cm__jstream_init(&s, &d, len, &sink);
  if (threads > 1 && len >= pipe_min && d.inst)
    pipe = cm__jpipe_start(&sink, text, &piped);
  st = cm__jdoc_parse_stream(&doc, text ? text : "", len,
                             pipe     ? &piped
                             : d.inst ? &sink
                                      : NULL,
                             err);
  cm__jpipe_finish(pipe);
  cm__jstream_done(&s, err);
  d.doc = &doc;
  if (st != CM_OK ||
      (st = cm__jdoc_fields(&doc, doc.vals, "$", keys, f, err)) != CM_OK)
    goto done;
  if (!d.inst || !(set = settings(&doc, f, keys))) {
    st = cm_error_set(err, CM_E_NOMEM, "", NULL);
    goto done;
  }
  d.edge_mode = f[K_EDGES] != NULL;
  if ((st = s.taxonomy ? cm__jstream_taxonomy(&s)
                       : cm__json_decode_taxonomy(&d, set)) != CM_OK ||
      (st = cm__json_decode_weights(&d, set)) != CM_OK ||
      (st = cm__json_decode_params(&d, set)) != CM_OK ||
      (st = part(&s, CM__JS_WORKERS, f[K_WORKERS])) != CM_OK ||
      (st = part(&s, CM__JS_REQUESTS, f[K_REQUESTS])) != CM_OK ||
      (st = part(&s, CM__JS_EDGES, f[K_EDGES])) != CM_OK)
    goto done;
  st = cm_instance_validate(d.inst, err);
done:
  cm__jidx_free(&d.workers);
  cm__jidx_free(&d.requests);
  cm__jids_free(&d.ids);
  json_decref(set);
  cm__jdoc_free(&doc);
  if (st != CM_OK) {
    cm_instance_free(d.inst);
    return st;
  }
  *out = d.inst;
  return CM_OK;
}
