/* netsimplex.c -- primal network simplex for one-person components, the
 * other engine of cm__net beside successive shortest paths (netflow.c).
 *
 * When staff are scarce every route of successive shortest paths explores
 * most of the component, and the network simplex is about three times
 * faster. The network is the same: request i -> worker j (edge cost, cap
 * 1), i -> T (penalty, cap 1), j -> T (cost 0, cap = free capacity); each
 * request supplies 1 and T takes them all. The first tree, rooted at T, is
 * the greedy floor's answer (a warm start, no artificial arcs) laid out so
 * it is strongly feasible; the leaving arc is chosen as the last blocking
 * arc of the cycle from its apex (Cunningham's rule), which keeps every
 * tree strongly feasible and rules out cycling on the degenerate pivots an
 * assignment is full of. The entering arc comes from a block search over
 * the arcs (the most violating in each block of about sqrt(m)).
 *
 * The tree is kept as parent pointers with child lists; a pivot re-hangs
 * the cut subtree and shifts its potentials by the entering arc's reduced
 * cost. Every flow it holds is feasible, so a deadline that cuts in leaves
 * a feasible (if not optimal) assignment. The answer is written into the
 * cm__net in the form the rest expects: asg, load and node potentials in
 * successive shortest paths' convention (see cm__net_simplex). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "netflow.h"

enum { AT_LOWER = 1, IN_TREE = 0, AT_UPPER = -1 };

typedef struct ns {
  int nodes, arcs; /* requests, workers, then T = nodes - 1, the root */
  int *tail, *head, *cap, *flow;
  double *cost;
  signed char *state;
  int *parent, *pred; /* tree: parent node and the arc to it (-1 at root) */
  signed char *up;    /* 1: pred arc points node -> parent */
  int *child, *next, *prev; /* first child, siblings */
  int *depth;
  double *pi;    /* rc(a) = cost - pi[tail] + pi[head] */
  int *stack;    /* subtree walks */
  int block, at; /* block search: block size, where the next scan starts */
  double tol;    /* a violation smaller than this is rounding */
} ns;

static void ns_free(ns *s) {
  free(s->tail);
  free(s->head);
  free(s->cap);
  free(s->flow);
  free(s->cost);
  free(s->state);
  free(s->parent);
  free(s->pred);
  free(s->up);
  free(s->child);
  free(s->next);
  free(s->prev);
  free(s->depth);
  free(s->pi);
  free(s->stack);
}

static int ns_alloc(ns *s, int nodes, int arcs) {
  memset(s, 0, sizeof *s);
  s->nodes = nodes;
  s->arcs = arcs;
  size_t a = (size_t)arcs, v = (size_t)nodes;
  s->tail = malloc(a * sizeof *s->tail);
  s->head = malloc(a * sizeof *s->head);
  s->cap = malloc(a * sizeof *s->cap);
  s->flow = calloc(a, sizeof *s->flow);
  s->cost = malloc(a * sizeof *s->cost);
  s->state = malloc(a);
  s->parent = malloc(v * sizeof *s->parent);
  s->pred = malloc(v * sizeof *s->pred);
  s->up = malloc(v);
  s->child = malloc(v * sizeof *s->child);
  s->next = malloc(v * sizeof *s->next);
  s->prev = malloc(v * sizeof *s->prev);
  s->depth = malloc(v * sizeof *s->depth);
  s->pi = malloc(v * sizeof *s->pi);
  s->stack = malloc(v * sizeof *s->stack);
  if (!s->tail || !s->head || !s->cap || !s->flow || !s->cost || !s->state ||
      !s->parent || !s->pred || !s->up || !s->child || !s->next || !s->prev ||
      !s->depth || !s->pi || !s->stack) {
    ns_free(s);
    return -1;
  }
  return 0;
}

static void add_arc(ns *s, int a, int u, int v, int cap, double cost) {
  s->tail[a] = u;
  s->head[a] = v;
  s->cap[a] = cap;
  s->cost[a] = cost;
  s->state[a] = AT_LOWER;
}

static void link_child(ns *s, int v, int p) {
  s->parent[v] = p;
  s->prev[v] = -1;
  s->next[v] = s->child[p];
  if (s->child[p] >= 0)
    s->prev[s->child[p]] = v;
  s->child[p] = v;
}

