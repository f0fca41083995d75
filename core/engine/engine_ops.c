/* engine_ops.c -- a transition as an op (docs/async.md): its plan checks
 * the call and works the change out, its commit step either commits at
 * once and applies (the synchronous calls) or proposes the change to the
 * ledger and applies it from the completion (the _async calls). While an
 * op is in flight on a request, later ops on the same request wait behind
 * it, in call order, and are planned only when their turn comes.
 *
 * Reading a record again after a completion (a refusal for its version,
 * a record adopted meanwhile, a worker another writer changed) is an op of
 * the same queue when the ledger reads asynchronously (get_async): it
 * holds the request's place until the record is in and adopted, so the
 * next op is planned on it (docs/async-log.md step i). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

cm__op *cm__op_find(const cm_engine *e, const char *id) {
  for (cm__op *o = e->flight; o; o = o->next_head)
    if (strcmp(o->id, id) == 0)
      return o;
  return NULL;
}

int cm_engine_in_flight(const cm_engine *e) {
  return e->n_flight + e->n_wflight;
}

void cm__op_init(cm__op *op, const char *id, int64_t now_ms) {
  memset(op, 0, offsetof(cm__op, spec)); /* the links, flags and ids */
  op->bad_id = !id || strnlen(id, CM_ID_MAX) >= CM_ID_MAX;
  if (!op->bad_id)
    memcpy(op->id, id, strlen(id));
  op->now_ms = now_ms;
  op->plan = op->apply = op->refused = NULL;
  op->done = NULL;
  op->ctx = NULL;
  op->fresh = NULL;
}

cm__op *cm__op_new(const char *id, int64_t now_ms, cm_engine_done_fn done,
                   void *ctx) {
  cm__op *op = malloc(sizeof *op);
  if (!op)
    return NULL;
  cm__op_init(op, id, now_ms);
  op->done = done;
  op->ctx = ctx;
  return op;
}

static void head_link(cm_engine *e, cm__op *op) {
  op->prev_head = NULL;
  op->next_head = e->flight;
  if (e->flight)
    e->flight->prev_head = op;
  e->flight = op;
}

static void head_unlink(cm_engine *e, cm__op *op) {
  if (op->prev_head)
    op->prev_head->next_head = op->next_head;
  else
    e->flight = op->next_head;
  if (op->next_head)
    op->next_head->prev_head = op->prev_head;
  op->prev_head = op->next_head = NULL;
}

static void op_free(cm__op *op) {
  free(op->fresh);
  free(op->rec);
  free(op->pair);
  free(op);
}

/* Tell op's caller st (a read tells what the op it took the completion of
 * was answered, unless it has a check; a diversion's withdrawal, the
 * accept's refusal). */
static void tell(cm__op *op, cm_status st, const cm_error *err) {
  cm_error none;
  if ((op->refresh && !op->check) || op->withdraws) {
    st = op->tell_st;
    err = &op->tell_err;
  }
  if (!err || st == CM_OK) {
    cm_error_clear(&none);
    err = &none;
  }
  if (op->done)
    op->done(op->ctx, st, err);
  op->done = NULL;
}

static int refresh_behind(cm_engine *e, cm__op *op, cm_status st,
                          const cm_error *err);
static cm_status refresh_settle(cm_engine *e, cm__op *op, cm_error *err);
static cm_status pair_settle(cm_engine *e, cm__op *op, cm_error *err);

/* What the ledger's answer means for op, and the apply when it took it. Returns
 * the op's status, err set on failure. */
