/* fleet-mock.c - see fleet-mock.h. */
#include "fleet-mock.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/clock.h"

/* Commits (admin requests, one group each) in flight at a time. */
#define COMMIT_WINDOW 200

void fleet_topic_name(int g, char *buf, size_t size)
{
	snprintf(buf, size, "bench-topic-%04d", g);
}

void fleet_group_name(int g, char *buf, size_t size)
{
	snprintf(buf, size, "bench-group-%04d", g);
}

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	(void)fac;
	(void)buf;
}

static rd_kafka_t *new_producer(const char *bootstraps)
{
	static const char *const settings[][2] = {
		{"linger.ms", "20"},
		{"batch.num.messages", "100000"},
		{"queue.buffering.max.messages", "2000000"},
		{"queue.buffering.max.kbytes", "1048576"},
		{"enable.idempotence", "false"},
		{"acks", "1"},
	};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	char err[256];

	if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof(err)))
		goto fail;
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], err, sizeof(err)))
			goto fail;
	if (getenv("FLEET_MOCK_DEBUG"))
		rd_kafka_conf_set(conf, "debug", getenv("FLEET_MOCK_DEBUG"), err, sizeof(err));
	else
		rd_kafka_conf_set_log_cb(conf, quiet_log);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (rk)
		return rk;
fail:
	fprintf(stderr, "fleet-mock: producer: %s\n", err);
	rd_kafka_conf_destroy(conf);
	return NULL;
}

/*
 * Partition p of topics [from, to) gets p + 2 messages. Each broker thread
 * of a producer visits every partition the producer knows whenever a
 * partition's queue gets its first message: quadratic in partitions, so a
 * producer is only ever given a chunk of the fleet (see produce_all).
 */
static int produce_chunk(const char *bootstraps, int from, int to, int partitions)
{
	static char payload[] = "lagscale";
	rd_kafka_t *rk = new_producer(bootstraps);
	char topic[32];
	int r = 0;

	if (!rk)
		return -EIO;
	for (int g = from; g < to && r == 0; g++) {
		rd_kafka_topic_t *rkt;

		fleet_topic_name(g, topic, sizeof(topic));
		if (!(rkt = rd_kafka_topic_new(rk, topic, NULL))) {
			r = -EIO;
			break;
		}
		for (int p = 0; p < partitions && r == 0; p++)
			for (int i = 0; i < p + 2 && r == 0; i++) {
				/* Not copied, never freed: the payload is static. */
				while (rd_kafka_produce(rkt, p, 0, payload, sizeof(payload) - 1,
							NULL, 0, NULL) == -1) {
					if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
						r = -EIO;
						break;
					}
					rd_kafka_poll(rk, 10);
				}
			}
		rd_kafka_topic_destroy(rkt);
		rd_kafka_poll(rk, 0);
	}
	if (r == 0 && rd_kafka_flush(rk, 300000))
		r = -EIO;
	rd_kafka_destroy(rk);
	return r;
}

/* About this many partitions per producer, and producers at a time. */
#define PRODUCE_CHUNK_PARTITIONS 1000
#define PRODUCERS 8

struct produce_work {
	const char *bootstraps;
	int groups, partitions, chunk;
	atomic_int next; /* the first group of the next chunk */
	atomic_int failed;
};

static void *produce_worker(void *arg)
{
	struct produce_work *w = arg;
	int g;

	while (!atomic_load(&w->failed) && (g = atomic_fetch_add(&w->next, w->chunk)) < w->groups) {
		int to = g + w->chunk < w->groups ? g + w->chunk : w->groups;

		if (produce_chunk(w->bootstraps, g, to, w->partitions) < 0)
			atomic_store(&w->failed, 1);
	}
	return NULL;
}

