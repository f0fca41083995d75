/* test_redis_auth.c -- connecting like users expect (docs/redis.md,
 * "Connecting"): the redis:// URL parser; a real redis-server of the
 * test's own with requirepass and the least-privilege ACL user of
 * docs/redis.md (the line is read from the file); the real carematchd
 * with the right password (from a file, from the environment), a wrong
 * one, a user missing a command, a password file others may read, a
 * password on the command line; a daemon started before Redis; and the
 * retention keys of [store] reaching Redis.
 * No Criterion .timeout (see docs/redis.md, "Testing"). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "carematch/redis.h"
#include "daemon_proc.h"
#include "redis_server.h"

#define ADMIN_PW "admin-pw-0123456789"
#define USER_PW "carematch-pw-S3cr3t!"
#define REGION "authtest"
#define DOCS CM_TEST_DATA "/../../docs/redis.md"

/* ---- the URL ---- */

Test(redis_url, parses_every_part) {
  cm_redis_url u;
  cm_error err;
  cr_assert_eq(cm_redis_url_parse(
                   "redis://carematch:p%40ss%3Aw@db.local:6380/3", &u, &err),
               CM_OK, "%s", err.message);
  cr_assert_str_eq(u.user, "carematch");
  cr_assert_str_eq(u.password, "p@ss:w");
  cr_assert_str_eq(u.host, "db.local");
  cr_assert_eq(u.port, 6380);
  cr_assert_eq(u.db, 3);
  cr_assert_eq(cm_redis_url_parse("redis://:pw@[::1]:7000", &u, &err), CM_OK);
  cr_assert_str_eq(u.user, "");
  cr_assert_str_eq(u.password, "pw");
  cr_assert_str_eq(u.host, "::1");
  cr_assert_eq(u.port, 7000);
  cr_assert_eq(cm_redis_url_parse("redis://", &u, &err), CM_OK);
  cr_assert_str_eq(u.host, "127.0.0.1");
  cr_assert_eq(u.port, 6379);
  cr_assert_eq(u.db, 0);
  cr_assert_eq(cm_redis_url_parse("redis://ops@h:1/", &u, &err), CM_OK);
  cr_assert_str_eq(u.user, "ops");
  cr_assert_str_eq(u.password, "");
}

Test(redis_url, refuses_bad_ones_without_echoing_the_password) {
  static const char *const bad[] = {
      "http://h:1",       "redis://h:0",      "redis://h:65536",
      "redis://h:x",      "redis://h:1/x",    "redis://h:1/10001",
      "redis://u:@h",     "redis://u:p%zz@h", "redis://[::1",
      "redis://h:1?db=2", "redis://h o:1",    "redis://:secretpw@h:99999"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    cm_redis_url u;
    cm_error err;
    cr_assert_eq(cm_redis_url_parse(bad[i], &u, &err), CM_E_INVALID, "%s",
                 bad[i]);
    cr_assert_str_eq(err.field, "$.redis");
    cr_assert_null(strstr(err.message, "secretpw"), "%s", err.message);
    cr_assert_str_eq(u.password, "");
  }
}

Test(redis_url, the_log_form_masks_the_password) {
  cm_redis_url u;
  char buf[300];
  cr_assert_eq(
      cm_redis_url_parse("redis://carematch:hunter2@h:6380/2", &u, NULL),
      CM_OK);
  cr_assert_str_eq(cm_redis_url_format(&u, 0, buf, sizeof buf),
                   "redis://carematch:***@h:6380/2");
  cr_assert_eq(cm_redis_url_parse("redis://carematch@h", &u, NULL), CM_OK);
  cr_assert_str_eq(cm_redis_url_format(&u, 1, buf, sizeof buf),
                   "redis://carematch:***@h:6379");
  cr_assert_str_eq(cm_redis_url_format(&u, 0, buf, sizeof buf),
                   "redis://carematch:@h:6379");
}

/* ---- a server with requirepass and the ACL user of docs/redis.md ---- */

static int g_port;
static pid_t g_redis;
static int g_auth = 1; /* the server has requirepass */

