/* test_redis_lua.c -- the Redis adapter's Lua scripts (adapters/redis/lua/)
 * against a real redis-server, the Lua Redis runs: every .lua file
 * compiles alone (SCRIPT LOAD; an error names the file and Redis's line in
 * it), opens with a comment naming it, and is the prelude or one of the
 * store's scripts; every script as the adapter loads it is the build's
 * head, prelude.lua and its own file, and compiles; the constants and key
 * positions the Lua sees are C's.
 *
 * The server: 127.0.0.1:$CM_TEST_REDIS_PORT (scripts/test.sh starts one);
 * when unset, each test starts its own. SCRIPT LOAD and EVAL of a
 * read-only script leave no key behind. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_keys.h"
#include "redis_lua.h"
#include "redis_scripts.h"
#include "redis_server.h"

static int g_port;
static pid_t g_pid; /* 0: the shared server of scripts/test.sh */
static redisContext *g_c;

static void setup(void) {
  cm_test_redis s = cm_test_redis_use();
  g_port = s.port;
  g_pid = s.pid;
  g_c = cm_test_side_connect(g_port);
  cr_assert_not_null(g_c, "no connection to redis-server on %d", g_port);
}

static void teardown(void) {
  if (g_c)
    redisFree(g_c);
  cm_test_redis_done(&(cm_test_redis){g_port, g_pid}, NULL);
}

/* The whole of file path (malloc'd, NUL-terminated), or NULL. */
static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
    n += got;
    if (n + 1 == cap) {
      char *bigger = realloc(buf, cap *= 2);
      if (!bigger)
        free(buf);
      buf = bigger;
    }
  }
  fclose(f);
  if (buf)
    buf[n] = '\0';
  return buf;
}

/* The text of adapters/redis/lua/<name> (malloc'd); fails the test when
 * it cannot be read. */
static char *lua_file(const char *name) {
  char path[sizeof CM_REDIS_LUA_DIR + 256 + 1];
  snprintf(path, sizeof path, "%s/%s", CM_REDIS_LUA_DIR, name);
  char *text = slurp(path);
  cr_assert_not_null(text, "cannot read %s", path);
  return text;
}

/* SCRIPT LOAD src. Returns NULL when Redis answered a SHA1, else Redis's
 * error (malloc'd). */
static char *script_load(const char *src) {
  const char *argv[] = {"SCRIPT", "LOAD", src};
  size_t len[] = {6, 4, strlen(src)};
  redisReply *r = redisCommandArgv(g_c, 3, argv, len);
  cr_assert_not_null(r, "SCRIPT LOAD: %s", g_c->errstr);
  char *why = NULL;
  if (r->type == REDIS_REPLY_ERROR)
    why = strdup(r->str);
  else if (r->type != REDIS_REPLY_STRING || r->len != 40)
    why = strdup("SCRIPT LOAD answered no SHA1");
  freeReplyObject(r);
  return why;
}

/* 1 when name is "<script>.lua" for a script of redis_scripts.h. */
static int is_script_file(const char *name) {
  for (int i = 0; i < CM__RD_NSCRIPTS; i++) {
    char want[64];
    snprintf(want, sizeof want, "%s.lua", cm__rd_script_name(i));
    if (strcmp(name, want) == 0)
      return 1;
  }
  return 0;
}

TestSuite(redis_lua, .init = setup, .fini = teardown);

/* Every .lua file of the folder compiles on its own (the prelude's names
 * are globals there, which compiling allows), so a syntax error is
 * reported with the file's own line number. */
Test(redis_lua, every_file_compiles) {
  DIR *d = opendir(CM_REDIS_LUA_DIR);
  cr_assert_not_null(d, "cannot open %s", CM_REDIS_LUA_DIR);
  int files = 0, prelude = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t n = strlen(e->d_name);
    if (n < 5 || strcmp(e->d_name + n - 4, ".lua") != 0)
      continue;
    files++;
    char *text = lua_file(e->d_name);
    char opening[sizeof e->d_name + 8];
    snprintf(opening, sizeof opening, "-- %s -- ", e->d_name);
    cr_expect(strncmp(text, opening, strlen(opening)) == 0,
              "%s does not open with a comment naming it (\"%s...\")",
              e->d_name, opening);
    char *why = script_load(text);
    cr_expect_null(why, "%s does not compile: %s", e->d_name, why ? why : "");
    free(why);
    free(text);
    if (strcmp(e->d_name, "prelude.lua") == 0)
      prelude = 1;
    else
      cr_expect(is_script_file(e->d_name),
                "%s is no script of redis_scripts.h (CM__RD_S_*) and no "
                "CM_REDIS_LUA_SCRIPTS entry in CMakeLists.txt",
                e->d_name);
  }
  closedir(d);
  cr_expect(prelude, "no prelude.lua in %s", CM_REDIS_LUA_DIR);
  cr_expect_eq(files, CM__RD_NSCRIPTS + 1,
               "%d .lua files in %s, expected the prelude and %d scripts",
               files, CM_REDIS_LUA_DIR, CM__RD_NSCRIPTS);
}

