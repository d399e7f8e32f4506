/*
 * test-metrics.c - lib/metrics: the registry and its exposition text, the
 * lag-seconds estimator, lagscale's own series, the HTTP endpoints (on
 * 127.0.0.1 only), and log redaction (what a scrape or a log line may show).
 */
#include <arpa/inet.h>
#include <check.h>
#include <pthread.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "metrics/app.h"
#include "metrics/lagtime.h"
#include "metrics/metrics.h"
#include "metrics/process.h"
#include "metrics/server.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

static char *render(const struct ls_metrics *m)
{
	struct ls_buf b;

	ls_buf_init(&b, 0);
	ck_assert_int_eq(ls_metrics_render(m, &b), 0);
	if (!b.data)
		return strdup("");
	return ls_buf_steal(&b);
}

START_TEST(test_metrics_exposition_exact)
{
	static const char *const labels[] = {"scaler", "topic", NULL};
	static const double bounds[] = {0.1, 1, 2.5};
	struct ls_metrics *m = NULL;
	struct ls_metrics_family *g, *c, *h;
	struct ls_metrics_series *a, *b, *total, *hist, *again;
	const char *va[] = {"orders", "o"}, *vb[] = {"billing", "b"}, *vh[] = {"main"};
	static const char *const hl[] = {"cluster", NULL};
	char *text;

	ck_assert_int_eq(ls_metrics_new(&m), 0);
	ck_assert_int_eq(ls_metrics_family_new(m, "x_lag", "Lag in messages.", LS_METRICS_GAUGE,
	                                       labels, NULL, 0, &g),
	                 0);
	ck_assert_int_eq(ls_metrics_family_new(m, "x_events_total", "Events.", LS_METRICS_COUNTER,
	                                       NULL, NULL, 0, &c),
	                 0);
	ck_assert_int_eq(ls_metrics_family_new(m, "x_seconds", "Durations.", LS_METRICS_HISTOGRAM,
	                                       hl, bounds, 3, &h),
	                 0);
	/* A family without series renders nothing. */
	text = render(m);
	ck_assert_str_eq(text, "");
	free(text);

	ck_assert_int_eq(ls_metrics_series_get(g, va, &a), 0);
	ck_assert_int_eq(ls_metrics_series_get(g, vb, &b), 0);
	ck_assert_int_eq(ls_metrics_series_get(g, va, &again), 0);
	ck_assert_ptr_eq(a, again);
	ck_assert_int_eq(ls_metrics_series_get(c, NULL, &total), 0);
	ck_assert_int_eq(ls_metrics_series_get(h, vh, &hist), 0);
	ls_metrics_set(a, 315);
	ls_metrics_set(b, 0.25);
	ls_metrics_add(total, 2);
	ls_metrics_add(total, -5);  /* a counter never goes down */
	ls_metrics_set(total, 100); /* nor is it set */
	ls_metrics_observe(hist, 0.05);
	ls_metrics_observe(hist, 0.1); /* le is inclusive */
	ls_metrics_observe(hist, 2);
	ls_metrics_observe(hist, 7);
	ck_assert(ls_metrics_value(total) == 2);
	ck_assert(ls_metrics_value(hist) == 4);
	text = render(m);
	ck_assert_str_eq(text, "# HELP x_lag Lag in messages.\n"
	                       "# TYPE x_lag gauge\n"
	                       "x_lag{scaler=\"orders\",topic=\"o\"} 315\n"
	                       "x_lag{scaler=\"billing\",topic=\"b\"} 0.25\n"
	                       "# HELP x_events_total Events.\n"
	                       "# TYPE x_events_total counter\n"
	                       "x_events_total 2\n"
	                       "# HELP x_seconds Durations.\n"
	                       "# TYPE x_seconds histogram\n"
	                       "x_seconds_bucket{cluster=\"main\",le=\"0.1\"} 2\n"
	                       "x_seconds_bucket{cluster=\"main\",le=\"1\"} 2\n"
	                       "x_seconds_bucket{cluster=\"main\",le=\"2.5\"} 3\n"
	                       "x_seconds_bucket{cluster=\"main\",le=\"+Inf\"} 4\n"
	                       "x_seconds_sum{cluster=\"main\"} 9.15\n"
	                       "x_seconds_count{cluster=\"main\"} 4\n");
	free(text);
	ls_metrics_free(m);
}
END_TEST

START_TEST(test_metrics_escaping)
{
	static const char *const labels[] = {"v", NULL};
	struct ls_metrics *m = NULL;
	struct ls_metrics_family *f;
	struct ls_metrics_series *s, *s2;
	const char *v[] = {"a\\b\"c\nd"};
	const char *v2[] = {"a\\b\\\"c\\nd"}; /* what the escaped form would be, unescaped */
	char *text;

	ck_assert_int_eq(ls_metrics_new(&m), 0);
	ck_assert_int_eq(ls_metrics_family_new(m, "x", "Back\\slash and\nnewline \"quoted\".",
	                                       LS_METRICS_GAUGE, labels, NULL, 0, &f),
	                 0);
	ck_assert_int_eq(ls_metrics_series_get(f, v, &s), 0);
	/* Distinct values stay distinct after escaping. */
	ck_assert_int_eq(ls_metrics_series_get(f, v2, &s2), 0);
	ck_assert_ptr_ne(s, s2);
	ls_metrics_set(s, 1);
	ls_metrics_set(s2, 2);
	text = render(m);
	ck_assert_str_eq(text, "# HELP x Back\\\\slash and\\nnewline \"quoted\".\n"
	                       "# TYPE x gauge\n"
	                       "x{v=\"a\\\\b\\\"c\\nd\"} 1\n"
	                       "x{v=\"a\\\\b\\\\\\\"c\\\\nd\"} 2\n");
	free(text);
	ls_metrics_free(m);
}
END_TEST

/* Each series' `name{labels}` is escaped once, at creation: renders after
 * updates still show it right, a lookup with the same values finds the same
 * series, and a label text too long for the stack is written whole. */
START_TEST(test_metrics_label_text_prerendered)
{
	static const char *const labels[] = {"scaler", "v", NULL};
	struct ls_metrics *m = NULL;
	struct ls_metrics_family *f, *c;
	struct ls_metrics_series *s, *again, *lng, *plain;
	const char *v[] = {"q\"s", "back\\slash\nnl"};
	char big[2000], want[2200], *text;
	const char *vl[] = {"long", big};

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[700] = '"';
	ck_assert_int_eq(ls_metrics_new(&m), 0);
	ck_assert_int_eq(ls_metrics_family_new(m, "x", "X.", LS_METRICS_GAUGE, labels, NULL, 0, &f),
	                 0);
	ck_assert_int_eq(
	    ls_metrics_family_new(m, "y_total", "Y.", LS_METRICS_COUNTER, NULL, NULL, 0, &c), 0);
	ck_assert_int_eq(ls_metrics_series_get(f, v, &s), 0);
	ck_assert_int_eq(ls_metrics_series_get(f, vl, &lng), 0);
	ck_assert_int_eq(ls_metrics_series_get(c, NULL, &plain), 0);
	ls_metrics_set(s, 1.5);
	ls_metrics_set(lng, -7);
	ls_metrics_add(plain, 3);
	free(render(m));
	ls_metrics_set(s, 2.5);
	ck_assert_int_eq(ls_metrics_series_get(f, v, &again), 0);
	ck_assert_ptr_eq(again, s);
	ck_assert_uint_eq(ls_metrics_family_size(f), 2);
	text = render(m);
	snprintf(want, sizeof(want), "x{scaler=\"long\",v=\"%.700s\\\"%s\"} -7\n", big, big + 701);
	ck_assert_msg(strstr(text, "# HELP x X.\n# TYPE x gauge\n"
	                           "x{scaler=\"q\\\"s\",v=\"back\\\\slash\\nnl\"} 2.5\n") == text,
	              "%s", text);
	ck_assert_ptr_nonnull(strstr(text, want));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE y_total counter\ny_total 3\n"));
	free(text);
	ls_metrics_free(m);
}
END_TEST

START_TEST(test_metrics_removal)
{
	static const char *const labels[] = {"scaler", NULL};
	struct ls_metrics *m = NULL;
	struct ls_metrics_family *f;
	struct ls_metrics_series *s[40];
	char name[16], *text;

	ck_assert_int_eq(ls_metrics_new(&m), 0);
	ck_assert_int_eq(ls_metrics_family_new(m, "x", "X.", LS_METRICS_GAUGE, labels, NULL, 0, &f),
	                 0);
	/* Enough series to make the hash table grow. */
	for (int i = 0; i < 40; i++) {
		const char *v[] = {name};

		snprintf(name, sizeof(name), "s%d", i);
		ck_assert_int_eq(ls_metrics_series_get(f, v, &s[i]), 0);
		ls_metrics_set(s[i], i);
	}
	ck_assert_uint_eq(ls_metrics_family_size(f), 40);
	for (int i = 0; i < 40; i++)
		if (i != 1 && i != 39)
			ls_metrics_series_remove(s[i]);
	ls_metrics_series_remove(NULL);
	ck_assert_uint_eq(ls_metrics_family_size(f), 2);
	text = render(m);
	ck_assert_str_eq(text,
	                 "# HELP x X.\n# TYPE x gauge\nx{scaler=\"s1\"} 1\nx{scaler=\"s39\"} 39\n");
	free(text);
	/* Looked up again after removals, a removed series is new and at 0. */
	{
		const char *v[] = {"s5"};
		struct ls_metrics_series *again;

		ck_assert_int_eq(ls_metrics_series_get(f, v, &again), 0);
		ck_assert(ls_metrics_value(again) == 0);
		ck_assert_uint_eq(ls_metrics_family_size(f), 3);
	}
	ls_metrics_series_remove(s[1]);
	ls_metrics_series_remove(s[39]);
	text = render(m);
	ck_assert_str_eq(text, "# HELP x X.\n# TYPE x gauge\nx{scaler=\"s5\"} 0\n");
	free(text);
	ls_metrics_free(m);
	ls_metrics_free(NULL);
}
END_TEST

