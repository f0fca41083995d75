/* solve_tiny.c -- an external program built against an installed
 * carematch (scripts/package-test.sh): reads a batch instance (JSON),
 * solves it with cm_solve and prints the objective and the counts, as a
 * user of libcarematch_json and libcarematch_core would. Exit 0 solved,
 * 1 otherwise. */
#include <carematch/carematch.h>
#include <carematch/json.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: solve_tiny INSTANCE.json\n");
    return 1;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 1;
  }
  static char text[1 << 20];
  size_t len = fread(text, 1, sizeof text, f);
  fclose(f);
  cm_instance *inst = NULL;
  cm_error err;
  if (cm_instance_from_json(text, len, &inst, &err) != CM_OK) {
    fprintf(stderr, "%s: %s: %s\n", argv[1], err.field, err.message);
    return 1;
  }
  cm_answer ans;
  int rc = 1;
  if (cm_solve(inst, NULL, &ans, &err) == CM_OK) {
    printf("carematch %s objective %.6f assigned %d unassigned %d\n",
           CM_VERSION, ans.objective, ans.n_assignments, ans.n_unassigned);
    cm_answer_free(&ans);
    rc = 0;
  } else {
    fprintf(stderr, "cm_solve: %s\n", err.message);
  }
  cm_instance_free(inst);
  return rc;
}
