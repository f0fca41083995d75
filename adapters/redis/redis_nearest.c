/* redis_nearest.c -- nearest-k queries of the Redis store.
 *
 * Redis finds candidates, the exact answer is computed here: for each
 * candidate the exact stored fields are fetched (HMGET) and filtered with
 * the memory store's rules (store.h's backend checks), distances are
 * cm_geo_distance_km of the stored doubles, hits are ordered by (distance,
 * id). So answers equal the memory store's bit for bit; GEO's quantised
 * positions only decide who is looked at, with margins (redis_geo.h).
 *
 * A batch of queries goes in rounds, every command of a round pipelined:
 *   1. ZCARD of every GEO set any query names, to pick per query the
 *      rarest required skill's set (need_all), each need_any set, or, with
 *      no skill rule, every skill's set; empty sets are skipped.
 *   2. Search. In the safe regime (redis_geo.h): GEOSEARCH FROMLONLAT
 *      BYRADIUS ASC COUNT c WITHDIST per set, over a circle that starts
 *      at min(radius, FIRST_KM) and grows x4 up to the radius: GEOSEARCH
 *      costs Redis every member in its box whatever COUNT says, and in a
 *      city the k nearest are usually far closer than the radius. A reply
 *      that was not cut covers its whole circle; a reply of c members was
 *      cut, and every member it left out is at least the bound of its last
 *      distance away. Elsewhere (near the poles, huge radii) the whole set
 *      is listed once per batch (ZRANGE WITHSCORES), each member's geohash
 *      gives a lower bound of its distance. Workers GEO cannot index (the
 *      offgrid set, redis_geo.h) are added to every query that may reach
 *      them.
 *   3. Fetch: HMGET the candidates (a scan fetches them by rising bound,
 *      a growing slice per round), filter, keep the best k.
 *   A query is done when no worker left out can enter: every bound left
 *   (next candidate, what the search did not cover) is beyond the radius,
 *   or beyond the k-th kept distance (strictly: a tie might have a smaller
 *   id). Otherwise it fetches more, or searches again: a wider circle when
 *   the last one was covered, more COUNT when the reply was cut -- never
 *   wider than the k-th distance found so far.
 * Nothing is written to hits/counts unless the whole call succeeds. */
#include <hiredis/hiredis.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "carematch/solve.h"
#include "carematch/store.h"
#include "redis_call.h"
#include "redis_conn.h"
#include "redis_geo.h"
#include "redis_keys.h"
#include "redis_store.h"
#include "redis_worker.h"

/* A query needs a few searches: log4(radius / FIRST_KM) wider circles
 * and log4(set size) larger COUNTs at most. */
#define ROUNDS_MAX 64
#define FIRST_KM 1.0 /* radius of a query's first search */

enum { PH_SEARCH, PH_FETCH, PH_DONE };
enum { OP_CARD, OP_GEO, OP_LIST, OP_OFFGRID, OP_FETCH };

typedef struct cand {
  char id[CM_ID_MAX]; /* worker id */
  double lb;          /* lower bound of its distance; -1: unknown */
} cand;

typedef struct qstate {
  const cm_store_query *q;
  int k;                  /* answers wanted */
  double r_try;           /* radius of the current search, <= radius_km */
  int cut;                /* the last GEOSEARCH reply was cut by COUNT */
  int safe;               /* GEOSEARCH may be used */
  int offgrid;            /* may reach an off-grid worker */
  int sets[CM__RD_NSETS]; /* sets searched */
  int nsets;              /* */
  long count;             /* GEOSEARCH COUNT */
  int phase;              /* PH_* */
  cand *c;                /* candidates */
  int nc, capc;           /* */
  int next;               /* candidates fetched (a prefix) */
  int step;               /* candidates to fetch next round */
  double tail;            /* cut-off members are at least this far */
  double cover;           /* members this near were all returned (a search
                             circle); INFINITY: the whole radius */
  cm_store_hit *top;      /* best eligible so far, ordered; room k */
  int ntop;               /* */
} qstate;

