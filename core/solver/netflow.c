/* netflow.c -- successive shortest paths for one-person components.
 * See netflow.h for the network and the invariants. Costs are shifted per
 * request by min(P_i, cheapest edge) so every arc cost is >= 0 and zero
 * potentials start dual feasible. */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "netflow.h"

struct cm__heap_item {
  double d;
  int v;
};

/* A 4-ary min-heap on (distance, node): shallower than a binary heap, so
 * fewer cache misses per pop. Ties broken by node for determinism. */
#define HEAP_ARITY 4

static int heap_less(const struct cm__heap_item *a,
                     const struct cm__heap_item *b) {
  return a->d < b->d || (a->d == b->d && a->v < b->v);
}

static int heap_push(cm__net *n, double d, int v) {
  if (n->nheap == n->capheap) {
    int cap = n->capheap ? n->capheap * 2 : 256;
    struct cm__heap_item *h = realloc(n->heap, (size_t)cap * sizeof *h);
    if (!h)
      return -1;
    n->heap = h;
    n->capheap = cap;
  }
  struct cm__heap_item *h = n->heap, it = {d, v};
  int i = n->nheap++;
  while (i > 0) {
    int up = (i - 1) / HEAP_ARITY;
    if (!heap_less(&it, &h[up]))
      break;
    h[i] = h[up];
    i = up;
  }
  h[i] = it;
  return 0;
}

static struct cm__heap_item heap_pop(cm__net *n) {
  struct cm__heap_item *h = n->heap, top = h[0], last = h[--n->nheap];
  int i = 0, m = n->nheap;
  for (;;) {
    int c0 = HEAP_ARITY * i + 1, best = -1;
    const struct cm__heap_item *b = &last;
    for (int c = c0; c < c0 + HEAP_ARITY && c < m; c++)
      if (heap_less(&h[c], b))
        best = c, b = &h[c];
    if (best < 0)
      break;
    h[i] = h[best];
    i = best;
  }
  if (m > 0)
    h[i] = last;
  return top;
}

static double cost_(const cm__net *n, int e) {
  return n->p->e_cost[e] - n->shift[n->rloc[n->p->e_req[e]]];
}

static double pen_(const cm__net *n, int i) {
  return n->p->penalty[n->reqs[i]] - n->shift[i];
}

int cm__net_init(cm__net *n, const cm__problem *p, const int *load_outside,
                 const int *reqs, int nr, const int *wrks, int nw, int *rloc,
                 int *wloc) {
  memset(n, 0, sizeof *n);
  n->p = p;
  n->nr = nr;
  n->nw = nw;
  n->reqs = reqs;
  n->wrks = wrks;
  n->rloc = rloc;
  n->wloc = wloc;
  int nodes = nr + nw + 1;
  n->asg = cm__malloc_array(nr, sizeof *n->asg);
  n->shift = cm__malloc_array(nr, sizeof *n->shift);
  n->load = cm__calloc_array(nw, sizeof *n->load);
  n->whead = cm__malloc_array(nw, sizeof *n->whead);
  n->rnext = cm__malloc_array(nr, sizeof *n->rnext);
  n->rprev = cm__malloc_array(nr, sizeof *n->rprev);
  n->freecap = cm__malloc_array(nw, sizeof *n->freecap);
  n->pot = calloc((size_t)nodes, sizeof *n->pot);
  n->dist = malloc((size_t)nodes * sizeof *n->dist);
  n->pred = malloc((size_t)nodes * sizeof *n->pred);
  n->pred_e = malloc((size_t)nodes * sizeof *n->pred_e);
  n->stamp = calloc((size_t)nodes, sizeof *n->stamp);
  n->settled = malloc((size_t)nodes * sizeof *n->settled);
  int ne = 0;
  for (int i = 0; i < nr; i++)
    ne += p->r_start[reqs[i] + 1] - p->r_start[reqs[i]];
  n->l_start = malloc((size_t)(nr + 1) * sizeof *n->l_start);
  n->l_node = cm__malloc_array(ne, sizeof *n->l_node);
  n->l_edge = cm__malloc_array(ne, sizeof *n->l_edge);
  n->l_cost = cm__malloc_array(ne, sizeof *n->l_cost);
  if (!n->asg || !n->shift || !n->load || !n->whead || !n->rnext || !n->rprev ||
      !n->freecap || !n->pot || !n->dist || !n->pred || !n->pred_e ||
      !n->stamp || !n->settled || !n->l_start || !n->l_node || !n->l_edge ||
      !n->l_cost) {
    cm__net_free(n);
    return -1;
  }
  for (int i = 0; i < nr; i++) {
    int g = reqs[i], e0 = p->r_start[g];
    rloc[g] = i;
    n->asg[i] = -2;
    double pen = p->penalty[g];
    n->shift[i] =
        p->r_start[g + 1] > e0 && p->e_cost[e0] < pen ? p->e_cost[e0] : pen;
  }
  for (int j = 0; j < nw; j++) {
    n->whead[j] = -1;
    wloc[wrks[j]] = j;
    n->freecap[j] = p->cap[wrks[j]] - load_outside[wrks[j]];
  }
  int k = 0;
  for (int i = 0; i < nr; i++) {
    int g = reqs[i];
    n->l_start[i] = k;
    for (int e = p->r_start[g]; e < p->r_start[g + 1]; e++, k++) {
      n->l_node[k] = nr + wloc[p->e_wrk[e]];
      n->l_edge[k] = e;
      n->l_cost[k] = p->e_cost[e] - n->shift[i];
    }
  }
  n->l_start[nr] = k;
  return 0;
}

