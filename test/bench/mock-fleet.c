/*
 * mock-fleet.c - serves the benchmarks' Kafka fleet (fleet-mock.h) on the
 * mock cluster for another process to measure, e.g. `lagscale run`.
 *
 *   mock-fleet [--groups G] [--partitions P] [--brokers B] [--churn]
 *
 * Prints the bootstrap servers on one line once the fleet is ready, then
 * answers each line read from stdin with one line:
 *   (empty)   the requests the cluster received since the previous empty
 *             line: "TOTAL KEY:COUNT KEY:COUNT ..." (Kafka ApiKeys, e.g.
 *             2 ListOffsets, 3 Metadata, 9 OffsetFetch, 10 FindCoordinator);
 *   down B    makes broker B (1..brokers) unreachable: "ok" (the churn's
 *             commits pause until the next "up": see fleet_churn_pause);
 *   up B      makes it reachable again: "ok";
 *   churn     "PRODUCED COMMITS FAILURES" of the churn so far.
 * A line it does not understand gets "error: ...". Ends at the end of
 * stdin. --churn starts produce churn (fleet_churn_start in fleet-mock.h):
 * offsets move, some groups lag, others catch up. Prints how long populating took to stderr;
 * FLEET_MOCK_DEBUG=CONTEXTS turns on librdkafka's debug log (e.g.
 * "broker,metadata,msg") for the clients that populate.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "fleet-mock.h"
#include "util/parse.h"

/* The requests received since the previous call, on one line. */
static void print_requests(struct ls_kafka_mock *m)
{
	uint64_t counts[LS_KAFKA_MOCK_API_KEYS] = {0};
	uint64_t total = ls_kafka_mock_requests(m, counts);

	printf("%llu", (unsigned long long)total);
	for (int k = 0; k < LS_KAFKA_MOCK_API_KEYS; k++)
		if (counts[k])
			printf(" %d:%llu", k, (unsigned long long)counts[k]);
	printf("\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"groups", required_argument, NULL, 'g'},
					     {"partitions", required_argument, NULL, 'p'},
					     {"brokers", required_argument, NULL, 'b'},
					     {"churn", no_argument, NULL, 'c'},
					     {NULL, 0, NULL, 0}};
	int groups = 1000, partitions = 20, brokers = 3, churn = 0, c;
	struct fleet_churn *ch = NULL;
	struct ls_kafka_mock *m;
	char line[64];

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int32_t v;

		if (c == 'c') {
			churn = 1;
			continue;
		}
		if (c == '?' || ls_parse_int32(optarg, &v) < 0 || v <= 0) {
			fprintf(stderr, "usage: mock-fleet [--groups G] [--partitions P] "
					"[--brokers B] [--churn]\n");
			return 2;
		}
		if (c == 'g')
			groups = v;
		else if (c == 'p')
			partitions = v;
		else
			brokers = v;
	}
	if (ls_kafka_mock_new(brokers, &m) < 0 || fleet_mock_populate(m, groups, partitions, 1) < 0) {
		fprintf(stderr, "mock-fleet: cannot set up the mock cluster\n");
		return 1;
	}
	if (churn && fleet_churn_start(ls_kafka_mock_bootstraps(m), groups, partitions, &ch) < 0) {
		fprintf(stderr, "mock-fleet: cannot start the churn\n");
		return 1;
	}
	ls_kafka_mock_track_requests(m);
	printf("%s\n", ls_kafka_mock_bootstraps(m));
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		char verb[8];
		int32_t b;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0') {
			print_requests(m);
		} else if (strcmp(line, "churn") == 0) {
			uint64_t produced = 0, commits = 0, failures = 0;

			if (ch)
				fleet_churn_stats(ch, &produced, &commits, &failures);
			printf("%llu %llu %llu\n", (unsigned long long)produced,
			       (unsigned long long)commits, (unsigned long long)failures);
		} else if (sscanf(line, "%7s", verb) == 1 &&
			   (strcmp(verb, "down") == 0 || strcmp(verb, "up") == 0) &&
			   ls_parse_int32(line + strlen(verb) + (line[strlen(verb)] == ' '), &b) == 0 &&
			   b >= 1 && b <= brokers) {
			int down = strcmp(verb, "down") == 0;

			if (ch && down)
				fleet_churn_pause(ch, true);
			if (ls_kafka_mock_broker_down(m, b, down) == 0)
				printf("ok\n");
			else
				printf("error: broker %d: the mock cluster refused\n", (int)b);
			if (ch && !down)
				fleet_churn_pause(ch, false);
		} else {
			printf("error: \"%s\": expected an empty line, \"churn\", \"down B\" or "
			       "\"up B\" with B in 1..%d\n",
			       line, brokers);
		}
		fflush(stdout);
	}
	fleet_churn_stop(ch);
	ls_kafka_mock_free(m);
	return 0;
}
