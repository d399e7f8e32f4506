/*
 * test-lag.c - `lagscale lag` and `lagscale run --dry-run --once` against
 * librdkafka's mock cluster, started in this process; the real binary
 * connects to it over loopback. Expected numbers are computed by hand in
 * the comments.
 */
#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "util/clock.h"
#include "kafka/mock.h"

static struct ls_kafka_mock *mock;
static char bootstraps[256];

/*
 * orders: 6 partitions, partition p holds 100 + 10p messages.
 * payments: 3 partitions of 50 messages.
 * g-full:    orders p at 40 + p (lag 60 + 9p, total 495); payments p0 50, p1 10.
 * g-partial: orders p0..p2 at 40 + p; p3..p5 never committed.
 * g-none:    nothing committed.
 */
static void setup(void)
{
	struct ls_kafka_mock_offset full[8], partial[3];

	ck_assert_int_eq(ls_kafka_mock_new(3, &mock), 0);
	snprintf(bootstraps, sizeof(bootstraps), "%s", ls_kafka_mock_bootstraps(mock));
	ck_assert_int_eq(ls_kafka_mock_topic_create(mock, "orders", 6), 0);
	ck_assert_int_eq(ls_kafka_mock_topic_create(mock, "payments", 3), 0);
	for (int p = 0; p < 6; p++)
		ck_assert_int_eq(ls_kafka_mock_produce(mock, "orders", p, 100 + 10 * p, 0), 0);
	for (int p = 0; p < 3; p++)
		ck_assert_int_eq(ls_kafka_mock_produce(mock, "payments", p, 50, 0), 0);
	ck_assert_int_eq(ls_kafka_mock_flush(mock, 10000), 0);
	for (int p = 0; p < 6; p++)
		full[p] = (struct ls_kafka_mock_offset){"orders", p, 40 + p};
	full[6] = (struct ls_kafka_mock_offset){"payments", 0, 50};
	full[7] = (struct ls_kafka_mock_offset){"payments", 1, 10};
	ck_assert_int_eq(ls_kafka_mock_commit(mock, "g-full", full, 8), 0);
	for (int p = 0; p < 3; p++)
		partial[p] = (struct ls_kafka_mock_offset){"orders", p, 40 + p};
	ck_assert_int_eq(ls_kafka_mock_commit(mock, "g-partial", partial, 3), 0);
}

static void teardown(void)
{
	ls_kafka_mock_free(mock);
	mock = NULL;
}

/* Runs lagscale and parses its single JSON line. */
static cJSON *run_json(const char *const *args, int want_status)
{
	struct ls_test_run r;
	cJSON *j;

	ck_assert_int_eq(ls_test_run_lagscale(args, 30000, &r), 0);
	ck_assert_msg(r.status == want_status, "exit %d, stderr: %s", r.status, r.err);
	j = cJSON_Parse(r.out);
	ck_assert_msg(j != NULL, "not JSON: %s", r.out);
	ls_test_run_release(&r);
	return j;
}

static long long num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	ck_assert_msg(cJSON_IsNumber(v), "no number %s", key);
	return (long long)v->valuedouble;
}

static const cJSON *topic(const cJSON *group, const char *name)
{
	const cJSON *t;

	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(group, "topics"))
	{
		if (strcmp(cJSON_GetObjectItemCaseSensitive(t, "topic")->valuestring, name) == 0)
			return t;
	}
	return NULL;
}

START_TEST(test_lag_flags_full_group)
{
	const char *args[] = {"lag", "--bootstrap-servers", bootstraps, "--group", "g-full",
			      "--topic", "orders", "--output", "json", NULL};
	cJSON *j = run_json(args, 0);
	const cJSON *t = topic(j, "orders"), *p;
	int i = 0;

	ck_assert_str_eq(cJSON_GetObjectItem(j, "group")->valuestring, "g-full");
	ck_assert_int_eq(num(j, "totalLag"), 495);
	ck_assert_int_eq(num(j, "partitionCount"), 6);
	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_null(topic(j, "payments"));
	cJSON_ArrayForEach(p, cJSON_GetObjectItem(t, "partitions"))
	{
		ck_assert_int_eq(num(p, "partition"), i);
		ck_assert_int_eq(num(p, "committed"), 40 + i);
		ck_assert_int_eq(num(p, "end"), 100 + 10 * i);
		ck_assert_int_eq(num(p, "lag"), 60 + 9 * i);
		i++;
	}
	ck_assert_int_eq(i, 6);
	cJSON_Delete(j);
}
END_TEST

START_TEST(test_lag_every_committed_topic)
{
	/* No --topic: both topics g-full committed to; payments p2 never
	 * committed counts 1 under latest: 0 + 40 + 1. */
	const char *args[] = {"lag", "--bootstrap-servers", bootstraps, "--group", "g-full",
			      "--output", "json", NULL};
	cJSON *j = run_json(args, 0);
	const cJSON *pay = topic(j, "payments");

	ck_assert_ptr_nonnull(topic(j, "orders"));
	ck_assert_ptr_nonnull(pay);
	ck_assert_int_eq(num(pay, "lag"), 41);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(
		cJSON_GetArrayItem(cJSON_GetObjectItem(pay, "partitions"), 2), "committed")));
	ck_assert_int_eq(num(j, "totalLag"), 495 + 41);
	ck_assert_int_eq(num(j, "partitionCount"), 9);
	cJSON_Delete(j);
}
END_TEST

START_TEST(test_lag_uncommitted_latest_and_earliest)
{
	/* g-partial: 60 + 69 + 78 = 207 committed lag; p3..p5 count 1 each
	 * under latest (210), their whole log under earliest: 130 + 140 +
	 * 150, total 627. */
	const char *latest[] = {"lag", "--bootstrap-servers", bootstraps, "--group", "g-partial",
				"--topic", "orders", "--output", "json", NULL};
	const char *earliest[] = {"lag", "--bootstrap-servers", bootstraps, "--group", "g-partial",
				  "--topic", "orders", "--offset-reset", "earliest", "--output",
				  "json", NULL};
	cJSON *j = run_json(latest, 0);

	ck_assert_int_eq(num(j, "totalLag"), 210);
	cJSON_Delete(j);
	j = run_json(earliest, 0);
	ck_assert_int_eq(num(j, "totalLag"), 627);
	cJSON_Delete(j);
}
END_TEST

