/* daemon_proc.h -- the real carematchd for integration tests: started as
 * a process on a free loopback port with a configuration written here,
 * driven with libcurl (its event stream on a raw socket), stopped with a
 * signal. */
#ifndef CM_TEST_DAEMON_PROC_H_INCLUDED_
#define CM_TEST_DAEMON_PROC_H_INCLUDED_

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

/* The tokens every test configuration has, one per role. */
#define TOK_PLATFORM "platform-token-0123456789"
#define TOK_GATEWAY "gateway-token-0123456789"
#define TOK_OPERATOR "operator-token-0123456789"
#define TOK_METRICS "metrics-token-0123456789"
/* A named operator ([operators] ann = ...): its actions' actor is "ann". */
#define TOK_OPERATOR_ANN "operator-ann-token-0123456789"

typedef struct cm_test_daemon {
  pid_t pid;
  int port;
  char dir[128];    /* its scratch directory (config, port file, log) */
  char config[192]; /* the configuration file */
  char log[192];    /* its stderr */
} cm_test_daemon;

/* Write a configuration: the four tokens, the operator ann, extra_ini appended
 * (may be NULL), weights persisted in dir. */
void cm_test_daemon_config(cm_test_daemon *d, const char *extra_ini);
/* Start carematchd with the configuration and the extra arguments (NULL
 * terminated); wait until it listens. */
void cm_test_daemon_start(cm_test_daemon *d, const char *const *args);
/* Send sig and wait for the exit; returns the exit status (waitpid). */
int cm_test_daemon_stop(cm_test_daemon *d, int sig);
/* Remove the scratch directory. */
void cm_test_daemon_cleanup(cm_test_daemon *d);
/* carematchd --check-config on a file holding body; returns the exit code,
 * its output (stdout and stderr) in out. */
int cm_test_check_config(const char *body, char *out, size_t n);

typedef struct cm_test_reply {
  long code;
  json_t *json; /* the body parsed, or NULL */
  char *text;   /* the body */
  char www_auth[64];
} cm_test_reply;

/* One call. token NULL: no Authorization. body NULL: none. type NULL:
 * application/json. */
cm_test_reply cm_test_http(int port, const char *method, const char *path,
                           const char *token, const char *body,
                           const char *type);
void cm_test_reply_free(cm_test_reply *r);
/* A sample's value on the /metrics page of the daemon at port ("name" or
 * "name{labels}", as printed), -1 when it is not there. */
double cm_test_metric(int port, const char *sample);
/* cm_test_http with an application/json body, asserting that the reply's
 * status is code (the message names method, path, the status and the
 * body). Returns the reply, which the caller frees. */
cm_test_reply cm_test_expect(int port, long code, const char *method,
                             const char *path, const char *token,
                             const char *body);
/* A call that must succeed, its reply freed: cm_test_ok asserts status 200
 * (cm_test_expect's message); cm_test_ok_or_created accepts 200 or 201
 * (a PUT or POST that may create what it names). */
void cm_test_ok(int port, const char *method, const char *path,
                const char *token, const char *body);
void cm_test_ok_or_created(int port, const char *method, const char *path,
                           const char *token, const char *body);

/* The error code of an error reply ("" when none). */
const char *cm_test_error_code(const cm_test_reply *r);
const char *cm_test_error_field(const cm_test_reply *r);

/* A TCP connection to port on the loopback (asserted): the socket, which
 * the caller closes. */
int cm_test_dial(int port);
/* A streamed GET (the event stream, /v1/events...) of path with the bearer
 * token, on a raw loopback connection to port (asserted); returns the
 * socket, which the caller closes. */
int cm_test_stream_open(int port, const char *path, const char *token);
/* Read fd on into buf (n bytes; what buf holds is kept, NUL-terminated)
 * until want is in it, some 3 s at most. Returns 1 when it is, 0 when not
 * or the stream ended. */
int cm_test_stream_read_until(int fd, const char *want, char *buf, size_t n);

#endif