static void unlink_child(ns *s, int v) {
  int p = s->parent[v];
  if (s->prev[v] >= 0)
    s->next[s->prev[v]] = s->next[v];
  else
    s->child[p] = s->next[v];
  if (s->next[v] >= 0)
    s->prev[s->next[v]] = s->prev[v];
}

/* The local arc of request i's edge to worker node wnode, or -1. */
static int arc_to(const cm__net *n, int i, int wnode) {
  for (int k = n->l_start[i]; k < n->l_start[i + 1]; k++)
    if (n->l_node[k] == wnode)
      return k;
  return -1;
}

/* Depths and potentials of the whole tree, from the root down. */
static void tree_labels(ns *s, int root) {
  int top = 0;
  s->stack[top++] = root;
  while (top > 0) {
    int u = s->stack[--top];
    for (int c = s->child[u]; c >= 0; c = s->next[c]) {
      int e = s->pred[c];
      s->depth[c] = s->depth[u] + 1;
      /* tree arcs have rc = cost - pi[tail] + pi[head] = 0 */
      s->pi[c] = s->up[c] ? s->pi[u] + s->cost[e] : s->pi[u] - s->cost[e];
      s->stack[top++] = c;
    }
  }
}

/* Hang request i (its edge arc k to a worker, or its penalty arc when k <
 * 0) or worker node v from parent p by arc e, pointing up or not. */
static void hang(ns *s, int v, int p, int e, int up, int flow) {
  s->pred[v] = e;
  s->up[v] = (signed char)up;
  s->flow[e] = flow;
  s->state[e] = IN_TREE;
  link_child(s, v, p);
}

/* The floor's arc per local request into edge[] (-1: unassigned) and its
 * jobs per local worker into load[]. Returns 0, or 1 when the floor does
 * not fit the component's free capacity (then start cold). floor may be
 * NULL (everything unassigned). */
static int start_floor(const cm__net *n, const cm__solution *floor, int *edge,
                       int *load) {
  int nr = n->nr;
  for (int j = 0; j < n->nw; j++)
    load[j] = 0;
  for (int i = 0; i < nr; i++) {
    edge[i] = -1;
    if (!floor || !floor->served[n->reqs[i]])
      continue;
    for (int k = n->l_start[i]; k < n->l_start[i + 1]; k++)
      if (floor->x[n->l_edge[k]])
        edge[i] = k;
    if (edge[i] >= 0 && ++load[n->l_node[edge[i]] - nr] >
                            (n->freecap[n->l_node[edge[i]] - nr] > 0
                                 ? n->freecap[n->l_node[edge[i]] - nr]
                                 : 0))
      return 1;
  }
  return 0;
}

/* The hint's start (cm_solve_options.hint, indexed by global request): in
 * priority order each request takes its hinted worker when that worker is
 * in the component, still a candidate of the request and has capacity
 * left; a request the hint left unassigned (-1) starts unassigned; any
 * other (unknown, gone, full, no longer a candidate) takes the floor's arc
 * fedge[i] (NULL: none) when its worker still has room, else starts
 * unassigned. Fills edge[] and load[] as start_floor; returns the number of
 * requests placed on their hinted worker. */
static int start_hint(const cm__net *n, const int *hint, const int *fedge,
                      int *edge, int *load) {
  const cm__problem *p = n->p;
  int nr = n->nr, placed = 0;
  for (int j = 0; j < n->nw; j++)
    load[j] = 0;
  for (int i = 0; i < nr; i++) { /* the hint first: it decides */
    int w = hint[n->reqs[i]];
    edge[i] = w == -1 ? -1 : -2; /* -2: not decided yet */
    if (w < 0 || w >= p->nw || n->wloc[w] < 0)
      continue;
    int j = n->wloc[w], k = arc_to(n, i, n->nr + j);
    if (k >= 0 && load[j] < n->freecap[j]) {
      edge[i] = k;
      load[j]++;
      placed++;
    }
  }
  for (int i = 0; i < nr; i++) { /* the rest: the floor's choice if it fits, */
    if (edge[i] != -2)           /* else the cheapest worker with room */
      continue;
    edge[i] = -1;
    if (fedge && fedge[i] >= 0 &&
        load[n->l_node[fedge[i]] - nr] < n->freecap[n->l_node[fedge[i]] - nr])
      edge[i] = fedge[i];
    for (int k = n->l_start[i]; k < n->l_start[i + 1] && edge[i] < 0; k++)
      if (load[n->l_node[k] - nr] < n->freecap[n->l_node[k] - nr])
        edge[i] = k;
    if (edge[i] >= 0)
      load[n->l_node[edge[i]] - nr]++;
  }
  return placed;
}

