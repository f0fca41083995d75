/* config.c -- carematchd's configuration file (INI, read with inih):
 * server, store, batch policy, matching radii, weights, taxonomy, service
 * catalog and tokens. Strict: an unknown section or key, or a value that
 * does not parse or is out of range, fails the load with the line, the
 * section and the key. docs/daemon.md lists every key. */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

static const char *const role_names[CMD_ROLE_COUNT] = {"platform", "gateway",
                                                       "operator", "metrics"};

const char *cmd_role_name(cmd_role r) {
  return (int)r >= 0 && r < CMD_ROLE_COUNT ? role_names[r] : "?";
}

void cmd_config_default(cmd_config *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->listen, sizeof c->listen, "127.0.0.1");
  c->port = 8080;
  c->max_body = 1L << 20;
  c->auth = 1;
  c->max_sse_clients = 64;
  c->sse_buffer_max = 4L << 20;
  snprintf(c->region, sizeof c->region, "default");
  snprintf(c->weights_file, sizeof c->weights_file, "carematchd-weights.json");
  c->sweep_ms = 10000;
  c->pause_retry_ms = 250;
  cm_engine_config_default(&c->engine);
  /* finished requests remembered: each is about 3 KB of memory, so the
     engine's 100,000 would grow the daemon by some 300 MB; 10,000 is ~30 MB
     (docs/daemon.md, "Memory") */
  c->engine.history = 10000;
}

/* ---- parsing ---- */

/* A value holds at most this many bytes; a longer one is refused, never
 * cut (a cut token list or number would be taken as another value). */
#define VALUE_MAX 2048
/* inih's line buffer (Debian's inih takes it at run time; elsewhere its
 * compile-time INI_MAX_LINE, 200, holds). */
#define LINE_MAX_BYTES (2 * VALUE_MAX)

typedef struct parse_ctx {
  cmd_config *c;
  char msg[256];
  int lineno;
  int taxonomy_set;
  int n_raw; /* services, resolved once the taxonomy is known */
  char raw_name[CMD_SERVICES_MAX][CMD_NAME_MAX];
  char raw_value[CMD_SERVICES_MAX][VALUE_MAX];
} parse_ctx;

static int fail(parse_ctx *p, const char *section, const char *name,
                const char *what) {
  snprintf(p->msg, sizeof p->msg, "[%.32s] %.48s: %.160s", section, name, what);
  return 0;
}

static const char *trim(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1]))
    s[--n] = '\0';
  return s;
}

static int parse_double(const char *v, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double x = strtod(v, &end);
  if (end == v || *end || errno || !isfinite(x) || x < lo || x > hi)
    return -1;
  *out = x;
  return 0;
}

static int parse_long(const char *v, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long x = strtol(v, &end, 10);
  if (end == v || *end || errno || x < lo || x > hi)
    return -1;
  *out = x;
  return 0;
}

static int parse_bool(const char *v, int *out) {
  static const char *const yes[] = {"1", "true", "yes", "on"};
  static const char *const no[] = {"0", "false", "no", "off"};
  for (int i = 0; i < 4; i++) {
    if (!strcmp(v, yes[i]))
      return *out = 1, 0;
    if (!strcmp(v, no[i]))
      return *out = 0, 0;
  }
  return -1;
}

/* "a, b, c" into at most max doubles, all required. */
static int parse_urgency_list(const char *v, double lo, double hi,
                              double *out) {
  char buf[VALUE_MAX];
  snprintf(buf, sizeof buf, "%s", v);
  int n = 0;
  for (char *save, *t = strtok_r(buf, ",", &save); t;
       t = strtok_r(NULL, ",", &save)) {
    char tmp[64];
    if (strlen(t) >= sizeof tmp)
      return -1;
    snprintf(tmp, sizeof tmp, "%s", t);
    if (n == CM_URGENCY_COUNT || parse_double(trim(tmp), lo, hi, &out[n]) != 0)
      return -1;
    n++;
  }
  return n == CM_URGENCY_COUNT ? 0 : -1;
}

