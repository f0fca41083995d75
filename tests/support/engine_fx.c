/* engine_fx.c -- test support: the engine tests' moves in the test city,
 * each asserting that the call succeeded (engine_fx.h). */
#include "engine_fx.h"

#include <criterion/criterion.h>

#include "fixtures.h"

void cm_fx_nurse(cm_engine *e, const char *id, double dlat_km, int64_t t) {
  cm_worker w = cm_fx_worker(id, CM_FX_NURSE, dlat_km, 0.0, 1, t);
  cm_error err;
  cr_assert_eq(cm_engine_worker_upsert(e, &w, t, &err), CM_OK, "%s",
               err.message);
}

void cm_fx_nurse_request(cm_engine *e, const char *id, cm_urgency u,
                         double dlat_km, int64_t t) {
  cm_request_spec s = cm_fx_spec(id, CM_FX_NURSE, 1, u, dlat_km);
  cm_error err;
  cr_assert_eq(cm_engine_submit(e, &s, t, &err), CM_OK, "%s", err.message);
}

void cm_fx_step(cm_engine *e, int64_t t) {
  cm_error err;
  cr_assert_eq(cm_engine_step(e, t, NULL, &err), CM_OK, "%s", err.message);
}

cm_request_view cm_fx_view(cm_engine *e, const char *id) {
  cm_request_view v;
  cm_error err;
  cr_assert_eq(cm_engine_request_get(e, id, &v, &err), CM_OK, "%s: %s", id,
               err.message);
  return v;
}
