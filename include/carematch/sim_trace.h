/* sim_trace.h -- a scenario (carematch/sim.h) read from the input trace
 * carematchd writes ([trace], docs/daemon.md): the staff and requests as
 * they were sent, the time on site and the share of offers accepted
 * estimated from what followed. The daemon's what-if replays the last
 * hours of its own trace with it; the simulator a recorded day
 * (docs/sim.md). It belongs to libcarematch_json (it reads JSON lines),
 * like json.h. The API convention is carematch.h's. */
#ifndef CM_SIM_TRACE_H_INCLUDED_
#define CM_SIM_TRACE_H_INCLUDED_

#include <stdint.h>

#include "carematch/error.h"
#include "carematch/export.h"
#include "carematch/sim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which part of the trace becomes the scenario. */
typedef struct cm_sim_trace_window {
  /* the requests sent in [from_ms, until_ms), the trace's own clock (its
     at_ms); the scenario's time 0 is from_ms. Both 0: the trace's first
     day (UTC), its midnight the scenario's 0. */
  int64_t from_ms, until_ms;
  int max_requests;   /* the latest this many at most (0: no cap) */
  const char *region; /* only lines of this region (a trace of several
                         regions names each line's); NULL: every line;
                         borrowed for the call */
} cm_sim_trace_window;

/* What was read. */
typedef struct cm_sim_trace_info {
  int lines;            /* lines read */
  int lines_skipped;    /* with a window: lines that are not JSON (cut
                           short by a write that failed), left out; without
                           one they are an error */
  int requests_dropped; /* in the window, left out by max_requests */
  int64_t first_ms;     /* the first request kept, trace clock (0: none) */
  int64_t last_ms;      /* the last one */
} cm_sim_trace_info;

/* The whole trace's first day, no cap, every region. */
CM_EXPORT void cm_sim_trace_window_init(cm_sim_trace_window *w);

/* The scenario of the trace at path within win (NULL: the defaults).
 * Staff: skills, rating and level as last registered; home where the
 * worker was last seen before the window (else first seen in it); on
 * shift from the window's start when they were on then, else from their
 * first time on in it, to their last time off (or the end). Requests in
 * the window: when, where, roles, people, urgency, elder, window; ids are
 * renamed (s00000, r00000, e0). Time on site per kind of request: the
 * median over the whole trace of the time from the team's last accept to
 * the completion less their travel at 25 km/h; the share of offers
 * accepted likewise. Nothing is written anywhere; what the lines hold
 * stays in memory until the call returns. Returns a new scenario
 * (cm_sim_scenario_free), or NULL with err (CM_E_IO: cannot read;
 * CM_E_INVALID: a line is not what carematchd writes, naming it;
 * CM_E_CONFLICT: no request or no worker in the window; CM_E_NOMEM).
 * info (may be NULL) says what was read. */
CM_EXPORT cm_sim_scenario *cm_sim_trace_read(const char *path,
                                             const cm_sim_trace_window *win,
                                             cm_sim_trace_info *info,
                                             cm_error *err);

#ifdef __cplusplus
}
#endif

#endif
