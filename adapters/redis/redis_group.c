/* redis_group.c -- the Redis ledger's proposals (ledger.h's propose,
 * docs/async.md): group commit on the caller's event base.
 *
 * A proposal is copied into a queue; the first one of a loop turn makes a
 * zero-timeout event active, which runs once the turn's callbacks ran and
 * sends the whole queue as one pipeline: the changes in proposal order,
 * CM__RD_COMMIT_GROUP a commit script call (each change still checked
 * atomically and on its own by the script), then at durability = replica
 * one WAIT, the last command, which covers every write before it, when
 * the group holds a ledger change (worker writes alone are acknowledged
 * at the primary, and a WAIT's verdict is the changes' only). When
 * the group's last reply is in, each proposal's completion runs with its
 * own results, in proposal order. Groups may overlap on the wire: Redis
 * runs one connection's commands in order. A group with no reply for the
 * connection's timeout_ms drops the connection: hiredis then answers every
 * pending command with NULL, and every proposal of the group completes
 * with CM_E_UNAVAILABLE (results unknown: the engine resynchronises).
 *
 * On a connection with a private base nobody runs the loop between calls,
 * so a proposal there is a synchronous commit completed at once (the CLI,
 * the bench, the tests that use the ledger synchronously).
 *
 * The connection is not (re)connected here: its user does that
 * (cm_redis_connect_async between two turns, as carematchd does). A flush
 * that finds its handshake in flight puts itself off until it ended (the
 * handshake's timer bounds that); one that finds it down puts itself off
 * a few times by a few ms when a connect attempt is due (one may come
 * between two turns), and otherwise completes the proposals with
 * CM_E_UNAVAILABLE. On a cluster
 * it puts itself off the same way after a MOVED, so the groups in flight
 * drain and the user can move the connection to the slot's new owner
 * between two turns (cm_redis_move_pending), instead of every later
 * command being refused and sent again.
 *
 * Worker writes (ledger.h's worker_propose) are proposals too, in the
 * same queue, so they keep their place among the takes: an upsert is one
 * upsert script call, a shift one status script call, and positions go
 * in positions script calls of up to POS_CHUNK workers, the positions of
 * consecutive proposals (many single writes of one loop turn, a bulk)
 * sharing calls; a call ends early where a worker repeats, so the later
 * position wins in order. Each proposal is told once all its calls are
 * answered. The positions script skips an unknown worker (the engine
 * checked the ids against its records; one removed meanwhile by another
 * writer is not an error), so no EXISTS round is needed.
 *
 * Positions held (cm_ledger_redis_hold_positions, docs/async.md "Positions
 * held behind an emergency's write"): while a hold lasts, a flush sends the
 * queue's changes and leaves its position writes queued, so an
 * emergency's create and offers do not wait in Redis behind position
 * scripts proposed before them (100 positions cost Redis 0.5-1 ms). Only
 * changes pass positions: an upsert or a shift behind a held position
 * write waits with it, and so does everything behind that (their order
 * with the positions and the takes is kept). The held writes keep their
 * order and go when the hold ends, or at its deadline. One connection
 * still carries everything, so each proposal's completion still runs in
 * the order Redis ran it.
 *
 * NOSCRIPT (the server lost its script cache: a failover, SCRIPT FLUSH):
 * nothing of that script call was written, so its changes are sent again,
 * ahead of what was proposed since, in a group that loads the scripts
 * first (their SHA1s are those of their texts: the same). A proposal is
 * sent again at most NOSCRIPT_ROUNDS times, then fails with CM_E_IO.
 *
 * Redis Cluster (docs/cluster.md): a command answered MOVED, ASK,
 * TRYAGAIN or CLUSTERDOWN did not run, so it is kept (its formatted
 * text) and sent again on the same connection by a timer, never from
 * inside the reply callback and never waiting: TRYAGAIN, CLUSTERDOWN and
 * ASK after a backoff doubling from backoff_min_ms (50 ms at most to
 * start, 400 ms apart) to the same node (an ASK is not followed: a
 * script's keys on an importing node answer TRYAGAIN anyway until the
 * slot is handed over, and then the old owner answers MOVED); a MOVED
 * once the connection moved to the owner named (the timer moves it, as
 * cm_redis_connect_async does between two turns, once none of its
 * commands is in flight). Each command is sent again for timeout_ms
 * from its first refusal at most; then the refusal is its answer and
 * fails its group with CM_E_UNAVAILABLE, as before. While a command
 * waits to be sent again, groups finish in sending order (the groups
 * behind it wait for it, so completions keep proposal order) and new
 * proposals stay queued (sent after it, so a worker's or a request's
 * later writes never overtake it). A group's WAIT is sent again after
 * its commands sent again (a WAIT covers its connection's writes before
 * it); the smaller count of its answers is the group's. */
#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "carematch/engine.h"
#include "carematch/store.h"
#include "redis_cluster.h"
#include "redis_conn.h"
#include "redis_durability.h"
#include "redis_keys.h"
#include "redis_ledger.h"
#include "redis_scripts.h"
#include "redis_worker.h"

#define POS_CHUNK 256 /* workers per positions script call */
#define POS_SLOTS 512 /* a call's id set: a power of 2 above POS_CHUNK */

#define RETRY_FIRST_MS 50 /* cluster: the first retry's wait, at most */
#define RETRY_MAX_MS 400  /* the backoff's doubling stops here */
#define RETRY_POLL_MS 2   /* waiting for a move or a reconnect: look again */
#define AFTER_MAX                                                              \
  4 /* waiters behind a turn's proposals: a follow or a                        \
       rebuild, and the records read again */

typedef struct rd_prop { /* one proposal, copied */
  struct rd_prop *next;
  int n;                  /* its units: changes, or the positions (1 for
                             an upsert or a shift) */
  cm_ledger_worker_op op; /* 0: changes; else the worker write */
  cm_worker worker;       /* UPSERT */
  char (*ids)[CM_ID_MAX]; /* SHIFT: ids[0]; POSITIONS: ids[0 .. n) */
  double *lat, *lon;      /* POSITIONS */
  int64_t *seen;          /* POSITIONS */
  int on_shift;           /* SHIFT */
  int unknown;            /* SHIFT: the script found no such worker */
  cm_ledger_change *ch;   /* its changes, pointing into views, events */
  cm_request_view *views; /* their records */
  cm_event *events;       /* their events, one block */
  cm_ledger_result *res;  /* their results */
  unsigned char *known;   /* per change: its result arrived */
  int rounds;             /* sent again after NOSCRIPT so many times */
  cm_ledger_done_fn done; /* its completion */
  void *ctx;              /* */
} rd_prop;

struct rd_group;

