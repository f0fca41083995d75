/* regions.c -- the regions one carematchd serves ([store] regions = a,b,c,
 * or region = a): each a cmd_region of its own (store or mirror, Redis
 * connections, ledger, engine, lease, solver thread), found by name for
 * the routes /v1/regions/{region}/... (docs/daemon.md, "Regions"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

cmd_region *cmd_region_find(cmd_daemon *d, const char *name) {
  for (int i = 0; i < d->n_regions; i++)
    if (!strcmp(d->regions[i].name, name))
      return &d->regions[i];
  return NULL;
}

int cmd_regions_new(cmd_daemon *d) {
  int n = d->cfg.n_regions > 0 ? d->cfg.n_regions : 1;
  d->regions = calloc((size_t)n, sizeof *d->regions);
  if (!d->regions)
    return -1;
  d->n_regions = n;
  for (int i = 0; i < n; i++) {
    cmd_region *r = &d->regions[i];
    r->d = d;
    r->index = i;
    snprintf(r->name, sizeof r->name, "%s",
             d->cfg.n_regions > 0 ? d->cfg.regions[i] : d->cfg.region);
    if (d->cfg.regions_listed)
      snprintf(r->label, sizeof r->label, "region=\"%s\"", r->name);
    r->pipe_rd = r->pipe_wr = -1;
  }
  return 0;
}
