/* test-util.c - lib/util: strict parsing (parse.h), lag math (offsets.h),
 * buffers with caps (buf.h), backoff, watching the config (filewatch.h),
 * redaction of messages by key (log.h), YAML streams (yamltree.h). */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/backoff.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/filewatch.h"
#include "util/log.h"
#include "util/offsets.h"
#include "util/parse.h"
#include "util/strset.h"
#include "util/yamltree.h"

/* Issue 15: a short "+h:m" offset was skipped as if it had six bytes,
 * reading past the end of the string (ASan: heap-buffer-overflow). */
START_TEST(test_util_rfc3339_offsets)
{
	static const char *bad[] = {"2026-01-01T00:00:00+1:2", "2026-01-01T00:00:00+01:0x",
	                            "2026-01-01T00:00:00+01:0",  "2026-01-01T00:00:00-1",
	                            "2026-01-01T00:00:00+",      "2026-01-01T00:00:00+24:00",
	                            "2026-01-01T00:00:00+01:60"};
	int64_t ms = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* On the heap, exactly sized, so that a read past the end is seen. */
		char *s = strdup(bad[i]);

		ck_assert_int_eq(ls_clock_parse_rfc3339(s, &ms), -EINVAL);
		ck_assert_int_eq(ms, 42);
		free(s);
	}
	ck_assert_int_eq(ls_clock_parse_rfc3339("2026-01-01T01:30:00+01:30", &ms), 0);
	ck_assert_int_eq(ms, 1767225600000LL);
	ck_assert_int_eq(ls_clock_parse_rfc3339("2026-01-01T00:00:00.5-00:30", &ms), 0);
	ck_assert_int_eq(ms, 1767225600000LL + 1800000 + 500);
	ck_assert_int_eq(ls_clock_parse_rfc3339("2026-01-01T00:00:00Z", &ms), 0);
	ck_assert_int_eq(ms, 1767225600000LL);
	ms = 42;
	ck_assert_int_lt(ls_clock_parse_rfc3339("2147483647-01-01T00:00:00Z", &ms), 0);
	ck_assert_int_eq(ms, 42);
}
END_TEST

START_TEST(test_util_integral)
{
	int64_t v = 42;

	ck_assert_int_eq(ls_parse_integral(3.0, 0, 10, &v), 0);
	ck_assert_int_eq(v, 3);
	ck_assert_int_eq(ls_parse_integral(-9223372036854775808.0, INT64_MIN, INT64_MAX, &v), 0);
	ck_assert(v == INT64_MIN);
	v = 42;
	ck_assert_int_eq(ls_parse_integral(1e10, 0, INT32_MAX, &v), -ERANGE);
	ck_assert_int_eq(ls_parse_integral(1e40, INT64_MIN, INT64_MAX, &v), -ERANGE);
	ck_assert_int_eq(ls_parse_integral(9223372036854775808.0, INT64_MIN, INT64_MAX, &v),
	                 -ERANGE);
	ck_assert_int_eq(ls_parse_integral(-1.0, 0, 10, &v), -ERANGE);
	ck_assert_int_eq(ls_parse_integral(1.5, 0, 10, &v), -EINVAL);
	ck_assert_int_eq(ls_parse_integral(NAN, 0, 10, &v), -EINVAL);
	ck_assert_int_eq(ls_parse_integral(INFINITY, 0, 10, &v), -ERANGE);
	ck_assert_int_eq(v, 42);
}
END_TEST

/* Issue 15: "9223372036854775" parsed to INT64_MIN. */
START_TEST(test_util_duration_limit)
{
	int64_t ms = 42;

	ck_assert_int_eq(ls_parse_duration_ms("9223372036854775", &ms), -ERANGE);
	ck_assert_int_eq(ls_parse_duration_ms("9223372036854775s", &ms), -ERANGE);
	ck_assert_int_eq(ls_parse_duration_ms("99999999999999h", &ms), -ERANGE);
	ck_assert_int_eq(ls_parse_duration_ms("8784h0m0s1ms", &ms), -ERANGE);
	ck_assert_int_eq(ms, 42);
	ck_assert_int_eq(ls_parse_duration_ms("8784h", &ms), 0);
	ck_assert_int_eq(ms, LS_PARSE_DURATION_MAX_MS);
	ck_assert_int_eq(ls_parse_duration_ms("31622400", &ms), 0);
	ck_assert_int_eq(ms, LS_PARSE_DURATION_MAX_MS);
}
END_TEST

