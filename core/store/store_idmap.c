/* store_idmap.c -- id -> index map of the memory store (see
 * store_idmap.h): slots hold hashes and indexes, keys stay in the array. */
#include <stdlib.h>
#include <string.h>

#include "store_idmap.h"

void cm__store_idmap_free(cm__store_idmap *m) {
  free(m->slots);
  m->slots = NULL;
  m->cap = m->count = 0;
}

int cm__store_idmap_reserve(cm__store_idmap *m, size_t n) {
  size_t cap = m->cap ? m->cap : 16;
  while (cap < n * 2 + 2)
    cap <<= 1;
  if (cap == m->cap)
    return 0;
  cm__store_idslot *s = malloc(cap * sizeof *s);
  if (!s)
    return -1;
  for (size_t i = 0; i < cap; i++)
    s[i].idx = -1;
  for (size_t i = 0; i < m->cap; i++) {
    if (m->slots[i].idx < 0)
      continue;
    size_t j = (size_t)m->slots[i].hash & (cap - 1);
    while (s[j].idx >= 0)
      j = (j + 1) & (cap - 1);
    s[j] = m->slots[i];
  }
  free(m->slots);
  m->slots = s;
  m->cap = cap;
  return 0;
}

int cm__store_idmap_find(const cm__store_idmap *m, uint64_t hash,
                         const char *id, const char *keys, size_t stride) {
  if (!m->cap)
    return -1;
  size_t mask = m->cap - 1;
  for (size_t i = (size_t)hash & mask; m->slots[i].idx >= 0;
       i = (i + 1) & mask) {
    const cm__store_idslot *s = &m->slots[i];
    if (s->hash == hash && strcmp(keys + (size_t)s->idx * stride, id) == 0)
      return s->idx;
  }
  return -1;
}

void cm__store_idmap_insert(cm__store_idmap *m, uint64_t hash, int idx) {
  size_t mask = m->cap - 1, i = (size_t)hash & mask;
  while (m->slots[i].idx >= 0)
    i = (i + 1) & mask;
  m->slots[i].hash = hash;
  m->slots[i].idx = idx;
  m->count++;
}

/* Slot of entry (hash, idx), or m->cap when absent. */
static size_t slot_of(const cm__store_idmap *m, uint64_t hash, int idx) {
  if (!m->cap)
    return 0;
  size_t mask = m->cap - 1;
  for (size_t i = (size_t)hash & mask; m->slots[i].idx >= 0; i = (i + 1) & mask)
    if (m->slots[i].idx == idx)
      return i;
  return m->cap;
}

void cm__store_idmap_remove(cm__store_idmap *m, uint64_t hash, int idx) {
  size_t i = slot_of(m, hash, idx), mask = m->cap - 1;
  if (i >= m->cap)
    return;
  /* backward shift: pull later members of the probe run into the hole */
  for (size_t j = (i + 1) & mask; m->slots[j].idx >= 0; j = (j + 1) & mask) {
    size_t home = (size_t)m->slots[j].hash & mask;
    /* the entry at j may move to i unless its home lies in (i, j] */
    int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!stays) {
      m->slots[i] = m->slots[j];
      i = j;
    }
  }
  m->slots[i].idx = -1;
  m->count--;
}

void cm__store_idmap_renumber(cm__store_idmap *m, uint64_t hash, int from,
                              int to) {
  size_t i = slot_of(m, hash, from);
  if (i < m->cap)
    m->slots[i].idx = to;
}
