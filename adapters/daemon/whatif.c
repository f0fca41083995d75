/* whatif.c -- POST /v1/weights/whatif (docs/daemon.md, "What if"): the last
 * hours of the daemon's own input trace replayed under proposed weights and
 * under the current ones, the KPIs of both side by side.
 *
 * The replay is product code (carematch/sim.h, carematch/sim_trace.h): the
 * trace read into a scenario (in memory; nothing of it is logged or
 * written), then two simulated days on engines of their own. It runs on a
 * thread of its own, never on the loop: the handler checks the body,
 * defers the call and starts the thread; the thread writes a byte to a
 * pipe when done, and the loop (on_done) joins it and replies. One what-if
 * at a time in a daemon: another one meanwhile is answered 503 with
 * Retry-After. A replay holds at most CMD_WHATIF_MAX_REQUESTS requests (the
 * latest of the window) and gives up after CMD_WHATIF_DEADLINE_S seconds
 * of its thread's CPU time (422 naming $.hours), which bounds its work. */
#define _GNU_SOURCE /* SCHED_BATCH, syscall(SYS_gettid) */
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "carematch/sim.h"
#include "carematch/sim_stats.h"
#include "carematch/sim_trace.h"
#include "http.h"
#include "json_util.h"

#define CURVE_POINTS 30
#define DRAIN_MS (2LL * 3600 * 1000) /* jobs under way at the window's end */
#define RETRY_AFTER_S "5"

struct cmd_whatif {
  cmd_daemon *d;
  int pipe_rd, pipe_wr;  /* the thread writes a byte when done */
  struct event *done_ev; /* ... which the loop reads */
  pthread_t thread;      /* the replay */
  int running;           /* the thread runs (or ended, not yet joined) */
  cmd_call *dc;          /* the deferred call it answers */
  /* what the thread replays (copied in before it starts) */
  char path[512];                       /* the trace */
  char region[CM_REDIS_REGION_MAX + 1]; /* its lines only ("" all) */
  cm_sim_trace_window win;              /* absolute, the trace's clock */
  double hours;
  cm_weights w[2];    /* current, proposed */
  int64_t window_ms;  /* the engine's batch window */
  double budget_ms;   /* its solve budget */
  int no_reserve;     /* its emergency reserve is off */
  double road_factor; /* its road factor */
  /* what it gives back (read by the loop after the join) */
  json_t *reply; /* the 200 body, or NULL: err */
  cm_error err;
  uint64_t finished, refused; /* metrics */
  atomic_int abort;           /* the daemon drains: give up */
};

/* The time-to-arrival CDF of urgency u over [0, top] minutes: CURVE_POINTS
 * pairs [minutes, share of the urgency's requests arrived by then];
 * unserved requests never arrive. NULL out of memory. */
static json_t *curve(const cm_sim_kpis *k, int u, int n, double top) {
  json_t *a = json_array();
  double *v = malloc(((size_t)k->n_outcomes + 1) * sizeof *v);
  int m = 0;
  for (int i = 0; v && i < k->n_outcomes; i++)
    if (k->outcomes[i].urgency == u && isfinite(k->outcomes[i].arrive_min))
      v[m++] = k->outcomes[i].arrive_min;
  for (int p = 0; a && v && p < CURVE_POINTS; p++) {
    double t = top * p / (CURVE_POINTS - 1), c = 0;
    for (int i = 0; i < m; i++)
      c += v[i] <= t;
    json_t *pt = json_pack("[f,f]", round(t * 100) / 100, n > 0 ? c / n : 0.0);
    if (!pt || json_array_append_new(a, pt) != 0) {
      json_decref(a);
      a = NULL;
    }
  }
  if (!v) {
    json_decref(a);
    a = NULL;
  }
  free(v);
  return a;
}

/* The longest finite arrival of urgency u in either run (the curves'
 * common end), at least its target. */
static double curve_top(const cm_sim_kpis k[2], int u, double target) {
  double top = target;
  for (int r = 0; r < 2; r++)
    for (int i = 0; i < k[r].n_outcomes; i++)
      if (k[r].outcomes[i].urgency == u &&
          isfinite(k[r].outcomes[i].arrive_min) &&
          k[r].outcomes[i].arrive_min > top)
        top = k[r].outcomes[i].arrive_min;
  return ceil(top);
}

static json_t *finite_or_null(double v) {
  return isfinite(v) ? json_real(round(v * 100) / 100) : json_null();
}

/* One run's KPIs (the reply's "current" or "proposed"). NULL: out of
 * memory. */
