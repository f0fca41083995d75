/* idmap.c -- open-addressing string map used to resolve and dedupe ids. */
#include <stdlib.h>
#include <string.h>

#include "carematch/model.h"
#include "idmap.h"

int cm__idmap_init(cm__idmap *m, size_t expected) {
  size_t cap = 16;
  while (cap < expected * 2 + 1)
    cap <<= 1;
  m->keys = calloc(cap, sizeof *m->keys);
  m->values = malloc(cap * sizeof *m->values);
  m->cap = cap;
  m->count = 0;
  if (!m->keys || !m->values) {
    cm__idmap_free(m);
    return -1;
  }
  return 0;
}

void cm__idmap_free(cm__idmap *m) {
  free(m->keys);
  free(m->values);
  m->keys = NULL;
  m->values = NULL;
  m->cap = m->count = 0;
}

static int grow(cm__idmap *m) {
  cm__idmap bigger;
  if (cm__idmap_init(&bigger, m->cap) != 0)
    return -1;
  for (size_t i = 0; i < m->cap; i++)
    if (m->keys[i])
      cm__idmap_put(&bigger, m->keys[i], m->values[i], NULL);
  cm__idmap_free(m);
  *m = bigger;
  return 0;
}

int cm__idmap_put(cm__idmap *m, const char *key, int value, int *existing) {
  if ((m->count + 1) * 2 > m->cap && grow(m) != 0)
    return -1;
  size_t mask = m->cap - 1;
  for (size_t i = cm_id_hash(key) & mask;; i = (i + 1) & mask) {
    if (!m->keys[i]) {
      m->keys[i] = key;
      m->values[i] = value;
      m->count++;
      return 1;
    }
    if (strcmp(m->keys[i], key) == 0) {
      if (existing)
        *existing = m->values[i];
      return 0;
    }
  }
}

int cm__idmap_get(const cm__idmap *m, const char *key) {
  if (!m->cap)
    return -1;
  size_t mask = m->cap - 1;
  for (size_t i = cm_id_hash(key) & mask; m->keys[i]; i = (i + 1) & mask)
    if (strcmp(m->keys[i], key) == 0)
      return m->values[i];
  return -1;
}

int cm__idmap_set(cm__idmap *m, const char *key, int value) {
  if (!m->cap)
    return 0;
  size_t mask = m->cap - 1;
  for (size_t i = cm_id_hash(key) & mask; m->keys[i]; i = (i + 1) & mask)
    if (strcmp(m->keys[i], key) == 0) {
      m->keys[i] = key;
      m->values[i] = value;
      return 1;
    }
  return 0;
}

int cm__idmap_del(cm__idmap *m, const char *key) {
  if (!m->cap)
    return 0;
  size_t mask = m->cap - 1, i = cm_id_hash(key) & mask;
  for (; m->keys[i]; i = (i + 1) & mask)
    if (strcmp(m->keys[i], key) == 0)
      break;
  if (!m->keys[i])
    return 0;
  /* backward-shift deletion keeps every probe chain unbroken */
  size_t j = i;
  for (;;) {
    m->keys[i] = NULL;
    for (;;) {
      j = (j + 1) & mask;
      if (!m->keys[j]) {
        m->count--;
        return 1;
      }
      size_t home = cm_id_hash(m->keys[j]) & mask;
      /* move j back to i unless home lies cyclically in (i, j] */
      if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
        break;
    }
    m->keys[i] = m->keys[j];
    m->values[i] = m->values[j];
    i = j;
  }
}
