/* teams.c -- components with team requests too large for branch and bound.
 *
 * The one-person requests are solved exactly by the network algorithm; its
 * potentials price every worker (what taking the worker away costs the
 * others). Team requests, most urgent first, then take the team with the
 * least cost plus price that covers their skills (enumerated among their
 * cheapest candidates), when that beats leaving them unstaffed. The
 * one-person requests are solved again without the team members. Not
 * proven optimal: the answer carries a certified bound (weak duality at
 * the final prices) and the gap. */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "base/sort.h"
#include "netflow.h"
#include "stages.h"

#define TEAM_CANDIDATES 10 /* cheapest (cost + price) candidates enumerated */
#define SKILL_HOLDERS 3    /* ... plus this many holders of each skill */

typedef struct scored {
  int e;
  double score;
} scored;

static int by_score(const void *a, const void *b) {
  const scored *x = a, *y = b;
  if (x->score != y->score)
    return x->score < y->score ? -1 : 1;
  return (x->e > y->e) - (x->e < y->e);
}

/* Best team for request t at prices; returns its size (0: none worth it)
 * and the edges in best[]. */
static int pick_team(const cm__problem *p, const cm__solution *s, int t,
                     const double *price, scored *cand, int *best) {
  const cm_request *rq = &p->inst->requests[t];
  int n = 0, staff = rq->staff;
  for (int e = p->r_start[t]; e < p->r_start[t + 1]; e++) {
    int j = p->e_wrk[e];
    if (s->load[j] < p->cap[j])
      cand[n++] = (scored){e, p->e_cost[e] + price[j]};
  }
  qsort(cand, (size_t)n, sizeof *cand, by_score);
  /* the cheapest few, plus the cheapest holders of each required skill so
     that a covering team is always among the subsets */
  int keep = 0;
  for (int k = 0; k < n; k++) {
    int take = k < TEAM_CANDIDATES;
    cm_skillset has = p->inst->workers[p->e_wrk[cand[k].e]].skills;
    for (int sk = 0; !take && sk < CM_MAX_SKILLS; sk++) {
      if (!(rq->skills & has & (1u << sk)))
        continue;
      int seen = 0; /* holders of sk already kept */
      for (int m = 0; m < keep; m++)
        seen += (p->inst->workers[p->e_wrk[cand[m].e]].skills >> sk) & 1;
      take = seen < SKILL_HOLDERS;
    }
    if (take && keep < TEAM_CANDIDATES + SKILL_HOLDERS * 2)
      cand[keep++] = cand[k];
  }
  n = keep;
  if (n < staff)
    return 0;
  double best_score = p->penalty[t];
  int found = 0, idx[CM_MAX_STAFF];
  for (int k = 0; k < staff; k++)
    idx[k] = k;
  for (;;) { /* every staff-subset of the n candidates, lexicographically */
    double sc = 0;
    cm_skillset have = 0;
    for (int k = 0; k < staff; k++) {
      sc += cand[idx[k]].score;
      have |= p->inst->workers[p->e_wrk[cand[idx[k]].e]].skills;
    }
    int covers =
        rq->skill_mode != CM_SKILLS_ALL || (have & rq->skills) == rq->skills;
    if (covers && sc < best_score) {
      best_score = sc;
      found = 1;
      for (int k = 0; k < staff; k++)
        best[k] = cand[idx[k]].e;
    }
    int k = staff - 1;
    while (k >= 0 && idx[k] == n - staff + k)
      k--;
    if (k < 0)
      break;
    idx[k]++;
    for (int m = k + 1; m < staff; m++)
      idx[m] = idx[m - 1] + 1;
  }
  return found ? staff : 0;
}

/* Objective of the ones' network answer (edges or penalties). */
static double net_objective(const cm__problem *p, const cm__net *n) {
  double f = 0;
  for (int i = 0; i < n->nr; i++)
    f += n->asg[i] >= 0 ? p->e_cost[n->asg[i]] : p->penalty[n->reqs[i]];
  return f;
}

/* One strategy: teams at cost + scale * price, then the ones' network
 * answer around them. Leaves the teams taken in s and the ones' answer in
 * net; returns the objective, or a negative value (-1 out of memory, -2
 * deadline) with nothing left taken. */
