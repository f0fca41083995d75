/* json.h -- the JSON formats of `carematch solve`: instance in, answer out.
 *
 * The formats are documented in docs/solve-format.md. The codec lives in the
 * adapters (it uses yajl and jansson); the core never sees JSON. This header
 * belongs to its own library, libcarematch_json (pkg-config carematch,
 * CMake carematch::json), so the umbrella carematch.h does not include it.
 * The API convention is carematch.h's. */
#ifndef CM_JSON_H_INCLUDED_
#define CM_JSON_H_INCLUDED_

#include <stddef.h>

#include "carematch/error.h"
#include "carematch/export.h"
#include "carematch/model.h"
#include "carematch/solve.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Parse an instance from len bytes of JSON text. On success *out is a new
 * instance (free with cm_instance_free) that passed cm_instance_validate.
 * On failure *out is NULL and err names the JSON path of the field
 * ("$.requests[3].lat") and what is wrong; nothing is allocated. */
CM_EXPORT cm_status cm_instance_from_json(const char *text, size_t len,
                                          cm_instance **out, cm_error *err);
/* The same, on up to `threads` threads (created and joined inside the
 * call; 0 or 1: the caller's only): the same instance or the same error
 * for any number. Today a text of 1 MiB or more uses two: one reads the
 * text, the other decodes the workers, requests and edges read so far. */
CM_EXPORT cm_status cm_instance_from_json_threads(const char *text, size_t len,
                                                  int threads,
                                                  cm_instance **out,
                                                  cm_error *err);

/* Render an answer as JSON text (ids, not indexes). Returns a malloc'ed
 * NUL-terminated string the caller frees, or NULL when out of memory.
 * pretty: indent with 2 spaces. */
CM_EXPORT char *cm_answer_to_json(const cm_instance *inst, const cm_answer *ans,
                                  int pretty);

/* Render an instance as JSON (round-trips through cm_instance_from_json).
 * Returns a malloc'ed string the caller frees, or NULL when out of
 * memory. */
CM_EXPORT char *cm_instance_to_json(const cm_instance *inst, int pretty);

/* Cost weights from a document {"weights": {some keys}} (the body of the
 * daemon's PUT /v1/weights; "version" may be there too): the keys given
 * replace those of *w, the result is validated, and *w changes only on
 * success (err names the field, "$.weights.travel"). */
CM_EXPORT cm_status cm_weights_from_json(const char *text, size_t len,
                                         cm_weights *w, cm_error *err);

/* {"error":{"code":...,"message":...,"field":...}} as a malloc'ed string
 * the caller frees, or NULL when out of memory. */
CM_EXPORT char *cm_error_to_json(const cm_error *err);

#ifdef __cplusplus
}
#endif
#endif
