/* test_model.c -- the data model: instance validation (code and JSON path
 * of every bad field), defaults, the skill taxonomy, the error table and
 * the wire names of enums. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "carematch/model.h"
#include "carematch/taxonomy.h"
#include "check.h"
#include "fixtures.h"

/* The index cm_instance_*_add / cm_taxonomy_add gave (they must succeed). */
static int worker_added(cm_instance *inst, const cm_worker *w) {
  int i = -1;
  cm_error err;
  cr_assert_eq(cm_instance_worker_add(inst, w, &i, &err), CM_OK, "%s",
               err.message);
  return i;
}
static int request_added(cm_instance *inst, const cm_request *r) {
  int i = -1;
  cm_error err;
  cr_assert_eq(cm_instance_request_add(inst, r, &i, &err), CM_OK, "%s",
               err.message);
  return i;
}
static int edge_added(cm_instance *inst, const cm_edge_in *e) {
  int i = -1;
  cm_error err;
  cr_assert_eq(cm_instance_edge_add(inst, e, &i, &err), CM_OK, "%s",
               err.message);
  return i;
}
static int skill_added(cm_taxonomy *t, const char *name) {
  int i = -1;
  cm_error err;
  cr_assert_eq(cm_taxonomy_add(t, name, &i, &err), CM_OK, "%s", err.message);
  return i;
}

/* A valid instance: two workers, two requests; with edges when asked. */
static cm_instance *base_instance(int edges) {
  cm_instance *inst = cm_instance_new();
  cm_error err;
  cr_assert_not_null(inst);
  inst->params.now_ms = 1700000000000LL;
  for (int j = 0; j < 2; j++) {
    cm_worker w;
    cm_worker_init(&w);
    snprintf(w.id, sizeof w.id, "w%d", j);
    w.skills = CM_FX_NURSE | CM_FX_ESCORT;
    w.lat = 31.23 + 0.001 * j;
    w.lon = 121.47;
    w.has_position = 1;
    w.seen_ms = inst->params.now_ms;
    cr_assert_eq(worker_added(inst, &w), j);
  }
  for (int i = 0; i < 2; i++) {
    cm_request r;
    cm_request_init(&r);
    snprintf(r.id, sizeof r.id, "r%d", i);
    r.skills = CM_FX_NURSE;
    r.lat = 31.231;
    r.lon = 121.471 + 0.001 * i;
    r.has_position = 1;
    cr_assert_eq(request_added(inst, &r), i);
  }
  if (edges) {
    inst->has_edges = 1;
    for (int e = 0; e < 2; e++) {
      cm_edge_in ed = {e, e, 5.0 + e};
      cr_assert_eq(edge_added(inst, &ed), e);
    }
  }
  cm_error_clear(&err);
  cr_assert_eq(cm_instance_validate(inst, &err), CM_OK, "base invalid: %s %s",
               err.field, err.message);
  return inst;
}

/* Validation must fail with one of the codes (second may be CM_OK for
 * "only one") at exactly the field, or at a field starting with it when
 * prefix is set. */
static void expect_bad2(const cm_instance *inst, cm_status code, cm_status alt,
                        const char *field, int prefix) {
  cm_error err;
  cm_error_clear(&err);
  cm_status st = cm_instance_validate(inst, &err);
  cr_assert(st == code || (alt != CM_OK && st == alt),
            "expected %s%s%s at %s, got %s at '%s' (%s)", cm_status_name(code),
            alt != CM_OK ? " or " : "", alt != CM_OK ? cm_status_name(alt) : "",
            field, cm_status_name(st), err.field, err.message);
  cr_assert_eq(err.code, st, "err.code %d, returned %d", err.code, st);
  if (prefix)
    cr_assert(strncmp(err.field, field, strlen(field)) == 0,
              "field '%s' does not start with '%s'", err.field, field);
  else
    cr_assert_str_eq(err.field, field, "field '%s', expected '%s'", err.field,
                     field);
  cr_assert_gt(strlen(err.message), 0, "empty message");
}

