/* lease.c -- carematchd's side of the region's lease (docs/ha.md). With
 * [lease] enabled, every daemon of a region tries to hold the lease
 * (cm_redis_lease_hold) every renew_ms; the one that holds it runs the
 * batches, the others (standbys) take API writes and follow the change
 * stream. The holder stops starting batches as soon as a renewal fails or
 * its deadline passes (the last renewal's sending time + ttl - margin, on
 * the monotonic clock, so before Redis can let the lease expire), and its
 * commits carry the epoch it holds and its name (cm_ledger_redis_fence_set):
 * Redis refuses any offer made under a lease that is no longer the key's,
 * which is what makes a paused or cut-off former holder harmless. A new
 * holder rebuilds its engine from Redis before its first batch
 * (cm_engine_resync), and a holder that sees more submissions in the
 * region than its own rebuilds too, to adopt requests sent to a standby.
 * A daemon that prefers the region asks for it while another holds it
 * (cm_redis_lease_want); a holder that does not prefer it then hands it
 * back: it starts no batch, waits for the one in flight and its commits,
 * and releases the lease, which the preferring daemon takes at its next
 * renewal (docs/ha.md, "Hand-back"). */
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

/* Fault injection for the tests only (tests/test_lease.c): the daemon
 * keeps believing it leads after losing the lease, so that only Redis's
 * fence stands between it and a stale offer. Never set in production. */
#define IGNORE_LOSS_ENV "CAREMATCH_TEST_LEASE_IGNORE_LOSS"

/* The steps of the last takeover, monotonic ms (0: not yet), for the log
 * and the metrics (docs/ha.md, "The takeover, step by step"): the attempt
 * that took the lease sent, its answer, the first step that followed or
 * rebuilt without error, the first batch begun and committed, the first
 * offer committed; waits counts the steps before that found the engine
 * not synced (e.g. a rebuild waiting for writes in flight). */
struct takeover_clock {
  int64_t sent, taken, followed, begun, committed;
  int64_t offered;  /* the first commit that made an offer */
  int waits;        /* steps that could not begin (paused) meanwhile */
  int batches;      /* batches committed since the lease was taken */
  int pending;      /* requests pending when the first batch began */
  uint64_t offers0; /* the engine's offers, refused ones out, at taking */
  uint64_t pos0;    /* positions this daemon had taken then */
  int open;         /* 1 from the acquisition to the first offer */
};

/* The engine's offers that were not refused so far. */
static uint64_t offers_made(cmd_region *r) {
  cm_engine_stats st;
  cm_engine_stats_get(r->eng, &st);
  return st.offers - st.refused;
}

struct cmd_lease {
  cmd_region *r;      /* the region leased */
  struct event *tick; /* the renewal timer */
  struct event *aim;  /* a standby's attempt aimed at the lease's expiry */
  char id[CM_REDIS_LEASE_HOLDER_MAX];
  int ttl_ms, renew_ms, margin_ms;
  int leads;           /* the last renewal said the lease is ours */
  uint64_t epoch;      /* the epoch held (or last held): the fence */
  int64_t since_ms;    /* when it was acquired (the holder's clock) */
  int64_t deadline;    /* monotonic ms: no batch starts from then on */
  cm_redis_lease seen; /* Redis's last answer: who holds it */
  int seen_ok;         /* seen is an answer (else unknown) */
  uint64_t acquisitions, renew_failures, losses;
  int subs_known;                 /* the bases below are set */
  uint64_t subs_base, own_base;   /* submissions in Redis / by us then */
  uint64_t others;                /* others' submissions adopted so far */
  int ignore_loss;                /* IGNORE_LOSS_ENV (tests) */
  int preferred;                  /* [lease] prefer lists the region (or is
                                     empty): taken as soon as it is free */
  int64_t free_since;             /* not preferred: monotonic ms since the
                                     lease was first seen free (0: held) */
  int64_t started;                /* monotonic ms at start */
  struct hold_wait *waiting;      /* a renewal sent without waiting, not yet
                                     answered (r->redis_lease), or NULL */
  uint64_t sent, answered;        /* renewals sent / the last one taken */
  int handing_back;               /* another daemon prefers the region: no
                                     batch starts; released once idle */
  struct cmd_lease **release_ctx; /* a hand-back's release on its way:
                                     its answer's pointer to us, or NULL */
  struct cmd_lease **read_ctx;    /* a read of may_take in flight: its
                                     answer's pointer to us, or NULL */
  int64_t read_t0;                /* monotonic ms when it was sent */
  uint64_t handbacks;             /* leases released to a preferring daemon */
  struct takeover_clock tk;       /* the last takeover's steps (the log) */
  int64_t expires_at;             /* monotonic ms when the lease held by
                                     another expires, as last read (0) */
};

