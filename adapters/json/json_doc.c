/* json_doc.c -- cm__jdoc_parse: JSON text to a tape of values (json_doc.h)
 * with yajl's event parser.
 *
 * yajl checks the grammar and the shape of UTF-8 sequences. The callbacks
 * add what jansson's json_loadb(JSON_REJECT_DUPLICATES) refuses beyond
 * that, at the offset where jansson refuses it, so that errors keep their
 * codes and paths: a scalar at the top, nesting deeper than 2048, a key
 * twice in one object, an integer beyond int64, a real beyond a double,
 * overlong, surrogate or out-of-range UTF-8, "\u0000" and unpaired
 * surrogate escapes; and, as jansson converts a number while reading it,
 * a number out of range where the grammar wants no number (`{"a" 1e999}`)
 * is out_of_range, not malformed_json.
 *
 * Why a tape and not a tree of allocations: one array of 16-byte values and
 * one buffer of the strings, each decoded and terminated, so parsing and
 * freeing cost a few allocations in all (jansson spends half of a decode in
 * malloc and free). With a sink (json_doc.h), the elements of the root's
 * large arrays are handed over one at a time and dropped: the tape and the
 * strings then hold one element, not the whole text, and the peak memory
 * of `carematch solve` falls by about a third (each new page costs a fault
 * and zeroing).
 *
 * yajl does not check its allocations (it writes through a NULL from
 * malloc). Its allocator here tracks every block it hands out and, when
 * malloc fails, longjmps back to run(), which frees those blocks and
 * reports out of memory; nothing of yajl's state is touched after the jump.
 * The callbacks allocate the usual way and stop the parse on failure. */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "json_doc.h"
#include "json_internal.h"

#define YAJL_BLOCKS 16  /* yajl holds 6 blocks at most */
#define SMALL_OBJECT 16 /* more members: duplicate keys found by hashing */

typedef struct frame {
  uint32_t at;       /* the container's index */
  uint32_t count;    /* elements or members so far */
  uint64_t bloom;    /* small objects: a bit per key seen (key_bit) */
  uint32_t *keys;    /* large objects: set of key indexes (0: empty slot) */
  uint32_t keys_cap; /* slots of keys, a power of two; 0 while none */
} frame;

typedef struct builder {
  cm__jdoc *doc;
  const char *text;
  size_t len;
  size_t base;     /* offset of the chunk yajl reads: 0, then len */
  size_t prev_end; /* offset just past the token of the previous event */
  char point;      /* the locale's decimal point, for strtod */
  yajl_handle h;
  cm_error *err;
  cm_status st;          /* why a callback stopped the parse */
  int depth;             /* open containers */
  const cm__jsink *sink; /* streams the root's arrays, NULL: none */
  int streaming;         /* frames[1] is a streamed array */
  uint32_t mark;         /* its first element's index on the tape */
  size_t mark_str;       /* the strings' length when it began */
  uint32_t el_at;        /* where the current element begins (sink->swap:
                            after the elements kept) */
  uint32_t kept;         /* elements kept on the tape for sink->swap */
  frame frames[CM__JDOC_MAX_DEPTH];
  void *blocks[YAJL_BLOCKS]; /* yajl's live allocations */
  jmp_buf oom;               /* where yajl's allocator jumps on failure */
} builder;

/* ---- yajl's allocator -------------------------------------------------- */

static void *y_malloc(void *ctx, size_t n) {
  builder *b = ctx;
  for (int i = 0; i < YAJL_BLOCKS; i++)
    if (!b->blocks[i]) {
      if (!(b->blocks[i] = malloc(n)))
        longjmp(b->oom, 1);
      return b->blocks[i];
    }
  longjmp(b->oom, 1); /* defensive: more live blocks than yajl ever holds */
}

static void *y_realloc(void *ctx, void *p, size_t n) {
  builder *b = ctx;
  if (!p)
    return y_malloc(ctx, n);
  for (int i = 0; i < YAJL_BLOCKS; i++)
    if (b->blocks[i] == p) {
      void *q = realloc(p, n);
      if (!q)
        longjmp(b->oom, 1); /* p stays tracked and is freed after the jump */
      return b->blocks[i] = q;
    }
  longjmp(b->oom, 1); /* defensive: not a block of ours */
}