static void expect_bad(const cm_instance *inst, cm_status code,
                       const char *field) {
  expect_bad2(inst, code, CM_OK, field, 0);
}

static void expect_ok(const cm_instance *inst) {
  cm_error err;
  cm_error_clear(&err);
  cr_assert_eq(cm_instance_validate(inst, &err), CM_OK, "%s at %s: %s",
               cm_status_name(err.code), err.field, err.message);
}

/* --------------------------------------------------------- validation */

Test(validate, coordinates) {
  cm_instance *inst = base_instance(0);
  inst->requests[0].lat = 91.0;
  expect_bad(inst, CM_E_RANGE, "$.requests[0].lat");
  inst->requests[0].lat = -90.5;
  expect_bad(inst, CM_E_RANGE, "$.requests[0].lat");
  inst->requests[0].lat = 90.0;
  expect_ok(inst);
  inst->requests[0].lat = 31.231;
  inst->requests[1].lon = 180.5;
  expect_bad(inst, CM_E_RANGE, "$.requests[1].lon");
  inst->requests[1].lon = NAN;
  expect_bad2(inst, CM_E_RANGE, CM_E_INVALID, "$.requests[1].lon", 0);
  inst->requests[1].lon = INFINITY;
  expect_bad2(inst, CM_E_RANGE, CM_E_INVALID, "$.requests[1].lon", 0);
  inst->requests[1].lon = 121.472;
  inst->workers[1].lat = 91.0;
  expect_bad(inst, CM_E_RANGE, "$.workers[1].lat");
  inst->workers[1].lat = 31.0;
  inst->workers[1].lon = NAN;
  expect_bad2(inst, CM_E_RANGE, CM_E_INVALID, "$.workers[1].lon", 0);
  inst->workers[1].lon = 121.0;
  expect_ok(inst);
  cm_instance_free(inst);
}

Test(validate, ids) {
  cm_instance *inst = base_instance(0);
  inst->workers[0].id[0] = '\0';
  expect_bad2(inst, CM_E_INVALID, CM_E_MISSING, "$.workers[0].id", 0);
  strcpy(inst->workers[0].id, "w0");
  inst->requests[1].id[0] = '\0';
  expect_bad2(inst, CM_E_INVALID, CM_E_MISSING, "$.requests[1].id", 0);
  strcpy(inst->requests[1].id, "r1");
  expect_ok(inst);
  strcpy(inst->workers[1].id, "w0");
  expect_bad(inst, CM_E_DUPLICATE, "$.workers[1].id");
  strcpy(inst->workers[1].id, "w1");
  strcpy(inst->requests[1].id, "r0");
  expect_bad(inst, CM_E_DUPLICATE, "$.requests[1].id");
  /* a worker and a request may share an id: unique per kind */
  strcpy(inst->requests[1].id, "w1");
  expect_ok(inst);
  cm_instance_free(inst);
}

Test(validate, duplicate_among_many) {
  cm_instance *inst = cm_instance_new();
  for (int j = 0; j < 300; j++) {
    cm_worker w;
    cm_worker_init(&w);
    snprintf(w.id, sizeof w.id, "worker-%d", j);
    w.skills = CM_FX_NURSE;
    w.has_position = 1;
    w.lat = 31.0;
    w.lon = 121.0;
    cr_assert_eq(worker_added(inst, &w), j);
  }
  expect_ok(inst);
  strcpy(inst->workers[257].id, "worker-3");
  expect_bad(inst, CM_E_DUPLICATE, "$.workers[257].id");
  cm_instance_free(inst);
}

Test(validate, staff) {
  cm_instance *inst = base_instance(0);
  inst->requests[0].staff = 0;
  expect_bad(inst, CM_E_RANGE, "$.requests[0].staff");
  inst->requests[0].staff = CM_MAX_STAFF + 1;
  expect_bad(inst, CM_E_RANGE, "$.requests[0].staff");
  inst->requests[0].staff = -1;
  expect_bad(inst, CM_E_RANGE, "$.requests[0].staff");
  inst->requests[0].staff = CM_MAX_STAFF;
  expect_ok(inst);
  cm_instance_free(inst);
}

