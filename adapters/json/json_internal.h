/* json_internal.h -- private helpers shared by the JSON codec files:
 * parse errors, typed field readers of the tape of json_doc.h, the decoder
 * context, the writer. What the other adapters may use too (paths, the
 * readers of jansson values, the encoder helpers) is in json_util.h.
 * Nothing here is part of the public API. */
#ifndef CM_JSON_INTERNAL_H_INCLUDED_
#define CM_JSON_INTERNAL_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "carematch/error.h"
#include "carematch/model.h"
#include "json_doc.h"
#include "json_util.h" /* what the other adapters use too */

/* Size limits of one instance (more is CM_E_LIMIT). */
#define CM__JSON_MAX_WORKERS 200000
#define CM__JSON_MAX_REQUESTS 100000
#define CM__JSON_MAX_EDGES 2000000

/* Encoders: answers print 10 significant digits (stable, readable);
 * instances print 17 so that every double survives a round trip. */
#define CM__JSON_ANSWER_PRECISION 10
#define CM__JSON_INSTANCE_FLAGS JSON_REAL_PRECISION(17)

/* ---- numbers (json_number.c) ------------------------------------------ */

/* The real s[0..n) (JSON's grammar) as strtod reads it, when one IEEE
 * operation gives it exactly (a mantissa below 2^53, an exponent within
 * +-22). Returns 1 with *out set, or 0 (nothing set): use strtod. */
int cm__json_real_fast(const char *s, size_t n, double *out);

/* The most significant digits cm__json_format_g writes itself. */
#define CM__JSON_FORMAT_G_MAX 15

/* Write x as snprintf(buf, 32, "%.*g", precision, x) does in the C locale,
 * when no tie is near and %g writes no exponent (json_format.c). Returns
 * the length written (with a NUL after it; buf holds at least 32 bytes),
 * or 0 (nothing written): use snprintf. */
size_t cm__json_format_g(double x, int precision, char *buf);

/* ---- paths (json_path.c; the rest in json_util.h) ------------------- */

/* The JSON path of the value being read at byte offset pos of text (used to
 * name the field of a jansson error such as a number overflow). text[0..pos)
 * must be well-formed JSON so far. Writes "$" when nothing encloses pos; a
 * path too long for cm_error is cut as in cm__json_fail. */
void cm__json_locate(const char *text, size_t len, size_t pos, char *out,
                     size_t n);

/* ---- parse errors (parse_error.c) ------------------------------------ */

/* Line and column (characters, from 1) of byte offset pos of text. */
void cm__json_line_col(const char *text, size_t pos, int *line, int *column);
/* Fill err with a parser's error: code CM_E_DUPLICATE (a key twice),
 * CM_E_RANGE (a number out of range), CM_E_LIMIT (nesting too deep) at the
 * JSON path of byte offset pos, CM_E_NOMEM, or anything else as
 * CM_E_PARSE (malformed JSON, no path); what is the parser's words. Returns
 * the code. */
cm_status cm__json_syntax_error(const char *text, size_t len, cm_status code,
                                size_t pos, int line, int column,
                                const char *what, cm_error *err);
/* Map a failed json_loadb of text onto err as cm__json_syntax_error does
 * (jansson's duplicate key, numeric overflow and stack overflow errors;
 * its other errors are malformed_json). Returns the code. */
cm_status cm__json_parse_error(const char *text, size_t len,
                               const json_error_t *je, cm_error *err);

/* ---- typed field readers of the tape (json_fields.c) ---------------- */

/* The rules of json_util.h's readers on one value of the tape (json_doc.h):
 * v is the value of the field key of the object at path base, NULL when the
 * field is absent. They return 1, 0 or -1 as those readers. */
int cm__jval_number(const cm__jval *v, const char *base, const char *key,
                    int required, double *out, cm_error *err);
int cm__jval_int(const cm__jval *v, const char *base, const char *key,
                 int required, int *out, cm_error *err);
int cm__jval_int64(const cm__jval *v, const char *base, const char *key,
                   int required, int64_t *out, cm_error *err);
/* "a string", "an object", ... as the type errors name them. */
const char *cm__jval_type_name(cm__jtype t);
/* A value of type want: CM__JSTRING, CM__JARRAY or CM__JOBJECT. */
int cm__jval_is(const cm__jval *v, cm__jtype want, const char *base,
                const char *key, int required, cm_error *err);
/* The position of the object at base from its "lat" and "lon" values. */
int cm__jval_position(const cm__jval *lat, const cm__jval *lon,
                      const char *base, int required, double *la, double *lo,
                      cm_error *err);

/* The rule of cm__json_check_id for the n bytes of id, without the report:
 * 1 when it holds, else 0. */
int cm__json_id_ok(const char *id, size_t n);

/* Parse exactly 16 hex digits into a non-zero hash. Returns 0 or -1. */
int cm__json_parse_hash(const char *s, uint64_t *out);

/* ---- the tape's objects (doc_fields.c) ------------------------------- */

