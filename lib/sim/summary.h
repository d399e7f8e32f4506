/*
 * summary.h - the numbers of a run, computed from its recorded series:
 * what `lagscale simulate` reports (DESIGN.md section 6) and what `lagscale
 * demo` prints, defined once.
 */
#ifndef LS_SIM_SUMMARY_H
#define LS_SIM_SUMMARY_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/series.h"

struct ls_series_summary {
	int64_t peak_lag;
	double peak_lag_seconds; /* the longest a message waited */
	/* The integral of the lag over time (trapezoids between points), in
	 * message-seconds: what all messages waited together. */
	double lag_message_seconds;
	/* From the first point where the lag reaches one lagThreshold until
	 * the first point after it where the lag is below it; 0 when it never
	 * reaches it; to the last point when it never comes back under
	 * (drained false). The simulator's definition (sim.h). */
	double drain_seconds;
	bool drained;
	/* Sum of current replicas x the time to the next point. */
	double replica_seconds;
	int32_t scale_events; /* changes of current replicas between points */
	int32_t max_replicas;
	double peak_consume_rate;
};

/* 0 and *ret; -EINVAL for a NULL or empty series (ret untouched). */
int ls_series_summarize(const struct ls_series *s, double lag_threshold,
			struct ls_series_summary *ret);

#endif