enum {                /* what a command of a group is */
       CMD_COMMIT,    /* the commit script on refs (changes) */
       CMD_POSITIONS, /* the positions script on refs (positions) */
       CMD_UPSERT,    /* the upsert script on one ref */
       CMD_SHIFT,     /* the status script on one ref */
       CMD_WAIT,      /* the WAIT */
       CMD_LOAD,      /* a SCRIPT LOAD */
       CMD_ROLE,      /* ROLE in place of a skipped WAIT */
};

typedef struct rd_cmd { /* one command of a group */
  struct rd_group *g;
  int type;   /* CMD_* */
  int first;  /* its units: the group's refs[first .. first + count) */
  int count;  /* how many */
  char *fmt;  /* cluster: the command as sent, to send it again */
  size_t len; /* its length */

  int again;        /* cluster: to be sent again (by the retry timer) */
  int busy;         /* cluster: answered MOVED, ASK, TRYAGAIN or CLUSTERDOWN
                       at least once (counted in rd_async.retrying) */
  int64_t deadline; /* cluster: sent again until then (cm__rd_now_ms) */
} rd_cmd;

typedef struct rd_ref { /* a change of a group: proposal p, change k */
  rd_prop *p;
  int k;
} rd_ref;

typedef struct rd_group { /* one pipeline sent */
  struct rd_async *as;
  rd_prop *props;  /* its proposals, in proposal order */
  rd_ref *refs;    /* its changes, in sending order */
  rd_cmd *cmds;    /* its commands */
  int n_cmds;      /* commands sent */
  int replies;     /* replies in */
  long long acked; /* the WAIT's answer (-1 none) */
  int confirms;    /* a WAIT (or ROLE) ends it: durability = replica and a
                      ledger change among its units; worker writes alone
                      are acknowledged at the primary (docs/redis.md) */
  int skipped;     /* ROLE was sent in place of the WAIT (the replica
                      gate, redis_durability.h) */
  int online;      /* replicas online when it was sent: the skip's count,
                      which the ROLE's answer may change meanwhile */
  int lost;        /* the connection dropped before every reply */
  uint64_t id;     /* its number (as->groups when sent) */
  int noscript;    /* a commit call answered NOSCRIPT (nothing written) */
  cm_status fail;  /* first failure of a reply (CM_OK none) */
  char why[200];   /* its text */

  struct rd_group *next; /* the next group sent (rd_async.ghead) */
  int waiting;           /* cluster: commands to be sent again */
  int rewait;            /* cluster: a command is sent again, so the WAIT
                            (which did not cover it) is sent again too */
  char busy[120];        /* cluster: the last such refusal's text */
} rd_group;

typedef struct rd_async {
  rd_ledger *l;
  struct event *flush;  /* zero-timeout: sends the queue */
  struct event *timer;  /* no reply for timeout_ms: drop */
  rd_prop *queue;       /* waiting proposals, oldest first */
  rd_prop *tail;        /* the newest */
  int in_flight;        /* groups sent and not all answered */
  uint64_t replies;     /* replies seen so far (progress) */
  uint64_t at_arm;      /* replies when the timer was armed */
  int waits;            /* flushes put off for a connect in a row */
  unsigned reload;      /* the next group loads these scripts first (a
                           bit per CM__RD_S_*) */
  cm__rd_argv argv;     /* commands are built here */
  struct {              /* run once the queue is sent, in the order asked */
    void (*fn)(void *); /* (cm__rd_group_after) */
    void *arg;          /* */
  } after[AFTER_MAX];   /* */
  int n_after;          /* */
  cm_ledger_redis_group_fn watch; /* told of each group (NULL none) */
  void *watch_arg;                /* */
  uint64_t groups;                /* groups sent so far */
  int unwritten;                  /* commands queued on the connection
                                     since the last write_now */
  int64_t hold_until_ms;          /* position writes held until then
                                     (cm__rd_now_ms; 0 none) */

  rd_group *ghead, *gtail; /* groups in flight, oldest first: they
                              finish in this order */
  struct event *retry;     /* cluster: sends the commands refused
                              (MOVED, ASK, TRYAGAIN, CLUSTERDOWN)
                              again, after a backoff */
  int retry_ms;            /* the backoff's next wait */
  int retrying;            /* commands refused and not answered
                              since: new groups wait for them */
} rd_async;

cm_redis *cm__rd_group_conn(const rd_ledger *l) {
  return l->loop ? l->loop : l->r;
}

static void prop_free(rd_prop *p) {
  if (!p)
    return;
  free(p->ids);
  free(p->lat);
  free(p->lon);
  free(p->seen);
  free(p->ch);
  free(p->views);
  free(p->events);
  free(p->res);
  free(p->known);
  free(p);
}

/* A copy of ch[0..n) (the records and events too). NULL out of memory. */
static rd_prop *prop_copy(const cm_ledger_change *ch, int n) {
  if (n < 0 || n > (1 << 24))
    return NULL;
  int n_ev = 0;
  for (int i = 0; i < n; i++)
    n_ev += ch[i].n_events;
  rd_prop *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->n = n;
  size_t m = (size_t)(n ? n : 1);
  p->ch = malloc(m * sizeof *p->ch);
  p->views = malloc(m * sizeof *p->views);
  p->res = calloc(m, sizeof *p->res);
  p->known = calloc(m, 1);
  p->events = malloc((size_t)(n_ev ? n_ev : 1) * sizeof *p->events);
  if (!p->ch || !p->views || !p->res || !p->known || !p->events) {
    prop_free(p);
    return NULL;
  }
  cm_event *ev = p->events;
  for (int i = 0; i < n; i++) {
    p->ch[i] = ch[i];
    p->views[i] = *ch[i].after;
    p->ch[i].after = &p->views[i];
    if (ch[i].n_events > 0)
      memcpy(ev, ch[i].events, (size_t)ch[i].n_events * sizeof *ev);
    p->ch[i].events = ev;
    ev += ch[i].n_events;
  }
  return p;
}

/* Complete p with st (results only with CM_OK) and free it. */
static void prop_tell(rd_prop *p, cm_status st, const cm_error *err) {
  cm_error mine;
  if (!p->op) {
    p->done(p->ctx, st, st == CM_OK ? p->res : NULL, p->n, err);
  } else {
    if (st == CM_OK && p->unknown) { /* the synchronous shift's answer */
      st = cm_error_set(&mine, CM_E_UNKNOWN_ID, "$.id",
                        "$.id: no worker '%.63s'", p->ids[0]);
      err = &mine;
    }
    p->done(p->ctx, st, NULL, 0, err);
  }
  prop_free(p);
}

/* Complete every proposal of list with st; with changes_only, only the
 * changes (ledger changes) get st and worker writes CM_OK (a durability
 * status: worker writes are acknowledged at the primary). */
