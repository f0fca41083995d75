/* test_json.c -- the JSON codec of `carematch solve` (adapters/json).
 *
 * Data-driven: every file of tests/data/instances/bad/ is listed in
 * EXPECTED.tsv with the error code and JSON path it must produce; every file
 * of tests/data/instances/good/ must decode and round-trip (decode, encode,
 * decode gives the same instance and the same text). Random instances of the
 * test generator round-trip too, and solve to the same objective after the
 * trip. Answers and errors are rendered and read back. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/json.h"
#include "carematch/solve.h"
#include "check.h"

#define GOOD_DIR CM_TEST_DATA "/instances/good"
#define BAD_DIR CM_TEST_DATA "/instances/bad"

/* ---- helpers ------------------------------------------------------------ */

/* Read a whole file; returns a malloc'ed NUL-terminated buffer (aborts the
 * test when it cannot). */
static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s", path);
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  cr_assert_not_null(buf);
  for (;;) {
    if (cap - n < 2) {
      cap *= 2;
      buf = realloc(buf, cap);
      cr_assert_not_null(buf);
    }
    size_t got = fread(buf + n, 1, cap - n - 1, f);
    if (got == 0)
      break;
    n += got;
  }
  fclose(f);
  buf[n] = '\0';
  *len = n;
  return buf;
}

typedef struct expected_row {
  char file[128];
  char code[64];
  char field[160];
} expected_row;

/* Parse EXPECTED.tsv (file TAB code TAB field TAB comment; '#' comments).
 * Returns the number of rows (at most max). */
static int read_expected(expected_row *rows, int max) {
  size_t len;
  char *text = slurp(BAD_DIR "/EXPECTED.tsv", &len);
  int n = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    if (line[0] == '#' || line[0] == '\0')
      continue;
    cr_assert_lt(n, max, "EXPECTED.tsv has too many rows");
    char *tab1 = strchr(line, '\t');
    cr_assert_not_null(tab1, "bad EXPECTED.tsv line: %s", line);
    char *tab2 = strchr(tab1 + 1, '\t');
    cr_assert_not_null(tab2, "bad EXPECTED.tsv line: %s", line);
    char *tab3 = strchr(tab2 + 1, '\t');
    if (tab3)
      *tab3 = '\0';
    *tab1 = *tab2 = '\0';
    snprintf(rows[n].file, sizeof rows[n].file, "%s", line);
    snprintf(rows[n].code, sizeof rows[n].code, "%s", tab1 + 1);
    snprintf(rows[n].field, sizeof rows[n].field, "%s", tab2 + 1);
    n++;
  }
  free(text);
  return n;
}

/* Decode a file; returns the status, *out set on success. */
static cm_status decode_file(const char *path, cm_instance **out,
                             cm_error *err) {
  size_t len;
  char *text = slurp(path, &len);
  cm_status st = cm_instance_from_json(text, len, out, err);
  free(text);
  return st;
}

static cm_status decode_str(const char *text, cm_instance **out,
                            cm_error *err) {
  return cm_instance_from_json(text, strlen(text), out, err);
}

/* Field-by-field equality of two instances; names the first difference. */
static void assert_same_instance(const cm_instance *a, const cm_instance *b,
                                 const char *what) {
  cr_assert_eq(a->taxonomy.count, b->taxonomy.count, "%s: taxonomy", what);
  for (int k = 0; k < a->taxonomy.count; k++)
    cr_assert_str_eq(a->taxonomy.names[k], b->taxonomy.names[k], "%s", what);
  cr_assert_eq(memcmp(&a->weights, &b->weights, sizeof a->weights), 0,
               "%s: weights differ", what);
  cr_assert_eq(memcmp(&a->params, &b->params, sizeof a->params), 0,
               "%s: params differ", what);
  cr_assert_eq(a->n_workers, b->n_workers, "%s: n_workers", what);
  cr_assert_eq(a->n_requests, b->n_requests, "%s: n_requests", what);
  cr_assert_eq(a->n_edges, b->n_edges, "%s: n_edges", what);
  cr_assert_eq(a->has_edges, b->has_edges, "%s: has_edges", what);
  for (int i = 0; i < a->n_workers; i++) {
    const cm_worker *x = &a->workers[i], *y = &b->workers[i];
    cr_assert_str_eq(x->id, y->id, "%s: worker %d id", what, i);
    cr_assert_eq(x->skills, y->skills, "%s: worker %d skills", what, i);
    cr_assert_eq(x->status, y->status, "%s: worker %d status", what, i);
    cr_assert_eq(x->has_position, y->has_position, "%s: worker %d", what, i);
    if (x->has_position) {
      cr_assert_eq(x->lat, y->lat, "%s: worker %d lat", what, i);
      cr_assert_eq(x->lon, y->lon, "%s: worker %d lon", what, i);
    }
    cr_assert_eq(x->seen_ms, y->seen_ms, "%s: worker %d seen_ms", what, i);
    cr_assert_eq(x->capacity, y->capacity, "%s: worker %d", what, i);
    cr_assert_eq(x->jobs_today, y->jobs_today, "%s: worker %d", what, i);
    cr_assert_eq(x->rating, y->rating, "%s: worker %d rating", what, i);
    cr_assert_eq(x->level, y->level, "%s: worker %d level", what, i);
    cr_assert_eq(x->n_elders, y->n_elders, "%s: worker %d elders", what, i);
    for (int k = 0; k < x->n_elders; k++)
      cr_assert_eq(x->elders[k], y->elders[k], "%s: worker %d", what, i);
  }
  for (int i = 0; i < a->n_requests; i++) {
    const cm_request *x = &a->requests[i], *y = &b->requests[i];
    cr_assert_str_eq(x->id, y->id, "%s: request %d id", what, i);
    cr_assert_eq(x->has_position, y->has_position, "%s: request %d", what, i);
    if (x->has_position) {
      cr_assert_eq(x->lat, y->lat, "%s: request %d lat", what, i);
      cr_assert_eq(x->lon, y->lon, "%s: request %d lon", what, i);
    }
    cr_assert_eq(x->skills, y->skills, "%s: request %d skills", what, i);
    cr_assert_eq(x->skill_mode, y->skill_mode, "%s: request %d", what, i);
    cr_assert_eq(x->staff, y->staff, "%s: request %d staff", what, i);
    cr_assert_eq(x->urgency, y->urgency, "%s: request %d urgency", what, i);
    cr_assert_eq(x->waited_s, y->waited_s, "%s: request %d waited", what, i);
    cr_assert_eq(x->elder, y->elder, "%s: request %d elder", what, i);
    cr_assert_eq(x->n_preferred, y->n_preferred, "%s: request %d", what, i);
    for (int k = 0; k < x->n_preferred; k++)
      cr_assert_eq(x->preferred[k], y->preferred[k], "%s: req %d", what, i);
    cr_assert_eq(x->n_excluded, y->n_excluded, "%s: request %d", what, i);
    for (int k = 0; k < x->n_excluded; k++)
      cr_assert_eq(x->excluded[k], y->excluded[k], "%s: req %d", what, i);
  }
  for (int i = 0; i < a->n_edges; i++) {
    cr_assert_eq(a->edges[i].request, b->edges[i].request, "%s: edge", what);
    cr_assert_eq(a->edges[i].worker, b->edges[i].worker, "%s: edge", what);
    cr_assert_eq(a->edges[i].travel_min, b->edges[i].travel_min, "%s", what);
  }
}