#define ERR_LIST "must be four numbers (emergency, urgent, normal, scheduled)"

static int server_key(parse_ctx *p, const char *name, const char *v) {
  cmd_config *c = p->c;
  long x;
  if (!strcmp(name, "listen")) {
    if (!*v || strlen(v) >= sizeof c->listen)
      return fail(p, "server", name, "must be an address");
    snprintf(c->listen, sizeof c->listen, "%s", v);
  } else if (!strcmp(name, "port")) {
    if (parse_long(v, 0, 65535, &x) != 0)
      return fail(p, "server", name, "must be an integer in 0..65535");
    c->port = (int)x;
  } else if (!strcmp(name, "max_body_bytes")) {
    if (parse_long(v, 1024, 1L << 30, &x) != 0)
      return fail(p, "server", name, "must be an integer in 1024..2^30");
    c->max_body = x;
  } else if (!strcmp(name, "auth")) {
    if (parse_bool(v, &c->auth) != 0)
      return fail(p, "server", name, "must be on or off");
  } else if (!strcmp(name, "max_event_streams")) {
    if (parse_long(v, 0, 10000, &x) != 0)
      return fail(p, "server", name, "must be an integer in 0..10000");
    c->max_sse_clients = (int)x;
  } else if (!strcmp(name, "event_stream_buffer_bytes")) {
    if (parse_long(v, 4096, 1L << 30, &x) != 0)
      return fail(p, "server", name, "must be an integer in 4096..2^30");
    c->sse_buffer_max = x;
  } else {
    return fail(p, "server", name, "unknown key");
  }
  return 1;
}

static int store_key(parse_ctx *p, const char *name, const char *v) {
  cmd_config *c = p->c;
  long x;
  if (!strcmp(name, "redis")) {
    if (strlen(v) >= sizeof c->redis_url)
      return fail(p, "store", name, "too long");
    snprintf(c->redis_url, sizeof c->redis_url, "%s", v);
  } else if (!strcmp(name, "region")) {
    if (!*v || strlen(v) >= sizeof c->region)
      return fail(p, "store", name, "must be 1..64 characters");
    snprintf(c->region, sizeof c->region, "%s", v);
  } else if (!strcmp(name, "weights_file")) {
    if (strlen(v) >= sizeof c->weights_file)
      return fail(p, "store", name, "too long");
    snprintf(c->weights_file, sizeof c->weights_file, "%s", v);
  } else if (!strcmp(name, "sweep_ms")) {
    if (parse_long(v, 0, 86400000, &x) != 0)
      return fail(p, "store", name, "must be an integer in 0..86400000");
    c->sweep_ms = (int)x;
  } else {
    return fail(p, "store", name, "unknown key");
  }
  return 1;
}

static int batch_key(parse_ctx *p, const char *name, const char *v) {
  cm_engine_config *e = &p->c->engine;
  long x;
  double d;
  const struct {
    const char *key;
    int64_t *dst;
    long lo, hi;
  } times[] = {{"window_ms", &e->batch_window_ms, 0, 3600000},
               {"offer_ttl_ms", &e->offer_ttl_ms, 1, 86400000},
               {"retry_max_ms", &e->retry_max_ms, 0, 3600000},
               {"release_slack_ms", &e->release_slack_ms, 0, 86400000},
               {"stale_ms", &e->stale_ms, 0, 86400000}};
  for (size_t i = 0; i < sizeof times / sizeof *times; i++)
    if (!strcmp(name, times[i].key)) {
      if (parse_long(v, times[i].lo, times[i].hi, &x) != 0)
        return fail(p, "batch", name, "must be an integer in range");
      *times[i].dst = x;
      return 1;
    }
  if (!strcmp(name, "max")) {
    if (parse_long(v, 1, 100000, &x) != 0)
      return fail(p, "batch", name, "must be an integer in 1..100000");
    e->batch_max = (int)x;
  } else if (!strcmp(name, "solve_budget_ms")) {
    if (parse_double(v, 0, 60000, &d) != 0)
      return fail(p, "batch", name, "must be a number in 0..60000");
    e->solve_budget_ms = d;
  } else if (!strcmp(name, "auto_accept")) {
    if (parse_bool(v, &e->auto_accept) != 0)
      return fail(p, "batch", name, "must be true or false");
  } else if (!strcmp(name, "max_live")) {
    if (parse_long(v, 1, 100000000, &x) != 0)
      return fail(p, "batch", name, "must be an integer in 1..1e8");
    e->max_live = (int)x;
  } else if (!strcmp(name, "history")) {
    if (parse_long(v, 1, 100000000, &x) != 0)
      return fail(p, "batch", name, "must be an integer in 1..1e8");
    e->history = (int)x;
  } else {
    return fail(p, "batch", name, "unknown key");
  }
  return 1;
}

