/* lemon_anchor.cc -- bench_solve's outside anchor: the batch LP of an
 * edge-mode instance as a min-cost flow, solved by LEMON's NetworkSimplex
 * (and CostScaling on request).
 *
 * LEMON's min-cost flow algorithms take integer data only (documented, also
 * for a double cost type), so the costs go in as cost x scale rounded to
 * 64-bit integers, and the objective reported is the flow priced again with
 * the exact double costs. Rounding can only make LEMON pick a flow that is
 * optimal for the rounded costs: each request pays one arc (an edge or its
 * sink arc), so its true objective is at most requests / scale above the
 * optimum. NetworkSimplex takes the dearest arc to 1e11..1e12 (scale 1e8 for
 * the default weights: 5000 requests, at most 5e-5 off), within its
 * int64 bounds (artificial arcs cost (max + 1) x nodes); CostScaling
 * multiplies costs by 16 x nodes inside, so it gets 1e8..1e9 (its check is
 * 1000 times looser in the worst case, ~1e-10 measured). */
#include "lemon_anchor.h"

#include <cmath>
#include <cstdio>
#include <exception>
#include <new>
#include <utility>
#include <vector>

#include <lemon/cost_scaling.h>
#include <lemon/network_simplex.h>
#include <lemon/static_graph.h>

#include "bench_util.h"
#include "carematch/solve.h"

