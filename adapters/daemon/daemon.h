/* daemon.h -- carematchd, the HTTP/JSON daemon: what its files share.
 *
 * One libevent loop serves HTTP (evhttp), drives the engine with a timer
 * and hands each batch's solve to a solver thread (solver.c), whose answer
 * comes back through a pipe; the engine is only ever touched on the loop.
 * Files: config.c (the INI file), main.c (flags, signals, start, drain),
 * edge.c (framing each request before evhttp parses it), http.c
 * (routing, roles, replies), routes_*.c (the endpoints), api_json.c
 * (the wire format), events.c (server-sent events), metrics.c (Prometheus
 * text), loop_watch.c (the loop-stall trace), weights.c (versioned, persisted
 * weights), trace.c (the input trace, pseudonyms with hmac_sha256.c),
 * regions.c (the regions served: each region's state is a cmd_region of
 * its own). */
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
struct json_t;

/* ---- roles ---- */

typedef enum cmd_role {
  CMD_ROLE_PLATFORM = 0, /* dispatch platforms: requests, workers, events */
  CMD_ROLE_GATEWAY,      /* worker gateways: positions, shifts, answers */
  CMD_ROLE_OPERATOR,     /* operators: weights, reading */
  CMD_ROLE_METRICS,      /* scrapers: /metrics */
  CMD_ROLE_COUNT
} cmd_role;

#define CMD_ROLE_BIT(r) (1u << (r))
#define CMD_TOKENS_MAX 32 /* tokens per role */
#define CMD_TOKEN_MAX 128 /* bytes of a token, with the NUL */
#define CMD_SERVICES_MAX 64
#define CMD_TRACE_KEY_MAX 257 /* bytes of the trace key, with the NUL */
#define CMD_NAME_MAX 48
#define CMD_REGIONS_MAX 64 /* regions one daemon serves at most */

const char *cmd_role_name(cmd_role r);

/* ---- the region's lease: configuration (lease.c, docs/ha.md) ---- */

typedef struct cmd_lease_config {
  int enabled;   /* [lease] enabled: 1 runs batches only while holding the
                    region's lease (needs Redis); 0 (default): always */
  int ttl_ms;    /* [lease] ttl_ms: the lease's time to live (3000) */
  int renew_ms;  /* [lease] renew_ms: renewal period (0: ttl_ms / 3) */
  int margin_ms; /* [lease] margin_ms: the holder stops starting batches
                    this long before its lease could expire (0: ttl/5) */
  char id[CM_REDIS_LEASE_HOLDER_MAX]; /* [lease] id ("": host:pid) */
  char prefer[1024]; /* [lease] prefer = a,b: the regions this daemon
                        takes at once; the others only after they have
                        been free for ttl_ms ("": every region at once) */
} cmd_lease_config;

