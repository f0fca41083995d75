/* main.c -- carematchd: flags, the configuration file, the store (memory,
 * or Redis with its ledger and an in-process mirror), the engine, the
 * HTTP server, and the signals: SIGHUP reloads the file, SIGTERM and
 * SIGINT drain (stop accepting, commit the batch in flight, close the
 * event streams, exit 0). docs/daemon.md has the whole story. */
#include <event2/event.h>
#include <event2/http.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "carematch/version.h"
#include "cli_opt.h"
#include "daemon.h"

/* Exit codes (docs/cli.md): 0, 1 a failure at start, 2 the configuration
 * refused, 64 (EX_USAGE) a bad command line. */
#define EXIT_START 1
#define EXIT_CONFIG 2
#define TRACE_KEY_ENV "CAREMATCHD_TRACE_KEY"

static void usage(FILE *f) {
  fprintf(f,
          "usage: carematchd [--config FILE] [options]\n"
          "  -c, --config FILE       the configuration file (INI; man "
          "carematchd,\n"
          "                          docs/daemon.md)\n"
          "  --listen ADDR           address to listen on (127.0.0.1)\n"
          "  -p, --port N            TCP port (8080; 0 picks a free one)\n"
          "  --port-file FILE        write the port bound to FILE once "
          "listening\n"
          "  --trace FILE            append every write taken (JSON lines) to "
          "FILE,\n"
          "                          created 0600 ([trace] file)\n"
          "  --trace-pseudonymise    elder ids in the trace as keyed hashes; "
          "the key\n"
          "                          from $" TRACE_KEY_ENV " or [trace] key\n"
          "  --redis URL             redis://[user@]host:port[/db]: Redis "
          "store and\n"
          "                          ledger (a password: [store] "
          "redis_password_file\n"
          "                          or $CAREMATCH_REDIS_PASSWORD, never "
          "here)\n"
          "                          (default: the embedded memory store)\n"
          "  --region NAME           Redis region (default)\n"
          "  --no-auth               no bearer tokens (a closed network "
          "only)\n"
          "  --clock-start MS        simulated clock: starts at MS (Unix ms)\n"
          "  --clock-rate X          simulated clock: X times as fast "
          "(0.01..10000;\n"
          "                          load tests)\n"
          "  --check-config          load the configuration, list every "
          "error, exit\n"
          "  --routes                print the routes and their roles, exit\n"
          "  -h, --help              this text, exit 0\n"
          "  -V, --version           the version, exit 0\n"
          "exit status: 0 (drained on SIGTERM/SIGINT; --check-config: valid),"
          " 1 failure\n"
          "at start, 2 configuration refused, 64 bad command line.\n");
}

typedef struct flags {
  const char *config, *listen, *port_file, *redis, *region, *trace;
  int port; /* -1: from the file */
  int no_auth, check, routes, pseudonymise;
  int64_t clock_start; /* -1: now */
  double clock_rate;   /* 0: the wall clock */
} flags;

enum {
  OPT_LISTEN = 256,
  OPT_PORT_FILE,
  OPT_TRACE,
  OPT_PSEUDONYMISE,
  OPT_REDIS,
  OPT_REGION,
  OPT_NO_AUTH,
  OPT_CLOCK_START,
  OPT_CLOCK_RATE,
  OPT_CHECK,
  OPT_ROUTES
};

static const struct option daemon_options[] = {
    {"config", required_argument, NULL, 'c'},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"port", required_argument, NULL, 'p'},
    {"port-file", required_argument, NULL, OPT_PORT_FILE},
    {"trace", required_argument, NULL, OPT_TRACE},
    {"trace-pseudonymise", no_argument, NULL, OPT_PSEUDONYMISE},
    {"redis", required_argument, NULL, OPT_REDIS},
    {"region", required_argument, NULL, OPT_REGION},
    {"no-auth", no_argument, NULL, OPT_NO_AUTH},
    {"clock-start", required_argument, NULL, OPT_CLOCK_START},
    {"clock-rate", required_argument, NULL, OPT_CLOCK_RATE},
    {"check-config", no_argument, NULL, OPT_CHECK},
    {"routes", no_argument, NULL, OPT_ROUTES},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0}};

