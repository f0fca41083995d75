/* redis.h -- the Redis adapter: a connection to one region's keys
 * (cm_redis) on hiredis's async API and libevent, and the Redis position
 * store built on it (DESIGN section 6, docs/redis.md). This header belongs
 * to its own library, libcarematch_redis (pkg-config carematch-redis, CMake
 * carematch::redis), so the umbrella carematch.h does not include it. The
 * API convention is carematch.h's; a connection and what is built on it
 * are used from one thread.
 *
 * Every key of a region carries the hash tag {region}, so one region lives
 * in one Redis Cluster slot and every script names its keys through KEYS.
 * Calls are synchronous from the caller's point of view: each one sends its
 * commands (pipelined) and runs the connection's event_base until every
 * reply arrived or the timeout passed. That is fine from plain code and
 * from tests; it must NOT be done from inside a callback of the same
 * event_base (a daemon's own event loop), which is refused with
 * CM_E_CONFLICT.
 *
 * Failures: when Redis is down, slow past the timeout or the connection
 * drops, the call returns CM_E_UNAVAILABLE with a message naming host:port
 * and the cause; the next call reconnects (immediately after a drop, then
 * with a backoff doubling from backoff_min_ms up to backoff_max_ms while
 * attempts keep failing; a call inside the backoff fails at once). An error
 * reply from Redis is CM_E_IO. Ownership: cm_redis_new returns a connection
 * the caller frees with cm_redis_free; cm_store_redis_open borrows one. */
#ifndef CM_REDIS_H_INCLUDED_
#define CM_REDIS_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

#include "carematch/error.h"
#include "carematch/export.h"
#include "carematch/ledger.h"
#include "carematch/store.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base; /* libevent; only a pointer is passed */

typedef struct cm_redis cm_redis;

#define CM_REDIS_REGION_MAX 64 /* bytes of a region name, without the NUL */

typedef struct cm_redis_options {
  struct event_base *base; /* loop to run the connection on; NULL: the
                              connection creates and owns a private one */
  int timeout_ms;          /* a call gives up when no reply arrives for
                              this long (default 5000) */
  int backoff_min_ms;      /* first wait after a failed connect (100) */
  int backoff_max_ms;      /* longest wait between connects (2000) */
  const char *user;        /* AUTH user (Redis 6 ACL); NULL or "": the
                              password alone (legacy requirepass) */
  const char *password;    /* AUTH password; NULL: no AUTH. Copied; never
                              in an error message */
  int db;                  /* SELECT this database on every connect
                              (0..; default 0, no SELECT) */
  int connect_later;       /* 1: cm_redis_new does not connect; the first
                              call does (a daemon that starts before
                              Redis). Default 0: connect at once */
  int cluster;             /* 1: host:port is a node of a Redis Cluster;
                              the connection goes to the master serving
                              the region's slot and follows MOVED/ASK
                              (docs/cluster.md). db must be 0 */
  const char *seeds;       /* with cluster: more nodes to ask,
                              "host:port,host:port" (NULL: none). Copied */
} cm_redis_options;

/* What the cluster routing of a connection did (cm_redis_cluster_stats). */
typedef struct cm_redis_cluster_stats {
  uint64_t resolves;      /* topologies asked of the nodes (each connect) */
  uint64_t moved;         /* MOVED replies followed */
  uint64_t asked;         /* ASK replies followed (ASKING, then the command) */
  uint64_t retried;       /* TRYAGAIN / CLUSTERDOWN replies retried */
  uint64_t node_failures; /* connects to a node (to ask the topology, or
                             to send a redirected command) that failed */
  uint64_t moves;         /* connects straight to the owner a MOVED named */
} cm_redis_cluster_stats;

