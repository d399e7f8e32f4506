/*
 * fuzz-ranges.c - partition lists ("0-11,14", kafka.partitions and the
 * scenario's partitionWeights): what ls_parse_ranges accepts is sorted,
 * de-duplicated, each range low <= high, and every bound is contained.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "util/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = ls_fuzz_cstr(data, size);
	struct ls_int_ranges rs = {0};

	if (ls_parse_ranges(s, &rs) == 0) {
		for (size_t i = 0; i < rs.n; i++) {
			LS_FUZZ_CHECK(rs.r[i][0] <= rs.r[i][1]);
			LS_FUZZ_CHECK(ls_ranges_contain(&rs, rs.r[i][0]));
			LS_FUZZ_CHECK(ls_ranges_contain(&rs, rs.r[i][1]));
			if (i > 0)
				LS_FUZZ_CHECK(rs.r[i - 1][1] < rs.r[i][0]);
		}
		ls_ranges_release(&rs);
	}
	free(s);
	return 0;
}
