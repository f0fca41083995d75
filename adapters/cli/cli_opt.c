/* cli_opt.c -- getopt_long's errors in words and strict numbers for the
 * command lines of carematch, carematchd and carematch_sim (cli_opt.h). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_opt.h"

/* 1 when val is a long option of longopts that takes no value. */
static int takes_no_value(const struct option *longopts, int val) {
  for (const struct option *o = longopts; o && o->name; o++)
    if (o->val == val && o->has_arg == no_argument)
      return 1;
  return 0;
}

void cm_opt_error(char *msg, size_t n, int ret, char *const *argv,
                  const struct option *longopts) {
  const char *arg = optind > 0 ? argv[optind - 1] : "";
  int is_long = arg && strncmp(arg, "--", 2) == 0;
  /* the option's name: "--port" of "--port=x" */
  int len = 0;
  if (is_long)
    len = (int)strcspn(arg, "=");
  if (ret == ':') {
    if (is_long)
      snprintf(msg, n, "option '%.*s' needs a value", len > 64 ? 64 : len, arg);
    else
      snprintf(msg, n, "option '-%c' needs a value", optopt);
    return;
  }
  if (is_long && optopt && arg[len] == '=' && takes_no_value(longopts, optopt))
    snprintf(msg, n, "option '%.*s' takes no value", len > 64 ? 64 : len, arg);
  else if (is_long)
    snprintf(msg, n, "unknown option '%.*s'", len > 64 ? 64 : len, arg);
  else if (isprint(optopt))
    snprintf(msg, n, "unknown option '-%c'", optopt);
  else
    snprintf(msg, n, "unknown option");
}

int cm_opt_int(const char *flag, const char *v, long long lo, long long hi,
               long long *out, char *msg, size_t n) {
  char *end = NULL;
  long long x = 0;
  int ok = v && *v && (isdigit((unsigned char)*v) || (lo < 0 && *v == '-'));
  if (ok) {
    errno = 0;
    x = strtoll(v, &end, 10);
    ok = end != v && !*end && !errno && x >= lo && x <= hi;
  }
  if (!ok) {
    snprintf(msg, n, "%s: '%.32s' is not an integer in %lld..%lld", flag,
             v ? v : "", lo, hi);
    return -1;
  }
  *out = x;
  return 0;
}

int cm_opt_u64(const char *flag, const char *v, uint64_t *out, char *msg,
               size_t n) {
  char *end = NULL;
  unsigned long long x = 0;
  int ok = v && isdigit((unsigned char)*v);
  if (ok) {
    errno = 0;
    x = strtoull(v, &end, 10);
    ok = !*end && !errno;
  }
  if (!ok) {
    snprintf(msg, n, "%s: '%.32s' is not an integer in 0..%" PRIu64, flag,
             v ? v : "", UINT64_MAX);
    return -1;
  }
  *out = (uint64_t)x;
  return 0;
}

int cm_opt_double(const char *flag, const char *v, double lo, double hi,
                  double *out, char *msg, size_t n) {
  char *end = NULL;
  double x = 0;
  int ok = v && *v && !isspace((unsigned char)*v);
  if (ok) {
    errno = 0;
    x = strtod(v, &end);
    ok = end != v && !*end && !errno && isfinite(x) && x >= lo && x <= hi;
  }
  if (!ok) {
    snprintf(msg, n, "%s: '%.32s' is not a number in %.15g..%.15g", flag,
             v ? v : "", lo, hi);
    return -1;
  }
  *out = x;
  return 0;
}
