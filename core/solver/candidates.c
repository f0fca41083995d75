/* candidates.c -- builds the priced candidate graph: the K nearest eligible
 * workers of each request within its radius (or the caller's explicit
 * edges), each edge priced term by term; an edge that costs more than
 * leaving the request unassigned can never be optimal and is dropped. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "base/grid.h"
#include "cost.h"
#include "par_ordered.h"
#include "problem.h"
#include "skill_grids.h"
#include "stages.h"

typedef struct cand {
  int w;
  double dist, travel, cost;
  double lat, lon; /* the worker's position (positions mode) */
} cand;

typedef struct edge_buf {
  int *req, *wrk;
  double *cost, *dist, *travel;
  unsigned char *pick; /* taken by the floor */
  int *load;           /* nw: the floor's jobs per worker */
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
    unsigned char *np = realloc(b->pick, (size_t)ncap);
    if (np)
      b->pick = np;
    if (!nr || !nw || !nc || !nd || !nt || !np)
      return -1;
    b->cap = ncap;
  }
  b->req[b->n] = r;
  b->wrk[b->n] = c->w;
  b->cost[b->n] = c->cost;
  b->dist[b->n] = c->dist;
  b->travel[b->n] = c->travel;
  b->pick[b->n] = 0;
  b->n++;
  return 0;
}

static void free_buf(edge_buf *b) {
  free(b->req);
  free(b->wrk);
  free(b->cost);
  free(b->dist);
  free(b->travel);
  free(b->pick);
  free(b->load);
  memset(b, 0, sizeof *b);
}

static int cand_by_cost(const void *a, const void *b) {
  const cand *x = a, *y = b;
  if (x->cost != y->cost)
    return x->cost < y->cost ? -1 : 1;
  return (x->w > y->w) - (x->w < y->w);
}

/* The floor's decision for request r, whose edges were just appended from
 * index from on (cheapest first): greedy, in the search's priority order. */
static void floor_request(const cm__problem *p, edge_buf *b, int from, int r) {
  int chosen[CM_MAX_STAFF];
  int m = cm__greedy_pick(p, b->load, b->wrk, from, b->n, r, chosen);
  for (int k = 0; k < m; k++) {
    b->pick[chosen[k]] = 1;
    b->load[b->wrk[chosen[k]]]++;
  }
}

/* Keep the edges of request r that can be part of an optimum; append them
 * sorted by cost, and let the floor pick among them. Returns 0 or -1 (out
 * of memory). */
static int keep_request_edges(cm__problem *p, int r, cand *c, int n,
                              edge_buf *out) {
  const cm_request *rq = &p->inst->requests[r];
  double pen = p->penalty[r];
  qsort(c, (size_t)n, sizeof *c, cand_by_cost);
  p->eligible[r] = n > 0;
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
  int from = out->n;
  for (int k = 0; k < kept; k++)
    if (buf_push(out, r, &c[k]) != 0)
      return -1;
  floor_request(p, out, from, r);
  return 0;
}

/* ---- the search order ---- */

/* Requests in priority order, made one urgency at a time: they are grouped
 * by urgency at once (a counting pass), and each group is sorted (longest
 * waiting first) only when the search reaches it, so a tight budget pays
 * for sorting the emergencies, not the whole batch. */
typedef struct prio_order {
  int *reqs;                 /* nr: grouped, then sorted group by group */
  int end[CM_URGENCY_COUNT]; /* group u is end[u-1]..end[u]-1 */
  int sorted;                /* groups sorted so far */
} prio_order;

static int prio_init(prio_order *o, const cm__problem *p) {
  int count[CM_URGENCY_COUNT] = {0}, at[CM_URGENCY_COUNT];
  memset(o, 0, sizeof *o);
  o->reqs = cm__malloc_array(p->nr, sizeof *o->reqs);
  if (!o->reqs)
    return -1;
  for (int r = 0; r < p->nr; r++)
    count[p->inst->requests[r].urgency]++;
  for (int u = 0, sum = 0; u < CM_URGENCY_COUNT; u++) {
    at[u] = sum;
    sum += count[u];
    o->end[u] = sum;
  }
  for (int r = 0; r < p->nr; r++)
    o->reqs[at[p->inst->requests[r].urgency]++] = r;
  return 0;
}

/* The k-th request in priority order (k ascending from 0): each group is
 * sorted when k reaches its start. */
