/* store_contract.c -- the position store contract suite (store_contract.h):
 * a reference model (array + linear scan) and the cases that hold a backend
 * to it. Uses only the public store API and cm_geo_distance_km. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/solve.h"
#include "carematch/store.h"
#include "check.h"
#include "fixtures.h"
#include "store_contract.h"

#define LAT0 31.23 /* the city */
#define LON0 121.47
#define N_SKILLS 6
#define KMAX 64            /* k_max of the cases' nearest calls */
#define T0 1700000000000LL /* a plausible now_ms */
#define EARTH_KM 20100.0   /* a radius that covers the globe */
#define DESC_MAX 320

/* ---- the reference model ---- */

typedef struct ref_store {
  cm_worker *w; /* insertion order */
  int n, cap;
} ref_store;

typedef struct ref_hit {
  const cm_worker *w;
  double d; /* cm_geo_distance_km(query, worker) */
} ref_hit;

int cm_contract_count(cm_store *s) {
  int n;
  return cm_store_count(s, &n, NULL) == CM_OK ? n : -1;
}

int cm_contract_swept(cm_store *s, int64_t now_ms, int64_t stale_ms,
                      cm_error *err) {
  int n;
  return cm_store_sweep(s, now_ms, stale_ms, &n, err) == CM_OK ? n : -1;
}

static void ref_free(ref_store *r) {
  free(r->w);
  memset(r, 0, sizeof *r);
}

static int ref_find(const ref_store *r, const char *id) {
  for (int i = 0; i < r->n; i++)
    if (strcmp(r->w[i].id, id) == 0)
      return i;
  return -1;
}

static void ref_upsert(ref_store *r, const cm_worker *w) {
  int i = ref_find(r, w->id);
  if (i >= 0) {
    r->w[i] = *w;
    return;
  }
  if (r->n == r->cap) {
    r->cap = r->cap ? 2 * r->cap : 64;
    r->w = realloc(r->w, (size_t)r->cap * sizeof *r->w);
    cr_assert_not_null(r->w);
  }
  r->w[r->n++] = *w;
}

static void ref_remove(ref_store *r, int i) {
  memmove(&r->w[i], &r->w[i + 1], (size_t)(r->n - i - 1) * sizeof *r->w);
  r->n--;
}

/* The header's rules, restated. */
static int ref_eligible(const cm_worker *w, const cm_store_query *q,
                        int64_t now, int64_t stale) {
  if (w->status != CM_WORKER_AVAILABLE || !w->has_position || w->capacity <= 0)
    return 0;
  if (stale > 0 && now - w->seen_ms > stale)
    return 0;
  if ((w->skills & q->need_all) != q->need_all)
    return 0;
  if (q->need_any && !(w->skills & q->need_any))
    return 0;
  for (int j = 0; j < q->n_exclude; j++)
    if (strcmp(q->exclude[j], w->id) == 0)
      return 0;
  return 1;
}

static int ref_hit_cmp(const void *a, const void *b) {
  const ref_hit *x = a, *y = b;
  if (x->d != y->d)
    return x->d < y->d ? -1 : 1;
  return strcmp(x->w->id, y->w->id);
}

/* Every eligible worker within radius + extra_km, best first, into out
 * (room for r->n). Returns how many. */
static int ref_nearest(const ref_store *r, const cm_store_query *q, int64_t now,
                       int64_t stale, double extra_km, ref_hit *out) {
  int n = 0;
  for (int i = 0; i < r->n; i++) {
    const cm_worker *w = &r->w[i];
    if (!ref_eligible(w, q, now, stale))
      continue;
    double d = cm_geo_distance_km(q->lat, q->lon, w->lat, w->lon);
    if (d <= q->radius_km + extra_km)
      out[n++] = (ref_hit){w, d};
  }
  qsort(out, (size_t)n, sizeof *out, ref_hit_cmp);
  return n;
}

/* Sweep the model; returns how many it marked. */
static int ref_sweep(ref_store *r, int64_t now, int64_t stale) {
  int n = 0;
  for (int i = 0; i < r->n; i++) {
    cm_worker *w = &r->w[i];
    if (stale > 0 && w->status == CM_WORKER_AVAILABLE && w->has_position &&
        now - w->seen_ms > stale) {
      w->status = CM_WORKER_OFFLINE;
      n++;
    }
  }
  return n;
}

/* ---- helpers ---- */

static uint64_t seed_of(const cm_contract *c, uint64_t salt) {
  return (c->seed ? c->seed : 20240611) * 1000003ULL + salt;
}

static cm_store *fresh(const cm_contract *c) {
  cm_store *s = c->make(c->ctx);
  cr_assert_not_null(s, "the factory returned no store");
  cr_assert_eq(cm_contract_count(s), 0, "a fresh store must be empty");
  return s;
}

static cm_worker mk(const char *id, double lat, double lon, cm_skillset sk,
                    int64_t seen) {
  cm_worker w;
  cm_worker_init(&w);
  snprintf(w.id, sizeof w.id, "%s", id);
  w.skills = sk;
  w.lat = lat;
  w.lon = lon;
  w.has_position = 1;
  w.seen_ms = seen;
  return w;
}

static cm_store_query mkq(double lat, double lon, double radius, int k) {
  cm_store_query q;
  memset(&q, 0, sizeof q);
  q.lat = lat;
  q.lon = lon;
  q.radius_km = radius;
  q.k = k;
  return q;
}

/* A point d_km north of (lat, lon). */
static double north(double lat, double d_km) {
  return lat + d_km / 111.19508;
}

static void put(cm_store *s, ref_store *r, const cm_worker *w) {
  cm_error err;
  cm_status st = cm_store_upsert(s, w, &err);
  cr_assert_eq(st, CM_OK, "upsert %s: %s (%s) %s", w->id, cm_status_name(st),
               err.field, err.message);
  if (r)
    ref_upsert(r, w);
}

static void describe(char *buf, const cm_store_query *q, int64_t now,
                     int64_t stale, const char *what) {
  snprintf(buf, DESC_MAX,
           "%s: query (%.9f, %.9f) radius %.17g k %d need_all %#x need_any "
           "%#x excludes %d now %lld stale %lld",
           what, q->lat, q->lon, q->radius_km, q->k, (unsigned)q->need_all,
           (unsigned)q->need_any, q->n_exclude, (long long)now,
           (long long)stale);
}

/* One query through the store; returns the count. */
static int ask(cm_store *s, const cm_store_query *q, int64_t now, int64_t stale,
               cm_store_hit *hits) {
  cm_error err;
  int count = -1;
  cm_status st =
      cm_store_nearest(s, q, 1, q->k, now, stale, hits, &count, &err);
  cr_assert_eq(st, CM_OK, "nearest: %s (%s) %s", cm_status_name(st), err.field,
               err.message);
  cr_assert(count >= 0 && count <= q->k, "nearest: count %d for k %d", count,
            q->k);
  return count;
}

static int has_hit(const cm_store_hit *h, int n, const char *id) {
  for (int i = 0; i < n; i++)
    if (strcmp(h[i].id, id) == 0)
      return 1;
  return 0;
}

/* Tolerant comparison for backends with quantised positions. */
static void check_tolerant(const cm_contract *c, const ref_store *r,
                           const cm_store_query *q, int64_t now, int64_t stale,
                           const cm_store_hit *hits, int count, ref_hit *all,
                           const char *desc) {
  double tol = c->dist_tol_km, far = 0;
  int m = ref_nearest(r, q, now, stale, tol, all);
  for (int j = 0; j < count; j++) {
    int i = ref_find(r, hits[j].id);
    cr_assert(i >= 0, "%s: hit %d '%s' is no worker", desc, j, hits[j].id);
    const cm_worker *w = &r->w[i];
    cr_assert(ref_eligible(w, q, now, stale), "%s: hit %d '%s' ineligible",
              desc, j, w->id);
    double d = cm_geo_distance_km(q->lat, q->lon, w->lat, w->lon);
    cr_assert(d <= q->radius_km + tol, "%s: hit '%s' at %.9f km is outside",
              desc, w->id, d);
    cr_assert(fabs(hits[j].distance_km - d) <= tol,
              "%s: hit '%s' says %.9f km, is %.9f", desc, w->id,
              hits[j].distance_km, d);
    cr_assert(j == 0 || hits[j - 1].distance_km <= hits[j].distance_km,
              "%s: hits out of order at %d", desc, j);
    cr_assert(!has_hit(hits, j, hits[j].id), "%s: '%s' twice", desc,
              hits[j].id);
    far = fmax(far, d);
  }
  double sure = count == q->k ? far - 2 * tol : q->radius_km - tol;
  for (int j = 0; j < m; j++)
    if (all[j].d < sure)
      cr_assert(has_hit(hits, count, all[j].w->id),
                "%s: '%s' at %.9f km is missing", desc, all[j].w->id, all[j].d);
}

/* The store's answer to q must be the model's. */
static void check_answer(const cm_contract *c, const ref_store *r,
                         const cm_store_query *q, int64_t now, int64_t stale,
                         const cm_store_hit *hits, int count,
                         const char *what) {
  char desc[DESC_MAX];
  ref_hit *all = malloc((size_t)(r->n + 1) * sizeof *all);
  cr_assert_not_null(all);
  describe(desc, q, now, stale, what);
  if (c->dist_tol_km > 0) {
    check_tolerant(c, r, q, now, stale, hits, count, all, desc);
    free(all);
    return;
  }
  int m = ref_nearest(r, q, now, stale, 0.0, all);
  int want = m < q->k ? m : q->k;
  cr_assert_eq(count, want, "%s: %d hits, the model has %d (of %d)", desc,
               count, want, m);
  for (int j = 0; j < count; j++) {
    cr_assert_str_eq(hits[j].id, all[j].w->id,
                     "%s: hit %d is '%s' at %.17g km, the model has '%s' at "
                     "%.17g km",
                     desc, j, hits[j].id, hits[j].distance_km, all[j].w->id,
                     all[j].d);
    cr_assert(hits[j].distance_km == all[j].d,
              "%s: '%s' at %.17g km, the model says %.17g", desc, hits[j].id,
              hits[j].distance_km, all[j].d);
  }
  free(all);
}

