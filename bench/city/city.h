/* city.h -- a seeded, deterministic city simulator for benches and tests.
 *
 * A city is a square of communities (Gaussian clusters of uneven, Zipf-like
 * size) around Shanghai's centre. Workers and requests are drawn from the
 * same clusters; skills follow a realistic mix of the six default roles and
 * request demand follows the supply, so every skill has about the
 * workers/requests ratio of the scenario. The same spec always gives the
 * same instance, bit for bit, on every platform (own PRNG, no rand()). */
#ifndef CM_CITY_H_INCLUDED_
#define CM_CITY_H_INCLUDED_

#include <stdint.h>

#include "carematch/error.h"
#include "carematch/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cm_city_spec {
  uint64_t seed;           /* PRNG seed; same spec, same instance */
  int n_requests;          /* requests in the batch */
  int n_workers;           /* available workers */
  int communities;         /* Gaussian clusters (default 120) */
  double area_km;          /* side of the square city (default 30) */
  double center_lat;       /* centre of the city, degrees (31.23) */
  double center_lon;       /* (121.47) */
  double sigma_min_km;     /* community radius, drawn uniformly in */
  double sigma_max_km;     /*   [sigma_min_km, sigma_max_km] (0.3 .. 1) */
  double worker_spread;    /* workers roam: their sigma is this times (1.5) */
  double zipf_s;           /* community weight 1/rank^zipf_s (0.8) */
  double dual_skill_share; /* workers holding two roles (0.2) */
  double emergency_share;  /* urgency mix: emergency (0.03), */
  double urgent_share;     /*   urgent (0.10), */
  double scheduled_share;  /*   scheduled (0.20); the rest is normal */
  double team_share;       /* staff-2 nurse+caregiver requests (0) */
  double continuity_share; /* requests whose elder a nearby worker served
                              before (0.3) */
  double pref_share;       /* requests with one preferred worker (0) */
  double excl_share;       /* requests with one excluded worker (0) */
  double max_waited_s;     /* waited_s uniform in [0, max_waited_s] (600) */
  int capacity_max;        /* capacity uniform in 1..capacity_max (1) */
  int k;                   /* candidates per request (8) */
  double radius_km[CM_URGENCY_COUNT];     /* search radius by urgency
                                             (8, 6, 5, 5) */
  double penalty_scale[CM_URGENCY_COUNT]; /* 0: default penalty (all 0);
                                             else the unassigned penalty is
                                             this times the dearest edge
                                             inside the base radius */
  int64_t now_ms; /* batch time; positions are seen now */
} cm_city_spec;

/* The default city: 120 communities over 30 x 30 km, 1000 workers and 100
 * requests, K = 8, no team requests. */
void cm_city_spec_init(cm_city_spec *spec);

/* A new instance drawn from spec (free with cm_instance_free). Weights are
 * the library defaults except where spec->penalty_scale is set; parameters
 * are the defaults except k, radii and now_ms. With the default weights an
 * edge inside the radius always costs less than leaving the request out.
 * Returns NULL with err set when the spec is out of range (CM_E_RANGE, field
 * names the spec member) or memory runs out. */
cm_instance *cm_city_instance(const cm_city_spec *spec, cm_error *err);

/* A tiny dense instance for tests: everything within about 3 km, three
 * communities, capacities 1..2, some preferred and excluded workers, and a
 * low penalty for scheduled requests (0.2 of the dearest edge) so that
 * leaving some unassigned is the optimum. team_share of the requests need a
 * nurse and a caregiver together. Returns NULL with err set on bad arguments or
 * out of memory. */
cm_instance *cm_city_small(uint64_t seed, int n_requests, int n_workers,
                           double team_share, cm_error *err);

/* The spec behind cm_city_small, to tweak before cm_city_instance. */
void cm_city_spec_small(cm_city_spec *spec, uint64_t seed, int n_requests,
                        int n_workers, double team_share);

/* splitmix64 step: the generator's PRNG, public for tests and benches that
 * want their own reproducible streams. Advances *state. */
uint64_t cm_city_rand(uint64_t *state);
/* Uniform double in [0, 1) from cm_city_rand. */
double cm_city_uniform(uint64_t *state);

#ifdef __cplusplus
}
#endif
#endif
