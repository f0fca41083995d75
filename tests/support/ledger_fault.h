/* ledger_fault.h -- test support: a ledger that wraps another and fails
 * its Nth commit, for the write-first protocol's fault cases
 * (tests/support/ledger_contract.c).
 *
 * Every call goes to the inner ledger, which the wrapper borrows (free the
 * wrapper first). The Nth call of commit (counted from 1 since the last
 * cm_fault_ledger_arm) fails with CM_E_UNAVAILABLE, either before the inner
 * ledger sees it (nothing written: a lost connection) or after the inner
 * ledger applied it (the answer lost). */
#ifndef CM_LEDGER_FAULT_H_INCLUDED_
#define CM_LEDGER_FAULT_H_INCLUDED_

#include "carematch/ledger.h"

typedef enum cm_fault_when {
  CM_FAULT_BEFORE, /* the commit fails and nothing is written */
  CM_FAULT_AFTER   /* the commit is written, then reported failed */
} cm_fault_when;

typedef struct cm_fault_ledger {
  cm_ledger base;      /* first: a cm_ledger * casts */
  cm_ledger_type type; /* base.type: propose set only while deferred */
  cm_ledger *inner;    /* borrowed */
  int fail_at;         /* 0: never; else the commit call that fails */
  cm_fault_when when;  /* how it fails */
  int commits;         /* commit calls since init or arming */
  int failed;          /* 1 once the armed failure happened */
  int deferred;        /* proposals wait for cm_fault_ledger_run */
  struct cm_fault_proposal *queue; /* deferred proposals, oldest first */
  struct cm_fault_proposal *tail;  /* the newest */
  int proposals;                   /* proposals taken since init */
  int completions;                 /* completions run since init */
} cm_fault_ledger;

/* A wrapper over inner that fails nothing until armed. The caller owns the
 * struct; cm_ledger_free on it only drops the proposals still waiting
 * (cm_fault_ledger_drop). */
void cm_fault_ledger_init(cm_fault_ledger *f, cm_ledger *inner);
/* Fail the nth commit call from now (0: none), as `when` says; resets the
 * count and the failed flag. */
void cm_fault_ledger_arm(cm_fault_ledger *f, int nth, cm_fault_when when);
/* deferred 1: proposals wait until cm_fault_ledger_run; 0: they complete
 * at once (the default). */
void cm_fault_ledger_defer(cm_fault_ledger *f, int deferred);
/* Commit the waiting proposals, oldest first, each as one commit of the
 * inner ledger (the fault counter applies), and run their completions.
 * Proposals made by a completion wait for the next run. Returns how many
 * completed. */
int cm_fault_ledger_run(cm_fault_ledger *f);
/* Complete every waiting proposal with CM_E_UNAVAILABLE, nothing written
 * (a connection lost with them in flight). Returns how many. */
int cm_fault_ledger_drop(cm_fault_ledger *f);

#endif
