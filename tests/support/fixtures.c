/* fixtures.c -- workers and request specs near the test city's centre
 * (fixtures.h). */
#include "fixtures.h"

#include <stdio.h>
#include <string.h>

cm_worker cm_fx_worker(const char *id, cm_skillset skills, double dlat_km,
                       double dlon_km, int capacity, int64_t seen_ms) {
  cm_worker w;
  cm_worker_init(&w);
  snprintf(w.id, sizeof w.id, "%s", id);
  w.skills = skills;
  w.lat = CM_FX_LAT0 + dlat_km / CM_FX_KM_LAT;
  w.lon = CM_FX_LON0 + dlon_km / CM_FX_KM_LON;
  w.has_position = 1;
  w.seen_ms = seen_ms;
  w.capacity = capacity;
  return w;
}

cm_request_spec cm_fx_spec(const char *id, cm_skillset skills, int staff,
                           cm_urgency urgency, double dlat_km) {
  cm_request_spec s;
  memset(&s, 0, sizeof s);
  snprintf(s.id, sizeof s.id, "%s", id);
  s.lat = CM_FX_LAT0 + dlat_km / CM_FX_KM_LAT;
  s.lon = CM_FX_LON0;
  s.skills = skills;
  s.staff = staff;
  s.urgency = urgency;
  return s;
}

cm_request_view cm_fx_submitted(const char *id) {
  cm_request_view v;
  memset(&v, 0, sizeof v);
  v.spec = cm_fx_spec(id, CM_FX_NURSE, 1, CM_URGENCY_NORMAL, 0);
  v.state = CM_REQ_PENDING;
  v.created_ms = CM_FX_T0;
  v.version = 1;
  return v;
}

cm_status cm_fx_propose_submit(cm_ledger *l, const char *id,
                               cm_ledger_done_fn fn, void *ctx, cm_error *err) {
  cm_request_view v = cm_fx_submitted(id);
  cm_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = CM_EV_SUBMITTED;
  snprintf(ev.request, sizeof ev.request, "%s", id);
  cm_ledger_change ch;
  memset(&ch, 0, sizeof ch);
  ch.after = &v;
  ch.n_events = 1;
  ch.events = &ev;
  return cm_ledger_propose(l, &ch, 1, fn, ctx, err);
}
