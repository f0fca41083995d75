/* test_vocab.c -- the vocabulary tables agree with everything made from
 * them: every row of CM_WEIGHTS_TABLE round-trips through the JSON codec
 * and carematchd's ini parser, is validated with its range and named with
 * its path, and is documented in docs/openapi.json; CM_COST_TERMS sums to
 * the edge cost and matches the documented Cost; the error table's HTTP
 * column, the one error body and the one position check. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/json.h"
#include "carematch/solve.h"
#include "daemon.h"
#include "json_util.h"

/* A value for number u of row i, distinct across the table and inside
 * every range (the smallest hi is 1e3). */
static double probe_value(int i, int u) {
  return 0.5 + i * 4 + u + 0.25;
}

static void fill_probe(cm_weights *w) {
  int n;
  const cm_weight_info *wi = cm_weights_info(&n);
  cm_weights_init(w);
  for (int i = 0; i < n; i++)
    for (int u = 0; u < wi[i].count; u++)
      cm_weight_values(w, &wi[i])[u] = probe_value(i, u);
}

static void expect_probe(const cm_weights *w, const char *what) {
  int n;
  const cm_weight_info *wi = cm_weights_info(&n);
  for (int i = 0; i < n; i++)
    for (int u = 0; u < wi[i].count; u++)
      cr_expect_eq(cm_weight_values_const(w, &wi[i])[u], probe_value(i, u),
                   "%s: %s[%d]", what, wi[i].key, u);
}

Test(weights_table, rows_cover_the_struct_and_give_the_defaults) {
  int n;
  const cm_weight_info *wi = cm_weights_info(&n);
  size_t numbers = 0;
  for (int i = 0; i < n; i++) {
    cr_assert(wi[i].count == 1 || wi[i].count == CM_URGENCY_COUNT);
    cr_assert(wi[i].lo <= wi[i].hi && wi[i].doc[0], "%s", wi[i].key);
    numbers += (size_t)wi[i].count;
  }
  cr_assert_eq(numbers * sizeof(double), sizeof(cm_weights));
  cm_weights w;
  memset(&w, 0xff, sizeof w);
  cm_weights_init(&w);
  for (int i = 0; i < n; i++)
    for (int u = 0; u < wi[i].count; u++)
      cr_expect_eq(cm_weight_values(&w, &wi[i])[u], wi[i].def[u], "%s",
                   wi[i].key);
  /* the design card, written out independently of the table */
  cr_expect_eq(w.travel, 1.0);
  cr_expect_eq(w.urgency_factor[CM_URGENCY_EMERGENCY], 4.0);
  cr_expect_eq(w.urgency_factor[CM_URGENCY_SCHEDULED], 1.0);
  cr_expect_eq(w.workload, 2.0);
  cr_expect_eq(w.continuity, 10.0);
  cr_expect_eq(w.rating, 2.0);
  cr_expect_eq(w.skill, 1.0);
  cr_expect_eq(w.preferred, 5.0);
  cr_expect_eq(w.penalty_base[CM_URGENCY_EMERGENCY], 1000.0);
  cr_expect_eq(w.penalty_base[CM_URGENCY_URGENT], 300.0);
  cr_expect_eq(w.aging_per_min, 2.0);
  cr_expect_eq(cm_weights_validate(&w, NULL), CM_OK);
}

/* Encoder and decoder: every key written, in table order, with its
 * numbers, and read back into the same member. */
