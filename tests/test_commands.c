/* test_commands.c -- the command lines of carematchd (CM_DAEMON_PATH) and
 * carematch_sim (CM_SIM_PATH), run as processes (test_cli.c does
 * carematch's): --help (exit 0, every flag listed), --version, usage errors
 * (exit 64, the flag named, nothing run), numbers refused, --check-config
 * listing every error on its own line, --no-auth over a file without
 * tokens, a token given for two roles, the warning about a configuration
 * file others can read, the simulator's JSON through jansson and its
 * output errors (docs/cli.md). Each test works in its own directory. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "carematch/version.h"
#include "daemon_proc.h"
#include "proc.h"

static void write_text(const char *path, const char *text, mode_t mode) {
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f, "cannot create %s", path);
  fputs(text, f);
  fclose(f);
  cr_assert_eq(chmod(path, mode), 0);
}

/* Run prog with args (NULL-terminated, without argv[0]) in dir; stdin
 * /dev/null, stdout and stderr captured. */
static cm_test_run_result run(const char *dir, const char *prog,
                              const char *const *args) {
  return cm_test_run(dir, prog, NULL, NULL, args);
}

static void make_dir(char *dir, size_t n) {
  cm_test_mkdir(dir, n, "cmd");
}

/* Every "--name" of names appears in text. */
static void lists_every_flag(const char *text, const char *const *names,
                             const char *what) {
  for (int i = 0; names[i]; i++)
    cr_expect_not_null(strstr(text, names[i]), "%s --help lacks %s", what,
                       names[i]);
}

/* A usage error: exit 64, nothing on stdout, "prog: " and want on stderr. */
static void expect_usage_error(const char *dir, const char *prog,
                               const char *name, const char *const *args,
                               const char *want) {
  cm_test_run_result r = run(dir, prog, args);
  char prefix[64];
  snprintf(prefix, sizeof prefix, "%s: ", name);
  cr_expect_eq(r.status, 64, "%s %s: exit %d: %s", name, args[0] ? args[0] : "",
               r.status, r.err);
  cr_expect_str_empty(r.out, "%s: stdout must stay empty", want);
  cr_expect_eq(strncmp(r.err, prefix, strlen(prefix)), 0, "%s", r.err);
  cr_expect_not_null(strstr(r.err, want), "wanted '%s' in: %s", want, r.err);
  cr_expect_not_null(strstr(r.err, "usage:"), "%s", r.err);
  cm_test_run_free(&r);
}

/* ---- carematchd --------------------------------------------------------- */

Test(carematchd, help_lists_every_flag_and_exits_0) {
  static const char *const flags[] = {"--config",
                                      "--listen",
                                      "--port",
                                      "--port-file",
                                      "--trace",
                                      "--trace-pseudonymise",
                                      "--redis",
                                      "--region",
                                      "--no-auth",
                                      "--clock-start",
                                      "--clock-rate",
                                      "--check-config",
                                      "--routes",
                                      "--help",
                                      "--version",
                                      "64",
                                      "CAREMATCHD_TRACE_KEY",
                                      NULL};
  char dir[256];
  make_dir(dir, sizeof dir);
  const char *const forms[][2] = {{"--help", NULL}, {"-h", NULL}};
  for (int i = 0; i < 2; i++) {
    cm_test_run_result r = run(dir, CM_DAEMON_PATH, forms[i]);
    cr_expect_eq(r.status, 0, "%s: exit %d", forms[i][0], r.status);
    cr_expect_str_empty(r.err);
    lists_every_flag(r.out, flags, "carematchd");
    cm_test_run_free(&r);
  }
  const char *const version[][2] = {{"--version", NULL}, {"-V", NULL}};
  for (int i = 0; i < 2; i++) {
    cm_test_run_result r = run(dir, CM_DAEMON_PATH, version[i]);
    cr_expect_eq(r.status, 0);
    cr_expect_str_eq(r.out, "carematchd " CM_VERSION "\n");
    cm_test_run_free(&r);
  }
  cm_test_rmdir(dir);
}

Test(carematchd, usage_errors_exit_64_naming_the_flag) {
  static const struct {
    const char *args[4];
    const char *want;
  } cases[] = {
      {{"--port", NULL}, "option '--port' needs a value"},
      {{"--port", "abc", NULL}, "--port: 'abc' is not an integer in 0..65535"},
      {{"--port", "70000", NULL}, "--port: '70000'"},
      {{"--port", "80x", NULL}, "--port: '80x'"},
      {{"--clock-rate", "0", NULL}, "--clock-rate: '0' is not a number"},
      {{"--clock-rate", "nan", NULL}, "--clock-rate: 'nan'"},
      {{"--clock-start", "-5", NULL}, "--clock-start: '-5'"},
      {{"--config", NULL}, "option '--config' needs a value"},
      {{"--bogus", NULL}, "unknown option '--bogus'"},
      {{"--no-auth=yes", NULL}, "option '--no-auth' takes no value"},
      {{"-x", NULL}, "unknown option '-x'"},
      {{"extra", NULL}, "unexpected argument 'extra'"},
  };
  char dir[256];
  make_dir(dir, sizeof dir);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    expect_usage_error(dir, CM_DAEMON_PATH, "carematchd", cases[i].args,
                       cases[i].want);
  cm_test_rmdir(dir);
}