static void y_free(void *ctx, void *p) {
  builder *b = ctx;
  for (int i = 0; p && i < YAJL_BLOCKS; i++)
    if (b->blocks[i] == p)
      b->blocks[i] = NULL;
  free(p);
}

/* ---- errors ------------------------------------------------------------ */

/* Offset just past the token being read. */
static size_t here(const builder *b) {
  size_t pos = b->base + yajl_get_bytes_consumed(b->h);
  return pos < b->len ? pos : b->len;
}

/* Stop the parse: error code at offset pos, what says why. Returns 0
 * (yajl's "cancel"). */
static int stop_at(builder *b, cm_status code, size_t pos, const char *what) {
  int line, column;
  cm__json_line_col(b->text, pos, &line, &column);
  b->st = cm__json_syntax_error(b->text, b->len, code, pos, line, column, what,
                                b->err);
  return 0;
}

/* stop_at the current offset. */
static int stop(builder *b, cm_status code, const char *what) {
  return stop_at(b, code, here(b), what);
}

static int out_of_memory(builder *b) {
  b->st = cm_error_set(b->err, CM_E_NOMEM, "", NULL);
  return 0;
}

/* ---- the tape ---------------------------------------------------------- */

/* A value of type t begins (for containers: t is CM__JARRAY or CM__JOBJECT):
 * check its depth, count it in its array and append it. Returns it, or NULL
 * when the parse must stop. */
static cm__jval *begin_value(builder *b, cm__jtype t) {
  cm__jdoc *doc = b->doc;
  if (b->depth >= CM__JDOC_MAX_DEPTH) {
    stop(b, CM_E_LIMIT, "maximum parsing depth reached");
    return NULL;
  }
  if (b->depth == 0 && t != CM__JARRAY && t != CM__JOBJECT) {
    stop(b, CM_E_PARSE, "'[' or '{' expected");
    return NULL;
  }
  if (b->depth > 0) {
    frame *f = &b->frames[b->depth - 1];
    if (doc->vals[f->at].type == CM__JARRAY)
      f->count++;
  }
  if (doc->n_vals == doc->cap) {
    size_t cap = doc->cap * 2;
    cm__jval *v = realloc(doc->vals, cap * sizeof *v);
    if (!v) {
      out_of_memory(b);
      return NULL;
    }
    doc->vals = v;
    doc->cap = cap;
  }
  cm__jval *v = &doc->vals[doc->n_vals++];
  v->type = (uint32_t)t;
  v->next = (uint32_t)doc->n_vals;
  return v;
}

/* The value of the 4 hex digits at s (checked by yajl). */
static unsigned hex4(const char *s) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    v = v << 4 | (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return v;
}

/* Where the text of the string token that ends at here() starts (just
 * after its opening quote), or (size_t)-1 when there is none. */
static size_t raw_start(const builder *b) {
  const char *s = b->text + b->prev_end, *end = b->text + here(b) - 1;
  s = end > s ? memchr(s, '"', (size_t)(end - s)) : NULL;
  return s ? (size_t)(s + 1 - b->text) : (size_t)-1;
}

/* 1 when the escapes of text[at..end) are what jansson accepts: no
 * "\u0000", surrogates only in pairs; else 0 with *why set. */
static int escapes_ok(const char *s, const char *end, const char **why) {
  for (; s < end; s++) {
    if (*s != '\\')
      continue;
    if (*++s != 'u')
      continue;
    unsigned cp = hex4(s + 1);
    s += 4;
    if (cp == 0) {
      *why = "\\u0000 is not allowed";
      return 0;
    }
    if (cp >= 0xdc00 && cp <= 0xdfff) {
      *why = "invalid Unicode escape (a lone low surrogate)";
      return 0;
    }
    if (cp >= 0xd800 && cp <= 0xdbff) {
      unsigned lo = 0;
      if (end - s >= 7 && s[1] == '\\' && s[2] == 'u')
        lo = hex4(s + 3);
      if (lo < 0xdc00 || lo > 0xdfff) {
        *why = "invalid Unicode escape (a high surrogate without its pair)";
        return 0;
      }
      s += 6;
    }
  }
  return 1;
}

