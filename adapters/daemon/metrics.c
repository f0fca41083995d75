/* metrics.c -- GET /metrics in the Prometheus text format: the batch
 * phases (candidates, solve, commit, whole) and sizes as histograms, the
 * submit-to-offer latency by urgency, requests by state (the queue),
 * offers, fallbacks, the ledger's refusals and rebuilds, events, positions
 * and HTTP requests by route and code. */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>

#include "http.h"

static void histogram(struct evbuffer *b, const char *name, const char *help,
                      const char *labels, const cm_histogram *h, int header) {
  if (header)
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help,
                        name);
  uint64_t cum = 0;
  const char *sep = labels[0] ? "," : "";
  for (int i = 0; i < CM_HIST_BUCKETS; i++) {
    cum += h->counts[i];
    if (i == CM_HIST_BUCKETS - 1)
      evbuffer_add_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels,
                          sep, (unsigned long long)cum);
    else
      evbuffer_add_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels,
                          sep, h->bounds[i], (unsigned long long)cum);
  }
  evbuffer_add_printf(b, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, labels,
                      h->sum, name, labels, (unsigned long long)h->n);
}

static void counter(struct evbuffer *b, const char *name, const char *help,
                    unsigned long long v) {
  evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name,
                      help, name, name, v);
}

static void gauge(struct evbuffer *b, const char *name, const char *help,
                  double v) {
  evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", name, help,
                      name, name, v);
}

void cmd_route_metrics(cmd_call *c) {
  cmd_daemon *d = c->d;
  cm_engine_stats st;
  cm_engine_stats_get(d->eng, &st);
  struct evbuffer *b = evbuffer_new();
  if (!b) {
    cm_error err;
    cm_error_set(&err, CM_E_NOMEM, "", NULL);
    cmd_reply_error(c, &err);
    return;
  }
  histogram(b, "carematch_batch_ms", "whole batch: candidates, solve, commit",
            "", &st.batch_ms, 1);
  histogram(b, "carematch_batch_candidates_ms",
            "batch phase: store queries and the instance", "",
            &st.candidates_ms, 1);
  histogram(b, "carematch_batch_solve_ms", "batch phase: cm_solve", "",
            &st.solve_ms, 1);
  histogram(b, "carematch_batch_commit_ms",
            "batch phase: offers committed (to the ledger) and applied", "",
            &st.commit_ms, 1);
  histogram(b, "carematch_batch_requests", "requests per batch", "",
            &st.batch_size, 1);
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    char labels[48];
    snprintf(labels, sizeof labels, "urgency=\"%s\"",
             cm_urgency_name((cm_urgency)u));
    histogram(b, "carematch_offer_latency_ms",
              "submission (or release) to first offer", labels,
              &st.offer_latency[u], u == 0);
  }
  evbuffer_add_printf(b, "# HELP carematch_requests requests known, by state\n"
                         "# TYPE carematch_requests gauge\n");
  for (int s = 0; s < CM_REQ_STATE_COUNT; s++)
    evbuffer_add_printf(b, "carematch_requests{state=\"%s\"} %d\n",
                        cm_request_state_name((cm_request_state)s),
                        st.by_state[s]);
  gauge(b, "carematch_queue_depth", "requests pending", st.by_state[0]);
  gauge(b, "carematch_workers", "workers in the store",
        cm_store_count(d->store));
  gauge(b, "carematch_event_streams", "open event streams", d->n_sse);
  gauge(b, "carematch_paused", "1 while dispatch waits for the ledger",
        d->paused);
  gauge(b, "carematch_weights_version", "version of the weights in force",
        (double)d->weights_version);
  counter(b, "carematch_batches_total", "batches solved", st.batches);
  counter(b, "carematch_offers_total", "offers made (per worker)", st.offers);
  counter(b, "carematch_fallbacks_total", "components that fell back",
          st.fallbacks);
  counter(b, "carematch_ledger_refused_total",
          "offers the ledger refused (a worker taken elsewhere)", st.refused);
  counter(b, "carematch_ledger_adopted_total",
          "records replaced by the ledger's", st.adopted);
  counter(b, "carematch_ledger_rebuilds_total", "rebuilds from the ledger",
          st.rebuilds);
  counter(b, "carematch_events_total", "engine events", d->events_sent);
  counter(b, "carematch_events_dropped_total",
          "events lost to a full engine queue", st.events_dropped);
  counter(b, "carematch_event_streams_dropped_total",
          "event streams closed for reading too slowly", d->sse_dropped);
  counter(b, "carematch_positions_total", "position updates taken",
          d->positions);
  counter(b, "carematch_reloads_total", "configuration reloads", d->reloads);
  counter(b, "carematch_reload_failures_total", "reloads refused",
          d->reload_failures);
  counter(b, "carematch_trace_lines_lost_total",
          "trace lines that could not be written (--trace)",
          cmd_trace_lost(d->trace));
  evbuffer_add_printf(b, "# HELP carematch_http_requests_total HTTP requests "
                         "by route and code\n"
                         "# TYPE carematch_http_requests_total counter\n");
  for (int r = 0; r <= cmd_route_count(); r++)
    for (int k = 0; k < CMD_CODES; k++) {
      char code[8] = "other";
      if (!d->http_count[r][k])
        continue;
      if (k < CMD_CODES - 1)
        snprintf(code, sizeof code, "%d", cmd_codes[k]);
      evbuffer_add_printf(
          b, "carematch_http_requests_total{route=\"%s\",code=\"%s\"} %llu\n",
          cmd_route_name(r), code, (unsigned long long)d->http_count[r][k]);
    }
  size_t len = evbuffer_get_length(b);
  char *text = malloc(len + 1);
  if (text) {
    evbuffer_remove(b, text, len);
    cmd_reply_text(c, 200, "text/plain; version=0.0.4", text, len);
  }
  evbuffer_free(b);
  free(text);
}
