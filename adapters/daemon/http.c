/* http.c -- carematchd's HTTP server on libevent's evhttp: the route
 * table, methods (405 with Allow, 501, HEAD), bearer tokens and roles, the
 * JSON body (media type, size, syntax), the JSON error replies (the edge's
 * verdicts too, edge.c) and the per-route counts the metrics report. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "carematch/json.h"
#include "edge.h"
#include "http.h"
#include "json_util.h"

#define P CMD_ROLE_BIT(CMD_ROLE_PLATFORM)
#define G CMD_ROLE_BIT(CMD_ROLE_GATEWAY)
#define O CMD_ROLE_BIT(CMD_ROLE_OPERATOR)
#define M CMD_ROLE_BIT(CMD_ROLE_METRICS)
#define ANYONE 0u /* no token needed */

typedef struct route {
  enum evhttp_cmd_type method;
  const char *path; /* '*' is one path segment: the id */
  unsigned roles;   /* who may call it; ANYONE: no token */
  int takes_body;   /* a JSON body is read (may be required) */
  cmd_handler fn;
  const char *name; /* "POST /v1/requests" */
} route;

static const route routes[] = {
    {EVHTTP_REQ_PUT, "/v1/workers/*", P | G, 1, cmd_route_worker_put,
     "PUT /v1/workers/{id}"},
    {EVHTTP_REQ_GET, "/v1/workers/*", P | G | O, 0, cmd_route_worker_get,
     "GET /v1/workers/{id}"},
    {EVHTTP_REQ_POST, "/v1/workers/*/position", G, 1, cmd_route_worker_position,
     "POST /v1/workers/{id}/position"},
    {EVHTTP_REQ_POST, "/v1/workers/*/status", P | G, 1, cmd_route_worker_status,
     "POST /v1/workers/{id}/status"},
    {EVHTTP_REQ_POST, "/v1/positions", G, 1, cmd_route_positions,
     "POST /v1/positions"},
    {EVHTTP_REQ_POST, "/v1/requests", P, 1, cmd_route_request_create,
     "POST /v1/requests"},
    {EVHTTP_REQ_GET, "/v1/requests/*", P | O, 0, cmd_route_request_get,
     "GET /v1/requests/{id}"},
    {EVHTTP_REQ_POST, "/v1/requests/*/cancel", P, 1, cmd_route_request_cancel,
     "POST /v1/requests/{id}/cancel"},
    {EVHTTP_REQ_POST, "/v1/requests/*/complete", P | G, 1,
     cmd_route_request_complete, "POST /v1/requests/{id}/complete"},
    {EVHTTP_REQ_POST, "/v1/requests/*/arrived", P | G, 1,
     cmd_route_request_arrived, "POST /v1/requests/{id}/arrived"},
    {EVHTTP_REQ_POST, "/v1/requests/*/accept", G, 1, cmd_route_offer_accept,
     "POST /v1/requests/{id}/accept"},
    {EVHTTP_REQ_POST, "/v1/requests/*/reject", G, 1, cmd_route_offer_reject,
     "POST /v1/requests/{id}/reject"},
    /* confirmation before dispatch (routes_confirm.c) */
    {EVHTTP_REQ_POST, "/v1/requests/*/confirm", O, 1, cmd_route_request_confirm,
     "POST /v1/requests/{id}/confirm"},
    {EVHTTP_REQ_POST, "/v1/requests/*/dismiss", O, 1, cmd_route_request_dismiss,
     "POST /v1/requests/{id}/dismiss"},
    /* the operator's overrides (routes_override.c) */
    {EVHTTP_REQ_POST, "/v1/requests/*/pin", O, 1, cmd_route_request_pin,
     "POST /v1/requests/{id}/pin"},
    {EVHTTP_REQ_POST, "/v1/requests/*/hold", O, 1, cmd_route_request_hold,
     "POST /v1/requests/{id}/hold"},
    {EVHTTP_REQ_POST, "/v1/requests/*/release", O, 1, cmd_route_request_release,
     "POST /v1/requests/{id}/release"},
    {EVHTTP_REQ_POST, "/v1/requests/*/reassign", O, 1,
     cmd_route_request_reassign, "POST /v1/requests/{id}/reassign"},
    {EVHTTP_REQ_GET, "/v1/weights", O, 0, cmd_route_weights_get,
     "GET /v1/weights"},
    {EVHTTP_REQ_PUT, "/v1/weights", O, 1, cmd_route_weights_put,
     "PUT /v1/weights"},
    {EVHTTP_REQ_POST, "/v1/weights/whatif", O, 1, cmd_route_weights_whatif,
     "POST /v1/weights/whatif"},
    {EVHTTP_REQ_GET, "/v1/events", P | O, 0, cmd_route_events,
     "GET /v1/events"},
    {EVHTTP_REQ_GET, "/metrics", M | O, 0, cmd_route_metrics, "GET /metrics"},
    {EVHTTP_REQ_GET, "/healthz", ANYONE, 0, cmd_route_healthz, "GET /healthz"},
    {EVHTTP_REQ_GET, "/readyz", ANYONE, 0, cmd_route_readyz, "GET /readyz"},
    {EVHTTP_REQ_GET, "/v1/leader", ANYONE, 0, cmd_route_leader,
     "GET /v1/leader"},
    {EVHTTP_REQ_GET, "/v1/regions", ANYONE, 0, cmd_route_regions,
     "GET /v1/regions"},
    /* the operator console (console.c, routes_lists.c, kpis.c) */
    {EVHTTP_REQ_GET, "/console", ANYONE, 0, cmd_route_console_moved,
     "GET /console"},
    {EVHTTP_REQ_GET, "/console/", ANYONE, 0, cmd_route_console,
     "GET /console/"},
    {EVHTTP_REQ_GET, "/console/*", ANYONE, 0, cmd_route_console,
     "GET /console/{file}"},
    {EVHTTP_REQ_GET, "/v1/workers", P | O, 0, cmd_route_workers_list,
     "GET /v1/workers"},
    {EVHTTP_REQ_GET, "/v1/requests", P | O, 0, cmd_route_requests_list,
     "GET /v1/requests"},
    {EVHTTP_REQ_GET, "/v1/kpis", O, 0, cmd_route_kpis, "GET /v1/kpis"},
};
#define N_ROUTES ((int)(sizeof routes / sizeof *routes))
_Static_assert(N_ROUTES <= CMD_ROUTES_MAX, "route table too long");

