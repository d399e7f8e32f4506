/*
 * test-sim.c - the simulator, the KEDA baseline, the series, chart and age
 * tracker; and the scenario claims of the policy engine, run in-process.
 * The scenario files are read from $LS_SOURCE_ROOT/test/scenarios.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/scenario.h"
#include "sim/age.h"
#include "sim/chart.h"
#include "sim/keda.h"
#include "sim/series.h"
#include "sim/sim.h"
#include "sim/summary.h"

static struct ls_scenario *load_string(const char *yaml)
{
	struct ls_scenario *sc = NULL;
	struct ls_diag diag;
	int r;

	ls_diag_init(&diag);
	r = ls_scenario_load_string("test", yaml, strlen(yaml), &sc, &diag);
	for (size_t i = 0; i < diag.n; i++)
		fprintf(stderr, "%s\n", diag.msgs[i]);
	ls_diag_release(&diag);
	ck_assert_int_eq(r, 0);
	return sc;
}

static struct ls_scenario *load_file(const char *name)
{
	const char *root = getenv("LS_SOURCE_ROOT");
	struct ls_scenario *sc = NULL;
	struct ls_diag diag;
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "%s/test/scenarios/%s", root ? root : ".", name);
	ls_diag_init(&diag);
	r = ls_scenario_load(path, &sc, &diag);
	for (size_t i = 0; i < diag.n; i++)
		fprintf(stderr, "%s\n", diag.msgs[i]);
	ls_diag_release(&diag);
	ck_assert_msg(r == 0, "cannot load %s: %d", path, r);
	return sc;
}

static struct ls_sim_result run(const struct ls_scenario *sc, enum ls_sim_policy pol,
				struct ls_series *series)
{
	struct ls_sim_options o = {.policy = pol, .series = series};
	struct ls_sim_result res;

	ck_assert_int_eq(ls_sim_run(sc, &o, &res), 0);
	return res;
}

/* Scale events against the previous one's direction within 5 minutes. */
static int reversals(const struct ls_series *s)
{
	int n = 0, last_dir = 0;
	double last_t = -1e9;

	for (size_t i = 1; i < s->n; i++) {
		int32_t a = s->pts[i - 1].current_replicas, b = s->pts[i].current_replicas;
		int dir;

		if (a == b)
			continue;
		dir = b > a ? 1 : -1;
		if (last_dir && dir != last_dir && s->pts[i].t_s - last_t < 300)
			n++;
		last_dir = dir;
		last_t = s->pts[i].t_s;
	}
	return n;
}

START_TEST(test_sim_policy_names)
{
	enum ls_sim_policy p = LS_SIM_SCENARIO;

	ck_assert_int_eq(ls_sim_policy_parse("lag", &p), 0);
	ck_assert_int_eq(p, LS_SIM_LAG);
	ck_assert_int_eq(ls_sim_policy_parse("rate", &p), 0);
	ck_assert_int_eq(p, LS_SIM_RATE);
	ck_assert_int_eq(ls_sim_policy_parse("keda", &p), 0);
	ck_assert_int_eq(p, LS_SIM_KEDA);
	ck_assert_int_eq(ls_sim_policy_parse("hpa", &p), -EINVAL);
	ck_assert_int_eq(p, LS_SIM_KEDA);
	ck_assert_int_eq(ls_sim_policy_parse(NULL, &p), -EINVAL);
	ck_assert_str_eq(ls_sim_policy_name(LS_SIM_RATE), "rate");
}
END_TEST

