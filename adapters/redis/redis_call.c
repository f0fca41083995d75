/* redis_call.c -- synchronous calls over hiredis's async API (see
 * redis_call.h). The only file that runs the event loop.
 *
 * SIGPIPE: hiredis writes with write(2), which raises SIGPIPE when Redis
 * has gone away; that signal would kill a process that did not ignore it.
 * A library must not change the process's signal dispositions, so while
 * the loop runs SIGPIPE is blocked in this thread, and a SIGPIPE raised
 * meanwhile is consumed before it is unblocked (libpq does the same). */
#include <errno.h>
#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "redis_call.h"
#include "redis_cluster.h"

/* hiredis's callback: hand reply i to the batch. Runs once per command.
 * On a cluster connection a redirection is followed first (the command is
 * kept until its reply came: redis_cluster.h). */
static void on_reply(redisAsyncContext *ac, void *reply, void *privdata) {
  (void)ac;
  cm__rd_batch *b = privdata;
  size_t i = b->done++;
  char *cmd = NULL;
  size_t len = 0;
  redisReply *owned = NULL;
  const redisReply *rep = reply;
  if (b->r->cl && cm__rd_cmdq_pop(&b->q, &cmd, &len) == 0 && rep)
    rep = cm__rd_cluster_follow(b->r, cmd, len, rep, &owned);
  if (!rep)
    b->lost = 1;
  if (b->fn)
    b->fn(b->ctx, i, rep);
  cm__rd_cluster_release(owned);
  if (cmd)
    redisFreeCommand(cmd);
}

void cm__rd_fail(cm__rd_batch *b, cm_status code, const char *fmt, ...) {
  if (b->fail.code != CM_OK)
    return;
  b->fail.code = code;
  b->fail.field[0] = '\0';
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b->fail.message, sizeof b->fail.message, fmt, ap);
  va_end(ap);
}

int cm__rd_check(cm__rd_batch *b, const redisReply *rep, int want,
                 const char *what) {
  if (!rep) {
    b->lost = 1;
    return 0;
  }
  if (rep->type == REDIS_REPLY_ERROR) {
    if (rep->str && strncmp(rep->str, "NOSCRIPT", 8) == 0)
      b->noscript = 1;
    cm__rd_cluster_note(b->r, rep); /* a MOVED not followed: move anyway */
    cm__rd_fail(b, cm__rd_cluster_busy_error(rep) ? CM_E_UNAVAILABLE : CM_E_IO,
                "redis: %s: %.200s", what, rep->str ? rep->str : "error");
    return 0;
  }
  if (want && rep->type != want) {
    cm__rd_fail(b, CM_E_IO, "redis: %s: unexpected reply type %d", what,
                rep->type);
    return 0;
  }
  return 1;
}

/* SIGPIPE held back while hiredis may write (see the top of the file). */
typedef struct sigpipe_guard {
  sigset_t pipe_set, old; /* {SIGPIPE}, the thread's mask before */
  int was_pending;        /* a SIGPIPE was pending before: not ours */
} sigpipe_guard;

static void sigpipe_hold(sigpipe_guard *g) {
  sigset_t pending;
  sigemptyset(&g->pipe_set);
  sigaddset(&g->pipe_set, SIGPIPE);
  sigemptyset(&pending);
  sigpending(&pending);
  g->was_pending = sigismember(&pending, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &g->pipe_set, &g->old);
}

