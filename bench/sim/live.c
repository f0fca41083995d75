/* live.c -- the simulator's live mode (live.h).
 *
 * The world runs on a clock that is the daemon's: the daemon is started
 * with --clock-start (midnight of today, UTC, plus the window's start) and
 * --clock-rate, or an outside one is read once from /healthz. A timer
 * wakes the world when its next event is due; its actions become HTTP
 * calls (requests, answers and completions on one connection, staff on
 * another, so each kind keeps its order); the daemon's event stream comes
 * back to the world as the engine's events. Positions go in bulk, one
 * call per report. Every real second a line shows the day so far. */
#include <event2/http.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "carematch/taxonomy.h"
#include "http_client.h"
#include "live.h"
#include "world.h"

#define POS_CAP (1 << 20) /* bytes of one bulk positions body at most */

typedef struct live {
  const sim_scenario *s;
  const sim_live_opts *o;
  struct event_base *base;
  cm_hc *hc;
  sim_world *w;
  sim_kpis *k;
  struct event *timer;
  int64_t day0_ms;    /* the daemon's time of the world's midnight */
  int64_t sync_world; /* the world's time at sync_mono */
  double sync_mono;   /* ms */
  double last_line;   /* ms, monotonic */
  char *pos;          /* the bulk body being built */
  size_t pos_len;
  int n_pos;
  cm_taxonomy tax;
  int stream_ended;
  struct event *reopen; /* survive: the event stream again, later */
  FILE *acked;
  uint64_t reopens, retries;
  char err[200];
} live;

void sim_live_init(sim_live_opts *o) {
  memset(o, 0, sizeof *o);
  o->rate = 60;
  o->from_ms = 0;
  o->until_ms = SIM_DAY_MS;
  o->drain_ms = 2LL * 3600 * 1000;
  o->tok_platform = "sim-platform-token-000000";
  o->tok_gateway = "sim-gateway-token-0000000";
  o->tok_operator = "sim-operator-token-000000";
}

static int64_t world_now(const live *l) {
  return l->sync_world +
         (int64_t)((cm_bench_now_ms() - l->sync_mono) * l->o->rate);
}

static struct evhttp_connection *jobs_conn(live *l) {
  return cm_hc_conn(l->hc, 0);
}
static struct evhttp_connection *staff_conn(live *l) {
  return cm_hc_conn(l->hc, 1);
}

static void skills_json(const live *l, cm_skillset set, char *buf, size_t n) {
  size_t len = 0;
  buf[0] = '\0';
  for (int s = 0; s < l->tax.count && len < n; s++)
    if (set >> s & 1u)
      len += (size_t)snprintf(buf + len, n - len, "%s\"%s\"", len ? "," : "",
                              l->tax.names[s]);
}

/* ---- the port: the world's actions as calls ---- */

static const char *prefix(const live *l) {
  return l->o->id_prefix ? l->o->id_prefix : "";
}

/* A call's request, for its reply. */
typedef struct note {
  live *l;
  int q;
} note;

static note *make_note(live *l, int q) {
  note *n = malloc(sizeof *n);
  if (n) {
    n->l = l;
    n->q = q;
  }
  return n;
}

/* A request the daemon acknowledged (2xx) goes to the acked file: the
 * chaos check finds every one of them in Redis afterwards. */
static int on_submitted(void *arg, struct evhttp_request *req) {
  note *n = arg;
  int code = cm_hc_code(req);
  if (n && n->l->acked && code >= 200 && code < 300) {
    fprintf(n->l->acked, "%s%s\n", prefix(n->l), n->l->s->requests[n->q].id);
    fflush(n->l->acked);
  }
  free(n);
  return code < 200 || code >= 300;
}

