/* redis_server.c -- a redis-server of a test's own (see redis_server.h). */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "redis_server.h"

void cm_test_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

int64_t cm_test_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cm_test_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  cr_assert(fd >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

redisContext *cm_test_side_connect(int port) {
  struct timeval tv = {1, 0};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (c && c->err) {
    redisFree(c);
    return NULL;
  }
  return c;
}

int cm_test_server_ready(int port) {
  redisContext *c = cm_test_side_connect(port);
  if (!c)
    return 0;
  redisReply *r = redisCommand(c, "PING");
  int ok = r && r->type == REDIS_REPLY_STATUS && !strcmp(r->str, "PONG");
  if (r)
    freeReplyObject(r);
  redisFree(c);
  return ok;
}

/* Fork and exec redis-server with argv (NULL terminated), its output to
 * /dev/null and none of the test runner's descriptors (its channels to
 * Criterion); the child dies with the test. Returns the child's pid. */
static pid_t spawn_server(const char *const *argv) {
  pid_t pid = fork();
  cr_assert(pid >= 0, "fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
      dup2(fd, 0);
      dup2(fd, 1);
      dup2(fd, 2);
    }
    for (int i = 3; i < 1024; i++)
      close(i);
    execvp("redis-server", (char *const *)argv);
    _exit(127);
  }
  return pid;
}

pid_t cm_test_server_start(int port, const char *aof_dir) {
  char p[16];
  snprintf(p, sizeof p, "%d", port);
  const char *aof[] = {"redis-server",
                       "--port",
                       p,
                       "--bind",
                       "127.0.0.1",
                       "--save",
                       "",
                       "--appendonly",
                       "yes",
                       "--appendfsync",
                       "always",
                       "--dir",
                       aof_dir,
                       NULL};
  const char *mem[] = {"redis-server", "--port", p,      "--bind",
                       "127.0.0.1",    "--save", "",     "--appendonly",
                       "no",           "--dir",  "/tmp", NULL};
  pid_t pid = spawn_server(aof_dir ? aof : mem);
  for (int i = 0; i < 1000 && !cm_test_server_ready(port); i++)
    cm_test_sleep_ms(10);
  cr_assert(cm_test_server_ready(port),
            "redis-server did not come up on port %d", port);
  return pid;
}

/* 1 when the server on port is a replica whose link to its primary is
 * up. */
static int replica_linked(int port) {
  redisContext *c = cm_test_side_connect(port);
  if (!c)
    return 0;
  redisReply *r = redisCommand(c, "INFO replication");
  int up = r && r->type == REDIS_REPLY_STRING &&
           strstr(r->str, "master_link_status:up") != NULL;
  if (r)
    freeReplyObject(r);
  redisFree(c);
  return up;
}

pid_t cm_test_replica_start(int port, int primary_port) {
  char p[16], pp[16];
  snprintf(p, sizeof p, "%d", port);
  snprintf(pp, sizeof pp, "%d", primary_port);
  const char *argv[] = {"redis-server", "--port", p,      "--bind",
                        "127.0.0.1",    "--save", "",     "--appendonly",
                        "no",           "--dir",  "/tmp", "--replicaof",
                        "127.0.0.1",    pp,       NULL};
  pid_t pid = spawn_server(argv);
  for (int i = 0; i < 1000 && !replica_linked(port); i++)
    cm_test_sleep_ms(10);
  cr_assert(replica_linked(port), "the replica on port %d did not link to %d",
            port, primary_port);
  return pid;
}

void cm_test_server_kill(pid_t pid, int sig) {
  kill(pid, sig);
  waitpid(pid, NULL, 0);
}

/* 1 when the stream entry's fields f carry every pair. */
static int entry_has(const redisReply *f, const char *const *pairs) {
  for (const char *const *p = pairs; p[0] && p[1]; p += 2) {
    int has = 0;
    for (size_t k = 0; k + 1 < f->elements && !has; k += 2)
      has = !strcmp(f->element[k]->str, p[0]) &&
            !strcmp(f->element[k + 1]->str, p[1]);
    if (!has)
      return 0;
  }
  return 1;
}

int cm_test_stream_count(int port, const char *region,
                         const char *const *pairs) {
  redisContext *c = cm_test_side_connect(port);
  if (!c)
    return -1;
  redisReply *r = redisCommand(c, "XRANGE cm:{%s}:events - +", region);
  int found = r && r->type == REDIS_REPLY_ARRAY ? 0 : -1;
  for (size_t i = 0; found >= 0 && i < r->elements; i++)
    found += entry_has(r->element[i]->element[1], pairs);
  if (r)
    freeReplyObject(r);
  redisFree(c);
  return found;
}

int cm_test_worker_jobs(int port, const char *region, const char *worker,
                        int *jobs, int *acc) {
  redisContext *c = cm_test_side_connect(port);
  if (!c)
    return -1;
  redisReply *r =
      redisCommand(c, "HMGET cm:{%s}:worker:%s jobs acc", region, worker);
  int ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2;
  if (ok) {
    *jobs = r->element[0]->str ? atoi(r->element[0]->str) : 0;
    *acc = r->element[1]->str ? atoi(r->element[1]->str) : 0;
  }
  if (r)
    freeReplyObject(r);
  redisFree(c);
  return ok ? 0 : -1;
}

