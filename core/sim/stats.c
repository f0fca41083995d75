/* stats.c -- the honest KPIs of runs and their comparison (sim_stats.h).
 *
 * Every percentile here counts every request submitted: one never reached
 * is INFINITY, so a p95 beyond the served is INFINITY (null in JSON), and
 * a policy that serves fewer is not flattered. A percentile is the
 * nearest rank: the smallest value with at least ceil(q * N) values at or
 * below it (the world's quantile, world.c). The bootstrap weighs each
 * request (worker) by how often a resample drew it, and evaluates the same
 * figures on those weights, so the point estimate is the resample with
 * every weight 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/sim_stats.h"

static const char *const urg_name[CM_URGENCY_COUNT] = {"emergency", "urgent",
                                                       "normal", "scheduled"};

void cm_sim_sla_init(cm_sim_sla *s) {
  s->target_min[CM_URGENCY_EMERGENCY] = 15;
  s->target_min[CM_URGENCY_URGENT] = 60;
  s->target_min[CM_URGENCY_NORMAL] = 120;
  s->target_min[CM_URGENCY_SCHEDULED] = 15;
}

void cm_sim_metric_name(int m, char *buf, size_t n) {
  if (m == CM_SIM_M_TRAVEL_PER_JOB)
    snprintf(buf, n, "travel_km_per_job");
  else if (m >= CM_SIM_M_ARRIVAL_P95)
    snprintf(buf, n, "%s.arrival_min_all.p95",
             urg_name[m - CM_SIM_M_ARRIVAL_P95]);
  else if (m >= CM_SIM_M_ARRIVAL_P50)
    snprintf(buf, n, "%s.arrival_min_all.p50",
             urg_name[m - CM_SIM_M_ARRIVAL_P50]);
  else
    snprintf(buf, n, "%s.sla_breaches", urg_name[m]);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The nearest-rank quantile q of the n sorted values v; NAN when n is 0. */
static double rank(const double *v, int n, double q) {
  if (n == 0)
    return NAN;
  int i = (int)ceil(q * n) - 1;
  return v[i < 0 ? 0 : i];
}

/* p50, p95 and p99 (top_q 0.99) or the max (top_q 1) of v[0..n-1],
 * sorted here. */
static cm_sim_pcts pcts_of(double *v, int n, double top_q) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  cm_sim_pcts p = {rank(v, n, 0.5), rank(v, n, 0.95), rank(v, n, top_q)};
  return p;
}

/* ---- one policy, its days pooled ---- */

/* The per-urgency and per-area figures of the outcomes of runs into out;
 * scratch holds every outcome. */
static void summarize_requests(const cm_sim_kpis *const *runs, int n,
                               const cm_sim_sla *sla, double *scratch,
                               cm_sim_summary *out) {
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    int m = 0;
    for (int d = 0; d < n; d++)
      for (int i = 0; i < runs[d]->n_outcomes; i++) {
        const cm_sim_outcome *o = &runs[d]->outcomes[i];
        if (o->urgency != u)
          continue;
        out->requests[u]++;
        out->arrived[u] += isfinite(o->arrive_min);
        out->breaches[u] += !(o->arrive_min <= sla->target_min[u]);
        out->accepted[u] += isfinite(o->accept_min);
        scratch[m++] = o->arrive_min;
      }
    out->arrival_all[u] = pcts_of(scratch, m, 0.99);
    m = 0;
    for (int d = 0; d < n; d++)
      for (int i = 0; i < runs[d]->n_outcomes; i++)
        if (runs[d]->outcomes[i].urgency == u)
          scratch[m++] = runs[d]->outcomes[i].accept_min;
    out->accept_all[u] = pcts_of(scratch, m, 0.99);
  }
  int total = 0;
  for (int g = 0; g < CM_SIM_AREAS; g++) {
    int m = 0;
    for (int d = 0; d < n; d++)
      for (int i = 0; i < runs[d]->n_outcomes; i++) {
        const cm_sim_outcome *o = &runs[d]->outcomes[i];
        if (o->area != g)
          continue;
        out->area_requests[g]++;
        out->area_breaches[g] +=
            !(o->arrive_min <= sla->target_min[o->urgency]);
        scratch[m++] = o->arrive_min;
      }
    out->area_arrival_p50[g] = pcts_of(scratch, m, 1).p50;
    total += m;
  }
  out->area_breach_min = NAN;
  out->area_breach_max = NAN;
  for (int g = 0; g < CM_SIM_AREAS; g++) {
    if (out->area_requests[g] == 0 || out->area_requests[g] * 100 < total)
      continue;
    double r = (double)out->area_breaches[g] / out->area_requests[g];
    out->area_breach_min =
        isnan(out->area_breach_min) || r < out->area_breach_min
            ? r
            : out->area_breach_min;
    out->area_breach_max =
        isnan(out->area_breach_max) || r > out->area_breach_max
            ? r
            : out->area_breach_max;
  }
}