typedef struct listing {
  int wanted, loaded;    /* asked for this batch / reply arrived */
  int n;                 /* members */
  char (*id)[CM_ID_MAX]; /* members */
  double *lat, *lon;     /* centres of their geohash cells */
} listing;

typedef struct near_op {
  int kind; /* OP_* */
  int q;    /* query (OP_GEO, OP_FETCH) */
  int set;  /* set (OP_CARD, OP_GEO, OP_LIST) */
  int cand; /* candidate (OP_FETCH) */
} near_op;

typedef struct near_ctx {
  cm__rd_store *s;
  cm__rd_batch *b;
  const cm_store_query *queries;
  int nq;
  int64_t now_ms, stale_ms;
  qstate *qs;
  long long card[CM__RD_NSETS]; /* ZCARD of each set, -1: not asked */
  listing lists[CM__RD_NSETS];  /* whole sets, for scans */
  listing off;                  /* the offgrid set (ids only) */
  near_op *ops;                 /* what reply i answers */
  size_t nops, capops;          /* */
} near_ctx;

/* ---- small helpers ---- */

/* a ranks before b: nearer, or as near with a smaller id. */
static int before(double da, const char *ia, double db, const char *ib) {
  if (da != db)
    return da < db;
  return strcmp(ia, ib) < 0;
}

/* Offer an eligible worker at distance d to the query's best k. */
static void offer(qstate *s, const char *id, double d) {
  if (s->ntop == s->k &&
      !before(d, id, s->top[s->k - 1].distance_km, s->top[s->k - 1].id))
    return;
  int j = s->ntop < s->k ? s->ntop++ : s->k - 1;
  while (j > 0 && before(d, id, s->top[j - 1].distance_km, s->top[j - 1].id)) {
    s->top[j] = s->top[j - 1];
    j--;
  }
  memcpy(s->top[j].id, id, CM_ID_MAX);
  s->top[j].distance_km = d;
}

static int add_cand(qstate *s, const char *id, size_t len, double lb) {
  if (s->nc == s->capc) {
    int cap = s->capc ? 2 * s->capc : 32;
    cand *c = realloc(s->c, (size_t)cap * sizeof *c);
    if (!c)
      return -1;
    s->c = c;
    s->capc = cap;
  }
  cand *c = &s->c[s->nc++];
  memcpy(c->id, id, len);
  memset(c->id + len, 0, CM_ID_MAX - len);
  c->lb = lb;
  return 0;
}

static int cand_by_id(const void *a, const void *b) {
  return strcmp(((const cand *)a)->id, ((const cand *)b)->id);
}

static int cand_by_lb(const void *a, const void *b) {
  const cand *x = a, *y = b;
  if (x->lb != y->lb)
    return x->lb < y->lb ? -1 : 1;
  return strcmp(x->id, y->id);
}

/* Drop repeated candidates (kept: the smallest bound); by_lb orders the
 * rest by rising bound, else they stay ordered by id. */
static void dedupe(qstate *s, int by_lb) {
  if (s->nc < 2)
    return;
  qsort(s->c, (size_t)s->nc, sizeof *s->c, cand_by_id);
  int m = 1;
  for (int i = 1; i < s->nc; i++) {
    if (strcmp(s->c[i].id, s->c[m - 1].id) == 0) {
      if (s->c[i].lb < s->c[m - 1].lb)
        s->c[m - 1].lb = s->c[i].lb;
    } else {
      s->c[m++] = s->c[i];
    }
  }
  s->nc = m;
  if (by_lb)
    qsort(s->c, (size_t)s->nc, sizeof *s->c, cand_by_lb);
}

/* Remember what the next command is. Returns 0 or -1 (out of memory). */
static int push_op(near_ctx *c, int kind, int q, int set, int cand_i) {
  if (c->nops == c->capops) {
    size_t cap = c->capops ? 2 * c->capops : 256;
    near_op *ops = realloc(c->ops, cap * sizeof *ops);
    if (!ops)
      return -1;
    c->ops = ops;
    c->capops = cap;
  }
  c->ops[c->nops++] = (near_op){kind, q, set, cand_i};
  return 0;
}

