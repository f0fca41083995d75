/* store_memory.c -- the in-memory position store: workers in a growable
 * array with an id map keyed by index (store_idmap.h), matchable workers in
 * a dynamic grid (cellmap.h), insertion order in a linked list through the
 * array. Every change first reserves what it needs, then applies steps that
 * cannot fail, so an error (bad input or out of memory) changes nothing.
 * Queries live in store_nearest.c. No global state: a store is only what
 * cm_store_memory_new returned. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/store.h"
#include "store_memory.h"

static cm__memstore *mem(cm_store *s) {
  return (cm__memstore *)s;
}

static void mem_free(cm_store *s) {
  cm__memstore *m = mem(s);
  cm__cellmap_free(&m->grid);
  cm__store_idmap_free(&m->ids);
  free(m->workers);
  free(m->nodes);
  free(m);
}

/* Record of id, or -1. */
static int find(const cm__memstore *m, uint64_t hash, const char *id) {
  if (!m->workers)
    return -1;
  return cm__store_idmap_find(&m->ids, hash, id, m->workers[0].id,
                              sizeof(cm_worker));
}

/* Find the record of a worker named by the caller. Returns CM_OK with *i
 * set, CM_E_INVALID for a NULL id, or CM_E_UNKNOWN_ID (field "$.id") when
 * nobody has the id; err set on failure. */
static cm_status lookup(const cm__memstore *m, const char *id, int *i,
                        cm_error *err) {
  cm_status st = cm_store_check_id(id, err);
  if (st != CM_OK)
    return st;
  if ((*i = find(m, cm_id_hash(id), id)) < 0)
    return cm_error_set(err, CM_E_UNKNOWN_ID, "$.id", "$.id: no worker '%.63s'",
                        id);
  return CM_OK;
}

/* Room for one more record in the arrays and the id map. Returns 0, or -1
 * when out of memory (contents unchanged). */
static int reserve_record(cm__memstore *m) {
  if (m->n == m->cap) {
    int cap = m->cap ? m->cap * 2 : 64;
    cm_worker *w = realloc(m->workers, (size_t)cap * sizeof *w);
    if (!w)
      return -1;
    m->workers = w;
    cm__mem_node *nd = realloc(m->nodes, (size_t)cap * sizeof *nd);
    if (!nd)
      return -1;
    m->nodes = nd;
    m->cap = cap;
  }
  return cm__store_idmap_reserve(&m->ids, (size_t)m->n + 1);
}

/* The stored form of a valid worker: bytes past the id's NUL and past
 * n_elders zeroed, has_position 0 or 1, no coordinates without it. */
static void normalise(cm_worker *out, const cm_worker *w) {
  memset(out, 0, sizeof *out);
  memcpy(out->id, w->id, strnlen(w->id, CM_ID_MAX));
  out->skills = w->skills;
  out->status = w->status;
  out->has_position = w->has_position ? 1 : 0;
  out->lat = out->has_position ? w->lat : 0.0;
  out->lon = out->has_position ? w->lon : 0.0;
  out->seen_ms = w->seen_ms;
  out->capacity = w->capacity;
  out->jobs_today = w->jobs_today;
  out->rating = w->rating;
  out->level = w->level;
  out->n_elders = w->n_elders;
  memcpy(out->elders, w->elders, (size_t)w->n_elders * sizeof *w->elders);
}

/* Make room in the grid for worker w (as it is about to be stored as
 * record i, or new when i < 0). Returns 0 with *cx, *cy its cell when it is
 * matchable, or -1 when out of memory (the grid's items unchanged). A
 * record that stays in its cell is updated in place: nothing to reserve,
 * so that write cannot fail. */
static int grid_prepare(cm__memstore *m, int i, const cm_worker *w, int *cx,
                        int *cy) {
  if (!cm_store_matchable(w))
    return 0;
  if (i >= 0 && m->nodes[i].slot >= 0) {
    cm__cellmap_cell(&m->grid, w->lat, w->lon, cx, cy);
    if (*cx == m->nodes[i].cx && *cy == m->nodes[i].cy)
      return 0;
  }
  return cm__cellmap_reserve(&m->grid, w->lat, w->lon, cx, cy);
}

