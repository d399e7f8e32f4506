/*
 * demo.c - `lagscale demo [--scenario FILE] [--speed N] [--svg F] [--csv F]`:
 * a scenario told in about a minute on librdkafka's embedded mock cluster;
 * by default the Friday 3 PM spike.
 *
 * Everything is real but the broker: lib/workload runs a producer that
 * follows the scenario's produce curve and real consumers that are members
 * of the consumer group (librdkafka assigns their partitions under the
 * scenario's assignor), and lagscale's own collector and policy engine
 * decide how many of them run. Time and messages are scaled
 * (ls_workload_plan()), and everything is printed in the scenario's units.
 */
#include <errno.h>
#include <signal.h>
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
#include "util/parse.h"
#include "workload/workload.h"

#define TOPIC	 "orders"
#define GROUP	 "order-processor"
#define TICK_MS	 10
#define SETTLE_MS 15000
/* The mock coordinator's wait for more members when a group forms. */
#define INITIAL_DELAY_MS 50

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

static bool in_window(const struct ls_scenario_window *ws, size_t n, int64_t t)
{
	for (size_t i = 0; i < n; i++)
		if (t >= ws[i].from_ms && t < ws[i].to_ms)
			return true;
	return false;
}

static const char *clock_label(bool friday, int64_t v_ms, char *out, size_t size)
{
	/* The Friday story starts at 14:45; the spike comes at 15:00. A
	 * scenario file counts from its start. */
	int64_t min = (friday ? 14 * 60 + 45 : 0) + v_ms / 60000;

	if (friday)
		snprintf(out, size, "%02lld:%02lld", (long long)(min / 60) % 24,
			 (long long)(min % 60));
	else
		snprintf(out, size, "%lld:%02lld:%02lld", (long long)(min / 60),
			 (long long)(min % 60), (long long)(v_ms / 1000 % 60));
	return out;
}

static void print_row(bool friday, int64_t v_ms, double produce, const struct ls_decision *d,
		      double age, int ready)
{
	char t[32];

	printf("%-7s  %9.0f  %9lld  %6.0fs  %4d %s %-4d %5d  %-10s  %s\n", clock_label(friday, v_ms, t, sizeof(t)),
	       produce, (long long)d->total_lag, age, d->current_replicas,
	       d->desired_replicas == d->current_replicas ? " " : ">", d->desired_replicas, ready,
	       ls_policy_action_name(d->action), d->reason);
	fflush(stdout);
}

static int demo_run(int argc, char **argv);

enum { F_SCENARIO = 'f', F_SPEED = 's', F_SVG = 'g', F_CSV = 'c' };

const struct ls_cmdutil_command ls_cmd_demo = {
	.name = "demo",
	.summary = "Watch lagscale scale real consumers on an embedded Kafka, in a minute",
	.usage = "lagscale demo [--scenario FILE] [--speed N] [--svg F] [--csv F]",
	.description =
		"Starts librdkafka's embedded mock Kafka cluster, a producer that follows a "
		"scenario's produce curve and real consumers in one consumer group, and lets "
		"lagscale's own collector and policy engine decide how many consumers run. "
		"Time and message counts are scaled so the scenario takes about a minute; "
		"everything is printed in the scenario's units, one row per step, and a chart "
		"is written at the end. Needs no Kafka and no Kubernetes.",
	.flags = (const struct ls_cmdutil_flag[]){
		{"scenario", 0, F_SCENARIO, "FILE", "the built-in Friday 3 PM spike",
		 "Replay this scenario file instead; at most 64 partitions and 32 consumers."},
		{"speed", 0, F_SPEED, "N", "1",
		 "How many times faster than the default pace, from 0.1 to 20 (1: the "
		 "scenario in about a minute)."},
		{"svg", 0, F_SVG, "FILE", "lagscale-demo.svg", "Where the chart is written."},
		{"csv", 0, F_CSV, "FILE", "none", "Also write the recorded series as CSV."},
		{0},
	},
	.examples = "# The built-in spike, twice as fast\n"
		    "lagscale demo --speed 2\n"
		    "\n"
		    "# Another scenario, with its series\n"
		    "lagscale demo --scenario test/scenarios/demo-small.yaml --csv demo.csv",
	.exit_codes = "0  success\n"
		      "1  the demo could not run (the mock cluster, the consumers, a file)\n"
		      "2  bad usage, or a scenario that is invalid or cannot be replayed",
	.run = demo_run,
};

