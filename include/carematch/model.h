/* model.h -- the dispatch domain: workers, requests, weights, parameters,
 * and the batch instance that the solver takes.
 *
 * Plain structs, filled by the caller. An instance owns its arrays; free it
 * with cm_instance_free. Ids are client-supplied strings, unique per kind. */
#ifndef CM_MODEL_H_INCLUDED_
#define CM_MODEL_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

#include "carematch/error.h"
#include "carematch/export.h"
#include "carematch/taxonomy.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CM_ID_MAX 64    /* bytes of an id, including the terminating NUL */
#define CM_MAX_STAFF 4  /* a request needs 1..CM_MAX_STAFF people */
#define CM_MAX_PREFS 8  /* preferred / excluded workers per request */
#define CM_MAX_ELDERS 8 /* recent elders remembered per worker */

typedef enum cm_urgency {
  CM_URGENCY_EMERGENCY = 0,
  CM_URGENCY_URGENT,
  CM_URGENCY_NORMAL,
  CM_URGENCY_SCHEDULED,
  CM_URGENCY_COUNT
} cm_urgency;

typedef enum cm_worker_status {
  CM_WORKER_AVAILABLE = 0,
  CM_WORKER_OFFERED,
  CM_WORKER_BUSY,
  CM_WORKER_OFFLINE,
  CM_WORKER_STATUS_COUNT
} cm_worker_status;

/* How a request's skill list is read. */
typedef enum cm_skill_mode {
  CM_SKILLS_ALL = 0, /* the team together holds every listed skill, and every
                        member holds at least one of them */
  CM_SKILLS_ANY      /* every member holds at least one listed skill */
} cm_skill_mode;

typedef struct cm_worker {
  char id[CM_ID_MAX];      /* unique client id */
  cm_skillset skills;      /* certified roles held */
  cm_worker_status status; /* only AVAILABLE workers are matched */
  double lat, lon;         /* last position, degrees (optional in edge mode) */
  int has_position;        /* lat/lon are set */
  int64_t seen_ms;         /* time of the position, ms; 0 = unknown */
  int capacity;            /* jobs this worker may still take (default 1) */
  int jobs_today;          /* workload so far today */
  double rating;           /* 0..5, default 5 */
  double level;            /* skill level 1..5, default 3 */
  int n_elders;            /* entries used in elders[] */
  uint64_t elders[CM_MAX_ELDERS]; /* cm_id_hash of elders served recently */
} cm_worker;

typedef struct cm_request {
  char id[CM_ID_MAX];          /* unique client id */
  double lat, lon;             /* where the service is, degrees */
  int has_position;            /* lat/lon are set (optional in edge mode) */
  cm_skillset skills;          /* required skills, read per skill_mode */
  cm_skill_mode skill_mode;    /* ALL (default) or ANY */
  int staff;                   /* people needed, 1..CM_MAX_STAFF, all or none */
  cm_urgency urgency;          /* emergency .. scheduled */
  double waited_s;             /* time already waited, seconds */
  uint64_t elder;              /* cm_id_hash of the elder id, 0 when none */
  int n_preferred;             /* entries used in preferred[] */
  int preferred[CM_MAX_PREFS]; /* worker indexes the client prefers */
  int n_excluded;              /* entries used in excluded[] */
  int excluded[CM_MAX_PREFS];  /* worker indexes never to offer */
} cm_request;

/* Operator-tunable weights of the cost function (DESIGN section 4). Edge
 * cost = travel*eta_min*urgency_factor[u] + workload*jobs_today
 *        - continuity*[worker served this elder] + rating*(5 - rating)
 *        + skill*(5 - level) - preferred*[worker is preferred]
 *        + sla_late_per_min[u] * the minutes this worker's travel makes the
 *          arrival later than the service level sla_target_min[u].
 * Unassigned penalty = (penalty_base[u] + sla_risk[u] * min(1, w / T)^3
 *                       + aging_per_min * max(0, w - T)) * staff, with w the
 * minutes waited and T = sla_target_min[u] (a team left unstaffed costs per
 * person): the service-level risk rises steeply as the wait nears the target,
 * aging counts only past it (docs/solver.md, "Service levels").
 *
 * The weights' one table, from which cm_weights, its defaults, its
 * validation, the JSON codec and carematchd's [weights] keys are made:
 *   X(field, "key", SHAPE, (default), lo, hi, "doc")
 * field is the member of cm_weights; key its name in JSON
 * ("$.weights.<key>") and in carematchd.ini's [weights]; SHAPE is ONE (a
 * number) or URGENCY (a number per urgency, emergency .. scheduled: a JSON
 * object keyed by urgency, a list of four in the ini file); default is one
 * number in parentheses, or four; every number must be finite and in
 * [lo, hi] (lo and hi are also printed as written in error messages). */
