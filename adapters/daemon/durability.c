/* durability.c -- carematchd's look at the ledger's durability level once
 * a region has recovered ([store] durability, docs/redis.md
 * "Durability"): one log line naming the level, and a warning when the
 * Redis server is not set up for it (fsync: appendonly yes + appendfsync
 * always; replica: a primary with enough connected replicas). The server
 * is asked on the loop's connection and answers in a callback, so a slow
 * or stalled Redis never holds the loop here (docs/async.md). The daemon
 * runs either way: an operator may be about to start the replica. */
#include <stdio.h>

#include "daemon.h"

static void on_checked(void *ctx, cm_status st, const char *warn,
                       const cm_error *err) {
  cmd_region *r = ctx;
  if (!r->eng) /* tearing down: the connection was freed */
    return;
  if (st != CM_OK)
    fprintf(stderr, "carematchd: warning: durability not checked: %s\n",
            err->message);
  else if (warn && warn[0])
    fprintf(stderr, "carematchd: warning: %s\n", warn);
}

void cmd_durability_check(cmd_region *r) {
  const cm_ledger_redis_options *o = &r->d->cfg.ledger_opt;
  cm_error err;
  if (o->durability == CM_LEDGER_DURABILITY_REPLICA)
    fprintf(stderr,
            "carematchd: durability = replica: each commit waits for %d "
            "replica(s), up to %d ms\n",
            o->replicas, o->durability_timeout_ms);
  else
    fprintf(stderr, "carematchd: durability = fsync: as durable as the Redis "
                    "server's appendfsync\n");
  if (cm_ledger_redis_durability_check_async(r->ledger, on_checked, r, &err) !=
      CM_OK)
    fprintf(stderr, "carematchd: warning: durability not checked: %s\n",
            err.message);
}
