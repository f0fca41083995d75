/* redis_cluster.c -- Redis Cluster routing of a connection (see
 * redis_cluster.h, docs/cluster.md).
 *
 * One region, one slot: the connection needs no slot map, only the master
 * of its slot. Before each connect it asks the nodes it knows (the seeds,
 * then every node a topology named) with a blocking hiredis context
 * (CLUSTER SHARDS; CLUSTER SLOTS when the server is older than 7); a
 * connection on the caller's base asks them without waiting, from the
 * base's callbacks (redis_route.c). On a
 * synchronous connection (a private base) a redirected command is sent
 * again on a blocking side connection to the node named, inside the
 * reply callback, so the batch sees one reply per command, in order, and
 * answers each command exactly once (cm__rd_cluster_follow). The group
 * commit on the caller's loop never does that: it sends a refused command
 * again itself from a timer (redis_group.c, cm__rd_cluster_later). A
 * MOVED also marks the connection to move, and it reconnects to the new
 * owner as soon as no command of it is in flight (a synchronous
 * connection at its next call; the group commit's, on the caller's loop,
 * when its user pings it between two turns, cm_redis_move_pending, or
 * from the group's retry timer). A MOVED answered to a command sent
 * without following (the asynchronous follow's reads) marks it too, when
 * the reply is checked (cm__rd_cluster_note). */
#include <ctype.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis_cluster.h"
#include "redis_conn.h"
#include "redis_scripts.h"
#include "redis_slot.h"

#define FOLLOW_HOPS 16 /* redirections and retries of one command, at most */
/* CLUSTERDOWN is retried this long at most by the blocking follow (not
 * timeout_ms): a failover takes seconds, and each retry blocks the
 * caller for every command of a pipeline in turn; a command still
 * refused fails CM_E_UNAVAILABLE and is retried later. (The group commit
 * on a loop retries without blocking, for timeout_ms: redis_group.c.) */
#define CLUSTERDOWN_MS 250

/* Parse "host:port" (the last ':' splits: an IPv6 host without brackets
 * keeps its own) of s[0..n) into *out. Returns 0, -1 when malformed. */
static int node_parse(const char *s, size_t n, cm__rd_node *out) {
  const char *colon = NULL;
  for (size_t i = 0; i < n; i++)
    if (s[i] == ':')
      colon = s + i;
  if (!colon || colon == s || (size_t)(colon - s) >= sizeof out->host)
    return -1;
  const char *h = s, *he = colon;
  if (*h == '[' && he[-1] == ']') {
    h++;
    he--;
  }
  long port = 0;
  for (const char *p = colon + 1; p < s + n; p++) {
    if (!isdigit((unsigned char)*p) || port > 65535)
      return -1;
    port = port * 10 + (*p - '0');
  }
  if (port < 1 || port > 65535 || he <= h)
    return -1;
  memcpy(out->host, h, (size_t)(he - h));
  out->host[he - h] = '\0';
  out->port = (int)port;
  return 0;
}

/* Add host:port to the nodes asked unless known or full. */
static void node_learn(cm__rd_cluster *cl, const char *host, size_t hn,
                       long long port) {
  if (hn == 0 || hn >= sizeof cl->nodes[0].host || port < 1 || port > 65535)
    return;
  for (int i = 0; i < cl->n_nodes; i++)
    if (cl->nodes[i].port == port && strlen(cl->nodes[i].host) == hn &&
        memcmp(cl->nodes[i].host, host, hn) == 0)
      return;
  if (cl->n_nodes >= CM__RD_SEEDS_MAX)
    return;
  memcpy(cl->nodes[cl->n_nodes].host, host, hn);
  cl->nodes[cl->n_nodes].host[hn] = '\0';
  cl->nodes[cl->n_nodes].port = (int)port;
  cl->n_nodes++;
}

