/* lagtime.c - see lagtime.h. */
#include "metrics/lagtime.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define N LS_METRICS_LAGTIME_SAMPLES

void ls_metrics_lagtime_init(struct ls_metrics_lagtime *lt)
{
	memset(lt, 0, sizeof(*lt));
	lt->cap = LS_METRICS_LAGTIME_INLINE;
}

void ls_metrics_lagtime_release(struct ls_metrics_lagtime *lt)
{
	if (lt->cap > LS_METRICS_LAGTIME_INLINE)
		free(lt->u.heap);
	ls_metrics_lagtime_init(lt);
}

/* The slots, writable. */
static struct ls_metrics_lagtime_sample *slots(struct ls_metrics_lagtime *lt)
{
	return (struct ls_metrics_lagtime_sample *)ls_metrics_lagtime_slots(lt);
}

/* The index of the k-th oldest sample. */
static unsigned at(const struct ls_metrics_lagtime *lt, unsigned k)
{
	return (lt->head + k) % lt->cap;
}

/* Moves the samples into cap slots (>= n), oldest first: in the ring
 * itself when cap <= LS_METRICS_LAGTIME_INLINE. 0 or -ENOMEM. */
static int resize(struct ls_metrics_lagtime *lt, unsigned cap)
{
	struct ls_metrics_lagtime_sample tmp[N], *to = tmp;
	const struct ls_metrics_lagtime_sample *from = ls_metrics_lagtime_slots(lt);

	if (cap > LS_METRICS_LAGTIME_INLINE) {
		to = malloc(cap * sizeof(*to));
		if (!to)
			return -ENOMEM;
	}
	for (unsigned k = 0; k < lt->n; k++)
		to[k] = from[at(lt, k)];
	if (lt->cap > LS_METRICS_LAGTIME_INLINE)
		free(lt->u.heap);
	if (cap > LS_METRICS_LAGTIME_INLINE)
		lt->u.heap = to;
	else
		memcpy(lt->u.in, tmp, lt->n * sizeof(*tmp));
	lt->cap = (uint8_t)cap;
	lt->head = 0;
	return 0;
}

int ls_metrics_lagtime_add(struct ls_metrics_lagtime *lt, int64_t time_ms, int64_t end)
{
	if (end < 0)
		return 0;
	if (lt->n) {
		struct ls_metrics_lagtime_sample *newest = &slots(lt)[at(lt, lt->n - 1u)];

		if (time_ms <= newest->time_ms)
			return 0;
		if (end < newest->end) {
			lt->n = 0;
			lt->head = 0;
		} else if (end == newest->end && lt->n >= 2 &&
		           slots(lt)[at(lt, lt->n - 2u)].end == end) {
			/* The middle of a run of equal offsets tells nothing:
			 * move the run's last sample forward instead. */
			newest->time_ms = time_ms;
			return 0;
		}
	}
	if (lt->n == lt->cap) {
		if (lt->cap < N) {
			unsigned cap = 2u * lt->cap;

			if (resize(lt, cap < N ? cap : N) < 0)
				return -ENOMEM;
		} else {
			lt->head = (uint8_t)((lt->head + 1u) % lt->cap);
			lt->n--;
		}
	}
	slots(lt)[at(lt, lt->n)] = (struct ls_metrics_lagtime_sample){time_ms, end};
	lt->n++;
	return 0;
}

void ls_metrics_lagtime_forget(struct ls_metrics_lagtime *lt, int64_t committed)
{
	while (lt->n >= 2 && ls_metrics_lagtime_slots(lt)[at(lt, 1)].end <= committed) {
		lt->head = (uint8_t)((lt->head + 1u) % lt->cap);
		lt->n--;
	}
	/* Mostly empty: give the memory back (a failure keeps the ring). */
	if (lt->cap > LS_METRICS_LAGTIME_INLINE && lt->n <= lt->cap / 4u)
		(void)resize(lt, lt->cap / 2u);
}

double ls_metrics_lagtime_estimate(const struct ls_metrics_lagtime *lt, int64_t now_ms,
                                   int64_t committed)
{
	const struct ls_metrics_lagtime_sample *s = ls_metrics_lagtime_slots(lt);
	unsigned oldest, newest;
	double produced; /* when the end offset was `committed`, in ms */
	double wait;

	if (lt->n == 0)
		return 0;
	oldest = at(lt, 0);
	newest = at(lt, lt->n - 1);
	if (committed >= s[newest].end)
		return 0;
	if (committed >= s[oldest].end) {
		/* The newest sample at or below committed, and the one after it
		 * (which is above: committed < the newest end). */
		unsigned k = lt->n - 1;

		while (s[at(lt, k)].end > committed)
			k--;
		const struct ls_metrics_lagtime_sample *a = &s[at(lt, k)], *b = &s[at(lt, k + 1)];
		double frac = (double)(committed - a->end) / (double)(b->end - a->end);

		produced = (double)a->time_ms + frac * (double)(b->time_ms - a->time_ms);
	} else {
		/* Older than the ring: extrapolate with the production rate
		 * over the whole ring; with none, the oldest sample is the
		 * best lower bound there is. */
		const struct ls_metrics_lagtime_sample *o = &s[oldest], *w = &s[newest];

		produced = (double)o->time_ms;
		if (w->end > o->end) {
			double rate = (double)(w->end - o->end) / (double)(w->time_ms - o->time_ms);

			produced -= (double)(o->end - committed) / rate;
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
		for (size_t j = 0; ts[i].rings && j < ts[i].n; j++)
			ls_metrics_lagtime_release(&ts[i].rings[j]);
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
		struct lt_topic *old = NULL;
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
			if (old && k < old->n && old->ids[k] == id) {
				ts[i].rings[j] = old->rings[k];
				ls_metrics_lagtime_init(&old->rings[k]); /* moved */
			} else
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
			int64_t from = p->committed >= 0 ? p->committed : p->log_start;
			double s;

			/* Forgetting first is exact (a new sample can only make
			 * more forgettable) and keeps the ring in its own two
			 * slots while the consumer is less than a poll behind. */
			if (from >= 0)
				ls_metrics_lagtime_forget(lt, from);
			(void)ls_metrics_lagtime_add(lt, snap->time_ms, p->end);
			if (from < 0)
				continue;
			if (p->lag > 0) {
				s = ls_metrics_lagtime_estimate(lt, snap->time_ms, from);
				if (s > max)
					max = s;
			}
			ls_metrics_lagtime_forget(lt, from);
		}
	}
	*ret_max_seconds = max;
	return 0;
}
