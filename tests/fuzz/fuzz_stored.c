/* fuzz_stored.c -- libFuzzer target: what is read back from storage,
 * which another daemon, another version or a damaged disk may have
 * written: a request's record in Redis (cm__rd_request_decode, the "rec"
 * field of cm:{r}:req:<id>) and a weights document (cm_weights_from_json:
 * the simulator's what-if files, the form PUT /v1/weights takes). Every
 * input goes to both. What decodes must round-trip: encoded, decoded again
 * and encoded, it gives the same text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/engine.h"
#include "carematch/json.h"
#include "json_internal.h"
#include "redis_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *a, const char *b) {
  fprintf(stderr, "fuzz_stored: %s\nfirst:  %s\nsecond: %s\n", what, a ? a : "",
          b ? b : "");
  abort();
}

static void record(const char *text, size_t n) {
  cm_request_view v, again;
  if (cm__rd_request_decode(text, n, &v) != 0)
    return;
  char *a = cm__rd_request_encode(&v), *b = NULL;
  if (!a)
    die("cannot encode a decoded record", NULL, NULL);
  if (cm__rd_request_decode(a, strlen(a), &again) != 0)
    die("an encoded record does not decode", a, NULL);
  if (!(b = cm__rd_request_encode(&again)) || strcmp(a, b) != 0)
    die("a record does not round-trip", a, b);
  free(a);
  free(b);
}

static char *weights_text(const cm_weights *w) {
  json_t *o = json_pack("{s:o}", "weights", cm__json_weights_new(w));
  char *text =
      o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17) | JSON_SORT_KEYS)
        : NULL;
  json_decref(o);
  return text;
}

static void weights(const char *text, size_t n) {
  cm_engine_config cfg;
  cm_error err;
  cm_engine_config_init(&cfg);
  cm_weights w = cfg.weights, again = cfg.weights;
  if (cm_weights_from_json(text, n, &w, &err) != CM_OK) {
    if (err.code == CM_OK)
      die("a refusal without an error", NULL, NULL);
    if (memcmp(&w, &cfg.weights, sizeof w) != 0)
      die("refused weights changed", NULL, NULL);
    return;
  }
  char *a = weights_text(&w), *b = NULL;
  if (!a)
    die("cannot encode decoded weights", NULL, NULL);
  if (cm_weights_from_json(a, strlen(a), &again, &err) != CM_OK)
    die("encoded weights do not decode", a, err.message);
  if (!(b = weights_text(&again)) || strcmp(a, b) != 0)
    die("weights do not round-trip", a, b);
  free(a);
  free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  record((const char *)data, size);
  weights((const char *)data, size);
  return 0;
}
