/* test_json_stream.c -- the instance decoder reads the root's arrays
 * element by element while it parses (adapters/json/instance_stream.c):
 * whatever the order of the root's members, the same text decodes to the
 * same instance, and a bad text fails with the error the whole-tape decode
 * gave (a later syntax error wins over an element's error, the root's
 * unknown keys over the parts, the parts in their order, a part's size
 * limit over its elements, the position rule once "edges" is known). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/json.h"

#define NW 300 /* more than the 64 elements after which arrays are sized */
#define NR 90
#define NE 400

/* The root's members, each "key":value without a separator. */
enum { M_TAX, M_NOW, M_WEIGHTS, M_WORKERS, M_REQUESTS, M_EDGES, M_COUNT };

typedef struct text {
  char *m[M_COUNT]; /* NULL: left out */
} text;

/* A malloc'ed copy of s. */
static char *copy(const char *s) {
  size_t n = strlen(s) + 1;
  char *c = malloc(n);
  cr_assert_not_null(c);
  return memcpy(c, s, n);
}

/* Append s to the growing buffer *b (length *n). */
static void add(char **b, size_t *n, const char *s) {
  size_t k = strlen(s);
  char *p = realloc(*b, *n + k + 1);
  cr_assert_not_null(p);
  memcpy(p + *n, s, k + 1);
  *b = p;
  *n += k;
}

/* Worker i; bad: a capacity of the wrong type. */
static void worker(char **b, size_t *n, int i, int bad) {
  char s[256];
  snprintf(s, sizeof s,
           "%s{\"id\":\"w%d\",\"skills\":[\"%s\"],\"lat\":31.2,"
           "\"lon\":121.%d,\"rating\":4.5,\"capacity\":%s}",
           i ? "," : "", i, i % 3 ? "nurse" : "caregiver", i,
           bad ? "\"x\"" : "1");
  add(b, n, s);
}

/* Request i: what decides its fate (0 good, 'p' no position, 'u' a bad
 * urgency). */
static void request(char **b, size_t *n, int i, int what) {
  char s[256];
  snprintf(s, sizeof s,
           "%s{\"id\":\"r%d\",%s\"skills\":[\"%s\"],\"urgency\":\"%s\","
           "\"preferred\":[\"w%d\"]}",
           i ? "," : "", i, what == 'p' ? "" : "\"lat\":31.21,\"lon\":121.4,",
           i % 2 ? "nurse" : "caregiver", what == 'u' ? "soon" : "urgent",
           (i * 7) % NW);
  add(b, n, s);
}

/* The members of a good instance; bad_worker, bad_request (index, or -1)
 * and what as in worker() and request(). */
static text make(int bad_worker, int bad_request, int what) {
  text t = {0};
  char *b = NULL;
  size_t n = 0;
  t.m[M_TAX] = copy("\"taxonomy\":[\"caregiver\",\"nurse\"]");
  t.m[M_NOW] = copy("\"now_ms\":1700000000000");
  t.m[M_WEIGHTS] = copy("\"weights\":{\"travel\":1.5}");
  add(&b, &n, "\"workers\":[");
  for (int i = 0; i < NW; i++)
    worker(&b, &n, i, i == bad_worker);
  add(&b, &n, "]");
  t.m[M_WORKERS] = b;
  b = NULL;
  n = 0;
  add(&b, &n, "\"requests\":[");
  for (int i = 0; i < NR; i++)
    request(&b, &n, i, i == bad_request ? what : 0);
  add(&b, &n, "]");
  t.m[M_REQUESTS] = b;
  b = NULL;
  n = 0;
  add(&b, &n, "\"edges\":[");
  for (int i = 0; i < NE; i++) {
    char s[160];
    int r = i % NR, w = (i * 13) % NW;
    if (w % 3 != 0 && r % 2 == 0)
      w -= w % 3; /* caregivers for the even requests */
    if (w % 3 == 0 && r % 2 == 1)
      w = w + 1 < NW ? w + 1 : w - 2;
    snprintf(s, sizeof s,
             "%s{\"request\":\"r%d\",\"worker\":\"w%d\",\"travel_min\":%d.5}",
             i ? "," : "", r, w, 1 + i % 30);
    add(&b, &n, s);
  }
  add(&b, &n, "]");
  t.m[M_EDGES] = b;
  return t;
}

static void drop(text *t, int m) {
  free(t->m[m]);
  t->m[m] = NULL;
}

static void text_free(text *t) {
  for (int m = 0; m < M_COUNT; m++)
    drop(t, m);
}

/* The JSON text of t's members in order (M_COUNT ends it), then tail
 * (before the closing brace). Returns a malloc'ed string. */
static char *join(const text *t, const int *order, const char *tail) {
  char *b = NULL;
  size_t n = 0;
  int first = 1;
  add(&b, &n, "{");
  for (int k = 0; order[k] != M_COUNT; k++) {
    if (!t->m[order[k]])
      continue;
    if (!first)
      add(&b, &n, ",");
    add(&b, &n, t->m[order[k]]);
    first = 0;
  }
  add(&b, &n, tail);
  add(&b, &n, "}");
  return b;
}

