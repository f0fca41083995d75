/* daemon_proc.c -- the real carematchd for integration tests (see
 * daemon_proc.h). */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon_proc.h"

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

void cm_test_daemon_config(cm_test_daemon *d, const char *extra_ini) {
  static int n;
  memset(d, 0, sizeof *d);
  snprintf(d->dir, sizeof d->dir, "/tmp/cm_daemon_%ld_%d", (long)getpid(), n++);
  mkdir(d->dir, 0700);
  snprintf(d->config, sizeof d->config, "%s/carematchd.ini", d->dir);
  snprintf(d->log, sizeof d->log, "%s/log", d->dir);
  FILE *f = fopen(d->config, "w");
  cr_assert_not_null(f);
  fchmod(fileno(f), 0600); /* it holds tokens: carematchd warns otherwise */
  fprintf(f,
          "[server]\nlisten = 127.0.0.1\nport = 0\nmax_body_bytes = 65536\n"
          "[store]\nweights_file = %s/weights.json\n"
          "[batch]\nwindow_ms = 50\noffer_ttl_ms = 60000\n"
          "[services]\nfall_alarm = nurse|caregiver\nhospital_escort = "
          "escort\nbedridden_transfer = caregiver*2\n"
          "[tokens]\nplatform = %s\ngateway = %s\noperator = %s\nmetrics = "
          "%s\n[operators]\nann = %s\n%s",
          d->dir, TOK_PLATFORM, TOK_GATEWAY, TOK_OPERATOR, TOK_METRICS,
          TOK_OPERATOR_ANN, extra_ini ? extra_ini : "");
  fclose(f);
}

void cm_test_daemon_start(cm_test_daemon *d, const char *const *args) {
  char portfile[192];
  snprintf(portfile, sizeof portfile, "%s/port", d->dir);
  unlink(portfile);
  const char *argv[32] = {CM_DAEMON_PATH, "--config", d->config, "--port-file",
                          portfile};
  int argc = 5;
  for (int i = 0; args && args[i] && argc < 31; i++)
    argv[argc++] = args[i];
  argv[argc] = NULL;
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    for (int i = 3; i < 1024; i++)
      if (i != fd)
        close(i);
    execv(CM_DAEMON_PATH, (char *const *)argv);
    _exit(127);
  }
  d->pid = pid;
  for (int i = 0; i < 500; i++) {
    FILE *f = fopen(portfile, "r");
    if (f) {
      int ok = fscanf(f, "%d", &d->port) == 1;
      fclose(f);
      if (ok && d->port > 0)
        return;
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid)
      cr_assert_fail("carematchd exited at start (status %d), see %s", status,
                     d->log);
    sleep_ms(10);
  }
  cr_assert_fail("carematchd did not start, see %s", d->log);
}

int cm_test_daemon_stop(cm_test_daemon *d, int sig) {
  int status = -1;
  if (d->pid <= 0)
    return status;
  kill(d->pid, sig);
  for (int i = 0; i < 1000; i++) {
    if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
      d->pid = 0;
      return status;
    }
    sleep_ms(10);
  }
  kill(d->pid, SIGKILL);
  waitpid(d->pid, &status, 0);
  d->pid = 0;
  return -1;
}

void cm_test_daemon_cleanup(cm_test_daemon *d) {
  char cmd[256];
  /* a clean drain, exit 0: under the sanitizers a leak or a memory error
     in the daemon fails the test here */
  if (d->pid > 0) {
    int status = cm_test_daemon_stop(d, SIGTERM);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      snprintf(cmd, sizeof cmd, "tail -40 %s >&2", d->log);
      if (system(cmd) != 0)
        fprintf(stderr, "(no log)\n");
      cr_expect_fail("carematchd did not exit cleanly (status %d)", status);
    }
  }
  snprintf(cmd, sizeof cmd, "rm -rf %s", d->dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", d->dir);
}

typedef struct sink {
  char *buf;
  size_t len;
} sink;

static size_t on_data(char *p, size_t size, size_t n, void *arg) {
  sink *s = arg;
  size_t add = size * n;
  char *b = realloc(s->buf, s->len + add + 1);
  if (!b)
    return 0;
  memcpy(b + s->len, p, add);
  s->buf = b;
  s->len += add;
  b[s->len] = '\0';
  return add;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg) {
  cm_test_reply *r = arg;
  size_t len = size * n;
  if (len > 18 && !strncasecmp(p, "WWW-Authenticate: ", 18))
    snprintf(r->www_auth, sizeof r->www_auth, "%.*s", (int)(len - 18 - 2),
             p + 18);
  return len;
}