static void lv_submit(void *ctx, int q, const cm_request_spec *sp,
                      int64_t now) {
  live *l = ctx;
  (void)q;
  (void)now;
  char body[768], sk[256], win[96] = "", elder[96] = "";
  skills_json(l, sp->skills, sk, sizeof sk);
  if (sp->window_start_ms > 0)
    snprintf(win, sizeof win, ",\"window\":{\"start_ms\":%lld,\"end_ms\":%lld}",
             (long long)(l->day0_ms + sp->window_start_ms),
             (long long)(l->day0_ms + sp->window_end_ms));
  if (sp->elder[0])
    snprintf(elder, sizeof elder, ",\"elder\":\"%s\"", sp->elder);
  int len =
      snprintf(body, sizeof body,
               "{\"id\":\"%s%s\",\"lat\":%.7f,\"lon\":%.7f,\"skills\":[%s],"
               "\"skill_mode\":\"%s\",\"staff\":%d,\"urgency\":\"%s\"%s%s}",
               prefix(l), sp->id, sp->lat, sp->lon, sk,
               sp->skill_mode == CM_SKILLS_ANY ? "any" : "all", sp->staff,
               cm_urgency_name(sp->urgency), elder, win);
  cm_hc_call(l->hc, jobs_conn(l), EVHTTP_REQ_POST, "/v1/requests",
             l->o->tok_platform, body, (size_t)len, on_submitted,
             make_note(l, q));
}

static void lv_upsert(void *ctx, int i, const cm_worker *w, int64_t now) {
  live *l = ctx;
  (void)i;
  (void)now;
  char path[96], body[512], sk[256];
  skills_json(l, w->skills, sk, sizeof sk);
  snprintf(path, sizeof path, "/v1/workers/%s", w->id);
  int len = snprintf(body, sizeof body,
                     "{\"skills\":[%s],\"lat\":%.7f,\"lon\":%.7f,"
                     "\"capacity\":1,\"rating\":%.3f,\"level\":%.3f,"
                     "\"jobs_today\":%d,\"on_shift\":true}",
                     sk, w->lat, w->lon, w->rating, w->level, w->jobs_today);
  cm_hc_call(l->hc, staff_conn(l), EVHTTP_REQ_PUT, path, l->o->tok_platform,
             body, (size_t)len, NULL, NULL);
}

static void lv_shift_off(void *ctx, int i, int64_t now) {
  live *l = ctx;
  (void)now;
  char path[96];
  snprintf(path, sizeof path, "/v1/workers/%s/status", l->s->workers[i].id);
  cm_hc_call(l->hc, staff_conn(l), EVHTTP_REQ_POST, path, l->o->tok_platform,
             "{\"on_shift\":false}", 18, NULL, NULL);
}

static void flush_positions(live *l) {
  if (l->n_pos == 0)
    return;
  l->pos_len +=
      (size_t)snprintf(l->pos + l->pos_len, POS_CAP - l->pos_len, "]}");
  cm_hc_call(l->hc, staff_conn(l), EVHTTP_REQ_POST, "/v1/positions",
             l->o->tok_gateway, l->pos, l->pos_len, NULL, NULL);
  l->n_pos = 0;
  l->pos_len = 0;
}

static void lv_position(void *ctx, int i, double lat, double lon, int64_t now) {
  live *l = ctx;
  (void)now;
  if (l->pos_len > POS_CAP - 256 || l->n_pos >= 10000)
    flush_positions(l);
  if (l->n_pos == 0)
    l->pos_len = (size_t)snprintf(l->pos, POS_CAP, "{\"positions\":[");
  l->pos_len +=
      (size_t)snprintf(l->pos + l->pos_len, POS_CAP - l->pos_len,
                       "%s{\"id\":\"%s\",\"lat\":%.7f,\"lon\":%.7f}",
                       l->n_pos ? "," : "", l->s->workers[i].id, lat, lon);
  l->n_pos++;
}

static void lv_positions_done(void *ctx, int64_t now) {
  (void)now;
  flush_positions(ctx);
}

/* An answer the daemon no longer wants (the offer lapsed, was withdrawn,
 * or a team mate refused meanwhile) is a 409, as it would be for a real
 * worker who answered late: counted apart, not an error. */
