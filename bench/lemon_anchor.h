/* lemon_anchor.h -- bench_solve's outside anchor: the batch LP of an
 * edge-mode instance solved as a min-cost flow by LEMON.
 *
 * Built only when CMake finds LEMON's headers (CM_HAVE_LEMON is then
 * defined for bench_solve); lemon_anchor.cc is the project's one C++ file.
 * The network: a node per request (supply 1), per worker and one sink
 * (demand: every request); arcs request -> worker for each eligible edge
 * (capacity 1, cost cm_edge_cost(...).total), request -> sink (capacity 1,
 * cost cm_request_penalty: left unassigned) and worker -> sink (capacity:
 * the worker's capacity, cost 0). Its optimum is cm_solve's objective. */
#ifndef CM_LEMON_ANCHOR_H_INCLUDED_
#define CM_LEMON_ANCHOR_H_INCLUDED_

#include <stddef.h>

#include "carematch/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cm_lemon_result {
  double build_ms;     /* the graph, prices (cm_edge_cost, cm_request_penalty)
                          and the capacity, cost and supply maps */
  double solve_ms;     /* NetworkSimplex: set up and run */
  double cs_solve_ms;  /* CostScaling on the same graph, its costs scaled
                          again (see lemon_anchor.cc); NAN when not run */
  double objective;    /* NetworkSimplex's flow priced in double: edge costs
                          plus penalties of the requests left out */
  double cs_objective; /* the same for CostScaling; NAN when not run */
  double cost_scale;   /* LEMON takes integer costs: cost x this, rounded
                          (NetworkSimplex's) */
  int served;          /* requests routed to a worker (NetworkSimplex) */
  int nodes, arcs;     /* size of the network */
} cm_lemon_result;

/* Solve inst as a min-cost flow with NetworkSimplex, and also with
 * CostScaling when cost_scaling is set. inst must be in edge mode (see
 * city_edges.h) with one-person requests only; an edge to a worker that
 * cm_worker_eligible refuses is left out, as cm_solve does. Returns 0 with
 * *out filled, or -1 with msg set (not edge mode, a team request, LEMON not
 * reporting an optimum, out of memory). */
int cm_lemon_solve(const cm_instance *inst, int cost_scaling,
                   cm_lemon_result *out, char *msg, size_t msg_len);

#ifdef __cplusplus
}
#endif
#endif
