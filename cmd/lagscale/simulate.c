/*
 * simulate.c - `lagscale simulate --scenario FILE [--policy
 * lag|rate|keda|oracle | --compare] [--csv F] [--svg F] [--output
 * text|json] [--trace]` (DESIGN.md sections 6 and 7).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "cmdutil.h"
#include "config/scenario.h"
#include "sim/chart.h"
#include "sim/series.h"
#include "sim/sim.h"
#include "util/buf.h"

static int simulate_run(int argc, char **argv);

enum { F_SCENARIO = 's', F_POLICY = 'p', F_COMPARE = 'C', F_CSV = 'c', F_SVG = 'g',
       F_OUTPUT = 'o', F_TRACE = 't' };

const struct ls_cmdutil_command ls_cmd_simulate = {
	.name = "simulate",
	.summary = "Replay a load scenario against a scaling policy, in virtual time",
	.usage = "lagscale simulate --scenario FILE [--policy lag|rate|keda|oracle] [flags]\n"
		 "lagscale simulate --scenario FILE --compare [--svg F] [--output text|json]",
	.description =
		"Runs a scenario file (a produce-rate curve, partitions, per-replica rate, "
		"startup delay, outages) through a policy in virtual time, in well under a "
		"second, and prints a summary: the peak lag, how long the oldest message "
		"waited, the drain time, the replica-seconds spent and the number of scale "
		"events. Nothing is contacted.\n\n"
		"The policies: lag and rate are lagscale's engine in either mode, keda is "
		"KEDA's Kafka scaler behind an HPA, and oracle a yardstick that knows the "
		"future. --compare runs all four on one scenario.",
	.flags = (const struct ls_cmdutil_flag[]){
		{"scenario", 0, F_SCENARIO, "FILE", NULL, "The scenario file (YAML). Required."},
		{"policy", 0, F_POLICY, "lag|rate|keda|oracle", "the scenario's own policy block",
		 "The policy to replay; lag and rate force the engine's mode."},
		{"compare", 0, F_COMPARE, NULL, "off",
		 "Run lag, rate, keda and oracle: one table with each policy's replica-seconds "
		 "as a multiple of the oracle's (or one JSON object per policy), and with "
		 "--svg one chart. Takes neither --policy, --csv nor --trace."},
		{"csv", 0, F_CSV, "FILE", "none", "Write the time series (one row per step) as CSV."},
		{"svg", 0, F_SVG, "FILE", "none", "Write a chart of lag and replicas as SVG."},
		{"output", 'o', F_OUTPUT, "text|json", "text",
		 "The summary as text, or as one JSON object per line."},
		{"trace", 0, F_TRACE, NULL, "off", "Print every decision on stderr as it is made."},
		{0},
	},
	.examples = "# How does the rate mode handle a spike?\n"
		    "lagscale simulate --scenario test/scenarios/friday-spike.yaml --policy rate\n"
		    "\n"
		    "# Every policy on one scenario, with a chart\n"
		    "lagscale simulate --scenario storm.yaml --compare --svg storm.svg",
	.exit_codes = "0  success\n"
		      "1  a file could not be written\n"
		      "2  bad usage, or an invalid scenario (its errors are printed)",
	.run = simulate_run,
};

/* --trace: every decision on stderr, as `run` would log it. */
static void trace(void *ctx, int64_t t_ms, const struct ls_decision *d)
{
	(void)ctx;
	fprintf(stderr, "t=%7.1fs %-10s %3d -> %3d (recommended %d): %s\n", (double)t_ms / 1000.0,
		ls_policy_action_name(d->action), d->current_replicas, d->desired_replicas,
		d->recommended_replicas, d->reason);
}

/* --compare: every policy on sc, one table or one JSON object each, one chart. */
static int run_compare(const struct ls_scenario *sc, const char *path, const char *svg, bool json,
		       struct ls_series *series, struct ls_sim_result *res, struct ls_buf *out)
{
	const char *names[LS_SIM_COMPARE_N];
	int r;

	r = ls_sim_compare(sc, svg ? series : NULL, res);
	if (r < 0) {
		fprintf(stderr, "lagscale simulate: \"%s\": %s\n", path,
			r == -EINVAL ? "the scenario's policy is inconsistent" : strerror(-r));
		return r == -EINVAL ? LS_EXIT_USAGE : LS_EXIT_FAILURE;
	}
	if (svg) {
		char title[256], sub[256];
		struct ls_chart_options co = {
			.title = title,
			.subtitle = sub,
			.lag_threshold = (double)sc->policy.lag_threshold,
			.max_replicas = sc->policy.max_replicas,
		};

		for (size_t i = 0; i < LS_SIM_COMPARE_N; i++)
			names[i] = ls_sim_policy_name(res[i].policy);
		snprintf(title, sizeof(title), "%s — lag, rate, keda and the oracle",
			 sc->name ? sc->name : path);
		snprintf(sub, sizeof(sub),
			 "replica-seconds as a multiple of the oracle's: lag %.2f, rate %.2f, "
			 "keda %.2f",
			 res[0].oracle_cost_ratio, res[1].oracle_cost_ratio,
			 res[2].oracle_cost_ratio);
		r = ls_chart_write_compare_svg(series, names, LS_SIM_COMPARE_N, &co, svg);
		if (r < 0) {
			fprintf(stderr, "lagscale simulate: cannot write \"%s\": %s\n", svg,
				strerror(-r));
			return LS_EXIT_FAILURE;
		}
	}
	if (json) {
		r = 0;
		for (size_t i = 0; i < LS_SIM_COMPARE_N && r == 0; i++)
			r = ls_sim_result_json(&res[i], sc->name ? sc->name : "", out);
	} else {
		r = ls_sim_compare_text(res, LS_SIM_COMPARE_N, sc, out);
	}
	if (r < 0 || fwrite(ls_buf_str(out), 1, out->len, stdout) != out->len ||
	    fflush(stdout) != 0) {
		fprintf(stderr, "lagscale simulate: cannot write the summary\n");
		return LS_EXIT_FAILURE;
	}
	return LS_EXIT_OK;
}

