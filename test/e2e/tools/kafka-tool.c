/*
 * kafka-tool.c - the Kafka client side of the end-to-end tests, on the same
 * librdkafka as lagscale: produce (plain or transactional), commit offsets
 * for a group, and hold a group membership open.
 *
 *   kafka-tool produce -b B -t TOPIC [-p PART] -n COUNT
 *                      [--transactional-id ID [--abort | --open]]
 *   kafka-tool commit  -b B -g GROUP TOPIC:PART:OFFSET...
 *   kafka-tool member  -b B -g GROUP -t TOPIC [-n CONSUME]
 *   kafka-tool consume -b B -g GROUP -t TOPIC --rate MSGS_PER_S
 *   kafka-tool curve   -b B -t TOPIC --scenario FILE
 *
 * Every command takes -X key=value for librdkafka properties. `member`
 * consumes CONSUME messages, commits, pauses, prints "ready" and stays in
 * the group until SIGTERM or SIGINT. `consume` processes at a fixed rate and
 * commits once a second, until SIGTERM (a replica in the closed-loop test).
 * `curve` produces following a scenario file's produce curve (the format of
 * `lagscale simulate`), in real time, until the scenario's duration, and
 * prints "SECONDS PRODUCED" once a second (the cumulative count, for the
 * age of the oldest unconsumed message).
 */
#include <errno.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/scenario.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, "kafka-tool: %s: %s\n", what, why);
	exit(1);
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
	char err[512];

	if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK)
		die(k, err);
}

struct opts {
	const char *bootstrap, *topic, *group, *txid, *scenario;
	int partition;
	long long count;
	double rate;
	int abort_tx, open_tx;
	char *props[64][2];
	int n_props;
};

static rd_kafka_conf_t *conf_from(const struct opts *o)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	set(conf, "bootstrap.servers", o->bootstrap);
	for (int i = 0; i < o->n_props; i++)
		set(conf, o->props[i][0], o->props[i][1]);
	return conf;
}

static int cmd_produce(const struct opts *o)
{
	rd_kafka_conf_t *conf = conf_from(o);
	rd_kafka_error_t *e;
	rd_kafka_t *rk;
	char err[512];

	if (o->txid)
		set(conf, "transactional.id", o->txid);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk)
		die("producer", err);
	if (o->txid) {
		if ((e = rd_kafka_init_transactions(rk, 30000)))
			die("init_transactions", rd_kafka_error_string(e));
		if ((e = rd_kafka_begin_transaction(rk)))
			die("begin_transaction", rd_kafka_error_string(e));
	}
	for (long long i = 0; i < o->count; i++) {
		char payload[32];
		rd_kafka_resp_err_t r;

		snprintf(payload, sizeof(payload), "m%lld", i);
		do {
			r = rd_kafka_producev(
				rk, RD_KAFKA_V_TOPIC(o->topic),
				RD_KAFKA_V_PARTITION(o->partition >= 0 ? o->partition
								       : RD_KAFKA_PARTITION_UA),
				RD_KAFKA_V_VALUE(payload, strlen(payload)),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
			if (r == RD_KAFKA_RESP_ERR__QUEUE_FULL)
				rd_kafka_poll(rk, 10);
		} while (r == RD_KAFKA_RESP_ERR__QUEUE_FULL);
		if (r)
			die("produce", rd_kafka_err2str(r));
	}
	if (o->txid && !o->open_tx) {
		e = o->abort_tx ? rd_kafka_abort_transaction(rk, 30000)
				: rd_kafka_commit_transaction(rk, 30000);
		if (e)
			die("end transaction", rd_kafka_error_string(e));
	}
	if (rd_kafka_flush(rk, 30000))
		die("flush", "timed out");
	if (o->txid && o->open_tx) {
		/* Leave the transaction open: the LSO stays behind it. */
		printf("open\n");
		fflush(stdout);
		while (!stop)
			rd_kafka_poll(rk, 200);
		/* Leaving aborts nothing: the broker times the transaction out. */
		rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
		return 0;
	}
	rd_kafka_destroy(rk);
	return 0;
}

static int cmd_commit(const struct opts *o, int argc, char **argv)
{
	rd_kafka_conf_t *conf = conf_from(o);
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(argc);
	rd_kafka_resp_err_t r;
	rd_kafka_t *rk;
	char err[512];

	set(conf, "group.id", o->group);
	set(conf, "enable.auto.commit", "false");
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!rk)
		die("consumer", err);
	for (int i = 0; i < argc; i++) {
		char topic[256];
		int part;
		long long off;

		if (sscanf(argv[i], "%255[^:]:%d:%lld", topic, &part, &off) != 3)
			die(argv[i], "expected TOPIC:PARTITION:OFFSET");
		rd_kafka_topic_partition_list_add(l, topic, part)->offset = off;
	}
	r = rd_kafka_commit(rk, l, 0);
	if (r)
		die("commit", rd_kafka_err2str(r));
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	return 0;
}

/* Subscribes and returns once the group has given this member partitions. */
static rd_kafka_t *subscribe(const struct opts *o, const char *commit_mode)
{
	rd_kafka_conf_t *conf = conf_from(o);
	rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
	rd_kafka_t *rk;
	char err[512];

	set(conf, "group.id", o->group);
	set(conf, "enable.auto.commit", commit_mode);
	set(conf, "auto.offset.reset", "earliest");
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!rk)
		die("consumer", err);
	rd_kafka_poll_set_consumer(rk);
	rd_kafka_topic_partition_list_add(t, o->topic, RD_KAFKA_PARTITION_UA);
	if (rd_kafka_subscribe(rk, t))
		die("subscribe", o->topic);
	rd_kafka_topic_partition_list_destroy(t);
	return rk;
}

