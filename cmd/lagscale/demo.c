/*
 * demo.c - `lagscale demo [--speed N] [--svg F] [--csv F]`: the Friday 3 PM
 * spike, told in about a minute on librdkafka's embedded mock cluster.
 *
 * Everything is real but the broker: a producer thread follows the
 * perfect-storm produce curve, real consumers (librdkafka handles with
 * their partitions assigned, committing as they go) process at a fixed
 * rate each, and lagscale's own collector and policy engine decide how many
 * of them run. Time is compressed: one real second is TIME_SCALE virtual
 * seconds (times --speed), and one real message stands for MSG_SCALE
 * virtual ones, so the broker carries a few thousand messages a second
 * while the story is told in the scenario's units.
 */
#include <errno.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "cmdutil.h"
#include "config/scenario.h"
#include "kafka/kafka.h"
#include "kafka/mock.h"
#include "policy/policy.h"
#include "sim/age.h"
#include "sim/chart.h"
#include "sim/series.h"
#include "sim/summary.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/parse.h"

#define TIME_SCALE 90.0	 /* virtual seconds per real second at --speed 1 */
#define MSG_SCALE  150.0 /* virtual messages per real message at --speed 1 */
#define TOPIC	   "orders"
#define GROUP	   "order-processor"
#define TICK_MS	   10
#define COMMIT_MS  10
#define WARMUP_MAX_MS 15000

/* The perfect-storm curve (test/scenarios/perfect-storm.yaml) on a topic a
 * laptop's in-process consumers can serve: 24 partitions, 500 msgs/s per
 * replica, so the base load needs 2 replicas and the spike 20. */
static const char demo_scenario[] =
	"name: perfect-storm (demo)\n"
	"duration: 90m\n"
	"partitions: 24\n"
	"initialReplicas: 2\n"
	"perReplicaRate: 500\n"
	"startupDelay: 30s\n"
	"produce:\n"
	"  - {at: 0s, rate: 1000}\n"
	"  - {at: 15m, rate: 1000}\n"
	"  - {at: 16m, rate: 10000}\n"
	"  - {at: 45m, rate: 10000}\n"
	"  - {at: 46m, rate: 1000}\n"
	"scaler:\n"
	"  policy:\n"
	"    mode: rate\n"
	"    lagThreshold: 5000\n"
	"    minReplicas: 2\n"
	"    maxReplicas: 24\n"
	"    pollingInterval: 15s\n"
	"    targetDrainTime: 2m\n"
	"    perReplicaRate: auto\n";

static const char *const demo_topics[] = {TOPIC};
static const struct ls_kafka_query demo_query = {
	.group = GROUP,
	.topics = demo_topics,
	.n_topics = 1,
};

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* The shared clock: virtual ms since the start. */
struct demo_clock {
	atomic_llong start_real_ms; /* set by the main thread when the story starts */
	double scale; /* virtual per real */
};

static int64_t vnow(const struct demo_clock *c)
{
	return (int64_t)((double)(ls_clock_mono_ms() - atomic_load(&c->start_real_ms)) * c->scale);
}

/*
 * The consumer replicas: a pool of maxReplicas librdkafka consumers made
 * (and connected) before the story starts, of which the first `ready` hold
 * partitions. When the number of ready replicas changes, every member
 * commits and hands its partitions back with their positions, then the
 * partitions are dealt again (replica i of n owns i, i + n, ...), starting
 * exactly where the previous owner stopped: a cooperative rebalance that
 * costs a commit, not seconds.
 */
struct fleet {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const char *bootstrap;
	int partitions, pool;
	double rate;	 /* real msgs/s per replica */
	int generation;	 /* bumped to ask every member to hand its partitions back */
	int ready;	 /* members that hold partitions after the hand-over */
	int released;	 /* members done handing back in this generation */
	int quit;
	int64_t *pos;	 /* next offset per partition, kept across hand-overs */
	pthread_t *threads;
	int started;
	atomic_int failed;
};

