/* test_privacy.c -- personal data in carematchd's files (docs/daemon.md,
 * "Personal data"): the keyed hash against the vectors of FIPS 180-4 and
 * RFC 4231; the trace and the weights created 0600 whatever the umask;
 * elder ids pseudonymised in the trace (the environment's key over the
 * file's); lost trace lines (/dev/full) reported in the log and counted in
 * /metrics; the trace opened again on SIGHUP (logrotate); the
 * configuration the simulator writes for its daemon created 0600. The
 * command-line side (a token for two roles, the warning about a readable
 * configuration, a missing key) is in test_commands.c. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "daemon_proc.h"
#include "hmac_sha256.h"
#include "http_client.h"
#include "proc.h"

static void hex(const uint8_t *b, size_t n, char *out) {
  for (size_t i = 0; i < n; i++)
    sprintf(out + 2 * i, "%02x", b[i]);
}

static mode_t mode_of(const char *path) {
  struct stat st;
  cr_assert_eq(stat(path, &st), 0, "no %s", path);
  return st.st_mode & 07777;
}

/* The value of a counter in /metrics, or -1. */
static long long metric(const cm_test_daemon *d, const char *name) {
  cm_test_reply r =
      cm_test_http(d->port, "GET", "/metrics", TOK_METRICS, NULL, NULL);
  cr_assert_eq(r.code, 200, "%s", r.text);
  long long v = -1;
  char want[128];
  snprintf(want, sizeof want, "\n%s ", name);
  const char *p = strstr(r.text, want);
  if (p)
    v = strtoll(p + strlen(want), NULL, 10);
  cm_test_reply_free(&r);
  return v;
}

/* ---- the keyed hash ----------------------------------------------------- */

