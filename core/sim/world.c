/* world.c -- the simulated city apart from its dispatcher (sim_world.h).
 *
 * Discrete events on a simulated clock, in milliseconds after midnight:
 * requests arrive; shifts start (the worker comes on at home) and end
 * (off at once when idle, else after the job); an offer is answered after
 * a few seconds (accepted with the scenario's probability); once every
 * member accepted they travel (great circle x road factor at their speed),
 * serve for the service's duration once all are there, and the job is
 * completed. An idle worker follows a standby suggestion (CM_EV_STANDBY):
 * travels there (its km counted) and waits. A worker on her way who takes
 * an emergency instead (CM_EV_DIVERTED, then its accept) turns there from
 * where she is: the km to her first job count as far as she went, and
 * that job waits for another offer. A worker at a visit who takes an
 * emergency instead (CM_EV_INTERRUPTED, then its accept) leaves at once:
 * the visit waits for another offer and keeps the service time it has
 * left (the next worker finishes it, she does not start it again). Staff
 * report positions every
 * report_s while moving and every minute while idle. The dispatcher sees only
 * what a daemon would: requests, positions, shifts, answers, completions. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/sim_world.h"

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
  int came_on;   /* was on shift in the run */
  int going_off; /* shift over: off after the job */
  int standby;   /* idle, on its way to a suggested standby place */
  int job;       /* travelling: to this request */
  int at;        /* serving: this request */
  int trip;      /* set-offs so far: a reach event of an earlier one is
                    void (the worker was diverted) */
  double lat, lon;
  double from_lat, from_lon, to_lat, to_lon;
  int64_t depart, arrive;
  int jobs;
  double km;
  int64_t busy_from;        /* set off for the current job */
  int64_t busy_ms, over_ms; /* travelling or at jobs; past the shift */
  int n_elders;
  int elders[MAX_ELDERS_KEPT]; /* request indexes of elders served */
} wstate;

typedef struct rstate {
  int64_t first_offer; /* -1 none */
  int members[CM_MAX_STAFF];
  int n_members;
  int reached;
  int64_t arrived;  /* -1 until every member is there */
  int64_t accepted; /* -1 until every member accepted */
  int done;
  int submitted;   /* arrived in the run's window */
  int set_off;     /* its staff accepted and set off */
  int diverted;    /* its worker was diverted on the way (the last time) */
  int64_t eta;     /* then: when she would have arrived */
  int serve;       /* visits begun: an EV_DONE of an earlier one is void (its
                      worker was called away) */
  int64_t done_at; /* the service's end, once begun */
  int64_t left_ms; /* interrupted: the service time left; -1 none */
  int64_t interrupted; /* when it was last interrupted; -1 never */
  int near;            /* cm_sim_near at its call */
} rstate;

struct cm_sim_world {
  const cm_sim_scenario *s;
  cm_sim_port port;
  int64_t from, until; /* requests arriving in [from, until) */
  int64_t next_tick;   /* the next position report */
  heap h;
  wstate *w;
  rstate *r;
  uint64_t rng;
  int64_t now;
  double *offer_min[CM_URGENCY_COUNT], *arrive_min[CM_URGENCY_COUNT];
  int n_offer[CM_URGENCY_COUNT], n_arrive[CM_URGENCY_COUNT];
  cm_sim_kpis *k;
  int continuity_hits;
  int submitted, offered, n_done; /* live display */
  unsigned char *served;          /* by request */
};

typedef struct cm_sim_world sim;

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
  m->port.position(m->port.ctx, i, lat, lon, m->now);
}

static void shift_on(sim *m, int i) {
  const cm_sim_worker *sw = &m->s->workers[i];
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
  w->came_on = 1;
  w->going_off = 0;
  m->port.upsert(m->port.ctx, i, &cw, m->now);
}

