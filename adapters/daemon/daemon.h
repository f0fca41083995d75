/* daemon.h -- carematchd, the HTTP/JSON daemon: what its files share.
 *
 * One libevent loop serves HTTP (evhttp), drives the engine with a timer
 * and hands each batch's solve to a solver thread (solver.c), whose answer
 * comes back through a pipe; the engine is only ever touched on the loop.
 * Files: config.c (the INI file), main.c (flags, signals, start, drain),
 * edge.c (framing each request before evhttp parses it), http.c
 * (routing, roles, replies), routes_*.c (the endpoints), api_json.c
 * (the wire format), events.c (server-sent events), metrics.c (Prometheus
 * text), weights.c (versioned, persisted weights). */
#ifndef CMD_DAEMON_H_INCLUDED_
#define CMD_DAEMON_H_INCLUDED_

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "carematch/engine.h"
#include "carematch/redis.h"

struct event_base;
struct event;
struct evhttp;
struct evhttp_bound_socket;
struct evhttp_request;

/* ---- roles ---- */

typedef enum cmd_role {
  CMD_ROLE_PLATFORM = 0, /* dispatch platforms: requests, workers, events */
  CMD_ROLE_GATEWAY,      /* worker gateways: positions, shifts, answers */
  CMD_ROLE_OPERATOR,     /* operators: weights, reading */
  CMD_ROLE_METRICS,      /* scrapers: /metrics */
  CMD_ROLE_COUNT
} cmd_role;

#define CMD_ROLE_BIT(r) (1u << (r))
#define CMD_TOKENS_MAX 8  /* tokens per role */
#define CMD_TOKEN_MAX 128 /* bytes of a token, with the NUL */
#define CMD_SERVICES_MAX 64
#define CMD_NAME_MAX 48

const char *cmd_role_name(cmd_role r);

/* ---- configuration (config.c) ---- */

typedef struct cmd_service {
  char name[CMD_NAME_MAX]; /* a work item: "fall_alarm" */
  cm_skillset skills;      /* the roles it needs */
  cm_skill_mode mode;      /* "nurse|caregiver": any; "escort": all */
  int staff;               /* people by default (1) */
} cmd_service;

typedef struct cmd_config {
  char path[512];      /* the file it came from ("" none) */
  char listen[64];     /* address to bind (127.0.0.1) */
  int port;            /* TCP port (8080; 0: any free one) */
  long max_body;       /* bytes of a request body at most (1 MiB) */
  int auth;            /* bearer tokens required (1) */
  int max_sse_clients; /* event streams at once (64) */
  long sse_buffer_max; /* bytes queued to one stream before it is
                          dropped (4 MiB) */
  char redis_url[256]; /* "" the memory store; redis://host:port */
  char region[CM_REDIS_REGION_MAX + 1]; /* Redis region ("default") */
  char weights_file[512];  /* memory store: where weights persist */
  int sweep_ms;            /* Redis: stale sweep period (10000; 0 off) */
  int64_t pause_retry_ms;  /* retry after the ledger failed (250) */
  cm_engine_config engine; /* taxonomy, weights, params, batch policy */
  int n_services;
  cmd_service services[CMD_SERVICES_MAX];
  int n_tokens[CMD_ROLE_COUNT];
  char tokens[CMD_ROLE_COUNT][CMD_TOKENS_MAX][CMD_TOKEN_MAX];
} cmd_config;

/* Defaults (no file). */
void cmd_config_default(cmd_config *c);
/* Read path into c (defaults first). Returns 0, or -1 with a message in
 * msg naming the line, section and key, and what is wrong. */
int cmd_config_load(const char *path, cmd_config *c, char *msg, size_t n);
/* The same from the NUL-terminated text of a file; name stands for the
 * file in messages, and c->path is left empty (nothing to reload). */
int cmd_config_parse(const char *text, const char *name, cmd_config *c,
                     char *msg, size_t n);
/* A service by name, or NULL. */
const cmd_service *cmd_config_service(const cmd_config *c, const char *name);

/* ---- the daemon ---- */

#define CMD_ROUTES_MAX 32
#define CMD_CODES 17 /* HTTP codes counted per route (metrics.c) */

typedef struct cmd_daemon cmd_daemon;

typedef struct cmd_sse {
  struct evhttp_request *req; /* the open stream */
  cmd_daemon *d;
  int dead; /* the client went away; ended on the next loop turn */
  struct cmd_sse *next;
} cmd_sse;

struct cmd_daemon {
  cmd_config cfg;
  struct event_base *base;
  struct evhttp *http;
  struct evhttp_bound_socket *sock;
  int port; /* bound */
  /* state */
  cm_store *store; /* memory: the store; Redis: the mirror */
  cm_redis *redis; /* NULL: memory store */
  cm_ledger *ledger;
  cm_store *redis_store; /* sweeps (Redis) */
  cm_engine *eng;
  uint64_t weights_version;
  /* engine driving */
  struct event *step_ev;  /* the timer */
  struct event *done_ev;  /* the solver's answer arrived (pipe) */
  struct event *sweep_ev; /* Redis stale sweep */
  int paused;             /* the ledger failed: dispatch waits */
  char pause_why[160];
  /* the solver thread */
  pthread_t solver;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  cm_engine_batch *job;    /* handed to the solver */
  int job_done;            /* the solver finished job */
  int quit;                /* the solver should stop */
  int pipe_rd, pipe_wr;    /* the solver writes a byte when done */
  cm_engine_batch *flying; /* begun, not yet ended */
  /* events */
  cmd_sse *sse;
  int n_sse;
  struct event *heartbeat_ev;
  uint64_t events_sent, sse_dropped;
  /* lifecycle */
  int draining;
  struct event *drain_ev;
  struct event *sig_ev[3];
  uint64_t reloads, reload_failures;
  /* metrics */
  uint64_t http_count[CMD_ROUTES_MAX + 1][CMD_CODES];
  uint64_t positions;
  int64_t started_ms;
  FILE *trace; /* --trace: the input trace, or NULL */
  uint64_t trace_errors;
};

/* The daemon's clock in ms (the engine's time: the wall clock, or a
 * simulated one), and the monotonic clock in ns (the solver's budget, a
 * cm_clock_fn). clock.c. */
int64_t cmd_now_ms(void);
int64_t cmd_mono_ns(void *ctx);
/* From now on the clock reads start_ms and runs rate times as fast. */
void cmd_clock_simulate(int64_t start_ms, double rate);
/* How many times as fast as real time the clock runs (1: the wall). */
double cmd_clock_rate(void);

/* engine driving (solver.c) */
int cmd_solver_start(cmd_daemon *d);
void cmd_solver_stop(cmd_daemon *d);
/* Something changed: make sure the timer fires when the engine is due. */
void cmd_kick(cmd_daemon *d);
/* Stop taking work: end once the batch in flight is committed, the events
 * are out and the streams closed. */
void cmd_drain(cmd_daemon *d);

/* events (events.c) */
int cmd_events_start(cmd_daemon *d);
void cmd_events_pump(cmd_daemon *d);
void cmd_events_close_all(cmd_daemon *d);

/* weights (weights.c) */
int cmd_weights_load(cmd_daemon *d, char *msg, size_t n);
cm_status cmd_weights_save(cmd_daemon *d, const cm_weights *w, uint64_t version,
                           cm_error *err);

/* http (http.c) */
int cmd_http_start(cmd_daemon *d, char *msg, size_t n);
void cmd_http_stop_accepting(cmd_daemon *d);
/* The routes, for --routes and the OpenAPI test: "GET /v1/..." lines. */
void cmd_http_print_routes(void);

#endif
