/* floor.c -- the hindsight floors of a day's travel: every request known
 * in advance, solved as one batch, feasible in time. Two lower bounds: an
 * assignment of origins (sim_floor_km, solved by cm_solve) and worker
 * routes through time slots (sim_floor_routes_km, a Lagrangian bound).
 * docs/sim.md ("The floor") has the argument in prose.
 *
 * The assignment is a min-cost path cover. Each staff place of a served job j
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

void sim_floor_opts_init(sim_floor_opts *o) {
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

/* Earliest and latest start of each job, minutes after midnight (late
 * with the sim's rounding slack added). */
static void job_times(const sim_scenario *s, const sim_floor_opts *opts,
                      double *early, double *late) {
  int nq = s->n_requests, nw = s->n_workers;
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
  int index;
  return cm_instance_worker_add(inst, &w, &index, err) == CM_OK ? index : -1;
}

/* Everything the assignment floor works on. */
typedef struct fctx {
  const sim_scenario *s;
  const sim_floor_opts *opts;
  cm_instance *inst;    /* the batch: origins as workers, jobs as requests */
  double *early, *late; /* start times of each request (job_times) */
  origin *org;          /* every origin: homes, then staff places */
  int n_org;
  arc *heap; /* room for keep arcs (sel) */
  int keep;
  double vmax;     /* fastest speed of any worker */
  cm_skillset all; /* every role a service asks for */
  int compat[SIM_SERVICES_MAX][SIM_SERVICES_MAX]; /* some worker serves both */
} fctx;

/* Weights that make a cost the travel in km: travel weight 1, urgency
 * factors 1, no other terms, and a penalty high enough that everything
 * is served. */
static void km_weights(cm_instance *inst, const sim_scenario *s) {
  cm_weights_init(&inst->weights);
  inst->weights.workload = inst->weights.continuity = 0;
  inst->weights.rating = inst->weights.skill = inst->weights.preferred = 0;
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    inst->weights.urgency_factor[u] = 1;
    inst->weights.penalty_base[u] = 1e5; /* everything is served */
  }
  inst->weights.aging_per_min = 0;
  inst->params.road_factor = s->road_factor;
}

/* The roles of all services, the services a single worker may chain (some
 * worker serves both) and the fastest speed. */
static void chain_compat(fctx *f) {
  const sim_scenario *s = f->s;
  f->all = 0;
  for (int v = 0; v < s->n_services; v++)
    f->all |= s->services[v].skills;
  memset(f->compat, 0, sizeof f->compat);
  for (int i = 0; i < s->n_workers; i++) {
    if (s->workers[i].speed_kmh > f->vmax)
      f->vmax = s->workers[i].speed_kmh;
    for (int a = 0; a < s->n_services; a++)
      for (int b = 0; b < s->n_services; b++)
        f->compat[a][b] |= can_serve(s->workers[i].skills, &s->services[a]) &&
                           can_serve(s->workers[i].skills, &s->services[b]);
  }
}

/* The origins, each a worker of the instance: every home (one chain each)
 * and every staff place of a served job (one successor each). Returns 0,
 * -1 with err. */
static int add_origins(fctx *f, const unsigned char *served, cm_error *err) {
  const sim_scenario *s = f->s;
  for (int i = 0; i < s->n_workers; i++) {
    const sim_worker *w = &s->workers[i];
    f->org[f->n_org++] = (origin){w->lat, w->lon, i, -1};
    if (add_origin(f->inst, w->id, w->skills, w->lat, w->lon, err) < 0)
      return -1;
  }
  for (int q = 0; q < s->n_requests; q++) {
    const sim_request *rq = &s->requests[q];
    if (served && !served[q])
      continue;
    for (int k = 0; k < s->services[rq->service].staff; k++) {
      char id[CM_ID_MAX];
      snprintf(id, sizeof id, "after-%s-%d", rq->id, k);
      f->org[f->n_org++] = (origin){rq->lat, rq->lon, -1, q};
      if (add_origin(f->inst, id, f->all, rq->lat, rq->lon, err) < 0)
        return -1;
    }
  }
  return 0;
}

/* Every feasible origin of job q offered to sl (the file's comment says
 * when an origin is feasible). */