/* Issue 15: a 38-byte topicPattern made regcomp take 8 GB. */
START_TEST(test_util_regex_check)
{
	char long_re[LS_REGEX_MAX_LEN + 2];

	ck_assert_int_eq(ls_parse_regex_check("((((a{1,100}){1,100}){1,100}){1,100})"), -ERANGE);
	ck_assert_int_eq(ls_parse_regex_check("(a{1,100}){11}"), -ERANGE);
	ck_assert_int_eq(ls_parse_regex_check("((a{10}b){10}){11}"), -ERANGE);
	ck_assert_int_eq(ls_parse_regex_check("(a{2,}){501}"), -ERANGE);
	ck_assert_int_eq(ls_parse_regex_check("a{1001}"), -ERANGE);
	ck_assert_int_eq(ls_parse_regex_check("(a{1,100}){10}"), 0);
	ck_assert_int_eq(ls_parse_regex_check("a{1000}b{1000}c{1000}"), 0);
	ck_assert_int_eq(ls_parse_regex_check("^orders-[0-9]{1,3}$"), 0);
	ck_assert_int_eq(ls_parse_regex_check("[{]1000[}]\\{1000}(x)"), 0);
	ck_assert_int_eq(ls_parse_regex_check("[[:digit:]]{10}((a)"), 0);
	memset(long_re, 'a', sizeof(long_re) - 1);
	long_re[sizeof(long_re) - 1] = '\0';
	ck_assert_int_eq(ls_parse_regex_check(long_re), -E2BIG);
	long_re[LS_REGEX_MAX_LEN] = '\0';
	ck_assert_int_eq(ls_parse_regex_check(long_re), 0);
}
END_TEST

START_TEST(test_util_strset)
{
	struct ls_strset s;
	char (*names)[16] = malloc(100000 * sizeof(*names));
	size_t v = 7;

	ls_strset_init(&s);
	ck_assert(!ls_strset_find(&s, "a", &v));
	for (size_t i = 0; i < 100000; i++) {
		snprintf(names[i], sizeof(names[i]), "n%zu", i % 60000);
		ck_assert_int_eq(ls_strset_add(&s, names[i], i, &v), i < 60000 ? 1 : 0);
		if (i >= 60000)
			ck_assert_uint_eq(v, i % 60000);
	}
	ck_assert_uint_eq(s.n, 60000);
	ck_assert(ls_strset_find(&s, "n59999", &v));
	ck_assert_uint_eq(v, 59999);
	ck_assert(!ls_strset_find(&s, "n60000", NULL));
	ls_strset_release(&s);
	ck_assert(!ls_strset_find(&s, "n1", NULL));
	free(names);
}
END_TEST

/* Parses yaml with the default limits; the report's messages into d. */
static int parse_yaml(const char *yaml, struct ls_node **root, struct ls_diag *d)
{
	struct ls_report rep;
	int r;

	ls_report_init(&rep, "t.yaml");
	r = ls_node_parse(&rep, yaml, strlen(yaml), root);
	if (r == 0 && ls_report_failed(&rep))
		r = -EINVAL;
	ls_report_flush(&rep, d);
	return r;
}

/* Issue 15, point 2: alias expansion, nesting, string length and key
 * count are bounded, each limit named. */
