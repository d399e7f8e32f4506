/*
 * test-collect.c - lib/kafka's collection round against the mock cluster,
 * in process: topic patterns, partition limits, several queries per round,
 * and the failure paths (a refused group, failing offset requests, a
 * cluster that goes away and comes back).
 */
#include <check.h>
#include <librdkafka/rdkafka.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "kafka/kafka.h"
#include "kafka/mock.h"
#include "util/clock.h"
#include "util/parse.h"

#define API_LIST_OFFSETS 2
#define API_OFFSET_FETCH 9
#define API_FIND_COORDINATOR 10
#define ERR_NOT_LEADER 6
#define ERR_NOT_COORDINATOR 16
#define ERR_GROUP_AUTHORIZATION_FAILED 30

static struct ls_kafka_mock *mock;
static struct ls_kafka *kafka;

/*
 * orders-a (4 partitions) and orders-b (2): 10 messages per partition;
 * other (1): 5. Group g committed 4 on every orders-* partition, 5 on other.
 */
static void setup(void)
{
	struct ls_kafka_mock_offset offs[7];
	char err[256];
	int n = 0;

	ck_assert_int_eq(ls_kafka_mock_new(3, &mock), 0);
	ck_assert_int_eq(ls_kafka_mock_topic_create(mock, "orders-a", 4), 0);
	ck_assert_int_eq(ls_kafka_mock_topic_create(mock, "orders-b", 2), 0);
	ck_assert_int_eq(ls_kafka_mock_topic_create(mock, "other", 1), 0);
	for (int p = 0; p < 4; p++) {
		ck_assert_int_eq(ls_kafka_mock_produce(mock, "orders-a", p, 10, 0), 0);
		offs[n++] = (struct ls_kafka_mock_offset){"orders-a", p, 4};
	}
	for (int p = 0; p < 2; p++) {
		ck_assert_int_eq(ls_kafka_mock_produce(mock, "orders-b", p, 10, 0), 0);
		offs[n++] = (struct ls_kafka_mock_offset){"orders-b", p, 4};
	}
	ck_assert_int_eq(ls_kafka_mock_produce(mock, "other", 0, 5, 1), 0);
	offs[n++] = (struct ls_kafka_mock_offset){"other", 0, 5};
	ck_assert_int_eq(ls_kafka_mock_commit(mock, "g", offs, (size_t)n), 0);
	ck_assert_int_eq(ls_kafka_new("mock", ls_kafka_mock_bootstraps(mock), NULL, 0, &kafka, err,
				      sizeof(err)),
			 0);
}

static void teardown(void)
{
	ls_kafka_free(kafka);
	ls_kafka_mock_free(mock);
}

START_TEST(test_kafka_topic_pattern)
{
	struct ls_kafka_query q = {.group = "g", .topic_pattern = "^orders-"};
	struct ls_lag_snapshot s;

	ck_assert_int_eq(ls_kafka_collect(kafka, &q, 1, 10000, &s), 0);
	ck_assert_int_eq(s.err, 0);
	ck_assert_int_eq(s.n_topics, 2);
	ck_assert_str_eq(s.topics[0].topic, "orders-a");
	ck_assert_str_eq(s.topics[1].topic, "orders-b");
	ck_assert_int_eq(s.partition_count, 6);
	ck_assert_int_eq(s.total_lag, 6 * 6);
	ls_lag_snapshot_release(&s);
}
END_TEST

START_TEST(test_kafka_partition_limit)
{
	const char *topics[] = {"orders-a"};
	struct ls_int_ranges rs;
	struct ls_kafka_query q = {.group = "g", .topics = topics, .n_topics = 1};
	struct ls_lag_snapshot s;

	ck_assert_int_eq(ls_parse_ranges("0-1,3", &rs), 0);
	q.partitions = &rs;
	ck_assert_int_eq(ls_kafka_collect(kafka, &q, 1, 10000, &s), 0);
	ck_assert_int_eq(s.err, 0);
	ck_assert_int_eq(s.partition_count, 3);
	ck_assert_int_eq(s.topics[0].parts[2].partition, 3);
	ck_assert_int_eq(s.total_lag, 18);
	ls_lag_snapshot_release(&s);
	ls_ranges_release(&rs);
}
END_TEST

