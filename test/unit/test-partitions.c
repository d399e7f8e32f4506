/* test-partitions.c - partitions onto consumers and the useful replica counts
 * (DESIGN.md section 5 "Partitions", issue 10), checked against brute force
 * and against cases computed by hand. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/partitions.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct ls_partitions *model(const int32_t *counts, size_t n, enum ls_assignor a)
{
	struct ls_partitions *m = NULL;

	ck_assert_int_eq(ls_partitions_new(counts, n, a, &m), 0);
	ck_assert_ptr_nonnull(m);
	return m;
}

static struct ls_partitions *one_topic(int32_t p, enum ls_assignor a)
{
	return model(&p, 1, a);
}

static void assert_useful(const struct ls_partitions *m, const int32_t *want, size_t n_want)
{
	size_t n;
	const int32_t *u = ls_partitions_useful(m, &n);

	ck_assert_uint_eq(n, n_want);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(u[i], want[i]);
}

static int32_t next_useful(const struct ls_partitions *m, int32_t r)
{
	int32_t v = -1;

	ck_assert_int_eq(ls_partitions_next_useful(m, r, &v), 0);
	return v;
}

static int32_t prev_useful(const struct ls_partitions *m, int32_t r)
{
	int32_t v = -1;

	ck_assert_int_eq(ls_partitions_prev_useful(m, r, &v), 0);
	return v;
}

static int32_t next_divisor(int32_t p, int32_t r)
{
	int32_t v = -1;

	ck_assert_int_eq(ls_partitions_next_divisor(p, r, &v), 0);
	return v;
}

static int32_t prev_divisor(int32_t p, int32_t r)
{
	int32_t v = -1;

	ck_assert_int_eq(ls_partitions_prev_divisor(p, r, &v), 0);
	return v;
}

/*
 * The assignment built as Kafka's assignors build it, without the module's
 * arithmetic: RangeAssignor's per-topic loop (numPartitionsPerConsumer,
 * consumersWithExtraPartition) and RoundRobinAssignor's circular deal over
 * the sorted partition list. owner[j] gets partition j's consumer (owner
 * may be NULL), load[c] the partitions consumer c owns.
 */
static void brute_assign(const int32_t *counts, size_t n, enum ls_assignor a, int32_t r,
			 int32_t *owner, int32_t *load)
{
	int32_t base = 0, c = 0;

	memset(load, 0, (size_t)r * sizeof(*load));
	for (size_t t = 0; t < n; t++) {
		if (a == LS_ASSIGNOR_RANGE) {
			int32_t per = counts[t] / r, extra = counts[t] % r;

			for (int32_t i = 0; i < r; i++) {
				int32_t start = per * i + (i < extra ? i : extra);
				int32_t len = per + (i + 1 > extra ? 0 : 1);

				for (int32_t k = 0; owner && k < len; k++)
					owner[base + start + k] = i;
				load[i] += len;
			}
		} else {
			for (int32_t k = 0; k < counts[t]; k++) {
				if (owner)
					owner[base + k] = c;
				load[c]++;
				if (++c == r)
					c = 0;
			}
		}
		base += counts[t];
	}
}

struct brute_spread {
	int32_t max_load, at_max, idle;
};

static struct brute_spread brute_spread(const int32_t *load, int32_t r)
{
	struct brute_spread s = {0, 0, 0};

	for (int32_t c = 0; c < r; c++)
		if (load[c] > s.max_load)
			s.max_load = load[c];
	for (int32_t c = 0; c < r; c++) {
		s.at_max += load[c] == s.max_load;
		s.idle += load[c] == 0;
	}
	return s;
}

/*
 * Everything the module says about counts, against brute force: for every
 * R from 1 to P + 2 the actual assignment is built, its maximum load taken,
 * and R is useful when R = 1 or the maximum load at R - 1 is higher. With
 * compare_assignment, ls_partitions_assign() must give that assignment too.
 */
static void check_against_brute(const int32_t *counts, size_t n, enum ls_assignor a,
				bool compare_assignment)
{
	struct ls_partitions *m = model(counts, n, a);
	int32_t total = 0, hi, n_brute = 0;
	int32_t *owner, *mine, *load, *brute_useful, *brute_max;
	size_t n_useful;
	const int32_t *useful;

	for (size_t t = 0; t < n; t++)
		total += counts[t];
	ck_assert_int_eq(ls_partitions_total(m), total);
	ck_assert_int_eq(ls_partitions_assignor(m), a);
	hi = total + 2;
	owner = malloc((size_t)total * sizeof(*owner));
	mine = malloc((size_t)total * sizeof(*mine));
	load = malloc((size_t)(hi + 1) * sizeof(*load));
	brute_useful = malloc((size_t)(hi + 1) * sizeof(*brute_useful));
	brute_max = malloc((size_t)(hi + 1) * sizeof(*brute_max));
	ck_assert(owner && mine && load && brute_useful && brute_max);

	for (int32_t r = 1; r <= hi; r++) {
		struct brute_spread b;
		struct ls_partitions_spread s;
		int32_t ml = -1;

		brute_assign(counts, n, a, r, compare_assignment ? owner : NULL, load);
		b = brute_spread(load, r);
		brute_max[r] = b.max_load;
		if (r == 1 || brute_max[r - 1] > brute_max[r])
			brute_useful[n_brute++] = r;

		if (ls_partitions_max_load(m, r, &ml) != 0 || ls_partitions_spread(m, r, &s) != 0)
			ck_abort_msg("max_load or spread failed at r=%d", r);
		if (ml != b.max_load || s.max_load != b.max_load || s.at_max != b.at_max ||
		    s.idle != b.idle)
			ck_abort_msg("%s P=%d r=%d: max %d/%d at_max %d/%d idle %d/%d",
				     ls_partitions_assignor_name(a), total, r, ml, b.max_load,
				     s.at_max, b.at_max, s.idle, b.idle);
		if (!compare_assignment)
			continue;
		if (ls_partitions_assign(m, r, mine, (size_t)total) != 0 ||
		    memcmp(mine, owner, (size_t)total * sizeof(*owner)) != 0)
			ck_abort_msg("%s P=%d r=%d: assignment differs",
				     ls_partitions_assignor_name(a), total, r);
	}

	useful = ls_partitions_useful(m, &n_useful);
	if (n_useful != (size_t)n_brute || memcmp(useful, brute_useful, n_useful * sizeof(*useful)))
		ck_abort_msg("%s P=%d: %zu useful counts, brute force %d",
			     ls_partitions_assignor_name(a), total, n_useful, n_brute);

	/* The brute-force answers, by walking the useful list once. */
	for (int32_t r = 0, i = 0; r <= hi; r++) {
		int32_t want_next, want_prev, got_next = -1, got_prev = -1;

		while (i < n_brute && brute_useful[i] < r)
			i++;
		want_next = i < n_brute ? brute_useful[i] : brute_useful[n_brute - 1];
		if (i < n_brute && brute_useful[i] == r)
			want_prev = r;
		else
			want_prev = i > 0 ? brute_useful[i - 1] : 0;
		if (ls_partitions_next_useful(m, r, &got_next) != 0 || got_next != want_next)
			ck_abort_msg("%s P=%d next_useful(%d) = %d, want %d",
				     ls_partitions_assignor_name(a), total, r, got_next, want_next);
		if (r >= 1 &&
		    (ls_partitions_prev_useful(m, r, &got_prev) != 0 || got_prev != want_prev))
			ck_abort_msg("%s P=%d prev_useful(%d) = %d, want %d",
				     ls_partitions_assignor_name(a), total, r, got_prev, want_prev);
		if (r >= 1 && ls_partitions_is_useful(m, r) != (want_prev == r))
			ck_abort_msg("%s P=%d is_useful(%d)", ls_partitions_assignor_name(a),
				     total, r);
	}

	free(owner);
	free(mine);
	free(load);
	free(brute_useful);
	free(brute_max);
	ls_partitions_free(m);
}