/* Ask the store and check against the model; returns the count. */
static int verify(const cm_contract *c, cm_store *s, const ref_store *r,
                  const cm_store_query *q, int64_t now, int64_t stale,
                  cm_store_hit *hits, const char *what) {
  int count = ask(s, q, now, stale, hits);
  check_answer(c, r, q, now, stale, hits, count, what);
  return count;
}

/* Field-by-field equality of stored workers. Returns NULL or the field. */
static const char *worker_diff(const cm_worker *a, const cm_worker *b) {
  if (strcmp(a->id, b->id))
    return "id";
  if (a->skills != b->skills)
    return "skills";
  if (a->status != b->status)
    return "status";
  if (!a->has_position != !b->has_position)
    return "has_position";
  if (a->has_position && (a->lat != b->lat || a->lon != b->lon))
    return "lat/lon";
  if (a->seen_ms != b->seen_ms)
    return "seen_ms";
  if (a->capacity != b->capacity)
    return "capacity";
  if (a->jobs_today != b->jobs_today)
    return "jobs_today";
  if (a->rating != b->rating)
    return "rating";
  if (a->level != b->level)
    return "level";
  if (a->n_elders != b->n_elders)
    return "n_elders";
  for (int i = 0; i < a->n_elders; i++)
    if (a->elders[i] != b->elders[i])
      return "elders";
  return NULL;
}

static void expect_worker(cm_store *s, const cm_worker *want,
                          const char *what) {
  cm_worker got;
  cm_error err;
  memset(&got, 0x5a, sizeof got);
  cm_status st = cm_store_get(s, want->id, &got, &err);
  cr_assert_eq(st, CM_OK, "%s: get %s: %s", what, want->id, cm_status_name(st));
  const char *f = worker_diff(&got, want);
  cr_assert_null(f, "%s: worker %s differs in %s", what, want->id, f);
}

typedef struct collect {
  cm_worker *w;
  int n, cap;
} collect;

static void collect_fn(void *ctx, const cm_worker *w) {
  collect *c = ctx;
  if (c->n == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 64;
    c->w = realloc(c->w, (size_t)c->cap * sizeof *c->w);
    cr_assert_not_null(c->w);
  }
  c->w[c->n++] = *w;
}

static int worker_id_cmp(const void *a, const void *b) {
  return strcmp(((const cm_worker *)a)->id, ((const cm_worker *)b)->id);
}

/* The whole store equals the model: count, each() (order too when the
 * backend promises insertion order), get of every worker. */
static void check_state(const cm_contract *c, cm_store *s, const ref_store *r,
                        const char *what) {
  collect got = {0};
  cm_error err;
  cr_assert_eq(cm_contract_count(s), r->n, "%s: count %d, the model has %d",
               what, cm_contract_count(s), r->n);
  cr_assert_eq(cm_store_each(s, collect_fn, &got, &err), CM_OK, "%s: each",
               what);
  cr_assert_eq(got.n, r->n, "%s: each visited %d of %d", what, got.n, r->n);
  cm_worker *want = malloc((size_t)(r->n + 1) * sizeof *want);
  cr_assert_not_null(want);
  memcpy(want, r->w, (size_t)r->n * sizeof *want);
  if (!c->insertion_order) {
    qsort(got.w, (size_t)got.n, sizeof *got.w, worker_id_cmp);
    qsort(want, (size_t)r->n, sizeof *want, worker_id_cmp);
  }
  for (int i = 0; i < r->n; i++) {
    const char *f = worker_diff(&got.w[i], &want[i]);
    cr_assert_null(f, "%s: each #%d is %s, the model has %s (%s differs)", what,
                   i, got.w[i].id, want[i].id, f);
    expect_worker(s, &r->w[i], what);
  }
  free(want);
  free(got.w);
}

static void expect_err(cm_status st, const cm_error *err, cm_status code,
                       const char *field, const char *what) {
  cr_assert_eq(st, code, "%s: returned %s, expected %s", what,
               cm_status_name(st), cm_status_name(code));
  cr_assert_eq(err->code, code, "%s: err->code %s, expected %s", what,
               cm_status_name(err->code), cm_status_name(code));
  cr_assert_str_eq(err->field, field, "%s: field '%s', expected '%s'", what,
                   err->field, field);
}

/* ---- random workers and queries ---- */

static const double hot[4][2] = {{LAT0, LON0},
                                 {LAT0 + 0.031, LON0 - 0.027},
                                 {LAT0 - 0.05, LON0 + 0.04},
                                 {LAT0 + 0.0004, LON0 + 0.0004}};

/* A city position: clusters, a uniform spread, a few exact hot points and
 * a few anywhere on Earth. */
static void rand_pos(cm_check_rng *g, double *lat, double *lon) {
  int dice = cm_check_rng_int(g, 0, 99);
  if (dice < 60) {
    int k = cm_check_rng_int(g, 0, 7);
    double clat = LAT0 + 0.03 * (k % 3 - 1), clon = LON0 + 0.04 * (k / 3 - 1);
    double u = 0, v = 0;
    for (int i = 0; i < 3; i++) {
      u += cm_check_rng_real(g, -0.01, 0.01);
      v += cm_check_rng_real(g, -0.01, 0.01);
    }
    *lat = clat + u;
    *lon = clon + v;
  } else if (dice < 85) {
    *lat = LAT0 + cm_check_rng_real(g, -0.1, 0.1);
    *lon = LON0 + cm_check_rng_real(g, -0.12, 0.12);
  } else if (dice < 96) {
    int k = cm_check_rng_int(g, 0, 3);
    *lat = hot[k][0];
    *lon = hot[k][1];
  } else {
    *lat = cm_check_rng_real(g, -89.9, 89.9);
    *lon = cm_check_rng_real(g, -180.0, 180.0);
  }
}

static cm_skillset rand_skills(cm_check_rng *g, int lo, int hi) {
  cm_skillset s = 0;
  int n = cm_check_rng_int(g, lo, hi);
  for (int i = 0; i < n; i++)
    s |= (cm_skillset)1 << cm_check_rng_int(g, 0, N_SKILLS - 1);
  return s;
}

static cm_worker rand_worker(cm_check_rng *g, const char *id, int64_t now) {
  double lat, lon;
  rand_pos(g, &lat, &lon);
  cm_worker w = mk(id, lat, lon, rand_skills(g, 1, 2),
                   now - cm_check_rng_int(g, 0, 8000));
  int dice = cm_check_rng_int(g, 0, 99);
  w.status = dice < 70   ? CM_WORKER_AVAILABLE
             : dice < 80 ? CM_WORKER_OFFERED
             : dice < 90 ? CM_WORKER_BUSY
                         : CM_WORKER_OFFLINE;
  w.has_position = cm_check_rng_chance(g, 0.95);
  if (!w.has_position)
    w.lat = w.lon = 0;
  w.capacity = cm_check_rng_chance(g, 0.05) ? 0 : cm_check_rng_int(g, 1, 3);
  w.jobs_today = cm_check_rng_int(g, 0, 9);
  w.rating = cm_check_rng_int(g, 0, 50) / 10.0;
  w.level = cm_check_rng_int(g, 10, 50) / 10.0;
  w.n_elders = cm_check_rng_int(g, 0, 3);
  for (int i = 0; i < w.n_elders; i++)
    w.elders[i] = cm_check_rng_next(g) | 1;
  return w;
}

/* Exclude ids live here while a query uses them. */
typedef struct excl_buf {
  char ids[6][CM_ID_MAX];
  const char *ptr[6];
} excl_buf;

static cm_store_query rand_query(cm_check_rng *g, const ref_store *r,
                                 excl_buf *ex, int64_t now, int64_t stale) {
  static const double radii[] = {0.0, 0.3, 1.0,  2.0,   5.0,
                                 5.0, 8.0, 30.0, 800.0, EARTH_KM};
  cm_store_query q = mkq(0, 0, 0, 0);
  int dice = cm_check_rng_int(g, 0, 99);
  if (dice < 70 || r->n == 0) {
    rand_pos(g, &q.lat, &q.lon);
  } else if (dice < 85) { /* exactly on a worker */
    const cm_worker *w = &r->w[cm_check_rng_int(g, 0, r->n - 1)];
    q.lat = w->has_position ? w->lat : LAT0;
    q.lon = w->has_position ? w->lon : LON0;
  } else { /* far from the city */
    q.lat = cm_check_rng_real(g, -90.0, 90.0);
    q.lon = cm_check_rng_real(g, -180.0, 180.0);
  }
  q.radius_km = radii[cm_check_rng_int(g, 0, 9)];
  q.k = cm_check_rng_chance(g, 0.05) ? 0 : cm_check_rng_int(g, 1, 20);
  if (cm_check_rng_chance(g, 0.03))
    q.k = KMAX;
  if (cm_check_rng_chance(g, 0.35))
    q.need_all = rand_skills(g, 1, 2);
  if (cm_check_rng_chance(g, 0.35))
    q.need_any = rand_skills(g, 1, 3);
  if (r->n > 0 && cm_check_rng_chance(g, 0.25)) {
    q.n_exclude = cm_check_rng_int(g, 1, 6);
    for (int j = 0; j < q.n_exclude; j++) {
      if (j == 5) /* an id nobody has */
        snprintf(ex->ids[j], CM_ID_MAX, "nobody");
      else
        memcpy(ex->ids[j], r->w[cm_check_rng_int(g, 0, r->n - 1)].id,
               CM_ID_MAX);
      ex->ptr[j] = ex->ids[j];
    }
    q.exclude = ex->ptr;
  }
  if (r->n > 0 && cm_check_rng_chance(g, 0.2)) {
    /* radius exactly at an eligible worker's distance, or just below */
    ref_hit *all = malloc((size_t)r->n * sizeof *all);
    cr_assert_not_null(all);
    q.radius_km = 10.0;
    int m = ref_nearest(r, &q, now, stale, 0.0, all);
    if (m > 0) {
      double d = all[cm_check_rng_int(g, 0, m - 1)].d;
      q.radius_km = cm_check_rng_chance(g, 0.5) ? d : nextafter(d, 0.0);
    }
    free(all);
  }
  return q;
}

