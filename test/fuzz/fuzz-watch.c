/*
 * fuzz-watch.c - a watch stream as the informer reads it: the bytes after
 * the input's first are fed in pieces (sizes from the first byte) to the
 * line splitter (ls_kube_watch_stream_feed, a cap of 4 KiB a line), each
 * line decoded as a WatchEvent (ls_kube_watch_event_parse) and applied to
 * a store, which must then hold what was put and lose what was deleted.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "kube/watch-internal.h"

struct ctx {
	bool all_ns;
	struct ls_kube_store *st;
};

static int on_line(void *ud, const char *line, size_t len)
{
	struct ctx *c = ud;
	struct ls_kube_watch_event ev;
	struct ls_kube_object_meta got;
	char err[256];

	LS_FUZZ_CHECK(len > 0 && !memchr(line, '\n', len));
	if (ls_kube_watch_event_parse(line, len, c->all_ns, &ev, err, sizeof(err)) != 0) {
		LS_FUZZ_CHECK(err[0]);
		return 0;
	}
	LS_FUZZ_CHECK(memchr(ev.resource_version, '\0', sizeof(ev.resource_version)));
	switch (ev.type) {
	case LS_KUBE_WATCH_ADDED:
	case LS_KUBE_WATCH_MODIFIED:
		LS_FUZZ_CHECK(ev.key);
		if (ls_kube_store_put(c->st, ev.key, &ev.meta) >= 0) {
			LS_FUZZ_CHECK(ls_kube_store_get(c->st, ev.key, &got) == 0);
			LS_FUZZ_CHECK(strcmp(got.resource_version, ev.meta.resource_version) == 0);
			LS_FUZZ_CHECK(strcmp(got.uid, ev.meta.uid) == 0);
			LS_FUZZ_CHECK(got.generation == ev.meta.generation);
			LS_FUZZ_CHECK(got.paused == ev.meta.paused);
			LS_FUZZ_CHECK(got.paused_replicas == ev.meta.paused_replicas);
			LS_FUZZ_CHECK(strcmp(got.pause_error, ev.meta.pause_error) == 0);
		}
		break;
	case LS_KUBE_WATCH_DELETED:
		LS_FUZZ_CHECK(ev.key);
		ls_kube_store_delete(c->st, ev.key);
		LS_FUZZ_CHECK(ls_kube_store_get(c->st, ev.key, &got) == -ENOENT);
		break;
	default:
		break;
	}
	ls_kube_watch_event_release(&ev);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ls_fuzz_in in = {data, size};
	unsigned cut = (unsigned)ls_fuzz_u64(&in, 1);
	struct ctx c = {.all_ns = cut & 1};
	struct ls_kube_watch_stream s;
	size_t piece = 1 + (cut >> 1), before;

	if (ls_kube_store_new(&c.st) < 0)
		return 0;
	ls_kube_watch_stream_init(&s, 4096);
	while (in.n) {
		size_t n = piece < in.n ? piece : in.n;

		if (ls_kube_watch_stream_feed(&s, (const char *)in.p, n, on_line, &c) < 0)
			break;
		in.p += n;
		in.n -= n;
		piece = piece * 3 % 257 + 1;
	}
	before = ls_kube_store_count(c.st);
	LS_FUZZ_CHECK(ls_kube_store_bytes(c.st) >= before);
	ls_kube_watch_stream_release(&s);
	ls_kube_store_free(c.st);
	return 0;
}
