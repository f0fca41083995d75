/* proc.c -- running programs and scratch folders for the command-line
 * tests (proc.h). */
#include "proc.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

char *cm_test_slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  cr_assert_not_null(buf);
  for (size_t got; (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
    n += got;
    if (cap - n < 2) {
      buf = realloc(buf, cap *= 2);
      cr_assert_not_null(buf);
    }
  }
  fclose(f);
  buf[n] = '\0';
  return buf;
}

cm_test_run_result cm_test_run(const char *dir, const char *prog,
                               const char *in_path, const char *out_to,
                               const char *const *args) {
  char out_path[512], err_path[512];
  const char *argv[48] = {prog};
  int n = 1;
  for (; args[n - 1] && n < 47; n++)
    argv[n] = args[n - 1];
  argv[n] = NULL;
  snprintf(out_path, sizeof out_path, "%s/stdout", dir);
  snprintf(err_path, sizeof err_path, "%s/stderr", dir);
  posix_spawn_file_actions_t fa;
  cr_assert_eq(posix_spawn_file_actions_init(&fa), 0);
  posix_spawn_file_actions_addopen(&fa, 0, in_path ? in_path : "/dev/null",
                                   O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_to ? out_to : out_path,
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err_path,
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid;
  int rc = posix_spawn(&pid, prog, &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  cr_assert_eq(rc, 0, "cannot spawn %s", prog);
  int ws;
  cr_assert_eq(waitpid(pid, &ws, 0), pid);
  cm_test_run_result r;
  r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
  r.out = out_to ? strdup("") : cm_test_slurp(out_path);
  r.err = cm_test_slurp(err_path);
  cr_assert(r.out && r.err);
  unlink(out_path);
  unlink(err_path);
  return r;
}

void cm_test_run_free(cm_test_run_result *r) {
  free(r->out);
  free(r->err);
  r->out = r->err = NULL;
}

void cm_test_mkdir(char *dir, size_t n, const char *tag) {
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, n, "%s/cm_%s_%ld_XXXXXX", tmp ? tmp : "/tmp", tag,
           (long)getpid());
  cr_assert_not_null(mkdtemp(dir));
}

/* Removes files and folders below dir, then dir. */
void cm_test_rmdir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *de;
  char path[1024];
  while ((de = readdir(d))) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
      cm_test_rmdir(path);
    else
      unlink(path);
  }
  closedir(d);
  rmdir(dir);
}
