/* test_redis_cluster.c -- the Redis adapter on a real Redis Cluster (3
 * masters, 3 replicas on loopback; scripts/redis-cluster.sh): the slot of
 * a region as the server computes it; the store contract on a region
 * whose slot is on a node that is not the seed; a region's slot migrated
 * under a connection (ASK followed, then MOVED, then the connection
 * moves), for synchronous calls and for the ledger's group commit on a
 * loop; a master killed and its replica promoted (the connection asks the
 * nodes again and writes continue); carematchd on redis+cluster://; the
 * owner lookup of a connection on a loop asked from its callbacks, a
 * paused seed holding neither the caller nor carematchd's loop; the group
 * commit's refused commands sent again from a timer, in order, and
 * carematchd serving while its slot is down or migrating.
 * scripts/test.sh starts the cluster (CM_TEST_CLUSTER_PORT, _DIR); run
 * alone, each test process starts one of its own. */
#include <criterion/criterion.h>
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "carematch/engine.h"
#include "carematch/redis.h"
#include "daemon_proc.h"
#include "fixtures.h"
#include "redis_server.h"
#include "redis_slot.h"
#include "store_contract.h"
#include "tcp_hold.h"

static int g_base;      /* the first node's port: the seed */
static char g_dir[128]; /* the cluster's files */
static int g_own;       /* started by this process */

static void setup(void) {
  const char *p = getenv("CM_TEST_CLUSTER_PORT");
  const char *d = getenv("CM_TEST_CLUSTER_DIR");
  if (p && d && *p && *d) {
    g_base = atoi(p);
    snprintf(g_dir, sizeof g_dir, "%s", d);
    return;
  }
  snprintf(g_dir, sizeof g_dir, "/tmp/cm_cluster_%ld", (long)getpid());
  for (int attempt = 0; attempt < 5 && !g_own; attempt++) {
    char cmd[512];
    g_base = 20000 + (int)((getpid() * 7 + attempt * 131) % 250) * 10;
    snprintf(cmd, sizeof cmd, "rm -rf %s; %s start %s %d >/dev/null 2>&1",
             g_dir, CM_CLUSTER_SCRIPT, g_dir, g_base);
    if (system(cmd) == 0)
      g_own = 1;
    else if (snprintf(cmd, sizeof cmd, "%s stop %s", CM_CLUSTER_SCRIPT, g_dir) >
                 0 &&
             system(cmd) != 0)
      fprintf(stderr, "could not stop the cluster in %s\n", g_dir);
  }
  cr_assert(g_own, "no Redis Cluster would start");
}

static cm_redis *g_conns[64]; /* the contract's connections */
static int g_n_conns;

static void teardown(void) {
  for (int i = 0; i < g_n_conns; i++)
    cm_redis_free(g_conns[i]);
  g_n_conns = 0;
  if (!g_own)
    return;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "%s stop %s; rm -rf %s", CM_CLUSTER_SCRIPT, g_dir,
           g_dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not stop the cluster in %s\n", g_dir);
}

TestSuite(redis_cluster, .init = setup, .fini = teardown);

/* One command on the node at port; the reply (caller frees) or NULL. */
static redisReply *node_cmd(int port, const char *fmt, ...) {
  redisContext *c = cm_test_side_connect(port);
  if (!c)
    return NULL;
  va_list ap;
  va_start(ap, fmt);
  redisReply *rep = redisvCommand(c, fmt, ap);
  va_end(ap);
  redisFree(c);
  return rep;
}

typedef struct node_info {
  int port;
  char id[48];
  char master_id[48]; /* a replica's master ("-" for a master) */
  int master;         /* a master not failed */
  int lo[8], hi[8], n_ranges;
} node_info;

/* The cluster's nodes as one live node sees them (CLUSTER NODES). */
static int nodes(node_info *out, int max) {
  redisReply *rep = NULL;
  for (int i = 0; i < 6 && !rep; i++) {
    rep = node_cmd(g_base + i, "CLUSTER NODES");
    if (rep && rep->type != REDIS_REPLY_STRING) {
      freeReplyObject(rep);
      rep = NULL;
    }
  }
  cr_assert_not_null(rep, "no node of the cluster answers");
  int n = 0;
  for (char *line = strtok(rep->str, "\n"); line && n < max;
       line = strtok(NULL, "\n")) {
    node_info *ni = &out[n];
    memset(ni, 0, sizeof *ni);
    char addr[64], flags[96];
    int off = 0;
    if (sscanf(line, "%47s %63s %95s %47s %*s %*s %*s %*s%n", ni->id, addr,
               flags, ni->master_id, &off) < 4)
      continue;
    char *colon = strchr(addr, ':');
    ni->port = colon ? atoi(colon + 1) : 0;
    ni->master = strstr(flags, "master") && !strstr(flags, "fail");
    const char *s = line + off;
    while (*s && ni->n_ranges < 8) {
      while (*s == ' ')
        s++;
      if (*s == '[') { /* a migration in progress: not a range */
        s += strcspn(s, " ");
        continue;
      }
      int lo, hi, k = 0;
      if (sscanf(s, "%d-%d%n", &lo, &hi, &k) == 2) {
      } else if (sscanf(s, "%d%n", &lo, &k) == 1) {
        hi = lo;
      } else {
        break;
      }
      ni->lo[ni->n_ranges] = lo;
      ni->hi[ni->n_ranges++] = hi;
      s += k;
    }
    n++;
  }
  freeReplyObject(rep);
  return n;
}

/* The port of the live master serving slot (0: none). */
static int owner_of(int slot) {
  node_info ns[16];
  int n = nodes(ns, 16);
  for (int i = 0; i < n; i++)
    for (int k = 0; ns[i].master && k < ns[i].n_ranges; k++)
      if (ns[i].lo[k] <= slot && slot <= ns[i].hi[k])
        return ns[i].port;
  return 0;
}

static const char *id_of(int port, char *buf) {
  redisReply *rep = node_cmd(port, "CLUSTER MYID");
  cr_assert(rep && rep->type == REDIS_REPLY_STRING);
  snprintf(buf, 48, "%s", rep->str);
  freeReplyObject(rep);
  return buf;
}

/* A region name (prefix-N) whose slot the master at port serves. */
static void region_on(int port, const char *prefix, char *buf, size_t n) {
  for (int i = 0; i < 5000; i++) {
    snprintf(buf, n, "%s-%ld-%d", prefix, (long)getpid(), i);
    if (owner_of(cm__rd_slot_of_region(buf)) == port)
      return;
  }
  cr_assert_fail("no region name found on port %d", port);
}

/* A cluster connection seeded with the first node only. */
static cm_redis *conn(const char *region, struct event_base *base) {
  cm_redis_options o;
  cm_error err;
  cm_redis_options_init(&o);
  o.cluster = 1;
  o.base = base;
  cm_redis *r = cm_redis_new("127.0.0.1", g_base, region, &o, &err);
  cr_assert_not_null(r, "%s", err.message);
  return r;
}

static int node_port(const cm_redis *r) {
  char buf[300];
  cm_redis_node(r, buf, sizeof buf);
  const char *colon = strrchr(buf, ':');
  return colon ? atoi(colon + 1) : 0;
}

static cm_worker worker(const char *id, double lat) {
  cm_worker w;
  memset(&w, 0, sizeof w);
  snprintf(w.id, sizeof w.id, "%s", id);
  w.skills = 1;
  w.status = CM_WORKER_AVAILABLE;
  w.has_position = 1;
  w.lat = lat;
  w.lon = 121.47;
  w.seen_ms = 1000;
  w.capacity = 1;
  w.level = 1;
  w.rating = 4;
  return w;
}

static void put(cm_store *s, const char *id, double lat) {
  cm_error err;
  cm_worker w = worker(id, lat);
  cr_assert_eq(cm_store_upsert(s, &w, &err), CM_OK, "upsert %s: %s", id,
               err.message);
}

static void got(cm_store *s, const char *id, double lat) {
  cm_error err;
  cm_worker w;
  cr_assert_eq(cm_store_get(s, id, &w, &err), CM_OK, "get %s: %s", id,
               err.message);
  cr_assert_eq(w.lat, lat, "%s", id);
}

