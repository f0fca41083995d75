/* redis_link.c -- carematchd's link to Redis: the connection for [store]
 * redis (redis://[[user]:password@]host:port[/db], parsed by
 * cm_redis_url_parse), its password (the URL in the configuration file,
 * [store] redis_password_file, or $CAREMATCH_REDIS_PASSWORD; never a
 * flag, never in the log), the ledger with the configured retention, and
 * the recovery: the daemon starts whether Redis is up or not, and
 * rebuilds its view from Redis (requests, workers, weights) as soon as it
 * can; until then it is not ready. docs/daemon.md, docs/redis.md. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"

#define PASSWORD_ENV "CAREMATCH_REDIS_PASSWORD"

void cmd_wipe(void *p, size_t n) {
  volatile unsigned char *v = p; /* not optimised away as a dead store */
  while (n--)
    *v++ = 0;
}

/* Read the password file: a regular file of the daemon's own user that
 * neither group nor others may read or write (0600, 0400); the password
 * is its first line. Returns 0, or -1 with msg (its name, never its
 * content). */
static int read_password_file(const char *path, char *out, size_t n, char *msg,
                              size_t mn) {
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 || fstat(fd, &st) != 0) {
    snprintf(msg, mn, "[store] redis_password_file %s: %s", path,
             strerror(errno));
    if (fd >= 0)
      close(fd);
    return -1;
  }
  const char *bad = !S_ISREG(st.st_mode)     ? "is not a regular file"
                    : (st.st_mode & 077)     ? "may be read or written by "
                                               "group or others (chmod 600)"
                    : st.st_uid != geteuid() ? "belongs to another user "
                                               "(chown it to the daemon's)"
                    : st.st_size >= (off_t)n ? "is too long"
                                             : NULL;
  ssize_t len = bad ? 0 : read(fd, out, n - 1);
  close(fd);
  if (!bad && len < 0)
    bad = "cannot be read";
  if (bad) {
    snprintf(msg, mn, "[store] redis_password_file %s %s (mode %04o)", path,
             bad, (unsigned)(st.st_mode & 07777));
    cmd_wipe(out, n);
    return -1;
  }
  out[len] = '\0';
  out[strcspn(out, "\r\n")] = '\0';
  if (!out[0]) {
    snprintf(msg, mn, "[store] redis_password_file %s is empty", path);
    return -1;
  }
  return 0;
}

/* The password: the URL's, the file's or the environment's (one of them;
 * the environment wins over the file, like the trace key). Returns 0, or
 * -1 with msg. */
static int password_of(const cmd_config *c, cm_redis_url *u, char *msg,
                       size_t n) {
  const char *env = getenv(PASSWORD_ENV);
  if (u->password[0] && (c->redis_password_file[0] || (env && *env))) {
    snprintf(msg, n,
             "[store] redis: the URL has a password and so does %s: give "
             "one",
             c->redis_password_file[0] ? "[store] redis_password_file"
                                       : "$" PASSWORD_ENV);
    return -1;
  }
  if (env && *env) {
    if (strlen(env) >= sizeof u->password) {
      snprintf(msg, n, "$%s is too long", PASSWORD_ENV);
      return -1;
    }
    snprintf(u->password, sizeof u->password, "%s", env);
    return 0;
  }
  if (c->redis_password_file[0])
    return read_password_file(c->redis_password_file, u->password,
                              sizeof u->password, msg, n);
  return 0;
}

static int has_password(const cmd_config *c) {
  const char *env = getenv(PASSWORD_ENV);
  return c->redis_password_file[0] || (env && *env);
}

const char *cmd_redis_url_masked(const cmd_daemon *d, char *buf, size_t n) {
  cm_redis_url u;
  if (cm_redis_url_parse(d->cfg.redis_url, &u, NULL) != CM_OK)
    snprintf(buf, n, "(an invalid redis URL)");
  else
    cm_redis_url_format(&u, has_password(&d->cfg), buf, n);
  cmd_wipe(&u, sizeof u);
  return buf;
}

