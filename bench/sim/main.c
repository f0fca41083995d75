/* main.c -- carematch_sim: generate a day in a city, run one in process
 * under several policies and print the KPIs side by side, or drive a
 * running carematchd with it (docs/sim.md).
 *
 *   carematch_sim generate [--seed N] [--workers N] [--requests N] --out F
 *   carematch_sim run (SCENARIO.json | --trace T | --seed N ...)
 *                     [--policies LIST] [--floor]
 *                     [--out KPIS.json] [--quiet]
 *   carematch_sim live (SCENARIO.json | --seed N ...) (--daemon PATH
 *                     [--redis URL] [--trace FILE] | --url URL [tokens])
 *                     [--rate X] [--from HH:MM] [--until HH:MM]
 *                     [--survive] [--acked FILE] [--id-prefix P]
 * --survive keeps a live run going while the daemon or Redis restarts
 * (scripts/chaos.sh); --acked writes every request id acknowledged;
 * --cancel-rest cancels what is not done at the end (scripts/soak.sh).
 * LIST: comma-separated, of optimal (the engine, 100 ms budget, with its
 * emergency reserve), greedy (the engine's greedy fallback: most urgent
 * first, nearest feasible; no reserve: the baseline), greedy-reserve and
 * optimal-noreserve (the same with the reserve switched), and
 * NAME=FILE.json: the engine under the weights of FILE ({"weights": {...}},
 * the daemon's PUT /v1/weights body) -- what a change of weights would do.
 * --trace T: a day carematchd recorded (--trace), replayed (trace.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/json.h"
#include "live.h"
#include "sim.h"

static const char *const urg[CM_URGENCY_COUNT] = {"emergency", "urgent",
                                                  "normal", "scheduled"};

static void bar(double done, void *ctx) {
  (void)ctx;
  int w = (int)(done * 40);
  fprintf(stderr, "\r  [%-40.*s] %3.0f%%", w,
          "########################################", done * 100);
  if (done >= 0.999)
    fprintf(stderr, "\n");
}

static void table(const sim_kpis *k, int n) {
  printf("\n%-34s", "KPI");
  for (int i = 0; i < n; i++)
    printf(" %14s", k[i].policy);
  printf("\n");
#define ROW(label, fmt, ...)                                                   \
  do {                                                                         \
    printf("%-34s", label);                                                    \
    for (int i = 0; i < n; i++)                                                \
      printf(" " fmt, __VA_ARGS__);                                            \
    printf("\n");                                                              \
  } while (0)
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    char l[64];
    snprintf(l, sizeof l, "%s: requests", urg[u]);
    ROW(l, "%14d", k[i].requests[u]);
    snprintf(l, sizeof l, "%s: to offer p50/p95 min", urg[u]);
    ROW(l, "%6.2f /%6.2f", k[i].offer_p50[u], k[i].offer_p95[u]);
    snprintf(l, sizeof l, "%s: to arrival p50/p95 min", urg[u]);
    ROW(l, "%6.1f /%6.1f", k[i].arrive_p50[u], k[i].arrive_p95[u]);
    snprintf(l, sizeof l, "%s: to arrival p99 min", urg[u]);
    ROW(l, "%14.1f", k[i].arrive_p99[u]);
  }
  ROW("jobs done", "%14d", k[i].done);
  ROW("unassigned at the day's end", "%14d", k[i].unassigned);
  ROW("in flight at the end", "%14d", k[i].in_flight);
  ROW("offers expired / rejected", "%7d /%5d", k[i].expired, k[i].rejected);
  ROW("travel km, all staff", "%14.0f", k[i].travel_km);
  ROW("travel km per job", "%14.2f", k[i].travel_per_job);
  if (k[0].floor_ms > 0) {
    ROW("hindsight floor km (jobs done)", "%14.0f", k[i].floor_km);
    ROW("travel / floor", "%14.3f",
        k[i].floor_km > 0 ? k[i].travel_km / k[i].floor_km : NAN);
    ROW("floor km, waits <= this run's", "%14.0f", k[i].floor_wait_km);
    ROW("travel / that floor", "%14.3f",
        k[i].floor_wait_km > 0 ? k[i].travel_km / k[i].floor_wait_km : NAN);
    ROW("floors solved in s", "%14.1f", k[i].floor_ms / 1000.0);
  }
  ROW("team requests staffed / half", "%7d /%5d", k[i].teams_staffed,
      k[i].teams_half);
  ROW("workload Gini (jobs per worker)", "%14.3f", k[i].gini);
  ROW("continuity (same worker, elder)", "%14.3f", k[i].continuity);
  ROW("batch p50 / p99 ms", "%6.2f /%6.2f", k[i].batch_p50_ms,
      k[i].batch_p99_ms);
  ROW("batches / fallbacks", "%7llu /%5llu", (unsigned long long)k[i].batches,
      (unsigned long long)k[i].fallbacks);
  ROW("wall time s", "%14.1f", k[i].wall_s);
  if (k[0].http_calls)
    ROW("HTTP calls / errors / late answers", "%7llu /%5llu /%4d",
        (unsigned long long)k[i].http_calls,
        (unsigned long long)k[i].http_errors, k[i].late_answers);
#undef ROW
}

static void json_kpis(FILE *f, const sim_kpis *k) {
  fprintf(f, "{\"policy\":\"%s\",\"by_urgency\":{", k->policy);
  for (int u = 0; u < CM_URGENCY_COUNT; u++)
    fprintf(f,
            "%s\"%s\":{\"requests\":%d,\"arrived\":%d,\"offer_min\":{\"p50\":"
            "%.4f,\"p95\":%.4f,\"p99\":%.4f},\"arrival_min\":{\"p50\":%.4f,"
            "\"p95\":%.4f,\"p99\":%.4f}}",
            u ? "," : "", urg[u], k->requests[u], k->arrived[u],
            isnan(k->offer_p50[u]) ? -1 : k->offer_p50[u],
            isnan(k->offer_p95[u]) ? -1 : k->offer_p95[u],
            isnan(k->offer_p99[u]) ? -1 : k->offer_p99[u],
            isnan(k->arrive_p50[u]) ? -1 : k->arrive_p50[u],
            isnan(k->arrive_p95[u]) ? -1 : k->arrive_p95[u],
            isnan(k->arrive_p99[u]) ? -1 : k->arrive_p99[u]);
  fprintf(f,
          "},\"done\":%d,\"unassigned\":%d,\"in_flight\":%d,\"expired\":%d,"
          "\"rejected\":%d,"
          "\"travel_km\":%.3f,\"travel_km_per_job\":%.4f,\"floor_km\":%.3f,"
          "\"floor_wait_km\":%.3f,\"floor_s\":%.2f,\"teams\":%d,"
          "\"teams_staffed\":%d,\"teams_half\":%d,\"gini\":%.4f,"
          "\"continuity\":%.4f,\"batch_ms\":{\"p50\":%.3f,\"p99\":%.3f,"
          "\"max\":%.3f},\"batches\":%llu,\"fallbacks\":%llu,\"wall_s\":%.2f,"
          "\"http_calls\":%llu,\"http_errors\":%llu,\"late_answers\":%d",
          k->done, k->unassigned, k->in_flight, k->expired, k->rejected,
          k->travel_km, k->travel_per_job, k->floor_km, k->floor_wait_km,
          k->floor_ms / 1000.0, k->teams, k->teams_staffed, k->teams_half,
          k->gini, k->continuity, k->batch_p50_ms, k->batch_p99_ms,
          k->batch_max_ms, (unsigned long long)k->batches,
          (unsigned long long)k->fallbacks, k->wall_s,
          (unsigned long long)k->http_calls, (unsigned long long)k->http_errors,
          k->late_answers);
  /* the day hour by hour, and every arrival time, for plots */
  fprintf(f, ",\"hours\":[");
  for (int h = 0; h < 24; h++)
    fprintf(f,
            "%s{\"hour\":%d,\"requests\":%d,\"offer_wait_min\":%.3f,"
            "\"on_shift\":%d,\"busy\":%d}",
            h ? "," : "", h, k->hour_requests[h], k->hour_offer_wait[h],
            k->hour_on_shift[h], k->hour_busy[h]);
  fprintf(f, "],\"arrival_min\":{");
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    fprintf(f, "%s\"%s\":[", u ? "," : "", urg[u]);
    for (int i = 0; k->arrivals[u] && i < k->arrived[u]; i++)
      fprintf(f, "%s%.3f", i ? "," : "", k->arrivals[u][i]);
    fprintf(f, "]");
  }
  fprintf(f, "}}");
}