START_TEST(test_sim_invalid_input)
{
	struct ls_scenario *sc = load_string("duration: 1m\npartitions: 4\nperReplicaRate: 10\n"
					     "produce: [{at: 0s, rate: 5}]\n");
	struct ls_sim_options o = {.policy = LS_SIM_LAG};
	struct ls_sim_result res, keep;

	memset(&res, 0x5a, sizeof(res));
	keep = res;
	ck_assert_int_eq(ls_sim_run(NULL, &o, &res), -EINVAL);
	ck_assert_int_eq(ls_sim_run(sc, NULL, &res), -EINVAL);
	ck_assert_int_eq(ls_sim_run(sc, &o, NULL), -EINVAL);
	sc->policy.lag_threshold = 0;
	ck_assert_int_eq(ls_sim_run(sc, &o, &res), -EINVAL);
	sc->policy.lag_threshold = 1000;
	sc->partitions = 0;
	ck_assert_int_eq(ls_sim_run(sc, &o, &res), -EINVAL);
	sc->partitions = 4;
	sc->step_ms = 0;
	ck_assert_int_eq(ls_sim_run(sc, &o, &res), -EINVAL);
	sc->step_ms = 1000;
	sc->per_replica_rate = 0;
	ck_assert_int_eq(ls_sim_run(sc, &o, &res), -EINVAL);
	ck_assert_mem_eq(&res, &keep, sizeof(res));
	sc->per_replica_rate = 10;
	ck_assert_int_eq(ls_sim_run(sc, &o, &res), 0);
	ls_scenario_free(sc);
}
END_TEST

START_TEST(test_sim_model_is_exact)
{
	/* 100 msgs/s, 1 replica at 60 msgs/s: the lag grows 40/s, and the
	 * oldest message's wait grows 0.4 s per s (it was produced when
	 * 60 t messages had been produced: at 0.6 t). */
	struct ls_scenario *sc = load_string(
		"duration: 100s\npartitions: 4\ninitialReplicas: 1\nperReplicaRate: 60\n"
		"produce: [{at: 0s, rate: 100}]\n"
		"scaler: {policy: {minReplicas: 1, maxReplicas: 1, lagThreshold: 100000}}\n");
	struct ls_series s;
	struct ls_sim_result res;
	struct ls_series_summary sum;

	ls_series_init(&s);
	res = run(sc, LS_SIM_LAG, &s);
	ck_assert_int_eq(s.n, 101);
	ck_assert_int_eq(s.pts[100].lag, 4000);
	ck_assert_double_eq_tol(s.pts[100].lag_seconds, 40.0, 0.05);
	ck_assert_double_eq_tol(s.pts[50].consume_rate, 60.0, 1e-9);
	ck_assert_double_eq_tol(s.pts[50].produce_rate, 100.0, 1e-9);
	ck_assert_int_eq(res.peak_lag, 4000);
	ck_assert_double_eq_tol(res.peak_lag_seconds, 40.0, 0.05);
	ck_assert_double_eq_tol(res.replica_seconds, 100.0, 1e-9);
	/* Never above one lagThreshold: nothing to drain. */
	ck_assert(res.drained);
	ck_assert_double_eq(res.drain_seconds, 0);
	/* The summary of the series agrees with the simulator's own. */
	ck_assert_int_eq(ls_series_summarize(&s, 100000, &sum), 0);
	ck_assert_int_eq(sum.peak_lag, res.peak_lag);
	ck_assert_double_eq_tol(sum.replica_seconds, res.replica_seconds, 1e-6);
	ck_assert_double_eq_tol(sum.peak_lag_seconds, res.peak_lag_seconds, 1e-9);
	ck_assert_int_eq(sum.max_replicas, 1);
	ls_series_release(&s);
	ls_scenario_free(sc);
}
END_TEST

START_TEST(test_sim_startup_delay_and_outage)
{
	/* From 1 replica, a backlog: the second replica consumes 30 s after
	 * it was added; during the outage nothing is consumed. */
	struct ls_scenario *sc = load_string(
		"duration: 5m\npartitions: 4\ninitialReplicas: 1\nperReplicaRate: 100\n"
		"initialLag: 100000\nstartupDelay: 30s\n"
		"produce: [{at: 0s, rate: 0}]\n"
		"consumerOutages: [{from: 200s, to: 220s}]\n"
		"scaler: {policy: {minReplicas: 1, maxReplicas: 2, lagThreshold: 1000}}\n");
	struct ls_series s;

	ls_series_init(&s);
	run(sc, LS_SIM_LAG, &s);
	ck_assert_int_eq(s.pts[0].current_replicas, 2); /* decided at t=0 */
	ck_assert_double_eq_tol(s.pts[29].consume_rate, 100, 1e-9);
	ck_assert_double_eq_tol(s.pts[31].consume_rate, 200, 1e-9);
	ck_assert_double_eq_tol(s.pts[210].consume_rate, 0, 1e-9);
	ck_assert_double_eq_tol(s.pts[225].consume_rate, 200, 1e-9);
	ls_series_release(&s);
	ls_scenario_free(sc);
}
END_TEST

