/* redis_geo.c -- bounds between Redis's GEO distances and the exact ones
 * (redis_geo.h).
 *
 * Why the safe regime is safe (Redis 7.0 geohash_helper.c): the search
 * step is chosen so that a geohash box is at least as tall as the radius
 * (one step coarser when the circle's bounding box does not fit the 3 x 3
 * boxes), and a neighbour box is skipped only when the bounding box does
 * not reach it. The bounding box's longitude half-width is
 * r / cos(lat +- r), which is an upper bound of the circle's true extent
 * asin(sin r / cos lat) as long as the circle stays below ~70 degrees
 * (checked numerically over the whole regime); near the poles it turns
 * negative and boxes that hold members are skipped. The antimeridian is
 * handled by the wrap-around of the neighbour boxes. */
#include <math.h>
#include <stdint.h>

#include "carematch/solve.h"
#include "redis_geo.h"

#define DEG (180.0 / 3.14159265358979323846)

double cm__rd_geo_search_radius(double radius_km) {
  return (radius_km + CM__RD_LAG_KM) * (CM__RD_R_REDIS_KM / CM__RD_R_CM_KM) *
             (1 + 1e-9) +
         CM__RD_QUANT_KM;
}

double cm__rd_geo_tail_bound(double dist_km) {
  return (dist_km - 0.0001) * (CM__RD_R_CM_KM / CM__RD_R_REDIS_KM) *
             (1 - 1e-9) -
         CM__RD_SLACK_KM;
}

int cm__rd_geo_safe(double lat, double search_km) {
  return search_km <= CM__RD_SAFE_RADIUS_KM &&
         fabs(lat) + search_km / CM__RD_R_REDIS_KM * DEG <= CM__RD_SAFE_LAT;
}

int cm__rd_geo_reaches_offgrid(double lat, double lon, double search_km) {
  if (!cm__rd_geo_safe(lat, search_km))
    return 1;
  /* in the safe regime r / cos(|lat| + r) bounds the longitude span */
  double r = search_km / CM__RD_R_REDIS_KM;
  double span = r / cos(fabs(lat) / DEG + r) * DEG * (1 + 1e-6) + 1e-9;
  return fabs(lon) + span > 180.0 - 2 * CM__RD_EDGE_DEG;
}

double cm__rd_geo_search_lon(double lon) {
  return lon > 180.0 - 1e-12 ? -180.0 : lon;
}

int cm__rd_geo_decode(double score, double *lat, double *lon) {
  if (!(score >= 0) || score >= 4503599627370496.0 /* 2^52 */)
    return -1;
  uint64_t h = (uint64_t)score;
  if ((double)h != score)
    return -1;
  uint32_t ilat = 0, ilon = 0;
  for (int i = 0; i < 26; i++) { /* latitude on the even bits */
    ilat |= (uint32_t)((h >> (2 * i)) & 1) << i;
    ilon |= (uint32_t)((h >> (2 * i + 1)) & 1) << i;
  }
  const double cells = 67108864.0; /* 2^26 */
  const double lat_span = 2 * CM__RD_GEO_LAT_LIMIT;
  *lat = -CM__RD_GEO_LAT_LIMIT + (ilat + 0.5) / cells * lat_span;
  *lon = -180.0 + (ilon + 0.5) / cells * 360.0;
  return 0;
}

double cm__rd_geo_cell_bound(double lat, double lon, double clat, double clon) {
  return cm_geo_distance_km(lat, lon, clat, clon) * (1 - 1e-9) -
         CM__RD_SLACK_KM;
}
