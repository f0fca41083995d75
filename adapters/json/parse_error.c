/* parse_error.c -- errors of the JSON parsers as cm_error: jansson's (the
 * weights documents) and the tape's (instances, json_doc.c) in one wording,
 * each with the JSON path of the byte offset where it happened. */
#include "json_internal.h"

void cm__json_line_col(const char *text, size_t pos, int *line, int *column) {
  int l = 1, c = 0;
  for (size_t i = 0; i < pos; i++) {
    if (text[i] == '\n') {
      l++;
      c = 0;
    } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
      c++; /* characters, not bytes, as jansson counts */
    }
  }
  *line = l;
  *column = c;
}

cm_status cm__json_syntax_error(const char *text, size_t len, cm_status code,
                                size_t pos, int line, int column,
                                const char *what, cm_error *err) {
  char path[CM__JSON_PATH_MAX];
  switch (code) {
  case CM_E_NOMEM:
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  case CM_E_DUPLICATE:
    cm__json_locate(text, len, pos, path, sizeof path);
    return cm_error_set(err, CM_E_DUPLICATE, path,
                        "%s: the key is given twice in one object (line %d, "
                        "column %d)",
                        path, line, column);
  case CM_E_RANGE:
    cm__json_locate(text, len, pos, path, sizeof path);
    return cm_error_set(err, CM_E_RANGE, path,
                        "%s: number out of range (line %d, column %d): %s",
                        path, line, column, what);
  case CM_E_LIMIT:
    cm__json_locate(text, len, pos, path, sizeof path);
    return cm_error_set(err, CM_E_LIMIT, path,
                        "%s: nesting too deep (line %d, column %d)", path, line,
                        column);
  default:
    return cm_error_set(err, CM_E_PARSE, "",
                        "malformed JSON at line %d, column %d: %s", line,
                        column, what);
  }
}

cm_status cm__json_parse_error(const char *text, size_t len,
                               const json_error_t *je, cm_error *err) {
  size_t pos = je->position > 0 ? (size_t)je->position : 0;
  cm_status code;
  /* jansson fails without a message only when an allocation fails before
   * parsing starts. */
  if (je->text[0] == '\0')
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  switch (json_error_code(je)) {
  case json_error_out_of_memory:
    code = CM_E_NOMEM;
    break;
  case json_error_duplicate_key:
    code = CM_E_DUPLICATE;
    break;
  case json_error_numeric_overflow:
    code = CM_E_RANGE;
    break;
  case json_error_stack_overflow:
    code = CM_E_LIMIT;
    break;
  default:
    code = CM_E_PARSE;
  }
  return cm__json_syntax_error(text, len, code, pos, je->line, je->column,
                               je->text, err);
}