static void fill_ids(char (*ids)[CM_ID_MAX], int n, const char *prefix) {
  for (int i = 0; i < n; i++)
    snprintf(ids[i], CM_ID_MAX, "%s%04d", prefix, i);
}

/* ---- the cases ---- */

void cm_contract_roundtrip(const cm_contract *c) {
  cm_store *s = fresh(c);
  cm_worker a = mk("alice", LAT0, LON0, CM_FX_NURSE | CM_FX_ESCORT, T0);
  a.status = CM_WORKER_BUSY;
  a.capacity = 3;
  a.jobs_today = 7;
  a.rating = 4.25;
  a.level = 2.5;
  a.n_elders = 3;
  a.elders[0] = 11;
  a.elders[1] = 0xfedcba9876543210ULL;
  a.elders[2] = 3;
  put(s, NULL, &a);
  cr_assert_eq(cm_contract_count(s), 1);
  expect_worker(s, &a, "roundtrip");
  cm_worker b = mk("bob", -33.8688, 151.2093, (cm_skillset)1 << 31, 0);
  b.has_position = 0; /* no position yet */
  put(s, NULL, &b);
  cm_worker long_id = mk("", 1, 2, CM_FX_REHAB, 5);
  memset(long_id.id, 'x', CM_ID_MAX - 1); /* the longest id allowed */
  long_id.id[CM_ID_MAX - 1] = '\0';
  put(s, NULL, &long_id);
  cr_assert_eq(cm_contract_count(s), 3);
  expect_worker(s, &a, "roundtrip after more");
  expect_worker(s, &b, "roundtrip without position");
  expect_worker(s, &long_id, "roundtrip of a 63-byte id");
  cm_worker got;
  cm_error err;
  expect_err(cm_store_get(s, "carol", &got, &err), &err, CM_E_UNKNOWN_ID,
             "$.id", "get of an unknown id");
  expect_err(cm_store_get(s, "alic", &got, &err), &err, CM_E_UNKNOWN_ID, "$.id",
             "get of a prefix");
  cr_assert_eq(cm_store_get(s, "alice", NULL, &err), CM_OK,
               "get with out NULL checks existence");
  cm_store_free(s);
}

void cm_contract_replace(const cm_contract *c) {
  cm_store *s = fresh(c);
  ref_store r = {0};
  cm_store_hit h[KMAX];
  cm_worker a = mk("a", LAT0, LON0, CM_FX_NURSE, T0);
  put(s, &r, &a);
  put(s, &r, &a); /* the same worker again: nothing changes */
  cm_worker other = mk("b", north(LAT0, 0.5), LON0, CM_FX_NURSE, T0);
  put(s, &r, &other);
  cm_worker a2 = mk("a", north(LAT0, 20), LON0 + 0.01, CM_FX_CAREGIVER, T0 + 5);
  a2.capacity = 2;
  a2.jobs_today = 4;
  a2.rating = 3.5;
  a2.level = 4;
  a2.n_elders = 1;
  a2.elders[0] = 99;
  put(s, &r, &a2);
  cr_assert_eq(cm_contract_count(s), 2, "a replacement adds nobody");
  expect_worker(s, &a2, "replaced");
  check_state(c, s, &r, "replace");
  cm_store_query q = mkq(LAT0, LON0, 2.0, 5);
  int n = verify(c, s, &r, &q, T0, 0, h, "old place after replace");
  cr_assert(!has_hit(h, n, "a"), "the old position must be forgotten");
  q = mkq(a2.lat, a2.lon, 1.0, 5);
  q.need_all = CM_FX_CAREGIVER;
  n = verify(c, s, &r, &q, T0, 0, h, "new place after replace");
  cr_assert(has_hit(h, n, "a"), "the new position must be found");
  q.need_all = CM_FX_NURSE;
  n = verify(c, s, &r, &q, T0, 0, h, "old skill after replace");
  cr_assert(!has_hit(h, n, "a"), "the old skills must be forgotten");
  /* replace into unavailable, then back */
  a2.status = CM_WORKER_OFFLINE;
  put(s, &r, &a2);
  q.need_all = 0;
  n = verify(c, s, &r, &q, T0, 0, h, "replaced offline");
  cr_assert(!has_hit(h, n, "a"));
  a2.status = CM_WORKER_AVAILABLE;
  a2.has_position = 0;
  put(s, &r, &a2);
  n = verify(c, s, &r, &q, T0, 0, h, "replaced without position");
  cr_assert(!has_hit(h, n, "a"));
  check_state(c, s, &r, "replace end");
  ref_free(&r);
  cm_store_free(s);
}

void cm_contract_position(const cm_contract *c) {
  cm_store *s = fresh(c);
  ref_store r = {0};
  cm_store_hit h[KMAX];
  cm_error err;
  cm_worker a = mk("a", LAT0, LON0, CM_FX_NURSE, T0);
  a.jobs_today = 3;
  put(s, &r, &a);
  put(s, &r, &a);
  cm_store_query qa = mkq(LAT0, LON0, 1.0, 4), qb = qa;
  qb.lat = north(LAT0, 10);
  cr_assert(has_hit(h, verify(c, s, &r, &qa, T0, 0, h, "before"), "a"));
  cr_assert_eq(cm_store_position(s, "a", qb.lat, qb.lon, T0 + 1000, &err),
               CM_OK);
  a.lat = qb.lat;
  a.seen_ms = T0 + 1000;
  ref_upsert(&r, &a);
  cr_assert(!has_hit(h, verify(c, s, &r, &qa, T0, 0, h, "old place"), "a"),
            "the old neighbourhood must lose a moved worker");
  int n = verify(c, s, &r, &qb, T0, 0, h, "new place");
  cr_assert(n == 1 && !strcmp(h[0].id, "a") && h[0].distance_km < 1e-6,
            "the new neighbourhood must find it at distance 0");
  expect_worker(s, &a, "moved: lat, lon, seen_ms new, the rest unchanged");
  /* small moves (within a grid cell, and across a cell edge) */
  for (int i = 1; i <= 40; i++) {
    double lat = north(qb.lat, 0.013 * i), lon = qb.lon + 0.00017 * i;
    cr_assert_eq(cm_store_position(s, "a", lat, lon, T0 + 1000 + i, &err),
                 CM_OK);
    a.lat = lat;
    a.lon = lon;
    a.seen_ms = T0 + 1000 + i;
    ref_upsert(&r, &a);
    verify(c, s, &r, &qb, T0, 0, h, "small moves");
  }
  expect_worker(s, &a, "after small moves");
  /* a worker without a position gets one */
  cm_worker b = mk("b", 0, 0, CM_FX_NURSE, 0);
  b.has_position = 0;
  put(s, &r, &b);
  cm_store_query everywhere = mkq(0, 0, EARTH_KM, KMAX);
  cr_assert(
      !has_hit(h, verify(c, s, &r, &everywhere, T0, 0, h, "no pos"), "b"));
  cr_assert_eq(cm_store_position(s, "b", LAT0, LON0, T0, &err), CM_OK);
  b.has_position = 1;
  b.lat = LAT0;
  b.lon = LON0;
  b.seen_ms = T0;
  ref_upsert(&r, &b);
  cr_assert(has_hit(h, verify(c, s, &r, &qa, T0, 0, h, "given a pos"), "b"));
  /* moves of an unavailable worker keep it out, and count when back */
  cr_assert_eq(cm_store_status(s, "b", CM_WORKER_BUSY, &err), CM_OK);
  cr_assert_eq(cm_store_position(s, "b", qb.lat, qb.lon, T0 + 9, &err), CM_OK);
  b.status = CM_WORKER_BUSY;
  b.lat = qb.lat;
  b.lon = qb.lon;
  b.seen_ms = T0 + 9;
  ref_upsert(&r, &b);
  cr_assert(!has_hit(h, verify(c, s, &r, &qb, T0, 0, h, "busy moved"), "b"));
  cr_assert_eq(cm_store_status(s, "b", CM_WORKER_AVAILABLE, &err), CM_OK);
  b.status = CM_WORKER_AVAILABLE;
  ref_upsert(&r, &b);
  cr_assert(has_hit(h, verify(c, s, &r, &qb, T0, 0, h, "back"), "b"));
  cr_assert(!has_hit(h, verify(c, s, &r, &qa, T0, 0, h, "not old"), "b"));
  /* many workers, many moves */
  cm_check_rng g;
  cm_check_rng_seed(&g, seed_of(c, 7));
  char ids[300][CM_ID_MAX];
  fill_ids(ids, 300, "m");
  for (int i = 0; i < 300; i++) {
    cm_worker w = rand_worker(&g, ids[i], T0);
    put(s, &r, &w);
  }
  for (int step = 0; step < 3000; step++) {
    int i = cm_check_rng_int(&g, 0, 299);
    cm_worker w = r.w[ref_find(&r, ids[i])];
    if (w.has_position && cm_check_rng_chance(&g, 0.7)) {
      w.lat = fmax(-90, fmin(90, w.lat + cm_check_rng_real(&g, -0.01, 0.01)));
      w.lon = fmax(-180, fmin(180, w.lon + cm_check_rng_real(&g, -0.01, 0.01)));
    } else {
      rand_pos(&g, &w.lat, &w.lon);
    }
    w.has_position = 1;
    w.seen_ms = T0 + step;
    cr_assert_eq(cm_store_position(s, w.id, w.lat, w.lon, w.seen_ms, &err),
                 CM_OK);
    ref_upsert(&r, &w);
    if (step % 10 == 0) {
      excl_buf ex;
      cm_store_query q = rand_query(&g, &r, &ex, T0, 0);
      verify(c, s, &r, &q, T0, 0, h, "many moves");
    }
  }
  /* travellers: workers crossing a region in 700 m steps leave many
   * emptied neighbourhoods behind */
  for (int step = 0; step < 4000; step++) {
    int i = step % 40;
    cm_worker w = r.w[ref_find(&r, ids[i])];
    double heading = (i * 2.399963) + step * 0.001; /* per worker */
    w.lat = fmax(-89, fmin(89, w.lat + 0.0063 * cos(heading)));
    w.lon = w.lon + 0.0074 * sin(heading);
    w.lon = w.lon > 180 ? w.lon - 360 : (w.lon < -180 ? w.lon + 360 : w.lon);
    w.has_position = 1;
    w.seen_ms = T0 + step;
    cr_assert_eq(cm_store_position(s, w.id, w.lat, w.lon, w.seen_ms, &err),
                 CM_OK);
    ref_upsert(&r, &w);
    if (step % 25 == 0) {
      cm_store_query q = mkq(w.lat, w.lon, 3.0, 5);
      verify(c, s, &r, &q, T0, 0, h, "travellers");
      excl_buf ex;
      q = rand_query(&g, &r, &ex, T0, 0);
      verify(c, s, &r, &q, T0, 0, h, "travellers, anywhere");
    }
  }
  check_state(c, s, &r, "position end");
  ref_free(&r);
  cm_store_free(s);
}