struct member {
	struct fleet *f;
	int index;
};

static void hand_back(struct fleet *f, rd_kafka_t *rk)
{
	rd_kafka_topic_partition_list_t *a = NULL;

	if (rd_kafka_assignment(rk, &a) == 0 && a) {
		if (a->cnt > 0) {
			rd_kafka_position(rk, a);
			rd_kafka_commit(rk, NULL, 0);
			pthread_mutex_lock(&f->mu);
			for (int i = 0; i < a->cnt; i++)
				if (a->elems[i].offset >= 0)
					f->pos[a->elems[i].partition] = a->elems[i].offset;
			pthread_mutex_unlock(&f->mu);
		}
		rd_kafka_topic_partition_list_destroy(a);
	}
	rd_kafka_assign(rk, NULL);
}

static void *member_main(void *arg)
{
	struct member *me = arg;
	struct fleet *f = me->f;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	int64_t start = 0, last_commit = 0;
	long long done = 0;
	int gen = 0, owns = 0; /* generation 0: the pool before the first deal */
	rd_kafka_t *rk;
	char err[256];

	rd_kafka_conf_set(conf, "bootstrap.servers", f->bootstrap, err, sizeof(err));
	rd_kafka_conf_set(conf, "group.id", GROUP, err, sizeof(err));
	rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
	rd_kafka_conf_set(conf, "fetch.wait.max.ms", "5", err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		atomic_store(&f->failed, 1);
		return NULL;
	}
	rd_kafka_poll_set_consumer(rk);
	for (;;) {
		rd_kafka_message_t *m;

		pthread_mutex_lock(&f->mu);
		if (f->quit) {
			pthread_mutex_unlock(&f->mu);
			break;
		}
		if (f->generation != gen) {
			int target = f->generation;

			pthread_mutex_unlock(&f->mu);
			if (owns)
				hand_back(f, rk);
			owns = 0;
			pthread_mutex_lock(&f->mu);
			if (f->generation != target) {
				/* Asked again meanwhile: count for the newer round. */
				pthread_mutex_unlock(&f->mu);
				continue;
			}
			f->released++;
			pthread_cond_broadcast(&f->cv);
			/* Wait until everyone has handed back: only then are
			 * all positions known. */
			while (f->released < f->pool && f->generation == target && !f->quit)
				pthread_cond_wait(&f->cv, &f->mu);
			if (f->generation != target || f->quit) {
				pthread_mutex_unlock(&f->mu);
				continue;
			}
			gen = target;
			owns = me->index < f->ready;
			if (owns) {
				rd_kafka_topic_partition_list_t *l =
					rd_kafka_topic_partition_list_new(f->partitions);

				for (int p = me->index; p < f->partitions; p += f->ready)
					rd_kafka_topic_partition_list_add(l, TOPIC, p)->offset =
						f->pos[p];
				rd_kafka_assign(rk, l);
				rd_kafka_topic_partition_list_destroy(l);
			}
			pthread_mutex_unlock(&f->mu);
			start = last_commit = ls_clock_mono_ms();
			done = 0;
			continue;
		}
		pthread_mutex_unlock(&f->mu);
		if (!owns) {
			ls_clock_sleep_ms(5);
			continue;
		}
		if ((double)done >= (double)(ls_clock_mono_ms() - start) * f->rate / 1000.0) {
			/* At capacity: this replica is busy. */
			ls_clock_sleep_ms(2);
		} else if ((m = rd_kafka_consumer_poll(rk, 5))) {
			if (!m->err)
				done++;
			rd_kafka_message_destroy(m);
		} else {
			/* Idle time is not saved up as budget for later. */
			start = ls_clock_mono_ms() - (int64_t)((double)done * 1000.0 / f->rate);
		}
		if (ls_clock_mono_ms() - last_commit >= COMMIT_MS) {
			rd_kafka_commit(rk, NULL, 1);
			last_commit = ls_clock_mono_ms();
		}
	}
	if (owns)
		rd_kafka_commit(rk, NULL, 0);
	rd_kafka_destroy(rk);
	free(me);
	return NULL;
}

