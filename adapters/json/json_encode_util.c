/* json_encode_util.c -- small helpers of the encoders: building jansson
 * values without leaking on failure, safe strings and the final dump. */
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

int cm__json_set(json_t *obj, const char *key, json_t *value) {
  if (!value)
    return -1;
  return json_object_set_new(obj, key, value) == 0 ? 0 : -1;
}

int cm__json_append(json_t *arr, json_t *value) {
  if (!value)
    return -1;
  return json_array_append_new(arr, value) == 0 ? 0 : -1;
}

size_t cm__json_utf8_len(const char *text) {
  const unsigned char *s = (const unsigned char *)text;
  unsigned c = s[0];
  size_t n;
  unsigned min;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4, min = 0x10000;
  else
    return 0;
  unsigned cp = c & (0x3f >> (n - 1));
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

int cm__json_utf8_valid(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    size_t n = cm__json_utf8_len((const char *)p);
    if (n == 0)
      return 0;
    p += n;
  }
  return 1;
}

json_t *cm__json_text(const char *s) {
  json_t *v = json_string(s ? s : "");
  if (v)
    return v;
  /* Invalid UTF-8 (e.g. a message truncated inside a character). */
  size_t len = strlen(s);
  char *copy = malloc(len + 1);
  if (!copy)
    return NULL;
  const unsigned char *p = (const unsigned char *)s;
  size_t o = 0;
  while (*p) {
    size_t n = cm__json_utf8_len((const char *)p);
    if (n == 0) {
      copy[o++] = '?';
      p++;
    } else {
      memcpy(copy + o, p, n);
      o += n;
      p += n;
    }
  }
  copy[o] = '\0';
  v = json_string(copy);
  free(copy);
  return v;
}

/* The text being dumped; failed is sticky. */
typedef struct dump_buf {
  char *text;
  size_t len, cap;
  int failed; /* an append ran out of memory: every later one fails */
} dump_buf;

static int dump_append(const char *s, size_t n, void *ctx) {
  dump_buf *b = ctx;
  if (b->failed)
    return -1;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *t = realloc(b->text, cap);
    if (!t) {
      b->failed = 1;
      return -1;
    }
    b->text = t;
    b->cap = cap;
  }
  memcpy(b->text + b->len, s, n);
  b->len += n;
  b->text[b->len] = '\0';
  return 0;
}

char *cm__json_dumps(const json_t *root, size_t flags) {
  dump_buf b = {0};
  if (json_dump_callback(root, dump_append, &b, flags) != 0 || b.failed ||
      !b.text) {
    free(b.text);
    return NULL;
  }
  return b.text;
}

char *cm__json_dump_free(json_t *root, size_t flags, int pretty) {
  if (!root)
    return NULL;
  flags |= pretty ? JSON_INDENT(2) : JSON_COMPACT;
  char *s = cm__json_dumps(root, flags | JSON_PRESERVE_ORDER);
  json_decref(root);
  return s;
}
