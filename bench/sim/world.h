/* world.h -- the simulated city apart from its dispatcher is the
 * product's (carematch/sim_world.h, core/sim/world.c): the simulator's
 * short names for it, used by its live mode (live.c). */
#ifndef CM_BENCH_SIM_WORLD_H_INCLUDED_
#define CM_BENCH_SIM_WORLD_H_INCLUDED_

#include "carematch/sim_world.h"
#include "sim.h"

#define SIM_DAY_MS CM_SIM_DAY_MS

typedef cm_sim_port sim_port;
typedef cm_sim_world sim_world;

static inline sim_world *world_new(const sim_scenario *s, const sim_port *port,
                                   int64_t from_ms, int64_t until_ms,
                                   sim_kpis *out) {
  return cm_sim_world_new(s, port, from_ms, until_ms, out);
}
static inline void world_free(sim_world *w) {
  cm_sim_world_free(w);
}
static inline int64_t world_next(const sim_world *w) {
  return cm_sim_world_next(w);
}
static inline void world_advance(sim_world *w, int64_t t) {
  cm_sim_world_advance(w, t);
}
static inline void world_event(sim_world *w, const cm_event *ev, int64_t now) {
  cm_sim_world_event(w, ev, now);
}
static inline void world_progress(const sim_world *w, int *submitted,
                                  int *offered, int *done) {
  cm_sim_world_progress(w, submitted, offered, done);
}
static inline void world_each_open(const sim_world *w,
                                   void (*fn)(void *ctx, int request),
                                   void *ctx) {
  cm_sim_world_each_open(w, fn, ctx);
}
static inline int world_idle(const sim_world *w) {
  return cm_sim_world_idle(w);
}
static inline void world_finish(sim_world *w) {
  cm_sim_world_finish(w);
}
static inline const unsigned char *world_served(const sim_world *w) {
  return cm_sim_world_served(w);
}
static inline double world_arrive_quantile(sim_world *w, int u, double q) {
  return cm_sim_world_arrive_quantile(w, u, q);
}

#endif