START_TEST(test_lag_group_without_commits)
{
	/* g-none on orders: 6 partitions at 1 under latest. */
	const char *args[] = {"lag", "--bootstrap-servers", bootstraps, "--group", "g-none",
			      "--topic", "orders", "--output", "json", NULL};
	cJSON *j = run_json(args, 0);

	ck_assert_int_eq(num(j, "totalLag"), 6);
	cJSON_Delete(j);
}
END_TEST

START_TEST(test_lag_missing_topic_fails)
{
	const char *args[] = {"lag", "--bootstrap-servers", bootstraps, "--group", "g-full",
			      "--topic", "nope", NULL};
	struct ls_test_run r;

	ck_assert_int_eq(ls_test_run_lagscale(args, 30000, &r), 0);
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "\"nope\""));
	ls_test_run_release(&r);
}
END_TEST

START_TEST(test_lag_unreachable_broker)
{
	/* Nothing listens on port 1: a clear error within the timeout. */
	const char *args[] = {"lag", "--bootstrap-servers", "127.0.0.1:1", "--group", "g",
			      "--timeout", "3s", "-X", "sasl.password=hunter2", NULL};
	struct ls_test_run r;

	ck_assert_int_eq(ls_test_run_lagscale(args, 20000, &r), 0);
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "127.0.0.1:1"));
	ck_assert_ptr_null(strstr(r.err, "hunter2"));
	ck_assert_ptr_null(strstr(r.out, "hunter2"));
	ls_test_run_release(&r);
}
END_TEST

/*
 * TLS to a listener that speaks no TLS (the mock cluster is PLAINTEXT): the
 * handshake fails at once, so the read ends at once, not at its timeout,
 * with one line naming the cluster and the cause.
 */
START_TEST(test_lag_tls_to_plaintext_listener_fails_at_once)
{
	const char *args[] = {"lag",	 "--bootstrap-servers", bootstraps, "--group", "g-full",
			      "--timeout", "30s", "-X", "security.protocol=SSL", NULL};
	struct ls_test_run r;
	long long t0 = ls_clock_mono_ms();
	long long took;

	ck_assert_int_eq(ls_test_run_lagscale(args, 60000, &r), 0);
	took = ls_clock_mono_ms() - t0;
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(took < 15000, "took %lld ms against a 30 s timeout", took);
	ck_assert_ptr_nonnull(strstr(r.err, bootstraps));
	ck_assert_ptr_nonnull(strstr(r.err, "the TLS handshake failed"));
	/* One line. */
	ck_assert_ptr_nonnull(strchr(r.err, '\n'));
	ck_assert_ptr_null(strchr(r.err, '\n') + 1 < r.err + strlen(r.err)
				   ? strchr(strchr(r.err, '\n') + 1, '\n')
				   : NULL);
	ls_test_run_release(&r);
}
END_TEST

/* OIDC: a missing setting is a usage error naming it (exit 2); a token
 * endpoint that does not answer ends the read at once, naming the cause. */
START_TEST(test_lag_oidc_settings)
{
	const char *missing[] = {"lag", "--bootstrap-servers", bootstraps, "--group", "g-full",
				 "-X", "security.protocol=SASL_PLAINTEXT",
				 "-X", "sasl.mechanism=OAUTHBEARER",
				 "-X", "sasl.oauthbearer.method=oidc",
				 "-X", "sasl.oauthbearer.client.id=lagscale",
				 "-X", "sasl.oauthbearer.client.secret=s3cr3t-value", NULL};
	const char *down[] = {"lag", "--bootstrap-servers", bootstraps, "--group", "g-full",
			      "--timeout", "30s",
			      "-X", "security.protocol=SASL_PLAINTEXT",
			      "-X", "sasl.mechanism=OAUTHBEARER",
			      "-X", "sasl.oauthbearer.method=oidc",
			      "-X", "sasl.oauthbearer.client.id=lagscale",
			      "-X", "sasl.oauthbearer.client.secret=s3cr3t-value",
			      "-X", "sasl.oauthbearer.token.endpoint.url=http://127.0.0.1:1/token", NULL};
	struct ls_test_run r;
	long long t0;

	ck_assert_int_eq(ls_test_run_lagscale(missing, 20000, &r), 0);
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "sasl.oauthbearer.token.endpoint.url"));
	ck_assert_ptr_null(strstr(r.err, "s3cr3t-value"));
	ls_test_run_release(&r);

	t0 = ls_clock_mono_ms();
	ck_assert_int_eq(ls_test_run_lagscale(down, 60000, &r), 0);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(ls_clock_mono_ms() - t0 < 15000, "a dead token endpoint waited for the timeout");
	ck_assert_ptr_nonnull(strstr(r.err, "no OAUTHBEARER token could be had"));
	ck_assert_ptr_nonnull(strstr(r.err, bootstraps));
	ck_assert_ptr_null(strstr(r.err, "s3cr3t-value"));
	ls_test_run_release(&r);
}
END_TEST

/*
 * `lagscale version` names the librdkafka really loaded: the one meson
 * built against (not Debian 12's 2.0.2, which has the same soname), from
 * its directory when that is not a system one, with SCRAM and OIDC, and
 * the lagscale patches the rdkafka.h it was built with has (the fix of
 * #4605, the coordinator cache; as meson found them in the same header).
 */