Test(privacy, sha256_and_hmac_match_the_published_vectors) {
  uint8_t out[CMD_SHA256_LEN];
  char h[2 * CMD_SHA256_LEN + 1];
  static const struct {
    const char *in, *want;
  } sha[] = {
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abc",
       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"}};
  for (size_t i = 0; i < sizeof sha / sizeof *sha; i++) {
    cmd_sha256(sha[i].in, strlen(sha[i].in), out);
    hex(out, sizeof out, h);
    cr_expect_str_eq(h, sha[i].want, "SHA-256(\"%s\")", sha[i].in);
  }
  char *million = malloc(1000000);
  cr_assert_not_null(million);
  memset(million, 'a', 1000000);
  cmd_sha256(million, 1000000, out);
  free(million);
  hex(out, sizeof out, h);
  cr_expect_str_eq(
      h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

  /* RFC 4231 test cases 1, 2 and 6 (a key longer than a block) */
  uint8_t k1[20], k6[131];
  memset(k1, 0x0b, sizeof k1);
  memset(k6, 0xaa, sizeof k6);
  cmd_hmac_sha256(k1, sizeof k1, "Hi There", 8, out);
  hex(out, sizeof out, h);
  cr_expect_str_eq(
      h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  const char *d2 = "what do ya want for nothing?";
  cmd_hmac_sha256("Jefe", 4, d2, strlen(d2), out);
  hex(out, sizeof out, h);
  cr_expect_str_eq(
      h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
  cmd_hmac_sha256(k6, sizeof k6, d6, strlen(d6), out);
  hex(out, sizeof out, h);
  cr_expect_str_eq(
      h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

Test(privacy, a_pseudonym_is_the_keyed_hash_of_the_id) {
  const char *key = "0123456789abcdef-key";
  char p[CMD_PSEUDONYM_LEN], q[CMD_PSEUDONYM_LEN], h[65];
  uint8_t mac[CMD_SHA256_LEN];
  cmd_trace_pseudonym(key, "e17", p);
  cmd_hmac_sha256(key, strlen(key), "e17", 3, mac);
  hex(mac, 16, h);
  cr_expect_eq(p[0], 'p');
  cr_expect_str_eq(p + 1, h, "the first 128 bits of HMAC-SHA-256(key, id)");
  cmd_trace_pseudonym(key, "e17", q);
  cr_expect_str_eq(p, q, "the same elder, the same pseudonym");
  cmd_trace_pseudonym(key, "e18", q);
  cr_expect_str_neq(p, q);
  cmd_trace_pseudonym("another-key-0123456789", "e17", q);
  cr_expect_str_neq(p, q, "another key, another pseudonym");
  cr_expect_eq(cmd_trace_key_check("short"), -1);
  cr_expect_eq(cmd_trace_key_check("sixteen-bytes-ok"), 0);
  cr_expect_eq(cmd_trace_key_check("sixteen-bytes\nno"), -1);
}

/* ---- the daemon's files ------------------------------------------------- */

#define FILE_KEY "the-file-key-0123456789"
#define ENV_KEY "the-environment-key-0123456789"
#define ELDER "elder-ELD-4242"

static const char worker[] =
    "{\"skills\":[\"nurse\"],\"lat\":31.2304,\"lon\":121.4737}";
static const char request[] =
    "{\"id\":\"r1\",\"lat\":31.231,\"lon\":121.474,\"skills\":[\"nurse\"],"
    "\"urgency\":\"normal\",\"elder\":\"" ELDER "\"}";

/* The trace and the weights are created 0600 under a umask of 022, and a
 * pseudonymised trace holds the pseudonym under the environment's key (it
 * wins over the file's), never the elder's id; the log holds neither the
 * id nor the keys. */
Test(privacy, the_trace_is_0600_and_holds_pseudonyms) {
  cm_test_daemon d;
  cm_test_daemon_config(&d, "[trace]\npseudonymise = on\nkey = " FILE_KEY "\n");
  char trace[256], weights[256];
  snprintf(trace, sizeof trace, "%s/trace.jsonl", d.dir);
  snprintf(weights, sizeof weights, "%s/weights.json", d.dir);
  umask(022);
  setenv("CAREMATCHD_TRACE_KEY", ENV_KEY, 1);
  cm_test_daemon_start(&d, (const char *[]){"--trace", trace, NULL});
  cm_test_ok_or_created(d.port, "PUT", "/v1/workers/w1", TOK_PLATFORM, worker);
  cm_test_ok_or_created(d.port, "POST", "/v1/requests", TOK_PLATFORM, request);
  cm_test_ok_or_created(d.port, "PUT", "/v1/weights", TOK_OPERATOR,
                        "{\"weights\":{\"travel\":2}}");
  cr_expect_eq(mode_of(trace), 0600, "trace mode %o", mode_of(trace));
  cr_expect_eq(mode_of(weights), 0600, "weights mode %o", mode_of(weights));
  cr_expect_eq(metric(&d, "carematch_trace_lines_lost_total"), 0);
  cr_assert_eq(cm_test_daemon_stop(&d, SIGTERM) >> 8, 0);

  char env_p[CMD_PSEUDONYM_LEN], file_p[CMD_PSEUDONYM_LEN];
  cmd_trace_pseudonym(ENV_KEY, ELDER, env_p);
  cmd_trace_pseudonym(FILE_KEY, ELDER, file_p);
  char *text = cm_test_slurp(trace), *log = cm_test_slurp(d.log);
  cr_assert(text && log);
  cr_expect_null(strstr(text, "ELD-4242"), "the elder's id is in the trace");
  cr_expect_not_null(strstr(text, env_p), "no pseudonym: %s", text);
  cr_expect_null(strstr(text, file_p), "the file's key was used");
  cr_expect_not_null(strstr(text, "\"route\":\"POST /v1/requests\""), "%s",
                     text);
  cr_expect_null(strstr(log, "ELD-4242"), "%s", log);
  cr_expect_null(strstr(log, ENV_KEY), "%s", log);
  cr_expect_null(strstr(log, FILE_KEY), "%s", log);
  cr_expect_null(strstr(log, "warning"), "a 0600 config: %s", log);
  free(text);
  free(log);
  cm_test_daemon_cleanup(&d);
}

/* Without pseudonyms the id is there (what the test above would see if
 * pseudonymising were broken), and an existing trace that others can read
 * is a warning in the log. */
Test(privacy, without_pseudonyms_the_id_stays_and_a_readable_trace_warns) {
  cm_test_daemon d;
  cm_test_daemon_config(&d, NULL);
  char trace[256];
  snprintf(trace, sizeof trace, "%s/trace.jsonl", d.dir);
  FILE *f = fopen(trace, "w");
  cr_assert_not_null(f);
  fclose(f);
  chmod(trace, 0644);
  unsetenv("CAREMATCHD_TRACE_KEY");
  cm_test_daemon_start(&d, (const char *[]){"--trace", trace, NULL});
  cm_test_ok_or_created(d.port, "PUT", "/v1/workers/w1", TOK_PLATFORM, worker);
  cm_test_ok_or_created(d.port, "POST", "/v1/requests", TOK_PLATFORM, request);
  cr_assert_eq(cm_test_daemon_stop(&d, SIGTERM) >> 8, 0);
  char *text = cm_test_slurp(trace), *log = cm_test_slurp(d.log);
  cr_assert(text && log);
  cr_expect_not_null(strstr(text, ELDER), "%s", text);
  cr_expect_not_null(strstr(log, "mode 0644"), "%s", log);
  cr_expect_not_null(strstr(log, "holds personal data"), "%s", log);
  free(text);
  free(log);
  cm_test_daemon_cleanup(&d);
}

/* Found by the issue: lines lost to a full disk were counted but never
 * reported. Now: the log says so at once (once per run of losses, then at
 * most once a minute), /metrics counts them, and the stop sums them up. */
Test(privacy, lost_trace_lines_are_reported_and_counted) {
  struct stat st;
  if (stat("/dev/full", &st) != 0 || !S_ISCHR(st.st_mode))
    cr_skip_test("no /dev/full on this system");
  cm_test_daemon d;
  cm_test_daemon_config(&d, NULL);
  cm_test_daemon_start(&d, (const char *[]){"--trace", "/dev/full", NULL});
  cm_test_ok_or_created(d.port, "PUT", "/v1/workers/w1", TOK_PLATFORM, worker);
  cr_expect_eq(metric(&d, "carematch_trace_lines_lost_total"), 1);
  cm_test_ok_or_created(d.port, "PUT", "/v1/workers/w2", TOK_PLATFORM, worker);
  cm_test_ok_or_created(d.port, "POST", "/v1/requests", TOK_PLATFORM, request);
  cr_expect_eq(metric(&d, "carematch_trace_lines_lost_total"), 3);
  cr_assert_eq(cm_test_daemon_stop(&d, SIGTERM) >> 8, 0);
  char *log = cm_test_slurp(d.log);
  cr_assert_not_null(log);
  const char *want = "trace /dev/full: a line could not be written (No space "
                     "left on device); 1 lost in a row";
  const char *at = strstr(log, want);
  cr_expect_not_null(at, "%s", log);
  cr_expect(!at || !strstr(at + strlen(want), "could not be written"),
            "reported once in a minute: %s", log);
  cr_expect_not_null(strstr(log, "trace /dev/full: 3 of 3 lines lost"), "%s",
                     log);
  cr_expect_null(strstr(log, "ELD-4242"), "%s", log);
  free(log);
  cm_test_daemon_cleanup(&d);
}

/* SIGHUP opens the trace again: after logrotate moved it, the next line
 * goes to a new file, 0600. */
Test(privacy, sighup_opens_the_trace_again) {
  cm_test_daemon d;
  cm_test_daemon_config(&d, NULL);
  char trace[256], moved[256];
  snprintf(trace, sizeof trace, "%s/trace.jsonl", d.dir);
  snprintf(moved, sizeof moved, "%s/trace.jsonl.1", d.dir);
  cm_test_daemon_start(&d, (const char *[]){"--trace", trace, NULL});
  cm_test_ok_or_created(d.port, "PUT", "/v1/workers/w1", TOK_PLATFORM, worker);
  cr_assert_eq(rename(trace, moved), 0);
  kill(d.pid, SIGHUP);
  char *text = NULL;
  for (int i = 0; i < 200 && access(trace, F_OK) != 0; i++) {
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  cm_test_ok_or_created(d.port, "PUT", "/v1/workers/w2", TOK_PLATFORM, worker);
  cr_expect_eq(mode_of(trace), 0600);
  text = cm_test_slurp(trace);
  cr_assert_not_null(text);
  cr_expect_not_null(strstr(text, "\"id\":\"w2\""), "%s", text);
  cr_expect_null(strstr(text, "\"id\":\"w1\""), "%s", text);
  free(text);
  text = cm_test_slurp(moved);
  cr_expect_not_null(strstr(text, "\"id\":\"w1\""), "%s", text);
  free(text);
  cm_test_daemon_cleanup(&d);
}

/* The configuration carematch_sim live (and bench_http) writes for the
 * daemon it starts holds tokens: 0600. */
Test(privacy, the_simulators_daemon_config_is_0600) {
  char dir[] = "/tmp/cm_privacy_XXXXXX", ini[128];
  cr_assert_not_null(mkdtemp(dir));
  snprintf(ini, sizeof ini, "%s/carematchd.ini", dir);
  umask(022);
  int port = 0;
  pid_t pid = cm_hc_daemon_start(CM_DAEMON_PATH, dir,
                                 "[tokens]\nplatform = " TOK_PLATFORM "\n",
                                 NULL, &port);
  cr_assert_gt(pid, 0);
  cr_expect_eq(mode_of(ini), 0600, "mode %o", mode_of(ini));
  cm_hc_daemon_stop(pid);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_expect_eq(system(cmd), 0);
}