START_TEST(test_metrics_refuses_bad_declarations)
{
	static const char *const bad_label[] = {"1x", NULL};
	static const char *const le[] = {"le", NULL};
	static const char *const reserved[] = {"__name", NULL};
	static const double down[] = {1, 0.5};
	static const double inf[] = {1, INFINITY};
	struct ls_metrics *m = NULL;
	struct ls_metrics_family *f, *sentinel = (struct ls_metrics_family *)&m;
	struct ls_metrics_series *s, *ss = (struct ls_metrics_series *)&m;
	const char *nullv[] = {NULL};
	static const char *const one[] = {"a", NULL};

	ck_assert_int_eq(ls_metrics_new(&m), 0);
	f = sentinel;
	ck_assert_int_eq(ls_metrics_family_new(m, "9x", "", LS_METRICS_GAUGE, NULL, NULL, 0, &f),
	                 -EINVAL);
	ck_assert_int_eq(ls_metrics_family_new(m, "", "", LS_METRICS_GAUGE, NULL, NULL, 0, &f),
	                 -EINVAL);
	ck_assert_int_eq(ls_metrics_family_new(m, "a-b", "", LS_METRICS_GAUGE, NULL, NULL, 0, &f),
	                 -EINVAL);
	ck_assert_int_eq(
	    ls_metrics_family_new(m, "x", "", LS_METRICS_GAUGE, bad_label, NULL, 0, &f), -EINVAL);
	ck_assert_int_eq(ls_metrics_family_new(m, "x", "", LS_METRICS_GAUGE, reserved, NULL, 0, &f),
	                 -EINVAL);
	ck_assert_int_eq(ls_metrics_family_new(m, "x", "", LS_METRICS_HISTOGRAM, le, NULL, 0, &f),
	                 -EINVAL);
	ck_assert_int_eq(ls_metrics_family_new(m, "x", "", LS_METRICS_HISTOGRAM, NULL, down, 2, &f),
	                 -EINVAL);
	ck_assert_int_eq(ls_metrics_family_new(m, "x", "", LS_METRICS_HISTOGRAM, NULL, inf, 2, &f),
	                 -EINVAL);
	ck_assert_int_eq(ls_metrics_family_new(m, "x", "", LS_METRICS_GAUGE, NULL, down, 1, &f),
	                 -EINVAL);
	ck_assert_int_eq(
	    ls_metrics_family_new(m, "x", "", (enum ls_metrics_type)7, NULL, NULL, 0, &f), -EINVAL);
	/* ret_ is left alone on every failure. */
	ck_assert_ptr_eq(f, sentinel);
	ck_assert_int_eq(
	    ls_metrics_family_new(m, "ns:x_total", "", LS_METRICS_COUNTER, one, NULL, 0, &f), 0);
	ck_assert_int_eq(
	    ls_metrics_family_new(m, "ns:x_total", "", LS_METRICS_GAUGE, NULL, NULL, 0, &sentinel),
	    -EINVAL);
	s = ss;
	ck_assert_int_eq(ls_metrics_series_get(f, NULL, &s), -EINVAL);
	ck_assert_int_eq(ls_metrics_series_get(f, nullv, &s), -EINVAL);
	ck_assert_ptr_eq(s, ss);
	ls_metrics_free(m);
}
END_TEST

START_TEST(test_metrics_format_value)
{
	char b[40];

	ck_assert_str_eq(ls_metrics_format_value(0, b, sizeof(b)), "0");
	ck_assert_str_eq(ls_metrics_format_value(-0.0, b, sizeof(b)), "0");
	ck_assert_str_eq(ls_metrics_format_value(45000, b, sizeof(b)), "45000");
	ck_assert_str_eq(ls_metrics_format_value(-3, b, sizeof(b)), "-3");
	ck_assert_str_eq(ls_metrics_format_value(0.1, b, sizeof(b)), "0.1");
	ck_assert_str_eq(ls_metrics_format_value(1.0 / 3, b, sizeof(b)), "0.3333333333333333");
	ck_assert_str_eq(ls_metrics_format_value(1e300, b, sizeof(b)), "1e+300");
	ck_assert_str_eq(ls_metrics_format_value(NAN, b, sizeof(b)), "NaN");
	ck_assert_str_eq(ls_metrics_format_value(INFINITY, b, sizeof(b)), "+Inf");
	ck_assert_str_eq(ls_metrics_format_value(-INFINITY, b, sizeof(b)), "-Inf");
	/* Integers in full up to 2^63, written by hand. */
	ck_assert_str_eq(ls_metrics_format_value(9007199254740992.0, b, sizeof(b)),
	                 "9007199254740992");
	ck_assert_str_eq(ls_metrics_format_value(-9007199254740993.0, b, sizeof(b)),
	                 "-9007199254740992");
	ck_assert_str_eq(ls_metrics_format_value((double)INT64_MAX - 1023, b, sizeof(b)),
	                 "9223372036854774784");
	ck_assert_str_eq(ls_metrics_format_value(-4611686018427387904.0, b, sizeof(b)),
	                 "-4611686018427387904");
	ck_assert_str_eq(ls_metrics_format_value(1e15, b, sizeof(b)), "1000000000000000");
	/* Fractions: the shortest digits, %g's notation. */
	ck_assert_str_eq(ls_metrics_format_value(1e-9, b, sizeof(b)), "1e-09");
	ck_assert_str_eq(ls_metrics_format_value(-2.5e-7, b, sizeof(b)), "-2.5e-07");
	ck_assert_str_eq(ls_metrics_format_value(0.000123, b, sizeof(b)), "0.000123");
	ck_assert_str_eq(ls_metrics_format_value(12.5, b, sizeof(b)), "12.5");
	ck_assert_str_eq(ls_metrics_format_value(-0.75, b, sizeof(b)), "-0.75");
	ck_assert_str_eq(ls_metrics_format_value(1000000000000000.5, b, sizeof(b)),
	                 "1000000000000000.5");
	ck_assert_str_eq(ls_metrics_format_value(0.1 + 0.2, b, sizeof(b)), "0.30000000000000004");
	/* Beyond the hand-written range: printf's shortest. */
	ck_assert_str_eq(ls_metrics_format_value(1e21, b, sizeof(b)), "1e+21");
	ck_assert_str_eq(ls_metrics_format_value(-1e300, b, sizeof(b)), "-1e+300");
	ck_assert_str_eq(ls_metrics_format_value(1e-30, b, sizeof(b)), "1e-30");
	ck_assert_str_eq(ls_metrics_format_value(5e-324, b, sizeof(b)), "4.94065645841247e-324");
	/* Cut to the size given, always terminated. */
	ck_assert_str_eq(ls_metrics_format_value(123456, b, 4), "123");
}
END_TEST

/* A sample value as the text format spells it: NaN, +Inf, -Inf, or a
 * decimal [-]D+[.D+][e(+|-)D+]. */
static bool prometheus_float(const char *s)
{
	const char *p = s;

	if (!strcmp(s, "NaN") || !strcmp(s, "+Inf") || !strcmp(s, "-Inf"))
		return true;
	if (*p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == '.') {
		if (p[1] < '0' || p[1] > '9')
			return false;
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	}
	if (*p == 'e') {
		p++;
		if (*p != '+' && *p != '-')
			return false;
		if (p[1] < '0' || p[1] > '9')
			return false;
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	}
	return *p == '\0';
}

/* Every value reads back (strtod) as the same double, in the format's
 * syntax, over the special values and a sweep of magnitudes and bit
 * patterns. */
START_TEST(test_metrics_format_value_round_trips)
{
	static const double fixed[] = {0,
	                               -0.0,
	                               1,
	                               -1,
	                               0.1,
	                               -0.1,
	                               1e-9,
	                               1e21,
	                               9007199254740992.0,
	                               9007199254740993.0,
	                               (double)INT64_MAX,
	                               (double)INT64_MIN,
	                               -9223372036854775808.0 * 2,
	                               4503599627370495.5,
	                               2.2250738585072014e-308,
	                               4.9e-324,
	                               1.7976931348623157e308,
	                               1.0 / 3,
	                               2.0 / 3,
	                               0.5,
	                               1e-4,
	                               9.999999999999999e-5,
	                               1e-20,
	                               1.2345678901234567e-19,
	                               INFINITY,
	                               -INFINITY};
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	char b[40];

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		ls_metrics_format_value(fixed[i], b, sizeof(b));
		ck_assert_msg(prometheus_float(b), "%s is not a sample value", b);
		ck_assert_msg(strtod(b, NULL) == fixed[i], "%.17g written as %s", fixed[i], b);
	}
	ck_assert_str_eq(ls_metrics_format_value(-NAN, b, sizeof(b)), "NaN");
	for (int i = 0; i < 200000; i++) {
		double v;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (i % 2) {
			memcpy(&v, &x, sizeof(v)); /* any double */
			if (isnan(v))
				continue;
		} else {
			/* Rates and seconds: a fraction at a magnitude from 1e-22 to 1e17. */
			v = (double)(x >> 11) / 9007199254740992.0 * pow(10, (double)(i % 40) - 22);
		}
		ls_metrics_format_value(v, b, sizeof(b));
		ck_assert_msg(prometheus_float(b), "%s is not a sample value", b);
		ck_assert_msg(strtod(b, NULL) == v, "%.17g written as %s", v, b);
		/* The shortest: one digit fewer (rounded to nearest) does not
		 * read back, checked where the digits are few enough to tell. */
		if (isfinite(v) && v != 0 && fabs(v) < 1e15 && v != trunc(v)) {
			char shorter[40];
			const char *digits = b + (b[0] == '-');
			size_t sig = 0;

			for (const char *p = digits; *p && *p != 'e'; p++)
				sig += *p >= '0' && *p <= '9' && (sig || *p != '0');
			if (sig > 1 && sig <= 17) {
				snprintf(shorter, sizeof(shorter), "%.*e", (int)sig - 2, v);
				ck_assert_msg(strtod(shorter, NULL) != v, "%s is shorter than %s",
				              shorter, b);
			}
		}
	}
}
END_TEST

/* lagtime: the worked example of lagtime.h. */
START_TEST(test_metrics_lagtime_interpolates)
{
	struct ls_metrics_lagtime lt;

	ls_metrics_lagtime_init(&lt);
	ck_assert(ls_metrics_lagtime_estimate(&lt, 1000, 5) == 0); /* nothing known */
	ls_metrics_lagtime_add(&lt, 0, 100);
	ls_metrics_lagtime_add(&lt, 10000, 200);
	ls_metrics_lagtime_add(&lt, 20000, 400);
	/* No lag: 0 however old the samples. */
	ck_assert(ls_metrics_lagtime_estimate(&lt, 60000, 400) == 0);
	ck_assert(ls_metrics_lagtime_estimate(&lt, 60000, 500) == 0);
	/* On a sample: offset 200 was the end at 10 s. */
	ck_assert_double_eq_tol(ls_metrics_lagtime_estimate(&lt, 20000, 200), 10.0, 1e-9);
	/* Between samples, linearly: 150 is halfway between 0 s and 10 s. */
	ck_assert_double_eq_tol(ls_metrics_lagtime_estimate(&lt, 20000, 150), 15.0, 1e-9);
	/* 300 is halfway between 10 s and 20 s: 5 s at 20 s, 35 s at 50 s. */
	ck_assert_double_eq_tol(ls_metrics_lagtime_estimate(&lt, 20000, 300), 5.0, 1e-9);
	ck_assert_double_eq_tol(ls_metrics_lagtime_estimate(&lt, 50000, 300), 35.0, 1e-9);
	/* Older than the ring: extrapolated at the ring's rate (300 msgs in
	 * 20 s = 15/s): offset 40 is 60 messages = 4 s before 0 s. */
	ck_assert_double_eq_tol(ls_metrics_lagtime_estimate(&lt, 20000, 40), 24.0, 1e-9);
	ls_metrics_lagtime_release(&lt);
}
END_TEST

