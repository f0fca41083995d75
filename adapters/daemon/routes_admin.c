/* routes_admin.c -- liveness and readiness. /healthz answers while the
 * process serves, with the daemon's clock (a simulator syncs to it);
 * /readyz also needs the engine running (not paused on a failed ledger)
 * and, with Redis, the connection up and the state recovered from it; its
 * reason then is Redis's own words without its address ("redis is not
 * connected: connect failed: Connection refused", "... AUTH refused:
 * WRONGPASS ...", "... NOPERM ... 'xadd' ..."). */
#include "http.h"

void cmd_route_healthz(cmd_call *c) {
  cmd_reply_json(c, 200,
                 json_pack("{s:s,s:I}", "status", "ok", "now_ms",
                           (json_int_t)cmd_now_ms()));
}

void cmd_route_readyz(cmd_call *c) {
  cmd_daemon *d = c->d;
  const char *why = NULL;
  char buf[256];
  if (d->draining)
    why = "draining";
  else if ((why = cmd_redis_not_ready(d, buf, sizeof buf)))
    ;
  else if (d->paused)
    why = d->pause_why[0] ? d->pause_why : "dispatch is paused";
  if (why)
    cmd_reply_json(
        c, 503, json_pack("{s:s,s:s}", "status", "not_ready", "reason", why));
  else
    cmd_reply_json(c, 200,
                   json_pack("{s:s,s:s}", "status", "ready", "store",
                             d->redis ? "redis" : "memory"));
}
