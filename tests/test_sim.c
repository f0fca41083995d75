/* test_sim.c -- the city simulator: a generated day is reproducible from
 * its seed and survives a JSON round trip; a day run in process keeps its
 * books (every request served or counted unassigned, no team half-staffed,
 * offers only after submission) and gives the same KPIs twice; the
 * hindsight floor stays below the best schedule of tiny days, found by
 * brute force, and below the travel of a simulated day; idle staff follow
 * the engine's standby suggestions, and the moves count as travel. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rng.h"
#include "scenario.h"
#include "sim.h"

static sim_scenario *small_day(uint64_t seed) {
  sim_spec spec;
  sim_spec_init(&spec);
  spec.seed = seed;
  spec.workers = 90;
  spec.requests = 300;
  spec.elders = 400;
  char msg[128];
  sim_scenario *s = sim_scenario_generate(&spec, msg, sizeof msg);
  cr_assert_not_null(s, "%s", msg);
  return s;
}

static void run(const sim_scenario *s, double budget, sim_kpis *k) {
  sim_policy p;
  char msg[128];
  sim_policy_init(&p, budget > 0 ? "optimal" : "greedy", budget);
  p.floors = 1;
  cr_assert_eq(sim_run(s, &p, k, NULL, NULL, msg, sizeof msg), 0, "%s", msg);
}

/* Everything but the timings. */
static void same_kpis(const sim_kpis *a, const sim_kpis *b) {
  cr_assert_eq(a->done, b->done);
  cr_assert_eq(a->unassigned, b->unassigned);
  cr_assert_eq(a->rejected, b->rejected);
  cr_assert_float_eq(a->travel_km, b->travel_km, 1e-9);
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    cr_assert_eq(a->requests[u], b->requests[u]);
    cr_assert(a->arrive_p95[u] == b->arrive_p95[u] ||
              (isnan(a->arrive_p95[u]) && isnan(b->arrive_p95[u])));
  }
}

Test(sim, a_seed_gives_the_same_day) {
  sim_scenario *a = small_day(3), *b = small_day(3), *c = small_day(4);
  cr_assert_eq(a->n_requests, b->n_requests);
  cr_assert(memcmp(a->requests, b->requests,
                   (size_t)a->n_requests * sizeof *a->requests) == 0);
  cr_assert(memcmp(a->workers, b->workers,
                   (size_t)a->n_workers * sizeof *a->workers) == 0);
  cr_assert(memcmp(a->requests, c->requests,
                   (size_t)a->n_requests * sizeof *a->requests) != 0,
            "another seed, another day");
  for (int i = 1; i < a->n_requests; i++)
    cr_assert_leq(a->requests[i - 1].at_ms, a->requests[i].at_ms);
  sim_scenario_free(a);
  sim_scenario_free(b);
  sim_scenario_free(c);
}

Test(sim, a_day_keeps_its_books_and_repeats) {
  sim_scenario *s = small_day(7);
  sim_kpis a, b, g;
  run(s, 100, &a);
  run(s, 100, &b);
  run(s, 0, &g);
  same_kpis(&a, &b);
  int total = 0;
  for (int u = 0; u < CM_URGENCY_COUNT; u++)
    total += a.requests[u];
  cr_assert_eq(total, s->n_requests);
  cr_assert_eq(a.done + a.in_flight + a.unassigned, s->n_requests,
               "%d + %d + %d", a.done, a.in_flight, a.unassigned);
  cr_assert_gt(a.done, s->n_requests / 2, "most of the day is served");
  cr_assert_eq(a.teams_half, 0, "no team request half-staffed");
  cr_assert_eq(g.teams_half, 0);
  cr_assert_gt(a.teams, 0, "the day has team requests");
  cr_assert(a.gini >= 0 && a.gini < 1);
  cr_assert_gt(g.fallbacks, 0, "greedy is the fallback");
  cr_assert_gt(a.floor_km, 0);
  cr_assert_leq(a.floor_km, a.travel_km,
                "the hindsight floor is below the "
                "day's travel: %f > %f",
                a.floor_km, a.travel_km);
  cr_assert_leq(g.floor_km, g.travel_km);
  cr_assert_gt(a.floor_wait_km, 0);
  cr_assert_leq(a.floor_km, a.floor_wait_km + 1e-6, "a cap only raises it");
  cr_assert_leq(a.floor_wait_km, a.travel_km,
                "the floor under the run's own waits is below the run's "
                "travel: %f > %f",
                a.floor_wait_km, a.travel_km);
  cr_assert_leq(g.floor_wait_km, g.travel_km);
  cr_assert_eq(a.fallbacks, 0);
  int by_hour = 0;
  for (int h = 0; h < 24; h++)
    by_hour += a.hour_requests[h];
  cr_assert_eq(by_hour, s->n_requests, "the hours count every request");
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    if (a.arrived[u] > 0)
      cr_assert_geq(a.arrive_p50[u], 0);
    for (int i = 1; i < a.arrived[u]; i++)
      cr_assert_leq(a.arrivals[u][i - 1], a.arrivals[u][i]);
  }
  sim_kpis_free(&a);
  sim_kpis_free(&b);
  sim_kpis_free(&g);
  sim_scenario_free(s);
}

