/* chart.c - see chart.h. Plain SVG 1.1, no scripts, no external fonts. */
#include "sim/chart.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

#define ML	   84 /* left margin: the left axis labels */
#define MR	   84 /* right margin: the message age axis */
#define MT	   80 /* title and subtitle */
#define PANEL_H	   170
#define PANEL_GAP  46
#define MB	   56 /* the time axis */
#define N_PANELS   3
#define COL_LAG	   "#1f77b4"
#define COL_AGE	   "#d62728"
#define COL_CUR	   "#2ca02c"
#define COL_DES	   "#9467bd"
#define COL_PROD   "#7f7f7f"
#define COL_CONS   "#17becf"
#define COL_LIMIT  "#d62728"
#define COL_GRID   "#e6e6e6"
#define COL_AXIS   "#444444"

struct frame {
	double x0, x1, t_max; /* pixel range and time range [0, t_max] in seconds */
	double unit_s;	      /* seconds per time-axis unit */
	const char *unit;
};

struct panel {
	double y0, y1; /* top and bottom pixels */
};

/* Columns: reduced points, one per pixel column at most. */
struct col {
	double t, lag, age, prod, cons;
};

static double nice_step(double range, int ticks)
{
	double raw = range / ticks, mag, f;

	if (!(raw > 0))
		return 1;
	mag = pow(10, floor(log10(raw)));
	f = raw / mag;
	if (f <= 1)
		f = 1;
	else if (f <= 2)
		f = 2;
	else if (f <= 2.5)
		f = 2.5;
	else if (f <= 5)
		f = 5;
	else
		f = 10;
	return f * mag;
}

/* The top of an axis: a multiple of its tick step above max. */
static double nice_max(double max, double *ret_step)
{
	double step;

	if (!(max > 0))
		max = 1;
	step = nice_step(max * 1.08, 4);
	*ret_step = step;
	return ceil(max * 1.08 / step) * step;
}

/* "950", "1.5k", "12k", "2.5M". */
static char *si(double v, char *out, size_t size)
{
	double a = fabs(v);

	if (a >= 1e9)
		snprintf(out, size, "%gG", round(v / 1e8) / 10);
	else if (a >= 1e6)
		snprintf(out, size, "%gM", round(v / 1e5) / 10);
	else if (a >= 1e3)
		snprintf(out, size, "%gk", round(v / 1e2) / 10);
	else
		snprintf(out, size, "%g", round(v * 10) / 10);
	return out;
}

static int esc(struct ls_buf *b, const char *s)
{
	int r = 0;

	for (; *s && r == 0; s++) {
		switch (*s) {
		case '&':
			r = ls_buf_puts(b, "&amp;");
			break;
		case '<':
			r = ls_buf_puts(b, "&lt;");
			break;
		case '>':
			r = ls_buf_puts(b, "&gt;");
			break;
		case '"':
			r = ls_buf_puts(b, "&quot;");
			break;
		default:
			r = ls_buf_append(b, s, 1);
		}
	}
	return r;
}

static double xpix(const struct frame *f, double t)
{
	return f->x0 + (f->t_max > 0 ? t / f->t_max : 0) * (f->x1 - f->x0);
}

static double ypix(const struct panel *p, double v, double vmax)
{
	double y = p->y1 - (vmax > 0 ? v / vmax : 0) * (p->y1 - p->y0);

	return y < p->y0 ? p->y0 : y;
}

