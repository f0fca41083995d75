/* candidates.c -- builds the priced candidate graph: the K nearest eligible
 * workers of each request within its radius (or the caller's explicit
 * edges), each edge priced term by term; an edge that costs more than
 * leaving the request unassigned can never be optimal and is dropped. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grid.h"
#include "problem.h"

typedef struct cand {
  int w;
  double dist, travel, cost;
} cand;

typedef struct edge_buf {
  int *req, *wrk;
  double *cost, *dist, *travel;
  int n, cap;
} edge_buf;

static int buf_push(edge_buf *b, int r, const cand *c) {
  if (b->n == b->cap) {
    int ncap = b->cap ? b->cap * 2 : 1024;
    int *nr = realloc(b->req, (size_t)ncap * sizeof *nr);
    if (nr)
      b->req = nr;
    int *nw = realloc(b->wrk, (size_t)ncap * sizeof *nw);
    if (nw)
      b->wrk = nw;
    double *nc = realloc(b->cost, (size_t)ncap * sizeof *nc);
    if (nc)
      b->cost = nc;
    double *nd = realloc(b->dist, (size_t)ncap * sizeof *nd);
    if (nd)
      b->dist = nd;
    double *nt = realloc(b->travel, (size_t)ncap * sizeof *nt);
    if (nt)
      b->travel = nt;
    if (!nr || !nw || !nc || !nd || !nt)
      return -1;
    b->cap = ncap;
  }
  b->req[b->n] = r;
  b->wrk[b->n] = c->w;
  b->cost[b->n] = c->cost;
  b->dist[b->n] = c->dist;
  b->travel[b->n] = c->travel;
  b->n++;
  return 0;
}

static int cand_by_cost(const void *a, const void *b) {
  const cand *x = a, *y = b;
  if (x->cost != y->cost)
    return x->cost < y->cost ? -1 : 1;
  return (x->w > y->w) - (x->w < y->w);
}

/* Keep the edges of request r that can be part of an optimum; append them
 * sorted by cost. Returns 0 or -1 (out of memory). */
static int keep_request_edges(const cm__problem *p, int r, cand *c, int n,
                              edge_buf *out) {
  const cm_request *rq = &p->inst->requests[r];
  double pen = p->penalty[r];
  qsort(c, (size_t)n, sizeof *c, cand_by_cost);
  if (n < rq->staff)
    return 0;
  /* cheapest possible team besides this member */
  double rest = 0;
  for (int k = 0; k < rq->staff - 1; k++)
    rest += c[k].cost;
  int kept = 0;
  cm_skillset covered = 0;
  for (int k = 0; k < n; k++) {
    double others = rest;
    if (rq->staff > 1 && k < rq->staff - 1) /* swap self for the next one */
      others = rest - c[k].cost + c[rq->staff - 1].cost;
    if (c[k].cost + others > pen)
      continue;
    c[kept++] = c[k];
    covered |= p->inst->workers[c[k].w].skills;
  }
  if (kept < rq->staff)
    return 0;
  if (rq->staff > 1 && rq->skill_mode == CM_SKILLS_ALL &&
      (covered & rq->skills) != rq->skills)
    return 0;
  for (int k = 0; k < kept; k++)
    if (buf_push(out, r, &c[k]) != 0)
      return -1;
  return 0;
}

/* ---- positions mode: nearest-K search on the grid ---- */

typedef struct search_ctx {
  const cm__problem *p;
  int r;
  double lat, lon, radius;
  int k;
  cand *heap; /* max-heap on (dist, w), size <= k */
  int n;
} search_ctx;

static int worse(const cand *a, const cand *b) {
  return a->dist > b->dist || (a->dist == b->dist && a->w > b->w);
}

