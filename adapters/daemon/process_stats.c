/* process_stats.c -- the daemon's CPU time, memory, descriptors and start
 * time from /proc/self (proc(5)), as Prometheus's client libraries read
 * them for their process_* metrics. */
#include "process_stats.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* The whole of a small /proc file into buf (NUL-terminated). Returns the
 * bytes read, or -1. */
static long read_small(const char *path, char *buf, size_t n) {
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  size_t len = fread(buf, 1, n - 1, f);
  int bad = ferror(f);
  fclose(f);
  if (bad)
    return -1;
  buf[len] = '\0';
  return (long)len;
}

/* Seconds since the epoch when the machine booted (/proc/stat's btime),
 * or -1. Read once: it does not change. Lines are read whole with getline,
 * as the interrupt counts before btime run long on a large machine. */
static double boot_time(void) {
  static double boot = -1;
  if (boot >= 0)
    return boot;
  FILE *f = fopen("/proc/stat", "r");
  if (!f)
    return -1;
  char *line = NULL;
  size_t cap = 0;
  unsigned long long t;
  while (getline(&line, &cap, f) > 0)
    if (sscanf(line, "btime %llu", &t) == 1) {
      boot = (double)t;
      break;
    }
  free(line);
  fclose(f);
  return boot;
}

/* Open descriptors: the entries of /proc/self/fd but the one reading it. */
static double open_fds(void) {
  DIR *dir = opendir("/proc/self/fd");
  if (!dir)
    return -1;
  int n = 0;
  const struct dirent *e;
  while ((e = readdir(dir)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(dir);
  return n - 1;
}

int cmd_process_stats_read(cmd_process_stats *p) {
  char buf[1024];
  if (read_small("/proc/self/stat", buf, sizeof buf) < 0)
    return -1;
  /* pid (comm) state ppid ...: comm may hold spaces and parentheses, so
     the fields are counted from the last ')'; field 3 is the state */
  char *rest = strrchr(buf, ')');
  unsigned long long f[25] = {0}; /* fields 14 utime, 15 stime,
                                     22 starttime, 23 vsize, 24 rss */
  int k = 3;
  for (char *end, *q = rest ? rest + 1 : NULL; q && k < 25; k++) {
    while (*q == ' ')
      q++;
    if (k == 3) { /* the state: one letter */
      q += *q != '\0';
      continue;
    }
    f[k] = strtoull(q, &end, 10);
    if (end == q)
      break;
    q = end;
  }
  if (k != 25)
    return -1;
  unsigned long long utime = f[14], stime = f[15], start = f[22], vsize = f[23],
                     rss = f[24];
  long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
  if (tck <= 0 || page <= 0)
    return -1;
  double boot = boot_time();
  if (boot < 0)
    return -1;
  p->cpu_seconds = (double)(utime + stime) / (double)tck;
  p->resident_bytes = (double)rss * (double)page;
  p->virtual_bytes = (double)vsize;
  p->start_time = boot + (double)start / (double)tck;
  p->open_fds = open_fds();
  struct rlimit rl;
  p->max_fds = -1;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
    p->max_fds =
        rl.rlim_cur == RLIM_INFINITY ? (double)INFINITY : (double)rl.rlim_cur;
  return 0;
}
