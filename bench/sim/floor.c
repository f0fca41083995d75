/* floor.c -- the hindsight floor of a day's travel: every request known in
 * advance, solved as one batch (cm_solve), with origins that are feasible
 * in time. docs/sim.md ("The floor") has the argument in prose.
 *
 * The model is a min-cost path cover. Each staff place of a served job j
 * takes exactly one origin: the home of a worker who may serve j (each
 * home starts at most one chain: one shift per worker per day), or a staff
 * place of another served job i (each place is followed by at most one).
 * An origin is offered only when a real day could use it:
 *
 *   home of w -> j   w may serve j; arrival max(shift start, call of j)
 *                    + km / speed of w <= latest start of j; and for a
 *                    one-person job, j was called before w's shift ended
 *                    (offers go to staff on shift and are withdrawn when
 *                    the shift ends; the worker sets off on accepting);
 *   job i -> job j   some worker may serve both; max(earliest start of i
 *                    + its duration, call of j) + km / fastest speed <=
 *                    latest start of j.
 *
 * Earliest start of i: its call, its window's start if scheduled, and the
 * earliest any skilled worker can get there from home after their shift
 * starts (a route is never shorter than the straight road). Latest start
 * of j: it must be done by the simulation's end (SIM_END_MS), and within
 * a cap of waiting per urgency when one is given (opts->max_wait_min; the
 * sim itself honours none, so a capped floor bounds only the days that
 * keep that cap, the run's own day among them when the cap is its longest
 * wait). In every real day each staff member reaches each job from one of
 * these origins at least as late as these bounds allow, so the day's
 * travel is a feasible point of this assignment and its minimum is a lower
 * bound. Cycles among jobs are not excluded: they only lower the minimum.
 *
 * Arcs: every feasible origin of a job is scanned; the keep cheapest are
 * offered exactly and the rest are replaced by private uncapacitated
 * origins (one per staff place) priced at the cheapest dropped arcs. Any
 * real choice maps onto a kept arc or a private origin that costs no more,
 * so the pooling keeps the bound valid. The solver's certified lower bound
 * (LP dual bound) of this assignment is the floor. Travel home at the end
 * of a shift is not counted, as the simulation does not count it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "sim.h"

#define TIME_EPS_MIN (1.0 / 60) /* the sim rounds travel down to the ms */

void sim_floor_opts_default(sim_floor_opts *o) {
  memset(o, 0, sizeof *o);
  o->keep = 24;
}

/* 1 when a worker with these roles may serve the service (cm_worker_eligible
 * for one member). */
static int can_serve(cm_skillset w, const sim_service *sv) {
  if (sv->mode == CM_SKILLS_ALL && sv->staff == 1)
    return (w & sv->skills) == sv->skills;
  return (w & sv->skills) != 0;
}

typedef struct origin {
  double lat, lon;
  int worker; /* worker index, or -1 for a job's staff place */
  int job;    /* request index for a job's place */
} origin;

typedef struct arc {
  double km;
  int origin;
} arc;

/* Bounded max-heap of the keep cheapest arcs; what falls out is dropped and
 * its cost kept in the smallest few. */
typedef struct sel {
  arc *heap;
  int n, k;
  double dropped[CM_MAX_STAFF]; /* ascending, HUGE_VAL unused */
  int n_dropped;
} sel;

static void drop(sel *s, double km) {
  s->n_dropped++;
  for (int i = 0; i < CM_MAX_STAFF; i++)
    if (km < s->dropped[i]) {
      double t = s->dropped[i];
      s->dropped[i] = km;
      km = t;
    }
}

static void sift_down(arc *h, int n, int i) {
  for (;;) {
    int c = 2 * i + 1;
    if (c >= n)
      return;
    if (c + 1 < n && h[c + 1].km > h[c].km)
      c++;
    if (h[c].km <= h[i].km)
      return;
    arc t = h[i];
    h[i] = h[c];
    h[c] = t;
    i = c;
  }
}

static void offer(sel *s, double km, int o) {
  if (s->n < s->k) {
    int i = s->n++;
    s->heap[i] = (arc){km, o};
    while (i > 0 && s->heap[(i - 1) / 2].km < s->heap[i].km) {
      arc t = s->heap[i];
      s->heap[i] = s->heap[(i - 1) / 2];
      s->heap[(i - 1) / 2] = t;
      i = (i - 1) / 2;
    }
    return;
  }
  if (km >= s->heap[0].km) {
    drop(s, km);
    return;
  }
  drop(s, s->heap[0].km);
  s->heap[0] = (arc){km, o};
  sift_down(s->heap, s->n, 0);
}

