/* chaos_mirror.c -- after a chaos run (scripts/chaos.sh), with the last
 * daemon still running: does the daemon's view equal Redis's?
 *
 *   chaos_mirror --redis-port N --region R --daemon-port P --token T
 *                --acked FILE [--rounds K] [--quiesce-ms MS]
 *
 * First it waits until the daemon has caught up with Redis: its /metrics
 * shows no rebuild pending, and every entry of cm:{R}:changes after the
 * one it has read (carematch_ledger_follow_position) is its own (tagged
 * with its origin). Then it compares every worker Redis holds (jobs and
 * status: GET /v1/workers/<id> against the hash) and every request (the
 * acknowledged ids and Redis's live set: state, and the workers with their
 * accepted flags: GET /v1/requests/<id> against the record). The daemon's
 * clock still runs (offers lapse, batches offer again), so one side may
 * move between the two reads: Redis is read before and after the daemon,
 * and only a difference with Redis unchanged across the daemon's read
 * counts. A difference is a lag if it goes in a later round, a missed
 * change if it is still there after K rounds (default 5), each after the
 * daemon caught up again. Exit 0 when nothing is missed, 1 otherwise, 2
 * on a usage or connection error or when the daemon does not catch up. */
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ID_MAX 64
#define STAFF_MAX 8

static const char *const req_state[] = {"pending", "offered", "accepted",
                                        "done", "cancelled"};
static const char *const wrk_status[] = {"available", "offered", "busy",
                                         "offline"};

typedef struct cfg {
  redisContext *c;
  const char *region, *token;
  int dport;
} cfg;

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* GET path from the daemon: the body (caller frees) and *code, or NULL. */
static char *http_get(const cfg *k, const char *path, int *code) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)k->dport);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    if (fd >= 0)
      close(fd);
    return NULL;
  }
  char req[512];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                   "Authorization: Bearer %s\r\n\r\n",
                   path, k->token);
  if (write(fd, req, (size_t)n) != n) {
    close(fd);
    return NULL;
  }
  size_t len = 0, cap = 8192;
  char *buf = malloc(cap);
  ssize_t got;
  while (buf && (got = read(fd, buf + len, cap - len - 1)) > 0) {
    len += (size_t)got;
    if (cap - len < 1024) {
      char *p = realloc(buf, cap *= 2);
      if (!p) {
        free(buf);
        buf = NULL;
      }
      buf = p;
    }
  }
  close(fd);
  if (!buf)
    return NULL;
  buf[len] = '\0';
  char *body = strstr(buf, "\r\n\r\n");
  if (sscanf(buf, "HTTP/%*s %d", code) != 1 || !body) {
    free(buf);
    return NULL;
  }
  memmove(buf, body + 4, strlen(body + 4) + 1);
  return buf;
}

static json_t *http_json(const cfg *k, const char *path, int *code) {
  char *body = http_get(k, path, code);
  json_t *j = body ? json_loads(body, 0, NULL) : NULL;
  free(body);
  return j;
}

/* ---- caught up ---- */

/* 1 when the daemon has no rebuild pending and every change entry after
 * its position is its own; 0 not yet; -1 on error. */
static int caught_up(const cfg *k) {
  int code = 0;
  char *m = http_get(k, "/metrics", &code);
  if (!m || code != 200) {
    free(m);
    return -1;
  }
  char id[64] = "", origin[32] = "";
  const char *p = strstr(m, "carematch_ledger_follow_position{id=\"");
  int pending = 1;
  const char *q = strstr(m, "\ncarematch_ledger_resync_pending ");
  if (q)
    pending = atoi(q + strlen("\ncarematch_ledger_resync_pending "));
  int ok = p && q && !pending &&
           sscanf(p,
                  "carematch_ledger_follow_position{id=\"%63[^\"]\","
                  "origin=\"%31[^\"]\"}",
                  id, origin) == 2;
  free(m);
  if (!ok)
    return 0;
  char from[80];
  snprintf(from, sizeof from, "(%s", id);
  redisReply *r = redisCommand(k->c, "XRANGE cm:{%s}:changes %s + COUNT 10000",
                               k->region, from);
  if (!r || r->type != REDIS_REPLY_ARRAY) {
    freeReplyObject(r);
    return -1;
  }
  int mine = 1;
  for (size_t i = 0; i < r->elements && mine; i++) {
    const redisReply *f = r->element[i]->element[1];
    mine = f->elements >= 2 && f->element[1]->str &&
           !strcmp(f->element[1]->str, origin);
  }
  freeReplyObject(r);
  return mine;
}

