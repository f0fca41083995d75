/* lp_glpk.c -- GLPK models of a batch: confirmation of network answers
 * (warm spanning-tree basis plus pricing) and cold LP/MIP solves of a
 * component. See lp_glpk.h. */
#include <glpk.h>
#include <math.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "lp_glpk.h"

#define MASTER_CHEAPEST 3 /* edges per request in the restricted master */
#define RC_TOL 1e-7       /* reduced cost below -RC_TOL prices in */

typedef struct guard {
  jmp_buf jb;
} guard;

static void on_glpk_error(void *info) {
  longjmp(((guard *)info)->jb, 1);
}

/* GLPK's error function turns terminal output back on and prints its
 * message before it calls the error hook: the core prints nothing. */
static int no_output(void *info, const char *s) {
  (void)info;
  (void)s;
  return 1;
}

/* GLPK's own time limit: what the clock leaves, less a millisecond for
 * GLPK's coarse checks (it reads its clock between iterations). */
static int tm_lim_ms(const cm__clock *clk) {
  double left = cm__clock_left_ms(clk);
  if (left > 1e9)
    return INT32_MAX;
  return left < 2.0 ? 1 : (int)left - 1;
}

/* Arrays owned across a guarded GLPK call, freed even after a GLPK error. */
typedef struct scratch {
  glp_prob *lp;
  int *ia, *ja;
  double *ar;
  int *row_of_req;  /* p->nr: row of a request, 0 none */
  int *row_of_wrk;  /* p->nw: row of a worker, 0 none */
  int *col_of_edge; /* p->ne: column of an edge, 0 none */
  int *col_of_u;    /* p->nr: unassigned / staffed column */
  int *kind, *edge; /* tree arcs of one net */
  int *ind;
  double *val;
} scratch;

static void scratch_free(scratch *s) {
  free(s->ia);
  free(s->ja);
  free(s->ar);
  free(s->row_of_req);
  free(s->row_of_wrk);
  free(s->col_of_edge);
  free(s->col_of_u);
  free(s->kind);
  free(s->edge);
  free(s->ind);
  free(s->val);
  memset(s, 0, sizeof *s);
}

static int scratch_maps(scratch *s, const cm__problem *p) {
  s->row_of_req = calloc((size_t)p->nr + 1, sizeof *s->row_of_req);
  s->row_of_wrk = calloc((size_t)p->nw + 1, sizeof *s->row_of_wrk);
  s->col_of_edge = calloc((size_t)p->ne + 1, sizeof *s->col_of_edge);
  s->col_of_u = calloc((size_t)p->nr + 1, sizeof *s->col_of_u);
  return s->row_of_req && s->row_of_wrk && s->col_of_edge && s->col_of_u ? 0
                                                                         : -1;
}

/* Add a 0..1 column for edge e (rows must exist). Returns its index. */
static int add_edge_col(scratch *s, const cm__problem *p, int e, int binary) {
  int c = glp_add_cols(s->lp, 1);
  int ind[3] = {0, s->row_of_req[p->e_req[e]], s->row_of_wrk[p->e_wrk[e]]};
  double val[3] = {0, 1.0, 1.0};
  glp_set_col_bnds(s->lp, c, GLP_DB, 0.0, 1.0);
  glp_set_obj_coef(s->lp, c, p->e_cost[e]);
  glp_set_mat_col(s->lp, c, 2, ind, val);
  if (binary)
    glp_set_col_kind(s->lp, c, GLP_BV);
  s->col_of_edge[e] = c;
  return c;
}

/* ---------------- confirmation of network answers ---------------- */

