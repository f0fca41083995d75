/* redis_geo.h -- what the Redis store may assume about Redis's GEO
 * commands, as numbers.
 *
 * Redis stores a GEO member as a 52-bit geohash (26 bits of latitude in
 * [-85.05112878, 85.05112878], 26 of longitude) and measures distances
 * with the haversine formula on a sphere of 6372.797560856 km, from the
 * query point to the centre of the member's cell (at most ~0.33 m from the
 * true point). cm_geo_distance_km uses 6371.0088 km on the exact stored
 * doubles. The functions below turn one into bounds on the other, with
 * margins (CM__RD_QUANT_KM) well above the quantisation, so that the store
 * can use GEOSEARCH to find candidates and still answer exactly.
 *
 * GEOSEARCH's search areas (9 geohash boxes) are only known to cover the
 * whole circle when the circle stays away from the poles and is not too
 * large (see cm__rd_geo_safe and docs/redis.md); outside that regime the
 * store scans the set instead.
 *
 * The grid's upper edges do not fit it: a member at exactly latitude
 * 85.05112878 or longitude 180 gets a 53/54-bit geohash that no GEOSEARCH
 * ever visits (and GEOPOS answers nil), and GEOADD refuses latitudes
 * beyond. Such positions -- within CM__RD_EDGE_DEG of the latitude limit
 * or beyond it, or of the antimeridian -- are kept "off the grid", in a
 * plain set that nearest reads whenever a query may reach them. */
#ifndef CM_REDIS_GEO_H_INCLUDED_
#define CM_REDIS_GEO_H_INCLUDED_

#define CM__RD_R_REDIS_KM 6372.797560856 /* Redis's Earth radius */
#define CM__RD_R_CM_KM 6371.0088         /* cm_geo_distance_km's */
#define CM__RD_GEO_LAT_LIMIT 85.05112878 /* GEOADD refuses beyond */
#define CM__RD_QUANT_KM 0.002            /* quantisation margin, km */
#define CM__RD_SAFE_LAT 70.0             /* safe regime: |lat| + radius */
#define CM__RD_SAFE_RADIUS_KM 2500.0     /* safe regime: radius */
#define CM__RD_EDGE_DEG 1e-6             /* off-grid margin, degrees */
#define CM__RD_LAG_KM 0.2                /* index lag (see below) */

/* The bounded-lag index. A worker's exact position lives in its hash; the
 * GEO sets hold an indexed position (recorded in the hash's ix field)
 * that the scripts move only when the worker has gone more than
 * 0.9 * CM__RD_LAG_KM from it (or crossed onto or off the grid), so most
 * position updates write no GEO set. Every bound below therefore allows
 * for CM__RD_LAG_KM on top of the quantisation: answers stay exact. */
#define CM__RD_SLACK_KM (CM__RD_QUANT_KM + CM__RD_LAG_KM)

/* 1 when a circle of search_km (Redis's metric) around (lat, lon) may
 * reach an off-grid position: it is not in the safe regime, or its
 * longitude span (bounded as Redis bounds it) comes within the margin of
 * the antimeridian. */
int cm__rd_geo_reaches_offgrid(double lat, double lon, double search_km);

/* The GEOSEARCH radius (km, Redis's metric) that holds every member whose
 * exact stored position is within radius_km of the query by
 * cm_geo_distance_km (quantisation and index lag included). */
double cm__rd_geo_search_radius(double radius_km);

/* A lower bound on the cm_geo_distance_km (to the exact position) of
 * every member that GEOSEARCH ranks at or after a member it reported at
 * dist_km (WITHDIST in km, which Redis rounds to 4 decimals). */
double cm__rd_geo_tail_bound(double dist_km);

/* 1 when a GEOSEARCH of radius search_km around latitude lat finds every
 * member within that radius: the circle stays within CM__RD_SAFE_LAT
 * degrees of the equator and search_km <= CM__RD_SAFE_RADIUS_KM. */
int cm__rd_geo_safe(double lat, double search_km);

/* The longitude to hand GEOSEARCH for a query at lon: the same meridian,
 * but never at the grid's upper edge, whose overflowing geohash makes
 * GEOSEARCH lose the boxes west of the antimeridian (lon 180 -> -180; a
 * shift below 1e-12 degree, far inside the margins). */
double cm__rd_geo_search_lon(double lon);

/* The centre of the cell of a GEO score (the 52-bit geohash Redis keeps as
 * the member's sorted set score). Returns 0, or -1 when score is not a
 * 52-bit integer. */
int cm__rd_geo_decode(double score, double *lat, double *lon);

/* A lower bound on cm_geo_distance_km from (lat, lon) to the exact
 * position of a member whose indexed cell has its centre at (clat, clon). */
double cm__rd_geo_cell_bound(double lat, double lon, double clat, double clon);

#endif
