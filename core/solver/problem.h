/* problem.h -- the priced candidate graph of one batch, shared by the
 * reduction, decomposition, network, LP and greedy stages. Internal. */
#ifndef CM_PROBLEM_H_INCLUDED_
#define CM_PROBLEM_H_INCLUDED_

#include "carematch/solve.h"

typedef struct cm__problem {
  const cm_instance *inst; /* borrowed */
  int nr, nw, ne;          /* requests, workers, candidate edges */
  int *r_start;            /* nr+1: edges of request i are r_start[i]..
                              r_start[i+1]-1, sorted by (cost, worker) */
  int *e_req;              /* ne: request of edge */
  int *e_wrk;              /* ne: worker of edge */
  double *e_cost;          /* ne: edge cost (total of the terms) */
  double *e_dist;          /* ne: distance km */
  double *e_travel;        /* ne: travel minutes */
  int *w_start;            /* nw+1: CSR by worker into w_edges */
  int *w_edges;            /* ne: edge ids by worker, ascending */
  double *penalty;         /* nr: unassigned penalty */
  unsigned char *searched; /* nr: candidates were searched (the deadline
                              may stop the search; the most urgent requests
                              are searched first) */
  int unsearched;          /* requests left unsearched */
  unsigned char *eligible; /* nr: some eligible worker was in reach (its
                              edges may all cost more than waiting) */
  int *cap;                /* nw: capacity in this batch */
} cm__problem;

typedef struct cm__clock cm__clock;

typedef struct cm__solution cm__solution;

/* Find and price the candidate edges, most urgent requests first, and build
 * the floor as they are found: the greedy answer over the requests searched
 * (the same decisions cm__greedy makes, in the same order). The search
 * stops when clk says too little time is left to finish the batch (clk may
 * be NULL: no deadline). On CM_OK *floor is initialised (free with
 * cm__solution_free); returns CM_OK, or CM_E_NOMEM with nothing to free. */
cm_status cm__problem_build(cm__problem *p, const cm_instance *inst,
                            const cm__clock *clk, cm__solution *floor,
                            cm_error *err);
/* The same on up to `threads` threads (created and joined inside the
 * call): the same edges, the same floor, for any number of threads. */
cm_status cm__problem_build_threads(cm__problem *p, const cm_instance *inst,
                                    const cm__clock *clk, int threads,
                                    cm__solution *floor, cm_error *err);
void cm__problem_free(cm__problem *p);

/* A solution: for each request its chosen edges (staff of them) or none. */
struct cm__solution {
  unsigned char *x; /* ne: edge chosen */
  int *served;      /* nr: 1 when staffed */
  int *load;        /* nw: jobs taken */
  int *component;   /* nr: component id, -1 fixed by reduction/none */
};

cm_status cm__solution_init(cm__solution *s, const cm__problem *p,
                            cm_error *err);
void cm__solution_free(cm__solution *s);
/* Mark edge e (of a one-person request, or a team member) chosen. */
void cm__solution_take(cm__solution *s, const cm__problem *p, int e);
/* Undo every chosen edge of request i. */
void cm__solution_drop(cm__solution *s, const cm__problem *p, int i);

/* Deadline helper around the injected clock. A phase that can run long
 * stops when less than reserve_ns is left: what follows a phase (the
 * fallbacks, the choice against the floor, the answer) is linear in the
 * model and must fit between the stop and the deadline. */
struct cm__clock {
  cm_clock_fn fn;
  void *ctx;
  int64_t start_ns;
  int64_t deadline_ns; /* absolute; INT64_MAX when none */
  int64_t reserve_ns;  /* kept for finishing the batch (cm__finish_ns) */
};

int64_t cm__clock_now(const cm__clock *c);
/* 1 when less than need_ns is left before the deadline (0 with none). */
int cm__clock_short(const cm__clock *c, int64_t need_ns);
/* 1 when less than the reserve is left: phases stop. */
int cm__clock_expired(const cm__clock *c);
/* Time to finish a batch of nr requests, searched of them searched, and ne
 * edges once the phases stop: the choice against the floor and the answer
 * (measured on a loaded 2-core machine: 0.2 + 0.8 ms at 5,000 requests
 * and 40,000 edges, 0.1 + 0.3 ms at 2,000 and 32,000); a request never
 * searched costs only its line in the answer. */
int64_t cm__finish_ns(int nr, int searched, int ne);
/* Time for the working arrays and the components of a batch (1.3-1.5 ms at
 * 5,000 requests, 50,000 workers and 40,000 edges; 0.15 ms at 2,000,
 * 2,000 and 32,000): without it, the floor is the answer. */
int64_t cm__prepare_ns(int nr, int nw, int ne);
/* Milliseconds left (>= 0), or a large number when there is no deadline. */
double cm__clock_left_ms(const cm__clock *c);
double cm__clock_since_ms(const cm__clock *c, int64_t from_ns);

#endif
