/* bench_server.h -- a redis-server of a bench's own on a free loopback
 * port (no persistence), stopped at the end. */
#ifndef CM_BENCH_SERVER_H_INCLUDED_
#define CM_BENCH_SERVER_H_INCLUDED_

#include <sys/types.h>

/* A loopback port nobody listens on, or -1. */
int cm_bench_free_port(void);
/* Start redis-server on port and wait until it answers PING. Returns its
 * pid, or -1. The server dies with the bench (PR_SET_PDEATHSIG). */
pid_t cm_bench_server_start(int port);
/* SIGTERM and reap. */
void cm_bench_server_stop(pid_t pid);

#endif
