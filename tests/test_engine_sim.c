/* test_engine_sim.c -- a deterministic simulation of the engine on the test
 * clock: hundreds of workers, thousands of requests, random accepts,
 * rejects, cancels, expiries, completions and shift changes, and a few
 * requests awaiting an operator's confirmation (confirmed, dismissed or
 * left until their hold lapses), and diversions (a worker on her way to
 * normal work offered an emergency). After every step it checks the
 * invariants a dispatch platform relies on; a soft-held worker is never
 * offered other work while held; a worker never holds more jobs than her
 * capacity, an open diversion offer aside (her accept gives one back). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/engine.h"
#include "rng.h"

#define N_WORKERS 300
#define N_REQUESTS 3000
#define STEP_MS 100
#define MAX_SEEN 8192

/* What the test knows of each request, from its own calls and events. */
typedef struct shadow {
  char id[CM_ID_MAX];
  cm_request_spec spec;
  cm_request_state state; /* from events */
  int n_banned;           /* workers never to be offered again */
  char banned[32][CM_ID_MAX];
  int64_t accepted_at;
  int arrived;           /* arrivals since it was last taken from its workers */
  int64_t decided_offer; /* offered_ms of the offer already decided */
  int ignore;            /* this offer is left to lapse */
  char hold[CM_ID_MAX];  /* awaiting: its soft-held worker ("" none) */
  int64_t hold_until;
} shadow;

typedef struct sim {
  cm_store *store;
  cm_engine *eng;
  cm_check_rng g;
  shadow *req;
  int n_req;
  cm_worker workers[N_WORKERS];
  int on_shift[N_WORKERS];
  long seen[CM_EV_TYPE_COUNT]; /* events by type */
} sim;

static int find_req(const sim *s, const char *id) {
  int i = atoi(id + 1);
  return i >= 0 && i < s->n_req && !strcmp(s->req[i].id, id) ? i : -1;
}

static int find_worker(const char *id) {
  return atoi(id + 1);
}

static void ban(shadow *r, const char *w) {
  if (r->n_banned < 32)
    snprintf(r->banned[r->n_banned++], CM_ID_MAX, "%s", w);
}

static int banned(const shadow *r, const char *w) {
  for (int i = 0; i < r->n_banned; i++)
    if (!strcmp(r->banned[i], w))
      return 1;
  return 0;
}

static void unban(shadow *r, const char *w) {
  for (int i = 0; i < r->n_banned; i++)
    if (!strcmp(r->banned[i], w))
      r->banned[i][0] = '\0';
}

static int eligible(const cm_worker *w, const cm_request_spec *sp) {
  if (sp->skill_mode == CM_SKILLS_ALL && sp->staff == 1)
    return (w->skills & sp->skills) == sp->skills;
  return (w->skills & sp->skills) != 0;
}

