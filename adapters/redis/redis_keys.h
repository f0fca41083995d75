/* redis_keys.h -- key names of a region. Every key starts with
 * "cm:{<region>}:" so that the whole region hashes to one Redis Cluster
 * slot:
 *   cm:{r}:worker:<id>  hash: every field of the worker (redis_worker.h)
 *   cm:{r}:seen         sorted set id -> seen_ms (or up to 30 s less:
 *                       redis_scripts.h), workers with a position
 *   cm:{r}:workers      sorted set id -> insertion sequence (each() order)
 *   cm:{r}:seq          counter of insertions
 *   cm:{r}:geo:<s>      GEO set of the matchable workers holding skill s
 *   cm:{r}:offgrid      set of matchable workers that GEO cannot index:
 *                       within 1e-6 degree of GEO's latitude limit
 *                       (85.05112878) or beyond, or of the antimeridian
 *                       (redis_geo.h); no GEO set holds them
 *   cm:{r}:live         sorted set request id -> submission sequence: the
 *                       unfinished requests (the ledger)
 *   cm:{r}:events       stream of request transitions, for integrators
 *   cm:{r}:changes      stream of the ids of changed workers, for mirrors
 *   cm:{r}:rseq         counter of submissions
 *   cm:{r}:req:<id>     hash: a request's record (redis_request.h)
 *   cm:{r}:lease        string "<epoch> <since_ms> <holder>" with a TTL:
 *                       the region's lease (lua/lease.lua, docs/ha.md)
 *   cm:{r}:lease_epoch  counter of the lease's acquisitions
 *   cm:{r}:lease_want   string with a TTL: a daemon that prefers the
 *                       region and asks its holder for it (docs/ha.md)
 * (matchable: AVAILABLE, with a position and capacity > 0). */
#ifndef CM_REDIS_KEYS_H_INCLUDED_
#define CM_REDIS_KEYS_H_INCLUDED_

#include <stddef.h>

#include "carematch/error.h"
#include "carematch/model.h"
#include "carematch/redis.h"

/* The fixed keys, in the order every script receives them as KEYS[1..]. */
enum {
  CM__RD_K_SEEN = 0, /* cm:{r}:seen */
  CM__RD_K_WORKERS,  /* cm:{r}:workers */
  CM__RD_K_SEQ,      /* cm:{r}:seq */
  CM__RD_K_OFFGRID,  /* cm:{r}:offgrid */
  CM__RD_K_GEO0,     /* cm:{r}:geo:0 .. geo:31 follow */
  CM__RD_K_LIVE = CM__RD_K_GEO0 + CM_MAX_SKILLS, /* cm:{r}:live */
  CM__RD_K_EVENTS,                               /* cm:{r}:events */
  CM__RD_K_CHANGES,                              /* cm:{r}:changes */
  CM__RD_K_RSEQ,                                 /* cm:{r}:rseq */
  CM__RD_NFIXED
};

/* GEO sets a nearest query can search: one per skill. */
#define CM__RD_NSETS CM_MAX_SKILLS

#define CM__RD_PREFIX_MAX (CM_REDIS_REGION_MAX + 8)
#define CM__RD_KEY_MAX (CM__RD_PREFIX_MAX + 16 + CM_ID_MAX)

typedef struct cm__rd_keys {
  char region[CM_REDIS_REGION_MAX + 1];      /* the region's name */
  char prefix[CM__RD_PREFIX_MAX];            /* "cm:{region}:" */
  size_t prefix_len;                         /* strlen(prefix) */
  char fixed[CM__RD_NFIXED][CM__RD_KEY_MAX]; /* the fixed keys */
  size_t fixed_len[CM__RD_NFIXED];           /* their lengths */
} cm__rd_keys;

/* Name the keys of region. Returns CM_OK, or CM_E_INVALID at "$.region"
 * when the name is empty, longer than CM_REDIS_REGION_MAX or holds a byte
 * outside [A-Za-z0-9_.-] (so it can neither break the hash tag nor act as a
 * SCAN pattern). */
cm_status cm__rd_keys_init(cm__rd_keys *k, const char *region, cm_error *err);

/* Write "cm:{region}:worker:<id>" into buf (CM__RD_KEY_MAX bytes; id is
 * shorter than CM_ID_MAX). Returns its length. */
size_t cm__rd_key_worker(const cm__rd_keys *k, const char *id, char *buf);

/* Write "cm:{region}:req:<id>" into buf (CM__RD_KEY_MAX bytes). Returns
 * its length. */
size_t cm__rd_key_request(const cm__rd_keys *k, const char *id, char *buf);

/* Write "cm:{region}:lease" (the region's lease, lua/lease.lua), or
 * "cm:{region}:lease_epoch" (its epoch counter), into buf (CM__RD_KEY_MAX
 * bytes). Returns its length. */
size_t cm__rd_key_lease(const cm__rd_keys *k, char *buf);
size_t cm__rd_key_lease_epoch(const cm__rd_keys *k, char *buf);
/* ... or "cm:{region}:lease_want" (the wish of a daemon preferring it). */
size_t cm__rd_key_lease_want(const cm__rd_keys *k, char *buf);

/* Index in k->fixed of the GEO set of skill s (0..31). */
int cm__rd_key_set(int s);

#endif
