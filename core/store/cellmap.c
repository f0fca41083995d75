/* cellmap.c -- the dynamic grid of the memory position store (cellmap.h).
 *
 * Projection: x = (lon - lon0) * kx, y = (lat - lat0) * ky, with
 * ky = R_LB * pi / 180 and kx = ky * cos(lat0); a cell is (floor(x / cell),
 * floor(y / cell)). The projection only buckets points; search bounds come
 * from spherical geometry, so a poor origin costs speed, never answers.
 *
 * Ring bound: after the rings up to r around the query's cell are visited,
 * an unvisited item lies outside the visited square, so either its latitude
 * differs from the query's by gy / ky degrees (gy: projected gap from the
 * query to the square's top or bottom edge), which puts it at least R * dlat
 * away, or its raw longitude differs by gx / kx degrees. For the second
 * case, with both latitudes at most phi in absolute value, haversine gives
 * d >= 2R asin(cos(phi) sin(dlon / 2)), where dlon is the longitude gap
 * wrapped around the antimeridian: at least min(gx / kx, 360 - widest raw
 * gap to any item). phi is the larger of the query's |lat| and the largest
 * |lat| among the items. R_LB is a little below the radius of
 * cm_geo_distance_km, and a small margin covers rounding. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cellmap.h"

#define PI_ 3.14159265358979323846
#define RAD_ (PI_ / 180.0)
#define R_LB CM__EARTH_R_LB_KM
#define KY (R_LB * RAD_)       /* km per degree of latitude, lower bound */
#define BOUND_REL 1e-9         /* rounding margin on ring bounds */
#define BOUND_ABS 1e-8         /* km */
#define COORD_MAX 1000000000.0 /* cell coordinates are clamped to this */

void cm__cellmap_init(cm__cellmap *g, double cell_km) {
  memset(g, 0, sizeof *g);
  if (!(cell_km > 0)) /* also catches NaN */
    cell_km = 1.0;
  g->cell_km = fmin(fmax(cell_km, 0.01), 10000.0);
}

static void drop_cells(cm__cellmap *g) {
  for (size_t i = 0; i < g->cap; i++)
    if (g->cells[i].used)
      free(g->cells[i].items);
  free(g->cells);
  g->cells = NULL;
  g->cap = g->count = g->empty = 0;
  g->items = 0;
  g->has_origin = 0;
}

void cm__cellmap_free(cm__cellmap *g) {
  drop_cells(g);
}

void cm__cell_item_set(cm__cell_item *it, double lat, double lon,
                       int64_t seen_ms, uint32_t skills, int worker) {
  double cl = cos(lat * RAD_);
  it->x = cl * cos(lon * RAD_);
  it->y = cl * sin(lon * RAD_);
  it->z = sin(lat * RAD_);
  it->lat = lat;
  it->lon = lon;
  it->seen_ms = seen_ms;
  it->skills = skills;
  it->worker = worker;
}

static size_t cell_hash(int cx, int cy) {
  uint64_t k = ((uint64_t)(uint32_t)cx << 32) | (uint32_t)cy;
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return (size_t)k;
}

/* Table slot of cell (cx, cy), or -1. */
static long find_cell(const cm__cellmap *g, int cx, int cy) {
  if (!g->cap)
    return -1;
  size_t mask = g->cap - 1;
  for (size_t i = cell_hash(cx, cy) & mask; g->cells[i].used;
       i = (i + 1) & mask)
    if (g->cells[i].cx == cx && g->cells[i].cy == cy)
      return (long)i;
  return -1;
}

/* Put a cell into a table that has room for it. */
static void place(cm__cell *cells, size_t cap, const cm__cell *c) {
  size_t mask = cap - 1, i = cell_hash(c->cx, c->cy) & mask;
  while (cells[i].used)
    i = (i + 1) & mask;
  cells[i] = *c;
}

/* Rebuild the table with cap slots, keeping non-empty cells (and empty ones
 * too unless drop_empty). Returns 0, or -1 with the table unchanged. */
static int rebuild(cm__cellmap *g, size_t cap, int drop_empty) {
  cm__cell *cells = calloc(cap, sizeof *cells);
  if (!cells)
    return -1;
  size_t count = 0;
  for (size_t i = 0; i < g->cap; i++) {
    cm__cell *c = &g->cells[i];
    if (!c->used)
      continue;
    if (drop_empty && c->n == 0) {
      free(c->items);
      continue;
    }
    place(cells, cap, c);
    count++;
  }
  free(g->cells);
  g->cells = cells;
  g->cap = cap;
  if (drop_empty)
    g->empty = 0;
  g->count = count;
  return 0;
}

static int coord(double v, double cell_km) {
  double f = floor(v / cell_km);
  return (int)fmin(fmax(f, -COORD_MAX), COORD_MAX);
}

static void reset_bounds(cm__cellmap *g) {
  g->bx0 = g->by0 = INT_MAX;
  g->bx1 = g->by1 = INT_MIN;
  g->lat_abs_max = 0;
  g->lon_min = 180;
  g->lon_max = -180;
}

