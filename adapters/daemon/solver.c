/* solver.c -- drives the engine on the loop and solves on a thread.
 *
 * A timer fires when the engine is due (cm_engine_next_due; at once for an
 * emergency). On the loop it begins the batch (sync with the ledger,
 * expiries, candidates, the instance), then hands the batch to the solver
 * thread, so a large solve never stalls position updates. The thread
 * solves (GLPK lives on that one thread only) and writes a byte to a pipe;
 * the loop then ends the batch (commit, offers, events). One batch is in
 * flight at a time; the engine takes every other call meanwhile. When the
 * ledger fails, dispatch pauses and is retried every pause_retry_ms. With
 * a ledger the timer also fires at least every second, to follow other
 * writers. With [lease] enabled only the lease's holder begins batches; a
 * standby's step only follows (lease.c, docs/ha.md). */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

static void *solver_main(void *arg) {
  cmd_daemon *d = arg;
  pthread_mutex_lock(&d->mu);
  for (;;) {
    while (!d->quit && (!d->job || d->job_done))
      pthread_cond_wait(&d->cv, &d->mu);
    if (d->quit)
      break;
    cm_engine_batch *b = d->job;
    pthread_mutex_unlock(&d->mu);
    cm_engine_batch_solve(b, NULL); /* a failure is reported by end */
    pthread_mutex_lock(&d->mu);
    d->job_done = 1;
    char x = 1;
    while (write(d->pipe_wr, &x, 1) < 0 && errno == EINTR)
      ;
  }
  pthread_mutex_unlock(&d->mu);
  cm_solve_thread_cleanup(); /* GLPK's environment of this thread */
  return NULL;
}

/* Arm the engine's timer: when it is due (on the daemon's clock, which may
 * run faster than real time), but at least each second with a ledger (to
 * follow other writers) and each pause_retry_ms while paused; those two
 * are real time. min_ms (real) keeps a step that found nothing to do from
 * re-arming at once: the timer has the higher priority, and a timer
 * always due would starve the HTTP clients and the signals. */
static void arm(cmd_daemon *d, double min_ms) {
  int64_t due = cm_engine_next_due(d->eng), now = cmd_now_ms();
  double ms =
      due == INT64_MAX ? 3600000 : (double)(due - now) / cmd_clock_rate();
  if (d->ledger && ms > 1000)
    ms = 1000; /* follow other writers */
  if (d->paused && ms > d->cfg.pause_retry_ms)
    ms = (double)d->cfg.pause_retry_ms;
  if (ms < min_ms)
    ms = min_ms;
  struct timeval tv = {
      (time_t)(ms / 1000),
      (suseconds_t)((ms - 1000.0 * (time_t)(ms / 1000)) * 1000)};
  evtimer_add(d->step_ev, &tv);
}

void cmd_kick(cmd_daemon *d) {
  if (d->flying || d->following || !d->step_ev)
    return; /* the batch's end kicks again */
  arm(d, 0);
}

static void finish_drain_if_idle(cmd_daemon *d);

/* Why dispatch waits, as /readyz tells any client: the store's own words
 * (in the log) name Redis's host and port, an internal address. */
static void pause_reason(cmd_daemon *d, const cm_error *err) {
  snprintf(d->pause_why, sizeof d->pause_why, "%.150s",
           err->code == CM_E_UNAVAILABLE
               ? "the ledger is unavailable (the log says why)"
               : err->message);
}