static const enum ls_assignor assignors[] = {LS_ASSIGNOR_RANGE, LS_ASSIGNOR_ROUNDROBIN,
					     LS_ASSIGNOR_COOPERATIVE_STICKY};

/* P = 1..1,000, one topic, each assignor: ten blocks of 100 per assignor
 * (_i / 10 the assignor, _i % 10 the block), so that no test runs long.
 * ls_partitions_assign() is compared at every R up to P = 400 and then on
 * every 25th P: all of them would double the time under the sanitizers. */
START_TEST(test_partitions_useful_counts_brute_force_one_topic)
{
	enum ls_assignor a = assignors[_i / 10];

	for (int32_t p = (_i % 10) * 100 + 1; p <= (_i % 10) * 100 + 100; p++)
		check_against_brute(&p, 1, a, p <= 400 || p % 25 == 0);
}
END_TEST

static const struct {
	int32_t counts[8];
	size_t n;
} shapes[] = {
	{{7, 5, 12}, 3},
	{{1, 1, 1, 1}, 4},
	{{3, 0, 3}, 3},
	{{10, 1}, 2},
	{{2, 3, 5, 7, 11}, 5},
	{{24}, 1},
	{{100, 1, 1, 1}, 4},
	{{6, 6, 6, 6}, 4},
	{{0, 0, 9}, 3},
	{{48, 24, 12, 6, 3}, 5},
	{{1, 60}, 2},
	{{13, 17, 19, 23}, 4},
};

/* Several topics: range (each topic on its own) and the balanced models. */
START_TEST(test_partitions_useful_counts_brute_force_topics)
{
	uint32_t seed = 12345;

	for (size_t i = 0; i < N(shapes); i++)
		for (size_t k = 0; k < N(assignors); k++)
			check_against_brute(shapes[i].counts, shapes[i].n, assignors[k], true);
	/* And 200 shapes drawn at random: 1 to 6 topics of 0 to 60. */
	for (int i = 0; i < 200; i++) {
		int32_t counts[6];
		size_t n;
		int32_t total = 0;

		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 16) % 6;
		for (size_t t = 0; t < n; t++) {
			seed = seed * 1103515245u + 12345u;
			counts[t] = (int32_t)((seed >> 16) % 61);
			total += counts[t];
		}
		if (total == 0)
			counts[0] = 1;
		for (size_t k = 0; k < N(assignors); k++)
			check_against_brute(counts, n, assignors[k], true);
	}
}
END_TEST

/* 7, 5 and 12 partitions (24 in all), computed by hand. */
START_TEST(test_partitions_range_differs_from_roundrobin)
{
	static const int32_t counts[] = {7, 5, 12};
	/* range: ceil(7/k) = 1 2 3 4 7, ceil(5/k) = 1 2 3 5, ceil(12/k) =
	 * 1 2 3 4 6 12; their union. */
	static const int32_t want_range[] = {1, 2, 3, 4, 5, 6, 7, 12};
	/* roundrobin over all 24 together: ceil(24/k). */
	static const int32_t want_rr[] = {1, 2, 3, 4, 5, 6, 8, 12, 24};
	struct ls_partitions *range = model(counts, 3, LS_ASSIGNOR_RANGE);
	struct ls_partitions *rr = model(counts, 3, LS_ASSIGNOR_ROUNDROBIN);
	struct ls_partitions_spread s;
	int32_t ml;

	assert_useful(range, want_range, N(want_range));
	assert_useful(rr, want_rr, N(want_rr));
	/* At 8, range: topics 7 and 5 have fewer partitions than consumers, so
	 * consumers 0..6 get one of 7 and 0..4 one of 5; 12 = 8 + 4 extra, so
	 * consumers 0..3 get two of 12. Consumers 0..3 own 1 + 1 + 2 = 4, where
	 * roundrobin gives nobody more than ceil(24 / 8) = 3. */
	ck_assert_int_eq(ls_partitions_spread(range, 8, &s), 0);
	ck_assert_int_eq(s.max_load, 4);
	ck_assert_int_eq(s.at_max, 4);
	ck_assert_int_eq(s.idle, 0);
	ck_assert_int_eq(ls_partitions_max_load(rr, 8, &ml), 0);
	ck_assert_int_eq(ml, 3);
	/* At 12 and above, range still loads consumer 0 with one partition of
	 * each topic: 3, and 24 consumers gain nothing over 12. */
	ck_assert_int_eq(ls_partitions_max_load(range, 12, &ml), 0);
	ck_assert_int_eq(ml, 3);
	ck_assert_int_eq(ls_partitions_max_load(range, 24, &ml), 0);
	ck_assert_int_eq(ml, 3);
	ck_assert_int_eq(next_useful(range, 13), 12);
	ck_assert_int_eq(next_useful(rr, 13), 24);
	ck_assert_int_eq(ls_partitions_spread(range, 20, &s), 0);
	ck_assert_int_eq(s.idle, 8);
	ls_partitions_free(range);
	ls_partitions_free(rr);
}
END_TEST

/* The issue's examples. */
START_TEST(test_partitions_issue_examples)
{
	static const int32_t want24[] = {1, 2, 3, 4, 5, 6, 8, 12, 24};
	static const int32_t want12[] = {1, 2, 3, 4, 6, 12};

	for (size_t k = 0; k < N(assignors); k++) {
		struct ls_partitions *m24 = one_topic(24, assignors[k]);
		struct ls_partitions *m12 = one_topic(12, assignors[k]);
		struct ls_partitions_spread s;

		assert_useful(m24, want24, N(want24));
		ck_assert_int_eq(next_useful(m24, 20), 24);
		ck_assert_int_eq(prev_useful(m24, 20), 12);
		ck_assert_int_eq(next_useful(m24, 22), 24);
		ck_assert_int_eq(prev_useful(m24, 22), 12);
		ck_assert_int_eq(next_useful(m24, 24), 24);
		ck_assert_int_eq(next_useful(m24, 100), 24);
		ck_assert_int_eq(prev_useful(m24, 100), 24);
		ck_assert_int_eq(next_useful(m24, 0), 1);
		ck_assert(!ls_partitions_is_useful(m24, 22));
		ck_assert(ls_partitions_is_useful(m24, 8));
		/* 22 consumers: 2 of them own 2 partitions, as 12 would. */
		ck_assert_int_eq(ls_partitions_spread(m24, 22, &s), 0);
		ck_assert_int_eq(s.max_load, 2);
		ck_assert_int_eq(s.at_max, 2);
		ck_assert_int_eq(s.idle, 0);
		ck_assert_int_eq(ls_partitions_spread(m24, 30, &s), 0);
		ck_assert_int_eq(s.max_load, 1);
		ck_assert_int_eq(s.at_max, 24);
		ck_assert_int_eq(s.idle, 6);

		assert_useful(m12, want12, N(want12));
		ck_assert_int_eq(next_useful(m12, 5), 6);
		ck_assert_int_eq(next_useful(m12, 7), 12);
		ck_assert_int_eq(next_useful(m12, 10), 12);
		ck_assert_int_eq(prev_useful(m12, 5), 4);
		ck_assert_int_eq(prev_useful(m12, 10), 6);
		ls_partitions_free(m24);
		ls_partitions_free(m12);
	}
}
END_TEST

