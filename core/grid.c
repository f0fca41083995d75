/* grid.c -- uniform grid over an equirectangular projection, for
 * ring-by-ring nearest-neighbour search. The projection under-estimates
 * distances (smallest longitude scale in the box), so ring bounds are safe
 * lower bounds on great-circle distance. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grid.h"

#define KM_PER_DEG_LAT 110.57
#define KM_PER_DEG_LON_EQ 111.32
#define RING_MARGIN 0.99 /* curvature slack on the lower bound */

void cm__grid_free(cm__grid *g) {
  free(g->start);
  free(g->items);
  free(g->px);
  free(g->py);
  memset(g, 0, sizeof *g);
}

static int cell_of(const cm__grid *g, double v, int n) {
  int c = (int)floor(v / g->cell_km);
  return c < 0 ? 0 : (c >= n ? n - 1 : c);
}

int cm__grid_build(cm__grid *g, const double *lat, const double *lon,
                   const unsigned char *include, int n, double cell_km) {
  memset(g, 0, sizeof *g);
  double la0 = 90, la1 = -90, lo0 = 180, lo1 = -180;
  int m = 0;
  for (int i = 0; i < n; i++) {
    if (include && !include[i])
      continue;
    m++;
    la0 = fmin(la0, lat[i]), la1 = fmax(la1, lat[i]);
    lo0 = fmin(lo0, lon[i]), lo1 = fmax(lo1, lon[i]);
  }
  if (m == 0) {
    la0 = la1 = lo0 = lo1 = 0;
  }
  const double rad = 3.14159265358979323846 / 180.0;
  g->lat0 = la0;
  g->lon0 = lo0;
  g->ky = KM_PER_DEG_LAT;
  g->kx = KM_PER_DEG_LON_EQ * fmin(cos(la0 * rad), cos(la1 * rad));
  if (g->kx < 1e-3)
    g->kx = 1e-3;
  double w = (lo1 - lo0) * g->kx + 1e-9, h = (la1 - la0) * g->ky + 1e-9;
  if (cell_km <= 0) /* about two points per cell */
    cell_km = sqrt(w * h / (m > 0 ? m : 1) * 2.0);
  if (cell_km < 0.05)
    cell_km = 0.05;
  /* bound the cell count by 4 cells per point (and at least 1) */
  while ((w / cell_km + 1) * (h / cell_km + 1) > 4.0 * m + 16)
    cell_km *= 1.5;
  g->cell_km = cell_km;
  g->gx = (int)(w / cell_km) + 1;
  g->gy = (int)(h / cell_km) + 1;
  g->n = n;
  size_t cells = (size_t)g->gx * g->gy;
  g->start = calloc(cells + 1, sizeof *g->start);
  g->items = malloc((size_t)(m ? m : 1) * sizeof *g->items);
  g->px = malloc((size_t)(n ? n : 1) * sizeof *g->px);
  g->py = malloc((size_t)(n ? n : 1) * sizeof *g->py);
  int *cellid = malloc((size_t)(n ? n : 1) * sizeof *cellid);
  if (!g->start || !g->items || !g->px || !g->py || !cellid) {
    free(cellid);
    cm__grid_free(g);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    cellid[i] = -1;
    if (include && !include[i])
      continue;
    g->px[i] = (lon[i] - g->lon0) * g->kx;
    g->py[i] = (lat[i] - g->lat0) * g->ky;
    cellid[i] = cell_of(g, g->py[i], g->gy) * g->gx + cell_of(g, g->px[i], g->gx);
    g->start[cellid[i] + 1]++;
  }
  for (size_t c = 0; c < cells; c++)
    g->start[c + 1] += g->start[c];
  int *fill = malloc((cells + 1) * sizeof *fill);
  if (!fill) {
    free(cellid);
    cm__grid_free(g);
    return -1;
  }
  memcpy(fill, g->start, (cells + 1) * sizeof *fill);
  for (int i = 0; i < n; i++) /* ids in ascending order within each cell */
    if (cellid[i] >= 0)
      g->items[fill[cellid[i]]++] = i;
  free(fill);
  free(cellid);
  return 0;
}

static void visit_cell(const cm__grid *g, int cx, int cy,
                       cm__grid_accept_fn accept, void *ctx) {
  if (cx < 0 || cy < 0 || cx >= g->gx || cy >= g->gy)
    return;
  int c = cy * g->gx + cx;
  for (int k = g->start[c]; k < g->start[c + 1]; k++)
    accept(ctx, g->items[k]);
}

void cm__grid_visit(const cm__grid *g, double lat, double lon,
                    cm__grid_accept_fn accept, cm__grid_done_fn done,
                    void *ctx) {
  if (!g->start)
    return;
  double x = (lon - g->lon0) * g->kx, y = (lat - g->lat0) * g->ky;
  int cx = (int)floor(x / g->cell_km), cy = (int)floor(y / g->cell_km);
  /* rings beyond this cover the whole grid */
  int far = 0, d;
  far = abs(cx) > far ? abs(cx) : far;
  far = abs(cx - (g->gx - 1)) > far ? abs(cx - (g->gx - 1)) : far;
  far = abs(cy) > far ? abs(cy) : far;
  far = abs(cy - (g->gy - 1)) > far ? abs(cy - (g->gy - 1)) : far;
  for (int ring = 0; ring <= far; ring++) {
    if (ring == 0) {
      visit_cell(g, cx, cy, accept, ctx);
    } else {
      for (d = -ring; d <= ring; d++) {
        visit_cell(g, cx + d, cy - ring, accept, ctx);
        visit_cell(g, cx + d, cy + ring, accept, ctx);
      }
      for (d = -ring + 1; d <= ring - 1; d++) {
        visit_cell(g, cx - ring, cy + d, accept, ctx);
        visit_cell(g, cx + ring, cy + d, accept, ctx);
      }
    }
    if (done(ctx, ring * g->cell_km * RING_MARGIN))
      return;
  }
}
