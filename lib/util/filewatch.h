/*
 * filewatch.h - notices that a configuration file, or a directory of
 * configuration files, changed, so that lagscale reloads by itself.
 *
 * Kubernetes updates a mounted ConfigMap by an atomic swap: the files are
 * written into a new hidden directory ("..2026_11_30_17_04_05.123"), a
 * symbolic link "..data_tmp" to it is renamed over "..data", and each
 * visible file is a link through "..data". Nothing that the old path
 * resolved to is modified; the path simply resolves to another file.
 *
 * How: the path is polled. Each check stat()s what the path resolves to
 * (every link followed) - for a directory, each `*.yaml` and `*.yml` file
 * in it that is not hidden, as lib/config reads them - and compares
 * (name, device, inode, size, mtime, ctime) with the previous check. Only
 * when that differs (or a file was modified within the last two seconds,
 * where a rewrite of the same size can keep its mtime) are the contents
 * read and hashed, and a change is reported only when the hash differs
 * from the one of the previous report. So a swap, an editor's rename,
 * an in-place write, a file added to or removed from the directory are all
 * seen, a `touch` or a swap to equal contents is not, and a change is
 * reported once (a change that does not load is not retried until the
 * contents change again).
 *
 * Why polling and not inotify: inotify watches inodes, not paths. A watch
 * on the file sees nothing of a swap (the old file is never written), a
 * watch on the directory sees the rename of "..data" but not a link that
 * leads elsewhere, and every swap means re-arming watches on the new
 * targets. Polling the resolved path needs none of that, works the same
 * for a file, a directory, any chain of links and filesystems without
 * inotify, and costs a few stat() calls a check. Its delay (the interval,
 * a few seconds) is small next to the kubelet's own (up to a minute).
 *
 * Files named with ${file:PATH} inside the configuration are not watched.
 *
 * Thread-safety: a filewatch is used by one thread at a time; with
 * ls_filewatch_start, by its own thread only, until ls_filewatch_free.
 */
#ifndef LS_UTIL_FILEWATCH_H
#define LS_UTIL_FILEWATCH_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

struct ls_filewatch;

/*
 * Watches path (a file or a directory; copied) and takes its first state,
 * so that the first change reported is one made after this call. A path
 * that cannot be read now is fine (its state is "missing"). 0, -EINVAL
 * (NULL or empty path), -ENOMEM; *ret untouched on failure.
 */
int ls_filewatch_new(const char *path, struct ls_filewatch **ret);

/*
 * Checks once: *ret_changed true when the contents differ from the state
 * last reported (or taken by _new). 0, or -ENOMEM (*ret_changed then
 * untouched). A file that cannot be read counts as missing, itself a
 * state: its disappearing and its coming back are both changes.
 */
int ls_filewatch_check(struct ls_filewatch *fw, bool *ret_changed);

/*
 * Checks every interval_ms (at least 100) on a thread of its own and sets
 * *flag to 1 (an atomic store) on each change, as a signal handler would:
 * the caller clears it. 0, -EINVAL (already started, or no flag), or the
 * errno of pthread_create.
 */
int ls_filewatch_start(struct ls_filewatch *fw, int64_t interval_ms, volatile sig_atomic_t *flag);

/* Stops the thread (within about 100 ms) and frees. NULL: no-op. */
void ls_filewatch_free(struct ls_filewatch *fw);

#endif
