/* http.h -- one HTTP call as the route handlers see it, and the replies.
 * http.c has already matched the route, checked the token's role, and
 * read the body (JSON, within the size limit). Every handler ends in
 * exactly one reply (cmd_reply_*), except the event stream, which keeps
 * its request open, and a write on Redis, whose reply comes from the
 * engine's completion (cmd_call_defer, docs/async.md). */
#ifndef CMD_HTTP_H_INCLUDED_
#define CMD_HTTP_H_INCLUDED_

#include <jansson.h>

#include "daemon.h"

typedef struct cmd_call {
  cmd_daemon *d;
  cmd_region *r; /* the region addressed: /v1/regions/{region}/..., or
                    the default region (d->regions[0]) */
  struct evhttp_request *req;
  int route;           /* index in the route table (metrics) */
  int method;          /* enum evhttp_cmd_type (metrics of unmatched calls) */
  char arg[CM_ID_MAX]; /* the path's id, decoded ("" when none) */
  json_t *body;        /* the parsed body, or NULL when empty (borrowed) */
  cmd_role role;       /* the caller's role (auth off: operator) */
  char actor[CMD_NAME_MAX]; /* who calls: the token's name ([operators]),
                               else its role's name; "anonymous" with auth
                               off. Operator actions' events carry it. */
  int code;                 /* the HTTP status replied (0: none yet) */
  int head;                 /* HEAD: the reply has GET's headers and no body */
  int close;                /* the connection ends after the reply */
  int deferred;             /* the reply comes later (cmd_call_defer) */
  int gone;                 /* deferred: the client's connection closed */
  /* a write, between the engine call and its completion (routes) */
  char wid[CM_ID_MAX]; /* the request written */
  int64_t at_ms;       /* when */
  int created;         /* create: 201 unless it existed */
  int existed;         /* create: the engine held it before */
  int urgent;          /* an emergency's create counted in the region's
                          urgent_writes until its completion (solver.c) */
} cmd_call;

typedef void (*cmd_handler)(cmd_call *c);

/* Serve one call: answer the edge's verdict if it gave one (edge.h); match
 * path and method (an enum evhttp_cmd_type; the edge's CMD_EDGE_METHOD
 * overrides it) to a route (405 with Allow, 501 for a method not known,
 * HEAD as GET), check the token, the path's id, read the body, run the
 * handler, which replies.
 * Returns the HTTP status replied (0: none, which only the event stream
 * does). evhttp's request callback calls it; the fuzzer (tests/fuzz) calls
 * it with a request that has no connection, which the reply frees. */
int cmd_http_dispatch(cmd_daemon *d, struct evhttp_request *req, int method,
                      const char *path);

/* Reply with JSON (stealing o; NULL replies 500 out of memory). */
void cmd_reply_json(cmd_call *c, int code, json_t *o);
/* Reply {"error":{...}} with the HTTP status of err->code. With Redis, an
 * unavailable error (503) is written to the log and answered with words of
 * the daemon's own: the store's name Redis's host and port, an internal
 * address. */
void cmd_reply_error(cmd_call *c, const cm_error *err);
/* The same, sent as it is: an error the daemon words itself. */
void cmd_reply_own_error(cmd_call *c, const cm_error *err);
/* Reply plain text (metrics). */
void cmd_reply_text(cmd_call *c, int code, const char *content_type,
                    const char *text, size_t len);
/* A call whose reply comes later, from a completion: a copy of c on the
 * heap (holding its body) which the handler passes on; c itself is then
 * done (the dispatcher sends nothing for it). The copy is replied to with
 * cmd_reply_* as usual, then ended with cmd_call_end. A client that leaves
 * meanwhile is noticed: the reply is then dropped. Returns the copy, or
 * NULL when out of memory (c was answered 500). */
cmd_call *cmd_call_defer(cmd_call *c);
/* After the reply of a deferred call: the trace line, and free it. */
void cmd_call_end(cmd_call *dc);
/* The call a write replies on: c itself when the region's engine completes
 * at once (memory), else cmd_call_defer(c) (NULL: out of memory, replied);
 * its wid is the path's id until the handler names another. */