static int add_origin(cm_instance *inst, const char *id, cm_skillset skills,
                      double lat, double lon, cm_error *err) {
  cm_worker w;
  cm_worker_init(&w);
  snprintf(w.id, sizeof w.id, "%s", id);
  w.skills = skills;
  w.lat = lat;
  w.lon = lon;
  w.has_position = 1;
  return cm_instance_add_worker(inst, &w, err);
}

double sim_floor_km(const sim_scenario *s, const unsigned char *served,
                    const sim_floor_opts *opts, sim_floor_stats *st, char *msg,
                    size_t n) {
  sim_floor_opts defaults;
  sim_floor_stats local;
  if (!opts) {
    sim_floor_opts_default(&defaults);
    opts = &defaults;
  }
  if (!st)
    st = &local;
  memset(st, 0, sizeof *st);
  double t0 = cm_bench_now_ms();
  int nq = s->n_requests, nw = s->n_workers, keep = opts->keep;
  if (keep < 1)
    keep = 1;
  cm_instance *inst = cm_instance_new();
  double *early = malloc((size_t)(nq ? nq : 1) * sizeof *early);
  double *late = malloc((size_t)(nq ? nq : 1) * sizeof *late);
  origin *org = malloc((size_t)(nw + CM_MAX_STAFF * nq + 1) * sizeof *org);
  arc *heap = malloc((size_t)keep * sizeof *heap);
  cm_error err;
  double km = -1, vmax = 0;
  int n_org = 0, compat[SIM_SERVICES_MAX][SIM_SERVICES_MAX];
  memset(&err, 0, sizeof err);
  if (!inst || !early || !late || !org || !heap) {
    snprintf(err.message, sizeof err.message, "out of memory");
    goto fail;
  }
  cm_weights_default(&inst->weights);
  inst->weights.workload = inst->weights.continuity = 0;
  inst->weights.rating = inst->weights.skill = inst->weights.preferred = 0;
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    inst->weights.urgency_factor[u] = 1;
    inst->weights.penalty_base[u] = 1e5; /* everything is served */
  }
  inst->weights.aging_per_min = 0;
  inst->params.road_factor = s->road_factor;
  cm_skillset all = 0;
  for (int v = 0; v < s->n_services; v++)
    all |= s->services[v].skills;
  /* services a single worker may chain: some worker serves both */
  memset(compat, 0, sizeof compat);
  for (int i = 0; i < nw; i++) {
    if (s->workers[i].speed_kmh > vmax)
      vmax = s->workers[i].speed_kmh;
    for (int a = 0; a < s->n_services; a++)
      for (int b = 0; b < s->n_services; b++)
        compat[a][b] |= can_serve(s->workers[i].skills, &s->services[a]) &&
                        can_serve(s->workers[i].skills, &s->services[b]);
  }
  /* earliest and latest start of each job, minutes after midnight */
  for (int q = 0; q < nq; q++) {
    const sim_request *rq = &s->requests[q];
    const sim_service *sv = &s->services[rq->service];
    double base = (double)(rq->window_start_ms > rq->at_ms ? rq->window_start_ms
                                                           : rq->at_ms) /
                  60000.0;
    double reach = HUGE_VAL; /* first skilled worker there from home */
    for (int i = 0; !opts->timeless && i < nw; i++) {
      const sim_worker *w = &s->workers[i];
      if (!can_serve(w->skills, sv))
        continue;
      double d =
          cm_geo_distance_km(w->lat, w->lon, rq->lat, rq->lon) * s->road_factor;
      double t = w->shift_start_min + d / w->speed_kmh * 60;
      if (t < reach)
        reach = t;
    }
    early[q] = opts->timeless ? 0 : base > reach ? base : reach;
    late[q] = opts->timeless ? HUGE_VAL
                             : (double)SIM_END_MS / 60000.0 - sv->duration_min;
    if (!opts->timeless && opts->max_wait_min &&
        opts->max_wait_min[sv->urgency] >= 0 &&
        base + opts->max_wait_min[sv->urgency] < late[q])
      late[q] = base + opts->max_wait_min[sv->urgency];
    late[q] += TIME_EPS_MIN;
  }
  for (int i = 0; i < nw; i++) { /* homes: one chain each */
    const sim_worker *w = &s->workers[i];
    org[n_org++] = (origin){w->lat, w->lon, i, -1};
    if (add_origin(inst, w->id, w->skills, w->lat, w->lon, &err) < 0)
      goto fail;
  }
  for (int q = 0; q < nq; q++) { /* each staff place: one successor */
    const sim_request *rq = &s->requests[q];
    if (served && !served[q])
      continue;
    for (int k = 0; k < s->services[rq->service].staff; k++) {
      char id[CM_ID_MAX];
      snprintf(id, sizeof id, "after-%s-%d", rq->id, k);
      org[n_org++] = (origin){rq->lat, rq->lon, -1, q};
      if (add_origin(inst, id, all, rq->lat, rq->lon, &err) < 0)
        goto fail;
    }
  }
  for (int q = 0; q < nq; q++) {
    if (served && !served[q])
      continue;
    const sim_request *rq = &s->requests[q];
    const sim_service *sv = &s->services[rq->service];
    double call = (double)rq->at_ms / 60000.0;
    sel sl = {heap, 0, keep, {0}, 0};
    for (int k = 0; k < CM_MAX_STAFF; k++)
      sl.dropped[k] = HUGE_VAL;
    for (int o = 0; o < n_org; o++) {
      const origin *g = &org[o];
      if (g->job == q)
        continue;
      double d =
          cm_geo_distance_km(g->lat, g->lon, rq->lat, rq->lon) * s->road_factor;
      if (g->worker >= 0) {
        const sim_worker *w = &s->workers[g->worker];
        if (!can_serve(w->skills, sv))
          continue;
        double go = w->shift_start_min > call ? w->shift_start_min : call;
        if (!opts->timeless &&
            (go + d / w->speed_kmh * 60 > late[q] ||
             (sv->staff == 1 && call > w->shift_end_min + TIME_EPS_MIN)))
          continue;
      } else {
        const sim_request *ri = &s->requests[g->job];
        const sim_service *si = &s->services[ri->service];
        if (!opts->timeless) {
          if (!compat[ri->service][rq->service])
            continue;
          double go = early[g->job] + si->duration_min;
          if (go < call)
            go = call;
          if (go + d / vmax * 60 > late[q])
            continue;
        }
      }
      st->arcs++;
      offer(&sl, d, o);
    }
    cm_request r;
    cm_request_init(&r);
    snprintf(r.id, sizeof r.id, "%s", rq->id);
    r.lat = rq->lat;
    r.lon = rq->lon;
    r.has_position = 1;
    r.skills = sv->skills;
    r.skill_mode = sv->mode;
    r.staff = sv->staff;
    r.urgency = sv->urgency;
    if (sl.n + (sl.n_dropped < sv->staff ? sl.n_dropped : sv->staff) <
        sv->staff) {
      st->infeasible++; /* no day could serve it: left out */
      continue;
    }
    int r_idx = cm_instance_add_request(inst, &r, &err);
    if (r_idx < 0)
      goto fail;
    st->jobs++;
    for (int k = 0; k < sl.n; k++) {
      cm_edge_in e = {r_idx, sl.heap[k].origin, sl.heap[k].km};
      if (cm_instance_add_edge(inst, &e, &err) < 0)
        goto fail;
      st->kept++;
    }
    /* the rest: private origins at the cheapest dropped prices */
    for (int k = 0; k < sv->staff && k < sl.n_dropped; k++) {
      char id[CM_ID_MAX];
      snprintf(id, sizeof id, "pool-%s-%d", rq->id, k);
      int w = add_origin(inst, id, all, rq->lat, rq->lon, &err);
      cm_edge_in e = {r_idx, w, sl.dropped[k]};
      if (w < 0 || cm_instance_add_edge(inst, &e, &err) < 0)
        goto fail;
      st->pooled++;
    }
  }
  inst->has_edges = 1;
  cm_answer ans;
  if (cm_solve(inst, NULL, &ans, &err) != CM_OK)
    goto fail;
  /* costs are km (travel weight 1, urgency factors 1) */
  km = ans.stats.lower_bound;
  st->objective = ans.objective;
  st->exact = ans.stats.exact;
  if (ans.n_unassigned > 0) {
    snprintf(msg, n, "%d jobs left without an origin", ans.n_unassigned);
    km = -1;
  } else if (st->infeasible > 0) {
    snprintf(msg, n, "%d jobs no day could serve, left out", st->infeasible);
  }
  cm_answer_free(&ans);
  st->solve_ms = cm_bench_now_ms() - t0;
  goto done;
fail:
  snprintf(msg, n, "%s", err.message);
  km = -1;
done:
  cm_instance_free(inst);
  free(early);
  free(late);
  free(org);
  free(heap);
  return km;
}
