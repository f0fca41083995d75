/* engine_fx.c -- test support: the engine tests' engine on a memory store
 * of its own, and their moves in the test city, each asserting that the
 * call succeeded (engine_fx.h). */
#include "engine_fx.h"

#include <criterion/criterion.h>

#include <string.h>

#include "fixtures.h"

void cm_fx_engine_open(cm_fx *f, const cm_engine_config *cfg) {
  cr_assert(!f->store && !f->eng && !f->ledger,
            "cm_fx_engine_open: the fixture is open (close it first)");
  f->ledger = cfg->ledger;
  f->store = cm_store_memory_new(0);
  cr_assert_not_null(f->store);
  cm_error err;
  f->eng = cm_engine_new(cfg, f->store, &err);
  cr_assert_not_null(f->eng, "%s", err.message);
}

void cm_fx_engine_restart(cm_fx *f, const cm_engine_config *cfg) {
  cm_engine_config c = *cfg;
  c.ledger = f->ledger;
  f->ledger = NULL; /* kept: not freed by close */
  cm_fx_engine_close(f);
  cm_fx_engine_open(f, &c);
}

void cm_fx_engine_close(cm_fx *f) {
  cm_engine_free(f->eng);
  cm_store_free(f->store);
  cm_ledger_free(f->ledger);
  memset(f, 0, sizeof *f);
}

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

int cm_fx_events_of(const cm_event *ev, int n, const char *id, cm_event_type t,
                    const char *w) {
  int found = 0;
  for (int i = 0; i < n; i++)
    found += ev[i].type == t && !strcmp(ev[i].request, id) &&
             !strcmp(ev[i].worker, w);
  return found;
}
