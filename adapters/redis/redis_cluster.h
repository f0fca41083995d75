/* redis_cluster.h -- Redis Cluster routing of a connection (cm_redis): a
 * region's keys share one hash slot (redis_slot.h), so a connection talks
 * to the one master that serves that slot. Found from seed addresses
 * (CLUSTER SHARDS, or CLUSTER SLOTS before Redis 7) before each connect;
 * a MOVED, ASK, TRYAGAIN or CLUSTERDOWN reply is followed here on a
 * synchronous connection (the group commit on a loop sends such a command
 * again itself, from a timer), and a MOVED also moves the connection to
 * the new owner once it is idle.
 * docs/cluster.md tells why this is small and home-made. */
#ifndef CM_REDIS_CLUSTER_H_INCLUDED_
#define CM_REDIS_CLUSTER_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

#include "carematch/redis.h"

struct redisReply;
struct redisContext;

#define CM__RD_SEEDS_MAX 32 /* seeds given and nodes learned, at most */
/* A node's topology query and the side connection connect within this
 * (timeout_ms at most): a synchronous one blocks the caller's loop, and a
 * node whose machine is gone answers no SYN at all (on loopback a killed
 * node's port refuses at once). */
#define CM__RD_NODE_CONNECT_MS 500

typedef struct cm__rd_node {
  char host[256]; /* address */
  int port;       /* TCP port */
} cm__rd_node;

typedef struct cm__rd_cluster {
  int slot;                            /* the region's slot */
  int n_given;                         /* seeds given (first in nodes) */
  int n_nodes;                         /* seeds given, then learned */
  cm__rd_node nodes[CM__RD_SEEDS_MAX]; /* asked in this order */
  int moved;                           /* a MOVED named a new owner: move
                                          when the connection is idle */
  int has_target;                      /* connect to target next */
  cm__rd_node target;                  /* the owner a MOVED named */
  struct redisContext *side;           /* blocking connection for a
                                          redirected command; NULL none */
  cm__rd_node side_node;               /* where side is connected */
  int side_dirty;                      /* commands ran on side since the
                                          last WAIT: a WAIT runs there too */
  int side_void;                       /* a dirty side connection was
                                          closed: the next WAIT answers 0 */
  cm_redis_cluster_stats stats;        /* counters */
} cm__rd_cluster;

/* The cluster part of r from o (o->cluster set): the seeds are host:port,
 * then o->seeds ("host:port,host:port", may be NULL). Returns CM_OK, or
 * CM_E_INVALID ("$.seeds") / CM_E_NOMEM with err set (r->cl stays NULL). */
cm_status cm__rd_cluster_new(cm_redis *r, const cm_redis_options *o,
                             cm_error *err);

/* Free r's cluster part (NULL: nothing). */
void cm__rd_cluster_free(cm_redis *r);

/* Before a connect: set r->host, r->port to the master serving the
 * region's slot (the owner a MOVED named, else asked of the nodes in
 * turn). Returns CM_OK, else CM_E_UNAVAILABLE (no node answered, or the
 * slot has no master online) or CM_E_IO (a node is not in cluster mode,
 * AUTH refused), with err set and r->why saying why. */
cm_status cm__rd_cluster_route(cm_redis *r, cm_error *err);

/* The owner lookup's order: the index in r->cl->nodes of the node r was
 * on (lost, or never reached), asked last because after a master's death
 * the others know who replaces it; -1 when none. The k-th node to ask
 * (k < n_nodes, which may grow while asking) is cm__rd_cluster_nth. */
int cm__rd_cluster_last(const cm_redis *r);
int cm__rd_cluster_nth(const cm__rd_cluster *cl, int last, int k);

/* A CLUSTER SHARDS reply: learn every node; set *owner to the master of
 * the slot that is online. Returns 1 found, 0 the slot has no master
 * online, -1 malformed. cm__rd_cluster_from_slots: the same from a
 * CLUSTER SLOTS reply (Redis < 7), a master listed taken as online. */
int cm__rd_cluster_from_shards(cm__rd_cluster *cl, const struct redisReply *rep,
                               cm__rd_node *owner);
