/* bound.c -- a certified lower bound on a set of requests' optimum.
 *
 * Weak LP duality: for any worker prices p >= 0,
 *   sum_i min(P_i, min_e (c_e + p_j(e))) - sum_j free_j * p_j
 * is at most the LP optimum, hence at most any integer answer. With the
 * prices of an optimal network flow it equals the optimum. A team request
 * (staff s) contributes min(P_i, cheapest s edges at their prices), which
 * relaxes coverage and capacity and so stays a valid bound.
 * s->load must hold only the load from outside these requests (call it
 * before their own assignments are applied). */
#include "stages.h"

static double price_of(const double *price, int w) {
  return price ? price[w] : 0.0;
}

double cm__dual_bound(const cm__problem *p, const cm__solution *s,
                      const int *reqs, int nreq, const int *wrks, int nwrk,
                      const double *price) {
  double lb = 0;
  for (int k = 0; k < nreq; k++) {
    int i = reqs[k];
    int staff = p->inst->requests[i].staff;
    if (!price) { /* edges are sorted by cost: the first staff are cheapest */
      int n = p->r_start[i + 1] - p->r_start[i];
      double team = 0;
      for (int e = p->r_start[i]; e < p->r_start[i] + staff && n >= staff; e++)
        team += p->e_cost[e];
      lb += n >= staff && team < p->penalty[i] ? team : p->penalty[i];
      continue;
    }
    double best[CM_MAX_STAFF];
    int nb = 0;
    for (int e = p->r_start[i]; e < p->r_start[i + 1]; e++) {
      double c = p->e_cost[e] + price_of(price, p->e_wrk[e]);
      /* keep the staff cheapest, sorted ascending */
      int pos = nb < staff ? nb++ : staff;
      if (pos == staff) {
        if (c >= best[staff - 1])
          continue;
        pos = staff - 1;
      }
      while (pos > 0 && best[pos - 1] > c) {
        best[pos] = best[pos - 1];
        pos--;
      }
      best[pos] = c;
    }
    double team = 0;
    for (int m = 0; m < nb; m++)
      team += best[m];
    lb += nb == staff && team < p->penalty[i] ? team : p->penalty[i];
  }
  for (int k = 0; k < nwrk; k++) {
    int j = wrks[k];
    lb -= (p->cap[j] - s->load[j]) * price_of(price, j);
  }
  return lb;
}
