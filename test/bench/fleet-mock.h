/*
 * fleet-mock.h - the benchmarks' Kafka fleet on the mock cluster: G groups,
 * each consuming a topic of its own with P partitions, named
 * bench-topic-NNNN and bench-group-NNNN. Partition p holds p + 2 messages
 * and the group is one behind on each, except partition 0, which it never
 * committed; so with auto.offset.reset latest every partition lags by 1.
 *
 * Populating is built for fleets of 10,000 groups: the messages go out
 * through one topic handle per topic (librdkafka finds a topic named in
 * rd_kafka_producev by a linear search), and the commits as concurrent
 * admin requests (a window of them in flight, not one at a time).
 */
#ifndef LS_BENCH_FLEET_MOCK_H
#define LS_BENCH_FLEET_MOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "kafka/mock.h"

/* The names of group g's topic and group (buffers of at least 32 bytes). */
void fleet_topic_name(int g, char *buf, size_t size);
void fleet_group_name(int g, char *buf, size_t size);

/*
 * Creates the topics, messages and commits on m, through a producer of its
 * own. With verbose, prints how long each step took to stderr. 0, -EIO or
 * -ENOMEM.
 */
int fleet_mock_populate(struct ls_kafka_mock *m, int groups, int partitions, int verbose);

/*
 * Produce churn on a populated fleet, for the soak: a thread of its own,
 * with a producer and an admin client of its own (it never touches the
 * struct ls_kafka_mock, so the caller keeps using it), that every second
 * appends messages to a slice of the groups' topics and moves their
 * committed offsets. Each group plays a role that changes every five
 * minutes: steady (commits up to the end), lagging (never commits, so its
 * lag grows), catching up (commits faster than it is produced to, until
 * it is at the end) or idle. Commits go to the offsets the producer saw
 * acknowledged, so a broker outage delays them but never makes them pass
 * the end of a partition; failed requests are counted, not fatal.
 */
struct fleet_churn;

/* Starts it. 0, -EIO (a client or the thread) or -ENOMEM. */
int fleet_churn_start(const char *bootstraps, int groups, int partitions,
		      struct fleet_churn **ret);

/*
 * Totals so far: messages acknowledged, commits that succeeded, and
 * produce or commit requests that failed. Any thread.
 */
void fleet_churn_stats(struct fleet_churn *c, uint64_t *ret_produced, uint64_t *ret_commits,
		       uint64_t *ret_failures);

/*
 * Pauses the churn (waits until no commit is in flight) or lets it go on.
 * The soak pauses it while a broker is down: librdkafka 2.8's admin client
 * can abort on an assertion (rd_kafka_enq_once_del_source_return) when an
 * AlterConsumerGroupOffsets request times out on a coordinator that is
 * gone. Not from the churn's own thread.
 */
void fleet_churn_pause(struct fleet_churn *c, bool pause);

/* Stops the thread and frees everything. NULL is a no-op. */
void fleet_churn_stop(struct fleet_churn *c);

#endif