/* A redis:// address, parsed (cm_redis_url_parse). */
typedef struct cm_redis_url {
  char host[256];     /* "127.0.0.1" when the URL has none */
  int port;           /* 6379 when the URL has none */
  char user[128];     /* "" none */
  char password[256]; /* "" none; a secret */
  int db;             /* 0 when the URL has none */
  int cluster;        /* 1: redis+cluster:// (docs/cluster.md) */
  char seeds[1024];   /* cluster: every node of the URL, "host:port,..." */
} cm_redis_url;

/* Parse redis://[user[:password]@]host[:port][/db] (or
 * redis://:password@host...) into *out: user and
 * password are percent-decoded (%40 for '@', %3A for ':'), host may be
 * an IPv6 address in brackets ("[::1]"), db is 0..10000. Returns CM_OK, or
 * CM_E_INVALID with err saying what is wrong (the message never holds the
 * password); *out is then cleared. */
CM_EXPORT cm_status cm_redis_url_parse(const char *url, cm_redis_url *out,
                                       cm_error *err);

/* The address of u for a log: redis://user:***@host:port/db (the
 * password masked, "***" also when it came from elsewhere: has_password).
 * Writes at most n bytes (NUL included) into buf; returns buf. */
CM_EXPORT char *cm_redis_url_format(const cm_redis_url *u, int has_password,
                                    char *buf, size_t n);

/* Fill o with the defaults above. */
CM_EXPORT void cm_redis_options_init(cm_redis_options *o);

/* Connect to host:port for region (1..CM_REDIS_REGION_MAX bytes of
 * [A-Za-z0-9_.-]) and load the Lua scripts. Every connect (the first and
 * each reconnect) sends AUTH and SELECT first when opt asks for them, and
 * after loading the scripts checks that the user may run every command
 * they call (Redis >= 7: redis.acl_check_cmd), so a missing ACL
 * permission fails the connect naming the command ("NOPERM ... 'xadd'")
 * instead of a later write. opt may be NULL (defaults); its strings are
 * copied. Returns the connection (the caller frees it with cm_redis_free; a
 * caller's opt->base must outlive it), or NULL with err set: CM_E_INVALID
 * ("$.region", "$.host", "$.port", "$.db") for bad arguments,
 * CM_E_UNAVAILABLE when Redis cannot be reached, CM_E_IO when it refuses
 * AUTH, SELECT or the scripts, CM_E_NOMEM. With opt->connect_later nothing
 * is sent here and only bad arguments and memory fail. */
CM_EXPORT cm_redis *cm_redis_new(const char *host, int port, const char *region,
                                 const cm_redis_options *opt, cm_error *err);

/* Close the connection (waiting for nothing: no call is ever left in
 * flight) and free it; a private event_base goes with it. Accepts NULL. */
CM_EXPORT void cm_redis_free(cm_redis *r);

/* The region's name (borrowed, valid while r lives). */
CM_EXPORT const char *cm_redis_region(const cm_redis *r);

/* 1 when the connection is up and its scripts are loaded, else 0. */
CM_EXPORT int cm_redis_connected(const cm_redis *r);

/* 1 while a connect started by cm_redis_connect_async shakes hands (its
 * replies not all in, its timeout not reached), else 0. */
CM_EXPORT int cm_redis_connecting(const cm_redis *r);

/* Redis Cluster: 1 when a MOVED said the region's slot has a new owner
 * and the connection has not moved there yet; else 0. The first call
 * (cm_redis_ping) made while none of its commands is in flight
 * reconnects to the owner; one made with commands in flight waits for
 * their replies. A connection on the caller's event base (the group
 * commit's) is never reconnected inside its callbacks: its user calls
 * cm_redis_connect_async (or cm_redis_ping) between two turns while this
 * says so, which moves it once none of its commands is in flight
 * (docs/cluster.md), or every command goes on redirected. */
CM_EXPORT int cm_redis_move_pending(const cm_redis *r);

/* What went wrong last on the connection, without host or port: "connect
 * failed: Connection refused", Redis's own words for a refused AUTH
 * ("WRONGPASS ...") or a command the ACL user may not run ("NOPERM ...
 * 'xadd' ..."); "" when nothing did. Borrowed: valid until the next call
 * on r. For a readiness probe and the log. */
