/* redis_durability.c -- the ledger's durability levels (see
 * redis_durability.h and docs/redis.md, "Durability"): their names, the
 * WAIT a commit ends with at the replica level, and the start-up check
 * of the server's settings (CONFIG GET appendonly / appendfsync, INFO
 * replication). */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_durability.h"

static const char *const level_names[CM_LEDGER_DURABILITY_COUNT] = {"fsync",
                                                                    "replica"};

const char *cm_ledger_durability_name(cm_ledger_durability d) {
  return (int)d >= 0 && d < CM_LEDGER_DURABILITY_COUNT ? level_names[d] : "?";
}

int cm_ledger_durability_parse(const char *name) {
  for (int i = 0; name && i < CM_LEDGER_DURABILITY_COUNT; i++)
    if (!strcmp(name, level_names[i]))
      return i;
  return -1;
}

void cm__rd_wait_send(cm__rd_batch *b, cm__rd_argv *a, int replicas,
                      int timeout_ms) {
  cm__rd_argv_reset(a);
  cm__rd_argv_str(a, "WAIT");
  cm__rd_argv_fmt(a, "%d", replicas);
  cm__rd_argv_fmt(a, "%d", timeout_ms);
  cm__rd_send(b, a);
}

long long cm__rd_wait_read(cm__rd_batch *b, const redisReply *rep) {
  if (!cm__rd_check(b, rep, REDIS_REPLY_INTEGER, "WAIT"))
    return -1;
  return rep->integer;
}

cm_status cm__rd_not_durable(cm_error *err, long long acked, int replicas,
                             int timeout_ms) {
  return cm_error_set(err, CM_E_NOT_DURABLE, "",
                      "the write reached the Redis primary but %lld of %d "
                      "replica(s) confirmed it within %d ms: it is not "
                      "confirmed durable and may or may not survive losing "
                      "the primary; retrying the same call is safe",
                      acked, replicas, timeout_ms);
}

/* ---- the replica gate (redis_durability.h) ---- */

int cm__rd_wait_skip(const cm_redis *r, int replicas) {
  return r->replicas_online >= 0 && r->replicas_online < replicas;
}

void cm__rd_role_send(cm__rd_batch *b, cm__rd_argv *a) {
  cm__rd_argv_reset(a);
  cm__rd_argv_str(a, "ROLE");
  cm__rd_send(b, a);
}

long long cm__rd_role_count(const redisReply *rep) {
  /* a master: ["master", offset, [[ip, port, offset], ...]] (the
     replicas connected); a replica: ["slave", ...] */
  if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
      rep->element[0]->type != REDIS_REPLY_STRING)
    return -1;
  if (strcmp(rep->element[0]->str, "master") != 0)
    return 0;
  if (rep->elements < 3 || rep->element[2]->type != REDIS_REPLY_ARRAY)
    return -1;
  return (long long)rep->element[2]->elements;
}

void cm__rd_gate_role(cm_redis *r, const redisReply *rep) {
  long long n = cm__rd_role_count(rep);
  r->replicas_online = n < 0 ? -1 : (int)(n > 64 ? 64 : n);
}

void cm__rd_gate_wait(cm_redis *r, long long acked, int replicas) {
  /* short: the next commit asks ROLE instead of waiting again */
  if (acked >= 0 && acked < replicas)
    r->replicas_online = (int)acked;
}

static void on_role(void *ctx, size_t i, const redisReply *rep) {
  (void)i;
  cm__rd_gate_role(ctx, rep);
}

void cm__rd_role_probe(cm_redis *r) {
  cm__rd_batch b;
  cm__rd_argv a;
  r->replicas_online = -1;
  cm__rd_batch_init(&b, r, on_role, r);
  cm__rd_argv_init(&a);
  cm__rd_role_send(&b, &a);
  cm__rd_argv_free(&a);
  cm__rd_wait(&b, NULL);
}

cm_status cm__rd_not_durable_now(cm_error *err, int online, int replicas) {
  return cm_error_set(err, CM_E_NOT_DURABLE, "",
                      "the write reached the Redis primary but it has %d of "
                      "%d replica(s) online (ROLE; a failover's new primary "
                      "has none until one is synchronised): it is not "
                      "confirmed durable and may or may not survive losing "
                      "the primary; retrying the same call is safe",
                      online < 0 ? 0 : online, replicas);
}

/* ---- the start-up check ---- */

static void copy_value(char *dst, size_t n, const redisReply *rep) {
  /* CONFIG GET answers [name, value] */
  if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
      rep->element[1]->type == REDIS_REPLY_STRING)
    snprintf(dst, n, "%s", rep->element[1]->str);
}