/* Take record i out of the grid. */
static void grid_take(cm__memstore *m, int i) {
  cm__mem_node *nd = &m->nodes[i];
  int moved = cm__cellmap_remove(&m->grid, nd->cx, nd->cy, nd->slot);
  if (moved >= 0)
    m->nodes[moved].slot = nd->slot;
  nd->slot = -1;
}

/* Bring the grid in line with record i, already updated; (cx, cy) came
 * from grid_prepare. A move inside a cell updates the item in place, a
 * move across cells is a removal and an append: O(1) either way. */
static void grid_apply(cm__memstore *m, int i, int cx, int cy) {
  cm__mem_node *nd = &m->nodes[i];
  const cm_worker *w = &m->workers[i];
  int want = cm_store_matchable(w);
  if (nd->slot >= 0 && (!want || nd->cx != cx || nd->cy != cy))
    grid_take(m, i);
  if (!want)
    return;
  cm__cell_item it;
  cm__cell_item_set(&it, w->lat, w->lon, w->seen_ms, w->skills, i);
  if (nd->slot >= 0) {
    *cm__cellmap_at(&m->grid, cx, cy, nd->slot) = it;
  } else {
    nd->cx = cx;
    nd->cy = cy;
    nd->slot = cm__cellmap_add(&m->grid, cx, cy, &it);
  }
}

/* Store w as record i (new or replaced) once prepared; cannot fail. */
static void commit(cm__memstore *m, int i, const cm_worker *w, int cx, int cy) {
  m->workers[i] = *w;
  grid_apply(m, i, cx, cy);
  cm__cellmap_tidy(&m->grid);
}

/* The entries of the type below: their contract is in store.h. Each clears
 * err, checks its arguments (store.h's backend checks), then reserves and
 * commits. */
static cm_status mem_upsert(cm_store *s, const cm_worker *w, cm_error *err) {
  cm__memstore *m = mem(s);
  cm_worker nw;
  int cx = 0, cy = 0;
  cm_error_clear(err);
  cm_status st = cm_store_check_worker(w, err);
  if (st != CM_OK)
    return st;
  normalise(&nw, w);
  uint64_t hash = cm_id_hash(nw.id);
  int i = find(m, hash, nw.id);
  if ((i < 0 && reserve_record(m) != 0) ||
      grid_prepare(m, i, &nw, &cx, &cy) != 0)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  if (i < 0) { /* append at the end of the insertion order */
    i = m->n++;
    m->nodes[i] =
        (cm__mem_node){.hash = hash, .slot = -1, .prev = m->tail, .next = -1};
    if (m->tail >= 0)
      m->nodes[m->tail].next = i;
    else
      m->head = i;
    m->tail = i;
    cm__store_idmap_insert(&m->ids, hash, i);
  }
  commit(m, i, &nw, cx, cy);
  return CM_OK;
}

static cm_status mem_position(cm_store *s, const char *id, double lat,
                              double lon, int64_t seen_ms, cm_error *err) {
  cm__memstore *m = mem(s);
  int cx = 0, cy = 0, i = -1;
  cm_error_clear(err);
  cm_status st = cm_store_check_position(lat, lon, seen_ms, err);
  if (st != CM_OK || (st = lookup(m, id, &i, err)) != CM_OK)
    return st;
  cm_worker nw = m->workers[i];
  nw.lat = lat;
  nw.lon = lon;
  nw.has_position = 1;
  nw.seen_ms = seen_ms;
  if (grid_prepare(m, i, &nw, &cx, &cy) != 0)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  commit(m, i, &nw, cx, cy);
  return CM_OK;
}

static cm_status mem_status(cm_store *s, const char *id, cm_worker_status st,
                            cm_error *err) {
  cm__memstore *m = mem(s);
  int cx = 0, cy = 0, i = -1;
  cm_error_clear(err);
  cm_status rc = cm_store_check_status((int)st, err);
  if (rc != CM_OK || (rc = lookup(m, id, &i, err)) != CM_OK)
    return rc;
  cm_worker nw = m->workers[i];
  nw.status = st;
  if (grid_prepare(m, i, &nw, &cx, &cy) != 0)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  commit(m, i, &nw, cx, cy);
  return CM_OK;
}

