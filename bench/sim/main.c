/* main.c -- carematch_sim: generate a day in a city, run one in process
 * under several policies and print the KPIs side by side, or drive a
 * running carematchd with it (docs/sim.md).
 *
 *   carematch_sim generate [--seed N] [--workers N] [--requests N] --out F
 *   carematch_sim run (SCENARIO.json | --trace T | --seed N ...)
 *                     [--policies LIST] [--floor]
 *                     [--out KPIS.json] [--quiet]
 *   carematch_sim days --seeds A-B [--kind K] [--workers N] [--requests N]
 *                     [--policies LIST] [--sla LIST] [--out POOLED.json]
 *   carematch_sim live (SCENARIO.json | --seed N ...) (--daemon PATH
 *                     [--redis URL] [--trace FILE] | --url URL [tokens])
 *                     [--rate X] [--from HH:MM] [--until HH:MM]
 *                     [--survive] [--acked FILE] [--id-prefix P]
 * --survive keeps a live run going while the daemon or Redis restarts
 * (scripts/chaos.sh); --acked writes every request id acknowledged;
 * --cancel-rest cancels what is not done at the end (scripts/soak.sh).
 * LIST: comma-separated, of optimal (the engine, 100 ms budget, with its
 * emergency reserve), greedy (the engine's greedy fallback: most urgent
 * first, nearest feasible; no reserve: the baseline), greedy-reserve and
 * optimal-noreserve (the same with the reserve switched), and
 * NAME=FILE.json: the engine under the weights of FILE ({"weights": {...}},
 * the daemon's PUT /v1/weights body) -- what a change of weights would do;
 * a NAME that is a built-in policy (switches too) runs that one under them.
 * --trace T: a day carematchd recorded (--trace), replayed (trace.c).
 * --kind normal|sparse|surge: the day's kind (scenario.h); --sla: the
 * service-level targets (stats.h); days: seeds A..B, each day run under
 * every policy, pooled, the ratios with bootstrap intervals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/json.h"
#include "carematch/version.h"
#include "cli_opt.h"
#include "live.h"
#include "sim.h"
#include "stats.h"

/* Exit codes (docs/cli.md): 0 done, 1 the run failed, 2 an input refused,
 * CM_EXIT_USAGE (64) a bad command line, 74 (EX_IOERR) --out not
 * written. */
#define EXIT_INPUT 2
#define EXIT_OUTPUT 74

static void bar(double done, void *ctx) {
  (void)ctx;
  int w = (int)(done * 40);
  fprintf(stderr, "\r  [%-40.*s] %3.0f%%", w,
          "########################################", done * 100);
  if (done >= 0.999)
    fprintf(stderr, "\n");
}

/* {"weights": {...}} from path onto *w (the daemon's PUT body). */
static int load_weights(const char *path, cm_weights *w) {
  FILE *f = fopen(path, "rb");
  char buf[65536];
  size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
  if (f)
    fclose(f);
  cm_error err;
  if (!f || cm_weights_from_json(buf, n, w, &err) != CM_OK) {
    fprintf(stderr, "carematch_sim: %s: %s\n", path,
            f ? err.message : "cannot read it");
    return -1;
  }
  return 0;
}

#define SYNOPSIS                                                               \
  "usage: carematch_sim generate ([--seed N] [--workers N] [--requests N]\n"   \
  "                              | --trace T) --out FILE\n"                    \
  "       carematch_sim run (FILE | --trace T | [--seed N] [--workers N]\n"    \
  "                         [--requests N]) [--policies LIST] [--floor]\n"     \
  "                         [--kind K] [--sla LIST] [--out FILE] [--quiet]\n"  \
  "       carematch_sim days --seeds A-B [--kind K] [--workers N]\n"           \
  "                          [--requests N] [--policies LIST] [--sla LIST]\n"  \
  "                          [--out FILE] [--quiet]\n"                         \
  "       carematch_sim live (FILE | [--seed N] ...) (--daemon PATH\n"         \
  "                          [--redis URL] [--trace FILE] | --url URL\n"       \
  "                          [--platform-token T --gateway-token T\n"          \
  "                          --operator-token T]) [--rate X] [--from HH:MM]\n" \
  "                          [--until HH:MM] [--drain-min N] [--out FILE]\n"   \
  "                          [--quiet] [--survive] [--acked FILE]\n"           \
  "                          [--id-prefix P] [--cancel-rest]\n"                \
  "       carematch_sim --help | --version\n"

