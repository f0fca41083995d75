/* bench_http.c -- carematchd end to end over HTTP: the feeder of the quick
 * start and the daemon's benchmark (libevent's HTTP client, one thread).
 *
 * A seeded city (bench/city) registers its staff, then for --seconds:
 * positions stream in (--positions per second, in bulk calls every 10 ms),
 * requests arrive (--requests per second, --emergency share of them
 * emergencies), every offer is accepted by the gateway as it arrives on
 * the event stream (GET /v1/events) and completed --service-s seconds
 * later. Submit-to-offer latency is the time from sending POST
 * /v1/requests to the offer's event arriving, per urgency. --ingest
 * instead measures position ingest: bulk calls (--bulk positions each)
 * and single calls back to back on --connections connections, then single
 * request creates the same way (scheduled a day ahead, so no batch takes
 * them: one ledger commit each), then accepts: --accepts requests due now
 * created and their offers awaited on the event stream (not timed), then
 * each offer accepted, one call each, back to back the same way.
 *
 * The daemon: --daemon PATH starts one on a free port with a generated
 * configuration (memory store, or --redis URL) and stops it at the end;
 * or --url http://host:port with --platform-token, --gateway-token.
 * --window MS and --batch-max N set the started daemon's [batch]
 * window_ms (300) and max (2000): a longer window makes larger batches.
 * --emergency-conn sends the emergencies on a connection of their own (an
 * emergency gateway), not behind the other requests on the four request
 * connections (an evhttp connection carries one call at a time).
 * Prints a line a second and a summary; --out writes JSON. */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_server.h"
#include "bench_util.h"
#include "carematch/version.h"
#include "city.h"
#include "http_client.h"

#define LAT_MAX 1000000 /* latencies kept per urgency */

typedef struct opts {
  const char *daemon, *url, *redis, *out, *tok_platform, *tok_gateway;
  const char *samples;    /* --samples FILE: one line per emergency offered */
  const char *durability; /* --durability fsync|replica (with --redis) */
  const char *positions_ack; /* --positions-ack queued|durable (--redis) */
  int workers, positions_per_s, requests_per_s, seconds, connections, bulk;
  int window_ms;      /* the daemon's [batch] window_ms (300) */
  int emergency_conn; /* emergencies on a connection of their own */
  int batch_max;      /* its [batch] max (2000) */
  int accepts; /* --ingest: requests created and offered for the accepts */
  double emergency, service_s;
  int ingest, quiet;
  uint64_t seed;
} opts;

typedef struct pending {
  double sent_ms;  /* when POST /v1/requests went out */
  double offer_ms; /* when its offer's event came */
  int urgency;
  int offered;
  int queued; /* calls ahead of it on its connection when sent */
} pending;

#define REQ_CONNS 4 /* connections the requests and answers share */

typedef struct bench {
  opts o;
  struct event_base *base;
  char host[64];
  int port;
  cm_hc *hc; /* positions, setup */
  /* requests, answers; the last for emergencies alone (--emergency-conn) */
  struct evhttp_connection *req_conns[REQ_CONNS + 1];
  int req_busy[REQ_CONNS + 1]; /* calls sent on each and not answered */
  int next_conn, next_req;
  cm_instance *city;
  double *lat, *lon; /* workers' current positions */
  /* requests in flight: index = request number */
  pending *reqs;
  int n_reqs, cap_reqs;
  /* results */
  double *lat_ms[CM_URGENCY_COUNT];
  int n_lat[CM_URGENCY_COUNT];
  uint64_t positions_sent, positions_ok;
  uint64_t offers, accepted, completed, submitted;
  int setup_left; /* worker registrations outstanding */
  double t_start, t_end, last_print;
  uint64_t pos_at_print, offers_at_print;
  uint64_t rng;
  struct event *tick;
  int stopping;
  /* the daemon's durability counters (loop_trace's durable[]) during the
   * load or the ingest, when fetched (a daemon started here) */
  int durable_known;
  double durable[4];
} bench;

static double now_ms(void) {
  return cm_bench_now_ms();
}

static uint64_t rnd(bench *b) {
  b->rng ^= b->rng << 13;
  b->rng ^= b->rng >> 7;
  b->rng ^= b->rng << 17;
  return b->rng;
}

static double unit(bench *b) {
  return (double)(rnd(b) >> 11) / 9007199254740992.0;
}

/* ---- HTTP ---- */

typedef void (*done_fn)(bench *b, struct evhttp_request *req, void *arg);

typedef struct call_ctx {
  bench *b;
  done_fn fn;
  void *arg;
} call_ctx;

static int on_reply(void *arg, struct evhttp_request *req) {
  call_ctx *c = arg;
  int code = cm_hc_code(req);
  if (c->fn)
    c->fn(c->b, req, c->arg);
  free(c);
  return code < 200 || code >= 300;
}

static void send_call(bench *b, struct evhttp_connection *con,
                      enum evhttp_cmd_type method, const char *path,
                      const char *token, const char *body, size_t len,
                      done_fn fn, void *arg) {
  call_ctx *c = malloc(sizeof *c);
  if (!c)
    return;
  *c = (call_ctx){b, fn, arg};
  if (cm_hc_call(b->hc, con, method, path, token, body, len, on_reply, c))
    free(c);
}

static void req_answered(bench *b, struct evhttp_request *req, void *arg) {
  (void)req;
  b->req_busy[(int)(intptr_t)arg]--;
}

/* A call on request connection k (counted until answered: an evhttp
 * connection sends one call at a time, the others wait behind it). */