/* Place worker i where she is now on her way from (from_lat, from_lon)
 * to (to_lat, to_lon), left at depart, there at arrive. Returns the share
 * of the way behind her (0..1). */
static double place_on_way(sim *m, int i) {
  const wstate *w = &m->w[i];
  double f = (double)(m->now - w->depart) /
             (double)(w->arrive > w->depart ? w->arrive - w->depart : 1);
  if (f > 1)
    f = 1;
  place_worker(m, i, w->from_lat + f * (w->to_lat - w->from_lat),
               w->from_lon + f * (w->to_lon - w->from_lon));
  return f;
}

/* Where worker i, on its way to a standby place, is now (a share f of
 * the way); with stop, it stops there and the km so far are counted. */
static void standby_at(sim *m, int i, int stop) {
  wstate *w = &m->w[i];
  if (!w->standby)
    return;
  double f = place_on_way(m, i);
  if (stop || f >= 1) {
    w->km += km_between(m, w->from_lat, w->from_lon, w->lat, w->lon);
    w->standby = 0;
  }
}

/* A standby suggestion (CM_EV_STANDBY): an idle worker on shift sets off
 * for the place at once, as the platform passes it on, and waits there;
 * an offer on the way starts from where it is. */
static void standby_go(sim *m, int i, double lat, double lon) {
  wstate *w = &m->w[i];
  if (w->state != W_IDLE || w->going_off)
    return;
  standby_at(m, i, 1);
  double km = km_between(m, w->lat, w->lon, lat, lon);
  w->standby = 1;
  w->from_lat = w->lat;
  w->from_lon = w->lon;
  w->to_lat = lat;
  w->to_lon = lon;
  w->depart = m->now;
  w->arrive = m->now + (int64_t)(km / m->s->workers[i].speed_kmh * 3600000);
}

static void shift_off(sim *m, int i) {
  wstate *w = &m->w[i];
  standby_at(m, i, 1);
  if (w->state == W_TRAVEL || w->state == W_SERVE) {
    w->going_off = 1;
    return;
  }
  w->state = W_OFF;
  m->port.shift_off(m->port.ctx, i, m->now);
}

/* Every member accepted: they set off. */
static void set_off(sim *m, int q) {
  rstate *r = &m->r[q];
  const cm_sim_request *rq = &m->s->requests[q];
  r->set_off = 1;
  for (int k = 0; k < r->n_members; k++) {
    int i = r->members[k];
    wstate *w = &m->w[i];
    standby_at(m, i, 1); /* from where it is */
    double km = km_between(m, w->lat, w->lon, rq->lat, rq->lon);
    if (w->state != W_TRAVEL) /* diverted: busy since her first set-off */
      w->busy_from = m->now;
    w->state = W_TRAVEL;
    w->job = q;
    w->trip++;
    w->from_lat = w->lat;
    w->from_lon = w->lon;
    w->to_lat = rq->lat;
    w->to_lon = rq->lon;
    w->depart = m->now;
    w->arrive = m->now + (int64_t)(km / m->s->workers[i].speed_kmh * 3600000);
    w->km += km;
    event e = {w->arrive, EV_REACH, i, q, w->trip, 0};
    push(&m->h, e);
  }
}

/* Worker i, on her way to request q, is diverted (CM_EV_DIVERTED): she
 * stops where she is (the km not driven are taken back) and q waits for
 * another offer; her emergency's accept sets her off again from there. */
static void diverted(sim *m, int q, int i) {
  wstate *w = &m->w[i];
  rstate *r = &m->r[q];
  if (w->state != W_TRAVEL || w->job != q)
    return;
  place_on_way(m, i);
  w->km -= km_between(m, w->lat, w->lon, w->to_lat, w->to_lon);
  w->job = -1;
  r->diverted = 1;
  r->eta = w->arrive;
  r->set_off = 0;
  r->accepted = -1;
  r->reached = 0;
  r->n_members = 0;
  m->k->diverted++;
}

