/* routes_lists.c -- the lists an operator's console reads: every worker
 * (GET /v1/workers) and the live requests (GET /v1/requests?state=live),
 * each a page at a time: ?limit= (1..1000, default 500) and ?offset=;
 * the reply says the total and the next page's offset. A request reads
 * as GET /v1/requests/{id} answers it (a call awaiting confirmation with
 * its soft hold and nearest staff). Reads only, from
 * the region's engine and store (the Redis store's mirror: no round
 * trip). */
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "api_json.h"
#include "http.h"

#define LIMIT_DEFAULT 500
#define LIMIT_MAX 1000

/* The page asked for: limit and offset from the query, and for requests
 * the state (only "live"). Returns 0, or -1 replied (422). */
static int page_of(cmd_call *c, int *limit, int *offset, int want_state) {
  const struct evhttp_uri *u =
      c->req ? evhttp_request_get_evhttp_uri(c->req) : NULL;
  const char *q = u ? evhttp_uri_get_query(u) : NULL;
  struct evkeyvalq kv;
  cm_error err;
  int bad = 0;
  *limit = LIMIT_DEFAULT;
  *offset = 0;
  TAILQ_INIT(&kv);
  if (q && evhttp_parse_query_str(q, &kv) != 0) {
    cm_error_set(&err, CM_E_BAD_REQUEST, "", "the query cannot be read");
    cmd_reply_own_error(c, &err);
    return -1;
  }
  for (struct evkeyval *p = kv.tqh_first; p && !bad; p = p->next.tqe_next) {
    char *end;
    long v = strtol(p->value, &end, 10);
    int num = p->value[0] && !*end;
    if (!strcmp(p->key, "limit")) {
      bad = !num || v < 1 || v > LIMIT_MAX;
      *limit = (int)v;
      if (bad)
        cm_error_set(&err, CM_E_RANGE, "limit", "limit: must be 1..%d",
                     LIMIT_MAX);
    } else if (!strcmp(p->key, "offset")) {
      bad = !num || v < 0 || v > 100000000;
      *offset = (int)v;
      if (bad)
        cm_error_set(&err, CM_E_RANGE, "offset", "offset: must be >= 0");
    } else if (want_state && !strcmp(p->key, "state")) {
      bad = strcmp(p->value, "live") != 0;
      if (bad)
        cm_error_set(&err, CM_E_INVALID, "state",
                     "state: only 'live' (the unfinished requests) is listed; "
                     "GET /v1/requests/{id} reads one");
    } else {
      bad = 1;
      cm_error_set(&err, CM_E_INVALID, p->key, "%.40s: unknown parameter",
                   p->key);
    }
  }
  evhttp_clear_headers(&kv);
  if (bad) {
    cmd_reply_own_error(c, &err);
    return -1;
  }
  return 0;
}

/* {"<key>": items, "total", "offset", "next_offset" (when more)}. */
static json_t *page_json(const char *key, json_t *items, int total, int offset,
                         int n) {
  json_t *o = items ? json_pack("{s:o,s:i,s:i}", key, items, "total", total,
                                "offset", offset)
                    : NULL;
  if (o && offset + n < total &&
      json_object_set_new(o, "next_offset", json_integer(offset + n)) != 0) {
    json_decref(o);
    return NULL;
  }
  return o;
}

void cmd_route_requests_list(cmd_call *c) {
  int limit, offset;
  if (page_of(c, &limit, &offset, 1) != 0)
    return;
  cm_request_view *v = calloc((size_t)limit, sizeof *v);
  json_t *items = v ? json_array() : NULL;
  int total = cm_engine_live_count(c->r->eng);
  int n = v ? cm_engine_live_get(c->r->eng, offset, limit, v) : 0;
  for (int i = 0; items && i < n; i++)
    if (json_array_append_new(items, cmd_request_json(c, &v[i])) != 0) {
      json_decref(items);
      items = NULL;
    }
  free(v);
  cmd_reply_json(c, 200, page_json("requests", items, total, offset, n));
}

typedef struct worker_page {
  cmd_call *c;
  json_t *items; /* NULL once out of memory */
  int offset, limit, seen;
} worker_page;

static void add_worker(void *ctx, const cm_worker *w) {
  worker_page *p = ctx;
  int i = p->seen++;
  if (!p->items || i < p->offset || i >= p->offset + p->limit)
    return;
  json_t *o = cmd_encode_worker(&p->c->d->cfg.engine.taxonomy, w,
                                cm_engine_worker_jobs(p->c->r->eng, w->id));
  if (json_array_append_new(p->items, o) != 0) {
    json_decref(p->items);
    p->items = NULL;
  }
}

void cmd_route_workers_list(cmd_call *c) {
  worker_page p = {c, NULL, 0, 0, 0};
  cm_error err;
  if (page_of(c, &p.limit, &p.offset, 0) != 0)
    return;
  p.items = json_array();
  if (cm_store_each(c->r->store, add_worker, &p, &err) != CM_OK) {
    json_decref(p.items);
    cmd_reply_error(c, &err);
    return;
  }
  int n = p.seen - p.offset;
  n = n < 0 ? 0 : n > p.limit ? p.limit : n;
  cmd_reply_json(c, 200, page_json("workers", p.items, p.seen, p.offset, n));
}
