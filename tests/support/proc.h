/* proc.h -- what the command-line tests share: run a program with its
 * output captured, read a file whole, make and remove a scratch folder.
 * Failures abort the test (Criterion asserts). */
#ifndef CM_TEST_PROC_H_INCLUDED_
#define CM_TEST_PROC_H_INCLUDED_

#include <stddef.h>

typedef struct cm_test_run_result {
  int status; /* exit code, or 128 + signal */
  char *out;  /* stdout, malloc'ed ("" when sent to a file) */
  char *err;  /* stderr, malloc'ed */
} cm_test_run_result;

/* Run prog with args (NULL-terminated, without argv[0]): stdin from in_path
 * (NULL: /dev/null), stdout to out_to (NULL: captured), stderr captured;
 * captures go through files in dir (created 0600). */
cm_test_run_result cm_test_run(const char *dir, const char *prog,
                               const char *in_path, const char *out_to,
                               const char *const *args);
void cm_test_run_free(cm_test_run_result *r);

/* The whole file as a NUL-terminated malloc'ed string, NULL when it cannot
 * be opened. */
char *cm_test_slurp(const char *path);

/* A new scratch folder under $TMPDIR (or /tmp) named after tag, into dir;
 * removed with everything in it by cm_test_rmdir. */
void cm_test_mkdir(char *dir, size_t n, const char *tag);
void cm_test_rmdir(const char *dir);

#endif
