/* edge.c -- the HTTP edge (edge.h): a framer per connection, in front of
 * evhttp, that takes only well-formed HTTP/1.x requests and hands evhttp a
 * rebuilt copy of each; what it refuses becomes a verdict the dispatcher
 * answers in JSON. Strict where strictness closes a smuggling or
 * confusion door: one Content-Length or several equal ones, digits only;
 * Transfer-Encoding "chunked" only, never with Content-Length or in
 * HTTP/1.0; no NUL or other control byte in a header; no obs-fold; no bare
 * LF; one Host (required in HTTP/1.1). Framing errors end the connection
 * (after the reply); other refusals skip the body and keep it. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "edge.h"

#define CHUNK_LINE_MAX 1024 /* a chunk-size line with its extensions */
#define METHOD_MAX 32       /* bytes of a method name */

typedef enum edge_state {
  EDGE_HEAD,       /* reading a request line and its headers */
  EDGE_BODY,       /* a Content-Length body: left bytes to come */
  EDGE_CHUNK_SIZE, /* a chunk-size line */
  EDGE_CHUNK_DATA, /* a chunk's data: left bytes to come */
  EDGE_CHUNK_END,  /* the CRLF after a chunk's data */
  EDGE_TRAILER,    /* trailer lines after the last chunk */
  EDGE_CLOSED      /* refused for good: every later byte is dropped */
} edge_state;

struct cmd_edge {
  cmd_daemon *d;           /* the body limit (NULL: 1 MiB) */
  struct bufferevent *bev; /* the filter (NULL when fed by hand) */
  struct event *kick;      /* writes the replies out (the socket writable) */
  struct evbuffer_cb_entry *out_cb; /* on the filter's output: arms kick */
  int flushing;                     /* on_kick is writing */
  edge_state state;
  struct evbuffer *in;   /* bytes taken, not yet framed */
  struct evbuffer *head; /* the rebuilt head of the request being read */
  struct evbuffer *body; /* its body so far */
  ev_uint64_t left;      /* BODY, CHUNK_DATA: bytes still to come */
  ev_uint64_t total;     /* chunked: body bytes so far (kept or dropped) */
  size_t trailer;        /* bytes of trailer lines so far */
  int skip;              /* the request was answered already: drop its body */
  int no_body;           /* HEAD: evhttp reads no body, none is passed on */
  int continue_asked;    /* Expect: 100-continue, not answered yet */
};

/* ---- verdicts ---- */

typedef struct verdict {
  int status; /* 0: none */
  cm_status code;
  int close;
  char field[48];
  char message[160];
} verdict;

