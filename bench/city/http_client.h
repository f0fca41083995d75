/* http_client.h -- a small client of carematchd for the benches and the
 * simulator's live mode: libevent's HTTP client on one event loop, bearer
 * tokens, Nagle off, errors counted (and the first few described), a reader of
 * the server-sent event stream, and a daemon of one's own started on a free
 * port. */
#ifndef CM_HTTP_CLIENT_H_INCLUDED_
#define CM_HTTP_CLIENT_H_INCLUDED_

#include <event2/event.h>
#include <event2/http.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

typedef struct cm_hc cm_hc;

/* A reply (req NULL or code 0: no reply, the connection failed). Returns
 * non-zero when the reply counts as an error. */
typedef int (*cm_hc_done)(void *arg, struct evhttp_request *req);
/* One server-sent event: its type and its data line. */
typedef void (*cm_hc_event)(void *arg, const char *type, const char *data);

/* n_conns connections to host:port on base (at most 256). */
cm_hc *cm_hc_new(struct event_base *base, const char *host, int port,
                 int n_conns);
void cm_hc_free(cm_hc *c);

/* Connection i, or the next one round robin when i < 0. */
struct evhttp_connection *cm_hc_conn(cm_hc *c, int i);

/* Send method path (with a JSON body when body is not NULL) on con with
 * the bearer token; fn gets the reply and says whether it is an error
 * (without fn: anything but 2xx is). 0, or -1 when the call could not be
 * sent (counted as an error). */
int cm_hc_call(cm_hc *c, struct evhttp_connection *con,
               enum evhttp_cmd_type method, const char *path, const char *token,
               const char *body, size_t len, cm_hc_done fn, void *arg);

/* Describe the first max failed calls (method, path, status, the error's
 * body) on f. */
void cm_hc_log_errors(cm_hc *c, FILE *f, int max);

/* Calls sent, calls without a 2xx answer, calls without a reply yet. */
uint64_t cm_hc_calls(const cm_hc *c);
uint64_t cm_hc_errors(const cm_hc *c);
int cm_hc_inflight(const cm_hc *c);

/* A reply's status (0: none) and body (malloc'd, NUL-terminated; NULL when
 * there is none). */
int cm_hc_code(struct evhttp_request *req);
char *cm_hc_body(struct evhttp_request *req);

/* Open GET /v1/events on a connection of its own; fn gets every event.
 * on_end (may be NULL) is called when the stream ends. */
int cm_hc_events(cm_hc *c, const char *token, cm_hc_event fn, void *arg,
                 void (*on_end)(void *arg));

/* "http://host:port" -> host, port. 0 or -1. */
int cm_hc_parse_url(const char *url, char *host, size_t n, int *port);

/* Start the daemon at path with the configuration text ini written to
 * dir/carematchd.ini, on a free port (written to *port), its stderr in
 * dir/carematchd.log, with extra arguments args (NULL-terminated; may be
 * NULL). It dies with this process. Its pid, or -1. */
pid_t cm_hc_daemon_start(const char *path, const char *dir, const char *ini,
                         const char *const *args, int *port);
/* SIGTERM (a drain), and reap. */
void cm_hc_daemon_stop(pid_t pid);

#endif