/* Drain events: they drive the shadow states and are checked. */
static void drain(sim *s) {
  cm_event ev[512];
  int n;
  while ((n = cm_engine_poll(s->eng, ev, 512)) > 0)
    for (int i = 0; i < n; i++) {
      if (ev[i].type == CM_EV_STANDBY) { /* a worker's, no request */
        cr_assert_str_eq(ev[i].request, "");
        cr_assert_neq(ev[i].worker[0], '\0', "a standby names its worker");
        s->seen[ev[i].type]++;
        continue;
      }
      int r = find_req(s, ev[i].request);
      cr_assert_geq(r, 0, "event for unknown request %s", ev[i].request);
      shadow *sh = &s->req[r];
      s->seen[ev[i].type]++;
      cr_assert_eq(ev[i].from, sh->state, "%s: event %s from %s, shadow %s",
                   sh->id, cm_event_type_name(ev[i].type),
                   cm_request_state_name(ev[i].from),
                   cm_request_state_name(sh->state));
      if (ev[i].type == CM_EV_OFFERED)
        for (int k = 0; k < s->n_req; k++) /* no other work while held */
          cr_assert(k == r || s->req[k].state != CM_REQ_AWAITING ||
                        s->req[k].hold_until <= ev[i].at_ms ||
                        strcmp(s->req[k].hold, ev[i].worker),
                    "%s offered %s, held for %s", sh->id, ev[i].worker,
                    s->req[k].id);
      if (ev[i].type == CM_EV_HOLD_LAPSED)
        cr_assert(ev[i].from == CM_REQ_AWAITING &&
                      ev[i].to == CM_REQ_AWAITING &&
                      !strcmp(ev[i].worker, sh->hold) &&
                      ev[i].at_ms >= sh->hold_until,
                  "%s: hold lapsed wrongly", sh->id);
      if (ev[i].type == CM_EV_OFFERED) {
        cr_assert(!banned(sh, ev[i].worker), "%s offered to excluded %s",
                  sh->id, ev[i].worker);
        int w = find_worker(ev[i].worker);
        cr_assert(eligible(&s->workers[w], &sh->spec),
                  "%s offered to ineligible %s", sh->id, ev[i].worker);
        cr_assert(s->on_shift[w], "%s offered to off-shift %s", sh->id,
                  ev[i].worker);
      }
      if (ev[i].type == CM_EV_ESCALATED)
        cr_assert(ev[i].from == CM_REQ_PENDING && ev[i].to == CM_REQ_PENDING &&
                      !ev[i].worker[0],
                  "%s escalated while %s", sh->id,
                  cm_request_state_name(ev[i].from));
      if (ev[i].type == CM_EV_REJECTED || ev[i].type == CM_EV_EXPIRED)
        if (ev[i].worker[0])
          ban(sh, ev[i].worker);
      /* an operator's pin overrides a refusal; a reassignment without a
         worker named excludes the former one */
      if (ev[i].type == CM_EV_PINNED ||
          (ev[i].type == CM_EV_REASSIGNED && ev[i].to_worker[0]))
        unban(sh, ev[i].type == CM_EV_PINNED ? ev[i].worker : ev[i].to_worker);
      else if (ev[i].type == CM_EV_REASSIGNED)
        ban(sh, ev[i].worker);
      if (ev[i].type == CM_EV_REASSIGNED || ev[i].type == CM_EV_DIVERTED ||
          ev[i].type == CM_EV_INTERRUPTED)
        sh->arrived = 0; /* the next workers arrive anew */
      if (ev[i].type == CM_EV_DIVERTED || ev[i].type == CM_EV_INTERRUPTED)
        cr_assert(ev[i].from == CM_REQ_ACCEPTED && ev[i].to == CM_REQ_PENDING &&
                      ev[i].worker[0] && sh->spec.urgency >= CM_URGENCY_NORMAL,
                  "%s %s wrongly", sh->id, cm_event_type_name(ev[i].type));
      if (ev[i].type == CM_EV_ARRIVED) /* once, by an accepted member */
        cr_assert(ev[i].from == CM_REQ_ACCEPTED &&
                      ev[i].to == CM_REQ_ACCEPTED && ev[i].worker[0] &&
                      sh->arrived++ == 0,
                  "%s: arrival wrongly reported", sh->id);
      if (ev[i].type >= CM_EV_PINNED && ev[i].type <= CM_EV_REASSIGNED)
        cr_assert_str_eq(ev[i].actor, "ann", "%s: an operator's event",
                         cm_event_type_name(ev[i].type));
      sh->state = ev[i].to;
    }
}

/* Invariants after each step. */
static void check(sim *s) {
  static int jobs[N_WORKERS], diverting[N_WORKERS];
  memset(jobs, 0, sizeof jobs);
  memset(diverting, 0, sizeof diverting);
  int by_state[CM_REQ_STATE_COUNT] = {0};
  for (int i = 0; i < s->n_req; i++) {
    cm_request_view v;
    cm_error err;
    cr_assert_eq(cm_engine_request_get(s->eng, s->req[i].id, &v, &err), CM_OK,
                 "lost request %s", s->req[i].id);
    cr_assert_eq(v.state, s->req[i].state, "%s: engine %s, events say %s",
                 s->req[i].id, cm_request_state_name(v.state),
                 cm_request_state_name(s->req[i].state));
    by_state[v.state]++;
    if (v.state == CM_REQ_OFFERED || v.state == CM_REQ_ACCEPTED) {
      cr_assert_eq(v.n_workers, v.spec.staff, "team all or nothing");
      cm_skillset covered = 0;
      for (int k = 0; k < v.n_workers; k++) {
        int w = find_worker(v.workers[k]);
        jobs[w]++;
        diverting[w] += v.state == CM_REQ_OFFERED && v.divert_of[0] &&
                        v.divert_ms == v.offered_ms;
        covered |= s->workers[w].skills;
        for (int m = 0; m < k; m++)
          cr_assert_str_neq(v.workers[k], v.workers[m], "worker twice");
      }
      if (v.spec.skill_mode == CM_SKILLS_ALL)
        cr_assert_eq(covered & v.spec.skills, v.spec.skills, "skills covered");
    } else {
      cr_assert_eq(v.n_workers, 0, "%s holds workers in state %s", s->req[i].id,
                   cm_request_state_name(v.state));
    }
  }
  cm_engine_stats st;
  cm_engine_stats_get(s->eng, &st);
  for (int k = 0; k < CM_REQ_STATE_COUNT; k++)
    cr_assert_eq(st.by_state[k], by_state[k], "state counts (%s)",
                 cm_request_state_name(k));
  for (int w = 0; w < N_WORKERS; w++) {
    char id[16];
    snprintf(id, sizeof id, "w%d", w);
    cr_assert_leq(diverting[w], 1, "%s: one diversion at a time", id);
    cr_assert_leq(jobs[w] - diverting[w], s->workers[w].capacity,
                  "%s over capacity", id);
    cr_assert_eq(cm_engine_worker_jobs(s->eng, id), jobs[w], "%s job count",
                 id);
  }
}