/* KEDA's ensureEvenDistributionOfPartitions: divisors of P. */
START_TEST(test_partitions_divisors)
{
	ck_assert_int_eq(next_divisor(24, 5), 6);
	ck_assert_int_eq(next_divisor(24, 7), 8);
	ck_assert_int_eq(next_divisor(24, 9), 12);
	ck_assert_int_eq(next_divisor(24, 13), 24);
	ck_assert_int_eq(next_divisor(24, 24), 24);
	ck_assert_int_eq(next_divisor(24, 25), 24);
	ck_assert_int_eq(next_divisor(24, 0), 1);
	ck_assert_int_eq(next_divisor(24, 1), 1);
	/* Useful counts are more than divisors: 5 is useful on 24, no divisor. */
	ck_assert_int_eq(next_divisor(24, 5), 6);
	ck_assert_int_eq(prev_divisor(24, 20), 12);
	ck_assert_int_eq(prev_divisor(24, 5), 4);
	ck_assert_int_eq(prev_divisor(24, 100), 24);
	/* A prime: 1 or all of them. */
	ck_assert_int_eq(next_divisor(13, 2), 13);
	ck_assert_int_eq(next_divisor(13, 1), 1);
	ck_assert_int_eq(prev_divisor(13, 12), 1);
	ck_assert_int_eq(next_divisor(1, 5), 1);
	ck_assert_int_eq(next_divisor(LS_PARTITIONS_MAX, 3), 4);
	ck_assert_int_eq(next_divisor(999983, 2), 999983); /* prime */
	/* Against brute force: every divisor of p by trial, then each r. */
	for (int32_t p = 1; p <= 2000; p++) {
		int32_t divs[64];
		int n = 0;

		for (int32_t d = 1; d <= p; d++)
			if (p % d == 0)
				divs[n++] = d;
		for (int32_t r = 0; r <= p + 1; r++) {
			int32_t want_next = p, want_prev = 1;

			for (int i = n - 1; i >= 0; i--)
				if (divs[i] >= r)
					want_next = divs[i];
			for (int i = 0; i < n; i++)
				if (divs[i] <= r)
					want_prev = divs[i];
			int32_t got_next = -1, got_prev = -1;

			if (ls_partitions_next_divisor(p, r, &got_next) != 0 ||
			    got_next != want_next)
				ck_abort_msg("next_divisor(%d, %d) = %d", p, r, got_next);
			if (r >= 1 && (ls_partitions_prev_divisor(p, r, &got_prev) != 0 ||
				       got_prev != want_prev))
				ck_abort_msg("prev_divisor(%d, %d) = %d", p, r, got_prev);
		}
	}
}
END_TEST

START_TEST(test_partitions_assignor_names)
{
	static const struct {
		const char *s;
		enum ls_assignor a;
	} rows[] = {
		{"range", LS_ASSIGNOR_RANGE},
		{"roundrobin", LS_ASSIGNOR_ROUNDROBIN},
		{"cooperative-sticky", LS_ASSIGNOR_COOPERATIVE_STICKY},
		{"sticky", LS_ASSIGNOR_COOPERATIVE_STICKY},
		{"uniform", LS_ASSIGNOR_COOPERATIVE_STICKY},
		{"org.apache.kafka.clients.consumer.RangeAssignor", LS_ASSIGNOR_RANGE},
		{"org.apache.kafka.clients.consumer.RoundRobinAssignor", LS_ASSIGNOR_ROUNDROBIN},
		{"org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
		 LS_ASSIGNOR_COOPERATIVE_STICKY},
		{"org.apache.kafka.clients.consumer.StickyAssignor",
		 LS_ASSIGNOR_COOPERATIVE_STICKY},
	};
	static const char *bad[] = {"", "Range", " range", "range ", "range,roundrobin",
				    "round-robin", "RangeAssignor", "cooperative_sticky"};
	enum ls_assignor a;

	for (size_t i = 0; i < N(rows); i++) {
		a = (enum ls_assignor)99;
		ck_assert_int_eq(ls_partitions_assignor_parse(rows[i].s, &a), 0);
		ck_assert_int_eq(a, rows[i].a);
		ck_assert_int_eq(ls_partitions_assignor_of_group(rows[i].s), rows[i].a);
	}
	for (size_t i = 0; i < N(bad); i++) {
		a = LS_ASSIGNOR_ROUNDROBIN;
		ck_assert_int_eq(ls_partitions_assignor_parse(bad[i], &a), -EINVAL);
		ck_assert_int_eq(a, LS_ASSIGNOR_ROUNDROBIN);
		ck_assert_int_eq(ls_partitions_assignor_of_group(bad[i]), LS_ASSIGNOR_RANGE);
	}
	a = LS_ASSIGNOR_ROUNDROBIN;
	ck_assert_int_eq(ls_partitions_assignor_parse(NULL, &a), -EINVAL);
	ck_assert_int_eq(a, LS_ASSIGNOR_ROUNDROBIN);
	ck_assert_int_eq(ls_partitions_assignor_parse("range", NULL), -EINVAL);
	ck_assert_int_eq(ls_partitions_assignor_of_group(NULL), LS_ASSIGNOR_RANGE);
	ck_assert_str_eq(ls_partitions_assignor_name(LS_ASSIGNOR_RANGE), "range");
	ck_assert_str_eq(ls_partitions_assignor_name(LS_ASSIGNOR_ROUNDROBIN), "roundrobin");
	ck_assert_str_eq(ls_partitions_assignor_name(LS_ASSIGNOR_COOPERATIVE_STICKY),
			 "cooperative-sticky");
	ck_assert_str_eq(ls_partitions_assignor_name((enum ls_assignor)42), "unknown");
	/* Every name reads back. */
	for (size_t k = 0; k < N(assignors); k++) {
		ck_assert_int_eq(
			ls_partitions_assignor_parse(ls_partitions_assignor_name(assignors[k]), &a),
			0);
		ck_assert_int_eq(a, assignors[k]);
	}
}
END_TEST

/*
 * DESIGN.md section 7's partitionWeights {"0": 6, "1-3": 2}: 12 partitions,
 * weight 20 in all; at 100 msgs/s per unit of weight partition 0 gets 600,
 * partitions 1..3 200 each, 4..11 100 each (2,000 msgs/s).
 */
static const double weighted[12] = {600, 200, 200, 200, 100, 100,
				    100, 100, 100, 100, 100, 100};

