/* workload.c - see workload.h. */
#include "workload/workload.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/partitions.h"
#include "util/clock.h"
#include "util/log.h"

#define TICK_MS	     10 /* the producer's step */
#define KEEPALIVE_MS 10 /* a consumer asks its group state this often */
#define MIN_COMMIT_MS 10
/* The mock's coordinator waits session.timeout.ms - 1000 ms for members to
 * rejoin (rdkafka_mock_cgrp.c); 1050 makes that 50 ms and still gives a
 * busy machine a second of missed heartbeats before a member is dropped. */
#define SESSION_TIMEOUT "1050"
#define HEARTBEAT	"10"
#define NOT_STARTED	(INT64_MAX / 4)
/* Settled this long counts as settled: the mock cluster drops a member
 * that went silent after session.timeout.ms, checked once a second. */
#define STABLE_MS	2100

struct member {
	struct ls_workload *w;
	int32_t index;
	rd_kafka_t *rk;
	pthread_t thread;
	bool thread_started;
	atomic_int owned;	/* partitions held */
	atomic_int subscribed;	/* a group member (real membership) or dealt to */
	atomic_llong behind;	/* real messages behind on the partitions held */
	atomic_int commit_inflight;
	char member_id[128];	/* under w->mu */
};

struct ls_workload {
	const struct ls_scenario *sc;
	struct ls_workload_plan plan;
	const char *bootstrap, *topic, *group;
	bool real; /* group membership, else dealt by hand */
	struct ls_partitions *model;
	double *share; /* per partition, sums to 1 */
	int64_t commit_ms;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	int32_t in_service;
	int deal_gen;	   /* hand deal: bumped on every change */
	int32_t released;  /* hand deal: consumers done handing back */
	int32_t *owner;	   /* hand deal: consumer of each partition, -1 none */
	int64_t *pos;	   /* hand deal: positions handed over */
	int64_t *ready_at; /* per replica set, virtual ms */
	int32_t n_replicas, alloc_replicas;
	bool clock_started;

	atomic_llong start_real_ms;
	atomic_int quit;
	atomic_llong produced_real;
	atomic_llong rebalances;

	rd_kafka_t *producer;
	pthread_t producer_thread;
	bool producer_started;
	bool started;
	struct member *members;
	int32_t n_members;
};

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	ls_log(LS_LOG_DEBUG, NULL, "workload %s: %s", fac, buf);
}

static double peak_rate(const struct ls_scenario *sc)
{
	double peak = 0;

	for (size_t i = 0; i < sc->n_produce; i++)
		if (sc->produce[i].rate > peak)
			peak = sc->produce[i].rate;
	return peak;
}