static void sigpipe_release(sigpipe_guard *g) {
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  if (!g->was_pending && sigismember(&pending, SIGPIPE)) {
    struct timespec zero = {0, 0};
    while (sigtimedwait(&g->pipe_set, NULL, &zero) < 0 && errno == EINTR)
      ;
  }
  pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* 1 when we are inside a callback of the caller's event_base: libevent
 * refuses to run a loop inside itself (and says so on stderr). The probe
 * runs one non-blocking iteration of the caller's loop otherwise, which
 * the call is about to do anyway. (event_base_get_running_event would be
 * the clean test, but libevent 2.1.12 crashes in it outside a loop.) */
static int loop_is_running(cm_redis *r) {
  sigpipe_guard g;
  sigpipe_hold(&g);
  int rc = event_base_loop(r->base, EVLOOP_NONBLOCK);
  sigpipe_release(&g);
  return rc < 0;
}

void cm__rd_batch_init(cm__rd_batch *b, cm_redis *r, cm__rd_reply_fn fn,
                       void *ctx) {
  memset(b, 0, sizeof *b);
  b->r = r;
  b->fn = fn;
  b->ctx = ctx;
}

cm_status cm__rd_begin(cm__rd_batch *b, cm_redis *r, cm__rd_reply_fn fn,
                       void *ctx, cm_error *err) {
  cm__rd_batch_init(b, r, fn, ctx);
  if (r->in_call || (!r->own_base && loop_is_running(r)))
    return cm_error_set(err, CM_E_CONFLICT, "",
                        "a synchronous Redis call cannot run inside a "
                        "callback of the connection's own event loop");
  r->in_call = 1;
  cm_status st = cm__rd_ensure(r, err);
  if (st != CM_OK) {
    r->in_call = 0;
    return st;
  }
  b->owns_call = 1;
  return CM_OK;
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  ((cm_redis *)arg)->timer_fired = 1;
}

/* Run one iteration of the loop with SIGPIPE held back: EVLOOP_ONCE waits
 * for something to happen, and a batch that saw no reply for timeout_ms
 * loses its connection; EVLOOP_NONBLOCK only does what is ready (write
 * what is queued, read what arrived). */
static void pump_flags(cm__rd_batch *b, int flags) {
  cm_redis *r = b->r;
  sigpipe_guard g;
  sigpipe_hold(&g);

  if (!r->timer) /* first use on this connection */
    r->timer = evtimer_new(r->base, on_timer, r);
  struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
  size_t before = b->done;
  r->timer_fired = 0;
  int rc = -1;
  if (r->timer && evtimer_add(r->timer, &tv) == 0)
    rc = event_base_loop(r->base, flags);
  if (rc < 0)
    cm__rd_drop(r, "the event loop failed");
  else if (r->timer_fired && b->done == before && b->done < b->sent) {
    char why[64];
    snprintf(why, sizeof why, "no reply within %d ms", r->timeout_ms);
    cm__rd_drop(r, why);
  }

  sigpipe_release(&g);
}

void cm__rd_hello_wait(cm_redis *r) {
  sigpipe_guard g;
  sigpipe_hold(&g);
  /* the handshake's own timer drops it after timeout_ms at most */
  while ((r->hello || r->route) && event_base_loop(r->base, EVLOOP_ONCE) == 0)
    ;
  if (r->route) /* the loop failed */
    cm__rd_route_free(r);
  if (r->hello)
    cm__rd_drop(r, "the event loop failed");
  sigpipe_release(&g);
}

static void pump(cm__rd_batch *b) {
  pump_flags(b, EVLOOP_ONCE);
}

void cm__rd_send(cm__rd_batch *b, cm__rd_argv *a) {
  cm_redis *r = b->r;
  if (b->lost || b->fail.code == CM_E_NOMEM || !r->ac) {
    b->lost |= !r->ac;
    cm__rd_argv_reset(a);
    return;
  }
  if (cm__rd_argv_finish(a) != 0) {
    cm__rd_fail(b, CM_E_NOMEM, "out of memory building a Redis command");
    cm__rd_argv_reset(a);
    return;
  }
  int rc;
  if (r->cl) { /* cluster: keep the command to send it again (MOVED, ASK) */
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, a->argc, a->ptrs, a->alen);
    if (len < 0 || cm__rd_cmdq_push(&b->q, cmd, (size_t)len) != 0) {
      cm__rd_fail(b, CM_E_NOMEM, "out of memory building a Redis command");
      cm__rd_argv_reset(a);
      return;
    }
    rc = redisAsyncFormattedCommand(r->ac, on_reply, b, cmd, (size_t)len);
    if (rc != REDIS_OK) { /* not sent: not kept either */
      b->q.n--;
      redisFreeCommand(cmd);
    }
  } else {
    rc = redisAsyncCommandArgv(r->ac, on_reply, b, a->argc, a->ptrs, a->alen);
  }
  if (rc != REDIS_OK) {
    b->lost = 1;
    snprintf(r->why, sizeof r->why, "a command could not be queued: %s",
             r->ac->errstr ? r->ac->errstr : "out of memory");
    cm__rd_argv_reset(a);
    return;
  }
  b->sent++;
  cm__rd_argv_reset(a);
  while (b->sent - b->done >= CM__RD_WINDOW && r->ac)
    pump(b);
  /* a big pipeline: let Redis start on it while the rest is encoded */
  if (r->ac && sdslen(r->ac->c.obuf) >= CM__RD_FLUSH_BYTES)
    pump_flags(b, EVLOOP_NONBLOCK);
}

cm_status cm__rd_wait(cm__rd_batch *b, cm_error *err) {
  cm_redis *r = b->r;
  while (b->done < b->sent && r->ac)
    pump(b);
  if (r->timer)
    evtimer_del(r->timer);
  if (b->done < b->sent) /* cannot happen: a dropped connection answers all */
    b->lost = 1;
  cm__rd_cmdq_free(&b->q);
  if (b->lost)
    return cm__rd_unavailable(r, err);
  if (b->fail.code != CM_OK)
    return cm_error_set(err, b->fail.code, b->fail.field, "%s",
                        b->fail.message);
  return CM_OK;
}

cm_status cm__rd_end(cm__rd_batch *b, cm_error *err) {
  cm_status st = cm__rd_wait(b, err);
  if (b->owns_call)
    b->r->in_call = 0;
  b->owns_call = 0;
  return st;
}