static void judge(verdict *v, int status, cm_status code, int close,
                  const char *field, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void judge(verdict *v, int status, cm_status code, int close,
                  const char *field, const char *fmt, ...) {
  if (v->status && (v->close || !close))
    return; /* the first problem found is answered, unless a later one
               ends the connection */
  va_list ap;
  v->status = status;
  v->code = code;
  v->close = close;
  snprintf(v->field, sizeof v->field, "%s", field[0] ? field : "-");
  va_start(ap, fmt);
  vsnprintf(v->message, sizeof v->message, fmt, ap);
  va_end(ap);
  /* the message travels in a header line: printable ASCII only */
  for (char *p = v->message; *p; p++)
    if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
      *p = '?';
}

int cmd_edge_verdict_parse(const char *value, cmd_edge_verdict *v) {
  int status, code, close, used = 0;
  char field[48];
  memset(v, 0, sizeof *v);
  if (value &&
      sscanf(value, "%d %d %d %47s %n", &status, &code, &close, field, &used) ==
          4 &&
      used > 0 && status >= 400 && status <= 599 && code > 0 &&
      code < CM_STATUS_COUNT && (close == 0 || close == 1)) {
    v->status = status;
    v->close = close;
    cm_error_set(&v->err, (cm_status)code, strcmp(field, "-") ? field : "",
                 "%s", value + used);
    return 0;
  }
  v->status = 400;
  v->close = 1;
  cm_error_set(&v->err, CM_E_BAD_REQUEST, "", NULL);
  return -1;
}

/* ---- bytes ---- */

static int is_tchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A field value's byte: HTAB, SP, VCHAR or obs-text. */
static int is_value_byte(unsigned char c) {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int span_tchars(const char *p, size_t n) {
  size_t i = 0;
  while (i < n && is_tchar((unsigned char)p[i]))
    i++;
  return (int)i;
}

static int name_is(const char *p, size_t n, const char *name) {
  return n == strlen(name) && strncasecmp(p, name, n) == 0;
}

static ev_uint64_t max_body(const cmd_edge *e) {
  return e->d ? (ev_uint64_t)e->d->cfg.max_body : 1u << 20;
}

/* ---- what evhttp reads ---- */

/* The request standing in for a refused one: "GET /" with the verdict,
 * and, unless the connection ends, the client's headers (those checked so
 * far, in e->head), so that keep-alive works as the client asked. */
static int emit_verdict(cmd_edge *e, struct evbuffer *dst, const verdict *v,
                        int http10) {
  int rc = evbuffer_add_printf(dst, "GET / HTTP/1.%d\r\n",
                               http10 && !v->close ? 0 : 1);
  if (rc >= 0 && v->close)
    rc = evbuffer_add_printf(dst, "Host: edge\r\nConnection: close\r\n");
  else if (rc >= 0)
    rc = evbuffer_add_buffer(dst, e->head);
  if (rc >= 0)
    rc = evbuffer_add_printf(dst, "%s: %d %d %d %s %s\r\n\r\n",
                             CMD_EDGE_VERDICT, v->status, (int)v->code,
                             v->close, v->field, v->message);
  evbuffer_drain(e->head, evbuffer_get_length(e->head));
  return rc < 0 ? -1 : 0;
}

/* Refuse the request being read and end the connection. */
static int refuse(cmd_edge *e, struct evbuffer *dst, int status, cm_status code,
                  const char *field, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int refuse(cmd_edge *e, struct evbuffer *dst, int status, cm_status code,
                  const char *field, const char *fmt, ...) {
  verdict v;
  char msg[160];
  va_list ap;
  memset(&v, 0, sizeof v);
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  judge(&v, status, code, 1, field, "%s", msg);
  /* (a request answered already, whose skipped body turns out malformed,
     gets this second reply: the one that ends the connection) */
  int rc = emit_verdict(e, dst, &v, 0);
  e->state = EDGE_CLOSED;
  evbuffer_drain(e->in, evbuffer_get_length(e->in));
  evbuffer_drain(e->body, evbuffer_get_length(e->body));
  return rc;
}

/* The request is whole: its head, a Content-Length, its body. */
static int emit_request(cmd_edge *e, struct evbuffer *dst) {
  size_t n = evbuffer_get_length(e->body);
  int rc = 0;
  if (!e->skip) {
    if (n > 0 && !e->no_body)
      rc = evbuffer_add_printf(e->head, "Content-Length: %zu\r\n", n);
    if (rc >= 0)
      rc = evbuffer_add(e->head, "\r\n", 2);
    if (rc >= 0)
      rc = evbuffer_add_buffer(dst, e->head);
    if (rc >= 0 && n > 0 && !e->no_body)
      rc = evbuffer_add_buffer(dst, e->body);
  }
  evbuffer_drain(e->head, evbuffer_get_length(e->head));
  evbuffer_drain(e->body, evbuffer_get_length(e->body));
  e->skip = e->no_body = e->continue_asked = 0;
  e->state = EDGE_HEAD;
  return rc < 0 ? -1 : 0;
}

/* "HTTP/1.1 100 Continue" when the client waits for it and evhttp is idle
 * (nothing queued for it, nothing of its replies unsent), so the interim
 * reply cannot land inside another. Otherwise the client sends its body
 * after its own wait. The socket's own bufferevent writes it; on_output
 * writes nothing of evhttp's before it is out. */
static void maybe_continue(cmd_edge *e, struct evbuffer *dst) {
  if (!e->continue_asked || !e->bev || evbuffer_get_length(dst) ||
      evbuffer_get_length(e->in) ||
      evbuffer_get_length(bufferevent_get_output(e->bev)))
    return;
  struct bufferevent *under = bufferevent_get_underlying(e->bev);
  if (under)
    evbuffer_add_printf(bufferevent_get_output(under),
                        "HTTP/1.1 100 Continue\r\n\r\n");
  e->continue_asked = 0;
}

/* ---- the head ---- */

typedef struct head_info {
  const char *method, *target;
  size_t method_len, target_len;
  int http10;
  int n_length; /* Content-Length headers */
  ev_uint64_t length;
  char te[256]; /* Transfer-Encoding values, joined by "," */
  size_t te_len;
  int n_te;
  int n_host;
  int expect_continue;
} head_info;

/* The syntax of header line h[0..n): not folded, a token for a name, a
 * colon, no control byte in the value. Returns the name's length (name
 * holds it, cut to 63 bytes), or 0 judged into v. */
static size_t header_syntax(const char *h, size_t n, char name[64],
                            verdict *v) {
  if (n > 0 && (h[0] == ' ' || h[0] == '\t')) {
    judge(v, 400, CM_E_BAD_REQUEST, 1, "",
          "a header line is folded (obs-fold is not taken)");
    return 0;
  }
  size_t nl = (size_t)span_tchars(h, n);
  if (nl == 0 || nl == n || h[nl] != ':') {
    judge(v, 400, CM_E_BAD_REQUEST, 1, "",
          "a header line is not \"name: value\" with a token for a name");
    return 0;
  }
  snprintf(name, 64, "%.*s", (int)(nl < 63 ? nl : 63), h);
  for (const char *p = h + nl + 1; p < h + n; p++)
    if (!is_value_byte((unsigned char)*p)) {
      judge(v, 400, CM_E_BAD_REQUEST, 1, name,
            "the %s header holds a control byte (0x%02x)", name,
            (unsigned char)*p);
      return 0;
    }
  return nl;
}

/* A Content-Length value val[0..vn): 1 to 18 digits, equal to any earlier
 * one. Counted into hi; a bad one judged into v. */
static void content_length(const char *val, size_t vn, head_info *hi,
                           verdict *v) {
  ev_uint64_t x = 0;
  int ok = vn > 0 && vn <= 18;
  for (size_t i = 0; ok && i < vn; i++) {
    ok = val[i] >= '0' && val[i] <= '9';
    x = x * 10 + (ev_uint64_t)(val[i] - '0');
  }
  if (!ok)
    judge(v, 400, CM_E_BAD_REQUEST, 1, "Content-Length",
          "Content-Length must be 1 to 18 digits");
  else if (hi->n_length && x != hi->length)
    judge(v, 400, CM_E_BAD_REQUEST, 1, "Content-Length",
          "two Content-Length headers differ");
  hi->length = x;
  hi->n_length++;
}

/* A Transfer-Encoding value val[0..vn), joined to hi->te (checked whole by
 * check_te); too long a list judged into v. */
static void transfer_encoding(const char *val, size_t vn, head_info *hi,
                              verdict *v) {
  if (hi->te_len + vn + 1 >= sizeof hi->te) {
    judge(v, 400, CM_E_BAD_REQUEST, 1, "Transfer-Encoding",
          "Transfer-Encoding is too long");
    return;
  }
  if (hi->te_len)
    hi->te[hi->te_len++] = ',';
  memcpy(hi->te + hi->te_len, val, vn);
  hi->te_len += vn;
  hi->te[hi->te_len] = '\0';
  hi->n_te++;
}

/* One header line h[0..n) (no CRLF). Adds it to e->head unless the edge
 * replaces it. Framing problems go to v with close set. */
static void header_line(cmd_edge *e, const char *h, size_t n, head_info *hi,
                        verdict *v) {
  char name[64];
  size_t nl = header_syntax(h, n, name, v);
  if (nl == 0)
    return;
  const char *val = h + nl + 1, *end = h + n;
  while (val < end && (*val == ' ' || *val == '\t'))
    val++;
  while (end > val && (end[-1] == ' ' || end[-1] == '\t'))
    end--;
  size_t vn = (size_t)(end - val);
  if (name_is(h, nl, "Content-Length")) {
    content_length(val, vn, hi, v);
  } else if (name_is(h, nl, "Transfer-Encoding")) {
    transfer_encoding(val, vn, hi, v);
  } else if (name_is(h, nl, "Expect")) {
    if (vn == 12 && strncasecmp(val, "100-continue", 12) == 0)
      hi->expect_continue = 1;
    else
      judge(v, 417, CM_E_BAD_REQUEST, 1, "Expect",
            "the only expectation taken is 100-continue");
  } else if (name_is(h, nl, CMD_EDGE_VERDICT) ||
             name_is(h, nl, CMD_EDGE_METHOD)) {
    judge(v, 400, CM_E_BAD_REQUEST, 0, name, "%s is the server's own header",
          name);
  } else {
    if (name_is(h, nl, "Host"))
      hi->n_host++;
    evbuffer_add(e->head, h, n);
    evbuffer_add(e->head, "\r\n", 2);
  }
}

/* The Transfer-Encoding list: "chunked", alone. */
static void check_te(const head_info *hi, verdict *v) {
  int chunked = 0, other = 0;
  const char *p = hi->te;
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == ',')
      p++;
    const char *s = p;
    p += span_tchars(p, strlen(p));
    size_t n = (size_t)(p - s);
    while (*p && *p != ',') /* parameters */
      p++;
    if (n == 0)
      continue;
    if (n == 7 && strncasecmp(s, "chunked", 7) == 0)
      chunked++;
    else
      other++;
  }
  if (other)
    judge(v, 501, CM_E_NOT_IMPLEMENTED, 1, "Transfer-Encoding",
          "the only transfer coding taken is chunked");
  else if (chunked != 1)
    judge(v, 400, CM_E_BAD_REQUEST, 1, "Transfer-Encoding",
          "Transfer-Encoding must be chunked, once");
}

static int is_known_method(const char *m, size_t n) {
  return (n == 3 && !memcmp(m, "GET", 3)) ||
         (n == 4 && !memcmp(m, "HEAD", 4)) ||
         (n == 4 && !memcmp(m, "POST", 4)) ||
         (n == 3 && !memcmp(m, "PUT", 3)) ||
         (n == 6 && !memcmp(m, "DELETE", 6));
}

/* The request target: origin-form ("/..."), absolute-form ("http://..."),
 * or "*" for OPTIONS; and evhttp must be able to parse it. */
static int target_ok(const head_info *hi) {
  char buf[CMD_EDGE_HEAD_MAX];
  const char *t = hi->target;
  size_t n = hi->target_len;
  int star = n == 1 && t[0] == '*';
  if (star && !(hi->method_len == 7 && !memcmp(hi->method, "OPTIONS", 7)))
    return 0;
  if (!star && t[0] != '/' && !(n > 7 && !strncasecmp(t, "http://", 7)) &&
      !(n > 8 && !strncasecmp(t, "https://", 8)))
    return 0;
  memcpy(buf, t, n);
  buf[n] = '\0';
  struct evhttp_uri *u =
      evhttp_uri_parse_with_flags(buf, EVHTTP_URI_NONCONFORMANT);
  if (!u) /* (evhttp_uri_free does not take NULL: found by fuzz_edge) */
    return 0;
  evhttp_uri_free(u);
  return 1;
}

/* The request line l[0..n): method SP target SP HTTP/1.x. */
static void request_line(const char *l, size_t n, head_info *hi, verdict *v) {
  const char *sp1 = memchr(l, ' ', n);
  const char *sp2 =
      sp1 ? memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - l)) : NULL;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)l[i] < 0x20 || l[i] == 0x7f) {
      judge(v, 400, CM_E_BAD_REQUEST, 1, "request-line",
            "the request line holds a control byte (0x%02x)",
            (unsigned char)l[i]);
      return;
    }
  if (!sp1 || !sp2 || sp1 == l || sp2 == sp1 + 1 ||
      (size_t)span_tchars(l, (size_t)(sp1 - l)) != (size_t)(sp1 - l)) {
    judge(v, 400, CM_E_BAD_REQUEST, 1, "request-line",
          "the request line is not \"METHOD target HTTP/1.1\"");
    return;
  }
  hi->method = l;
  hi->method_len = (size_t)(sp1 - l);
  hi->target = sp1 + 1;
  hi->target_len = (size_t)(sp2 - sp1 - 1);
  const char *ver = sp2 + 1;
  size_t vn = n - (size_t)(ver - l);
  if (hi->method_len > METHOD_MAX) {
    judge(v, 400, CM_E_BAD_REQUEST, 1, "method",
          "a method name is %d bytes at most", METHOD_MAX);
  } else if (vn == 8 && !memcmp(ver, "HTTP/1.", 7) &&
             (ver[7] == '0' || ver[7] == '1')) {
    hi->http10 = ver[7] == '0';
  } else if (vn == 8 && !memcmp(ver, "HTTP/", 5) && ver[5] >= '0' &&
             ver[5] <= '9' && ver[6] == '.' && ver[7] >= '0' && ver[7] <= '9') {
    judge(v, 505, CM_E_NOT_IMPLEMENTED, 1, "HTTP-version",
          "HTTP/%c.%c is not supported: HTTP/1.1 or HTTP/1.0", ver[5], ver[7]);
  } else {
    judge(v, 400, CM_E_BAD_REQUEST, 1, "HTTP-version",
          "the request line does not end in HTTP/1.1 or HTTP/1.0");
  }
}