START_TEST(test_kafka_several_queries_one_round)
{
	/* A missing topic fails its own query only; both isolation levels
	 * in one round (no transactions here: the same end offsets). */
	const char *a[] = {"orders-a"}, *missing[] = {"nope"}, *other[] = {"other"};
	struct ls_kafka_query q[3] = {
		{.group = "g", .topics = a, .n_topics = 1},
		{.group = "g", .topics = missing, .n_topics = 1},
		{.group = "g", .topics = other, .n_topics = 1,
		 .isolation = LS_ISOLATION_READ_COMMITTED},
	};
	struct ls_lag_snapshot s[3];
	struct ls_kafka_stats st;

	ck_assert_int_eq(ls_kafka_collect(kafka, q, 3, 10000, s), 0);
	ck_assert_int_eq(s[0].err, 0);
	ck_assert_int_eq(s[0].total_lag, 24);
	ck_assert_int_eq(s[1].err, -ENOENT);
	ck_assert_ptr_nonnull(strstr(ls_lag_snapshot_errmsg(&s[1]), "\"nope\""));
	ck_assert_int_eq(s[2].err, 0);
	ck_assert_int_eq(s[2].total_lag, 0);
	ls_kafka_get_stats(kafka, &st);
	ck_assert_int_eq(st.metadata_requests, 1);
	ck_assert_int_eq(st.group_requests, 2);
	for (int i = 0; i < 3; i++)
		ls_lag_snapshot_release(&s[i]);
}
END_TEST

START_TEST(test_kafka_metadata_reused)
{
	/* Within the max age, rounds reuse the metadata; a topic it does not
	 * have, a refused offsets request, or its age make a round read it. */
	const char *a[] = {"orders-a"}, *late[] = {"late"};
	struct ls_kafka_query q = {.group = "g", .topics = a, .n_topics = 1};
	struct ls_kafka_query ql = {.group = "g", .topics = late, .n_topics = 1};
	struct ls_kafka_mock_offset off = {"late", 0, 1};
	struct ls_lag_snapshot s;
	struct ls_kafka_stats st;
	uint64_t seen;

	ls_kafka_set_metadata_max_age(kafka, 600000);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(ls_kafka_collect(kafka, &q, 1, 10000, &s), 0);
		ck_assert_int_eq(s.total_lag, 24);
		ls_lag_snapshot_release(&s);
	}
	ls_kafka_get_stats(kafka, &st);
	ck_assert_int_eq(st.metadata_requests, 1);

	ck_assert_int_eq(ls_kafka_mock_topic_create(mock, "late", 1), 0);
	ck_assert_int_eq(ls_kafka_mock_produce(mock, "late", 0, 3, 1), 0);
	ck_assert_int_eq(ls_kafka_mock_commit(mock, "g", &off, 1), 0);
	ck_assert_int_eq(ls_kafka_collect(kafka, &ql, 1, 10000, &s), 0);
	ck_assert_int_eq(s.err, 0);
	ck_assert_int_eq(s.total_lag, 2);
	ls_lag_snapshot_release(&s);
	ls_kafka_get_stats(kafka, &st);
	ck_assert_int_eq(st.metadata_requests, 2);

	/* Offsets refused by every broker (the partitions are spread over
	 * three), twice: the round retries once (librdkafka reads the metadata
	 * it routes by) and gives up; the next round reads it again. */
	ls_kafka_mock_fail_requests(mock, API_LIST_OFFSETS, 6, ERR_NOT_LEADER);
	ck_assert_int_eq(ls_kafka_collect(kafka, &q, 1, 10000, &s), 0);
	ls_lag_snapshot_release(&s);
	ls_kafka_get_stats(kafka, &st);
	ck_assert_uint_gt(st.metadata_requests, 2);
	seen = st.metadata_requests;
	ck_assert_int_eq(ls_kafka_collect(kafka, &q, 1, 10000, &s), 0);
	ck_assert_int_eq(s.total_lag, 24);
	ls_lag_snapshot_release(&s);
	ls_kafka_get_stats(kafka, &st);
	ck_assert_uint_eq(st.metadata_requests, seen + 1);

	/* Older than the max age: read again. */
	ls_kafka_set_metadata_max_age(kafka, 1);
	ls_clock_sleep_ms(5);
	ck_assert_int_eq(ls_kafka_collect(kafka, &q, 1, 10000, &s), 0);
	ls_lag_snapshot_release(&s);
	ls_kafka_get_stats(kafka, &st);
	ck_assert_uint_eq(st.metadata_requests, seen + 2);
}
END_TEST