static int matching_key(parse_ctx *p, const char *name, const char *v) {
  cm_params *m = &p->c->engine.params;
  long x;
  if (!strcmp(name, "k")) {
    if (parse_long(v, 1, 256, &x) != 0)
      return fail(p, "matching", name, "must be an integer in 1..256");
    m->k = (int)x;
    return 1;
  }
  cm_engine_config *e = &p->c->engine;
  if (!strcmp(name, "reserve_workers")) {
    if (parse_long(v, 0, 64, &x) != 0)
      return fail(p, "matching", name, "must be an integer in 0..64");
    e->reserve_workers = (int)x;
    return 1;
  }
  if (!strcmp(name, "reserve_km"))
    return parse_double(v, 1e-3, 1000, &e->reserve_km) == 0
               ? 1
               : fail(p, "matching", name, "must be a number in 0.001..1000");
  if (!strcmp(name, "reserve_from")) {
    int u = cm_urgency_parse(v);
    if (u <= CM_URGENCY_EMERGENCY)
      return fail(p, "matching", name, "must be urgent, normal or scheduled");
    e->reserve_from = (cm_urgency)u;
    return 1;
  }
  if (!strcmp(name, "radius_km"))
    return parse_urgency_list(v, 0, 1000, m->radius_km) == 0
               ? 1
               : fail(p, "matching", name, ERR_LIST);
  const struct {
    const char *key;
    double *dst;
    double lo, hi; /* the engine's ranges (core/validate.c) */
  } nums[] = {
      {"radius_growth_km_per_min", &m->radius_growth_km_per_min, 0, 100},
      {"radius_max_km", &m->radius_max_km, 0, 1000},
      {"speed_kmh", &m->speed_kmh, 0.1, 1000},
      {"road_factor", &m->road_factor, 1, 10}};
  for (size_t i = 0; i < sizeof nums / sizeof *nums; i++)
    if (!strcmp(name, nums[i].key)) {
      char what[64];
      snprintf(what, sizeof what, "must be a number in %g..%g", nums[i].lo,
               nums[i].hi);
      return parse_double(v, nums[i].lo, nums[i].hi, nums[i].dst) == 0
                 ? 1
                 : fail(p, "matching", name, what);
    }
  return fail(p, "matching", name, "unknown key");
}

static int weights_key(parse_ctx *p, const char *name, const char *v) {
  cm_weights *w = &p->c->engine.weights;
  if (!strcmp(name, "urgency_factor"))
    return parse_urgency_list(v, 0, 1e3, w->urgency_factor) == 0
               ? 1
               : fail(p, "weights", name, ERR_LIST);
  if (!strcmp(name, "penalty_base"))
    return parse_urgency_list(v, 0, 1e9, w->penalty_base) == 0
               ? 1
               : fail(p, "weights", name, ERR_LIST);
  const struct {
    const char *key;
    double *dst;
  } nums[] = {{"travel", &w->travel},
              {"workload", &w->workload},
              {"continuity", &w->continuity},
              {"rating", &w->rating},
              {"skill", &w->skill},
              {"preferred", &w->preferred},
              {"aging_per_min", &w->aging_per_min}};
  for (size_t i = 0; i < sizeof nums / sizeof *nums; i++)
    if (!strcmp(name, nums[i].key))
      return parse_double(v, 0, 1e6, nums[i].dst) == 0
                 ? 1
                 : fail(p, "weights", name, "must be a number in 0..1e6");
  return fail(p, "weights", name, "unknown key");
}

