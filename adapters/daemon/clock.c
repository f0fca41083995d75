/* clock.c -- the daemon's clock. By default the wall clock; for load tests
 * and the simulator's live mode a simulated one (--clock-start,
 * --clock-rate): it starts at a given time and runs rate times as fast as
 * the monotonic clock, and timers wait rate times less. The solver's
 * budget is always measured on the real monotonic clock. Set once at
 * start, before any thread, then only read. */
#include <time.h>

#include "daemon.h"

static struct {
  int simulated;
  int64_t start_ms;
  double rate;
  int64_t mono0_ns;
} g_clock = {0, 0, 1.0, 0};

int64_t cmd_mono_ns(void *ctx) {
  struct timespec ts;
  (void)ctx;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void cmd_clock_simulate(int64_t start_ms, double rate) {
  g_clock.simulated = 1;
  g_clock.start_ms = start_ms;
  g_clock.rate = rate;
  g_clock.mono0_ns = cmd_mono_ns(NULL);
}

int64_t cmd_now_ms(void) {
  if (g_clock.simulated)
    return g_clock.start_ms +
           (int64_t)((double)(cmd_mono_ns(NULL) - g_clock.mono0_ns) *
                     g_clock.rate / 1e6);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double cmd_clock_rate(void) {
  return g_clock.rate;
}