/* Frame, horizontal grid and the left (and optionally right) axis. */
static int axes(struct ls_buf *b, const struct frame *f, const struct panel *p, double lmax,
		double lstep, const char *llabel, double rmax, double rstep, const char *rlabel,
		const char *title)
{
	char n[32];
	int r = 0;

	r |= ls_buf_printf(b, "<g font-size=\"11\" fill=\"%s\">\n", COL_AXIS);
	for (double v = 0; v <= lmax + lstep / 2 && r == 0; v += lstep) {
		double y = ypix(p, v, lmax);

		r |= ls_buf_printf(b,
				   "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
				   "stroke=\"%s\"/>\n",
				   f->x0, y, f->x1, y, COL_GRID);
		r |= ls_buf_printf(b,
				   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
				   f->x0 - 6, y + 4, si(v, n, sizeof(n)));
	}
	if (rmax > 0)
		for (double v = 0; v <= rmax + rstep / 2 && r == 0; v += rstep)
			r |= ls_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\">%s</text>\n",
					   f->x1 + 6, ypix(p, v, rmax) + 4, COL_AGE,
					   si(v, n, sizeof(n)));
	/* Vertical grid at the time ticks. */
	{
		double span = f->t_max / f->unit_s, step = nice_step(span, 8);

		for (double u = 0; u <= span + 1e-9 && r == 0; u += step)
			r |= ls_buf_printf(b,
					   "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
					   "stroke=\"%s\"/>\n",
					   xpix(f, u * f->unit_s), p->y0, xpix(f, u * f->unit_s),
					   p->y1, COL_GRID);
	}
	r |= ls_buf_printf(b,
			   "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
			   "stroke=\"%s\"/>\n",
			   f->x0, p->y0, f->x1 - f->x0, p->y1 - p->y0, COL_AXIS);
	r |= ls_buf_printf(b,
			   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
			   "transform=\"rotate(-90 %.1f %.1f)\">%s</text>\n",
			   f->x0 - 58, (p->y0 + p->y1) / 2, f->x0 - 58, (p->y0 + p->y1) / 2, llabel);
	if (rlabel)
		r |= ls_buf_printf(b,
				   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"%s\" "
				   "transform=\"rotate(90 %.1f %.1f)\">%s</text>\n",
				   f->x1 + 58, (p->y0 + p->y1) / 2, COL_AGE, f->x1 + 58,
				   (p->y0 + p->y1) / 2, rlabel);
	r |= ls_buf_printf(b,
			   "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" font-weight=\"bold\">%s"
			   "</text>\n</g>\n",
			   f->x0, p->y0 - 8, title);
	return r ? -ENOMEM : 0;
}

/* A legend row at the top right of a panel: colour, dash, label. */
static int legend(struct ls_buf *b, const struct frame *f, const struct panel *p, int n,
		  const char *const *colors, const char *const *dashes, const char *const *labels)
{
	double w = 0, x;
	int r = 0;

	for (int i = 0; i < n; i++)
		w += 34 + 6.2 * (double)strlen(labels[i]);
	x = f->x1 - w - 6;
	r |= ls_buf_printf(b,
			   "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"18\" fill=\"white\" "
			   "fill-opacity=\"0.85\" stroke=\"#cccccc\"/>\n",
			   x - 4, p->y0 + 4, w + 4);
	for (int i = 0; i < n && r == 0; i++) {
		r |= ls_buf_printf(b,
				   "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
				   "stroke=\"%s\" stroke-width=\"2.5\"%s%s%s/>\n",
				   x, p->y0 + 13, x + 22, p->y0 + 13, colors[i],
				   dashes[i] ? " stroke-dasharray=\"" : "", dashes[i] ? dashes[i] : "",
				   dashes[i] ? "\"" : "");
		r |= ls_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">", x + 26,
				   p->y0 + 17);
		r |= esc(b, labels[i]);
		r |= ls_buf_puts(b, "</text>\n");
		x += 34 + 6.2 * (double)strlen(labels[i]);
	}
	return r ? -ENOMEM : 0;
}

enum field { F_LAG, F_AGE, F_PROD, F_CONS };

static double field(const struct col *c, enum field fl)
{
	switch (fl) {
	case F_LAG:
		return c->lag;
	case F_AGE:
		return c->age;
	case F_PROD:
		return c->prod;
	case F_CONS:
		return c->cons;
	}
	return 0;
}

