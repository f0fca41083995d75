/* cellmap.h -- a dynamic uniform grid for nearest-neighbour search over
 * points that move: square cells of cell_km in an equirectangular
 * projection around the first point's position, kept in a hash map keyed by
 * (cx, cy), each holding a vector of items. Adding, removing and updating an
 * item in place are O(1); the caller remembers each item's cell and slot.
 *
 * Searches go ring by ring around the query's cell and report, after each
 * ring, a lower bound on the great-circle distance of every item not yet
 * visited. The bound is exact geometry, not a projection estimate: it holds
 * at any latitude, across the antimeridian and for queries far from the
 * points (see cellmap.c). */
#ifndef CM_CELLMAP_H_INCLUDED_
#define CM_CELLMAP_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

/* Earth radius (km) used for lower bounds: a little below the 6371.0088 of
 * cm_geo_distance_km, so bounds stay below its distances. */
#define CM__EARTH_R_LB_KM 6371.0

/* One point in a cell, with what a search filters on, so that a search
 * reads cells sequentially. */
typedef struct cm__cell_item {
  double x, y, z;  /* unit vector of the position (for chord bounds) */
  double lat, lon; /* position, degrees */
  int64_t seen_ms; /* time of the position */
  uint32_t skills; /* skill set */
  int worker;      /* the owner's record index */
} cm__cell_item;

typedef struct cm__cell {
  int cx, cy;           /* cell coordinates */
  int n, cap;           /* items used / allocated */
  cm__cell_item *items; /* owned */
  int used;             /* this table slot holds a cell */
} cm__cell;

typedef struct cm__cellmap {
  cm__cell *cells;         /* hash table, cap slots, linear probing */
  size_t cap;              /* power of two, 0 before the first cell */
  size_t count;            /* slots in use */
  size_t empty;            /* cells in use that hold no item */
  long items;              /* items in all cells */
  double cell_km;          /* side of a cell */
  int has_origin;          /* lat0, lon0, kx are set */
  double lat0, lon0;       /* projection origin (first point since empty) */
  double kx;               /* km per degree of longitude at lat0 */
  int bx0, bx1, by0, by1;  /* box of the cells holding items (may be wider) */
  double lat_abs_max;      /* largest |lat| of the items (may be larger) */
  double lon_min, lon_max; /* longitude range of the items (may be wider) */
} cm__cellmap;

/* Empty grid of cells of cell_km (clamped to [0.01, 10000]; <= 0 or not a
 * number: 1 km). Allocates nothing. */
void cm__cellmap_init(cm__cellmap *g, double cell_km);
/* Free every cell; the grid is empty afterwards. */
void cm__cellmap_free(cm__cellmap *g);

/* Fill an item: position, unit vector, time, skills, owner. */
void cm__cell_item_set(cm__cell_item *it, double lat, double lon,
                       int64_t seen_ms, uint32_t skills, int worker);

/* Cell of a position, setting the projection origin there if the grid has
 * none, and make room for one more item in it. Returns 0 with *cx, *cy
 * set, or -1 when out of memory (items unchanged; an empty cell or a larger
 * table may remain). */
int cm__cellmap_reserve(cm__cellmap *g, double lat, double lon, int *cx,
                        int *cy);
/* Cell of a position in a grid that has its origin (an item was reserved
 * before). Allocates nothing. */
void cm__cellmap_cell(const cm__cellmap *g, double lat, double lon, int *cx,
                      int *cy);

/* Append an item to cell (cx, cy), which cm__cellmap_reserve prepared for
 * it. Returns the item's slot. Cannot fail. */
int cm__cellmap_add(cm__cellmap *g, int cx, int cy, const cm__cell_item *it);

/* The item at slot of cell (cx, cy), for updates in place that keep the
 * position inside the cell. */
cm__cell_item *cm__cellmap_at(cm__cellmap *g, int cx, int cy, int slot);

/* Remove the item at slot of cell (cx, cy); the cell's last item moves into
 * the slot. Returns the worker of the moved item (its slot is now slot), or
 * -1 when none moved. */
int cm__cellmap_remove(cm__cellmap *g, int cx, int cy, int slot);

/* Housekeeping after changes: drops empty cells when they are many, tightens
 * the bounds, and forgets the origin when no item is left. May move cells in
 * the table (never items between cells). Cannot fail (on out of memory it
 * just keeps the table). */
void cm__cellmap_tidy(cm__cellmap *g);

/* A search sees whole cells, with a lower bound on the great-circle
 * distance of every item in the cell (0 in a scan), so it may skip cells
 * that cannot hold anything near enough. */
typedef void (*cm__cell_fn)(void *ctx, const cm__cell_item *items, int n,
                            double bound_km);
/* After each ring: every item not yet visited is at least bound_km away
 * (great circle). Return 1 to stop. */
typedef int (*cm__cell_done_fn)(void *ctx, double bound_km);

/* Visit the cells around (lat, lon) ring by ring, nearest rings first,
 * calling done() after each. Stops when done() says so, when every cell was
 * seen, or after budget cell look-ups. Returns 0 when finished, 1 when the
 * budget ran out (the caller should fall back to cm__cellmap_scan). */
int cm__cellmap_visit(const cm__cellmap *g, double lat, double lon, long budget,
                      cm__cell_fn fn, cm__cell_done_fn done, void *ctx);

/* Visit every cell holding items, in table order. */
void cm__cellmap_scan(const cm__cellmap *g, cm__cell_fn fn, void *ctx);

#endif
