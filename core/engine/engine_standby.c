/* engine_standby.c -- standby suggestions: idle emergency-capable workers
 * are suggested a place to wait nearer where emergencies come from (the
 * areas of engine_demand.c), as CM_EV_STANDBY events the platform may
 * pass on (docs/engine.md "Standby").
 *
 * Once a minute, with cfg.standby_every_ms set: the areas (squares of
 * reserve_km) that saw at least HOT_MIN emergencies, scored by all the
 * emergencies seen there plus twice those of the hours around this one,
 * are taken from the hottest. An area is covered when an idle capable
 * worker stands within reserve_km of its centre (a worker suggested a
 * position lately counts there, on its way); the nearest such worker of
 * every covered area is kept where it is for this pass (all of them first,
 * so that no move uncovers an area: moving the nearest worker of one area
 * to the next one cascaded into many moves). Each area not covered,
 * hottest first, is given the nearest idle capable worker not kept, not
 * suggested a position within standby_every_ms (staff are not moved back
 * and forth) and within MOVE_KM_FACTOR * reserve_km: it is suggested the
 * area's centre. Nothing waits on the suggestion: a worker who ignores it stays
 * a candidate where it is. Nothing is written to the ledger: a suggestion is
 * advice, not state (a rebuild forgets the rate limit). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

enum { PASS_MS = 60000 };    /* a pass a minute */
enum { SEEN_MIN = 10 };      /* emergencies known before any suggestion */
enum { HOT_MIN = 2 };        /* an area's score to be worth covering */
enum { MOVE_KM_FACTOR = 3 }; /* a worker is moved at most 3 radii */

typedef struct idle {
  cm__wrk *rec;
  double lat, lon; /* where it is, or its suggested place */
  int kept;        /* kept by a covered area, or moved, this pass */
} idle;

typedef struct hot {
  double lat, lon; /* the area's centre */
  int score;
  int covered; /* an idle worker stands within reach */
} hot;

static int hour_of(int64_t ms) {
  int64_t h = (ms / 3600000) % 24;
  return (int)(h < 0 ? h + 24 : h);
}

static int by_score(const void *a, const void *b) {
  const hot *x = a, *y = b;
  return (x->score < y->score) - (x->score > y->score);
}

/* The hot areas, hottest first, into *out (malloc'ed); how many, or -1
 * out of memory. The centre inverts engine_demand.c's cells. */
static int hot_areas(const cm_engine *e, int64_t now_ms, hot **out) {
  int n = 0, h = hour_of(now_ms);
  double km = e->cfg.reserve_km;
  *out = malloc(CM__CELLS * sizeof **out);
  if (!*out)
    return -1;
  for (int i = 0; i < CM__CELLS; i++) {
    const cm__area *a = &e->areas[i];
    if (!a->used)
      continue;
    int all = 0, near = 0;
    for (int k = 0; k < 24; k++)
      all += a->n[k];
    for (int dh = -1; dh <= 1; dh++)
      near += a->n[(h + dh + 24) % 24];
    if (all + 2 * near < HOT_MIN)
      continue;
    hot *o = &(*out)[n++];
    o->lat = ((double)a->cx + 0.5) * km / 111.195;
    o->lon = ((double)a->cy + 0.5) * km /
             (111.195 * cos(o->lat * 0.017453292519943295));
    o->score = all + 2 * near;
  }
  qsort(*out, (size_t)n, sizeof **out, by_score);
  return n;
}

/* The idle capable workers on shift with a fresh position (or a standby
 * place suggested lately) into *out (malloc'ed); how many, or -1. */
static int idle_workers(cm_engine *e, int64_t now_ms, idle **out) {
  int n = 0;
  *out = malloc((size_t)(e->n_workers ? e->n_workers : 1) * sizeof **out);
  if (!*out)
    return -1;
  for (int i = 0; i < e->n_workers; i++) {
    cm__wrk *rec = e->workers[i];
    cm_worker w;
    if (!rec->on_shift || rec->jobs > 0 || rec->planned > 0 ||
        cm_store_get(e->store, rec->id, &w, NULL) != CM_OK ||
        !(w.skills & e->emergency_skills) || !w.has_position ||
        (e->cfg.stale_ms > 0 && now_ms - w.seen_ms > e->cfg.stale_ms))
      continue;
    idle *o = &(*out)[n++];
    o->rec = rec;
    o->kept = 0;
    int lately = rec->standby_ms > 0 &&
                 now_ms - rec->standby_ms < e->cfg.standby_every_ms;
    o->lat = lately ? rec->standby_lat : w.lat;
    o->lon = lately ? rec->standby_lon : w.lon;
  }
  return n;
}

static void suggest(cm_engine *e, idle *w, const hot *a, int64_t now_ms) {
  cm_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = CM_EV_STANDBY;
  ev.at_ms = now_ms;
  memcpy(ev.worker, w->rec->id, strnlen(w->rec->id, CM_ID_MAX - 1));
  ev.from = ev.to = CM_REQ_PENDING;
  ev.lat = a->lat;
  ev.lon = a->lon;
  cm__event_push(e, &ev);
  w->rec->standby_ms = now_ms;
  w->rec->standby_lat = a->lat;
  w->rec->standby_lon = a->lon;
  w->lat = a->lat;
  w->lon = a->lon;
  w->kept = 1;
  e->stats.standby++;
}

/* The nearest idle worker to a (within max_km when movable), or -1;
 * movable: only those not kept and not suggested lately. */
static int nearest(const cm_engine *e, const idle *ws, int n, const hot *a,
                   double max_km, int movable, int64_t now_ms) {
  int best = -1;
  double best_km = max_km;
  for (int i = 0; i < n; i++) {
    const idle *w = &ws[i];
    if (movable &&
        (w->kept || (w->rec->standby_ms > 0 &&
                     now_ms - w->rec->standby_ms < e->cfg.standby_every_ms)))
      continue;
    double km = cm_geo_distance_km(w->lat, w->lon, a->lat, a->lon);
    if (km <= best_km) {
      best_km = km;
      best = i;
    }
  }
  return best;
}

void cm__standby_pass(cm_engine *e, int64_t now_ms) {
  if (e->cfg.standby_every_ms <= 0 || now_ms < e->standby_next_ms)
    return;
  e->standby_next_ms = now_ms + PASS_MS;
  if (e->emergencies_seen < SEEN_MIN || !e->emergency_skills)
    return;
  hot *areas = NULL;
  idle *ws = NULL;
  int na = hot_areas(e, now_ms, &areas);
  int nw = na > 0 ? idle_workers(e, now_ms, &ws) : 0;
  double r = e->cfg.reserve_km;
  /* first every covered area keeps its nearest worker, so that no move
     uncovers an area; then the uncovered ones, hottest first */
  for (int i = 0; i < na && nw > 0; i++) {
    int c = nearest(e, ws, nw, &areas[i], r, 0, now_ms);
    if (c >= 0)
      ws[c].kept = 1;
    areas[i].covered = c >= 0;
  }
  for (int i = 0; i < na && nw > 0; i++) {
    if (areas[i].covered)
      continue;
    int c = nearest(e, ws, nw, &areas[i], MOVE_KM_FACTOR * r, 1, now_ms);
    if (c >= 0)
      suggest(e, &ws[c], &areas[i], now_ms);
  }
  free(areas);
  free(ws);
}

int64_t cm__standby_next_due(const cm_engine *e) {
  return e->cfg.standby_every_ms > 0 ? e->standby_next_ms : INT64_MAX;
}
