/* config.c -- carematchd's configuration file (INI, read with inih):
 * server, store, batch policy, matching radii, weights, taxonomy, service
 * catalog, tokens and the trace. Strict: an unknown section or key, or a
 * value that does not parse or is out of range, fails the load; every
 * error is listed, each with its line, section and key. docs/daemon.md
 * lists every key. */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
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

void cmd_config_init(cmd_config *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->listen, sizeof c->listen, "127.0.0.1");
  c->port = 8080;
  c->max_body = 1L << 20;
  c->auth = 1;
  c->max_sse_clients = 64;
  c->sse_buffer_max = 4L << 20;
  snprintf(c->region, sizeof c->region, "default");
  snprintf(c->regions[0], sizeof c->regions[0], "default");
  c->n_regions = 1;
  snprintf(c->weights_file, sizeof c->weights_file, "carematchd-weights.json");
  c->sweep_ms = 10000;
  c->pause_retry_ms = 250;
  cm_ledger_redis_options_init(&c->ledger_opt);
  c->record_keep_ms = 7LL * 24 * 3600 * 1000; /* cm_ledger_redis_options */
  c->events_max = 100000;
  c->positions_durable = 1; /* positions_ack = durable (positions.c) */
  c->positions_pending_max = 20000;
  cm_engine_config_init(&c->engine);
  c->engine.begin_part_ms = 5; /* the loop serves between parts (solver.c) */
  /* finished requests remembered: each is about 3 KB of memory, so the
     engine's 100,000 would grow the daemon by some 300 MB; 10,000 is ~30 MB
     (docs/daemon.md, "Memory") */
  c->engine.history = 10000;
  c->lease.ttl_ms = 3000; /* [lease]: off; renewed every ttl / 3 (lease.c) */
}

/* ---- parsing ---- */

/* A value holds at most this many bytes; a longer one is refused, never
 * cut (a cut token list or number would be taken as another value). */
#define VALUE_MAX 2048
/* inih's line buffer (Debian's inih takes it at run time; elsewhere its
 * compile-time INI_MAX_LINE, 200, holds). */
#define LINE_MAX_BYTES (2 * VALUE_MAX)

/* Errors listed at most (then "... and N more"). */
#define ERRORS_MAX 32

typedef struct cfg_error {
  int line;       /* 0: not tied to a line */
  char text[240]; /* "[section] key: what is wrong" */
} cfg_error;

typedef struct parse_ctx {
  cmd_config *c;
  /* the text, read line by line by reader() (an fgets over it) */
  const char *text;
  size_t pos, len;
  int line;         /* the line being read (1-based; 0 before the first) */
  int line_done;    /* the last chunk read ended its line */
  size_t line_at;   /* where that line starts in text */
  int handled_line; /* the last line the handler was called for */
  int n_errors, more_errors;
  cfg_error errors[ERRORS_MAX];
  int taxonomy_set, taxonomy_bad;
  int n_raw; /* services, resolved once the taxonomy is known */
  char raw_name[CMD_SERVICES_MAX][CMD_NAME_MAX];
  char raw_value[CMD_SERVICES_MAX][VALUE_MAX];
  int raw_line[CMD_SERVICES_MAX];
} parse_ctx;

/* Record an error at line (0: none). */
static void add_error(parse_ctx *p, int line, const char *text) {
  if (p->n_errors == ERRORS_MAX) {
    p->more_errors++;
    return;
  }
  cfg_error *e = &p->errors[p->n_errors++];
  e->line = line;
  snprintf(e->text, sizeof e->text, "%.239s", text);
}