static void add_key(near_ctx *c, int fixed) {
  cm__rd_argv_add(&c->s->argv, c->s->r->keys.fixed[fixed],
                  c->s->r->keys.fixed_len[fixed]);
}

/* ---- replies ---- */

static void on_card(near_ctx *c, const near_op *op, const redisReply *rep) {
  if (cm__rd_check(c->b, rep, REDIS_REPLY_INTEGER, "ZCARD"))
    c->card[op->set] = rep->integer;
}

/* GEOSEARCH ... WITHDIST: [[member, "dist"], ...]. */
static void on_geo(near_ctx *c, const near_op *op, const redisReply *rep) {
  qstate *s = &c->qs[op->q];
  if (!cm__rd_check(c->b, rep, REDIS_REPLY_ARRAY, "GEOSEARCH"))
    return;
  double last = 0;
  for (size_t j = 0; j < rep->elements; j++) {
    const redisReply *e = rep->element[j];
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[1]->type != REDIS_REPLY_STRING || e->element[0]->len == 0 ||
        e->element[0]->len >= CM_ID_MAX ||
        cm__rd_parse_double(e->element[1]->str, e->element[1]->len, &last) !=
            0) {
      cm__rd_fail(c->b, CM_E_IO, "redis: GEOSEARCH: malformed reply");
      return;
    }
    if (add_cand(s, e->element[0]->str, e->element[0]->len, -1) != 0) {
      cm__rd_fail(c->b, CM_E_NOMEM, "out of memory");
      return;
    }
  }
  if ((long)rep->elements >= s->count) { /* cut: the rest is farther */
    double t = cm__rd_geo_tail_bound(last);
    s->cut = 1;
    if (t < s->tail)
      s->tail = t;
  }
}

/* ZRANGE key 0 -1 WITHSCORES: [member, score, ...]; SMEMBERS: [member]. */
static void on_list(near_ctx *c, listing *l, const redisReply *rep,
                    int scores) {
  if (!cm__rd_check(c->b, rep, REDIS_REPLY_ARRAY, "a GEO set listing"))
    return;
  size_t n = scores ? rep->elements / 2 : rep->elements, cap = n ? n : 1;
  l->id = malloc(cap * CM_ID_MAX);
  l->lat = malloc(cap * sizeof *l->lat);
  l->lon = malloc(cap * sizeof *l->lon);
  if (!l->id || !l->lat || !l->lon) {
    cm__rd_fail(c->b, CM_E_NOMEM, "out of memory");
    return;
  }
  for (size_t j = 0; j < n; j++) {
    const redisReply *m = rep->element[scores ? 2 * j : j];
    double score = 0;
    if (m->type != REDIS_REPLY_STRING || m->len == 0 || m->len >= CM_ID_MAX ||
        (scores &&
         (rep->element[2 * j + 1]->type != REDIS_REPLY_STRING ||
          cm__rd_parse_double(rep->element[2 * j + 1]->str,
                              rep->element[2 * j + 1]->len, &score) != 0 ||
          cm__rd_geo_decode(score, &l->lat[j], &l->lon[j]) != 0))) {
      cm__rd_fail(c->b, CM_E_IO, "redis: a GEO set holds a bad member");
      return;
    }
    memcpy(l->id[j], m->str, m->len);
    l->id[j][m->len] = '\0';
  }
  l->n = (int)n;
  l->loaded = 1;
}

