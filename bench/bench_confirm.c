/* bench_confirm.c -- confirm-to-offer latency of carematchd over HTTP
 * (issue 15: confirmation before dispatch; target p99 <= 5 ms in memory
 * mode), with the plain submit-to-offer of an emergency measured side by
 * side in the same run as the anchor.
 *
 * A daemon of its own (memory store, or --redis URL) gets --workers nurses
 * on a 10 x 10 km grid. Then, --runs times, --pairs pairs one after the
 * other on one connection, at random points of the city:
 *   anchor:  POST /v1/requests (an emergency) -> its "offered" event on
 *            GET /v1/events; then it is cancelled;
 *   confirm: POST /v1/requests with "confirm": "operator" (201, awaiting),
 *            then POST /v1/requests/{id}/confirm -> its reply (which
 *            already names the offered worker: "reply") and its "offered"
 *            event ("event"); then it is cancelled.
 * Prints each run's percentiles and the pooled ones; --out writes JSON. */
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"
#include "carematch/version.h"
#include "http_client.h"

#define TOK_P "bench-platform-token-000"
#define TOK_G "bench-gateway-token-0000"
#define TOK_O "bench-operator-token-000"
#define LAT0 31.23
#define LON0 121.47

enum { ANCHOR, REPLY, EVENT, N_SERIES };
static const char *const series_names[N_SERIES] = {
    "anchor_submit_to_offer", "confirm_to_reply", "confirm_to_offer_event"};

typedef struct bench {
  struct event_base *base;
  cm_hc *hc;
  const char *daemon, *redis, *out;
  int workers, runs, pairs, quiet;
  uint64_t rng;
  /* the pair in progress */
  int run, pair, phase; /* phase: 0 anchor, 1 confirm */
  char id[32];
  double sent_ms;
  int got_reply, got_event, bad;
  double *lat[N_SERIES]; /* runs * pairs each */
  int n[N_SERIES];
  int stream_ok;
} bench;

static double unit(bench *b) {
  b->rng = b->rng * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(b->rng >> 11) / 9007199254740992.0;
}

static void next_step(bench *b);

static void add(bench *b, int s, double ms) {
  b->lat[s][b->n[s]++] = ms;
}

static int on_cancelled(void *arg, struct evhttp_request *req) {
  bench *b = arg;
  int code = cm_hc_code(req);
  next_step(b);
  return code != 200;
}

static void cancel_it(bench *b) {
  char path[96];
  snprintf(path, sizeof path, "/v1/requests/%s/cancel", b->id);
  cm_hc_call(b->hc, cm_hc_conn(b->hc, 0), EVHTTP_REQ_POST, path, TOK_P, NULL, 0,
             on_cancelled, b);
}

/* The pair's phase is over when its offer is seen (and, for a confirm,
 * its reply too). */
static void maybe_done(bench *b) {
  if (b->phase == 0 ? b->got_event : b->got_reply && b->got_event)
    cancel_it(b);
}

static void on_event(void *arg, const char *type, const char *data) {
  bench *b = arg;
  if (!strcmp(type, "hello") || strstr(data, "carematchd events"))
    b->stream_ok = 1;
  char want[64];
  snprintf(want, sizeof want, "\"request\":\"%s\"", b->id);
  if (strcmp(type, "offered") || !b->id[0] || !strstr(data, want) ||
      b->got_event)
    return;
  b->got_event = 1;
  add(b, b->phase == 0 ? ANCHOR : EVENT, cm_bench_now_ms() - b->sent_ms);
  maybe_done(b);
}

static int on_confirmed(void *arg, struct evhttp_request *req) {
  bench *b = arg;
  double t = cm_bench_now_ms();
  char *body = cm_hc_body(req);
  int ok = cm_hc_code(req) == 200 && body &&
           strstr(body, "\"state\":\"offered\"") != NULL;
  free(body);
  if (!ok)
    b->bad++;
  b->got_reply = 1;
  add(b, REPLY, t - b->sent_ms);
  maybe_done(b);
  return !ok;
}

static int on_awaiting(void *arg, struct evhttp_request *req) {
  bench *b = arg;
  if (cm_hc_code(req) != 201) {
    b->bad++;
    event_base_loopbreak(b->base);
    return 1;
  }
  char path[96];
  snprintf(path, sizeof path, "/v1/requests/%s/confirm", b->id);
  b->sent_ms = cm_bench_now_ms();
  cm_hc_call(b->hc, cm_hc_conn(b->hc, 0), EVHTTP_REQ_POST, path, TOK_O, "{}", 2,
             on_confirmed, b);
  return 0;
}