/* Rows and columns of net n. Returns 0, or -1 when the deadline passed. */
static int add_net_rows(scratch *s, const cm__problem *p, const cm__net *n,
                        const cm__clock *clk) {
  int r0 = glp_add_rows(s->lp, n->nr + n->nw);
  for (int i = 0; i < n->nr; i++) {
    s->row_of_req[n->reqs[i]] = r0 + i;
    glp_set_row_bnds(s->lp, r0 + i, GLP_FX, 1.0, 1.0);
  }
  for (int j = 0; j < n->nw; j++) {
    int f = n->freecap[j];
    s->row_of_wrk[n->wrks[j]] = r0 + n->nr + j;
    if (f > 0)
      glp_set_row_bnds(s->lp, r0 + n->nr + j, GLP_DB, 0.0, (double)f);
    else
      glp_set_row_bnds(s->lp, r0 + n->nr + j, GLP_FX, 0.0, 0.0);
  }
  for (int i = 0; i < n->nr; i++) {
    int g = n->reqs[i], c = glp_add_cols(s->lp, 1);
    int ind[2] = {0, s->row_of_req[g]};
    double val[2] = {0, 1.0};
    glp_set_col_bnds(s->lp, c, GLP_DB, 0.0, 1.0);
    glp_set_obj_coef(s->lp, c, p->penalty[g]);
    glp_set_mat_col(s->lp, c, 1, ind, val);
    s->col_of_u[g] = c;
  }
  for (int i = 0; i < n->nr; i++) {
    int g = n->reqs[i], k = 0;
    if ((i & 255) == 255 && cm__clock_expired(clk))
      return -1;
    for (int e = p->r_start[g]; e < p->r_start[g + 1]; e++, k++)
      if (k < MASTER_CHEAPEST || e == n->asg[i])
        add_edge_col(s, p, e, 0);
  }
  return 0;
}

/* Install the spanning-tree basis of net n. Returns 0, -1 when the tree
 * could not be built (GLPK then starts from an advanced basis). */
static int set_tree_basis(scratch *s, const cm__problem *p, cm__net *n) {
  if (cm__net_tree(n, s->kind, s->edge) != 0)
    return -1;
  for (int i = 0; i < n->nr; i++) { /* nonbasic statuses from the flow */
    int g = n->reqs[i];
    glp_set_row_stat(s->lp, s->row_of_req[g], GLP_NS);
    glp_set_col_stat(s->lp, s->col_of_u[g], n->asg[i] < 0 ? GLP_NU : GLP_NL);
    for (int e = p->r_start[g]; e < p->r_start[g + 1]; e++)
      if (s->col_of_edge[e])
        glp_set_col_stat(s->lp, s->col_of_edge[e],
                         e == n->asg[i] ? GLP_NU : GLP_NL);
  }
  for (int j = 0; j < n->nw; j++) {
    int f = n->freecap[j];
    glp_set_row_stat(s->lp, s->row_of_wrk[n->wrks[j]],
                     f <= 0 ? GLP_NS : (n->load[j] >= f ? GLP_NU : GLP_NL));
  }
  for (int v = 0; v < n->nr + n->nw; v++) { /* tree arcs are basic */
    int e = s->edge[v];
    switch (s->kind[v]) {
    case CM__ARC_FWD:
    case CM__ARC_REV:
      if (!s->col_of_edge[e])
        add_edge_col(s, p, e, 0);
      glp_set_col_stat(s->lp, s->col_of_edge[e], GLP_BS);
      break;
    case CM__ARC_REQ_T:
      glp_set_col_stat(s->lp, s->col_of_u[n->reqs[v]], GLP_BS);
      break;
    default: /* CM__ARC_WRK_T */
      glp_set_row_stat(s->lp, s->row_of_wrk[n->wrks[v - n->nr]], GLP_BS);
      break;
    }
  }
  return 0;
}

static int run_simplex(glp_prob *lp, const cm__clock *clk, int presolve) {
  glp_smcp parm;
  glp_init_smcp(&parm);
  parm.msg_lev = GLP_MSG_OFF;
  parm.presolve = presolve ? GLP_ON : GLP_OFF;
  parm.tm_lim = tm_lim_ms(clk);
  int ret = glp_simplex(lp, &parm);
  if (!presolve && (ret == GLP_EBADB || ret == GLP_ESING || ret == GLP_ECOND)) {
    glp_adv_basis(lp, 0);
    ret = glp_simplex(lp, &parm);
  }
  return ret;
}

/* Price every edge of the nets not yet in the LP; add the improving ones.
 * Returns the number added. */
static int price_edges(scratch *s, const cm__problem *p, cm__net *const *nets,
                       int nnets) {
  int added = 0;
  for (int k = 0; k < nnets; k++) {
    const cm__net *n = nets[k];
    for (int i = 0; i < n->nr; i++) {
      int g = n->reqs[i];
      double yr = glp_get_row_dual(s->lp, s->row_of_req[g]);
      for (int e = p->r_start[g]; e < p->r_start[g + 1]; e++) {
        if (s->col_of_edge[e])
          continue;
        double rc = p->e_cost[e] - yr -
                    glp_get_row_dual(s->lp, s->row_of_wrk[p->e_wrk[e]]);
        if (rc < -RC_TOL) {
          add_edge_col(s, p, e, 0);
          added++;
        }
      }
    }
  }
  return added;
}

