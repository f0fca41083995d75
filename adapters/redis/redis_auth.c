/* redis_auth.c -- what a connection says before its first command: AUTH
 * (user and password: Redis 6 ACL; password alone: requirepass) and
 * SELECT, on every connect and reconnect; and, once the scripts are
 * loaded, a check that the ACL user may run every command the adapter
 * and its scripts call, so a missing permission shows at connect, naming
 * the command, rather than as a failed write later. docs/redis.md ("ACL")
 * lists the same commands as an ACL SETUSER line. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "redis_call.h"
#include "redis_conn.h"

typedef struct hello_ctx {
  cm__rd_batch *b;
} hello_ctx;

static void on_hello(void *ctx, size_t i, const redisReply *rep) {
  hello_ctx *c = ctx;
  /* AUTH comes first when there is one; its error reply is Redis's own
     words (WRONGPASS ...), which never hold the password */
  cm__rd_check(c->b, rep, 0,
               i == 0 && c->b->r->password[0] ? "AUTH refused" : "SELECT");
}

cm_status cm__rd_handshake(cm_redis *r, cm_error *err) {
  if (!r->password[0] && !r->db)
    return CM_OK;
  cm__rd_batch b;
  cm__rd_argv a;
  hello_ctx c = {&b};
  cm__rd_batch_init(&b, r, on_hello, &c);
  cm__rd_argv_init(&a);
  if (r->password[0]) {
    cm__rd_argv_str(&a, "AUTH");
    if (r->user[0])
      cm__rd_argv_str(&a, r->user);
    cm__rd_argv_str(&a, r->password);
    cm__rd_send(&b, &a);
  }
  if (r->db) {
    cm__rd_argv_str(&a, "SELECT");
    cm__rd_argv_fmt(&a, "%d", r->db);
    cm__rd_send(&b, &a);
  }
  cm__rd_argv_free(&a);
  return cm__rd_wait(&b, err);
}

/* Every command the adapter sends (directly, or from a script), with
 * arguments of the right count; KEYS[1] is a key of the region, so the
 * key patterns are checked too. Returns the first one the user may not
 * run, or "" (also on Redis < 7, which has no redis.acl_check_cmd). */
static const char probe_src[] =
    "if not redis.acl_check_cmd then return '' end\n"
    "local k = KEYS[1]\n"
    "local checks = {\n"
    "  {'ping'}, {'script', 'load', 'return 1'}, {'evalsha', ARGV[1], '0'},\n"
    "  {'get', k}, {'set', k, 'v'}, {'del', k}, {'exists', k},\n"
    "  {'incr', k}, {'pexpire', k, '1'}, {'pttl', k},\n"
    "  {'hget', k, 'f'}, {'hmget', k, 'f'}, {'hgetall', k},\n"
    "  {'hset', k, 'f', 'v'}, {'hincrby', k, 'f', '1'},\n"
    "  {'sadd', k, 'm'}, {'srem', k, 'm'}, {'smembers', k},\n"
    "  {'zadd', k, '1', 'm'}, {'zrem', k, 'm'}, {'zcard', k},\n"
    "  {'zmscore', k, 'm'}, {'zrange', k, '0', '-1'},\n"
    "  {'zrangebyscore', k, '-inf', '1'},\n"
    "  {'geoadd', k, '0', '0', 'm'},\n"
    "  {'geosearch', k, 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'km'},\n"
    "  {'xadd', k, '*', 'f', 'v'}, {'xrange', k, '-', '+'},\n"
    "  {'xinfo', 'stream', k},\n"
    "}\n"
    "for _, c in ipairs(checks) do\n"
    "  if not redis.acl_check_cmd(unpack(c)) then\n"
    "    if c[1] == 'script' or c[1] == 'xinfo' then\n"
    "      return c[1] .. '|' .. c[2]\n"
    "    end\n"
    "    return c[1]\n"
    "  end\n"
    "end\n"
    "return ''\n";

typedef struct probe_ctx {
  cm__rd_batch *b;
  char sha[41];
  char denied[64];
} probe_ctx;

static void on_probe_loaded(void *ctx, size_t i, const redisReply *rep) {
  probe_ctx *c = ctx;
  (void)i;
  if (cm__rd_check(c->b, rep, REDIS_REPLY_STRING, "SCRIPT LOAD"))
    snprintf(c->sha, sizeof c->sha, "%.*s", (int)rep->len, rep->str);
}

static void on_probe_ran(void *ctx, size_t i, const redisReply *rep) {
  probe_ctx *c = ctx;
  (void)i;
  if (cm__rd_check(c->b, rep, REDIS_REPLY_STRING, "EVALSHA"))
    snprintf(c->denied, sizeof c->denied, "%.*s", (int)rep->len, rep->str);
}

cm_status cm__rd_acl_check(cm_redis *r, cm_error *err) {
  cm__rd_batch b;
  cm__rd_argv a;
  probe_ctx c = {&b, "", ""};
  cm__rd_batch_init(&b, r, on_probe_loaded, &c);
  cm__rd_argv_init(&a);
  cm__rd_argv_str(&a, "SCRIPT");
  cm__rd_argv_str(&a, "LOAD");
  cm__rd_argv_str(&a, probe_src);
  cm__rd_send(&b, &a);
  cm_status st = cm__rd_wait(&b, err);
  if (st == CM_OK) { /* the probe's SHA1 is known only now */
    cm__rd_batch_init(&b, r, on_probe_ran, &c);
    cm__rd_argv_str(&a, "EVALSHA");
    cm__rd_argv_str(&a, c.sha);
    cm__rd_argv_str(&a, "1");
    cm__rd_argv_add(&a, r->keys.fixed[0], r->keys.fixed_len[0]);
    cm__rd_argv_str(&a, r->sha[0]);
    cm__rd_send(&b, &a);
    st = cm__rd_wait(&b, err);
  }
  cm__rd_argv_free(&a);
  if (st == CM_OK && c.denied[0]) {
    char msg[200];
    cm__rd_acl_denied_message(msg, sizeof msg, c.denied);
    st = cm_error_set(err, CM_E_IO, "", "%s", msg);
  }
  return st;
}

const char *cm__rd_acl_probe_source(void) {
  return probe_src;
}

void cm__rd_acl_denied_message(char *buf, size_t n, const char *denied) {
  snprintf(buf, n,
           "NOPERM the Redis user may not run '%s' on the region's keys "
           "(ACL; docs/redis.md lists the commands carematch needs)",
           denied);
}