Test(redis_cluster, the_slot_is_the_servers) {
  for (int i = 0; i < 300; i++) {
    char key[96], region[64];
    snprintf(region, sizeof region, "r%d.x_%d", i * 7919, i);
    snprintf(key, sizeof key, "cm:{%s}:worker:w%d", region, i);
    redisReply *rep = node_cmd(g_base, "CLUSTER KEYSLOT %s", key);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER);
    cr_assert_eq(cm__rd_slot_of_region(region), rep->integer, "%s", region);
    cr_assert_eq(cm__rd_slot_of_key(key, strlen(key)), rep->integer);
    freeReplyObject(rep);
  }
  cr_assert_eq(cm__rd_slot_of_key("123456789", 9), 12739); /* CRC16 check */
  cr_assert_eq(cm__rd_slot_of_key("a{}b", 4), cm__rd_slot_of_key("a{}b", 4));
}

/* ---- the store contract on a region whose slot is on a non-seed node */

static cm_store *make_cluster(void *ctx) {
  (void)ctx;
  char region[48];
  cm_error err;
  region_on(g_base + 1, "ct", region, sizeof region);
  cr_assert(g_n_conns < 64);
  cm_redis *r = conn(region, NULL);
  g_conns[g_n_conns++] = r;
  cr_assert_eq(node_port(r), g_base + 1, "routed to the slot's master");
  cr_assert_eq(cm_redis_region_flush(r, &err), CM_OK, "%s", err.message);
  cm_store *s = cm_store_redis_open(r, &err);
  cr_assert_not_null(s, "%s", err.message);
  return s;
}

Test(redis_cluster, store_contract_on_a_non_seed_node) {
  cm_contract c = {.make = make_cluster, .insertion_order = 1, .ops = 2000};
  cm_contract_roundtrip(&c);
  cm_contract_nearest_brute(&c);
  cm_contract_stale_sweep(&c);
  cm_contract_batch(&c);
  cm_contract_each(&c);
  cm_contract_random_ops(&c);
}

/* ---- the ledger's group commit on a loop connection ---- */

typedef struct answer {
  int calls;    /* completions (must be 1) */
  cm_status st; /* the last one's status */
} answer;

static void on_done(void *ctx, cm_status st, const cm_ledger_result *res, int n,
                    const cm_error *err) {
  (void)res;
  (void)n;
  (void)err;
  answer *a = ctx;
  a->calls++;
  a->st = st;
}

/* Propose the submission of request id on l and run base until it is
 * answered (a few seconds at most). */
static answer submit_on_loop(struct event_base *base, cm_ledger *l,
                             const char *id) {
  answer a = {0, CM_OK};
  cm_error err;
  cr_assert_eq(cm_fx_propose_submit(l, id, on_done, &a, &err), CM_OK, "%s",
               err.message);
  for (int i = 0; i < 200 && !a.calls; i++) {
    struct timeval tv = {0, 20000};
    event_base_loopexit(base, &tv);
    event_base_loop(base, EVLOOP_ONCE);
  }
  for (int i = 0; i < 5; i++) { /* a second answer would come now */
    struct timeval tv = {0, 10000};
    event_base_loopexit(base, &tv);
    event_base_loop(base, EVLOOP_ONCE);
  }
  return a;
}

/* 1 when the node at port holds key (asked after ASKING, so an
 * importing node answers too). */
static int holds(int port, const char *key) {
  redisContext *c = cm_test_side_connect(port);
  cr_assert_not_null(c);
  freeReplyObject(redisCommand(c, "ASKING"));
  redisReply *rep = redisCommand(c, "EXISTS %s", key);
  redisFree(c);
  int yes = rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
  if (rep)
    freeReplyObject(rep);
  return yes;
}

/* Calls of a command on the node at port so far (INFO commandstats). */
static long long calls_of(int port, const char *cmd) {
  redisReply *rep = node_cmd(port, "INFO commandstats");
  cr_assert(rep && rep->type == REDIS_REPLY_STRING);
  char key[64];
  snprintf(key, sizeof key, "cmdstat_%s:calls=", cmd);
  const char *at = strstr(rep->str, key);
  long long n = at ? atoll(at + strlen(key)) : 0;
  freeReplyObject(rep);
  return n;
}

/* Move every key of slot from src to dst (dst importing, src migrating
 * already). */
static void migrate_keys(int src, int dst, int slot) {
  redisReply *keys = node_cmd(src, "CLUSTER GETKEYSINSLOT %d 1000", slot);
  cr_assert(keys && keys->type == REDIS_REPLY_ARRAY);
  for (size_t i = 0; i < keys->elements; i++) {
    redisReply *m = node_cmd(src, "MIGRATE 127.0.0.1 %d %s 0 5000", dst,
                             keys->element[i]->str);
    cr_assert(m && m->type != REDIS_REPLY_ERROR, "MIGRATE: %s",
              m && m->str ? m->str : "no reply");
    freeReplyObject(m);
  }
  freeReplyObject(keys);
}

static void expect_ok(redisReply *rep, const char *what) {
  cr_assert(rep && rep->type != REDIS_REPLY_ERROR, "%s: %s", what,
            rep && rep->str ? rep->str : "no reply");
  freeReplyObject(rep);
}

Test(redis_cluster, a_migrating_slot_is_followed_ask_then_moved) {
  int src = g_base, dst = g_base + 1;
  char region[48], key[128], sid[48], did[48];
  region_on(src, "mig", region, sizeof region);
  int slot = cm__rd_slot_of_region(region);
  cm_error err;
  cm_redis *r = conn(region, NULL); /* synchronous calls */
  struct event_base *base = event_base_new();
  cm_redis *lr = conn(region, base); /* the group commit's */
  cm_ledger_redis_options lo;        /* a WAIT ends every group */
  cm_ledger_redis_options_init(&lo);
  lo.durability = CM_LEDGER_DURABILITY_REPLICA;
  lo.replicas = 1;
  lo.durability_timeout_ms = 1000;
  cm_ledger *l = cm_ledger_redis_new(lr, &lo, &err);
  cr_assert_not_null(l, "%s", err.message);
  cm_store *s = cm_store_redis_open(r, &err);
  cr_assert_not_null(s);
  cr_assert_eq(cm_redis_region_flush(r, &err), CM_OK, "%s", err.message);
  put(s, "w1", 31.20);
  answer a = submit_on_loop(base, l, "q1");
  cr_assert(a.calls == 1 && a.st == CM_OK, "q1: %d calls, %d", a.calls, a.st);
  cr_assert_eq(node_port(r), src);

  /* the slot migrating: every key moved to dst, the slot still src's */
  id_of(src, sid);
  id_of(dst, did);
  expect_ok(node_cmd(dst, "CLUSTER SETSLOT %d IMPORTING %s", slot, sid), "IMP");
  expect_ok(node_cmd(src, "CLUSTER SETSLOT %d MIGRATING %s", slot, did), "MIG");
  migrate_keys(src, dst, slot);
  snprintf(key, sizeof key, "cm:{%s}:worker:w1", region);
  cr_assert(holds(dst, key) && !holds(src, key));
  cm_redis_cluster_stats st0, st1, st2;
  cm_redis_cluster_stats_get(r, &st0);
  got(s, "w1", 31.20); /* src answers ASK: asked of dst */
  cm_redis_cluster_stats_get(r, &st1);
  cr_assert_gt(st1.asked, st0.asked, "ASK followed");

  /* a script naming keys dst lacks gets TRYAGAIN there until the slot is
     dst's: it is retried, and the migration ends meanwhile (a child sets
     the slot's owner in 300 ms); the slot's old owner then answers MOVED */
  pid_t child = fork();
  cr_assert(child >= 0);
  if (child == 0) {
    cm_test_sleep_ms(300);
    for (int i = 0; i < 6; i++) {
      redisReply *rep =
          node_cmd(g_base + i, "CLUSTER SETSLOT %d NODE %s", slot, did);
      if (rep)
        freeReplyObject(rep); /* replicas refuse: fine */
    }
    _exit(0);
  }
  cm_redis_cluster_stats ls0, ls1;
  cm_redis_cluster_stats_get(lr, &ls0);
  long long waits = calls_of(dst, "wait");
  a = submit_on_loop(base, l, "q2"); /* a pipelined EVALSHA: ASK, TRYAGAIN */
  cr_assert(a.calls == 1 && a.st == CM_OK, "q2: %d calls, %d", a.calls, a.st);
  cr_assert_gt(calls_of(dst, "wait"), waits,
               "the WAIT also ran where the commit was sent again");
  cm_redis_cluster_stats_get(lr, &ls1);
  /* the loop's connection never follows on a side connection: an ASK or
     a TRYAGAIN is sent again to the same node after a backoff on a timer
     (retried), until the slot's old owner answers MOVED and the
     connection moves */
  cr_assert_eq(ls1.asked, ls0.asked);
  cr_assert_gt(ls1.retried, ls0.retried);
  int wst;
  cr_assert_eq(waitpid(child, &wst, 0), child);
  snprintf(key, sizeof key, "cm:{%s}:req:q2", region);
  cr_assert(holds(dst, key), "q2 committed on the new owner");
  put(s, "w2", 31.21); /* src answers MOVED */
  got(s, "w2", 31.21);
  put(s, "w3", 31.22);
  a = submit_on_loop(base, l, "q3"); /* MOVED */
  cr_assert(a.calls == 1 && a.st == CM_OK, "q3: %d calls, %d", a.calls, a.st);
  snprintf(key, sizeof key, "cm:{%s}:req:q3", region);
  cr_assert(holds(dst, key), "q3 committed on the new owner");
  cm_redis_cluster_stats_get(r, &st2);
  cr_assert_gt(st2.moved, st1.moved, "MOVED followed");
  got(s, "w3", 31.22); /* the connection has moved by now */
  cr_assert_eq(node_port(r), dst, "the connection moved to the new owner");
  cr_assert_eq(cm_redis_ping(lr, &err), CM_OK); /* between two turns */
  cr_assert_eq(node_port(lr), dst);
  a = submit_on_loop(base, l, "q4");
  cr_assert(a.calls == 1 && a.st == CM_OK);
  cm_store_free(s);
  cm_ledger_free(l);
  cm_redis_free(lr);
  cm_redis_free(r);
  event_base_free(base);
}