START_TEST(test_metrics_lagtime_flat_runs_and_bounds)
{
	struct ls_metrics_lagtime lt;

	ls_metrics_lagtime_init(&lt);
	/* Idle at 100 for a long time, then a burst. */
	for (int i = 0; i <= 100; i++)
		ls_metrics_lagtime_add(&lt, i * 1000, 100);
	ck_assert_uint_eq(lt.n, 2); /* a run is its first and last sample */
	ls_metrics_lagtime_add(&lt, 101000, 150);
	ck_assert_uint_eq(lt.n, 3);
	/* The message at 100 came after the run's last sample at 100 s. */
	ck_assert_double_eq_tol(ls_metrics_lagtime_estimate(&lt, 101000, 100), 1.0, 1e-9);
	ck_assert_double_eq_tol(ls_metrics_lagtime_estimate(&lt, 101000, 125), 0.5, 1e-9);
	/* Older than the ring with no production in it: the oldest sample
	 * is a lower bound. */
	ls_metrics_lagtime_release(&lt);
	ls_metrics_lagtime_add(&lt, 5000, 100);
	ls_metrics_lagtime_add(&lt, 9000, 100);
	ck_assert_double_eq_tol(ls_metrics_lagtime_estimate(&lt, 9000, 50), 4.0, 1e-9);
	/* Samples out of order are ignored; a lower end restarts the ring. */
	ls_metrics_lagtime_add(&lt, 8000, 120);
	ck_assert_uint_eq(lt.n, 2);
	ls_metrics_lagtime_add(&lt, 10000, 10);
	ck_assert_uint_eq(lt.n, 1);
	ls_metrics_lagtime_add(&lt, 11000, -1);
	ck_assert_uint_eq(lt.n, 1);
	/* The ring is bounded: the oldest samples go first. */
	ls_metrics_lagtime_release(&lt);
	for (int i = 0; i < 3 * LS_METRICS_LAGTIME_SAMPLES; i++)
		ck_assert_int_eq(ls_metrics_lagtime_add(&lt, i * 1000, i * 10), 0);
	ck_assert_uint_eq(lt.n, LS_METRICS_LAGTIME_SAMPLES);
	ck_assert_uint_eq(lt.cap, LS_METRICS_LAGTIME_SAMPLES);
	ck_assert_int_eq(ls_metrics_lagtime_slots(&lt)[lt.head].time_ms,
	                 (3 * LS_METRICS_LAGTIME_SAMPLES - LS_METRICS_LAGTIME_SAMPLES) * 1000);
	/* Steady 10 msgs/s: a lag of 50 messages is 5 s, inside or beyond the ring. */
	ck_assert_double_eq_tol(
	    ls_metrics_lagtime_estimate(&lt, (3 * LS_METRICS_LAGTIME_SAMPLES - 1) * 1000,
	                                (3 * LS_METRICS_LAGTIME_SAMPLES - 1) * 10 - 50),
	    5.0, 1e-9);
	ck_assert_double_eq_tol(
	    ls_metrics_lagtime_estimate(&lt, (3 * LS_METRICS_LAGTIME_SAMPLES - 1) * 1000, 0),
	    (3 * LS_METRICS_LAGTIME_SAMPLES - 1), 1e-6);
	ls_metrics_lagtime_release(&lt);
}
END_TEST

START_TEST(test_metrics_lagtime_forgets_what_it_cannot_use)
{
	/* A consumer that keeps up needs two samples; one that falls behind
	 * keeps the samples its lag spans, and estimates stay the same. */
	struct ls_metrics_lagtime lt;
	int64_t t = 0;

	ls_metrics_lagtime_init(&lt);
	for (int i = 0; i < 100; i++, t += 1000) {
		ck_assert_int_eq(ls_metrics_lagtime_add(&lt, t, i * 10), 0);
		ls_metrics_lagtime_forget(&lt, i * 10 - 5); /* 5 behind */
		ck_assert_uint_le(lt.n, 2);
		ck_assert_uint_le(lt.cap, 4);
	}
	ls_metrics_lagtime_release(&lt);
	/* Forgotten before each sample is added (as the table does), a
	 * consumer less than a poll behind stays in the ring's own slots. */
	for (int i = 0; i < 100; i++, t += 1000) {
		ls_metrics_lagtime_forget(&lt, i * 10 - 5);
		ck_assert_int_eq(ls_metrics_lagtime_add(&lt, t, i * 10), 0);
		ck_assert_uint_le(lt.n, 2);
		ck_assert_uint_eq(lt.cap, LS_METRICS_LAGTIME_INLINE);
	}
	/* The consumer stops at 985: the ring grows with its lag. */
	for (int i = 100; i < 110; i++, t += 1000) {
		ck_assert_int_eq(ls_metrics_lagtime_add(&lt, t, i * 10), 0);
		ls_metrics_lagtime_forget(&lt, 985);
	}
	ck_assert_uint_eq(lt.n, 12); /* 980 (at or below 985) and the 11 after */
	/* 985 is halfway between 980 (at 98 s) and 990 (at 99 s). */
	ck_assert_double_eq_tol(ls_metrics_lagtime_estimate(&lt, t - 1000, 985), 10.5, 1e-9);
	/* It catches up: the memory shrinks again. */
	ls_metrics_lagtime_forget(&lt, 1090);
	ck_assert_uint_eq(lt.n, 1);
	ck_assert_uint_le(lt.cap, 8);
	/* Back in its own slots once it holds few enough. */
	ls_metrics_lagtime_add(&lt, t, 1100);
	ls_metrics_lagtime_forget(&lt, 1095);
	ck_assert_uint_eq(lt.n, 2);
	ck_assert_uint_le(lt.cap, 4);
	ls_metrics_lagtime_forget(&lt, 1100);
	ck_assert_uint_eq(lt.n, 1);
	ck_assert_uint_eq(lt.cap, LS_METRICS_LAGTIME_INLINE);
	ck_assert_double_eq_tol(ls_metrics_lagtime_estimate(&lt, t, 1100), 0, 1e-9);
	ls_metrics_lagtime_release(&lt);
	ck_assert_uint_eq(lt.n, 0);
}
END_TEST

/* A snapshot of one topic with the given (partition, committed, end). */
static void make_snap(struct ls_lag_snapshot *s, int64_t t, const char *topic, size_t n,
                      const int64_t (*pce)[3])
{
	memset(s, 0, sizeof(*s));
	s->time_ms = t;
	s->produce_rate = -1;
	s->consume_rate = -1;
	s->n_topics = 1;
	s->topics = calloc(1, sizeof(*s->topics));
	s->topics[0].topic = strdup(topic);
	s->topics[0].n_parts = n;
	s->topics[0].parts = calloc(n, sizeof(*s->topics[0].parts));
	for (size_t i = 0; i < n; i++) {
		s->topics[0].parts[i].partition = (int32_t)pce[i][0];
		s->topics[0].parts[i].committed = pce[i][1];
		s->topics[0].parts[i].end = pce[i][2];
		s->topics[0].parts[i].log_start = LS_OFFSET_UNKNOWN;
	}
	ls_lag_snapshot_compute(s, LS_RESET_LATEST);
}

START_TEST(test_metrics_lagtime_table_follows_partitions)
{
	struct ls_metrics_lagtime_table *t = NULL;
	struct ls_lag_snapshot s;
	double max = -1;
	const int64_t a[][3] = {{0, 100, 100}, {1, 0, 0}};
	const int64_t b[][3] = {{0, 100, 200}, {1, 0, 50}};
	const int64_t c[][3] = {{0, 100, 300}, {2, 0, 10}};

	ck_assert_int_eq(ls_metrics_lagtime_table_new(&t), 0);
	make_snap(&s, 0, "orders", 2, a);
	ck_assert_int_eq(ls_metrics_lagtime_table_update(t, &s, &max), 0);
	ck_assert(max == 0);
	ls_lag_snapshot_release(&s);
	make_snap(&s, 10000, "orders", 2, b);
	ck_assert_int_eq(ls_metrics_lagtime_table_update(t, &s, &max), 0);
	/* Partition 0: offset 100 was the end at 0 s: 10 s. Partition 1: same. */
	ck_assert_double_eq_tol(max, 10.0, 1e-9);
	ls_lag_snapshot_release(&s);
	/* Partition 1 goes, 2 comes: 0 keeps its history, 2 starts empty. */
	make_snap(&s, 20000, "orders", 2, c);
	ck_assert_int_eq(ls_metrics_lagtime_table_update(t, &s, &max), 0);
	ck_assert_uint_eq(ls_metrics_lagtime_table_size(t), 2);
	ck_assert_double_eq_tol(max, 20.0, 1e-9);
	/* A failed read is refused and changes nothing. */
	s.err = -ETIMEDOUT;
	max = -1;
	ck_assert_int_eq(ls_metrics_lagtime_table_update(t, &s, &max), -EINVAL);
	ck_assert(max == -1);
	ls_lag_snapshot_release(&s);
	ls_metrics_lagtime_table_free(t);
	ls_metrics_lagtime_table_free(NULL);
}
END_TEST