/* A flag that takes no number (c, its value v) into f. Returns 1 when c is
 * one, else 0. */
static int text_flag(int c, const char *v, flags *f) {
  switch (c) {
  case 'c':
    f->config = v;
    return 1;
  case OPT_LISTEN:
    f->listen = v;
    return 1;
  case OPT_PORT_FILE:
    f->port_file = v;
    return 1;
  case OPT_TRACE:
    f->trace = v;
    return 1;
  case OPT_PSEUDONYMISE:
    f->pseudonymise = 1;
    return 1;
  case OPT_REDIS:
    f->redis = v;
    return 1;
  case OPT_REGION:
    f->region = v;
    return 1;
  case OPT_NO_AUTH:
    f->no_auth = 1;
    return 1;
  case OPT_CHECK:
    f->check = 1;
    return 1;
  case OPT_ROUTES:
    f->routes = 1;
    return 1;
  default:
    return 0;
  }
}

/* One flag getopt_long returned (c, its value v) into f; a bad value or
 * flag is described in msg. Returns 1 when --help or --version was
 * answered, else 0. */
static int take_flag(int c, const char *v, char **argv, flags *f, char *msg,
                     size_t n) {
  long long x;
  if (text_flag(c, v, f))
    return 0;
  switch (c) {
  case 'h':
    usage(stdout);
    return 1;
  case 'V':
    printf("carematchd %s\n", CM_VERSION);
    return 1;
  case 'p':
    if (cm_opt_int("--port", v, 0, 65535, &x, msg, n) == 0)
      f->port = (int)x;
    break;
  case OPT_CLOCK_START: /* Unix ms, up to 2100-01-01 */
    if (cm_opt_int("--clock-start", v, 0, 4102444800000LL, &x, msg, n) == 0)
      f->clock_start = x;
    break;
  case OPT_CLOCK_RATE:
    cm_opt_double("--clock-rate", v, 0.01, 10000, &f->clock_rate, msg, n);
    break;
  default:
    cm_opt_error(msg, n, c, argv, daemon_options);
    break;
  }
  return 0;
}

/* Returns 0, 1 (--help or --version answered: exit 0) or -1 (printed). */
static int parse_flags(int argc, char **argv, flags *f) {
  char msg[256] = "";
  memset(f, 0, sizeof *f);
  f->port = -1;
  f->clock_start = -1;
  opterr = 0;
  optind = 0;
  int c;
  while (!msg[0] &&
         (c = getopt_long(argc, argv, ":c:p:hV", daemon_options, NULL)) != -1)
    if (take_flag(c, optarg, argv, f, msg, sizeof msg))
      return 1;
  if (!msg[0] && optind < argc)
    snprintf(msg, sizeof msg, "unexpected argument '%.64s' (--config FILE?)",
             argv[optind]);
  if (msg[0]) {
    fprintf(stderr,
            "carematchd: %s\nusage: carematchd [--config FILE] [options]; "
            "carematchd --help lists them\n",
            msg);
    return -1;
  }
  return 0;
}

/* Each line of msg on stderr, after "carematchd: ". */
static void print_lines(const char *msg) {
  for (const char *p = msg; *p;) {
    size_t n = strcspn(p, "\n");
    fprintf(stderr, "carematchd: %.*s\n", (int)n, p);
    p += n + (p[n] == '\n');
  }
}

/* A file holding the bearer tokens that others may read is a warning in
 * the log (its name and mode only). */
static void check_config_mode(const char *path) {
  struct stat st;
  if (path && stat(path, &st) == 0 && (st.st_mode & 066))
    fprintf(stderr,
            "carematchd: warning: %s can be read or written by group or "
            "others (mode %04o) and holds the bearer tokens: chmod 600 it\n",
            path, (unsigned)(st.st_mode & 07777));
}

