/* redis_flush.c -- deleting every key of a region: SCAN with the region's
 * key pattern, UNLINK what it finds, until the cursor comes back to 0.
 * SCAN may return a key twice and misses nothing that exists throughout,
 * so the region is empty at the end unless another client keeps writing. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "redis_call.h"
#include "redis_conn.h"

typedef struct scan_call {
  cm__rd_batch *b;
  char cursor[32];   /* next cursor, "0" when done */
  cm__rd_argv *keys; /* "UNLINK" and the keys found */
} scan_call;

static void on_scan(void *ctx, size_t i, const redisReply *rep) {
  scan_call *c = ctx;
  (void)i;
  if (!cm__rd_check(c->b, rep, REDIS_REPLY_ARRAY, "SCAN"))
    return;
  if (rep->elements != 2 || rep->element[0]->type != REDIS_REPLY_STRING ||
      rep->element[0]->len >= sizeof c->cursor ||
      rep->element[1]->type != REDIS_REPLY_ARRAY) {
    cm__rd_fail(c->b, CM_E_IO, "redis: SCAN: malformed reply");
    return;
  }
  memcpy(c->cursor, rep->element[0]->str, rep->element[0]->len);
  c->cursor[rep->element[0]->len] = '\0';
  const redisReply *keys = rep->element[1];
  for (size_t j = 0; j < keys->elements; j++)
    if (keys->element[j]->type == REDIS_REPLY_STRING)
      cm__rd_argv_add(c->keys, keys->element[j]->str, keys->element[j]->len);
}

static void on_unlink(void *ctx, size_t i, const redisReply *rep) {
  (void)i;
  cm__rd_check(ctx, rep, REDIS_REPLY_INTEGER, "UNLINK");
}

cm_status cm_redis_region_flush(cm_redis *r, cm_error *err) {
  cm__rd_argv a, keys;
  cm_status st = CM_OK;
  cm_error_clear(err);
  if (!r)
    return cm_error_set(err, CM_E_INVALID, "", "no connection given");
  char pattern[CM__RD_PREFIX_MAX + 2];
  snprintf(pattern, sizeof pattern, "%s*", r->keys.prefix);
  cm__rd_argv_init(&a);
  cm__rd_argv_init(&keys);
  scan_call c = {NULL, "0", &keys};
  do {
    cm__rd_batch b;
    c.b = &b;
    cm__rd_argv_reset(&keys);
    cm__rd_argv_str(&keys, "UNLINK");
    if ((st = cm__rd_begin(&b, r, on_scan, &c, err)) != CM_OK)
      break;
    cm__rd_argv_str(&a, "SCAN");
    cm__rd_argv_str(&a, c.cursor);
    cm__rd_argv_str(&a, "MATCH");
    cm__rd_argv_str(&a, pattern);
    cm__rd_argv_str(&a, "COUNT");
    cm__rd_argv_str(&a, "1000");
    cm__rd_send(&b, &a);
    if ((st = cm__rd_end(&b, err)) != CM_OK)
      break;
    if (keys.argc > 1) {
      if ((st = cm__rd_begin(&b, r, on_unlink, &b, err)) != CM_OK)
        break;
      cm__rd_send(&b, &keys);
      if ((st = cm__rd_end(&b, err)) != CM_OK)
        break;
    }
  } while (strcmp(c.cursor, "0") != 0);
  cm__rd_argv_free(&a);
  cm__rd_argv_free(&keys);
  return st;
}
