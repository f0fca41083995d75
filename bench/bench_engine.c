/* bench_engine.c -- the engine under a steady real-time load, in process:
 * position updates and requests arrive at fixed rates on the wall clock, the
 * loop steps the engine whenever it is due (as the daemon's timer does), and
 * each emergency's wall time from submit to its offer is measured. Workers
 * accept at once (auto_accept) and finish their jobs after a service time.
 *
 *   bench_engine [--seconds S] [--workers N] [--positions-per-s P]
 *                [--requests-per-s R] [--window MS] [--budget MS]
 *                [--seed S] [--lookahead-upto U] [--emergency-share F]
 *                [--service-s S] [--emergencies-alone 0|1] [--live]
 *                [--out FILE]
 *
 * Prints a summary and writes JSON (percentiles of several runs are the
 * caller's: run it several times; scripts/bench.sh does). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "carematch/engine.h"
#include "carematch/version.h"
#include "city.h"

typedef struct opts {
  double seconds, pos_rate, req_rate, window_ms, budget_ms, service_s;
  double emergency_share; /* of the requests (0.05); 0: batches only at
                             the window, so they hold a backlog */
  int workers;
  int lookahead_upto; /* cm_urgency: the engine's lookahead_upto */
  int alone;          /* the engine's emergencies_alone (1) */
  int live;           /* print a line a second */
  uint64_t seed;
  const char *out;
} opts;

/* Quantile for the report: 0 when there is nothing to measure. */
static double pct(const double *v, int n, double q) {
  return n > 0 ? cm_bench_quantile(v, n, q) : 0.0;
}

static int parse(int argc, char **argv, opts *o) {
  *o = (opts){.seconds = 20,
              .pos_rate = 10000,
              .req_rate = 50,
              .window_ms = 300,
              .budget_ms = 100,
              .service_s = 30,
              .emergency_share = 0.05,
              .workers = 20000,
              .lookahead_upto = CM_URGENCY_URGENT,
              .alone = 1,
              .seed = 1,
              .out = NULL};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--quick")) {
      o->seconds = 5;
      continue;
    }
    if (!strcmp(a, "--live")) {
      o->live = 1;
      continue;
    }
    if (!v) {
      fprintf(stderr, "bench_engine: %s needs a value\n", a);
      return -1;
    }
    i++;
    if (!strcmp(a, "--seconds"))
      o->seconds = atof(v);
    else if (!strcmp(a, "--workers"))
      o->workers = atoi(v);
    else if (!strcmp(a, "--positions-per-s"))
      o->pos_rate = atof(v);
    else if (!strcmp(a, "--requests-per-s"))
      o->req_rate = atof(v);
    else if (!strcmp(a, "--window"))
      o->window_ms = atof(v);
    else if (!strcmp(a, "--budget"))
      o->budget_ms = atof(v);
    else if (!strcmp(a, "--seed"))
      o->seed = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--out"))
      o->out = v;
    else if (!strcmp(a, "--emergency-share"))
      o->emergency_share = atof(v);
    else if (!strcmp(a, "--service-s"))
      o->service_s = atof(v);
    else if (!strcmp(a, "--emergencies-alone"))
      o->alone = atoi(v);
    else if (!strcmp(a, "--lookahead-upto")) {
      o->lookahead_upto = cm_urgency_parse(v);
      if (o->lookahead_upto <= CM_URGENCY_EMERGENCY) {
        fprintf(stderr, "bench_engine: --lookahead-upto: urgent, normal or "
                        "scheduled\n");
        return -1;
      }
    } else {
      fprintf(stderr, "bench_engine: unknown option %s\n", a);
      return -1;
    }
  }
  return o->seconds > 0 && o->workers > 0 && o->req_rate > 0 &&
                 o->emergency_share >= 0 && o->emergency_share < 1 &&
                 o->service_s > 0 && (o->alone == 0 || o->alone == 1)
             ? 0
             : -1;
}

typedef struct pending_job {
  char id[CM_ID_MAX];
  double due_ms;
} pending_job;

/* One run of the bench: the city, the engine and what is measured. */
typedef struct run {
  opts o;               /* the command line */
  int pool;             /* requests the city holds: the most submitted */
  cm_instance *city;    /* workers and requests; positions move */
  cm_store *store;      /* the engine's memory store */
  cm_engine *eng;       /* the engine under load */
  double *em, *nm;      /* submit->offer wall ms: emergencies, others */
  int n_em, n_nm;       /* entries of em, nm */
  double *submit_at;    /* per request: wall ms submitted, 0: offered */
  pending_job *jobs;    /* accepted jobs in order of their end */
  int n_jobs, job_head; /* jobs, and the first not yet completed */
  cm_event *ev;         /* the poll buffer */
  int next_req;         /* requests submitted */
  long positions;       /* position updates sent */
  double t0, end;       /* wall ms of the start and of the end */
  double next_pos, next_sub, next_print; /* wall ms the next is due */
  uint64_t rng;                          /* the position moves' stream */
} run;