static redisContext *admin(void) {
  redisContext *c = cm_test_side_connect(g_port);
  cr_assert_not_null(c);
  if (!g_auth)
    return c;
  redisReply *r = redisCommand(c, "AUTH %s", ADMIN_PW);
  cr_assert(r && r->type == REDIS_REPLY_STATUS);
  freeReplyObject(r);
  return c;
}

/* Run the ACL SETUSER line of docs/redis.md for REGION and USER_PW,
 * without the words in drop (NULL: none; e.g. "+xadd"). */
static void acl_from_docs(const char *drop) {
  FILE *f = fopen(DOCS, "r");
  cr_assert_not_null(f, "%s", DOCS);
  char line[2048], *found = NULL;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "ACL SETUSER carematch ", 22)) {
      found = line;
      break;
    }
  fclose(f);
  cr_assert_not_null(found, "no ACL SETUSER line in docs/redis.md");
  line[strcspn(line, "\n")] = '\0';
  const char *argv[64];
  size_t argvlen[64];
  char words[64][128];
  int argc = 0;
  for (char *save, *w = strtok_r(line, " ", &save); w && argc < 64;
       w = strtok_r(NULL, " ", &save)) {
    if (drop && !strcmp(w, drop))
      continue;
    if (!strcmp(w, ">PASSWORD"))
      snprintf(words[argc], sizeof words[argc], ">%s", USER_PW);
    else if (!strcmp(w, "~cm:{pudong}:*"))
      snprintf(words[argc], sizeof words[argc], "~cm:{%s}:*", REGION);
    else
      snprintf(words[argc], sizeof words[argc], "%s", w);
    argv[argc] = words[argc];
    argvlen[argc] = strlen(words[argc]);
    argc++;
  }
  redisContext *c = admin();
  redisReply *r = redisCommandArgv(c, argc, argv, argvlen);
  cr_assert(r && r->type == REDIS_REPLY_STATUS, "ACL SETUSER: %s",
            r && r->str ? r->str : "no reply");
  freeReplyObject(r);
  redisFree(c);
}

static void server_up(void) {
  const char *const args[] = {"--requirepass", ADMIN_PW, NULL};
  g_redis = cm_test_server_start_args(g_port, args);
}

static void setup(void) {
  g_port = cm_test_free_port();
  server_up();
  acl_from_docs(NULL);
}

static void teardown(void) {
  if (g_redis > 0)
    cm_test_server_kill(g_redis, SIGTERM);
  g_redis = 0;
}

static cm_redis *connect_as(const char *user, const char *password,
                            cm_error *err) {
  cm_redis_options o;
  cm_redis_options_init(&o);
  o.user = user;
  o.password = password;
  o.timeout_ms = 2000;
  return cm_redis_new("127.0.0.1", g_port, REGION, &o, err);
}

TestSuite(redis_acl, .init = setup, .fini = teardown);

Test(redis_acl, the_least_privilege_user_runs_the_store_and_ledger) {
  cm_error err;
  cm_redis *r = connect_as("carematch", USER_PW, &err);
  cr_assert_not_null(r, "%s", err.message);
  cm_store *s = cm_store_redis_open(r, &err);
  cm_ledger *l = cm_ledger_redis_new(r, NULL, &err);
  cr_assert(s && l);
  cm_worker w;
  cm_worker_init(&w);
  snprintf(w.id, sizeof w.id, "w1");
  w.skills = 1;
  w.status = CM_WORKER_AVAILABLE;
  w.has_position = 1;
  w.lat = 31.23;
  w.lon = 121.47;
  w.seen_ms = 1000;
  cr_assert_eq(cm_store_upsert(s, &w, &err), CM_OK, "%s", err.message);
  cr_assert_eq(cm_store_position(s, "w1", 31.24, 121.48, 2000, &err), CM_OK,
               "%s", err.message);
  cm_store_query q;
  memset(&q, 0, sizeof q);
  q.lat = 31.23;
  q.lon = 121.47;
  q.radius_km = 5;
  q.k = 4;
  cm_store_hit hits[4];
  int n = 0;
  cr_assert_eq(cm_store_nearest(s, &q, 1, 4, 2000, 0, hits, &n, &err), CM_OK,
               "%s", err.message);
  cr_assert_eq(n, 1);
  int count = 0;
  cr_assert_eq(cm_store_count(s, &count, &err), CM_OK, "%s", err.message);
  cr_assert_eq(count, 1);
  cr_assert_eq(cm_redis_blob_set(r, "weights", "{}", &err), CM_OK, "%s",
               err.message);
  cr_assert_eq(cm_redis_ping(r, &err), CM_OK);
  cr_assert_str_eq(cm_redis_last_error(r), "");
  cm_ledger_free(l);
  cm_store_free(s);
  cm_redis_free(r);
}

