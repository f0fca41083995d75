/* process_stats.h -- the daemon process's own figures (CPU time, memory,
 * descriptors, start time) read from /proc/self, for the process_* metrics
 * of the Prometheus conventions (metrics.c). Linux only: elsewhere, and
 * when /proc is not mounted, nothing is read and the metrics are left out.
 */
#ifndef CMD_PROCESS_STATS_H_INCLUDED_
#define CMD_PROCESS_STATS_H_INCLUDED_

typedef struct cmd_process_stats {
  double cpu_seconds;    /* user + system CPU time, s */
  double resident_bytes; /* resident set size */
  double virtual_bytes;  /* virtual memory size */
  double start_time;     /* when the process started, s since the epoch */
  double open_fds;       /* open file descriptors (-1: not read) */
  double max_fds;        /* their soft limit (INFINITY: none; -1: not read) */
} cmd_process_stats;

/* Fill *p from /proc/self/stat, /proc/stat (the boot time), /proc/self/fd
 * and the descriptor limit. Returns 0, or -1 when /proc/self/stat cannot
 * be read or parsed (then *p is unspecified). open_fds and max_fds may be
 * -1 when only they could not be read. */
int cmd_process_stats_read(cmd_process_stats *p);

#endif