/* An error at the line being read. Returns 0 (inih's "error"). */
static int fail(parse_ctx *p, const char *section, const char *name,
                const char *what) {
  char text[240];
  snprintf(text, sizeof text, "[%.32s] %.48s: %.150s", section, name, what);
  add_error(p, p->line, text);
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

const char *cmd_config_regions(cmd_config *c, const char *v) {
  int n = 0;
  char list[CMD_REGIONS_MAX][CM_REDIS_REGION_MAX + 1];
  while (*v) {
    while (*v == ' ' || *v == ',')
      v++;
    size_t len = strcspn(v, ", ");
    if (!len)
      break;
    if (n == CMD_REGIONS_MAX)
      return "at most 64 regions";
    if (len > CM_REDIS_REGION_MAX || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                               "abcdefghijklmnopqrstuvwxyz"
                                               "0123456789_.-") < len)
      return "each region 1..64 characters of A-Z a-z 0-9 _ . -, "
             "comma-separated";
    snprintf(list[n], sizeof list[n], "%.*s", (int)len, v);
    for (int k = 0; k < n; k++)
      if (!strcmp(list[k], list[n]))
        return "a region is listed twice";
    n++;
    v += len;
  }
  if (n == 0)
    return "list one region at least (a,b,c)";
  memcpy(c->regions, list, sizeof list[0] * (size_t)n);
  c->n_regions = n;
  c->regions_listed = 1;
  snprintf(c->region, sizeof c->region, "%s", list[0]);
  return NULL;
}

static int store_key(parse_ctx *p, const char *name, const char *v) {
  cmd_config *c = p->c;
  long x;
  if (!strcmp(name, "redis")) {
    cm_redis_url u;
    cm_error err;
    if (strlen(v) >= sizeof c->redis_url)
      return fail(p, "store", name, "too long");
    if (*v && cm_redis_url_parse(v, &u, &err) != CM_OK)
      return fail(p, "store", name, err.message);
    cmd_wipe(&u, sizeof u);
    snprintf(c->redis_url, sizeof c->redis_url, "%s", v);
  } else if (!strcmp(name, "region")) {
    if (!*v || strlen(v) >= sizeof c->region)
      return fail(p, "store", name, "must be 1..64 characters");
    if (c->regions_listed)
      return fail(p, "store", name, "give region or regions, not both");
    snprintf(c->region, sizeof c->region, "%s", v);
    snprintf(c->regions[0], sizeof c->regions[0], "%s", v);
    c->n_regions = 1;
  } else if (!strcmp(name, "regions")) {
    const char *why = cmd_config_regions(c, v);
    if (why)
      return fail(p, "store", name, why);
  } else if (!strcmp(name, "weights_file")) {
    if (strlen(v) >= sizeof c->weights_file)
      return fail(p, "store", name, "too long");
    snprintf(c->weights_file, sizeof c->weights_file, "%s", v);
  } else if (!strcmp(name, "redis_password_file")) {
    if (strlen(v) >= sizeof c->redis_password_file)
      return fail(p, "store", name, "too long");
    snprintf(c->redis_password_file, sizeof c->redis_password_file, "%s", v);
  } else if (!strcmp(name, "record_keep_ms")) {
    if (parse_long(v, 0, 3650L * 86400000L, &x) != 0)
      return fail(p, "store", name,
                  "must be an integer in 0..315360000000 (0: for ever)");
    c->record_keep_ms = x;
  } else if (!strcmp(name, "events_max")) {
    if (parse_long(v, 1, 100000000, &x) != 0)
      return fail(p, "store", name, "must be an integer in 1..100000000");
    c->events_max = (int)x;
  } else if (!strcmp(name, "sweep_ms")) {
    if (parse_long(v, 0, 86400000, &x) != 0)
      return fail(p, "store", name, "must be an integer in 0..86400000");
    c->sweep_ms = (int)x;
  } else {
    return fail(p, "store", name, "unknown key");
  }
  return 1;
}

/* [store]'s durability keys (docs/redis.md, "Durability"; positions_ack:
 * "Positions: answered once queued"). Returns 1
 * taken, 0 refused (recorded), -1 not one of them. */
