/* metrics.c -- GET /metrics in the Prometheus text format (version 0.0.4),
 * named by Prometheus's conventions: base units (seconds, bytes), counters
 * ending in _total. The batch phases (candidates, solve, commit, whole) and
 * the submit-to-offer latency by urgency as histograms in seconds, the
 * requests per batch as a histogram with count buckets, requests by state
 * (the queue), offers, fallbacks, the ledger's refusals and rebuilds,
 * events, positions, the loop-stall trace (loop_watch.c), HTTP calls by
 * method, route and code, the build, and
 * the process's CPU, memory, descriptors and start time (process_stats.c).
 * The table is in docs/daemon.md. */
#include <event2/buffer.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/version.h"
#include "http.h"
#include "process_stats.h"

/* Requests per batch: upper bounds of the buckets but the last (+Inf). The
 * engine's own histograms have millisecond bounds; these are counts. */
static const double batch_bounds[CMD_BATCH_BUCKETS - 1] = {
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};

/* The page being written. A write that fails (out of memory) is
 * remembered: the route then answers 500 with the error body rather than
 * a page with lines missing. */
typedef struct page {
  struct evbuffer *b;
  int failed; /* some write failed */
} page;

static void put(page *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void put(page *p, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (evbuffer_add_vprintf(p->b, fmt, ap) < 0)
    p->failed = 1;
  va_end(ap);
}

void cmd_metrics_batch(cmd_region *r, uint64_t n) {
  int b = 0;
  while (b < CMD_BATCH_BUCKETS - 1 && (double)n > batch_bounds[b])
    b++;
  r->batch_sizes[b]++;
  r->batch_requests += n;
}

static void head(page *b, const char *name, const char *type,
                 const char *help) {
  put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram's series: buckets (counts not cumulative; the last is
 * +Inf, bounds has one fewer), scaled by scale (1e-3: milliseconds to
 * seconds). labels: "" or 'k="v"' pairs without braces. */
static void histogram(page *b, const char *name, const char *labels,
                      const double *bounds, const uint64_t *counts, int buckets,
                      double scale, double sum, uint64_t n) {
  uint64_t cum = 0;
  const char *sep = labels[0] ? "," : "";
  for (int i = 0; i < buckets; i++) {
    cum += counts[i];
    if (i == buckets - 1)
      put(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
          (unsigned long long)cum);
    else
      put(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
          bounds[i] * scale, (unsigned long long)cum);
  }
  const char *open = labels[0] ? "{" : "", *close = labels[0] ? "}" : "";
  put(b, "%s_sum%s%s%s %.9g\n%s_count%s%s%s %llu\n", name, open, labels, close,
      sum * scale, name, open, labels, close, (unsigned long long)n);
}

/* An engine histogram (milliseconds) in seconds. */
static void seconds(page *b, const char *name, const char *help,
                    const char *labels, const cm_histogram *h, int header) {
  if (header)
    head(b, name, "histogram", help);
  histogram(b, name, labels, h->bounds, h->counts, CM_HIST_BUCKETS, 1e-3,
            h->sum, h->n);
}

static void counter(page *b, const char *name, const char *help,
                    unsigned long long v) {
  head(b, name, "counter", help);
  put(b, "%s %llu\n", name, v);
}

static void gauge(page *b, const char *name, const char *help, double v) {
  head(b, name, "gauge", help);
  if (isinf(v))
    put(b, "%s %sInf\n", name, v > 0 ? "+" : "-");
  else
    put(b, "%s %.15g\n", name, v);
}

static void http_counts(page *b, const cmd_daemon *d) {
  head(b, "carematch_http_requests_total", "counter",
       "HTTP requests answered, by method, route (the path template; "
       "unmatched: no route) and status code");
  for (int r = 0; r <= cmd_route_count() + CMD_METHODS - 1; r++) {
    int routed = r < cmd_route_count();
    int m =
        routed ? cmd_method_index(cmd_route_method(r)) : r - cmd_route_count();
    const uint64_t *counts = routed ? d->http_count[r] : d->http_unmatched[m];
    for (int k = 0; k < CMD_CODES; k++) {
      char code[8] = "other";
      if (!counts[k])
        continue;
      if (k < CMD_CODES - 1)
        snprintf(code, sizeof code, "%d", cmd_codes[k]);
      put(b,
          "carematch_http_requests_total{method=\"%s\","
          "route=\"%s\",code=\"%s\"} %llu\n",
          cmd_method_name(m), cmd_route_template(routed ? r : -1), code,
          (unsigned long long)counts[k]);
    }
  }
}

static void process(page *b) {
  cmd_process_stats p;
  if (cmd_process_stats_read(&p) != 0)
    return; /* no /proc: left out */
  head(b, "process_cpu_seconds_total", "counter",
       "user and system CPU time spent, seconds");
  put(b, "process_cpu_seconds_total %.6f\n", p.cpu_seconds);
  gauge(b, "process_resident_memory_bytes", "resident memory size, bytes",
        p.resident_bytes);
  gauge(b, "process_virtual_memory_bytes", "virtual memory size, bytes",
        p.virtual_bytes);
  gauge(b, "process_start_time_seconds",
        "start time of the process since the Unix epoch, seconds",
        p.start_time);
  if (p.open_fds >= 0)
    gauge(b, "process_open_fds", "open file descriptors", p.open_fds);
  if (p.max_fds >= 0)
    gauge(b, "process_max_fds", "limit on open file descriptors", p.max_fds);
}

/* The build, then the batches: each phase's duration, the requests per
 * batch, the submit-to-offer latency by urgency. */
static void batch_metrics(page *b, const cmd_region *r,
                          const cm_engine_stats *st) {
  seconds(b, "carematch_batch_duration_seconds",
          "whole batch: candidates, solve, commit; seconds", "", &st->batch_ms,
          1);
  seconds(b, "carematch_batch_candidates_duration_seconds",
          "batch phase: store queries and the instance; seconds", "",
          &st->candidates_ms, 1);
  seconds(b, "carematch_batch_solve_duration_seconds",
          "batch phase: cm_solve; seconds", "", &st->solve_ms, 1);
  seconds(b, "carematch_batch_commit_duration_seconds",
          "batch phase: offers committed (to the ledger) and applied; seconds",
          "", &st->commit_ms, 1);
  head(b, "carematch_batch_requests", "histogram", "requests per batch");
  uint64_t batches = 0;
  for (int i = 0; i < CMD_BATCH_BUCKETS; i++)
    batches += r->batch_sizes[i];
  histogram(b, "carematch_batch_requests", "", batch_bounds, r->batch_sizes,
            CMD_BATCH_BUCKETS, 1, (double)r->batch_requests, batches);
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    char labels[48];
    snprintf(labels, sizeof labels, "urgency=\"%s\"",
             cm_urgency_name((cm_urgency)u));
    seconds(b, "carematch_offer_latency_seconds",
            "submission (or release) to first offer, on the daemon's clock; "
            "seconds",
            labels, &st->offer_latency[u], u == 0);
  }
}

