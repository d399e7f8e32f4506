/*
 * fuzz-config_dir.c - the config loader on a directory (ls_config_load):
 * the input is cut at each line "%%" into up to LS_FUZZ_DIR_FILES files
 * (00.yaml, 01.yml, 02.yaml, ...) of a temporary directory, which exercises
 * the merge rules across files (clusters defined once, scaler names unique,
 * defaults per file).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "fuzz.h"
#include "util/diag.h"

#define LS_FUZZ_DIR_FILES 4

static const char *const names[LS_FUZZ_DIR_FILES] = {"00.yaml", "01.yml", "02.yaml", "03.yaml"};

static char dir_path[64];

/* Removes the directory at exit (its files are removed after each input). */
static void remove_dir(void)
{
	rmdir(dir_path);
}

/* The directory, made once per process. */
static const char *fuzz_dir(void)
{
	if (!dir_path[0]) {
		snprintf(dir_path, sizeof(dir_path), "/tmp/lagscale-fuzz-config-XXXXXX");
		if (!mkdtemp(dir_path))
			abort();
		atexit(remove_dir);
	}
	return dir_path;
}

static void write_file(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *dir;
	struct ls_config *cfg = NULL;
	struct ls_diag diag;
	size_t start = 0, files = 0;
	char path[128];

	if (!ls_fuzz_file_refs_safe(data, size))
		return 0;
	dir = fuzz_dir();
	while (files < LS_FUZZ_DIR_FILES) {
		const uint8_t *sep = NULL;

		for (size_t i = start; i + 4 <= size; i++)
			if (memcmp(data + i, "\n%%\n", 4) == 0) {
				sep = data + i;
				break;
			}
		if (!sep || files == LS_FUZZ_DIR_FILES - 1) {
			write_file(dir, names[files++], data + start, size - start);
			break;
		}
		write_file(dir, names[files++], data + start, (size_t)(sep + 1 - (data + start)));
		start = (size_t)(sep - data) + 4;
	}
	ls_diag_init(&diag);
	if (ls_config_load(dir, &cfg, &diag) == 0) {
		LS_FUZZ_CHECK(cfg->n_files == files);
		for (size_t i = 0; i < cfg->n_scalers; i++) {
			LS_FUZZ_CHECK(ls_config_find_scaler(cfg, cfg->scalers[i].name) ==
			              &cfg->scalers[i]);
			LS_FUZZ_CHECK(cfg->scalers[i].cluster_index < cfg->n_clusters);
		}
	} else {
		LS_FUZZ_CHECK(!cfg);
	}
	ls_config_free(cfg);
	ls_diag_release(&diag);
	for (size_t i = 0; i < files; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	return 0;
}
