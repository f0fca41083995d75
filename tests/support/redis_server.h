/* redis_server.h -- a redis-server of a test's own, and a side connection
 * to look behind the adapter (hiredis's synchronous API). */
#ifndef CM_TEST_REDIS_SERVER_H_INCLUDED_
#define CM_TEST_REDIS_SERVER_H_INCLUDED_

#include <hiredis/hiredis.h>
#include <stdint.h>
#include <sys/types.h>

#include "carematch/redis.h"

void cm_test_sleep_ms(int ms);
/* CLOCK_MONOTONIC in ms. */
int64_t cm_test_mono_ms(void);

/* A loopback port nobody listens on (bound, read, closed). */
int cm_test_free_port(void);

/* A synchronous side connection, or NULL. */
redisContext *cm_test_side_connect(int port);

/* 1 when a server answers PING on port. */
int cm_test_server_ready(int port);

/* Start redis-server on port and wait until it answers; returns its pid.
 * aof_dir NULL: no persistence; else an append-only file in that
 * directory with appendfsync always (what docs/ledger.md recommends), so
 * a server started again on the same directory has every acknowledged
 * write. The server dies with the test process. */
pid_t cm_test_server_start(int port, const char *aof_dir);

/* Start redis-server on port as a replica of the one on primary_port (no
 * persistence) and wait until its link to the primary is up; returns its
 * pid. The server dies with the test process. */
pid_t cm_test_replica_start(int port, int primary_port);
/* The same without persistence, with extra arguments (NULL terminated:
 * "--requirepass", "pw", ...); waits until it answers PING, even with
 * NOAUTH. */
pid_t cm_test_server_start_args(int port, const char *const *extra);

/* Send sig to the server and reap it. */
void cm_test_server_kill(pid_t pid, int sig);

/* UNLINK every key matching pattern (SCAN MATCH). */
void cm_test_flush_keys(int port, const char *pattern);

/* The events in region's stream (cm:{region}:events) that carry every
 * field of pairs with its value (pairs: key, value, ..., NULL); -1 when
 * the stream cannot be read. */
int cm_test_stream_count(int port, const char *region,
                         const char *const *pairs);

/* A worker's jobs and acceptances as the Redis ledger counts them (its
 * hash's jobs and acc; absent: 0). Returns 0, or -1 when unread. */
int cm_test_worker_jobs(int port, const char *region, const char *worker,
                        int *jobs, int *acc);

/* The server a test talks to: 127.0.0.1:$CM_TEST_REDIS_PORT when one
 * answers there (scripts/test.sh starts it; tests share it, each in
 * regions of its own), else a redis-server of the test's own on a free
 * port. */
typedef struct cm_test_redis {
  int port;
  pid_t pid; /* > 0: ours, killed when done; 0: the shared one */
} cm_test_redis;

cm_test_redis cm_test_redis_use(void);

/* The suite's own redis-server, never the shared one: for tests that
 * stop, freeze, pause or kill their server. cm_test_own_redis_start starts
 * one on a free port (no persistence; asserted) into cm_test_own_redis;
 * cm_test_own_redis_start_on the same on a port the test chose;
 * cm_test_own_redis_kill kills it (SIGKILL) and reaps it when it runs
 * (pid > 0), and sets pid to 0. Start and kill fit a Criterion .init and
 * .fini (a .fini whose test started none does nothing). */
extern cm_test_redis cm_test_own_redis;
void cm_test_own_redis_start(void);
void cm_test_own_redis_start_on(int port);
void cm_test_own_redis_kill(void);

/* The same, persisting: cm_test_own_redis_start_aof starts it on a free
 * port with its append-only file in a fresh directory,
 * cm_test_own_redis_dir ("/tmp/cm_ownredis_<pid>"), where a test that
 * kills it starts it again with cm_test_server_start(port, dir).
 * cm_test_own_redis_remove kills it as cm_test_own_redis_kill does and
 * removes the directory (a .fini). */
extern char cm_test_own_redis_dir[64];
void cm_test_own_redis_start_aof(void);
void cm_test_own_redis_remove(void);

/* Done with s: our own server killed, or on the shared one the test's keys
 * (those matching pattern; NULL: none) unlinked. */
void cm_test_redis_done(const cm_test_redis *s, const char *pattern);

/* A region of the test's own ("<prefix><pid>") on the server of
 * cm_test_redis_use: cm_test_region_use names it (conn NULL: for a daemon
 * that connects itself), cm_test_region_open also connects to it. */
typedef struct cm_test_region {
  cm_test_redis srv;
  char name[32];
  cm_redis *conn;
} cm_test_region;

cm_test_region cm_test_region_use(const char *prefix);
cm_test_region cm_test_region_open(const char *prefix);
/* A Redis ledger on r's connection (asserted). */
cm_ledger *cm_test_region_ledger(cm_test_region *r);
/* The connection freed, then cm_test_redis_done with the region's keys. */
void cm_test_region_close(cm_test_region *r);

#endif