#define POLL_MAX 4096 /* events taken per poll */

/* The city: o.workers staff and enough requests for the whole run, 5%
 * emergencies. Returns 0, or -1 with a message on stderr. */
static int city_make(run *r) {
  r->pool = (int)(r->o.req_rate * r->o.seconds * 1.2) + 16;
  cm_city_spec sp;
  cm_city_spec_init(&sp);
  sp.seed = r->o.seed;
  sp.n_workers = r->o.workers;
  sp.n_requests = r->pool;
  sp.emergency_share = r->o.emergency_share;
  cm_error err;
  r->city = cm_city_instance(&sp, &err);
  if (!r->city) {
    fprintf(stderr, "bench_engine: city: %s\n", err.message);
    return -1;
  }
  return 0;
}

/* The engine on a memory store, the city's parameters and weights, the
 * bench's window and budget, auto-accept on the wall clock; every worker
 * registered, seen now. Returns 0, or -1 with a message on stderr. */
static int engine_start(run *r) {
  r->store = cm_store_memory_new(0);
  cm_engine_config cfg;
  cm_engine_config_init(&cfg);
  cfg.params = r->city->params;
  cfg.weights = r->city->weights;
  cfg.batch_window_ms = (int64_t)r->o.window_ms;
  cfg.solve_budget_ms = r->o.budget_ms;
  cfg.auto_accept = 1;
  cfg.lookahead_upto = (cm_urgency)r->o.lookahead_upto;
  cfg.emergencies_alone = r->o.alone;
  cfg.clock = cm_bench_clock;
  cm_error err;
  r->eng = cm_engine_new(&cfg, r->store, &err);
  if (!r->eng || !r->store) {
    fprintf(stderr, "bench_engine: engine: %s\n", err.message);
    return -1;
  }
  r->t0 = cm_bench_now_ms();
  for (int w = 0; w < r->city->n_workers; w++) {
    cm_worker wk = r->city->workers[w];
    wk.seen_ms = (int64_t)r->t0;
    cm_engine_worker_upsert(r->eng, &wk, (int64_t)r->t0, NULL);
  }
  return 0;
}

/* The measurement arrays and the clocks of the load, from t0. Returns 0,
 * or -1 when out of memory. */
static int load_prepare(run *r) {
  size_t pool = (size_t)r->pool;
  r->em = malloc(pool * sizeof *r->em);
  r->nm = malloc(pool * sizeof *r->nm);
  r->submit_at = calloc(pool, sizeof *r->submit_at);
  r->jobs = malloc(pool * CM_MAX_STAFF * sizeof *r->jobs);
  r->ev = malloc(POLL_MAX * sizeof *r->ev);
  if (!r->em || !r->nm || !r->submit_at || !r->jobs || !r->ev) {
    fprintf(stderr, "bench_engine: out of memory\n");
    return -1;
  }
  r->next_pos = r->next_sub = r->t0;
  r->end = r->t0 + r->o.seconds * 1000.0;
  r->next_print = r->t0 + 1000.0;
  r->rng = r->o.seed * 0x9e3779b97f4a7c15ULL + 1;
  return 0;
}

/* The position updates due by now: small random moves of random workers.
 * Returns 1 when any was sent. */
static int positions_send_due(run *r, double now) {
  int busy = 0;
  for (; r->next_pos <= now; r->next_pos += 1000.0 / r->o.pos_rate) {
    int w = (int)(cm_city_rand(&r->rng) % (uint64_t)r->city->n_workers);
    cm_worker *wk = &r->city->workers[w];
    wk->lat += (cm_city_uniform(&r->rng) - 0.5) * 0.001;
    wk->lon += (cm_city_uniform(&r->rng) - 0.5) * 0.001;
    cm_engine_worker_position(r->eng, wk->id, wk->lat, wk->lon, (int64_t)now,
                              NULL);
    r->positions++;
    busy = 1;
  }
  return busy;
}

/* The requests due by now, in the city's order (scheduled ones as normal).
 * Returns 1 when any was submitted. */