/* A renewal sent on r->redis_lease: its answer comes from the loop. l is
 * NULL once the lease stopped meanwhile (the answer is then dropped). */
struct hold_wait {
  struct cmd_lease *l;
  int64_t t0;   /* monotonic ms when it was sent */
  uint64_t seq; /* l->sent then */
};

static int64_t mono_ms(void);

/* 1 when the comma-separated list names region, or is empty. */
static int listed(const char *list, const char *region) {
  size_t n = strlen(region);
  int any = 0;
  for (const char *p = list; *p;) {
    p += strspn(p, ", ");
    size_t len = strcspn(p, ", ");
    if (len == n && !strncmp(p, region, n))
      return 1;
    any |= len > 0;
    p += len;
  }
  return !any;
}

static int hold_async(struct cmd_lease *l, int64_t t0);

/* A standby's next try, aimed at when the lease can be taken: ms from now
 * (the lease's PTTL as Redis read it, plus a little; or what a region not
 * preferred still has to wait), not the next renewal period, which came
 * up to renew_ms after the expiry. The next answer aims again, so a lease
 * still renewed moves the aim on; an early try (clocks) finds it held and
 * aims anew. Safety is Redis's alone: the attempt is the same script. */
#define AIM_SLACK_MS 2
/* A standby whose lease connection is not up yet (at start, or after a
 * drop) tries again this often rather than a renewal period later. */
#define CONNECT_POLL_MS 100
static void aim_in(struct cmd_lease *l, int64_t ms) {
  if (!l->aim || l->leads || ms < 0)
    return;
  ms += AIM_SLACK_MS;
  struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
  event_add(l->aim, &tv);
}

/* Another daemon holds the lease, for pttl ms more as Redis read it. */
static void held_elsewhere(struct cmd_lease *l, int64_t pttl) {
  l->expires_at = pttl >= 0 ? mono_ms() + pttl : 0;
  aim_in(l, pttl);
}

/* A region this daemon does not prefer: what a read of its lease said (st,
 * out) into l->seen, and 1 when it may try to take the lease now. During
 * its first two TTLs (daemons starting together) the lease must have been
 * free for ttl_ms; after that, free for one renewal period (renew_ms; two
 * renewals in a row, or a read aimed at the expiry and one renew_ms
 * later): a live daemon that prefers the region takes it at the expiry
 * or, after a release, at its next renewal, within renew_ms, so it wins,
 * and a region nobody prefers (any more) costs one renewal period more
 * than a preferred one. A holder that does not prefer the region hands it
 * back when the daemon preferring it asks (hand_back). */
static int free_long_enough(struct cmd_lease *l, cm_status st,
                            const cm_redis_lease *out) {
  if (st != CM_OK) {
    l->seen_ok = 0;
    return 0;
  }
  l->seen = *out;
  l->seen_ok = 1;
  int64_t now = mono_ms();
  if (out->holder[0]) {
    l->free_since = 0;
    held_elsewhere(l, out->pttl_ms);
    return 0;
  }
  if (!l->free_since)
    l->free_since = now;
  int64_t wait =
      now - l->started < 2 * (int64_t)l->ttl_ms ? l->ttl_ms : l->renew_ms;
  if (now - l->free_since >= wait)
    return 1;
  aim_in(l, l->free_since + wait - now);
  return 0;
}