/* Found by the issue: with two bad lines, --check-config printed the first
 * error's line number beside the last error's message. Now every error
 * is listed, each on its own line with its own number. */
Test(carematchd, check_config_lists_every_error_with_its_line) {
  char dir[256], ini[320];
  make_dir(dir, sizeof dir);
  snprintf(ini, sizeof ini, "%s/bad.ini", dir);
  write_text(ini,
             "[server]\n"                    /* 1 */
             "port = 99999\n"                /* 2 */
             "colour = blue\n"               /* 3 */
             "; a comment\n"                 /* 4 */
             "this is not ini\n"             /* 5 */
             "[batch\n"                      /* 6 */
             "[services]\n"                  /* 7 */
             "x = nurse|pilot\n"             /* 8 */
             "[tokens]\n"                    /* 9 */
             "platform = " TOK_PLATFORM "\n" /* 10 */
             "[nowhere]\n"                   /* 11 */
             "k = v\n",                      /* 12 */
             0600);
  cm_test_run_result r =
      run(dir, CM_DAEMON_PATH,
          (const char *[]){"--config", ini, "--check-config", NULL});
  cr_expect_eq(r.status, 2, "a configuration refused: %s", r.err);
  static const struct {
    int line;
    const char *what;
  } want[] = {{2, "[server] port: must be an integer in 0..65535"},
              {3, "[server] colour: unknown key"},
              {5, "not an INI line"},
              {6, "a [section] line without its closing ]"},
              {8, "[services] x: unknown skill 'pilot'"},
              {12, "[nowhere]: unknown section"}};
  int lines = 0;
  for (const char *p = r.err; *p; p = strchr(p, '\n') + 1, lines++)
    cr_assert_not_null(strchr(p, '\n'), "one error a line: %s", r.err);
  cr_expect_eq(lines, 6, "six errors, six lines: %s", r.err);
  for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
    char line[400];
    snprintf(line, sizeof line, "carematchd: %s:%d: %s", ini, want[i].line,
             want[i].what);
    cr_expect_not_null(strstr(r.err, line), "wanted '%s' in:\n%s", line, r.err);
  }
  cm_test_run_free(&r);
  cm_test_rmdir(dir);
}

/* [batch] escalate_after_ms (the wait rule, docs/engine.md): taken in
 * range, refused with the key named outside it. */
Test(carematchd, escalate_after_ms_is_checked) {
  char dir[256], ini[320];
  make_dir(dir, sizeof dir);
  snprintf(ini, sizeof ini, "%s/esc.ini", dir);
  const char *vals[] = {"0", "600000", "-1", "604800001", "soon"};
  for (int i = 0; i < 5; i++) {
    char text[160];
    snprintf(text, sizeof text,
             "[server]\nport = 0\n[batch]\nescalate_after_ms = %s\n", vals[i]);
    write_text(ini, text, 0600);
    cm_test_run_result r = run(
        dir, CM_DAEMON_PATH,
        (const char *[]){"--config", ini, "--no-auth", "--check-config", NULL});
    if (i < 2) {
      cr_expect_eq(r.status, 0, "%s: %s", vals[i], r.err);
    } else {
      cr_expect_eq(r.status, 2, "%s refused", vals[i]);
      cr_expect_not_null(strstr(r.err, "escalate_after_ms"), "%s", r.err);
    }
    cm_test_run_free(&r);
  }
  cm_test_rmdir(dir);
}

/* [store] positions_ack and positions_pending_max (docs/redis.md,
 * "Positions: answered once queued"): taken when valid, refused naming
 * the key and what it takes otherwise. */
Test(carematchd, positions_ack_keys_are_checked) {
  char dir[256], ini[320];
  make_dir(dir, sizeof dir);
  snprintf(ini, sizeof ini, "%s/pos.ini", dir);
  static const struct {
    const char *line, *error; /* error NULL: taken */
  } cases[] = {
      {"positions_ack = queued", NULL},
      {"positions_ack = durable", NULL},
      {"positions_pending_max = 0", NULL},
      {"positions_ack = later", "[store] positions_ack: must be queued or "
                                "durable"},
      {"positions_pending_max = -1", "[store] positions_pending_max: must be "
                                     "an integer in 0..100000000"},
      {"positions_pending_max = many", "[store] positions_pending_max:"}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char text[160];
    snprintf(text, sizeof text, "[server]\nport = 0\n[store]\n%s\n",
             cases[i].line);
    write_text(ini, text, 0600);
    cm_test_run_result r = run(
        dir, CM_DAEMON_PATH,
        (const char *[]){"--config", ini, "--no-auth", "--check-config", NULL});
    if (!cases[i].error) {
      cr_expect_eq(r.status, 0, "%s: %s", cases[i].line, r.err);
    } else {
      cr_expect_eq(r.status, 2, "%s refused", cases[i].line);
      cr_expect_not_null(strstr(r.err, cases[i].error), "%s: %s", cases[i].line,
                         r.err);
    }
    cm_test_run_free(&r);
  }
  cm_test_rmdir(dir);
}