START_TEST(test_metrics_app_scaler_series)
{
	struct ls_metrics_app *a = NULL;
	struct ls_metrics_scaler *s1 = NULL, *s2 = NULL;
	struct ls_metrics_cluster *cl = NULL;
	struct ls_lag_snapshot snap;
	struct ls_buf b;
	const int64_t p[][3] = {{0, 10, 110}, {3, 5, 5}};
	const int64_t q[][3] = {{0, 10, 210}};

	ls_buf_init(&b, 0);
	ck_assert_int_eq(ls_metrics_app_new("1.2.3", "2.0.2", &a), 0);
	ck_assert_int_eq(
	    ls_metrics_scaler_new(a, "orders", "shop", "Deployment/oc", "main", "oc-group", &s1),
	    0);
	ck_assert_int_eq(
	    ls_metrics_scaler_new(a, "billing", "shop", "Deployment/bc", "main", "bc-group", &s2),
	    0);
	ck_assert_int_eq(ls_metrics_cluster_new(a, "main", &cl), 0);
	ls_metrics_app_set_leader(a, true);
	ls_metrics_app_set_partition_series(a, true, LS_METRICS_PARTITION_SERIES_CAP);
	make_snap(&snap, 1000, "orders", 2, p);
	snap.produce_rate = 12.5;
	ck_assert_int_eq(ls_metrics_scaler_observe_lag(s1, &snap), 0);
	ls_lag_snapshot_release(&snap);
	ls_metrics_scaler_observe_decision(s1, 1, 3, 2, true, false, false, 2);
	ls_metrics_scaler_count_scale(s1, 1, 2);
	ls_metrics_scaler_count_scale(s1, 2, 2);
	ls_metrics_scaler_count_error(s1, "scale");
	ls_metrics_scaler_count_error(s1, "events");
	ls_metrics_scaler_count_error(s1, "events");
	ls_metrics_cluster_observe_collect(cl, 0.02);
	snap.err = -ETIMEDOUT; /* a zeroed, failed read */
	ck_assert_int_eq(ls_metrics_scaler_observe_lag(s2, &snap), 0);
	ck_assert_int_eq(ls_metrics_app_render(a, &b), 0);
	{
		const char *t = ls_buf_str(&b);
		const char *want[] = {
		    "lagscale_lag_messages{scaler=\"orders\",namespace=\"shop\",target="
		    "\"Deployment/oc\",cluster=\"main\",group=\"oc-group\"} 100\n",
		    "lagscale_partition_lag_messages{scaler=\"orders\",namespace=\"shop\","
		    "target=\"Deployment/"
		    "oc\",cluster=\"main\",group=\"oc-group\",topic=\"orders\",partition=\"0\"} "
		    "100\n",
		    "lagscale_partition_lag_messages{scaler=\"orders\",namespace=\"shop\","
		    "target=\"Deployment/"
		    "oc\",cluster=\"main\",group=\"oc-group\",topic=\"orders\",partition=\"3\"} "
		    "0\n",
		    "lagscale_lag_seconds{scaler=\"orders\",namespace=\"shop\",target=\"Deployment/"
		    "oc\",cluster=\"main\",group=\"oc-group\"} 0\n",
		    "lagscale_produce_rate{scaler=\"orders\",namespace=\"shop\",target="
		    "\"Deployment/oc\",cluster=\"main\",group=\"oc-group\"} 12.5\n",
		    "lagscale_replicas_current{scaler=\"orders\",namespace=\"shop\",target="
		    "\"Deployment/oc\",cluster=\"main\",group=\"oc-group\"} 1\n",
		    "lagscale_replicas_recommended{scaler=\"orders\",namespace=\"shop\",target="
		    "\"Deployment/oc\",cluster=\"main\",group=\"oc-group\"} 3\n",
		    "lagscale_replicas_desired{scaler=\"orders\",namespace=\"shop\",target="
		    "\"Deployment/oc\",cluster=\"main\",group=\"oc-group\"} 2\n",
		    "lagscale_hot_partitions{scaler=\"orders\",namespace=\"shop\",target="
		    "\"Deployment/oc\",cluster=\"main\",group=\"oc-group\"} 2\n",
		    "lagscale_scale_events_total{scaler=\"orders\",namespace=\"shop\",target="
		    "\"Deployment/oc\",cluster=\"main\",group=\"oc-group\",direction=\"up\"} 1\n",
		    "lagscale_scale_events_total{scaler=\"orders\",namespace=\"shop\",target="
		    "\"Deployment/oc\",cluster=\"main\",group=\"oc-group\",direction=\"down\"} 0\n",
		    "lagscale_errors_total{scaler=\"orders\",namespace=\"shop\",target="
		    "\"Deployment/oc\",cluster=\"main\",group=\"oc-group\",stage=\"scale\"} 1\n",
		    "lagscale_errors_total{scaler=\"orders\",namespace=\"shop\",target="
		    "\"Deployment/oc\",cluster=\"main\",group=\"oc-group\",stage=\"events\"} 2\n",
		    "lagscale_errors_total{scaler=\"billing\",namespace=\"shop\",target="
		    "\"Deployment/bc\",cluster=\"main\",group=\"bc-group\",stage=\"collect\"} 1\n",
		    "lagscale_collect_duration_seconds_count{cluster=\"main\"} 1\n",
		    "lagscale_scaler_active{scaler=\"orders\",namespace=\"shop\",target="
		    "\"Deployment/oc\",cluster=\"main\",group=\"oc-group\"} 1\n",
		    "lagscale_fallback_active{scaler=\"orders\",namespace=\"shop\",target="
		    "\"Deployment/oc\",cluster=\"main\",group=\"oc-group\"} 0\n",
		    "# TYPE lagscale_is_leader gauge\nlagscale_is_leader 1\n",
		    "lagscale_build_info{version=\"1.2.3\",librdkafka=\"2.0.2\"} 1\n",
		    "lagscale_partition_committed_offset{scaler=\"orders\",namespace=\"shop\","
		    "target=\"Deployment/oc\",cluster=\"main\",group=\"oc-group\",topic=\"orders\","
		    "partition=\"0\"} 10\n",
		    "lagscale_partition_end_offset{scaler=\"orders\",namespace=\"shop\","
		    "target=\"Deployment/oc\",cluster=\"main\",group=\"oc-group\",topic=\"orders\","
		    "partition=\"0\"} 110\n",
		    "lagscale_partition_end_offset{scaler=\"orders\",namespace=\"shop\","
		    "target=\"Deployment/oc\",cluster=\"main\",group=\"oc-group\",topic=\"orders\","
		    "partition=\"3\"} 5\n",
		    "lagscale_scaler_paused{scaler=\"orders\",namespace=\"shop\",target="
		    "\"Deployment/oc\",cluster=\"main\",group=\"oc-group\"} 0\n",
		    "# TYPE process_cpu_seconds_total counter\n",
		    "# TYPE process_resident_memory_bytes gauge\n",
		    "# TYPE process_start_time_seconds gauge\n",
		    "process_open_fds ",
		    "process_max_fds ",
		    "process_virtual_memory_bytes ",
		};

		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
			ck_assert_msg(strstr(t, want[i]), "missing %s in\n%s", want[i], t);
		/* A failed read is unknown: no lag series for billing yet, and no
		 * consume rate before it is known. */
		ck_assert_ptr_null(strstr(t, "lagscale_lag_messages{scaler=\"billing\""));
		ck_assert_ptr_null(strstr(t, "lagscale_consume_rate"));
	}
	/* Partition 3 goes: its series goes with it. Lag seconds, now from
	 * two samples (end 110 at 1 s, 210 at 2 s: 100 msgs/s): offset 10 is
	 * extrapolated to 0 s, so 2 s at 2 s. */
	make_snap(&snap, 2000, "orders", 1, q);
	ck_assert_int_eq(ls_metrics_scaler_observe_lag(s1, &snap), 0);
	ls_lag_snapshot_release(&snap);
	ck_assert_double_eq_tol(ls_metrics_scaler_lag_seconds(s1), 2.0, 1e-9);
	ls_buf_reset(&b);
	ck_assert_int_eq(ls_metrics_app_render(a, &b), 0);
	ck_assert_ptr_null(strstr(ls_buf_str(&b), "partition=\"3\""));
	ck_assert_ptr_nonnull(strstr(ls_buf_str(&b), "partition=\"0\"} 200\n"));
	/* A removed scaler's series all disappear; the other's stay. */
	ls_metrics_scaler_free(s1);
	ls_metrics_cluster_free(cl);
	ls_buf_reset(&b);
	ck_assert_int_eq(ls_metrics_app_render(a, &b), 0);
	ck_assert_ptr_null(strstr(ls_buf_str(&b), "orders"));
	ck_assert_ptr_null(strstr(ls_buf_str(&b), "{cluster=\"main\""));
	ck_assert_ptr_nonnull(strstr(ls_buf_str(&b), "scaler=\"billing\""));
	ls_metrics_scaler_free(s2);
	ls_metrics_scaler_free(NULL);
	ls_buf_reset(&b);
	ck_assert_int_eq(ls_metrics_app_render(a, &b), 0);
	ck_assert_ptr_null(strstr(ls_buf_str(&b), "scaler="));
	ls_buf_release(&b);
	ls_metrics_app_free(a);
	ls_metrics_app_free(NULL);
}
END_TEST


/* A LagScaler's scaler is named NAMESPACE/NAME: '/' needs no escape in a label. */
START_TEST(test_metrics_app_object_scaler_name)
{
	struct ls_metrics_app *a = NULL;
	struct ls_metrics_scaler *s = NULL;
	struct ls_buf b;

	ls_buf_init(&b, 0);
	ck_assert_int_eq(ls_metrics_app_new("1.2.3", "2.0.2", &a), 0);
	ls_metrics_app_set_leader(a, true);
	ck_assert_int_eq(
	    ls_metrics_scaler_new(a, "shop/orders", "shop", "Deployment/oc", "main", "g", &s), 0);
	ls_metrics_scaler_observe_decision(s, 1, 3, 2, true, false, false, 0);
	ck_assert_int_eq(ls_metrics_app_render(a, &b), 0);
	ck_assert_ptr_nonnull(strstr(ls_buf_str(&b), "lagscale_replicas_desired{scaler=\"shop/orders\","
	                                             "namespace=\"shop\",target=\"Deployment/oc\","
	                                             "cluster=\"main\",group=\"g\"} 2\n"));
	ls_metrics_scaler_free(s);
	ls_metrics_app_free(a);
	ls_buf_release(&b);
}
END_TEST

START_TEST(test_metrics_app_error_stages_are_bounded)
{
	struct ls_metrics_app *a = NULL;
	struct ls_metrics_scaler *s = NULL, *sentinel = (struct ls_metrics_scaler *)&a;
	struct ls_buf b;
	char stage[16];

	{
		struct ls_metrics_app *as = (struct ls_metrics_app *)&b;
		struct ls_metrics_cluster *cs = (struct ls_metrics_cluster *)&b;

		ck_assert_int_eq(ls_metrics_app_new(NULL, "2", &as), -EINVAL);
		ck_assert_ptr_eq(as, (struct ls_metrics_app *)&b);
		ck_assert_int_eq(ls_metrics_app_new("1", "2", &a), 0);
		ck_assert_int_eq(ls_metrics_cluster_new(a, NULL, &cs), -EINVAL);
		ck_assert_ptr_eq(cs, (struct ls_metrics_cluster *)&b);
	}
	ck_assert_int_eq(ls_metrics_scaler_new(a, NULL, "ns", "t", "c", "g", &sentinel), -EINVAL);
	ck_assert_ptr_eq(sentinel, (struct ls_metrics_scaler *)&a);
	ck_assert_int_eq(ls_metrics_scaler_observe_lag(NULL, NULL), -EINVAL);
	ck_assert_int_eq(ls_metrics_scaler_new(a, "s", "ns", "t", "c", "g", &s), 0);
	for (int i = 0; i < 10; i++) {
		snprintf(stage, sizeof(stage), "st%d", i);
		ls_metrics_scaler_count_error(s, stage);
	}
	ls_metrics_scaler_count_error(s, "other");
	ls_buf_init(&b, 0);
	ck_assert_int_eq(ls_metrics_app_render(a, &b), 0);
	ck_assert_ptr_nonnull(strstr(ls_buf_str(&b), "stage=\"st3\"} 1\n"));
	ck_assert_ptr_null(strstr(ls_buf_str(&b), "stage=\"st4\""));
	ck_assert_ptr_nonnull(strstr(ls_buf_str(&b), "stage=\"other\"} 7\n"));
	ls_buf_release(&b);
	ls_metrics_scaler_free(s);
	ls_metrics_app_free(a);
}
END_TEST

#define RELOADS	  "lagscale_config_reloads_total{result=\""
#define RELOAD_OK "lagscale_config_last_reload_successful "

/* Occurrences of needle in the app's exposition text. */
static size_t count_in_render(struct ls_metrics_app *a, const char *needle)
{
	struct ls_buf b;
	size_t n = 0;

	ls_buf_init(&b, 0);
	ck_assert_int_eq(ls_metrics_app_render(a, &b), 0);
	for (const char *p = ls_buf_str(&b); (p = strstr(p, needle)); p++)
		n++;
	ls_buf_release(&b);
	return n;
}

