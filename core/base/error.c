/* error.c -- the error table: wire names, default messages and HTTP
 * statuses of cm_status. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "carematch/error.h"

static const char *const status_names[] = {
#define CM_X_NAME_(e, http, name, msg) name,
    CM_ERROR_TABLE(CM_X_NAME_)
#undef CM_X_NAME_
};

static const char *const status_messages[] = {
#define CM_X_MSG_(e, http, name, msg) msg,
    CM_ERROR_TABLE(CM_X_MSG_)
#undef CM_X_MSG_
};

static const short status_http[] = {
#define CM_X_HTTP_(e, http, name, msg) http,
    CM_ERROR_TABLE(CM_X_HTTP_)
#undef CM_X_HTTP_
};

const char *cm_status_name(cm_status code) {
  if ((int)code < 0 || code >= CM_STATUS_COUNT)
    return "unknown";
  return status_names[code];
}

const char *cm_status_message(cm_status code) {
  if ((int)code < 0 || code >= CM_STATUS_COUNT)
    return "unknown error";
  return status_messages[code];
}

int cm_status_http(cm_status code) {
  if ((int)code < 0 || code >= CM_STATUS_COUNT)
    return 500;
  return status_http[code];
}

void cm_error_clear(cm_error *err) {
  if (!err)
    return;
  err->code = CM_OK;
  err->field[0] = '\0';
  err->message[0] = '\0';
}

cm_status cm_error_set(cm_error *err, cm_status code, const char *field,
                       const char *fmt, ...) {
  if (!err)
    return code;
  err->code = code;
  snprintf(err->field, sizeof err->field, "%s", field ? field : "");
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  } else {
    snprintf(err->message, sizeof err->message, "%s", cm_status_message(code));
  }
  return code;
}