static const int canonical[] = {M_TAX,      M_NOW,   M_WEIGHTS, M_WORKERS,
                                M_REQUESTS, M_EDGES, M_COUNT};

/* Decode s; returns the status with *err set, the instance freed. */
static cm_status decode(const char *s, cm_error *err) {
  cm_instance *inst = NULL;
  cm_status st = cm_instance_from_json(s, strlen(s), &inst, err);
  cm_instance_free(inst);
  return st;
}

/* The canonical re-encoding of the instance s decodes to (must decode). */
static char *canonical_of(const char *s) {
  cm_instance *inst = NULL;
  cm_error err;
  cm_status st = cm_instance_from_json(s, strlen(s), &inst, &err);
  cr_assert_eq(st, CM_OK, "%s: %s", err.field, err.message);
  char *out = cm_instance_to_json(inst, 0);
  cr_assert_not_null(out);
  cm_instance_free(inst);
  return out;
}

static void expect_error(const char *s, const char *code, const char *field) {
  cm_error err;
  cm_status st = decode(s, &err);
  cr_expect_str_eq(cm_status_name(st), code, "%s at %s: %s", cm_status_name(st),
                   err.field, err.message);
  cr_expect_str_eq(err.field, field, "%s: %s", err.field, err.message);
}

/* Every order of the root's members gives the same instance, whether the
 * arrays could be streamed (canonical order) or stayed on the tape. */
Test(json_stream, every_order_decodes_the_same) {
  static const int orders[][M_COUNT + 1] = {
      {M_EDGES, M_REQUESTS, M_WORKERS, M_WEIGHTS, M_NOW, M_TAX, M_COUNT},
      {M_WORKERS, M_TAX, M_REQUESTS, M_EDGES, M_NOW, M_WEIGHTS, M_COUNT},
      {M_TAX, M_REQUESTS, M_WORKERS, M_EDGES, M_NOW, M_WEIGHTS, M_COUNT},
      {M_TAX, M_WORKERS, M_EDGES, M_REQUESTS, M_NOW, M_WEIGHTS, M_COUNT},
      {M_TAX, M_WORKERS, M_NOW, M_REQUESTS, M_WEIGHTS, M_EDGES, M_COUNT},
      {M_NOW, M_WEIGHTS, M_TAX, M_WORKERS, M_REQUESTS, M_EDGES, M_COUNT},
  };
  for (int with_edges = 0; with_edges < 2; with_edges++) {
    text t = make(-1, -1, 0);
    if (!with_edges)
      drop(&t, M_EDGES);
    char *s = join(&t, canonical, "");
    char *want = canonical_of(s);
    for (size_t o = 0; o < sizeof orders / sizeof orders[0]; o++) {
      char *v = join(&t, orders[o], "");
      char *got = canonical_of(v);
      cr_expect_str_eq(got, want, "order %zu, edges %d", o, with_edges);
      free(got);
      free(v);
    }
    free(want);
    free(s);
    text_free(&t);
  }
}

/* An element's error is held: a syntax error later in the text wins, and
 * so does an unknown key of the root, wherever it stands. */
Test(json_stream, a_later_syntax_error_or_root_key_wins) {
  text t = make(5, -1, 0);
  char *s = join(&t, canonical, "");
  expect_error(s, "wrong_type", "$.workers[5].capacity");
  free(s);
  s = join(&t, canonical, ",\"zz\":[}");
  expect_error(s, "malformed_json", "");
  free(s);
  s = join(&t, canonical, ",\"bogus\":1");
  expect_error(s, "invalid_value", "$.bogus");
  free(s);
  s = join(&t, canonical, ",\"n\":1e999");
  expect_error(s, "out_of_range", "$.n");
  free(s);
  text_free(&t);
}

/* The parts fail in their order: weights (read after the workers in this
 * text) before a worker's error, the workers before a request's. */
Test(json_stream, parts_fail_in_their_order) {
  static const int weights_last[] = {M_TAX,   M_NOW,     M_WORKERS, M_REQUESTS,
                                     M_EDGES, M_WEIGHTS, M_COUNT};
  text t = make(7, 3, 'u');
  free(t.m[M_WEIGHTS]);
  t.m[M_WEIGHTS] = copy("\"weights\":{\"travl\":1}");
  char *s = join(&t, weights_last, "");
  expect_error(s, "invalid_value", "$.weights.travl");
  free(s);
  drop(&t, M_WEIGHTS);
  s = join(&t, canonical, "");
  expect_error(s, "wrong_type", "$.workers[7].capacity");
  free(s);
  text_free(&t);
  t = make(-1, 3, 'u');
  s = join(&t, canonical, "");
  expect_error(s, "invalid_value", "$.requests[3].urgency");
  free(s);
  text_free(&t);
}

/* A request without a position is an error only without edges, which come
 * after the requests: the first such request, unless an earlier request
 * failed otherwise. */