static void send_req_call(bench *b, int k, const char *path, const char *token,
                          const char *body, size_t len) {
  b->req_busy[k]++;
  send_call(b, b->req_conns[k], EVHTTP_REQ_POST, path, token, body, len,
            req_answered, (void *)(intptr_t)k);
}

static struct evhttp_connection *next_conn(bench *b) {
  return cm_hc_conn(b->hc, b->next_conn++ % b->o.connections);
}

/* ---- the city ---- */

static void register_done(bench *b, struct evhttp_request *req, void *arg) {
  (void)req;
  (void)arg;
  b->setup_left--;
  if (b->setup_left == 0)
    event_base_loopbreak(b->base);
}

static const char *skill_name(int s) {
  static const char *const n[] = {"caregiver", "nurse",   "escort",
                                  "rehab",     "cleaner", "maternity"};
  return s >= 0 && s < 6 ? n[s] : "caregiver";
}

static char *skills_json(cm_skillset set, char *buf, size_t n) {
  size_t len = 0;
  buf[0] = '\0';
  for (int s = 0; s < 6; s++)
    if (set >> s & 1u)
      len += (size_t)snprintf(buf + len, n - len, "%s\"%s\"", len ? "," : "",
                              skill_name(s));
  return buf;
}

static int register_workers(bench *b) {
  const cm_instance *c = b->city;
  b->setup_left = c->n_workers;
  for (int i = 0; i < c->n_workers; i++) {
    const cm_worker *w = &c->workers[i];
    char path[96], body[256], sk[128];
    snprintf(path, sizeof path, "/v1/workers/%s", w->id);
    int len = snprintf(body, sizeof body,
                       "{\"skills\":[%s],\"lat\":%.6f,\"lon\":%.6f,"
                       "\"capacity\":%d,\"rating\":%.2f,\"level\":%.1f}",
                       skills_json(w->skills, sk, sizeof sk), w->lat, w->lon,
                       w->capacity, w->rating, w->level);
    send_call(b, next_conn(b), EVHTTP_REQ_PUT, path, b->o.tok_platform, body,
              (size_t)len, register_done, NULL);
    if (cm_hc_inflight(b->hc) > 2000)
      event_base_loop(b->base, EVLOOP_ONCE);
  }
  if (b->setup_left > 0)
    event_base_dispatch(b->base);
  return cm_hc_errors(b->hc) ? -1 : 0;
}

/* ---- load ---- */

static void send_positions(bench *b, int n) {
  size_t cap = (size_t)n * 80 + 32, len = 0;
  char *body = malloc(cap);
  if (!body)
    return;
  len += (size_t)snprintf(body, cap, "{\"positions\":[");
  for (int k = 0; k < n; k++) {
    int i = (int)(rnd(b) % (uint64_t)b->city->n_workers);
    b->lat[i] += (unit(b) - 0.5) * 0.001; /* ~ +-55 m */
    b->lon[i] += (unit(b) - 0.5) * 0.001;
    len += (size_t)snprintf(
        body + len, cap - len, "%s{\"id\":\"%s\",\"lat\":%.6f,\"lon\":%.6f}",
        k ? "," : "", b->city->workers[i].id, b->lat[i], b->lon[i]);
  }
  len += (size_t)snprintf(body + len, cap - len, "]}");
  b->positions_sent += (uint64_t)n;
  send_call(b, next_conn(b), EVHTTP_REQ_POST, "/v1/positions", b->o.tok_gateway,
            body, len, NULL, NULL);
  free(body);
}

static void send_request(bench *b) {
  if (b->n_reqs == b->cap_reqs) {
    int cap = b->cap_reqs ? 2 * b->cap_reqs : 4096;
    pending *p = realloc(b->reqs, (size_t)cap * sizeof *p);
    if (!p)
      return;
    b->reqs = p;
    b->cap_reqs = cap;
  }
  const cm_request *r = &b->city->requests[b->n_reqs % b->city->n_requests];
  int urgency =
      unit(b) < b->o.emergency ? CM_URGENCY_EMERGENCY
      : r->urgency == CM_URGENCY_EMERGENCY || r->urgency == CM_URGENCY_SCHEDULED
          ? CM_URGENCY_NORMAL
          : (int)r->urgency;
  static const char *const names[] = {"emergency", "urgent", "normal",
                                      "scheduled"};
  char body[320], sk[128];
  int len = snprintf(
      body, sizeof body,
      "{\"id\":\"q%d\",\"lat\":%.6f,\"lon\":%.6f,\"skills\":[%s],"
      "\"skill_mode\":\"%s\",\"staff\":%d,\"urgency\":\"%s\"}",
      b->n_reqs, r->lat, r->lon, skills_json(r->skills, sk, sizeof sk),
      r->skill_mode == CM_SKILLS_ANY ? "any" : "all", r->staff, names[urgency]);
  pending *p = &b->reqs[b->n_reqs++];
  p->sent_ms = now_ms();
  p->urgency = urgency;
  p->offered = 0;
  int alone = b->o.emergency_conn && urgency == CM_URGENCY_EMERGENCY;
  int k = alone ? REQ_CONNS : b->next_req;
  p->queued = b->req_busy[k];
  b->submitted++;
  if (!alone)
    b->next_req = (b->next_req + 1) % REQ_CONNS;
  send_req_call(b, k, "/v1/requests", b->o.tok_platform, body, (size_t)len);
}

typedef struct later {
  bench *b;
  char id[32];
  struct event *ev;
} later;

static void complete_now(evutil_socket_t fd, short what, void *arg) {
  later *l = arg;
  (void)fd;
  (void)what;
  char path[96];
  snprintf(path, sizeof path, "/v1/requests/%s/complete", l->id);
  if (!l->b->stopping) {
    send_req_call(l->b, 0, path, l->b->o.tok_platform, NULL, 0);
    l->b->completed++;
  }
  event_free(l->ev);
  free(l);
}