#define SHORT_STRING 32 /* bytes copied at once for a short string */

/* 1 when the SHORT_STRING bytes at s are all ASCII. */
static int ascii_block(const char *s) {
  uint64_t w[SHORT_STRING / 8], any = 0;
  memcpy(w, s, sizeof w);
  for (size_t i = 0; i < SHORT_STRING / 8; i++)
    any |= w[i];
  return (any & 0x8080808080808080u) == 0;
}

/* 1 when s[0..n) is ASCII. */
static int ascii(const unsigned char *s, size_t n) {
  unsigned char any = 0;
  for (size_t i = 0; i < n; i++)
    any |= s[i];
  return any < 0x80;
}

/* Append the string token s[0..n) (decoded by yajl) to the strings
 * buffer, after jansson's checks beyond yajl's, and terminate it. The
 * strings never outgrow the text (decoding never lengthens a string).
 * Returns 1 with *off set, or 0 when the parse must stop. */
static int take_string(builder *b, const unsigned char *s, size_t n,
                       uint32_t *off) {
  uintptr_t p = (uintptr_t)s, t = (uintptr_t)b->text;
  int in_text = p >= t && p < t + b->len;
  cm__jdoc *doc = b->doc;
  if (!in_text) { /* yajl decoded escapes */
    const char *why;
    size_t at = raw_start(b), end = here(b) - 1;
    if (at == (size_t)-1 || at + n > end)
      return stop(b, CM_E_PARSE, "string not found"); /* defensive */
    if (!escapes_ok(b->text + at, b->text + end, &why))
      return stop(b, CM_E_PARSE, why);
  }
  if (doc->str_cap - doc->n_str < n + 1 + SHORT_STRING) {
    size_t cap = doc->str_cap * 2;
    while (cap - doc->n_str < n + 1 + SHORT_STRING)
      cap *= 2;
    char *q = realloc(doc->strings, cap);
    if (!q)
      return out_of_memory(b);
    doc->strings = q;
    doc->str_cap = cap;
  }
  char *dst = doc->strings + doc->n_str;
  int plain = 0;
  /* Most strings are short (ids, names, hashes): copied as one block of a
   * fixed size from the text (the bytes after the string are the text's
   * too), which the compiler inlines, and checked for ASCII as a whole;
   * the rest byte by byte. */
  if (n < SHORT_STRING && in_text && t + b->len - p >= SHORT_STRING) {
    memcpy(dst, s, SHORT_STRING);
    plain = ascii_block((const char *)s);
  } else {
    memcpy(dst, s, n);
  }
  dst[n] = '\0';
  doc->n_str += n + 1;
  if (!plain && !ascii((const unsigned char *)dst, n) &&
      !cm__json_utf8_valid(dst))
    return stop(b, CM_E_PARSE, "invalid UTF-8 in a string");
  *off = (uint32_t)(dst - b->doc->strings);
  return 1;
}

/* ---- streaming (json_doc.h, cm__jsink) -------------------------------- */

/* A value just ended: when it is an element of the streamed array, hand it
 * to the sink and drop it (and its strings) from the tape. */
/* Drop the elements handed over from the tape (sink->swap takes those it
 * kept first). */
static void release(builder *b) {
  cm__jdoc *doc = b->doc;
  if (b->kept > 0)
    b->sink->swap(b->sink->ctx, doc, b->mark, b->mark_str);
  doc->n_vals = b->mark;
  doc->n_str = b->mark_str;
  b->el_at = b->mark;
  b->kept = 0;
}

static void value_done(builder *b) {
  if (!b->streaming || b->depth != 2)
    return;
  cm__jdoc *doc = b->doc;
  b->sink->element(b->sink->ctx, doc, &doc->vals[b->el_at],
                   b->frames[1].count - 1, b->prev_end);
  if (b->sink->swap && ++b->kept < b->sink->batch) {
    b->el_at = (uint32_t)doc->n_vals; /* kept: the next one follows */
    return;
  }
  release(b);
}