Test(validate, skills) {
  cm_instance *inst = base_instance(0);
  inst->requests[0].skills = 0;
  expect_bad2(inst, CM_E_INVALID, CM_E_MISSING, "$.requests[0].skills", 0);
  inst->requests[0].skills = (cm_skillset)1 << 6; /* default has 6 roles */
  expect_bad(inst, CM_E_UNKNOWN_SKILL, "$.requests[0].skills");
  inst->requests[0].skills = CM_FX_NURSE | ((cm_skillset)1 << 31);
  expect_bad(inst, CM_E_UNKNOWN_SKILL, "$.requests[0].skills");
  inst->requests[0].skills = CM_FX_NURSE;
  inst->workers[1].skills = CM_FX_NURSE | ((cm_skillset)1 << 20);
  expect_bad(inst, CM_E_UNKNOWN_SKILL, "$.workers[1].skills");
  inst->workers[1].skills = (cm_skillset)1 << 5; /* maternity: valid */
  expect_ok(inst);
  /* a smaller custom taxonomy shrinks what is valid */
  cm_taxonomy_clear(&inst->taxonomy);
  cr_assert_eq(skill_added(&inst->taxonomy, "a"), 0);
  cr_assert_eq(skill_added(&inst->taxonomy, "b"), 1);
  inst->workers[0].skills = inst->workers[1].skills = 1;
  inst->requests[0].skills = inst->requests[1].skills = 2;
  expect_ok(inst);
  inst->requests[1].skills = 4;
  expect_bad(inst, CM_E_UNKNOWN_SKILL, "$.requests[1].skills");
  cm_instance_free(inst);
}

Test(validate, team_skill_count) {
  cm_instance *inst = base_instance(0);
  cm_request *r = &inst->requests[0];
  r->staff = 2;
  r->skills =
      CM_FX_NURSE | CM_FX_ESCORT | CM_FX_REHAB; /* three skills, two people:
                                 valid, a member may hold two of them */
  r->skill_mode = CM_SKILLS_ALL;
  expect_ok(inst);
  r->skill_mode = CM_SKILLS_ANY; /* any one of three: fine */
  expect_ok(inst);
  r->skill_mode = CM_SKILLS_ALL;
  r->staff = 3;
  expect_ok(inst);
  r->staff = 1; /* one person holding all three: fine */
  expect_ok(inst);
  cm_instance_free(inst);
}

Test(validate, worker_numbers) {
  cm_instance *inst = base_instance(0);
  cm_worker *w = &inst->workers[0];
  w->capacity = -1;
  expect_bad(inst, CM_E_RANGE, "$.workers[0].capacity");
  w->capacity = 0; /* full for now: valid, just ineligible */
  expect_ok(inst);
  w->capacity = 1;
  w->rating = 6.0;
  expect_bad(inst, CM_E_RANGE, "$.workers[0].rating");
  w->rating = -0.5;
  expect_bad(inst, CM_E_RANGE, "$.workers[0].rating");
  w->rating = NAN;
  expect_bad2(inst, CM_E_RANGE, CM_E_INVALID, "$.workers[0].rating", 0);
  w->rating = 0.0;
  expect_ok(inst);
  w->level = 6.0;
  expect_bad(inst, CM_E_RANGE, "$.workers[0].level");
  w->level = 0.5;
  expect_bad(inst, CM_E_RANGE, "$.workers[0].level");
  w->level = 1.0;
  w->jobs_today = -1;
  expect_bad(inst, CM_E_RANGE, "$.workers[0].jobs_today");
  w->jobs_today = 0;
  w->status = (cm_worker_status)CM_WORKER_STATUS_COUNT;
  expect_bad2(inst, CM_E_RANGE, CM_E_INVALID, "$.workers[0].status", 0);
  w->status = CM_WORKER_OFFLINE;
  w->n_elders = CM_MAX_ELDERS + 1;
  expect_bad2(inst, CM_E_RANGE, CM_E_LIMIT, "$.workers[0].elders", 1);
  w->n_elders = -1;
  expect_bad2(inst, CM_E_RANGE, CM_E_LIMIT, "$.workers[0].elders", 1);
  w->n_elders = 0;
  expect_ok(inst);
  cm_instance_free(inst);
}

