/* compare_parsers.c -- the measurement that chose the instance decoder's
 * parser (docs/solve-format.md, "Speed"): parse and free one JSON file with
 * each C parser packaged in Debian bookworm, best of N runs, in MB/s
 * (10^6 bytes). Only the parse is timed, no decoding of the values.
 *
 * Not part of the build (it needs parsers the project does not use):
 *   apt-get install libjansson-dev libyajl-dev libjson-c-dev libcjson-dev \
 *     libjsonparser-dev libjsmn-dev
 *   cd bench/parsers && gcc -O2 -o /tmp/compare_parsers compare_parsers.c \
 *     jansson_parse.c jsonc_parse.c $(pkg-config --cflags --libs jansson \
 *     yajl json-c libcjson json-parser)
 *   build/bench_decode --quick --no-answer --dump /tmp  # (from the top)
 *   /tmp/compare_parsers /tmp/decode-edges-3MB.json 10
 * (jansson's, json-c's and json-parser's headers declare the same names:
 * the first two are in files of their own.) */
#include <cjson/cJSON.h>
#include <json-parser/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>
#define JSMN_STRICT
#define JSMN_PARENT_LINKS /* without it jsmn is quadratic in the tokens */
#include <jsmn.h>

/* Parsers whose headers clash with json-parser's, each in a file of its
 * own: jansson (plain, and on a bump allocator) and json-c. */
int jansson_parse(const char *text, size_t len);
int jansson_bump_parse(const char *text, size_t len);
int jsonc_parse(const char *text, size_t len);

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* yajl's events, all accepted and dropped. */
static int y_null(void *c) {
  (void)c;
  return 1;
}
static int y_bool(void *c, int b) {
  (void)c, (void)b;
  return 1;
}
static int y_num(void *c, const char *s, size_t n) {
  (void)c, (void)s, (void)n;
  return 1;
}
static int y_str(void *c, const unsigned char *s, size_t n) {
  (void)c, (void)s, (void)n;
  return 1;
}
static const yajl_callbacks y_cb = {.yajl_null = y_null,
                                    .yajl_boolean = y_bool,
                                    .yajl_number = y_num,
                                    .yajl_string = y_str,
                                    .yajl_start_map = y_null,
                                    .yajl_map_key = y_str,
                                    .yajl_end_map = y_null,
                                    .yajl_start_array = y_null,
                                    .yajl_end_array = y_null};

/* Each returns 0, or -1 when the text did not parse. */

static int p_yajl(const char *t, size_t n) {
  yajl_handle h = yajl_alloc(&y_cb, NULL, NULL);
  int ok = yajl_parse(h, (const unsigned char *)t, n) == yajl_status_ok &&
           yajl_complete_parse(h) == yajl_status_ok;
  yajl_free(h);
  return ok ? 0 : -1;
}

static int p_yajl_tree(const char *t, size_t n) {
  char msg[128];
  (void)n; /* yajl_tree_parse reads a NUL-terminated text */
  yajl_val v = yajl_tree_parse(t, msg, sizeof msg);
  yajl_tree_free(v);
  return v ? 0 : -1;
}

static int p_cjson(const char *t, size_t n) {
  cJSON *j = cJSON_ParseWithLength(t, n);
  cJSON_Delete(j);
  return j ? 0 : -1;
}

static int p_json_parser(const char *t, size_t n) {
  json_value *v = json_parse(t, n);
  json_value_free(v);
  return v ? 0 : -1;
}

static int p_jsmn(const char *t, size_t n) {
  jsmn_parser p;
  jsmn_init(&p);
  int k = jsmn_parse(&p, t, n, NULL, 0); /* count, then fill */
  jsmntok_t *tok = k > 0 ? malloc(sizeof *tok * (size_t)k) : NULL;
  jsmn_init(&p);
  int ok = tok && jsmn_parse(&p, t, n, tok, (unsigned)k) == k;
  free(tok);
  return ok ? 0 : -1;
}

int main(int argc, char **argv) {
  static const struct {
    const char *name;
    int (*parse)(const char *, size_t);
  } parsers[] = {
      {"jansson 2.14 (json_loadb + json_decref)", jansson_parse},
      {"jansson, a bump allocator (no free)", jansson_bump_parse},
      {"json-c 0.16 (tokener + put)", jsonc_parse},
      {"cJSON 1.7.15 (parse + delete)", p_cjson},
      {"json-parser 1.1 (parse + free)", p_json_parser},
      {"jsmn 1.1 strict, parent links (tokens)", p_jsmn},
      {"yajl 2.1 tree (yajl_tree_parse + free)", p_yajl_tree},
      {"yajl 2.1 events (no-op callbacks)", p_yajl},
  };
  if (argc < 2) {
    fputs("usage: compare_parsers FILE.json [RUNS]\n", stderr);
    return 2;
  }
  int runs = argc > 2 ? atoi(argv[2]) : 10;
  FILE *f = fopen(argv[1], "rb");
  if (!f || fseek(f, 0, SEEK_END) != 0)
    return 1;
  size_t n = (size_t)ftell(f);
  rewind(f);
  char *text = malloc(n + 1);
  if (!text || fread(text, 1, n, f) != n)
    return 1;
  text[n] = '\0';
  fclose(f);
  printf("%s: %.2f MB, best of %d runs\n", argv[1], n / 1e6, runs);
  for (size_t i = 0; i < sizeof parsers / sizeof *parsers; i++) {
    double best = 1e30;
    for (int r = 0; r < runs; r++) {
      double t0 = now_ms();
      if (parsers[i].parse(text, n) != 0) {
        printf("%-42s does not parse the file\n", parsers[i].name);
        break;
      }
      double ms = now_ms() - t0;
      best = ms < best ? ms : best;
    }
    printf("%-42s %8.2f ms %8.1f MB/s\n", parsers[i].name, best,
           n / 1e6 / (best / 1e3));
  }
  return 0;
}