START_TEST(test_kafka_group_refused_then_recovers)
{
	const char *a[] = {"orders-a"};
	struct ls_kafka_query q = {.group = "g", .topics = a, .n_topics = 1};
	struct ls_lag_snapshot s;

	ls_kafka_mock_fail_requests(mock, API_OFFSET_FETCH, 1, ERR_GROUP_AUTHORIZATION_FAILED);
	ck_assert_int_eq(ls_kafka_collect(kafka, &q, 1, 10000, &s), 0);
	ck_assert_int_ne(s.err, 0);
	ck_assert_int_eq(s.total_lag, -1);
	ck_assert_ptr_nonnull(strstr(ls_lag_snapshot_errmsg(&s), "committed offsets"));
	ls_lag_snapshot_release(&s);
	ck_assert_int_eq(ls_kafka_collect(kafka, &q, 1, 10000, &s), 0);
	ck_assert_int_eq(s.err, 0);
	ck_assert_int_eq(s.total_lag, 24);
	ls_lag_snapshot_release(&s);
}
END_TEST

START_TEST(test_kafka_leader_error_retried)
{
	/* One NOT_LEADER answer: the round refreshes metadata, retries once
	 * and still reads every end offset. */
	const char *a[] = {"orders-a"};
	struct ls_kafka_query q = {.group = "g", .topics = a, .n_topics = 1};
	struct ls_lag_snapshot s;

	ls_kafka_mock_fail_requests(mock, API_LIST_OFFSETS, 1, ERR_NOT_LEADER);
	ck_assert_int_eq(ls_kafka_collect(kafka, &q, 1, 10000, &s), 0);
	ck_assert_int_eq(s.err, 0);
	ck_assert_int_eq(s.total_lag, 24);
	ls_lag_snapshot_release(&s);
}
END_TEST

START_TEST(test_kafka_coordinators_kept)
{
	/* 30 groups, more than librdkafka 2.8.0's coordinator cache held
	 * (10): with lagscale's patch 0003 a second round asks for no
	 * coordinator again, where it asked for nearly every group's. */
	enum { N = 30 };
	const char *a[] = {"orders-a"};
	struct ls_kafka_query q[N];
	struct ls_lag_snapshot s[N];
	char groups[N][16];
	uint64_t counts[LS_KAFKA_MOCK_API_KEYS] = {0};

	for (int i = 0; i < N; i++) {
		struct ls_kafka_mock_offset off = {"orders-a", 0, 4};

		snprintf(groups[i], sizeof(groups[i]), "kept-%02d", i);
		ck_assert_int_eq(ls_kafka_mock_commit(mock, groups[i], &off, 1), 0);
		q[i] = (struct ls_kafka_query){.group = groups[i], .topics = a, .n_topics = 1};
	}
	ck_assert_int_eq(ls_kafka_collect(kafka, q, N, 10000, s), 0);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(s[i].err, 0);
		ls_lag_snapshot_release(&s[i]);
	}
	ls_kafka_mock_track_requests(mock);
	ck_assert_int_eq(ls_kafka_collect(kafka, q, N, 10000, s), 0);
	ls_kafka_mock_requests(mock, counts);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(s[i].err, 0);
		/* partition 0 at 4 of 10; no commit on 1-3 (latest: 1 each) */
		ck_assert_int_eq(s[i].total_lag, 6 + 3);
		ls_lag_snapshot_release(&s[i]);
	}
	ck_assert_uint_eq(counts[API_OFFSET_FETCH], N);
#ifdef RD_KAFKA_LAGSCALE_COORD_CACHE
	ck_assert_uint_eq(counts[API_FIND_COORDINATOR], 0);
#endif
}
END_TEST