/* One key of [lease] into c. Returns NULL, or what is wrong with it. */
const char *cmd_lease_config_key(cmd_lease_config *c, const char *name,
                                 const char *v);

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
  char redis_url[256]; /* "" the memory store; redis://[[user]:password@]
                          host:port[/db] (redis_link.c) */
  char redis_password_file[512]; /* the Redis password's file ("" none;
                                    read once at start, 0600/0400) */
  int64_t record_keep_ms;        /* Redis: a finished request's record is kept
                                    this long (7 days; 0: for ever) */
  int events_max;                /* Redis: about this many events kept in
                                    cm:{region}:events (100000) */
  char region[CM_REDIS_REGION_MAX + 1]; /* Redis region ("default"): the
                                           first of regions */
  int n_regions;      /* regions served (1..CMD_REGIONS_MAX) */
  int regions_listed; /* [store] regions was given: metrics carry
                         region="..." labels */
  char regions[CMD_REGIONS_MAX][CM_REDIS_REGION_MAX + 1]; /* [store]
                        regions = a,b,c (or region = a): the first is the
                        default region of the un-prefixed routes */
  char weights_file[512]; /* memory store: where weights persist */
  int sweep_ms;           /* Redis: stale sweep period (10000; 0 off) */
  int64_t pause_retry_ms; /* retry after the ledger failed (250) */
  cm_ledger_redis_options ledger_opt; /* Redis: [store] durability,
                                         durability_replicas,
                                         durability_timeout_ms */
  int positions_durable;              /* Redis: [store] positions_ack = durable
                                         (the default; 0: queued, positions.c) */
  int64_t positions_pending_max;      /* Redis: [store] positions_pending_max:
                                         positions answered before Redis took
                                         them, at most (20000) */
  cm_engine_config engine; /* taxonomy, weights, params, batch policy */
  int n_services;
  cmd_service services[CMD_SERVICES_MAX];
  int n_tokens[CMD_ROLE_COUNT];
  char tokens[CMD_ROLE_COUNT][CMD_TOKENS_MAX][CMD_TOKEN_MAX];
  /* who holds each token: [operators] name = token gives an operator
     token its name (the actor of the operator's events); "" unnamed */
  char token_names[CMD_ROLE_COUNT][CMD_TOKENS_MAX][CMD_NAME_MAX];
  char trace_file[512];   /* [trace] file: the input trace ("" none) */
  int trace_pseudonymise; /* elder ids in the trace are keyed hashes */
  char trace_key[CMD_TRACE_KEY_MAX]; /* their key ("" none); a secret */
  cmd_lease_config lease;            /* [lease] (lease.c) */
  char console_dir[512]; /* [console] dir: the console's files ("": next to
                            the binary, or the install's; console.c) */
  int console_off;       /* [console] dir = off: no console */
} cmd_config;

/* Defaults (no file). */
void cmd_config_init(cmd_config *c);
/* Read path into c (defaults first). Returns 0, or -1 with every error in
 * msg, one a line ("file:LINE: [section] key: what is wrong"; cut at n
 * bytes). Tokens are not required here (see cmd_config_check_auth). */
int cmd_config_load(const char *path, cmd_config *c, char *msg, size_t n);
/* With auth on, at least one token is needed. Returns 0, or -1 with msg. */
int cmd_config_check_auth(const cmd_config *c, char *msg, size_t n);
/* The same from the NUL-terminated text of a file; name stands for the
 * file in messages, and c->path is left empty (nothing to reload). */
int cmd_config_parse(const char *text, const char *name, cmd_config *c,
                     char *msg, size_t n);
/* [store] regions = a,b,c into c (c->region the first). Returns NULL, or
 * what is wrong with v. */
const char *cmd_config_regions(cmd_config *c, const char *v);
/* A service by name, or NULL. */
const cmd_service *cmd_config_service(const cmd_config *c, const char *name);

/* ---- the daemon ---- */

#define CMD_ROUTES_MAX 48
#define CMD_CODES 17         /* HTTP codes counted per route (metrics.c) */
#define CMD_METHODS 10       /* methods counted for unmatched calls (http.c) */
#define CMD_BATCH_BUCKETS 14 /* requests-per-batch buckets (metrics.c) */

typedef struct cmd_daemon cmd_daemon;

/* ---- the loop-stall trace (loop_watch.c) ---- */

#define CMD_STALL_MS 5      /* a watched piece longer than this is a stall */
#define CMD_TURN_BUCKETS 13 /* loop-turn busy-time buckets (the last +Inf) */

