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

/* Fill err with CM_E_NOT_DURABLE: acked of replicas confirmed within
 * timeout_ms. Returns CM_E_NOT_DURABLE. */
cm_status cm__rd_not_durable(cm_error *err, long long acked, int replicas,
                             int timeout_ms);

/* Ask the server on r whether it is set up for level d with `replicas`
 * replicas (see cm_ledger_redis_durability_check). warn gets "" or one
 * line. Returns CM_OK or CM_E_UNAVAILABLE with err set. */
cm_status cm__rd_durability_check(cm_redis *r, cm_ledger_durability d,
                                  int replicas, char *warn, size_t n,
                                  cm_error *err);

#endif
