/* test-util.c - lib/util: strict parsing (parse.h). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "util/parse.h"

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

static Suite *util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_util_duration);
	tcase_add_test(tc, test_util_format_duration);
	tcase_add_test(tc, test_util_numbers);
	tcase_add_test(tc, test_util_ranges);
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