START_TEST(test_util_yaml_bounds)
{
	struct ls_node *root = NULL;
	struct ls_diag d;
	struct ls_buf y;

	/* A billion laughs: ten levels of ten aliases. */
	ls_buf_init(&y, 0);
	ck_assert_int_eq(ls_buf_puts(&y, "a: &a [x, x, x, x, x, x, x, x, x, x]\n"), 0);
	for (char c = 'b'; c <= 'j'; c++)
		ck_assert_int_eq(ls_buf_printf(&y, "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, "
		                                   "*%c, *%c]\n",
		                               c, c, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1,
		                               c - 1, c - 1, c - 1),
		                 0);
	ls_diag_init(&d);
	ck_assert_int_eq(parse_yaml(ls_buf_str(&y), &root, &d), -EINVAL);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_ptr_nonnull(strstr(d.msgs[0], "more than 200000 nodes (aliases included)"));
	ls_diag_release(&d);
	ls_buf_release(&y);

	/* A long string aliased many times: few nodes, megabytes of text. */
	ls_buf_init(&y, 0);
	ck_assert_int_eq(ls_buf_puts(&y, "a: &s \""), 0);
	{
		char *x = malloc(100 * 1024);

		memset(x, 'x', 100 * 1024);
		ck_assert_int_eq(ls_buf_append(&y, x, 100 * 1024), 0);
		free(x);
	}
	ck_assert_int_eq(ls_buf_puts(&y, "\"\nb: ["), 0);
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(ls_buf_puts(&y, i ? ", *s" : "*s"), 0);
	ck_assert_int_eq(ls_buf_puts(&y, "]\n"), 0);
	ls_diag_init(&d);
	ck_assert_int_eq(parse_yaml(ls_buf_str(&y), &root, &d), -EINVAL);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_msg(strstr(d.msgs[0], "the document's strings add up to more than 1 MiB "
	                                "(aliases included)"),
	              "%s", d.msgs[0]);
	ls_diag_release(&d);
	ls_buf_release(&y);

	/* Nesting. */
	ls_buf_init(&y, 0);
	for (int i = 0; i < 70; i++)
		ck_assert_int_eq(ls_buf_puts(&y, "["), 0);
	ls_diag_init(&d);
	ck_assert_int_eq(parse_yaml(ls_buf_str(&y), &root, &d), -EINVAL);
	ck_assert_ptr_nonnull(strstr(d.msgs[0], "nesting deeper than 64 levels"));
	ls_diag_release(&d);
	ls_buf_release(&y);

	/* Many anchors, many aliases: each alias is one lookup. */
	ls_buf_init(&y, 0);
	for (int i = 0; i < 5000; i++)
		ck_assert_int_eq(ls_buf_printf(&y, "k%d: &a%d v\n", i, i), 0);
	ck_assert_int_eq(ls_buf_puts(&y, "l: ["), 0);
	for (int i = 0; i < 5000; i++)
		ck_assert_int_eq(ls_buf_printf(&y, "%s*a%d", i ? ", " : "", i), 0);
	ck_assert_int_eq(ls_buf_puts(&y, "]\n"), 0);
	ls_diag_init(&d);
	ck_assert_int_eq(parse_yaml(ls_buf_str(&y), &root, &d), 0);
	ck_assert_str_eq(ls_node_get(root, "l")->kids[4999]->value, "v");
	ls_node_free(root);
	ls_diag_release(&d);
	ls_buf_release(&y);
}
END_TEST

/* Issue 15: reading a FIFO or a device blocked forever or never ended. */
START_TEST(test_util_read_file_regular_only)
{
	char dir[] = "/tmp/test-util-read-XXXXXX", fifo[64];
	struct ls_buf b;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ls_buf_init(&b, 1024);
	ck_assert_int_eq(ls_buf_read_file(&b, fifo), -ENOTSUP);
	ck_assert_int_eq(ls_buf_read_file(&b, "/dev/zero"), -ENOTSUP);
	ck_assert_int_eq(ls_buf_read_file(&b, "/dev/null"), -ENOTSUP);
	ck_assert_int_eq(ls_buf_read_file(&b, dir), -EISDIR);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_ptr_nonnull(strstr(ls_buf_read_strerror(-ENOTSUP), "not a regular file"));
	ls_buf_release(&b);
	unlink(fifo);
	rmdir(dir);
}
END_TEST

