/* fuzz_daemon.c -- libFuzzer target: carematchd's HTTP routes with their
 * JSON bodies, through the daemon's own dispatcher (route match, the path's
 * id, roles, Content-Type, body size and syntax) and handlers, against an
 * in-memory engine made fresh for every input, so a body that decodes is
 * also applied, and batches run between calls so offers can be answered.
 *
 * An input is a sequence of calls separated by the line "%%" (at most
 * MAX_CALLS). A call is three bytes and the body (empty: no body):
 *   route  one of the letters of routes[] below; another byte picks
 *          routes[byte % N_ROUTES]
 *   id     the path's id: ids[byte % 8] (some need URL-decoding, some are
 *          refused by the matcher); with bit 7 set, the bytes before the
 *          body's first space instead (NULs dropped)
 *   flags  bits 0-1: the token (0 a role the route allows, 1 none, 2 an
 *          unknown one, 3 the metrics role's); bit 2: Content-Type
 *          text/plain
 * Replies go nowhere: a request without a connection is freed by its reply,
 * so a handler that never replies leaks it (LeakSanitizer) and one that
 * replies twice uses it after free (AddressSanitizer). Every call must be
 * answered, and never with a 5xx (an internal error, on this store). */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_json.h"
#include "carematch/solve.h"
#include "http.h"

#define MAX_CALLS 32
#define SEP "\n%%\n"

typedef struct fuzz_route {
  char letter;      /* the input's first byte */
  int method;       /* enum evhttp_cmd_type */
  const char *path; /* "%s": the id */
  int role;         /* a role the route allows */
} fuzz_route;

static const fuzz_route routes[] = {
    {'p', EVHTTP_REQ_PUT, "/v1/workers/%s", CMD_ROLE_PLATFORM},
    {'g', EVHTTP_REQ_GET, "/v1/workers/%s", CMD_ROLE_GATEWAY},
    {'o', EVHTTP_REQ_POST, "/v1/workers/%s/position", CMD_ROLE_GATEWAY},
    {'s', EVHTTP_REQ_POST, "/v1/workers/%s/status", CMD_ROLE_GATEWAY},
    {'b', EVHTTP_REQ_POST, "/v1/positions", CMD_ROLE_GATEWAY},
    {'c', EVHTTP_REQ_POST, "/v1/requests", CMD_ROLE_PLATFORM},
    {'r', EVHTTP_REQ_GET, "/v1/requests/%s", CMD_ROLE_PLATFORM},
    {'x', EVHTTP_REQ_POST, "/v1/requests/%s/cancel", CMD_ROLE_PLATFORM},
    {'d', EVHTTP_REQ_POST, "/v1/requests/%s/complete", CMD_ROLE_PLATFORM},
    {'a', EVHTTP_REQ_POST, "/v1/requests/%s/accept", CMD_ROLE_GATEWAY},
    {'j', EVHTTP_REQ_POST, "/v1/requests/%s/reject", CMD_ROLE_GATEWAY},
    {'w', EVHTTP_REQ_GET, "/v1/weights", CMD_ROLE_OPERATOR},
    {'W', EVHTTP_REQ_PUT, "/v1/weights", CMD_ROLE_OPERATOR},
    {'m', EVHTTP_REQ_GET, "/metrics", CMD_ROLE_METRICS},
    {'h', EVHTTP_REQ_GET, "/healthz", CMD_ROLE_METRICS},
    {'y', EVHTTP_REQ_GET, "/readyz", CMD_ROLE_METRICS},
    {'n', EVHTTP_REQ_POST, "/v1/nothing/%s", CMD_ROLE_PLATFORM},
    {'M', EVHTTP_REQ_DELETE, "/v1/requests/%s", CMD_ROLE_PLATFORM},
};
#define N_ROUTES (sizeof routes / sizeof *routes)

/* Raw path segments: the matcher URL-decodes them. */
static const char *const ids[8] = {
    "w1",
    "w2",
    "r1",
    "r2",
    "w%31" /* w1 */,
    "a%20b",
    "%00" /* refused: a NUL */,
    "x123456789012345678901234567890123456789012345678901234567890123"
    /* 64 bytes: one too many */};

static const char *const tokens[CMD_ROLE_COUNT] = {
    "platform-token-0123456789", "gateway-token-0123456789",
    "operator-token-0123456789", "metrics-token-0123456789"};

/* The daemon's settings: a file as docs/daemon.md has it, with a batch
 * window of 0 (every call may be followed by a batch), a small budget, and
 * small tables (live requests, history, the event queue), which makes a
 * fresh engine cheap and their limits reachable. */
static const char config_text[] = "[server]\n"
                                  "max_body_bytes = 65536\n"
                                  "[store]\n"
                                  "weights_file =\n"
                                  "[batch]\n"
                                  "window_ms = 0\n"
                                  "solve_budget_ms = 5\n"
                                  "offer_ttl_ms = 60000\n"
                                  "max_live = 16\n"
                                  "history = 8\n"
                                  "[services]\n"
                                  "fall_alarm = nurse|caregiver\n"
                                  "wound_care = nurse+rehab\n"
                                  "bedridden_transfer = caregiver*2\n"
                                  "[tokens]\n"
                                  "platform = platform-token-0123456789\n"
                                  "gateway = gateway-token-0123456789\n"
                                  "operator = operator-token-0123456789\n"
                                  "metrics = metrics-token-0123456789\n";