/* [batch] standby_every_ms (docs/engine.md "Standby"): taken in range,
 * refused with the key named outside it. */
Test(carematchd, standby_every_ms_is_checked) {
  char dir[256], ini[320];
  make_dir(dir, sizeof dir);
  snprintf(ini, sizeof ini, "%s/standby.ini", dir);
  const char *vals[] = {"0", "1800000", "-1", "86400001", "often"};
  for (int i = 0; i < 5; i++) {
    char text[160];
    snprintf(text, sizeof text,
             "[server]\nport = 0\n[batch]\nstandby_every_ms = %s\n", vals[i]);
    write_text(ini, text, 0600);
    cm_test_run_result r = run(
        dir, CM_DAEMON_PATH,
        (const char *[]){"--config", ini, "--no-auth", "--check-config", NULL});
    if (i < 2) {
      cr_expect_eq(r.status, 0, "%s: %s", vals[i], r.err);
    } else {
      cr_expect_eq(r.status, 2, "%s refused", vals[i]);
      cr_expect_not_null(strstr(r.err, "standby_every_ms"), "%s", r.err);
    }
    cm_test_run_free(&r);
  }
  cm_test_rmdir(dir);
}

/* Found by the issue: `--no-auth` with a --config lacking tokens exited 2,
 * as the file alone was checked for tokens. Now the flags count. */
Test(carematchd, no_auth_takes_a_file_without_tokens) {
  char dir[256], ini[320];
  make_dir(dir, sizeof dir);
  snprintf(ini, sizeof ini, "%s/open.ini", dir);
  write_text(ini, "[server]\nport = 0\n[batch]\nwindow_ms = 100\n", 0600);
  cm_test_run_result r =
      run(dir, CM_DAEMON_PATH,
          (const char *[]){"--config", ini, "--check-config", NULL});
  cr_expect_eq(r.status, 2);
  cr_expect_not_null(strstr(r.err, "no bearer tokens"), "%s", r.err);
  cm_test_run_free(&r);
  r = run(
      dir, CM_DAEMON_PATH,
      (const char *[]){"--config", ini, "--no-auth", "--check-config", NULL});
  cr_expect_eq(r.status, 0, "%s", r.err);
  cr_expect_str_empty(r.err);
  cm_test_run_free(&r);
  cm_test_rmdir(dir);

  /* and it starts, and serves without a token */
  cm_test_daemon d;
  cm_test_daemon_config(&d, NULL);
  char text[300];
  snprintf(text, sizeof text,
           "[server]\nport = 0\n[store]\nweights_file = "
           "%s/weights.json\n",
           d.dir);
  write_text(d.config, text, 0600);
  cm_test_daemon_start(&d, (const char *[]){"--no-auth", NULL});
  cm_test_reply rep =
      cm_test_http(d.port, "GET", "/v1/weights", NULL, NULL, NULL);
  cr_expect_eq(rep.code, 200, "%s", rep.text);
  cm_test_reply_free(&rep);
  cm_test_daemon_cleanup(&d);
}

/* One token for two roles only ever acted as one of them: refused, the
 * key named, the token never printed. */
Test(carematchd, a_token_for_two_roles_is_refused_at_start) {
  char dir[256], ini[320];
  make_dir(dir, sizeof dir);
  snprintf(ini, sizeof ini, "%s/shared.ini", dir);
  write_text(ini,
             "[tokens]\nplatform = " TOK_PLATFORM "\noperator = " TOK_OPERATOR
             "\ngateway = " TOK_GATEWAY ", " TOK_PLATFORM "\n",
             0600);
  const char *const modes[][5] = {{"--config", ini, "--check-config", NULL},
                                  {"--config", ini, "--port", "0", NULL}};
  for (int i = 0; i < 2; i++) {
    cm_test_run_result r = run(dir, CM_DAEMON_PATH, modes[i]);
    cr_expect_eq(r.status, 2, "%s: %s", modes[i][2], r.err);
    char want[400];
    snprintf(want, sizeof want,
             "%s:4: [tokens] gateway: a token is also given for platform", ini);
    cr_expect_not_null(strstr(r.err, want), "%s", r.err);
    cr_expect_null(strstr(r.err, TOK_PLATFORM), "the token was printed: %s",
                   r.err);
    cm_test_run_free(&r);
  }
  cm_test_rmdir(dir);
}

/* [operators] names an operator's token (the actor of its actions): the
 * named token acts as an operator's, a bad name or a token given twice is
 * refused naming the key, and no token is ever printed. */