/* A day with many emergencies, its history (other requests on the same
 * map) taught first: the engine suggests standby places, the world's idle
 * staff go there (the day's travel changes: the moves count), and the
 * books still close. */
Test(sim, standby_is_followed_and_its_travel_counted) {
  sim_spec spec;
  sim_spec_init(&spec);
  spec.seed = 5;
  spec.workers = 90;
  spec.requests = 300;
  spec.elders = 400;
  spec.emergency_share = 0.1;
  char msg[128];
  sim_scenario *s = sim_scenario_generate(&spec, msg, sizeof msg);
  cr_assert_not_null(s, "%s", msg);
  spec.request_tag = 100;
  spec.requests = 900;
  sim_scenario *h = sim_scenario_generate(&spec, msg, sizeof msg);
  cr_assert_not_null(h, "%s", msg);
  cr_assert(memcmp(s->requests, h->requests, sizeof *s->requests) != 0,
            "the history is other requests");
  sim_kpis k[2];
  for (int i = 0; i < 2; i++) {
    sim_policy p;
    sim_policy_init(&p, i ? "greedy+standby" : "greedy", 0);
    p.standby = i;
    p.history_day = h;
    cr_assert_eq(sim_run(s, &p, &k[i], NULL, NULL, msg, sizeof msg), 0, "%s",
                 msg);
    cr_assert_eq(k[i].done + k[i].in_flight + k[i].unassigned, s->n_requests);
  }
  cr_assert_eq(k[0].standby, 0, "off: none");
  cr_assert_gt(k[1].standby, 0, "suggestions were made");
  cr_assert(fabs(k[1].travel_km - k[0].travel_km) > 1e-6,
            "the staff moved: %f km against %f", k[1].travel_km,
            k[0].travel_km);
  sim_kpis_free(&k[0]);
  sim_kpis_free(&k[1]);
  sim_scenario_free(h);
  sim_scenario_free(s);
}

/* The whole of the file at path (malloc'ed, NUL-terminated). */
static char *read_all(const char *path) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  char *b = malloc((size_t)n + 1);
  cr_assert_not_null(b);
  cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
  b[n] = '\0';
  fclose(f);
  return b;
}

Test(sim, scenario_files_round_trip_and_errors_name_the_field) {
  sim_scenario *s = small_day(9);
  char path[64], msg[256];
  snprintf(path, sizeof path, "/tmp/cm_scenario_%ld.json", (long)getpid());
  cr_assert_eq(sim_scenario_save(s, path), 0);
  sim_scenario *t = sim_scenario_load(path, msg, sizeof msg);
  cr_assert_not_null(t, "%s", msg);
  cr_assert_eq(t->n_requests, s->n_requests);
  sim_kpis a, b;
  run(s, 100, &a);
  run(t, 100, &b);
  same_kpis(&a, &b);
  sim_kpis_free(&a);
  sim_kpis_free(&b);
  FILE *f = fopen(path, "w");
  fputs("{\"format\":\"carematch-scenario-1\",\"seed\":1}", f);
  fclose(f);
  cr_assert_null(sim_scenario_load(path, msg, sizeof msg));
  cr_assert(strstr(msg, "services"), "%s", msg);
  /* a service's name twice: by_service keys the KPIs by name */
  cr_assert_eq(sim_scenario_save(s, path), 0);
  char *text = read_all(path);
  char *second = strstr(text, "\"daily_care\"");
  cr_assert_not_null(second);
  memcpy(second, "\"fall_alarm\"", strlen("\"fall_alarm\""));
  memset(second + strlen("\"fall_alarm\""), ' ',
         strlen("\"daily_care\"") - strlen("\"fall_alarm\""));
  f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
  free(text);
  cr_assert_null(sim_scenario_load(path, msg, sizeof msg));
  cr_assert(strstr(msg, "$.services[].name: a name given twice"), "%s", msg);
  unlink(path);
  sim_scenario_free(s);
  sim_scenario_free(t);
}