START_TEST(test_kafka_coordinator_lookups_spread)
{
	/* The coordinators of 60 groups, all learnt in one round, are looked
	 * up again once metadata.max.age.ms (6 s here) old, counted from up
	 * to half that before they were learnt (patch 0003): spread over the
	 * rounds of 3 s, not all in one round (or two, the expiry falling
	 * within a round's requests). */
	enum { N = 60 };
	const struct ls_kafka_prop props[] = {{"metadata.max.age.ms", "6000"}};
	const char *a[] = {"orders-a"};
	struct ls_kafka_query q[N];
	struct ls_lag_snapshot s[N];
	char groups[N][16], err[256];
	struct ls_kafka *k;
	uint64_t looked_up = 0;
	int rounds_with_lookups = 0;
	int64_t deadline;

	for (int i = 0; i < N; i++) {
		struct ls_kafka_mock_offset off = {"orders-a", 0, 4};

		snprintf(groups[i], sizeof(groups[i]), "spread-%02d", i);
		ck_assert_int_eq(ls_kafka_mock_commit(mock, groups[i], &off, 1), 0);
		q[i] = (struct ls_kafka_query){.group = groups[i], .topics = a, .n_topics = 1};
	}
	ck_assert_int_eq(
		ls_kafka_new("spread", ls_kafka_mock_bootstraps(mock), props, 1, &k, err, sizeof(err)),
		0);
	ck_assert_int_eq(ls_kafka_collect(k, q, N, 10000, s), 0);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(s[i].err, 0);
		ls_lag_snapshot_release(&s[i]);
	}
	ls_kafka_mock_track_requests(mock);
	/* Rounds until every coordinator was looked up again. */
	deadline = ls_clock_mono_ms() + 60000;
	while (looked_up < N && ls_clock_mono_ms() < deadline) {
		uint64_t counts[LS_KAFKA_MOCK_API_KEYS] = {0};

		ck_assert_int_eq(ls_kafka_collect(k, q, N, 10000, s), 0);
		for (int i = 0; i < N; i++) {
			ck_assert_int_eq(s[i].err, 0);
			ls_lag_snapshot_release(&s[i]);
		}
		ls_kafka_mock_requests(mock, counts);
		looked_up += counts[API_FIND_COORDINATOR];
		rounds_with_lookups += counts[API_FIND_COORDINATOR] > 0;
		ls_clock_sleep_ms(100);
	}
	ls_kafka_free(k);
	ck_assert_uint_ge(looked_up, N);
#ifdef RD_KAFKA_LAGSCALE_COORD_CACHE
	ck_assert_int_ge(rounds_with_lookups, 3);
#endif
}
END_TEST

START_TEST(test_kafka_wide_topic_big_chunks)
{
	/* 2,300 partitions over the 3 brokers (about 767 each), every one
	 * with its own lag: a round reads their end offsets in one request
	 * per leader with patch 0005 (chunks of 1,000), and every partition
	 * gets its own offsets back (0005 matches answers through a sorted
	 * index; a mismatch would swap neighbours' lags). */
	enum { W = 2300 };
	const char *wide[] = {"wide"};
	struct ls_kafka_query q = {.group = "wide-g", .topics = wide, .n_topics = 1};
	struct ls_kafka_mock_offset *offs = calloc(W, sizeof(*offs));
	uint64_t counts[LS_KAFKA_MOCK_API_KEYS] = {0};
	struct ls_lag_snapshot s;
	int64_t total = 0;

	ck_assert_ptr_nonnull(offs);
	ck_assert_int_eq(ls_kafka_mock_topic_create(mock, "wide", W), 0);
	for (int p = 0; p < W; p++) {
		ck_assert_int_eq(ls_kafka_mock_produce(mock, "wide", p, p % 7 + 1, 0), 0);
		offs[p] = (struct ls_kafka_mock_offset){"wide", p, (p % 7) / 2};
		total += p % 7 + 1 - (p % 7) / 2;
	}
	ck_assert_int_eq(ls_kafka_mock_flush(mock, 30000), 0);
	ck_assert_int_eq(ls_kafka_mock_commit(mock, "wide-g", offs, W), 0);
	free(offs);
	ls_kafka_mock_track_requests(mock);
	ck_assert_int_eq(ls_kafka_collect(kafka, &q, 1, 30000, &s), 0);
	ls_kafka_mock_requests(mock, counts);
	ck_assert_int_eq(s.err, 0);
	ck_assert_int_eq(s.partition_count, W);
	for (int p = 0; p < W; p++) {
		const struct ls_partition_offsets *o = &s.topics[0].parts[p];

		ck_assert_int_eq(o->partition, p);
		ck_assert_int_eq(o->end, p % 7 + 1);
		ck_assert_int_eq(o->lag, p % 7 + 1 - (p % 7) / 2);
	}
	ck_assert_int_eq(s.total_lag, total);
	ls_lag_snapshot_release(&s);
#ifdef RD_KAFKA_LAGSCALE_OFFSETS_NLOGN
	ck_assert_uint_eq(ls_kafka_chunk_size(), 1000);
	ck_assert_uint_eq(counts[API_LIST_OFFSETS], 3);
#else
	ck_assert_uint_eq(ls_kafka_chunk_size(), 100);
	ck_assert_uint_ge(counts[API_LIST_OFFSETS], W / 100);
#endif
}
END_TEST