static int polyline(struct ls_buf *b, const struct frame *f, const struct panel *p,
		    const struct col *cols, size_t n, enum field fl, double vmax, const char *color,
		    const char *dash, bool area)
{
	int r = 0;

	if (area) {
		r |= ls_buf_printf(b, "<path fill=\"%s\" fill-opacity=\"0.15\" stroke=\"none\" d=\"M%.1f %.1f",
				   color, xpix(f, cols[0].t), p->y1);
		for (size_t i = 0; i < n && r == 0; i++)
			r |= ls_buf_printf(b, " L%.1f %.1f", xpix(f, cols[i].t),
					   ypix(p, field(&cols[i], fl), vmax));
		r |= ls_buf_printf(b, " L%.1f %.1f Z\"/>\n", xpix(f, cols[n - 1].t), p->y1);
	}
	r |= ls_buf_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"%s%s%s points=\"",
			   color, dash ? " stroke-dasharray=\"" : "", dash ? dash : "",
			   dash ? "\"" : "");
	for (size_t i = 0; i < n && r == 0; i++)
		r |= ls_buf_printf(b, "%s%.1f,%.1f", i ? " " : "", xpix(f, cols[i].t),
				   ypix(p, field(&cols[i], fl), vmax));
	r |= ls_buf_puts(b, "\"/>\n");
	return r ? -ENOMEM : 0;
}

/* Replicas as a step line drawn from every change. */
static int steps(struct ls_buf *b, const struct frame *f, const struct panel *p,
		 const struct ls_series *s, bool desired, double vmax, const char *color,
		 const char *dash)
{
	int32_t prev;
	int r = 0;

	prev = desired ? s->pts[0].desired_replicas : s->pts[0].current_replicas;
	r |= ls_buf_printf(b,
			   "<path fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s%s%s d=\"M%.1f %.1f",
			   color, desired ? "1.4" : "2", dash ? " stroke-dasharray=\"" : "",
			   dash ? dash : "", dash ? "\"" : "", xpix(f, s->pts[0].t_s),
			   ypix(p, prev, vmax));
	for (size_t i = 1; i < s->n && r == 0; i++) {
		int32_t v = desired ? s->pts[i].desired_replicas : s->pts[i].current_replicas;

		if (v == prev)
			continue;
		r |= ls_buf_printf(b, " H%.1f V%.1f", xpix(f, s->pts[i].t_s), ypix(p, v, vmax));
		prev = v;
	}
	r |= ls_buf_printf(b, " H%.1f\"/>\n", xpix(f, s->pts[s->n - 1].t_s));
	return r ? -ENOMEM : 0;
}

static int hline(struct ls_buf *b, const struct frame *f, const struct panel *p, double v,
		 double vmax, const char *color, const char *label)
{
	double y = ypix(p, v, vmax);
	int r = 0;

	if (v > vmax)
		return 0;
	r |= ls_buf_printf(b,
			   "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
			   "stroke-dasharray=\"2 3\"/>\n",
			   f->x0, y, f->x1, y, color);
	r |= ls_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"%s\">", f->x0 + 4,
			   y - 3, color);
	r |= esc(b, label);
	r |= ls_buf_puts(b, "</text>\n");
	return r ? -ENOMEM : 0;
}

/* Shades the spans whose decision was error or fallback, marks scale events. */
static int events(struct ls_buf *b, const struct frame *f, const struct panel *p,
		  const struct ls_series *s)
{
	int r = 0;
	double shade_from = -1;

	for (size_t i = 0; i < s->n && r == 0; i++) {
		int a = s->pts[i].action;
		bool failed = a == LS_ACTION_ERROR || a == LS_ACTION_FALLBACK;

		if (a == LS_SERIES_NO_ACTION)
			continue;
		if (failed && shade_from < 0)
			shade_from = s->pts[i].t_s;
		if (!failed && shade_from >= 0) {
			r |= ls_buf_printf(b,
					   "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
					   "height=\"%.1f\" fill=\"#ff7f0e\" fill-opacity=\"0.18\"/>\n",
					   xpix(f, shade_from), p->y0,
					   xpix(f, s->pts[i].t_s) - xpix(f, shade_from), p->y1 - p->y0);
			shade_from = -1;
		}
	}
	if (shade_from >= 0)
		r |= ls_buf_printf(b,
				   "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
				   "fill=\"#ff7f0e\" fill-opacity=\"0.18\"/>\n",
				   xpix(f, shade_from), p->y0, f->x1 - xpix(f, shade_from),
				   p->y1 - p->y0);
	for (size_t i = 1; i < s->n && r == 0; i++) {
		int32_t a = s->pts[i - 1].current_replicas, c = s->pts[i].current_replicas;
		double x = xpix(f, s->pts[i].t_s), y = p->y1;

		if (a == c)
			continue;
		/* A small triangle on the time axis of the panel: up or down. */
		if (c > a)
			r |= ls_buf_printf(b,
					   "<path d=\"M%.1f %.1f l-4 7 h8 Z\" fill=\"%s\">"
					   "<title>%g s: %d → %d</title></path>\n",
					   x, y - 8, COL_CUR, s->pts[i].t_s, a, c);
		else
			r |= ls_buf_printf(b,
					   "<path d=\"M%.1f %.1f l-4 -7 h8 Z\" fill=\"%s\">"
					   "<title>%g s: %d → %d</title></path>\n",
					   x, y - 1, COL_AGE, s->pts[i].t_s, a, c);
	}
	return r ? -ENOMEM : 0;
}

