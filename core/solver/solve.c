/* solve.c -- cm_solve: one batch from instance to answer, anytime.
 *
 * candidates (the greedy floor is built as they are found) -> exact
 * reductions -> components -> per component, in priority order: network
 * algorithm (one-person) or GLPK MIP (teams), each stopped by the clock
 * with what it solved kept and completed greedily -> GLPK confirmation of
 * the network answers -> per component, the better of that and the floor
 * (floor.c) -> answer with cost terms, reasons, bound and timings.
 *
 * The clock: every phase stops when less time is left than finishing the
 * batch takes (cm__finish_ns: the fallbacks, the choice against the floor
 * and the answer are linear in the model), so the budget holds. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "lp_glpk.h"
#include "netflow.h"
#include "stages.h"

/* Components with team requests and at most this many requests go to
 * branch and bound; larger ones are decomposed (see teams.c). Measured:
 * glp_intopt takes about 4 ms at 100 requests and 60-75 ms at 400. */
#define MIP_MAX_REQUESTS 200
/* One-person components from this size on go to the network simplex when
 * staff are scarce (solve_network). */
#define SIMPLEX_MIN_REQUESTS 32

typedef struct batch {
  const cm_solve_options *opts;
  cm__problem p;
  cm__solution s;     /* the answer the phases improve */
  cm__solution floor; /* the greedy answer, built during the search */
  cm__components c;
  cm__clock clk;
  unsigned char *active;    /* nr: still to solve after reductions */
  unsigned char *fell_back; /* nr: request's component was cut */
  cm__net *nets;            /* c.n: network state per component */
  unsigned char *net_live;  /* c.n: nets[k] holds a complete answer */
  int *rloc, *wloc;         /* scratch maps for the nets */
  double *price;            /* nw: worker prices for bounds */
  double *comp_lb; /* c.n: certified bound of the component's optimum (NAN:
                      its answer is proven optimal, the bound is its cost) */
  int floor_only;  /* no time to decompose: the floor is the answer */
  long pivots;     /* network simplex pivots, all components */
  int hinted;      /* requests the simplex started on their hinted worker */
  cm__glpk_stats glpk;
  cm_component_info *info;
} batch;

static void batch_free(batch *b) {
  if (b->nets && b->net_live) /* net_live may be what ran out */
    for (int k = 0; k < b->c.n; k++)
      if (b->net_live[k])
        cm__net_free(&b->nets[k]);
  free(b->nets);
  free(b->net_live);
  free(b->active);
  free(b->fell_back);
  free(b->comp_lb);
  free(b->rloc);
  free(b->wloc);
  free(b->price);
  free(b->info);
  cm__components_free(&b->c);
  cm__solution_free(&b->s);
  cm__solution_free(&b->floor);
  cm__problem_free(&b->p);
}

static int comp_teams(const batch *b, int k) {
  int t = 0;
  for (int a = b->c.r_start[k]; a < b->c.r_start[k + 1]; a++)
    t += b->p.inst->requests[b->c.reqs[a]].staff > 1;
  return t;
}

/* The component's workers. */
static const int *comp_wrks(const batch *b, int k, int *nw) {
  *nw = b->c.w_start[k + 1] - b->c.w_start[k];
  return b->c.wrks + b->c.w_start[k];
}

/* A certified bound for component k at worker prices (NULL: zero); call it
 * before the component's own assignments are applied. */
static double comp_bound(const batch *b, int k, const int *reqs, int nr,
                         const double *price) {
  int nw;
  const int *wrks = comp_wrks(b, k, &nw);
  return cm__dual_bound(&b->p, &b->s, reqs, nr, wrks, nw, price);
}

/* Component k was cut by the deadline: what is taken stays, the rest of its
 * requests are completed greedily (the floor may still win, floor.c). */
static void complete_greedily(batch *b, int k, int *reqs, int nr) {
  cm__greedy(&b->p, &b->s, reqs, nr);
  for (int a = 0; a < nr; a++)
    b->fell_back[reqs[a]] = 1;
  b->info[k].fell_back = 1;
}

