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

#include "carematch/version.h"
#include "daemon.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: carematchd [options]\n"
          "  --config FILE      the configuration file (INI; docs/daemon.md)\n"
          "  --listen ADDR      address to listen on (127.0.0.1)\n"
          "  --port N           TCP port (8080; 0 picks a free one)\n"
          "  --port-file FILE   write the port bound to FILE once listening\n"
          "  --trace FILE       append every write taken (JSON lines) to FILE\n"
          "  --redis URL        redis://host:port: Redis store and ledger\n"
          "                     (default: the embedded memory store)\n"
          "  --region NAME      Redis region (default)\n"
          "  --no-auth          no bearer tokens (a closed network only)\n"
          "  --clock-start MS   simulated clock: starts at MS (Unix ms)\n"
          "  --clock-rate X     simulated clock: X times as fast (load tests)\n"
          "  --check-config     load the configuration, report, exit\n"
          "  --routes           print the routes and their roles, exit\n"
          "  --version, --help\n");
}

typedef struct flags {
  const char *config, *listen, *port_file, *redis, *region, *trace;
  int port; /* -1: from the file */
  int no_auth, check, routes;
  int64_t clock_start; /* -1: now */
  double clock_rate;   /* 0: the wall clock */
} flags;

static int parse_flags(int argc, char **argv, flags *f) {
  memset(f, 0, sizeof *f);
  f->port = -1;
  f->clock_start = -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help")) {
      usage(stdout);
      exit(0);
    } else if (!strcmp(a, "--version")) {
      printf("carematchd %s\n", CM_VERSION);
      exit(0);
    } else if (!strcmp(a, "--no-auth")) {
      f->no_auth = 1;
    } else if (!strcmp(a, "--check-config")) {
      f->check = 1;
    } else if (!strcmp(a, "--routes")) {
      f->routes = 1;
    } else if (v && !strcmp(a, "--config")) {
      f->config = argv[++i];
    } else if (v && !strcmp(a, "--listen")) {
      f->listen = argv[++i];
    } else if (v && !strcmp(a, "--port-file")) {
      f->port_file = argv[++i];
    } else if (v && !strcmp(a, "--trace")) {
      f->trace = argv[++i];
    } else if (v && !strcmp(a, "--redis")) {
      f->redis = argv[++i];
    } else if (v && !strcmp(a, "--region")) {
      f->region = argv[++i];
    } else if (v && !strcmp(a, "--port")) {
      char *end;
      long p = strtol(argv[++i], &end, 10);
      if (*end || p < 0 || p > 65535) {
        fprintf(stderr, "carematchd: --port: must be 0..65535\n");
        return -1;
      }
      f->port = (int)p;
    } else if (v && !strcmp(a, "--clock-start")) {
      char *end;
      long long ms = strtoll(argv[++i], &end, 10);
      if (*end || ms < 0 || ms > 4102444800000LL) {
        fprintf(stderr, "carematchd: --clock-start: must be Unix time in ms "
                        "(0..4102444800000)\n");
        return -1;
      }
      f->clock_start = ms;
    } else if (v && !strcmp(a, "--clock-rate")) {
      char *end;
      double x = strtod(argv[++i], &end);
      if (*end || !(x >= 0.01 && x <= 10000)) {
        fprintf(stderr, "carematchd: --clock-rate: must be 0.01..10000\n");
        return -1;
      }
      f->clock_rate = x;
    } else {
      fprintf(stderr, "carematchd: unknown option %s\n", a);
      usage(stderr);
      return -1;
    }
  }
  return 0;
}

/* The file, then the flags over it. */
static int configure(const flags *f, cmd_config *c, char *msg, size_t n) {
  if (f->config) {
    if (cmd_config_load(f->config, c, msg, n) != 0)
      return -1;
  } else {
    cmd_config_default(c);
  }
  if (f->listen)
    snprintf(c->listen, sizeof c->listen, "%s", f->listen);
  if (f->port >= 0)
    c->port = f->port;
  if (f->redis)
    snprintf(c->redis_url, sizeof c->redis_url, "%s", f->redis);
  if (f->region)
    snprintf(c->region, sizeof c->region, "%s", f->region);
  if (f->no_auth)
    c->auth = 0;
  int tokens = 0;
  for (int r = 0; r < CMD_ROLE_COUNT; r++)
    tokens += c->n_tokens[r];
  if (c->auth && !tokens) {
    snprintf(msg, n,
             "no bearer tokens: give them in the [tokens] section of "
             "--config, or run with --no-auth on a closed network");
    return -1;
  }
  c->engine.clock = cmd_mono_ns;
  return 0;
}