/* The time frame and the panels of a chart width pixels wide whose series
 * end at t_max seconds; the time unit follows the span. */
static void layout(struct frame *f, struct panel *pl, int n_panels, int width, double t_max)
{
	f->x0 = ML;
	f->x1 = width - MR;
	f->t_max = t_max > 0 ? t_max : 1;
	if (f->t_max <= 600) {
		f->unit_s = 1;
		f->unit = "s";
	} else if (f->t_max <= 6 * 3600) {
		f->unit_s = 60;
		f->unit = "min";
	} else {
		f->unit_s = 3600;
		f->unit = "h";
	}
	for (int i = 0; i < n_panels; i++) {
		pl[i].y0 = MT + i * (PANEL_H + PANEL_GAP);
		pl[i].y1 = pl[i].y0 + PANEL_H;
	}
}

/* A series reduced to at most max_cols columns: the max of lag and age, the
 * mean of the rates. */
static int reduce(const struct ls_series *s, size_t max_cols, struct col **ret, size_t *ret_n)
{
	size_t per = (s->n + max_cols - 1) / max_cols, n = 0;
	struct col *cols = calloc(s->n < max_cols ? s->n : max_cols, sizeof(*cols));

	if (!cols)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i += per) {
		struct col c = {s->pts[i].t_s, 0, 0, 0, 0};
		size_t k = 0;

		for (size_t j = i; j < s->n && j < i + per; j++, k++) {
			const struct ls_series_point *p = &s->pts[j];

			if ((double)p->lag > c.lag)
				c.lag = (double)p->lag;
			if (p->lag_seconds > c.age)
				c.age = p->lag_seconds;
			c.prod += p->produce_rate;
			c.cons += p->consume_rate;
		}
		c.prod /= (double)k;
		c.cons /= (double)k;
		cols[n++] = c;
	}
	*ret = cols;
	*ret_n = n;
	return 0;
}

/* The SVG's opening, background, title and subtitle. 0 or -ENOMEM. */
static int header(struct ls_buf *out, int width, int height, const struct ls_chart_options *o)
{
	int r = 0;

	r |= ls_buf_printf(out,
			   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
			   "viewBox=\"0 0 %d %d\" font-family=\"Helvetica, Arial, sans-serif\">\n"
			   "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
			   width, height, width, height);
	r |= ls_buf_printf(out, "<text x=\"%d\" y=\"24\" font-size=\"17\" font-weight=\"bold\">", ML);
	r |= esc(out, o->title ? o->title : "lagscale");
	r |= ls_buf_puts(out, "</text>\n");
	if (o->subtitle) {
		r |= ls_buf_printf(out, "<text x=\"%d\" y=\"42\" font-size=\"12\" fill=\"#555555\">",
				   ML);
		r |= esc(out, o->subtitle);
		r |= ls_buf_puts(out, "</text>\n");
	}
	return r ? -ENOMEM : 0;
}

/* The shared time axis under the last panel, and the SVG's end. 0 or -ENOMEM. */
static int time_axis(struct ls_buf *out, const struct frame *f, const struct panel *last)
{
	double span = f->t_max / f->unit_s, step = nice_step(span, 8);
	double y = last->y1;
	int r = 0;

	r |= ls_buf_printf(out, "<g font-size=\"11\" fill=\"%s\">\n", COL_AXIS);
	for (double u = 0; u <= span + 1e-9 && r == 0; u += step) {
		double x = xpix(f, u * f->unit_s);

		r |= ls_buf_printf(out,
				   "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
				   "stroke=\"%s\"/>\n<text x=\"%.1f\" y=\"%.1f\" "
				   "text-anchor=\"middle\">%g</text>\n",
				   x, y, x, y + 5, COL_AXIS, x, y + 18, round(u * 100) / 100);
	}
	r |= ls_buf_printf(out,
			   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">time since "
			   "start (%s)</text>\n</g>\n</svg>\n",
			   (f->x0 + f->x1) / 2, y + 40, f->unit);
	return r ? -ENOMEM : 0;
}

