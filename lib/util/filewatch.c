/* filewatch.c - see filewatch.h. */
#include "util/filewatch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/clock.h"

#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME  1099511628211ULL
/* A file modified this recently may be rewritten within the same mtime
 * tick: its contents are hashed at every check until it is older. */
#define RACY_NS      2000000000LL
#define STOP_POLL_MS 100

/* One file as stat() saw it (err: the errno of a failed stat, else 0). */
struct entry {
	char *name; /* inside the directory; "" for a watched file */
	int err;
	dev_t dev;
	ino_t ino;
	off_t size;
	int64_t mtime_ns;
	int64_t ctime_ns;
};

struct ls_filewatch {
	char *path;
	struct entry *entries;
	size_t n;
	uint64_t hash; /* of the contents last reported */
	pthread_t thread;
	bool started;
	int stop; /* atomic */
	int64_t interval_ms;
	volatile sig_atomic_t *flag;
};

static void entries_free(struct entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].name);
	free(e);
}

static bool config_name(const char *name)
{
	size_t len = strlen(name);

	if (name[0] == '.')
		return false;
	return (len > 5 && strcmp(name + len - 5, ".yaml") == 0) ||
	       (len > 4 && strcmp(name + len - 4, ".yml") == 0);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* The full path of an entry into buf; false when it does not fit. */
static bool entry_path(const struct ls_filewatch *fw, const struct entry *e, char *buf, size_t size)
{
	int n = e->name[0] ? snprintf(buf, size, "%s/%s", fw->path, e->name)
	                   : snprintf(buf, size, "%s", fw->path);

	return n >= 0 && (size_t)n < size;
}

static void stat_entry(const struct ls_filewatch *fw, struct entry *e)
{
	char p[4096];
	struct stat st;

	if (!entry_path(fw, e, p, sizeof(p))) {
		e->err = ENAMETOOLONG;
		return;
	}
	if (stat(p, &st) < 0) {
		e->err = errno;
		return;
	}
	e->err = 0;
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	e->size = st.st_size;
	e->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
	e->ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec;
}

/*
 * What the path resolves to now: the file itself, or the directory's
 * configuration files in byte-wise order of their names. 0 or -ENOMEM.
 */
static int snapshot(const struct ls_filewatch *fw, struct entry **ret, size_t *ret_n)
{
	struct entry *e = NULL;
	size_t n = 0, cap = 0;
	struct stat st;
	DIR *d;
	struct dirent *de;

	if (stat(fw->path, &st) < 0 || !S_ISDIR(st.st_mode) || !(d = opendir(fw->path))) {
		e = calloc(1, sizeof(*e));
		if (!e || !(e->name = strdup(""))) {
			free(e);
			return -ENOMEM;
		}
		stat_entry(fw, e);
		*ret = e;
		*ret_n = 1;
		return 0;
	}
	while ((de = readdir(d))) {
		if (!config_name(de->d_name))
			continue;
		if (n == cap) {
			struct entry *ne = realloc(e, (cap ? 2 * cap : 8) * sizeof(*e));

			if (!ne)
				goto nomem;
			e = ne;
			cap = cap ? 2 * cap : 8;
		}
		memset(&e[n], 0, sizeof(e[n]));
		e[n].name = strdup(de->d_name);
		if (!e[n].name)
			goto nomem;
		n++;
	}
	closedir(d);
	if (n)
		qsort(e, n, sizeof(*e), cmp_entry);
	for (size_t i = 0; i < n; i++)
		stat_entry(fw, &e[i]);
	*ret = e;
	*ret_n = n;
	return 0;
nomem:
	closedir(d);
	entries_free(e, n);
	return -ENOMEM;
}

static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= FNV_PRIME;
	}
	return h;
}

/* The hash of every entry's name and contents (or that it is missing). */
static uint64_t contents_hash(const struct ls_filewatch *fw, const struct entry *e, size_t n)
{
	uint64_t h = FNV_OFFSET;
	char p[4096], buf[65536];

	h = fnv(h, &n, sizeof(n));
	for (size_t i = 0; i < n; i++) {
		int fd = -1, err = e[i].err;
		ssize_t got;

		h = fnv(h, e[i].name, strlen(e[i].name) + 1);
		if (!err && entry_path(fw, &e[i], p, sizeof(p)))
			fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			err = err ? err : errno ? errno : EIO;
			h = fnv(h, "\0missing", 8);
			h = fnv(h, &err, sizeof(err));
			continue;
		}
		while ((got = read(fd, buf, sizeof(buf))) > 0 || (got < 0 && errno == EINTR))
			if (got > 0)
				h = fnv(h, buf, (size_t)got);
		if (got < 0)
			h = fnv(h, "\0unreadable", 11);
		close(fd);
	}
	return h;
}

