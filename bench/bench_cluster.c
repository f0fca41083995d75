/* bench_cluster.c -- aggregate position updates/s of many regions on a
 * Redis Cluster against the same regions on one redis-server, side by side
 * in the same run (issue 14: 16 regions on 3 masters, target >= 2.5x).
 *
 * Regions are named so that they spread evenly over the cluster's masters
 * (each name's master found by connecting to it). Each region holds
 * --workers workers, upserted before timing. A run forks --procs client
 * processes; process p serves regions p, p + procs, ..., each on its own
 * connection, and moves every worker of each of its regions with one
 * cm_store_redis_positions call after another (pipelined chunks of 256
 * inside) for --seconds, starting at a common instant; the run's figure
 * is the sum of updates over the duration. Runs alternate single, cluster,
 * single, ... so that the machine's noise falls on both alike. The single
 * redis-server is started here (no persistence); the cluster is
 * scripts/redis-cluster.sh's (3 masters, 3 replicas), started here unless
 * CM_BENCH_CLUSTER_PORT names one. Prints a table and writes JSON (--out).
 * Every Redis process is single-threaded: the speed-up can never exceed
 * the cores free for the masters, which the report states (nproc). So each
 * run also reads every master's CPU time (INFO CPU, before and after) and
 * reports a projection beside the measurement: the updates each master
 * served per second of its own CPU, summed over the masters, is what the
 * same servers would do with a core each (the clients and the replicas
 * need cores of their own too). Labelled as a projection, never as the
 * measured figure. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "bench_server.h"
#include "bench_util.h"
#include "carematch/redis.h"
#include "carematch/store.h"

#define MAX_REGIONS 64
#define MAX_RUNS 32
#define MAX_NODES 8

typedef struct opts {
  int regions, workers, procs, runs;
  double seconds;
  const char *out;
} opts;

typedef struct target {
  const char *name; /* "single", "cluster" */
  int port;         /* the server, or the cluster's first node */
  int cluster;      /* 1: redis+cluster */
  double ups[MAX_RUNS];
  int n_nodes;                    /* the masters (single: the server) */
  int node_port[MAX_NODES];       /* */
  int region_node[MAX_REGIONS];   /* the master serving each region */
  double ups_per_cpu_s[MAX_RUNS]; /* summed over the masters */
} target;

static char g_regions[MAX_REGIONS][32];

/* Seconds of CPU the server on port has used (user + system), or -1. */
static double server_cpu_s(int port) {
  redisContext *c = redisConnect("127.0.0.1", port);
  redisReply *r = c && !c->err ? redisCommand(c, "INFO cpu") : NULL;
  double user = -1, sys = -1;
  if (r && r->type == REDIS_REPLY_STRING) {
    const char *u = strstr(r->str, "used_cpu_user:"),
               *k = strstr(r->str, "used_cpu_sys:");
    if (u && k) {
      user = atof(u + strlen("used_cpu_user:"));
      sys = atof(k + strlen("used_cpu_sys:"));
    }
  }
  if (r)
    freeReplyObject(r);
  if (c)
    redisFree(c);
  return user < 0 || sys < 0 ? -1 : user + sys;
}

static cm_redis *open_conn(const target *t, const char *region) {
  cm_redis_options o;
  cm_error err;
  cm_redis_options_init(&o);
  o.cluster = t->cluster;
  cm_redis *r = cm_redis_new("127.0.0.1", t->port, region, &o, &err);
  if (!r)
    fprintf(stderr, "bench_cluster: %s: %s\n", region, err.message);
  return r;
}

/* Names spread evenly over the cluster's masters (at most
 * ceil(regions / masters) on one). Returns 0, -1. */
static int pick_regions(target *cl, int n) {
  char nodes[MAX_NODES][300];
  int counts[MAX_NODES] = {0}, n_nodes = 0, made = 0;
  for (int i = 0; made < n && i < 10000; i++) {
    char name[32], at[300];
    snprintf(name, sizeof name, "bench%d", i);
    cm_redis *r = open_conn(cl, name);
    if (!r)
      return -1;
    cm_redis_node(r, at, sizeof at);
    cm_redis_free(r);
    int k = 0;
    while (k < n_nodes && strcmp(nodes[k], at))
      k++;
    if (k == n_nodes && n_nodes < MAX_NODES)
      snprintf(nodes[n_nodes++], sizeof nodes[0], "%s", at);
    if (k >= MAX_NODES || counts[k] >= (n + 2) / 3)
      continue;
    counts[k]++;
    cl->region_node[made] = k;
    snprintf(g_regions[made++], sizeof g_regions[0], "%s", name);
  }
  cl->n_nodes = n_nodes;
  for (int k = 0; k < n_nodes; k++) {
    const char *colon = strrchr(nodes[k], ':');
    cl->node_port[k] = colon ? atoi(colon + 1) : 0;
    printf("  %s: %d regions\n", nodes[k], counts[k]);
  }
  return made == n ? 0 : -1;
}