/* --ingest's accepts: the offers seen on the event stream, accepted in
 * that order one call each. */
typedef struct offer_pair {
  char req[32], worker[48];
} offer_pair;

static offer_pair *g_offers;
static int g_n_offers, g_cap_offers, g_next_offer;

static void offer_keep(const char *req, const char *worker) {
  if (g_n_offers == g_cap_offers) {
    int cap = g_cap_offers ? 2 * g_cap_offers : 1024;
    offer_pair *p = realloc(g_offers, (size_t)cap * sizeof *p);
    if (!p)
      return;
    g_offers = p;
    g_cap_offers = cap;
  }
  offer_pair *o = &g_offers[g_n_offers++];
  snprintf(o->req, sizeof o->req, "%s", req);
  snprintf(o->worker, sizeof o->worker, "%s", worker);
}

static void on_event(bench *b, const char *type, const char *data) {
  if (strcmp(type, "offered"))
    return;
  json_t *o = json_loads(data, 0, NULL);
  const char *req = NULL, *worker = NULL;
  if (!o || json_unpack(o, "{s:s,s:s}", "request", &req, "worker", &worker)) {
    json_decref(o);
    return;
  }
  b->offers++;
  if (b->o.ingest) { /* kept for the accepts' phase */
    offer_keep(req, worker);
    json_decref(o);
    return;
  }
  int n = req[0] == 'q' ? atoi(req + 1) : -1;
  if (n >= 0 && n < b->n_reqs && !b->reqs[n].offered) {
    pending *p = &b->reqs[n];
    p->offered = 1;
    p->offer_ms = now_ms();
    int u = p->urgency;
    if (b->n_lat[u] < LAT_MAX)
      b->lat_ms[u][b->n_lat[u]++] = now_ms() - p->sent_ms;
  }
  /* the worker accepts at once; the job is done service_s later */
  char path[96], body[96];
  snprintf(path, sizeof path, "/v1/requests/%s/accept", req);
  int len = snprintf(body, sizeof body, "{\"worker\":\"%s\"}", worker);
  send_req_call(b, (b->next_req + 1) % REQ_CONNS, path, b->o.tok_gateway, body,
                (size_t)len);
  b->accepted++;
  later *l = calloc(1, sizeof *l);
  if (l) {
    l->b = b;
    snprintf(l->id, sizeof l->id, "%s", req);
    l->ev = evtimer_new(b->base, complete_now, l);
    double s = b->o.service_s * (0.5 + unit(b));
    struct timeval tv = {(time_t)s, (suseconds_t)((s - floor(s)) * 1e6)};
    evtimer_add(l->ev, &tv);
  }
  json_decref(o);
}

static void on_sse_event(void *arg, const char *type, const char *data) {
  on_event(arg, type, data);
}

static void open_events(bench *b) {
  cm_hc_events(b->hc, b->o.tok_platform, on_sse_event, b, NULL);
}

static double q(double *v, int n, double p) {
  return n ? cm_bench_quantile(v, n, p) : NAN;
}

static void print_line(bench *b, double t) {
  double dt = (t - b->last_print) / 1000.0;
  if (b->o.quiet || dt <= 0)
    return;
  int ne = b->n_lat[0];
  printf("%5.0fs  positions %7.0f/s  requests %5llu  offers %6llu  "
         "emergency offer p50 %6.2f ms p99 %6.2f ms  errors %llu\n",
         (t - b->t_start) / 1000.0,
         (double)(b->positions_sent - b->pos_at_print) / dt,
         (unsigned long long)b->submitted, (unsigned long long)b->offers,
         q(b->lat_ms[0], ne, 0.5), q(b->lat_ms[0], ne, 0.99),
         (unsigned long long)cm_hc_errors(b->hc));
  fflush(stdout);
  b->last_print = t;
  b->pos_at_print = b->positions_sent;
}

/* Every 10 ms: the positions and requests due since the start. */
static void on_tick(evutil_socket_t fd, short what, void *arg) {
  bench *b = arg;
  (void)fd;
  (void)what;
  double t = now_ms();
  if (t >= b->t_end) {
    b->stopping = 1;
    event_base_loopexit(b->base, NULL);
    return;
  }
  double elapsed = (t - b->t_start) / 1000.0;
  uint64_t want_pos = (uint64_t)(elapsed * b->o.positions_per_s);
  if (want_pos > b->positions_sent && cm_hc_inflight(b->hc) < 200)
    send_positions(b, (int)(want_pos - b->positions_sent));
  int want_req = (int)(elapsed * b->o.requests_per_s);
  while (b->n_reqs < want_req)
    send_request(b);
  if (t - b->last_print >= 1000)
    print_line(b, t);
}

/* ---- ingest ---- */

typedef struct ingest {
  int bulk;   /* positions a call (1: the single-call route; 0: creates) */
  int accept; /* accepts of the offers kept (g_offers) instead */
  double until;
} ingest;

static void ingest_next(bench *b, struct evhttp_request *req, void *arg);

static double g_creates_per_s; /* --ingest: the creates' phase */
static double g_accepts_per_s; /* --ingest: the accepts' phase */
static int g_offers_kept;      /* offers the accepts' phase had */
static int g_created;          /* ids given so far */