static void scan_origins(const fctx *f, int q, sel *sl, sim_floor_stats *st) {
  const sim_scenario *s = f->s;
  const sim_request *rq = &s->requests[q];
  const sim_service *sv = &s->services[rq->service];
  double call = (double)rq->at_ms / 60000.0;
  for (int o = 0; o < f->n_org; o++) {
    const origin *g = &f->org[o];
    if (g->job == q)
      continue;
    double d =
        cm_geo_distance_km(g->lat, g->lon, rq->lat, rq->lon) * s->road_factor;
    if (g->worker >= 0) {
      const sim_worker *w = &s->workers[g->worker];
      if (!can_serve(w->skills, sv))
        continue;
      double go = w->shift_start_min > call ? w->shift_start_min : call;
      if (!f->opts->timeless &&
          (go + d / w->speed_kmh * 60 > f->late[q] ||
           (sv->staff == 1 && call > w->shift_end_min + TIME_EPS_MIN)))
        continue;
    } else {
      const sim_request *ri = &s->requests[g->job];
      const sim_service *si = &s->services[ri->service];
      if (!f->opts->timeless) {
        if (!f->compat[ri->service][rq->service])
          continue;
        double go = f->early[g->job] + si->duration_min;
        if (go < call)
          go = call;
        if (go + d / f->vmax * 60 > f->late[q])
          continue;
      }
    }
    st->arcs++;
    offer(sl, d, o);
  }
}

/* Job q into the instance with its kept arcs as edges and a private
 * origin per dropped staff place; left out (counted infeasible) when it
 * has fewer origins than staff. Returns 0, -1 with err. */
static int add_job(fctx *f, int q, const sel *sl, sim_floor_stats *st,
                   cm_error *err) {
  const sim_request *rq = &f->s->requests[q];
  const sim_service *sv = &f->s->services[rq->service];
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
  if (sl->n + (sl->n_dropped < sv->staff ? sl->n_dropped : sv->staff) <
      sv->staff) {
    st->infeasible++; /* no day could serve it: left out */
    return 0;
  }
  int r_idx;
  if (cm_instance_request_add(f->inst, &r, &r_idx, err) != CM_OK)
    return -1;
  st->jobs++;
  for (int k = 0; k < sl->n; k++) {
    cm_edge_in e = {r_idx, sl->heap[k].origin, sl->heap[k].km};
    if (cm_instance_edge_add(f->inst, &e, NULL, err) != CM_OK)
      return -1;
    st->kept++;
  }
  /* the rest: private origins at the cheapest dropped prices */
  for (int k = 0; k < sv->staff && k < sl->n_dropped; k++) {
    char id[CM_ID_MAX];
    snprintf(id, sizeof id, "pool-%s-%d", rq->id, k);
    int w = add_origin(f->inst, id, f->all, rq->lat, rq->lon, err);
    cm_edge_in e = {r_idx, w, sl->dropped[k]};
    if (w < 0 || cm_instance_edge_add(f->inst, &e, NULL, err) != CM_OK)
      return -1;
    st->pooled++;
  }
  return 0;
}

/* Every served job with its cheapest origins. Returns 0, -1 with err. */
static int add_jobs(fctx *f, const unsigned char *served, sim_floor_stats *st,
                    cm_error *err) {
  for (int q = 0; q < f->s->n_requests; q++) {
    if (served && !served[q])
      continue;
    sel sl = {f->heap, 0, f->keep, {0}, 0};
    for (int k = 0; k < CM_MAX_STAFF; k++)
      sl.dropped[k] = HUGE_VAL;
    scan_origins(f, q, &sl, st);
    if (add_job(f, q, &sl, st, err) != 0)
      return -1;
  }
  return 0;
}

/* Solve the assignment: *km is its certified lower bound, the floor, or
 * -1 when a job was left without an origin (msg says so; msg also warns
 * of jobs left out). Returns 0, -1 with err when the solve failed. */
static int solve_floor(fctx *f, sim_floor_stats *st, double *km, char *msg,
                       size_t n, cm_error *err) {
  f->inst->has_edges = 1;
  cm_answer ans;
  if (cm_solve(f->inst, NULL, &ans, err) != CM_OK)
    return -1;
  /* costs are km (travel weight 1, urgency factors 1) */
  *km = ans.stats.lower_bound;
  st->objective = ans.objective;
  st->exact = ans.stats.exact;
  if (ans.n_unassigned > 0) {
    snprintf(msg, n, "%d jobs left without an origin", ans.n_unassigned);
    *km = -1;
  } else if (st->infeasible > 0) {
    snprintf(msg, n, "%d jobs no day could serve, left out", st->infeasible);
  }
  cm_answer_free(&ans);
  return 0;
}