static void say(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (!why || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

int ls_workload_plan(const struct ls_scenario *sc, double speed,
		     struct ls_workload_plan *ret_plan, char *why, size_t whylen)
{
	struct ls_workload_plan p;
	int64_t pool;
	double poll_real_ms, backlog;

	if (!sc || !ret_plan || !isfinite(speed) || speed <= 0)
		return -EINVAL;
	if (sc->partitions > LS_WORKLOAD_MAX_PARTITIONS) {
		say(why, whylen, "%d partitions: a replay takes at most %d", (int)sc->partitions,
		    LS_WORKLOAD_MAX_PARTITIONS);
		return -E2BIG;
	}
	pool = sc->policy.max_replicas;
	if (!sc->policy.allow_idle_consumers && pool > sc->partitions)
		pool = sc->partitions;
	if (pool < sc->initial_replicas)
		pool = sc->initial_replicas;
	if (pool < 1)
		pool = 1;
	if (pool > LS_WORKLOAD_MAX_CONSUMERS) {
		say(why, whylen, "up to %lld replicas (maxReplicas %d, %d partitions): a replay runs "
			       "at most %d consumers",
		    (long long)pool, (int)sc->policy.max_replicas, (int)sc->partitions,
		    LS_WORKLOAD_MAX_CONSUMERS);
		return -E2BIG;
	}
	p.consumers = (int32_t)pool;
	p.time_scale = (double)sc->duration_ms / 60000.0;
	if (p.time_scale < 1)
		p.time_scale = 1;
	p.time_scale *= speed;
	p.msg_scale = peak_rate(sc) * p.time_scale / LS_WORKLOAD_REAL_RATE;
	if (p.msg_scale < sc->per_replica_rate * p.time_scale / LS_WORKLOAD_MAX_REPLICA_RATE)
		p.msg_scale = sc->per_replica_rate * p.time_scale / LS_WORKLOAD_MAX_REPLICA_RATE;
	if (p.msg_scale < 1)
		p.msg_scale = 1;
	p.replica_rate = sc->per_replica_rate * p.time_scale / p.msg_scale;
	if (p.replica_rate < LS_WORKLOAD_MIN_REPLICA_RATE) {
		say(why, whylen,
		    "perReplicaRate %g msgs/s is %.1f real msgs/s after scaling (one message for "
		    "%.0f, to keep the produce peak of %g msgs/s at %.0f real msgs/s): a replay needs "
		    "at least %.0f",
		    sc->per_replica_rate, p.replica_rate, p.msg_scale, peak_rate(sc),
		    LS_WORKLOAD_REAL_RATE, LS_WORKLOAD_MIN_REPLICA_RATE);
		return -E2BIG;
	}
	poll_real_ms = (double)sc->policy.polling_interval_ms / p.time_scale;
	if (poll_real_ms < LS_WORKLOAD_MIN_POLL_MS) {
		say(why, whylen,
		    "pollingInterval %llds is %.0f ms real at this speed; a rebalance takes about "
		    "50 ms, so a replay needs at least %d ms: use a lower --speed",
		    (long long)(sc->policy.polling_interval_ms / 1000), poll_real_ms,
		    LS_WORKLOAD_MIN_POLL_MS);
		return -E2BIG;
	}
	backlog = (double)sc->initial_lag / p.msg_scale;
	if (backlog > LS_WORKLOAD_MAX_BACKLOG) {
		say(why, whylen, "initialLag %lld is %.0f real messages: a replay takes at most %d",
		    (long long)sc->initial_lag, backlog, LS_WORKLOAD_MAX_BACKLOG);
		return -E2BIG;
	}
	p.real_seconds = (double)sc->duration_ms / 1000.0 / p.time_scale;
	*ret_plan = p;
	return 0;
}

static int64_t vnow(const struct ls_workload *w)
{
	int64_t start = atomic_load(&w->start_real_ms);

	if (start == NOT_STARTED)
		return -1;
	return (int64_t)((double)(ls_clock_mono_ms() - start) * w->plan.time_scale);
}

static bool in_window(const struct ls_scenario_window *ws, size_t n, int64_t t)
{
	for (size_t i = 0; i < n; i++)
		if (t >= ws[i].from_ms && t < ws[i].to_ms)
			return true;
	return false;
}

/* Under w->mu. */
static void set_in_service_locked(struct ls_workload *w, int32_t n)
{
	if (n > w->n_members)
		n = w->n_members;
	if (n < 0)
		n = 0;
	if (n == w->in_service && w->deal_gen > 0)
		return;
	w->in_service = n;
	if (!w->real) {
		if (n > 0)
			ls_partitions_assign(w->model, n, w->owner, (size_t)w->sc->partitions);
		else
			for (int32_t p = 0; p < w->sc->partitions; p++)
				w->owner[p] = -1;
		w->released = 0;
	}
	w->deal_gen++;
	pthread_cond_broadcast(&w->cv);
}

/* Under w->mu. */
static int32_t ready_locked(const struct ls_workload *w, int64_t now)
{
	int32_t k = 0;

	for (int32_t i = 0; i < w->n_replicas; i++)
		if (w->ready_at[i] <= now)
			k++;
	return k;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct member *me = opaque;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		char *id = rd_kafka_memberid(rk);

		rd_kafka_assign(rk, parts);
		atomic_store(&me->owned, parts->cnt);
		atomic_fetch_add(&me->w->rebalances, 1);
		pthread_mutex_lock(&me->w->mu);
		snprintf(me->member_id, sizeof(me->member_id), "%s", id ? id : "");
		pthread_mutex_unlock(&me->w->mu);
		if (id)
			rd_kafka_mem_free(rk, id);
	} else {
		/* Eager: everything goes back. A commit here would fail: the
		 * coordinator is already rebalancing. The last periodic
		 * commit is at most one commit interval old. */
		rd_kafka_assign(rk, NULL);
		atomic_store(&me->owned, 0);
	}
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
		      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
	struct member *me = opaque;

	(void)rk;
	(void)err;
	(void)offsets;
	atomic_store(&me->commit_inflight, 0);
}

static rd_kafka_t *consumer_new(struct ls_workload *w, struct member *me, char *err,
				size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char client_id[64];
	rd_kafka_t *rk;
	const struct {
		const char *k, *v;
	} props[] = {
		{"bootstrap.servers", w->bootstrap},
		{"group.id", w->group},
		{"client.id", client_id},
		{"enable.auto.commit", "false"},
		{"auto.offset.reset", "earliest"},
		{"fetch.wait.max.ms", "5"},
		{"session.timeout.ms", SESSION_TIMEOUT},
		{"heartbeat.interval.ms", HEARTBEAT},
		{"partition.assignment.strategy",
		 w->sc->assignor == LS_ASSIGNOR_ROUNDROBIN ? "roundrobin" : "range"},
	};

	snprintf(client_id, sizeof(client_id), "lagscale-workload-%d", (int)me->index);
	for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
		if (rd_kafka_conf_set(conf, props[i].k, props[i].v, err, errlen) !=
		    RD_KAFKA_CONF_OK) {
			rd_kafka_conf_destroy(conf);
			return NULL;
		}
	}
	rd_kafka_conf_set_log_cb(conf, quiet_log);
	rd_kafka_conf_set_opaque(conf, me);
	rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
	if (w->real)
		rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_poll_set_consumer(rk);
	return rk;
}

