/* glpk_limit.c -- test support: GLPK's memory limit (glpk_limit.h). The
 * only file of the tests that includes glpk.h, as core/solver/lp_glpk.c is the
 * only one of the library. */
#include <glpk.h>

#include "glpk_limit.h"

void cm_test_glpk_squeeze(size_t room_bytes) {
  int count, cpeak;
  size_t total, tpeak;
  glp_mem_usage(&count, &cpeak, &total, &tpeak); /* creates the env */
  size_t mb = (total >> 20) + 2, limit = mb << 20;
  glp_mem_limit((int)mb);
  /* glp_alloc counts its own header too: fill in pieces until the room
     left is what was asked for */
  for (;;) {
    glp_mem_usage(&count, &cpeak, &total, &tpeak);
    size_t left = limit - total;
    if (left <= room_bytes + 64)
      break;
    size_t piece = left - room_bytes - 64;
    if (piece > (1u << 20))
      piece = 1u << 20;
    glp_alloc(1, (int)piece);
  }
}

void cm_test_glpk_release(void) {
  glp_free_env();
}