/* The next kept offer accepted on con; 0, or -1 when none is left. */
static int accept_send(bench *b, struct evhttp_connection *con) {
  if (g_next_offer >= g_n_offers)
    return -1;
  const offer_pair *o = &g_offers[g_next_offer++];
  char path[96], body[96];
  snprintf(path, sizeof path, "/v1/requests/%s/accept", o->req);
  int len = snprintf(body, sizeof body, "{\"worker\":\"%s\"}", o->worker);
  send_call(b, con, EVHTTP_REQ_POST, path, b->o.tok_gateway, body, (size_t)len,
            ingest_next, con);
  return 0;
}

static void ingest_send(bench *b, struct evhttp_connection *con, ingest *g) {
  if (g->accept) {
    (void)accept_send(b, con);
    return;
  }
  if (g->bulk == 0) { /* a request created, scheduled a day ahead */
    char body[256];
    long long start = (long long)(time(NULL) + 86400) * 1000;
    int i = (int)(rnd(b) % (uint64_t)b->city->n_workers);
    int len =
        snprintf(body, sizeof body,
                 "{\"id\":\"c%d\",\"lat\":%.6f,\"lon\":%.6f,"
                 "\"skills\":[\"nurse\"],\"urgency\":\"scheduled\","
                 "\"window\":{\"start_ms\":%lld,\"end_ms\":%lld}}",
                 g_created++, b->lat[i], b->lon[i], start, start + 3600000);
    send_call(b, con, EVHTTP_REQ_POST, "/v1/requests", b->o.tok_platform, body,
              (size_t)len, ingest_next, con);
    return;
  }
  if (g->bulk > 1) {
    size_t cap = (size_t)g->bulk * 80 + 32, len = 0;
    char *body = malloc(cap);
    len += (size_t)snprintf(body, cap, "{\"positions\":[");
    for (int k = 0; k < g->bulk; k++) {
      int i = (int)(rnd(b) % (uint64_t)b->city->n_workers);
      len += (size_t)snprintf(body + len, cap - len,
                              "%s{\"id\":\"%s\",\"lat\":%.6f,\"lon\":%.6f}",
                              k ? "," : "", b->city->workers[i].id,
                              b->lat[i] + (unit(b) - 0.5) * 1e-3, b->lon[i]);
    }
    len += (size_t)snprintf(body + len, cap - len, "]}");
    send_call(b, con, EVHTTP_REQ_POST, "/v1/positions", b->o.tok_gateway, body,
              len, ingest_next, con);
    free(body);
  } else {
    int i = (int)(rnd(b) % (uint64_t)b->city->n_workers);
    char path[96], body[96];
    snprintf(path, sizeof path, "/v1/workers/%s/position",
             b->city->workers[i].id);
    int len = snprintf(body, sizeof body, "{\"lat\":%.6f,\"lon\":%.6f}",
                       b->lat[i] + (unit(b) - 0.5) * 1e-3, b->lon[i]);
    send_call(b, con, EVHTTP_REQ_POST, path, b->o.tok_gateway, body,
              (size_t)len, ingest_next, con);
  }
  b->positions_sent += (uint64_t)g->bulk;
}

static ingest g_ingest;

static void ingest_next(bench *b, struct evhttp_request *req, void *arg) {
  int code = req ? evhttp_request_get_response_code(req) : 0;
  if (code == 200 || (code == 201 && g_ingest.bulk == 0))
    b->positions_ok += (uint64_t)(g_ingest.bulk ? g_ingest.bulk : 1);
  int more = now_ms() < g_ingest.until;
  if (more && g_ingest.accept)
    more = accept_send(b, arg) == 0;
  else if (more)
    ingest_send(b, arg, &g_ingest);
  if (!more && cm_hc_inflight(b->hc) == 0)
    event_base_loopexit(b->base, NULL);
}

static double metric_value(const bench *b, const char *name);

/* Positions answered before Redis took them (positions_ack = queued) are
 * not counted done until Redis has every one: wait for the daemon's
 * carematch_positions_pending to reach 0 (at most 30 s; not there: the
 * memory store, or a daemon that does not say). */
static void positions_drained(const bench *b) {
  double until = now_ms() + 30000;
  while (metric_value(b, "carematch_positions_pending") > 0 &&
         now_ms() < until) {
    struct timespec ts = {0, 5000000}; /* 5 ms: the page costs the daemon */
    nanosleep(&ts, NULL);
  }
}

static double run_ingest(bench *b, int bulk, int accept, double seconds) {
  g_ingest.bulk = bulk;
  g_ingest.accept = accept;
  b->positions_ok = 0;
  double t0 = now_ms();
  g_ingest.until = t0 + seconds * 1000;
  for (int c = 0; c < b->o.connections; c++)
    ingest_send(b, cm_hc_conn(b->hc, c), &g_ingest);
  if (cm_hc_inflight(b->hc) > 0) /* none: no offers to accept */
    event_base_dispatch(b->base);
  if (bulk >= 1 && !accept)
    positions_drained(b);
  double s = (now_ms() - t0) / 1000.0;
  return (double)b->positions_ok / s;
}

/* --ingest's accepts: n requests due now, each at a worker's position
 * with a skill she has, created on the connections; then the offers
 * awaited on the event stream (at most 30 s). Returns the offers kept. */
static int g_prep_left;

static void prep_answered(bench *b, struct evhttp_request *req, void *arg) {
  (void)req;
  (void)arg;
  (void)b;
  g_prep_left--;
}

static void prep_check(evutil_socket_t fd, short what, void *arg) {
  bench *b = arg;
  (void)fd;
  (void)what;
  if ((g_prep_left <= 0 && g_n_offers >= g_created) ||
      now_ms() > g_ingest.until)
    event_base_loopexit(b->base, NULL);
}

