/* engine_demand.c -- where emergencies come from: the engine's own
 * history of the emergencies it was given, by area (square cells of
 * reserve_km) and hour of the day, learnt as they arrive; the reserve
 * reads it (engine_reserve.c, docs/engine.md "Where the reserve stands").
 * Memory only, fixed size: CM__CELLS areas; past that, new areas are not
 * counted (and read as cold only once DEMAND_MIN emergencies are known). */
#include <math.h>
#include <string.h>

#include "engine_internal.h"

enum { DEMAND_MIN = 20 }; /* emergencies known before any area is cold */

static void cell_of(const cm_engine *e, double lat, double lon, int32_t *cx,
                    int32_t *cy) {
  double km = e->cfg.reserve_km;
  *cx = (int32_t)floor(lat * 111.195 / km);
  *cy = (int32_t)floor(lon * 111.195 * cos(lat * 0.017453292519943295) / km);
}

static int hour_of(int64_t ms) {
  int64_t h = (ms / 3600000) % 24;
  return (int)(h < 0 ? h + 24 : h);
}

/* The area's slot (the first free one when create and it is new); NULL
 * when not found (or full). */
static cm__area *area_slot(cm_engine *e, int32_t cx, int32_t cy, int create) {
  uint64_t key = ((uint64_t)(uint32_t)cx << 32) | (uint32_t)cy;
  unsigned h = (unsigned)(key * 0x9E3779B97F4A7C15ull >> 54); /* 0..1023 */
  for (int i = 0; i < CM__CELLS; i++) {
    cm__area *a = &e->areas[(h + (unsigned)i) % CM__CELLS];
    if (a->used && a->cx == cx && a->cy == cy)
      return a;
    if (!a->used) {
      if (!create)
        return NULL;
      a->used = 1;
      a->cx = cx;
      a->cy = cy;
      return a;
    }
  }
  return NULL;
}

void cm__demand_learn(cm_engine *e, double lat, double lon, int64_t now_ms) {
  int32_t cx, cy;
  cell_of(e, lat, lon, &cx, &cy);
  cm__area *a = area_slot(e, cx, cy, 1);
  e->emergencies_seen++;
  if (a && a->n[hour_of(now_ms)] < UINT16_MAX)
    a->n[hour_of(now_ms)]++;
}

cm_status cm_engine_demand_teach(cm_engine *e, double lat, double lon,
                                 cm_skillset skills, int64_t at_ms,
                                 cm_error *err) {
  if (!(lat >= -90 && lat <= 90))
    return cm_error_set(err, CM_E_RANGE, "$.lat",
                        "$.lat: must be in [-90, 90]");
  if (!(lon >= -180 && lon <= 180))
    return cm_error_set(err, CM_E_RANGE, "$.lon",
                        "$.lon: must be in [-180, 180]");
  cm__demand_learn(e, lat, lon, at_ms);
  e->emergency_skills |= skills;
  cm_error_clear(err);
  return CM_OK;
}

int cm__demand_at(cm_engine *e, double lat, double lon, int64_t now_ms) {
  if (e->emergencies_seen < DEMAND_MIN)
    return -1;
  int32_t cx, cy, sum = 0;
  int h = hour_of(now_ms);
  cell_of(e, lat, lon, &cx, &cy);
  for (int dx = -1; dx <= 1; dx++)
    for (int dy = -1; dy <= 1; dy++) {
      const cm__area *a = area_slot(e, cx + dx, cy + dy, 0);
      for (int dh = -1; a && dh <= 1; dh++)
        sum += a->n[(h + dh + 24) % 24];
    }
  return sum;
}