/* The read of may_take answered: the attempt sent at once when the lease
 * has been free long enough. */
static void on_read(void *ctx, cm_status st, const cm_redis_lease *out,
                    const cm_error *err) {
  struct cmd_lease **pl = ctx, *l = *pl;
  (void)err;
  free(pl);
  if (!l) /* stopped, or forgotten as overdue */
    return;
  l->read_ctx = NULL;
  if (free_long_enough(l, st, out) && !l->leads && !l->waiting)
    hold_async(l, mono_ms());
}

/* 1 when this daemon may renew or try to take the lease at this tick: it
 * leads, or prefers the region. Else 0, and the lease is read without
 * waiting, on its own connection (one read in flight; one unanswered for
 * a TTL is forgotten): on_read sends the attempt. */
static int may_take(struct cmd_lease *l) {
  cmd_region *r = l->r;
  if (l->preferred || l->leads)
    return 1;
  int64_t now = mono_ms();
  if (l->read_ctx) {
    if (now - l->read_t0 < l->ttl_ms)
      return 0;
    *l->read_ctx = NULL; /* overdue: its answer is dropped */
    l->read_ctx = NULL;
  }
  struct cmd_lease **pl = malloc(sizeof *pl);
  cm_error err;
  if (!pl || !r->redis_lease || !cm_redis_connected(r->redis_lease) ||
      cm_redis_lease_get_async(r->redis_lease, on_read, pl, &err) != CM_OK) {
    free(pl);
    l->seen_ok = 0;
    return 0;
  }
  *pl = l;
  l->read_ctx = pl;
  l->read_t0 = now;
  return 0;
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int parse_int(const char *v, long lo, long hi, int *out) {
  char *end;
  long x = strtol(v, &end, 10);
  if (end == v || *end || x < lo || x > hi)
    return -1;
  *out = (int)x;
  return 0;
}

const char *cmd_lease_config_key(cmd_lease_config *c, const char *name,
                                 const char *v) {
  if (!strcmp(name, "enabled")) {
    if (!strcasecmp(v, "on") || !strcasecmp(v, "true") ||
        !strcasecmp(v, "yes") || !strcmp(v, "1"))
      c->enabled = 1;
    else if (!strcasecmp(v, "off") || !strcasecmp(v, "false") ||
             !strcasecmp(v, "no") || !strcmp(v, "0"))
      c->enabled = 0;
    else
      return "must be on or off";
  } else if (!strcmp(name, "ttl_ms")) {
    if (parse_int(v, 100, 600000, &c->ttl_ms) != 0)
      return "must be an integer in 100..600000";
  } else if (!strcmp(name, "renew_ms")) {
    if (parse_int(v, 0, 300000, &c->renew_ms) != 0)
      return "must be an integer in 0..300000 (0: ttl_ms / 3)";
  } else if (!strcmp(name, "margin_ms")) {
    if (parse_int(v, 0, 300000, &c->margin_ms) != 0)
      return "must be an integer in 0..300000 (0: ttl_ms / 5)";
  } else if (!strcmp(name, "prefer")) {
    if (strlen(v) >= sizeof c->prefer)
      return "too long";
    if (strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                  "0123456789_.-, ") != strlen(v))
      return "a comma-separated list of regions";
    snprintf(c->prefer, sizeof c->prefer, "%s", v);
  } else if (!strcmp(name, "id")) {
    if (!*v || strlen(v) >= sizeof c->id)
      return "must be 1..127 bytes";
    snprintf(c->id, sizeof c->id, "%s", v);
  } else {
    return "unknown key";
  }
  return NULL;
}

/* The submissions of the region against ours: when another writer (a
 * standby taking API writes) submitted, the engine rebuilds to adopt its
 * requests. */
