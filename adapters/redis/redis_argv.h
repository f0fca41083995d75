/* redis_argv.h -- building one Redis command: arguments are appended into
 * one growable buffer (copied, so the caller's strings need not outlive
 * the call) and handed to hiredis as argv/argvlen when sent. Running out
 * of memory is remembered and reported when the command is sent, so that
 * building code stays free of error checks. */
#ifndef CM_REDIS_ARGV_H_INCLUDED_
#define CM_REDIS_ARGV_H_INCLUDED_

#include <stddef.h>
#include <stdint.h>

typedef struct cm__rd_argv {
  char *buf;          /* every argument, back to back */
  size_t len, cap;    /* bytes used / allocated in buf */
  size_t *off, *alen; /* offset and length of each argument */
  const char **ptrs;  /* argument pointers, built when sent */
  int argc, cap_args; /* arguments used / room in off, alen, ptrs */
  int failed;         /* an append ran out of memory */
} cm__rd_argv;

/* An empty builder (no allocation yet). */
void cm__rd_argv_init(cm__rd_argv *a);
/* Free the buffers; the builder is empty and usable again. */
void cm__rd_argv_free(cm__rd_argv *a);
/* Forget the arguments, keep the buffers. */
void cm__rd_argv_reset(cm__rd_argv *a);

/* Append one argument: n bytes at s, a C string, a printf-formatted
 * string, a double that reads back exactly ("%.17g"), an integer. */
void cm__rd_argv_add(cm__rd_argv *a, const char *s, size_t n);
void cm__rd_argv_str(cm__rd_argv *a, const char *s);
void cm__rd_argv_fmt(cm__rd_argv *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cm__rd_argv_double(cm__rd_argv *a, double v);
void cm__rd_argv_i64(cm__rd_argv *a, int64_t v);

/* Point a->ptrs at the arguments. Returns 0, or -1 when an append ran out
 * of memory (the command must not be sent). */
int cm__rd_argv_finish(cm__rd_argv *a);

#endif