/* Read GLPK's answer back into the nets; returns requests that changed. */
static int read_back(scratch *s, const cm__problem *p, cm__net *const *nets,
                     int nnets) {
  int changed = 0;
  for (int k = 0; k < nnets; k++) {
    cm__net *n = nets[k];
    memset(n->load, 0, (size_t)n->nw * sizeof *n->load);
    for (int i = 0; i < n->nr; i++) {
      int g = n->reqs[i], chosen = -1;
      for (int e = p->r_start[g]; e < p->r_start[g + 1]; e++)
        if (s->col_of_edge[e] &&
            glp_get_col_prim(s->lp, s->col_of_edge[e]) > 0.5)
          chosen = e;
      if (chosen != n->asg[i])
        changed++;
      n->asg[i] = chosen;
      if (chosen >= 0)
        n->load[n->wloc[p->e_wrk[chosen]]]++;
    }
  }
  return changed;
}

static cm_status certify_guarded(scratch *s, const cm__problem *p,
                                 cm__net *const *nets, int nnets,
                                 const cm__clock *clk, int *certified,
                                 int *changed, cm__glpk_stats *st) {
  int maxnodes = 1;
  for (int k = 0; k < nnets; k++)
    if (nets[k]->nr + nets[k]->nw > maxnodes)
      maxnodes = nets[k]->nr + nets[k]->nw;
  s->kind = malloc((size_t)maxnodes * sizeof *s->kind);
  s->edge = malloc((size_t)maxnodes * sizeof *s->edge);
  if (!s->kind || !s->edge || scratch_maps(s, p) != 0)
    return CM_E_NOMEM;
  s->lp = glp_create_prob();
  glp_set_obj_dir(s->lp, GLP_MIN);
  /* the network answers are already proven optimal by their dual bounds:
     when the deadline passes during the confirmation, it is given up */
  for (int k = 0; k < nnets; k++)
    if (cm__clock_expired(clk) || add_net_rows(s, p, nets[k], clk) != 0)
      return CM_OK;
  int warm = 1;
  for (int k = 0; k < nnets; k++) {
    if (cm__clock_expired(clk))
      return CM_OK;
    if (set_tree_basis(s, p, nets[k]) != 0)
      warm = 0;
  }
  if (!warm)
    glp_adv_basis(s->lp, 0);
  for (;;) {
    int ret = run_simplex(s->lp, clk, 0);
    if (ret != 0 || glp_get_status(s->lp) != GLP_OPT)
      return CM_OK; /* deadline or trouble: the network answer stands */
    st->rounds++;
    st->iterations = glp_get_it_cnt(s->lp);
    int added = price_edges(s, p, nets, nnets);
    st->added += added;
    if (added == 0)
      break;
    if (cm__clock_expired(clk))
      return CM_OK;
  }
  *changed = read_back(s, p, nets, nnets);
  *certified = 1;
  return CM_OK;
}

cm_status cm__glpk_certify(const cm__problem *p, cm__net *const *nets,
                           int nnets, const cm__clock *clk, int *certified,
                           int *changed, cm__glpk_stats *st, cm_error *err) {
  *certified = 0;
  *changed = 0;
  if (nnets == 0)
    return CM_OK;
  guard *g = malloc(sizeof *g);
  scratch *s = calloc(1, sizeof *s);
  cm_status rc = CM_E_NOMEM;
  if (!g || !s)
    goto done;
  glp_term_out(GLP_OFF);
  glp_term_hook(no_output, NULL);
  if (setjmp(g->jb)) {
    glp_error_hook(NULL, NULL);
    glp_free_env(); /* frees every GLPK object of this thread */
    s->lp = NULL;
    rc = CM_E_SOLVER;
    goto done;
  }
  glp_error_hook(on_glpk_error, g);
  rc = certify_guarded(s, p, nets, nnets, clk, certified, changed, st);
  glp_error_hook(NULL, NULL);
done:
  if (s) {
    if (s->lp)
      glp_delete_prob(s->lp);
    scratch_free(s);
  }
  free(s);
  free(g);
  if (rc != CM_OK)
    cm_error_set(err, rc, "",
                 rc == CM_E_NOMEM ? "out of memory in the LP"
                                  : "GLPK reported an error");
  return rc;
}

