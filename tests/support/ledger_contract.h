/* ledger_contract.h -- the ledger contract suite, written once against
 * include/carematch/ledger.h and run on every ledger: the memory ledger
 * (tests/test_ledger_contract.c) and the Redis ledger
 * (tests/test_ledger_redis.c).
 *
 * Two halves. The ledger alone, through its type: records and versions,
 * the preconditions of a change (a refused change writes nothing), the
 * jobs and derived status of workers, a group of changes applied in order,
 * the live requests in submission order, worker writes and their errors.
 * The engine on the ledger, the write-first protocol: after every
 * operation the engine agrees with the ledger and a second engine that
 * recovers from the ledger has the same state; when the Nth commit fails
 * (tests/support/ledger_fault.h), for every N, the operation reports the
 * error and the engine changes nothing, and recovery then sees the state
 * before it (commit lost) or the state the commit wrote (answer lost).
 * Cases fail through Criterion assertions. */
#ifndef CM_LEDGER_CONTRACT_H_INCLUDED_
#define CM_LEDGER_CONTRACT_H_INCLUDED_

#include "carematch/ledger.h"

/* Opens a ledger handle: fresh 1, on new, empty data; fresh 0, a second
 * handle on the data of the last fresh one (as a restarted process would
 * open it). NULL fails the case. */
typedef cm_ledger *(*cm_ledger_contract_open_fn)(void *ctx, int fresh);
/* Closes a handle from open (the last handle on data may drop it). */
typedef void (*cm_ledger_contract_close_fn)(void *ctx, cm_ledger *l);

typedef struct cm_ledger_contract {
  cm_ledger_contract_open_fn open;
  cm_ledger_contract_close_fn close;
  void *ctx; /* passed to all */
  /* Runs the ledger's event loop until every proposal made so far
   * completed; NULL when proposals complete at once (no loop). */
  void (*run)(void *ctx, cm_ledger *l);
} cm_ledger_contract;

/* A submission, get, a second submission and a stale version refused and
 * changing nothing, the right version applied, unknown ids. */
void cm_ledger_contract_records(const cm_ledger_contract *c);
/* Take, accept, give back and done: jobs, the derived status, jobs_today
 * and the elders; unknown, off-shift and full workers refused with their
 * index and nothing written; an upsert keeps the jobs. */
void cm_ledger_contract_workers(const cm_ledger_contract *c);
/* One commit of several changes: each atomic and in order (a later change
 * sees the capacity an earlier one took). */
void cm_ledger_contract_group(const cm_ledger_contract *c);
/* each_live: unfinished requests in submission order, from a second
 * handle too. */
void cm_ledger_contract_live(const cm_ledger_contract *c);
/* Worker writes: bad input refused with code and field, nothing written;
 * positions all or nothing; shift of an unknown worker. */
void cm_ledger_contract_worker_errors(const cm_ledger_contract *c);
/* cm_ledger_propose (docs/async.md): the results of a group, each
 * completion exactly once; bad arguments refused without a completion;
 * then through the fault wrapper held back: completions later and in
 * order, a proposal lost before or after it was written, and proposals
 * dropped in flight, each completed once with CM_E_UNAVAILABLE. */
void cm_ledger_contract_propose(const cm_ledger_contract *c);
/* Worker writes through cm_ledger_worker_propose: an upsert, positions, a
 * shift, each completed once, in proposal order, with the synchronous
 * writes' answers (a shift of nobody CM_E_UNKNOWN_ID); bad arguments
 * refused without a completion; the ledger then has the writes. */
void cm_ledger_contract_worker_propose(const cm_ledger_contract *c);
/* The engine on the ledger: a run of submissions, batches, accepts,
 * refusals, completions, cancellations and a shift change; after each,
 * engine and ledger agree and a second engine recovers the same state. */
void cm_ledger_contract_engine_recovery(const cm_ledger_contract *c);
/* The same run with the Nth commit lost, for every N. */
void cm_ledger_contract_fault_before(const cm_ledger_contract *c);
/* The same run with the Nth commit written but its answer lost. */
void cm_ledger_contract_fault_after(const cm_ledger_contract *c);

#endif
