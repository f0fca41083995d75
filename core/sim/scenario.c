/* scenario.c -- what the product needs of a simulated day's scenario
 * (carematch/sim.h): freeing one, and the seeds of its random streams. The
 * simulator generates, saves and loads scenarios (bench/sim/scenario.c);
 * the JSON adapter reads one from carematchd's trace (sim_trace.c). */
#include <stdint.h>
#include <stdlib.h>

#include "carematch/sim.h"

/* splitmix64's finaliser: a bijective 64-bit mixer. */
static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* The starting state of the day's stream `tag` (one per part of the day:
 * the map, the staff, the elders, the requests), the seed and the tag
 * mixed. The states are scattered over splitmix64's cycle, so no two
 * seeds' streams overlap in practice. (A state seed * 0x9E37.. + 7, walked
 * by the same constant splitmix64 adds, made seed s + 1 the day of seed s
 * one draw later: seeds 1, 2, 3, 7 and 11 gave the same requests.) */
uint64_t cm_sim_stream_seed(uint64_t seed, uint64_t tag) {
  return mix64(mix64(seed ^ 0x5ca1ab1e0ddba11ULL) + mix64(tag + 1));
}

void cm_sim_scenario_free(cm_sim_scenario *s) {
  if (!s)
    return;
  free(s->workers);
  free(s->requests);
  free(s);
}