Test(weights_table, json_round_trip) {
  int n;
  const cm_weight_info *wi = cm_weights_info(&n);
  cm_instance *inst = cm_instance_new();
  cr_assert_not_null(inst);
  fill_probe(&inst->weights);
  char *text = cm_instance_to_json(inst, 0);
  cr_assert_not_null(text);
  json_t *root = json_loads(text, 0, NULL);
  const json_t *obj = json_object_get(root, "weights");
  cr_assert(json_is_object(obj), "%s", text);
  cr_assert_eq(json_object_size(obj), (size_t)n);
  void *it = json_object_iter((json_t *)obj);
  for (int i = 0; i < n; i++, it = json_object_iter_next((json_t *)obj, it)) {
    cr_assert_not_null(it);
    cr_assert_str_eq(json_object_iter_key(it), wi[i].key);
    const json_t *v = json_object_iter_value(it);
    for (int u = 0; u < wi[i].count; u++) {
      const json_t *x =
          wi[i].count == 1 ? v
                           : json_object_get(v, cm_urgency_name((cm_urgency)u));
      cr_expect_eq(json_number_value(x), probe_value(i, u), "%s[%d]", wi[i].key,
                   u);
    }
  }
  cm_instance *back = NULL;
  cm_error err;
  cr_assert_eq(cm_instance_from_json(text, strlen(text), &back, &err), CM_OK,
               "%s", err.message);
  expect_probe(&back->weights, "instance");
  /* the weights codec of the daemon, fed the same object */
  json_t *wroot = json_pack("{s:O}", "weights", obj);
  char *wtext = json_dumps(wroot, JSON_REAL_PRECISION(17));
  json_decref(wroot);
  cm_weights w;
  cm_weights_init(&w);
  cr_assert_eq(cm_weights_from_json(wtext, strlen(wtext), &w, &err), CM_OK,
               "%s", err.message);
  expect_probe(&w, "weights codec");
  free(wtext);
  cm_instance_free(back);
  json_decref(root);
  free(text);
  cm_instance_free(inst);
}

/* carematchd.ini's [weights]: every key, a number or a list of four. */
Test(weights_table, ini_round_trip) {
  static cmd_config c;
  int n;
  const cm_weight_info *wi = cm_weights_info(&n);
  char text[4096] = "[weights]\n", msg[640];
  for (int i = 0; i < n; i++) {
    size_t at = strlen(text);
    snprintf(text + at, sizeof text - at, "%s = ", wi[i].key);
    for (int u = 0; u < wi[i].count; u++) {
      at = strlen(text);
      snprintf(text + at, sizeof text - at, "%s%.17g", u ? ", " : "",
               probe_value(i, u));
    }
    at = strlen(text);
    snprintf(text + at, sizeof text - at, "\n");
  }
  cr_assert_eq(cmd_config_parse(text, "t.ini", &c, msg, sizeof msg), 0, "%s",
               msg);
  expect_probe(&c.engine.weights, "ini");
}

/* Each number alone: accepted at its bounds, refused beyond them, by the
 * validation (with its path and range), the JSON codec and the ini file. */
Test(weights_table, ranges_and_paths) {
  static cmd_config c;
  int n;
  const cm_weight_info *wi = cm_weights_info(&n);
  for (int i = 0; i < n; i++)
    for (int u = 0; u < wi[i].count; u++) {
      const char *uname = cm_urgency_name((cm_urgency)u);
      char path[128], want[192], text[256], msg[640];
      cm_weights w;
      cm_error err;
      if (wi[i].count == 1)
        snprintf(path, sizeof path, "$.weights.%s", wi[i].key);
      else
        snprintf(path, sizeof path, "$.weights.%s.%s", wi[i].key, uname);
      snprintf(want, sizeof want, "%s: must be a finite number in [%s, %s]",
               path, wi[i].lo_text, wi[i].hi_text);
      cr_assert_eq(strtod(wi[i].lo_text, NULL), wi[i].lo);
      cr_assert_eq(strtod(wi[i].hi_text, NULL), wi[i].hi);
      const double bad[] = {wi[i].hi * 2, wi[i].lo - 1, NAN, INFINITY};
      for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
        cm_weights_init(&w);
        cm_weight_values(&w, &wi[i])[u] = bad[b];
        cr_assert_eq(cm_weights_validate(&w, &err), CM_E_RANGE, "%s", path);
        cr_expect_str_eq(err.field, path);
        cr_expect_str_eq(err.message, want);
      }
      cm_weights_init(&w);
      cm_weight_values(&w, &wi[i])[u] = wi[i].hi;
      cr_expect_eq(cm_weights_validate(&w, &err), CM_OK, "%s", path);
      /* the JSON codec refuses it with the same path */
      if (wi[i].count == 1)
        snprintf(text, sizeof text, "{\"weights\":{\"%s\":%.17g}}", wi[i].key,
                 wi[i].hi * 2);
      else
        snprintf(text, sizeof text, "{\"weights\":{\"%s\":{\"%s\":%.17g}}}",
                 wi[i].key, uname, wi[i].hi * 2);
      cm_weights_init(&w);
      cr_expect_eq(cm_weights_from_json(text, strlen(text), &w, &err),
                   CM_E_RANGE, "%s", text);
      cr_expect_str_eq(err.field, path);
      /* the ini file at hi, and beyond */
      for (int over = 0; over < 2; over++) {
        size_t at =
            (size_t)snprintf(text, sizeof text, "[weights]\n%s = ", wi[i].key);
        for (int k = 0; k < wi[i].count; k++)
          at += (size_t)snprintf(text + at, sizeof text - at, "%s%.17g",
                                 k ? ", " : "",
                                 k == u ? wi[i].hi * (over ? 2 : 1) : wi[i].lo);
        snprintf(text + at, sizeof text - at, "\n");
        cr_expect_eq(cmd_config_parse(text, "t.ini", &c, msg, sizeof msg),
                     over ? -1 : 0, "%s: %s", text, msg);
        if (over)
          cr_expect(strstr(msg, wi[i].key), "%s", msg);
        else
          cr_expect_eq(cm_weight_values(&c.engine.weights, &wi[i])[u],
                       wi[i].hi);
      }
    }
}

