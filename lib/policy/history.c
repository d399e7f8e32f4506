/* history.c - the bounded history of one scaler (see policy-internal.h). */
#include "policy/policy-internal.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ls_policy_state *ls_policy_state_new(void)
{
	return calloc(1, sizeof(struct ls_policy_state));
}

void ls_policy_state_free(struct ls_policy_state *st)
{
	if (!st)
		return;
	free(st->recs);
	free(st->events);
	for (size_t i = 0; i < st->n_mem_topics; i++)
		free(st->mem_topics[i].name);
	free(st->mem_topics);
	free(st->mem_parts);
	free(st->produced);
	free(st->samples);
	free(st);
}

/* Grows *arr to hold at least need elements of size sz (doubling). */
static int reserve(void **arr, size_t *alloc, size_t need, size_t sz)
{
	size_t n;
	void *p;

	if (need <= *alloc)
		return 0;
	n = *alloc ? *alloc : 8;
	while (n < need)
		n *= 2;
	p = realloc(*arr, n * sz);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*alloc = n;
	return 0;
}

/* Halves *arr while it holds n <= a quarter of it (never below 8), so that
 * a burst of entries does not keep its memory once the window has passed. */
static void shrink(void **arr, size_t *alloc, size_t n, size_t sz)
{
	size_t a = *alloc;
	void *p;

	while (a > 8 && n <= a / 4)
		a /= 2;
	if (a == *alloc)
		return;
	p = realloc(*arr, a * sz);
	if (!p)
		return; /* the larger block still serves */
	*arr = p;
	*alloc = a;
}

/* Sizes *arr to exactly need elements (at least 1) when it is too small or
 * more than twice too large: for arrays whose size stays the same from
 * round to round. */
static int fit(void **arr, size_t *alloc, size_t need, size_t sz)
{
	void *p;

	if (need == 0)
		need = 1;
	if (need <= *alloc && need > *alloc / 2)
		return 0;
	p = realloc(*arr, need * sz);
	if (!p)
		return need <= *alloc ? 0 : -ENOMEM;
	*arr = p;
	*alloc = need;
	return 0;
}

int ls_policy_produced_add(struct ls_policy_state *st, int64_t t_ms, double rate,
			   int64_t window_ms)
{
	size_t keep = 0;
	int r;

	for (size_t i = 0; i < st->n_produced; i++)
		if (st->produced[i].t_ms > t_ms - window_ms)
			st->produced[keep++] = st->produced[i];
	/* Only peaks are asked for (ls_policy_produced_peak, over a window
	 * that ends now): a sample with a later one at least as high never
	 * decides one, as the later one stays in every window it is in. So
	 * the samples kept fall in rate from oldest to newest, and a steady
	 * rate keeps a few instead of a window's worth. */
	while (keep > 0 && st->produced[keep - 1].rate <= rate)
		keep--;
	st->n_produced = keep;
	shrink((void **)&st->produced, &st->alloc_produced, st->n_produced,
	       sizeof(*st->produced));
	r = reserve((void **)&st->produced, &st->alloc_produced, st->n_produced + 1,
		    sizeof(*st->produced));
	if (r < 0)
		return r;
	st->produced[st->n_produced++] = (struct ls_produce_sample){t_ms, rate};
	return 0;
}

double ls_policy_produced_peak(const struct ls_policy_state *st, int64_t since_ms)
{
	double peak = -1;

	for (size_t i = 0; i < st->n_produced; i++)
		if (st->produced[i].t_ms > since_ms && st->produced[i].rate > peak)
			peak = st->produced[i].rate;
	return peak;
}

