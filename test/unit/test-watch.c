/*
 * test-watch.c - the informer of lib/kube (watch.h) without a cluster: the
 * watch stream cut at every byte, WatchEvents (ADDED, MODIFIED, DELETED,
 * BOOKMARK, ERROR, malformed), the pause annotations, the store (and what
 * 10,000 objects cost), LIST pages; then the informer against a fake API
 * server on 127.0.0.1 that streams chunked WATCH responses: list then
 * watch, relists after 410 (an ERROR event, a 410 answer), resuming from a
 * bookmark, backoff and staleness, 403, pagination, a 401 after a token
 * rotation, all-namespace watches, remove/retain, and a prompt stop.
 */
#include <arpa/inet.h>
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kube/kube.h"
#include "kube/kubeconfig.h"
#include "kube/watch-internal.h"
#include "kube/watch.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/diag.h"

#define WAIT_UNTIL(cond, ms)                                                                       \
	do {                                                                                       \
		int64_t end_ = ls_clock_mono_ms() + (ms);                                          \
		while (!(cond) && ls_clock_mono_ms() < end_)                                       \
			ls_clock_sleep_ms(5);                                                      \
	} while (0)

/* --- the stream ------------------------------------------------------------ */

struct lines {
	char *v[16];
	size_t n;
	int fail_at; /* the callback fails (-EPROTO) on this line number, 0: never */
};

static int collect(void *ud, const char *line, size_t len)
{
	struct lines *l = ud;

	ck_assert_uint_lt(l->n, 16);
	if (l->fail_at && (int)l->n + 1 == l->fail_at)
		return -EPROTO;
	l->v[l->n++] = strndup(line, len);
	return 0;
}

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	memset(l, 0, sizeof(*l));
}

static const char three_events[] =
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"5\"}}}\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"6\"}}}"
    "\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"}}}\n";

START_TEST(test_watch_stream_split_anywhere)
{
	size_t len = strlen(three_events);

	/* Two reads, cut at every byte. */
	for (size_t cut = 0; cut <= len; cut++) {
		struct ls_kube_watch_stream s;
		struct lines l = {0};

		ls_kube_watch_stream_init(&s, 1024);
		ck_assert_int_eq(ls_kube_watch_stream_feed(&s, three_events, cut, collect, &l), 0);
		ck_assert_int_eq(
		    ls_kube_watch_stream_feed(&s, three_events + cut, len - cut, collect, &l), 0);
		ck_assert_uint_eq(l.n, 3);
		ck_assert_ptr_nonnull(strstr(l.v[0], "\"ADDED\""));
		ck_assert_ptr_nonnull(strstr(l.v[1], "\"MODIFIED\""));
		ck_assert_ptr_nonnull(strstr(l.v[2], "\"BOOKMARK\""));
		ck_assert_ptr_null(strchr(l.v[2], '\n'));
		lines_free(&l);
		ls_kube_watch_stream_release(&s);
	}
	/* One byte at a time. */
	{
		struct ls_kube_watch_stream s;
		struct lines l = {0};

		ls_kube_watch_stream_init(&s, 1024);
		for (size_t i = 0; i < len; i++)
			ck_assert_int_eq(
			    ls_kube_watch_stream_feed(&s, three_events + i, 1, collect, &l), 0);
		ck_assert_uint_eq(l.n, 3);
		ck_assert_str_eq(l.v[2], "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{"
		                         "\"resourceVersion\":\"9\"}}}");
		lines_free(&l);
		ls_kube_watch_stream_release(&s);
	}
}
END_TEST

START_TEST(test_watch_stream_many_per_read_crlf_blank)
{
	struct ls_kube_watch_stream s;
	struct lines l = {0};
	const char a[] = "{\"x\":1}\r\n\n   \r\n{\"x\":2}\n{\"x\":";

	ls_kube_watch_stream_init(&s, 1024);
	ck_assert_int_eq(ls_kube_watch_stream_feed(&s, a, strlen(a), collect, &l), 0);
	/* Blank lines are skipped, "\r" dropped, the tail waits. */
	ck_assert_uint_eq(l.n, 2);
	ck_assert_str_eq(l.v[0], "{\"x\":1}");
	ck_assert_str_eq(l.v[1], "{\"x\":2}");
	ck_assert_int_eq(ls_kube_watch_stream_feed(&s, "3}\n", 3, collect, &l), 0);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_str_eq(l.v[2], "{\"x\":3}");
	/* A tail without a newline is never delivered (a transfer ended in it). */
	ck_assert_int_eq(ls_kube_watch_stream_feed(&s, "{\"x\":4}", 7, collect, &l), 0);
	ck_assert_uint_eq(l.n, 3);
	ls_kube_watch_stream_reset(&s);
	ck_assert_int_eq(ls_kube_watch_stream_feed(&s, "{\"x\":5}\n", 8, collect, &l), 0);
	ck_assert_str_eq(l.v[3], "{\"x\":5}");
	lines_free(&l);
	ls_kube_watch_stream_release(&s);
}
END_TEST

