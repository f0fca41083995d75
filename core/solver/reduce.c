/* reduce.c -- exact reductions before solving.
 *
 * A worker is uncontested when its free capacity covers every active
 * request that can reach it. A one-person request whose cheapest edge goes
 * to an uncontested worker takes it in some optimal solution (moving it
 * there never costs more and never displaces anyone), so it is fixed and
 * its edges leave the graph, which may make more workers uncontested.
 * Repeat until nothing changes, or until the clock says stop (each fixing
 * is exact on its own, so a partial reduction is still exact). */
#include <stdlib.h>

#include "alloc.h"
#include "stages.h"

int cm__reduce(const cm__problem *p, cm__solution *s, unsigned char *active,
               const cm__clock *clk) {
  int *deg = cm__calloc_array(p->nw, sizeof *deg);
  int *queue = cm__malloc_array(p->nr, sizeof *queue);
  unsigned char *queued = cm__calloc_array(p->nr, 1);
  int fixed = -1;
  if (!deg || !queue || !queued)
    goto done;
  for (int e = 0; e < p->ne; e++)
    if (active[p->e_req[e]])
      deg[p->e_wrk[e]]++;
  int head = 0, tail = 0;
  for (int i = 0; i < p->nr; i++)
    if (active[i] && p->inst->requests[i].staff == 1) {
      queue[tail++] = i;
      queued[i] = 1;
    }
  fixed = 0;
  for (int step = 1; head < tail; step++) {
    if ((step & 255) == 0 && clk && cm__clock_expired(clk))
      break; /* every fixing so far is exact: stopping early is safe */
    int i = queue[head++];
    queued[i] = 0;
    if (!active[i] || p->r_start[i] == p->r_start[i + 1])
      continue;
    int e0 = p->r_start[i], j = p->e_wrk[e0];
    if (deg[j] > p->cap[j] - s->load[j])
      continue;
    cm__solution_take(s, p, e0);
    active[i] = 0;
    fixed++;
    for (int e = p->r_start[i]; e < p->r_start[i + 1]; e++) {
      int w = p->e_wrk[e];
      deg[w]--;
      if (w == j || deg[w] > p->cap[w] - s->load[w])
        continue;
      /* w just became uncontested: its requests may now be fixed */
      for (int k = p->w_start[w]; k < p->w_start[w + 1]; k++) {
        int r = p->e_req[p->w_edges[k]];
        if (active[r] && !queued[r] && p->inst->requests[r].staff == 1 &&
            p->e_wrk[p->r_start[r]] == w) {
          /* queue has room: each request is queued at most once at a time
             and was dequeued before; reuse the consumed prefix */
          if (tail == p->nr) {
            for (int q = head; q < tail; q++)
              queue[q - head] = queue[q];
            tail -= head;
            head = 0;
          }
          queue[tail++] = r;
          queued[r] = 1;
        }
      }
    }
  }
done:
  free(deg);
  free(queue);
  free(queued);
  return fixed;
}