Test(carematchd, named_operator_tokens) {
  char dir[256], ini[320];
  make_dir(dir, sizeof dir);
  snprintf(ini, sizeof ini, "%s/ops.ini", dir);
  write_text(ini,
             "[operators]\nnight.nurse-1 = " TOK_OPERATOR
             "\n[tokens]\nplatform = " TOK_PLATFORM "\n",
             0600);
  cm_test_run_result r =
      run(dir, CM_DAEMON_PATH,
          (const char *[]){"--config", ini, "--check-config", NULL});
  cr_expect_eq(r.status, 0, "%s", r.err);
  cm_test_run_free(&r);
  const char *const bad[][2] = {
      {"[operators]\nbad name = " TOK_OPERATOR "\n",
       "[operators] bad name: an operator's name is 1..47"},
      {"[operators]\nann = " TOK_OPERATOR "\n[tokens]\nplatform = " TOK_OPERATOR
       "\n",
       "[tokens] platform: a token is also given to the operator ann"},
      {"[operators]\nann = short\n",
       "[operators] ann: a token must be 16..127 characters"},
  };
  for (int i = 0; i < 3; i++) {
    write_text(ini, bad[i][0], 0600);
    r = run(dir, CM_DAEMON_PATH,
            (const char *[]){"--config", ini, "--check-config", NULL});
    cr_expect_eq(r.status, 2, "case %d: %s", i, r.err);
    cr_expect_not_null(strstr(r.err, bad[i][1]), "case %d: %s", i, r.err);
    cr_expect_null(strstr(r.err, TOK_OPERATOR), "the token was printed: %s",
                   r.err);
    cm_test_run_free(&r);
  }
  cm_test_rmdir(dir);

  /* the named token is an operator's: it reads the weights, may not submit */
  cm_test_daemon d;
  cm_test_daemon_config(&d, NULL);
  char text[400];
  snprintf(text, sizeof text,
           "[server]\nport = 0\n[store]\nweights_file = %s/weights.json\n"
           "[operators]\nann = " TOK_OPERATOR
           "\n[tokens]\nplatform = " TOK_PLATFORM "\n",
           d.dir);
  write_text(d.config, text, 0600);
  cm_test_daemon_start(&d, NULL);
  cm_test_reply rep =
      cm_test_http(d.port, "GET", "/v1/weights", TOK_OPERATOR, NULL, NULL);
  cr_expect_eq(rep.code, 200, "%s", rep.text);
  cm_test_reply_free(&rep);
  rep = cm_test_http(d.port, "POST", "/v1/requests", TOK_OPERATOR, "{}", NULL);
  cr_expect_eq(rep.code, 403, "%s", rep.text);
  cm_test_reply_free(&rep);
  cm_test_daemon_cleanup(&d);
}

/* The file holds the tokens: others reading it is a warning, naming the
 * file and its mode only. */
Test(carematchd, warns_when_others_can_read_the_config) {
  char dir[256], ini[320];
  make_dir(dir, sizeof dir);
  snprintf(ini, sizeof ini, "%s/c.ini", dir);
  write_text(ini, "[tokens]\nplatform = " TOK_PLATFORM "\n", 0644);
  cm_test_run_result r =
      run(dir, CM_DAEMON_PATH,
          (const char *[]){"--config", ini, "--check-config", NULL});
  cr_expect_eq(r.status, 0, "%s", r.err);
  cr_expect_not_null(strstr(r.err, "warning"), "%s", r.err);
  cr_expect_not_null(strstr(r.err, "mode 0644"), "%s", r.err);
  cr_expect_not_null(strstr(r.err, "chmod 600"), "%s", r.err);
  cr_expect_null(strstr(r.err, TOK_PLATFORM), "%s", r.err);
  cm_test_run_free(&r);
  chmod(ini, 0600);
  r = run(dir, CM_DAEMON_PATH,
          (const char *[]){"--config", ini, "--check-config", NULL});
  cr_expect_eq(r.status, 0);
  cr_expect_str_empty(r.err, "no warning at 0600: %s", r.err);
  cm_test_run_free(&r);
  cm_test_rmdir(dir);
}

/* Pseudonyms need a key: none, or one too short, is refused at start,
 * and the key is never printed. */