Test(validate, request_numbers) {
  cm_instance *inst = base_instance(0);
  cm_request *r = &inst->requests[1];
  r->urgency = (cm_urgency)CM_URGENCY_COUNT;
  expect_bad2(inst, CM_E_RANGE, CM_E_INVALID, "$.requests[1].urgency", 0);
  r->urgency = CM_URGENCY_SCHEDULED;
  r->waited_s = -1.0;
  expect_bad(inst, CM_E_RANGE, "$.requests[1].waited_s");
  r->waited_s = NAN;
  expect_bad2(inst, CM_E_RANGE, CM_E_INVALID, "$.requests[1].waited_s", 0);
  r->waited_s = 0.0;
  r->skill_mode = (cm_skill_mode)7;
  expect_bad2(inst, CM_E_RANGE, CM_E_INVALID, "$.requests[1].skill_mode", 0);
  r->skill_mode = CM_SKILLS_ANY;
  expect_ok(inst);
  cm_instance_free(inst);
}

Test(validate, preferred_and_excluded) {
  cm_instance *inst = base_instance(0);
  cm_request *r = &inst->requests[0];
  r->n_preferred = 1;
  r->preferred[0] = 2; /* only workers 0 and 1 exist */
  expect_bad2(inst, CM_E_RANGE, CM_E_UNKNOWN_ID, "$.requests[0].preferred", 1);
  r->preferred[0] = -1;
  expect_bad2(inst, CM_E_RANGE, CM_E_UNKNOWN_ID, "$.requests[0].preferred", 1);
  r->preferred[0] = 1;
  expect_ok(inst);
  r->n_preferred = CM_MAX_PREFS + 1;
  expect_bad2(inst, CM_E_RANGE, CM_E_LIMIT, "$.requests[0].preferred", 1);
  r->n_preferred = 0;
  r->n_excluded = 1;
  r->excluded[0] = 7;
  expect_bad2(inst, CM_E_RANGE, CM_E_UNKNOWN_ID, "$.requests[0].excluded", 1);
  r->excluded[0] = 0;
  expect_ok(inst);
  r->n_excluded = -2;
  expect_bad2(inst, CM_E_RANGE, CM_E_LIMIT, "$.requests[0].excluded", 1);
  cm_instance_free(inst);
}

Test(validate, edges) {
  cm_instance *inst = base_instance(1);
  inst->edges[0].request = 2;
  expect_bad2(inst, CM_E_RANGE, CM_E_UNKNOWN_ID, "$.edges[0].request", 0);
  inst->edges[0].request = -1;
  expect_bad2(inst, CM_E_RANGE, CM_E_UNKNOWN_ID, "$.edges[0].request", 0);
  inst->edges[0].request = 0;
  inst->edges[1].worker = 5;
  expect_bad2(inst, CM_E_RANGE, CM_E_UNKNOWN_ID, "$.edges[1].worker", 0);
  inst->edges[1].worker = 1;
  inst->edges[1].travel_min = -0.5;
  expect_bad(inst, CM_E_RANGE, "$.edges[1].travel_min");
  inst->edges[1].travel_min = NAN;
  expect_bad2(inst, CM_E_RANGE, CM_E_INVALID, "$.edges[1].travel_min", 0);
  inst->edges[1].travel_min = 0.0;
  expect_ok(inst);
  /* positions are optional in edge mode */
  inst->requests[0].has_position = 0;
  inst->workers[1].has_position = 0;
  expect_ok(inst);
  cm_instance_free(inst);
}