/* The container at frame f (just pushed) began: a member array of the
 * root is streamed when the sink wants it. */
static void maybe_stream(builder *b, const frame *f) {
  const cm__jdoc *doc = b->doc;
  if (!b->sink || b->depth != 2 || doc->vals[0].type != CM__JOBJECT ||
      doc->vals[f->at].type != CM__JARRAY)
    return;
  if (b->sink->stream(b->sink->ctx, doc, f->at - 1, b->prev_end)) {
    b->streaming = 1;
    b->mark = f->at + 1;
    b->mark_str = doc->n_str;
    b->el_at = b->mark;
    b->kept = 0;
  }
}

/* ---- callbacks --------------------------------------------------------- */

static int scalar(builder *b, cm__jtype t) {
  if (!begin_value(b, t))
    return 0;
  b->prev_end = here(b);
  value_done(b);
  return 1;
}

static int on_null(void *ctx) {
  return scalar(ctx, CM__JNULL);
}

static int on_boolean(void *ctx, int value) {
  return scalar(ctx, value ? CM__JTRUE : CM__JFALSE);
}

/* s[0..n) is an integer of JSON's grammar. Returns 0, or -1 when it does
 * not fit an int64 (as strtoll's range). */
static int parse_int(const char *s, size_t n, int64_t *out) {
  int neg = s[0] == '-';
  uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (size_t i = (size_t)neg; i < n; i++) {
    unsigned d = (unsigned)(s[i] - '0');
    if (v > (lim - d) / 10)
      return -1;
    v = v * 10 + d;
  }
  *out = !neg ? (int64_t)v : v == lim ? INT64_MIN : -(int64_t)v;
  return 0;
}

/* Convert the number s[0..n) (JSON's grammar) as jansson does: an integer
 * unless it holds '.', 'e' or 'E'. Returns NULL with *real and *i or *d
 * set, or why it is out of range (or "" when out of memory). */
static const char *convert(char point, const char *s, size_t n, int *real,
                           int64_t *i, double *d) {
  *real = 0;
  for (size_t k = 0; k < n && !*real; k++)
    *real = s[k] == '.' || s[k] == 'e' || s[k] == 'E';
  if (!*real)
    return parse_int(s, n, i) == 0 ? NULL
           : s[0] == '-'           ? "too big negative integer"
                                   : "too big integer";
  if (cm__json_real_fast(s, n, d))
    return NULL; /* exact without strtod (json_number.c) */
  /* strtod wants a terminated string in the locale's notation: a copy. */
  char small[64], *c = n < sizeof small ? small : malloc(n + 1), *dot;
  if (!c)
    return "";
  memcpy(c, s, n);
  c[n] = '\0';
  if (point != '.' && (dot = strchr(c, '.')))
    *dot = point;
  errno = 0;
  *d = strtod(c, NULL);
  int overflow = (*d == HUGE_VAL || *d == -HUGE_VAL) && errno == ERANGE;
  if (c != small)
    free(c);
  return overflow ? "real number overflow" : NULL;
}

/* 1 when s[0..n) is left for the sink to convert (cm__jsink.raw_numbers):
 * inside a streamed element, short, without an exponent. */
static int leave_raw(const builder *b, const char *s, size_t n) {
  if (n > 18 || !b->streaming || b->depth < 2 || !b->sink->raw_numbers)
    return 0;
  for (size_t k = 0; k < n; k++)
    if ((s[k] | 0x20) == 'e')
      return 0;
  return 1;
}

void cm__jdoc_number(cm__jval *v, const char *text, char point) {
  int real;
  int64_t i = 0;
  double d = 0;
  (void)convert(point, text + v->u.str.off, v->u.str.len, &real, &i, &d);
  v->type = real ? CM__JREAL : CM__JINT;
  if (real)
    v->u.d = d;
  else
    v->u.i = i;
}

