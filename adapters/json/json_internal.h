/* json_internal.h -- private helpers shared by the JSON codec files:
 * JSON paths, typed field readers, the id index and the decoder context.
 * Nothing here is part of the public API. */
#ifndef CM_JSON_INTERNAL_H_INCLUDED_
#define CM_JSON_INTERNAL_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "carematch/error.h"
#include "carematch/model.h"
#include "idmap.h" /* core/, shared with the core library */

/* Size limits of one instance (more is CM_E_LIMIT). */
#define CM__JSON_MAX_WORKERS 200000
#define CM__JSON_MAX_REQUESTS 100000
#define CM__JSON_MAX_EDGES 2000000

/* Paths are built in buffers of this size; cm_error keeps the first
 * CM_ERROR_FIELD_MAX - 1 bytes. */
#define CM__JSON_PATH_MAX 256

/* Encoder flags: answers print 10 significant digits (stable, readable);
 * instances print 17 so that every double survives a round trip. */
#define CM__JSON_ANSWER_FLAGS JSON_REAL_PRECISION(10)
#define CM__JSON_INSTANCE_FLAGS JSON_REAL_PRECISION(17)

/* ---- paths (json_path.c) ---------------------------------------------- */

/* Write base + ".key" (or base + "[\"key\"]" when key is not a plain
 * identifier) into out. Always NUL-terminates; truncates when too long. */
void cm__json_path_key(char *out, size_t n, const char *base, const char *key);
/* Write base + "[i]" into out. */
void cm__json_path_index(char *out, size_t n, const char *base, size_t i);
/* Fill err with code, the path base(.key) and the message "<path>: <fmt>".
 * key may be NULL (the path is base). A path too long for cm_error is cut
 * at a segment boundary (it then names an enclosing value). Returns code. */
