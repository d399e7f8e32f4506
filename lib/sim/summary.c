/* summary.c - see summary.h. */
#include "sim/summary.h"

#include <errno.h>
#include <string.h>

int ls_series_summarize(const struct ls_series *s, double lag_threshold,
			struct ls_series_summary *ret)
{
	struct ls_series_summary x;
	double peak_t, drain_t = -1;

	if (!s || !ret || s->n == 0)
		return -EINVAL;
	memset(&x, 0, sizeof(x));
	x.peak_lag = s->pts[0].lag;
	peak_t = s->pts[0].t_s;
	for (size_t i = 0; i < s->n; i++) {
		const struct ls_series_point *p = &s->pts[i];

		if (p->lag > x.peak_lag) {
			x.peak_lag = p->lag;
			peak_t = p->t_s;
			drain_t = -1;
		}
		if (drain_t < 0 && p->t_s > peak_t && (double)p->lag < lag_threshold)
			drain_t = p->t_s;
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
	if ((double)x.peak_lag < lag_threshold) {
		x.drained = true;
	} else {
		x.drained = drain_t >= 0;
		x.drain_seconds = (drain_t >= 0 ? drain_t : s->pts[s->n - 1].t_s) - peak_t;
	}
	*ret = x;
	return 0;
}