static void tell_all(rd_prop *list, cm_status st, const cm_error *err,
                     int changes_only) {
  cm_error ok;
  cm_error_clear(&ok);
  while (list) {
    rd_prop *next = list->next;
    int mine = !changes_only || !list->op;
    prop_tell(list, mine ? st : CM_OK, mine ? err : &ok);
    list = next;
  }
}

static void timer_arm(rd_async *as) {
  int ms = cm__rd_group_conn(as->l)->timeout_ms;
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  as->at_arm = as->replies;
  evtimer_add(as->timer, &tv);
}

static void group_fail(rd_group *g, cm_status st, const char *what,
                       const char *text) {
  if (g->fail != CM_OK)
    return;
  g->fail = st;
  snprintf(g->why, sizeof g->why, "redis: %s: %.150s", what, text);
}

#define NOSCRIPT_ROUNDS 3 /* a proposal is sent again at most this often */

/* Take out of g's proposals those with a change not answered (its commit
 * call answered NOSCRIPT: nothing of it was written), oldest first; those
 * sent again too often stay, failed. Returns them (a list). */
static rd_prop *split_unanswered(rd_group *g) {
  rd_prop *again = NULL, **tail = &again, **pp = &g->props;
  while (*pp) {
    rd_prop *p = *pp;
    int missing = 0;
    for (int i = 0; i < p->n; i++)
      missing |= !p->known[i];
    if (missing && p->rounds < NOSCRIPT_ROUNDS) {
      p->rounds++;
      *pp = p->next;
      p->next = NULL;
      *tail = p;
      tail = &p->next;
    } else {
      if (missing)
        group_fail(g, CM_E_IO, "commit",
                   "the script cache was flushed again and again");
      pp = &p->next;
    }
  }
  return again;
}

/* The script that writes p (CM__RD_S_*). */
static int script_of(const rd_prop *p) {
  switch (p->op) {
  case CM_LEDGER_W_UPSERT:
    return CM__RD_S_UPSERT;
  case CM_LEDGER_W_SHIFT:
    return CM__RD_S_STATUS;
  case CM_LEDGER_W_POSITIONS:
    return CM__RD_S_POSITIONS;
  default:
    return CM__RD_S_COMMIT;
  }
}

/* Put list (oldest first) ahead of the waiting proposals, and send them
 * with the scripts they need loaded first. */
static void requeue(rd_async *as, rd_prop *list) {
  rd_prop *last = list;
  while (last->next)
    last = last->next;
  last->next = as->queue;
  if (!as->queue)
    as->tail = last;
  as->queue = list;
  for (rd_prop *p = list; p; p = p->next) /* the scripts they need */
    as->reload |= 1u << script_of(p);
  event_active(as->flush, EV_TIMEOUT, 0);
}

/* Tell the watch (cm_ledger_redis_group_watch) about g. */
static void group_watch(const rd_group *g, int answered) {
  const rd_async *as = g->as;
  cm_ledger_redis_group w = {.answered = answered,
                             .id = g->id,
                             .commands = g->n_cmds,
                             .in_flight = as->in_flight};
  for (const rd_prop *p = g->props; p; p = p->next) {
    if (!p->op)
      w.changes += p->n;
    else if (p->op == CM_LEDGER_W_POSITIONS)
      w.positions += p->n;
    else
      w.worker_writes++;
  }
  as->watch(as->watch_arg, &w);
}

/* Every reply of g is in: tell its proposals, in order, and free it. */
static void group_finish(rd_group *g) {
  rd_async *as = g->as;
  rd_ledger *l = as->l;
  cm_error err;
  cm_status st = CM_OK;
  int durability = 0; /* st is the durability's: for the changes only */
  cm_error_clear(&err);
  if (as->watch && g->n_cmds > 0)
    group_watch(g, 1);
  if (--as->in_flight == 0)
    evtimer_del(as->timer);
  rd_prop *again = NULL; /* NOSCRIPT: sent again, the script loaded first */
  if (!g->lost && g->fail == CM_OK && g->noscript)
    again = split_unanswered(g);
  if (again)
    requeue(as, again);
  if (g->lost)
    st = cm__rd_unavailable(cm__rd_group_conn(l), &err);
  else if (g->fail != CM_OK)
    st = cm_error_set(&err, g->fail, "", "%s", g->why);
  else if (g->confirms && g->skipped) {
    uint64_t n = 0; /* the changes stand in the primary, unconfirmed */
    for (rd_prop *p = g->props; p; p = p->next)
      n += !p->op;
    l->stats.skipped_waits += n;
    l->stats.not_durable += n;
    st = cm__rd_not_durable_now(&err, g->online, l->opt.replicas);
    durability = 1;
  } else if (g->confirms) {
    uint64_t n = 0; /* counted per change proposal, as per synchronous
                       commit */
    for (rd_prop *p = g->props; p; p = p->next)
      n += !p->op;
    l->stats.waits += n;
    if (g->acked < l->opt.replicas) { /* the results stand in the primary */
      l->stats.not_durable += n;
      l->stats.wait_timeouts += g->acked >= 0;
      st = cm__rd_not_durable(&err, g->acked < 0 ? 0 : g->acked,
                              l->opt.replicas, l->opt.durability_timeout_ms);
      durability = 1;
    }
  }
  rd_prop *props = g->props;
  free(g->refs);
  free(g->cmds);
  free(g);
  tell_all(props, st, &err, durability);
}

static const char *const cmd_name[] = {
    "commit", "positions", "upsert", "status", "WAIT", "SCRIPT LOAD", "ROLE"};

/* The groups at the head of the list whose replies are all in finish, in
 * sending order: a group with a command to be sent again holds the groups
 * behind it, so completions keep proposal order. */
static void finish_ready(rd_async *as) {
  while (as->ghead && as->ghead->replies == as->ghead->n_cmds) {
    rd_group *g = as->ghead;
    as->ghead = g->next;
    if (!as->ghead)
      as->gtail = NULL;
    group_finish(g);
  }
}

/* The first wait of the retry backoff: backoff_min_ms, 50 ms at most (a
 * TRYAGAIN lasts while a migration moves a batch of keys). */
static int retry_first_ms(const cm_redis *r) {
  int w = r->backoff_min_ms > 0 ? r->backoff_min_ms : 10;
  return w > RETRY_FIRST_MS ? RETRY_FIRST_MS : w;
}

/* c has its last reply: it counts as answered (its group may finish). */
static void cmd_done(rd_cmd *c) {
  rd_group *g = c->g;
  rd_async *as = g->as;
  if (c->fmt)
    redisFreeCommand(c->fmt);
  c->fmt = NULL;
  if (c->busy && --as->retrying == 0) { /* the groups held may go */
    as->retry_ms = retry_first_ms(cm__rd_group_conn(as->l));
    if (as->queue)
      event_active(as->flush, EV_TIMEOUT, 0);
  }
  c->busy = 0;
  g->replies++;
}