static json_t *kpis_json(const cm_sim_kpis k[2], int r, const cm_sim_sla *sla) {
  const cm_sim_kpis *kp = &k[r];
  cm_sim_summary sm;
  if (cm_sim_summarize(&kp, 1, sla, &sm) != 0)
    return NULL;
  json_t *o = json_object();
  for (int u = 0; o && u < CM_URGENCY_COUNT; u++) {
    json_t *c =
        curve(kp, u, sm.requests[u], curve_top(k, u, sla->target_min[u]));
    json_t *x =
        c ? json_pack("{s:i,s:i,s:i,s:i,s:f,s:{s:o,s:o},s:o}", "requests",
                      sm.requests[u], "served", sm.arrived[u], "unserved",
                      sm.requests[u] - sm.arrived[u], "sla_breaches",
                      sm.breaches[u], "sla_target_min", sla->target_min[u],
                      "arrival_min", "p50",
                      finite_or_null(sm.arrival_all[u].p50), "p95",
                      finite_or_null(sm.arrival_all[u].p95), "curve", c)
          : NULL;
    if (!x || json_object_set_new(o, cm_urgency_name((cm_urgency)u), x) != 0) {
      json_decref(o);
      o = NULL;
    }
  }
  json_t *t = o ? json_pack("{s:f,s:i,s:o,s:f,s:i}", "km",
                            round(sm.km * 10) / 10, "jobs", sm.jobs,
                            "km_per_job", finite_or_null(sm.km_per_job),
                            "overtime_h", round(sm.overtime_h * 100) / 100,
                            "unassigned", kp->unassigned)
                : NULL;
  if (!t || json_object_set_new(o, "totals", t) != 0) {
    json_decref(o);
    return NULL;
  }
  return o;
}

/* The replay yields to the loop and the solver: a batch thread at the
 * lowest priority (Linux threads have their own nice value), so that on
 * a busy machine the loop is not the one that waits. Best effort: a
 * refusal leaves the thread as it was. */