cm_test_reply cm_test_http(int port, const char *method, const char *path,
                           const char *token, const char *body,
                           const char *type) {
  cm_test_reply r;
  memset(&r, 0, sizeof r);
  CURL *c = curl_easy_init();
  cr_assert_not_null(c);
  char url[512], auth[256], ctype[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
  struct curl_slist *h = NULL;
  if (token) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    h = curl_slist_append(h, auth);
  }
  if (body) {
    snprintf(ctype, sizeof ctype, "Content-Type: %s",
             type ? type : "application/json");
    h = curl_slist_append(h, ctype);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
  }
  h = curl_slist_append(h, "Expect:");
  sink s = {NULL, 0};
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.code);
  else
    r.code = -1;
  r.text = s.buf ? s.buf : strdup("");
  r.json = json_loads(r.text, 0, NULL);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return r;
}

cm_test_reply cm_test_expect(int port, long code, const char *method,
                             const char *path, const char *token,
                             const char *body) {
  cm_test_reply r = cm_test_http(port, method, path, token, body, NULL);
  cr_assert_eq(r.code, code, "%s %s: %ld, wanted %ld: %s", method, path, r.code,
               code, r.text);
  return r;
}

void cm_test_ok(int port, const char *method, const char *path,
                const char *token, const char *body) {
  cm_test_reply r = cm_test_expect(port, 200, method, path, token, body);
  cm_test_reply_free(&r);
}

void cm_test_ok_or_created(int port, const char *method, const char *path,
                           const char *token, const char *body) {
  cm_test_reply r = cm_test_http(port, method, path, token, body, NULL);
  cr_assert(r.code == 200 || r.code == 201, "%s %s: %ld, wanted 200 or 201: %s",
            method, path, r.code, r.text);
  cm_test_reply_free(&r);
}

void cm_test_reply_free(cm_test_reply *r) {
  json_decref(r->json);
  free(r->text);
  memset(r, 0, sizeof *r);
}

double cm_test_metric(int port, const char *sample) {
  cm_test_reply r =
      cm_test_http(port, "GET", "/metrics", TOK_METRICS, NULL, NULL);
  char key[256];
  snprintf(key, sizeof key, "\n%s ", sample);
  const char *p = r.text ? strstr(r.text, key) : NULL;
  double v = p ? atof(p + strlen(key)) : -1;
  cm_test_reply_free(&r);
  return v;
}

const char *cm_test_error_code(const cm_test_reply *r) {
  const char *s = NULL;
  if (r->json && json_unpack(r->json, "{s:{s:s}}", "error", "code", &s) == 0)
    return s;
  return "";
}

const char *cm_test_error_field(const cm_test_reply *r) {
  const char *s = NULL;
  if (r->json && json_unpack(r->json, "{s:{s:s}}", "error", "field", &s) == 0)
    return s;
  return "";
}

int cm_test_dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  cr_assert_geq(fd, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((unsigned short)port);
  cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  return fd;
}

int cm_test_stream_open(int port, const char *path, const char *token) {
  int fd = cm_test_dial(port);
  char req[512];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: "
                   "Bearer %s\r\n\r\n",
                   path, token);
  cr_assert_eq(write(fd, req, (size_t)n), n);
  return fd;
}

int cm_test_stream_read_until(int fd, const char *want, char *buf, size_t n) {
  size_t len = strlen(buf);
  for (int i = 0; i < 300; i++) {
    if (strstr(buf, want))
      return 1;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 10) == 1) {
      ssize_t got = read(fd, buf + len, n - len - 1);
      if (got <= 0)
        return 0;
      len += (size_t)got;
      buf[len] = '\0';
    }
  }
  return strstr(buf, want) != NULL;
}

int cm_test_check_config(const char *body, char *out, size_t n) {
  char path[] = "/tmp/cm-check-XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  FILE *f = fdopen(fd, "w");
  fputs(body, f);
  fclose(f);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "%s --config %s --check-config 2>&1",
           CM_DAEMON_PATH, path);
  FILE *p = popen(cmd, "r");
  size_t got = fread(out, 1, n - 1, p);
  out[got] = '\0';
  int rc = pclose(p);
  remove(path);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}