const int cmd_codes[CMD_CODES] = {200, 201, 400, 401, 403, 404, 405, 409, 413,
                                  415, 422, 431, 500, 501, 503, 505, 0};

int cmd_route_count(void) {
  return N_ROUTES;
}

const char *cmd_route_name(int i) {
  return i >= 0 && i < N_ROUTES ? routes[i].name : "unmatched";
}

const char *cmd_route_template(int i) {
  if (i < 0 || i >= N_ROUTES)
    return "unmatched";
  const char *sp = strchr(routes[i].name, ' ');
  return sp ? sp + 1 : routes[i].name;
}

int cmd_route_method(int i) {
  return i >= 0 && i < N_ROUTES ? (int)routes[i].method : 0;
}

/* evhttp's methods are bits: GET 1, POST 2, HEAD 4, ... PATCH 256. */
static const char *const method_names[CMD_METHODS] = {
    "GET",     "POST",  "HEAD",    "PUT",   "DELETE",
    "OPTIONS", "TRACE", "CONNECT", "PATCH", "other"};

int cmd_method_index(int method) {
  for (int b = 0; b < CMD_METHODS - 1; b++)
    if (method == 1 << b)
      return b;
  return CMD_METHODS - 1;
}

const char *cmd_method_name(int index) {
  return index >= 0 && index < CMD_METHODS ? method_names[index] : "other";
}

/* Route i is served per region too, as /v1/regions/{region}/...: every
 * /v1 route but the list of regions. */
static int regional(int i) {
  return strncmp(routes[i].path, "/v1/", 4) == 0 &&
         routes[i].fn != cmd_route_regions;
}

void cmd_http_print_routes(void) {
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < N_ROUTES; i++) {
      char roles[64] = "";
      if (pass == 1 && !regional(i))
        continue;
      for (int r = 0; r < CMD_ROLE_COUNT; r++)
        if (routes[i].roles & CMD_ROLE_BIT(r))
          snprintf(roles + strlen(roles), sizeof roles - strlen(roles), "%s%s",
                   roles[0] ? "," : "", cmd_role_name((cmd_role)r));
      const char *sp = strchr(routes[i].name, ' ');
      if (pass == 0)
        printf("%s %s\n", routes[i].name, roles[0] ? roles : "-");
      else /* "GET /v1/x" as "GET /v1/regions/{region}/x" */
        printf("%.*s /v1/regions/{region}%s %s\n", (int)(sp - routes[i].name),
               routes[i].name, sp + 4, roles[0] ? roles : "-");
    }
}