/* The tests that kill a master or pause a node, and the one that counts
 * rebuilds after a slot moved (a node paused meanwhile can cost it one),
 * run one at a time (Criterion runs two tests at once): an exclusive
 * lock on a file of the cluster's folder, released by closing the
 * descriptor returned. */
static int kill_lock(void) {
  char path[256];
  snprintf(path, sizeof path, "%s/kill.lock", g_dir);
  int fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  cr_assert_geq(fd, 0, "%s", path);
  cr_assert_eq(flock(fd, LOCK_EX), 0);
  return fd;
}

Test(redis_cluster, a_killed_master_is_replaced_and_writes_continue) {
  int lock = kill_lock();
  node_info ns[16];
  int n = nodes(ns, 16), victim = 0, heir = 0;
  for (int i = 0; i < n && !victim; i++) /* a master, neither 1st nor 2nd */
    if (ns[i].master && ns[i].n_ranges && ns[i].port != g_base &&
        ns[i].port != g_base + 1)
      for (int k = 0; k < n; k++)
        if (!strcmp(ns[k].master_id, ns[i].id) && !heir) {
          victim = ns[i].port;
          heir = ns[k].port;
        }
  cr_assert(victim && heir, "a master with a replica");
  char region[48], key[128], pidf[256];
  region_on(victim, "fo", region, sizeof region);
  cm_redis *r = conn(region, NULL);
  cm_error err;
  cm_store *s = cm_store_redis_open(r, &err);
  cr_assert_eq(cm_redis_region_flush(r, &err), CM_OK, "%s", err.message);
  put(s, "w1", 31.20);
  snprintf(key, sizeof key, "cm:{%s}:worker:w1", region);
  int replicated = 0;
  for (int i = 0; i < 300 && !replicated; i++) { /* before the kill */
    redisContext *c = cm_test_side_connect(heir);
    freeReplyObject(redisCommand(c, "READONLY"));
    redisReply *rep = redisCommand(c, "EXISTS %s", key);
    replicated = rep && rep->integer == 1;
    freeReplyObject(rep);
    redisFree(c);
    if (!replicated)
      cm_test_sleep_ms(10);
  }
  cr_assert(replicated, "w1 reached the replica");
  snprintf(pidf, sizeof pidf, "%s/%d/redis.pid", g_dir, victim);
  FILE *f = fopen(pidf, "r");
  cr_assert_not_null(f, "%s", pidf);
  long pid = 0;
  cr_assert_eq(fscanf(f, "%ld", &pid), 1);
  fclose(f);
  cr_assert_eq(kill((pid_t)pid, SIGKILL), 0);
  expect_ok(node_cmd(heir, "CLUSTER FAILOVER TAKEOVER"), "TAKEOVER");
  char cmd[512]; /* the old master comes back, as the heir's replica */
  snprintf(cmd, sizeof cmd, "%s node %s %d", CM_CLUSTER_SCRIPT, g_dir, victim);
  cr_assert_eq(system(cmd), 0);
  cm_status st = CM_E_UNAVAILABLE;
  for (int i = 0; i < 300 && st != CM_OK; i++) { /* 503s, then it is back */
    cm_worker w;
    st = cm_store_get(s, "w1", &w, &err);
    if (st != CM_OK)
      cm_test_sleep_ms(50);
  }
  cr_assert_eq(st, CM_OK, "after the failover: %s", err.message);
  cr_assert_eq(node_port(r), heir, "re-resolved to the promoted replica");
  put(s, "w2", 31.21);
  got(s, "w2", 31.21);
  got(s, "w1", 31.20);
  cm_store_free(s);
  cm_redis_free(r);
  close(lock);
}

Test(redis_cluster, carematchd_serves_a_region_on_the_cluster) {
  char region[48], ini[256], key[128];
  region_on(g_base + 1, "d", region, sizeof region);
  snprintf(ini, sizeof ini,
           "[store]\nredis = redis+cluster://127.0.0.1:%d,127.0.0.1:%d\n"
           "region = %s\n",
           g_base, g_base + 2, region);
  cm_test_daemon d;
  cm_test_daemon_config(&d, ini);
  cm_test_daemon_start(&d, NULL);
  int ready = 0;
  for (int i = 0; i < 300 && !ready; i++) {
    cm_test_reply rr = cm_test_http(d.port, "GET", "/readyz", NULL, NULL, NULL);
    ready = rr.code == 200;
    cm_test_reply_free(&rr);
    if (!ready)
      cm_test_sleep_ms(20);
  }
  cr_assert(ready, "ready on the cluster");
  for (int i = 0; i < 3; i++) {
    char path[64], body[160];
    snprintf(path, sizeof path, "/v1/workers/w%d", i);
    snprintf(body, sizeof body,
             "{\"skills\":[\"nurse\"],\"lat\":%.5f,\"lon\":121.47}",
             31.23 + 0.002 * i);
    cm_test_reply rr =
        cm_test_http(d.port, "PUT", path, TOK_PLATFORM, body, NULL);
    cr_assert_eq(rr.code, 200, "%s", rr.text);
    cm_test_reply_free(&rr);
  }
  cm_test_reply rr =
      cm_test_http(d.port, "POST", "/v1/requests", TOK_PLATFORM,
                   "{\"id\":\"a\",\"lat\":31.23,\"lon\":121.47,\"skills\":"
                   "[\"nurse\"],\"urgency\":\"emergency\"}",
                   NULL);
  cr_assert_eq(rr.code, 201, "%s", rr.text);
  cm_test_reply_free(&rr);
  int offered = 0;
  for (int i = 0; i < 300 && !offered; i++) {
    redisReply *rep = node_cmd(g_base + 1, "HGET cm:{%s}:req:a state", region);
    offered = rep && rep->type == REDIS_REPLY_STRING && !strcmp(rep->str, "1");
    if (rep)
      freeReplyObject(rep);
    if (!offered)
      cm_test_sleep_ms(20);
  }
  cr_assert(offered, "the offer is in Redis, on the slot's master");
  snprintf(key, sizeof key, "cm:{%s}:workers", region);
  cr_assert(holds(g_base + 1, key));
  cm_test_daemon_stop(&d, SIGTERM);
  cm_test_daemon_cleanup(&d);
}

/* 1 once the request id of region is offered (state 1) on the node at
 * port, polled for up to ms. */
static int offered_within(int port, const char *region, const char *id,
                          int ms) {
  for (int waited = 0; waited <= ms; waited += 20) {
    redisReply *rep = node_cmd(port, "HGET cm:{%s}:req:%s state", region, id);
    int yes = rep && rep->type == REDIS_REPLY_STRING && !strcmp(rep->str, "1");
    if (rep)
      freeReplyObject(rep);
    if (yes)
      return 1;
    cm_test_sleep_ms(20);
  }
  return 0;
}

/* 1 once the daemon at port holds request id offered (its offer's commit
 * answered, WAIT included), polled for up to ms: a record offered in Redis
 * may still have its WAIT in flight. */