void cm__cellmap_cell(const cm__cellmap *g, double lat, double lon, int *cx,
                      int *cy) {
  *cx = coord((lon - g->lon0) * g->kx, g->cell_km);
  *cy = coord((lat - g->lat0) * KY, g->cell_km);
}

int cm__cellmap_reserve(cm__cellmap *g, double lat, double lon, int *cx,
                        int *cy) {
  if (!g->has_origin) {
    g->lat0 = lat;
    g->lon0 = lon;
    g->kx = KY * fmax(cos(lat * RAD_), 0.01);
    g->has_origin = 1;
    reset_bounds(g);
  }
  int x, y;
  cm__cellmap_cell(g, lat, lon, &x, &y);
  long s = find_cell(g, x, y);
  if (s < 0) {
    if ((g->count + 1) * 2 > g->cap &&
        rebuild(g, g->cap ? g->cap * 2 : 64, 0) != 0)
      return -1;
    cm__cell c = {.cx = x, .cy = y, .used = 1};
    place(g->cells, g->cap, &c);
    g->count++;
    g->empty++;
    s = find_cell(g, x, y);
  }
  cm__cell *c = &g->cells[s];
  if (c->n == c->cap) {
    int cap = c->cap ? c->cap * 2 : 4;
    cm__cell_item *items = realloc(c->items, (size_t)cap * sizeof *items);
    if (!items)
      return -1;
    c->items = items;
    c->cap = cap;
  }
  *cx = x;
  *cy = y;
  return 0;
}

static void widen(cm__cellmap *g, int cx, int cy, double lat, double lon) {
  g->bx0 = cx < g->bx0 ? cx : g->bx0;
  g->bx1 = cx > g->bx1 ? cx : g->bx1;
  g->by0 = cy < g->by0 ? cy : g->by0;
  g->by1 = cy > g->by1 ? cy : g->by1;
  g->lat_abs_max = fmax(g->lat_abs_max, fabs(lat));
  g->lon_min = fmin(g->lon_min, lon);
  g->lon_max = fmax(g->lon_max, lon);
}

int cm__cellmap_add(cm__cellmap *g, int cx, int cy, const cm__cell_item *it) {
  cm__cell *c = &g->cells[find_cell(g, cx, cy)];
  if (c->n == 0)
    g->empty--;
  c->items[c->n] = *it;
  g->items++;
  widen(g, cx, cy, it->lat, it->lon);
  return c->n++;
}

cm__cell_item *cm__cellmap_at(cm__cellmap *g, int cx, int cy, int slot) {
  return &g->cells[find_cell(g, cx, cy)].items[slot];
}

int cm__cellmap_remove(cm__cellmap *g, int cx, int cy, int slot) {
  cm__cell *c = &g->cells[find_cell(g, cx, cy)];
  int moved = -1, last = --c->n;
  if (slot != last) {
    c->items[slot] = c->items[last];
    moved = c->items[slot].worker;
  }
  if (c->n == 0)
    g->empty++;
  g->items--;
  return moved;
}

void cm__cellmap_tidy(cm__cellmap *g) {
  if (g->items == 0) {
    if (g->count > 0 || g->has_origin)
      drop_cells(g);
    return;
  }
  if (g->empty <= g->count / 2 + 32)
    return;
  size_t cap = 64;
  while (cap < (g->count - g->empty) * 2 + 2)
    cap <<= 1;
  if (rebuild(g, cap, 1) != 0)
    return;
  reset_bounds(g);
  for (size_t i = 0; i < g->cap; i++) {
    const cm__cell *c = &g->cells[i];
    for (int k = 0; c->used && k < c->n; k++)
      widen(g, c->cx, c->cy, c->items[k].lat, c->items[k].lon);
  }
}

/* Query geometry of one search. */
typedef struct ring_ctx {
  const cm__cellmap *g;
  double lat, lon;    /* query */
  double qx, qy;      /* projected query */
  long long qcx, qcy; /* query cell */
  double cos_phi;     /* cos of the largest |lat| of query and items */
  double lon_wrap;    /* 360 - widest raw longitude gap to an item */
} ring_ctx;

/* Lower bound (km) on the distance of a point whose raw longitude differs
 * from the query's by at least gx / kx degrees. */
static double x_bound(const ring_ctx *q, double gx) {
  double dlon = fmin(fmax(gx, 0.0) / q->g->kx, q->lon_wrap);
  if (dlon <= 0)
    return 0.0;
  double s = q->cos_phi * sin(fmin(dlon, 180.0) * RAD_ / 2);
  return 2.0 * R_LB * asin(fmin(s, 1.0));
}

/* A bound with the rounding margin taken off. */
static double margin(double b) {
  b = b * (1 - BOUND_REL) - BOUND_ABS;
  return b > 0 ? b : 0.0;
}

