/* fuzz_edge.c -- libFuzzer target: the HTTP edge's framer
 * (adapters/daemon/edge.c) on arbitrary bytes, as a client could send them.
 *
 * The input (after its first byte) is fed twice: whole, and in pieces whose
 * sizes cycle through 1..(first byte % 16 + 1). Both feedings must take
 * every byte and hand evhttp the same bytes (the framing never depends on
 * how the bytes arrive), and those bytes must be requests evhttp 2.1 takes
 * without refusing (and so never answers with its HTML page): a request
 * line "METHOD target HTTP/1.x" with METHOD one evhttp takes and a target
 * evhttp parses, header lines "name: value" of a token and value bytes, at
 * most one Content-Length of digits and exactly that many body bytes. */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "edge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *why, const char *at) {
  fprintf(stderr, "fuzz_edge: %s at: %.80s\n", why, at);
  abort();
}

static int tchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The next line of p[0..n) ending in CRLF, without control bytes but HTAB;
 * its length (the CRLF not counted). */
static size_t line(const char *p, size_t n) {
  const char *cr = memchr(p, '\r', n);
  if (!cr || (size_t)(cr - p) + 1 >= n || cr[1] != '\n')
    fail("a line without CRLF", p);
  for (const char *q = p; q < cr; q++)
    if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f)
      fail("a control byte", p);
  return (size_t)(cr - p);
}

/* p[0..n) is requests evhttp takes, nothing else. */
static void check(const char *p, size_t n) {
  static const char *const methods[] = {"GET ", "HEAD ", "POST ", "PUT ",
                                        "DELETE "};
  while (n > 0) {
    size_t l = line(p, n), m = 0;
    for (size_t i = 0; i < 5 && !m; i++)
      if (!strncmp(p, methods[i], strlen(methods[i])))
        m = strlen(methods[i]);
    if (!m || l < m + 10 ||
        (memcmp(p + l - 9, " HTTP/1.1", 9) &&
         memcmp(p + l - 9, " HTTP/1.0", 9)))
      fail("not a request line evhttp takes", p);
    char target[CMD_EDGE_HEAD_MAX];
    size_t tl = l - m - 9;
    memcpy(target, p + m, tl);
    target[tl] = '\0';
    if (!tl || memchr(target, ' ', tl))
      fail("a bad target", p);
    struct evhttp_uri *u =
        evhttp_uri_parse_with_flags(target, EVHTTP_URI_NONCONFORMANT);
    if (!u)
      fail("a target evhttp does not parse", p);
    evhttp_uri_free(u);
    p += l + 2;
    n -= l + 2;
    long length = -1;
    for (;;) {
      l = line(p, n);
      if (l == 0)
        break;
      size_t k = 0;
      while (k < l && tchar((unsigned char)p[k]))
        k++;
      if (k == 0 || k == l || p[k] != ':')
        fail("not a header line", p);
      if (k == 14 && !strncasecmp(p, "Content-Length", 14)) {
        if (length >= 0)
          fail("two Content-Length", p);
        length = strtol(p + 15, NULL, 10);
      }
      if (k == 17 && !strncasecmp(p, "Transfer-Encoding", 17))
        fail("a Transfer-Encoding", p);
      p += l + 2;
      n -= l + 2;
    }
    p += 2;
    n -= 2;
    if (length > 0) {
      if ((size_t)length > n)
        fail("a body shorter than its Content-Length", p);
      p += length;
      n -= (size_t)length;
    }
  }
}

/* Feed data[0..n) in pieces cycling through 1..step (0: whole); returns
 * what the framer handed on (malloc'd, *len its length). */
static char *feed(const uint8_t *data, size_t n, size_t step, size_t *len) {
  cmd_edge *e = cmd_edge_new(NULL);
  struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
  if (!e || !src || !dst)
    abort();
  for (size_t i = 0, k = 1; i < n; k = k % (step ? step : 1) + 1) {
    size_t piece = step ? k : n;
    if (piece > n - i)
      piece = n - i;
    evbuffer_add(src, data + i, piece);
    if (cmd_edge_feed(e, src, dst) < 0)
      abort();
    if (evbuffer_get_length(src))
      fail("bytes left untaken", "");
    i += piece;
  }
  *len = evbuffer_get_length(dst);
  char *out = malloc(*len + 1);
  if (!out)
    abort();
  evbuffer_remove(dst, out, *len);
  out[*len] = '\0';
  evbuffer_free(src);
  evbuffer_free(dst);
  cmd_edge_free(e);
  return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  size_t step = data[0] % 16 + 1, n1, n2;
  char *whole = feed(data + 1, size - 1, 0, &n1);
  char *parts = feed(data + 1, size - 1, step, &n2);
  if (n1 != n2 || memcmp(whole, parts, n1))
    fail("fed in pieces, the framer hands on other bytes", whole);
  check(whole, n1);
  free(whole);
  free(parts);
  return 0;
}
