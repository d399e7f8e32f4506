/*
 * bench-metrics.c - lagscale's metrics at scale: an app registry
 * (lib/metrics/app.h) with S scalers × P partitions (one topic each),
 * updated as a controller round would (a fresh lag snapshot per scaler
 * through observe_lag, then observe_decision), and rendered.
 *
 * Prints the median time of one update round over all scalers, of one
 * render, the size of the exposition text and its number of series. The
 * figures are for comparing builds; nothing is asserted.
 *
 *   bench-metrics [--scalers S] [--partitions P] [--rounds N]
 *                 [--partition-series on|off] [--cap C] [--dump FILE]
 *
 * --partition-series and --cap (app.h's ls_metrics_app_set_partition_series)
 * default to on and S × P, so that the text is the whole of what the
 * registry can show; off shows the default of a lagscale deployment.
 * --dump writes the last text rendered to FILE (to compare builds).
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "metrics/app.h"
#include "util/buf.h"
#include "util/offsets.h"
#include "util/parse.h"

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64: cheap, and the same figures on every run. */
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* One snapshot per scaler: topic "bench-topic-NNNN" with p partitions. */
static int snap_init(struct ls_lag_snapshot *s, int scaler, int p)
{
	char topic[64];

	memset(s, 0, sizeof(*s));
	snprintf(topic, sizeof(topic), "bench-topic-%04d", scaler);
	s->produce_rate = -1;
	s->consume_rate = -1;
	s->topics = calloc(1, sizeof(*s->topics));
	if (!s->topics)
		return -1;
	s->n_topics = 1;
	s->topics[0].topic = strdup(topic);
	s->topics[0].parts = calloc((size_t)p, sizeof(*s->topics[0].parts));
	if (!s->topics[0].topic || !s->topics[0].parts)
		return -1;
	s->topics[0].n_parts = (size_t)p;
	for (int i = 0; i < p; i++) {
		struct ls_partition_offsets *po = &s->topics[0].parts[i];

		po->partition = i;
		po->committed = 1000;
		po->end = 1000;
		po->log_start = LS_OFFSET_UNKNOWN;
	}
	return 0;
}

/* The next read: production and consumption moved on by a few hundred
 * messages per partition, so lags, rates and lag seconds all change. */
static void snap_advance(struct ls_lag_snapshot *s, int64_t time_ms, uint64_t *rng)
{
	int64_t produced = 0, consumed = 0;

	s->time_ms = time_ms;
	for (size_t i = 0; i < s->topics[0].n_parts; i++) {
		struct ls_partition_offsets *po = &s->topics[0].parts[i];
		int64_t add = (int64_t)(rng_next(rng) % 400), take = (int64_t)(rng_next(rng) % 400);

		po->end += add;
		produced += add;
		if (po->committed + take > po->end)
			take = po->end - po->committed;
		po->committed += take;
		consumed += take;
	}
	ls_lag_snapshot_compute(s, LS_RESET_LATEST);
	s->produce_rate = (double)produced / 5.0 / 3.0; /* rarely integral */
	s->consume_rate = (double)consumed / 5.0 / 3.0;
}

int main(int argc, char **argv)
{
	int scalers = 1000, partitions = 20, rounds = 12, c;
	bool part_series = true;
	int64_t cap = -1;
	const char *dump = NULL;
	struct ls_metrics_app *app = NULL;
	struct ls_metrics_scaler **ms;
	struct ls_metrics_cluster *cl = NULL;
	struct ls_lag_snapshot *snaps;
	int64_t *upd, *ren, cpu0, cpu1;
	struct ls_buf text;
	struct rusage ru;
	struct timespec ts;
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	size_t series = 0;

	static const struct option opts[] = {{"scalers", required_argument, NULL, 's'},
	                                     {"partitions", required_argument, NULL, 'p'},
	                                     {"rounds", required_argument, NULL, 'r'},
	                                     {"partition-series", required_argument, NULL, 'o'},
	                                     {"cap", required_argument, NULL, 'c'},
	                                     {"dump", required_argument, NULL, 'd'},
	                                     {NULL, 0, NULL, 0}};
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int32_t v = 0;
		bool ok = c != '?';

		if (ok && c == 'd') {
			dump = optarg;
			continue;
		}
		if (ok && c == 'o')
			ok = ls_parse_bool(strcmp(optarg, "on") == 0    ? "true"
			                   : strcmp(optarg, "off") == 0 ? "false"
			                                                : optarg,
			                   &part_series) == 0;
		else if (ok)
			ok = ls_parse_int32(optarg, &v) == 0 && v >= (c == 'c' ? 0 : 1);
		if (!ok) {
			fprintf(stderr, "usage: bench-metrics [--scalers S] [--partitions P] "
			                "[--rounds N] [--partition-series on|off] [--cap C] "
			                "[--dump FILE]\n");
			return 2;
		}
		if (c == 's')
			scalers = v;
		else if (c == 'p')
			partitions = v;
		else if (c == 'r')
			rounds = v < 2 ? 2 : v;
		else if (c == 'c')
			cap = v;
	}
	if (cap < 0)
		cap = (int64_t)scalers * partitions;

	ms = calloc((size_t)scalers, sizeof(*ms));
	snaps = calloc((size_t)scalers, sizeof(*snaps));
	upd = calloc((size_t)rounds, sizeof(*upd));
	ren = calloc((size_t)rounds, sizeof(*ren));
	if (!ms || !snaps || !upd || !ren)
		return 1;
	if (ls_metrics_app_new("0.0.0-bench", "2.8.0", &app) < 0 ||
	    ls_metrics_cluster_new(app, "main", &cl) < 0)
		return 1;
