/* cli_opt.h -- what the three programs (carematch, carematchd,
 * carematch_sim) share on their command lines: getopt_long's errors put
 * into words that name the flag, numbers read strictly with the flag
 * named, and one exit code for every usage error (docs/cli.md). The
 * declared interface of the carematch_cli_opt target (adapters/cli/include,
 * its published folder): the daemon and the simulator link it. */
#ifndef CM_CLI_OPT_H_INCLUDED_
#define CM_CLI_OPT_H_INCLUDED_

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

/* A bad command line, in every program: EX_USAGE of sysexits.h. */
#define CM_EXIT_USAGE 64

/* The message for getopt_long's answer ret ('?' or ':', with an optstring
 * that starts with ':') to the option just read from argv: "option '--port'
 * needs a value", "option '--quiet' takes no value" or "unknown option
 * '--bogus'". Writes at most n bytes to msg. */
void cm_opt_error(char *msg, size_t n, int ret, char *const *argv,
                  const struct option *longopts);

/* Read v, the value of flag, as a decimal integer in lo..hi (the whole
 * text: no sign unless lo < 0, no trailing bytes). Returns 0 with *out set,
 * or -1 with msg "--seed: 'abc' is not an integer in 0..2^64-1" (*out is
 * left alone). */
int cm_opt_int(const char *flag, const char *v, long long lo, long long hi,
               long long *out, char *msg, size_t n);
/* The same for an unsigned 64-bit integer (a seed): 0..UINT64_MAX. */
int cm_opt_u64(const char *flag, const char *v, uint64_t *out, char *msg,
               size_t n);
/* The same for a finite number in lo..hi. */
int cm_opt_double(const char *flag, const char *v, double lo, double hi,
                  double *out, char *msg, size_t n);

#endif