/* ---- the floor against brute force on tiny days ---- */

static int service_named(const sim_scenario *s, const char *name) {
  for (int v = 0; v < s->n_services; v++)
    if (strcmp(s->services[v].name, name) == 0)
      return v;
  cr_assert_fail("no service %s", name);
  return -1;
}

static int may_serve(const sim_scenario *s, int w, int q) {
  const sim_service *sv = &s->services[s->requests[q].service];
  cm_skillset k = s->workers[w].skills;
  if (sv->mode == CM_SKILLS_ALL && sv->staff == 1)
    return (k & sv->skills) == sv->skills;
  return (k & sv->skills) != 0;
}

/* A tiny day: 3 workers (caregiver, nurse, caregiver+escort) and 5 jobs
 * called within two hours, in a 10 km square, the catalog of the city. */
static sim_scenario *tiny_day(uint64_t seed) {
  sim_scenario *base = small_day(1);
  sim_scenario *s = calloc(1, sizeof *s);
  cr_assert_not_null(s);
  *s = *base; /* the settings and the catalog; not the staff or requests */
  free(base->workers);
  free(base->requests);
  free(base);
  cm_check_rng g;
  cm_check_rng_seed(&g, seed);
  s->n_workers = 3;
  s->n_requests = 5;
  s->workers = calloc(3, sizeof *s->workers);
  s->requests = calloc(5, sizeof *s->requests);
  cr_assert(s->workers && s->requests);
  cm_skillset care = s->services[service_named(s, "daily_care")].skills;
  cm_skillset nurse = s->services[service_named(s, "medication")].skills;
  cm_skillset escort = s->services[service_named(s, "hospital_escort")].skills;
  cm_skillset roles[3] = {care, nurse, care | escort};
  for (int i = 0; i < 3; i++) {
    sim_worker *w = &s->workers[i];
    snprintf(w->id, sizeof w->id, "w%d", i);
    w->skills = roles[i];
    w->lat = s->center_lat + 0.09 * (cm_check_rng_unit(&g) - 0.5);
    w->lon = s->center_lon + 0.12 * (cm_check_rng_unit(&g) - 0.5);
    w->shift_start_min = i == 1 ? 600 : 360;
    w->shift_end_min = w->shift_start_min + 480;
    w->speed_kmh = 20 + 10 * cm_check_rng_unit(&g);
    w->rating = 5;
    w->level = 3;
  }
  const char *names[] = {"daily_care", "medication", "fall_alarm",
                         "bedridden_transfer", "hospital_escort"};
  int64_t at = 8 * 3600000LL;
  for (int q = 0; q < 5; q++) {
    sim_request *r = &s->requests[q];
    snprintf(r->id, sizeof r->id, "r%d", q);
    snprintf(r->elder, sizeof r->elder, "e%d", q);
    r->service = service_named(s, names[cm_check_rng_int(&g, 0, 4)]);
    at += (int64_t)(30 * 60000 * cm_check_rng_unit(&g));
    r->at_ms = at;
    r->lat = s->center_lat + 0.09 * (cm_check_rng_unit(&g) - 0.5);
    r->lon = s->center_lon + 0.12 * (cm_check_rng_unit(&g) - 0.5);
    double lead = s->services[r->service].lead_min;
    r->window_start_ms = lead > 0 ? at + (int64_t)(lead * 60000) : 0;
  }
  return s;
}

typedef struct brute {
  const sim_scenario *s;
  const double *cap; /* max wait by urgency, or NULL */
  int order[5];
  int member[5][2];
  double best;
} brute;

/* Replays one global order and assignment as the sim would time it:
 * staff leave home at the shift's start, set off for a job once it is
 * called and they are free (a one-person job only while on shift), travel
 * at their speed, start when all are there and the window is open, and
 * must be done by the simulation's end. Returns the travel or HUGE_VAL. */