START_TEST(test_watch_stream_oversized_event_refused)
{
	struct ls_kube_watch_stream s;
	struct lines l = {0};
	char big[101];

	memset(big, 'x', 100);
	big[100] = '\0';
	/* Carried over read after read, past the cap. */
	ls_kube_watch_stream_init(&s, 64);
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(ls_kube_watch_stream_feed(&s, big, 10, collect, &l), 0);
	ck_assert_int_eq(ls_kube_watch_stream_feed(&s, big, 10, collect, &l), -E2BIG);
	/* Failed for good, even for a small good line, until reset. */
	ck_assert_int_eq(ls_kube_watch_stream_feed(&s, "{}\n", 3, collect, &l), -E2BIG);
	ck_assert_uint_eq(l.n, 0);
	ls_kube_watch_stream_reset(&s);
	ck_assert_int_eq(ls_kube_watch_stream_feed(&s, "{}\n", 3, collect, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	/* A whole line in one read, over the cap. */
	big[99] = '\n';
	ck_assert_int_eq(ls_kube_watch_stream_feed(&s, big, 100, collect, &l), -E2BIG);
	ck_assert_uint_eq(l.n, 1);
	/* Exactly the cap is fine. */
	ls_kube_watch_stream_reset(&s);
	big[64] = '\n';
	ck_assert_int_eq(ls_kube_watch_stream_feed(&s, big, 65, collect, &l), 0);
	ck_assert_uint_eq(l.n, 2);
	lines_free(&l);
	ls_kube_watch_stream_release(&s);
}
END_TEST

START_TEST(test_watch_stream_callback_error_stops)
{
	struct ls_kube_watch_stream s;
	struct lines l = {.fail_at = 2};

	ls_kube_watch_stream_init(&s, 1024);
	ck_assert_int_eq(
	    ls_kube_watch_stream_feed(&s, three_events, strlen(three_events), collect, &l),
	    -EPROTO);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_int_eq(ls_kube_watch_stream_feed(&s, "{}\n", 3, collect, &l), -EPROTO);
	lines_free(&l);
	ls_kube_watch_stream_release(&s);
}
END_TEST

/* --- events ------------------------------------------------------------------ */

static int parse(const char *line, bool all_ns, struct ls_kube_watch_event *ev, char *err)
{
	return ls_kube_watch_event_parse(line, strlen(line), all_ns, ev, err, 200);
}

START_TEST(test_watch_event_added_modified_deleted)
{
	struct ls_kube_watch_event ev;
	char err[200];
	const char *added =
	    "{\"type\":\"ADDED\",\"object\":{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":"
	    "\"meta.k8s.io/v1\",\"metadata\":{\"name\":\"orders\",\"namespace\":\"shop\","
	    "\"uid\":\"0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0\",\"resourceVersion\":\"1234\","
	    "\"generation\":7,\"annotations\":{\"lagscale.io/paused\":\"true\"}}}}";

	ck_assert_int_eq(parse(added, false, &ev, err), 0);
	ck_assert_int_eq(ev.type, LS_KUBE_WATCH_ADDED);
	ck_assert_str_eq(ev.key, "orders");
	ck_assert_str_eq(ev.resource_version, "1234");
	ck_assert_str_eq(ev.meta.resource_version, "1234");
	ck_assert_str_eq(ev.meta.uid, "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0");
	ck_assert_int_eq(ev.meta.generation, 7);
	ck_assert(ev.meta.paused);
	ck_assert_int_eq(ev.meta.paused_replicas, -1);
	ck_assert_str_eq(ev.meta.pause_error, "");
	ls_kube_watch_event_release(&ev);
	/* A watch over every namespace keys by namespace/name. */
	ck_assert_int_eq(parse(added, true, &ev, err), 0);
	ck_assert_str_eq(ev.key, "shop/orders");
	ls_kube_watch_event_release(&ev);
	ck_assert_int_eq(parse("{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"x\","
	                       "\"resourceVersion\":\"9\"}}}",
	                       true, &ev, err),
	                 0);
	ck_assert_int_eq(ev.type, LS_KUBE_WATCH_MODIFIED);
	ck_assert_str_eq(ev.key, "x"); /* cluster-scoped: no namespace */
	ck_assert_int_eq(ev.meta.generation, 0);
	ck_assert(!ev.meta.paused);
	ls_kube_watch_event_release(&ev);
	ck_assert_int_eq(parse("{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"x\","
	                       "\"resourceVersion\":\"10\"}}}",
	                       false, &ev, err),
	                 0);
	ck_assert_int_eq(ev.type, LS_KUBE_WATCH_DELETED);
	ck_assert_str_eq(ev.resource_version, "10");
	ls_kube_watch_event_release(&ev);
}
END_TEST

START_TEST(test_watch_event_bookmark_and_error)
{
	struct ls_kube_watch_event ev;
	char err[200];

	ck_assert_int_eq(
	    parse("{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"PartialObjectMetadata\","
	          "\"metadata\":{\"resourceVersion\":\"4242\",\"annotations\":{"
	          "\"k8s.io/initial-events-end\":\"true\"}}}}",
	          false, &ev, err),
	    0);
	ck_assert_int_eq(ev.type, LS_KUBE_WATCH_BOOKMARK);
	ck_assert_str_eq(ev.resource_version, "4242");
	ck_assert_ptr_null(ev.key);
	ls_kube_watch_event_release(&ev);
	ck_assert_int_eq(
	    parse("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
	          "\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old resource "
	          "version: 5 (80)\",\"reason\":\"Expired\",\"code\":410}}",
	          false, &ev, err),
	    0);
	ck_assert_int_eq(ev.type, LS_KUBE_WATCH_ERROR);
	ck_assert_int_eq(ev.code, 410);
	ck_assert_str_eq(ev.message, "too old resource version: 5 (80)");
	ck_assert_str_eq(ev.resource_version, "");
	ls_kube_watch_event_release(&ev);
}
END_TEST

START_TEST(test_watch_event_malformed)
{
	static const char *const bad[] = {
	    "not json",
	    "{\"type\":\"ADDED\"",
	    "[1,2]",
	    "{\"type\":\"ADDED\"}",
	    "{\"object\":{}}",
	    "{\"type\":\"EXPLODED\",\"object\":{}}",
	    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}",
	    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":\"1\"}}}",
	    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"\",\"resourceVersion\":"
	    "\"1\"}}}",
	    "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{}}}",
	    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":"
	    "\"1234567890123456789012345678901234567890123456789012345678901234567890\"}}}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ls_kube_watch_event ev;
		char err[200] = "";

		memset(&ev, 0x5a, sizeof(ev));
		ck_assert_msg(parse(bad[i], false, &ev, err) == -EPROTO, "%s", bad[i]);
		ck_assert_msg(err[0], "no message for %s", bad[i]);
		/* ret untouched */
		ck_assert_int_eq(((unsigned char *)&ev)[0], 0x5a);
	}
}
END_TEST

/* --- pause annotations ---------------------------------------------------------- */

static struct ls_kube_object_meta meta_with(const char *annotations)
{
	char json[512];
	cJSON *j;
	struct ls_kube_object_meta m;

	snprintf(json, sizeof(json),
	         "{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"1\",\"annotations\":%s}}",
	         annotations);
	j = cJSON_Parse(json);
	ck_assert_ptr_nonnull(j);
	memset(&m, 0x5a, sizeof(m));
	ck_assert_int_eq(ls_kube_object_meta_parse(j, &m), 0);
	cJSON_Delete(j);
	return m;
}

START_TEST(test_watch_pause_annotations)
{
	struct ls_kube_object_meta m;

	m = meta_with("{}");
	ck_assert(!m.paused);
	ck_assert_int_eq(m.paused_replicas, -1);
	ck_assert_str_eq(m.pause_error, "");
	m = meta_with("{\"lagscale.io/paused\":\"true\"}");
	ck_assert(m.paused);
	m = meta_with("{\"lagscale.io/paused\":\"False\"}");
	ck_assert(!m.paused);
	m = meta_with("{\"lagscale.io/paused-replicas\":\"2\"}");
	ck_assert(m.paused);
	ck_assert_int_eq(m.paused_replicas, 2);
	ck_assert_str_eq(m.pause_error, "");
	/* Bad values: paused (a person meant it), with ls_kube_scale_get's message. */
	m = meta_with("{\"lagscale.io/paused\":\"maybe\"}");
	ck_assert(m.paused);
	ck_assert_int_eq(m.paused_replicas, -1);
	ck_assert_str_eq(
	    m.pause_error,
	    "bad annotation lagscale.io/paused: \"maybe\" (want \"true\" or \"false\")");
	m = meta_with("{\"lagscale.io/paused\":\"true\",\"lagscale.io/paused-replicas\":\"-1\"}");
	ck_assert(m.paused);
	ck_assert_int_eq(m.paused_replicas, -1);
	ck_assert_str_eq(
	    m.pause_error,
	    "bad annotation lagscale.io/paused-replicas: \"-1\" (want a replica count)");
	/* A non-string annotation value is absent (the API allows only strings). */
	m = meta_with("{\"lagscale.io/paused\":true}");
	ck_assert(!m.paused);
}
END_TEST

/* --- the store ------------------------------------------------------------------- */

static struct ls_kube_object_meta mk(int64_t gen, const char *uid, const char *rv)
{
	struct ls_kube_object_meta m;

	memset(&m, 0, sizeof(m));
	m.generation = gen;
	snprintf(m.uid, sizeof(m.uid), "%s", uid);
	snprintf(m.resource_version, sizeof(m.resource_version), "%s", rv);
	m.paused_replicas = -1;
	return m;
}

static void assert_meta_eq(const struct ls_kube_object_meta *a, const struct ls_kube_object_meta *b)
{
	ck_assert_int_eq(a->generation, b->generation);
	ck_assert_str_eq(a->uid, b->uid);
	ck_assert_str_eq(a->resource_version, b->resource_version);
	ck_assert_int_eq(a->paused, b->paused);
	ck_assert_int_eq(a->paused_replicas, b->paused_replicas);
	ck_assert_str_eq(a->pause_error, b->pause_error);
}

START_TEST(test_watch_store_put_get_delete)
{
	struct ls_kube_store *st;
	struct ls_kube_object_meta a = mk(1, "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0", "100"), got;
	struct ls_kube_object_meta odd = mk(3, "NOT-A-UUID", "v1.abc");

	ck_assert_int_eq(ls_kube_store_new(&st), 0);
	memset(&got, 0x5a, sizeof(got));
	ck_assert_int_eq(ls_kube_store_get(st, "a", &got), -ENOENT);
	ck_assert_int_eq(((unsigned char *)&got)[0], 0x5a);
	ck_assert_int_eq(ls_kube_store_put(st, "a", &a), 1);
	ck_assert_int_eq(ls_kube_store_put(st, "a", &a), 0); /* the same: no change */
	ck_assert_int_eq(ls_kube_store_get(st, "a", &got), 0);
	assert_meta_eq(&got, &a);
	a.generation = 2;
	snprintf(a.resource_version, sizeof(a.resource_version), "101");
	ck_assert_int_eq(ls_kube_store_put(st, "a", &a), 1);
	ck_assert_int_eq(ls_kube_store_get(st, "a", &got), 0);
	assert_meta_eq(&got, &a);
	/* Uids and resourceVersions of other forms, and pause errors, round-trip. */
	odd.paused = true;
	snprintf(odd.pause_error, sizeof(odd.pause_error), "bad annotation x");
	ck_assert_int_eq(ls_kube_store_put(st, "ns/odd", &odd), 1);
	ck_assert_int_eq(ls_kube_store_get(st, "ns/odd", &got), 0);
	assert_meta_eq(&got, &odd);
	odd = mk(0, "0B1C2D3E-4F50-6172-8394-A5B6C7D8E9F0", "0123");
	ck_assert_int_eq(ls_kube_store_put(st, "ns/odd", &odd), 1);
	ck_assert_int_eq(ls_kube_store_get(st, "ns/odd", &got), 0);
	assert_meta_eq(&got, &odd);
	odd = mk(0, "", "18446744073709551615");
	ck_assert_int_eq(ls_kube_store_put(st, "e", &odd), 1);
	ck_assert_int_eq(ls_kube_store_get(st, "e", &got), 0);
	assert_meta_eq(&got, &odd);
	ck_assert_uint_eq(ls_kube_store_count(st), 3);
	ck_assert_int_eq(ls_kube_store_delete(st, "a"), 1);
	ck_assert_int_eq(ls_kube_store_delete(st, "a"), 0);
	ck_assert_int_eq(ls_kube_store_get(st, "a", &got), -ENOENT);
	ck_assert_uint_eq(ls_kube_store_count(st), 2);
	ls_kube_store_free(st);
	ls_kube_store_free(NULL);
}
END_TEST

/* Random puts and deletes against a plain array: the table (backward-shift
 * deletion across wrap-around and growth) always agrees. */
START_TEST(test_watch_store_matches_a_model)
{
	enum { KEYS = 300, OPS = 20000 };
	static int64_t model[KEYS]; /* generation + 1, 0: absent */
	struct ls_kube_store *st;
	uint64_t rng = 42;

	memset(model, 0, sizeof(model));
	ck_assert_int_eq(ls_kube_store_new(&st), 0);
	for (int op = 0; op < OPS; op++) {
		char key[32];
		size_t k;
		struct ls_kube_object_meta m, got;

		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		k = (size_t)((rng >> 33) % KEYS);
		snprintf(key, sizeof(key), "consumer-%zu", k);
		if ((rng >> 20) % 3 == 0) {
			ck_assert_int_eq(ls_kube_store_delete(st, key), model[k] ? 1 : 0);
			model[k] = 0;
		} else {
			char rv[24];

			snprintf(rv, sizeof(rv), "%d", op + 1);
			m = mk(op, "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0", rv);
			ck_assert_int_eq(ls_kube_store_put(st, key, &m), 1);
			model[k] = op + 1;
		}
		if (op % 97 == 0) {
			size_t n = 0;

			for (size_t i = 0; i < KEYS; i++) {
				snprintf(key, sizeof(key), "consumer-%zu", i);
				if (model[i]) {
					n++;
					ck_assert_int_eq(ls_kube_store_get(st, key, &got), 0);
					ck_assert_int_eq(got.generation, model[i] - 1);
				} else {
					ck_assert_int_eq(ls_kube_store_get(st, key, &got), -ENOENT);
				}
			}
			ck_assert_uint_eq(ls_kube_store_count(st), n);
		}
	}
	ls_kube_store_free(st);
}
END_TEST

/* What 10,000 objects cost: realistic names, uids, resourceVersions. */
START_TEST(test_watch_store_memory_10000)
{
	enum { N = 10000 };
	struct ls_kube_store *st;
	struct mallinfo2 before, after;
	size_t used, bytes;

	before = mallinfo2();
	ck_assert_int_eq(ls_kube_store_new(&st), 0);
	for (int i = 0; i < N; i++) {
		char key[64], uid[40], rv[24];
		struct ls_kube_object_meta m;

		snprintf(key, sizeof(key), "order-consumer-%05d", i);
		snprintf(uid, sizeof(uid), "%08x-4f50-4172-8394-%012x", (unsigned)i * 2654435761u,
		         (unsigned)i);
		snprintf(rv, sizeof(rv), "%d", 81234567 + i);
		m = mk(3, uid, rv);
		ck_assert_int_eq(ls_kube_store_put(st, key, &m), 1);
	}
	after = mallinfo2();
	used = after.uordblks - before.uordblks;
	bytes = ls_kube_store_bytes(st);
	fprintf(stderr,
	        "watch store: %d objects: %zu bytes requested (%zu per object), %zu bytes of heap "
	        "(%zu per object)\n",
	        N, bytes, bytes / N, used, used / N);
	ck_assert_uint_lt(used, 2 * 1024 * 1024 / 2); /* well under 2 MB: under 1 MB */
	{
		struct ls_kube_object_meta got;
		int64_t t0 = ls_clock_mono_ms();

		int missed = 0;

		/* What a round of 10,000 lookups costs (no I/O at all). */
		for (int round = 0; round < 10; round++)
			for (int i = 0; i < N; i++) {
				char key[64];

				snprintf(key, sizeof(key), "order-consumer-%05d", i);
				missed += ls_kube_store_get(st, key, &got) != 0;
			}
		fprintf(stderr, "watch store: 100,000 lookups in %lld ms\n",
		        (long long)(ls_clock_mono_ms() - t0));
		ck_assert_int_eq(missed, 0);
		ck_assert_int_eq(ls_kube_store_get(st, "order-consumer-04242", &got), 0);
		ck_assert_str_eq(got.resource_version, "81238809");
		ck_assert_str_eq(got.uid, "b33e76f2-4f50-4172-8394-000000001092");
	}
	ls_kube_store_free(st);
}
END_TEST

/* --- LIST pages ---------------------------------------------------------------------- */

START_TEST(test_watch_list_pages_and_relist_replace)
{
	struct ls_kube_store *first, *second;
	struct ls_kube_object_meta got;
	char rv[LS_KUBE_RV_MAX] = "", err[200], *cont = NULL;
	const char p1[] =
	    "{\"kind\":\"PartialObjectMetadataList\",\"apiVersion\":\"meta.k8s.io/v1\","
	    "\"metadata\":{\"resourceVersion\":\"50\",\"continue\":\"tok\"},"
	    "\"items\":[{\"metadata\":{\"name\":\"a\",\"namespace\":\"s\","
	    "\"resourceVersion\":\"10\",\"generation\":1}},"
	    "{\"metadata\":{\"name\":\"b\",\"namespace\":\"s\","
	    "\"resourceVersion\":\"11\",\"generation\":2}}]}";
	const char p2[] = "{\"metadata\":{\"resourceVersion\":\"50\"},\"items\":[{\"metadata\":{"
	                  "\"name\":\"c\",\"namespace\":\"s\",\"resourceVersion\":\"12\"}}]}";
	const char again[] = "{\"metadata\":{\"resourceVersion\":\"90\"},\"items\":[{\"metadata\":"
	                     "{\"name\":\"a\",\"namespace\":\"s\",\"resourceVersion\":\"80\","
	                     "\"generation\":5}}]}";
	const char empty[] = "{\"metadata\":{\"resourceVersion\":\"7\"},\"items\":null}";
	const char nameless[] = "{\"metadata\":{\"resourceVersion\":\"7\"},\"items\":[{}]}";

	ck_assert_int_eq(ls_kube_store_new(&first), 0);
	ck_assert_int_eq(ls_kube_watch_list_page(p1, strlen(p1), false, first, rv, sizeof(rv),
	                                         &cont, err, sizeof(err)),
	                 0);
	ck_assert_str_eq(rv, "50");
	ck_assert_str_eq(cont, "tok");
	free(cont);
	ck_assert_int_eq(ls_kube_watch_list_page(p2, strlen(p2), false, first, rv, sizeof(rv),
	                                         &cont, err, sizeof(err)),
	                 0);
	ck_assert_ptr_null(cont);
	ck_assert_uint_eq(ls_kube_store_count(first), 3);
	ck_assert_int_eq(ls_kube_store_get(first, "b", &got), 0);
	ck_assert_int_eq(got.generation, 2);
	/* A relist builds a new store: what was deleted meanwhile is gone. */
	ck_assert_int_eq(ls_kube_store_new(&second), 0);
	ck_assert_int_eq(ls_kube_watch_list_page(again, strlen(again), true, second, rv, sizeof(rv),
	                                         &cont, err, sizeof(err)),
	                 0);
	ck_assert_str_eq(rv, "90");
	ck_assert_uint_eq(ls_kube_store_count(second), 1);
	ck_assert_int_eq(ls_kube_store_get(second, "s/a", &got), 0); /* all namespaces */
	ck_assert_int_eq(got.generation, 5);
	ck_assert_int_eq(ls_kube_store_get(second, "s/b", &got), -ENOENT);
	ls_kube_store_free(first);
	/* Empty lists, and what is not a List. */
	ck_assert_int_eq(ls_kube_watch_list_page(empty, strlen(empty), false, second, rv,
	                                         sizeof(rv), &cont, err, sizeof(err)),
	                 0);
	ck_assert_str_eq(rv, "7");
	ck_assert_int_eq(ls_kube_watch_list_page("{\"items\":[]}", 12, false, second, rv,
	                                         sizeof(rv), &cont, err, sizeof(err)),
	                 -EPROTO);
	ck_assert_int_eq(ls_kube_watch_list_page(nameless, strlen(nameless), false, second, rv,
	                                         sizeof(rv), &cont, err, sizeof(err)),
	                 -EPROTO);
	ck_assert_int_eq(ls_kube_watch_list_page("<html>", 6, false, second, rv, sizeof(rv), &cont,
	                                         err, sizeof(err)),
	                 -EPROTO);
	ck_assert_str_eq(rv, "7"); /* untouched */
	ls_kube_store_free(second);
}
END_TEST

/* --- a fake API server ------------------------------------------------------------------ */

struct fobj {
	char ns[32];
	char name[64];
	uint64_t rv;
	int64_t gen;
	char ann[160]; /* the annotations object, "" for none */
	size_t pad;    /* > 0: an annotation of this many bytes (a large object) */
	bool live;
};

struct fevent {
	uint64_t rv;
	char ns[32];
	char *line; /* with its newline */
};

struct fapi {
	int fd, port;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;
	int handlers;
	struct fobj obj[64];
	size_t nobj;
	uint64_t rv;
	struct fevent ev[512];
	size_t nev;
	int page_cap;          /* items per LIST page at most; 0: as the limit says */
	int list_status;       /* non-zero: every LIST answers this */
	int watch_status_once; /* the next WATCH answers this */
	int watch_status;      /* non-zero: every WATCH answers this */
	int end_gen;           /* moving it ends the streams normally */
	int drop_gen;          /* ... abruptly (no final chunk) */
	int gone_gen;          /* ... with an ERROR 410 event */
	int lists, watches, discoveries, open_watches;
	int64_t watch_ms[64]; /* when each WATCH came */
	char last_watch[1024];
	char token[64]; /* non-empty: requests must carry it */
	int unauthorized;
	char last_accept[256]; /* the Accept header of the last LIST or WATCH */
};

struct fconn {
	struct fapi *f;
	int c;
};

static void fapi_send(int c, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = send(c, s, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void fapi_respond_h(int c, int status, const char *body, const char *headers)
{
	char head[256];

	snprintf(head, sizeof(head),
	         "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
	         "Connection: close\r\n%s\r\n",
	         status, strlen(body), headers);
	fapi_send(c, head, strlen(head));
	fapi_send(c, body, strlen(body));
}

static void fapi_respond(int c, int status, const char *body)
{
	fapi_respond_h(c, status, body, "");
}

static void fapi_status(int c, int status, const char *reason, const char *msg)
{
	char body[512];

	snprintf(body, sizeof(body),
	         "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":"
	         "\"Failure\",\"message\":\"%s\",\"reason\":\"%s\",\"code\":%d}",
	         msg, reason, status);
	/* As the API server's priority and fairness does. */
	fapi_respond_h(c, status, body, status == 429 ? "Retry-After: 1\r\n" : "");
}

/* One chunk of a chunked body. */
static void fapi_chunk(int c, const char *p, size_t n)
{
	char head[32];

	snprintf(head, sizeof(head), "%zx\r\n", n);
	fapi_send(c, head, strlen(head));
	fapi_send(c, p, n);
	fapi_send(c, "\r\n", 2);
}

/* The object as the API sends it (metadata only); a heap string. */
static char *fobj_json(const struct fobj *o, size_t idx)
{
	static char pad[2 * 1024 * 1024];
	char *s = NULL;

	if (!pad[0])
		memset(pad, 'x', sizeof(pad));
	ck_assert_uint_le(o->pad, sizeof(pad));
	ck_assert_int_ge(
	    asprintf(&s,
	             "{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\","
	             "\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\",\"uid\":"
	             "\"aaaaaaaa-bbbb-cccc-dddd-%012zx\",\"resourceVersion\":\"%" PRIu64 "\","
	             "\"generation\":%" PRId64 "%s%s%s%.*s%s}}",
	             o->name, o->ns, idx, o->rv, o->gen, o->ann[0] ? ",\"annotations\":" : "",
	             o->ann, o->pad ? ",\"annotations\":{\"pad\":\"" : "", (int)o->pad, pad,
	             o->pad ? "\"}" : ""),
	    0);
	return s;
}

static const char *query_param(const char *path, const char *name, char *out, size_t size)
{
	const char *q = strchr(path, '?');
	size_t nl = strlen(name);

	out[0] = '\0';
	while (q) {
		q++;
		if (strncmp(q, name, nl) == 0 && q[nl] == '=') {
			size_t n = strcspn(q + nl + 1, "& ");

			snprintf(out, size, "%.*s", (int)n, q + nl + 1);
			return out;
		}
		q = strchr(q, '&');
	}
	return NULL;
}

/* The namespace of a collection path, "" for every namespace. */
static void path_ns(const char *path, char *out, size_t size)
{
	const char *p = strstr(path, "/namespaces/");

	out[0] = '\0';
	if (p)
		snprintf(out, size, "%.*s", (int)strcspn(p + 12, "/"), p + 12);
}

static void fapi_list(struct fapi *f, int c, const char *path)
{
	char ns[32], q[64];
	size_t start = 0, limit = 500, n = 0;
	struct ls_buf body;
	long v;

	ls_buf_init(&body, 0);
	path_ns(path, ns, sizeof(ns));
	if (query_param(path, "limit", q, sizeof(q)) && (v = strtol(q, NULL, 10)) > 0)
		limit = (size_t)v;
	if (f->page_cap && limit > (size_t)f->page_cap)
		limit = (size_t)f->page_cap;
	if (query_param(path, "continue", q, sizeof(q)))
		start = (size_t)strtol(q, NULL, 10);
	pthread_mutex_lock(&f->mu);
	f->lists++;
	if (f->list_status) {
		int st = f->list_status;

		pthread_mutex_unlock(&f->mu);
		fapi_status(c, st, "Forbidden",
		            "deployments.apps is forbidden: User \\\"lagscale\\\" cannot list "
		            "resource \\\"deployments\\\" in API group \\\"apps\\\"");
		return;
	}
	ls_buf_puts(&body, "{\"kind\":\"PartialObjectMetadataList\",\"apiVersion\":"
	                   "\"meta.k8s.io/v1\",\"items\":[");
	{
		size_t i, seen = 0;

		for (i = 0; i < f->nobj; i++) {
			char *js;

			if (!f->obj[i].live || (ns[0] && strcmp(ns, f->obj[i].ns) != 0))
				continue;
			if (seen++ < start)
				continue;
			if (n == limit)
				break;
			js = fobj_json(&f->obj[i], i);
			ls_buf_printf(&body, "%s%s", n ? "," : "", js);
			free(js);
			n++;
		}
		ls_buf_printf(&body, "],\"metadata\":{\"resourceVersion\":\"%" PRIu64 "\"", f->rv);
		if (i < f->nobj && n == limit)
			ls_buf_printf(&body, ",\"continue\":\"%zu\"", start + n);
		ls_buf_puts(&body, "}}");
	}
	pthread_mutex_unlock(&f->mu);
	fapi_respond(c, 200, ls_buf_str(&body));
	ls_buf_release(&body);
}

static void fapi_watch(struct fapi *f, int c, const char *path)
{
	char ns[32], q[64];
	uint64_t from = 0;
	size_t next = 0;
	int end_gen, drop_gen, gone_gen, st;
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	                           "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";

	path_ns(path, ns, sizeof(ns));
	if (query_param(path, "resourceVersion", q, sizeof(q)))
		from = strtoull(q, NULL, 10);
	pthread_mutex_lock(&f->mu);
	if (f->watches < 64)
		f->watch_ms[f->watches] = ls_clock_mono_ms();
	f->watches++;
	snprintf(f->last_watch, sizeof(f->last_watch), "%s", path);
	st = f->watch_status_once ? f->watch_status_once : f->watch_status;
	f->watch_status_once = 0;
	if (st) {
		pthread_mutex_unlock(&f->mu);
		if (st == 410)
			fapi_status(c, 410, "Expired", "too old resource version");
		else if (st == 429)
			fapi_status(c, 429, "TooManyRequests",
			            "too many requests, please try again");
		else
			fapi_status(c, st, "InternalError", "etcdserver: leader changed");
		return;
	}
	f->open_watches++;
	end_gen = f->end_gen;
	drop_gen = f->drop_gen;
	gone_gen = f->gone_gen;
	pthread_mutex_unlock(&f->mu);
	fapi_send(c, head, strlen(head));
	pthread_mutex_lock(&f->mu);
	for (;;) {
		struct timespec ts;

		while (next < f->nev) {
			struct fevent *e = &f->ev[next++];
			char *line;
			size_t half;

			if (e->rv <= from || (ns[0] && e->ns[0] && strcmp(ns, e->ns) != 0))
				continue;
			line = strdup(e->line);
			pthread_mutex_unlock(&f->mu);
			/* In two chunks, cut inside the JSON, a little apart. */
			half = strlen(line) / 2;
			fapi_chunk(c, line, half);
			ls_clock_sleep_ms(1);
			fapi_chunk(c, line + half, strlen(line) - half);
			free(line);
			pthread_mutex_lock(&f->mu);
		}
		if (f->stopping || f->end_gen != end_gen) {
			fapi_send(c, "0\r\n\r\n", 5);
			break;
		}
		if (f->drop_gen != drop_gen)
			break;
		{
			/* The client went away (a watch removed, a stop). */
			char b;
			ssize_t r = recv(c, &b, 1, MSG_PEEK | MSG_DONTWAIT);

			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
				break;
		}
		if (f->gone_gen != gone_gen) {
			static const char gone[] =
			    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":"
			    "\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old "
			    "resource version: 1 (2)\",\"reason\":\"Expired\",\"code\":410}}\n";

			fapi_chunk(c, gone, strlen(gone));
			fapi_send(c, "0\r\n\r\n", 5);
			break;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&f->cv, &f->mu, &ts);
	}
	f->open_watches--;
	pthread_mutex_unlock(&f->mu);
}

static void *fapi_conn(void *arg)
{
	struct fconn *fc = arg;
	struct fapi *f = fc->f;
	int c = fc->c;
	char req[8192], path[1024];
	size_t got = 0;

	free(fc);
	for (;;) {
		ssize_t n = read(c, req + got, sizeof(req) - 1 - got);

		if (n <= 0)
			goto out;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	if (sscanf(req, "GET %1023s ", path) != 1) {
		fapi_status(c, 405, "MethodNotAllowed", "GET only");
		goto out;
	}
	pthread_mutex_lock(&f->mu);
	if (f->token[0]) {
		char want[128];

		snprintf(want, sizeof(want), "Authorization: Bearer %s\r\n", f->token);
		if (!strstr(req, want)) {
			f->unauthorized++;
			pthread_mutex_unlock(&f->mu);
			fapi_status(c, 401, "Unauthorized", "Unauthorized");
			goto out;
		}
	}
	{
		const char *acc = strstr(req, "\r\nAccept: ");
		size_t alen = acc ? strcspn(acc + 10, "\r") : 0;

		if (acc && (strstr(path, "/deployments?") || strstr(path, "/lagscalers?")))
			snprintf(f->last_accept, sizeof(f->last_accept), "%.*s", (int)alen,
			         acc + 10);
	}
	pthread_mutex_unlock(&f->mu);
	if (strcmp(path, "/apis/lagscale.io/v1alpha1") == 0) {
		/* A custom resource without a scale subresource. */
		fapi_respond(c, 200,
		             "{\"kind\":\"APIResourceList\",\"groupVersion\":"
		             "\"lagscale.io/v1alpha1\",\"resources\":[{\"name\":\"lagscalers\","
		             "\"namespaced\":true,\"kind\":\"LagScaler\"},{\"name\":"
		             "\"lagscalers/status\",\"namespaced\":true,\"kind\":\"LagScaler\"}]}");
	} else if (strstr(path, "/lagscalers?") && strstr(path, "watch=1")) {
		fapi_watch(f, c, path);
	} else if (strstr(path, "/lagscalers?")) {
		fapi_list(f, c, path);
	} else if (strcmp(path, "/apis/apps/v1") == 0) {
		pthread_mutex_lock(&f->mu);
		f->discoveries++;
		pthread_mutex_unlock(&f->mu);
		fapi_respond(c, 200,
		             "{\"kind\":\"APIResourceList\",\"groupVersion\":\"apps/v1\","
		             "\"resources\":[{\"name\":\"deployments\",\"namespaced\":true,"
		             "\"kind\":\"Deployment\"},{\"name\":\"deployments/scale\","
		             "\"namespaced\":true,\"kind\":\"Scale\"}]}");
	} else if (strstr(path, "/deployments?") && strstr(path, "watch=1")) {
		fapi_watch(f, c, path);
	} else if (strstr(path, "/deployments?")) {
		fapi_list(f, c, path);
	} else {
		fapi_status(c, 404, "NotFound", "the server could not find the requested resource");
	}
out:
	close(c);
	pthread_mutex_lock(&f->mu);
	f->handlers--;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

static void *fapi_accept(void *arg)
{
	struct fapi *f = arg;

	for (;;) {
		int c = accept(f->fd, NULL, NULL), one = 1;
		struct fconn *fc;
		pthread_t th;

		if (c < 0)
			return NULL;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		fc = malloc(sizeof(*fc));
		fc->f = f;
		fc->c = c;
		pthread_mutex_lock(&f->mu);
		if (f->stopping) {
			pthread_mutex_unlock(&f->mu);
			close(c);
			free(fc);
			return NULL;
		}
		f->handlers++;
		pthread_mutex_unlock(&f->mu);
		if (pthread_create(&th, NULL, fapi_conn, fc) != 0) {
			close(c);
			free(fc);
			pthread_mutex_lock(&f->mu);
			f->handlers--;
			pthread_mutex_unlock(&f->mu);
			continue;
		}
		pthread_detach(th);
	}
}

static struct fapi *fapi_start(void)
{
	struct fapi *f = calloc(1, sizeof(*f));
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int one = 1;

	ck_assert_ptr_nonnull(f);
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->rv = 100;
	f->fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(f->fd, 0);
	setsockopt(f->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(f->fd, 64), 0);
	ck_assert_int_eq(getsockname(f->fd, (struct sockaddr *)&a, &len), 0);
	f->port = ntohs(a.sin_port);
	ck_assert_int_eq(pthread_create(&f->th, NULL, fapi_accept, f), 0);
	return f;
}

static void fapi_stop(struct fapi *f)
{
	pthread_mutex_lock(&f->mu);
	f->stopping = true;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	shutdown(f->fd, SHUT_RDWR);
	close(f->fd);
	pthread_join(f->th, NULL);
	pthread_mutex_lock(&f->mu);
	while (f->handlers > 0)
		pthread_cond_wait(&f->cv, &f->mu);
	pthread_mutex_unlock(&f->mu);
	for (size_t i = 0; i < f->nev; i++)
		free(f->ev[i].line);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

/* Under f->mu: logs an event of o (or a bookmark when o is NULL). */
static void fapi_log(struct fapi *f, const char *type, const struct fobj *o, size_t idx)
{
	char *js = NULL, *line = NULL;

	ck_assert_uint_lt(f->nev, 512);
	if (o)
		js = fobj_json(o, idx);
	else
		ck_assert_int_ge(asprintf(&js,
		                          "{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":"
		                          "\"meta.k8s.io/v1\",\"metadata\":{\"resourceVersion\":"
		                          "\"%" PRIu64 "\"}}",
		                          f->rv),
		                 0);
	ck_assert_int_ge(asprintf(&line, "{\"type\":\"%s\",\"object\":%s}\n", type, js), 0);
	free(js);
	f->ev[f->nev].rv = f->rv;
	snprintf(f->ev[f->nev].ns, sizeof(f->ev[f->nev].ns), "%s", o ? o->ns : "");
	f->ev[f->nev].line = line;
	f->nev++;
	pthread_cond_broadcast(&f->cv);
}

/* Creates or updates an object (with an event unless silent). */
static void fapi_put(struct fapi *f, const char *ns, const char *name, int64_t gen, const char *ann)
{
	size_t i;
	bool existed;

	pthread_mutex_lock(&f->mu);
	for (i = 0; i < f->nobj; i++)
		if (strcmp(f->obj[i].ns, ns) == 0 && strcmp(f->obj[i].name, name) == 0)
			break;
	if (i == f->nobj) {
		ck_assert_uint_lt(f->nobj, 64);
		f->nobj++;
	}
	existed = f->obj[i].live;
	snprintf(f->obj[i].ns, sizeof(f->obj[i].ns), "%s", ns);
	snprintf(f->obj[i].name, sizeof(f->obj[i].name), "%s", name);
	snprintf(f->obj[i].ann, sizeof(f->obj[i].ann), "%s", ann ? ann : "");
	f->obj[i].gen = gen;
	f->obj[i].rv = ++f->rv;
	f->obj[i].live = true;
	fapi_log(f, existed ? "MODIFIED" : "ADDED", &f->obj[i], i);
	pthread_mutex_unlock(&f->mu);
}

static void fapi_delete(struct fapi *f, const char *ns, const char *name, bool silent)
{
	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->nobj; i++) {
		struct fobj *o = &f->obj[i];

		if (o->live && strcmp(o->ns, ns) == 0 && strcmp(o->name, name) == 0) {
			o->live = false;
			o->rv = ++f->rv;
			if (!silent)
				fapi_log(f, "DELETED", o, i);
		}
	}
	pthread_mutex_unlock(&f->mu);
}

static void fapi_bookmark(struct fapi *f)
{
	pthread_mutex_lock(&f->mu);
	++f->rv;
	fapi_log(f, "BOOKMARK", NULL, 0);
	pthread_mutex_unlock(&f->mu);
}

static int fapi_get(struct fapi *f, int *field)
{
	int v;

	pthread_mutex_lock(&f->mu);
	v = *field;
	pthread_mutex_unlock(&f->mu);
	return v;
}

static void fapi_set(struct fapi *f, int *field, int v)
{
	pthread_mutex_lock(&f->mu);
	*field = v;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static void fapi_bump(struct fapi *f, int *field)
{
	pthread_mutex_lock(&f->mu);
	(*field)++;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static struct ls_kube_config *fapi_config(const struct fapi *f, const char *user)
{
	char yaml[1024];
	struct ls_kube_config *kc = NULL;
	struct ls_diag d;

	snprintf(yaml, sizeof(yaml),
	         "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:%d'}}]\n"
	         "users: [{name: u, user: %s}]\n"
	         "contexts: [{name: a, context: {cluster: c, user: u}}]\ncurrent-context: a\n",
	         f->port, user);
	ls_diag_init(&d);
	ck_assert_int_eq(
	    ls_kube_config_load_string("kc.yaml", "/tmp", yaml, strlen(yaml), NULL, &kc, &d), 0);
	ls_diag_release(&d);
	return kc;
}

static struct ls_kube_informer *informer(const struct ls_kube_config *kc, int32_t timeout_s)
{
	struct ls_kube_informer_options o = {.resync_backoff_max_ms = 400,
	                                     .watch_timeout_s = timeout_s};
	struct ls_kube_informer *inf = NULL;

	ck_assert_int_eq(ls_kube_informer_new(kc, &o, &inf), 0);
	return inf;
}

static int get(struct ls_kube_informer *inf, const char *ns, const char *name,
               struct ls_kube_object_meta *m, int64_t *stale)
{
	return ls_kube_informer_get(inf, "apps/v1", "Deployment", ns, name, m, stale, NULL, 0);
}

static int64_t gen_of(struct ls_kube_informer *inf, const char *ns, const char *name)
{
	struct ls_kube_object_meta m;

	return get(inf, ns, name, &m, NULL) == 0 ? m.generation : -1;
}

static struct ls_kube_informer_stats stats(struct ls_kube_informer *inf)
{
	struct ls_kube_informer_stats s;

	ls_kube_informer_stats(inf, &s);
	return s;
}

/* --- the informer against the fake ------------------------------------------------------- */

START_TEST(test_watch_informer_list_then_watch)
{
	struct fapi *f = fapi_start();
	struct ls_kube_config *kc = fapi_config(f, "{token: t}");
	struct ls_kube_informer *inf = informer(kc, 0);
	struct ls_kube_object_meta m;
	int64_t stale = -1;
	char err[256];
	uint64_t ch;

	fapi_put(f, "shop", "orders", 1, NULL);
	fapi_put(f, "shop", "ledger", 4, "{\"lagscale.io/paused\":\"true\"}");
	fapi_put(f, "other", "elsewhere", 1, NULL);
	ck_assert_int_eq(ls_kube_informer_add(inf, "apps/v1", "Deployment", "shop"), 0);
	ck_assert_int_eq(ls_kube_informer_add(inf, "apps/v1", "Deployment", "shop"), 0);
	ck_assert_int_eq(ls_kube_informer_add(inf, "", "Deployment", "shop"), -EINVAL);
	/* Not started: nothing listed yet. */
	ck_assert_int_eq(ls_kube_informer_get(inf, "apps/v1", "Deployment", "shop", "orders", &m,
	                                      &stale, err, sizeof(err)),
	                 -EAGAIN);
	ck_assert_ptr_nonnull(strstr(err, "not listed"));
	ck_assert_int_eq(ls_kube_informer_wait_synced(inf, 50), -ETIMEDOUT);
	ck_assert_int_eq(ls_kube_informer_start(inf), 0);
	ck_assert_int_eq(ls_kube_informer_start(inf), 0);
	ck_assert_int_eq(ls_kube_informer_wait_synced(inf, 5000), 0);
	ck_assert_int_eq(get(inf, "shop", "orders", &m, &stale), 0);
	ck_assert_int_eq(m.generation, 1);
	ck_assert_str_eq(m.uid, "aaaaaaaa-bbbb-cccc-dddd-000000000000");
	ck_assert_str_eq(m.resource_version, "101");
	ck_assert(!m.paused);
	ck_assert_int_eq(get(inf, "shop", "ledger", &m, NULL), 0);
	ck_assert(m.paused);
	ck_assert_int_eq(m.generation, 4);
	ck_assert_int_eq(get(inf, "shop", "elsewhere", &m, NULL), -ENOENT);
	ck_assert_int_eq(get(inf, "shop", "nothing", &m, NULL), -ENOENT);
	ck_assert_int_eq(ls_kube_informer_get(inf, "apps/v1", "StatefulSet", "shop", "x", &m, NULL,
	                                      err, sizeof(err)),
	                 -ESRCH);
	ck_assert_ptr_nonnull(strstr(err, "no watch of StatefulSet (apps/v1) in \"shop\""));
	/* Established: current. */
	WAIT_UNTIL(get(inf, "shop", "orders", &m, &stale) == 0 && stale == 0, 3000);
	ck_assert_int_eq(stale, 0);
	ck_assert_int_eq(fapi_get(f, &f->open_watches), 1);

	/* Changes arrive as events, cut into chunks. */
	ch = ls_kube_informer_changes(inf);
	fapi_put(f, "shop", "orders", 2, NULL);
	ck_assert_uint_ne(ls_kube_informer_wait(inf, ch, 3000), ch);
	WAIT_UNTIL(gen_of(inf, "shop", "orders") == 2, 3000);
	ck_assert_int_eq(gen_of(inf, "shop", "orders"), 2);
	fapi_put(f, "shop", "payments", 1, "{\"lagscale.io/paused-replicas\":\"x\"}");
	WAIT_UNTIL(gen_of(inf, "shop", "payments") == 1, 3000);
	ck_assert_int_eq(get(inf, "shop", "payments", &m, NULL), 0);
	ck_assert(m.paused);
	ck_assert_str_eq(
	    m.pause_error,
	    "bad annotation lagscale.io/paused-replicas: \"x\" (want a replica count)");
	fapi_delete(f, "shop", "ledger", false);
	WAIT_UNTIL(get(inf, "shop", "ledger", &m, NULL) == -ENOENT, 3000);
	ck_assert_int_eq(get(inf, "shop", "ledger", &m, NULL), -ENOENT);
	/* Another namespace's events never reach this watch. */
	fapi_put(f, "other", "elsewhere", 2, NULL);
	fapi_bookmark(f);
	WAIT_UNTIL(stats(inf).bookmarks == 1, 3000);
	{
		struct ls_kube_informer_stats s = stats(inf);

		ck_assert_uint_eq(s.lists, 1);
		ck_assert_uint_eq(s.watches, 1);
		ck_assert_uint_eq(s.relists, 0);
		ck_assert_uint_eq(s.failures, 0);
		ck_assert_uint_eq(s.events, 4); /* orders, payments, ledger, the bookmark */
		ck_assert_uint_eq(s.bookmarks, 1);
		ck_assert_uint_eq(s.objects, 2);
		ck_assert_uint_eq(s.watches_synced, 1);
		ck_assert_uint_eq(s.watches_total, 1);
	}
	ck_assert_int_eq(fapi_get(f, &f->discoveries), 1);
	ck_assert_ptr_nonnull(strstr(f->last_watch, "/apis/apps/v1/namespaces/shop/deployments?"
	                                            "watch=1&allowWatchBookmarks=true&"
	                                            "resourceVersion=103&timeoutSeconds="));
	{
		long t = strtol(strstr(f->last_watch, "timeoutSeconds=") + 15, NULL, 10);

		ck_assert_int_ge(t, 300);
		ck_assert_int_lt(t, 600);
	}
	ls_kube_informer_free(inf);
	ls_kube_config_free(kc);
	fapi_stop(f);
}
END_TEST

START_TEST(test_watch_informer_resumes_from_bookmark)
{
	struct fapi *f = fapi_start();
	struct ls_kube_config *kc = fapi_config(f, "{}");
	struct ls_kube_informer *inf = informer(kc, 60);
	char want[64];

	fapi_put(f, "shop", "orders", 1, NULL);
	ck_assert_int_eq(ls_kube_informer_add(inf, "apps/v1", "Deployment", "shop"), 0);
	ck_assert_int_eq(ls_kube_informer_start(inf), 0);
	ck_assert_int_eq(ls_kube_informer_wait_synced(inf, 5000), 0);
	WAIT_UNTIL(fapi_get(f, &f->open_watches) == 1, 3000);
	ck_assert_ptr_nonnull(strstr(f->last_watch, "timeoutSeconds=60"));
	fapi_bookmark(f); /* rv 102 */
	WAIT_UNTIL(stats(inf).bookmarks == 1, 3000);
	/* The server ends the watch (as at timeoutSeconds): watch again at
	 * once from the bookmark, no LIST, no failure. */
	fapi_bump(f, &f->end_gen);
	WAIT_UNTIL(stats(inf).watches == 2 && fapi_get(f, &f->open_watches) == 1, 3000);
	snprintf(want, sizeof(want), "resourceVersion=102&");
	ck_assert_ptr_nonnull(strstr(f->last_watch, want));
	{
		struct ls_kube_informer_stats s = stats(inf);

		ck_assert_uint_eq(s.lists, 1);
		ck_assert_uint_eq(s.watches, 2);
		ck_assert_uint_eq(s.failures, 0);
	}
	/* Events after the reconnect still arrive. */
	fapi_put(f, "shop", "orders", 2, NULL);
	WAIT_UNTIL(gen_of(inf, "shop", "orders") == 2, 3000);
	ck_assert_int_eq(gen_of(inf, "shop", "orders"), 2);
	ls_kube_informer_free(inf);
	ls_kube_config_free(kc);
	fapi_stop(f);
}
END_TEST

START_TEST(test_watch_informer_relist_on_gone_event)
{
	struct fapi *f = fapi_start();
	struct ls_kube_config *kc = fapi_config(f, "{}");
	struct ls_kube_informer *inf = informer(kc, 0);
	struct ls_kube_object_meta m;

	fapi_put(f, "shop", "a", 1, NULL);
	fapi_put(f, "shop", "b", 1, NULL);
	ck_assert_int_eq(ls_kube_informer_add(inf, "apps/v1", "Deployment", "shop"), 0);
	ck_assert_int_eq(ls_kube_informer_start(inf), 0);
	ck_assert_int_eq(ls_kube_informer_wait_synced(inf, 5000), 0);
	WAIT_UNTIL(fapi_get(f, &f->open_watches) == 1, 3000);
	/* While compaction loses the history: b deleted and c created with
	 * no event a watch could replay; then ERROR 410. */
	fapi_delete(f, "shop", "b", true);
	pthread_mutex_lock(&f->mu);
	snprintf(f->obj[f->nobj].ns, sizeof(f->obj[0].ns), "shop");
	snprintf(f->obj[f->nobj].name, sizeof(f->obj[0].name), "c");
	f->obj[f->nobj].gen = 1;
	f->obj[f->nobj].rv = ++f->rv;
	f->obj[f->nobj].live = true;
	f->nobj++;
	pthread_mutex_unlock(&f->mu);
	ck_assert_int_eq(get(inf, "shop", "b", &m, NULL), 0);
	fapi_bump(f, &f->gone_gen);
	WAIT_UNTIL(stats(inf).relists == 1 && get(inf, "shop", "c", &m, NULL) == 0, 3000);
	ck_assert_int_eq(get(inf, "shop", "c", &m, NULL), 0);
	ck_assert_int_eq(get(inf, "shop", "b", &m, NULL), -ENOENT); /* the store was replaced */
	ck_assert_int_eq(get(inf, "shop", "a", &m, NULL), 0);
	WAIT_UNTIL(fapi_get(f, &f->open_watches) == 1, 3000);
	{
		struct ls_kube_informer_stats s = stats(inf);

		ck_assert_uint_eq(s.relists, 1);
		ck_assert_uint_eq(s.lists, 2);
		ck_assert_uint_eq(s.watches, 2);
		ck_assert_uint_eq(s.failures, 0);
	}
	ls_kube_informer_free(inf);
	ls_kube_config_free(kc);
	fapi_stop(f);
}
END_TEST

START_TEST(test_watch_informer_relist_on_410_answer)
{
	struct fapi *f = fapi_start();
	struct ls_kube_config *kc = fapi_config(f, "{}");
	struct ls_kube_informer *inf = informer(kc, 0);

	fapi_put(f, "shop", "a", 1, NULL);
	fapi_set(f, &f->watch_status_once, 410);
	ck_assert_int_eq(ls_kube_informer_add(inf, "apps/v1", "Deployment", "shop"), 0);
	ck_assert_int_eq(ls_kube_informer_start(inf), 0);
	WAIT_UNTIL(stats(inf).relists == 1 && fapi_get(f, &f->open_watches) == 1, 3000);
	{
		struct ls_kube_informer_stats s = stats(inf);

		ck_assert_uint_eq(s.relists, 1);
		ck_assert_uint_eq(s.lists, 2);
		ck_assert_uint_eq(s.watches, 2);
		ck_assert_uint_eq(s.failures, 0);
	}
	ck_assert_int_eq(gen_of(inf, "shop", "a"), 1);
	ls_kube_informer_free(inf);
	ls_kube_config_free(kc);
	fapi_stop(f);
}
END_TEST

START_TEST(test_watch_informer_backoff_and_staleness)
{
	struct fapi *f = fapi_start();
	struct ls_kube_config *kc = fapi_config(f, "{}");
	struct ls_kube_informer *inf = informer(kc, 0);
	struct ls_kube_object_meta m;
	int64_t stale = 0, t0;
	char err[256] = "";

	fapi_put(f, "shop", "a", 1, NULL);
	ck_assert_int_eq(ls_kube_informer_add(inf, "apps/v1", "Deployment", "shop"), 0);
	ck_assert_int_eq(ls_kube_informer_start(inf), 0);
	ck_assert_int_eq(ls_kube_informer_wait_synced(inf, 5000), 0);
	WAIT_UNTIL(fapi_get(f, &f->open_watches) == 1, 3000);
	/* The stream drops and every new WATCH gets a 500: stale, with why. */
	fapi_set(f, &f->watch_status, 500);
	t0 = ls_clock_mono_ms();
	fapi_bump(f, &f->drop_gen);
	WAIT_UNTIL(stats(inf).failures >= 3, 5000);
	ck_assert_int_eq(ls_kube_informer_get(inf, "apps/v1", "Deployment", "shop", "a", &m, &stale,
	                                      err, sizeof(err)),
	                 0);
	ck_assert_int_ge(stale, t0);
	ck_assert_int_le(stale, ls_clock_mono_ms());
	ck_assert_msg(strstr(err, "etcdserver: leader changed"), "%s", err);
	/* Backoff: not a busy loop (500 ms doubling, capped at 400 ms here). */
	{
		int w0 = fapi_get(f, &f->watches);

		ls_clock_sleep_ms(1000);
		ck_assert_int_le(fapi_get(f, &f->watches) - w0, 6);
	}
	/* Events while disconnected are not lost: the watch resumes from its
	 * resourceVersion. */
	fapi_put(f, "shop", "a", 5, NULL);
	fapi_set(f, &f->watch_status, 0);
	WAIT_UNTIL(get(inf, "shop", "a", &m, &stale) == 0 && m.generation == 5 && stale == 0, 3000);
	ck_assert_int_eq(m.generation, 5);
	ck_assert_int_eq(stale, 0);
	ck_assert_int_eq(ls_kube_informer_get(inf, "apps/v1", "Deployment", "shop", "a", &m, &stale,
	                                      err, sizeof(err)),
	                 0);
	ck_assert_str_eq(err, "");
	ck_assert_uint_eq(stats(inf).lists, 1);
	ck_assert_uint_eq(stats(inf).relists, 0);
	ls_kube_informer_free(inf);
	ls_kube_config_free(kc);
	fapi_stop(f);
}
END_TEST

START_TEST(test_watch_informer_backoff_cap_changes)
{
	struct fapi *f = fapi_start();
	struct ls_kube_config *kc = fapi_config(f, "{}");
	struct ls_kube_informer *inf = NULL;
	int w0;

	/* The default cap (30 s), lowered while the watch runs. */
	ck_assert_int_eq(ls_kube_informer_new(kc, NULL, &inf), 0);
	fapi_put(f, "shop", "a", 1, NULL);
	ck_assert_int_eq(ls_kube_informer_add(inf, "apps/v1", "Deployment", "shop"), 0);
	ck_assert_int_eq(ls_kube_informer_start(inf), 0);
	ck_assert_int_eq(ls_kube_informer_wait_synced(inf, 5000), 0);
	WAIT_UNTIL(fapi_get(f, &f->open_watches) == 1, 3000);
	ls_kube_informer_set_backoff_max(inf, 600);
	fapi_set(f, &f->watch_status, 500);
	fapi_bump(f, &f->drop_gen);
	WAIT_UNTIL(stats(inf).failures >= 1, 5000);
	/* Doubling from 500 ms (uniform in [d/2, d]) would try at most 4
	 * times in 3 s; capped at 600 ms it tries at least every 600 ms. */
	w0 = fapi_get(f, &f->watches);
	ls_clock_sleep_ms(3000);
	ck_assert_int_ge(fapi_get(f, &f->watches) - w0, 5);
	ck_assert_int_le(fapi_get(f, &f->watches) - w0, 13);
	ls_kube_informer_free(inf);
	ls_kube_config_free(kc);
	fapi_stop(f);
}
END_TEST

START_TEST(test_watch_informer_forbidden_then_allowed)
{
	struct fapi *f = fapi_start();
	struct ls_kube_config *kc = fapi_config(f, "{}");
	struct ls_kube_informer *inf = informer(kc, 0);
	struct ls_kube_object_meta m;
	char err[256] = "";

	fapi_put(f, "shop", "a", 1, NULL);
	fapi_set(f, &f->list_status, 403);
	ck_assert_int_eq(ls_kube_informer_add(inf, "apps/v1", "Deployment", "shop"), 0);
	ck_assert_int_eq(ls_kube_informer_start(inf), 0);
	WAIT_UNTIL(stats(inf).failures >= 1, 3000);
	ck_assert_int_eq(ls_kube_informer_get(inf, "apps/v1", "Deployment", "shop", "a", &m, NULL,
	                                      err, sizeof(err)),
	                 -EAGAIN);
	ck_assert_msg(strstr(err, "deployments.apps is forbidden: User \"lagscale\" cannot list"),
	              "%s", err);
	fapi_set(f, &f->list_status, 0);
	ck_assert_int_eq(ls_kube_informer_wait_synced(inf, 3000), 0);
	ck_assert_int_eq(gen_of(inf, "shop", "a"), 1);
	ck_assert_int_eq(ls_kube_informer_get(inf, "apps/v1", "Deployment", "shop", "a", &m, NULL,
	                                      err, sizeof(err)),
	                 0);
	ck_assert_str_eq(err, "");
	ls_kube_informer_free(inf);
	ls_kube_config_free(kc);
	fapi_stop(f);
}
END_TEST

START_TEST(test_watch_informer_pages)
{
	struct fapi *f = fapi_start();
	struct ls_kube_config *kc = fapi_config(f, "{}");
	struct ls_kube_informer *inf = informer(kc, 0);
	uint64_t ch;

	for (int i = 0; i < 5; i++) {
		char name[16];

		snprintf(name, sizeof(name), "d%d", i);
		fapi_put(f, "shop", name, i + 1, NULL);
	}
	f->page_cap = 2;
	ck_assert_int_eq(ls_kube_informer_add(inf, "apps/v1", "Deployment", "shop"), 0);
	ch = ls_kube_informer_changes(inf);
	ck_assert_int_eq(ls_kube_informer_start(inf), 0);
	ck_assert_int_eq(ls_kube_informer_wait_synced(inf, 5000), 0);
	ck_assert_uint_eq(stats(inf).lists, 3);
	ck_assert_uint_eq(stats(inf).objects, 5);
	ck_assert_int_eq(gen_of(inf, "shop", "d4"), 5);
	/* The store appeared whole: one change for the list. */
	ck_assert_uint_eq(ls_kube_informer_changes(inf), ch + 1);
	ls_kube_informer_free(inf);
	ls_kube_config_free(kc);
	fapi_stop(f);
}
END_TEST

START_TEST(test_watch_informer_401_fetches_the_token_again)
{
	struct fapi *f = fapi_start();
	char dir[] = "/tmp/test-watch-XXXXXX", path[64], user[128];
	struct ls_kube_config *kc;
	struct ls_kube_informer *inf;
	FILE *fp;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/token", dir);
	fp = fopen(path, "w");
	fputs("first\n", fp);
	fclose(fp);
	snprintf(user, sizeof(user), "{tokenFile: %s}", path);
	kc = fapi_config(f, user);
	inf = informer(kc, 0);
	snprintf(f->token, sizeof(f->token), "first");
	fapi_put(f, "shop", "a", 1, NULL);
	ck_assert_int_eq(ls_kube_informer_add(inf, "apps/v1", "Deployment", "shop"), 0);
	ck_assert_int_eq(ls_kube_informer_start(inf), 0);
	ck_assert_int_eq(ls_kube_informer_wait_synced(inf, 5000), 0);
	WAIT_UNTIL(fapi_get(f, &f->open_watches) == 1, 3000);
	/* The token rotates; the server ends the watch; the next WATCH gets a
	 * 401, the informer reads the file again and goes on. */
	fp = fopen(path, "w");
	fputs("second\n", fp);
	fclose(fp);
	pthread_mutex_lock(&f->mu);
	snprintf(f->token, sizeof(f->token), "second");
	pthread_mutex_unlock(&f->mu);
	fapi_put(f, "shop", "a", 2, NULL); /* an event, so the end is not "at once" */
	WAIT_UNTIL(gen_of(inf, "shop", "a") == 2, 3000);
	fapi_bump(f, &f->end_gen);
	WAIT_UNTIL(fapi_get(f, &f->unauthorized) >= 1 && fapi_get(f, &f->open_watches) == 1, 3000);
	ck_assert_int_eq(fapi_get(f, &f->unauthorized), 1);
	ck_assert_int_eq(fapi_get(f, &f->open_watches), 1);
	ck_assert_uint_eq(stats(inf).failures, 0);
	fapi_put(f, "shop", "a", 3, NULL);
	WAIT_UNTIL(gen_of(inf, "shop", "a") == 3, 3000);
	ck_assert_int_eq(gen_of(inf, "shop", "a"), 3);
	ls_kube_informer_free(inf);
	ls_kube_config_free(kc);
	fapi_stop(f);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_watch_informer_all_namespaces_remove_retain)
{
	struct fapi *f = fapi_start();
	struct ls_kube_config *kc = fapi_config(f, "{}");
	struct ls_kube_informer *inf = informer(kc, 0);
	struct ls_kube_object_meta m;
	struct ls_kube_watch_key keep[] = {{"apps/v1", "Deployment", NULL}};

	fapi_put(f, "shop", "a", 1, NULL);
	fapi_put(f, "ops", "a", 7, NULL);
	ck_assert_int_eq(ls_kube_informer_add(inf, "apps/v1", "Deployment", NULL), 0);
	ck_assert_int_eq(ls_kube_informer_add(inf, "apps/v1", "Deployment", "shop"), 0);
	ck_assert_int_eq(ls_kube_informer_start(inf), 0);
	ck_assert_int_eq(ls_kube_informer_wait_synced(inf, 5000), 0);
	ck_assert_uint_eq(stats(inf).watches_total, 2);
	ck_assert_uint_eq(stats(inf).objects, 3);
	/* "ops" has no watch of its own: the all-namespaces one answers. */
	ck_assert_int_eq(gen_of(inf, "ops", "a"), 7);
	ck_assert_int_eq(gen_of(inf, "shop", "a"), 1);
	ck_assert_int_eq(get(inf, "", "ops/a", &m, NULL), 0);
	fapi_put(f, "ops", "b", 2, NULL);
	WAIT_UNTIL(gen_of(inf, "ops", "b") == 2, 3000);
	ck_assert_int_eq(gen_of(inf, "ops", "b"), 2);
	/* Removing shop's watch: lookups fall back to the other one. */
	ck_assert_int_eq(ls_kube_informer_remove(inf, "apps/v1", "Deployment", "shop"), 0);
	ck_assert_int_eq(ls_kube_informer_remove(inf, "apps/v1", "Deployment", "shop"), -ENOENT);
	ck_assert_int_eq(gen_of(inf, "shop", "a"), 1);
	WAIT_UNTIL(fapi_get(f, &f->open_watches) == 1, 3000);
	ck_assert_int_eq(fapi_get(f, &f->open_watches), 1);
	/* Retain: only what is listed stays. */
	ck_assert_int_eq(ls_kube_informer_add(inf, "apps/v1", "Deployment", "ops"), 0);
	ck_assert_int_eq(ls_kube_informer_wait_synced(inf, 3000), 0);
	ck_assert_uint_eq(ls_kube_informer_retain(inf, keep, 1), 1);
	ck_assert_uint_eq(ls_kube_informer_retain(inf, keep, 1), 0);
	ck_assert_uint_eq(stats(inf).watches_total, 1);
	ck_assert_uint_eq(ls_kube_informer_retain(inf, NULL, 0), 1);
	ck_assert_int_eq(get(inf, "ops", "a", &m, NULL), -ESRCH);
	WAIT_UNTIL(fapi_get(f, &f->open_watches) == 0, 3000);
	ck_assert_int_eq(fapi_get(f, &f->open_watches), 0);
	ls_kube_informer_free(inf);
	ls_kube_config_free(kc);
	fapi_stop(f);
}
END_TEST

START_TEST(test_watch_informer_stops_promptly)
{
	struct fapi *f = fapi_start();
	struct ls_kube_config *kc = fapi_config(f, "{}");
	struct ls_kube_informer *inf = informer(kc, 0);
	struct ls_kube_informer_options o = {0};
	volatile sig_atomic_t stop = 0;
	int64_t t0;

	fapi_put(f, "shop", "a", 1, NULL);
	ck_assert_int_eq(ls_kube_informer_add(inf, "apps/v1", "Deployment", "shop"), 0);
	ck_assert_int_eq(ls_kube_informer_start(inf), 0);
	WAIT_UNTIL(fapi_get(f, &f->open_watches) == 1, 3000);
	ls_clock_sleep_ms(300); /* an idle stream */
	t0 = ls_clock_mono_ms();
	ls_kube_informer_free(inf);
	fprintf(stderr, "informer: free with an idle stream took %lld ms\n",
	        (long long)(ls_clock_mono_ms() - t0));
	ck_assert_int_lt(ls_clock_mono_ms() - t0, 200);
	/* The caller's stop flag: the thread ends, the store stays, stale. */
	o.stop = &stop;
	ck_assert_int_eq(ls_kube_informer_new(kc, &o, &inf), 0);
	ck_assert_int_eq(ls_kube_informer_add(inf, "apps/v1", "Deployment", "shop"), 0);
	ck_assert_int_eq(ls_kube_informer_start(inf), 0);
	ck_assert_int_eq(ls_kube_informer_wait_synced(inf, 3000), 0);
	WAIT_UNTIL(stats(inf).watches == 1 && fapi_get(f, &f->open_watches) == 1, 3000);
	stop = 1;
	WAIT_UNTIL(fapi_get(f, &f->open_watches) == 0, 1000);
	ck_assert_int_eq(fapi_get(f, &f->open_watches), 0);
	{
		struct ls_kube_object_meta m;
		int64_t stale = 0;

		ck_assert_int_eq(get(inf, "shop", "a", &m, &stale), 0);
		ck_assert_int_gt(stale, 0);
	}
	t0 = ls_clock_mono_ms();
	ls_kube_informer_free(inf);
	ck_assert_int_lt(ls_clock_mono_ms() - t0, 200);
	/* Never started, and NULL. */
	ck_assert_int_eq(ls_kube_informer_new(kc, NULL, &inf), 0);
	ls_kube_informer_free(inf);
	ls_kube_informer_free(NULL);
	ls_kube_config_free(kc);
	fapi_stop(f);
}
END_TEST

START_TEST(test_watch_informer_429_honours_retry_after)
{
	struct fapi *f = fapi_start();
	struct ls_kube_config *kc = fapi_config(f, "{}");
	struct ls_kube_informer *inf = informer(kc, 0);
	int w0;

	fapi_put(f, "shop", "a", 1, NULL);
	ck_assert_int_eq(ls_kube_informer_add(inf, "apps/v1", "Deployment", "shop"), 0);
	ck_assert_int_eq(ls_kube_informer_start(inf), 0);
	ck_assert_int_eq(ls_kube_informer_wait_synced(inf, 5000), 0);
	WAIT_UNTIL(fapi_get(f, &f->open_watches) == 1, 3000);
	w0 = fapi_get(f, &f->watches);
	fapi_set(f, &f->watch_status, 429);
	fapi_bump(f, &f->drop_gen);
	WAIT_UNTIL(fapi_get(f, &f->watches) >= w0 + 3, 5000);
	ck_assert_int_ge(fapi_get(f, &f->watches), w0 + 3);
	/* Retry-After: 1 wins over the backoff (here at most 500 ms). */
	pthread_mutex_lock(&f->mu);
	ck_assert_int_ge(f->watch_ms[w0 + 2] - f->watch_ms[w0 + 1], 950);
	pthread_mutex_unlock(&f->mu);
	fapi_set(f, &f->watch_status, 0);
	WAIT_UNTIL(fapi_get(f, &f->open_watches) == 1, 3000);
	ck_assert_int_eq(fapi_get(f, &f->open_watches), 1);
	ck_assert_uint_eq(stats(inf).lists, 1);
	ls_kube_informer_free(inf);
	ls_kube_config_free(kc);
	fapi_stop(f);
}
END_TEST

/* A page over LS_KUBE_MAX_BODY is asked for again with half the limit. */
START_TEST(test_watch_informer_large_pages_halved)
{
	struct fapi *f = fapi_start();
	struct ls_kube_config *kc = fapi_config(f, "{}");
	struct ls_kube_informer *inf = informer(kc, 0);

	for (int i = 0; i < 5; i++) {
		char name[16];

		snprintf(name, sizeof(name), "big%d", i);
		fapi_put(f, "shop", name, 1, NULL);
		pthread_mutex_lock(&f->mu);
		f->obj[i].pad = 1000 * 1000;
		pthread_mutex_unlock(&f->mu);
	}
	ck_assert_int_eq(ls_kube_informer_add(inf, "apps/v1", "Deployment", "shop"), 0);
	ck_assert_int_eq(ls_kube_informer_start(inf), 0);
	ck_assert_int_eq(ls_kube_informer_wait_synced(inf, 20000), 0);
	/* limit 500, 250, 125, 62, 31, 15, 7 refused (5 MB), 3 fits, then the last 2. */
	ck_assert_uint_eq(stats(inf).lists, 9);
	ck_assert_uint_eq(stats(inf).objects, 5);
	ck_assert_uint_eq(stats(inf).failures, 0);
	ck_assert_int_eq(gen_of(inf, "shop", "big4"), 1);
	ls_kube_informer_free(inf);
	ls_kube_config_free(kc);
	fapi_stop(f);
}
END_TEST

/* A kind discovery does not know: -EAGAIN with the reason. */
START_TEST(test_watch_informer_unknown_kind)
{
	struct fapi *f = fapi_start();
	struct ls_kube_config *kc = fapi_config(f, "{}");
	struct ls_kube_informer *inf = informer(kc, 0);
	struct ls_kube_object_meta m;
	char err[256] = "";

	ck_assert_int_eq(ls_kube_informer_add(inf, "apps/v1", "Rollout", "shop"), 0);
	ck_assert_int_eq(ls_kube_informer_start(inf), 0);
	WAIT_UNTIL(stats(inf).failures >= 1, 3000);
	ck_assert_int_eq(ls_kube_informer_get(inf, "apps/v1", "Rollout", "shop", "a", &m, NULL, err,
	                                      sizeof(err)),
	                 -EAGAIN);
	ck_assert_str_eq(err, "kind \"Rollout\" is not served in apiVersion \"apps/v1\"");
	ck_assert_int_eq(ls_kube_informer_wait_synced(inf, 10), -ETIMEDOUT);
	ls_kube_informer_free(inf);
	ls_kube_config_free(kc);
	fapi_stop(f);
}
END_TEST


/* --- whole objects (LS_KUBE_WATCH_OBJECTS) ------------------------------------- */

static const char lagscaler_added[] =
    "{\"type\":\"ADDED\",\"object\":{\"apiVersion\":\"lagscale.io/v1alpha1\",\"kind\":"
    "\"LagScaler\",\"metadata\":{\"name\":\"orders\",\"namespace\":\"shop\",\"uid\":"
    "\"0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0\",\"resourceVersion\":\"77\",\"generation\":3,"
    "\"creationTimestamp\":\"2026-11-30T19:00:00Z\",\"labels\":{\"team\":\"a\"},"
    "\"managedFields\":[{\"manager\":\"kubectl\"}]},\"spec\":{\"target\":{\"name\":\"c\"},"
    "\"policy\":{\"maxReplicas\":4}},\"status\":{\"observedGeneration\":2}}}";

START_TEST(test_watch_event_keeps_object)
{
	struct ls_kube_watch_event ev;
	char err[200];
	cJSON *j;

	/* Without keep_object: metadata only, as before. */
	ck_assert_int_eq(parse(lagscaler_added, true, &ev, err), 0);
	ck_assert_ptr_null(ev.object);
	ls_kube_watch_event_release(&ev);
	ck_assert_int_eq(ls_kube_watch_event_parse_full(lagscaler_added, strlen(lagscaler_added),
	                                                true, true, &ev, err, sizeof(err)),
	                 0);
	ck_assert_str_eq(ev.key, "shop/orders");
	ck_assert_int_eq(ev.meta.generation, 3);
	ck_assert_ptr_nonnull(ev.object);
	j = cJSON_Parse(ev.object);
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "spec"),
	                                                         "policy"),
	                                     "maxReplicas")
	                     ->valueint,
	                 4);
	ck_assert_str_eq(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "creationTimestamp")->valuestring,
	    "2026-11-30T19:00:00Z");
	ck_assert_int_eq(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(j, "status"), "observedGeneration")->valueint, 2);
	/* What nobody reads is not kept. */
	ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "managedFields"));
	ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "labels"));
	cJSON_Delete(j);
	ls_kube_watch_event_release(&ev);
	ck_assert_ptr_null(ev.object);
	/* A DELETED event keeps no object: the store forgets it. */
	{
		static const char del[] = "{\"type\":\"DELETED\",\"object\":{\"metadata\":{"
		                          "\"name\":\"x\",\"resourceVersion\":\"10\"},\"spec\":{}}}";

		ck_assert_int_eq(ls_kube_watch_event_parse_full(del, strlen(del), false, true, &ev,
		                                                err, sizeof(err)),
		                 0);
	}
	ck_assert_ptr_null(ev.object);
	ls_kube_watch_event_release(&ev);
}
END_TEST