double sim_floor_km(const sim_scenario *s, const unsigned char *served,
                    const sim_floor_opts *opts, sim_floor_stats *st, char *msg,
                    size_t n) {
  sim_floor_opts defaults;
  sim_floor_stats local;
  if (!opts) {
    sim_floor_opts_init(&defaults);
    opts = &defaults;
  }
  if (!st)
    st = &local;
  memset(st, 0, sizeof *st);
  double t0 = cm_bench_now_ms();
  int nq = s->n_requests, nw = s->n_workers;
  fctx f;
  memset(&f, 0, sizeof f);
  f.s = s;
  f.opts = opts;
  f.keep = opts->keep < 1 ? 1 : opts->keep;
  f.inst = cm_instance_new();
  f.early = malloc((size_t)(nq ? nq : 1) * sizeof *f.early);
  f.late = malloc((size_t)(nq ? nq : 1) * sizeof *f.late);
  f.org = malloc((size_t)(nw + CM_MAX_STAFF * nq + 1) * sizeof *f.org);
  f.heap = malloc((size_t)f.keep * sizeof *f.heap);
  cm_error err;
  double km = -1;
  memset(&err, 0, sizeof err);
  if (!f.inst || !f.early || !f.late || !f.org || !f.heap) {
    snprintf(err.message, sizeof err.message, "out of memory");
    goto fail;
  }
  km_weights(f.inst, s);
  chain_compat(&f);
  job_times(s, opts, f.early, f.late);
  if (add_origins(&f, served, &err) != 0 ||
      add_jobs(&f, served, st, &err) != 0 ||
      solve_floor(&f, st, &km, msg, n, &err) != 0)
    goto fail;
  st->solve_ms = cm_bench_now_ms() - t0;
  goto done;
fail:
  snprintf(msg, n, "%s", err.message);
  km = -1;
done:
  cm_instance_free(f.inst);
  free(f.early);
  free(f.late);
  free(f.org);
  free(f.heap);
  return km;
}

/* ---- the route floor: worker routes through time, a Lagrangian bound ----
 *
 * Each worker's day is a route from home through jobs in order of their
 * start times. Time is cut into slots of slot_min minutes; a job's slot is
 * its start rounded down, so a route's slots strictly increase (every
 * duration is longer than a slot) and no route goes round in a circle.
 * From a job started in slot t, the next job's slot is at least that of
 * max(t's start + duration, the next call) + km / the fastest speed of
 * the worker's class (same roles, same shift). A one-person job must be
 * called before the shift ends, and is set off for only after the previous
 * job is done within the shift. Every real route is one of these (its
 * rounded slots satisfy every condition), so the least travel over routes
 * that cover each job by as many routes as it needs staff is below every
 * feasible day's travel. That covering is dualised with a price per job:
 * for any prices, the prices of all staff places plus each worker's
 * cheapest route at travel minus prices (or none, 0) is a lower bound
 * (weak duality); subgradient steps raise it and the best one is kept.
 *
 * Successors: the near nearest jobs of a class, both ways; the rest go
 * through a pool that charges half the listed radius of each end (a
 * job not listed is at least that far from either) and only the first
 * end's radius in time; so the pool never costs more than a real move. */

#define NEAR_LIST 64 /* nearest jobs listed per job */

typedef struct rclass {
  cm_skillset skills;
  int start, end; /* shift, minutes */
  double vmax;    /* fastest speed of its workers */
  int n_jobs;     /* jobs its workers may take */
  int *jobs;      /* owned */
  int *s_start;   /* successors of each job (all m), CSR, owned */
  struct succ *s_list;
  double *radius; /* listed radius of each job, HUGE_VAL: all listed */
} rclass;

typedef struct succ {
  int job;
  double km;
} succ;

typedef struct rctx {
  const sim_scenario *s;
  int m;                /* jobs */
  int *q;               /* request of each job */
  double *lat, *lon;    /* place */
  double *at, *dur;     /* call, duration (min) */
  int *staff, *lo, *hi; /* staff places, slot range */
  int *off;             /* first node of each job */
  int *near;            /* NEAR_LIST nearest jobs of each */
  double *near_km;      /* their km */
  int n_near;           /* entries per list (m - 1 when short) */
  double slot;          /* minutes */
  int slots;            /* slots in the simulation */
  /* per class, rebuilt each time: */
  unsigned char *in; /* job in the class */
  double *radius;    /* listed radius in the class, HUGE_VAL: all */
  int *s_start;      /* successors, CSR */
  succ *s_list;
  /* per node */
  double *mval; /* min cost-to-go from this slot on */
  int *marg;    /* the slot that achieves it */
  int *next_job, *next_slot;
  double *p_single, *p_team; /* pools by slot */
  int *pa_single, *pa_team;  /* their job */
} rctx;