/* --help's part on live mode and the exit status. */
static void help_live(void) {
  fputs("live:\n"
        "  --daemon PATH         start this carematchd (memory store, or "
        "--redis URL)\n"
        "  --redis URL           redis://host:port for the daemon started\n"
        "  --trace FILE          the daemon started records its input there\n"
        "  --url URL             or drive a running one, http://HOST:PORT, "
        "with its\n"
        "  --platform-token T, --gateway-token T, --operator-token T\n"
        "  --rate X              simulated time per real time (0.01..10000; "
        "60)\n"
        "  --from HH:MM, --until HH:MM  the requests of that window "
        "(00:00..24:00)\n"
        "  --drain-min N         then wait up to N minutes for jobs to end "
        "(0..1440; 120)\n"
        "  --survive             keep going while the daemon or Redis "
        "restarts\n"
        "  --acked FILE          write every request id acknowledged\n"
        "  --id-prefix P         prefix every request id\n"
        "  --cancel-rest         at the end, cancel what is not done\n"
        "  -h, --help            this text, exit 0\n"
        "  -V, --version         the version, exit 0\n"
        "\n"
        "exit status: 0 done, 1 the run failed, 2 an input (scenario, trace, "
        "weights)\n"
        "refused, 64 bad command line, 74 --out not written.\n",
        stdout);
}

static void help(void) {
  fputs(
      SYNOPSIS
      "\n"
      "generate  write a day (a scenario, JSON) to --out\n"
      "run       run a day in process under each policy; the KPIs side by "
      "side\n"
      "days      run the days of seeds A..B under each policy, pooled, with\n"
      "          bootstrap intervals for every ratio\n"
      "live      drive a carematchd over HTTP with the day (docs/sim.md)\n"
      "\n"
      "the day:\n"
      "  FILE                  a scenario written by generate\n"
      "  --seed N              generate it from seed N (0..2^64-1; 1)\n"
      "  --workers N           staff (1..1000000; 1200)\n"
      "  --requests N          requests (1..10000000; 6000)\n"
      "  --kind K              normal, sparse (a county: few staff, wide "
      "area) or\n"
      "                        surge (twice the requests); normal\n"
      "  --seeds A-B           (days) the days of seeds A to B (at most "
      "1000)\n"
      "  --trace T             (generate, run) a day carematchd recorded "
      "with --trace\n"
      "run and live:\n"
      "  --policies LIST       comma-separated: optimal, greedy, "
      "greedy-reserve,\n"
      "                        optimal-noreserve, NAME=WEIGHTS.json (NAME a\n"
      "                        policy above: it, under the weights); at "
      "most 8;\n"
      "                        switches: +look, +nolook (look-ahead; greedy "
      "runs\n"
      "                        without it), +standby, +history (7 days "
      "taught),\n"
      "                        +divert, +nodivert (diversion on / off),\n"
      "                        +interrupt, +nointerrupt (interruption on / "
      "off),\n"
      "                        +urgent (urgent work may take the reserve),\n"
      "                        +take (diversion and interruption may "
      "take\n"
      "                        urgent work to save an emergency's breach),\n"
      "                        +ahead (every one-worker request looks ahead,\n"
      "                        30 min), +joint (an emergency's batch takes\n"
      "                        the waiting work along, as before 2026-12-06)\n"
      "                        (default optimal,greedy-reserve,greedy; live: "
      "greedy\n"
      "                        beside it, 3)\n"
      "  --sla LIST            service-level targets, minutes to arrival: "
      "e.g.\n"
      "                        emergency=15,urgent=60,normal=120,scheduled=15 "
      "(the\n"
      "                        defaults; scheduled: after the slot)\n"
      "  --floor               compute the hindsight floors (slow on a big "
      "day)\n"
      "  --out FILE            the KPIs as JSON (generate: the scenario)\n"
      "  --quiet               no progress\n",
      stdout);
  help_live();
}

/* A usage error: the message, the synopsis, exit 64. */
static int usage_error(const char *msg) {
  fprintf(stderr,
          "carematch_sim: %s\n" SYNOPSIS
          "carematch_sim --help lists every option\n",
          msg);
  return CM_EXIT_USAGE;
}

enum {
  OPT_SEED = 256,
  OPT_WORKERS,
  OPT_REQUESTS,
  OPT_KIND,
  OPT_SEEDS,
  OPT_OUT,
  OPT_POLICIES,
  OPT_QUIET,
  OPT_TRACE,
  OPT_SLA,
  OPT_FLOOR,
  OPT_DAEMON,
  OPT_SURVIVE,
  OPT_CANCEL_REST,
  OPT_ACKED,
  OPT_ID_PREFIX,
  OPT_URL,
  OPT_REDIS,
  OPT_TOK_PLATFORM,
  OPT_TOK_GATEWAY,
  OPT_TOK_OPERATOR,
  OPT_RATE,
  OPT_FROM,
  OPT_UNTIL,
  OPT_DRAIN_MIN
};

/* The options, in the order of the enum: the day's (OPT_SEED..OPT_REQUESTS),
 * those of every command (OPT_OUT..OPT_FLOOR), live's (OPT_DAEMON..). */