/* encode -> decode -> compare -> encode again -> same text. */
static void assert_round_trip(const cm_instance *inst, const char *what) {
  cm_error err;
  cm_instance *back = NULL;
  for (int pretty = 0; pretty <= 1; pretty++) {
    char *text = cm_instance_to_json(inst, pretty);
    cr_assert_not_null(text, "%s: encode failed", what);
    cm_status st = decode_str(text, &back, &err);
    cr_assert_eq(st, CM_OK, "%s: re-decode failed: %s %s: %s", what,
                 cm_status_name(st), err.field, err.message);
    assert_same_instance(inst, back, what);
    char *again = cm_instance_to_json(back, pretty);
    cr_assert_not_null(again);
    cr_assert_str_eq(text, again, "%s: second encoding differs", what);
    free(again);
    free(text);
    cm_instance_free(back);
    back = NULL;
  }
}

/* ---- bad instances ------------------------------------------------------ */

Test(json_bad, every_file_gives_its_code_and_field) {
  static expected_row rows[256];
  int n = read_expected(rows, 256);
  cr_assert_gt(n, 40, "EXPECTED.tsv lists too few cases");
  for (int i = 0; i < n; i++) {
    char path[512];
    cm_error err;
    static cm_instance sentinel;
    cm_instance *inst = &sentinel; /* must be reset to NULL */
    if (snprintf(path, sizeof path, "%s/%s", BAD_DIR, rows[i].file) >=
        (int)sizeof path)
      cr_assert_fail("path too long: %s", rows[i].file);
    cm_status st = decode_file(path, &inst, &err);
    cr_expect_neq(st, CM_OK, "%s: decoded but should fail", rows[i].file);
    cr_expect_null(inst, "%s: *out must be NULL on failure", rows[i].file);
    if (st == CM_OK) {
      cm_instance_free(inst);
      continue;
    }
    cr_expect_eq(err.code, st, "%s: err.code differs from the return",
                 rows[i].file);
    cr_expect_str_eq(cm_status_name(st), rows[i].code,
                     "%s: code %s, expected %s (%s: %s)", rows[i].file,
                     cm_status_name(st), rows[i].code, err.field, err.message);
    cr_expect_str_eq(err.field, rows[i].field,
                     "%s: field '%s', expected '%s' (%s)", rows[i].file,
                     err.field, rows[i].field, err.message);
    cr_expect_gt(strlen(err.message), 0, "%s: empty message", rows[i].file);
    if (err.field[0])
      cr_expect_eq(strncmp(err.message, err.field, strlen(err.field)), 0,
                   "%s: the message must start with the path: %s", rows[i].file,
                   err.message);
    if (st == CM_E_PARSE)
      cr_expect_not_null(strstr(err.message, "line "),
                         "%s: parse errors give line and column: %s",
                         rows[i].file, err.message);
  }
}

/* Every file in bad/ is listed, and every listed file exists. */
Test(json_bad, expected_tsv_matches_directory) {
  static expected_row rows[256];
  int n = read_expected(rows, 256), files = 0;
  DIR *dir = opendir(BAD_DIR);
  cr_assert_not_null(dir);
  struct dirent *de;
  while ((de = readdir(dir))) {
    size_t l = strlen(de->d_name);
    if (l < 5 || strcmp(de->d_name + l - 5, ".json") != 0)
      continue;
    files++;
    int found = 0;
    for (int i = 0; i < n && !found; i++)
      found = strcmp(rows[i].file, de->d_name) == 0;
    cr_expect(found, "%s is not listed in EXPECTED.tsv", de->d_name);
  }
  closedir(dir);
  cr_expect_eq(files, n, "EXPECTED.tsv lists %d files, bad/ holds %d", n,
               files);
}

/* Inline cases: the path of a jansson error is recovered from its offset,
 * also through strings holding brackets, commas and escaped quotes. */
