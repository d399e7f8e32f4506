/* fleet-mock.c - see fleet-mock.h. */
#include "fleet-mock.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
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

/* Churn: groups visited per step, the step, and how long a role lasts. */
#define CHURN_SLICE 25
#define CHURN_STEP_MS 1000
#define CHURN_ROLE_STEPS 300
/* Per visit: partitions written to, messages each (at most), and how far
 * a group catching up commits past its committed offset. */
#define CHURN_PARTITIONS 3
#define CHURN_MESSAGES 8
#define CHURN_CATCH_UP 20

enum churn_role { ROLE_STEADY, ROLE_LAGGING, ROLE_CATCHING_UP, ROLE_IDLE, ROLES };

struct fleet_churn {
	rd_kafka_t *rk; /* produces, and commits through the admin API */
	rd_kafka_queue_t *q;
	rd_kafka_AdminOptions_t *opts;
	int groups, partitions;
	int64_t *end;	    /* [g * partitions + p]: acknowledged end offset */
	int64_t *committed; /* [g * partitions + p]: committed offset, -1: none */
	pthread_t thread;
	atomic_int stop;
	atomic_uint_fast64_t produced, commits, failures;
	/* fleet_churn_pause: asked (paused) and granted (parked), under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool paused, parked;
};

static void churn_delivered(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	struct fleet_churn *c = opaque;

	(void)rk;
	if (msg->err) {
		atomic_fetch_add(&c->failures, 1);
		return;
	}
	c->end[(intptr_t)msg->_private]++;
	atomic_fetch_add(&c->produced, 1);
}

static void churn_produce(struct fleet_churn *c, int g, unsigned *seed)
{
	static char payload[] = "churn";
	char topic[32];

	fleet_topic_name(g, topic, sizeof(topic));
	for (int i = 0; i < CHURN_PARTITIONS; i++) {
		int p = (int)(rand_r(seed) % (unsigned)c->partitions);
		int n = 1 + (int)(rand_r(seed) % CHURN_MESSAGES);
		intptr_t idx = (intptr_t)g * c->partitions + p;

		for (int k = 0; k < n; k++)
			if (rd_kafka_producev(c->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(p),
					      RD_KAFKA_V_VALUE(payload, sizeof(payload) - 1),
					      RD_KAFKA_V_OPAQUE((void *)idx), RD_KAFKA_V_END))
				atomic_fetch_add(&c->failures, 1);
	}
}

/* Sends group g's commit for its role; 1 if a request went out. */
static int churn_commit(struct fleet_churn *c, int g, enum churn_role role)
{
	rd_kafka_topic_partition_list_t *list;
	rd_kafka_AlterConsumerGroupOffsets_t *req;
	char topic[32], group[32];

	if (role != ROLE_STEADY && role != ROLE_CATCHING_UP)
		return 0;
	if (!(list = rd_kafka_topic_partition_list_new(c->partitions)))
		return 0;
	fleet_topic_name(g, topic, sizeof(topic));
	fleet_group_name(g, group, sizeof(group));
	/* Partition 0 stays uncommitted, as fleet_mock_populate left it. */
	for (int p = 1; p < c->partitions; p++) {
		int64_t end = c->end[g * c->partitions + p];
		int64_t cur = c->committed[g * c->partitions + p];
		int64_t to = end;

		if (role == ROLE_CATCHING_UP && cur >= 0 && end - cur > CHURN_CATCH_UP)
			to = cur + CHURN_CATCH_UP;
		if (to != cur)
			rd_kafka_topic_partition_list_add(list, topic, p)->offset = to;
	}
	if (list->cnt == 0 || !(req = rd_kafka_AlterConsumerGroupOffsets_new(group, list))) {
		rd_kafka_topic_partition_list_destroy(list);
		return 0;
	}
	rd_kafka_topic_partition_list_destroy(list);
	rd_kafka_AlterConsumerGroupOffsets(c->rk, &req, 1, c->opts, c->q);
	rd_kafka_AlterConsumerGroupOffsets_destroy(req);
	return 1;
}

/* Takes one commit's result: the offsets it set become the committed ones. */
static void churn_commit_done(struct fleet_churn *c, rd_kafka_event_t *ev)
{
	const rd_kafka_group_result_t **res;
	const rd_kafka_topic_partition_list_t *parts;
	size_t cnt = 0;
	int g;

	res = rd_kafka_event_error(ev) ? NULL
				       : rd_kafka_AlterConsumerGroupOffsets_result_groups(
						 rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &cnt);
	if (cnt != 1 || rd_kafka_group_result_error(res[0]) ||
	    sscanf(rd_kafka_group_result_name(res[0]), "bench-group-%d", &g) != 1 || g < 0 ||
	    g >= c->groups) {
		atomic_fetch_add(&c->failures, 1);
		return;
	}
	parts = rd_kafka_group_result_partitions(res[0]);
	for (int i = 0; parts && i < parts->cnt; i++) {
		const rd_kafka_topic_partition_t *tp = &parts->elems[i];

		if (tp->err || tp->partition < 0 || tp->partition >= c->partitions) {
			atomic_fetch_add(&c->failures, 1);
			continue;
		}
		c->committed[g * c->partitions + tp->partition] = tp->offset;
	}
	atomic_fetch_add(&c->commits, 1);
}

static void *churn_main(void *arg)
{
	struct fleet_churn *c = arg;
	unsigned seed = 1;
	int64_t next = ls_clock_mono_ms();

	for (int64_t step = 0; !atomic_load(&c->stop); step++) {
		int pending = 0;

		for (int i = 0; i < CHURN_SLICE; i++) {
			int g = (int)((step * CHURN_SLICE + i) % c->groups);
			enum churn_role role = (enum churn_role)((g + step / CHURN_ROLE_STEPS) % ROLES);

			if (role != ROLE_IDLE)
				churn_produce(c, g, &seed);
			pending += churn_commit(c, g, role);
		}
		/* The results, each within the request timeout (so an outage
		 * stalls a step by at most that); deliveries meanwhile. */
		while (pending > 0 && !atomic_load(&c->stop)) {
			rd_kafka_event_t *ev = rd_kafka_queue_poll(c->q, 100);

			rd_kafka_poll(c->rk, 0);
			if (!ev)
				continue;
			churn_commit_done(c, ev);
			rd_kafka_event_destroy(ev);
			pending--;
		}
		next += CHURN_STEP_MS;
		while (!atomic_load(&c->stop) && ls_clock_mono_ms() < next)
			rd_kafka_poll(c->rk, 100);
		/* Between steps no commit is in flight: park here while paused. */
		pthread_mutex_lock(&c->lock);
		if (c->paused) {
			c->parked = true;
			pthread_cond_broadcast(&c->cond);
			while (c->paused && !atomic_load(&c->stop)) {
				pthread_mutex_unlock(&c->lock);
				rd_kafka_poll(c->rk, 100);
				pthread_mutex_lock(&c->lock);
			}
			c->parked = false;
			next = ls_clock_mono_ms();
		}
		pthread_mutex_unlock(&c->lock);
	}
	return NULL;
}

void fleet_churn_pause(struct fleet_churn *c, bool pause)
{
	pthread_mutex_lock(&c->lock);
	c->paused = pause;
	while (pause && !c->parked)
		pthread_cond_wait(&c->cond, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

int fleet_churn_start(const char *bootstraps, int groups, int partitions,
		      struct fleet_churn **ret)
{
	struct fleet_churn *c = calloc(1, sizeof(*c));
	size_t n = (size_t)groups * (size_t)partitions;
	rd_kafka_conf_t *conf = NULL;
	char err[256];
	int r = -ENOMEM;

	if (!c || !(c->end = calloc(n, sizeof(*c->end))) ||
	    !(c->committed = calloc(n, sizeof(*c->committed))))
		goto fail;
	c->groups = groups;
	c->partitions = partitions;
	/* What fleet_mock_populate left: p + 2 messages, p + 1 committed. */
	for (int g = 0; g < groups; g++)
		for (int p = 0; p < partitions; p++) {
			c->end[g * partitions + p] = p + 2;
			c->committed[g * partitions + p] = p ? p + 1 : -1;
		}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	atomic_init(&c->stop, 0);
	atomic_init(&c->produced, 0);
	atomic_init(&c->commits, 0);
	atomic_init(&c->failures, 0);
	r = -EIO;
	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "linger.ms", "50", err, sizeof(err)))
		goto fail;
	rd_kafka_conf_set_log_cb(conf, quiet_log);
	rd_kafka_conf_set_dr_msg_cb(conf, churn_delivered);
	rd_kafka_conf_set_opaque(conf, c);
	if (!(c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))))
		goto fail;
	conf = NULL;
	c->q = rd_kafka_queue_new(c->rk);
	c->opts = rd_kafka_AdminOptions_new(c->rk, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
	if (!c->q || !c->opts ||
	    rd_kafka_AdminOptions_set_request_timeout(c->opts, 5000, err, sizeof(err)))
		goto fail;
	if (pthread_create(&c->thread, NULL, churn_main, c))
		goto fail;
	*ret = c;
	return 0;
fail:
	if (conf)
		rd_kafka_conf_destroy(conf);
	if (c && c->opts)
		rd_kafka_AdminOptions_destroy(c->opts);
	if (c && c->q)
		rd_kafka_queue_destroy(c->q);
	if (c && c->rk)
		rd_kafka_destroy(c->rk);
	if (c) {
		free(c->end);
		free(c->committed);
		pthread_mutex_destroy(&c->lock);
		pthread_cond_destroy(&c->cond);
	}
	free(c);
	return r;
}

void fleet_churn_stats(struct fleet_churn *c, uint64_t *ret_produced, uint64_t *ret_commits,
		       uint64_t *ret_failures)
{
	*ret_produced = atomic_load(&c->produced);
	*ret_commits = atomic_load(&c->commits);
	*ret_failures = atomic_load(&c->failures);
}

void fleet_churn_stop(struct fleet_churn *c)
{
	if (!c)
		return;
	atomic_store(&c->stop, 1);
	pthread_join(c->thread, NULL);
	rd_kafka_AdminOptions_destroy(c->opts);
	rd_kafka_queue_destroy(c->q);
	rd_kafka_flush(c->rk, 5000);
	rd_kafka_destroy(c->rk);
	free(c->end);
	free(c->committed);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
}
