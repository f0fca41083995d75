/* http_client.c -- a small client of carematchd (http_client.h). */
#include "http_client.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HC_MAX_CONNS 256
#define HC_SSE_BUF 65536

struct cm_hc {
  struct event_base *base;
  char host[64];
  int port;
  struct evhttp_connection *conns[HC_MAX_CONNS];
  int n_conns, next;
  uint64_t calls, errors;
  int inflight;
  FILE *log;
  int log_left;
  /* the event stream */
  struct evhttp_connection *sse;
  cm_hc_event on_event;
  void (*on_end)(void *arg);
  void *event_arg;
  char sse_buf[HC_SSE_BUF];
  size_t sse_len;
  struct call *pending; /* calls not answered yet (freed with c: libevent
                           frees a connection's requests without calling
                           back) */
};

typedef struct call {
  cm_hc *c;
  cm_hc_done fn;
  void *arg;
  int method;
  char path[120];
  struct call *prev, *next; /* c->pending */
} call;

static void call_unlink(call *k) {
  if (k->prev)
    k->prev->next = k->next;
  else
    k->c->pending = k->next;
  if (k->next)
    k->next->prev = k->prev;
}

void cm_hc_log_errors(cm_hc *c, FILE *f, int max) {
  c->log = f;
  c->log_left = max;
}

static void log_error(cm_hc *c, const call *k, struct evhttp_request *req) {
  if (!c->log || c->log_left <= 0)
    return;
  c->log_left--;
  char *body = cm_hc_body(req);
  fprintf(c->log, "http: %s %s -> %d %s\n",
          k->method == EVHTTP_REQ_GET   ? "GET"
          : k->method == EVHTTP_REQ_PUT ? "PUT"
                                        : "POST",
          k->path, cm_hc_code(req), body ? body : "(no reply)");
  free(body);
}

cm_hc *cm_hc_new(struct event_base *base, const char *host, int port,
                 int n_conns) {
  if (n_conns < 1 || n_conns > HC_MAX_CONNS)
    return NULL;
  /* a peer (carematchd, a proxy in front of it) that closes a connection
     while a request is being written must be an error of that call, not
     the end of the client process */
  signal(SIGPIPE, SIG_IGN);
  cm_hc *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->base = base;
  snprintf(c->host, sizeof c->host, "%s", host);
  c->port = port;
  c->n_conns = n_conns;
  for (int i = 0; i < n_conns; i++) {
    c->conns[i] =
        evhttp_connection_base_new(base, NULL, host, (ev_uint16_t)port);
    if (!c->conns[i]) {
      cm_hc_free(c);
      return NULL;
    }
  }
  return c;
}

void cm_hc_free(cm_hc *c) {
  if (!c)
    return;
  for (int i = 0; i < c->n_conns; i++)
    if (c->conns[i])
      evhttp_connection_free(c->conns[i]);
  if (c->sse)
    evhttp_connection_free(c->sse);
  while (c->pending) {
    call *k = c->pending;
    c->pending = k->next;
    free(k);
  }
  free(c);
}

struct evhttp_connection *cm_hc_conn(cm_hc *c, int i) {
  if (i >= 0)
    return c->conns[i % c->n_conns];
  struct evhttp_connection *con = c->conns[c->next];
  c->next = (c->next + 1) % c->n_conns;
  return con;
}

uint64_t cm_hc_calls(const cm_hc *c) {
  return c->calls;
}
uint64_t cm_hc_errors(const cm_hc *c) {
  return c->errors;
}
int cm_hc_inflight(const cm_hc *c) {
  return c->inflight;
}

/* Nagle off on con: the last segment of a large request body otherwise
 * waits for the server's delayed ACK (40 ms on loopback). The socket
 * exists once a request was made on the connection. */
static void no_delay(struct evhttp_connection *con) {
  struct bufferevent *bev = con ? evhttp_connection_get_bufferevent(con) : NULL;
  evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
  int one = 1;
  if (fd >= 0)
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void on_reply(struct evhttp_request *req, void *arg) {
  call *k = arg;
  cm_hc *c = k->c;
  c->inflight--;
  call_unlink(k);
  int code = cm_hc_code(req);
  int bad = k->fn ? k->fn(k->arg, req) : code < 200 || code >= 300;
  if (bad) {
    c->errors++;
    log_error(c, k, req);
  }
  free(k);
}

static void add_headers(cm_hc *c, struct evhttp_request *req,
                        const char *token) {
  struct evkeyvalq *h = evhttp_request_get_output_headers(req);
  evhttp_add_header(h, "Host", c->host);
  if (token) {
    char auth[200];
    snprintf(auth, sizeof auth, "Bearer %s", token);
    evhttp_add_header(h, "Authorization", auth);
  }
}

int cm_hc_call(cm_hc *c, struct evhttp_connection *con,
               enum evhttp_cmd_type method, const char *path, const char *token,
               const char *body, size_t len, cm_hc_done fn, void *arg) {
  call *k = malloc(sizeof *k);
  struct evhttp_request *req = k ? evhttp_request_new(on_reply, k) : NULL;
  c->calls++;
  if (!req) {
    free(k);
    c->errors++;
    return -1;
  }
  k->c = c;
  k->fn = fn;
  k->arg = arg;
  k->method = (int)method;
  snprintf(k->path, sizeof k->path, "%s", path);
  add_headers(c, req, token);
  if (body) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
  }
  c->inflight++;
  k->prev = NULL;
  k->next = c->pending;
  if (c->pending)
    c->pending->prev = k;
  c->pending = k;
  if (evhttp_make_request(con, req, method, path) != 0) {
    /* libevent freed req; the callback will not run */
    c->inflight--;
    c->errors++;
    call_unlink(k);
    free(k);
    return -1;
  }
  no_delay(con);
  return 0;
}