int ls_chart_svg(const struct ls_series *s, const struct ls_chart_options *o, struct ls_buf *out)
{
	static const struct ls_chart_options none = {0};
	struct frame f;
	struct panel pl[N_PANELS];
	struct col *cols = NULL;
	size_t n_cols = 0, max_cols;
	double lag_max = 0, age_max = 0, rate_max = 0, rep_max = 0;
	double lag_top, lag_step, age_top = 0, age_step = 1, rate_top, rate_step, rep_top, rep_step;
	int width, height, r = 0;
	char buf[64];

	if (!s || !out || s->n == 0)
		return -EINVAL;
	if (!o)
		o = &none;
	width = o->width > 0 ? o->width : 960;
	height = MT + N_PANELS * PANEL_H + (N_PANELS - 1) * PANEL_GAP + MB;
	layout(&f, pl, N_PANELS, width, s->pts[s->n - 1].t_s);

	/* Reduce to pixel columns. */
	max_cols = (size_t)(f.x1 - f.x0);
	if (max_cols < 2)
		max_cols = 2;
	r = reduce(s, max_cols, &cols, &n_cols);
	if (r < 0)
		return r;
	for (size_t i = 0; i < s->n; i++) {
		const struct ls_series_point *p = &s->pts[i];

		if ((double)p->lag > lag_max)
			lag_max = (double)p->lag;
		if (p->lag_seconds > age_max)
			age_max = p->lag_seconds;
		if (p->current_replicas > rep_max)
			rep_max = p->current_replicas;
		if (p->desired_replicas > rep_max)
			rep_max = p->desired_replicas;
	}
	for (size_t i = 0; i < n_cols; i++) {
		if (cols[i].prod > rate_max)
			rate_max = cols[i].prod;
		if (cols[i].cons > rate_max)
			rate_max = cols[i].cons;
	}
	if (o->lag_threshold > lag_max)
		lag_max = o->lag_threshold;
	if (o->max_consume_rate > rate_max)
		rate_max = o->max_consume_rate;
	if (o->max_replicas > rep_max && o->max_replicas <= rep_max * 1.6 + 2)
		rep_max = o->max_replicas;
	lag_top = nice_max(lag_max, &lag_step);
	if (age_max > 0)
		age_top = nice_max(age_max, &age_step);
	rate_top = nice_max(rate_max, &rate_step);
	rep_top = nice_max(rep_max < 4 ? 4 : rep_max, &rep_step);
	if (rep_step < 1) {
		rep_step = 1;
		rep_top = ceil(rep_top);
	}

	r = header(out, width, height, o);
	if (r)
		goto out;

	/* Panel 1: lag (left) and message age (right). */
	r = axes(out, &f, &pl[0], lag_top, lag_step, "lag (messages)", age_max > 0 ? age_top : 0,
		 age_step, age_max > 0 ? "message age (s)" : NULL, "Lag and message age");
	if (!r)
		r = polyline(out, &f, &pl[0], cols, n_cols, F_LAG, lag_top, COL_LAG, NULL, true);
	if (!r && age_max > 0)
		r = polyline(out, &f, &pl[0], cols, n_cols, F_AGE, age_top, COL_AGE, NULL, false);
	if (!r && o->lag_threshold > 0) {
		snprintf(buf, sizeof(buf), "lagThreshold %s", si(o->lag_threshold, buf + 40, 24));
		r = hline(out, &f, &pl[0], o->lag_threshold, lag_top, COL_AXIS, buf);
	}
	if (!r) {
		static const char *const c[] = {COL_LAG, COL_AGE};
		static const char *const d[] = {NULL, NULL};
		static const char *const l[] = {"lag", "age of oldest message"};

		r = legend(out, &f, &pl[0], age_max > 0 ? 2 : 1, c, d, l);
	}

	/* Panel 2: replicas. */
	if (!r)
		r = axes(out, &f, &pl[1], rep_top, rep_step, "replicas", 0, 0, NULL,
			 "Replicas (▲ scale up, ▼ scale down, shaded: lag reads failing)");
	if (!r)
		r = events(out, &f, &pl[1], s);
	if (!r)
		r = steps(out, &f, &pl[1], s, true, rep_top, COL_DES, "5 3");
	if (!r)
		r = steps(out, &f, &pl[1], s, false, rep_top, COL_CUR, NULL);
	if (!r && o->max_replicas > 0) {
		snprintf(buf, sizeof(buf), "maxReplicas %d", o->max_replicas);
		r = hline(out, &f, &pl[1], o->max_replicas, rep_top, COL_AXIS, buf);
	}
	if (!r) {
		static const char *const c[] = {COL_CUR, COL_DES};
		static const char *const d[] = {NULL, "5 3"};
		static const char *const l[] = {"current", "desired"};

		r = legend(out, &f, &pl[1], 2, c, d, l);
	}

	/* Panel 3: rates. */
	if (!r)
		r = axes(out, &f, &pl[2], rate_top, rate_step, "rate (msgs/s)", 0, 0, NULL,
			 "Produce and consume rate");
	if (!r)
		r = polyline(out, &f, &pl[2], cols, n_cols, F_PROD, rate_top, COL_PROD, NULL, false);
	if (!r)
		r = polyline(out, &f, &pl[2], cols, n_cols, F_CONS, rate_top, COL_CONS, NULL, false);
	if (!r && o->max_consume_rate > 0) {
		snprintf(buf, sizeof(buf), "maxConsumeRate %s/s",
			 si(o->max_consume_rate, buf + 40, 24));
		r = hline(out, &f, &pl[2], o->max_consume_rate, rate_top, COL_LIMIT, buf);
	}
	if (!r) {
		static const char *const c[] = {COL_PROD, COL_CONS};
		static const char *const d[] = {NULL, NULL};
		static const char *const l[] = {"produce", "consume"};

		r = legend(out, &f, &pl[2], 2, c, d, l);
	}
	if (r)
		goto out;

	r = time_axis(out, &f, &pl[N_PANELS - 1]);
out:
	free(cols);
	return r;
}

