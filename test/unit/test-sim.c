/*
 * test-sim.c - the simulator, the KEDA baseline, the series, chart and age
 * tracker; and the scenario claims of the policy engine, run in-process.
 * The scenario files are read from $LS_SOURCE_ROOT/test/scenarios.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/scenario.h"
#include "sim/age.h"
#include "sim/chart.h"
#include "sim/keda.h"
#include "sim/oracle.h"
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
	ck_assert_int_eq(ls_sim_policy_parse("oracle", &p), 0);
	ck_assert_int_eq(p, LS_SIM_ORACLE);
	ck_assert_str_eq(ls_sim_policy_name(LS_SIM_ORACLE), "oracle");
	ck_assert_int_eq(ls_sim_policy_parse("keda", &p), 0);
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

	/* keda's lag crosses again after its first drain and holds its peak
	 * above one lagThreshold to the end of the run: never drained. */
	ck_assert(rate.drained);
	ck_assert(!keda.drained || rate.drain_seconds * 2 <= keda.drain_seconds);
	ck_assert_double_le(rate.replica_seconds, keda.replica_seconds * 1.10);
	ck_assert_int_eq(rate.direction_reversals, 0);
	ls_scenario_free(sc);
}
END_TEST

START_TEST(test_sim_every_scenario_runs)
{
	static const char *const files[] = {"perfect-storm.yaml", "midnight-spike.yaml",
					    "crashed-consumer.yaml", "thundering-herd.yaml",
					    "flapping.yaml", "dead-zone.yaml", "demo-24.yaml",
					    "hot-partition.yaml", "closed-loop-lag.yaml",
					    "closed-loop-rate.yaml"};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct ls_scenario *sc = load_file(files[i]);
		enum ls_sim_policy pols[] = {LS_SIM_LAG, LS_SIM_RATE, LS_SIM_KEDA, LS_SIM_ORACLE};

		for (size_t k = 0; k < 4; k++) {
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
			 "\"peakLagSeconds\":1.2,\"lagMessageSeconds\":0.0,\"drainSeconds\":3.0,"
			 "\"replicaSeconds\":4.5,\"scaleEvents\":2,\"maxReplicas\":7}\n");
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

/* The plain time chart: panels, lines, legends, shading; its refusals. */
START_TEST(test_sim_chart_lines)
{
	static const double t[] = {0, 10, 20, 30}, rss[] = {30, 32, 31, 31};
	static const double fds[] = {19, 19, 17, 19}, down[] = {0, 1, 0, 0};
	const struct ls_chart_line mem[] = {{"RSS", rss}}, fd[] = {{"open <fds>", fds}};
	struct ls_chart_panel panels[] = {{"Memory", "MB", mem, 1, 1}, {"Descriptors", "fds", fd, 1, 4}};
	struct ls_chart_lines c = {.t = t, .n = 4, .panels = panels, .n_panels = 2,
				   .shade = down, .shade_label = "broker down"};
	struct ls_chart_options o = {.title = "soak & co", .width = 800};
	struct ls_buf b;
	const char *svg, *p;
	int polylines = 0, shaded = 0;

	ls_buf_init(&b, 0);
	ck_assert_int_eq(ls_chart_lines_svg(&c, &o, &b), 0);
	svg = ls_buf_str(&b);
	ck_assert(strncmp(svg, "<?xml", 5) == 0);
	ck_assert_ptr_nonnull(strstr(svg, "width=\"800\""));
	ck_assert_ptr_nonnull(strstr(svg, "soak &amp; co"));
	ck_assert_ptr_nonnull(strstr(svg, ">Memory</text>"));
	ck_assert_ptr_nonnull(strstr(svg, ">Descriptors</text>"));
	ck_assert_ptr_nonnull(strstr(svg, ">open &lt;fds&gt;</text>"));
	ck_assert_ptr_nonnull(strstr(svg, ">broker down</text>"));
	ck_assert_ptr_nonnull(strstr(svg, "time since start (s)</text>\n</g>\n</svg>\n"));
	for (p = svg; (p = strstr(p, "<polyline")); p++)
		polylines++;
	for (p = svg; (p = strstr(p, "fill-opacity=\"0.12\"")); p++)
		shaded++;
	ck_assert_int_eq(polylines, 2);
	ck_assert_int_eq(shaded, 2); /* t 10..20 on each panel */

	/* Refused, and nothing written. */
	ls_buf_reset(&b);
	ck_assert_int_eq(ls_chart_lines_svg(NULL, &o, &b), -EINVAL);
	c.n = 0;
	ck_assert_int_eq(ls_chart_lines_svg(&c, &o, &b), -EINVAL);
	c.n = 4;
	c.n_panels = LS_CHART_PANELS_MAX + 1;
	ck_assert_int_eq(ls_chart_lines_svg(&c, &o, &b), -EINVAL);
	c.n_panels = 2;
	panels[1].n_lines = 0;
	ck_assert_int_eq(ls_chart_lines_svg(&c, &o, &b), -EINVAL);
	panels[1].n_lines = LS_CHART_LINES_MAX + 1;
	ck_assert_int_eq(ls_chart_lines_svg(&c, &o, &b), -EINVAL);
	ck_assert_uint_eq(b.len, 0);
	ls_buf_release(&b);
}
END_TEST

/* Scenario errors, as the loader reports them. */
static void expect_errors(const char *yaml, const char *const *want, size_t n)
{
	struct ls_scenario sentinel, *sc = &sentinel;
	struct ls_diag diag;

	ls_diag_init(&diag);
	ck_assert_int_eq(ls_scenario_load_string("p.yaml", yaml, strlen(yaml), &sc, &diag),
			 -EINVAL);
	ck_assert_ptr_eq(sc, &sentinel);
	for (size_t i = 0; i < diag.n; i++)
		fprintf(stderr, "%s\n", diag.msgs[i]);
	ck_assert_uint_eq(diag.n, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(diag.msgs[i], want[i]);
	ls_diag_release(&diag);
}

START_TEST(test_sim_scenario_partition_keys)
{
	static const char *const want[] = {
		"p.yaml:2:11: assignor: must be one of range, roundrobin, cooperative-sticky; got "
		"\"sticky\"",
		"p.yaml:3:25: partitionWeights.0: must be >= 0, got -1",
		"p.yaml:3:29: partitionWeights.x: expected a partition list such as \"0\" or "
		"\"1-3,7\", got \"x\"",
		"p.yaml:3:35: partitionWeights.3-4: partition 4 is not below partitions (4)",
		"p.yaml:3:53: partitionWeights.1-2: partition 1 has a weight already",
		"p.yaml:4:17: rebalancePause: invalid duration \"soon\" (expected e.g. 500ms, 15s, "
		"5m, 1h30m)",
		"p.yaml:5:17: commitInterval: invalid duration \"-1s\" (expected e.g. 500ms, 15s, "
		"5m, 1h30m)",
	};
	struct ls_scenario *sc = load_string(
		"duration: 1m\npartitions: 6\nperReplicaRate: 10\nproduce: [{at: 0s, rate: 5}]\n"
		"assignor: cooperative-sticky\npartitionWeights: {\"0\": 6, \"1-3,5\": 2.5}\n"
		"rebalancePause: 3s\ncommitInterval: 1500ms\n");
	static const double weights[] = {6, 2.5, 2.5, 2.5, 1, 2.5};

	ck_assert_int_eq(sc->assignor, LS_ASSIGNOR_COOPERATIVE_STICKY);
	ck_assert_ptr_nonnull(sc->partition_weights);
	for (int i = 0; i < 6; i++)
		ck_assert_double_eq(sc->partition_weights[i], weights[i]);
	ck_assert_int_eq(sc->rebalance_pause_ms, 3000);
	ck_assert_int_eq(sc->commit_interval_ms, 1500);
	ls_scenario_free(sc);

	/* The defaults: range, uniform, no pause, committed at once. */
	sc = load_string("duration: 1m\npartitions: 6\nperReplicaRate: 10\n"
			 "produce: [{at: 0s, rate: 5}]\n");
	ck_assert_int_eq(sc->assignor, LS_ASSIGNOR_RANGE);
	ck_assert_ptr_null(sc->partition_weights);
	ck_assert_int_eq(sc->rebalance_pause_ms, 0);
	ck_assert_int_eq(sc->commit_interval_ms, 0);
	ls_scenario_free(sc);

	expect_errors("duration: 1m\nassignor: sticky\n"
		      "partitionWeights: {\"0\": -1, x: 1, \"3-4\": 1, \"1\": 1, \"1-2\": 2}\n"
		      "rebalancePause: soon\ncommitInterval: -1s\n"
		      "partitions: 4\nperReplicaRate: 10\nproduce: [{at: 0s, rate: 5}]\n",
		      want, sizeof(want) / sizeof(want[0]));
	/* Every weight 0: nothing would be produced. */
	{
		static const char *const zero[] = {
			"p.yaml:4:19: partitionWeights: the weights of all partitions are 0: "
			"nothing would be produced",
		};

		expect_errors("duration: 1m\npartitions: 2\nperReplicaRate: 10\n"
			      "partitionWeights: {\"0-1\": 0}\nproduce: [{at: 0s, rate: 5}]\n",
			      zero, 1);
	}
}
END_TEST

START_TEST(test_sim_partition_weights)
{
	/* 2 partitions, weights 3:1, 100 msgs/s; 2 replicas of 50 msgs/s, one
	 * per partition: partition 0 receives 75 and falls behind 25/s,
	 * partition 1 receives 25 and keeps up. The engine sees it. */
	struct ls_scenario *sc = load_string(
		"duration: 100s\npartitions: 2\ninitialReplicas: 2\nperReplicaRate: 50\n"
		"partitionWeights: {\"0\": 3}\nproduce: [{at: 0s, rate: 100}]\n"
		"scaler: {policy: {minReplicas: 2, maxReplicas: 2, lagThreshold: 100000}}\n");
	struct ls_series s;
	struct ls_sim_result res;

	ls_series_init(&s);
	res = run(sc, LS_SIM_LAG, &s);
	ck_assert_int_eq(s.pts[100].lag, 2500);
	ck_assert_double_eq_tol(s.pts[50].consume_rate, 75, 1e-9);
	/* The oldest waiting message is on partition 0, consumed at 50 of
	 * its 75 msgs/s: produced at 2/3 t, so it waited t/3. */
	ck_assert_double_eq_tol(s.pts[99].lag_seconds, 33.0, 0.05);
	ck_assert_int_eq(res.peak_lag, 2500);
	/* One replica owns both under range: it splits its 50 msgs/s by
	 * water filling, 25 to partition 1 (all it needs), 25 to partition 0. */
	sc->initial_replicas = 1;
	sc->policy.min_replicas = 1;
	sc->policy.max_replicas = 1;
	ls_series_release(&s);
	ls_series_init(&s);
	run(sc, LS_SIM_LAG, &s);
	ck_assert_int_eq(s.pts[100].lag, 5000);
	ck_assert_double_eq_tol(s.pts[50].consume_rate, 50, 1e-9);
	ck_assert_double_eq_tol(s.pts[99].lag_seconds, 66.0, 0.05);
	ls_series_release(&s);
	ls_scenario_free(sc);
}
END_TEST

START_TEST(test_sim_rebalance_pause)
{
	/* 4 partitions, 10 msgs/s each; 2 replicas, a third joins at 10 s.
	 * Eager (range): nothing is consumed for the 5 s pause. Cooperative-
	 * sticky: only the partition that moves to the new member waits. */
	static const char base[] =
		"duration: 40s\npartitions: 4\ninitialReplicas: 2\nperReplicaRate: 100\n"
		"startupDelay: 10s\nrebalancePause: 5s\nproduce: [{at: 0s, rate: 40}]\n"
		"scaler: {policy: {minReplicas: 3, maxReplicas: 3, lagThreshold: 100000}}\n";
	char yaml[1024];
	struct ls_scenario *sc;
	struct ls_series s;

	snprintf(yaml, sizeof(yaml), "%sassignor: range\n", base);
	sc = load_string(yaml);
	ls_series_init(&s);
	run(sc, LS_SIM_LAG, &s);
	ck_assert_int_eq(s.pts[0].current_replicas, 3);
	ck_assert_double_eq_tol(s.pts[9].consume_rate, 40, 1e-9);
	ck_assert_double_eq_tol(s.pts[11].consume_rate, 0, 1e-9);
	ck_assert_double_eq_tol(s.pts[15].consume_rate, 0, 1e-9);
	ck_assert_int_eq(s.pts[15].lag, 200);
	ck_assert_double_gt(s.pts[16].consume_rate, 40); /* the backlog goes */
	ck_assert_int_eq(s.pts[30].lag, 0);
	ls_series_release(&s);
	ls_scenario_free(sc);

	snprintf(yaml, sizeof(yaml), "%sassignor: cooperative-sticky\n", base);
	sc = load_string(yaml);
	ls_series_init(&s);
	run(sc, LS_SIM_LAG, &s);
	ck_assert_double_eq_tol(s.pts[11].consume_rate, 30, 1e-9);
	ck_assert_double_eq_tol(s.pts[15].consume_rate, 30, 1e-9);
	ck_assert_int_eq(s.pts[15].lag, 50);
	ck_assert_int_eq(s.pts[30].lag, 0);
	ls_series_release(&s);
	ls_scenario_free(sc);
}
END_TEST

START_TEST(test_sim_commit_interval)
{
	/* Consumption keeps up; the lag Kafka reports is what the last commit
	 * left: it grows 10/s for 5 s, then falls to 0 at each commit. The
	 * message age follows consumption, not commits. */
	struct ls_scenario *sc = load_string(
		"duration: 20s\npartitions: 1\ninitialReplicas: 1\nperReplicaRate: 100\n"
		"commitInterval: 5s\nproduce: [{at: 0s, rate: 10}]\n"
		"scaler: {policy: {minReplicas: 1, maxReplicas: 1, lagThreshold: 100000}}\n");
	static const int64_t want[] = {0, 10, 20, 30, 40, 0, 10, 20, 30, 40, 0};
	struct ls_series s;
	struct ls_sim_result res;

	ls_series_init(&s);
	res = run(sc, LS_SIM_LAG, &s);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ck_assert_int_eq(s.pts[i].lag, want[i]);
		ck_assert_double_eq(s.pts[i].lag_seconds, 0);
	}
	ck_assert_int_eq(res.peak_lag, 40);
	/* Four 5 s saw teeth of 0 to 40: 100 message-seconds each. */
	ck_assert_double_eq_tol(res.lag_message_seconds, 400, 1e-6);
	ls_series_release(&s);
	sc->commit_interval_ms = 0;
	res = run(sc, LS_SIM_LAG, NULL);
	ck_assert_int_eq(res.peak_lag, 0);
	ls_scenario_free(sc);
}
END_TEST

/* The drain counts the episode that holds the peak: a blip above the
 * threshold before the spike does not stand for it, and a lag that drains
 * once and climbs to a higher peak that never drains is not drained. */
START_TEST(test_sim_drain_is_the_peak_episode)
{
	static const struct {
		double t;
		int64_t lag;
	} blip[] = {{0, 0}, {10, 250}, {12, 100}, {30, 700}, {60, 9000}, {100, 150}, {120, 50}},
	  again[] = {{0, 0}, {10, 5000}, {20, 100}, {30, 9000}, {40, 8000}};
	struct ls_drain d;
	bool drained;

	ls_drain_init(&d, 200);
	for (size_t i = 0; i < sizeof(blip) / sizeof(blip[0]); i++)
		ls_drain_see(&d, blip[i].t, blip[i].lag);
	ck_assert_double_eq(ls_drain_seconds(&d, 120, &drained), 70);
	ck_assert(drained);

	ls_drain_init(&d, 200);
	for (size_t i = 0; i < sizeof(again) / sizeof(again[0]); i++)
		ls_drain_see(&d, again[i].t, again[i].lag);
	ck_assert_double_eq(ls_drain_seconds(&d, 40, &drained), 10);
	ck_assert(!drained);

	ls_drain_init(&d, 200);
	ls_drain_see(&d, 0, 100);
	ck_assert_double_eq(ls_drain_seconds(&d, 5, &drained), 0);
	ck_assert(drained);
}
END_TEST

START_TEST(test_sim_drain_from_first_crossing)
{
	/* 200 msgs/s for 30 s into one replica of 100: the lag reaches one
	 * lagThreshold (1,000) at 10 s, peaks at 3,000 at 30 s, and drains
	 * at 100/s from 31 s: back under 1,000 at 52 s. drainSeconds is 42
	 * (from the first crossing), not 22 (from the peak). */
	struct ls_scenario *sc = load_string(
		"duration: 90s\npartitions: 1\ninitialReplicas: 1\nperReplicaRate: 100\n"
		"produce: [{at: 0s, rate: 200}, {at: 30s, rate: 200}, {at: 31s, rate: 0}]\n"
		"scaler: {policy: {minReplicas: 1, maxReplicas: 1, lagThreshold: 1000}}\n");
	struct ls_series s;
	struct ls_sim_result res;
	struct ls_series_summary sum;

	ls_series_init(&s);
	res = run(sc, LS_SIM_LAG, &s);
	ck_assert_int_eq(res.peak_lag, 3000);
	ck_assert(res.drained);
	ck_assert_double_eq(res.drain_seconds, 42);
	/* 45,000 up to 30 s, 3,000 for the flat second, 45,000 down. */
	ck_assert_double_eq_tol(res.lag_message_seconds, 93000, 1e-6);
	ck_assert_int_eq(ls_series_summarize(&s, 1000, &sum), 0);
	ck_assert(sum.drained);
	ck_assert_double_eq(sum.drain_seconds, 42);
	ck_assert_double_eq_tol(sum.lag_message_seconds, 93000, 1e-6);
	ls_series_release(&s);
	/* Never back under: -1, not drained. */
	sc->duration_ms = 40000;
	res = run(sc, LS_SIM_LAG, NULL);
	ck_assert(!res.drained);
	ck_assert_double_eq(res.drain_seconds, -1);
	ls_scenario_free(sc);
}
END_TEST

START_TEST(test_sim_oracle_by_hand)
{
	/* 4 partitions, 100 msgs/s per replica, startupDelay 10 s. At 150
	 * msgs/s each partition receives 37.5: 1 replica cannot carry 150, 2
	 * carry 75 each. From 60 s to 61 s the rate climbs to 350 (87.5 a
	 * partition): 2 would carry 175, so 4 are needed. The oracle looks
	 * startupDelay + step ahead: at 50 s its window [50, 61] reaches the
	 * climb, and the 2 new replicas consume from 60 s. Replica-seconds:
	 * 2 x 50 + 4 x 70 = 380; no lag. */
	struct ls_scenario *sc = load_string(
		"duration: 120s\npartitions: 4\ninitialReplicas: 2\nperReplicaRate: 100\n"
		"startupDelay: 10s\n"
		"produce: [{at: 0s, rate: 150}, {at: 60s, rate: 150}, {at: 61s, rate: 350}]\n"
		"scaler: {policy: {minReplicas: 1, maxReplicas: 4, lagThreshold: 1000}}\n");
	struct ls_series s;
	struct ls_sim_result res;

	ls_series_init(&s);
	res = run(sc, LS_SIM_ORACLE, &s);
	ck_assert_int_eq(res.policy, LS_SIM_ORACLE);
	ck_assert_int_eq(s.pts[49].current_replicas, 2);
	ck_assert_int_eq(s.pts[50].current_replicas, 4);
	ck_assert_double_eq_tol(res.replica_seconds, 380, 1e-9);
	ck_assert_int_eq(res.scale_events, 1);
	ck_assert_int_eq(res.peak_lag, 0);
	ls_series_release(&s);
	/* maxReplicas 3 is not useful on 4 partitions: it acts as 2, and the
	 * lag grows from 60 s. */
	sc->policy.max_replicas = 3;
	res = run(sc, LS_SIM_ORACLE, NULL);
	ck_assert_int_eq(res.max_replicas, 2);
	ck_assert_int_gt(res.peak_lag, 1000);
	ls_scenario_free(sc);
}
END_TEST

START_TEST(test_sim_compare)
{
	struct ls_scenario *sc = load_string(
		"name: cmp\nduration: 10m\npartitions: 8\ninitialReplicas: 1\nperReplicaRate: 100\n"
		"startupDelay: 10s\n"
		"produce: [{at: 0s, rate: 100}, {at: 2m, rate: 100}, {at: 3m, rate: 500}]\n"
		"scaler: {policy: {minReplicas: 1, maxReplicas: 8, lagThreshold: 500,\n"
		"  perReplicaRate: 100}}\n");
	struct ls_sim_result r[LS_SIM_COMPARE_N], keep;
	struct ls_series series[LS_SIM_COMPARE_N];
	const char *names[LS_SIM_COMPARE_N];
	struct ls_buf b;
	const char *p;

	ls_buf_init(&b, 0);
	for (size_t i = 0; i < LS_SIM_COMPARE_N; i++)
		ls_series_init(&series[i]);
	ck_assert_int_eq(ls_sim_compare(sc, series, r), 0);
	for (size_t i = 0; i < LS_SIM_COMPARE_N; i++) {
		ck_assert_int_eq(r[i].policy, ls_sim_compare_policies[i]);
		ck_assert(r[i].has_oracle_cost_ratio);
		ck_assert_double_eq_tol(r[i].oracle_cost_ratio,
					r[i].replica_seconds / r[3].replica_seconds, 1e-12);
		ck_assert_uint_eq(series[i].n, 601);
		names[i] = ls_sim_policy_name(r[i].policy);
	}
	ck_assert_int_eq(r[3].policy, LS_SIM_ORACLE);
	ck_assert_double_eq(r[3].oracle_cost_ratio, 1);

	ck_assert_int_eq(ls_sim_compare_text(r, LS_SIM_COMPARE_N, sc, &b), 0);
	p = ls_buf_str(&b);
	ck_assert(strncmp(p, "cmp: 10m, 8 partitions (range), lagThreshold 500\npolicy ",
			  strlen("cmp: 10m, 8 partitions (range), lagThreshold 500\npolicy ")) == 0);
	ck_assert_ptr_nonnull(strstr(p, "policy      peak lag  peak age    msg-seconds     drain"
					"    replica-s  x oracle  events reversals\n"));
	ck_assert_ptr_nonnull(strstr(p, "\nlag "));
	ck_assert_ptr_nonnull(strstr(p, "\nrate "));
	ck_assert_ptr_nonnull(strstr(p, "\nkeda "));
	ck_assert_ptr_nonnull(strstr(p, "\noracle "));
	ck_assert_ptr_nonnull(strstr(p, "      1.00 "));
	ls_buf_reset(&b);

	for (size_t i = 0; i < LS_SIM_COMPARE_N; i++)
		ck_assert_int_eq(ls_sim_result_json(&r[i], sc->name, &b), 0);
	p = ls_buf_str(&b);
	for (size_t i = 0; i < LS_SIM_COMPARE_N; i++) {
		char want[64];

		snprintf(want, sizeof(want), "{\"scenario\":\"cmp\",\"policy\":\"%s\",\"peakLag\":",
			 names[i]);
		ck_assert_msg(strncmp(p, want, strlen(want)) == 0, "%s", p);
		ck_assert_ptr_nonnull(strstr(p, "\"lagMessageSeconds\":"));
		ck_assert_ptr_nonnull(strstr(p, ",\"oracleCostRatio\":"));
		p = strchr(p, '\n');
		ck_assert_ptr_nonnull(p);
		p++;
	}
	ck_assert_str_eq(p, "");
	ck_assert_ptr_nonnull(strstr(ls_buf_str(&b), "\"policy\":\"oracle\""));
	ck_assert_ptr_nonnull(strstr(ls_buf_str(&b), "\"oracleCostRatio\":1.000}\n"));
	ls_buf_reset(&b);

	/* One chart with the four replica curves. */
	{
		struct ls_chart_options co = {.title = "cmp", .lag_threshold = 500,
					      .max_replicas = 8};
		size_t curves = 0;

		ck_assert_int_eq(ls_chart_compare_svg(series, names, LS_SIM_COMPARE_N, &co, &b),
				 0);
		for (p = ls_buf_str(&b); (p = strstr(p, "<path fill=\"none\"")); p++)
			curves++;
		ck_assert_uint_eq(curves, LS_SIM_COMPARE_N);
		ck_assert_ptr_nonnull(strstr(ls_buf_str(&b), ">oracle</text>"));
		ck_assert_ptr_nonnull(strstr(ls_buf_str(&b), "</svg>\n"));
		ck_assert_int_eq(ls_chart_compare_svg(series, names, 0, &co, &b), -EINVAL);
		ck_assert_int_eq(ls_chart_compare_svg(NULL, names, 4, &co, &b), -EINVAL);
	}

	/* Failure: ret untouched. */
	memset(&keep, 0x5a, sizeof(keep));
	r[0] = keep;
	ck_assert_int_eq(ls_sim_compare(NULL, NULL, r), -EINVAL);
	sc->policy.lag_threshold = 0;
	ck_assert_int_eq(ls_sim_compare(sc, NULL, r), -EINVAL);
	ck_assert_mem_eq(&r[0], &keep, sizeof(keep));

	ls_buf_release(&b);
	for (size_t i = 0; i < LS_SIM_COMPARE_N; i++)
		ls_series_release(&series[i]);
	ls_scenario_free(sc);
}
END_TEST

/* True when r is a useful count of p partitions: ceil(p / k) for some k. */
static bool useful(int32_t p, int32_t r)
{
	for (int32_t k = 1; k <= p; k++)
		if ((p + k - 1) / k == r)
			return true;
	return false;
}

/* Times the lag goes from under one lagThreshold to at or above it. */
static int hills(const struct ls_series *s, double thr)
{
	int n = 0;

	for (size_t i = 0; i < s->n; i++)
		if ((double)s->pts[i].lag >= thr && (i == 0 || (double)s->pts[i - 1].lag < thr))
			n++;
	return n;
}

START_TEST(test_sim_demo_24)
{
	/* Issue 10: the demo's case never sits at a count the 24 partitions
	 * cannot use, and has one hill. The oracle keeps the lag under one
	 * lagThreshold with all 24 at the peak. */
	struct ls_scenario *sc = load_file("demo-24.yaml");
	enum ls_sim_policy pols[] = {LS_SIM_LAG, LS_SIM_RATE, LS_SIM_ORACLE};

	for (size_t k = 0; k < 3; k++) {
		struct ls_series s;
		struct ls_sim_result res;

		ls_series_init(&s);
		res = run(sc, pols[k], &s);
		for (size_t i = 0; i < s.n; i++)
			ck_assert_msg(useful(24, s.pts[i].current_replicas), "%s at %d at %g s",
				      ls_sim_policy_name(pols[k]), s.pts[i].current_replicas,
				      s.pts[i].t_s);
		ck_assert_msg(hills(&s, 5000) <= 1, "%s: %d hills", ls_sim_policy_name(pols[k]),
			      hills(&s, 5000));
		ck_assert(res.drained);
		if (pols[k] == LS_SIM_ORACLE) {
			ck_assert_int_lt(res.peak_lag, 5000);
			ck_assert_int_eq(res.max_replicas, 24);
		}
		ls_series_release(&s);
	}
	ls_scenario_free(sc);
}
END_TEST

START_TEST(test_sim_hot_partition)
{
	/* Partition 0 receives more than one replica processes during the busy
	 * hour: its lag grows whatever the count, so every policy ends the
	 * hour behind; nobody goes beyond the 24 partitions (the top useful
	 * count), and after the hour everything drains. */
	struct ls_scenario *sc = load_file("hot-partition.yaml");
	enum ls_sim_policy pols[] = {LS_SIM_LAG, LS_SIM_RATE, LS_SIM_KEDA, LS_SIM_ORACLE};

	ck_assert_double_gt(1200.0 * 6 / 29, sc->per_replica_rate);
	for (size_t k = 0; k < 4; k++) {
		struct ls_sim_result res = run(sc, pols[k], NULL);

		/* Even alone on a consumer, partition 0 gains 48 msgs/s for 29 min. */
		ck_assert_int_gt(res.peak_lag, 48 * 29 * 60);
		ck_assert_int_le(res.max_replicas, 24);
	}
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
		parts[i] = (struct ls_partition_offsets){
		    .partition = i, .committed = 0, .end = 100000, .log_start = LS_OFFSET_UNKNOWN};
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
		parts[i] = (struct ls_partition_offsets){
		    .partition = i, .committed = 0, .end = 50, .log_start = LS_OFFSET_UNKNOWN};
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
	tcase_add_test(tc, test_sim_chart_lines);
	tcase_add_test(tc, test_sim_scenario_partition_keys);
	tcase_add_test(tc, test_sim_partition_weights);
	tcase_add_test(tc, test_sim_rebalance_pause);
	tcase_add_test(tc, test_sim_commit_interval);
	tcase_add_test(tc, test_sim_drain_from_first_crossing);
	tcase_add_test(tc, test_sim_drain_is_the_peak_episode);
	tcase_add_test(tc, test_sim_oracle_by_hand);
	tcase_add_test(tc, test_sim_compare);
	tcase_add_test(tc, test_sim_demo_24);
	tcase_add_test(tc, test_sim_hot_partition);
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