/* Every line of the head h (len bytes) ends in CRLF: no bare LF, no bare
 * CR; else a framing verdict in v. */
static void check_line_ends(const char *h, size_t len, verdict *v) {
  for (size_t i = 0; i < len; i++)
    if ((h[i] == '\n' && (i == 0 || h[i - 1] != '\r')) ||
        (h[i] == '\r' && (i + 1 == len || h[i + 1] != '\n')))
      judge(v, 400, CM_E_BAD_REQUEST, 1, "",
            "a line of the head does not end in CRLF");
}

/* The header lines from p to end (each ending in CRLF) into hi, at most
 * CMD_EDGE_HEADERS_MAX; stops at the first framing verdict, as framing
 * needs them all. */
static void read_headers(cmd_edge *e, const char *p, const char *end,
                         head_info *hi, verdict *v) {
  int lines = 0;
  while (!(v->status && v->close) && p < end) {
    const char *q = memchr(p, '\r', (size_t)(end - p));
    if (!q)
      q = end;
    if (++lines > CMD_EDGE_HEADERS_MAX)
      judge(v, 431, CM_E_LIMIT, 1, "", "a request has %d header lines at most",
            CMD_EDGE_HEADERS_MAX);
    else
      header_line(e, p, (size_t)(q - p), hi, v);
    p = q + 2;
  }
}

