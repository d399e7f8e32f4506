/* summary.c - see summary.h. */
#include "sim/summary.h"

#include <errno.h>
#include <string.h>

void ls_drain_init(struct ls_drain *d, double lag_threshold)
{
	*d = (struct ls_drain){lag_threshold, -1, -1, -1, -1};
}

void ls_drain_see(struct ls_drain *d, double t_s, int64_t lag)
{
	bool above = (double)lag >= d->thr;

	if (above && d->ep_start < 0)
		d->ep_start = t_s;
	if (above && lag > d->peak) {
		/* A new peak: its episode is the one that counts. */
		d->peak = lag;
		d->up = d->ep_start;
		d->down = -1;
	}
	if (!above && d->ep_start >= 0) {
		if (d->up == d->ep_start && d->down < 0)
			d->down = t_s;
		d->ep_start = -1;
	}
}

double ls_drain_seconds(const struct ls_drain *d, double t_end_s, bool *ret_drained)
{
	*ret_drained = d->up < 0 || d->down >= 0;
	if (d->up < 0)
		return 0;
	return (d->down >= 0 ? d->down : t_end_s) - d->up;
}

int ls_series_summarize(const struct ls_series *s, double lag_threshold,
			struct ls_series_summary *ret)
{
	struct ls_series_summary x;
	struct ls_drain dr;

	if (!s || !ret || s->n == 0)
		return -EINVAL;
	memset(&x, 0, sizeof(x));
	ls_drain_init(&dr, lag_threshold);
	x.peak_lag = s->pts[0].lag;
	for (size_t i = 0; i < s->n; i++) {
		const struct ls_series_point *p = &s->pts[i];

		if (p->lag > x.peak_lag)
			x.peak_lag = p->lag;
		ls_drain_see(&dr, p->t_s, p->lag);
		if (i > 0)
			x.lag_message_seconds += ((double)s->pts[i - 1].lag + (double)p->lag) / 2.0 *
						 (p->t_s - s->pts[i - 1].t_s);
		if (p->lag_seconds > x.peak_lag_seconds)
			x.peak_lag_seconds = p->lag_seconds;
		if (p->current_replicas > x.max_replicas)
			x.max_replicas = p->current_replicas;
		if (p->consume_rate > x.peak_consume_rate)
			x.peak_consume_rate = p->consume_rate;
		if (i + 1 < s->n)
			x.replica_seconds += p->current_replicas * (s->pts[i + 1].t_s - p->t_s);
		if (i > 0 && p->current_replicas != s->pts[i - 1].current_replicas)
			x.scale_events++;
	}
	x.drain_seconds = ls_drain_seconds(&dr, s->pts[s->n - 1].t_s, &x.drained);
	*ret = x;
	return 0;
}
