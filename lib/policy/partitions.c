/* partitions.c - partitions onto consumers, and the useful replica counts
 * (see partitions.h, DESIGN.md section 5). */
#include "policy/partitions.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Relative slack for comparing rates that went through sums of doubles. */
#define REL_EPS 1e-9

struct ls_partitions {
	enum ls_assignor assignor;
	size_t n_topics;
	int32_t *count; /* partitions per topic, as given */
	int32_t *first; /* global index of each topic's partition 0 */
	/* Topics with partitions, largest first: under range, consumer c owns
	 * partitions of topic t exactly when c < P_t, so a sweep over a
	 * consumer's topics stops at the first topic too small for it. */
	size_t *by_size;
	size_t n_nonempty;
	int32_t total;
	int32_t top;	 /* consumers that can own a partition: the top useful count */
	int32_t *useful; /* ascending */
	size_t n_useful;
};

/* What one consumer owns, summed. */
struct sums {
	int32_t partitions;
	int32_t lagging;
	double rate;
	int64_t lag;
};

struct assignor_name {
	const char *name;
	enum ls_assignor a;
};

static const struct assignor_name assignor_names[] = {
	{"range", LS_ASSIGNOR_RANGE},
	{"roundrobin", LS_ASSIGNOR_ROUNDROBIN},
	{"cooperative-sticky", LS_ASSIGNOR_COOPERATIVE_STICKY},
	/* The eager sticky assignor balances counts as cooperative-sticky
	 * does; KIP-848's server-side "uniform" assignor too. */
	{"sticky", LS_ASSIGNOR_COOPERATIVE_STICKY},
	{"uniform", LS_ASSIGNOR_COOPERATIVE_STICKY},
	{"org.apache.kafka.clients.consumer.RangeAssignor", LS_ASSIGNOR_RANGE},
	{"org.apache.kafka.clients.consumer.RoundRobinAssignor", LS_ASSIGNOR_ROUNDROBIN},
	{"org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
	 LS_ASSIGNOR_COOPERATIVE_STICKY},
	{"org.apache.kafka.clients.consumer.StickyAssignor", LS_ASSIGNOR_COOPERATIVE_STICKY},
};

int ls_partitions_assignor_parse(const char *s, enum ls_assignor *ret_assignor)
{
	if (!s || !ret_assignor)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(assignor_names) / sizeof(assignor_names[0]); i++) {
		if (strcmp(s, assignor_names[i].name) == 0) {
			*ret_assignor = assignor_names[i].a;
			return 0;
		}
	}
	return -EINVAL;
}

enum ls_assignor ls_partitions_assignor_of_group(const char *s)
{
	enum ls_assignor a = LS_ASSIGNOR_RANGE;

	(void)ls_partitions_assignor_parse(s, &a);
	return a;
}

const char *ls_partitions_assignor_name(enum ls_assignor a)
{
	switch (a) {
	case LS_ASSIGNOR_RANGE:
		return "range";
	case LS_ASSIGNOR_ROUNDROBIN:
		return "roundrobin";
	case LS_ASSIGNOR_COOPERATIVE_STICKY:
		return "cooperative-sticky";
	}
	return "unknown";
}

static bool valid_assignor(enum ls_assignor a)
{
	return a == LS_ASSIGNOR_RANGE || a == LS_ASSIGNOR_ROUNDROBIN ||
	       a == LS_ASSIGNOR_COOPERATIVE_STICKY;
}

/*
 * Sorts the topic indexes idx[0..n) by count, largest first, keeping the
 * given order among equal counts: a bottom-up merge sort, O(n log n), with
 * no state outside the call (qsort would need the counts in a global).
 */