static int applied_within(int port, const char *id, int ms) {
  char path[96];
  snprintf(path, sizeof path, "/v1/requests/%s", id);
  for (int waited = 0; waited <= ms; waited += 20) {
    cm_test_reply rr =
        cm_test_http(port, "GET", path, TOK_PLATFORM, NULL, NULL);
    json_t *j = rr.code == 200 ? json_loads(rr.text, 0, NULL) : NULL;
    const char *st = json_string_value(
        json_object_get(json_object_get(j, "request"), "state"));
    int yes = st && !strcmp(st, "offered");
    json_decref(j);
    cm_test_reply_free(&rr);
    if (yes)
      return 1;
    cm_test_sleep_ms(20);
  }
  return 0;
}

/* carematch_ledger_rebuilds_total of the daemon at port. */
static long long rebuilds(int port) {
  cm_test_reply rr =
      cm_test_http(port, "GET", "/metrics", TOK_METRICS, NULL, NULL);
  cr_assert_eq(rr.code, 200);
  const char *at = strstr(rr.text, "\ncarematch_ledger_rebuilds_total ");
  cr_assert_not_null(at);
  long long n = atoll(at + strlen("\ncarematch_ledger_rebuilds_total "));
  cm_test_reply_free(&rr);
  return n;
}

static void post_emergency(int port, const char *id) {
  char body[200];
  snprintf(body, sizeof body,
           "{\"id\":\"%s\",\"lat\":31.23,\"lon\":121.47,\"skills\":"
           "[\"nurse\"],\"urgency\":\"emergency\"}",
           id);
  cm_test_reply rr =
      cm_test_http(port, "POST", "/v1/requests", TOK_PLATFORM, body, NULL);
  cr_assert_eq(rr.code, 201, "%s", rr.text);
  cm_test_reply_free(&rr);
}

/* The HA chaos runs' migrate_slot: after the region's slot moved to
 * another master, a daemon kept following through the old owner, which
 * answered MOVED to every read of the change stream, so it never
 * dispatched again. Now its connections move to the new owner and it
 * offers within a few seconds. */
Test(redis_cluster, carematchd_offers_soon_after_its_slot_moved) {
  int lock = kill_lock();
  int src = g_base, dst = g_base + 1;
  char region[48], ini[320], sid[48], did[48];
  region_on(src, "mv", region, sizeof region);
  int slot = cm__rd_slot_of_region(region);
  snprintf(ini, sizeof ini, /* as scripts/chaos_ha.sh runs it */
           "[store]\nredis = redis+cluster://127.0.0.1:%d\nregion = %s\n"
           "durability = replica\n[lease]\nenabled = on\nttl_ms = 1500\n",
           g_base, region);
  cm_test_daemon d;
  cm_test_daemon_config(&d, ini);
  cm_test_daemon_start(&d, NULL);
  int ready = 0;
  for (int i = 0; i < 300 && !ready; i++) {
    cm_test_reply rr = cm_test_http(d.port, "GET", "/readyz", NULL, NULL, NULL);
    ready = rr.code == 200;
    cm_test_reply_free(&rr);
    if (!ready)
      cm_test_sleep_ms(20);
  }
  cr_assert(ready, "ready on the cluster");
  for (int i = 0; i < 4; i++) {
    char path[64], body[160];
    snprintf(path, sizeof path, "/v1/workers/w%d", i);
    snprintf(body, sizeof body,
             "{\"skills\":[\"nurse\"],\"lat\":%.5f,\"lon\":121.47}",
             31.23 + 0.002 * i);
    cm_test_reply rr =
        cm_test_http(d.port, "PUT", path, TOK_PLATFORM, body, NULL);
    cr_assert_eq(rr.code, 200, "%s", rr.text);
    cm_test_reply_free(&rr);
  }
  post_emergency(d.port, "a");
  cr_assert(offered_within(src, region, "a", 5000), "offered before");

  /* the slot moves to dst, as redis-cli --cluster reshard moves it */
  id_of(src, sid);
  id_of(dst, did);
  expect_ok(node_cmd(dst, "CLUSTER SETSLOT %d IMPORTING %s", slot, sid), "IMP");
  expect_ok(node_cmd(src, "CLUSTER SETSLOT %d MIGRATING %s", slot, did), "MIG");
  migrate_keys(src, dst, slot);
  for (int i = 0; i < 6; i++) {
    redisReply *rep =
        node_cmd(g_base + i, "CLUSTER SETSLOT %d NODE %s", slot, did);
    if (rep)
      freeReplyObject(rep); /* replicas refuse: fine */
  }
  cr_assert_eq(owner_of(slot), dst);
  pid_t load = fork(); /* steady writes meanwhile, as the simulator's */
  cr_assert(load >= 0);
  if (load == 0) {
    for (int i = 0; i < 1500; i++) {
      char path[64];
      snprintf(path, sizeof path, "/v1/workers/x%d", i % 20);
      cm_test_reply rr = cm_test_http(
          d.port, "PUT", path, TOK_PLATFORM,
          "{\"skills\":[\"nurse\"],\"lat\":31.3,\"lon\":121.5}", NULL);
      cm_test_reply_free(&rr);
      cm_test_sleep_ms(5);
    }
    _exit(0);
  }
  cm_test_sleep_ms(1000); /* the first follows may meet the MOVED */
  long long rb0 = rebuilds(d.port);
  cm_test_sleep_ms(3000);
  /* following through the old owner failed at every other batch (MOVED),
     each failure a pause and a rebuild: under load, in the chaos runs,
     no offer for 14 s */
  cr_assert_eq(rebuilds(d.port), rb0, "no rebuild once the slot moved");
  post_emergency(d.port, "b");
  cr_assert(offered_within(dst, region, "b", 5000),
            "offered within 5 s after the slot moved");
  post_emergency(d.port, "c");
  cr_assert(offered_within(dst, region, "c", 5000), "and again");
  kill(load, SIGKILL);
  int wst;
  waitpid(load, &wst, 0);
  cm_test_daemon_stop(&d, SIGTERM);
  cm_test_daemon_cleanup(&d);
  close(lock);
}

/* A counter of the daemon at port's /metrics (-1: not there). */
static long long metric(int port, const char *name) {
  char want[128];
  cm_test_reply rr =
      cm_test_http(port, "GET", "/metrics", TOK_METRICS, NULL, NULL);
  cr_assert_eq(rr.code, 200);
  snprintf(want, sizeof want, "\n%s ", name);
  const char *at = strstr(rr.text, want);
  long long n = at ? atoll(at + strlen(want)) : -1;
  cm_test_reply_free(&rr);
  return n;
}

/* The HA chaos runs' kill9_master: after kill -9 of the master that owns
 * the region's slot, its replica is promoted with no replica of its own
 * until the old master is back and synchronised. With durability =
 * replica every commit's WAIT then waited its whole timeout (1 s) on the
 * daemon's loop, one after the other (an expired offer's requeue, each
 * API write): the lease's renewals starved, the lease went from daemon to
 * daemon, and the first offer came 6.7-25 s after the kill. Now each
 * connection counts the replicas its server's ROLE lists when it
 * connects, and no commit waits for replicas that are not there: it is
 * answered not_durable at once (written, not confirmed). Counted, not
 * timed: no WAIT at all while the new master has no replica. */