void cm_contract_status(const cm_contract *c) {
  cm_store *s = fresh(c);
  ref_store r = {0};
  cm_store_hit h[KMAX];
  cm_error err;
  cm_store_query q = mkq(LAT0, LON0, 3.0, 10);
  cm_worker a = mk("a", LAT0, LON0 + 0.001, CM_FX_NURSE, T0);
  cm_worker b = mk("b", LAT0 + 0.001, LON0, CM_FX_NURSE, T0);
  put(s, &r, &a);
  put(s, &r, &b);
  const cm_worker_status away[] = {CM_WORKER_OFFERED, CM_WORKER_BUSY,
                                   CM_WORKER_OFFLINE};
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(cm_store_status(s, "a", away[i], &err), CM_OK);
    a.status = away[i];
    ref_upsert(&r, &a);
    int n = verify(c, s, &r, &q, T0, 0, h, "away");
    cr_assert(!has_hit(h, n, "a") && has_hit(h, n, "b"),
              "a %s worker must not be answered",
              cm_worker_status_name(away[i]));
    expect_worker(s, &a, "status kept");
    /* setting the same status twice changes nothing */
    cr_assert_eq(cm_store_status(s, "a", away[i], &err), CM_OK);
    cr_assert(!has_hit(h, verify(c, s, &r, &q, T0, 0, h, "twice"), "a"));
    cr_assert_eq(cm_store_status(s, "a", CM_WORKER_AVAILABLE, &err), CM_OK);
    a.status = CM_WORKER_AVAILABLE;
    ref_upsert(&r, &a);
    cr_assert(has_hit(h, verify(c, s, &r, &q, T0, 0, h, "back"), "a"),
              "back to available must be answered");
  }
  cr_assert_eq(cm_store_status(s, "a", CM_WORKER_AVAILABLE, &err), CM_OK);
  cr_assert_eq(verify(c, s, &r, &q, T0, 0, h, "available twice"), 2,
               "available twice must not duplicate the worker");
  cm_worker z = mk("zero", LAT0, LON0, CM_FX_NURSE, T0);
  z.capacity = 0;
  put(s, &r, &z);
  cm_worker np = mk("nopos", LAT0, LON0, CM_FX_NURSE, T0);
  np.has_position = 0;
  put(s, &r, &np);
  cr_assert_eq(cm_store_status(s, "zero", CM_WORKER_AVAILABLE, &err), CM_OK);
  cr_assert_eq(cm_store_status(s, "nopos", CM_WORKER_AVAILABLE, &err), CM_OK);
  int n = verify(c, s, &r, &q, T0, 0, h, "capacity 0 / no position");
  cr_assert(!has_hit(h, n, "zero") && !has_hit(h, n, "nopos"),
            "capacity 0 and no position are never answered");
  z.capacity = 1;
  put(s, &r, &z);
  cr_assert(has_hit(h, verify(c, s, &r, &q, T0, 0, h, "capacity 1"), "zero"));
  check_state(c, s, &r, "status end");
  ref_free(&r);
  cm_store_free(s);
}

void cm_contract_remove(const cm_contract *c) {
  cm_store *s = fresh(c);
  ref_store r = {0};
  cm_store_hit h[KMAX];
  cm_error err;
  cm_check_rng g;
  char ids[80][CM_ID_MAX];
  cm_check_rng_seed(&g, seed_of(c, 3));
  fill_ids(ids, 80, "r");
  for (int i = 0; i < 80; i++) {
    cm_worker w = rand_worker(&g, ids[i], T0);
    put(s, &r, &w);
  }
  cm_store_query q = mkq(LAT0, LON0, 30.0, KMAX);
  const char *order[] = {"r0000", "r0079", "r0040", "r0001", "r0078"};
  for (int step = 0; r.n > 0; step++) {
    const char *id =
        step < 5 ? order[step] : r.w[cm_check_rng_int(&g, 0, r.n - 1)].id;
    char victim[CM_ID_MAX];
    snprintf(victim, sizeof victim, "%s", id);
    cr_assert_eq(cm_store_remove(s, victim, &err), CM_OK, "remove %s", victim);
    ref_remove(&r, ref_find(&r, victim));
    expect_err(cm_store_get(s, victim, NULL, &err), &err, CM_E_UNKNOWN_ID,
               "$.id", "get after remove");
    expect_err(cm_store_remove(s, victim, &err), &err, CM_E_UNKNOWN_ID, "$.id",
               "remove twice");
    cr_assert(
        !has_hit(h, verify(c, s, &r, &q, T0, 0, h, "after remove"), victim));
    if (step < 8 || step % 10 == 0)
      check_state(c, s, &r, "after remove");
    if (step == 20) { /* re-insert a removed id: it is new again */
      cm_worker w = mk(victim, LAT0, LON0, CM_FX_NURSE, T0);
      put(s, &r, &w);
      cr_assert(
          has_hit(h, verify(c, s, &r, &q, T0, 0, h, "re-inserted"), victim));
    }
  }
  cr_assert_eq(cm_contract_count(s), 0);
  cr_assert_eq(verify(c, s, &r, &q, T0, 0, h, "empty"), 0);
  cm_worker w = mk("again", LAT0, LON0, CM_FX_NURSE, T0);
  put(s, &r, &w);
  cr_assert_eq(verify(c, s, &r, &q, T0, 0, h, "refilled"), 1);
  ref_free(&r);
  cm_store_free(s);
}

/* Ids of a query's answer, comma separated, for the hand-made cases. */
static void answer_ids(cm_store *s, const cm_store_query *q, char *out,
                       size_t len) {
  cm_store_hit h[KMAX];
  int n = ask(s, q, T0, 0, h);
  out[0] = '\0';
  for (int i = 0; i < n; i++) {
    strncat(out, h[i].id, len - strlen(out) - 1);
    if (i + 1 < n)
      strncat(out, ",", len - strlen(out) - 1);
  }
}