/* The file, then the flags over it. Returns 0 or -1 with msg. */
static int configure(const flags *f, cmd_config *c, char *msg, size_t n) {
  if (f->config) {
    if (cmd_config_load(f->config, c, msg, n) != 0)
      return -1;
  } else {
    cmd_config_init(c);
  }
  if (f->listen)
    snprintf(c->listen, sizeof c->listen, "%s", f->listen);
  if (f->port >= 0)
    c->port = f->port;
  if (f->redis) {
    cm_redis_url u;
    cm_error err;
    if (cm_redis_url_parse(f->redis, &u, &err) != CM_OK) {
      snprintf(msg, n, "--redis: %s", err.message);
      return -1;
    }
    int secret = u.password[0] != 0;
    cmd_wipe(&u, sizeof u);
    if (secret) { /* a flag is seen by everyone (ps) */
      snprintf(msg, n,
               "--redis: no password on the command line: give it in [store] "
               "redis_password_file or $CAREMATCH_REDIS_PASSWORD");
      return -1;
    }
    snprintf(c->redis_url, sizeof c->redis_url, "%s", f->redis);
  }
  if (f->region) { /* one region, over the file's list */
    snprintf(c->region, sizeof c->region, "%s", f->region);
    snprintf(c->regions[0], sizeof c->regions[0], "%s", f->region);
    c->n_regions = 1;
    c->regions_listed = 0;
  }
  if (f->no_auth)
    c->auth = 0;
  if (f->trace)
    snprintf(c->trace_file, sizeof c->trace_file, "%s", f->trace);
  if (f->pseudonymise)
    c->trace_pseudonymise = 1;
  /* the key: the environment over the file (keeps it out of the file) */
  const char *key = getenv(TRACE_KEY_ENV);
  if (key && *key) {
    if (cmd_trace_key_check(key) != 0) {
      snprintf(msg, n, "%s: %s", TRACE_KEY_ENV, CMD_TRACE_KEY_RULE);
      return -1;
    }
    snprintf(c->trace_key, sizeof c->trace_key, "%s", key);
  }
  if (c->trace_pseudonymise && !c->trace_key[0]) {
    snprintf(msg, n,
             "[trace] pseudonymise is on but there is no key: give [trace] "
             "key or %s",
             TRACE_KEY_ENV);
    return -1;
  }
  if (cmd_config_check_auth(c, msg, n) != 0)
    return -1;
  c->engine.clock = cmd_mono_ns;
  return 0;
}

/* The stale sweep's answer (the mirror learns the workers it took
 * offline from the stream: the next follow). */
static void on_swept(void *ctx, cm_status st, int swept, const cm_error *err) {
  cmd_region *r = ctx;
  (void)swept;
  r->sweeping = 0;
  if (st != CM_OK && !r->paused && !r->d->draining)
    fprintf(stderr, "carematchd: stale sweep: %s\n", err->message);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg) {
  cmd_region *r = arg;
  cmd_daemon *d = r->d;
  cm_error err;
  (void)fd;
  (void)what;
  /* a worker is stale when it could report its position and did not: with
     a lease only the holder sweeps, and neither it nor a daemon whose
     writes' connection was down sweeps for stale_ms after that (a
     failover, or the time without a holder: nobody could write a
     position, and a swept worker stays offline until it is upserted) */
  if ((r->lease && !cmd_lease_leads(r)) || cmd_now_ms() < r->sweep_after_ms)
    return;
  /* on the loop's connection, answered in on_swept: one at a time, and
     none while that connection is down (nothing could be written) */
  if (r->sweeping || d->cfg.engine.stale_ms <= 0 ||
      !cm_redis_connected(r->redis_loop))
    return;
  int64_t t0 = cmd_watch_begin(d);
  r->sweeping = 1;
  if (cm_redis_sweep_async(r->redis_loop, cmd_now_ms(), d->cfg.engine.stale_ms,
                           on_swept, r, &err) != CM_OK) {
    r->sweeping = 0;
    if (!r->paused)
      fprintf(stderr, "carematchd: stale sweep: %s\n", err.message);
  }
  cmd_watch_end(d, CMD_CAUSE_SWEEP, t0);
}