Test(validate, weights_and_params) {
  cm_instance *inst = base_instance(0);
  inst->weights.travel = -1.0;
  expect_bad(inst, CM_E_RANGE, "$.weights.travel");
  inst->weights.travel = NAN;
  expect_bad2(inst, CM_E_RANGE, CM_E_INVALID, "$.weights.travel", 0);
  cm_weights_init(&inst->weights);
  inst->weights.penalty_base[CM_URGENCY_URGENT] = INFINITY;
  expect_bad2(inst, CM_E_RANGE, CM_E_INVALID, "$.weights.penalty_base", 1);
  cm_weights_init(&inst->weights);
  expect_ok(inst);
  inst->params.k = 0;
  expect_bad(inst, CM_E_RANGE, "$.params.k");
  inst->params.k = 8;
  inst->params.speed_kmh = 0.0;
  expect_bad(inst, CM_E_RANGE, "$.params.speed_kmh");
  inst->params.speed_kmh = 25.0;
  inst->params.stale_ms = -5;
  expect_bad(inst, CM_E_RANGE, "$.params.stale_ms");
  inst->params.stale_ms = 0;
  expect_ok(inst);
  cm_instance_free(inst);
}

/* cm_instance_validate changes nothing, valid or not. */
Test(validate, changes_nothing) {
  cm_check_gen_opts o;
  cm_check_gen_small_opts(&o, 1, 1);
  cm_instance *inst = cm_check_gen(&o, 51000000);
  cm_instance *copy = cm_check_copy(inst);
  cm_error err;
  inst->requests[0].lat = 99.0;
  copy->requests[0].lat = 99.0;
  cr_assert_neq(cm_instance_validate(inst, &err), CM_OK);
  cr_assert_eq(inst->n_workers, copy->n_workers);
  cr_assert_eq(inst->n_requests, copy->n_requests);
  cr_assert_eq(inst->n_edges, copy->n_edges);
  cr_assert(memcmp(inst->workers, copy->workers,
                   sizeof *inst->workers * (size_t)inst->n_workers) == 0);
  cr_assert(memcmp(inst->requests, copy->requests,
                   sizeof *inst->requests * (size_t)inst->n_requests) == 0);
  cr_assert(memcmp(inst->edges, copy->edges,
                   sizeof *inst->edges * (size_t)inst->n_edges) == 0);
  cr_assert(memcmp(&inst->weights, &copy->weights, sizeof inst->weights) == 0);
  cr_assert(memcmp(&inst->params, &copy->params, sizeof inst->params) == 0);
  cm_instance_free(inst);
  cm_instance_free(copy);
}

/* ----------------------------------------------------- instance, defaults */

Test(model, defaults) {
  cm_worker w;
  cm_request r;
  memset(&w, 0x5a, sizeof w);
  memset(&r, 0x5a, sizeof r);
  cm_worker_init(&w);
  cm_request_init(&r);
  cr_assert_eq(w.capacity, 1);
  cr_assert_float_eq(w.rating, 5.0, 1e-12);
  cr_assert_float_eq(w.level, 3.0, 1e-12);
  cr_assert_eq(w.n_elders, 0);
  cr_assert_eq(w.jobs_today, 0);
  cr_assert_eq(r.staff, 1);
  cr_assert_eq(r.skill_mode, CM_SKILLS_ALL);
  cr_assert_eq(r.n_preferred, 0);
  cr_assert_eq(r.n_excluded, 0);
  cr_assert_eq(r.elder, 0);
  cr_assert_float_eq(r.waited_s, 0.0, 1e-12);
  cm_params p;
  cm_params_init(&p);
  cr_assert_gt(p.k, 0);
  cr_assert_gt(p.speed_kmh, 0.0);
  cm_instance *inst = cm_instance_new();
  cr_assert_not_null(inst);
  cr_assert_eq(inst->taxonomy.count, 6);
  cr_assert_eq(inst->n_workers, 0);
  cr_assert_eq(inst->n_requests, 0);
  cr_assert_eq(inst->n_edges, 0);
  cr_assert_eq(inst->has_edges, 0);
  expect_ok(inst); /* empty instance with defaults is valid */
  cm_instance_free(inst);
  cm_instance_free(NULL);
}

