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
 * counts in its hash.
 *
 * With region leases (docs/ha.md) the stream also holds a "lease" entry
 * at each acquisition (lease.lua) and every event the epoch its writer's
 * fence carried (commit.lua): from the first lease entry on, every offer
 * must carry the epoch of the latest lease entry before it, i.e. no offer
 * was committed under a stale epoch. --lease requires lease entries.
 * --faults FILE (lines "<kind> <wall clock ms> [<probe id>]", written by
 * scripts/chaos_ha.sh) adds, per fault, the time to the next lease
 * acquisition, to the next offer, and to the first offer under that
 * acquisition's epoch (the new holder's; stream entry ids are Redis's
 * clock, the same machine's as the script's),
 * and the requests that waited meanwhile (submitted before that offer,
 * first offered after the fault) with their submit-to-offer times, and
 * the submit-to-offer time of the emergency (probe) sent at the fault.
 * Exit 0 when every check passes, 1 otherwise. */
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
  long long sub_ms, off_ms; /* requests: stream ms of submission, 1st offer */
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

#define FAULT_MAX 256

typedef struct fault {
  char kind[32];            /* as the chaos script names it */
  long long at_ms;          /* wall clock when it was made */
  long long lease_ms;       /* stream ms of the next acquisition (0: none) */
  long long offer_ms;       /* stream ms of the next offer (0: none) */
  long long new_epoch;      /* the epoch of that next acquisition */
  long long new_offer_ms;   /* stream ms of its first offer (0: none) */
  int waiting, emergencies; /* pending at some time in [at_ms, offer_ms] */
  long long max_wait_ms, max_emergency_wait_ms; /* their submit to offer */
  char probe[64];          /* the emergency sent at the fault ("-": none) */
  long long probe_wait_ms; /* its submit to first offer (-1: none) */
} fault;