void cmd_count(cmd_call *c, int code) {
  int k = CMD_CODES - 1; /* 0: any other code */
  for (int i = 0; i < CMD_CODES - 1; i++)
    if (cmd_codes[i] == code)
      k = i;
  if (c->route >= 0 && c->route < N_ROUTES)
    c->d->http_count[c->route][k]++;
  else /* no route: counted by method */
    c->d->http_unmatched[cmd_method_index(c->method)][k]++;
  c->code = code;
}

/* HEAD: the headers GET would have, Content-Length included, and no body
 * (evhttp 2.1 would send the body of a HEAD reply, and no length). */
static void send_reply(cmd_call *c, int code, const char *type,
                       const char *text, size_t len) {
  if (c->deferred && !c->req) { /* freed with its connection */
    cmd_count(c, code);
    return;
  }
  if (c->deferred && !c->gone) { /* the reply is on its way */
    struct evhttp_connection *con = evhttp_request_get_connection(c->req);
    if (con)
      evhttp_connection_set_closecb(con, NULL, NULL);
  }
  struct evbuffer *buf = c->head ? NULL : evbuffer_new();
  struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
  evhttp_add_header(h, "Content-Type", type);
  evhttp_add_header(h, "Cache-Control", "no-store");
  if (c->close)
    evhttp_add_header(h, "Connection", "close");
  if (c->head) {
    char n[24];
    snprintf(n, sizeof n, "%zu", len);
    evhttp_add_header(h, "Content-Length", n);
  }
  if (buf)
    evbuffer_add(buf, text, len);
  evhttp_send_reply(c->req, code, NULL, buf);
  if (buf)
    evbuffer_free(buf);
  cmd_count(c, code);
}

void cmd_reply_text(cmd_call *c, int code, const char *content_type,
                    const char *text, size_t len) {
  send_reply(c, code, content_type, text, len);
}

static void reply_oom(cmd_call *c) {
  const char *body = cm__json_error_oom();
  send_reply(c, 500, "application/json", body, strlen(body));
}

void cmd_reply_json(cmd_call *c, int code, json_t *o) {
  /* 15 significant digits: 31.231 reads 31.231, not 31.231000000000002 */
  char *text =
      o ? cm__json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
  json_decref(o);
  if (!text) {
    reply_oom(c);
    return;
  }
  send_reply(c, code, "application/json", text, strlen(text));
  free(text);
}

/* The error body (cm_error_to_json) with HTTP status code (0: the code's
 * own, from the error table). */
static void reply_error_as(cmd_call *c, int code, const cm_error *err) {
  char *text = cm_error_to_json(err);
  if (!code)
    code = cm_status_http(err->code);
  if (code == 401)
    evhttp_add_header(evhttp_request_get_output_headers(c->req),
                      "WWW-Authenticate", "Bearer");
  if (!text) {
    reply_oom(c);
    return;
  }
  send_reply(c, code, "application/json", text, strlen(text));
  free(text);
}

void cmd_reply_own_error(cmd_call *c, const cm_error *err) {
  reply_error_as(c, 0, err);
}

void cmd_reply_error(cmd_call *c, const cm_error *err) {
  if (err->code != CM_E_UNAVAILABLE || !c->r->redis) {
    reply_error_as(c, 0, err);
    return;
  }
  /* the store's words name Redis's host and port: for the log only */
  cm_error pub;
  fprintf(stderr, "carematchd: %s: %s\n", cmd_route_name(c->route),
          err->message);
  cm_error_set(&pub, CM_E_UNAVAILABLE, err->field,
               "the store is unavailable; nothing was done, retry later");
  reply_error_as(c, 0, &pub);
}

