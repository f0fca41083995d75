/* sim.c -- a day of dispatch in process (sim.h).
 *
 * Discrete events on a simulated clock, in milliseconds after midnight:
 * requests arrive; shifts start (the worker comes on at home) and end
 * (off at once when idle, else after the job); the engine steps whenever it
 * is due; an offer is answered after a few seconds (accepted with the
 * scenario's probability); once every member accepted they travel (great
 * circle x road factor at their speed), serve for the service's duration
 * once all are there, and the job is completed. Staff report positions
 * every report_s while moving and every minute while idle. The engine
 * sees only what a daemon would: requests, positions, shifts, answers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "sim.h"

#define DAY_MS (24LL * 3600 * 1000)
#define DRAIN_MS (4LL * 3600 * 1000) /* after midnight, to finish jobs */
#define MAX_ELDERS_KEPT 16

enum { EV_ARRIVE, EV_SHIFT_ON, EV_SHIFT_OFF, EV_ANSWER, EV_REACH, EV_DONE };

typedef struct event {
  int64_t at;
  int kind, who, what; /* request / worker indexes by kind */
  int accept;
  uint64_t order; /* ties: first queued first */
} event;

typedef struct heap {
  event *v;
  int n, cap;
  uint64_t next;
} heap;

static int before(const event *a, const event *b) {
  return a->at < b->at || (a->at == b->at && a->order < b->order);
}

static int push(heap *h, event e) {
  if (h->n == h->cap) {
    int cap = h->cap ? 2 * h->cap : 1024;
    event *p = realloc(h->v, (size_t)cap * sizeof *p);
    if (!p)
      return -1;
    h->v = p;
    h->cap = cap;
  }
  e.order = h->next++;
  int i = h->n++;
  while (i > 0 && before(&e, &h->v[(i - 1) / 2])) {
    h->v[i] = h->v[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  h->v[i] = e;
  return 0;
}

static event pop(heap *h) {
  event top = h->v[0], last = h->v[--h->n];
  int i = 0;
  for (;;) {
    int c = 2 * i + 1;
    if (c >= h->n)
      break;
    if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c]))
      c++;
    if (!before(&h->v[c], &last))
      break;
    h->v[i] = h->v[c];
    i = c;
  }
  if (h->n > 0)
    h->v[i] = last;
  return top;
}

enum { W_OFF, W_IDLE, W_TRAVEL, W_SERVE };

typedef struct wstate {
  int state;
  int going_off; /* shift over: off after the job */
  double lat, lon;
  double from_lat, from_lon, to_lat, to_lon;
  int64_t depart, arrive;
  int jobs;
  double km;
  int n_elders;
  int elders[MAX_ELDERS_KEPT]; /* request indexes of elders served */
} wstate;

typedef struct rstate {
  int64_t first_offer; /* -1 none */
  int members[CM_MAX_STAFF];
  int n_members;
  int reached;
  int64_t arrived; /* -1 until every member is there */
  int done;
} rstate;

typedef struct sim {
  const sim_scenario *s;
  cm_engine *eng;
  cm_store *store;
  heap h;
  wstate *w;
  rstate *r;
  uint64_t rng;
  int64_t now;
  double *offer_min[CM_URGENCY_COUNT], *arrive_min[CM_URGENCY_COUNT];
  int n_offer[CM_URGENCY_COUNT], n_arrive[CM_URGENCY_COUNT];
  sim_kpis *k;
  int continuity_hits;
} sim;

static double unit(sim *m) {
  m->rng ^= m->rng << 13;
  m->rng ^= m->rng >> 7;
  m->rng ^= m->rng << 17;
  return (double)(m->rng >> 11) / 9007199254740992.0;
}

static int worker_index(const char *id) {
  return atoi(id + 1);
}
static int request_index(const char *id) {
  return atoi(id + 1);
}

static double km_between(const sim *m, double a, double b, double c, double d) {
  return cm_geo_distance_km(a, b, c, d) * m->s->road_factor;
}

static void place_worker(sim *m, int i, double lat, double lon) {
  m->w[i].lat = lat;
  m->w[i].lon = lon;
  const char *id = m->s->workers[i].id;
  cm_engine_worker_position(m->eng, id, lat, lon, m->now, NULL);
}