static double replay(const brute *b) {
  const sim_scenario *s = b->s;
  double free_at[3], lat[3], lon[3], km = 0;
  for (int i = 0; i < 3; i++) {
    free_at[i] = s->workers[i].shift_start_min;
    lat[i] = s->workers[i].lat;
    lon[i] = s->workers[i].lon;
  }
  for (int k = 0; k < s->n_requests; k++) {
    int q = b->order[k];
    const sim_request *r = &s->requests[q];
    const sim_service *sv = &s->services[r->service];
    double call = (double)r->at_ms / 60000.0, start = 0;
    double base =
        r->window_start_ms > 0 ? (double)r->window_start_ms / 60000.0 : call;
    for (int m = 0; m < sv->staff; m++) {
      int w = b->member[q][m];
      double go = free_at[w] > call ? free_at[w] : call;
      if (sv->staff == 1 && go > s->workers[w].shift_end_min)
        return HUGE_VAL;
      double d =
          cm_geo_distance_km(lat[w], lon[w], r->lat, r->lon) * s->road_factor;
      km += d;
      double there = go + d / s->workers[w].speed_kmh * 60;
      if (there > start)
        start = there;
    }
    if (start < base)
      start = base;
    if (b->cap && start - base > b->cap[sv->urgency])
      return HUGE_VAL;
    if (start + sv->duration_min > (double)SIM_END_MS / 60000.0)
      return HUGE_VAL;
    for (int m = 0; m < sv->staff; m++) {
      int w = b->member[q][m];
      free_at[w] = start + sv->duration_min;
      lat[w] = r->lat;
      lon[w] = r->lon;
    }
  }
  return km;
}

/* Every assignment of staff to the jobs, for one order. */
static void assign(brute *b, int q) {
  const sim_scenario *s = b->s;
  if (q == s->n_requests) {
    double km = replay(b);
    if (km < b->best)
      b->best = km;
    return;
  }
  int staff = s->services[s->requests[q].service].staff;
  for (int w = 0; w < 3; w++) {
    if (!may_serve(s, w, q))
      continue;
    b->member[q][0] = w;
    if (staff == 1) {
      assign(b, q + 1);
      continue;
    }
    for (int v = w + 1; v < 3; v++) {
      if (!may_serve(s, v, q))
        continue;
      b->member[q][1] = v;
      assign(b, q + 1);
    }
  }
}

static void permute(brute *b, int k) {
  int n = b->s->n_requests;
  if (k == n) {
    assign(b, 0);
    return;
  }
  for (int i = k; i < n; i++) {
    int t = b->order[k];
    b->order[k] = b->order[i];
    b->order[i] = t;
    permute(b, k + 1);
    b->order[i] = b->order[k];
    b->order[k] = t;
  }
}

/* The least travel of any schedule of the tiny day, HUGE_VAL if none. */
static double brute_force(const sim_scenario *s, const double *cap) {
  brute b = {.s = s, .cap = cap, .best = HUGE_VAL};
  for (int q = 0; q < s->n_requests; q++)
    b.order[q] = q;
  permute(&b, 0);
  return b.best;
}