/* HMGET of a candidate: filter it with the memory store's rules. */
static void on_fetch(near_ctx *c, const near_op *op, const redisReply *rep) {
  qstate *s = &c->qs[op->q];
  const cm_store_query *q = s->q;
  const char *id = s->c[op->cand].id;
  cm__rd_match m;
  if (!cm__rd_check(c->b, rep, REDIS_REPLY_ARRAY, "HMGET"))
    return;
  int got = cm__rd_match_decode(rep, &m);
  if (got < 0) {
    cm__rd_fail(c->b, CM_E_IO, "redis: the hash of worker '%.63s' is malformed",
                id);
    return;
  }
  if (got == 0) /* removed since it was listed */
    return;
  cm_worker w;
  w.status = (cm_worker_status)m.status;
  w.has_position = m.has_position;
  w.capacity = m.capacity;
  if (!cm_store_matchable(&w) ||
      !cm_store_fresh(m.seen_ms, c->now_ms, c->stale_ms) ||
      !cm_store_skills_ok(q, m.skills))
    return;
  double d = cm_geo_distance_km(q->lat, q->lon, m.lat, m.lon);
  if (d > q->radius_km || (q->n_exclude > 0 && cm_store_excluded(q, id)))
    return;
  offer(s, id, d);
}

static void on_reply(void *ctx, size_t i, const redisReply *rep) {
  near_ctx *c = ctx;
  if (!rep || i >= c->nops) {
    c->b->lost |= !rep;
    return;
  }
  const near_op *op = &c->ops[i];
  switch (op->kind) {
  case OP_CARD:
    on_card(c, op, rep);
    break;
  case OP_GEO:
    on_geo(c, op, rep);
    break;
  case OP_LIST:
    on_list(c, &c->lists[op->set], rep, 1);
    break;
  case OP_OFFGRID:
    on_list(c, &c->off, rep, 0);
    break;
  default:
    on_fetch(c, op, rep);
    break;
  }
}

/* ---- rounds ---- */

/* Begin a pipelined round. Returns CM_OK or the error. */
static cm_status round_begin(near_ctx *c, cm__rd_batch *b, cm_error *err) {
  c->nops = 0;
  c->b = b;
  return cm__rd_begin(b, c->s->r, on_reply, c, err);
}

/* Round 1: the size of every set some query may search. */
static cm_status ask_cards(near_ctx *c, cm_error *err) {
  cm_skillset used = 0;
  for (int i = 0; i < c->nq; i++)
    if (c->qs[i].phase != PH_DONE) {
      cm_skillset rule = c->queries[i].need_all | c->queries[i].need_any;
      used |= rule ? rule : ~(cm_skillset)0; /* no rule: every skill */
    }
  if (!used)
    return CM_OK;
  cm__rd_batch b;
  cm_status st = round_begin(c, &b, err);
  if (st != CM_OK)
    return st;
  for (int set = 0; set < CM__RD_NSETS; set++) {
    if (!(used >> set & 1))
      continue;
    if (push_op(c, OP_CARD, -1, set, -1) != 0) {
      cm__rd_fail(&b, CM_E_NOMEM, "out of memory");
      break;
    }
    cm__rd_argv_str(&c->s->argv, "ZCARD");
    add_key(c, cm__rd_key_set(set));
    cm__rd_send(&b, &c->s->argv);
  }
  return cm__rd_end(&b, err);
}

/* Pick each query's sets from the sizes. */
static void plan(near_ctx *c) {
  for (int i = 0; i < c->nq; i++) {
    qstate *s = &c->qs[i];
    const cm_store_query *q = s->q;
    if (s->phase == PH_DONE)
      continue;
    s->nsets = 0;
    if (q->need_all) {
      int best = -1;
      for (int k = 0; k < CM_MAX_SKILLS; k++)
        if ((q->need_all >> k & 1) && (best < 0 || c->card[k] < c->card[best]))
          best = k;
      s->sets[s->nsets++] = best;
    } else {
      cm_skillset any = q->need_any ? q->need_any : ~(cm_skillset)0;
      for (int k = 0; k < CM_MAX_SKILLS; k++)
        if (any >> k & 1)
          s->sets[s->nsets++] = k;
    }
    int m = 0; /* empty sets hold nobody (the offgrid set is apart) */
    for (int j = 0; j < s->nsets; j++)
      if (c->card[s->sets[j]] > 0)
        s->sets[m++] = s->sets[j];
    s->nsets = m;
    if (s->nsets == 0 && !s->offgrid)
      s->phase = PH_DONE;
    else if (s->nsets == 0) /* only the offgrid set: read it once */
      s->r_try = q->radius_km;
  }
}