typedef enum cmd_cause { /* what held the loop */
                         CMD_CAUSE_FOLLOW =
                             0, /* following other writers (and a rebuild) */
                         CMD_CAUSE_BATCH_BEGIN, /* a batch's begin: expiries,
                                                   candidates */
                         CMD_CAUSE_BATCH_END,   /* a batch's end: its offers
                                                   proposed */
                         CMD_CAUSE_COMPLETION,  /* a batch's offers' completion
                                                 */
                         CMD_CAUSE_SWEEP,       /* the stale sweep (Redis) */
                         CMD_CAUSE_RECONNECT,   /* the loop connection's connect
                                                   between turns */
                         CMD_CAUSE_WEIGHTS,     /* weights written or read (PUT
                                                   /v1/weights) */
                         CMD_CAUSE_HTTP_WORKERS,   /* worker writes and reads */
                         CMD_CAUSE_HTTP_POSITIONS, /* position uploads, single
                                                      and bulk */
                         CMD_CAUSE_HTTP_REQUESTS, /* request calls (their writes
                                                     are proposals) */
                         CMD_CAUSE_HTTP_OTHER,    /* every other route */
                         CMD_CAUSE_COUNT
} cmd_cause;

typedef struct cmd_watch {
  uint64_t stalls[CMD_CAUSE_COUNT];  /* pieces over CMD_STALL_MS */
  uint64_t busy_ns[CMD_CAUSE_COUNT]; /* time the loop spent on each */
  int64_t max_ns[CMD_CAUSE_COUNT];   /* the longest piece of each */
  uint64_t turns[CMD_TURN_BUCKETS];  /* loop turns by busy time */
  double turn_sum, turn_max;         /* seconds */
  uint64_t turn_n;
} cmd_watch;

const char *cmd_cause_name(cmd_cause c);
/* The turn histogram's upper bounds (seconds), CMD_TURN_BUCKETS - 1. */
const double *cmd_turn_bounds(void);
/* Start timing a piece of work on the loop; returns its start for
 * cmd_watch_end (which counts it under cause c). */
int64_t cmd_watch_begin(cmd_daemon *d);
void cmd_watch_end(cmd_daemon *d, cmd_cause c, int64_t t0);
/* A piece of cause c that a library's callback ran before calling back
 * into the daemon (the follow applied in the ledger's reply callback):
 * from the end of the turn's last watched piece (or of its wait) to now,
 * an upper bound. */
void cmd_watch_since_turn(cmd_daemon *d, cmd_cause c);
/* After each loop turn (main.c): the turn's busy time into the histogram. */
void cmd_watch_turn(cmd_daemon *d);

/* One region the daemon serves (docs/daemon.md, "Regions"): its own
 * store or mirror, Redis connections, ledger, engine, lease, solver
 * thread and batches. Every region is independent: a daemon may lead
 * some regions and stand by for others. */