Test(carematchd, pseudonyms_need_a_key) {
  char dir[256], ini[320];
  make_dir(dir, sizeof dir);
  snprintf(ini, sizeof ini, "%s/t.ini", dir);
  write_text(ini,
             "[tokens]\nplatform = " TOK_PLATFORM "\n[trace]\n"
             "pseudonymise = on\n",
             0600);
  unsetenv("CAREMATCHD_TRACE_KEY");
  cm_test_run_result r =
      run(dir, CM_DAEMON_PATH,
          (const char *[]){"--config", ini, "--check-config", NULL});
  cr_expect_eq(r.status, 2);
  cr_expect_not_null(strstr(r.err, "no key"), "%s", r.err);
  cr_expect_not_null(strstr(r.err, "CAREMATCHD_TRACE_KEY"), "%s", r.err);
  cm_test_run_free(&r);
  setenv("CAREMATCHD_TRACE_KEY", "short-secret", 1);
  r = run(dir, CM_DAEMON_PATH,
          (const char *[]){"--config", ini, "--check-config", NULL});
  cr_expect_eq(r.status, 2);
  cr_expect_not_null(strstr(r.err, "CAREMATCHD_TRACE_KEY: a key must be"), "%s",
                     r.err);
  cr_expect_null(strstr(r.err, "short-secret"), "%s", r.err);
  cm_test_run_free(&r);
  setenv("CAREMATCHD_TRACE_KEY", "a-long-enough-secret-key", 1);
  r = run(dir, CM_DAEMON_PATH,
          (const char *[]){"--config", ini, "--check-config", NULL});
  cr_expect_eq(r.status, 0, "%s", r.err);
  cr_expect_null(strstr(r.out, "a-long-enough"), "%s", r.out);
  cm_test_run_free(&r);
  /* a key in the file is checked as a key */
  write_text(ini,
             "[tokens]\nplatform = " TOK_PLATFORM "\n[trace]\n"
             "key = tiny\n",
             0600);
  unsetenv("CAREMATCHD_TRACE_KEY");
  r = run(dir, CM_DAEMON_PATH,
          (const char *[]){"--config", ini, "--check-config", NULL});
  cr_expect_eq(r.status, 2);
  cr_expect_not_null(strstr(r.err, ":4: [trace] key: a key must be"), "%s",
                     r.err);
  cr_expect_null(strstr(r.err, "tiny"), "%s", r.err);
  cm_test_run_free(&r);
  cm_test_rmdir(dir);
}

/* ---- carematch_sim ------------------------------------------------------ */

Test(carematch_sim, help_lists_every_flag_and_exits_0) {
  static const char *const flags[] = {"generate",
                                      "run",
                                      "live",
                                      "--seed",
                                      "--workers",
                                      "--requests",
                                      "--trace",
                                      "--policies",
                                      "--floor",
                                      "--out",
                                      "--quiet",
                                      "--daemon",
                                      "--redis",
                                      "--url",
                                      "--platform-token",
                                      "--gateway-token",
                                      "--operator-token",
                                      "--rate",
                                      "--from",
                                      "--until",
                                      "--drain-min",
                                      "--survive",
                                      "--acked",
                                      "--id-prefix",
                                      "--cancel-rest",
                                      "--help",
                                      "--version",
                                      "64",
                                      NULL};
  char dir[256];
  make_dir(dir, sizeof dir);
  const char *const forms[][3] = {
      {"--help", NULL}, {"-h", NULL}, {"run", "--help", NULL}};
  for (int i = 0; i < 3; i++) {
    cm_test_run_result r = run(dir, CM_SIM_PATH, forms[i]);
    cr_expect_eq(r.status, 0, "%s: exit %d", forms[i][0], r.status);
    cr_expect_str_empty(r.err);
    lists_every_flag(r.out, flags, "carematch_sim");
    cm_test_run_free(&r);
  }
  cm_test_run_result r =
      run(dir, CM_SIM_PATH, (const char *[]){"--version", NULL});
  cr_expect_eq(r.status, 0);
  cr_expect_str_eq(r.out, "carematch_sim " CM_VERSION "\n");
  cm_test_run_free(&r);
  cm_test_rmdir(dir);
}

/* Found by the issue: `run --seed abc` ran seed 0. Every number is read
 * whole and in range, or refused with the flag named; nothing runs. */
Test(carematch_sim, usage_errors_exit_64_naming_the_flag) {
  static const struct {
    const char *args[6];
    const char *want;
  } cases[] = {
      {{NULL}, "no command given"},
      {{"frobnicate", NULL}, "unknown command 'frobnicate'"},
      {{"run", "--seed", "abc", NULL}, "--seed: 'abc' is not an integer"},
      {{"run", "--seed", "-1", NULL}, "--seed: '-1'"},
      {{"run", "--workers", "12x", NULL}, "--workers: '12x'"},
      {{"run", "--requests", "0", NULL}, "--requests: '0'"},
      {{"run", "--seed", NULL}, "option '--seed' needs a value"},
      {{"run", "--bogus", NULL}, "unknown option '--bogus'"},
      {{"run", "--quiet=1", NULL}, "option '--quiet' takes no value"},
      {{"run", "--daemon", "x", NULL}, "--daemon is for live only"},
      {{"run", "--policies", "nope", NULL}, "unknown policy 'nope'"},
      {{"run", "day.json", "--seed", "2", NULL}, "give the day once"},
      {{"generate", "--seed", "1", NULL}, "generate needs --out FILE"},
      {{"live", "--seed", "1", NULL}, "--daemon PATH or --url URL"},
      {{"live", "--url", "http://127.0.0.1:1", "--rate", "fast", NULL},
       "--rate: 'fast'"},
      {{"live", "--url", "http://127.0.0.1:1", "--from", "7", NULL},
       "--from: '7' is not HH:MM"},
      {{"live", "--url", "http://127.0.0.1:1", "--drain-min", "x", NULL},
       "--drain-min: 'x'"},
      /* issue 16: the kinds of day, the targets, the days pooled */
      {{"run", "--kind", "rural", NULL}, "--kind: unknown kind 'rural'"},
      {{"run", "day.json", "--kind", "surge", NULL}, "--kind is for a gen"},
      {{"run", "--sla", "rush=5", NULL}, "--sla: 'rush' is not URGENCY="},
      {{"run", "--sla", "urgent=-1", NULL}, "--sla: 'urgent' is not"},
      {{"run", "--seeds", "1-3", NULL}, "--seeds is for days"},
      {{"days", "--kind", "sparse", NULL}, "days needs --seeds A-B"},
      {{"days", "--seeds", "5-2", NULL}, "--seeds: '5-2' is not A-B"},
      {{"days", "--seeds", "1-x", NULL}, "--seeds: 'x' is not an integer"},
      /* a policy's switches (+look, +nolook, +standby, +history) */
      {{"run", "--policies", "optimal+fast", NULL},
       "unknown policy 'optimal+fast'"},
      {{"run", "--policies", "greedy+look+", NULL}, "unknown policy"},
      /* a what-if's switches are a built-in policy's; no label twice */
      {{"run", "--policies", "greedy+bogus=w.json", NULL},
       "unknown policy 'greedy+bogus' before '='"},
      {{"run", "--policies", "greedy,greedy", NULL}, "'greedy' given twice"},
      {{"run", "--policies", "a=x.json,a=y.json", NULL}, "'a' given twice"},
  };
  char dir[256];
  make_dir(dir, sizeof dir);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    expect_usage_error(dir, CM_SIM_PATH, "carematch_sim", cases[i].args,
                       cases[i].want);
  cm_test_rmdir(dir);
}