/* Add the off-grid workers to a query that may reach them (position
 * unknown until fetched: bound -1). Returns 0 or -1 (out of memory). */
static int offgrid_candidates(near_ctx *c, qstate *s) {
  for (int m = 0; s->offgrid && m < c->off.n; m++)
    if (add_cand(s, c->off.id[m], strlen(c->off.id[m]), -1) != 0)
      return -1;
  return 0;
}

/* Turn the listings into a scan query's candidates, by rising bound. */
static int scan_candidates(near_ctx *c, qstate *s) {
  const cm_store_query *q = s->q;
  for (int j = 0; j < s->nsets; j++) {
    const listing *l = &c->lists[s->sets[j]];
    for (int m = 0; m < l->n; m++) {
      double lb = cm__rd_geo_cell_bound(q->lat, q->lon, l->lat[m], l->lon[m]);
      if (lb <= q->radius_km &&
          add_cand(s, l->id[m], strlen(l->id[m]), lb) != 0)
        return -1;
    }
  }
  return offgrid_candidates(c, s);
}

/* Start a (new) search of query s: forget what the last one found. The
 * circle of radius r_try is covered (everybody nearer is returned unless
 * a reply is cut); beyond it nothing is known unless it is the whole
 * radius. */
static void reset_search(qstate *s) {
  s->nc = 0;
  s->next = 0;
  s->ntop = 0;
  s->cut = 0;
  s->tail = INFINITY;
  s->cover = s->r_try < s->q->radius_km ? s->r_try : INFINITY;
}

/* Queue the listing of cell set set (ZRANGE with scores), once a round.
 * Returns 0, or -1 out of memory. */
static int send_listing(near_ctx *c, cm__rd_batch *b, int set) {
  cm__rd_argv *a = &c->s->argv;
  listing *l = &c->lists[set];
  if (l->wanted)
    return 0;
  l->wanted = 1;
  if (push_op(c, OP_LIST, -1, set, -1) != 0)
    return -1;
  cm__rd_argv_str(a, "ZRANGE");
  add_key(c, cm__rd_key_set(set));
  cm__rd_argv_str(a, "0");
  cm__rd_argv_str(a, "-1");
  cm__rd_argv_str(a, "WITHSCORES");
  cm__rd_send(b, a);
  return 0;
}

/* Queue query i's GEOSEARCH of cell set set: the nearest s->count within
 * r_try, with their distances. Returns 0, or -1 out of memory. */
static int send_geosearch(near_ctx *c, cm__rd_batch *b, int i, int set) {
  cm__rd_argv *a = &c->s->argv;
  const qstate *s = &c->qs[i];
  if (push_op(c, OP_GEO, i, set, -1) != 0)
    return -1;
  cm__rd_argv_str(a, "GEOSEARCH");
  add_key(c, cm__rd_key_set(set));
  cm__rd_argv_str(a, "FROMLONLAT");
  cm__rd_argv_double(a, cm__rd_geo_search_lon(s->q->lon));
  cm__rd_argv_double(a, s->q->lat);
  cm__rd_argv_str(a, "BYRADIUS");
  cm__rd_argv_double(a, cm__rd_geo_search_radius(s->r_try));
  cm__rd_argv_str(a, "km");
  cm__rd_argv_str(a, "ASC");
  cm__rd_argv_str(a, "COUNT");
  cm__rd_argv_fmt(a, "%ld", s->count);
  cm__rd_argv_str(a, "WITHDIST");
  cm__rd_send(b, a);
  return 0;
}

/* Queue what query i (searching) asks of round 2: per cell set a GEOSEARCH
 * (safe) or a listing, and the off-grid set once a round when it needs it.
 * Returns 0, or -1 out of memory. */
static int send_search(near_ctx *c, cm__rd_batch *b, int i) {
  qstate *s = &c->qs[i];
  reset_search(s);
  for (int j = 0; j < s->nsets; j++)
    if ((s->safe ? send_geosearch(c, b, i, s->sets[j])
                 : send_listing(c, b, s->sets[j])) != 0)
      return -1;
  if (s->offgrid && !c->off.wanted) {
    c->off.wanted = 1;
    if (push_op(c, OP_OFFGRID, -1, -1, -1) != 0)
      return -1;
    cm__rd_argv_str(&c->s->argv, "SMEMBERS");
    add_key(c, CM__RD_K_OFFGRID);
    cm__rd_send(b, &c->s->argv);
  }
  return 0;
}