static void add_request(sim *s, int64_t now) {
  shadow *r = &s->req[s->n_req];
  memset(r, 0, sizeof *r);
  snprintf(r->id, sizeof r->id, "r%d", s->n_req);
  cm_request_spec *sp = &r->spec;
  memcpy(sp->id, r->id, sizeof sp->id);
  sp->lat = 31.2 + cm_check_rng_unit(&s->g) * 0.09;
  sp->lon = 121.45 + cm_check_rng_unit(&s->g) * 0.1;
  double u = cm_check_rng_unit(&s->g);
  sp->urgency = u < 0.05   ? CM_URGENCY_EMERGENCY
                : u < 0.2  ? CM_URGENCY_URGENT
                : u < 0.85 ? CM_URGENCY_NORMAL
                           : CM_URGENCY_SCHEDULED;
  if (sp->urgency == CM_URGENCY_SCHEDULED) {
    sp->window_start_ms = now + (int64_t)(cm_check_rng_unit(&s->g) * 1800000);
    sp->window_end_ms = sp->window_start_ms + 3600000;
  }
  sp->staff = cm_check_rng_unit(&s->g) < 0.05 ? 2 : 1;
  sp->skills = sp->staff == 2 ? 3u
                              : 1u << (cm_check_rng_next(&s->g) % 7 == 6
                                           ? 5
                                           : cm_check_rng_next(&s->g) % 3);
  sp->skill_mode = CM_SKILLS_ALL;
  if (cm_check_rng_unit(&s->g) <
      0.1) { /* a client who never wants one worker */
    snprintf(sp->excluded[0], CM_ID_MAX, "w%d",
             (int)(cm_check_rng_next(&s->g) % N_WORKERS));
    sp->n_excluded = 1;
    ban(r, sp->excluded[0]);
  }
  if (cm_check_rng_unit(&s->g) < 0.3)
    snprintf(sp->elder, CM_ID_MAX, "e%d",
             (int)(cm_check_rng_next(&s->g) % 500));
  r->state = CM_REQ_PENDING;
  if (cm_check_rng_unit(&s->g) < 0.04) { /* a one-button call */
    sp->confirm = CM_CONFIRM_OPERATOR;
    r->state = CM_REQ_AWAITING;
  }
  s->n_req++;
  cm_error err;
  cr_assert_eq(cm_engine_submit(s->eng, sp, now, &err), CM_OK, "%s",
               err.message);
  if (sp->confirm) {
    cm_request_view v;
    cr_assert_eq(cm_engine_request_get(s->eng, r->id, &v, NULL), CM_OK);
    memcpy(r->hold, v.hold_worker, CM_ID_MAX);
    r->hold_until = v.hold_until_ms;
  }
  if (cm_check_rng_unit(&s->g) < 0.02) /* resubmitted by a retrying client */
    cr_assert_eq(cm_engine_submit(s->eng, sp, now, &err), CM_OK);
}

/* Now and then an operator overrides: holds, releases or pins a pending
 * request, reassigns an offered or accepted one. */