static double try_strategy(const cm__problem *p, cm__solution *s, int *reqs,
                           int nr, int *ones, int n1, const int *wrks, int nw,
                           int *rloc, int *wloc, const cm__clock *clk,
                           const double *price, double scale, double *scaled,
                           scored *cand, cm__net *net) {
  double f = 0;
  for (int k = 0; k < nw; k++)
    scaled[wrks[k]] = scale * price[wrks[k]];
  for (int a = 0; a < nr; a++) {
    int t = reqs[a], best[CM_MAX_STAFF];
    if (p->inst->requests[t].staff == 1)
      continue;
    int m = pick_team(p, s, t, scaled, cand, best);
    for (int k = 0; k < m; k++) {
      cm__solution_take(s, p, best[k]);
      f += p->e_cost[best[k]];
    }
    if (!m)
      f += p->penalty[t];
  }
  int r = -1;
  if (cm__net_init(net, p, s->load, ones, n1, wrks, nw, rloc, wloc) == 0)
    r = cm__net_run(net, clk);
  if (r == 1)
    return f + net_objective(p, net);
  for (int a = 0; a < nr; a++)
    if (p->inst->requests[reqs[a]].staff > 1)
      cm__solution_drop(s, p, reqs[a]);
  cm__net_free(net);
  return r < 0 ? -1 : -2;
}

/* One call of cm__teams_decompose: its component and working arrays. */
typedef struct decomp {
  const cm__problem *p;
  cm__solution *s;
  int *reqs; /* the component's requests */
  int nr;
  const int *wrks; /* ... and workers */
  int nw;
  int *rloc, *wloc;     /* the network's scratch maps */
  const cm__clock *clk; /* the deadline */
  int *ones;            /* the one-person requests */
  int n1;               /* how many */
  int *base;            /* loads before the teams, by index in wrks */
  int *best_x;          /* the best strategy's team edges */
  int n_best_x;         /* how many */
  int *best_asg;        /* ... its ones' answer, an edge or -1 each */
  double best_f;        /* ... its objective, -1: none yet */
  double *price;        /* worker prices from the ones' optimum */
  double *scaled;       /* try_strategy's scratch, by worker */
  double *net_price;    /* the prices of a strategy's network answer */
  scored *cand;         /* pick_team's scratch */
  cm__net net;          /* the network of the moment */
} decomp;

static int decomp_alloc(decomp *d) {
  const cm__problem *p = d->p;
  d->ones = cm__malloc_array(d->nr, sizeof *d->ones);
  d->base = cm__malloc_array(d->nw, sizeof *d->base);
  d->best_x = cm__malloc_array((size_t)d->nr * CM_MAX_STAFF, sizeof *d->best_x);
  d->best_asg = cm__malloc_array(d->nr, sizeof *d->best_asg);
  d->price = cm__calloc_array(p->nw, sizeof *d->price);
  d->scaled = cm__calloc_array(p->nw, sizeof *d->scaled);
  d->net_price = cm__calloc_array(p->nw, sizeof *d->net_price);
  d->cand =
      malloc((size_t)(p->inst->params.k * CM_MAX_STAFF + 1) * sizeof *d->cand);
  return d->ones && d->base && d->best_x && d->best_asg && d->price &&
                 d->scaled && d->net_price && d->cand
             ? 0
             : -1;
}

static void decomp_free(decomp *d) {
  cm__net_free(&d->net);
  free(d->ones);
  free(d->base);
  free(d->best_x);
  free(d->best_asg);
  free(d->price);
  free(d->scaled);
  free(d->net_price);
  free(d->cand);
}

/* The one-person requests into ones, the workers' loads into base. */
static void split_ones(decomp *d) {
  for (int a = 0; a < d->nr; a++)
    if (d->p->inst->requests[d->reqs[a]].staff == 1)
      d->ones[d->n1++] = d->reqs[a];
  for (int k = 0; k < d->nw; k++)
    d->base[k] = d->s->load[d->wrks[k]];
}

/* The one-person optimum alone prices the workers (into price). Returns
 * 1, 0 when the deadline passed, -1 out of memory. */
static int price_workers(decomp *d) {
  if (cm__net_init(&d->net, d->p, d->s->load, d->ones, d->n1, d->wrks, d->nw,
                   d->rloc, d->wloc) != 0)
    return -1;
  int r = cm__net_run(&d->net, d->clk);
  if (r <= 0)
    return r < 0 ? -1 : 0;
  cm__net_prices(&d->net, d->price);
  cm__net_free(&d->net);
  return 1;
}

