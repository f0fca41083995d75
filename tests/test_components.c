/* test_components.c -- connected components of the active candidate graph
 * (core/solver/components.c): they partition the active requests that have
 * candidates and the workers those reach, every active edge lies inside one
 * component, each component is connected, ids ascend within a component,
 * and the solve order is the documented one (most urgent first, then the
 * largest, then by number). Random instances with teams, a random part
 * inactive; and the single-component mode. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/solve.h"
#include "check.h"
#include "solver/stages.h"

/* The most urgent (smallest) urgency among component k's requests. */
static int urgency_of(const cm__problem *p, const cm__components *c, int k) {
  int u = CM_URGENCY_COUNT;
  for (int a = c->r_start[k]; a < c->r_start[k + 1]; a++)
    if ((int)p->inst->requests[c->reqs[a]].urgency < u)
      u = (int)p->inst->requests[c->reqs[a]].urgency;
  return u;
}

/* Every node of component k reached from its first request over active
 * edges inside it. */
static void assert_connected(const cm__problem *p, const unsigned char *active,
                             const cm__components *c, int k, uint64_t seed) {
  int nodes = p->nr + p->nw, top = 0, seen_n = 0;
  unsigned char *seen = calloc((size_t)nodes + 1, 1);
  int *stack = malloc(sizeof *stack * (size_t)(nodes + 1));
  cr_assert(seen && stack);
  stack[top++] = c->reqs[c->r_start[k]];
  seen[stack[0]] = 1;
  while (top > 0) {
    int v = stack[--top];
    seen_n++;
    if (v < p->nr) {
      for (int e = p->r_start[v]; e < p->r_start[v + 1]; e++)
        if (!seen[p->nr + p->e_wrk[e]]) {
          seen[p->nr + p->e_wrk[e]] = 1;
          stack[top++] = p->nr + p->e_wrk[e];
        }
    } else {
      int w = v - p->nr;
      for (int q = p->w_start[w]; q < p->w_start[w + 1]; q++) {
        int i = p->e_req[p->w_edges[q]];
        if (active[i] && !seen[i]) {
          seen[i] = 1;
          stack[top++] = i;
        }
      }
    }
  }
  int size =
      (c->r_start[k + 1] - c->r_start[k]) + (c->w_start[k + 1] - c->w_start[k]);
  cr_assert_eq(seen_n, size, "seed %llu: component %d has %d nodes, %d reached",
               (unsigned long long)seed, k, size, seen_n);
  free(seen);
  free(stack);
}

