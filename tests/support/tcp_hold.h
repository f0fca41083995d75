/* tcp_hold.h -- a TCP relay in front of a server (a thread of the test):
 * every connection made to its port is relayed to the server's, and the
 * first time a client sends bytes containing a given pattern (a command
 * of interest, such as the GET of a key), a signal is sent to a process
 * (SIGSTOP to the server) before those bytes are passed on. So a test
 * freezes Redis at exactly the step it means, whatever came before. */
#ifndef CM_TEST_TCP_HOLD_H_INCLUDED_
#define CM_TEST_TCP_HOLD_H_INCLUDED_

#include <stdint.h>
#include <sys/types.h>

typedef struct cm_test_hold cm_test_hold;

/* Listen on a free loopback port and relay to 127.0.0.1:to_port; when a
 * client's bytes contain pattern (NULL: never) send sig to pid once, then
 * pass them on. Returns the relay (its port: cm_test_hold_port), or NULL. */
cm_test_hold *cm_test_hold_start(int to_port, const char *pattern, pid_t pid,
                                 int sig);

/* The port it listens on. */
int cm_test_hold_port(const cm_test_hold *h);

/* The monotonic ms at which the pattern was seen (the signal sent), or 0
 * while it has not been. */
int64_t cm_test_hold_fired_ms(cm_test_hold *h);

/* Stop relaying, close every connection and free (NULL is fine). */
void cm_test_hold_stop(cm_test_hold *h);

#endif