void cm_contract_rules(const cm_contract *c) {
  cm_store *s = fresh(c);
  ref_store r = {0};
  cm_store_hit h[KMAX];
  char got[256];
  /* A..E at 0.1 .. 0.5 km north of the query point */
  const struct {
    const char *id;
    cm_skillset sk;
  } ws[] = {{"A", CM_FX_CAREGIVER},
            {"B", CM_FX_NURSE},
            {"C", CM_FX_CAREGIVER | CM_FX_NURSE},
            {"D", CM_FX_ESCORT},
            {"E", CM_FX_NURSE | CM_FX_ESCORT}};
  for (int i = 0; i < 5; i++) {
    cm_worker w = mk(ws[i].id, north(LAT0, 0.1 * (i + 1)), LON0, ws[i].sk, T0);
    put(s, &r, &w);
  }
  const char *ex_e[] = {"E"}, *ex_ac[] = {"A", "C", "nobody"};
  struct {
    cm_skillset all, any;
    const char *const *ex;
    int n_ex;
    const char *want;
  } cases[] = {
      {0, 0, NULL, 0, "A,B,C,D,E"},
      {CM_FX_NURSE, 0, NULL, 0, "B,C,E"},
      {CM_FX_CAREGIVER | CM_FX_NURSE, 0, NULL, 0, "C"},
      {0, CM_FX_CAREGIVER | CM_FX_ESCORT, NULL, 0, "A,C,D,E"},
      {CM_FX_NURSE, CM_FX_ESCORT, NULL, 0, "E"},
      {0, CM_FX_ESCORT, ex_e, 1, "D"},
      {0, 0, ex_ac, 3, "B,D,E"},
      {CM_FX_REHAB, 0, NULL, 0, ""},
      {0, CM_FX_REHAB | ((cm_skillset)1 << 31), NULL, 0, ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    cm_store_query q = mkq(LAT0, LON0, 1.0, 10);
    q.need_all = cases[i].all;
    q.need_any = cases[i].any;
    q.exclude = cases[i].ex;
    q.n_exclude = cases[i].n_ex;
    answer_ids(s, &q, got, sizeof got);
    cr_assert_str_eq(got, cases[i].want, "rule case %zu: got '%s', want '%s'",
                     i, got, cases[i].want);
    verify(c, s, &r, &q, T0, 0, h, "rules");
  }
  /* k smaller than the matches keeps the nearest; radius cuts the rest */
  cm_store_query q = mkq(LAT0, LON0, 1.0, 2);
  answer_ids(s, &q, got, sizeof got);
  cr_assert_str_eq(got, "A,B");
  q = mkq(LAT0, LON0, 0.35, 10);
  answer_ids(s, &q, got, sizeof got);
  cr_assert_str_eq(got, "A,B,C", "radius 0.35 km: got '%s'", got);
  q = mkq(north(LAT0, 0.5), LON0, 0.15, 10); /* from E's side */
  answer_ids(s, &q, got, sizeof got);
  cr_assert_str_eq(got, "E,D", "nearest first: got '%s'", got);
  ref_free(&r);
  cm_store_free(s);
}

void cm_contract_same_point(const cm_contract *c) {
  cm_store *s = fresh(c);
  ref_store r = {0};
  cm_store_hit h[KMAX];
  cm_check_rng g;
  int perm[30];
  cm_check_rng_seed(&g, seed_of(c, 5));
  for (int i = 0; i < 30; i++)
    perm[i] = i;
  for (int i = 29; i > 0; i--) {
    int j = cm_check_rng_int(&g, 0, i), t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  for (int i = 0; i < 30; i++) { /* inserted in shuffled id order */
    char id[16];
    snprintf(id, sizeof id, "p%02d", perm[i]);
    cm_worker w = mk(id, LAT0, LON0, CM_FX_NURSE, T0);
    put(s, &r, &w);
  }
  cm_worker near = mk("a-near", north(LAT0, 0.001), LON0, CM_FX_NURSE, T0);
  put(s, &r, &near);
  cm_store_query q = mkq(LAT0, LON0, 1.0, 10);
  int n = verify(c, s, &r, &q, T0, 0, h, "same point k 10");
  cr_assert_eq(n, 10);
  for (int i = 0; i < n; i++) {
    char id[16];
    snprintf(id, sizeof id, "p%02d", i);
    cr_assert_str_eq(h[i].id, id, "ties must go by id: hit %d is %s", i,
                     h[i].id);
    cr_assert(h[i].distance_km == 0.0);
  }
  q = mkq(LAT0, LON0, 0.0, KMAX); /* radius 0: exactly there */
  n = verify(c, s, &r, &q, T0, 0, h, "radius 0");
  cr_assert_eq(n, 30, "radius 0 answers the workers at the point");
  cr_assert(!has_hit(h, n, "a-near"));
  q = mkq(LAT0, LON0, 1.0, 31);
  n = verify(c, s, &r, &q, T0, 0, h, "k 31");
  cr_assert_str_eq(h[30].id, "a-near", "the farther worker comes last");
  ref_free(&r);
  cm_store_free(s);
}

/* Brute-force check of n_q random queries over the model's workers. */
static void random_queries(const cm_contract *c, cm_store *s,
                           const ref_store *r, cm_check_rng *g, int n_q,
                           const char *what) {
  cm_store_hit h[KMAX];
  static const int64_t stales[] = {0, 0, 2000, 6000};
  for (int i = 0; i < n_q; i++) {
    excl_buf ex;
    int64_t stale = stales[cm_check_rng_int(g, 0, 3)];
    cm_store_query q = rand_query(g, r, &ex, T0, stale);
    verify(c, s, r, &q, T0, stale, h, what);
  }
}

void cm_contract_nearest_brute(const cm_contract *c) {
  cm_store *s = fresh(c);
  ref_store r = {0};
  cm_check_rng g;
  cm_check_rng_seed(&g, seed_of(c, 11));
  static char ids[3000][CM_ID_MAX];
  fill_ids(ids, 3000, "b");
  for (int i = 0; i < 3000; i++) {
    cm_worker w = rand_worker(&g, ids[i], T0);
    put(s, &r, &w);
  }
  random_queries(c, s, &r, &g, 1500, "brute force");
  /* k larger than every match, around and far away */
  cm_store_hit h[KMAX];
  cm_store_query q = mkq(LAT0, LON0, 0.2, KMAX);
  verify(c, s, &r, &q, T0, 0, h, "k above the matches");
  q = mkq(-45.0, -120.0, 5.0, 8); /* the South Pacific */
  cr_assert_eq(verify(c, s, &r, &q, T0, 0, h, "far away, small radius"), 0);
  q.radius_km = EARTH_KM;
  q.k = KMAX;
  verify(c, s, &r, &q, T0, 0, h, "far away, whole Earth");
  q = mkq(LAT0, LON0, EARTH_KM, KMAX);
  q.need_all = CM_FX_REHAB;
  verify(c, s, &r, &q, T0, 0, h, "whole Earth from the city");
  ref_free(&r);
  cm_store_free(s);
}

void cm_contract_lattice(const cm_contract *c) {
  cm_store *s = fresh(c);
  ref_store r = {0};
  cm_store_hit h[KMAX];
  cm_check_rng g;
  cm_check_rng_seed(&g, seed_of(c, 29));
  /* 48 x 48 workers 25 m apart (slightly jittered), 1.2 km on a side, so
   * that any index boundary inside the square has workers just beyond it */
  for (int i = 0; i < 48; i++)
    for (int j = 0; j < 48; j++) {
      char id[16];
      snprintf(id, sizeof id, "l%02d%02d", i, j);
      double jit = cm_check_rng_real(&g, -0.002, 0.002);
      cm_worker w =
          mk(id, north(LAT0, 0.025 * i + jit),
             LON0 + (0.025 * j - jit) / (111.19508 * 0.855), CM_FX_NURSE, T0);
      w.skills = cm_check_rng_chance(&g, 0.7) ? CM_FX_NURSE : CM_FX_CAREGIVER;
      put(s, &r, &w);
    }
  for (int t = 0; t < 3000; t++) {
    cm_store_query q = mkq(north(LAT0, cm_check_rng_real(&g, -0.1, 1.3)),
                           LON0 + cm_check_rng_real(&g, -0.001, 0.0135), 0.6,
                           cm_check_rng_int(&g, 1, 40));
    if (cm_check_rng_chance(&g, 0.3))
      q.need_all = CM_FX_CAREGIVER;
    if (cm_check_rng_chance(&g, 0.2))
      q.radius_km = cm_check_rng_real(&g, 0.01, 0.2);
    verify(c, s, &r, &q, T0, 0, h, "lattice");
  }
  ref_free(&r);
  cm_store_free(s);
}

void cm_contract_geometry(const cm_contract *c) {
  static const double pts[][2] = {
      {LAT0, LON0},        {89.99, 0},      {89.99, 90},    {89.99, 180},
      {89.999, -135},      {90, 0},         {-90, 0},       {-89.95, 45},
      {10, 179.999},       {10, -179.999},  {10.001, 180},  {10, -180},
      {-16.5, 179.9},      {-16.5, -179.9}, {0, 0},         {0, 0.001},
      {0.0005, -0.0005},   {51.5, -0.12},   {-33.9, 151.2}, {40.7, -74.0},
      {LAT0, LON0 + 0.01}, {-89.999, 180},  {88, -60},      {0, 180}};
  int np = (int)(sizeof pts / sizeof *pts);
  static const double radii[] = {0.0, 0.5, 2, 20, 150, 1200, 9000, EARTH_KM};
  cm_store_hit h[KMAX];
  for (int pass = 0; pass < 2; pass++) {
    /* pass 0: the first worker (projection origin) in the city; pass 1:
     * near the pole */
    cm_store *s = fresh(c);
    ref_store r = {0};
    for (int i = 0; i < np; i++) {
      int k = pass ? (i + 3) % np : i;
      char id[16];
      snprintf(id, sizeof id, "g%02d", k);
      cm_worker w = mk(id, pts[k][0], pts[k][1], CM_FX_NURSE, T0);
      put(s, &r, &w);
      snprintf(id, sizeof id, "h%02d", k); /* a neighbour 300 m north */
      w = mk(id, fmin(90, north(pts[k][0], 0.3)), pts[k][1], CM_FX_NURSE, T0);
      put(s, &r, &w);
    }
    for (int i = 0; i < np; i++)
      for (int j = 0; j < 8; j++)
        for (int k = 1; k <= 9; k += 8) {
          cm_store_query q = mkq(pts[i][0], pts[i][1], radii[j], k);
          verify(c, s, &r, &q, T0, 0, h, "geometry on a point");
          q.lat = fmax(-90, fmin(90, q.lat - 0.004 * (j - 3)));
          q.lon = fmax(-180, fmin(180, q.lon + 0.006 * (j - 4)));
          verify(c, s, &r, &q, T0, 0, h, "geometry near a point");
        }
    /* across the antimeridian: 179.999 and -179.999 are 220 m apart */
    cm_store_query q = mkq(10, 180, 0.5, 4);
    int n = verify(c, s, &r, &q, T0, 0, h, "antimeridian");
    cr_assert(has_hit(h, n, "g08") && has_hit(h, n, "g09"),
              "both sides of the antimeridian must be found");
    q = mkq(90, 77, 2.0, KMAX); /* at the pole every longitude is near */
    n = verify(c, s, &r, &q, T0, 0, h, "north pole");
    cr_assert(has_hit(h, n, "g01") && has_hit(h, n, "g03") &&
              has_hit(h, n, "g05"));
    ref_free(&r);
    cm_store_free(s);
  }
}

void cm_contract_stale_sweep(const cm_contract *c) {
  cm_store *s = fresh(c);
  ref_store r = {0};
  cm_store_hit h[KMAX];
  cm_error err;
  const int64_t now = 1000000, stale = 60000;
  struct {
    const char *id;
    int64_t seen;
    cm_worker_status st;
    int has_pos, cap;
  } ws[] = {
      {"fresh", now, CM_WORKER_AVAILABLE, 1, 1},
      {"edge", now - stale, CM_WORKER_AVAILABLE, 1, 1}, /* exactly at the
                                                           limit: fresh */
      {"stale", now - stale - 1, CM_WORKER_AVAILABLE, 1, 1},
      {"never", 0, CM_WORKER_AVAILABLE, 1, 1},
      {"busy", 0, CM_WORKER_BUSY, 1, 1},
      {"nopos", 0, CM_WORKER_AVAILABLE, 0, 1},
      {"full", 0, CM_WORKER_AVAILABLE, 1, 0}, /* capacity 0, stale */
      {"future", now + 5000, CM_WORKER_AVAILABLE, 1, 1},
  };
  int nw = (int)(sizeof ws / sizeof *ws);
  for (int i = 0; i < nw; i++) {
    cm_worker w =
        mk(ws[i].id, north(LAT0, 0.05 * i), LON0, CM_FX_NURSE, ws[i].seen);
    w.status = ws[i].st;
    w.has_position = ws[i].has_pos;
    w.capacity = ws[i].cap;
    put(s, &r, &w);
  }
  cm_store_query q = mkq(LAT0, LON0, 5.0, KMAX);
  int n = verify(c, s, &r, &q, now, stale, h, "stale filter");
  cr_assert(n == 3 && has_hit(h, n, "fresh") && has_hit(h, n, "edge") &&
                has_hit(h, n, "future"),
            "the stale filter keeps fresh, edge and future (got %d)", n);
  n = verify(c, s, &r, &q, now, 0, h, "stale 0");
  cr_assert_eq(n, 5, "stale 0 keeps every available positioned worker");
  cr_assert_eq(cm_contract_swept(s, now, 0, &err), 0, "stale 0 sweeps nothing");
  check_state(c, s, &r, "after sweep 0");
  int swept = cm_contract_swept(s, now, stale, &err);
  cr_assert_eq(swept, ref_sweep(&r, now, stale));
  cr_assert_eq(swept, 3, "stale, never and full are swept (got %d)", swept);
  check_state(c, s, &r, "after sweep");
  cm_worker got;
  cr_assert_eq(cm_store_get(s, "stale", &got, &err), CM_OK);
  cr_assert_eq(got.status, CM_WORKER_OFFLINE);
  cr_assert_eq(cm_store_get(s, "busy", &got, &err), CM_OK);
  cr_assert_eq(got.status, CM_WORKER_BUSY, "sweep leaves busy workers");
  cr_assert_eq(cm_store_get(s, "nopos", &got, &err), CM_OK);
  cr_assert_eq(got.status, CM_WORKER_AVAILABLE,
               "sweep leaves workers without a position");
  n = verify(c, s, &r, &q, now, 0, h, "after sweep");
  cr_assert(n == 3 && !has_hit(h, n, "stale") && !has_hit(h, n, "never"));
  cr_assert_eq(cm_contract_swept(s, now, stale, &err), 0, "a second sweep");
  /* a swept worker comes back with a fresh position and a status */
  cr_assert_eq(cm_store_position(s, "stale", LAT0, LON0, now, &err), CM_OK);
  cr_assert_eq(cm_store_status(s, "stale", CM_WORKER_AVAILABLE, &err), CM_OK);
  cm_worker back = r.w[ref_find(&r, "stale")];
  back.lat = LAT0;
  back.lon = LON0;
  back.seen_ms = now;
  back.status = CM_WORKER_AVAILABLE;
  ref_upsert(&r, &back);
  n = verify(c, s, &r, &q, now, stale, h, "back from sweep");
  cr_assert(has_hit(h, n, "stale"), "a swept worker can come back");
  /* much later everybody is stale */
  swept = cm_contract_swept(s, now + 10 * stale, stale, &err);
  cr_assert_eq(swept, ref_sweep(&r, now + 10 * stale, stale));
  cr_assert_eq(verify(c, s, &r, &q, now, 0, h, "all swept"), 0);
  check_state(c, s, &r, "sweep end");
  ref_free(&r);
  cm_store_free(s);
}

/* What must not change across failed calls. */
typedef struct fingerprint {
  collect all;
  cm_store_hit hits[3][KMAX];
  int counts[3];
} fingerprint;

static void take_fingerprint(cm_store *s, fingerprint *f) {
  cm_error err;
  memset(f, 0, sizeof *f);
  cr_assert_eq(cm_store_each(s, collect_fn, &f->all, &err), CM_OK);
  cr_assert_eq(f->all.n, cm_contract_count(s));
  for (int i = 0; i < 3; i++) {
    cm_store_query q = mkq(LAT0 + 0.01 * i, LON0, 5.0 * (i + 1), 10 * i + 5);
    f->counts[i] = ask(s, &q, T0, 0, f->hits[i]);
  }
}

static void same_fingerprint(cm_store *s, const fingerprint *f,
                             const char *what) {
  fingerprint now;
  take_fingerprint(s, &now);
  cr_assert_eq(now.all.n, f->all.n, "%s: count changed", what);
  for (int i = 0; i < f->all.n; i++)
    cr_assert_null(worker_diff(&now.all.w[i], &f->all.w[i]),
                   "%s: worker %s changed", what, f->all.w[i].id);
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(now.counts[i], f->counts[i], "%s: nearest changed", what);
    for (int j = 0; j < f->counts[i]; j++)
      cr_assert(!strcmp(now.hits[i][j].id, f->hits[i][j].id) &&
                    now.hits[i][j].distance_km == f->hits[i][j].distance_km,
                "%s: nearest changed", what);
  }
  free(now.all.w);
}

void cm_contract_bad_input(const cm_contract *c) {
  cm_store *s = fresh(c);
  cm_error err;
  cm_check_rng g;
  cm_check_rng_seed(&g, seed_of(c, 13));
  for (int i = 0; i < 40; i++) {
    char id[16];
    snprintf(id, sizeof id, "v%02d", i);
    cm_worker w = rand_worker(&g, id, T0);
    w.status = CM_WORKER_AVAILABLE;
    w.has_position = 1;
    w.capacity = 1;
    put(s, NULL, &w);
  }
  fingerprint before;
  take_fingerprint(s, &before);
  cr_assert(before.counts[0] > 0, "the fingerprint must see workers");

  /* upsert: each bad field, as a new worker and as a replacement */
  enum { N_BAD = 22 };
  for (int b = 0; b < N_BAD; b++)
    for (int replace = 0; replace < 2; replace++) {
      cm_worker w = mk(replace ? "v03" : "newbie", LAT0, LON0, CM_FX_NURSE, T0);
      cm_status code = CM_E_RANGE;
      const char *field;
      switch (b) {
      case 0:
        w.id[0] = '\0', code = CM_E_INVALID, field = "$.id";
        break;
      case 1:
        memset(w.id, 'y', CM_ID_MAX), code = CM_E_INVALID, field = "$.id";
        break;
      case 2:
        w.skills = 0, code = CM_E_INVALID, field = "$.skills";
        break;
      case 3:
        w.lat = NAN, field = "$.lat";
        break;
      case 4:
        w.lat = 91, field = "$.lat";
        break;
      case 5:
        w.lat = -90.0001, field = "$.lat";
        break;
      case 6:
        w.lon = 180.5, field = "$.lon";
        break;
      case 7:
        w.lon = -INFINITY, field = "$.lon";
        break;
      case 8:
        w.status = (cm_worker_status)4, field = "$.status";
        break;
      case 9:
        w.status = (cm_worker_status)-1, field = "$.status";
        break;
      case 10:
        w.seen_ms = -1, field = "$.seen_ms";
        break;
      case 11:
        w.capacity = -1, field = "$.capacity";
        break;
      case 12:
        w.capacity = 65, field = "$.capacity";
        break;
      case 13:
        w.jobs_today = -1, field = "$.jobs_today";
        break;
      case 14:
        w.jobs_today = 1001, field = "$.jobs_today";
        break;
      case 15:
        w.rating = 5.01, field = "$.rating";
        break;
      case 16:
        w.rating = NAN, field = "$.rating";
        break;
      case 17:
        w.level = 0.99, field = "$.level";
        break;
      case 18:
        w.level = INFINITY, field = "$.level";
        break;
      case 19:
        w.n_elders = CM_MAX_ELDERS + 1, field = "$.elders";
        break;
      case 20:
        w.n_elders = -1, field = "$.elders";
        break;
      default:
        w.lon = NAN, field = "$.lon";
        break;
      }
      char what[64];
      snprintf(what, sizeof what, "bad upsert %d (%s)", b, field);
      if (b == 1 && replace)
        continue; /* a 64-byte id cannot name v03 */
      expect_err(cm_store_upsert(s, &w, &err), &err, code, field, what);
      cr_assert_eq(cm_store_upsert(s, &w, NULL), code, "%s, NULL err", what);
    }
  /* without a position, lat and lon are not looked at */
  cm_worker nopos = mk("nopos", NAN, 500, CM_FX_NURSE, T0);
  nopos.has_position = 0;
  cr_assert_eq(cm_store_upsert(s, &nopos, &err), CM_OK,
               "lat/lon are ignored without has_position");
  cr_assert_eq(cm_store_remove(s, "nopos", &err), CM_OK);
  expect_err(cm_store_upsert(s, NULL, &err), &err, CM_E_INVALID, "$",
             "upsert NULL");
  same_fingerprint(s, &before, "after bad upserts");

  /* position */
  const struct {
    double lat, lon;
    int64_t seen;
    const char *field;
  } pos[] = {{NAN, LON0, T0, "$.lat"},     {91, LON0, T0, "$.lat"},
             {-90.5, LON0, T0, "$.lat"},   {INFINITY, LON0, T0, "$.lat"},
             {LAT0, 180.001, T0, "$.lon"}, {LAT0, -181, T0, "$.lon"},
             {LAT0, NAN, T0, "$.lon"},     {LAT0, LON0, -1, "$.seen_ms"}};
  for (size_t i = 0; i < sizeof pos / sizeof *pos; i++) {
    expect_err(
        cm_store_position(s, "v03", pos[i].lat, pos[i].lon, pos[i].seen, &err),
        &err, CM_E_RANGE, pos[i].field, "bad position");
    cr_assert_eq(
        cm_store_position(s, "v03", pos[i].lat, pos[i].lon, pos[i].seen, NULL),
        CM_E_RANGE);
  }
  /* unknown ids */
  char long_id[CM_ID_MAX + 8];
  memset(long_id, 'z', sizeof long_id - 1);
  long_id[sizeof long_id - 1] = '\0';
  const char *unknown[] = {"nobody", "", "v3", "V03", long_id};
  for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++) {
    const char *id = unknown[i];
    cm_worker out;
    expect_err(cm_store_position(s, id, LAT0, LON0, T0, &err), &err,
               CM_E_UNKNOWN_ID, "$.id", "position of an unknown id");
    expect_err(cm_store_status(s, id, CM_WORKER_BUSY, &err), &err,
               CM_E_UNKNOWN_ID, "$.id", "status of an unknown id");
    expect_err(cm_store_remove(s, id, &err), &err, CM_E_UNKNOWN_ID, "$.id",
               "remove of an unknown id");
    expect_err(cm_store_get(s, id, &out, &err), &err, CM_E_UNKNOWN_ID, "$.id",
               "get of an unknown id");
    cr_assert_eq(cm_store_position(s, id, LAT0, LON0, T0, NULL),
                 CM_E_UNKNOWN_ID);
    cr_assert_eq(cm_store_status(s, id, CM_WORKER_BUSY, NULL), CM_E_UNKNOWN_ID);
    cr_assert_eq(cm_store_remove(s, id, NULL), CM_E_UNKNOWN_ID);
    cr_assert_eq(cm_store_get(s, id, &out, NULL), CM_E_UNKNOWN_ID);
  }
  /* NULL ids */
  expect_err(cm_store_position(s, NULL, LAT0, LON0, T0, &err), &err,
             CM_E_INVALID, "$.id", "position of NULL");
  expect_err(cm_store_status(s, NULL, CM_WORKER_BUSY, &err), &err, CM_E_INVALID,
             "$.id", "status of NULL");
  expect_err(cm_store_remove(s, NULL, &err), &err, CM_E_INVALID, "$.id",
             "remove of NULL");
  expect_err(cm_store_get(s, NULL, NULL, &err), &err, CM_E_INVALID, "$.id",
             "get of NULL");
  /* status values */
  expect_err(cm_store_status(s, "v03", (cm_worker_status)4, &err), &err,
             CM_E_RANGE, "$.status", "status 4");
  expect_err(cm_store_status(s, "v03", (cm_worker_status)-1, &err), &err,
             CM_E_RANGE, "$.status", "status -1");
  cr_assert_eq(cm_store_status(s, "v03", (cm_worker_status)9, NULL),
               CM_E_RANGE);
  same_fingerprint(s, &before, "after bad position/status/remove");

  /* nearest: the second query is bad; nothing is written */
  const char *ex1[] = {NULL};
  for (int b = 0; b < 11; b++) {
    cm_store_query q[2] = {mkq(LAT0, LON0, 5, 4), mkq(LAT0, LON0, 5, 4)};
    int nq = 2, k_max = 8;
    int64_t now = T0, stale = 0;
    cm_status code = CM_E_RANGE;
    const char *field = NULL;
    switch (b) {
    case 0:
      q[1].lat = NAN, field = "$.queries[1].lat";
      break;
    case 1:
      q[1].lat = 90.01, field = "$.queries[1].lat";
      break;
    case 2:
      q[1].lon = 200, field = "$.queries[1].lon";
      break;
    case 3:
      q[1].radius_km = -1, field = "$.queries[1].radius_km";
      break;
    case 4:
      q[1].radius_km = NAN, field = "$.queries[1].radius_km";
      break;
    case 5:
      q[1].k = 9, field = "$.queries[1].k";
      break;
    case 6:
      q[1].k = -1, field = "$.queries[1].k";
      break;
    case 7:
      q[1].n_exclude = 2, code = CM_E_INVALID, field = "$.queries[1].exclude";
      break;
    case 8:
      q[1].n_exclude = 1, q[1].exclude = ex1, code = CM_E_INVALID,
      field = "$.queries[1].exclude[0]";
      break;
    case 9:
      stale = -1, field = "$.stale_ms";
      break;
    default:
      now = -5, field = "$.now_ms";
      break;
    }
    cm_store_hit hits[16];
    int counts[2] = {-7, -7};
    memset(hits, 0x33, sizeof hits);
    char what[64];
    snprintf(what, sizeof what, "bad nearest %d", b);
    expect_err(
        cm_store_nearest(s, q, nq, k_max, now, stale, hits, counts, &err), &err,
        code, field, what);
    cr_assert(counts[0] == -7 && counts[1] == -7 &&
                  (unsigned char)hits[0].id[0] == 0x33,
              "%s: a failed nearest must not write answers", what);
    cr_assert_eq(
        cm_store_nearest(s, q, nq, k_max, now, stale, hits, counts, NULL), code,
        "%s, NULL err", what);
  }
  cm_store_query q1 = mkq(LAT0, LON0, 5, 4);
  int count;
  cm_store_hit hits[8];
  expect_err(cm_store_nearest(s, &q1, 1, -1, T0, 0, hits, &count, &err), &err,
             CM_E_RANGE, "$.k_max", "k_max -1");
  expect_err(cm_store_nearest(s, &q1, -1, 4, T0, 0, hits, &count, &err), &err,
             CM_E_RANGE, "$.queries", "nq -1");
  cr_assert_eq(cm_store_nearest(s, NULL, 0, 0, T0, 0, NULL, NULL, &err), CM_OK,
               "no queries is fine");
  /* sweep and each */
  cr_assert_eq(cm_contract_swept(s, T0, -1, &err), -1);
  cr_assert_eq(err.code, CM_E_RANGE);
  cr_assert_str_eq(err.field, "$.stale_ms");
  cr_assert_eq(cm_contract_swept(s, -1, 10, &err), -1);
  cr_assert_str_eq(err.field, "$.now_ms");
  cr_assert_eq(cm_contract_swept(s, -1, 10, NULL), -1);
  cr_assert_eq(cm_store_each(s, NULL, NULL, &err), CM_E_INVALID);
  cr_assert_eq(cm_store_each(s, NULL, NULL, NULL), CM_E_INVALID);
  same_fingerprint(s, &before, "after bad nearest/sweep/each");
  /* a good call after all that clears err */
  cr_assert_eq(cm_store_get(s, "v03", NULL, &err), CM_OK);
  cr_assert_eq(err.code, CM_OK, "success leaves err cleared");
  free(before.all.w);
  cm_store_free(s);
}