#define CM_WEIGHTS_TABLE(X)                                                    \
  X(travel, "travel", ONE, (1.0), 0, 1e6, "per minute of travel")              \
  X(urgency_factor, "urgency_factor", URGENCY, (4.0, 2.0, 1.0, 1.0), 0, 1e3,   \
    "travel multiplier by urgency")                                            \
  X(workload, "workload", ONE, (2.0), 0, 1e6, "per job already done today")    \
  X(continuity, "continuity", ONE, (10.0), 0, 1e6,                             \
    "bonus: same caregiver, same elder")                                       \
  X(rating, "rating", ONE, (2.0), 0, 1e6, "per rating point below 5")          \
  X(skill, "skill", ONE, (1.0), 0, 1e6, "per level point below 5")             \
  X(preferred, "preferred", ONE, (5.0), 0, 1e6,                                \
    "bonus: client preferred worker")                                          \
  X(penalty_base, "penalty_base", URGENCY, (1000.0, 300.0, 120.0, 60.0), 0,    \
    1e9, "leaving a request unassigned")                                       \
  X(aging_per_min, "aging_per_min", ONE, (2.0), 0, 1e6,                        \
    "penalty growth per minute waited past the service level")                 \
  X(sla_target_min, "sla_target_min", URGENCY, (15.0, 60.0, 120.0, 30.0), 1,   \
    1e5, "service level: minutes from ready to arrival")                       \
  X(sla_risk, "sla_risk", URGENCY, (1000.0, 150.0, 100.0, 50.0), 0, 1e9,       \
    "penalty as the wait nears the service level")                             \
  X(sla_late_per_min, "sla_late_per_min", URGENCY, (40.0, 4.0, 1.0, 1.0), 0,   \
    1e6, "per minute an offer's arrival adds past the service level")

/* The C type of a SHAPE: a double, or one per urgency. */
#define CM_WEIGHT_DECL_ONE_(field) double field
#define CM_WEIGHT_DECL_URGENCY_(field) double field[CM_URGENCY_COUNT]

/* Every member a double or an array of them, in table order, each with the
 * doc of its row in CM_WEIGHTS_TABLE. */
typedef struct cm_weights {
#define CM_X_WEIGHT_(field, key, shape, def, lo, hi, doc)                      \
  CM_WEIGHT_DECL_##shape##_(field);
  CM_WEIGHTS_TABLE(CM_X_WEIGHT_)
#undef CM_X_WEIGHT_
} cm_weights;

/* One row of CM_WEIGHTS_TABLE, for code that walks every weight. */
typedef struct cm_weight_info {
  const char *key;     /* wire and ini name ("travel") */
  size_t offset;       /* of the member in cm_weights */
  int count;           /* numbers: 1, or CM_URGENCY_COUNT (one per urgency) */
  const double *def;   /* the default, count numbers */
  double lo, hi;       /* the valid range, inclusive */
  const char *lo_text; /* lo as written in the table ("0") */
  const char *hi_text; /* hi as written ("1e6") */
  const char *doc;     /* what the weight prices */
} cm_weight_info;

/* The rows of CM_WEIGHTS_TABLE in order; *n (if not NULL) gets their
 * number. Static storage: valid for the life of the program. */
CM_EXPORT const cm_weight_info *cm_weights_info(int *n);
/* The numbers of weight wi in w: wi->count of them. Borrowed from w. */
CM_EXPORT double *cm_weight_values(cm_weights *w, const cm_weight_info *wi);
CM_EXPORT const double *cm_weight_values_const(const cm_weights *w,
                                               const cm_weight_info *wi);

/* Candidate search and travel model. */
typedef struct cm_params {
  int k;                              /* nearest eligible workers per request
                                         (K x staff for a team) */
  double radius_km[CM_URGENCY_COUNT]; /* search radius by urgency */
  double radius_growth_km_per_min;    /* widening while a request waits */
  double radius_max_km;               /* cap on the widened radius */
  double speed_kmh;                   /* travel speed */
  double road_factor;                 /* road distance / great-circle */
  int64_t now_ms;                     /* batch time (stale check) */
  int64_t stale_ms; /* positions older are ineligible; 0 off */
} cm_params;

/* An explicit edge: the caller's routing engine gives the travel time. */
typedef struct cm_edge_in {
  int request;       /* request index */
  int worker;        /* worker index */
  double travel_min; /* travel time, minutes, >= 0 */
} cm_edge_in;

struct cm_instance_internal; /* the library's bookkeeping (model.c) */

/* A batch: made by cm_instance_new, grown by the _add functions, freed by
 * cm_instance_free. The caller may read and change every element of the
 * arrays in place; only the _add functions and cm_instance_reserve change
 * their length. A copy of the struct is not a new instance (it shares the
 * arrays and their bookkeeping): do not grow or free it. */
