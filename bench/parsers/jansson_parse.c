/* jansson_parse.c -- jansson's parse for compare_parsers.c, plain and on a
 * bump allocator (what its parser costs without malloc and free). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int jansson_parse(const char *text, size_t len);
int jansson_bump_parse(const char *text, size_t len);

static char *arena;
static size_t arena_used, arena_cap;

static void *bump(size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (arena_used + n > arena_cap)
    return NULL;
  arena_used += n;
  return arena + arena_used - n;
}

static void no_free(void *p) {
  (void)p;
}

/* Parse and free text. Returns 0, or -1 when it fails. */
int jansson_parse(const char *text, size_t len) {
  json_error_t e;
  json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
  json_decref(j);
  return j ? 0 : -1;
}

/* Parse text into a bump arena (16 bytes of arena per byte of text,
 * touched once before, so no page fault is timed). Returns 0 or -1. */
int jansson_bump_parse(const char *text, size_t len) {
  json_error_t e;
  if (arena_cap < len * 16) {
    free(arena);
    arena_cap = len * 16;
    if (!(arena = malloc(arena_cap)))
      return -1;
    memset(arena, 0, arena_cap);
  }
  arena_used = 0;
  json_set_alloc_funcs(bump, no_free);
  json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
  json_set_alloc_funcs(malloc, free);
  return j ? 0 : -1;
}