START_TEST(test_kafka_coordinator_moved_asked_again)
{
	/* The coordinator answers "not coordinator" once (it moved): the
	 * round asks again, at the coordinator looked up anew, and reads. */
	const char *a[] = {"orders-a"};
	struct ls_kafka_query q = {.group = "g", .topics = a, .n_topics = 1};
	struct ls_lag_snapshot s;
	uint64_t counts[LS_KAFKA_MOCK_API_KEYS] = {0};

	ck_assert_int_eq(ls_kafka_collect(kafka, &q, 1, 10000, &s), 0);
	ck_assert_int_eq(s.err, 0);
	ls_lag_snapshot_release(&s);
	ls_kafka_mock_track_requests(mock);
	ls_kafka_mock_fail_requests(mock, API_OFFSET_FETCH, 1, ERR_NOT_COORDINATOR);
	ck_assert_int_eq(ls_kafka_collect(kafka, &q, 1, 10000, &s), 0);
	ck_assert_int_eq(s.err, 0);
	ck_assert_int_eq(s.total_lag, 24);
	ls_lag_snapshot_release(&s);
	ls_kafka_mock_requests(mock, counts);
	ck_assert_uint_eq(counts[API_OFFSET_FETCH], 2);
#ifdef RD_KAFKA_LAGSCALE_COORD_CACHE
	/* The cached coordinator was evicted: looked up once more. */
	ck_assert_uint_eq(counts[API_FIND_COORDINATOR], 1);
#endif
}
END_TEST

START_TEST(test_kafka_cluster_down_then_back)
{
	const char *a[] = {"orders-a"};
	struct ls_kafka_query q = {.group = "g", .topics = a, .n_topics = 1};
	struct ls_lag_snapshot s;
	int r;

	for (int b = 1; b <= 3; b++)
		ck_assert_int_eq(ls_kafka_mock_broker_down(mock, b, 1), 0);
	r = ls_kafka_collect(kafka, &q, 1, 2000, &s);
	ck_assert_int_lt(r, 0);
	ck_assert_int_eq(s.err, r);
	ck_assert_ptr_nonnull(strstr(ls_lag_snapshot_errmsg(&s), "mock"));
	ls_lag_snapshot_release(&s);
	for (int b = 1; b <= 3; b++)
		ck_assert_int_eq(ls_kafka_mock_broker_down(mock, b, 0), 0);
	/* The client reconnects (or is recreated) and reads again. */
	for (int i = 0; i < 10; i++) {
		r = ls_kafka_collect(kafka, &q, 1, 3000, &s);
		if (r == 0 && s.err == 0)
			break;
		ls_lag_snapshot_release(&s);
	}
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(s.err, 0);
	ck_assert_int_eq(s.total_lag, 24);
	ls_lag_snapshot_release(&s);
}
END_TEST