struct seen {
	char keys[8][32];
	char json[8][256];
	size_t n;
	int stop_after;
};

static int each_collect(void *ud, const char *key, const struct ls_kube_object_meta *m,
                        const char *json)
{
	struct seen *s = ud;

	(void)m;
	ck_assert_uint_lt(s->n, 8);
	snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
	snprintf(s->json[s->n], sizeof(s->json[0]), "%s", json ? json : "(null)");
	s->n++;
	if (s->stop_after && (int)s->n == s->stop_after)
		return -ECANCELED;
	return 0;
}

START_TEST(test_watch_store_objects_and_each)
{
	struct ls_kube_store *st;
	struct ls_kube_object_meta a = {.generation = 1, .paused_replicas = -1}, got;
	struct seen seen = {0};
	char *json = (char *)"untouched";

	snprintf(a.resource_version, sizeof(a.resource_version), "5");
	ck_assert_int_eq(ls_kube_store_new(&st), 0);
	ck_assert_int_eq(ls_kube_store_each(st, each_collect, &seen), 0);
	ck_assert_uint_eq(seen.n, 0);
	ck_assert_int_eq(ls_kube_store_get_object(st, "a", &got, &json), -ENOENT);
	ck_assert_str_eq(json, "untouched");
	ck_assert_int_eq(ls_kube_store_put_object(st, "ns/a", &a, "{\"spec\":{\"x\":1}}"), 1);
	ck_assert_int_eq(ls_kube_store_put_object(st, "ns/a", &a, "{\"spec\":{\"x\":1}}"), 0);
	/* The same metadata with another object: a change. */
	ck_assert_int_eq(ls_kube_store_put_object(st, "ns/a", &a, "{\"spec\":{\"x\":2}}"), 1);
	/* Metadata alone (no JSON) is another entry too. */
	ck_assert_int_eq(ls_kube_store_put(st, "ns/b", &a), 1);
	ck_assert_int_eq(ls_kube_store_put_object(st, "ns/b", &a, NULL), 0);
	ck_assert_int_eq(ls_kube_store_get_object(st, "ns/a", &got, &json), 0);
	ck_assert_str_eq(json, "{\"spec\":{\"x\":2}}");
	ck_assert_str_eq(got.resource_version, "5");
	ck_assert_int_eq(got.generation, 1);
	free(json);
	ck_assert_int_eq(ls_kube_store_get_object(st, "ns/b", &got, &json), 0);
	ck_assert_ptr_null(json);
	/* A pause error and a text uid sit before the JSON in the entry. */
	snprintf(a.pause_error, sizeof(a.pause_error), "bad");
	snprintf(a.uid, sizeof(a.uid), "not-a-uuid");
	ck_assert_int_eq(ls_kube_store_put_object(st, "ns/c", &a, "{}"), 1);
	ck_assert_int_eq(ls_kube_store_get_object(st, "ns/c", &got, &json), 0);
	ck_assert_str_eq(json, "{}");
	ck_assert_str_eq(got.pause_error, "bad");
	ck_assert_str_eq(got.uid, "not-a-uuid");
	free(json);
	ck_assert_int_eq(ls_kube_store_each(st, each_collect, &seen), 0);
	ck_assert_uint_eq(seen.n, 3);
	for (size_t i = 0; i < seen.n; i++) {
		if (strcmp(seen.keys[i], "ns/a") == 0)
			ck_assert_str_eq(seen.json[i], "{\"spec\":{\"x\":2}}");
		else if (strcmp(seen.keys[i], "ns/b") == 0)
			ck_assert_str_eq(seen.json[i], "(null)");
		else
			ck_assert_str_eq(seen.keys[i], "ns/c");
	}
	/* A callback's error stops the walk. */
	memset(&seen, 0, sizeof(seen));
	seen.stop_after = 1;
	ck_assert_int_eq(ls_kube_store_each(st, each_collect, &seen), -ECANCELED);
	ck_assert_uint_eq(seen.n, 1);
	ck_assert_int_eq(ls_kube_store_delete(st, "ns/a"), 1);
	memset(&seen, 0, sizeof(seen));
	ck_assert_int_eq(ls_kube_store_each(st, each_collect, &seen), 0);
	ck_assert_uint_eq(seen.n, 2);
	ls_kube_store_free(st);
}
END_TEST

