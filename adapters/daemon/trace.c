/* trace.c -- the input trace (--trace, [trace]): one JSON line for every
 * write the daemon took, appended to a file created 0600 (it holds
 * personal data: positions, and elder ids unless pseudonymised). With a
 * key, each elder id is replaced by its pseudonym, "p" and the first 128
 * bits of HMAC-SHA-256(key, id) in hex: the same elder keeps the same
 * pseudonym (a replay still sees who calls again) and without the key the
 * id cannot be recovered. A line that cannot be written is lost, counted
 * (carematch_trace_lines_lost_total) and reported in the log: the first of
 * a run of losses at once, then at most once a minute, and when writing
 * works again. No line of the trace is ever logged. The elder's address
 * (personal data the replay does not need) is dropped from every line. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "hmac_sha256.h"
#include "json_util.h"

#define REPORT_EVERY_NS ((int64_t)60 * 1000000000)

struct cmd_trace {
  char path[512];
  int fd;
  char key[CMD_TRACE_KEY_MAX]; /* "" none */
  uint64_t lines, lost;
  uint64_t lost_run;   /* lost since the last line written */
  int64_t reported_ns; /* when the run was last reported */
  int torn;            /* a line was cut short: start on a new line */
};

int cmd_trace_key_check(const char *key) {
  size_t n = strlen(key);
  if (n < 16 || n >= CMD_TRACE_KEY_MAX)
    return -1;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
      return -1;
  return 0;
}

void cmd_trace_pseudonym(const char *key, const char *id,
                         char out[CMD_PSEUDONYM_LEN]) {
  static const char hex[] = "0123456789abcdef";
  uint8_t mac[CMD_SHA256_LEN];
  cmd_hmac_sha256(key, strlen(key), id, strlen(id), mac);
  out[0] = 'p';
  for (int i = 0; i < 16; i++) {
    out[1 + 2 * i] = hex[mac[i] >> 4];
    out[2 + 2 * i] = hex[mac[i] & 15];
  }
  out[33] = '\0';
}

/* Open t->path for appending, created 0600. Returns the descriptor or -1
 * with msg. An existing file others may read is written to, with a
 * warning: its mode is the operator's to change. */
static int open_file(const char *path, char *msg, size_t n) {
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  struct stat st;
  if (fd < 0) {
    snprintf(msg, n, "trace: cannot open %s: %s", path, strerror(errno));
    return -1;
  }
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077))
    fprintf(stderr,
            "carematchd: warning: the trace %s can be read by group or "
            "others (mode %04o) and holds personal data: chmod 600 it\n",
            path, (unsigned)(st.st_mode & 07777));
  return fd;
}

cmd_trace *cmd_trace_open(const char *path, const char *key, char *msg,
                          size_t n) {
  cmd_trace *t = calloc(1, sizeof *t);
  if (!t) {
    snprintf(msg, n, "out of memory");
    return NULL;
  }
  if (strlen(path) >= sizeof t->path) {
    snprintf(msg, n, "trace: the path is too long");
    free(t);
    return NULL;
  }
  snprintf(t->path, sizeof t->path, "%s", path);
  if (key)
    snprintf(t->key, sizeof t->key, "%s", key);
  if ((t->fd = open_file(path, msg, n)) < 0) {
    free(t);
    return NULL;
  }
  return t;
}

int cmd_trace_reopen(cmd_trace *t) {
  char msg[640];
  if (!t)
    return 0;
  int fd = open_file(t->path, msg, sizeof msg);
  if (fd < 0) {
    fprintf(stderr, "carematchd: %s; still writing to the file open\n", msg);
    return -1;
  }
  close(t->fd);
  t->fd = fd;
  t->torn = 0;
  return 0;
}

void cmd_trace_close(cmd_trace *t) {
  if (!t)
    return;
  if (t->lost)
    fprintf(stderr, "carematchd: trace %s: %llu of %llu lines lost\n", t->path,
            (unsigned long long)t->lost,
            (unsigned long long)(t->lines + t->lost));
  close(t->fd);
  memset(t->key, 0, sizeof t->key);
  free(t);
}

uint64_t cmd_trace_lost(const cmd_trace *t) {
  return t ? t->lost : 0;
}

/* Write all of buf. Returns 0, or -1 with errno set and *cut 1 when part
 * of it was written. */
static int write_all(int fd, const char *buf, size_t len, int *cut) {
  *cut = 0;
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      if (w == 0)
        errno = EIO;
      return -1;
    }
    *cut = 1;
    buf += w;
    len -= (size_t)w;
  }
  *cut = 0;
  return 0;
}

static void lost(cmd_trace *t, const char *why) {
  int64_t now = cmd_mono_ns(NULL);
  t->lost++;
  if (t->lost_run++ == 0 || now - t->reported_ns >= REPORT_EVERY_NS) {
    fprintf(stderr,
            "carematchd: trace %s: a line could not be written (%s); %llu "
            "lost in a row, %llu since the start\n",
            t->path, why, (unsigned long long)t->lost_run,
            (unsigned long long)t->lost);
    t->reported_ns = now;
  }
}

/* Replace the elder id of a request's body with its pseudonym, in a copy
 * that line holds instead of body. Returns 0 or -1 (out of memory). */
static int pseudonymise(const cmd_trace *t, json_t *line) {
  json_t *body = json_object_get(line, "body");
  const char *elder = json_string_value(json_object_get(body, "elder"));
  if (!elder)
    return 0;
  char p[CMD_PSEUDONYM_LEN];
  cmd_trace_pseudonym(t->key, elder, p);
  json_t *copy = json_deep_copy(body);
  if (!copy)
    return -1;
  if (json_object_set_new(copy, "elder", json_string(p)) != 0) {
    json_decref(copy);
    return -1;
  }
  /* line takes copy, also when this fails */
  return json_object_set_new(line, "body", copy) == 0 ? 0 : -1;
}

/* Drop the elder's address from a request's body, in a copy that line
 * holds instead of body: personal data the replay does not need, never
 * in the trace. Returns 0 or -1 (out of memory). */
static int drop_address(json_t *line) {
  json_t *body = json_object_get(line, "body");
  if (!json_object_get(body, "address"))
    return 0;
  json_t *copy = json_deep_copy(body);
  if (!copy || json_object_del(copy, "address") != 0) {
    json_decref(copy);
    return -1;
  }
  /* line takes copy, also when this fails */
  return json_object_set_new(line, "body", copy) == 0 ? 0 : -1;
}

void cmd_trace_write(cmd_trace *t, json_t *line) {
  if (!t)
    return;
  if (!line || drop_address(line) != 0 ||
      (t->key[0] && pseudonymise(t, line) != 0)) {
    lost(t, "out of memory");
    return;
  }
  char *text = cm__json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(17));
  if (!text) {
    lost(t, "out of memory");
    return;
  }
  size_t n = strlen(text);
  char *buf = realloc(text, n + 3);
  if (!buf) {
    free(text);
    lost(t, "out of memory");
    return;
  }
  /* after a line cut short, a newline first: one broken line, not two */
  if (t->torn) {
    memmove(buf + 1, buf, n);
    buf[0] = '\n';
    n++;
  }
  buf[n++] = '\n';
  int cut;
  if (write_all(t->fd, buf, n, &cut) != 0) {
    t->torn = t->torn || cut;
    lost(t, strerror(errno));
  } else {
    t->torn = 0;
    t->lines++;
    if (t->lost_run)
      fprintf(stderr,
              "carematchd: trace %s: writing again after %llu lines lost\n",
              t->path, (unsigned long long)t->lost_run);
    t->lost_run = 0;
  }
  free(buf);
}