static cm_status solve_network(batch *b, int k, int *reqs, int nr,
                               cm_error *err) {
  int nw;
  const int *wrks = comp_wrks(b, k, &nw);
  cm__net *n = &b->nets[k];
  if (cm__net_init(n, &b->p, b->s.load, reqs, nr, wrks, nw, b->rloc, b->wloc) !=
      0)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  b->net_live[k] = 1;
  /* staff scarce (fewer than 1.5 workers a request): every shortest path
     crosses most of the component and the simplex is 2-3x faster; with
     more staff the paths are short and successive shortest paths win */
  int simplex =
      b->opts->network == 2 ||
      (b->opts->network == 0 && nr >= SIMPLEX_MIN_REQUESTS && 2 * nw < 3 * nr);
  const cm__solution *start = b->opts->network == 3 ? NULL : &b->floor;
  /* a hint (the last batch's answer) only changes the simplex's first
     tree: never dearer than the floor's, the same optimum */
  int done = simplex ? cm__net_simplex_hint(n, start, b->opts->hint, &b->clk)
                     : cm__net_run(n, &b->clk);
  if (done < 0)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  b->pivots += n->pivots;
  b->hinted += n->hinted;
  b->info[k].method = CM_METHOD_NETWORK;
  /* by LP duality the potentials price a valid bound; when the network
     finished it equals the optimum */
  cm__net_prices(n, b->price);
  b->comp_lb[k] = comp_bound(b, k, reqs, nr, b->price);
  if (done) { /* applied after the GLPK confirmation */
    b->info[k].proven = 1;
    return CM_OK;
  }
  /* cut by the deadline: keep the routed (optimal so far) part */
  for (int i = 0; i < n->routed; i++)
    if (n->asg[i] >= 0)
      cm__solution_take(&b->s, &b->p, n->asg[i]);
  complete_greedily(b, k, reqs, nr);
  cm__net_free(n);
  b->net_live[k] = 0;
  return CM_OK;
}

static cm_status solve_decomposed(batch *b, int k, int *reqs, int nr,
                                  cm_error *err) {
  int nw, cut = 0;
  const int *wrks = comp_wrks(b, k, &nw);
  double lb = 0;
  b->info[k].method = CM_METHOD_DECOMPOSED;
  b->comp_lb[k] = comp_bound(b, k, reqs, nr, NULL);
  int r = cm__teams_decompose(&b->p, &b->s, reqs, nr, wrks, nw, b->rloc,
                              b->wloc, &b->clk, &lb, &cut);
  if (r < 0)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  if (r == 0) { /* the deadline passed first */
    complete_greedily(b, k, reqs, nr);
    return CM_OK;
  }
  if (lb > b->comp_lb[k])
    b->comp_lb[k] = lb;
  if (cut)
    complete_greedily(b, k, reqs, nr);
  b->info[k].proven = -1; /* decided once the objective is known */
  return CM_OK;
}

static cm_status solve_glpk(batch *b, int k, int *reqs, int nr, cm_error *err) {
  int nw;
  const int *wrks = comp_wrks(b, k, &nw);
  b->info[k].method = b->info[k].teams > 0 ? CM_METHOD_MIP : CM_METHOD_LP;
  b->comp_lb[k] = comp_bound(b, k, reqs, nr, NULL);
  int r = cm__glpk_component(&b->p, &b->s, reqs, nr, wrks, nw, &b->clk,
                             &b->glpk, err);
  if (r < 0)
    return err ? err->code : CM_E_SOLVER;
  if (r == 1) {
    b->info[k].proven = 1;
    b->comp_lb[k] = NAN; /* the optimum: its cost, known at the end */
  } else { /* cut: GLPK's incumbent (r == 2) or nothing, completed */
    complete_greedily(b, k, reqs, nr);
  }
  return CM_OK;
}

/* Cut before it started: the floor's answer stands (put back at the end). */
static void solve_not_started(batch *b, int k, const int *reqs, int nr) {
  b->comp_lb[k] = comp_bound(b, k, reqs, nr, NULL);
  b->info[k].method = CM_METHOD_GREEDY;
  b->info[k].fell_back = 1;
  for (int a = 0; a < nr; a++)
    b->fell_back[reqs[a]] = 1;
}