typedef struct cmd_region {
  cmd_daemon *d;                        /* the daemon */
  int index;                            /* in d->regions */
  char name[CM_REDIS_REGION_MAX + 1];   /* the region */
  char label[CM_REDIS_REGION_MAX + 16]; /* metrics: 'region="name"' or "" */
  cm_store *store;       /* memory: the store; Redis: the mirror */
  cm_redis *redis;       /* NULL: memory store */
  cm_redis *redis_loop;  /* Redis: the ledger's proposals, on base (the
                            requests' writes, docs/async.md); NULL memory */
  cm_redis *redis_lease; /* Redis with [lease]: the renewals, on base,
                            without waiting (lease.c); NULL none */
  int loop_up;           /* redis_loop was ready at the last turn's end
                            (redis_link.c: a reconnect puts the sweep off) */
  cm_ledger *ledger;
  cm_store *redis_store;  /* sweeps (Redis) */
  int recovered;          /* Redis: the state was rebuilt from it (at start, or
                             when Redis came); until then only /healthz, /readyz
                             and /metrics answer, the rest 503 */
  char redis_logged[256]; /* the last recovery failure logged */
  cm_engine *eng;
  uint64_t weights_version;
  int weights_saving;    /* Redis: a PUT's or a reload's SET in flight
                            (weights.c) */
  int recover_asked;     /* Redis: a step was asked for the recovery's
                            rebuild and has not run yet (settle waits) */
  int weights_loading;   /* Redis: the recovery's GET of the weights in
                            flight (redis_link.c): not ready, no batch */
  char recover_why[160]; /* why the recovery failed last, for /readyz
                            (no address) */
  int sweeping;          /* Redis: a stale sweep in flight (main.c) */
  /* engine driving */
  struct event *step_ev;  /* the timer */
  struct event *done_ev;  /* the solver's answer arrived (pipe) */
  struct event *cont_ev;  /* the next part of a batch's begin (solver.c) */
  struct event *sweep_ev; /* Redis stale sweep */
  int64_t sweep_after_ms; /* no sweep before (daemon clock): stale_ms after
                             the lease was taken or the writes' connection
                             came back, positions could not be written
                             meanwhile (main.c, on_sweep) */
  int paused;             /* the ledger failed: dispatch waits */
  char pause_why[160];
  /* the solver thread */
  pthread_t solver;
  int solver_started; /* the thread runs */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  cm_engine_batch *job;    /* handed to the solver */
  int job_done;            /* the solver finished job */
  int quit;                /* the solver should stop */
  int pipe_rd, pipe_wr;    /* the solver writes a byte when done */
  cm_engine_batch *flying; /* begun, not yet ended */
  int following;           /* the step's follow is in flight (Redis) */
  int in_step;             /* inside on_step's cm_engine_sync_async */
  int holding;             /* Redis: an emergency's batch holds the position
                              writes back until its offers are answered
                              (solver.c urgent_begin, on_offers) */
  int urgent_writes;       /* Redis: emergencies' creates proposed, not yet
                              completed (solver.c, cmd_urgent_written) */
  int64_t step_at_ns;      /* monotonic ns when step_ev fires (solver.c
                              arm: a kick never puts a step off) */
  int64_t followed_ns;     /* monotonic ns of the last follow that
                              succeeded (0 none): an emergency's batch
                              begins without one when it is recent */
  cm_status followed_st;   /* its outcome when it completed at once */
  cm_error followed_err;   /* */
  /* metrics */
  uint64_t batch_sizes[CMD_BATCH_BUCKETS]; /* requests per batch (not
                                              cumulative; metrics.c) */
  uint64_t batch_requests;                 /* their sum */
  uint64_t positions;
  int64_t positions_pending; /* answered, not yet taken by Redis
                                (positions.c) */
  uint64_t positions_lost;   /* answered, then not taken by Redis */
  int64_t lost_logged_ns;    /* monotonic ns of the last log line of it */
  uint64_t lost_unlogged;    /* lost since that line */
  cm_status lost_why;        /* the last loss's code */
  int lost_armed;            /* a timer logs lost_unlogged */
  uint64_t events_sent;
  struct cmd_lease *lease; /* [lease] enabled: the region's lease */
  struct cmd_kpis *kpis;   /* the last hour's KPI samples (kpis.c; NULL
                              until the first) */
} cmd_region;

typedef struct cmd_sse {
  struct evhttp_request *req; /* the open stream */
  cmd_daemon *d;
  cmd_region *r; /* the region whose events it carries */
  int dead;      /* the client went away; ended on the next loop turn */
  struct cmd_sse *next;
} cmd_sse;

struct cmd_daemon {
  cmd_config cfg;
  struct event_base *base;
  struct evhttp *http;
  struct evhttp_bound_socket *sock;
  int port;            /* bound */
  cmd_region *regions; /* cfg.n_regions of them; regions[0] the default */
  int n_regions;
  /* events */
  cmd_sse *sse;
  int n_sse;
  struct event *heartbeat_ev;
  uint64_t sse_dropped;
  /* lifecycle */
  int draining;
  struct event *drain_ev;
  struct event *sig_ev[3];
  uint64_t reloads, reload_failures;
  /* metrics */
  uint64_t http_count[CMD_ROUTES_MAX + 1][CMD_CODES];
  uint64_t http_unmatched[CMD_METHODS][CMD_CODES]; /* no route, by method */
  cmd_watch watch;                                 /* the loop-stall trace */
  int64_t turn_start_ns, turn_end_ns; /* this turn's (wall clock) */
  int64_t started_ms;
  struct cmd_trace *trace;   /* --trace: the input trace, or NULL */
  struct cmd_whatif *whatif; /* the what-if's thread and pipe (whatif.c),
                                made by the first one; NULL before */
};

