/* loop_watch.c -- the loop-stall trace: how long the daemon's loop is held
 * by what it runs, by cause. Every piece of work that can run long on the
 * loop (a batch's begin with the follow of other writers, its end, the
 * sweep, an HTTP call and its synchronous Redis calls, the loop
 * connection's reconnect between two turns, a write's completion) is
 * timed on the monotonic clock; a piece longer than CMD_STALL_MS counts
 * as a stall of its cause, and each loop turn's busy time (from the moment
 * libevent's wait returned to the end of the turn's last watched piece) is
 * a histogram. GET /metrics reports them (carematch_loop_*, metrics.c;
 * docs/daemon.md, docs/async.md). */
#include <event2/event.h>
#include <sys/time.h>
#include <time.h>

#include "daemon.h"

static const char *const cause_names[CMD_CAUSE_COUNT] = {
    "follow",         "batch_begin",   "batch_end", "completion",
    "sweep",          "reconnect",     "weights",   "http_workers",
    "http_positions", "http_requests", "http_other"};

/* Upper bounds (seconds) of the turn histogram's buckets but the last. */
static const double turn_bounds[CMD_TURN_BUCKETS - 1] = {
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

const char *cmd_cause_name(cmd_cause c) {
  return c >= 0 && c < CMD_CAUSE_COUNT ? cause_names[c] : "other";
}

const double *cmd_turn_bounds(void) {
  return turn_bounds;
}

static int64_t wall_ns(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000;
}

int64_t cmd_watch_begin(cmd_daemon *d) {
  /* the turn began when libevent's wait returned: its cached time (wall
     clock; 0 outside a callback) */
  struct timeval tv;
  if (!d->turn_start_ns && event_base_gettimeofday_cached(d->base, &tv) == 0 &&
      tv.tv_sec)
    d->turn_start_ns = (int64_t)tv.tv_sec * 1000000000 + tv.tv_usec * 1000;
  return cmd_mono_ns(NULL);
}

static void count(cmd_daemon *d, cmd_cause c, int64_t ns) {
  d->watch.busy_ns[c] += (uint64_t)ns;
  if (ns > CMD_STALL_MS * 1000000LL)
    d->watch.stalls[c]++;
  if (ns > d->watch.max_ns[c])
    d->watch.max_ns[c] = ns;
  if (d->turn_start_ns)
    d->turn_end_ns = wall_ns();
}

void cmd_watch_end(cmd_daemon *d, cmd_cause c, int64_t t0) {
  if (c >= 0 && c < CMD_CAUSE_COUNT) {
    int64_t ns = cmd_mono_ns(NULL) - t0;
    count(d, c, ns);
    if (ns > 200000) /* the stage trace (stage.c), when on */
      cmd_stage("piece", (uint64_t)c, ns / 1000, 0);
  }
}

void cmd_watch_since_turn(cmd_daemon *d, cmd_cause c) {
  cmd_watch_begin(d);
  if (d->turn_start_ns && c >= 0 && c < CMD_CAUSE_COUNT) {
    /* since the turn's last watched piece ended (an upper bound: what
       else ran in between, unwatched, counts too) */
    int64_t from =
        d->turn_end_ns > d->turn_start_ns ? d->turn_end_ns : d->turn_start_ns;
    int64_t ns = wall_ns() - from;
    count(d, c, ns > 0 ? ns : 0);
  }
}

void cmd_watch_turn(cmd_daemon *d) {
  if (d->turn_start_ns && d->turn_end_ns > d->turn_start_ns) {
    double s = (double)(d->turn_end_ns - d->turn_start_ns) * 1e-9;
    if (s > 0.0005) /* the stage trace (stage.c), when on */
      cmd_stage("turn", 0, (long long)(s * 1e6), 0);
    int b = 0;
    while (b < CMD_TURN_BUCKETS - 1 && s > turn_bounds[b])
      b++;
    d->watch.turns[b]++;
    d->watch.turn_sum += s;
    d->watch.turn_n++;
    if (s > d->watch.turn_max)
      d->watch.turn_max = s;
  }
  d->turn_start_ns = d->turn_end_ns = 0;
}
