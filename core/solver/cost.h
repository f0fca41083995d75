/* cost.h -- pieces of the edge cost shared by cm_edge_cost and the
 * candidate search's fast pricing (which avoids touching a worker's record
 * on the hot path). Internal. */
#ifndef CM_COST_H_INCLUDED_
#define CM_COST_H_INCLUDED_

#include <stdint.h>

#include "carematch/model.h"

/* The terms that do not depend on the request: workload, rating, level. */
double cm__worker_fixed_cost(const cm_weights *k, const cm_worker *w);
/* 1 when the worker served this elder recently (elder 0: never). */
int cm__served_elder(const cm_worker *w, uint64_t elder);
/* The edge's service-level term: sla_late_per_min[u] times the minutes by
 * which travel_min puts the arrival past the target, beyond the lateness
 * the request has already accrued (that is in its penalty). */
double cm__sla_edge_cost(const cm_weights *k, const cm_request *r,
                         double travel_min);
/* 1 when x is among list[0..n). */
int cm__in_list(const int *list, int n, int x);

#endif