START_TEST(test_util_duration)
{
	static const struct {
		const char *s;
		int64_t ms;
	} good[] = {
	    {"500ms", 500},         {"15s", 15000},   {"5m", 300000}, {"1h30m", 5400000},
	    {"1.5s", 1500},         {"15", 15000},    {"0.5", 500},   {"0s", 0},
	    {"1h2m3s4ms", 3723004}, {"300s", 300000},
	};
	static const char *const bad[] = {"5x",    "1m1h", "-1s", "",  "s",
	                                  "1ms5s", "1 s",  "1s ", "ms"};
	int64_t ms;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ms = -1;
		ck_assert_msg(ls_parse_duration_ms(good[i].s, &ms) == 0, "%s", good[i].s);
		ck_assert_int_eq(ms, good[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = 42;
		ck_assert_msg(ls_parse_duration_ms(bad[i], &ms) == -EINVAL, "\"%s\"", bad[i]);
		/* The output is left alone on failure. */
		ck_assert_int_eq(ms, 42);
	}
}
END_TEST

START_TEST(test_util_format_duration)
{
	char buf[32];
	int64_t ms;

	ck_assert_str_eq(ls_format_duration(5400000, buf, sizeof(buf)), "1h30m");
	ck_assert_str_eq(ls_format_duration(15000, buf, sizeof(buf)), "15s");
	ck_assert_str_eq(ls_format_duration(500, buf, sizeof(buf)), "500ms");
	ck_assert_str_eq(ls_format_duration(0, buf, sizeof(buf)), "0s");
	ck_assert_int_eq(ls_parse_duration_ms(ls_format_duration(3723004, buf, sizeof(buf)), &ms),
	                 0);
	ck_assert_int_eq(ms, 3723004);
}
END_TEST

START_TEST(test_util_numbers)
{
	int64_t v = 7;
	int32_t v32 = 7;
	double d = 7;
	bool b = false;

	ck_assert_int_eq(ls_parse_int64("123", &v), 0);
	ck_assert_int_eq(v, 123);
	ck_assert_int_eq(ls_parse_int64("12a", &v), -EINVAL);
	ck_assert_int_eq(ls_parse_int64("", &v), -EINVAL);
	ck_assert_int_eq(ls_parse_int64(" 1", &v), -EINVAL);
	ck_assert_int_eq(ls_parse_int64("99999999999999999999", &v), -ERANGE);
	ck_assert_int_eq(v, 123);
	ck_assert_int_eq(ls_parse_int32("2147483648", &v32), -ERANGE);
	ck_assert_int_eq(v32, 7);
	ck_assert_int_eq(ls_parse_int32("-5", &v32), 0);
	ck_assert_int_eq(v32, -5);
	ck_assert_int_eq(ls_parse_double("0.25", &d), 0);
	ck_assert_double_eq(d, 0.25);
	ck_assert_int_eq(ls_parse_double("nan", &d), -EINVAL);
	ck_assert_int_eq(ls_parse_bool("true", &b), 0);
	ck_assert(b);
	ck_assert_int_eq(ls_parse_bool("yes", &b), -EINVAL);
	ck_assert(b);
}
END_TEST

START_TEST(test_util_ranges)
{
	struct ls_int_ranges rs = {NULL, 0}, untouched = {NULL, 7};

	ck_assert_int_eq(ls_parse_ranges("0-11,14", &rs), 0);
	ck_assert_uint_eq(rs.n, 2);
	ck_assert_int_eq(rs.r[0][0], 0);
	ck_assert_int_eq(rs.r[0][1], 11);
	ck_assert_int_eq(rs.r[1][0], 14);
	ck_assert_int_eq(rs.r[1][1], 14);
	ck_assert(ls_ranges_contain(&rs, 0));
	ck_assert(ls_ranges_contain(&rs, 11));
	ck_assert(!ls_ranges_contain(&rs, 12));
	ck_assert(ls_ranges_contain(&rs, 14));
	ck_assert(!ls_ranges_contain(&rs, 15));
	ls_ranges_release(&rs);
	ck_assert_uint_eq(rs.n, 0);

	/* Sorted, overlapping and adjacent ranges merged. */
	ck_assert_int_eq(ls_parse_ranges("5,3-4,1,2", &rs), 0);
	ck_assert_uint_eq(rs.n, 1);
	ck_assert_int_eq(rs.r[0][0], 1);
	ck_assert_int_eq(rs.r[0][1], 5);
	ls_ranges_release(&rs);

	/* Empty is "all". */
	ck_assert_int_eq(ls_parse_ranges("", &rs), 0);
	ck_assert_uint_eq(rs.n, 0);
	ck_assert(ls_ranges_contain(&rs, 99));

	ck_assert_int_eq(ls_parse_ranges("3-1", &untouched), -EINVAL);
	ck_assert_int_eq(ls_parse_ranges("a", &untouched), -EINVAL);
	ck_assert_int_eq(ls_parse_ranges("1,", &untouched), -EINVAL);
	ck_assert_int_eq(ls_parse_ranges("1-", &untouched), -EINVAL);
	ck_assert_ptr_null(untouched.r);
	ck_assert_uint_eq(untouched.n, 7);
}
END_TEST

START_TEST(test_util_partition_lag)
{
	/* committed, end, log start → lag under latest / earliest / zeroed. */
	static const struct {
		int64_t committed, end, log_start;
		int64_t latest, earliest, zeroed;
	} t[] = {
		{40, 100, 0, 60, 60, 60},			/* committed: end - committed */
		{LS_OFFSET_NONE, 100, 30, 1, 70, 0},		/* never committed */
		{LS_OFFSET_NONE, 100, LS_OFFSET_UNKNOWN, 1, 100, 0}, /* log start not read */
		{LS_OFFSET_NONE, 0, 0, 1, 0, 0},		/* empty partition */
		{120, 100, 0, 0, 0, 0},				/* past the end (LSO): no lag */
		{7, LS_OFFSET_UNKNOWN, 0, 0, 0, 0},		/* end unknown */
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct ls_partition_offsets p = {.partition = 0, .committed = t[i].committed,
						 .end = t[i].end, .log_start = t[i].log_start};

		ck_assert_int_eq(ls_offsets_partition_lag(&p, LS_RESET_LATEST, false), t[i].latest);
		ck_assert_int_eq(ls_offsets_partition_lag(&p, LS_RESET_EARLIEST, false),
				 t[i].earliest);
		ck_assert_int_eq(ls_offsets_partition_lag(&p, LS_RESET_EARLIEST, true), t[i].zeroed);
	}
}
END_TEST

static void one_topic(struct ls_lag_snapshot *s, int64_t time_ms,
		      const struct ls_partition_offsets *parts, size_t n)
{
	memset(s, 0, sizeof(*s));
	s->time_ms = time_ms;
	s->topics = calloc(1, sizeof(*s->topics));
	s->topics[0].topic = strdup("orders");
	s->topics[0].parts = calloc(n, sizeof(*parts));
	memcpy(s->topics[0].parts, parts, n * sizeof(*parts));
	s->topics[0].n_parts = n;
	s->n_topics = 1;
}

START_TEST(test_util_snapshot_totals_and_rates)
{
	const struct ls_partition_offsets a[] = {
		{.partition = 0, .committed = 10, .end = 100},
		{.partition = 1, .committed = LS_OFFSET_NONE, .end = 50},
	};
	const struct ls_partition_offsets b[] = {
		{.partition = 0, .committed = 40, .end = 160},
		{.partition = 1, .committed = 5, .end = 70},
	};
	struct ls_lag_snapshot prev, cur, copy;

	one_topic(&prev, 1000, a, 2);
	one_topic(&cur, 11000, b, 2);
	ls_lag_snapshot_compute(&prev, LS_RESET_LATEST);
	ck_assert_int_eq(prev.total_lag, 90 + 1);
	ck_assert_int_eq(prev.partition_count, 2);
	ls_lag_snapshot_compute(&cur, LS_RESET_LATEST);
	/* 10 s apart: produced 60 + 20, committed 30 (partition 1 had no
	 * committed offset before, so it is left out of the consume rate). */
	ls_lag_snapshot_rates(&prev, &cur);
	ck_assert_double_eq_tol(cur.produce_rate, 8.0, 1e-9);
	ck_assert_double_eq_tol(cur.consume_rate, 3.0, 1e-9);
	ls_lag_snapshot_rates(NULL, &cur);
	ck_assert_double_eq(cur.produce_rate, -1);
	ck_assert_ptr_nonnull(ls_lag_snapshot_find(&cur, "orders", 1));
	ck_assert_ptr_null(ls_lag_snapshot_find(&cur, "orders", 2));
	ck_assert_ptr_null(ls_lag_snapshot_find(&cur, "payments", 0));
	/* The group's members are copied deeply with their owners. */
	cur.group.known = true;
	snprintf(cur.group.state, sizeof(cur.group.state), "Stable");
	snprintf(cur.group.assignor, sizeof(cur.group.assignor), "range");
	cur.group.members = calloc(2, sizeof(*cur.group.members));
	ck_assert_ptr_nonnull(cur.group.members);
	for (int i = 0; i < 2; i++) {
		cur.group.members[i].member_id = strdup(i ? "m-1" : "m-0");
		cur.group.members[i].client_id = strdup("consumer");
		cur.group.members[i].host = strdup("/10.0.0.1");
		cur.group.n_members++;
	}
	cur.topics[0].parts[1].owner = 2;
	ck_assert_int_eq(ls_lag_snapshot_copy(&cur, &copy), 0);
	ck_assert_int_eq(copy.topics[0].parts[1].committed, 5);
	ck_assert_ptr_ne(copy.topics[0].parts, cur.topics[0].parts);
	ck_assert(copy.group.known);
	ck_assert_str_eq(copy.group.assignor, "range");
	ck_assert_uint_eq(copy.group.n_members, 2);
	ck_assert_ptr_ne(copy.group.members, cur.group.members);
	ck_assert_ptr_ne(copy.group.members[1].member_id, cur.group.members[1].member_id);
	ck_assert_str_eq(copy.group.members[copy.topics[0].parts[1].owner - 1].member_id, "m-1");
	ck_assert_int_eq(copy.topics[0].parts[0].owner, 0);
	ls_lag_snapshot_release(&copy);
	ck_assert(!copy.group.known);
	ck_assert_ptr_null(copy.group.members);
	ls_lag_snapshot_release(&prev);
	ls_lag_snapshot_release(&cur);
	ck_assert_ptr_null(cur.topics);
}
END_TEST

START_TEST(test_util_buf_cap)
{
	struct ls_buf b;

	ls_buf_init(&b, 8);
	ck_assert_int_eq(ls_buf_puts(&b, "12345"), 0);
	/* Past the cap: refused, and the buffer stays as it was. */
	ck_assert_int_eq(ls_buf_puts(&b, "6789"), -E2BIG);
	ck_assert_str_eq(ls_buf_str(&b), "12345");
	ck_assert_int_eq(ls_buf_printf(&b, "%d", 123456), -E2BIG);
	ck_assert_str_eq(ls_buf_str(&b), "12345");
	ls_buf_reset(&b);
	ck_assert_int_eq(ls_buf_json_string(&b, "a\"\n"), 0);
	ck_assert_str_eq(ls_buf_str(&b), "\"a\\\"\\n\"");
	ls_buf_release(&b);
}
END_TEST

START_TEST(test_util_backoff)
{
	struct ls_backoff b;

	ls_backoff_init(&b, 100, 1000, 42);
	for (int i = 0; i < 10; i++) {
		int64_t d = ls_backoff_next(&b);
		int64_t full = 100LL << (i < 4 ? i : 4);

		if (full > 1000)
			full = 1000;
		/* Full jitter in the upper half: [d/2, d]. */
		ck_assert_int_ge(d, full / 2);
		ck_assert_int_le(d, full);
	}
	ls_backoff_reset(&b);
	ck_assert_int_le(ls_backoff_next(&b), 100);
}
END_TEST


/* --- filewatch.h ---------------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static bool fw_changed(struct ls_filewatch *fw)
{
	bool changed = true;

	ck_assert_int_eq(ls_filewatch_check(fw, &changed), 0);
	return changed;
}

/*
 * The kubelet's layout of a mounted ConfigMap in dir: "..data" links to a
 * timestamped directory holding the file, and dir/name links through
 * "..data". Each call writes a new timestamped directory and swaps
 * "..data" to it atomically (a new link renamed over the old one), as the
 * kubelet does; the old directory is removed afterwards.
 */
static void configmap_swap(const char *dir, const char *name, const char *text, int gen)
{
	char ts[600], tsname[64], file[1400], tmp[600], data[600], link[600], target[256];
	char old[1024] = "";
	ssize_t n;

	snprintf(tsname, sizeof(tsname), "..2026_11_30_17_04_%02d.%d", gen, gen);
	snprintf(ts, sizeof(ts), "%s/%s", dir, tsname);
	ck_assert_int_eq(mkdir(ts, 0700), 0);
	snprintf(file, sizeof(file), "%s/%s", ts, name);
	write_file(file, text);
	snprintf(data, sizeof(data), "%s/..data", dir);
	n = readlink(data, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		snprintf(old, sizeof(old), "%s/%s", dir, target);
	}
	snprintf(tmp, sizeof(tmp), "%s/..data_tmp", dir);
	ck_assert_int_eq(symlink(tsname, tmp), 0);
	ck_assert_int_eq(rename(tmp, data), 0);
	snprintf(link, sizeof(link), "%s/%s", dir, name);
	if (access(link, F_OK) != 0) {
		snprintf(target, sizeof(target), "..data/%s", name);
		ck_assert_int_eq(symlink(target, link), 0);
	}
	if (old[0]) {
		snprintf(file, sizeof(file), "%s/%s", old, name);
		ck_assert_int_eq(unlink(file), 0);
		ck_assert_int_eq(rmdir(old), 0);
	}
}

START_TEST(test_util_filewatch_configmap_swap)
{
	char dir[] = "/tmp/ls-fw-XXXXXX", file[600];
	struct ls_filewatch *fw = NULL, *fwd = NULL;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	configmap_swap(dir, "lagscale.yaml", "scalers: []\n", 1);
	snprintf(file, sizeof(file), "%s/lagscale.yaml", dir);
	/* The file (through its links) and the directory (--config DIR). */
	ck_assert_int_eq(ls_filewatch_new(file, &fw), 0);
	ck_assert_int_eq(ls_filewatch_new(dir, &fwd), 0);
	ck_assert(!fw_changed(fw));
	ck_assert(!fw_changed(fwd));
	/* Same size, other contents: only the swap of ..data changes anything. */
	configmap_swap(dir, "lagscale.yaml", "scalers: [1]\n", 2);
	ck_assert(fw_changed(fw));
	ck_assert(fw_changed(fwd));
	ck_assert(!fw_changed(fw));
	ck_assert(!fw_changed(fwd));
	/* A swap to equal contents is no change. */
	configmap_swap(dir, "lagscale.yaml", "scalers: [1]\n", 3);
	ck_assert(!fw_changed(fw));
	ck_assert(!fw_changed(fwd));
	ls_filewatch_free(fw);
	ls_filewatch_free(fwd);
	snprintf(file, sizeof(file), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(file), 0);
}
END_TEST

START_TEST(test_util_filewatch_file_and_directory)
{
	char dir[] = "/tmp/ls-fw-XXXXXX", a[600], b[600], hidden[600], tmp[600], cmd[700];
	struct ls_filewatch *fa = NULL, *fd = NULL;
	bool changed = false;

	ck_assert_int_eq(ls_filewatch_new("", &fa), -EINVAL);
	ck_assert_ptr_null(fa);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a.yaml", dir);
	snprintf(b, sizeof(b), "%s/b.yml", dir);
	snprintf(hidden, sizeof(hidden), "%s/.c.yaml", dir);
	snprintf(tmp, sizeof(tmp), "%s/a.yaml.swp", dir);
	write_file(a, "one\n");
	ck_assert_int_eq(ls_filewatch_new(a, &fa), 0);
	ck_assert_int_eq(ls_filewatch_new(dir, &fd), 0);
	/* In place, same size, within the same second: the contents tell. */
	write_file(a, "two\n");
	ck_assert(fw_changed(fa));
	ck_assert(fw_changed(fd));
	ck_assert(!fw_changed(fa));
	/* An editor's save: a new file renamed over the old one. */
	write_file(tmp, "three\n");
	ck_assert(!fw_changed(fd)); /* not a *.yaml file */
	ck_assert_int_eq(rename(tmp, a), 0);
	ck_assert(fw_changed(fa));
	ck_assert(fw_changed(fd));
	/* A file added to the directory, and a hidden one (not read). */
	write_file(hidden, "x\n");
	ck_assert(!fw_changed(fd));
	write_file(b, "b\n");
	ck_assert(fw_changed(fd));
	ck_assert(!fw_changed(fa));
	/* Removed, then back with the same contents: two changes. */
	ck_assert_int_eq(unlink(a), 0);
	ck_assert(fw_changed(fa));
	ck_assert(fw_changed(fd));
	write_file(a, "three\n");
	ck_assert(fw_changed(fa));
	ck_assert(fw_changed(fd));
	ck_assert(!fw_changed(fa));
	ck_assert(!fw_changed(fd));
	/* The thread sets the flag on a change, and only then. */
	{
		volatile sig_atomic_t flag = 0;

		ck_assert_int_eq(ls_filewatch_start(fa, 100, &flag), 0);
		ck_assert_int_eq(ls_filewatch_start(fa, 100, &flag), -EINVAL);
		write_file(a, "four\n");
		for (int i = 0; i < 600 && !flag; i++)
			ls_clock_sleep_ms(50);
		ck_assert_int_eq(flag, 1);
	}
	ls_filewatch_free(fa);
	ls_filewatch_free(fd);
	(void)changed;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_util_redact_message_by_key)
{
	char m[128];

	/* A secret key's value, quoted after the key, is dropped; the rest reads as it was. */
	snprintf(m, sizeof(m), "Invalid value for configuration property \"ssl.key.password\": pr");
	ck_assert(ls_log_redact_message(m, sizeof(m), "ssl.key.password"));
	ck_assert_str_eq(m, "Invalid value for configuration property \"ssl.key.password\" (the "
			    "value is not shown: it is a secret)");
	snprintf(m, sizeof(m), "Unrecognized sasl.oauthbearer.config beginning at: p");
	ck_assert(ls_log_redact_message(m, sizeof(m), "sasl.oauthbearer.config"));
	ck_assert_str_eq(m, "Unrecognized sasl.oauthbearer.config (the value is not shown: it is "
			    "a secret)");
	/* A message that does not name the secret key is left whole, whatever
	 * the value ("p") is: the redaction looks for the key, not the value. */
	snprintf(m, sizeof(m), "No such configuration property: \"sasl.usernme\"");
	ck_assert(!ls_log_redact_message(m, sizeof(m), "sasl.password"));
	ck_assert_str_eq(m, "No such configuration property: \"sasl.usernme\"");
	/* A key that is not secret, or a longer key that only starts with a secret one. */
	snprintf(m, sizeof(m), "Invalid value for configuration property \"sasl.mechanism\": P");
	ck_assert(!ls_log_redact_message(m, sizeof(m), "sasl.mechanism"));
	ck_assert_str_eq(m, "Invalid value for configuration property \"sasl.mechanism\": P");
	snprintf(m, sizeof(m), "sasl.password.extra: x");
	ck_assert(!ls_log_redact_message(m, sizeof(m), "sasl.password"));
	/* A small buffer still ends with the note, never with the value. */
	{
		char small[48] = "property \"sasl.password\": pr and more text";

		ck_assert(ls_log_redact_message(small, sizeof(small), "sasl.password"));
		ck_assert_ptr_nonnull(strstr(small, "(the value is not shown: it is a secret)"));
		ck_assert_ptr_null(strstr(small, "pr and"));
	}
	ck_assert(!ls_log_redact_message(m, sizeof(m), ""));
	ck_assert(!ls_log_redact_message(m, sizeof(m), NULL));
	/* Keys of secrets, as printed by key (ls_log_fields). */
	ck_assert(ls_log_key_is_secret("sasl.password"));
	ck_assert(ls_log_key_is_secret("ssl.key.password"));
	ck_assert(ls_log_key_is_secret("ssl.key.pem"));
	ck_assert(ls_log_key_is_secret("sasl.oauthbearer.client.secret"));
	ck_assert(ls_log_key_is_secret("sasl.oauthbearer.config"));
	ck_assert(ls_log_key_is_secret("token"));
	ck_assert(!ls_log_key_is_secret("sasl.username"));
	ck_assert(!ls_log_key_is_secret("ssl.key.location"));
	ck_assert_str_eq(ls_log_redact_value("sasl.password", "p"), "[redacted]");
	ck_assert_str_eq(ls_log_redact_value("sasl.username", "p"), "p");
}
END_TEST

START_TEST(test_util_yaml_stream)
{
	/* Three documents, the middle one empty; places are the stream's. */
	static const char good[] = "a: &x 1\nb: *x\n---\n---\nkind: K\nc: [1, 2]\n...\n";
	/* An alias may not reach into an earlier document. */
	static const char cross[] = "a: &x 1\n---\nb: *x\n";
	struct ls_node **docs = NULL, **keep = (struct ls_node **)&docs;
	struct ls_report rep;
	size_t n = 99;

	ls_report_init(&rep, "s.yaml");
	ck_assert_int_eq(ls_node_parse_stream(&rep, good, strlen(good), NULL, &docs, &n), 0);
	ck_assert(!ls_report_failed(&rep));
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(ls_node_get(docs[0], "b")->value, "1");
	ck_assert_ptr_null(docs[1]);
	ck_assert_str_eq(ls_node_get(docs[2], "kind")->value, "K");
	ck_assert_int_eq(ls_node_get_key(docs[2], "kind")->line, 5);
	ck_assert_int_eq(ls_node_get(docs[2], "c")->col, 4);
	ls_node_stream_free(docs, n);

	/* Failures leave the outputs alone and are reported at their place. */
	docs = (struct ls_node **)keep;
	n = 99;
	ck_assert_int_eq(ls_node_parse_stream(&rep, cross, strlen(cross), NULL, &docs, &n), -EINVAL);
	ck_assert_ptr_eq(docs, (struct ls_node **)keep);
	ck_assert_uint_eq(n, 99);
	ck_assert_uint_eq(rep.n, 1);
	ck_assert_str_eq(rep.msgs[0].text, "s.yaml:3:4: unknown or unfinished anchor \"x\"");
	ls_report_release(&rep);
	ck_assert_int_eq(ls_node_parse_stream(&rep, "a: [1\n", 6, NULL, &docs, &n), -EINVAL);
	ck_assert(ls_report_failed(&rep));
	ck_assert_uint_eq(n, 99);
	ls_report_release(&rep);
	/* Duplicate keys are reported, the stream still returned. */
	ck_assert_int_eq(ls_node_parse_stream(&rep, "a: 1\na: 2\n", 10, NULL, &docs, &n), 0);
	ck_assert_uint_eq(rep.n, 1);
	ck_assert_uint_eq(n, 1);
	ls_node_stream_free(docs, n);
	ls_report_release(&rep);
	ls_node_stream_free(NULL, 0);
}
END_TEST

static Suite *util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("parse"), *big;

	tcase_add_test(tc, test_util_duration);
	tcase_add_test(tc, test_util_rfc3339_offsets);
	tcase_add_test(tc, test_util_integral);
	tcase_add_test(tc, test_util_regex_check);
	tcase_add_test(tc, test_util_duration_limit);
	tcase_add_test(tc, test_util_read_file_regular_only);
	tcase_add_test(tc, test_util_format_duration);
	tcase_add_test(tc, test_util_numbers);
	tcase_add_test(tc, test_util_ranges);
	tcase_add_test(tc, test_util_partition_lag);
	tcase_add_test(tc, test_util_snapshot_totals_and_rates);
	tcase_add_test(tc, test_util_buf_cap);
	tcase_add_test(tc, test_util_backoff);
	tcase_add_test(tc, test_util_filewatch_configmap_swap);
	tcase_add_test(tc, test_util_filewatch_file_and_directory);
	tcase_add_test(tc, test_util_redact_message_by_key);
	tcase_add_test(tc, test_util_yaml_stream);
	/* Large inputs, on a machine that may be busy: time enough. */
	big = tcase_create("limits");
	tcase_set_timeout(big, 60);
	tcase_add_test(big, test_util_yaml_bounds);
	tcase_add_test(big, test_util_strset);
	suite_add_tcase(s, big);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(util_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