/* The shifted cost of a start: its arcs, the penalty arcs of the rest. */
static double start_cost(const cm__net *n, const int *edge) {
  double c = 0;
  for (int i = 0; i < n->nr; i++)
    c += edge[i] >= 0 ? n->l_cost[edge[i]]
                      : n->p->penalty[n->reqs[i]] - n->shift[i];
  return c;
}

/* The network of the component and a strongly feasible first tree rooted
 * at T (every tree arc at its capacity points to the root, every empty one
 * away from it, so a positive flow can reach every node from the root),
 * laid out from a feasible start (edge[i]: request i's local arc, -1
 * unassigned; load[j]: its jobs per worker, within the free capacity):
 * each request the start leaves out hangs from T by its saturated penalty
 * arc; each one it assigns hangs from its worker by the saturated edge; a
 * worker with jobs hangs from T by its capacity arc, one without from a
 * request of its by an empty edge. Arcs: the edges, then a penalty arc per
 * request, then a capacity arc per worker. Returns 0, 1 when the tree
 * cannot be laid out (not built), -1 when out of memory. */
static int ns_build(ns *s, const cm__net *n, const int *edge, const int *load) {
  const cm__problem *p = n->p;
  int nr = n->nr, nw = n->nw, T = nr + nw;
  int ne = n->l_start[nr], m = ne + nr + nw;
  if (ns_alloc(s, T + 1, m) != 0)
    return -1;
  int a = 0;
  for (int i = 0; i < nr; i++)
    for (int k = n->l_start[i]; k < n->l_start[i + 1]; k++)
      add_arc(s, a++, i, n->l_node[k], 1, n->l_cost[k]);
  for (int i = 0; i < nr; i++)
    add_arc(s, a++, i, T, 1, p->penalty[n->reqs[i]] - n->shift[i]);
  for (int j = 0; j < nw; j++)
    add_arc(s, a++, nr + j, T, n->freecap[j] > 0 ? n->freecap[j] : 0, 0.0);
  for (int v = 0; v <= T; v++)
    s->child[v] = -1;
  s->parent[T] = -1;
  s->pred[T] = -1;
  s->depth[T] = 0;
  s->pi[T] = 0.0;
  for (int j = 0; j < nw; j++) /* workers with jobs: from T */
    if (load[j] > 0)
      hang(s, nr + j, T, ne + nr + j, 1, load[j]);
  for (int i = 0; i < nr; i++) {
    if (edge[i] >= 0)
      hang(s, i, n->l_node[edge[i]], edge[i], 1, 1);
    else
      hang(s, i, T, ne + i, 1, 1);
  }
  for (int j = 0; j < nw; j++) { /* idle workers: from a request of theirs */
    if (load[j] > 0)
      continue;
    int g = n->wrks[j], k = -1;
    for (int q = p->w_start[g]; q < p->w_start[g + 1] && k < 0; q++) {
      int i = n->rloc[p->e_req[p->w_edges[q]]];
      if (i >= 0)
        k = arc_to(n, i, nr + j);
    }
    if (k < 0) /* no edge of the component: cannot happen */
      return 1;
    hang(s, nr + j, s->tail[k], k, 0, 0);
  }
  tree_labels(s, T);
  double top = 1.0;
  for (int e = 0; e < m; e++)
    top = fabs(s->cost[e]) > top ? fabs(s->cost[e]) : top;
  s->tol = 1e-9 * top;
  s->block = (int)sqrt((double)m);
  if (s->block < 10)
    s->block = 10;
  s->at = 0;
  return 0;
}

/* The entering arc: the most violating of the first block (wrapping) that
 * has one; -1 when no arc violates beyond rounding (optimal). A tree arc
 * has state 0, so it never violates. */