static int offers_prepare(bench *b, int n) {
  open_events(b);
  g_prep_left = n;
  for (int k = 0; k < n; k++) {
    const cm_worker *w =
        &b->city->workers[rnd(b) % (uint64_t)b->city->n_workers];
    int s = 0;
    while (s < 5 && !(w->skills >> s & 1u))
      s++;
    char body[256];
    int len = snprintf(body, sizeof body,
                       "{\"id\":\"a%d\",\"lat\":%.6f,\"lon\":%.6f,"
                       "\"skills\":[\"%s\"],\"urgency\":\"normal\"}",
                       k, w->lat, w->lon, skill_name(s));
    send_call(b, next_conn(b), EVHTTP_REQ_POST, "/v1/requests",
              b->o.tok_platform, body, (size_t)len, prep_answered, NULL);
  }
  g_created = n;
  g_ingest.until = now_ms() + 30000;
  struct event *ev = event_new(b->base, -1, EV_PERSIST, prep_check, b);
  struct timeval tv = {0, 20000};
  event_add(ev, &tv);
  event_base_dispatch(b->base);
  event_free(ev);
  return g_n_offers;
}

/* ---- the daemon ---- */

static pid_t start_daemon(bench *b, const char *dir) {
  char ini[1024];
  snprintf(ini, sizeof ini,
           "[server]\nport = 0\nmax_body_bytes = 16777216\n"
           "[store]\nweights_file = %s/weights.json\n%s%s\n%s%s%s%s%s%s"
           "[batch]\nwindow_ms = %d\nmax = %d\noffer_ttl_ms = 30000\n"
           "[tokens]\nplatform = %s\ngateway = %s\noperator = "
           "bench-operator-token-000\nmetrics = bench-metrics-token-0000\n",
           dir, b->o.redis ? "redis = " : "", b->o.redis ? b->o.redis : "",
           b->o.durability ? "durability = " : "",
           b->o.durability ? b->o.durability : "", b->o.durability ? "\n" : "",
           b->o.positions_ack ? "positions_ack = " : "",
           b->o.positions_ack ? b->o.positions_ack : "",
           b->o.positions_ack ? "\n" : "", b->o.window_ms, b->o.batch_max,
           b->o.tok_platform, b->o.tok_gateway);
  return cm_hc_daemon_start(b->o.daemon, dir, ini, NULL, &b->port);
}

/* ---- main ---- */

/* The option at argv[*i] (with its value, *i then moved past it) into *o.
 * Returns 1 when it is one, 0 when not. */
static int take_option(int argc, char **argv, int *i, opts *o) {
  const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
#define OPT_S(name, dst)                                                       \
  if (!strcmp(a, name) && v) {                                                 \
    dst = argv[++*i];                                                          \
    return 1;                                                                  \
  }
#define OPT_I(name, dst)                                                       \
  if (!strcmp(a, name) && v) {                                                 \
    dst = atoi(argv[++*i]);                                                    \
    return 1;                                                                  \
  }
#define OPT_D(name, dst)                                                       \
  if (!strcmp(a, name) && v) {                                                 \
    dst = atof(argv[++*i]);                                                    \
    return 1;                                                                  \
  }
  OPT_S("--daemon", o->daemon)
  OPT_S("--url", o->url)
  OPT_S("--redis", o->redis)
  OPT_S("--durability", o->durability)
  OPT_S("--positions-ack", o->positions_ack)
  OPT_S("--out", o->out)
  OPT_S("--samples", o->samples)
  OPT_S("--platform-token", o->tok_platform)
  OPT_S("--gateway-token", o->tok_gateway)
  OPT_I("--workers", o->workers)
  OPT_I("--positions", o->positions_per_s)
  OPT_I("--requests", o->requests_per_s)
  OPT_I("--seconds", o->seconds)
  OPT_I("--connections", o->connections)
  OPT_I("--bulk", o->bulk)
  OPT_I("--accepts", o->accepts)
  OPT_I("--window", o->window_ms)
  OPT_I("--batch-max", o->batch_max)
  OPT_D("--emergency", o->emergency)
  OPT_D("--service-s", o->service_s)
#undef OPT_S
#undef OPT_I
#undef OPT_D
  if (!strcmp(a, "--ingest")) {
    o->ingest = 1;
    return 1;
  }
  if (!strcmp(a, "--emergency-conn")) {
    o->emergency_conn = 1;
    return 1;
  }
  if (!strcmp(a, "--quiet")) {
    o->quiet = 1;
    return 1;
  }
  if (!strcmp(a, "--quick")) {
    o->seconds = 5;
    o->workers = 5000;
    return 1;
  }
  return 0;
}

static int parse(int argc, char **argv, opts *o) {
  *o = (opts){.workers = 20000,
              .positions_per_s = 10000,
              .requests_per_s = 50,
              .seconds = 20,
              .connections = 4,
              .bulk = 1000,
              .accepts = 4000,
              .window_ms = 300,
              .batch_max = 2000,
              .emergency = 0.05,
              .service_s = 10,
              .seed = 1,
              .tok_platform = "bench-platform-token-000",
              .tok_gateway = "bench-gateway-token-0000"};
  for (int i = 1; i < argc; i++) {
    if (take_option(argc, argv, &i, o))
      continue;
    fprintf(stderr,
            "usage: bench_http (--daemon PATH [--redis URL [--durability "
            "fsync|replica] [--positions-ack queued|durable]] | --url "
            "http://host:port --platform-token T --gateway-token T)\n"
            "  [--workers N] [--positions N/s] [--requests N/s] [--seconds "
            "N]\n"
            "  [--emergency SHARE] [--emergency-conn] [--service-s S] "
            "[--window MS] [--batch-max N] [--ingest [--bulk N] "
            "[--connections N] [--accepts N]]\n"
            "  [--quick] [--quiet] [--out FILE.json] [--samples FILE]\n");
    return -1;
  }
  if (!o->daemon && !o->url) {
    fprintf(stderr, "bench_http: give --daemon PATH or --url\n");
    return -1;
  }
  if (o->connections < 1 || o->connections > 256 || o->workers < 1 ||
      o->bulk < 1 || o->seconds < 1 || o->accepts < 0 || o->accepts > 100000 ||
      o->window_ms < 1 || o->window_ms > 60000 || o->batch_max < 1 ||
      o->batch_max > 100000)
    return -1;
  return 0;
}