static int taxonomy_key(parse_ctx *p, const char *name, const char *v) {
  if (strcmp(name, "skills"))
    return fail(p, "taxonomy", name, "unknown key");
  cm_taxonomy *t = &p->c->engine.taxonomy;
  char buf[VALUE_MAX];
  snprintf(buf, sizeof buf, "%s", v);
  cm_taxonomy_clear(t);
  for (char *save, *s = strtok_r(buf, ",", &save); s;
       s = strtok_r(NULL, ",", &save)) {
    cm_error err;
    if (cm_taxonomy_add(t, trim(s), &err) < 0)
      return fail(p, "taxonomy", name, err.message);
  }
  if (t->count == 0)
    return fail(p, "taxonomy", name, "at least one skill");
  p->taxonomy_set = 1;
  return 1;
}

static int token_key(parse_ctx *p, const char *name, const char *v) {
  cmd_config *c = p->c;
  int r = -1;
  for (int i = 0; i < CMD_ROLE_COUNT; i++)
    if (!strcmp(name, role_names[i]))
      r = i;
  if (r < 0)
    return fail(p, "tokens", name, "unknown role");
  char buf[VALUE_MAX];
  snprintf(buf, sizeof buf, "%s", v);
  c->n_tokens[r] = 0;
  for (char *save, *t = strtok_r(buf, ",", &save); t;
       t = strtok_r(NULL, ",", &save)) {
    const char *tok = trim(t);
    size_t n = strlen(tok);
    if (n < 16 || n >= CMD_TOKEN_MAX)
      return fail(p, "tokens", name, "a token must be 16..127 characters");
    for (size_t i = 0; i < n; i++)
      if (!isgraph((unsigned char)tok[i]))
        return fail(p, "tokens", name, "a token must be printable, no spaces");
    if (c->n_tokens[r] == CMD_TOKENS_MAX)
      return fail(p, "tokens", name, "at most 8 tokens");
    /* NUL-padded: http.c compares every byte */
    memset(c->tokens[r][c->n_tokens[r]], 0, CMD_TOKEN_MAX);
    memcpy(c->tokens[r][c->n_tokens[r]++], tok, n);
  }
  return 1;
}

static int on_entry(void *user, const char *section, const char *name,
                    const char *value) {
  parse_ctx *p = user;
  char v[VALUE_MAX];
  if (value && strlen(value) >= sizeof v)
    return fail(p, section, name, "the value is too long (2047 bytes at most)");
  snprintf(v, sizeof v, "%s", value ? value : "");
  const char *val = trim(v);
  if (!strcmp(section, "server"))
    return server_key(p, name, val);
  if (!strcmp(section, "store"))
    return store_key(p, name, val);
  if (!strcmp(section, "batch"))
    return batch_key(p, name, val);
  if (!strcmp(section, "matching"))
    return matching_key(p, name, val);
  if (!strcmp(section, "weights"))
    return weights_key(p, name, val);
  if (!strcmp(section, "taxonomy"))
    return taxonomy_key(p, name, val);
  if (!strcmp(section, "tokens"))
    return token_key(p, name, val);
  if (!strcmp(section, "services")) {
    if (p->n_raw == CMD_SERVICES_MAX)
      return fail(p, "services", name, "at most 64 services");
    if (strlen(name) >= CMD_NAME_MAX)
      return fail(p, "services", name, "name too long");
    snprintf(p->raw_name[p->n_raw], CMD_NAME_MAX, "%s", name);
    snprintf(p->raw_value[p->n_raw++], VALUE_MAX, "%s", val);
    return 1;
  }
  snprintf(p->msg, sizeof p->msg, "[%s]: unknown section", section);
  return 0;
}

/* "nurse|caregiver" (any of), "nurse+escort" (all of), then an optional
 * "*N" for the staff. */
