/* cli_io.c -- file input and output of the CLI: read a whole file with a
 * size limit; write a file atomically (temporary file + rename) so that a
 * failed run never leaves a half-written or clobbered answer. */
#define _XOPEN_SOURCE 700 /* realpath */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static int is_std(const char *path) {
  return !path || strcmp(path, "-") == 0;
}

cm_status cm_cli_read_all(const char *path, size_t limit, char **buf,
                          size_t *len, cm_error *err) {
  FILE *f = is_std(path) ? stdin : fopen(path, "rb");
  const char *name = is_std(path) ? "stdin" : path;
  char *data = NULL;
  size_t n = 0, cap = 0;
  cm_status st = CM_OK;
  *buf = NULL;
  *len = 0;
  if (!f)
    return cm_error_set(err, CM_E_IO, "", "cannot open %.200s: %s", name,
                        strerror(errno));
  /* A regular file is read into one buffer of its size (and one byte more,
   * to see the end), not grown by doubling: a 3 MB instance is then
   * copied once, not seven times. A file that grows meanwhile still grows
   * the buffer below. */
  struct stat sb;
  if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0) {
    size_t want =
        (size_t)sb.st_size < limit ? (size_t)sb.st_size + 2 : limit + 2;
    if (!(data = malloc(want))) {
      st = cm_error_set(err, CM_E_NOMEM, "", NULL);
      goto done;
    }
    cap = want;
  }
  for (;;) {
    if (cap - n < 2) { /* room for at least one byte and the NUL */
      size_t ncap = cap ? cap * 2 : 1 << 16;
      if (ncap > limit + 2)
        ncap = limit + 2;
      if (ncap <= cap) { /* already holding limit + 1 bytes */
        st = cm_error_set(err, CM_E_LIMIT, "",
                          "%.200s is larger than %zu bytes", name, limit);
        goto done;
      }
      char *p = realloc(data, ncap);
      if (!p) {
        st = cm_error_set(err, CM_E_NOMEM, "", NULL);
        goto done;
      }
      data = p;
      cap = ncap;
    }
    size_t got = fread(data + n, 1, cap - n - 1, f);
    n += got;
    if (n > limit) {
      st = cm_error_set(err, CM_E_LIMIT, "", "%.200s is larger than %zu bytes",
                        name, limit);
      goto done;
    }
    if (got == 0) {
      if (ferror(f))
        st = cm_error_set(err, CM_E_IO, "", "cannot read %.200s: %s", name,
                          strerror(errno));
      break;
    }
  }
done:
  if (f != stdin)
    fclose(f);
  if (st != CM_OK) {
    free(data);
    return st;
  }
  if (!data && !(data = malloc(1)))
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  data[n] = '\0';
  *buf = data;
  *len = n;
  return CM_OK;
}

/* Write all of data to fd. Returns 0 or -1 (errno set). */
static int write_fd(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, data, len);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    data += w;
    len -= (size_t)w;
  }
  return 0;
}

/* Write to an existing non-regular file (a terminal, a pipe, /dev/null):
 * it cannot be replaced, only written. Returns CM_OK or CM_E_IO. */
static cm_status write_special(const char *path, const char *data, size_t len,
                               cm_error *err) {
  int fd = open(path, O_WRONLY | O_TRUNC);
  if (fd < 0)
    return cm_error_set(err, CM_E_IO, "", "cannot open %.200s: %s", path,
                        strerror(errno));
  int bad = write_fd(fd, data, len) != 0;
  int saved = errno;
  if (close(fd) != 0 && !bad) {
    bad = 1;
    saved = errno;
  }
  if (bad)
    return cm_error_set(err, CM_E_IO, "", "cannot write %.200s: %s", path,
                        strerror(saved));
  return CM_OK;
}

/* Write data to a temporary file beside target and rename it over target.
 * mode: the permissions of the new file. Returns CM_OK or CM_E_IO (the
 * temporary file is removed). */
static cm_status replace_file(const char *target, mode_t mode, const char *data,
                              size_t len, cm_error *err) {
  size_t plen = strlen(target);
  char *tmp = malloc(plen + sizeof ".tmp.XXXXXX");
  cm_status st = CM_OK;
  int fd = -1, created = 0;
  if (!tmp)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  memcpy(tmp, target, plen);
  memcpy(tmp + plen, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
  if ((fd = mkstemp(tmp)) < 0) {
    st =
        cm_error_set(err, CM_E_IO, "", "cannot create a file beside %.200s: %s",
                     target, strerror(errno));
    goto done;
  }
  created = 1;
  if (fchmod(fd, mode) != 0 || write_fd(fd, data, len) != 0 || fsync(fd) != 0) {
    st = cm_error_set(err, CM_E_IO, "", "cannot write %.200s: %s", tmp,
                      strerror(errno));
    goto done;
  }
  int rc = close(fd);
  fd = -1;
  if (rc != 0) {
    st = cm_error_set(err, CM_E_IO, "", "cannot write %.200s: %s", tmp,
                      strerror(errno));
    goto done;
  }
  if (rename(tmp, target) != 0)
    st = cm_error_set(err, CM_E_IO, "", "cannot rename %.200s to %.200s: %s",
                      tmp, target, strerror(errno));
done:
  if (fd >= 0)
    close(fd);
  if (st != CM_OK && created)
    unlink(tmp);
  free(tmp);
  return st;
}

cm_status cm_cli_write_all(const char *path, const char *data, size_t len,
                           cm_error *err) {
  struct stat sb;
  if (is_std(path)) {
    if (write_fd(STDOUT_FILENO, data, len) != 0)
      return cm_error_set(err, CM_E_IO, "", "cannot write stdout: %s",
                          strerror(errno));
    return CM_OK;
  }
  if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
    return write_special(path, data, len, err);
  if (stat(path, &sb) == 0) {
    /* An existing file keeps its permissions; a symbolic link is followed
     * so that the file it names is replaced, not the link. */
    char *real = realpath(path, NULL);
    if (!real)
      return cm_error_set(err, CM_E_IO, "", "cannot resolve %.200s: %s", path,
                          strerror(errno));
    cm_status st = replace_file(real, sb.st_mode & 07777, data, len, err);
    free(real);
    return st;
  }
  /* A new file: 0666 & ~umask, as open(O_CREAT) would make it. */
  mode_t mask = umask(0);
  umask(mask);
  return replace_file(path, 0666 & ~mask, data, len, err);
}
