/* engine_list.c -- the engine's live requests as a list, for the
 * operator's views (carematchd's GET /v1/requests?state=live): how many
 * there are and copies of their views, a page at a time. A reader of the
 * request table only; it changes nothing. */
#include "engine_internal.h"

int cm_engine_live_count(const cm_engine *e) {
  return e ? e->n_live : 0;
}

int cm_engine_live_get(const cm_engine *e, int offset, int max,
                       cm_request_view *out) {
  if (!e || !out || offset < 0 || max <= 0 || offset >= e->n_live)
    return 0;
  int n = e->n_live - offset < max ? e->n_live - offset : max;
  for (int i = 0; i < n; i++)
    cm__view_of(e->live[offset + i], &out[i]);
  return n;
}
