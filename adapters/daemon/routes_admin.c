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
 * checks). With several regions (docs/daemon.md, "Regions") /readyz
 * needs every region ready, /readyz?region=R one, and GET /v1/regions
 * lists them with their leases. */
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <string.h>

#include "http.h"

/* The value of key in the call's query (into buf), or NULL. */
static const char *query_value(const cmd_call *c, const char *key, char *buf,
                               size_t n) {
  const struct evhttp_uri *u =
      c->req ? evhttp_request_get_evhttp_uri(c->req) : NULL;
  const char *q = u ? evhttp_uri_get_query(u) : NULL;
  if (!q)
    return NULL;
  struct evkeyvalq kv;
  if (evhttp_parse_query_str(q, &kv) != 0)
    return NULL;
  const char *v = evhttp_find_header(&kv, key);
  if (v)
    snprintf(buf, n, "%s", v);
  evhttp_clear_headers(&kv);
  return v ? buf : NULL;
}

/* 1 when the call's query asks role=leader. */
static int wants_leader(const cmd_call *c) {
  char buf[16];
  const char *role = query_value(c, "role", buf, sizeof buf);
  return role && !strcmp(role, "leader");
}

void cmd_route_healthz(cmd_call *c) {
  cmd_reply_json(c, 200,
                 json_pack("{s:s,s:I}", "status", "ok", "now_ms",
                           (json_int_t)cmd_now_ms()));
}

/* Why region r is not ready (leader: it must lead too), or NULL. */
static const char *region_not_ready(const cmd_region *r, int leader, char *buf,
                                    size_t n) {
  const char *why;
  if ((why = cmd_redis_not_ready(r, buf, n)))
    return why;
  if (r->paused)
    return r->pause_why[0] ? r->pause_why : "dispatch is paused";
  if (leader && !cmd_lease_leads(r))
    return "standby: another daemon holds the region's lease";
  return NULL;
}

/* Ready: ?region=R asks about region R alone; without it every region
 * must be ready. ?role=leader: the region asked (the default region
 * without ?region) must also be led here. */
void cmd_route_readyz(cmd_call *c) {
  cmd_daemon *d = c->d;
  const char *why = NULL;
  char buf[256], rbuf[CM_REDIS_REGION_MAX + 2];
  const char *name = query_value(c, "region", rbuf, sizeof rbuf);
  cmd_region *only = name ? cmd_region_find(d, name) : NULL;
  int leader = wants_leader(c);
  const cmd_region *role_of = only ? only : &d->regions[0];
  if (name && !only) {
    cm_error err;
    cm_error_set(&err, CM_E_NOT_FOUND, "region", "no region %.64s here", name);
    cmd_reply_own_error(c, &err);
    return;
  }
  if (d->draining)
    why = "draining";
  for (int i = 0; !why && i < d->n_regions; i++) {
    const cmd_region *r = &d->regions[i];
    if ((!only || r == only) &&
        (why = region_not_ready(r, leader && r == role_of, buf, sizeof buf)) &&
        d->n_regions > 1) {
      char tmp[256];
      snprintf(tmp, sizeof tmp, "region %.64s: %.170s", r->name, why);
      snprintf(buf, sizeof buf, "%s", tmp);
      why = buf;
    }
  }
  json_t *o = why ? json_pack("{s:s,s:s}", "status", "not_ready", "reason", why)
                  : json_pack("{s:s,s:s}", "status", "ready", "store",
                              role_of->redis ? "redis" : "memory");
  if (o && role_of->lease)
    json_object_set_new(o, "role", json_string(cmd_lease_role(role_of)));
  cmd_reply_json(c, why ? 503 : 200, o);
}

void cmd_route_leader(cmd_call *c) {
  cmd_reply_json(c, 200, cmd_lease_json(c->r));
}

/* GET /v1/regions: every region served here, its lease (as /v1/leader
 * says) and whether it is ready. */
void cmd_route_regions(cmd_call *c) {
  cmd_daemon *d = c->d;
  json_t *a = json_array();
  for (int i = 0; a && i < d->n_regions; i++) {
    char buf[256];
    const char *why = region_not_ready(&d->regions[i], 0, buf, sizeof buf);
    json_t *o = cmd_lease_json(&d->regions[i]);
    if (!o || json_object_set_new(o, "ready", json_boolean(!why)) != 0) {
      json_decref(o);
      o = NULL;
    }
    if (!o || json_array_append_new(a, o) != 0) { /* o stolen either way */
      json_decref(a);
      a = NULL;
    }
  }
  cmd_reply_json(c, 200, a ? json_pack("{s:o}", "regions", a) : NULL);
}