/* {"weights": {...}} from path onto *w (the daemon's PUT body). */
static int load_weights(const char *path, cm_weights *w) {
  FILE *f = fopen(path, "rb");
  char buf[65536];
  size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
  if (f)
    fclose(f);
  cm_error err;
  if (!f || cm_weights_from_json(buf, n, w, &err) != CM_OK) {
    fprintf(stderr, "carematch_sim: %s: %s\n", path,
            f ? err.message : "cannot read it");
    return -1;
  }
  return 0;
}

static int usage(void) {
  fprintf(stderr,
          "usage: carematch_sim generate ([--seed N] [--workers N] "
          "[--requests N] | --trace T) --out FILE\n"
          "       carematch_sim run (FILE | --trace T | --seed N [--workers N] "
          "[--requests N])\n"
          "                     [--policies optimal,greedy] [--out FILE] "
          "[--floor] [--quiet]\n"
          "       carematch_sim live (FILE | --seed N ...) (--daemon PATH "
          "[--redis URL] [--trace FILE]\n"
          "                     | --url http://HOST:PORT [--platform-token T "
          "--gateway-token T --operator-token T])\n"
          "                     [--rate X] [--from HH:MM] [--until HH:MM] "
          "[--drain-min N] [--out FILE] [--quiet]\n"
          "                     [--survive] [--acked FILE] [--id-prefix P] "
          "[--cancel-rest]\n");
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 2)
    return usage();
  int gen = !strcmp(argv[1], "generate"), is_live = !strcmp(argv[1], "live");
  if (!gen && !is_live && strcmp(argv[1], "run"))
    return usage();
  sim_live_opts lo;
  sim_live_default(&lo);
  sim_spec spec;
  sim_spec_default(&spec);
  const char *out = NULL, *file = NULL, *policies = "optimal,greedy",
             *trace = NULL;
  int quiet = 0, floors = 0, policies_given = 0;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--seed") && v)
      spec.seed = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(a, "--workers") && v)
      spec.workers = atoi(argv[++i]);
    else if (!strcmp(a, "--requests") && v)
      spec.requests = atoi(argv[++i]);
    else if (!strcmp(a, "--out") && v)
      out = argv[++i];
    else if (!strcmp(a, "--policies") && v)
      policies = argv[++i], policies_given = 1;
    else if (!strcmp(a, "--quiet"))
      quiet = lo.quiet = 1;
    else if (!strcmp(a, "--trace") && v && !is_live)
      trace = argv[++i];
    else if (!strcmp(a, "--floor"))
      floors = lo.floors = 1;
    else if (is_live && v && !strcmp(a, "--daemon"))
      lo.daemon = argv[++i];
    else if (is_live && !strcmp(a, "--survive"))
      lo.survive = 1;
    else if (is_live && !strcmp(a, "--cancel-rest"))
      lo.cancel_rest = 1;
    else if (is_live && v && !strcmp(a, "--acked"))
      lo.acked = argv[++i];
    else if (is_live && v && !strcmp(a, "--id-prefix"))
      lo.id_prefix = argv[++i];
    else if (is_live && v && !strcmp(a, "--url"))
      lo.url = argv[++i];
    else if (is_live && v && !strcmp(a, "--redis"))
      lo.redis = argv[++i];
    else if (is_live && v && !strcmp(a, "--trace"))
      lo.trace = argv[++i];
    else if (is_live && v && !strcmp(a, "--platform-token"))
      lo.tok_platform = argv[++i];
    else if (is_live && v && !strcmp(a, "--gateway-token"))
      lo.tok_gateway = argv[++i];
    else if (is_live && v && !strcmp(a, "--operator-token"))
      lo.tok_operator = argv[++i];
    else if (is_live && v && !strcmp(a, "--rate")) {
      lo.rate = atof(argv[++i]);
      if (!(lo.rate >= 0.01 && lo.rate <= 10000)) {
        fprintf(stderr, "carematch_sim: --rate: must be 0.01..10000\n");
        return 2;
      }
    } else if (is_live && v &&
               (!strcmp(a, "--from") || !strcmp(a, "--until"))) {
      int hh, mm;
      if (sscanf(argv[++i], "%d:%d", &hh, &mm) != 2 || hh < 0 || hh > 24 ||
          mm < 0 || mm > 59 || hh * 60 + mm > 1440) {
        fprintf(stderr, "carematch_sim: %s: must be HH:MM (00:00..24:00)\n", a);
        return 2;
      }
      *(a[2] == 'f' ? &lo.from_ms : &lo.until_ms) =
          ((int64_t)hh * 60 + mm) * 60000;
    } else if (is_live && v && !strcmp(a, "--drain-min"))
      lo.drain_ms = (int64_t)(atof(argv[++i]) * 60000);
    else if (a[0] != '-' && !file)
      file = a;
    else
      return usage();
  }
  char msg[256];
  sim_scenario *s = trace  ? sim_scenario_from_trace(trace, msg, sizeof msg)
                    : file ? sim_scenario_load(file, msg, sizeof msg)
                           : sim_scenario_generate(&spec, msg, sizeof msg);
  if (!s) {
    fprintf(stderr, "carematch_sim: %s\n", msg);
    return 2;
  }
  if (gen) {
    int rc = out ? sim_scenario_save(s, out) : -1;
    if (rc != 0)
      fprintf(stderr, "carematch_sim: give --out FILE (a writable path)\n");
    else
      printf("scenario: %d staff, %d requests, seed %llu -> %s\n", s->n_workers,
             s->n_requests, (unsigned long long)s->seed, out);
    sim_scenario_free(s);
    return rc ? 1 : 0;
  }
  sim_kpis k[4];
  int nk = 0, rc = 0;
  if (is_live && lo.from_ms >= lo.until_ms) {
    fprintf(stderr, "carematch_sim: --from must come before --until\n");
    rc = 2;
  } else if (is_live) {
    if (!quiet)
      fprintf(stderr,
              "live: %d staff, %d requests, %02d:%02d to %02d:%02d at %g "
              "times real time, %s\n",
              s->n_workers, s->n_requests, (int)(lo.from_ms / 3600000),
              (int)(lo.from_ms / 60000 % 60), (int)(lo.until_ms / 3600000),
              (int)(lo.until_ms / 60000 % 60), lo.rate,
              lo.url     ? lo.url
              : lo.redis ? "carematchd on Redis"
                         : "carematchd on its embedded store");
    if (sim_live(s, &lo, &k[0], msg, sizeof msg) != 0) {
      fprintf(stderr, "carematch_sim: %s\n", msg);
      rc = 1;
    } else {
      nk = 1;
    }
    /* beside it: the same window in process, greedy by default */
    if (!policies_given)
      policies = "greedy";
  }
  char list[128];
  snprintf(list, sizeof list, "%s", policies);
  for (char *save, *t = strtok_r(list, ",", &save); rc == 0 && t && nk < 4;
       t = strtok_r(NULL, ",", &save)) {
    sim_policy p;
    char *eq = strchr(t, '=');
    if (!strcmp(t, "optimal")) {
      sim_policy_default(&p, "optimal", 100);
    } else if (!strcmp(t, "greedy")) { /* the baseline: no reserve */
      sim_policy_default(&p, "greedy", 0);
      p.no_reserve = 1;
    } else if (!strcmp(t, "optimal-noreserve")) {
      sim_policy_default(&p, "optimal-noreserve", 100);
      p.no_reserve = 1;
    } else if (!strcmp(t, "greedy-reserve")) {
      sim_policy_default(&p, "greedy-reserve", 0);
    } else if (eq) { /* what-if: NAME=weights.json, the engine with those */
      *eq = '\0';
      sim_policy_default(&p, t, 100);
      if (load_weights(eq + 1, &p.weights) != 0) {
        rc = 2;
        break;
      }
    } else {
      fprintf(stderr, "carematch_sim: unknown policy %s\n", t);
      rc = 2;
      break;
    }
    p.floors = floors;
    if (is_live) { /* the live run's window, in process */
      p.from_ms = lo.from_ms;
      p.until_ms = lo.until_ms;
      p.drain_ms = lo.drain_ms;
    }
    if (!quiet)
      fprintf(stderr, "%s: %d staff, %d requests\n", p.name, s->n_workers,
              s->n_requests);
    if (sim_run(s, &p, &k[nk], quiet ? NULL : bar, NULL, msg, sizeof msg) !=
        0) {
      fprintf(stderr, "carematch_sim: %s\n", msg);
      rc = 1;
      break;
    }
    nk++;
  }
  if (rc == 0) {
    table(k, nk);
    const sim_kpis *opt = NULL, *gr = NULL;
    for (int i = 0; i < nk; i++) {
      opt = !strcmp(k[i].policy, "optimal") || !strcmp(k[i].policy, "live")
                ? &k[i]
                : opt;
      gr = !strcmp(k[i].policy, "greedy") ? &k[i] : gr;
    }
    if (opt && gr)
      printf("\n%s: emergency p95 time to arrival %.2f x greedy's; team "
             "requests half-staffed: %d\n",
             opt->policy, opt->arrive_p95[0] / gr->arrive_p95[0],
             opt->teams_half);
  }
  if (rc == 0 && out) {
    FILE *f = fopen(out, "w");
    if (f) {
      fprintf(f, "{\"seed\":%llu,\"workers\":%d,\"requests\":%d,\"runs\":[",
              (unsigned long long)s->seed, s->n_workers, s->n_requests);
      for (int i = 0; i < nk; i++) {
        fprintf(f, i ? "," : "");
        json_kpis(f, &k[i]);
      }
      fprintf(f, "]}\n");
      fclose(f);
    }
  }
  for (int i = 0; i < nk; i++)
    sim_kpis_free(&k[i]);
  sim_scenario_free(s);
  return rc;
}