int cm__rd_cluster_from_slots(cm__rd_cluster *cl, const struct redisReply *rep,
                              cm__rd_node *owner);

/* Before a connect of r, a connection on the caller's base, when no MOVED
 * named the owner: ask the nodes in cm__rd_cluster_route's order without
 * waiting (redis_route.c), one at a time, each within timeout_ms (its
 * connect within CM__RD_NODE_CONNECT_MS), from callbacks of r's base;
 * r->route is set until the answer. Found: r->host, r->port set and the
 * connect and its handshake started (cm__rd_connect_routed); none: r->why
 * says why and the next attempt waits the backoff. Returns 0 started, -1
 * (out of memory: r->why set, backoff). */
int cm__rd_route_start(cm_redis *r);

/* The lookup in flight on r, if any, abandoned (its connection freed);
 * r->route NULL. */
void cm__rd_route_free(cm_redis *r);

/* 1 when a MOVED named a new owner and r's connection has no command in
 * flight: the caller drops it, so the next connect goes to the owner. */
int cm__rd_cluster_should_move(const cm_redis *r);

/* rep is an error answered on r's connection to a command that was not
 * followed (sent without keeping it): a MOVED marks r to move to the
 * node named, as a followed one does. Anything else, or r not a cluster
 * connection: nothing. */
void cm__rd_cluster_note(cm_redis *r, const redisReply *rep);

/* rep, a refusal answered on r's connection (cm__rd_cluster_busy_error)
 * to a command its user sends again later itself, without waiting (the
 * group commit on the caller's loop, redis_group.c): a MOVED marks r to
 * move to the node named (counted in moved) and 1 is returned; anything
 * else (ASK, TRYAGAIN, CLUSTERDOWN: the same node, after a backoff) is
 * counted in retried and 0 is returned. */
int cm__rd_cluster_later(cm_redis *r, const struct redisReply *rep);

/* rep is the reply to the formatted command cmd[0..len) sent on r's
 * connection. When r is a cluster connection and rep is MOVED or ASK the
 * command is sent again, blocking, on a side connection to the node named
 * (after ASKING for an ASK; a MOVED also marks r to move); TRYAGAIN and
 * CLUSTERDOWN are retried the same way after a backoff doubling from
 * backoff_min_ms, for timeout_ms at most. Returns the reply to hand on:
 * rep itself, or one owned by the caller (*owned, free it with
 * cm__rd_cluster_release once handed on), or NULL when the side
 * connection failed (as if the connection was lost: whether the command
 * ran is unknown). A WAIT after commands sent again on the side
 * connection also runs there, and answers the smaller count. */
const struct redisReply *cm__rd_cluster_follow(cm_redis *r, const char *cmd,
                                               size_t len,
                                               const struct redisReply *rep,
                                               struct redisReply **owned);

/* Free a reply returned through *owned (NULL: nothing). */
void cm__rd_cluster_release(struct redisReply *owned);

/* 1 when rep is an error reply saying the cluster cannot serve now
 * (TRYAGAIN, CLUSTERDOWN, MOVED, ASK: what remains after the retries),
 * which callers report as CM_E_UNAVAILABLE. */
int cm__rd_cluster_busy_error(const struct redisReply *rep);

/* A FIFO of formatted commands in flight on a synchronous batch (cluster
 * connections keep them to send again). */
typedef struct cm__rd_cmdq {
  char **cmd;     /* formatted commands (redisFormatCommandArgv) */
  size_t *len;    /* their lengths */
  size_t head, n; /* first, how many */
  size_t cap;     /* allocated */
} cm__rd_cmdq;

/* Append cmd (owned by q from now on). Returns 0, -1 out of memory (cmd
 * is then freed). */
int cm__rd_cmdq_push(cm__rd_cmdq *q, char *cmd, size_t len);

/* Take the oldest command out (*cmd owned by the caller:
 * redisFreeCommand); returns
 * 0, -1 when empty. */
int cm__rd_cmdq_pop(cm__rd_cmdq *q, char **cmd, size_t *len);

/* Free every command left and the queue's memory. */
void cm__rd_cmdq_free(cm__rd_cmdq *q);

#endif
