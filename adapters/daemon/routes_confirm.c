/* routes_confirm.c -- confirmation before dispatch over HTTP: an
 * operator confirms a request awaiting confirmation (the offer goes out in
 * the same loop turn) or dismisses it with a reason; a request's JSON
 * shows its soft hold and best candidates while it waits (docs/daemon.md).
 * The writes call the engine's _async functions and reply from the
 * completion, as routes_requests.c does. */
#include <string.h>

#include "api_json.h"
#include "http.h"
#include "json_util.h"

#define NOTE_MAX 200 /* a dismissal's note: bytes, never logged nor kept */

/* The hold and candidates of an awaiting request, the reason of a
 * dismissed one, added to its JSON o. Returns 0, -1 out of memory. */
static int add_confirm(cmd_call *c, const cm_request_view *v, json_t *o) {
  const cm_request_spec *s = &v->spec;
  int64_t now = cmd_now_ms();
  if (s->confirm &&
      cm__json_set(o, "confirm", json_string(cm_confirm_mode_name(s->confirm))))
    return -1;
  if (v->state == CM_REQ_DISMISSED &&
      cm__json_set(o, "dismiss_reason",
                   json_string(cm_dismiss_reason_name(v->dismissed))))
    return -1;
  if (v->state != CM_REQ_AWAITING)
    return 0;
  if (v->hold_worker[0] && v->hold_until_ms > now &&
      cm__json_set(o, "hold",
                   json_pack("{s:o,s:I}", "worker",
                             cm__json_text(v->hold_worker), "until_ms",
                             (json_int_t)v->hold_until_ms)))
    return -1;
  cm_candidate cs[CM_CONFIRM_CANDIDATES];
  int n = 0;
  cm_error err;
  if (cm_engine_candidates(c->r->eng, s->id, cs, CM_CONFIRM_CANDIDATES, &n, now,
                           &err) != CM_OK)
    n = 0; /* not held here (read from the ledger), or the store failed:
              the request without its candidates */
  json_t *a = json_array();
  for (int i = 0; a && i < n; i++)
    if (cm__json_append(a, json_pack("{s:o,s:f,s:f,s:f}", "worker",
                                     cm__json_text(cs[i].worker), "distance_km",
                                     cs[i].distance_km, "travel_min",
                                     cs[i].travel_min, "cost", cs[i].cost)) !=
        0) {
      json_decref(a);
      a = NULL;
    }
  return cm__json_set(o, "candidates", a) ? -1 : 0;
}

json_t *cmd_request_json(cmd_call *c, const cm_request_view *v) {
  json_t *o = cmd_encode_view(&c->d->cfg.engine.taxonomy, v);
  if (o && add_confirm(c, v, o) != 0) {
    json_decref(o);
    return NULL;
  }
  return o;
}

void cmd_route_request_confirm(cmd_call *c) {
  cm_error err;
  if (!cmd_body_empty(c))
    return;
  cmd_call *w = cmd_call_writer(c);
  if (!w)
    return;
  if (cm_engine_confirm_async(w->r->eng, w->arg, w->actor, cmd_now_ms(),
                              cmd_request_written, w, &err) != CM_OK)
    cmd_request_written(w, err.code, &err);
}

/* The dismissal's body: reason required, note optional (checked, then
 * dropped: free text may name a person). */
static cm_status dismiss_body(const json_t *body, cm_dismiss_reason *reason,
                              cm_error *err) {
  static const char *const keys[] = {"reason", "note", NULL};
  const char *why = NULL, *note = NULL;
  if (!body)
    return cm_error_set(err, CM_E_MISSING, "$.reason", "$.reason: required");
  if (cm__json_check_keys(body, "$", keys, err) != CM_OK ||
      cm__json_string(body, "$", "reason", 1, &why, err) < 0 ||
      cm__json_string(body, "$", "note", 0, &note, err) < 0)
    return err->code;
  if (note && strlen(note) > NOTE_MAX)
    return cm_error_set(err, CM_E_LIMIT, "$.note", "$.note: at most %d bytes",
                        NOTE_MAX);
  int r = cm_dismiss_reason_parse(why);
  if (r < 0)
    return cm_error_set(err, CM_E_INVALID, "$.reason",
                        "$.reason: must be false_alarm, duplicate or other");
  *reason = (cm_dismiss_reason)r;
  return CM_OK;
}

void cmd_route_request_dismiss(cmd_call *c) {
  cm_dismiss_reason reason = CM_DISMISS_NONE;
  cm_error err;
  if (dismiss_body(c->body, &reason, &err) != CM_OK) {
    cmd_reply_error(c, &err);
    return;
  }
  if (c->body) /* the note goes no further: not into the trace either */
    json_object_del(c->body, "note");
  cmd_call *w = cmd_call_writer(c);
  if (!w)
    return;
  if (cm_engine_dismiss_async(w->r->eng, w->arg, reason, w->actor, cmd_now_ms(),
                              cmd_request_written, w, &err) != CM_OK)
    cmd_request_written(w, err.code, &err);
}