/* The gauges: requests by state, the queue, workers, event streams, the
 * pause, the weights' version. */
static void state_metrics(page *b, const cmd_region *r,
                          const cm_engine_stats *st) {
  head(b, "carematch_requests", "gauge", "requests known, by state");
  for (int s = 0; s < CM_REQ_STATE_COUNT; s++)
    put(b, "carematch_requests{state=\"%s\"} %d\n",
        cm_request_state_name((cm_request_state)s), st->by_state[s]);
  gauge(b, "carematch_queue_depth", "requests pending", st->by_state[0]);
  int workers;
  if (cm_store_count(r->store, &workers, NULL) != CM_OK)
    workers = -1; /* the store cannot be asked */
  gauge(b, "carematch_workers", "workers in the store", workers);
  gauge(b, "carematch_positions_pending",
        "positions answered once queued, not yet taken by Redis",
        (double)r->positions_pending);
  gauge(b, "carematch_paused", "1 while dispatch waits for the ledger",
        r->paused);
  gauge(b, "carematch_weights_version", "version of the weights in force",
        (double)r->weights_version);
}

/* How far the engine follows its ledger: a rebuild pending, and the last
 * entry of Redis's change stream it has read (an info metric: the id is a
 * label; no sample while not following, nor in memory mode). Caught up when
 * every stream entry after it is the engine's own and no rebuild is pending
 * (docs/hardening.md). */
