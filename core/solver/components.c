/* components.c -- connected components of the active candidate graph
 * (requests and workers joined by edges), with a solve order: the most
 * urgent first, then the largest. Districts rarely touch, so components
 * are many and small except at the peak. */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "base/sort.h"
#include "stages.h"

static int find(int *parent, int x) {
  while (parent[x] != x) {
    parent[x] = parent[parent[x]];
    x = parent[x];
  }
  return x;
}

static void unite(int *parent, int a, int b) {
  a = find(parent, a);
  b = find(parent, b);
  if (a != b) {
    if (a < b)
      parent[b] = a;
    else
      parent[a] = b;
  }
}

typedef struct order_ctx {
  const cm__problem *p;
  const cm__components *c;
} order_ctx;

static int best_urgency(const cm__problem *p, const cm__components *c, int k) {
  int u = CM_URGENCY_COUNT;
  for (int a = c->r_start[k]; a < c->r_start[k + 1]; a++)
    if ((int)p->inst->requests[c->reqs[a]].urgency < u)
      u = p->inst->requests[c->reqs[a]].urgency;
  return u;
}

static int by_solve_order(const void *vctx, int a, int b) {
  const order_ctx *o = vctx;
  int ua = best_urgency(o->p, o->c, a), ub = best_urgency(o->p, o->c, b);
  if (ua != ub)
    return ua < ub ? -1 : 1;
  int sa = o->c->r_start[a + 1] - o->c->r_start[a];
  int sb = o->c->r_start[b + 1] - o->c->r_start[b];
  if (sa != sb)
    return sa > sb ? -1 : 1;
  return (a > b) - (a < b);
}

/* A request with at least one edge: a member of some component. */
static int has_edges(const cm__problem *p, const unsigned char *active, int i) {
  return active[i] && p->r_start[i] != p->r_start[i + 1];
}

/* The union-find forest over requests (0..nr-1) and workers (nr..): each
 * active request joined with its workers. */
static void link_edges(const cm__problem *p, const unsigned char *active,
                       int *parent) {
  for (int v = 0; v < p->nr + p->nw; v++)
    parent[v] = v;
  for (int e = 0; e < p->ne; e++)
    if (active[p->e_req[e]])
      unite(parent, p->e_req[e], p->nr + p->e_wrk[e]);
}

/* Numbers the components by their smallest member into id[root] (all 0 when
 * single); member requests counted in *nreq. Returns the components. */
static int number_components(const cm__problem *p, const unsigned char *active,
                             int single, int *parent, int *id, int *nreq) {
  int n = 0;
  for (int v = 0; v < p->nr + p->nw; v++)
    id[v] = -1;
  *nreq = 0;
  for (int i = 0; i < p->nr; i++) {
    if (!has_edges(p, active, i))
      continue;
    int root = find(parent, i);
    if (id[root] < 0)
      id[root] = single ? 0 : n++;
    if (single)
      n = 1;
    (*nreq)++;
  }
  return n;
}

/* Each worker's component into wcomp (-1: in none). Returns the workers in
 * some component. */
static int worker_components(const cm__problem *p, int *parent, const int *id,
                             int *wcomp) {
  int nwrk = 0;
  for (int j = 0; j < p->nw; j++) {
    wcomp[j] = -1;
    if (p->w_start[j] == p->w_start[j + 1])
      continue;
    int root = find(parent, p->nr + j);
    if (root < p->nr && id[root] >= 0) {
      wcomp[j] = id[root];
      nwrk++;
    }
  }
  return nwrk;
}

/* c's arrays for n components of nreq requests and nwrk workers. Returns
 * 0, or -1 out of memory (what was allocated stays in c). */
static int components_alloc(cm__components *c, int n, int nreq, int nwrk) {
  c->n = n;
  c->r_start = calloc((size_t)n + 1, sizeof *c->r_start);
  c->w_start = calloc((size_t)n + 1, sizeof *c->w_start);
  c->reqs = cm__malloc_array(nreq, sizeof *c->reqs);
  c->wrks = cm__malloc_array(nwrk, sizeof *c->wrks);
  c->order = cm__malloc_array(n, sizeof *c->order);
  return c->r_start && c->w_start && c->reqs && c->wrks && c->order ? 0 : -1;
}

/* The members of each component, ascending, in c->reqs and c->wrks with
 * their starts (c->order serves as the slot counters). */
static void components_fill(const cm__problem *p, const unsigned char *active,
                            int *parent, const int *id, const int *wcomp,
                            cm__components *c) {
  int n = c->n;
  for (int i = 0; i < p->nr; i++)
    if (has_edges(p, active, i))
      c->r_start[id[find(parent, i)] + 1]++;
  for (int j = 0; j < p->nw; j++)
    if (wcomp[j] >= 0)
      c->w_start[wcomp[j] + 1]++;
  for (int k = 0; k < n; k++) {
    c->r_start[k + 1] += c->r_start[k];
    c->w_start[k + 1] += c->w_start[k];
  }
  for (int k = 0; k < n; k++)
    c->order[k] = c->r_start[k];
  for (int i = 0; i < p->nr; i++)
    if (has_edges(p, active, i))
      c->reqs[c->order[id[find(parent, i)]]++] = i;
  for (int k = 0; k < n; k++)
    c->order[k] = c->w_start[k];
  for (int j = 0; j < p->nw; j++)
    if (wcomp[j] >= 0)
      c->wrks[c->order[wcomp[j]]++] = j;
}

int cm__components_build(const cm__problem *p, const unsigned char *active,
                         int single, cm__components *c) {
  memset(c, 0, sizeof *c);
  int nodes = p->nr + p->nw, nreq, rc = -1;
  int *parent = cm__malloc_array(nodes, sizeof *parent);
  int *id = cm__malloc_array(nodes, sizeof *id);
  int *wcomp = cm__malloc_array(p->nw, sizeof *wcomp);
  if (parent && id && wcomp) {
    link_edges(p, active, parent);
    int n = number_components(p, active, single, parent, id, &nreq);
    int nwrk = worker_components(p, parent, id, wcomp);
    if (components_alloc(c, n, nreq, nwrk) == 0) {
      components_fill(p, active, parent, id, wcomp, c);
      for (int k = 0; k < n; k++)
        c->order[k] = k;
      order_ctx o = {p, c};
      cm__sort_ints(c->order, n, by_solve_order, &o);
      rc = 0;
    }
  }
  if (rc != 0)
    cm__components_free(c);
  free(parent);
  free(id);
  free(wcomp);
  return rc;
}

void cm__components_free(cm__components *c) {
  free(c->r_start);
  free(c->reqs);
  free(c->w_start);
  free(c->wrks);
  free(c->order);
  memset(c, 0, sizeof *c);
}