static int on_number(void *ctx, const char *s, size_t n) {
  builder *b = ctx;
  int real;
  int64_t i = 0;
  double d = 0;
  uintptr_t p = (uintptr_t)s, t = (uintptr_t)b->text;
  if (p >= t && p + n <= t + b->len && leave_raw(b, s, n)) {
    cm__jval *v = begin_value(b, CM__JRAWNUM);
    if (!v)
      return 0;
    v->u.str.off = (uint32_t)(p - t);
    v->u.str.len = (uint32_t)n;
    b->prev_end = here(b);
    value_done(b);
    return 1;
  }
  const char *why = convert(b->point, s, n, &real, &i, &d);
  if (why)
    return *why ? stop(b, CM_E_RANGE, why) : out_of_memory(b);
  cm__jval *v = begin_value(b, real ? CM__JREAL : CM__JINT);
  if (!v)
    return 0;
  if (real)
    v->u.d = d;
  else
    v->u.i = i;
  b->prev_end = here(b);
  value_done(b);
  return 1;
}

static int on_string(void *ctx, const unsigned char *s, size_t n) {
  builder *b = ctx;
  uint32_t off;
  if (!take_string(b, s, n, &off))
    return 0;
  cm__jval *v = begin_value(b, CM__JSTRING);
  if (!v)
    return 0;
  v->u.str.off = off;
  v->u.str.len = (uint32_t)n;
  b->prev_end = here(b);
  value_done(b);
  return 1;
}

static uint32_t key_hash(const char *s, size_t n) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

/* Add key index k to the set of f (sized for it). */
static void set_add(const cm__jdoc *doc, frame *f, uint32_t k) {
  const cm__jval *v = &doc->vals[k];
  uint32_t mask = f->keys_cap - 1;
  uint32_t i = key_hash(cm__jdoc_str(doc, v), v->u.str.len) & mask;
  while (f->keys[i])
    i = (i + 1) & mask;
  f->keys[i] = k;
}

/* Rebuild the key set of f with room for twice its members. Returns 0 or
 * -1 (out of memory; the old set stays). */
static int set_grow(const cm__jdoc *doc, frame *f) {
  uint32_t cap = 64;
  while (cap < f->count * 4)
    cap *= 2;
  uint32_t *keys = calloc(cap, sizeof *keys);
  if (!keys)
    return -1;
  free(f->keys);
  f->keys = keys;
  f->keys_cap = cap;
  /* every key has its value but the last, just appended */
  for (uint32_t k = f->at + 1;; k = doc->vals[k + 1].next) {
    set_add(doc, f, k);
    if (k + 1 == doc->n_vals)
      return 0;
  }
}

/* The bit of key s[0..n) in a frame's bloom. */
static uint64_t key_bit(const char *s, size_t n) {
  return (uint64_t)1 << ((n * 7 + (n ? (unsigned char)s[0] * 13u +
                                           (unsigned char)s[n - 1]
                                     : 0)) &
                         63);
}

/* 1 when the object of f has a member named s[0..n) already (f's bloom
 * then has the key's bit, which is set here). */
static int has_key(const cm__jdoc *doc, frame *f, const char *s, size_t n) {
  uint64_t bit = key_bit(s, n);
  if (!f->keys && !(f->bloom & bit)) {
    f->bloom |= bit;
    return 0;
  }
  if (f->keys) {
    uint32_t mask = f->keys_cap - 1;
    for (uint32_t i = key_hash(s, n) & mask; f->keys[i]; i = (i + 1) & mask) {
      const cm__jval *v = &doc->vals[f->keys[i]];
      if (v->u.str.len == n && memcmp(cm__jdoc_str(doc, v), s, n) == 0)
        return 1;
    }
    return 0;
  }
  for (uint32_t k = f->at + 1; k < doc->n_vals; k = doc->vals[k + 1].next) {
    const cm__jval *v = &doc->vals[k];
    if (v->u.str.len == n && memcmp(cm__jdoc_str(doc, v), s, n) == 0)
      return 1;
  }
  return 0;
}

