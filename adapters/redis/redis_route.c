/* redis_route.c -- a cluster connection's owner lookup on the caller's
 * event base, without waiting (redis_cluster.h, cm__rd_route_start): the
 * nodes are asked one at a time in cm__rd_cluster_route's order, each on
 * an asynchronous hiredis context of its own with AUTH, CLUSTER SHARDS
 * and CLUSTER SLOTS pipelined (SLOTS read only when SHARDS was refused: a
 * server before Redis 7), each within the connection's timeout_ms (its
 * connect within CM__RD_NODE_CONNECT_MS) by a libevent timer. The first
 * node that names a master online for the slot ends it: the connection
 * connects there and shakes hands (redis_hello.c). Nothing here runs the
 * loop: a frozen node costs the caller's loop nothing (docs/cluster.md,
 * docs/async-log.md step j). */
#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_cluster.h"
#include "redis_conn.h"

struct cm__rd_route {
  cm_redis *r;           /* the connection routed */
  redisAsyncContext *ac; /* the node being asked; NULL between two */
  struct event *timer;   /* the node's time is up */
  int last;              /* cm__rd_cluster_last at the start */
  int k;                 /* nodes asked so far */
  cm__rd_node at;        /* the node being asked */
  int shards_refused;    /* CLUSTER SHARDS refused: SLOTS decides */
  char why[256];         /* the last node's failure */
};

static void node_next(cm__rd_route *rt);

/* The node being asked given up: its context freed (inside its own
 * callback hiredis frees it once the callback returns); the replies still
 * due come NULL and find it is not rt->ac any more. */
static void node_drop(cm__rd_route *rt) {
  redisAsyncContext *ac = rt->ac;
  rt->ac = NULL;
  evtimer_del(rt->timer);
  if (ac)
    redisAsyncFree(ac);
}

/* The end: found (the connection goes to owner) or not (why, backoff). */
static void route_end(cm__rd_route *rt, const cm__rd_node *owner) {
  cm_redis *r = rt->r;
  node_drop(rt);
  r->route = NULL;
  if (owner) {
    snprintf(r->host, sizeof r->host, "%s", owner->host);
    r->port = owner->port;
  } else {
    snprintf(r->why, sizeof r->why, "cluster: %.150s", rt->why);
  }
  event_free(rt->timer);
  free(rt);
  if (owner)
    cm__rd_connect_routed(r);
  else
    cm__rd_backoff(r);
}

/* This node failed (why set): the next one. */
static void node_failed(cm__rd_route *rt) {
  rt->r->cl->stats.node_failures++;
  node_drop(rt);
  node_next(rt);
}

static void on_route_timer(evutil_socket_t fd, short what, void *arg) {
  cm__rd_route *rt = arg;
  (void)fd;
  (void)what;
  snprintf(rt->why, sizeof rt->why, "no answer from %.100s:%d within %d ms",
           rt->at.host, rt->at.port, rt->r->timeout_ms);
  node_failed(rt);
}

/* The route of r when ac is the node it asks now, else NULL (a node
 * given up: its late replies are ignored). */
static cm__rd_route *current(redisAsyncContext *ac, void *priv) {
  cm_redis *r = priv;
  return r->route && r->route->ac == ac ? r->route : NULL;
}

/* A reply of ac that is no answer (NULL: the connection lost): next. */
static int lost(cm__rd_route *rt, const redisReply *rep) {
  if (rep)
    return 0;
  snprintf(rt->why, sizeof rt->why, "%.100s:%d: connection lost: %.60s",
           rt->at.host, rt->at.port,
           rt->ac && rt->ac->errstr[0] ? rt->ac->errstr : "closed");
  node_failed(rt);
  return 1;
}

static void on_auth(redisAsyncContext *ac, void *reply, void *priv) {
  cm__rd_route *rt = current(ac, priv);
  const redisReply *rep = reply;
  if (!rt || lost(rt, rep) || rep->type != REDIS_REPLY_ERROR)
    return;
  snprintf(rt->why, sizeof rt->why, "AUTH refused by %.100s:%d: %.60s",
           rt->at.host, rt->at.port, rep->str ? rep->str : "error");
  node_drop(rt); /* as the synchronous lookup: the next node */
  node_next(rt);
}

/* A topology (SHARDS or SLOTS) read: found ends the lookup, else next. */
static void topology(cm__rd_route *rt, const redisReply *rep, int slots) {
  cm__rd_cluster *cl = rt->r->cl;
  cm__rd_node owner;
  int found = slots ? cm__rd_cluster_from_slots(cl, rep, &owner)
                    : cm__rd_cluster_from_shards(cl, rep, &owner);
  if (found == 1) {
    route_end(rt, &owner);
    return;
  }
  if (found == 0)
    snprintf(rt->why, sizeof rt->why,
             "slot %d has no master online (asked %.80s:%d)", cl->slot,
             rt->at.host, rt->at.port);
  else
    snprintf(rt->why, sizeof rt->why, "%.100s:%d gave no topology: %.40s",
             rt->at.host, rt->at.port, rep->str ? rep->str : "malformed");
  node_drop(rt);
  node_next(rt);
}