cm_status cm__rd_cluster_new(cm_redis *r, const cm_redis_options *o,
                             cm_error *err) {
  if (o->db != 0)
    return cm_error_set(err, CM_E_INVALID, "$.db",
                        "$.db: a Redis Cluster has only database 0");
  cm__rd_cluster *cl = calloc(1, sizeof *cl);
  if (!cl)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  cl->slot = cm__rd_slot_of_region(r->keys.region);
  node_learn(cl, r->host, strlen(r->host), r->port);
  for (const char *s = o->seeds; s && *s;) {
    size_t n = strcspn(s, ",");
    cm__rd_node nd;
    if (node_parse(s, n, &nd) != 0) {
      free(cl);
      return cm_error_set(err, CM_E_INVALID, "$.seeds",
                          "$.seeds: each seed is host:port, comma separated");
    }
    node_learn(cl, nd.host, strlen(nd.host), nd.port);
    s += n + (s[n] == ',');
  }
  cl->n_given = cl->n_nodes;
  r->cl = cl;
  return CM_OK;
}

static void side_close(cm__rd_cluster *cl) {
  if (cl->side)
    redisFree(cl->side);
  cl->side = NULL;
  cl->side_void |= cl->side_dirty; /* a WAIT elsewhere covers none of it */
}

void cm__rd_cluster_free(cm_redis *r) {
  if (!r->cl)
    return;
  side_close(r->cl);
  free(r->cl);
  r->cl = NULL;
}

/* A blocking connection to host:port with r's AUTH, every call bounded by
 * r->timeout_ms. Returns it, or NULL with why set. */
static redisContext *sync_connect(cm_redis *r, const char *host, int port,
                                  char *why, size_t n) {
  struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
  int cms = r->timeout_ms < CM__RD_NODE_CONNECT_MS ? r->timeout_ms
                                                   : CM__RD_NODE_CONNECT_MS;
  struct timeval ctv = {cms / 1000, (cms % 1000) * 1000};
  redisContext *c = redisConnectWithTimeout(host, port, ctv);
  if (!c || c->err) {
    snprintf(why, n, "connect to %.100s:%d failed: %.60s", host, port,
             c ? c->errstr : "out of memory");
    if (c)
      redisFree(c);
    if (r->cl)
      r->cl->stats.node_failures++;
    return NULL;
  }
  redisSetTimeout(c, tv);
  if (r->password[0]) {
    redisReply *rep = r->user[0]
                          ? redisCommand(c, "AUTH %s %s", r->user, r->password)
                          : redisCommand(c, "AUTH %s", r->password);
    int ok = rep && rep->type != REDIS_REPLY_ERROR;
    if (!ok)
      snprintf(why, n, "AUTH refused by %.100s:%d: %.60s", host, port,
               rep && rep->str ? rep->str : "no reply");
    if (rep)
      freeReplyObject(rep);
    if (!ok) {
      redisFree(c);
      return NULL;
    }
  }
  return c;
}

/* The string of a RESP2 map (flat array) entry named key, or NULL. */
static const redisReply *map_get(const redisReply *m, const char *key) {
  if (!m || m->type != REDIS_REPLY_ARRAY)
    return NULL;
  for (size_t i = 0; i + 1 < m->elements; i += 2)
    if (m->element[i]->type == REDIS_REPLY_STRING &&
        strcmp(m->element[i]->str, key) == 0)
      return m->element[i + 1];
  return NULL;
}

static int is_str(const redisReply *x, const char *s) {
  return x && x->type == REDIS_REPLY_STRING && strcmp(x->str, s) == 0;
}