/* Sort the members of v (the value at path base) by key: f[k] is the value
 * of keys[k] (a NULL-terminated list), NULL when absent. Returns CM_OK, or
 * CM_E_TYPE when v is not an object, or CM_E_INVALID naming the first
 * unknown key in the text (as cm__json_check_keys). */
cm_status cm__jdoc_fields(const cm__jdoc *doc, const cm__jval *v,
                          const char *base, const char *const *keys,
                          const cm__jval **f, cm_error *err);
/* A jansson copy of the value v of doc. Returns a new reference, or NULL
 * when out of memory. (doc_jansson.c) */
json_t *cm__jdoc_to_jansson(const cm__jdoc *doc, const cm__jval *v);

/* ---- decoder (instance_decode.c and friends) -------------------------- */

/* Copies of the long ids the id maps point to (the tape's element may be
 * gone): a list of blocks, freed at once (id_index.c). */
typedef struct cm__jids {
  char *block;      /* the current block; its first bytes link the older */
  size_t used, cap; /* bytes of it */
} cm__jids;
/* A copy of s[0..n) and a NUL, valid until cm__jids_free; NULL when out of
 * memory. */
const char *cm__jids_keep(cm__jids *a, const char *s, size_t n);
void cm__jids_free(cm__jids *a);

/* The decoder's id -> index map (id_index.c): a short id (below
 * CM__JIDX_INLINE bytes) is held in its slot, a longer one in a cm__jids
 * copy it points to. */
#define CM__JIDX_INLINE 23
typedef struct cm__jidx_slot {
  uint32_t hash;                 /* 0: empty */
  int32_t value;                 /* the index */
  char key[CM__JIDX_INLINE + 1]; /* the id and zeros; or a pointer to it,
                                    key[CM__JIDX_INLINE] then 1 */
} cm__jidx_slot;
typedef struct cm__jidx {
  cm__jidx_slot *slots;
  size_t cap;   /* slots, a power of two */
  size_t count; /* ids held */
} cm__jidx;
/* Returns 0, or -1 when out of memory (m left empty). */
int cm__jidx_init(cm__jidx *m, size_t expected);
void cm__jidx_free(cm__jidx *m);
/* Map the id s[0..n) (NUL-terminated, no NUL inside) to value; a long id
 * is copied into ids. Returns 1 when added, 0 when the id is there already
 * (*existing, if not NULL, gets its value), -1 when out of memory. */
int cm__jidx_put(cm__jidx *m, cm__jids *ids, const char *s, size_t n, int value,
                 int *existing);
/* The value of the id s[0..n) (NUL-terminated), or -1. */
int cm__jidx_get(const cm__jidx *m, const char *s, size_t n);

typedef struct cm__jdec {
  cm_instance *inst;   /* being filled */
  const cm__jdoc *doc; /* the text, parsed */
  cm__jidx workers;    /* worker id -> index */
  cm__jidx requests;   /* request id -> index */
  int edge_mode;       /* the instance has an "edges" array */
  cm_error *err;       /* where failures go */
  cm__jids ids;        /* copies of the long ids the maps point to */
  int edges_unknown;   /* requests read before "edges" is known: positions
                          optional, the first without one in no_position */
  size_t no_position;  /* that request's index, SIZE_MAX: none */
} cm__jdec;

/* Each part decoder reads its part into d->inst and returns CM_OK, or an
 * error code with d->err set. The settings are small and read from a
 * jansson object holding the root's settings members (the daemon's
 * weights go through the same code); the arrays are read from the tape:
 * arr is the root's value of the key, NULL when absent. */
cm_status cm__json_decode_taxonomy(cm__jdec *d, const json_t *root);
cm_status cm__json_decode_weights(cm__jdec *d, const json_t *root);
/* The "weights" member of root (if there) onto w, key by key from
 * CM_WEIGHTS_TABLE; ranges are not checked. CM_OK or an error in err. */
cm_status cm__json_weights_read(const json_t *root, cm_weights *w,
                                cm_error *err);
cm_status cm__json_decode_params(cm__jdec *d, const json_t *root);
cm_status cm__json_decode_workers(cm__jdec *d, const cm__jval *arr);
cm_status cm__json_decode_requests(cm__jdec *d, const cm__jval *arr);
cm_status cm__json_decode_edges(cm__jdec *d, const cm__jval *arr);
/* One element i (v) of each array, decoded and added to d->inst, as the
 * array decoders do for each (the streamed decode calls them as the
 * elements are read). */
cm_status cm__json_decode_worker(cm__jdec *d, const cm__jval *v, size_t i);
cm_status cm__json_decode_request(cm__jdec *d, const cm__jval *v, size_t i);
/* The last id resolved of one kind: edges mostly come grouped by request,
 * and a string compared with its neighbour is cheaper than a lookup in a
 * large map. A copy: the tape's element may be gone at the next edge. */
typedef struct cm__jlast {
  char id[CM_ID_MAX];
  uint32_t len; /* 0: none yet */
  int index;
} cm__jlast;
cm_status cm__json_decode_edge(cm__jdec *d, const cm__jval *v, size_t i,
                               cm__jlast *last_request, cm__jlast *last_worker);

