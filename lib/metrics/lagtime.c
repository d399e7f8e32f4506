/* lagtime.c - see lagtime.h. */
#include "metrics/lagtime.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define N LS_METRICS_LAGTIME_SAMPLES

void ls_metrics_lagtime_init(struct ls_metrics_lagtime *lt)
{
	lt->head = 0;
	lt->n = 0;
}

/* The index of the k-th oldest sample. */
static unsigned at(const struct ls_metrics_lagtime *lt, unsigned k)
{
	return (lt->head + k) % N;
}

void ls_metrics_lagtime_add(struct ls_metrics_lagtime *lt, int64_t time_ms, int64_t end)
{
	unsigned i;

	if (end < 0)
		return;
	if (lt->n) {
		unsigned newest = at(lt, lt->n - 1);

		if (time_ms <= lt->time_ms[newest])
			return;
		if (end < lt->end[newest]) {
			ls_metrics_lagtime_init(lt);
		} else if (end == lt->end[newest] && lt->n >= 2 &&
		           lt->end[at(lt, lt->n - 2)] == end) {
			/* The middle of a run of equal offsets tells nothing:
			 * move the run's last sample forward instead. */
			lt->time_ms[newest] = time_ms;
			return;
		}
	}
	if (lt->n == N) {
		lt->head = (lt->head + 1) % N;
		lt->n--;
	}
	i = at(lt, lt->n);
	lt->time_ms[i] = time_ms;
	lt->end[i] = end;
	lt->n++;
}

double ls_metrics_lagtime_estimate(const struct ls_metrics_lagtime *lt, int64_t now_ms,
                                   int64_t committed)
{
	unsigned oldest, newest;
	double produced; /* when the end offset was `committed`, in ms */
	double wait;

	if (lt->n == 0)
		return 0;
	oldest = at(lt, 0);
	newest = at(lt, lt->n - 1);
	if (committed >= lt->end[newest])
		return 0;
	if (committed >= lt->end[oldest]) {
		/* The newest sample at or below committed, and the one after it
		 * (which is above: committed < the newest end). */
		unsigned k = lt->n - 1;

		while (lt->end[at(lt, k)] > committed)
			k--;
		unsigned a = at(lt, k), b = at(lt, k + 1);
		double frac = (double)(committed - lt->end[a]) / (double)(lt->end[b] - lt->end[a]);

		produced =
		    (double)lt->time_ms[a] + frac * (double)(lt->time_ms[b] - lt->time_ms[a]);
	} else {
		/* Older than the ring: extrapolate with the production rate
		 * over the whole ring; with none, the oldest sample is the
		 * best lower bound there is. */
		produced = (double)lt->time_ms[oldest];
		if (lt->end[newest] > lt->end[oldest]) {
			double rate = (double)(lt->end[newest] - lt->end[oldest]) /
			              (double)(lt->time_ms[newest] - lt->time_ms[oldest]);

			produced -= (double)(lt->end[oldest] - committed) / rate;
		}
	}
	wait = ((double)now_ms - produced) / 1000.0;
	return wait > 0 ? wait : 0;
}

struct lt_topic {
	char *name;
	size_t n;
	int32_t *ids; /* ascending, like the snapshot's */
	struct ls_metrics_lagtime *rings;
};

struct ls_metrics_lagtime_table {
	struct lt_topic *topics;
	size_t n_topics;
	size_t n_parts;
};

int ls_metrics_lagtime_table_new(struct ls_metrics_lagtime_table **ret)
{
	struct ls_metrics_lagtime_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	*ret = t;
	return 0;
}

static void topics_free(struct lt_topic *ts, size_t n)
{
	for (size_t i = 0; ts && i < n; i++) {
		free(ts[i].name);
		free(ts[i].ids);
		free(ts[i].rings);
	}
	free(ts);
}