/* The region named name (NULL: none such). regions.c */
cmd_region *cmd_region_find(cmd_daemon *d, const char *name);
/* d->regions for d->cfg's list, each with name, label and back pointer
 * (nothing opened). Returns 0, or -1 out of memory. */
int cmd_regions_new(cmd_daemon *d);
/* 1 when every region of d is done with its batch in flight and its
 * writes (draining). */
int cmd_regions_idle(const cmd_daemon *d);

/* The daemon's clock in ms (the engine's time: the wall clock, or a
 * simulated one), and the monotonic clock in ns (the solver's budget, a
 * cm_clock_fn). clock.c. */
int64_t cmd_now_ms(void);
int64_t cmd_mono_ns(void *ctx);
/* From now on the clock reads start_ms and runs rate times as fast. */
void cmd_clock_simulate(int64_t start_ms, double rate);
/* How many times as fast as real time the clock runs (1: the wall). */
double cmd_clock_rate(void);

/* the what-if (whatif.c; docs/daemon.md, "What if"): the replays of the
 * trace, one at a time, off the loop. A replay holds at most this many
 * requests, the latest of its window, and gives up after this long. */
#define CMD_WHATIF_MAX_REQUESTS 5000
#define CMD_WHATIF_DEADLINE_S 60
typedef struct cmd_whatif cmd_whatif;
/* 1 while a replay runs. */
int cmd_whatif_running(const cmd_whatif *w);
/* Into out: running (0/1), replays finished, refused while one ran. w may
 * be NULL (none yet: all 0). */
void cmd_whatif_counts(const cmd_whatif *w, uint64_t out[3]);
/* Draining: a replay under way gives up at once (its call is answered
 * 503 from the loop, then the drain goes on). NULL is accepted. */
void cmd_whatif_abort(cmd_whatif *w);
/* Stop: wait for a replay under way (its call is answered 503) and free
 * w. NULL is accepted. */
void cmd_whatif_free(cmd_whatif *w);

/* the input trace (trace.c; docs/daemon.md) */
typedef struct cmd_trace cmd_trace;
#define CMD_PSEUDONYM_LEN 34 /* "p", 32 hex digits, NUL */
#define CMD_TRACE_KEY_RULE "a key must be 16..256 bytes, no control characters"
/* 0 when key may be a pseudonym key, -1 otherwise. */
int cmd_trace_key_check(const char *key);
/* out = the pseudonym of id under key. */
void cmd_trace_pseudonym(const char *key, const char *id,
                         char out[CMD_PSEUDONYM_LEN]);
/* Open path for appending (created 0600; a warning in the log when an
 * existing file can be read by others). key: elder ids are pseudonymised
 * under it (NULL: kept). Returns the trace, or NULL with msg. */
cmd_trace *cmd_trace_open(const char *path, const char *key, char *msg,
                          size_t n);
/* Append line (borrowed; NULL counts a line lost, as for out of memory):
 * {"at_ms", "route", "id", "body", "resolved"}. A line not written is
 * counted and reported in the log. t NULL: nothing. */
void cmd_trace_write(cmd_trace *t, struct json_t *line);
/* Open the path again (SIGHUP: after logrotate moved the file). Returns 0,
 * or -1 (logged) with the old file kept. */
int cmd_trace_reopen(cmd_trace *t);
/* Lines lost so far (0 for NULL). */
uint64_t cmd_trace_lost(const cmd_trace *t);
/* Close (the losses, if any, in the log); NULL is fine. */
void cmd_trace_close(cmd_trace *t);