Test(model, add_grows) {
  cm_instance *inst = cm_instance_new();
  for (int j = 0; j < 2000; j++) {
    cm_worker w;
    cm_worker_init(&w);
    snprintf(w.id, sizeof w.id, "w%d", j);
    w.skills = CM_FX_NURSE;
    w.jobs_today = j;
    w.has_position = 1;
    cr_assert_eq(worker_added(inst, &w), j);
  }
  cr_assert_eq(inst->n_workers, 2000);
  for (int j = 0; j < 2000; j++)
    cr_assert_eq(inst->workers[j].jobs_today, j);
  cr_assert_str_eq(inst->workers[1999].id, "w1999");
  cm_instance_free(inst);
}

/* After cm_instance_reserve the arrays do not move while they fill up to
 * the counts reserved; a count already covered changes nothing. */
Test(model, reserve_keeps_the_arrays_in_place) {
  cm_instance *inst = cm_instance_new();
  cm_error err;
  cr_assert_eq(cm_instance_reserve(inst, 300, 200, 100, &err), CM_OK);
  cm_worker *ws = inst->workers;
  cm_request *rs = inst->requests;
  cm_edge_in *es = inst->edges;
  cr_assert(ws && rs && es);
  cm_worker w;
  cm_request r;
  cm_edge_in e = {0, 0, 1.0};
  cm_worker_init(&w);
  cm_request_init(&r);
  for (int j = 0; j < 300; j++)
    cr_assert_eq(worker_added(inst, &w), j);
  for (int i = 0; i < 200; i++)
    cr_assert_eq(request_added(inst, &r), i);
  for (int k = 0; k < 100; k++)
    cr_assert_eq(edge_added(inst, &e), k);
  cr_assert(inst->workers == ws && inst->requests == rs && inst->edges == es,
            "an array moved within what was reserved");
  cr_assert_eq(inst->has_edges, 1);
  cr_assert_eq(cm_instance_reserve(inst, 10, 10, 10, &err), CM_OK);
  cr_assert(inst->workers == ws, "a smaller reserve changed the array");
  cr_assert_eq(inst->n_workers, 300);
  cm_instance_free(inst);
}

/* Only an instance of cm_instance_new can grow: another is refused, and
 * neither its arrays nor its counts change. */
Test(model, add_refuses_an_instance_not_made_by_new) {
  cm_instance local;
  memset(&local, 0, sizeof local);
  cm_worker w;
  cm_worker_init(&w);
  cm_error err;
  int index = 7;
  cr_assert_eq(cm_instance_worker_add(&local, &w, &index, &err), CM_E_INVALID);
  cr_assert_eq(index, 7);
  cr_assert_eq(local.n_workers, 0);
  cr_assert_null(local.workers);
  cr_assert_eq(cm_instance_reserve(&local, 5, 5, 5, &err), CM_E_INVALID);
  cr_assert_null(local.workers);
}

Test(model, id_hash) {
  cr_assert_eq(cm_id_hash("a"), 0xaf63dc4c8601ec8cULL); /* FNV-1a 64 */
  cr_assert_eq(cm_id_hash("foobar"), 0x85944171f73967e8ULL);
  cr_assert_neq(cm_id_hash(""), 0);
  cr_assert_neq(cm_id_hash("elder-1"), cm_id_hash("elder-2"));
  cr_assert_eq(cm_id_hash("elder-1"), cm_id_hash("elder-1"));
}

Test(model, enum_names) {
  static const char *urg[] = {"emergency", "urgent", "normal", "scheduled"};
  static const char *sts[] = {"available", "offered", "busy", "offline"};
  for (int u = 0; u < CM_URGENCY_COUNT; u++) {
    cr_assert_str_eq(cm_urgency_name((cm_urgency)u), urg[u]);
    cr_assert_eq(cm_urgency_parse(urg[u]), u);
  }
  for (int s = 0; s < CM_WORKER_STATUS_COUNT; s++) {
    cr_assert_str_eq(cm_worker_status_name((cm_worker_status)s), sts[s]);
    cr_assert_eq(cm_worker_status_parse(sts[s]), s);
  }
  cr_assert_eq(cm_urgency_parse("bogus"), -1);
  cr_assert_eq(cm_urgency_parse(""), -1);
  cr_assert_eq(cm_worker_status_parse("Busy"), -1);
  cr_assert_eq(cm_worker_status_parse("available "), -1);
  cr_assert_not_null(cm_urgency_name(CM_URGENCY_COUNT));
  cr_assert_not_null(cm_worker_status_name(CM_WORKER_STATUS_COUNT));
}