static void heap_sift_down(cand *h, int n, int i) {
  for (;;) {
    int l = 2 * i + 1, m = i;
    if (l < n && worse(&h[l], &h[m]))
      m = l;
    if (l + 1 < n && worse(&h[l + 1], &h[m]))
      m = l + 1;
    if (m == i)
      return;
    cand t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

static void accept_worker(void *vctx, int w) {
  search_ctx *s = vctx;
  if (!cm_worker_eligible(s->p->inst, s->r, w))
    return;
  const cm_worker *wk = &s->p->inst->workers[w];
  double d = cm_geo_distance_km(s->lat, s->lon, wk->lat, wk->lon);
  if (d > s->radius)
    return;
  cand c = {.w = w, .dist = d};
  if (s->n < s->k) {
    int i = s->n++;
    s->heap[i] = c;
    while (i > 0 && worse(&s->heap[i], &s->heap[(i - 1) / 2])) {
      cand t = s->heap[i];
      s->heap[i] = s->heap[(i - 1) / 2];
      s->heap[(i - 1) / 2] = t;
      i = (i - 1) / 2;
    }
  } else if (worse(&s->heap[0], &c)) {
    s->heap[0] = c;
    heap_sift_down(s->heap, s->n, 0);
  }
}

static int search_done(void *vctx, double ring_km) {
  search_ctx *s = vctx;
  if (ring_km > s->radius)
    return 1;
  return s->n == s->k && s->heap[0].dist <= ring_km;
}

static int build_grid(cm__grid *g, const cm_instance *inst) {
  int n = inst->n_workers;
  double *lat = malloc((size_t)(n ? n : 1) * sizeof *lat);
  double *lon = malloc((size_t)(n ? n : 1) * sizeof *lon);
  unsigned char *inc = malloc((size_t)(n ? n : 1));
  int rc = -1;
  if (lat && lon && inc) {
    for (int i = 0; i < n; i++) {
      const cm_worker *w = &inst->workers[i];
      lat[i] = w->lat;
      lon[i] = w->lon;
      inc[i] = w->has_position && w->status == CM_WORKER_AVAILABLE &&
               w->capacity > 0;
    }
    rc = cm__grid_build(g, lat, lon, inc, n, 0);
  }
  free(lat);
  free(lon);
  free(inc);
  return rc;
}

static void price(const cm__problem *p, int r, cand *c) {
  cm_cost_terms t;
  cm_edge_cost(p->inst, r, c->w, c->dist, c->travel, &t);
  c->cost = t.total;
}

static int search_positions(cm__problem *p, edge_buf *out) {
  const cm_instance *inst = p->inst;
  cm__grid g;
  int maxk = inst->params.k * CM_MAX_STAFF;
  cand *heap = malloc((size_t)maxk * sizeof *heap);
  if (!heap || build_grid(&g, inst) != 0) {
    free(heap);
    return -1;
  }
  int rc = 0;
  for (int r = 0; r < p->nr && rc == 0; r++) {
    const cm_request *rq = &inst->requests[r];
    search_ctx s = {.p = p, .r = r, .lat = rq->lat, .lon = rq->lon,
                    .radius = cm_request_radius_km(&inst->params, rq),
                    .k = inst->params.k * rq->staff, .heap = heap, .n = 0};
    cm__grid_visit(&g, rq->lat, rq->lon, accept_worker, search_done, &s);
    for (int k = 0; k < s.n; k++) {
      heap[k].travel = cm_travel_minutes(&inst->params, heap[k].dist);
      price(p, r, &heap[k]);
    }
    rc = keep_request_edges(p, r, heap, s.n, out);
  }
  cm__grid_free(&g);
  free(heap);
  return rc;
}

/* ---- edge mode: the caller's edges, grouped by request ---- */

static int search_edges(cm__problem *p, edge_buf *out) {
  const cm_instance *inst = p->inst;
  int *start = calloc((size_t)p->nr + 1, sizeof *start);
  int *order = malloc((size_t)(inst->n_edges ? inst->n_edges : 1) *
                      sizeof *order);
  cand *c = malloc((size_t)(inst->n_edges ? inst->n_edges : 1) * sizeof *c);
  int rc = -1;
  if (!start || !order || !c)
    goto done;
  for (int i = 0; i < inst->n_edges; i++)
    start[inst->edges[i].request + 1]++;
  for (int r = 0; r < p->nr; r++)
    start[r + 1] += start[r];
  for (int i = 0; i < inst->n_edges; i++)
    order[start[inst->edges[i].request]++] = i;
  for (int r = p->nr; r > 0; r--)
    start[r] = start[r - 1];
  start[0] = 0;
  rc = 0;
  for (int r = 0; r < p->nr && rc == 0; r++) {
    const cm_request *rq = &inst->requests[r];
    int n = 0;
    for (int k = start[r]; k < start[r + 1]; k++) {
      const cm_edge_in *e = &inst->edges[order[k]];
      if (!cm_worker_eligible(inst, r, e->worker))
        continue;
      const cm_worker *w = &inst->workers[e->worker];
      c[n].w = e->worker;
      c[n].dist = rq->has_position && w->has_position
                      ? cm_geo_distance_km(rq->lat, rq->lon, w->lat, w->lon)
                      : 0.0;
      c[n].travel = e->travel_min;
      price(p, r, &c[n]);
      n++;
    }
    rc = keep_request_edges(p, r, c, n, out);
  }
done:
  free(start);
  free(order);
  free(c);
  return rc;
}

static int build_csr(cm__problem *p, edge_buf *b) {
  p->ne = b->n;
  p->e_req = b->req;
  p->e_wrk = b->wrk;
  p->e_cost = b->cost;
  p->e_dist = b->dist;
  p->e_travel = b->travel;
  memset(b, 0, sizeof *b);
  p->r_start = calloc((size_t)p->nr + 1, sizeof *p->r_start);
  p->w_start = calloc((size_t)p->nw + 1, sizeof *p->w_start);
  p->w_edges = malloc((size_t)(p->ne ? p->ne : 1) * sizeof *p->w_edges);
  if (!p->r_start || !p->w_start || !p->w_edges)
    return -1;
  for (int e = 0; e < p->ne; e++) {
    p->r_start[p->e_req[e] + 1]++;
    p->w_start[p->e_wrk[e] + 1]++;
  }
  for (int i = 0; i < p->nr; i++)
    p->r_start[i + 1] += p->r_start[i];
  for (int j = 0; j < p->nw; j++)
    p->w_start[j + 1] += p->w_start[j];
  int *fill = malloc((size_t)(p->nw ? p->nw : 1) * sizeof *fill);
  if (!fill)
    return -1;
  memcpy(fill, p->w_start, (size_t)p->nw * sizeof *fill);
  for (int e = 0; e < p->ne; e++)
    p->w_edges[fill[p->e_wrk[e]]++] = e;
  free(fill);
  return 0;
}

cm_status cm__problem_build(cm__problem *p, const cm_instance *inst,
                            cm_error *err) {
  memset(p, 0, sizeof *p);
  p->inst = inst;
  p->nr = inst->n_requests;
  p->nw = inst->n_workers;
  p->penalty = malloc((size_t)(p->nr ? p->nr : 1) * sizeof *p->penalty);
  p->cap = malloc((size_t)(p->nw ? p->nw : 1) * sizeof *p->cap);
  edge_buf b = {0};
  if (!p->penalty || !p->cap)
    goto oom;
  for (int r = 0; r < p->nr; r++)
    p->penalty[r] = cm_request_penalty(&inst->weights, &inst->requests[r]);
  for (int j = 0; j < p->nw; j++)
    p->cap[j] = inst->workers[j].capacity;
  if ((inst->has_edges ? search_edges(p, &b) : search_positions(p, &b)) != 0)
    goto oom;
  if (build_csr(p, &b) != 0)
    goto oom;
  return CM_OK;
oom:
  free(b.req);
  free(b.wrk);
  free(b.cost);
  free(b.dist);
  free(b.travel);
  cm__problem_free(p);
  return cm_error_set(err, CM_E_NOMEM, "", "out of memory building candidates");
}

void cm__problem_free(cm__problem *p) {
  free(p->r_start);
  free(p->e_req);
  free(p->e_wrk);
  free(p->e_cost);
  free(p->e_dist);
  free(p->e_travel);
  free(p->w_start);
  free(p->w_edges);
  free(p->penalty);
  free(p->cap);
  memset(p, 0, sizeof *p);
}
