/* engine_events.c -- the engine's event queue: a bounded ring, oldest
 * dropped (and counted) when the consumer falls behind. */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

int cm__events_init(cm__events *q, int cap) {
  memset(q, 0, sizeof *q);
  q->ring = malloc((size_t)cap * sizeof *q->ring);
  q->cap = cap;
  return q->ring ? 0 : -1;
}

void cm__events_free(cm__events *q) {
  free(q->ring);
  memset(q, 0, sizeof *q);
}

void cm__event_fill(const cm_engine *e, cm_event *ev, cm_event_type t,
                    const cm__req *r, const char *worker, cm_request_state from,
                    cm_request_state to, const cm_cost_terms *terms) {
  memset(ev, 0, sizeof *ev);
  ev->type = t;
  ev->at_ms = e->now_ms;
  memcpy(ev->request, r->spec.id, sizeof ev->request);
  if (worker)
    memcpy(ev->worker, worker, strnlen(worker, CM_ID_MAX - 1));
  ev->from = from;
  ev->to = to;
  ev->expires_ms = to == CM_REQ_OFFERED ? r->expires_ms : 0;
  if (terms)
    ev->terms = *terms;
}

void cm__event_push(cm_engine *e, const cm_event *ev) {
  cm__events *q = &e->ev;
  if (q->count == q->cap) { /* drop the oldest */
    q->head = (q->head + 1) % q->cap;
    q->count--;
    q->dropped++;
    e->stats.events_dropped++;
  }
  cm_event *slot = &q->ring[(q->head + q->count) % q->cap];
  q->count++;
  *slot = *ev;
  slot->seq = ++q->seq;
}

int cm_engine_poll(cm_engine *e, cm_event *out, int max) {
  cm__events *q = &e->ev;
  int n = 0;
  while (n < max && q->count > 0) {
    out[n++] = q->ring[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
  }
  return n;
}