Test(redis_cluster, no_commit_waits_for_a_promoted_master_without_replica) {
  int lock = kill_lock();
  node_info ns[16];
  int n = nodes(ns, 16), victim = 0, heir = 0;
  for (int i = 0; i < n && !victim; i++) /* a master with a replica, */
    if (ns[i].master && ns[i].n_ranges && ns[i].port != g_base && /* not */
        ns[i].port != g_base + 1) /* those the other tests use */
      for (int k = 0; k < n; k++)
        if (!strcmp(ns[k].master_id, ns[i].id) && !heir) {
          victim = ns[i].port;
          heir = ns[k].port;
        }
  cr_assert(victim && heir, "a master with a replica");
  int online = 0; /* in sync (the other kill test restarts its victim) */
  for (int i = 0; i < 300 && !online; i++) {
    redisReply *rep = node_cmd(victim, "INFO replication");
    online = rep && rep->type == REDIS_REPLY_STRING &&
             strstr(rep->str, "state=online");
    if (rep)
      freeReplyObject(rep);
    if (!online)
      cm_test_sleep_ms(50);
  }
  cr_assert(online, "the replica is in sync before the kill");
  char region[48], ini[400], pidf[256], cmd[512];
  region_on(victim, "kd", region, sizeof region);
  snprintf(ini, sizeof ini, /* as scripts/chaos_ha.sh runs it */
           "[store]\nredis = redis+cluster://127.0.0.1:%d\nregion = %s\n"
           "durability = replica\n[lease]\nenabled = on\nttl_ms = 1500\n",
           g_base, region);
  cm_test_daemon d;
  cm_test_daemon_config(&d, ini);
  cm_test_daemon_start(&d, NULL);
  int ready = 0;
  for (int i = 0; i < 300 && !ready; i++) {
    cm_test_reply rr = cm_test_http(d.port, "GET", "/readyz", NULL, NULL, NULL);
    ready = rr.code == 200;
    cm_test_reply_free(&rr);
    if (!ready)
      cm_test_sleep_ms(20);
  }
  cr_assert(ready, "ready on the cluster");
  for (int i = 0; i < 4; i++) {
    char path[64], body[160];
    snprintf(path, sizeof path, "/v1/workers/w%d", i);
    snprintf(body, sizeof body,
             "{\"skills\":[\"nurse\"],\"lat\":%.5f,\"lon\":121.47}",
             31.23 + 0.002 * i);
    cm_test_reply rr =
        cm_test_http(d.port, "PUT", path, TOK_PLATFORM, body, NULL);
    cr_assert_eq(rr.code, 200, "%s", rr.text);
    cm_test_reply_free(&rr);
  }
  post_emergency(d.port, "a"); /* durable: the replica confirmed it */
  cr_assert(offered_within(victim, region, "a", 5000), "offered before");
  cr_assert(applied_within(d.port, "a", 5000), "its WAIT answered");

  long long waits0 = metric(d.port, "carematch_ledger_replica_waits_total");
  long long resolves0 =
      metric(d.port, "carematch_redis_cluster_resolves_total");
  cr_assert_gt(resolves0, 0, "the connections asked the nodes");
  cr_assert_gt(waits0, 0, "the commits so far waited for the replica");
  snprintf(pidf, sizeof pidf, "%s/%d/redis.pid", g_dir, victim);
  FILE *f = fopen(pidf, "r");
  cr_assert_not_null(f, "%s", pidf);
  long pid = 0;
  cr_assert_eq(fscanf(f, "%ld", &pid), 1);
  fclose(f);
  cr_assert_eq(kill((pid_t)pid, SIGKILL), 0);
  expect_ok(node_cmd(heir, "CLUSTER FAILOVER TAKEOVER"), "TAKEOVER");

  /* while the new master has no replica: writes answer not_durable (the
     request is in Redis, not confirmed), and the daemon dispatches */
  const char *code = "";
  for (int i = 0; i < 200 && strcmp(code, "not_durable") != 0; i++) {
    cm_test_reply rr = cm_test_http(
        d.port, "POST", "/v1/requests", TOK_PLATFORM,
        "{\"id\":\"b\",\"lat\":31.23,\"lon\":121.47,\"skills\":[\"nurse\"],"
        "\"urgency\":\"emergency\"}",
        NULL);
    cr_assert_neq(rr.code, 201, "acknowledged as durable without a replica");
    code = !strcmp(cm_test_error_code(&rr), "not_durable") ? "not_durable" : "";
    cm_test_reply_free(&rr);
    if (!code[0])
      cm_test_sleep_ms(50);
  }
  cr_assert_str_eq(code, "not_durable", "the write reached the new master");
  for (int i = 0; i < 5; i++) { /* more writes, as the load's: worker
                                   writes are acknowledged at the primary
                                   (docs/redis.md "Not waited for") */
    char path[64];
    snprintf(path, sizeof path, "/v1/workers/w%d", i % 4);
    cm_test_reply rr = cm_test_http(
        d.port, "PUT", path, TOK_PLATFORM,
        "{\"skills\":[\"nurse\"],\"lat\":31.23,\"lon\":121.47}", NULL);
    cr_assert_eq(rr.code, 200, "%s", rr.text);
    cm_test_reply_free(&rr);
  }
  cr_assert(offered_within(heir, region, "b", 5000),
            "offered within 5 s of the write (the lease kept)");
  long long waits = metric(d.port, "carematch_ledger_replica_waits_total");
  cr_assert_eq(waits, waits0,
               "no commit waited for a replica the new master has not got "
               "(%lld did)",
               waits - waits0);
  cr_assert_eq(metric(d.port, "carematch_ledger_wait_timeouts_total"), 0);
  cr_assert_gt(metric(d.port, "carematch_redis_cluster_resolves_total"),
               resolves0, "the connections asked the nodes again");
  cr_assert_geq(metric(d.port, "carematch_ledger_skipped_waits_total"), 1,
                "the create's");

  /* the old master back, as the heir's replica: commits wait again, and
     are durable */
  snprintf(cmd, sizeof cmd, "%s node %s %d", CM_CLUSTER_SCRIPT, g_dir, victim);
  cr_assert_eq(system(cmd), 0);
  long code_c = 0;
  for (int i = 0; i < 300 && code_c != 201; i++) {
    char body[160]; /* a new id each time: a retried create answers 200 */
    snprintf(body, sizeof body,
             "{\"id\":\"c%d\",\"lat\":31.23,\"lon\":121.47,\"skills\":"
             "[\"nurse\"]}",
             i);
    cm_test_reply rr =
        cm_test_http(d.port, "POST", "/v1/requests", TOK_PLATFORM, body, NULL);
    code_c = rr.code;
    cm_test_reply_free(&rr);
    if (code_c != 201)
      cm_test_sleep_ms(50);
  }
  cr_assert_eq(code_c, 201, "durable again once the replica is back");
  cr_assert_gt(metric(d.port, "carematch_ledger_replica_waits_total"), waits0);
  cm_test_daemon_stop(&d, SIGTERM);
  cm_test_daemon_cleanup(&d);
  close(lock);
}

Test(redis_cluster, a_slot_not_served_answers_unavailable_once) {
  int owner = g_base + 1;
  char region[48];
  region_on(owner, "down", region, sizeof region);
  int slot = cm__rd_slot_of_region(region);
  cm_error err;
  cm_redis_options o;
  cm_redis_options_init(&o);
  o.cluster = 1;
  o.timeout_ms = 400; /* the retries' bound */
  cm_redis *r = cm_redis_new("127.0.0.1", g_base, region, &o, &err);
  cr_assert_not_null(r, "%s", err.message);
  struct event_base *base = event_base_new();
  o.base = base;
  cm_redis *lr = cm_redis_new("127.0.0.1", g_base, region, &o, &err);
  cr_assert_not_null(lr, "%s", err.message);
  cm_ledger_redis_options lo;
  cm_ledger_redis_options_init(&lo);
  lo.durability_timeout_ms = 100;
  cm_ledger *l = cm_ledger_redis_new(lr, &lo, &err);
  cr_assert_not_null(l, "%s", err.message);
  cm_store *s = cm_store_redis_open(r, &err);
  cr_assert_not_null(s, "%s", err.message);
  put(s, "w1", 31.2);
  /* the owner stops serving the slot (and only it: full coverage off) */
  expect_ok(node_cmd(owner, "CONFIG SET cluster-require-full-coverage no"),
            "CONFIG");
  expect_ok(node_cmd(owner, "CLUSTER DELSLOTS %d", slot), "DELSLOTS");
  cm_worker w;
  cr_assert_eq(cm_store_get(s, "w1", &w, &err), CM_E_UNAVAILABLE, "%s",
               err.message);
  cr_assert(strstr(err.message, "CLUSTERDOWN"), "%s", err.message);
  answer a = submit_on_loop(base, l, "q1");
  cr_assert_eq(a.calls, 1, "answered once");
  cr_assert_eq(a.st, CM_E_UNAVAILABLE);
  cm_redis_cluster_stats cs;
  cm_redis_cluster_stats_get(lr, &cs);
  cr_assert_gt(cs.retried, 1, "retried with a backoff");
  expect_ok(node_cmd(owner, "CLUSTER ADDSLOTS %d", slot), "ADDSLOTS");
  expect_ok(node_cmd(owner, "CONFIG SET cluster-require-full-coverage yes"),
            "CONFIG");
  got(s, "w1", 31.2);
  a = submit_on_loop(base, l, "q2");
  cr_assert(a.calls == 1 && a.st == CM_OK, "q2: %d calls, %d", a.calls, a.st);
  cm_store_free(s);
  cm_ledger_free(l);
  cm_redis_free(lr);
  cm_redis_free(r);
  event_base_free(base);
}

/* The slot taken from owner (CLUSTER DELSLOTS) served by it again, and
 * the cluster whole again in its own view, within 2 s. */