/*
 * Reads the assignment: the partitions held and how far behind they are
 * (from the cached high watermarks). Asking also wakes librdkafka's main
 * thread, which sends heartbeats only when woken: left alone it sleeps up
 * to a second, and a member that learns of a rebalance late misses the
 * coordinator's short rejoin window.
 */
static void keepalive(struct member *me)
{
	rd_kafka_topic_partition_list_t *a = NULL;
	long long behind = 0;

	if (rd_kafka_assignment(me->rk, &a) != 0 || !a)
		return;
	if (a->cnt > 0) {
		rd_kafka_position(me->rk, a);
		for (int i = 0; i < a->cnt; i++) {
			int64_t lo = 0, hi = 0;

			if (rd_kafka_get_watermark_offsets(me->rk, a->elems[i].topic,
							   a->elems[i].partition, &lo,
							   &hi) != 0 ||
			    hi < 0)
				continue;
			/* No position yet: behind by the whole log, as far as
			 * this consumer knows. */
			behind += hi - (a->elems[i].offset >= 0 ? a->elems[i].offset : lo);
		}
	}
	atomic_store(&me->owned, a->cnt);
	atomic_store(&me->behind, behind);
	rd_kafka_topic_partition_list_destroy(a);
}

static void commit_now(struct member *me, int async)
{
	if (async && atomic_load(&me->commit_inflight))
		return;
	atomic_store(&me->commit_inflight, 1);
	if (rd_kafka_commit(me->rk, NULL, async) != RD_KAFKA_RESP_ERR_NO_ERROR || !async)
		atomic_store(&me->commit_inflight, 0);
}

/* Hand deal: commits and gives the partitions back with their positions. */
static void hand_back(struct member *me)
{
	struct ls_workload *w = me->w;
	rd_kafka_topic_partition_list_t *a = NULL;

	if (rd_kafka_assignment(me->rk, &a) == 0 && a) {
		if (a->cnt > 0) {
			rd_kafka_position(me->rk, a);
			rd_kafka_commit(me->rk, NULL, 0);
			pthread_mutex_lock(&w->mu);
			for (int i = 0; i < a->cnt; i++)
				if (a->elems[i].offset >= 0)
					w->pos[a->elems[i].partition] = a->elems[i].offset;
			pthread_mutex_unlock(&w->mu);
		}
		rd_kafka_topic_partition_list_destroy(a);
	}
	rd_kafka_assign(me->rk, NULL);
	atomic_store(&me->owned, 0);
}

/*
 * Hand deal: follows a new deal. Every consumer hands back first; only
 * when all have (and every position is known) does each take its new
 * partitions. Returns false when the deal changed meanwhile.
 */
