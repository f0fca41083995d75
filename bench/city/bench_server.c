/* bench_server.c -- a redis-server of a bench's own (bench_server.h).
 * Readiness is probed with a plain socket (PING, +PONG), so the city
 * library needs no Redis client. */
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_server.h"

int cm_bench_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  if (fd < 0)
    return -1;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int port = -1;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

static int answers_ping(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  char buf[16] = {0};
  int ok = 0;
  if (fd < 0)
    return 0;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((unsigned short)port);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      write(fd, "PING\r\n", 6) == 6 && read(fd, buf, sizeof buf - 1) > 0)
    ok = strncmp(buf, "+PONG", 5) == 0;
  close(fd);
  return ok;
}

pid_t cm_bench_server_start(int port) {
  char p[16];
  snprintf(p, sizeof p, "%d", port);
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
      dup2(fd, 0);
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1",
           "--save", "", "--appendonly", "no", "--dir", "/tmp", (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 500; i++) {
    if (answers_ping(port))
      return pid;
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  cm_bench_server_stop(pid);
  return -1;
}

void cm_bench_server_stop(pid_t pid) {
  if (pid <= 0)
    return;
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
}