START_TEST(test_kafka_coordinator_back_after_deadline)
{
	/* The group's coordinator goes down: the round ends at its deadline
	 * with the committed offsets unanswered, while librdkafka still waits
	 * for the coordinator. When it comes back, that request is sent:
	 * librdkafka 2.8 aborted the process here when the request had
	 * already timed out (a use-after-free in its coordinator request
	 * path, librdkafka issues 3663 and 4605), fixed by lagscale's patch
	 * of librdkafka (scripts/librdkafka.d). */
	const char *a[] = {"orders-a"};
	struct ls_kafka_query q = {.group = "g", .topics = a, .n_topics = 1};
	struct ls_lag_snapshot s;
	int r;

	ck_assert_int_eq(ls_kafka_mock_group_coordinator(mock, "g", 2), 0);
	ck_assert_int_eq(ls_kafka_collect(kafka, &q, 1, 10000, &s), 0);
	ck_assert_int_eq(s.total_lag, 24);
	ls_lag_snapshot_release(&s);
	ck_assert_int_eq(ls_kafka_mock_broker_down(mock, 2, 1), 0);
	r = ls_kafka_collect(kafka, &q, 1, 1000, &s);
	ck_assert(r < 0 || s.err < 0);
	ck_assert_int_eq(s.total_lag, -1);
	ls_lag_snapshot_release(&s);
	ck_assert_int_eq(ls_kafka_mock_broker_down(mock, 2, 0), 0);
	/* Not a wait for a result: the time librdkafka needs to reconnect
	 * and send the waiting request, which is when 2.8 used to abort. */
	ls_clock_sleep_ms(3000);
	for (int i = 0; i < 10; i++) {
		r = ls_kafka_collect(kafka, &q, 1, 3000, &s);
		if (r == 0 && s.err == 0)
			break;
		ls_lag_snapshot_release(&s);
	}
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(s.err, 0);
	ck_assert_int_eq(s.total_lag, 24);
	ls_lag_snapshot_release(&s);
}
END_TEST

START_TEST(test_kafka_black_hole_times_out)
{
	/* A "broker" that accepts connections (the kernel does, from the
	 * listen backlog) and never answers: each round ends at its deadline
	 * with -ETIMEDOUT and no lag, and after three such rounds the client
	 * is made again, on new connections, rather than wait on the same
	 * silent ones for good. */
	const char *a[] = {"orders-a"};
	struct ls_kafka_query q = {.group = "g", .topics = a, .n_topics = 1};
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	struct ls_kafka_stats st;
	struct ls_kafka *hole = NULL;
	struct ls_lag_snapshot s;
	char bootstrap[64], err[256];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int64_t t0;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(bootstrap, sizeof(bootstrap), "127.0.0.1:%d", ntohs(sa.sin_port));
	ck_assert_int_eq(ls_kafka_new("hole", bootstrap, NULL, 0, &hole, err, sizeof(err)), 0);
	for (int round = 0; round < 4; round++) {
		ls_kafka_get_stats(hole, &st);
		ck_assert_uint_eq(st.recreated, 0);
		t0 = ls_clock_mono_ms();
		ck_assert_int_eq(ls_kafka_collect(hole, &q, 1, 1000, &s), -ETIMEDOUT);
		/* the deadline, and not librdkafka's 10 s ApiVersion timeout */
		ck_assert_int_lt(ls_clock_mono_ms() - t0, 1000 + 2000);
		ck_assert_int_eq(s.err, -ETIMEDOUT);
		ck_assert_int_eq(s.total_lag, -1);
		ck_assert_ptr_nonnull(strstr(ls_lag_snapshot_errmsg(&s), bootstrap));
		ls_lag_snapshot_release(&s);
	}
	ls_kafka_get_stats(hole, &st);
	ck_assert_uint_eq(st.recreated, 1);
	ls_kafka_free(hole);
	close(fd);
}
END_TEST

/* The query failed for want of an answer within the round: librdkafka's
 * own timeout, or no reply by the deadline. */
static bool is_late(const struct ls_lag_snapshot *s)
{
	return s->err != 0 &&
	       (strstr(ls_lag_snapshot_errmsg(s), "Timed out") || strstr(ls_lag_snapshot_errmsg(s), "no answer in time"));
}