int ls_policy_rec_add(struct ls_policy_state *st, int64_t t_ms, int32_t replicas)
{
	int r;

	/* Recommendations are only asked for their lowest and highest over a
	 * window that ends now: of a run of equal ones, the newest is in
	 * every window any of them is in, so it alone stands for the run. A
	 * steady scaler then keeps one entry instead of a window's worth. */
	if (st->n_recs && st->recs[st->n_recs - 1].replicas == replicas &&
	    st->recs[st->n_recs - 1].t_ms <= t_ms) {
		st->recs[st->n_recs - 1].t_ms = t_ms;
		return 0;
	}
	r = reserve((void **)&st->recs, &st->alloc_recs, st->n_recs + 1, sizeof(*st->recs));
	if (r < 0)
		return r;
	st->recs[st->n_recs++] = (struct ls_rec){t_ms, replicas};
	return 0;
}

void ls_policy_applied(struct ls_policy_state *st, int64_t now_ms, int32_t from, int32_t to)
{
	if (!st || from == to || from < 0 || to < 0)
		return;
	/* A failed allocation loses one event: the next period then allows a
	 * little more change than it should, which is better than failing the
	 * caller after the replicas were already set. */
	if (reserve((void **)&st->events, &st->alloc_events, st->n_events + 1, sizeof(*st->events)) <
	    0)
		return;
	st->events[st->n_events++] = (struct ls_scale_event){now_ms, to - from};
}

static int64_t longest_period(const struct ls_scaling_rules *r)
{
	int64_t m = 0;

	for (size_t i = 0; i < r->n_policies && i < LS_POLICY_MAX_RATE_POLICIES; i++)
		if (r->policies[i].period_ms > m)
			m = r->policies[i].period_ms;
	return m;
}

void ls_policy_prune(struct ls_policy_state *st, const struct ls_policy_params *p, int64_t now_ms)
{
	int64_t win = p->scale_up.stabilization_window_ms;
	int64_t per = longest_period(&p->scale_up);
	size_t k = 0;

	if (p->scale_down.stabilization_window_ms > win)
		win = p->scale_down.stabilization_window_ms;
	if (longest_period(&p->scale_down) > per)
		per = longest_period(&p->scale_down);

	/* An entry counts while its time is after now - window (the HPA's
	 * rec.timestamp.After(cutoff)), so one at or before the cutoff of the
	 * longest window never counts again. */
	while (k < st->n_recs && st->recs[k].t_ms <= now_ms - win)
		k++;
	if (k) {
		memmove(st->recs, st->recs + k, (st->n_recs - k) * sizeof(*st->recs));
		st->n_recs -= k;
		shrink((void **)&st->recs, &st->alloc_recs, st->n_recs, sizeof(*st->recs));
	}
	k = 0;
	while (k < st->n_events && st->events[k].t_ms <= now_ms - per)
		k++;
	if (k) {
		memmove(st->events, st->events + k, (st->n_events - k) * sizeof(*st->events));
		st->n_events -= k;
		shrink((void **)&st->events, &st->alloc_events, st->n_events, sizeof(*st->events));
	}
	while (st->n_samples &&
	       st->samples[st->first_sample].t_ms <= now_ms - LS_RATE_WINDOW_MS) {
		st->first_sample = (st->first_sample + 1) % st->alloc_samples;
		st->n_samples--;
	}
}

int32_t ls_policy_change_in_period(const struct ls_policy_state *st, int64_t now_ms,
				   int64_t period_ms, bool up)
{
	int64_t sum = 0;

	for (size_t i = 0; i < st->n_events; i++) {
		const struct ls_scale_event *e = &st->events[i];

		if (e->t_ms <= now_ms - period_ms || e->t_ms > now_ms)
			continue;
		if (up && e->change > 0)
			sum += e->change;
		else if (!up && e->change < 0)
			sum -= e->change;
	}
	return sum > INT32_MAX ? INT32_MAX : (int32_t)sum;
}

static int64_t period_start(const struct ls_policy_state *st, int64_t now_ms, int64_t period_ms,
			    int32_t current)
{
	return (int64_t)current - ls_policy_change_in_period(st, now_ms, period_ms, true) +
	       ls_policy_change_in_period(st, now_ms, period_ms, false);
}