static cm_status settle(cm_engine *e, cm__op *op, cm_error *err) {
  if (op->refresh)
    return refresh_settle(e, op, err);
  if (op->pair)
    return pair_settle(e, op, err);
  if (op->st != CM_OK) {
    e->resync = 1; /* some may have gone through: ask the ledger */
    if (err)
      *err = op->err;
    return op->st;
  }
  if (op->res.refusal == CM_LEDGER_VERSION && op->refused)
    return op->refused(e, op, err);
  if (op->res.refusal == CM_LEDGER_VERSION) {
    cm_status st = cm_error_set(err, CM_E_CONFLICT, "$.request",
                                "$.request: '%s' was changed by another "
                                "writer; the engine now has the ledger's "
                                "state",
                                op->id);
    if (op->ch.expect_version != 0 && refresh_behind(e, op, st, err) != 0)
      cm__req_refresh(e, op->id);
    return st;
  }
  if (op->res.refusal == CM_LEDGER_FENCED) /* only offers take: not here */
    return cm_error_set(err, CM_E_CONFLICT, "",
                        "stale_epoch: another daemon holds the lease");
  if (op->res.refusal == CM_LEDGER_WORKER)
    return cm_error_set(err, CM_E_CONFLICT, "$.worker",
                        "$.worker: '%s' is unknown, off shift or full in "
                        "the ledger",
                        op->ch.workers[op->res.worker].id);
  if (op->ch.expect_version != 0) { /* adopted meanwhile (another writer's
                                        change followed): the ledger's
                                        record is the truth, not ours */
    const cm__req *r = cm__req_find(e, op->id);
    if (!r || r->version != op->ch.expect_version) {
      if (refresh_behind(e, op, CM_OK, NULL) != 0)
        cm__req_refresh(e, op->id);
      return CM_OK;
    }
  }
  return op->apply(e, op, err);
}

static void on_answer(void *ctx, cm_status st, const cm_ledger_result *res,
                      int n, const cm_error *err);

/* Plan and commit op, the head of its queue. Returns the plan's status;
 * op->proposed says whether the ledger has it. */
static cm_status start(cm_engine *e, cm__op *op, cm_error *err) {
  op->proposed = op->answered = 0;
  return op->plan(e, op, err);
}

/* Finish op, the head of its queue, whose answer is in (or which was not
 * proposed: st is then the plan's): apply, tell, then start the next one
 * of its queue. */
static void finish_op(cm_engine *e, cm__op *op, cm_status st, cm_error *err) {
  int lost = 0; /* a read passes on what the write before it left */
  for (;;) {
    if (!op->refresh)
      lost = st == CM_E_UNAVAILABLE && op->proposed;
    int was_read = op->refresh;
    tell(op, st, err);
    cm__op *next = op->next;
    head_unlink(e, op);
    e->n_flight--;
    op_free(op);
    if (!next)
      return;
    op = next;
    op->next_head = op->prev_head = NULL;
    head_link(e, op);
    if (lost) { /* behind a change whose fate is unknown: not planned */
      st = cm_error_set(err, CM_E_UNAVAILABLE, "",
                        "a change before it on the same request was lost; "
                        "retry");
      op->proposed = 0;
      continue;
    }
    const cm__req *r = cm__req_find(e, op->id);
    if ((was_read && (e->rebuild || e->rebuild_due)) || (r && r->in_batch)) {
      op->held = 1; /* planned after the rebuild (cm__op_release_all) or
                       the batch's offer (cm__op_release: an offer
                       proposed behind its request's create, below) */
      return;
    }
    st = start(e, op, err);
    if (!op->proposed)
      continue; /* refused, or nothing to write: told at once */
    if (!op->answered)
      return; /* its completion comes later */
    st = settle(e, op, err);
  }
}

static void on_answer(void *ctx, cm_status st, const cm_ledger_result *res,
                      int n, const cm_error *err) {
  cm__op *op = ctx;
  op->st = st;
  if (st == CM_OK && res && op->pair && n == 2)
    memcpy(op->pair->res, res, sizeof op->pair->res);
  if (st == CM_OK && res)
    op->res = res[n - 1]; /* a pair's: the op's own request's */
  if (err)
    op->err = *err;
  else
    cm_error_set(&op->err, st, "", NULL);
  if (!op->e) { /* the engine was freed meanwhile: already told */
    op_free(op);
    return;
  }
  if (op->starting) { /* completed inside propose: start() settles it */
    op->answered = 1;
    return;
  }
  cm_engine *e = op->e;
  cm_error mine;
  cm_status fin = settle(e, op, &mine);
  finish_op(e, op, fin, &mine);
}