static void adopt_others(struct cmd_lease *l, const cm_redis_lease *out) {
  cm_ledger_redis_stats rs;
  cm_ledger_redis_stats_get(l->r->ledger, &rs);
  if (!l->subs_known || out->submissions < l->subs_base) {
    l->subs_known = 1; /* first look, or Redis lost its counter */
    l->subs_base = out->submissions;
    l->own_base = rs.submitted;
    l->others = 0;
    return;
  }
  uint64_t all = out->submissions - l->subs_base,
           own = rs.submitted - l->own_base;
  /* own may run ahead of all while a submission's answer is on its way */
  if (all > own && all - own > l->others) {
    l->others = all - own;
    cm_engine_resync(l->r->eng);
    cmd_kick(l->r);
  }
}

static void lose(struct cmd_lease *l, const char *why) {
  if (!l->release_ctx) /* a hand-back ends with the holding */
    l->handing_back = 0;
  if (!l->leads || l->ignore_loss)
    return;
  l->leads = 0;
  l->losses++;
  fprintf(stderr,
          "carematchd: lease of region %s: %s: no batch starts from now on "
          "(epoch %llu)\n",
          l->r->name, why, (unsigned long long)l->epoch);
}

/* The answer to the renewal number seq sent at t0 (monotonic ms). An
 * answer older than one already taken is dropped: the later one says more
 * (and the deadline counts from a renewal's sending, so a late answer can
 * only give a deadline already past). */
static void held(struct cmd_lease *l, uint64_t seq, int64_t t0, cm_status st,
                 const cm_redis_lease *o, const cm_error *e) {
  cmd_region *r = l->r;
  cm_redis_lease out = *o;
  (void)e; /* the log says "renewal failed", as it did */
  if (seq <= l->answered)
    return;
  l->answered = seq;
  if (st != CM_OK) {
    l->renew_failures++;
    l->seen_ok = 0;
    lose(l, "renewal failed");
    return;
  }
  l->seen = out;
  l->seen_ok = 1;
  if (!out.mine) {
    char why[200];
    snprintf(why, sizeof why, "held by %.120s (epoch %llu)", out.holder,
             (unsigned long long)out.epoch);
    lose(l, why);
    l->subs_known = 0;
    held_elsewhere(l, out.pttl_ms);
    return;
  }
  if (l->aim)
    event_del(l->aim);
  if (out.acquired || out.epoch != l->epoch) { /* a new holding period */
    l->acquisitions++;
    l->subs_known = 0;
    cm_engine_resync(r->eng); /* adopt what the others did meanwhile */
    /* positions could not be written while nobody held it: no worker is
       swept as stale before it could report (main.c, on_sweep) */
    r->sweep_after_ms = cmd_now_ms() + r->d->cfg.engine.stale_ms;
    l->tk = (struct takeover_clock){.sent = t0,
                                    .taken = mono_ms(),
                                    .offers0 = offers_made(r),
                                    .pos0 = r->positions,
                                    .open = 1};
    fprintf(stderr,
            "carematchd: lease of region %s taken, epoch %llu (the attempt "
            "sent %lld ms after the expiry last read, answered in %lld "
            "ms)\n",
            r->name, (unsigned long long)out.epoch,
            l->expires_at ? (long long)(t0 - l->expires_at) : -1LL,
            (long long)(l->tk.taken - t0));
    l->expires_at = 0;
  } else if (!l->leads) {
    fprintf(stderr, "carematchd: lease of region %s renewed, epoch %llu\n",
            r->name, (unsigned long long)out.epoch);
  }
  l->epoch = out.epoch;
  l->since_ms = out.since_ms;
  l->deadline = t0 + l->ttl_ms - l->margin_ms;
  cm_ledger_redis_fence_set(r->ledger, (int64_t)l->epoch, l->id);
  if (!l->leads) {
    l->leads = 1;
    /* taken: the rebuild and the first batch at once, not when the
       standby's engine was next due (up to a second later) */
    if (out.acquired)
      cmd_step_now(r);
    else
      cmd_kick(r);
  }
  adopt_others(l, &out);
  if (!l->preferred && out.wanted_by[0] && !l->ignore_loss &&
      !l->handing_back) {
    l->handing_back = 1; /* no batch starts from now on */
    l->handbacks++;
    fprintf(stderr,
            "carematchd: lease of region %s: another daemon prefers it: "
            "handing it back once the batch in flight is done\n",
            r->name);
  }
}