void cm_contract_batch(const cm_contract *c) {
  cm_store *s = fresh(c);
  ref_store r = {0};
  cm_check_rng g;
  cm_check_rng_seed(&g, seed_of(c, 17));
  static char ids[2000][CM_ID_MAX];
  fill_ids(ids, 2000, "q");
  for (int i = 0; i < 2000; i++) {
    cm_worker w = rand_worker(&g, ids[i], T0);
    put(s, &r, &w);
  }
  enum { NQ = 300, KM = 16 };
  static cm_store_query qs[NQ];
  static excl_buf ex[NQ];
  static cm_store_hit batch[NQ * KM];
  int counts[NQ];
  for (int i = 0; i < NQ; i++) {
    qs[i] = rand_query(&g, &r, &ex[i], T0, 2000);
    if (qs[i].k > KM)
      qs[i].k = KM;
  }
  cm_error err;
  cr_assert_eq(cm_store_nearest(s, qs, NQ, KM, T0, 2000, batch, counts, &err),
               CM_OK, "batch: %s", err.message);
  for (int i = 0; i < NQ; i++) {
    cm_store_hit one[KM];
    int n = ask(s, &qs[i], T0, 2000, one);
    cr_assert_eq(counts[i], n, "batch query %d: %d hits, alone %d", i,
                 counts[i], n);
    for (int j = 0; j < n; j++)
      cr_assert(!strcmp(batch[i * KM + j].id, one[j].id) &&
                    batch[i * KM + j].distance_km == one[j].distance_km,
                "batch query %d hit %d differs", i, j);
    check_answer(c, &r, &qs[i], T0, 2000, &batch[i * KM], counts[i], "batch");
  }
  ref_free(&r);
  cm_store_free(s);
}

