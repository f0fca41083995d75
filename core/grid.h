/* grid.h -- a uniform grid over projected positions for nearest-K search.
 * Used by candidate search here and by the memory position store. */
#ifndef CM_GRID_H_INCLUDED_
#define CM_GRID_H_INCLUDED_

typedef struct cm__grid {
  double lat0, lon0;  /* projection origin */
  double kx, ky;      /* km per degree of longitude / latitude */
  double cell_km;     /* cell side */
  int gx, gy;         /* cells per axis */
  int *start;         /* gx*gy+1 offsets into items */
  int *items;         /* point ids by cell */
  double *px, *py;    /* projected km of each point id (indexed by id) */
  int n;              /* points */
} cm__grid;

/* Build over n points (lat/lon arrays; ids 0..n-1; include[i]==0 skips a
 * point). cell_km <= 0 picks a size from the density. Returns 0, or -1 when
 * out of memory (grid left empty, safe to free). */
int cm__grid_build(cm__grid *g, const double *lat, const double *lon,
                   const unsigned char *include, int n, double cell_km);
void cm__grid_free(cm__grid *g);

/* Visit candidates around (lat, lon) ring by ring. For each point in the
 * ring, accept(ctx, id) is called; after each ring, done(ctx, ring_km) says
 * whether to stop: ring_km is a lower bound on the distance of every point
 * not yet visited. */
typedef void (*cm__grid_accept_fn)(void *ctx, int id);
typedef int (*cm__grid_done_fn)(void *ctx, double ring_km);
void cm__grid_visit(const cm__grid *g, double lat, double lon,
                    cm__grid_accept_fn accept, cm__grid_done_fn done,
                    void *ctx);

#endif