static void shift_on(sim *m, int i) {
  const sim_worker *sw = &m->s->workers[i];
  wstate *w = &m->w[i];
  cm_worker cw;
  cm_worker_init(&cw);
  snprintf(cw.id, sizeof cw.id, "%s", sw->id);
  cw.skills = sw->skills;
  cw.lat = w->state == W_OFF && w->jobs == 0 ? sw->lat : w->lat;
  cw.lon = w->state == W_OFF && w->jobs == 0 ? sw->lon : w->lon;
  cw.has_position = 1;
  cw.seen_ms = m->now;
  cw.rating = sw->rating;
  cw.level = sw->level;
  cw.jobs_today = w->jobs;
  w->lat = cw.lat;
  w->lon = cw.lon;
  w->state = W_IDLE;
  w->going_off = 0;
  cm_engine_worker_upsert(m->eng, &cw, m->now, NULL);
}

static void shift_off(sim *m, int i) {
  wstate *w = &m->w[i];
  if (w->state == W_TRAVEL || w->state == W_SERVE) {
    w->going_off = 1;
    return;
  }
  w->state = W_OFF;
  cm_engine_worker_shift(m->eng, m->s->workers[i].id, 0, m->now, NULL);
}

/* Every member accepted: they set off. */
static void set_off(sim *m, int q) {
  rstate *r = &m->r[q];
  const sim_request *rq = &m->s->requests[q];
  for (int k = 0; k < r->n_members; k++) {
    int i = r->members[k];
    wstate *w = &m->w[i];
    double km = km_between(m, w->lat, w->lon, rq->lat, rq->lon);
    w->state = W_TRAVEL;
    w->from_lat = w->lat;
    w->from_lon = w->lon;
    w->to_lat = rq->lat;
    w->to_lon = rq->lon;
    w->depart = m->now;
    w->arrive = m->now + (int64_t)(km / m->s->workers[i].speed_kmh * 3600000);
    w->km += km;
    event e = {w->arrive, EV_REACH, i, q, 0, 0};
    push(&m->h, e);
  }
}

static void on_engine_event(sim *m, const cm_event *ev) {
  int q = request_index(ev->request);
  rstate *r = &m->r[q];
  const sim_service *sv = &m->s->services[m->s->requests[q].service];
  if (ev->type == CM_EV_OFFERED) {
    if (r->first_offer < 0) {
      r->first_offer = m->now;
      double min = (double)(m->now - m->s->requests[q].at_ms) / 60000.0;
      m->offer_min[sv->urgency][m->n_offer[sv->urgency]++] = min;
      int h = (int)((m->s->requests[q].at_ms / 3600000) % 24);
      m->k->hour_offer_wait[h] += min; /* a mean once divided */
    }
    int i = worker_index(ev->worker);
    double delay = (2 + (m->s->response_s_max - 2) * unit(m)) * 1000;
    event e = {m->now + (int64_t)delay,     EV_ANSWER, i, q,
               unit(m) < m->s->accept_prob, 0};
    push(&m->h, e);
    if (ev->from == CM_REQ_PENDING)
      r->n_members = 0;
    if (r->n_members < CM_MAX_STAFF)
      r->members[r->n_members++] = i;
  } else if (ev->type == CM_EV_ACCEPTED && ev->to == CM_REQ_ACCEPTED) {
    set_off(m, q);
  } else if (ev->type == CM_EV_EXPIRED) {
    m->k->expired++;
  } else if (ev->type == CM_EV_REJECTED) {
    m->k->rejected++;
  }
}

static void pump(sim *m) {
  cm_event ev[256];
  int n;
  while ((n = cm_engine_poll(m->eng, ev, 256)) > 0)
    for (int i = 0; i < n; i++)
      on_engine_event(m, &ev[i]);
}

