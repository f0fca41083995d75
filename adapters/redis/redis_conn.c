/* redis_conn.c -- a Redis connection (cm_redis): connect on hiredis's async
 * API attached to libevent, AUTH and SELECT (redis_auth.c), load the
 * scripts, check the ACL, notice a drop, reconnect.
 *
 * Reconnection: a dropped connection is retried by the next call at once;
 * each failed attempt then doubles the wait before the next one, from
 * backoff_min_ms up to backoff_max_ms, and a call made during the wait fails
 * at once with CM_E_UNAVAILABLE (so a dead Redis costs callers nothing but
 * an error). The only file that includes the libevent adapter of hiredis. */
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "redis_call.h"
#include "redis_cluster.h"
#include "redis_conn.h"
#include "redis_durability.h"

int64_t cm__rd_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cm_redis_options_init(cm_redis_options *o) {
  memset(o, 0, sizeof *o);
  o->timeout_ms = 5000;
  o->backoff_min_ms = 100;
  o->backoff_max_ms = 2000;
}

cm_status cm__rd_unavailable(const cm_redis *r, cm_error *err) {
  return cm_error_set(err, CM_E_UNAVAILABLE, "",
                      "redis at %.100s:%d is unavailable: %s", r->host, r->port,
                      r->why[0] ? r->why : "not connected");
}

/* hiredis: the connect finished (status REDIS_OK) or failed; on failure
 * hiredis frees the context right after this returns. */
static void on_connect(const redisAsyncContext *ac, int status) {
  cm_redis *r = ac->data;
  if (status == REDIS_OK || !r)
    return;
  snprintf(r->why, sizeof r->why, "connect failed: %s",
           ac->errstr[0] ? ac->errstr : "unknown error");
  if (r->cl && r->ac == ac) /* the owner a MOVED named is gone: ask */
    r->cl->has_target = r->cl->moved = 0;
  if (r->ac == ac)
    r->ac = NULL;
  r->ready = 0;
}

/* hiredis: an established connection ended (by error, or by our own
 * redisAsyncFree); the context is freed right after this returns. */
static void on_disconnect(const redisAsyncContext *ac, int status) {
  cm_redis *r = ac->data;
  if (!r)
    return;
  if (status != REDIS_OK)
    snprintf(r->why, sizeof r->why, "connection lost: %s",
             ac->errstr[0] ? ac->errstr : "closed by the server");
  if (status != REDIS_OK && r->cl && r->ac == ac) /* a MOVED's owner may be */
    r->cl->has_target = r->cl->moved = 0;         /* the node lost: ask */
  if (r->ac == ac) {
    r->ac = NULL;
    if (r->ready) { /* was up: the next call reconnects at once (one lost
                       in its handshake waited its backoff already) */
      r->failures = 0;
      r->next_try_ms = 0;
    }
  }
  r->ready = 0;
}

void cm__rd_drop(cm_redis *r, const char *why) {
  redisAsyncContext *ac = r->ac;
  if (!ac)
    return;
  r->ac = NULL;
  r->ready = 0;
  snprintf(r->why, sizeof r->why, "%.150s", why);
  redisAsyncFree(ac); /* every pending callback runs with a NULL reply */
}

/* Start connecting (the commands sent next wait in hiredis's buffer until
 * the socket is up). Returns 0, or -1 with r->why set. */
static int connect_start(cm_redis *r) {
  redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
  if (!ac) {
    snprintf(r->why, sizeof r->why, "out of memory");
    return -1;
  }
  if (ac->err) {
    snprintf(r->why, sizeof r->why, "connect failed: %.128s", ac->errstr);
    redisAsyncFree(ac);
    return -1;
  }
  ac->data = r;
  if (redisLibeventAttach(ac, r->base) != REDIS_OK) {
    snprintf(r->why, sizeof r->why, "cannot attach to the event loop");
    redisAsyncFree(ac);
    return -1;
  }
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  r->ac = ac;
  r->ready = 0;
  return 0;
}

int cm__rd_attach(struct redisAsyncContext *ac, struct event_base *base) {
  return redisLibeventAttach(ac, base) == REDIS_OK ? 0 : -1;
}

void cm__rd_backoff(cm_redis *r) {
  int64_t wait = r->backoff_min_ms;
  r->failures++;
  for (int i = 1; i < r->failures && wait < r->backoff_max_ms; i++)
    wait *= 2;
  if (wait > r->backoff_max_ms)
    wait = r->backoff_max_ms;
  r->next_try_ms = cm__rd_now_ms() + wait;
}

/* The first half of a connect, shared by the waiting and the asynchronous
 * one: a connection whose slot moved dropped; when down, a new one
 * started if the backoff allows (a cluster first asks its nodes who serves
 * the slot, each with timeout_ms; a MOVED may have named it already:
 * synchronously, redis_cluster.c, or with async set without waiting,
 * redis_route.c, which then connects itself). Sets *ready when it is up
 * and ready. Returns CM_OK (up, connecting or routing) or the error. */