static void write_json(bench *b, FILE *f, double ingest_bulk,
                       double ingest_single) {
  fprintf(f,
          "{\"bench\":\"http\",\"version\":\"%s\",\"store\":\"%s\","
          "\"workers\":%d,\"seconds\":%d,\"positions_per_s_target\":%d,"
          "\"requests_per_s\":%d,",
          CM_VERSION, b->o.redis ? "redis" : "memory", b->o.workers,
          b->o.seconds, b->o.positions_per_s, b->o.requests_per_s);
  if (b->o.ingest) {
    fprintf(f,
            "\"ingest_bulk_positions_per_s\":%.0f,\"bulk\":%d,"
            "\"ingest_single_positions_per_s\":%.0f,"
            "\"ingest_single_creates_per_s\":%.0f,"
            "\"ingest_single_accepts_per_s\":%.0f,\"accept_offers\":%d,"
            "\"connections\":%d,",
            ingest_bulk, b->o.bulk, ingest_single, g_creates_per_s,
            g_accepts_per_s, g_offers_kept, b->o.connections);
  } else {
    double secs = (b->t_end - b->t_start) / 1000.0;
    fprintf(f,
            "\"positions_per_s\":%.0f,\"submitted\":%llu,\"offers\":%llu,"
            "\"offer_latency_ms\":{",
            (double)b->positions_sent / secs, (unsigned long long)b->submitted,
            (unsigned long long)b->offers);
    static const char *const names[] = {"emergency", "urgent", "normal",
                                        "scheduled"};
    for (int u = 0; u < CM_URGENCY_COUNT; u++)
      fprintf(f, "%s\"%s\":{\"n\":%d,\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f}",
              u ? "," : "", names[u], b->n_lat[u],
              b->n_lat[u] ? q(b->lat_ms[u], b->n_lat[u], 0.5) : 0,
              b->n_lat[u] ? q(b->lat_ms[u], b->n_lat[u], 0.99) : 0,
              b->n_lat[u] ? q(b->lat_ms[u], b->n_lat[u], 1.0) : 0);
    fprintf(f, "},");
  }
  if (b->durable_known)
    fprintf(f,
            "\"ledger\":{\"replica_waits\":%.0f,\"not_durable\":%.0f,"
            "\"wait_timeouts\":%.0f,\"skipped_waits\":%.0f},",
            b->durable[0], b->durable[1], b->durable[2], b->durable[3]);
  fprintf(f, "\"http_calls\":%llu,\"http_errors\":%llu}\n",
          (unsigned long long)cm_hc_calls(b->hc),
          (unsigned long long)cm_hc_errors(b->hc));
}

/* The daemon under test: one started here in a fresh folder (*daemon, dir),
 * or --url. Returns 0, or the exit status with a message on stderr. */
static int daemon_open(bench *b, pid_t *daemon, char *dir, size_t n) {
  if (b->o.daemon) {
    snprintf(dir, n, "/tmp/cm_bench_http_%ld", (long)getpid());
    mkdir(dir, 0700);
    if ((*daemon = start_daemon(b, dir)) < 0) {
      fprintf(stderr, "bench_http: the daemon did not start (see %s)\n", dir);
      return 1;
    }
  } else if (cm_hc_parse_url(b->o.url, b->host, sizeof b->host, &b->port)) {
    fprintf(stderr, "bench_http: --url must be http://host:port\n");
    return 2;
  }
  return 0;
}

/* The daemon started here stopped and its folder removed. */
static void daemon_close(pid_t daemon, const char *dir) {
  if (daemon <= 0)
    return;
  cm_hc_daemon_stop(daemon);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "bench_http: could not remove %s\n", dir);
}

/* The city (5,000 requests, capacities up to 2), the workers' positions,
 * the latency arrays, the event base and the connections. Returns 0 or
 * -1. */
static int bench_prepare(bench *b) {
  cm_city_spec spec;
  cm_city_spec_init(&spec);
  spec.seed = b->o.seed;
  spec.n_workers = b->o.workers;
  spec.n_requests = 5000;
  spec.capacity_max = 2;
  cm_error err;
  b->city = cm_city_instance(&spec, &err);
  b->base = event_base_new();
  if (!b->city || !b->base)
    return -1;
  b->rng = 88172645463325252ULL ^ b->o.seed;
  b->lat = malloc((size_t)b->city->n_workers * sizeof *b->lat);
  b->lon = malloc((size_t)b->city->n_workers * sizeof *b->lon);
  for (int i = 0; i < b->city->n_workers; i++) {
    b->lat[i] = b->city->workers[i].lat;
    b->lon[i] = b->city->workers[i].lon;
  }
  for (int u = 0; u < CM_URGENCY_COUNT; u++)
    b->lat_ms[u] = malloc(LAT_MAX * sizeof(double));
  b->hc = cm_hc_new(b->base, b->host, b->port, b->o.connections);
  if (!b->hc)
    return -1;
  cm_hc_log_errors(b->hc, stderr, 5); /* the first few failures, named */
  for (int c = 0; c <= REQ_CONNS; c++)
    b->req_conns[c] = evhttp_connection_base_new(b->base, NULL, b->host,
                                                 (ev_uint16_t)b->port);
  return 0;
}