static int slot_of(const rctx *c, double min) {
  double x = floor((min - TIME_EPS_MIN) / c->slot);
  return x < 0 ? 0 : x > c->slots ? c->slots + 1 : (int)x;
}

static double m_at(const rctx *c, int b, int sl, int *arg) {
  if (sl < c->lo[b])
    sl = c->lo[b];
  if (sl > c->hi[b])
    return HUGE_VAL;
  int i = c->off[b] + sl - c->lo[b];
  if (arg)
    *arg = c->marg[i];
  return c->mval[i];
}

static int cmp_succ(const void *a, const void *b) {
  const succ *x = a, *y = b;
  return x->job != y->job ? (x->job > y->job) - (x->job < y->job)
                          : (x->km > y->km) - (x->km < y->km);
}

/* Successor lists of a class (c->in): its keep nearest listed jobs, both
 * ways, and each job's listed radius. pairs holds room for 4 * keep * m,
 * from for 2 * keep * m + m. */
static void class_succ(rctx *c, int keep, succ *pairs, int *from) {
  int np = 0;
  for (int a = 0; a < c->m; a++) {
    c->radius[a] = HUGE_VAL;
    if (!c->in[a])
      continue;
    int found = 0;
    for (int k = 0; k < c->n_near && found < keep; k++) {
      int b = c->near[a * NEAR_LIST + k];
      if (!c->in[b])
        continue;
      from[np] = a;
      pairs[np++] = (succ){b, c->near_km[a * NEAR_LIST + k]};
      from[np] = b;
      pairs[np++] = (succ){a, c->near_km[a * NEAR_LIST + k]};
      if (++found == keep)
        c->radius[a] = c->near_km[a * NEAR_LIST + k];
    }
    if (found < keep && c->n_near == NEAR_LIST)
      c->radius[a] = c->near_km[a * NEAR_LIST + NEAR_LIST - 1];
  }
  for (int a = 0; a <= c->m; a++)
    c->s_start[a] = 0;
  for (int i = 0; i < np; i++)
    c->s_start[from[i] + 1]++;
  for (int a = 0; a < c->m; a++)
    c->s_start[a + 1] += c->s_start[a];
  int *fill = from + np; /* room: from holds 2 * keep * m + m */
  for (int a = 0; a < c->m; a++)
    fill[a] = c->s_start[a];
  /* a counting sort by origin; the pairs are reused in place below */
  succ *tmp = pairs + np;
  for (int i = 0; i < np; i++)
    tmp[fill[from[i]]++] = pairs[i];
  for (int a = 0; a < c->m; a++) { /* sort and drop repeats */
    int b0 = c->s_start[a], b1 = c->s_start[a + 1], w = b0;
    qsort(tmp + b0, (size_t)(b1 - b0), sizeof *tmp, cmp_succ);
    for (int i = b0; i < b1; i++)
      if (i == b0 || tmp[i].job != tmp[i - 1].job)
        tmp[w++] = tmp[i];
    for (int i = w; i < b1; i++)
      tmp[i].job = -1;
  }
  memcpy(c->s_list, tmp, (size_t)np * sizeof *tmp);
}

/* Cost-to-go of every node of a class under prices lam. */
static void class_dp(rctx *c, const rclass *k, const double *lam) {
  double end = k->end + TIME_EPS_MIN;
  for (int t = c->slots + 1; t >= 0; t--) {
    for (int x = 0; x < k->n_jobs; x++) {
      int a = k->jobs[x];
      if (t < c->lo[a] || t > c->hi[a])
        continue;
      double done = t * c->slot + c->dur[a], best = 0;
      int nb = -1, ns = -1;
      for (int i = c->s_start[a]; i < c->s_start[a + 1]; i++) {
        int b = c->s_list[i].job;
        if (b < 0)
          break;
        if (c->staff[b] == 1 && done > end)
          continue;
        double go = done > c->at[b] ? done : c->at[b];
        int sl = slot_of(c, go + c->s_list[i].km / k->vmax * 60);
        double v = c->s_list[i].km + m_at(c, b, sl, NULL);
        if (v < best) {
          best = v;
          nb = b;
          ns = sl;
        }
      }
      if (c->radius[a] < HUGE_VAL) {
        int sl = slot_of(c, done + c->radius[a] / k->vmax * 60);
        if (sl <= c->slots) {
          double v = c->radius[a] / 2 + c->p_team[sl];
          if (v < best) {
            best = v;
            nb = c->pa_team[sl];
            ns = sl;
          }
          v = c->radius[a] / 2 + c->p_single[sl];
          if (done <= end && v < best) {
            best = v;
            nb = c->pa_single[sl];
            ns = sl;
          }
        }
      }
      int i = c->off[a] + t - c->lo[a];
      c->next_job[i] = nb;
      c->next_slot[i] = ns;
      double v = best - lam[a];
      double later = t < c->hi[a] ? c->mval[i + 1] : HUGE_VAL;
      c->mval[i] = v <= later ? v : later;
      c->marg[i] = v <= later ? t : c->marg[i + 1];
    }
    if (t > c->slots)
      continue;
    c->p_single[t] = c->p_team[t] = HUGE_VAL;
    c->pa_single[t] = c->pa_team[t] = -1;
    for (int x = 0; x < k->n_jobs; x++) {
      int b = k->jobs[x];
      if (c->radius[b] == HUGE_VAL)
        continue;
      double v = c->radius[b] / 2 + m_at(c, b, t, NULL);
      double *p = c->staff[b] == 1 ? &c->p_single[t] : &c->p_team[t];
      int *pa = c->staff[b] == 1 ? &c->pa_single[t] : &c->pa_team[t];
      if (v < *p) {
        *p = v;
        *pa = b;
      }
    }
  }
}