/* ---------------- cold LP / MIP of one component ---------------- */

/* Branch and bound stops when the batch's clock says so (tm_lim reads
 * GLPK's own clock in whole milliseconds; this reads the injected one at
 * every node). The floor is not offered as an incumbent: GLPK takes one
 * only in the presolved problem's columns, and the floor is compared with
 * the answer anyway (floor.c). */
static void mip_callback(glp_tree *tree, void *info) {
  if (cm__clock_expired((const cm__clock *)info))
    glp_ios_terminate(tree);
}

/* The rows and columns of one component: a capacity row per worker (the
 * room it has left), a row per request with its unserved column u (for a
 * team: y, staffed, with the penalty as the objective's constant), and a
 * column per edge. */
static void add_rows_and_columns(scratch *s, const cm__problem *p,
                                 const cm__solution *sol, const int *reqs,
                                 int nr, const int *wrks, int nw, int teams) {
  const cm_instance *inst = p->inst;
  glp_prob *lp = s->lp;
  double constant = 0;
  int r0 = glp_add_rows(lp, nr + nw);
  for (int j = 0; j < nw; j++) {
    int f = p->cap[wrks[j]] - sol->load[wrks[j]];
    s->row_of_wrk[wrks[j]] = r0 + nr + j;
    glp_set_row_bnds(lp, r0 + nr + j, GLP_UP, 0.0, f > 0 ? f : 0);
  }
  for (int k = 0; k < nr; k++) {
    int g = reqs[k], staff = inst->requests[g].staff;
    s->row_of_req[g] = r0 + k;
    glp_set_row_bnds(lp, r0 + k, GLP_FX, staff > 1 ? 0.0 : 1.0,
                     staff > 1 ? 0.0 : 1.0);
    int c = glp_add_cols(lp, 1);
    int ind[2] = {0, r0 + k};
    double val[2] = {0, staff > 1 ? -(double)staff : 1.0};
    glp_set_col_bnds(lp, c, GLP_DB, 0.0, 1.0);
    if (staff > 1) { /* y: staffed; cost of not staffing is P(1 - y) */
      glp_set_obj_coef(lp, c, -p->penalty[g]);
      glp_set_col_kind(lp, c, GLP_BV);
      constant += p->penalty[g];
    } else {
      glp_set_obj_coef(lp, c, p->penalty[g]);
    }
    glp_set_mat_col(lp, c, 1, ind, val);
    s->col_of_u[g] = c;
    for (int e = p->r_start[g]; e < p->r_start[g + 1]; e++)
      add_edge_col(s, p, e, teams > 0);
  }
  glp_set_obj_coef(lp, 0, constant);
}

/* Coverage: each skill a team request requires (all of them) held by
 * someone of its team when staffed. Returns 0, -2 out of memory. */
static int add_coverage_rows(scratch *s, const cm__problem *p, const int *reqs,
                             int nr) {
  const cm_instance *inst = p->inst;
  s->ind = malloc((size_t)(p->ne + 2) * sizeof *s->ind);
  s->val = malloc((size_t)(p->ne + 2) * sizeof *s->val);
  if (!s->ind || !s->val)
    return -2;
  for (int k = 0; k < nr; k++) {
    int g = reqs[k];
    const cm_request *rq = &inst->requests[g];
    if (rq->staff < 2 || rq->skill_mode != CM_SKILLS_ALL)
      continue;
    for (int sk = 0; sk < CM_MAX_SKILLS; sk++) {
      if (!(rq->skills & (1u << sk)))
        continue;
      int n = 0;
      s->ind[++n] = s->col_of_u[g];
      s->val[n] = -1.0;
      for (int e = p->r_start[g]; e < p->r_start[g + 1]; e++)
        if (inst->workers[p->e_wrk[e]].skills & (1u << sk)) {
          s->ind[++n] = s->col_of_edge[e];
          s->val[n] = 1.0;
        }
      int row = glp_add_rows(s->lp, 1);
      glp_set_row_bnds(s->lp, row, GLP_LO, 0.0, 0.0);
      glp_set_mat_row(s->lp, row, n, s->ind, s->val);
    }
  }
  return 0;
}

