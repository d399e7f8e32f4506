/* mock.c - see mock.h. */
#include "kafka/mock.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

struct ls_kafka_mock {
	rd_kafka_t *host; /* the handle that owns the mock cluster */
	rd_kafka_mock_cluster_t *cluster;
	rd_kafka_t *producer;
	char *bootstraps;
};

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	ls_log(LS_LOG_DEBUG, NULL, "mock %s: %s", fac, buf);
}

static rd_kafka_conf_t *base_conf(const char *bootstraps)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[256];

	if (bootstraps)
		rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof(err));
	rd_kafka_conf_set_log_cb(conf, quiet_log);
	return conf;
}

int ls_kafka_mock_new(int brokers, struct ls_kafka_mock **ret)
{
	struct ls_kafka_mock *m = calloc(1, sizeof(*m));
	rd_kafka_conf_t *conf;
	char err[256];

	if (!m)
		return -ENOMEM;
	conf = base_conf(NULL);
	m->host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!m->host) {
		rd_kafka_conf_destroy(conf);
		free(m);
		return -EIO;
	}
	m->cluster = rd_kafka_mock_cluster_new(m->host, brokers);
	if (!m->cluster) {
		ls_kafka_mock_free(m);
		return -EIO;
	}
	m->bootstraps = strdup(rd_kafka_mock_cluster_bootstraps(m->cluster));
	if (!m->bootstraps) {
		ls_kafka_mock_free(m);
		return -ENOMEM;
	}
	*ret = m;
	return 0;
}

void ls_kafka_mock_free(struct ls_kafka_mock *m)
{
	if (!m)
		return;
	if (m->producer) {
		rd_kafka_flush(m->producer, 5000);
		rd_kafka_destroy(m->producer);
	}
	if (m->cluster)
		rd_kafka_mock_cluster_destroy(m->cluster);
	if (m->host)
		rd_kafka_destroy(m->host);
	free(m->bootstraps);
	free(m);
}

const char *ls_kafka_mock_bootstraps(const struct ls_kafka_mock *m)
{
	return m->bootstraps;
}

int ls_kafka_mock_topic_create(struct ls_kafka_mock *m, const char *topic, int partitions)
{
	return rd_kafka_mock_topic_create(m->cluster, topic, partitions, 1) ? -EIO : 0;
}

static int ensure_producer(struct ls_kafka_mock *m)
{
	rd_kafka_conf_t *conf;
	char err[256];

	if (m->producer)
		return 0;
	conf = base_conf(m->bootstraps);
	rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err));
	rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", err, sizeof(err));
	m->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!m->producer) {
		rd_kafka_conf_destroy(conf);
		return -EIO;
	}
	return 0;
}

int ls_kafka_mock_flush(struct ls_kafka_mock *m, int timeout_ms)
{
	if (!m->producer)
		return 0;
	return rd_kafka_flush(m->producer, timeout_ms) ? -EIO : 0;
}

int ls_kafka_mock_produce(struct ls_kafka_mock *m, const char *topic, int32_t partition,
			  int64_t count, int flush)
{
	static const char payload[] = "lagscale";
	int r = ensure_producer(m);

	if (r < 0)
		return r;
	for (int64_t i = 0; i < count; i++) {
		rd_kafka_resp_err_t err;

		for (;;) {
			err = rd_kafka_producev(m->producer, RD_KAFKA_V_TOPIC(topic),
						RD_KAFKA_V_PARTITION(partition),
						RD_KAFKA_V_VALUE((void *)payload, sizeof(payload) - 1),
						RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
						RD_KAFKA_V_END);
			if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
				break;
			rd_kafka_poll(m->producer, 10);
		}
		if (err)
			return -EIO;
	}
	rd_kafka_poll(m->producer, 0);
	return flush ? ls_kafka_mock_flush(m, 10000) : 0;
}