CM_EXPORT const char *cm_redis_last_error(const cm_redis *r);

/* The node r talks to now ("host:port" into buf, n bytes with the NUL;
 * for a cluster connection the master of the region's slot, once
 * connected). Returns buf. */
CM_EXPORT char *cm_redis_node(const cm_redis *r, char *buf, size_t n);

/* What r's cluster routing did so far into *out (all 0 for a connection
 * that is not a cluster one). Returns 1 when r is a cluster connection,
 * else 0. */
CM_EXPORT int cm_redis_cluster_stats_get(const cm_redis *r,
                                         cm_redis_cluster_stats *out);

/* PING; reconnects when needed. Returns CM_OK or CM_E_UNAVAILABLE. */
CM_EXPORT cm_status cm_redis_ping(cm_redis *r, cm_error *err);

/* Connect r, a connection on the caller's loop (cm_redis_options.base),
 * without waiting: when it is down and its backoff allows, a connect is
 * started and the handshake (AUTH, SELECT, SCRIPT LOAD, the ACL check,
 * ROLE at durability = replica) queued on it; the loop's own turns carry
 * it, and cm_redis_connected says 1 once the last reply came. A handshake
 * refused, or unanswered for timeout_ms, drops the connection (its reason
 * in cm_redis_last_error) and the next attempt waits the backoff. Moves a
 * cluster connection whose slot moved once none of its commands is in
 * flight (cm_redis_move_pending; finding the owner without a MOVED asks
 * the nodes synchronously). Call it outside the loop's callbacks or in
 * them. Returns CM_OK (up, or under way), CM_E_UNAVAILABLE (inside the
 * backoff, or the connect failed at once), CM_E_INVALID (a private
 * base). Proposals made while it is under way wait for its end
 * (docs/async-log.md, step g). */
CM_EXPORT cm_status cm_redis_connect_async(cm_redis *r, cm_error *err);

/* Delete every key of the region (SCAN MATCH "cm:{region}:*" + UNLINK).
 * For tests and for retiring a region; not atomic against other writers.
 * Returns CM_OK, CM_E_UNAVAILABLE or CM_E_IO. */
CM_EXPORT cm_status cm_redis_region_flush(cm_redis *r, cm_error *err);

/* A Redis position store on its own connection (default options). Returns
 * the store (free with cm_store_free), or NULL with err set as for
 * cm_redis_new. */
CM_EXPORT cm_store *cm_store_redis_new(const char *host, int port,
                                       const char *region, cm_error *err);

/* A Redis position store on a connection the caller keeps: r must outlive
 * the store, and cm_store_free leaves it open. Returns NULL (CM_E_NOMEM,
 * or CM_E_INVALID for a NULL r) on failure. */
CM_EXPORT cm_store *cm_store_redis_open(cm_redis *r, cm_error *err);

/* The connection of a Redis store (borrowed: valid while s lives), or NULL
 * when s is not one. */
CM_EXPORT cm_redis *cm_store_redis_conn(cm_store *s);

/* The answer of cm_redis_sweep_async: st CM_OK with how many workers went
 * offline, or the error (err; swept 0: some may have gone offline). */
typedef void (*cm_redis_swept_fn)(void *ctx, cm_status st, int swept,
                                  const cm_error *err);

/* cm_store_sweep of a Redis store without waiting, on r, a connection on
 * the caller's loop (cm_redis_options.base), connected and ready: the
 * same reads and script calls (redis_sweep.c), sent from the loop's
 * callbacks; fn runs exactly once, from the loop (or before this returns
 * when nothing can be stale), CM_E_UNAVAILABLE when the connection
 * dropped first (or r was freed). Returns CM_OK (fn will run), or
 * CM_E_INVALID / CM_E_RANGE (cm_store_check_sweep) / CM_E_UNAVAILABLE
 * (not connected) / CM_E_NOMEM with err set (fn will not run). */
