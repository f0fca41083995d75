/* idmap.h -- a string-to-index hash map for ids (open addressing): an
 * internal utility (the carematch_idmap target) that core/ and the JSON and
 * Redis adapters link; not public API. Keys are borrowed: they must outlive
 * the map. */
#ifndef CM_IDMAP_H_INCLUDED_
#define CM_IDMAP_H_INCLUDED_

#include <stddef.h>

typedef struct cm__idmap {
  const char **keys; /* NULL: empty slot */
  int *values;
  size_t cap; /* power of two */
  size_t count;
} cm__idmap;

/* Returns 0, or -1 when out of memory (map left empty). */
int cm__idmap_init(cm__idmap *m, size_t expected);
void cm__idmap_free(cm__idmap *m);
/* Insert key->value. Returns 1 when inserted, 0 when the key exists (value
 * untouched; *existing gets its value if not NULL), -1 when out of memory. */
int cm__idmap_put(cm__idmap *m, const char *key, int value, int *existing);
/* Remove key; returns 1 when it was there, 0 otherwise. */
int cm__idmap_del(cm__idmap *m, const char *key);
/* Point key's entry at a new key string with the same text and a new
 * value (when records move). Returns 1 when found. */
int cm__idmap_set(cm__idmap *m, const char *key, int value);
/* Value of key, or -1. */
int cm__idmap_get(const cm__idmap *m, const char *key);

#endif