/* Found by the issue: the summary was written with fprintf, so a policy
 * name holding '"' made invalid JSON. It goes through jansson now. */
Test(carematch_sim, the_summary_is_json_whatever_the_names) {
  char dir[256], weights[320], out[320], policies[400];
  make_dir(dir, sizeof dir);
  snprintf(weights, sizeof weights, "%s/w.json", dir);
  snprintf(out, sizeof out, "%s/kpis.json", dir);
  write_text(weights, "{\"weights\":{\"travel\":2}}\n", 0644);
  /* the name is everything before the first '=': `my "best"\` */
  snprintf(policies, sizeof policies, "my \"best\"\\=%s,greedy", weights);
  cm_test_run_result r =
      run(dir, CM_SIM_PATH,
          (const char *[]){"run", "--seed", "3", "--workers", "30",
                           "--requests", "60", "--quiet", "--policies",
                           policies, "--out", out, NULL});
  cr_assert_eq(r.status, 0, "%s", r.err);
  cm_test_run_free(&r);
  json_error_t je;
  json_t *root = json_load_file(out, JSON_REJECT_DUPLICATES, &je);
  cr_assert_not_null(root, "not JSON: %s (line %d)", je.text, je.line);
  json_t *runs = json_object_get(root, "runs");
  cr_assert_eq(json_array_size(runs), 2);
  cr_expect_str_eq(
      json_string_value(json_object_get(json_array_get(runs, 0), "policy")),
      "my \"best\"\\");
  cr_expect_eq(json_integer_value(json_object_get(root, "seed")), 3);
  json_t *b = json_object_get(json_array_get(runs, 1), "batch_ms");
  cr_expect(json_is_number(json_object_get(b, "p50")) &&
            json_is_number(json_object_get(b, "p99")) &&
            json_is_number(json_object_get(b, "max")));
  json_t *e = json_object_get(
      json_object_get(json_array_get(runs, 1), "by_urgency"), "emergency");
  cr_expect(json_is_number(
      json_object_get(json_object_get(e, "arrival_min"), "p95")));
  json_decref(root);
  cm_test_rmdir(dir);
}

/* run's by_service (a run, or a policy's days pooled) covers the day's 8
 * services: their requests add up to the requests, their breaches to the
 * urgencies' breaches; every one is asked of some staff's hours. */
static void expect_services_add_up(json_t *run, json_int_t requests) {
  json_t *by = json_object_get(run, "by_service");
  cr_assert_eq(json_object_size(by), 8, "the catalogue's services");
  json_int_t n = 0, breaches = 0, urgent_breaches = 0;
  const char *key;
  json_t *v;
  json_object_foreach(by, key, v) {
    n += json_integer_value(json_object_get(v, "requests"));
    breaches += json_integer_value(json_object_get(v, "sla_breaches"));
    cr_expect_gt(json_number_value(json_object_get(v, "capable_shift_h")), 0,
                 "%s", key);
  }
  json_object_foreach(json_object_get(run, "by_urgency"), key, v) {
    urgent_breaches += json_integer_value(json_object_get(v, "sla_breaches"));
  }
  cr_expect_eq(n, requests);
  cr_expect_eq(breaches, urgent_breaches);
  cr_expect_gt(json_number_value(json_object_get(
                   json_object_get(by, "hospital_escort"), "onsite_h")),
               0);
}

/* Issue 16: run's --out holds the honest KPIs and every ratio with its
 * interval; days pools the days of its seeds. */