static bool follow_deal(struct member *me, int *gen)
{
	struct ls_workload *w = me->w;
	rd_kafka_topic_partition_list_t *l;
	int target;

	pthread_mutex_lock(&w->mu);
	target = w->deal_gen;
	pthread_mutex_unlock(&w->mu);
	if (atomic_load(&me->subscribed))
		hand_back(me);
	atomic_store(&me->subscribed, 0);
	pthread_mutex_lock(&w->mu);
	if (w->deal_gen != target) {
		pthread_mutex_unlock(&w->mu);
		return false;
	}
	w->released++;
	pthread_cond_broadcast(&w->cv);
	while (w->released < w->n_members && w->deal_gen == target && !atomic_load(&w->quit))
		pthread_cond_wait(&w->cv, &w->mu);
	if (w->deal_gen != target || atomic_load(&w->quit)) {
		pthread_mutex_unlock(&w->mu);
		return false;
	}
	*gen = target;
	l = rd_kafka_topic_partition_list_new(w->sc->partitions);
	for (int32_t p = 0; p < w->sc->partitions; p++)
		if (w->owner[p] == me->index)
			rd_kafka_topic_partition_list_add(l, w->topic, p)->offset = w->pos[p];
	if (me->index < w->in_service) {
		snprintf(me->member_id, sizeof(me->member_id), "%s-%d", "lagscale-workload",
			 (int)me->index);
		atomic_store(&me->subscribed, 1);
	}
	pthread_mutex_unlock(&w->mu);
	if (l->cnt > 0) {
		rd_kafka_assign(me->rk, l);
		atomic_fetch_add(&w->rebalances, 1);
	}
	atomic_store(&me->owned, l->cnt);
	rd_kafka_topic_partition_list_destroy(l);
	return true;
}

/* Real membership: joins or leaves the group as the service count says. */
static void follow_membership(struct member *me, bool want)
{
	bool sub = atomic_load(&me->subscribed);

	if (want && !sub) {
		rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);

		rd_kafka_topic_partition_list_add(t, me->w->topic, RD_KAFKA_PARTITION_UA);
		if (rd_kafka_subscribe(me->rk, t) == RD_KAFKA_RESP_ERR_NO_ERROR)
			atomic_store(&me->subscribed, 1);
		rd_kafka_topic_partition_list_destroy(t);
	} else if (!want && sub) {
		/* The coordinator is stable now: this commit lands, so the
		 * next owner starts where this one stopped. */
		if (atomic_load(&me->owned) > 0)
			commit_now(me, 0);
		rd_kafka_unsubscribe(me->rk);
		atomic_store(&me->subscribed, 0);
	}
}

/* Seeks back to a message, so that it is processed later. */
static void unread(struct member *me, const rd_kafka_message_t *m)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_error_t *e;

	rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset =
		m->offset;
	e = rd_kafka_seek_partitions(me->rk, l, 0);
	if (e)
		rd_kafka_error_destroy(e);
	rd_kafka_topic_partition_list_destroy(l);
}