/* ------------------------------------------------------------ taxonomy */

Test(taxonomy, default_roles) {
  static const char *roles[] = {"caregiver", "nurse",   "escort",
                                "rehab",     "cleaner", "maternity"};
  cm_taxonomy t;
  memset(&t, 0x33, sizeof t);
  cm_taxonomy_init(&t);
  cr_assert_eq(t.count, 6);
  for (int s = 0; s < 6; s++) {
    cr_assert_str_eq(t.names[s], roles[s]);
    cr_assert_eq(cm_taxonomy_find(&t, roles[s]), s);
  }
  cr_assert_eq(cm_taxonomy_find(&t, "pilot"), -1);
  cr_assert_eq(cm_taxonomy_find(&t, ""), -1);
  cr_assert_eq(cm_taxonomy_find(&t, "Nurse"), -1);
  cr_assert_eq(cm_taxonomy_find(&t, "nurs"), -1);
  cm_error err;
  cm_error_clear(&err);
  cr_assert_eq(cm_taxonomy_add(&t, "nurse", NULL, &err), CM_E_DUPLICATE);
  cr_assert_eq(err.code, CM_E_DUPLICATE, "got %s", cm_status_name(err.code));
  cr_assert_eq(t.count, 6);
  cr_assert_eq(skill_added(&t, "massage"), 6);
  cr_assert_eq(cm_taxonomy_find(&t, "massage"), 6);
}

Test(taxonomy, add_rules) {
  cm_taxonomy t;
  cm_error err;
  cm_taxonomy_clear(&t);
  cr_assert_eq(t.count, 0);
  cr_assert_eq(cm_taxonomy_find(&t, "nurse"), -1);
  cr_assert_eq(skill_added(&t, "alpha"), 0);
  cr_assert_eq(skill_added(&t, "x-ray_2"), 1);
  static const char *bad[] = {"", "Alpha", "a b", "caf\xc3\xa9", "a.b", "a/b"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cm_error_clear(&err);
    cr_assert_eq(cm_taxonomy_add(&t, bad[i], NULL, &err), CM_E_INVALID,
                 "'%s' accepted", bad[i]);
    cr_assert_neq(err.code, CM_OK, "'%s': err not set", bad[i]);
    cr_assert_eq(t.count, 2, "'%s' changed the table", bad[i]);
  }
  cm_error_clear(&err);
  cr_assert_eq(cm_taxonomy_add(&t, "alpha", NULL, &err), CM_E_DUPLICATE);
  cr_assert_eq(err.code, CM_E_DUPLICATE);
  cr_assert_eq(cm_taxonomy_add(&t, "alpha", NULL, NULL),
               CM_E_DUPLICATE); /* NULL err is fine */
  char name[CM_SKILL_NAME_MAX + 1];
  memset(name, 'n', CM_SKILL_NAME_MAX - 1);
  name[CM_SKILL_NAME_MAX - 1] = '\0'; /* longest that fits with its NUL */
  cr_assert_eq(skill_added(&t, name), 2);
  cr_assert_eq(cm_taxonomy_find(&t, name), 2);
  memset(name, 'm', CM_SKILL_NAME_MAX);
  name[CM_SKILL_NAME_MAX] = '\0';
  cm_error_clear(&err);
  cr_assert_eq(cm_taxonomy_add(&t, name, NULL, &err), CM_E_INVALID,
               "overlong name accepted");
  cr_assert_neq(err.code, CM_OK);
  cr_assert_eq(t.count, 3);
}