Test(json_bad, located_parse_errors) {
  static const struct {
    const char *text, *code, *field;
  } cases[] = {
      {"{\"weights\":{\"urgency_factor\":{\"normal\":1e999}},"
       "\"workers\":[],\"requests\":[]}",
       "out_of_range", "$.weights.urgency_factor.normal"},
      {"{\"workers\":[{\"id\":\"a,[{\\\"}\",\"skills\":[\"nurse\"],"
       "\"lat\":0,\"lon\":0},{\"id\":\"b]}\",\"skills\":[\"nurse\"],"
       "\"lat\":1e400,\"lon\":0}],\"requests\":[]}",
       "out_of_range", "$.workers[1].lat"},
      {"{\"workers\":[],\"requests\":[{\"id\":\"r\",\"skills\":[\"nurse\"],"
       "\"preferred\":[],\"skills\":[]}]}",
       "duplicate_id", "$.requests[0].skills"},
      {"{\"params\":{\"a b\":1,\"a b\":2}}", "duplicate_id",
       "$.params[\"a b\"]"},
      {"{\"now_ms\":-99999999999999999999,\"workers\":[],\"requests\":[]}",
       "out_of_range", "$.now_ms"},
      {"{\"workers\":[],\"requests\":[]", "malformed_json", ""},
      {"{\"workers\":[],\"requests\":[],\"edges\":[[[[1e999]]]]}",
       "out_of_range", "$.edges[0][0][0][0]"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    cm_error err;
    cm_instance *inst = NULL;
    cm_status st = decode_str(cases[i].text, &inst, &err);
    cr_expect_null(inst);
    cr_expect_str_eq(cm_status_name(st), cases[i].code, "case %zu: %s", i,
                     err.message);
    cr_expect_str_eq(err.field, cases[i].field, "case %zu: %s", i, err.message);
  }
}

/* What the parser refuses beyond the grammar, as jansson (the decoder's
 * parser before yajl) refused it: the same code and path for each. */
Test(json_bad, parser_rules) {
#define W_(id)                                                                 \
  "{\"workers\":[{\"id\":" id ",\"skills\":[\"nurse\"]}],"                     \
  "\"requests\":[]}"
  static const struct {
    const char *text, *code, *field;
  } cases[] = {
      {"1", "malformed_json", ""}, /* the top is an object */
      {"\"x\"", "malformed_json", ""},
      {" \n ", "malformed_json", ""},
      {W_("\"a\\u0000\""), "malformed_json", ""}, /* NUL */
      {W_("\"\\ud800\""), "malformed_json", ""},  /* surrogates alone */
      {W_("\"\\udc00\""), "malformed_json", ""},
      {W_("\"\\ud800\\u0041\""), "malformed_json", ""},
      {W_("\"\xc0\x80\""), "malformed_json", ""},         /* overlong */
      {W_("\"\xed\xa0\x80\""), "malformed_json", ""},     /* a surrogate */
      {W_("\"\xf4\x90\x80\x80\""), "malformed_json", ""}, /* > U+10FFFF */
      {"{\"workers\":[],\"requests\":[]} /* c */", "malformed_json", ""},
      {"\xef\xbb\xbf{\"workers\":[],\"requests\":[]}", "malformed_json", ""},
      {"{\"a\" 1e999}", "out_of_range", "$.a"}, /* converted first */
      {"{\"workers\":[] \"requests\":-99999999999999999999}", "malformed_json",
       ""},
      {"{\"workers\":[],\"requests\":[],\"now_ms\":-9223372036854775809}",
       "out_of_range", "$.now_ms"},
      {"{\"workers\":[],\"requests\":[],\"now_ms\":-9223372036854775808}",
       "out_of_range", "$.now_ms"}, /* an int64, then negative */
      {"{\"workers\":[],\"requests\":[],\"x\\u00e9\":1}", "invalid_value",
       "$[\"x\xc3\xa9\"]"},
  };
#undef W_
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    cm_error err;
    cm_instance *inst = NULL;
    cm_status st = decode_str(cases[i].text, &inst, &err);
    cr_expect_null(inst);
    cr_expect_str_eq(cm_status_name(st), cases[i].code, "case %zu: %s", i,
                     err.message);
    cr_expect_str_eq(err.field, cases[i].field, "case %zu: %s", i, err.message);
  }
}

/* A key twice in an object of many keys (found by hashing), and the
 * deepest nesting allowed (2048 containers) against one more. */
Test(json_bad, large_objects_and_depth) {
  char text[8192];
  cm_error err;
  cm_instance *inst = NULL;
  size_t n = (size_t)sprintf(text, "{\"workers\":[],\"requests\":[],"
                                   "\"params\":{");
  for (int k = 0; k < 40; k++)
    n += (size_t)sprintf(text + n, "\"x%d\":%d,", k, k);
  sprintf(text + n, "\"x17\":1}}");
  cr_expect_eq(decode_str(text, &inst, &err), CM_E_DUPLICATE, "%s",
               err.message);
  cr_expect_str_eq(err.field, "$.params.x17");
  for (int depth = 2047; depth <= 2048; depth++) {
    n = (size_t)sprintf(text, "{\"workers\":[],\"requests\":[],\"edges\":");
    memset(text + n, '[', (size_t)depth);
    memset(text + n + depth, ']', (size_t)depth);
    strcpy(text + n + 2 * (size_t)depth, "}");
    cm_status st = decode_str(text, &inst, &err);
    cr_expect_null(inst);
    if (depth == 2047) { /* parsed; an edge must be an object */
      cr_expect_eq(st, CM_E_TYPE, "%s", err.message);
      cr_expect_str_eq(err.field, "$.edges[0]");
    } else {
      cr_expect_eq(st, CM_E_LIMIT, "%s", err.message);
      cr_expect_eq(strncmp(err.field, "$.edges[0][0]", 13), 0, "%s", err.field);
    }
  }
}

/* Deep nesting is refused without a crash, with a JSON error. */
Test(json_bad, deep_nesting) {
  size_t depth = 100000;
  char *text = malloc(depth * 2 + 64);
  cr_assert_not_null(text);
  size_t n = (size_t)sprintf(text, "{\"workers\":");
  memset(text + n, '[', depth);
  n += depth;
  memset(text + n, ']', depth);
  n += depth;
  n += (size_t)sprintf(text + n, ",\"requests\":[]}");
  cm_error err;
  cm_instance *inst = NULL;
  cm_status st = cm_instance_from_json(text, n, &inst, &err);
  free(text);
  cr_assert_null(inst);
  cr_expect_eq(st, CM_E_LIMIT, "got %s: %s", cm_status_name(st), err.message);
  /* The path names an enclosing value, cut at a segment boundary. */
  cr_expect_eq(strncmp(err.field, "$.workers[0][0]", 15), 0, "%s", err.field);
  size_t fl = strlen(err.field);
  cr_expect(fl < CM_ERROR_FIELD_MAX && err.field[fl - 1] == ']', "%s",
            err.field);
}