/* Redis (redis_link.c): the connections, the ledger and the Redis store
 * for cfg's redis URL (and the memory store or mirror either way); the
 * password from the URL, redis_password_file or $CAREMATCH_REDIS_PASSWORD.
 * Two connections: one on a private loop for the synchronous calls
 * (recovery, reads, workers, batches), one on d->base for the requests'
 * writes (the ledger's proposals). d->base must exist. Redis need not be
 * up. Returns 0, or -1 with msg (a bad URL or password file, out of
 * memory). */
int cmd_redis_open(cmd_region *r, char *msg, size_t n);
/* Between two turns of the loop (outside every callback): start the
 * connect of the loop's connections (writes, lease) when one is down and
 * its backoff allows, without waiting (cm_redis_connect_async). */
void cmd_redis_between_turns(cmd_daemon *d);
/* Until the state is rebuilt from Redis: try (sync the engine, load the
 * weights). Called at start and after each step whose sync succeeded;
 * logs the outcome once per change. Nothing with the memory store. */
void cmd_redis_recover(cmd_region *r, int synced);
/* Why the daemon is not ready because of Redis (in buf, or static), or
 * NULL when it is. */
const char *cmd_redis_not_ready(const cmd_region *r, char *buf, size_t n);
/* Overwrite n bytes at p with zeros (a secret no longer needed). */
void cmd_wipe(void *p, size_t n);
/* cfg's Redis URL for the log, the password masked (into buf). */
const char *cmd_redis_url_masked(const cmd_daemon *d, char *buf, size_t n);

/* engine driving (solver.c) */
int cmd_solver_start(cmd_region *r);
void cmd_solver_stop(cmd_region *r);
/* Something changed: make sure the timer fires when the engine is due. */
void cmd_kick(cmd_region *r);
/* Step at the next loop turn (not when the engine says it is due): a
 * write just proposed is due once applied (solver.c). */
void cmd_step_now(cmd_region *r);
/* Redis: an emergency's create was proposed (cmd_urgent_proposed) or has
 * completed (cmd_urgent_written). */
void cmd_urgent_proposed(cmd_region *r);
void cmd_urgent_written(cmd_region *r, int ok);
/* Redis: an emergency's create was just proposed: its batch begins now,
 * without a follow when the last one is recent (the engine takes the
 * emergency with its create in flight and its offers go behind it,
 * docs/async.md "one durable write"), else at the next step. */
void cmd_urgent_step(cmd_region *r);
/* Stop taking work: end once the batch in flight is committed, the events
 * are out and the streams closed. */
void cmd_drain(cmd_daemon *d);

/* the emergency path's stage trace (stage.c; off unless
 * CAREMATCHD_STAGE_TRACE names a file): 1 when on (the first call reads
 * the environment). A line: stage, an emergency's internal number or a
 * batch's, two figures; nothing personal. */
int cmd_stage_on(void);
void cmd_stage(const char *stage, uint64_t a, long long b, long long c);
/* An emergency's POST (call: its write's call, until "applied"). */
void cmd_stage_recv(const cmd_region *r, const void *call);
/* A stage of the emergency written by call (none: nothing). */
void cmd_stage_call(const char *stage, const void *call, long long b);
/* A stage of r's batches ("begin" counts a new one). */
void cmd_stage_region(const char *stage, const cmd_region *r);
/* Trace r's groups of proposals too (Redis). */
void cmd_stage_watch(cmd_region *r);

/* the region's lease (lease.c, docs/ha.md) */
/* With [lease] enabled: check the configuration against the rest, name
 * this daemon, try to take the lease at once and renew it every renew_ms
 * (a timer on d->base). Nothing when disabled. Returns 0, or -1 with msg. */
int cmd_lease_start(cmd_region *r, char *msg, size_t n);
/* Release the lease when held (a standby takes it at once) and free. */
void cmd_lease_stop(cmd_region *r);
/* 1 when this daemon may start a batch: no lease configured, or it holds
 * the lease and its deadline (last renewal sent + ttl - margin, on the
 * monotonic clock) has not passed. */