Test(params, validate_names_the_field) {
  cm_params p;
  cm_error err;
  cm_params_init(&p);
  cr_assert_eq(cm_params_validate(&p, &err), CM_OK);
  cr_assert_eq(err.code, CM_OK);
  p.k = 0;
  cr_assert_eq(cm_params_validate(&p, &err), CM_E_RANGE);
  cr_expect_str_eq(err.field, "$.params.k");
  cm_params_init(&p);
  p.radius_km[CM_URGENCY_URGENT] = -1;
  cr_assert_eq(cm_params_validate(&p, &err), CM_E_RANGE);
  cr_expect_str_eq(err.field, "$.params.radius_km.urgent");
  cm_params_init(&p);
  p.now_ms = -1;
  cr_assert_eq(cm_params_validate(&p, &err), CM_E_RANGE);
  cr_expect_str_eq(err.field, "$.now_ms");
}

static const json_t *schema(const json_t *doc, const char *name) {
  const json_t *s = json_object_get(
      json_object_get(json_object_get(doc, "components"), "schemas"), name);
  cr_assert(json_is_object(s), "no schema %s", name);
  return json_object_get(s, "properties");
}

/* docs/openapi.json names what the tables name, in their order. */
Test(vocab, openapi_documents_the_tables) {
  json_error_t je;
  json_t *doc = json_load_file(CM_OPENAPI_PATH, 0, &je);
  cr_assert_not_null(doc, "%s", je.text);
  int n;
  const cm_weight_info *wi = cm_weights_info(&n);
  const char *const names[] = {"Weights", "WeightsPatch"};
  for (int s = 0; s < 2; s++) {
    const json_t *props = schema(doc, names[s]);
    cr_assert_eq(json_object_size(props), (size_t)n, "%s", names[s]);
    void *it = json_object_iter((json_t *)props);
    for (int i = 0; i < n;
         i++, it = json_object_iter_next((json_t *)props, it)) {
      cr_assert_str_eq(json_object_iter_key(it), wi[i].key, "%s", names[s]);
      const char *type = json_string_value(
          json_object_get(json_object_iter_value(it), "type"));
      cr_expect_str_eq(type, wi[i].count == 1 ? "number" : "object", "%s.%s",
                       names[s], wi[i].key);
    }
  }
  const char *const cost[] = {"distance_km", "travel_min",
#define CM_X_KEY_(field, key, doc) key,
                              CM_COST_TERMS(CM_X_KEY_)
#undef CM_X_KEY_
                                  "total"};
  const json_t *props = schema(doc, "Cost");
  size_t nc = sizeof cost / sizeof *cost;
  cr_assert_eq(json_object_size(props), nc);
  void *it = json_object_iter((json_t *)props);
  for (size_t i = 0; i < nc;
       i++, it = json_object_iter_next((json_t *)props, it))
    cr_assert_str_eq(json_object_iter_key(it), cost[i]);
  json_decref(doc);
}

