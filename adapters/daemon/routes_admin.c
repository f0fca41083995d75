/* routes_admin.c -- liveness and readiness. /healthz answers while the
 * process serves, with the daemon's clock (a simulator syncs to it);
 * /readyz also needs the engine running (not paused on a failed ledger)
 * and, with Redis, the connection up and the state recovered from it; its
 * reason then is Redis's own words without its address ("redis is not
 * connected: connect failed: Connection refused", "... AUTH refused:
 * WRONGPASS ...", "... NOPERM ... 'xadd' ..."). With [lease] enabled
 * every daemon of the region is ready for API writes (standbys too);
 * /readyz?role=leader is ready only on the lease's holder, and
 * /v1/leader says who holds it (docs/ha.md: what a load balancer
 * checks). */
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <string.h>

#include "http.h"

/* 1 when the call's query asks role=leader. */
static int wants_leader(const cmd_call *c) {
  const struct evhttp_uri *u =
      c->req ? evhttp_request_get_evhttp_uri(c->req) : NULL;
  const char *q = u ? evhttp_uri_get_query(u) : NULL;
  if (!q)
    return 0;
  struct evkeyvalq kv;
  if (evhttp_parse_query_str(q, &kv) != 0)
    return 0;
  const char *role = evhttp_find_header(&kv, "role");
  int yes = role && !strcmp(role, "leader");
  evhttp_clear_headers(&kv);
  return yes;
}

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
  else if (wants_leader(c) && !cmd_lease_leads(d))
    why = "standby: another daemon holds the region's lease";
  json_t *o = why ? json_pack("{s:s,s:s}", "status", "not_ready", "reason", why)
                  : json_pack("{s:s,s:s}", "status", "ready", "store",
                              d->redis ? "redis" : "memory");
  if (o && d->lease)
    json_object_set_new(o, "role", json_string(cmd_lease_role(d)));
  cmd_reply_json(c, why ? 503 : 200, o);
}

void cmd_route_leader(cmd_call *c) {
  cmd_reply_json(c, 200, cmd_lease_json(c->d));
}
