/* stats.h -- the honest KPIs of runs are the product's
 * (carematch/sim_stats.h, core/sim/stats.c): the simulator's short names
 * for them (docs/sim.md, "Honest KPIs"). */
#ifndef CM_BENCH_SIM_STATS_H_INCLUDED_
#define CM_BENCH_SIM_STATS_H_INCLUDED_

#include "carematch/sim_stats.h"
#include "sim.h"

typedef cm_sim_sla sim_sla;
typedef cm_sim_pcts sim_pcts;
typedef cm_sim_summary sim_summary;
typedef cm_sim_ratio sim_ratio;

#define SIM_M_BREACHES CM_SIM_M_BREACHES
#define SIM_M_ARRIVAL_P50 CM_SIM_M_ARRIVAL_P50
#define SIM_M_ARRIVAL_P95 CM_SIM_M_ARRIVAL_P95
#define SIM_M_TRAVEL_PER_JOB CM_SIM_M_TRAVEL_PER_JOB
#define SIM_METRICS CM_SIM_METRICS
#define SIM_BOOT_RESAMPLES CM_SIM_BOOT_RESAMPLES
#define SIM_BOOT_SEED CM_SIM_BOOT_SEED

static inline void sim_sla_init(sim_sla *s) {
  cm_sim_sla_init(s);
}
/* "emergency=15,urgent=60,..." (any subset, minutes > 0) onto *s (the
 * command line's --sla; sim.c). Returns 0, or -1 with msg naming the bad
 * item. */
int sim_sla_parse(const char *list, sim_sla *s, char *msg, size_t n);
static inline int sim_summarize(const sim_kpis *const *runs, int n,
                                const sim_sla *sla, sim_summary *out) {
  return cm_sim_summarize(runs, n, sla, out) == CM_OK ? 0 : -1;
}
static inline void sim_metric_name(int metric, char *buf, size_t n) {
  cm_sim_metric_name(metric, buf, n);
}
static inline int sim_compare(const sim_kpis *const *runs, int nd, int np,
                              int resamples, uint64_t seed, const sim_sla *sla,
                              sim_ratio *out) {
  return cm_sim_compare(runs, nd, np, resamples, seed, sla, out);
}

#endif