START_TEST(test_partitions_bottleneck_skewed)
{
	struct ls_partitions *range = one_topic(12, LS_ASSIGNOR_RANGE);
	struct ls_partitions *rr = one_topic(12, LS_ASSIGNOR_ROUNDROBIN);
	struct ls_partitions *cs = one_topic(12, LS_ASSIGNOR_COOPERATIVE_STICKY);
	struct ls_partitions_load b;
	int64_t lag[12] = {0};

	/* 4 consumers. range, contiguous chunks of 3: consumer 0 owns 0 1 2,
	 * 600 + 200 + 200 = 1,000. roundrobin: consumer 0 owns 0 4 8, 600 +
	 * 100 + 100 = 800; consumers 1..3 own 400 each. */
	ck_assert_int_eq(ls_partitions_bottleneck(range, 4, weighted, NULL, 12, 120, &b), 0);
	ck_assert_int_eq(b.consumer, 0);
	ck_assert_int_eq(b.partitions, 3);
	ck_assert_double_eq_tol(b.rate, 1000, 1e-9);
	ck_assert_int_eq(b.lag, 0);
	ck_assert_double_eq_tol(b.work, 1000, 1e-9);
	ck_assert_int_eq(ls_partitions_bottleneck(rr, 4, weighted, NULL, 12, 120, &b), 0);
	ck_assert_int_eq(b.consumer, 0);
	ck_assert_int_eq(b.partitions, 3);
	ck_assert_double_eq_tol(b.work, 800, 1e-9);
	/* cooperative-sticky is modelled as roundrobin. */
	ck_assert_int_eq(ls_partitions_bottleneck(cs, 4, weighted, NULL, 12, 120, &b), 0);
	ck_assert_double_eq_tol(b.work, 800, 1e-9);

	/* A backlog of 36,000 on partition 7, to drain in 120 s: 300 msgs/s
	 * more for its owner. range at 4: consumer 2 owns 6 7 8, 300 + 300 =
	 * 600 < 1,000, so consumer 0 stays the bottleneck. roundrobin at 4:
	 * consumer 3 owns 3 7 11, 400 + 300 = 700 < 800: consumer 0 again. At
	 * 6 roundrobin: consumer 1 owns 1 and 7, 200 + 100 + 300 = 600; consumer
	 * 0 owns 0 and 6, 700: consumer 0. With 72,000 instead: consumer 1
	 * needs 200 + 100 + 600 = 900 > 700, and is the bottleneck. */
	lag[7] = 36000;
	ck_assert_int_eq(ls_partitions_bottleneck(range, 4, weighted, lag, 12, 120, &b), 0);
	ck_assert_int_eq(b.consumer, 0);
	ck_assert_double_eq_tol(b.work, 1000, 1e-9);
	ck_assert_int_eq(ls_partitions_bottleneck(rr, 6, weighted, lag, 12, 120, &b), 0);
	ck_assert_int_eq(b.consumer, 0);
	ck_assert_double_eq_tol(b.work, 700, 1e-9);
	lag[7] = 72000;
	ck_assert_int_eq(ls_partitions_bottleneck(rr, 6, weighted, lag, 12, 120, &b), 0);
	ck_assert_int_eq(b.consumer, 1);
	ck_assert_int_eq(b.partitions, 2);
	ck_assert_double_eq_tol(b.rate, 300, 1e-9);
	ck_assert_int_eq(b.lag, 72000);
	ck_assert_double_eq_tol(b.work, 900, 1e-9);

	ls_partitions_free(range);
	ls_partitions_free(rr);
	ls_partitions_free(cs);
}
END_TEST

/* Two topics of 4, topic A's partition 0 hot: rates A = 600 100 100 100,
 * B = 100 100 100 100 (global order A0..A3 B0..B3). */
START_TEST(test_partitions_bottleneck_range_stacks_topics)
{
	static const int32_t counts[] = {4, 4};
	static const double rate[] = {600, 100, 100, 100, 100, 100, 100, 100};
	struct ls_partitions *range = model(counts, 2, LS_ASSIGNOR_RANGE);
	struct ls_partitions *rr = model(counts, 2, LS_ASSIGNOR_ROUNDROBIN);
	struct ls_partitions_load b;

	/* 3 consumers. range: each topic 4 = 3 + 1 extra, so consumer 0 owns
	 * A0 A1 and B0 B1: 600 + 100 + 100 + 100 = 900, 4 partitions.
	 * roundrobin deals A0 A1 A2 A3 B0 B1 B2 B3 to 0 1 2 0 1 2 0 1:
	 * consumer 0 owns A0 A3 B2, 800, 3 partitions. */
	ck_assert_int_eq(ls_partitions_bottleneck(range, 3, rate, NULL, 8, 60, &b), 0);
	ck_assert_int_eq(b.consumer, 0);
	ck_assert_int_eq(b.partitions, 4);
	ck_assert_double_eq_tol(b.work, 900, 1e-9);
	ck_assert_int_eq(ls_partitions_bottleneck(rr, 3, rate, NULL, 8, 60, &b), 0);
	ck_assert_int_eq(b.consumer, 0);
	ck_assert_int_eq(b.partitions, 3);
	ck_assert_double_eq_tol(b.work, 800, 1e-9);
	/* 8 consumers: range gives consumer 0 A0 and B0 (700) and leaves 4
	 * idle; roundrobin gives everyone one partition (600). */
	ck_assert_int_eq(ls_partitions_bottleneck(range, 8, rate, NULL, 8, 60, &b), 0);
	ck_assert_int_eq(b.partitions, 2);
	ck_assert_double_eq_tol(b.work, 700, 1e-9);
	ck_assert_int_eq(ls_partitions_bottleneck(rr, 8, rate, NULL, 8, 60, &b), 0);
	ck_assert_int_eq(b.partitions, 1);
	ck_assert_double_eq_tol(b.work, 600, 1e-9);
	ls_partitions_free(range);
	ls_partitions_free(rr);
}
END_TEST

/* Rate mode on the weighted partitions at 700 msgs/s per replica, no
 * backlog. range (useful 1 2 3 4 6 12): at 6 consumer 0 owns 0 and 1, 800 >
 * 700; only 12 carries partition 0 (600) alone. roundrobin: at 4 consumer 0
 * has 800; at 6 it owns 0 and 6, 700 <= 700: 6 carries. */
START_TEST(test_partitions_fit_skewed)
{
	struct ls_partitions *range = one_topic(12, LS_ASSIGNOR_RANGE);
	struct ls_partitions *rr = one_topic(12, LS_ASSIGNOR_ROUNDROBIN);
	struct ls_partitions_fit f;

	ck_assert_int_eq(ls_partitions_fit(range, 12, weighted, NULL, 12, 120, 700, &f), 0);
	ck_assert_int_eq(f.replicas, 12);
	ck_assert(f.carried);
	ck_assert_double_eq_tol(f.bottleneck.work, 600, 1e-9);
	ck_assert_int_eq(ls_partitions_fit(rr, 12, weighted, NULL, 12, 120, 700, &f), 0);
	ck_assert_int_eq(f.replicas, 6);
	ck_assert(f.carried);
	ck_assert_int_eq(f.bottleneck.partitions, 2);
	ck_assert_double_eq_tol(f.bottleneck.work, 700, 1e-9);
	/* maxReplicas 10 under range: 6 is the best useful count <= 10, and
	 * it does not carry (800). */
	ck_assert_int_eq(ls_partitions_fit(range, 10, weighted, NULL, 12, 120, 700, &f), 0);
	ck_assert_int_eq(f.replicas, 6);
	ck_assert(!f.carried);
	ck_assert_double_eq_tol(f.bottleneck.work, 800, 1e-9);
	/* 500 per replica: partition 0 alone needs 600; no count carries it.
	 * The answer is the smallest count with the least work: 12 under
	 * range (600); under roundrobin 12 too (6 gives 700). */
	ck_assert_int_eq(ls_partitions_fit(range, 12, weighted, NULL, 12, 120, 500, &f), 0);
	ck_assert_int_eq(f.replicas, 12);
	ck_assert(!f.carried);
	ck_assert_int_eq(ls_partitions_fit(rr, 24, weighted, NULL, 12, 120, 500, &f), 0);
	ck_assert_int_eq(f.replicas, 12);
	ck_assert(!f.carried);
	ls_partitions_free(range);
	ls_partitions_free(rr);
}
END_TEST