static void lower_priority(void) {
  struct sched_param sp = {0};
  (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
  (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
}

/* The CPU time this thread has used (ns). */
static int64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The replay's clock: the CPU time of the replay's thread, or the far
 * future once told to give up, which ends a solve at once and the run
 * with its deadline. CPU time, not the monotonic clock: the thread runs at
 * the lowest priority, and on a busy machine the time it waits for a core
 * would cut its solves' budgets and change the replay, so that the same
 * weights would not replay the same hour the same way. */
static int64_t replay_clock(void *ctx) {
  cmd_whatif *w = ctx;
  return atomic_load(&w->abort) ? INT64_MAX / 2 : thread_cpu_ns();
}

/* Both days of the replay (current, proposed) into k: 1, or 0 with
 * w->err set (both within CMD_WHATIF_DEADLINE_S of the thread's CPU
 * time). */
static int replay_days(cmd_whatif *w, const cm_sim_scenario *s,
                       cm_sim_kpis k[2]) {
  static const char *const names[2] = {"current", "proposed"};
  int64_t cpu_deadline =
      thread_cpu_ns() + (int64_t)CMD_WHATIF_DEADLINE_S * 1000000000;
  int ok = 1;
  for (int r = 0; ok && r < 2; r++) {
    cm_sim_policy p;
    cm_sim_policy_init(&p, names[r], w->budget_ms);
    p.weights = w->w[r];
    p.window_ms = w->window_ms;
    p.from_ms = 0;
    p.until_ms = w->win.until_ms - w->win.from_ms;
    p.drain_ms = DRAIN_MS;
    p.no_reserve = w->no_reserve;
    p.clock = replay_clock;
    p.clock_ctx = w;
    p.deadline_ns = cpu_deadline;
    ok = cm_sim_run(s, &p, &k[r], NULL, NULL, &w->err) == CM_OK &&
         k[r].outcomes && k[r].served;
    if (!ok && atomic_load(&w->abort))
      cm_error_set(&w->err, CM_E_UNAVAILABLE, "", "the daemon is stopping");
    else if (!ok && w->err.code == CM_E_LIMIT)
      cm_error_set(
          &w->err, CM_E_LIMIT, "$.hours",
          "$.hours: the replay of %d requests took more than %d s of CPU time; "
          "replay fewer hours",
          s->n_requests, CMD_WHATIF_DEADLINE_S);
    else if (!ok && w->err.code == CM_OK)
      cm_error_set(&w->err, CM_E_NOMEM, "", "out of memory");
  }
  return ok;
}

/* The thread: read the window, run both days, build the reply. */
static void *replay(void *arg) {
  cmd_whatif *w = arg;
  lower_priority();
  cm_sim_trace_info info;
  cm_sim_kpis k[2];
  int64_t t0 = cmd_mono_ns(NULL);
  memset(k, 0, sizeof k);
  w->win.region = w->region[0] ? w->region : NULL;
  cm_sim_scenario *s = cm_sim_trace_read(w->path, &w->win, &info, &w->err);
  if (!s && w->err.code == CM_E_CONFLICT)
    cm_error_set(&w->err, CM_E_CONFLICT, "$.hours",
                 "$.hours: the trace holds no request (or no worker) in the "
                 "last %g h",
                 w->hours);
  else if (!s && w->err.code == CM_E_IO)
    cm_error_set(&w->err, CM_E_UNAVAILABLE, "",
                 "the trace cannot be read back");
  int ok = s != NULL;
  if (s)
    s->road_factor = w->road_factor;
  ok = ok && replay_days(w, s, k);
  cm_sim_sla sla;
  cm_sim_sla_init(&sla);
  json_t *cur = ok ? kpis_json(k, 0, &sla) : NULL;
  json_t *pro = cur ? kpis_json(k, 1, &sla) : NULL;
  if (pro) {
    int64_t from = info.requests_dropped ? info.first_ms : w->win.from_ms;
    w->reply = json_pack("{s:f,s:i,s:i,s:i,s:I,s:I,s:f,s:o,s:o}", "hours",
                         w->hours, "requests", s->n_requests,
                         "requests_dropped", info.requests_dropped, "workers",
                         s->n_workers, "from_ms", (json_int_t)from, "until_ms",
                         (json_int_t)w->win.until_ms, "replay_ms",
                         round((double)(cmd_mono_ns(NULL) - t0) / 1e5) / 10,
                         "current", cur, "proposed", pro);
    cur = pro = NULL;
  }
  json_decref(cur);
  json_decref(pro);
  if (ok && !w->reply)
    cm_error_set(&w->err, CM_E_NOMEM, "", "out of memory");
  cm_sim_kpis_free(&k[0]);
  cm_sim_kpis_free(&k[1]);
  cm_sim_scenario_free(s);
  cm_solve_thread_cleanup(); /* GLPK's environment of this thread */
  ssize_t wr;
  do
    wr = write(w->pipe_wr, "x", 1);
  while (wr < 0 && errno == EINTR);
  return NULL;
}

/* The thread's end (the loop): join it and answer the deferred call. */
static void finish(cmd_whatif *w, int stopping) {
  pthread_join(w->thread, NULL);
  w->running = 0;
  w->finished++;
  cmd_call *dc = w->dc;
  w->dc = NULL;
  if (stopping) {
    cm_error err;
    cm_error_set(&err, CM_E_UNAVAILABLE, "", "the daemon is stopping");
    cmd_reply_own_error(dc, &err);
  } else if (w->reply) {
    cmd_reply_json(dc, 200, w->reply);
  } else if (w->err.code == CM_E_UNAVAILABLE) {
    cmd_reply_own_error(dc, &w->err);
  } else {
    cmd_reply_error(dc, &w->err);
  }
  if (stopping)
    json_decref(w->reply);
  w->reply = NULL;
  cmd_call_end(dc);
}

static void on_done(evutil_socket_t fd, short what, void *arg) {
  cmd_whatif *w = arg;
  char buf[8];
  (void)what;
  while (read(fd, buf, sizeof buf) > 0)
    ;
  int64_t t0 = cmd_watch_begin(w->d);
  if (w->running)
    finish(w, 0);
  cmd_watch_end(w->d, CMD_CAUSE_HTTP_OTHER, t0);
  if (w->d->draining)
    cmd_drain(w->d); /* it waited for this one */
}

static cmd_whatif *whatif_new(cmd_daemon *d) {
  cmd_whatif *w = calloc(1, sizeof *w);
  int fds[2];
  if (!w)
    return NULL;
  if (pipe(fds) != 0) {
    free(w);
    return NULL;
  }
  w->d = d;
  w->pipe_rd = fds[0];
  w->pipe_wr = fds[1];
  for (int i = 0; i < 2; i++)
    fcntl(fds[i], F_SETFD, FD_CLOEXEC);
  fcntl(w->pipe_rd, F_SETFL, O_NONBLOCK);
  w->done_ev = event_new(d->base, w->pipe_rd, EV_READ | EV_PERSIST, on_done, w);
  if (!w->done_ev || event_add(w->done_ev, NULL) != 0) {
    cmd_whatif_free(w);
    return NULL;
  }
  return w;
}

void cmd_whatif_free(cmd_whatif *w) {
  if (!w)
    return;
  if (w->running)
    finish(w, 1);
  if (w->done_ev)
    event_free(w->done_ev);
  close(w->pipe_rd);
  close(w->pipe_wr);
  free(w);
}

void cmd_whatif_abort(cmd_whatif *w) {
  if (w)
    atomic_store(&w->abort, 1);
}

int cmd_whatif_running(const cmd_whatif *w) {
  return w && w->running;
}

void cmd_whatif_counts(const cmd_whatif *w, uint64_t out[3]) {
  out[0] = w ? (uint64_t)w->running : 0;
  out[1] = w ? w->finished : 0;
  out[2] = w ? w->refused : 0;
}

/* {"weights": {some keys, as PUT /v1/weights}, "hours": 0.25..24 (3)}. */
/* The body's proposed weights (merged over the region's) and hours, or
 * -1 with the error answered, naming the field. */
static int whatif_body(cmd_call *c, cm_weights *proposed, double *hours) {
  static const char *const keys[] = {"weights", "hours", NULL};
  cm_error err;
  const json_t *wo;
  *hours = 3;
  *proposed = cm_engine_config_get(c->r->eng)->weights;
  if (!c->body)
    cm_error_set(&err, CM_E_MISSING, "$.weights", "$.weights: required");
  else if (cm__json_check_keys(c->body, "$", keys, &err) == CM_OK &&
           cm__json_object(c->body, "$", "weights", 1, &wo, &err) >= 0 &&
           cm__json_number(c->body, "$", "hours", 0, hours, &err) >= 0) {
    if (!(*hours >= 0.25 && *hours <= 24))
      cm_error_set(&err, CM_E_RANGE, "$.hours",
                   "$.hours: must be in [0.25, 24] (hours of the trace)");
    else if (cm__json_weights_merge(wo, proposed, &err) == CM_OK)
      return 0;
  }
  cmd_reply_error(c, &err);
  return -1;
}

/* Whether a replay can start now; else -1 with the reason answered (no
 * trace, one running, no memory). */
static int whatif_ready(cmd_call *c) {
  cmd_daemon *d = c->d;
  cm_error err;
  if (!d->trace || !d->cfg.trace_file[0]) {
    cm_error_set(&err, CM_E_CONFLICT, "",
                 "no trace to replay: the daemon records none ([trace] file, "
                 "docs/daemon.md)");
  } else if (cmd_whatif_running(d->whatif)) {
    d->whatif->refused++;
    cm_error_set(&err, CM_E_UNAVAILABLE, "",
                 "a what-if is running: one at a time, try again shortly");
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "Retry-After",
                      RETRY_AFTER_S);
  } else if (!d->whatif && !(d->whatif = whatif_new(d))) {
    cm_error_set(&err, CM_E_NOMEM, "", "out of memory");
  } else {
    return 0;
  }
  cmd_reply_own_error(c, &err);
  return -1;
}

void cmd_route_weights_whatif(cmd_call *c) {
  cmd_daemon *d = c->d;
  cmd_region *r = c->r;
  cm_error err;
  cm_weights proposed;
  double hours;
  if (whatif_body(c, &proposed, &hours) != 0 || whatif_ready(c) != 0)
    return;
  const cm_engine_config *cfg = cm_engine_config_get(r->eng);
  cmd_whatif *w = d->whatif;
  snprintf(w->path, sizeof w->path, "%s", d->cfg.trace_file);
  snprintf(w->region, sizeof w->region, "%s", d->n_regions > 1 ? r->name : "");
  cm_sim_trace_window_init(&w->win);
  w->win.until_ms = cmd_now_ms() + 1; /* what was sent up to now */
  w->win.from_ms = w->win.until_ms - (int64_t)llround(hours * 3600000.0);
  w->win.max_requests = CMD_WHATIF_MAX_REQUESTS;
  w->hours = hours;
  w->w[0] = cfg->weights;
  w->w[1] = proposed;
  w->window_ms = cfg->batch_window_ms;
  w->budget_ms = cfg->solve_budget_ms;
  w->no_reserve = cfg->reserve_workers == 0;
  w->road_factor = cfg->params.road_factor;
  w->reply = NULL;
  memset(&w->err, 0, sizeof w->err);
  cmd_call *dc = cmd_call_defer(c);
  if (!dc)
    return; /* answered 500 */
  w->dc = dc;
  if (pthread_create(&w->thread, NULL, replay, w) != 0) {
    w->dc = NULL;
    cm_error_set(&err, CM_E_UNAVAILABLE, "",
                 "the replay could not start (no thread)");
    cmd_reply_own_error(dc, &err);
    cmd_call_end(dc);
    return;
  }
  w->running = 1;
}