typedef struct home_arc {
  int job, slot;
  double km;
} home_arc;

/* Everything the route floor works on; routes_free frees it all. */
typedef struct routes {
  rctx c;
  int keep;             /* successors listed per job, each way */
  double *early, *late; /* start times of each request (job_times) */
  succ *pairs;          /* class_succ's scratch: 4 * keep * m */
  int *from;            /* class_succ's scratch: 2 * keep * m + m */
  double *lam;          /* price of each job */
  int *visits;          /* routes through each job at the last prices */
  int *need;            /* staff places to cover (0: left out) */
  rclass *cls;          /* classes of workers */
  int n_cls;
  int *cls_of;     /* class of each worker */
  int *home_start; /* first home arc of each worker, CSR */
  home_arc *homes; /* first moves of every worker */
  size_t n_homes;
  double *pool; /* the pools by slot (rctx's p_ and pa_ arrays) */
} routes;

static void routes_free(routes *w) {
  rctx *c = &w->c;
  free(w->early);
  free(w->late);
  free(c->q);
  free(c->lat);
  free(c->lon);
  free(c->at);
  free(c->dur);
  free(c->staff);
  free(c->lo);
  free(c->hi);
  free(c->off);
  free(c->near);
  free(c->near_km);
  free(c->in);
  for (int k = 0; w->cls && k < w->n_cls; k++) {
    free(w->cls[k].jobs);
    free(w->cls[k].s_start);
    free(w->cls[k].s_list);
    free(w->cls[k].radius);
  }
  free(w->pairs);
  free(w->from);
  free(w->lam);
  free(w->visits);
  free(w->need);
  free(w->cls);
  free(w->cls_of);
  free(w->home_start);
  free(w->homes);
  free(w->pool);
  free(c->mval);
  free(c->marg);
  free(c->next_job);
  free(c->next_slot);
}

/* The slot length: opts->slot_min (10), or half the shortest duration
 * when that is no longer (so a route's slots strictly increase). */
static void choose_slots(rctx *c, const sim_scenario *s,
                         const sim_floor_opts *opts) {
  c->slot = opts->slot_min > 0 ? opts->slot_min : 10;
  for (int v = 0; v < s->n_services; v++)
    if (s->services[v].duration_min <= c->slot)
      c->slot = s->services[v].duration_min / 2;
  c->slots = (int)ceil((double)SIM_END_MS / 60000.0 / c->slot);
}

/* The arrays sized by requests, workers and slots. Returns 0, -1 out of
 * memory (what was allocated is freed by routes_free). */