/* Worker i, at visit q, is called away (CM_EV_INTERRUPTED): the visit's
 * end is void, it keeps the service time left and waits for another
 * offer; her emergency's accept sets her off from there. */
static void interrupted(sim *m, int q, int i) {
  wstate *w = &m->w[i];
  rstate *r = &m->r[q];
  if (w->state != W_SERVE || r->n_members != 1 || r->members[0] != i || r->done)
    return;
  const cm_sim_service *sv = &m->s->services[m->s->requests[q].service];
  int64_t full = (int64_t)(sv->duration_min * 60000);
  int64_t left = r->done_at - m->now;
  r->left_ms = left < 0 ? 0 : left > full ? full : left;
  r->serve++;
  r->interrupted = m->now;
  r->set_off = 0;
  r->reached = 0;
  r->n_members = 0;
  w->state = W_TRAVEL; /* busy since her first set-off, as a diverted one */
  w->job = -1;
  w->from_lat = w->to_lat = w->lat;
  w->from_lon = w->to_lon = w->lon;
  w->depart = w->arrive = m->now;
  m->k->interrupted++;
}

void cm_sim_world_event(sim *m, const cm_event *ev, int64_t now) {
  if (ev->type == CM_EV_STANDBY) {
    int i = worker_index(ev->worker);
    m->now = now;
    if (i >= 0 && i < m->s->n_workers)
      standby_go(m, i, ev->lat, ev->lon);
    return;
  }
  int q = request_index(ev->request);
  if (q < 0 || q >= m->s->n_requests || !m->r[q].submitted)
    return; /* not this run's */
  m->now = now;
  rstate *r = &m->r[q];
  const cm_sim_service *sv = &m->s->services[m->s->requests[q].service];
  if (ev->type == CM_EV_OFFERED) {
    if (r->first_offer < 0) {
      r->first_offer = m->now;
      m->offered++;
      double min = (double)(m->now - m->s->requests[q].at_ms) / 60000.0;
      m->offer_min[sv->urgency][m->n_offer[sv->urgency]++] = min;
      int h = (int)((m->s->requests[q].at_ms / 3600000) % 24);
      m->k->hour_offer_wait[h] += min; /* a mean once divided */
    }
    int i = worker_index(ev->worker);
    if (i < 0 || i >= m->s->n_workers)
      return;
    double delay = (2 + (m->s->response_s_max - 2) * unit(m)) * 1000;
    event e = {m->now + (int64_t)delay,     EV_ANSWER, i, q,
               unit(m) < m->s->accept_prob, 0};
    push(&m->h, e);
    if (ev->from == CM_REQ_PENDING)
      r->n_members = 0;
    if (r->n_members < CM_MAX_STAFF)
      r->members[r->n_members++] = i;
  } else if (ev->type == CM_EV_ACCEPTED && ev->to == CM_REQ_ACCEPTED) {
    if (r->accepted < 0)
      r->accepted = m->now;
    set_off(m, q);
  } else if (ev->type == CM_EV_DIVERTED) {
    int i = worker_index(ev->worker);
    if (i >= 0 && i < m->s->n_workers)
      diverted(m, q, i);
  } else if (ev->type == CM_EV_INTERRUPTED) {
    int i = worker_index(ev->worker);
    if (i >= 0 && i < m->s->n_workers)
      interrupted(m, q, i);
  } else if (ev->type == CM_EV_EXPIRED) {
    m->k->expired++;
  } else if (ev->type == CM_EV_REJECTED) {
    m->k->rejected++;
  }
}

/* Where worker i is now: on the road (travelling, or to a standby place)
 * between where she set off and where she is going, else where she is. */
