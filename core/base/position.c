/* position.c -- the one check of a latitude and a longitude, used by the
 * instance's validation, the position store, the engine and the daemon. */
#include <math.h>
#include <stdio.h>

#include "carematch/model.h"

int cm_lat_valid(double lat) {
  return isfinite(lat) && lat >= -90.0 && lat <= 90.0;
}

int cm_lon_valid(double lon) {
  return isfinite(lon) && lon >= -180.0 && lon <= 180.0;
}

cm_status cm_position_check(double lat, double lon, const char *base,
                            cm_error *err) {
  char path[CM_ERROR_FIELD_MAX];
  if (!cm_lat_valid(lat)) {
    snprintf(path, sizeof path, "%s.lat", base);
    return cm_error_set(err, CM_E_RANGE, path,
                        "%s: latitude must be a finite number in [-90, 90]",
                        path);
  }
  if (!cm_lon_valid(lon)) {
    snprintf(path, sizeof path, "%s.lon", base);
    return cm_error_set(err, CM_E_RANGE, path,
                        "%s: longitude must be a finite number in [-180, 180]",
                        path);
  }
  return CM_OK;
}
