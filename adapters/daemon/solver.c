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
 * standby's step only follows (lease.c, docs/ha.md). A large batch's begin
 * goes in parts of [batch] begin_part_ms, the clients served between two
 * (an emergency's own batch among them: docs/async.md "A begin in
 * parts"). */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

static void *solver_main(void *arg) {
  cmd_region *r = arg;
  pthread_mutex_lock(&r->mu);
  for (;;) {
    while (!r->quit && (!r->job || r->job_done))
      pthread_cond_wait(&r->cv, &r->mu);
    if (r->quit)
      break;
    cm_engine_batch *b = r->job;
    pthread_mutex_unlock(&r->mu);
    cm_engine_batch_solve(b, NULL); /* a failure is reported by end */
    pthread_mutex_lock(&r->mu);
    r->job_done = 1;
    char x = 1;
    while (write(r->pipe_wr, &x, 1) < 0 && errno == EINTR)
      ;
  }
  pthread_mutex_unlock(&r->mu);
  cm_solve_thread_cleanup(); /* GLPK's environment of this thread */
  return NULL;
}

/* Arm the engine's timer: when it is due (on the daemon's clock, which may
 * run faster than real time), but at least each second with a ledger (to
 * follow other writers) and each pause_retry_ms while paused; those two
 * are real time. min_ms (real) keeps a step that found nothing to do from
 * re-arming at once: the timer has the higher priority, and a timer
 * always due would starve the HTTP clients and the signals. */
/* Arm the step timer tv from now, and remember when it fires. */
static void step_timer(cmd_region *r, const struct timeval *tv) {
  r->step_at_ns = cmd_mono_ns(NULL) + (int64_t)tv->tv_sec * 1000000000 +
                  (int64_t)tv->tv_usec * 1000;
  evtimer_add(r->step_ev, tv);
}

static void arm(cmd_region *r, double min_ms) {
  int64_t due = cm_engine_next_due(r->eng), now = cmd_now_ms();
  double ms =
      due == INT64_MAX ? 3600000 : (double)(due - now) / cmd_clock_rate();
  if (r->ledger && ms > 1000)
    ms = 1000; /* follow other writers */
  if (r->paused && ms > r->d->cfg.pause_retry_ms)
    ms = (double)r->d->cfg.pause_retry_ms;
  if (ms < min_ms)
    ms = min_ms;
  struct timeval tv = {
      (time_t)(ms / 1000),
      (suseconds_t)((ms - 1000.0 * (time_t)(ms / 1000)) * 1000)};
  if (evtimer_pending(r->step_ev, NULL) &&
      r->step_at_ns <= cmd_mono_ns(NULL) + (int64_t)(ms * 1e6))
    return; /* a step comes sooner already: calls that kick (a worker's
               PUT each few ms) must not put it off, or the daemon would
               never follow while nothing is due */
  step_timer(r, &tv);
}

void cmd_kick(cmd_region *r) {
  cmd_stage_region("kick", r);
  if (r->flying || r->following || !r->step_ev)
    return; /* the batch's end kicks again */
  arm(r, 0);
}

void cmd_step_now(cmd_region *r) {
  cmd_stage_region("stepnow", r);
  if (r->flying || r->following || !r->step_ev)
    return; /* the batch's end kicks again */
  struct timeval tv = {0, 0};
  step_timer(r, &tv);
}

static void finish_drain_if_idle(cmd_region *r);

/* Why dispatch waits, as /readyz tells any client: the store's own words
 * (in the log) name Redis's host and port, an internal address. */
static void pause_reason(cmd_region *r, const cm_error *err) {
  snprintf(r->pause_why, sizeof r->pause_why, "%.150s",
           err->code == CM_E_UNAVAILABLE
               ? "the ledger is unavailable (the log says why)"
               : err->message);
}

/* Hand batch b to the solver thread. */
static void fly(cmd_region *r, cm_engine_batch *b) {
  r->flying = b;
  pthread_mutex_lock(&r->mu);
  r->job = b;
  r->job_done = 0;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

/* A batch's begin in parts (cm_engine_config.begin_part_ms): its next part
 * runs from cont_ev, a zero timer at the clients' priority, so that the
 * calls read meanwhile go first (an emergency's create among them, whose
 * own batch the engine begins while the other is paused). */
static void resume_begin(cmd_region *r) {
  if (r->cont_ev && cm_engine_beginning(r->eng)) {
    struct timeval tv = {0, 0};
    evtimer_add(r->cont_ev, &tv);
  }
}

static void on_cont(evutil_socket_t fd, short what, void *arg) {
  cmd_region *r = arg;
  (void)fd;
  (void)what;
  if (r->flying || !cm_engine_beginning(r->eng))
    return; /* an emergency's batch first: its end resumes */
  if (!cmd_lease_leads(r) || r->paused) {
    cm_engine_begin_drop(r->eng); /* a standby never dispatches; the
                                     ledger failing, the next step retries */
    arm(r, 1);
    finish_drain_if_idle(r);
    return;
  }
  int64_t t0 = cmd_watch_begin(r->d);
  cm_engine_batch *b = NULL;
  cm_error err;
  cm_status st = cm_engine_batch_continue(r->eng, cmd_now_ms(), &b, &err);
  cmd_events_pump(r);
  cmd_watch_end(r->d, CMD_CAUSE_BATCH_BEGIN, t0);
  if (st != CM_OK) { /* dropped: its requests wait for the next window */
    fprintf(stderr, "carematchd: batch not begun: %s\n", err.message);
    arm(r, 1);
    finish_drain_if_idle(r);
  } else if (b) {
    cmd_stage_region("begin", r);
    cmd_lease_note(r, CMD_LEASE_BEGUN, 1);
    fly(r, b);
  } else if (cm_engine_beginning(r->eng)) {
    cmd_stage_region("part", r);
    resume_begin(r);
    if (cm_engine_next_alone(r->eng) <= cmd_now_ms())
      arm(r, 0); /* an emergency it took along: its own batch first */
  } else {       /* dropped for a rebuild: the next step does it */
    arm(r, 1);
    finish_drain_if_idle(r);
  }
}

/* The batch's begin, once the engine followed its ledger (st: how). */
static void step_begin(cmd_region *r, cm_status st, const cm_error *ferr) {
  cmd_daemon *d = r->d;
  cm_error err;
  cm_engine_batch *b = NULL;
  if (!cmd_lease_leads(r)) { /* a standby follows, never dispatches */
    cm_engine_begin_drop(r->eng);
    if (st == CM_OK)
      cmd_redis_recover(r, 1);
    cmd_events_pump(r);
    struct timeval tv = {1, 0}; /* the lease's timer kicks when it leads */
    step_timer(r, &tv);
    finish_drain_if_idle(r);
    return;
  }
  if (st == CM_OK && r->redis && !r->recovered) {
    /* Redis came back: the engine synced with it; the stored weights are
       read on the loop's connection, and no batch begins until they are
       in force (redis_link.c kicks then) */
    cmd_redis_recover(r, 1);
    if (!r->recovered) { /* the answer kicks; a failure is tried again
                            by the step after pause_retry_ms */
      int ms = r->d->cfg.pause_retry_ms;
      struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
      cmd_events_pump(r);
      step_timer(r, &tv);
      finish_drain_if_idle(r);
      return;
    }
  }
  int64_t t0 = cmd_watch_begin(d);
  if (st != CM_OK)
    err = *ferr;
  else
    st = cm_engine_batch_begin(r->eng, cmd_now_ms(), &b, &err);
  cmd_lease_note(r, CMD_LEASE_SYNCED, st == CM_OK);
  if (st != CM_OK) {
    if (!r->paused)
      fprintf(stderr, "carematchd: dispatch paused: %s\n", err.message);
    r->paused = 1;
    pause_reason(r, &err);
  } else {
    if (r->paused) {
      fprintf(stderr, "carematchd: dispatch resumed\n");
      r->paused = 0;
      r->pause_why[0] = '\0';
    }
  }
  cmd_events_pump(r);
  cmd_watch_end(d, CMD_CAUSE_BATCH_BEGIN, t0);
  cmd_stage_region(b                             ? "begin"
                   : cm_engine_beginning(r->eng) ? "part"
                                                 : "nobatch",
                   r);
  if (!b) {
    resume_begin(r); /* a begin in parts goes on after the clients */
    arm(r, 1);       /* nothing to solve: let the clients in first */
    finish_drain_if_idle(r);
    return;
  }
  cmd_lease_note(r, CMD_LEASE_BEGUN, 1);
  fly(r, b);
}

void cmd_urgent_proposed(cmd_region *r) {
  r->urgent_writes++;
}

void cmd_urgent_written(cmd_region *r, int ok) {
  (void)ok;
  if (r->urgent_writes > 0)
    r->urgent_writes--;
}

/* How recent the last follow must be for an emergency's batch to begin
 * without one (ms): twice the period at which the daemon follows anyway
 * (arm), so that an idle daemon qualifies; a Redis that stopped answering
 * follows does not. */
#define URGENT_FOLLOWED_MS 2000

/* How long an emergency's batch may hold the position writes back (ms):
 * from its create to its offers' answer, so that neither waits in Redis
 * behind position scripts proposed before it (docs/async.md "Positions
 * held behind an emergency's write"); past it (a slow solve) they go
 * anyway. */
#define URGENT_HOLD_MS 20

/* An emergency's batch at once, on the engine's state as the last follow
 * left it: a follow asked now would go out behind the emergency's create
 * and be answered only after it, so the batch (its begin and solve) would
 * wait for the create's round trip. Begun now, the engine takes the
 * emergency with its create in flight and its offers go to Redis behind
 * the create, on the same connection: the path is max(the create's round
 * trip, begin + solve) + the offers' round trip (docs/async.md, "one
 * durable write"). What a follow would have brought is another writer's
 * change of the last two seconds at most; the offers' commit checks the
 * request's version, the workers' shift and room and the lease's fence
 * whatever the engine saw. Returns 1 when a batch began. */
static int urgent_begin(cmd_region *r) {
  if (!r->redis_loop || !r->step_ev || r->flying || r->paused ||
      !r->recovered || !r->followed_ns || !cmd_lease_leads(r) ||
      !cm_redis_connected(r->redis_loop) ||
      cmd_mono_ns(NULL) - r->followed_ns > URGENT_FOLLOWED_MS * 1000000LL)
    return 0;
  /* the create first on the wire, ahead of the position writes of this
     turn, which wait until the offers are answered too (on_offers): the
     begin below takes a while */
  cm_ledger_redis_hold_positions(r->ledger, URGENT_HOLD_MS);
  cm_ledger_redis_send_now(r->ledger);
  int64_t t0 = cmd_watch_begin(r->d);
  cm_engine_batch *b = NULL;
  cm_error err;
  cm_status st =
      cm_engine_batch_begin_unfollowed(r->eng, cmd_now_ms(), &b, &err);
  cmd_events_pump(r);
  cmd_watch_end(r->d, CMD_CAUSE_BATCH_BEGIN, t0);
  resume_begin(r); /* a regular begin paused here (its window due too) */
  if (st != CM_OK || !b) { /* a rebuild is due, or nothing to take: the
                              next step as usual */
    /* an emergency's offers in flight keep their hold */
    if (!r->holding)
      cm_ledger_redis_hold_positions(r->ledger, 0);
    return 0;
  }
  r->holding = 1;
  cmd_stage_region("ubegin", r);
  cmd_lease_note(r, CMD_LEASE_BEGUN, 1);
  fly(r, b);
  return 1;
}

void cmd_urgent_step(cmd_region *r) {
  if (!urgent_begin(r))
    cmd_step_now(r);
}

/* The follow of other writers done (docs/async.md): begin the batch. Run
 * inside cm_engine_sync_async when it completed at once (then on_step
 * begins the batch itself, so that the trace tells the two apart). */
static void on_followed(void *ctx, cm_status st, const cm_error *err) {
  cmd_region *r = ctx;
  r->following = 0;
  cmd_stage_region("followed", r);
  if (!r->step_ev) /* stopping: the engine is being freed */
    return;
  if (st == CM_OK)
    r->followed_ns = cmd_mono_ns(NULL);
  if (r->in_step) {
    r->followed_st = st;
    r->followed_err = *err;
    return;
  }
  /* applied in the ledger's reply callback, which began this turn */
  cmd_watch_since_turn(r->d, CMD_CAUSE_FOLLOW);
  if (r->flying) { /* an emergency's batch began meanwhile, unfollowed
                      (urgent_begin): its end kicks the next step */
    cmd_events_pump(r);
    return;
  }
  step_begin(r, st, err); /* an emergency whose create is in flight is
                             taken too (docs/async.md "one durable write") */
}

static void on_step(evutil_socket_t fd, short what, void *arg) {
  cmd_region *r = arg;
  (void)fd;
  (void)what;
  cmd_stage_region("step", r);
  r->recover_asked = 0; /* following, or done: settle reads which */
  if (r->flying || r->following)
    return;
  if (!r->redis) { /* memory: nothing to follow */
    step_begin(r, CM_OK, NULL);
    return;
  }
  /* an emergency waiting: its own batch at once on the last follow, not
     after a follow that would wait behind the writes on the connection
     (a large batch's offers: docs/async.md "A begin in parts") */
  if (cm_engine_next_alone(r->eng) <= cmd_now_ms() && urgent_begin(r))
    return;
  /* with Redis: follow other writers first, on the loop connection when
     the ledger can (the loop serves other calls meanwhile) */
  cm_error err;
  if (!cm_redis_connected(r->redis_loop)) { /* connecting, or down: no
      synchronous follow nor rebuild on the loop meanwhile (docs/async-log.md,
      step g); the connect is redis_link.c's, between two turns */
    cm_error_set(&err, CM_E_UNAVAILABLE, "",
                 "redis (the writes' connection) is not connected: %.120s",
                 cm_redis_last_error(r->redis_loop));
    step_begin(r, CM_E_UNAVAILABLE, &err);
    return;
  }
  int64_t t0 = cmd_watch_begin(r->d);
  r->following = 1;
  r->in_step = 1;
  r->followed_st = CM_E_UNAVAILABLE;
  cm_error_clear(&r->followed_err);
  cm_status st =
      cm_engine_sync_async(r->eng, cmd_now_ms(), on_followed, r, &err);
  r->in_step = 0;
  cmd_watch_end(r->d, CMD_CAUSE_FOLLOW, t0);
  if (st != CM_OK) {
    r->following = 0;
    step_begin(r, st, &err);
  } else if (!r->following) {
    step_begin(r, r->followed_st, &r->followed_err); /* completed at once */
  }
}

/* A batch's offers committed (or not): the events out, the next step. */
static void on_offers(void *ctx, cm_status st, const cm_error *err) {
  cmd_region *r = ctx;
  int64_t t0 = cmd_watch_begin(r->d);
  cmd_stage_region("odone", r);
  /* the held position writes go now: sent right behind the offers, Redis
     would have read them with the offers and answered both only once it
     ran the positions' scripts (it answers after each read's commands) */
  if (r->holding && !r->flying) {
    r->holding = 0;
    cm_ledger_redis_hold_positions(r->ledger, 0);
  }
  cmd_lease_note(r, CMD_LEASE_COMMITTED, st == CM_OK);
  if (st != CM_OK) {
    fprintf(stderr, "carematchd: batch not committed: %s\n", err->message);
    if (err->code == CM_E_UNAVAILABLE) {
      r->paused = 1;
      pause_reason(r, err);
    }
  }
  cmd_events_pump(r);
  cmd_kick(r);
  resume_begin(r);
  finish_drain_if_idle(r);
  cmd_watch_end(r->d, CMD_CAUSE_COMPLETION, t0);
}

static void on_done(evutil_socket_t fd, short what, void *arg) {
  cmd_region *r = arg;
  char buf[64];
  (void)what;
  while (read(fd, buf, sizeof buf) > 0)
    ;
  pthread_mutex_lock(&r->mu);
  cm_engine_batch *b = r->job_done ? r->job : NULL;
  if (b) {
    r->job = NULL;
    r->job_done = 0;
  }
  pthread_mutex_unlock(&r->mu);
  if (!b)
    return;
  cm_error err;
  r->flying = NULL;
  cmd_stage_region("solved", r);
  /* the batch's size, for the metrics: what the engine's requests-per-batch
     figures grew by (a batch that fails counts for none) */
  cm_engine_stats st;
  cm_engine_stats_get(r->eng, &st);
  uint64_t n0 = st.batch_size.n;
  double sum0 = st.batch_size.sum;
  double ms0 = st.batch_ms.sum;
  /* with Redis, the offers are proposed and applied from the completion
     (docs/async.md): the loop serves other calls meanwhile */
  int64_t t0 = cmd_watch_begin(r->d);
  cm_status ended = r->redis_loop
                        ? cm_engine_batch_end_async(r->eng, b, cmd_now_ms(),
                                                    on_offers, r, &err)
                        : cm_engine_batch_end(r->eng, b, cmd_now_ms(), &err);
  if (r->holding) /* the offers out now, ahead of the position writes held
                     since the emergency's create (urgent_begin) */
    cm_ledger_redis_send_now(r->ledger);
  resume_begin(r); /* a begin paused for this batch */
  cmd_watch_end(r->d, CMD_CAUSE_BATCH_END, t0);
  cmd_stage_region("oprop", r);
  cm_engine_stats_get(r->eng, &st);
  if (st.batch_size.n == n0 + 1) {
    cmd_metrics_batch(r, (uint64_t)(st.batch_size.sum - sum0 + 0.5));
    cmd_kpis_batch(r, st.batch_ms.sum - ms0); /* the console's KPIs */
  }
  if (ended != CM_OK || !r->redis_loop)
    on_offers(r, ended, &err);
  else if ((r->urgent_writes > 0 ||
            cm_engine_next_alone(r->eng) <= cmd_now_ms()) &&
           urgent_begin(r))
    ; /* an emergency's create in flight, or an emergency waiting: its
         batch at once, no follow (which would wait behind these offers) */
  else if (r->urgent_writes > 0 || cm_engine_next_due(r->eng) <= cmd_now_ms())
    cmd_step_now(r); /* an emergency waits: its follow goes out behind these
                        offers now, not one round trip after their commit
                        (docs/async-log.md, "Measured: the emergency
                        path") */
}

int cmd_regions_idle(const cmd_daemon *d) {
  for (int i = 0; i < d->n_regions; i++)
    if (d->regions[i].flying ||
        (d->regions[i].eng && (cm_engine_in_flight(d->regions[i].eng) ||
                               cm_engine_beginning(d->regions[i].eng))))
      return 0;
  return 1;
}

/* Draining: once no batch is in flight in any region, close the streams
 * and stop. */
static void finish_drain_if_idle(cmd_region *r) {
  cmd_daemon *d = r->d;
  /* writes in flight are answered first (a later step ends the drain) */
  if (!d->draining || !cmd_regions_idle(d) || cmd_whatif_running(d->whatif))
    return; /* a what-if ends soon once told (whatif.c) */
  for (int i = 0; i < d->n_regions; i++)
    cmd_events_pump(&d->regions[i]);
  cmd_events_close_all(d);
  struct timeval tv = {0, 100000}; /* let the last replies go out */
  event_base_loopexit(d->base, &tv);
}

int cmd_solver_start(cmd_region *r) {
  int fds[2];
  if (pipe(fds) != 0)
    return -1;
  r->pipe_rd = fds[0];
  r->pipe_wr = fds[1];
  fcntl(r->pipe_rd, F_SETFL, O_NONBLOCK);
  fcntl(r->pipe_rd, F_SETFD, FD_CLOEXEC);
  fcntl(r->pipe_wr, F_SETFD, FD_CLOEXEC);
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  r->step_ev = evtimer_new(r->d->base, on_step, r);
  r->done_ev =
      event_new(r->d->base, r->pipe_rd, EV_READ | EV_PERSIST, on_done, r);
  r->cont_ev = evtimer_new(r->d->base, on_cont, r);
  if (!r->step_ev || !r->done_ev || !r->cont_ev ||
      event_priority_set(r->step_ev, 0) != 0 ||
      event_priority_set(r->done_ev, 0) != 0 ||
      event_priority_set(r->cont_ev, 1) != 0 ||
      event_add(r->done_ev, NULL) != 0 ||
      pthread_create(&r->solver, NULL, solver_main, r) != 0)
    return -1;
  r->solver_started = 1;
  if (cmd_stage_on()) /* the stage trace: Redis's groups from the start */
    cmd_stage_watch(r);
  cmd_kick(r);
  return 0;
}

void cmd_solver_stop(cmd_region *r) {
  if (!r->step_ev)
    return;
  if (r->solver_started) {
    pthread_mutex_lock(&r->mu);
    r->quit = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->solver, NULL);
    r->solver_started = 0;
  }
  if (r->flying) { /* solved or not, it is not committed */
    cm_engine_batch_free(r->flying);
    r->flying = NULL;
  }
  event_free(r->step_ev);
  if (r->done_ev)
    event_free(r->done_ev);
  if (r->cont_ev)
    event_free(r->cont_ev);
  r->step_ev = r->done_ev = r->cont_ev = NULL;
  close(r->pipe_rd);
  close(r->pipe_wr);
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
}

/* For main.c: begin draining; stops at once when nothing is in flight. */
void cmd_drain(cmd_daemon *d) {
  d->draining = 1;
  cmd_whatif_abort(d->whatif);
  if (d->n_regions > 0)
    finish_drain_if_idle(&d->regions[0]);
}
