/* chaos_check.c -- after a chaos run (scripts/chaos.sh), check from Redis
 * what carematch promises: every request the daemon acknowledged is
 * there, and no worker was ever double-booked.
 *
 *   chaos_check --port N --region R --acked FILE [--out FILE.json]
 *
 * The event stream cm:{R}:events is replayed from its start: an offer
 * makes the worker hold the request; the request's return to pending
 * (refused, lapsed, withdrawn) or its end (done, cancelled) frees every
 * worker holding it. At no event may a worker hold more requests than its
 * capacity; at the end each worker's holds must equal the jobs the ledger
 * counts in its hash. Exit 0 when every check passes, 1 otherwise. */
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 64
#define HOLD_MAX 8

typedef struct entry {
  char key[KEY_MAX];
  int used;
  int n; /* requests: workers holding it; workers: holds */
  char holders[HOLD_MAX][KEY_MAX]; /* requests: the workers' ids */
  int capacity;                    /* workers: from Redis (-1 unknown yet) */
} entry;

typedef struct table {
  entry *e;
  size_t cap, n;
} table;

static uint64_t hash(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  while (*s)
    h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
  return h;
}

static int find(table *t, const char *key, int add) {
  if (add && (t->n + 1) * 2 > t->cap) {
    table g = {calloc(t->cap ? t->cap * 2 : 4096, sizeof(entry)),
               t->cap ? t->cap * 2 : 4096, 0};
    if (!g.e)
      return -1;
    for (size_t i = 0; i < t->cap; i++)
      if (t->e[i].used) {
        size_t j = hash(t->e[i].key) & (g.cap - 1);
        while (g.e[j].used)
          j = (j + 1) & (g.cap - 1);
        g.e[j] = t->e[i];
        g.n++;
      }
    free(t->e);
    *t = g;
  }
  if (!t->cap)
    return -1;
  size_t i = hash(key) & (t->cap - 1);
  while (t->e[i].used) {
    if (!strcmp(t->e[i].key, key))
      return (int)i;
    i = (i + 1) & (t->cap - 1);
  }
  if (!add)
    return -1;
  t->e[i].used = 1;
  snprintf(t->e[i].key, KEY_MAX, "%s", key);
  t->e[i].capacity = -1;
  t->n++;
  return (int)i;
}

static const char *field(const redisReply *kv, const char *name) {
  for (size_t i = 0; i + 1 < kv->elements; i += 2)
    if (!strcmp(kv->element[i]->str, name))
      return kv->element[i + 1]->str;
  return "";
}

typedef struct check {
  redisContext *c;
  const char *region;
  table reqs, workers;
  long events, offers, violations, mismatches, acked, missing;
  int max_holds;
} check;

static int capacity_of(check *k, const char *worker) {
  redisReply *r =
      redisCommand(k->c, "HGET cm:{%s}:worker:%s capacity", k->region, worker);
  int cap = r && r->type == REDIS_REPLY_STRING ? atoi(r->str) : 1;
  freeReplyObject(r);
  return cap;
}

/* A worker's entry, its capacity read from Redis the first time. */
static int worker_slot(check *k, const char *id) {
  int w = find(&k->workers, id, 1);
  if (w >= 0 && k->workers.e[w].capacity < 0)
    k->workers.e[w].capacity = capacity_of(k, id);
  return w;
}

static void release(check *k, entry *q) {
  for (int i = 0; i < q->n; i++) {
    int w = find(&k->workers, q->holders[i], 0);
    if (w >= 0)
      k->workers.e[w].n--;
  }
  q->n = 0;
}

static void event(check *k, const redisReply *kv) {
  const char *type = field(kv, "type"), *rid = field(kv, "request"),
             *wid = field(kv, "worker"), *to = field(kv, "to");
  k->events++;
  if (!strcmp(type, "offered") && *wid) {
    int q = find(&k->reqs, rid, 1);
    int w = worker_slot(k, wid);
    if (w < 0 || q < 0)
      return;
    entry *re = &k->reqs.e[q], *we = &k->workers.e[w];
    k->offers++;
    if (re->n < HOLD_MAX)
      snprintf(re->holders[re->n++], KEY_MAX, "%s", wid);
    we->n++;
    if (we->n > k->max_holds)
      k->max_holds = we->n;
    if (we->n > we->capacity) {
      k->violations++;
      if (k->violations <= 10)
        fprintf(stderr, "double booking: %s holds %d (capacity %d) at %s\n",
                wid, we->n, we->capacity, field(kv, "at_ms"));
    }
    return;
  }
  if (!strcmp(to, "pending") || !strcmp(to, "done") ||
      !strcmp(to, "cancelled")) {
    int q = find(&k->reqs, rid, 0);
    if (q >= 0)
      release(k, &k->reqs.e[q]);
  }
}