static int on_answer(void *arg, struct evhttp_request *req) {
  live *l = arg;
  int code = cm_hc_code(req);
  l->k->late_answers += code == 409;
  return code != 409 && (code < 200 || code >= 300);
}

static void lv_answer(void *ctx, int q, int i, int accept, int64_t now) {
  live *l = ctx;
  (void)now;
  char path[96], body[64];
  snprintf(path, sizeof path, "/v1/requests/%s%s/%s", prefix(l),
           l->s->requests[q].id, accept ? "accept" : "reject");
  int len =
      snprintf(body, sizeof body, "{\"worker\":\"%s\"}", l->s->workers[i].id);
  cm_hc_call(l->hc, jobs_conn(l), EVHTTP_REQ_POST, path, l->o->tok_gateway,
             body, (size_t)len, on_answer, l);
}

/* A member reached the elder: POST .../arrived (the daemon keeps the
 * request's first arrival, the rest are no-ops). A 409 (cancelled or
 * reassigned meanwhile) is a late answer, not an error. */
static void lv_arrived(void *ctx, int q, int i, int64_t now) {
  live *l = ctx;
  (void)now;
  char path[96], body[64];
  snprintf(path, sizeof path, "/v1/requests/%s%s/arrived", prefix(l),
           l->s->requests[q].id);
  int len =
      snprintf(body, sizeof body, "{\"worker\":\"%s\"}", l->s->workers[i].id);
  cm_hc_call(l->hc, jobs_conn(l), EVHTTP_REQ_POST, path, l->o->tok_gateway,
             body, (size_t)len, on_answer, l);
}

static void send_complete(live *l, int q);

/* survive: a completion the daemon did not take (it was down, or Redis
 * was) is sent again a second later, as a worker's phone would; a 409
 * means an earlier try was taken after all. */
static void retry_complete(evutil_socket_t fd, short what, void *arg) {
  note *n = arg;
  (void)fd;
  (void)what;
  n->l->retries++;
  send_complete(n->l, n->q);
  free(n);
}

static int on_completed(void *arg, struct evhttp_request *req) {
  note *n = arg;
  int code = cm_hc_code(req);
  if ((code >= 200 && code < 300) || code == 409 || !n->l->o->survive) {
    free(n);
    return code < 200 || (code >= 300 && code != 409);
  }
  struct timeval tv = {1, 0};
  if (event_base_once(n->l->base, -1, EV_TIMEOUT, retry_complete, n, &tv))
    free(n);
  return 1;
}

static void send_complete(live *l, int q) {
  char path[96];
  snprintf(path, sizeof path, "/v1/requests/%s%s/complete", prefix(l),
           l->s->requests[q].id);
  note *n = make_note(l, q);
  if (n)
    cm_hc_call(l->hc, jobs_conn(l), EVHTTP_REQ_POST, path, l->o->tok_platform,
               NULL, 0, on_completed, n);
}

static int lv_complete(void *ctx, int q, int64_t now) {
  (void)now;
  send_complete(ctx, q);
  return 0;
}

static int on_cancelled(void *arg, struct evhttp_request *req) {
  live *l = arg;
  int code = cm_hc_code(req);
  if (cm_hc_inflight(l->hc) == 0) /* the last reply */
    event_base_loopbreak(l->base);
  return code != 409 && (code < 200 || code >= 300); /* 409: done meanwhile */
}

static void cancel_one(void *ctx, int q) {
  live *l = ctx;
  char path[96];
  snprintf(path, sizeof path, "/v1/requests/%s%s/cancel", prefix(l),
           l->s->requests[q].id);
  cm_hc_call(l->hc, jobs_conn(l), EVHTTP_REQ_POST, path, l->o->tok_platform,
             NULL, 0, on_cancelled, l);
}

/* ---- the event stream: the daemon's events back to the world ---- */

static int parse_name(const char *s, const char *(*name)(int), int n) {
  for (int i = 0; s && i < n; i++)
    if (!strcmp(s, name(i)))
      return i;
  return -1;
}
static const char *type_name(int t) {
  return cm_event_type_name((cm_event_type)t);
}
static const char *state_name(int t) {
  return cm_request_state_name((cm_request_state)t);
}