CM_EXPORT cm_status cm_redis_sweep_async(cm_redis *r, int64_t now_ms,
                                         int64_t stale_ms, cm_redis_swept_fn fn,
                                         void *ctx, cm_error *err);

/* The answer of cm_redis_blob_set_async: st CM_OK once Redis took the
 * value, or the error (err; CM_E_UNAVAILABLE: it may or may not have). */
typedef void (*cm_redis_done_fn)(void *ctx, cm_status st, const cm_error *err);

/* cm_redis_blob_set without waiting, on r, a connection on the caller's
 * loop, connected and ready: fn runs exactly once, from the loop (no
 * reply within r's timeout_ms drops the connection). value is copied. Returns
 * CM_OK (fn will run), or CM_E_INVALID (a name not 1..32 of [a-z_]) /
 * CM_E_UNAVAILABLE / CM_E_NOMEM with err set (fn will not run). */
CM_EXPORT cm_status cm_redis_blob_set_async(cm_redis *r, const char *name,
                                            const char *value,
                                            cm_redis_done_fn fn, void *ctx,
                                            cm_error *err);

/* The answer of cm_redis_blob_get_async: st CM_OK with value (lent for
 * the call; NULL when none is stored), or the error (err; value NULL). */
typedef void (*cm_redis_blob_fn)(void *ctx, cm_status st, const char *value,
                                 const cm_error *err);

/* cm_redis_blob_get without waiting, on r, a connection on the caller's
 * loop, connected and ready: fn runs exactly once, from the loop; no
 * reply within r's timeout_ms drops the connection (CM_E_UNAVAILABLE).
 * Returns CM_OK (fn will run), or CM_E_INVALID / CM_E_UNAVAILABLE /
 * CM_E_NOMEM with err set (fn will not run). */
CM_EXPORT cm_status cm_redis_blob_get_async(cm_redis *r, const char *name,
                                            cm_redis_blob_fn fn, void *ctx,
                                            cm_error *err);

/* Move n known workers at once: worker ids[i] to (lat[i], lon[i]) seen at
 * seen_ms[i], as n cm_store_position calls would, but pipelined in chunks
 * of a few hundred, each chunk one script. Every argument is checked first
 * (fields "$.positions[i].id", ".lat", ".lon", ".seen_ms"), then every id
 * is looked up; an unknown id is CM_E_UNKNOWN_ID at "$.positions[i].id" and
 * nothing is written. (A worker removed by another client between the
 * look-up and its chunk is skipped.) When an id occurs twice, the later
 * position wins. Returns CM_OK, or the error with err set. */
CM_EXPORT cm_status cm_store_redis_positions(
    cm_store *s, int n, const char *const *ids, const double *lat,
    const double *lon, const int64_t *seen_ms, cm_error *err);

/* Delete every key of the store's region (cm_redis_region_flush): the
 * store is then empty. For tests. */
CM_EXPORT cm_status cm_store_redis_flush(cm_store *s, cm_error *err);

/* A small named value of the region, cm:{region}:<name> (name: 1..32 of
 * [a-z_]), such as the daemon's weights. get: *out is a malloc'ed copy
 * the caller frees, NULL when there is none. Returns CM_OK,
 * CM_E_UNAVAILABLE, CM_E_IO, CM_E_INVALID for a bad name. */
CM_EXPORT cm_status cm_redis_blob_get(cm_redis *r, const char *name, char **out,
                                      cm_error *err);
CM_EXPORT cm_status cm_redis_blob_set(cm_redis *r, const char *name,
                                      const char *value, cm_error *err);

/* ---- the Redis ledger (ledger.h, docs/ledger.md) ---- */