static int on_key(void *ctx, const unsigned char *s, size_t n) {
  builder *b = ctx;
  cm__jdoc *doc = b->doc;
  frame *f = &b->frames[b->depth - 1];
  uint32_t off;
  if (!take_string(b, s, n, &off))
    return 0;
  if (has_key(doc, f, doc->strings + off, n))
    return stop(b, CM_E_DUPLICATE, "duplicate object key");
  if (doc->n_vals == doc->cap) { /* a key is no value: appended here */
    size_t cap = doc->cap * 2;
    cm__jval *v = realloc(doc->vals, cap * sizeof *v);
    if (!v)
      return out_of_memory(b);
    doc->vals = v;
    doc->cap = cap;
  }
  uint32_t k = (uint32_t)doc->n_vals++;
  doc->vals[k].type = CM__JSTRING;
  doc->vals[k].next = k + 1;
  doc->vals[k].u.str.off = off;
  doc->vals[k].u.str.len = (uint32_t)n;
  f->count++;
  if (f->keys && f->count * 2 <= f->keys_cap)
    set_add(doc, f, k);
  else if (f->count > SMALL_OBJECT && set_grow(doc, f) != 0)
    return out_of_memory(b);
  b->prev_end = here(b);
  return 1;
}

static int start(builder *b, cm__jtype t) {
  cm__jval *v = begin_value(b, t);
  if (!v)
    return 0;
  frame *f = &b->frames[b->depth++];
  f->at = (uint32_t)(v - b->doc->vals);
  f->count = 0;
  f->bloom = 0;
  f->keys = NULL;
  f->keys_cap = 0;
  b->prev_end = here(b);
  maybe_stream(b, f);
  return 1;
}

static int on_start_map(void *ctx) {
  return start(ctx, CM__JOBJECT);
}

static int on_start_array(void *ctx) {
  return start(ctx, CM__JARRAY);
}

static int on_end(void *ctx) {
  builder *b = ctx;
  if (b->streaming && b->depth == 2) /* the streamed array ends */
    release(b);
  frame *f = &b->frames[--b->depth];
  cm__jval *v = &b->doc->vals[f->at];
  v->next = (uint32_t)b->doc->n_vals;
  v->u.count = f->count;
  free(f->keys);
  f->keys = NULL;
  b->prev_end = here(b);
  if (b->streaming && b->depth == 1) { /* the streamed array ended */
    b->streaming = 0;
    if (b->sink->end)
      b->sink->end(b->sink->ctx, b->doc);
  }
  value_done(b);
  return 1;
}

/* ---- the parse --------------------------------------------------------- */

/* 1 when s[0..n) is a number of JSON's grammar. */
static int json_number(const char *s, size_t n) {
  size_t i = s[0] == '-';
#define DIGITS_()                                                              \
  do {                                                                         \
    if (i >= n || s[i] < '0' || s[i] > '9')                                    \
      return 0;                                                                \
    while (i < n && s[i] >= '0' && s[i] <= '9')                                \
      i++;                                                                     \
  } while (0)
  if (i < n && s[i] == '0')
    i++;
  else
    DIGITS_();
  if (i < n && s[i] == '.') {
    i++;
    DIGITS_();
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-'))
      i++;
    DIGITS_();
  }
#undef DIGITS_
  return i == n;
}

/* jansson converts a number as it reads it, before it looks at where the
 * number stands: a number out of range where the grammar wants something
 * else is out_of_range there, not malformed JSON. yajl stops just after
 * the token it refuses; when that token is such a number, stop the parse
 * with jansson's error and return 1. */
static int misplaced_overflow(builder *b, size_t pos) {
  const char *t = b->text;
  size_t p = pos;
  while (p > 0 && t[p - 1] && strchr("0123456789+-.eE", t[p - 1]))
    p--;
  for (; p < pos; p++) /* the token is the longest number ending at pos */
    if (json_number(t + p, pos - p))
      break;
  int real;
  int64_t i;
  double d;
  const char *why =
      p < pos ? convert(b->point, b->text + p, pos - p, &real, &i, &d) : NULL;
  if (why && *why)
    stop_at(b, CM_E_RANGE, pos, why);
  else if (why)
    out_of_memory(b);
  return why != NULL;
}

