/* redis_request.h -- a request's record as the ledger stores it: the
 * "rec" field of cm:{r}:req:<id>, a JSON object holding every field of a
 * cm_request_view (doubles with 17 digits, so they read back bit for bit;
 * enums as their numbers; format version "v": 1). The hash also has "ver"
 * and "state", which the commit script checks without parsing JSON. */
#ifndef CM_REDIS_REQUEST_H_INCLUDED_
#define CM_REDIS_REQUEST_H_INCLUDED_

#include <stddef.h>

#include "carematch/engine.h"

/* The record of v as a malloc'ed NUL-terminated string; NULL when out of
 * memory. */
char *cm__rd_request_encode(const cm_request_view *v);

/* Parse n bytes of a record into *out. Returns 0, or -1 when the text is
 * not a well-formed record of this version (out is then zeroed). */
int cm__rd_request_decode(const char *text, size_t n, cm_request_view *out);

#endif