/* The total is the sum of the terms, each term on its own member. */
Test(cost_terms, total_is_the_sum_of_the_rows) {
  cm_instance *inst = cm_instance_new();
  cm_worker w;
  cm_request r;
  cm_error err;
  cm_worker_init(&w);
  cm_request_init(&r);
  snprintf(w.id, sizeof w.id, "w");
  snprintf(r.id, sizeof r.id, "r");
  w.skills = r.skills = 1;
  w.jobs_today = 3;
  w.rating = 4;
  w.level = 2;
  w.n_elders = 1;
  w.elders[0] = r.elder = cm_id_hash("elder");
  r.n_preferred = 1;
  r.preferred[0] = 0;
  cr_assert_eq(cm_instance_worker_add(inst, &w, NULL, &err), CM_OK);
  cr_assert_eq(cm_instance_request_add(inst, &r, NULL, &err), CM_OK);
  cm_cost_terms t;
  cm_edge_cost(inst, 0, 0, 2.0, 5.0, &t);
  double sum = 0, nonzero = 0;
#define CM_X_SUM_(field, key, doc) sum += t.field, nonzero += t.field != 0;
  CM_COST_TERMS(CM_X_SUM_)
#undef CM_X_SUM_
  cr_expect_eq(t.total, sum);
  cr_expect_eq(nonzero, 6, "every term priced in this example");
  cr_expect_eq(t.distance_km, 2.0);
  cr_expect_eq(t.travel_min, 5.0);
  cr_expect_eq(t.workload, 2.0 * 3);
  cr_expect_eq(t.continuity, -10.0);
  cm_instance_free(inst);
}

Test(errors, http_column) {
  static const struct {
    cm_status code;
    int http;
  } want[] = {{CM_OK, 200},
              {CM_E_PARSE, 400},
              {CM_E_MISSING, 400},
              {CM_E_TYPE, 400},
              {CM_E_RANGE, 422},
              {CM_E_INVALID, 422},
              {CM_E_DUPLICATE, 409},
              {CM_E_UNKNOWN_ID, 404},
              {CM_E_UNKNOWN_SKILL, 422},
              {CM_E_CONFLICT, 409},
              {CM_E_LIMIT, 422},
              {CM_E_NOMEM, 500},
              {CM_E_SOLVER, 500},
              {CM_E_IO, 500},
              {CM_E_UNAVAILABLE, 503},
              {CM_E_UNAUTHORIZED, 401},
              {CM_E_FORBIDDEN, 403},
              {CM_E_NOT_FOUND, 404},
              {CM_E_METHOD, 405},
              {CM_E_MEDIA_TYPE, 415},
              {CM_E_BAD_REQUEST, 400},
              {CM_E_NOT_IMPLEMENTED, 501},
              {CM_E_NOT_DURABLE, 503}};
  cr_assert_eq(sizeof want / sizeof *want, (size_t)CM_STATUS_COUNT);
  for (size_t i = 0; i < sizeof want / sizeof *want; i++)
    cr_expect_eq(cm_status_http(want[i].code), want[i].http, "%s",
                 cm_status_name(want[i].code));
  cr_expect_eq(cm_status_http(CM_STATUS_COUNT), 500);
  cr_expect_eq(cm_status_http((cm_status)-1), 500);
}

Test(errors, one_body) {
  cm_error err;
  cm_error_set(&err, CM_E_RANGE, "$.lat", "$.lat: bad \"x\"");
  char *text = cm_error_to_json(&err);
  cr_assert_str_eq(text, "{\"error\":{\"code\":\"out_of_range\",\"message\":"
                         "\"$.lat: bad \\\"x\\\"\",\"field\":\"$.lat\"}}");
  free(text);
  cm_error_set(&err, CM_E_NOMEM, "", NULL);
  text = cm_error_to_json(&err);
  cr_assert_str_eq(cm__json_error_oom(), text);
  free(text);
}

Test(position, one_check) {
  cr_expect(cm_lat_valid(90) && cm_lat_valid(-90) && cm_lat_valid(0));
  cr_expect(!cm_lat_valid(90.000001) && !cm_lat_valid(NAN) &&
            !cm_lat_valid(-INFINITY));
  cr_expect(cm_lon_valid(180) && cm_lon_valid(-180));
  cr_expect(!cm_lon_valid(-180.5) && !cm_lon_valid(NAN) &&
            !cm_lon_valid(INFINITY));
  cm_error err;
  cr_assert_eq(cm_position_check(91, 0, "$.workers[2]", &err), CM_E_RANGE);
  cr_expect_str_eq(err.field, "$.workers[2].lat");
  cr_expect_str_eq(err.message, "$.workers[2].lat: latitude must be a finite "
                                "number in [-90, 90]");
  cr_assert_eq(cm_position_check(0, 181, "$", &err), CM_E_RANGE);
  cr_expect_str_eq(err.field, "$.lon");
  cr_expect_eq(cm_position_check(-90, 180, "$", &err), CM_OK);
}
