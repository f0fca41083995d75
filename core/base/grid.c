/* grid.c -- uniform grid over an equirectangular projection, for
 * ring-by-ring nearest-neighbour search. The projection under-estimates
 * distances (smallest longitude scale in the box), so ring bounds are safe
 * lower bounds on great-circle distance. Points are stored by cell, with
 * their positions, so a search touches memory in order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "grid.h"

#define KM_PER_DEG_LAT 110.57
#define KM_PER_DEG_LON_EQ 111.32
#define RING_MARGIN 0.99 /* curvature slack on the lower bound */
#define WIDE_DEG 10.0    /* a box wider than this is scanned whole */
#define POLAR_DEG 70.0   /* so is one reaching beyond this latitude */

void cm__grid_free(cm__grid *g) {
  free(g->start);
  free(g->items);
  memset(g, 0, sizeof *g);
}

static int cell_of(const cm__grid *g, double v, int n) {
  double q = v / g->cell_km; /* truncation is floor for q >= 0 */
  int c = q < 0 ? -1 : (int)q;
  return c < 0 ? 0 : (c >= n ? n - 1 : c);
}

static int point_cell(const cm__grid *g, const cm__grid_item *it) {
  double x = (it->lon - g->lon0) * g->kx, y = (it->lat - g->lat0) * g->ky;
  return cell_of(g, y, g->gy) * g->gx + cell_of(g, x, g->gx);
}

int cm__grid_build(cm__grid *g, const cm__grid_item *pts, int n,
                   double cell_km) {
  memset(g, 0, sizeof *g);
  double la0 = 90, la1 = -90, lo0 = 180, lo1 = -180;
  for (int i = 0; i < n; i++) { /* comparisons, not fmin: no libm call */
    double la = pts[i].lat, lo = pts[i].lon;
    la0 = la < la0 ? la : la0, la1 = la > la1 ? la : la1;
    lo0 = lo < lo0 ? lo : lo0, lo1 = lo > lo1 ? lo : lo1;
  }
  if (n == 0)
    la0 = la1 = lo0 = lo1 = 0;
  const double rad = 3.14159265358979323846 / 180.0;
  g->lat0 = la0;
  g->lon0 = lo0;
  g->lat1 = la1;
  g->lon1 = lo1;
  g->wide = la1 - la0 > WIDE_DEG || lo1 - lo0 > WIDE_DEG ||
            fmax(fabs(la0), fabs(la1)) > POLAR_DEG;
  g->ky = KM_PER_DEG_LAT;
  g->kx = KM_PER_DEG_LON_EQ * fmin(cos(la0 * rad), cos(la1 * rad));
  if (g->kx < 1e-3)
    g->kx = 1e-3;
  double w = (lo1 - lo0) * g->kx + 1e-9, h = (la1 - la0) * g->ky + 1e-9;
  if (cell_km <= 0) /* about one point per cell (fewest instructions at
                       50,000 clustered workers, measured with callgrind) */
    cell_km = sqrt(w * h / (n > 0 ? n : 1) * 1.0);
  if (cell_km < 0.05)
    cell_km = 0.05;
  while ((w / cell_km + 1) * (h / cell_km + 1) > 4.0 * n + 16)
    cell_km *= 1.5;
  g->cell_km = cell_km;
  g->gx = (int)(w / cell_km) + 1;
  g->gy = (int)(h / cell_km) + 1;
  g->n = n;
  size_t cells = (size_t)g->gx * g->gy;
  g->start = calloc(cells + 1, sizeof *g->start);
  g->items = cm__malloc_array(n, sizeof *g->items);
  int *fill = malloc((cells + 1) * sizeof *fill);
  int *cell = cm__malloc_array(n, sizeof *cell);
  if (!g->start || !g->items || !fill || !cell) {
    free(fill);
    free(cell);
    cm__grid_free(g);
    return -1;
  }
  for (int i = 0; i < n; i++) /* each point's cell, computed once */
    g->start[(cell[i] = point_cell(g, &pts[i])) + 1]++;
  for (size_t c = 0; c < cells; c++)
    g->start[c + 1] += g->start[c];
  memcpy(fill, g->start, (cells + 1) * sizeof *fill);
  for (int i = 0; i < n; i++)
    g->items[fill[cell[i]]++] = pts[i];
  free(fill);
  free(cell);
  return 0;
}

static void visit_cell(const cm__grid *g, int cx, int cy,
                       cm__grid_accept_fn accept, void *ctx) {
  if (cx < 0 || cy < 0 || cx >= g->gx || cy >= g->gy)
    return;
  int c = cy * g->gx + cx;
  for (int k = g->start[c]; k < g->start[c + 1]; k++)
    accept(ctx, &g->items[k]);
}

static int imax(int a, int b) {
  return a > b ? a : b;
}

int cm__grid_local(const cm__grid *g, double lat, double lon) {
  return !g->wide && fabs(lat) <= POLAR_DEG && lat >= g->lat0 - WIDE_DEG &&
         lat <= g->lat1 + WIDE_DEG && lon >= g->lon0 - WIDE_DEG &&
         lon <= g->lon1 + WIDE_DEG;
}

void cm__grid_visit(const cm__grid *g, double lat, double lon,
                    cm__grid_accept_fn accept, cm__grid_done_fn done,
                    void *ctx) {
  if (!g->start || g->n == 0)
    return;
  if (!cm__grid_local(g, lat, lon)) { /* no planar bound is safe: scan */
    for (int k = 0; k < g->n; k++)
      accept(ctx, &g->items[k]);
    return;
  }
  double x = (lon - g->lon0) * g->kx, y = (lat - g->lat0) * g->ky;
  double fx = floor(x / g->cell_km), fy = floor(y / g->cell_km);
  /* a query far outside the box starts from the nearest edge cell */
  fx = fmax(-1.0, fmin(fx, (double)g->gx)),
  fy = fmax(-1.0, fmin(fy, (double)g->gy));
  int cx = (int)fx, cy = (int)fy;
  int far = imax(imax(abs(cx), abs(cx - (g->gx - 1))),
                 imax(abs(cy), abs(cy - (g->gy - 1))));
  for (int ring = 0; ring <= far; ring++) {
    if (ring == 0) {
      visit_cell(g, cx, cy, accept, ctx);
    } else {
      for (int d = -ring; d <= ring; d++) {
        visit_cell(g, cx + d, cy - ring, accept, ctx);
        visit_cell(g, cx + d, cy + ring, accept, ctx);
      }
      for (int d = -ring + 1; d <= ring - 1; d++) {
        visit_cell(g, cx - ring, cy + d, accept, ctx);
        visit_cell(g, cx + ring, cy + d, accept, ctx);
      }
    }
    if (done(ctx, ring * g->cell_km * RING_MARGIN))
      return;
  }
}