static void where_now(const sim *m, int i, double *lat, double *lon) {
  const wstate *w = &m->w[i];
  *lat = w->lat;
  *lon = w->lon;
  if ((w->state == W_TRAVEL || w->standby) && w->arrive > w->depart) {
    double f = (double)(m->now - w->depart) / (double)(w->arrive - w->depart);
    f = f < 0 ? 0 : f > 1 ? 1 : f;
    *lat = w->from_lat + f * (w->to_lat - w->from_lat);
    *lon = w->from_lon + f * (w->to_lon - w->from_lon);
  }
}

/* Worker i's state as cm_sim_near (she is on shift). */
static int near_state(const sim *m, int i) {
  const wstate *w = &m->w[i];
  int job = w->state == W_TRAVEL ? w->job : w->state == W_SERVE ? w->at : -1;
  if (w->state == W_IDLE)
    return CM_SIM_NEAR_FREE;
  if (job < 0)
    return CM_SIM_NEAR_RELEASED;
  int u = m->s->services[m->s->requests[job].service].urgency;
  int k = u == CM_URGENCY_EMERGENCY ? 0 : u == CM_URGENCY_URGENT ? 1 : 2;
  return (w->state == W_TRAVEL ? CM_SIM_NEAR_TO_EMERGENCY
                               : CM_SIM_NEAR_AT_EMERGENCY) +
         k;
}

/* Request q at its call, over the workers on shift who could serve it (its
 * skills), in any state (free, on her way, at a visit): *reach is the
 * nearest one's cm_sim_near when she is within CM_SIM_FLOOR_MIN minutes'
 * drive, else CM_SIM_NEAR_NONE; returns the road km of the staff nearest
 * of them summed, or -1 when fewer are on shift. */
/* A worker holding has can be on a request of service sv: every listed
 * skill (all), or one of them (any). */
static int can_do(const cm_sim_service *sv, cm_skillset has) {
  return sv->mode == CM_SKILLS_ALL ? (has & sv->skills) == sv->skills
                                   : (has & sv->skills) != 0;
}

static double nearest_at_call(const sim *m, int q, int *reach) {
  const cm_sim_request *rq = &m->s->requests[q];
  const cm_sim_service *sv = &m->s->services[rq->service];
  double best[CM_MAX_STAFF];
  int n = 0, staff = sv->staff < 1              ? 1
                     : sv->staff > CM_MAX_STAFF ? CM_MAX_STAFF
                                                : sv->staff;
  double reach_min = HUGE_VAL;
  *reach = CM_SIM_NEAR_NONE;
  for (int i = 0; i < m->s->n_workers; i++) {
    if (m->w[i].state == W_OFF || !can_do(sv, m->s->workers[i].skills))
      continue;
    double lat, lon;
    where_now(m, i, &lat, &lon);
    double km = km_between(m, lat, lon, rq->lat, rq->lon);
    double min = km / m->s->workers[i].speed_kmh * 60.0;
    if (min <= CM_SIM_FLOOR_MIN && min < reach_min) {
      reach_min = min;
      *reach = near_state(m, i);
    }
    int at = n < staff ? n++ : staff; /* insert, keeping the staff least */
    while (at > 0 && best[at - 1] > km) {
      if (at < staff)
        best[at] = best[at - 1];
      at--;
    }
    if (at < staff)
      best[at] = km;
  }
  double sum = 0;
  for (int j = 0; j < n; j++)
    sum += best[j];
  return n < staff ? -1 : sum;
}

static void submit(sim *m, int q) {
  const cm_sim_request *rq = &m->s->requests[q];
  const cm_sim_service *sv = &m->s->services[rq->service];
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
  int reach;
  double near_km = nearest_at_call(m, q, &reach);
  m->r[q].near = reach;
  if (sv->urgency == CM_URGENCY_EMERGENCY && reach == CM_SIM_NEAR_NONE)
    m->k->emergency_unreachable++;
  if (near_km >= 0) {
    m->k->nearest_km += near_km;
    m->k->nearest_n++;
  }
  m->k->hour_requests[(rq->at_ms / 3600000) % 24]++;
  m->k->teams += sv->staff > 1;
  m->r[q].submitted = 1;
  m->submitted++;
  m->port.submit(m->port.ctx, q, &s, m->now);
}

