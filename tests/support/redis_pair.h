/* redis_pair.h -- test support: two writers of one region on a Redis
 * server, each an engine on a memory mirror -- A, whose ledger's proposals
 * run on an event base of its own (a synchronous connection and a loop
 * connection, attached: the daemon's way), and B, a synchronous writer
 * (another daemon) -- or only their ledgers, and the completions A's
 * calls tell. Every step is asserted. */
#ifndef CM_TEST_REDIS_PAIR_H_INCLUDED_
#define CM_TEST_REDIS_PAIR_H_INCLUDED_

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "carematch/engine.h"
#include "carematch/ledger.h"
#include "carematch/redis.h"

typedef struct cm_test_pair {
  struct event_base *base; /* A's loop */
  cm_redis *sync, *loop;   /* A's ledger's two connections */
  cm_ledger *l;            /* A's ledger, attached to loop */
  cm_store *mirror;        /* A's engine's store */
  cm_engine *e;            /* A's engine, on l */
  cm_redis *other_r;       /* B's connection */
  cm_ledger *other;        /* B's ledger */
  cm_store *other_mirror;  /* B's engine's store */
  cm_engine *other_e;      /* B's engine, on other */
  redisContext *side;      /* the test's own look at Redis (hiredis) */
  int port;                /* the server's */
  char region[32];         /* the region both write */
} cm_test_pair;

/* Open A's and B's ledgers on region of the server on port, the region's
 * keys unlinked first (tests that share a server take a region each), and
 * the side connection; no engines (their stores and engines stay NULL).
 * A's synchronous connection has sync_opt (NULL: the defaults), its loop
 * connection timeout_ms; A's loop connection has answered a PING. */
void cm_test_pair_ledgers_open(cm_test_pair *p, int port, const char *region,
                               const cm_redis_options *sync_opt,
                               int timeout_ms);
/* The same, and an engine each on its ledger, with the default config, on
 * a memory mirror of its own. Nothing is synced. */
void cm_test_pair_open(cm_test_pair *p, int port, const char *region,
                       const cm_redis_options *sync_opt, int timeout_ms);
/* The region's keys unlinked, then everything freed (what a test freed
 * itself: set NULL). */
void cm_test_pair_close(cm_test_pair *p);

/* A completion's record: how often it was told, the last status, and its
 * place among every completion told in the process (from 1). */
typedef struct cm_test_told {
  int calls;
  cm_status st;
  int order; /* the sequence number when told */
} cm_test_told;

/* The next place in the order completions are told (from 1), for
 * callbacks of other shapes to share it. */
int cm_test_told_next(void);

/* A completion callback (ctx: a cm_test_told); asserts err is set. */
void cm_test_told_cb(void *ctx, cm_status st, const cm_error *err);

/* Turn base until t was told, for at most ms. */
void cm_test_run_until(struct event_base *base, const cm_test_told *t, int ms);

#endif