/* Drive a store through a fixed sequence of calls; returns each()'s ids. */
static collect each_run(const cm_contract *c, ref_store *r) {
  cm_store *s = fresh(c);
  cm_check_rng g;
  cm_error err;
  char ids[120][CM_ID_MAX];
  cm_check_rng_seed(&g, seed_of(c, 19));
  fill_ids(ids, 120, "e");
  for (int i = 0; i < 120; i++) {
    cm_worker w = rand_worker(&g, ids[(i * 37) % 120], T0);
    put(s, r, &w);
  }
  for (int i = 0; i < 15; i++) { /* removals */
    const char *id = ids[cm_check_rng_int(&g, 0, 119)];
    int j = ref_find(r, id);
    if (j >= 0) {
      cr_assert_eq(cm_store_remove(s, id, &err), CM_OK);
      ref_remove(r, j);
    }
  }
  for (int i = 0; i < 15; i++) { /* replacements and re-insertions */
    cm_worker w = rand_worker(&g, ids[cm_check_rng_int(&g, 0, 119)], T0);
    put(s, r, &w);
  }
  for (int i = 0; i < 15; i++) { /* moves and status changes */
    int j = cm_check_rng_int(&g, 0, r->n - 1);
    cm_worker w = r->w[j];
    w.status = CM_WORKER_BUSY;
    cr_assert_eq(cm_store_status(s, w.id, w.status, &err), CM_OK);
    w.lat = LAT0;
    w.lon = LON0;
    w.has_position = 1;
    cr_assert_eq(cm_store_position(s, w.id, w.lat, w.lon, w.seen_ms, &err),
                 CM_OK);
    ref_upsert(r, &w);
  }
  check_state(c, s, r, "each");
  collect got = {0};
  cr_assert_eq(cm_store_each(s, collect_fn, &got, &err), CM_OK);
  cm_store_free(s);
  return got;
}

