/* scenario.h -- a day in a city, for the simulator: staff with roles,
 * shifts and homes; a service catalog; the day's requests at the times
 * they arrive. Generated from a seed (the same seed, the same day) and
 * kept as plain JSON (docs/sim.md has the format). */
#ifndef CM_SIM_SCENARIO_H_INCLUDED_
#define CM_SIM_SCENARIO_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

#include "carematch/model.h"
#include "carematch/sim.h"

/* The day's staff, catalog and requests are the product's
 * (carematch/sim.h, core/sim): the simulator's short names for them. */
#define SIM_ID_MAX CM_SIM_ID_MAX
#define SIM_SERVICES_MAX CM_SIM_SERVICES_MAX
typedef cm_sim_service sim_service;
typedef cm_sim_worker sim_worker;
typedef cm_sim_request sim_request;
typedef cm_sim_scenario sim_scenario;

typedef struct sim_spec {
  uint64_t seed;
  int workers;            /* staff (1200) */
  int requests;           /* requests in the day (6000) */
  int elders;             /* households the requests come from (20000) */
  int communities;        /* clusters (120) */
  double area_km;         /* side of the city (30) */
  double emergency_share; /* one-button calls (0.03) */
  uint64_t request_tag;   /* the requests' stream (2; another: other days
                             on the same map and staff, e.g. a history) */
} sim_spec;

void sim_spec_init(sim_spec *s);
/* The day's kind onto s, scaling what it holds (call after the sizes are
 * set): "normal" (as is), "sparse" (a county: the side twice as long, a
 * third of the communities, 2/5 of the staff, a quarter of the elders and
 * requests, so each worker covers 10 times the area and has 5/8 of the
 * requests) or "surge" (twice the requests).
 * Returns 0, or -1 for an unknown kind. */
int sim_spec_kind(sim_spec *s, const char *kind);
/* cm_sim_stream_seed (carematch/sim.h) */
static inline uint64_t sim_stream_seed(uint64_t seed, uint64_t tag) {
  return cm_sim_stream_seed(seed, tag);
}
/* A new day from spec; NULL when out of memory or a spec is out of range
 * (msg says which). */
sim_scenario *sim_scenario_generate(const sim_spec *spec, char *msg, size_t n);
/* As JSON, to path. Returns 0 or -1. */
int sim_scenario_save(const sim_scenario *s, const char *path);
/* From a JSON file; NULL with msg naming the field on error. */
sim_scenario *sim_scenario_load(const char *path, char *msg, size_t n);
static inline void sim_scenario_free(sim_scenario *s) {
  cm_sim_scenario_free(s);
}
/* The first day of a carematchd trace (--trace) as a scenario
 * (cm_sim_trace_read, carematch/sim_trace.h). NULL with msg naming the
 * line. */
sim_scenario *sim_scenario_from_trace(const char *path, char *msg, size_t n);

#endif
