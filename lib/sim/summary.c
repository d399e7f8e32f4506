/* summary.c - see summary.h. */
#include "sim/summary.h"

#include <errno.h>
#include <string.h>

int ls_series_summarize(const struct ls_series *s, double lag_threshold,
			struct ls_series_summary *ret)
{
	struct ls_series_summary x;
	double up_t = -1, down_t = -1;

	if (!s || !ret || s->n == 0)
		return -EINVAL;
	memset(&x, 0, sizeof(x));
	x.peak_lag = s->pts[0].lag;
	for (size_t i = 0; i < s->n; i++) {
		const struct ls_series_point *p = &s->pts[i];

		if (p->lag > x.peak_lag)
			x.peak_lag = p->lag;
		if (up_t < 0 && (double)p->lag >= lag_threshold)
			up_t = p->t_s;
		else if (up_t >= 0 && down_t < 0 && (double)p->lag < lag_threshold)
			down_t = p->t_s;
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
	if (up_t < 0) {
		x.drained = true;
	} else {
		x.drained = down_t >= 0;
		x.drain_seconds = (down_t >= 0 ? down_t : s->pts[s->n - 1].t_s) - up_t;
	}
	*ret = x;
	return 0;
}