static cm_status mem_get(cm_store *s, const char *id, cm_worker *out,
                         cm_error *err) {
  cm__memstore *m = mem(s);
  int i = -1;
  cm_error_clear(err);
  cm_status st = lookup(m, id, &i, err);
  if (st != CM_OK)
    return st;
  if (out)
    *out = m->workers[i];
  return CM_OK;
}

/* Record from moved into the hole at to: fix its neighbours, its id entry
 * and its grid item. */
static void move_record(cm__memstore *m, int from, int to) {
  cm__mem_node *nd = &m->nodes[to];
  m->workers[to] = m->workers[from];
  *nd = m->nodes[from];
  if (nd->prev >= 0)
    m->nodes[nd->prev].next = to;
  else
    m->head = to;
  if (nd->next >= 0)
    m->nodes[nd->next].prev = to;
  else
    m->tail = to;
  cm__store_idmap_renumber(&m->ids, nd->hash, from, to);
  if (nd->slot >= 0)
    cm__cellmap_at(&m->grid, nd->cx, nd->cy, nd->slot)->worker = to;
}

static cm_status mem_remove(cm_store *s, const char *id, cm_error *err) {
  cm__memstore *m = mem(s);
  int i = -1;
  cm_error_clear(err);
  cm_status st = lookup(m, id, &i, err);
  if (st != CM_OK)
    return st;
  cm__mem_node *nd = &m->nodes[i];
  if (nd->slot >= 0)
    grid_take(m, i);
  cm__store_idmap_remove(&m->ids, nd->hash, i);
  if (nd->prev >= 0)
    m->nodes[nd->prev].next = nd->next;
  else
    m->head = nd->next;
  if (nd->next >= 0)
    m->nodes[nd->next].prev = nd->prev;
  else
    m->tail = nd->prev;
  if (i != m->n - 1)
    move_record(m, m->n - 1, i);
  m->n--;
  cm__cellmap_tidy(&m->grid);
  return CM_OK;
}

/* O(n): every record is looked at once. */
static cm_status mem_sweep(cm_store *s, int64_t now_ms, int64_t stale_ms,
                           int *swept, cm_error *err) {
  cm__memstore *m = mem(s);
  *swept = 0;
  cm_error_clear(err);
  cm_status st = cm_store_check_sweep(now_ms, stale_ms, err);
  if (st != CM_OK)
    return st;
  for (int i = 0; i < m->n; i++) {
    cm_worker *w = &m->workers[i];
    if (w->status != CM_WORKER_AVAILABLE || !w->has_position ||
        cm_store_fresh(w->seen_ms, now_ms, stale_ms))
      continue;
    w->status = CM_WORKER_OFFLINE;
    if (m->nodes[i].slot >= 0)
      grid_take(m, i);
    (*swept)++;
  }
  cm__cellmap_tidy(&m->grid);
  return CM_OK;
}

static cm_status mem_count(cm_store *s, int *count, cm_error *err) {
  (void)err;
  *count = mem(s)->n;
  return CM_OK;
}

static cm_status mem_each(cm_store *s,
                          void (*fn)(void *ctx, const cm_worker *w), void *ctx,
                          cm_error *err) {
  cm__memstore *m = mem(s);
  cm_error_clear(err);
  if (!fn)
    return cm_error_set(err, CM_E_INVALID, "", "no callback given");
  for (int i = m->head; i >= 0; i = m->nodes[i].next)
    fn(ctx, &m->workers[i]);
  return CM_OK;
}

static const cm_store_type memory_type = {
    .name = "memory",
    .free = mem_free,
    .upsert = mem_upsert,
    .position = mem_position,
    .status = mem_status,
    .get = mem_get,
    .remove = mem_remove,
    .nearest = cm__memstore_nearest,
    .sweep = mem_sweep,
    .count = mem_count,
    .each = mem_each,
};

cm_store *cm_store_memory_new(double cell_km) {
  cm__memstore *m = calloc(1, sizeof *m);
  if (!m)
    return NULL;
  m->base.type = &memory_type;
  m->head = m->tail = -1;
  cm__cellmap_init(&m->grid, cell_km);
  return &m->base;
}