Test(taxonomy, full_table) {
  cm_taxonomy t;
  cm_error err;
  cm_taxonomy_clear(&t);
  for (int s = 0; s < CM_MAX_SKILLS; s++) {
    char name[16];
    snprintf(name, sizeof name, "s%d", s);
    cr_assert_eq(skill_added(&t, name), s);
  }
  cm_error_clear(&err);
  cr_assert_eq(cm_taxonomy_add(&t, "extra", NULL, &err), CM_E_LIMIT);
  cr_assert_eq(err.code, CM_E_LIMIT, "got %s", cm_status_name(err.code));
  cr_assert_eq(t.count, CM_MAX_SKILLS);
  cr_assert_eq(cm_taxonomy_find(&t, "s31"), 31);
  cr_assert_eq(cm_taxonomy_find(&t, "extra"), -1);
}

/* --------------------------------------------------------- error table */

Test(errors, table_names_and_messages) {
#define NAME_(e, http, name, msg) name,
#define MSG_(e, http, name, msg) msg,
#define CODE_(e, http, name, msg) e,
  static const char *names[] = {CM_ERROR_TABLE(NAME_)};
  static const char *msgs[] = {CM_ERROR_TABLE(MSG_)};
  static const cm_status codes[] = {CM_ERROR_TABLE(CODE_)};
#undef NAME_
#undef MSG_
#undef CODE_
  size_t n = sizeof names / sizeof names[0];
  cr_assert_eq(n, (size_t)CM_STATUS_COUNT);
  for (size_t i = 0; i < n; i++) {
    cr_assert_eq((size_t)codes[i], i);
    cr_assert_str_eq(cm_status_name(codes[i]), names[i]);
    cr_assert_str_eq(cm_status_message(codes[i]), msgs[i]);
  }
  cr_assert_str_eq(cm_status_name(CM_OK), "ok");
  cr_assert_str_eq(cm_status_name(CM_E_RANGE), "out_of_range");
  cr_assert_str_eq(cm_status_name(CM_E_DUPLICATE), "duplicate_id");
  cr_assert_str_eq(cm_status_name(CM_E_UNKNOWN_SKILL), "unknown_skill");
  cr_assert_str_eq(cm_status_name(CM_E_IO), "io_error");
  cr_assert_str_eq(cm_status_name(CM_STATUS_COUNT), "unknown");
  cr_assert_str_eq(cm_status_name((cm_status)-1), "unknown");
  cr_assert_not_null(cm_status_message(CM_STATUS_COUNT));
}

Test(errors, set_and_clear) {
  cm_error err;
  memset(&err, 0x7f, sizeof err);
  cm_error_clear(&err);
  cr_assert_eq(err.code, CM_OK);
  cr_assert_str_eq(err.field, "");
  cr_assert_str_eq(err.message, "");
  cm_error_clear(NULL);
  cr_assert_eq(cm_error_set(&err, CM_E_RANGE, "$.requests[3].lat",
                            "lat %d is out of range", 91),
               CM_E_RANGE);
  cr_assert_eq(err.code, CM_E_RANGE);
  cr_assert_str_eq(err.field, "$.requests[3].lat");
  cr_assert_str_eq(err.message, "lat 91 is out of range");
  cr_assert_eq(cm_error_set(&err, CM_E_NOMEM, NULL, NULL), CM_E_NOMEM);
  cr_assert_str_eq(err.field, "");
  cr_assert_str_eq(err.message, "out of memory");
  cr_assert_eq(cm_error_set(NULL, CM_E_IO, "$.x", "ignored"), CM_E_IO);
  char longf[400], longm[600];
  memset(longf, 'f', sizeof longf - 1);
  longf[sizeof longf - 1] = '\0';
  memset(longm, 'm', sizeof longm - 1);
  longm[sizeof longm - 1] = '\0';
  cm_error_set(&err, CM_E_LIMIT, longf, "%s", longm);
  cr_assert_eq(strlen(err.field), CM_ERROR_FIELD_MAX - 1);
  cr_assert_eq(strlen(err.message), CM_ERROR_MESSAGE_MAX - 1);
}