static void follow_metrics(page *b, const cmd_region *r,
                           const cm_engine_stats *st) {
  gauge(b, "carematch_ledger_resync_pending",
        "1 while the engine may not match its ledger (next step rebuilds)",
        st->resync_pending);
  head(b, "carematch_ledger_follow_position", "gauge",
       "the last change stream entry the engine has read (label id) and "
       "the tag of its own entries (label origin)");
  if (!r->ledger) /* the memory store: no ledger to follow, no sample */
    return;
  cm_ledger_redis_follow f;
  cm_ledger_redis_follow_get(r->ledger, &f);
  if (f.following)
    put(b, "carematch_ledger_follow_position{id=\"%s\",origin=\"%s\"} 1\n",
        f.last_id, f.origin);
}

/* Redis Cluster routing (docs/cluster.md): the region's connections'
 * counts, summed (zeros on a plain server). */
static void cluster_metrics(page *b, const cmd_region *r) {
  cm_redis_cluster_stats a, l, z;
  cm_redis_cluster_stats_get(r->redis, &a);
  cm_redis_cluster_stats_get(r->redis_loop, &l);
  cm_redis_cluster_stats_get(r->redis_lease, &z); /* the lease's */
  l.resolves += z.resolves;
  l.moves += z.moves;
  l.moved += z.moved;
  l.asked += z.asked;
  l.retried += z.retried;
  l.node_failures += z.node_failures;
  counter(b, "carematch_redis_cluster_resolves_total",
          "Redis Cluster: the slot's master asked of the nodes (a connect)",
          a.resolves + l.resolves);
  counter(b, "carematch_redis_cluster_moves_total",
          "Redis Cluster: connects straight to the master a MOVED named",
          a.moves + l.moves);
  counter(b, "carematch_redis_cluster_moved_total",
          "Redis Cluster: MOVED replies followed", a.moved + l.moved);
  counter(b, "carematch_redis_cluster_asked_total",
          "Redis Cluster: ASK replies followed", a.asked + l.asked);
  counter(b, "carematch_redis_cluster_retried_total",
          "Redis Cluster: TRYAGAIN and CLUSTERDOWN replies retried",
          a.retried + l.retried);
  counter(b, "carematch_redis_cluster_node_failures_total",
          "Redis Cluster: connects to a node that failed (a topology query "
          "or a redirected command)",
          a.node_failures + l.node_failures);
}

/* The counters: batches, offers, fallbacks, diversions, interruptions, the
 * ledger's, events, positions, reloads, trace lines lost. */
static void counter_metrics(page *b, const cmd_region *r,
                            const cm_engine_stats *st) {
  counter(b, "carematch_batches_total", "batches solved", st->batches);
  counter(b, "carematch_offers_total", "offers made (per worker)", st->offers);
  counter(b, "carematch_fallbacks_total", "components that fell back",
          st->fallbacks);
  counter(b, "carematch_batch_begin_pauses_total",
          "batches' begins paused after a part so that other calls went "
          "first",
          st->begin_pauses);
  counter(b, "carematch_diverted_total",
          "jobs given back by a worker diverted to an emergency "
          "([batch] divert_min)",
          st->diverted);
  counter(b, "carematch_interrupted_total",
          "visits given back by a worker called away to an emergency "
          "([batch] interrupt_min)",
          st->interrupted);
  counter(b, "carematch_ledger_refused_total",
          "offers the ledger refused (a worker taken elsewhere)", st->refused);
  counter(b, "carematch_ledger_adopted_total",
          "records replaced by the ledger's", st->adopted);
  counter(b, "carematch_ledger_rebuilds_total", "rebuilds from the ledger",
          st->rebuilds);
  cm_ledger_redis_stats rs; /* zeros without a Redis ledger */
  cm_ledger_redis_stats_get(r->ledger, &rs);
  counter(b, "carematch_ledger_replica_waits_total",
          "commits that waited for replicas (durability = replica)", rs.waits);
  counter(b, "carematch_ledger_not_durable_total",
          "commits answered not_durable (no replica confirmed in time, or "
          "none online)",
          rs.not_durable);
  counter(b, "carematch_ledger_wait_timeouts_total",
          "WAITs answered short after the whole durability timeout",
          rs.wait_timeouts);
  counter(b, "carematch_ledger_skipped_waits_total",
          "commits answered not_durable at once: the primary had too few "
          "replicas online (ROLE)",
          rs.skipped_waits);
  cluster_metrics(b, r);
  counter(b, "carematch_events_total", "engine events", r->events_sent);
  counter(b, "carematch_events_dropped_total",
          "events lost to a full engine queue", st->events_dropped);
  counter(b, "carematch_positions_total", "position updates answered 200",
          r->positions);
  counter(b, "carematch_positions_lost_total",
          "positions answered once queued whose write then failed",
          r->positions_lost);
}