/* When a commit counts as durable (docs/redis.md, "Durability"). */
typedef enum cm_ledger_durability {
  CM_LEDGER_DURABILITY_FSYNC = 0, /* once the primary ran the commit
                                     script: as durable as the server's
                                     own policy (appendonly yes +
                                     appendfsync always) */
  CM_LEDGER_DURABILITY_REPLICA,   /* once WAIT confirms that `replicas`
                                     replicas have it too; else the call
                                     fails with CM_E_NOT_DURABLE */
  CM_LEDGER_DURABILITY_COUNT
} cm_ledger_durability;

typedef struct cm_ledger_redis_options {
  int64_t keep_ms; /* a finished request's record expires after this
                      (default 7 days; 0: kept for ever) */
  int events_max;  /* about this many events kept in cm:{r}:events
                      (XADD MAXLEN ~; default 100000) */
  cm_ledger_durability durability; /* default CM_LEDGER_DURABILITY_FSYNC */
  int replicas;                    /* REPLICA: replicas that must confirm (1) */
  int durability_timeout_ms;       /* REPLICA: WAIT's timeout (1000); must be
                                      below the connection's timeout_ms */
} cm_ledger_redis_options;

/* Wire name of a level ("fsync", "replica"); "?" for a bad one. */
CM_EXPORT const char *cm_ledger_durability_name(cm_ledger_durability d);
/* The level named name, or -1. */
CM_EXPORT int cm_ledger_durability_parse(const char *name);

/* Fill o with the defaults above. */
CM_EXPORT void cm_ledger_redis_options_init(cm_ledger_redis_options *o);

/* The region's durable dispatch state in Redis, on a connection the
 * caller keeps (r must outlive the ledger; cm_ledger_free leaves it
 * open). Requests are hashes cm:{r}:req:<id> committed by one Lua script
 * per transition; workers are the Redis store's hashes, with the jobs the
 * ledger counts; cm:{r}:events is the stream of transitions for
 * integrators. opt may be NULL. Returns the ledger (the caller frees it
 * with cm_ledger_free), or NULL with err set (CM_E_INVALID, CM_E_RANGE
 * naming the option, CM_E_NOMEM). */
CM_EXPORT cm_ledger *cm_ledger_redis_new(cm_redis *r,
                                         const cm_ledger_redis_options *opt,
                                         cm_error *err);

/* Send l's proposals (cm_ledger_propose, docs/async.md) on loop instead of
 * l's own connection: a connection to the same server and region on the
 * caller's event base (cm_redis_options.base), where they are grouped by
 * loop turn; l's own connection (a private base) keeps every synchronous
 * call (commit, reads, following, workers). loop takes l's writer tag, so
 * following still skips this process's writes. loop must outlive l; its
 * reconnects are its user's (cm_redis_connect_async between two turns).
 * Returns CM_OK, or CM_E_INVALID when l is not a Redis ledger, loop has a
 * private base or another region. */
CM_EXPORT cm_status cm_ledger_redis_attach(cm_ledger *l, cm_redis *loop,
                                           cm_error *err);

/* What the Redis ledger counted about durability since it was made. */
typedef struct cm_ledger_redis_stats {
  uint64_t waits;         /* commit calls that waited for replicas (WAIT) */
  uint64_t not_durable;   /* commit calls answered CM_E_NOT_DURABLE: no
                             replica confirmed in time, or none online */
  uint64_t stale_epoch;   /* offers the commit script refused because the
                             fence (cm_ledger_redis_fence_set) is not the
                             lease's epoch: CM_LEDGER_FENCED */
  uint64_t submitted;     /* submissions this ledger committed (a holder
                             compares them with cm_redis_lease.submissions
                             to notice another writer's: docs/ha.md) */
  uint64_t wait_timeouts; /* WAITs answered with fewer replicas than
                             asked: each waited the whole
                             durability_timeout_ms */
  uint64_t skipped_waits; /* commits answered CM_E_NOT_DURABLE without a
                             WAIT: the primary had fewer replicas online
                             than asked (ROLE; counted in not_durable too,
                             not in waits) */
} cm_ledger_redis_stats;