static cmd_config config;
/* /dev/null: the --trace line is made too, its elder ids pseudonymised */
static cmd_trace *trace_sink;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  char msg[512];
  (void)argc;
  (void)argv;
  if (cmd_config_parse(config_text, "fuzz_daemon", &config, msg, sizeof msg)) {
    fprintf(stderr, "fuzz_daemon: %s\n", msg);
    abort();
  }
  config.engine.clock = cmd_mono_ns;
  config.engine.event_queue = 16;
  trace_sink =
      cmd_trace_open("/dev/null", "fuzz-pseudonym-key-0123", msg, sizeof msg);
  if (!trace_sink) {
    fprintf(stderr, "fuzz_daemon: %s\n", msg);
    abort();
  }
  return 0;
}

static const fuzz_route *route_of(uint8_t b) {
  for (size_t i = 0; i < N_ROUTES; i++)
    if (routes[i].letter == (char)b)
      return &routes[i];
  return &routes[b % N_ROUTES];
}

/* One call: p[0..n) is route, id, flags and the body. */
static void call(cmd_daemon *d, const uint8_t *p, size_t n) {
  if (n < 3)
    return;
  const fuzz_route *r = route_of(p[0]);
  char path[256], raw[200];
  const char *id = ids[p[1] % 8];
  const uint8_t *body = p + 3;
  if (p[1] & 0x80) { /* the id is raw input, up to a space */
    size_t k = 0;
    while (body < p + n && *body != ' ' && k < sizeof raw - 1) {
      if (*body)
        raw[k++] = (char)*body;
      body++;
    }
    raw[k] = '\0';
    body += body < p + n;
    id = raw;
  }
  snprintf(path, sizeof path, r->path, id);
  struct evhttp_request *req = evhttp_request_new(NULL, NULL);
  if (!req)
    return;
  struct evkeyvalq *h = evhttp_request_get_input_headers(req);
  char auth[CMD_TOKEN_MAX + 16];
  switch (p[2] & 3) {
  case 0:
    snprintf(auth, sizeof auth, "Bearer %s", tokens[r->role]);
    break;
  case 1:
    auth[0] = '\0';
    break;
  case 2:
    snprintf(auth, sizeof auth, "Bearer not-a-token-0123456789");
    break;
  default:
    snprintf(auth, sizeof auth, "Bearer %s", tokens[CMD_ROLE_METRICS]);
  }
  if (auth[0])
    evhttp_add_header(h, "Authorization", auth);
  evhttp_add_header(h, "Content-Type",
                    p[2] & 4 ? "text/plain" : "application/json");
  if (body < p + n)
    evbuffer_add(evhttp_request_get_input_buffer(req), body,
                 (size_t)(p + n - body));
  int code = cmd_http_dispatch(d, req, r->method, path); /* frees req */
  if (code == 0 || code >= 500) {
    fprintf(stderr, "fuzz_daemon: %s answered %d\n", path, code);
    abort();
  }
}

/* A batch when the engine is due, as the daemon's timer would run it. */
static void step(cmd_region *r) {
  cm_error err;
  int64_t now = cmd_now_ms();
  if (cm_engine_next_due(r->eng) <= now)
    cm_engine_step(r->eng, now, NULL, &err);
  cmd_events_pump(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cmd_daemon *d = calloc(1, sizeof *d);
  cm_error err;
  if (!d)
    return 0;
  d->cfg = config;
  d->trace = trace_sink;
  d->started_ms = cmd_now_ms();
  if (cmd_regions_new(d) != 0)
    abort();
  cmd_region *r = &d->regions[0];
  r->weights_version = 1;
  if (!(r->store = cm_store_memory_new(0)) ||
      !(r->eng = cm_engine_new(&d->cfg.engine, r->store, &err))) {
    fprintf(stderr, "fuzz_daemon: cannot start the engine\n");
    abort();
  }
  const uint8_t *p = data, *end = data + size;
  for (int k = 0; k < MAX_CALLS && p < end; k++) {
    const uint8_t *q = p;
    size_t left = (size_t)(end - p), sep = sizeof SEP - 1;
    while (left >= sep && memcmp(q, SEP, sep) != 0) {
      q++;
      left--;
    }
    if (left < sep)
      q = end;
    call(d, p, (size_t)(q - p));
    step(r);
    p = q == end ? end : q + sep;
  }
  cm_engine_free(r->eng);
  cmd_kpis_free(r->kpis); /* the console's KPI ring (kpis.c) */
  cm_store_free(r->store);
  free(d->regions);
  free(d);
  cm_solve_thread_cleanup(); /* GLPK's environment: no leak per input */
  return 0;
}
