/*
 * age.h - the exact wait of the oldest unconsumed message, from the
 * produce history: record the cumulative count of messages produced as
 * time goes on; the oldest unconsumed message is the one at cumulative
 * position `consumed`, and its age is now minus the time the cumulative
 * count first passed that position (linear between two records).
 *
 * Used by the simulator and by `lagscale demo`. Memory stays bounded as
 * long as `consumed` keeps moving: records before the oldest unconsumed
 * message are dropped. Embed a struct ls_age_tracker; _init/_release.
 * Not thread-safe.
 */
#ifndef LS_SIM_AGE_H
#define LS_SIM_AGE_H

#include <stddef.h>
#include <stdint.h>

struct ls_age_record {
	int64_t t_ms;
	double produced; /* cumulative, non-decreasing */
};

struct ls_age_tracker {
	struct ls_age_record *r;
	size_t first; /* records before it are no longer needed */
	size_t n;
	size_t alloc;
};

void ls_age_tracker_init(struct ls_age_tracker *a);
void ls_age_tracker_release(struct ls_age_tracker *a);

/*
 * Records that `produced` messages had been produced by t_ms (both
 * non-decreasing from call to call; smaller values are taken as the
 * previous ones). Messages counted in the first record are taken as
 * produced at its time (an initial backlog). 0 or -ENOMEM (not recorded).
 */
int ls_age_tracker_add(struct ls_age_tracker *a, int64_t t_ms, double produced);

/*
 * Seconds the oldest unconsumed message has waited at now_ms, when
 * `consumed` messages have been consumed (non-decreasing from call to
 * call for the pruning to be right); 0 when everything recorded has been
 * consumed or nothing was recorded.
 */
double ls_age_tracker_age(struct ls_age_tracker *a, int64_t now_ms, double consumed);

#endif