/* One colour per compared run. */
static const char *const compare_colors[] = {"#1f77b4", "#2ca02c", "#d62728", "#111111",
					     "#9467bd", "#ff7f0e", "#17becf", "#8c564b"};
#define COMPARE_MAX (sizeof(compare_colors) / sizeof(compare_colors[0]))

int ls_chart_compare_svg(const struct ls_series *series, const char *const *names, size_t n,
			 const struct ls_chart_options *o, struct ls_buf *out)
{
	static const struct ls_chart_options none = {0};
	static const char *const no_dash[COMPARE_MAX] = {NULL};
	struct frame f;
	struct panel pl[N_PANELS];
	struct col *cols[COMPARE_MAX] = {NULL};
	size_t n_cols[COMPARE_MAX] = {0}, max_cols;
	double lag_max = 0, rate_max = 0, rep_max = 0, t_max = 0;
	double lag_top, lag_step, rate_top, rate_step, rep_top, rep_step;
	int width, height, r = 0;
	char buf[64];

	if (!series || !names || !out || n == 0 || n > COMPARE_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (series[i].n == 0 || !names[i])
			return -EINVAL;
		if (series[i].pts[series[i].n - 1].t_s > t_max)
			t_max = series[i].pts[series[i].n - 1].t_s;
	}
	if (!o)
		o = &none;
	width = o->width > 0 ? o->width : 960;
	height = MT + N_PANELS * PANEL_H + (N_PANELS - 1) * PANEL_GAP + MB;
	layout(&f, pl, N_PANELS, width, t_max);
	max_cols = (size_t)(f.x1 - f.x0);
	if (max_cols < 2)
		max_cols = 2;
	for (size_t i = 0; i < n; i++) {
		r = reduce(&series[i], max_cols, &cols[i], &n_cols[i]);
		if (r < 0)
			goto out;
		for (size_t k = 0; k < series[i].n; k++) {
			const struct ls_series_point *p = &series[i].pts[k];

			if ((double)p->lag > lag_max)
				lag_max = (double)p->lag;
			if (p->current_replicas > rep_max)
				rep_max = p->current_replicas;
		}
	}
	for (size_t k = 0; k < n_cols[0]; k++)
		if (cols[0][k].prod > rate_max)
			rate_max = cols[0][k].prod;
	if (o->lag_threshold > lag_max)
		lag_max = o->lag_threshold;
	if (o->max_replicas > rep_max && o->max_replicas <= rep_max * 1.6 + 2)
		rep_max = o->max_replicas;
	lag_top = nice_max(lag_max, &lag_step);
	rate_top = nice_max(rate_max, &rate_step);
	rep_top = nice_max(rep_max < 4 ? 4 : rep_max, &rep_step);
	if (rep_step < 1) {
		rep_step = 1;
		rep_top = ceil(rep_top);
	}

	r = 0;
	r = header(out, width, height, o);
	if (r)
		goto out;

	/* Panel 1: the lag of every run. */
	r = axes(out, &f, &pl[0], lag_top, lag_step, "lag (messages)", 0, 0, NULL, "Lag");
	for (size_t i = 0; i < n && !r; i++)
		r = polyline(out, &f, &pl[0], cols[i], n_cols[i], F_LAG, lag_top, compare_colors[i],
			     NULL, false);
	if (!r && o->lag_threshold > 0) {
		snprintf(buf, sizeof(buf), "lagThreshold %s", si(o->lag_threshold, buf + 40, 24));
		r = hline(out, &f, &pl[0], o->lag_threshold, lag_top, COL_AXIS, buf);
	}
	if (!r)
		r = legend(out, &f, &pl[0], (int)n, compare_colors, no_dash, names);

	/* Panel 2: the replicas of every run. */
	if (!r)
		r = axes(out, &f, &pl[1], rep_top, rep_step, "replicas", 0, 0, NULL,
			 "Replicas (current)");
	for (size_t i = 0; i < n && !r; i++)
		r = steps(out, &f, &pl[1], &series[i], false, rep_top, compare_colors[i], NULL);
	if (!r && o->max_replicas > 0) {
		snprintf(buf, sizeof(buf), "maxReplicas %d", o->max_replicas);
		r = hline(out, &f, &pl[1], o->max_replicas, rep_top, COL_AXIS, buf);
	}
	if (!r)
		r = legend(out, &f, &pl[1], (int)n, compare_colors, no_dash, names);

	/* Panel 3: the produce rate they all faced. */
	if (!r)
		r = axes(out, &f, &pl[2], rate_top, rate_step, "rate (msgs/s)", 0, 0, NULL,
			 "Produce rate");
	if (!r)
		r = polyline(out, &f, &pl[2], cols[0], n_cols[0], F_PROD, rate_top, COL_PROD, NULL,
			     false);
	if (r)
		goto out;
	r = time_axis(out, &f, &pl[N_PANELS - 1]);
out:
	for (size_t i = 0; i < n; i++)
		free(cols[i]);
	return r;
}