static int routes_alloc(routes *w) {
  rctx *c = &w->c;
  const sim_scenario *s = c->s;
  int nq = s->n_requests, nw = s->n_workers;
  w->early = malloc((size_t)(nq ? nq : 1) * sizeof *w->early);
  w->late = malloc((size_t)(nq ? nq : 1) * sizeof *w->late);
  size_t mq = (size_t)(nq ? nq : 1);
  c->q = malloc(mq * sizeof *c->q);
  c->lat = malloc(mq * sizeof *c->lat);
  c->lon = malloc(mq * sizeof *c->lon);
  c->at = malloc(mq * sizeof *c->at);
  c->dur = malloc(mq * sizeof *c->dur);
  c->staff = malloc(mq * sizeof *c->staff);
  c->lo = malloc(mq * sizeof *c->lo);
  c->hi = malloc(mq * sizeof *c->hi);
  c->off = malloc((mq + 1) * sizeof *c->off);
  c->near = malloc(mq * NEAR_LIST * sizeof *c->near);
  c->near_km = malloc(mq * NEAR_LIST * sizeof *c->near_km);
  c->in = malloc(mq);
  size_t npairs = 2 * (size_t)w->keep * mq;
  w->pairs = malloc(2 * npairs * sizeof *w->pairs);
  w->from = malloc((npairs + mq) * sizeof *w->from);
  w->lam = malloc(mq * sizeof *w->lam);
  w->visits = malloc(mq * sizeof *w->visits);
  w->need = malloc(mq * sizeof *w->need);
  w->cls = malloc((size_t)(nw ? nw : 1) * sizeof *w->cls);
  w->cls_of = malloc((size_t)(nw ? nw : 1) * sizeof *w->cls_of);
  w->home_start = malloc((size_t)(nw + 1) * sizeof *w->home_start);
  w->pool = malloc(4 * (size_t)(c->slots + 2) * sizeof *w->pool);
  if (!w->early || !w->late || !c->q || !c->lat || !c->lon || !c->at ||
      !c->dur || !c->staff || !c->lo || !c->hi || !c->off || !c->near ||
      !c->near_km || !c->in || !w->pairs || !w->from || !w->lam || !w->visits ||
      !w->need || !w->cls || !w->cls_of || !w->home_start || !w->pool)
    return -1;
  c->p_single = w->pool;
  c->p_team = w->pool + (c->slots + 2);
  c->pa_single = (int *)(w->pool + 2 * (c->slots + 2));
  c->pa_team = c->pa_single + (c->slots + 2);
  return 0;
}

/* The jobs (requests served and startable in some slot) and their slot
 * ranges, then the nodes (job, slot) they span. Returns 0, -1 out of
 * memory. */
static int collect_jobs(routes *w, const unsigned char *served,
                        sim_floor_stats *st) {
  rctx *c = &w->c;
  const sim_scenario *s = c->s;
  c->off[0] = 0;
  for (int q = 0; q < s->n_requests; q++) {
    if (served && !served[q])
      continue;
    const sim_request *rq = &s->requests[q];
    const sim_service *sv = &s->services[rq->service];
    int lo = slot_of(c, w->early[q] + TIME_EPS_MIN);
    int hi = (int)floor(w->late[q] / c->slot);
    if (hi > c->slots)
      hi = c->slots;
    if (hi < lo) {
      st->infeasible++;
      continue;
    }
    int a = c->m++;
    c->q[a] = q;
    c->lat[a] = rq->lat;
    c->lon[a] = rq->lon;
    c->at[a] = (double)rq->at_ms / 60000.0;
    c->dur[a] = sv->duration_min;
    c->staff[a] = sv->staff;
    c->lo[a] = lo;
    c->hi[a] = hi;
    c->off[a + 1] = c->off[a] + hi - lo + 1;
  }
  st->jobs = c->m;
  size_t nodes = (size_t)(c->m ? c->off[c->m] : 1);
  c->mval = malloc(nodes * sizeof *c->mval);
  c->marg = malloc(nodes * sizeof *c->marg);
  c->next_job = malloc(nodes * sizeof *c->next_job);
  c->next_slot = malloc(nodes * sizeof *c->next_slot);
  return c->mval && c->marg && c->next_job && c->next_slot ? 0 : -1;
}

/* The NEAR_LIST nearest jobs of each job, nearest first. */
static void find_nearest(rctx *c) {
  c->n_near = c->m - 1 < NEAR_LIST ? c->m - 1 : NEAR_LIST;
  for (int a = 0; a < c->m; a++) {
    int *nj = &c->near[(size_t)a * NEAR_LIST];
    double *nk = &c->near_km[(size_t)a * NEAR_LIST];
    int cnt = 0;
    for (int b = 0; b < c->m; b++) {
      if (b == a)
        continue;
      double d =
          cm_geo_distance_km(c->lat[a], c->lon[a], c->lat[b], c->lon[b]) *
          c->s->road_factor;
      if (cnt == c->n_near && d >= nk[cnt - 1])
        continue;
      int i = cnt < c->n_near ? cnt++ : cnt - 1;
      while (i > 0 && nk[i - 1] > d) { /* insertion into the sorted list */
        nk[i] = nk[i - 1];
        nj[i] = nj[i - 1];
        i--;
      }
      nk[i] = d;
      nj[i] = b;
    }
  }
}

/* Classes of workers: the same roles and shift; a class's speed is its
 * fastest worker's. */