START_TEST(test_version_names_the_loaded_librdkafka)
{
	const char *args[] = {"version", NULL};
	const char *want = getenv("LS_RDKAFKA_VERSION");
	const char *libdir = getenv("LS_RDKAFKA_LIBDIR");
	const char *fix = getenv("LS_RDKAFKA_FIX_4605");
	const char *coord = getenv("LS_RDKAFKA_COORD_CACHE");
	bool has_fix, has_coord;
	struct ls_test_run r;
	char line[128];

	ck_assert_ptr_nonnull(want);
	ck_assert_int_eq(ls_test_run_lagscale(args, 20000, &r), 0);
	ck_assert_int_eq(r.status, 0);
	snprintf(line, sizeof(line), "\nlibrdkafka %s (built against %s, loaded from ", want, want);
	ck_assert_msg(strstr(r.out, line), "want \"%s\" in:\n%s", line + 1, r.out);
	if (libdir && libdir[0] && strncmp(libdir, "/usr/", 5) != 0) {
		snprintf(line, sizeof(line), "loaded from %s/librdkafka.so", libdir);
		ck_assert_msg(strstr(r.out, line), "want \"%s\" in:\n%s", line, r.out);
	}
	ck_assert_ptr_nonnull(fix);
	ck_assert_ptr_nonnull(coord);
	has_fix = strcmp(fix, "1") == 0;
	has_coord = strcmp(coord, "1") == 0;
	snprintf(line, sizeof(line), "\nlibrdkafka patches (built against): %s%s%s\n",
		 has_fix ? "lagscale #4605" : "", has_fix && has_coord ? ", " : "",
		 has_coord ? (has_fix ? "coordinator cache" : "lagscale coordinator cache")
			   : (has_fix ? "" : "none"));
	ck_assert_msg(strstr(r.out, line), "want \"%s\" in:\n%s", line + 1, r.out);
	ck_assert_ptr_nonnull(strstr(r.out, "\nlibrdkafka features: "));
	ck_assert_ptr_nonnull(strstr(r.out, "sasl_scram"));
	ck_assert_ptr_nonnull(strstr(r.out, "sasl_oauthbearer"));
	ck_assert_ptr_nonnull(strstr(r.out, "oidc"));
	ck_assert_ptr_nonnull(strstr(r.out, "ssl"));
	ls_test_run_release(&r);
}
END_TEST

/*
 * AWS MSK IAM: lagscale's own properties are checked at start (exit 2,
 * naming the property); with credentials, a token is signed and offered
 * over OAUTHBEARER, which the mock cluster (no SASL) refuses at once. The
 * secret key is never printed.
 */
START_TEST(test_lag_msk_iam_settings)
{
	const char *no_region[] = {"lag", "--bootstrap-servers", bootstraps, "--group", "g-full",
				   "-X", "sasl.mechanism=AWS_MSK_IAM", NULL};
	const char *stray[] = {"lag", "--bootstrap-servers", bootstraps, "--group", "g-full",
			       "-X", "aws.region=eu-west-1", NULL};
	const char *unknown[] = {"lag", "--bootstrap-servers", bootstraps, "--group", "g-full",
				 "-X", "sasl.mechanism=AWS_MSK_IAM", "-X", "aws.regoin=eu-west-1",
				 NULL};
	const char *signed_[] = {"lag", "--bootstrap-servers", bootstraps, "--group", "g-full",
				 "--timeout", "30s", "-X", "sasl.mechanism=AWS_MSK_IAM",
				 "-X", "aws.region=eu-west-1",
				 "-X", "security.protocol=SASL_PLAINTEXT", NULL};
	struct ls_test_run r;
	long long t0;

	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
	unsetenv("AWS_ROLE_ARN");
	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-secret-never-printed", 1);
	ck_assert_int_eq(ls_test_run_lagscale(no_region, 20000, &r), 0);
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "AWS_MSK_IAM"));
	ck_assert_ptr_nonnull(strstr(r.err, "region"));
	ls_test_run_release(&r);
	ck_assert_int_eq(ls_test_run_lagscale(stray, 20000, &r), 0);
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "aws.region"));
	ls_test_run_release(&r);
	ck_assert_int_eq(ls_test_run_lagscale(unknown, 20000, &r), 0);
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "aws.regoin"));
	ls_test_run_release(&r);

	t0 = ls_clock_mono_ms();
	ck_assert_int_eq(ls_test_run_lagscale(signed_, 60000, &r), 0);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(ls_clock_mono_ms() - t0 < 15000, "a refused login waited for the timeout");
	ck_assert_ptr_nonnull(strstr(r.err, "OAUTHBEARER"));
	ck_assert_ptr_null(strstr(r.err, "secret-never-printed"));
	ck_assert_ptr_null(strstr(r.out, "secret-never-printed"));
	ls_test_run_release(&r);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
}
END_TEST

START_TEST(test_lag_bad_flags)
{
	const char *missing[] = {"lag", "--group", "g", NULL};
	const char *bad_out[] = {"lag", "--bootstrap-servers", "x:1", "--group", "g", "--output",
				 "yaml", NULL};
	const char *unknown[] = {"lag", "--bogus", NULL};
	struct ls_test_run r;

	ck_assert_int_eq(ls_test_run_lagscale(missing, 10000, &r), 0);
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "--bootstrap-servers"));
	ls_test_run_release(&r);
	ck_assert_int_eq(ls_test_run_lagscale(bad_out, 10000, &r), 0);
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "--output"));
	ls_test_run_release(&r);
	ck_assert_int_eq(ls_test_run_lagscale(unknown, 10000, &r), 0);
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "--bogus"));
	ls_test_run_release(&r);
}
END_TEST

/* The output of one run, which must exit with want_status. */
static void run_ok(const char *const *args, int want_status, struct ls_test_run *r)
{
	ck_assert_int_eq(ls_test_run_lagscale(args, 30000, r), 0);
	ck_assert_msg(r->status == want_status, "%s: exit %d, stderr: %s", args[0], r->status,
		      r->err);
}

/*
 * Every command's --help, `-h` and `lagscale help CMD` exit 0 and print the
 * same page: what the command does, every flag of DESIGN.md section 6 (a
 * flag missing from the page fails here), examples and exit codes.
 */