cm_status cm__op_commit(cm_engine *e, cm__op *op, cm_error *err) {
  if (!op->async && e->rebuild) /* the _async calls wait (cm__op_launch) */
    return cm__rebuilding(e, err);
  if (!op->async) {
    op->st = cm__commit_many(e, &op->ch, 1, &op->res, &op->err);
    return settle(e, op, err);
  }
  op->starting = 1;
  cm_status st =
      cm_ledger_propose(e->cfg.ledger, &op->ch, 1, on_answer, op, err);
  op->starting = 0;
  op->proposed = st == CM_OK;
  return st;
}

cm_status cm__op_commit_pair(cm_engine *e, cm__op *op, cm_error *err) {
  cm__req *other = cm__req_find(e, op->pair->other);
  if (other)
    other->in_batch = 1; /* held: its calls wait (cm__op_launch) */
  op->starting = 1;
  cm_status st =
      cm_ledger_propose(e->cfg.ledger, op->pair->ch, 2, on_answer, op, err);
  op->starting = 0;
  op->proposed = st == CM_OK;
  if (!op->proposed && other) { /* not taken: nothing was held */
    other->in_batch = 0;
    cm__op_release(e, op->pair->other);
  }
  return st;
}

/* A pair's answer (cm__op_commit_pair): the other request released (the
 * calls that waited on it started), and both applied, or both read again
 * on a refusal. */
static cm_status pair_settle(cm_engine *e, cm__op *op, cm_error *err) {
  cm__op_pair *p = op->pair;
  cm__req *other = cm__req_find(e, p->other);
  cm__req *mine = cm__req_find(e, op->id);
  cm_status st = CM_OK;
  if (other)
    other->in_batch = 0;
  if (op->st != CM_OK) {
    e->resync = 1; /* maybe taken: ask the ledger */
    if (err)
      *err = op->err;
    st = op->st;
  } else if (p->res[0].refusal != CM_LEDGER_OK ||
             p->res[1].refusal != CM_LEDGER_OK) {
    st = cm_error_set(err, CM_E_CONFLICT, "$.worker",
                      "$.worker: the job '%s' is on her way to, or the "
                      "offer, changed in the ledger; nothing was changed",
                      op->worker);
    cm__op_refresh(e, p->other);
    if (refresh_behind(e, op, st, err) != 0)
      cm__req_refresh(e, op->id);
    if (op->refused)
      op->refused(e, op, NULL);
  } else if (!other || !mine || other->version != p->ch[0].expect_version ||
             mine->version != p->ch[1].expect_version) {
    cm__op_refresh(e, p->other); /* adopted meanwhile: the ledger's */
    if (refresh_behind(e, op, CM_OK, NULL) != 0)
      cm__req_refresh(e, op->id);
  } else {
    st = op->apply(e, op, err);
  }
  cm__op_release(e, p->other);
  return st;
}

/* 1 when a change of request id is in flight (an op, or a batch's offer). */
static int busy(const cm_engine *e, const char *id) {
  if (!e->n_flight)
    return 0;
  const cm__req *r = cm__req_find(e, id);
  return (r && r->in_batch) || cm__op_find(e, id);
}

cm_status cm__op_run(cm_engine *e, cm__op *op, cm_error *err) {
  if (!op->bad_id && busy(e, op->id))
    return cm_error_set(err, CM_E_UNAVAILABLE, "$.request",
                        "$.request: a change of '%s' is in flight; retry",
                        op->id);
  op->async = 0;
  return op->plan(e, op, err);
}