Test(carematch_sim, run_and_days_write_the_honest_kpis) {
  char dir[256], out[320], pooled[320];
  make_dir(dir, sizeof dir);
  snprintf(out, sizeof out, "%s/kpis.json", dir);
  snprintf(pooled, sizeof pooled, "%s/days.json", dir);
  cm_test_run_result r =
      run(dir, CM_SIM_PATH,
          (const char *[]){"run", "--seed", "3", "--workers", "30",
                           "--requests", "90", "--kind", "surge", "--quiet",
                           "--sla", "urgent=45", "--out", out, NULL});
  cr_assert_eq(r.status, 0, "%s", r.err);
  cm_test_run_free(&r);
  json_error_t je;
  json_t *root = json_load_file(out, JSON_REJECT_DUPLICATES, &je);
  cr_assert_not_null(root, "not JSON: %s (line %d)", je.text, je.line);
  cr_expect_eq(json_integer_value(json_object_get(root, "requests")), 180);
  cr_expect_str_eq(json_string_value(json_object_get(root, "kind")), "surge");
  json_t *runs = json_object_get(root, "runs");
  cr_assert_eq(json_array_size(runs), 3, "optimal, greedy-reserve, greedy");
  json_t *u = json_object_get(
      json_object_get(json_array_get(runs, 0), "by_urgency"), "urgent");
  cr_expect(json_is_integer(json_object_get(u, "sla_breaches")));
  cr_expect_eq(json_real_value(json_object_get(u, "sla_target_min")), 45);
  json_t *p95 = json_object_get(json_object_get(u, "arrival_min_all"), "p95");
  cr_expect(json_is_number(p95) || json_is_null(p95));
  cr_expect(json_is_object(json_object_get(u, "arrival_min")), "kept");
  expect_services_add_up(json_array_get(runs, 0), 180);
  json_t *cmp = json_object_get(root, "compare");
  cr_expect_eq(json_array_size(cmp), 3 * 13);
  cr_expect(json_is_string(json_object_get(json_array_get(cmp, 0), "metric")));
  cr_expect(json_object_get(json_array_get(cmp, 0), "lo95") != NULL);
  json_decref(root);
  r = run(dir, CM_SIM_PATH,
          (const char *[]){"days", "--seeds", "4-5", "--workers", "20",
                           "--requests", "60", "--quiet", "--policies",
                           "optimal,greedy", "--out", pooled, NULL});
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_expect_not_null(strstr(r.out, "2 days of kind normal, seeds 4-5"), "%s",
                     r.out);
  cm_test_run_free(&r);
  root = json_load_file(pooled, JSON_REJECT_DUPLICATES, &je);
  cr_assert_not_null(root, "not JSON: %s (line %d)", je.text, je.line);
  cr_expect_eq(json_integer_value(json_object_get(root, "days")), 2);
  cr_expect_eq(json_array_size(json_object_get(root, "per_day")), 2);
  json_t *pool = json_array_get(json_object_get(root, "pooled"), 0);
  json_int_t total = 0;
  const char *key;
  json_t *v;
  json_object_foreach(json_object_get(pool, "by_urgency"), key, v) {
    total += json_integer_value(json_object_get(v, "requests"));
  }
  cr_expect_eq(total, 120, "the requests of both days: %lld", (long long)total);
  expect_services_add_up(pool, 120);
  cr_expect_eq(json_array_size(json_object_get(root, "compare")), 13);
  /* each day's emergency breaches by cause add up to its breaches */
  json_t *day, *run;
  size_t di, ri;
  json_array_foreach(json_object_get(root, "per_day"), di, day) {
    json_array_foreach(json_object_get(day, "runs"), ri, run) {
      json_t *c = json_object_get(run, "emergency_breach_causes");
      json_int_t sum = 0;
      json_object_foreach(c, key, v) {
        sum += json_integer_value(v); /* the object below counts 0 */
      }
      json_int_t breaches = json_integer_value(
          json_object_get(json_object_get(run, "sla_breaches"), "emergency"));
      cr_expect_eq(json_object_size(c), 4);
      cr_expect_eq(sum, breaches);
      /* and those some worker could have reached in time, by what the
         nearest was doing: every other breached one was beyond reach */
      json_t *by = json_object_get(c, "reachable_nearest_was");
      json_int_t reachable = 0;
      cr_expect_eq(json_object_size(by), 8);
      json_object_foreach(by, key, v) {
        reachable += json_integer_value(v);
      }
      cr_expect_leq(reachable, breaches);
      cr_expect_leq(breaches - reachable, json_integer_value(json_object_get(
                                              run, "emergency_unreachable")));
      cr_expect(json_is_integer(json_object_get(run, "fallbacks")));
    }
  }
  json_decref(root);
  cm_test_rmdir(dir);
}

/* The fields of run r of the KPIs in path that a policy decides: jobs
 * done, travel, every urgency's breaches. */
