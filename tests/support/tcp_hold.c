/* tcp_hold.c -- a TCP relay that runs a test's function when a pattern passes
 * (see tcp_hold.h): one thread, poll() over the listener and every pair
 * of sockets, at most HOLD_PAIRS connections. */
#define _GNU_SOURCE /* memmem */
#include "tcp_hold.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HOLD_PAIRS 32

struct cm_test_hold {
  int lfd, port, to_port;
  char pattern[128]; /* "" never */
  void (*fn)(void *);
  void *ctx;
  int client[HOLD_PAIRS], server[HOLD_PAIRS]; /* -1 free */
  pthread_t thread;
  pthread_mutex_t mu;
  int64_t fired_ms; /* under mu */
  volatile int quit;
};

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pair_close(cm_test_hold *h, int i) {
  close(h->client[i]);
  close(h->server[i]);
  h->client[i] = h->server[i] = -1;
}

static void pair_open(cm_test_hold *h) {
  int c = accept(h->lfd, NULL, NULL);
  if (c < 0)
    return;
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)h->to_port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int i = 0;
  while (i < HOLD_PAIRS && h->client[i] >= 0)
    i++;
  if (s < 0 || i == HOLD_PAIRS ||
      connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
    close(c);
    if (s >= 0)
      close(s);
    return;
  }
  h->client[i] = c;
  h->server[i] = s;
}

/* Pass what from has on to to (from the client: the pattern watched).
 * Returns 0, -1 when either side closed. */
static int relay(cm_test_hold *h, int from, int to, int from_client) {
  char buf[65536];
  ssize_t n = read(from, buf, sizeof buf);
  if (n <= 0)
    return -1;
  if (from_client && h->pattern[0] &&
      memmem(buf, (size_t)n, h->pattern, strlen(h->pattern))) {
    pthread_mutex_lock(&h->mu);
    if (!h->fired_ms) {
      h->fn(h->ctx);
      h->fired_ms = mono_ms();
    }
    pthread_mutex_unlock(&h->mu);
  }
  for (ssize_t off = 0; off < n;) {
    ssize_t w = write(to, buf + off, (size_t)(n - off));
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    off += w;
  }
  return 0;
}

static void *hold_main(void *arg) {
  cm_test_hold *h = arg;
  struct pollfd p[1 + 2 * HOLD_PAIRS];
  while (!h->quit) {
    int n = 0;
    p[n++] = (struct pollfd){h->lfd, POLLIN, 0};
    for (int i = 0; i < HOLD_PAIRS; i++)
      if (h->client[i] >= 0) {
        p[n++] = (struct pollfd){h->client[i], POLLIN, 0};
        p[n++] = (struct pollfd){h->server[i], POLLIN, 0};
      }
    if (poll(p, (nfds_t)n, 50) <= 0)
      continue;
    if (p[0].revents & POLLIN)
      pair_open(h);
    for (int k = 1; k < n; k += 2) {
      int i = 0;
      while (i < HOLD_PAIRS && h->client[i] != p[k].fd)
        i++;
      if (i == HOLD_PAIRS)
        continue; /* opened this round */
      int bad = 0;
      if (p[k].revents & (POLLIN | POLLHUP | POLLERR))
        bad |= relay(h, h->client[i], h->server[i], 1);
      if (!bad && (p[k + 1].revents & (POLLIN | POLLHUP | POLLERR)))
        bad |= relay(h, h->server[i], h->client[i], 0);
      if (bad)
        pair_close(h, i);
    }
  }
  return NULL;
}

cm_test_hold *cm_test_hold_start(int to_port, const char *pattern,
                                 void (*fn)(void *ctx), void *ctx) {
  cm_test_hold *h = calloc(1, sizeof *h);
  if (!h)
    return NULL;
  for (int i = 0; i < HOLD_PAIRS; i++)
    h->client[i] = h->server[i] = -1;
  h->to_port = to_port;
  h->fn = fn;
  h->ctx = ctx;
  if (pattern && fn)
    strncpy(h->pattern, pattern, sizeof h->pattern - 1);
  pthread_mutex_init(&h->mu, NULL);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  h->lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  if (h->lfd < 0 ||
      setsockopt(h->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(h->lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
      listen(h->lfd, 64) != 0 ||
      getsockname(h->lfd, (struct sockaddr *)&a, &len) != 0 ||
      pthread_create(&h->thread, NULL, hold_main, h) != 0) {
    if (h->lfd >= 0)
      close(h->lfd);
    pthread_mutex_destroy(&h->mu);
    free(h);
    return NULL;
  }
  h->port = ntohs(a.sin_port);
  return h;
}

int cm_test_hold_port(const cm_test_hold *h) {
  return h->port;
}

int64_t cm_test_hold_fired_ms(cm_test_hold *h) {
  pthread_mutex_lock(&h->mu);
  int64_t t = h->fired_ms;
  pthread_mutex_unlock(&h->mu);
  return t;
}

void cm_test_hold_stop(cm_test_hold *h) {
  if (!h)
    return;
  h->quit = 1;
  pthread_join(h->thread, NULL);
  for (int i = 0; i < HOLD_PAIRS; i++)
    if (h->client[i] >= 0)
      pair_close(h, i);
  close(h->lfd);
  pthread_mutex_destroy(&h->mu);
  free(h);
}
