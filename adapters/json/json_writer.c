/* json_writer.c -- JSON text written straight into a growing buffer, laid
 * out byte for byte as jansson's json_dumps lays it out (JSON_COMPACT, or
 * JSON_INDENT(2); JSON_REAL_PRECISION(n)), for the answer encoder: building
 * a jansson tree of a large answer and dumping it cost more than the solve
 * (docs/solve-format.md, "Speed"). Running out of memory is sticky: every
 * later write is ignored and cm__jw_finish gives NULL. */
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

/* Make room for n more bytes and the NUL. Returns 0 or -1 (failed). */
static int reserve(cm__jw *w, size_t n) {
  if (w->failed)
    return -1;
  if (w->len + n + 1 <= w->cap)
    return 0;
  size_t cap = w->cap ? w->cap : 4096;
  while (cap < w->len + n + 1)
    cap *= 2;
  char *b = realloc(w->buf, cap);
  if (!b) {
    w->failed = 1;
    return -1;
  }
  w->buf = b;
  w->cap = cap;
  return 0;
}

static void put(cm__jw *w, const char *s, size_t n) {
  if (reserve(w, n) == 0) {
    memcpy(w->buf + w->len, s, n);
    w->len += n;
  }
}

/* jansson's dump_indent: a newline and two spaces per level when pretty. */
static void indent(cm__jw *w, int depth) {
  if (!w->pretty || reserve(w, 1 + 2 * (size_t)depth) != 0)
    return;
  w->buf[w->len++] = '\n';
  memset(w->buf + w->len, ' ', 2 * (size_t)depth);
  w->len += 2 * (size_t)depth;
}

/* Before a value: nothing after a key; else the separator of its array. */
static void item(cm__jw *w) {
  if (w->after_key) {
    w->after_key = 0;
    return;
  }
  if (w->depth == 0)
    return;
  if (w->count[w->depth - 1]++ > 0)
    put(w, ",", 1);
  indent(w, w->depth);
}

void cm__jw_init(cm__jw *w, int pretty, int precision) {
  memset(w, 0, sizeof *w);
  w->pretty = pretty;
  w->precision = precision;
  w->point = *localeconv()->decimal_point;
}

void cm__jw_open(cm__jw *w, char c) {
  item(w);
  put(w, &c, 1);
  if (w->depth >= CM__JW_MAX_DEPTH) {
    w->failed = 1; /* a bug of the caller; reported as a failure */
    return;
  }
  w->count[w->depth++] = 0;
}

void cm__jw_close(cm__jw *w, char c) {
  if (w->depth == 0) {
    w->failed = 1;
    return;
  }
  if (w->count[--w->depth] > 0)
    indent(w, w->depth);
  put(w, &c, 1);
}

void cm__jw_string(cm__jw *w, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  item(w);
  put(w, "\"", 1);
  const char *run = s; /* bytes written as they are */
  while (*s) {
    unsigned char c = (unsigned char)*s;
    size_t n = c < 0x80 ? 1 : cm__json_utf8_len(s);
    if (c >= 0x20 && c != '"' && c != '\\' && n > 0) {
      s += n;
      continue;
    }
    put(w, run, (size_t)(s - run));
    char esc[6] = {'\\', 0};
    size_t len = 2;
    switch (c) {
    case '"':
    case '\\':
      esc[1] = (char)c;
      break;
    case '\b':
      esc[1] = 'b';
      break;
    case '\f':
      esc[1] = 'f';
      break;
    case '\n':
      esc[1] = 'n';
      break;
    case '\r':
      esc[1] = 'r';
      break;
    case '\t':
      esc[1] = 't';
      break;
    default:
      if (n == 0) { /* invalid UTF-8: '?', as cm__json_text makes it */
        esc[0] = '?';
        len = 1;
      } else { /* a control character: \u00XX */
        memcpy(esc, "\\u00", 4);
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 15];
        len = 6;
      }
    }
    put(w, esc, len);
    run = ++s;
  }
  put(w, run, (size_t)(s - run));
  put(w, "\"", 1);
}

void cm__jw_key(cm__jw *w, const char *key) {
  size_t n = strlen(key);
  item(w);
  if (reserve(w, n + 4) == 0) { /* a plain name: nothing to escape */
    char *o = w->buf + w->len;
    *o++ = '"';
    memcpy(o, key, n);
    o += n;
    *o++ = '"';
    *o++ = ':';
    if (w->pretty)
      *o++ = ' ';
    w->len = (size_t)(o - w->buf);
  }
  w->after_key = 1;
}

/* v in decimal, as "%lld" writes it, at buf (24 bytes). Returns the
 * length (no NUL). By hand: snprintf costs hundreds of instructions a
 * number, and half of an answer's terms are integers. */
static size_t format_ll(long long v, char *buf) {
  char tmp[24];
  size_t n = 0, len = 0;
  unsigned long long u =
      v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0)
    buf[len++] = '-';
  while (n)
    buf[len++] = tmp[--n];
  return len;
}

void cm__jw_int(cm__jw *w, long long v) {
  char buf[24];
  item(w);
  put(w, buf, format_ll(v, buf));
}

void cm__jw_bool(cm__jw *w, int v) {
  item(w);
  put(w, v ? "true" : "false", v ? 4 : 5);
}

void cm__jw_null(cm__jw *w) {
  item(w);
  put(w, "null", 4);
}

/* jansson's jsonp_dtostr: "%.<precision>g" with a '.' whatever the locale,
 * ".0" when it would read as an integer, and no '+' or leading zeros in
 * the exponent. x must be finite. */
void cm__jw_real(cm__jw *w, double x) {
  char buf[64], *p;
  item(w);
  /* An integral value of fewer digits than the precision prints as the
   * integer and ".0" (printf is slow, and half of an answer's terms are
   * such). */
  if (x == (double)(long long)x && fabs(x) < 1e9 && w->precision >= 10 &&
      (x != 0 || !signbit(x))) {
    size_t n = format_ll((long long)x, buf);
    memcpy(buf + n, ".0", 2);
    put(w, buf, n + 2);
    return;
  }
  int n = (int)cm__json_format_g(x, w->precision, buf); /* no printf */
  if (n == 0)
    n = snprintf(buf, sizeof buf - 3, "%.*g", w->precision, x);
  if (n < 0 || (size_t)n >= sizeof buf - 3) {
    w->failed = 1;
    return;
  }
  if (w->point != '.' && (p = strchr(buf, w->point)))
    *p = '.';
  if (!strchr(buf, '.') && !strchr(buf, 'e')) {
    memcpy(buf + n, ".0", 3);
    n += 2;
  }
  char *e = strchr(buf, 'e');
  if (e) {
    char *from = e + 1, *to = e + 1; /* the exponent's digits go to `to` */
    if (*from == '+')
      from++;
    else if (*from == '-')
      from++, to++;
    char *digits = from;
    while (*digits == '0' && digits[1])
      digits++;
    size_t keep = strlen(digits);
    memmove(to, digits, keep + 1);
    n = (int)(to - buf) + (int)keep;
  }
  put(w, buf, (size_t)n);
}

char *cm__jw_finish(cm__jw *w) {
  if (w->failed || w->depth != 0 || reserve(w, 0) != 0) {
    free(w->buf);
    w->buf = NULL;
    return NULL;
  }
  w->buf[w->len] = '\0';
  char *s = w->buf;
  w->buf = NULL;
  return s;
}
