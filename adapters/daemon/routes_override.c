/* routes_override.c -- the operator's overrides of a request: pin it to a
 * worker, hold it out of batching, release it, reassign its job
 * (docs/daemon.md "Operator overrides"). Each calls the engine's _async
 * override with the caller's name (c->actor, the audit trail) and replies
 * with the request's view from the completion, as the other writes do
 * (routes_requests.c). */
#include <string.h>

#include "api_json.h"
#include "http.h"
#include "json_util.h"

/* The body's "worker": *worker the id, or NULL when null or absent (a
 * body of {} or none, where allowed: required 0). Returns 0, or -1
 * replied (400/422 naming the field). */
static int body_worker(cmd_call *c, int required, char *out,
                       const char **worker) {
  static const char *const keys[] = {"worker", NULL};
  cm_error err;
  const json_t *w = c->body ? json_object_get(c->body, "worker") : NULL;
  *worker = NULL;
  if (c->body && cm__json_check_keys(c->body, "$", keys, &err) != CM_OK)
    goto bad;
  if (!w && required) {
    cm_error_set(&err, CM_E_MISSING, "$.worker",
                 "$.worker: required (a worker id, or null to unpin)");
    goto bad;
  }
  if (!w || json_is_null(w))
    return 0;
  if (cmd_decode_id(c->body, "$", "worker", out, &err) != CM_OK)
    goto bad;
  *worker = out;
  return 0;
bad:
  cmd_reply_error(c, &err);
  return -1;
}

/* The engine refused before the ledger: reply, end. */
static void refused(cmd_call *w, const cm_error *err) {
  cmd_request_written(w, err->code, err);
}

void cmd_route_request_pin(cmd_call *c) {
  char buf[CM_ID_MAX];
  const char *worker;
  cm_error err;
  if (body_worker(c, 1, buf, &worker) != 0)
    return;
  cmd_call *w = cmd_call_writer(c);
  if (w &&
      cm_engine_pin_async(w->r->eng, w->arg, worker, w->actor, cmd_now_ms(),
                          cmd_request_written, w, &err) != CM_OK)
    refused(w, &err);
}

void cmd_route_request_hold(cmd_call *c) {
  cm_error err;
  if (!cmd_body_empty(c))
    return;
  cmd_call *w = cmd_call_writer(c);
  if (w && cm_engine_hold_async(w->r->eng, w->arg, w->actor, cmd_now_ms(),
                                cmd_request_written, w, &err) != CM_OK)
    refused(w, &err);
}

void cmd_route_request_release(cmd_call *c) {
  cm_error err;
  if (!cmd_body_empty(c))
    return;
  cmd_call *w = cmd_call_writer(c);
  if (w && cm_engine_release_async(w->r->eng, w->arg, w->actor, cmd_now_ms(),
                                   cmd_request_written, w, &err) != CM_OK)
    refused(w, &err);
}

void cmd_route_request_reassign(cmd_call *c) {
  char buf[CM_ID_MAX];
  const char *worker;
  cm_error err;
  if (body_worker(c, 0, buf, &worker) != 0)
    return;
  cmd_call *w = cmd_call_writer(c);
  if (w && cm_engine_reassign_async(w->r->eng, w->arg, worker, w->actor,
                                    cmd_now_ms(), cmd_request_written, w,
                                    &err) != CM_OK)
    refused(w, &err);
}