/* Copy l's counts into out; zeros when l is NULL or not a Redis ledger.
 * Cannot fail. */
CM_EXPORT void cm_ledger_redis_stats_get(const cm_ledger *l,
                                         cm_ledger_redis_stats *out);

/* Ask the server whether it is set up for l's durability level, for a
 * start-up warning. FSYNC: CONFIG GET appendonly and appendfsync must be
 * "yes" and "always". REPLICA: INFO replication must show a primary
 * (role:master) with at least `replicas` connected replicas. warn (n
 * bytes) gets "" when it is, else one line saying what is not (also when
 * CONFIG is refused, e.g. by an ACL: then the setting cannot be
 * verified). Returns CM_OK, or CM_E_UNAVAILABLE / CM_E_INVALID (l not a
 * Redis ledger) with err set. */
CM_EXPORT cm_status cm_ledger_redis_durability_check(cm_ledger *l, char *warn,
                                                     size_t n, cm_error *err);
/* cm_ledger_redis_durability_check without waiting, on the ledger's
 * proposals' connection (the one attached with cm_ledger_redis_attach,
 * else its own), which must run on the caller's loop, connected and
 * ready: fn runs exactly once, from the loop, with st CM_OK and value the
 * warning ("" when the server is set up for the level), or the error
 * (value NULL; no answer within the connection's timeout_ms drops it:
 * CM_E_UNAVAILABLE). Returns CM_OK (fn will run), or CM_E_INVALID (l not
 * a Redis ledger, or its connection on a private base) /
 * CM_E_UNAVAILABLE / CM_E_NOMEM with err set (fn will not run). */
CM_EXPORT cm_status cm_ledger_redis_durability_check_async(cm_ledger *l,
                                                           cm_redis_blob_fn fn,
                                                           void *ctx,
                                                           cm_error *err);

/* Where the ledger's follow of the change stream cm:{r}:changes stands. */
typedef struct cm_ledger_redis_follow {
  int following;    /* 0 before the first sync, or after a failure, until
                       the next rebuild */
  char last_id[48]; /* the last entry read (or the stream's end at the
                       last rebuild); "" when not following */
  char origin[17];  /* this connection's writer tag: the entries the
                       follow skips as its own */
  long long rounds; /* round trips to Redis the follows have waited for
                       (a pipeline of several commands counts one) */
} cm_ledger_redis_follow;

/* One group of proposals (docs/async.md, "Group commit"), for a trace of
 * where the daemon's writes wait: told when it is sent and when its last
 * reply is in. No data of the changes. */
typedef struct cm_ledger_redis_group {
  int answered;      /* 0: just sent; 1: every reply in, its proposals
                        about to be told */
  uint64_t id;       /* the group's number on this ledger, from 1 */
  int commands;      /* commands in its pipeline */
  int changes;       /* request changes (commit script units) */
  int positions;     /* workers' positions */
  int worker_writes; /* upserts and shifts */
  int in_flight;     /* groups sent and not all answered, this one
                        included when just sent */
} cm_ledger_redis_group;
typedef void (*cm_ledger_redis_group_fn)(void *arg,
                                         const cm_ledger_redis_group *g);

/* Have fn(arg, g) called for each group l sends on the connection its
 * proposals go on (a caller's base: its own, or the one attached with
 * cm_ledger_redis_attach), when sent and when answered; fn NULL stops it.
 * Off by default; costs a test a group when off. Returns CM_OK, or
 * CM_E_INVALID when l is not a Redis ledger proposing on a caller's base,
 * CM_E_NOMEM. */
CM_EXPORT cm_status cm_ledger_redis_group_watch(cm_ledger *l,
                                                cm_ledger_redis_group_fn fn,
                                                void *arg, cm_error *err);