static int durability_key(parse_ctx *p, const char *name, const char *v) {
  cm_ledger_redis_options *o = &p->c->ledger_opt;
  long x;
  if (!strcmp(name, "durability")) {
    int d = cm_ledger_durability_parse(v);
    if (d < 0)
      return fail(p, "store", name, "must be fsync or replica");
    o->durability = (cm_ledger_durability)d;
  } else if (!strcmp(name, "durability_replicas")) {
    if (parse_long(v, 1, 64, &x) != 0)
      return fail(p, "store", name, "must be an integer in 1..64");
    o->replicas = (int)x;
  } else if (!strcmp(name, "durability_timeout_ms")) {
    /* below the Redis connection's 5,000 ms call timeout */
    if (parse_long(v, 1, 4999, &x) != 0)
      return fail(p, "store", name, "must be an integer in 1..4999");
    o->durability_timeout_ms = (int)x;
  } else if (!strcmp(name, "positions_ack")) {
    if (strcmp(v, "queued") && strcmp(v, "durable"))
      return fail(p, "store", name, "must be queued or durable");
    p->c->positions_durable = !strcmp(v, "durable");
  } else if (!strcmp(name, "positions_pending_max")) {
    if (parse_long(v, 0, 100000000, &x) != 0)
      return fail(p, "store", name, "must be an integer in 0..100000000");
    p->c->positions_pending_max = x;
  } else {
    return -1;
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
               {"stale_ms", &e->stale_ms, 0, 86400000},
               {"escalate_after_ms", &e->escalate_after_ms, 0, 604800000},
               /* standby suggestions (docs/engine.md "Standby") */
               {"standby_every_ms", &e->standby_every_ms, 0, 86400000},
               /* confirmation before dispatch: the soft hold */
               {"confirm_hold_ms", &e->confirm_hold_ms, 0, 86400000}};
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
  } else if (!strcmp(name, "divert_min")) { /* docs/engine.md "Diversion" */
    if (parse_double(v, 0, 240, &e->divert_min) != 0)
      return fail(p, "batch", name, "must be a number in 0..240");
  } else if (!strcmp(name, "interrupt_min")) { /* "Interruption" */
    if (parse_double(v, 0, 240, &e->interrupt_min) != 0)
      return fail(p, "batch", name, "must be a number in 0..240");
  } else if (!strcmp(name, "emergencies_alone")) { /* docs/engine.md */
    if (parse_bool(v, &e->emergencies_alone) != 0)
      return fail(p, "batch", name, "must be true or false");
  } else if (!strcmp(name, "divert_urgent")) { /* "Taking urgent work" */
    if (parse_long(v, 0, 1, &x) != 0)
      return fail(p, "batch", name, "must be 0 or 1");
    e->divert_urgent = (int)x;
  } else if (!strcmp(name, "solve_budget_ms")) {
    if (parse_double(v, 0, 60000, &d) != 0)
      return fail(p, "batch", name, "must be a number in 0..60000");
    e->solve_budget_ms = d;
  } else if (!strcmp(name, "begin_part_ms")) { /* docs/async.md */
    if (parse_double(v, 0, 10000, &d) != 0)
      return fail(p, "batch", name, "must be a number in 0..10000");
    e->begin_part_ms = d;
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
  if (!strcmp(name, "reserve_demand")) { /* docs/engine.md */
    if (parse_long(v, 0, 1, &x) != 0)
      return fail(p, "matching", name, "must be 0 or 1");
    e->reserve_demand = (int)x;
    return 1;
  }
  if (!strcmp(name, "lookahead_min")) /* docs/engine.md "Look-ahead" */
    return parse_double(v, 0, 240, &e->lookahead_min) == 0
               ? 1
               : fail(p, "matching", name, "must be a number in 0..240");
  if (!strcmp(name, "lookahead_upto")) { /* docs/engine.md "Look-ahead" */
    int u = cm_urgency_parse(v);
    if (u <= CM_URGENCY_EMERGENCY)
      return fail(p, "matching", name, "must be urgent, normal or scheduled");
    e->lookahead_upto = (cm_urgency)u;
    return 1;
  }
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
    double lo, hi; /* the engine's ranges (core/solver/validate.c) */
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

/* [weights]: every key of CM_WEIGHTS_TABLE, a number or (by urgency) a
 * list of four, in the table's range. */
static int weights_key(parse_ctx *p, const char *name, const char *v) {
  int n;
  const cm_weight_info *wi = cm_weights_info(&n);
  for (int i = 0; i < n; i++) {
    double *dst = cm_weight_values(&p->c->engine.weights, &wi[i]);
    char what[64];
    if (strcmp(name, wi[i].key))
      continue;
    if (wi[i].count > 1)
      return parse_urgency_list(v, wi[i].lo, wi[i].hi, dst) == 0
                 ? 1
                 : fail(p, "weights", name, ERR_LIST);
    snprintf(what, sizeof what, "must be a number in %s..%s", wi[i].lo_text,
             wi[i].hi_text);
    return parse_double(v, wi[i].lo, wi[i].hi, dst) == 0
               ? 1
               : fail(p, "weights", name, what);
  }
  return fail(p, "weights", name, "unknown key");
}

static int taxonomy_key(parse_ctx *p, const char *name, const char *v) {
  if (strcmp(name, "skills"))
    return fail(p, "taxonomy", name, "unknown key");
  cm_taxonomy *t = &p->c->engine.taxonomy;
  char buf[VALUE_MAX];
  snprintf(buf, sizeof buf, "%s", v);
  cm_taxonomy_clear(t);
  p->taxonomy_bad = 1; /* until it is read whole */
  for (char *save, *s = strtok_r(buf, ",", &save); s;
       s = strtok_r(NULL, ",", &save)) {
    cm_error err;
    if (cm_taxonomy_add(t, trim(s), NULL, &err) != CM_OK)
      return fail(p, "taxonomy", name, err.message);
  }
  if (t->count == 0)
    return fail(p, "taxonomy", name, "at least one skill");
  p->taxonomy_set = 1;
  p->taxonomy_bad = 0;
  return 1;
}

/* Whether tok may be added to role r: a token belongs to one role and one
 * name, so one given twice is refused (it would only ever act as the first
 * found). Returns 1, or 0 with what set. */
static int token_unique(const cmd_config *c, const char *tok, char *what,
                        size_t n) {
  for (int o = 0; o < CMD_ROLE_COUNT; o++)
    for (int k = 0; k < c->n_tokens[o]; k++)
      if (!strcmp(c->tokens[o][k], tok)) {
        if (c->token_names[o][k][0])
          snprintf(what, n, "a token is also given to the operator %s",
                   c->token_names[o][k]);
        else
          snprintf(what, n, "a token is also given for %s: one token, one role",
                   role_names[o]);
        return 0;
      }
  return 1;
}

/* A token's text: 16..127 printable characters. Returns NULL, or why not. */
static const char *token_check(const char *tok) {
  size_t n = strlen(tok);
  if (n < 16 || n >= CMD_TOKEN_MAX)
    return "a token must be 16..127 characters";
  for (size_t i = 0; i < n; i++)
    if (!isgraph((unsigned char)tok[i]))
      return "a token must be printable, no spaces";
  return NULL;
}

/* Appends tok (checked) to role r under name ("" unnamed). Returns 1, or
 * fails naming section and key. */
static int token_add(parse_ctx *p, const char *section, const char *key, int r,
                     const char *tok, const char *name) {
  cmd_config *c = p->c;
  const char *bad = token_check(tok);
  if (bad)
    return fail(p, section, key, bad);
  if (c->n_tokens[r] == CMD_TOKENS_MAX) {
    char what[64];
    snprintf(what, sizeof what, "at most %d tokens a role", CMD_TOKENS_MAX);
    return fail(p, section, key, what);
  }
  char what[128];
  if (!token_unique(c, tok, what, sizeof what))
    return fail(p, section, key, what);
  int k = c->n_tokens[r]++;
  /* NUL-padded: http.c compares every byte */
  memset(c->tokens[r][k], 0, CMD_TOKEN_MAX);
  memcpy(c->tokens[r][k], tok, strlen(tok));
  snprintf(c->token_names[r][k], CMD_NAME_MAX, "%s", name);
  return 1;
}

/* [tokens] role = tok, tok, ...: replaces the role's unnamed tokens (an
 * operator's named ones, [operators], stay). */
static int token_key(parse_ctx *p, const char *name, const char *v) {
  cmd_config *c = p->c;
  int r = -1;
  for (int i = 0; i < CMD_ROLE_COUNT; i++)
    if (!strcmp(name, role_names[i]))
      r = i;
  if (r < 0)
    return fail(p, "tokens", name, "unknown role");
  int kept = 0;
  for (int k = 0; k < c->n_tokens[r]; k++)
    if (c->token_names[r][k][0]) {
      memcpy(c->tokens[r][kept], c->tokens[r][k], CMD_TOKEN_MAX);
      memcpy(c->token_names[r][kept++], c->token_names[r][k], CMD_NAME_MAX);
    }
  c->n_tokens[r] = kept;
  char buf[VALUE_MAX];
  snprintf(buf, sizeof buf, "%s", v);
  for (char *save, *t = strtok_r(buf, ",", &save); t;
       t = strtok_r(NULL, ",", &save))
    if (!token_add(p, "tokens", name, r, trim(t), ""))
      return 0;
  return 1;
}

/* [operators] name = token: a named operator token. The name (letters,
 * digits, '.', '_', '-'; 1..47) is the actor of that operator's events,
 * the audit trail; the token acts as an operator token. */
static int operator_key(parse_ctx *p, const char *name, const char *v) {
  size_t n = strlen(name);
  int ok = n > 0 && n < CMD_NAME_MAX;
  for (size_t i = 0; ok && i < n; i++)
    ok = isalnum((unsigned char)name[i]) || strchr("._-", name[i]);
  if (!ok)
    return fail(p, "operators", name,
                "an operator's name is 1..47 letters, digits, '.', '_' or "
                "'-'");
  const cmd_config *c = p->c;
  for (int k = 0; k < c->n_tokens[CMD_ROLE_OPERATOR]; k++)
    if (!strcmp(c->token_names[CMD_ROLE_OPERATOR][k], name))
      return fail(p, "operators", name, "the operator is named twice");
  return token_add(p, "operators", name, CMD_ROLE_OPERATOR, v, name);
}

/* [trace]: the input trace (trace.c). The key is a secret: never echoed. */
static int trace_key(parse_ctx *p, const char *name, const char *v) {
  cmd_config *c = p->c;
  if (!strcmp(name, "file")) {
    if (strlen(v) >= sizeof c->trace_file)
      return fail(p, "trace", name, "too long");
    snprintf(c->trace_file, sizeof c->trace_file, "%s", v);
  } else if (!strcmp(name, "pseudonymise")) {
    if (parse_bool(v, &c->trace_pseudonymise) != 0)
      return fail(p, "trace", name, "must be on or off");
  } else if (!strcmp(name, "key")) {
    if (cmd_trace_key_check(v) != 0)
      return fail(p, "trace", name, CMD_TRACE_KEY_RULE);
    snprintf(c->trace_key, sizeof c->trace_key, "%s", v);
  } else {
    return fail(p, "trace", name, "unknown key");
  }
  return 1;
}

static int on_entry(void *user, const char *section, const char *name,
                    const char *value) {
  parse_ctx *p = user;
  char v[VALUE_MAX];
  p->handled_line = p->line;
  if (value && strlen(value) >= sizeof v)
    return fail(p, section, name, "the value is too long (2047 bytes at most)");
  snprintf(v, sizeof v, "%s", value ? value : "");
  const char *val = trim(v);
  if (!strcmp(section, "server"))
    return server_key(p, name, val);
  if (!strcmp(section, "store")) {
    int dk = durability_key(p, name, val); /* -1: not a durability key */
    return dk >= 0 ? dk : store_key(p, name, val);
  }
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
  if (!strcmp(section, "operators"))
    return operator_key(p, name, val);
  if (!strcmp(section, "services")) {
    if (p->n_raw == CMD_SERVICES_MAX)
      return fail(p, "services", name, "at most 64 services");
    if (strlen(name) >= CMD_NAME_MAX)
      return fail(p, "services", name, "name too long");
    snprintf(p->raw_name[p->n_raw], CMD_NAME_MAX, "%s", name);
    p->raw_line[p->n_raw] = p->line;
    snprintf(p->raw_value[p->n_raw++], VALUE_MAX, "%s", val);
    return 1;
  }
  if (!strcmp(section, "trace"))
    return trace_key(p, name, val);
  if (!strcmp(section, "lease")) { /* lease.c */
    const char *why = cmd_lease_config_key(&p->c->lease, name, val);
    return why ? fail(p, "lease", name, why) : 1;
  }
  if (!strcmp(section, "console")) { /* console.c */
    const char *why = cmd_console_config_key(p->c, name, val);
    return why ? fail(p, "console", name, why) : 1;
  }
  char text[128];
  snprintf(text, sizeof text, "[%.64s]: unknown section", section);
  add_error(p, p->line, text);
  return 0;
}

/* "nurse|caregiver" (any of), "nurse+escort" (all of), then an optional
 * "*N" for the staff. */
static int resolve_service(parse_ctx *p, int i) {
  cmd_service *s = &p->c->services[p->c->n_services];
  char buf[VALUE_MAX];
  p->line = p->raw_line[i];
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

/* The line just parsed, which the handler was not called for: blank, a
 * comment or a [section] (as inih reads them: a ']' before any inline
 * comment), or an error. */
static void check_skipped_line(parse_ctx *p) {
  const char *s = p->text + p->line_at;
  size_t n = p->pos - p->line_at;
  if (p->line == 1 && n >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
    s += 3, n -= 3; /* a UTF-8 byte order mark */
  while (n && isspace((unsigned char)s[0]))
    s++, n--;
  while (n && isspace((unsigned char)s[n - 1]))
    n--;
  if (!n || *s == ';' || *s == '#')
    return;
  if (*s == '[') {
    int was_space = 0;
    for (size_t i = 1; i < n; i++) {
      if (s[i] == ']')
        return;
      if (was_space && s[i] == ';')
        break;
      was_space = isspace((unsigned char)s[i]);
    }
    add_error(p, p->line, "a [section] line without its closing ]");
    return;
  }
  add_error(p, p->line,
            "not an INI line (key = value, [section] or ; comment)");
}

/* An fgets over p->text for inih (ini_parse_stream), counting lines. When
 * called for a new line, the last one has been parsed: a line the handler
 * was not called for must be blank, a comment or a [section], or it is an
 * error of its own (inih itself reports only the first one). */
static char *reader(char *str, int num, void *stream) {
  parse_ctx *p = stream;
  if (p->line_done && p->line > 0 && p->handled_line != p->line)
    check_skipped_line(p);
  if (p->pos >= p->len || num < 2) {
    p->line_done = 0;
    return NULL;
  }
  if (p->line_done || p->line == 0) {
    p->line++;
    p->line_at = p->pos;
  }
  size_t k = 0;
  while (p->pos < p->len && k < (size_t)num - 1) {
    char ch = p->text[p->pos++];
    str[k++] = ch;
    if (ch == '\n')
      break;
  }
  str[k] = '\0';
  p->line_done = str[k - 1] == '\n' || p->pos >= p->len;
  return str;
}

/* Sort by line (errors without one last), keeping the order within a line. */
static void sort_errors(parse_ctx *p) {
  for (int i = 1; i < p->n_errors; i++) {
    cfg_error e = p->errors[i];
    int key = e.line ? e.line : INT_MAX, j = i;
    while (j > 0 &&
           (p->errors[j - 1].line ? p->errors[j - 1].line : INT_MAX) > key) {
      p->errors[j] = p->errors[j - 1];
      j--;
    }
    p->errors[j] = e;
  }
}

/* Every error, one a line: "name:LINE: what" or "name: what". */
static void format_errors(parse_ctx *p, const char *name, char *msg, size_t n) {
  size_t len = 0;
  msg[0] = '\0';
  sort_errors(p);
  for (int i = 0; i < p->n_errors && len < n; i++) {
    const cfg_error *e = &p->errors[i];
    int w = e->line ? snprintf(msg + len, n - len, "%s%s:%d: %s", i ? "\n" : "",
                               name, e->line, e->text)
                    : snprintf(msg + len, n - len, "%s%s: %s", i ? "\n" : "",
                               name, e->text);
    len += w > 0 ? (size_t)w : 0;
  }
  if (p->more_errors && len < n)
    snprintf(msg + len, n - len, "\n%s: ... and %d more errors", name,
             p->more_errors);
}

/* Read the file at path into a NUL-terminated buffer (caller frees), at
 * most 1 MiB. Returns NULL with msg set. */
static char *slurp(const char *path, char *msg, size_t n) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t len = 0;
  if (!f) {
    snprintf(msg, n, "%s: cannot read the file: %s", path, strerror(errno));
    return NULL;
  }
  const size_t cap = (size_t)1 << 20;
  if (!(buf = malloc(cap + 1))) {
    snprintf(msg, n, "out of memory");
  } else {
    len = fread(buf, 1, cap + 1, f);
    if (ferror(f) || len > cap) {
      snprintf(msg, n, "%s: %s", path,
               len > cap ? "larger than 1 MiB" : "cannot read the file");
      free(buf);
      buf = NULL;
    } else {
      buf[len] = '\0';
    }
  }
  fclose(f);
  return buf;
}

/* The file at path, or (path NULL) the text, under name in messages. */
static int load(const char *path, const char *text, const char *name,
                cmd_config *c, char *msg, size_t n) {
  char *owned = NULL;
  if (path && !(text = owned = slurp(path, msg, n)))
    return -1;
  parse_ctx *p = calloc(1, sizeof *p);
  if (!p) {
    free(owned);
    snprintf(msg, n, "out of memory");
    return -1;
  }
  cmd_config_init(c);
  snprintf(c->path, sizeof c->path, "%s", path ? path : "");
  p->c = c;
  p->text = text;
  p->len = strlen(text);
#ifdef CM_INIH_RUNTIME_OPTIONS
  ini_use_stack = false; /* a heap line buffer, LINE_MAX_BYTES long */
  ini_allow_realloc = true;
  ini_max_line = LINE_MAX_BYTES;
#endif
  int line = ini_parse_stream(reader, p, on_entry, p);
  if (line == -2)
    add_error(p, 0, "out of memory");
  else if (line > 0 && !p->n_errors) /* a line inih refused, not ours */
    add_error(p, line, "not an INI line");
  if (!p->taxonomy_bad)
    for (int i = 0; i < p->n_raw; i++)
      resolve_service(p, i);
  cm_error err; /* what the engine will check at start, checked now */
  if (!p->n_errors && cm_engine_config_validate(&c->engine, &err) != CM_OK)
    add_error(p, 0, err.message);
  int rc = p->n_errors ? -1 : 0;
  if (rc)
    format_errors(p, name, msg, n);
  free(p);
  free(owned);
  return rc;
}

int cmd_config_check_auth(const cmd_config *c, char *msg, size_t n) {
  int any = 0;
  for (int r = 0; r < CMD_ROLE_COUNT; r++)
    any += c->n_tokens[r];
  if (c->auth && !any) {
    snprintf(msg, n,
             "no bearer tokens: give them in the [tokens] section of "
             "--config, or run with --no-auth ([server] auth = off) on a "
             "closed network");
    return -1;
  }
  return 0;
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