/* The head as a whole: how the body is framed (Transfer-Encoding against
 * HTTP/1.0 and Content-Length, the body limit), the target, one Host. */
static void judge_head(const cmd_edge *e, head_info *hi, verdict *v) {
  if (hi->n_te) {
    check_te(hi, v);
    if (hi->http10)
      judge(v, 400, CM_E_BAD_REQUEST, 1, "Transfer-Encoding",
            "HTTP/1.0 has no Transfer-Encoding");
    else if (hi->n_length)
      judge(v, 400, CM_E_BAD_REQUEST, 1, "Transfer-Encoding",
            "Transfer-Encoding and Content-Length together");
  }
  if (hi->n_length && hi->length > max_body(e))
    judge(v, 413, CM_E_LIMIT, 1, "Content-Length",
          "the body is %llu bytes; at most %llu are taken",
          (unsigned long long)hi->length, (unsigned long long)max_body(e));
  if (!v->status && !target_ok(hi))
    judge(v, 400, CM_E_BAD_REQUEST, 0, "request-target",
          "the request target is not a path");
  if (!v->status && (hi->n_host > 1 || (!hi->http10 && hi->n_host == 0)))
    judge(v, 400, CM_E_BAD_REQUEST, 0, "Host",
          "an HTTP/1.1 request has one Host header");
}

