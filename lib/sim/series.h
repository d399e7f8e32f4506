/*
 * series.h - a recorded time series of one scaler: the columns of
 * `lagscale simulate --csv`, shared by the simulator, `lagscale demo` and
 * the e2e closed-loop test, which render it with lib/sim/chart.h.
 *
 * Embed a struct ls_series and use _init/_release. Not thread-safe.
 */
#ifndef LS_SIM_SERIES_H
#define LS_SIM_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* No decision was taken at this point (the action column is empty). */
#define LS_SERIES_NO_ACTION (-1)

struct ls_series_point {
	double t_s;	     /* seconds since the start */
	double produce_rate; /* msgs/s */
	double consume_rate; /* msgs/s */
	int64_t lag;	     /* messages */
	double lag_seconds;  /* wait of the oldest unconsumed message */
	int32_t current_replicas;
	int32_t desired_replicas;
	int action; /* enum ls_action of a decision at this point, or LS_SERIES_NO_ACTION */
};

struct ls_series {
	struct ls_series_point *pts;
	size_t n;
	size_t alloc;
};

void ls_series_init(struct ls_series *s);
void ls_series_release(struct ls_series *s);
/* 0 or -ENOMEM (s unchanged). */
int ls_series_append(struct ls_series *s, const struct ls_series_point *p);

/*
 * Appends the CSV to out: the header
 * "time,produceRate,consumeRate,lag,lagSeconds,currentReplicas,desiredReplicas,action"
 * then one line per point. 0, or -ENOMEM / -E2BIG from out.
 */
int ls_series_csv(const struct ls_series *s, struct ls_buf *out);
/* Writes the CSV to path ("-": stdout). 0 or a negative errno. */
int ls_series_write_csv(const struct ls_series *s, const char *path);

/*
 * Reads a CSV written by ls_series_csv (the e2e closed-loop test records
 * real runs in it) and appends its points to s. 0, -EINVAL naming the bad
 * line in errbuf, or a negative errno when the file cannot be read.
 */
int ls_series_read_csv(const char *path, struct ls_series *s, char *errbuf, size_t errlen);

/* Writes data to path atomically enough for a report ("-": stdout). */
int ls_sim_write_file(const char *path, const char *data, size_t len);

#endif