/* The error of a failed yajl_parse: malformed JSON at yajl's offset. */
static cm_status syntax_error(builder *b) {
  size_t pos = here(b);
  if (misplaced_overflow(b, pos))
    return b->st;
  unsigned char *msg = yajl_get_error(b->h, 0, NULL, 0);
  const char *what = msg ? (const char *)msg : "syntax error";
  char text[CM_ERROR_MESSAGE_MAX];
  size_t n = strlen(what);
  while (n > 0 && (what[n - 1] == '\n' || what[n - 1] == ' '))
    n--; /* yajl ends its message with a newline */
  if (n >= sizeof text)
    n = sizeof text - 1;
  memcpy(text, what, n);
  text[n] = '\0';
  if (msg)
    yajl_free_error(b->h, msg);
  stop_at(b, CM_E_PARSE, pos, text);
  return b->st;
}

/* Run yajl over the text into b->doc. Returns CM_OK or the error. */
static cm_status run(builder *b) {
  static const yajl_callbacks cb = {.yajl_null = on_null,
                                    .yajl_boolean = on_boolean,
                                    .yajl_number = on_number,
                                    .yajl_string = on_string,
                                    .yajl_start_map = on_start_map,
                                    .yajl_map_key = on_key,
                                    .yajl_end_map = on_end,
                                    .yajl_start_array = on_start_array,
                                    .yajl_end_array = on_end};
  yajl_alloc_funcs af = {y_malloc, y_realloc, y_free, b};
  if (setjmp(b->oom)) {
    for (int i = 0; i < YAJL_BLOCKS; i++) {
      free(b->blocks[i]);
      b->blocks[i] = NULL;
    }
    return cm_error_set(b->err, CM_E_NOMEM, "", NULL);
  }
  b->h = yajl_alloc(&cb, &af, b);
  yajl_status ys = yajl_parse(b->h, (const unsigned char *)b->text, b->len);
  if (ys == yajl_status_ok) {
    b->base = b->len;
    ys = yajl_complete_parse(b->h);
  }
  cm_status st = ys == yajl_status_ok                ? CM_OK
                 : ys == yajl_status_client_canceled ? b->st
                                                     : syntax_error(b);
  yajl_free(b->h);
  return st;
}

cm_status cm__jdoc_parse(cm__jdoc *doc, const char *text, size_t len,
                         cm_error *err) {
  return cm__jdoc_parse_stream(doc, text, len, NULL, err);
}

cm_status cm__jdoc_parse_stream(cm__jdoc *doc, const char *text, size_t len,
                                const cm__jsink *sink, cm_error *err) {
  memset(doc, 0, sizeof *doc);
  if (len > CM__JDOC_MAX_TEXT)
    return cm_error_set(err, CM_E_LIMIT, "",
                        "the text is %zu bytes, at most %zu are read", len,
                        CM__JDOC_MAX_TEXT);
  builder *b = malloc(sizeof *b);
  if (!b)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  memset(b, 0, offsetof(builder, frames));
  memset(b->blocks, 0, sizeof b->blocks);
  b->doc = doc;
  b->text = text;
  b->len = len;
  b->err = err;
  b->point = *localeconv()->decimal_point;
  b->sink = sink;
  /* About one value per 8 bytes in instances, strings a third of the
   * text; streamed, a few elements. Both grow when needed. */
  doc->cap = sink ? 4096 : len / 8 + 64;
  doc->str_cap = sink ? 65536 : len / 3 + 64;
  doc->vals = malloc(doc->cap * sizeof *doc->vals);
  doc->strings = malloc(doc->str_cap);
  cm_status st = doc->vals && doc->strings
                     ? run(b)
                     : cm_error_set(err, CM_E_NOMEM, "", NULL);
  for (int i = 0; i < b->depth; i++)
    free(b->frames[i].keys);
  free(b);
  return st;
}

void cm__jdoc_free(cm__jdoc *doc) {
  free(doc->vals);
  free(doc->strings);
  memset(doc, 0, sizeof *doc);
}