/* ---- the root's arrays decoded while they are read (instance_stream.c) */
/* The parts streamed: workers, requests, edges. */
enum { CM__JS_WORKERS, CM__JS_REQUESTS, CM__JS_EDGES, CM__JS_PARTS };
typedef struct cm__jpart {
  int streamed;   /* its elements were handed over as they were read */
  int ended;      /* its array closed */
  int skip;       /* elements dropped unread: an earlier part failed */
  uint32_t count; /* elements seen */
  size_t start;   /* byte offset where the array began */
  size_t at;      /* index of the element of err */
  cm_status st;   /* the first failure, held until the parse ends */
  cm_error err;
} cm__jpart;
typedef struct cm__jstream {
  cm__jdec *d;
  size_t len;       /* bytes of the text */
  int taxonomy;     /* 1: decoded when the workers began, result held */
  cm_status tax_st; /* its result */
  cm_error tax_err;
  cm__jpart part[CM__JS_PARTS];
  cm__jlast last_request, last_worker; /* edges */
  cm_error scratch;                    /* d->err while streaming */
} cm__jstream;
/* Set up s for d (whose inst exists) over a text of len bytes, and fill
 * sink with its callbacks. d->err is the caller's again after
 * cm__jstream_done. */
void cm__jstream_init(cm__jstream *s, cm__jdec *d, size_t len, cm__jsink *sink);
/* Once the parse succeeded: d->err back to err. */
void cm__jstream_done(cm__jstream *s, cm_error *err);
/* The streamed elements decoded on a second thread (instance_pipe.c):
 * fills sink with callbacks that hand inner's element calls to a consumer
 * thread, in order (their short numbers converted there: text is the
 * text parsed), and make inner's stream and end calls once it has caught
 * up. Returns the pipe, or NULL (no thread: use inner itself).
 * cm__jpipe_finish, once the parse has returned, waits for the consumer,
 * joins it and frees the pipe (NULL: nothing). */
typedef struct cm__jpipe cm__jpipe;
/* cm_instance_from_json_threads with the pipe from texts of pipe_min
 * bytes on (the public functions: 256 KiB; tests: 0). */
cm_status cm__instance_decode(const char *text, size_t len, int threads,
                              size_t pipe_min, cm_instance **out,
                              cm_error *err);
cm__jpipe *cm__jpipe_start(const cm__jsink *inner, const char *text,
                           cm__jsink *sink);
void cm__jpipe_finish(cm__jpipe *q);
/* The result of streamed part p as its array decoder would have given it
 * (a limit, the first element's error; for requests the position rule
 * with d->edge_mode now known), into d->err. */
cm_status cm__jstream_result(cm__jstream *s, int p);
/* The held result of the taxonomy (when s->taxonomy), into d->err. */
cm_status cm__jstream_taxonomy(cm__jstream *s);

/* Decode a list of skill names (arr, the value of key in the object at
 * base) into a skill set of d->inst's taxonomy. Returns CM_OK or an error
 * with d->err set. (workers_decode.c) */
cm_status cm__json_decode_skills(cm__jdec *d, const cm__jval *arr,
                                 const char *base, const char *key,
                                 cm_skillset *out);

/* ---- a JSON writer (json_writer.c) ----------------------------------- */

#define CM__JW_MAX_DEPTH 16

/* Text laid out as json_dumps lays it out with JSON_COMPACT (or, pretty,
 * JSON_INDENT(2)) and JSON_REAL_PRECISION(precision). A value is written
 * where the writer stands: after cm__jw_key, or as the next element of the
 * open array. Failures (out of memory, a misuse) are sticky. */
typedef struct cm__jw {
  char *buf;                   /* the text so far, malloc'ed */
  size_t len, cap;             /* bytes used, allocated */
  int failed;                  /* a write failed: cm__jw_finish gives NULL */
  int pretty, precision;       /* layout, significant digits of reals */
  char point;                  /* the locale's decimal point */
  int after_key;               /* the next value is a member's */
  int depth;                   /* open containers */
  int count[CM__JW_MAX_DEPTH]; /* values written in each */
} cm__jw;

void cm__jw_init(cm__jw *w, int pretty, int precision);
/* Open ('{' or '[') or close ('}' or ']') a container. */
void cm__jw_open(cm__jw *w, char c);
void cm__jw_close(cm__jw *w, char c);
/* An object member's key, a plain name (nothing to escape); its value
 * comes next. */
void cm__jw_key(cm__jw *w, const char *key);
/* A string (invalid UTF-8 bytes become '?', as cm__json_text has it). */
void cm__jw_string(cm__jw *w, const char *s);
void cm__jw_int(cm__jw *w, long long v);
/* A finite double. */
void cm__jw_real(cm__jw *w, double x);
void cm__jw_bool(cm__jw *w, int v);
void cm__jw_null(cm__jw *w);
/* The text (malloc'ed, the caller frees), or NULL after a failure or with
 * a container left open; the writer's buffer is released either way. */
char *cm__jw_finish(cm__jw *w);

#endif
