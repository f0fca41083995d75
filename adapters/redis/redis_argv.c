/* redis_argv.c -- building one Redis command (redis_argv.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_argv.h"

void cm__rd_argv_init(cm__rd_argv *a) {
  memset(a, 0, sizeof *a);
}

void cm__rd_argv_free(cm__rd_argv *a) {
  free(a->buf);
  free(a->off);
  free(a->alen);
  free(a->ptrs);
  cm__rd_argv_init(a);
}

void cm__rd_argv_reset(cm__rd_argv *a) {
  a->len = 0;
  a->argc = 0;
  a->failed = 0;
}

/* Room for one more argument of n bytes. Returns 0, or -1 (failed set). */
static int reserve(cm__rd_argv *a, size_t n) {
  if (a->failed)
    return -1;
  if (a->argc == a->cap_args) {
    int cap = a->cap_args ? 2 * a->cap_args : 16;
    size_t *off = realloc(a->off, (size_t)cap * sizeof *off);
    if (off)
      a->off = off;
    size_t *alen = realloc(a->alen, (size_t)cap * sizeof *alen);
    if (alen)
      a->alen = alen;
    const char **ptrs = realloc(a->ptrs, (size_t)cap * sizeof *ptrs);
    if (ptrs)
      a->ptrs = ptrs;
    if (!off || !alen || !ptrs) {
      a->failed = 1;
      return -1;
    }
    a->cap_args = cap;
  }
  if (a->len + n + 1 > a->cap) {
    size_t cap = a->cap ? a->cap : 256;
    while (cap < a->len + n + 1)
      cap *= 2;
    char *buf = realloc(a->buf, cap);
    if (!buf) {
      a->failed = 1;
      return -1;
    }
    a->buf = buf;
    a->cap = cap;
  }
  return 0;
}

void cm__rd_argv_add(cm__rd_argv *a, const char *s, size_t n) {
  if (reserve(a, n) != 0)
    return;
  if (n)
    memcpy(a->buf + a->len, s, n);
  a->off[a->argc] = a->len;
  a->alen[a->argc] = n;
  a->argc++;
  a->len += n;
  a->buf[a->len] = '\0';
}

void cm__rd_argv_str(cm__rd_argv *a, const char *s) {
  cm__rd_argv_add(a, s, strlen(s));
}

void cm__rd_argv_fmt(cm__rd_argv *a, const char *fmt, ...) {
  char small[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) {
    a->failed = 1;
    return;
  }
  if ((size_t)n < sizeof small) {
    cm__rd_argv_add(a, small, (size_t)n);
    return;
  }
  if (reserve(a, (size_t)n) != 0)
    return;
  va_start(ap, fmt);
  vsnprintf(a->buf + a->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  a->off[a->argc] = a->len;
  a->alen[a->argc] = (size_t)n;
  a->argc++;
  a->len += (size_t)n;
}

void cm__rd_argv_double(cm__rd_argv *a, double v) {
  cm__rd_argv_fmt(a, "%.17g", v);
}

void cm__rd_argv_i64(cm__rd_argv *a, int64_t v) {
  cm__rd_argv_fmt(a, "%" PRId64, v);
}

int cm__rd_argv_finish(cm__rd_argv *a) {
  if (a->failed || a->argc == 0)
    return -1;
  for (int i = 0; i < a->argc; i++)
    a->ptrs[i] = a->buf + a->off[i];
  return 0;
}
