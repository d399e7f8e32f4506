/* process.c - see process.h. */
#include "metrics/process.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* /proc/self/stat is one line of about 300 bytes; comm is at most 16. */
#define STAT_MAX 2048

/* Reads up to size - 1 bytes of path, NUL-terminated. */
static int read_small(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
	return n ? 0 : -EIO;
}

/* The next space-separated unsigned number of *p; -EINVAL when none. */
static int next_u64(const char **p, unsigned long long *ret)
{
	char *end;
	unsigned long long v;

	while (**p == ' ')
		(*p)++;
	errno = 0;
	v = strtoull(*p, &end, 10);
	if (end == *p || errno || (*end != ' ' && *end != '\n' && *end != '\0'))
		return -EINVAL;
	*p = end;
	*ret = v;
	return 0;
}

/* Skips one space-separated field (which may be negative or a letter). */
static void skip_field(const char **p)
{
	while (**p == ' ')
		(*p)++;
	while (**p && **p != ' ')
		(*p)++;
}

/* Seconds since the epoch at boot: the "btime" line of /proc/stat. */
static double boot_time(void)
{
	FILE *f = fopen("/proc/stat", "re");
	char line[256];
	double bt = NAN;

	if (!f)
		return NAN;
	while (fgets(line, sizeof(line), f)) {
		const char *p = line + 5;
		unsigned long long v;

		if (strncmp(line, "btime", 5) == 0 && next_u64(&p, &v) == 0) {
			bt = (double)v;
			break;
		}
	}
	fclose(f);
	return bt;
}

static double open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	double n = 0;

	if (!d)
		return NAN;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	/* The directory stream held one descriptor of its own. */
	return n > 0 ? n - 1 : 0;
}

int ls_metrics_process_read(struct ls_metrics_process_stats *ret)
{
	char buf[STAT_MAX];
	const char *p;
	unsigned long long utime = 0, stime = 0, start = 0, vsize = 0, rss = 0;
	long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	struct rlimit rl;
	int r;

	if (!ret)
		return -EINVAL;
	r = read_small("/proc/self/stat", buf, sizeof(buf));
	if (r < 0)
		return r;
	/* "pid (comm) state ppid ...": comm may hold spaces and parentheses,
	 * so the fields are counted from the last ')'. Field 3 is state;
	 * utime and stime are 14 and 15, starttime 22, vsize 23, rss 24. */
	p = strrchr(buf, ')');
	if (!p || tck <= 0 || page <= 0)
		return -EINVAL;
	p++;
	for (int field = 3; field <= 24; field++) {
		unsigned long long *want = field == 14   ? &utime
		                           : field == 15 ? &stime
		                           : field == 22 ? &start
		                           : field == 23 ? &vsize
		                           : field == 24 ? &rss
		                                         : NULL;

		if (!want) {
			skip_field(&p);
			continue;
		}
		if (next_u64(&p, want) < 0)
			return -EINVAL;
	}
	ret->cpu_seconds = (double)(utime + stime) / (double)tck;
	ret->virtual_bytes = (double)vsize;
	ret->resident_bytes = (double)rss * (double)page;
	ret->start_time_seconds = boot_time() + (double)start / (double)tck;
	ret->open_fds = open_fds();
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		ret->max_fds = rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur;
	else
		ret->max_fds = NAN;
	return 0;
}