/* Wait (up to ms) until caught up twice, 100 ms apart. 0 or -1. */
static int quiesce(const cfg *k, int ms) {
  int streak = 0;
  for (int waited = 0; waited <= ms; waited += 100) {
    int c = caught_up(k);
    if (c < 0)
      return -1;
    streak = c ? streak + 1 : 0;
    if (streak == 2)
      return 0;
    sleep_ms(100);
  }
  return -1;
}

/* ---- the two views ---- */

typedef struct view {
  int state; /* requests: the state; workers: the status */
  int jobs;  /* workers: jobs */
  int n;     /* requests: workers */
  char ids[STAFF_MAX][ID_MAX];
  int acc[STAFF_MAX];
} view;

static const char *text_of(const json_t *j) {
  const char *s = json_string_value(j);
  return s ? s : "";
}

static int name_index(const char *const *names, int n, const char *s) {
  for (int i = 0; s && i < n; i++)
    if (!strcmp(names[i], s))
      return i;
  return -1;
}

static int views_equal(const view *a, const view *b) {
  if (a->state != b->state || a->jobs != b->jobs || a->n != b->n)
    return 0;
  for (int i = 0; i < a->n; i++) {
    int found = 0;
    for (int j = 0; j < b->n && !found; j++)
      found = !strcmp(a->ids[i], b->ids[j]) && a->acc[i] == b->acc[j];
    if (!found)
      return 0;
  }
  return 1;
}

static void view_text(const view *v, int worker, char *out, size_t n) {
  if (worker) {
    snprintf(out, n, "jobs %d, %s", v->jobs,
             v->state >= 0 && v->state < 4 ? wrk_status[v->state] : "?");
    return;
  }
  int len = snprintf(out, n, "%s",
                     v->state >= 0 && v->state < 5 ? req_state[v->state] : "?");
  for (int i = 0; i < v->n && len < (int)n; i++)
    len += snprintf(out + len, n - (size_t)len, " %s%s", v->ids[i],
                    v->acc[i] ? "(accepted)" : "");
}

/* Redis's view of worker or request id; 0, or -1 when absent. */
static int redis_view(const cfg *k, const char *id, int worker, view *v) {
  memset(v, 0, sizeof *v);
  redisReply *r =
      worker
          ? redisCommand(k->c, "HMGET cm:{%s}:worker:%s status jobs", k->region,
                         id)
          : redisCommand(k->c, "HMGET cm:{%s}:req:%s state rec", k->region, id);
  int rc = -1;
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
      r->element[0]->type != REDIS_REPLY_STRING)
    goto out;
  v->state = atoi(r->element[0]->str);
  rc = 0;
  if (worker) {
    v->jobs = r->element[1]->type == REDIS_REPLY_STRING
                  ? atoi(r->element[1]->str)
                  : 0;
    goto out;
  }
  json_t *rec = r->element[1]->type == REDIS_REPLY_STRING
                    ? json_loads(r->element[1]->str, 0, NULL)
                    : NULL;
  json_t *ws = json_object_get(rec, "workers");
  for (size_t i = 0; i < json_array_size(ws) && v->n < STAFF_MAX; i++) {
    json_t *w = json_array_get(ws, i);
    snprintf(v->ids[v->n], ID_MAX, "%s", text_of(json_object_get(w, "id")));
    v->acc[v->n++] = json_is_true(json_object_get(w, "acc"));
  }
  json_decref(rec);
out:
  freeReplyObject(r);
  return rc;
}