/* Round 2: GEOSEARCH for safe queries, set listings for the others. */
static cm_status search(near_ctx *c, cm_error *err) {
  int any = 0;
  for (int i = 0; i < c->nq && !any; i++)
    any = c->qs[i].phase == PH_SEARCH;
  if (!any)
    return CM_OK;
  cm__rd_batch b;
  cm_status st = round_begin(c, &b, err);
  if (st != CM_OK)
    return st;
  for (int i = 0; i < c->nq && b.fail.code == CM_OK; i++)
    if (c->qs[i].phase == PH_SEARCH && send_search(c, &b, i) != 0) {
      cm__rd_fail(&b, CM_E_NOMEM, "out of memory");
      return cm__rd_end(&b, err);
    }
  if ((st = cm__rd_end(&b, err)) != CM_OK)
    return st;
  for (int i = 0; i < c->nq; i++) {
    qstate *s = &c->qs[i];
    if (s->phase != PH_SEARCH)
      continue;
    if ((s->safe ? offgrid_candidates(c, s) : scan_candidates(c, s)) != 0)
      return cm_error_set(err, CM_E_NOMEM, "", NULL);
    dedupe(s, !s->safe);
    s->step = s->safe ? s->nc : s->k + s->q->n_exclude + 8;
    s->phase = PH_FETCH;
  }
  return CM_OK;
}

/* Round 3: fetch the next candidates of every query, then decide who is
 * done, who fetches more and who searches again. */
static cm_status fetch(near_ctx *c, cm_error *err) {
  cm__rd_batch b;
  cm_status st = round_begin(c, &b, err);
  if (st != CM_OK)
    return st;
  cm__rd_argv *a = &c->s->argv;
  const cm__rd_keys *keys = &c->s->r->keys;
  int *upto = cm__malloc_array((size_t)c->nq, sizeof *upto);
  if (!upto)
    cm__rd_fail(&b, CM_E_NOMEM, "out of memory");
  for (int i = 0; upto && i < c->nq && b.fail.code == CM_OK; i++) {
    qstate *s = &c->qs[i];
    upto[i] = s->next;
    if (s->phase != PH_FETCH)
      continue;
    upto[i] = s->next + s->step < s->nc ? s->next + s->step : s->nc;
    for (int j = s->next; j < upto[i]; j++) {
      char key[CM__RD_KEY_MAX];
      if (push_op(c, OP_FETCH, i, -1, j) != 0) {
        cm__rd_fail(&b, CM_E_NOMEM, "out of memory");
        break;
      }
      cm__rd_argv_str(a, "HMGET");
      cm__rd_argv_add(a, key, cm__rd_key_worker(keys, s->c[j].id, key));
      cm__rd_match_fields(a);
      cm__rd_send(&b, a);
    }
  }
  if ((st = cm__rd_end(&b, err)) != CM_OK) {
    free(upto);
    return st;
  }
  for (int i = 0; i < c->nq; i++) {
    qstate *s = &c->qs[i];
    if (s->phase != PH_FETCH)
      continue;
    s->next = upto[i];
    /* workers not fetched are at least this far (strictly for lb) */
    double lb = s->next < s->nc ? s->c[s->next].lb : INFINITY;
    double r = s->q->radius_km;
    double kth = s->ntop == s->k ? s->top[s->k - 1].distance_km : INFINITY;
    int all_known = lb > r && s->tail > r && s->cover >= r;
    int settled =
        s->ntop == s->k && kth < lb && kth < s->tail && kth <= s->cover;
    if (all_known || settled) {
      s->phase = PH_DONE;
    } else if (s->next < s->nc) {
      s->step *= 2; /* a scan: the next slice */
    } else {
      if (s->cut)
        s->count *= 4; /* a cut GEOSEARCH: ask for more */
      else
        s->r_try *= 4; /* a covered circle: look wider */
      if (s->r_try > s->q->radius_km)
        s->r_try = s->q->radius_km;
      if (s->ntop == s->k && s->top[s->k - 1].distance_km < s->r_try)
        s->r_try = s->top[s->k - 1].distance_km; /* nobody farther enters */
      s->phase = PH_SEARCH;
    }
  }
  free(upto);
  return CM_OK;
}