START_TEST(test_metrics_app_config_reloads)
{
	struct ls_metrics_app *a = NULL;

	ck_assert_int_eq(ls_metrics_app_new("1", "2", &a), 0);
	/* Both results exist at 0 from the start; the last reload is good. */
	ck_assert_uint_eq(count_in_render(a, RELOADS "success\"} 0\n"), 1);
	ck_assert_uint_eq(count_in_render(a, RELOADS "failure\"} 0\n"), 1);
	ck_assert_uint_eq(count_in_render(a, RELOAD_OK "1\n"), 1);
	ls_metrics_app_count_reload(a, false);
	ck_assert_uint_eq(count_in_render(a, RELOADS "failure\"} 1\n"), 1);
	ck_assert_uint_eq(count_in_render(a, RELOAD_OK "0\n"), 1);
	ls_metrics_app_count_reload(a, true);
	ls_metrics_app_count_reload(a, true);
	ck_assert_uint_eq(count_in_render(a, RELOADS "success\"} 2\n"), 1);
	ck_assert_uint_eq(count_in_render(a, RELOADS "failure\"} 1\n"), 1);
	ck_assert_uint_eq(count_in_render(a, RELOAD_OK "1\n"), 1);
	ls_metrics_app_count_reload(NULL, true);
	ls_metrics_app_free(a);
}
END_TEST

#define PART_SERIES "lagscale_partition_lag_messages{"
#define DROPPED     "lagscale_partition_series_dropped_total "

START_TEST(test_metrics_app_partition_series_off_by_default)
{
	struct ls_metrics_app *a = NULL;
	struct ls_metrics_scaler *s = NULL;
	struct ls_lag_snapshot snap;
	const int64_t p[][3] = {{0, 10, 110}, {1, 5, 7}, {2, 0, 3}};

	ck_assert_int_eq(ls_metrics_app_new("1", "2", &a), 0);
	ck_assert_int_eq(
	    ls_metrics_scaler_new(a, "orders", "shop", "Deployment/oc", "main", "oc-group", &s), 0);
	make_snap(&snap, 1000, "orders", 3, p);
	ck_assert_int_eq(ls_metrics_scaler_observe_lag(s, &snap), 0);
	ck_assert_uint_eq(count_in_render(a, PART_SERIES), 0);
	ck_assert_uint_eq(count_in_render(a, "# TYPE lagscale_partition_lag_messages"), 0);
	ck_assert_uint_eq(count_in_render(a, "lagscale_lag_messages{scaler=\"orders\","
	                                     "namespace=\"shop\",target=\"Deployment/"
	                                     "oc\",cluster=\"main\",group=\"oc-group\"} 105\n"),
	                  1);
	ck_assert_uint_eq(count_in_render(a, DROPPED "0\n"), 1);
	/* Enabled: the next read creates them; disabled: gone at once. */
	ls_metrics_app_set_partition_series(a, true, LS_METRICS_PARTITION_SERIES_CAP);
	ck_assert_uint_eq(count_in_render(a, PART_SERIES), 0);
	snap.time_ms = 2000;
	ck_assert_int_eq(ls_metrics_scaler_observe_lag(s, &snap), 0);
	ck_assert_uint_eq(count_in_render(a, PART_SERIES), 3);
	ck_assert_uint_eq(count_in_render(a, "partition=\"1\"} 2\n"), 1);
	ls_metrics_app_set_partition_series(a, true, LS_METRICS_PARTITION_SERIES_CAP);
	ck_assert_uint_eq(count_in_render(a, PART_SERIES), 3); /* the same: nothing changes */
	ls_metrics_app_set_partition_series(a, false, LS_METRICS_PARTITION_SERIES_CAP);
	ck_assert_uint_eq(count_in_render(a, PART_SERIES), 0);
	snap.time_ms = 3000;
	ck_assert_int_eq(ls_metrics_scaler_observe_lag(s, &snap), 0);
	ck_assert_uint_eq(count_in_render(a, PART_SERIES), 0);
	ck_assert_uint_eq(count_in_render(a, DROPPED "0\n"), 1);
	ls_metrics_app_set_partition_series(NULL, true, 1);
	ls_lag_snapshot_release(&snap);
	ls_metrics_scaler_free(s);
	ls_metrics_app_free(a);
}
END_TEST

START_TEST(test_metrics_app_partition_series_capped)
{
	struct ls_metrics_app *a = NULL;
	struct ls_metrics_scaler *s[3] = {NULL, NULL, NULL};
	struct ls_lag_snapshot snap[3];
	const int64_t p[][3] = {{0, 1, 2}, {1, 1, 3}, {2, 1, 4}, {3, 1, 5}};
	const char *names[] = {"a", "b", "c"};
	char want[64];

	ck_assert_int_eq(ls_metrics_app_new("1", "2", &a), 0);
	ls_metrics_app_set_partition_series(a, true, 6);
	for (int i = 0; i < 3; i++) {
		char topic[16];

		snprintf(topic, sizeof(topic), "t%d", i);
		ck_assert_int_eq(ls_metrics_scaler_new(a, names[i], "ns", "Deployment/x", "main",
		                                       names[i], &s[i]),
		                 0);
		make_snap(&snap[i], 1000, topic, 4, p);
	}
	/* 12 partitions, room for 6: a gets 4, b 2, c none; 6 refused. */
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(ls_metrics_scaler_observe_lag(s[i], &snap[i]), 0);
	ck_assert_uint_eq(count_in_render(a, PART_SERIES), 6);
	ck_assert_uint_eq(count_in_render(a, PART_SERIES "scaler=\"b\""), 2);
	ck_assert_uint_eq(count_in_render(a, PART_SERIES "scaler=\"c\""), 0);
	ck_assert_uint_eq(count_in_render(a, DROPPED "6\n"), 1);
	/* The same partitions again: nothing refused again, nothing counted. */
	for (int i = 0; i < 3; i++) {
		snap[i].time_ms = 2000;
		ck_assert_int_eq(ls_metrics_scaler_observe_lag(s[i], &snap[i]), 0);
	}
	ck_assert_uint_eq(count_in_render(a, PART_SERIES), 6);
	ck_assert_uint_eq(count_in_render(a, DROPPED "6\n"), 1);
	/* a goes: b takes all of its partitions, c the 2 left (2 refused). */
	ls_metrics_scaler_free(s[0]);
	s[0] = NULL;
	for (int i = 1; i < 3; i++) {
		snap[i].time_ms = 3000;
		ck_assert_int_eq(ls_metrics_scaler_observe_lag(s[i], &snap[i]), 0);
		ck_assert_uint_le(count_in_render(a, PART_SERIES), 6);
	}
	ck_assert_uint_eq(count_in_render(a, PART_SERIES "scaler=\"b\""), 4);
	ck_assert_uint_eq(count_in_render(a, PART_SERIES "scaler=\"c\""), 2);
	ck_assert_uint_eq(count_in_render(a, PART_SERIES "scaler=\"c\",namespace=\"ns\","
	                                                 "target=\"Deployment/x\",cluster=\"main\","
	                                                 "group=\"c\",topic=\"t2\","
	                                                 "partition=\"1\"} 2\n"),
	                  1);
	ck_assert_uint_eq(count_in_render(a, DROPPED "8\n"), 1);
	/* A cap below what exists: all go, and come back under the new cap. */
	ls_metrics_app_set_partition_series(a, true, 3);
	ck_assert_uint_eq(count_in_render(a, PART_SERIES), 0);
	for (int i = 1; i < 3; i++) {
		snap[i].time_ms = 4000;
		ck_assert_int_eq(ls_metrics_scaler_observe_lag(s[i], &snap[i]), 0);
	}
	ck_assert_uint_eq(count_in_render(a, PART_SERIES), 3);
	snprintf(want, sizeof(want), DROPPED "%d\n", 8 + 1 + 4);
	ck_assert_uint_eq(count_in_render(a, want), 1);
	/* Cap 0: none, every one counted. */
	ls_metrics_app_set_partition_series(a, true, 0);
	snap[1].time_ms = 5000;
	ck_assert_int_eq(ls_metrics_scaler_observe_lag(s[1], &snap[1]), 0);
	ck_assert_uint_eq(count_in_render(a, PART_SERIES), 0);
	snprintf(want, sizeof(want), DROPPED "%d\n", 8 + 1 + 4 + 4);
	ck_assert_uint_eq(count_in_render(a, want), 1);
	for (int i = 0; i < 3; i++) {
		ls_metrics_scaler_free(s[i]);
		ls_lag_snapshot_release(&snap[i]);
	}
	ls_metrics_app_free(a);
}
END_TEST

/* A follower renders only process-level series; its scalers' series go on
 * being updated and come back, warm, when it leads. */
START_TEST(test_metrics_app_follower_hides_scaler_series)
{
	struct ls_metrics_app *a = NULL;
	struct ls_metrics_scaler *s = NULL;
	struct ls_metrics_cluster *cl = NULL;
	struct ls_lag_snapshot snap;
	const int64_t p[][3] = {{0, 10, 110}, {1, 5, 7}};
	const int64_t q[][3] = {{0, 10, 310}, {1, 5, 7}};

	ck_assert_int_eq(ls_metrics_app_new("1", "2", &a), 0);
	ls_metrics_app_set_partition_series(a, true, LS_METRICS_PARTITION_SERIES_CAP);
	ck_assert_int_eq(
	    ls_metrics_scaler_new(a, "orders", "shop", "Deployment/oc", "main", "oc-group", &s), 0);
	ck_assert_int_eq(ls_metrics_cluster_new(a, "main", &cl), 0);
	ls_metrics_cluster_observe_collect(cl, 0.02);
	make_snap(&snap, 1000, "orders", 2, p);
	ck_assert_int_eq(ls_metrics_scaler_observe_lag(s, &snap), 0);
	ls_lag_snapshot_release(&snap);
	ls_metrics_scaler_observe_decision(s, 1, 2, 2, true, false, false, 0);
	ck_assert_uint_eq(count_in_render(a, "scaler=\"orders\""), 20);

	ls_metrics_app_set_leader(a, false);
	ck_assert_uint_eq(count_in_render(a, "scaler="), 0);
	ck_assert_uint_eq(count_in_render(a, "# TYPE lagscale_lag_messages"), 0);
	ck_assert_uint_eq(count_in_render(a, DROPPED), 0);
	ck_assert_uint_eq(count_in_render(a, "\nlagscale_is_leader 0\n"), 1);
	ck_assert_uint_eq(count_in_render(a, "lagscale_build_info{"), 1);
	ck_assert_uint_eq(count_in_render(a, "lagscale_collect_duration_seconds_count{"
	                                     "cluster=\"main\"} 1\n"),
	                  1);
	ck_assert_uint_eq(count_in_render(a, "\nprocess_resident_memory_bytes "), 1);
	/* Still deciding meanwhile: lag 200 more, an error counted. */
	make_snap(&snap, 2000, "orders", 2, q);
	ck_assert_int_eq(ls_metrics_scaler_observe_lag(s, &snap), 0);
	ls_lag_snapshot_release(&snap);
	ls_metrics_scaler_count_error(s, "scale");
	ck_assert_uint_eq(count_in_render(a, "scaler="), 0);

	ls_metrics_app_set_leader(a, true);
	ck_assert_uint_eq(count_in_render(a, "\nlagscale_is_leader 1\n"), 1);
	ck_assert_uint_eq(count_in_render(a, "scaler=\"orders\""), 20);
	ck_assert_uint_eq(count_in_render(a, "lagscale_lag_messages{scaler=\"orders\",namespace="
	                                     "\"shop\",target=\"Deployment/oc\",cluster=\"main\","
	                                     "group=\"oc-group\"} 302\n"),
	                  1);
	ck_assert_uint_eq(count_in_render(a, "stage=\"scale\"} 1\n"), 1);
	/* The lag-seconds history went on too: end 110 at 1 s and 310 at 2 s
	 * put offset 10 at 0.5 s, so 1.5 s of waiting at 2 s. */
	ck_assert_double_eq_tol(ls_metrics_scaler_lag_seconds(s), 1.5, 1e-9);
	ls_metrics_scaler_free(s);
	ls_metrics_cluster_free(cl);
	ls_metrics_app_free(a);
}
END_TEST