static const struct option sim_options[] = {
    {"seed", required_argument, NULL, OPT_SEED},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"requests", required_argument, NULL, OPT_REQUESTS},
    {"kind", required_argument, NULL, OPT_KIND},
    {"seeds", required_argument, NULL, OPT_SEEDS},
    {"out", required_argument, NULL, OPT_OUT},
    {"policies", required_argument, NULL, OPT_POLICIES},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"trace", required_argument, NULL, OPT_TRACE},
    {"sla", required_argument, NULL, OPT_SLA},
    {"floor", no_argument, NULL, OPT_FLOOR},
    {"daemon", required_argument, NULL, OPT_DAEMON},
    {"survive", no_argument, NULL, OPT_SURVIVE},
    {"cancel-rest", no_argument, NULL, OPT_CANCEL_REST},
    {"acked", required_argument, NULL, OPT_ACKED},
    {"id-prefix", required_argument, NULL, OPT_ID_PREFIX},
    {"url", required_argument, NULL, OPT_URL},
    {"redis", required_argument, NULL, OPT_REDIS},
    {"platform-token", required_argument, NULL, OPT_TOK_PLATFORM},
    {"gateway-token", required_argument, NULL, OPT_TOK_GATEWAY},
    {"operator-token", required_argument, NULL, OPT_TOK_OPERATOR},
    {"rate", required_argument, NULL, OPT_RATE},
    {"from", required_argument, NULL, OPT_FROM},
    {"until", required_argument, NULL, OPT_UNTIL},
    {"drain-min", required_argument, NULL, OPT_DRAIN_MIN},
    {NULL, 0, NULL, 0}};

/* The command line, parsed. */
typedef struct args {
  int gen, is_live;     /* the command: generate, live (else run) */
  int is_days;          /* the command: days */
  sim_spec spec;        /* the day to generate (--seed, --workers, ...) */
  sim_live_opts lo;     /* live's options */
  const char *out;      /* --out FILE, NULL: none */
  const char *file;     /* the scenario FILE, NULL: none */
  const char *policies; /* --policies LIST (default optimal,greedy) */
  const char *trace;    /* run, generate: --trace T, the day to replay */
  int quiet, floors;    /* --quiet, --floor */
  int policies_given;   /* --policies was given */
  int spec_given;       /* --seed, --workers or --requests was given */
  const char *kind;     /* --kind (normal) */
  int kind_given;       /* --kind was given */
  uint64_t seed_first, seed_last; /* days: --seeds A-B */
  int seeds_given;                /* --seeds was given */
  sim_sla sla;                    /* --sla onto the defaults */
} args;

/* HH:MM (00:00..24:00) into ms after midnight. Returns 0 or -1 (msg). */
static int parse_hhmm(const char *flag, const char *v, int64_t *ms, char *msg,
                      size_t n) {
  int hh, mm, used = 0;
  if (sscanf(v, "%2d:%2d%n", &hh, &mm, &used) != 2 || v[used] || hh < 0 ||
      hh > 24 || mm < 0 || mm > 59 || hh * 60 + mm > 1440) {
    snprintf(msg, n, "%s: '%.32s' is not HH:MM in 00:00..24:00", flag, v);
    return -1;
  }
  *ms = ((int64_t)hh * 60 + mm) * 60000;
  return 0;
}

/* Options that belong to live only. */
static int live_only(int c) {
  return c >= OPT_DAEMON && c <= OPT_DRAIN_MIN;
}

/* Days of emergencies a "+history" policy's engine is taught first. */
#define HISTORY_DAYS 7

/* Policies run in process in one command, at most. */
#define MAX_RUNS 8

/* A built-in policy: a base name and modifiers, each "+look" (the
 * engine's look-ahead on), "+nolook" (off), "+standby" (standby
 * suggestions, followed by idle staff), "+divert" / "+nodivert" (diversion
 * on at CM_SIM_DIVERT_MIN / off; otherwise the engine's default),
 * "+interrupt" / "+nointerrupt" (interruption on at CM_SIM_INTERRUPT_MIN /
 * off), "+urgent" (urgent work may take the reserve: reserve_from normal),
 * "+take" (diversion and interruption may take urgent work for an
 * emergency that would otherwise breach: divert_urgent), "+ahead" (every
 * one-worker request looks ahead: lookahead_upto scheduled, within
 * CM_SIM_AHEAD_MIN; implies "+look"), "+joint" (an emergency's batch takes
 * the waiting work along: the engine's emergencies_alone 0) or
 * "+history" (the engine is first
 * taught the emergencies of HISTORY_DAYS other days on the same map, as
 * a daemon running for a week knows them; a generated day only). The base: 0
 * optimal, 1 greedy, 2 greedy-reserve, 3 optimal-noreserve; -1 when t is not
 * one. Fills *p's switches when p is given (after sim_policy_init). The greedy
 * baselines run without the look-ahead unless "+look": a simple dispatcher does
 * not know how long jobs take. */
