/* test_http_edge.c -- the HTTP edge (adapters/daemon/edge.c): the real
 * carematchd on a loopback port, spoken to over raw sockets with requests
 * no HTTP library would send: conflicting or malformed Content-Length,
 * transfer codings, a NUL after a valid token, two Authorization headers,
 * methods evhttp does not take, HEAD on a kept-alive connection, bad
 * versions, oversized or folded headers. Each gets its status, a JSON error
 * naming the field, the connection kept or closed as it should be, never
 * libevent's HTML page, and nothing done. The framer in process too: fed a
 * byte at a time it frames as when fed at once. */
#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon_proc.h"
#include "edge.h"

static cm_test_daemon D;

static void setup(void) {
  cm_test_daemon_config(&D, NULL); /* max_body_bytes = 65536 */
  cm_test_daemon_start(&D, NULL);
}

static void teardown(void) {
  cm_test_daemon_cleanup(&D);
}

TestSuite(edge, .init = setup, .fini = teardown);

/* ---- a raw HTTP/1.1 client ---- */

static void send_all(int fd, const char *p, size_t n) {
  cr_assert_eq(write(fd, p, n), (ssize_t)n);
}

/* One byte, waiting at most 2 s; -1 at EOF or timeout. */
static int get_byte(int fd) {
  struct pollfd p = {fd, POLLIN, 0};
  unsigned char c;
  if (poll(&p, 1, 2000) != 1 || read(fd, &c, 1) != 1)
    return -1;
  return c;
}

typedef struct reply {
  int status;
  char head[4096]; /* status line and headers */
  char body[8192]; /* the body (none for HEAD) */
  long length;     /* Content-Length, -1 none */
  json_t *json;    /* the body parsed, or NULL */
} reply;

/* "Name: value" of r's headers (case-insensitive name), or "". */
static const char *header(const reply *r, const char *name, char *out,
                          size_t n) {
  out[0] = '\0';
  for (const char *p = strstr(r->head, "\r\n"); p && p[2];
       p = strstr(p + 2, "\r\n")) {
    const char *l = p + 2, *colon = strchr(l, ':'), *end = strstr(l, "\r\n");
    if (!colon || !end || colon > end)
      continue;
    if ((size_t)(colon - l) == strlen(name) &&
        !strncasecmp(l, name, strlen(name))) {
      const char *v = colon + 1;
      while (*v == ' ')
        v++;
      snprintf(out, n, "%.*s", (int)(end - v), v);
      break;
    }
  }
  return out;
}

/* Read one reply; head: the request was HEAD (no body follows). Returns 0,
 * -1 when the connection closed or went quiet first. */
static int read_reply(int fd, int head, reply *r) {
  memset(r, 0, sizeof *r);
  size_t n = 0;
  while (n < sizeof r->head - 1 &&
         !(n >= 4 && !memcmp(r->head + n - 4, "\r\n\r\n", 4))) {
    int c = get_byte(fd);
    if (c < 0)
      return -1;
    r->head[n++] = (char)c;
  }
  if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
    return -1;
  if (r->status == 100) /* an interim reply: the final one follows */
    return read_reply(fd, head, r);
  char v[64];
  r->length = header(r, "Content-Length", v, sizeof v)[0] ? atol(v) : -1;
  if (!head && r->length > 0) {
    cr_assert_lt(r->length, (long)sizeof r->body);
    for (long i = 0; i < r->length; i++) {
      int c = get_byte(fd);
      if (c < 0)
        return -1;
      r->body[i] = (char)c;
    }
    r->json = json_loads(r->body, 0, NULL);
  }
  return 0;
}

/* 1 when the server closed the connection (within 0.5 s). */
static int closed_by_server(int fd) {
  struct pollfd p = {fd, POLLIN, 0};
  char c;
  return poll(&p, 1, 500) == 1 && read(fd, &c, 1) == 0;
}

static const char *err_code(const reply *r) {
  const char *s = "";
  json_unpack(r->json, "{s:{s:s}}", "error", "code", &s);
  return s;
}

static const char *err_field(const reply *r) {
  const char *s = "";
  json_unpack(r->json, "{s:{s:s}}", "error", "field", &s);
  return s;
}

