/* kpis.c -- the last hour's KPIs of a region (GET /v1/kpis, for the
 * operator's console): time to first offer, to acceptance and to arrival
 * (from submission; scheduled work from its window's start, 0 when the
 * worker came early) by urgency,
 * requests done and cancelled, unassigned now, batch latency, as totals
 * and as 5-minute series. Computed from the events the region emits and
 * the batches it runs, kept as samples in a small ring (time, kind,
 * urgency, value: no request, worker or elder id, no position). When the
 * ring has wrapped within the hour, "since_ms" says how far back it goes.
 * Times are the daemon's clock (simulated when it is). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define RING 16384          /* samples kept per region */
#define WINDOW_MS 3600000LL /* the last hour */
#define BUCKET_MS 300000LL  /* series: 5 minutes a point */
#define BUCKETS ((int)(WINDOW_MS / BUCKET_MS))

typedef enum kind {
  K_OFFER,
  K_ACCEPT,
  K_DONE,
  K_CANCEL,
  K_BATCH,
  K_ARRIVE
} kind;

typedef struct sample {
  int64_t at_ms;
  float value_ms;  /* K_OFFER, K_ACCEPT, K_ARRIVE, K_BATCH: the time */
  uint8_t kind;    /* enum kind */
  uint8_t urgency; /* cm_urgency (K_BATCH: 0) */
} sample;

struct cmd_kpis {
  sample ring[RING];
  int head, count; /* next slot; samples held */
};

void cmd_kpis_free(struct cmd_kpis *k) {
  free(k);
}

static void add(cmd_region *r, int64_t at_ms, kind k, int urgency, double v) {
  if (!r->kpis && !(r->kpis = calloc(1, sizeof *r->kpis)))
    return; /* out of memory: the KPIs miss a sample */
  struct cmd_kpis *q = r->kpis;
  q->ring[q->head] = (sample){at_ms, (float)v, (uint8_t)k, (uint8_t)urgency};
  q->head = (q->head + 1) % RING;
  if (q->count < RING)
    q->count++;
}

void cmd_kpis_event(cmd_region *r, const cm_event *ev) {
  cm_request_view v;
  if (ev->type != CM_EV_OFFERED && ev->type != CM_EV_ACCEPTED &&
      ev->type != CM_EV_COMPLETED && ev->type != CM_EV_CANCELLED &&
      ev->type != CM_EV_ARRIVED)
    return;
  /* the engine's memory only: never a ledger read on the loop */
  if (!cm_engine_holds(r->eng, ev->request) ||
      cm_engine_request_get(r->eng, ev->request, &v, NULL) != CM_OK)
    return;
  int u = (int)v.spec.urgency;
  int64_t base = v.ready_ms > 0 ? v.ready_ms : v.created_ms;
  switch (ev->type) {
  case CM_EV_OFFERED: /* the first offer: once per request (its first
                         member), none after a refusal or lapse */
    if (v.n_rejected == 0 && v.n_workers > 0 &&
        !strcmp(ev->worker, v.workers[0]) && v.offered_ms == ev->at_ms)
      add(r, ev->at_ms, K_OFFER, u, (double)(ev->at_ms - base));
    break;
  case CM_EV_ACCEPTED: /* every member accepted */
    if (ev->to == CM_REQ_ACCEPTED)
      add(r, ev->at_ms, K_ACCEPT, u, (double)(ev->at_ms - v.created_ms));
    break;
  case CM_EV_ARRIVED: { /* once per request: its first arrival */
    int64_t from =
        v.spec.window_start_ms > 0 ? v.spec.window_start_ms : v.created_ms;
    add(r, ev->at_ms, K_ARRIVE, u,
        ev->at_ms > from ? (double)(ev->at_ms - from) : 0);
    break;
  }
  case CM_EV_COMPLETED:
    add(r, ev->at_ms, K_DONE, u, 0);
    break;
  default:
    add(r, ev->at_ms, K_CANCEL, u, 0);
    break;
  }
}

