/* ledger.c -- calls through a ledger's type (ledger.h): free, and
 * propose and worker_propose, which a ledger without its own (the memory
 * ledger) gets as a synchronous commit or worker write followed by the
 * completion (docs/async.md). */
#include <stdlib.h>

#include "carematch/ledger.h"

void cm_ledger_free(cm_ledger *l) {
  if (l)
    l->type->free(l);
}

#define PROPOSE_STACK 8 /* results kept on the stack up to this many */

cm_status cm_ledger_propose(cm_ledger *l, const cm_ledger_change *ch, int n,
                            cm_ledger_done_fn done, void *ctx, cm_error *err) {
  cm_error_clear(err);
  if (!l || !done || n < 0 || (n > 0 && !ch))
    return cm_error_set(err, CM_E_INVALID, "", "bad arguments");
  if (l->type->propose)
    return l->type->propose(l, ch, n, done, ctx, err);
  cm_ledger_result stack[PROPOSE_STACK];
  cm_ledger_result *res = stack;
  if (n > PROPOSE_STACK && !(res = malloc((size_t)n * sizeof *res)))
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  cm_error mine;
  cm_error_clear(&mine);
  cm_status st = l->type->commit(l, ch, n, res, &mine);
  done(ctx, st, st == CM_OK ? res : NULL, n, &mine);
  if (res != stack)
    free(res);
  return CM_OK;
}

cm_status cm_ledger_worker_propose(cm_ledger *l,
                                   const cm_ledger_worker_write *w,
                                   cm_ledger_done_fn done, void *ctx,
                                   cm_error *err) {
  cm_error_clear(err);
  if (!l || !w || !done)
    return cm_error_set(err, CM_E_INVALID, "", "bad arguments");
  if (w->op != CM_LEDGER_W_UPSERT && w->op != CM_LEDGER_W_SHIFT &&
      w->op != CM_LEDGER_W_POSITIONS)
    return cm_error_set(err, CM_E_INVALID, "", "bad arguments");
  if (l->type->worker_propose)
    return l->type->worker_propose(l, w, done, ctx, err);
  cm_error mine;
  cm_error_clear(&mine);
  cm_status st;
  if (w->op == CM_LEDGER_W_UPSERT)
    st = l->type->worker_upsert(l, w->worker, &mine);
  else if (w->op == CM_LEDGER_W_SHIFT)
    st = l->type->worker_shift(l, w->id, w->on_shift, &mine);
  else
    st = l->type->worker_positions(l, w->n, w->ids, w->lat, w->lon, w->seen_ms,
                                   &mine);
  done(ctx, st, NULL, 0, &mine);
  return CM_OK;
}
