/* main.c -- entry point of the `carematch` command-line tool. */
#include <stdio.h>

#include "carematch/version.h"
#include "cli.h"

int main(int argc, char **argv) {
  cm_cli_args args;
  char msg[256];
  if (cm_cli_parse(argc, argv, &args, msg, sizeof msg) != 0) {
    fprintf(stderr, "carematch: %s\n%scarematch --help lists every option\n",
            msg, cm_cli_synopsis());
    return CM_EXIT_USAGE;
  }
  switch (args.command) {
  case CM_CLI_HELP:
    fputs(cm_cli_usage(), stdout);
    return CM_EXIT_OK;
  case CM_CLI_VERSION:
    printf("carematch %s\n", CM_VERSION);
    return CM_EXIT_OK;
  case CM_CLI_SOLVE:
    break;
  }
  return cm_cli_solve(&args);
}