void cmd_kpis_batch(cmd_region *r, double ms) {
  add(r, cmd_now_ms(), K_BATCH, 0, ms);
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* Quantile q of n sorted values (nearest rank), or JSON null when none. */
static json_t *quantile(const float *v, int n, double q) {
  if (n == 0)
    return json_null();
  int i = (int)ceil(q * n) - 1;
  return json_real(v[i < 0 ? 0 : i >= n ? n - 1 : i]);
}

/* The values of kind k (urgency u, or any when u < 0) at or after from_ms
 * and before until_ms, sorted, into out; their count. */
static int pick(const struct cmd_kpis *q, kind k, int u, int64_t from_ms,
                int64_t until_ms, float *out) {
  int n = 0;
  for (int i = 0; q && i < q->count; i++) {
    const sample *s = &q->ring[i];
    if (s->kind == k && (u < 0 || s->urgency == u) && s->at_ms >= from_ms &&
        s->at_ms < until_ms)
      out[n++] = s->value_ms;
  }
  qsort(out, (size_t)n, sizeof *out, cmp_float);
  return n;
}

/* {"p50": ..., "<hi name>": ...} of kind k, urgency u, in [from, until). */
static json_t *pair(const struct cmd_kpis *q, kind k, int u, int64_t from,
                    int64_t until, float *buf, double hi, const char *hi_name,
                    int *count) {
  int n = pick(q, k, u, from, until, buf);
  if (count)
    *count = n;
  return json_pack("{s:o,s:o}", "p50", quantile(buf, n, 0.5), hi_name,
                   quantile(buf, n, hi));
}

/* Requests pending now, by urgency (the live list, a page at a time). */
static void unassigned(const cmd_region *r, int out[CM_URGENCY_COUNT]) {
  enum { PAGE = 64 };
  cm_request_view *v = malloc(PAGE * sizeof *v);
  memset(out, 0, CM_URGENCY_COUNT * sizeof *out);
  for (int off = 0, n; v && (n = cm_engine_live_get(r->eng, off, PAGE, v)) > 0;
       off += n)
    for (int i = 0; i < n; i++)
      if (v[i].state == CM_REQ_PENDING &&
          (unsigned)v[i].spec.urgency < CM_URGENCY_COUNT)
        out[v[i].spec.urgency]++;
  free(v);
}

/* The end of the bucket from b0 (exclusive): the last one takes now. */
static int64_t bucket_end(int64_t b0, int64_t now) {
  return b0 + BUCKET_MS >= now ? now + 1 : b0 + BUCKET_MS;
}

void cmd_route_kpis(cmd_call *c) {
  const struct cmd_kpis *q = c->r->kpis;
  int64_t now = cmd_now_ms(), from = now - WINDOW_MS;
  float *buf = malloc(RING * sizeof *buf);
  json_t *by = json_object(), *out = NULL;
  int pend[CM_URGENCY_COUNT];
  unassigned(c->r, pend);
  for (int u = 0; buf && by && u < CM_URGENCY_COUNT; u++) {
    int offers, done, cancelled;
    json_t *offer =
        pair(q, K_OFFER, u, from, now + 1, buf, 0.9, "p90", &offers);
    json_t *acc = pair(q, K_ACCEPT, u, from, now + 1, buf, 0.9, "p90", NULL);
    int arrivals;
    json_t *arr =
        pair(q, K_ARRIVE, u, from, now + 1, buf, 0.9, "p90", &arrivals);
    done = pick(q, K_DONE, u, from, now + 1, buf);
    cancelled = pick(q, K_CANCEL, u, from, now + 1, buf);
    json_t *series = json_array(), *dones = json_array(),
           *arr_series = json_array();
    for (int b = 0; series && dones && arr_series && b < BUCKETS; b++) {
      int64_t b0 = from + b * BUCKET_MS, b1 = bucket_end(b0, now);
      int n = pick(q, K_OFFER, u, b0, b1, buf);
      json_array_append_new(series, quantile(buf, n, 0.5));
      n = pick(q, K_ARRIVE, u, b0, b1, buf);
      json_array_append_new(arr_series, quantile(buf, n, 0.5));
      json_array_append_new(dones,
                            json_integer(pick(q, K_DONE, u, b0, b1, buf)));
    }
    json_object_set_new(
        by, cm_urgency_name((cm_urgency)u),
        json_pack("{s:o?,s:i,s:o?,s:o?,s:i,s:i,s:i,s:i,"
                  "s:{s:o?,s:o?,s:o?}}",
                  "time_to_offer_ms", offer, "offers", offers,
                  "time_to_accept_ms", acc, "time_to_arrival_ms", arr,
                  "arrivals", arrivals, "done", done, "cancelled", cancelled,
                  "unassigned", pend[u], "series", "time_to_offer_p50_ms",
                  series, "time_to_arrival_p50_ms", arr_series, "done", dones));
  }
  if (buf && by) {
    int batches;
    json_t *lat =
        pair(q, K_BATCH, -1, from, now + 1, buf, 0.99, "p99", &batches);
    json_t *bser = json_array();
    for (int b = 0; bser && b < BUCKETS; b++) {
      int64_t b0 = from + b * BUCKET_MS;
      int n = pick(q, K_BATCH, -1, b0, bucket_end(b0, now), buf);
      json_array_append_new(bser, quantile(buf, n, 0.99));
    }
    int64_t since = from;
    if (q && q->count == RING) { /* wrapped: the oldest kept */
      int64_t oldest = q->ring[q->head].at_ms;
      since = oldest > from ? oldest : from;
    }
    out = json_pack("{s:I,s:I,s:I,s:I,s:o,s:{s:i,s:o?,s:o?}}", "now_ms",
                    (json_int_t)now, "from_ms", (json_int_t)from, "since_ms",
                    (json_int_t)since, "bucket_ms", (json_int_t)BUCKET_MS,
                    "by_urgency", by, "batches", "count", batches, "latency_ms",
                    lat, "latency_p99_ms_series", bser);
    by = NULL;
  }
  json_decref(by);
  free(buf);
  cmd_reply_json(c, 200, out);
}
