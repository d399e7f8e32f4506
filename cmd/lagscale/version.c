/* version.c - `lagscale version`. */
#include <librdkafka/rdkafka.h>
#include <stdio.h>

#include "cmd.h"

int ls_cmd_version(int argc, char **argv)
{
	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "lagscale version: takes no arguments\n");
		return LS_EXIT_USAGE;
	}
	printf("lagscale %s (librdkafka %s)\n", LS_VERSION, rd_kafka_version_str());
	return LS_EXIT_OK;
}