/* Solve: the LP when there is no team (totally unimodular), branch and
 * bound otherwise. Returns 1 optimal, 2 cut by the deadline with an
 * incumbent, 0 nothing usable. */
static int solve_lp(scratch *s, int teams, const cm__clock *clk,
                    cm__glpk_stats *st) {
  glp_prob *lp = s->lp;
  if (teams == 0) {
    int ret = run_simplex(lp, clk, 1);
    st->iterations += glp_get_it_cnt(lp);
    return ret == 0 && glp_get_status(lp) == GLP_OPT ? 1 : 0;
  }
  glp_iocp parm;
  glp_init_iocp(&parm);
  parm.msg_lev = GLP_MSG_OFF;
  parm.presolve = GLP_ON;
  parm.tm_lim = tm_lim_ms(clk);
  parm.cb_func = mip_callback;
  parm.cb_info = (void *)clk;
  int ret = glp_intopt(lp, &parm);
  st->iterations += glp_get_it_cnt(lp);
  int status = glp_mip_status(lp);
  if (ret == 0 && status == GLP_OPT)
    return 1;
  if ((ret == GLP_ETMLIM || ret == GLP_ESTOP) && status == GLP_FEAS)
    return 2; /* cut with an incumbent: keep it */
  return 0;
}

/* The edges the answer takes (value above one half) into sol. */
static void take_answer(const scratch *s, const cm__problem *p,
                        cm__solution *sol, const int *reqs, int nr, int teams) {
  for (int k = 0; k < nr; k++) {
    int g = reqs[k];
    for (int e = p->r_start[g]; e < p->r_start[g + 1]; e++) {
      double v = teams ? glp_mip_col_val(s->lp, s->col_of_edge[e])
                       : glp_get_col_prim(s->lp, s->col_of_edge[e]);
      if (v > 0.5)
        cm__solution_take(sol, p, e);
    }
  }
}

/* One component, cold, under the GLPK guard (cm__glpk_component's
 * returns: 1, 2, 0, or -2 out of memory). */
static int component_guarded(scratch *s, const cm__problem *p,
                             cm__solution *sol, const int *reqs, int nr,
                             const int *wrks, int nw, const cm__clock *clk,
                             cm__glpk_stats *st) {
  if (scratch_maps(s, p) != 0)
    return -2;
  int teams = 0;
  for (int k = 0; k < nr; k++)
    teams += p->inst->requests[reqs[k]].staff > 1;
  s->lp = glp_create_prob();
  glp_set_obj_dir(s->lp, GLP_MIN);
  add_rows_and_columns(s, p, sol, reqs, nr, wrks, nw, teams);
  if (add_coverage_rows(s, p, reqs, nr) != 0)
    return -2;
  if (cm__clock_expired(clk))
    return 0;
  int rc = solve_lp(s, teams, clk, st);
  if (rc > 0)
    take_answer(s, p, sol, reqs, nr, teams);
  return rc;
}

int cm__glpk_component(const cm__problem *p, cm__solution *sol, const int *reqs,
                       int nr, const int *wrks, int nw, const cm__clock *clk,
                       cm__glpk_stats *st, cm_error *err) {
  guard *g = malloc(sizeof *g);
  scratch *s = calloc(1, sizeof *s);
  int rc = -2;
  if (!g || !s)
    goto done;
  glp_term_out(GLP_OFF);
  glp_term_hook(no_output, NULL);
  if (setjmp(g->jb)) {
    glp_error_hook(NULL, NULL);
    glp_free_env();
    s->lp = NULL;
    rc = -3;
    goto done;
  }
  glp_error_hook(on_glpk_error, g);
  rc = component_guarded(s, p, sol, reqs, nr, wrks, nw, clk, st);
  glp_error_hook(NULL, NULL);
done:
  if (s) {
    if (s->lp)
      glp_delete_prob(s->lp);
    scratch_free(s);
  }
  free(s);
  free(g);
  if (rc == -2)
    cm_error_set(err, CM_E_NOMEM, "", "out of memory in the LP");
  else if (rc == -3)
    cm_error_set(err, CM_E_SOLVER, "", "GLPK reported an error");
  return rc < 0 ? -1 : rc;
}

void cm_solve_thread_cleanup(void) {
  glp_free_env(); /* 1 (nothing done) when there is no environment */
}
