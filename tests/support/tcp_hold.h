/* tcp_hold.h -- a TCP relay in front of a server (a thread of the test):
 * every connection made to its port is relayed to the server's, and the
 * first time a client sends bytes containing a given pattern (a command
 * of interest, such as the GET of a key), the test's function runs (it
 * sends SIGSTOP to the server, or CLIENT PAUSE) before those bytes are
 * passed on. So a test freezes Redis at exactly the step it means,
 * whatever came before. */
#ifndef CM_TEST_TCP_HOLD_H_INCLUDED_
#define CM_TEST_TCP_HOLD_H_INCLUDED_

#include <stdint.h>

typedef struct cm_test_hold cm_test_hold;

/* Listen on a free loopback port and relay to 127.0.0.1:to_port; when a
 * client's bytes contain pattern (NULL: never) run fn(ctx) once, on the
 * relay's thread, then pass them on. Returns the relay (its port:
 * cm_test_hold_port), or NULL. */
cm_test_hold *cm_test_hold_start(int to_port, const char *pattern,
                                 void (*fn)(void *ctx), void *ctx);

/* The port it listens on. */
int cm_test_hold_port(const cm_test_hold *h);

/* The monotonic ms at which the pattern was seen (fn ran), or 0 while
 * it has not been. */
int64_t cm_test_hold_fired_ms(cm_test_hold *h);

/* Stop relaying, close every connection and free (NULL is fine). */
void cm_test_hold_stop(cm_test_hold *h);

#endif