/* A partition's committed offset has a series only while the group has
 * one; its end offset and lag always do. */
START_TEST(test_metrics_app_committed_offset_follows_group)
{
	struct ls_metrics_app *a = NULL;
	struct ls_metrics_scaler *s = NULL;
	struct ls_lag_snapshot snap;
	const int64_t none[][3] = {{0, 40, 100}, {1, LS_OFFSET_NONE, 7}};
	const int64_t some[][3] = {{0, 50, 120}, {1, 3, 9}};

	ck_assert_int_eq(ls_metrics_app_new("1", "2", &a), 0);
	ls_metrics_app_set_partition_series(a, true, LS_METRICS_PARTITION_SERIES_CAP);
	ck_assert_int_eq(ls_metrics_scaler_new(a, "s", "ns", "Deployment/x", "c", "g", &s), 0);
	make_snap(&snap, 1000, "t", 2, none);
	ck_assert_int_eq(ls_metrics_scaler_observe_lag(s, &snap), 0);
	ls_lag_snapshot_release(&snap);
	ck_assert_uint_eq(count_in_render(a, "lagscale_partition_committed_offset{"), 1);
	ck_assert_uint_eq(count_in_render(a, "topic=\"t\",partition=\"0\"} 40\n"), 1);
	ck_assert_uint_eq(count_in_render(a, "lagscale_partition_end_offset{"), 2);
	ck_assert_uint_eq(count_in_render(a, "topic=\"t\",partition=\"1\"} 7\n"), 1);
	make_snap(&snap, 2000, "t", 2, some);
	ck_assert_int_eq(ls_metrics_scaler_observe_lag(s, &snap), 0);
	ls_lag_snapshot_release(&snap);
	ck_assert_uint_eq(count_in_render(a, "lagscale_partition_committed_offset{"), 2);
	ck_assert_uint_eq(count_in_render(a, "topic=\"t\",partition=\"1\"} 3\n"), 1);
	ck_assert_uint_eq(count_in_render(a, "topic=\"t\",partition=\"0\"} 120\n"), 1);
	make_snap(&snap, 3000, "t", 2, none);
	ck_assert_int_eq(ls_metrics_scaler_observe_lag(s, &snap), 0);
	ls_lag_snapshot_release(&snap);
	ck_assert_uint_eq(count_in_render(a, "lagscale_partition_committed_offset{"), 1);
	/* The cap counts partitions: one partition's three series fit cap 1. */
	ls_metrics_app_set_partition_series(a, true, 1);
	make_snap(&snap, 4000, "t", 2, some);
	ck_assert_int_eq(ls_metrics_scaler_observe_lag(s, &snap), 0);
	ls_lag_snapshot_release(&snap);
	ck_assert_uint_eq(count_in_render(a, "partition=\"0\"}"), 3);
	ck_assert_uint_eq(count_in_render(a, "partition=\"1\"}"), 0);
	ls_metrics_scaler_free(s);
	ck_assert_uint_eq(count_in_render(a, "partition="), 0);
	ls_metrics_app_free(a);
}
END_TEST

START_TEST(test_metrics_process_reads_proc)
{
	struct ls_metrics_process_stats st, st2;
	double now = (double)ls_clock_wall_ms() / 1000.0;
	int fd;

	ck_assert_int_eq(ls_metrics_process_read(NULL), -EINVAL);
	ck_assert_int_eq(ls_metrics_process_read(&st), 0);
	ck_assert_double_gt(st.resident_bytes, 0);
	ck_assert_double_ge(st.virtual_bytes, st.resident_bytes);
	ck_assert_double_ge(st.cpu_seconds, 0);
	/* Started a moment ago (btime has a one-second resolution). */
	ck_assert_double_le(st.start_time_seconds, now + 2);
	ck_assert_double_ge(st.start_time_seconds, now - 3600);
	ck_assert_double_ge(st.max_fds, st.open_fds);
	/* One more descriptor shows as one more. */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ls_metrics_process_read(&st2), 0);
	ck_assert_double_eq(st2.open_fds, st.open_fds + 1);
	close(fd);
	ck_assert_int_eq(ls_metrics_process_read(&st2), 0);
	ck_assert_double_eq(st2.open_fds, st.open_fds);
	ck_assert_double_ge(st2.cpu_seconds, st.cpu_seconds);
}
END_TEST

START_TEST(test_metrics_leading_labels)
{
	struct ls_metrics *m = NULL;
	struct ls_metrics_family *f = NULL;
	struct ls_metrics_labels *lead = NULL, *other = NULL;
	struct ls_metrics_series *x = NULL, *y = NULL, *sentinel = (struct ls_metrics_series *)&m;
	const char *const names[] = {"a", "b", "c", NULL};
	const char *const lead_names[] = {"a", "b", NULL}, *const other_names[] = {"b", NULL};
	const char *const all[] = {"1", "q\"uote", "3"};
	const char *const lead_values[] = {"1", "q\"uote"}, *const rest[] = {"3"};
	const char *const null_value[] = {"1", NULL};
	struct ls_buf b;

	ls_buf_init(&b, 0);
	ck_assert_int_eq(ls_metrics_new(&m), 0);
	ck_assert_int_eq(ls_metrics_family_new(m, "f", "F.", LS_METRICS_GAUGE, names, NULL, 0, &f),
	                 0);
	ck_assert_int_eq(ls_metrics_labels_new(lead_names, null_value, &lead), -EINVAL);
	ck_assert_ptr_null(lead);
	ck_assert_int_eq(ls_metrics_labels_new(lead_names, lead_values, &lead), 0);
	ck_assert_int_eq(ls_metrics_labels_new(other_names, rest, &other), 0);
	/* The same series either way, its labels escaped once. */
	ck_assert_int_eq(ls_metrics_series_get_with(f, lead, rest, &x), 0);
	ck_assert_int_eq(ls_metrics_series_get(f, all, &y), 0);
	ck_assert_ptr_eq(x, y);
	ck_assert_uint_eq(ls_metrics_family_size(f), 1);
	ls_metrics_set(x, 2);
	ck_assert_int_eq(ls_metrics_render(m, &b), 0);
	ck_assert_str_eq(ls_buf_str(&b),
	                 "# HELP f F.\n# TYPE f gauge\nf{a=\"1\",b=\"q\\\"uote\",c=\"3\"} 2\n");
	/* Leading labels that are not the family's first: refused. */
	ck_assert_int_eq(ls_metrics_series_get_with(f, other, rest, &sentinel), -EINVAL);
	ck_assert_ptr_eq(sentinel, (struct ls_metrics_series *)&m);
	ck_assert_int_eq(ls_metrics_series_get_with(f, lead, NULL, &sentinel), -EINVAL);
	ck_assert_int_eq(ls_metrics_series_get_with(f, NULL, all, &y), 0);
	ck_assert_ptr_eq(x, y);
	ls_metrics_labels_free(lead);
	ls_metrics_labels_free(other);
	ls_metrics_labels_free(NULL);
	ls_buf_release(&b);
	ls_metrics_free(m);
}
END_TEST

/* Series made with leading labels share their text: it outlives the
 * caller's handle as long as a series made with it does, in histograms
 * too, and a line longer than the stack is written whole. */
START_TEST(test_metrics_leading_labels_shared)
{
	static const char *const names[] = {"a", "b", NULL}, *const lead_names[] = {"a", NULL};
	struct ls_metrics *m = NULL;
	struct ls_metrics_family *g = NULL, *h = NULL, *bare = NULL;
	struct ls_metrics_labels *lead = NULL, *lng = NULL;
	struct ls_metrics_series *x = NULL, *y = NULL, *hs = NULL, *l1 = NULL, *hb = NULL, *again;
	const double bounds[] = {1};
	char big[700], want[800], *text;
	const char *const lead_values[] = {"1"}, *const big_values[] = {big};
	const char *const rx[] = {"x"}, *const ry[] = {"y"};

	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(ls_metrics_new(&m), 0);
	ck_assert_int_eq(ls_metrics_family_new(m, "g", "G.", LS_METRICS_GAUGE, names, NULL, 0, &g),
	                 0);
	ck_assert_int_eq(
	    ls_metrics_family_new(m, "h", "H.", LS_METRICS_HISTOGRAM, names, bounds, 1, &h), 0);
	ck_assert_int_eq(
	    ls_metrics_family_new(m, "n", "N.", LS_METRICS_HISTOGRAM, NULL, bounds, 1, &bare), 0);
	ck_assert_int_eq(ls_metrics_labels_new(lead_names, lead_values, &lead), 0);
	ck_assert_int_eq(ls_metrics_labels_new(lead_names, big_values, &lng), 0);
	ck_assert_int_eq(ls_metrics_series_get_with(g, lead, rx, &x), 0);
	ck_assert_int_eq(ls_metrics_series_get_with(g, lead, ry, &y), 0);
	ck_assert_int_eq(ls_metrics_series_get_with(h, lead, rx, &hs), 0);
	ck_assert_int_eq(ls_metrics_series_get_with(g, lng, rx, &l1), 0);
	ck_assert_int_eq(ls_metrics_series_get(bare, NULL, &hb), 0);
	/* The handles go; the series keep the text. */
	ls_metrics_labels_free(lead);
	ls_metrics_labels_free(lng);
	ls_metrics_set(x, 1);
	ls_metrics_set(y, 2);
	ls_metrics_set(l1, 3);
	ls_metrics_observe(hs, 0.5);
	ls_metrics_observe(hs, 4);
	ls_metrics_observe(hb, 2);
	ck_assert(ls_metrics_value(hs) == 2);
	ck_assert_int_eq(ls_metrics_series_get(g, (const char *const[]){"1", "y"}, &again), 0);
	ck_assert_ptr_eq(again, y);
	ls_metrics_series_remove(x);
	text = render(m);
	snprintf(want, sizeof(want), "g{a=\"%s\",b=\"x\"} 3\n", big);
	ck_assert_msg(strstr(text, "# TYPE g gauge\ng{a=\"1\",b=\"y\"} 2\n") != NULL, "%s", text);
	ck_assert_ptr_nonnull(strstr(text, want));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE h histogram\n"
	                                   "h_bucket{a=\"1\",b=\"x\",le=\"1\"} 1\n"
	                                   "h_bucket{a=\"1\",b=\"x\",le=\"+Inf\"} 2\n"
	                                   "h_sum{a=\"1\",b=\"x\"} 4.5\n"
	                                   "h_count{a=\"1\",b=\"x\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE n histogram\n"
	                                   "n_bucket{le=\"1\"} 0\n"
	                                   "n_bucket{le=\"+Inf\"} 1\n"
	                                   "n_sum 2\n"
	                                   "n_count 1\n"));
	free(text);
	ls_metrics_free(m);
}
END_TEST

