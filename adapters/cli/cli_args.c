/* cli_args.c -- the command line of `carematch`: a command, then its
 * options read with getopt_long ("--opt VALUE" or "--opt=VALUE"; a
 * unique prefix of a long option is taken too). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define SYNOPSIS                                                               \
  "usage: carematch solve [--in FILE] [--out FILE] [--deadline-ms N] "         \
  "[--threads N] [--pretty]\n"                                                 \
  "       carematch --help | --version\n"

const char *cm_cli_synopsis(void) {
  return SYNOPSIS;
}

const char *cm_cli_usage(void) {
  return SYNOPSIS
      "\n"
      "solve   read one batch instance (JSON) and write the optimal "
      "dispatch (JSON)\n"
      "  --in FILE          instance to read (default and '-': stdin)\n"
      "  --out FILE         answer to write, replaced atomically (default "
      "and '-':\n"
      "                     stdout)\n"
      "  --deadline-ms N    time budget in ms; components that cannot "
      "finish take\n"
      "                     the greedy answer (default: none; 0: greedy "
      "only)\n"
      "  --threads N        threads the solve may use, 1-64 (default: the "
      "online\n"
      "                     CPUs, at most 4); the answer is the same for any "
      "N\n"
      "  --pretty           indent the answer\n"
      "  -h, --help         this text, exit 0\n"
      "  -V, --version      the version, exit 0\n"
      "\n"
      "exit status: 0 solved, 1 solver failure, 2 invalid instance (error "
      "JSON on\n"
      "stderr), 64 usage, 66 input unreadable, 74 output not written.\n"
      "The formats are described in docs/solve-format.md; man carematch.\n";
}

/* `carematch --help` and `carematch --version`: the whole command line. */
static int global(int argc, char **argv, cm_cli_args *args, char *msg,
                  size_t msg_len) {
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help"))
    args->command = CM_CLI_HELP;
  else if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V") ||
           !strcmp(cmd, "version"))
    args->command = CM_CLI_VERSION;
  else
    return snprintf(msg, msg_len, "unknown command '%.64s'", cmd), -1;
  if (argc > 2)
    return snprintf(msg, msg_len, "%s takes no arguments", cmd), -1;
  return 0;
}

int cm_cli_parse(int argc, char **argv, cm_cli_args *args, char *msg,
                 size_t msg_len) {
  static const struct option opts[] = {
      {"in", required_argument, NULL, 'i'},
      {"out", required_argument, NULL, 'o'},
      {"deadline-ms", required_argument, NULL, 'd'},
      {"threads", required_argument, NULL, 't'},
      {"pretty", no_argument, NULL, 'p'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  memset(args, 0, sizeof *args);
  args->deadline_ms = -1.0;
  msg[0] = '\0';
  if (argc < 2) {
    snprintf(msg, msg_len, "no command given");
    return -1;
  }
  if (strcmp(argv[1], "solve") != 0)
    return global(argc, argv, args, msg, msg_len);
  args->command = CM_CLI_SOLVE;
  /* getopt_long over "solve" and what follows; it prints nothing (opterr
   * 0, ':' first): the messages are ours */
  opterr = 0;
  optind = 0;
  int c, sub_argc = argc - 1;
  char **sub_argv = argv + 1;
  while ((c = getopt_long(sub_argc, sub_argv, ":h", opts, NULL)) != -1) {
    switch (c) {
    case 'i':
      args->in = optarg;
      break;
    case 'o':
      args->out = optarg;
      break;
    case 'd':
      if (cm_opt_double("--deadline-ms", optarg, 0, 1e9, &args->deadline_ms,
                        msg, msg_len) != 0)
        return -1;
      break;
    case 't': {
      long long n;
      if (cm_opt_int("--threads", optarg, 1, 64, &n, msg, msg_len) != 0)
        return -1;
      args->threads = (int)n;
      break;
    }
    case 'p':
      args->pretty = 1;
      break;
    case 'h':
      args->command = CM_CLI_HELP;
      return 0;
    default:
      cm_opt_error(msg, msg_len, c, sub_argv, opts);
      return -1;
    }
  }
  if (optind < sub_argc) {
    snprintf(msg, msg_len, "solve takes no argument '%.64s' (--in FILE?)",
             sub_argv[optind]);
    return -1;
  }
  if (args->in && args->out && strcmp(args->in, args->out) == 0 &&
      strcmp(args->in, "-") != 0) {
    snprintf(msg, msg_len, "--in and --out name the same file");
    return -1;
  }
  return 0;
}
