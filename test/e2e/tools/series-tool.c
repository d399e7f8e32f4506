/*
 * series-tool.c - the simulator's summary and chart for a series recorded
 * from a real run (the e2e closed-loop test), so real and simulated runs
 * are measured and drawn the same way.
 *
 *   series-tool summary CSV LAG_THRESHOLD       one JSON line of figures
 *   series-tool chart CSV SVG TITLE LAG_THRESHOLD MAX_REPLICAS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/chart.h"
#include "sim/series.h"
#include "sim/summary.h"
#include "util/parse.h"

int main(int argc, char **argv)
{
	struct ls_series s;
	struct ls_series_summary sum;
	double threshold;
	char err[512];
	int rc = 2;

	if (argc < 4 || ls_parse_double(argv[argc == 4 ? 3 : 5], &threshold) < 0) {
		fprintf(stderr, "usage: series-tool summary CSV LAG_THRESHOLD | "
				"chart CSV SVG TITLE LAG_THRESHOLD MAX_REPLICAS\n");
		return 2;
	}
	ls_series_init(&s);
	if (ls_series_read_csv(argv[2], &s, err, sizeof(err)) < 0) {
		fprintf(stderr, "series-tool: %s\n", err);
		goto out;
	}
	rc = 1;
	if (ls_series_summarize(&s, threshold, &sum) < 0) {
		fprintf(stderr, "series-tool: %s: empty series\n", argv[2]);
		goto out;
	}
	if (strcmp(argv[1], "summary") == 0 && argc == 4) {
		printf("{\"peakLag\":%lld,\"peakLagSeconds\":%.1f,\"drainSeconds\":%.1f,"
		       "\"drained\":%s,\"replicaSeconds\":%.1f,\"scaleEvents\":%d,\"maxReplicas\":%d}\n",
		       (long long)sum.peak_lag, sum.peak_lag_seconds, sum.drain_seconds,
		       sum.drained ? "true" : "false", sum.replica_seconds, sum.scale_events,
		       sum.max_replicas);
		rc = 0;
	} else if (strcmp(argv[1], "chart") == 0 && argc == 7) {
		struct ls_chart_options o = {.title = argv[4], .lag_threshold = threshold};
		char sub[256];
		int32_t maxr;

		if (ls_parse_int32(argv[6], &maxr) == 0)
			o.max_replicas = maxr;
		snprintf(sub, sizeof(sub),
			 "peak lag %lld, oldest message waited %.0f s, drained in %.0f s, %d scale "
			 "events, up to %d replicas",
			 (long long)sum.peak_lag, sum.peak_lag_seconds, sum.drain_seconds,
			 sum.scale_events, sum.max_replicas);
		o.subtitle = sub;
		rc = ls_chart_write_svg(&s, &o, argv[3]) == 0 ? 0 : 1;
	} else {
		fprintf(stderr, "series-tool: unknown command \"%s\" or wrong arguments\n", argv[1]);
		rc = 2;
	}
out:
	ls_series_release(&s);
	return rc;
}