START_TEST(test_metrics_family_hidden)
{
	struct ls_metrics *m = NULL;
	struct ls_metrics_family *f = NULL, *g = NULL;
	struct ls_metrics_series *x = NULL, *y = NULL;
	struct ls_buf b;

	ls_buf_init(&b, 0);
	ck_assert_int_eq(ls_metrics_new(&m), 0);
	ck_assert_int_eq(ls_metrics_family_new(m, "a", "A.", LS_METRICS_GAUGE, NULL, NULL, 0, &f),
	                 0);
	ck_assert_int_eq(ls_metrics_family_new(m, "b", "B.", LS_METRICS_COUNTER, NULL, NULL, 0, &g),
	                 0);
	ck_assert_int_eq(ls_metrics_series_get(f, NULL, &x), 0);
	ck_assert_int_eq(ls_metrics_series_get(g, NULL, &y), 0);
	ls_metrics_family_set_hidden(f, true);
	ls_metrics_set(x, 7);
	ls_metrics_add(y, 2);
	ck_assert_int_eq(ls_metrics_render(m, &b), 0);
	ck_assert_str_eq(ls_buf_str(&b), "# HELP b B.\n# TYPE b counter\nb 2\n");
	ls_metrics_family_set_hidden(f, false);
	ls_metrics_family_set_hidden(NULL, true);
	ls_buf_reset(&b);
	ck_assert_int_eq(ls_metrics_render(m, &b), 0);
	ck_assert_str_eq(ls_buf_str(&b),
	                 "# HELP a A.\n# TYPE a gauge\na 7\n# HELP b B.\n# TYPE b counter\nb 2\n");
	ls_buf_release(&b);
	ls_metrics_free(m);
}
END_TEST

/* One HTTP/1.0 request to 127.0.0.1:port; returns the status, body in out. */
static int http_get(int port, const char *method, const char *path, char *out, size_t outlen)
{
	struct sockaddr_in sa;
	struct timeval tv = {.tv_sec = 5};
	char req[256], resp[8192];
	size_t got = 0;
	ssize_t n;
	int fd, status = -1;
	const char *body;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", method, path);
	ck_assert_int_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (got < sizeof(resp) - 1 && (n = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
		got += (size_t)n;
	resp[got] = '\0';
	close(fd);
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	body = strstr(resp, "\r\n\r\n");
	snprintf(out, outlen, "%s", body ? body + 4 : "");
	if (strstr(resp, "text/plain; version=0.0.4"))
		strncat(out, "[exposition content type]", outlen - strlen(out) - 1);
	return status;
}

START_TEST(test_metrics_server_slow_scrape_keeps_its_text)
{
	/* A scrape still sending 4 MB when the next text is published (and
	 * the one after) gets the whole text it started with: a response
	 * shares the text with the server (no copy), and holds it until sent. */
	enum { BIG = 4 << 20 };
	struct ls_metrics_server *s = NULL;
	struct ls_buf text;
	struct sockaddr_in sa;
	struct timeval tv = {.tv_sec = 10};
	int rcvbuf = 4096, fd;
	char err[256], req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
	char *resp = malloc(BIG + 4096), *body;
	size_t got = 0;
	ssize_t n;

	ck_assert_ptr_nonnull(resp);
	ck_assert_int_eq(ls_metrics_server_new("127.0.0.1:0", &s, err, sizeof(err)), 0);
	ls_buf_init(&text, 0);
	for (size_t i = 0; i < BIG / 16; i++)
		ls_buf_puts(&text, "old_series 1234\n");
	ls_metrics_server_publish(s, &text);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)ls_metrics_server_port(s));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	/* The first bytes came: the response is being sent. */
	while (got < 100 && (n = read(fd, resp + got, 100 - got)) > 0)
		got += (size_t)n;
	ck_assert_uint_eq(got, 100);
	ls_buf_puts(&text, "new 1\n");
	ls_metrics_server_publish(s, &text);
	ls_buf_puts(&text, "newer 2\n");
	ls_metrics_server_publish(s, &text);
	while (got < BIG + 4095 && (n = read(fd, resp + got, BIG + 4095 - got)) > 0)
		got += (size_t)n;
	close(fd);
	resp[got] = '\0';
	body = strstr(resp, "\r\n\r\n");
	ck_assert_ptr_nonnull(body);
	body += 4;
	ck_assert_uint_eq(strlen(body), BIG / 16 * 16);
	for (size_t i = 0; i < BIG / 16; i++)
		ck_assert(memcmp(body + i * 16, "old_series 1234\n", 16) == 0);
	/* The next scrape gets the last text. */
	{
		char small[256];

		ck_assert_int_eq(http_get(ls_metrics_server_port(s), "GET", "/metrics", small,
					  sizeof(small)),
				 200);
		ck_assert_str_eq(small, "newer 2\n[exposition content type]");
	}
	ls_metrics_server_free(s);
	free(resp);
}
END_TEST

START_TEST(test_metrics_server_endpoints)
{
	struct ls_metrics_server *s = NULL, *sentinel = (struct ls_metrics_server *)&s;
	struct ls_buf text;
	char body[8192], err[256];
	int port;

	ck_assert_int_eq(ls_metrics_server_new("127.0.0.1:0", &s, err, sizeof(err)), 0);
	port = ls_metrics_server_port(s);
	ck_assert_int_gt(port, 0);
	/* Before the first tick: alive (the clock started), not ready. */
	ck_assert_int_eq(http_get(port, "GET", "/healthz", body, sizeof(body)), 200);
	ck_assert_int_eq(http_get(port, "GET", "/readyz", body, sizeof(body)), 503);
	ck_assert_int_eq(http_get(port, "GET", "/metrics", body, sizeof(body)), 200);
	ck_assert_str_eq(body, "[exposition content type]");
	ls_buf_init(&text, 0);
	ls_buf_puts(&text, "x 1\n");
	ls_metrics_server_publish(s, &text);
	ck_assert_uint_eq(text.len, 0); /* the server took the text */
	ck_assert_ptr_null(text.data);
	ls_metrics_server_tick(s, ls_clock_mono_ms());
	ls_metrics_server_set_ready(s, true);
	ck_assert_int_eq(http_get(port, "GET", "/metrics", body, sizeof(body)), 200);
	ck_assert_str_eq(body, "x 1\n[exposition content type]");
	ck_assert_int_eq(http_get(port, "HEAD", "/metrics", body, sizeof(body)), 200);
	ck_assert_int_eq(http_get(port, "GET", "/readyz", body, sizeof(body)), 200);
	ls_buf_puts(&text, "x 2\n");
	ls_metrics_server_publish(s, &text);
	ck_assert_int_eq(http_get(port, "GET", "/metrics", body, sizeof(body)), 200);
	ck_assert_str_eq(body, "x 2\n[exposition content type]");
	/* A tick older than the limit: 503, with the reason. */
	ls_metrics_server_set_stale_after(s, 1000);
	ls_metrics_server_tick(s, ls_clock_mono_ms() - 5000);
	ck_assert_int_eq(http_get(port, "GET", "/healthz", body, sizeof(body)), 503);
	ck_assert_ptr_nonnull(strstr(body, "stale"));
	ls_metrics_server_tick(s, ls_clock_mono_ms());
	ck_assert_int_eq(http_get(port, "GET", "/healthz", body, sizeof(body)), 200);
	ck_assert_int_eq(http_get(port, "GET", "/nope", body, sizeof(body)), 404);
	ck_assert_int_eq(http_get(port, "POST", "/metrics", body, sizeof(body)), 405);
	/* The port is taken: the second server says so, ret_ untouched. */
	{
		char addr[32];

		snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
		ck_assert_int_eq(ls_metrics_server_new(addr, &sentinel, err, sizeof(err)),
		                 -EADDRINUSE);
		ck_assert_ptr_eq(sentinel, (struct ls_metrics_server *)&s);
	}
	ls_buf_release(&text);
	ls_metrics_server_free(s);
	ls_metrics_server_free(NULL);
}
END_TEST

/* The loop renders when a scrape read the last text, at most once per
 * render interval; probes and HEAD ask for nothing. */
START_TEST(test_metrics_server_render_wanted)
{
	struct ls_metrics_server *s = NULL;
	struct ls_buf text;
	char body[8192], err[256];
	int64_t now;
	int port;

	ck_assert_int_eq(ls_metrics_server_new("127.0.0.1:0", &s, err, sizeof(err)), 0);
	port = ls_metrics_server_port(s);
	ls_buf_init(&text, 0);
	/* Nothing published yet: render now, scraped or not. */
	ck_assert(ls_metrics_server_render_wanted(s, ls_clock_mono_ms()));
	ls_buf_puts(&text, "x 1\n");
	ls_metrics_server_publish(s, &text);
	now = ls_clock_mono_ms();
	/* Nobody read it: no render however long ago it was published. */
	ck_assert(!ls_metrics_server_render_wanted(s, now));
	ck_assert(!ls_metrics_server_render_wanted(s, now + 3600000));
	ck_assert_int_eq(http_get(port, "GET", "/healthz", body, sizeof(body)), 200);
	ck_assert_int_eq(http_get(port, "GET", "/readyz", body, sizeof(body)), 503);
	ck_assert_int_eq(http_get(port, "HEAD", "/metrics", body, sizeof(body)), 200);
	ck_assert_int_eq(http_get(port, "GET", "/nope", body, sizeof(body)), 404);
	ck_assert(!ls_metrics_server_render_wanted(s, now + 3600000));
	ck_assert_uint_eq(ls_metrics_server_scrapes(s), 0);
	/* A scrape read it: a render once the interval (5 s) has passed. */
	ck_assert_int_eq(http_get(port, "GET", "/metrics", body, sizeof(body)), 200);
	ck_assert_str_eq(body, "x 1\n[exposition content type]");
	ck_assert_uint_eq(ls_metrics_server_scrapes(s), 1);
	ck_assert(!ls_metrics_server_render_wanted(s, now + 4000));
	ck_assert(ls_metrics_server_render_wanted(s, now + 5000));
	/* A shorter interval; a negative one is ignored. */
	ls_metrics_server_set_render_interval(s, 1000);
	ls_metrics_server_set_render_interval(s, -1);
	ck_assert(ls_metrics_server_render_wanted(s, now + 1000));
	ls_metrics_server_set_render_interval(s, 0);
	ck_assert(ls_metrics_server_render_wanted(s, now));
	/* Publishing answers it, until the next scrape. */
	ls_buf_puts(&text, "x 2\n");
	ls_metrics_server_publish(s, &text);
	ck_assert(!ls_metrics_server_render_wanted(s, ls_clock_mono_ms()));
	ck_assert_int_eq(http_get(port, "GET", "/metrics", body, sizeof(body)), 200);
	ck_assert_int_eq(http_get(port, "GET", "/metrics", body, sizeof(body)), 200);
	ck_assert_str_eq(body, "x 2\n[exposition content type]");
	ck_assert_uint_eq(ls_metrics_server_scrapes(s), 3);
	ck_assert(ls_metrics_server_render_wanted(s, ls_clock_mono_ms()));
	ck_assert(!ls_metrics_server_render_wanted(NULL, 0));
	ck_assert_uint_eq(ls_metrics_server_scrapes(NULL), 0);
	ls_metrics_server_set_render_interval(NULL, 0);
	ls_buf_release(&text);
	ls_metrics_server_free(s);
}
END_TEST

