/* histogram.c -- fixed-bucket latency histograms (milliseconds). */
#include <string.h>

#include "carematch/engine.h"

static const double bounds_ms[CM_HIST_BUCKETS] = {
    0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 30000, 1e300};

void cm_histogram_init(cm_histogram *h) {
  memset(h, 0, sizeof *h);
  memcpy(h->bounds, bounds_ms, sizeof bounds_ms);
}

void cm_histogram_add(cm_histogram *h, double v) {
  int b = 0;
  while (b < CM_HIST_BUCKETS - 1 && v > h->bounds[b])
    b++;
  h->counts[b]++;
  h->n++;
  h->sum += v;
  if (v > h->max)
    h->max = v;
}

double cm_histogram_quantile(const cm_histogram *h, double q) {
  if (h->n == 0)
    return 0;
  double want = q * (double)h->n, seen = 0;
  for (int b = 0; b < CM_HIST_BUCKETS; b++) {
    if (seen + (double)h->counts[b] >= want && h->counts[b] > 0) {
      double lo = b ? h->bounds[b - 1] : 0;
      double hi = b == CM_HIST_BUCKETS - 1 ? h->max : h->bounds[b];
      if (hi > h->max)
        hi = h->max;
      double f = (want - seen) / (double)h->counts[b];
      return lo + (hi - lo) * f;
    }
    seen += (double)h->counts[b];
  }
  return h->max;
}