/* Exchange the workers' loads in s with base. */
static void swap_loads(decomp *d) {
  for (int w = 0; w < d->nw; w++) {
    int tmp = d->s->load[d->wrks[w]];
    d->s->load[d->wrks[w]] = d->base[w];
    d->base[w] = tmp;
  }
}

/* A certified bound at the prices of the strategy's network answer, with
 * the loads as they were before its teams (outside capacity). */
static double strategy_bound(decomp *d) {
  memset(d->net_price, 0, (size_t)d->p->nw * sizeof *d->net_price);
  cm__net_prices(&d->net, d->net_price);
  swap_loads(d);
  double b =
      cm__dual_bound(d->p, d->s, d->reqs, d->nr, d->wrks, d->nw, d->net_price);
  swap_loads(d);
  return b;
}

/* Remember the strategy's answer (teams in s, ones in net) when its
 * objective f is the best so far. */
static void keep_if_best(decomp *d, double f) {
  const cm__problem *p = d->p;
  if (!(d->best_f < 0 || f < d->best_f))
    return;
  d->best_f = f;
  d->n_best_x = 0;
  for (int a = 0; a < d->nr; a++) {
    int t = d->reqs[a];
    if (p->inst->requests[t].staff > 1 && d->s->served[t])
      for (int e = p->r_start[t]; e < p->r_start[t + 1]; e++)
        if (d->s->x[e])
          d->best_x[d->n_best_x++] = e;
  }
  memcpy(d->best_asg, d->net.asg, (size_t)d->n1 * sizeof *d->best_asg);
}

/* Drop the strategy's teams from s, for the next one. */
static void undo_teams(decomp *d) {
  for (int a = 0; a < d->nr; a++)
    if (d->p->inst->requests[d->reqs[a]].staff > 1)
      cm__solution_drop(d->s, d->p, d->reqs[a]);
}

/* Take the best strategy's teams and ones' answer into s. */
static void apply_best(decomp *d) {
  for (int k = 0; k < d->n_best_x; k++)
    cm__solution_take(d->s, d->p, d->best_x[k]);
  for (int i = 0; i < d->n1; i++)
    if (d->best_asg[i] >= 0)
      cm__solution_take(d->s, d->p, d->best_asg[i]);
}

int cm__teams_decompose(const cm__problem *p, cm__solution *s, int *reqs,
                        int nr, const int *wrks, int nw, int *rloc, int *wloc,
                        const cm__clock *clk, double *lb, int *cut) {
  static const double scales[] = {1.0, 0.0, 0.5};
  decomp d = {.p = p,
              .s = s,
              .reqs = reqs,
              .nr = nr,
              .wrks = wrks,
              .nw = nw,
              .rloc = rloc,
              .wloc = wloc,
              .clk = clk,
              .best_f = -1};
  int rc = -1;
  *cut = 0;
  *lb = -1e300;
  if (decomp_alloc(&d) != 0)
    goto done;
  split_ones(&d);
  int r = price_workers(&d);
  if (r <= 0) {
    rc = r; /* deadline: nothing applied */
    goto done;
  }
  /* strategies: teams at full, zero and half prices; keep the best */
  for (size_t k = 0; k < sizeof scales / sizeof *scales; k++) {
    double f = try_strategy(p, s, reqs, nr, d.ones, d.n1, wrks, nw, rloc, wloc,
                            clk, d.price, scales[k], d.scaled, d.cand, &d.net);
    if (f == -1)
      goto done;
    if (f < 0)
      break; /* deadline: keep the best so far */
    double b = strategy_bound(&d);
    if (b > *lb)
      *lb = b;
    keep_if_best(&d, f);
    undo_teams(&d);
    cm__net_free(&d.net);
  }
  if (d.best_f < 0) { /* no strategy finished: greedy around the prices */
    cm__greedy(p, s, reqs, nr);
    *lb = cm__dual_bound(p, s, reqs, 0, wrks, 0, NULL);
    *cut = 1;
    rc = 1;
    goto done;
  }
  apply_best(&d);
  rc = 1;
done:
  decomp_free(&d);
  return rc;
}