/* The keys of c that need a restart set back to what runs (d->cfg), with
 * a warning when the file changed them: where it listens, the store (its
 * URL, password file, retention and durability), the regions, the
 * taxonomy and the trace. */
static void keep_restart_keys(const cmd_daemon *d, cmd_config *c) {
  const cmd_config *o = &d->cfg;
  /* the trace (its file, pseudonyms and key) is set at start */
  snprintf(c->trace_file, sizeof c->trace_file, "%s", o->trace_file);
  c->trace_pseudonymise = o->trace_pseudonymise;
  snprintf(c->trace_key, sizeof c->trace_key, "%s", o->trace_key);
  if (strcmp(c->listen, o->listen) || c->port != o->port ||
      strcmp(c->redis_url, o->redis_url) ||
      strcmp(c->redis_password_file, o->redis_password_file) ||
      c->record_keep_ms != o->record_keep_ms ||
      c->events_max != o->events_max || strcmp(c->region, o->region) ||
      c->n_regions != o->n_regions ||
      memcmp(c->regions, o->regions,
             sizeof c->regions[0] * (size_t)c->n_regions) ||
      memcmp(&c->engine.taxonomy, &o->engine.taxonomy,
             sizeof c->engine.taxonomy))
    fprintf(stderr, "carematchd: reload: listen, port, store (redis, its "
                    "password file and retention), region and taxonomy need "
                    "a restart; kept as they were\n");
  snprintf(c->listen, sizeof c->listen, "%s", o->listen);
  c->port = o->port;
  snprintf(c->redis_url, sizeof c->redis_url, "%s", o->redis_url);
  snprintf(c->redis_password_file, sizeof c->redis_password_file, "%s",
           o->redis_password_file);
  c->record_keep_ms = o->record_keep_ms;
  c->events_max = o->events_max;
  snprintf(c->region, sizeof c->region, "%s", o->region);
  memcpy(c->regions, o->regions, sizeof c->regions);
  c->n_regions = o->n_regions;
  c->regions_listed = o->regions_listed;
  c->engine.taxonomy = o->engine.taxonomy;
  c->engine.ledger = o->engine.ledger;
  c->engine.clock = o->engine.clock;
  c->auth = o->auth; /* --no-auth stays */
  if (memcmp(&c->ledger_opt, &o->ledger_opt, sizeof c->ledger_opt))
    fprintf(stderr, "carematchd: reload: the durability keys need a "
                    "restart; kept as they were\n");
  c->ledger_opt = o->ledger_opt;
}

/* Every region's engine takes c's engine settings but the weights, or
 * none does (each put back as it was). Returns 0, or -1 with the reason
 * logged. */
static int engines_take(cmd_daemon *d, const cmd_config *c) {
  cm_error err;
  cm_engine_config *old = calloc((size_t)d->n_regions, sizeof *old);
  if (!old)
    return -1;
  for (int i = 0; i < d->n_regions; i++) {
    cmd_region *r = &d->regions[i];
    cm_engine_config ec = c->engine;
    old[i] = *cm_engine_config_get(r->eng);
    ec.ledger = r->ledger;
    ec.weights = old[i].weights; /* the file's: cmd_weights_reload */
    if (cm_engine_config_set(r->eng, &ec, &err) != CM_OK) {
      fprintf(stderr, "carematchd: reload refused, nothing changed: %s\n",
              err.message);
      while (i-- > 0)
        cm_engine_config_set(d->regions[i].eng, &old[i], NULL);
      free(old);
      return -1;
    }
  }
  free(old);
  return 0;
}

/* SIGHUP: the trace file is opened again (logrotate moved it), and the
 * configuration file read again. What needs a restart (where it listens,
 * the store, the taxonomy, the trace settings) is kept as it is, with a
 * warning. */
