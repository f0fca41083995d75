/* cli_args.c -- the command line of `carematch`: a command and its options,
 * "--opt VALUE" or "--opt=VALUE". No getopt_long: it is not POSIX. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char *cm_cli_usage(void) {
  return "usage: carematch solve [--in FILE] [--out FILE] [--deadline-ms N] "
         "[--pretty]\n"
         "       carematch --help | --version\n"
         "\n"
         "solve   read one batch instance (JSON) and write the optimal "
         "dispatch (JSON)\n"
         "  --in FILE          instance to read (default: stdin)\n"
         "  --out FILE         answer to write, replaced atomically (default: "
         "stdout)\n"
         "  --deadline-ms N    time budget in ms; components that cannot "
         "finish take\n"
         "                     the greedy answer (default: none; 0: greedy "
         "only)\n"
         "  --pretty           indent the answer\n"
         "\n"
         "exit status: 0 solved, 1 solver failure, 2 invalid instance (error "
         "JSON on\n"
         "stderr), 64 usage, 66 input unreadable, 74 output not written.\n"
         "The formats are described in docs/solve-format.md.\n";
}

/* The value of option name at argv[*i]: after '=' or the next argument.
 * Returns it, or NULL when missing (msg set). */
static const char *option_value(int argc, char **argv, int *i, const char *name,
                                char *msg, size_t msg_len) {
  const char *arg = argv[*i];
  size_t n = strlen(name);
  if (arg[n] == '=')
    return arg + n + 1;
  if (*i + 1 >= argc) {
    snprintf(msg, msg_len, "%s needs a value", name);
    return NULL;
  }
  return argv[++*i];
}

/* 1 when arg is option name, alone or followed by '='. */
static int is_option(const char *arg, const char *name) {
  size_t n = strlen(name);
  return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

int cm_cli_parse(int argc, char **argv, cm_cli_args *args, char *msg,
                 size_t msg_len) {
  memset(args, 0, sizeof *args);
  args->deadline_ms = -1.0;
  msg[0] = '\0';
  if (argc < 2) {
    snprintf(msg, msg_len, "no command given");
    return -1;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
      strcmp(cmd, "help") == 0) {
    args->command = CM_CLI_HELP;
    return argc == 2
               ? 0
               : (snprintf(msg, msg_len, "%s takes no arguments", cmd), -1);
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
    args->command = CM_CLI_VERSION;
    return argc == 2
               ? 0
               : (snprintf(msg, msg_len, "%s takes no arguments", cmd), -1);
  }
  if (strcmp(cmd, "solve") != 0) {
    snprintf(msg, msg_len, "unknown command '%.64s'", cmd);
    return -1;
  }
  args->command = CM_CLI_SOLVE;
  for (int i = 2; i < argc; i++) {
    const char *arg = argv[i], *v;
    if (is_option(arg, "--in")) {
      if (!(v = option_value(argc, argv, &i, "--in", msg, msg_len)))
        return -1;
      args->in = v;
    } else if (is_option(arg, "--out")) {
      if (!(v = option_value(argc, argv, &i, "--out", msg, msg_len)))
        return -1;
      args->out = v;
    } else if (is_option(arg, "--deadline-ms")) {
      if (!(v = option_value(argc, argv, &i, "--deadline-ms", msg, msg_len)))
        return -1;
      char *end;
      errno = 0;
      double d = strtod(v, &end);
      if (!*v || *end || errno || !isfinite(d) || d < 0) {
        snprintf(msg, msg_len,
                 "--deadline-ms needs a number of milliseconds >= 0, not "
                 "'%.32s'",
                 v);
        return -1;
      }
      args->deadline_ms = d;
    } else if (strcmp(arg, "--pretty") == 0) {
      args->pretty = 1;
    } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      args->command = CM_CLI_HELP;
      return 0;
    } else {
      snprintf(msg, msg_len, "unknown option '%.64s' for solve", arg);
      return -1;
    }
  }
  if (args->in && args->out && strcmp(args->in, args->out) == 0 &&
      strcmp(args->in, "-") != 0) {
    snprintf(msg, msg_len, "--in and --out name the same file");
    return -1;
  }
  return 0;
}