START_TEST(test_help_every_command)
{
	static const struct {
		const char *cmd;
		const char *const flags[16];
	} cmds[] = {
	    {"run", {"--config", "--dry-run", "--once", "--assume-replicas", "--kubeconfig",
		     "--context", "--output", "--help"}},
	    {"lag", {"--bootstrap-servers", "--group", "--all-groups", "--topic", "-X",
		     "--config", "--scaler", "--output", "--offset-reset", "--isolation-level",
		     "--timeout", "--help"}},
	    {"simulate", {"--scenario", "--policy", "--compare", "--csv", "--svg", "--output",
			  "--trace", "--help"}},
	    {"demo", {"--scenario", "--speed", "--svg", "--csv", "--help"}},
	    {"check-config", {"--help"}},
	    {"version", {"--help"}},
	};
	struct ls_test_run r, h, s;

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		const char *help[] = {cmds[i].cmd, "--help", NULL};
		const char *via_help[] = {"help", cmds[i].cmd, NULL};
		const char *dash_h[] = {cmds[i].cmd, "-h", NULL};
		char title[64];

		run_ok(help, 0, &r);
		run_ok(via_help, 0, &h);
		run_ok(dash_h, 0, &s);
		ck_assert_str_eq(r.out, h.out);
		ck_assert_str_eq(r.out, s.out);
		ck_assert_str_eq(r.err, "");
		snprintf(title, sizeof(title), "lagscale %s - ", cmds[i].cmd);
		ck_assert_msg(strncmp(r.out, title, strlen(title)) == 0, "%s", r.out);
		ck_assert_ptr_nonnull(strstr(r.out, "\nUsage:\n"));
		ck_assert_ptr_nonnull(strstr(r.out, "\nFlags:\n"));
		ck_assert_ptr_nonnull(strstr(r.out, "\nExamples:\n"));
		ck_assert_ptr_nonnull(strstr(r.out, "\nExit codes:\n  0  "));
		for (size_t f = 0; cmds[i].flags[f]; f++)
			ck_assert_msg(strstr(strstr(r.out, "\nFlags:\n"), cmds[i].flags[f]) != NULL,
				      "%s --help does not explain %s:\n%s", cmds[i].cmd,
				      cmds[i].flags[f], r.out);
		ls_test_run_release(&r);
		ls_test_run_release(&h);
		ls_test_run_release(&s);
	}
}
END_TEST

/* Defaults are shown; `lagscale --help` lists every command with a line
 * saying what it does. */
START_TEST(test_help_defaults_and_command_list)
{
	const char *lag[] = {"lag", "--help", NULL};
	const char *top[] = {"--help", NULL};
	const char *bad[] = {"help", "no-such-command", NULL};
	static const char *const names[] = {"run", "lag", "simulate", "demo", "check-config",
					    "version", "help"};
	struct ls_test_run r;

	run_ok(lag, 0, &r);
	ck_assert_ptr_nonnull(strstr(r.out, "--timeout DURATION   (default: 10s)"));
	ck_assert_ptr_nonnull(strstr(r.out, "--output table|json   (default: table)"));
	ls_test_run_release(&r);
	run_ok(top, 0, &r);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char line[64];
		const char *at;

		snprintf(line, sizeof(line), "\n  %s ", names[i]);
		at = strstr(r.out, line);
		ck_assert_msg(at != NULL, "%s is not listed:\n%s", names[i], r.out);
		/* A description follows the name on its line. */
		at += strlen(line);
		while (*at == ' ')
			at++;
		ck_assert_msg(*at != '\n', "%s has no description", names[i]);
	}
	ls_test_run_release(&r);
	run_ok(bad, 2, &r);
	ls_test_run_release(&r);
}
END_TEST

/* Each --group is read, in one round; the JSON has one line per group. */
START_TEST(test_lag_repeated_groups)
{
	const char *args[] = {"lag",	"--bootstrap-servers", bootstraps, "--group", "g-full",
			      "-g",	"g-partial",	       "--topic",  "orders",  "--output",
			      "json", NULL};
	struct ls_test_run r;
	char *nl;
	cJSON *a, *b;

	run_ok(args, 0, &r);
	nl = strchr(r.out, '\n');
	ck_assert_ptr_nonnull(nl);
	*nl = '\0';
	a = cJSON_Parse(r.out);
	b = cJSON_Parse(nl + 1);
	ck_assert_msg(a && b, "two JSON lines: %s", r.out);
	ck_assert_str_eq(cJSON_GetObjectItem(a, "group")->valuestring, "g-full");
	ck_assert_int_eq(num(a, "totalLag"), 495);
	ck_assert_str_eq(cJSON_GetObjectItem(b, "group")->valuestring, "g-partial");
	ck_assert_int_eq(num(b, "totalLag"), 210);
	cJSON_Delete(a);
	cJSON_Delete(b);
	ls_test_run_release(&r);
}
END_TEST

/* The column a header starts at, and the column the cell starts at. */
static long column_of(const char *line, const char *word)
{
	const char *at = strstr(line, word);

	return at ? (long)(at - line) : -1;
}

/*
 * The table's columns are as wide as their data: with a group name of 50
 * characters and one shorter, TOPIC, the topic names and the numbers line
 * up in every row.
 */
START_TEST(test_lag_table_sized_to_data)
{
	static const char long_group[] = "team-payments.settlement-consumer.eu-west-1.v2-x";
	struct ls_kafka_mock_offset o[6];
	const char *args[] = {"lag", "--bootstrap-servers", bootstraps, "--group", long_group,
			      "--group", "g-full", "--topic", "orders", NULL};
	struct ls_test_run r;
	char *line, *save = NULL;
	long topic_col = -1, lag_end = -1;
	int rows = 0;

	for (int p = 0; p < 6; p++)
		o[p] = (struct ls_kafka_mock_offset){"orders", p, 50 + p};
	ck_assert_int_eq(ls_kafka_mock_commit(mock, long_group, o, 6), 0);
	run_ok(args, 0, &r);
	for (line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "GROUP", 5) == 0) {
			topic_col = column_of(line, "TOPIC");
			lag_end = column_of(line, " LAG") + 4;
			continue;
		}
		if (strncmp(line, "group \"", 7) == 0)
			continue;
		ck_assert_int_ge(topic_col, (long)strlen(long_group) + 1);
		/* The topic (or "(total)") starts under TOPIC... */
		ck_assert_msg(line[topic_col - 1] == ' ' && line[topic_col] != ' ',
			      "misaligned row: %s", line);
		/* ...and the lag ends under LAG. */
		ck_assert_msg((long)strlen(line) >= lag_end && line[lag_end - 1] != ' ' &&
				  (line[lag_end] == ' ' || line[lag_end] == '\0'),
			      "misaligned lag: %s", line);
		rows++;
	}
	ck_assert_int_eq(rows, 2 * (6 + 1));
	ls_test_run_release(&r);
}
END_TEST