/* Lower bound (km) on the great-circle distance of any item outside the
 * square of rings 0..r around the query cell: beyond the square's top or
 * bottom edge (latitude gap gy / ky), or beyond its left or right edge. */
static double ring_bound(const ring_ctx *q, long long r) {
  double cell = q->g->cell_km;
  double gx = fmin(q->qx - (double)(q->qcx - r) * cell,
                   (double)(q->qcx + r + 1) * cell - q->qx);
  double gy = fmin(q->qy - (double)(q->qcy - r) * cell,
                   (double)(q->qcy + r + 1) * cell - q->qy);
  return margin(fmin(x_bound(q, gx), fmax(gy, 0.0)));
}

/* Lower bound (km) on the distance of any item in cell (x, y): both its
 * latitude gap and its longitude gap bound it. */
static double cell_bound(const ring_ctx *q, long long x, long long y) {
  double cell = q->g->cell_km;
  double gx = fmax((double)x * cell - q->qx, q->qx - (double)(x + 1) * cell);
  double gy = fmax((double)y * cell - q->qy, q->qy - (double)(y + 1) * cell);
  return margin(fmax(gx > 0 ? x_bound(q, gx) : 0.0, fmax(gy, 0.0)));
}

static long long llmax(long long a, long long b) {
  return a > b ? a : b;
}
static long long llmin(long long a, long long b) {
  return a < b ? a : b;
}

/* Visit cell (x, y) if it holds items. Returns -1 when the budget is out. */
static int visit_cell(const ring_ctx *q, long long x, long long y, long *budget,
                      cm__cell_fn fn, void *ctx) {
  const cm__cellmap *g = q->g;
  if (--*budget < 0)
    return -1;
  long s = find_cell(g, (int)x, (int)y);
  if (s >= 0 && g->cells[s].n > 0)
    fn(ctx, g->cells[s].items, g->cells[s].n, cell_bound(q, x, y));
  return 0;
}

/* Visit the cells of ring r that lie inside the box. Returns 0, or -1 when
 * the budget is out. */
static int visit_ring(const ring_ctx *q, long long r, long *budget,
                      cm__cell_fn fn, void *ctx) {
  const cm__cellmap *g = q->g;
  long long cx = q->qcx, cy = q->qcy;
  if (r == 0)
    return visit_cell(q, cx, cy, budget, fn, ctx);
  long long x0 = llmax(cx - r, g->bx0), x1 = llmin(cx + r, g->bx1);
  long long y0 = llmax(cy - r + 1, g->by0), y1 = llmin(cy + r - 1, g->by1);
  for (int side = 0; side < 2; side++) {
    long long y = side ? cy + r : cy - r, x = side ? cx + r : cx - r;
    if (y >= g->by0 && y <= g->by1)
      for (long long i = x0; i <= x1; i++)
        if (visit_cell(q, i, y, budget, fn, ctx) != 0)
          return -1;
    if (x >= g->bx0 && x <= g->bx1)
      for (long long j = y0; j <= y1; j++)
        if (visit_cell(q, x, j, budget, fn, ctx) != 0)
          return -1;
  }
  return 0;
}

int cm__cellmap_visit(const cm__cellmap *g, double lat, double lon, long budget,
                      cm__cell_fn fn, cm__cell_done_fn done, void *ctx) {
  if (g->items == 0)
    return 0;
  ring_ctx q = {.g = g, .lat = lat, .lon = lon};
  q.qx = (lon - g->lon0) * g->kx;
  q.qy = (lat - g->lat0) * KY;
  q.qcx = coord(q.qx, g->cell_km);
  q.qcy = coord(q.qy, g->cell_km);
  q.cos_phi = fmax(cos(fmax(fabs(lat), g->lat_abs_max) * RAD_), 0.0);
  q.lon_wrap = 360.0 - fmax(fabs(lon - g->lon_min), fabs(lon - g->lon_max));
  long long dx0 = g->bx0 - q.qcx, dx1 = q.qcx - g->bx1;
  long long dy0 = g->by0 - q.qcy, dy1 = q.qcy - g->by1;
  long long rmin = llmax(llmax(0, llmax(dx0, dx1)), llmax(dy0, dy1));
  long long rmax =
      llmax(llmax(llabs(dx0), llabs(dx1)), llmax(llabs(dy0), llabs(dy1)));
  if (rmin > 0 && done(ctx, ring_bound(&q, rmin - 1)))
    return 0;
  for (long long r = rmin; r <= rmax; r++) {
    if (visit_ring(&q, r, &budget, fn, ctx) != 0)
      return 1;
    if (r < rmax && done(ctx, ring_bound(&q, r)))
      return 0;
  }
  return 0;
}

void cm__cellmap_scan(const cm__cellmap *g, cm__cell_fn fn, void *ctx) {
  for (size_t i = 0; i < g->cap; i++)
    if (g->cells[i].used && g->cells[i].n > 0)
      fn(ctx, g->cells[i].items, g->cells[i].n, 0.0);
}