typedef struct options {
  const char *region, *acked, *out;
  int port;
} options;

/* The command line into *o. Returns 0, or -1 (usage printed) without
 * --region or --acked. */
static int parse_args(int argc, char **argv, options *o) {
  o->region = o->acked = o->out = NULL;
  o->port = 6379;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--port"))
      o->port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--region"))
      o->region = argv[i + 1];
    else if (!strcmp(argv[i], "--acked"))
      o->acked = argv[i + 1];
    else if (!strcmp(argv[i], "--out"))
      o->out = argv[i + 1];
  }
  if (!o->region || !o->acked) {
    fprintf(stderr, "usage: chaos_check --port N --region R --acked FILE "
                    "[--out FILE.json]\n");
    return -1;
  }
  return 0;
}

/* Replay the event stream from its start, 5000 entries a round trip.
 * Returns 0, or -1 (said) when XRANGE fails. */
static int replay_events(check *k) {
  char from[64] = "-";
  for (;;) {
    redisReply *r = redisCommand(k->c, "XRANGE cm:{%s}:events %s + COUNT 5000",
                                 k->region, from);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
      fprintf(stderr, "chaos_check: XRANGE failed\n");
      freeReplyObject(r);
      return -1;
    }
    size_t n = r->elements;
    for (size_t i = 0; i < n; i++)
      event(k, r->element[i]->element[1]);
    if (n > 0)
      snprintf(from, sizeof from, "(%s", r->element[n - 1]->element[0]->str);
    freeReplyObject(r);
    if (n < 5000)
      return 0;
  }
}

/* The end: each worker's holds equal the jobs the ledger counts in its
 * hash; the first ten mismatches are said. */
static void check_jobs(check *k) {
  for (size_t i = 0; i < k->workers.cap; i++) {
    entry *w = &k->workers.e[i];
    if (!w->used)
      continue;
    redisReply *r =
        redisCommand(k->c, "HGET cm:{%s}:worker:%s jobs", k->region, w->key);
    int jobs = r && r->type == REDIS_REPLY_STRING ? atoi(r->str) : 0;
    freeReplyObject(r);
    if (jobs != w->n) {
      k->mismatches++;
      if (k->mismatches <= 10)
        fprintf(stderr, "worker %s: %d jobs in Redis, %d held by events\n",
                w->key, jobs, w->n);
    }
  }
}

/* Every acknowledged request (the ids in the file acked) is in Redis; the
 * first ten missing are said. Returns 0, or -1 when the file cannot be
 * read. */
static int check_acked(check *k, const char *acked) {
  FILE *f = fopen(acked, "r");
  char id[256];
  if (!f)
    return -1;
  while (fscanf(f, "%255s", id) == 1) {
    k->acked++;
    redisReply *r = redisCommand(k->c, "EXISTS cm:{%s}:req:%s", k->region, id);
    if (!r || r->integer != 1) {
      k->missing++;
      if (k->missing <= 10)
        fprintf(stderr, "acknowledged request %s is not in Redis\n", id);
    }
    freeReplyObject(r);
  }
  fclose(f);
  return 0;
}

/* The summary as one JSON line, on stdout and into out (when given). */
static void report(const check *k, int ok, const char *out) {
  char json[512];
  snprintf(json, sizeof json,
           "{\"events\":%ld,\"offers\":%ld,\"workers\":%zu,"
           "\"max_holds\":%d,\"double_bookings\":%ld,\"jobs_mismatches\":%ld,"
           "\"acknowledged\":%ld,\"missing\":%ld,\"ok\":%s}",
           k->events, k->offers, k->workers.n, k->max_holds, k->violations,
           k->mismatches, k->acked, k->missing, ok ? "true" : "false");
  printf("%s\n", json);
  if (out) {
    FILE *o = fopen(out, "w");
    if (o) {
      fprintf(o, "%s\n", json);
      fclose(o);
    }
  }
}

static void check_free(check *k) {
  free(k->reqs.e);
  free(k->workers.e);
  redisFree(k->c);
}

int main(int argc, char **argv) {
  options o;
  if (parse_args(argc, argv, &o) != 0)
    return 2;
  check k;
  memset(&k, 0, sizeof k);
  k.region = o.region;
  k.c = redisConnect("127.0.0.1", o.port);
  if (!k.c || k.c->err) {
    fprintf(stderr, "chaos_check: no redis-server on port %d\n", o.port);
    redisFree(k.c);
    return 2;
  }
  if (replay_events(&k) != 0) {
    check_free(&k);
    return 2;
  }
  check_jobs(&k);
  int read = check_acked(&k, o.acked) == 0;
  int ok = read && k.violations == 0 && k.mismatches == 0 && k.missing == 0 &&
           k.acked > 0 && k.offers > 0;
  report(&k, ok, o.out);
  check_free(&k);
  return ok ? 0 : 1;
}
