/* fixtures.c -- workers and request specs near the test city's centre
 * (fixtures.h). */
#include "fixtures.h"

#include <stdio.h>
#include <string.h>

cm_worker cm_fx_worker(const char *id, cm_skillset skills, double dlat_km,
                       double dlon_km, int capacity, int64_t seen_ms) {
  cm_worker w;
  cm_worker_init(&w);
  snprintf(w.id, sizeof w.id, "%s", id);
  w.skills = skills;
  w.lat = CM_FX_LAT0 + dlat_km / CM_FX_KM_LAT;
  w.lon = CM_FX_LON0 + dlon_km / CM_FX_KM_LON;
  w.has_position = 1;
  w.seen_ms = seen_ms;
  w.capacity = capacity;
  return w;
}

cm_request_spec cm_fx_spec(const char *id, cm_skillset skills, int staff,
                           cm_urgency urgency, double dlat_km) {
  cm_request_spec s;
  memset(&s, 0, sizeof s);
  snprintf(s.id, sizeof s.id, "%s", id);
  s.lat = CM_FX_LAT0 + dlat_km / CM_FX_KM_LAT;
  s.lon = CM_FX_LON0;
  s.skills = skills;
  s.staff = staff;
  s.urgency = urgency;
  return s;
}