static cm_status solve_component(batch *b, int k, cm_error *err) {
  int a0 = b->c.r_start[k], nr = b->c.r_start[k + 1] - a0, nw;
  comp_wrks(b, k, &nw);
  int *reqs = b->c.reqs + a0; /* nets keep pointing here until the end */
  cm__sort_by_priority(&b->p, reqs, nr);
  cm_component_info *ci = &b->info[k];
  ci->requests = nr;
  ci->workers = nw;
  ci->teams = comp_teams(b, k);
  for (int a = 0; a < nr; a++) {
    int g = reqs[a];
    ci->edges += b->p.r_start[g + 1] - b->p.r_start[g];
    b->s.component[g] = k;
  }
  int64_t t0 = cm__clock_now(&b->clk);
  cm_status st = CM_OK;
  if (b->opts->deadline_ms == 0 || cm__clock_expired(&b->clk))
    solve_not_started(b, k, reqs, nr);
  else if (ci->teams > 0 && !b->opts->plain_lp && nr > MIP_MAX_REQUESTS)
    st = solve_decomposed(b, k, reqs, nr, err);
  else if (b->opts->plain_lp || ci->teams > 0)
    st = solve_glpk(b, k, reqs, nr, err);
  else
    st = solve_network(b, k, reqs, nr, err);
  ci->ms = cm__clock_since_ms(&b->clk, t0);
  return st;
}

/* Confirm the complete network answers with GLPK and apply them. */
static cm_status confirm_and_apply(batch *b, cm_error *err) {
  int nn = 0;
  cm__net **list = cm__malloc_array(b->c.n, sizeof *list);
  if (!list)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  /* the confirmation costs 0.35-0.5 us per edge and node (measured at
     36,000-39,000: 13-18 ms); budget 0.6 us, and skip it when the deadline
     leaves less: the answers are already proven optimal by their dual
     bounds, and a confirmation cut by the clock is time thrown away */
  double size = 0;
  for (int k = 0; k < b->c.n; k++)
    if (b->net_live[k]) {
      list[nn++] = &b->nets[k];
      size += b->info[k].requests + b->info[k].workers + b->info[k].edges;
    }
  cm_status st = CM_OK;
  double need = 1.0 + 6e-4 * size;
  if (nn > 0 && !b->opts->no_certify && cm__clock_left_ms(&b->clk) > need) {
    int certified = 0, changed = 0;
    st = cm__glpk_certify(&b->p, list, nn, &b->clk, &certified, &changed,
                          &b->glpk, err);
  }
  for (int k = 0; st == CM_OK && k < nn; k++)
    for (int i = 0; i < list[k]->nr; i++)
      if (list[k]->asg[i] >= 0)
        cm__solution_take(&b->s, &b->p, list[k]->asg[i]);
  free(list);
  return st;
}

/* Per component, the better of the phases' answer and the floor's
 * (floor.c); settles each component's bound and proof. */
static void choose_against_floor(batch *b, cm_solve_stats *st) {
  for (int k = 0; k < b->c.n; k++) {
    const int *reqs = b->c.reqs + b->c.r_start[k];
    int nr = b->c.r_start[k + 1] - b->c.r_start[k];
    cm_component_info *ci = &b->info[k];
    cm__part mine = cm__part_of(&b->p, &b->s, reqs, nr);
    cm__part flo = cm__part_of(&b->p, &b->floor, reqs, nr);
    if (isnan(b->comp_lb[k]))
      b->comp_lb[k] = mine.cost;
    if (ci->proven < 0) { /* decomposed: proven if the bound closes */
      double scale = fabs(mine.cost) > 1 ? fabs(mine.cost) : 1;
      ci->proven = !ci->fell_back && mine.cost - b->comp_lb[k] <= 1e-9 * scale;
    }
    if (cm__part_no_worse(mine, flo, ci->proven == 1))
      continue;
    cm__part_restore(&b->p, &b->s, &b->floor, reqs, nr);
    ci->floor = 1;
    ci->proven = 0;
    st->floor_components++;
  }
}

static int64_t no_clock(void *ctx) {
  (void)ctx;
  return 0;
}

/* Lower bound for a request whose candidates were never searched: every
 * edge costs at least minus the two bonuses. */
static double unsearched_bound(const cm__problem *p, int i) {
  const cm_weights *w = &p->inst->weights;
  double edge = -(w->continuity + w->preferred) * p->inst->requests[i].staff;
  return edge < p->penalty[i] ? edge : p->penalty[i];
}