static void operate(sim *s, shadow *r, int64_t now) {
  double a = cm_check_rng_unit(&s->g);
  char w[16];
  snprintf(w, sizeof w, "w%d", (int)(cm_check_rng_next(&s->g) % N_WORKERS));
  cm_error err;
  if (r->state == CM_REQ_PENDING && a < 0.3) {
    cr_assert_eq(cm_engine_hold(s->eng, r->id, "ann", now, &err), CM_OK, "%s",
                 err.message);
  } else if (r->state == CM_REQ_PENDING && a < 0.6) {
    cr_assert_eq(cm_engine_release(s->eng, r->id, "ann", now, &err), CM_OK,
                 "%s", err.message);
  } else if (r->state == CM_REQ_PENDING) {
    cm_status st = cm_engine_pin(s->eng, r->id, w, "ann", now, &err);
    cr_assert_eq(st, r->spec.staff == 1 ? CM_OK : CM_E_INVALID, "%s",
                 err.message);
  } else if (r->state == CM_REQ_OFFERED || r->state == CM_REQ_ACCEPTED) {
    cm_request_view v;
    cm_engine_request_get(s->eng, r->id, &v, NULL);
    int named = a < 0.5 && r->spec.staff == 1 && strcmp(v.workers[0], w) != 0;
    cr_assert_eq(
        cm_engine_reassign(s->eng, r->id, named ? w : NULL, "ann", now, &err),
        CM_OK, "%s", err.message);
  }
  drain(s);
}

/* Random responses from workers and platforms. */
static void act(sim *s, int64_t now) {
  for (int i = 0; i < s->n_req; i++) {
    shadow *r = &s->req[i];
    if (cm_check_rng_unit(&s->g) < 0.0005) {
      operate(s, r, now);
      continue;
    }
    double u = cm_check_rng_unit(&s->g);
    if (r->state == CM_REQ_OFFERED && u < 0.3) {
      cm_request_view v;
      cm_engine_request_get(s->eng, r->id, &v, NULL);
      if (v.offered_ms != r->decided_offer) { /* a new offer */
        r->decided_offer = v.offered_ms;
        r->ignore = cm_check_rng_unit(&s->g) < 0.08;
      }
      if (r->ignore)
        continue; /* nobody answers: the offer lapses */
      for (int k = 0; k < v.n_workers; k++) {
        if (v.accepted[k])
          continue;
        double a = cm_check_rng_unit(&s->g);
        if (a < 0.75) { /* a diversion whose job changed meanwhile is
                           refused (she arrived there, say) */
          cm_status st =
              cm_engine_accept(s->eng, r->id, v.workers[k], now, NULL);
          cr_assert(st == CM_OK || (st == CM_E_CONFLICT && v.divert_of[0]),
                    "%s: accept %d", r->id, (int)st);
        } else if (a < 0.9) {
          cr_assert_eq(cm_engine_reject(s->eng, r->id, v.workers[k], now, NULL),
                       CM_OK);
          break; /* the request is back to pending */
        }        /* else: let it lapse */
      }
      drain(s);
      if (r->state == CM_REQ_ACCEPTED)
        r->accepted_at = now;
    } else if (r->state == CM_REQ_ACCEPTED && now - r->accepted_at > 20000 &&
               u < 0.02) { /* a member arrives (again: a no-op) */
      cm_request_view v;
      cm_engine_request_get(s->eng, r->id, &v, NULL);
      cr_assert_eq(cm_engine_arrived(s->eng, r->id, v.workers[0], now, NULL),
                   CM_OK);
    } else if (r->state == CM_REQ_ACCEPTED && now - r->accepted_at > 60000 &&
               u < 0.05) {
      cr_assert_eq(cm_engine_complete(s->eng, r->id, now, NULL), CM_OK);
    } else if (r->state == CM_REQ_AWAITING && u < 0.01) {
      if (cm_check_rng_unit(&s->g) < 0.8)
        cr_assert_eq(cm_engine_confirm(s->eng, r->id, "op", now, NULL), CM_OK);
      else
        cr_assert_eq(cm_engine_dismiss(s->eng, r->id, CM_DISMISS_FALSE_ALARM,
                                       "op", now, NULL),
                     CM_OK);
    } else if (r->state != CM_REQ_DONE && r->state != CM_REQ_CANCELLED &&
               r->state != CM_REQ_DISMISSED && u < 0.0005) {
      cr_assert_eq(cm_engine_cancel(s->eng, r->id, now, NULL), CM_OK);
    }
  }
  drain(s);
  for (int w = 0; w < N_WORKERS; w++) {
    char id[16];
    snprintf(id, sizeof id, "w%d", w);
    if (cm_check_rng_unit(&s->g) < 0.001) {
      s->on_shift[w] = !s->on_shift[w];
      cr_assert_eq(
          cm_engine_worker_shift(s->eng, id, s->on_shift[w], now, NULL), CM_OK);
    }
    if (now % 5000 == 0) { /* positions every 5 s, a little movement */
      s->workers[w].lat += (cm_check_rng_unit(&s->g) - 0.5) * 0.002;
      s->workers[w].lon += (cm_check_rng_unit(&s->g) - 0.5) * 0.002;
      cr_assert_eq(cm_engine_worker_position(s->eng, id, s->workers[w].lat,
                                             s->workers[w].lon, now, NULL),
                   CM_OK);
    }
  }
  drain(s);
}