/* The per-service figures of runs into out (the first run's services);
 * scratch holds every outcome. */
static void summarize_services(const cm_sim_kpis *const *runs, int n,
                               const cm_sim_sla *sla, double *scratch,
                               cm_sim_summary *out) {
  out->n_services = n > 0 ? runs[0]->n_services : 0;
  for (int v = 0; v < out->n_services; v++) {
    int m = 0;
    for (int d = 0; d < n; d++) {
      out->service_onsite_h[v] += runs[d]->service_onsite_h[v];
      out->service_capable_h[v] += runs[d]->service_capable_h[v];
      for (int i = 0; i < runs[d]->n_outcomes; i++) {
        const cm_sim_outcome *o = &runs[d]->outcomes[i];
        if (o->service != v)
          continue;
        out->service_requests[v]++;
        out->service_breaches[v] +=
            !(o->arrive_min <= sla->target_min[o->urgency]);
        scratch[m++] = o->arrive_min;
      }
    }
    out->service_arrival_p50[v] = pcts_of(scratch, m, 1).p50;
  }
}

/* The staff's figures of runs into out; scratch holds every worker. */
static void summarize_staff(const cm_sim_kpis *const *runs, int n,
                            double *scratch, cm_sim_summary *out) {
  for (int d = 0; d < n; d++) {
    out->jobs += runs[d]->done;
    out->km += runs[d]->travel_km;
    for (int i = 0; i < runs[d]->n_worker_days; i++) {
      const cm_sim_worker_day *w = &runs[d]->worker_days[i];
      out->staff += w->on_shift;
      out->overtime_h += w->overtime_min / 60;
      out->overtime_staff += w->overtime_min > 0;
    }
  }
  out->km_per_job = out->jobs ? out->km / out->jobs : NAN;
  for (int f = 0; f < 4; f++) {
    int m = 0;
    for (int d = 0; d < n; d++)
      for (int i = 0; i < runs[d]->n_worker_days; i++) {
        const cm_sim_worker_day *w = &runs[d]->worker_days[i];
        if (w->on_shift)
          scratch[m++] = f == 0   ? w->jobs
                         : f == 1 ? w->km
                         : f == 2 ? w->busy_h
                                  : w->overtime_min;
      }
    cm_sim_pcts p = pcts_of(scratch, m, 1);
    *(f == 0   ? &out->w_jobs
      : f == 1 ? &out->w_km
      : f == 2 ? &out->w_busy_h
               : &out->w_over) = p;
  }
}

cm_status cm_sim_summarize(const cm_sim_kpis *const *runs, int n,
                           const cm_sim_sla *sla, cm_sim_summary *out) {
  memset(out, 0, sizeof *out);
  out->days = n;
  size_t cap = 1;
  for (int d = 0; d < n; d++) {
    if (!runs[d]->outcomes || !runs[d]->worker_days)
      return CM_E_NOMEM;
    cap += (size_t)runs[d]->n_outcomes + (size_t)runs[d]->n_worker_days;
  }
  double *scratch = malloc(cap * sizeof *scratch);
  if (!scratch)
    return CM_E_NOMEM;
  summarize_requests(runs, n, sla, scratch, out);
  summarize_services(runs, n, sla, scratch, out);
  summarize_staff(runs, n, scratch, out);
  free(scratch);
  return CM_OK;
}

/* ---- policies compared: the bootstrap ---- */

/* The days of np policies flattened: item g (a request of some day) and
 * worker j (a worker of some day), the same for every policy. */
typedef struct flat {
  int nd, np, items, workers;
  int *item_off, *worker_off; /* by day, and the total last */
  int *urgency;               /* by item */
  double *arrive;             /* [p * items + g] */
  int *order;                 /* [p * items + k]: items by urgency, arrival */
  double *km, *jobs;          /* [p * workers + j] */
} flat;

/* An item's sort key (qsort has no context argument). */
typedef struct key {
  int urgency, item;
  double arrive;
} key;

static int by_urgency_arrival(const void *a, const void *b) {
  const key *x = a, *y = b;
  if (x->urgency != y->urgency)
    return x->urgency - y->urgency;
  return x->arrive < y->arrive   ? -1
         : x->arrive > y->arrive ? 1
                                 : x->item - y->item;
}

static void flat_free(flat *f) {
  free(f->item_off);
  free(f->worker_off);
  free(f->urgency);
  free(f->arrive);
  free(f->order);
  free(f->km);
  free(f->jobs);
}

