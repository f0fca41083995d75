/* ledger.c -- calls through a ledger's type (ledger.h). */
#include "carematch/ledger.h"

void cm_ledger_free(cm_ledger *l) {
  if (l)
    l->type->free(l);
}
