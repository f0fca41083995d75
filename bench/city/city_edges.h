/* city_edges.h -- a positions-mode instance written out in edge mode.
 *
 * The candidate graph that cm_solve searches for itself (per request the K x
 * staff nearest eligible workers within its radius), computed here with the
 * public pieces of solve.h and set as the instance's explicit edges, so
 * cm_solve in edge mode and an outside solver see the very same edges. */
#ifndef CM_CITY_EDGES_H_INCLUDED_
#define CM_CITY_EDGES_H_INCLUDED_

#include "carematch/error.h"
#include "carematch/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Append to inst the edges of its candidate graph and switch it to edge
 * mode (has_edges = 1). For request r: the workers w with
 * cm_worker_eligible(inst, r, w) and cm_geo_distance_km(r, w) <=
 * cm_request_radius_km(&inst->params, r), the params.k * staff nearest
 * (ties: lower worker index first), each with travel_min =
 * cm_travel_minutes(&inst->params, distance). Edges are grouped by request
 * in request order, nearest first. Positions stay set. Returns 0; or -1
 * with err set: CM_E_CONFLICT when inst already has edges, CM_E_MISSING when
 * a request or worker has no position, CM_E_NOMEM (the edges appended so far
 * are kept). */
int cm_city_to_edges(cm_instance *inst, cm_error *err);

#ifdef __cplusplus
}
#endif
#endif
