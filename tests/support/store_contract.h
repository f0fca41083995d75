/* store_contract.h -- the position store contract suite, written once
 * against include/carematch/store.h and run on every backend.
 *
 * A backend supplies a factory that returns a fresh, empty store on each
 * call (a Redis factory flushes its keyspace); every case makes its own
 * stores, drives them only through the cm_store_* wrappers, and checks each
 * answer against a reference model (an array and a linear scan) written
 * from the header comments. Cases fail through Criterion assertions, so
 * they run inside Criterion tests: one Test per case (see
 * tests/test_store_contract.c), or all at once with cm_contract_run_all.
 *
 * What the suite holds every backend to, beyond the header text:
 * - nearest answers only workers that are AVAILABLE, have a position and
 *   capacity > 0; fresh means stale_ms == 0 or now_ms - seen_ms <=
 *   stale_ms; need_all / need_any / exclude as in cm_store_query; distance
 *   <= radius_km; nearest first, ties by id (strcmp).
 * - distances are cm_geo_distance_km(query, worker) exactly, unless the
 *   backend declares a tolerance (dist_tol_km) for quantised positions.
 * - sweep marks only AVAILABLE workers with a position; stale_ms 0 sweeps
 *   nothing.
 * - errors: field paths "$.id", "$.lat", "$.lon", "$.skills", ...; a failed
 *   call changes nothing; a NULL err is accepted. */
#ifndef CM_STORE_CONTRACT_H_INCLUDED_
#define CM_STORE_CONTRACT_H_INCLUDED_

#include <stdint.h>

#include "carematch/store.h"

/* Returns a fresh, empty store, or NULL (the case fails). */
typedef cm_store *(*cm_contract_make_fn)(void *ctx);

typedef struct cm_contract {
  cm_contract_make_fn make; /* factory of fresh stores */
  void *ctx;                /* passed to make */
  double dist_tol_km;       /* 0: answers equal the model exactly (ids,
                               order, distances bit for bit); > 0: ids
                               and distances may differ within this
                               (backends with quantised positions) */
  int insertion_order;      /* 1: each() visits in insertion order (the
                               memory store); 0: any order that depends
                               only on the calls made */
  int ops;                  /* operations of the random case (0: 10000) */
  uint64_t seed;            /* seed of the random cases (0: a fixed one) */
} cm_contract;

typedef void (*cm_contract_fn)(const cm_contract *c);

typedef struct cm_contract_case {
  const char *name;  /* "nearest_brute", ... */
  cm_contract_fn fn; /* the case */
} cm_contract_case;

/* Every case, in a table (for parameterised runners). */
extern const cm_contract_case cm_contract_cases[];
extern const int cm_contract_case_count;

/* cm_store_count and cm_store_sweep as one number each: the count (the
 * workers swept), or -1 when the call failed (err says why). */
int cm_contract_count(cm_store *s);
int cm_contract_swept(cm_store *s, int64_t now_ms, int64_t stale_ms,
                      cm_error *err);

/* Run every case in turn; the first failure ends the run. */
void cm_contract_run_all(const cm_contract *c);

/* upsert then get returns every field; count; workers without position. */
void cm_contract_roundtrip(const cm_contract *c);
/* A second upsert of an id replaces every field, position and skills
 * included; count unchanged. */
void cm_contract_replace(const cm_contract *c);
/* position() moves a worker: the old neighbourhood loses it, the new one
 * finds it; other fields unchanged; a worker without a position gets one. */
void cm_contract_position(const cm_contract *c);
/* offered / busy / offline never answered, back to available answered;
 * capacity 0 and no position never answered. */
void cm_contract_status(const cm_contract *c);
/* remove(): first, middle, last; everything else intact; re-insertion. */
void cm_contract_remove(const cm_contract *c);
/* need_all / need_any / exclude on hand-made cases with known answers. */
void cm_contract_rules(const cm_contract *c);
/* Many workers at one point: ids break the tie; radius 0. */
void cm_contract_same_point(const cm_contract *c);
/* Nearest against brute force: thousands of seeded workers (clusters,
 * duplicates, every status), hundreds of queries with skill rules,
 * excludes, radius exactly at a worker's distance and just below, k
 * larger than the matches, k 0, queries far outside the populated area. */
void cm_contract_nearest_brute(const cm_contract *c);
/* A dense jittered lattice: every index boundary has workers just beyond
 * it, so a search that stops a ring too early is caught. */
void cm_contract_lattice(const cm_contract *c);
/* Far-flung geometry: poles, the antimeridian, the equator, workers far
 * from the first one; brute-force checked. */
void cm_contract_geometry(const cm_contract *c);
/* The stale filter (boundary included) and sweep. */
void cm_contract_stale_sweep(const cm_contract *c);
/* Bad input: code and field, nothing changed, NULL err accepted. */
void cm_contract_bad_input(const cm_contract *c);
/* One batched nearest call equals the same queries one by one. */
void cm_contract_batch(const cm_contract *c);
/* each(): every worker once; the same calls give the same order. */
void cm_contract_each(const cm_contract *c);
/* c->ops random operations cross-checked against the model after each. */
void cm_contract_random_ops(const cm_contract *c);

#endif