static void on_held(void *ctx, cm_status st, const cm_redis_lease *out,
                    const cm_error *err) {
  struct hold_wait *w = ctx;
  if (w->l) {
    if (w->l->waiting == w)
      w->l->waiting = NULL;
    held(w->l, w->seq, w->t0, st, out, err);
  }
  free(w);
}

/* Whether this renewal also asks for the lease: a daemon that prefers the
 * region and is ready to dispatch it (recovered) asks its holder for it. */
static int wants(const struct cmd_lease *l) {
  return l->preferred && l->r->recovered;
}

/* The release of a hand-back answered: whatever it says, this daemon no
 * longer leads (its deadline had stopped the batches already). */
static void on_released(void *ctx, cm_status st, const cm_redis_lease *out,
                        const cm_error *err) {
  struct cmd_lease **pl = ctx, *l = *pl;
  (void)err;
  free(pl);
  if (!l) /* stopped meanwhile */
    return;
  l->release_ctx = NULL;
  l->handing_back = 0;
  if (!l->leads)
    return;
  l->leads = 0;
  l->losses++;
  fprintf(stderr,
          "carematchd: lease of region %s: %s (epoch %llu): no batch "
          "starts from now on\n",
          l->r->name,
          st == CM_OK && out->mine ? "handed back to the daemon preferring it"
                                   : "hand-back: the release failed, the "
                                     "lease lapses at its TTL",
          (unsigned long long)l->epoch);
}

/* A hand-back under way: once no batch and no commit is in flight, the
 * lease is released without waiting. Returns 1 when it took this tick. */
static int hand_back(struct cmd_lease *l) {
  cmd_region *r = l->r;
  if (!l->handing_back)
    return 0;
  if (l->release_ctx)
    return 1;
  if (r->flying || cm_engine_in_flight(r->eng) > 0)
    return 0; /* renew meanwhile: the batch's commits need the fence */
  struct cmd_lease **pl = malloc(sizeof *pl);
  cm_error err;
  if (!pl || !r->redis_lease || !cm_redis_connected(r->redis_lease) ||
      cm_redis_lease_release_async(r->redis_lease, l->id, on_released, pl,
                                   &err) != CM_OK) {
    free(pl);
    return 0; /* renewed, tried again at the next tick */
  }
  *pl = l;
  l->release_ctx = pl;
  return 1;
}

/* Send the renewal on the lease's own connection, without waiting (its
 * round trip never holds the loop, nor queues behind a commit's WAIT on
 * the writes' connection). Returns 1 when sent, 0 when it cannot be (the
 * connection is down: not renewed this time). */
static int hold_async(struct cmd_lease *l, int64_t t0) {
  cmd_region *r = l->r;
  struct hold_wait *w;
  if (!r->redis_lease || !cm_redis_connected(r->redis_lease) ||
      !(w = calloc(1, sizeof *w)))
    return 0;
  *w = (struct hold_wait){l, t0, ++l->sent};
  cm_error err;
  if ((wants(l) ? cm_redis_lease_want_async : cm_redis_lease_hold_async)(
          r->redis_lease, l->id, l->ttl_ms, cmd_now_ms(), on_held, w, &err) !=
      CM_OK) {
    free(w);
    l->sent--;
    return 0;
  }
  l->waiting = w;
  return 1;
}

/* Renewals never wait on the loop: one in flight at most, on the lease's
 * own connection. One unanswered for a TTL is forgotten (its answer, if
 * it comes, is dropped) and sent again; while none is answered, or the
 * connection is down (cmd_redis_between_turns connects it again), the
 * lease is not renewed and the deadline (the last answered renewal's
 * sending + ttl - margin, on the monotonic clock) stops the batches
 * before Redis can let the lease go. There is no synchronous fallback:
 * it renewed on the writes' connection and so held the loop for as long
 * as a stalled server did, and was kept only while a synchronous rebuild
 * could hold the loop past a renewal's answer (now read on the loop:
 * engine_rebuild.c). */