#ifdef LS_METRICS_PARTITION_SERIES_CAP
	ls_metrics_app_set_partition_series(app, part_series, (size_t)cap);
#else
	if (!part_series || cap != (int64_t)scalers * partitions)
		fprintf(stderr, "bench-metrics: this build always has every partition series\n");
#endif
	for (int i = 0; i < scalers; i++) {
		char name[64], ns[64], target[96], group[64];

		snprintf(name, sizeof(name), "consumer-%04d", i);
		snprintf(group, sizeof(group), "consumer-group-%04d", i);
		snprintf(ns, sizeof(ns), "team-%02d", i % 37);
		snprintf(target, sizeof(target), "Deployment/consumer-%04d", i);
		if (ls_metrics_scaler_new(app, name, ns, target, "kafka-main", group, &ms[i]) < 0 ||
		    snap_init(&snaps[i], i, partitions) < 0)
			return 1;
	}
	ls_buf_init(&text, 0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	cpu0 = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	for (int r = 0; r < rounds; r++) {
		int64_t t;

		for (int i = 0; i < scalers; i++)
			snap_advance(&snaps[i], 5000 * (int64_t)(r + 1), &rng);
		t = now_ns();
		for (int i = 0; i < scalers; i++) {
			int32_t want = (int32_t)(snaps[i].total_lag / 1000) + 1;

			if (ls_metrics_scaler_observe_lag(ms[i], &snaps[i]) < 0)
				return 1;
			ls_metrics_scaler_observe_decision(ms[i], want, want, want, true, false,
			                                   false, 0);
		}
		ls_metrics_cluster_observe_collect(cl, 0.0123 * (r + 1));
		upd[r] = now_ns() - t;
		ls_buf_reset(&text);
		t = now_ns();
		if (ls_metrics_app_render(app, &text) < 0)
			return 1;
		ren[r] = now_ns() - t;
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	cpu1 = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	for (const char *p = ls_buf_str(&text); *p; p = strchr(p, '\n') + 1)
		if (*p != '#')
			series++;
	getrusage(RUSAGE_SELF, &ru);
	if (dump) {
		FILE *f = fopen(dump, "w");

		if (!f || fwrite(ls_buf_str(&text), 1, text.len, f) != text.len || fclose(f) != 0) {
			fprintf(stderr, "bench-metrics: cannot write %s\n", dump);
			return 1;
		}
	}
	/* Round 0 creates the series: the medians are of the rounds after. */
	qsort(upd + 1, (size_t)rounds - 1, sizeof(*upd), cmp_i64);
	qsort(ren + 1, (size_t)rounds - 1, sizeof(*ren), cmp_i64);
	printf("scalers=%d partitions/scaler=%d partition series=%s cap=%lld rounds=%d\n", scalers,
	       partitions, part_series ? "on" : "off", (long long)cap, rounds);
	printf("first update round:      %.0f us (creates the series)\n", (double)upd[0] / 1e3);
	printf("update round (median):   %.0f us (%.2f us per scaler)\n",
	       (double)upd[1 + (rounds - 1) / 2] / 1e3,
	       (double)upd[1 + (rounds - 1) / 2] / 1e3 / scalers);
	printf("render (median):         %.0f us (min %.0f, max %.0f)\n",
	       (double)ren[1 + (rounds - 1) / 2] / 1e3, (double)ren[1] / 1e3,
	       (double)ren[rounds - 1] / 1e3);
	printf("exposition:              %zu bytes, %zu series\n", text.len, series);
	printf("cpu, whole run:          %.3f s (snapshots included)\n",
	       (double)(cpu1 - cpu0) / 1e9);
	printf("peak RSS:                %.1f MB\n", (double)ru.ru_maxrss / 1024.0);
	for (int i = 0; i < scalers; i++) {
		ls_metrics_scaler_free(ms[i]);
		ls_lag_snapshot_release(&snaps[i]);
	}
	ls_metrics_cluster_free(cl);
	ls_metrics_app_free(app);
	ls_buf_release(&text);
	free(ms);
	free(snaps);
	free(upd);
	free(ren);
	return 0;
}
