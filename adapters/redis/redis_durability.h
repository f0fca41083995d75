/* redis_durability.h -- the ledger's durability levels (docs/redis.md,
 * "Durability"): the WAIT that ends a commit at the replica level and
 * what its answer means, and the start-up check of the server's
 * settings. Shared by the files of adapters/redis. */
#ifndef CM_REDIS_DURABILITY_H_INCLUDED_
#define CM_REDIS_DURABILITY_H_INCLUDED_

#include <stddef.h>

#include "carematch/redis.h"
#include "redis_call.h"

struct redisReply;

/* Queue `WAIT replicas timeout_ms` on b, built in a. Redis answers it once
 * `replicas` replicas acknowledged every write this connection made
 * before it (so the commit sent just before on the same batch), or when
 * timeout_ms passed, with the number that did. */
void cm__rd_wait_send(cm__rd_batch *b, cm__rd_argv *a, int replicas,
                      int timeout_ms);

/* The answer to WAIT: how many replicas acknowledged, or -1 (the failure
 * is recorded on b: an error reply, a lost connection, a wrong type). */
long long cm__rd_wait_read(cm__rd_batch *b, const struct redisReply *rep);

/* The replica gate (docs/redis.md, "Durability"): a WAIT on a primary
 * that has fewer replicas online than asked can only time out, and a
 * commit that waits holds its caller for durability_timeout_ms (after a
 * failover in Redis Cluster the promoted replica has none until the old
 * primary is back and synchronised: every commit waited). So a
 * connection remembers how many replicas its server's ROLE listed (at
 * connect, r->role_probe) and lowers it to what a WAIT confirmed when
 * one came back short; while that is below `replicas` a commit sends
 * ROLE in place of its WAIT and is answered CM_E_NOT_DURABLE at once:
 * nothing acknowledged as durable is less so, and the ROLE answer says
 * when WAITs may succeed again. 1 when the WAIT is to be skipped. */
int cm__rd_wait_skip(const cm_redis *r, int replicas);

/* Queue ROLE on b, built in a (in place of a skipped WAIT). */
void cm__rd_role_send(cm__rd_batch *b, cm__rd_argv *a);

/* ROLE's answer rep: the replicas a master lists (0 for a replica's
 * answer), or -1 when it is not a ROLE answer (an error, NOPERM). */
long long cm__rd_role_count(const struct redisReply *rep);

/* Remember what rep (ROLE's answer) or acked (a WAIT's, < 0 unknown) says
 * of r's replicas for the next commits. */
void cm__rd_gate_role(cm_redis *r, const struct redisReply *rep);
void cm__rd_gate_wait(cm_redis *r, long long acked, int replicas);

/* On a new connection with r->role_probe: ask ROLE (one round trip on
 * the connection's own batch, inside cm__rd_ensure). Never fails: no
 * answer leaves the count unknown (every commit WAITs). */
void cm__rd_role_probe(cm_redis *r);

/* Fill err with CM_E_NOT_DURABLE for a commit whose WAIT was skipped:
 * the primary has online of `replicas` replicas. Returns
 * CM_E_NOT_DURABLE. */
cm_status cm__rd_not_durable_now(cm_error *err, int online, int replicas);

/* Fill err with CM_E_NOT_DURABLE: acked of replicas confirmed within
 * timeout_ms. Returns CM_E_NOT_DURABLE. */
cm_status cm__rd_not_durable(cm_error *err, long long acked, int replicas,
                             int timeout_ms);

/* The start-up check's findings (cm__rd_durability_check, and its
 * asynchronous form redis_durability_async.c): the answers to the
 * CM__RD_DCHECK_N commands cm__rd_dcheck_words names, in order. */
#define CM__RD_DCHECK_N 3
typedef struct cm__rd_dcheck {
  char appendonly[16], appendfsync[16]; /* "" unknown */
  char refused[120];                    /* CONFIG's error, "" none */
  char role[16];                        /* from INFO replication */
  long replicas;                        /* connected_slaves, -1 unknown */
} cm__rd_dcheck;

void cm__rd_dcheck_init(cm__rd_dcheck *c);
/* Command i's words (2 or 3, NULL-terminated when 2). */
const char *const *cm__rd_dcheck_words(size_t i);
/* 1 when rep, the answer to command i, is CONFIG's refusal (kept in
 * c->refused: an ACL may forbid CONFIG), else 0. */
int cm__rd_dcheck_refusal(cm__rd_dcheck *c, size_t i,
                          const struct redisReply *rep);
/* Take rep, the answer of the type command i expects, into c. */
void cm__rd_dcheck_take(cm__rd_dcheck *c, size_t i,
                        const struct redisReply *rep);
/* The warning for level d with `replicas` (warn: n bytes, "" none). */
void cm__rd_dcheck_warn(const cm__rd_dcheck *c, cm_ledger_durability d,
                        int replicas, char *warn, size_t n);

/* Ask the server on r whether it is set up for level d with `replicas`
 * replicas (see cm_ledger_redis_durability_check). warn gets "" or one
 * line. Returns CM_OK or CM_E_UNAVAILABLE with err set. */
cm_status cm__rd_durability_check(cm_redis *r, cm_ledger_durability d,
                                  int replicas, char *warn, size_t n,
                                  cm_error *err);

/* The same without waiting, on r, a connection on the caller's loop
 * (cm_ledger_redis_durability_check_async). */
cm_status cm__rd_durability_check_async(cm_redis *r, cm_ledger_durability d,
                                        int replicas, cm_redis_blob_fn fn,
                                        void *ctx, cm_error *err);

#endif