static void slot_back(int owner, int slot) {
  expect_ok(node_cmd(owner, "CLUSTER ADDSLOTS %d", slot), "ADDSLOTS");
  expect_ok(node_cmd(owner, "CONFIG SET cluster-require-full-coverage yes"),
            "CONFIG");
  int ok = 0;
  for (int i = 0; i < 100 && !ok; i++) {
    redisReply *rep = node_cmd(owner, "CLUSTER INFO");
    ok = rep && rep->type == REDIS_REPLY_STRING &&
         strstr(rep->str, "cluster_state:ok");
    if (rep)
      freeReplyObject(rep);
    if (!ok)
      cm_test_sleep_ms(20);
  }
  cr_assert(ok, "the cluster is whole again on %d", owner);
}

typedef struct order { /* completions, in the order they ran */
  char name[8][8];     /* whose */
  cm_status st[8];     /* with what */
  int n;               /* how many */
} order;

typedef struct tagged { /* one proposal's completion context */
  order *o;
  const char *name;
} tagged;

static void on_tagged(void *ctx, cm_status st, const cm_ledger_result *res,
                      int n, const cm_error *err) {
  (void)res;
  (void)n;
  (void)err;
  tagged *t = ctx;
  if (t->o->n < 8) {
    snprintf(t->o->name[t->o->n], sizeof t->o->name[0], "%s", t->name);
    t->o->st[t->o->n] = st;
  }
  t->o->n++;
}

/* Propose the submission of request id on l (completion t). */
static void propose_submit(cm_ledger *l, const char *id, tagged *t) {
  cm_error err;
  cr_assert_eq(cm_fx_propose_submit(l, id, on_tagged, t, &err), CM_OK, "%s",
               err.message);
}

/* Propose an upsert of worker id at lat on l (completion t). */
static void propose_upsert(cm_ledger *l, const char *id, double lat,
                           tagged *t) {
  cm_worker w = worker(id, lat);
  cm_ledger_worker_write ww = {.op = CM_LEDGER_W_UPSERT, .worker = &w};
  cm_error err;
  cr_assert_eq(cm_ledger_worker_propose(l, &ww, on_tagged, t, &err), CM_OK,
               "%s", err.message);
}

static void run_for(struct event_base *base, int ms) {
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  event_base_loopexit(base, &tv);
  event_base_loop(base, 0);
}

/* A region's slot not served for 300 ms under the group commit on a loop
 * (durability = replica): two groups on the wire refused (CLUSTERDOWN)
 * and two proposals made meanwhile are all answered once, CM_OK, in
 * proposal order, the later upsert of the same worker last in Redis; the
 * refused commands were sent again from the loop's timer (the loop kept
 * turning), and so was the WAIT after them. */
Test(redis_cluster, refused_groups_are_sent_again_in_order) {
  int lock = kill_lock(); /* no master killed meanwhile */
  int owner = g_base + 1; /* a node the kill tests leave alone */
  char region[48], key[128];
  region_on(owner, "ord", region, sizeof region);
  int slot = cm__rd_slot_of_region(region);
  cm_error err;
  cm_redis *r = conn(region, NULL);
  struct event_base *base = event_base_new();
  cm_redis *lr = conn(region, base);
  cm_ledger_redis_options lo;
  cm_ledger_redis_options_init(&lo);
  lo.durability = CM_LEDGER_DURABILITY_REPLICA;
  lo.replicas = 1;
  lo.durability_timeout_ms = 1000;
  cm_ledger *l = cm_ledger_redis_new(lr, &lo, &err);
  cr_assert_not_null(l, "%s", err.message);
  cm_store *s = cm_store_redis_open(r, &err);
  cr_assert_not_null(s, "%s", err.message);
  put(s, "w1", 31.20);
  answer a = submit_on_loop(base, l, "q0"); /* connected, scripts loaded */
  cr_assert(a.calls == 1 && a.st == CM_OK, "q0: %d", a.st);
  long long waits = calls_of(owner, "wait");
  cm_redis_cluster_stats st0, st1;
  cm_redis_cluster_stats_get(lr, &st0);
  expect_ok(node_cmd(owner, "CONFIG SET cluster-require-full-coverage no"),
            "CONFIG");
  expect_ok(node_cmd(owner, "CLUSTER DELSLOTS %d", slot), "DELSLOTS");
  order o = {.n = 0};
  tagged t[4] = {{&o, "q1"}, {&o, "w1"}, {&o, "q2"}, {&o, "w1b"}};
  propose_submit(l, "q1", &t[0]);
  cm_ledger_redis_send_now(l); /* a group on the wire */
  propose_upsert(l, "w1", 31.25, &t[1]);
  cm_ledger_redis_send_now(l); /* a second one */
  run_for(base, 20);           /* both refused */
  propose_submit(l, "q2", &t[2]);
  propose_upsert(l, "w1", 31.26, &t[3]);
  int64_t t0 = cm_test_mono_ms(), turns = 0;
  while (cm_test_mono_ms() - t0 < 300) {
    run_for(base, 10);
    turns++;
  }
  cr_assert_eq(o.n, 0, "nothing answered while the slot is not served");
  slot_back(owner, slot);
  for (int i = 0; i < 300 && o.n < 4; i++)
    run_for(base, 20);
  run_for(base, 50); /* a second answer would come now */
  cr_assert_eq(o.n, 4, "each answered once (%d answers)", o.n);
  const char *want[4] = {"q1", "w1", "q2", "w1b"};
  for (int i = 0; i < 4; i++) {
    cr_assert_str_eq(o.name[i], want[i], "answer %d", i);
    cr_assert_eq(o.st[i], CM_OK, "%s: %d", want[i], o.st[i]);
  }
  cm_redis_cluster_stats_get(lr, &st1);
  cr_assert_gt(st1.retried, st0.retried, "sent again");
  cr_assert_geq(calls_of(owner, "wait"), waits + 3,
                "q1's WAIT sent again after its commit, then q2's");
  snprintf(key, sizeof key, "cm:{%s}:req:q1", region);
  cr_assert(holds(owner, key));
  snprintf(key, sizeof key, "cm:{%s}:req:q2", region);
  cr_assert(holds(owner, key));
  got(s, "w1", 31.26); /* the later upsert last */
  cr_log_info("%lld loop turns of 10 ms in 300 ms while refused",
              (long long)turns);
  cm_store_free(s);
  cm_ledger_free(l);
  cm_redis_free(lr);
  cm_redis_free(r);
  event_base_free(base);
  close(lock);
}

