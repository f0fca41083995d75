/* solution.c -- the working solution of a batch. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "problem.h"

cm_status cm__solution_init(cm__solution *s, const cm__problem *p,
                            cm_error *err) {
  memset(s, 0, sizeof *s);
  s->x = cm__calloc_array(p->ne, 1);
  s->served = cm__calloc_array(p->nr, sizeof *s->served);
  s->load = cm__calloc_array(p->nw, sizeof *s->load);
  s->component = cm__malloc_array(p->nr, sizeof *s->component);
  if (!s->x || !s->served || !s->load || !s->component) {
    cm__solution_free(s);
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  }
  for (int i = 0; i < p->nr; i++)
    s->component[i] = -1;
  return CM_OK;
}

void cm__solution_free(cm__solution *s) {
  free(s->x);
  free(s->served);
  free(s->load);
  free(s->component);
  memset(s, 0, sizeof *s);
}

void cm__solution_take(cm__solution *s, const cm__problem *p, int e) {
  if (s->x[e])
    return;
  s->x[e] = 1;
  s->load[p->e_wrk[e]]++;
  s->served[p->e_req[e]] = 1;
}

void cm__solution_drop(cm__solution *s, const cm__problem *p, int i) {
  for (int e = p->r_start[i]; e < p->r_start[i + 1]; e++)
    if (s->x[e]) {
      s->x[e] = 0;
      s->load[p->e_wrk[e]]--;
    }
  s->served[i] = 0;
}
