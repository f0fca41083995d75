/* test_sim_live.c -- the simulator's live mode against the real carematchd
 * over loopback: a small day's morning on a fast simulated clock, on the
 * embedded store and on a real redis-server. Its books must close (every
 * request submitted is done or counted unassigned, no call refused but
 * answers overtaken by events), the daemon's trace must hold every
 * request, and on Redis the ledger must agree with the world: as many
 * requests done there as the world completed, the rest still live. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "live.h"
#include "redis_server.h"
#include "scenario.h"
#include "sim.h"

static sim_scenario *small_day(void) {
  sim_spec spec;
  sim_spec_init(&spec);
  spec.seed = 11;
  spec.workers = 90;
  spec.requests = 300;
  spec.elders = 400;
  char msg[128];
  sim_scenario *s = sim_scenario_generate(&spec, msg, sizeof msg);
  cr_assert_not_null(s, "%s", msg);
  return s;
}

static int submitted(const sim_kpis *k) {
  int n = 0;
  for (int u = 0; u < CM_URGENCY_COUNT; u++)
    n += k->requests[u];
  return n;
}

static void run_live(const sim_scenario *s, const char *redis,
                     const char *trace, sim_kpis *k) {
  sim_live_opts o;
  sim_live_init(&o);
  o.daemon = CM_DAEMON_PATH;
  o.redis = redis;
  o.trace = trace;
  o.rate = 1200; /* 08:00-10:00 in 6 s, then jobs end */
  o.from_ms = 8LL * 3600000;
  o.until_ms = 10LL * 3600000;
  o.drain_ms = 3LL * 3600000;
  o.quiet = 1;
  char msg[256];
  cr_assert_eq(sim_live(s, &o, k, msg, sizeof msg), 0, "%s", msg);
}

static int lines_with(const char *path, const char *needle) {
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f, "the trace %s", path);
  char line[8192];
  int n = 0;
  while (fgets(line, sizeof line, f))
    n += strstr(line, needle) != NULL;
  fclose(f);
  return n;
}

static void books_close(const sim_kpis *k) {
  int n = submitted(k);
  cr_assert_gt(n, 50, "the window has requests (%d)", n);
  cr_assert_eq(k->http_errors, 0, "%llu calls refused",
               (unsigned long long)k->http_errors);
  cr_assert_gt(k->done, n / 2, "most are served: %d of %d", k->done, n);
  cr_assert_eq(k->done + k->in_flight + k->unassigned, n,
               "done %d + in flight %d + unassigned %d = submitted %d", k->done,
               k->in_flight, k->unassigned, n);
  cr_assert_eq(k->teams_half, 0);
  cr_assert_gt(k->batches, 0, "batch figures read from /metrics");
  /* read in seconds, kept in ms: the smallest bucket is half a ms */
  cr_assert(k->batch_p99_ms >= 0.5 && k->batch_p99_ms <= 30000, "p99 %f ms",
            k->batch_p99_ms);
  cr_assert_gt(k->travel_km, 0);
}

/* The trace replayed: the same requests, the same staff, and the time on
 * site of each kind of request recovered from what the platforms sent
 * (the catalog's, within 20%); the replay runs and keeps its
 * books. */
static void replay_matches(const sim_scenario *s, const char *trace,
                           const sim_kpis *live) {
  char msg[256];
  sim_scenario *t = sim_scenario_from_trace(trace, msg, sizeof msg);
  cr_assert_not_null(t, "%s", msg);
  cr_assert_eq(t->n_requests, submitted(live));
  cr_assert_gt(t->n_workers, 0);
  cr_assert_leq(t->n_workers, s->n_workers);
  int matched = 0;
  for (int k = 0; k < t->n_services; k++) {
    const sim_service *v = &t->services[k];
    for (int j = 0; j < s->n_services; j++) {
      const sim_service *o = &s->services[j];
      if (o->skills != v->skills || o->staff != v->staff ||
          o->urgency != v->urgency || o->mode != v->mode)
        continue;
      /* staff speeds differ (20-30 km/h) from the 25 the replay assumes
         (on a 30-minute visit with 15 minutes of travel, +-3 minutes),
         and at 1,200 times real time 50 ms of HTTP latency on a loaded
         machine is a simulated minute between an answer and its trace
         line: medication read 25.3-26.7 against 30 on the day of seed 11
         (issue 16's generator) */
      cr_assert_float_eq(v->duration_min, o->duration_min,
                         0.2 * o->duration_min,
                         "%s: on site %.1f min, the catalog's %s %.1f", v->name,
                         v->duration_min, o->name, o->duration_min);
      matched++;
    }
  }
  cr_assert_geq(matched, 4, "the kinds of request are the catalog's");
  sim_policy p;
  sim_policy_init(&p, "optimal", 100);
  sim_kpis r;
  cr_assert_eq(sim_run(t, &p, &r, NULL, NULL, msg, sizeof msg), 0, "%s", msg);
  cr_assert_eq(r.done + r.in_flight + r.unassigned, t->n_requests);
  cr_assert_gt(r.done, t->n_requests / 2);
  sim_kpis_free(&r);
  sim_scenario_free(t);
}