static void group_classes(routes *w) {
  const sim_scenario *s = w->c.s;
  for (int i = 0; i < s->n_workers; i++) {
    const sim_worker *wk = &s->workers[i];
    int k = 0;
    while (k < w->n_cls && !(w->cls[k].skills == wk->skills &&
                             w->cls[k].start == wk->shift_start_min &&
                             w->cls[k].end == wk->shift_end_min))
      k++;
    if (k == w->n_cls)
      w->cls[w->n_cls++] = (rclass){.skills = wk->skills,
                                    .start = wk->shift_start_min,
                                    .end = wk->shift_end_min};
    if (wk->speed_kmh > w->cls[k].vmax)
      w->cls[k].vmax = wk->speed_kmh;
    w->cls_of[i] = k;
  }
}

/* Each class: the jobs its workers may take and their successors, once.
 * Returns 0, -1 out of memory. */
static int build_class_successors(routes *w) {
  rctx *c = &w->c;
  const sim_scenario *s = c->s;
  for (int k = 0; k < w->n_cls; k++) {
    rclass *K = &w->cls[k];
    int nj = 0;
    for (int a = 0; a < c->m; a++) {
      const sim_service *sv = &s->services[s->requests[c->q[a]].service];
      c->in[a] =
          (unsigned char)(can_serve(K->skills, sv) &&
                          (sv->staff > 1 || c->at[a] <= K->end + TIME_EPS_MIN));
      nj += c->in[a];
    }
    K->jobs = malloc((size_t)(nj ? nj : 1) * sizeof *K->jobs);
    K->s_start = malloc((size_t)(c->m + 1) * sizeof *K->s_start);
    K->s_list = malloc((size_t)(2 * w->keep * nj + 1) * sizeof *K->s_list);
    K->radius = malloc((size_t)(c->m ? c->m : 1) * sizeof *K->radius);
    if (!K->jobs || !K->s_start || !K->s_list || !K->radius)
      return -1;
    for (int a = 0; a < c->m; a++)
      if (c->in[a])
        K->jobs[K->n_jobs++] = a;
    c->s_start = K->s_start;
    c->s_list = K->s_list;
    c->radius = K->radius;
    class_succ(c, w->keep, w->pairs, w->from);
  }
  return 0;
}

/* First moves: from each worker's home to every job it may take, at the
 * earliest slot it can start there. Returns 0, -1 out of memory. */
static int collect_home_arcs(routes *w) {
  rctx *c = &w->c;
  const sim_scenario *s = c->s;
  size_t nh = 0, caph = 1024;
  w->homes = malloc(caph * sizeof *w->homes);
  if (!w->homes)
    return -1;
  for (int i = 0; i < s->n_workers; i++) {
    const sim_worker *wk = &s->workers[i];
    w->home_start[i] = (int)nh;
    for (int a = 0; a < c->m; a++) {
      const sim_service *sv = &s->services[s->requests[c->q[a]].service];
      if (!can_serve(wk->skills, sv) ||
          (sv->staff == 1 && c->at[a] > wk->shift_end_min + TIME_EPS_MIN))
        continue;
      double d = cm_geo_distance_km(wk->lat, wk->lon, c->lat[a], c->lon[a]) *
                 s->road_factor;
      double go =
          wk->shift_start_min > c->at[a] ? wk->shift_start_min : c->at[a];
      int sl = slot_of(c, go + d / wk->speed_kmh * 60);
      if (sl > c->hi[a])
        continue;
      if (nh == caph) {
        home_arc *p = realloc(w->homes, 2 * caph * sizeof *p);
        if (!p)
          return -1;
        w->homes = p;
        caph *= 2;
      }
      w->homes[nh++] = (home_arc){a, sl, d};
    }
  }
  w->home_start[s->n_workers] = (int)nh;
  w->n_homes = nh;
  return 0;
}

/* Prices: start at the cheapest way in. A job no worker reaches from
 * home is reached by no route (a route is never faster than the road
 * from home): no day serves it, and it is left out (need 0) rather than
 * priced up without end. */
static void initial_prices(routes *w, sim_floor_stats *st) {
  rctx *c = &w->c;
  for (int a = 0; a < c->m; a++) {
    w->lam[a] = c->n_near > 0 ? c->near_km[(size_t)a * NEAR_LIST] : 0;
    w->need[a] = 0;
  }
  for (size_t h = 0; h < w->n_homes; h++) {
    int a = w->homes[h].job;
    if (w->homes[h].km < w->lam[a])
      w->lam[a] = w->homes[h].km;
    w->need[a] = c->staff[a];
  }
  for (int a = 0; a < c->m; a++)
    if (!w->need[a]) {
      w->lam[a] = 0;
      st->infeasible++;
    }
}