/* runs into *f. Returns 0, or -1 (out of memory, or a day whose policies
 * saw different requests or staff). */
static int flat_make(flat *f, const cm_sim_kpis *const *runs, int nd, int np) {
  memset(f, 0, sizeof *f);
  f->nd = nd;
  f->np = np;
  f->item_off = calloc((size_t)nd + 1, sizeof *f->item_off);
  f->worker_off = calloc((size_t)nd + 1, sizeof *f->worker_off);
  if (!f->item_off || !f->worker_off)
    return -1;
  for (int d = 0; d < nd; d++) {
    const cm_sim_kpis *k0 = runs[d * np];
    for (int p = 0; p < np; p++) {
      const cm_sim_kpis *k = runs[d * np + p];
      if (!k->outcomes || !k->worker_days || k->n_outcomes != k0->n_outcomes ||
          k->n_worker_days != k0->n_worker_days)
        return -1;
    }
    f->item_off[d + 1] = f->item_off[d] + k0->n_outcomes;
    f->worker_off[d + 1] = f->worker_off[d] + k0->n_worker_days;
  }
  f->items = f->item_off[nd];
  f->workers = f->worker_off[nd];
  size_t ni = (size_t)f->items + 1, nw = (size_t)f->workers + 1;
  f->urgency = malloc(ni * sizeof *f->urgency);
  f->arrive = malloc((size_t)np * ni * sizeof *f->arrive);
  f->order = malloc((size_t)np * ni * sizeof *f->order);
  f->km = malloc((size_t)np * nw * sizeof *f->km);
  f->jobs = malloc((size_t)np * nw * sizeof *f->jobs);
  if (!f->urgency || !f->arrive || !f->order || !f->km || !f->jobs)
    return -1;
  for (int d = 0; d < nd; d++)
    for (int p = 0; p < np; p++) {
      const cm_sim_kpis *k = runs[d * np + p];
      for (int i = 0; i < k->n_outcomes; i++) {
        int g = f->item_off[d] + i;
        if (p == 0)
          f->urgency[g] = k->outcomes[i].urgency;
        else if (f->urgency[g] != k->outcomes[i].urgency)
          return -1;
        f->arrive[p * f->items + g] = k->outcomes[i].arrive_min;
      }
      for (int i = 0; i < k->n_worker_days; i++) {
        int j = f->worker_off[d] + i;
        f->km[p * f->workers + j] = k->worker_days[i].km;
        f->jobs[p * f->workers + j] = k->worker_days[i].jobs;
      }
    }
  key *keys = malloc(ni * sizeof *keys);
  if (!keys)
    return -1;
  for (int p = 0; p < np; p++) {
    for (int g = 0; g < f->items; g++)
      keys[g] = (key){f->urgency[g], g, f->arrive[p * f->items + g]};
    qsort(keys, (size_t)f->items, sizeof *keys, by_urgency_arrival);
    for (int g = 0; g < f->items; g++)
      f->order[p * f->items + g] = keys[g].item;
  }
  free(keys);
  return 0;
}

/* Policy p's figures (CM_SIM_M_*) under the weights wi (by item) and ww (by
 * worker) into m. */
static void figures(const flat *f, int p, const int *wi, const int *ww,
                    const cm_sim_sla *sla, double *m) {
  long total[CM_URGENCY_COUNT] = {0}, breach[CM_URGENCY_COUNT] = {0};
  const double *arr = &f->arrive[p * f->items];
  for (int g = 0; g < f->items; g++) {
    int u = f->urgency[g];
    total[u] += wi[g];
    breach[u] += !(arr[g] <= sla->target_min[u]) ? wi[g] : 0;
  }
  const int *o = &f->order[p * f->items];
  int k = 0;
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    m[CM_SIM_M_BREACHES + u] = (double)breach[u];
    m[CM_SIM_M_ARRIVAL_P50 + u] = NAN;
    m[CM_SIM_M_ARRIVAL_P95 + u] = NAN;
    long t50 = (long)ceil(0.5 * (double)total[u]);
    long t95 = (long)ceil(0.95 * (double)total[u]), cum = 0;
    for (; k < f->items && f->urgency[o[k]] == u; k++) {
      if (wi[o[k]] == 0 || total[u] == 0)
        continue;
      cum += wi[o[k]];
      if (cum >= t50 && isnan(m[CM_SIM_M_ARRIVAL_P50 + u]))
        m[CM_SIM_M_ARRIVAL_P50 + u] = arr[o[k]];
      if (cum >= t95 && isnan(m[CM_SIM_M_ARRIVAL_P95 + u]))
        m[CM_SIM_M_ARRIVAL_P95 + u] = arr[o[k]];
    }
  }
  double km = 0, jobs = 0;
  for (int j = 0; j < f->workers; j++) {
    km += ww[j] * f->km[p * f->workers + j];
    jobs += ww[j] * f->jobs[p * f->workers + j];
  }
  m[CM_SIM_M_TRAVEL_PER_JOB] = jobs > 0 ? km / jobs : NAN;
}

