/*
 * fuzz-scenario.c - the scenario loader of `lagscale simulate`
 * (ls_scenario_load_string). A loaded scenario's produce curve must be a
 * number (not NaN) and never negative at any time.
 */
#include <math.h>

#include "config/scenario.h"
#include "fuzz.h"
#include "util/diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t times[] = {0, 1, 999, 60000, 3600000, 86400000, INT64_MAX / 2};
	struct ls_scenario *s = NULL;
	struct ls_diag diag;

	if (!ls_fuzz_file_refs_safe(data, size))
		return 0;
	ls_diag_init(&diag);
	if (ls_scenario_load_string("fuzz.yaml", (const char *)data, size, &s, &diag) == 0) {
		for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
			double rate = ls_scenario_produce_rate(s, times[i]);

			LS_FUZZ_CHECK(!isnan(rate) && rate >= 0);
		}
	} else {
		LS_FUZZ_CHECK(!s);
	}
	ls_scenario_free(s);
	ls_diag_release(&diag);
	return 0;
}