Test(engine_sim, invariants_hold_every_step) {
  sim s;
  memset(&s, 0, sizeof s);
  cm_check_rng_seed(&s.g, 42);
  s.store = cm_store_memory_new(0);
  cm_engine_config cfg;
  cm_engine_config_init(&cfg);
  cfg.offer_ttl_ms = 20000;
  cfg.batch_window_ms = 300;
  cfg.batch_max = 400;
  cfg.params.k = 8;
  /* service levels of a minute: some requests wait past them */
  for (int u = 0; u < CM_URGENCY_COUNT; u++)
    cfg.weights.sla_target_min[u] = 1.0;
  cfg.escalate_after_ms = 1000;
  cfg.confirm_hold_ms = 5000;    /* some holds lapse before the operator */
  cfg.standby_every_ms = 600000; /* some idle worker is suggested a place: */
  cfg.reserve_km = 1.0;    /* areas of 1 km, so that some are not covered */
  cfg.divert_min = 0.5;    /* workers on their way are diverted now and then */
  cfg.interrupt_min = 0.5; /* and those at a visit called away */
  cm_error err;
  s.eng = cm_engine_new(&cfg, s.store, &err);
  cr_assert_not_null(s.eng, "%s", err.message);
  s.req = calloc(N_REQUESTS, sizeof *s.req);
  for (int w = 0; w < N_WORKERS; w++) {
    cm_worker *wk = &s.workers[w];
    cm_worker_init(wk);
    snprintf(wk->id, sizeof wk->id, "w%d", w);
    wk->skills = 1u << (w % 3);
    if (w % 5 == 0)
      wk->skills |= 1u << ((w / 5) % 3);
    if (w % 50 == 0)
      wk->skills |= 1u << 5;
    wk->lat = 31.2 + cm_check_rng_unit(&s.g) * 0.09;
    wk->lon = 121.45 + cm_check_rng_unit(&s.g) * 0.1;
    wk->has_position = 1;
    wk->capacity = w % 10 == 0 ? 2 : 1;
    s.on_shift[w] = 1;
    cr_assert_eq(cm_engine_worker_upsert(s.eng, wk, 0, &err), CM_OK, "%s",
                 err.message);
  }
  int64_t now = 0;
  int offered_total = 0;
  while (s.n_req < N_REQUESTS || now < 3600000) {
    now += STEP_MS;
    if (s.n_req < N_REQUESTS && cm_check_rng_unit(&s.g) < 0.5)
      add_request(&s, now);
    cr_assert_eq(cm_engine_step(s.eng, now, NULL, &err), CM_OK, "%s",
                 err.message);
    drain(&s);
    act(&s, now);
    if (now % 1000 == 0)
      check(&s);
    if (now > 4 * 3600000)
      break;
  }
  check(&s);
  cm_engine_stats st;
  cm_engine_stats_get(s.eng, &st);
  offered_total = (int)st.offers;
  cr_assert_eq(s.n_req, N_REQUESTS);
  cr_assert_gt(offered_total, N_REQUESTS / 2, "the simulation dispatched");
  cr_assert_gt(st.by_state[CM_REQ_DONE], N_REQUESTS / 4, "work got done");
  cr_assert_eq(st.events_dropped, 0);
  for (int t = 0; t < CM_EV_TYPE_COUNT; t++) {
    cr_log_info("%-10s %ld", cm_event_type_name(t), s.seen[t]);
    cr_assert_gt(s.seen[t], 0, "the run exercised %s", cm_event_type_name(t));
  }
  cm_engine_free(s.eng);
  cm_store_free(s.store);
  free(s.req);
}