static void *member_main(void *arg)
{
	struct member *me = arg;
	struct ls_workload *w = me->w;
	int64_t start = ls_clock_mono_ms(), last_commit = start, last_keepalive = 0;
	long long done = 0;
	int gen = 0;
	bool paused = false;

	while (!atomic_load(&w->quit)) {
		rd_kafka_message_t *m;
		int64_t now_real = ls_clock_mono_ms(), now_v;
		double rate;
		int32_t serving;
		bool want, outage;

		pthread_mutex_lock(&w->mu);
		want = me->index < w->in_service;
		serving = w->in_service;
		if (!w->real && w->deal_gen != gen) {
			pthread_mutex_unlock(&w->mu);
			follow_deal(me, &gen);
			start = ls_clock_mono_ms();
			done = 0;
			continue;
		}
		pthread_mutex_unlock(&w->mu);
		if (w->real)
			follow_membership(me, want);
		if (now_real - last_keepalive >= KEEPALIVE_MS) {
			keepalive(me);
			last_keepalive = now_real;
		}
		now_v = vnow(w);
		outage = now_v >= 0 && in_window(w->sc->consumer_outages,
						 w->sc->n_consumer_outages, now_v);
		rate = w->plan.replica_rate;
		if (w->sc->max_consume_rate > 0 && serving > 0) {
			double cap = w->sc->max_consume_rate * w->plan.time_scale / w->plan.msg_scale /
				     (double)serving;

			if (cap < rate)
				rate = cap;
		}
		if (!atomic_load(&me->subscribed) && !w->real) {
			ls_clock_sleep_ms(5);
			continue;
		}
		if (w->real && outage != paused) {
			/* A stopped consumer stays in the group: its fetchers
			 * pause, the poll goes on for the rebalances. */
			rd_kafka_topic_partition_list_t *a = NULL;

			if (rd_kafka_assignment(me->rk, &a) == 0 && a) {
				if (outage)
					rd_kafka_pause_partitions(me->rk, a);
				else
					rd_kafka_resume_partitions(me->rk, a);
				rd_kafka_topic_partition_list_destroy(a);
			}
			paused = outage;
		}
		if (outage || atomic_load(&me->owned) == 0) {
			/* Nothing to process; the rebalance callbacks still
			 * need the poll. A message that arrives anyway (a
			 * partition assigned during an outage) is read again
			 * later. */
			if (w->real && (m = rd_kafka_consumer_poll(me->rk, 5))) {
				if (!m->err && outage)
					unread(me, m);
				else if (!m->err)
					done++;
				rd_kafka_message_destroy(m);
			} else if (!w->real) {
				ls_clock_sleep_ms(2);
			}
			start = ls_clock_mono_ms();
			done = 0;
		} else if ((double)done >= (double)(now_real - start) * rate / 1000.0) {
			/* At capacity: this replica is busy. */
			ls_clock_sleep_ms(2);
		} else if ((m = rd_kafka_consumer_poll(me->rk, 5))) {
			if (!m->err)
				done++;
			rd_kafka_message_destroy(m);
		} else {
			/* Idle time is not saved up as budget for later. */
			start = ls_clock_mono_ms() - (int64_t)((double)done * 1000.0 / rate);
		}
		if (ls_clock_mono_ms() - last_commit >= w->commit_ms) {
			if (atomic_load(&me->owned) > 0)
				commit_now(me, 1);
			last_commit = ls_clock_mono_ms();
		}
	}
	if (atomic_load(&me->owned) > 0)
		rd_kafka_commit(me->rk, NULL, 0);
	/* Closing here, on the consumer's own thread, lets the pool leave the
	 * group in parallel. */
	rd_kafka_consumer_close(me->rk);
	return NULL;
}