/* Shaded spans: where shade[i] is non-zero, from t[i] to t[i + 1]. */
static int shade_spans(struct ls_buf *b, const struct frame *f, const struct panel *p,
		       const double *t, const double *shade, size_t n)
{
	int r = 0;

	for (size_t i = 0; i + 1 < n && r == 0; i++)
		if (shade[i] != 0)
			r = ls_buf_printf(b,
					  "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
					  "fill=\"%s\" fill-opacity=\"0.12\"/>\n",
					  xpix(f, t[i]), p->y0, xpix(f, t[i + 1]) - xpix(f, t[i]),
					  p->y1 - p->y0, COL_LIMIT);
	return r ? -ENOMEM : 0;
}

int ls_chart_lines_svg(const struct ls_chart_lines *c, const struct ls_chart_options *o,
		       struct ls_buf *out)
{
	static const struct ls_chart_options none = {0};
	const char *labels[LS_CHART_LINES_MAX + 1];
	const char *colors[LS_CHART_LINES_MAX + 1];
	const char *dashes[LS_CHART_LINES_MAX + 1] = {NULL};
	struct panel pl[LS_CHART_PANELS_MAX];
	struct frame f;
	int width, height, r = 0;

	if (!c || !out || !c->t || c->n == 0 || c->n_panels == 0 ||
	    c->n_panels > LS_CHART_PANELS_MAX)
		return -EINVAL;
	for (size_t i = 0; i < c->n_panels; i++) {
		if (!c->panels[i].title || !c->panels[i].unit || c->panels[i].n_lines == 0 ||
		    c->panels[i].n_lines > LS_CHART_LINES_MAX)
			return -EINVAL;
		for (size_t k = 0; k < c->panels[i].n_lines; k++)
			if (!c->panels[i].lines[k].label || !c->panels[i].lines[k].v)
				return -EINVAL;
	}
	if (!o)
		o = &none;
	width = o->width > 0 ? o->width : 960;
	height = MT + (int)c->n_panels * PANEL_H + ((int)c->n_panels - 1) * PANEL_GAP + MB;
	layout(&f, pl, (int)c->n_panels, width, c->t[c->n - 1]);
	r = header(out, width, height, o);
	for (size_t i = 0; i < c->n_panels && r == 0; i++) {
		const struct ls_chart_panel *p = &c->panels[i];
		double vmax = p->min_top, top, step;
		size_t nl = p->n_lines;

		for (size_t k = 0; k < nl; k++)
			for (size_t j = 0; j < c->n; j++)
				if (p->lines[k].v[j] > vmax)
					vmax = p->lines[k].v[j];
		top = nice_max(vmax, &step);
		r = axes(out, &f, &pl[i], top, step, p->unit, 0, 0, NULL, p->title);
		if (r == 0 && c->shade)
			r = shade_spans(out, &f, &pl[i], c->t, c->shade, c->n);
		for (size_t k = 0; k < nl && r == 0; k++) {
			r |= ls_buf_printf(out,
					   "<polyline fill=\"none\" stroke=\"%s\" "
					   "stroke-width=\"1.6\" points=\"",
					   compare_colors[k]);
			for (size_t j = 0; j < c->n && r == 0; j++)
				r |= ls_buf_printf(out, "%s%.1f,%.1f", j ? " " : "",
						   xpix(&f, c->t[j]), ypix(&pl[i], p->lines[k].v[j], top));
			r |= ls_buf_puts(out, "\"/>\n");
			labels[k] = p->lines[k].label;
			colors[k] = compare_colors[k];
		}
		if (r == 0 && c->shade && c->shade_label) {
			labels[nl] = c->shade_label;
			colors[nl] = COL_LIMIT;
			nl++;
		}
		if (r == 0)
			r = legend(out, &f, &pl[i], (int)nl, colors, dashes, labels);
		if (r)
			r = -ENOMEM;
	}
	if (r == 0)
		r = time_axis(out, &f, &pl[c->n_panels - 1]);
	return r;
}

int ls_chart_write_lines_svg(const struct ls_chart_lines *c, const struct ls_chart_options *o,
			     const char *path)
{
	struct ls_buf b;
	int r;

	ls_buf_init(&b, 0);
	r = ls_chart_lines_svg(c, o, &b);
	if (r == 0)
		r = ls_sim_write_file(path, ls_buf_str(&b), b.len);
	ls_buf_release(&b);
	return r;
}

int ls_chart_write_compare_svg(const struct ls_series *series, const char *const *names,
			       size_t n, const struct ls_chart_options *o, const char *path)
{
	struct ls_buf b;
	int r;

	ls_buf_init(&b, 0);
	r = ls_chart_compare_svg(series, names, n, o, &b);
	if (r == 0)
		r = ls_sim_write_file(path, ls_buf_str(&b), b.len);
	ls_buf_release(&b);
	return r;
}

int ls_chart_write_svg(const struct ls_series *s, const struct ls_chart_options *o,
		       const char *path)
{
	struct ls_buf b;
	int r;

	ls_buf_init(&b, 0);
	r = ls_chart_svg(s, o, &b);
	if (r == 0)
		r = ls_sim_write_file(path, ls_buf_str(&b), b.len);
	ls_buf_release(&b);
	return r;
}