static void on_event(void *arg, const char *type, const char *data) {
  live *l = arg;
  (void)type;
  json_t *o = json_loads(data, 0, NULL);
  const char *t = NULL, *req = NULL, *worker = "", *from = NULL, *to = NULL;
  if (o && !json_unpack(o, "{s:s,s:s,s:s,s:s,s?s}", "type", &t, "request", &req,
                        "from", &from, "to", &to, "worker", &worker)) {
    cm_event ev;
    memset(&ev, 0, sizeof ev);
    int et = parse_name(t, type_name, CM_EV_TYPE_COUNT);
    int fs = parse_name(from, state_name, CM_REQ_STATE_COUNT);
    int ts = parse_name(to, state_name, CM_REQ_STATE_COUNT);
    if (et >= 0 && fs >= 0 && ts >= 0) {
      ev.type = (cm_event_type)et;
      ev.from = (cm_request_state)fs;
      ev.to = (cm_request_state)ts;
      size_t np = strlen(prefix(l));
      if (strncmp(req, prefix(l), np)) {
        json_decref(o);
        return; /* another run's */
      }
      snprintf(ev.request, sizeof ev.request, "%s", req + np);
      snprintf(ev.worker, sizeof ev.worker, "%s", worker);
      world_event(l->w, &ev, world_now(l));
    }
  }
  json_decref(o);
}

static void reopen_stream(evutil_socket_t fd, short what, void *arg);

static void on_stream_end(void *arg) {
  live *l = arg;
  if (!l->o->survive) {
    l->stream_ended = 1;
    return;
  }
  struct timeval tv = {0, 200000}; /* the daemon may be restarting */
  evtimer_add(l->reopen, &tv);
}

static void reopen_stream(evutil_socket_t fd, short what, void *arg) {
  live *l = arg;
  (void)fd;
  (void)what;
  l->reopens++;
  if (cm_hc_events(l->hc, l->o->tok_platform, on_event, l, on_stream_end))
    on_stream_end(l);
}

/* ---- the clock ---- */

static void print_line(live *l, int64_t now) {
  int sub, off, done;
  world_progress(l->w, &sub, &off, &done);
  int64_t m = now / 60000;
  printf("%02d:%02d  requests %5d  offered %5d  done %5d  "
         "emergency arrival p50 %5.1f p95 %5.1f min  urgent p50 %5.1f  "
         "normal p50 %5.1f  http errors %llu\n",
         (int)(m / 60 % 24), (int)(m % 60), sub, off, done,
         world_arrive_quantile(l->w, CM_URGENCY_EMERGENCY, 0.5),
         world_arrive_quantile(l->w, CM_URGENCY_EMERGENCY, 0.95),
         world_arrive_quantile(l->w, CM_URGENCY_URGENT, 0.5),
         world_arrive_quantile(l->w, CM_URGENCY_NORMAL, 0.5),
         (unsigned long long)cm_hc_errors(l->hc));
  fflush(stdout);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
  live *l = arg;
  (void)fd;
  (void)what;
  int64_t now = world_now(l);
  world_advance(l->w, now);
  double t = cm_bench_now_ms();
  if (!l->o->quiet && t - l->last_line >= 1000) {
    print_line(l, now);
    l->last_line = t;
  }
  int over = now >= l->o->until_ms &&
             (world_idle(l->w) || now >= l->o->until_ms + l->o->drain_ms);
  if (over || l->stream_ended || (l->o->stop && l->o->stop(l->o->stop_ctx))) {
    if (l->stream_ended && !over)
      snprintf(l->err, sizeof l->err, "the daemon's event stream ended");
    event_base_loopexit(l->base, NULL);
    return;
  }
  int64_t next = world_next(l->w);
  double wait_ms = (double)(next - now) / l->o->rate;
  if (wait_ms > 100)
    wait_ms = 100; /* the line a second, the stop flag */
  if (wait_ms < 0)
    wait_ms = 0;
  struct timeval tv = {(time_t)(wait_ms / 1000),
                       (suseconds_t)(fmod(wait_ms, 1000) * 1000)};
  evtimer_add(l->timer, &tv);
}