static void worker_id(char *buf, size_t n, int i) {
  snprintf(buf, n, "w%05d", i);
}

/* Every region flushed and filled with o->workers workers. */
static int fill(const target *t, const opts *o) {
  for (int g = 0; g < o->regions; g++) {
    cm_redis *r = open_conn(t, g_regions[g]);
    cm_error err;
    cm_store *s = r ? cm_store_redis_open(r, &err) : NULL;
    if (!s || cm_store_redis_flush(s, &err) != CM_OK)
      return -1;
    for (int i = 0; i < o->workers; i++) {
      cm_worker w;
      memset(&w, 0, sizeof w);
      worker_id(w.id, sizeof w.id, i);
      w.skills = 1u << (i % 6);
      w.status = CM_WORKER_AVAILABLE;
      w.has_position = 1;
      w.lat = 31.0 + (i % 100) * 0.004;
      w.lon = 121.3 + (i / 100) * 0.004;
      w.seen_ms = 1000;
      w.capacity = 1;
      w.level = 1;
      w.rating = 4;
      if (cm_store_upsert(s, &w, &err) != CM_OK) {
        fprintf(stderr, "bench_cluster: upsert: %s\n", err.message);
        return -1;
      }
    }
    cm_store_free(s);
    cm_redis_free(r);
  }
  return 0;
}

/* One client process: its regions until start + seconds. Adds the updates
 * done to per_region[] (by region index). Returns 0, -1 on a failure. */
static int client(const target *t, const opts *o, int p, double start,
                  long long *per_region) {
  cm_store *s[MAX_REGIONS];
  cm_redis *r[MAX_REGIONS];
  int n = 0;
  cm_error err;
  for (int g = p; g < o->regions; g += o->procs) {
    r[n] = open_conn(t, g_regions[g]);
    s[n] = r[n] ? cm_store_redis_open(r[n], &err) : NULL;
    if (!s[n])
      return -1;
    n++;
  }
  int w = o->workers;
  char(*ids)[16] = malloc((size_t)w * sizeof *ids);
  const char **idp = malloc((size_t)w * sizeof *idp);
  double *lat = malloc((size_t)w * sizeof *lat),
         *lon = malloc((size_t)w * sizeof *lon);
  int64_t *seen = malloc((size_t)w * sizeof *seen);
  if (!ids || !idp || !lat || !lon || !seen)
    return -1;
  for (int i = 0; i < w; i++) {
    worker_id(ids[i], sizeof ids[i], i);
    idp[i] = ids[i];
  }
  while (cm_bench_now_ms() < start) {
    struct timespec ms1 = {0, 1000000};
    nanosleep(&ms1, NULL);
  }
  int64_t tick = 2000;
  for (int round = 0; cm_bench_now_ms() < start + o->seconds * 1000; round++)
    for (int k = 0; k < n; k++) {
      tick++;
      for (int i = 0; i < w; i++) { /* a few metres a report */
        lat[i] = 31.0 + (i % 100) * 0.004 + (round % 7) * 0.00003;
        lon[i] = 121.3 + (i / 100) * 0.004;
        seen[i] = tick;
      }
      if (cm_store_redis_positions(s[k], w, idp, lat, lon, seen, &err) !=
          CM_OK) {
        fprintf(stderr, "bench_cluster: positions: %s\n", err.message);
        return -1;
      }
      per_region[p + k * o->procs] += w;
    }
  for (int k = 0; k < n; k++) {
    cm_store_free(s[k]);
    cm_redis_free(r[k]);
  }
  free(ids);
  free(idp);
  free(lat);
  free(lon);
  free(seen);
  return 0;
}

/* One run on t: updates/s of every process together, or -1; the run's
 * updates per second of master CPU, summed over the masters, into
 * *per_cpu (0 when a server's CPU could not be read). */
