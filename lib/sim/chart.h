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

#include <stddef.h>
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

/*
 * A plain time chart, for figures other than a run's (the soak's memory,
 * descriptors and threads): up to LS_CHART_PANELS_MAX stacked panels
 * sharing the time axis, each with up to LS_CHART_LINES_MAX lines (one
 * colour each, a legend), its y axis from 0 to a round number above the
 * largest value (at least min_top). Where shade (optional, n values) is
 * non-zero, from t[i] to t[i + 1], every panel is shaded, named
 * shade_label in the legends. Points are drawn as they are: meant for a
 * few thousand.
 */
#define LS_CHART_PANELS_MAX 4
#define LS_CHART_LINES_MAX 4

struct ls_chart_line {
	const char *label;
	const double *v; /* n values, at the chart's t[] */
};

struct ls_chart_panel {
	const char *title;
	const char *unit; /* the y axis label, e.g. "MB" */
	const struct ls_chart_line *lines;
	size_t n_lines;
	double min_top; /* the y axis reaches at least this */
};

struct ls_chart_lines {
	const double *t; /* n times in seconds since the start, increasing */
	size_t n;
	const struct ls_chart_panel *panels;
	size_t n_panels;
	const double *shade;	 /* NULL: nothing shaded */
	const char *shade_label; /* NULL: no legend entry for it */
};

/* Appends the SVG document to out. 0, -EINVAL (NULL or empty arguments,
 * too many panels or lines), or -ENOMEM / -E2BIG from out. Only o's title,
 * subtitle and width are used. */
int ls_chart_lines_svg(const struct ls_chart_lines *c, const struct ls_chart_options *o,
		       struct ls_buf *out);

/* ls_chart_lines_svg() to path ("-": stdout). 0 or a negative errno. */
int ls_chart_write_lines_svg(const struct ls_chart_lines *c, const struct ls_chart_options *o,
			     const char *path);

#endif
