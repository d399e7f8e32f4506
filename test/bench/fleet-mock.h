/*
 * fleet-mock.h - the benchmarks' Kafka fleet on the mock cluster: G groups,
 * each consuming a topic of its own with P partitions, named
 * bench-topic-NNNN and bench-group-NNNN. Partition p holds p + 2 messages
 * and the group is one behind on each, except partition 0, which it never
 * committed; so with auto.offset.reset latest every partition lags by 1.
 */
#ifndef LS_BENCH_FLEET_MOCK_H
#define LS_BENCH_FLEET_MOCK_H

#include "kafka/mock.h"

/* The names of group g's topic and group (buffers of at least 32 bytes). */
void fleet_topic_name(int g, char *buf, size_t size);
void fleet_group_name(int g, char *buf, size_t size);

/* Creates the topics, messages and commits on m. 0 or a negative errno. */
int fleet_mock_populate(struct ls_kafka_mock *m, int groups, int partitions);

#endif
