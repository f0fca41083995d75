/* skill_grids.h -- the batch's per-skill grids of matchable workers, each
 * built the first time a request needs it, so a batch pays only for the
 * skills it searches, and the most urgent requests are searched before
 * the rest of the grids exist. Internal to the candidate search. */
#ifndef CM_SKILL_GRIDS_H_INCLUDED_
#define CM_SKILL_GRIDS_H_INCLUDED_

#include "base/grid.h"
#include "carematch/model.h"

typedef struct cm__skill_grids {
  const cm_instance *inst; /* borrowed */
  cm__grid_item *items;    /* matchable workers, ids ascending */
  int n;                   /* items */
  cm__grid_item *scratch;  /* one skill's items while its grid builds */
  cm__grid skill[CM_MAX_SKILLS];
  unsigned char built[CM_MAX_SKILLS];
  int count[CM_MAX_SKILLS]; /* matchable holders of each skill */
} cm__skill_grids;

/* Collect the matchable workers, and every worker's capacity into cap[]
 * (one pass over the workers; no grid is built yet). Returns 0, or -1 when
 * out of memory (nothing to free). */
int cm__skill_grids_init(cm__skill_grids *g, const cm_instance *inst, int *cap);
void cm__skill_grids_free(cm__skill_grids *g);

/* The grid of skill s, built now if it is not yet. Returns NULL when out of
 * memory (the grids stay usable and freeable). */
const cm__grid *cm__skill_grid(cm__skill_grids *g, int s);

#endif
