/* redis_hello.c -- the handshake of a connection on the caller's event
 * base, without waiting: AUTH, SELECT, SCRIPT LOAD of every script, the
 * ACL probe (redis_auth.c) and, at durability = replica, ROLE are queued
 * on the new connection at once (hiredis writes them when the socket is
 * up), the probe's EVALSHA from its SCRIPT LOAD's reply; the connection
 * is ready when the last reply is in. A timer of the connection's
 * timeout_ms drops a handshake that gets no answer (a server that
 * accepts and never replies). Nothing here runs the loop: the callbacks
 * run from the caller's own turns (docs/async-log.md, step g). */
#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_argv.h"
#include "redis_call.h"
#include "redis_conn.h"
#include "redis_durability.h"

enum { HS_AUTH, HS_SELECT, HS_LOAD, HS_PROBE_LOAD, HS_PROBE_RUN, HS_ROLE };

#define HS_MAX (CM__RD_NSCRIPTS + 8) /* commands of one handshake at most */

struct cm__rd_hello {
  cm_redis *r;         /* the connection shaking hands */
  struct event *timer; /* gives up after timeout_ms */
  int kind[HS_MAX];    /* what each command sent is, in sending order */
  int sent, answered;  /* commands sent, replies in */
  int failed;          /* a reply was missing or refused */
  char probe_sha[41];  /* the ACL probe's SHA1, once loaded */
};

/* Everything answered: ready, or not with r->why and the backoff. */
static void hello_end(cm__rd_hello *h) {
  cm_redis *r = h->r;
  r->hello = NULL;
  if (h->timer)
    event_free(h->timer);
  if (!h->failed && r->ac) {
    r->ready = 1;
    r->why[0] = '\0';
    r->epoch++;
    r->failures = 0;
    r->next_try_ms = 0;
  } else {
    r->ready = 0;
    cm__rd_backoff(r);
  }
  free(h);
}

/* A refusal: the connection goes (the same answer would come again), and
 * the replies still due arrive as NULL. */
static void hello_refused(cm__rd_hello *h, const char *fmt, const char *what,
                          const redisReply *rep) {
  char why[160];
  h->failed = 1;
  snprintf(why, sizeof why, fmt, what,
           rep && rep->str ? rep->str : "unexpected reply");
  cm__rd_drop(h->r, why);
  snprintf(h->r->why, sizeof h->r->why, "%s", why);
}

static int hello_send(cm__rd_hello *h, int kind, cm__rd_argv *a);

static void on_hello_reply(redisAsyncContext *ac, void *reply, void *priv) {
  (void)ac;
  cm__rd_hello *h = priv;
  cm_redis *r = h->r;
  const redisReply *rep = reply;
  int kind = h->kind[h->answered++];
  if (!rep) {
    h->failed = 1; /* lost: r->why says how (the drop, the timer) */
  } else if (h->failed) {
    ; /* after a refusal: nothing more to learn */
  } else if (kind == HS_ROLE) {
    cm__rd_gate_role(r, rep); /* as the synchronous probe: never fatal */
  } else if (rep->type == REDIS_REPLY_ERROR) {
    hello_refused(h, "%s: %.140s",
                  kind == HS_AUTH                            ? "AUTH refused"
                  : kind == HS_SELECT                        ? "SELECT"
                  : kind == HS_LOAD || kind == HS_PROBE_LOAD ? "SCRIPT LOAD"
                                                             : "EVALSHA",
                  rep);
  } else if (kind == HS_LOAD || kind == HS_PROBE_LOAD) {
    if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
      hello_refused(h, "%s: %.140s", "SCRIPT LOAD answered no SHA1", NULL);
    } else if (kind == HS_LOAD) {
      int i = 0; /* the scripts are loaded in order, after AUTH, SELECT */
      for (int k = 0; k < h->answered - 1; k++)
        i += h->kind[k] == HS_LOAD;
      memcpy(r->sha[i], rep->str, 40);
      r->sha[i][40] = '\0';
    } else {
      memcpy(h->probe_sha, rep->str, 40);
      h->probe_sha[40] = '\0';
      cm__rd_argv a; /* its SHA1 known: run it */
      cm__rd_argv_init(&a);
      cm__rd_argv_str(&a, "EVALSHA");
      cm__rd_argv_str(&a, h->probe_sha);
      cm__rd_argv_str(&a, "1");
      cm__rd_argv_add(&a, r->keys.fixed[0], r->keys.fixed_len[0]);
      cm__rd_argv_str(&a, r->sha[0]);
      if (hello_send(h, HS_PROBE_RUN, &a) != 0)
        h->failed = 1;
      cm__rd_argv_free(&a);
    }
  } else if (kind == HS_PROBE_RUN && rep->type == REDIS_REPLY_STRING &&
             rep->len > 0) {
    char denied[64];
    snprintf(denied, sizeof denied, "%.*s", (int)rep->len, rep->str);
    h->failed = 1;
    char why[160];
    cm__rd_acl_denied_message(why, sizeof why, denied);
    cm__rd_drop(r, why);
  }
  if (h->answered == h->sent)
    hello_end(h);
}

