/* grid.h -- a uniform grid over projected positions for nearest-K search.
 * Used by candidate search here and by the memory position store. */
#ifndef CM_GRID_H_INCLUDED_
#define CM_GRID_H_INCLUDED_

typedef struct cm__grid_item {
  double lat, lon; /* position, degrees */
  int id;          /* point id given at build */
  unsigned tag;    /* caller's tag (skills, for candidate search) */
} cm__grid_item;

typedef struct cm__grid {
  double lat0, lon0;    /* projection origin */
  double kx, ky;        /* km per degree of longitude / latitude */
  double cell_km;       /* cell side */
  int gx, gy;           /* cells per axis */
  int *start;           /* gx*gy+1 offsets into items */
  cm__grid_item *items; /* points by cell, ids ascending within a cell */
  int n;                /* points stored */
  int wide;             /* the box spans too much of the globe for the planar
                           bounds: every search scans it whole */
  double lat1, lon1;    /* far corner of the box */
} cm__grid;

/* Build over n points (ids ascending). cell_km <= 0 picks a size from
 * the density. Returns 0, or -1 when out of memory (grid left empty, safe
 * to free). */
int cm__grid_build(cm__grid *g, const cm__grid_item *pts, int n,
                   double cell_km);
void cm__grid_free(cm__grid *g);

/* 1 when a search around (lat, lon) can trust the planar bounds (a city:
 * a box of a few degrees away from the poles, the point near it). */
int cm__grid_local(const cm__grid *g, double lat, double lon);

/* Visit candidates around (lat, lon) ring by ring (every point, when the
 * search is not local). For each point in the
 * ring, accept(ctx, id) is called; after each ring, done(ctx, ring_km) says
 * whether to stop: ring_km is a lower bound on the distance of every point
 * not yet visited. */
typedef void (*cm__grid_accept_fn)(void *ctx, const cm__grid_item *it);
typedef int (*cm__grid_done_fn)(void *ctx, double ring_km);
void cm__grid_visit(const cm__grid *g, double lat, double lon,
                    cm__grid_accept_fn accept, cm__grid_done_fn done,
                    void *ctx);

#endif
