/* age.c - see age.h. */
#include "sim/age.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void ls_age_tracker_init(struct ls_age_tracker *a)
{
	memset(a, 0, sizeof(*a));
}

void ls_age_tracker_release(struct ls_age_tracker *a)
{
	free(a->r);
	ls_age_tracker_init(a);
}

int ls_age_tracker_add(struct ls_age_tracker *a, int64_t t_ms, double produced)
{
	if (a->n) {
		const struct ls_age_record *last = &a->r[a->n - 1];

		if (t_ms < last->t_ms)
			t_ms = last->t_ms;
		if (!(produced >= last->produced))
			produced = last->produced;
	}
	/* Records nobody can ask about any more go before growing. */
	if (a->n == a->alloc && a->first > 0) {
		memmove(a->r, a->r + a->first, (a->n - a->first) * sizeof(*a->r));
		a->n -= a->first;
		a->first = 0;
	}
	if (a->n == a->alloc) {
		size_t n = a->alloc ? a->alloc * 2 : 1024;
		struct ls_age_record *q = realloc(a->r, n * sizeof(*q));

		if (!q)
			return -ENOMEM;
		a->r = q;
		a->alloc = n;
	}
	a->r[a->n++] = (struct ls_age_record){t_ms, produced};
	return 0;
}

double ls_age_tracker_age(struct ls_age_tracker *a, int64_t now_ms, double consumed)
{
	double x = floor(consumed), tp;
	size_t i;

	if (a->n == 0 || x >= floor(a->r[a->n - 1].produced))
		return 0;
	/* The message at position x appeared when the cumulative count first
	 * went past x: between records i and i + 1 with r[i] <= x < r[i+1]. */
	while (a->first + 1 < a->n && a->r[a->first + 1].produced <= x)
		a->first++;
	i = a->first;
	if (a->r[i].produced > x) {
		tp = (double)a->r[i].t_ms;
	} else {
		const struct ls_age_record *p = &a->r[i], *q = &a->r[i + 1];

		tp = (double)p->t_ms + (x - p->produced) / (q->produced - p->produced) *
					       (double)(q->t_ms - p->t_ms);
	}
	return (double)now_ms > tp ? ((double)now_ms - tp) / 1000.0 : 0;
}