cmd_call *cmd_call_writer(cmd_call *c);
/* 1 when c's body is absent or {} (the only one some writes take); else 0,
 * replied 400 naming the field. */
int cmd_body_empty(cmd_call *c);
/* Count a reply the handler sent by other means (the event stream). */
void cmd_count(cmd_call *c, int code);

/* A position write's launch: the engine's _async call with done and ctx
 * (positions.c). */
typedef cm_status (*cmd_positions_launch)(void *arg, cm_engine_done_fn done,
                                          void *ctx, cm_error *err);
/* Launch a write of count positions on the writer call c and answer it:
 * once queued for Redis, or from its completion (positions.c). */
void cmd_positions_write(cmd_call *c, int count, cmd_positions_launch launch,
                         void *arg);

/* The handlers (routes_*.c). */
void cmd_route_worker_put(cmd_call *c);
void cmd_route_worker_get(cmd_call *c);
void cmd_route_worker_position(cmd_call *c);
void cmd_route_positions(cmd_call *c);
void cmd_route_worker_status(cmd_call *c);
void cmd_route_request_create(cmd_call *c);
void cmd_route_request_get(cmd_call *c);
void cmd_route_request_cancel(cmd_call *c);
void cmd_route_request_complete(cmd_call *c);
void cmd_route_request_arrived(cmd_call *c);
/* The engine's answer to a write on the request c->wid: its view after
 * it (201 for a new one from create), or the error; then a deferred call
 * ends (routes_requests.c; the confirmation and override routes too). */
void cmd_request_written(void *ctx, cm_status st, const cm_error *err);
void cmd_route_offer_accept(cmd_call *c);
void cmd_route_offer_reject(cmd_call *c);
/* confirmation before dispatch (routes_confirm.c) */
void cmd_route_request_confirm(cmd_call *c);
void cmd_route_request_dismiss(cmd_call *c);
/* A request's JSON (cmd_encode_view) with, while it awaits confirmation,
 * its soft hold and best candidates (new reference; NULL out of memory). */
json_t *cmd_request_json(cmd_call *c, const cm_request_view *v);
void cmd_route_request_pin(cmd_call *c); /* routes_override.c */
void cmd_route_request_hold(cmd_call *c);
void cmd_route_request_release(cmd_call *c);
void cmd_route_request_reassign(cmd_call *c);
void cmd_route_weights_get(cmd_call *c);
void cmd_route_weights_put(cmd_call *c);
void cmd_route_weights_whatif(cmd_call *c); /* whatif.c */
void cmd_route_events(cmd_call *c);
void cmd_route_metrics(cmd_call *c);
void cmd_route_healthz(cmd_call *c);
void cmd_route_readyz(cmd_call *c);
void cmd_route_leader(cmd_call *c);
void cmd_route_regions(cmd_call *c);
void cmd_route_console(cmd_call *c);
void cmd_route_console_moved(cmd_call *c);
void cmd_route_workers_list(cmd_call *c);
void cmd_route_requests_list(cmd_call *c);
void cmd_route_kpis(cmd_call *c);

/* The route table, for metrics: name of route i ("POST /v1/requests"),
 * its path template ("/v1/requests/{id}") and method (an enum
 * evhttp_cmd_type); i == cmd_route_count() is "unmatched". */
int cmd_route_count(void);
const char *cmd_route_name(int i);
const char *cmd_route_template(int i);
int cmd_route_method(int i);
/* A method (enum evhttp_cmd_type) as an index in [0, CMD_METHODS): the
 * last one for any method evhttp does not name; and an index's name
 * ("GET", ..., "PATCH", "other"). */
int cmd_method_index(int method);
const char *cmd_method_name(int index);
/* The HTTP codes counted, in metrics order. */
extern const int cmd_codes[CMD_CODES];

#endif