/* A path too long for cm_error names the enclosing object instead. */
Test(json_bad, long_key_paths_are_cut) {
  char text[512], key[201];
  memset(key, 'k', 200);
  key[200] = '\0';
  snprintf(text, sizeof text,
           "{\"workers\":[],\"requests\":[{\"id\":\"r\",\"%s\":1}]}", key);
  cm_error err;
  cm_instance *inst = NULL;
  cr_expect_eq(decode_str(text, &inst, &err), CM_E_INVALID);
  cr_expect_str_eq(err.field, "$.requests[0]");
  cr_expect_not_null(strstr(err.message, "unknown key"), "%s", err.message);
}

/* An array of n zeros as the value of key, in an otherwise valid instance. */
static char *big_array(const char *key, size_t n, size_t *len) {
  char *text = malloc(n * 2 + 128);
  cr_assert_not_null(text);
  size_t o = (size_t)sprintf(text, "{\"workers\":[],\"requests\":[],");
  if (strcmp(key, "edges") != 0)
    o = (size_t)sprintf(text, "{\"%s\":[],",
                        strcmp(key, "workers") == 0 ? "requests" : "workers");
  o += (size_t)sprintf(text + o, "\"%s\":[", key);
  for (size_t i = 0; i < n; i++) {
    text[o++] = '0';
    text[o++] = ',';
  }
  text[o - 1] = ']';
  text[o++] = '}';
  text[o] = '\0';
  *len = o;
  return text;
}

Test(json_bad, size_limits) {
  static const struct {
    const char *key;
    size_t n;
  } cases[] = {{"workers", 200001}, {"requests", 100001}, {"edges", 2000001}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    size_t len;
    char *text = big_array(cases[i].key, cases[i].n, &len);
    char path[64];
    cm_error err;
    cm_instance *inst = NULL;
    cm_status st = cm_instance_from_json(text, len, &inst, &err);
    free(text);
    snprintf(path, sizeof path, "$.%s", cases[i].key);
    cr_expect_null(inst);
    cr_expect_eq(st, CM_E_LIMIT, "%s: %s", cases[i].key, err.message);
    cr_expect_str_eq(err.field, path);
  }
  /* At the limit the size is fine: the elements are what is wrong. */
  size_t len;
  char *text = big_array("requests", 100000, &len);
  cm_error err;
  cm_instance *inst = NULL;
  cm_status st = cm_instance_from_json(text, len, &inst, &err);
  free(text);
  cr_expect_eq(st, CM_E_TYPE, "%s", err.message);
  cr_expect_str_eq(err.field, "$.requests[0]");
}

Test(json_bad, null_arguments) {
  cm_error err;
  cm_instance *inst = NULL;
  cr_expect_eq(cm_instance_from_json("{}", 2, NULL, &err), CM_E_INVALID);
  cr_expect_eq(cm_instance_from_json(NULL, 5, &inst, &err), CM_E_INVALID);
  cr_expect_null(inst);
  /* err may be NULL: the status is still returned. */
  cr_expect_eq(cm_instance_from_json("[", 1, &inst, NULL), CM_E_PARSE);
  cr_expect_null(inst);
  cr_expect_null(cm_instance_to_json(NULL, 0));
  cr_expect_null(cm_answer_to_json(NULL, NULL, 0));
}

/* ---- good instances ----------------------------------------------------- */

Test(json_good, every_file_decodes_and_round_trips) {
  DIR *dir = opendir(GOOD_DIR);
  cr_assert_not_null(dir);
  struct dirent *de;
  int files = 0;
  while ((de = readdir(dir))) {
    size_t l = strlen(de->d_name);
    if (l < 5 || strcmp(de->d_name + l - 5, ".json") != 0)
      continue;
    char path[512];
    cm_error err;
    cm_instance *inst = NULL;
    snprintf(path, sizeof path, "%s/%s", GOOD_DIR, de->d_name);
    cm_status st = decode_file(path, &inst, &err);
    cr_assert_eq(st, CM_OK, "%s: %s at %s: %s", de->d_name, cm_status_name(st),
                 err.field, err.message);
    cr_assert_eq(cm_instance_validate(inst, &err), CM_OK);
    assert_round_trip(inst, de->d_name);
    cm_instance_free(inst);
    files++;
  }
  closedir(dir);
  cr_expect_geq(files, 4, "too few good instances");
}

/* Escapes and numbers read as jansson read them. */
Test(json_good, escapes_and_numbers) {
  static const char text[] =
      "{\"workers\":[{\"id\":\"\\ud83d\\ude00\",\"skills\":[\"nurse\"],"
      "\"lat\":1e-400,\"lon\":-0,\"capacity\":2.0},"
      "{\"id\":\"\\u00e9\\\"\\/\\\\\",\"skills\":[\"nurse\"]}],"
      "\"requests\":[],\"edges\":[]}";
  cm_error err;
  cm_instance *inst = NULL;
  cr_assert_eq(decode_str(text, &inst, &err), CM_OK, "%s", err.message);
  cr_expect_str_eq(inst->workers[0].id, "\xf0\x9f\x98\x80");
  cr_expect_str_eq(inst->workers[1].id, "\xc3\xa9\"/\\");
  cr_expect_eq(inst->workers[0].lat, 0.0);
  cr_expect_eq(inst->workers[0].lon, 0.0);
  cr_expect_eq(inst->workers[0].capacity, 2);
  assert_round_trip(inst, "escapes");
  cm_instance_free(inst);
}

Test(json_good, defaults_fill_what_is_left_out) {
  cm_error err;
  cm_instance *inst = NULL;
  cr_assert_eq(decode_file(GOOD_DIR "/minimal.json", &inst, &err), CM_OK);
  cm_taxonomy t;
  cm_weights w;
  cm_params p;
  cm_taxonomy_init(&t);
  cm_weights_init(&w);
  cm_params_init(&p);
  cr_expect_eq(memcmp(&inst->taxonomy, &t, sizeof t), 0);
  cr_expect_eq(memcmp(&inst->weights, &w, sizeof w), 0);
  cr_expect_eq(memcmp(&inst->params, &p, sizeof p), 0);
  cr_expect_eq(inst->n_workers, 0);
  cr_expect_eq(inst->n_requests, 0);
  cr_expect_eq(inst->has_edges, 0);
  cm_instance_free(inst);
}