/* The batch's begin, once the engine followed its ledger (st: how). */
static void step_begin(cmd_daemon *d, cm_status st, const cm_error *ferr) {
  cm_error err;
  cm_engine_batch *b = NULL;
  if (!cmd_lease_leads(d)) { /* a standby follows, never dispatches */
    if (st == CM_OK)
      cmd_redis_recover(d, 1);
    cmd_events_pump(d);
    struct timeval tv = {1, 0}; /* the lease's timer kicks when it leads */
    evtimer_add(d->step_ev, &tv);
    finish_drain_if_idle(d);
    return;
  }
  int64_t t0 = cmd_watch_begin(d);
  if (st != CM_OK)
    err = *ferr;
  else
    st = cm_engine_batch_begin(d->eng, cmd_now_ms(), &b, &err);
  if (st != CM_OK) {
    if (!d->paused)
      fprintf(stderr, "carematchd: dispatch paused: %s\n", err.message);
    d->paused = 1;
    pause_reason(d, &err);
  } else {
    if (d->paused) {
      fprintf(stderr, "carematchd: dispatch resumed\n");
      d->paused = 0;
      d->pause_why[0] = '\0';
    }
    cmd_redis_recover(d, 1); /* Redis came: the engine synced with it */
  }
  cmd_events_pump(d);
  cmd_watch_end(d, CMD_CAUSE_BATCH_BEGIN, t0);
  if (!b) {
    arm(d, 1); /* nothing to solve: let the clients in first */
    finish_drain_if_idle(d);
    return;
  }
  d->flying = b;
  pthread_mutex_lock(&d->mu);
  d->job = b;
  d->job_done = 0;
  pthread_cond_signal(&d->cv);
  pthread_mutex_unlock(&d->mu);
}

/* The follow of other writers done (docs/async.md): begin the batch. Run
 * inside cm_engine_sync_async when it completed at once (then on_step
 * begins the batch itself, so that the trace tells the two apart). */
static void on_followed(void *ctx, cm_status st, const cm_error *err) {
  cmd_daemon *d = ctx;
  d->following = 0;
  if (!d->step_ev) /* stopping: the engine is being freed */
    return;
  if (d->in_step) {
    d->followed_st = st;
    d->followed_err = *err;
    return;
  }
  /* applied in the ledger's reply callback, which began this turn */
  cmd_watch_since_turn(d, CMD_CAUSE_FOLLOW);
  step_begin(d, st, err);
}

static void on_step(evutil_socket_t fd, short what, void *arg) {
  cmd_daemon *d = arg;
  (void)fd;
  (void)what;
  if (d->flying || d->following)
    return;
  if (!d->redis) { /* memory: nothing to follow */
    step_begin(d, CM_OK, NULL);
    return;
  }
  /* with Redis: follow other writers first, on the loop connection when
     the ledger can (the loop serves other calls meanwhile) */
  cm_error err;
  int64_t t0 = cmd_watch_begin(d);
  d->following = 1;
  d->in_step = 1;
  d->followed_st = CM_E_UNAVAILABLE;
  cm_error_clear(&d->followed_err);
  cm_status st =
      cm_engine_sync_async(d->eng, cmd_now_ms(), on_followed, d, &err);
  d->in_step = 0;
  cmd_watch_end(d, CMD_CAUSE_FOLLOW, t0);
  if (st != CM_OK) {
    d->following = 0;
    step_begin(d, st, &err);
  } else if (!d->following) { /* completed at once */
    step_begin(d, d->followed_st, &d->followed_err);
  }
}

/* A batch's offers committed (or not): the events out, the next step. */
static void on_offers(void *ctx, cm_status st, const cm_error *err) {
  cmd_daemon *d = ctx;
  int64_t t0 = cmd_watch_begin(d);
  if (st != CM_OK) {
    fprintf(stderr, "carematchd: batch not committed: %s\n", err->message);
    if (err->code == CM_E_UNAVAILABLE) {
      d->paused = 1;
      pause_reason(d, err);
    }
  }
  cmd_events_pump(d);
  cmd_kick(d);
  finish_drain_if_idle(d);
  cmd_watch_end(d, CMD_CAUSE_COMPLETION, t0);
}

