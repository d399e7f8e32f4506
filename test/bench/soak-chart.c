/*
 * soak-chart.c - draws the soak's CSV (test/bench/soak.py) with the
 * simulator's chart module: RSS (at each sample and the smallest between
 * samples, all of it and its anonymous part), open descriptors and threads of the lagscale process
 * over time, the broker outages shaded.
 *
 *   soak-chart CSV SVG TITLE
 *
 * The CSV's columns are found by name in its header: seconds, rssKB,
 * rssMinKB, anonMinKB, fds, fdsMax, threads, threadsMax, brokerDown. Exit 0, 1 (an unreadable CSV,
 * a file that cannot be written) or 2 (usage).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/chart.h"
#include "util/buf.h"
#include "util/parse.h"

enum { C_T, C_RSS, C_RSS_MIN, C_ANON_MIN, C_FDS, C_FDS_MAX, C_THREADS, C_THREADS_MAX, C_DOWN, C_N };
static const char *const col_names[C_N] = {"seconds", "rssKB",   "rssMinKB",   "anonMinKB", "fds",
                                           "fdsMax",  "threads", "threadsMax", "brokerDown"};

/* The header's index of each of col_names: 0 or -EINVAL naming the missing one. */
static int find_columns(char *header, int *idx, const char **ret_missing)
{
	int i = 0;

	for (int c = 0; c < C_N; c++)
		idx[c] = -1;
	for (char *f = header, *end; f; f = end ? end + 1 : NULL, i++) {
		end = strchr(f, ',');
		if (end)
			*end = '\0';
		for (int c = 0; c < C_N; c++)
			if (strcmp(f, col_names[c]) == 0)
				idx[c] = i;
	}
	for (int c = 0; c < C_N; c++)
		if (idx[c] < 0) {
			*ret_missing = col_names[c];
			return -EINVAL;
		}
	return 0;
}

int main(int argc, char **argv)
{
	struct ls_buf csv;
	double *v[C_N] = {NULL};
	size_t n = 0, cap = 0, line_no = 1;
	int idx[C_N], rc = 1;
	const char *missing = NULL;
	char *line, *next;

	if (argc != 4) {
		fprintf(stderr, "usage: soak-chart CSV SVG TITLE\n");
		return 2;
	}
	/* A day of 10 s samples is about 500 KB. */
	ls_buf_init(&csv, 64u << 20);
	if (ls_buf_read_file(&csv, argv[1]) < 0) {
		fprintf(stderr, "soak-chart: %s: cannot read it\n", argv[1]);
		goto out;
	}
	line = csv.len ? csv.data : NULL;
	next = line ? strchr(line, '\n') : NULL;
	if (next)
		*next++ = '\0';
	if (!line || find_columns(line, idx, &missing) < 0) {
		fprintf(stderr, "soak-chart: %s:1: no column \"%s\"\n", argv[1],
		        missing ? missing : col_names[0]);
		goto out;
	}
	for (line = next; line && *line; line = next) {
		double row[64];
		int nf = 0;

		line_no++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		for (char *f = line, *end; f && nf < 64; f = end ? end + 1 : NULL, nf++) {
			end = strchr(f, ',');
			if (end)
				*end = '\0';
			if (ls_parse_double(f, &row[nf]) < 0) {
				fprintf(stderr, "soak-chart: %s:%zu: \"%s\" is not a number\n",
				        argv[1], line_no, f);
				goto out;
			}
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			for (int c = 0; c < C_N; c++) {
				double *p = realloc(v[c], cap * sizeof(*p));

				if (!p) {
					fprintf(stderr, "soak-chart: out of memory\n");
					goto out;
				}
				v[c] = p;
			}
		}
		for (int c = 0; c < C_N; c++) {
			if (idx[c] >= nf) {
				fprintf(stderr, "soak-chart: %s:%zu: %d fields, expected more\n",
				        argv[1], line_no, nf);
				goto out;
			}
			v[c][n] = row[idx[c]];
		}
		/* Memory in MB. */
		v[C_RSS][n] /= 1024;
		v[C_RSS_MIN][n] /= 1024;
		v[C_ANON_MIN][n] /= 1024;
		n++;
	}
	if (n == 0) {
		fprintf(stderr, "soak-chart: %s: no samples\n", argv[1]);
		goto out;
	}
	{
		const struct ls_chart_line mem[] = {
		    {"RSS", v[C_RSS]},
		    {"RSS, least between samples", v[C_RSS_MIN]},
		    {"anonymous RSS, least between samples", v[C_ANON_MIN]}};
		const struct ls_chart_line fds[] = {{"least", v[C_FDS]}, {"most", v[C_FDS_MAX]}};
		const struct ls_chart_line thr[] = {{"least (between rounds)", v[C_THREADS]},
		                                    {"most (in a round)", v[C_THREADS_MAX]}};
		const struct ls_chart_panel panels[] = {
		    {"Resident memory", "MB", mem, 3, 1},
		    {"Open descriptors", "descriptors", fds, 2, 4},
		    {"Threads", "threads", thr, 2, 4},
		};
		const struct ls_chart_lines c = {.t = v[C_T],
		                                 .n = n,
		                                 .panels = panels,
		                                 .n_panels = 3,
		                                 .shade = v[C_DOWN],
		                                 .shade_label = "broker down"};
		const struct ls_chart_options o = {.title = argv[3]};
		int r = ls_chart_write_lines_svg(&c, &o, argv[2]);

		if (r < 0) {
			fprintf(stderr, "soak-chart: %s: %s\n", argv[2], strerror(-r));
			goto out;
		}
	}
	rc = 0;
out:
	for (int c = 0; c < C_N; c++)
		free(v[c]);
	ls_buf_release(&csv);
	return rc;
}