Test(json_good, every_field_is_read) {
  cm_error err;
  cm_instance *inst = NULL;
  cm_status st = decode_file(GOOD_DIR "/full.json", &inst, &err);
  cr_assert_eq(st, CM_OK, "%s: %s", err.field, err.message);
  cm_weights dw;
  cm_params dp;
  cm_weights_init(&dw);
  cm_params_init(&dp);

  cr_expect_eq(inst->taxonomy.count, 7);
  int dementia = cm_taxonomy_find(&inst->taxonomy, "dementia_care");
  cr_expect_eq(dementia, 6);

  const cm_weights *w = &inst->weights;
  cr_expect_eq(w->travel, 1.5);
  cr_expect_eq(w->urgency_factor[CM_URGENCY_EMERGENCY], 5.0);
  cr_expect_eq(w->urgency_factor[CM_URGENCY_URGENT], 2.5);
  cr_expect_eq(w->urgency_factor[CM_URGENCY_NORMAL],
               dw.urgency_factor[CM_URGENCY_NORMAL]);
  cr_expect_eq(w->workload, 3.0);
  cr_expect_eq(w->continuity, 12.5);
  cr_expect_eq(w->skill, 0.5);
  cr_expect_eq(w->preferred, 4.0);
  cr_expect_eq(w->penalty_base[CM_URGENCY_EMERGENCY], 2000.0);
  cr_expect_eq(w->penalty_base[CM_URGENCY_URGENT],
               dw.penalty_base[CM_URGENCY_URGENT]);
  cr_expect_eq(w->penalty_base[CM_URGENCY_SCHEDULED], 40.0);
  cr_expect_eq(w->aging_per_min, 1.25);

  const cm_params *p = &inst->params;
  cr_expect_eq(p->k, 8);
  cr_expect_eq(p->radius_km[CM_URGENCY_EMERGENCY], 10.0);
  cr_expect_eq(p->radius_km[CM_URGENCY_URGENT],
               dp.radius_km[CM_URGENCY_URGENT]);
  cr_expect_eq(p->radius_km[CM_URGENCY_NORMAL], 4.5);
  cr_expect_eq(p->radius_growth_km_per_min, 0.25);
  cr_expect_eq(p->radius_max_km, 20.0);
  cr_expect_eq(p->speed_kmh, 22.5);
  cr_expect_eq(p->road_factor, 1.4);
  cr_expect_eq(p->stale_ms, 600000);
  cr_expect_eq(p->now_ms, 1700000000000LL);

  cr_assert_eq(inst->n_workers, 6);
  const cm_worker *w1 = &inst->workers[0];
  cr_expect_str_eq(w1->id, "w-1");
  cr_expect_eq(w1->skills, (1u << dementia) | 1u);
  cr_expect_eq(w1->has_position, 1);
  cr_expect_eq(w1->lat, -33.8688);
  cr_expect_eq(w1->lon, 151.2093);
  cr_expect_eq(w1->status, CM_WORKER_AVAILABLE);
  cr_expect_eq(w1->seen_ms, 1699999999000LL);
  cr_expect_eq(w1->capacity, 2);
  cr_expect_eq(w1->jobs_today, 1);
  cr_expect_eq(w1->rating, 4.25);
  cr_expect_eq(w1->level, 5.0);
  cr_expect_eq(w1->n_elders, 2);
  cr_expect_eq(w1->elders[0], cm_id_hash("elder-a"));
  cr_expect_eq(w1->elders[1], cm_id_hash("elder-b"));
  cr_expect_eq(inst->workers[1].status, CM_WORKER_OFFERED);
  cr_expect_eq(inst->workers[2].status, CM_WORKER_BUSY);
  cr_expect_eq(inst->workers[2].n_elders, 1);
  cr_expect_eq(inst->workers[2].elders[0], 0x0123456789abcdefULL);
  cr_expect_eq(inst->workers[3].status, CM_WORKER_OFFLINE);
  cr_expect_eq(inst->workers[3].capacity, 0);
  cr_expect_str_eq(inst->workers[4].id, "w \"quoted\" \xc3\xbc");
  /* defaults of a worker */
  cr_expect_eq(inst->workers[4].rating, 5.0);
  cr_expect_eq(inst->workers[4].level, 3.0);
  cr_expect_eq(inst->workers[4].capacity, 1);
  cr_expect_eq(inst->workers[4].status, CM_WORKER_AVAILABLE);
  /* a worker without a position (never a candidate of the search) */
  cr_expect_eq(inst->workers[5].has_position, 0);

  cr_assert_eq(inst->n_requests, 3);
  const cm_request *r1 = &inst->requests[0], *r2 = &inst->requests[1],
                   *r3 = &inst->requests[2];
  cr_expect_eq(r1->skills, 1u << dementia);
  cr_expect_eq(r1->skill_mode, CM_SKILLS_ALL);
  cr_expect_eq(r1->urgency, CM_URGENCY_URGENT);
  cr_expect_eq(r1->waited_s, 90.5);
  cr_expect_eq(r1->elder, cm_id_hash("elder-a"));
  cr_expect_eq(r1->n_preferred, 1, "duplicates in preferred are merged");
  cr_expect_eq(r1->preferred[0], 0);
  cr_expect_eq(r1->n_excluded, 1);
  cr_expect_eq(r1->excluded[0], 1);
  cr_expect_eq(r2->skill_mode, CM_SKILLS_ANY);
  cr_expect_eq(r2->staff, 4);
  cr_expect_eq(r2->urgency, CM_URGENCY_EMERGENCY);
  cr_expect_eq(r2->elder, 0xfedcba9876543210ULL);
  cr_expect_eq(r3->staff, 2, "2.0 is read as the integer 2");
  cr_expect_eq(r3->urgency, CM_URGENCY_NORMAL);
  cr_expect_eq(r3->excluded[0], 4);
  cr_expect_eq(r3->elder, 0);
  cr_expect_eq(inst->has_edges, 0);
  cm_instance_free(inst);
}