/* The daemon's own: the build, event streams, reloads, trace lines lost
 * (no region label). */
static void daemon_metrics(page *b, const cmd_daemon *d) {
  head(b, "carematch_build_info", "gauge",
       "the carematch version running (the value is always 1)");
  put(b, "carematch_build_info{version=\"%s\"} 1\n", CM_VERSION);
  gauge(b, "carematch_event_streams", "open event streams", d->n_sse);
  counter(b, "carematch_event_streams_dropped_total",
          "event streams closed for reading too slowly", d->sse_dropped);
  counter(b, "carematch_reloads_total", "configuration reloads", d->reloads);
  counter(b, "carematch_reload_failures_total", "reloads refused",
          d->reload_failures);
  counter(b, "carematch_trace_lines_lost_total",
          "trace lines that could not be written (--trace)",
          cmd_trace_lost(d->trace));
  uint64_t wi[3];
  cmd_whatif_counts(d->whatif, wi);
  gauge(b, "carematch_whatif_running",
        "what-if replays running (POST /v1/weights/whatif; 0 or 1)",
        (double)wi[0]);
  counter(b, "carematch_whatif_total", "what-if replays finished", wi[1]);
  counter(b, "carematch_whatif_refused_total",
          "what-ifs refused because one was running", wi[2]);
}

/* The loop-stall trace (loop_watch.c): stalls, busy time and the longest
 * piece by cause, and the loop turns' busy time. */
static void loop_metrics(page *b, const cmd_daemon *d) {
  const cmd_watch *w = &d->watch;
  head(b, "carematch_loop_stalls_total", "counter",
       "pieces of work that held the event loop longer than 5 ms, by cause");
  for (int c = 0; c < CMD_CAUSE_COUNT; c++)
    put(b, "carematch_loop_stalls_total{cause=\"%s\"} %llu\n",
        cmd_cause_name((cmd_cause)c), (unsigned long long)w->stalls[c]);
  head(b, "carematch_loop_busy_seconds_total", "counter",
       "time the event loop spent on each cause");
  for (int c = 0; c < CMD_CAUSE_COUNT; c++)
    put(b, "carematch_loop_busy_seconds_total{cause=\"%s\"} %.9g\n",
        cmd_cause_name((cmd_cause)c), (double)w->busy_ns[c] * 1e-9);
  head(b, "carematch_loop_busy_max_seconds", "gauge",
       "the longest piece of work of each cause so far");
  for (int c = 0; c < CMD_CAUSE_COUNT; c++)
    put(b, "carematch_loop_busy_max_seconds{cause=\"%s\"} %.9g\n",
        cmd_cause_name((cmd_cause)c), (double)w->max_ns[c] * 1e-9);
  head(b, "carematch_loop_turn_seconds", "histogram",
       "busy time of a loop turn (from the end of its wait to its last "
       "watched piece of work)");
  histogram(b, "carematch_loop_turn_seconds", "", cmd_turn_bounds(), w->turns,
            CMD_TURN_BUCKETS, 1, w->turn_sum, w->turn_n);
}

/* One region's families (with its lease's) into a page of their own.
 * Returns 0, or -1 out of memory. */
static int region_page(page *b, const cmd_region *r) {
  cm_engine_stats st;
  cm_engine_stats_get(r->eng, &st);
  batch_metrics(b, r, &st);
  state_metrics(b, r, &st);
  follow_metrics(b, r, &st);
  counter_metrics(b, r, &st);
  char lease[4096]; /* lease.c */
  cmd_lease_metrics(r, lease, sizeof lease);
  put(b, "%s", lease);
  return b->failed ? -1 : 0;
}