static cm_status connect_begin(cm_redis *r, int *ready, int async,
                               cm_error *err) {
  *ready = 0;
  if (cm__rd_cluster_should_move(r)) /* the slot has a new owner */
    cm__rd_drop(r, "the region's slot moved");
  if (r->ac && r->ready) {
    *ready = 1;
    return CM_OK;
  }
  if (r->ac)
    return CM_OK;
  int64_t now = cm__rd_now_ms();
  if (now < r->next_try_ms)
    return cm_error_set(err, CM_E_UNAVAILABLE, "",
                        "redis at %.100s:%d is unavailable: %s (next "
                        "attempt in %lld ms)",
                        r->host, r->port, r->why[0] ? r->why : "down",
                        (long long)(r->next_try_ms - now));
  if (async && r->cl && !r->cl->has_target) { /* the owner asked from
                                                  the base's callbacks */
    if (cm__rd_route_start(r) != 0)
      return cm__rd_unavailable(r, err);
    return CM_OK;
  }
  cm_status rs = r->cl ? cm__rd_cluster_route(r, err) : CM_OK;
  if (rs != CM_OK) { /* no node knows an owner online (a failover) */
    cm__rd_backoff(r);
    return rs;
  }
  if (connect_start(r) != 0) {
    cm__rd_backoff(r);
    return cm__rd_unavailable(r, err);
  }
  return CM_OK;
}

void cm__rd_connect_routed(cm_redis *r) {
  if (connect_start(r) != 0)
    cm__rd_backoff(r);
  else
    cm__rd_hello_start(r); /* a failure ends it: dropped, backoff */
}

cm_status cm__rd_ensure(cm_redis *r, cm_error *err) {
  if (r->hello || r->route) /* an asynchronous connect under way: its end
                               first */
    cm__rd_hello_wait(r);
  int ready;
  cm_status st = connect_begin(r, &ready, 0, err);
  if (st != CM_OK || ready)
    return st;
  st = cm__rd_handshake(r, err);
  if (st == CM_OK)
    st = cm__rd_scripts_load(r, err);
  if (st == CM_OK)
    st = cm__rd_acl_check(r, err);
  if (st == CM_OK && r->role_probe) { /* the replica gate's count */
    cm__rd_role_probe(r);
    if (!r->ac)
      st = cm__rd_unavailable(r, err);
  }
  if (st != CM_OK) {
    /* refused (AUTH, SELECT, ACL, the scripts): the same answer would come
       at once, so the next attempt waits like one after a failed connect */
    if (st != CM_E_UNAVAILABLE)
      cm__rd_drop(r, err && err->message[0] ? err->message
                                            : "the scripts were refused");
    cm__rd_backoff(r);
    return st;
  }
  r->ready = 1;
  r->why[0] = '\0';
  r->epoch++;
  r->failures = 0;
  r->next_try_ms = 0;
  return CM_OK;
}

/* A tag no other writer has: 64 random bits (or, without /dev/urandom,
 * the process, the time and this address). */
static void make_origin(cm_redis *r) {
  uint64_t v = 0;
  FILE *f = fopen("/dev/urandom", "rb");
  if (!f || fread(&v, sizeof v, 1, f) != 1)
    v = ((uint64_t)getpid() << 32) ^ (uint64_t)cm__rd_now_ms() ^
        (uint64_t)(uintptr_t)r;
  if (f)
    fclose(f);
  snprintf(r->origin, sizeof r->origin, "%016" PRIx64, v);
}

void cm__rd_argv_origin(cm__rd_argv *a, const cm_redis *r) {
  cm__rd_argv_add(a, r->origin, 16);
}