int cm__rd_cluster_from_shards(cm__rd_cluster *cl, const redisReply *rep,
                               cm__rd_node *owner) {
  int found = 0;
  if (rep->type != REDIS_REPLY_ARRAY)
    return -1;
  for (size_t s = 0; s < rep->elements; s++) {
    const redisReply *slots = map_get(rep->element[s], "slots");
    const redisReply *nodes = map_get(rep->element[s], "nodes");
    if (!slots || !nodes || slots->type != REDIS_REPLY_ARRAY ||
        nodes->type != REDIS_REPLY_ARRAY)
      return -1;
    int mine = 0;
    for (size_t k = 0; k + 1 < slots->elements; k += 2)
      mine |= slots->element[k]->integer <= cl->slot &&
              cl->slot <= slots->element[k + 1]->integer;
    for (size_t k = 0; k < nodes->elements; k++) {
      const redisReply *nd = nodes->element[k];
      const redisReply *ip = map_get(nd, "endpoint"),
                       *port = map_get(nd, "port");
      if (!ip || ip->type != REDIS_REPLY_STRING || !ip->len || is_str(ip, "?"))
        ip = map_get(nd, "ip");
      if (!ip || ip->type != REDIS_REPLY_STRING || !port ||
          port->type != REDIS_REPLY_INTEGER)
        continue;
      node_learn(cl, ip->str, ip->len, port->integer);
      if (mine && is_str(map_get(nd, "role"), "master") &&
          is_str(map_get(nd, "health"), "online") &&
          ip->len < sizeof owner->host) {
        memcpy(owner->host, ip->str, ip->len);
        owner->host[ip->len] = '\0';
        owner->port = (int)port->integer;
        found = 1;
      }
    }
  }
  return found;
}

int cm__rd_cluster_from_slots(cm__rd_cluster *cl, const redisReply *rep,
                              cm__rd_node *owner) {
  int found = 0;
  if (rep->type != REDIS_REPLY_ARRAY)
    return -1;
  for (size_t s = 0; s < rep->elements; s++) {
    const redisReply *e = rep->element[s];
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3)
      return -1;
    for (size_t k = 2; k < e->elements; k++) {
      const redisReply *nd = e->element[k];
      if (nd->type != REDIS_REPLY_ARRAY || nd->elements < 2 ||
          nd->element[0]->type != REDIS_REPLY_STRING ||
          nd->element[1]->type != REDIS_REPLY_INTEGER)
        continue;
      node_learn(cl, nd->element[0]->str, nd->element[0]->len,
                 nd->element[1]->integer);
      if (k == 2 && e->element[0]->integer <= cl->slot &&
          cl->slot <= e->element[1]->integer &&
          nd->element[0]->len < sizeof owner->host) {
        memcpy(owner->host, nd->element[0]->str, nd->element[0]->len);
        owner->host[nd->element[0]->len] = '\0';
        owner->port = (int)nd->element[1]->integer;
        found = 1;
      }
    }
  }
  return found;
}

int cm__rd_cluster_last(const cm_redis *r) {
  const cm__rd_cluster *cl = r->cl;
  for (int i = 0; i < cl->n_nodes; i++)
    if (cl->nodes[i].port == r->port && !strcmp(cl->nodes[i].host, r->host))
      return i;
  return -1;
}

int cm__rd_cluster_nth(const cm__rd_cluster *cl, int last, int k) {
  return last < 0 ? k : (last + 1 + k) % cl->n_nodes;
}