static void on_tick(evutil_socket_t fd, short what, void *arg) {
  struct cmd_lease *l = arg;
  (void)fd;
  (void)what;
  if (!l->leads && !cm_redis_connected(l->r->redis_lease))
    aim_in(l, CONNECT_POLL_MS); /* try again once it is up (it connects
                                   between turns), not a period later */
  if (!may_take(l))
    return;
  int64_t t0 = mono_ms();
  if (l->waiting && t0 - l->waiting->t0 < l->ttl_ms)
    return; /* still waiting: its deadline stops the batches meanwhile */
  if (hand_back(l))
    return;
  if (l->waiting) { /* overdue: forgotten */
    l->waiting->l = NULL;
    l->waiting = NULL;
    l->renew_failures++;
  }
  hold_async(l, t0);
}

/* The aim (aim_in) reached: a try as at a tick, unless leading by now. */
static void on_aim(evutil_socket_t fd, short what, void *arg) {
  struct cmd_lease *l = arg;
  if (!l->leads)
    on_tick(fd, what, arg);
}

int cmd_lease_start(cmd_region *r, char *msg, size_t n) {
  cmd_daemon *d = r->d;
  const cmd_lease_config *c = &d->cfg.lease;
  if (!c->enabled)
    return 0;
  if (!r->redis) {
    snprintf(msg, n, "[lease] enabled needs Redis ([store] redis)");
    return -1;
  }
  struct cmd_lease *l = calloc(1, sizeof *l);
  if (!l) {
    snprintf(msg, n, "out of memory");
    return -1;
  }
  r->lease = l;
  l->r = r;
  l->ttl_ms = c->ttl_ms;
  l->renew_ms = c->renew_ms ? c->renew_ms : c->ttl_ms / 3;
  l->margin_ms = c->margin_ms ? c->margin_ms : c->ttl_ms / 5;
  if (l->renew_ms * 2 > l->ttl_ms || l->margin_ms + l->renew_ms >= l->ttl_ms) {
    snprintf(msg, n,
             "[lease] renew_ms (%d) must be at most half of ttl_ms (%d), and "
             "renew_ms + margin_ms (%d) below it",
             l->renew_ms, l->ttl_ms, l->margin_ms);
    return -1;
  }
  if (c->id[0]) {
    snprintf(l->id, sizeof l->id, "%s", c->id);
  } else {
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    snprintf(l->id, sizeof l->id, "%s:%ld", host[0] ? host : "carematchd",
             (long)getpid());
  }
  l->preferred = listed(c->prefer, r->name);
  l->started = mono_ms();
  const char *ig = getenv(IGNORE_LOSS_ENV);
  l->ignore_loss = ig && !strcmp(ig, "1");
  if (l->ignore_loss)
    fprintf(stderr,
            "carematchd: %s=1: fault injection, the lease's loss is "
            "ignored (tests only)\n",
            IGNORE_LOSS_ENV);
  /* no offer before the first holding: the fence is 0, never an epoch */
  cm_ledger_redis_fence_set(r->ledger, 0, l->id);
  struct timeval tv = {l->renew_ms / 1000, (l->renew_ms % 1000) * 1000};
  l->tick = event_new(d->base, -1, EV_PERSIST, on_tick, l);
  l->aim = evtimer_new(d->base, on_aim, l);
  if (!l->tick || !l->aim || event_priority_set(l->tick, 0) != 0 ||
      event_priority_set(l->aim, 0) != 0 || event_add(l->tick, &tv) != 0) {
    snprintf(msg, n, "cannot start the lease's timer");
    return -1;
  }
  fprintf(stderr,
          "carematchd: lease of region %s: as %s, ttl %d ms, renewed every "
          "%d ms\n",
          r->name, l->id, l->ttl_ms, l->renew_ms);
  on_tick(-1, 0, l); /* at once when the lease's connection is up; else at
                        the first tick after it connects (between turns) */
  return 0;
}

