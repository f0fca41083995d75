/* redis_call.h -- synchronous calls over hiredis's async API.
 *
 * A call is a batch: begin, send any number of commands (pipelined: they
 * are queued in hiredis's output buffer, with at most CM__RD_WINDOW
 * replies outstanding), end. End runs the connection's event_base one
 * iteration at a time (EVLOOP_ONCE) until every reply arrived, or until no
 * reply arrived for timeout_ms: then the connection is dropped, which makes
 * hiredis answer every pending callback with a NULL reply, exactly once,
 * and the call returns CM_E_UNAVAILABLE. Replies are handed, in order, to
 * the batch's reply function inside hiredis's callback (so big answers are
 * parsed without copying); it must not call Redis itself. Never call from
 * a callback of the same event_base: begin refuses with CM_E_CONFLICT. */
#ifndef CM_REDIS_CALL_H_INCLUDED_
#define CM_REDIS_CALL_H_INCLUDED_

#include <stddef.h>

#include "carematch/error.h"
#include "redis_argv.h"
#include "redis_cluster.h"
#include "redis_conn.h"

struct redisReply;

#define CM__RD_WINDOW 4096       /* replies outstanding at most */
#define CM__RD_FLUSH_BYTES 65536 /* queued bytes that start a write */

/* Reply i (0-based, in sending order) of the batch; rep is NULL when the
 * connection was lost before it arrived. */
typedef void (*cm__rd_reply_fn)(void *ctx, size_t i,
                                const struct redisReply *rep);

typedef struct cm__rd_batch {
  cm_redis *r;        /* the connection */
  cm__rd_reply_fn fn; /* reply handler, may be NULL */
  void *ctx;          /* passed to fn */
  size_t sent, done;  /* commands sent / replies handled */
  int lost;           /* the connection dropped during the batch */
  int noscript;       /* an EVALSHA answered NOSCRIPT */
  int owns_call;      /* begin set r->in_call */
  cm_error fail;      /* first failure recorded (cm__rd_fail) */
  cm__rd_cmdq q;      /* cluster: the commands in flight, to send again
                         on a MOVED/ASK (redis_cluster.h) */
} cm__rd_batch;

/* Start a call: refuse a nested one (CM_E_CONFLICT), make sure the
 * connection is up (cm__rd_ensure). Returns CM_OK, or the error with err
 * set; on error the batch must not be used. */
cm_status cm__rd_begin(cm__rd_batch *b, cm_redis *r, cm__rd_reply_fn fn,
                       void *ctx, cm_error *err);

/* A batch on the current connection without the checks of cm__rd_begin
 * (for the connection's own set-up). */
void cm__rd_batch_init(cm__rd_batch *b, cm_redis *r, cm__rd_reply_fn fn,
                       void *ctx);

/* Queue the command built in a and reset a. Nothing is sent once the batch
 * failed to send or lost its connection; the failure is reported by end.
 * May run the loop (and so reply handlers) when the window is full. */
void cm__rd_send(cm__rd_batch *b, cm__rd_argv *a);

/* Wait for every reply (see above). Returns CM_OK; CM_E_UNAVAILABLE when
 * the connection dropped or timed out; else the first failure recorded by
 * the reply handler. err is set on failure. */
cm_status cm__rd_wait(cm__rd_batch *b, cm_error *err);

/* cm__rd_wait, then end the call begun by cm__rd_begin. */
cm_status cm__rd_end(cm__rd_batch *b, cm_error *err);

/* Record a failure of the batch (the first one is kept). For reply
 * handlers. */
void cm__rd_fail(cm__rd_batch *b, cm_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Check that rep is a reply of type want (REDIS_REPLY_*; 0: any non-error
 * reply). Returns 1 when it is; otherwise records the failure (an error
 * reply: CM_E_IO with Redis's text, CM_E_UNAVAILABLE for a cluster's
 * TRYAGAIN/CLUSTERDOWN left after the retries, NOSCRIPT also sets
 * b->noscript; a NULL
 * reply: lost; another type: CM_E_IO naming what) and returns 0. */
int cm__rd_check(cm__rd_batch *b, const struct redisReply *rep, int want,
                 const char *what);

#endif