/* A scaler without topics reads every topic its group committed to: the
 * same numbers as `lag` without --topic (495 + 41, 9 partitions). */
START_TEST(test_lag_config_without_topics)
{
	char text[1024], *cfg;
	const char *check[] = {"check-config", NULL, NULL};
	const char *args[] = {"lag", "--config", NULL, "--output", "json", NULL};
	struct ls_test_run r;
	cJSON *j;

	snprintf(text, sizeof(text),
		 "kafka:\n  clusters: [{name: mock, bootstrapServers: \"%s\"}]\n"
		 "scalers:\n"
		 "  - name: all\n"
		 "    target: {apiVersion: apps/v1, kind: Deployment, namespace: shop, name: c}\n"
		 "    kafka: {cluster: mock, group: g-full}\n",
		 bootstraps);
	cfg = ls_test_write_temp(text);
	check[1] = cfg;
	args[2] = cfg;
	run_ok(check, 0, &r);
	ls_test_run_release(&r);
	j = run_json(args, 0);
	ck_assert_ptr_nonnull(topic(j, "orders"));
	ck_assert_ptr_nonnull(topic(j, "payments"));
	ck_assert_int_eq(num(j, "totalLag"), 495 + 41);
	ck_assert_int_eq(num(j, "partitionCount"), 9);
	cJSON_Delete(j);
	unlink(cfg);
	free(cfg);
}
END_TEST

/* --all-groups needs ListGroups, which the mock cluster lacks: a runtime
 * error that says so; with --group it is a usage error. */
START_TEST(test_lag_all_groups_flags)
{
	const char *both[] = {"lag", "--bootstrap-servers", bootstraps, "--all-groups", "--group",
			      "g-full", NULL};
	const char *none[] = {"lag", "--bootstrap-servers", bootstraps, NULL};
	const char *all[] = {"lag", "--bootstrap-servers", bootstraps, "--all-groups", NULL};
	struct ls_test_run r;

	run_ok(both, 2, &r);
	ck_assert_ptr_nonnull(strstr(r.err, "--all-groups and --group"));
	ls_test_run_release(&r);
	run_ok(none, 2, &r);
	ck_assert_ptr_nonnull(strstr(r.err, "--group or --all-groups is required"));
	ls_test_run_release(&r);
	run_ok(all, 1, &r);
	ck_assert_ptr_nonnull(strstr(r.err, "cannot list its consumer groups"));
	ls_test_run_release(&r);
}
END_TEST

static char *config_for(const char *group, const char *reset, long threshold)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "kafka:\n"
		 "  clusters:\n"
		 "    - name: mock\n"
		 "      bootstrapServers: \"%s\"\n"
		 "server: {address: \"127.0.0.1:0\"}\n"
		 "scalers:\n"
		 "  - name: orders\n"
		 "    target: {apiVersion: apps/v1, kind: Deployment, namespace: shop, name: c}\n"
		 "    kafka: {cluster: mock, group: %s, topics: [orders], offsetResetPolicy: %s}\n"
		 "    policy: {lagThreshold: %ld, minReplicas: 1, maxReplicas: 24}\n",
		 bootstraps, group, reset, threshold);
	return ls_test_write_temp(text);
}

START_TEST(test_lag_config_matches_flags)
{
	char *cfg = config_for("g-partial", "earliest", 100);
	const char *args[] = {"lag", "--config", cfg, "--output", "json", NULL};
	cJSON *j = run_json(args, 0);

	ck_assert_str_eq(cJSON_GetObjectItem(j, "group")->valuestring, "g-partial");
	ck_assert_int_eq(num(j, "totalLag"), 627);
	cJSON_Delete(j);
	unlink(cfg);
	free(cfg);
}
END_TEST

START_TEST(test_run_dry_run_once)
{
	/* g-partial under latest: lag 210 at 50 each needs ceil(4.2) = 5
	 * replicas, and 5 consumers on 6 partitions carry no more than 3, so
	 * 6 (useful counts: 1 2 3 6); from 1 the HPA's default scale-up
	 * allows max(+100%, +4) = 5 at once, and the useful count below it
	 * is 3. The mock cluster cannot describe groups: members unknown. */
	char *cfg = config_for("g-partial", "latest", 50);
	const char *args[] = {"run", "--config", cfg, "--dry-run", "--once", "--output", "json",
			      NULL};
	cJSON *j = run_json(args, 0);

	ck_assert_str_eq(cJSON_GetObjectItem(j, "scaler")->valuestring, "orders");
	ck_assert_str_eq(cJSON_GetObjectItem(j, "target")->valuestring, "shop/Deployment/c");
	ck_assert_int_eq(num(j, "totalLag"), 210);
	ck_assert_int_eq(num(j, "partitionCount"), 6);
	ck_assert_int_eq(num(j, "currentReplicas"), 1);
	ck_assert_int_eq(num(j, "recommendedReplicas"), 6);
	ck_assert_int_eq(num(j, "desiredReplicas"), 3);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "members")));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "assignor")));
	ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(j, "reason")->valuestring,
				     "5 would leave 1 consumer with 2 partitions"));
	ck_assert_str_eq(cJSON_GetObjectItem(j, "action")->valuestring, "scale_up");
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "applied")));
	ck_assert(strlen(cJSON_GetObjectItem(j, "reason")->valuestring) > 10);
	cJSON_Delete(j);
	unlink(cfg);
	free(cfg);
}
END_TEST

START_TEST(test_run_assume_replicas_and_cap)
{
	/* g-none under earliest: the whole log, 100 + 110 + ... + 150 = 750
	 * messages, at 10 each needs 75 replicas; capped at the 6 partitions. Starting from 3
	 * (--assume-replicas) the scale-up to 6 is within +100%. */
	char *cfg = config_for("g-none", "earliest", 10);
	const char *args[] = {"run",	  "--config", cfg,  "--dry-run", "--once",
			      "--assume-replicas", "3", "--output", "json", NULL};
	cJSON *j = run_json(args, 0);

	ck_assert_int_eq(num(j, "totalLag"), 750);
	ck_assert_int_eq(num(j, "currentReplicas"), 3);
	ck_assert_int_eq(num(j, "recommendedReplicas"), 6);
	ck_assert_int_eq(num(j, "desiredReplicas"), 6);
	cJSON_Delete(j);
	unlink(cfg);
	free(cfg);
}
END_TEST

