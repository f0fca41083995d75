/* engine_fx.h -- test support: the engine tests' moves in the test city
 * (fixtures.h), each asserting that the call succeeded: a nurse on shift,
 * a one-nurse request, a step, a request's view. */
#ifndef CM_ENGINE_FX_H_INCLUDED_
#define CM_ENGINE_FX_H_INCLUDED_

#include <stdint.h>

#include "carematch/engine.h"

/* Upsert nurse id (capacity 1) dlat_km north of the centre, seen at t. */
void cm_fx_nurse(cm_engine *e, const char *id, double dlat_km, int64_t t);
/* Submit request id for one nurse, urgency u, dlat_km north, at t. */
void cm_fx_nurse_request(cm_engine *e, const char *id, cm_urgency u,
                         double dlat_km, int64_t t);
/* cm_engine_step at t. */
void cm_fx_step(cm_engine *e, int64_t t);
/* Request id as the engine has it. */
cm_request_view cm_fx_view(cm_engine *e, const char *id);

#endif