/* The bottleneck is not monotone under range: 6 partitions with rates
 * 0 0 5 5 0 0. r=1: 10. r=2: chunks 0-2 and 3-5, 5 each. r=3: chunks of 2,
 * consumer 1 owns both hot ones, 10. r=6: 5. */
START_TEST(test_partitions_range_not_monotone)
{
	static const double rate[] = {0, 0, 5, 5, 0, 0};
	struct ls_partitions *m = one_topic(6, LS_ASSIGNOR_RANGE);
	struct ls_partitions_load b;
	struct ls_partitions_fit f;
	struct ls_partitions_hot h;

	ck_assert_int_eq(ls_partitions_bottleneck(m, 2, rate, NULL, 6, 1, &b), 0);
	ck_assert_double_eq_tol(b.work, 5, 1e-12);
	ck_assert_int_eq(ls_partitions_bottleneck(m, 3, rate, NULL, 6, 1, &b), 0);
	ck_assert_int_eq(b.consumer, 1);
	ck_assert_int_eq(b.partitions, 2);
	ck_assert_double_eq_tol(b.work, 10, 1e-12);
	/* 5 per replica: 2 carries. 4 per replica: nothing does; the least work
	 * (5) comes first at 2, which is kept: 3 and 6 would not help. */
	ck_assert_int_eq(ls_partitions_fit(m, 6, rate, NULL, 6, 1, 5, &f), 0);
	ck_assert_int_eq(f.replicas, 2);
	ck_assert(f.carried);
	ck_assert_int_eq(ls_partitions_fit(m, 6, rate, NULL, 6, 1, 4, &f), 0);
	ck_assert_int_eq(f.replicas, 2);
	ck_assert(!f.carried);
	ck_assert_double_eq_tol(f.bottleneck.work, 5, 1e-12);
	/* The hot check looks one useful count ahead: from 2, 3 does not help. */
	ck_assert_int_eq(ls_partitions_hot(m, 2, rate, NULL, 6, 1, 4, &h), 0);
	ck_assert_int_eq(h.hot, 2);
	ck_assert_int_eq(h.next, 3);
	ck_assert(!h.more_helps);
	ls_partitions_free(m);
}
END_TEST

/*
 * The demo's case (issue 10): 24 partitions, 10,000 msgs/s spread evenly
 * (416.67 each), 500 msgs/s per replica. 20 or 22 replicas leave consumers
 * with 2 partitions, 833.3 > 500; 12 is the same; only 24 (one each,
 * 416.67 <= 500) carries. With a backlog of 49,000 spread evenly (2,041.67
 * each) and 120 s to drain: 416.67 + 17.01 = 433.68, still 24.
 */
START_TEST(test_partitions_demo_case)
{
	double rate[24];
	int64_t lag[24];

	for (int j = 0; j < 24; j++) {
		rate[j] = 10000.0 / 24;
		lag[j] = 49000 / 24 + (j < 49000 % 24);
	}
	for (size_t k = 0; k < N(assignors); k++) {
		struct ls_partitions *m = one_topic(24, assignors[k]);
		struct ls_partitions_load b;
		struct ls_partitions_fit f;

		ck_assert_int_eq(ls_partitions_bottleneck(m, 20, rate, NULL, 24, 120, &b), 0);
		ck_assert_int_eq(b.partitions, 2);
		ck_assert_double_eq_tol(b.work, 833.333333, 1e-5);
		ck_assert_int_eq(ls_partitions_bottleneck(m, 22, rate, NULL, 24, 120, &b), 0);
		ck_assert_int_eq(b.partitions, 2);
		ck_assert_int_eq(ls_partitions_fit(m, 24, rate, NULL, 24, 120, 500, &f), 0);
		ck_assert_int_eq(f.replicas, 24);
		ck_assert(f.carried);
		ck_assert_int_eq(f.bottleneck.partitions, 1);
		ck_assert_double_eq_tol(f.bottleneck.work, 416.666667, 1e-5);
		ck_assert_int_eq(ls_partitions_fit(m, 24, rate, lag, 24, 120, 500, &f), 0);
		ck_assert_int_eq(f.replicas, 24);
		ck_assert(f.carried);
		ck_assert_double_eq_tol(f.bottleneck.work, 10000.0 / 24 + 2042.0 / 120, 1e-9);
		/* maxReplicas 20 acts as 12: the best it can do, and not enough. */
		ck_assert_int_eq(ls_partitions_fit(m, 20, rate, NULL, 24, 120, 500, &f), 0);
		ck_assert_int_eq(f.replicas, 12);
		ck_assert(!f.carried);
		ck_assert_double_eq_tol(f.bottleneck.work, 833.333333, 1e-5);
		/* At 900 per replica 12 carries (833.3), and 8 does not (1,250). */
		ck_assert_int_eq(ls_partitions_fit(m, 24, rate, NULL, 24, 120, 900, &f), 0);
		ck_assert_int_eq(f.replicas, 12);
		ck_assert(f.carried);
		ls_partitions_free(m);
	}
}
END_TEST

/* 12 partitions at 100 msgs/s, partition 3 at 800 with a backlog of
 * 12,000 (100 msgs/s over 120 s): 500 per replica cannot keep up with it. */