START_TEST(test_sim_fallback_holds_through_kafka_errors)
{
	/* Reads fail from 10m to 20m: the replicas hold, the engine falls back
	 * after 3 failures, and never scales the workload to zero even with
	 * minReplicas 0 and a fallback of 0. KEDA without a fallback treats
	 * the error as inactivity and scales to zero after its cooldown. */
	struct ls_scenario *sc = load_string(
		"duration: 30m\npartitions: 12\ninitialReplicas: 6\nperReplicaRate: 100\n"
		"produce: [{at: 0s, rate: 500}]\n"
		"kafkaErrors: [{from: 10m, to: 20m}]\n"
		"scaler: {policy: {minReplicas: 0, maxReplicas: 12, lagThreshold: 1000,\n"
		"  fallback: {failureThreshold: 3, replicas: 0, behavior: static}}}\n");
	struct ls_series s;
	struct ls_sim_result res;
	int32_t at_start = -1;
	bool saw_zero = false;

	ls_series_init(&s);
	res = run(sc, LS_SIM_SCENARIO, &s);
	ck_assert_int_gt(res.fallbacks, 0);
	for (size_t i = 0; i < s.n; i++) {
		const struct ls_series_point *p = &s.pts[i];

		if (p->t_s < 600)
			continue;
		if (at_start < 0)
			at_start = p->current_replicas;
		if (p->t_s <= 1200)
			ck_assert_int_eq(p->current_replicas, at_start);
		ck_assert_int_gt(p->current_replicas, 0);
	}
	ck_assert_int_gt(at_start, 0);
	ls_series_release(&s);

	ls_series_init(&s);
	run(sc, LS_SIM_KEDA, &s);
	for (size_t i = 0; i < s.n; i++)
		saw_zero |= s.pts[i].t_s > 600 && s.pts[i].t_s <= 1200 &&
			    s.pts[i].current_replicas == 0;
	ck_assert(saw_zero);
	ls_series_release(&s);
	ls_scenario_free(sc);
}
END_TEST

START_TEST(test_sim_no_scale_down_before_window)
{
	/* 20 replicas for a load that needs 2: the first scale-down comes
	 * when the 5 minute window has passed, not before. (The rate is given:
	 * with `auto`, replicas that never saturate never say how few would
	 * do, and rate mode does not scale down on a guess.) */
	struct ls_scenario *sc = load_string(
		"duration: 10m\npartitions: 24\ninitialReplicas: 20\nperReplicaRate: 100\n"
		"produce: [{at: 0s, rate: 150}]\n"
		"scaler: {policy: {minReplicas: 1, maxReplicas: 24, lagThreshold: 1000,\n"
		"  perReplicaRate: 100}}\n");
	enum ls_sim_policy pols[] = {LS_SIM_LAG, LS_SIM_RATE, LS_SIM_KEDA};

	for (size_t k = 0; k < 3; k++) {
		struct ls_series s;
		double first_down = -1;

		ls_series_init(&s);
		run(sc, pols[k], &s);
		for (size_t i = 1; i < s.n && first_down < 0; i++)
			if (s.pts[i].current_replicas < s.pts[i - 1].current_replicas)
				first_down = s.pts[i].t_s;
		ck_assert_msg(first_down >= 300 && first_down < 400, "%s scaled down at %g s",
			      ls_sim_policy_name(pols[k]), first_down);
		ls_series_release(&s);
	}
	ls_scenario_free(sc);
}
END_TEST

START_TEST(test_sim_max_consume_rate_never_exceeded)
{
	struct ls_scenario *sc = load_file("crashed-consumer.yaml");
	struct ls_series s;
	struct ls_sim_result res;

	ls_series_init(&s);
	res = run(sc, LS_SIM_RATE, &s);
	ck_assert_double_le(res.peak_demand_rate, 5000 + 1e-6);
	ck_assert_double_eq(res.overload_seconds, 0);
	for (size_t i = 0; i < s.n; i++)
		ck_assert_double_le(s.pts[i].consume_rate, 5000 + 1e-6);
	ck_assert(res.drained);
	ck_assert_int_eq(res.final_lag, 0);
	ls_series_release(&s);
	/* lag mode honours maxConsumeRate too; KEDA knows nothing of it. */
	res = run(sc, LS_SIM_LAG, NULL);
	ck_assert_double_le(res.peak_demand_rate, 5000 + 1e-6);
	res = run(sc, LS_SIM_KEDA, NULL);
	ck_assert_double_gt(res.peak_demand_rate, 5000);
	ck_assert_double_gt(res.overload_seconds, 0);
	ls_scenario_free(sc);
}
END_TEST

