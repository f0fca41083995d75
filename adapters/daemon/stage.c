/* stage.c -- the emergency path's stage trace (docs/async.md, "The stage
 * trace"): off by default; with CAREMATCHD_STAGE_TRACE=FILE
 * in the environment, one line per stage of an emergency's way from its
 * POST to its offer's event, and per group of proposals sent to Redis,
 * appended to FILE (created 0600). A line is "<monotonic us> <stage>
 * <a> <b> <c>": an emergency is named by an internal sequence number (never
 * its request id: no personal data), a batch by its own number. A
 * diagnostic for bench runs, not for production: the file is buffered and
 * written out at exit. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"

#define STAGE_ENV "CAREMATCHD_STAGE_TRACE"
#define STAGE_CALLS 256 /* emergencies between POST and completion */

static FILE *stage_file;   /* NULL: off */
static int stage_checked;  /* the environment was read */
static uint64_t stage_seq; /* emergencies seen */
static uint64_t stage_bn;  /* batches begun */
static struct {            /* an emergency's write in flight */
  const void *call;
  uint64_t seq;
} stage_calls[STAGE_CALLS]; /* call NULL: free */

static void stage_close(void) {
  if (stage_file)
    fclose(stage_file);
  stage_file = NULL;
}

int cmd_stage_on(void) {
  if (stage_checked)
    return stage_file != NULL;
  stage_checked = 1;
  const char *path = getenv(STAGE_ENV);
  if (!path || !*path)
    return 0;
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0 || !(stage_file = fdopen(fd, "a"))) {
    if (fd >= 0)
      close(fd);
    fprintf(stderr, "carematchd: %s: cannot open the file\n", STAGE_ENV);
    return 0;
  }
  setvbuf(stage_file, NULL, _IOFBF, 1 << 20);
  atexit(stage_close);
  return 1;
}

void cmd_stage(const char *stage, uint64_t a, long long b, long long c) {
  if (!stage_file)
    return;
  fprintf(stage_file, "%lld %s %llu %lld %lld\n",
          (long long)(cmd_mono_ns(NULL) / 1000), stage, (unsigned long long)a,
          b, c);
}

/* The region's state, as the b and c of a line: a batch in flight
 * (begun, not ended) plus 2 when its follow is in flight; writes in
 * flight in the engine. */
static long long region_busy(const cmd_region *r) {
  return (r->flying ? 1 : 0) + (r->following ? 2 : 0);
}

void cmd_stage_recv(const cmd_region *r, const void *call) {
  if (!cmd_stage_on())
    return;
  uint64_t seq = ++stage_seq;
  for (int i = 0; i < STAGE_CALLS; i++)
    if (!stage_calls[i].call) {
      stage_calls[i].call = call;
      stage_calls[i].seq = seq;
      break;
    }
  cmd_stage("recv", seq, region_busy(r),
            r->eng ? (long long)cm_engine_in_flight(r->eng) : 0);
}

void cmd_stage_call(const char *stage, const void *call, long long b) {
  if (!stage_file)
    return;
  for (int i = 0; i < STAGE_CALLS; i++)
    if (stage_calls[i].call == call) {
      cmd_stage(stage, stage_calls[i].seq, b, 0);
      if (stage[0] == 'a') /* "applied": its last stage here */
        stage_calls[i].call = NULL;
      return;
    }
}

void cmd_stage_region(const char *stage, const cmd_region *r) {
  if (!stage_file)
    return;
  if ((stage[0] == 'b' && stage[1] == 'e') ||
      (stage[0] == 'u' && stage[1] == 'b')) /* "begin", "ubegin" (begun
                                               without a follow): a batch */
    stage_bn++;
  cmd_stage(stage, stage_bn, region_busy(r),
            r->eng ? (long long)cm_engine_in_flight(r->eng) : 0);
}

static void on_group(void *arg, const cm_ledger_redis_group *g) {
  (void)arg;
  if (!stage_file)
    return;
  /* "gsent"/"gdone" id changes positions; then the rest on its own line */
  cmd_stage(g->answered ? "gdone" : "gsent", g->id, g->changes, g->positions);
  cmd_stage("ginfo", g->id, g->commands,
            (long long)g->in_flight * 1000 + g->worker_writes);
}

void cmd_stage_watch(cmd_region *r) {
  cm_error err;
  if (stage_file && r->ledger && r->redis_loop)
    cm_ledger_redis_group_watch(r->ledger, on_group, r, &err);
}