static void fail(cmd_call *c, cm_status st, const char *field, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));
static void fail(cmd_call *c, cm_status st, const char *field, const char *fmt,
                 ...) {
  cm_error err;
  char msg[CM_ERROR_MESSAGE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  cm_error_set(&err, st, field, "%s", msg);
  reply_error_as(c, 0, &err);
}

/* ---- matching ---- */

/* Match path against pattern, where a '*' is one non-empty path segment
 * (the id). Returns 1 on a match; then *seg, when given, is the segment
 * URL-decoded (malloc'd, the caller frees; NULL out of memory, or when the
 * pattern has no '*'), to be checked as an id. */
static int match(const char *pattern, const char *path, char **seg) {
  char *dec = NULL;
  size_t dn = 0;
  while (*pattern && *path) {
    if (*pattern == '*') {
      const char *end = strchr(path, '/');
      size_t n = end ? (size_t)(end - path) : strlen(path);
      if (n == 0)
        break;
      char *raw = seg ? strndup(path, n) : NULL;
      free(dec);
      dec = raw ? evhttp_uridecode(raw, 0, &dn) : NULL;
      free(raw);
      pattern++;
      path += n;
      continue;
    }
    if (*pattern++ != *path++)
      break;
  }
  int ok = !*pattern && !*path;
  if (ok && seg && dec && memchr(dec, 0, dn)) /* %00: a NUL, as a control */
    memset(dec, '\x01', dn);
  if (ok && seg)
    *seg = dec;
  else
    free(dec);
  return ok;
}

/* The path's id: an id by the rules of ids in bodies (cm__json_check_id:
 * 1..63 bytes of UTF-8 without control characters), into arg. The error
 * names the field the engine names the route's id by: "$.request" for a
 * request, "$.id" for a worker. */
static cm_status path_id(const char *pattern, const char *seg, char *arg,
                         cm_error *err) {
  const char *field =
      strncmp(pattern, "/v1/requests/", 13) == 0 ? "$.request" : "$.id";
  if (!seg)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  cm_status st = cm__json_check_id(seg, field, err);
  if (st == CM_OK)
    memcpy(arg, seg, strlen(seg) + 1);
  return st;
}

static const struct {
  enum evhttp_cmd_type type;
  const char *name;
} methods[] = {
    {EVHTTP_REQ_GET, "GET"},       {EVHTTP_REQ_HEAD, "HEAD"},
    {EVHTTP_REQ_POST, "POST"},     {EVHTTP_REQ_PUT, "PUT"},
    {EVHTTP_REQ_DELETE, "DELETE"}, {EVHTTP_REQ_OPTIONS, "OPTIONS"},
    {EVHTTP_REQ_TRACE, "TRACE"},   {EVHTTP_REQ_CONNECT, "CONNECT"},
    {EVHTTP_REQ_PATCH, "PATCH"},
};
#define N_METHODS ((int)(sizeof methods / sizeof *methods))

/* The method as the daemon knows it: one of methods[] (the RFC 9110 and
 * 5789 methods, case-sensitive), or 0. The edge hands evhttp the others
 * as a GET with their name in CMD_EDGE_METHOD. */
static int method_of(struct evhttp_request *req, int how, const char **name) {
  const char *m = evhttp_find_header(evhttp_request_get_input_headers(req),
                                     CMD_EDGE_METHOD);
  *name = m ? m : "?";
  for (int i = 0; i < N_METHODS; i++)
    if (m ? strcmp(m, methods[i].name) == 0 : (int)methods[i].type == how) {
      *name = methods[i].name;
      return (int)methods[i].type;
    }
  return 0;
}

/* "GET, HEAD, PUT": the methods the routes matching path take. */
static void allow_of(const char *path, char *out, size_t n) {
  unsigned have = 0;
  for (int i = 0; i < N_ROUTES; i++)
    if (match(routes[i].path, path, NULL))
      have |= (unsigned)routes[i].method |
              (routes[i].method == EVHTTP_REQ_GET ? EVHTTP_REQ_HEAD : 0u);
  out[0] = '\0';
  for (int i = 0; i < N_METHODS; i++)
    if (have & (unsigned)methods[i].type)
      snprintf(out + strlen(out), n - strlen(out), "%s%s", out[0] ? ", " : "",
               methods[i].name);
}

/* ---- the body ---- */

/* 1 when a Content-Type value is the media type application/json (type
 * and subtype in any case), with parameters or not (RFC 9110 8.3.1); a
 * charset, if given, is utf-8. */
static int is_json_type(const char *v) {
  static const char tchar[] = "!#$%&'*+-.^_`|~";
#define TCHAR_(c)                                                              \
  (((c) >= '0' && (c) <= '9') || ((c) >= 'a' && (c) <= 'z') ||                 \
   ((c) >= 'A' && (c) <= 'Z') || ((c) && strchr(tchar, (c))))
  while (*v == ' ' || *v == '\t')
    v++;
  if (strncasecmp(v, "application/json", 16) != 0)
    return 0;
  v += 16;
  for (;;) {
    while (*v == ' ' || *v == '\t')
      v++;
    if (!*v)
      return 1;
    if (*v++ != ';')
      return 0; /* "application/jsonp", "application/json-seq" */
    while (*v == ' ' || *v == '\t')
      v++;
    const char *name = v;
    while (TCHAR_(*v))
      v++;
    size_t nn = (size_t)(v - name);
    if (nn == 0 || *v++ != '=')
      return 0;
    const char *val = v;
    size_t vn;
    if (*v == '"') { /* quoted-string */
      for (v++; *v && *v != '"'; v++)
        if (*v == '\\' && !*++v)
          return 0;
      if (*v++ != '"')
        return 0;
      val++;
      vn = (size_t)(v - val - 1);
    } else {
      while (TCHAR_(*v))
        v++;
      vn = (size_t)(v - val);
      if (vn == 0)
        return 0;
    }
    if (nn == 7 && strncasecmp(name, "charset", 7) == 0 &&
        !(vn == 5 && strncasecmp(val, "utf-8", 5) == 0))
      return 0;
  }
#undef TCHAR_
}

/* ---- tokens ---- */

/* Constant time in the token's content: every configured token is
 * compared in full, whatever matched before. Returns the role (*index the
 * token's place in it), or -1. */
static int role_of(const cmd_config *cfg, const char *tok, int *index) {
  size_t n = strnlen(tok, CMD_TOKEN_MAX);
  int found = -1;
  *index = -1;
  for (int r = 0; r < CMD_ROLE_COUNT; r++)
    for (int i = 0; i < cfg->n_tokens[r]; i++) {
      const char *t = cfg->tokens[r][i];
      unsigned diff = (unsigned)(n ^ strlen(t));
      /* t is NUL-padded to CMD_TOKEN_MAX (config.c) */
      for (size_t k = 0; k < CMD_TOKEN_MAX - 1; k++)
        diff |= (unsigned)((unsigned char)(k < n ? tok[k] : 0) ^
                           (unsigned char)t[k]);
      int hit = diff == 0 && found < 0;
      *index = hit ? i : *index;
      found = hit ? r : found;
    }
  return found;
}

/* ---- the dispatcher ---- */

static int read_body(cmd_call *c, int *done) {
  struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
  size_t len = in ? evbuffer_get_length(in) : 0;
  *done = 0;
  if (len == 0)
    return 0;
  if ((long)len > c->d->cfg.max_body) {
    cm_error err;
    cm_error_set(&err, CM_E_LIMIT, "",
                 "the body is %zu bytes; at most %ld are taken", len,
                 c->d->cfg.max_body);
    reply_error_as(c, 413, &err);
    *done = 1;
    return -1;
  }
  const char *type = evhttp_find_header(
      evhttp_request_get_input_headers(c->req), "Content-Type");
  if (!type || !is_json_type(type)) {
    fail(c, CM_E_MEDIA_TYPE, "",
         "the body must be application/json (charset utf-8), not %.100s",
         type ? type : "untyped");
    *done = 1;
    return -1;
  }
  unsigned char *data = evbuffer_pullup(in, -1);
  json_error_t je;
  c->body = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &je);
  if (!c->body) {
    fail(c, CM_E_PARSE, "$", "malformed JSON at line %d, column %d: %s",
         je.line, je.column, je.text);
    *done = 1;
    return -1;
  }
  return 0;
}