Test(redis_cluster, urls_name_the_cluster_nodes) {
  cm_redis_url u;
  cm_error err;
  char buf[512];
  cr_assert_eq(cm_redis_url_parse(
                   "redis+cluster://ops:pw@h1:7000,[::1]:7001,h3", &u, &err),
               CM_OK, "%s", err.message);
  cr_assert(u.cluster);
  cr_assert_str_eq(u.host, "h1");
  cr_assert_eq(u.port, 7000);
  cr_assert_str_eq(u.seeds, "h1:7000,[::1]:7001,h3:6379");
  cr_assert_str_eq(u.password, "pw");
  cr_assert_str_eq(cm_redis_url_format(&u, 1, buf, sizeof buf),
                   "redis+cluster://ops:***@h1:7000,[::1]:7001,h3:6379");
  cr_assert_eq(cm_redis_url_parse("redis://h:1", &u, &err), CM_OK);
  cr_assert(!u.cluster && !u.seeds[0]);
  const char *bad[] = {"redis+cluster://h1:7000,,h2:7001",
                       "redis+cluster://h1:7000/2", "redis+cluster://h1:x",
                       "redis+cluster://h1:7000,h2:99999"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    cr_assert_eq(cm_redis_url_parse(bad[i], &u, &err), CM_E_INVALID, "%s",
                 bad[i]);
  cm_redis_options o;
  cm_redis_options_init(&o);
  o.cluster = 1;
  o.seeds = "h1:7000,nonsense";
  cr_assert_null(cm_redis_new("127.0.0.1", g_base, "x", &o, &err));
  cr_assert_str_eq(err.field, "$.seeds");
  o.seeds = NULL;
  o.db = 1;
  cr_assert_null(cm_redis_new("127.0.0.1", g_base, "x", &o, &err));
  cr_assert_str_eq(err.field, "$.db");
  /* a server that is not in cluster mode says so */
  o.db = 0;
  o.connect_later = 0;
  int plain = cm_test_free_port();
  pid_t pid = cm_test_server_start_args(plain, (const char *const[]){NULL});
  cm_redis *r = cm_redis_new("127.0.0.1", plain, "x", &o, &err);
  cr_assert_null(r);
  cr_assert_eq(err.code, CM_E_IO, "%s", err.message);
  cr_assert(strstr(err.message, "not in cluster mode"), "%s", err.message);
  cm_test_server_kill(pid, SIGTERM);
}

/* ---- the owner lookup without waiting (docs/async-log.md, step j) ---- */

/* The relay's function: CLIENT PAUSE ms ALL on the node at port, so the
 * CLUSTER SHARDS about to reach it waits (the cluster bus does not). */
typedef struct pause_at {
  int port, ms;
} pause_at;

static void pause_node(void *ctx) {
  const pause_at *p = ctx;
  redisReply *rep = node_cmd(p->port, "CLIENT PAUSE %d ALL", p->ms);
  if (rep)
    freeReplyObject(rep);
}

/* A live master serving slots and a replica (ports). */
static void master_and_replica(int *master, int *replica) {
  node_info ns[16];
  int n = nodes(ns, 16);
  *master = *replica = 0;
  for (int i = 0; i < n; i++) {
    if (ns[i].master && ns[i].n_ranges && !*master)
      *master = ns[i].port;
    if (!ns[i].master && strcmp(ns[i].master_id, "-") && !*replica)
      *replica = ns[i].port;
  }
  cr_assert(*master && *replica, "a master and a replica");
}

/* A connection on a loop whose first node to ask (before a real master)
 * is a replica that holds its CLUSTER SHARDS (CLIENT PAUSE, at exactly
 * that command: a relay watches for it). cm_redis_connect_async returns at
 * once; the seed is given up after timeout_ms (300) from the loop's
 * callbacks, the next node names the owner, and the connection is up on
 * it. The synchronous lookup held the caller for the timeout. */
Test(redis_cluster, an_owner_lookup_on_a_loop_never_waits) {
  int lock = kill_lock();
  int master, replica;
  master_and_replica(&master, &replica);
  char region[48], seeds[64];
  region_on(master, "look", region, sizeof region);
  pause_at pa = {replica, 800};
  cm_test_hold *h = cm_test_hold_start(replica, "SHARDS", pause_node, &pa);
  cr_assert_not_null(h);
  snprintf(seeds, sizeof seeds, "127.0.0.1:%d", cm_test_hold_port(h));
  struct event_base *base = event_base_new();
  cm_redis_options o;
  cm_error err;
  cm_redis_options_init(&o);
  o.cluster = 1;
  o.base = base;
  o.timeout_ms = 300;
  o.seeds = seeds;
  o.connect_later = 1;
  /* the address given is asked last (as the node a connection was on) */
  cm_redis *r = cm_redis_new("127.0.0.1", master, region, &o, &err);
  cr_assert_not_null(r, "%s", err.message);
  int64_t t0 = cm_test_mono_ms();
  cr_assert_eq(cm_redis_connect_async(r, &err), CM_OK, "%s", err.message);
  int64_t returned = cm_test_mono_ms() - t0;
  cr_assert(cm_redis_connecting(r), "asking the nodes");
  while (!cm_redis_connected(r) && cm_test_mono_ms() - t0 < 3000) {
    struct timeval tv = {0, 10000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
  }
  int64_t up = cm_test_mono_ms() - t0;
  cr_assert_lt(returned, 100, "the call waited %lld ms", (long long)returned);
  cr_assert(cm_redis_connected(r), "up after %lld ms: %s", (long long)up,
            cm_redis_last_error(r));
  cr_assert_gt(cm_test_hold_fired_ms(h), 0, "the seed was asked");
  cr_assert_geq(up, 300, "the paused seed was given its timeout");
  cr_assert_eq(node_port(r), master, "on the slot's master");
  cm_redis_cluster_stats cs;
  cm_redis_cluster_stats_get(r, &cs);
  cr_assert_geq(cs.node_failures, 1, "the paused seed counted");
  cm_redis_free(r);
  event_base_free(base);
  cm_test_hold_stop(h);
  close(lock);
}

/* carematchd whose only seed holds its CLUSTER SHARDS for 2.5 s (CLIENT
 * PAUSE at exactly that command): it listens within 1.8 s, answers
 * /healthz, /readyz (503) and a GET (503) within 300 ms meanwhile, and
 * once the seed answers it connects to the slot's master, recovers and
 * serves a write there. The synchronous lookup between two turns held
 * the loop, and the start, for the pause. */
Test(redis_cluster, carematchd_serves_while_its_seed_is_paused) {
  int lock = kill_lock();
  int master, replica;
  master_and_replica(&master, &replica);
  char region[48], ini[256];
  region_on(master, "seed", region, sizeof region);
  pause_at pa = {replica, 2500};
  cm_test_hold *h = cm_test_hold_start(replica, "SHARDS", pause_node, &pa);
  cr_assert_not_null(h);
  snprintf(ini, sizeof ini,
           "[store]\nredis = redis+cluster://127.0.0.1:%d\nregion = %s\n"
           "sweep_ms = 0\n",
           cm_test_hold_port(h), region);
  cm_test_daemon d;
  cm_test_daemon_config(&d, ini);
  int64_t t0 = cm_test_mono_ms();
  cm_test_daemon_start(&d, NULL);
  int64_t started = cm_test_mono_ms() - t0, fired = cm_test_hold_fired_ms(h),
          worst = 0;
  cr_assert_gt(fired, 0, "the seed was asked");
  while (cm_test_mono_ms() - fired < pa.ms - 300) {
    const char *paths[3] = {"/healthz", "/readyz", "/v1/requests/x"};
    const long want[3] = {200, 503, 503};
    for (int i = 0; i < 3; i++) {
      int64_t t = cm_test_mono_ms();
      cm_test_reply rr =
          cm_test_http(d.port, "GET", paths[i], TOK_PLATFORM, NULL, NULL);
      worst = cm_test_mono_ms() - t > worst ? cm_test_mono_ms() - t : worst;
      cr_assert_eq(rr.code, want[i], "%s: %ld %s", paths[i], rr.code, rr.text);
      cm_test_reply_free(&rr);
    }
    cm_test_sleep_ms(20);
  }
  cr_log_info("carematchd listened after %lld ms; the longest call while "
              "its seed was paused: %lld ms",
              (long long)started, (long long)worst);
  cr_assert_lt(started, 1800, "listening after %lld ms", (long long)started);
  cr_assert_lt(worst, 300, "the loop was held %lld ms", (long long)worst);
  int ready = 0;
  for (int64_t end = cm_test_mono_ms() + 8000;
       !ready && cm_test_mono_ms() < end;) {
    cm_test_reply rr = cm_test_http(d.port, "GET", "/readyz", NULL, NULL, NULL);
    ready = rr.code == 200;
    cm_test_reply_free(&rr);
    if (!ready)
      cm_test_sleep_ms(20);
  }
  cr_assert(ready, "ready once the seed answered");
  cm_test_reply rr = cm_test_http(
      d.port, "PUT", "/v1/workers/w1", TOK_PLATFORM,
      "{\"skills\":[\"nurse\"],\"lat\":31.23,\"lon\":121.47}", NULL);
  cr_assert_eq(rr.code, 200, "%s", rr.text);
  cm_test_reply_free(&rr);
  char key[128];
  snprintf(key, sizeof key, "cm:{%s}:workers", region);
  cr_assert(holds(master, key), "written on the slot's master");
  cm_test_daemon_stop(&d, SIGTERM);
  cm_test_daemon_cleanup(&d);
  cm_test_hold_stop(h);
  close(lock);
}

typedef struct writes {       /* what a writer process saw */
  int ok, unavailable, other; /* PUTs answered 200, 503, anything else */
  int last_ok;                /* the last write answered 200 (-1 none) */
} writes;

/* A writer process: PUT /v1/workers/<id> with a new latitude each time
 * (31.2 + k / 10000), one at a time, until end_ms (cm_test_mono_ms);
 * what it saw goes to fd. */
static void writer(int port, const char *id, int64_t end_ms, int fd) {
  writes w = {0, 0, 0, -1};
  char path[96], body[160];
  snprintf(path, sizeof path, "/v1/workers/%s", id);
  for (int k = 0; cm_test_mono_ms() < end_ms; k++) {
    snprintf(body, sizeof body,
             "{\"skills\":[\"nurse\"],\"lat\":%.4f,\"lon\":121.47}",
             31.2 + k / 10000.0);
    cm_test_reply rr =
        cm_test_http(port, "PUT", path, TOK_PLATFORM, body, NULL);
    if (rr.code == 200) {
      w.ok++;
      w.last_ok = k;
    } else if (rr.code == 503) {
      w.unavailable++;
    } else {
      w.other++;
    }
    cm_test_reply_free(&rr);
  }
  if (write(fd, &w, sizeof w) != (ssize_t)sizeof w)
    _exit(2);
  _exit(0);
}

#define N_WRITERS 4

typedef struct writers { /* N_WRITERS writer processes */
  pid_t pid[N_WRITERS];
  int fd[N_WRITERS];
  char id[N_WRITERS][16];
  writes w[N_WRITERS];
} writers;

/* Start the writers on the daemon at port, writing workers c0, c1, ...
 * until end_ms. */
static void writers_start(writers *ws, int port, int64_t end_ms) {
  for (int i = 0; i < N_WRITERS; i++) {
    int p[2];
    cr_assert_eq(pipe(p), 0);
    snprintf(ws->id[i], sizeof ws->id[i], "c%d", i);
    ws->pid[i] = fork();
    cr_assert_geq(ws->pid[i], 0);
    if (ws->pid[i] == 0) {
      close(p[0]);
      writer(port, ws->id[i], end_ms, p[1]);
    }
    close(p[1]);
    ws->fd[i] = p[0];
  }
}

/* Wait for the writers and read what they saw. */
static void writers_end(writers *ws) {
  for (int i = 0; i < N_WRITERS; i++) {
    int st;
    cr_assert_eq(read(ws->fd[i], &ws->w[i], sizeof ws->w[i]),
                 (ssize_t)sizeof ws->w[i]);
    close(ws->fd[i]);
    cr_assert_eq(waitpid(ws->pid[i], &st, 0), ws->pid[i]);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_log_info("writer %s: %d ok, %d unavailable, %d other", ws->id[i],
                ws->w[i].ok, ws->w[i].unavailable, ws->w[i].other);
  }
}

/* Every writer was answered 200 only, at least once, and the last write
 * acknowledged to each is what the node at port holds. */
static void writers_check(const writers *ws, int port, const char *region) {
  for (int i = 0; i < N_WRITERS; i++) {
    const char *id = ws->id[i];
    cr_assert_eq(ws->w[i].other, 0, "%s: only 200 or 503", id);
    cr_assert_eq(ws->w[i].unavailable, 0,
                 "%s: the writes held were sent again, not refused", id);
    cr_assert_gt(ws->w[i].ok, 0, "%s: written", id);
    redisReply *rep = node_cmd(port, "HGET cm:{%s}:worker:%s lat", region, id);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING, "%s in Redis", id);
    cr_assert_float_eq(atof(rep->str), 31.2 + ws->w[i].last_ok / 10000.0, 1e-6,
                       "%s: the last write acknowledged is Redis's (%s)", id,
                       rep->str);
    freeReplyObject(rep);
  }
}

/* The longest /healthz of the daemon at port, asked every 20 ms for ms
 * (each must answer 200). */
static int64_t healthz_worst(int port, int ms) {
  int64_t t0 = cm_test_mono_ms(), worst = 0;
  int calls = 0;
  while (cm_test_mono_ms() - t0 < ms) {
    int64_t t = cm_test_mono_ms();
    cm_test_reply rr =
        cm_test_http(port, "GET", "/healthz", TOK_PLATFORM, NULL, NULL);
    int64_t took = cm_test_mono_ms() - t;
    worst = took > worst ? took : worst;
    cr_assert_eq(rr.code, 200, "/healthz: %ld %s", rr.code, rr.text);
    cm_test_reply_free(&rr);
    calls++;
    cm_test_sleep_ms(20);
  }
  cr_log_info("/healthz: %d calls in %d ms, the longest %lld ms", calls, ms,
              (long long)worst);
  return worst;
}

/* Start carematchd on the cluster for region and wait until ready. */
static void daemon_on(cm_test_daemon *d, const char *region) {
  char ini[256];
  snprintf(ini, sizeof ini,
           "[store]\nredis = redis+cluster://127.0.0.1:%d\nregion = %s\n"
           "sweep_ms = 0\n",
           g_base, region);
  cm_test_daemon_config(d, ini);
  cm_test_daemon_start(d, NULL);
  int ready = 0;
  for (int i = 0; i < 300 && !ready; i++) {
    cm_test_reply rr =
        cm_test_http(d->port, "GET", "/readyz", NULL, NULL, NULL);
    ready = rr.code == 200;
    cm_test_reply_free(&rr);
    if (!ready)
      cm_test_sleep_ms(20);
  }
  cr_assert(ready, "ready on the cluster");
}

/* The region's slot refuses every command for 1.2 s (CLUSTERDOWN: the
 * owner stops serving it, as between a master's death and its
 * replica's promotion) while four clients write workers: the loop
 * connection's commands are sent again from a timer (they used to be
 * retried from inside their reply callback, sleeping between tries), so
 * /healthz answers within 300 ms throughout, the writes held meanwhile
 * complete once the slot is served again, and what each writer was last
 * told was written is what Redis holds. */
Test(redis_cluster, carematchd_serves_while_its_slot_is_down) {
  int lock = kill_lock();
  int owner = g_base + 1; /* a node the kill tests leave alone */
  char region[48];
  region_on(owner, "cd", region, sizeof region);
  int slot = cm__rd_slot_of_region(region);
  cm_test_daemon d;
  daemon_on(&d, region);
  expect_ok(node_cmd(owner, "CONFIG SET cluster-require-full-coverage no"),
            "CONFIG");
  expect_ok(node_cmd(owner, "CLUSTER DELSLOTS %d", slot), "DELSLOTS");
  writers ws;
  writers_start(&ws, d.port, cm_test_mono_ms() + 1700);
  int64_t worst = healthz_worst(d.port, 1200);
  slot_back(owner, slot);
  writers_end(&ws);
  cr_assert_lt(worst, 300, "the loop was held %lld ms", (long long)worst);
  writers_check(&ws, owner, region);
  long long retried = metric(d.port, "carematch_redis_cluster_retried_total");
  cr_log_info("refusals sent again: %lld", retried);
  cr_assert_gt(retried, 0, "the slot did refuse the writes");
  cm_test_daemon_stop(&d, SIGTERM);
  cm_test_daemon_cleanup(&d);
  close(lock);
}

/* The region's slot migrates to another master while four clients write
 * workers: its keys moved, the slot left half-migrated for 1 s (the
 * scripts get ASK or TRYAGAIN: they are sent again after a backoff),
 * then handed over (the old owner answers MOVED: the loop connection
 * moves and they are sent again there). /healthz answers within 300 ms
 * throughout, and every write lands once, on the new owner. */
Test(redis_cluster, carematchd_serves_while_its_slot_migrates) {
  int lock = kill_lock();
  int src = g_base + 1, dst = g_base; /* nodes the kill tests leave alone */
  char region[48], sid[48], did[48];
  region_on(src, "cm", region, sizeof region);
  int slot = cm__rd_slot_of_region(region);
  cm_test_daemon d;
  daemon_on(&d, region);
  id_of(src, sid);
  id_of(dst, did);
  writers ws;
  writers_start(&ws, d.port, cm_test_mono_ms() + 1800);
  cm_test_sleep_ms(100); /* writes under way */
  expect_ok(node_cmd(dst, "CLUSTER SETSLOT %d IMPORTING %s", slot, sid), "IMP");
  expect_ok(node_cmd(src, "CLUSTER SETSLOT %d MIGRATING %s", slot, did), "MIG");
  migrate_keys(src, dst, slot);
  int64_t worst = healthz_worst(d.port, 1000);
  for (int i = 0; i < 6; i++) {
    redisReply *rep =
        node_cmd(g_base + i, "CLUSTER SETSLOT %d NODE %s", slot, did);
    if (rep)
      freeReplyObject(rep); /* replicas refuse: fine */
  }
  int64_t after = healthz_worst(d.port, 400);
  writers_end(&ws);
  cr_assert_lt(worst, 300, "the loop was held %lld ms", (long long)worst);
  cr_assert_lt(after, 300, "the loop was held %lld ms", (long long)after);
  writers_check(&ws, dst, region);
  long long moved = metric(d.port, "carematch_redis_cluster_moved_total");
  cr_log_info("MOVED seen: %lld, refusals sent again: %lld", moved,
              metric(d.port, "carematch_redis_cluster_retried_total"));
  cr_assert_gt(moved, 0, "the slot's old owner answered MOVED");
  cm_test_daemon_stop(&d, SIGTERM);
  cm_test_daemon_cleanup(&d);
  close(lock);
}