static int demo_run(int argc, char **argv)
{
	const char *svg = "lagscale-demo.svg", *csv = NULL, *path = NULL, *label;
	double speed = 1.0;
	struct ls_scenario *sc = NULL;
	struct ls_kafka_mock *mock = NULL;
	struct ls_kafka *kafka = NULL;
	struct ls_workload *wl = NULL;
	struct ls_workload_plan plan;
	struct ls_policy_state *st = NULL;
	struct ls_lag_snapshot prev = {0};
	struct ls_series series;
	struct ls_age_tracker age;
	struct ls_diag diag;
	struct ls_cmdutil_args args;
	struct sigaction sa;
	const char *v;
	int64_t next_decision = 0, next_row = 0, row_every;
	int rc = LS_EXIT_USAGE, c, r;
	char err[256], why[512];

	ls_series_init(&series);
	ls_age_tracker_init(&age);
	ls_diag_init(&diag);
	ls_cmdutil_args_init(&args, &ls_cmd_demo, argc, argv);
	while ((c = ls_cmdutil_next(&args, &v)) != LS_CMDUTIL_END) {
		switch (c) {
		case LS_CMDUTIL_HELP:
			rc = LS_EXIT_OK;
			goto out;
		case LS_CMDUTIL_BAD:
			goto out;
		case F_SCENARIO:
			path = v;
			break;
		case F_SPEED:
			if (ls_parse_double(v, &speed) < 0 || speed < 0.1 || speed > 20) {
				ls_cmdutil_usage_error(&ls_cmd_demo,
						       "--speed: \"%s\" is not a number from 0.1 "
						       "to 20",
						       v);
				goto out;
			}
			break;
		case F_SVG:
			svg = v;
			break;
		case F_CSV:
			csv = v;
			break;
		}
	}
	if (optind < argc) {
		ls_cmdutil_usage_error(&ls_cmd_demo, "unexpected argument \"%s\"", argv[optind]);
		goto out;
	}
	if (path) {
		r = ls_scenario_load(path, &sc, &diag);
		ls_cmdutil_print_diag(&diag, path, r);
		if (r < 0)
			goto out;
		label = path;
	} else {
		rc = LS_EXIT_FAILURE;
		if (ls_scenario_load_string("demo", demo_scenario, sizeof(demo_scenario) - 1, &sc,
					    &diag) < 0) {
			ls_cmdutil_print_diag(&diag, "demo", -EINVAL);
			goto out;
		}
		label = "the built-in demo";
	}
	r = ls_workload_plan(sc, speed, &plan, why, sizeof(why));
	if (r < 0) {
		fprintf(stderr, "lagscale demo: \"%s\": cannot replay it: %s\n", label, why);
		rc = LS_EXIT_USAGE;
		goto out;
	}
	rc = LS_EXIT_FAILURE;
	st = ls_policy_state_new();
	if (!st || ls_kafka_mock_new(3, &mock) < 0 ||
	    ls_kafka_mock_topic_create(mock, TOPIC, sc->partitions) < 0 ||
	    ls_kafka_new("demo", ls_kafka_mock_bootstraps(mock), NULL, 0, &kafka, err,
			 sizeof(err)) < 0) {
		fprintf(stderr, "lagscale demo: cannot start the mock Kafka cluster\n");
		goto out;
	}
	ls_kafka_mock_group_initial_delay(mock, INITIAL_DELAY_MS);
	r = ls_workload_new(sc, &plan, ls_kafka_mock_bootstraps(mock), TOPIC, GROUP, &wl, err,
			    sizeof(err));
	if (r < 0) {
		fprintf(stderr, "lagscale demo: cannot start the consumers and the producer: %s\n",
			r == -EIO ? err : strerror(-r));
		goto out;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	printf("lagscale demo: %s on a mock Kafka cluster (%s), topic \"%s\" with %d "
	       "partitions,\n",
	       sc->name, ls_kafka_mock_bootstraps(mock), TOPIC, sc->partitions);
	printf("one replica processes %g msgs/s and starts in %llds; lagscale polls every "
	       "%llds in %s mode.\n",
	       sc->per_replica_rate, (long long)(sc->startup_delay_ms / 1000),
	       (long long)(sc->policy.polling_interval_ms / 1000),
	       sc->policy.mode == LS_MODE_RATE ? "rate" : "lag");
	printf("The consumers are members of group \"%s\" (%s); %s.\n", GROUP,
	       ls_partitions_assignor_name(sc->assignor),
	       ls_workload_real_membership(wl)
		       ? "librdkafka assigns their partitions"
		       : "their partitions are dealt as the assignor would (the mock cluster "
			 "cannot run it)");
	printf("%.0f minutes in %.0f seconds (one real message for %.0f); rates and lag in the "
	       "scenario's units.\n\n",
	       (double)sc->duration_ms / 60000.0, plan.real_seconds, plan.msg_scale);
	printf("time     produce/s        lag      age  replicas  ready  action      reason\n");
	fflush(stdout);

	/* "Your system is running smoothly": the whole pool takes partitions
	 * once and catches up; then the story starts with the initial
	 * replicas. */
	r = ls_workload_start(wl, SETTLE_MS);
	if (r == -EAGAIN || r == -ENOMEM || r == -EALREADY) {
		fprintf(stderr, "lagscale demo: cannot start the workload: %s\n", strerror(-r));
		goto out;
	}
	if (r < 0)
		fprintf(stderr, "lagscale demo: the consumers did not settle within %d s; "
				"going on\n",
			SETTLE_MS / 1000);
	row_every = sc->duration_ms / 18;
	if (row_every < sc->policy.polling_interval_ms)
		row_every = sc->policy.polling_interval_ms;

	while (!interrupted) {
		int64_t now = ls_workload_now(wl);

		if (now >= sc->duration_ms)
			break;
		ls_age_tracker_add(&age, now, ls_workload_produced(wl));
		if (now >= next_decision) {
			struct ls_lag_snapshot snap;
			struct ls_policy_input in;
			struct ls_decision d;
			struct ls_series_point pt;
			int32_t reps = ls_workload_replicas(wl);

			ls_kafka_collect(kafka, &demo_query, 1, 2000, &snap);
			if (!snap.err && in_window(sc->kafka_errors, sc->n_kafka_errors, now)) {
				/* The scenario's kafkaErrors: this read fails. */
				ls_lag_snapshot_release(&snap);
				ls_lag_snapshot_fail(&snap, -EIO,
						     "the scenario's kafkaErrors window");
			}
			ls_workload_to_virtual(wl, &snap, now);
			if (!snap.err) {
				ls_lag_snapshot_compute(&snap, sc->policy.offset_reset);
				ls_lag_snapshot_rates(prev.time_ms ? &prev : NULL, &snap);
				/* The mock cluster cannot describe groups; the
				 * workload knows its group. */
				ls_workload_describe_group(wl, &snap.group);
			}
			in = (struct ls_policy_input){.now_ms = now, .snap = &snap,
						      .current_replicas = reps,
						      .paused_replicas = -1};
			if (ls_policy_decide(st, &sc->policy, &in, &d) < 0) {
				ls_lag_snapshot_release(&snap);
				goto out;
			}
			if (d.desired_replicas != reps) {
				ls_policy_applied(st, now, reps, d.desired_replicas);
				ls_workload_set_replicas(wl, d.desired_replicas, now);
			}
			pt = (struct ls_series_point){
				.t_s = (double)now / 1000.0,
				.produce_rate = ls_scenario_produce_rate(sc, now),
				.consume_rate = snap.err || snap.consume_rate < 0 ? 0
										  : snap.consume_rate,
				.lag = snap.err ? 0 : snap.total_lag,
				.lag_seconds = snap.err ? 0
							: ls_age_tracker_age(&age, now,
									     committed_total(&snap)),
				.current_replicas = d.current_replicas,
				.desired_replicas = d.desired_replicas,
				.action = (int)d.action,
			};
			ls_series_append(&series, &pt);
			if (now >= next_row || d.action != LS_ACTION_NONE) {
				print_row(!path, now, pt.produce_rate, &d, pt.lag_seconds,
					  ls_workload_ready(wl));
				if (now >= next_row)
					next_row += row_every;
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
		struct ls_workload_stats ws;
		char title[256], sub[256];
		struct ls_chart_options co = {.title = title,
					      .lag_threshold = (double)sc->policy.lag_threshold,
					      .max_replicas = sc->policy.max_replicas};

		if (path)
			snprintf(title, sizeof(title), "lagscale demo: %s", sc->name);
		else
			snprintf(title, sizeof(title), "lagscale demo: the Friday 3 PM spike");
		if (ls_series_summarize(&series, (double)sc->policy.lag_threshold, &sum) == 0) {
			snprintf(sub, sizeof(sub),
				 "peak lag %lld, oldest message waited %.0f s, drained in %.0f s, "
				 "%d scale events, up to %d replicas",
				 (long long)sum.peak_lag, sum.peak_lag_seconds, sum.drain_seconds,
				 sum.scale_events, sum.max_replicas);
			co.subtitle = sub;
			printf("\n%s%s.\n", interrupted ? "interrupted: " : "", sub);
			printf("replica-seconds %.0f (%.1f replica-hours), messages waited %.0f "
			       "message-seconds\n",
			       sum.replica_seconds, sum.replica_seconds / 3600.0,
			       sum.lag_message_seconds);
		}
		ls_workload_stats(wl, &ws);
		printf("consumers: %lld partition assignments received over the run\n",
		       (long long)ws.rebalances);
		if (ls_chart_write_svg(&series, &co, svg) == 0)
			printf("chart: %s\n", svg);
		else
			fprintf(stderr, "lagscale demo: cannot write the chart to \"%s\"\n", svg);
		if (csv && ls_series_write_csv(&series, csv) == 0)
			printf("series: %s\n", csv);
	}
	rc = interrupted ? LS_EXIT_FAILURE : LS_EXIT_OK;
out:
	ls_workload_free(wl);
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