/* The daemon's view; 0, or -1 when it does not know id. */
static int daemon_view(const cfg *k, const char *id, int worker, view *v) {
  memset(v, 0, sizeof *v);
  char path[160];
  snprintf(path, sizeof path, "/v1/%s/%s", worker ? "workers" : "requests", id);
  int code = 0;
  json_t *j = http_json(k, path, &code);
  json_t *o = json_object_get(j, worker ? "worker" : "request");
  int rc = code == 200 && o ? 0 : -1;
  if (rc == 0 && worker) {
    v->state = name_index(wrk_status, 4,
                          json_string_value(json_object_get(o, "status")));
    v->jobs = (int)json_integer_value(json_object_get(o, "jobs"));
  } else if (rc == 0) {
    v->state = name_index(req_state, 5,
                          json_string_value(json_object_get(o, "state")));
    json_t *ws = json_object_get(o, "workers");
    for (size_t i = 0; i < json_array_size(ws) && v->n < STAFF_MAX; i++) {
      json_t *w = json_array_get(ws, i);
      snprintf(v->ids[v->n], ID_MAX, "%s", text_of(json_object_get(w, "id")));
      v->acc[v->n++] = json_is_true(json_object_get(w, "accepted"));
    }
  }
  json_decref(j);
  return rc;
}

/* One object compared: 1 differs (Redis unchanged across the daemon's
 * read), 0 equal or moving, -1 absent from one side (for a worker or a
 * request Redis has). */
static int compare(const cfg *k, const char *id, int worker, int report) {
  view r1, d, r2;
  int a = redis_view(k, id, worker, &r1);
  int b = daemon_view(k, id, worker, &d);
  int c = redis_view(k, id, worker, &r2);
  if (a != c || (a == 0 && !views_equal(&r1, &r2)))
    return 0; /* Redis moved meanwhile */
  if (a != 0) /* not in Redis: an acknowledged request expired or lost,
                 chaos_check's affair */
    return 0;
  if (b != 0 || !views_equal(&r1, &d)) {
    if (report) {
      char rt[256], dt[256];
      view_text(&r1, worker, rt, sizeof rt);
      if (b == 0)
        view_text(&d, worker, dt, sizeof dt);
      else
        snprintf(dt, sizeof dt, "unknown");
      fprintf(stderr, "%s %s: daemon %s; Redis %s\n",
              worker ? "worker" : "request", id, dt, rt);
    }
    return 1;
  }
  return 0;
}

/* ---- the ids ---- */

typedef struct ids {
  char (*id)[ID_MAX];
  char *worker;
  int n, cap;
} ids;

static void ids_add(ids *s, const char *id, int worker) {
  for (int i = 0; !worker && i < s->n; i++) /* a live id is acknowledged too */
    if (!s->worker[i] && !strcmp(s->id[i], id))
      return;
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 1024;
    s->id = realloc(s->id, (size_t)s->cap * sizeof *s->id);
    s->worker = realloc(s->worker, (size_t)s->cap);
    if (!s->id || !s->worker) {
      fprintf(stderr, "chaos_mirror: out of memory\n");
      exit(2);
    }
  }
  snprintf(s->id[s->n], ID_MAX, "%s", id);
  s->worker[s->n++] = (char)worker;
}

/* Every worker hash and live request in Redis, and the acknowledged ids. */
static void collect(const cfg *k, const char *acked, ids *s) {
  char pattern[96], prefix[96];
  snprintf(pattern, sizeof pattern, "cm:{%s}:worker:*", k->region);
  int plen = snprintf(prefix, sizeof prefix, "cm:{%s}:worker:", k->region);
  char cursor[32] = "0";
  do {
    redisReply *r =
        redisCommand(k->c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
      freeReplyObject(r);
      break;
    }
    snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
    for (size_t i = 0; i < r->element[1]->elements; i++)
      ids_add(s, r->element[1]->element[i]->str + plen, 1);
    freeReplyObject(r);
  } while (strcmp(cursor, "0") != 0);
  redisReply *r = redisCommand(k->c, "ZRANGE cm:{%s}:live 0 -1", k->region);
  for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
    ids_add(s, r->element[i]->str, 0);
  freeReplyObject(r);
  FILE *f = fopen(acked, "r");
  char id[256];
  while (f && fscanf(f, "%255s", id) == 1)
    ids_add(s, id, 0);
  if (f)
    fclose(f);
}

/* The options that are not the daemon's cfg. */
typedef struct mirror_opts {
  const char *acked;
  int rport, rounds, quiesce_ms;
} mirror_opts;

/* What the rounds found: which ids still differ, how many at first and at
 * the end, and how many rounds ran. */
typedef struct tally {
  char *differs;
  int first, left, rounds;
} tally;

