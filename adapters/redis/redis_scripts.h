/* redis_scripts.h -- the Lua scripts that change a region atomically, so
 * that a worker's hash, the seen set and the GEO sets always agree. They
 * are loaded with SCRIPT LOAD when the connection is made and called with
 * EVALSHA; a NOSCRIPT answer (the server lost its script cache) loads them
 * again and the operation is retried (cm__rd_scripted).
 *
 * Every script receives the region's fixed keys as KEYS[1..CM__RD_NFIXED]
 * (redis_keys.h) followed by the hashes of the workers it touches, so no
 * key is built inside a script (Cluster-safe). Doubles arrive as strings
 * ("%.17g") and are stored as they came: Lua never turns them into numbers
 * on the way to a hash or a GEO set, because Lua prints numbers with 14
 * digits. The preconditions of each script are at the top of its file,
 * adapters/redis/lua/<name>.lua; the invariants in redis_scripts.c. */
#ifndef CM_REDIS_SCRIPTS_H_INCLUDED_
#define CM_REDIS_SCRIPTS_H_INCLUDED_

#include "carematch/error.h"
#include "redis_argv.h"

typedef struct cm_redis cm_redis;

/* How far the seen set's score of a worker may trail its seen_ms: a
 * position update rewrites the score only when seen_ms is below it, at
 * least this much above it, or beyond 2^53 (where Lua's doubles are not
 * exact). Scores never exceed seen_ms, so the sweep's ZRANGEBYSCORE up to
 * its limit still returns a superset of the stale workers (it re-checks
 * each), and a worker moving every few seconds writes the seen set about
 * once per this period instead of every time: ZADD costs Redis ~1 us per
 * member, a fifth of a position update. */
#define CM__RD_SEEN_SLACK_MS 30000

enum {
  CM__RD_S_UPSERT = 0, /* insert or replace one worker */
  CM__RD_S_POSITION,   /* move one worker */
  CM__RD_S_STATUS,     /* change one worker's status */
  CM__RD_S_REMOVE,     /* forget one worker */
  CM__RD_S_SWEEP,      /* mark stale available workers offline */
  CM__RD_S_POSITIONS,  /* move a chunk of workers */
  CM__RD_S_COMMIT,     /* one request transition (the ledger) */
  CM__RD_S_LEASE,      /* the region's lease (redis_lease.c) */
  CM__RD_NSCRIPTS
};

/* Name of a script ("upsert", ...: its file is lua/<name>.lua), for
 * messages; "?" when which is out of range. */
const char *cm__rd_script_name(int which);

/* The whole source of a script as SCRIPT LOAD gets it (redis_lua.h), or
 * NULL when which is out of range. Static storage. */
const char *cm__rd_script_source(int which);

/* SCRIPT LOAD every script on the current connection (which must exist)
 * and remember their SHA1s. Returns CM_OK, CM_E_UNAVAILABLE or CM_E_IO. */
cm_status cm__rd_scripts_load(cm_redis *r, cm_error *err);

/* Take into dst each script's SHA1 that src loaded and dst has not (a
 * script's SHA1 is the same on every connection): the ledger builds its
 * calls with its private connection's SHA1s, which never connects where
 * the loop's connection carries everything (carematchd). */
void cm__rd_sha_adopt(cm_redis *dst, const cm_redis *src);

/* Start building "EVALSHA <sha> <numkeys> <fixed keys...>" for a script
 * that will also get n_hashes worker hashes as keys (appended next by the
 * caller, then the ARGV). */
void cm__rd_evalsha_begin(cm__rd_argv *a, const cm_redis *r, int which,
                          int n_hashes);

/* One attempt of an operation that calls scripts: sets *noscript when an
 * EVALSHA answered NOSCRIPT. Returns like the operation. */
typedef cm_status (*cm__rd_attempt_fn)(void *ctx, int *noscript, cm_error *err);

/* Run fn; when it reports NOSCRIPT, load the scripts again and run it
 * again, up to CM__RD_NOSCRIPT_ROUNDS times. Returns what the last attempt
 * returned, or CM_E_IO when the cache was lost every time. */
#define CM__RD_NOSCRIPT_ROUNDS 3
cm_status cm__rd_scripted(cm_redis *r, cm__rd_attempt_fn fn, void *ctx,
                          cm_error *err);

#endif