START_TEST(test_run_stops_on_sigterm)
{
	/* The loop runs (decisions printed), then SIGTERM ends it cleanly
	 * within a second. */
	char *cfg = config_for("g-partial", "latest", 50);
	const char *args[] = {"run", "--config", cfg, "--dry-run", "--output", "json", NULL};
	struct ls_test_run r;

	ck_assert_int_eq(ls_test_run_signal(args, 2500, SIGTERM, 20000, &r), 0);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "\"scaler\":\"orders\""));
	ck_assert_int_lt(r.signal_to_exit_ms, 1000);
	ls_test_run_release(&r);
	unlink(cfg);
	free(cfg);
}
END_TEST

START_TEST(test_run_stops_on_sigint_while_broker_unreachable)
{
	/* A collection round is waiting on a broker that does not answer:
	 * SIGINT still ends the process within a second. */
	char *cfg = ls_test_write_temp(
		"kafka: {clusters: [{name: dead, bootstrapServers: \"127.0.0.1:1\"}]}\n"
		"server: {address: \"127.0.0.1:0\"}\n"
		"scalers:\n"
		"  - name: s\n"
		"    target: {apiVersion: apps/v1, kind: Deployment, namespace: shop, name: c}\n"
		"    kafka: {group: g, topics: [t]}\n");
	const char *args[] = {"run", "--config", cfg, "--dry-run", NULL};
	struct ls_test_run r;

	ck_assert_int_eq(ls_test_run_signal(args, 1500, SIGINT, 20000, &r), 0);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	ck_assert_int_lt(r.signal_to_exit_ms, 1000);
	ls_test_run_release(&r);
	unlink(cfg);
	free(cfg);
}
END_TEST

START_TEST(test_bad_config_exit_2_with_place)
{
	/* check-config and run both refuse the file, naming line and column. */
	char *cfg = ls_test_write_temp("kafka:\n"
				       "  clusters: [{name: m, bootstrapServers: \"x:1\"}]\n"
				       "scalers:\n"
				       "  - name: s\n"
				       "    target: {apiVersion: apps/v1, kind: Deployment, namespace: shop, name: c}\n"
				       "    kafka: {group: g, topics: [t]}\n"
				       "    policy: {maxReplicas: many}\n");
	const char *check[] = {"check-config", cfg, NULL};
	const char *run[] = {"run", "--config", cfg, "--dry-run", "--once", NULL};
	char want[512];
	struct ls_test_run r;

	snprintf(want, sizeof(want), "%s:7:27: scalers[0].policy.maxReplicas", cfg);
	ck_assert_int_eq(ls_test_run_lagscale(check, 10000, &r), 0);
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, want) != NULL, "stderr: %s", r.err);
	ls_test_run_release(&r);
	ck_assert_int_eq(ls_test_run_lagscale(run, 10000, &r), 0);
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, want) != NULL, "stderr: %s", r.err);
	ck_assert_str_eq(r.out, "");
	ls_test_run_release(&r);
	unlink(cfg);
	free(cfg);
}
END_TEST


/* The decision of scaler `name` among run's JSON lines, or NULL. */
static cJSON *decision_of(const char *out, const char *name)
{
	const char *line = out;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		char *one = strndup(line, end ? (size_t)(end - line) : strlen(line));
		cJSON *j = one ? cJSON_Parse(one) : NULL;
		const cJSON *sc = j ? cJSON_GetObjectItem(j, "scaler") : NULL;

		free(one);
		if (cJSON_IsString(sc) && strcmp(sc->valuestring, name) == 0)
			return j;
		cJSON_Delete(j);
		line = end ? end + 1 : NULL;
	}
	return NULL;
}

/* Two clusters, one of them with a misspelled librdkafka property (and a
 * one-letter password, which must never show), and three scalers: a good
 * one, one on the bad cluster, one whose topic pattern matches nothing. */
static char *config_bad_cluster(void)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "kafka:\n"
		 "  clusters:\n"
		 "    - name: mock\n"
		 "      bootstrapServers: \"%s\"\n"
		 "    - name: typo\n"
		 "      bootstrapServers: \"%s\"\n"
		 "      properties:\n"
		 "        sasl.password: p\n"
		 "        sasl.usernme: lagscale\n"
		 "server: {address: \"127.0.0.1:0\"}\n"
		 "scalers:\n"
		 "  - name: orders\n"
		 "    target: {apiVersion: apps/v1, kind: Deployment, namespace: shop, name: c}\n"
		 "    kafka: {cluster: mock, group: g-partial, topics: [orders]}\n"
		 "    policy: {lagThreshold: 50, minReplicas: 1, maxReplicas: 24}\n"
		 "  - name: team-b\n"
		 "    target: {apiVersion: apps/v1, kind: Deployment, namespace: b, name: c}\n"
		 "    kafka: {cluster: typo, group: g-full, topics: [orders]}\n"
		 "  - name: no-topics\n"
		 "    target: {apiVersion: apps/v1, kind: Deployment, namespace: c, name: c}\n"
		 "    kafka: {cluster: mock, group: g-full, topicPattern: \"^nothing-\"}\n",
		 bootstraps, bootstraps);
	return ls_test_write_temp(text);
}