int cmd_redis_open(cmd_region *r, char *msg, size_t n) {
  cm_error err;
  r->store = cm_store_memory_new(0);
  if (!r->store) {
    snprintf(msg, n, "out of memory");
    return -1;
  }
  if (!r->d->cfg.redis_url[0]) {
    r->recovered = 1;
    return 0;
  }
  cm_redis_url u;
  if (cm_redis_url_parse(r->d->cfg.redis_url, &u, &err) != CM_OK) {
    snprintf(msg, n, "redis: %s", err.message);
    return -1;
  }
  int rc = password_of(&r->d->cfg, &u, msg, n);
  if (rc == 0) {
    /* the first connection runs its own private loop: its calls are
       synchronous and must not run the daemon's loop from inside its
       callbacks. The second, on the daemon's loop, carries the requests'
       writes (docs/async.md), connected between two turns of the loop.
       Both connect on first use, so that a Redis still down does not stop
       the daemon. */
    cm_redis_options o;
    cm_redis_options_init(&o);
    o.user = u.user;
    o.password = u.password[0] ? u.password : NULL;
    o.db = u.db;
    o.cluster = u.cluster; /* redis+cluster:// (docs/cluster.md) */
    o.seeds = u.seeds;
    o.connect_later = 1;
    cm_ledger_redis_options lo = r->d->cfg.ledger_opt; /* durability */
    lo.keep_ms = r->d->cfg.record_keep_ms;
    lo.events_max = r->d->cfg.events_max;
    cm_redis_options ol = o; /* the proposals' connection, on our loop */
    ol.base = r->d->base;
    if (!(r->redis = cm_redis_new(u.host, u.port, r->name, &o, &err)) ||
        !(r->redis_loop = cm_redis_new(u.host, u.port, r->name, &ol, &err)) ||
        !(r->ledger = cm_ledger_redis_new(r->redis, &lo, &err)) ||
        cm_ledger_redis_attach(r->ledger, r->redis_loop, &err) != CM_OK ||
        !(r->redis_store = cm_store_redis_open(r->redis, &err)) ||
        (r->d->cfg.lease.enabled && /* the renewals' own (lease.c) */
         !(r->redis_lease =
               cm_redis_new(u.host, u.port, r->name, &ol, &err)))) {
      snprintf(msg, n, "redis: %s", err.message);
      rc = -1;
    }
  }
  cmd_wipe(&u, sizeof u);
  return rc;
}

/* A recovery's failure: logged once per change, and (without an
 * address) for /readyz. */
static void recover_failed(cmd_region *r, const char *msg, const char *why) {
  char url[400];
  if (strncmp(msg, r->redis_logged, sizeof r->redis_logged - 1))
    fprintf(stderr, "carematchd: redis %s: not ready, retrying: %s\n",
            cmd_redis_url_masked(r->d, url, sizeof url), msg);
  snprintf(r->redis_logged, sizeof r->redis_logged, "%.255s", msg);
  snprintf(r->recover_why, sizeof r->recover_why, "%s", why);
}

/* The recovery's GET of the weights answered (on the loop's connection):
 * the stored weights in force and the region ready, or the failure kept
 * for the next step's try (solver.c), the region not ready. */
static void on_weights_read(void *ctx, cm_status st, const char *value,
                            const cm_error *err) {
  cmd_region *r = ctx;
  char msg[512], url[400];
  if (!r->eng) /* tearing down: the connection was freed */
    return;
  r->weights_loading = 0;
  if (st != CM_OK) {
    snprintf(msg, sizeof msg, "weights from Redis: %s", err->message);
    recover_failed(r, msg, "the weights could not be read (the log says why)");
    return;
  }
  if (cmd_weights_apply(r, value, msg, sizeof msg) != 0) {
    recover_failed(r, msg, msg); /* the stored form's fault: no address */
    return;
  }
  r->recovered = 1;
  r->redis_logged[0] = r->recover_why[0] = '\0';
  fprintf(stderr,
          "carematchd: redis %s: connected, state recovered (region %s)\n",
          cmd_redis_url_masked(r->d, url, sizeof url), r->name);
  cmd_durability_check(r); /* now that the server can be asked */
  cmd_kick(r);             /* batches may begin */
}

