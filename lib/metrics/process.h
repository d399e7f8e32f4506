/*
 * process.h - the standard process_* series of Prometheus' client
 * libraries (resident and virtual memory, CPU seconds, open and maximum
 * file descriptors, start time), read from Linux's /proc/self: the same
 * sources and units as the official clients, so dashboards and alerts
 * written for any exporter work on lagscale too.
 *
 * Thread-safety: ls_metrics_process_read may be called from any thread.
 */
#ifndef LS_METRICS_PROCESS_H
#define LS_METRICS_PROCESS_H

struct ls_metrics_process_stats {
	double cpu_seconds;        /* user + system CPU time (/proc/self/stat utime+stime) */
	double resident_bytes;     /* resident set size (rss pages x page size) */
	double virtual_bytes;      /* virtual memory size (vsize) */
	double open_fds;           /* entries of /proc/self/fd (the one reading it excluded) */
	double max_fds;            /* the soft RLIMIT_NOFILE; +Inf when unlimited */
	double start_time_seconds; /* Unix time the process started (btime + starttime) */
};

/*
 * Reads the stats of the calling process. Returns 0 and fills *ret; a
 * negative errno when /proc/self/stat cannot be read or parsed (not
 * Linux, /proc not mounted): *ret is then untouched. A field that alone
 * cannot be read (/proc/self/fd, btime of /proc/stat) is NaN.
 */
int ls_metrics_process_read(struct ls_metrics_process_stats *ret);

#endif