static int find_entering(ns *s) {
  int best = -1, seen = 0;
  double min = -s->tol;
  const int *tail = s->tail, *head = s->head;
  const double *cost = s->cost, *pi = s->pi;
  const signed char *state = s->state;
  for (int k = 0, a = s->at; k < s->arcs;
       k++, a = a + 1 < s->arcs ? a + 1 : 0) {
    double c = state[a] * (cost[a] - pi[tail[a]] + pi[head[a]]);
    if (c < min) {
      min = c;
      best = a;
    }
    if (++seen == s->block) {
      if (best >= 0) {
        s->at = a + 1 < s->arcs ? a + 1 : 0;
        return best;
      }
      seen = 0;
    }
  }
  return best;
}

static int residual_up(const ns *s, int v) { /* flow moving v -> parent */
  int e = s->pred[v];
  return s->up[v] ? s->cap[e] - s->flow[e] : s->flow[e];
}

static int residual_down(const ns *s, int v) { /* flow moving parent -> v */
  int e = s->pred[v];
  return s->up[v] ? s->flow[e] : s->cap[e] - s->flow[e];
}

/* Shift the potentials of the subtree rooted at v by d and set its depths
 * from v's. */
static void subtree_update(ns *s, int v, double d) {
  int top = 0;
  s->stack[top++] = v;
  while (top > 0) {
    int u = s->stack[--top];
    s->pi[u] += d;
    if (u != v)
      s->depth[u] = s->depth[s->parent[u]] + 1;
    for (int c = s->child[u]; c >= 0; c = s->next[c])
      s->stack[top++] = c;
  }
}

/* One pivot on entering arc a. */
static void pivot(ns *s, int a) {
  int first, second;
  if (s->state[a] == AT_LOWER)
    first = s->tail[a], second = s->head[a];
  else
    first = s->head[a], second = s->tail[a];
  int u = first, v = second;
  while (u != v) { /* the apex */
    if (s->depth[u] > s->depth[v])
      u = s->parent[u];
    else if (s->depth[v] > s->depth[u])
      v = s->parent[v];
    else
      u = s->parent[u], v = s->parent[v];
  }
  int join = u;
  /* the last blocking arc from the apex: flow runs join -> first (down),
     the entering arc, second -> join (up) */
  int delta = s->cap[a], out = -1, side = 0;
  for (u = first; u != join; u = s->parent[u]) {
    int d = residual_down(s, u);
    if (d < delta)
      delta = d, out = u, side = 1;
  }
  for (u = second; u != join; u = s->parent[u]) {
    int d = residual_up(s, u);
    if (d <= delta)
      delta = d, out = u, side = 2;
  }
  if (delta > 0) {
    int sign = s->state[a] == AT_LOWER ? 1 : -1;
    s->flow[a] += sign * delta;
    for (u = first; u != join; u = s->parent[u])
      s->flow[s->pred[u]] += s->up[u] ? -delta : delta;
    for (u = second; u != join; u = s->parent[u])
      s->flow[s->pred[u]] += s->up[u] ? delta : -delta;
  }
  if (side == 0) { /* the entering arc goes to its other bound */
    s->state[a] = -s->state[a];
    return;
  }
  /* the subtree below the leaving arc re-hangs from the entering arc: the
     path from u_in (first or second) up to out is reversed */
  int u_in = side == 1 ? first : second, u_new = side == 1 ? second : first;
  int e_out = s->pred[out];
  s->state[e_out] = s->flow[e_out] == 0 ? AT_LOWER : AT_UPPER;
  s->state[a] = IN_TREE;
  /* the entering arc's reduced cost, as seen from u_in's side */
  double rc = s->cost[a] - s->pi[s->tail[a]] + s->pi[s->head[a]];
  double shift = s->tail[a] == u_in ? rc : -rc;
  int prev_node = u_new, prev_arc = a;
  signed char prev_up = s->tail[a] == u_in;
  u = u_in;
  for (;;) {
    int up_parent = s->parent[u], up_arc = s->pred[u];
    signed char up_dir = s->up[u];
    unlink_child(s, u);
    link_child(s, u, prev_node);
    s->pred[u] = prev_arc;
    s->up[u] = prev_up;
    if (u == out)
      break;
    /* the old parent arc now points the other way round the tree */
    prev_node = u;
    prev_arc = up_arc;
    prev_up = !up_dir;
    u = up_parent;
  }
  s->depth[u_in] = s->depth[u_new] + 1;
  subtree_update(s, u_in, shift);
}

