/* netflow.h -- exact min-cost assignment of one-person requests by
 * successive shortest paths (Dijkstra on reduced costs with node
 * potentials), under a deadline. Internal.
 *
 * Network: request i -> worker j (edge cost), request i -> T (unassigned
 * penalty), worker j -> T (free capacity). Requests are routed one at a
 * time in priority order; after each one the routed part is optimal, so a
 * deadline cut leaves the most urgent requests optimally placed and the
 * potentials still price a valid dual bound. The final potentials and the
 * shortest-path tree to T give a spanning-tree basis that is both primal
 * and dual feasible, which GLPK's simplex confirms without pivoting. */
#ifndef CM_NETFLOW_H_INCLUDED_
#define CM_NETFLOW_H_INCLUDED_

#include "problem.h"

typedef struct cm__net {
  const cm__problem *p;
  int nr, nw;         /* local requests and workers; node T = nr + nw */
  const int *reqs;    /* local -> global request, in priority order */
  const int *wrks;    /* local -> global worker */
  int *rloc;          /* global request -> local, -1 (size p->nr, borrowed) */
  int *wloc;          /* global worker -> local, -1 (size p->nw, borrowed) */
  int *asg;           /* nr: global edge, -1 unassigned, -2 not routed */
  int *load;          /* nw: assigned here */
  int *whead;         /* nw: first local request assigned to the worker */
  int *rnext, *rprev; /* nr: the worker's other assigned requests */
  int *freecap;       /* nw: capacity left for this component */
  double *shift;      /* nr: per-request cost offset (min(P, cheapest)) */
  int *l_start;       /* nr+1: request i's edges are l_start[i]..[i+1]-1 */
  int *l_node;        /* its edges' worker nodes (nr + local worker) */
  int *l_edge;        /* their global edge ids */
  double *l_cost;     /* their costs less the request's shift: the search
                         reads these in order, not the problem's arrays */
  double *pot;        /* nr+nw+1: node potentials (reduced costs use
                         differences only) */
  int routed;         /* requests routed so far */
  long pivots;        /* network simplex: pivots made (0 for successive
                         shortest paths) */
  int hinted;         /* network simplex: requests its first tree placed
                         on the worker a hint gave them */
  /* Dijkstra scratch */
  double *dist;
  int *pred;   /* predecessor node */
  int *pred_e; /* edge used to reach the node, -1 for arcs to T */
  int *stamp;
  int round;
  int *settled;
  int nsettled;
  struct cm__heap_item *heap;
  int nheap, capheap;
} cm__net;

/* Set up for the component (reqs must be in priority order, all staff 1).
 * rloc/wloc are caller scratch of sizes p->nr/p->nw filled with -1; they
 * are restored on cm__net_free. Returns 0 or -1 (out of memory). */
int cm__net_init(cm__net *n, const cm__problem *p, const int *load_outside,
                 const int *reqs, int nr, const int *wrks, int nw, int *rloc,
                 int *wloc);
void cm__net_free(cm__net *n);
/* Route requests until all are routed or the deadline passes. Returns 1
 * when complete, 0 when cut by the deadline, -1 when out of memory. */
int cm__net_run(cm__net *n, const cm__clock *clk);
/* The same optimum by the primal network simplex (netsimplex.c), faster
 * when staff are scarce, started from floor's answer for the component's
 * requests (NULL: all unassigned). Same contract as cm__net_run; on a cut
 * the flow is feasible, at least as good as the floor's, not optimal (asg
 * holds it, routed = nr). */
int cm__net_simplex(cm__net *n, const cm__solution *floor,
                    const cm__clock *clk);
/* The same, warm-started from a previous answer (cm_solve_options.hint,
 * indexed by global request; NULL: as cm__net_simplex): the first tree is
 * the cheaper of the floor's answer and the hint's assignment repaired for
 * this component (a hinted worker gone, full or no longer a candidate:
 * the floor's choice if it fits, else unassigned), so it never costs more
 * than the floor's. The same optimum; n->hinted says how many requests
 * started on their hinted worker. */
int cm__net_simplex_hint(cm__net *n, const cm__solution *floor, const int *hint,
                         const cm__clock *clk);
/* Worker prices for the dual bound, indexed by global worker (only the
 * component's workers are written). */
void cm__net_prices(const cm__net *n, double *price);

/* Spanning-tree basis: for each local node (request i, worker nr+j) the
 * arc to its parent on a shortest path to T: kind and edge. */
enum { CM__ARC_FWD = 0, CM__ARC_REV, CM__ARC_REQ_T, CM__ARC_WRK_T };
int cm__net_tree(cm__net *n, int *kind, int *edge);

#endif
