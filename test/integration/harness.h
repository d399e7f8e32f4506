/*
 * harness.h - what the integration tests share: run the real lagscale
 * binary with arguments and capture its output and exit code.
 */
#ifndef LS_TEST_HARNESS_H
#define LS_TEST_HARNESS_H

#include <stddef.h>

struct ls_test_run {
	int status; /* exit code, or 128 + signal */
	char *out;  /* stdout, NUL-terminated */
	char *err;  /* stderr */
	long long signal_to_exit_ms; /* with ls_test_run_signal: from the signal to the exit */
};

/* Runs $LAGSCALE_BIN with argv (NULL-terminated, without argv[0]) and waits
 * at most timeout_ms (then kills it: status 128 + SIGKILL). 0 or -errno. */
int ls_test_run_lagscale(const char *const *args, int timeout_ms, struct ls_test_run *ret);
/* The same, sending signal sig after signal_after_ms. */
int ls_test_run_signal(const char *const *args, int signal_after_ms, int sig, int timeout_ms,
		       struct ls_test_run *ret);

void ls_test_run_release(struct ls_test_run *r);

/* Writes text to a fresh temp file; returns its path (free it). */
char *ls_test_write_temp(const char *text);

#endif