/* redis://host:port (host and port optional) */
static int parse_redis_url(const char *url, char *host, size_t hn, int *port) {
  const char *p = strncmp(url, "redis://", 8) == 0 ? url + 8 : NULL;
  if (!p)
    return -1;
  const char *colon = strrchr(p, ':');
  size_t len = colon ? (size_t)(colon - p) : strlen(p);
  while (len && p[len - 1] == '/')
    len--;
  if (len >= hn)
    return -1;
  memcpy(host, len ? p : "127.0.0.1", len ? len : 9);
  host[len ? len : 9] = '\0';
  *port = 6379;
  if (colon) {
    char *end;
    long v = strtol(colon + 1, &end, 10);
    if ((*end && strcmp(end, "/")) || v <= 0 || v > 65535)
      return -1;
    *port = (int)v;
  }
  return 0;
}

static int open_store(cmd_daemon *d, char *msg, size_t n) {
  cm_error err;
  d->store = cm_store_memory_new(0);
  if (!d->store) {
    snprintf(msg, n, "out of memory");
    return -1;
  }
  if (!d->cfg.redis_url[0])
    return 0;
  char host[256];
  int port;
  if (parse_redis_url(d->cfg.redis_url, host, sizeof host, &port) != 0) {
    snprintf(msg, n, "--redis: '%s' is not redis://host:port",
             d->cfg.redis_url);
    return -1;
  }
  /* the connection runs its own private loop: store calls are synchronous
     and must not run the daemon's loop from inside its callbacks */
  d->redis = cm_redis_new(host, port, d->cfg.region, NULL, &err);
  if (!d->redis || !(d->ledger = cm_ledger_redis_new(d->redis, NULL, &err)) ||
      !(d->redis_store = cm_store_redis_open(d->redis, &err))) {
    snprintf(msg, n, "redis: %s", err.message);
    return -1;
  }
  d->cfg.engine.ledger = d->ledger;
  return 0;
}

static void on_sweep(evutil_socket_t fd, short what, void *arg) {
  cmd_daemon *d = arg;
  cm_error err;
  (void)fd;
  (void)what;
  if (d->cfg.engine.stale_ms > 0 &&
      cm_store_sweep(d->redis_store, cmd_now_ms(), d->cfg.engine.stale_ms,
                     &err) < 0 &&
      !d->paused)
    fprintf(stderr, "carematchd: stale sweep: %s\n", err.message);
}

/* SIGHUP: the file again. What needs a restart (where it listens, the
 * store, the taxonomy) is kept as it is, with a warning. */
