/* harness.c - see harness.h. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/clock.h"

extern char **environ;

int ls_test_run_signal(const char *const *args, int signal_after_ms, int sig, int timeout_ms,
		       struct ls_test_run *ret)
{
	const char *bin = getenv("LAGSCALE_BIN");
	int outp[2], errp[2], status = 0;
	posix_spawn_file_actions_t fa;
	struct ls_buf out, err;
	char *argv[64];
	size_t n = 0;
	pid_t pid;
	int64_t start = ls_clock_mono_ms(), deadline = start + timeout_ms, signalled = 0;
	bool killed = false;

	if (!bin)
		return -ENOENT;
	argv[n++] = (char *)bin;
	for (; args[n - 1] && n < 63; n++)
		argv[n] = (char *)args[n - 1];
	argv[n] = NULL;
	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	if (posix_spawn(&pid, bin, &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -errno;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(outp[1]);
	close(errp[1]);
	ls_buf_init(&out, 0);
	ls_buf_init(&err, 0);
	for (int open_fds = 2; open_fds > 0;) {
		struct pollfd pfd[2] = {{outp[0], POLLIN, 0}, {errp[0], POLLIN, 0}};
		int64_t left = deadline - ls_clock_mono_ms();
		char tmp[4096];

		if (left <= 0 && !killed) {
			kill(pid, SIGKILL);
			killed = true;
		}
		if (sig && !signalled && ls_clock_mono_ms() - start >= signal_after_ms) {
			kill(pid, sig);
			signalled = ls_clock_mono_ms();
		}
		if (sig && !signalled && left > 50)
			left = 50;
		if (poll(pfd, 2, left > 0 ? (int)left : 100) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			ssize_t k;

			if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP)))
				continue;
			k = read(pfd[i].fd, tmp, sizeof(tmp));
			if (k > 0) {
				ls_buf_append(i ? &err : &out, tmp, (size_t)k);
			} else {
				close(i ? errp[0] : outp[0]);
				if (i)
					errp[0] = -1;
				else
					outp[0] = -1;
				open_fds--;
			}
		}
	}
	if (outp[0] >= 0)
		close(outp[0]);
	if (errp[0] >= 0)
		close(errp[0]);
	waitpid(pid, &status, 0);
	ret->signal_to_exit_ms = signalled ? ls_clock_mono_ms() - signalled : -1;
	ret->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	ret->out = ls_buf_steal(&out);
	ret->err = ls_buf_steal(&err);
	return 0;
}

int ls_test_run_lagscale(const char *const *args, int timeout_ms, struct ls_test_run *ret)
{
	return ls_test_run_signal(args, 0, 0, timeout_ms, ret);
}

void ls_test_run_release(struct ls_test_run *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

char *ls_test_write_temp(const char *text)
{
	char tmpl[] = "/tmp/lagscale-test-XXXXXX";
	int fd = mkstemp(tmpl);
	size_t len = strlen(text);

	if (fd < 0)
		return NULL;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return NULL;
	}
	close(fd);
	return strdup(tmpl);
}