cm_status cm__rd_cluster_route(cm_redis *r, cm_error *err) {
  cm__rd_cluster *cl = r->cl;
  if (cl->has_target) { /* a MOVED named the owner: go straight there */
    cl->stats.moves++;
    cl->has_target = 0;
    cl->moved = 0;
    snprintf(r->host, sizeof r->host, "%s", cl->target.host);
    r->port = cl->target.port;
    return CM_OK;
  }
  cl->moved = 0;
  cl->stats.resolves++;
  char why[256] = "no node to ask";
  cm_status st = CM_E_UNAVAILABLE;
  int last = cm__rd_cluster_last(r);
  for (int k = 0; k < cl->n_nodes; k++) {
    int i = cm__rd_cluster_nth(cl, last, k);
    cm__rd_node at = cl->nodes[i], owner; /* a copy: nodes may grow */
    redisContext *c = sync_connect(r, at.host, at.port, why, sizeof why);
    if (!c)
      continue;
    int found = -1;
    redisReply *rep = redisCommand(c, "CLUSTER SHARDS");
    if (rep && rep->type == REDIS_REPLY_ERROR && rep->str &&
        strstr(rep->str, "cluster support disabled")) {
      snprintf(why, sizeof why, "%.100s:%d is not in cluster mode", at.host,
               at.port);
      st = CM_E_IO;
    } else {
      if (rep && rep->type == REDIS_REPLY_ERROR) { /* before Redis 7 */
        freeReplyObject(rep);
        rep = redisCommand(c, "CLUSTER SLOTS");
        if (rep && rep->type != REDIS_REPLY_ERROR)
          found = cm__rd_cluster_from_slots(cl, rep, &owner);
      } else if (rep) {
        found = cm__rd_cluster_from_shards(cl, rep, &owner);
      }
      if (found == 0)
        snprintf(why, sizeof why,
                 "slot %d has no master online (asked %.80s:%d)", cl->slot,
                 at.host, at.port);
      else if (found < 0)
        snprintf(why, sizeof why, "%.100s:%d gave no topology: %.40s", at.host,
                 at.port, rep && rep->str ? rep->str : c->errstr);
    }
    if (rep)
      freeReplyObject(rep);
    redisFree(c);
    if (found == 1) {
      snprintf(r->host, sizeof r->host, "%s", owner.host);
      r->port = owner.port;
      return CM_OK;
    }
    if (st == CM_E_IO)
      break;
  }
  snprintf(r->why, sizeof r->why, "cluster: %.150s", why);
  return cm_error_set(err, st, "", "redis cluster (slot %d) is unavailable: %s",
                      cl->slot, why);
}

int cm__rd_cluster_should_move(const cm_redis *r) {
  return r->cl && r->cl->moved && r->ac && !r->ac->replies.head;
}

int cm__rd_cluster_busy_error(const redisReply *rep) {
  static const char *const words[] = {"TRYAGAIN", "CLUSTERDOWN", "MOVED ",
                                      "ASK "};
  if (!rep || rep->type != REDIS_REPLY_ERROR || !rep->str)
    return 0;
  for (size_t i = 0; i < sizeof words / sizeof *words; i++)
    if (strncmp(rep->str, words[i], strlen(words[i])) == 0)
      return 1;
  return 0;
}

/* The node of a MOVED/ASK error "<WORD> <slot> <host>:<port>"; an empty
 * host is the node that answered (at). Returns 0, -1 malformed. */
static int redirect_node(const char *s, const cm__rd_node *at,
                         cm__rd_node *out) {
  const char *sp = strchr(s, ' ');
  sp = sp ? strchr(sp + 1, ' ') : NULL;
  if (!sp)
    return -1;
  sp++;
  if (*sp == ':') { /* "MOVED 3999 :6380": the same host */
    char buf[300];
    snprintf(buf, sizeof buf, "%s%s", at->host, sp);
    return node_parse(buf, strlen(buf), out);
  }
  return node_parse(sp, strlen(sp), out);
}

/* The side connection to nd, connected (with AUTH and the scripts loaded,
 * so an EVALSHA runs there) when it is not already. NULL on failure. */
static redisContext *side_to(cm_redis *r, const cm__rd_node *nd) {
  cm__rd_cluster *cl = r->cl;
  if (cl->side && (cl->side->err || cl->side_node.port != nd->port ||
                   strcmp(cl->side_node.host, nd->host) != 0))
    side_close(cl);
  if (cl->side)
    return cl->side;
  char why[256];
  redisContext *c = sync_connect(r, nd->host, nd->port, why, sizeof why);
  if (!c) {
    snprintf(r->why, sizeof r->why, "cluster: %.150s", why);
    return NULL;
  }
  for (int i = 0; i < CM__RD_NSCRIPTS; i++) {
    redisReply *rep =
        redisCommand(c, "SCRIPT LOAD %s", cm__rd_script_source(i));
    int ok = rep && rep->type == REDIS_REPLY_STRING;
    if (rep)
      freeReplyObject(rep);
    if (!ok) {
      redisFree(c);
      return NULL;
    }
  }
  cl->side = c;
  cl->side_node = *nd;
  return c;
}

