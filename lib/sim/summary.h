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
	/* The drain of the peak's episode (struct ls_drain); 0 when the lag
	 * never reaches one lagThreshold; to the last point when it never
	 * comes back under (drained false). */
	double drain_seconds;
	bool drained;
	/* Sum of current replicas x the time to the next point. */
	double replica_seconds;
	int32_t scale_events; /* changes of current replicas between points */
	int32_t max_replicas;
	double peak_consume_rate;
};

/*
 * The drain time, defined once for the simulator, the demo and recorded
 * runs: from the moment the lag crosses one lagThreshold until it is back
 * under it, for the episode above the threshold that holds the peak lag.
 * Without noise that is the first crossing; in a recorded run it keeps a
 * blip above the threshold before the spike (a commit landing late) from
 * standing for the whole drain. Feed every point in time order.
 */
struct ls_drain {
	double thr;
	double ep_start;  /* the current episode's crossing; -1: below the threshold */
	double up, down;  /* the peak's episode; -1: none, or not back under yet */
	int64_t peak;
};

void ls_drain_init(struct ls_drain *d, double lag_threshold);
void ls_drain_see(struct ls_drain *d, double t_s, int64_t lag);
/* 0 when the lag never crossed; the seconds from crossing to back under,
 * or to t_end_s when it is still above (*ret_drained false). */
double ls_drain_seconds(const struct ls_drain *d, double t_end_s, bool *ret_drained);

/* 0 and *ret; -EINVAL for a NULL or empty series (ret untouched). */
int ls_series_summarize(const struct ls_series *s, double lag_threshold,
			struct ls_series_summary *ret);

#endif