/* A head judged without closing the connection, to dst: a verdict's reply
 * (the body skipped), a GET standing in for a method evhttp does not know
 * (with the method's name; the body skipped), or the request line h
 * (line_len bytes) before the headers kept. Returns >= 0, or -1 out of
 * memory. */
static int forward_head(cmd_edge *e, struct evbuffer *dst, const char *h,
                        size_t line_len, const head_info *hi,
                        const verdict *v) {
  char line[METHOD_MAX + 32];
  int known = !v->status && is_known_method(hi->method, hi->method_len);
  int rc = 0;
  if (v->status) {
    rc = emit_verdict(e, dst, v, hi->http10);
    e->skip = 1;
  } else if (!known) { /* a GET standing in, with the method's name */
    snprintf(line, sizeof line, "%s: %.*s\r\n", CMD_EDGE_METHOD,
             (int)hi->method_len, hi->method);
    rc = evbuffer_add(e->head, line, strlen(line));
    if (rc == 0)
      rc = evbuffer_add_printf(dst, "GET %.*s HTTP/1.%d\r\n",
                               (int)hi->target_len, hi->target,
                               hi->http10 ? 0 : 1);
    if (rc >= 0)
      rc = evbuffer_add_buffer(dst, e->head);
    if (rc >= 0)
      rc = evbuffer_add(dst, "\r\n", 2);
    e->skip = 1;
  } else { /* the request line first, then the headers kept */
    rc = evbuffer_prepend(e->head, h, line_len + 2);
    e->no_body = hi->method_len == 4 && !memcmp(hi->method, "HEAD", 4);
  }
  return rc;
}

/* After the head: 100 Continue when asked, then the body's state (chunked,
 * Content-Length) or, without a body, the request emitted. Returns 0, or
 * -1 out of memory. */
static int start_body(cmd_edge *e, struct evbuffer *dst, const head_info *hi) {
  e->continue_asked = hi->expect_continue && !hi->http10 && !e->skip;
  if (hi->n_te) {
    e->state = EDGE_CHUNK_SIZE;
    e->total = 0;
  } else if (hi->length > 0) {
    e->state = EDGE_BODY;
    e->left = hi->length;
  } else {
    return emit_request(e, dst);
  }
  maybe_continue(e, dst);
  return 0;
}

/* A whole head is in e->in: check it, rebuild it, decide how the body is
 * framed. Returns 0, or -1 out of memory. */
static int take_head(cmd_edge *e, struct evbuffer *dst, size_t len) {
  const char *h = (const char *)evbuffer_pullup(e->in, (ev_ssize_t)len);
  head_info hi;
  verdict v;
  memset(&hi, 0, sizeof hi);
  memset(&v, 0, sizeof v);
  if (!h)
    return -1;
  check_line_ends(h, len, &v);
  const char *eol = memchr(h, '\r', len);
  size_t line_len = (size_t)(eol - h);
  if (!v.status)
    request_line(h, line_len, &hi, &v);
  /* the last CRLF ends the head */
  read_headers(e, eol + 2, h + len - 2, &hi, &v);
  judge_head(e, &hi, &v);
  /* framing verdicts end the connection; the rest skip the body */
  if (v.status && v.close) {
    evbuffer_drain(e->in, len);
    return refuse(e, dst, v.status, v.code, v.field, "%s", v.message);
  }
  int rc = forward_head(e, dst, h, line_len, &hi, &v);
  evbuffer_drain(e->in, len);
  if (rc < 0)
    return -1;
  return start_body(e, dst, &hi);
}