static void sort_by_size(size_t *idx, size_t *tmp, size_t n, const int32_t *count)
{
	for (size_t width = 1; width < n; width *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * width) {
			size_t mid = lo + width < n ? lo + width : n;
			size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
			size_t i = lo, j = mid, k = lo;

			while (i < mid && j < hi)
				tmp[k++] = count[idx[j]] > count[idx[i]] ? idx[j++] : idx[i++];
			while (i < mid)
				tmp[k++] = idx[i++];
			while (j < hi)
				tmp[k++] = idx[j++];
		}
		memcpy(idx, tmp, n * sizeof(*idx));
	}
}

/* Marks ceil(n / k), k = 1..n: the counts at which one topic of n
 * partitions (or roundrobin over n) lowers its most loaded consumer. */
static void mark_useful(unsigned char *mark, int32_t n)
{
	for (int32_t k = 1; k <= n; k++)
		mark[(n + k - 1) / k] = 1;
}

int ls_partitions_new(const int32_t *counts, size_t n_topics, enum ls_assignor a,
		      struct ls_partitions **ret)
{
	struct ls_partitions *m = NULL;
	unsigned char *mark = NULL;
	size_t *tmp = NULL;
	int64_t total = 0;
	int32_t max_count = 0;
	int r = -ENOMEM;

	if (!counts || !ret || n_topics == 0 || n_topics > LS_PARTITIONS_MAX || !valid_assignor(a))
		return -EINVAL;
	for (size_t t = 0; t < n_topics; t++) {
		if (counts[t] < 0 || counts[t] > LS_PARTITIONS_MAX)
			return -EINVAL;
		total += counts[t];
		if (total > LS_PARTITIONS_MAX)
			return -EINVAL;
		if (counts[t] > max_count)
			max_count = counts[t];
	}
	if (total == 0)
		return -EINVAL;

	m = calloc(1, sizeof(*m));
	if (!m)
		goto out;
	m->assignor = a;
	m->n_topics = n_topics;
	m->total = (int32_t)total;
	m->top = a == LS_ASSIGNOR_RANGE ? max_count : m->total;
	m->count = malloc(n_topics * sizeof(*m->count));
	m->first = malloc(n_topics * sizeof(*m->first));
	m->by_size = malloc(n_topics * sizeof(*m->by_size));
	tmp = malloc(n_topics * sizeof(*tmp));
	mark = calloc((size_t)m->top + 1, 1);
	if (!m->count || !m->first || !m->by_size || !tmp || !mark)
		goto out;

	memcpy(m->count, counts, n_topics * sizeof(*m->count));
	total = 0;
	for (size_t t = 0; t < n_topics; t++) {
		m->first[t] = (int32_t)total;
		total += counts[t];
		if (counts[t] > 0)
			m->by_size[m->n_nonempty++] = t;
	}
	sort_by_size(m->by_size, tmp, m->n_nonempty, m->count);

	/* Under range the maximum load sum_t ceil(P_t / R) falls at R exactly
	 * when one of its terms falls, so the useful counts are the union of
	 * every topic's. Equal sizes are marked once. */
	if (a == LS_ASSIGNOR_RANGE) {
		for (size_t i = 0; i < m->n_nonempty; i++) {
			int32_t c = m->count[m->by_size[i]];

			if (i == 0 || c != m->count[m->by_size[i - 1]])
				mark_useful(mark, c);
		}
	} else {
		mark_useful(mark, m->total);
	}
	for (int32_t v = 1; v <= m->top; v++)
		m->n_useful += mark[v];
	m->useful = malloc(m->n_useful * sizeof(*m->useful));
	if (!m->useful)
		goto out;
	m->n_useful = 0;
	for (int32_t v = 1; v <= m->top; v++)
		if (mark[v])
			m->useful[m->n_useful++] = v;

	*ret = m;
	m = NULL;
	r = 0;
out:
	free(mark);
	free(tmp);
	ls_partitions_free(m);
	return r;
}

void ls_partitions_free(struct ls_partitions *m)
{
	if (!m)
		return;
	free(m->count);
	free(m->first);
	free(m->by_size);
	free(m->useful);
	free(m);
}