static void reload(cmd_daemon *d) {
  char msg[8192];
  cm_error err;
  cmd_trace_reopen(d->trace);
  cmd_config *c = calloc(1, sizeof *c);
  if (!c)
    return;
  d->reloads++;
  if (!d->cfg.path[0]) {
    fprintf(stderr, "carematchd: SIGHUP: no --config file to reload\n");
    free(c);
    return;
  }
  check_config_mode(d->cfg.path);
  int loaded = cmd_config_load(d->cfg.path, c, msg, sizeof msg) == 0;
  if (loaded && !d->cfg.auth)
    c->auth = 0; /* --no-auth stays */
  if (!loaded || cmd_config_check_auth(c, msg, sizeof msg) != 0) {
    fprintf(stderr, "carematchd: reload refused, nothing changed:\n");
    print_lines(msg);
    d->reload_failures++;
    free(c);
    return;
  }
  keep_restart_keys(d, c);
  int new_weights = memcmp(&c->engine.weights, &d->cfg.engine.weights,
                           sizeof c->engine.weights) != 0;
  if (engines_take(d, c) != 0) {
    d->reload_failures++;
    free(c);
    return;
  }
  /* the file's weights count only when the file changed them: the
     operator's later edits are not undone by a reload. Each region's are
     in force once stored (with Redis: from the SET's answer, on the loop) */
  for (int i = 0; new_weights && i < d->n_regions; i++) {
    cmd_region *r = &d->regions[i];
    if (cm_weights_validate(&c->engine.weights, &err) != CM_OK) {
      fprintf(stderr, "carematchd: reload: the file's weights: %s\n",
              err.message);
      break;
    }
    cmd_weights_reload(r, &c->engine.weights);
  }
  d->cfg = *c;
  free(c);
  fprintf(stderr, "carematchd: configuration reloaded from %s\n", d->cfg.path);
  for (int i = 0; i < d->n_regions; i++)
    cmd_kick(&d->regions[i]);
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
  cmd_daemon *d = arg;
  (void)what;
  if (sig == SIGHUP) {
    reload(d);
    return;
  }
  if (d->draining)
    return;
  fprintf(stderr, "carematchd: draining (signal %d)\n", (int)sig);
  cmd_http_stop_accepting(d);
  cmd_drain(d);
}

/* One region's state, freed (what was opened of it). */
static void region_teardown(cmd_region *r) {
  if (r->sweep_ev)
    event_free(r->sweep_ev);
  cm_engine_free(r->eng); /* writes in flight are answered 503 first */
  r->eng = NULL;          /* Redis answers still due (weights) find no engine */
  cmd_kpis_free(r->kpis);
  cm_store_free(r->store);
  cm_store_free(r->redis_store);
  cm_ledger_free(r->ledger);
  cm_redis_free(r->redis_lease);
  cm_redis_free(r->redis_loop);
  cm_redis_free(r->redis);
  cmd_positions_lost_flush(r); /* lost in the last second, still unsaid */
}

static void teardown(cmd_daemon *d) {
  cmd_whatif_free(d->whatif); /* waits for a replay under way */
  for (int i = 0; i < d->n_regions; i++)
    cmd_solver_stop(&d->regions[i]);
  for (int i = 0; i < d->n_regions; i++)
    cmd_lease_stop(&d->regions[i]); /* released: a standby takes it */
  cmd_events_close_all(d);
  for (int i = 0; i < 3; i++)
    if (d->sig_ev[i])
      event_free(d->sig_ev[i]);
  if (d->heartbeat_ev)
    event_free(d->heartbeat_ev);
  for (int i = 0; i < d->n_regions; i++)
    region_teardown(&d->regions[i]);
  if (d->http)
    evhttp_free(d->http);
  free(d->regions);
  if (d->base)
    event_base_free(d->base);
  cmd_trace_close(d->trace);
}

/* One region: its store (and Redis, ledger, mirror), engine, the state
 * recovered (or the weights loaded), its lease and sweep. Returns 0, or
 * -1 with msg. */
