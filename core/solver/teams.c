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

#include "base/alloc.h"
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

int cm__teams_decompose(const cm__problem *p, cm__solution *s, int *reqs,
                        int nr, const int *wrks, int nw, int *rloc, int *wloc,
                        const cm__clock *clk, double *lb, int *cut) {
  static const double scales[] = {1.0, 0.0, 0.5};
  int *ones = cm__malloc_array(nr, sizeof *ones);
  int *base = cm__malloc_array(nw, sizeof *base);
  int *best_x = cm__malloc_array((size_t)nr * CM_MAX_STAFF, sizeof *best_x);
  int *best_asg = cm__malloc_array(nr, sizeof *best_asg);
  double *price = cm__calloc_array(p->nw, sizeof *price);
  double *scaled = cm__calloc_array(p->nw, sizeof *scaled);
  double *net_price = cm__calloc_array(p->nw, sizeof *net_price);
  scored *cand =
      malloc((size_t)(p->inst->params.k * CM_MAX_STAFF + 1) * sizeof *cand);
  int n1 = 0, rc = -1, n_best_x = 0;
  double best_f = -1;
  cm__net net;
  memset(&net, 0, sizeof net);
  *cut = 0;
  *lb = -1e300;
  if (!ones || !base || !best_x || !best_asg || !price || !scaled ||
      !net_price || !cand)
    goto done;
  for (int a = 0; a < nr; a++)
    if (p->inst->requests[reqs[a]].staff == 1)
      ones[n1++] = reqs[a];
  for (int k = 0; k < nw; k++)
    base[k] = s->load[wrks[k]];
  /* the one-person optimum alone prices the workers */
  if (cm__net_init(&net, p, s->load, ones, n1, wrks, nw, rloc, wloc) != 0)
    goto done;
  int r = cm__net_run(&net, clk);
  if (r <= 0) {
    rc = r < 0 ? -1 : 0; /* deadline: nothing applied */
    goto done;
  }
  cm__net_prices(&net, price);
  cm__net_free(&net);
  /* strategies: teams at full, zero and half prices; keep the best */
  for (size_t k = 0; k < sizeof scales / sizeof *scales; k++) {
    double f = try_strategy(p, s, reqs, nr, ones, n1, wrks, nw, rloc, wloc, clk,
                            price, scales[k], scaled, cand, &net);
    if (f == -1)
      goto done;
    if (f < 0)
      break; /* deadline: keep the best so far */
    /* a certified bound at this answer's prices (outside capacity) */
    memset(net_price, 0, (size_t)p->nw * sizeof *net_price);
    cm__net_prices(&net, net_price);
    for (int w = 0; w < nw; w++) {
      int tmp = s->load[wrks[w]];
      s->load[wrks[w]] = base[w];
      base[w] = tmp;
    }
    double b = cm__dual_bound(p, s, reqs, nr, wrks, nw, net_price);
    for (int w = 0; w < nw; w++) {
      int tmp = s->load[wrks[w]];
      s->load[wrks[w]] = base[w];
      base[w] = tmp;
    }
    if (b > *lb)
      *lb = b;
    if (best_f < 0 || f < best_f) {
      best_f = f;
      n_best_x = 0;
      for (int a = 0; a < nr; a++) {
        int t = reqs[a];
        if (p->inst->requests[t].staff > 1 && s->served[t])
          for (int e = p->r_start[t]; e < p->r_start[t + 1]; e++)
            if (s->x[e])
              best_x[n_best_x++] = e;
      }
      memcpy(best_asg, net.asg, (size_t)n1 * sizeof *best_asg);
    }
    for (int a = 0; a < nr; a++) /* undo for the next strategy */
      if (p->inst->requests[reqs[a]].staff > 1)
        cm__solution_drop(s, p, reqs[a]);
    cm__net_free(&net);
  }
  if (best_f < 0) { /* no strategy finished: greedy around the prices */
    cm__greedy(p, s, reqs, nr);
    *lb = cm__dual_bound(p, s, reqs, 0, wrks, 0, NULL);
    *cut = 1;
    rc = 1;
    goto done;
  }
  for (int k = 0; k < n_best_x; k++)
    cm__solution_take(s, p, best_x[k]);
  for (int i = 0; i < n1; i++)
    if (best_asg[i] >= 0)
      cm__solution_take(s, p, best_asg[i]);
  rc = 1;
done:
  cm__net_free(&net);
  free(ones);
  free(base);
  free(best_x);
  free(best_asg);
  free(price);
  free(scaled);
  free(net_price);
  free(cand);
  return rc;
}