/* Every worker of the city registered. Returns 0, or 1 with a message on
 * stderr. */
static int workers_setup(bench *b) {
  double t = now_ms();
  if (!b->o.quiet)
    printf("bench_http: registering %d staff at http://%s:%d ...\n",
           b->city->n_workers, b->host, b->port);
  if (register_workers(b) != 0) {
    fprintf(stderr, "bench_http: registering failed (%llu errors)\n",
            (unsigned long long)cm_hc_errors(b->hc));
    return 1;
  }
  if (!b->o.quiet)
    printf("bench_http: %d staff registered in %.1f s\n", b->city->n_workers,
           (now_ms() - t) / 1000.0);
  return 0;
}

/* --ingest: bulk calls, then single calls, each for --seconds; positions
 * per second of each into *bulk, *single. */
static void ingest_measure(bench *b, double *bulk, double *single) {
  *bulk = run_ingest(b, b->o.bulk, 0, b->o.seconds);
  *single = run_ingest(b, 1, 0, b->o.seconds);
  g_creates_per_s = run_ingest(b, 0, 0, b->o.seconds);
  g_offers_kept = offers_prepare(b, b->o.accepts);
  g_accepts_per_s = run_ingest(b, 1, 1, b->o.seconds);
  printf("ingest: bulk (%d per call, %d connections) %.0f positions/s; "
         "single calls %.0f positions/s; creates %.0f/s; accepts %.0f/s "
         "(%d offers of %d requests); errors %llu\n",
         b->o.bulk, b->o.connections, *bulk, *single, g_creates_per_s,
         g_accepts_per_s, g_offers_kept, b->o.accepts,
         (unsigned long long)cm_hc_errors(b->hc));
}

/* The load for --seconds: the event stream open, the 10 ms tick sending
 * positions and requests until the end. */
static void load_run(bench *b) {
  open_events(b);
  b->t_start = b->last_print = now_ms();
  b->t_end = b->t_start + b->o.seconds * 1000.0;
  b->tick = event_new(b->base, -1, EV_PERSIST, on_tick, b);
  struct timeval tv = {0, 10000};
  event_add(b->tick, &tv);
  event_base_dispatch(b->base);
  event_free(b->tick);
}

/* The load's summary: counts, then submit-to-offer latency per urgency. */
static void load_summary_print(bench *b) {
  static const char *const names[] = {"emergency", "urgent", "normal",
                                      "scheduled"};
  double secs = (b->t_end - b->t_start) / 1000.0;
  printf("\nsummary: %.0f s, %.0f positions/s, %llu requests, %llu offers, "
         "%llu accepted, %llu completed, %llu HTTP errors of %llu calls\n",
         secs, (double)b->positions_sent / secs,
         (unsigned long long)b->submitted, (unsigned long long)b->offers,
         (unsigned long long)b->accepted, (unsigned long long)b->completed,
         (unsigned long long)cm_hc_errors(b->hc),
         (unsigned long long)cm_hc_calls(b->hc));
  for (int u = 0; u < CM_URGENCY_COUNT; u++)
    if (b->n_lat[u])
      printf("  submit-to-offer %-9s n %5d  p50 %7.2f ms  p99 %7.2f ms  "
             "max %7.2f ms\n",
             names[u], b->n_lat[u], q(b->lat_ms[u], b->n_lat[u], 0.5),
             q(b->lat_ms[u], b->n_lat[u], 0.99),
             q(b->lat_ms[u], b->n_lat[u], 1.0));
}

/* --samples: per emergency offered, the monotonic clock (us) when its POST
 * went out and when its offer came, and the calls ahead of it on its
 * connection; the daemon's stage trace (CAREMATCHD_STAGE_TRACE) uses the
 * same clock, so the two line up. Nothing personal: the bench's own ids. */
static void samples_write(const bench *b, const char *path) {
  FILE *f = fopen(path, "w");
  if (!f)
    return;
  for (int i = 0; i < b->n_reqs; i++) {
    const pending *p = &b->reqs[i];
    if (p->urgency == CM_URGENCY_EMERGENCY && p->offered)
      fprintf(f, "%.0f %.0f %d\n", p->sent_ms * 1000, p->offer_ms * 1000,
              p->queued);
  }
  fclose(f);
}

/* The daemon's loop-stall trace (GET /metrics, carematch_loop_*;
 * docs/async.md): fetched before and after the load, so that a run shows
 * what held the daemon's loop during the load itself (not the staff's
 * registration). Only for a daemon started here (its metrics token is
 * known). Blocking calls, outside the load. */
#define TRACE_CAUSES 16
typedef struct loop_trace {
  char cause[TRACE_CAUSES][32];
  double stalls[TRACE_CAUSES], max_s[TRACE_CAUSES];
  int n;
  double rebuilds;   /* carematch_ledger_rebuilds_total */
  double durable[4]; /* the durability counters (durable_names) */
} loop_trace;

/* The counters of durability = replica (docs/redis.md), as /metrics
 * prints them: the proposals a WAIT ended, and those answered not_durable
 * (a WAIT short at its timeout, or skipped: too few replicas online). */
static const char *const durable_names[4] = {
    "carematch_ledger_replica_waits_total ",
    "carematch_ledger_not_durable_total ",
    "carematch_ledger_wait_timeouts_total ",
    "carematch_ledger_skipped_waits_total "};

