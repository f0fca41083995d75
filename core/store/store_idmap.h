/* store_idmap.h -- id -> index hash map whose keys stay in the caller's
 * array. A slot holds the id's hash and the index of its record; lookups
 * compare against keys + index * stride, so growing or reordering the array
 * never leaves a dangling key (unlike cm__idmap, which borrows pointers).
 * Open addressing with linear probing and backward-shift deletion. */
#ifndef CM_STORE_IDMAP_H_INCLUDED_
#define CM_STORE_IDMAP_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

typedef struct cm__store_idslot {
  uint64_t hash; /* cm_id_hash of the key */
  int idx;       /* record index, -1: empty slot */
} cm__store_idslot;

typedef struct cm__store_idmap {
  cm__store_idslot *slots; /* cap slots, NULL before the first reserve */
  size_t cap;              /* power of two */
  size_t count;            /* slots in use */
} cm__store_idmap;

/* Free the slots; the map is empty afterwards. Accepts an empty map. */
void cm__store_idmap_free(cm__store_idmap *m);

/* Make room for n keys (load factor <= 1/2). Returns 0, or -1 when out of
 * memory, with the map unchanged. */
int cm__store_idmap_reserve(cm__store_idmap *m, size_t n);

/* Index of the record whose key (a NUL-terminated string at
 * keys + idx * stride) equals id, or -1. */
int cm__store_idmap_find(const cm__store_idmap *m, uint64_t hash,
                         const char *id, const char *keys, size_t stride);

/* Add (hash, idx); the key must be absent and room reserved. */
void cm__store_idmap_insert(cm__store_idmap *m, uint64_t hash, int idx);

/* Drop the entry (hash, idx); nothing happens when it is absent. */
void cm__store_idmap_remove(cm__store_idmap *m, uint64_t hash, int idx);

/* The record of entry (hash, from) moved to index to. */
void cm__store_idmap_renumber(cm__store_idmap *m, uint64_t hash, int from,
                              int to);

#endif
