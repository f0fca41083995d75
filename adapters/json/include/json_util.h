/* json_util.h -- what the JSON adapter offers the other adapters (the
 * daemon, the Redis adapter): JSON paths and errors at a path, typed field
 * readers of jansson values, id checks, encoder helpers. The declared
 * interface of the carematch_json target for its sibling adapters (its
 * published include folder, adapters/json/include); not public API and
 * not installed. The codec's other helpers are private (json_internal.h). */
#ifndef CM_JSON_UTIL_H_INCLUDED_
#define CM_JSON_UTIL_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "carematch/error.h"
#include "carematch/model.h"

/* Paths are built in buffers of this size; cm_error keeps the first
 * CM_ERROR_FIELD_MAX - 1 bytes. */
#define CM__JSON_PATH_MAX 256

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

/* ---- encoder helpers (json_encode_util.c) ----------------------------- */

/* Set obj[key] to value, stealing value. Returns 0, or -1 when value is NULL
 * or out of memory (value is freed either way). */
int cm__json_set(json_t *obj, const char *key, json_t *value);
/* Append value to arr, stealing it. Returns 0 or -1 as cm__json_set. */
int cm__json_append(json_t *arr, json_t *value);
/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
size_t cm__json_utf8_len(const char *s);
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
/* cm_error_to_json's body for CM_E_NOMEM with the default message, as a
 * static string (for a reply when allocation fails). */
const char *cm__json_error_oom(void);
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