Test(json_good, edge_mode_makes_positions_optional) {
  cm_error err;
  cm_instance *inst = NULL;
  cm_status st = decode_file(GOOD_DIR "/edges.json", &inst, &err);
  cr_assert_eq(st, CM_OK, "%s: %s", err.field, err.message);
  cr_expect_eq(inst->has_edges, 1);
  cr_expect_eq(inst->n_edges, 6);
  cr_expect_eq(inst->workers[0].has_position, 0);
  cr_expect_eq(inst->requests[0].has_position, 0);
  cr_expect_eq(inst->edges[1].request, 0);
  cr_expect_eq(inst->edges[1].worker, 1);
  cr_expect_eq(inst->edges[1].travel_min, 4.0);
  cr_expect_eq(inst->edges[5].request, 2);
  cr_expect_eq(inst->edges[5].worker, 2);
  cr_expect_eq(inst->requests[2].staff, 2);
  cm_instance_free(inst);

  /* An empty edge list is still edge mode: nothing is a candidate. */
  st = decode_file(GOOD_DIR "/edges_empty.json", &inst, &err);
  cr_assert_eq(st, CM_OK, "%s: %s", err.field, err.message);
  cr_expect_eq(inst->has_edges, 1);
  cr_expect_eq(inst->n_edges, 0);
  cm_instance_free(inst);
}

/* Random instances of the test generator, both modes, with teams. */
Test(json_good, random_instances_round_trip) {
  for (int edge_mode = 0; edge_mode <= 1; edge_mode++)
    for (uint64_t seed = 1; seed <= 40; seed++) {
      cm_check_gen_opts o;
      char what[64];
      cm_check_gen_small_opts(&o, edge_mode, 1);
      o.max_requests = 30;
      o.max_workers = 30;
      cm_instance *inst = cm_check_gen(&o, seed * 7919 + (uint64_t)edge_mode);
      cr_assert_not_null(inst);
      snprintf(what, sizeof what, "seed %llu mode %d", (unsigned long long)seed,
               edge_mode);
      assert_round_trip(inst, what);
      cm_instance_free(inst);
    }
}

/* ---- answers ------------------------------------------------------------ */

/* A hand-made answer renders exactly as documented. */
Test(json_answer, hand_made_answer) {
  cm_error err;
  cm_instance *inst = NULL;
  cr_assert_eq(decode_file(GOOD_DIR "/edges.json", &inst, &err), CM_OK);
  cm_assignment as[2] = {
      {.request = 0,
       .worker = 1,
       .component = 0,
       .terms = {.distance_km = 0,
                 .travel_min = 4,
                 .travel = 16,
                 .workload = 0,
                 .continuity = 0,
                 .rating = 0,
                 .skill = 2,
                 .preferred = 0,
                 .total = 18}},
      {.request = 1,
       .worker = 2,
       .component = -1,
       .terms = {.travel_min = 12, .travel = 12, .workload = 6, .total = 20}},
  };
  cm_unassigned un[1] = {
      {.request = 2, .reason = CM_REASON_OUTRANKED, .penalty = 600}};
  cm_component_info comp[1] = {{.requests = 2,
                                .workers = 3,
                                .edges = 4,
                                .teams = 1,
                                .method = CM_METHOD_MIP,
                                .fell_back = 0,
                                .ms = 0.25}};
  cm_answer ans = {.assignments = as,
                   .n_assignments = 2,
                   .unassigned = un,
                   .n_unassigned = 1,
                   .components = comp,
                   .n_components = 1,
                   .objective = 638.0};
  ans.stats.exact = 1;
  ans.stats.lower_bound = 638.0;
  ans.stats.gap = NAN; /* non-finite numbers become null */
  ans.stats.edges = 6;
  ans.stats.reduced = 1;
  ans.stats.components = 1;
  ans.stats.total_ms = 1.5;
  ans.stats.greedy_objective = 700.0;
  char *text = cm_answer_to_json(inst, &ans, 0);
  cr_assert_not_null(text);
  cr_expect_str_eq(
      text,
      "{\"objective\":638.0,\"exact\":true,\"lower_bound\":638.0,"
      "\"gap\":null,"
      "\"assignments\":[{\"request\":\"fall-17\",\"worker\":\"nurse-bo\","
      "\"component\":0,\"cost\":{\"total\":18.0,\"travel\":16.0,"
      "\"travel_min\":4.0,\"distance_km\":0.0,\"workload\":0.0,"
      "\"continuity\":0.0,\"rating\":0.0,\"skill\":2.0,\"preferred\":0.0,"
      "\"sla\":0.0}},"
      "{\"request\":\"bath-18\",\"worker\":\"care-chen\",\"component\":null,"
      "\"cost\":{\"total\":20.0,\"travel\":12.0,\"travel_min\":12.0,"
      "\"distance_km\":0.0,\"workload\":6.0,\"continuity\":0.0,"
      "\"rating\":0.0,\"skill\":0.0,\"preferred\":0.0,\"sla\":0.0}}],"
      "\"unassigned\":[{\"request\":\"transfer-19\",\"reason\":\"outranked\","
      "\"penalty\":600.0}],"
      "\"components\":[{\"requests\":2,\"workers\":3,\"edges\":4,"
      "\"teams\":1,\"method\":\"mip\",\"fell_back\":false,\"floor\":false,"
      "\"ms\":0.25}],"
      "\"timings\":{\"candidates_ms\":0.0,\"build_ms\":0.0,\"solve_ms\":0.0,"
      "\"total_ms\":1.5},"
      "\"stats\":{\"edges\":6,\"reduced\":1,\"components\":1,"
      "\"fallbacks\":0,\"floor_components\":0,\"unsearched\":0,"
      "\"greedy_objective\":700.0,\"pricing_rounds\":0,\"glpk_iterations\":0}"
      "}");
  free(text);

  /* Pretty output is the same JSON, indented. */
  text = cm_answer_to_json(inst, &ans, 1);
  cr_assert_not_null(text);
  cr_expect_not_null(strstr(text, "\n  \"assignments\": ["));
  free(text);

  /* An index outside the instance is refused, not rendered. */
  as[1].worker = 3;
  cr_expect_null(cm_answer_to_json(inst, &ans, 0));
  cm_instance_free(inst);
}

/* Entries of arr whose "request" is id. */
static size_t count_named(const json_t *arr, const char *id) {
  size_t n = 0;
  for (size_t k = 0; k < json_array_size(arr); k++) {
    const char *r =
        json_string_value(json_object_get(json_array_get(arr, k), "request"));
    n += r && strcmp(r, id) == 0;
  }
  return n;
}

