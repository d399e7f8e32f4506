/*
 * fuzz-config.c - the config loader on one file (ls_config_load_string):
 * YAML, ${env:}/${file:} substitution, validation. A loaded config must
 * find each of its scalers by name and hold every scaler equal to itself.
 */
#include <stdlib.h>

#include "config/config.h"
#include "fuzz.h"
#include "util/diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ls_config *cfg = NULL;
	struct ls_diag diag;

	if (!ls_fuzz_file_refs_safe(data, size))
		return 0;
	ls_diag_init(&diag);
	if (ls_config_load_string("fuzz.yaml", (const char *)data, size, &cfg, &diag) == 0) {
		LS_FUZZ_CHECK(cfg);
		for (size_t i = 0; i < cfg->n_scalers; i++) {
			const struct ls_config_scaler *s = &cfg->scalers[i];

			LS_FUZZ_CHECK(ls_config_find_scaler(cfg, s->name) == s);
			LS_FUZZ_CHECK(ls_config_scaler_equal(s, s));
			LS_FUZZ_CHECK(s->cluster_index < cfg->n_clusters);
		}
		for (size_t i = 0; i < cfg->n_clusters; i++)
			LS_FUZZ_CHECK(
			    ls_config_cluster_equal(&cfg->clusters[i], &cfg->clusters[i]));
	} else {
		LS_FUZZ_CHECK(!cfg);
	}
	ls_config_free(cfg);
	ls_diag_release(&diag);
	return 0;
}
