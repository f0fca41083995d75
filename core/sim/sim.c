/* sim.c -- a day of dispatch in process (carematch/sim.h): the world
 * (world.c) with the engine library as its dispatcher, on the simulated
 * clock. The engine steps whenever it is due; its events go back to the
 * world. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/sim.h"
#include "carematch/sim_world.h"
#include "carematch/store.h"

/* A worker is suggested a standby place at most every 30 minutes. */
#define CM_SIM_STANDBY_EVERY_MS (30LL * 60000)

typedef struct inproc {
  const cm_sim_scenario *s;
  cm_engine *eng;
} inproc;

static void ip_submit(void *ctx, int q, const cm_request_spec *spec,
                      int64_t now) {
  (void)q;
  cm_engine_submit(((inproc *)ctx)->eng, spec, now, NULL);
}

static void ip_upsert(void *ctx, int i, const cm_worker *w, int64_t now) {
  (void)i;
  cm_engine_worker_upsert(((inproc *)ctx)->eng, w, now, NULL);
}

static void ip_shift_off(void *ctx, int i, int64_t now) {
  inproc *p = ctx;
  cm_engine_worker_shift(p->eng, p->s->workers[i].id, 0, now, NULL);
}

static void ip_position(void *ctx, int i, double lat, double lon, int64_t now) {
  inproc *p = ctx;
  cm_engine_worker_position(p->eng, p->s->workers[i].id, lat, lon, now, NULL);
}

static void ip_answer(void *ctx, int q, int i, int accept, int64_t now) {
  inproc *p = ctx;
  const char *rid = p->s->requests[q].id, *wid = p->s->workers[i].id;
  if (accept)
    cm_engine_accept(p->eng, rid, wid, now, NULL);
  else
    cm_engine_reject(p->eng, rid, wid, now, NULL);
}

static void ip_arrived(void *ctx, int q, int i, int64_t now) {
  inproc *p = ctx;
  cm_engine_arrived(p->eng, p->s->requests[q].id, p->s->workers[i].id, now,
                    NULL);
}

static int ip_complete(void *ctx, int q, int64_t now) {
  inproc *p = ctx;
  return cm_engine_complete(p->eng, p->s->requests[q].id, now, NULL) == CM_OK
             ? 0
             : -1;
}

static void pump(inproc *p, cm_sim_world *w, int64_t now) {
  cm_event ev[256];
  int n;
  while ((n = cm_engine_poll(p->eng, ev, 256)) > 0)
    for (int i = 0; i < n; i++)
      cm_sim_world_event(w, &ev[i], now);
}

void cm_sim_kpis_free(cm_sim_kpis *k) {
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    free(k->arrivals[u]);
    k->arrivals[u] = NULL;
  }
  free(k->outcomes);
  free(k->worker_days);
  free(k->served);
  k->outcomes = NULL;
  k->worker_days = NULL;
  k->served = NULL;
}

void cm_sim_policy_init(cm_sim_policy *p, const char *name, double budget_ms) {
  memset(p, 0, sizeof *p);
  p->name = name;
  p->budget_ms = budget_ms;
  cm_weights_init(&p->weights);
  p->window_ms = 300;
}

static int64_t clock_ns(const cm_sim_policy *p) {
  return p->clock ? p->clock(p->clock_ctx) : 0;
}

/* The engine's configuration for policy p on scenario s. */
static void engine_config_for(const cm_sim_scenario *s, const cm_sim_policy *p,
                              cm_engine_config *cfg) {
  cm_engine_config_init(cfg);
  cfg->weights = p->weights;
  cfg->batch_window_ms = p->window_ms;
  cfg->solve_budget_ms = p->budget_ms;
  cfg->clock = p->clock;
  cfg->clock_ctx = p->clock_ctx;
  cfg->offer_ttl_ms = (int64_t)(s->response_s_max * 1000) + 30000;
  cfg->params.road_factor = s->road_factor;
  cfg->event_queue = 1 << 16;
  if (p->no_reserve)
    cfg->reserve_workers = 0;
  if (p->reserve_normal)
    cfg->reserve_from = CM_URGENCY_NORMAL;
  if (p->divert_urgent)
    cfg->divert_urgent = 1;
  if (p->joint)
    cfg->emergencies_alone = 0;
  if (p->no_lookahead)
    cfg->lookahead_min = 0;
  if (p->lookahead_all) {
    cfg->lookahead_upto = CM_URGENCY_SCHEDULED;
    cfg->lookahead_min = CM_SIM_AHEAD_MIN;
  }
  if (p->standby)
    cfg->standby_every_ms = CM_SIM_STANDBY_EVERY_MS;
  if (p->divert)
    cfg->divert_min = p->divert > 0 ? CM_SIM_DIVERT_MIN : 0;
  if (p->interrupt)
    cfg->interrupt_min = p->interrupt > 0 ? CM_SIM_INTERRUPT_MIN : 0;
}