/* a over b: NAN when undefined (0 / 0, never / never), INFINITY over 0. */
static double ratio(double a, double b) {
  if (isnan(a) || isnan(b) || (isinf(a) && isinf(b)))
    return NAN;
  if (isinf(a))
    return INFINITY;
  if (isinf(b))
    return 0;
  if (b == 0)
    return a == 0 ? NAN : INFINITY;
  return a / b;
}

static uint64_t boot_next(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* A uniform index in [0, n). */
static int boot_index(uint64_t *x, int n) {
  return (int)((double)(boot_next(x) >> 11) * 0x1.0p-53 * n);
}

/* Weights of one resample: each day's n items (workers) drawn with
 * replacement from that day's. */
static void resample(const int *off, int nd, int *w, uint64_t *x) {
  memset(w, 0, (size_t)(off[nd] + 1) * sizeof *w);
  for (int d = 0; d < nd; d++) {
    int n = off[d + 1] - off[d];
    for (int i = 0; i < n; i++)
      w[off[d] + boot_index(x, n)]++;
  }
}

/* The 95% interval of the r[0..n-1] resampled ratios (NAN dropped) into
 * *lo, *hi. */
static void interval(double *r, int n, double *lo, double *hi) {
  int c = 0;
  for (int i = 0; i < n; i++)
    if (!isnan(r[i]))
      r[c++] = r[i];
  if (c == 0 || 2 * c < n) {
    *lo = *hi = NAN;
    return;
  }
  qsort(r, (size_t)c, sizeof *r, cmp_double);
  *lo = rank(r, c, 0.025);
  *hi = rank(r, c, 0.975);
}

int cm_sim_compare(const cm_sim_kpis *const *runs, int nd, int np,
                   int resamples, uint64_t seed, const cm_sim_sla *sla,
                   cm_sim_ratio *out) {
  int pairs = np * (np - 1) / 2, rc = -1;
  flat f;
  int *wi = NULL, *ww = NULL;
  double *fig = NULL, *boot = NULL;
  if (nd < 1 || np < 2 || resamples < 1)
    return 0;
  if (flat_make(&f, runs, nd, np) != 0)
    goto done;
  wi = malloc(((size_t)f.items + 1) * sizeof *wi);
  ww = malloc(((size_t)f.workers + 1) * sizeof *ww);
  fig = malloc((size_t)np * CM_SIM_METRICS * sizeof *fig);
  /* boot[(pair * CM_SIM_METRICS + metric) * resamples + r] */
  boot =
      malloc((size_t)pairs * CM_SIM_METRICS * (size_t)resamples * sizeof *boot);
  if (!wi || !ww || !fig || !boot)
    goto done;
  for (int r = -1; r < resamples; r++) { /* -1: the point estimate */
    uint64_t x = seed + (uint64_t)(r + 1) * 0x632be59bd9b4e019ULL;
    if (r < 0) {
      for (int g = 0; g < f.items; g++)
        wi[g] = 1;
      for (int j = 0; j < f.workers; j++)
        ww[j] = 1;
    } else {
      resample(f.item_off, nd, wi, &x);
      resample(f.worker_off, nd, ww, &x);
    }
    for (int p = 0; p < np; p++)
      figures(&f, p, wi, ww, sla, &fig[p * CM_SIM_METRICS]);
    int pair = 0;
    for (int a = 0; a < np; a++)
      for (int b = a + 1; b < np; b++, pair++)
        for (int m = 0; m < CM_SIM_METRICS; m++) {
          double v =
              ratio(fig[a * CM_SIM_METRICS + m], fig[b * CM_SIM_METRICS + m]);
          cm_sim_ratio *o = &out[pair * CM_SIM_METRICS + m];
          if (r < 0) {
            o->a = a;
            o->b = b;
            o->metric = m;
            o->ratio = v;
          } else {
            boot[((size_t)pair * CM_SIM_METRICS + (size_t)m) *
                     (size_t)resamples +
                 (size_t)r] = v;
          }
        }
  }
  for (int i = 0; i < pairs * CM_SIM_METRICS; i++)
    interval(&boot[(size_t)i * (size_t)resamples], resamples, &out[i].lo,
             &out[i].hi);
  rc = pairs * CM_SIM_METRICS;
done:
  flat_free(&f);
  free(wi);
  free(ww);
  free(fig);
  free(boot);
  return rc;
}
