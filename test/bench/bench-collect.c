/*
 * bench-collect.c - collection rounds through lib/kafka against a mock
 * cluster of G groups × P partitions (each group consumes a topic of its
 * own with P partitions, so the round covers G × P partitions).
 *
 * The mock cluster runs in a child process so that the peak RSS printed is
 * the collector's own. Prints the round time (median of the rounds after
 * the first), the collector's CPU time per round (their mean), the Kafka
 * requests per round, and the peak RSS.
 *
 *   bench-collect [--groups G] [--partitions P] [--rounds N] [--brokers B]
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kafka/kafka.h"
#include "fleet-mock.h"
#include "util/clock.h"
#include "util/parse.h"

static int child_cluster(int groups, int partitions, int brokers, int out_fd)
{
	struct ls_kafka_mock *m;
	char c;

	if (ls_kafka_mock_new(brokers, &m) < 0 || fleet_mock_populate(m, groups, partitions, 1) < 0)
		return 1;
	dprintf(out_fd, "%s\n", ls_kafka_mock_bootstraps(m));
	close(out_fd);
	/* Serve until the parent closes our stdin. */
	while (read(0, &c, 1) > 0)
		;
	ls_kafka_mock_free(m);
	return 0;
}

/* The process's CPU time so far, user and system, in ms. */
static double cpu_ms(const struct rusage *ru)
{
	return (double)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000.0 +
	       (double)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1000.0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int groups = 1000, partitions = 20, rounds = 6, brokers = 3, c;
	int to_child[2], from_child[2];
	char bootstrap[512];
	struct ls_kafka *k;
	struct ls_kafka_query *qs;
	struct ls_lag_snapshot *snaps;
	char (*topics)[64], (*names)[64];
	const char **topic_ptrs;
	int64_t *times;
	struct ls_kafka_stats before, after;
	struct rusage ru, ru_before;
	pid_t pid;
	ssize_t n;
	int64_t t0, setup_ms;
	char err[512];

	static const struct option opts[] = {{"groups", required_argument, NULL, 'g'},
					     {"partitions", required_argument, NULL, 'p'},
					     {"rounds", required_argument, NULL, 'r'},
					     {"brokers", required_argument, NULL, 'b'},
					     {NULL, 0, NULL, 0}};
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int32_t v;

		if (c == '?' || ls_parse_int32(optarg, &v) < 0 || v <= 0) {
			fprintf(stderr, "usage: bench-collect [--groups G] [--partitions P] "
					"[--rounds N] [--brokers B]\n");
			return 2;
		}
		if (c == 'g')
			groups = v;
		else if (c == 'p')
			partitions = v;
		else if (c == 'r')
			rounds = v < 2 ? 2 : v;
		else
			brokers = v;
	}

	if (pipe(to_child) < 0 || pipe(from_child) < 0)
		return 1;
	t0 = ls_clock_mono_ms();
	pid = fork();
	if (pid == 0) {
		dup2(to_child[0], 0);
		close(to_child[1]);
		close(from_child[0]);
		_exit(child_cluster(groups, partitions, brokers, from_child[1]));
	}
	close(to_child[0]);
	close(from_child[1]);
	n = read(from_child[0], bootstrap, sizeof(bootstrap) - 1);
	if (n <= 0) {
		fprintf(stderr, "bench-collect: the mock cluster did not start\n");
		return 1;
	}
	bootstrap[n] = '\0';
	bootstrap[strcspn(bootstrap, "\n")] = '\0';
	setup_ms = ls_clock_mono_ms() - t0;

	qs = calloc((size_t)groups, sizeof(*qs));
	snaps = calloc((size_t)groups, sizeof(*snaps));
	topics = calloc((size_t)groups, sizeof(*topics));
	names = calloc((size_t)groups, sizeof(*names));
	topic_ptrs = calloc((size_t)groups, sizeof(*topic_ptrs));
	times = calloc((size_t)rounds, sizeof(*times));
	if (!qs || !snaps || !topics || !names || !topic_ptrs || !times)
		return 1;
	for (int g = 0; g < groups; g++) {
		fleet_topic_name(g, topics[g], sizeof(topics[g]));
		fleet_group_name(g, names[g], sizeof(names[g]));
		topic_ptrs[g] = topics[g];
		qs[g] = (struct ls_kafka_query){.group = names[g], .topics = &topic_ptrs[g],
						.n_topics = 1};
	}
	if (ls_kafka_new("bench", bootstrap, NULL, 0, &k, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench-collect: %s\n", err);
		return 1;
	}
	for (int r = 0; r < rounds; r++) {
		int64_t start = ls_clock_mono_ms();
		int64_t expect = (int64_t)groups * (partitions + 0);
		int64_t total = 0;

		if (r == 1) {
			ls_kafka_get_stats(k, &before);
			getrusage(RUSAGE_SELF, &ru_before);
		}
		if (ls_kafka_collect(k, qs, (size_t)groups, 60000, snaps) < 0) {
			fprintf(stderr, "bench-collect: round %d failed: %s\n", r, snaps[0].errmsg);
			return 1;
		}
		times[r] = ls_clock_mono_ms() - start;
		for (int g = 0; g < groups; g++) {
			if (snaps[g].err) {
				fprintf(stderr, "bench-collect: group %d: %s\n", g, snaps[g].errmsg);
				return 1;
			}
			total += snaps[g].total_lag;
			ls_lag_snapshot_release(&snaps[g]);
		}
		/* Lag 1 per partition (partition 0: never committed, latest: 1). */
		if (total != expect) {
			fprintf(stderr, "bench-collect: round %d: total lag %lld, expected %lld\n", r,
				(long long)total, (long long)expect);
			return 1;
		}
	}
	ls_kafka_get_stats(k, &after);
	getrusage(RUSAGE_SELF, &ru);
	qsort(times + 1, (size_t)rounds - 1, sizeof(*times), cmp_i64);
	printf("groups=%d partitions/group=%d partitions=%d brokers=%d (cluster setup %.1f s)\n",
	       groups, partitions, groups * partitions, brokers, (double)setup_ms / 1000.0);
	printf("first round:            %lld ms\n", (long long)times[0]);
	printf("round time (median %d): %lld ms (min %lld, max %lld)\n", rounds - 1,
	       (long long)times[1 + (rounds - 1) / 2], (long long)times[1],
	       (long long)times[rounds - 1]);
	printf("requests per round:     %.1f metadata, %.1f offsets (chunks of %zu), %.1f group\n",
	       (double)(after.metadata_requests - before.metadata_requests) / (rounds - 1),
	       (double)(after.offsets_requests - before.offsets_requests) / (rounds - 1),
	       ls_kafka_chunk_size(),
	       (double)(after.group_requests - before.group_requests) / (rounds - 1));
	printf("CPU per round:          %.1f ms (user + system, mean of %d)\n",
	       (cpu_ms(&ru) - cpu_ms(&ru_before)) / (rounds - 1), rounds - 1);
	printf("peak RSS:               %.1f MB\n", (double)ru.ru_maxrss / 1024.0);
	ls_kafka_free(k);
	close(to_child[1]);
	waitpid(pid, NULL, 0);
	free(qs);
	free(snaps);
	free(topics);
	free(names);
	free(topic_ptrs);
	free(times);
	return 0;
}
