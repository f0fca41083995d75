/* redis_worker.h -- a worker as a Redis hash, and back.
 *
 * Fields of cm:{r}:worker:<id>: id, skills (decimal), status (0..3 as in
 * cm_worker_status), has_position (0/1), lat, lon ("%.17g", so they read
 * back bit for bit; "0" without a position), seen_ms, capacity,
 * jobs_today (decimal), rating, level ("%.17g"), elders (the cm_id_hash
 * values in hex, comma separated; "" when none), and ix: what the scripts
 * keep of the worker's index state in one field, so that a position update
 * reads one field (the format is in redis_scripts.c). Decoding ignores ix
 * and any other field it does not know. */
#ifndef CM_REDIS_WORKER_H_INCLUDED_
#define CM_REDIS_WORKER_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

#include "carematch/model.h"
#include "redis_argv.h"

struct redisReply;

/* Append the values of a valid worker in the order of the upsert script's
 * ARGV: id, skills, status, has_position, lat, lon, seen_ms, capacity,
 * jobs_today, rating, level, elders. */
void cm__rd_worker_args(cm__rd_argv *a, const cm_worker *w);

/* Decode an HGETALL reply into *out (zeroed first, as the memory store
 * stores workers). Returns 1, 0 when the reply is empty (no such worker),
 * or -1 when it is not a well-formed worker hash (out is then zeroed). */
int cm__rd_worker_decode(const struct redisReply *rep, cm_worker *out);

/* What nearest needs of a worker, fetched with HMGET. */
typedef struct cm__rd_match {
  int status;       /* cm_worker_status */
  int has_position; /* 0 or 1 */
  int capacity;     /* jobs it may still take */
  cm_skillset skills;
  int64_t seen_ms; /* time of the position */
  double lat, lon; /* exact stored position */
} cm__rd_match;

/* Append the field names of an HMGET for cm__rd_match. */
void cm__rd_match_fields(cm__rd_argv *a);

/* Decode that HMGET reply. Returns 1, 0 when the worker is gone (every
 * field nil), or -1 when malformed. */
int cm__rd_match_decode(const struct redisReply *rep, cm__rd_match *m);

/* Parse exactly n bytes at s as a decimal integer / a finite double.
 * Return 0, or -1 (nothing parsed or trailing bytes). */
int cm__rd_parse_i64(const char *s, size_t n, int64_t *out);
int cm__rd_parse_double(const char *s, size_t n, double *out);

#endif