static void reach(sim *m, int i, int q, int trip) {
  wstate *w = &m->w[i];
  rstate *r = &m->r[q];
  const cm_sim_request *rq = &m->s->requests[q];
  if (w->state != W_TRAVEL || w->job != q || w->trip != trip)
    return; /* she was diverted on the way */
  w->job = -1;
  w->at = q;
  w->state = W_SERVE;
  place_worker(m, i, rq->lat, rq->lon);
  if (m->port.arrived)
    m->port.arrived(m->port.ctx, q, i, m->now);
  if (++r->reached < r->n_members)
    return;
  if (r->interrupted >= 0 && r->left_ms >= 0) { /* resumed: the rest */
    m->k->interrupt_resumed++;
    m->k->interrupt_delay_min += (double)(m->now - r->interrupted) / 60000.0;
    r->done_at = m->now + r->left_ms;
    r->left_ms = -1;
    event e = {r->done_at, EV_DONE, q, r->serve, 0, 0};
    push(&m->h, e);
    return;
  }
  r->arrived = m->now;
  if (r->diverted) {
    m->k->divert_reached++;
    m->k->divert_delay_min += (double)(m->now - r->eta) / 60000.0;
  }
  const cm_sim_service *sv = &m->s->services[rq->service];
  /* scheduled: from the window's start; the rest from the call */
  int64_t base = rq->window_start_ms > 0 ? rq->window_start_ms : rq->at_ms;
  double min = (double)(m->now - base) / 60000.0;
  m->arrive_min[sv->urgency][m->n_arrive[sv->urgency]++] = min < 0 ? 0 : min;
  int64_t start = m->now;
  if (rq->window_start_ms > start)
    start = rq->window_start_ms; /* early: they wait for the window */
  r->done_at = start + (int64_t)(sv->duration_min * 60000);
  event e = {r->done_at, EV_DONE, q, r->serve, 0, 0};
  push(&m->h, e);
}

static void done(sim *m, int q) {
  rstate *r = &m->r[q];
  const cm_sim_request *rq = &m->s->requests[q];
  if (m->port.complete(m->port.ctx, q, m->now) != 0)
    return;
  r->done = 1;
  m->served[q] = 1;
  m->n_done++;
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
    w->busy_ms += m->now - w->busy_from;
    int64_t end = (int64_t)m->s->workers[r->members[k]].shift_end_min * 60000;
    int64_t from = w->busy_from > end ? w->busy_from : end;
    if (m->now > from)
      w->over_ms += m->now - from;
    if (w->going_off)
      shift_off(m, r->members[k]);
  }
}

/* Positions: moving staff every report_s, idle staff every minute. */
static void report(sim *m, int64_t tick) {
  int idle_too = tick % 60000 == 0;
  if (tick % 3600000 == 0 && tick < CM_SIM_DAY_MS) {
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
      place_on_way(m, i);
    } else if (w->state == W_IDLE && w->standby) {
      standby_at(m, i, 0);
    } else if (idle_too && (w->state == W_IDLE || w->state == W_SERVE)) {
      place_worker(m, i, w->lat, w->lon);
    }
  }
  if (m->port.positions_done)
    m->port.positions_done(m->port.ctx, m->now);
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
  case EV_ANSWER:
    m->port.answer(m->port.ctx, e->what, e->who, e->accept, m->now);
    break;
  case EV_REACH:
    reach(m, e->who, e->what, e->accept);
    break;
  case EV_DONE:
    if (e->what == m->r[e->who].serve) /* not a visit broken off */
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
    if (w[i].came_on)
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

/* A member of request q's team is still travelling to it (the run ended
 * before the team was complete: not half-staffed, in flight). */