START_TEST(test_sim_dead_zone)
{
	struct ls_scenario *sc = load_file("dead-zone.yaml");
	struct ls_series s;
	struct ls_sim_result res;

	ls_series_init(&s);
	res = run(sc, LS_SIM_KEDA, &s);
	/* KEDA issue 2908: the capped metric keeps it at 63 of 64. */
	ck_assert_int_eq(res.max_replicas, 63);
	for (size_t i = 0; i < s.n; i++)
		ck_assert_int_eq(s.pts[i].current_replicas, 63);
	ck_assert(!res.drained);
	ls_series_release(&s);
	res = run(sc, LS_SIM_LAG, NULL);
	ck_assert_int_eq(res.max_replicas, 64);
	res = run(sc, LS_SIM_RATE, NULL);
	ck_assert_int_eq(res.max_replicas, 64);
	ls_scenario_free(sc);
}
END_TEST

START_TEST(test_sim_flapping)
{
	struct ls_scenario *sc = load_file("flapping.yaml");
	enum ls_sim_policy pols[] = {LS_SIM_LAG, LS_SIM_RATE};

	for (size_t k = 0; k < 2; k++) {
		struct ls_series s;
		struct ls_sim_result res;

		ls_series_init(&s);
		res = run(sc, pols[k], &s);
		ck_assert_msg(res.direction_reversals == 0 && reversals(&s) == 0,
			      "%s reverses %d times", ls_sim_policy_name(pols[k]),
			      res.direction_reversals);
		ls_series_release(&s);
	}
	ls_scenario_free(sc);
}
END_TEST

START_TEST(test_sim_perfect_storm_rate_beats_keda)
{
	struct ls_scenario *sc = load_file("perfect-storm.yaml");
	struct ls_sim_result rate = run(sc, LS_SIM_RATE, NULL), keda = run(sc, LS_SIM_KEDA, NULL);

	ck_assert(rate.drained && keda.drained);
	ck_assert_double_le(rate.drain_seconds * 2, keda.drain_seconds);
	ck_assert_double_le(rate.replica_seconds, keda.replica_seconds * 1.10);
	ck_assert_int_eq(rate.direction_reversals, 0);
	ls_scenario_free(sc);
}
END_TEST

START_TEST(test_sim_every_scenario_runs)
{
	static const char *const files[] = {"perfect-storm.yaml", "midnight-spike.yaml",
					    "crashed-consumer.yaml", "thundering-herd.yaml",
					    "flapping.yaml", "dead-zone.yaml"};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct ls_scenario *sc = load_file(files[i]);
		enum ls_sim_policy pols[] = {LS_SIM_LAG, LS_SIM_RATE, LS_SIM_KEDA};

		for (size_t k = 0; k < 3; k++) {
			struct ls_sim_result res = run(sc, pols[k], NULL);

			ck_assert_int_gt(res.decisions, 0);
			ck_assert_int_ge(res.max_replicas, 1);
		}
		ls_scenario_free(sc);
	}
}
END_TEST