/* The value of "name:" in INFO's text, into out (n bytes); "" none. */
static void info_field(const char *text, const char *name, char *out,
                       size_t n) {
  out[0] = '\0';
  size_t len = strlen(name);
  const char *p = text;
  while (p && *p) {
    if (!strncmp(p, name, len) && p[len] == ':') {
      size_t k = strcspn(p + len + 1, "\r\n");
      snprintf(out, n, "%.*s", (int)k, p + len + 1);
      return;
    }
    if ((p = strchr(p, '\n')))
      p++;
  }
}

void cm__rd_dcheck_init(cm__rd_dcheck *c) {
  memset(c, 0, sizeof *c);
  c->replicas = -1;
}

int cm__rd_dcheck_refusal(cm__rd_dcheck *c, size_t i, const redisReply *rep) {
  if (!rep || rep->type != REDIS_REPLY_ERROR || i >= 2)
    return 0;
  if (!c->refused[0])
    snprintf(c->refused, sizeof c->refused, "%.100s",
             rep->str ? rep->str : "error");
  return 1;
}

void cm__rd_dcheck_take(cm__rd_dcheck *c, size_t i, const redisReply *rep) {
  if (i == 0)
    copy_value(c->appendonly, sizeof c->appendonly, rep);
  else if (i == 1)
    copy_value(c->appendfsync, sizeof c->appendfsync, rep);
  else {
    char v[32];
    info_field(rep->str, "role", c->role, sizeof c->role);
    info_field(rep->str, "connected_slaves", v, sizeof v);
    c->replicas = v[0] ? strtol(v, NULL, 10) : -1;
  }
}

static const char *const check_words[CM__RD_DCHECK_N][3] = {
    {"CONFIG", "GET", "appendonly"},
    {"CONFIG", "GET", "appendfsync"},
    {"INFO", "replication", NULL}};

const char *const *cm__rd_dcheck_words(size_t i) {
  return check_words[i];
}

void cm__rd_dcheck_warn(const cm__rd_dcheck *c, cm_ledger_durability d,
                        int replicas, char *warn, size_t n) {
  if (!warn || !n)
    return;
  warn[0] = '\0';
  if (c->role[0] && strcmp(c->role, "master") != 0)
    snprintf(warn, n,
             "the server is a replica (role:%s): every write will fail "
             "until it is promoted (REPLICAOF NO ONE)",
             c->role);
  else if (d == CM_LEDGER_DURABILITY_REPLICA && c->replicas < replicas)
    snprintf(warn, n,
             "durability = replica needs %d connected replica(s), the "
             "server has %ld: every write will answer not_durable until "
             "one is connected",
             replicas, c->replicas < 0 ? 0 : c->replicas);
  else if (d == CM_LEDGER_DURABILITY_FSYNC && c->refused[0])
    snprintf(warn, n,
             "durability = fsync relies on appendonly yes and appendfsync "
             "always, which cannot be verified: CONFIG GET refused: %s",
             c->refused);
  else if (d == CM_LEDGER_DURABILITY_FSYNC &&
           (strcmp(c->appendonly, "yes") != 0 ||
            strcmp(c->appendfsync, "always") != 0))
    snprintf(warn, n,
             "durability = fsync relies on appendonly yes and appendfsync "
             "always; the server has appendonly %s, appendfsync %s: a "
             "crash of Redis or of its machine can lose acknowledged "
             "writes",
             c->appendonly[0] ? c->appendonly : "?",
             c->appendfsync[0] ? c->appendfsync : "?");
}

typedef struct check_call {
  cm__rd_batch *b;
  cm__rd_dcheck c;
} check_call;

static void on_check(void *ctx, size_t i, const redisReply *rep) {
  check_call *cc = ctx;
  if (cm__rd_dcheck_refusal(&cc->c, i, rep))
    return;
  if (cm__rd_check(cc->b, rep, i < 2 ? REDIS_REPLY_ARRAY : REDIS_REPLY_STRING,
                   i < 2 ? "CONFIG GET" : "INFO"))
    cm__rd_dcheck_take(&cc->c, i, rep);
}

cm_status cm__rd_durability_check(cm_redis *r, cm_ledger_durability d,
                                  int replicas, char *warn, size_t n,
                                  cm_error *err) {
  cm__rd_batch b;
  check_call cc;
  cc.b = &b;
  cm__rd_dcheck_init(&cc.c);
  if (warn && n)
    warn[0] = '\0';
  cm_status st = cm__rd_begin(&b, r, on_check, &cc, err);
  if (st != CM_OK)
    return st;
  cm__rd_argv a;
  cm__rd_argv_init(&a);
  for (size_t i = 0; i < CM__RD_DCHECK_N; i++) {
    const char *const *w = cm__rd_dcheck_words(i);
    cm__rd_argv_reset(&a);
    for (int k = 0; k < 3 && w[k]; k++)
      cm__rd_argv_str(&a, w[k]);
    cm__rd_send(&b, &a);
  }
  st = cm__rd_end(&b, err);
  cm__rd_argv_free(&a);
  if (st == CM_OK)
    cm__rd_dcheck_warn(&cc.c, d, replicas, warn, n);
  return st;
}