static int resolve_service(parse_ctx *p, int i) {
  cmd_service *s = &p->c->services[p->c->n_services];
  char buf[VALUE_MAX];
  snprintf(buf, sizeof buf, "%s", p->raw_value[i]);
  memset(s, 0, sizeof *s);
  snprintf(s->name, sizeof s->name, "%s", p->raw_name[i]);
  s->staff = 1;
  char *star = strchr(buf, '*');
  if (star) {
    long x;
    *star = '\0';
    if (parse_long(trim(star + 1), 1, CM_MAX_STAFF, &x) != 0)
      return fail(p, "services", s->name, "staff (*N) must be 1..4");
    s->staff = (int)x;
  }
  int any = strchr(buf, '|') != NULL, all = strchr(buf, '+') != NULL;
  if (any && all)
    return fail(p, "services", s->name, "use | (any) or + (all), not both");
  s->mode = any ? CM_SKILLS_ANY : CM_SKILLS_ALL;
  for (char *save, *t = strtok_r(buf, "|+", &save); t;
       t = strtok_r(NULL, "|+", &save)) {
    int k = cm_taxonomy_find(&p->c->engine.taxonomy, trim(t));
    if (k < 0) {
      char what[128];
      snprintf(what, sizeof what, "unknown skill '%.60s'", t);
      return fail(p, "services", s->name, what);
    }
    s->skills |= 1u << k;
  }
  if (!s->skills)
    return fail(p, "services", s->name, "needs at least one skill");
  p->c->n_services++;
  return 1;
}

/* The file at path, or (path NULL) the text, under name in messages. */
static int load(const char *path, const char *text, const char *name,
                cmd_config *c, char *msg, size_t n) {
  parse_ctx *p = calloc(1, sizeof *p);
  if (!p) {
    snprintf(msg, n, "out of memory");
    return -1;
  }
  cmd_config_default(c);
  snprintf(c->path, sizeof c->path, "%s", path ? path : "");
  p->c = c;
#ifdef CM_INIH_RUNTIME_OPTIONS
  ini_use_stack = false; /* a heap line buffer, LINE_MAX_BYTES long */
  ini_allow_realloc = true;
  ini_max_line = LINE_MAX_BYTES;
#endif
  int line =
      path ? ini_parse(path, on_entry, p) : ini_parse_string(text, on_entry, p);
  int rc = 0;
  if (line < 0) {
    snprintf(msg, n, "%s: cannot read the file", name);
    rc = -1;
  } else if (line > 0) {
    snprintf(msg, n, "%s:%d: %s", name, line,
             p->msg[0] ? p->msg : "not an INI line");
    rc = -1;
  }
  for (int i = 0; rc == 0 && i < p->n_raw; i++)
    if (!resolve_service(p, i)) {
      snprintf(msg, n, "%s: %s", name, p->msg);
      rc = -1;
    }
  cm_error err; /* what the engine will check at start, checked now */
  if (rc == 0 && cm_engine_config_check(&c->engine, &err) != CM_OK) {
    snprintf(msg, n, "%s: %s", name, err.message);
    rc = -1;
  }
  if (rc == 0 && c->auth) {
    int any = 0;
    for (int r = 0; r < CMD_ROLE_COUNT; r++)
      any += c->n_tokens[r];
    if (!any) {
      snprintf(msg, n,
               "%s: [tokens]: no token for any role; give tokens, or set "
               "[server] auth = off (only for a closed network)",
               name);
      rc = -1;
    }
  }
  free(p);
  return rc;
}

int cmd_config_load(const char *path, cmd_config *c, char *msg, size_t n) {
  return load(path, NULL, path, c, msg, n);
}

int cmd_config_parse(const char *text, const char *name, cmd_config *c,
                     char *msg, size_t n) {
  return load(NULL, text, name, c, msg, n);
}

const cmd_service *cmd_config_service(const cmd_config *c, const char *name) {
  for (int i = 0; i < c->n_services; i++)
    if (!strcmp(c->services[i].name, name))
      return &c->services[i];
  return NULL;
}