/* A loop that renders "x N" (N = 1, 2, ...) only when the server wants it. */
struct fake_loop {
	struct ls_metrics_server *s;
	volatile int stop;
	int renders;
};

static void *fake_loop_run(void *arg)
{
	struct fake_loop *l = arg;
	struct ls_buf text;

	ls_buf_init(&text, 0);
	while (!l->stop) {
		if (ls_metrics_server_render_wanted(l->s, ls_clock_mono_ms())) {
			ls_buf_printf(&text, "x %d\n", ++l->renders);
			ls_metrics_server_publish(l->s, &text);
		}
		ls_clock_sleep_ms(5);
	}
	ls_buf_release(&text);
	return NULL;
}

START_TEST(test_metrics_server_drops_stale_text)
{
	/* Text a render interval old is dropped at the loop's next tick: a
	 * scrape then needs a fresh render, and with no loop to render it
	 * gets 503 after its second, not the old text. */
	struct ls_metrics_server *s = NULL;
	struct ls_buf text;
	char body[8192], err[256];
	int64_t now;
	int port;

	ck_assert_int_eq(ls_metrics_server_new("127.0.0.1:0", &s, err, sizeof(err)), 0);
	port = ls_metrics_server_port(s);
	ls_buf_init(&text, 0);
	ls_buf_puts(&text, "x 1\n");
	ls_metrics_server_publish(s, &text);
	now = ls_clock_mono_ms();
	/* A tick within the interval keeps it. */
	ls_metrics_server_tick(s, now + 4000);
	ck_assert_int_eq(http_get(port, "GET", "/metrics", body, sizeof(body)), 200);
	ck_assert_str_eq(body, "x 1\n[exposition content type]");
	/* A tick at the interval drops it. */
	ls_metrics_server_tick(s, now + 5000);
	ls_metrics_server_set_render_interval(s, 0);
	ck_assert_int_eq(http_get(port, "GET", "/metrics", body, sizeof(body)), 503);
	ck_assert_ptr_nonnull(strstr(body, "not rendered in time"));
	ck_assert_int_eq(http_get(port, "HEAD", "/metrics", body, sizeof(body)), 200);
	/* The scrapes asked for a render; the next text is served. */
	ck_assert(ls_metrics_server_render_wanted(s, ls_clock_mono_ms()));
	ls_buf_puts(&text, "x 2\n");
	ls_metrics_server_publish(s, &text);
	ls_metrics_server_set_render_interval(s, 5000);
	ck_assert_int_eq(http_get(port, "GET", "/metrics", body, sizeof(body)), 200);
	ck_assert_str_eq(body, "x 2\n[exposition content type]");
	ls_metrics_server_free(s);
}
END_TEST

START_TEST(test_metrics_server_scrape_waits_for_render)
{
	/* Text older than the render interval: the scrape gets the text the
	 * loop renders for it, not the old one; nothing is rendered unasked. */
	struct fake_loop l = {0};
	struct ls_buf text;
	pthread_t th;
	char body[8192], err[256];

	ck_assert_int_eq(ls_metrics_server_new("127.0.0.1:0", &l.s, err, sizeof(err)), 0);
	ls_buf_init(&text, 0);
	ls_buf_puts(&text, "x 0\n");
	ls_metrics_server_publish(l.s, &text);
	ls_metrics_server_set_render_interval(l.s, 0);
	ck_assert_int_eq(pthread_create(&th, NULL, fake_loop_run, &l), 0);
	ck_assert_int_eq(
	    http_get(ls_metrics_server_port(l.s), "GET", "/metrics", body, sizeof(body)), 200);
	ck_assert_str_eq(body, "x 1\n[exposition content type]");
	ck_assert_int_eq(
	    http_get(ls_metrics_server_port(l.s), "GET", "/metrics", body, sizeof(body)), 200);
	ck_assert_str_eq(body, "x 2\n[exposition content type]");
	l.stop = 1;
	pthread_join(th, NULL);
	ck_assert_int_eq(l.renders, 2);
	ls_buf_release(&text);
	ls_metrics_server_free(l.s);
}
END_TEST

START_TEST(test_metrics_server_bad_address)
{
	static const char *const bad[] = {
	    "",          "8080",  "127.0.0.1:",  "127.0.0.1:65536", "127.0.0.1:x",
	    "[::1]8080", "a:b:c", "999.1.1.1:80"};
	struct ls_metrics_server *s = (struct ls_metrics_server *)&bad;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(ls_metrics_server_new(bad[i], &s, err, sizeof(err)) == -EINVAL, "%s",
		              bad[i]);
		ck_assert_msg(err[0], "no message for %s", bad[i]);
	}
	ck_assert_int_eq(ls_metrics_server_new(NULL, &s, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_eq(s, (struct ls_metrics_server *)&bad);
	ck_assert(ls_metrics_server_healthy(1000, 4000, 3000));
	ck_assert(!ls_metrics_server_healthy(1000, 4001, 3000));
}
END_TEST

/* Logs: a librdkafka property that holds a secret never reaches a line. */
START_TEST(test_metrics_log_redacts_secrets)
{
	FILE *f = tmpfile();
	char line[2048];
	size_t n;
	const struct ls_log_field fields[] = {
	    {"sasl.username", "lagscale"},
	    {"sasl.password", "hunter2"},
	    {"ssl.key.location", "/etc/tls/key.pem"},
	    {"ssl.key.password", "s3cret"},
	    {"token", "eyJhbGciOi"},
	};

	ck_assert_ptr_nonnull(f);
	ls_log_setup(LS_LOG_DEBUG, LS_LOG_JSON, f);
	ls_log_fields(LS_LOG_INFO, "orders", fields, 5, "kafka client for \"%s\"", "main");
	ls_log_setup(LS_LOG_DEBUG, LS_LOG_TEXT, f);
	ls_log_fields(LS_LOG_WARN, NULL, fields, 5, "text form");
	fflush(f);
	rewind(f);
	n = fread(line, 1, sizeof(line) - 1, f);
	line[n] = '\0';
	fclose(f);
	ls_log_setup(LS_LOG_INFO, LS_LOG_TEXT, NULL);
	ck_assert_ptr_null(strstr(line, "hunter2"));
	ck_assert_ptr_null(strstr(line, "s3cret"));
	ck_assert_ptr_null(strstr(line, "eyJhbGciOi"));
	ck_assert_msg(strstr(line,
	                     "\"level\":\"info\",\"scaler\":\"orders\","
	                     "\"message\":\"kafka client for \\\"main\\\"\","
	                     "\"fields\":{\"sasl.username\":\"lagscale\","
	                     "\"sasl.password\":\"[redacted]\","
	                     "\"ssl.key.location\":\"/etc/tls/key.pem\","
	                     "\"ssl.key.password\":\"[redacted]\",\"token\":\"[redacted]\"}}\n"),
	              "%s", line);
	ck_assert_msg(strstr(line,
	                     "warn  text form sasl.username=\"lagscale\" "
	                     "sasl.password=\"[redacted]\" ssl.key.location=\"/etc/tls/key.pem\""),
	              "%s", line);
	/* A secret's value inside free text (a library's error message). */
	{
		char msg[128] = "auth failed for password hunter2 (hunter2)";

		ls_log_scrub(msg, sizeof(msg), "hunter2");
		ck_assert_str_eq(msg, "auth failed for password [redacted] ([redacted])");
		ls_log_scrub(msg, sizeof(msg), "");
		ck_assert_str_eq(msg, "auth failed for password [redacted] ([redacted])");
	}
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("registry");
	TCase *lt = tcase_create("lagtime");
	TCase *app = tcase_create("app");
	TCase *srv = tcase_create("server");
	TCase *log = tcase_create("log");

	tcase_add_test(tc, test_metrics_exposition_exact);
	tcase_add_test(tc, test_metrics_escaping);
	tcase_add_test(tc, test_metrics_removal);
	tcase_add_test(tc, test_metrics_refuses_bad_declarations);
	tcase_add_test(tc, test_metrics_format_value);
	tcase_add_test(tc, test_metrics_format_value_round_trips);
	tcase_add_test(tc, test_metrics_label_text_prerendered);
	tcase_add_test(tc, test_metrics_family_hidden);
	tcase_add_test(tc, test_metrics_leading_labels);
	tcase_add_test(tc, test_metrics_leading_labels_shared);
	tcase_add_test(lt, test_metrics_lagtime_interpolates);
	tcase_add_test(lt, test_metrics_lagtime_flat_runs_and_bounds);
	tcase_add_test(lt, test_metrics_lagtime_forgets_what_it_cannot_use);
	tcase_add_test(lt, test_metrics_lagtime_table_follows_partitions);
	tcase_add_test(app, test_metrics_app_scaler_series);
	tcase_add_test(app, test_metrics_app_object_scaler_name);
	tcase_add_test(app, test_metrics_app_error_stages_are_bounded);
	tcase_add_test(app, test_metrics_app_config_reloads);
	tcase_add_test(app, test_metrics_app_partition_series_off_by_default);
	tcase_add_test(app, test_metrics_app_partition_series_capped);
	tcase_add_test(app, test_metrics_app_follower_hides_scaler_series);
	tcase_add_test(app, test_metrics_app_committed_offset_follows_group);
	tcase_add_test(app, test_metrics_process_reads_proc);
	tcase_add_test(srv, test_metrics_server_endpoints);
	tcase_add_test(srv, test_metrics_server_slow_scrape_keeps_its_text);
	tcase_add_test(srv, test_metrics_server_render_wanted);
	tcase_add_test(srv, test_metrics_server_scrape_waits_for_render);
	tcase_add_test(srv, test_metrics_server_drops_stale_text);
	tcase_add_test(srv, test_metrics_server_bad_address);
	tcase_add_test(log, test_metrics_log_redacts_secrets);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, lt);
	suite_add_tcase(s, app);
	suite_add_tcase(s, srv);
	suite_add_tcase(s, log);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