namespace {

typedef lemon::StaticDigraph Graph;
typedef long long Cost; /* scaled integer costs */

/* The network as an arc list in StaticDigraph's order (by source node):
 * per request its eligible edges then its sink arc, then per worker its sink
 * arc. Nodes: requests 0..nr-1, workers nr..nr+nw-1, the sink nr+nw. */
struct Network {
  int nr, nw;
  std::vector<std::pair<int, int>> arcs;
  std::vector<double> price; /* per arc: the double cost */
  std::vector<int> cap;      /* per arc: the upper bound */
};

double ms_since(int64_t t0) {
  return (double)(cm_bench_clock(NULL) - t0) / 1e6;
}

/* Fill net from inst. Returns false with msg set when inst is not an
 * edge-mode instance of one-person requests. */
bool network_arcs(const cm_instance *inst, Network &net, char *msg,
                  size_t len) {
  int nr = inst->n_requests, nw = inst->n_workers, sink = nr + nw;
  std::vector<int> start(nr + 1, 0), order(inst->n_edges);
  if (!inst->has_edges) {
    std::snprintf(msg, len, "lemon: the instance is not in edge mode");
    return false;
  }
  for (int r = 0; r < nr; r++)
    if (inst->requests[r].staff != 1) {
      std::snprintf(msg, len,
                    "lemon: request %d needs %d people (teams "
                    "are not a flow)",
                    r, inst->requests[r].staff);
      return false;
    }
  net.nr = nr;
  net.nw = nw;
  /* the edges grouped by request, in their given order */
  for (int i = 0; i < inst->n_edges; i++)
    start[inst->edges[i].request + 1]++;
  for (int r = 0; r < nr; r++)
    start[r + 1] += start[r];
  std::vector<int> next(start.begin(), start.end() - 1);
  for (int i = 0; i < inst->n_edges; i++)
    order[next[inst->edges[i].request]++] = i;
  net.arcs.reserve(inst->n_edges + nr + nw);
  net.price.reserve(inst->n_edges + nr + nw);
  net.cap.reserve(inst->n_edges + nr + nw);
  for (int r = 0; r < nr; r++) {
    for (int k = start[r]; k < start[r + 1]; k++) {
      const cm_edge_in &e = inst->edges[order[k]];
      cm_cost_terms t;
      if (!cm_worker_eligible(inst, r, e.worker))
        continue;
      /* the distance does not enter the cost */
      cm_edge_cost(inst, r, e.worker, 0.0, e.travel_min, &t);
      net.arcs.push_back(std::make_pair(r, nr + e.worker));
      net.price.push_back(t.total);
      net.cap.push_back(1);
    }
    net.arcs.push_back(std::make_pair(r, sink));
    net.price.push_back(cm_request_penalty(&inst->weights, &inst->requests[r]));
    net.cap.push_back(1);
  }
  for (int w = 0; w < nw; w++) {
    net.arcs.push_back(std::make_pair(nr + w, sink));
    net.price.push_back(0.0);
    net.cap.push_back(inst->workers[w].capacity);
  }
  return true;
}

/* The power of ten that brings the dearest arc to at most limit. */
double cost_scale(const std::vector<double> &price, double limit) {
  double top = 0.0;
  for (size_t i = 0; i < price.size(); i++)
    top = std::fmax(top, std::fabs(price[i]));
  return top > 0.0 ? std::pow(10.0, std::floor(std::log10(limit / top))) : 1.0;
}

/* The arc costs x scale, rounded. */
void scaled_costs(const Graph &g, const Network &net, double scale,
                  Graph::ArcMap<Cost> &cost) {
  for (size_t i = 0; i < net.arcs.size(); i++)
    cost[g.arc((int)i)] = std::llround(net.price[i] * scale);
}

/* A flow priced with the double costs; *served counts request -> worker
 * arcs that carry it. */
template <typename Algo>
double flow_objective(const Graph &g, const Network &net, const Algo &algo,
                      int *served) {
  double obj = 0.0;
  *served = 0;
  for (size_t i = 0; i < net.arcs.size(); i++) {
    if (net.arcs[i].first >= net.nr || algo.flow(g.arc((int)i)) <= 0)
      continue;
    obj += net.price[i];
    if (net.arcs[i].second < net.nr + net.nw)
      (*served)++;
  }
  return obj;
}

/* The whole anchor; throws std::bad_alloc when out of memory. */
int lemon_solve(const cm_instance *inst, int cost_scaling, cm_lemon_result *out,
                char *msg, size_t len) {
  int64_t t0 = cm_bench_clock(NULL);
  Network net;
  Graph g;
  if (!network_arcs(inst, net, msg, len))
    return -1;
  g.build(net.nr + net.nw + 1, net.arcs.begin(), net.arcs.end());
  Graph::ArcMap<Cost> cost(g);
  Graph::ArcMap<int> upper(g);
  Graph::NodeMap<int> supply(g, 0);
  out->cost_scale = cost_scale(net.price, 1e12);
  scaled_costs(g, net, out->cost_scale, cost);
  for (size_t i = 0; i < net.arcs.size(); i++)
    upper[g.arc((int)i)] = net.cap[i];
  for (int r = 0; r < net.nr; r++)
    supply[g.node(r)] = 1;
  supply[g.node(net.nr + net.nw)] = -net.nr;
  out->build_ms = ms_since(t0);
  out->nodes = net.nr + net.nw + 1;
  out->arcs = (int)net.arcs.size();

  t0 = cm_bench_clock(NULL);
  lemon::NetworkSimplex<Graph, int, Cost> ns(g);
  ns.upperMap(upper).costMap(cost).supplyMap(supply);
  if (ns.run() != lemon::NetworkSimplex<Graph, int, Cost>::OPTIMAL) {
    std::snprintf(msg, len, "lemon: NetworkSimplex found no optimum");
    return -1;
  }
  out->solve_ms = ms_since(t0);
  out->objective = flow_objective(g, net, ns, &out->served);

  out->cs_solve_ms = out->cs_objective = NAN;
  if (cost_scaling) {
    int served;
    t0 = cm_bench_clock(NULL);
    scaled_costs(g, net, cost_scale(net.price, 1e9), cost);
    lemon::CostScaling<Graph, int, Cost> cs(g);
    cs.upperMap(upper).costMap(cost).supplyMap(supply);
    if (cs.run() != lemon::CostScaling<Graph, int, Cost>::OPTIMAL) {
      std::snprintf(msg, len, "lemon: CostScaling found no optimum");
      return -1;
    }
    out->cs_solve_ms = ms_since(t0);
    out->cs_objective = flow_objective(g, net, cs, &served);
  }
  return 0;
}

} // namespace

extern "C" int cm_lemon_solve(const cm_instance *inst, int cost_scaling,
                              cm_lemon_result *out, char *msg, size_t msg_len) {
  try {
    return lemon_solve(inst, cost_scaling, out, msg, msg_len);
  } catch (const std::bad_alloc &) {
    std::snprintf(msg, msg_len, "lemon: out of memory");
  } catch (const std::exception &e) {
    std::snprintf(msg, msg_len, "lemon: %s", e.what());
  }
  return -1;
}