void cmd_redis_recover(cmd_region *r, int synced) {
  char msg[512], url[400];
  cm_error err;
  if (r->recovered || !r->redis || r->weights_loading)
    return;
  if (!cm_redis_connected(r->redis_loop)) {
    /* the loop's connection first (cmd_redis_between_turns, without
       waiting): a server that accepts and never answers holds no
       synchronous read on the loop (docs/async-log.md, step g) */
    const char *e = cm_redis_last_error(r->redis_loop);
    if (strncmp(e, r->redis_logged, sizeof r->redis_logged - 1) && e[0])
      fprintf(stderr, "carematchd: redis %s: not ready, retrying: %s\n",
              cmd_redis_url_masked(r->d, url, sizeof url), e);
    snprintf(r->redis_logged, sizeof r->redis_logged, "%.255s", e);
    return;
  }
  if (!synced) {
    /* the rebuild is the step's follow on the loop's connection
       (cm_engine_sync_async, solver.c), which comes back here synced: no
       synchronous read of the whole region on the loop, even at start */
    if (r->step_ev) {
      r->recover_asked = 1; /* settle waits for it */
      cmd_step_now(r);
    }
    return;
  }
  /* the weights on the loop's connection, the recovery ending in the
     answer (docs/async-log.md, step j): not ready, and no batch, in the
     meantime */
  r->weights_loading = 1;
  if (cm_redis_blob_get_async(r->redis_loop, "weights", on_weights_read, r,
                              &err) != CM_OK) {
    r->weights_loading = 0;
    snprintf(msg, sizeof msg, "weights from Redis: %s", err.message);
    recover_failed(r, msg, "the weights could not be read (the log says why)");
  }
}

void cmd_redis_between_turns(cmd_daemon *d) {
  /* never waits: a connect (and its handshake) is started here and carried
     by the loop's own turns (cm_redis_connect_async); a cluster connection
     whose slot moved moves once its commands in flight are answered */
  for (int i = 0; i < d->n_regions; i++) {
    cmd_region *r = &d->regions[i];
    if (r->redis_loop) {
      if (!cm_redis_connected(r->redis_loop) ||
          cm_redis_move_pending(r->redis_loop))
        cm_redis_connect_async(r->redis_loop, NULL); /* the backoff limits
                                                        attempts */
      int up = cm_redis_connected(r->redis_loop);
      if (up && !r->loop_up) /* back: workers could not report meanwhile */
        r->sweep_after_ms = cmd_now_ms() + d->cfg.engine.stale_ms;
      r->loop_up = up;
    }
    if (r->redis_lease && (!cm_redis_connected(r->redis_lease) ||
                           cm_redis_move_pending(r->redis_lease)))
      cm_redis_connect_async(r->redis_lease, NULL); /* idle between
                                                       renewals */
  }
}

const char *cmd_redis_not_ready(const cmd_region *r, char *buf, size_t n) {
  if (!r->redis)
    return NULL;
  /* the loop's connection first: it is the one connected first (without
     waiting, between two turns), and the recovery waits for it */
  if (!cm_redis_connected(r->redis_loop)) {
    const char *e = cm_redis_last_error(r->redis_loop);
    snprintf(buf, n, "redis is not connected%s%.200s",
             e[0] ? ": "
                  : (cm_redis_connecting(r->redis_loop) ? " (connecting)" : ""),
             e);
    return buf;
  }
  if (r->weights_loading)
    return "recovering the state from redis: reading the weights";
  if (!r->recovered) {
    snprintf(buf, n, "recovering the state from redis%s%.200s",
             r->recover_why[0] ? ": " : "", r->recover_why);
    return buf;
  }
  return NULL;
}