/* The emergencies of p's history taught to the engine (where they come
 * from), as a daemon that ran on those days would know them. */
static void teach_history(cm_engine *eng, const cm_sim_policy *p) {
  for (int i = 0; eng && p->history && i < p->history->n_requests; i++) {
    const cm_sim_request *h = &p->history->requests[i];
    const cm_sim_service *sv = &p->history->services[h->service];
    if (sv->urgency == CM_URGENCY_EMERGENCY)
      cm_engine_demand_teach(eng, h->lat, h->lon, sv->skills, h->at_ms, NULL);
  }
}

/* The engine's own figures of the run into out. */
static void engine_kpis(const cm_engine *eng, cm_sim_kpis *out) {
  cm_engine_stats st;
  cm_engine_stats_get(eng, &st);
  out->batch_p50_ms = cm_histogram_quantile(&st.batch_ms, 0.5);
  out->batch_p99_ms = cm_histogram_quantile(&st.batch_ms, 0.99);
  out->batch_max_ms = st.batch_ms.max;
  out->batches = st.batches;
  out->fallbacks = st.fallbacks;
  out->standby = st.standby;
}

cm_status cm_sim_run(const cm_sim_scenario *s, const cm_sim_policy *p,
                     cm_sim_kpis *out, void (*progress)(double done, void *ctx),
                     void *ctx, cm_error *err) {
  int64_t t0 = clock_ns(p);
  cm_engine_config cfg;
  engine_config_for(s, p, &cfg);
  cm_error e;
  inproc ip = {s, NULL};
  cm_store *store = cm_store_memory_new(0);
  cm_error_set(&e, CM_E_NOMEM, "", "out of memory");
  ip.eng = store ? cm_engine_new(&cfg, store, &e) : NULL;
  cm_sim_port port = {
      &ip,  ip_submit, ip_upsert,   ip_shift_off, ip_position,
      NULL, ip_answer, ip_complete, NULL}; /* arrivals: the in-process KPIs are
                                              the world's */
  if (cfg.divert_min > 0 || cfg.interrupt_min > 0) /* who is there yet */
    port.arrived = ip_arrived;
  int64_t from = p->until_ms > 0 ? p->from_ms : 0;
  int64_t until = p->until_ms > 0 ? p->until_ms : CM_SIM_DAY_MS;
  teach_history(ip.eng, p);
  cm_sim_world *w =
      ip.eng ? cm_sim_world_new(s, &port, from, until, out) : NULL;
  if (!w) {
    memset(out, 0, sizeof *out);
    if (ip.eng)
      cm_error_set(&e, CM_E_NOMEM, "", "out of memory");
    if (err)
      *err = e;
    cm_engine_free(ip.eng);
    cm_store_free(store);
    return e.code;
  }
  snprintf(out->policy, sizeof out->policy, "%s", p->name);
  int64_t end = p->until_ms > 0 ? until + p->drain_ms : CM_SIM_END_MS;
  int64_t now = from, last_progress = from;
  while (now < end) {
    int64_t t = cm_sim_world_next(w), due = cm_engine_next_due(ip.eng);
    if (due < t)
      t = due;
    if (end < t)
      t = end;
    if (t > now)
      now = t;
    cm_sim_world_advance(w, now);
    pump(&ip, w, now);
    if (cm_engine_next_due(ip.eng) <= now) {
      cm_engine_step(ip.eng, now, NULL, NULL);
      pump(&ip, w, now);
    }
    if (p->deadline_ns > 0 && p->clock && clock_ns(p) > p->deadline_ns) {
      cm_sim_world_free(w);
      cm_engine_free(ip.eng);
      cm_store_free(store);
      return cm_error_set(err, CM_E_LIMIT, "",
                          "the run took longer than its deadline");
    }
    if (progress && now - last_progress >= 600000) {
      last_progress = now;
      progress((double)(now - from) / (double)(end - from), ctx);
    }
  }
  cm_sim_world_finish(w);
  engine_kpis(ip.eng, out);
  out->wall_s = (double)(clock_ns(p) - t0) / 1e9;
  cm_sim_world_free(w);
  cm_engine_free(ip.eng);
  cm_store_free(store);
  return CM_OK;
}
