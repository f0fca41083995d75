/* id_index.c -- the decoder's map of worker and request ids to indexes
 * (json_internal.h, cm__jidx): open addressing over 32-byte slots that hold
 * a short id in place. Edges name workers in no order, so each lookup is a
 * cache miss; with the key in its slot it is one miss, not two (the slot,
 * then the id it points to, as with core's cm__idmap). Ids of
 * CM__JIDX_INLINE bytes or more are kept in the decoder's id copies
 * (cm__jids) and pointed to. */
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

/* FNV-1a over the n bytes of s; never 0 (0 marks an empty slot). */
static uint32_t hash_of(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h ? h : 1;
}

int cm__jidx_init(cm__jidx *m, size_t expected) {
  size_t cap = 64;
  while (cap < expected * 2 + 1)
    cap <<= 1;
  memset(m, 0, sizeof *m);
  if (!(m->slots = calloc(cap, sizeof *m->slots)))
    return -1;
  m->cap = cap;
  return 0;
}

void cm__jidx_free(cm__jidx *m) {
  free(m->slots);
  memset(m, 0, sizeof *m);
}

/* 1 when slot q holds the key s[0..n). */
static int same(const cm__jidx_slot *q, const char *s, size_t n) {
  if (n < CM__JIDX_INLINE) /* NUL-terminated in place, zeros after */
    return q->key[CM__JIDX_INLINE] == 0 && memcmp(q->key, s, n + 1) == 0;
  const char *p;
  if (q->key[CM__JIDX_INLINE] != 1)
    return 0;
  memcpy(&p, q->key, sizeof p);
  return strcmp(p, s) == 0;
}

/* The slot of s[0..n) (hash h): its own, or the empty one where it would
 * go. */
static cm__jidx_slot *find(const cm__jidx *m, const char *s, size_t n,
                           uint32_t h) {
  size_t mask = m->cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    cm__jidx_slot *q = &m->slots[i];
    if (!q->hash || (q->hash == h && same(q, s, n)))
      return q;
  }
}

/* Twice the room, every slot moved. Returns 0 or -1 (m unchanged). */
static int grow(cm__jidx *m) {
  cm__jidx_slot *slots = calloc(m->cap * 2, sizeof *slots);
  if (!slots)
    return -1;
  size_t mask = m->cap * 2 - 1;
  for (size_t k = 0; k < m->cap; k++) {
    const cm__jidx_slot *q = &m->slots[k];
    if (!q->hash)
      continue;
    size_t i = q->hash & mask;
    while (slots[i].hash)
      i = (i + 1) & mask;
    slots[i] = *q;
  }
  free(m->slots);
  m->slots = slots;
  m->cap *= 2;
  return 0;
}

int cm__jidx_put(cm__jidx *m, cm__jids *ids, const char *s, size_t n, int value,
                 int *existing) {
  if ((m->count + 1) * 2 > m->cap && grow(m) != 0)
    return -1;
  uint32_t h = hash_of(s, n);
  cm__jidx_slot *q = find(m, s, n, h);
  if (q->hash) {
    if (existing)
      *existing = q->value;
    return 0;
  }
  if (n < CM__JIDX_INLINE) {
    memcpy(q->key, s, n); /* the rest of the slot's key stays zero */
  } else {
    const char *p = cm__jids_keep(ids, s, n);
    if (!p)
      return -1;
    memcpy(q->key, &p, sizeof p);
    q->key[CM__JIDX_INLINE] = 1;
  }
  q->hash = h;
  q->value = value;
  m->count++;
  return 1;
}

int cm__jidx_get(const cm__jidx *m, const char *s, size_t n) {
  if (!m->cap)
    return -1;
  const cm__jidx_slot *q = find(m, s, n, hash_of(s, n));
  return q->hash ? q->value : -1;
}

/* ---- copies of the long ids ---------------------------------------------- */

#define IDS_BLOCK ((size_t)64 << 10)

const char *cm__jids_keep(cm__jids *a, const char *s, size_t n) {
  if (!a->block || a->cap - a->used < n + 1) {
    size_t cap = IDS_BLOCK;
    if (cap < sizeof(char *) + n + 1)
      cap = sizeof(char *) + n + 1;
    char *b = malloc(cap);
    if (!b)
      return NULL;
    memcpy(b, &a->block, sizeof a->block); /* the link to the older */
    a->block = b;
    a->used = sizeof(char *);
    a->cap = cap;
  }
  char *dst = a->block + a->used;
  memcpy(dst, s, n);
  dst[n] = '\0';
  a->used += n + 1;
  return dst;
}

void cm__jids_free(cm__jids *a) {
  char *b = a->block;
  while (b) {
    char *older;
    memcpy(&older, b, sizeof older);
    free(b);
    b = older;
  }
  memset(a, 0, sizeof *a);
}