START_TEST(test_partitions_hot_partition)
{
	double rate[12];
	int64_t lag[12] = {0};
	struct ls_partitions *rr = one_topic(12, LS_ASSIGNOR_ROUNDROBIN);
	struct ls_partitions *range = one_topic(12, LS_ASSIGNOR_RANGE);
	struct ls_partitions_hot h;

	for (int j = 0; j < 12; j++)
		rate[j] = 100;
	rate[3] = 800;
	lag[3] = 12000;

	/* roundrobin at 6: consumer 3 owns 3 and 9, 800 + 100 + 100 = 1,000;
	 * at 12 it owns 3 alone, 900: one more useful count still helps. */
	ck_assert_int_eq(ls_partitions_hot(rr, 6, rate, lag, 12, 120, 500, &h), 0);
	ck_assert_int_eq(h.hot, 1);
	ck_assert_int_eq(h.lagging, 1);
	ck_assert(!h.lagging_alone);
	ck_assert_int_eq(h.next, 12);
	ck_assert(h.more_helps);
	ck_assert_int_eq(h.at_r.consumer, 3);
	ck_assert_double_eq_tol(h.at_r.work, 1000, 1e-9);
	ck_assert_double_eq_tol(h.at_next.work, 900, 1e-9);
	/* At 12 the lagging partition has a consumer to itself and there is
	 * no useful count above: more replicas cannot help. */
	ck_assert_int_eq(ls_partitions_hot(rr, 12, rate, lag, 12, 120, 500, &h), 0);
	ck_assert(h.lagging_alone);
	ck_assert(!h.more_helps);
	ck_assert_int_eq(h.next, 12);
	ck_assert_double_eq(h.at_next.work, h.at_r.work);
	ck_assert_int_eq(ls_partitions_hot(rr, 30, rate, lag, 12, 120, 500, &h), 0);
	ck_assert(!h.more_helps);
	ck_assert_int_eq(h.next, 30);
	/* range at 4: consumer 1 owns 3 4 5, 1,100; at 6 it owns 2 3, 1,000. */
	ck_assert_int_eq(ls_partitions_hot(range, 4, rate, lag, 12, 120, 500, &h), 0);
	ck_assert_int_eq(h.at_r.consumer, 1);
	ck_assert_double_eq_tol(h.at_r.work, 1100, 1e-9);
	ck_assert_int_eq(h.next, 6);
	ck_assert(h.more_helps);
	/* Not useful, 5: the next is 6; consumer 1 owns 3 4 5 at 5 too. */
	ck_assert_int_eq(ls_partitions_hot(range, 5, rate, lag, 12, 120, 500, &h), 0);
	ck_assert_int_eq(h.next, 6);
	ck_assert(h.more_helps);
	/* No rates, no lag: nothing hot, nothing lagging, nothing helps. */
	ck_assert_int_eq(ls_partitions_hot(rr, 3, NULL, NULL, 12, 120, 500, &h), 0);
	ck_assert_int_eq(h.hot, 0);
	ck_assert_int_eq(h.lagging, 0);
	ck_assert(h.lagging_alone);
	ck_assert(!h.more_helps);
	ck_assert_int_eq(h.at_r.consumer, 0);
	ck_assert_int_eq(h.at_r.partitions, 4);
	ls_partitions_free(rr);
	ls_partitions_free(range);
}
END_TEST

/* Bottleneck and fit against brute force on random shapes, rates and lags
 * (whole-number rates, so that sums in any order are exact). */
START_TEST(test_partitions_bottleneck_brute_force)
{
	uint32_t seed = 777;

	for (int iter = 0; iter < 300; iter++) {
		int32_t counts[5], total = 0;
		size_t n;
		double *rate;
		int64_t *lag;
		int32_t *owner, *load;
		double *work;

		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 16) % 5;
		for (size_t t = 0; t < n; t++) {
			seed = seed * 1103515245u + 12345u;
			counts[t] = (int32_t)((seed >> 16) % 25);
			total += counts[t];
		}
		if (total == 0) {
			counts[0] = 3;
			total = 3;
		}
		rate = malloc((size_t)total * sizeof(*rate));
		lag = malloc((size_t)total * sizeof(*lag));
		owner = malloc((size_t)total * sizeof(*owner));
		load = malloc((size_t)(total + 3) * sizeof(*load));
		work = malloc((size_t)(total + 3) * sizeof(*work));
		ck_assert(rate && lag && owner && load && work);
		for (int32_t j = 0; j < total; j++) {
			seed = seed * 1103515245u + 12345u;
			rate[j] = (double)((seed >> 16) % 8 == 0 ? 1000 : (seed >> 16) % 100);
			seed = seed * 1103515245u + 12345u;
			lag[j] = (seed >> 16) % 3 == 0 ? (int64_t)((seed >> 8) % 100000) : 0;
		}
		for (size_t k = 0; k < N(assignors); k++) {
			struct ls_partitions *m = model(counts, n, assignors[k]);
			size_t n_useful;
			const int32_t *useful = ls_partitions_useful(m, &n_useful);
			double per_replica = 100 + (double)(iter % 7) * 150;
			int32_t want_fit = -1, best = -1;
			double best_work = 0;
			struct ls_partitions_fit f;

			for (int32_t r = 1; r <= total + 2; r++) {
				struct ls_partitions_load b;
				int32_t bc = 0;

				brute_assign(counts, n, assignors[k], r, owner, load);
				for (int32_t c = 0; c < r; c++)
					work[c] = 0;
				for (int32_t j = 0; j < total; j++)
					work[owner[j]] += rate[j] + (double)lag[j] / 30.0;
				for (int32_t c = 1; c < r; c++)
					if (work[c] > work[bc] + 1e-9)
						bc = c;
				if (ls_partitions_bottleneck(m, r, rate, lag, (size_t)total, 30,
							     &b) != 0 ||
				    b.consumer != bc || fabs(b.work - work[bc]) > 1e-6)
					ck_abort_msg("%s r=%d: bottleneck %d (%f), brute %d (%f)",
						     ls_partitions_assignor_name(assignors[k]), r,
						     b.consumer, b.work, bc, work[bc]);
				if (ls_partitions_is_useful(m, r)) {
					if (want_fit < 0 && work[bc] <= per_replica)
						want_fit = r;
					if (best < 0 || work[bc] < best_work - 1e-6) {
						best = r;
						best_work = work[bc];
					}
				}
			}
			ck_assert_int_eq(ls_partitions_fit(m, useful[n_useful - 1], rate, lag,
							   (size_t)total, 30, per_replica, &f),
					 0);
			ck_assert_int_eq(f.carried, want_fit > 0);
			ck_assert_int_eq(f.replicas, want_fit > 0 ? want_fit : best);
			ls_partitions_free(m);
		}
		free(rate);
		free(lag);
		free(owner);
		free(load);
		free(work);
	}
}
END_TEST

/* Large groups stay cheap: 10,000 partitions, every count looked at. */
START_TEST(test_partitions_large_groups)
{
	int32_t one = 10000;
	int32_t *many = malloc(5001 * sizeof(*many));
	double *rate = malloc(10000 * sizeof(*rate));
	struct ls_partitions *m;
	struct ls_partitions_fit f;
	int32_t v;
	size_t n;

	ck_assert(many && rate);
	for (int j = 0; j < 10000; j++)
		rate[j] = j % 97 == 0 ? 400 : 50;
	for (size_t k = 0; k < N(assignors); k++) {
		m = one_topic(one, assignors[k]);
		for (int32_t r = 0; r <= 10001; r++)
			if (ls_partitions_next_useful(m, r, &v) != 0 || (v < r && r <= 10000))
				ck_abort_msg("next_useful(%d) = %d", r, v);
		ck_assert_int_eq(ls_partitions_fit(m, 10000, rate, NULL, 10000, 60, 100, &f), 0);
		/* One 400 partition needs a consumer to itself: 10,000. */
		ck_assert_int_eq(f.replicas, 10000);
		ck_assert(!f.carried);
		ls_partitions_free(m);
	}
	/* One topic of 5,000 and 5,000 of one partition each, under range:
	 * consumer 0 owns every single-partition topic, whatever R is. */
	many[0] = 5000;
	for (int t = 1; t <= 5000; t++)
		many[t] = 1;
	m = model(many, 5001, LS_ASSIGNOR_RANGE);
	ck_assert_ptr_nonnull(ls_partitions_useful(m, &n));
	ck_assert_uint_gt(n, 1);
	ck_assert_int_eq(ls_partitions_max_load(m, 5000, &v), 0);
	ck_assert_int_eq(v, 5001);
	ck_assert_int_eq(ls_partitions_fit(m, 5000, rate, NULL, 10000, 60, 1e9, &f), 0);
	ck_assert_int_eq(f.replicas, 1);
	ck_assert_int_eq(ls_partitions_fit(m, 5000, rate, NULL, 10000, 60, 1, &f), 0);
	ck_assert(!f.carried);
	ck_assert_int_eq(f.bottleneck.consumer, 0);
	ls_partitions_free(m);
	free(many);
	free(rate);
}
END_TEST