static double run(const target *t, const opts *o, double *per_cpu) {
  int fds[2];
  double cpu0[MAX_NODES];
  for (int m = 0; m < t->n_nodes; m++)
    cpu0[m] = server_cpu_s(t->node_port[m]);
  if (pipe(fds) != 0)
    return -1;
  double start = cm_bench_now_ms() + 300 + 20 * o->procs;
  pid_t pids[MAX_REGIONS];
  for (int p = 0; p < o->procs; p++) {
    pids[p] = fork();
    if (pids[p] == 0) {
      close(fds[0]);
      long long per[MAX_REGIONS] = {0};
      if (client(t, o, p, start, per) != 0)
        per[0] = -1;
      _exit(write(fds[1], per, sizeof per) == sizeof per ? 0 : 1);
    }
  }
  close(fds[1]);
  long long total = 0, per_node[MAX_NODES] = {0}, per[MAX_REGIONS];
  int failed = 0;
  for (int p = 0; p < o->procs; p++) {
    if (read(fds[0], per, sizeof per) != sizeof per || per[0] < 0) {
      failed = 1;
      continue;
    }
    for (int g = 0; g < o->regions; g++) {
      total += per[g];
      per_node[t->region_node[g]] += per[g];
    }
  }
  close(fds[0]);
  for (int p = 0; p < o->procs; p++)
    waitpid(pids[p], NULL, 0);
  *per_cpu = 0;
  for (int m = 0; m < t->n_nodes; m++) {
    double used = server_cpu_s(t->node_port[m]) - cpu0[m];
    if (cpu0[m] < 0 || used <= 0) {
      *per_cpu = 0;
      break;
    }
    *per_cpu += per_node[m] / used;
  }
  return failed ? -1 : total / o->seconds;
}

static double median(const double *v, int n) {
  return cm_bench_quantile(v, n, 0.5);
}

/* The command line into o. Returns 0, or 2 with the usage printed. */
static int parse_args(int argc, char **argv, opts *o) {
  *o = (opts){16, 2000, 4, 5, 2.0, NULL};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--regions") && v)
      o->regions = atoi(v);
    else if (!strcmp(a, "--workers") && v)
      o->workers = atoi(v);
    else if (!strcmp(a, "--procs") && v)
      o->procs = atoi(v);
    else if (!strcmp(a, "--runs") && v)
      o->runs = atoi(v);
    else if (!strcmp(a, "--seconds") && v)
      o->seconds = atof(v);
    else if (!strcmp(a, "--out") && v)
      o->out = v;
    else {
      fprintf(stderr, "usage: bench_cluster [--regions 16] [--workers 2000] "
                      "[--procs 4] [--runs 5] [--seconds 2] [--out FILE]\n");
      return 2;
    }
    i++;
  }
  if (o->regions < 1 || o->regions > MAX_REGIONS || o->workers < 1 ||
      o->procs < 1 || o->procs > o->regions || o->runs < 1 ||
      o->runs > MAX_RUNS || o->seconds <= 0) {
    fprintf(stderr, "bench_cluster: bad arguments\n");
    return 2;
  }
  return 0;
}

/* scripts/redis-cluster.sh's cluster in dir (made here), on a port of
 * ours. Returns its first port, or 0. */
static int cluster_start(char *dir) {
  char cmd[512];
  if (!mkdtemp(dir))
    return 0;
  for (int a = 0; a < 5; a++) {
    int cport = 20000 + (int)((getpid() * 13 + a * 97) % 250) * 10;
    snprintf(cmd, sizeof cmd, "%s start %s %d >/dev/null", CM_CLUSTER_SCRIPT,
             dir, cport);
    if (system(cmd) == 0)
      return cport;
  }
  return 0;
}

static void cluster_stop(const char *dir) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "%s stop %s; rm -rf %s", CM_CLUSTER_SCRIPT, dir,
           dir);
  if (system(cmd) != 0)
    fprintf(stderr, "bench_cluster: could not stop the cluster in %s\n", dir);
}

/* The table of both targets, the ratio and the projection, and the JSON
 * (o->out). Returns 0, -1 when the file cannot be written. */