/* Have the retry timer run in ms (sooner when asked sooner). */
static void retry_arm(rd_async *as, int ms) {
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  if (!evtimer_pending(as->retry, NULL) || ms <= RETRY_POLL_MS)
    evtimer_add(as->retry, &tv);
}

/* c was answered rep, a cluster's refusal (MOVED, ASK, TRYAGAIN,
 * CLUSTERDOWN: nothing of it ran). Within timeout_ms of its first
 * refusal it is marked to be sent again by the retry timer (after a
 * MOVED, once the connection moved to the owner named) and 1 is
 * returned; after that 0: the refusal is its answer. */
static int retry_later(rd_cmd *c, const redisReply *rep) {
  rd_group *g = c->g;
  rd_async *as = g->as;
  cm_redis *r = cm__rd_group_conn(as->l);
  int64_t now = cm__rd_now_ms();
  if (!c->busy) {
    c->busy = 1;
    c->deadline = now + r->timeout_ms;
    if (as->retrying++ == 0)
      as->retry_ms = retry_first_ms(r);
  }
  int moved = cm__rd_cluster_later(r, rep);
  if (now >= c->deadline)
    return 0;
  snprintf(g->busy, sizeof g->busy, "%.110s", rep->str);
  c->again = 1;
  g->waiting++;
  if (c->type < CMD_WAIT && g->confirms)
    g->rewait = 1;
  retry_arm(as, moved ? RETRY_POLL_MS : as->retry_ms);
  return 1;
}

/* hiredis: the reply to one command of a group (NULL: the connection
 * dropped). Runs once per command sent (a command sent again: once per
 * sending). */
static void on_reply(redisAsyncContext *ac, void *reply, void *privdata) {
  (void)ac;
  rd_cmd *c = privdata;
  rd_group *g = c->g;
  const redisReply *rep = reply;
  g->as->replies++;
  if (rep && c->fmt && !g->lost && g->fail == CM_OK) {
    if (c->type == CMD_WAIT && g->rewait) { /* a command of g was sent
                                               again after it: so is it;
                                               this answer covers what
                                               ran before it */
      if (rep->type == REDIS_REPLY_INTEGER &&
          (g->acked < 0 || rep->integer < g->acked))
        g->acked = rep->integer;
      g->rewait = 0;
      if (!c->deadline)
        c->deadline = cm__rd_now_ms() + cm__rd_group_conn(g->as->l)->timeout_ms;
      c->again = 1;
      g->waiting++;
      retry_arm(g->as, RETRY_POLL_MS);
      return;
    }
    if (cm__rd_cluster_busy_error(rep) && retry_later(c, rep))
      return;
  }
  if (!rep) {
    g->lost = 1;
  } else if (c->type == CMD_ROLE) { /* an error (NOPERM) only unsets it */
    cm__rd_gate_role(cm__rd_group_conn(g->as->l), rep);
  } else if (rep->type == REDIS_REPLY_ERROR) {
    if (c->type < CMD_WAIT && rep->str && strncmp(rep->str, "NOSCRIPT", 8) == 0)
      g->noscript = 1; /* nothing of it written: sent again */
    else
      group_fail(g, cm__rd_cluster_busy_error(rep) ? CM_E_UNAVAILABLE : CM_E_IO,
                 cmd_name[c->type], rep->str ? rep->str : "error");
  } else if (c->type == CMD_LOAD) { /* the same SHA1 as before */
  } else if (c->type == CMD_WAIT) {
    if (rep->type == REDIS_REPLY_INTEGER) {
      if (g->acked < 0 || rep->integer < g->acked)
        g->acked = rep->integer; /* sent again: the smaller count */
      cm__rd_gate_wait(cm__rd_group_conn(g->as->l), g->acked,
                       g->as->l->opt.replicas);
    } else
      group_fail(g, CM_E_IO, "WAIT", "unexpected reply");
  } else if (c->type != CMD_COMMIT) { /* a worker script: an integer */
    if (rep->type != REDIS_REPLY_INTEGER) {
      group_fail(g, CM_E_IO, cmd_name[c->type], "unexpected reply");
    } else {
      for (int j = 0; j < c->count; j++) {
        rd_ref *f = &g->refs[c->first + j];
        f->p->known[f->k] = 1;
      }
      if (c->type == CMD_SHIFT && rep->integer == 0)
        g->refs[c->first].p->unknown = 1;
    }
  } else if (rep->type != REDIS_REPLY_ARRAY ||
             rep->elements != (size_t)c->count) {
    group_fail(g, CM_E_IO, "commit", "a malformed reply");
  } else {
    for (int j = 0; j < c->count; j++) {
      rd_ref *f = &g->refs[c->first + j];
      if (cm__rd_commit_result(g->as->l, rep->element[j], &f->p->ch[f->k],
                               &f->p->res[f->k]) != 0) {
        group_fail(g, CM_E_IO, "commit", "a malformed reply");
        break;
      }
      f->p->known[f->k] = 1;
    }
  }
  cmd_done(c);
  finish_ready(g->as);
}

static void write_now(rd_async *as);

/* The retry timer: the commands refused are sent again, oldest group
 * first, each group's in sending order (its WAIT last), once the
 * connection is up on the slot's owner (moved there first: this runs
 * between two turns, as cm_redis_connect_async asks); those whose time
 * is up, or whose group failed or was lost, are answered as they are. */
static void on_retry(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  rd_async *as = arg;
  cm_redis *r = cm__rd_group_conn(as->l);
  if (!cm_redis_connected(r) || cm_redis_move_pending(r))
    cm_redis_connect_async(r, NULL); /* moves only when nothing is in
                                        flight; the backoff limits it */
  int ready = cm_redis_connected(r) && !r->hello && !(r->cl && r->cl->moved);
  int64_t now = cm__rd_now_ms();
  int left = 0, sent = 0;
  for (rd_group *g = as->ghead; g; g = g->next) {
    for (int i = 0; i < g->n_cmds && g->waiting; i++) {
      rd_cmd *c = &g->cmds[i];
      if (!c->again)
        continue;
      if (c->deadline && now >= c->deadline) /* today's answer */
        group_fail(g, CM_E_UNAVAILABLE, cmd_name[c->type],
                   c->busy ? g->busy : "no connection to send it again");
      if (!g->lost && g->fail == CM_OK && !ready) {
        left++;
        continue;
      }
      c->again = 0;
      g->waiting--;
      if (!g->lost && g->fail == CM_OK &&
          redisAsyncFormattedCommand(r->ac, on_reply, c, c->fmt, c->len) ==
              REDIS_OK) {
        sent++;
        continue;
      }
      g->lost |= g->fail == CM_OK; /* not queued: as if lost */
      cmd_done(c);
    }
  }
  if (sent) {
    as->unwritten = 1;
    if (!evtimer_pending(as->timer, NULL))
      timer_arm(as);
    as->retry_ms =
        as->retry_ms * 2 < RETRY_MAX_MS ? as->retry_ms * 2 : RETRY_MAX_MS;
  }
  if (left)
    retry_arm(as, RETRY_POLL_MS);
  finish_ready(as);
  write_now(as);
}