void cm_test_flush_keys(int port, const char *pattern) {
  redisContext *c = cm_test_side_connect(port);
  if (!c)
    return;
  char cursor[32] = "0";
  do {
    redisReply *r =
        redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
      if (r)
        freeReplyObject(r);
      break;
    }
    snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
    for (size_t i = 0; i < r->element[1]->elements; i++) {
      redisReply *d =
          redisCommand(c, "UNLINK %b", r->element[1]->element[i]->str,
                       r->element[1]->element[i]->len);
      if (d)
        freeReplyObject(d);
    }
    freeReplyObject(r);
  } while (strcmp(cursor, "0") != 0);
  redisFree(c);
}

/* ---- a server with options of the test's own (requirepass, ACL) ---- */

/* 1 when something answers PING on port, even "NOAUTH". */
static int server_answers(int port) {
  redisContext *c = cm_test_side_connect(port);
  if (!c)
    return 0;
  redisReply *r = redisCommand(c, "PING");
  int ok = r != NULL;
  if (r)
    freeReplyObject(r);
  redisFree(c);
  return ok;
}

pid_t cm_test_server_start_args(int port, const char *const *extra) {
  char p[16];
  const char *argv[48] = {"redis-server", "--port", p,     "--bind",
                          "127.0.0.1",    "--save", "",    "--appendonly",
                          "no",           "--dir",  "/tmp"};
  int argc = 11;
  for (int i = 0; extra && extra[i] && argc < 47; i++)
    argv[argc++] = extra[i];
  argv[argc] = NULL;
  snprintf(p, sizeof p, "%d", port);
  pid_t pid = spawn_server(argv);
  for (int i = 0; i < 1000 && !server_answers(port); i++)
    cm_test_sleep_ms(10);
  cr_assert(server_answers(port), "redis-server did not come up on port %d",
            port);
  return pid;
}

cm_test_redis cm_test_redis_use(void) {
  const char *env = getenv("CM_TEST_REDIS_PORT");
  cm_test_redis s = {0, 0};
  if (env && *env && cm_test_server_ready(atoi(env))) {
    s.port = atoi(env);
    return s;
  }
  if (env && *env) /* given, but gone */
    cr_log_warn("no redis-server on port %s; starting one", env);
  s.port = cm_test_free_port();
  s.pid = cm_test_server_start(s.port, NULL);
  return s;
}

cm_test_redis cm_test_own_redis;
char cm_test_own_redis_dir[64];

void cm_test_own_redis_start_on(int port) {
  cm_test_own_redis.port = port;
  cm_test_own_redis.pid = cm_test_server_start(port, NULL);
  cr_assert_gt(cm_test_own_redis.pid, 0, "redis-server starts");
}

void cm_test_own_redis_start(void) {
  cm_test_own_redis_start_on(cm_test_free_port());
}

void cm_test_own_redis_kill(void) {
  if (cm_test_own_redis.pid > 0) /* kill(0, ...) is the process group */
    cm_test_server_kill(cm_test_own_redis.pid, SIGKILL);
  cm_test_own_redis.pid = 0;
}

void cm_test_own_redis_start_aof(void) {
  snprintf(cm_test_own_redis_dir, sizeof cm_test_own_redis_dir,
           "/tmp/cm_ownredis_%ld", (long)getpid());
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", cm_test_own_redis_dir,
           cm_test_own_redis_dir);
  cr_assert_eq(system(cmd), 0, "%s", cmd);
  cm_test_own_redis.port = cm_test_free_port();
  cm_test_own_redis.pid =
      cm_test_server_start(cm_test_own_redis.port, cm_test_own_redis_dir);
  cr_assert_gt(cm_test_own_redis.pid, 0, "redis-server starts");
}

void cm_test_own_redis_remove(void) {
  cm_test_own_redis_kill();
  if (!cm_test_own_redis_dir[0])
    return;
  char cmd[96];
  snprintf(cmd, sizeof cmd, "rm -rf %s", cm_test_own_redis_dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", cm_test_own_redis_dir);
  cm_test_own_redis_dir[0] = '\0';
}

void cm_test_redis_done(const cm_test_redis *s, const char *pattern) {
  if (s->pid > 0)
    cm_test_server_kill(s->pid, SIGTERM);
  else if (pattern)
    cm_test_flush_keys(s->port, pattern);
}

cm_test_region cm_test_region_use(const char *prefix) {
  cm_test_region r;
  memset(&r, 0, sizeof r);
  r.srv = cm_test_redis_use();
  cr_assert_gt(r.srv.port, 0, "a redis-server");
  snprintf(r.name, sizeof r.name, "%s%ld", prefix, (long)getpid());
  return r;
}

cm_test_region cm_test_region_open(const char *prefix) {
  cm_test_region r = cm_test_region_use(prefix);
  cm_error err;
  cm_redis_options o;
  cm_redis_options_init(&o);
  r.conn = cm_redis_new("127.0.0.1", r.srv.port, r.name, &o, &err);
  cr_assert_not_null(r.conn, "%s", err.message);
  return r;
}

cm_ledger *cm_test_region_ledger(cm_test_region *r) {
  cm_error err;
  cm_ledger *l = cm_ledger_redis_new(r->conn, NULL, &err);
  cr_assert_not_null(l, "%s", err.message);
  return l;
}

void cm_test_region_close(cm_test_region *r) {
  cm_redis_free(r->conn);
  r->conn = NULL;
  char pattern[64];
  snprintf(pattern, sizeof pattern, "cm:{%s}*", r->name);
  cm_test_redis_done(&r->srv, pattern);
}