static int policy_base(const char *t, sim_policy *p) {
  static const char *const bases[] = {"optimal", "greedy", "greedy-reserve",
                                      "optimal-noreserve"};
  size_t len = strcspn(t, "+");
  int base = -1, look = -1, standby = 0, history = 0, divert = 0;
  int interrupt = 0, urgent = 0, take_urgent = 0, ahead = 0, joint = 0;
  for (int i = 0; i < 4; i++)
    if (strlen(bases[i]) == len && !strncmp(t, bases[i], len))
      base = i;
  for (const char *m = t + len; base >= 0 && *m == '+';) {
    size_t ml = strcspn(m + 1, "+");
    if (ml == 4 && !strncmp(m + 1, "look", 4))
      look = 1;
    else if (ml == 6 && !strncmp(m + 1, "nolook", 6))
      look = 0;
    else if (ml == 7 && !strncmp(m + 1, "standby", 7))
      standby = 1;
    else if (ml == 7 && !strncmp(m + 1, "history", 7))
      history = HISTORY_DAYS;
    else if (ml == 6 && !strncmp(m + 1, "divert", 6))
      divert = 1;
    else if (ml == 8 && !strncmp(m + 1, "nodivert", 8))
      divert = -1;
    else if (ml == 9 && !strncmp(m + 1, "interrupt", 9))
      interrupt = 1;
    else if (ml == 11 && !strncmp(m + 1, "nointerrupt", 11))
      interrupt = -1;
    else if (ml == 6 && !strncmp(m + 1, "urgent", 6))
      urgent = 1;
    else if (ml == 4 && !strncmp(m + 1, "take", 4))
      take_urgent = 1;
    else if (ml == 5 && !strncmp(m + 1, "ahead", 5))
      ahead = look = 1;
    else if (ml == 5 && !strncmp(m + 1, "joint", 5))
      joint = 1;
    else
      return -1;
    m += 1 + ml;
  }
  if (base >= 0 && p) {
    if (look < 0) /* the defaults: optimal looks ahead, greedy does not */
      look = base == 1 || base == 2 ? 0 : 1;
    p->no_reserve = base == 1 || base == 3;
    p->no_lookahead = !look;
    p->standby = standby;
    p->history = history;
    p->divert = divert;
    p->interrupt = interrupt;
    p->reserve_normal = urgent;
    p->divert_urgent = take_urgent;
    p->lookahead_all = ahead;
    p->joint = joint;
  }
  return base;
}

/* The label of policy t (NAME or NAME=FILE) into out: t itself, NAME
 * for a what-if whose NAME is not a built-in policy, and NAME=BASE (FILE's
 * last part) for a built-in policy under weights, so it differs from the
 * policy's own run. Never longer than t. */
static void policy_label(const char *t, char *out, size_t n) {
  const char *eq = strchr(t, '=');
  snprintf(out, n, "%.*s", eq ? (int)(eq - t) : (int)strlen(t), t);
  if (!eq || policy_base(out, NULL) < 0)
    return;
  const char *slash = strrchr(eq + 1, '/');
  size_t at = strlen(out);
  snprintf(out + at, n - at, "=%s", slash ? slash + 1 : eq + 1);
}

/* The NAME=FILE entry t: NAME is not empty, under 64 bytes, and a
 * built-in policy when it has switches ('+'); FILE is named. Returns 0 or
 * -1 (msg). */
static int check_what_if(const char *t, const char *eq, char *msg, size_t n) {
  char name[64];
  if (eq == t || !eq[1])
    return snprintf(msg, n,
                    "--policies: unknown policy '%.40s' (optimal, greedy, "
                    "greedy-reserve, optimal-noreserve, NAME=WEIGHTS.json)",
                    t),
           -1;
  if (eq - t >= 64)
    return snprintf(msg, n, "--policies: the name '%.60s' is longer than 63",
                    t),
           -1;
  snprintf(name, sizeof name, "%.*s", (int)(eq - t), t);
  if (strchr(name, '+') && policy_base(name, NULL) < 0)
    return snprintf(msg, n,
                    "--policies: unknown policy '%.40s' before '=' (a "
                    "built-in policy and its switches, or a name without "
                    "'+')",
                    name),
           -1;
  return 0;
}

/* The policies of LIST: known names or NAME=FILE, at most max, no label
 * twice. Returns 0 or -1 (msg). */
static int check_policies(const char *list, int max, char *msg, size_t n) {
  char buf[512], labels[8][64];
  int count = 0;
  if (strlen(list) >= sizeof buf)
    return snprintf(msg, n, "--policies: the list is too long"), -1;
  snprintf(buf, sizeof buf, "%s", list);
  for (char *save, *t = strtok_r(buf, ",", &save); t;
       t = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(t, '=');
    if (!eq && strlen(t) >= 64)
      return snprintf(msg, n, "--policies: the name '%.60s' is longer than 63",
                      t),
             -1;
    if (!eq && policy_base(t, NULL) < 0)
      return snprintf(msg, n,
                      "--policies: unknown policy '%.24s' (optimal, greedy, "
                      "greedy-reserve, optimal-noreserve, each with "
                      "+look, +nolook, +standby, +history, +divert, +nodivert, "
                      "+interrupt, +nointerrupt, +urgent, +take, +ahead; "
                      "NAME=WEIGHTS.json)",
                      t),
             -1;
    if (eq && check_what_if(t, eq, msg, n) != 0)
      return -1;
    char label[64];
    policy_label(t, label, sizeof label);
    for (int i = 0; i < count && i < 8; i++)
      if (!strcmp(labels[i], label))
        return snprintf(msg, n, "--policies: '%.60s' given twice", label), -1;
    if (count < 8)
      snprintf(labels[count], sizeof labels[count], "%s", label);
    count++;
  }
  if (count == 0 || count > max)
    return snprintf(msg, n, "--policies: 1 to %d policies", max), -1;
  return 0;
}

