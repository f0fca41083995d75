/* edge.h -- the HTTP edge: each connection's bytes are framed here, strictly
 * (RFC 9112), before libevent's evhttp parses them.
 *
 * Why: evhttp 2.1 answers what it refuses with an HTML page of its own
 * (a bad Content-Length, chunk, version or request line, oversized
 * headers, a method it does not take), takes the first of two
 * Content-Length headers and "+65", ignores a Transfer-Encoding it does not
 * implement, and reads a header line only up to a NUL. The edge hands
 * evhttp only requests it cannot refuse: the request line and header lines
 * as they came (Content-Length, Transfer-Encoding and Expect removed), a
 * Content-Length of its own and the whole body (a chunked body is decoded
 * here). A request the edge refuses reaches evhttp as a GET carrying the
 * verdict in CMD_EDGE_VERDICT, which the dispatcher (http.c) answers in
 * JSON, in order with the replies before it; a request whose method evhttp
 * does not take (PATCH, OPTIONS, lower-case "get", ...) reaches it as a GET
 * carrying the method's name in CMD_EDGE_METHOD. Clients cannot send
 * either header (refused, 400). docs/daemon.md, "The HTTP edge". */
#ifndef CMD_EDGE_H_INCLUDED_
#define CMD_EDGE_H_INCLUDED_

#include "daemon.h"

struct evbuffer;
struct bufferevent;

#define CMD_EDGE_HEAD_MAX 16384  /* bytes of a request line and headers */
#define CMD_EDGE_HEADERS_MAX 100 /* header lines of a request */
#define CMD_EDGE_VERDICT "X-Carematch-Edge"
#define CMD_EDGE_METHOD "X-Carematch-Method"

typedef struct cmd_edge cmd_edge;

/* A connection's framer; d gives the body limit (read at each request, so
 * a reload applies; NULL: 1 MiB). NULL out of memory. */
cmd_edge *cmd_edge_new(cmd_daemon *d);
void cmd_edge_free(cmd_edge *e);

/* Take every byte of src; append to dst the requests framed so far, as
 * evhttp is to read them. Returns 1 when something was taken, 0 when src
 * was empty, -1 out of memory (the connection should be dropped). After a
 * refusal that ends the connection, later bytes are dropped. */
int cmd_edge_feed(cmd_edge *e, struct evbuffer *src, struct evbuffer *dst);

/* evhttp_set_bevcb's callback (arg: the cmd_daemon): a socket bufferevent
 * behind a filter running cmd_edge_feed. */
struct bufferevent *cmd_edge_bufferevent(struct event_base *base, void *arg);

/* Write what evhttp queued on f (a connection's bufferevent) out to the
 * socket now, not from the kick after the loop turn's other ready work
 * (events.c: an event goes out as it is made). For an open stream's
 * chunks only: a whole reply's write may end its request, which the
 * caller may still hold. A plain socket bufferevent (no edge): nothing. */
void cmd_edge_write_now(struct bufferevent *f);

/* A verdict as carried in CMD_EDGE_VERDICT: the HTTP status, the error, 1
 * when the connection ends after the reply. */
typedef struct cmd_edge_verdict {
  int status;
  cm_error err;
  int close;
} cmd_edge_verdict;

/* Read the header's value back. Returns 0, or -1 when it is not one the
 * edge wrote (v then says 400 bad_request). */
int cmd_edge_verdict_parse(const char *value, cmd_edge_verdict *v);

#endif