/* Sample line s (n bytes, no newline) with label (e.g. region="a") put
 * first among its labels. */
static void put_labelled(page *b, const char *s, size_t n, const char *label) {
  size_t name = strcspn(s, "{ ");
  if (name >= n || !label[0]) {
    put(b, "%.*s\n", (int)n, s);
  } else if (s[name] == '{') {
    put(b, "%.*s{%s,%.*s\n", (int)name, s, label, (int)(n - name - 1),
        s + name + 1);
  } else {
    put(b, "%.*s{%s}%.*s\n", (int)name, s, label, (int)(n - name), s + name);
  }
}

/* The end of the family starting at p (the next "# HELP", or end). */
static const char *family_end(const char *p, const char *end) {
  const char *q = p;
  while (q < end) {
    const char *nl = memchr(q, '\n', (size_t)(end - q));
    const char *next = nl ? nl + 1 : end;
    if (q != p && strncmp(q, "# HELP ", 7) == 0)
      return q;
    q = next;
  }
  return end;
}

/* Every region's families, grouped: each family's HELP and TYPE once,
 * then its samples for every region in turn, labelled region="name" when
 * the daemon was given a list of regions (the Prometheus text format
 * wants a family's samples together). texts[i] is region i's page. */
static void merge_regions(page *b, const cmd_daemon *d, char **texts) {
  const char *t0 = texts[0], *e0 = t0 + strlen(t0);
  const char **at = calloc(CMD_REGIONS_MAX, sizeof *at);
  if (!at) {
    b->failed = 1;
    return;
  }
  for (int i = 0; i < d->n_regions; i++)
    at[i] = texts[i];
  while (at[0] < e0) {
    for (int i = 0; i < d->n_regions; i++) {
      const char *p = at[i], *end = p + strlen(p);
      const char *fe = family_end(p, end);
      while (p < fe) {
        const char *nl = memchr(p, '\n', (size_t)(fe - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(fe - p);
        if (p[0] == '#') {
          if (i == 0)
            put(b, "%.*s\n", (int)n, p);
        } else {
          put_labelled(b, p, n, d->regions[i].label);
        }
        p += n + (nl != NULL);
      }
      at[i] = fe;
    }
  }
  free(at);
}

/* Exactly one reply: the page, or 500 out_of_memory (JSON error body)
 * when the page or any line of it could not be allocated. */
void cmd_route_metrics(cmd_call *c) {
  cmd_daemon *d = c->d;
  page pg = {evbuffer_new(), 0}, *b = &pg;
  char *text = NULL, **texts = calloc(CMD_REGIONS_MAX, sizeof *texts);
  size_t len = 0;
  if (!pg.b || !texts)
    goto oom;
  daemon_metrics(b, d);
  for (int i = 0; i < d->n_regions; i++) {
    page rp = {evbuffer_new(), 0};
    size_t rn = rp.b ? 0 : 1;
    if (rp.b && region_page(&rp, &d->regions[i]) == 0 &&
        (texts[i] = malloc((rn = evbuffer_get_length(rp.b)) + 1))) {
      evbuffer_remove(rp.b, texts[i], rn);
      texts[i][rn] = '\0';
    }
    if (rp.b)
      evbuffer_free(rp.b);
    if (!texts[i])
      goto oom;
  }
  merge_regions(b, d, texts);
  loop_metrics(b, d);
  http_counts(b, d);
  process(b);
  len = evbuffer_get_length(pg.b);
  if (pg.failed || !(text = malloc(len + 1)))
    goto oom;
  evbuffer_remove(pg.b, text, len);
  cmd_reply_text(c, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
  goto done;
oom:;
  cm_error err;
  cm_error_set(&err, CM_E_NOMEM, "", NULL);
  cmd_reply_error(c, &err);
done:
  if (pg.b)
    evbuffer_free(pg.b);
  for (int i = 0; texts && i < d->n_regions; i++)
    free(texts[i]);
  free(texts);
  free(text);
}