/* Starts the pool; all members begin with no partitions. */
static int fleet_start(struct fleet *f, int pool)
{
	f->pos = calloc((size_t)f->partitions, sizeof(*f->pos));
	f->threads = calloc((size_t)pool, sizeof(*f->threads));
	if (!f->pos || !f->threads)
		return -ENOMEM;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->pool = pool;
	f->generation = 0;
	f->ready = 0;
	f->released = 0;
	for (int i = 0; i < pool; i++) {
		struct member *me = malloc(sizeof(*me));

		if (!me)
			return -ENOMEM;
		me->f = f;
		me->index = i;
		if (pthread_create(&f->threads[i], NULL, member_main, me) != 0) {
			free(me);
			return -EAGAIN;
		}
		f->started++;
	}
	return 0;
}

/* Deals the partitions to the first `ready` members. */
static void fleet_resize(struct fleet *f, int ready)
{
	pthread_mutex_lock(&f->mu);
	f->ready = ready < f->pool ? ready : f->pool;
	f->released = 0;
	f->generation++;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static void fleet_stop(struct fleet *f)
{
	if (!f->started)
		return;
	pthread_mutex_lock(&f->mu);
	f->quit = 1;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	for (int i = 0; i < f->started; i++)
		pthread_join(f->threads[i], NULL);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f->threads);
	free(f->pos);
	f->started = 0;
}

/* The producer: follows the curve in real messages. */
struct producer {
	pthread_t thread;
	struct ls_kafka_mock *mock;
	const struct ls_scenario *sc;
	const struct demo_clock *clock;
	double msg_scale;
	int64_t end_v;
	atomic_int stop;
	atomic_llong produced; /* real messages */
};

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	int64_t last = ls_clock_mono_ms();
	double owed = 0;
	int next_part = 0;

	while (!atomic_load(&p->stop)) {
		int64_t real = ls_clock_mono_ms();
		double rate = ls_scenario_produce_rate(p->sc, vnow(p->clock));
		long long n;

		/* Real time drives the amount, so the clock's start may move
		 * (the warm-up) without a burst. */
		owed += rate * (double)(real - last) * p->clock->scale / 1000.0 / p->msg_scale;
		last = real;
		n = (long long)owed;
		owed -= (double)n;
		/* Round-robin, as a keyless producer spreads messages. */
		for (; n > 0; n--) {
			ls_kafka_mock_produce(p->mock, TOPIC, next_part, 1, 0);
			next_part = (next_part + 1) % p->sc->partitions;
			atomic_fetch_add(&p->produced, 1);
		}
		ls_clock_sleep_ms(TICK_MS);
	}
	return NULL;
}

/* Replicas lagscale has set, each ready from its start time. */
struct replicas {
	int64_t *ready_at;
	int n;
	int alloc;
};