static int prio_at(prio_order *o, const cm__problem *p, int k) {
  while (o->sorted < CM_URGENCY_COUNT) {
    int from = o->sorted ? o->end[o->sorted - 1] : 0;
    if (k < from)
      break;
    cm__sort_by_priority(p, o->reqs + from, o->end[o->sorted] - from);
    o->sorted++;
  }
  return o->reqs[k];
}

/* ---- positions mode: nearest-K search on per-skill grids ---- */

#define KM_PER_DEG 111.19508 /* great circle, the radius of cm_geo */
#define APPROX_SLACK 0.005   /* equirectangular error bound in a city */

typedef struct search_ctx {
  const cm__problem *p;
  const cm_request *rq;
  int r;
  double lat, lon, coslat, radius;
  cm_skillset need_all; /* worker must hold all of these */
  cm_skillset need_any; /* worker must hold one of these */
  cm_skillset own;      /* searching several skills' grids: the skill of
                           this one, which visits only the workers whose
                           lowest skill among need_any it is (0: all) */
  int exact; /* no planar shortcut: great-circle distances throughout */
  int k;
  cand *heap; /* max-heap on (dist, w), size <= k; dist approximate */
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

static void accept_worker(void *vctx, const cm__grid_item *it) {
  search_ctx *s = vctx;
  cm_skillset any = it->tag & s->need_any;
  if ((it->tag & s->need_all) != s->need_all || !any ||
      (s->own && (any & -any) != s->own))
    return;
  double d;
  if (s->exact) {
    d = cm_geo_distance_km(s->lat, s->lon, it->lat, it->lon);
    if (d > s->radius)
      return;
  } else {
    double dy = it->lat - s->lat, dx = (it->lon - s->lon) * s->coslat;
    d = KM_PER_DEG * sqrt(dx * dx + dy * dy);
    if (d > s->radius * (1 + APPROX_SLACK))
      return;
  }
  cand c = {.w = it->id, .dist = d, .lat = it->lat, .lon = it->lon};
  if (s->n == s->k && !worse(&s->heap[0], &c))
    return;
  if (cm__in_list(s->rq->excluded, s->rq->n_excluded, it->id))
    return;
  if (!s->exact && d > s->radius * (1 - APPROX_SLACK)) { /* borderline */
    const cm_worker *wk = &s->p->inst->workers[it->id];
    if (cm_geo_distance_km(s->lat, s->lon, wk->lat, wk->lon) > s->radius)
      return;
  }
  if (s->n < s->k) {
    int i = s->n++;
    s->heap[i] = c;
    while (i > 0 && worse(&s->heap[i], &s->heap[(i - 1) / 2])) {
      cand t = s->heap[i];
      s->heap[i] = s->heap[(i - 1) / 2];
      s->heap[(i - 1) / 2] = t;
      i = (i - 1) / 2;
    }
  } else {
    s->heap[0] = c;
    heap_sift_down(s->heap, s->n, 0);
  }
}

static int search_done(void *vctx, double ring_km) {
  search_ctx *s = vctx;
  if (ring_km > s->radius)
    return 1;
  return s->n == s->k &&
         s->heap[0].dist <= ring_km * (s->exact ? 1 : 1 - APPROX_SLACK);
}

/* The cost of a candidate, as cm_edge_cost sums it, touching the worker's
 * record only for continuity (the request names an elder). */
static void price_fast(const cm__problem *p, int r, cand *c) {
  const cm_request *rq = &p->inst->requests[r];
  const cm_weights *k = &p->inst->weights;
  const cm_worker *w = &p->inst->workers[c->w];
  double cost = k->travel * c->travel * k->urgency_factor[rq->urgency] +
                cm__worker_fixed_cost(k, w) +
                cm__sla_edge_cost(k, rq, c->travel);
  if (rq->elder && cm__served_elder(w, rq->elder))
    cost -= k->continuity;
  if (cm__in_list(rq->preferred, rq->n_preferred, c->w))
    cost -= k->preferred;
  c->cost = cost;
}

static void price(const cm__problem *p, int r, cand *c) {
  cm_cost_terms t;
  cm_edge_cost(p->inst, r, c->w, c->dist, c->travel, &t);
  c->cost = t.total;
}

/* 1 when the search must stop before the k-th request (checked every 8):
 * less time is left than indexing the edges found so far (about 10 ns an
 * edge) and finishing with them takes. */
static int out_of_time(const cm__problem *p, const cm__clock *clk, int k,
                       const edge_buf *b) {
  return clk && (k & 7) == 0 &&
         cm__clock_short(clk,
                         cm__finish_ns(p->nr, k, b->n) + 10 * (int64_t)b->n);
}

/* The skill whose grid holds the fewest workers among those in set. */
static int rarest_skill(const cm__skill_grids *g, cm_skillset set) {
  int best = -1;
  for (cm_skillset s = set; s; s &= s - 1) {
    int k = __builtin_ctz(s);
    if (best < 0 || g->count[k] < g->count[best])
      best = k;
  }
  return best;
}

/* Search request r's nearest eligible workers into s->heap: one grid when
 * a worker must hold every skill (the rarest skill's), else each skill's
 * grid in turn with the heap shared. A grid not built yet is built only
 * when it fits in the time left before need_ns (measured: about 5 ns a
 * matchable worker to filter, 40 ns a holder of the skill to index). Returns 0,
 * 1 when out of time (nothing searched), or -1 when out of memory. */
static int search_request(cm__skill_grids *g, search_ctx *s,
                          const cm__clock *clk, int64_t need_ns) {
  const cm_request *rq = s->rq;
  cm_skillset grids =
      s->need_all ? 1u << rarest_skill(g, rq->skills) : rq->skills;
  int several = (grids & (grids - 1)) != 0;
  const cm__grid *grid[CM_MAX_SKILLS];
  int n = 0;
  s->exact = s->radius > 50.0;
  for (cm_skillset b = grids; b; b &= b - 1) {
    int k = __builtin_ctz(b);
    if (!g->built[k] && clk &&
        cm__clock_short(clk, need_ns + 5 * (int64_t)g->n +
                                 40 * (int64_t)g->count[k]))
      return 1;
    if (!(grid[n] = cm__skill_grid(g, k)))
      return -1;
    /* the equirectangular shortcut holds to 0.5% within a city */
    s->exact |= !cm__grid_local(grid[n], rq->lat, rq->lon);
    n++;
  }
  n = 0;
  for (cm_skillset b = grids; b; b &= b - 1) {
    s->own = several ? b & -b : 0;
    cm__grid_visit(grid[n++], rq->lat, rq->lon, accept_worker, search_done, s);
  }
  return 0;
}

/* Search and price request r's candidates into heap (room for k x staff);
 * *n: how many. Returns 0, 1 when out of time (nothing searched) or -1
 * when out of memory. With every grid it needs built (threads), clk NULL:
 * it only reads the grids and the instance. */
static int find_position(const cm__problem *p, cm__skill_grids *g, int r,
                         const cm__clock *clk, int64_t need, cand *heap,
                         int *n) {
  const cm_instance *inst = p->inst;
  const double rad = 3.14159265358979323846 / 180.0;
  const cm_request *rq = &inst->requests[r];
  int all = rq->skill_mode == CM_SKILLS_ALL && rq->staff == 1;
  search_ctx s = {.p = p,
                  .rq = rq,
                  .r = r,
                  .lat = rq->lat,
                  .lon = rq->lon,
                  .coslat = cos(rq->lat * rad),
                  .radius = cm_request_radius_km(&inst->params, rq),
                  .need_all = all ? rq->skills : 0,
                  .need_any = rq->skills,
                  .k = inst->params.k * rq->staff,
                  .heap = heap,
                  .n = 0};
  int rc = search_request(g, &s, clk, need);
  if (rc != 0)
    return rc;
  /* Pricing reads each candidate's record (its fixed cost, its elders),
   * far apart in a large batch: ask for them all first, so that the
   * cache misses overlap instead of coming one after the other. */
  for (int m = 0; m < s.n; m++) {
    const cm_worker *w = &inst->workers[heap[m].w];
    __builtin_prefetch(&w->jobs_today);
    __builtin_prefetch(&w->n_elders);
  }
  for (int m = 0; m < s.n; m++) {
    heap[m].dist =
        cm_geo_distance_km(rq->lat, rq->lon, heap[m].lat, heap[m].lon);
    heap[m].travel = cm_travel_minutes(&inst->params, heap[m].dist);
    price_fast(p, r, &heap[m]);
  }
  *n = s.n;
  return 0;
}

static int search_positions(cm__problem *p, prio_order *order,
                            const cm__clock *clk, edge_buf *out) {
  const cm_instance *inst = p->inst;
  cm__skill_grids g;
  int maxk = inst->params.k * CM_MAX_STAFF;
  cand *heap = malloc((size_t)maxk * sizeof *heap);
  if (!heap || cm__skill_grids_init(&g, inst, p->cap) != 0) {
    free(heap);
    return -1;
  }
  int rc = 0;
  for (int k = 0; k < p->nr && rc == 0; k++) {
    if (out_of_time(p, clk, k, out))
      break;
    int r = prio_at(order, p, k), n = 0;
    int64_t need = cm__finish_ns(p->nr, k, out->n) + 10 * (int64_t)out->n;
    if ((rc = find_position(p, &g, r, clk, need, heap, &n)) != 0) {
      rc = rc > 0 ? 0 : rc; /* out of time: the search stops here */
      break;
    }
    p->searched[r] = 1;
    rc = keep_request_edges(p, r, heap, n, out);
  }
  cm__skill_grids_free(&g);
  free(heap);
  return rc;
}

/* ---- edge mode: the caller's edges, grouped by request ---- */

/* The caller's edges grouped by request: request r's are
 * order[start[r]..start[r+1]-1]. */
typedef struct edge_index {
  int *start; /* nr+1 */
  int *order; /* n_edges */
} edge_index;

static void edge_index_free(edge_index *x) {
  free(x->start);
  free(x->order);
}

static int edge_index_build(edge_index *x, const cm__problem *p) {
  const cm_instance *inst = p->inst;
  int *start = x->start = calloc((size_t)p->nr + 1, sizeof *start);
  int *order = x->order = cm__malloc_array(inst->n_edges, sizeof *order);
  if (!start || !order)
    return -1;
  for (int i = 0; i < inst->n_edges; i++)
    start[inst->edges[i].request + 1]++;
  for (int r = 0; r < p->nr; r++)
    start[r + 1] += start[r];
  for (int i = 0; i < inst->n_edges; i++)
    order[start[inst->edges[i].request]++] = i;
  for (int r = p->nr; r > 0; r--)
    start[r] = start[r - 1];
  start[0] = 0;
  return 0;
}

/* Price request r's eligible edges into c (room for its edges). Returns
 * how many. Reads only the instance. */
static int find_edges(const cm__problem *p, const edge_index *x, int r,
                      cand *c) {
  const cm_instance *inst = p->inst;
  const cm_request *rq = &inst->requests[r];
  int n = 0;
  for (int k = x->start[r]; k < x->start[r + 1]; k++) {
    const cm_edge_in *e = &inst->edges[x->order[k]];
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
  return n;
}

static int search_edges(cm__problem *p, prio_order *prio, const cm__clock *clk,
                        edge_buf *out) {
  edge_index x = {0};
  cand *c = cm__malloc_array(p->inst->n_edges, sizeof *c);
  int rc = -1;
  if (!c || edge_index_build(&x, p) != 0)
    goto done;
  rc = 0;
  for (int q = 0; q < p->nr && rc == 0; q++) {
    if (out_of_time(p, clk, q, out))
      break;
    int r = prio_at(prio, p, q);
    p->searched[r] = 1;
    rc = keep_request_edges(p, r, c, find_edges(p, &x, r, c), out);
  }
done:
  edge_index_free(&x);
  free(c);
  return rc;
}

/* ---- on several threads: the same search, the same edges ---- */

/* Requests a thread claims at a time. */
#define PAR_CHUNK 16
/* Fewer requests are searched on the caller's thread only: starting a
 * thread costs more than it saves there (measured: 100 x 1,000 took about
 * 1 ms longer on two threads). */
#define PAR_MIN_REQUESTS 512

/* Each request's candidates are searched and priced on any thread into a
 * slot of its own, and taken in priority order on the calling thread,
 * where the edges are kept and the floor decides, as in the one-thread
 * search: the same edges in the same order, the same floor. The clock is
 * checked where the one-thread search checks it, before taking a request;
 * the grids every request needs are built first (the one-thread search
 * builds them as the requests reach them). */
typedef struct par_search {
  cm__problem *p;
  const int *reqs;      /* nr: priority order */
  size_t *slot;         /* nr+1: position k's candidates start at slot[k] */
  cand *c;              /* slot[nr] */
  int *got;             /* nr: candidates found at position k */
  cm__skill_grids *g;   /* positions mode */
  const edge_index *x;  /* edge mode */
  const cm__clock *clk; /* NULL: no deadline */
  edge_buf *out;
  int oom;
} par_search;

static int par_compute(void *ctx, int k, int t) {
  par_search *ps = ctx;
  int r = ps->reqs[k];
  cand *c = ps->c + ps->slot[k];
  (void)t;
  if (ps->x) {
    ps->got[k] = find_edges(ps->p, ps->x, r, c);
    return 0;
  }
  return find_position(ps->p, ps->g, r, NULL, 0, c, &ps->got[k]) != 0;
}

static int par_take(void *ctx, int k, int failed) {
  par_search *ps = ctx;
  if (out_of_time(ps->p, ps->clk, k, ps->out))
    return 1;
  if (failed) {
    ps->oom = 1;
    return 1;
  }
  int r = ps->reqs[k];
  ps->p->searched[r] = 1;
  if (keep_request_edges(ps->p, r, ps->c + ps->slot[k], ps->got[k], ps->out) !=
      0) {
    ps->oom = 1;
    return 1;
  }
  return 0;
}

/* Build every grid some request searches. Returns 0, 1 when the clock
 * leaves too little time for them (nothing else done), -1 out of memory. */
static int build_all_grids(const cm__problem *p, cm__skill_grids *g,
                           const cm__clock *clk) {
  cm_skillset need = 0;
  int64_t ns = cm__finish_ns(p->nr, 0, 0);
  for (int r = 0; r < p->nr; r++) {
    const cm_request *rq = &p->inst->requests[r];
    int all = rq->skill_mode == CM_SKILLS_ALL && rq->staff == 1;
    need |= all ? 1u << rarest_skill(g, rq->skills) : rq->skills;
  }
  for (cm_skillset b = need; b; b &= b - 1)
    ns += 5 * (int64_t)g->n + 40 * (int64_t)g->count[__builtin_ctz(b)];
  if (clk && cm__clock_short(clk, ns))
    return 1;
  for (cm_skillset b = need; b; b &= b - 1)
    if (!cm__skill_grid(g, __builtin_ctz(b)))
      return -1;
  return 0;
}

/* The search on `threads` threads. Returns 0, 1 when it could not start
 * (too little time for the grids: the one-thread search decides), or -1
 * when out of memory. */
static int search_threads(cm__problem *p, prio_order *order,
                          const cm__clock *clk, edge_buf *out, int threads) {
  const cm_instance *inst = p->inst;
  cm__skill_grids g;
  edge_index x = {0};
  par_search ps = {.p = p, .clk = clk, .out = out};
  int rc = -1, have_grids = 0;
  if (p->nr > 0)
    (void)prio_at(order, p, p->nr - 1); /* every group sorted */
  ps.reqs = order->reqs;
  ps.slot = cm__malloc_array(p->nr + 1, sizeof *ps.slot);
  ps.got = cm__calloc_array(p->nr, sizeof *ps.got);
  if (!ps.slot || !ps.got)
    goto done;
  if (inst->has_edges) {
    if (edge_index_build(&x, p) != 0)
      goto done;
    ps.x = &x;
  } else {
    if (cm__skill_grids_init(&g, inst, p->cap) != 0)
      goto done;
    have_grids = 1;
    ps.g = &g;
    if ((rc = build_all_grids(p, &g, clk)) != 0)
      goto done;
    rc = -1;
  }
  ps.slot[0] = 0;
  for (int k = 0; k < p->nr; k++) {
    int r = ps.reqs[k];
    size_t n = inst->has_edges
                   ? (size_t)(x.start[r + 1] - x.start[r])
                   : (size_t)inst->params.k * (size_t)inst->requests[r].staff;
    ps.slot[k + 1] = ps.slot[k] + n;
  }
  if (!(ps.c = cm__malloc_array(ps.slot[p->nr] + 1, sizeof *ps.c)))
    goto done;
  (void)cm__par_ordered(threads, p->nr, PAR_CHUNK, par_compute, par_take, &ps);
  rc = ps.oom ? -1 : 0;
done:
  if (have_grids)
    cm__skill_grids_free(&g);
  edge_index_free(&x);
  free(ps.slot);
  free(ps.got);
  free(ps.c);
  return rc;
}

/* Move the edges out of the buffer into request-major order (stable, so
 * each request keeps its cost order) and index them both ways; the floor's
 * picks go into floor. */
static int build_csr(cm__problem *p, edge_buf *b, cm__solution *floor) {
  int ne = b->n;
  p->ne = ne;
  p->r_start = calloc((size_t)p->nr + 1, sizeof *p->r_start);
  p->w_start = calloc((size_t)p->nw + 1, sizeof *p->w_start);
  p->e_req = cm__malloc_array(ne, sizeof *p->e_req);
  p->e_wrk = cm__malloc_array(ne, sizeof *p->e_wrk);
  p->e_cost = cm__malloc_array(ne, sizeof *p->e_cost);
  p->e_dist = cm__malloc_array(ne, sizeof *p->e_dist);
  p->e_travel = cm__malloc_array(ne, sizeof *p->e_travel);
  p->w_edges = cm__malloc_array(ne, sizeof *p->w_edges);
  int *fill = malloc((size_t)(p->nr > p->nw ? p->nr : p->nw) * sizeof *fill +
                     sizeof *fill);
  if (!p->r_start || !p->w_start || !p->e_req || !p->e_wrk || !p->e_cost ||
      !p->e_dist || !p->e_travel || !p->w_edges || !fill ||
      cm__solution_init(floor, p, NULL) != CM_OK) {
    free(fill);
    return -1;
  }
  for (int e = 0; e < ne; e++) {
    p->r_start[b->req[e] + 1]++;
    p->w_start[b->wrk[e] + 1]++;
  }
  for (int i = 0; i < p->nr; i++)
    p->r_start[i + 1] += p->r_start[i];
  for (int j = 0; j < p->nw; j++)
    p->w_start[j + 1] += p->w_start[j];
  memcpy(fill, p->r_start, (size_t)p->nr * sizeof *fill);
  for (int e = 0; e < ne; e++) {
    int to = fill[b->req[e]]++;
    p->e_req[to] = b->req[e];
    p->e_wrk[to] = b->wrk[e];
    p->e_cost[to] = b->cost[e];
    p->e_dist[to] = b->dist[e];
    p->e_travel[to] = b->travel[e];
    if (b->pick[e])
      cm__solution_take(floor, p, to);
  }
  memcpy(fill, p->w_start, (size_t)p->nw * sizeof *fill);
  for (int e = 0; e < ne; e++)
    p->w_edges[fill[p->e_wrk[e]]++] = e;
  free(fill);
  return 0;
}

cm_status cm__problem_build(cm__problem *p, const cm_instance *inst,
                            const cm__clock *clk, cm__solution *floor,
                            cm_error *err) {
  return cm__problem_build_threads(p, inst, clk, 1, floor, err);
}

cm_status cm__problem_build_threads(cm__problem *p, const cm_instance *inst,
                                    const cm__clock *clk, int threads,
                                    cm__solution *floor, cm_error *err) {
  memset(p, 0, sizeof *p);
  p->inst = inst;
  p->nr = inst->n_requests;
  p->nw = inst->n_workers;
  p->penalty = cm__malloc_array(p->nr, sizeof *p->penalty);
  p->cap = cm__malloc_array(p->nw, sizeof *p->cap);
  p->searched = cm__calloc_array(p->nr, 1);
  p->eligible = cm__calloc_array(p->nr, 1);
  prio_order order = {.reqs = NULL};
  edge_buf b = {0};
  b.load = cm__calloc_array(p->nw, sizeof *b.load);
  memset(floor, 0, sizeof *floor);
  if (!p->penalty || !p->cap || !p->searched || !p->eligible || !b.load ||
      prio_init(&order, p) != 0)
    goto oom;
  for (int r = 0; r < p->nr; r++)
    p->penalty[r] = cm_request_penalty(&inst->weights, &inst->requests[r]);
  if (inst->has_edges) /* positions mode reads them with the grids */
    for (int j = 0; j < p->nw; j++)
      p->cap[j] = inst->workers[j].capacity;
  int rc = threads > 1 && p->nr >= PAR_MIN_REQUESTS
               ? search_threads(p, &order, clk, &b, threads)
               : 1;
  if (rc > 0) /* one thread */
    rc = inst->has_edges ? search_edges(p, &order, clk, &b)
                         : search_positions(p, &order, clk, &b);
  if (rc != 0)
    goto oom;
  free(order.reqs);
  order.reqs = NULL;
  for (int r = 0; r < p->nr; r++)
    p->unsearched += !p->searched[r];
  if (build_csr(p, &b, floor) != 0)
    goto oom;
  free_buf(&b);
  return CM_OK;
oom:
  free(order.reqs);
  free_buf(&b);
  cm__solution_free(floor);
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
  free(p->searched);
  free(p->eligible);
  memset(p, 0, sizeof *p);
}