static int on_way(const sim *m, int q) {
  const rstate *r = &m->r[q];
  const cm_sim_request *rq = &m->s->requests[q];
  for (int k = 0; k < r->n_members; k++) {
    const wstate *w = &m->w[r->members[k]];
    if (w->state == W_TRAVEL && w->to_lat == rq->lat && w->to_lon == rq->lon)
      return 1;
  }
  return 0;
}

/* The cell of (lat, lon) in a 3 x 3 grid over box (min lat, min lon, max
 * lat, max lon). */
static int area_of(const double *box, double lat, double lon) {
  int r = box[2] > box[0] ? (int)(3 * (lat - box[0]) / (box[2] - box[0])) : 0;
  int c = box[3] > box[1] ? (int)(3 * (lon - box[1]) / (box[3] - box[1])) : 0;
  r = r < 0 ? 0 : r > 2 ? 2 : r;
  c = c < 0 ? 0 : c > 2 ? 2 : c;
  return r * 3 + c;
}

/* Worker i's shift hours inside the run's part of the day. */
static double shift_hours(const sim *m, int i) {
  int64_t on = (int64_t)m->s->workers[i].shift_start_min * 60000;
  int64_t off = (int64_t)m->s->workers[i].shift_end_min * 60000;
  on = on > m->from ? on : m->from;
  off = off < m->until ? off : m->until;
  return off > on ? (double)(off - on) / 3600000.0 : 0;
}

/* The day's services into m->k: names, the hours on site asked by the
 * requests submitted, the shift hours (inside the run's part of the day)
 * of the staff able to do each. */
static void services(sim *m) {
  cm_sim_kpis *k = m->k;
  const cm_sim_scenario *s = m->s;
  k->n_services =
      s->n_services < CM_SIM_SERVICES_MAX ? s->n_services : CM_SIM_SERVICES_MAX;
  for (int v = 0; v < k->n_services; v++) {
    const cm_sim_service *sv = &s->services[v];
    snprintf(k->service_name[v], sizeof k->service_name[v], "%s", sv->name);
    for (int i = 0; i < s->n_workers; i++)
      if (can_do(sv, s->workers[i].skills))
        k->service_capable_h[v] += shift_hours(m, i);
  }
  for (int q = 0; q < s->n_requests; q++)
    if (m->r[q].submitted && s->requests[q].service < k->n_services) {
      const cm_sim_service *sv = &s->services[s->requests[q].service];
      k->service_onsite_h[s->requests[q].service] +=
          sv->duration_min * sv->staff / 60.0;
    }
}

/* Every request submitted and every worker, as they ended (the honest
 * KPIs, stats.c). Left NULL out of memory. */
static void outcomes(sim *m) {
  cm_sim_kpis *k = m->k;
  const cm_sim_scenario *s = m->s;
  double box[4] = {INFINITY, INFINITY, -INFINITY, -INFINITY};
  for (int q = 0; q < s->n_requests; q++) {
    const cm_sim_request *rq = &s->requests[q];
    box[0] = fmin(box[0], rq->lat);
    box[1] = fmin(box[1], rq->lon);
    box[2] = fmax(box[2], rq->lat);
    box[3] = fmax(box[3], rq->lon);
  }
  k->outcomes = malloc(((size_t)m->submitted + 1) * sizeof *k->outcomes);
  for (int q = 0; k->outcomes && q < s->n_requests; q++) {
    const rstate *r = &m->r[q];
    const cm_sim_request *rq = &s->requests[q];
    if (!r->submitted)
      continue;
    cm_sim_outcome *o = &k->outcomes[k->n_outcomes++];
    int64_t base = rq->window_start_ms > 0 ? rq->window_start_ms : rq->at_ms;
    o->urgency = s->services[rq->service].urgency;
    o->area = area_of(box, rq->lat, rq->lon);
    o->near = r->near;
    o->service = rq->service;
    o->arrive_min = r->arrived < 0      ? INFINITY
                    : r->arrived > base ? (double)(r->arrived - base) / 60000.0
                                        : 0;
    o->accept_min = r->accepted < 0
                        ? INFINITY
                        : (double)(r->accepted - rq->at_ms) / 60000.0;
  }
  services(m);
  k->worker_days = calloc((size_t)s->n_workers + 1, sizeof *k->worker_days);
  for (int i = 0; k->worker_days && i < s->n_workers; i++) {
    const wstate *w = &m->w[i];
    cm_sim_worker_day *d = &k->worker_days[k->n_worker_days++];
    d->on_shift = w->came_on;
    d->jobs = w->jobs;
    d->km = w->km;
    d->busy_h = (double)w->busy_ms / 3600000.0;
    d->overtime_min = (double)w->over_ms / 60000.0;
  }
  k->served = malloc((size_t)s->n_requests + 1);
  if (k->served)
    memcpy(k->served, m->served, (size_t)s->n_requests);
}

