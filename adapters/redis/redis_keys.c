/* redis_keys.c -- key names of a region (see redis_keys.h for the layout).
 * Region names are restricted to a safe alphabet here, once, so that no
 * other file has to quote them. */
#include <stdio.h>
#include <string.h>

#include "redis_keys.h"

static int region_char_ok(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

cm_status cm__rd_keys_init(cm__rd_keys *k, const char *region, cm_error *err) {
  if (!region || !region[0])
    return cm_error_set(err, CM_E_INVALID, "$.region",
                        "$.region: a region name is required");
  size_t n = strnlen(region, CM_REDIS_REGION_MAX + 1);
  if (n > CM_REDIS_REGION_MAX)
    return cm_error_set(err, CM_E_INVALID, "$.region",
                        "$.region: at most %d bytes", CM_REDIS_REGION_MAX);
  for (size_t i = 0; i < n; i++)
    if (!region_char_ok(region[i]))
      return cm_error_set(err, CM_E_INVALID, "$.region",
                          "$.region: only letters, digits, '_', '.' and '-'");
  memset(k, 0, sizeof *k);
  memcpy(k->region, region, n);
  k->prefix_len =
      (size_t)snprintf(k->prefix, sizeof k->prefix, "cm:{%s}:", region);
  static const char *const names[] = {"seen", "workers", "seq", "offgrid"};
  static const char *const ledger[] = {"live", "events", "changes", "rseq"};
  for (int i = 0; i < CM__RD_NFIXED; i++) {
    int len;
    if (i < CM__RD_K_GEO0)
      len = snprintf(k->fixed[i], CM__RD_KEY_MAX, "%s%s", k->prefix, names[i]);
    else if (i < CM__RD_K_LIVE)
      len = snprintf(k->fixed[i], CM__RD_KEY_MAX, "%sgeo:%d", k->prefix,
                     i - CM__RD_K_GEO0);
    else
      len = snprintf(k->fixed[i], CM__RD_KEY_MAX, "%s%s", k->prefix,
                     ledger[i - CM__RD_K_LIVE]);
    k->fixed_len[i] = (size_t)len;
  }
  return CM_OK;
}

size_t cm__rd_key_worker(const cm__rd_keys *k, const char *id, char *buf) {
  int len = snprintf(buf, CM__RD_KEY_MAX, "%sworker:%.*s", k->prefix,
                     CM_ID_MAX - 1, id);
  return len < 0 ? 0 : (size_t)len;
}

size_t cm__rd_key_request(const cm__rd_keys *k, const char *id, char *buf) {
  int len =
      snprintf(buf, CM__RD_KEY_MAX, "%sreq:%.*s", k->prefix, CM_ID_MAX - 1, id);
  return len < 0 ? 0 : (size_t)len;
}

size_t cm__rd_key_lease(const cm__rd_keys *k, char *buf) {
  int len = snprintf(buf, CM__RD_KEY_MAX, "%slease", k->prefix);
  return len < 0 ? 0 : (size_t)len;
}

size_t cm__rd_key_lease_epoch(const cm__rd_keys *k, char *buf) {
  int len = snprintf(buf, CM__RD_KEY_MAX, "%slease_epoch", k->prefix);
  return len < 0 ? 0 : (size_t)len;
}

size_t cm__rd_key_lease_want(const cm__rd_keys *k, char *buf) {
  int len = snprintf(buf, CM__RD_KEY_MAX, "%slease_want", k->prefix);
  return len < 0 ? 0 : (size_t)len;
}

int cm__rd_key_set(int s) {
  return CM__RD_K_GEO0 + s;
}
