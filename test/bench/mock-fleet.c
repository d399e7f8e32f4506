/*
 * mock-fleet.c - serves the benchmarks' Kafka fleet (fleet-mock.h) on the
 * mock cluster for another process to measure, e.g. `lagscale run`.
 *
 *   mock-fleet [--groups G] [--partitions P] [--brokers B]
 *
 * Prints the bootstrap servers on one line once the fleet is ready, then
 * answers each line read from stdin with the requests the cluster received
 * since the previous line: "TOTAL KEY:COUNT KEY:COUNT ..." (Kafka ApiKeys,
 * e.g. 2 ListOffsets, 3 Metadata, 9 OffsetFetch, 10 FindCoordinator). Ends
 * at the end of stdin. Prints how long populating took to stderr;
 * FLEET_MOCK_DEBUG=CONTEXTS turns on librdkafka's debug log (e.g.
 * "broker,metadata,msg") for the clients that populate.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "fleet-mock.h"
#include "util/parse.h"

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"groups", required_argument, NULL, 'g'},
					     {"partitions", required_argument, NULL, 'p'},
					     {"brokers", required_argument, NULL, 'b'},
					     {NULL, 0, NULL, 0}};
	int groups = 1000, partitions = 20, brokers = 3, c;
	struct ls_kafka_mock *m;
	char line[64];

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int32_t v;

		if (c == '?' || ls_parse_int32(optarg, &v) < 0 || v <= 0) {
			fprintf(stderr, "usage: mock-fleet [--groups G] [--partitions P] "
					"[--brokers B]\n");
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
	ls_kafka_mock_track_requests(m);
	printf("%s\n", ls_kafka_mock_bootstraps(m));
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		uint64_t counts[LS_KAFKA_MOCK_API_KEYS] = {0};
		uint64_t total = ls_kafka_mock_requests(m, counts);

		printf("%llu", (unsigned long long)total);
		for (int k = 0; k < LS_KAFKA_MOCK_API_KEYS; k++)
			if (counts[k])
				printf(" %d:%llu", k, (unsigned long long)counts[k]);
		printf("\n");
		fflush(stdout);
	}
	ls_kafka_mock_free(m);
	return 0;
}