static int on_submitted(void *arg, struct evhttp_request *req) {
  bench *b = arg;
  if (cm_hc_code(req) != 201) {
    b->bad++;
    event_base_loopbreak(b->base);
    return 1;
  }
  return 0;
}

static void submit(bench *b, int confirm) {
  char body[256];
  snprintf(b->id, sizeof b->id, "%c%d-%d", confirm ? 'c' : 'a', b->run,
           b->pair);
  int n = snprintf(body, sizeof body,
                   "{\"id\":\"%s\",\"lat\":%.6f,\"lon\":%.6f,\"skills\":"
                   "[\"nurse\"],\"urgency\":\"emergency\"%s}",
                   b->id, LAT0 + (unit(b) - 0.5) * 0.08,
                   LON0 + (unit(b) - 0.5) * 0.09,
                   confirm ? ",\"confirm\":\"operator\"" : "");
  b->got_reply = b->got_event = 0;
  b->sent_ms = cm_bench_now_ms();
  cm_hc_call(b->hc, cm_hc_conn(b->hc, 0), EVHTTP_REQ_POST, "/v1/requests",
             TOK_P, body, (size_t)n, confirm ? on_awaiting : on_submitted, b);
}

/* The next phase: anchor, confirm, then the next pair (or run). */
static void next_step(bench *b) {
  if (b->phase == 0) {
    b->phase = 1;
    submit(b, 1);
    return;
  }
  b->phase = 0;
  if (++b->pair == b->pairs) {
    b->pair = 0;
    if (++b->run == b->runs) {
      event_base_loopbreak(b->base);
      return;
    }
  }
  submit(b, 0);
}

static int on_worker(void *arg, struct evhttp_request *req) {
  (void)arg;
  return cm_hc_code(req) != 200;
}

static void add_workers(bench *b) {
  int side = (int)ceil(sqrt((double)b->workers));
  for (int i = 0; i < b->workers; i++) {
    char path[64], body[192];
    snprintf(path, sizeof path, "/v1/workers/n%d", i);
    int n = snprintf(body, sizeof body,
                     "{\"skills\":[\"nurse\"],\"lat\":%.6f,\"lon\":%.6f,"
                     "\"capacity\":64}",
                     LAT0 - 0.045 + 0.09 * (i % side) / side,
                     LON0 - 0.05 + 0.1 * (i / side) / side);
    cm_hc_call(b->hc, cm_hc_conn(b->hc, -1), EVHTTP_REQ_PUT, path, TOK_G, body,
               (size_t)n, on_worker, b);
  }
  while (cm_hc_inflight(b->hc) > 0)
    event_base_loop(b->base, EVLOOP_ONCE);
}

static json_t *summary(const double *v, int n) {
  return json_pack(
      "{s:i,s:f,s:f,s:f,s:f,s:f}", "n", n, "p50_ms",
      cm_bench_quantile(v, n, 0.5), "p90_ms", cm_bench_quantile(v, n, 0.9),
      "p99_ms", cm_bench_quantile(v, n, 0.99), "max_ms",
      cm_bench_quantile(v, n, 1.0), "min_ms", cm_bench_quantile(v, n, 0.0));
}

static void print_line(const char *what, const double *v, int n) {
  printf("  %-24s n=%4d p50 %7.3f  p90 %7.3f  p99 %7.3f  max %7.3f ms\n", what,
         n, cm_bench_quantile(v, n, 0.5), cm_bench_quantile(v, n, 0.9),
         cm_bench_quantile(v, n, 0.99), cm_bench_quantile(v, n, 1.0));
}

static int usage(void) {
  fprintf(stderr,
          "usage: bench_confirm --daemon PATH [--redis URL] [--workers N]"
          " [--runs N] [--pairs N] [--seed N] [--out FILE]\n");
  return 2;
}

/* The command line into b, with its defaults. Returns 0, or 2 with the usage
 * printed. */
static int parse_args(int argc, char **argv, bench *b) {
  memset(b, 0, sizeof *b);
  b->workers = 1000;
  b->runs = 5;
  b->pairs = 200;
  b->rng = 15;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--daemon") && v)
      b->daemon = argv[++i];
    else if (!strcmp(a, "--redis") && v)
      b->redis = argv[++i];
    else if (!strcmp(a, "--out") && v)
      b->out = argv[++i];
    else if (!strcmp(a, "--workers") && v)
      b->workers = atoi(argv[++i]);
    else if (!strcmp(a, "--runs") && v)
      b->runs = atoi(argv[++i]);
    else if (!strcmp(a, "--pairs") && v)
      b->pairs = atoi(argv[++i]);
    else if (!strcmp(a, "--seed") && v)
      b->rng = strtoull(argv[++i], NULL, 10);
    else
      return usage();
  }
  if (!b->daemon || b->workers < 1 || b->runs < 1 || b->pairs < 1)
    return usage();
  return 0;
}