static int replicas_set(struct replicas *r, int n, int64_t ready_at)
{
	if (n > r->alloc) {
		int64_t *p = realloc(r->ready_at, (size_t)n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		r->ready_at = p;
		r->alloc = n;
	}
	/* New replicas start after the startup delay; removing drops the
	 * newest first, as a ReplicaSet removes pods not yet ready first. */
	for (int i = r->n; i < n; i++)
		r->ready_at[i] = ready_at;
	r->n = n;
	return 0;
}

static int replicas_ready(const struct replicas *r, int64_t now)
{
	int k = 0;

	for (int i = 0; i < r->n; i++)
		if (r->ready_at[i] <= now)
			k++;
	return k;
}

/* Scales a real read into the scenario's units and virtual time. */
static void to_virtual(struct ls_lag_snapshot *s, int64_t now_v, double msg_scale)
{
	s->time_ms = now_v;
	for (size_t t = 0; t < s->n_topics; t++) {
		for (size_t i = 0; i < s->topics[t].n_parts; i++) {
			struct ls_partition_offsets *p = &s->topics[t].parts[i];

			if (p->committed >= 0)
				p->committed = (int64_t)((double)p->committed * msg_scale);
			if (p->end >= 0)
				p->end = (int64_t)((double)p->end * msg_scale);
			if (p->log_start >= 0)
				p->log_start = (int64_t)((double)p->log_start * msg_scale);
		}
	}
}

/* Messages consumed since the start: every partition started at 0. */
static double committed_total(const struct ls_lag_snapshot *s)
{
	double sum = 0;

	for (size_t t = 0; t < s->n_topics; t++)
		for (size_t i = 0; i < s->topics[t].n_parts; i++)
			if (s->topics[t].parts[i].committed > 0)
				sum += (double)s->topics[t].parts[i].committed;
	return sum;
}

static const char *clock_label(int64_t v_ms, char *out, size_t size)
{
	/* The story starts at 14:45 on a Friday; the spike comes at 15:00. */
	int64_t min = 14 * 60 + 45 + v_ms / 60000;

	snprintf(out, size, "%02lld:%02lld", (long long)(min / 60) % 24, (long long)(min % 60));
	return out;
}

static void print_row(int64_t v_ms, double produce, const struct ls_decision *d, double age,
		      int ready)
{
	char t[16];

	printf("%s  %9.0f  %9lld  %6.0fs  %4d %s %-4d %5d  %-10s  %s\n", clock_label(v_ms, t, sizeof(t)),
	       produce, (long long)d->total_lag, age, d->current_replicas,
	       d->desired_replicas == d->current_replicas ? " " : ">", d->desired_replicas, ready,
	       ls_policy_action_name(d->action), d->reason);
	fflush(stdout);
}

static const struct option long_opts[] = {
	{"speed", required_argument, NULL, 's'},
	{"svg", required_argument, NULL, 'g'},
	{"csv", required_argument, NULL, 'c'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static const char usage_text[] = "usage: lagscale demo [--speed N] [--svg F] [--csv F]\n";

int ls_cmd_demo(int argc, char **argv)
{
	const char *svg = "lagscale-demo.svg", *csv = NULL;
	double speed = 1.0;
	struct ls_scenario *sc = NULL;
	struct ls_kafka_mock *mock = NULL;
	struct ls_kafka *kafka = NULL;
	struct ls_policy_state *st = NULL;
	struct ls_lag_snapshot prev = {0};
	struct ls_series series;
	struct ls_age_tracker age;
	struct replicas reps = {0};
	struct fleet fleet = {.started = 0};
	struct producer prod = {0};
	struct demo_clock clk;
	struct ls_diag diag;
	struct sigaction sa;
	bool producer_started = false;
	int64_t next_decision = 0, next_row = 0;
	int rc = LS_EXIT_USAGE, c;
	char err[256];

	ls_series_init(&series);
	ls_age_tracker_init(&age);
	ls_diag_init(&diag);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (ls_parse_double(optarg, &speed) < 0 || speed < 0.1 || speed > 20) {
				fprintf(stderr,
					"lagscale demo: --speed: \"%s\" is not a number from 0.1 "
					"to 20\n",
					optarg);
				goto out;
			}
			break;
		case 'g':
			svg = optarg;
			break;
		case 'c':
			csv = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			rc = LS_EXIT_OK;
			goto out;
		default:
			ls_cmdutil_bad_option("demo", argv, c);
			fputs(usage_text, stderr);
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "lagscale demo: unexpected argument \"%s\"\n", argv[optind]);
		goto out;
	}
	rc = LS_EXIT_FAILURE;
	if (ls_scenario_load_string("demo", demo_scenario, sizeof(demo_scenario) - 1, &sc, &diag) <
	    0) {
		ls_cmdutil_print_diag(&diag, "demo", -EINVAL);
		goto out;
	}
	st = ls_policy_state_new();
	if (!st || ls_kafka_mock_new(3, &mock) < 0 ||
	    ls_kafka_mock_topic_create(mock, TOPIC, sc->partitions) < 0 ||
	    ls_kafka_new("demo", ls_kafka_mock_bootstraps(mock), NULL, 0, &kafka, err,
			 sizeof(err)) < 0) {
		fprintf(stderr, "lagscale demo: cannot start the mock Kafka cluster\n");
		goto out;
	}
	/* Create the producer now, so the producer thread alone uses it. */
	ls_kafka_mock_produce(mock, TOPIC, 0, 0, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	clk.scale = TIME_SCALE * speed;
	fleet.bootstrap = ls_kafka_mock_bootstraps(mock);
	fleet.partitions = sc->partitions;
	/* Real msgs/s per consumer: virtual rate x time scale / message scale. */
	fleet.rate = sc->per_replica_rate * clk.scale / (MSG_SCALE * speed);
	prod.mock = mock;
	prod.sc = sc;
	prod.clock = &clk;
	prod.msg_scale = MSG_SCALE * speed;

	printf("lagscale demo: %s on a mock Kafka cluster (%s), topic \"%s\" with %d "
	       "partitions,\n",
	       sc->name, ls_kafka_mock_bootstraps(mock), TOPIC, sc->partitions);
	printf("one replica processes %.0f msgs/s and starts in %llds; lagscale polls every "
	       "%llds in %s mode.\n",
	       sc->per_replica_rate, (long long)(sc->startup_delay_ms / 1000),
	       (long long)(sc->policy.polling_interval_ms / 1000),
	       sc->policy.mode == LS_MODE_RATE ? "rate" : "lag");
	printf("%.0f minutes of Friday afternoon in %.0f seconds; rates and lag in the story's "
	       "units.\n\n",
	       (double)sc->duration_ms / 60000.0, (double)sc->duration_ms / 1000.0 / clk.scale);
	printf("time   produce/s        lag      age  replicas  ready  action      reason\n");

	replicas_set(&reps, sc->initial_replicas, 0);
	if (fleet_start(&fleet, sc->policy.max_replicas) < 0)
		goto out;
	/* "Your system is running smoothly": the producer runs at the base
	 * rate and every consumer of the pool takes partitions once, so all
	 * are connected, until they keep up; then the story's clock starts
	 * with the initial replicas. */
	atomic_store(&clk.start_real_ms, ls_clock_mono_ms() + WARMUP_MAX_MS);
	fleet_resize(&fleet, fleet.pool);
	if (pthread_create(&prod.thread, NULL, producer_main, &prod) != 0)
		goto out;
	producer_started = true;
	for (int64_t until = ls_clock_mono_ms() + WARMUP_MAX_MS;
	     ls_clock_mono_ms() < until && !interrupted;) {
		struct ls_lag_snapshot s;
		int64_t lag;

		ls_clock_sleep_ms(200);
		ls_kafka_collect(kafka, &demo_query, 1, 2000, &s);
		lag = s.err ? -1 : s.total_lag;
		ls_lag_snapshot_release(&s);
		/* Within about a second of production: caught up. */
		if (lag >= 0 && (double)lag * prod.msg_scale <= ls_scenario_produce_rate(sc, 0))
			break;
	}
	fleet_resize(&fleet, sc->initial_replicas);
	atomic_store(&clk.start_real_ms, ls_clock_mono_ms());

	while (!interrupted) {
		int64_t now = vnow(&clk);
		int ready = replicas_ready(&reps, now);
		long long produced = atomic_load(&prod.produced);

		if (now >= sc->duration_ms)
			break;
		ls_age_tracker_add(&age, now, (double)produced * prod.msg_scale);
		if (ready != fleet.ready)
			fleet_resize(&fleet, ready);
		if (now >= next_decision) {
			struct ls_lag_snapshot snap;
			struct ls_policy_input in;
			struct ls_decision d;
			struct ls_series_point pt;

			ls_kafka_collect(kafka, &demo_query, 1, 2000, &snap);
			if (!snap.err) {
				to_virtual(&snap, now, prod.msg_scale);
				ls_lag_snapshot_compute(&snap, sc->policy.offset_reset);
				ls_lag_snapshot_rates(prev.time_ms ? &prev : NULL, &snap);
			}
			in = (struct ls_policy_input){.now_ms = now, .snap = &snap,
						      .current_replicas = reps.n,
						      .paused_replicas = -1};
			if (ls_policy_decide(st, &sc->policy, &in, &d) < 0) {
				ls_lag_snapshot_release(&snap);
				goto out;
			}
			if (d.desired_replicas != reps.n) {
				ls_policy_applied(st, now, reps.n, d.desired_replicas);
				replicas_set(&reps, d.desired_replicas, now + sc->startup_delay_ms);
			}
			pt = (struct ls_series_point){
				.t_s = (double)now / 1000.0,
				.produce_rate = ls_scenario_produce_rate(sc, now),
				.consume_rate = snap.err || snap.consume_rate < 0 ? 0
										  : snap.consume_rate,
				.lag = snap.err ? 0 : snap.total_lag,
				.lag_seconds = snap.err ? 0 : ls_age_tracker_age(&age, now, committed_total(&snap)),
				.current_replicas = d.current_replicas,
				.desired_replicas = d.desired_replicas,
				.action = (int)d.action,
			};
			ls_series_append(&series, &pt);
			if (now >= next_row || d.action != LS_ACTION_NONE) {
				print_row(now, pt.produce_rate, &d, pt.lag_seconds, ready);
				if (now >= next_row)
					next_row += 5 * 60000;
			}
			if (!snap.err) {
				ls_lag_snapshot_release(&prev);
				prev = snap;
			} else {
				ls_lag_snapshot_release(&snap);
			}
			next_decision += sc->policy.polling_interval_ms;
		}
		ls_clock_sleep_ms(TICK_MS);
	}

	{
		struct ls_series_summary sum;
		struct ls_chart_options co = {.title = "lagscale demo: the Friday 3 PM spike",
					      .lag_threshold = (double)sc->policy.lag_threshold,
					      .max_replicas = sc->policy.max_replicas};
		char sub[256];

		if (ls_series_summarize(&series, (double)sc->policy.lag_threshold, &sum) == 0) {
			snprintf(sub, sizeof(sub),
				 "peak lag %lld, oldest message waited %.0f s, drained in %.0f s, "
				 "%d scale events, up to %d replicas",
				 (long long)sum.peak_lag, sum.peak_lag_seconds, sum.drain_seconds,
				 sum.scale_events, sum.max_replicas);
			co.subtitle = sub;
			printf("\n%s%s.\n", interrupted ? "interrupted: " : "", sub);
			printf("replica-seconds %.0f (%.1f replica-hours)\n", sum.replica_seconds,
			       sum.replica_seconds / 3600.0);
		}
		if (ls_chart_write_svg(&series, &co, svg) == 0)
			printf("chart: %s\n", svg);
		else
			fprintf(stderr, "lagscale demo: cannot write the chart to \"%s\"\n", svg);
		if (csv && ls_series_write_csv(&series, csv) == 0)
			printf("series: %s\n", csv);
	}
	rc = interrupted ? LS_EXIT_FAILURE : LS_EXIT_OK;
out:
	if (producer_started) {
		atomic_store(&prod.stop, 1);
		pthread_join(prod.thread, NULL);
	}
	fleet_stop(&fleet);
	free(reps.ready_at);
	ls_lag_snapshot_release(&prev);
	ls_kafka_free(kafka);
	ls_kafka_mock_free(mock);
	ls_policy_state_free(st);
	ls_scenario_free(sc);
	ls_series_release(&series);
	ls_age_tracker_release(&age);
	ls_diag_release(&diag);
	return rc;
}