int cm_hc_code(struct evhttp_request *req) {
  return req ? evhttp_request_get_response_code(req) : 0;
}

char *cm_hc_body(struct evhttp_request *req) {
  struct evbuffer *in = req ? evhttp_request_get_input_buffer(req) : NULL;
  size_t n = in ? evbuffer_get_length(in) : 0;
  char *s = in ? malloc(n + 1) : NULL;
  if (!s)
    return NULL;
  evbuffer_copyout(in, s, n);
  s[n] = '\0';
  return s;
}

/* SSE: lines "event: X", "data: {...}"; a blank line ends an event. */
static void on_sse_chunk(struct evhttp_request *req, void *arg) {
  cm_hc *c = arg;
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  size_t n;
  while ((n = evbuffer_get_length(in)) > 0) {
    size_t room = sizeof c->sse_buf - 1 - c->sse_len;
    if (n > room)
      n = room;
    evbuffer_remove(in, c->sse_buf + c->sse_len, n);
    c->sse_len += n;
    c->sse_buf[c->sse_len] = '\0';
    char *start = c->sse_buf, *end;
    while ((end = strstr(start, "\n\n"))) {
      *end = '\0';
      char *type = strstr(start, "event: "), *data = strstr(start, "data: ");
      if (type && data) {
        char *nl = strchr(type, '\n');
        if (nl)
          *nl = '\0';
        nl = strchr(data, '\n');
        if (nl)
          *nl = '\0';
        c->on_event(c->event_arg, type + 7, data + 6);
      }
      start = end + 2;
    }
    size_t left = (size_t)(c->sse_buf + c->sse_len - start);
    memmove(c->sse_buf, start, left);
    c->sse_len = left;
    if (room == 0)
      c->sse_len = 0; /* an event larger than the buffer: dropped */
  }
}

static void on_sse_end(struct evhttp_request *req, void *arg) {
  cm_hc *c = arg;
  (void)req;
  if (c->on_end)
    c->on_end(c->event_arg);
}

int cm_hc_events(cm_hc *c, const char *token, cm_hc_event fn, void *arg,
                 void (*on_end)(void *arg)) {
  if (!c->sse)
    c->sse = evhttp_connection_base_new(c->base, NULL, c->host,
                                        (ev_uint16_t)c->port);
  struct evhttp_request *req = c->sse ? evhttp_request_new(on_sse_end, c) : 0;
  if (!req)
    return -1;
  c->on_event = fn;
  c->on_end = on_end;
  c->event_arg = arg;
  c->sse_len = 0;
  evhttp_request_set_chunked_cb(req, on_sse_chunk);
  add_headers(c, req, token);
  return evhttp_make_request(c->sse, req, EVHTTP_REQ_GET, "/v1/events");
}

int cm_hc_parse_url(const char *url, char *host, size_t n, int *port) {
  char h[64];
  int p;
  if (sscanf(url, "http://%63[^:/]:%d", h, &p) != 2 || p <= 0 || p > 65535)
    return -1;
  snprintf(host, n, "%s", h);
  *port = p;
  return 0;
}

pid_t cm_hc_daemon_start(const char *path, const char *dir, const char *ini,
                         const char *const *args, int *port) {
  char cfg[512], portfile[512], log[512];
  snprintf(cfg, sizeof cfg, "%s/carematchd.ini", dir);
  snprintf(portfile, sizeof portfile, "%s/port", dir);
  snprintf(log, sizeof log, "%s/carematchd.log", dir);
  unlink(portfile);
  /* the configuration holds tokens: 0600, created afresh */
  unlink(cfg);
  int fd = open(cfg, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  int bad = fputs(ini, f) < 0;
  if (fclose(f) != 0 || bad)
    return -1;
  const char *argv[48];
  int n = 0;
  argv[n++] = path;
  argv[n++] = "--config";
  argv[n++] = cfg;
  argv[n++] = "--port-file";
  argv[n++] = portfile;
  for (int i = 0; args && args[i] && n < 47; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    FILE *lf = freopen(log, "a", stderr);
    (void)lf;
    execv(path, (char *const *)argv);
    _exit(127);
  }
  for (int i = 0; i < 1000; i++) {
    f = fopen(portfile, "r");
    if (f) {
      int ok = fscanf(f, "%d", port) == 1;
      fclose(f);
      if (ok && *port > 0)
        return pid;
    }
    if (waitpid(pid, NULL, WNOHANG) == pid)
      return -1;
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return -1;
}

void cm_hc_daemon_stop(pid_t pid) {
  if (pid <= 0)
    return;
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
}