cm_status cm__op_launch(cm_engine *e, cm__op *op, cm_error *err) {
  op->e = e;
  op->async = 1;
  op->next = NULL;
  cm__op *head = op->bad_id ? NULL : cm__op_find(e, op->id);
  e->n_flight++;
  if (head) { /* its turn comes when those before it completed */
    while (head->next)
      head = head->next;
    head->next = op;
    return CM_OK;
  }
  head_link(e, op);
  e->abandon_ops = cm__op_abandon_all;
  if (e->rebuild || e->rebuild_due) { /* planned once the rebuild is
                                        applied, against the rebuilt state:
                                        cm__op_release_all */
    op->held = 1;
    return CM_OK;
  }
  const cm__req *r = op->bad_id ? NULL : cm__req_find(e, op->id);
  if (r && r->in_batch) { /* a batch's offer of it is in flight: started
                             by cm__op_release */
    op->held = 1;
    return CM_OK;
  }
  cm_status st = start(e, op, err);
  if (!op->proposed) { /* refused before the ledger, or nothing to write */
    head_unlink(e, op);
    e->n_flight--;
    if (st == CM_OK)
      tell(op, CM_OK, NULL);
    op_free(op);
    return st;
  }
  if (op->answered) { /* a ledger that completed at once */
    cm_error mine;
    cm_status fin = settle(e, op, &mine);
    finish_op(e, op, fin, &mine);
  }
  return CM_OK;
}

/* ---- a batch's offer behind its request's create (docs/async.md, "one
 * durable write"): the create's record is the op's (fresh) until its
 * answer; the offer's change expects it created by this writer
 * (expect_own), so Redis, which runs the two in order on one connection,
 * refuses the offer when it refused the create ---- */

cm__req *cm__op_record(const cm_engine *e, const char *id) {
  cm__req *r = cm__req_find(e, id);
  if (r || !e->n_flight)
    return r;
  const cm__op *op = cm__op_find(e, id);
  return op && op->creates && op->proposed ? op->fresh : NULL;
}

cm__req *cm__op_creating(const cm_engine *e, const char *id) {
  if (!e->n_flight || cm__req_find(e, id))
    return NULL;
  const cm__op *op = cm__op_find(e, id);
  if (!op || !op->creates || !op->proposed || op->answered || op->next ||
      !op->fresh)
    return NULL;
  const cm__req *r = op->fresh;
  return r->state == CM_REQ_PENDING && r->released &&
                 r->spec.urgency == CM_URGENCY_EMERGENCY
             ? op->fresh
             : NULL;
}

int cm__op_creating_all(const cm_engine *e, cm__req **out, int max) {
  int n = 0;
  for (const cm__op *o = e->n_flight ? e->flight : NULL; o && n < max;
       o = o->next_head) {
    cm__req *r = o->creates ? cm__op_creating(e, o->id) : NULL;
    if (r && !r->in_batch)
      out[n++] = r;
  }
  return n;
}

void cm__op_release(cm_engine *e, const char *id) {
  cm__op *op = e->n_flight ? cm__op_find(e, id) : NULL;
  if (!op || !op->held)
    return;
  op->held = 0;
  cm_error err;
  cm_status st = start(e, op, &err);
  if (!op->proposed) { /* refused, or nothing to write: told now */
    finish_op(e, op, st, &err);
    return;
  }
  if (op->answered) {
    st = settle(e, op, &err);
    finish_op(e, op, st, &err);
  }
}

void cm__op_release_all(cm_engine *e) {
  int n = 0;
  for (cm__op *o = e->flight; o; o = o->next_head)
    n += o->held;
  if (!n)
    return;
  char(*ids)[CM_ID_MAX] = malloc((size_t)n * sizeof *ids);
  if (!ids) { /* told now rather than never */
    cm_error err;
    cm_error_set(&err, CM_E_NOMEM, "", NULL);
    for (cm__op *o = e->flight, *next; o; o = next) {
      next = o->next_head;
      if (o->held) {
        o->held = 0;
        o->proposed = 0;
        finish_op(e, o, CM_E_NOMEM, &err);
      }
    }
    return;
  }
  int k = 0; /* by id: starting one may unlink or finish others */
  for (cm__op *o = e->flight; o && k < n; o = o->next_head)
    if (o->held)
      memcpy(ids[k++], o->id, CM_ID_MAX);
  for (int i = 0; i < k; i++)
    cm__op_release(e, ids[i]);
  free(ids);
}