static int produce_one(struct ls_workload *w, int32_t partition)
{
	static const char payload[] = "lagscale";
	rd_kafka_resp_err_t err;

	for (;;) {
		err = rd_kafka_producev(w->producer, RD_KAFKA_V_TOPIC(w->topic),
					RD_KAFKA_V_PARTITION(partition),
					RD_KAFKA_V_VALUE((void *)payload, sizeof(payload) - 1),
					RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(w->producer, 10);
	}
	if (err)
		return -EIO;
	atomic_fetch_add(&w->produced_real, 1);
	return 0;
}

/* The producer: the curve in real messages, spread by the weights; it also
 * brings replicas into service when their startup delay has passed. */
static void *producer_main(void *arg)
{
	struct ls_workload *w = arg;
	int32_t parts = w->sc->partitions;
	double *owed = calloc((size_t)parts, sizeof(*owed));
	int64_t last = ls_clock_mono_ms();

	if (!owed)
		return NULL;
	while (!atomic_load(&w->quit)) {
		int64_t real = ls_clock_mono_ms(), now_v = vnow(w);
		/* Before the start, the curve's first rate (the warm-up). */
		double rate = ls_scenario_produce_rate(w->sc, now_v < 0 ? 0 : now_v);
		/* Real time drives the amount, so the start may move (the
		 * warm-up) without a burst. */
		double n = rate * (double)(real - last) * w->plan.time_scale / 1000.0 /
			   w->plan.msg_scale;

		last = real;
		for (int32_t p = 0; p < parts; p++) {
			owed[p] += n * w->share[p];
			for (; owed[p] >= 1; owed[p] -= 1)
				produce_one(w, p);
		}
		rd_kafka_poll(w->producer, 0);
		pthread_mutex_lock(&w->mu);
		if (w->clock_started) {
			int32_t ready = ready_locked(w, now_v);

			if (ready > w->n_members)
				ready = w->n_members;
			if (ready != w->in_service)
				set_in_service_locked(w, ready);
		}
		pthread_mutex_unlock(&w->mu);
		ls_clock_sleep_ms(TICK_MS);
	}
	free(owed);
	return NULL;
}

static int make_shares(struct ls_workload *w)
{
	int32_t parts = w->sc->partitions;
	double sum = 0;

	w->share = calloc((size_t)parts, sizeof(*w->share));
	if (!w->share)
		return -ENOMEM;
	for (int32_t p = 0; p < parts; p++) {
		w->share[p] = w->sc->partition_weights ? w->sc->partition_weights[p] : 1.0;
		sum += w->share[p];
	}
	for (int32_t p = 0; p < parts; p++)
		w->share[p] = sum > 0 ? w->share[p] / sum : 1.0 / parts;
	return 0;
}

int ls_workload_new(const struct ls_scenario *sc, const struct ls_workload_plan *plan,
		    const char *bootstrap, const char *topic, const char *group,
		    struct ls_workload **ret, char *err, size_t errlen)
{
	struct ls_workload *w = NULL;
	rd_kafka_conf_t *conf = NULL;
	int32_t count;
	int r;

	if (!sc || !plan || !bootstrap || !topic || !group || !ret || plan->consumers < 1 ||
	    plan->time_scale <= 0 || plan->msg_scale <= 0 || plan->replica_rate <= 0 ||
	    sc->partitions < 1)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->sc = sc;
	w->plan = *plan;
	w->bootstrap = bootstrap;
	w->topic = topic;
	w->group = group;
	w->real = sc->assignor != LS_ASSIGNOR_COOPERATIVE_STICKY;
	w->commit_ms = (int64_t)((double)sc->commit_interval_ms / plan->time_scale);
	if (w->commit_ms < MIN_COMMIT_MS)
		w->commit_ms = MIN_COMMIT_MS;
	atomic_store(&w->start_real_ms, NOT_STARTED);
	count = sc->partitions;
	r = -ENOMEM;
	w->owner = malloc((size_t)count * sizeof(*w->owner));
	w->pos = malloc((size_t)count * sizeof(*w->pos));
	w->members = calloc((size_t)plan->consumers, sizeof(*w->members));
	if (!w->owner || !w->pos || !w->members || make_shares(w) < 0)
		goto fail;
	for (int32_t p = 0; p < count; p++) {
		w->owner[p] = -1;
		w->pos[p] = RD_KAFKA_OFFSET_STORED;
	}
	r = ls_partitions_new(&count, 1, sc->assignor, &w->model);
	if (r < 0)
		goto fail;
	r = -EIO;
	for (int32_t i = 0; i < plan->consumers; i++) {
		struct member *me = &w->members[i];

		me->w = w;
		me->index = i;
		me->rk = consumer_new(w, me, err, errlen);
		if (!me->rk)
			goto fail;
		w->n_members++;
	}
	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, errlen) ||
	    rd_kafka_conf_set(conf, "linger.ms", "5", err, errlen) ||
	    rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", err, errlen))
		goto fail;
	rd_kafka_conf_set_log_cb(conf, quiet_log);
	w->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
	if (!w->producer)
		goto fail;
	conf = NULL;
	*ret = w;
	return 0;
fail:
	if (conf)
		rd_kafka_conf_destroy(conf);
	ls_workload_free(w);
	return r;
}

/* Every partition held, by the consumers in service only. */
static bool settled(struct ls_workload *w, int32_t serving)
{
	int32_t held = 0, want = serving < w->sc->partitions ? serving : w->sc->partitions;
	int32_t owning = 0;

	for (int32_t i = 0; i < w->n_members; i++) {
		int owned = atomic_load(&w->members[i].owned);

		if (i >= serving && owned > 0)
			return false;
		held += owned;
		owning += owned > 0;
	}
	return serving == 0 ? held == 0 : held == w->sc->partitions && owning == want;
}

static long long behind(struct ls_workload *w)
{
	long long sum = 0;

	for (int32_t i = 0; i < w->n_members; i++)
		sum += atomic_load(&w->members[i].behind);
	return sum;
}

/*
 * Waits until the consumers in service hold every partition (and are at
 * most max_behind real messages behind, unless negative), continuously for
 * STABLE_MS: a group that sheds many members goes through several rounds
 * of rebalancing, and one settled moment is not the end of them.
 */
