/* durability.c -- carematchd's start-up look at the ledger's durability
 * level ([store] durability, docs/redis.md "Durability"): one log line
 * naming the level, and a warning when the Redis server is not set up for
 * it (fsync: appendonly yes + appendfsync always; replica: a primary with
 * enough connected replicas). The daemon starts either way: an operator
 * may be about to start the replica. */
#include <stdio.h>

#include "daemon.h"

void cmd_durability_check(cmd_region *r) {
  const cm_ledger_redis_options *o = &r->d->cfg.ledger_opt;
  char warn[320];
  cm_error err;
  if (o->durability == CM_LEDGER_DURABILITY_REPLICA)
    fprintf(stderr,
            "carematchd: durability = replica: each commit waits for %d "
            "replica(s), up to %d ms\n",
            o->replicas, o->durability_timeout_ms);
  else
    fprintf(stderr, "carematchd: durability = fsync: as durable as the Redis "
                    "server's appendfsync\n");
  if (cm_ledger_redis_durability_check(r->ledger, warn, sizeof warn, &err) !=
      CM_OK)
    fprintf(stderr, "carematchd: warning: durability not checked: %s\n",
            err.message);
  else if (warn[0])
    fprintf(stderr, "carematchd: warning: %s\n", warn);
}