void cm__net_free(cm__net *n) {
  if (n->rloc && n->reqs)
    for (int i = 0; i < n->nr; i++)
      n->rloc[n->reqs[i]] = -1;
  if (n->wloc && n->wrks)
    for (int j = 0; j < n->nw; j++)
      n->wloc[n->wrks[j]] = -1;
  free(n->asg);
  free(n->shift);
  free(n->load);
  free(n->whead);
  free(n->rnext);
  free(n->rprev);
  free(n->freecap);
  free(n->pot);
  free(n->dist);
  free(n->pred);
  free(n->pred_e);
  free(n->stamp);
  free(n->settled);
  free(n->l_start);
  free(n->l_node);
  free(n->l_edge);
  free(n->l_cost);
  free(n->heap);
  memset(n, 0, sizeof *n);
}

/* Offer distance nd to node v via (u, e). Returns 0 or -1. */
static int relax(cm__net *n, int v, double nd, int u, int e) {
  if (n->stamp[v] == n->round && nd >= n->dist[v])
    return 0;
  n->stamp[v] = n->round;
  n->dist[v] = nd;
  n->pred[v] = u;
  n->pred_e[v] = e;
  return heap_push(n, nd, v);
}

static double nonneg(double x) {
  return x > 0 ? x : 0;
}

/* Settle outgoing arcs of node u at distance d. Returns 0 or -1. */
static int expand(cm__net *n, int u, double d) {
  int T = n->nr + n->nw;
  double *pot = n->pot;
  if (u < n->nr) {
    double du = d + pot[u];
    int skip = n->asg[u];
    for (int k = n->l_start[u]; k < n->l_start[u + 1]; k++) {
      int j = n->l_node[k];
      if (n->l_edge[k] == skip)
        continue;
      double nd = du + n->l_cost[k] - pot[j];
      if (relax(n, j, nd > d ? nd : d, u, n->l_edge[k]))
        return -1;
    }
    if (n->asg[u] != -1 &&
        relax(n, T, d + nonneg(pen_(n, u) + pot[u] - pot[T]), u, -1))
      return -1;
    return 0;
  }
  int j = u - n->nr, g = n->wrks[j];
  if (n->load[j] < n->freecap[j] &&
      relax(n, T, d + nonneg(pot[u] - pot[T]), u, -1))
    return -1;
  (void)g;
  for (int r = n->whead[j]; r >= 0; r = n->rnext[r]) { /* reverse arcs */
    int e = n->asg[r];
    if (relax(n, r, d + nonneg(-cost_(n, e) + pot[u] - pot[r]), u, e))
      return -1;
  }
  return 0;
}

/* The worker lists of assigned requests, kept with asg[]. */
static void link_req(cm__net *n, int r, int j) {
  n->rprev[r] = -1;
  n->rnext[r] = n->whead[j];
  if (n->whead[j] >= 0)
    n->rprev[n->whead[j]] = r;
  n->whead[j] = r;
}

static void unlink_req(cm__net *n, int r) {
  int j = n->wloc[n->p->e_wrk[n->asg[r]]];
  if (n->rprev[r] >= 0)
    n->rnext[n->rprev[r]] = n->rnext[r];
  else
    n->whead[j] = n->rnext[r];
  if (n->rnext[r] >= 0)
    n->rprev[n->rnext[r]] = n->rprev[r];
}