static int wait_until(struct ls_workload *w, int32_t serving, double max_behind, int timeout_ms)
{
	int64_t until = ls_clock_mono_ms() + timeout_ms, since = -1;

	while (ls_clock_mono_ms() < until) {
		ls_clock_sleep_ms(20);
		if (!settled(w, serving) || (max_behind >= 0 && (double)behind(w) > max_behind)) {
			since = -1;
			continue;
		}
		if (since < 0)
			since = ls_clock_mono_ms();
		if (ls_clock_mono_ms() - since >= STABLE_MS)
			return 0;
	}
	return -ETIMEDOUT;
}

int ls_workload_start(struct ls_workload *w, int timeout_ms)
{
	int32_t initial;
	double backlog, slack;
	int r = 0, r2;

	if (w->started)
		return -EALREADY;
	w->started = true;
	pthread_mutex_lock(&w->mu);
	set_in_service_locked(w, w->n_members);
	pthread_mutex_unlock(&w->mu);
	for (int32_t i = 0; i < w->n_members; i++) {
		if (pthread_create(&w->members[i].thread, NULL, member_main, &w->members[i]) != 0)
			return -EAGAIN;
		w->members[i].thread_started = true;
	}
	if (pthread_create(&w->producer_thread, NULL, producer_main, w) != 0)
		return -EAGAIN;
	w->producer_started = true;
	/* "Running smoothly": every consumer of the pool takes partitions
	 * once, so all are connected, until they keep up with the first
	 * rate (within about a virtual second of it). */
	slack = ls_scenario_produce_rate(w->sc, 0) / w->plan.msg_scale + w->sc->partitions;
	r = wait_until(w, w->n_members, slack, timeout_ms);
	initial = w->sc->initial_replicas < w->n_members ? w->sc->initial_replicas : w->n_members;
	pthread_mutex_lock(&w->mu);
	if (initial > w->alloc_replicas) {
		int64_t *p = realloc(w->ready_at, (size_t)initial * sizeof(*p));

		if (!p) {
			pthread_mutex_unlock(&w->mu);
			return -ENOMEM;
		}
		w->ready_at = p;
		w->alloc_replicas = initial;
	}
	for (int32_t i = 0; i < initial; i++)
		w->ready_at[i] = INT64_MIN;
	w->n_replicas = w->sc->initial_replicas;
	set_in_service_locked(w, initial);
	pthread_mutex_unlock(&w->mu);
	r2 = wait_until(w, initial, -1, timeout_ms);
	if (r == 0)
		r = r2;
	backlog = (double)w->sc->initial_lag / w->plan.msg_scale;
	for (int32_t p = 0; p < w->sc->partitions && backlog > 0; p++) {
		long long n = llround(backlog * w->share[p]);

		for (long long k = 0; k < n; k++)
			produce_one(w, p);
	}
	if (backlog > 0)
		rd_kafka_flush(w->producer, 10000);
	pthread_mutex_lock(&w->mu);
	w->clock_started = true;
	atomic_store(&w->start_real_ms, ls_clock_mono_ms());
	pthread_mutex_unlock(&w->mu);
	return r;
}

int64_t ls_workload_now(const struct ls_workload *w)
{
	return vnow(w);
}

int ls_workload_set_replicas(struct ls_workload *w, int32_t n, int64_t now_ms)
{
	if (n < 0)
		return -EINVAL;
	pthread_mutex_lock(&w->mu);
	if (n > w->alloc_replicas) {
		int64_t *p = realloc(w->ready_at, (size_t)n * sizeof(*p));

		if (!p) {
			pthread_mutex_unlock(&w->mu);
			return -ENOMEM;
		}
		w->ready_at = p;
		w->alloc_replicas = n;
	}
	for (int32_t i = w->n_replicas; i < n; i++)
		w->ready_at[i] = now_ms + w->sc->startup_delay_ms;
	w->n_replicas = n;
	pthread_mutex_unlock(&w->mu);
	return 0;
}

int32_t ls_workload_replicas(const struct ls_workload *w)
{
	int32_t n;

	pthread_mutex_lock((pthread_mutex_t *)&w->mu);
	n = w->n_replicas;
	pthread_mutex_unlock((pthread_mutex_t *)&w->mu);
	return n;
}