static void ctx_free(near_ctx *c) {
  for (int i = 0; c->qs && i < c->nq; i++) {
    free(c->qs[i].c);
    free(c->qs[i].top);
  }
  free(c->qs);
  for (int s = 0; s < CM__RD_NSETS; s++) {
    free(c->lists[s].id);
    free(c->lists[s].lat);
    free(c->lists[s].lon);
  }
  free(c->off.id);
  free(c->off.lat);
  free(c->off.lon);
  free(c->ops);
}

/* Set up the state of every query. Returns 0, or -1 when out of memory. */
static int ctx_init(near_ctx *c) {
  c->qs = cm__calloc_array((size_t)c->nq, sizeof *c->qs);
  if (!c->qs)
    return -1;
  for (int s = 0; s < CM__RD_NSETS; s++)
    c->card[s] = -1;
  for (int i = 0; i < c->nq; i++) {
    qstate *s = &c->qs[i];
    const cm_store_query *q = &c->queries[i];
    s->q = q;
    s->k = q->k;
    double r_search = cm__rd_geo_search_radius(q->radius_km);
    s->safe = cm__rd_geo_safe(q->lat, r_search);
    s->offgrid = cm__rd_geo_reaches_offgrid(q->lat, q->lon, r_search);
    s->r_try = s->safe && q->radius_km > FIRST_KM ? FIRST_KM : q->radius_km;
    s->count = 2L * q->k + q->n_exclude + 16;
    s->tail = INFINITY;
    s->phase = q->k > 0 ? PH_SEARCH : PH_DONE;
    if (q->k > 0 && !(s->top = malloc((size_t)q->k * sizeof *s->top)))
      return -1;
  }
  return 0;
}

cm_status cm__rd_nearest(cm_store *st_, const cm_store_query *queries, int nq,
                         int k_max, int64_t now_ms, int64_t stale_ms,
                         cm_store_hit *hits, int *counts, cm_error *err) {
  cm_error_clear(err);
  cm_status st = cm_store_check_nearest(queries, nq, k_max, now_ms, stale_ms,
                                        hits, counts, err);
  if (st != CM_OK || nq == 0)
    return st;
  near_ctx c;
  memset(&c, 0, sizeof c);
  c.s = (cm__rd_store *)st_;
  c.queries = queries;
  c.nq = nq;
  c.now_ms = now_ms;
  c.stale_ms = stale_ms;
  cm__rd_argv_reset(&c.s->argv);
  if (ctx_init(&c) != 0) {
    st = cm_error_set(err, CM_E_NOMEM, "", NULL);
    goto done;
  }
  if ((st = ask_cards(&c, err)) != CM_OK)
    goto done;
  plan(&c);
  for (int round = 0;; round++) {
    int open = 0;
    for (int i = 0; i < nq; i++)
      open += c.qs[i].phase != PH_DONE;
    if (!open)
      break;
    if (round == ROUNDS_MAX) {
      st = cm_error_set(err, CM_E_IO, "",
                        "redis: nearest did not settle in %d rounds",
                        ROUNDS_MAX);
      goto done;
    }
    if ((st = search(&c, err)) != CM_OK || (st = fetch(&c, err)) != CM_OK)
      goto done;
  }
  for (int i = 0; i < nq; i++) {
    counts[i] = c.qs[i].ntop;
    for (int j = 0; j < c.qs[i].ntop; j++)
      hits[(size_t)i * (size_t)k_max + (size_t)j] = c.qs[i].top[j];
  }
done:
  ctx_free(&c);
  return st;
}