/* Queue one command of g (built in a) on the connection. Returns 0, -1
 * when it could not be queued (g->lost set). */
static int send_cmd(rd_group *g, cm__rd_argv *a, int type, int first,
                    int count) {
  cm_redis *r = cm__rd_group_conn(g->as->l);
  rd_cmd *c = &g->cmds[g->n_cmds];
  c->g = g;
  c->type = type;
  c->first = first;
  c->count = count;
  if (cm__rd_argv_finish(a) != 0) {
    group_fail(g, CM_E_NOMEM, "commit", "out of memory");
    cm__rd_argv_reset(a);
    return -1;
  }
  int rc = REDIS_ERR;
  if (r->ac && r->cl) { /* cluster: keep it to follow a MOVED/ASK */
    int len = redisFormatCommandArgv(&c->fmt, a->argc, a->ptrs, a->alen);
    c->len = len > 0 ? (size_t)len : 0;
    rc = len > 0
             ? redisAsyncFormattedCommand(r->ac, on_reply, c, c->fmt, c->len)
             : REDIS_ERR;
    if (rc != REDIS_OK && c->fmt)
      redisFreeCommand(c->fmt);
    if (rc != REDIS_OK)
      c->fmt = NULL;
  } else if (r->ac) {
    rc = redisAsyncCommandArgv(r->ac, on_reply, c, a->argc, a->ptrs, a->alen);
  }
  cm__rd_argv_reset(a);
  if (rc != REDIS_OK) {
    g->lost = 1;
    return -1;
  }
  g->n_cmds++;
  return 0;
}

/* FNV-1a of an id, for a positions call's id set. */
static unsigned id_hash(const char *id) {
  unsigned h = 2166136261u;
  for (; *id; id++)
    h = (h ^ (unsigned char)*id) * 16777619u;
  return h;
}

/* The end of the positions call starting at refs[from] (before m): up to
 * POS_CHUNK consecutive positions, ending early where a worker repeats. */
static int positions_end(const rd_group *g, int from, int m) {
  int slot[POS_SLOTS];
  for (int k = 0; k < POS_SLOTS; k++)
    slot[k] = -1;
  int to = from;
  for (; to < m && to - from < POS_CHUNK; to++) {
    const rd_ref *f = &g->refs[to];
    if (f->p->op != CM_LEDGER_W_POSITIONS)
      break;
    const char *id = f->p->ids[f->k];
    unsigned k = id_hash(id) & (POS_SLOTS - 1);
    for (; slot[k] >= 0; k = (k + 1) & (POS_SLOTS - 1)) {
      const rd_ref *o = &g->refs[slot[k]];
      if (!strcmp(o->p->ids[o->k], id))
        return to; /* the worker again: the next call has it */
    }
    slot[k] = to;
  }
  return to;
}

/* Build and send the next script call of g, from refs[from] (before m).
 * Returns how many units it took (at least 1). */
static int send_next(rd_group *g, int from, int m) {
  rd_ledger *l = g->as->l;
  cm_redis *r = l->r; /* SHA1s, keys, origin: the loop connection's too */
  cm__rd_argv *a = &g->as->argv;
  const rd_prop *p = g->refs[from].p;
  char key[CM__RD_KEY_MAX];
  int cnt = 1;
  if (!p->op) { /* consecutive changes, CM__RD_COMMIT_GROUP a call */
    const cm_ledger_change *chs[CM__RD_COMMIT_GROUP];
    cnt = 0;
    while (from + cnt < m && cnt < CM__RD_COMMIT_GROUP &&
           !g->refs[from + cnt].p->op) {
      const rd_ref *f = &g->refs[from + cnt];
      chs[cnt++] = &f->p->ch[f->k];
    }
    if (cnt > 1 && chs[cnt - 1]->with_next)
      cnt--; /* a pair (with_next) goes whole into the next call */
    if (cm__rd_commit_build(l, chs, cnt, a) != 0) {
      cm__rd_argv_reset(a);
      group_fail(g, CM_E_NOMEM, "commit", "out of memory");
      return cnt;
    }
    send_cmd(g, a, CMD_COMMIT, from, cnt);
  } else if (p->op == CM_LEDGER_W_POSITIONS) {
    cnt = positions_end(g, from, m);
    cnt -= from;
    cm__rd_evalsha_begin(a, r, CM__RD_S_POSITIONS, cnt);
    for (int j = from; j < from + cnt; j++) {
      const rd_ref *f = &g->refs[j];
      cm__rd_argv_add(a, key,
                      cm__rd_key_worker(&r->keys, f->p->ids[f->k], key));
    }
    for (int j = from; j < from + cnt; j++) {
      const rd_ref *f = &g->refs[j];
      cm__rd_argv_double(a, f->p->lat[f->k]);
      cm__rd_argv_double(a, f->p->lon[f->k]);
      cm__rd_argv_i64(a, f->p->seen[f->k]);
    }
    cm__rd_argv_origin(a, r);
    send_cmd(g, a, CMD_POSITIONS, from, cnt);
  } else if (p->op == CM_LEDGER_W_UPSERT) {
    cm__rd_evalsha_begin(a, r, CM__RD_S_UPSERT, 1);
    cm__rd_argv_add(a, key, cm__rd_key_worker(&r->keys, p->worker.id, key));
    cm__rd_worker_args(a, &p->worker);
    cm__rd_argv_origin(a, r);
    send_cmd(g, a, CMD_UPSERT, from, 1);
  } else { /* SHIFT */
    cm__rd_evalsha_begin(a, r, CM__RD_S_STATUS, 1);
    cm__rd_argv_add(a, key, cm__rd_key_worker(&r->keys, p->ids[0], key));
    cm__rd_argv_str(a, p->ids[0]);
    cm__rd_argv_fmt(a, "%d",
                    p->on_shift ? CM_WORKER_AVAILABLE : CM_WORKER_OFFLINE);
    cm__rd_argv_origin(a, r);
    send_cmd(g, a, CMD_SHIFT, from, 1);
  }
  return cnt;
}

#define FLUSH_WAITS 3      /* flushes put off for a connect at most */
#define FLUSH_WAIT_US 2000 /* each by this long */
#define MOVE_WAITS 25      /* for a move (a MOVED): 50 ms at most */