void cmd_lease_stop(cmd_region *r) {
  struct cmd_lease *l = r->lease;
  if (!l)
    return;
  if (l->waiting) /* its answer is dropped (freed with the connection) */
    l->waiting->l = NULL;
  if (l->release_ctx) /* the same for a hand-back's */
    *l->release_ctx = NULL;
  if (l->read_ctx) /* and a read's */
    *l->read_ctx = NULL;
  if (l->tick)
    event_free(l->tick);
  if (l->aim)
    event_free(l->aim);
  if (l->leads && !l->ignore_loss) {
    cm_redis_lease out;
    cm_error err;
    if (cm_redis_lease_release(r->redis, l->id, l->renew_ms, &out, &err) ==
            CM_OK &&
        out.mine)
      fprintf(stderr, "carematchd: lease of region %s released\n", r->name);
  }
  free(l);
  r->lease = NULL;
}

/* ms from the takeover to step t (-1: not reached). */
static long long since_taken(const struct takeover_clock *k, int64_t t) {
  return t ? (long long)(t - k->taken) : -1;
}

void cmd_lease_note(cmd_region *r, cmd_lease_step step, int ok) {
  struct cmd_lease *l = r->lease;
  if (!l || !l->tk.open || !l->leads)
    return;
  struct takeover_clock *k = &l->tk;
  int64_t now = mono_ms();
  if (step == CMD_LEASE_SYNCED && !k->followed) {
    if (ok)
      k->followed = now;
    else
      k->waits++;
  } else if (step == CMD_LEASE_BEGUN && !k->begun) {
    cm_engine_stats st;
    cm_engine_stats_get(r->eng, &st);
    k->begun = now;
    k->pending = st.by_state[CM_REQ_PENDING];
  } else if (step == CMD_LEASE_COMMITTED && k->begun) {
    k->batches++;
    if (!k->committed)
      k->committed = now;
    if (!ok || offers_made(r) <= k->offers0)
      return; /* no offer yet */
    k->offered = now;
    k->open = 0;
    fprintf(stderr,
            "carematchd: takeover of region %s (epoch %llu): the attempt sent "
            "%lld ms before the lease was taken; from it, synced +%lld ms "
            "(%d steps waited first), first batch begun +%lld ms (%d "
            "pending), committed +%lld ms, first offer committed +%lld ms "
            "(batch %d; %llu positions taken since the lease)\n",
            r->name, (unsigned long long)l->epoch,
            (long long)(k->taken - k->sent), since_taken(k, k->followed),
            k->waits, since_taken(k, k->begun), k->pending,
            since_taken(k, k->committed), since_taken(k, k->offered),
            k->batches, (unsigned long long)(r->positions - k->pos0));
  }
}

int cmd_lease_leads(const cmd_region *r) {
  const struct cmd_lease *l = r->lease;
  if (!l)
    return 1;
  return l->leads && !l->handing_back &&
         (l->ignore_loss || mono_ms() < l->deadline);
}

const char *cmd_lease_role(const cmd_region *r) {
  if (!r->lease)
    return "";
  return cmd_lease_leads(r) ? "leader" : "standby";
}

json_t *cmd_lease_json(const cmd_region *r) {
  const struct cmd_lease *l = r->lease;
  if (!l) /* no lease: this daemon runs its batches alone */
    return json_pack("{s:s,s:b,s:b,s:n}", "region", r->name, "lease", 0,
                     "leader", 1, "holder");
  json_t *holder = l->seen_ok && l->seen.holder[0]
                       ? json_pack("{s:s,s:I,s:I}", "id", l->seen.holder,
                                   "epoch", (json_int_t)l->seen.epoch,
                                   "since_ms", (json_int_t)l->seen.since_ms)
                       : json_null();
  return json_pack("{s:s,s:b,s:s,s:b,s:o,s:i}", "region", r->name, "lease", 1,
                   "id", l->id, "leader", cmd_lease_leads(r), "holder", holder,
                   "ttl_ms", l->ttl_ms);
}