int32_t ls_partitions_total(const struct ls_partitions *m)
{
	return m ? m->total : 0;
}

enum ls_assignor ls_partitions_assignor(const struct ls_partitions *m)
{
	return m ? m->assignor : LS_ASSIGNOR_RANGE;
}

const int32_t *ls_partitions_useful(const struct ls_partitions *m, size_t *ret_n)
{
	if (ret_n)
		*ret_n = m ? m->n_useful : 0;
	return m ? m->useful : NULL;
}

static int32_t ceil_div(int32_t a, int32_t b)
{
	return a / b + (a % b != 0);
}

static int32_t max_load(const struct ls_partitions *m, int32_t r)
{
	int32_t load = 0;

	if (m->assignor != LS_ASSIGNOR_RANGE)
		return ceil_div(m->total, r);
	for (size_t i = 0; i < m->n_nonempty; i++)
		load += ceil_div(m->count[m->by_size[i]], r);
	return load;
}

int ls_partitions_max_load(const struct ls_partitions *m, int32_t r, int32_t *ret_load)
{
	if (!m || !ret_load || r < 1)
		return -EINVAL;
	*ret_load = max_load(m, r);
	return 0;
}

int ls_partitions_spread(const struct ls_partitions *m, int32_t r,
			 struct ls_partitions_spread *ret)
{
	struct ls_partitions_spread s;

	if (!m || !ret || r < 1)
		return -EINVAL;
	s.max_load = max_load(m, r);
	if (m->assignor != LS_ASSIGNOR_RANGE) {
		int32_t ex = m->total % r;

		/* ex consumers get one more (all of them when r > P). */
		s.at_max = ex ? ex : r;
	} else {
		/* Consumer c's load is sum_t (P_t / r + (c < P_t % r)): it equals
		 * consumer 0's while c is below every nonzero remainder. */
		int32_t min_ex = r;

		for (size_t i = 0; i < m->n_nonempty; i++) {
			int32_t ex = m->count[m->by_size[i]] % r;

			if (ex && ex < min_ex)
				min_ex = ex;
		}
		s.at_max = min_ex;
	}
	s.idle = r > m->top ? r - m->top : 0;
	*ret = s;
	return 0;
}

/* Index of the first useful count >= r, n_useful when there is none. */
static size_t lower_bound(const struct ls_partitions *m, int32_t r)
{
	size_t lo = 0, hi = m->n_useful;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->useful[mid] < r)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int ls_partitions_next_useful(const struct ls_partitions *m, int32_t r, int32_t *ret_replicas)
{
	size_t i;

	if (!m || !ret_replicas || r < 0)
		return -EINVAL;
	i = lower_bound(m, r);
	*ret_replicas = i < m->n_useful ? m->useful[i] : m->top;
	return 0;
}

int ls_partitions_prev_useful(const struct ls_partitions *m, int32_t r, int32_t *ret_replicas)
{
	size_t i;

	if (!m || !ret_replicas || r < 1)
		return -EINVAL;
	/* useful[0] is 1 <= r, so i >= 1 unless r itself is at index 0. */
	i = lower_bound(m, r);
	if (i < m->n_useful && m->useful[i] == r)
		*ret_replicas = r;
	else
		*ret_replicas = m->useful[i - 1];
	return 0;
}

bool ls_partitions_is_useful(const struct ls_partitions *m, int32_t r)
{
	size_t i;

	if (!m || r < 1)
		return false;
	i = lower_bound(m, r);
	return i < m->n_useful && m->useful[i] == r;
}

int ls_partitions_assign(const struct ls_partitions *m, int32_t r, int32_t *ret_owner, size_t n)
{
	if (!m || !ret_owner || r < 1 || n != (size_t)m->total)
		return -EINVAL;
	if (m->assignor != LS_ASSIGNOR_RANGE) {
		for (int32_t j = 0; j < m->total; j++)
			ret_owner[j] = j % r;
		return 0;
	}
	for (size_t t = 0; t < m->n_topics; t++) {
		int32_t p = m->count[t], fl = p / r, ex = p % r;

		/* The first ex consumers own fl + 1 partitions each (the first
		 * `big` partitions), the rest fl. */
		int32_t big = ex * (fl + 1);

		for (int32_t k = 0; k < p; k++)
			ret_owner[m->first[t] + k] = k < big ? k / (fl + 1) : ex + (k - big) / fl;
	}
	return 0;
}