/*
 * A group coordinator slower than the round (librdkafka issue #4605): the
 * round delivers the groups that answered, fails the late one for the
 * round, and keeps its client, warm. The late group's request times out
 * in librdkafka while its coordinator is still being connected to (every
 * answer of broker 3 takes 4 s), which aborted an unpatched librdkafka
 * 2.8.0 that kept its client in 10 runs of 10
 * ("rd_kafka_enq_once_del_source_return: Assertion `eonce->refcnt > 0'
 * failed"), so the rounds go on past that moment. Once the broker is quick
 * again, the late group is read by the same client. Built against a
 * librdkafka without the fix, lagscale recreates the client instead.
 */
START_TEST(test_kafka_slow_coordinator_keeps_client)
{
	const char *a[] = {"orders-a"};
	struct ls_kafka_query q[2] = {
		{.group = "g", .topics = a, .n_topics = 1},
		{.group = "late", .topics = a, .n_topics = 1},
	};
	struct ls_kafka_mock_offset offs[4];
	struct ls_lag_snapshot s[2];
	struct ls_kafka_stats st;
	int64_t start;
	bool late_read = false;
	int g_read = 0;

	for (int p = 0; p < 4; p++) {
		ck_assert_int_eq(ls_kafka_mock_partition_leader(mock, "orders-a", p, 1 + p % 2), 0);
		offs[p] = (struct ls_kafka_mock_offset){"orders-a", p, 7};
	}
	ck_assert_int_eq(ls_kafka_mock_group_coordinator(mock, "g", 1), 0);
	ck_assert_int_eq(ls_kafka_mock_group_coordinator(mock, "late", 3), 0);
	ck_assert_int_eq(ls_kafka_mock_commit(mock, "late", offs, 4), 0);
	/* A first round of g alone reads the metadata, kept from then on
	 * (as the controller keeps it): it may come from broker 3. */
	ls_kafka_set_metadata_max_age(kafka, 600000);
	ck_assert_int_eq(ls_kafka_collect(kafka, q, 1, 10000, s), 0);
	ck_assert_int_eq(s[0].err, 0);
	ls_lag_snapshot_release(&s[0]);
	ck_assert_int_eq(ls_kafka_mock_broker_rtt(mock, 3, 4000), 0);

	/* Six rounds of 2 s: the first requests time out at 2 s, broker 3's
	 * connection comes up later, within these 12 s. */
	for (int round = 0; round < 6; round++) {
		ck_assert_int_eq(ls_kafka_collect(kafka, q, 2, 2000, s), 0);
		/* g's coordinator is quick, but librdkafka may route a
		 * request of g's through broker 3 (its connection setup, a
		 * FindCoordinator): then g is late too, now and then. */
		if (s[0].err == 0) {
			ck_assert_int_eq(s[0].total_lag, 24);
			g_read++;
		} else {
			ck_assert_msg(is_late(&s[0]), "round %d: %s", round, ls_lag_snapshot_errmsg(&s[0]));
		}
		if (s[1].err == 0)
			ck_assert_int_eq(s[1].total_lag, 12);
		else
			ck_assert_msg(is_late(&s[1]), "round %d: %s", round, ls_lag_snapshot_errmsg(&s[1]));
		ls_lag_snapshot_release(&s[0]);
		ls_lag_snapshot_release(&s[1]);
	}
	ck_assert_int_ge(g_read, 3);
	ls_kafka_get_stats(kafka, &st);
	ck_assert_uint_gt(st.late_requests, 0);
#ifdef RD_KAFKA_LAGSCALE_FIX_4605
	ck_assert_uint_eq(st.recreated, 0);
#else
	/* A librdkafka without the fix: the client is recreated instead. */
	ck_assert_uint_gt(st.recreated, 0);
#endif

	/* The broker is quick again: the same client reads the late group. */
	ck_assert_int_eq(ls_kafka_mock_broker_rtt(mock, 3, 0), 0);
	start = ls_clock_mono_ms();
	while (!late_read && ls_clock_mono_ms() - start < 30000) {
		ck_assert_int_eq(ls_kafka_collect(kafka, q, 2, 2000, s), 0);
		if (s[1].err == 0) {
			ck_assert_int_eq(s[1].total_lag, 12);
			late_read = true;
		}
		ls_lag_snapshot_release(&s[0]);
		ls_lag_snapshot_release(&s[1]);
	}
	ck_assert_msg(late_read, "the late group was never read");
#ifdef RD_KAFKA_LAGSCALE_FIX_4605
	ls_kafka_get_stats(kafka, &st);
	ck_assert_uint_eq(st.recreated, 0);
#endif
}
END_TEST