static void submit(sim *m, int q) {
  const sim_request *rq = &m->s->requests[q];
  const sim_service *sv = &m->s->services[rq->service];
  cm_request_spec s;
  memset(&s, 0, sizeof s);
  snprintf(s.id, sizeof s.id, "%s", rq->id);
  s.lat = rq->lat;
  s.lon = rq->lon;
  s.skills = sv->skills;
  s.skill_mode = sv->mode;
  s.staff = sv->staff;
  s.urgency = sv->urgency;
  snprintf(s.elder, sizeof s.elder, "%s", rq->elder);
  if (rq->window_start_ms > 0) {
    s.window_start_ms = rq->window_start_ms;
    s.window_end_ms = rq->window_start_ms + 3600000;
  }
  m->k->requests[sv->urgency]++;
  m->k->hour_requests[(rq->at_ms / 3600000) % 24]++;
  m->k->teams += sv->staff > 1;
  cm_engine_submit(m->eng, &s, m->now, NULL);
}

static void reach(sim *m, int i, int q) {
  wstate *w = &m->w[i];
  rstate *r = &m->r[q];
  const sim_request *rq = &m->s->requests[q];
  w->state = W_SERVE;
  place_worker(m, i, rq->lat, rq->lon);
  if (++r->reached < r->n_members)
    return;
  r->arrived = m->now;
  const sim_service *sv = &m->s->services[rq->service];
  /* scheduled: from the window's start; the rest from the call */
  int64_t base = rq->window_start_ms > 0 ? rq->window_start_ms : rq->at_ms;
  double min = (double)(m->now - base) / 60000.0;
  m->arrive_min[sv->urgency][m->n_arrive[sv->urgency]++] = min < 0 ? 0 : min;
  int64_t start = m->now;
  if (rq->window_start_ms > start)
    start = rq->window_start_ms; /* early: they wait for the window */
  event e = {start + (int64_t)(sv->duration_min * 60000), EV_DONE, q, 0, 0, 0};
  push(&m->h, e);
}

static void done(sim *m, int q) {
  rstate *r = &m->r[q];
  const sim_request *rq = &m->s->requests[q];
  if (cm_engine_complete(m->eng, rq->id, m->now, NULL) != CM_OK)
    return;
  r->done = 1;
  m->k->done++;
  int elder = atoi(rq->elder + 1);
  for (int k = 0; k < r->n_members; k++) {
    wstate *w = &m->w[r->members[k]];
    int known = 0;
    for (int e = 0; e < w->n_elders; e++)
      known |= w->elders[e] == elder;
    m->continuity_hits += known;
    if (!known && w->n_elders < MAX_ELDERS_KEPT)
      w->elders[w->n_elders++] = elder;
    w->jobs++;
    w->state = W_IDLE;
    if (w->going_off)
      shift_off(m, r->members[k]);
  }
}

/* Positions: moving staff every report_s, idle staff every minute. */
static void report(sim *m, int64_t tick) {
  int idle_too = tick % 60000 == 0;
  if (tick % 3600000 == 0 && tick < DAY_MS) {
    int h = (int)(tick / 3600000);
    for (int i = 0; i < m->s->n_workers; i++) {
      m->k->hour_on_shift[h] += m->w[i].state != W_OFF;
      m->k->hour_busy[h] +=
          m->w[i].state == W_TRAVEL || m->w[i].state == W_SERVE;
    }
  }
  for (int i = 0; i < m->s->n_workers; i++) {
    wstate *w = &m->w[i];
    if (w->state == W_TRAVEL) {
      double f = (double)(m->now - w->depart) /
                 (double)(w->arrive > w->depart ? w->arrive - w->depart : 1);
      if (f > 1)
        f = 1;
      place_worker(m, i, w->from_lat + f * (w->to_lat - w->from_lat),
                   w->from_lon + f * (w->to_lon - w->from_lon));
    } else if (idle_too && (w->state == W_IDLE || w->state == W_SERVE)) {
      place_worker(m, i, w->lat, w->lon);
    }
  }
}