/* Solve a file, render the answer, read it back: ids and counts agree. */
static void solve_and_read_back(const char *file) {
  cm_error err;
  cm_instance *inst = NULL;
  cm_answer ans;
  json_error_t je;
  cr_assert_eq(decode_file(file, &inst, &err), CM_OK, "%s", err.message);
  memset(&ans, 0, sizeof ans);
  cm_status st = cm_solve(inst, NULL, &ans, &err);
  cr_assert_eq(st, CM_OK, "%s: %s", file, err.message);
  char *text = cm_answer_to_json(inst, &ans, 1);
  cr_assert_not_null(text);
  json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
  cr_assert_not_null(root, "%s: answer is not JSON: %s", file, je.text);
  json_t *a = json_object_get(root, "assignments");
  json_t *u = json_object_get(root, "unassigned");
  cr_assert(json_is_array(a) && json_is_array(u));
  cr_expect_eq(json_array_size(a), (size_t)ans.n_assignments);
  cr_expect_eq(json_array_size(u), (size_t)ans.n_unassigned);
  cr_expect(json_is_true(json_object_get(root, "exact")));
  cr_expect(fabs(json_number_value(json_object_get(root, "objective")) -
                 ans.objective) <= 1e-9 * (1 + fabs(ans.objective)));
  /* Every request is named once by an unassigned entry, or staff times by
   * assignments (one per team member). */
  for (int r = 0; r < inst->n_requests; r++) {
    size_t staffed = count_named(a, inst->requests[r].id);
    size_t left = count_named(u, inst->requests[r].id);
    cr_expect((staffed == 0 && left == 1) ||
                  (left == 0 && staffed == (size_t)inst->requests[r].staff),
              "%s: request %s named %zu + %zu times", file,
              inst->requests[r].id, staffed, left);
  }
  json_decref(root);
  free(text);
  cm_answer_free(&ans);
  cm_instance_free(inst);
}

/* The answer is written without jansson, in jansson's layout: reading it
 * back and dumping it with jansson's flags gives the same bytes, for odd
 * ids (quotes, control characters, invalid UTF-8 from the C API) and odd
 * numbers (exponents, -0, integral reals), compact and indented. */
Test(json_answer, layout_is_janssons) {
  static const char *const ids[] = {"w\"\\/1", "w\x01\x1f\t\n", "w\xff\xc3",
                                    "w\xc3\xa9\xf0\x9f\x98\x80", "w\x7f"};
  static const double reals[] = {1e20, 1e-5, -0.0,  1e-7, 123456789012.0,
                                 0.1,  -2.5, 1e300, 3.0,  1.0 / 3.0};
  cm_instance *inst = cm_instance_new();
  cr_assert_not_null(inst);
  cm_error err;
  cm_assignment as[5];
  cm_unassigned un[5];
  cm_component_info comp[2] = {{.method = CM_METHOD_NETWORK, .ms = 1e-9},
                               {.method = CM_METHOD_GREEDY, .fell_back = 1}};
  for (int i = 0; i < 5; i++) {
    cm_worker w;
    cm_request r;
    cm_worker_init(&w);
    cm_request_init(&r);
    snprintf(w.id, sizeof w.id, "%s", ids[i]);
    snprintf(r.id, sizeof r.id, "%s", ids[4 - i]);
    cr_assert_eq(cm_instance_worker_add(inst, &w, NULL, &err), CM_OK);
    cr_assert_eq(cm_instance_request_add(inst, &r, NULL, &err), CM_OK);
    as[i] = (cm_assignment){.request = i, .worker = 4 - i, .component = i - 1};
    cm_cost_terms *t = &as[i].terms;
    t->total = reals[i];
    t->travel = reals[i + 1];
    t->travel_min = reals[i + 2];
    t->distance_km = reals[i + 3];
    t->workload = reals[i + 4];
    t->continuity = reals[i + 5];
    t->rating = -reals[i];
    t->skill = reals[9 - i];
    t->preferred = -reals[i + 1];
    un[i] = (cm_unassigned){.request = i,
                            .reason = CM_REASON_NO_CANDIDATE,
                            .penalty = reals[9 - i]};
  }
  cm_answer ans = {.assignments = as,
                   .n_assignments = 5,
                   .unassigned = un,
                   .n_unassigned = 5,
                   .components = comp,
                   .n_components = 2,
                   .objective = -1e-300};
  ans.stats.gap = INFINITY;
  ans.stats.glpk_iterations = 123456789;
  for (int round = 0; round < 2; round++) {
    for (int pretty = 0; pretty <= 1; pretty++) {
      char *text = cm_answer_to_json(inst, &ans, pretty);
      cr_assert_not_null(text);
      json_error_t je;
      json_t *back = json_loads(text, 0, &je);
      cr_assert_not_null(back, "%s: %s", je.text, text);
      char *again =
          json_dumps(back, JSON_REAL_PRECISION(10) |
                               (pretty ? JSON_INDENT(2) : JSON_COMPACT) |
                               JSON_PRESERVE_ORDER);
      cr_assert_not_null(again);
      cr_expect_str_eq(text, again, "pretty %d", pretty);
      free(again);
      json_decref(back);
      free(text);
    }
    /* Empty arrays too. */
    ans.n_assignments = ans.n_unassigned = ans.n_components = 0;
  }
  cm_instance_free(inst);
}

Test(json_answer, solved_files_render) {
  solve_and_read_back(GOOD_DIR "/positions.json");
  solve_and_read_back(GOOD_DIR "/edges.json");
  solve_and_read_back(GOOD_DIR "/full.json");
}

