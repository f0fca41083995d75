/* greedy.c -- the floor and the fallback: most urgent first, cheapest
 * feasible edge; a team is staffed whole or not at all. Fast, feasible, not
 * optimal. The same pick builds the floor while candidates are found
 * (candidates.c) and completes a component the deadline cut (solve.c). */
#include <stdlib.h>

#include "base/sort.h"
#include "stages.h"

/* Priority: urgency, then longest waiting, then request index. */
static int by_priority(const void *ctx, int i, int j) {
  const cm__problem *p = ctx;
  const cm_request *x = &p->inst->requests[i], *y = &p->inst->requests[j];
  if (x->urgency != y->urgency)
    return x->urgency < y->urgency ? -1 : 1;
  if (x->waited_s != y->waited_s)
    return x->waited_s > y->waited_s ? -1 : 1;
  return (i > j) - (i < j);
}

/* The same order on keys copied out of the requests once, so the sort does
 * not read a request record per comparison (5,000 of them are 1 MB). */
typedef struct prio_key {
  int urgency;
  int i;
  double waited_s;
} prio_key;

static int by_key(const void *a, const void *b) {
  const prio_key *x = a, *y = b;
  if (x->urgency != y->urgency)
    return x->urgency < y->urgency ? -1 : 1;
  if (x->waited_s != y->waited_s)
    return x->waited_s > y->waited_s ? -1 : 1;
  return (x->i > y->i) - (x->i < y->i);
}

void cm__sort_by_priority(const cm__problem *p, int *reqs, int n) {
  prio_key *k = n > 64 ? malloc((size_t)n * sizeof *k) : NULL;
  if (!k) { /* small, or no memory for keys: the same order, in place */
    cm__sort_ints(reqs, n, by_priority, p);
    return;
  }
  for (int a = 0; a < n; a++) {
    const cm_request *r = &p->inst->requests[reqs[a]];
    k[a] = (prio_key){(int)r->urgency, reqs[a], r->waited_s};
  }
  qsort(k, (size_t)n, sizeof *k, by_key);
  for (int a = 0; a < n; a++)
    reqs[a] = k[a].i;
  free(k);
}

static int popcount(cm_skillset s) {
  return __builtin_popcount(s);
}

int cm__greedy_pick(const cm__problem *p, const int *load, const int *wrk,
                    int from, int to, int i, int *chosen) {
  const cm_request *rq = &p->inst->requests[i];
  if (rq->staff == 1) {
    for (int e = from; e < to; e++)
      if (load[wrk[e]] < p->cap[wrk[e]]) {
        chosen[0] = e;
        return 1;
      }
    return 0;
  }
  int n = 0;
  cm_skillset needed = rq->skill_mode == CM_SKILLS_ALL ? rq->skills : 0;
  for (int e = from; e < to && n < rq->staff; e++) {
    int w = wrk[e];
    if (load[w] >= p->cap[w])
      continue;
    cm_skillset has = p->inst->workers[w].skills;
    if (rq->staff - n > popcount(needed) || (has & needed)) {
      chosen[n++] = e;
      needed &= ~has;
    }
  }
  return n < rq->staff || needed ? 0 : n;
}

int cm__greedy(const cm__problem *p, cm__solution *s, int *reqs, int n) {
  int served = 0, chosen[CM_MAX_STAFF];
  cm__sort_by_priority(p, reqs, n);
  for (int k = 0; k < n; k++) {
    int i = reqs[k];
    if (s->served[i])
      continue;
    int m = cm__greedy_pick(p, s->load, p->e_wrk, p->r_start[i],
                            p->r_start[i + 1], i, chosen);
    for (int c = 0; c < m; c++)
      cm__solution_take(s, p, chosen[c]);
    served += m > 0;
  }
  return served;
}