static int simulate_run(int argc, char **argv)
{
	struct ls_cmdutil_args args;
	const char *v;
	const char *path = NULL, *csv = NULL, *svg = NULL;
	struct ls_sim_options so = {.policy = LS_SIM_SCENARIO};
	struct ls_scenario *sc = NULL;
	struct ls_series series;
	struct ls_sim_result res;
	struct ls_diag diag;
	struct ls_buf out;
	struct ls_series cmp_series[LS_SIM_COMPARE_N];
	struct ls_sim_result cmp[LS_SIM_COMPARE_N];
	bool json = false, compare = false, policy_given = false;
	int c, r, rc = LS_EXIT_USAGE;

	for (size_t i = 0; i < LS_SIM_COMPARE_N; i++)
		ls_series_init(&cmp_series[i]);
	ls_series_init(&series);
	ls_diag_init(&diag);
	ls_buf_init(&out, 0);
	ls_cmdutil_args_init(&args, &ls_cmd_simulate, argc, argv);
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
		case F_POLICY:
			if (ls_sim_policy_parse(v, &so.policy) < 0) {
				ls_cmdutil_usage_error(&ls_cmd_simulate,
						       "--policy must be lag, rate, keda or oracle, "
						       "not \"%s\"",
						       v);
				goto out;
			}
			policy_given = true;
			break;
		case F_COMPARE:
			compare = true;
			break;
		case F_CSV:
			csv = v;
			break;
		case F_SVG:
			svg = v;
			break;
		case F_OUTPUT:
			if (strcmp(v, "json") == 0) {
				json = true;
			} else if (strcmp(v, "text") == 0) {
				json = false;
			} else {
				ls_cmdutil_usage_error(&ls_cmd_simulate,
						       "--output must be text or json, not \"%s\"", v);
				goto out;
			}
			break;
		case F_TRACE:
			so.on_decision = trace;
			break;
		}
	}
	if (optind < argc) {
		ls_cmdutil_usage_error(&ls_cmd_simulate, "unexpected argument \"%s\"",
				       argv[optind]);
		goto out;
	}
	if (!path) {
		ls_cmdutil_usage_error(&ls_cmd_simulate, "--scenario FILE is required");
		goto out;
	}

	if (compare && (policy_given || csv || so.on_decision)) {
		ls_cmdutil_usage_error(&ls_cmd_simulate, "--compare runs every policy; it takes "
							 "neither --policy, --csv nor --trace");
		goto out;
	}

	r = ls_scenario_load(path, &sc, &diag);
	ls_cmdutil_print_diag(&diag, path, r);
	if (r < 0)
		goto out;
	if (compare) {
		rc = run_compare(sc, path, svg, json, cmp_series, cmp, &out);
		goto out;
	}

	if (csv || svg)
		so.series = &series;
	r = ls_sim_run(sc, &so, &res);
	if (r < 0) {
		fprintf(stderr, "lagscale simulate: \"%s\": %s\n", path,
			r == -EINVAL ? "the scenario's policy is inconsistent" : strerror(-r));
		rc = r == -EINVAL ? LS_EXIT_USAGE : LS_EXIT_FAILURE;
		goto out;
	}

	rc = LS_EXIT_FAILURE;
	if (csv && (r = ls_series_write_csv(&series, csv)) < 0) {
		fprintf(stderr, "lagscale simulate: cannot write \"%s\": %s\n", csv, strerror(-r));
		goto out;
	}
	if (svg) {
		char title[256], sub[256], a[32], b[32];
		struct ls_chart_options co = {
			.title = title,
			.subtitle = sub,
			.lag_threshold = (double)sc->policy.lag_threshold,
			.max_consume_rate = sc->max_consume_rate,
			.max_replicas = sc->policy.max_replicas,
		};

		snprintf(title, sizeof(title), "%s — policy %s", sc->name ? sc->name : path,
			 ls_sim_policy_name(res.policy));
		snprintf(sub, sizeof(sub),
			 "peak lag %s, oldest message waited %.0f s, drained in %.0f s, "
			 "%s replica-seconds, %d scale events",
			 ls_policy_format_count(res.peak_lag, a, sizeof(a)), res.peak_lag_seconds,
			 res.drain_seconds,
			 ls_policy_format_count((int64_t)(res.replica_seconds + 0.5), b, sizeof(b)),
			 res.scale_events);
		r = ls_chart_write_svg(&series, &co, svg);
		if (r < 0) {
			fprintf(stderr, "lagscale simulate: cannot write \"%s\": %s\n", svg,
				strerror(-r));
			goto out;
		}
	}
	r = json ? ls_sim_result_json(&res, sc->name ? sc->name : "", &out)
		 : ls_sim_result_text(&res, sc, &out);
	if (r < 0 || fwrite(ls_buf_str(&out), 1, out.len, stdout) != out.len ||
	    fflush(stdout) != 0) {
		fprintf(stderr, "lagscale simulate: cannot write the summary\n");
		goto out;
	}
	rc = LS_EXIT_OK;
out:
	ls_buf_release(&out);
	ls_diag_release(&diag);
	ls_series_release(&series);
	for (size_t i = 0; i < LS_SIM_COMPARE_N; i++)
		ls_series_release(&cmp_series[i]);
	ls_scenario_free(sc);
	return rc;
}
