/*
 * chart.h - an SVG chart of a recorded series (series.h), written by
 * lagscale itself: three stacked panels sharing the time axis — lag and
 * message age, replicas (current and desired, scale events marked,
 * failed reads shaded), produce and consume rate — with labelled axes,
 * ticks, units and a legend. Used by `lagscale simulate --svg`, `lagscale
 * demo` and the e2e closed-loop test.
 *
 * Long series are reduced to about one point per pixel column: peaks of
 * lag and age are kept (the maximum of each column), rates are averaged,
 * replica changes are all drawn.
 */
#ifndef LS_SIM_CHART_H
#define LS_SIM_CHART_H

#include <stdint.h>

#include "sim/series.h"
#include "util/buf.h"

struct ls_chart_options {
	const char *title;	 /* NULL: "lagscale" */
	const char *subtitle;	 /* NULL: none; e.g. the summary numbers */
	double lag_threshold;	 /* > 0: a dashed line on the lag panel */
	double max_consume_rate; /* > 0: a dashed line on the rate panel */
	int32_t max_replicas;	 /* > 0: a dashed line on the replicas panel */
	int width;		 /* pixels; 0: 960 */
};

/* Appends the SVG document to out. 0, -EINVAL (NULL s/out or an empty
 * series), or -ENOMEM / -E2BIG from out. */
int ls_chart_svg(const struct ls_series *s, const struct ls_chart_options *o, struct ls_buf *out);
/*
 * A comparison of n runs of one scenario (`simulate --compare`), one
 * colour per run, named names[i]: three stacked panels sharing the time
 * axis — the lag of every run, the replicas of every run (current, as step
 * lines), and the produce rate (series[0]'s; the runs share the curve).
 * 1 <= n <= 8. 0, -EINVAL (NULL arguments, n out of range, an empty
 * series), or -ENOMEM / -E2BIG from out.
 */
int ls_chart_compare_svg(const struct ls_series *series, const char *const *names, size_t n,
			 const struct ls_chart_options *o, struct ls_buf *out);

/* Writes it to path ("-": stdout). 0 or a negative errno. */
int ls_chart_write_svg(const struct ls_series *s, const struct ls_chart_options *o,
		       const char *path);

/* ls_chart_compare_svg() to path ("-": stdout). 0 or a negative errno. */
int ls_chart_write_compare_svg(const struct ls_series *series, const char *const *names,
			       size_t n, const struct ls_chart_options *o, const char *path);

#endif
