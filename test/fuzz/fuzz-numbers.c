/*
 * fuzz-numbers.c - the strict number parsers of util/parse.h (the config's
 * counts, thresholds and rates, the pause annotation, Retry-After): int64,
 * int32, double and bool. An int32 is also an int64 of the same value, and
 * what one accepts parses to the same value once written back.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "util/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = ls_fuzz_cstr(data, size), out[64];
	int64_t i64 = 0, b64 = 0;
	int32_t i32 = 0;
	double d = 0, bd = 0;
	bool b = false;

	if (ls_parse_int64(s, &i64) == 0) {
		snprintf(out, sizeof(out), "%" PRId64, i64);
		LS_FUZZ_CHECK(ls_parse_int64(out, &b64) == 0 && b64 == i64);
	}
	if (ls_parse_int32(s, &i32) == 0) {
		LS_FUZZ_CHECK(ls_parse_int64(s, &b64) == 0 && b64 == i32);
	}
	if (ls_parse_double(s, &d) == 0 && isfinite(d)) {
		snprintf(out, sizeof(out), "%.17g", d);
		LS_FUZZ_CHECK(ls_parse_double(out, &bd) == 0 && bd == d);
	}
	ls_parse_bool(s, &b);
	free(s);
	return 0;
}