void cm_sim_world_finish(sim *m) {
  cm_sim_kpis *k = m->k;
  outcomes(m);
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
    const cm_sim_service *sv = &m->s->services[m->s->requests[q].service];
    if (!r->submitted)
      continue;
    k->divert_unserved += r->diverted && !r->done;
    k->interrupt_unserved += r->interrupted >= 0 && !r->done;
    if (!r->done && r->set_off)
      k->in_flight++; /* on the way or on site when the run ended */
    else if (!r->done)
      k->unassigned++;
    if (sv->staff > 1) {
      k->teams_staffed += r->arrived >= 0;
      k->teams_half += r->arrived < 0 && r->reached > 0 && !on_way(m, q);
    }
  }
  for (int i = 0; i < m->s->n_workers; i++)
    k->travel_km += m->w[i].km;
  k->travel_per_job = k->done ? k->travel_km / k->done : 0;
  k->gini = gini(m->w, m->s->n_workers);
  k->continuity = k->done ? (double)m->continuity_hits / k->done : 0;
  /* the longest wait to a job's start, by urgency (the capped floor) */
  for (int q = 0; q < m->s->n_requests; q++) {
    const cm_sim_request *rq = &m->s->requests[q];
    if (!m->r[q].done)
      continue;
    int64_t base =
        rq->window_start_ms > rq->at_ms ? rq->window_start_ms : rq->at_ms;
    int64_t start = m->r[q].arrived > base ? m->r[q].arrived : base;
    double wait = (double)(start - base) / 60000.0;
    int u = m->s->services[rq->service].urgency;
    if (wait > k->max_wait[u])
      k->max_wait[u] = wait;
  }
}

