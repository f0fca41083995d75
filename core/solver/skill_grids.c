/* skill_grids.c -- per-skill grids of matchable workers, built on demand
 * (skill_grids.h). */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "skill_grids.h"

static int matchable(const cm_instance *inst, const cm_worker *w) {
  if (!w->has_position || w->status != CM_WORKER_AVAILABLE || w->capacity <= 0)
    return 0;
  return inst->params.stale_ms <= 0 ||
         inst->params.now_ms - w->seen_ms <= inst->params.stale_ms;
}

int cm__skill_grids_init(cm__skill_grids *g, const cm_instance *inst,
                         int *cap) {
  int n = inst->n_workers;
  memset(g, 0, sizeof *g);
  g->inst = inst;
  g->items = cm__malloc_array(n, sizeof *g->items);
  g->scratch = cm__malloc_array(n, sizeof *g->scratch);
  if (!g->items || !g->scratch) {
    cm__skill_grids_free(g);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    const cm_worker *w = &inst->workers[i];
    cap[i] = w->capacity;
    if (!matchable(inst, w))
      continue;
    g->items[g->n++] = (cm__grid_item){w->lat, w->lon, i, w->skills};
    for (cm_skillset s = w->skills; s; s &= s - 1)
      g->count[__builtin_ctz(s)]++;
  }
  return 0;
}

void cm__skill_grids_free(cm__skill_grids *g) {
  free(g->items);
  free(g->scratch);
  for (int s = 0; s < CM_MAX_SKILLS; s++)
    cm__grid_free(&g->skill[s]);
  memset(g, 0, sizeof *g);
}

const cm__grid *cm__skill_grid(cm__skill_grids *g, int s) {
  if (g->built[s])
    return &g->skill[s];
  int c = 0;
  for (int i = 0; i < g->n; i++)
    if (g->items[i].tag & (1u << s))
      g->scratch[c++] = g->items[i];
  if (cm__grid_build(&g->skill[s], g->scratch, c, 0) != 0)
    return NULL;
  g->built[s] = 1;
  return &g->skill[s];
}
