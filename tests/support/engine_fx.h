/* engine_fx.h -- test support: the engine tests' engine on a memory store
 * of its own, and their moves in the test city (fixtures.h), each
 * asserting that the call succeeded: a nurse on shift, a one-nurse
 * request, a step, a request's view; and a count of polled events. */
#ifndef CM_ENGINE_FX_H_INCLUDED_
#define CM_ENGINE_FX_H_INCLUDED_

#include <stdint.h>

#include "carematch/engine.h"

/* An engine on a memory store of its own (cm_store_memory_new(0)), and
 * the ledger it writes through. Zeroed: closed. */
typedef struct cm_fx {
  cm_store *store;   /* the engine's store, owned */
  cm_engine *eng;    /* on store; owned */
  cm_ledger *ledger; /* the config's ledger, owned from open on; NULL: none */
} cm_fx;

/* Open f, which must be closed (zeroed: asserted): a memory store and an
 * engine on it with cfg (both asserted); f takes cfg->ledger, which close
 * frees. */
void cm_fx_engine_open(cm_fx *f, const cm_engine_config *cfg);
/* A restart: f's engine and store freed, a new store and engine with cfg
 * on f's ledger (cfg->ledger is not read), which is kept. */
void cm_fx_engine_restart(cm_fx *f, const cm_engine_config *cfg);
/* f's engine, store and ledger freed (any may be NULL); f zeroed. */
void cm_fx_engine_close(cm_fx *f);

/* Upsert nurse id (capacity 1) dlat_km north of the centre, seen at t. */
void cm_fx_nurse(cm_engine *e, const char *id, double dlat_km, int64_t t);
/* Submit request id for one nurse, urgency u, dlat_km north, at t. */
void cm_fx_nurse_request(cm_engine *e, const char *id, cm_urgency u,
                         double dlat_km, int64_t t);
/* cm_engine_step at t. */
void cm_fx_step(cm_engine *e, int64_t t);
/* Request id as the engine has it. */
cm_request_view cm_fx_view(cm_engine *e, const char *id);
/* How many of ev[0..n) are of request id, of type t, naming worker w. */
int cm_fx_events_of(const cm_event *ev, int n, const char *id, cm_event_type t,
                    const char *w);

#endif
