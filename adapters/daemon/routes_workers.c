/* routes_workers.c -- the worker endpoints: upsert, read, one position,
 * bulk positions, shift. Writes go through the engine (to the ledger
 * first when there is one); a rejected call changes nothing. They call
 * the engine's _async functions and reply from the completion: at once in
 * memory, when Redis took the write otherwise, the loop serving other
 * calls meanwhile (docs/async.md); a position write once it is queued for
 * Redis (positions.c). */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "api_json.h"
#include "http.h"
#include "json_util.h"

/* A body is required: 400 when there is none. Returns 1 when present. */
static int need_body(cmd_call *c) {
  if (c->body)
    return 1;
  cm_error err;
  cm_error_set(&err, CM_E_MISSING, "$", "a JSON body is required");
  cmd_reply_error(c, &err);
  return 0;
}

static void reply_worker(cmd_call *c, int code) {
  cm_worker w;
  cm_error err;
  if (cm_store_get(c->r->store, c->arg, &w, &err) != CM_OK) {
    cm_error_set(&err, CM_E_UNKNOWN_ID, "$.id", "no worker '%s'", c->arg);
    cmd_reply_error(c, &err);
    return;
  }
  int jobs = cm_engine_worker_jobs(c->r->eng, c->arg);
  cmd_reply_json(
      c, code,
      json_pack("{s:o}", "worker",
                cmd_encode_worker(&c->d->cfg.engine.taxonomy, &w, jobs)));
}

/* The engine's answer to an upsert or a shift: the worker after it, or
 * the error; then a deferred call ends. */
static void on_worker_written(void *ctx, cm_status st, const cm_error *err) {
  cmd_call *c = ctx;
  if (st != CM_OK) {
    cmd_reply_error(c, err);
  } else {
    reply_worker(c, 200);
    cmd_events_pump(c->r);
    cmd_kick(c->r);
  }
  if (c->deferred)
    cmd_call_end(c);
}

void cmd_route_worker_put(cmd_call *c) {
  cm_worker w;
  cm_error err;
  if (!need_body(c))
    return;
  if (cmd_decode_worker(&c->d->cfg, c->arg, c->body, &w, &err) != CM_OK) {
    cmd_reply_error(c, &err);
    return;
  }
  int64_t now = cmd_now_ms();
  w.seen_ms = w.has_position ? now : 0;
  cmd_call *wc = cmd_call_writer(c);
  if (!wc)
    return;
  if (cm_engine_worker_upsert_async(wc->r->eng, &w, now, on_worker_written, wc,
                                    &err) != CM_OK)
    on_worker_written(wc, err.code, &err);
}

void cmd_route_worker_get(cmd_call *c) {
  reply_worker(c, 200);
}

typedef struct one_position {
  cmd_call *c;
  double lat, lon;
} one_position;

static cm_status launch_one(void *arg, cm_engine_done_fn done, void *ctx,
                            cm_error *err) {
  one_position *a = arg;
  return cm_engine_worker_position_async(a->c->r->eng, a->c->arg, a->lat,
                                         a->lon, cmd_now_ms(), done, ctx, err);
}

typedef struct bulk_positions {
  cmd_call *c;
  int n;
  const char **ids;
  const double *lat, *lon;
} bulk_positions;

static cm_status launch_bulk(void *arg, cm_engine_done_fn done, void *ctx,
                             cm_error *err) {
  bulk_positions *a = arg;
  return cm_engine_worker_positions_async(a->c->r->eng, a->n, a->ids, a->lat,
                                          a->lon, cmd_now_ms(), done, ctx, err);
}

void cmd_route_worker_position(cmd_call *c) {
  static const char *const keys[] = {"lat", "lon", NULL};
  double lat, lon;
  cm_error err;
  if (!need_body(c))
    return;
  if (cm__json_check_keys(c->body, "$", keys, &err) != CM_OK ||
      cmd_decode_position(c->body, "$", &lat, &lon, &err) != CM_OK) {
    cmd_reply_error(c, &err);
    return;
  }
  cmd_call *wc = cmd_call_writer(c);
  if (!wc)
    return;
  one_position a = {wc, lat, lon};
  cmd_positions_write(wc, 1, launch_one, &a);
}

void cmd_route_positions(cmd_call *c) {
  static const char *const top[] = {"positions", NULL};
  static const char *const keys[] = {"id", "lat", "lon", NULL};
  const json_t *arr;
  cm_error err;
  if (!need_body(c))
    return;
  if (cm__json_check_keys(c->body, "$", top, &err) != CM_OK ||
      cm__json_array(c->body, "$", "positions", 1, &arr, &err) < 0) {
    cmd_reply_error(c, &err);
    return;
  }
  int n = (int)json_array_size(arr);
  const char **ids = cm__malloc_array((size_t)n, sizeof *ids);
  char(*idbuf)[CM_ID_MAX] = cm__malloc_array((size_t)n, sizeof *idbuf);
  double *lat = cm__malloc_array((size_t)n, sizeof *lat);
  double *lon = cm__malloc_array((size_t)n, sizeof *lon);
  cm_status st = ids && idbuf && lat && lon
                     ? CM_OK
                     : cm_error_set(&err, CM_E_NOMEM, "", NULL);
  for (int i = 0; st == CM_OK && i < n; i++) {
    char base[64];
    snprintf(base, sizeof base, "$.positions[%d]", i);
    const json_t *p = json_array_get(arr, (size_t)i);
    if ((st = cm__json_check_keys(p, base, keys, &err)) == CM_OK &&
        (st = cmd_decode_id(p, base, "id", idbuf[i], &err)) == CM_OK)
      st = cmd_decode_position(p, base, &lat[i], &lon[i], &err);
    ids[i] = idbuf[i];
  }
  cmd_call *wc = NULL;
  if (st == CM_OK && (wc = cmd_call_writer(c)) != NULL) {
    bulk_positions a = {wc, n, ids, lat, lon};
    cmd_positions_write(wc, n, launch_bulk, &a);
  } else if (st != CM_OK) {
    cmd_reply_error(c, &err);
  }
  free(ids);
  free(idbuf);
  free(lat);
  free(lon);
}

void cmd_route_worker_status(cmd_call *c) {
  static const char *const keys[] = {"on_shift", NULL};
  cm_error err;
  if (!need_body(c))
    return;
  const json_t *b = json_object_get(c->body, "on_shift");
  if (cm__json_check_keys(c->body, "$", keys, &err) != CM_OK) {
    cmd_reply_error(c, &err);
    return;
  }
  if (!b || !json_is_boolean(b)) {
    cm_error_set(&err, b ? CM_E_TYPE : CM_E_MISSING, "$.on_shift",
                 "$.on_shift: must be true or false");
    cmd_reply_error(c, &err);
    return;
  }
  cmd_call *wc = cmd_call_writer(c);
  if (!wc)
    return;
  if (cm_engine_worker_shift_async(wc->r->eng, wc->arg, json_is_true(b),
                                   cmd_now_ms(), on_worker_written, wc,
                                   &err) != CM_OK)
    on_worker_written(wc, err.code, &err);
}