cm_sim_world *cm_sim_world_new(const cm_sim_scenario *s,
                               const cm_sim_port *port, int64_t from_ms,
                               int64_t until_ms, cm_sim_kpis *out) {
  sim *m = calloc(1, sizeof *m);
  if (!m)
    return NULL;
  memset(out, 0, sizeof *out);
  m->s = s;
  m->port = *port;
  m->k = out;
  m->from = from_ms;
  m->until = until_ms;
  m->now = from_ms;
  m->rng = cm_sim_stream_seed(s->seed, 3) | 1; /* xorshift: never 0 */
  m->w = calloc((size_t)s->n_workers, sizeof *m->w);
  m->r = calloc((size_t)s->n_requests, sizeof *m->r);
  m->served = calloc((size_t)s->n_requests + 1, 1);
  int ok = m->w && m->r && m->served;
  for (int u = 0; ok && u < CM_URGENCY_COUNT; u++) {
    m->offer_min[u] = malloc(((size_t)s->n_requests + 1) * sizeof(double));
    m->arrive_min[u] = malloc(((size_t)s->n_requests + 1) * sizeof(double));
    ok = m->offer_min[u] && m->arrive_min[u];
  }
  for (int q = 0; ok && q < s->n_requests; q++) {
    m->r[q].first_offer = -1;
    m->r[q].arrived = -1;
    m->r[q].accepted = -1;
    m->r[q].left_ms = -1;
    m->r[q].interrupted = -1;
    int64_t at = s->requests[q].at_ms;
    event e = {at, EV_ARRIVE, q, 0, 0, 0};
    if (at >= from_ms && at < until_ms)
      ok = push(&m->h, e) == 0;
  }
  for (int i = 0; ok && i < s->n_workers; i++) {
    const cm_sim_worker *sw = &s->workers[i];
    int64_t on_at = (int64_t)sw->shift_start_min * 60000;
    int64_t off_at = (int64_t)sw->shift_end_min * 60000;
    if (off_at <= from_ms || on_at >= until_ms)
      continue; /* not on shift in the window */
    event on = {on_at > from_ms ? on_at : from_ms, EV_SHIFT_ON, i, 0, 0, 0};
    event off = {off_at, EV_SHIFT_OFF, i, 0, 0, 0};
    ok = push(&m->h, on) == 0 && push(&m->h, off) == 0;
  }
  int64_t tick = (int64_t)s->report_s * 1000;
  m->next_tick = (from_ms + tick - 1) / tick * tick; /* from on: its hour */
  if (!ok) {
    cm_sim_world_free(m);
    return NULL;
  }
  return m;
}

void cm_sim_world_free(sim *m) {
  if (!m)
    return;
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    free(m->offer_min[u]);
    free(m->arrive_min[u]);
  }
  free(m->h.v);
  free(m->w);
  free(m->r);
  free(m->served);
  free(m);
}

int64_t cm_sim_world_next(const sim *m) {
  int64_t t = m->next_tick;
  if (m->h.n > 0 && m->h.v[0].at < t)
    t = m->h.v[0].at;
  return t;
}

void cm_sim_world_advance(sim *m, int64_t t) {
  for (;;) {
    int64_t e_at = m->h.n > 0 ? m->h.v[0].at : INT64_MAX;
    if (e_at <= t && e_at <= m->next_tick) {
      event e = pop(&m->h);
      if (e.at > m->now)
        m->now = e.at;
      handle(m, &e);
    } else if (m->next_tick <= t) {
      if (m->next_tick > m->now)
        m->now = m->next_tick;
      report(m, m->next_tick);
      m->next_tick += (int64_t)m->s->report_s * 1000;
    } else {
      break;
    }
  }
  if (t > m->now)
    m->now = t;
}

void cm_sim_world_progress(const sim *m, int *submitted, int *offered,
                           int *done) {
  *submitted = m->submitted;
  *offered = m->offered;
  *done = m->n_done;
}

int cm_sim_world_idle(const sim *m) {
  for (int i = 0; i < m->s->n_workers; i++)
    if (m->w[i].state == W_TRAVEL || m->w[i].state == W_SERVE)
      return 0;
  for (int q = 0; q < m->s->n_requests; q++)
    if (m->r[q].submitted && !m->r[q].done && m->r[q].first_offer >= 0)
      return 0;
  return 1;
}

void cm_sim_world_each_open(const sim *m, void (*fn)(void *ctx, int request),
                            void *ctx) {
  for (int q = 0; q < m->s->n_requests; q++)
    if (m->r[q].submitted && !m->r[q].done)
      fn(ctx, q);
}

const unsigned char *cm_sim_world_served(const sim *m) {
  return m->served;
}

double cm_sim_world_arrive_quantile(sim *m, int u, double q) {
  int n = m->n_arrive[u];
  double *v = n > 0 ? malloc((size_t)n * sizeof *v) : NULL;
  if (!v)
    return NAN;
  memcpy(v, m->arrive_min[u], (size_t)n * sizeof *v);
  double r = quantile(v, n, q);
  free(v);
  return r;
}
