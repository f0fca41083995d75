/* live_due.c -- when the live requests next need a step, kept as a
 * binary min-heap over the slots of live[] (engine.c keeps live_due[],
 * one due time per slot, and tells this file of every change).
 *
 * The daemon asks cm__live_due after every call that may kick a batch; a
 * pass over live_due[] cost each call O(live), which with a day's
 * bookings (30,000 scheduled requests) was 6% of the daemon's CPU in
 * bench_http's accepts. The heap answers in O(1) and is kept in O(log
 * live) per insert, change and removal. due_heap[k] is a slot; due_pos[s]
 * is where slot s sits in the heap. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine_internal.h"

static int64_t key(const cm_engine *e, int k) {
  return e->live_due[e->due_heap[k]];
}

static void put(cm_engine *e, int k, int slot) {
  e->due_heap[k] = slot;
  e->due_pos[slot] = k;
}

static void sift_up(cm_engine *e, int k) {
  int slot = e->due_heap[k];
  int64_t due = e->live_due[slot];
  while (k > 0) {
    int parent = (k - 1) / 2;
    if (key(e, parent) <= due)
      break;
    put(e, k, e->due_heap[parent]);
    k = parent;
  }
  put(e, k, slot);
}

static void sift_down(cm_engine *e, int k) {
  int n = e->n_live, slot = e->due_heap[k];
  int64_t due = e->live_due[slot];
  for (;;) {
    int child = 2 * k + 1;
    if (child >= n)
      break;
    if (child + 1 < n && key(e, child + 1) < key(e, child))
      child++;
    if (key(e, child) >= due)
      break;
    put(e, k, e->due_heap[child]);
    k = child;
  }
  put(e, k, slot);
}

int cm__due_reserve(cm_engine *e, int cap) {
  int64_t *d = realloc(e->live_due, (size_t)cap * sizeof *d);
  if (!d)
    return -1;
  e->live_due = d; /* may outgrow live[] when a later realloc fails */
  int *h = realloc(e->due_heap, (size_t)cap * sizeof *h);
  if (!h)
    return -1;
  e->due_heap = h;
  int *p = realloc(e->due_pos, (size_t)cap * sizeof *p);
  if (!p)
    return -1;
  e->due_pos = p;
  return 0;
}

void cm__due_added(cm_engine *e) {
  int slot = e->n_live - 1; /* the last slot, its live_due set */
  put(e, slot, slot);
  sift_up(e, slot);
}

void cm__due_changed(cm_engine *e, int slot) {
  int k = e->due_pos[slot];
  sift_up(e, k);
  sift_down(e, e->due_pos[slot]);
}

void cm__due_removed(cm_engine *e, int slot) {
  int last = e->n_live; /* n_live already one less: the slot moved here */
  int k = e->due_pos[slot];
  int moved = e->due_heap[last]; /* the heap's last entry fills k */
  if (moved != slot) {
    put(e, k, moved);
    sift_up(e, k);
    sift_down(e, e->due_pos[moved]);
  }
  if (last != slot) /* live[last] now sits in slot: so does its entry */
    put(e, e->due_pos[last], slot);
}

int64_t cm__live_due(const cm_engine *e) {
  int64_t due = e->n_live > 0 ? e->live_due[e->due_heap[0]] : INT64_MAX;
#ifndef NDEBUG /* every place that sets a due field keeps live_due, and        \
                  the heap's top is their minimum */
  int64_t min = INT64_MAX;
  for (int i = 0; i < e->n_live; i++) {
    assert(e->live_due[i] == cm__req_due(e->live[i]));
    assert(e->due_heap[e->due_pos[i]] == i);
    min = e->live_due[i] < min ? e->live_due[i] : min;
  }
  assert(due == min);
#endif
  return due;
}