START_TEST(test_run_bad_cluster_isolated)
{
	/* Before: exit 2 and no decision at all. Now the good scaler decides
	 * as in test_run_dry_run_once, the bad cluster's scaler and the empty
	 * pattern's are errors of their own, and the exit code (1, not 2)
	 * says that a round had an error. */
	char *cfg = config_bad_cluster();
	const char *args[] = {"run", "--config", cfg, "--dry-run", "--once", "--output", "json",
			      NULL};
	struct ls_test_run r;
	cJSON *good, *bad, *empty;

	ck_assert_int_eq(ls_test_run_lagscale(args, 30000, &r), 0);
	ck_assert_msg(r.status == 1, "exit %d, stderr: %s", r.status, r.err);
	good = decision_of(r.out, "orders");
	bad = decision_of(r.out, "team-b");
	empty = decision_of(r.out, "no-topics");
	ck_assert_msg(good && bad && empty, "stdout: %s\nstderr: %s", r.out, r.err);
	ck_assert_str_eq(cJSON_GetObjectItem(good, "action")->valuestring, "scale_up");
	ck_assert_int_eq(num(good, "desiredReplicas"), 3);
	ck_assert_str_eq(cJSON_GetObjectItem(bad, "action")->valuestring, "error");
	ck_assert_int_eq(num(bad, "desiredReplicas"), num(bad, "currentReplicas"));
	ck_assert_msg(strstr(cJSON_GetObjectItem(bad, "reason")->valuestring,
			     "Kafka cluster \"typo\"") &&
			  strstr(cJSON_GetObjectItem(bad, "reason")->valuestring, "sasl.usernme"),
		      "reason: %s", cJSON_GetObjectItem(bad, "reason")->valuestring);
	ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(empty, "reason")->valuestring,
				     "no topic matches topicPattern"));
	/* Logged naming the cluster, the property and the scaler. */
	ck_assert_msg(strstr(r.err, "Kafka cluster \"typo\": property \"sasl.usernme\"") != NULL,
		      "stderr: %s", r.err);
	ck_assert_msg(strstr(r.err, "team-b") != NULL, "stderr: %s", r.err);
	ck_assert_msg(strstr(r.err, "sasl.password: p") == NULL && strstr(r.err, "\"p\"") == NULL,
		      "stderr: %s", r.err);
	cJSON_Delete(good);
	cJSON_Delete(bad);
	cJSON_Delete(empty);
	ls_test_run_release(&r);
	unlink(cfg);
	free(cfg);
}
END_TEST

START_TEST(test_check_config_builds_kafka_conf)
{
	/* Before: "ok". check-config refuses what run would, naming the
	 * cluster and the property at its place, and checks every cluster. */
	char *cfg = config_bad_cluster();
	const char *check[] = {"check-config", cfg, NULL};
	char want[600];
	struct ls_test_run r;

	ck_assert_int_eq(ls_test_run_lagscale(check, 10000, &r), 0);
	ck_assert_msg(r.status == 2, "exit %d: %s%s", r.status, r.out, r.err);
	snprintf(want, sizeof(want),
		 "%s:9:9: kafka.clusters[1].properties.sasl.usernme: cluster \"typo\": property "
		 "\"sasl.usernme\": No such configuration property",
		 cfg);
	ck_assert_msg(strstr(r.err, want) != NULL, "stderr: %s", r.err);
	ck_assert_msg(strstr(r.err, "\"mock\"") == NULL, "stderr: %s", r.err);
	ck_assert_str_eq(r.out, "");
	ls_test_run_release(&r);
	unlink(cfg);
	free(cfg);
}
END_TEST

START_TEST(test_second_owner_refused)
{
	/* Two scalers, one Deployment, in two files of a directory: check-config
	 * and run both refuse, naming both places; run prints no decision. */
	char dir[] = "/tmp/ls-test-owner-XXXXXX", a[256], b[256], want[1024];
	const char *check[] = {"check-config", dir, NULL};
	const char *run[] = {"run", "--config", dir, "--dry-run", "--once", NULL};
	struct ls_test_run r;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a.yaml", dir);
	snprintf(b, sizeof(b), "%s/b.yaml", dir);
	f = fopen(a, "w");
	ck_assert_ptr_nonnull(f);
	fputs("kafka:\n"
	      "  clusters: [{name: m, bootstrapServers: \"127.0.0.1:1\"}]\n"
	      "scalers:\n"
	      "  - name: orders\n"
	      "    target: {namespace: shop, name: consumer}\n"
	      "    kafka: {group: g, topics: [t]}\n",
	      f);
	fclose(f);
	f = fopen(b, "w");
	ck_assert_ptr_nonnull(f);
	fputs("scalers:\n"
	      "  - name: orders-too\n"
	      "    target: {apiVersion: apps/v1, kind: Deployment, namespace: shop, name: consumer}\n"
	      "    kafka: {group: h, topics: [u]}\n",
	      f);
	fclose(f);
	snprintf(want, sizeof(want),
		 "%s:3:13: scalers[0].target: shop/Deployment/consumer is already the target of "
		 "scaler \"orders\" at %s:5:13",
		 b, a);
	ck_assert_int_eq(ls_test_run_lagscale(check, 10000, &r), 0);
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, want) != NULL, "stderr: %s", r.err);
	ls_test_run_release(&r);
	ck_assert_int_eq(ls_test_run_lagscale(run, 10000, &r), 0);
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, want) != NULL, "stderr: %s", r.err);
	ck_assert_str_eq(r.out, "");
	ls_test_run_release(&r);
	unlink(a);
	unlink(b);
	rmdir(dir);
}
END_TEST

/* True when some line of text contains both a and b. */
static bool line_has(const char *text, const char *a, const char *b)
{
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		const char *end = strchr(l, '\n');
		size_t n = end ? (size_t)(end - l) : strlen(l);
		const char *pa = strstr(l, a), *pb = strstr(l, b);

		if (pa && pb && (size_t)(pa - l) < n && (size_t)(pb - l) < n)
			return true;
	}
	return false;
}

