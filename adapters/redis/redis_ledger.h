/* redis_ledger.h -- the Redis ledger's layout (cm_ledger_redis_new) and
 * what its files share: redis_ledger.c (commit, records, workers,
 * following) and redis_group.c (proposals: group commit on the caller's
 * event base, docs/async.md). */
#ifndef CM_REDIS_LEDGER_H_INCLUDED_
#define CM_REDIS_LEDGER_H_INCLUDED_

#include <stdint.h>

#include "carematch/ledger.h"
#include "carematch/redis.h"
#include "redis_argv.h"
#include "redis_call.h"

struct redisReply;
struct rd_async;
typedef struct rd_rebuild_op rd_rebuild_op;
typedef struct rd_get_op rd_get_op;

#define CM__RD_COMMIT_GROUP 64 /* changes per commit script call */

typedef struct rd_ledger {
  cm_ledger base; /* first: a cm_ledger * casts */
  cm_redis *r;    /* borrowed */
  cm_store *store;
  cm__rd_argv argv;
  cm_ledger_redis_options opt;
  int following;               /* follow_start succeeded */
  uint64_t epoch;              /* connection epoch at follow_start */
  char last_id[48];            /* last change entry seen */
  long long added_start;       /* entries-added at follow_start */
  long long consumed;          /* entries read since */
  cm_ledger_redis_stats stats; /* WAITs and commits not durable */
  struct rd_async *async;      /* proposals (redis_group.c); NULL until
                                  the first one on a caller's base */
  cm_redis *loop;              /* proposals go here (borrowed; NULL: r) */
  int64_t fence;               /* lease epoch the commits carry (-1: no
                                  fence; cm_ledger_redis_fence_set) */
  char fence_holder[CM_REDIS_LEASE_HOLDER_MAX]; /* and its holder */
  void *follow_op;                  /* an asynchronous follow in flight
                                       (redis_ledger.c), or NULL */
  long long follow_rounds;          /* round trips the follows waited for */
  struct rd_rebuild_op *rebuild_op; /* a rebuild read in flight
                                       (redis_rebuild.c), or NULL */
  struct rd_get_op *gets;           /* records being read asynchronously
                                       (redis_get_async.c) */
  int gets_deferred;                /* some wait for the turn's proposals */
} rd_ledger;

/* The synchronous commit (ledger.h's commit). */
cm_status cm__rd_commit(cm_ledger *l, const cm_ledger_change *ch, int n,
                        cm_ledger_result *results, cm_error *err);

/* Build into a the EVALSHA of the commit script for chs[0..m) (m at most
 * CM__RD_COMMIT_GROUP). Returns 0, -1 out of memory. */
int cm__rd_commit_build(rd_ledger *l, const cm_ledger_change *const *chs, int m,
                        cm__rd_argv *a);

/* One change's result in the script's reply (1, {0, version}, {-1,
 * worker, why} or {-2, "stale_epoch"}, counted in l's stats) into *res. Returns
 * 0, -1 when malformed. */
int cm__rd_commit_result(rd_ledger *l, const struct redisReply *e,
                         const cm_ledger_change *ch, cm_ledger_result *res);

/* ledger.h's propose (redis_group.c): on a connection with a private base,
 * a synchronous commit and the completion at once; on a caller's base,
 * queued and sent with everything else proposed in the same loop turn. */
cm_status cm__rd_propose(cm_ledger *l, const cm_ledger_change *ch, int n,
                         cm_ledger_done_fn done, void *ctx, cm_error *err);

/* ledger.h's worker_propose (redis_group.c): like cm__rd_propose, the
 * worker write queued with the changes, in proposal order. */
cm_status cm__rd_worker_propose(cm_ledger *l, const cm_ledger_worker_write *w,
                                cm_ledger_done_fn done, void *ctx,
                                cm_error *err);

/* The connection proposals go on (l->loop, or l->r). */
cm_redis *cm__rd_group_conn(const rd_ledger *l);

/* 1 when proposals wait or are in flight, else 0. */
int cm__rd_group_busy(const rd_ledger *l);

/* When proposals of this loop turn wait to be sent: have fn(arg) run once
 * they are (or were told they cannot be), so that what fn sends goes
 * behind them on the connection; returns 1. Else 0 (nothing waits, or
 * already four others wait: send now). Several run in the order asked. */
int cm__rd_group_after(rd_ledger *l, void (*fn)(void *), void *arg);

/* ledger.h's rebuild_async (redis_rebuild.c): the rebuild's reads on the
 * proposals' connection, or synchronously on a private base. */
cm_status cm__rd_rebuild_async(cm_ledger *l, const char *const *ids, int n,
                               cm_ledger_snapshot_fn done, void *ctx,
                               cm_error *err);

/* ledger.h's get_async (redis_get_async.c): HGET of the record on the
 * proposals' connection, behind the proposals of the turn; synchronously
 * on a private base. */
cm_status cm__rd_get_async(cm_ledger *l, const char *id,
                           cm_ledger_record_fn done, void *ctx, cm_error *err);

/* At the ledger's free: every read in flight ends once (its reply, NULL
 * when the connection goes, or now when it was never sent). */
void cm__rd_get_free(rd_ledger *l);

/* At the ledger's free: a rebuild read in flight ends once (its reply,
 * NULL when the connection goes, or now when it was never sent). */
void cm__rd_rebuild_free(rd_ledger *l);

/* XINFO STREAM's reply rep parsed as follow_start does (redis_ledger.c):
 * the last id into last (n bytes), entries-added, whether the stream
 * exists. Returns 0, or -1 with the failure recorded in b. */
int cm__rd_mark_parse(cm__rd_batch *b, const struct redisReply *rep, char *last,
                      size_t n, long long *added, int *exists);

/* Tell every proposal waiting or in flight CM_E_UNAVAILABLE (those in
 * flight by dropping the connection) and free the proposal state. */
void cm__rd_group_free(rd_ledger *l);

#endif
