/* greedy.c -- the fallback: most urgent first, cheapest feasible edge; a
 * team is staffed whole or not at all. Fast, feasible, not optimal. */
#include <stdlib.h>

#include "sort.h"
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

void cm__sort_by_priority(const cm__problem *p, int *reqs, int n) {
  cm__sort_ints(reqs, n, by_priority, p);
}

static int popcount(cm_skillset s) {
  return __builtin_popcount(s);
}

static int staff_team(const cm__problem *p, cm__solution *s, int i) {
  const cm_request *rq = &p->inst->requests[i];
  int chosen[CM_MAX_STAFF], n = 0;
  cm_skillset needed = rq->skill_mode == CM_SKILLS_ALL ? rq->skills : 0;
  for (int e = p->r_start[i]; e < p->r_start[i + 1] && n < rq->staff; e++) {
    int w = p->e_wrk[e];
    if (s->load[w] >= p->cap[w])
      continue;
    cm_skillset has = p->inst->workers[w].skills;
    if (rq->staff - n > popcount(needed) || (has & needed)) {
      chosen[n++] = e;
      needed &= ~has;
    }
  }
  if (n < rq->staff || needed)
    return 0;
  for (int k = 0; k < n; k++)
    cm__solution_take(s, p, chosen[k]);
  return 1;
}

int cm__greedy(const cm__problem *p, cm__solution *s, int *reqs, int n) {
  int served = 0;
  cm__sort_by_priority(p, reqs, n);
  for (int k = 0; k < n; k++) {
    int i = reqs[k];
    if (s->served[i])
      continue;
    if (p->inst->requests[i].staff > 1) {
      served += staff_team(p, s, i);
      continue;
    }
    for (int e = p->r_start[i]; e < p->r_start[i + 1]; e++)
      if (s->load[p->e_wrk[e]] < p->cap[p->e_wrk[e]]) {
        cm__solution_take(s, p, e);
        served++;
        break;
      }
  }
  return served;
}
