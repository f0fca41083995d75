/* error.h -- one error vocabulary for the library, the CLI and the HTTP API.
 *
 * Every fallible function takes a caller-owned cm_error and, on failure,
 * fills it with a code, the path of the offending field (a JSON path such as
 * "$.requests[3].lat", or "" when no field is involved) and a message.
 * The struct maps one-to-one onto the HTTP error body
 * {"error":{"code":...,"message":...,"field":...}}. */
#ifndef CM_ERROR_H_INCLUDED_
#define CM_ERROR_H_INCLUDED_

#include "carematch/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(ENUM, HTTP status, "wire_name", "default message"): the HTTP status is
 * the one carematchd answers the code with. */
#define CM_ERROR_TABLE(X)                                                      \
  X(CM_OK, 200, "ok", "no error")                                              \
  X(CM_E_PARSE, 400, "malformed_json", "the input is not valid JSON")          \
  X(CM_E_MISSING, 400, "missing_field", "a required field is missing")         \
  X(CM_E_TYPE, 400, "wrong_type", "a field has the wrong type")                \
  X(CM_E_RANGE, 422, "out_of_range", "a value is out of range")                \
  X(CM_E_INVALID, 422, "invalid_value", "a value is not valid")                \
  X(CM_E_DUPLICATE, 409, "duplicate_id", "an id is used twice")                \
  X(CM_E_UNKNOWN_ID, 404, "unknown_id", "an id names nothing known")           \
  X(CM_E_UNKNOWN_SKILL, 422, "unknown_skill",                                  \
    "a skill is not in the taxonomy")                                          \
  X(CM_E_CONFLICT, 409, "conflict", "the state does not allow this")           \
  X(CM_E_LIMIT, 422, "limit_exceeded", "a size limit is exceeded")             \
  X(CM_E_NOMEM, 500, "out_of_memory", "out of memory")                         \
  X(CM_E_SOLVER, 500, "solver_failure", "the solver failed")                   \
  X(CM_E_IO, 500, "io_error", "an input/output operation failed")              \
  X(CM_E_UNAVAILABLE, 503, "unavailable", "a backing service is unavailable")  \
  X(CM_E_UNAUTHORIZED, 401, "unauthorized",                                    \
    "a valid bearer token is required")                                        \
  X(CM_E_FORBIDDEN, 403, "forbidden", "this token's role may not do this")     \
  X(CM_E_NOT_FOUND, 404, "not_found", "no such route")                         \
  X(CM_E_METHOD, 405, "method_not_allowed",                                    \
    "the route does not take this method")                                     \
  X(CM_E_MEDIA_TYPE, 415, "unsupported_media_type", "the body must be JSON")   \
  X(CM_E_BAD_REQUEST, 400, "bad_request", "the HTTP request is malformed")     \
  X(CM_E_NOT_IMPLEMENTED, 501, "not_implemented",                              \
    "the server does not implement this")                                      \
  X(CM_E_NOT_DURABLE, 503, "not_durable", "the write is not confirmed durable")

typedef enum cm_status {
#define CM_X_ENUM_(e, http, name, msg) e,
  CM_ERROR_TABLE(CM_X_ENUM_)
#undef CM_X_ENUM_
      CM_STATUS_COUNT
} cm_status;

#define CM_ERROR_FIELD_MAX 128
#define CM_ERROR_MESSAGE_MAX 256

typedef struct cm_error {
  cm_status code;                     /* CM_OK when nothing went wrong */
  char field[CM_ERROR_FIELD_MAX];     /* JSON path of the field, or "" */
  char message[CM_ERROR_MESSAGE_MAX]; /* human readable, names the problem */
} cm_error;

/* Wire name of a code ("out_of_range"); "unknown" for a bad code. Static
 * strings, as the messages. */
CM_EXPORT const char *cm_status_name(cm_status code);
/* Default message of a code. */
CM_EXPORT const char *cm_status_message(cm_status code);
/* HTTP status of a code (CM_E_RANGE: 422); 500 for a bad code. */
CM_EXPORT int cm_status_http(cm_status code);
/* Reset to CM_OK with empty field and message. Accepts NULL. */
CM_EXPORT void cm_error_clear(cm_error *err);
/* Fill err (if not NULL) and return code. The message is printf-formatted;
 * a NULL fmt uses the default message of the code. */
CM_EXPORT cm_status cm_error_set(cm_error *err, cm_status code,
                                 const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#ifdef __cplusplus
}
#endif
#endif
