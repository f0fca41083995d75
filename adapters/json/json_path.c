/* json_path.c -- JSON paths ("$.requests[3].lat") for error reports: built
 * while decoding, or recovered from a byte offset of a jansson error. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json_internal.h"

/* 1 when key can be written as ".key": [A-Za-z_][A-Za-z0-9_]*. */
static int plain_key(const char *key) {
  if (!*key)
    return 0;
  for (const char *p = key; *p; p++) {
    char c = *p;
    int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(p != key && c >= '0' && c <= '9'))
      return 0;
  }
  return 1;
}

void cm__json_path_key(char *out, size_t n, const char *base, const char *key) {
  if (plain_key(key)) {
    snprintf(out, n, "%s.%s", base, key);
    return;
  }
  /* Bracket notation with '"' and '\' escaped; control bytes as '?'. */
  size_t len = (size_t)snprintf(out, n, "%s[\"", base);
  for (const char *p = key; *p && len + 4 < n; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '"' || c == '\\')
      out[len++] = '\\';
    out[len++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
  }
  if (len + 3 <= n) {
    memcpy(out + len, "\"]", 3);
  } else if (n > 0) {
    out[n - 1] = '\0';
  }
}

void cm__json_path_index(char *out, size_t n, const char *base, size_t i) {
  char digits[24];
  size_t nd = 0, bl = strlen(base);
  for (size_t v = i; nd == 0 || v > 0; v /= 10)
    digits[nd++] = (char)('0' + v % 10);
  if (bl + nd + 3 > n) { /* too long: cut by snprintf */
    if (n > 0)
      snprintf(out, n, "%s[%zu]", base, i);
    return;
  }
  /* Decoders write one path per element: no snprintf on that way. */
  memcpy(out, base, bl);
  out[bl++] = '[';
  while (nd > 0)
    out[bl++] = digits[--nd];
  out[bl++] = ']';
  out[bl] = '\0';
}

/* Shorten path in place so that it fits a cm_error field, cutting at a
 * segment boundary: the result names an enclosing value. */
static void fit_path(char *path) {
  size_t n = strlen(path);
  if (n < CM_ERROR_FIELD_MAX)
    return;
  n = CM_ERROR_FIELD_MAX - 1;
  while (n > 1 && path[n] != '.' && path[n] != '[')
    n--;
  path[n] = '\0';
}

cm_status cm__json_fail(cm_error *err, cm_status code, const char *base,
                        const char *key, const char *fmt, ...) {
  char path[CM__JSON_PATH_MAX], what[CM_ERROR_MESSAGE_MAX];
  va_list ap;
  if (key)
    cm__json_path_key(path, sizeof path, base, key);
  else
    snprintf(path, sizeof path, "%s", base);
  fit_path(path);
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return cm_error_set(err, code, path, "%s: %s", path, what);
}

/* ---- locating a byte offset ------------------------------------------- */

#define LOCATE_DEPTH 64 /* deeper nesting is reported at depth 64 */

typedef struct frame {
  int is_array;
  size_t index;    /* array: element index */
  const char *key; /* object: raw key text (escapes kept) */
  size_t key_len;  /* bytes of key; key NULL before the first key */
} frame;

/* Skip a string starting at text[i] == '"'. Returns the index just after the
 * closing quote, or len when the string does not end before len. */
static size_t skip_string(const char *text, size_t len, size_t i) {
  for (i++; i < len; i++) {
    if (text[i] == '\\')
      i++;
    else if (text[i] == '"')
      return i + 1;
  }
  return len;
}

void cm__json_locate(const char *text, size_t len, size_t pos, char *out,
                     size_t n) {
  frame st[LOCATE_DEPTH];
  int depth = 0, over = 0; /* over: frames beyond LOCATE_DEPTH */
  int want_key = 0;        /* in an object, the next string is a key */
  if (pos > len)
    pos = len;
  for (size_t i = 0; i < pos;) {
    char c = text[i];
    if (c == '"') {
      size_t end = skip_string(text, pos, i);
      if (want_key && depth > 0 && !over && !st[depth - 1].is_array) {
        st[depth - 1].key = text + i + 1;
        st[depth - 1].key_len = end > i + 1 ? end - i - 2 : 0;
        if (end == pos && text[end - 1] != '"')
          st[depth - 1].key_len = end - i - 1; /* cut off at pos */
        want_key = 0;
      }
      i = end;
      continue;
    }
    if (c == '{' || c == '[') {
      if (depth < LOCATE_DEPTH && !over) {
        st[depth].is_array = c == '[';
        st[depth].index = 0;
        st[depth].key = NULL;
        st[depth].key_len = 0;
        depth++;
      } else {
        over++;
      }
      want_key = c == '{';
    } else if (c == '}' || c == ']') {
      if (over)
        over--;
      else if (depth > 0)
        depth--;
      want_key = 0;
    } else if (c == ',' && !over && depth > 0) {
      if (st[depth - 1].is_array)
        st[depth - 1].index++;
      else
        want_key = 1;
    }
    i++;
  }
  /* Render the stack. */
  char path[CM__JSON_PATH_MAX], key[CM__JSON_PATH_MAX];
  snprintf(path, sizeof path, "$");
  for (int k = 0; k < depth; k++) {
    char next[CM__JSON_PATH_MAX];
    if (st[k].is_array) {
      cm__json_path_index(next, sizeof next, path, st[k].index);
    } else if (st[k].key) {
      size_t kl =
          st[k].key_len < sizeof key - 1 ? st[k].key_len : sizeof key - 1;
      memcpy(key, st[k].key, kl);
      key[kl] = '\0';
      cm__json_path_key(next, sizeof next, path, key);
    } else {
      break; /* an object before its first key: the object itself */
    }
    memcpy(path, next, sizeof path);
  }
  fit_path(path);
  snprintf(out, n, "%s", path);
}