/* Send cmd on the side connection to nd (after ASKING when asking) and
 * read its reply. Returns it (the caller frees it), or NULL. */
static redisReply *side_call(cm_redis *r, const cm__rd_node *nd, int asking,
                             const char *cmd, size_t len) {
  redisContext *c = side_to(r, nd);
  void *rep = NULL;
  if (!c)
    return NULL;
  if (asking)
    redisAppendCommand(c, "ASKING");
  redisAppendFormattedCommand(c, cmd, len);
  if (asking) {
    if (redisGetReply(c, &rep) != REDIS_OK) {
      side_close(r->cl);
      return NULL;
    }
    freeReplyObject(rep); /* +OK */
    rep = NULL;
  }
  if (redisGetReply(c, &rep) != REDIS_OK) {
    r->cl->side_dirty = 1; /* it may have run */
    side_close(r->cl);
    return NULL;
  }
  if (!cm__rd_cluster_busy_error(rep)) /* it ran here (a redirection or a
                                          TRYAGAIN did not) */
    r->cl->side_dirty = 1;
  return rep;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

/* 1 when cmd is a WAIT (as redis_durability.c sends it). */
static int is_wait(const char *cmd, size_t len) {
  static const char head[] = "*3\r\n$4\r\nWAIT\r\n";
  return len > sizeof head - 1 && memcmp(cmd, head, sizeof head - 1) == 0;
}

/* A WAIT answered by r's node covers only what r wrote there: when
 * commands were sent again on the side connection since, the same WAIT
 * runs there too, and the answer is the smaller count; 0 when the side
 * connection that ran them was closed since (a WAIT on another one
 * covers none of them); NULL when the side connection failed now. */
static const redisReply *wait_both(cm_redis *r, const char *cmd, size_t len,
                                   const redisReply *rep, redisReply **owned) {
  cm__rd_cluster *cl = r->cl;
  cm__rd_node nd = cl->side_node;
  redisReply *side = side_call(r, &nd, 0, cmd, len);
  if (side && side->type == REDIS_REPLY_INTEGER &&
      (cl->side_void || rep->integer < side->integer))
    side->integer = cl->side_void ? 0 : rep->integer;
  cl->side_dirty = cl->side_void = 0;
  *owned = side;
  return side;
}

/* A MOVED for the region's slot (the only one its keys use) names its
 * owner: r's connection moves there as soon as no command of it is in
 * flight (cm__rd_cluster_should_move). Returns the node named in *to. */
static int note_moved(cm_redis *r, const char *s, const cm__rd_node *at,
                      cm__rd_node *to) {
  cm__rd_cluster *cl = r->cl;
  if (redirect_node(s, at, to) != 0)
    return -1;
  cl->stats.moved++;
  cl->moved = 1;
  cl->has_target = 1;
  cl->target = *to;
  return 0;
}

void cm__rd_cluster_note(cm_redis *r, const redisReply *rep) {
  cm__rd_node at = {"", r ? r->port : 0}, to;
  if (!r || !r->cl || !rep || rep->type != REDIS_REPLY_ERROR || !rep->str ||
      strncmp(rep->str, "MOVED ", 6) != 0)
    return;
  snprintf(at.host, sizeof at.host, "%s", r->host);
  note_moved(r, rep->str, &at, &to);
}

int cm__rd_cluster_later(cm_redis *r, const redisReply *rep) {
  cm__rd_node at = {"", r->port}, to;
  if (!r->cl || !rep || rep->type != REDIS_REPLY_ERROR || !rep->str)
    return 0;
  snprintf(at.host, sizeof at.host, "%s", r->host);
  if (strncmp(rep->str, "MOVED ", 6) == 0 &&
      note_moved(r, rep->str, &at, &to) == 0)
    return 1;
  r->cl->stats.retried++;
  return 0;
}

const redisReply *cm__rd_cluster_follow(cm_redis *r, const char *cmd,
                                        size_t len, const redisReply *rep,
                                        redisReply **owned) {
  cm__rd_cluster *cl = r->cl;
  *owned = NULL;
  if (!cl || !cmd)
    return rep;
  if (cl->side_dirty && rep && rep->type == REDIS_REPLY_INTEGER &&
      is_wait(cmd, len))
    return wait_both(r, cmd, len, rep, owned);
  cm__rd_node at = {"", r->port}; /* who answered rep */
  snprintf(at.host, sizeof at.host, "%s", r->host);
  int64_t deadline = cm__rd_now_ms() + r->timeout_ms;
  int wait = r->backoff_min_ms > 0 ? r->backoff_min_ms : 10;
  if (wait > 50)
    wait = 50; /* TRYAGAIN lasts while a migration moves a batch of keys */
  for (int hop = 0; hop < FOLLOW_HOPS && rep && cm__rd_cluster_busy_error(rep);
       hop++) {
    const char *s = rep->str;
    cm__rd_node to = at;
    int asking = 0;
    if (strncmp(s, "MOVED ", 6) == 0 || strncmp(s, "ASK ", 4) == 0) {
      asking = s[0] == 'A';
      if (asking ? redirect_node(s, &at, &to) : note_moved(r, s, &at, &to))
        break; /* handed on as it is: an error reply */
      if (asking)
        cl->stats.asked++;
    } else { /* TRYAGAIN, CLUSTERDOWN: the same node, a little later */
      if (strncmp(s, "CLUSTERDOWN", 11) == 0 &&
          deadline > cm__rd_now_ms() + CLUSTERDOWN_MS)
        deadline = cm__rd_now_ms() + CLUSTERDOWN_MS;
      if (cm__rd_now_ms() + wait > deadline)
        break;
      cl->stats.retried++;
      sleep_ms(wait);
      if (wait < 400)
        wait *= 2;
    }
    redisReply *next = side_call(r, &to, asking, cmd, len);
    cm__rd_cluster_release(*owned);
    *owned = next;
    rep = next;
    if (!asking)
      at = to;
  }
  return rep;
}

void cm__rd_cluster_release(redisReply *owned) {
  if (owned)
    freeReplyObject(owned);
}

int cm__rd_cmdq_push(cm__rd_cmdq *q, char *cmd, size_t len) {
  if (q->n == q->cap) {
    size_t cap = q->cap ? q->cap * 2 : 64;
    char **c = malloc(cap * sizeof *c);
    size_t *l = malloc(cap * sizeof *l);
    if (!c || !l) {
      free(c);
      free(l);
      redisFreeCommand(cmd);
      return -1;
    }
    for (size_t i = 0; i < q->n; i++) {
      c[i] = q->cmd[(q->head + i) % q->cap];
      l[i] = q->len[(q->head + i) % q->cap];
    }
    free(q->cmd);
    free(q->len);
    q->cmd = c;
    q->len = l;
    q->head = 0;
    q->cap = cap;
  }
  size_t at = (q->head + q->n) % q->cap;
  q->cmd[at] = cmd;
  q->len[at] = len;
  q->n++;
  return 0;
}

int cm__rd_cmdq_pop(cm__rd_cmdq *q, char **cmd, size_t *len) {
  if (!q->n)
    return -1;
  *cmd = q->cmd[q->head];
  *len = q->len[q->head];
  q->head = (q->head + 1) % q->cap;
  q->n--;
  return 0;
}

void cm__rd_cmdq_free(cm__rd_cmdq *q) {
  char *c;
  size_t l;
  while (cm__rd_cmdq_pop(q, &c, &l) == 0)
    redisFreeCommand(c);
  free(q->cmd);
  free(q->len);
  memset(q, 0, sizeof *q);
}