/* Send the proposals l queued in this loop turn now, rather than from
 * the zero-timeout event that sends them once the turn's other callbacks
 * ran: for a caller about to work on in this turn (carematchd begins an
 * emergency's batch right after proposing its create, docs/async.md "one
 * durable write"). Nothing happens when nothing waits, while the
 * connection is not ready (the event sends them, or puts them off, as
 * usual), or when l is not a Redis ledger proposing on a caller's base.
 * Cannot fail: a write that fails tells the proposals, as the event's. */
CM_EXPORT void cm_ledger_redis_send_now(cm_ledger *l);

/* Hold l's position writes for at most ms (ms > 0), or end the hold
 * (ms <= 0; what was held goes at the end of the turn): meanwhile l sends
 * its other proposals' changes ahead of the position writes proposed
 * before them, so that they do not wait in Redis behind position scripts
 * (carematchd holds from an emergency's create to its offers' answer,
 * docs/async.md "Positions held behind an emergency's write"). Only
 * changes pass position writes: an upsert or a shift behind a held
 * position write waits with it, and everything behind that. Nothing
 * happens when l is not a Redis ledger proposing on a caller's base.
 * Cannot fail. */
CM_EXPORT void cm_ledger_redis_hold_positions(cm_ledger *l, int ms);

/* Fill out with where l's follow stands (l a Redis ledger). An engine
 * has caught up with Redis when no rebuild is pending and every entry
 * after last_id is its own (tagged origin): docs/hardening.md. */
CM_EXPORT void cm_ledger_redis_follow_get(const cm_ledger *l,
                                          cm_ledger_redis_follow *out);

/* ---- the region's lease (redis_lease.c, docs/ha.md) ----
 * One daemon of a region holds its lease, cm:{r}:lease (the region's hash
 * slot), and runs its batches. The lease expires ttl_ms after its last
 * renewal on Redis's clock; each new acquisition takes the next epoch
 * (cm:{r}:lease_epoch), the fencing token the commit script checks for
 * every offer (cm_ledger_redis_fence_set). */

#define CM_REDIS_LEASE_HOLDER_MAX 128 /* bytes of a holder's name, NUL too */

typedef struct cm_redis_lease {
  int mine;     /* 1: the caller holds it (after hold: acquired or
                   renewed; after release: it did and let it go) */
  int acquired; /* 1: hold took it now, with a new epoch */
  char holder[CM_REDIS_LEASE_HOLDER_MAX]; /* who holds it ("" nobody) */
  uint64_t epoch;                         /* its epoch (0 nobody) */
  int64_t since_ms;     /* the holder's clock when it acquired it */
  uint64_t submissions; /* requests submitted to the region so far, by
                           every writer (cm:{r}:rseq) */
  char wanted_by[CM_REDIS_LEASE_HOLDER_MAX]; /* a daemon other than the
                           holder that asked for the lease (want) within
                           its last ttl ("" none) */
  int64_t pttl_ms; /* ms the lease had left when Redis read it, before
                      this call renewed or took it (-2: nobody held it):
                      a standby aims its next attempt at the expiry */
} cm_redis_lease;

/* Acquire the lease when nobody holds it, renew it (for ttl_ms from now,
 * on Redis's clock) when holder holds it; now_ms is the holder's clock,
 * kept as since_ms at an acquisition. The call waits at most timeout_ms
 * (0: the connection's timeout) for Redis's answer. Returns CM_OK with
 * *out, or CM_E_INVALID (a holder empty, too long; ttl_ms < 1),
 * CM_E_UNAVAILABLE (no answer in time: the lease may or may not have been
 * renewed) or CM_E_IO with err set and *out zeroed. */
CM_EXPORT cm_status cm_redis_lease_hold(cm_redis *r, const char *holder,
                                        int64_t ttl_ms, int64_t now_ms,
                                        int timeout_ms, cm_redis_lease *out,
                                        cm_error *err);
/* The answer to cm_redis_lease_hold_async: st and *out as
 * cm_redis_lease_hold returns them (out and err valid during the call). */