int32_t ls_workload_ready(const struct ls_workload *w)
{
	int32_t n;

	pthread_mutex_lock((pthread_mutex_t *)&w->mu);
	n = w->in_service;
	pthread_mutex_unlock((pthread_mutex_t *)&w->mu);
	return n;
}

double ls_workload_produced(const struct ls_workload *w)
{
	return (double)atomic_load(&w->produced_real) * w->plan.msg_scale;
}

void ls_workload_stats(const struct ls_workload *w, struct ls_workload_stats *ret)
{
	struct ls_workload_stats st = {0};

	pthread_mutex_lock((pthread_mutex_t *)&w->mu);
	st.in_service = w->in_service;
	pthread_mutex_unlock((pthread_mutex_t *)&w->mu);
	for (int32_t i = 0; i < w->n_members; i++) {
		int owned = atomic_load(&w->members[i].owned);

		st.members += atomic_load(&w->members[i].subscribed) != 0;
		st.owning += owned > 0;
		st.partitions_held += owned;
		if (owned > st.max_held)
			st.max_held = owned;
	}
	st.rebalances = atomic_load(&w->rebalances);
	*ret = st;
}

bool ls_workload_real_membership(const struct ls_workload *w)
{
	return w->real;
}

void ls_workload_to_virtual(const struct ls_workload *w, struct ls_lag_snapshot *s,
			    int64_t now_ms)
{
	double k = w->plan.msg_scale;

	s->time_ms = now_ms;
	if (s->err)
		return;
	for (size_t t = 0; t < s->n_topics; t++) {
		for (size_t i = 0; i < s->topics[t].n_parts; i++) {
			struct ls_partition_offsets *p = &s->topics[t].parts[i];

			if (p->committed >= 0)
				p->committed = (int64_t)((double)p->committed * k);
			if (p->end >= 0)
				p->end = (int64_t)((double)p->end * k);
			if (p->log_start >= 0)
				p->log_start = (int64_t)((double)p->log_start * k);
		}
	}
}

int ls_workload_describe_group(const struct ls_workload *w, struct ls_group_info *ret)
{
	struct ls_group_info g = {0};

	ls_group_info_release(ret);
	g.known = true;
	snprintf(g.state, sizeof(g.state), "Stable");
	snprintf(g.assignor, sizeof(g.assignor), "%s",
		 ls_partitions_assignor_name(w->sc->assignor));
	g.members = calloc((size_t)w->n_members, sizeof(*g.members));
	if (!g.members)
		return -ENOMEM;
	pthread_mutex_lock((pthread_mutex_t *)&w->mu);
	for (int32_t i = 0; i < w->n_members; i++) {
		const struct member *me = &w->members[i];
		struct ls_group_member *gm = &g.members[g.n_members];
		char client_id[64];

		if (!atomic_load(&me->subscribed))
			continue;
		snprintf(client_id, sizeof(client_id), "lagscale-workload-%d", (int)i);
		gm->member_id = strdup(me->member_id);
		gm->client_id = strdup(client_id);
		gm->host = strdup("/127.0.0.1");
		g.n_members++;
		if (!gm->member_id || !gm->client_id || !gm->host) {
			pthread_mutex_unlock((pthread_mutex_t *)&w->mu);
			ls_group_info_release(&g);
			return -ENOMEM;
		}
	}
	pthread_mutex_unlock((pthread_mutex_t *)&w->mu);
	if (g.n_members == 0)
		g.assignor[0] = '\0';
	*ret = g;
	return 0;
}

void ls_workload_free(struct ls_workload *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	atomic_store(&w->quit, 1);
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (w->producer_started)
		pthread_join(w->producer_thread, NULL);
	for (int32_t i = 0; i < w->n_members; i++) {
		if (w->members[i].thread_started)
			pthread_join(w->members[i].thread, NULL);
		else if (w->members[i].rk)
			rd_kafka_consumer_close(w->members[i].rk);
		if (w->members[i].rk)
			rd_kafka_destroy(w->members[i].rk);
	}
	if (w->producer) {
		rd_kafka_flush(w->producer, 2000);
		rd_kafka_destroy(w->producer);
	}
	ls_partitions_free(w->model);
	free(w->members);
	free(w->owner);
	free(w->pos);
	free(w->share);
	free(w->ready_at);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}