cm_status cm__json_fail(cm_error *err, cm_status code, const char *base,
                        const char *key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The JSON path of the value being read at byte offset pos of text (used to
 * name the field of a jansson error such as a number overflow). text[0..pos)
 * must be well-formed JSON so far. Writes "$" when nothing encloses pos; a
 * path too long for cm_error is cut as in cm__json_fail. */
void cm__json_locate(const char *text, size_t len, size_t pos, char *out,
                     size_t n);

/* Map a failed json_loadb of text onto err: out_of_memory, a duplicate
 * key, a number out of range or nesting too deep at the JSON path where
 * it happened, else malformed_json with line and column. Returns the
 * code. (instance_decode.c) */
cm_status cm__json_parse_error(const char *text, size_t len,
                               const json_error_t *je, cm_error *err);

/* ---- typed field readers (json_fields.c) ------------------------------ */

/* Every reader looks up key in the object obj whose path is base. It returns
 * 1 when the field is present and *out was written, 0 when it is absent
 * (with required set this is CM_E_MISSING instead), and -1 with err set when
 * the value has the wrong type or cannot be represented. */

/* A JSON number (integer or real), finite. */
int cm__json_number(const json_t *obj, const char *base, const char *key,
                    int required, double *out, cm_error *err);
/* An integer (a JSON integer, or a real with an integral value); values
 * beyond the range of int are saturated so that cm_instance_validate reports
 * the field with its documented range. */
int cm__json_int(const json_t *obj, const char *base, const char *key,
                 int required, int *out, cm_error *err);
/* A 64-bit integer; a real must be integral and within +-2^53. */
int cm__json_int64(const json_t *obj, const char *base, const char *key,
                   int required, int64_t *out, cm_error *err);
/* A string; *out borrows from obj. */
int cm__json_string(const json_t *obj, const char *base, const char *key,
                    int required, const char **out, cm_error *err);
/* An array or object (*out borrows from obj). */
int cm__json_array(const json_t *obj, const char *base, const char *key,
                   int required, const json_t **out, cm_error *err);
int cm__json_object(const json_t *obj, const char *base, const char *key,
                    int required, const json_t **out, cm_error *err);

/* The "lat" and "lon" of obj: 1 when both are present, 0 when neither is
 * (CM_E_MISSING instead when required), -1 with err set when only one is or
 * a value is not a number. */
int cm__json_position(const json_t *obj, const char *base, int required,
                      double *lat, double *lon, cm_error *err);

/* Check that obj (at path base) is an object holding only keys of the
 * NULL-terminated list allowed. Returns CM_OK, or CM_E_TYPE when obj is not
 * an object, or CM_E_INVALID naming the first unknown key. */
cm_status cm__json_check_keys(const json_t *obj, const char *base,
                              const char *const *allowed, cm_error *err);

/* Check an id string: non-empty, at most CM_ID_MAX - 1 bytes, UTF-8, no
 * control characters. Returns CM_OK or CM_E_INVALID at path. */
cm_status cm__json_check_id(const char *id, const char *path, cm_error *err);

/* Parse exactly 16 hex digits into a non-zero hash. Returns 0 or -1. */
int cm__json_parse_hash(const char *s, uint64_t *out);

/* ---- decoder (instance_decode.c and friends) -------------------------- */

typedef struct cm__jdec {
  cm_instance *inst;  /* being filled */
  cm__idmap workers;  /* worker id -> index */
  cm__idmap requests; /* request id -> index */
  int edge_mode;      /* the instance has an "edges" array */
  cm_error *err;      /* where failures go */
} cm__jdec;

/* Each part decoder reads its part of the root object into d->inst and
 * returns CM_OK, or an error code with d->err set. */
cm_status cm__json_decode_taxonomy(cm__jdec *d, const json_t *root);
cm_status cm__json_decode_weights(cm__jdec *d, const json_t *root);
cm_status cm__json_decode_params(cm__jdec *d, const json_t *root);
cm_status cm__json_decode_workers(cm__jdec *d, const json_t *root);
cm_status cm__json_decode_requests(cm__jdec *d, const json_t *root);
cm_status cm__json_decode_edges(cm__jdec *d, const json_t *root);

/* Decode a list of skill names (the array arr at path base) into a skill
 * set of d->inst's taxonomy. Returns CM_OK or an error with d->err set. */
cm_status cm__json_decode_skills(cm__jdec *d, const json_t *arr,
                                 const char *base, cm_skillset *out);

/* ---- encoder helpers (json_encode_util.c) ----------------------------- */

/* Set obj[key] to value, stealing value. Returns 0, or -1 when value is NULL
 * or out of memory (value is freed either way). */
int cm__json_set(json_t *obj, const char *key, json_t *value);
/* Append value to arr, stealing it. Returns 0 or -1 as cm__json_set. */
int cm__json_append(json_t *arr, json_t *value);
/* 1 when the NUL-terminated s is valid UTF-8 (no overlong forms, no
 * surrogates), else 0. */
int cm__json_utf8_valid(const char *s);
/* A string value from possibly invalid UTF-8: invalid bytes become '?'.
 * Returns a new reference or NULL when out of memory. */
json_t *cm__json_text(const char *s);
/* The names of the skills in s (an array of strings). Returns a new
 * reference or NULL when out of memory. */
json_t *cm__json_skills_new(const cm_taxonomy *t, cm_skillset s);
/* Merge the weight keys of obj (the object at "$.weights") onto *w and
 * validate the result; nothing changes on error (field "$.weights.x"). */
cm_status cm__json_weights_merge(const json_t *obj, cm_weights *w,
                                 cm_error *err);
/* The weights as the instance format has them (docs/solve-format.md).
 * Returns a new reference or NULL when out of memory. */
json_t *cm__json_weights_new(const cm_weights *w);
/* json_dumps, except that running out of memory anywhere gives NULL:
 * jansson's own (2.14) ignores a failed write of an object's key and
 * returns the text with that byte missing. Returns a malloc'ed string or
 * NULL. */
char *cm__json_dumps(const json_t *root, size_t flags);
/* Dump root with flags (plus JSON_INDENT(2) when pretty, JSON_COMPACT
 * otherwise) and drop the reference. Returns a malloc'ed string or NULL. */
char *cm__json_dump_free(json_t *root, size_t flags, int pretty);

#endif
