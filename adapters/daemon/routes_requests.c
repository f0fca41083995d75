/* routes_requests.c -- the request endpoints: create (idempotent on the
 * client's id), read (state, offer, cost explanation), cancel, complete,
 * and the offered worker's accept or reject. */
#include <string.h>

#include "api_json.h"
#include "http.h"
#include "json_util.h"

static void reply_view(cmd_call *c, const char *id, int code) {
  cm_request_view v;
  cm_error err;
  if (cm_engine_request_get(c->d->eng, id, &v, &err) != CM_OK) {
    cmd_reply_error(c, &err);
    return;
  }
  cmd_reply_json(c, code,
                 json_pack("{s:o}", "request",
                           cmd_encode_view(&c->d->cfg.engine.taxonomy, &v)));
}

void cmd_route_request_create(cmd_call *c) {
  cm_request_spec s;
  cm_request_view v;
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
  /* known here, or (with Redis) adopted from the ledger by submit: then
     it was created before now. No ledger read of its own. */
  int64_t now = cmd_now_ms();
  int existed = cm_engine_holds(c->d->eng, s.id);
  if (cm_engine_submit(c->d->eng, &s, now, &err) != CM_OK ||
      cm_engine_request_get(c->d->eng, s.id, &v, &err) != CM_OK) {
    cmd_reply_error(c, &err);
    return;
  }
  existed |= v.created_ms != now;
  cmd_events_pump(c->d);
  cmd_kick(c->d); /* an emergency is due now */
  cmd_reply_json(c, existed ? 200 : 201,
                 json_pack("{s:o}", "request",
                           cmd_encode_view(&c->d->cfg.engine.taxonomy, &v)));
}

void cmd_route_request_get(cmd_call *c) {
  reply_view(c, c->arg, 200);
}

/* An empty body or {} is the only one these take. */
static int no_fields(cmd_call *c) {
  static const char *const none[] = {NULL};
  cm_error err;
  if (c->body && cm__json_check_keys(c->body, "$", none, &err) != CM_OK) {
    cmd_reply_error(c, &err);
    return 0;
  }
  return 1;
}

void cmd_route_request_cancel(cmd_call *c) {
  cm_error err;
  if (!no_fields(c))
    return;
  if (cm_engine_cancel(c->d->eng, c->arg, cmd_now_ms(), &err) != CM_OK) {
    cmd_reply_error(c, &err);
    return;
  }
  cmd_events_pump(c->d);
  cmd_kick(c->d);
  reply_view(c, c->arg, 200);
}

void cmd_route_request_complete(cmd_call *c) {
  cm_error err;
  if (!no_fields(c))
    return;
  if (cm_engine_complete(c->d->eng, c->arg, cmd_now_ms(), &err) != CM_OK) {
    cmd_reply_error(c, &err);
    return;
  }
  cmd_events_pump(c->d);
  cmd_kick(c->d);
  reply_view(c, c->arg, 200);
}

static void answer(cmd_call *c, int accept) {
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
  int64_t now = cmd_now_ms();
  cm_status st = accept
                     ? cm_engine_accept(c->d->eng, c->arg, worker, now, &err)
                     : cm_engine_reject(c->d->eng, c->arg, worker, now, &err);
  if (st != CM_OK) {
    cmd_reply_error(c, &err);
    return;
  }
  cmd_events_pump(c->d);
  cmd_kick(c->d);
  reply_view(c, c->arg, 200);
}

void cmd_route_offer_accept(cmd_call *c) {
  answer(c, 1);
}
void cmd_route_offer_reject(cmd_call *c) {
  answer(c, 0);
}
