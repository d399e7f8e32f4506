/*
 * replay.c - runs one fuzz target, built without libFuzzer, on every file
 * of the directories given: its seed corpus and its regression inputs
 * (test/fuzz/regressions/TARGET, one file per finding that was fixed).
 * A directory that does not exist counts as empty. Exit 0 when every
 * input ran; a finding aborts (the input's name was printed first).
 *
 *   fuzz-replay-TARGET DIR...
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "util/buf.h"

/* The largest input replayed: far above every -max_len of scripts/fuzz. */
#define REPLAY_MAX_INPUT (4 * 1024 * 1024)

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays every regular file of dir in name order; the count, or -1. */
static long replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	long done = 0;

	if (!d) {
		if (errno == ENOENT)
			return 0;
		fprintf(stderr, "fuzz-replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		char **v;

		if (de->d_name[0] == '.')
			continue;
		v = realloc(names, (n + 1) * sizeof(*names));
		if (!v || !(v[n] = strdup(de->d_name)))
			abort();
		names = v;
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n && done >= 0; i++) {
		struct ls_buf path, data;
		struct stat st;
		int r;

		ls_buf_init(&path, 0);
		ls_buf_init(&data, REPLAY_MAX_INPUT);
		if (ls_buf_printf(&path, "%s/%s", dir, names[i]) < 0)
			abort();
		if (stat(ls_buf_str(&path), &st) == 0 && S_ISREG(st.st_mode)) {
			r = ls_buf_read_file(&data, ls_buf_str(&path));
			if (r < 0) {
				fprintf(stderr, "fuzz-replay: %s: %s\n", ls_buf_str(&path),
				        strerror(-r));
				done = -1;
			} else {
				fprintf(stderr, "fuzz-replay: %s\n", ls_buf_str(&path));
				LLVMFuzzerTestOneInput(
				    (const uint8_t *)(data.data ? data.data : ""), data.len);
				done++;
			}
		}
		ls_buf_release(&data);
		ls_buf_release(&path);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return done;
}

int main(int argc, char **argv)
{
	long total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: fuzz-replay-TARGET DIR...\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		long r = replay_dir(argv[i]);

		if (r < 0)
			return 1;
		total += r;
	}
	printf("fuzz-replay: %ld inputs replayed\n", total);
	/* A corpus that lost its files must not pass silently. */
	return total > 0 ? 0 : 1;
}