START_TEST(test_watch_list_page_keeps_objects)
{
	const char *page =
	    "{\"kind\":\"LagScalerList\",\"metadata\":{\"resourceVersion\":\"90\"},\"items\":["
	    "{\"metadata\":{\"name\":\"a\",\"namespace\":\"x\",\"resourceVersion\":\"80\","
	    "\"generation\":2},\"spec\":{\"k\":\"v\"}},"
	    "{\"metadata\":{\"name\":\"b\",\"namespace\":\"y\",\"resourceVersion\":\"81\"}}]}";
	struct ls_kube_store *st;
	struct ls_kube_object_meta m;
	char rv[LS_KUBE_RV_MAX], err[200], *cont = (char *)"x", *json = NULL;

	ck_assert_int_eq(ls_kube_store_new(&st), 0);
	ck_assert_int_eq(ls_kube_watch_list_page_full(page, strlen(page), true, true, st, rv,
	                                              sizeof(rv), &cont, err, sizeof(err)),
	                 0);
	ck_assert_ptr_null(cont);
	ck_assert_str_eq(rv, "90");
	ck_assert_int_eq(ls_kube_store_get_object(st, "x/a", &m, &json), 0);
	ck_assert_int_eq(m.generation, 2);
	ck_assert_ptr_nonnull(strstr(json, "\"spec\":{\"k\":\"v\"}"));
	free(json);
	ck_assert_int_eq(ls_kube_store_get_object(st, "y/b", &m, &json), 0);
	ck_assert_ptr_nonnull(json);
	ck_assert_ptr_null(strstr(json, "spec"));
	free(json);
	ls_kube_store_free(st);
}
END_TEST