/* p is at most LS_PARTITIONS_MAX, so i * i cannot overflow an int64. */
int ls_partitions_next_divisor(int32_t p, int32_t r, int32_t *ret)
{
	int32_t best = p;

	if (!ret || p < 1 || p > LS_PARTITIONS_MAX || r < 0)
		return -EINVAL;
	for (int64_t i = 1; i * i <= p; i++) {
		int32_t lo = (int32_t)i, hi = p / (int32_t)i;

		if (p % lo)
			continue;
		if (lo >= r && lo < best)
			best = lo;
		if (hi >= r && hi < best)
			best = hi;
	}
	*ret = best;
	return 0;
}

int ls_partitions_prev_divisor(int32_t p, int32_t r, int32_t *ret)
{
	int32_t best = 1;

	if (!ret || p < 1 || p > LS_PARTITIONS_MAX || r < 1)
		return -EINVAL;
	for (int64_t i = 1; i * i <= p; i++) {
		int32_t lo = (int32_t)i, hi = p / (int32_t)i;

		if (p % lo)
			continue;
		if (lo <= r && lo > best)
			best = lo;
		if (hi <= r && hi > best)
			best = hi;
	}
	*ret = best;
	return 0;
}

static int64_t add_sat(int64_t a, int64_t b)
{
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static void add_partition(struct sums *s, const double *rate, const int64_t *lag, int32_t j)
{
	s->partitions++;
	if (rate)
		s->rate += rate[j];
	if (lag && lag[j] > 0) {
		s->lagging++;
		s->lag = add_sat(s->lag, lag[j]);
	}
}

/* What consumer c of r owns. O(its partitions), plus under range O(the
 * topics it reads), so a sweep over all consumers is O(P). */
static void consumer_sums(const struct ls_partitions *m, int32_t r, int32_t c, const double *rate,
			  const int64_t *lag, struct sums *s)
{
	memset(s, 0, sizeof(*s));
	if (m->assignor != LS_ASSIGNOR_RANGE) {
		for (int32_t j = c; j < m->total; j += r)
			add_partition(s, rate, lag, j);
		return;
	}
	for (size_t i = 0; i < m->n_nonempty; i++) {
		size_t t = m->by_size[i];
		int32_t p = m->count[t], fl = p / r, ex = p % r;
		int32_t start, len;

		if (p <= c)
			break;
		start = m->first[t] + c * fl + (c < ex ? c : ex);
		len = fl + (c < ex);
		for (int32_t j = start; j < start + len; j++)
			add_partition(s, rate, lag, j);
	}
}

static bool finite_pos(double v)
{
	return isfinite(v) && v > 0;
}

static int check_inputs(const struct ls_partitions *m, const double *rate, const int64_t *lag,
			size_t n, double drain_time_s)
{
	if (!m || n != (size_t)m->total || !finite_pos(drain_time_s))
		return -EINVAL;
	for (size_t j = 0; rate && j < n; j++)
		if (!isfinite(rate[j]) || rate[j] < 0)
			return -EINVAL;
	for (size_t j = 0; lag && j < n; j++)
		if (lag[j] < 0)
			return -EINVAL;
	return 0;
}

/* a < b by more than rounding. */
static bool clearly_less(double a, double b)
{
	return a < b - REL_EPS * fmax(fabs(b), 1.0);
}

/*
 * The bottleneck of r consumers (inputs already checked); *ret_alone says
 * whether every consumer that owns a lagging partition owns nothing else.
 * Consumers past m->top own nothing and cannot be the bottleneck unless
 * every consumer has no work, and then consumer 0 is.
 */
static void sweep(const struct ls_partitions *m, int32_t r, const double *rate,
		  const int64_t *lag, double drain_time_s, struct ls_partitions_load *ret,
		  bool *ret_alone)
{
	int32_t busy = r < m->top ? r : m->top;
	bool alone = true;

	memset(ret, 0, sizeof(*ret));
	ret->work = -1;
	for (int32_t c = 0; c < busy; c++) {
		struct sums s;
		double work;

		consumer_sums(m, r, c, rate, lag, &s);
		if (s.lagging > 0 && s.partitions > 1)
			alone = false;
		work = s.rate + (double)s.lag / drain_time_s;
		if (work > ret->work) {
			ret->consumer = c;
			ret->partitions = s.partitions;
			ret->rate = s.rate;
			ret->lag = s.lag;
			ret->work = work;
		}
	}
	if (ret_alone)
		*ret_alone = alone;
}

int ls_partitions_bottleneck(const struct ls_partitions *m, int32_t r, const double *rate,
			     const int64_t *lag, size_t n, double drain_time_s,
			     struct ls_partitions_load *ret)
{
	if (!ret || r < 1 || check_inputs(m, rate, lag, n, drain_time_s) < 0)
		return -EINVAL;
	sweep(m, r, rate, lag, drain_time_s, ret, NULL);
	return 0;
}

int ls_partitions_fit(const struct ls_partitions *m, int32_t max_r, const double *rate,
		      const int64_t *lag, size_t n, double drain_time_s, double per_replica_rate,
		      struct ls_partitions_fit *ret)
{
	struct ls_partitions_fit best = {0};
	double limit;

	if (!ret || max_r < 1 || !finite_pos(per_replica_rate) ||
	    check_inputs(m, rate, lag, n, drain_time_s) < 0)
		return -EINVAL;
	limit = per_replica_rate * (1 + REL_EPS);
	/* useful[0] is 1 <= max_r: the loop runs at least once. */
	for (size_t i = 0; i < m->n_useful && m->useful[i] <= max_r; i++) {
		struct ls_partitions_load b;

		sweep(m, m->useful[i], rate, lag, drain_time_s, &b, NULL);
		if (b.work <= limit) {
			ret->replicas = m->useful[i];
			ret->carried = true;
			ret->bottleneck = b;
			return 0;
		}
		if (i == 0 || clearly_less(b.work, best.bottleneck.work)) {
			best.replicas = m->useful[i];
			best.bottleneck = b;
		}
	}
	best.carried = false;
	*ret = best;
	return 0;
}

int ls_partitions_hot(const struct ls_partitions *m, int32_t r, const double *rate,
		      const int64_t *lag, size_t n, double drain_time_s, double per_replica_rate,
		      struct ls_partitions_hot *ret)
{
	struct ls_partitions_hot h;
	size_t i;

	if (!ret || r < 1 || !finite_pos(per_replica_rate) ||
	    check_inputs(m, rate, lag, n, drain_time_s) < 0)
		return -EINVAL;
	memset(&h, 0, sizeof(h));
	for (size_t j = 0; j < n; j++) {
		if (rate && rate[j] > per_replica_rate * (1 + REL_EPS))
			h.hot++;
		if (lag && lag[j] > 0)
			h.lagging++;
	}
	sweep(m, r, rate, lag, drain_time_s, &h.at_r, &h.lagging_alone);
	i = lower_bound(m, r == INT32_MAX ? r : r + 1);
	if (i < m->n_useful) {
		h.next = m->useful[i];
		sweep(m, h.next, rate, lag, drain_time_s, &h.at_next, NULL);
		h.more_helps = clearly_less(h.at_next.work, h.at_r.work);
	} else {
		h.next = r;
		h.at_next = h.at_r;
		h.more_helps = false;
	}
	*ret = h;
	return 0;
}
