/* cli.h -- private pieces of the `carematch` command-line tool: argument
 * parsing, whole-file input, atomic output, and the solve command. */
#ifndef CM_CLI_H_INCLUDED_
#define CM_CLI_H_INCLUDED_

#include <stddef.h>

#include "carematch/error.h"
#include "cli_opt.h" /* CM_EXIT_USAGE (64): a bad command line */

/* Exit codes (sysexits.h where one fits; docs/cli.md). */
#define CM_EXIT_OK 0
#define CM_EXIT_SOLVER 1   /* the solver failed */
#define CM_EXIT_INSTANCE 2 /* the instance is not valid */
#define CM_EXIT_NOINPUT 66 /* EX_NOINPUT: the input cannot be read */
#define CM_EXIT_IO 74      /* EX_IOERR: the output cannot be written */

/* Largest instance the tool reads. */
#define CM_CLI_MAX_INPUT ((size_t)256 << 20)

typedef enum cm_cli_command {
  CM_CLI_HELP = 0,
  CM_CLI_VERSION,
  CM_CLI_SOLVE
} cm_cli_command;

typedef struct cm_cli_args {
  cm_cli_command command;
  const char *in;     /* input path, NULL or "-": stdin */
  const char *out;    /* output path, NULL or "-": stdout */
  double deadline_ms; /* < 0: no deadline */
  int pretty;         /* indent the answer */
  int threads;        /* --threads; 0: the online CPUs, at most
                         CM_CLI_DEFAULT_THREADS */
} cm_cli_args;

/* The default of --threads: the online CPUs, at most this many. */
#define CM_CLI_DEFAULT_THREADS 4

/* Parse argv. Returns 0 with *args filled, or -1 with a one-line reason in
 * msg (the caller prints it and exits CM_EXIT_USAGE). */
int cm_cli_parse(int argc, char **argv, cm_cli_args *args, char *msg,
                 size_t msg_len);
/* The usage text (--help), and its first lines (after a usage error). */
const char *cm_cli_usage(void);
const char *cm_cli_synopsis(void);

/* Read all of path (NULL or "-": stdin) into a malloc'ed buffer, at most
 * limit bytes. Returns CM_OK with *buf (NUL-terminated, caller frees) and
 * *len, or CM_E_IO (cannot open or read) / CM_E_LIMIT (too large) with err
 * set and *buf NULL. */
cm_status cm_cli_read_all(const char *path, size_t limit, char **buf,
                          size_t *len, cm_error *err);
/* Write len bytes to path (NULL or "-": stdout). A regular file (new or
 * existing, also through a symbolic link) is written to a temporary file in
 * its directory, flushed and renamed over it, so it holds either its old
 * content or the whole new one; an existing file keeps its permissions. An
 * existing non-regular file (device, pipe) is written in place. Returns
 * CM_OK or CM_E_IO with err set (the temporary file is removed). */
cm_status cm_cli_write_all(const char *path, const char *data, size_t len,
                           cm_error *err);

/* Run `carematch solve`. Returns the process exit code. */
int cm_cli_solve(const cm_cli_args *args);

/* Report err on stderr: the error JSON on one line, then a human line.
 * Returns exit_code. */
int cm_cli_report(const cm_error *err, int exit_code);

#endif