typedef void (*cm_redis_lease_fn)(void *ctx, cm_status st,
                                  const cm_redis_lease *out,
                                  const cm_error *err);

/* cm_redis_lease_hold without waiting, on r, a connection on the caller's
 * loop (cm_redis_options.base), connected and ready (cm_redis_connected;
 * it does not connect: cm_redis_connect_async does, between two turns): fn runs
 * exactly once, from the loop, with the answer; CM_E_UNAVAILABLE when the
 * connection dropped first or r is freed (whether the lease was renewed
 * is then unknown). A renewal on a connection of its own is never queued
 * behind a commit (a WAIT holds its connection up to its timeout).
 * Returns CM_OK (fn will run), or CM_E_INVALID / CM_E_UNAVAILABLE (not
 * connected) / CM_E_NOMEM with err set (fn will not run). */
CM_EXPORT cm_status cm_redis_lease_hold_async(cm_redis *r, const char *holder,
                                              int64_t ttl_ms, int64_t now_ms,
                                              cm_redis_lease_fn fn, void *ctx,
                                              cm_error *err);
/* cm_redis_lease_hold, and when another daemon holds the lease, ask for
 * it: cm:{r}:lease_want names holder for ttl_ms, and the holder's
 * renewals report it as wanted_by (a holder that does not prefer the
 * region hands it back: docs/ha.md, "Hand-back"). The wish is dropped when
 * holder acquires. Returns like hold. */
CM_EXPORT cm_status cm_redis_lease_want(cm_redis *r, const char *holder,
                                        int64_t ttl_ms, int64_t now_ms,
                                        int timeout_ms, cm_redis_lease *out,
                                        cm_error *err);
/* cm_redis_lease_want without waiting, as cm_redis_lease_hold_async. */
CM_EXPORT cm_status cm_redis_lease_want_async(cm_redis *r, const char *holder,
                                              int64_t ttl_ms, int64_t now_ms,
                                              cm_redis_lease_fn fn, void *ctx,
                                              cm_error *err);
/* Let the lease go when holder holds it (a clean stop: a standby takes it
 * at once instead of after the TTL). Returns like hold. */
CM_EXPORT cm_status cm_redis_lease_release(cm_redis *r, const char *holder,
                                           int timeout_ms, cm_redis_lease *out,
                                           cm_error *err);
/* cm_redis_lease_release without waiting, as cm_redis_lease_hold_async. */
CM_EXPORT cm_status cm_redis_lease_release_async(cm_redis *r,
                                                 const char *holder,
                                                 cm_redis_lease_fn fn,
                                                 void *ctx, cm_error *err);
/* Read who holds the lease. Returns like hold. */
CM_EXPORT cm_status cm_redis_lease_get(cm_redis *r, int timeout_ms,
                                       cm_redis_lease *out, cm_error *err);
/* cm_redis_lease_get without waiting, as cm_redis_lease_hold_async. */
CM_EXPORT cm_status cm_redis_lease_get_async(cm_redis *r, cm_redis_lease_fn fn,
                                             void *ctx, cm_error *err);

/* The fence l's commits carry from now on (proposals not yet sent too):
 * epoch > 0 and holder, the lease as the caller holds it; epoch 0, none
 * (every offer is then refused); -1 (the default), no fence: offers are
 * not checked against the lease. A change in which a worker takes a job
 * (an offer) is refused, CM_LEDGER_FENCED, unless the lease key holds
 * exactly that epoch and holder when the commit script runs; other
 * changes are not fenced. holder is copied (NULL: ""; cut at
 * CM_REDIS_LEASE_HOLDER_MAX - 1 bytes). Nothing when l is not a Redis
 * ledger. */
CM_EXPORT void cm_ledger_redis_fence_set(cm_ledger *l, int64_t epoch,
                                         const char *holder);

#ifdef __cplusplus
}
#endif
#endif