Test(json_stream, positions_are_required_once_edges_are_known) {
  text t = make(-1, 4, 'p');
  char *s = join(&t, canonical, "");
  cr_expect_eq(decode(s, &(cm_error){0}), CM_OK, "edges come later");
  free(s);
  drop(&t, M_EDGES);
  s = join(&t, canonical, "");
  expect_error(s, "missing_field", "$.requests[4].lat");
  free(s);
  text_free(&t);
  /* the missing position at 4 comes before a bad urgency at 6 */
  t = make(-1, 4, 'p');
  drop(&t, M_EDGES);
  char *u6 = strstr(strstr(t.m[M_REQUESTS], "\"id\":\"r6\""), "urgent");
  memcpy(u6, "urgen!", 6);
  s = join(&t, canonical, "");
  expect_error(s, "missing_field", "$.requests[4].lat");
  free(s);
  text_free(&t);
  /* a bad urgency at 2 comes before the missing position at 4 */
  t = make(-1, 4, 'p');
  drop(&t, M_EDGES);
  char *r = t.m[M_REQUESTS], *u = strstr(r, "\"id\":\"r2\"");
  cr_assert_not_null(u);
  u = strstr(u, "urgent");
  memcpy(u, "urgen!", 6);
  s = join(&t, canonical, "");
  expect_error(s, "invalid_value", "$.requests[2].urgency");
  free(s);
  text_free(&t);
}

/* A worker's skills are read with the taxonomy given after them too. */
Test(json_stream, taxonomy_after_the_workers) {
  static const int tax_last[] = {M_WORKERS, M_REQUESTS, M_EDGES, M_NOW,
                                 M_WEIGHTS, M_TAX,      M_COUNT};
  text t = make(-1, -1, 0);
  free(t.m[M_TAX]);
  t.m[M_TAX] = copy("\"taxonomy\":[\"nurse\",\"caregiver\",\"x\"]");
  char *a = join(&t, canonical, ""), *b = join(&t, tax_last, "");
  char *ca = canonical_of(a), *cb = canonical_of(b);
  cr_expect_str_eq(ca, cb);
  free(ca);
  free(cb);
  free(a);
  free(b);
  text_free(&t);
}

/* Ids of every length up to the longest (63 bytes) are found again by the
 * requests' and edges' references, short ones held in the id map's slots,
 * long ones pointed to; a long id given twice is refused. */
Test(json_stream, ids_short_and_long) {
  static const int lens[] = {1, 7, 21, 22, 23, 24, 40, 62, 63};
  enum { N = sizeof lens / sizeof lens[0] };
  char ids[N][64];
  char *b = NULL;
  size_t n = 0;
  for (int i = 0; i < N; i++) {
    memset(ids[i], 'a' + i, (size_t)lens[i]);
    ids[i][lens[i]] = '\0';
  }
  add(&b, &n, "{\"taxonomy\":[\"nurse\"],\"workers\":[");
  for (int i = 0; i < N; i++) {
    char s[1400];
    snprintf(s, sizeof s, "%s{\"id\":\"%s\",\"skills\":[\"nurse\"]}",
             i ? "," : "", ids[i]);
    add(&b, &n, s);
  }
  add(&b, &n, "],\"requests\":[");
  for (int i = 0; i < N; i++) {
    char s[1400];
    snprintf(s, sizeof s,
             "%s{\"id\":\"r%s\",\"skills\":[\"nurse\"],\"preferred\":[\"%s\"]}",
             i ? "," : "", ids[N - 1 - i] + 1, ids[i]);
    add(&b, &n, s);
  }
  add(&b, &n, "],\"edges\":[");
  for (int i = 0; i < N; i++) {
    char s[1400];
    snprintf(s, sizeof s,
             "%s{\"request\":\"r%s\",\"worker\":\"%s\",\"travel_min\":%d}",
             i ? "," : "", ids[N - 1 - i] + 1, ids[(i * 4) % N], i + 1);
    add(&b, &n, s);
  }
  add(&b, &n, "]}");
  cm_instance *inst = NULL;
  cm_error err;
  cr_assert_eq(cm_instance_from_json(b, n, &inst, &err), CM_OK, "%s: %s",
               err.field, err.message);
  for (int i = 0; i < N; i++) {
    cr_expect_str_eq(inst->workers[i].id, ids[i]);
    cr_expect_eq(inst->requests[i].n_preferred, 1);
    cr_expect_eq(inst->requests[i].preferred[0], i, "request %d", i);
    cr_expect_eq(inst->edges[i].request, i);
    cr_expect_eq(inst->edges[i].worker, (i * 4) % N, "edge %d", i);
  }
  cm_instance_free(inst);
  free(b);
  /* the longest id twice */
  char two[1400];
  snprintf(two, sizeof two,
           "{\"taxonomy\":[\"nurse\"],\"workers\":[{\"id\":\"%s\","
           "\"skills\":[\"nurse\"]},{\"id\":\"%s\",\"skills\":[\"nurse\"]}],"
           "\"requests\":[]}",
           ids[N - 1], ids[N - 1]);
  expect_error(two, "duplicate_id", "$.workers[1].id");
}