/* --seeds A-B (or A) into a: at most 1000 days. Returns 0 or -1 (msg). */
static int parse_seeds(const char *v, args *a, char *msg, size_t n) {
  char first[32];
  const char *dash = strchr(v, '-');
  size_t len = dash ? (size_t)(dash - v) : strlen(v);
  snprintf(first, sizeof first, "%.*s", (int)(len < 31 ? len : 31), v);
  if (cm_opt_u64("--seeds", first, &a->seed_first, msg, n) ||
      cm_opt_u64("--seeds", dash ? dash + 1 : first, &a->seed_last, msg, n))
    return -1;
  if (a->seed_last < a->seed_first || a->seed_last - a->seed_first >= 1000) {
    snprintf(msg, n,
             "--seeds: '%.40s' is not A-B with A <= B, 1000 days at "
             "most",
             v);
    return -1;
  }
  a->seeds_given = 1;
  return 0;
}

/* The day's options (--seed, --workers, --requests, --kind, --seeds) into
 * a. Returns 0 or -1 (msg). */
static int day_option(int c, const char *v, args *a, char *msg, size_t n) {
  long long x;
  if (c == OPT_KIND) {
    sim_spec probe;
    sim_spec_init(&probe);
    if (sim_spec_kind(&probe, v) != 0) {
      snprintf(msg, n, "--kind: unknown kind '%.40s' (normal, sparse, surge)",
               v);
      return -1;
    }
    a->kind = v;
    a->kind_given = 1;
    return 0;
  }
  if (c == OPT_SEEDS)
    return parse_seeds(v, a, msg, n);
  if (c == OPT_SEED) {
    if (cm_opt_u64("--seed", v, &a->spec.seed, msg, n))
      return -1;
  } else {
    int workers = c == OPT_WORKERS;
    if (cm_opt_int(workers ? "--workers" : "--requests", v, 1,
                   workers ? 1000000 : 10000000, &x, msg, n))
      return -1;
    *(workers ? &a->spec.workers : &a->spec.requests) = (int)x;
  }
  a->spec_given = 1;
  return 0;
}

/* The options of every command (--out .. --floor) into a. */
static void common_option(int c, const char *v, args *a) {
  switch (c) {
  case OPT_OUT:
    a->out = v;
    break;
  case OPT_POLICIES:
    a->policies = v;
    a->policies_given = 1;
    break;
  case OPT_QUIET:
    a->quiet = a->lo.quiet = 1;
    break;
  case OPT_TRACE: /* live: the daemon's; else the day to replay */
    *(a->is_live ? &a->lo.trace : &a->trace) = v;
    break;
  default: /* OPT_FLOOR */
    a->floors = a->lo.floors = 1;
    break;
  }
}

/* Live's options (--daemon .. --drain-min) into lo. Returns 0 or -1 (msg). */
static int live_option(int c, const char *v, sim_live_opts *lo, char *msg,
                       size_t n) {
  double d;
  switch (c) {
  case OPT_DAEMON:
    lo->daemon = v;
    break;
  case OPT_SURVIVE:
    lo->survive = 1;
    break;
  case OPT_CANCEL_REST:
    lo->cancel_rest = 1;
    break;
  case OPT_ACKED:
    lo->acked = v;
    break;
  case OPT_ID_PREFIX:
    lo->id_prefix = v;
    break;
  case OPT_URL:
    lo->url = v;
    break;
  case OPT_REDIS:
    lo->redis = v;
    break;
  case OPT_TOK_PLATFORM:
    lo->tok_platform = v;
    break;
  case OPT_TOK_GATEWAY:
    lo->tok_gateway = v;
    break;
  case OPT_TOK_OPERATOR:
    lo->tok_operator = v;
    break;
  case OPT_RATE:
    return cm_opt_double("--rate", v, 0.01, 10000, &lo->rate, msg, n) ? -1 : 0;
  case OPT_FROM:
  case OPT_UNTIL:
    return parse_hhmm(c == OPT_FROM ? "--from" : "--until", v,
                      c == OPT_FROM ? &lo->from_ms : &lo->until_ms, msg, n);
  default: /* OPT_DRAIN_MIN */
    if (cm_opt_double("--drain-min", v, 0, 1440, &d, msg, n))
      return -1;
    lo->drain_ms = (int64_t)(d * 60000);
    break;
  }
  return 0;
}

/* One option getopt_long returned (c, its value v) into a. Returns 0 or -1
 * (msg). */