/* Chunks of the fleet, each to a producer of its own, PRODUCERS at a time. */
static int produce_all(const char *bootstraps, int groups, int partitions)
{
	struct produce_work w = {.bootstraps = bootstraps, .groups = groups,
				 .partitions = partitions};
	pthread_t threads[PRODUCERS];
	int started = 0;

	w.chunk = PRODUCE_CHUNK_PARTITIONS / partitions > 0 ? PRODUCE_CHUNK_PARTITIONS / partitions
							     : 1;
	atomic_init(&w.next, 0);
	atomic_init(&w.failed, 0);
	for (; started < PRODUCERS; started++)
		if (pthread_create(&threads[started], NULL, produce_worker, &w))
			break;
	if (started == 0)
		produce_worker(&w);
	for (int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	return atomic_load(&w.failed) ? -EIO : 0;
}

/*
 * The mock cluster's thread serves the verbs of rdkafka_mock.h (topic
 * creation, ...) when it wakes up, but a verb alone does not always wake it
 * (librdkafka 2.8): with no client traffic each one then waits for the
 * thread's next timer, up to a second. So while the topics are created, a
 * client keeps the thread busy with cheap Metadata requests (no topics).
 */
struct pump {
	pthread_t thread;
	rd_kafka_t *rk;
	atomic_int stop;
};

static void *pump_main(void *arg)
{
	struct pump *p = arg;

	while (!atomic_load(&p->stop)) {
		const struct rd_kafka_metadata *md;

		if (rd_kafka_metadata(p->rk, 0, NULL, &md, 1000) == RD_KAFKA_RESP_ERR_NO_ERROR)
			rd_kafka_metadata_destroy(md);
	}
	return NULL;
}

static int pump_start(struct pump *p, const char *bootstraps)
{
	atomic_init(&p->stop, 0);
	if (!(p->rk = new_producer(bootstraps)))
		return -EIO;
	if (pthread_create(&p->thread, NULL, pump_main, p)) {
		rd_kafka_destroy(p->rk);
		return -ENOMEM;
	}
	return 0;
}

static void pump_stop(struct pump *p)
{
	atomic_store(&p->stop, 1);
	pthread_join(p->thread, NULL);
	rd_kafka_destroy(p->rk);
}

/* Starts the commit of group g: offset p + 1 on partitions 1..P-1. */
static int commit_start(rd_kafka_t *rk, rd_kafka_queue_t *q, rd_kafka_AdminOptions_t *opts,
			int g, int partitions)
{
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
	rd_kafka_AlterConsumerGroupOffsets_t *req;
	char topic[32], group[32];

	if (!list)
		return -ENOMEM;
	fleet_topic_name(g, topic, sizeof(topic));
	fleet_group_name(g, group, sizeof(group));
	for (int p = 1; p < partitions; p++)
		rd_kafka_topic_partition_list_add(list, topic, p)->offset = p + 1;
	req = rd_kafka_AlterConsumerGroupOffsets_new(group, list);
	rd_kafka_topic_partition_list_destroy(list);
	if (!req)
		return -ENOMEM;
	rd_kafka_AlterConsumerGroupOffsets(rk, &req, 1, opts, q);
	rd_kafka_AlterConsumerGroupOffsets_destroy(req);
	return 0;
}

/* Waits for one commit's result: 0 or -EIO. */
static int commit_wait(rd_kafka_queue_t *q)
{
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 120000);
	const rd_kafka_group_result_t **res;
	size_t cnt = 0;
	int r = -EIO;

	if (!ev) {
		fprintf(stderr, "fleet-mock: a commit timed out\n");
		return -EIO;
	}
	if (rd_kafka_event_error(ev)) {
		fprintf(stderr, "fleet-mock: commit: %s\n", rd_kafka_event_error_string(ev));
	} else {
		res = rd_kafka_AlterConsumerGroupOffsets_result_groups(
			rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &cnt);
		if (cnt == 1 && !rd_kafka_group_result_error(res[0]))
			r = 0;
		else if (cnt == 1)
			fprintf(stderr, "fleet-mock: commit of %s: %s\n",
				rd_kafka_group_result_name(res[0]),
				rd_kafka_error_string(rd_kafka_group_result_error(res[0])));
	}
	rd_kafka_event_destroy(ev);
	return r;
}

/* Commits for every group, COMMIT_WINDOW requests in flight at a time. */
static int commit_all(rd_kafka_t *rk, int groups, int partitions)
{
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_AdminOptions_t *opts =
		rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
	char err[256];
	int sent = 0, done = 0, r = 0;

	if (!q || !opts) {
		r = -ENOMEM;
		goto out;
	}
	rd_kafka_AdminOptions_set_request_timeout(opts, 120000, err, sizeof(err));
	while (done < groups) {
		while (r == 0 && sent < groups && sent - done < COMMIT_WINDOW) {
			r = commit_start(rk, q, opts, sent, partitions);
			if (r == 0)
				sent++;
		}
		if (done == sent)
			break;
		if (commit_wait(q) < 0 && r == 0)
			r = -EIO;
		done++;
	}
out:
	if (opts)
		rd_kafka_AdminOptions_destroy(opts);
	if (q)
		rd_kafka_queue_destroy(q);
	return r;
}

int fleet_mock_populate(struct ls_kafka_mock *m, int groups, int partitions, int verbose)
{
	int64_t t0 = ls_clock_mono_ms(), tt, t1, t2;
	struct pump pump;
	rd_kafka_t *rk;
	char topic[32];
	int r;

	if ((r = pump_start(&pump, ls_kafka_mock_bootstraps(m))) < 0)
		return r;
	for (int g = 0; g < groups && r == 0; g++) {
		fleet_topic_name(g, topic, sizeof(topic));
		r = ls_kafka_mock_topic_create(m, topic, partitions);
	}
	pump_stop(&pump);
	if (r < 0)
		return r;
	tt = ls_clock_mono_ms();
	r = produce_all(ls_kafka_mock_bootstraps(m), groups, partitions);
	t1 = ls_clock_mono_ms();
	if (r < 0)
		return r;
	/* The admin client: a producer that never produces. */
	if (!(rk = new_producer(ls_kafka_mock_bootstraps(m))))
		return -EIO;
	r = commit_all(rk, groups, partitions);
	t2 = ls_clock_mono_ms();
	rd_kafka_destroy(rk);
	if (verbose && r == 0)
		fprintf(stderr, "fleet-mock: %d topics x %d partitions: topics in %.1f s, "
				"messages in %.1f s, commits in %.1f s\n",
			groups, partitions, (tt - t0) / 1e3, (t1 - tt) / 1e3, (t2 - t1) / 1e3);
	return r;
}