cm_redis *cm_redis_new(const char *host, int port, const char *region,
                       const cm_redis_options *opt, cm_error *err) {
  cm_redis_options o;
  cm_error_clear(err);
  if (!host || !host[0] || strlen(host) >= CM__RD_HOST_MAX) {
    cm_error_set(err, CM_E_INVALID, "$.host", "$.host: a host is required");
    return NULL;
  }
  if (port <= 0 || port > 65535) {
    cm_error_set(err, CM_E_INVALID, "$.port", "$.port: must be in 1..65535");
    return NULL;
  }
  if (opt)
    o = *opt;
  else
    cm_redis_options_init(&o);
  cm_redis *r = calloc(1, sizeof *r);
  if (!r) {
    cm_error_set(err, CM_E_NOMEM, "", NULL);
    return NULL;
  }
  if (cm__rd_keys_init(&r->keys, region, err) != CM_OK) {
    free(r);
    return NULL;
  }
  snprintf(r->host, sizeof r->host, "%s", host);
  r->port = port;
  r->replicas_online = -1;
  make_origin(r);
  r->timeout_ms = o.timeout_ms > 0 ? o.timeout_ms : 5000;
  r->backoff_min_ms = o.backoff_min_ms > 0 ? o.backoff_min_ms : 100;
  r->backoff_max_ms =
      o.backoff_max_ms >= r->backoff_min_ms ? o.backoff_max_ms : 2000;
  if (r->backoff_max_ms < r->backoff_min_ms)
    r->backoff_max_ms = r->backoff_min_ms;
  if (o.db < 0 || o.db > 10000) {
    free(r);
    cm_error_set(err, CM_E_INVALID, "$.db", "$.db: must be in 0..10000");
    return NULL;
  }
  if ((o.user && strlen(o.user) >= sizeof r->user) ||
      (o.password && strlen(o.password) >= sizeof r->password)) {
    free(r);
    cm_error_set(err, CM_E_INVALID, "$.password",
                 "$.password: the user or password is too long");
    return NULL;
  }
  snprintf(r->user, sizeof r->user, "%s", o.user ? o.user : "");
  snprintf(r->password, sizeof r->password, "%s", o.password ? o.password : "");
  r->db = o.db;
  if (o.cluster && cm__rd_cluster_new(r, &o, err) != CM_OK) {
    free(r);
    return NULL;
  }
  r->base = o.base;
  if (!r->base) {
    r->base = event_base_new();
    r->own_base = 1;
  }
  if (!r->base) {
    cm__rd_cluster_free(r);
    free(r);
    cm_error_set(err, CM_E_NOMEM, "", "cannot create an event loop");
    return NULL;
  }
  if (o.connect_later)
    return r;
  cm__rd_batch b; /* connect now, so that a wrong address shows at once */
  if (cm__rd_begin(&b, r, NULL, NULL, err) != CM_OK) {
    cm_redis_free(r);
    return NULL;
  }
  cm__rd_end(&b, NULL);
  return r;
}

void cm_redis_free(cm_redis *r) {
  if (!r)
    return;
  cm__rd_route_free(r);
  cm__rd_drop(r, "closed");
  if (r->timer)
    event_free(r->timer);
  if (r->own_base)
    event_base_free(r->base);
  cm__rd_cluster_free(r);
  for (volatile char *v = r->password; *v; v++)
    *v = 0; /* a secret: not left in freed memory */
  free(r);
}

const char *cm_redis_region(const cm_redis *r) {
  return r ? r->keys.region : "";
}

const char *cm_redis_last_error(const cm_redis *r) {
  return r ? r->why : "";
}

char *cm_redis_node(const cm_redis *r, char *buf, size_t n) {
  if (buf && n)
    snprintf(buf, n, "%s:%d", r ? r->host : "", r ? r->port : 0);
  return buf;
}

int cm_redis_cluster_stats_get(const cm_redis *r, cm_redis_cluster_stats *out) {
  memset(out, 0, sizeof *out);
  if (!r || !r->cl)
    return 0;
  *out = r->cl->stats;
  return 1;
}

int cm_redis_connected(const cm_redis *r) {
  return r && r->ac && r->ready;
}

int cm_redis_connecting(const cm_redis *r) {
  return r && (r->hello != NULL || r->route != NULL);
}

int cm_redis_move_pending(const cm_redis *r) {
  return r && r->cl && r->cl->moved && r->ac;
}

cm_status cm_redis_connect_async(cm_redis *r, cm_error *err) {
  cm_error_clear(err);
  if (!r || r->own_base)
    return cm_error_set(err, CM_E_INVALID, "",
                        "a connection on the caller's loop is required");
  if (r->hello || r->route) /* under way */
    return CM_OK;
  int ready;
  cm_status st = connect_begin(r, &ready, 1, err);
  if (st != CM_OK || ready || r->route)
    return st; /* a cluster's lookup connects when it has the owner */
  if (!r->ac)  /* every node refused at once: the backoff */
    return cm__rd_unavailable(r, err);
  /* new, or up with its scripts lost (a lease's NOSCRIPT): shake hands */
  if (cm__rd_hello_start(r) != 0)
    return cm__rd_unavailable(r, err);
  return CM_OK;
}

static void on_pong(void *ctx, size_t i, const redisReply *rep) {
  (void)i;
  cm__rd_check(ctx, rep, 0, "PING");
}

cm_status cm_redis_ping(cm_redis *r, cm_error *err) {
  cm__rd_batch b;
  cm__rd_argv a;
  cm_error_clear(err);
  if (!r)
    return cm_error_set(err, CM_E_INVALID, "", "no connection given");
  cm_status st = cm__rd_begin(&b, r, on_pong, &b, err);
  if (st != CM_OK)
    return st;
  cm__rd_argv_init(&a);
  cm__rd_argv_str(&a, "PING");
  cm__rd_send(&b, &a);
  cm__rd_argv_free(&a);
  return cm__rd_end(&b, err);
}
