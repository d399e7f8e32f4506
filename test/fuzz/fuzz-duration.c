/*
 * fuzz-duration.c - durations ("1h30m", "500ms", "15"): what
 * ls_parse_duration_ms accepts is never negative, and writing it back
 * (ls_format_duration) gives a text that parses to the same value.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "util/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = ls_fuzz_cstr(data, size), out[64];
	int64_t ms = -7, back = -7;

	if (ls_parse_duration_ms(s, &ms) == 0) {
		LS_FUZZ_CHECK(ms >= 0);
		ls_format_duration(ms, out, sizeof(out));
		LS_FUZZ_CHECK(ls_parse_duration_ms(out, &back) == 0);
		/* The parser adds its components as doubles, exact up to 2^53 ms
		 * (285,000 years); above, "999999999999999" and what it is
		 * written as differ by a few ms (pending/duration/precision-*). */
		if (ms <= (1LL << 53))
			LS_FUZZ_CHECK(back == ms);
	} else {
		LS_FUZZ_CHECK(ms == -7);
	}
	free(s);
	return 0;
}
