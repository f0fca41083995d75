/* sim.c -- a day of dispatch in process for the simulator (sim.h): the
 * product's run (cm_sim_run, core/sim) on the clock of the thread's own
 * CPU time, the hindsight floors of what it served, and the --sla list. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "sim.h"
#include "stats.h"

/* The solves' clock: the CPU time of the thread running the day, so that
 * a solve's budget counts the solver's work and not the time a loaded
 * machine kept the thread waiting for a core. A day then reproduces its
 * figures at any load (unless a solve needs its whole budget of CPU). */
static int64_t thread_cpu_clock(void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int sim_sla_parse(const char *list, sim_sla *s, char *msg, size_t n) {
  char buf[256];
  if (strlen(list) >= sizeof buf) {
    snprintf(msg, n, "--sla: the list is too long");
    return -1;
  }
  snprintf(buf, sizeof buf, "%s", list);
  for (char *save, *t = strtok_r(buf, ",", &save); t;
       t = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(t, '='), *end = NULL;
    int u = -1;
    if (eq) {
      *eq = '\0';
      u = cm_urgency_parse(t);
    }
    double v = eq ? strtod(eq + 1, &end) : NAN;
    if (u < 0 || !end || end == eq + 1 || *end || !(v > 0) || v > 100000) {
      snprintf(msg, n,
               "--sla: '%.40s' is not URGENCY=MINUTES (emergency, urgent, "
               "normal, scheduled; minutes > 0)",
               t);
      return -1;
    }
    s->target_min[u] = v;
  }
  return 0;
}

void sim_policy_init(sim_policy *p, const char *name, double budget_ms) {
  memset(p, 0, sizeof *p);
  p->name = name;
  p->budget_ms = budget_ms;
  cm_weights_init(&p->weights);
  p->window_ms = 300;
}

/* The floors: any day serving the same jobs, and any such day whose waits
 * stay within this run's longest wait of each urgency (out->max_wait). */
void sim_floors(const sim_scenario *s, const unsigned char *served,
                sim_kpis *out) {
  char fmsg[128];
  double f0 = cm_bench_now_ms();
  sim_floor_opts fo;
  sim_floor_opts_init(&fo);
  fo.target_km = out->travel_km;
  for (int capped = 0; capped < 2; capped++) {
    fo.max_wait_min = capped ? out->max_wait : NULL;
    double a = sim_floor_km(s, served, &fo, NULL, fmsg, sizeof fmsg);
    double r = sim_floor_routes_km(s, served, &fo, NULL, fmsg, sizeof fmsg);
    *(capped ? &out->floor_wait_km : &out->floor_km) = a > r ? a : r;
  }
  out->floor_ms = cm_bench_now_ms() - f0;
}

int sim_run(const sim_scenario *s, const sim_policy *p, sim_kpis *out,
            void (*progress)(double done, void *ctx), void *ctx, char *msg,
            size_t n) {
  double t0 = cm_bench_now_ms();
  cm_sim_policy cp;
  cm_error err;
  cm_sim_policy_init(&cp, p->name, p->budget_ms);
  cp.weights = p->weights;
  cp.window_ms = p->window_ms;
  cp.from_ms = p->from_ms;
  cp.until_ms = p->until_ms;
  cp.drain_ms = p->drain_ms;
  cp.no_reserve = p->no_reserve;
  cp.no_lookahead = p->no_lookahead;
  cp.standby = p->standby;
  cp.divert = p->divert;
  cp.interrupt = p->interrupt;
  cp.reserve_normal = p->reserve_normal;
  cp.divert_urgent = p->divert_urgent;
  cp.lookahead_all = p->lookahead_all;
  cp.joint = p->joint;
  cp.history = p->history_day;
  cp.clock = thread_cpu_clock;
  if (cm_sim_run(s, &cp, out, progress, ctx, &err) != CM_OK) {
    snprintf(msg, n, "%s", err.message);
    return -1;
  }
  if (p->floors && out->served)
    sim_floors(s, out->served, out);
  out->wall_s = (cm_bench_now_ms() - t0) / 1000.0;
  return 0;
}