static void on_shards(redisAsyncContext *ac, void *reply, void *priv) {
  cm__rd_route *rt = current(ac, priv);
  const redisReply *rep = reply;
  if (!rt || lost(rt, rep))
    return;
  if (rep->type == REDIS_REPLY_ERROR && rep->str &&
      strstr(rep->str, "cluster support disabled")) {
    snprintf(rt->why, sizeof rt->why, "%.100s:%d is not in cluster mode",
             rt->at.host, rt->at.port);
    route_end(rt, NULL); /* the same answer anywhere: no other node asked */
  } else if (rep->type == REDIS_REPLY_ERROR) {
    rt->shards_refused = 1; /* before Redis 7: SLOTS, pipelined, decides */
  } else {
    topology(rt, rep, 0);
  }
}

static void on_slots(redisAsyncContext *ac, void *reply, void *priv) {
  cm__rd_route *rt = current(ac, priv);
  const redisReply *rep = reply;
  if (!rt || lost(rt, rep) || !rt->shards_refused)
    return;
  if (rep->type == REDIS_REPLY_ERROR) {
    snprintf(rt->why, sizeof rt->why, "%.100s:%d gave no topology: %.40s",
             rt->at.host, rt->at.port, rep->str ? rep->str : "error");
    node_drop(rt);
    node_next(rt);
    return;
  }
  topology(rt, rep, 1);
}

/* The connect to the node asked ended: up (its replies are due now,
 * within timeout_ms), or failed (hiredis frees it after this returns). */
static void on_route_connect(const redisAsyncContext *ac, int status) {
  cm_redis *r = ac->data;
  cm__rd_route *rt = r ? r->route : NULL;
  if (!rt || rt->ac != ac)
    return;
  if (status == REDIS_OK) {
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    evtimer_add(rt->timer, &tv);
    return;
  }
  snprintf(rt->why, sizeof rt->why, "connect to %.100s:%d failed: %.60s",
           rt->at.host, rt->at.port, ac->errstr);
  rt->ac = NULL; /* hiredis frees it */
  r->cl->stats.node_failures++;
  evtimer_del(rt->timer);
  node_next(rt);
}

/* Queue the node's commands on rt->ac. Returns 0, -1 (nothing more will
 * come: the caller drops it). */
static int node_ask(cm__rd_route *rt) {
  cm_redis *r = rt->r;
  redisAsyncContext *ac = rt->ac;
  int rc = REDIS_OK;
  if (r->password[0]) {
    const char *argv[3] = {"AUTH", r->user, r->password};
    size_t alen[3] = {4, strlen(r->user), strlen(r->password)};
    int skip = r->user[0] ? 0 : 1; /* legacy AUTH: the password alone */
    argv[skip] = "AUTH";
    alen[skip] = 4;
    rc = redisAsyncCommandArgv(ac, on_auth, r, 3 - skip, argv + skip,
                               alen + skip);
  }
  if (rc == REDIS_OK)
    rc = redisAsyncCommand(ac, on_shards, r, "CLUSTER SHARDS");
  if (rc == REDIS_OK)
    rc = redisAsyncCommand(ac, on_slots, r, "CLUSTER SLOTS");
  return rc == REDIS_OK ? 0 : -1;
}

/* Ask the next node (connect, then its commands), or end: none left. */
static void node_next(cm__rd_route *rt) {
  cm_redis *r = rt->r;
  cm__rd_cluster *cl = r->cl;
  while (rt->k < cl->n_nodes) {
    rt->at = cl->nodes[cm__rd_cluster_nth(cl, rt->last, rt->k++)];
    rt->shards_refused = 0;
    redisAsyncContext *ac = redisAsyncConnect(rt->at.host, rt->at.port);
    if (!ac || ac->err) {
      snprintf(rt->why, sizeof rt->why, "connect to %.100s:%d failed: %.60s",
               rt->at.host, rt->at.port, ac ? ac->errstr : "out of memory");
      if (ac)
        redisAsyncFree(ac);
      cl->stats.node_failures++;
      continue;
    }
    ac->data = r;
    rt->ac = ac;
    int ms = r->timeout_ms < CM__RD_NODE_CONNECT_MS ? r->timeout_ms
                                                    : CM__RD_NODE_CONNECT_MS;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (cm__rd_attach(ac, r->base) != 0 ||
        redisAsyncSetConnectCallback(ac, on_route_connect) != REDIS_OK ||
        evtimer_add(rt->timer, &tv) != 0 || node_ask(rt) != 0) {
      snprintf(rt->why, sizeof rt->why, "cannot ask %.100s:%d", rt->at.host,
               rt->at.port);
      node_drop(rt);
      continue;
    }
    return; /* its answer, its failure or its timer goes on */
  }
  route_end(rt, NULL);
}

int cm__rd_route_start(cm_redis *r) {
  cm__rd_cluster *cl = r->cl;
  cm__rd_route *rt = calloc(1, sizeof *rt);
  if (rt)
    rt->timer = evtimer_new(r->base, on_route_timer, rt);
  if (!rt || !rt->timer) {
    free(rt);
    snprintf(r->why, sizeof r->why, "out of memory");
    cm__rd_backoff(r);
    return -1;
  }
  rt->r = r;
  rt->last = cm__rd_cluster_last(r);
  snprintf(rt->why, sizeof rt->why, "no node to ask");
  cl->moved = 0;
  cl->stats.resolves++;
  r->route = rt;
  node_next(rt); /* may end at once: every node refused the connect */
  return 0;
}

void cm__rd_route_free(cm_redis *r) {
  cm__rd_route *rt = r ? r->route : NULL;
  if (!rt)
    return;
  r->route = NULL; /* the replies of the freed context find no route */
  if (rt->ac) {
    redisAsyncContext *ac = rt->ac;
    rt->ac = NULL;
    redisAsyncFree(ac);
  }
  event_free(rt->timer);
  free(rt);
}
