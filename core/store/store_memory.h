/* store_memory.h -- layout of the in-memory position store, shared by its
 * two files: store_memory.c (workers: upsert, moves, status, removal,
 * sweep) and store_nearest.c (nearest-k queries). */
#ifndef CM_STORE_MEMORY_H_INCLUDED_
#define CM_STORE_MEMORY_H_INCLUDED_

#include <stdint.h>

#include "carematch/store.h"
#include "cellmap.h"
#include "store_idmap.h"

/* Bookkeeping of one worker, parallel to the worker array. */
typedef struct cm__mem_node {
  uint64_t hash;  /* cm_id_hash of the id */
  int cx, cy;     /* grid cell, when slot >= 0 */
  int slot;       /* index in the cell's items, -1: not in the grid */
  int prev, next; /* insertion order (doubly linked), -1 at the ends */
} cm__mem_node;

typedef struct cm__memstore {
  cm_store base;       /* type pointer; first, so a cm_store * casts */
  cm_worker *workers;  /* n records, unordered (removal swaps the last in) */
  cm__mem_node *nodes; /* parallel to workers */
  int n, cap;          /* records used / allocated */
  int head, tail;      /* oldest and newest record, -1 when empty */
  cm__store_idmap ids; /* id -> record */
  cm__cellmap grid;    /* matchable workers (cm_store_matchable) */
} cm__memstore;

/* The nearest entry of the memory store's type (store_nearest.c). */
cm_status cm__memstore_nearest(cm_store *s, const cm_store_query *queries,
                               int nq, int k_max, int64_t now_ms,
                               int64_t stale_ms, cm_store_hit *hits,
                               int *counts, cm_error *err);

#endif