/* ---- setup ---- */

static void service_line(const live *l, const sim_service *sv, char *buf,
                         size_t n) {
  size_t len = (size_t)snprintf(buf, n, "%s = ", sv->name);
  int first = 1;
  for (int s = 0; s < l->tax.count && len < n; s++)
    if (sv->skills >> s & 1u) {
      len += (size_t)snprintf(buf + len, n - len, "%s%s",
                              first                       ? ""
                              : sv->mode == CM_SKILLS_ANY ? "|"
                                                          : "+",
                              l->tax.names[s]);
      first = 0;
    }
  if (sv->staff > 1 && len < n)
    snprintf(buf + len, n - len, "*%d", sv->staff);
}

static pid_t start_daemon(live *l, int *port) {
  const sim_live_opts *o = l->o;
  size_t cap = 8192, len = 0;
  char *ini = malloc(cap);
  if (!ini)
    return -1;
  len += (size_t)snprintf(
      ini + len, cap - len,
      "[server]\nport = 0\nmax_body_bytes = 16777216\n"
      "[store]\nweights_file = %s/weights.json\n%s%s\n"
      "[batch]\nwindow_ms = 300\noffer_ttl_ms = %lld\n"
      "[matching]\nroad_factor = %.3f\n"
      "[tokens]\nplatform = %s\ngateway = %s\noperator = %s\n[services]\n",
      o->dir, o->redis ? "redis = " : "", o->redis ? o->redis : "",
      (long long)(l->s->response_s_max * 1000 + 30000), l->s->road_factor,
      o->tok_platform, o->tok_gateway, o->tok_operator);
  for (int i = 0; i < l->s->n_services && len < cap; i++) {
    char line[256];
    service_line(l, &l->s->services[i], line, sizeof line);
    len += (size_t)snprintf(ini + len, cap - len, "%s\n", line);
  }
  char start[32], rate[32], region[64];
  snprintf(start, sizeof start, "%lld", (long long)(l->day0_ms + o->from_ms));
  snprintf(rate, sizeof rate, "%g", o->rate);
  snprintf(region, sizeof region, "sim%ld", (long)getpid());
  const char *args[24];
  int n = 0;
  args[n++] = "--clock-start";
  args[n++] = start;
  args[n++] = "--clock-rate";
  args[n++] = rate;
  if (o->redis) {
    args[n++] = "--region";
    args[n++] = region;
  }
  if (o->trace) {
    args[n++] = "--trace";
    args[n++] = o->trace;
  }
  for (int i = 0; o->daemon_args && o->daemon_args[i] && n < 23; i++)
    args[n++] = o->daemon_args[i];
  args[n] = NULL;
  pid_t pid = cm_hc_daemon_start(o->daemon, o->dir, ini, args, port);
  free(ini);
  return pid;
}

static int on_health(void *arg, struct evhttp_request *req) {
  live *l = arg;
  char *body = cm_hc_body(req);
  json_t *o = body ? json_loads(body, 0, NULL) : NULL;
  json_int_t now = 0;
  if (cm_hc_code(req) == 200 && o && !json_unpack(o, "{s:I}", "now_ms", &now))
    l->day0_ms = (int64_t)now - l->o->from_ms; /* now is the window's start */
  else
    snprintf(l->err, sizeof l->err, "GET /healthz: no daemon clock (%d)",
             cm_hc_code(req));
  l->sync_mono = cm_bench_now_ms();
  json_decref(o);
  free(body);
  event_base_loopbreak(l->base);
  return cm_hc_code(req) != 200;
}

/* carematch_batch_duration_seconds from /metrics: its quantiles (bucket
 * bounds, in ms for the KPIs), count, and carematch_fallbacks_total. */