static int take_option(int c, const char *v, char **argv, args *a, char *msg,
                       size_t n) {
  if (live_only(c) && !a->is_live) {
    const struct option *o = sim_options;
    while (o->name && o->val != c)
      o++;
    snprintf(msg, n, "--%s is for live only", o->name);
    return -1;
  }
  if (c >= OPT_SEED && c <= OPT_SEEDS)
    return day_option(c, v, a, msg, n);
  if (c == OPT_SLA)
    return sim_sla_parse(v, &a->sla, msg, n);
  if (c >= OPT_OUT && c <= OPT_FLOOR) {
    common_option(c, v, a);
    return 0;
  }
  if (live_only(c))
    return live_option(c, v, &a->lo, msg, n);
  cm_opt_error(msg, n, c, argv, sim_options);
  return -1;
}

/* The options that must go together or not at all, once all are read.
 * Returns 0 or -1 (msg). */
static int check_combination(const args *a, char *msg, size_t n) {
  const sim_live_opts *lo = &a->lo;
  int sources = !!a->file + !!a->trace + a->spec_given;
  if (sources > 1) {
    snprintf(msg, n, "give the day once: a FILE, --trace T, or --seed N ...");
    return -1;
  }
  if (a->seeds_given != a->is_days) {
    snprintf(msg, n, "%s",
             a->is_days ? "days needs --seeds A-B" : "--seeds is for days");
    return -1;
  }
  if (a->is_days && (a->file || a->trace)) {
    snprintf(msg, n, "days generates its days: no FILE, no --trace");
    return -1;
  }
  if (a->kind_given && (a->file || a->trace)) {
    snprintf(msg, n, "--kind is for a generated day, not a FILE or --trace");
    return -1;
  }
  if (a->gen && !a->out) {
    snprintf(msg, n, "generate needs --out FILE");
    return -1;
  }
  if (a->gen && a->policies_given) {
    snprintf(msg, n, "--policies is for run and live");
    return -1;
  }
  if (a->is_live && !lo->daemon == !lo->url) {
    snprintf(msg, n, "live needs --daemon PATH or --url URL (one of them)");
    return -1;
  }
  if (a->is_live && lo->from_ms >= lo->until_ms) {
    snprintf(msg, n, "--from must come before --until");
    return -1;
  }
  if (!a->gen && a->policies_given &&
      check_policies(a->policies, a->is_live ? 3 : MAX_RUNS, msg, n))
    return -1;
  return 0;
}

/* argv after the command into a. Returns 0, or -1 with msg. */
static int parse_args(int argc, char **argv, args *a, char *msg, size_t n) {
  int c;
  opterr = 0;
  optind = 0;
  while ((c = getopt_long(argc, argv, ":", sim_options, NULL)) != -1)
    if (take_option(c, optarg, argv, a, msg, n))
      return -1;
  for (; optind < argc; optind++) { /* the scenario FILE */
    if (a->file || a->gen) {
      snprintf(msg, n, "unexpected argument '%.64s'", argv[optind]);
      return -1;
    }
    a->file = argv[optind];
  }
  return check_combination(a, msg, n);
}

/* --help, -h among the command's arguments (before "--"). */
static int asks_help(int argc, char **argv) {
  for (int i = 2; i < argc && strcmp(argv[i], "--"); i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
      return 1;
  return 0;
}

/* The command line into a, its defaults first. Returns -1 to go on, or
 * the exit status when there is nothing to run: 0 after --help or
 * --version, CM_EXIT_USAGE after a usage error (printed). */
static int parse_command_line(int argc, char **argv, args *a) {
  char msg[256];
  memset(a, 0, sizeof *a);
  sim_live_init(&a->lo);
  sim_spec_init(&a->spec);
  a->policies = "optimal,greedy-reserve,greedy";
  a->kind = "normal";
  sim_sla_init(&a->sla);
  if (argc < 2)
    return usage_error("no command given");
  if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    help();
    return 0;
  }
  if (argc == 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))) {
    printf("carematch_sim %s\n", CM_VERSION);
    return 0;
  }
  a->gen = !strcmp(argv[1], "generate");
  a->is_live = !strcmp(argv[1], "live");
  a->is_days = !strcmp(argv[1], "days");
  if (!a->gen && !a->is_live && !a->is_days && strcmp(argv[1], "run")) {
    snprintf(msg, sizeof msg, "unknown command '%.64s'", argv[1]);
    return usage_error(msg);
  }
  if (asks_help(argc, argv)) {
    help();
    return 0;
  }
  if (parse_args(argc - 1, argv + 1, a, msg, sizeof msg) != 0)
    return usage_error(msg);
  sim_spec_kind(&a->spec, a->kind); /* checked when parsed */
  return -1;
}

/* The day: a recorded trace, a scenario file or one generated from the
 * spec. Returns it (sim_scenario_free), or NULL with msg. */