/* Queue one command of the handshake. Returns 0, or -1 (not queued). */
static int hello_send(cm__rd_hello *h, int kind, cm__rd_argv *a) {
  cm_redis *r = h->r;
  if (!r->ac || h->sent >= HS_MAX || cm__rd_argv_finish(a) != 0) {
    cm__rd_argv_reset(a);
    return -1;
  }
  int rc = redisAsyncCommandArgv(r->ac, on_hello_reply, h, a->argc, a->ptrs,
                                 a->alen);
  cm__rd_argv_reset(a);
  if (rc != REDIS_OK)
    return -1;
  h->kind[h->sent++] = kind;
  return 0;
}

static void on_hello_timeout(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  cm__rd_hello *h = arg;
  char why[96];
  snprintf(why, sizeof why, "no reply within %d ms while connecting",
           h->r->timeout_ms);
  cm__rd_drop(h->r, why); /* every reply due comes as NULL: hello_end */
}

int cm__rd_hello_start(cm_redis *r) {
  cm__rd_hello *h = calloc(1, sizeof *h);
  if (!h) {
    snprintf(r->why, sizeof r->why, "out of memory");
    return -1;
  }
  h->r = r;
  struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
  h->timer = evtimer_new(r->base, on_hello_timeout, h);
  if (!h->timer || evtimer_add(h->timer, &tv) != 0) {
    if (h->timer)
      event_free(h->timer);
    free(h);
    snprintf(r->why, sizeof r->why, "cannot add a timer to the event loop");
    return -1;
  }
  r->ready = 0;
  r->hello = h;
  cm__rd_argv a;
  cm__rd_argv_init(&a);
  int rc = 0;
  if (r->password[0]) {
    cm__rd_argv_str(&a, "AUTH");
    if (r->user[0])
      cm__rd_argv_str(&a, r->user);
    cm__rd_argv_str(&a, r->password);
    rc |= hello_send(h, HS_AUTH, &a);
  }
  if (r->db) {
    cm__rd_argv_str(&a, "SELECT");
    cm__rd_argv_fmt(&a, "%d", r->db);
    rc |= hello_send(h, HS_SELECT, &a);
  }
  for (int i = 0; i < CM__RD_NSCRIPTS && !rc; i++) {
    cm__rd_argv_str(&a, "SCRIPT");
    cm__rd_argv_str(&a, "LOAD");
    cm__rd_argv_str(&a, cm__rd_script_source(i));
    rc |= hello_send(h, HS_LOAD, &a);
  }
  if (!rc) {
    cm__rd_argv_str(&a, "SCRIPT");
    cm__rd_argv_str(&a, "LOAD");
    cm__rd_argv_str(&a, cm__rd_acl_probe_source());
    rc |= hello_send(h, HS_PROBE_LOAD, &a);
  }
  if (!rc && r->role_probe) {
    r->replicas_online = -1;
    cm__rd_argv_str(&a, "ROLE");
    rc |= hello_send(h, HS_ROLE, &a);
  }
  cm__rd_argv_free(&a);
  if (rc) { /* some were not queued: give up on this connection */
    h->failed = 1;
    if (h->sent == 0)
      hello_end(h); /* no reply is due to end it */
    cm__rd_drop(r, "the handshake could not be queued"); /* the replies
                                                           due end it */
    return -1;
  }
  return 0;
}