typedef struct cm_instance {
  cm_taxonomy taxonomy; /* skill names */
  cm_weights weights;   /* cost weights */
  cm_params params;     /* candidate search and travel model */
  cm_worker *workers;   /* owned; n_workers of them */
  int n_workers;        /* workers added */
  cm_request *requests; /* owned; n_requests of them */
  int n_requests;       /* requests added */
  cm_edge_in *edges;    /* owned; used when has_edges */
  int n_edges;          /* edges added */
  int has_edges;        /* candidates are the given edges, not a search */
  struct cm_instance_internal *internal; /* set by cm_instance_new (the
                                            arrays' capacities): not for
                                            the caller */
} cm_instance;

/* Defaults of the design card. */
CM_EXPORT void cm_weights_init(cm_weights *w);
CM_EXPORT void cm_params_init(cm_params *p);

/* Check every weight against its range in CM_WEIGHTS_TABLE: the numbers of
 * shape ONE in table order, then urgency by urgency those of shape URGENCY.
 * Returns CM_OK, or CM_E_RANGE with err->field the JSON path of the first
 * bad number ("$.weights.travel", "$.weights.penalty_base.urgent"); err
 * (may be NULL) is cleared first. Changes nothing else. */
CM_EXPORT cm_status cm_weights_validate(const cm_weights *w, cm_error *err);
/* The same for the parameters: "$.params.<key>", and "$.now_ms". */
CM_EXPORT cm_status cm_params_validate(const cm_params *p, cm_error *err);

/* 1 when lat and lon are a position: finite, lat in [-90, 90], lon in
 * [-180, 180]. The one place that says so. */
CM_EXPORT int cm_lat_valid(double lat);
CM_EXPORT int cm_lon_valid(double lon);
/* Check a position given at base ("$.workers[3]", "$" for a bare one):
 * CM_OK, or CM_E_RANGE with field base + ".lat" or ".lon" and the message
 * "<field>: latitude must be a finite number in [-90, 90]" (longitude:
 * [-180, 180]). err may be NULL. */
CM_EXPORT cm_status cm_position_check(double lat, double lon, const char *base,
                                      cm_error *err);
/* A worker / request with every optional field at its default. */
CM_EXPORT void cm_worker_init(cm_worker *w);
CM_EXPORT void cm_request_init(cm_request *r);

/* New empty instance with the default taxonomy, weights and parameters.
 * Returns NULL when out of memory; the caller frees it with
 * cm_instance_free. */
CM_EXPORT cm_instance *cm_instance_new(void);
/* Frees the instance and its arrays. Accepts NULL. */
CM_EXPORT void cm_instance_free(cm_instance *inst);
/* Append a copy of w (r, e): on CM_OK *index (when not NULL) is its index
 * in inst->workers (requests, edges); adding an edge sets has_edges. On
 * failure (CM_E_NOMEM) nothing changes. The arrays may move: pointers into
 * them are valid only until the next _add or _reserve. inst must come from
 * cm_instance_new (else CM_E_INVALID). */
CM_EXPORT cm_status cm_instance_worker_add(cm_instance *inst,
                                           const cm_worker *w, int *index,
                                           cm_error *err);
CM_EXPORT cm_status cm_instance_request_add(cm_instance *inst,
                                            const cm_request *r, int *index,
                                            cm_error *err);
CM_EXPORT cm_status cm_instance_edge_add(cm_instance *inst, const cm_edge_in *e,
                                         int *index, cm_error *err);
/* Make room for at least this many workers, requests and edges in all,
 * so that adding up to them allocates nothing (a decoder that knows its
 * counts). Counts already covered change nothing. CM_E_NOMEM (the counts
 * and elements unchanged) or CM_E_INVALID as the _add functions. */
CM_EXPORT cm_status cm_instance_reserve(cm_instance *inst, int workers,
                                        int requests, int edges, cm_error *err);

/* Check every field: ranges, finiteness, ids (non-empty, unique), staff,
 * skills inside the taxonomy, indexes in range, weights and parameters.
 * Returns CM_OK, or the first problem with err->field a JSON path such as
 * "$.requests[3].lat". Changes nothing. */
CM_EXPORT cm_status cm_instance_validate(const cm_instance *inst,
                                         cm_error *err);

/* 64-bit FNV-1a hash of an id string, never 0 (used for elder ids). */
CM_EXPORT uint64_t cm_id_hash(const char *s);

/* Names used on the wire ("emergency", "available", ...): static
 * strings. */
CM_EXPORT const char *cm_urgency_name(cm_urgency u);
CM_EXPORT int cm_urgency_parse(const char *s); /* -1 when unknown */
CM_EXPORT const char *cm_worker_status_name(cm_worker_status s);
CM_EXPORT int cm_worker_status_parse(const char *s); /* -1 when unknown */

#ifdef __cplusplus
}
#endif
#endif