/* A watch of whole objects of a kind without /scale: plain JSON asked for,
 * each object's JSON kept, a snapshot listed, changes seen. */
START_TEST(test_watch_informer_objects_list)
{
	struct fapi *f = fapi_start();
	struct ls_kube_config *kc = fapi_config(f, "{token: t}");
	struct ls_kube_informer *inf = informer(kc, 0);
	struct ls_kube_object *v = NULL;
	size_t n = 99;
	char err[256];
	uint64_t ch;

	fapi_put(f, "shop", "orders", 1, NULL);
	fapi_put(f, "team", "billing", 2, NULL);
	/* Without LS_KUBE_WATCH_ANY_KIND a kind without /scale is refused. */
	ck_assert_int_eq(ls_kube_informer_add(inf, "lagscale.io/v1alpha1", "LagScaler", "team"), 0);
	ck_assert_int_eq(ls_kube_informer_add_flags(inf, "lagscale.io/v1alpha1", "LagScaler", "",
	                                            LS_KUBE_WATCH_OBJECTS |
	                                                LS_KUBE_WATCH_ANY_KIND),
	                 0);
	ck_assert_int_eq(ls_kube_informer_list(inf, "lagscale.io/v1alpha1", "LagScaler", "", &v, &n,
	                                       NULL, err, sizeof(err)),
	                 -EAGAIN);
	ck_assert_ptr_null(v);
	ck_assert_uint_eq(n, 99);
	ck_assert_int_eq(ls_kube_informer_list(inf, "apps/v1", "Deployment", "", &v, &n, NULL, err,
	                                       sizeof(err)),
	                 -ESRCH);
	ck_assert_int_eq(ls_kube_informer_start(inf), 0);
	WAIT_UNTIL(ls_kube_informer_list(inf, "lagscale.io/v1alpha1", "LagScaler", "", &v, &n, NULL,
	                                 err, sizeof(err)) == 0,
	           5000);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(n, 2);
	for (size_t i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(v[i].json);
		if (strcmp(v[i].key, "shop/orders") == 0) {
			ck_assert_int_eq(v[i].meta.generation, 1);
			ck_assert_ptr_nonnull(strstr(v[i].json, "\"name\":\"orders\""));
		} else {
			ck_assert_str_eq(v[i].key, "team/billing");
			ck_assert_int_eq(v[i].meta.generation, 2);
		}
	}
	ls_kube_objects_free(v, n);
	ls_kube_objects_free(NULL, 0);
	pthread_mutex_lock(&f->mu);
	ck_assert_str_eq(f->last_accept, "application/json");
	pthread_mutex_unlock(&f->mu);
	/* The watch without the flag failed: the kind has no scale subresource. */
	WAIT_UNTIL(ls_kube_informer_list(inf, "lagscale.io/v1alpha1", "LagScaler", "team", &v, &n,
	                                 NULL, err, sizeof(err)) == -EAGAIN &&
	               strstr(err, "no scale subresource"),
	           5000);
	ck_assert_ptr_nonnull(strstr(err, "no scale subresource"));
	/* It never lists, but it has failed: settled, not synced. */
	ck_assert_int_eq(ls_kube_informer_wait_settled(inf, 5000), 0);
	ck_assert_int_eq(ls_kube_informer_wait_synced(inf, 50), -ETIMEDOUT);

	/* A change moves the counter; the next snapshot has it. */
	ch = ls_kube_informer_changes(inf);
	fapi_put(f, "shop", "orders", 3, NULL);
	ck_assert_uint_ne(ls_kube_informer_wait(inf, ch, 3000), ch);
	WAIT_UNTIL((ls_kube_informer_list(inf, "lagscale.io/v1alpha1", "LagScaler", "", &v, &n,
	                                  NULL, err, sizeof(err)) == 0 &&
	            (n == 2 && (v[0].meta.generation == 3 || v[1].meta.generation == 3)))
	               ? true
	               : (ls_kube_objects_free(v, n), v = NULL, false),
	           3000);
	ck_assert_ptr_nonnull(v);
	ls_kube_objects_free(v, n);
	fapi_delete(f, "team", "billing", false);
	WAIT_UNTIL((ls_kube_informer_list(inf, "lagscale.io/v1alpha1", "LagScaler", "", &v, &n,
	                                  NULL, err, sizeof(err)) == 0 &&
	            n == 1)
	               ? true
	               : (ls_kube_objects_free(v, n), v = NULL, false),
	           3000);
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v[0].key, "shop/orders");
	ls_kube_objects_free(v, n);
	pthread_mutex_lock(&f->mu);
	ck_assert_str_eq(f->last_accept, "application/json");
	pthread_mutex_unlock(&f->mu);
	ls_kube_informer_free(inf);
	ls_kube_config_free(kc);
	fapi_stop(f);
}
END_TEST

