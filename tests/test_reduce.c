/* test_reduce.c -- the exact reductions before solving
 * (core/solver/reduce.c): what they fix is removable. On random one-person
 * instances the optimum of what is left (at the capacity the fixings leave)
 * plus the cost of what was fixed equals the optimum of the whole, by
 * enumeration (tests/support/problem_oracle.c); each fixed request takes its
 * cheapest edge; a team request contests the workers it can reach. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "carematch/solve.h"
#include "check.h"
#include "problem_oracle.h"
#include "solver/stages.h"

typedef struct tally {
  int fixed;   /* requests fixed over the run */
  int partial; /* instances with some fixed and some left */
} tally;

static void reduce_one(uint64_t seed, const cm_check_gen_opts *o, tally *t) {
  cm_instance *inst = cm_check_gen(o, seed);
  cr_assert_not_null(inst);
  cm__problem p;
  cm__solution floor, s;
  cm_error err;
  cr_assert_eq(cm__problem_build(&p, inst, NULL, &floor, &err), CM_OK);
  cr_assert_eq(cm__solution_init(&s, &p, &err), CM_OK);
  int nr = p.nr;
  unsigned char *active = malloc((size_t)nr + 1);
  int *all = malloc(sizeof *all * (size_t)(nr + 1));
  int *left = malloc(sizeof *left * (size_t)(nr + 1));
  int *freecap = malloc(sizeof *freecap * (size_t)(p.nw + 1));
  cr_assert(active && all && left && freecap);
  int nall = 0;
  double no_candidate = 0;
  for (int i = 0; i < nr; i++) {
    active[i] = p.r_start[i] < p.r_start[i + 1];
    if (active[i])
      all[nall++] = i;
    else
      no_candidate += p.penalty[i];
  }
  double whole = cm_oracle_assign(&p, all, nall, p.cap, NULL) + no_candidate;
  cr_assert(cm_check_close(whole, cm_check_brute_force(inst, NULL)),
            "seed %llu: graph and instance optima differ",
            (unsigned long long)seed);

  int fixed = cm__reduce(&p, &s, active, NULL);
  cr_assert_geq(fixed, 0);
  char msg[256];
  cr_assert(cm_oracle_solution_ok(&p, &s, msg), "seed %llu: %s",
            (unsigned long long)seed, msg);
  int nleft = 0, nfixed = 0;
  double fixed_cost = 0;
  for (int a = 0; a < nall; a++) {
    int i = all[a];
    if (active[i]) {
      cr_assert(!s.served[i], "seed %llu: request %d served, still active",
                (unsigned long long)seed, i);
      left[nleft++] = i;
      continue;
    }
    nfixed++;
    cr_assert(s.served[i] && s.x[p.r_start[i]],
              "seed %llu: request %d fixed off its cheapest edge",
              (unsigned long long)seed, i);
    fixed_cost += p.e_cost[p.r_start[i]];
  }
  cr_assert_eq(fixed, nfixed, "seed %llu: %d fixed, %d reported",
               (unsigned long long)seed, nfixed, fixed);
  for (int w = 0; w < p.nw; w++)
    freecap[w] = p.cap[w] - s.load[w];
  double rest = cm_oracle_assign(&p, left, nleft, freecap, NULL);
  cr_assert(cm_check_close(rest + fixed_cost + no_candidate, whole),
            "seed %llu: %d fixed at %.12g + rest %.12g, whole %.12g",
            (unsigned long long)seed, fixed, fixed_cost, rest, whole);
  t->fixed += fixed;
  t->partial += fixed > 0 && nleft > 0;
  free(active);
  free(all);
  free(left);
  free(freecap);
  cm__solution_free(&s);
  cm__solution_free(&floor);
  cm__problem_free(&p);
  cm_instance_free(inst);
}

Test(reduce, fixings_keep_the_optimum) {
  tally t = {0, 0};
  for (uint64_t seed = 1; seed <= 600; seed++) {
    cm_check_gen_opts o;
    cm_check_gen_small_opts(&o, (int)(seed & 1), 0);
    o.max_requests = 10;
    o.max_workers = seed % 3 == 0 ? 4 : 9;
    o.max_capacity = 1 + (int)(seed % 4);
    if (o.edge_mode && seed % 4 == 1)
      o.edges_per_request = 2;
    reduce_one(seed, &o, &t);
  }
  cr_assert_gt(t.fixed, 400, "too few fixings: %d", t.fixed);
  cr_assert_gt(t.partial, 50, "too few partial reductions: %d", t.partial);
}

/* A hand-made graph: request 0 (one person) has its cheapest edge to worker
 * 0 (capacity 1), which team request 1 can also reach. Worker 0 is
 * contested: nothing is fixed. With the team gone (inactive), request 0 is
 * fixed on worker 0. */
Test(reduce, a_team_contests_its_workers) {
  cm_instance *inst = cm_instance_new();
  cr_assert_not_null(inst);
  cm_request rq;
  cm_request_init(&rq);
  strcpy(rq.id, "solo");
  cr_assert_eq(cm_instance_request_add(inst, &rq, NULL, NULL), CM_OK);
  strcpy(rq.id, "team");
  rq.staff = 2;
  cr_assert_eq(cm_instance_request_add(inst, &rq, NULL, NULL), CM_OK);
  int r_start[] = {0, 2, 4}, e_req[] = {0, 0, 1, 1}, e_wrk[] = {0, 1, 0, 1};
  double e_cost[] = {1, 5, 2, 2}, penalty[] = {100, 100};
  int w_start[] = {0, 2, 4}, w_edges[] = {0, 2, 1, 3}, cap[] = {1, 2};
  cm__problem p = {.inst = inst,
                   .nr = 2,
                   .nw = 2,
                   .ne = 4,
                   .r_start = r_start,
                   .e_req = e_req,
                   .e_wrk = e_wrk,
                   .e_cost = e_cost,
                   .w_start = w_start,
                   .w_edges = w_edges,
                   .penalty = penalty,
                   .cap = cap};
  cm__solution s;
  cr_assert_eq(cm__solution_init(&s, &p, NULL), CM_OK);
  unsigned char active[] = {1, 1};
  cr_assert_eq(cm__reduce(&p, &s, active, NULL), 0);
  cr_assert(active[0] && active[1] && !s.served[0]);
  active[1] = 0;
  cr_assert_eq(cm__reduce(&p, &s, active, NULL), 1);
  cr_assert(!active[0] && s.served[0] && s.x[0] && s.load[0] == 1);
  cm__solution_free(&s);
  cm_instance_free(inst);
}