/* Route request s along a shortest path to T. Returns 0 or -1. */
static int route(cm__net *n, int s) {
  int T = n->nr + n->nw;
  /* a fresh request has no incoming residual arcs: lift its potential so
     every outgoing arc has a nonnegative reduced cost */
  double lift = n->pot[T] - pen_(n, s);
  for (int k = n->l_start[s]; k < n->l_start[s + 1]; k++) {
    double v = n->pot[n->l_node[k]] - n->l_cost[k];
    if (v > lift)
      lift = v;
  }
  n->pot[s] = lift;
  n->round++;
  n->nheap = 0;
  n->nsettled = 0;
  if (relax(n, s, 0.0, -1, -1))
    return -1;
  double dT = 0;
  while (n->nheap > 0) {
    struct cm__heap_item it = heap_pop(n);
    if (it.d > n->dist[it.v])
      continue;
    if (it.v == T) {
      dT = it.d;
      break;
    }
    if (n->dist[it.v] < 0) /* settled marker below */
      continue;
    n->settled[n->nsettled++] = it.v;
    if (expand(n, it.v, it.d))
      return -1;
    n->dist[it.v] = -1 - it.d; /* settled: never relaxed again this round */
  }
  for (int k = 0; k < n->nsettled; k++) {
    int v = n->settled[k];
    n->pot[v] += (-1 - n->dist[v]) - dT;
  }
  for (int v = T; v != s;) {
    int u = n->pred[v], e = n->pred_e[v];
    if (v == T) {
      if (u < n->nr) {
        if (n->asg[u] >= 0)
          unlink_req(n, u);
        n->asg[u] = -1;
      }
    } else if (v >= n->nr) {
      if (n->asg[u] >= 0)
        unlink_req(n, u);
      n->asg[u] = e;
      link_req(n, u, v - n->nr);
      n->load[v - n->nr]++;
    } else {
      n->load[u - n->nr]--;
    }
    v = u;
  }
  if (n->asg[s] == -2) /* routed straight to T */
    n->asg[s] = -1;
  return 0;
}

int cm__net_run(cm__net *n, const cm__clock *clk) {
  while (n->routed < n->nr) {
    if ((n->routed & 7) == 0 && clk && cm__clock_expired(clk))
      return 0;
    if (route(n, n->routed))
      return -1;
    n->routed++;
  }
  return 1;
}

void cm__net_prices(const cm__net *n, double *price) {
  int T = n->nr + n->nw;
  for (int j = 0; j < n->nw; j++)
    price[n->wrks[j]] = nonneg(n->pot[T] - n->pot[n->nr + j]);
}

int cm__net_tree(cm__net *n, int *kind, int *edge) {
  const cm__problem *p = n->p;
  int T = n->nr + n->nw;
  double *pot = n->pot;
  n->round++;
  n->nheap = 0;
  int reached = 0;
  if (relax(n, T, 0.0, -1, -1))
    return -1;
  while (n->nheap > 0) {
    struct cm__heap_item it = heap_pop(n);
    int v = it.v;
    if (it.d > n->dist[v] || n->dist[v] < 0)
      continue;
    n->dist[v] = -1 - it.d; /* settled */
    double d = it.d;
    if (v != T) {
      reached++;
      /* the arc by which v was reached is v's parent arc in the tree */
    }
    if (v == T) {
      for (int i = 0; i < n->nr; i++)
        if (n->asg[i] >= 0 &&
            relax(n, i, d + nonneg(pen_(n, i) + pot[i] - pot[T]), T,
                  -1 - CM__ARC_REQ_T))
          return -1;
      for (int j = 0; j < n->nw; j++)
        if (n->load[j] < n->freecap[j] &&
            relax(n, n->nr + j, d + nonneg(pot[n->nr + j] - pot[T]), T,
                  -1 - CM__ARC_WRK_T))
          return -1;
    } else if (v >= n->nr) { /* worker: incoming forward arcs */
      int g = n->wrks[v - n->nr];
      for (int k = p->w_start[g]; k < p->w_start[g + 1]; k++) {
        int e = p->w_edges[k], i = n->rloc[p->e_req[e]];
        if (i >= 0 && n->asg[i] != e &&
            relax(n, i, d + nonneg(cost_(n, e) + pot[i] - pot[v]), v, e))
          return -1;
      }
    } else if (n->asg[v] >= 0) { /* request: incoming reverse arc */
      int e = n->asg[v], j = n->nr + n->wloc[p->e_wrk[e]];
      if (relax(n, j, d + nonneg(-cost_(n, e) + pot[j] - pot[v]), v, e))
        return -1;
    }
  }
  if (reached != n->nr + n->nw)
    return -1;
  for (int v = 0; v < T; v++) {
    int u = n->pred[v], e = n->pred_e[v];
    if (u == T) {
      kind[v] = -1 - e; /* encoded arc kind to T */
      edge[v] = -1;
    } else {
      kind[v] = v < n->nr ? CM__ARC_FWD : CM__ARC_REV;
      edge[v] = e;
    }
  }
  return 0;
}