/* Nagle off: a reply larger than one segment (metrics, a big view) must
 * not wait for the client's delayed ACK. */
static void no_delay(struct evhttp_request *req) {
  struct evhttp_connection *con = evhttp_request_get_connection(req);
  struct bufferevent *bev = con ? evhttp_connection_get_bufferevent(con) : NULL;
  evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
  int one = 1;
  if (fd >= 0)
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* A request naming a service: what the catalog made of it (the roles,
 * any or all, the people), so a replay needs no configuration. NULL
 * otherwise. */
static json_t *resolved_service(const cmd_daemon *d, const cmd_call *c) {
  const json_t *svc = c->body ? json_object_get(c->body, "service") : NULL;
  const cmd_service *s =
      json_is_string(svc) ? cmd_config_service(&d->cfg, json_string_value(svc))
                          : NULL;
  json_t *skills = s ? json_array() : NULL;
  const cm_taxonomy *t = &d->cfg.engine.taxonomy;
  for (int k = 0; skills && k < t->count; k++)
    if (s->skills >> k & 1u)
      json_array_append_new(skills, json_string(t->names[k]));
  return skills ? json_pack("{s:o,s:s,s:i}", "skills", skills, "skill_mode",
                            s->mode == CM_SKILLS_ANY ? "any" : "all", "staff",
                            s->staff)
                : NULL;
}

/* One line of the input trace (--trace): a write the daemon took, with
 * the time, the route, the path's id and the body (and for a request
 * naming a service, what it resolved to), so the day can be replayed
 * (docs/daemon.md). */
static void trace(cmd_daemon *d, const cmd_call *c) {
  json_t *line =
      json_pack("{s:I,s:s,s:s,s:O?}", "at_ms", (json_int_t)cmd_now_ms(),
                "route", routes[c->route].name, "id", c->arg, "body", c->body);
  json_t *res = line ? resolved_service(d, c) : NULL;
  if (line && d->n_regions > 1) /* which region it went to */
    json_object_set_new(line, "region", json_string(c->r->name));
  /* trace.c pseudonymises, writes, and counts and reports a line lost */
  cmd_trace_write(
      d->trace,
      line && (!res || json_object_set_new(line, "resolved", res) == 0) ? line
                                                                        : NULL);
  json_decref(line);
}

/* The edge's verdict on this request, answered; 1 when there was one. */
static int edge_verdict(cmd_call *c) {
  const char *v = evhttp_find_header(evhttp_request_get_input_headers(c->req),
                                     CMD_EDGE_VERDICT);
  cmd_edge_verdict ev;
  if (!v)
    return 0;
  cmd_edge_verdict_parse(v, &ev);
  c->close = ev.close;
  reply_error_as(c, ev.status, &ev.err);
  return 1;
}

/* Authorization: one header, "Bearer <token>", the token printable ASCII
 * without spaces (as configured). Returns the role, or -1 replied. */
static int authorize(cmd_call *c, unsigned allowed) {
  const char *h = evhttp_find_header(evhttp_request_get_input_headers(c->req),
                                     "Authorization");
  if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
    fail(c, CM_E_UNAUTHORIZED, "", "give Authorization: Bearer <token>");
    return -1;
  }
  const char *tok = h + 7;
  while (*tok == ' ')
    tok++;
  size_t n = strlen(tok);
  int printable = n > 0 && n < CMD_TOKEN_MAX;
  for (size_t i = 0; printable && i < n; i++)
    printable = tok[i] > 0x20 && tok[i] < 0x7f;
  int index = -1;
  int role = printable ? role_of(&c->d->cfg, tok, &index) : -1;
  if (role < 0) {
    fail(c, CM_E_UNAUTHORIZED, "",
         printable ? "the token is not valid"
                   : "the token is malformed (printable ASCII, no spaces)");
    return -1;
  }
  if (!(allowed & CMD_ROLE_BIT(role))) {
    fail(c, CM_E_FORBIDDEN, "", "the %s role may not call %s",
         cmd_role_name((cmd_role)role), routes[c->route].name);
    return -1;
  }
  const char *name = c->d->cfg.token_names[role][index];
  snprintf(c->actor, sizeof c->actor, "%s",
           name[0] ? name : cmd_role_name((cmd_role)role));
  return role;
}