/* A reply the daemon shaped: JSON, never libevent's HTML page. */
static void assert_json(const reply *r, const char *what) {
  char t[64];
  cr_assert_str_eq(header(r, "Content-Type", t, sizeof t), "application/json",
                   "%s: %s", what, r->head);
  cr_assert_not_null(r->json, "%s: %s%s", what, r->head, r->body);
  cr_assert(!strstr(r->body, "<HTML") && !strstr(r->body, "<html"), "%s: %s",
            what, r->body);
}

/* GET path as the platform: its status. */
static int status_of(const char *path) {
  cm_test_reply r = cm_test_http(D.port, "GET", path, TOK_PLATFORM, NULL, NULL);
  int s = (int)r.code;
  cm_test_reply_free(&r);
  return s;
}

#define AUTH "Authorization: Bearer " TOK_PLATFORM "\r\n"
#define JSON "Content-Type: application/json\r\n"
#define REQ(id)                                                                \
  "{\"id\":\"" id "\",\"lat\":31.2,\"lon\":121.4,\"skills\":[\"nurse\"]}"

/* Every refusal: status, code, field, whether the connection ends; and the
 * request it stood for (a submission) was not taken. */
Test(edge, bad_requests_get_json_errors_and_change_nothing) {
  static const struct {
    const char *name, *req;
    int status;
    const char *code, *field;
    int closes;
  } cases[] = {
      {"two different Content-Length",
       "POST /v1/requests HTTP/1.1\r\nHost: x\r\n" AUTH JSON
       "Content-Length: 54\r\nContent-Length: 55\r\n\r\n" REQ("a01") " ",
       400, "bad_request", "Content-Length", 1},
      {"Content-Length +54",
       "POST /v1/requests HTTP/1.1\r\nHost: x\r\n" AUTH JSON
       "Content-Length: +54\r\n\r\n" REQ("a02"),
       400, "bad_request", "Content-Length", 1},
      {"Content-Length not digits",
       "POST /v1/requests HTTP/1.1\r\nHost: x\r\n" AUTH JSON
       "Content-Length: 54x\r\n\r\n" REQ("a03"),
       400, "bad_request", "Content-Length", 1},
      {"Content-Length as a list",
       "POST /v1/requests HTTP/1.1\r\nHost: x\r\n" AUTH JSON
       "Content-Length: 54, 54\r\n\r\n" REQ("a04"),
       400, "bad_request", "Content-Length", 1},
      {"Transfer-Encoding gzip",
       "POST /v1/requests HTTP/1.1\r\nHost: x\r\n" AUTH JSON
       "Transfer-Encoding: gzip\r\nContent-Length: 54\r\n\r\n" REQ("a05"),
       501, "not_implemented", "Transfer-Encoding", 1},
      {"Transfer-Encoding with Content-Length",
       "POST /v1/requests HTTP/1.1\r\nHost: x\r\n" AUTH JSON
       "Transfer-Encoding: chunked\r\nContent-Length: 64\r\n\r\n"
       "36\r\n" REQ("a06") "\r\n0\r\n\r\n",
       400, "bad_request", "Transfer-Encoding", 1},
      {"Transfer-Encoding in HTTP/1.0",
       "POST /v1/requests HTTP/1.0\r\n" AUTH JSON
       "Transfer-Encoding: chunked\r\n\r\n36\r\n" REQ("a07") "\r\n0\r\n\r\n",
       400, "bad_request", "Transfer-Encoding", 1},
      {"a chunk size that is not hex",
       "POST /v1/requests HTTP/1.1\r\nHost: x\r\n" AUTH JSON
       "Transfer-Encoding: chunked\r\n\r\nzz\r\n" REQ("a08") "\r\n0\r\n\r\n",
       400, "bad_request", "chunk-size", 1},
      {"a chunk not ending in CRLF",
       "POST /v1/requests HTTP/1.1\r\nHost: x\r\n" AUTH JSON
       "Transfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n",
       400, "bad_request", "chunk-data", 1},
      {"a chunked body over the limit",
       "POST /v1/requests HTTP/1.1\r\nHost: x\r\n" AUTH JSON
       "Transfer-Encoding: chunked\r\n\r\n10001\r\n",
       413, "limit_exceeded", "chunk-size", 1},
      {"a Content-Length over the limit",
       "POST /v1/requests HTTP/1.1\r\nHost: x\r\n" AUTH JSON
       "Content-Length: 99999999\r\n\r\n",
       413, "limit_exceeded", "Content-Length", 1},
      {"a NUL after a valid token",
       "POST /v1/requests HTTP/1.1\r\nHost: x\r\nAuthorization: "
       "Bearer " TOK_PLATFORM "\0junk\r\n" JSON
       "Content-Length: 54\r\n\r\n" REQ("a09"),
       400, "bad_request", "Authorization", 1},
      {"a control byte in a token",
       "POST /v1/requests HTTP/1.1\r\nHost: x\r\nAuthorization: "
       "Bearer " TOK_PLATFORM "\x01\r\n" JSON
       "Content-Length: 54\r\n\r\n" REQ("a10"),
       400, "bad_request", "Authorization", 1},
      {"two Authorization headers",
       "POST /v1/requests HTTP/1.1\r\nHost: x\r\n" AUTH AUTH JSON
       "Content-Length: 54\r\n\r\n" REQ("a11"),
       400, "bad_request", "Authorization", 0},
      {"a tab inside a token",
       "POST /v1/requests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
       "platform-token\t0123456789\r\n" JSON
       "Content-Length: 54\r\n\r\n" REQ("a12"),
       401, "unauthorized", "", 0},
      {"no Host in HTTP/1.1",
       "POST /v1/requests HTTP/1.1\r\n" AUTH JSON
       "Content-Length: 54\r\n\r\n" REQ("a13"),
       400, "bad_request", "Host", 0},
      {"two Host headers",
       "POST /v1/requests HTTP/1.1\r\nHost: x\r\nHost: y\r\n" AUTH JSON
       "Content-Length: 54\r\n\r\n" REQ("a14"),
       400, "bad_request", "Host", 0},
      {"a folded header",
       "POST /v1/requests HTTP/1.1\r\nHost: x\r\n" AUTH JSON
       "X-A: b\r\n c\r\nContent-Length: 54\r\n\r\n" REQ("a15"),
       400, "bad_request", "", 1},
      {"a bare LF",
       "POST /v1/requests HTTP/1.1\r\nHost: x\n" AUTH JSON
       "Content-Length: 54\r\n\r\n" REQ("a16"),
       400, "bad_request", "", 1},
      {"the server's own header",
       "POST /v1/requests HTTP/1.1\r\nHost: x\r\n" AUTH JSON
       "X-Carematch-Edge: 200 0 0 - ok\r\nContent-Length: 54\r\n\r\n" REQ(
           "a17"),
       400, "bad_request", "X-Carematch-Edge", 0},
      {"an expectation other than 100-continue",
       "POST /v1/requests HTTP/1.1\r\nHost: x\r\n" AUTH JSON
       "Expect: tea\r\nContent-Length: 54\r\n\r\n" REQ("a18"),
       417, "bad_request", "Expect", 1},
      {"HTTP/2.0 on the request line",
       "POST /v1/requests HTTP/2.0\r\nHost: x\r\n" AUTH JSON
       "Content-Length: 54\r\n\r\n" REQ("a19"),
       505, "not_implemented", "HTTP-version", 1},
      {"not a request line", "POST /v1/requests\r\nHost: x\r\n\r\n", 400,
       "bad_request", "request-line", 1},
      {"a target that is not a path",
       "POST v1/requests HTTP/1.1\r\nHost: x\r\n" AUTH JSON
       "Content-Length: 54\r\n\r\n" REQ("a20"),
       400, "bad_request", "request-target", 0},
      /* found by fuzz_edge: evhttp cannot parse this one ("//" starts an
         authority, whose host holds 0xff), and the edge freed the NULL
         its parser gave back: the daemon crashed */
      {"a target evhttp cannot parse",
       "GET //h\xff/v1/weights HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request",
       "request-target", 0},
      {"PATCH on a route", "PATCH /v1/weights HTTP/1.1\r\nHost: x\r\n\r\n", 405,
       "method_not_allowed", "", 0},
      {"OPTIONS on a route",
       "OPTIONS /v1/requests HTTP/1.1\r\nHost: x\r\nContent-Length: "
       "54\r\n\r\n" REQ("a21"),
       405, "method_not_allowed", "", 0},
      {"TRACE on a route", "TRACE /v1/workers/w1 HTTP/1.1\r\nHost: x\r\n\r\n",
       405, "method_not_allowed", "", 0},
      {"DELETE on a route", "DELETE /v1/requests/r HTTP/1.1\r\nHost: x\r\n\r\n",
       405, "method_not_allowed", "", 0},
      {"PATCH on no route", "PATCH /v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n",
       404, "not_found", "", 0},
      {"a lower-case method",
       "post /v1/requests HTTP/1.1\r\nHost: x\r\n" AUTH JSON
       "Content-Length: 54\r\n\r\n" REQ("a22"),
       501, "not_implemented", "", 0},
      {"an unknown method",
       "BREW /v1/requests HTTP/1.1\r\nHost: x\r\n" AUTH JSON
       "Content-Length: 54\r\n\r\n" REQ("a23"),
       501, "not_implemented", "", 0},
  };
  size_t big = 20000; /* headers over 16 KiB */
  for (size_t i = 0; i < sizeof cases / sizeof *cases + 1; i++) {
    char *owned = NULL;
    const char *name, *req, *code, *field;
    size_t len;
    int status, closes;
    if (i < sizeof cases / sizeof *cases) {
      name = cases[i].name;
      req = cases[i].req;
      /* the NUL case holds a NUL: its length is the literal's */
      len = strlen(req);
      if (strstr(name, "NUL"))
        len = strlen(req) + 1 + strlen(req + strlen(req) + 1);
      status = cases[i].status;
      code = cases[i].code;
      field = cases[i].field;
      closes = cases[i].closes;
    } else {
      name = "oversized headers";
      owned = malloc(big + 256);
      len = (size_t)snprintf(owned, 256,
                             "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ");
      memset(owned + len, 'p', big);
      len += big;
      memcpy(owned + len, "\r\n\r\n", 4);
      len += 4;
      req = owned;
      status = 431;
      code = "limit_exceeded";
      field = "";
      closes = 1;
    }
    int fd = cm_test_dial(D.port);
    send_all(fd, req, len);
    reply r;
    cr_assert_eq(read_reply(fd, 0, &r), 0, "%s: no reply", name);
    cr_expect_eq(r.status, status, "%s: %d %s", name, r.status, r.body);
    assert_json(&r, name);
    cr_expect_str_eq(err_code(&r), code, "%s: %s", name, r.body);
    cr_expect_str_eq(err_field(&r), field, "%s: %s", name, r.body);
    if (r.status == 405) {
      char allow[64];
      cr_expect(header(&r, "Allow", allow, sizeof allow)[0], "%s: no Allow",
                name);
    }
    json_decref(r.json);
    int closed = closed_by_server(fd);
    cr_expect_eq(closed, closes, "%s: the connection %s", name,
                 closed ? "closed" : "stayed open");
    if (!closed) { /* kept: the next request on it is served */
      static const char next[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
      send_all(fd, next, sizeof next - 1);
      cr_assert_eq(read_reply(fd, 0, &r), 0, "%s: nothing after", name);
      cr_expect_eq(r.status, 200, "%s: then %d %s", name, r.status, r.body);
      json_decref(r.json);
    }
    close(fd);
    free(owned);
  }
  /* nothing was taken */
  for (int i = 1; i <= 23; i++) {
    char path[32];
    snprintf(path, sizeof path, "/v1/requests/a%02d", i);
    cr_expect_eq(status_of(path), 404, "%s was taken", path);
  }
}

Test(edge, allow_lists_the_methods_of_the_route) {
  static const struct {
    const char *req, *allow;
  } cases[] = {
      {"PATCH /v1/weights HTTP/1.1\r\nHost: x\r\n\r\n", "GET, HEAD, PUT"},
      {"OPTIONS /v1/requests HTTP/1.1\r\nHost: x\r\n\r\n", "GET, HEAD, POST"},
      {"DELETE /v1/workers/w1 HTTP/1.1\r\nHost: x\r\n\r\n", "GET, HEAD, PUT"},
      {"PUT /v1/requests/r1/accept HTTP/1.1\r\nHost: x\r\n\r\n", "POST"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int fd = cm_test_dial(D.port);
    send_all(fd, cases[i].req, strlen(cases[i].req));
    reply r;
    char allow[64];
    cr_assert_eq(read_reply(fd, 0, &r), 0);
    cr_expect_eq(r.status, 405, "%s", cases[i].req);
    cr_expect_str_eq(header(&r, "Allow", allow, sizeof allow), cases[i].allow,
                     "%s", cases[i].req);
    json_decref(r.json);
    close(fd);
  }
}

/* HEAD answers as GET without the body, with GET's Content-Length, so the
 * next reply on a kept-alive connection starts where it should. */
Test(edge, head_is_get_without_the_body) {
  int fd = cm_test_dial(D.port);
  static const char reqs[] =
      "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"
      "HEAD /v1/weights HTTP/1.1\r\nHost: x\r\nAuthorization: "
      "Bearer " TOK_OPERATOR "\r\n\r\n"
      "GET /v1/weights HTTP/1.1\r\nHost: x\r\nAuthorization: "
      "Bearer " TOK_OPERATOR "\r\n\r\n"
      "HEAD /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: "
      "Bearer " TOK_OPERATOR "\r\n\r\n"
      "HEAD /v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  send_all(fd, reqs, sizeof reqs - 1);
  reply r, g;
  char t[64];
  cr_assert_eq(read_reply(fd, 1, &r), 0);
  cr_assert_eq(r.status, 200, "%s", r.head);
  cr_assert_gt(r.length, 0, "HEAD has GET's length: %s", r.head);
  cr_assert_str_eq(header(&r, "Content-Type", t, sizeof t), "application/json");
  cr_assert_eq(read_reply(fd, 0, &g), 0, "the next reply is intact");
  cr_assert_eq(g.status, 200, "%s", g.head);
  cr_assert_not_null(g.json, "%s%s", g.head, g.body);
  json_decref(g.json);
  /* the same length as GET's */
  cr_assert_eq(read_reply(fd, 1, &r), 0);
  cr_assert_eq(read_reply(fd, 0, &g), 0);
  cr_assert_eq(r.status, 200);
  cr_assert_eq(r.length, g.length, "HEAD %ld, GET %ld", r.length, g.length);
  json_decref(g.json);
  /* the event stream: its headers, no stream */
  cr_assert_eq(read_reply(fd, 1, &r), 0);
  cr_assert_eq(r.status, 200, "%s", r.head);
  cr_assert_str_eq(header(&r, "Content-Type", t, sizeof t),
                   "text/event-stream");
  /* an error too: its headers only */
  cr_assert_eq(read_reply(fd, 1, &r), 0);
  cr_assert_eq(r.status, 404, "%s", r.head);
  cr_assert_gt(r.length, 0);
  cr_assert_eq(read_reply(fd, 0, &g), 0);
  cr_assert_eq(g.status, 200, "%s%s", g.head, g.body);
  cr_assert_not_null(g.json, "%s%s", g.head, g.body);
  json_decref(g.json);
  close(fd);
}

/* A refused request among pipelined ones: the replies before it come
 * first, then its own, then the connection ends; an unknown method's body
 * is skipped and the connection kept. */
Test(edge, pipelined_requests_keep_their_order) {
  int fd = cm_test_dial(D.port);
  static const char reqs[] =
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
      "BREW /v1/requests HTTP/1.1\r\nHost: x\r\nContent-Length: 53\r\n\r\n" REQ(
          "p1") "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"
                "POST /v1/requests HTTP/1.1\r\nHost: x\r\n" AUTH JSON
                "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"
                "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  send_all(fd, reqs, sizeof reqs - 1);
  static const int want[] = {200, 501, 200, 400};
  for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
    reply r;
    cr_assert_eq(read_reply(fd, 0, &r), 0, "reply %zu", i);
    cr_assert_eq(r.status, want[i], "reply %zu: %s%s", i, r.head, r.body);
    cr_assert_not_null(r.json);
    json_decref(r.json);
  }
  cr_assert(closed_by_server(fd), "nothing after a framing error");
  close(fd);
  cr_assert_eq(status_of("/v1/requests/p1"), 404);
}

/* A chunked body (with an extension and a trailer) is decoded and taken;
 * Expect: 100-continue gets its interim reply before the body is sent. */
Test(edge, chunked_bodies_and_100_continue) {
  int fd = cm_test_dial(D.port);
  static const char req[] =
      "POST /v1/requests HTTP/1.1\r\nHost: x\r\n" AUTH JSON
      "Transfer-Encoding: chunked\r\n\r\n"
      "f;note=first\r\n{\"id\":\"c1\",\"lat\r\n"
      "26\r\n\":31.2,\"lon\":121.4,\"skills\":[\"nurse\"]}\r\n"
      "0\r\nX-Checksum: none\r\n\r\n";
  send_all(fd, req, sizeof req - 1);
  reply r;
  cr_assert_eq(read_reply(fd, 0, &r), 0);
  cr_assert_eq(r.status, 201, "%s%s", r.head, r.body);
  json_decref(r.json);
  cr_assert_eq(status_of("/v1/requests/c1"), 200);
  static const char head[] =
      "POST /v1/requests HTTP/1.1\r\nHost: x\r\n" AUTH JSON
      "Expect: 100-continue\r\nContent-Length: 53\r\n\r\n";
  send_all(fd, head, sizeof head - 1);
  char line[32] = "";
  for (size_t n = 0; n < 25; n++) {
    int c = get_byte(fd);
    cr_assert_geq(c, 0, "no 100 Continue: %s", line);
    line[n] = (char)c;
  }
  cr_assert_str_eq(line, "HTTP/1.1 100 Continue\r\n\r\n");
  send_all(fd, REQ("c2"), 53);
  cr_assert_eq(read_reply(fd, 0, &r), 0);
  cr_assert_eq(r.status, 201, "%s%s", r.head, r.body);
  json_decref(r.json);
  close(fd);
}

/* The edge's refusals and the methods are counted like other replies. */
Test(edge, refusals_are_counted) {
  static const char *const reqs[] = {
      "BREW / HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/3.0\r\nHost: x\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\nx",
      "PATCH /v1/weights HTTP/1.1\r\nHost: x\r\n\r\n"};
  for (size_t i = 0; i < sizeof reqs / sizeof *reqs; i++) {
    int fd = cm_test_dial(D.port);
    reply r;
    send_all(fd, reqs[i], strlen(reqs[i]));
    cr_assert_eq(read_reply(fd, 0, &r), 0);
    json_decref(r.json);
    close(fd);
  }
  cm_test_reply m =
      cm_test_http(D.port, "GET", "/metrics", TOK_METRICS, NULL, NULL);
  const char *must[] = {
      "carematch_http_requests_total{method=\"other\",route=\"unmatched\","
      "code=\"501\"} 1",
      "carematch_http_requests_total{method=\"other\",route=\"unmatched\","
      "code=\"505\"} 1",
      "carematch_http_requests_total{method=\"other\",route=\"unmatched\","
      "code=\"400\"} 1",
      "carematch_http_requests_total{method=\"PATCH\",route=\"unmatched\","
      "code=\"405\"} 1"};
  for (size_t i = 0; i < sizeof must / sizeof *must; i++)
    cr_expect(strstr(m.text, must[i]), "no '%s' in\n%s", must[i], m.text);
  cm_test_reply_free(&m);
}

/* ---- the framer in process ---- */

static char *frame(const char *in, size_t n, size_t step, size_t *out_len) {
  cmd_edge *e = cmd_edge_new(NULL);
  struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
  for (size_t i = 0; i < n; i += step) {
    evbuffer_add(src, in + i, i + step <= n ? step : n - i);
    cr_assert_geq(cmd_edge_feed(e, src, dst), 0);
    cr_assert_eq(evbuffer_get_length(src), 0, "every byte taken");
  }
  *out_len = evbuffer_get_length(dst);
  char *out = malloc(*out_len + 1);
  evbuffer_remove(dst, out, *out_len);
  out[*out_len] = '\0';
  evbuffer_free(src);
  evbuffer_free(dst);
  cmd_edge_free(e);
  return out;
}

/* Fed a byte at a time (a slow client), the framer hands evhttp what it
 * hands it fed at once: the requests rebuilt, a chunked body decoded. */
Test(edge_framer, a_byte_at_a_time_frames_as_at_once) {
  static const char in[] =
      "\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /v1/requests HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
      "PUT /v1/weights HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
      "chunked\r\n\r\n"
      "2\r\n{}\r\n0\r\n\r\n"
      "BREW /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: "
      "2\r\n\r\n"
      "GET /after HTTP/1.1\r\nHost: x\r\n\r\n";
  size_t n1, n2;
  char *whole = frame(in, sizeof in - 1, sizeof in, &n1);
  char *bytes = frame(in, sizeof in - 1, 1, &n2);
  cr_assert_eq(n1, n2);
  cr_assert_str_eq(whole, bytes);
  /* what evhttp reads: a Content-Length for the decoded chunked body; the
     unknown method as a GET with its name, its body dropped; the conflict
     as a GET carrying the verdict, closing; nothing after it */
  cr_assert(strstr(whole, "PUT /v1/weights HTTP/1.1\r\nHost: x\r\n"
                          "Content-Length: 2\r\n\r\n{}"),
            "%s", whole);
  cr_assert(strstr(whole, "GET /x HTTP/1.1\r\nHost: x\r\n" CMD_EDGE_METHOD
                          ": BREW\r\n\r\nGET / HTTP/1.1\r\nHost: edge\r\n"
                          "Connection: close\r\n" CMD_EDGE_VERDICT ": 400 "),
            "%s", whole);
  cr_assert_null(strstr(whole, "/after"), "%s", whole);
  cr_assert_null(strstr(whole, "abc"), "%s", whole);
  free(whole);
  free(bytes);
}

/* The verdict header reads back; one the edge did not write is a 400. */
Test(edge_framer, verdicts_read_back) {
  cmd_edge_verdict v;
  char text[96];
  snprintf(text, sizeof text, "413 %d 1 Content-Length the body is big",
           (int)CM_E_LIMIT);
  cr_assert_eq(cmd_edge_verdict_parse(text, &v), 0);
  cr_assert_eq(v.status, 413);
  cr_assert_eq(v.err.code, CM_E_LIMIT);
  cr_assert_eq(v.close, 1);
  cr_assert_str_eq(v.err.field, "Content-Length");
  cr_assert_str_eq(v.err.message, "the body is big");
  cr_assert_eq(cmd_edge_verdict_parse("200 0 0 - fine", &v), -1);
  cr_assert_eq(v.status, 400);
  cr_assert_eq(v.close, 1);
  cr_assert_eq(cmd_edge_verdict_parse("", &v), -1);
}

/* What evhttp queues on a connection goes out from the kick later in the
 * loop turn; cmd_edge_write_now (an event stream's chunks) puts it in the
 * socket at once, without the loop, and the kick does not send it twice. */
Test(edge_framer, write_now_sends_before_the_loop_runs) {
  struct event_base *base = event_base_new();
  int sv[2];
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  evutil_make_socket_nonblocking(sv[0]);
  struct bufferevent *f = cmd_edge_bufferevent(base, NULL);
  cr_assert_not_null(f);
  bufferevent_setfd(f, sv[0]);
  bufferevent_enable(f, EV_WRITE);
  char got[32];
  bufferevent_write(f, "data: 1\n\n", 9);
  cr_assert_eq(recv(sv[1], got, sizeof got, MSG_DONTWAIT), -1); /* queued */
  cmd_edge_write_now(f);
  cr_assert_eq(recv(sv[1], got, sizeof got, MSG_DONTWAIT), 9);
  cr_assert_eq(memcmp(got, "data: 1\n\n", 9), 0);
  event_base_loop(base, EVLOOP_NONBLOCK); /* the kick: nothing left */
  cr_assert_eq(recv(sv[1], got, sizeof got, MSG_DONTWAIT), -1);
  bufferevent_write(f, "data: 2\n\n", 9); /* without it: the loop's turn */
  event_base_loop(base, EVLOOP_NONBLOCK);
  cr_assert_eq(recv(sv[1], got, sizeof got, MSG_DONTWAIT), 9);
  cr_assert_eq(memcmp(got, "data: 2\n\n", 9), 0);
  bufferevent_free(f); /* closes sv[0] */
  close(sv[1]);
  event_base_free(base);
}
