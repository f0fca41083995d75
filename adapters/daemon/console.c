/* console.c -- the operator console's files (GET /console/ and
 * /console/{file}, docs/console.md): plain files from one directory,
 * [console] dir (default: next to the binary in the build tree, or
 * share/carematch/console of the install), read at each call. Only flat
 * names of known types are served (no path, no dot file), with their
 * content type, an ETag, and a Content-Security-Policy that lets the page
 * load nothing but the daemon's own files. The page is public; what it
 * shows needs the operator's token (the API's own checks). */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"

#ifndef CMD_CONSOLE_INSTALL_DIR
#define CMD_CONSOLE_INSTALL_DIR "/usr/share/carematch/console"
#endif

#define FILE_MAX (2L << 20) /* bytes of one console file at most */

/* The page may load only the daemon's own files: no CDN, no inline code,
   no frames of it elsewhere. */
#define CSP                                                                    \
  "default-src 'self'; base-uri 'none'; form-action 'self'; "                  \
  "frame-ancestors 'none'; object-src 'none'"

const char *cmd_console_config_key(cmd_config *c, const char *name,
                                   const char *v) {
  if (strcmp(name, "dir") != 0)
    return "unknown key";
  if (strlen(v) >= sizeof c->console_dir)
    return "too long";
  c->console_off = !strcmp(v, "off");
  snprintf(c->console_dir, sizeof c->console_dir, "%s",
           c->console_off ? "" : v);
  return NULL;
}

/* 1 when dir holds index.html. */
static int has_index(const char *dir) {
  char p[1100];
  struct stat st;
  snprintf(p, sizeof p, "%s/index.html", dir);
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int cmd_console_dir(const cmd_config *c, char *out, size_t n) {
  if (c->console_off)
    return -1;
  if (c->console_dir[0]) {
    snprintf(out, n, "%s", c->console_dir);
    return 0;
  }
  /* auto: the build tree (console/ next to carematchd), the install
     relative to the binary (bin/../share/carematch/console), the install's
     configured place */
  char exe[512];
  ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (k > 0) {
    exe[k] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = '\0';
      snprintf(out, n, "%s/console", exe);
      if (has_index(out))
        return 0;
      snprintf(out, n, "%s/../share/carematch/console", exe);
      if (has_index(out))
        return 0;
    }
  }
  snprintf(out, n, "%s", CMD_CONSOLE_INSTALL_DIR);
  return 0;
}

static const struct {
  const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".json", "application/json"},
};

/* The content type of a name the console may serve, or NULL: 1..63 bytes
 * of letters, digits, '-', '_' and '.', starting with a letter or digit,
 * no "..", ending in a known extension. */
const char *cmd_console_type(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n >= 64 || strstr(name, ".."))
    return NULL;
  for (size_t i = 0; i < n; i++) {
    char ch = name[i];
    int alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                (ch >= '0' && ch <= '9');
    if (!alnum && (i == 0 || (ch != '-' && ch != '_' && ch != '.')))
      return NULL;
  }
  for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
    size_t e = strlen(types[i].ext);
    if (n > e && !strcmp(name + n - e, types[i].ext))
      return types[i].type;
  }
  return NULL;
}

static void not_found(cmd_call *c, const char *why) {
  cm_error err;
  cm_error_set(&err, CM_E_NOT_FOUND, "", "%s", why);
  cmd_reply_own_error(c, &err);
}

/* The file's bytes (malloc'ed, *len) and its ETag, or NULL. */
static char *read_file(const char *path, size_t *len, char *etag, size_t n) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  char *buf = NULL;
  if (fd < 0)
    return NULL;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > FILE_MAX)
    goto done;
  buf = malloc((size_t)st.st_size + 1);
  size_t got = 0;
  while (buf && got < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      free(buf);
      buf = NULL;
      break;
    }
    got += (size_t)r;
  }
  *len = got;
  snprintf(etag, n, "\"%llx-%llx\"", (unsigned long long)st.st_size,
           (unsigned long long)st.st_mtime);
done:
  close(fd);
  return buf;
}

void cmd_route_console(cmd_call *c) {
  const char *name = c->arg[0] ? c->arg : "index.html";
  const char *type = cmd_console_type(name);
  char dir[512], path[600], etag[64];
  if (cmd_console_dir(&c->d->cfg, dir, sizeof dir) != 0) {
    not_found(c, "the console is off ([console] dir = off)");
    return;
  }
  if (!type) {
    not_found(c, "no such console file");
    return;
  }
  snprintf(path, sizeof path, "%s/%s", dir, name);
  size_t len = 0;
  char *body = read_file(path, &len, etag, sizeof etag);
  if (!body) {
    not_found(c, "no such console file");
    return;
  }
  struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
  evhttp_add_header(h, "Content-Type", type);
  evhttp_add_header(h, "Cache-Control", "no-cache");
  evhttp_add_header(h, "ETag", etag);
  evhttp_add_header(h, "Content-Security-Policy", CSP);
  evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
  evhttp_add_header(h, "Referrer-Policy", "no-referrer");
  evhttp_add_header(h, "X-Frame-Options", "DENY");
  const char *inm = evhttp_find_header(evhttp_request_get_input_headers(c->req),
                                       "If-None-Match");
  int code = inm && !strcmp(inm, etag) ? 304 : 200;
  struct evbuffer *buf = NULL;
  if (code == 200 && c->head) {
    char n[24];
    snprintf(n, sizeof n, "%zu", len);
    evhttp_add_header(h, "Content-Length", n);
  } else if (code == 200 && (buf = evbuffer_new()) != NULL) {
    evbuffer_add(buf, body, len);
  }
  evhttp_send_reply(c->req, code, code == 304 ? "Not Modified" : "OK", buf);
  if (buf)
    evbuffer_free(buf);
  free(body);
  cmd_count(c, code);
}

void cmd_route_console_moved(cmd_call *c) {
  char dir[512];
  if (cmd_console_dir(&c->d->cfg, dir, sizeof dir) != 0) {
    not_found(c, "the console is off ([console] dir = off)");
    return;
  }
  struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
  evhttp_add_header(h, "Location", "/console/");
  evhttp_add_header(h, "Content-Length", "0");
  evhttp_send_reply(c->req, 301, "Moved Permanently", NULL);
  cmd_count(c, 301);
}
