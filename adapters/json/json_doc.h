/* json_doc.h -- a JSON text parsed into one flat array of values (a tape):
 * the input of the instance decoder. yajl's event parser drives the build
 * (json_doc.c); the rules are jansson's, so that the decoder refuses what
 * json_loadb(JSON_REJECT_DUPLICATES) refused, with the same codes and
 * paths. Nothing here is part of the public API. */
#ifndef CM_JSON_DOC_H_INCLUDED_
#define CM_JSON_DOC_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

#include "carematch/error.h"

/* jansson's nesting limit: a value inside 2048 containers is refused. */
#define CM__JDOC_MAX_DEPTH 2048
/* The tape indexes values with 32 bits: longer texts are refused. */
#define CM__JDOC_MAX_TEXT ((size_t)UINT32_MAX - 16)

typedef enum cm__jtype {
  CM__JNULL = 0,
  CM__JFALSE,
  CM__JTRUE,
  CM__JINT,    /* a number without '.', 'e' or 'E' (jansson's integer) */
  CM__JREAL,   /* any other number */
  CM__JSTRING, /* an object's keys are strings too */
  CM__JARRAY,
  CM__JOBJECT,
  CM__JRAWNUM /* a number left to convert (cm__jsink.swap only): u.str holds
                 its offset and length in the text; cm__jdoc_number makes it
                 a CM__JINT or CM__JREAL */
} cm__jtype;

/* One value. The values are in document order: a container is followed by
 * its contents (an object's as key, value, key, value, ...), and next says
 * where the value after it (and its contents) starts. */
typedef struct cm__jval {
  uint32_t type; /* cm__jtype */
  uint32_t next; /* index of the next sibling (this index + 1 for scalars) */
  union {
    int64_t i;      /* CM__JINT */
    double d;       /* CM__JREAL, finite */
    uint32_t count; /* CM__JARRAY: elements; CM__JOBJECT: members */
    struct {
      uint32_t off; /* in cm__jdoc.strings, NUL-terminated */
      uint32_t len; /* bytes, without the NUL (never holds a NUL) */
    } str;          /* CM__JSTRING: UTF-8 */
  } u;
} cm__jval;

typedef struct cm__jdoc {
  cm__jval *vals; /* vals[0] is the root, an object or an array */
  size_t n_vals;  /* values in use */
  size_t cap;     /* values allocated */
  char *strings;  /* the strings, decoded, each NUL-terminated, in order */
  size_t n_str;   /* bytes of strings in use */
  size_t str_cap; /* bytes of strings allocated */
} cm__jdoc;

/* Streaming the arrays of the root object (optional): an element of a
 * streamed array is handed over as soon as it is complete and then dropped
 * from the tape, so that the tape holds one element at a time instead of
 * the whole text. The array's own value stays (type, count; next points
 * past it as if it were empty). Callbacks cannot stop the parse: what
 * they find they keep until it ends (a later syntax error wins). */
typedef struct cm__jsink {
  /* The root member whose key is doc->vals[key] begins an array at byte
   * offset pos of the text: 1 streams its elements, 0 keeps them. The
   * members before it are complete. */
  int (*stream)(void *ctx, const cm__jdoc *doc, uint32_t key, size_t pos);
  /* Element i of the streamed array, complete, ending at byte offset pos:
   * v and its contents are valid during the call only. */
  void (*element)(void *ctx, const cm__jdoc *doc, const cm__jval *v, uint32_t i,
                  size_t pos);
  /* The streamed array ended (its count is final). */
  void (*end)(void *ctx, const cm__jdoc *doc);
  void *ctx;
  /* Optional (NULL: each element is dropped after element()). The
   * elements stay on the tape, from index mark on, until `batch` of them
   * were handed over or the array ends; then swap takes them: it must
   * leave doc->vals and doc->strings holding the tape's first mark values
   * and mark_str bytes of strings as they were, either the same arrays or
   * malloc'ed ones of its own (their caps set; the old ones are then the
   * sink's). The values of the elements handed over since the last swap
   * stay valid until it returns (in the old arrays, as long as the sink
   * keeps them). The tape then goes on from mark. */
  void (*swap)(void *ctx, cm__jdoc *doc, uint32_t mark, size_t mark_str);
  uint32_t batch;
  /* With swap: the elements' short numbers (below 19 bytes, no exponent:
   * never out of range) may be left as CM__JRAWNUM, for the sink to
   * convert (cm__jdoc_number) before it decodes the element. */
  int raw_numbers;
} cm__jsink;

/* Parse len bytes of text into doc (zeroed or freed before). Returns CM_OK,
 * or on error the code that json_loadb's error maps to (see
 * cm__json_parse_error): CM_E_PARSE (syntax, UTF-8, "\u0000", a scalar at
 * the top), CM_E_DUPLICATE (a key twice in one object), CM_E_RANGE (a
 * number a double or an int64 cannot hold), CM_E_LIMIT (nesting deeper than
 * CM__JDOC_MAX_DEPTH, a text over CM__JDOC_MAX_TEXT), CM_E_NOMEM; err names
 * the JSON path where it happened. doc must be freed with cm__jdoc_free
 * either way. */
cm_status cm__jdoc_parse(cm__jdoc *doc, const char *text, size_t len,
                         cm_error *err);
/* cm__jdoc_parse handing the root's arrays to sink as it chooses (sink
 * NULL: none). */
cm_status cm__jdoc_parse_stream(cm__jdoc *doc, const char *text, size_t len,
                                const cm__jsink *sink, cm_error *err);
/* Convert v, a CM__JRAWNUM of text, in place as the parser converts a
 * number (point: the locale's decimal point). Only numbers that cannot be
 * out of range are left raw, so it cannot fail. */
void cm__jdoc_number(cm__jval *v, const char *text, char point);
/* Free what doc holds and zero it. Accepts a zeroed doc. */
void cm__jdoc_free(cm__jdoc *doc);

/* The string of a CM__JSTRING value (NUL-terminated, borrowed from doc). */
static inline const char *cm__jdoc_str(const cm__jdoc *doc, const cm__jval *v) {
  return doc->strings + v->u.str.off;
}

/* The first element (array) or first key (object) of container v; only
 * meaningful when v has elements or members. */
static inline const cm__jval *cm__jdoc_first(const cm__jval *v) {
  return v + 1;
}

/* The value after v and its contents, in the same container. */
static inline const cm__jval *cm__jdoc_next(const cm__jdoc *doc,
                                            const cm__jval *v) {
  return doc->vals + v->next;
}

#endif