static void check_components(const cm__problem *p, const unsigned char *active,
                             const cm__components *c, int single,
                             uint64_t seed) {
  int *rcomp = malloc(sizeof *rcomp * (size_t)(p->nr + 1));
  int *wcomp = malloc(sizeof *wcomp * (size_t)(p->nw + 1));
  cr_assert(rcomp && wcomp);
  for (int i = 0; i < p->nr; i++)
    rcomp[i] = -1;
  for (int j = 0; j < p->nw; j++)
    wcomp[j] = -1;
  cr_assert_eq(c->r_start[0], 0);
  cr_assert_eq(c->w_start[0], 0);
  for (int k = 0; k < c->n; k++) {
    cr_assert_lt(c->r_start[k], c->r_start[k + 1],
                 "seed %llu: component %d has no request",
                 (unsigned long long)seed, k);
    for (int a = c->r_start[k]; a < c->r_start[k + 1]; a++) {
      int i = c->reqs[a];
      cr_assert_eq(rcomp[i], -1, "seed %llu: request %d twice",
                   (unsigned long long)seed, i);
      rcomp[i] = k;
      if (a > c->r_start[k])
        cr_assert_lt(c->reqs[a - 1], i, "requests not ascending");
    }
    for (int a = c->w_start[k]; a < c->w_start[k + 1]; a++) {
      int j = c->wrks[a];
      cr_assert_eq(wcomp[j], -1, "seed %llu: worker %d twice",
                   (unsigned long long)seed, j);
      wcomp[j] = k;
      if (a > c->w_start[k])
        cr_assert_lt(c->wrks[a - 1], j, "workers not ascending");
    }
  }
  /* the partition: exactly the active requests with candidates, exactly
     the workers with an active edge */
  for (int i = 0; i < p->nr; i++) {
    int has = active[i] && p->r_start[i] < p->r_start[i + 1];
    cr_assert_eq(rcomp[i] >= 0, has, "seed %llu: request %d %s",
                 (unsigned long long)seed, i, has ? "missing" : "included");
  }
  for (int j = 0; j < p->nw; j++) {
    int has = 0;
    for (int q = p->w_start[j]; q < p->w_start[j + 1]; q++)
      has |= active[p->e_req[p->w_edges[q]]];
    cr_assert_eq(wcomp[j] >= 0, has, "seed %llu: worker %d %s",
                 (unsigned long long)seed, j, has ? "missing" : "included");
  }
  for (int e = 0; e < p->ne; e++)
    if (active[p->e_req[e]])
      cr_assert_eq(rcomp[p->e_req[e]], wcomp[p->e_wrk[e]],
                   "seed %llu: edge %d between components",
                   (unsigned long long)seed, e);
  if (single) {
    cr_assert_leq(c->n, 1);
  } else {
    for (int k = 0; k < c->n; k++)
      assert_connected(p, active, c, k, seed);
  }
  /* the order: a permutation, most urgent, then largest, then by number */
  unsigned char *in_order = calloc((size_t)c->n + 1, 1);
  cr_assert_not_null(in_order);
  for (int a = 0; a < c->n; a++) {
    int k = c->order[a];
    cr_assert(k >= 0 && k < c->n && !in_order[k]);
    in_order[k] = 1;
    if (a == 0)
      continue;
    int h = c->order[a - 1];
    int uh = urgency_of(p, c, h), uk = urgency_of(p, c, k);
    int sh = c->r_start[h + 1] - c->r_start[h];
    int sk = c->r_start[k + 1] - c->r_start[k];
    cr_assert(uh < uk || (uh == uk && (sh > sk || (sh == sk && h < k))),
              "seed %llu: component %d (urgency %d, %d requests) before %d "
              "(urgency %d, %d requests)",
              (unsigned long long)seed, h, uh, sh, k, uk, sk);
  }
  free(in_order);
  free(rcomp);
  free(wcomp);
}

Test(components, partition_edges_and_order) {
  int many = 0, ties = 0;
  for (uint64_t seed = 1; seed <= 400; seed++) {
    cm_check_gen_opts o;
    cm_check_gen_small_opts(&o, (int)(seed & 1), seed % 3 == 0);
    o.max_requests = 30;
    o.max_workers = 30;
    o.area_km = 12;
    if (o.edge_mode)
      o.edges_per_request = 1 + (int)(seed % 3);
    cm_instance *inst = cm_check_gen(&o, seed);
    cr_assert_not_null(inst);
    cm__problem p;
    cm__solution floor;
    cm_error err;
    cr_assert_eq(cm__problem_build(&p, inst, NULL, &floor, &err), CM_OK);
    cm_check_rng g;
    cm_check_rng_seed(&g, seed);
    unsigned char *active = malloc((size_t)p.nr + 1);
    cr_assert_not_null(active);
    for (int i = 0; i < p.nr; i++) /* some requests fixed or solved */
      active[i] = !cm_check_rng_chance(&g, 0.2);
    for (int single = 0; single <= 1; single++) {
      cm__components c;
      cr_assert_eq(cm__components_build(&p, active, single, &c), 0);
      check_components(&p, active, &c, single, seed);
      if (!single) {
        many += c.n >= 3;
        for (int a = 1; a < c.n; a++)
          ties += urgency_of(&p, &c, c.order[a - 1]) ==
                  urgency_of(&p, &c, c.order[a]);
      }
      cm__components_free(&c);
    }
    free(active);
    cm__solution_free(&floor);
    cm__problem_free(&p);
    cm_instance_free(inst);
  }
  cr_assert_gt(many, 100, "too few instances with several components");
  cr_assert_gt(ties, 100, "too few urgency ties: the size order untested");
}
