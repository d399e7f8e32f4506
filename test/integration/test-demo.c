/*
 * test-demo.c - `lagscale demo --scenario` replays a scenario file with real
 * consumers on the embedded mock cluster (lib/workload). The assertions are
 * conditions, not timings: a busy machine makes the story noisier, never
 * wrong. The scenario is test/scenarios/demo-small.yaml (LS_SCENARIOS).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static char *scenario(const char *name)
{
	const char *dir = getenv("LS_SCENARIOS");
	char *path;

	ck_assert_ptr_nonnull(dir);
	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	return path;
}

/* The useful counts of one topic of p partitions: ceil(p / k), k = 1..p. */
static int useful(int p, int r)
{
	for (int k = 1; k <= p; k++)
		if ((p + k - 1) / k == r)
			return 1;
	return 0;
}

/* Checks the CSV: a header, rows, and only useful replica counts. Returns
 * the rows. */
static int check_csv(const char *path, int partitions)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int rows = 0;

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	ck_assert_msg(strncmp(line, "time,produceRate,consumeRate,lag,lagSeconds,currentReplicas,"
				    "desiredReplicas",
			      75) == 0,
		      "header: %s", line);
	while (fgets(line, sizeof(line), f)) {
		double t, produce, consume, lag_s;
		long long lag;
		int cur, desired;

		ck_assert_int_eq(sscanf(line, "%lf,%lf,%lf,%lld,%lf,%d,%d", &t, &produce, &consume,
					&lag, &lag_s, &cur, &desired),
				 7);
		ck_assert_msg(useful(partitions, cur), "current replicas %d not useful on %d: %s",
			      cur, partitions, line);
		ck_assert_msg(useful(partitions, desired),
			      "desired replicas %d not useful on %d: %s", desired, partitions,
			      line);
		ck_assert_int_ge(lag, 0);
		rows++;
	}
	fclose(f);
	return rows;
}

START_TEST(test_demo_scenario_replays_with_useful_counts)
{
	char *path = scenario("demo-small.yaml");
	char csv[] = "/tmp/lagscale-demo-csv-XXXXXX", svg[] = "/tmp/lagscale-demo-svg-XXXXXX";
	int fd1 = mkstemp(csv), fd2 = mkstemp(svg);
	const char *args[] = {"demo", "--scenario", path, "--speed", "5",
			      "--csv", csv, "--svg", svg, NULL};
	struct ls_test_run r;

	ck_assert_int_ge(fd1, 0);
	ck_assert_int_ge(fd2, 0);
	close(fd1);
	close(fd2);
	ck_assert_int_eq(ls_test_run_lagscale(args, 180000, &r), 0);
	ck_assert_msg(r.status == 0, "exit %d\nstdout:\n%s\nstderr:\n%s", r.status, r.out, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "demo-small"));
	ck_assert_ptr_nonnull(strstr(r.out, "librdkafka assigns their partitions"));
	ck_assert_ptr_nonnull(strstr(r.out, "peak lag"));
	/* Ten virtual minutes polled every 15 s: about 40 decisions. */
	ck_assert_int_ge(check_csv(csv, 12), 10);
	ls_test_run_release(&r);
	unlink(csv);
	unlink(svg);
	free(path);
}
END_TEST

START_TEST(test_demo_missing_scenario_exits_2)
{
	const char *args[] = {"demo", "--scenario", "/nonexistent/lagscale-no-such.yaml", NULL};
	struct ls_test_run r;

	ck_assert_int_eq(ls_test_run_lagscale(args, 30000, &r), 0);
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "/nonexistent/lagscale-no-such.yaml"));
	ls_test_run_release(&r);
}
END_TEST

START_TEST(test_demo_invalid_scenario_exits_2_with_place)
{
	char *path = ls_test_write_temp("duration: 10m\npartitions: 0\nperReplicaRate: 100\n"
					"produce: [{at: 0s, rate: 10}]\n");
	const char *args[] = {"demo", "--scenario", path, NULL};
	struct ls_test_run r;
	char where[512];

	ck_assert_int_eq(ls_test_run_lagscale(args, 30000, &r), 0);
	ck_assert_int_eq(r.status, 2);
	snprintf(where, sizeof(where), "%s:2:", path);
	ck_assert_msg(strstr(r.err, where), "stderr: %s", r.err);
	ls_test_run_release(&r);
	unlink(path);
	free(path);
}
END_TEST

START_TEST(test_demo_scenario_beyond_limits_exits_2)
{
	char *path = scenario("perfect-storm.yaml"); /* 128 partitions */
	const char *args[] = {"demo", "--scenario", path, NULL};
	struct ls_test_run r;

	ck_assert_int_eq(ls_test_run_lagscale(args, 30000, &r), 0);
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, path) && strstr(r.err, "at most 64"), "stderr: %s", r.err);
	ls_test_run_release(&r);
	free(path);
}
END_TEST

/* The Friday story at 20x polls every 42 ms real: shorter than a
 * rebalance on the mock cluster. */
START_TEST(test_demo_too_fast_exits_2)
{
	const char *args[] = {"demo", "--speed", "20", NULL};
	struct ls_test_run r;

	ck_assert_int_eq(ls_test_run_lagscale(args, 30000, &r), 0);
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "built-in demo") && strstr(r.err, "pollingInterval"),
		      "stderr: %s", r.err);
	ls_test_run_release(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("integration-demo");
	TCase *tc = tcase_create("demo");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_demo_missing_scenario_exits_2);
	tcase_add_test(tc, test_demo_invalid_scenario_exits_2_with_place);
	tcase_add_test(tc, test_demo_scenario_beyond_limits_exits_2);
	tcase_add_test(tc, test_demo_too_fast_exits_2);
	tcase_add_test(tc, test_demo_scenario_replays_with_useful_counts);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