/* The command line into k and o. Returns 0, or 2 with the usage printed. */
static int parse_args(int argc, char **argv, cfg *k, mirror_opts *o) {
  *k = (cfg){NULL, NULL, NULL, 0};
  *o = (mirror_opts){NULL, 6379, 5, 30000};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--redis-port"))
      o->rport = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--region"))
      k->region = argv[i + 1];
    else if (!strcmp(argv[i], "--daemon-port"))
      k->dport = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--token"))
      k->token = argv[i + 1];
    else if (!strcmp(argv[i], "--acked"))
      o->acked = argv[i + 1];
    else if (!strcmp(argv[i], "--rounds"))
      o->rounds = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--quiesce-ms"))
      o->quiesce_ms = atoi(argv[i + 1]);
  }
  if (!k->region || !k->token || !o->acked || k->dport <= 0 || o->rounds < 1) {
    fprintf(stderr, "usage: chaos_mirror --redis-port N --region R "
                    "--daemon-port P --token T --acked FILE [--rounds K] "
                    "[--quiesce-ms MS]\n");
    return 2;
  }
  return 0;
}

/* Connect k to the redis-server on port. Returns 0, or 2 with a message. */
static int redis_connect(cfg *k, int port) {
  k->c = redisConnect("127.0.0.1", port);
  if (!k->c || k->c->err) {
    fprintf(stderr, "chaos_mirror: no redis-server on port %d\n", port);
    return 2;
  }
  return 0;
}

/* Round 1 over every id of s; later rounds over what still differs, each
 * after the daemon caught up. Returns 0, or 2 if it did not catch up. */
static int measure(const cfg *k, const mirror_opts *o, const ids *s, tally *t) {
  int rc = 0, round;
  t->differs = calloc((size_t)s->n + 1, 1);
  t->first = s->n; /* nothing compared yet: a first round that never
                      quiesced leaves lagged at 0, not below */
  t->left = s->n;
  for (int i = 0; i < s->n; i++)
    t->differs[i] = 1;
  for (round = 1; round <= o->rounds && t->left > 0; round++) {
    if (quiesce(k, o->quiesce_ms) != 0) {
      fprintf(stderr,
              "chaos_mirror: the daemon did not catch up with Redis "
              "within %d ms\n",
              o->quiesce_ms);
      rc = 2;
      break;
    }
    t->left = 0;
    for (int i = 0; i < s->n; i++) {
      if (!t->differs[i])
        continue;
      t->differs[i] =
          compare(k, s->id[i], s->worker[i], round == o->rounds) == 1;
      t->left += t->differs[i];
    }
    if (round == 1)
      t->first = t->left;
    if (t->left > 0 && round < o->rounds)
      sleep_ms(300);
  }
  t->rounds = round - 1;
  return rc;
}

/* The JSON line of the outcome on stdout. Returns the exit code: rc, or 1
 * if it is 0 and something still differs. */
static int report(const ids *s, const tally *t, int rc) {
  int workers = 0, missed_w = 0, missed_r = 0;
  for (int i = 0; i < s->n; i++) {
    workers += s->worker[i];
    missed_w += t->differs[i] && s->worker[i];
    missed_r += t->differs[i] && !s->worker[i];
  }
  if (rc == 0 && t->left > 0)
    rc = 1;
  printf("{\"workers\":%d,\"requests\":%d,\"rounds\":%d,\"differed_first\":%d,"
         "\"lagged\":%d,\"missed_workers\":%d,\"missed_requests\":%d,"
         "\"quiesced\":%s,\"ok\":%s}\n",
         workers, s->n - workers, t->rounds, t->first, t->first - t->left,
         missed_w, missed_r, rc == 2 ? "false" : "true",
         rc == 0 ? "true" : "false");
  return rc;
}

int main(int argc, char **argv) {
  cfg k;
  mirror_opts o;
  if (parse_args(argc, argv, &k, &o) != 0 || redis_connect(&k, o.rport) != 0)
    return 2;
  ids s = {NULL, NULL, 0, 0};
  tally t;
  collect(&k, o.acked, &s);
  int rc = report(&s, &t, measure(&k, &o, &s, &t));
  free(t.differs);
  free(s.id);
  free(s.worker);
  redisFree(k.c);
  return rc;
}