static int32_t clamp32(int64_t v)
{
	if (v > INT32_MAX)
		return INT32_MAX;
	if (v < INT32_MIN)
		return INT32_MIN;
	return (int32_t)v;
}

int32_t ls_policy_scale_up_limit(const struct ls_policy_state *st, const struct ls_scaling_rules *r,
				 int64_t now_ms, int32_t current, int *ret_policy)
{
	bool min_sel = r->select == LS_SELECT_MIN;
	int64_t result = min_sel ? INT64_MAX : INT64_MIN;
	int which = -1;

	if (r->select == LS_SELECT_DISABLED || r->n_policies == 0) {
		*ret_policy = -1;
		return current;
	}
	for (size_t i = 0; i < r->n_policies; i++) {
		const struct ls_rate_policy *pol = &r->policies[i];
		int64_t start = period_start(st, now_ms, pol->period_ms, current);
		int64_t proposed;

		if (pol->type == LS_RATE_PODS)
			proposed = start + pol->value;
		else
			/* Rounded up, as in the HPA, so that a small replica
			 * count can always grow. */
			proposed = (int64_t)ceil((double)start * (1.0 + pol->value / 100.0));
		if ((min_sel && proposed < result) || (!min_sel && proposed > result)) {
			result = proposed;
			which = (int)i;
		}
	}
	*ret_policy = which;
	return clamp32(result);
}

int32_t ls_policy_scale_down_limit(const struct ls_policy_state *st,
				   const struct ls_scaling_rules *r, int64_t now_ms, int32_t current,
				   int *ret_policy)
{
	bool min_sel = r->select == LS_SELECT_MIN;
	int64_t result = min_sel ? INT64_MIN : INT64_MAX;
	int which = -1;

	if (r->select == LS_SELECT_DISABLED || r->n_policies == 0) {
		*ret_policy = -1;
		return current;
	}
	for (size_t i = 0; i < r->n_policies; i++) {
		const struct ls_rate_policy *pol = &r->policies[i];
		int64_t start = period_start(st, now_ms, pol->period_ms, current);
		int64_t proposed;

		if (pol->type == LS_RATE_PODS)
			proposed = start - pol->value;
		else
			/* Truncated, as in the HPA: the removal rounds up. */
			proposed = (int64_t)((double)start * (1.0 - pol->value / 100.0));
		/* For scaling down the "Max" policy is the one that allows the
		 * biggest change, i.e. the lowest replica count. */
		if ((min_sel && proposed > result) || (!min_sel && proposed < result)) {
			result = proposed;
			which = (int)i;
		}
	}
	*ret_policy = which;
	return clamp32(result);
}

static int cmp_mem_topic(const void *key, const void *elem)
{
	return strcmp(key, ((const struct ls_mem_topic *)elem)->name);
}

static int cmp_mem_part(const void *key, const void *elem)
{
	int32_t k = *(const int32_t *)key, p = ((const struct ls_mem_part *)elem)->partition;

	return (k > p) - (k < p);
}

const struct ls_mem_part *ls_policy_mem_find(const struct ls_policy_state *st, const char *topic,
					     int32_t partition)
{
	const struct ls_mem_topic *t;

	if (!st->have_mem || !st->n_mem_topics || !topic)
		return NULL;
	t = bsearch(topic, st->mem_topics, st->n_mem_topics, sizeof(*st->mem_topics),
		    cmp_mem_topic);
	if (!t || !t->n)
		return NULL;
	return bsearch(&partition, st->mem_parts + t->first, t->n, sizeof(*st->mem_parts),
		       cmp_mem_part);
}

static bool mem_lookup(const void *ctx, const char *topic, int32_t partition, int64_t *end,
		       int64_t *committed)
{
	const struct ls_mem_part *p = ls_policy_mem_find(ctx, topic, partition);

	if (!p)
		return false;
	*end = p->end;
	*committed = p->committed;
	return true;
}