/* How many headers named name the request has. */
static int header_count(struct evhttp_request *req, const char *name) {
  int n = 0;
  for (struct evkeyval *kv = evhttp_request_get_input_headers(req)->tqh_first;
       kv; kv = kv->next.tqe_next)
    n += strcasecmp(kv->key, name) == 0;
  return n;
}

/* The request's method, checked: one Authorization header at most, a method
 * carematchd implements, HEAD answered as GET without the body. Returns the
 * method (*mname its name), or 0 replied. */
static int checked_method(cmd_call *c, int how, const char **mname) {
  int method = method_of(c->req, how, mname);
  c->method = method; /* counted by the method the client sent */
  if (header_count(c->req, "Authorization") > 1) {
    fail(c, CM_E_BAD_REQUEST, "Authorization",
         "give one Authorization header, not %d",
         header_count(c->req, "Authorization"));
    return 0;
  }
  if (method == 0) {
    fail(c, CM_E_NOT_IMPLEMENTED, "", "the method %.40s is not implemented",
         *mname);
    return 0;
  }
  if (method == EVHTTP_REQ_HEAD) { /* GET without the body */
    c->head = 1;
    method = EVHTTP_REQ_GET;
  }
  return method;
}

/* The route of path and method. Returns its index, or -1 replied (405 with
 * Allow when the path takes other methods, else 404). */
static int route_of(cmd_call *c, const char *path, int method,
                    const char *mname) {
  int path_known = 0, i;
  for (i = 0; i < N_ROUTES; i++) {
    if (!match(routes[i].path, path, NULL))
      continue;
    path_known = 1;
    if ((int)routes[i].method == method)
      return i;
  }
  if (path_known) {
    char allow[64];
    allow_of(path, allow, sizeof allow);
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "Allow",
                      allow);
    fail(c, CM_E_METHOD, "", "%.100s takes %s, not %s", path, allow, mname);
  } else {
    fail(c, CM_E_NOT_FOUND, "", "no route %s", path);
  }
  return -1;
}

/* Whether the caller may call the route now: not while draining (except
 * GET), not before the state is recovered from Redis (except the health,
 * readiness and metrics routes), and with a token of an allowed role when auth
 * is on. Sets c->role. Returns 0, or -1 replied. */