int ls_kafka_mock_commit(struct ls_kafka_mock *m, const char *group,
			 const struct ls_kafka_mock_offset *offs, size_t n)
{
	rd_kafka_topic_partition_list_t *list;
	rd_kafka_AlterConsumerGroupOffsets_t *req;
	rd_kafka_AdminOptions_t *opts;
	rd_kafka_queue_t *queue;
	rd_kafka_event_t *ev;
	int r = ensure_producer(m);

	if (r < 0)
		return r;
	list = rd_kafka_topic_partition_list_new((int)n);
	for (size_t i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(list, offs[i].topic, offs[i].partition)->offset =
			offs[i].offset;
	/* The admin request commits as the group would, without a consumer
	 * per group: the benchmark commits for a thousand groups. */
	req = rd_kafka_AlterConsumerGroupOffsets_new(group, list);
	rd_kafka_topic_partition_list_destroy(list);
	opts = rd_kafka_AdminOptions_new(m->producer, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
	queue = rd_kafka_queue_new(m->producer);
	rd_kafka_AlterConsumerGroupOffsets(m->producer, &req, 1, opts, queue);
	ev = rd_kafka_queue_poll(queue, 10000);
	r = -EIO;
	if (ev && !rd_kafka_event_error(ev)) {
		size_t cnt = 0;
		const rd_kafka_group_result_t **res = rd_kafka_AlterConsumerGroupOffsets_result_groups(
			rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &cnt);

		if (cnt == 1 && !rd_kafka_group_result_error(res[0]))
			r = 0;
	}
	if (ev)
		rd_kafka_event_destroy(ev);
	rd_kafka_queue_destroy(queue);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_AlterConsumerGroupOffsets_destroy(req);
	return r;
}

int ls_kafka_mock_broker_down(struct ls_kafka_mock *m, int32_t broker_id, int down)
{
	rd_kafka_resp_err_t err = down ? rd_kafka_mock_broker_set_down(m->cluster, broker_id)
				       : rd_kafka_mock_broker_set_up(m->cluster, broker_id);

	return err ? -EIO : 0;
}

void ls_kafka_mock_fail_requests(struct ls_kafka_mock *m, int16_t api_key, size_t n, int err)
{
	for (size_t i = 0; i < n; i++)
		rd_kafka_mock_push_request_errors(m->cluster, api_key, 1, (rd_kafka_resp_err_t)err);
}

void ls_kafka_mock_group_initial_delay(struct ls_kafka_mock *m, int delay_ms)
{
	rd_kafka_mock_group_initial_rebalance_delay_ms(m->cluster, delay_ms);
}

void ls_kafka_mock_track_requests(struct ls_kafka_mock *m)
{
	rd_kafka_mock_start_request_tracking(m->cluster);
}

uint64_t ls_kafka_mock_requests(struct ls_kafka_mock *m, uint64_t *counts)
{
	size_t n = 0;
	rd_kafka_mock_request_t **reqs = rd_kafka_mock_get_requests(m->cluster, &n);

	rd_kafka_mock_clear_requests(m->cluster);
	for (size_t i = 0; i < n; i++) {
		int16_t key = rd_kafka_mock_request_api_key(reqs[i]);

		if (key >= 0 && key < LS_KAFKA_MOCK_API_KEYS)
			counts[key]++;
	}
	if (reqs)
		rd_kafka_mock_request_destroy_array(reqs, n);
	return n;
}

int ls_kafka_mock_broker_rtt(struct ls_kafka_mock *m, int32_t broker_id, int rtt_ms)
{
	return rd_kafka_mock_broker_set_rtt(m->cluster, broker_id, rtt_ms) ? -EIO : 0;
}

int ls_kafka_mock_group_coordinator(struct ls_kafka_mock *m, const char *group,
				    int32_t broker_id)
{
	return rd_kafka_mock_coordinator_set(m->cluster, "group", group, broker_id) ? -EIO : 0;
}

int ls_kafka_mock_partition_leader(struct ls_kafka_mock *m, const char *topic,
				   int32_t partition, int32_t broker_id)
{
	return rd_kafka_mock_partition_set_leader(m->cluster, topic, partition, broker_id) ? -EIO
											     : 0;
}