static int trace_slot(loop_trace *t, const char *cause, size_t len) {
  for (int i = 0; i < t->n; i++)
    if (strlen(t->cause[i]) == len && !strncmp(t->cause[i], cause, len))
      return i;
  if (t->n == TRACE_CAUSES || len >= sizeof t->cause[0])
    return -1;
  memcpy(t->cause[t->n], cause, len);
  t->cause[t->n][len] = '\0';
  return t->n++;
}

/* The daemon's /metrics page, read with a blocking call (between the
 * phases, never during the load); "" when it could not be read. */
static char *metrics_page(const bench *b) {
  static char page[1 << 20];
  page[0] = '\0';
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)b->port);
  inet_pton(AF_INET, b->host, &a.sin_addr);
  static const char get[] = "GET /metrics HTTP/1.0\r\nAuthorization: Bearer "
                            "bench-metrics-token-0000\r\n\r\n";
  size_t n = 0;
  ssize_t k;
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      write(fd, get, sizeof get - 1) != (ssize_t)(sizeof get - 1)) {
    if (fd >= 0)
      close(fd);
    return page;
  }
  while (n < sizeof page - 1 &&
         (k = read(fd, page + n, sizeof page - 1 - n)) > 0)
    n += (size_t)k;
  close(fd);
  page[n] = '\0';
  return page;
}

/* The value of the unlabelled metric name on the daemon's page; -1 when
 * it is not there. */
static double metric_value(const bench *b, const char *name) {
  char key[128];
  snprintf(key, sizeof key, "\n%s ", name);
  const char *p = strstr(metrics_page(b), key);
  return p ? atof(p + strlen(key)) : -1;
}

static void loop_trace_get(const bench *b, loop_trace *t) {
  memset(t, 0, sizeof *t);
  char *page = metrics_page(b);
  static const char *const names[2] = {"carematch_loop_stalls_total{cause=\"",
                                       "carematch_loop_busy_max_seconds{"
                                       "cause=\""};
  for (char *line = strtok(page, "\n"); line; line = strtok(NULL, "\n")) {
    if (!strncmp(line, "carematch_ledger_rebuilds_total ", 32))
      t->rebuilds = atof(line + 32);
    for (int d = 0; d < 4; d++) {
      size_t len = strlen(durable_names[d]);
      if (!strncmp(line, durable_names[d], len))
        t->durable[d] = atof(line + len);
    }
    for (int m = 0; m < 2; m++) {
      size_t pl = strlen(names[m]);
      const char *q = strchr(line + pl, '"');
      if (strncmp(line, names[m], pl) || !q)
        continue;
      int i = trace_slot(t, line + pl, (size_t)(q - line - pl));
      if (i >= 0 && q[1] == '}')
        *(m ? &t->max_s[i] : &t->stalls[i]) = atof(q + 2);
    }
  }
}

/* The durability counters' change from *t0 to *t1 into b, and a line. */
static void durable_note(bench *b, const loop_trace *t0, const loop_trace *t1) {
  b->durable_known = 1;
  for (int d = 0; d < 4; d++)
    b->durable[d] = t1->durable[d] - t0->durable[d];
  printf("ledger: %.0f replica waits, %.0f not durable (%.0f wait timeouts, "
         "%.0f skipped waits)\n",
         b->durable[0], b->durable[1], b->durable[2], b->durable[3]);
}

static void loop_trace_print(const loop_trace *t0, const loop_trace *t1) {
  printf("loop trace during the load (stalls > 5 ms; the longest piece "
         "since start; %.0f rebuilds from Redis):\n",
         t1->rebuilds - t0->rebuilds);
  for (int i = 0; i < t1->n; i++) {
    double before = 0;
    for (int j = 0; j < t0->n; j++)
      if (!strcmp(t0->cause[j], t1->cause[i]))
        before = t0->stalls[j];
    if (t1->stalls[i] - before > 0 || t1->max_s[i] > 0.005)
      printf("  %-15s stalls %6.0f  longest %7.2f ms\n", t1->cause[i],
             t1->stalls[i] - before, t1->max_s[i] * 1e3);
  }
}

int main(int argc, char **argv) {
  bench *b = calloc(1, sizeof *b);
  if (!b || parse(argc, argv, &b->o) != 0)
    return 2;
  signal(SIGPIPE, SIG_IGN);
  snprintf(b->host, sizeof b->host, "127.0.0.1");
  pid_t daemon = 0;
  char dir[128] = "";
  int rc = daemon_open(b, &daemon, dir, sizeof dir);
  if (rc != 0)
    return rc;
  if (bench_prepare(b) != 0)
    return 1;
  rc = workers_setup(b);
  double ingest_bulk = 0, ingest_single = 0;
  loop_trace t0, t1;
  if (rc == 0 && daemon > 0)
    loop_trace_get(b, &t0);
  if (rc == 0 && b->o.ingest) {
    ingest_measure(b, &ingest_bulk, &ingest_single);
    if (daemon > 0) {
      loop_trace_get(b, &t1);
      durable_note(b, &t0, &t1);
    }
  } else if (rc == 0) {
    load_run(b);
    load_summary_print(b);
    if (b->o.samples)
      samples_write(b, b->o.samples);
    if (daemon > 0) {
      loop_trace_get(b, &t1);
      loop_trace_print(&t0, &t1);
      durable_note(b, &t0, &t1);
    }
  }
  if (b->o.out) {
    FILE *f = fopen(b->o.out, "w");
    if (f) {
      write_json(b, f, ingest_bulk, ingest_single);
      fclose(f);
    }
  }
  daemon_close(daemon, dir);
  return rc;
}