/* Seconds from the last takeover to its step at t (-1: none, not yet). */
static double step_s(const struct cmd_lease *l, int64_t t) {
  return l && l->tk.taken && t ? (double)(t - l->tk.taken) / 1000.0 : -1.0;
}

void cmd_lease_metrics(const cmd_region *r, char *buf, size_t n) {
  const struct cmd_lease *l = r->lease;
  cm_ledger_redis_stats rs; /* zeros without a Redis ledger */
  cm_ledger_redis_stats_get(r->ledger, &rs);
  snprintf(
      buf, n,
      "# HELP carematch_lease_leader 1 while this daemon holds the region's "
      "lease and runs its batches (always 1 without [lease])\n"
      "# TYPE carematch_lease_leader gauge\n"
      "carematch_lease_leader %d\n"
      "# HELP carematch_lease_epoch the lease epoch this daemon holds or last "
      "held (0: never)\n"
      "# TYPE carematch_lease_epoch gauge\n"
      "carematch_lease_epoch %llu\n"
      "# HELP carematch_lease_takeovers_total times this daemon took the "
      "lease (a new epoch)\n"
      "# TYPE carematch_lease_takeovers_total counter\n"
      "carematch_lease_takeovers_total %llu\n"
      "# HELP carematch_lease_renew_failures_total renewals that failed or "
      "timed out\n"
      "# TYPE carematch_lease_renew_failures_total counter\n"
      "carematch_lease_renew_failures_total %llu\n"
      "# HELP carematch_lease_losses_total times this daemon stopped leading "
      "(renewal failed, or another holds the lease)\n"
      "# TYPE carematch_lease_losses_total counter\n"
      "carematch_lease_losses_total %llu\n"
      "# HELP carematch_lease_handbacks_total times this daemon released "
      "the lease to a daemon that prefers the region\n"
      "# TYPE carematch_lease_handbacks_total counter\n"
      "carematch_lease_handbacks_total %llu\n"
      "# HELP carematch_lease_takeover_seconds the last takeover by this "
      "daemon: seconds from the lease taken to the engine synced, the "
      "first batch begun and committed, and the first offer committed "
      "(-1: not yet)\n"
      "# TYPE carematch_lease_takeover_seconds gauge\n"
      "carematch_lease_takeover_seconds{step=\"synced\"} %.3f\n"
      "carematch_lease_takeover_seconds{step=\"begun\"} %.3f\n"
      "carematch_lease_takeover_seconds{step=\"committed\"} %.3f\n"
      "carematch_lease_takeover_seconds{step=\"offered\"} %.3f\n"
      "# HELP carematch_lease_takeover_waits steps of the last takeover "
      "that found the engine not synced (e.g. a rebuild waiting for writes "
      "in flight)\n"
      "# TYPE carematch_lease_takeover_waits gauge\n"
      "carematch_lease_takeover_waits %d\n"
      "# HELP carematch_ledger_stale_epoch_total offers Redis refused "
      "because their lease epoch was no longer the region's\n"
      "# TYPE carematch_ledger_stale_epoch_total counter\n"
      "carematch_ledger_stale_epoch_total %llu\n",
      cmd_lease_leads(r), l ? (unsigned long long)l->epoch : 0ULL,
      l ? (unsigned long long)l->acquisitions : 0ULL,
      l ? (unsigned long long)l->renew_failures : 0ULL,
      l ? (unsigned long long)l->losses : 0ULL,
      l ? (unsigned long long)l->handbacks : 0ULL,
      step_s(l, l ? l->tk.followed : 0), step_s(l, l ? l->tk.begun : 0),
      step_s(l, l ? l->tk.committed : 0), step_s(l, l ? l->tk.offered : 0),
      l ? l->tk.waits : 0, (unsigned long long)rs.stale_epoch);
}