/* The cheapest route of worker i at the prices (from class_dp's tables):
 * its value (0: no route), and the jobs it visits counted in visits. */
static double cheapest_route(routes *w, int i) {
  rctx *c = &w->c;
  double v = 0;
  int ba = -1, bs = -1;
  for (int h = w->home_start[i]; h < w->home_start[i + 1]; h++) {
    double x =
        w->homes[h].km + m_at(c, w->homes[h].job, w->homes[h].slot, NULL);
    if (x < v) {
      v = x;
      ba = w->homes[h].job;
      bs = w->homes[h].slot;
    }
  }
  while (ba >= 0) { /* the route, for the step */
    int t = bs;
    m_at(c, ba, bs, &t);
    w->visits[ba]++;
    int node = c->off[ba] + t - c->lo[ba];
    ba = c->next_job[node];
    bs = c->next_slot[node];
  }
  return v;
}

/* The Lagrangian bound at the prices lam: every staff place's price plus
 * each worker's cheapest route at travel minus prices; visits counts the
 * routes through each job. */
static double lagrangian(routes *w) {
  rctx *c = &w->c;
  double L = 0;
  for (int a = 0; a < c->m; a++) {
    L += w->need[a] * w->lam[a];
    w->visits[a] = 0;
  }
  for (int k = 0; k < w->n_cls; k++) {
    const rclass *K = &w->cls[k];
    if (K->n_jobs == 0)
      continue;
    c->s_start = K->s_start;
    c->s_list = K->s_list;
    c->radius = K->radius;
    class_dp(c, K, w->lam);
    for (int i = 0; i < c->s->n_workers; i++)
      if (w->cls_of[i] == k)
        L += cheapest_route(w, i);
  }
  return L;
}

/* Subgradient steps on the prices; the best bound seen. */
static double subgradient(routes *w, const sim_floor_opts *opts,
                          sim_floor_stats *st) {
  rctx *c = &w->c;
  int iters = opts->iterations > 0 ? opts->iterations : 100, stall = 0;
  double theta = 1.0, best = 0;
  for (int it = 0; it < iters; it++) {
    double L = lagrangian(w);
    if (L > best + 1e-9) {
      best = L;
      stall = 0;
    } else if (++stall >= 5) {
      theta /= 2;
      stall = 0;
    }
    st->iterations = it + 1;
    double norm = 0;
    for (int a = 0; a < c->m; a++)
      norm += (double)(w->need[a] - w->visits[a]) * (w->need[a] - w->visits[a]);
    if (norm == 0 || theta < 1e-3)
      break;
    /* aim a little above the best bound so far (never above a known
       feasible travel): a far aim overshoots and routes swell */
    double target = best * 1.3 + 1.0;
    if (opts->target_km > best && opts->target_km < target)
      target = opts->target_km;
    double step = theta * (target - L) / norm;
    for (int a = 0; a < c->m; a++)
      w->lam[a] += w->need[a] ? step * (w->need[a] - w->visits[a]) : 0;
  }
  return best;
}

double sim_floor_routes_km(const sim_scenario *s, const unsigned char *served,
                           const sim_floor_opts *opts, sim_floor_stats *st,
                           char *msg, size_t n) {
  sim_floor_opts defaults;
  sim_floor_stats local;
  if (!opts) {
    sim_floor_opts_init(&defaults);
    opts = &defaults;
  }
  if (!st)
    st = &local;
  memset(st, 0, sizeof *st);
  double t0 = cm_bench_now_ms();
  routes w;
  memset(&w, 0, sizeof w);
  w.c.s = s;
  w.keep = opts->near > 0 ? opts->near : 8;
  if (w.keep > NEAR_LIST)
    w.keep = NEAR_LIST;
  choose_slots(&w.c, s, opts);
  double km = -1;
  if (routes_alloc(&w) != 0)
    goto oom;
  job_times(s, opts, w.early, w.late);
  if (collect_jobs(&w, served, st) != 0)
    goto oom;
  find_nearest(&w.c);
  group_classes(&w);
  if (build_class_successors(&w) != 0 || collect_home_arcs(&w) != 0)
    goto oom;
  initial_prices(&w, st);
  km = subgradient(&w, opts, st);
  if (st->infeasible > 0)
    snprintf(msg, n, "%d jobs no day could serve, left out", st->infeasible);
  goto done;
oom:
  snprintf(msg, n, "out of memory");
done:
  st->solve_ms = cm_bench_now_ms() - t0;
  routes_free(&w);
  return km;
}