START_TEST(test_secrets_redacted_by_key)
{
	/*
	 * One- and two-letter secrets. Redaction goes by the property's key,
	 * so the messages stay whole (with the password "p", replacing the
	 * value wherever it appeared turned "property" into
	 * "[redacted]ro[redacted]erty"), and the value is never printed where
	 * librdkafka would print it.
	 */
	const char *lag_typo[] = {"lag", "--bootstrap-servers", "127.0.0.1:1", "--group", "g",
				  "--topic", "t", "-X", "sasl.password=p", "-X", "sasl.usernme=u",
				  NULL};
	const char *lag_jwt[] = {"lag", "--bootstrap-servers", "127.0.0.1:1", "--group", "g",
				 "--topic", "t", "--timeout", "20s",
				 "-X", "security.protocol=SASL_PLAINTEXT",
				 "-X", "sasl.mechanism=OAUTHBEARER",
				 "-X", "enable.sasl.oauthbearer.unsecure.jwt=true",
				 "-X", "sasl.oauthbearer.config=Zq", NULL};
	char *typo = ls_test_write_temp("kafka:\n"
					"  clusters:\n"
					"    - name: m\n"
					"      bootstrapServers: \"127.0.0.1:1\"\n"
					"      properties: {sasl.password: p, ssl.key.password: pr,\n"
					"                   sasl.usernme: u}\n"
					"scalers:\n"
					"  - name: s\n"
					"    target: {namespace: shop, name: c}\n"
					"    kafka: {group: g, topics: [t]}\n");
	char *debug = ls_test_write_temp("kafka:\n"
					 "  clusters:\n"
					 "    - name: m\n"
					 "      bootstrapServers: \"127.0.0.1:1\"\n"
					 "      properties:\n"
					 "        debug: conf\n"
					 "        security.protocol: SASL_PLAINTEXT\n"
					 "        sasl.mechanism: OAUTHBEARER\n"
					 "        sasl.oauthbearer.method: oidc\n"
					 "        sasl.oauthbearer.client.id: me\n"
					 "        sasl.oauthbearer.client.secret: Zq\n"
					 "        sasl.oauthbearer.token.endpoint.url: http://127.0.0.1:1/t\n"
					 "        sasl.password: p\n"
					 "log: {level: debug}\n"
					 "server: {address: \"127.0.0.1:0\"}\n"
					 "scalers:\n"
					 "  - name: s\n"
					 "    target: {namespace: shop, name: c}\n"
					 "    kafka: {group: g, topics: [t]}\n"
					 "    policy: {pollingInterval: 1s}\n");
	const char *run_typo[] = {"run", "--config", typo, "--dry-run", "--once", NULL};
	const char *run_debug[] = {"run", "--config", debug, "--dry-run", "--once", NULL};
	struct ls_test_run r;

	ck_assert_int_eq(ls_test_run_lagscale(lag_typo, 10000, &r), 0);
	ck_assert_int_eq(r.status, 2);
	ck_assert_str_eq(r.err, "lagscale lag: -X property \"sasl.usernme\": No such configuration "
				"property: \"sasl.usernme\"\n");
	ls_test_run_release(&r);

	/* The bad cluster is isolated: its scaler's round is an error (exit 1). */
	ck_assert_int_eq(ls_test_run_lagscale(run_typo, 10000, &r), 0);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "Kafka cluster \"m\": property \"sasl.usernme\": No such "
				    "configuration property: \"sasl.usernme\";") != NULL,
		      "stderr: %s", r.err);
	ck_assert_msg(strstr(r.err, "[redacted]") == NULL, "stderr: %s", r.err);
	ls_test_run_release(&r);

	/* librdkafka quotes the unsecured JWT config back; the part after its key is dropped. */
	ck_assert_int_eq(ls_test_run_lagscale(lag_jwt, 60000, &r), 0);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "Unrecognized sasl.oauthbearer.config (the value is not shown: "
				    "it is a secret)") != NULL,
		      "stderr: %s", r.err);
	ck_assert_msg(strstr(r.err, "Zq") == NULL, "stderr: %s", r.err);
	ls_test_run_release(&r);

	/* debug=conf lists the configuration: librdkafka 2.8 itself does not
	 * redact the OIDC client secret; lagscale does, by its key. */
	ck_assert_int_eq(ls_test_run_lagscale(run_debug, 60000, &r), 0);
	ck_assert_msg(line_has(r.err, "librdkafka CONF", "sasl.oauthbearer.client.id = me"),
		      "no configuration dump: %s", r.err);
	ck_assert_msg(strstr(r.err, "Zq") == NULL, "stderr: %s", r.err);
	ck_assert_msg(line_has(r.err, "librdkafka CONF", "sasl.oauthbearer.client.secret") &&
			  !line_has(r.err, "sasl.password", "= p"),
		      "stderr: %s", r.err);
	ls_test_run_release(&r);
	unlink(typo);
	unlink(debug);
	free(typo);
	free(debug);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("integration-lag");
	TCase *tc = tcase_create("mock");
	SRunner *sr;
	int failed;

	/* The mock cluster lives in this process: no forking per test. */
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_lag_flags_full_group);
	tcase_add_test(tc, test_lag_every_committed_topic);
	tcase_add_test(tc, test_lag_uncommitted_latest_and_earliest);
	tcase_add_test(tc, test_lag_group_without_commits);
	tcase_add_test(tc, test_lag_missing_topic_fails);
	tcase_add_test(tc, test_lag_unreachable_broker);
	tcase_add_test(tc, test_lag_tls_to_plaintext_listener_fails_at_once);
	tcase_add_test(tc, test_lag_oidc_settings);
	tcase_add_test(tc, test_lag_msk_iam_settings);
	tcase_add_test(tc, test_version_names_the_loaded_librdkafka);
	tcase_add_test(tc, test_lag_bad_flags);
	tcase_add_test(tc, test_help_every_command);
	tcase_add_test(tc, test_help_defaults_and_command_list);
	tcase_add_test(tc, test_lag_repeated_groups);
	tcase_add_test(tc, test_lag_table_sized_to_data);
	tcase_add_test(tc, test_lag_config_without_topics);
	tcase_add_test(tc, test_lag_all_groups_flags);
	tcase_add_test(tc, test_lag_config_matches_flags);
	tcase_add_test(tc, test_run_dry_run_once);
	tcase_add_test(tc, test_run_assume_replicas_and_cap);
	tcase_add_test(tc, test_run_stops_on_sigterm);
	tcase_add_test(tc, test_bad_config_exit_2_with_place);
	tcase_add_test(tc, test_run_bad_cluster_isolated);
	tcase_add_test(tc, test_check_config_builds_kafka_conf);
	tcase_add_test(tc, test_second_owner_refused);
	tcase_add_test(tc, test_secrets_redacted_by_key);
	tcase_add_test(tc, test_run_stops_on_sigint_while_broker_unreachable);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