static void reload(cmd_daemon *d) {
  char msg[512];
  cm_error err;
  cmd_config *c = calloc(1, sizeof *c);
  if (!c)
    return;
  d->reloads++;
  if (!d->cfg.path[0]) {
    fprintf(stderr, "carematchd: SIGHUP: no --config file to reload\n");
    free(c);
    return;
  }
  if (cmd_config_load(d->cfg.path, c, msg, sizeof msg) != 0) {
    fprintf(stderr, "carematchd: reload refused, nothing changed: %s\n", msg);
    d->reload_failures++;
    free(c);
    return;
  }
  if (strcmp(c->listen, d->cfg.listen) || c->port != d->cfg.port ||
      strcmp(c->redis_url, d->cfg.redis_url) ||
      strcmp(c->region, d->cfg.region) ||
      memcmp(&c->engine.taxonomy, &d->cfg.engine.taxonomy,
             sizeof c->engine.taxonomy))
    fprintf(stderr, "carematchd: reload: listen, port, store, region and "
                    "taxonomy need a restart; kept as they were\n");
  snprintf(c->listen, sizeof c->listen, "%s", d->cfg.listen);
  c->port = d->cfg.port;
  snprintf(c->redis_url, sizeof c->redis_url, "%s", d->cfg.redis_url);
  snprintf(c->region, sizeof c->region, "%s", d->cfg.region);
  c->engine.taxonomy = d->cfg.engine.taxonomy;
  c->engine.ledger = d->cfg.engine.ledger;
  c->engine.clock = d->cfg.engine.clock;
  c->auth = d->cfg.auth; /* --no-auth stays */
  /* the file's weights count only when the file changed them: the
     operator's later edits are not undone by a reload */
  int new_weights = memcmp(&c->engine.weights, &d->cfg.engine.weights,
                           sizeof c->engine.weights) != 0;
  cm_engine_config ec = c->engine;
  if (!new_weights)
    ec.weights = cm_engine_config_get(d->eng)->weights;
  if (cm_engine_set_config(d->eng, &ec, &err) != CM_OK) {
    fprintf(stderr, "carematchd: reload refused, nothing changed: %s\n",
            err.message);
    d->reload_failures++;
    free(c);
    return;
  }
  if (new_weights &&
      cmd_weights_save(d, &ec.weights, d->weights_version + 1, &err) == CM_OK)
    d->weights_version++;
  d->cfg = *c;
  free(c);
  fprintf(stderr, "carematchd: configuration reloaded from %s\n", d->cfg.path);
  cmd_kick(d);
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

static void teardown(cmd_daemon *d) {
  cmd_solver_stop(d);
  cmd_events_close_all(d);
  for (int i = 0; i < 3; i++)
    if (d->sig_ev[i])
      event_free(d->sig_ev[i]);
  if (d->sweep_ev)
    event_free(d->sweep_ev);
  if (d->heartbeat_ev)
    event_free(d->heartbeat_ev);
  if (d->http)
    evhttp_free(d->http);
  cm_engine_free(d->eng);
  cm_store_free(d->store);
  cm_store_free(d->redis_store);
  cm_ledger_free(d->ledger);
  cm_redis_free(d->redis);
  if (d->base)
    event_base_free(d->base);
  if (d->trace)
    fclose(d->trace);
}

static int start(cmd_daemon *d, const flags *f, char *msg, size_t n) {
  cm_error err;
  if (open_store(d, msg, n) != 0)
    return -1;
  if (!(d->eng = cm_engine_new(&d->cfg.engine, d->store, &err))) {
    snprintf(msg, n, "engine: %s", err.message);
    return -1;
  }
  if (cmd_weights_load(d, msg, n) != 0)
    return -1;
  if (d->ledger && cm_engine_sync(d->eng, cmd_now_ms(), &err) != CM_OK) {
    snprintf(msg, n, "recovery from Redis: %s", err.message);
    return -1;
  }
  /* two priorities: the engine's timer and the solver's answer (0) go
     before HTTP traffic (1, the default), so an emergency's batch never
     waits behind a queue of position uploads */
  if (!(d->base = event_base_new()) || event_base_priority_init(d->base, 2)) {
    snprintf(msg, n, "cannot create the event loop");
    return -1;
  }
  const int sigs[3] = {SIGHUP, SIGTERM, SIGINT};
  for (int i = 0; i < 3; i++)
    if (!(d->sig_ev[i] = evsignal_new(d->base, sigs[i], on_signal, d)) ||
        event_add(d->sig_ev[i], NULL) != 0) {
      snprintf(msg, n, "cannot handle signals");
      return -1;
    }
  if (d->redis && d->cfg.sweep_ms > 0) {
    struct timeval tv = {d->cfg.sweep_ms / 1000,
                         (d->cfg.sweep_ms % 1000) * 1000};
    d->sweep_ev = event_new(d->base, -1, EV_PERSIST, on_sweep, d);
    if (!d->sweep_ev || event_add(d->sweep_ev, &tv) != 0) {
      snprintf(msg, n, "cannot start the sweep");
      return -1;
    }
  }
  if (f->trace && !(d->trace = fopen(f->trace, "a"))) {
    snprintf(msg, n, "--trace: cannot open %s", f->trace);
    return -1;
  }
  if (cmd_http_start(d, msg, n) != 0 || cmd_events_start(d) != 0)
    return -1;
  if (cmd_solver_start(d) != 0) {
    snprintf(msg, n, "cannot start the solver thread");
    return -1;
  }
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
  char msg[640];
  if (parse_flags(argc, argv, &f) != 0)
    return 2;
  if (f.routes) {
    cmd_http_print_routes();
    return 0;
  }
  cmd_daemon *d = calloc(1, sizeof *d);
  if (!d)
    return 1;
  if (configure(&f, &d->cfg, msg, sizeof msg) != 0) {
    fprintf(stderr, "carematchd: %s\n", msg);
    free(d);
    return 2;
  }
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
    fprintf(stderr, "carematchd: %s\n", msg);
    rc = 1;
  } else {
    fprintf(stderr,
            "carematchd %s listening on http://%s:%d (store: %s%s, auth: "
            "%s)\n",
            CM_VERSION, d->cfg.listen, d->port, d->redis ? "redis " : "memory",
            d->redis ? d->cfg.redis_url : "",
            d->cfg.auth ? "bearer tokens" : "off");
    event_base_dispatch(d->base);
    fprintf(stderr, "carematchd: stopped\n");
  }
  teardown(d);
  free(d);
  return rc;
}