static cm_unassigned_reason reason_of(const batch *b, int i) {
  if (!b->p.searched[i] || b->fell_back[i])
    return CM_REASON_DEADLINE;
  return b->p.eligible[i] ? CM_REASON_OUTRANKED : CM_REASON_NO_CANDIDATE;
}

/* The answer: assignments with their cost terms, the unassigned with their
 * reasons, the objective, and the bound (components' bounds, plus what the
 * requests outside any component cost or at least cost). */
static cm_status build_answer(batch *b, cm_answer *out, cm_error *err) {
  const cm__problem *p = &b->p;
  int na = 0, nu = 0;
  for (int e = 0; e < p->ne; e++)
    na += b->s.x[e];
  for (int i = 0; i < p->nr; i++)
    nu += !b->s.served[i];
  out->assignments = cm__malloc_array(na, sizeof *out->assignments);
  out->unassigned = cm__malloc_array(nu, sizeof *out->unassigned);
  if (!out->assignments || !out->unassigned)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  double obj = 0, lb = 0;
  for (int k = 0; k < b->c.n; k++)
    lb += b->comp_lb[k];
  for (int i = 0; i < p->nr; i++) {
    double part = 0;
    if (b->s.served[i]) {
      for (int e = p->r_start[i]; e < p->r_start[i + 1]; e++) {
        if (!b->s.x[e])
          continue;
        cm_assignment *a = &out->assignments[out->n_assignments++];
        a->request = i;
        a->worker = p->e_wrk[e];
        a->component = b->s.component[i];
        cm_edge_cost(p->inst, i, a->worker, p->e_dist[e], p->e_travel[e],
                     &a->terms);
        part += a->terms.total;
      }
    } else {
      cm_unassigned *u = &out->unassigned[out->n_unassigned++];
      u->request = i;
      u->penalty = p->penalty[i];
      u->reason = reason_of(b, i);
      part = u->penalty;
    }
    obj += part;
    if (!p->searched[i])
      lb += unsearched_bound(p, i);
    else if (b->floor_only) /* each request at its cheapest */
      lb += cm__dual_bound(p, &b->s, &i, 1, NULL, 0, NULL);
    else if (b->s.component[i] < 0) /* reduced (exact) or no candidate */
      lb += part;
  }
  out->objective = obj;
  out->stats.lower_bound = lb < obj ? lb : obj;
  double scale = fabs(obj) > 1 ? fabs(obj) : 1;
  out->stats.gap = (obj - out->stats.lower_bound) / scale;
  out->components = b->info;
  out->n_components = b->c.n;
  b->info = NULL;
  return CM_OK;
}

static void clock_start(batch *b) {
  b->clk.fn = b->opts->clock ? b->opts->clock : no_clock;
  b->clk.ctx = b->opts->clock_ctx;
  b->clk.start_ns = cm__clock_now(&b->clk);
  b->clk.deadline_ns =
      b->opts->deadline_ms >= 0 && b->opts->clock
          ? b->clk.start_ns + (int64_t)(b->opts->deadline_ms * 1e6)
          : INT64_MAX;
  b->clk.reserve_ns = 0;
}

/* Working arrays, the reductions and the components; or, when too little
 * time is left for them, the floor as the answer. */
static cm_status prepare(batch *b, cm_answer *out, cm_error *err) {
  int nr = b->p.nr, nw = b->p.nw;
  cm_status st = cm__solution_init(&b->s, &b->p, err);
  if (st != CM_OK)
    return st;
  b->fell_back = cm__calloc_array(nr, 1);
  b->info = calloc(1, sizeof *b->info);
  b->comp_lb = calloc(1, sizeof *b->comp_lb);
  if (!b->fell_back || !b->info || !b->comp_lb)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  if (b->opts->deadline_ms > 0 &&
      cm__clock_short(&b->clk,
                      b->clk.reserve_ns + cm__prepare_ns(nr, nw, b->p.ne))) {
    cm__solution t = b->s; /* the floor's answer, as it is */
    b->s = b->floor;
    b->floor = t;
    b->floor_only = 1;
    memset(b->fell_back, 1, (size_t)nr);
    return CM_OK;
  }
  b->active = cm__malloc_array(nr, 1);
  b->rloc = cm__malloc_array(nr, sizeof *b->rloc);
  b->wloc = cm__malloc_array(nw, sizeof *b->wloc);
  b->price = cm__calloc_array(nw, sizeof *b->price);
  if (!b->active || !b->rloc || !b->wloc || !b->price)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  for (int i = 0; i < nr; i++) {
    b->active[i] = b->p.r_start[i] < b->p.r_start[i + 1];
    b->rloc[i] = -1;
  }
  for (int j = 0; j < nw; j++)
    b->wloc[j] = -1;
  if (b->opts->deadline_ms != 0 && !b->opts->no_reductions &&
      !cm__clock_expired(&b->clk)) {
    int fixed = cm__reduce(&b->p, &b->s, b->active, &b->clk);
    if (fixed < 0)
      return cm_error_set(err, CM_E_NOMEM, "", NULL);
    out->stats.reduced = fixed;
  }
  if (cm__components_build(&b->p, b->active, b->opts->no_components, &b->c) !=
      0)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  int n = b->c.n;
  free(b->info);
  free(b->comp_lb);
  b->nets = cm__calloc_array(n, sizeof *b->nets);
  b->net_live = cm__calloc_array(n, 1);
  b->info = cm__calloc_array(n, sizeof *b->info);
  b->comp_lb = cm__calloc_array(n, sizeof *b->comp_lb);
  if (!b->nets || !b->net_live || !b->info || !b->comp_lb)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  return CM_OK;
}