static sim_scenario *day_load(const args *a, char *msg, size_t n) {
  return a->trace  ? sim_scenario_from_trace(a->trace, msg, n)
         : a->file ? sim_scenario_load(a->file, msg, n)
                   : sim_scenario_generate(&a->spec, msg, n);
}

/* generate: the day to --out. Returns the exit status. */
static int day_save(const args *a, const sim_scenario *s) {
  int rc = sim_scenario_save(s, a->out);
  if (rc != 0)
    fprintf(stderr, "carematch_sim: --out: cannot write %s\n", a->out);
  else
    printf("scenario: %d staff, %d requests, seed %llu -> %s\n", s->n_workers,
           s->n_requests, (unsigned long long)s->seed, a->out);
  return rc ? EXIT_OUTPUT : 0;
}

/* live: the day through carematchd into *k. Returns 0, or 1 with a message
 * on stderr. */
static int live_run(const args *a, const sim_scenario *s, sim_kpis *k) {
  const sim_live_opts *lo = &a->lo;
  char msg[256];
  if (!a->quiet)
    fprintf(stderr,
            "live: %d staff, %d requests, %02d:%02d to %02d:%02d at %g "
            "times real time, %s\n",
            s->n_workers, s->n_requests, (int)(lo->from_ms / 3600000),
            (int)(lo->from_ms / 60000 % 60), (int)(lo->until_ms / 3600000),
            (int)(lo->until_ms / 60000 % 60), lo->rate,
            lo->url     ? lo->url
            : lo->redis ? "carematchd on Redis"
                        : "carematchd on its embedded store");
  if (sim_live(s, lo, k, msg, sizeof msg) != 0) {
    fprintf(stderr, "carematch_sim: %s\n", msg);
    return 1;
  }
  return 0;
}

/* The policy named t (t is cut at '=' for NAME=FILE) into *p, with the
 * command's floors and live's window. Returns 0, or EXIT_INPUT when the
 * weights file is refused (message on stderr). */
static int policy_make(char *t, const args *a, sim_policy *p) {
  char *eq = strchr(t, '='), label[512];
  policy_label(t, label, sizeof label);
  if (eq)
    *eq = '\0';
  int base = policy_base(t, NULL);
  /* greedy: budget 0, the solver's greedy fallback; a NAME that is no
     policy is optimal's engine with the weights */
  sim_policy_init(p, t, base == 1 || base == 2 ? 0 : 100);
  if (base >= 0)
    policy_base(t, p);
  if (eq && load_weights(eq + 1, &p->weights) != 0)
    return EXIT_INPUT; /* what-if: NAME=weights.json, the engine with those */
  memcpy(t, label, strlen(label) + 1); /* p->name: no longer than t */
  p->floors = a->floors;
  if (a->is_live) { /* the live run's window, in process */
    p->from_ms = a->lo.from_ms;
    p->until_ms = a->lo.until_ms;
    p->drain_ms = a->lo.drain_ms;
  }
  return 0;
}

/* The history of a "+history" policy: HISTORY_DAYS days on the day's map
 * and staff with other requests (another stream of spec's seed), as one
 * scenario; NULL with msg. */
static sim_scenario *history_make(const sim_spec *spec, char *msg, size_t n) {
  sim_spec h = *spec;
  h.request_tag = 100; /* not the day's (2) */
  h.requests *= HISTORY_DAYS;
  return sim_scenario_generate(&h, msg, n);
}

/* Each policy of the list in process, KPIs appended to k[*nk..3]; spec
 * generated s (NULL: a file or a trace, then "+history" is refused).
 * Returns 0, 1 (a run failed) or EXIT_INPUT (a weights file refused, a
 * history without a spec); messages on stderr. */
static int policies_run(const args *a, const char *policies,
                        const sim_scenario *s, const sim_spec *spec,
                        sim_kpis *k, int *nk) {
  char list[512], msg[256];
  snprintf(list, sizeof list, "%s", policies);
  for (char *save, *t = strtok_r(list, ",", &save); t && *nk < MAX_RUNS;
       t = strtok_r(NULL, ",", &save)) {
    sim_policy p;
    if (policy_make(t, a, &p) != 0)
      return EXIT_INPUT;
    sim_scenario *hist = NULL;
    if (p.history && !spec) {
      fprintf(stderr, "carematch_sim: --policies: +history needs a generated "
                      "day (--seed), not a file or a trace\n");
      return EXIT_INPUT;
    }
    if (p.history && !(hist = history_make(spec, msg, sizeof msg))) {
      fprintf(stderr, "carematch_sim: %s\n", msg);
      return 1;
    }
    p.history_day = hist;
    if (!a->quiet)
      fprintf(stderr, "%s: %d staff, %d requests\n", p.name, s->n_workers,
              s->n_requests);
    int rc =
        sim_run(s, &p, &k[*nk], a->quiet ? NULL : bar, NULL, msg, sizeof msg);
    sim_scenario_free(hist);
    if (rc != 0) {
      fprintf(stderr, "carematch_sim: %s\n", msg);
      return 1;
    }
    (*nk)++;
  }
  return 0;
}

