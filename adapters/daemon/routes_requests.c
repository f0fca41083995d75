/* routes_requests.c -- the request endpoints: create (idempotent on the
 * client's id), read (state, offer, cost explanation), cancel, complete,
 * the offered worker's accept or reject, and an accepted worker's arrival. The
 * writes call the engine's _async functions and reply from the completion: at
 * once in memory, when Redis took the change otherwise, the loop serving other
 * calls meanwhile (docs/async.md). */
#include <string.h>

#include "api_json.h"
#include "carematch/ledger.h"
#include "http.h"
#include "json_util.h"

static void reply_view(cmd_call *c, const char *id, int code) {
  cm_request_view v;
  cm_error err;
  if (cm_engine_request_get(c->r->eng, id, &v, &err) != CM_OK) {
    cmd_reply_error(c, &err);
    return;
  }
  cmd_reply_json(c, code,
                 json_pack("{s:o}", "request", cmd_request_json(c, &v)));
}

void cmd_request_written(void *ctx, cm_status st, const cm_error *err) {
  cmd_call *c = ctx;
  cmd_stage_call("applied", c, st);
  if (st != CM_OK) {
    cmd_reply_error(c, err);
  } else {
    cmd_events_pump(c->r);
    cmd_kick(c->r); /* an emergency is due now */
    if (c->created) {
      cm_request_view v;
      cm_error gerr;
      if (cm_engine_request_get(c->r->eng, c->wid, &v, &gerr) != CM_OK) {
        cmd_reply_error(c, &gerr);
      } else {
        /* known here, or (with Redis) adopted from the ledger by submit:
           then it was created before now. No ledger read of its own. */
        int existed = c->existed || v.created_ms != c->at_ms;
        cmd_reply_json(c, existed ? 200 : 201,
                       json_pack("{s:o}", "request", cmd_request_json(c, &v)));
      }
    } else {
      reply_view(c, c->wid, 200);
    }
  }
  cmd_region *r = c->r;
  int urgent = c->urgent;
  c->urgent = 0;
  if (c->deferred)
    cmd_call_end(c);
  if (urgent)
    cmd_urgent_written(r, st == CM_OK);
}

/* An engine call refused before the ledger: reply, end. */
static void refused(cmd_call *w, const cm_error *err) {
  cmd_request_written(w, err->code, err);
}

void cmd_route_request_create(cmd_call *c) {
  cm_request_spec s;
  cm_error err;
  if (!c->body) {
    cm_error_set(&err, CM_E_MISSING, "$", "a JSON body is required");
    cmd_reply_error(c, &err);
    return;
  }
  if (cmd_decode_request(&c->d->cfg, c->body, &s, &err) != CM_OK) {
    cmd_reply_error(c, &err);
    return;
  }
  cmd_call *w = cmd_call_writer(c);
  if (!w)
    return;
  w->created = 1;
  w->at_ms = cmd_now_ms();
  w->existed = cm_engine_holds(w->r->eng, s.id);
  snprintf(w->wid, sizeof w->wid, "%s", s.id);
  cmd_region *r = w->r;
  if (s.urgency == CM_URGENCY_EMERGENCY)
    cmd_stage_recv(r, w);
  int urgent = r->redis_loop && s.urgency == CM_URGENCY_EMERGENCY;
  if (urgent) { /* counted before: the completion may run at once */
    w->urgent = 1;
    cmd_urgent_proposed(r);
  }
  if (cm_engine_submit_async(r->eng, &s, w->at_ms, cmd_request_written, w,
                             &err) != CM_OK)
    refused(w, &err);
  else if (urgent)
    cmd_urgent_step(r); /* its batch now, the create still in flight, its
                           offers behind it (docs/async.md "one durable
                           write"); else the step's follow goes out now,
                           behind this commit */
}

/* The ledger's record of a request the engine does not hold, read by
 * get_async: the deferred GET's reply. */
static void record_read(void *ctx, cm_status st, const cm_request_view *v,
                        const cm_error *err) {
  cmd_call *c = ctx;
  if (st != CM_OK)
    cmd_reply_error(c, err);
  else
    cmd_reply_json(c, 200,
                   json_pack("{s:o}", "request", cmd_request_json(c, v)));
  cmd_call_end(c);
}

/* A request the engine holds is answered from memory. One it does not
 * (finished and forgotten, written by another daemon, or unknown) is read
 * from Redis on the loop's connection, the reply from the read's
 * completion, so the loop is not held for the round trip. */
void cmd_route_request_get(cmd_call *c) {
  cm_ledger *l = c->r->ledger;
  if (!c->r->redis_loop || !l || !l->type->get_async ||
      cm_engine_holds(c->r->eng, c->arg)) {
    reply_view(c, c->arg, 200);
    return;
  }
  cmd_call *dc = cmd_call_defer(c);
  cm_error err;
  if (dc && l->type->get_async(l, dc->arg, record_read, dc, &err) != CM_OK) {
    cmd_reply_error(dc, &err);
    cmd_call_end(dc);
  }
}

typedef cm_status (*write_fn)(cm_engine *e, const char *id, int64_t now_ms,
                              cm_engine_done_fn done, void *ctx, cm_error *err);

/* cancel, complete: the path's request. */
static void write_path(cmd_call *c, write_fn fn) {
  cm_error err;
  if (!cmd_body_empty(c))
    return;
  cmd_call *w = cmd_call_writer(c);
  if (!w)
    return;
  if (fn(w->r->eng, w->arg, cmd_now_ms(), cmd_request_written, w, &err) !=
      CM_OK)
    refused(w, &err);
}

void cmd_route_request_cancel(cmd_call *c) {
  write_path(c, cm_engine_cancel_async);
}

void cmd_route_request_complete(cmd_call *c) {
  write_path(c, cm_engine_complete_async);
}

typedef cm_status (*worker_fn)(cm_engine *e, const char *id, const char *worker,
                               int64_t now_ms, cm_engine_done_fn done,
                               void *ctx, cm_error *err);

/* accept, reject, arrived: the path's request and the body's worker. */
static void write_worker(cmd_call *c, worker_fn fn) {
  static const char *const keys[] = {"worker", NULL};
  char worker[CM_ID_MAX];
  cm_error err;
  if (!c->body) {
    cm_error_set(&err, CM_E_MISSING, "$.worker", "$.worker: required");
    cmd_reply_error(c, &err);
    return;
  }
  if (cm__json_check_keys(c->body, "$", keys, &err) != CM_OK ||
      cmd_decode_id(c->body, "$", "worker", worker, &err) != CM_OK) {
    cmd_reply_error(c, &err);
    return;
  }
  cmd_call *w = cmd_call_writer(c);
  if (!w)
    return;
  if (fn(w->r->eng, w->arg, worker, cmd_now_ms(), cmd_request_written, w,
         &err) != CM_OK)
    refused(w, &err);
}

void cmd_route_offer_accept(cmd_call *c) {
  write_worker(c, cm_engine_accept_async);
}
void cmd_route_offer_reject(cmd_call *c) {
  write_worker(c, cm_engine_reject_async);
}
void cmd_route_request_arrived(cmd_call *c) {
  write_worker(c, cm_engine_arrived_async);
}