static void handle(sim *m, const event *e) {
  switch (e->kind) {
  case EV_ARRIVE:
    submit(m, e->who);
    break;
  case EV_SHIFT_ON:
    shift_on(m, e->who);
    break;
  case EV_SHIFT_OFF:
    shift_off(m, e->who);
    break;
  case EV_ANSWER: {
    const char *rid = m->s->requests[e->what].id;
    const char *wid = m->s->workers[e->who].id;
    if (e->accept)
      cm_engine_accept(m->eng, rid, wid, m->now, NULL);
    else
      cm_engine_reject(m->eng, rid, wid, m->now, NULL);
    break;
  }
  case EV_REACH:
    reach(m, e->who, e->what);
    break;
  case EV_DONE:
    done(m, e->who);
    break;
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double quantile(double *v, int n, double q) {
  if (n == 0)
    return NAN;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  int i = (int)ceil(q * n) - 1;
  return v[i < 0 ? 0 : i];
}

static double gini(const wstate *w, int n) {
  double *x = malloc((size_t)n * sizeof *x), sum = 0, acc = 0;
  int k = 0;
  for (int i = 0; x && i < n; i++)
    x[k++] = w[i].jobs;
  if (!x || k == 0) {
    free(x);
    return NAN;
  }
  qsort(x, (size_t)k, sizeof *x, cmp_double);
  for (int i = 0; i < k; i++) {
    sum += x[i];
    acc += (2.0 * (i + 1) - k - 1) * x[i];
  }
  free(x);
  return sum > 0 ? acc / (k * sum) : 0;
}

void sim_kpis_free(sim_kpis *k) {
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    free(k->arrivals[u]);
    k->arrivals[u] = NULL;
  }
}

void sim_policy_default(sim_policy *p, const char *name, double budget_ms) {
  memset(p, 0, sizeof *p);
  p->name = name;
  p->budget_ms = budget_ms;
  cm_weights_default(&p->weights);
  p->window_ms = 300;
}

static void kpis(sim *m, const cm_engine_stats *st) {
  sim_kpis *k = m->k;
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    k->offer_p50[u] = quantile(m->offer_min[u], m->n_offer[u], 0.5);
    k->offer_p95[u] = quantile(m->offer_min[u], m->n_offer[u], 0.95);
    k->offer_p99[u] = quantile(m->offer_min[u], m->n_offer[u], 0.99);
    k->arrive_p50[u] = quantile(m->arrive_min[u], m->n_arrive[u], 0.5);
    k->arrive_p95[u] = quantile(m->arrive_min[u], m->n_arrive[u], 0.95);
    k->arrive_p99[u] = quantile(m->arrive_min[u], m->n_arrive[u], 0.99);
    k->arrived[u] = m->n_arrive[u];
    k->arrivals[u] =
        malloc((size_t)(m->n_arrive[u] ? m->n_arrive[u] : 1) * sizeof(double));
    if (k->arrivals[u]) /* sorted by quantile() above */
      memcpy(k->arrivals[u], m->arrive_min[u],
             (size_t)m->n_arrive[u] * sizeof(double));
  }
  for (int h = 0; h < 24; h++)
    if (k->hour_requests[h])
      k->hour_offer_wait[h] /= k->hour_requests[h];
  for (int q = 0; q < m->s->n_requests; q++) {
    const rstate *r = &m->r[q];
    const sim_service *sv = &m->s->services[m->s->requests[q].service];
    k->unassigned += r->arrived < 0;
    if (sv->staff > 1) {
      k->teams_staffed += r->arrived >= 0;
      k->teams_half += r->arrived < 0 && r->reached > 0;
    }
  }
  for (int i = 0; i < m->s->n_workers; i++)
    k->travel_km += m->w[i].km;
  k->travel_per_job = k->done ? k->travel_km / k->done : 0;
  k->gini = gini(m->w, m->s->n_workers);
  k->continuity = k->done ? (double)m->continuity_hits / k->done : 0;
  k->batch_p50_ms = cm_histogram_quantile(&st->batch_ms, 0.5);
  k->batch_p99_ms = cm_histogram_quantile(&st->batch_ms, 0.99);
  k->batch_max_ms = st->batch_ms.max;
  k->batches = st->batches;
  k->fallbacks = st->fallbacks;
}

