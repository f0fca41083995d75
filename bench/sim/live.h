/* live.h -- the simulator's live mode: the world (world.h) drives a
 * running carematchd over HTTP, in real time or accelerated, with or
 * without Redis, and its KPIs come in as the day goes. */
#ifndef CM_SIM_LIVE_H_INCLUDED_
#define CM_SIM_LIVE_H_INCLUDED_

#include "sim.h"

typedef struct sim_live_opts {
  const char *daemon; /* start this carematchd (a clock of rate, port 0)... */
  const char *redis;  /* ...on this Redis (redis://host:port), or memory */
  const char *trace;  /* ...recording its input here (--trace), or NULL */
  const char *url;    /* or drive this one (its clock must run at rate) */
  const char *tok_platform, *tok_gateway, *tok_operator;
  double rate;                    /* simulated time per real time (60) */
  int64_t from_ms, until_ms;      /* requests arriving then (the day) */
  int64_t drain_ms;               /* then wait this long for jobs to end */
  int quiet;                      /* no line a second */
  int floors;                     /* compute the hindsight floors */
  const char *dir;                /* the daemon's files (a temp dir) */
  const char *const *daemon_args; /* more flags for the daemon, or NULL */
  /* chaos and soak runs: keep going when the daemon dies (reopen the
     event stream, retry completions); write the id of every request the
     daemon acknowledged to acked (a file, or NULL); prefix every request
     id (runs over one daemon, which must not see an id twice) */
  int survive;
  int cancel_rest; /* at the end, cancel every request not done */
  const char *acked;
  const char *id_prefix;
  int (*stop)(void *ctx); /* polled; non-zero: stop now */
  void *stop_ctx;
} sim_live_opts;

void sim_live_init(sim_live_opts *o);

/* Run the window [from, until) of the day against the daemon. *out gets
 * the KPIs (the batch figures from the daemon's /metrics), plus
 * http_errors. Returns 0, or -1 with msg. */
int sim_live(const sim_scenario *s, const sim_live_opts *o, sim_kpis *out,
             char *msg, size_t n);

#endif