/* The KPIs side by side, the honest ones of each run, and every ratio of
 * two runs with its interval. */
static void kpis_print(const sim_kpis *k, int nk, const sim_sla *sla) {
  const sim_kpis *ptr[MAX_RUNS];
  sim_report_table(k, nk);
  for (int i = 0; i < nk && i < MAX_RUNS; i++)
    ptr[i] = &k[i];
  sim_report_pooled(ptr, 1, nk < MAX_RUNS ? nk : MAX_RUNS, sla);
  if (nk > 1)
    sim_report_compare(ptr, 1, nk < MAX_RUNS ? nk : MAX_RUNS, sla);
}

/* run and live: the live run (live), the policies in process, the table
 * and --out. Returns the exit status. */
static int day_run(const args *a, const sim_scenario *s) {
  sim_kpis k[MAX_RUNS];
  int nk = 0, rc = 0;
  const char *policies = a->policies;
  if (a->is_live) {
    rc = live_run(a, s, &k[0]);
    nk = rc == 0;
    /* beside it: the same window in process, greedy by default */
    if (!a->policies_given)
      policies = "greedy";
  }
  if (rc == 0)
    rc = policies_run(a, policies, s, a->trace || a->file ? NULL : &a->spec, k,
                      &nk);
  if (rc == 0)
    kpis_print(k, nk, &a->sla);
  char msg[256];
  if (rc == 0 && a->out &&
      sim_report_json(a->out, s, k, nk, &a->sla,
                      a->trace || a->file ? "file" : a->kind, msg,
                      sizeof msg) != 0) {
    fprintf(stderr, "carematch_sim: %s\n", msg);
    rc = EXIT_OUTPUT;
  }
  for (int i = 0; i < nk; i++)
    sim_kpis_free(&k[i]);
  return rc;
}

/* days: each day of --seeds under every policy, the days pooled, the
 * ratios with intervals, and --out. Returns the exit status. */
static int days_run(const args *a) {
  int nd = (int)(a->seed_last - a->seed_first + 1), np = 0, rc = 0;
  sim_kpis *k = calloc((size_t)nd * MAX_RUNS, sizeof *k);
  const sim_kpis **ptr = calloc((size_t)nd * MAX_RUNS, sizeof *ptr);
  uint64_t *seeds = calloc((size_t)nd, sizeof *seeds);
  char msg[256];
  if (!k || !ptr || !seeds) {
    fprintf(stderr, "carematch_sim: out of memory\n");
    rc = 1;
  }
  for (int d = 0; rc == 0 && d < nd; d++) {
    sim_spec spec = a->spec;
    spec.seed = seeds[d] = a->seed_first + (uint64_t)d;
    sim_scenario *s = sim_scenario_generate(&spec, msg, sizeof msg);
    int nk = 0;
    if (!s) {
      fprintf(stderr, "carematch_sim: %s\n", msg);
      rc = EXIT_INPUT;
      break;
    }
    if (!a->quiet)
      fprintf(stderr, "day %d of %d: seed %llu, %s\n", d + 1, nd,
              (unsigned long long)spec.seed, a->kind);
    rc = policies_run(a, a->policies, s, &spec, &k[d * MAX_RUNS], &nk);
    sim_scenario_free(s);
    np = d == 0 ? nk : np;
    for (int p = 0; rc == 0 && p < np; p++)
      ptr[d * np + p] = &k[d * MAX_RUNS + p];
    if (rc == 0)
      sim_report_pooled(&ptr[d * np], 1, np, &a->sla);
  }
  if (rc == 0) {
    printf("\n%d days of kind %s, seeds %llu-%llu, pooled:\n", nd, a->kind,
           (unsigned long long)a->seed_first, (unsigned long long)a->seed_last);
    sim_report_pooled(ptr, nd, np, &a->sla);
    if (np > 1)
      sim_report_compare(ptr, nd, np, &a->sla);
  }
  if (rc == 0 && a->out &&
      sim_report_days_json(a->out, a->kind, seeds, a->spec.workers,
                           a->spec.requests, ptr, nd, np, &a->sla, msg,
                           sizeof msg) != 0) {
    fprintf(stderr, "carematch_sim: %s\n", msg);
    rc = EXIT_OUTPUT;
  }
  for (int i = 0; k && i < nd * MAX_RUNS; i++)
    sim_kpis_free(&k[i]);
  free(k);
  free(ptr);
  free(seeds);
  return rc;
}

int main(int argc, char **argv) {
  args a;
  char msg[256];
  int rc = parse_command_line(argc, argv, &a);
  if (rc >= 0)
    return rc;
  if (a.is_days)
    return days_run(&a);
  sim_scenario *s = day_load(&a, msg, sizeof msg);
  if (!s) {
    fprintf(stderr, "carematch_sim: %s\n", msg);
    return EXIT_INPUT;
  }
  rc = a.gen ? day_save(&a, s) : day_run(&a, s);
  sim_scenario_free(s);
  return rc;
}