static void flush_send(rd_async *as);

/* Write what the flush queued on the connection now, in this loop turn.
 * hiredis would write it from its write event, which becomes active only
 * at the next turn and then runs after that turn's other ready callbacks
 * (HTTP calls parsed, positions decoded): the round trip would begin that
 * much later (docs/async-log.md, "Measured: the emergency path"). A write
 * that fails drops the connection as the write event would: every
 * command pending is answered NULL, from here. */
static void write_now(rd_async *as) {
  cm_redis *r = cm__rd_group_conn(as->l);
  if (!as->unwritten)
    return;
  as->unwritten = 0;
  if (r->ac && (r->ac->c.flags & REDIS_CONNECTED) &&
      !(r->ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING)))
    redisAsyncHandleWrite(r->ac);
}

/* The zero-timeout event: send everything proposed since the last one,
 * then what waited for it (cm__rd_group_after), unless the send was put
 * off; then write them out. */
static void on_flush(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  rd_async *as = arg;
  flush_send(as);
  if (as->n_after && !as->queue) { /* a copy: they may ask again */
    int n = as->n_after;
    void (*fns[AFTER_MAX])(void *);
    void *args[AFTER_MAX];
    for (int i = 0; i < n; i++) {
      fns[i] = as->after[i].fn;
      args[i] = as->after[i].arg;
    }
    as->n_after = 0;
    for (int i = 0; i < n; i++)
      fns[i](args[i]);
  }
  write_now(as); /* the last thing: a failed write tells proposals */
}

int cm__rd_group_after(rd_ledger *l, void (*fn)(void *), void *arg) {
  rd_async *as = l->async;
  if (!as || !as->queue || as->n_after == AFTER_MAX)
    return 0;
  as->after[as->n_after].fn = fn;
  as->after[as->n_after++].arg = arg;
  return 1;
}

/* Whether props must wait (put back in the queue for FLUSH_WAIT_US): a
 * handshake in flight (its timer bounds the wait), or the connection down
 * or moving while a connect or a move may still come between two turns. */
static int flush_put_off(rd_async *as, cm_redis *r, rd_prop *props) {
  int down = (!r->ac || !r->ready) && cm__rd_now_ms() >= r->next_try_ms;
  int moving = r->cl && r->cl->moved; /* a MOVED: sent now, every command
                                         would be redirected (blocking) */
  if (!r->hello &&
      (!(down || moving) || as->waits >= (moving ? MOVE_WAITS : FLUSH_WAITS)))
    return 0;
  struct timeval tv = {0, FLUSH_WAIT_US};
  as->queue = props;
  for (as->tail = props; as->tail->next; as->tail = as->tail->next)
    ;
  as->waits++;
  event_add(as->flush, &tv);
  return 1;
}

/* A group for props' m units not yet answered, its references in order,
 * or NULL out of memory. */
static rd_group *group_new(rd_async *as, rd_prop *props, int m) {
  int max_cmds = m + CM__RD_NSCRIPTS + 1; /* a unit a call at most, the
                                             loads, the WAIT */
  rd_group *g = calloc(1, sizeof *g);
  if (g) {
    g->refs = malloc((size_t)(m ? m : 1) * sizeof *g->refs);
    g->cmds = calloc((size_t)max_cmds, sizeof *g->cmds);
  }
  if (!g || !g->refs || !g->cmds) {
    if (g) {
      free(g->refs);
      free(g->cmds);
    }
    free(g);
    return NULL;
  }
  g->as = as;
  g->props = props;
  g->acked = -1;
  int k = 0;
  for (rd_prop *p = props; p; p = p->next)
    for (int i = 0; i < p->n; i++)
      if (!p->known[i]) /* answered before a NOSCRIPT: not again */
        g->refs[k++] = (rd_ref){p, i};
  return g;
}

/* The group's commands: the scripts the cache lost, the units, then the
 * durability's WAIT (or ROLE, when a WAIT could only time out). */
static void group_send(rd_group *g, cm_redis *r, int m) {
  rd_async *as = g->as;
  const rd_ledger *l = as->l;
  cm__rd_sha_adopt(l->r, r); /* the calls are built with l->r's */
  for (int s = 0; s < CM__RD_NSCRIPTS && as->reload && !g->lost; s++) {
    if (!(as->reload & (1u << s)))
      continue; /* the cache was flushed: the scripts first */
    as->reload &= ~(1u << s);
    cm__rd_argv_str(&as->argv, "SCRIPT");
    cm__rd_argv_str(&as->argv, "LOAD");
    cm__rd_argv_str(&as->argv, cm__rd_script_source(s));
    send_cmd(g, &as->argv, CMD_LOAD, 0, 0);
  }
  as->reload = 0;
  for (int from = 0, cnt; from < m && !g->lost && g->fail == CM_OK; from += cnt)
    cnt = send_next(g, from, m);
  g->skipped = cm__rd_wait_skip(r, l->opt.replicas);
  g->online = r->replicas_online;
  int changes = 0;
  for (int i = 0; i < m && !changes; i++)
    changes = !g->refs[i].p->op;
  if (l->opt.durability != CM_LEDGER_DURABILITY_REPLICA || !changes ||
      g->lost || g->fail != CM_OK)
    return;
  g->confirms = 1;
  if (g->skipped) {
    cm__rd_argv_str(&as->argv, "ROLE");
    send_cmd(g, &as->argv, CMD_ROLE, 0, 0);
  } else {
    cm__rd_argv_str(&as->argv, "WAIT");
    cm__rd_argv_fmt(&as->argv, "%d", l->opt.replicas);
    cm__rd_argv_fmt(&as->argv, "%d", l->opt.durability_timeout_ms);
    send_cmd(g, &as->argv, CMD_WAIT, 0, 0);
  }
}

/* While a hold lasts (cm_ledger_redis_hold_positions), take out of props
 * the position writes, and, from an upsert or a shift behind one of them,
 * everything; queue them again (oldest first, in order) and have the
 * flush run at the hold's deadline. Returns what goes now. */
static rd_prop *hold_split(rd_async *as, rd_prop *props) {
  if (!as->hold_until_ms)
    return props;
  int64_t left = as->hold_until_ms - cm__rd_now_ms();
  if (left <= 0) {
    as->hold_until_ms = 0;
    return props;
  }
  rd_prop *go = NULL, **gt = &go, *keep = NULL, **kt = &keep;
  int barrier = 0; /* a worker write behind a held position write */
  while (props) {
    rd_prop *p = props;
    props = p->next;
    p->next = NULL;
    barrier |= keep && p->op && p->op != CM_LEDGER_W_POSITIONS;
    if (barrier || p->op == CM_LEDGER_W_POSITIONS) {
      *kt = p;
      kt = &p->next;
    } else {
      *gt = p;
      gt = &p->next;
    }
  }
  if (keep) {
    as->queue = keep;
    for (as->tail = keep; as->tail->next; as->tail = as->tail->next)
      ;
    struct timeval tv = {(time_t)(left / 1000),
                         (suseconds_t)(left % 1000) * 1000};
    event_add(as->flush, &tv);
  }
  return go;
}