static int report(const target *t, const opts *o) {
  double m0 = median(t[0].ups, o->runs), m1 = median(t[1].ups, o->runs);
  printf("%-8s %14s %14s %14s\n", "target", "median upd/s", "min", "max");
  for (int j = 0; j < 2; j++) {
    double lo = t[j].ups[0], hi = t[j].ups[0];
    for (int k = 1; k < o->runs; k++) {
      lo = t[j].ups[k] < lo ? t[j].ups[k] : lo;
      hi = t[j].ups[k] > hi ? t[j].ups[k] : hi;
    }
    printf("%-8s %14.0f %14.0f %14.0f\n", t[j].name, median(t[j].ups, o->runs),
           lo, hi);
  }
  printf("cluster / single: %.2fx (measured)\n", m1 / m0);
  double c0 = median(t[0].ups_per_cpu_s, o->runs),
         c1 = median(t[1].ups_per_cpu_s, o->runs);
  printf("projection, a core per master: single %.0f upd/s, cluster %.0f "
         "upd/s (%d masters), %.2fx -- the updates each master served per "
         "second of its own CPU, summed; not a measurement\n",
         c0, c1, t[1].n_nodes, c0 > 0 ? c1 / c0 : 0);
  if (!o->out)
    return 0;
  FILE *f = fopen(o->out, "w");
  if (!f)
    return -1;
  fprintf(f,
          "{\"bench\": \"cluster\", \"regions\": %d, \"workers\": %d, "
          "\"procs\": %d, \"seconds\": %.2f, \"cores\": %ld",
          o->regions, o->workers, o->procs, o->seconds,
          sysconf(_SC_NPROCESSORS_ONLN));
  for (int j = 0; j < 2; j++) {
    fprintf(f, ", \"%s\": {\"median_ups\": %.0f, \"runs_ups\": [", t[j].name,
            median(t[j].ups, o->runs));
    for (int k = 0; k < o->runs; k++)
      fprintf(f, "%s%.0f", k ? ", " : "", t[j].ups[k]);
    fprintf(f,
            "], \"masters\": %d, \"median_ups_per_master_cpu_s\": %.0f, "
            "\"runs_ups_per_master_cpu_s\": [",
            t[j].n_nodes, median(t[j].ups_per_cpu_s, o->runs));
    for (int k = 0; k < o->runs; k++)
      fprintf(f, "%s%.0f", k ? ", " : "", t[j].ups_per_cpu_s[k]);
    fprintf(f, "]}");
  }
  fprintf(f, ", \"ratio\": %.3f, \"projected_ratio\": %.3f}\n", m1 / m0,
          c0 > 0 ? c1 / c0 : 0);
  fclose(f);
  return 0;
}

/* Both targets filled, then the runs alternating. Returns 0, -1. */
static int measure(target *t, const opts *o) {
  printf("bench_cluster: %d regions x %d workers, %d client processes, %d "
         "runs of %.1f s, %ld cores\n",
         o->regions, o->workers, o->procs, o->runs, o->seconds,
         sysconf(_SC_NPROCESSORS_ONLN));
  if (pick_regions(&t[1], o->regions) != 0 || fill(&t[0], o) != 0 ||
      fill(&t[1], o) != 0)
    return -1;
  for (int k = 0; k < o->runs; k++)
    for (int j = 0; j < 2; j++)
      if ((t[j].ups[k] = run(&t[j], o, &t[j].ups_per_cpu_s[k])) < 0) {
        fprintf(stderr, "bench_cluster: a run failed\n");
        return -1;
      }
  return 0;
}

int main(int argc, char **argv) {
  opts o;
  if (parse_args(argc, argv, &o) != 0)
    return 2;
  signal(SIGPIPE, SIG_IGN);
  int port = cm_bench_free_port();
  pid_t server = port > 0 ? cm_bench_server_start(port) : -1;
  if (server < 0) {
    fprintf(stderr, "bench_cluster: no redis-server would start\n");
    return 1;
  }
  char dir[] = "/tmp/cm_bench_cluster_XXXXXX";
  const char *env = getenv("CM_BENCH_CLUSTER_PORT");
  int cport = env ? atoi(env) : cluster_start(dir), own = !env;
  if (!cport) {
    fprintf(stderr, "bench_cluster: no cluster would start\n");
    cm_bench_server_stop(server);
    return 1;
  }
  target t[2] = {{.name = "single", .port = port, .n_nodes = 1},
                 {.name = "cluster", .port = cport, .cluster = 1}};
  t[0].node_port[0] = port; /* every region on it: region_node[] is 0 */
  int rc = measure(t, &o) == 0 && report(t, &o) == 0 ? 0 : 1;
  cm_bench_server_stop(server);
  if (own)
    cluster_stop(dir);
  return rc;
}