static Suite *watch_suite(void)
{
	Suite *s = suite_create("watch");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_watch_stream_split_anywhere);
	tcase_add_test(tc, test_watch_stream_many_per_read_crlf_blank);
	tcase_add_test(tc, test_watch_stream_oversized_event_refused);
	tcase_add_test(tc, test_watch_stream_callback_error_stops);
	tcase_add_test(tc, test_watch_event_added_modified_deleted);
	tcase_add_test(tc, test_watch_event_bookmark_and_error);
	tcase_add_test(tc, test_watch_event_malformed);
	tcase_add_test(tc, test_watch_pause_annotations);
	tcase_add_test(tc, test_watch_store_put_get_delete);
	tcase_add_test(tc, test_watch_store_objects_and_each);
	tcase_add_test(tc, test_watch_event_keeps_object);
	tcase_add_test(tc, test_watch_list_page_keeps_objects);
	tcase_add_test(tc, test_watch_store_matches_a_model);
	tcase_add_test(tc, test_watch_store_memory_10000);
	tcase_add_test(tc, test_watch_list_pages_and_relist_replace);
	tcase_add_test(tc, test_watch_informer_list_then_watch);
	tcase_add_test(tc, test_watch_informer_objects_list);
	tcase_add_test(tc, test_watch_informer_resumes_from_bookmark);
	tcase_add_test(tc, test_watch_informer_relist_on_gone_event);
	tcase_add_test(tc, test_watch_informer_relist_on_410_answer);
	tcase_add_test(tc, test_watch_informer_backoff_and_staleness);
	tcase_add_test(tc, test_watch_informer_backoff_cap_changes);
	tcase_add_test(tc, test_watch_informer_forbidden_then_allowed);
	tcase_add_test(tc, test_watch_informer_pages);
	tcase_add_test(tc, test_watch_informer_401_fetches_the_token_again);
	tcase_add_test(tc, test_watch_informer_all_namespaces_remove_retain);
	tcase_add_test(tc, test_watch_informer_stops_promptly);
	tcase_add_test(tc, test_watch_informer_unknown_kind);
	tcase_add_test(tc, test_watch_informer_429_honours_retry_after);
	tcase_add_test(tc, test_watch_informer_large_pages_halved);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(watch_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