/* Every failure contract: -EINVAL, and the ret_ left alone. */
START_TEST(test_partitions_invalid_arguments)
{
	static const int32_t counts[] = {4, 4};
	static const int32_t zeros[] = {0, 0};
	static const int32_t negative[] = {4, -1};
	static const int32_t huge[] = {LS_PARTITIONS_MAX, 1};
	static const double rate[8] = {1, 1, 1, 1, 1, 1, 1, 1};
	static const int64_t lag[8] = {0};
	double bad_rate[8] = {1, 1, 1, 1, 1, 1, 1, 1};
	int64_t bad_lag[8] = {0};
	struct ls_partitions *m = model(counts, 2, LS_ASSIGNOR_RANGE);
	struct ls_partitions *sentinel = (struct ls_partitions *)&sentinel;
	struct ls_partitions *got = sentinel;
	struct ls_partitions_spread s, s0;
	struct ls_partitions_load b, b0;
	struct ls_partitions_fit f, f0;
	struct ls_partitions_hot h, h0;
	int32_t owner[8], owner0[8];
	int32_t v = -7;

	/* new */
	ck_assert_int_eq(ls_partitions_new(NULL, 2, LS_ASSIGNOR_RANGE, &got), -EINVAL);
	ck_assert_int_eq(ls_partitions_new(counts, 0, LS_ASSIGNOR_RANGE, &got), -EINVAL);
	ck_assert_int_eq(ls_partitions_new(counts, (size_t)LS_PARTITIONS_MAX + 1,
					   LS_ASSIGNOR_RANGE, &got),
			 -EINVAL);
	ck_assert_int_eq(ls_partitions_new(zeros, 2, LS_ASSIGNOR_RANGE, &got), -EINVAL);
	ck_assert_int_eq(ls_partitions_new(negative, 2, LS_ASSIGNOR_RANGE, &got), -EINVAL);
	ck_assert_int_eq(ls_partitions_new(huge, 2, LS_ASSIGNOR_ROUNDROBIN, &got), -EINVAL);
	ck_assert_int_eq(ls_partitions_new(counts, 2, (enum ls_assignor)3, &got), -EINVAL);
	ck_assert_int_eq(ls_partitions_new(counts, 2, (enum ls_assignor)-1, &got), -EINVAL);
	ck_assert_ptr_eq(got, sentinel);
	ck_assert_int_eq(ls_partitions_new(counts, 2, LS_ASSIGNOR_RANGE, NULL), -EINVAL);
	/* LS_PARTITIONS_MAX in all is still taken. */
	ck_assert_int_eq(ls_partitions_new(huge, 1, LS_ASSIGNOR_ROUNDROBIN, &got), 0);
	ls_partitions_free(got);
	ls_partitions_free(NULL);
	ck_assert_int_eq(ls_partitions_total(NULL), 0);
	ck_assert_int_eq(ls_partitions_assignor(NULL), LS_ASSIGNOR_RANGE);
	{
		size_t n = 99;

		ck_assert_ptr_null(ls_partitions_useful(NULL, &n));
		ck_assert_uint_eq(n, 0);
		ck_assert_ptr_nonnull(ls_partitions_useful(m, NULL));
	}
	ck_assert(!ls_partitions_is_useful(NULL, 1));
	ck_assert(!ls_partitions_is_useful(m, 0));
	ck_assert(!ls_partitions_is_useful(m, -3));

	/* counts */
	ck_assert_int_eq(ls_partitions_max_load(NULL, 1, &v), -EINVAL);
	ck_assert_int_eq(ls_partitions_max_load(m, 0, &v), -EINVAL);
	ck_assert_int_eq(ls_partitions_max_load(m, -1, &v), -EINVAL);
	ck_assert_int_eq(ls_partitions_max_load(m, 1, NULL), -EINVAL);
	ck_assert_int_eq(ls_partitions_next_useful(NULL, 1, &v), -EINVAL);
	ck_assert_int_eq(ls_partitions_next_useful(m, -1, &v), -EINVAL);
	ck_assert_int_eq(ls_partitions_next_useful(m, 1, NULL), -EINVAL);
	ck_assert_int_eq(ls_partitions_prev_useful(NULL, 1, &v), -EINVAL);
	ck_assert_int_eq(ls_partitions_prev_useful(m, 0, &v), -EINVAL);
	ck_assert_int_eq(ls_partitions_prev_useful(m, 1, NULL), -EINVAL);
	ck_assert_int_eq(ls_partitions_next_divisor(0, 1, &v), -EINVAL);
	ck_assert_int_eq(ls_partitions_next_divisor(-4, 1, &v), -EINVAL);
	ck_assert_int_eq(ls_partitions_next_divisor(LS_PARTITIONS_MAX + 1, 1, &v), -EINVAL);
	ck_assert_int_eq(ls_partitions_next_divisor(24, -1, &v), -EINVAL);
	ck_assert_int_eq(ls_partitions_next_divisor(24, 1, NULL), -EINVAL);
	ck_assert_int_eq(ls_partitions_prev_divisor(0, 1, &v), -EINVAL);
	ck_assert_int_eq(ls_partitions_prev_divisor(LS_PARTITIONS_MAX + 1, 1, &v), -EINVAL);
	ck_assert_int_eq(ls_partitions_prev_divisor(24, 0, &v), -EINVAL);
	ck_assert_int_eq(ls_partitions_prev_divisor(24, 1, NULL), -EINVAL);
	ck_assert_int_eq(v, -7);

	memset(&s, 0xa5, sizeof(s));
	s0 = s;
	ck_assert_int_eq(ls_partitions_spread(NULL, 1, &s), -EINVAL);
	ck_assert_int_eq(ls_partitions_spread(m, 0, &s), -EINVAL);
	ck_assert_int_eq(ls_partitions_spread(m, 1, NULL), -EINVAL);
	ck_assert_mem_eq(&s, &s0, sizeof(s));

	memset(owner, 0xa5, sizeof(owner));
	memcpy(owner0, owner, sizeof(owner));
	ck_assert_int_eq(ls_partitions_assign(NULL, 2, owner, 8), -EINVAL);
	ck_assert_int_eq(ls_partitions_assign(m, 0, owner, 8), -EINVAL);
	ck_assert_int_eq(ls_partitions_assign(m, 2, owner, 7), -EINVAL);
	ck_assert_int_eq(ls_partitions_assign(m, 2, owner, 9), -EINVAL);
	ck_assert_int_eq(ls_partitions_assign(m, 2, NULL, 8), -EINVAL);
	ck_assert_mem_eq(owner, owner0, sizeof(owner));

	/* bottleneck */
	memset(&b, 0xa5, sizeof(b));
	b0 = b;
	ck_assert_int_eq(ls_partitions_bottleneck(NULL, 2, rate, lag, 8, 60, &b), -EINVAL);
	ck_assert_int_eq(ls_partitions_bottleneck(m, 0, rate, lag, 8, 60, &b), -EINVAL);
	ck_assert_int_eq(ls_partitions_bottleneck(m, 2, rate, lag, 7, 60, &b), -EINVAL);
	ck_assert_int_eq(ls_partitions_bottleneck(m, 2, rate, lag, 8, 0, &b), -EINVAL);
	ck_assert_int_eq(ls_partitions_bottleneck(m, 2, rate, lag, 8, -1, &b), -EINVAL);
	ck_assert_int_eq(ls_partitions_bottleneck(m, 2, rate, lag, 8, NAN, &b), -EINVAL);
	ck_assert_int_eq(ls_partitions_bottleneck(m, 2, rate, lag, 8, INFINITY, &b), -EINVAL);
	ck_assert_int_eq(ls_partitions_bottleneck(m, 2, rate, lag, 8, 60, NULL), -EINVAL);
	bad_rate[5] = -1;
	ck_assert_int_eq(ls_partitions_bottleneck(m, 2, bad_rate, lag, 8, 60, &b), -EINVAL);
	bad_rate[5] = NAN;
	ck_assert_int_eq(ls_partitions_bottleneck(m, 2, bad_rate, lag, 8, 60, &b), -EINVAL);
	bad_rate[5] = INFINITY;
	ck_assert_int_eq(ls_partitions_bottleneck(m, 2, bad_rate, lag, 8, 60, &b), -EINVAL);
	bad_lag[7] = -1;
	ck_assert_int_eq(ls_partitions_bottleneck(m, 2, rate, bad_lag, 8, 60, &b), -EINVAL);
	ck_assert_mem_eq(&b, &b0, sizeof(b));

	/* fit */
	memset(&f, 0xa5, sizeof(f));
	f0 = f;
	ck_assert_int_eq(ls_partitions_fit(NULL, 4, rate, lag, 8, 60, 10, &f), -EINVAL);
	ck_assert_int_eq(ls_partitions_fit(m, 0, rate, lag, 8, 60, 10, &f), -EINVAL);
	ck_assert_int_eq(ls_partitions_fit(m, 4, rate, lag, 9, 60, 10, &f), -EINVAL);
	ck_assert_int_eq(ls_partitions_fit(m, 4, rate, lag, 8, 0, 10, &f), -EINVAL);
	ck_assert_int_eq(ls_partitions_fit(m, 4, rate, lag, 8, 60, 0, &f), -EINVAL);
	ck_assert_int_eq(ls_partitions_fit(m, 4, rate, lag, 8, 60, -5, &f), -EINVAL);
	ck_assert_int_eq(ls_partitions_fit(m, 4, rate, lag, 8, 60, NAN, &f), -EINVAL);
	ck_assert_int_eq(ls_partitions_fit(m, 4, rate, lag, 8, 60, INFINITY, &f), -EINVAL);
	ck_assert_int_eq(ls_partitions_fit(m, 4, bad_rate, lag, 8, 60, 10, &f), -EINVAL);
	ck_assert_int_eq(ls_partitions_fit(m, 4, rate, bad_lag, 8, 60, 10, &f), -EINVAL);
	ck_assert_int_eq(ls_partitions_fit(m, 4, rate, lag, 8, 60, 10, NULL), -EINVAL);
	ck_assert_mem_eq(&f, &f0, sizeof(f));

	/* hot */
	memset(&h, 0xa5, sizeof(h));
	h0 = h;
	ck_assert_int_eq(ls_partitions_hot(NULL, 2, rate, lag, 8, 60, 10, &h), -EINVAL);
	ck_assert_int_eq(ls_partitions_hot(m, 0, rate, lag, 8, 60, 10, &h), -EINVAL);
	ck_assert_int_eq(ls_partitions_hot(m, 2, rate, lag, 0, 60, 10, &h), -EINVAL);
	ck_assert_int_eq(ls_partitions_hot(m, 2, rate, lag, 8, NAN, 10, &h), -EINVAL);
	ck_assert_int_eq(ls_partitions_hot(m, 2, rate, lag, 8, 60, 0, &h), -EINVAL);
	ck_assert_int_eq(ls_partitions_hot(m, 2, bad_rate, lag, 8, 60, 10, &h), -EINVAL);
	ck_assert_int_eq(ls_partitions_hot(m, 2, rate, bad_lag, 8, 60, 10, &h), -EINVAL);
	ck_assert_int_eq(ls_partitions_hot(m, 2, rate, lag, 8, 60, 10, NULL), -EINVAL);
	ck_assert_mem_eq(&h, &h0, sizeof(h));

	ls_partitions_free(m);
}
END_TEST

