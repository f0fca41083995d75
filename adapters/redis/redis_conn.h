/* redis_conn.h -- layout of a Redis connection (cm_redis) and its
 * lifecycle: connect (AUTH, SELECT), load the scripts, check the ACL,
 * notice a drop, reconnect with a bounded backoff. Shared by the files of
 * adapters/redis; callers outside use include/carematch/redis.h. */
#ifndef CM_REDIS_CONN_H_INCLUDED_
#define CM_REDIS_CONN_H_INCLUDED_

#include <stdint.h>

#include "carematch/redis.h"
#include "redis_keys.h"
#include "redis_scripts.h"

struct redisAsyncContext;
struct event;
typedef struct cm__rd_hello cm__rd_hello; /* redis_hello.c */
typedef struct cm__rd_route cm__rd_route; /* redis_route.c */

#define CM__RD_HOST_MAX 256

struct cm_redis {
  char host[CM__RD_HOST_MAX];    /* where Redis is */
  int port;                      /* its TCP port */
  struct event_base *base;       /* the loop the connection runs on */
  int own_base;                  /* base was created here: free it */
  struct event *timer;           /* inactivity timeout of a call */
  int timer_fired;               /* set by the timer's callback */
  struct redisAsyncContext *ac;  /* NULL: not connected */
  int ready;                     /* connected and the scripts loaded */
  int in_call;                   /* a synchronous call is running */
  int timeout_ms;                /* options (cm_redis_options) */
  int backoff_min_ms;            /* */
  int backoff_max_ms;            /* */
  int failures;                  /* connects failed in a row */
  int64_t next_try_ms;           /* no connect before (monotonic ms) */
  char why[160];                 /* what went wrong last */
  cm__rd_keys keys;              /* the region's key names */
  char origin[17];               /* this connection's writer tag (hex):
                                    the last ARGV of every script */
  uint64_t epoch;                /* connections made so far: a mirror
                                    that saw another epoch lost track */
  char sha[CM__RD_NSCRIPTS][41]; /* SHA1 of each loaded script */
  char user[128];                /* AUTH user ("" none: legacy AUTH) */
  char password[256];            /* AUTH password ("" no AUTH); a secret,
                                    wiped by cm_redis_free */
  int db;                        /* SELECT on connect (0: none) */
  struct cm__rd_cluster *cl;     /* Redis Cluster routing (NULL: a plain
                                    server; redis_cluster.h) */
  int role_probe;                /* ask ROLE on each connect (a ledger at
                                    durability = replica sets it) */
  int replicas_online;           /* replicas the server's ROLE listed (at
                                    connect, or with the last commit that
                                    skipped its WAIT); -1 unknown */
  cm__rd_hello *hello;           /* the handshake in flight on the
                                    caller's base (NULL: none) */
  cm__rd_route *route;           /* a cluster's owner lookup in flight
                                    on the caller's base (NULL: none) */
};

/* Append the connection's origin tag to a script's ARGV (last). */
void cm__rd_argv_origin(cm__rd_argv *a, const cm_redis *r);

/* Milliseconds of a monotonic clock. */
int64_t cm__rd_now_ms(void);

/* Make sure the connection is up and its scripts loaded: reconnect when it
 * is down and the backoff allows. Returns CM_OK, or CM_E_UNAVAILABLE (down,
 * or inside the backoff) / CM_E_IO (scripts refused) with err set. */
cm_status cm__rd_ensure(cm_redis *r, cm_error *err);

/* Drop the connection now (a timeout or a broken reply): every pending
 * callback runs once with a NULL reply, and why is remembered for the
 * error messages. The next call reconnects without waiting. */
void cm__rd_drop(cm_redis *r, const char *why);

/* On a new connection, before anything else: AUTH (when a password is
 * set) and SELECT (db != 0). Returns CM_OK, or the error (CM_E_IO with
 * Redis's words, "AUTH refused: WRONGPASS ..."; CM_E_UNAVAILABLE).
 * redis_auth.c. */
cm_status cm__rd_handshake(cm_redis *r, cm_error *err);

/* Once the scripts are loaded: may the user run every command they and
 * the adapter call, on the region's keys? Returns CM_OK (also on Redis <
 * 7, which cannot tell), CM_E_IO "NOPERM ... '<command>' ..." naming the
 * first one refused, or the batch's error. redis_auth.c. */
cm_status cm__rd_acl_check(cm_redis *r, cm_error *err);

/* The ACL probe's Lua source (static), and the message naming the
 * command it found denied (into buf, n bytes). redis_auth.c. */
const char *cm__rd_acl_probe_source(void);
void cm__rd_acl_denied_message(char *buf, size_t n, const char *denied);

/* On r->ac, a connection on the caller's base just started (or up with
 * its scripts lost): queue the handshake (AUTH, SELECT, the scripts, the
 * ACL probe, ROLE) and return at once; r->hello is set until the last
 * reply, then the connection is ready, or dropped with r->why and the
 * backoff. Returns 0, or -1 when nothing could be queued (then ended
 * already: dropped, backoff). redis_hello.c. */
int cm__rd_hello_start(cm_redis *r);

/* The owner lookup on the caller's base found r->host, r->port: start
 * the connect and queue its handshake (cm__rd_hello_start); a failure
 * sets r->why and the backoff. redis_conn.c. */
void cm__rd_connect_routed(cm_redis *r);

/* Attach ac to base (hiredis's libevent adapter, included by
 * redis_conn.c only). Returns 0, -1. */
int cm__rd_attach(struct redisAsyncContext *ac, struct event_base *base);

/* A connect attempt failed: wait longer before the next one. */
void cm__rd_backoff(cm_redis *r);

/* Run the caller's base until the handshake in flight (r->hello) and the
 * owner lookup before it (r->route) end; only outside the base's
 * callbacks (a synchronous call). redis_call.c. */
void cm__rd_hello_wait(cm_redis *r);

/* Fill err with CM_E_UNAVAILABLE naming host:port and the last cause.
 * Returns CM_E_UNAVAILABLE. */
cm_status cm__rd_unavailable(const cm_redis *r, cm_error *err);

#endif
