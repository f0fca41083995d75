/* fixtures.h -- test support: the skill bits of the default taxonomy, the
 * test city's centre and clock, and builders of workers and request specs
 * near that centre, shared by the tests that used to define their own. */
#ifndef CM_FIXTURES_H_INCLUDED_
#define CM_FIXTURES_H_INCLUDED_

#include <stdint.h>

#include "carematch/engine.h"
#include "carematch/ledger.h"
#include "carematch/model.h"

/* Skill bits of the default taxonomy (core/base/taxonomy.c), in its order. */
#define CM_FX_CAREGIVER ((cm_skillset)1 << 0)
#define CM_FX_NURSE ((cm_skillset)1 << 1)
#define CM_FX_ESCORT ((cm_skillset)1 << 2)
#define CM_FX_REHAB ((cm_skillset)1 << 3)
#define CM_FX_CLEANER ((cm_skillset)1 << 4)
#define CM_FX_MATERNITY ((cm_skillset)1 << 5)

#define CM_FX_LAT0 31.23 /* centre of the test city (degrees) */
#define CM_FX_LON0 121.47
#define CM_FX_KM_LAT 111.195     /* km per degree of latitude */
#define CM_FX_KM_LON 95.0        /* km per degree of longitude there */
#define CM_FX_T0 1700000000000LL /* a wall-clock start, ms */

/* An available worker dlat_km north and dlon_km east of the centre, with
 * the given skills and capacity, its position seen at seen_ms; every other
 * field as cm_worker_init leaves it. */
cm_worker cm_fx_worker(const char *id, cm_skillset skills, double dlat_km,
                       double dlon_km, int capacity, int64_t seen_ms);

/* A request spec dlat_km north of the centre: skills (all of them), staff,
 * urgency; everything else zero. */
cm_request_spec cm_fx_spec(const char *id, cm_skillset skills, int staff,
                           cm_urgency urgency, double dlat_km);

/* A request's first record: cm_fx_spec(id, nurse, 1, normal, 0), pending,
 * created at CM_FX_T0, version 1. */
cm_request_view cm_fx_submitted(const char *id);

/* Propose request id's submission on l (version 0 -> 1: cm_fx_submitted
 * with a submitted event), fn(ctx) told; cm_ledger_propose's status. */
cm_status cm_fx_propose_submit(cm_ledger *l, const char *id,
                               cm_ledger_done_fn fn, void *ctx, cm_error *err);

#endif