static int region_start(cmd_region *r, char *msg, size_t n) {
  cmd_daemon *d = r->d;
  cm_error err;
  if (cmd_redis_open(r, msg, n) != 0)
    return -1;
  cm_engine_config ec = d->cfg.engine;
  ec.ledger = r->ledger;
  if (!(r->eng = cm_engine_new(&ec, r->store, &err))) {
    snprintf(msg, n, "engine: %s", err.message);
    return -1;
  }
  /* with Redis: recovered by settle's steps once the loop's connection is
     up, or (Redis down, refusing the password or a command) not ready
     until a step finds it back (solver.c) */
  if (r->redis)
    cmd_redis_recover(r, 0);
  else if (cmd_weights_load(r, msg, n) != 0)
    return -1;
  if (cmd_lease_start(r, msg, n) != 0)
    return -1;
  if (r->redis && d->cfg.sweep_ms > 0) {
    struct timeval tv = {d->cfg.sweep_ms / 1000,
                         (d->cfg.sweep_ms % 1000) * 1000};
    r->sweep_ev = event_new(d->base, -1, EV_PERSIST, on_sweep, r);
    if (!r->sweep_ev || event_add(r->sweep_ev, &tv) != 0) {
      snprintf(msg, n, "cannot start the sweep");
      return -1;
    }
  }
  return 0;
}

static void on_settled(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  (void)arg; /* wakes the loop: settle's budget is over */
}

#define SETTLE_MS 1000 /* start-up: the first connects' wait at most */

/* Listening already, with the loop serving: give the loop's connections
 * their first handshake, the recovery its rebuild (the step's follow on
 * the loop's connection) and its weights' answer (SETTLE_MS at most,
 * never a synchronous wait on Redis) for each region whose connection
 * came up, so that a
 * daemon started with Redis up is ready when its port file appears;
 * with Redis down or silent it stays not ready and recovers once Redis
 * answers (solver.c's steps). */
static void settle(cmd_daemon *d) {
  struct event *wake = evtimer_new(d->base, on_settled, NULL);
  int64_t until = cmd_mono_ns(NULL) + (int64_t)SETTLE_MS * 1000000;
  if (!wake)
    return;
  for (;;) {
    /* the budget's rest (libevent may wake a little early: the timer is
       armed again for what is left, so no turn waits past the budget) */
    int64_t left_us = (until - cmd_mono_ns(NULL)) / 1000;
    struct timeval tv = {(time_t)(left_us / 1000000),
                         (suseconds_t)(left_us % 1000000)};
    if (left_us <= 0 || evtimer_add(wake, &tv) != 0)
      break;
    int waiting = 0;
    for (int i = 0; i < d->n_regions; i++) {
      cmd_region *r = &d->regions[i];
      if (!r->redis_loop || r->recovered)
        continue;
      if (!cm_redis_connecting(r->redis_loop) && !r->recover_asked &&
          !r->following && !r->weights_loading)
        cmd_redis_recover(r, 0); /* asks a step for the rebuild, or logs
                                    why not (a refused AUTH, a NOPERM) */
      if (cm_redis_connecting(r->redis_loop) || r->recover_asked ||
          r->following || r->weights_loading)
        waiting = 1; /* the handshake, the rebuild, or the weights' answer */
    }
    if (!waiting || event_base_loop(d->base, EVLOOP_ONCE) != 0 ||
        event_base_got_exit(d->base) || event_base_got_break(d->base))
      break;
  }
  event_free(wake);
}

