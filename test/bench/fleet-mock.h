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

#endif