static int on_metrics(void *arg, struct evhttp_request *req) {
  live *l = arg;
  char *body = cm_hc_body(req);
  double le[64], cnt[64], total = 0;
  int nb = 0;
  for (char *line = body ? strtok(body, "\n") : NULL; line;
       line = strtok(NULL, "\n")) {
    double v;
    char bound[32];
    if (sscanf(line,
               "carematch_batch_duration_seconds_bucket{le=\"%31[^\"]\"} %lf",
               bound, &v) == 2 &&
        nb < 64) {
      le[nb] = strcmp(bound, "+Inf") ? 1000 * atof(bound) : INFINITY;
      cnt[nb++] = v;
    } else if (sscanf(line, "carematch_batch_duration_seconds_count %lf", &v) ==
               1) {
      total = v;
    } else if (sscanf(line, "carematch_fallbacks_total %lf", &v) == 1) {
      l->k->fallbacks = (uint64_t)v;
    }
  }
  l->k->batches = (uint64_t)total;
  double qs[3] = {0.5, 0.99, 1.0},
         *dst[3] = {&l->k->batch_p50_ms, &l->k->batch_p99_ms,
                    &l->k->batch_max_ms};
  for (int j = 0; j < 3; j++) {
    *dst[j] = NAN;
    for (int b = 0; total > 0 && b < nb; b++)
      if (cnt[b] >= qs[j] * total) {
        *dst[j] = le[b];
        break;
      }
  }
  free(body);
  event_base_loopbreak(l->base);
  return cm_hc_code(req) != 200;
}

/* The daemon to drive: one started in o->dir (or a folder of this
 * process's), or the one at o->url. host and *port are where it listens,
 * *pid the started one's. Returns 0, or -1 with msg said. */
static int reach_daemon(live *l, const sim_live_opts *o, char *host,
                        size_t host_n, int *port, pid_t *pid, char *msg,
                        size_t n) {
  char dir[256];
  if (o->daemon) {
    if (o->dir)
      snprintf(dir, sizeof dir, "%s", o->dir);
    else
      snprintf(dir, sizeof dir, "/tmp/carematch_sim_live_%ld", (long)getpid());
    mkdir(dir, 0700);
    sim_live_opts oo = *o;
    oo.dir = dir;
    l->o = &oo;
    *pid = start_daemon(l, port);
    l->o = o;
    if (*pid < 0) {
      snprintf(msg, n, "carematchd did not start (see %s/carematchd.log)", dir);
      return -1;
    }
  } else if (!o->url || cm_hc_parse_url(o->url, host, host_n, port)) {
    snprintf(msg, n, "give --daemon PATH, or --url http://host:port");
    return -1;
  }
  return 0;
}

/* The event loop, the HTTP client to host:port, the timers, the file of
 * acknowledged ids and the world driven through p. Returns 0, or -1 with
 * msg said (live_close frees what was got). */
static int live_open(live *l, const char *host, int port, const sim_port *p,
                     char *msg, size_t n) {
  const sim_live_opts *o = l->o;
  l->base = event_base_new();
  l->hc = l->base ? cm_hc_new(l->base, host, port, 2) : NULL;
  l->pos = malloc(POS_CAP);
  l->timer = l->base ? evtimer_new(l->base, on_timer, l) : NULL;
  l->reopen = l->base ? evtimer_new(l->base, reopen_stream, l) : NULL;
  l->acked = o->acked ? fopen(o->acked, "w") : NULL;
  if (o->acked && !l->acked) {
    snprintf(msg, n, "%s: cannot write it", o->acked);
    return -1;
  }
  l->w = world_new(l->s, p, o->from_ms, o->until_ms, l->k);
  if (l->hc)
    cm_hc_log_errors(l->hc, stderr, 10);
  if (!l->hc || !l->pos || !l->timer || !l->reopen || !l->w) {
    snprintf(msg, n, "out of memory");
    return -1;
  }
  snprintf(l->k->policy, sizeof l->k->policy, "live");
  return 0;
}