static void decided(const char *path, size_t r, char *buf, size_t n) {
  json_error_t je;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  cr_assert_not_null(root, "not JSON: %s (line %d)", je.text, je.line);
  json_t *run = json_array_get(json_object_get(root, "runs"), r);
  int at = snprintf(buf, n, "done %lld km %.6f",
                    (long long)json_integer_value(json_object_get(run, "done")),
                    json_number_value(json_object_get(run, "travel_km")));
  const char *key;
  json_t *v;
  json_object_foreach(json_object_get(run, "by_urgency"), key, v) {
    at += snprintf(
        buf + at, n - (size_t)at, " %s %lld", key,
        (long long)json_integer_value(json_object_get(v, "sla_breaches")));
  }
  json_decref(root);
}

/* A built-in policy named before '=' runs as itself under the weights,
 * labelled NAME=FILE's last part: greedy under weights that change
 * nothing decides as greedy does (before, any NAME=FILE ran the
 * optimiser), and under a heavy workload weight otherwise; a weights file
 * refused exits 2. */
Test(carematch_sim, a_named_policy_takes_weights) {
  char dir[256], same[320], heavy[320], out[320], policies[1100];
  make_dir(dir, sizeof dir);
  snprintf(same, sizeof same, "%s/same.json", dir);
  snprintf(heavy, sizeof heavy, "%s/heavy.json", dir);
  snprintf(out, sizeof out, "%s/kpis.json", dir);
  write_text(same, "{\"weights\":{\"travel\":1}}\n", 0644);
  write_text(heavy, "{\"weights\":{\"workload\":200}}\n", 0644);
  snprintf(policies, sizeof policies,
           "greedy-reserve=%s,greedy-reserve,optimal,greedy-reserve=%s", same,
           heavy);
  const char *args[] = {
      "run",     "--seed",     "5",      "--workers", "40", "--requests", "120",
      "--quiet", "--policies", policies, "--out",     out,  NULL};
  cm_test_run_result r = run(dir, CM_SIM_PATH, args);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cm_test_run_free(&r);
  char with[256], plain[256], optimal[256], other[256];
  decided(out, 0, with, sizeof with);
  decided(out, 1, plain, sizeof plain);
  decided(out, 2, optimal, sizeof optimal);
  decided(out, 3, other, sizeof other);
  cr_expect_str_eq(with, plain);
  cr_expect_str_neq(optimal, plain, "the day must tell the two apart");
  cr_expect_str_neq(other, plain, "the weights must be applied");
  json_t *root = json_load_file(out, 0, NULL);
  cr_expect_str_eq(
      json_string_value(json_object_get(
          json_array_get(json_object_get(root, "runs"), 0), "policy")),
      "greedy-reserve=same.json");
  json_decref(root);
  write_text(same, "{\"weights\":{\"travel\":-1}}\n", 0644);
  r = run(dir, CM_SIM_PATH, args);
  cr_expect_eq(r.status, 2, "a weights file refused: %s", r.err);
  cr_expect_not_null(strstr(r.err, "travel"), "%s", r.err);
  cm_test_run_free(&r);
  cm_test_rmdir(dir);
}

/* An --out that cannot be written: exit 74, the reason named. */
Test(carematch_sim, an_out_not_written_exits_74) {
  struct stat st;
  if (stat("/dev/full", &st) != 0 || !S_ISCHR(st.st_mode))
    cr_skip_test("no /dev/full on this system");
  char dir[256];
  make_dir(dir, sizeof dir);
  cm_test_run_result r =
      run(dir, CM_SIM_PATH,
          (const char *[]){"run", "--seed", "1", "--workers", "20",
                           "--requests", "30", "--quiet", "--policies",
                           "greedy", "--out", "/dev/full", NULL});
  cr_expect_eq(r.status, 74, "%s", r.err);
  cr_expect_not_null(strstr(r.err, "--out: cannot write /dev/full: No space"),
                     "%s", r.err);
  cm_test_run_free(&r);
  cm_test_rmdir(dir);
}

/* The installed example configuration (packaging/carematchd.ini) loads:
 * every key in it is one the daemon takes, with a valid value; its tokens
 * are placeholders (commented out), so it starts only once they are set. */
Test(carematchd, the_example_configuration_loads) {
  char dir[256], ini[320], cmd[800];
  make_dir(dir, sizeof dir);
  snprintf(ini, sizeof ini, "%s/carematchd.ini", dir);
  snprintf(cmd, sizeof cmd,
           "install -m 0600 %s/../../packaging/carematchd.ini %s", CM_TEST_DATA,
           ini);
  cr_assert_eq(system(cmd), 0);
  cm_test_run_result r = run(
      dir, CM_DAEMON_PATH,
      (const char *[]){"--config", ini, "--no-auth", "--check-config", NULL});
  cr_expect_eq(r.status, 0, "%s", r.err);
  cr_expect_str_empty(r.err);
  cm_test_run_free(&r);
  r = run(dir, CM_DAEMON_PATH,
          (const char *[]){"--config", ini, "--check-config", NULL});
  cr_expect_eq(r.status, 2, "placeholders are not tokens: %s", r.err);
  cr_expect_not_null(strstr(r.err, "no bearer tokens"), "%s", r.err);
  cm_test_run_free(&r);
  cm_test_rmdir(dir);
}