static bool same_stat(const struct entry *a, size_t na, const struct entry *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i].name, b[i].name) != 0 || a[i].err != b[i].err ||
		    a[i].dev != b[i].dev || a[i].ino != b[i].ino || a[i].size != b[i].size ||
		    a[i].mtime_ns != b[i].mtime_ns || a[i].ctime_ns != b[i].ctime_ns)
			return false;
	return true;
}

static bool racy(const struct entry *e, size_t n)
{
	int64_t now_ns = ls_clock_wall_ms() * 1000000LL;

	for (size_t i = 0; i < n; i++)
		if (!e[i].err && now_ns - e[i].mtime_ns < RACY_NS)
			return true;
	return false;
}

int ls_filewatch_new(const char *path, struct ls_filewatch **ret)
{
	struct ls_filewatch *fw;
	int r;

	if (!path || !path[0] || !ret)
		return -EINVAL;
	fw = calloc(1, sizeof(*fw));
	if (!fw)
		return -ENOMEM;
	fw->path = strdup(path);
	if (!fw->path) {
		free(fw);
		return -ENOMEM;
	}
	r = snapshot(fw, &fw->entries, &fw->n);
	if (r < 0) {
		free(fw->path);
		free(fw);
		return r;
	}
	fw->hash = contents_hash(fw, fw->entries, fw->n);
	*ret = fw;
	return 0;
}

int ls_filewatch_check(struct ls_filewatch *fw, bool *ret_changed)
{
	struct entry *e = NULL;
	size_t n = 0;
	uint64_t h;
	int r = snapshot(fw, &e, &n);

	if (r < 0)
		return r;
	if (same_stat(e, n, fw->entries, fw->n) && !racy(e, n)) {
		entries_free(e, n);
		*ret_changed = false;
		return 0;
	}
	h = contents_hash(fw, e, n);
	entries_free(fw->entries, fw->n);
	fw->entries = e;
	fw->n = n;
	*ret_changed = h != fw->hash;
	fw->hash = h;
	return 0;
}

static void *watch_thread(void *arg)
{
	struct ls_filewatch *fw = arg;

	while (!__atomic_load_n(&fw->stop, __ATOMIC_ACQUIRE)) {
		int64_t end = ls_clock_mono_ms() + fw->interval_ms;
		bool changed = false;

		while (!__atomic_load_n(&fw->stop, __ATOMIC_ACQUIRE) && ls_clock_mono_ms() < end) {
			int64_t left = end - ls_clock_mono_ms();

			ls_clock_sleep_ms(left < STOP_POLL_MS ? left : STOP_POLL_MS);
		}
		if (__atomic_load_n(&fw->stop, __ATOMIC_ACQUIRE))
			break;
		/* Without memory this check is lost; the next one sees it. */
		if (ls_filewatch_check(fw, &changed) == 0 && changed)
			__atomic_store_n(fw->flag, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

int ls_filewatch_start(struct ls_filewatch *fw, int64_t interval_ms, volatile sig_atomic_t *flag)
{
	int r;

	if (fw->started || !flag)
		return -EINVAL;
	fw->interval_ms = interval_ms < STOP_POLL_MS ? STOP_POLL_MS : interval_ms;
	fw->flag = flag;
	r = pthread_create(&fw->thread, NULL, watch_thread, fw);
	if (r != 0)
		return -r;
	fw->started = true;
	return 0;
}

void ls_filewatch_free(struct ls_filewatch *fw)
{
	if (!fw)
		return;
	if (fw->started) {
		__atomic_store_n(&fw->stop, 1, __ATOMIC_RELEASE);
		pthread_join(fw->thread, NULL);
	}
	entries_free(fw->entries, fw->n);
	free(fw->path);
	free(fw);
}
