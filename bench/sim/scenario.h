/* scenario.h -- a day in a city, for the simulator: staff with roles,
 * shifts and homes; a service catalog; the day's requests at the times
 * they arrive. Generated from a seed (the same seed, the same day) and
 * kept as plain JSON (docs/sim.md has the format). */
#ifndef CM_SIM_SCENARIO_H_INCLUDED_
#define CM_SIM_SCENARIO_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

#include "carematch/model.h"

#define SIM_ID_MAX 24
#define SIM_SERVICES_MAX 16

typedef struct sim_service {
  char name[32];       /* "hospital_escort" */
  cm_skillset skills;  /* roles it needs (default taxonomy) */
  cm_skill_mode mode;  /* all / any */
  int staff;           /* people */
  cm_urgency urgency;  /* how it is submitted */
  double duration_min; /* time on site */
  double share;        /* of the day's requests */
  double hours[24];    /* relative demand by hour of the day */
  double lead_min;     /* booked this long ahead (scheduled), else 0 */
} sim_service;

typedef struct sim_worker {
  char id[SIM_ID_MAX];
  cm_skillset skills;
  double lat, lon;     /* home: where the shift starts */
  int shift_start_min; /* minutes after midnight */
  int shift_end_min;
  double speed_kmh; /* travel speed */
  double rating, level;
} sim_worker;

typedef struct sim_request {
  char id[SIM_ID_MAX];
  int64_t at_ms; /* arrives (ms after midnight) */
  int service;   /* index in the catalog */
  double lat, lon;
  char elder[SIM_ID_MAX];
  int64_t window_start_ms; /* scheduled: when it should start; else 0 */
} sim_request;

typedef struct sim_spec {
  uint64_t seed;
  int workers;            /* staff (1200) */
  int requests;           /* requests in the day (6000) */
  int elders;             /* households the requests come from (20000) */
  int communities;        /* clusters (120) */
  double area_km;         /* side of the city (30) */
  double emergency_share; /* one-button calls (0.03) */
} sim_spec;

typedef struct sim_scenario {
  uint64_t seed;
  double center_lat, center_lon;
  double road_factor;    /* road / great-circle distance (1.3) */
  double accept_prob;    /* a worker accepts an offer (0.92) */
  double response_s_max; /* answers within this (30) */
  int report_s;          /* positions every this many seconds (5) */
  int n_services;
  sim_service services[SIM_SERVICES_MAX];
  int n_workers;
  sim_worker *workers;
  int n_requests;
  sim_request *requests; /* by arrival time */
} sim_scenario;

void sim_spec_init(sim_spec *s);
/* The day's kind onto s, scaling what it holds (call after the sizes are
 * set): "normal" (as is), "sparse" (a county: the side twice as long, a
 * third of the communities, 2/5 of the staff, a quarter of the elders and
 * requests, so each worker covers 10 times the area and has 5/8 of the
 * requests) or "surge" (twice the requests).
 * Returns 0, or -1 for an unknown kind. */
int sim_spec_kind(sim_spec *s, const char *kind);
/* The starting state of stream tag (0 map, 1 staff, 2 requests, 3 the
 * world's answers) of the day seed: seed and tag through splitmix64's
 * mixer, so the days of two seeds are independent. */
uint64_t sim_stream_seed(uint64_t seed, uint64_t tag);
/* A new day from spec; NULL when out of memory or a spec is out of range
 * (msg says which). */
sim_scenario *sim_scenario_generate(const sim_spec *spec, char *msg, size_t n);
/* As JSON, to path. Returns 0 or -1. */
int sim_scenario_save(const sim_scenario *s, const char *path);
/* From a JSON file; NULL with msg naming the field on error. */
sim_scenario *sim_scenario_load(const char *path, char *msg, size_t n);
void sim_scenario_free(sim_scenario *s);
/* The first day of a carematchd trace (--trace) as a scenario (trace.c):
 * its staff and requests as sent, the time on site and the share of
 * offers accepted estimated from it. NULL with msg naming the line. */
sim_scenario *sim_scenario_from_trace(const char *path, char *msg, size_t n);

#endif