/* Run the event loop; a failure it recorded (l->err) goes to msg. Returns
 * 0, or -1. */
static int dispatch(live *l, char *msg, size_t n) {
  event_base_dispatch(l->base);
  if (l->err[0]) {
    snprintf(msg, n, "%s", l->err);
    return -1;
  }
  return 0;
}

/* The window: the daemon's clock read (its now is the window's start),
 * the event stream opened, the world run by the timer to the window's end.
 * Returns 0, or -1 with msg said. */
static int run_window(live *l, char *msg, size_t n) {
  cm_hc_call(l->hc, jobs_conn(l), EVHTTP_REQ_GET, "/healthz", NULL, NULL, 0,
             on_health, l);
  if (dispatch(l, msg, n) != 0)
    return -1;
  l->sync_world = l->o->from_ms;
  if (cm_hc_events(l->hc, l->o->tok_platform, on_event, l, on_stream_end)) {
    snprintf(msg, n, "GET /v1/events: could not open the stream");
    return -1;
  }
  l->last_line = cm_bench_now_ms();
  struct timeval tv = {0, 0};
  evtimer_add(l->timer, &tv);
  return dispatch(l, msg, n);
}

/* After the window: the last positions sent, what is still open cancelled
 * (when asked), the world's KPIs, the daemon's batch figures, the floors,
 * the HTTP counts. */
static void finish(live *l, double t0) {
  const sim_live_opts *o = l->o;
  sim_kpis *out = l->k;
  flush_positions(l);
  if (o->cancel_rest) {
    int before = (int)cm_hc_calls(l->hc);
    world_each_open(l->w, cancel_one, l);
    if ((int)cm_hc_calls(l->hc) > before)
      event_base_dispatch(l->base);
  }
  world_finish(l->w);
  cm_hc_call(l->hc, cm_hc_conn(l->hc, 1), EVHTTP_REQ_GET, "/metrics",
             o->tok_operator, NULL, 0, on_metrics, l);
  event_base_dispatch(l->base);
  if (o->floors)
    sim_floors(l->s, world_served(l->w), out);
  out->http_calls = cm_hc_calls(l->hc);
  out->http_errors = cm_hc_errors(l->hc);
  out->wall_s = (cm_bench_now_ms() - t0) / 1000.0;
}

/* Free what live_open got (any of it may be missing), stop the daemon
 * started (pid; none when negative). */
static void live_close(live *l, pid_t pid) {
  if (l->timer)
    event_free(l->timer);
  if (l->reopen)
    event_free(l->reopen);
  if (l->acked)
    fclose(l->acked);
  cm_hc_free(l->hc);
  if (l->base)
    event_base_free(l->base);
  free(l->pos);
  world_free(l->w);
  cm_hc_daemon_stop(pid);
}

int sim_live(const sim_scenario *s, const sim_live_opts *o, sim_kpis *out,
             char *msg, size_t n) {
  live l;
  memset(&l, 0, sizeof l);
  l.s = s;
  l.o = o;
  l.k = out;
  memset(out, 0, sizeof *out);
  snprintf(out->policy, sizeof out->policy, "live");
  cm_taxonomy_init(&l.tax);
  double t0 = cm_bench_now_ms();
  time_t wall = time(NULL);
  l.day0_ms = (int64_t)(wall - wall % 86400) * 1000; /* midnight, UTC */
  char host[64] = "127.0.0.1";
  int port = 0, rc = -1;
  pid_t pid = -1;
  if (reach_daemon(&l, o, host, sizeof host, &port, &pid, msg, n) != 0)
    return -1;
  sim_port p = {&l,           lv_submit,   lv_upsert,
                lv_shift_off, lv_position, lv_positions_done,
                lv_answer,    lv_complete, lv_arrived};
  if (live_open(&l, host, port, &p, msg, n) == 0 &&
      run_window(&l, msg, n) == 0) {
    finish(&l, t0);
    rc = 0;
  }
  live_close(&l, pid);
  return rc;
}