static int requests_submit_due(run *r, double now) {
  int busy = 0;
  for (; r->next_sub <= now && r->next_req < r->pool;
       r->next_sub += 1000.0 / r->o.req_rate) {
    const cm_request *rq = &r->city->requests[r->next_req];
    cm_request_spec s;
    memset(&s, 0, sizeof s);
    memcpy(s.id, rq->id, sizeof s.id);
    s.lat = rq->lat;
    s.lon = rq->lon;
    s.skills = rq->skills;
    s.skill_mode = rq->skill_mode;
    s.staff = rq->staff;
    s.urgency =
        rq->urgency == CM_URGENCY_SCHEDULED ? CM_URGENCY_NORMAL : rq->urgency;
    r->submit_at[r->next_req] = cm_bench_now_ms();
    cm_error err;
    if (cm_engine_submit(r->eng, &s, (int64_t)now, &err) != CM_OK)
      fprintf(stderr, "bench_engine: submit: %s\n", err.message);
    r->next_req++;
    busy = 1;
  }
  return busy;
}

/* One event polled at wall time after: an offer records its request's
 * submit->offer latency (the first offer only), an acceptance queues the
 * job's end a service time later. */
static void event_record(run *r, const cm_event *e, double after) {
  if (e->type == CM_EV_OFFERED) {
    int q = atoi(e->request + 1);
    if (q >= 0 && q < r->pool && r->submit_at[q] > 0) {
      double lat = after - r->submit_at[q];
      if (r->city->requests[q].urgency == CM_URGENCY_EMERGENCY)
        r->em[r->n_em++] = lat;
      else
        r->nm[r->n_nm++] = lat;
      r->submit_at[q] = 0;
    }
  }
  if (e->type == CM_EV_ACCEPTED && e->to == CM_REQ_ACCEPTED) {
    memcpy(r->jobs[r->n_jobs].id, e->request, CM_ID_MAX);
    r->jobs[r->n_jobs++].due_ms = after + r->o.service_s * 1000.0;
  }
}

/* The daemon's timer: step the engine when it is due and take its events.
 * Returns 1 when it stepped. */
static int engine_step_due(run *r, double now) {
  if (cm_engine_next_due(r->eng) > (int64_t)now)
    return 0;
  cm_error err;
  if (cm_engine_step(r->eng, (int64_t)now, NULL, &err) != CM_OK)
    fprintf(stderr, "bench_engine: step: %s\n", err.message);
  double after = cm_bench_now_ms();
  int n;
  while ((n = cm_engine_poll(r->eng, r->ev, POLL_MAX)) > 0)
    for (int i = 0; i < n; i++)
      event_record(r, &r->ev[i], after);
  return 1;
}

/* --live: a line a second with the engine's states. */
static void live_print(run *r, double now) {
  if (!r->o.live || now < r->next_print)
    return;
  cm_engine_stats ls;
  cm_engine_stats_get(r->eng, &ls);
  double sofar = pct(r->em, r->n_em, 0.5); /* wall clock, so far */
  printf("t=%5.1fs submitted %5d  pending %4d  offered %4d  accepted %5d"
         "  done %5d  batches %5llu  emergencies %3d, submit->offer p50 "
         "%.2f ms\n",
         (now - r->t0) / 1000.0, r->next_req, ls.by_state[CM_REQ_PENDING],
         ls.by_state[CM_REQ_OFFERED], ls.by_state[CM_REQ_ACCEPTED],
         ls.by_state[CM_REQ_DONE], (unsigned long long)ls.batches, r->n_em,
         sofar);
  fflush(stdout);
  r->next_print += 1000.0;
}

/* The jobs whose service time is over by now are completed. */
static void jobs_complete_due(run *r, double now) {
  for (; r->job_head < r->n_jobs && r->jobs[r->job_head].due_ms <= now;
       r->job_head++)
    cm_engine_complete(r->eng, r->jobs[r->job_head].id, (int64_t)now, NULL);
}

/* The load until the end: positions, requests, the timer, the jobs' ends;
 * a 0.1 ms sleep when nothing was due. */
static void load_run(run *r) {
  double now;
  while ((now = cm_bench_now_ms()) < r->end) {
    int busy = positions_send_due(r, now);
    busy |= requests_submit_due(r, now);
    now = cm_bench_now_ms();
    busy |= engine_step_due(r, now);
    live_print(r, now);
    jobs_complete_due(r, now);
    if (!busy) {
      struct timespec ts = {0, 100000};
      nanosleep(&ts, NULL);
    }
  }
}