int cmd_lease_leads(const cmd_region *r);
/* "leader" or "standby" ("" without a lease), and the JSON of GET
 * /v1/leader (a new object, NULL out of memory). */
const char *cmd_lease_role(const cmd_region *r);
struct json_t *cmd_lease_json(const cmd_region *r);
/* The lease's metrics, Prometheus text, into buf (n bytes). */
void cmd_lease_metrics(const cmd_region *r, char *buf, size_t n);
/* The steps of a takeover the solver reports (solver.c), for the log and
 * the metrics: a step after the lease was taken found the engine synced
 * (ok 1) or not (ok 0: paused, e.g. the rebuild waits for writes in
 * flight); the first batch begun; its offers committed (ok 1) or not. */
typedef enum cmd_lease_step {
  CMD_LEASE_SYNCED,
  CMD_LEASE_BEGUN,
  CMD_LEASE_COMMITTED
} cmd_lease_step;
void cmd_lease_note(cmd_region *r, cmd_lease_step step, int ok);

/* metrics (metrics.c): a batch of n requests was committed. */
void cmd_metrics_batch(cmd_region *r, uint64_t n);

/* positions.c: log the positions lost and not yet logged (teardown). */
void cmd_positions_lost_flush(cmd_region *r);

/* durability.c: log the ledger's durability level at start, with a
 * warning when the Redis server is not set up for it (docs/redis.md,
 * "Durability"). Never fails: the daemon starts either way. */
void cmd_durability_check(cmd_region *r);

/* events (events.c) */
int cmd_events_start(cmd_daemon *d);
void cmd_events_pump(cmd_region *r);
void cmd_events_close_all(cmd_daemon *d);

/* weights (weights.c) */
/* The memory store's weights file into r (none: the configured ones,
 * version 1). Returns 0, or -1 with msg. */
int cmd_weights_load(cmd_region *r, char *msg, size_t n);
/* A stored form (text; NULL: none stored, the configured ones, version
 * 1) in force in r's engine, its version r's. Returns 0, or -1 with msg
 * (nothing changed). */
int cmd_weights_apply(cmd_region *r, const char *text, char *msg, size_t n);
/* The memory store's weights file written (0600, renamed into place). */
cm_status cmd_weights_save(cmd_region *r, const cm_weights *w, uint64_t version,
                           cm_error *err);
/* A SIGHUP reload's weights w (checked) as r's next version: with Redis
 * stored on the loop's connection and in force from the SET's answer;
 * a failure is logged and the weights in force kept. */
void cmd_weights_reload(cmd_region *r, const cm_weights *w);

/* the operator console's files (console.c, docs/console.md) */
/* One key of [console] into c. Returns NULL, or what is wrong with it. */
const char *cmd_console_config_key(cmd_config *c, const char *name,
                                   const char *v);
/* The console's directory into out: [console] dir, or (not given) the
 * build tree's or the install's. Returns 0, or -1 when the console is off. */
int cmd_console_dir(const cmd_config *c, char *out, size_t n);
/* The content type of a file name the console serves, or NULL when it
 * serves no such name (a path, a dot file, an unknown type). */
const char *cmd_console_type(const char *name);

/* the last hour's KPIs (kpis.c, GET /v1/kpis): the events the region
 * emits and its batches, sampled into a ring; no ids kept. */
void cmd_kpis_event(cmd_region *r, const cm_event *ev);
/* A batch took ms (its whole time: candidates, solve, commit). */
void cmd_kpis_batch(cmd_region *r, double ms);
void cmd_kpis_free(struct cmd_kpis *k);

/* http (http.c) */
int cmd_http_start(cmd_daemon *d, char *msg, size_t n);
void cmd_http_stop_accepting(cmd_daemon *d);
/* The routes, for --routes and the OpenAPI test: "GET /v1/..." lines. */
void cmd_http_print_routes(void);

#endif