cm_status cm_solve(const cm_instance *inst, const cm_solve_options *opts,
                   cm_answer *out, cm_error *err) {
  static const cm_solve_options none = {.deadline_ms = -1};
  batch b;
  cm_status st;
  memset(&b, 0, sizeof b);
  memset(out, 0, sizeof *out);
  b.opts = opts ? opts : &none;
  clock_start(&b);
  if (!b.opts->validated && (st = cm_instance_validate(inst, err)) != CM_OK)
    return st;
  /* deadline 0 selects the greedy answer: the search itself runs in full */
  if ((st = cm__problem_build_threads(&b.p, inst,
                                      b.opts->deadline_ms > 0 ? &b.clk : NULL,
                                      b.opts->threads, &b.floor, err)) != CM_OK)
    return st;
  b.clk.reserve_ns = cm__finish_ns(b.p.nr, b.p.nr - b.p.unsearched, b.p.ne);
  int64_t t_cand = cm__clock_now(&b.clk);
  /* candidates_ms includes validation, which is part of the budget */
  out->stats.candidates_ms = cm__clock_since_ms(&b.clk, b.clk.start_ns);
  if ((st = prepare(&b, out, err)) != CM_OK)
    goto fail;
  int64_t t_build = cm__clock_now(&b.clk);
  out->stats.build_ms = (double)(t_build - t_cand) / 1e6;
  for (int a = 0; a < b.c.n; a++)
    if ((st = solve_component(&b, b.c.order[a], err)) != CM_OK)
      goto fail;
  if ((st = confirm_and_apply(&b, err)) != CM_OK)
    goto fail;
  choose_against_floor(&b, &out->stats);
  out->stats.solve_ms = cm__clock_since_ms(&b.clk, t_build);
  out->stats.edges = b.p.ne;
  out->stats.components = b.c.n;
  out->stats.unsearched = b.p.unsearched;
  out->stats.greedy_objective =
      cm__part_of(&b.p, b.floor_only ? &b.s : &b.floor, NULL, b.p.nr).cost;
  for (int k = 0; k < b.c.n; k++)
    out->stats.fallbacks += b.info[k].fell_back;
  out->stats.pricing_rounds = b.glpk.rounds;
  out->stats.glpk_iterations = b.glpk.iterations;
  out->stats.simplex_pivots = b.pivots;
  out->stats.hinted = b.hinted;
  if ((st = build_answer(&b, out, err)) != CM_OK)
    goto fail;
  int unproven = 0;
  for (int k = 0; k < out->n_components; k++)
    unproven += !out->components[k].proven;
  out->stats.exact = unproven == 0 && b.p.unsearched == 0;
  out->stats.total_ms = cm__clock_since_ms(&b.clk, b.clk.start_ns);
  batch_free(&b);
  return CM_OK;
fail:
  batch_free(&b);
  cm_answer_free(out);
  return st;
}

void cm_answer_free(cm_answer *ans) {
  if (!ans)
    return;
  free(ans->assignments);
  free(ans->unassigned);
  free(ans->components);
  memset(ans, 0, sizeof *ans);
}