static int admit(cmd_call *c, int method) {
  const route *r = &routes[c->route];
  if (c->d->draining && method != EVHTTP_REQ_GET) {
    fail(c, CM_E_UNAVAILABLE, "", "the daemon is shutting down");
    return -1;
  }
  if (c->r->redis && !c->r->recovered && r->fn != cmd_route_healthz &&
      r->fn != cmd_route_readyz && r->fn != cmd_route_metrics &&
      r->fn != cmd_route_leader && r->fn != cmd_route_regions &&
      r->fn != cmd_route_console && r->fn != cmd_route_console_moved) {
    /* Redis down at start (or refusing us): nothing known yet */
    fail(c, CM_E_UNAVAILABLE, "",
         "the store is not connected yet (GET /readyz says why); nothing "
         "was done, retry later");
    return -1;
  }
  c->role = CMD_ROLE_OPERATOR;
  snprintf(c->actor, sizeof c->actor, "%s", c->d->cfg.auth ? "" : "anonymous");
  if (c->d->cfg.auth && r->roles != ANYONE) {
    int role = authorize(c, r->roles);
    if (role < 0)
      return -1;
    c->role = (cmd_role)role;
  }
  return 0;
}

/* The path's id (the route's '*' segment) into c->arg, checked as in a
 * body. Returns 0 (also for routes without one), or -1 replied. */
static int take_path_id(cmd_call *c, const char *path) {
  const route *r = &routes[c->route];
  if (!strchr(r->path, '*'))
    return 0;
  char *seg = NULL;
  cm_error err;
  match(r->path, path, &seg);
  cm_status st = path_id(r->path, seg, c->arg, &err);
  free(seg);
  if (st != CM_OK) {
    reply_error_as(c, 0, &err);
    return -1;
  }
  return 0;
}

/* The connection of a deferred call closed before its reply. A request
 * evhttp detached from it first (the client's end of file) lives on until
 * it is replied to, which frees it; one still on the connection is freed
 * with it (the server shutting down). */
static void on_deferred_close(struct evhttp_connection *con, void *arg) {
  (void)con;
  cmd_call *dc = arg;
  dc->gone = 1;
  if (dc->req && evhttp_request_get_connection(dc->req))
    dc->req = NULL;
}

cmd_call *cmd_call_defer(cmd_call *c) {
  cmd_call *dc = malloc(sizeof *dc);
  if (!dc) {
    reply_oom(c);
    return NULL;
  }
  *dc = *c;
  json_incref(dc->body);
  dc->deferred = 1;
  dc->gone = 0;
  c->deferred = 1;
  struct evhttp_connection *con = evhttp_request_get_connection(c->req);
  if (con)
    evhttp_connection_set_closecb(con, on_deferred_close, dc);
  return dc;
}

cmd_call *cmd_call_writer(cmd_call *c) {
  cmd_call *w = c->r->redis_loop ? cmd_call_defer(c) : c;
  if (w)
    snprintf(w->wid, sizeof w->wid, "%s", w->arg);
  return w;
}

int cmd_body_empty(cmd_call *c) {
  static const char *const none[] = {NULL};
  cm_error err;
  if (c->body && cm__json_check_keys(c->body, "$", none, &err) != CM_OK) {
    cmd_reply_error(c, &err);
    return 0;
  }
  return 1;
}

void cmd_call_end(cmd_call *dc) {
  if (dc->d->trace && dc->method != EVHTTP_REQ_GET && dc->code >= 200 &&
      dc->code < 300)
    trace(dc->d, dc);
  json_decref(dc->body);
  free(dc);
}

/* What a route's handler counts under in the loop-stall trace. */
static cmd_cause route_cause(const route *r) {
  if (strstr(r->path, "position"))
    return CMD_CAUSE_HTTP_POSITIONS;
  if (!strncmp(r->path, "/v1/workers", 11))
    return CMD_CAUSE_HTTP_WORKERS;
  if (!strncmp(r->path, "/v1/requests", 12))
    return CMD_CAUSE_HTTP_REQUESTS;
  if (!strcmp(r->path, "/v1/weights") && r->method == EVHTTP_REQ_PUT)
    return CMD_CAUSE_WEIGHTS;
  return CMD_CAUSE_HTTP_OTHER;
}

/* "/v1/regions/{region}/rest": the region into c->r and "/v1/rest" into
 * buf (n bytes), which *path then points to. Any other path: c->r is the
 * default region, *path unchanged. Returns 0, or -1 replied 404 (no such
 * region, or a route that is not per region). */