/* Each script the adapter loads is the head, prelude.lua and its file, as
 * they are now, and compiles as a whole. */
Test(redis_lua, every_script_is_head_prelude_file_and_compiles) {
  char *prelude = lua_file("prelude.lua");
  for (int i = 0; i < CM__RD_NSCRIPTS; i++) {
    const char *name = cm__rd_script_name(i);
    const char *src = cm__rd_script_source(i);
    cr_assert_not_null(src, "no source for script %d", i);
    char file[64];
    snprintf(file, sizeof file, "%s.lua", name);
    char *body = lua_file(file);
    size_t h = strlen(CM__RD_LUA_HEAD), p = strlen(prelude);
    cr_expect(strncmp(src, CM__RD_LUA_HEAD, h) == 0 &&
                  strncmp(src + h, prelude, p) == 0 &&
                  strcmp(src + h + p, body) == 0,
              "script %s is not CM__RD_LUA_HEAD + prelude.lua + %s "
              "(rebuild?)",
              name, file);
    char *why = script_load(src);
    cr_expect_null(why, "script %s does not compile: %s", name, why ? why : "");
    free(why);
    free(body);
  }
  free(prelude);
  cr_expect_null(cm__rd_script_source(CM__RD_NSCRIPTS));
}

/* What a script sees is C's: the key positions of redis_keys.h (1-based)
 * and the constants of the head. */
Test(redis_lua, the_lua_sees_cs_numbers) {
  char *prelude = lua_file("prelude.lua");
  const char *tail =
      "return {NF, K_SEEN, K_WORKERS, K_SEQ, K_OFFGRID, K_GEO0, K_LIVE,\n"
      "  K_EVENTS, K_CHANGES, K_RSEQ, SLACK, CHANGES_MAX, MAX_ELDERS,\n"
      "  tostring(LAG_KM)}\n";
  size_t len = strlen(CM__RD_LUA_HEAD) + strlen(prelude) + strlen(tail);
  char *src = malloc(len + 1);
  cr_assert_not_null(src);
  snprintf(src, len + 1, "%s%s%s", CM__RD_LUA_HEAD, prelude, tail);
  const char *argv[] = {"EVAL", src, "0"};
  size_t argl[] = {4, len, 1};
  redisReply *r = redisCommandArgv(g_c, 3, argv, argl);
  cr_assert_not_null(r, "EVAL: %s", g_c->errstr);
  cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "EVAL: %s",
               r->type == REDIS_REPLY_ERROR ? r->str : "not an array");
  cr_assert_eq(r->elements, 14);
  const long long want[] = {
      CM__RD_NFIXED,     CM__RD_K_SEEN + 1,    CM__RD_K_WORKERS + 1,
      CM__RD_K_SEQ + 1,  CM__RD_K_OFFGRID + 1, CM__RD_K_GEO0 + 1,
      CM__RD_K_LIVE + 1, CM__RD_K_EVENTS + 1,  CM__RD_K_CHANGES + 1,
      CM__RD_K_RSEQ + 1, CM__RD_SEEN_SLACK_MS, CM__RD_CHANGES_MAX,
      CM_MAX_ELDERS};
  const char *names[] = {"NF",        "K_SEEN", "K_WORKERS", "K_SEQ",
                         "K_OFFGRID", "K_GEO0", "K_LIVE",    "K_EVENTS",
                         "K_CHANGES", "K_RSEQ", "SLACK",     "CHANGES_MAX",
                         "MAX_ELDERS"};
  for (size_t i = 0; i < 13; i++) {
    const redisReply *x = r->element[i];
    /* numbers come back as integers, CHANGES_MAX (a string) as a string */
    long long got = x->type == REDIS_REPLY_INTEGER  ? x->integer
                    : x->type == REDIS_REPLY_STRING ? atoll(x->str)
                                                    : -1;
    cr_expect_eq(got, want[i], "%s is %lld in Lua, %lld in C", names[i], got,
                 want[i]);
  }
  cr_assert_eq(r->element[13]->type, REDIS_REPLY_STRING);
  cr_expect_float_eq(atof(r->element[13]->str), CM__RD_LAG_KM, 1e-12,
                     "LAG_KM is %s in Lua", r->element[13]->str);
  freeReplyObject(r);
  free(src);
  free(prelude);
}

/* The check can fail: SCRIPT LOAD refuses a script that does not parse. */
Test(redis_lua, a_syntax_error_is_refused) {
  char *why = script_load("local x = \nreturn x +\n");
  cr_assert_not_null(why);
  cr_expect(strstr(why, "user_script:") != NULL, "Redis answered: %s", why);
  free(why);
}