/* The daemon of its own, in a fresh folder dir. Returns its pid and sets
 * b->base and b->hc, or -1 with a message. */
static pid_t daemon_start(bench *b, char *dir, size_t dir_len) {
  snprintf(dir, dir_len, "/tmp/cm_bench_confirm_%ld", (long)getpid());
  mkdir(dir, 0700);
  char ini[1024];
  snprintf(ini, sizeof ini,
           "[server]\nport = 0\n[store]\nweights_file = %s/weights.json\n"
           "%s%s\n[batch]\nstale_ms = 86400000\n"
           "[tokens]\nplatform = %s\ngateway = %s\noperator = %s\n",
           dir, b->redis ? "redis = " : "", b->redis ? b->redis : "", TOK_P,
           TOK_G, TOK_O);
  int port = 0;
  pid_t pid = cm_hc_daemon_start(b->daemon, dir, ini, NULL, &port);
  if (pid < 0) {
    fprintf(stderr, "bench_confirm: the daemon did not start\n");
    return -1;
  }
  b->base = event_base_new();
  b->hc = cm_hc_new(b->base, "127.0.0.1", port, 4);
  return pid;
}

/* Add the workers, open the event stream, then run every pair of every run.
 * Returns 1 if a call failed or a confirm had no reply, else 0. */
static int measure(bench *b) {
  for (int s = 0; s < N_SERIES; s++)
    b->lat[s] = calloc((size_t)b->runs * b->pairs, sizeof(double));
  add_workers(b);
  cm_hc_events(b->hc, TOK_O, on_event, b, NULL);
  for (int i = 0; i < 50 && !b->stream_ok; i++) { /* the stream open */
    event_base_loop(b->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    usleep(2000);
  }
  submit(b, 0);
  event_base_dispatch(b->base);
  return b->bad || b->n[REPLY] != b->runs * b->pairs;
}

/* Print each run's percentiles and the pooled ones, and write the JSON to
 * b->out if asked. Returns rc (measure's), or 1 if the JSON is not written. */
static int report(const bench *b, int rc) {
  printf("bench_confirm: carematch %s, %s store, %d workers, %d runs x %d "
         "pairs%s\n",
         CM_VERSION, b->redis ? "redis" : "memory", b->workers, b->runs,
         b->pairs, rc ? " (INCOMPLETE)" : "");
  json_t *runs = json_array();
  for (int r = 0; r < b->runs; r++) {
    json_t *o = json_object();
    printf("run %d\n", r + 1);
    for (int s = 0; s < N_SERIES; s++) {
      int from = r * b->pairs, n = b->n[s] - from;
      n = n < 0 ? 0 : n > b->pairs ? b->pairs : n;
      print_line(series_names[s], b->lat[s] + from, n);
      json_object_set_new(o, series_names[s], summary(b->lat[s] + from, n));
    }
    json_array_append_new(runs, o);
  }
  json_t *pooled = json_object();
  printf("pooled\n");
  for (int s = 0; s < N_SERIES; s++) {
    print_line(series_names[s], b->lat[s], b->n[s]);
    json_object_set_new(pooled, series_names[s], summary(b->lat[s], b->n[s]));
  }
  if (b->out) {
    json_t *doc = json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:f,s:o,s:o,s:i}",
                            "bench", "confirm", "version", CM_VERSION, "store",
                            b->redis ? "redis" : "memory", "workers",
                            b->workers, "runs", b->runs, "pairs", b->pairs,
                            "target_p99_ms", 5.0, "runs_detail", runs, "pooled",
                            pooled, "failed_calls", b->bad);
    if (!doc || json_dump_file(doc, b->out, JSON_INDENT(2)) != 0)
      rc = 1;
    json_decref(doc);
  } else {
    json_decref(runs);
    json_decref(pooled);
  }
  return rc;
}

/* Close the client, stop the daemon, free the series and remove dir. */
static void daemon_stop(bench *b, pid_t pid, const char *dir) {
  cm_hc_free(b->hc);
  event_base_free(b->base);
  cm_hc_daemon_stop(pid);
  for (int s = 0; s < N_SERIES; s++)
    free(b->lat[s]);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "bench_confirm: could not remove %s\n", dir);
}

int main(int argc, char **argv) {
  bench b;
  char dir[64];
  if (parse_args(argc, argv, &b) != 0)
    return 2;
  pid_t pid = daemon_start(&b, dir, sizeof dir);
  if (pid < 0)
    return 1;
  int rc = report(&b, measure(&b));
  daemon_stop(&b, pid, dir);
  return rc;
}