void ls_policy_snapshot_rates(const struct ls_policy_state *st, struct ls_lag_snapshot *snap)
{
	if (!st || !st->have_mem) {
		snap->produce_rate = -1;
		snap->consume_rate = -1;
		return;
	}
	ls_lag_snapshot_rates_from(snap, st->mem_time_ms, mem_lookup, st);
}

int ls_policy_mem_store(struct ls_policy_state *st, const struct ls_lag_snapshot *s,
			int64_t scaling_lag)
{
	size_t nparts = 0, k = 0;
	int r;

	for (size_t t = 0; t < s->n_topics; t++)
		nparts += s->topics[t].n_parts;
	r = fit((void **)&st->mem_parts, &st->alloc_mem_parts, nparts, sizeof(*st->mem_parts));
	if (r < 0)
		goto fail;
	/* Topic names are kept across rounds while they stay the same, so a
	 * steady scaler does not allocate here at all. */
	if (st->n_mem_topics != s->n_topics) {
		for (size_t i = 0; i < st->n_mem_topics; i++)
			free(st->mem_topics[i].name);
		st->n_mem_topics = 0;
		r = fit((void **)&st->mem_topics, &st->alloc_mem_topics, s->n_topics,
			sizeof(*st->mem_topics));
		if (r < 0)
			goto fail;
		memset(st->mem_topics, 0, s->n_topics * sizeof(*st->mem_topics));
		st->n_mem_topics = s->n_topics;
	}
	for (size_t t = 0; t < s->n_topics; t++) {
		struct ls_mem_topic *mt = &st->mem_topics[t];
		const struct ls_topic_offsets *to = &s->topics[t];

		if (!mt->name || !to->topic || strcmp(mt->name, to->topic) != 0) {
			free(mt->name);
			mt->name = to->topic ? strdup(to->topic) : strdup("");
			if (!mt->name) {
				r = -ENOMEM;
				goto fail;
			}
		}
		mt->first = k;
		mt->n = to->n_parts;
		for (size_t i = 0; i < to->n_parts; i++)
			st->mem_parts[k++] = (struct ls_mem_part){
				to->parts[i].partition, to->parts[i].committed, to->parts[i].end};
	}
	st->n_mem_parts = k;
	st->have_mem = true;
	st->mem_time_ms = s->time_ms;
	st->mem_scaling_lag = scaling_lag;
	return 0;
fail:
	/* Forget the memory rather than keep a half-updated one. */
	st->have_mem = false;
	return r;
}

void ls_policy_sample_add(struct ls_policy_state *st, int64_t t_ms, double per_replica,
			  bool saturated)
{
	size_t idx;

	if (st->n_samples == st->alloc_samples && st->alloc_samples < LS_RATE_MAX_SAMPLES) {
		size_t n = st->alloc_samples ? 2 * st->alloc_samples : 8;
		struct ls_rate_sample *grown;

		if (n > LS_RATE_MAX_SAMPLES)
			n = LS_RATE_MAX_SAMPLES;
		grown = malloc(n * sizeof(*grown));
		if (grown) {
			/* Unrolled oldest first: the ring starts at 0 again. */
			for (size_t i = 0; i < st->n_samples; i++)
				grown[i] = st->samples[(st->first_sample + i) % st->alloc_samples];
			free(st->samples);
			st->samples = grown;
			st->alloc_samples = n;
			st->first_sample = 0;
		}
	}
	if (!st->alloc_samples)
		return;
	if (st->n_samples == st->alloc_samples) {
		st->first_sample = (st->first_sample + 1) % st->alloc_samples;
		st->n_samples--;
	}
	idx = (st->first_sample + st->n_samples) % st->alloc_samples;
	st->samples[idx] = (struct ls_rate_sample){t_ms, per_replica, saturated};
	st->n_samples++;
}