void cm__op_abandon_all(cm_engine *e) {
  cm_error err;
  cm_error_set(&err, CM_E_UNAVAILABLE, "", "the engine was shut down");
  while (e->flight) {
    cm__op *op = e->flight;
    head_unlink(e, op);
    for (cm__op *q = op->next, *nq; q; q = nq) {
      nq = q->next;
      tell(q, CM_E_UNAVAILABLE, &err);
      op_free(q);
    }
    op->next = NULL;
    tell(op, CM_E_UNAVAILABLE, &err);
    if (op->proposed)
      op->e = NULL; /* freed by its completion */
    else            /* held for a batch's offer: the ledger never had it */
      op_free(op);
  }
  e->n_flight = 0;
}

/* ---- reading a record again (docs/async-log.md step i) ---- */

static void on_record(void *ctx, cm_status st, const cm_request_view *v,
                      const cm_error *err);

/* Send op's read. Returns 1 when its answer comes later, 0 when it is in
 * already or the read was not taken (op->st then says which). */
static int refresh_send(cm_engine *e, cm__op *op) {
  cm_ledger *l = e->cfg.ledger;
  cm_error err;
  op->gen = e->gen;
  op->answered = 0;
  op->starting = 1;
  cm_status st = l->type->get_async(l, op->id, on_record, op, &err);
  op->starting = 0;
  if (st != CM_OK) {
    op->st = st; /* not read: refresh_settle asks for a rebuild */
    op->err = err;
    return 0;
  }
  return !op->answered;
}

/* The plan of a read: send it. op->proposed when its answer will come
 * (or came already: op->answered). */
static cm_status refresh_plan(cm_engine *e, cm__op *op, cm_error *err) {
  (void)err;
  int later = refresh_send(e, op);
  op->proposed = later || op->answered;
  if (!op->proposed) { /* told now: what it took over, and a rebuild */
    e->resync = 1;
    if (op->check) /* or what its check makes of the failed read */
      return refresh_settle(e, op, err);
  }
  return op->tell_st;
}

/* The record is in: adopted, unless a rebuild began since it was sent
 * (the rebuild read a state at least as new, and applies it whole) or it
 * is older than ours. Returns the status op tells (err set). */
static cm_status refresh_settle(cm_engine *e, cm__op *op, cm_error *err) {
  if (op->check) { /* its caller is told what the record says */
    cm_error mine;
    cm_error_clear(&mine);
    op->tell_st = op->check(e, op, &mine);
    op->tell_err = mine;
    if (err)
      *err = mine;
    return op->tell_st;
  }
  if (err)
    *err = op->tell_err;
  if (e->rebuild || e->gen != op->gen)
    return op->tell_st; /* the rebuild's record wins */
  if (op->st == CM_OK) {
    const cm__req *r = cm__req_find(e, op->id);
    if ((!r || op->rec->version >= r->version) &&
        cm__req_adopt(e, op->rec) != 0)
      e->resync = 1;
  } else if (op->st != CM_E_UNKNOWN_ID) {
    e->resync = 1; /* not read: ask the ledger */
  }
  return op->tell_st;
}

static void on_record(void *ctx, cm_status st, const cm_request_view *v,
                      const cm_error *err) {
  cm__op *op = ctx;
  op->st = st;
  if (st == CM_OK && v)
    *op->rec = *v;
  if (err) /* for check (cm__op_read_behind) */
    op->err = *err;
  else
    cm_error_set(&op->err, st, "", NULL);
  if (!op->e) { /* the engine was freed meanwhile: already told */
    op_free(op);
    return;
  }
  if (op->starting) { /* answered inside get_async */
    op->answered = 1;
    return;
  }
  cm_engine *e = op->e;
  if (op->again && !e->rebuild) { /* asked again meanwhile: read once more */
    op->again = 0;
    if (refresh_send(e, op))
      return;
  }
  cm_error mine;
  cm_status fin = settle(e, op, &mine);
  finish_op(e, op, fin, &mine);
}

