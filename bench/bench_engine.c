/* bench_engine.c -- the engine under a steady real-time load, in process:
 * position updates and requests arrive at fixed rates on the wall clock, the
 * loop steps the engine whenever it is due (as the daemon's timer does), and
 * each emergency's wall time from submit to its offer is measured. Workers
 * accept at once (auto_accept) and finish their jobs after a service time.
 *
 *   bench_engine [--seconds S] [--workers N] [--positions-per-s P]
 *                [--requests-per-s R] [--window MS] [--budget MS]
 *                [--seed S] [--live] [--out FILE]
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
  int workers;
  int live; /* print a line a second */
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
              .workers = 20000,
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
    else {
      fprintf(stderr, "bench_engine: unknown option %s\n", a);
      return -1;
    }
  }
  return o->seconds > 0 && o->workers > 0 && o->req_rate > 0 ? 0 : -1;
}

typedef struct pending_job {
  char id[CM_ID_MAX];
  double due_ms;
} pending_job;

int main(int argc, char **argv) {
  opts o;
  if (parse(argc, argv, &o) != 0)
    return 64;
  int pool = (int)(o.req_rate * o.seconds * 1.2) + 16;
  cm_city_spec sp;
  cm_city_spec_init(&sp);
  sp.seed = o.seed;
  sp.n_workers = o.workers;
  sp.n_requests = pool;
  sp.emergency_share = 0.05;
  cm_error err;
  cm_instance *city = cm_city_instance(&sp, &err);
  if (!city) {
    fprintf(stderr, "bench_engine: city: %s\n", err.message);
    return 1;
  }
  cm_store *store = cm_store_memory_new(0);
  cm_engine_config cfg;
  cm_engine_config_init(&cfg);
  cfg.params = city->params;
  cfg.weights = city->weights;
  cfg.batch_window_ms = (int64_t)o.window_ms;
  cfg.solve_budget_ms = o.budget_ms;
  cfg.auto_accept = 1;
  cfg.clock = cm_bench_clock;
  cm_engine *eng = cm_engine_new(&cfg, store, &err);
  if (!eng || !store) {
    fprintf(stderr, "bench_engine: engine: %s\n", err.message);
    return 1;
  }
  double t0 = cm_bench_now_ms();
  for (int w = 0; w < city->n_workers; w++) {
    cm_worker wk = city->workers[w];
    wk.seen_ms = (int64_t)t0;
    cm_engine_worker_upsert(eng, &wk, (int64_t)t0, NULL);
  }
  double *em = malloc((size_t)pool * sizeof *em),
         *nm = malloc((size_t)pool * sizeof *nm);
  double *submit_at = calloc((size_t)pool, sizeof *submit_at);
  pending_job *jobs = malloc((size_t)pool * CM_MAX_STAFF * sizeof *jobs);
  cm_event *ev = malloc(4096 * sizeof *ev);
  int n_em = 0, n_nm = 0, n_jobs = 0, next_req = 0, job_head = 0;
  long positions = 0;
  double next_pos = t0, next_sub = t0, end = t0 + o.seconds * 1000.0;
  uint64_t rng = o.seed * 0x9e3779b97f4a7c15ULL + 1;
  double now = t0, next_print = t0 + 1000.0;
  while ((now = cm_bench_now_ms()) < end) {
    int busy = 0;
    /* position updates due: small random moves */
    for (; next_pos <= now; next_pos += 1000.0 / o.pos_rate) {
      int w = (int)(cm_city_rand(&rng) % (uint64_t)city->n_workers);
      cm_worker *wk = &city->workers[w];
      wk->lat += (cm_city_uniform(&rng) - 0.5) * 0.001;
      wk->lon += (cm_city_uniform(&rng) - 0.5) * 0.001;
      cm_engine_worker_position(eng, wk->id, wk->lat, wk->lon, (int64_t)now,
                                NULL);
      positions++;
      busy = 1;
    }
    /* requests due */
    for (; next_sub <= now && next_req < pool;
         next_sub += 1000.0 / o.req_rate) {
      const cm_request *rq = &city->requests[next_req];
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
      submit_at[next_req] = cm_bench_now_ms();
      if (cm_engine_submit(eng, &s, (int64_t)now, &err) != CM_OK)
        fprintf(stderr, "bench_engine: submit: %s\n", err.message);
      next_req++;
      busy = 1;
    }
    /* the timer: step when due */
    now = cm_bench_now_ms();
    if (cm_engine_next_due(eng) <= (int64_t)now) {
      if (cm_engine_step(eng, (int64_t)now, NULL, &err) != CM_OK)
        fprintf(stderr, "bench_engine: step: %s\n", err.message);
      double after = cm_bench_now_ms();
      int n;
      while ((n = cm_engine_poll(eng, ev, 4096)) > 0)
        for (int i = 0; i < n; i++) {
          if (ev[i].type == CM_EV_OFFERED) {
            int r = atoi(ev[i].request + 1);
            if (r >= 0 && r < pool && submit_at[r] > 0) {
              double lat = after - submit_at[r];
              if (city->requests[r].urgency == CM_URGENCY_EMERGENCY)
                em[n_em++] = lat;
              else
                nm[n_nm++] = lat;
              submit_at[r] = 0;
            }
          }
          if (ev[i].type == CM_EV_ACCEPTED && ev[i].to == CM_REQ_ACCEPTED) {
            memcpy(jobs[n_jobs].id, ev[i].request, CM_ID_MAX);
            jobs[n_jobs++].due_ms = after + o.service_s * 1000.0;
          }
        }
      busy = 1;
    }
    if (o.live && now >= next_print) {
      cm_engine_stats ls;
      cm_engine_stats_get(eng, &ls);
      double sofar = pct(em, n_em, 0.5); /* wall clock, so far */
      printf("t=%5.1fs submitted %5d  pending %4d  offered %4d  accepted %5d"
             "  done %5d  batches %5llu  emergencies %3d, submit->offer p50 "
             "%.2f ms\n",
             (now - t0) / 1000.0, next_req, ls.by_state[CM_REQ_PENDING],
             ls.by_state[CM_REQ_OFFERED], ls.by_state[CM_REQ_ACCEPTED],
             ls.by_state[CM_REQ_DONE], (unsigned long long)ls.batches, n_em,
             sofar);
      fflush(stdout);
      next_print += 1000.0;
    }
    for (; job_head < n_jobs && jobs[job_head].due_ms <= now; job_head++)
      cm_engine_complete(eng, jobs[job_head].id, (int64_t)now, NULL);
    if (!busy) {
      struct timespec ts = {0, 100000};
      nanosleep(&ts, NULL);
    }
  }
  double secs = (cm_bench_now_ms() - t0) / 1000.0;
  cm_engine_stats st;
  cm_engine_stats_get(eng, &st);
  double e50 = pct(em, n_em, 0.5), e99 = pct(em, n_em, 0.99),
         emax = pct(em, n_em, 1.0);
  double n50 = pct(nm, n_nm, 0.5), n99 = pct(nm, n_nm, 0.99);
  printf("carematch %s engine bench: %.1f s, %d workers, %.0f positions/s "
         "achieved, %.1f requests/s\n",
         CM_VERSION, secs, o.workers, positions / secs, next_req / secs);
  printf("emergency submit->offer (wall, ms): n %d  p50 %.2f  p99 %.2f  max "
         "%.2f\n",
         n_em, e50, e99, emax);
  printf("other submit->offer (wall, ms, includes the %.0f ms window): n %d  "
         "p50 %.1f  p99 %.1f\n",
         o.window_ms, n_nm, n50, n99);
  printf("batches %llu  batch ms p50 %.2f p99 %.2f  solve ms p50 %.2f p99 "
         "%.2f  fallbacks %llu\n",
         (unsigned long long)st.batches,
         cm_histogram_quantile(&st.batch_ms, 0.5),
         cm_histogram_quantile(&st.batch_ms, 0.99),
         cm_histogram_quantile(&st.solve_ms, 0.5),
         cm_histogram_quantile(&st.solve_ms, 0.99),
         (unsigned long long)st.fallbacks);
  if (o.out) {
    FILE *f = fopen(o.out, "w");
    if (f) {
      fprintf(f,
              "{\"bench\":\"engine\",\"version\":\"%s\",\"seconds\":%.3f,"
              "\"workers\":%d,\"positions_per_s\":%.1f,\"requests_per_s\":%.2f,"
              "\"window_ms\":%.0f,\"budget_ms\":%.0f,"
              "\"emergency_submit_to_offer_ms\":{\"n\":%d,\"p50\":%.3f,"
              "\"p99\":%.3f,\"max\":%.3f},"
              "\"other_submit_to_offer_ms\":{\"n\":%d,\"p50\":%.3f,\"p99\":"
              "%.3f},\"batches\":%llu,\"fallbacks\":%llu,"
              "\"batch_ms\":{\"p50\":%.3f,\"p99\":%.3f},"
              "\"solve_ms\":{\"p50\":%.3f,\"p99\":%.3f}}\n",
              CM_VERSION, secs, o.workers, positions / secs, next_req / secs,
              o.window_ms, o.budget_ms, n_em, e50, e99, emax, n_nm, n50, n99,
              (unsigned long long)st.batches, (unsigned long long)st.fallbacks,
              cm_histogram_quantile(&st.batch_ms, 0.5),
              cm_histogram_quantile(&st.batch_ms, 0.99),
              cm_histogram_quantile(&st.solve_ms, 0.5),
              cm_histogram_quantile(&st.solve_ms, 0.99));
      fclose(f);
    }
  }
  free(em);
  free(nm);
  free(submit_at);
  free(jobs);
  free(ev);
  cm_engine_free(eng);
  cm_store_free(store);
  cm_instance_free(city);
  return 0;
}