START_TEST(test_sim_outputs)
{
	struct ls_scenario *sc = load_string(
		"name: \"out \\\"q\\\"\"\nduration: 2m\npartitions: 4\ninitialReplicas: 1\n"
		"perReplicaRate: 50\nproduce: [{at: 0s, rate: 80}, {at: 1m, rate: 10}]\n"
		"kafkaErrors: [{from: 30s, to: 80s}]\n");
	struct ls_series s;
	struct ls_sim_result res;
	struct ls_buf b;
	struct ls_chart_options co = {.title = "a <b> & c", .lag_threshold = 1000,
				      .max_consume_rate = 100, .max_replicas = 4};

	ls_series_init(&s);
	ls_buf_init(&b, 0);
	res = run(sc, LS_SIM_SCENARIO, &s);
	ck_assert_int_eq(ls_series_csv(&s, &b), 0);
	ck_assert(strncmp(ls_buf_str(&b),
			  "time,produceRate,consumeRate,lag,lagSeconds,currentReplicas,"
			  "desiredReplicas,action\n0,80.000,0.000,0,0.000,",
			  strlen("time,produceRate,consumeRate,lag,lagSeconds,currentReplicas,"
				 "desiredReplicas,action\n0,80.000,0.000,0,0.000,")) == 0);
	ck_assert_ptr_nonnull(strstr(ls_buf_str(&b), ",error\n"));
	ls_buf_reset(&b);

	ck_assert_int_eq(ls_chart_svg(&s, &co, &b), 0);
	ck_assert(strncmp(ls_buf_str(&b), "<?xml", 5) == 0);
	ck_assert_ptr_nonnull(strstr(ls_buf_str(&b), "</svg>\n"));
	ck_assert_ptr_nonnull(strstr(ls_buf_str(&b), "a &lt;b&gt; &amp; c"));
	ck_assert_ptr_nonnull(strstr(ls_buf_str(&b), "lag (messages)"));
	ck_assert_ptr_nonnull(strstr(ls_buf_str(&b), "message age (s)"));
	ck_assert_ptr_nonnull(strstr(ls_buf_str(&b), "rate (msgs/s)"));
	ck_assert_ptr_nonnull(strstr(ls_buf_str(&b), "time since start (s)"));
	ck_assert_ptr_nonnull(strstr(ls_buf_str(&b), ">desired</text>"));
	ls_buf_reset(&b);

	res = (struct ls_sim_result){.policy = LS_SIM_RATE, .peak_lag = 12, .peak_lag_seconds = 1.25,
				     .drain_seconds = 3, .replica_seconds = 4.5,
				     .scale_events = 2, .max_replicas = 7};
	ck_assert_int_eq(ls_sim_result_json(&res, sc->name, &b), 0);
	ck_assert_str_eq(ls_buf_str(&b),
			 "{\"scenario\":\"out \\\"q\\\"\",\"policy\":\"rate\",\"peakLag\":12,"
			 "\"peakLagSeconds\":1.2,\"drainSeconds\":3.0,\"replicaSeconds\":4.5,"
			 "\"scaleEvents\":2,\"maxReplicas\":7}\n");
	ls_buf_reset(&b);
	ck_assert_int_eq(ls_chart_svg(NULL, &co, &b), -EINVAL);
	{
		struct ls_series empty;

		ls_series_init(&empty);
		ck_assert_int_eq(ls_chart_svg(&empty, &co, &b), -EINVAL);
	}
	ls_buf_release(&b);
	ls_series_release(&s);
	ls_scenario_free(sc);
}
END_TEST

START_TEST(test_sim_age_tracker)
{
	struct ls_age_tracker a;

	ls_age_tracker_init(&a);
	ck_assert_double_eq(ls_age_tracker_age(&a, 1000, 0), 0);
	/* 500 waiting at t=0, then 10 msgs/s. */
	ck_assert_int_eq(ls_age_tracker_add(&a, 0, 500), 0);
	for (int t = 1; t <= 100; t++)
		ck_assert_int_eq(ls_age_tracker_add(&a, t * 1000LL, 500 + 10.0 * t), 0);
	ck_assert_double_eq_tol(ls_age_tracker_age(&a, 100000, 0), 100, 1e-9);
	ck_assert_double_eq_tol(ls_age_tracker_age(&a, 100000, 499), 100, 1e-9);
	ck_assert_double_eq_tol(ls_age_tracker_age(&a, 100000, 505), 99.5, 1e-9);
	ck_assert_double_eq_tol(ls_age_tracker_age(&a, 100000, 1000), 50, 1e-9);
	ck_assert_double_eq(ls_age_tracker_age(&a, 100000, 1500), 0);
	/* Going backwards is clamped. */
	ck_assert_int_eq(ls_age_tracker_add(&a, 50, 3), 0);
	ck_assert_double_eq(ls_age_tracker_age(&a, 100000, 1500), 0);
	/* Many records with consumption keeping up stay bounded. */
	for (int t = 101; t < 200000; t++) {
		ck_assert_int_eq(ls_age_tracker_add(&a, t * 1000LL, 500 + 10.0 * t), 0);
		ls_age_tracker_age(&a, t * 1000LL, 500 + 10.0 * t - 50);
	}
	ck_assert_int_le(a.alloc, 4096);
	ls_age_tracker_release(&a);
}
END_TEST

