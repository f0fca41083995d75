/* redis_url.c -- the one parser of redis://[user[:password]@]host[:port][/db]
 * (also redis://:password@..., and redis+cluster://[user[:password]@]
 * host:port,host:port,... for the nodes of a Redis Cluster)
 * addresses (cm_redis_url_parse), and their form for a log with the
 * password masked (cm_redis_url_format). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/redis.h"

#define URL_DB_MAX 10000

static int hex(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = tolower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode s[0..len) into out (n bytes with the NUL). Returns 0, or
 * -1 for a bad escape, a NUL byte or a value too long. */
static int decode(const char *s, size_t len, char *out, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < len; i++) {
    int c = (unsigned char)s[i];
    if (c == '%') {
      int hi = i + 2 < len ? hex(s[i + 1]) : -1;
      int lo = i + 2 < len ? hex(s[i + 2]) : -1;
      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
        return -1;
      c = hi * 16 + lo;
      i += 2;
    }
    if (k + 1 >= n)
      return -1;
    out[k++] = (char)c;
  }
  out[k] = '\0';
  return 0;
}

/* host[:port] of p[0..end), the host maybe [v6], into host (n bytes) and
 * *port (6379 when absent; "127.0.0.1" for an empty host). Returns NULL,
 * or what is wrong. */
static const char *host_port(const char *p, const char *end, char *host_out,
                             size_t n, int *port_out) {
  const char *host = p, *host_end, *port = NULL;
  if (*p == '[') {
    const char *close = memchr(p, ']', (size_t)(end - p));
    if (!close)
      return "an IPv6 host needs its closing ]";
    host = p + 1;
    host_end = close;
    if (close + 1 < end) {
      if (close[1] != ':')
        return "a ':' must follow the IPv6 host's ]";
      port = close + 2;
    }
  } else {
    const char *colon = memchr(p, ':', (size_t)(end - p));
    host_end = colon ? colon : end;
    port = colon ? colon + 1 : NULL;
  }
  size_t hn = (size_t)(host_end - host);
  if (hn >= n)
    return "the host is too long";
  for (size_t i = 0; i < hn; i++)
    if (!isalnum((unsigned char)host[i]) && !strchr(".-_:", host[i]))
      return "the host holds a character hosts do not";
  if (hn) {
    memcpy(host_out, host, hn);
    host_out[hn] = '\0';
  } else {
    snprintf(host_out, n, "127.0.0.1");
  }
  *port_out = 6379;
  if (port) {
    char *e;
    if (port == end || !isdigit((unsigned char)*port))
      return "the port must be a number in 1..65535";
    long v = strtol(port, &e, 10);
    if (e != end || v < 1 || v > 65535)
      return "the port must be a number in 1..65535";
    *port_out = (int)v;
  }
  return NULL;
}

static cm_status bad(cm_redis_url *out, cm_error *err, const char *what) {
  memset(out, 0, sizeof *out);
  return cm_error_set(err, CM_E_INVALID, "$.redis",
                      "$.redis: %s (redis://[user[:password]@]host[:port]"
                      "[/db])",
                      what);
}

cm_status cm_redis_url_parse(const char *url, cm_redis_url *out,
                             cm_error *err) {
  cm_error_clear(err);
  memset(out, 0, sizeof *out);
  if (url && strncmp(url, "redis+cluster://", 16) == 0)
    out->cluster = 1;
  else if (!url || strncmp(url, "redis://", 8) != 0)
    return bad(out, err, "must start with redis:// (or redis+cluster://)");
  const char *p = url + (out->cluster ? 16 : 8);
  const char *end = p + strcspn(p, "/?#");
  if (*end == '?' || *end == '#')
    return bad(out, err, "no query or fragment is taken");
  /* credentials: up to the last '@' before the path */
  const char *at = NULL;
  for (const char *q = p; q < end; q++)
    if (*q == '@')
      at = q;
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    const char *user_end = colon ? colon : at;
    if (decode(p, (size_t)(user_end - p), out->user, sizeof out->user) != 0)
      return bad(out, err, "the user is not valid (too long, or a bad %XX)");
    if (colon && decode(colon + 1, (size_t)(at - colon - 1), out->password,
                        sizeof out->password) != 0)
      return bad(out, err,
                 "the password is not valid (too long, or a bad %XX)");
    if (colon && !out->password[0])
      return bad(out, err, "an empty password");
    if (!colon && !out->user[0])
      return bad(out, err, "an empty user before @");
    p = at + 1;
  }
  /* host[:port], the host maybe [v6]; a cluster's: a comma list */
  const char *first_end = end;
  if (out->cluster)
    first_end = p + strcspn(p, ",/");
  const char *bad_host =
      host_port(p, first_end, out->host, sizeof out->host, &out->port);
  if (bad_host)
    return bad(out, err, bad_host);
  for (const char *q = p; out->cluster && q < end;) { /* every node */
    const char *qe = q + strcspn(q, ",/");
    char h[256];
    int port;
    if (qe == q)
      return bad(out, err, "an empty node in the cluster's list");
    if ((bad_host = host_port(q, qe, h, sizeof h, &port)))
      return bad(out, err, bad_host);
    size_t used = strlen(out->seeds);
    int w = snprintf(out->seeds + used, sizeof out->seeds - used, "%s%s%s%s:%d",
                     used ? "," : "", strchr(h, ':') ? "[" : "", h,
                     strchr(h, ':') ? "]" : "", port);
    if (w < 0 || (size_t)w >= sizeof out->seeds - used)
      return bad(out, err, "the cluster's list of nodes is too long");
    q = qe + (*qe == ',');
  }
  if (*end == '/' && end[1]) {
    char *e;
    if (!isdigit((unsigned char)end[1]))
      return bad(out, err, "the database must be a number in 0..10000");
    long v = strtol(end + 1, &e, 10);
    if (*e || v < 0 || v > URL_DB_MAX)
      return bad(out, err, "the database must be a number in 0..10000");
    out->db = (int)v;
  }
  if (out->cluster && out->db)
    return bad(out, err, "a Redis Cluster has only database 0");
  return CM_OK;
}

char *cm_redis_url_format(const cm_redis_url *u, int has_password, char *buf,
                          size_t n) {
  char cred[160] = "", db[16] = "";
  if (!buf || !n)
    return buf;
  if (u->user[0] || u->password[0] || has_password)
    snprintf(cred, sizeof cred, "%.128s:%s@", u->user,
             u->password[0] || has_password ? "***" : "");
  if (u->db)
    snprintf(db, sizeof db, "/%d", u->db);
  int v6 = strchr(u->host, ':') != NULL;
  if (u->cluster)
    snprintf(buf, n, "redis+cluster://%s%s", cred, u->seeds);
  else
    snprintf(buf, n, "redis://%s%s%s%s:%d%s", cred, v6 ? "[" : "", u->host,
             v6 ? "]" : "", u->port, db);
  return buf;
}