/* Lags near INT64_MAX saturate instead of overflowing. */
START_TEST(test_partitions_lag_saturates)
{
	int32_t p = 3;
	int64_t lag[3] = {INT64_MAX, INT64_MAX, 5};
	struct ls_partitions *m = model(&p, 1, LS_ASSIGNOR_RANGE);
	struct ls_partitions_load b;

	ck_assert_int_eq(ls_partitions_bottleneck(m, 1, NULL, lag, 3, 1, &b), 0);
	ck_assert_int_eq(b.lag, INT64_MAX);
	ck_assert_int_eq(b.partitions, 3);
	ls_partitions_free(m);
}
END_TEST

static Suite *partitions_suite(void)
{
	Suite *s = suite_create("partitions");
	TCase *tc = tcase_create("core");
	TCase *brute = tcase_create("brute");

	tcase_add_test(tc, test_partitions_issue_examples);
	tcase_add_test(tc, test_partitions_range_differs_from_roundrobin);
	tcase_add_test(tc, test_partitions_divisors);
	tcase_add_test(tc, test_partitions_assignor_names);
	tcase_add_test(tc, test_partitions_bottleneck_skewed);
	tcase_add_test(tc, test_partitions_bottleneck_range_stacks_topics);
	tcase_add_test(tc, test_partitions_fit_skewed);
	tcase_add_test(tc, test_partitions_range_not_monotone);
	tcase_add_test(tc, test_partitions_demo_case);
	tcase_add_test(tc, test_partitions_hot_partition);
	tcase_add_test(tc, test_partitions_invalid_arguments);
	tcase_add_test(tc, test_partitions_lag_saturates);
	suite_add_tcase(s, tc);

	/* Brute force is slow under the sanitizers: a generous timeout. */
	tcase_set_timeout(brute, 120);
	tcase_add_loop_test(brute, test_partitions_useful_counts_brute_force_one_topic, 0,
			    (int)(10 * N(assignors)));
	tcase_add_test(brute, test_partitions_useful_counts_brute_force_topics);
	tcase_add_test(brute, test_partitions_bottleneck_brute_force);
	tcase_add_test(brute, test_partitions_large_groups);
	suite_add_tcase(s, brute);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(partitions_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