static void flush_send(rd_async *as) {
  rd_ledger *l = as->l;
  cm_redis *r = cm__rd_group_conn(l);
  rd_prop *props = as->queue;
  as->queue = as->tail = NULL;
  if (props && as->retrying) { /* behind the commands refused: they are
                                  sent again first (cmd_done flushes) */
    as->queue = props;
    for (as->tail = props; as->tail->next; as->tail = as->tail->next)
      ;
    return;
  }
  if (!props || flush_put_off(as, r, props))
    return;
  if (!(props = hold_split(as, props)))
    return;
  cm_error err;
  as->waits = 0;
  if (!r->ac || !r->ready) {
    cm__rd_unavailable(r, &err);
    tell_all(props, CM_E_UNAVAILABLE, &err, 0);
    return;
  }
  int m = 0;
  for (rd_prop *p = props; p; p = p->next)
    for (int i = 0; i < p->n; i++)
      m += !p->known[i];
  rd_group *g = group_new(as, props, m);
  if (!g) {
    cm_error_set(&err, CM_E_NOMEM, "", NULL);
    tell_all(props, CM_E_NOMEM, &err, 0); /* nothing was sent */
    return;
  }
  g->id = ++as->groups;
  if (as->gtail)
    as->gtail->next = g;
  else
    as->ghead = g;
  as->gtail = g;
  group_send(g, r, m);
  as->unwritten |= g->n_cmds > 0;
  as->in_flight++;
  if (as->watch && g->n_cmds > 0)
    group_watch(g, 0);
  if (g->n_cmds == 0) { /* nothing went out: finishes in its turn */
    finish_ready(as);
    return;
  }
  if (!evtimer_pending(as->timer, NULL))
    timer_arm(as);
}

/* No reply for timeout_ms while groups are in flight: drop the
 * connection (every pending command is answered NULL). */
static void on_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  rd_async *as = arg;
  if (!as->in_flight)
    return;
  cm_redis *r = cm__rd_group_conn(as->l);
  if (as->replies != as->at_arm || /* progress, or only commands waiting
                                      to be sent again (their deadline
                                      bounds them): wait again */
      (as->retrying && (!r->ac || !r->ac->replies.head))) {
    timer_arm(as);
    return;
  }
  char why[64];
  snprintf(why, sizeof why, "no reply within %d ms", r->timeout_ms);
  cm__rd_drop(r, why);
}

static void on_retry(evutil_socket_t fd, short what, void *arg);

static rd_async *async_new(rd_ledger *l) {
  rd_async *as = calloc(1, sizeof *as);
  if (!as)
    return NULL;
  as->l = l;
  cm__rd_argv_init(&as->argv);
  struct event_base *base = cm__rd_group_conn(l)->base;
  as->flush = event_new(base, -1, 0, on_flush, as);
  as->timer = evtimer_new(base, on_timer, as);
  as->retry = evtimer_new(base, on_retry, as);
  if (!as->flush || !as->timer || !as->retry) {
    if (as->flush)
      event_free(as->flush);
    if (as->timer)
      event_free(as->timer);
    if (as->retry)
      event_free(as->retry);
    free(as);
    return NULL;
  }
  return as;
}

static cm_status check_changes(const cm_ledger_change *ch, int n,
                               cm_error *err) {
  for (int k = 0; k < n; k++)
    if (!ch[k].after || !ch[k].after->spec.id[0] || ch[k].n_workers < 0 ||
        ch[k].n_workers > CM_MAX_STAFF || ch[k].n_events < 0 ||
        (ch[k].n_events > 0 && !ch[k].events))
      return cm_error_set(err, CM_E_INVALID, "$.changes",
                          "$.changes[%d]: malformed change", k);
  return CM_OK;
}

#define SYNC_STACK 8 /* results on the stack up to this many */

/* Append p (its completion done, ctx) to the queue; the first of a loop
 * turn makes the flush active. */
static void enqueue(rd_async *as, rd_prop *p, cm_ledger_done_fn done,
                    void *ctx) {
  p->done = done;
  p->ctx = ctx;
  if (as->tail)
    as->tail->next = p;
  else
    as->queue = p;
  as->tail = p;
  event_active(as->flush, EV_TIMEOUT, 0); /* once per loop turn */
}

cm_status cm__rd_propose(cm_ledger *lg, const cm_ledger_change *ch, int n,
                         cm_ledger_done_fn done, void *ctx, cm_error *err) {
  rd_ledger *l = (rd_ledger *)lg;
  cm_error_clear(err);
  if (n < 0 || (n > 0 && !ch) || !done)
    return cm_error_set(err, CM_E_INVALID, "$.changes",
                        "$.changes: bad arguments");
  cm_status st = check_changes(ch, n, err);
  if (st != CM_OK)
    return st;
  if (cm__rd_group_conn(l)->own_base) { /* nobody runs the loop: commit
                                            now */
    cm_ledger_result stack[SYNC_STACK], *res = stack;
    if (n > SYNC_STACK && !(res = malloc((size_t)n * sizeof *res)))
      return cm_error_set(err, CM_E_NOMEM, "", NULL);
    cm_error mine;
    st = cm__rd_commit(lg, ch, n, res, &mine);
    done(ctx, st, st == CM_OK ? res : NULL, n, &mine);
    if (res != stack)
      free(res);
    return CM_OK;
  }
  if (!l->async && !(l->async = async_new(l)))
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  rd_prop *p = prop_copy(ch, n);
  if (!p)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  enqueue(l->async, p, done, ctx);
  return CM_OK;
}

/* Check w as the synchronous worker writes do. Returns CM_OK or the
 * error. */