Test(redis_acl, a_wrong_password_is_refused_in_redis_words) {
  cm_error err;
  cm_redis *r = connect_as("carematch", "not-the-password", &err);
  cr_assert_null(r);
  cr_assert_eq(err.code, CM_E_IO);
  cr_assert(strstr(err.message, "AUTH refused") &&
                strstr(err.message, "WRONGPASS"),
            "%s", err.message);
  cr_assert_null(strstr(err.message, "not-the-password"));
  /* the legacy form: the default user's requirepass */
  r = connect_as(NULL, ADMIN_PW, &err);
  cr_assert_not_null(r, "%s", err.message);
  cm_redis_free(r);
  r = connect_as(NULL, NULL, &err); /* no AUTH at all */
  cr_assert_null(r);
  cr_assert(strstr(err.message, "NOAUTH"), "%s", err.message);
}

Test(redis_acl, a_user_missing_a_command_is_named_at_connect) {
  static const char *const cmds[] = {"+xadd", "+geosearch", "+hincrby",
                                     "+xinfo|stream"};
  for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
    acl_from_docs(cmds[i]);
    redisContext *c = admin(); /* a user keeps what it was given before */
    redisReply *rep = redisCommand(c, "ACL SETUSER carematch -%s", cmds[i] + 1);
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    redisFree(c);
    cm_error err;
    cm_redis *r = connect_as("carematch", USER_PW, &err);
    cr_assert_null(r, "%s", cmds[i]);
    char want[64];
    snprintf(want, sizeof want, "'%s'", cmds[i] + 1);
    cr_assert(strstr(err.message, "NOPERM") && strstr(err.message, want),
              "%s: %s", cmds[i], err.message);
    acl_from_docs(NULL);
    c = admin();
    rep = redisCommand(c, "ACL SETUSER carematch %s", cmds[i]);
    freeReplyObject(rep);
    redisFree(c);
  }
  /* and a region the user's key pattern does not cover */
  cm_redis_options o;
  cm_redis_options_init(&o);
  o.user = "carematch";
  o.password = USER_PW;
  cm_error err;
  cm_redis *r = cm_redis_new("127.0.0.1", g_port, "elsewhere", &o, &err);
  cr_assert_null(r);
  cr_assert(strstr(err.message, "NOPERM"), "%s", err.message);
}

Test(redis_acl, select_picks_the_database) {
  cm_redis_options o;
  cm_redis_options_init(&o);
  o.password = ADMIN_PW;
  o.db = 5;
  cm_error err;
  cm_redis *r = cm_redis_new("127.0.0.1", g_port, REGION, &o, &err);
  cr_assert_not_null(r, "%s", err.message);
  cr_assert_eq(cm_redis_blob_set(r, "weights", "db5", &err), CM_OK);
  cm_redis_free(r);
  redisContext *c = admin();
  redisReply *rep = redisCommand(c, "EXISTS cm:{%s}:weights", REGION);
  cr_assert_eq(rep->integer, 0, "written to database 0");
  freeReplyObject(rep);
  rep = redisCommand(c, "SELECT 5");
  freeReplyObject(rep);
  rep = redisCommand(c, "GET cm:{%s}:weights", REGION);
  cr_assert(rep && rep->type == REDIS_REPLY_STRING);
  cr_assert_str_eq(rep->str, "db5");
  freeReplyObject(rep);
  redisFree(c);
}

/* ---- the daemon ---- */

