/* sim_world.h -- the simulated city itself, apart from who dispatches it:
 * staff who come on shift, answer offers, travel, serve and report their
 * positions; requests arriving; and the KPIs of what happened. The
 * dispatcher is a port: the engine library in process (cm_sim_run) or
 * a running carematchd over HTTP (the simulator's live mode, bench/sim). The
 * world is driven by its caller: cm_sim_world_advance runs its own events up to
 * a time, cm_sim_world_event hands it what the dispatcher decided. */
#ifndef CM_SIM_WORLD_H_INCLUDED_
#define CM_SIM_WORLD_H_INCLUDED_

#include "carematch/engine.h"
#include "carematch/export.h"
#include "carematch/sim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where the world's actions go. Workers and requests by scenario index;
 * times are the world's (ms after midnight). */
typedef struct cm_sim_port {
  void *ctx;
  void (*submit)(void *ctx, int request, const cm_request_spec *spec,
                 int64_t now);
  void (*upsert)(void *ctx, int worker, const cm_worker *w, int64_t now);
  void (*shift_off)(void *ctx, int worker, int64_t now);
  void (*position)(void *ctx, int worker, double lat, double lon, int64_t now);
  void (*positions_done)(void *ctx, int64_t now); /* end of a report; NULL ok */
  void (*answer)(void *ctx, int request, int worker, int accept, int64_t now);
  /* 0 when the dispatcher took the completion */
  int (*complete)(void *ctx, int request, int64_t now);
  /* a member of the request's accepted staff reached the elder (every
     member, before the job's end); NULL ok */
  void (*arrived)(void *ctx, int request, int worker, int64_t now);
} cm_sim_port;

typedef struct cm_sim_world cm_sim_world;

/* The requests arriving in [from_ms, until_ms) and the staff on shift
 * then; shifts begun before from_ms begin at from_ms. KPIs go to *out. NULL
 * when out of memory. */
CM_EXPORT cm_sim_world *cm_sim_world_new(const cm_sim_scenario *s,
                                         const cm_sim_port *port,
                                         int64_t from_ms, int64_t until_ms,
                                         cm_sim_kpis *out);
CM_EXPORT void cm_sim_world_free(cm_sim_world *w);

/* When the world's next own event is due (a request, a shift, an answer,
 * an arrival, the end of a job, a position report). */
CM_EXPORT int64_t cm_sim_world_next(const cm_sim_world *w);
/* Run the world's events due at or before t. */
CM_EXPORT void cm_sim_world_advance(cm_sim_world *w, int64_t t);
/* The dispatcher's event at time now: an offer is answered a few seconds
 * later, once every member accepted they set off, lapses and refusals are
 * counted. */
CM_EXPORT void cm_sim_world_event(cm_sim_world *w, const cm_event *ev,
                                  int64_t now);
/* Requests offered / arrived / done so far; requests submitted. */
CM_EXPORT void cm_sim_world_progress(const cm_sim_world *w, int *submitted,
                                     int *offered, int *done);
/* Call fn for every request submitted and not done (a live run that ends
 * cancels them, so a long soak leaves nothing behind). */
CM_EXPORT void cm_sim_world_each_open(const cm_sim_world *w,
                                      void (*fn)(void *ctx, int request),
                                      void *ctx);
/* Nothing is on its way or being served, and every request submitted was
 * served or never offered. */
CM_EXPORT int cm_sim_world_idle(const cm_sim_world *w);
/* The KPIs of the run so far into *out (batch figures are the caller's).
 * Call once, at the end. */
CM_EXPORT void cm_sim_world_finish(cm_sim_world *w);
/* Which requests were served (1) in the run: n_requests bytes, owned by
 * the world. */
CM_EXPORT const unsigned char *cm_sim_world_served(const cm_sim_world *w);
/* The arrival times of urgency u so far (minutes), for live display. */
CM_EXPORT double cm_sim_world_arrive_quantile(cm_sim_world *w, int u, double q);

#ifdef __cplusplus
}
#endif

#endif