static void on_done(evutil_socket_t fd, short what, void *arg) {
  cmd_daemon *d = arg;
  char buf[64];
  (void)what;
  while (read(fd, buf, sizeof buf) > 0)
    ;
  pthread_mutex_lock(&d->mu);
  cm_engine_batch *b = d->job_done ? d->job : NULL;
  if (b) {
    d->job = NULL;
    d->job_done = 0;
  }
  pthread_mutex_unlock(&d->mu);
  if (!b)
    return;
  cm_error err;
  d->flying = NULL;
  /* the batch's size, for the metrics: what the engine's requests-per-batch
     figures grew by (a batch that fails counts for none) */
  cm_engine_stats st;
  cm_engine_stats_get(d->eng, &st);
  uint64_t n0 = st.batch_size.n;
  double sum0 = st.batch_size.sum;
  /* with Redis, the offers are proposed and applied from the completion
     (docs/async.md): the loop serves other calls meanwhile */
  int64_t t0 = cmd_watch_begin(d);
  cm_status ended = d->redis_loop
                        ? cm_engine_batch_end_async(d->eng, b, cmd_now_ms(),
                                                    on_offers, d, &err)
                        : cm_engine_batch_end(d->eng, b, cmd_now_ms(), &err);
  cmd_watch_end(d, CMD_CAUSE_BATCH_END, t0);
  cm_engine_stats_get(d->eng, &st);
  if (st.batch_size.n == n0 + 1)
    cmd_metrics_batch(d, (uint64_t)(st.batch_size.sum - sum0 + 0.5));
  if (ended != CM_OK || !d->redis_loop)
    on_offers(d, ended, &err);
}

/* Draining: once no batch is in flight, close the streams and stop. */
static void finish_drain_if_idle(cmd_daemon *d) {
  /* writes in flight are answered first (a later step ends the drain) */
  if (!d->draining || d->flying || cm_engine_in_flight(d->eng))
    return;
  cmd_events_pump(d);
  cmd_events_close_all(d);
  struct timeval tv = {0, 100000}; /* let the last replies go out */
  event_base_loopexit(d->base, &tv);
}

int cmd_solver_start(cmd_daemon *d) {
  int fds[2];
  if (pipe(fds) != 0)
    return -1;
  d->pipe_rd = fds[0];
  d->pipe_wr = fds[1];
  fcntl(d->pipe_rd, F_SETFL, O_NONBLOCK);
  fcntl(d->pipe_rd, F_SETFD, FD_CLOEXEC);
  fcntl(d->pipe_wr, F_SETFD, FD_CLOEXEC);
  pthread_mutex_init(&d->mu, NULL);
  pthread_cond_init(&d->cv, NULL);
  d->step_ev = evtimer_new(d->base, on_step, d);
  d->done_ev = event_new(d->base, d->pipe_rd, EV_READ | EV_PERSIST, on_done, d);
  if (!d->step_ev || !d->done_ev || event_priority_set(d->step_ev, 0) != 0 ||
      event_priority_set(d->done_ev, 0) != 0 ||
      event_add(d->done_ev, NULL) != 0 ||
      pthread_create(&d->solver, NULL, solver_main, d) != 0)
    return -1;
  cmd_kick(d);
  return 0;
}

void cmd_solver_stop(cmd_daemon *d) {
  if (!d->step_ev)
    return;
  pthread_mutex_lock(&d->mu);
  d->quit = 1;
  pthread_cond_signal(&d->cv);
  pthread_mutex_unlock(&d->mu);
  pthread_join(d->solver, NULL);
  if (d->flying) { /* solved or not, it is not committed */
    cm_engine_batch_free(d->flying);
    d->flying = NULL;
  }
  event_free(d->step_ev);
  event_free(d->done_ev);
  d->step_ev = d->done_ev = NULL;
  close(d->pipe_rd);
  close(d->pipe_wr);
  pthread_mutex_destroy(&d->mu);
  pthread_cond_destroy(&d->cv);
}

/* For main.c: begin draining; stops at once when nothing is in flight. */
void cmd_drain(cmd_daemon *d) {
  d->draining = 1;
  finish_drain_if_idle(d);
}