/* ---- the body ---- */

/* Move up to e->left bytes of e->in into the body (or drop them when the
 * request was answered). */
static void take_data(cmd_edge *e) {
  size_t n = evbuffer_get_length(e->in);
  if ((ev_uint64_t)n > e->left)
    n = (size_t)e->left;
  if (e->skip)
    evbuffer_drain(e->in, n);
  else
    evbuffer_remove_buffer(e->in, e->body, n);
  e->left -= n;
}

/* A line ending in CRLF at the front of e->in, into buf (NUL-terminated,
 * CRLF dropped). Returns its length, -1 when not whole yet, -2 when it is
 * longer than n - 1 or ends in a bare LF. */
static int take_line(cmd_edge *e, char *buf, size_t n) {
  struct evbuffer_ptr lf = evbuffer_search(e->in, "\n", 1, NULL);
  if (lf.pos < 0)
    return evbuffer_get_length(e->in) >= n ? -2 : -1;
  if ((size_t)lf.pos >= n || lf.pos == 0)
    return -2;
  evbuffer_remove(e->in, buf, (size_t)lf.pos + 1);
  if (buf[lf.pos - 1] != '\r')
    return -2;
  buf[lf.pos - 1] = '\0';
  return (int)lf.pos - 1;
}

static int chunk_size(cmd_edge *e, struct evbuffer *dst) {
  char line[CHUNK_LINE_MAX];
  int n = take_line(e, line, sizeof line);
  if (n == -1)
    return 0;
  ev_uint64_t size = 0;
  int digits = 0;
  while (n > 0 && digits < n &&
         ((line[digits] >= '0' && line[digits] <= '9') ||
          ((line[digits] | 0x20) >= 'a' && (line[digits] | 0x20) <= 'f'))) {
    char c = line[digits];
    size =
        size * 16 + (ev_uint64_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    digits++;
  }
  const char *rest = line + (n > 0 ? digits : 0);
  while (*rest == ' ' || *rest == '\t')
    rest++;
  int ext_ok = *rest == '\0' || *rest == ';';
  for (const char *p = rest; ext_ok && *p; p++)
    ext_ok = is_value_byte((unsigned char)*p);
  if (n < 0 || digits == 0 || digits > 15 || !ext_ok)
    return refuse(e, dst, 400, CM_E_BAD_REQUEST, "chunk-size",
                  "a chunk size is 1 to 15 hex digits, then CRLF");
  if (e->total + size > max_body(e)) /* a skipped body too: bounded */
    return refuse(e, dst, 413, CM_E_LIMIT, "chunk-size",
                  "the body is over %llu bytes",
                  (unsigned long long)max_body(e));
  e->total += size;
  if (size == 0) {
    e->state = EDGE_TRAILER;
    e->trailer = 0;
  } else {
    e->state = EDGE_CHUNK_DATA;
    e->left = size;
  }
  return 0;
}

static int trailer_line(cmd_edge *e, struct evbuffer *dst) {
  char line[CHUNK_LINE_MAX];
  int n = take_line(e, line, sizeof line);
  if (n == -1)
    return 0;
  if (n == 0) /* the empty line: the request is whole */
    return emit_request(e, dst);
  e->trailer += (size_t)(n > 0 ? n : 0) + 2;
  int nl = n > 0 ? span_tchars(line, (size_t)n) : 0;
  int ok =
      n > 0 && nl > 0 && line[nl] == ':' && e->trailer <= CMD_EDGE_HEAD_MAX;
  for (int i = nl; ok && i < n; i++)
    ok = is_value_byte((unsigned char)line[i]);
  if (!ok)
    return refuse(e, dst, 400, CM_E_BAD_REQUEST, "trailer",
                  "a trailer line is not \"name: value\"");
  return 0; /* trailer fields are read and dropped */
}

/* ---- feeding ---- */

/* EDGE_HEAD: skip empty lines before the request line; take the head once
 * it is whole, refuse it when it is over CMD_EDGE_HEAD_MAX bytes. Returns
 * >= 0, or -1 out of memory. */
static int head_step(cmd_edge *e, struct evbuffer *dst) {
  size_t have = evbuffer_get_length(e->in);
  /* empty lines before a request line are ignored (RFC 9112 2.2) */
  while (have >= 2 && !memcmp(evbuffer_pullup(e->in, 2), "\r\n", 2)) {
    evbuffer_drain(e->in, 2);
    have -= 2;
  }
  struct evbuffer_ptr end = evbuffer_search(e->in, "\r\n\r\n", 4, NULL);
  if (end.pos < 0 && have > CMD_EDGE_HEAD_MAX)
    return refuse(e, dst, 431, CM_E_LIMIT, "",
                  "the request line and headers are over %d bytes",
                  CMD_EDGE_HEAD_MAX);
  if (end.pos >= 0 && (size_t)end.pos + 4 > CMD_EDGE_HEAD_MAX)
    return refuse(e, dst, 431, CM_E_LIMIT, "",
                  "the request line and headers are over %d bytes",
                  CMD_EDGE_HEAD_MAX);
  if (end.pos >= 0)
    return take_head(e, dst, (size_t)end.pos + 4);
  return 0;
}

/* EDGE_BODY: take what there is of a Content-Length body; the request is
 * emitted once it is whole. Returns >= 0, or -1 out of memory. */
static int body_step(cmd_edge *e, struct evbuffer *dst) {
  take_data(e);
  if (e->left == 0)
    return emit_request(e, dst);
  maybe_continue(e, dst);
  return 0;
}

/* EDGE_CHUNK_END: the CRLF after a chunk's data, refused when it is
 * something else. Returns >= 0, or -1 out of memory. */
static int chunk_end(cmd_edge *e, struct evbuffer *dst) {
  if (evbuffer_get_length(e->in) < 2)
    return 0;
  if (memcmp(evbuffer_pullup(e->in, 2), "\r\n", 2) != 0)
    return refuse(e, dst, 400, CM_E_BAD_REQUEST, "chunk-data",
                  "a chunk's data does not end in CRLF");
  evbuffer_drain(e->in, 2);
  e->state = EDGE_CHUNK_SIZE;
  return 0;
}

/* One step of the state machine over e->in (not EDGE_CLOSED). Returns >= 0,
 * or -1 out of memory. */
static int step(cmd_edge *e, struct evbuffer *dst) {
  switch (e->state) {
  case EDGE_HEAD:
    return head_step(e, dst);
  case EDGE_BODY:
    return body_step(e, dst);
  case EDGE_CHUNK_SIZE:
    return chunk_size(e, dst);
  case EDGE_CHUNK_DATA:
    take_data(e);
    if (e->left == 0)
      e->state = EDGE_CHUNK_END;
    return 0;
  case EDGE_CHUNK_END:
    return chunk_end(e, dst);
  case EDGE_TRAILER:
    return trailer_line(e, dst);
  case EDGE_CLOSED:
    break;
  }
  return 0;
}

int cmd_edge_feed(cmd_edge *e, struct evbuffer *src, struct evbuffer *dst) {
  size_t got = evbuffer_get_length(src);
  if (got == 0)
    return 0;
  if (e->state == EDGE_CLOSED) {
    evbuffer_drain(src, got);
    return 1;
  }
  if (evbuffer_add_buffer(e->in, src) != 0)
    return -1;
  for (;;) {
    size_t before = evbuffer_get_length(e->in);
    edge_state was = e->state;
    if (e->state == EDGE_CLOSED) {
      evbuffer_drain(e->in, before);
      return 1;
    }
    if (step(e, dst) < 0)
      return -1;
    if (e->state == was && evbuffer_get_length(e->in) == before)
      break; /* no progress: wait for more bytes */
  }
  if (e->state == EDGE_CHUNK_SIZE || e->state == EDGE_CHUNK_DATA)
    maybe_continue(e, dst);
  return 1;
}

cmd_edge *cmd_edge_new(cmd_daemon *d) {
  cmd_edge *e = calloc(1, sizeof *e);
  if (!e)
    return NULL;
  e->d = d;
  e->in = evbuffer_new();
  e->head = evbuffer_new();
  e->body = evbuffer_new();
  if (!e->in || !e->head || !e->body) {
    cmd_edge_free(e);
    return NULL;
  }
  return e;
}

void cmd_edge_free(cmd_edge *e) {
  if (!e)
    return;
  if (e->in)
    evbuffer_free(e->in);
  if (e->head)
    evbuffer_free(e->head);
  if (e->body)
    evbuffer_free(e->body);
  free(e);
}

/* ---- the filter ----
 *
 * Output does not go through the filter's own buffers: evhttp 2.1 takes a
 * reply as sent once the filter's output buffer is empty, and may then
 * free the connection (Connection: close) with the reply still in the
 * socket's bufferevent, lost; and a reply added while evhttp has writing
 * disabled waits for an event that may never come. So on_output only arms
 * the kick, whose callback writes evhttp's bytes straight to the socket:
 * the filter's output buffer empties only when the kernel has them. An
 * event stream writes its chunks the same way at once, with a flush in
 * BEV_FLUSH mode (cmd_edge_write_now), which no libevent code sends. */

/* Input: every byte goes through the framer. */
static enum bufferevent_filter_result
on_input(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
         enum bufferevent_flush_mode mode, void *ctx) {
  (void)limit;
  (void)mode;
  int rc = cmd_edge_feed(ctx, src, dst);
  /* every byte of src is taken: BEV_OK ends the filter's loop too */
  return rc < 0 ? BEV_ERROR : rc > 0 ? BEV_OK : BEV_NEED_MORE;
}

static void on_kick(evutil_socket_t fd, short what, void *arg);

/* Run on_kick: later in this loop turn (soon), or when the socket can take
 * more bytes. */
static void arm(cmd_edge *e, int soon) {
  if (!e->kick) {
    evutil_socket_t fd = bufferevent_getfd(e->bev);
    if (fd < 0)
      return;
    e->kick = event_new(bufferevent_get_base(e->bev), fd, EV_WRITE, on_kick, e);
    if (!e->kick)
      return; /* out of memory: the connection times out */
  }
  if (soon)
    event_active(e->kick, EV_WRITE, 1);
  else if (!event_pending(e->kick, EV_WRITE, NULL))
    event_add(e->kick, NULL);
}

/* Output: src is evhttp's (the filter's output buffer), dst the socket's
 * bufferevent's (empty but for an interim 100 Continue). */
static enum bufferevent_filter_result
on_output(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
          enum bufferevent_flush_mode mode, void *ctx) {
  cmd_edge *e = ctx;
  (void)limit;
  if (!e->flushing && mode != BEV_FLUSH) { /* BEV_FLUSH: cmd_edge_write_now */
    arm(e, 1);
    return BEV_NEED_MORE;
  }
  evutil_socket_t fd = bufferevent_getfd(e->bev);
  struct evbuffer *bufs[2] = {dst, src};
  int wrote = 0;
  for (int i = 0; i < 2; i++)
    while (evbuffer_get_length(bufs[i]) > 0) {
      int n = evbuffer_write(bufs[i], fd);
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        /* the peer is gone: evhttp learns it from the read side */
        evbuffer_drain(dst, evbuffer_get_length(dst));
        evbuffer_drain(src, evbuffer_get_length(src));
        return BEV_OK;
      }
      if (n <= 0) { /* the socket is full: on when it can take more */
        arm(e, 0);
        /* progress (BEV_OK) resets evhttp's write timeout; the filter then
           calls again, and gets BEV_NEED_MORE */
        return wrote ? BEV_OK : BEV_NEED_MORE;
      }
      wrote = 1;
    }
  return BEV_OK; /* all in the kernel: evhttp may go on (or close) */
}