/* The figures of a finished run. */
typedef struct summary {
  double secs;                  /* wall seconds of the load */
  double e50, e99, emax;        /* emergency submit->offer, ms */
  double n50, n99;              /* the others' */
  double b50, b99, s50, s99;    /* the engine's batch and solve ms */
  unsigned long long batches;   /* batches stepped */
  unsigned long long fallbacks; /* batches that fell back to greedy */
} summary;

static summary summarize(const run *r) {
  summary m;
  m.secs = (cm_bench_now_ms() - r->t0) / 1000.0;
  cm_engine_stats st;
  cm_engine_stats_get(r->eng, &st);
  m.e50 = pct(r->em, r->n_em, 0.5);
  m.e99 = pct(r->em, r->n_em, 0.99);
  m.emax = pct(r->em, r->n_em, 1.0);
  m.n50 = pct(r->nm, r->n_nm, 0.5);
  m.n99 = pct(r->nm, r->n_nm, 0.99);
  m.b50 = cm_histogram_quantile(&st.batch_ms, 0.5);
  m.b99 = cm_histogram_quantile(&st.batch_ms, 0.99);
  m.s50 = cm_histogram_quantile(&st.solve_ms, 0.5);
  m.s99 = cm_histogram_quantile(&st.solve_ms, 0.99);
  m.batches = (unsigned long long)st.batches;
  m.fallbacks = (unsigned long long)st.fallbacks;
  return m;
}

static void report_print(const run *r, const summary *m) {
  printf("carematch %s engine bench: %.1f s, %d workers, %.0f positions/s "
         "achieved, %.1f requests/s\n",
         CM_VERSION, m->secs, r->o.workers, r->positions / m->secs,
         r->next_req / m->secs);
  printf("emergency submit->offer (wall, ms): n %d  p50 %.2f  p99 %.2f  max "
         "%.2f\n",
         r->n_em, m->e50, m->e99, m->emax);
  printf("other submit->offer (wall, ms, includes the %.0f ms window): n %d  "
         "p50 %.1f  p99 %.1f\n",
         r->o.window_ms, r->n_nm, m->n50, m->n99);
  printf("batches %llu  batch ms p50 %.2f p99 %.2f  solve ms p50 %.2f p99 "
         "%.2f  fallbacks %llu\n",
         m->batches, m->b50, m->b99, m->s50, m->s99, m->fallbacks);
}

/* --out: the JSON report (not written when the file cannot be opened). */
static void report_json(const run *r, const summary *m) {
  FILE *f = fopen(r->o.out, "w");
  if (!f)
    return;
  fprintf(f,
          "{\"bench\":\"engine\",\"version\":\"%s\",\"seconds\":%.3f,"
          "\"workers\":%d,\"positions_per_s\":%.1f,\"requests_per_s\":%.2f,"
          "\"window_ms\":%.0f,\"budget_ms\":%.0f,\"lookahead_upto\":\"%s\","
          "\"emergencies_alone\":%d,"
          "\"emergency_submit_to_offer_ms\":{\"n\":%d,\"p50\":%.3f,"
          "\"p99\":%.3f,\"max\":%.3f},"
          "\"other_submit_to_offer_ms\":{\"n\":%d,\"p50\":%.3f,\"p99\":"
          "%.3f},\"batches\":%llu,\"fallbacks\":%llu,"
          "\"batch_ms\":{\"p50\":%.3f,\"p99\":%.3f},"
          "\"solve_ms\":{\"p50\":%.3f,\"p99\":%.3f}}\n",
          CM_VERSION, m->secs, r->o.workers, r->positions / m->secs,
          r->next_req / m->secs, r->o.window_ms, r->o.budget_ms,
          cm_urgency_name((cm_urgency)r->o.lookahead_upto), r->o.alone, r->n_em,
          m->e50, m->e99, m->emax, r->n_nm, m->n50, m->n99, m->batches,
          m->fallbacks, m->b50, m->b99, m->s50, m->s99);
  fclose(f);
}

static void run_free(run *r) {
  free(r->em);
  free(r->nm);
  free(r->submit_at);
  free(r->jobs);
  free(r->ev);
  cm_engine_free(r->eng);
  cm_store_free(r->store);
  cm_instance_free(r->city);
}

int main(int argc, char **argv) {
  run r;
  memset(&r, 0, sizeof r);
  if (parse(argc, argv, &r.o) != 0)
    return 64;
  int rc = 1;
  if (city_make(&r) == 0 && engine_start(&r) == 0 && load_prepare(&r) == 0) {
    load_run(&r);
    summary m = summarize(&r);
    report_print(&r, &m);
    if (r.o.out)
      report_json(&r, &m);
    rc = 0;
  }
  run_free(&r);
  return rc;
}
