/* world.h -- the simulated city itself, apart from who dispatches it:
 * staff who come on shift, answer offers, travel, serve and report their
 * positions; requests arriving; and the KPIs of what happened. The
 * dispatcher is a port: the engine library in process (sim.c) or a
 * running carematchd over HTTP (live.c). The world is driven by its
 * caller: world_advance runs its own events up to a time, world_event
 * hands it what the dispatcher decided. */
#ifndef CM_SIM_WORLD_H_INCLUDED_
#define CM_SIM_WORLD_H_INCLUDED_

#include "carematch/engine.h"
#include "sim.h"

#define SIM_DAY_MS (24LL * 3600 * 1000)

/* Where the world's actions go. Workers and requests by scenario index;
 * times are the world's (ms after midnight). */
typedef struct sim_port {
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
} sim_port;

typedef struct sim_world sim_world;

/* The requests arriving in [from_ms, until_ms) and the staff on shift
 * then; shifts begun before from_ms begin at from_ms. KPIs go to *out. NULL
 * when out of memory. */
sim_world *world_new(const sim_scenario *s, const sim_port *port,
                     int64_t from_ms, int64_t until_ms, sim_kpis *out);
void world_free(sim_world *w);

/* When the world's next own event is due (a request, a shift, an answer,
 * an arrival, the end of a job, a position report). */
int64_t world_next(const sim_world *w);
/* Run the world's events due at or before t. */
void world_advance(sim_world *w, int64_t t);
/* The dispatcher's event at time now: an offer is answered a few seconds
 * later, once every member accepted they set off, lapses and refusals are
 * counted. */
void world_event(sim_world *w, const cm_event *ev, int64_t now);
/* Requests offered / arrived / done so far; requests submitted. */
void world_progress(const sim_world *w, int *submitted, int *offered,
                    int *done);
/* Call fn for every request submitted and not done (a live run that ends
 * cancels them, so a long soak leaves nothing behind). */
void world_each_open(const sim_world *w, void (*fn)(void *ctx, int request),
                     void *ctx);
/* Nothing is on its way or being served, and every request submitted was
 * served or never offered. */
int world_idle(const sim_world *w);
/* The KPIs of the run so far into *out (batch figures are the caller's).
 * Call once, at the end. */
void world_finish(sim_world *w);
/* Which requests were served (1) in the run: n_requests bytes, owned by
 * the world. */
const unsigned char *world_served(const sim_world *w);
/* The arrival times of urgency u so far (minutes), for live display. */
double world_arrive_quantile(sim_world *w, int u, double q);

#endif
