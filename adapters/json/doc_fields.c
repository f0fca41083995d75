/* doc_fields.c -- the members of a tape object (json_doc.h) sorted into
 * fields in one pass, unknown keys refused as cm__json_check_keys refuses
 * them; the typed rules for each field are in json_fields.c. */
#include <string.h>

#include "json_internal.h"

cm_status cm__jdoc_fields(const cm__jdoc *doc, const cm__jval *v,
                          const char *base, const char *const *keys,
                          const cm__jval **f, cm_error *err) {
  size_t nk = 0, hint = 0;
  while (keys[nk])
    f[nk++] = NULL;
  if (v->type != CM__JOBJECT)
    return cm__json_fail(err, CM_E_TYPE, base, NULL,
                         "must be an object, not %s",
                         cm__jval_type_name((cm__jtype)v->type));
  const cm__jval *k = cm__jdoc_first(v);
  for (uint32_t m = 0; m < v->u.count; m++) {
    const char *name = cm__jdoc_str(doc, k);
    size_t j = hint, tried = 0;
    /* Members mostly come in the order of keys: the key after the last
     * one found is tried first. */
    for (; tried < nk; tried++, j = j + 1 == nk ? 0 : j + 1)
      if (keys[j][0] == name[0] && strcmp(keys[j], name) == 0)
        break;
    if (tried == nk)
      return cm__json_fail(err, CM_E_INVALID, base, name,
                           "unknown key \"%.40s\"", name);
    f[j] = k + 1; /* the value follows its key */
    hint = j + 1 == nk ? 0 : j + 1;
    k = cm__jdoc_next(doc, k + 1);
  }
  return CM_OK;
}
