/* positions.c -- when a position write is answered (docs/redis.md,
 * "Positions: answered once queued").
 *
 * A position is live telemetry, replaced by the worker's next report a few
 * seconds later; requests, offers and answers are the ledger's records.
 * With [store] positions_ack = queued (an operator's choice; durable is
 * the default) a position write in Redis mode is answered 200 as soon as
 * the engine took it and proposed it: queued on the loop's Redis
 * connection behind every earlier write, in order, it goes with the
 * turn's group commit. It takes effect (reads, batches) when Redis has
 * it, as every write in Redis mode does: the daemon's view never runs
 * ahead of Redis's. At most positions_pending_max positions are answered
 * and not yet taken; past that a call waits for its own write like a
 * durable one, so a Redis slower than the callers slows them down instead
 * of piling up a queue. Only while the loop's connection is up and
 * dispatch is not paused: with Redis down a position is answered from its
 * completion (503). One answered whose write then fails (the connection
 * lost meanwhile) is counted in carematch_positions_lost_total and logged
 * (a count, no id; once a second at most, the rest by a timer): the
 * worker's next report puts it right.
 *
 * positions_ack = durable (the default: under bench_http's mixed load,
 * queued positions made the emergencies' offers reach the client later,
 * docs/redis.md), memory mode, and every error decided before the
 * ledger: answered from the write's completion. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon.h"
#include "http.h"

#define LOST_LOG_NS 1000000000LL /* one line a second at most */

typedef struct pos_write {
  cmd_region *r;
  cmd_call *c;   /* to answer; NULL once answered early */
  int count;     /* positions in the write */
  int launching; /* inside the engine's _async call */
  int completed; /* the completion ran while launching */
  cm_status st;  /* its outcome then */
  cm_error err;  /* */
} pos_write;

/* The answer: {"accepted": n}, or the error; then a deferred call ends. */
static void answer(cmd_call *c, int count, cm_status st, const cm_error *err) {
  if (st != CM_OK) {
    cmd_reply_error(c, err);
  } else {
    c->r->positions += (uint64_t)count;
    cmd_reply_json(c, 200, json_pack("{s:i}", "accepted", count));
  }
  if (c->deferred)
    cmd_call_end(c);
}

/* The lost positions not yet logged, in one line (a count and why by its
 * code: no worker id). */
static void lost_log(cmd_region *r) {
  if (!r->lost_unlogged)
    return;
  fprintf(stderr,
          "carematchd: warning: region %s: %llu position(s) answered but "
          "maybe not written to Redis (%s); each worker's next report puts "
          "hers right\n",
          r->name, (unsigned long long)r->lost_unlogged,
          cm_status_name(r->lost_why));
  r->lost_logged_ns = cmd_mono_ns(NULL);
  r->lost_unlogged = 0;
}

static void on_lost_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  cmd_region *r = arg;
  r->lost_armed = 0;
  lost_log(r);
}

/* Positions answered and then not taken: counted, and logged at once when
 * no line went out in the last second, else with the rest of that second
 * by a one-shot timer. */
static void lost(cmd_region *r, int count, cm_status st) {
  r->positions_lost += (uint64_t)count;
  r->lost_unlogged += (uint64_t)count;
  r->lost_why = st;
  int64_t since = cmd_mono_ns(NULL) - r->lost_logged_ns;
  if (!r->lost_logged_ns || since >= LOST_LOG_NS) {
    lost_log(r);
  } else if (!r->lost_armed) {
    int64_t us = (LOST_LOG_NS - since) / 1000 + 1;
    struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
    r->lost_armed =
        event_base_once(r->d->base, -1, EV_TIMEOUT, on_lost_timer, r, &tv) == 0;
  }
}

void cmd_positions_lost_flush(cmd_region *r) {
  lost_log(r);
}

static void on_written(void *ctx, cm_status st, const cm_error *err) {
  pos_write *w = ctx;
  if (w->launching) { /* answered by the launcher */
    w->completed = 1;
    w->st = st;
    if (err)
      w->err = *err;
    return;
  }
  if (w->c) {
    answer(w->c, w->count, st, err);
  } else {
    w->r->positions_pending -= w->count;
    if (st != CM_OK)
      lost(w->r, w->count, st);
  }
  free(w);
}

void cmd_positions_write(cmd_call *c, int count, cmd_positions_launch launch,
                         void *arg) {
  cmd_region *r = c->r;
  cm_error err;
  pos_write *w = calloc(1, sizeof *w);
  if (!w) {
    cm_error_set(&err, CM_E_NOMEM, "", NULL);
    answer(c, count, CM_E_NOMEM, &err);
    return;
  }
  w->r = r;
  w->c = c;
  w->count = count;
  w->launching = 1;
  cm_status st = launch(arg, on_written, w, &err);
  w->launching = 0;
  if (st != CM_OK || w->completed) { /* refused, or done at once */
    answer(c, count, st != CM_OK ? st : w->st, st != CM_OK ? &err : &w->err);
    free(w);
    return;
  }
  if (r->d->cfg.positions_durable || !r->redis_loop ||
      !cm_redis_connected(r->redis_loop) || r->paused ||
      r->positions_pending + count > r->d->cfg.positions_pending_max)
    return; /* answered from the completion */
  r->positions_pending += count;
  w->c = NULL;
  answer(c, count, CM_OK, NULL);
}