/* Write the optimum (or the feasible flow a deadline left) into n. */
static void ns_export(const ns *s, cm__net *n) {
  int nr = n->nr, nw = n->nw, T = nr + nw;
  for (int j = 0; j < nw; j++) {
    n->load[j] = 0;
    n->whead[j] = -1;
  }
  for (int i = 0; i < nr; i++) {
    n->asg[i] = -1;
    for (int k = n->l_start[i]; k < n->l_start[i + 1]; k++)
      if (s->flow[k] > 0) {
        int j = n->l_node[k] - nr;
        n->asg[i] = n->l_edge[k];
        n->load[j]++;
        n->rprev[i] = -1;
        n->rnext[i] = n->whead[j];
        if (n->whead[j] >= 0)
          n->rprev[n->whead[j]] = i;
        n->whead[j] = i;
      }
  }
  /* successive shortest paths' potentials: rc = c' + pot[u] - pot[v] on
     the same shifted costs c', so pot = -pi */
  for (int v = 0; v <= T; v++)
    n->pot[v] = -s->pi[v];
  n->routed = nr;
}

/* The start: the floor's answer, or with a hint the cheaper of the floor's
 * and the hint's (start_hint), so the first tree never costs more than the
 * floor's and every cut leaves an answer at least as good; the empty start
 * when the floor does not fit. Returns 0 or -1 (out of memory). */
static int ns_start(ns *s, cm__net *n, const cm__solution *floor,
                    const int *hint) {
  int nr = n->nr, nw = n->nw, rc = -1;
  int *fedge = malloc((size_t)(nr > 0 ? nr : 1) * sizeof *fedge);
  int *fload = malloc((size_t)(nw > 0 ? nw : 1) * sizeof *fload);
  int *hedge = hint ? malloc((size_t)(nr > 0 ? nr : 1) * sizeof *hedge) : NULL;
  int *hload = hint ? malloc((size_t)(nw > 0 ? nw : 1) * sizeof *hload) : NULL;
  if (!fedge || !fload || (hint && (!hedge || !hload)))
    goto done;
  int fits = start_floor(n, floor, fedge, fload) == 0;
  if (!fits) /* the floor does not fit this component: start cold */
    start_floor(n, NULL, fedge, fload);
  const int *edge = fedge, *load = fload;
  n->hinted = 0;
  if (hint) {
    int placed = start_hint(n, hint, fits ? fedge : NULL, hedge, hload);
    if (start_cost(n, hedge) < start_cost(n, fedge)) {
      edge = hedge;
      load = hload;
      n->hinted = placed;
    }
  }
  rc = ns_build(s, n, edge, load);
  if (rc == 1) { /* cannot happen; cold as a last resort */
    ns_free(s);
    start_floor(n, NULL, fedge, fload);
    n->hinted = 0;
    rc = ns_build(s, n, fedge, fload);
    if (rc == 1)
      ns_free(s);
  }
done:
  free(fedge);
  free(fload);
  free(hedge);
  free(hload);
  return rc == 0 ? 0 : -1;
}

int cm__net_simplex(cm__net *n, const cm__solution *floor,
                    const cm__clock *clk) {
  return cm__net_simplex_hint(n, floor, NULL, clk);
}

int cm__net_simplex_hint(cm__net *n, const cm__solution *floor, const int *hint,
                         const cm__clock *clk) {
  ns s;
  if (ns_start(&s, n, floor, hint) != 0)
    return -1;
  int done = 1;
  long it = 1;
  for (;; it++) {
    if ((it & 63) == 0 && clk && cm__clock_expired(clk)) {
      done = 0;
      break;
    }
    int a = find_entering(&s);
    if (a < 0)
      break;
    pivot(&s, a);
  }
  n->pivots = it - 1;
  ns_export(&s, n);
  ns_free(&s);
  return done;
}
