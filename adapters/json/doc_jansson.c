/* doc_jansson.c -- a value of the tape (json_doc.h) copied into jansson
 * values: the instance's settings ("taxonomy", "weights", "params") are
 * read by the same jansson-based code as the daemon's weights documents. */
#include "json_internal.h"

json_t *cm__jdoc_to_jansson(const cm__jdoc *doc, const cm__jval *v) {
  json_t *c;
  const cm__jval *e = cm__jdoc_first(v);
  switch ((cm__jtype)v->type) {
  case CM__JNULL:
    return json_null();
  case CM__JFALSE:
    return json_false();
  case CM__JTRUE:
    return json_true();
  case CM__JINT:
    return json_integer(v->u.i);
  case CM__JREAL:
    return json_real(v->u.d);
  case CM__JSTRING: /* UTF-8 without NUL, checked by the parser */
    return json_stringn_nocheck(cm__jdoc_str(doc, v), v->u.str.len);
  case CM__JARRAY:
    if (!(c = json_array()))
      return NULL;
    for (uint32_t i = 0; i < v->u.count; i++, e = cm__jdoc_next(doc, e))
      if (json_array_append_new(c, cm__jdoc_to_jansson(doc, e)) != 0)
        goto fail;
    return c;
  case CM__JOBJECT:
    if (!(c = json_object()))
      return NULL;
    for (uint32_t i = 0; i < v->u.count; i++, e = cm__jdoc_next(doc, e + 1))
      if (json_object_set_new_nocheck(c, cm__jdoc_str(doc, e),
                                      cm__jdoc_to_jansson(doc, e + 1)) != 0)
        goto fail;
    return c;
  case CM__JRAWNUM: /* only in streamed elements, converted before use */
    return NULL;
  }
  return NULL;
fail:
  json_decref(c);
  return NULL;
}