static void on_kick(evutil_socket_t fd, short what, void *arg) {
  cmd_edge *e = arg;
  struct bufferevent *f = e->bev;
  (void)fd;
  (void)what;
  bufferevent_incref(f); /* evhttp may free the connection in the flush */
  e->flushing = 1;
  bufferevent_flush(f, EV_WRITE, BEV_NORMAL);
  e->flushing = 0;
  bufferevent_decref(f); /* e may be gone now */
}

void cmd_edge_write_now(struct bufferevent *f) {
  if (f) /* the filter's flush holds its own reference; a socket's: no-op */
    bufferevent_flush(f, EV_WRITE, BEV_FLUSH);
}

/* evhttp added to its output (maybe with writing disabled, when the
 * filter does not look at it): write it out from the next loop turn. */
static void on_out_added(struct evbuffer *buf, const struct evbuffer_cb_info *i,
                         void *arg) {
  (void)buf;
  if (i->n_added)
    arm(arg, 1);
}

static void free_edge(void *ctx) {
  cmd_edge *e = ctx;
  if (e->kick)
    event_free(e->kick);
  if (e->out_cb)
    evbuffer_remove_cb_entry(bufferevent_get_output(e->bev), e->out_cb);
  cmd_edge_free(e);
}

struct bufferevent *cmd_edge_bufferevent(struct event_base *base, void *arg) {
  cmd_edge *e = cmd_edge_new(arg);
  struct bufferevent *sock =
      e ? bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE) : NULL;
  struct bufferevent *f =
      sock ? bufferevent_filter_new(sock, on_input, on_output,
                                    BEV_OPT_CLOSE_ON_FREE, free_edge, e)
           : NULL;
  if (!f) { /* evhttp then makes a bufferevent of its own: no edge */
    if (sock)
      bufferevent_free(sock);
    cmd_edge_free(e);
    return NULL;
  }
  e->bev = f;
  e->out_cb = evbuffer_add_cb(bufferevent_get_output(f), on_out_added, e);
  return f;
}