START_TEST(test_sim_keda_baseline)
{
	struct ls_policy_params p;
	struct ls_keda *k = ls_keda_new();
	struct ls_lag_snapshot s = {0};
	struct ls_topic_offsets topic = {0};
	struct ls_partition_offsets parts[64];
	struct ls_policy_input in = {.now_ms = 0, .snap = &s, .current_replicas = 63,
				     .paused_replicas = -1};
	struct ls_decision d, keep;

	ls_policy_params_init(&p);
	p.lag_threshold = 3000;
	p.max_replicas = 100;
	for (int i = 0; i < 64; i++)
		parts[i] = (struct ls_partition_offsets){i, 0, 100000, LS_OFFSET_UNKNOWN, 0, 0};
	topic.topic = (char *)"t";
	topic.parts = parts;
	topic.n_parts = 64;
	s.topics = &topic;
	s.n_topics = 1;
	ck_assert(ls_keda_due(k, &p, 0));
	ck_assert_int_eq(ls_keda_decide(k, &p, &in, &d), 0);
	/* 6,400,000 lag, capped at 64 x 3,000: ratio 1.016, no change. */
	ck_assert_int_eq(d.desired_replicas, 63);
	ck_assert_int_eq(d.scaling_lag, 192000);
	ck_assert_ptr_nonnull(strstr(d.reason, "within tolerance"));
	ck_assert(!ls_keda_due(k, &p, 5000));
	ck_assert(ls_keda_due(k, &p, 15000));

	memset(&keep, 0x33, sizeof(keep));
	d = keep;
	ck_assert_int_eq(ls_keda_decide(NULL, &p, &in, &d), -EINVAL);
	in.snap = NULL;
	ck_assert_int_eq(ls_keda_decide(k, &p, &in, &d), -EINVAL);
	in.snap = &s;
	p.lag_threshold = 0;
	ck_assert_int_eq(ls_keda_decide(k, &p, &in, &d), -EINVAL);
	ck_assert_mem_eq(&d, &keep, sizeof(d));
	ls_keda_free(k);
	ls_keda_free(NULL);

	/* The HPA docs' example through the baseline: 1 replica, metric 200
	 * for a target of 100 per pod → 2. */
	k = ls_keda_new();
	ls_policy_params_init(&p);
	p.lag_threshold = 100;
	for (int i = 0; i < 4; i++)
		parts[i] = (struct ls_partition_offsets){i, 0, 50, LS_OFFSET_UNKNOWN, 0, 0};
	topic.n_parts = 4;
	in.current_replicas = 1;
	ck_assert_int_eq(ls_keda_decide(k, &p, &in, &d), 0);
	ck_assert_int_eq(d.desired_replicas, 2);
	ls_keda_free(k);
}
END_TEST

static Suite *sim_suite(void)
{
	Suite *s = suite_create("sim");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_sim_policy_names);
	tcase_add_test(tc, test_sim_invalid_input);
	tcase_add_test(tc, test_sim_model_is_exact);
	tcase_add_test(tc, test_sim_startup_delay_and_outage);
	tcase_add_test(tc, test_sim_fallback_holds_through_kafka_errors);
	tcase_add_test(tc, test_sim_no_scale_down_before_window);
	tcase_add_test(tc, test_sim_max_consume_rate_never_exceeded);
	tcase_add_test(tc, test_sim_dead_zone);
	tcase_add_test(tc, test_sim_flapping);
	tcase_add_test(tc, test_sim_perfect_storm_rate_beats_keda);
	tcase_add_test(tc, test_sim_every_scenario_runs);
	tcase_add_test(tc, test_sim_outputs);
	tcase_add_test(tc, test_sim_age_tracker);
	tcase_add_test(tc, test_sim_keda_baseline);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sim_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
