/* problem_oracle.c -- test support: exact optimum of a candidate graph's
 * one-person part by enumeration (see problem_oracle.h). */
#include "problem_oracle.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct search {
  const cm__problem *p;
  const int *reqs;
  int n;
  int *left;      /* nw: capacity left per global worker */
  double *floor;  /* n+1: suffix sums of each request's cheapest option */
  int *pick;      /* n: the current choice */
  int *best_pick; /* n: the best choice so far, or NULL */
  double best;
} search;

/* The cheapest option of request g, capacities ignored. */
static double cheapest(const cm__problem *p, int g) {
  double c = p->penalty[g];
  for (int e = p->r_start[g]; e < p->r_start[g + 1]; e++)
    if (p->e_cost[e] < c)
      c = p->e_cost[e];
  return c;
}

static void descend(search *s, int k, double cost) {
  if (cost + s->floor[k] >= s->best - 1e-12 * (1 + fabs(s->best)))
    return;
  if (k == s->n) {
    s->best = cost;
    if (s->best_pick)
      for (int a = 0; a < s->n; a++)
        s->best_pick[a] = s->pick[a];
    return;
  }
  const cm__problem *p = s->p;
  int g = s->reqs[k];
  for (int e = p->r_start[g]; e < p->r_start[g + 1]; e++) {
    int w = p->e_wrk[e];
    if (s->left[w] <= 0)
      continue;
    s->left[w]--;
    s->pick[k] = e;
    descend(s, k + 1, cost + p->e_cost[e]);
    s->left[w]++;
  }
  s->pick[k] = -1;
  descend(s, k + 1, cost + p->penalty[g]);
}

double cm_oracle_assign(const cm__problem *p, const int *reqs, int n,
                        const int *freecap, int *best) {
  if (n > CM_ORACLE_MAX_REQUESTS) {
    fprintf(stderr, "oracle: %d requests, at most %d\n", n,
            CM_ORACLE_MAX_REQUESTS);
    abort();
  }
  search s = {p, reqs, n, NULL, NULL, NULL, best, INFINITY};
  s.left = malloc(sizeof *s.left * (size_t)(p->nw > 0 ? p->nw : 1));
  s.floor = malloc(sizeof *s.floor * (size_t)(n + 1));
  s.pick = malloc(sizeof *s.pick * (size_t)(n > 0 ? n : 1));
  if (!s.left || !s.floor || !s.pick)
    abort();
  for (int w = 0; w < p->nw; w++)
    s.left[w] = freecap[w];
  s.floor[n] = 0;
  for (int k = n - 1; k >= 0; k--)
    s.floor[k] = s.floor[k + 1] + cheapest(p, reqs[k]);
  /* every request out is a feasible answer: the search starts above it */
  double all_out = 0;
  for (int k = 0; k < n; k++)
    all_out += p->penalty[reqs[k]];
  s.best = all_out + 1 + fabs(all_out);
  descend(&s, 0, 0.0);
  free(s.left);
  free(s.floor);
  free(s.pick);
  return s.best;
}

double cm_oracle_cost(const cm__problem *p, const cm__solution *s) {
  double c = 0;
  for (int e = 0; e < p->ne; e++)
    if (s->x[e])
      c += p->e_cost[e];
  for (int i = 0; i < p->nr; i++)
    if (!s->served[i])
      c += p->penalty[i];
  return c;
}

int cm_oracle_solution_ok(const cm__problem *p, const cm__solution *s,
                          char *msg) {
  int *load = calloc((size_t)(p->nw > 0 ? p->nw : 1), sizeof *load);
  int ok = 0;
  if (!load)
    abort();
  for (int i = 0; i < p->nr; i++) {
    int taken = 0;
    for (int e = p->r_start[i]; e < p->r_start[i + 1]; e++)
      if (s->x[e]) {
        taken++;
        load[p->e_wrk[e]]++;
      }
    if (taken > 0 && !s->served[i]) {
      snprintf(msg, 256, "request %d has edges but is not served", i);
      goto done;
    }
    if (s->served[i] && taken != p->inst->requests[i].staff) {
      snprintf(msg, 256, "request %d served by %d edges, staff %d", i, taken,
               p->inst->requests[i].staff);
      goto done;
    }
  }
  for (int w = 0; w < p->nw; w++) {
    if (load[w] != s->load[w]) {
      snprintf(msg, 256, "worker %d: load %d, edges %d", w, s->load[w],
               load[w]);
      goto done;
    }
    if (load[w] > p->cap[w]) {
      snprintf(msg, 256, "worker %d: %d jobs, capacity %d", w, load[w],
               p->cap[w]);
      goto done;
    }
  }
  ok = 1;
done:
  free(load);
  return ok;
}