static cm_status check_worker_write(const cm_ledger_worker_write *w,
                                    cm_error *err) {
  if (w->op == CM_LEDGER_W_UPSERT)
    return w->worker ? cm_store_check_worker(w->worker, err)
                     : cm_error_set(err, CM_E_INVALID, "", "bad arguments");
  if (w->op == CM_LEDGER_W_SHIFT) {
    size_t len = w->id ? strnlen(w->id, CM_ID_MAX) : 0;
    if (len == 0 || len >= CM_ID_MAX)
      return cm_error_set(err, CM_E_UNKNOWN_ID, "$.id", "$.id: no worker");
    return CM_OK;
  }
  if (w->n < 0 || (w->n > 0 && (!w->ids || !w->lat || !w->lon || !w->seen_ms)))
    return cm_error_set(err, CM_E_INVALID, "$.positions",
                        "$.positions: bad arguments");
  for (int i = 0; i < w->n; i++) {
    cm_error one;
    size_t len = w->ids[i] ? strnlen(w->ids[i], CM_ID_MAX) : 0;
    if (len == 0 || len >= CM_ID_MAX)
      cm_error_set(&one, CM_E_UNKNOWN_ID, "$.id", "$.id: no such worker");
    else if (cm_store_check_position(w->lat[i], w->lon[i], w->seen_ms[i],
                                     &one) == CM_OK)
      continue;
    return cm_store_position_error(err, i, &one);
  }
  return CM_OK;
}

/* A copy of w (checked). NULL out of memory. */
static rd_prop *prop_worker(const cm_ledger_worker_write *w) {
  rd_prop *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->op = w->op;
  p->n = w->op == CM_LEDGER_W_POSITIONS ? w->n : 1;
  size_t m = (size_t)(p->n ? p->n : 1);
  p->known = calloc(m, 1);
  p->ids = malloc(m * sizeof *p->ids);
  if (!p->known || !p->ids)
    goto oom;
  if (w->op == CM_LEDGER_W_UPSERT) {
    p->worker = *w->worker;
  } else if (w->op == CM_LEDGER_W_SHIFT) {
    snprintf(p->ids[0], sizeof p->ids[0], "%s", w->id);
    p->on_shift = w->on_shift != 0;
  } else {
    p->lat = malloc(m * sizeof *p->lat);
    p->lon = malloc(m * sizeof *p->lon);
    p->seen = malloc(m * sizeof *p->seen);
    if (!p->lat || !p->lon || !p->seen)
      goto oom;
    for (int i = 0; i < w->n; i++)
      memcpy(p->ids[i], w->ids[i], strlen(w->ids[i]) + 1); /* checked */
    memcpy(p->lat, w->lat, (size_t)w->n * sizeof *p->lat);
    memcpy(p->lon, w->lon, (size_t)w->n * sizeof *p->lon);
    memcpy(p->seen, w->seen_ms, (size_t)w->n * sizeof *p->seen);
  }
  return p;
oom:
  prop_free(p);
  return NULL;
}

cm_status cm__rd_worker_propose(cm_ledger *lg, const cm_ledger_worker_write *w,
                                cm_ledger_done_fn done, void *ctx,
                                cm_error *err) {
  rd_ledger *l = (rd_ledger *)lg;
  cm_error_clear(err);
  if (!w || !done)
    return cm_error_set(err, CM_E_INVALID, "", "bad arguments");
  cm_status st = check_worker_write(w, err);
  if (st != CM_OK)
    return st;
  if (cm__rd_group_conn(l)->own_base) { /* nobody runs the loop: write
                                            now */
    cm_error mine;
    cm_error_clear(&mine);
    if (w->op == CM_LEDGER_W_UPSERT)
      st = lg->type->worker_upsert(lg, w->worker, &mine);
    else if (w->op == CM_LEDGER_W_SHIFT)
      st = lg->type->worker_shift(lg, w->id, w->on_shift, &mine);
    else
      st = lg->type->worker_positions(lg, w->n, w->ids, w->lat, w->lon,
                                      w->seen_ms, &mine);
    done(ctx, st, NULL, 0, &mine);
    return CM_OK;
  }
  if (w->op == CM_LEDGER_W_POSITIONS && w->n == 0) {
    done(ctx, CM_OK, NULL, 0, err);
    return CM_OK;
  }
  if (!l->async && !(l->async = async_new(l)))
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  rd_prop *p = prop_worker(w);
  if (!p)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  enqueue(l->async, p, done, ctx);
  return CM_OK;
}

void cm_ledger_redis_send_now(cm_ledger *lg) {
  rd_ledger *l = (rd_ledger *)lg;
  if (!lg || lg->type->propose != cm__rd_propose || !l->async ||
      !l->async->queue)
    return;
  cm_redis *r = cm__rd_group_conn(l);
  if (r->own_base || !r->ac || !r->ready || r->hello || (r->cl && r->cl->moved))
    return;
  on_flush(-1, 0, l->async); /* the event, when it runs, finds nothing */
}

void cm_ledger_redis_hold_positions(cm_ledger *lg, int ms) {
  rd_ledger *l = (rd_ledger *)lg;
  if (!lg || lg->type->propose != cm__rd_propose ||
      cm__rd_group_conn(l)->own_base ||
      (!l->async && (ms <= 0 || !(l->async = async_new(l)))))
    return;
  rd_async *as = l->async;
  if (ms > 0) {
    as->hold_until_ms = cm__rd_now_ms() + ms;
    return;
  }
  as->hold_until_ms = 0;
  if (as->queue) /* what was held: sent at the end of this turn */
    event_active(as->flush, EV_TIMEOUT, 0);
}

cm_status cm_ledger_redis_group_watch(cm_ledger *lg,
                                      cm_ledger_redis_group_fn fn, void *arg,
                                      cm_error *err) {
  rd_ledger *l = (rd_ledger *)lg;
  cm_error_clear(err);
  if (!lg || lg->type->propose != cm__rd_propose ||
      cm__rd_group_conn(l)->own_base)
    return cm_error_set(err, CM_E_INVALID, "",
                        "not a Redis ledger proposing on a caller's base");
  if (!l->async && !(l->async = async_new(l)))
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  l->async->watch = fn;
  l->async->watch_arg = arg;
  return CM_OK;
}

int cm__rd_group_busy(const rd_ledger *l) {
  return l->async && (l->async->queue || l->async->in_flight);
}

void cm__rd_group_free(rd_ledger *l) {
  rd_async *as = l->async;
  if (!as)
    return;
  if (as->in_flight) /* answers them all */
    cm__rd_drop(cm__rd_group_conn(l), "the ledger was freed");
  for (rd_group *g = as->ghead; g; g = g->next) /* and those waiting to be
                                                   sent again */
    for (int i = 0; i < g->n_cmds && g->waiting; i++)
      if (g->cmds[i].again) {
        g->cmds[i].again = 0;
        g->waiting--;
        g->lost = 1;
        cmd_done(&g->cmds[i]);
      }
  finish_ready(as);
  cm_error err;
  cm_error_set(&err, CM_E_UNAVAILABLE, "", "the ledger was freed");
  rd_prop *q = as->queue;
  as->queue = as->tail = NULL;
  tell_all(q, CM_E_UNAVAILABLE, &err, 0);
  event_free(as->flush);
  event_free(as->timer);
  event_free(as->retry);
  cm__rd_argv_free(&as->argv);
  free(as);
  l->async = NULL;
}