Test(sim, the_floor_is_below_the_best_schedule_of_tiny_days) {
  double cap[CM_URGENCY_COUNT] = {90, 120, 180, 90};
  double sum_time = 0, sum_timeless = 0, sum_cap = 0, sum_all = 0;
  double sum_best = 0, sum_routes = 0, sum_routes_cap = 0, sum_best_cap = 0;
  int feasible = 0, days = 0;
  for (uint64_t seed = 1; seed <= 40; seed++) {
    sim_scenario *s = tiny_day(seed);
    char msg[128] = "";
    sim_floor_opts o;
    sim_floor_stats st;
    sim_floor_opts_init(&o);
    o.timeless = 1;
    double loose = sim_floor_km(s, NULL, &o, NULL, msg, sizeof msg);
    o.timeless = 0;
    double fl = sim_floor_km(s, NULL, &o, &st, msg, sizeof msg);
    cr_assert_geq(loose, 0, "%s", msg);
    cr_assert_geq(fl, 0, "%s", msg);
    double best = brute_force(s, NULL);
    if (best == HUGE_VAL) { /* more than three people can do in time */
      sim_scenario_free(s);
      continue;
    }
    days++;
    sum_timeless += loose;
    sum_all += fl;
    sum_best += best;
    cr_assert_eq(st.infeasible, 0, "seed %d: %s", (int)seed, msg);
    cr_assert_leq(fl, best + 1e-6, "seed %d: floor %f > best %f", (int)seed, fl,
                  best);
    cr_assert_geq(fl, loose - 1e-6, "seed %d: floor %f < loose %f", (int)seed,
                  fl, loose);
    double routes = sim_floor_routes_km(s, NULL, &o, &st, msg, sizeof msg);
    cr_assert_eq(st.infeasible, 0, "seed %d: %s", (int)seed, msg);
    cr_assert_leq(routes, best + 1e-6, "seed %d: route floor %f > best %f",
                  (int)seed, routes, best);
    sum_routes += routes;
    o.near = 1; /* most successors through the pool */
    double pooled = sim_floor_routes_km(s, NULL, &o, &st, msg, sizeof msg);
    cr_assert_leq(pooled, best + 1e-6, "seed %d: pooled route floor %f > %f",
                  (int)seed, pooled, best);
    o.near = 0;
    o.max_wait_min = cap;
    double capped = sim_floor_km(s, NULL, &o, &st, msg, sizeof msg);
    double best_cap = brute_force(s, cap);
    if (best_cap < HUGE_VAL) {
      feasible++;
      cr_assert_eq(st.infeasible, 0, "seed %d", (int)seed);
      cr_assert_geq(capped, fl - 1e-6, "seed %d", (int)seed);
      cr_assert_leq(capped, best_cap + 1e-6,
                    "seed %d: capped floor %f > best %f", (int)seed, capped,
                    best_cap);
      double rc = sim_floor_routes_km(s, NULL, &o, &st, msg, sizeof msg);
      cr_assert_eq(st.infeasible, 0, "seed %d: %s", (int)seed, msg);
      cr_assert_leq(rc, best_cap + 1e-6,
                    "seed %d: capped route floor %f > best %f", (int)seed, rc,
                    best_cap);
      sum_routes_cap += rc;
      sum_best_cap += best_cap;
      sum_cap += capped;
      sum_time += fl;
    }
    sim_scenario_free(s);
  }
  cr_assert_gt(days, 20, "most tiny days can be served");
  cr_assert_gt(feasible, 5, "enough tiny days meet the cap");
  cr_assert_gt(sum_cap, sum_time, "the cap binds on some days");
  cr_assert_gt(sum_all, sum_timeless, "time binds on some days");
  cr_log_info("%d days: best %.1f km, floor %.1f, routes %.1f, timeless %.1f; "
              "%d capped: best %.1f, floor %.1f, capped floor %.1f, routes "
              "%.1f",
              days, sum_best, sum_all, sum_routes, sum_timeless, feasible,
              sum_best_cap, sum_time, sum_cap, sum_routes_cap);
}

/* A part of the day (what a live run is set beside): only the requests
 * arriving in the window are submitted, and its books close with what is
 * still under way at its end counted apart. */
Test(sim, a_window_of_the_day_runs_alone) {
  sim_scenario *s = small_day(5);
  sim_policy p;
  char msg[128];
  sim_policy_init(&p, "greedy", 0);
  p.from_ms = 8LL * 3600000;
  p.until_ms = 11LL * 3600000;
  p.drain_ms = 30LL * 60000;
  sim_kpis k;
  cr_assert_eq(sim_run(s, &p, &k, NULL, NULL, msg, sizeof msg), 0, "%s", msg);
  int want = 0, got = 0;
  for (int q = 0; q < s->n_requests; q++)
    want +=
        s->requests[q].at_ms >= p.from_ms && s->requests[q].at_ms < p.until_ms;
  for (int u = 0; u < CM_URGENCY_COUNT; u++)
    got += k.requests[u];
  cr_assert_gt(want, 0);
  cr_assert_eq(got, want, "the window's requests: %d, submitted %d", want, got);
  cr_assert_eq(k.done + k.in_flight + k.unassigned, want);
  cr_assert_gt(k.in_flight + k.unassigned, 0, "a 30-minute drain leaves work");
  /* by service, the capable staff's hours are those inside the window:
     at most 3 hours each, and the caregivers' (daily_care) are some */
  int v = service_named(s, "daily_care");
  double most = 0;
  for (int i = 0; i < s->n_workers; i++)
    most +=
        (s->workers[i].skills & s->services[v].skills) == s->services[v].skills
            ? 3
            : 0;
  cr_assert_gt(k.service_capable_h[v], 0);
  cr_assert_leq(k.service_capable_h[v], most + 1e-9, "%g > %g",
                k.service_capable_h[v], most);
  sim_kpis_free(&k);
  sim_scenario_free(s);
}
