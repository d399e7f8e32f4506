/*
 * mock.h - librdkafka's embedded mock cluster (rdkafka_mock.h) with the few
 * verbs lagscale's demo, integration tests and benchmark need: topics,
 * messages, committed offsets. It speaks the real Kafka protocol on
 * loopback, so `lagscale` itself connects to it like to any cluster; it
 * lacks ListGroups, DescribeGroups and SASL.
 *
 * Thread-safety: one thread at a time per struct ls_kafka_mock; the cluster
 * itself serves clients from its own threads.
 */
#ifndef LS_KAFKA_MOCK_H
#define LS_KAFKA_MOCK_H

#include <stddef.h>
#include <stdint.h>

struct ls_kafka_mock;

struct ls_kafka_mock_offset {
	const char *topic;
	int32_t partition;
	int64_t offset;
};

/* Starts a cluster of `brokers` brokers on 127.0.0.1. 0, -EIO, -ENOMEM. */
int ls_kafka_mock_new(int brokers, struct ls_kafka_mock **ret);
void ls_kafka_mock_free(struct ls_kafka_mock *m);

/* "127.0.0.1:port,..." for bootstrap.servers. */
const char *ls_kafka_mock_bootstraps(const struct ls_kafka_mock *m);

/* Creates a topic (replication factor 1, leaders spread over the brokers). */
int ls_kafka_mock_topic_create(struct ls_kafka_mock *m, const char *topic, int partitions);

/*
 * Appends count small messages to one partition; with flush, waits until
 * they are acknowledged. Returns 0 or -EIO.
 */
int ls_kafka_mock_produce(struct ls_kafka_mock *m, const char *topic, int32_t partition,
			  int64_t count, int flush);
int ls_kafka_mock_flush(struct ls_kafka_mock *m, int timeout_ms);

/* Commits offsets for a group, as a consumer of that group would. */
int ls_kafka_mock_commit(struct ls_kafka_mock *m, const char *group,
			 const struct ls_kafka_mock_offset *offs, size_t n);

/*
 * Makes the next n requests of a Kafka API (ApiKey: 2 ListOffsets,
 * 3 Metadata, 9 OffsetFetch, ...) fail with the protocol error err.
 */
void ls_kafka_mock_fail_requests(struct ls_kafka_mock *m, int16_t api_key, size_t n, int err);

/*
 * Sets how long the group coordinator waits for more members when the
 * first one joins an empty group (the broker's
 * group.initial.rebalance.delay.ms; the mock's default is 3 s). Applies to
 * groups that become empty after the call.
 */
void ls_kafka_mock_group_initial_delay(struct ls_kafka_mock *m, int delay_ms);

/*
 * Counts the requests the cluster receives from now on, by ApiKey, for
 * benchmarks. ls_kafka_mock_requests adds the requests received since the
 * previous call to counts[api_key] (counts has LS_KAFKA_MOCK_API_KEYS
 * entries; larger keys are not counted) and returns how many there were.
 */
#define LS_KAFKA_MOCK_API_KEYS 128
void ls_kafka_mock_track_requests(struct ls_kafka_mock *m);
uint64_t ls_kafka_mock_requests(struct ls_kafka_mock *m, uint64_t *counts);

/* Makes a broker unreachable (1) or reachable again (0). */
int ls_kafka_mock_broker_down(struct ls_kafka_mock *m, int32_t broker_id, int down);

/*
 * Delays every answer of a broker by rtt_ms (0: none), to make a slow
 * broker or coordinator. Returns 0 or -EIO (no such broker).
 */
int ls_kafka_mock_broker_rtt(struct ls_kafka_mock *m, int32_t broker_id, int rtt_ms);

/* Makes broker_id the coordinator of a consumer group. 0 or -EIO. */
int ls_kafka_mock_group_coordinator(struct ls_kafka_mock *m, const char *group,
				    int32_t broker_id);

/* Makes broker_id the leader of a partition. 0 or -EIO. */
int ls_kafka_mock_partition_leader(struct ls_kafka_mock *m, const char *topic,
				   int32_t partition, int32_t broker_id);

#endif