START_TEST(test_kafka_bad_property)
{
	const struct ls_kafka_prop props[] = {{"no.such.property", "secret-value"}};
	struct ls_kafka *k = (struct ls_kafka *)0x1;
	char err[256];

	ck_assert_int_eq(ls_kafka_new("x", "127.0.0.1:1", props, 1, &k, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_eq(k, (struct ls_kafka *)0x1);
	ck_assert_ptr_nonnull(strstr(err, "no.such.property"));
	ck_assert_ptr_null(strstr(err, "secret-value"));
}
END_TEST

START_TEST(test_kafka_check_conf)
{
	/* What ls_kafka_new refuses, without a client: the index of the
	 * refused property, untouched on success; the AWS credentials are not
	 * looked for (none are in this environment). */
	const struct ls_kafka_prop good[] = {{"client.rack", "a"},
					     {"sasl.mechanism", "AWS_MSK_IAM"},
					     {"aws.region", "eu-west-1"}};
	const struct ls_kafka_prop bad[] = {{"client.rack", "a"}, {"sasl.usernme", "u"}};
	const struct ls_kafka_prop value[] = {{"security.protocol", "plaintxt"}};
	const struct ls_kafka_prop aws[] = {{"aws.regoin", "eu-west-1"}};
	size_t at = 77;
	char err[256] = "";

	ck_assert_int_eq(ls_kafka_check_conf("x", "127.0.0.1:1", good, 3, &at, err, sizeof(err)),
			 0);
	ck_assert_uint_eq(at, 77);
	ck_assert_int_eq(ls_kafka_check_conf("x", "127.0.0.1:1", bad, 2, &at, err, sizeof(err)),
			 -EINVAL);
	ck_assert_uint_eq(at, 1);
	ck_assert_msg(strstr(err, "property \"sasl.usernme\": No such configuration property"),
		      "%s", err);
	ck_assert_int_eq(ls_kafka_check_conf("x", "127.0.0.1:1", value, 1, &at, err, sizeof(err)),
			 -EINVAL);
	ck_assert_uint_eq(at, 0);
	ck_assert_msg(strstr(err, "security.protocol"), "%s", err);
	ck_assert_int_eq(ls_kafka_check_conf("x", "127.0.0.1:1", aws, 1, &at, err, sizeof(err)),
			 -EINVAL);
	ck_assert_uint_eq(at, 0);
	ck_assert_msg(strstr(err, "aws.regoin"), "%s", err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("integration-collect");
	TCase *tc = tcase_create("mock");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_kafka_topic_pattern);
	tcase_add_test(tc, test_kafka_check_conf);
	tcase_add_test(tc, test_kafka_partition_limit);
	tcase_add_test(tc, test_kafka_several_queries_one_round);
	tcase_add_test(tc, test_kafka_metadata_reused);
	tcase_add_test(tc, test_kafka_group_refused_then_recovers);
	tcase_add_test(tc, test_kafka_leader_error_retried);
	tcase_add_test(tc, test_kafka_coordinators_kept);
	tcase_add_test(tc, test_kafka_coordinator_lookups_spread);
	tcase_add_test(tc, test_kafka_wide_topic_big_chunks);
	tcase_add_test(tc, test_kafka_coordinator_moved_asked_again);
	tcase_add_test(tc, test_kafka_cluster_down_then_back);
	tcase_add_test(tc, test_kafka_coordinator_back_after_deadline);
	tcase_add_test(tc, test_kafka_black_hole_times_out);
	tcase_add_test(tc, test_kafka_bad_property);
	suite_add_tcase(s, tc);
	/* Its own case, to be run alone and repeated:
	 * CK_RUN_CASE=slow-coordinator. */
	tc = tcase_create("slow-coordinator");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_kafka_slow_coordinator_keeps_client);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