typedef struct check {
  redisContext *c;
  const char *region;
  table reqs, workers;
  long events, offers, violations, mismatches, acked, missing;
  int max_holds;
  long leases, stale, unfenced; /* lease entries; offers off the epoch */
  long long epoch, max_epoch;   /* the latest lease entry's epoch */
  fault faults[FAULT_MAX];      /* --faults */
  int nfaults;
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

/* A lease entry: the epoch offers must carry from here on; the faults'
 * next acquisitions. */
static void lease_entry(check *k, const redisReply *kv, long long ms) {
  k->leases++;
  k->epoch = atoll(field(kv, "epoch"));
  if (k->epoch > k->max_epoch)
    k->max_epoch = k->epoch;
  for (int i = 0; i < k->nfaults; i++)
    if (!k->faults[i].lease_ms && ms >= k->faults[i].at_ms) {
      k->faults[i].lease_ms = ms;
      k->faults[i].new_epoch = k->epoch;
    }
}

/* An offer's epoch against the latest lease entry's (none yet: no lease
 * in use, the offer is not fenced); the faults' next offers. */
static void offer_epoch(check *k, const redisReply *kv, long long ms) {
  long long e = atoll(field(kv, "epoch"));
  if (!k->leases)
    k->unfenced++;
  else if (e != k->epoch) {
    k->stale++;
    if (k->stale <= 10)
      fprintf(stderr, "stale epoch: offer of %s under epoch %lld, lease %lld\n",
              field(kv, "request"), e, k->epoch);
  }
  for (int i = 0; i < k->nfaults; i++) {
    fault *x = &k->faults[i];
    if (!x->offer_ms && ms >= x->at_ms)
      x->offer_ms = ms;
    if (!x->new_offer_ms && x->lease_ms && e == x->new_epoch)
      x->new_offer_ms = ms;
  }
}

static void event(check *k, const redisReply *kv, long long ms) {
  const char *type = field(kv, "type"), *rid = field(kv, "request"),
             *wid = field(kv, "worker"), *to = field(kv, "to");
  k->events++;
  if (!strcmp(type, "lease")) {
    lease_entry(k, kv, ms);
    return;
  }
  if (!strcmp(type, "submitted")) {
    int q = find(&k->reqs, rid, 1);
    if (q >= 0 && !k->reqs.e[q].sub_ms)
      k->reqs.e[q].sub_ms = ms;
  }
  if (!strcmp(type, "offered") && *wid) {
    int q = find(&k->reqs, rid, 1);
    int w = worker_slot(k, wid);
    if (w < 0 || q < 0)
      return;
    entry *re = &k->reqs.e[q], *we = &k->workers.e[w];
    k->offers++;
    offer_epoch(k, kv, ms);
    if (!re->off_ms)
      re->off_ms = ms;
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
  const char *region, *acked, *out, *faults;
  int port, lease;
} options;

/* The command line into *o. Returns 0, or -1 (usage printed) without
 * --region or --acked. */
static int parse_args(int argc, char **argv, options *o) {
  o->region = o->acked = o->out = o->faults = NULL;
  o->port = 6379;
  o->lease = 0;
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--lease")) {
      o->lease = 1;
      for (int j = i; j + 1 < argc; j++)
        argv[j] = argv[j + 1];
      argc--;
      i--;
    }
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--faults"))
      o->faults = argv[i + 1];
    else if (!strcmp(argv[i], "--port"))
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
                    "[--lease] [--faults FILE] [--out FILE.json]\n");
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
      event(k, r->element[i]->element[1],
            atoll(r->element[i]->element[0]->str));
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

/* The faults of the file (lines "<kind> <wall clock ms>") into k.
 * Returns 0, or -1 when the file cannot be read. */
static int read_faults(check *k, const char *path) {
  FILE *f = fopen(path, "r");
  char line[256];
  if (!f)
    return -1;
  while (k->nfaults < FAULT_MAX && fgets(line, sizeof line, f)) {
    fault *x = &k->faults[k->nfaults];
    snprintf(x->probe, sizeof x->probe, "-");
    if (sscanf(line, "%31s %lld %63s", x->kind, &x->at_ms, x->probe) >= 2)
      k->nfaults++;
  }
  fclose(f);
  return 0;
}

/* Whether the request's record in Redis says emergency (urgency 0); 0
 * when the record is gone (a finished record expires). */
static int emergency(check *k, const char *id) {
  redisReply *r = redisCommand(k->c, "HGET cm:{%s}:req:%s rec", k->region, id);
  int yes = 0;
  if (r && r->type == REDIS_REPLY_STRING) {
    const char *u = strstr(r->str, "\"urgency\"");
    if (u) {
      u += 9;
      while (*u == ':' || *u == ' ')
        u++;
      yes = *u == '0';
    }
  }
  freeReplyObject(r);
  return yes;
}

/* Per fault, the requests that waited through it (submitted before the
 * next offer, first offered after the fault) and how long each waited
 * from its submission to its first offer. */
static void measure_faults(check *k) {
  for (int i = 0; i < k->nfaults; i++) {
    fault *x = &k->faults[i];
    int p = strcmp(x->probe, "-") ? find(&k->reqs, x->probe, 0) : -1;
    x->probe_wait_ms = p >= 0 && k->reqs.e[p].off_ms && k->reqs.e[p].sub_ms
                           ? k->reqs.e[p].off_ms - k->reqs.e[p].sub_ms
                           : -1;
    long long end = x->new_offer_ms ? x->new_offer_ms : x->offer_ms;
    if (!end)
      continue;
    for (size_t j = 0; j < k->reqs.cap; j++) {
      entry *q = &k->reqs.e[j];
      if (!q->used || !q->sub_ms || q->sub_ms > end || q->off_ms < x->at_ms)
        continue;
      long long wait = q->off_ms - q->sub_ms;
      x->waiting++;
      if (wait > x->max_wait_ms)
        x->max_wait_ms = wait;
      if (emergency(k, q->key)) {
        x->emergencies++;
        if (wait > x->max_emergency_wait_ms)
          x->max_emergency_wait_ms = wait;
      }
    }
  }
}

/* The summary as one JSON line, on stdout and into out (when given). */
static void report(const check *k, int ok, const char *out) {
  FILE *o = out ? fopen(out, "w") : NULL;
  FILE *to[2] = {stdout, o};
  for (int t = 0; t < 2; t++) {
    FILE *f = to[t];
    if (!f)
      continue;
    fprintf(f,
            "{\"events\":%ld,\"offers\":%ld,\"workers\":%zu,"
            "\"max_holds\":%d,\"double_bookings\":%ld,\"jobs_mismatches\":%ld,"
            "\"acknowledged\":%ld,\"missing\":%ld,\"lease_entries\":%ld,"
            "\"max_epoch\":%lld,\"stale_epoch_offers\":%ld,"
            "\"unfenced_offers\":%ld,\"faults\":[",
            k->events, k->offers, k->workers.n, k->max_holds, k->violations,
            k->mismatches, k->acked, k->missing, k->leases, k->max_epoch,
            k->stale, k->unfenced);
    for (int i = 0; i < k->nfaults; i++) {
      const fault *x = &k->faults[i];
      fprintf(f,
              "%s{\"kind\":\"%s\",\"to_lease_ms\":%lld,\"to_offer_ms\":%lld,"
              "\"to_new_holder_offer_ms\":%lld,"
              "\"waited_meanwhile\":%d,\"max_wait_ms\":%lld,"
              "\"emergencies_meanwhile\":%d,\"max_emergency_wait_ms\":%lld,"
              "\"probe_wait_ms\":%lld}",
              i ? "," : "", x->kind, x->lease_ms ? x->lease_ms - x->at_ms : -1,
              x->offer_ms ? x->offer_ms - x->at_ms : -1,
              x->new_offer_ms ? x->new_offer_ms - x->at_ms : -1, x->waiting,
              x->max_wait_ms, x->emergencies, x->max_emergency_wait_ms,
              x->probe_wait_ms);
    }
    fprintf(f, "],\"ok\":%s}\n", ok ? "true" : "false");
  }
  if (o)
    fclose(o);
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
  if ((o.faults && read_faults(&k, o.faults) != 0) || replay_events(&k) != 0) {
    fprintf(stderr, "chaos_check: cannot read %s\n",
            o.faults ? o.faults : "the events");
    check_free(&k);
    return 2;
  }
  check_jobs(&k);
  measure_faults(&k);
  int read = check_acked(&k, o.acked) == 0;
  int ok = read && k.violations == 0 && k.mismatches == 0 && k.missing == 0 &&
           k.acked > 0 && k.offers > 0 && k.stale == 0 &&
           (!o.lease || (k.leases > 0 && k.unfenced == 0));
  report(&k, ok, o.out);
  check_free(&k);
  return ok ? 0 : 1;
}