Test(sim_live, a_broken_trace_is_refused_with_its_line) {
  char path[64], msg[256];
  snprintf(path, sizeof path, "/tmp/cm_sim_bad_%ld.trace", (long)getpid());
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs("{\"at_ms\":1000,\"route\":\"PUT /v1/workers/{id}\",\"id\":\"w\","
        "\"body\":{\"skills\":[\"nurse\"],\"lat\":31.2,\"lon\":121.4}}\n"
        "{\"at_ms\":2000,\"route\":\"POST /v1/requests\",\"body\":{\"id\":"
        "\"q\",\"lat\":31.2,\"lon\":121.4,\"skills\":[\"pilot\"]}}\n",
        f);
  fclose(f);
  cr_assert_null(sim_scenario_from_trace(path, msg, sizeof msg));
  cr_assert(strstr(msg, "line 2") && strstr(msg, "skills"), "%s", msg);
  f = fopen(path, "w");
  fputs("not json\n", f);
  fclose(f);
  cr_assert_null(sim_scenario_from_trace(path, msg, sizeof msg));
  cr_assert(strstr(msg, "line 1"), "%s", msg);
  unlink(path);
}

Test(sim_live, a_morning_on_the_embedded_store) {
  sim_scenario *s = small_day();
  char trace[64];
  snprintf(trace, sizeof trace, "/tmp/cm_sim_live_%ld.trace", (long)getpid());
  unlink(trace);
  sim_kpis k;
  run_live(s, NULL, trace, &k);
  books_close(&k);
  cr_assert_eq(lines_with(trace, "\"route\":\"POST /v1/requests\""),
               submitted(&k), "the trace holds every request");
  cr_assert_geq(lines_with(trace, "/complete"), k.done);
  replay_matches(s, trace, &k);
  unlink(trace);
  sim_kpis_free(&k);
  sim_scenario_free(s);
}

Test(sim_live, a_morning_on_redis) {
  cm_test_redis srv = cm_test_redis_use();
  int port = srv.port;
  char url[64], region[64];
  snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
  snprintf(region, sizeof region, "cm:{sim%ld}:*", (long)getpid());
  sim_scenario *s = small_day();
  sim_kpis k;
  run_live(s, url, NULL, &k);
  books_close(&k);
  /* the ledger agrees with the world */
  redisContext *c = cm_test_side_connect(port);
  cr_assert_not_null(c);
  char key[64];
  snprintf(key, sizeof key, "cm:{sim%ld}:live", (long)getpid());
  redisReply *r = redisCommand(c, "ZCARD %s", key);
  cr_assert_eq(r->integer, k.unassigned + k.in_flight,
               "live in Redis %lld = unassigned %d + in flight %d",
               (long long)r->integer, k.unassigned, k.in_flight);
  freeReplyObject(r);
  int done = 0;
  unsigned long long cursor = 0;
  do {
    r = redisCommand(c, "SCAN %llu MATCH cm:{sim%ld}:req:* COUNT 1000", cursor,
                     (long)getpid());
    cursor = strtoull(r->element[0]->str, NULL, 10);
    for (size_t i = 0; i < r->element[1]->elements; i++) {
      redisReply *st =
          redisCommand(c, "HGET %s state", r->element[1]->element[i]->str);
      done += st->str && atoi(st->str) == CM_REQ_DONE;
      freeReplyObject(st);
    }
    freeReplyObject(r);
  } while (cursor != 0);
  cr_assert_eq(done, k.done, "done in Redis %d = done in the world %d", done,
               k.done);
  redisFree(c);
  cm_test_redis_done(&srv, region);
  sim_kpis_free(&k);
  sim_scenario_free(s);
}