/* A new read op of request id (counted in flight, not linked), or NULL
 * out of memory. */
static cm__op *refresh_new(cm_engine *e, const char *id) {
  cm__op *op = cm__op_new(id, e->now_ms, NULL, NULL);
  if (!op)
    return NULL;
  if (!(op->rec = malloc(sizeof *op->rec))) {
    op_free(op);
    return NULL;
  }
  op->e = e;
  op->async = 1;
  op->refresh = 1;
  op->plan = refresh_plan;
  op->tell_st = CM_OK;
  cm_error_clear(&op->tell_err);
  e->n_flight++;
  e->abandon_ops = cm__op_abandon_all;
  return op;
}

/* op (the head of its queue, answered: st, err) asks for its record
 * again: a read goes right behind it, ahead of the ops waiting, and takes
 * op's completion, told once the record is in (as it was told after the
 * synchronous read). Returns 0, or -1 (a synchronous op, a ledger without
 * get_async, out of memory: the caller reads synchronously). */
static int refresh_behind(cm_engine *e, cm__op *op, cm_status st,
                          const cm_error *err) {
  if (!op->async || !e->cfg.ledger->type->get_async)
    return -1;
  if (op->withdraws) { /* its caller is told the accept's refusal */
    st = op->tell_st;
    err = &op->tell_err;
  }
  cm__op *rd = op->next;
  if (!rd || !rd->refresh || rd->done) {
    if (!(rd = refresh_new(e, op->id)))
      return -1;
    rd->next = op->next;
    op->next = rd;
  }
  rd->tell_st = st;
  if (st == CM_OK)
    cm_error_clear(&rd->tell_err);
  else if (err)
    rd->tell_err = *err;
  else
    cm_error_set(&rd->tell_err, st, "", NULL);
  rd->done = op->done;
  rd->ctx = op->ctx;
  op->done = NULL;
  return 0;
}

int cm__op_read_behind(cm_engine *e, cm__op *op, cm__op_fn check) {
  if (!op->async || !e->cfg.ledger->type->get_async)
    return -1;
  cm__op *rd = refresh_new(e, op->id); /* not merged with a plain read:
                                          that one adopts what it reads */
  if (!rd)
    return -1;
  rd->next = op->next;
  op->next = rd;
  rd->check = check;
  rd->spec = op->spec;
  rd->done = op->done;
  rd->ctx = op->ctx;
  op->done = NULL;
  return 0;
}

void cm__op_refresh(cm_engine *e, const char *id) {
  cm_ledger *l = e->cfg.ledger;
  if (!l || !l->type->get_async) {
    cm__req_refresh(e, id);
    return;
  }
  cm__op *head = cm__op_find(e, id);
  if (head && head->refresh && !head->check) { /* one read at a time */
    head->again = 1;
    return;
  }
  if (head && head->proposed) { /* a write in flight: read after it */
    if (head->next && head->next->refresh && !head->next->check)
      return;
    cm__op *rd = refresh_new(e, id);
    if (!rd) {
      cm__req_refresh(e, id);
      return;
    }
    rd->next = head->next;
    head->next = rd;
    return;
  }
  cm__op *rd = refresh_new(e, id);
  if (!rd) {
    cm__req_refresh(e, id);
    return;
  }
  if (head) { /* held (for a batch's offer): it waits behind the read */
    head_unlink(e, head);
    head->held = 0;
    rd->next = head;
  }
  head_link(e, rd);
  cm_error err;
  cm_error_clear(&err);
  cm_status st = start(e, rd, &err);
  if (!rd->proposed)
    finish_op(e, rd, st, &err);
  else if (rd->answered)
    finish_op(e, rd, settle(e, rd, &err), &err);
}

int cm__op_unwritten(const cm_engine *e) {
  int n = 0;
  for (const cm__op *o = e->flight; o; o = o->next_head)
    if (o->refresh || (e->rebuild_due && o->held))
      for (const cm__op *q = o; q; q = q->next)
        n++;
  return n;
}
