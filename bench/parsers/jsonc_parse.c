/* jsonc_parse.c -- json-c's parse for compare_parsers.c, apart: json-c's
 * headers and jansson's declare the same names. */
#include <json-c/json.h>
#include <stddef.h>

int jsonc_parse(const char *text, size_t len);

/* Parse and free text with json-c. Returns 0, or -1 when it fails. */
int jsonc_parse(const char *text, size_t len) {
  json_tokener *tk = json_tokener_new();
  json_object *o = tk ? json_tokener_parse_ex(tk, text, (int)len) : NULL;
  json_object_put(o);
  json_tokener_free(tk);
  return o ? 0 : -1;
}