void cm_contract_each(const cm_contract *c) {
  ref_store r1 = {0}, r2 = {0};
  collect a = each_run(c, &r1), b = each_run(c, &r2);
  cr_assert_eq(a.n, b.n);
  for (int i = 0; i < a.n; i++)
    cr_assert_str_eq(a.w[i].id, b.w[i].id,
                     "each: the same calls must give the same order (#%d)", i);
  for (int i = 0; i < a.n; i++) /* every worker once */
    for (int j = i + 1; j < a.n; j++)
      cr_assert_str_neq(a.w[i].id, a.w[j].id, "each: %s twice", a.w[i].id);
  /* each from an empty store calls nothing */
  cm_store *s = fresh(c);
  collect none = {0};
  cm_error err;
  cr_assert_eq(cm_store_each(s, collect_fn, &none, &err), CM_OK);
  cr_assert_eq(none.n, 0);
  cm_store_free(s);
  free(a.w);
  free(b.w);
  ref_free(&r1);
  ref_free(&r2);
}

/* One random mutation, applied to the store and the model alike; the
 * expected result code comes from the model. */
static void random_mutation(cm_store *s, ref_store *r, cm_check_rng *g,
                            char (*ids)[CM_ID_MAX], int n_ids, int64_t now,
                            const char *what) {
  cm_error err;
  const char *id = ids[cm_check_rng_int(g, 0, n_ids - 1)];
  int known = ref_find(r, id);
  int dice = cm_check_rng_int(g, 0, 99);
  if (dice < 30) { /* upsert, sometimes bad */
    cm_worker w = rand_worker(g, id, now);
    if (cm_check_rng_chance(g, 0.04)) {
      w.rating = 6;
      expect_err(cm_store_upsert(s, &w, &err), &err, CM_E_RANGE, "$.rating",
                 what);
    } else {
      put(s, r, &w);
    }
  } else if (dice < 65) { /* position, sometimes bad */
    double lat, lon;
    cm_worker *w = known >= 0 ? &r->w[known] : NULL;
    if (w && w->has_position && cm_check_rng_chance(g, 0.6)) {
      lat = fmax(-90, fmin(90, w->lat + cm_check_rng_real(g, -0.004, 0.004)));
      lon = fmax(-180, fmin(180, w->lon + cm_check_rng_real(g, -0.004, 0.004)));
    } else {
      rand_pos(g, &lat, &lon);
    }
    int64_t seen = now - cm_check_rng_int(g, 0, 6000);
    int bad = w && cm_check_rng_chance(g, 0.03);
    if (bad)
      lat = cm_check_rng_chance(g, 0.5) ? NAN : 90.5;
    cm_status st = cm_store_position(s, id, lat, lon, seen, &err);
    if (bad) {
      expect_err(st, &err, CM_E_RANGE, "$.lat", what);
    } else if (!w) {
      expect_err(st, &err, CM_E_UNKNOWN_ID, "$.id", what);
    } else {
      cr_assert_eq(st, CM_OK, "%s: position: %s", what, cm_status_name(st));
      w->lat = lat;
      w->lon = lon;
      w->has_position = 1;
      w->seen_ms = seen;
    }
  } else if (dice < 82) { /* status */
    cm_worker_status to = (cm_worker_status)cm_check_rng_int(g, 0, 3);
    if (cm_check_rng_chance(g, 0.5))
      to = CM_WORKER_AVAILABLE;
    cm_status st = cm_store_status(s, id, to, &err);
    if (known < 0) {
      expect_err(st, &err, CM_E_UNKNOWN_ID, "$.id", what);
    } else {
      cr_assert_eq(st, CM_OK, "%s: status: %s", what, cm_status_name(st));
      r->w[known].status = to;
    }
  } else if (dice < 92) { /* remove */
    cm_status st = cm_store_remove(s, id, &err);
    if (known < 0) {
      expect_err(st, &err, CM_E_UNKNOWN_ID, "$.id", what);
    } else {
      cr_assert_eq(st, CM_OK, "%s: remove: %s", what, cm_status_name(st));
      ref_remove(r, known);
    }
  } else { /* get */
    if (known < 0)
      expect_err(cm_store_get(s, id, NULL, &err), &err, CM_E_UNKNOWN_ID, "$.id",
                 what);
    else
      expect_worker(s, &r->w[known], what);
  }
}

void cm_contract_random_ops(const cm_contract *c) {
  int ops = c->ops > 0 ? c->ops : 10000;
  uint64_t seed = seed_of(c, 23);
  cm_store *s = fresh(c);
  ref_store r = {0};
  cm_check_rng g;
  cm_check_rng_seed(&g, seed);
  static char ids[400][CM_ID_MAX];
  fill_ids(ids, 399, "x");
  memset(ids[399], 'L', CM_ID_MAX - 1); /* one id of the largest length */
  ids[399][CM_ID_MAX - 1] = '\0';
  int64_t now = T0;
  static const int64_t stales[] = {0, 0, 1500, 4000, 20000};
  for (int op = 0; op < ops; op++) {
    char what[96];
    snprintf(what, sizeof what, "random op %d (seed %llu)", op,
             (unsigned long long)seed);
    now += cm_check_rng_int(&g, 0, 1500);
    int dice = cm_check_rng_int(&g, 0, 99);
    if (dice < 84) {
      random_mutation(s, &r, &g, ids, 400, now, what);
    } else if (dice < 97) { /* a batch of queries */
      cm_store_query qs[4];
      excl_buf ex[4];
      cm_store_hit hits[4 * 20];
      int counts[4], nq = cm_check_rng_int(&g, 1, 4);
      int64_t stale = stales[cm_check_rng_int(&g, 0, 4)];
      cm_error err;
      for (int i = 0; i < nq; i++) {
        qs[i] = rand_query(&g, &r, &ex[i], now, stale);
        qs[i].k = qs[i].k > 20 ? 20 : qs[i].k;
      }
      cr_assert_eq(
          cm_store_nearest(s, qs, nq, 20, now, stale, hits, counts, &err),
          CM_OK, "%s: nearest: %s", what, err.message);
      for (int i = 0; i < nq; i++)
        check_answer(c, &r, &qs[i], now, stale, &hits[i * 20], counts[i], what);
    } else if (dice < 99) { /* sweep */
      int64_t stale = stales[cm_check_rng_int(&g, 0, 4)];
      cm_error err;
      int got = cm_contract_swept(s, now, stale, &err);
      cr_assert_eq(got, ref_sweep(&r, now, stale), "%s: sweep", what);
    } else {
      check_state(c, s, &r, what);
    }
    cr_assert_eq(cm_contract_count(s), r.n, "%s: count %d, the model has %d",
                 what, cm_contract_count(s), r.n);
  }
  check_state(c, s, &r, "random ops end");
  ref_free(&r);
  cm_store_free(s);
}

const cm_contract_case cm_contract_cases[] = {
    {"roundtrip", cm_contract_roundtrip},
    {"replace", cm_contract_replace},
    {"position", cm_contract_position},
    {"status", cm_contract_status},
    {"remove", cm_contract_remove},
    {"rules", cm_contract_rules},
    {"same_point", cm_contract_same_point},
    {"nearest_brute", cm_contract_nearest_brute},
    {"lattice", cm_contract_lattice},
    {"geometry", cm_contract_geometry},
    {"stale_sweep", cm_contract_stale_sweep},
    {"bad_input", cm_contract_bad_input},
    {"batch", cm_contract_batch},
    {"each", cm_contract_each},
    {"random_ops", cm_contract_random_ops},
};
const int cm_contract_case_count =
    (int)(sizeof cm_contract_cases / sizeof *cm_contract_cases);

void cm_contract_run_all(const cm_contract *c) {
  for (int i = 0; i < cm_contract_case_count; i++)
    cm_contract_cases[i].fn(c);
}