static int cmd_member(const struct opts *o)
{
	rd_kafka_t *rk = subscribe(o, "false");
	rd_kafka_topic_partition_list_t *a = NULL;
	long long got = 0;

	/* Wait for an assignment, then consume what was asked. */
	while (!stop) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);

		if (m) {
			if (!m->err)
				got++;
			rd_kafka_message_destroy(m);
		}
		if (!a) {
			rd_kafka_assignment(rk, &a);
			if (a && a->cnt == 0) {
				rd_kafka_topic_partition_list_destroy(a);
				a = NULL;
			}
		}
		if (a && got >= o->count)
			break;
	}
	if (o->count > 0)
		rd_kafka_commit(rk, NULL, 0);
	if (a) {
		rd_kafka_pause_partitions(rk, a);
		rd_kafka_topic_partition_list_destroy(a);
	}
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);

		if (m)
			rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return 0;
}

static int cmd_consume(const struct opts *o)
{
	rd_kafka_t *rk = subscribe(o, "false");
	long long start = now_ms(), done = 0, last_commit = now_ms();

	while (!stop) {
		long long allowed = (long long)((double)(now_ms() - start) * o->rate / 1000.0);
		rd_kafka_message_t *m;

		/* A replica does not save up idle time (a rebalance, an empty
		 * topic) beyond a second's worth of work. */
		if (allowed - done > (long long)o->rate) {
			start = now_ms() - (long long)((double)(done + (long long)o->rate) * 1000.0 /
						      o->rate);
			allowed = done + (long long)o->rate;
		}

		if (done >= allowed) {
			/* At capacity. Heartbeats run in librdkafka's threads;
			 * the poll below comes well within max.poll.interval.ms. */
			usleep(2000);
		} else if ((m = rd_kafka_consumer_poll(rk, 100))) {
			if (!m->err)
				done++;
			rd_kafka_message_destroy(m);
		}
		if (now_ms() - last_commit >= 1000) {
			rd_kafka_commit(rk, NULL, 1);
			last_commit = now_ms();
		}
	}
	rd_kafka_commit(rk, NULL, 0);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return 0;
}

static int cmd_curve(const struct opts *o)
{
	rd_kafka_conf_t *conf = conf_from(o);
	struct ls_scenario *sc = NULL;
	struct ls_diag diag;
	long long start, last_print = 0, produced = 0;
	double owed = 0;
	rd_kafka_t *rk;
	char err[512];

	ls_diag_init(&diag);
	if (!o->scenario || ls_scenario_load(o->scenario, &sc, &diag) < 0)
		die("--scenario", diag.n ? diag.msgs[0] : "required");
	set(conf, "linger.ms", "5");
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk)
		die("producer", err);
	start = now_ms();
	for (long long last = start; !stop;) {
		long long t = now_ms() - start;
		double rate = ls_scenario_produce_rate(sc, t);

		if (t >= sc->duration_ms)
			break;
		owed += rate * (double)(now_ms() - last) / 1000.0;
		last = now_ms();
		for (; owed >= 1; owed -= 1) {
			if (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(o->topic),
					      RD_KAFKA_V_VALUE("curve", 5),
					      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					      RD_KAFKA_V_END) == 0)
				produced++;
		}
		rd_kafka_poll(rk, 0);
		if (t - last_print >= 1000) {
			printf("%.3f %lld\n", (double)t / 1000.0, produced);
			fflush(stdout);
			last_print = t;
		}
		usleep(5000);
	}
	rd_kafka_flush(rk, 30000);
	rd_kafka_destroy(rk);
	ls_scenario_free(sc);
	ls_diag_release(&diag);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"transactional-id", required_argument, NULL, 'x'},
		{"abort", no_argument, NULL, 'A'},
		{"open", no_argument, NULL, 'O'},
		{"rate", required_argument, NULL, 'r'},
		{"scenario", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	struct opts o = {.partition = -1, .count = 0};
	const char *cmd;
	int c;

	if (argc < 2)
		die("usage", "kafka-tool produce|commit|member|consume|curve ...");
	cmd = argv[1];
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	optind = 2;
	while ((c = getopt_long(argc, argv, "b:t:p:n:g:X:", lo, NULL)) != -1) {
		switch (c) {
		case 'b':
			o.bootstrap = optarg;
			break;
		case 't':
			o.topic = optarg;
			break;
		case 'p':
			o.partition = (int)strtol(optarg, NULL, 10);
			break;
		case 'n':
			o.count = strtoll(optarg, NULL, 10);
			break;
		case 'g':
			o.group = optarg;
			break;
		case 'x':
			o.txid = optarg;
			break;
		case 'A':
			o.abort_tx = 1;
			break;
		case 'O':
			o.open_tx = 1;
			break;
		case 'r':
			o.rate = strtod(optarg, NULL);
			break;
		case 's':
			o.scenario = optarg;
			break;
		case 'X': {
			char *eq = strchr(optarg, '=');

			if (!eq || o.n_props == 64)
				die("-X", "expected key=value");
			*eq = '\0';
			o.props[o.n_props][0] = optarg;
			o.props[o.n_props][1] = eq + 1;
			o.n_props++;
			break;
		}
		default:
			die("usage", "unknown option");
		}
	}
	if (!o.bootstrap)
		die("usage", "-b BOOTSTRAP is required");
	if (strcmp(cmd, "produce") == 0)
		return cmd_produce(&o);
	if (strcmp(cmd, "commit") == 0)
		return cmd_commit(&o, argc - optind, argv + optind);
	if (strcmp(cmd, "member") == 0)
		return cmd_member(&o);
	if (strcmp(cmd, "consume") == 0)
		return cmd_consume(&o);
	if (strcmp(cmd, "curve") == 0)
		return cmd_curve(&o);
	die("usage", cmd);
	return 2;
}