static int start(cmd_daemon *d, const flags *f, char *msg, size_t n) {
  /* two priorities: the engine's timer and the solver's answer (0) go
     before HTTP traffic (1, the default), so an emergency's batch never
     waits behind a queue of position uploads */
  if (!(d->base = event_base_new()) || event_base_priority_init(d->base, 2)) {
    snprintf(msg, n, "cannot create the event loop");
    return -1;
  }
  if (cmd_regions_new(d) != 0) {
    snprintf(msg, n, "out of memory");
    return -1;
  }
  for (int i = 0; i < d->n_regions; i++)
    if (region_start(&d->regions[i], msg, n) != 0)
      return -1;
  cmd_redis_between_turns(d); /* the writes' connections, if Redis is up */
  const int sigs[3] = {SIGHUP, SIGTERM, SIGINT};
  for (int i = 0; i < 3; i++)
    if (!(d->sig_ev[i] = evsignal_new(d->base, sigs[i], on_signal, d)) ||
        event_add(d->sig_ev[i], NULL) != 0) {
      snprintf(msg, n, "cannot handle signals");
      return -1;
    }
  if (d->cfg.trace_file[0] &&
      !(d->trace = cmd_trace_open(
            d->cfg.trace_file,
            d->cfg.trace_pseudonymise ? d->cfg.trace_key : NULL, msg, n)))
    return -1;
  if (cmd_http_start(d, msg, n) != 0 || cmd_events_start(d) != 0)
    return -1;
  for (int i = 0; i < d->n_regions; i++)
    if (cmd_solver_start(&d->regions[i]) != 0) {
      snprintf(msg, n, "cannot start the solver thread");
      return -1;
    }
  settle(d);
  if (f->port_file) {
    FILE *pf = fopen(f->port_file, "w");
    if (!pf || fprintf(pf, "%d\n", d->port) < 0 || fclose(pf) != 0) {
      snprintf(msg, n, "cannot write %s", f->port_file);
      return -1;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  flags f;
  char msg[8192];
  int parsed = parse_flags(argc, argv, &f);
  if (parsed != 0)
    return parsed > 0 ? 0 : CM_EXIT_USAGE;
  if (f.routes) {
    cmd_http_print_routes();
    return 0;
  }
  cmd_daemon *d = calloc(1, sizeof *d);
  if (!d)
    return EXIT_START;
  if (configure(&f, &d->cfg, msg, sizeof msg) != 0) {
    print_lines(msg);
    free(d);
    return EXIT_CONFIG;
  }
  check_config_mode(f.config);
  if (f.check) {
    printf("carematchd: %s is valid\n", f.config ? f.config : "(defaults)");
    free(d);
    return 0;
  }
  signal(SIGPIPE, SIG_IGN);
  if (f.clock_rate > 0 || f.clock_start >= 0) {
    int64_t start_ms = f.clock_start >= 0 ? f.clock_start : cmd_now_ms();
    cmd_clock_simulate(start_ms, f.clock_rate > 0 ? f.clock_rate : 1.0);
    fprintf(stderr,
            "carematchd: simulated clock from %lld ms at %g times real "
            "time (a load test, not for dispatching a real city)\n",
            (long long)start_ms, cmd_clock_rate());
  }
  d->started_ms = cmd_now_ms();
  int rc = 0;
  if (start(d, &f, msg, sizeof msg) != 0) {
    print_lines(msg);
    rc = EXIT_START;
  } else {
    char url[400] = "";
    int redis = d->cfg.redis_url[0] != 0;
    if (redis)
      cmd_redis_url_masked(d, url, sizeof url);
    fprintf(stderr,
            "carematchd %s listening on http://%s:%d (store: %s%s, auth: "
            "%s, regions: %d)\n",
            CM_VERSION, d->cfg.listen, d->port, redis ? "redis " : "memory",
            url, d->cfg.auth ? "bearer tokens" : "off", d->n_regions);
    /* event_base_dispatch, with the Redis loop connection's reconnect
       between two turns (outside every callback) */
    while (event_base_loop(d->base, EVLOOP_ONCE) == 0 &&
           !event_base_got_exit(d->base) && !event_base_got_break(d->base)) {
      cmd_watch_turn(d); /* the loop-stall trace (loop_watch.c) */
      int64_t t0 = cmd_mono_ns(NULL);
      cmd_redis_between_turns(d);
      cmd_watch_end(d, CMD_CAUSE_RECONNECT, t0);
    }
    fprintf(stderr, "carematchd: stopped\n");
  }
  teardown(d);
  free(d);
  return rc;
}
