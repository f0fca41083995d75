/* floor.c -- the anytime rule: the greedy answer built while candidates are
 * found is the floor, and each component keeps what the later phases found
 * only when it costs no more than the floor's answer for the same requests
 * and, unless it is a proven optimum, serves no fewer emergencies. (A
 * proven optimum is what the operator's weights ask for; with weights that
 * price an emergency's travel above the difference of penalties it may
 * leave an emergency that greedy serves, and it is kept.) Components share no
 * workers (but those an exact reduction made uncontested, whose capacity covers
 * every request that can reach them), so the floor can be put back one
 * component at a time and the whole stays feasible. */
#include <math.h>

#include "stages.h"

cm__part cm__part_of(const cm__problem *p, const cm__solution *s,
                     const int *reqs, int nr) {
  cm__part part = {0.0, 0};
  for (int a = 0; a < nr; a++) {
    int i = reqs ? reqs[a] : a;
    if (!s->served[i]) {
      part.cost += p->penalty[i];
      continue;
    }
    part.emergencies += p->inst->requests[i].urgency == CM_URGENCY_EMERGENCY;
    for (int e = p->r_start[i]; e < p->r_start[i + 1]; e++)
      if (s->x[e])
        part.cost += p->e_cost[e];
  }
  return part;
}

int cm__part_no_worse(cm__part mine, cm__part floor, int proven) {
  double scale = fabs(floor.cost) > 1.0 ? fabs(floor.cost) : 1.0;
  return mine.cost <= floor.cost + 1e-9 * scale &&
         (proven || mine.emergencies >= floor.emergencies);
}

void cm__part_restore(const cm__problem *p, cm__solution *s,
                      const cm__solution *floor, const int *reqs, int nr) {
  for (int a = 0; a < nr; a++)
    cm__solution_drop(s, p, reqs[a]);
  for (int a = 0; a < nr; a++) {
    int i = reqs[a];
    if (floor->served[i])
      for (int e = p->r_start[i]; e < p->r_start[i + 1]; e++)
        if (floor->x[e])
          cm__solution_take(s, p, e);
  }
}
