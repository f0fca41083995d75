/* error_encode.c -- cm_error_to_json: the error body of the CLI, the HTTP
 * API and the JSON adapter, {"error":{"code":...,"message":...,"field":...}},
 * written here only; and the same body for out_of_memory, ready-made for
 * when nothing can be allocated. */
#include "carematch/json.h"
#include "json_internal.h"

char *cm_error_to_json(const cm_error *err) {
  json_t *root = json_object(), *body = json_object();
  cm_status code = err ? err->code : CM_E_INVALID;
  const char *message =
      err && err->message[0] ? err->message : cm_status_message(code);
  if (!root || !body)
    goto fail;
  if (cm__json_set(body, "code", json_string(cm_status_name(code))) != 0 ||
      cm__json_set(body, "message", cm__json_text(message)) != 0 ||
      cm__json_set(body, "field", cm__json_text(err ? err->field : "")) != 0)
    goto fail;
  if (cm__json_set(root, "error", body) != 0) {
    body = NULL; /* stolen and freed */
    goto fail;
  }
  return cm__json_dump_free(root, 0, 0);
fail:
  json_decref(body);
  json_decref(root);
  return NULL;
}

const char *cm__json_error_oom(void) {
  /* what cm_error_to_json gives for CM_E_NOMEM (test_vocab.c checks) */
  return "{\"error\":{\"code\":\"out_of_memory\",\"message\":\"out of "
         "memory\",\"field\":\"\"}}";
}