static int region_of(cmd_call *c, const char **path, char *buf, size_t n) {
  static const char prefix[] = "/v1/regions/";
  const size_t pn = sizeof prefix - 1;
  c->r = &c->d->regions[0];
  if (strncmp(*path, prefix, pn) != 0)
    return 0;
  const char *seg = *path + pn;
  size_t sn = strcspn(seg, "/");
  char name[CM_REDIS_REGION_MAX + 1];
  snprintf(name, sizeof name, "%.*s", (int)(sn < sizeof name ? sn : 0), seg);
  cmd_region *r = name[0] ? cmd_region_find(c->d, name) : NULL;
  if (!r) {
    fail(c, CM_E_NOT_FOUND, "", "no region %.*s here", (int)(sn > 64 ? 64 : sn),
         seg);
    return -1;
  }
  if (!seg[sn] || !strcmp(seg + sn, "/regions") ||
      strncmp(seg + sn, "/regions/", 9) == 0 || strlen(seg + sn) + 4 > n) {
    fail(c, CM_E_NOT_FOUND, "", "no route %.100s", *path);
    return -1;
  }
  snprintf(buf, n, "/v1%s", seg + sn);
  c->r = r;
  *path = buf;
  return 0;
}

int cmd_http_dispatch(cmd_daemon *d, struct evhttp_request *req, int how,
                      const char *path) {
  cmd_call c;
  char rpath[1024];
  memset(&c, 0, sizeof c);
  c.d = d;
  c.r = &d->regions[0];
  c.req = req;
  c.route = N_ROUTES; /* unmatched */
  c.method = 0;       /* the edge's refusals: counted as method "other" */
  if (edge_verdict(&c))
    return c.code;
  const char *mname;
  int method = checked_method(&c, how, &mname);
  if (method == 0)
    return c.code;
  if (region_of(&c, &path, rpath, sizeof rpath) != 0)
    return c.code;
  int i = route_of(&c, path, method, mname);
  if (i < 0)
    return c.code;
  c.route = i;
  if (admit(&c, method) != 0 || take_path_id(&c, path) != 0)
    return c.code;
  int done;
  if (routes[i].takes_body && read_body(&c, &done) != 0)
    return c.code;
  int64_t t0 = cmd_watch_begin(d);
  routes[i].fn(&c);
  cmd_watch_end(d, route_cause(&routes[i]), t0);
  if (c.deferred) { /* replied later (cmd_call_end traces it) */
    json_decref(c.body);
    return 0;
  }
  if (d->trace && method != EVHTTP_REQ_GET && c.code >= 200 && c.code < 300)
    trace(d, &c);
  json_decref(c.body);
  return c.code;
}

static void on_request(struct evhttp_request *req, void *arg) {
  no_delay(req);
  const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
  const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
  cmd_http_dispatch(arg, req, (int)evhttp_request_get_command(req),
                    path ? path : "/");
}

int cmd_http_start(cmd_daemon *d, char *msg, size_t n) {
  d->http = evhttp_new(d->base);
  if (!d->http) {
    snprintf(msg, n, "cannot create the HTTP server");
    return -1;
  }
  /* every connection's bytes go through the edge (edge.c), which frames
     the requests and refuses what evhttp would answer in HTML: a body over
     max_body_bytes, oversized headers, a method evhttp does not take. The
     limits here are evhttp's own, never reached (a reload can raise
     max_body_bytes up to 2^30). */
  evhttp_set_bevcb(d->http, cmd_edge_bufferevent, d);
  evhttp_set_max_body_size(d->http, (ev_ssize_t)1 << 30);
  evhttp_set_max_headers_size(d->http, 2 * CMD_EDGE_HEAD_MAX);
  evhttp_set_timeout(d->http, 60);
  evhttp_set_allowed_methods(d->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
                                          EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                          EVHTTP_REQ_HEAD);
  evhttp_set_gencb(d->http, on_request, d);
  d->sock = evhttp_bind_socket_with_handle(d->http, d->cfg.listen,
                                           (ev_uint16_t)d->cfg.port);
  if (!d->sock) {
    snprintf(msg, n, "cannot listen on %s:%d", d->cfg.listen, d->cfg.port);
    return -1;
  }
  /* the port actually bound (port 0: any free one) */
  evutil_socket_t fd = evhttp_bound_socket_get_fd(d->sock);
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  d->port = d->cfg.port;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
    if (ss.ss_family == AF_INET)
      d->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
      d->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  }
  return 0;
}

void cmd_http_stop_accepting(cmd_daemon *d) {
  if (d->http && d->sock) {
    evhttp_del_accept_socket(d->http, d->sock);
    d->sock = NULL;
  }
}