/* What the solver sees does not change through JSON: same objective. */
Test(json_answer, round_trip_solves_the_same) {
  for (int edge_mode = 0; edge_mode <= 1; edge_mode++)
    for (uint64_t seed = 1; seed <= 15; seed++) {
      cm_check_gen_opts o;
      cm_error err;
      cm_check_gen_small_opts(&o, edge_mode, 1);
      cm_instance *inst = cm_check_gen(&o, seed * 31 + 5);
      cr_assert_not_null(inst);
      char *text = cm_instance_to_json(inst, 0);
      cr_assert_not_null(text);
      cm_instance *back = NULL;
      cr_assert_eq(decode_str(text, &back, &err), CM_OK, "%s", err.message);
      cm_answer a1, a2;
      memset(&a1, 0, sizeof a1);
      memset(&a2, 0, sizeof a2);
      cr_assert_eq(cm_solve(inst, NULL, &a1, &err), CM_OK, "%s", err.message);
      cr_assert_eq(cm_solve(back, NULL, &a2, &err), CM_OK, "%s", err.message);
      cr_expect_eq(a1.objective, a2.objective, "seed %llu mode %d",
                   (unsigned long long)seed, edge_mode);
      cr_expect_eq(a1.n_assignments, a2.n_assignments);
      char *t1 = cm_answer_to_json(inst, &a1, 0);
      char *t2 = cm_answer_to_json(back, &a2, 0);
      cr_assert(t1 && t2);
      /* Timings differ between runs; everything before them agrees. */
      char *cut1 = strstr(t1, "\"timings\""), *cut2 = strstr(t2, "\"timings\"");
      cr_assert(cut1 && cut2);
      *cut1 = *cut2 = '\0';
      cr_expect_str_eq(t1, t2);
      free(t1);
      free(t2);
      cm_answer_free(&a1);
      cm_answer_free(&a2);
      free(text);
      cm_instance_free(back);
      cm_instance_free(inst);
    }
}

/* ---- errors ------------------------------------------------------------- */

Test(json_error, body_round_trips) {
  cm_error err;
  json_error_t je;
  cm_error_set(&err, CM_E_RANGE, "$.requests[3].lat",
               "$.requests[3].lat: latitude must be in [-90, 90]");
  char *text = cm_error_to_json(&err);
  cr_assert_not_null(text);
  cr_expect_str_eq(text, "{\"error\":{\"code\":\"out_of_range\",\"message\":"
                         "\"$.requests[3].lat: latitude must be in [-90, 90]\","
                         "\"field\":\"$.requests[3].lat\"}}");
  free(text);

  /* A message cut inside a UTF-8 character still gives valid JSON. */
  cm_error_set(&err, CM_E_UNKNOWN_ID, "$.x", "bad \xc3 byte \xff");
  text = cm_error_to_json(&err);
  cr_assert_not_null(text);
  json_t *root = json_loads(text, 0, &je);
  cr_assert_not_null(root, "%s", je.text);
  json_t *body = json_object_get(root, "error");
  cr_expect_str_eq(json_string_value(json_object_get(body, "message")),
                   "bad ? byte ?");
  cr_expect_str_eq(json_string_value(json_object_get(body, "code")),
                   "unknown_id");
  json_decref(root);
  free(text);

  /* No message: the default one of the code. */
  cm_error_clear(&err);
  err.code = CM_E_NOMEM;
  text = cm_error_to_json(&err);
  cr_assert_not_null(text);
  cr_expect_not_null(strstr(text, "\"out of memory\""));
  free(text);
}

/* The error of a decoded bad file is what the CLI prints: check it parses
 * and carries code and field. */
Test(json_error, decoder_errors_render) {
  cm_error err;
  cm_instance *inst = NULL;
  json_error_t je;
  cr_assert_neq(decode_file(BAD_DIR "/unknown_key_odd_chars.json", &inst, &err),
                CM_OK);
  char *text = cm_error_to_json(&err);
  cr_assert_not_null(text);
  json_t *root = json_loads(text, 0, &je);
  cr_assert_not_null(root, "%s", je.text);
  json_t *body = json_object_get(root, "error");
  cr_expect_str_eq(json_string_value(json_object_get(body, "code")),
                   "invalid_value");
  cr_expect_str_eq(json_string_value(json_object_get(body, "field")),
                   "$.requests[0][\"a \\\"b\\\"\"]");
  json_decref(root);
  free(text);
}

/* ---- allocation failures ------------------------------------------------ */

/* jansson allocates through these: the Nth allocation fails. */
static long chaos_left = -1; /* allocations before the failing one; < 0 off */

static void *chaos_malloc(size_t n) {
  if (chaos_left == 0)
    return NULL;
  if (chaos_left > 0)
    chaos_left--;
  return malloc(n);
}

/* Every jansson allocation of a decode and of the encoders fails in turn:
 * each call reports out of memory (or succeeds), never crashes, and leaks
 * nothing (checked by the ASan build). */
Test(json_chaos, every_jansson_allocation_may_fail) {
  static const char *const files[] = {GOOD_DIR "/full.json",
                                      GOOD_DIR "/edges.json"};
  json_set_alloc_funcs(chaos_malloc, free);
  for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
    size_t len;
    char *text = slurp(files[f], &len);
    cm_instance *inst = NULL;
    cm_error err;
    int ok = 0;
    for (long n = 0; !ok; n++) {
      chaos_left = n;
      cm_status st = cm_instance_from_json(text, len, &inst, &err);
      chaos_left = -1;
      /* jansson reports a failed allocation inside its lexer as a syntax
       * error; anything else is a bug. */
      cr_assert(st == CM_OK || st == CM_E_NOMEM || st == CM_E_PARSE,
                "%s, allocation %ld: %s %s", files[f], n, cm_status_name(st),
                err.message);
      ok = st == CM_OK;
      if (!ok)
        cr_assert_null(inst);
    }
    cm_answer ans;
    memset(&ans, 0, sizeof ans);
    cr_assert_eq(cm_solve(inst, NULL, &ans, &err), CM_OK, "%s", err.message);
    for (int what = 0; what < 3; what++) {
      ok = 0;
      for (long n = 0; !ok; n++) {
        chaos_left = n;
        char *s = what == 0   ? cm_instance_to_json(inst, (int)(n & 1))
                  : what == 1 ? cm_answer_to_json(inst, &ans, (int)(n & 1))
                              : cm_error_to_json(&err);
        chaos_left = -1;
        ok = s != NULL;
        free(s);
      }
    }
    cm_answer_free(&ans);
    cm_instance_free(inst);
    free(text);
  }
}