int sim_run(const sim_scenario *s, const sim_policy *p, sim_kpis *out,
            void (*progress)(double done, void *ctx), void *ctx, char *msg,
            size_t n) {
  sim m;
  memset(&m, 0, sizeof m);
  memset(out, 0, sizeof *out);
  snprintf(out->policy, sizeof out->policy, "%s", p->name);
  m.s = s;
  m.k = out;
  m.rng = s->seed * 2654435761ULL + 1;
  double t0 = cm_bench_now_ms();
  cm_engine_config cfg;
  cm_engine_config_default(&cfg);
  cfg.weights = p->weights;
  cfg.batch_window_ms = p->window_ms;
  cfg.solve_budget_ms = p->budget_ms;
  cfg.clock = cm_bench_clock;
  cfg.offer_ttl_ms = (int64_t)(s->response_s_max * 1000) + 30000;
  cfg.params.road_factor = s->road_factor;
  cfg.event_queue = 1 << 16;
  if (p->no_reserve)
    cfg.reserve_workers = 0;
  cm_error err;
  m.store = cm_store_memory_new(0);
  m.eng = m.store ? cm_engine_new(&cfg, m.store, &err) : NULL;
  m.w = calloc((size_t)s->n_workers, sizeof *m.w);
  m.r = calloc((size_t)s->n_requests, sizeof *m.r);
  int rc = m.eng && m.w && m.r ? 0 : -1;
  for (int u = 0; rc == 0 && u < CM_URGENCY_COUNT; u++) {
    m.offer_min[u] = malloc((size_t)s->n_requests * sizeof(double));
    m.arrive_min[u] = malloc((size_t)s->n_requests * sizeof(double));
    if (!m.offer_min[u] || !m.arrive_min[u])
      rc = -1;
  }
  if (rc != 0) {
    snprintf(msg, n, "%s", m.eng ? "out of memory" : err.message);
    goto out;
  }
  for (int q = 0; q < s->n_requests; q++) {
    m.r[q].first_offer = -1;
    m.r[q].arrived = -1;
    event e = {s->requests[q].at_ms, EV_ARRIVE, q, 0, 0, 0};
    push(&m.h, e);
  }
  for (int i = 0; i < s->n_workers; i++) {
    const sim_worker *w = &s->workers[i];
    event on = {(int64_t)w->shift_start_min * 60000, EV_SHIFT_ON, i, 0, 0, 0};
    event off = {(int64_t)w->shift_end_min * 60000, EV_SHIFT_OFF, i, 0, 0, 0};
    push(&m.h, on);
    push(&m.h, off);
  }
  int64_t tick_ms = (int64_t)s->report_s * 1000, next_tick = tick_ms;
  int64_t end = DAY_MS + DRAIN_MS, last_progress = 0;
  while (m.now < end) {
    int64_t t = end;
    if (m.h.n > 0 && m.h.v[0].at < t)
      t = m.h.v[0].at;
    int64_t due = cm_engine_next_due(m.eng);
    if (due < t)
      t = due;
    if (next_tick < t)
      t = next_tick;
    if (t < m.now)
      t = m.now;
    m.now = t;
    while (m.h.n > 0 && m.h.v[0].at <= m.now) {
      event e = pop(&m.h);
      handle(&m, &e);
    }
    if (m.now >= next_tick) {
      report(&m, next_tick);
      next_tick += tick_ms;
    }
    pump(&m);
    if (cm_engine_next_due(m.eng) <= m.now) {
      cm_engine_step(m.eng, m.now, NULL);
      pump(&m);
    }
    if (progress && m.now - last_progress >= 600000) {
      last_progress = m.now;
      progress((double)m.now / (double)end, ctx);
    }
  }
  cm_engine_stats st;
  cm_engine_stats_get(m.eng, &st);
  kpis(&m, &st);
  unsigned char *served = malloc((size_t)s->n_requests);
  if (served) {
    for (int q = 0; q < s->n_requests; q++)
      served[q] = (unsigned char)m.r[q].done;
    char fmsg[128];
    out->floor_km = sim_floor_km(s, served, fmsg, sizeof fmsg);
    free(served);
  }
  out->wall_s = (cm_bench_now_ms() - t0) / 1000.0;
out:
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    free(m.offer_min[u]);
    free(m.arrive_min[u]);
  }
  free(m.h.v);
  free(m.w);
  free(m.r);
  cm_engine_free(m.eng);
  cm_store_free(m.store);
  return rc;
}
