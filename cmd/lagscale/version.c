/* version.c - `lagscale version`. */
#include <stdio.h>

#include "cmd.h"
#include "kafka/kafka.h"

int ls_cmd_version(int argc, char **argv)
{
	struct ls_kafka_library lib;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "lagscale version: takes no arguments\n");
		return LS_EXIT_USAGE;
	}
	ls_kafka_library_info(&lib);
	printf("lagscale %s\n", LS_VERSION);
	printf("librdkafka %s (built against %s, loaded from %s)\n", lib.version, lib.built_against,
	       lib.path[0] ? lib.path : "an unknown file");
	printf("librdkafka features: %s\n", lib.features[0] ? lib.features : "unknown");
	return LS_EXIT_OK;
}