void ls_metrics_lagtime_table_free(struct ls_metrics_lagtime_table *t)
{
	if (!t)
		return;
	topics_free(t->topics, t->n_topics);
	free(t);
}

size_t ls_metrics_lagtime_table_size(const struct ls_metrics_lagtime_table *t)
{
	return t ? t->n_parts : 0;
}

/* True when the table tracks exactly snap's partitions, in snap's order. */
static bool same_layout(const struct ls_metrics_lagtime_table *t,
                        const struct ls_lag_snapshot *snap)
{
	if (t->n_topics != snap->n_topics)
		return false;
	for (size_t i = 0; i < snap->n_topics; i++) {
		const struct ls_topic_offsets *st = &snap->topics[i];
		const struct lt_topic *tt = &t->topics[i];

		if (tt->n != st->n_parts || strcmp(tt->name, st->topic) != 0)
			return false;
		for (size_t j = 0; j < st->n_parts; j++)
			if (tt->ids[j] != st->parts[j].partition)
				return false;
	}
	return true;
}

/* Builds the table for snap's partitions, carrying the rings over. */
static int relayout(struct ls_metrics_lagtime_table *t, const struct ls_lag_snapshot *snap)
{
	struct lt_topic *ts = calloc(snap->n_topics + 1, sizeof(*ts));
	size_t n_parts = 0;

	if (!ts)
		return -ENOMEM;
	for (size_t i = 0; i < snap->n_topics; i++) {
		const struct ls_topic_offsets *st = &snap->topics[i];
		const struct lt_topic *old = NULL;
		size_t k = 0;

		for (size_t j = 0; j < t->n_topics && !old; j++)
			if (strcmp(t->topics[j].name, st->topic) == 0)
				old = &t->topics[j];
		ts[i].name = strdup(st->topic);
		ts[i].ids = calloc(st->n_parts + 1, sizeof(*ts[i].ids));
		ts[i].rings = calloc(st->n_parts + 1, sizeof(*ts[i].rings));
		if (!ts[i].name || !ts[i].ids || !ts[i].rings) {
			topics_free(ts, i + 1);
			return -ENOMEM;
		}
		ts[i].n = st->n_parts;
		for (size_t j = 0; j < st->n_parts; j++) {
			int32_t id = st->parts[j].partition;

			ts[i].ids[j] = id;
			/* Both id lists ascend: one pass finds the matches. */
			while (old && k < old->n && old->ids[k] < id)
				k++;
			if (old && k < old->n && old->ids[k] == id)
				ts[i].rings[j] = old->rings[k];
			else
				ls_metrics_lagtime_init(&ts[i].rings[j]);
		}
		n_parts += st->n_parts;
	}
	topics_free(t->topics, t->n_topics);
	t->topics = ts;
	t->n_topics = snap->n_topics;
	t->n_parts = n_parts;
	return 0;
}

int ls_metrics_lagtime_table_update(struct ls_metrics_lagtime_table *t,
                                    const struct ls_lag_snapshot *snap, double *ret_max_seconds)
{
	double max = 0;
	int r;

	if (!t || !snap || snap->err || !ret_max_seconds)
		return -EINVAL;
	if (!same_layout(t, snap)) {
		r = relayout(t, snap);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < snap->n_topics; i++) {
		const struct ls_topic_offsets *st = &snap->topics[i];

		for (size_t j = 0; j < st->n_parts; j++) {
			const struct ls_partition_offsets *p = &st->parts[j];
			struct ls_metrics_lagtime *lt = &t->topics[i].rings[j];
			int64_t from = p->committed;
			double s;

			ls_metrics_lagtime_add(lt, snap->time_ms, p->end);
			if (from < 0)
				from = p->log_start;
			if (from < 0 || p->lag == 0)
				continue;
			s = ls_metrics_lagtime_estimate(lt, snap->time_ms, from);
			if (s > max)
				max = s;
		}
	}
	*ret_max_seconds = max;
	return 0;
}
