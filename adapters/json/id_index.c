/* id_index.c -- id string -> array index, to resolve the ids that edges,
 * preferred and excluded lists name, and to find duplicate ids. Sized once
 * for the ids of one array; keys are borrowed from the parsed JSON tree. */
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

/* FNV-1a; any decent string hash will do here. */
static size_t hash(const char *s) {
  uint64_t h = 14695981039346656037ULL;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ULL;
  }
  return (size_t)(h ^ (h >> 29));
}

int cm__id_index_init(cm__id_index *ix, size_t expected) {
  size_t cap = 16;
  while (cap < expected * 2)
    cap <<= 1;
  ix->keys = calloc(cap, sizeof *ix->keys);
  ix->values = malloc(cap * sizeof *ix->values);
  ix->cap = cap;
  if (!ix->keys || !ix->values) {
    cm__id_index_free(ix);
    return -1;
  }
  return 0;
}

void cm__id_index_free(cm__id_index *ix) {
  free(ix->keys);
  free(ix->values);
  ix->keys = NULL;
  ix->values = NULL;
  ix->cap = 0;
}

int cm__id_index_put(cm__id_index *ix, const char *id, int value) {
  size_t mask = ix->cap - 1;
  for (size_t i = hash(id) & mask;; i = (i + 1) & mask) {
    if (!ix->keys[i]) {
      ix->keys[i] = id;
      ix->values[i] = value;
      return -1;
    }
    if (strcmp(ix->keys[i], id) == 0)
      return ix->values[i];
  }
}

int cm__id_index_get(const cm__id_index *ix, const char *id) {
  if (!ix->cap)
    return -1;
  size_t mask = ix->cap - 1;
  for (size_t i = hash(id) & mask; ix->keys[i]; i = (i + 1) & mask)
    if (strcmp(ix->keys[i], id) == 0)
      return ix->values[i];
  return -1;
}