static cm_test_daemon D;

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return calloc(1, 1);
  char *buf = calloc(1, 1 << 20);
  size_t n = fread(buf, 1, (1 << 20) - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static void write_password_file(const char *path, const char *pw, int mode) {
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fprintf(f, "%s\n", pw);
  fclose(f);
  chmod(path, (mode_t)mode);
}

/* The daemon on the ACL user, its password in a file of the given mode. */
static void daemon_config(const char *pw, const char *user) {
  char ini[512], pwfile[256];
  cm_test_daemon_config(&D, NULL);
  snprintf(pwfile, sizeof pwfile, "%s/redis.pw", D.dir);
  write_password_file(pwfile, pw, 0600);
  snprintf(ini, sizeof ini,
           "[store]\nredis = redis://%s@127.0.0.1:%d\nregion = %s\n"
           "redis_password_file = %s\n",
           user, g_port, REGION, pwfile);
  FILE *f = fopen(D.config, "a");
  cr_assert_not_null(f);
  fputs(ini, f);
  fclose(f);
}

static long get_code(const char *path, char **text) {
  cm_test_reply r = cm_test_http(D.port, "GET", path, TOK_OPERATOR, NULL, NULL);
  long code = r.code;
  if (text)
    *text = strdup(r.text ? r.text : "");
  cm_test_reply_free(&r);
  return code;
}

static int wait_ready(int want, int ms) {
  for (int i = 0; i < ms / 20; i++) {
    long code = get_code("/readyz", NULL);
    if ((want && code == 200) || (!want && code == 503))
      return 1;
    cm_test_sleep_ms(20);
  }
  return 0;
}

static long put_worker(const char *id) {
  char path[64];
  snprintf(path, sizeof path, "/v1/workers/%s", id);
  cm_test_reply r = cm_test_http(
      D.port, "PUT", path, TOK_PLATFORM,
      "{\"skills\":[\"nurse\"],\"lat\":31.23,\"lon\":121.47}", NULL);
  long code = r.code;
  cm_test_reply_free(&r);
  return code;
}

static void offer_round_trip(void) {
  cr_assert_eq(put_worker("w1"), 200);
  cm_test_reply r = cm_test_http(
      D.port, "POST", "/v1/requests", TOK_PLATFORM,
      "{\"id\":\"r1\",\"lat\":31.23,\"lon\":121.47,\"skills\":[\"nurse\"],"
      "\"urgency\":\"emergency\"}",
      NULL);
  cr_assert_eq(r.code, 201, "%s", r.text);
  cm_test_reply_free(&r);
  const char *state = "";
  for (int i = 0; i < 250 && strcmp(state, "offered"); i++) {
    cm_test_sleep_ms(20);
    r = cm_test_http(D.port, "GET", "/v1/requests/r1", TOK_PLATFORM, NULL,
                     NULL);
    static char buf[32];
    const char *s = "";
    json_unpack(r.json, "{s:{s:s}}", "request", "state", &s);
    snprintf(buf, sizeof buf, "%s", s);
    state = buf;
    cm_test_reply_free(&r);
  }
  cr_assert_str_eq(state, "offered");
  /* and the offer is in Redis, written by the ACL user's scripts */
  redisContext *c = admin();
  redisReply *rep = redisCommand(c, "XLEN cm:{%s}:events", REGION);
  cr_assert(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer >= 2);
  freeReplyObject(rep);
  redisFree(c);
}

static void daemon_stop(void) {
  cm_test_daemon_cleanup(&D);
}

TestSuite(daemon_auth, .init = setup, .fini = teardown);

Test(daemon_auth, the_acl_user_with_a_password_file_serves) {
  daemon_config(USER_PW, "carematch");
  cm_test_daemon_start(&D, NULL);
  cr_assert(wait_ready(1, 5000));
  offer_round_trip();
  char *log = slurp(D.log);
  cr_assert_null(strstr(log, USER_PW), "the password is in the log");
  cr_assert(strstr(log, "redis://carematch:***@127.0.0.1"), "%s", log);
  free(log);
  daemon_stop();
}

Test(daemon_auth, the_password_from_the_environment) {
  daemon_config("a-wrong-one-in-the-file", "carematch");
  setenv("CAREMATCH_REDIS_PASSWORD", USER_PW, 1); /* wins over the file */
  cm_test_daemon_start(&D, NULL);
  unsetenv("CAREMATCH_REDIS_PASSWORD");
  cr_assert(wait_ready(1, 5000));
  cr_assert_eq(put_worker("w1"), 200);
  daemon_stop();
}

Test(daemon_auth, a_wrong_password_is_not_ready_with_a_clear_log_line) {
  daemon_config("wrong-password-123", "carematch");
  cm_test_daemon_start(&D, NULL);
  cr_assert_eq(get_code("/healthz", NULL), 200);
  char *body;
  cr_assert_eq(get_code("/readyz", &body), 503);
  cr_assert(strstr(body, "WRONGPASS"), "%s", body);
  free(body);
  cr_assert_eq(put_worker("w1"), 503);
  cm_test_sleep_ms(300);
  char *log = slurp(D.log);
  cr_assert(strstr(log, "AUTH refused: WRONGPASS"), "%s", log);
  cr_assert_null(strstr(log, "wrong-password-123"), "%s", log);
  free(log);
  daemon_stop();
}

Test(daemon_auth, a_missing_command_is_named_in_the_log_and_readyz) {
  redisContext *c = admin();
  redisReply *rep = redisCommand(c, "ACL SETUSER carematch -geoadd");
  freeReplyObject(rep);
  redisFree(c);
  daemon_config(USER_PW, "carematch");
  cm_test_daemon_start(&D, NULL);
  char *body;
  cr_assert_eq(get_code("/readyz", &body), 503);
  cr_assert(strstr(body, "NOPERM") && strstr(body, "'geoadd'"), "%s", body);
  free(body);
  char *log = slurp(D.log);
  cr_assert(strstr(log, "NOPERM") && strstr(log, "'geoadd'"), "%s", log);
  free(log);
  /* granted: the daemon connects by itself */
  c = admin();
  rep = redisCommand(c, "ACL SETUSER carematch +geoadd");
  freeReplyObject(rep);
  redisFree(c);
  cr_assert(wait_ready(1, 8000));
  cr_assert_eq(put_worker("w1"), 200);
  daemon_stop();
}

/* Run carematchd until it exits (it should, at once); its status and log. */
static int run_to_exit(const char *args, char **log) {
  char cmd[1024], path[256];
  snprintf(path, sizeof path, "%s/exit.log", D.dir);
  snprintf(cmd, sizeof cmd, "timeout 10 %s --config %s %s >%s 2>&1",
           CM_DAEMON_PATH, D.config, args, path);
  int st = system(cmd);
  *log = slurp(path);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(daemon_auth,
     a_password_others_may_read_or_on_the_command_line_is_refused) {
  daemon_config(USER_PW, "carematch");
  char pwfile[256], *log;
  snprintf(pwfile, sizeof pwfile, "%s/redis.pw", D.dir);
  chmod(pwfile, 0640);
  cr_assert_eq(run_to_exit("--port 0", &log), 1, "%s", log);
  cr_assert(strstr(log, "group or others"), "%s", log);
  cr_assert_null(strstr(log, USER_PW));
  free(log);
  chmod(pwfile, 0400);
  char args[256];
  snprintf(args, sizeof args, "--port 0 --redis redis://carematch:%s@h:1",
           "cmdline-pw");
  cr_assert_eq(run_to_exit(args, &log), 2, "%s", log);
  cr_assert(strstr(log, "no password on the command line"), "%s", log);
  cr_assert_null(strstr(log, "cmdline-pw"));
  free(log);
  cm_test_daemon_cleanup(&D);
}

/* ---- starting before Redis ---- */

TestSuite(daemon_before_redis);

Test(daemon_before_redis, starts_not_ready_and_connects_when_redis_comes) {
  g_auth = 0;
  g_port = cm_test_free_port();
  cm_test_daemon_config(&D, NULL);
  char ini[256];
  snprintf(ini, sizeof ini,
           "[store]\nredis = redis://127.0.0.1:%d\nregion = %s\n", g_port,
           REGION);
  FILE *f = fopen(D.config, "a");
  fputs(ini, f);
  fclose(f);
  cm_test_daemon_start(&D, NULL); /* fails when the daemon exits */
  cr_assert_eq(get_code("/healthz", NULL), 200);
  char *body;
  cr_assert_eq(get_code("/readyz", &body), 503);
  cr_assert(strstr(body, "redis is not connected"), "%s", body);
  cr_assert_null(strstr(body, "127.0.0.1"), "an internal address: %s", body);
  free(body);
  cr_assert_eq(put_worker("w0"), 503);
  cr_assert_eq(get_code("/v1/requests/x", NULL), 503);
  /* nothing read from Redis yet: not even the weights are known */
  cr_assert_eq(get_code("/v1/weights", NULL), 503);
  cr_assert_eq(get_code("/v1/workers/w0", NULL), 503);
  /* Redis comes, with state another daemon left: it is recovered */
  g_redis = cm_test_server_start_args(g_port, NULL);
  redisContext *c = cm_test_side_connect(g_port);
  redisReply *rep = redisCommand(c, "SET cm:{%s}:weights %s", REGION,
                                 "{\"version\":7,\"weights\":{}}");
  freeReplyObject(rep);
  redisFree(c);
  cr_assert(wait_ready(1, 8000), "not ready once Redis is up");
  cm_test_reply r =
      cm_test_http(D.port, "GET", "/v1/weights", TOK_OPERATOR, NULL, NULL);
  json_int_t v = 0;
  json_unpack(r.json, "{s:I}", "version", &v);
  cm_test_reply_free(&r);
  cr_assert_eq(v, 7, "the weights were not read from Redis");
  offer_round_trip();
  char *log = slurp(D.log);
  cr_assert(strstr(log, "not ready"), "%s", log);
  cr_assert(strstr(log, "connected, state recovered"), "%s", log);
  free(log);
  daemon_stop();
  teardown();
}

/* ---- retention from the configuration file ---- */

Test(daemon_before_redis, record_keep_ms_and_events_max_reach_redis) {
  g_auth = 0;
  g_port = cm_test_free_port();
  g_redis = cm_test_server_start_args(g_port, NULL);
  cm_test_daemon_config(&D, NULL);
  char ini[256];
  snprintf(ini, sizeof ini,
           "[store]\nredis = redis://127.0.0.1:%d\nregion = %s\n"
           "record_keep_ms = 60000\nevents_max = 5\n",
           g_port, REGION);
  FILE *f = fopen(D.config, "a");
  fputs(ini, f);
  fclose(f);
  cm_test_daemon_start(&D, NULL);
  cr_assert(wait_ready(1, 5000));
  for (int i = 0; i < 70; i++) { /* no workers: each stays pending */
    char body[160], path[64];
    snprintf(body, sizeof body,
             "{\"id\":\"k%d\",\"lat\":31.23,\"lon\":121.47,\"skills\":"
             "[\"nurse\"],\"urgency\":\"normal\"}",
             i);
    cm_test_reply r =
        cm_test_http(D.port, "POST", "/v1/requests", TOK_PLATFORM, body, NULL);
    cr_assert_eq(r.code, 201, "%s", r.text);
    cm_test_reply_free(&r);
    snprintf(path, sizeof path, "/v1/requests/k%d/cancel", i);
    r = cm_test_http(D.port, "POST", path, TOK_PLATFORM, "{}", NULL);
    cr_assert_eq(r.code, 200, "%s", r.text);
    cm_test_reply_free(&r);
  }
  redisContext *c = admin();
  redisReply *rep = redisCommand(c, "PTTL cm:{%s}:req:k0", REGION);
  cr_assert(rep && rep->type == REDIS_REPLY_INTEGER);
  cr_assert(rep->integer > 0 && rep->integer <= 60000,
            "a cancelled record expires in %lld ms", rep->integer);
  freeReplyObject(rep);
  /* 140 transitions, trimmed to about 5 (XADD MAXLEN ~ trims whole nodes
     of 100 entries) */
  rep = redisCommand(c, "XLEN cm:{%s}:events", REGION);
  cr_assert(rep && rep->type == REDIS_REPLY_INTEGER);
  cr_assert(rep->integer < 100, "the event stream holds %lld", rep->integer);
  freeReplyObject(rep);
  redisFree(c);
  daemon_stop();
  teardown();
}
