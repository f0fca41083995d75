/* events.c -- server-sent events (GET /v1/events): every engine event,
 * as it happens, to every open stream: "id: <seq>", "event: <type>",
 * "data: <json>". A stream whose client reads too slowly (more than
 * event_stream_buffer_bytes queued) is closed rather than let it hold
 * memory; durable consumers read the Redis stream cm:{region}:events. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_json.h"
#include "edge.h"
#include "http.h"
#include "json_util.h"

static void unlink_sse(cmd_daemon *d, cmd_sse *s) {
  for (cmd_sse **p = &d->sse; *p; p = &(*p)->next)
    if (*p == s) {
      *p = s->next;
      d->n_sse--;
      free(s);
      return;
    }
}

/* Streams whose client went away: libevent has detached the request from
 * its connection (req->evcon NULL) and left it to us; ending the reply
 * now frees it. */
static void reap(evutil_socket_t fd, short what, void *arg) {
  cmd_daemon *d = arg;
  (void)fd;
  (void)what;
  for (cmd_sse *s = d->sse, *next; s; s = next) {
    next = s->next;
    if (s->dead) {
      evhttp_send_reply_end(s->req);
      unlink_sse(d, s);
    }
  }
}

/* The client went away. This runs inside libevent's freeing of the
 * connection, so the request is ended on the next turn of the loop. */
static void on_close(struct evhttp_connection *evcon, void *arg) {
  cmd_sse *s = arg;
  struct timeval now = {0, 0};
  (void)evcon;
  s->dead = 1;
  event_base_once(s->d->base, -1, EV_TIMEOUT, reap, s->d, &now);
}

/* The stream's connection's bufferevent (the edge's filter), or NULL. */
static struct bufferevent *stream_bev(const cmd_sse *s) {
  struct evhttp_connection *con = evhttp_request_get_connection(s->req);
  return con ? evhttp_connection_get_bufferevent(con) : NULL;
}

static size_t queued(const cmd_sse *s) {
  struct bufferevent *bev = stream_bev(s);
  return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

static void end_stream(cmd_daemon *d, cmd_sse *s) {
  struct evhttp_connection *con =
      s->dead ? NULL : evhttp_request_get_connection(s->req);
  if (con)
    evhttp_connection_set_closecb(con, NULL, NULL);
  evhttp_send_reply_end(s->req);
  unlink_sse(d, s);
}

void cmd_route_events(cmd_call *c) {
  cmd_daemon *d = c->d;
  if (d->n_sse >= d->cfg.max_sse_clients) {
    cm_error err;
    cm_error_set(&err, CM_E_UNAVAILABLE, "",
                 "too many event streams (%d); read cm:{region}:events from "
                 "Redis instead",
                 d->cfg.max_sse_clients);
    cmd_reply_own_error(c, &err);
    return;
  }
  if (c->head) { /* the stream's headers, no stream */
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(c->req, 200, "OK", NULL);
    cmd_count(c, 200);
    return;
  }
  cmd_sse *s = calloc(1, sizeof *s);
  if (!s) {
    cm_error err;
    cm_error_set(&err, CM_E_NOMEM, "", NULL);
    cmd_reply_error(c, &err);
    return;
  }
  s->req = c->req;
  s->d = d;
  s->r = c->r;
  s->next = d->sse;
  d->sse = s;
  d->n_sse++;
  struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
  evhttp_add_header(h, "Content-Type", "text/event-stream");
  evhttp_add_header(h, "Cache-Control", "no-store");
  evhttp_send_reply_start(c->req, 200, "OK");
  cmd_count(c, 200);
  evhttp_connection_set_closecb(evhttp_request_get_connection(c->req), on_close,
                                s);
  struct evbuffer *b = evbuffer_new();
  if (b) {
    evbuffer_add_printf(b, ": carematchd events\n\n");
    evhttp_send_reply_chunk(c->req, b);
    evbuffer_free(b);
  }
}

void cmd_events_pump(cmd_region *r) {
  cmd_daemon *d = r->d;
  cm_event ev[256];
  int n;
  while ((n = cm_engine_poll(r->eng, ev, 256)) > 0) {
    r->events_sent += (uint64_t)n;
    for (int i = 0; i < n; i++)
      cmd_kpis_event(r, &ev[i]); /* the console's KPIs (kpis.c) */
    if (!d->sse)
      continue;
    struct evbuffer *b = evbuffer_new();
    if (!b)
      return;
    for (int i = 0; i < n; i++) {
      json_t *o = cmd_encode_event(&ev[i]);
      char *text =
          o ? cm__json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
      json_decref(o);
      if (text)
        evbuffer_add_printf(b, "id: %llu\nevent: %s\ndata: %s\n\n",
                            (unsigned long long)ev[i].seq,
                            cm_event_type_name(ev[i].type), text);
      free(text);
    }
    for (cmd_sse *s = d->sse, *next; s; s = next) {
      next = s->next;
      if (s->dead || s->r != r)
        continue;
      if (queued(s) > (size_t)d->cfg.sse_buffer_max) {
        d->sse_dropped++;
        end_stream(d, s);
        continue;
      }
      struct evbuffer *copy = evbuffer_new();
      if (copy) {
        evbuffer_add_buffer_reference(copy, b);
        evhttp_send_reply_chunk(s->req, copy);
        evbuffer_free(copy);
        /* out now: an offer's event is what its worker's app waits for */
        cmd_edge_write_now(stream_bev(s));
      }
    }
    evbuffer_free(b);
  }
}

/* Every 15 s a comment line to every stream: idle connections stay open
 * through proxies, and a dead client is noticed. */
static void on_heartbeat(evutil_socket_t fd, short what, void *arg) {
  cmd_daemon *d = arg;
  (void)fd;
  (void)what;
  for (cmd_sse *s = d->sse; s; s = s->next) {
    if (s->dead)
      continue;
    struct evbuffer *b = evbuffer_new();
    if (!b)
      return;
    evbuffer_add_printf(b, ": keep-alive\n\n");
    evhttp_send_reply_chunk(s->req, b);
    evbuffer_free(b);
  }
}

int cmd_events_start(cmd_daemon *d) {
  struct timeval tv = {15, 0};
  d->heartbeat_ev = event_new(d->base, -1, EV_PERSIST, on_heartbeat, d);
  return d->heartbeat_ev && event_add(d->heartbeat_ev, &tv) == 0 ? 0 : -1;
}

void cmd_events_close_all(cmd_daemon *d) {
  while (d->sse)
    end_stream(d, d->sse);
}
